/*
 * dkim_sign_priv.h - what dkim_sign.c (keys, the signing domain, RSA by
 * libopendkim) and dkim_sign_ed25519.c (Ed25519 signatures made with
 * OpenSSL) share inside mta/; no other file includes it.
 */
#ifndef POSTERN_DKIM_SIGN_PRIV_H
#define POSTERN_DKIM_SIGN_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "common/buf.h"

#define DKIM_SIGN_HASH_LEN 32u	/* SHA-256 */

/* one header field of the message */
struct dkim_sign_field {
	const unsigned char *p;	/* its first byte (the name's) */
	size_t len;		/* up to its last line end, excluded */
	size_t namelen;		/* the name, white space before ':' trimmed */
	size_t value;		/* offset of the value: after the colon */
};

/*
 * The message, split once (dkim_sign.c) and read by every signature of
 * it: the header's fields in order (a line that is no field is not
 * among them: dkim_sign.c says why), the body, and the relaxed body hash
 * once an Ed25519 signature computed it (one per message, whatever the
 * number of Ed25519 keys).
 */
struct dkim_sign_msg {
	struct dkim_sign_field *f;
	size_t n, cap;
	const unsigned char *body;	/* after the blank line */
	size_t bodylen;
	uint64_t t;			/* t=, the same for every signature */
	bool has_bh;
	unsigned char bh[DKIM_SIGN_HASH_LEN];
};

/* the names an Ed25519 signature signs: NULL-terminated lists, those of
 * the libopendkim signer (dkim_sign.c's name_list) */
struct dkim_sign_names {
	const char *const *sign;	/* signed each time present */
	const char *const *oversign;	/* and these once more */
};

/*
 * dkim_sign_ed25519 - an ed25519-sha256 signature (RFC 8463) of m, with
 * relaxed/relaxed canonicalization (RFC 6376 3.4.2, 3.4.4), by pk (an
 * Ed25519 private key, only read: any number of threads may sign with
 * it at once), d=domain, s=selector; sha256 a fetched SHA-256.  Appends
 * "DKIM-Signature: ...\r\n" (folded with CRLF TAB) to out.  -1 with err
 * when OpenSSL fails (out untouched).
 */
int dkim_sign_ed25519(EVP_PKEY *pk, const EVP_MD *sha256,
    const char *domain, const char *selector,
    const struct dkim_sign_names *names, struct dkim_sign_msg *m,
    struct buf *out, struct buf *err) WARN_UNUSED;

#endif
