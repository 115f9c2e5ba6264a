/*
 * tls.h - OpenSSL 3 server contexts and the self-signed fallback.
 *
 * Contexts allow TLS 1.2 and later only (TLS 1.3 when configured), with
 * compression and renegotiation off.  Error texts returned through
 * error_r live in a per-thread buffer valid until the next tls_* call in
 * that thread.
 */
#ifndef POSTERN_TLS_H
#define POSTERN_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

#include "common.h"

/*
 * tls_server_ctx_new - context from a PEM chain and key.  min_version is
 * "TLSv1.2" or "TLSv1.3"; ciphers ("" = OpenSSL's default) applies to
 * TLS 1.2.  NULL with *error_r on failure.
 */
SSL_CTX *tls_server_ctx_new(const char *cert, const char *key,
    const char *min_version, const char *ciphers, const char **error_r);

/*
 * tls_selfsigned_ensure - make sure dir holds cert.pem and key.pem (an
 * ECDSA P-256 key and a ten-year self-signed certificate for hostname,
 * generated when missing), and return their paths (caller frees).
 */
int tls_selfsigned_ensure(const char *dir, const char *hostname,
    char **cert_r, char **key_r, const char **error_r) WARN_UNUSED;

/* tls_describe - "TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)" */
void tls_describe(const SSL *ssl, char *out, size_t outlen);

#endif
