/*
 * dkim_fx.h - DKIM keys and signatures for the tests of the dkim and
 * dmarc stages: an RSA key made by opendkim-genkey (the tool postmasters
 * use, so its record format is what we parse), an Ed25519 key made with
 * OpenSSL (RFC 8463: the record's p= is the raw 32-byte public key),
 * signing with libopendkim's own signer, and what both tests look at
 * afterwards (the b= tag, the dnsmasq query log; the symbols are
 * t/unit/stage_fx.h's).  Header-only, since each unit test is its own
 * program; include cmocka.h first.
 */
#ifndef POSTERN_DKIM_FX_H
#define POSTERN_DKIM_FX_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <opendkim/dkim.h>

#include "common/buf.h"

#define DKIMFX_GENKEY "/usr/sbin/opendkim-genkey"

/*
 * Sanitizer builds: libopendkim 2.11's dkim_free() frees the private key
 * of an RSA signing handle only, so each Ed25519 signature dkimfx_sign
 * makes leaks the key that dkim_privkey_load() read (and its 64-byte
 * signature buffer).  That is this fixture's signer, libopendkim's own,
 * used to feed the verifying stages (they only verify, and verification
 * frees its keys); Postern's signer does not use the library for
 * Ed25519 (mta/dkim_sign_ed25519.c), and dkim_sign_test, which does not
 * define DKIMFX_ED25519, runs without this suppression.  Exactly that
 * leak is suppressed; full stacks are needed for the suppression to see
 * dkim_privkey_load under OpenSSL's frames (slower: a test that signs
 * with dkimfx_sign and Ed25519 asks for it by defining DKIMFX_ED25519
 * before including this file).
 */
#ifdef DKIMFX_ED25519
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void);

const char *
__lsan_default_suppressions(void)
{
	return "leak:dkim_privkey_load\n";
}

const char *
__asan_default_options(void)
{
	return "fast_unwind_on_malloc=0";
}
#endif

struct dkimfx_key {
	struct buf priv;	/* PEM */
	struct buf record;	/* the TXT record: "v=DKIM1; ... p=..." */
};

static inline void
dkimfx_key_free(struct dkimfx_key *k)
{
	buf_free(&k->priv);
	buf_free(&k->record);
}

static inline int
dkimfx_read(const char *path, struct buf *out)
{
	FILE *f = fopen(path, "r");
	char chunk[4096];
	size_t n;

	if (f == NULL)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_add(out, chunk, n);
	fclose(f);
	return 0;
}

/*
 * dkimfx_genkey_rsa - opendkim-genkey -b bits -d domain -s selector -D
 * dir; the record is the quoted strings of <selector>.txt joined.
 * -1 when the tool fails.
 */
static inline int
dkimfx_genkey_rsa(const char *dir, const char *domain, const char *selector,
    unsigned bits, struct dkimfx_key *k)
{
	char b[16], path[512];
	struct buf txt = BUF_INIT(0);
	const char *p, *q;
	int status;
	pid_t pid;

	memset(k, 0, sizeof(*k));
	snprintf(b, sizeof(b), "%u", bits);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execl(DKIMFX_GENKEY, "opendkim-genkey", "-b", b, "-d", domain,
		    "-s", selector, "-D", dir, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s.private", dir, selector);
	if (dkimfx_read(path, &k->priv) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s.txt", dir, selector);
	if (dkimfx_read(path, &txt) < 0)
		return -1;
	/* sel._domainkey IN TXT ( "v=DKIM1; h=sha256; k=rsa; " "p=..." ) */
	for (p = buf_cstr(&txt); (p = strchr(p, '"')) != NULL; p = q + 1) {
		q = strchr(p + 1, '"');
		if (q == NULL)
			break;
		buf_add(&k->record, p + 1, (size_t)(q - p - 1));
	}
	buf_free(&txt);
	return k->record.len > 0 ? 0 : -1;
}

/* dkimfx_genkey_ed25519 - a fresh Ed25519 key and its k=ed25519 record
 * (see DKIMFX_ED25519 above) */
static inline int
dkimfx_genkey_ed25519(struct dkimfx_key *k)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *pk = NULL;
	unsigned char raw[32], b64[64];
	size_t rawlen = sizeof(raw);
	char pem[1024];
	BIO *bio = NULL;
	int n, rc = -1;

	memset(k, 0, sizeof(*k));
	if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
	    EVP_PKEY_keygen(c, &pk) != 1 ||
	    EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) != 1 ||
	    rawlen != sizeof(raw))
		goto out;
	EVP_EncodeBlock(b64, raw, (int)rawlen);
	buf_addf(&k->record, "v=DKIM1; k=ed25519; p=%s", (char *)b64);
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0,
	    NULL, NULL) != 1)
		goto out;
	n = BIO_read(bio, pem, sizeof(pem));
	if (n <= 0)
		goto out;
	buf_add(&k->priv, pem, (size_t)n);
	rc = 0;
out:
	BIO_free(bio);
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(c);
	return rc;
}

/*
 * dkimfx_sign - out gets "DKIM-Signature: ..." (relaxed/relaxed, every
 * header field signed, CRLF folding) followed by msg.  alg is
 * DKIM_SIGN_RSASHA256, DKIM_SIGN_ED25519SHA256 or DKIM_SIGN_RSASHA1.
 */
static inline int
dkimfx_sign(DKIM_LIB *lib, const struct dkimfx_key *k, const char *domain,
    const char *selector, dkim_alg_t alg, const char *msg, struct buf *out)
{
	DKIM_STAT st;
	DKIM *d;
	unsigned char *hdr = NULL;
	size_t len = 0;
	int rc = -1;

	d = dkim_sign(lib, (const unsigned char *)"test", NULL,
	    (dkim_sigkey_t)buf_cstr(&k->priv),
	    (const unsigned char *)selector, (const unsigned char *)domain,
	    DKIM_CANON_RELAXED, DKIM_CANON_RELAXED, alg, -1, &st);
	if (d == NULL)
		return -1;
	if (dkim_chunk(d, (unsigned char *)msg, strlen(msg)) != DKIM_STAT_OK ||
	    dkim_chunk(d, NULL, 0) != DKIM_STAT_OK ||
	    dkim_eom(d, NULL) != DKIM_STAT_OK ||
	    dkim_getsighdr_d(d, strlen("DKIM-Signature: "), &hdr, &len) !=
	    DKIM_STAT_OK)
		goto out;
	buf_add_str(out, "DKIM-Signature: ");
	for (size_t i = 0; i < len; i++) {	/* the folding, as CRLF */
		if (hdr[i] == '\n' && (i == 0 || hdr[i - 1] != '\r'))
			buf_add(out, "\r", 1);
		buf_add(out, &hdr[i], 1);
	}
	buf_add_str(out, "\r\n");
	buf_add_str(out, msg);
	rc = 0;
out:
	dkim_free(d);
	return rc;
}

/* dkimfx_b8 - the first 8 characters of the b= tag of the first
 * DKIM-Signature in msg, white space removed */
static inline void
dkimfx_b8(const char *msg, char out[9])
{
	const char *p = strstr(msg, "DKIM-Signature:");
	size_t n = 0;

	out[0] = '\0';
	if (p == NULL)
		return;
	/* "b=" at the start of a tag: after ';' and white space */
	for (p += 15; *p != '\0'; p++) {
		const char *q = p;

		if (*p != ';')
			continue;
		q++;
		while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
			q++;
		if (q[0] == 'b' && q[1] == '=') {
			p = q + 2;
			break;
		}
	}
	for (; *p != '\0' && *p != ';' && n < 8; p++) {
		if (*p == '\n' && p[1] != ' ' && p[1] != '\t')
			break;		/* the end of the field */
		if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n')
			out[n++] = *p;
	}
	out[n] = '\0';
}

/* dkimfx_replace - out is in with the first from replaced by to */
static inline void
dkimfx_replace(const char *in, const char *from, const char *to,
    struct buf *out)
{
	const char *p = strstr(in, from);

	assert_non_null(p);
	buf_reset(out);
	buf_add(out, in, (size_t)(p - in));
	buf_add_str(out, to);
	buf_add_str(out, p + strlen(from));
}

/* dkimfx_b_tag - where the value of the b= tag starts in msg */
static inline const char *
dkimfx_b_tag(const char *msg)
{
	for (const char *p = msg + 1; *p != '\0'; p++)
		if (p[0] == 'b' && p[1] == '=' && (p[-1] == ' ' ||
		    p[-1] == '\t'))
			return p + 2;
	fail_msg("no b= in %s", msg);
	return NULL;
}

/* dkimfx_queries - the TXT queries for name in a dnsmasq query log */
static inline int
dkimfx_queries(const char *log, const char *name)
{
	struct buf text = BUF_INIT(0), want = BUF_INIT(0);
	int n = 0;

	assert_int_equal(dkimfx_read(log, &text), 0);
	buf_addf(&want, "query[TXT] %s ", name);
	for (const char *p = buf_cstr(&text); (p = strstr(p,
	    buf_cstr(&want))) != NULL; p++)
		n++;
	buf_free(&text);
	buf_free(&want);
	return n;
}

#endif
