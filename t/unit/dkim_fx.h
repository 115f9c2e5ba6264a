/*
 * dkim_fx.h - DKIM keys and signatures for the tests of the dkim and
 * dmarc stages: an RSA key made by opendkim-genkey (the tool postmasters
 * use, so its record format is what we parse), an Ed25519 key made with
 * OpenSSL (RFC 8463: the record's p= is the raw 32-byte public key),
 * signing (RSA with libopendkim's own signer, Ed25519 with Postern's,
 * mta/dkim_sign.h: see dkimfx_sign), and what both tests look at
 * afterwards (the b= tag, the dnsmasq query log; the symbols are
 * t/unit/stage_fx.h's).  Header-only, since each unit test is its own
 * program; include cmocka.h first.
 */
#ifndef POSTERN_DKIM_FX_H
#define POSTERN_DKIM_FX_H

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <opendkim/dkim.h>

#include "common/buf.h"
#include "common/config.h"
#include "mta/dkim_sign.h"

#define DKIMFX_GENKEY "/usr/sbin/opendkim-genkey"

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

/* dkimfx_genkey_ed25519 - a fresh Ed25519 key (PKCS#8 PEM) and its
 * k=ed25519 record */
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

/* dkimfx_write - path created (not there before) with len bytes of data
 * and the given mode */
static inline int
dkimfx_write(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	int rc = 0;

	if (fd < 0)
		return -1;
	if (fchmod(fd, mode) < 0 || write(fd, data, len) != (ssize_t)len)
		rc = -1;
	if (close(fd) < 0)
		rc = -1;
	return rc;
}

/*
 * dkimfx_sign_ed25519 - Ed25519 through Postern's signer (mta/dkim_sign.h,
 * mta/dkim_sign_ed25519.c), the way the server signs: k's key written to
 * a scratch directory as the one key of dkim_sign.keys
 * ("domain:selector:path", mode 0600), a signer made from that
 * configuration and freed after this one message.  Not libopendkim's
 * signer: libopendkim 2.11's dkim_free() frees the private key of an RSA
 * signing handle only, so each Ed25519 signature it made leaked the key
 * dkim_privkey_load() read, and the tests that signed with it needed a
 * LeakSanitizer suppression.  What is signed is the server's choice
 * (dkim_sign.headers present, then From and the oversign_headers names
 * once more), not every field; the verifiers under test do not care.
 */
static inline int
dkimfx_sign_ed25519(const struct dkimfx_key *k, const char *domain,
    const char *selector, const char *msg, struct buf *out)
{
	char dir[] = "/tmp/postern-dkimfx.XXXXXX";
	struct buf key = BUF_INIT(0), conf = BUF_INIT(0), text = BUF_INIT(0);
	struct buf hdr = BUF_INIT(0), err = BUF_INIT(0);
	struct config *cfg = NULL;
	struct dkim_signer *s = NULL;
	enum dkim_sign_res res = DKIM_SIGN_ERROR;

	if (mkdtemp(dir) == NULL)
		return -1;
	buf_addf(&key, "%s/key.pem", dir);
	buf_addf(&conf, "%s/t.conf", dir);
	/* key_dir: a directory that does not exist (no keys found there) */
	buf_addf(&text, "server = { data_dir = \"%s/var\"; };\n"
	    "dkim_sign = { key_dir = \"%s/none\"; keys = [ \"%s:%s:%s\" ]; "
	    "subdomains = false; };\n", dir, dir, domain, selector,
	    buf_cstr(&key));
	if (dkimfx_write(buf_cstr(&key), k->priv.data, k->priv.len, 0600) <
	    0 || dkimfx_write(buf_cstr(&conf), text.data, text.len, 0600) < 0)
		buf_add_str(&err, "cannot write the key or the configuration");
	else if (config_load(buf_cstr(&conf), &cfg, &err) == 0 &&
	    dkim_sign_new(cfg, &s, &err) == 0)
		res = dkim_sign_message(s, domain, NULL,
		    (const unsigned char *)msg, strlen(msg), &hdr, &err);
	if (res == DKIM_SIGN_DONE) {
		buf_add(out, hdr.data, hdr.len);
		buf_add_str(out, msg);
	} else
		fprintf(stderr, "dkimfx_sign_ed25519: %s\n", buf_cstr(&err));
	dkim_sign_free(&s);
	config_free(&cfg);
	(void)unlink(buf_cstr(&key));
	(void)unlink(buf_cstr(&conf));
	(void)rmdir(dir);
	buf_free(&key);
	buf_free(&conf);
	buf_free(&text);
	buf_free(&hdr);
	buf_free(&err);
	return res == DKIM_SIGN_DONE ? 0 : -1;
}

/*
 * dkimfx_sign - out gets "DKIM-Signature: ..." (relaxed/relaxed, CRLF
 * folding) followed by msg.  alg is DKIM_SIGN_RSASHA256 or
 * DKIM_SIGN_RSASHA1, signed by libopendkim (lib) over every header field,
 * or DKIM_SIGN_ED25519SHA256, signed by Postern's signer
 * (dkimfx_sign_ed25519; lib is not used).
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

	if (alg == DKIM_SIGN_ED25519SHA256)
		return dkimfx_sign_ed25519(k, domain, selector, msg, out);
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
