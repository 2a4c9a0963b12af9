#ifndef CONSUMERD_CCRYPTO_SHIM_H
#define CONSUMERD_CCRYPTO_SHIM_H
#include <openssl/evp.h>
#include <openssl/rand.h>
#endif
