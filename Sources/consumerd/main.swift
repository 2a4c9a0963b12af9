print("consumerd")
