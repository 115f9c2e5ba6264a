/*
 * smtpc_parse.c - replies of an SMTP server, parsed for our client (see
 * smtpc_parse.h for the contract and the decisions about bare LF, codes
 * and limits).
 *
 * Grammar, RFC 5321 4.2:
 *     Reply-line = *( Reply-code "-" [ textstring ] CRLF )
 *                  Reply-code [ SP textstring ] CRLF
 * with RFC 3463 / RFC 2034 enhanced status codes ("class.subject.detail",
 * class 2, 4 or 5, subject and detail of 1..3 digits) at the start of the
 * text, and RFC 5321 4.1.1.1 ehlo-lines for the capabilities.
 *
 * Invariants of struct smtpc_parser between calls: line holds no LF and
 * at most line_max + 1 bytes (a line of exactly line_max may still be
 * waiting for its CR LF), and if it holds line_max + 1 the last one is a
 * CR; cur holds the complete lines of a reply whose last line has not yet
 * come, size their bytes as received (<= reply_max).  Every limit is
 * checked on bytes held, never on a sum of peer-given numbers, and only
 * at points that do not depend on how the input was split.
 */
#include <string.h>

#include "mta/smtpc_parse.h"

void
smtpc_reply_free(struct smtpc_reply *r)
{
	buf_free(&r->text);
	memset(r, 0, sizeof(*r));
}

static size_t
limit(size_t v, size_t def)
{
	if (v == 0)
		return def;
	return v > SMTPC_LIMIT_MAX ? SMTPC_LIMIT_MAX : v;
}

void
smtpc_parser_init(struct smtpc_parser *p, const struct smtpc_limits *lim)
{
	memset(p, 0, sizeof(*p));
	p->lim.line_max = limit(lim != NULL ? lim->line_max : 0,
	    SMTPC_LINE_MAX_DEFAULT);
	p->lim.lines_max = limit(lim != NULL ? lim->lines_max : 0,
	    SMTPC_LINES_MAX_DEFAULT);
	p->lim.reply_max = limit(lim != NULL ? lim->reply_max : 0,
	    SMTPC_REPLY_MAX_DEFAULT);
	/* one line of the longest kind must fit in a reply */
	if (p->lim.reply_max < p->lim.line_max + 2)
		p->lim.reply_max = p->lim.line_max + 2;
	buf_init(&p->line, p->lim.line_max + 1);
	buf_init(&p->cur.text, p->lim.reply_max);
	p->dead = PARSE_MORE;
}

void
smtpc_parser_free(struct smtpc_parser *p)
{
	buf_free(&p->line);
	smtpc_reply_free(&p->cur);
}

bool
smtpc_parser_is_idle(const struct smtpc_parser *p)
{
	return p->dead == PARSE_MORE && p->line.len == 0 &&
	    p->cur.nlines == 0;
}

static enum parse_res
die(struct smtpc_parser *p, enum parse_res res, const char *why)
{
	p->dead = res;
	p->why = why;
	return res;
}

/* read 1..3 digits at t[*i..len) into *v; false if there are none */
static bool
enh_number(const char *t, size_t len, size_t *i, unsigned *v)
{
	size_t start = *i;

	*v = 0;
	while (*i < len && *i - start < 3 &&
	    is_ascii_digit((unsigned char)t[*i]))
		*v = *v * 10 + (unsigned)(t[(*i)++] - '0');
	return *i > start;
}

/*
 * enh_length - length of an enhanced status code of class cls at the
 * start of t (followed by SP or the end of t), 0 if there is none
 */
static size_t
enh_length(const char *t, size_t len, unsigned cls, unsigned *subject_r,
    unsigned *detail_r)
{
	size_t i = 2;

	if (len < 5 || t[0] != (char)('0' + cls) || t[1] != '.')
		return 0;
	if (!enh_number(t, len, &i, subject_r) || i >= len || t[i] != '.')
		return 0;
	i++;
	if (!enh_number(t, len, &i, detail_r))
		return 0;
	if (i < len && t[i] != ' ')
		return 0;	/* "2.1.0x", or a fourth digit */
	return i;
}

static void
take_enh(struct smtpc_reply *r, const char *t, size_t len)
{
	unsigned cls = r->code / 100, subject, detail;
	size_t n;

	if (cls != 2 && cls != 4 && cls != 5)
		return;		/* RFC 3463 has no class 3 */
	n = enh_length(t, len, cls, &subject, &detail);
	if (n == 0)
		return;
	r->has_enh = true;
	r->enh_class = cls;
	r->enh_subject = subject;
	r->enh_detail = detail;
	memcpy(r->enh, t, n);	/* n <= 9 */
	r->enh[n] = '\0';
}

/*
 * line_done - one complete line s[0..n) (LF and its CR gone), raw bytes
 * as received; PARSE_OK when it was the last line of a reply
 */
static enum parse_res
line_done(struct smtpc_parser *p, const unsigned char *s, size_t n,
    size_t raw)
{
	struct smtpc_reply *r = &p->cur;
	const char *text = n > 4 ? (const char *)s + 4 : "";
	size_t tlen = n > 4 ? n - 4 : 0;
	unsigned code;
	bool last;

	if (r->nlines >= p->lim.lines_max)
		return die(p, PARSE_TOO_LONG, "too many reply lines");
	if (raw > p->lim.reply_max - p->size)
		return die(p, PARSE_TOO_LONG, "over-long reply");
	p->size += raw;
	if (n < 3 || !is_ascii_digit(s[0]) || !is_ascii_digit(s[1]) ||
	    !is_ascii_digit(s[2]))
		return die(p, PARSE_BAD, "bad reply code");
	code = (unsigned)(s[0] - '0') * 100 + (unsigned)(s[1] - '0') * 10 +
	    (unsigned)(s[2] - '0');
	if (code < 200 || code > 599)
		return die(p, PARSE_BAD, "reply code out of range");
	if (n > 3 && s[3] != '-' && s[3] != ' ')
		return die(p, PARSE_BAD, "bad separator after reply code");
	last = n == 3 || s[3] == ' ';
	if (r->nlines > 0 && code != r->code)
		return die(p, PARSE_BAD, "reply code differs between lines");
	/* the text is never longer than the raw bytes counted in size */
	if ((r->nlines > 0 && buf_append_byte(&r->text, '\n') < 0) ||
	    buf_append(&r->text, text, tlen) < 0)
		return die(p, PARSE_TOO_LONG, "over-long reply");
	if (r->nlines == 0) {
		r->code = code;
		take_enh(r, text, tlen);
	}
	r->nlines++;
	return last ? PARSE_OK : PARSE_MORE;
}

/* hand the finished reply to the caller and start a new one */
static void
reply_out(struct smtpc_parser *p, struct smtpc_reply *reply)
{
	smtpc_reply_free(reply);
	*reply = p->cur;
	reply->text.max = 0;		/* the caller's now */
	memset(&p->cur, 0, sizeof(p->cur));
	buf_init(&p->cur.text, p->lim.reply_max);
	p->size = 0;
}

enum parse_res
smtpc_parse(struct smtpc_parser *p, const unsigned char *in, size_t len,
    size_t *used_r, struct smtpc_reply *reply, const char **why_r)
{
	size_t off = 0, max = p->lim.line_max;
	enum parse_res res;

	*used_r = 0;
	while (p->dead == PARSE_MORE && off < len) {
		const unsigned char *lf = memchr(in + off, '\n', len - off);
		size_t n = lf != NULL ? (size_t)(lf - in) - off : len - off;
		const unsigned char *s;
		size_t sl, raw;

		/* line.len <= max + 1: the room left cannot wrap */
		if (n > max + 1 - p->line.len) {
			die(p, PARSE_TOO_LONG, "over-long reply line");
			break;
		}
		if (lf == NULL) {
			if (buf_append(&p->line, in + off, n) < 0)
				PANIC("smtpc_parse: line room");
			off = len;
			if (p->line.len == max + 1 &&
			    p->line.data[max] != '\r')
				die(p, PARSE_TOO_LONG, "over-long reply line");
			break;
		}
		if (p->line.len == 0) {	/* all of the line is in in */
			s = in + off;
			sl = n;
		} else {
			if (buf_append(&p->line, in + off, n) < 0)
				PANIC("smtpc_parse: line room");
			s = p->line.data;
			sl = p->line.len;
		}
		off += n + 1;
		raw = sl + 1;
		if (sl > 0 && s[sl - 1] == '\r')
			sl--;		/* CRLF; a bare LF is tolerated */
		if (sl > max) {
			die(p, PARSE_TOO_LONG, "over-long reply line");
			break;
		}
		res = line_done(p, s, sl, raw);
		buf_reset(&p->line);
		if (res == PARSE_OK) {
			reply_out(p, reply);
			*used_r = off;
			return PARSE_OK;
		}
	}
	*used_r = off;
	if (p->dead != PARSE_MORE && why_r != NULL)
		*why_r = p->why;
	return p->dead;
}

int
smtpc_reply_format(const struct smtpc_reply *r, struct buf *out)
{
	struct buf tmp = BUF_INIT(0);
	const char *t = buf_cstr(&r->text), *end = t + r->text.len;
	size_t enh_len = strlen(r->enh);
	bool first = true;
	int rc;

	buf_addf(&tmp, "%03u", r->code);
	while (t <= end) {
		const char *nl = memchr(t, '\n', (size_t)(end - t));
		size_t n = nl != NULL ? (size_t)(nl - t) : (size_t)(end - t);

		/* later lines repeat the code of the first: say it once */
		if (!first && r->has_enh && n >= enh_len &&
		    memcmp(t, r->enh, enh_len) == 0 &&
		    (n == enh_len || t[enh_len] == ' ')) {
			t += enh_len;
			n -= enh_len;
			while (n > 0 && *t == ' ') {
				t++;
				n--;
			}
		}
		if (n > 0) {
			buf_add_str(&tmp, " ");
			buf_add(&tmp, t, n);
		}
		first = false;
		if (nl == NULL)
			break;
		t = nl + 1;
	}
	rc = buf_append(out, tmp.data, tmp.len);
	buf_free(&tmp);
	return rc;
}

/* ---- EHLO ---- */

static const struct {
	const char *name;
	unsigned bit;
} keywords[] = {
	{ "STARTTLS", SMTPC_EXT_STARTTLS },
	{ "PIPELINING", SMTPC_EXT_PIPELINING },
	{ "SIZE", SMTPC_EXT_SIZE },
	{ "8BITMIME", SMTPC_EXT_8BITMIME },
	{ "SMTPUTF8", SMTPC_EXT_SMTPUTF8 },
	{ "CHUNKING", SMTPC_EXT_CHUNKING },
	{ "BINARYMIME", SMTPC_EXT_BINARYMIME },
	{ "DSN", SMTPC_EXT_DSN },
	{ "ENHANCEDSTATUSCODES", SMTPC_EXT_ENHANCEDSTATUSCODES },
	{ "AUTH", SMTPC_EXT_AUTH },
	{ "REQUIRETLS", SMTPC_EXT_REQUIRETLS },
}, mechanisms[] = {
	{ "PLAIN", SMTPC_AUTH_PLAIN },
	{ "LOGIN", SMTPC_AUTH_LOGIN },
	{ "CRAM-MD5", SMTPC_AUTH_CRAM_MD5 },
	{ "SCRAM-SHA-1", SMTPC_AUTH_SCRAM_SHA_1 },
	{ "SCRAM-SHA-256", SMTPC_AUTH_SCRAM_SHA_256 },
	{ "XOAUTH2", SMTPC_AUTH_XOAUTH2 },
	{ "OAUTHBEARER", SMTPC_AUTH_OAUTHBEARER },
	{ "EXTERNAL", SMTPC_AUTH_EXTERNAL },
};

/* next_word - skip spaces, then the word up to a space or *end */
static const char *
next_word(const char **p, const char *end, size_t *len_r)
{
	const char *w;

	while (*p < end && **p == ' ')
		(*p)++;
	w = *p;
	while (*p < end && **p != ' ')
		(*p)++;
	*len_r = (size_t)(*p - w);
	return w;
}

/* the mechanisms in p..end: "PLAIN LOGIN"; *budget counts them down */
static void
ehlo_auth(struct smtpc_ehlo *caps, const char *p, const char *end,
    size_t *budget)
{
	size_t n;
	const char *w;

	caps->ext |= SMTPC_EXT_AUTH;
	while ((w = next_word(&p, end, &n)), n > 0) {
		if (*budget == 0) {
			caps->truncated = true;
			return;
		}
		(*budget)--;
		for (size_t i = 0; i < ARRAY_SIZE(mechanisms); i++)
			if (ascii_eq_nocase(w, n, mechanisms[i].name))
				caps->auth |= mechanisms[i].bit;
	}
}

static void
ehlo_line(struct smtpc_ehlo *caps, const char *p, const char *end,
    size_t *budget)
{
	const char *kw, *arg;
	uint64_t v;
	size_t n, an;

	kw = next_word(&p, end, &n);
	/* the pre-RFC 2554 form some servers still add: "AUTH=LOGIN" */
	if (n >= 5 && ascii_strncasecmp(kw, "AUTH=", 5) == 0) {
		ehlo_auth(caps, kw + 5, end, budget);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(keywords); i++) {
		if (!ascii_eq_nocase(kw, n, keywords[i].name))
			continue;
		if (keywords[i].bit == SMTPC_EXT_AUTH) {
			ehlo_auth(caps, p, end, budget);
			return;
		}
		caps->ext |= keywords[i].bit;
		if (keywords[i].bit == SMTPC_EXT_SIZE) {
			arg = next_word(&p, end, &an);
			caps->size = an > 0 && parse_u64(arg, an, UINT64_MAX,
			    &v) == 0 ? v : 0;
		}
		return;
	}
}

enum parse_res
smtpc_ehlo_parse(const struct smtpc_reply *r, struct smtpc_ehlo *caps)
{
	const char *t = buf_cstr(&r->text), *end = t + r->text.len;
	size_t budget = SMTPC_AUTH_MECHS_MAX;
	const char *nl;

	memset(caps, 0, sizeof(*caps));
	if (r->code != 250)
		return PARSE_BAD;
	/* the first line is the server's name and greeting */
	while ((nl = memchr(t, '\n', (size_t)(end - t))) != NULL) {
		const char *line = nl + 1;

		nl = memchr(line, '\n', (size_t)(end - line));
		if (caps->nkeywords == SMTPC_EHLO_LINES_MAX) {
			caps->truncated = true;
			break;
		}
		caps->nkeywords++;
		ehlo_line(caps, line, nl != NULL ? nl : end, &budget);
		t = line;
	}
	return PARSE_OK;
}
