/*
 * mime_text.c - the bytes and the text of a part: transfer decoding
 * (RFC 2045 6: base64, quoted-printable, and uuencode, by GMime's
 * decoders), charset conversion to UTF-8 (by GMime's iconv wrappers),
 * UTF-8 checking, decoded sizes, and the search text.
 *
 * Charsets, a best effort that never fails: UTF-8 is taken as UTF-8 with
 * each bad byte turned into U+FFFD; a part with no charset, labelled
 * us-ascii or x-unknown, or with a charset iconv does not know is UTF-8
 * when it is valid UTF-8 and Latin-1 otherwise (every byte maps, so the
 * words survive); a known charset is converted by iconv, a byte it cannot
 * convert becomes U+FFFD.  Text is then cleaned for indexing: CRLF and
 * lone CR become LF, NUL is dropped, other control characters but tab
 * become a space.
 *
 * Bounds: a part's text is taken from at most 4 * max + 64 KiB of its
 * encoded body (base64 and quoted-printable never grow when decoded), so
 * a huge part costs no more than its share of max_text.
 */
#include <errno.h>
#include <iconv.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/mime_priv.h"

#define CHUNK 16384

static const unsigned char replacement[] = { 0xef, 0xbf, 0xbd };

/* utf8_seq - length of the valid UTF-8 sequence at s, 0 when invalid */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (len > n)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

bool
mime_utf8_valid(const void *s, size_t n)
{
	const unsigned char *p = s;

	for (size_t i = 0; i < n;) {
		size_t k = utf8_seq(p + i, n - i);

		if (k == 0)
			return false;
		i += k;
	}
	return true;
}

void
mime_utf8_append(struct buf *out, const void *s, size_t n)
{
	const unsigned char *p = s;
	size_t i = 0, run = 0;

	if (n == 0)
		return;		/* s may be NULL */
	while (i < n) {
		size_t k = p[i] == 0 ? 0 : utf8_seq(p + i, n - i);

		if (k != 0) {
			i += k;
			run += k;
			continue;
		}
		buf_add(out, p + i - run, run);
		run = 0;
		if (p[i] != 0)
			buf_add(out, replacement, sizeof(replacement));
		i++;
	}
	buf_add(out, p + n - run, run);
}

size_t
mime_utf8_cut(const void *s, size_t n, size_t max)
{
	const unsigned char *p = s;

	if (n <= max)
		return n;
	while (max > 0 && (p[max] & 0xc0) == 0x80)
		max--;
	return max;
}

static void
latin1_append(struct buf *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char u[2];

		if (p[i] == 0)
			continue;
		if (p[i] < 0x80) {
			buf_add(out, &p[i], 1);
			continue;
		}
		u[0] = (unsigned char)(0xc0 | (p[i] >> 6));
		u[1] = (unsigned char)(0x80 | (p[i] & 0x3f));
		buf_add(out, u, 2);
	}
}

static void
iconv_into(iconv_t cd, const unsigned char *in, size_t n, struct buf *out)
{
	char *ip = (char *)(uintptr_t)in;
	size_t left = n;
	char tmp[CHUNK];
	struct buf conv = BUF_INIT(0);

	while (left > 0) {
		char *op = tmp;
		size_t room = sizeof(tmp);
		size_t r = iconv(cd, &ip, &left, &op, &room);
		int e = errno;

		buf_add(&conv, tmp, sizeof(tmp) - room);
		if (r != (size_t)-1 || e == E2BIG)
			continue;
		/* a byte iconv cannot convert, or a cut sequence at the end */
		buf_add(&conv, replacement, sizeof(replacement));
		if (e != EILSEQ && e != EINVAL)
			break;
		ip++;
		left--;
		(void)iconv(cd, NULL, NULL, NULL, NULL);
	}
	{
		/* the end of a stateful encoding (ISO-2022-JP) */
		char *op = tmp;
		size_t room = sizeof(tmp);

		if (iconv(cd, NULL, NULL, &op, &room) != (size_t)-1)
			buf_add(&conv, tmp, sizeof(tmp) - room);
	}
	mime_utf8_append(out, conv.data, conv.len);
	buf_free(&conv);
}

void
mime_to_utf8(const char *charset, const void *in, size_t n, struct buf *out)
{
	const char *canon = charset ? g_mime_charset_canon_name(charset) : NULL;
	iconv_t cd;

	if (canon != NULL && (g_ascii_strcasecmp(canon, "utf-8") == 0 ||
	    g_ascii_strcasecmp(canon, "utf8") == 0)) {
		mime_utf8_append(out, in, n);
		return;
	}
	if (canon == NULL || g_ascii_strcasecmp(charset, "x-unknown") == 0 ||
	    g_ascii_strcasecmp(canon, "us-ascii") == 0 ||
	    g_ascii_strcasecmp(canon, "ascii") == 0 ||
	    g_ascii_strcasecmp(canon, "ansi_x3.4-1968") == 0 ||
	    (cd = g_mime_iconv_open("UTF-8", charset)) == (iconv_t)-1) {
		if (mime_utf8_valid(in, n))
			mime_utf8_append(out, in, n);
		else
			latin1_append(out, in, n);
		return;
	}
	iconv_into(cd, in, n, out);
	g_mime_iconv_close(cd);
}

typedef int sink_fn(void *arg, const unsigned char *p, size_t n);

/*
 * cte_run - transfer-decode in[0..n) by the encoding token enc, in chunks
 * handed to sink; stops at the first sink error (-1).
 */
static int
cte_run(const char *enc, const unsigned char *in, size_t n, sink_fn *sink,
    void *arg)
{
	GMimeContentEncoding e = g_mime_content_encoding_from_string(enc);
	GMimeEncoding st;
	char out[CHUNK + 8];

	if (e != GMIME_CONTENT_ENCODING_BASE64 &&
	    e != GMIME_CONTENT_ENCODING_QUOTEDPRINTABLE &&
	    e != GMIME_CONTENT_ENCODING_UUENCODE)
		return n ? sink(arg, in, n) : 0;
	g_mime_encoding_init_decode(&st, e);
	if (e == GMIME_CONTENT_ENCODING_UUENCODE) {
		/* data starts after the "begin <mode> <name>" line */
		size_t p = 0;

		for (;;) {
			const unsigned char *nl;

			if (p >= n)
				return 0;
			nl = memchr(in + p, '\n', n - p);
			if (n - p >= 6 && memcmp(in + p, "begin ", 6) == 0) {
				p = nl ? (size_t)(nl - in) + 1 : n;
				break;
			}
			if (nl == NULL)
				return 0;
			p = (size_t)(nl - in) + 1;
		}
		in += p;
		n -= p;
		st.state = GMIME_UUDECODE_STATE_BEGIN;
	}
	for (size_t off = 0; off < n;) {
		size_t k = n - off > CHUNK - 8 ? CHUNK - 8 : n - off;
		size_t got = g_mime_encoding_step(&st, (const char *)in + off,
		    k, out);

		off += k;
		if (got > 0 && sink(arg, (unsigned char *)out, got) < 0)
			return -1;
	}
	n = g_mime_encoding_flush(&st, NULL, 0, out);
	return n ? sink(arg, (unsigned char *)out, n) : 0;
}

static int
sink_count(void *arg, const unsigned char *p, size_t n)
{
	(void)p;
	*(uint64_t *)arg += n;
	return 0;
}

static int
sink_buf(void *arg, const unsigned char *p, size_t n)
{
	return buf_append(arg, p, n);
}

void
mime_decode_cte(const char *enc, const void *in, size_t n, struct buf *out)
{
	(void)cte_run(enc, in, n, sink_buf, out);
}

void
mime_text_sizes(struct mime_ctx *c)
{
	for (uint32_t i = 0; i < c->nparts; i++) {
		struct mime_part *p = &c->parts[i];
		uint64_t n = 0;

		p->decoded_size = p->body_end - p->body_start;
		if (p->kind != MIME_LEAF)
			continue;
		if (cte_run(p->encoding, c->msg + p->body_start,
		    p->body_end - p->body_start, sink_count, &n) == 0)
			p->decoded_size = n;
	}
}

int
mime_part_decode(const struct mime_info *info, uint32_t part,
    const unsigned char *msg, size_t len, struct buf *out)
{
	const struct mime_part *p;

	if (part >= info->nparts || len != info->size)
		return -1;
	p = &info->parts[part];
	return cte_run(p->encoding, msg + p->body_start,
	    p->body_end - p->body_start, sink_buf, out);
}

/* clean - CRLF and CR to LF, control characters but tab to space */
static void
clean(const unsigned char *p, size_t n, struct buf *out)
{
	size_t run = 0;

	if (n == 0)
		return;		/* p may be NULL */
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = p[i];

		if (ch >= 0x20 && ch != 0x7f) {
			run++;
			continue;
		}
		buf_add(out, p + i - run, run);
		run = 0;
		if (ch == '\r') {
			buf_add_str(out, "\n");
			if (i + 1 < n && p[i + 1] == '\n')
				i++;
		} else if (ch == '\n' || ch == '\t') {
			buf_add(out, &ch, 1);
		} else if (ch != 0) {
			buf_add_str(out, " ");
		}
	}
	buf_add(out, p + n - run, run);
}

/*
 * part_text - the UTF-8 text of the leaf p, at most max bytes; 1 when
 * cut (or when its encoded body was longer than what is read), else 0.
 */
static int
part_text(const struct mime_part *p, const unsigned char *msg, bool html,
    size_t max, struct buf *out)
{
	struct buf dec = BUF_INIT(0), u = BUF_INIT(0), t = BUF_INIT(0);
	size_t n = p->body_end - p->body_start, cap = max * 4 + 65536, keep;
	int cut = 0;

	if (n > cap) {
		n = cap;
		cut = 1;
	}
	mime_decode_cte(p->encoding, msg + p->body_start, n, &dec);
	mime_to_utf8(p->charset, dec.data, dec.len, &u);
	buf_free(&dec);
	clean(u.data, u.len, &t);
	buf_free(&u);
	if (html) {
		size_t before = out->len;

		mime_html_strip(buf_cstr(&t), t.len, max, out);
		if (out->len - before >= max)
			cut = 1;
	} else {
		keep = mime_utf8_cut(t.data, t.len, max);
		if (keep < t.len)
			cut = 1;
		buf_add(out, t.data, keep);
	}
	buf_free(&t);
	return cut;
}

int
mime_part_text(const struct mime_info *info, uint32_t part,
    const unsigned char *msg, size_t len, bool strip_html, size_t max,
    struct buf *out)
{
	const struct mime_part *p;

	if (part >= info->nparts || len != info->size)
		return 0;
	p = &info->parts[part];
	return part_text(p, msg, strip_html && mime_is_type(p, "text",
	    "html"), max, out);
}

void
mime_text_search(struct mime_ctx *c)
{
	struct buf text = BUF_INIT(0);
	size_t *off = xcalloc(c->nparts, sizeof(*off));
	size_t *len = xcalloc(c->nparts, sizeof(*len));
	size_t max = c->lim.max_text;

	for (uint32_t i = 0; i < c->nparts; i++) {
		const struct mime_part *p = &c->parts[i];
		bool html = mime_is_type(p, "text", "html");
		size_t sep = text.len > 0;

		if (p->kind != MIME_LEAF || !(html ||
		    mime_is_type(p, "text", "plain")))
			continue;
		if (text.len + sep >= max) {
			c->flags |= MIME_TRUNC_TEXT;
			break;
		}
		if (sep)
			buf_add_str(&text, "\n");
		off[i] = text.len;
		if (part_text(p, c->msg, html, max - text.len, &text))
			c->flags |= MIME_TRUNC_TEXT;
		len[i] = text.len - off[i];
		if (len[i] == 0 && sep)
			buf_truncate(&text, --off[i]);
	}
	c->info->text = mime_arena_strndup(c->a, text.data ? text.data :
	    (const unsigned char *)"", text.len);
	c->info->text_len = text.len;
	if (!c->text_only)
		mime_jmap_preview(c, off, len);
	buf_free(&text);
	free(off);
	free(len);
}
