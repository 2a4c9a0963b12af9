#ifndef CONSUMERD_CGNUTLS_SHIM_H
#define CONSUMERD_CGNUTLS_SHIM_H

// GnuTLS is what Debian's libmicrohttpd serves TLS with; consumerd uses it
// directly only to check a certificate and key before handing them over
// (libmicrohttpd just fails to start) and for SHA-256 of API tokens.
#include <stddef.h>
#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

// 0 when the PEM certificate chain and private key load and belong
// together, else a GnuTLS error code (see gnutls_strerror).
static inline int cgnutls_check_key_pair(const char *cert, size_t cert_length, const char *key, size_t key_length) {
    gnutls_certificate_credentials_t credentials;
    int rc = gnutls_certificate_allocate_credentials(&credentials);
    if (rc < 0) {
        return rc;
    }
    gnutls_datum_t cert_datum = {(unsigned char *)cert, (unsigned int)cert_length};
    gnutls_datum_t key_datum = {(unsigned char *)key, (unsigned int)key_length};
    rc = gnutls_certificate_set_x509_key_mem(credentials, &cert_datum, &key_datum, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(credentials);
    return rc < 0 ? rc : 0;
}

static inline int cgnutls_sha256(const void *data, size_t length, unsigned char digest[32]) {
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, data, length, digest);
}

#endif
