/*
 * vacation_msg.c - the auto-reply message of a VacationResponse
 * (vacation_build, see vacation.h): RFC 3834 3 headers, RFC 5322 3.6.4
 * threading, RFC 2047 words for 8-bit header text, RFC 2045
 * quoted-printable UTF-8 bodies, RFC 2046 multipart/alternative.  Pure.
 *
 * Decisions: the subject of the original is copied as written, encoded
 * words included ("Auto: " + them is valid), unfolded; an 8-bit one
 * that is no UTF-8 loses those octets ('?'), not the reply.  Msg-ids are
 * copied only when they hold no white space, control or 8-bit octet and
 * are at most VACATION_MSGID_MAX long; References keeps the first and
 * the last ones, VACATION_REFS_MAX in all.  The boundary starts with
 * "=_", which quoted-printable never writes, so no part can end early.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "common/rfc5322.h"
#include "delivery/vacation.h"

#define SUBJECT_MAX 900u		/* octets of the reply's subject */
#define WORD_OCTETS 45u			/* 60 base64 chars: a 72-char word */

static bool
is_8bit(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return true;
	return false;
}

/* utf8_ok - well-formed UTF-8 (no overlong forms, no surrogates) */
static bool
utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			k = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			k = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			k = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (k > n - i - 1)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
		    || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += k + 1;
	}
	return true;
}

/*
 * words - s as RFC 2047 B encoded words of at most WORD_OCTETS octets
 * each, never splitting a UTF-8 character, folded between words
 */
static void
words(struct buf *out, const char *s, size_t n)
{
	unsigned char b64[WORD_OCTETS / 3 * 4 + 1];
	size_t off = 0;

	while (off < n) {
		size_t take = n - off < WORD_OCTETS ? n - off : WORD_OCTETS;
		int bl;

		while (take < n - off && take > 1 &&
		    ((unsigned char)s[off + take] & 0xc0) == 0x80)
			take--;
		if (off > 0)
			buf_add_str(out, "\r\n ");
		bl = EVP_EncodeBlock(b64, (const unsigned char *)s + off,
		    (int)take);
		buf_add_str(out, "=?UTF-8?B?");
		buf_add(out, b64, (size_t)bl);
		buf_add_str(out, "?=");
		off += take;
	}
}

/* hdr_text - unstructured text: as is when 7-bit, else encoded words */
static void
hdr_text(struct buf *out, const char *s, size_t n)
{
	if (is_8bit(s, n))
		words(out, s, n);
	else
		buf_add(out, s, n);
}

/* cut - at most max octets of s, at a character boundary */
static size_t
cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/*
 * orig_subject - the original's Subject unfolded and trimmed, control
 * characters made spaces, into out; 8-bit octets that are no UTF-8 made
 * '?'.  Encoded words are kept as they are: "Auto: " + them is valid.
 */
static void
orig_subject(const unsigned char *msg, size_t len, struct buf *out)
{
	struct buf raw = BUF_INIT(0), t = BUF_INIT(0);
	size_t s = 0, e;

	(void)rfc5322_header_find(msg, len, "Subject", &raw);
	for (size_t i = 0; i < raw.len; i++) {
		unsigned char c = raw.data[i];

		if (c == '\r' || c == '\n')
			continue;
		buf_add(&t, c < 0x20 || c == 0x7f ? (const void *)" " :
		    (const void *)&c, 1);
	}
	if (!utf8_ok(t.data, t.len))
		for (size_t i = 0; i < t.len; i++)
			if (t.data[i] >= 0x80)
				t.data[i] = '?';
	e = t.len;
	while (s < e && (t.data[s] == ' ' || t.data[s] == '\t'))
		s++;
	while (e > s && (t.data[e - 1] == ' ' || t.data[e - 1] == '\t'))
		e--;
	if (e > s)
		buf_add(out, t.data + s, e - s);
	else
		buf_add_str(out, "(no subject)");
	buf_free(&raw);
	buf_free(&t);
}

/*
 * next_msgid - the next "<id>" of a msg-id list value from *off: 1 with
 * the id (without <>) in *id_r / *n_r, 0 at the end.  An id with white
 * space, control or 8-bit octets, or over VACATION_MSGID_MAX, is
 * skipped: we copy only what we can vouch for.
 */
static int
next_msgid(const char *v, size_t n, size_t *off, const char **id_r,
    size_t *n_r)
{
	while (*off < n) {
		const char *lt = memchr(v + *off, '<', n - *off), *gt;
		bool ok = true;

		if (lt == NULL)
			break;
		gt = memchr(lt, '>', (size_t)(v + n - lt));
		if (gt == NULL)
			break;
		*off = (size_t)(gt - v) + 1;
		for (const char *p = lt + 1; p < gt; p++)
			if (*p <= ' ' || *p >= 0x7f || *p == '<')
				ok = false;
		if (!ok || gt - lt - 1 == 0 ||
		    (size_t)(gt - lt - 1) > VACATION_MSGID_MAX)
			continue;
		*id_r = lt + 1;
		*n_r = (size_t)(gt - lt - 1);
		return 1;
	}
	*off = n;
	return 0;
}

/* one msg-id field of the original: its ids (pointers into raw) */
struct ids {
	const char *id[VACATION_REFS_MAX];
	size_t len[VACATION_REFS_MAX];
	size_t n;
	size_t total;		/* ids seen, kept or not */
};

/* ids_add - keep the first and the last VACATION_REFS_MAX - 1 */
static void
ids_add(struct ids *ids, const char *id, size_t len)
{
	ids->total++;
	if (ids->n == VACATION_REFS_MAX) {
		memmove(&ids->id[1], &ids->id[2],
		    (VACATION_REFS_MAX - 2) * sizeof(ids->id[0]));
		memmove(&ids->len[1], &ids->len[2],
		    (VACATION_REFS_MAX - 2) * sizeof(ids->len[0]));
		ids->n--;
	}
	ids->id[ids->n] = id;
	ids->len[ids->n++] = len;
}

static void
ids_parse(const struct buf *raw, struct ids *ids)
{
	const char *id;
	size_t off = 0, n;

	while (next_msgid((const char *)raw->data, raw->len, &off, &id, &n))
		ids_add(ids, id, n);
}

/* references - In-Reply-To and References of the reply (RFC 5322 3.6.4) */
static void
references(const struct vacation_reply *r, struct buf *out)
{
	struct buf mid = BUF_INIT(0), refs = BUF_INIT(0), irt = BUF_INIT(0);
	struct ids msgid, chain;
	const char *id;
	size_t off = 0, n;

	memset(&msgid, 0, sizeof(msgid));
	memset(&chain, 0, sizeof(chain));
	(void)rfc5322_header_find(r->orig, r->orig_len, "Message-ID", &mid);
	if (!next_msgid((const char *)mid.data, mid.len, &off, &id, &n)) {
		buf_free(&mid);
		return;		/* nothing to refer to */
	}
	(void)rfc5322_header_find(r->orig, r->orig_len, "References", &refs);
	ids_parse(&refs, &chain);
	if (chain.total == 0) {
		(void)rfc5322_header_find(r->orig, r->orig_len, "In-Reply-To",
		    &irt);
		ids_parse(&irt, &msgid);
		if (msgid.total == 1)	/* only a single parent is one */
			ids_add(&chain, msgid.id[0], msgid.len[0]);
	}
	ids_add(&chain, id, n);
	buf_addf(out, "In-Reply-To: <%.*s>\r\n", (int)n, id);
	buf_add_str(out, "References:");
	for (size_t i = 0; i < chain.n; i++)
		buf_addf(out, "%s<%.*s>", i == 0 ? " " : "\r\n ",
		    (int)chain.len[i], chain.id[i]);
	buf_add_str(out, "\r\n");
	buf_free(&mid);
	buf_free(&refs);
	buf_free(&irt);
}

/* date - RFC 5322 3.3, UTC, in the C locale's names whatever ours */
static void
date(struct buf *out, int64_t t)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL) {
		tt = 0;
		(void)gmtime_r(&tt, &tm);
	}
	buf_addf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* from - "Name" <addr>, the name quoted or encoded */
static void
from(const struct vacation_reply *r, struct buf *out)
{
	const char *name = r->from_name != NULL ? r->from_name : "";
	size_t n = strlen(name);

	buf_add_str(out, "From: ");
	if (n > 0 && is_8bit(name, n) && utf8_ok((const void *)name, n)) {
		words(out, name, cut(name, n, 200));
		buf_add_str(out, " ");
	} else if (n > 0) {
		buf_add_str(out, "\"");
		for (size_t i = 0; i < n && i < 200; i++) {
			char c = name[i];

			if (c == '"' || c == '\\')
				buf_add_str(out, "\\");
			buf_add(out, (unsigned char)c < 0x20 ||
			    (unsigned char)c >= 0x7f ? "?" : &name[i], 1);
		}
		buf_add_str(out, "\" ");
	}
	buf_addf(out, "<%s>\r\n", r->from_addr);
}

/*
 * qp - quoted-printable of UTF-8 text (RFC 2045 6.7): CR, LF and CRLF
 * become CRLF, lines at most 76 characters with soft breaks, a space or
 * tab before a line end encoded; ends with a line break
 */
static void
qp(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t col = 0;
	bool at_bol = true;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	    p++) {
		unsigned char c = *p;
		bool eol_next = p[1] == '\0' || p[1] == '\r' || p[1] == '\n';
		bool lit;

		if (c == '\r' || c == '\n') {
			if (c == '\r' && p[1] == '\n')
				p++;
			buf_add_str(out, "\r\n");
			col = 0;
			at_bol = true;
			continue;
		}
		lit = (c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !eol_next);
		if (col + (lit ? 1 : 3) > 75) {
			buf_add_str(out, "=\r\n");
			col = 0;
		}
		if (lit) {
			buf_add(out, &c, 1);
			col++;
		} else {
			char e[3] = { '=', hex[c >> 4], hex[c & 15] };

			buf_add(out, e, 3);
			col += 3;
		}
		at_bol = false;
	}
	if (!at_bol)
		buf_add_str(out, "\r\n");
}

static void
part(struct buf *out, const char *subtype, const char *text)
{
	buf_addf(out, "Content-Type: text/%s; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", subtype);
	qp(out, text);
}

void
vacation_build(const struct vacation_reply *r, struct buf *out)
{
	struct buf subj = BUF_INIT(0);
	char bd[64];
	size_t bl = 0;

	ASSERT(r->text != NULL || r->html != NULL);
	from(r, out);
	buf_addf(out, "To: <%s>\r\n", r->to);
	if (r->subject != NULL && r->subject[0] != '\0') {
		buf_add_str(&subj, r->subject);
	} else {
		buf_add_str(&subj, "Auto: ");
		orig_subject(r->orig, r->orig_len, &subj);
	}
	buf_add_str(out, "Subject: ");
	hdr_text(out, (const char *)subj.data, cut((const char *)subj.data,
	    subj.len, SUBJECT_MAX));
	buf_add_str(out, "\r\n");
	buf_free(&subj);
	date(out, r->date);
	buf_addf(out, "Message-ID: <%s>\r\n", r->message_id);
	references(r, out);
	buf_add_str(out, "Auto-Submitted: auto-replied\r\n"
	    "X-Auto-Response-Suppress: All\r\n"
	    "MIME-Version: 1.0\r\n");
	if (r->text == NULL || r->html == NULL) {
		part(out, r->text != NULL ? "plain" : "html",
		    r->text != NULL ? r->text : r->html);
		return;
	}
	/* "=_" never occurs in quoted-printable: a safe boundary */
	for (const char *p = r->message_id; *p != '\0' && *p != '@' &&
	    bl < 40; p++)
		if (is_ascii_alnum(*p))
			bd[bl++] = *p;
	bd[bl] = '\0';
	buf_addf(out, "Content-Type: multipart/alternative; "
	    "boundary=\"=_vacation_%s\"\r\n\r\n", bd);
	buf_addf(out, "--=_vacation_%s\r\n", bd);
	part(out, "plain", r->text);
	buf_addf(out, "--=_vacation_%s\r\n", bd);
	part(out, "html", r->html);
	buf_addf(out, "--=_vacation_%s--\r\n", bd);
}

