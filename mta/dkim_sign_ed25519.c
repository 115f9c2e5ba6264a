/*
 * dkim_sign_ed25519.c - ed25519-sha256 DKIM signatures (RFC 8463) made
 * with OpenSSL over a key parsed once, relaxed/relaxed canonicalization
 * (RFC 6376 3.4.2, 3.4.4), for dkim_sign.c.
 *
 * Why not libopendkim, which makes our RSA signatures: the library takes
 * the private key as text and parses it again for every signature (0.45
 * ms of an Ed25519 signature's 0.6 ms), and its dkim_free() (2.11,
 * Debian 12) releases the key material of RSA signing handles only
 * (upstream's tests sig_keytype == DKIM_KEYTYPE_RSA before freeing
 * crypto_pkey and crypto_out), so every Ed25519 signature leaks the
 * EVP_PKEY that dkim_privkey_load() decoded (408 bytes) and the 64-byte
 * signature buffer it allocated: valgrind's "definitely lost" stacks end
 * in dkim_privkey_load, mallinfo2 counts 545 bytes a message.  The
 * handle is opaque and no function frees them (the 64 bytes come from
 * the library's allocator, the key from OpenSSL's): nothing done from
 * outside avoids it, and a long-running MTA cannot leak per message.
 * Nor can the library's canonicalization be borrowed: its header hash is
 * made inside dkim_eom, after the key is loaded, and no API returns it
 * first (dkim_sig_gethashes needs a finished handle).
 *
 * What is signed, as the libopendkim signer does for RSA, so that both
 * signatures of a dual-signed message carry the same h=: the header
 * fields whose names are in names->sign, each as often as present, in
 * the order of the header, then each names->oversign name once more
 * (RFC 6376 8.15: a field of that name added later breaks the
 * signature).  The hash follows the verifier's rule (5.4.2): each name
 * of h= takes the bottom-most instance not yet taken; a name with none
 * left adds nothing.  Tags: v, a, c, d, s, t, bh, h, b, no i= (its
 * default "@d" is what we mean), no l= (the whole body), no x=.
 *
 * Canonicalization, relaxed:
 *   - header (3.4.2): the name in lower case without the white space
 *     before the colon, the value unfolded (CRLF removed), runs of SP
 *     and TAB made one SP, white space at its start and end removed,
 *     then ":" between and CRLF after.
 *   - body (3.4.4): each line's trailing SP/TAB removed and inner runs
 *     made one SP; empty lines at the end dropped; a last line without
 *     CRLF gets one; an empty body hashes as nothing.
 * Only CRLF ends a body line: a bare CR or LF is an ordinary byte here.
 * dkim_sign_message's callers hand over normalised messages
 * (smtpc_data.h makes every bare CR and LF a CRLF and ends the message
 * with one), where the question does not arise; verifiers disagree about
 * bare ones anyway.  The unit tests hold both hashes to libopendkim's
 * (the RSA signature's bh= and its verifier) and to python3-dkim's.
 *
 * The header hash: SHA-256 of the selected fields, canonicalized, then
 * of our own DKIM-Signature field canonicalized without its final CRLF,
 * exactly as it will be sent (folded) up to "b=", whose value verifiers
 * delete before hashing (3.7).  Ed25519 (PureEdDSA) signs those 32
 * bytes (RFC 8463 3).
 */
#include <string.h>

#include <openssl/err.h>

#include "common/common.h"
#include "common/xalloc.h"
#include "mta/dkim_sign_priv.h"

#define FOLD_AT 78		/* columns before a fold (RFC 5322 2.1.1) */
#define FOLD_COL 8		/* where a TAB after CRLF leaves us */
#define ED25519_SIG_LEN 64u
#define HASHBUF_SIZE 4096u

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* ---- a buffered SHA-256 ---- */

struct hashbuf {
	EVP_MD_CTX *md;
	bool failed;		/* an update failed: hb_final says so */
	size_t n;
	unsigned char b[HASHBUF_SIZE];
};

static int
hb_init(struct hashbuf *h, const EVP_MD *sha256)
{
	h->n = 0;
	h->failed = false;
	return EVP_DigestInit_ex(h->md, sha256, NULL) == 1 ? 0 : -1;
}

static void
hb_flush(struct hashbuf *h)
{
	if (h->n > 0 && EVP_DigestUpdate(h->md, h->b, h->n) != 1)
		h->failed = true;
	h->n = 0;
}

/* hb_add - n bytes to hash, through the buffer unless big */
static void
hb_add(struct hashbuf *h, const void *p, size_t n)
{
	if (n > sizeof(h->b) - h->n)
		hb_flush(h);
	if (n >= sizeof(h->b)) {
		if (EVP_DigestUpdate(h->md, p, n) != 1)
			h->failed = true;
		return;
	}
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static int
hb_final(struct hashbuf *h, unsigned char out[DKIM_SIGN_HASH_LEN])
{
	unsigned int len = 0;

	hb_flush(h);
	if (h->failed || EVP_DigestFinal_ex(h->md, out, &len) != 1 ||
	    len != DKIM_SIGN_HASH_LEN)
		return -1;
	return 0;
}

/* ---- relaxed canonicalization ---- */

/* canon_line - the line [p, e) (no CRLF, no trailing white space),
 * inner runs of SP and TAB made one SP */
static void
canon_line(struct hashbuf *h, const unsigned char *p, const unsigned char *e)
{
	while (p < e) {
		const unsigned char *q = p;

		while (q < e && !is_wsp(*q))
			q++;
		hb_add(h, p, (size_t)(q - p));
		if (q == e)
			break;
		hb_add(h, " ", 1);
		while (q < e && is_wsp(*q))
			q++;
		p = q;
	}
}

/* body_hash - RFC 6376 3.4.4 relaxed, into m->bh */
static int
body_hash(struct hashbuf *h, const EVP_MD *sha256, struct dkim_sign_msg *m)
{
	const unsigned char *p = m->body, *end = m->body + m->bodylen;
	size_t empty = 0;

	if (hb_init(h, sha256) < 0)
		return -1;
	while (p < end) {
		const unsigned char *eol = p, *e, *next;

		/* the next CRLF; a bare CR is part of the line */
		for (;;) {
			eol = memchr(eol, '\r', (size_t)(end - eol));
			if (eol == NULL || (eol + 1 < end && eol[1] == '\n'))
				break;
			eol++;
		}
		if (eol == NULL) {
			eol = end;
			next = end;
		} else {
			next = eol + 2;
		}
		for (e = eol; e > p && is_wsp(e[-1]); e--)
			;
		if (e == p) {
			empty++;	/* kept back: it may be trailing */
		} else {
			for (; empty > 0; empty--)
				hb_add(h, "\r\n", 2);
			canon_line(h, p, e);
			hb_add(h, "\r\n", 2);	/* a last line gets one too */
		}
		p = next;
	}
	if (hb_final(h, m->bh) < 0)
		return -1;
	m->has_bh = true;
	return 0;
}

/* canon_field - RFC 6376 3.4.2 relaxed: the field of len bytes at f
 * whose name is namelen bytes and whose value starts at offset value;
 * CRLF after it when crlf */
static void
canon_field(struct hashbuf *h, const unsigned char *f, size_t len,
    size_t namelen, size_t value, bool crlf)
{
	unsigned char low[64];
	bool any = false, sp = false;
	size_t i, n;

	for (i = 0; i < namelen; i += n) {
		n = namelen - i < sizeof(low) ? namelen - i : sizeof(low);
		for (size_t j = 0; j < n; j++)
			low[j] = (unsigned char)ascii_tolower(f[i + j]);
		hb_add(h, low, n);
	}
	hb_add(h, ":", 1);
	for (i = value; i < len;) {
		unsigned char c = f[i];

		if (c == '\n' || (c == '\r' && i + 1 < len && f[i + 1] ==
		    '\n')) {
			i++;		/* unfolded: the WSP after stays */
			continue;
		}
		if (is_wsp(c)) {
			sp = true;
			i++;
			continue;
		}
		if (sp && any)
			hb_add(h, " ", 1);
		sp = false;
		any = true;
		for (n = i + 1; n < len && !is_wsp(f[n]) && f[n] != '\r' &&
		    f[n] != '\n'; n++)
			;
		hb_add(h, f + i, n - i);
		i = n;
	}
	if (crlf)
		hb_add(h, "\r\n", 2);
}

/* ---- the field we add ---- */

static bool
name_is(const struct dkim_sign_field *f, const char *name)
{
	return ascii_eq_nocase((const char *)f->p, f->namelen, name);
}

static bool
in_list(const struct dkim_sign_field *f, const char *const *list)
{
	for (; *list != NULL; list++)
		if (name_is(f, *list))
			return true;
	return false;
}

/* fold_add - n bytes at col, after a space unless glued, or on a new
 * line (CRLF TAB) when they would pass FOLD_AT */
static void
fold_add(struct buf *out, size_t *col, const char *s, size_t n, bool glued)
{
	size_t sp = glued ? 0 : 1;

	if (*col > FOLD_COL && *col + sp + n > FOLD_AT) {
		buf_add_str(out, "\r\n\t");
		*col = FOLD_COL;
	} else if (!glued) {
		buf_add_str(out, " ");
		(*col)++;
	}
	buf_add(out, s, n);
	*col += n;
}

static void
fold_tag(struct buf *out, size_t *col, const char *tag, const char *v)
{
	struct buf t = BUF_INIT(0);

	buf_addf(&t, "%s=%s;", tag, v);
	fold_add(out, col, (const char *)t.data, t.len, false);
	buf_free(&t);
}

/* b64 - base64 of n bytes, NUL-terminated, into out (4 * ceil(n / 3) + 1
 * bytes) */
static void
b64(const unsigned char *in, size_t n, char *out)
{
	(void)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

/*
 * sig_prefix - "DKIM-Signature: v=1; ... h=...; b=" folded, into out,
 * *col_r the column it ends at; the names of h= (the fields' own
 * spelling, then the over-signed ones) into hnames, NUL-separated, *nh_r
 * of them
 */
static void
sig_prefix(const char *domain, const char *selector,
    const struct dkim_sign_names *names, const struct dkim_sign_msg *m,
    struct buf *out, size_t *col_r, struct buf *hnames, size_t *nh_r)
{
	char bh[(DKIM_SIGN_HASH_LEN + 2) / 3 * 4 + 1];
	struct buf t = BUF_INIT(0);
	size_t col = 0, nh = 0;

	buf_add_str(out, "DKIM-Signature:");
	col = strlen("DKIM-Signature:");
	fold_add(out, &col, "v=1;", 4, false);
	fold_tag(out, &col, "a", "ed25519-sha256");
	fold_tag(out, &col, "c", "relaxed/relaxed");
	fold_tag(out, &col, "d", domain);
	fold_tag(out, &col, "s", selector);
	buf_addf(&t, "%llu", (unsigned long long)m->t);
	fold_tag(out, &col, "t", buf_cstr(&t));
	b64(m->bh, sizeof(m->bh), bh);
	fold_tag(out, &col, "bh", bh);
	for (size_t i = 0; i < m->n; i++) {
		const struct dkim_sign_field *f = &m->f[i];

		if (!in_list(f, names->sign))
			continue;
		buf_add(hnames, f->p, f->namelen);
		buf_add(hnames, "", 1);
		nh++;
	}
	for (const char *const *o = names->oversign; *o != NULL; o++) {
		buf_add_str(hnames, *o);
		buf_add(hnames, "", 1);
		nh++;
	}
	/* From is always in names->sign: h= is never empty */
	for (size_t i = 0, off = 0; i < nh; i++) {
		const char *name = (const char *)hnames->data + off;

		buf_reset(&t);
		buf_addf(&t, "%s%s", i == 0 ? "h=" : ":", name);
		fold_add(out, &col, (const char *)t.data, t.len, i > 0);
		off += strlen(name) + 1;
	}
	buf_add_str(out, ";");
	col++;
	fold_add(out, &col, "b=", 2, false);
	*col_r = col;
	*nh_r = nh;
	buf_free(&t);
}

/* header_hash - the selected fields as h= names them (5.4.2), then the
 * signature field up to "b=" */
static int
header_hash(struct hashbuf *h, const EVP_MD *sha256,
    const struct dkim_sign_msg *m, const struct buf *hnames, size_t nh,
    const struct buf *prefix, unsigned char hh[DKIM_SIGN_HASH_LEN])
{
	bool *used = xcalloc(m->n > 0 ? m->n : 1, sizeof(*used));
	size_t off = 0, name_len = strlen("DKIM-Signature");
	int rc;

	if (hb_init(h, sha256) < 0) {
		free(used);
		return -1;
	}
	for (size_t k = 0; k < nh; k++) {
		const char *name = (const char *)hnames->data + off;

		off += strlen(name) + 1;
		for (size_t i = m->n; i-- > 0;) {
			const struct dkim_sign_field *f = &m->f[i];

			if (used[i] || !name_is(f, name))
				continue;
			used[i] = true;
			canon_field(h, f->p, f->len, f->namelen, f->value,
			    true);
			break;
		}
	}
	canon_field(h, prefix->data, prefix->len, name_len, name_len + 1,
	    false);
	rc = hb_final(h, hh);
	free(used);
	return rc;
}

static void
ssl_fail(const char *what, struct buf *err)
{
	unsigned long e = ERR_get_error();
	char text[256];

	buf_addf(err, "ed25519: %s failed", what);
	if (e != 0) {
		ERR_error_string_n(e, text, sizeof(text));
		buf_addf(err, " (%s)", text);
	}
	ERR_clear_error();
}

int
dkim_sign_ed25519(EVP_PKEY *pk, const EVP_MD *sha256, const char *domain,
    const char *selector, const struct dkim_sign_names *names,
    struct dkim_sign_msg *m, struct buf *out, struct buf *err)
{
	struct buf field = BUF_INIT(0), hnames = BUF_INIT(0);
	struct hashbuf *h = xmalloc(sizeof(*h));
	unsigned char hh[DKIM_SIGN_HASH_LEN], sig[ED25519_SIG_LEN];
	char sig64[(ED25519_SIG_LEN + 2) / 3 * 4 + 1];
	EVP_MD_CTX *sctx = NULL;
	size_t siglen = sizeof(sig), nh = 0, col = 0, n;
	int rc = -1;

	h->md = EVP_MD_CTX_new();
	if (h->md == NULL) {
		ssl_fail("EVP_MD_CTX_new", err);
		goto out;
	}
	if (!m->has_bh && body_hash(h, sha256, m) < 0) {
		ssl_fail("the body hash", err);
		goto out;
	}
	sig_prefix(domain, selector, names, m, &field, &col, &hnames, &nh);
	if (header_hash(h, sha256, m, &hnames, nh, &field, hh) < 0) {
		ssl_fail("the header hash", err);
		goto out;
	}
	sctx = EVP_MD_CTX_new();
	if (sctx == NULL || EVP_DigestSignInit(sctx, NULL, NULL, NULL,
	    pk) != 1 || EVP_DigestSign(sctx, sig, &siglen, hh,
	    sizeof(hh)) != 1 || siglen != sizeof(sig)) {
		ssl_fail("signing", err);
		goto out;
	}
	b64(sig, siglen, sig64);
	/* the value after "b=", folded where the line is full: FWS is
	 * allowed anywhere in base64 (RFC 6376 3.5) and verifiers delete
	 * it with the value before hashing (3.7) */
	for (const char *p = sig64; *p != '\0'; p += n) {
		if (col >= FOLD_AT) {
			buf_add_str(&field, "\r\n\t");
			col = FOLD_COL;
		}
		n = strlen(p);
		if (n > FOLD_AT - col)
			n = FOLD_AT - col;
		buf_add(&field, p, n);
		col += n;
	}
	buf_add_str(&field, "\r\n");
	buf_add(out, field.data, field.len);
	rc = 0;
out:
	EVP_MD_CTX_free(sctx);
	EVP_MD_CTX_free(h->md);
	free(h);
	buf_free(&field);
	buf_free(&hnames);
	return rc;
}
