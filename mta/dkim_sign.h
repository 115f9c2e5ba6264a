/*
 * dkim_sign.h - DKIM signing of outgoing mail (RFC 6376): rsa-sha256 made
 * by libopendkim, ed25519-sha256 (RFC 8463) made with OpenSSL over a key
 * parsed once (mta/dkim_sign_ed25519.c says why), relaxed/relaxed
 * canonicalization, one signature per key of the signing domain (an RSA
 * and an Ed25519 key: two signatures, so that verifiers that do not know
 * Ed25519 still find one they can check, RFC 8463 4).
 *
 * Keys (configuration group dkim_sign): every <key_dir>/<domain>/
 * <selector>.key, what `postern dkim keygen` writes, plus the ones listed
 * in dkim_sign.keys ("domain:selector:/path").  The algorithm is the
 * key's own (a PEM private key, PKCS#8 or traditional RSA, unencrypted).
 * All are read, checked and parsed once, in dkim_sign_new.
 *
 * Signing domain: the caller says which domain the message is from (the
 * domain of its RFC5322.From address, RFC 7489 3.1); the signature's d=
 * is that domain when it has keys, else, with dkim_sign.subdomains, the
 * nearest parent domain that has (mail from lists.example.org signed
 * d=example.org, which DMARC's relaxed alignment accepts), with no i=
 * (its default, "@d", says nothing more).
 *
 * Header fields (h=): those of dkim_sign.headers and
 * dkim_sign.oversign_headers that are present, each as often as it is,
 * and then each oversign_headers name once more, so that a field added
 * later (a second From, a Subject where there was none) breaks the
 * signature (RFC 6376 8.15).  From is always signed and over-signed.
 *
 * The signer is immutable after dkim_sign_new and may be used by any
 * number of threads at once: each message gets libopendkim handles and
 * hash contexts of its own; the library handle and the parsed Ed25519
 * keys are only read.
 *
 * Cost (t/bench/dkim_bench.c, one core of our 2-core machine, a 4 KiB
 * message): about 1.8 ms per RSA-2048 signature, most of it libopendkim
 * parsing the key again for each one (dkim_sign.c, XXX), 0.1 ms per
 * Ed25519 one; no heap kept per message.
 */
#ifndef POSTERN_DKIM_SIGN_H
#define POSTERN_DKIM_SIGN_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/config.h"

#define DKIM_SIGN_KEY_FILE_MAX (64u * 1024)	/* bytes of a key file */
#define DKIM_SIGN_RSA_MIN_BITS 1024u	/* RFC 8301 3.2: signers MUST */
#define DKIM_SIGN_RSA_BITS 2048u	/* RFC 8301 3.2: SHOULD; keygen */
#define DKIM_SIGN_RSA_MAX_BITS 4096u	/* more: verifiers may refuse */
#define DKIM_SIGN_TXT_STRING_MAX 255u	/* one TXT character-string */

struct dkim_signer;

/* one key, as dkim_sign_key() shows it */
struct dkim_sign_keyinfo {
	const char *domain;	/* d=, lower case */
	const char *selector;	/* s= */
	const char *path;	/* the file it came from */
	const char *k;		/* the record's k=: "rsa" | "ed25519" */
	const char *a;		/* a=: "rsa-sha256" | "ed25519-sha256" */
	unsigned bits;		/* RSA modulus size; 256 for Ed25519 */
	const char *p;		/* the record's p=, base64 */
};

/* the outcome of dkim_sign_message */
enum dkim_sign_res {
	DKIM_SIGN_ERROR = -1,	/* the library failed: err says how */
	DKIM_SIGN_DONE = 0,	/* headers_out holds the signature fields */
	DKIM_SIGN_SKIPPED = 1,	/* not signed, and that is fine (no key
				   for the domain, no From, several From):
				   err says why */
};

/*
 * dkim_sign_new - the signer of cfg's dkim_sign group: every key found or
 * listed, read and parsed.  A key that cannot be used is an error, not a
 * key left out: a file readable or writable by others (mode 0600 or 0640
 * expected, as OpenDKIM wants), not a regular file, unreadable, not an
 * unencrypted PEM private key, an algorithm other than RSA and Ed25519,
 * RSA under DKIM_SIGN_RSA_MIN_BITS, two keys for one domain and selector.
 * No key at all is fine (an empty signer: nothing is signed).  -1 with
 * one line per problem in err.  Call it as the user the server runs as,
 * which must be able to read the keys.
 */
int dkim_sign_new(const struct config *cfg, struct dkim_signer **s_r,
    struct buf *err) WARN_UNUSED;
void dkim_sign_free(struct dkim_signer **s);

/* the keys, sorted by domain, RSA before Ed25519, then selector */
size_t dkim_sign_nkeys(const struct dkim_signer *s);
const struct dkim_sign_keyinfo *dkim_sign_key(const struct dkim_signer *s,
    size_t i);

/*
 * dkim_sign_domain - the domain whose keys sign mail from domain (itself,
 * or a parent with dkim_sign.subdomains), or NULL: not signed.  The
 * string belongs to the signer.
 */
const char *dkim_sign_domain(const struct dkim_signer *s, const char *domain);

/*
 * dkim_sign_message - sign msg (the whole message, header and body, with
 * CRLF line ends, exactly as it will be sent) as mail from domain (the
 * From address's domain, any case).  DKIM_SIGN_DONE: one
 * "DKIM-Signature: ...\r\n" field per key of the signing domain appended
 * to headers_out (our own buffer, no max), to be put in front of the
 * message unchanged.  DKIM_SIGN_SKIPPED or DKIM_SIGN_ERROR: headers_out
 * as it was, one line in err.  id names the message in the library's
 * messages (the queue ID), or NULL.
 */
enum dkim_sign_res dkim_sign_message(const struct dkim_signer *s,
    const char *domain, const char *id, const unsigned char *msg, size_t len,
    struct buf *headers_out, struct buf *err) WARN_UNUSED;

/*
 * dkim_sign_pubkey - the p= of a key record for pk's public half: base64
 * of the DER SubjectPublicKeyInfo for RSA (RFC 6376 3.6.1), of the raw
 * 32-byte key for Ed25519 (RFC 8463 4.2, not the SubjectPublicKeyInfo);
 * *k_r the record's k=.  -1 with err for other key types.
 */
int dkim_sign_pubkey(EVP_PKEY *pk, struct buf *p_out, const char **k_r,
    struct buf *err) WARN_UNUSED;

/*
 * dkim_sign_record - the DNS record to publish, as one zone-file line:
 * <selector>._domainkey.<domain>. IN TXT "v=DKIM1; k=<k>; p=<p>", the
 * value split into character-strings of at most DKIM_SIGN_TXT_STRING_MAX
 * bytes ("..." "..."), which verifiers join (RFC 6376 3.6.2.2).
 * Appended to out, with a newline.
 */
void dkim_sign_record(const char *selector, const char *domain,
    const char *k, const char *p, struct buf *out);

#endif
