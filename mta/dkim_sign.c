/*
 * dkim_sign.c - DKIM signatures for outgoing mail (RFC 6376) made by
 * libopendkim: rsa-sha256 and ed25519-sha256 (RFC 8463), relaxed/relaxed
 * (3.4.2, 3.4.4), one signature per key of the signing domain, header
 * fields chosen and over-signed as dkim_sign.h says.  The contract, the
 * choice of the signing domain and the configuration: dkim_sign.h.
 *
 * Keys are read once, in dkim_sign_new: each file must be a regular file
 * that neither the group may write nor others may touch (0600, 0640,
 * 0400, 0440: OpenDKIM refuses the same), at most
 * DKIM_SIGN_KEY_FILE_MAX bytes, an unencrypted PEM private key that
 * OpenSSL reads as RSA (1024 bits or more, RFC 8301 3.2) or Ed25519.
 * An RSA key is written back as PKCS#8 PEM, the form libopendkim takes;
 * an Ed25519 key stays the parsed EVP_PKEY that dkim_sign_ed25519.c
 * signs with.  Each signs a small message once, so that a key that
 * cannot sign stops the start instead of every message.  The file's text is
 * wiped from memory once parsed, the PEM copy and the EVP_PKEY when the
 * signer is freed; no key material is ever logged.
 *
 * Per message: the header is split into fields once (as the filters and
 * the store split it: a line starting with a space or tab continues the
 * field before it; a line without a colon is no field, neither given to
 * the library nor signed), then, per key: RSA by libopendkim
 * (dkim_sign, dkim_header for each field, dkim_eoh, dkim_body, dkim_eom
 * and dkim_getsighdr_d; the library folds with bare LF, which we make
 * CRLF), Ed25519 by dkim_sign_ed25519.c (why not the library: there).
 * A message without a From field, or with more than one (RFC 5322 3.6:
 * exactly one), is not signed (DKIM_SIGN_SKIPPED): a signature would
 * vouch for a From that verifiers and DMARC cannot tell.
 *
 * Threads: one DKIM_LIB, configured in dkim_sign_new and only read
 * afterwards (the header-name regex is used with regexec, which is
 * thread-safe); all per-message state lives in the DKIM handles and the
 * split message, one per message, used by one thread.  The Ed25519
 * EVP_PKEYs and the fetched SHA-256 are only read (OpenSSL 3 allows
 * that from any number of threads).
 *
 * XXX libopendkim 2.11 takes an RSA key as bytes and parses it again for
 * every signature (dkim_privkey_load at dkim_eom), then sets up a fresh
 * RSA object (Montgomery contexts, blinding): measured on our 2-core
 * machine, 0.45 ms for the parse with OpenSSL 3.0's decoders and about
 * 0.4 ms more for the fresh key, of an RSA-2048 signature's 1.5 ms
 * (RSA_sign over a key kept parsed: 0.7 ms).  Handing it the key as
 * base64 DER instead of PEM (dkim_sign takes "MII..." as such) saves
 * nothing measurable (0.47 against 0.48 ms: the decoder set-up, not the
 * base64, is the cost), and neither one DKIM_LIB per thread nor any
 * DKIM_LIBFLAGS_* keeps a key between handles.  What would: a
 * libopendkim that takes an EVP_PKEY (no release does), or RSA signed
 * like Ed25519 over a key kept parsed, which the issue did not want
 * (libopendkim signs; t/bench/dkim_bench.c has the figures).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <opendkim/dkim.h>

#include "common/dns.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "mta/dkim_sign.h"
#include "mta/dkim_sign_priv.h"

#define SVC "dkim"
#define SIG_PREFIX DKIM_SIGNHEADER ": "
#define SIG_PREFIX_LEN (sizeof(SIG_PREFIX) - 1)
#define KEY_SUFFIX ".key"
#define SELECTOR_MAX 63

struct sign_key {
	struct dkim_sign_keyinfo info;	/* strings owned here */
	dkim_alg_t alg;
	char *pem;		/* RSA: PKCS#8 PEM, NUL-terminated; wiped on
				   free */
	size_t pem_len;
	EVP_PKEY *pk;		/* Ed25519: the key, parsed once */
};

struct dkim_signer {
	DKIM_LIB *lib;
	EVP_MD *sha256;		/* fetched once, for dkim_sign_ed25519 */
	struct sign_key *keys;
	size_t nkeys, cap;
	bool subdomains;
	/* NULL-terminated name lists handed to libopendkim, and the same
	 * to dkim_sign_ed25519 */
	const char **sign_hdrs;
	const char **oversign_hdrs;
	struct dkim_sign_names names;
};

static const char selftest_msg[] =
    "From: postern <postern@selftest.invalid>\r\n"
    "Subject: key self-test\r\n"
    "\r\n"
    "test\r\n";

/* ---- small helpers ---- */

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)ascii_tolower((unsigned char)*s);
}

/* b64 - base64 of n bytes appended to out, no line breaks */
static void
b64(const unsigned char *in, size_t n, struct buf *out)
{
	size_t cap = (n + 2) / 3 * 4 + 1;
	unsigned char *t = xmalloc(cap);
	int len;

	ASSERT(n <= INT_MAX / 2);
	len = EVP_EncodeBlock(t, in, (int)n);
	buf_add(out, t, (size_t)len);
	free(t);
}

static void
ssl_error(struct buf *err)
{
	unsigned long e = ERR_get_error();
	char text[256];

	if (e == 0)
		return;
	ERR_error_string_n(e, text, sizeof(text));
	buf_addf(err, " (%s)", text);
	ERR_clear_error();
}

static bool
is_selector(const char *s)
{
	size_t n = strlen(s);

	return n <= SELECTOR_MAX && dns_is_host_name(s, n);
}

/* ---- key records ---- */

int
dkim_sign_pubkey(EVP_PKEY *pk, struct buf *p_out, const char **k_r,
    struct buf *err)
{
	unsigned char raw[32], *der = NULL;
	size_t rawlen = sizeof(raw);
	int n;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		n = i2d_PUBKEY(pk, &der);
		if (n <= 0) {
			buf_add_str(err, "cannot encode the RSA public key");
			ssl_error(err);
			return -1;
		}
		b64(der, (size_t)n, p_out);
		OPENSSL_free(der);
		*k_r = "rsa";
		return 0;
	case EVP_PKEY_ED25519:
		if (EVP_PKEY_get_raw_public_key(pk, raw, &rawlen) != 1 ||
		    rawlen != sizeof(raw)) {
			buf_add_str(err, "cannot get the Ed25519 public key");
			ssl_error(err);
			return -1;
		}
		b64(raw, rawlen, p_out);
		*k_r = "ed25519";
		return 0;
	default:
		buf_addf(err, "a %s key: DKIM takes RSA or Ed25519 keys",
		    OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
		return -1;
	}
}

void
dkim_sign_record(const char *selector, const char *domain, const char *k,
    const char *p, struct buf *out)
{
	struct buf v = BUF_INIT(0);

	buf_addf(&v, "v=DKIM1; k=%s; p=%s", k, p);
	buf_addf(out, "%s._domainkey.%s. IN TXT", selector, domain);
	for (size_t off = 0; off < v.len; off += DKIM_SIGN_TXT_STRING_MAX) {
		size_t n = v.len - off;

		if (n > DKIM_SIGN_TXT_STRING_MAX)
			n = DKIM_SIGN_TXT_STRING_MAX;
		/* base64 and the tags hold no '"' or '\\' to escape */
		buf_add_str(out, " \"");
		buf_add(out, v.data + off, n);
		buf_add_str(out, "\"");
	}
	buf_add_str(out, "\n");
	buf_free(&v);
}

/* ---- loading keys ---- */

/* no_password - PEM callback: an encrypted key is refused, never asked
 * for on a terminal */
static int
no_password(char *b, int size, int rwflag, void *u)
{
	(void)b;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* read_key_file - the checked file into out (wiped by the caller) */
static int
read_key_file(const char *path, struct buf *out, struct buf *err)
{
	struct stat st;
	unsigned char chunk[4096];
	ssize_t n;
	int fd, rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		buf_addf(err, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		buf_addf(err, "%s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		buf_addf(err, "%s: not a regular file\n", path);
		goto out;
	}
	/* group read is fine (0640, a group the server is in) */
	if ((st.st_mode & (S_IWGRP | S_IXGRP | S_IRWXO)) != 0) {
		buf_addf(err, "%s: mode %04o: a private key must not be "
		    "readable by others nor writable by the group (chmod "
		    "600 %s)\n", path, (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	if (st.st_size > (off_t)DKIM_SIGN_KEY_FILE_MAX) {
		buf_addf(err, "%s: bigger than %u bytes: not a DKIM key\n",
		    path, DKIM_SIGN_KEY_FILE_MAX);
		goto out;
	}
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			buf_addf(err, "%s: %s\n", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if ((size_t)n > DKIM_SIGN_KEY_FILE_MAX - out->len) {
			buf_addf(err, "%s: bigger than %u bytes: not a DKIM "
			    "key\n", path, DKIM_SIGN_KEY_FILE_MAX);
			goto out;
		}
		buf_add(out, chunk, (size_t)n);
	}
	rc = 0;
out:
	OPENSSL_cleanse(chunk, sizeof(chunk));
	close(fd);
	return rc;
}

/* parse_key - the PEM text as a private key, or NULL with err */
static EVP_PKEY *
parse_key(const char *path, const struct buf *text, struct buf *err)
{
	BIO *bio;
	EVP_PKEY *pk;
	const char *t = buf_cstr(text);

	if (strstr(t, "ENCRYPTED") != NULL) {
		buf_addf(err, "%s: an encrypted key: the server cannot ask "
		    "for a passphrase (openssl pkey -in KEY -out KEY)\n",
		    path);
		return NULL;
	}
	bio = BIO_new_mem_buf(text->data, (int)text->len);
	if (bio == NULL) {
		buf_addf(err, "%s: out of memory\n", path);
		return NULL;
	}
	pk = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (pk == NULL) {
		buf_addf(err, "%s: not a PEM private key", path);
		ssl_error(err);
		buf_add_str(err, "\n");
	}
	return pk;
}

/* to_pem - pk as unencrypted PKCS#8 PEM, NUL-terminated, in memory that
 * OpenSSL wipes when the BIO is freed */
static int
to_pem(EVP_PKEY *pk, struct sign_key *k, struct buf *err)
{
	BIO *bio = BIO_new(BIO_s_secmem());
	char *data;
	long n;

	if (bio == NULL || PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0,
	    NULL, NULL) != 1 || (n = BIO_get_mem_data(bio, &data)) <= 0) {
		buf_addf(err, "%s: cannot write the key as PEM",
		    k->info.path);
		ssl_error(err);
		buf_add_str(err, "\n");
		BIO_free(bio);
		return -1;
	}
	k->pem = xmemdup0(data, (size_t)n);
	k->pem_len = (size_t)n;
	BIO_free(bio);
	return 0;
}

static void
key_clear(struct sign_key *k)
{
	if (k->pem != NULL) {
		OPENSSL_cleanse(k->pem, k->pem_len);
		free(k->pem);
	}
	EVP_PKEY_free(k->pk);
	free((char *)k->info.domain);
	free((char *)k->info.selector);
	free((char *)k->info.path);
	free((char *)k->info.p);
	memset(k, 0, sizeof(*k));
}

/* key_type - alg, a=, bits of pk; -1 with err for keys DKIM cannot use */
static int
key_type(EVP_PKEY *pk, struct sign_key *k, struct buf *err)
{
	const char *path = k->info.path;

	switch (EVP_PKEY_get_base_id(pk)) {
	case EVP_PKEY_RSA:
		k->alg = DKIM_SIGN_RSASHA256;
		k->info.a = "rsa-sha256";
		k->info.bits = (unsigned)EVP_PKEY_get_bits(pk);
		if (k->info.bits < DKIM_SIGN_RSA_MIN_BITS) {
			buf_addf(err, "%s: RSA key of %u bits: DKIM needs %u "
			    "at least (RFC 8301 3.2)\n", path, k->info.bits,
			    DKIM_SIGN_RSA_MIN_BITS);
			return -1;
		}
		if (k->info.bits < DKIM_SIGN_RSA_BITS ||
		    k->info.bits > DKIM_SIGN_RSA_MAX_BITS)
			log_warn(SVC, "%s: RSA key of %u bits: %u to %u are "
			    "the sizes every verifier takes", path,
			    k->info.bits, DKIM_SIGN_RSA_BITS,
			    DKIM_SIGN_RSA_MAX_BITS);
		return 0;
	case EVP_PKEY_ED25519:
		k->alg = DKIM_SIGN_ED25519SHA256;
		k->info.a = "ed25519-sha256";
		k->info.bits = 256;
		return 0;
	default:
		buf_addf(err, "%s: a %s key: DKIM signs with RSA or Ed25519\n",
		    path, OBJ_nid2sn(EVP_PKEY_get_base_id(pk)));
		return -1;
	}
}

/* forward: signs msg with one key */
static int sign_one(const struct dkim_signer *s, const struct sign_key *k,
    const char *id, struct dkim_sign_msg *m, struct buf *out,
    struct buf *err);
static void msg_split(const unsigned char *msg, size_t len,
    struct dkim_sign_msg *m);
static void msg_free(struct dkim_sign_msg *m);

/* key_add - read, check and parse one key file; -1 with err */
static int
key_add(struct dkim_signer *s, const char *domain, const char *selector,
    const char *path, struct buf *err)
{
	struct buf text = BUF_INIT(0), p = BUF_INIT(0), sig = BUF_INIT(0);
	struct dkim_sign_msg m;
	struct sign_key k;
	EVP_PKEY *pk = NULL;
	int rc = -1;

	memset(&k, 0, sizeof(k));
	memset(&m, 0, sizeof(m));
	k.info.domain = xstrdup(domain);
	lower((char *)k.info.domain);
	k.info.selector = xstrdup(selector);
	k.info.path = xstrdup(path);
	if (strlen(selector) + strlen(domain) + sizeof("._domainkey.") >
	    DNS_NAME_MAX) {
		buf_addf(err, "%s: %s._domainkey.%s is too long a name\n",
		    path, selector, domain);
		goto out;
	}
	if (read_key_file(path, &text, err) < 0 ||
	    (pk = parse_key(path, &text, err)) == NULL ||
	    key_type(pk, &k, err) < 0)
		goto out;
	if (dkim_sign_pubkey(pk, &p, &k.info.k, err) < 0) {
		buf_addf(err, ": %s\n", path);
		goto out;
	}
	k.info.p = buf_steal(&p, NULL);
	if (k.alg == DKIM_SIGN_ED25519SHA256) {
		k.pk = pk;
		pk = NULL;
	} else if (to_pem(pk, &k, err) < 0) {
		goto out;
	}
	msg_split((const unsigned char *)selftest_msg,
	    sizeof(selftest_msg) - 1, &m);
	if (sign_one(s, &k, "selftest", &m, &sig, err) < 0) {
		buf_addf(err, ": %s: cannot sign with it\n", path);
		goto out;
	}
	if (s->nkeys == s->cap) {
		s->cap = s->cap == 0 ? 8 : s->cap * 2;
		s->keys = xreallocarray(s->keys, s->cap, sizeof(*s->keys));
	}
	s->keys[s->nkeys++] = k;
	memset(&k, 0, sizeof(k));
	rc = 0;
out:
	EVP_PKEY_free(pk);
	if (text.data != NULL)
		OPENSSL_cleanse(text.data, text.cap);
	buf_free(&text);
	buf_free(&p);
	buf_free(&sig);
	msg_free(&m);
	key_clear(&k);
	return rc;
}

/* scan_domain - the <selector>.key files of one domain directory */
static int
scan_domain(struct dkim_signer *s, const char *dir, const char *domain,
    struct buf *err)
{
	struct buf path = BUF_INIT(0), sel = BUF_INIT(0);
	struct dirent *e;
	DIR *d = opendir(dir);
	int rc = 0;

	if (d == NULL) {
		buf_addf(err, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.' || n <= strlen(KEY_SUFFIX) ||
		    strcmp(e->d_name + n - strlen(KEY_SUFFIX), KEY_SUFFIX) != 0)
			continue;	/* not a key: records, old keys */
		buf_reset(&path);
		buf_addf(&path, "%s/%s", dir, e->d_name);
		buf_reset(&sel);
		buf_add(&sel, e->d_name, n - strlen(KEY_SUFFIX));
		if (!is_selector(buf_cstr(&sel))) {
			buf_addf(err, "%s: \"%s\" is not a selector (letters, "
			    "digits, '-', '_' and '.')\n", buf_cstr(&path),
			    buf_cstr(&sel));
			rc = -1;
			continue;
		}
		if (key_add(s, domain, buf_cstr(&sel), buf_cstr(&path),
		    err) < 0)
			rc = -1;
	}
	closedir(d);
	buf_free(&path);
	buf_free(&sel);
	return rc;
}

/* scan - <key_dir>/<domain>/<selector>.key; no key_dir: no keys */
static int
scan(struct dkim_signer *s, const char *key_dir, struct buf *err)
{
	struct buf path = BUF_INIT(0), dom = BUF_INIT(0);
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(key_dir);
	int rc = 0;

	if (d == NULL) {
		if (errno == ENOENT)
			return 0;
		buf_addf(err, "dkim_sign.key_dir %s: %s\n", key_dir,
		    strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		buf_reset(&path);
		buf_addf(&path, "%s/%s", key_dir, e->d_name);
		/* only directories named like domains hold keys */
		if (stat(buf_cstr(&path), &st) < 0 || !S_ISDIR(st.st_mode) ||
		    strchr(e->d_name, '.') == NULL ||
		    !dns_is_host_name(e->d_name, strlen(e->d_name)))
			continue;
		buf_reset(&dom);
		buf_add_str(&dom, e->d_name);
		lower((char *)dom.data);
		if (scan_domain(s, buf_cstr(&path), buf_cstr(&dom), err) < 0)
			rc = -1;
	}
	closedir(d);
	buf_free(&path);
	buf_free(&dom);
	return rc;
}

/* listed - the keys of dkim_sign.keys: "domain:selector:/path" */
static int
listed(struct dkim_signer *s, const struct strlist *keys, struct buf *err)
{
	struct buf dom = BUF_INIT(0), sel = BUF_INIT(0);
	int rc = 0;

	for (size_t i = 0; i < keys->n; i++) {
		const char *v = keys->v[i], *c1 = strchr(v, ':'), *c2;

		/* the config check made sure of the two colons */
		c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
		if (c1 == NULL || c2 == NULL) {
			buf_addf(err, "dkim_sign.keys: \"%s\": expected "
			    "domain:selector:/path\n", v);
			rc = -1;
			continue;
		}
		buf_reset(&dom);
		buf_add(&dom, v, (size_t)(c1 - v));
		buf_reset(&sel);
		buf_add(&sel, c1 + 1, (size_t)(c2 - c1 - 1));
		if (!is_selector(buf_cstr(&sel)) ||
		    !dns_is_host_name((const char *)dom.data, dom.len)) {
			buf_addf(err, "dkim_sign.keys: \"%s\": bad domain or "
			    "selector\n", v);
			rc = -1;
			continue;
		}
		if (key_add(s, buf_cstr(&dom), buf_cstr(&sel), c2 + 1,
		    err) < 0)
			rc = -1;
	}
	buf_free(&dom);
	buf_free(&sel);
	return rc;
}

static int
key_cmp(const void *a, const void *b)
{
	const struct sign_key *x = a, *y = b;
	int c = strcmp(x->info.domain, y->info.domain);

	if (c != 0)
		return c;
	if (x->alg != y->alg)	/* RSA first: the one every verifier knows */
		return x->alg == DKIM_SIGN_RSASHA256 ? -1 : 1;
	return strcmp(x->info.selector, y->info.selector);
}

static bool
same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	    sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* dedupe - sort; one selector of a domain is one key (the same file
 * found and listed counts once) */
static int
dedupe(struct dkim_signer *s, struct buf *err)
{
	size_t out = 0;
	int rc = 0;

	if (s->nkeys > 1)
		qsort(s->keys, s->nkeys, sizeof(*s->keys), key_cmp);
	for (size_t i = 0; i < s->nkeys; i++) {
		struct sign_key *k = &s->keys[i];

		for (size_t j = 0; j < out; j++) {
			struct sign_key *o = &s->keys[j];

			if (strcmp(o->info.domain, k->info.domain) != 0 ||
			    strcmp(o->info.selector, k->info.selector) != 0)
				continue;
			if (!same_file(o->info.path, k->info.path)) {
				buf_addf(err, "two keys for selector %s of %s: "
				    "%s and %s\n", k->info.selector,
				    k->info.domain, o->info.path,
				    k->info.path);
				rc = -1;
			}
			key_clear(k);
			break;
		}
		if (k->info.domain != NULL)	/* not cleared above */
			s->keys[out++] = *k;
	}
	s->nkeys = out;
	return rc;
}

/* ---- the library ---- */

static bool
has_name(const char **v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(v[i], name) == 0)
			return true;
	return false;
}

/* name_list - From, then the names of a and b, each once, NULL-ended;
 * copies (dkim_sign_ed25519 reads them after the configuration is gone),
 * freed by name_list_free */
static const char **
name_list(const struct strlist *a, const struct strlist *b)
{
	size_t na = a != NULL ? a->n : 0, nb = b != NULL ? b->n : 0, n = 0;
	const char **v = xcalloc(na + nb + 2, sizeof(*v));

	v[n++] = xstrdup("From");
	for (size_t i = 0; i < na; i++)
		if (!has_name(v, n, a->v[i]))
			v[n++] = xstrdup(a->v[i]);
	for (size_t i = 0; i < nb; i++)
		if (!has_name(v, n, b->v[i]))
			v[n++] = xstrdup(b->v[i]);
	v[n] = NULL;
	return v;
}

static void
name_list_free(const char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free((char *)v[i]);
	free(v);
}

static int
lib_open(struct dkim_signer *s, const struct config_dkim_sign *c,
    struct buf *err)
{
	s->lib = dkim_init(NULL, NULL);
	s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (s->lib == NULL || s->sha256 == NULL) {
		buf_add_str(err, "dkim_init or SHA-256 failed\n");
		return -1;
	}
	/* the over-signed names must be signed too, or the library would
	 * list a present field in h= that it did not hash */
	s->sign_hdrs = name_list(&c->headers, &c->oversign);
	s->oversign_hdrs = name_list(&c->oversign, NULL);
	s->names.sign = s->sign_hdrs;
	s->names.oversign = s->oversign_hdrs;
	if (dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS,
	    s->sign_hdrs, sizeof(s->sign_hdrs)) != DKIM_STAT_OK) {
		buf_add_str(err, "dkim_sign.headers: libopendkim refuses the "
		    "list (about 1,000 characters in all at most)\n");
		return -1;
	}
	if (dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS,
	    s->oversign_hdrs, sizeof(s->oversign_hdrs)) != DKIM_STAT_OK) {
		buf_add_str(err, "dkim_sign.oversign_headers: libopendkim "
		    "refuses the list\n");
		return -1;
	}
	return 0;
}

int
dkim_sign_new(const struct config *cfg, struct dkim_signer **s_r,
    struct buf *err)
{
	const struct config_dkim_sign *c = &cfg->dkim_sign;
	struct dkim_signer *s = xcalloc(1, sizeof(*s));
	int rc = 0;

	*s_r = NULL;
	s->subdomains = c->subdomains;
	if (lib_open(s, c, err) < 0) {
		dkim_sign_free(&s);
		return -1;
	}
	if (c->key_dir[0] != '\0' && scan(s, c->key_dir, err) < 0)
		rc = -1;
	if (listed(s, &c->keys, err) < 0)
		rc = -1;
	if (dedupe(s, err) < 0)
		rc = -1;
	if (rc < 0) {
		dkim_sign_free(&s);
		return -1;
	}
	*s_r = s;
	return 0;
}

void
dkim_sign_free(struct dkim_signer **sp)
{
	struct dkim_signer *s = *sp;

	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nkeys; i++)
		key_clear(&s->keys[i]);
	free(s->keys);
	if (s->lib != NULL)
		dkim_close(s->lib);
	EVP_MD_free(s->sha256);
	name_list_free(s->sign_hdrs);
	name_list_free(s->oversign_hdrs);
	free(s);
	*sp = NULL;
}

size_t
dkim_sign_nkeys(const struct dkim_signer *s)
{
	return s->nkeys;
}

const struct dkim_sign_keyinfo *
dkim_sign_key(const struct dkim_signer *s, size_t i)
{
	return i < s->nkeys ? &s->keys[i].info : NULL;
}

/* ---- signing ---- */

/* first_key - the index of the first key of domain, or nkeys */
static size_t
first_key(const struct dkim_signer *s, const char *domain)
{
	for (size_t i = 0; i < s->nkeys; i++)
		if (strcmp(s->keys[i].info.domain, domain) == 0)
			return i;
	return s->nkeys;
}

/* norm_domain - domain lower case, without a trailing dot; false when it
 * is no host name */
static bool
norm_domain(const char *domain, struct buf *out)
{
	size_t n = strlen(domain);

	if (n > 0 && domain[n - 1] == '.')
		n--;
	if (!dns_is_host_name(domain, n))
		return false;
	buf_add(out, domain, n);
	lower((char *)out->data);
	return true;
}

const char *
dkim_sign_domain(const struct dkim_signer *s, const char *domain)
{
	struct buf d = BUF_INIT(0);
	const char *p, *found = NULL;
	size_t i;

	if (!norm_domain(domain, &d))
		goto out;
	for (p = buf_cstr(&d);;) {
		i = first_key(s, p);
		if (i < s->nkeys) {
			found = s->keys[i].info.domain;
			break;
		}
		if (!s->subdomains || (p = strchr(p, '.')) == NULL)
			break;
		p++;
		if (strchr(p, '.') == NULL)
			break;	/* a parent is never a top-level domain */
	}
out:
	buf_free(&d);
	return found;
}

/* field_end - the end of the field starting at p: after its line end and
 * the continuation lines */
static const unsigned char *
field_end(const unsigned char *p, const unsigned char *end)
{
	while (p < end) {
		const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			return end;
		p = nl + 1;
		if (p >= end || (*p != ' ' && *p != '\t'))
			return p;
	}
	return end;
}

/* msg_split - the header fields of msg and where its body starts; a line
 * without a colon, or a continuation line before any field, is left out
 * (the library refuses it: not signed either) */
static void
msg_split(const unsigned char *msg, size_t len, struct dkim_sign_msg *m)
{
	const unsigned char *p = msg, *end = msg + len, *fe, *ve, *colon;
	struct dkim_sign_field *f;
	size_t namelen;

	memset(m, 0, sizeof(*m));
	m->t = (uint64_t)time(NULL);
	while (p < end && *p != '\r' && *p != '\n') {
		fe = field_end(p, end);
		colon = memchr(p, ':', (size_t)(fe - p));
		if (colon == NULL || *p == ' ' || *p == '\t') {
			p = fe;
			continue;
		}
		ve = fe;
		if (ve > colon && ve[-1] == '\n')
			ve--;
		if (ve > colon && ve[-1] == '\r')
			ve--;
		/* RFC 5322 4.5.3, obs-optional: white space before ':' */
		for (namelen = (size_t)(colon - p); namelen > 0 &&
		    (p[namelen - 1] == ' ' || p[namelen - 1] == '\t');
		    namelen--)
			;
		if (m->n == m->cap) {
			m->cap = m->cap == 0 ? 32 : m->cap * 2;
			m->f = xreallocarray(m->f, m->cap, sizeof(*m->f));
		}
		f = &m->f[m->n++];
		f->p = p;
		f->len = (size_t)(ve - p);
		f->namelen = namelen;
		f->value = (size_t)(colon - p) + 1;
		p = fe;
	}
	/* the blank line, CRLF or LF; no blank line: no body */
	if (p < end)
		p += (*p == '\r' && p + 1 < end && p[1] == '\n') ? 2 : 1;
	m->body = p;
	m->bodylen = (size_t)(end - p);
}

static void
msg_free(struct dkim_sign_msg *m)
{
	free(m->f);
	memset(m, 0, sizeof(*m));
}

/* count_from - From fields in the header */
static size_t
count_from(const struct dkim_sign_msg *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n; i++)
		if (ascii_eq_nocase((const char *)m->f[i].p, m->f[i].namelen,
		    "From"))
			n++;
	return n;
}

/*
 * spaced_colon - a field with white space between its name and the
 * colon (RFC 5322 4.5.8, obsolete but seen): libopendkim's dkim_header
 * refuses it, so such a message is sent unsigned rather than held
 */
static bool
spaced_colon(const struct dkim_sign_msg *m)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->f[i].namelen < m->f[i].len &&
		    m->f[i].p[m->f[i].namelen] != ':')
			return true;
	return false;
}

/* add_field - "DKIM-Signature: " and the library's value, its bare LF
 * folds made CRLF, and a CRLF at the end */
static void
add_field(const unsigned char *v, size_t n, struct buf *out)
{
	buf_add_str(out, SIG_PREFIX);
	for (size_t i = 0; i < n; i++) {
		if (v[i] == '\r')
			continue;
		if (v[i] == '\n')
			buf_add(out, "\r", 1);
		buf_add(out, &v[i], 1);
	}
	buf_add_str(out, "\r\n");
}

static int
lib_fail(DKIM *dkim, const char *step, DKIM_STAT stat, struct buf *err)
{
	const char *detail = dkim != NULL ? dkim_geterror(dkim) : NULL;

	buf_addf(err, "%s: %s%s%s", step, dkim_getresultstr(stat),
	    detail != NULL && detail[0] != '\0' ? ": " : "",
	    detail != NULL ? detail : "");
	return -1;
}

/* sign_rsa - one rsa-sha256 signature by libopendkim */
static int
sign_rsa(const struct dkim_signer *s, const struct sign_key *k,
    const char *id, const struct dkim_sign_msg *m, struct buf *out,
    struct buf *err)
{
	unsigned char *v;
	size_t vlen;
	DKIM_STAT stat;
	DKIM *dkim;
	int rc = -1;

	dkim = dkim_sign(s->lib, (const unsigned char *)id, NULL,
	    (unsigned char *)k->pem,
	    (const unsigned char *)k->info.selector,
	    (const unsigned char *)k->info.domain, DKIM_CANON_RELAXED,
	    DKIM_CANON_RELAXED, k->alg, -1, &stat);
	if (dkim == NULL)
		return lib_fail(NULL, "dkim_sign", stat, err);
	for (size_t i = 0; i < m->n; i++) {
		stat = dkim_header(dkim, (unsigned char *)m->f[i].p,
		    m->f[i].len);
		if (stat != DKIM_STAT_OK) {
			lib_fail(dkim, "dkim_header", stat, err);
			goto out;
		}
	}
	if ((stat = dkim_eoh(dkim)) != DKIM_STAT_OK) {
		lib_fail(dkim, "dkim_eoh", stat, err);
		goto out;
	}
	if (m->bodylen > 0 && (stat = dkim_body(dkim,
	    (unsigned char *)m->body, m->bodylen)) != DKIM_STAT_OK) {
		lib_fail(dkim, "dkim_body", stat, err);
		goto out;
	}
	if ((stat = dkim_eom(dkim, NULL)) != DKIM_STAT_OK) {
		lib_fail(dkim, "dkim_eom", stat, err);
		goto out;
	}
	stat = dkim_getsighdr_d(dkim, SIG_PREFIX_LEN, &v, &vlen);
	if (stat != DKIM_STAT_OK) {
		lib_fail(dkim, "dkim_getsighdr", stat, err);
		goto out;
	}
	add_field(v, vlen, out);
	rc = 0;
out:
	(void)dkim_free(dkim);
	return rc;
}

static int
sign_one(const struct dkim_signer *s, const struct sign_key *k,
    const char *id, struct dkim_sign_msg *m, struct buf *out,
    struct buf *err)
{
	if (k->alg == DKIM_SIGN_ED25519SHA256)
		return dkim_sign_ed25519(k->pk, s->sha256, k->info.domain,
		    k->info.selector, &s->names, m, out, err);
	return sign_rsa(s, k, id, m, out, err);
}

enum dkim_sign_res
dkim_sign_message(const struct dkim_signer *s, const char *domain,
    const char *id, const unsigned char *msg, size_t len,
    struct buf *headers_out, struct buf *err)
{
	const char *d = dkim_sign_domain(s, domain);
	struct dkim_sign_msg m;
	enum dkim_sign_res res = DKIM_SIGN_DONE;
	size_t nfrom, first, mark = headers_out->len;

	if (id == NULL)
		id = "NOQUEUE";
	if (d == NULL) {
		buf_addf(err, "no DKIM key for %s", domain);
		return DKIM_SIGN_SKIPPED;
	}
	msg_split(msg, len, &m);
	nfrom = count_from(&m);
	if (nfrom != 1) {
		buf_add_str(err, nfrom == 0 ? "no From field" :
		    "several From fields");
		msg_free(&m);
		return DKIM_SIGN_SKIPPED;
	}
	if (spaced_colon(&m)) {
		buf_add_str(err, "a field has white space before its colon");
		msg_free(&m);
		return DKIM_SIGN_SKIPPED;
	}
	first = first_key(s, d);
	for (size_t i = first; i < s->nkeys &&
	    strcmp(s->keys[i].info.domain, d) == 0; i++) {
		if (sign_one(s, &s->keys[i], id, &m, headers_out, err) < 0) {
			buf_addf(err, " (d=%s s=%s)", d,
			    s->keys[i].info.selector);
			buf_truncate(headers_out, mark);
			res = DKIM_SIGN_ERROR;
			break;
		}
	}
	msg_free(&m);
	return res;
}
