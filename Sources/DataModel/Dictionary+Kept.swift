extension Dictionary {
    /// The value for `key`, made by `make` and kept the first time: a cache
    /// of handles looked up far more often than they are made (metric
    /// series by label set).
    public mutating func kept(_ key: Key, _ make: () throws -> Value) rethrows -> Value {
        if let value = self[key] { return value }
        let value = try make()
        self[key] = value
        return value
    }
}
