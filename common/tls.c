/*
 * tls.c - TLS server contexts and self-signed certificates (see tls.h).
 *
 * The self-signed pair exists so that `make run` offers STARTTLS on a
 * fresh machine; a postmaster configures tls.cert/tls.key for real use.
 * The key is written 0600 to a temporary name and renamed, so a crash
 * never leaves half a key behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "buf.h"
#include "tls.h"
#include "xalloc.h"

static _Thread_local char tls_err[512];

static const char *
tls_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char ossl[256] = "";

	if (e != 0)
		ERR_error_string_n(e, ossl, sizeof(ossl));
	ERR_clear_error();
	(void)snprintf(tls_err, sizeof(tls_err), "%s%s%s", what,
	    ossl[0] != '\0' ? ": " : "", ossl);
	return tls_err;
}

SSL_CTX *
tls_server_ctx_new(const char *cert, const char *key,
    const char *min_version, const char *ciphers, const char **error_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	int minv = TLS1_2_VERSION;

	if (ctx == NULL) {
		*error_r = tls_error("SSL_CTX_new");
		return NULL;
	}
	if (min_version != NULL && strcmp(min_version, "TLSv1.3") == 0)
		minv = TLS1_3_VERSION;
	if (SSL_CTX_set_min_proto_version(ctx, minv) != 1) {
		*error_r = tls_error("SSL_CTX_set_min_proto_version");
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (ciphers != NULL && ciphers[0] != '\0' &&
	    SSL_CTX_set_cipher_list(ctx, ciphers) != 1) {
		*error_r = tls_error("tls.ciphers");
		goto fail;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*error_r = tls_error(cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		*error_r = tls_error(key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*error_r = tls_error("certificate and key do not match");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static char *
path_join(const char *dir, const char *name)
{
	struct buf b = BUF_INIT(0);

	buf_addf(&b, "%s/%s", dir, name);
	return buf_steal(&b, NULL);
}

/* write_pem - PEM to path via a temporary file, mode 0600 */
static int
write_pem(const char *path, EVP_PKEY *pkey, X509 *x509, const char **error_r)
{
	struct buf tmp = BUF_INIT(0);
	FILE *f;
	int fd, ok;

	buf_addf(&tmp, "%s.tmp", path);
	fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		(void)snprintf(tls_err, sizeof(tls_err), "%s: %s",
		    buf_cstr(&tmp), strerror(errno));
		*error_r = tls_err;
		if (fd >= 0)
			close(fd);
		buf_free(&tmp);
		return -1;
	}
	ok = pkey != NULL ? PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL,
	    NULL) : PEM_write_X509(f, x509);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		ok = 0;
	if (fclose(f) != 0)
		ok = 0;
	if (ok != 1 || rename(buf_cstr(&tmp), path) != 0) {
		*error_r = tls_error(path);
		(void)unlink(buf_cstr(&tmp));
		buf_free(&tmp);
		return -1;
	}
	buf_free(&tmp);
	return 0;
}

static int
generate(const char *cert, const char *key, const char *hostname,
    const char **error_r)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext = NULL;
	struct buf san = BUF_INIT(0);
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	int rc = -1;

	if (pkey == NULL || x == NULL) {
		*error_r = tls_error("key generation");
		goto out;
	}
	if (RAND_bytes(serial, sizeof(serial)) != 1 ||
	    (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL) {
		*error_r = tls_error("serial number");
		goto out;
	}
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	buf_addf(&san, "DNS:%s", hostname);
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name,
	    buf_cstr(&san));
	if (ext == NULL || X509_add_ext(x, ext, -1) != 1) {
		*error_r = tls_error("subjectAltName");
		goto out;
	}
	if (X509_sign(x, pkey, EVP_sha256()) == 0) {
		*error_r = tls_error("X509_sign");
		goto out;
	}
	if (write_pem(key, pkey, NULL, error_r) < 0 ||
	    write_pem(cert, NULL, x, error_r) < 0)
		goto out;
	rc = 0;
out:
	X509_EXTENSION_free(ext);
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(pkey);
	buf_free(&san);
	return rc;
}

int
tls_selfsigned_ensure(const char *dir, const char *hostname, char **cert_r,
    char **key_r, const char **error_r)
{
	char *cert = path_join(dir, "cert.pem");
	char *key = path_join(dir, "key.pem");

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		(void)snprintf(tls_err, sizeof(tls_err), "mkdir %s: %s", dir,
		    strerror(errno));
		*error_r = tls_err;
		goto fail;
	}
	if ((access(cert, R_OK) != 0 || access(key, R_OK) != 0) &&
	    generate(cert, key, hostname, error_r) < 0)
		goto fail;
	*cert_r = cert;
	*key_r = key;
	return 0;
fail:
	free(cert);
	free(key);
	return -1;
}

void
tls_describe(const SSL *ssl, char *out, size_t outlen)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int alg = 0, bits = c != NULL ? SSL_CIPHER_get_bits(c, &alg) : 0;

	(void)snprintf(out, outlen, "%s with cipher %s (%d/%d bits)",
	    SSL_get_version(ssl), c != NULL ? SSL_CIPHER_get_name(c) : "none",
	    bits, alg);
}
