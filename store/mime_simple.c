/*
 * mime_simple.c - the fast path of mime_parse_text for the commonest
 * message: one text/plain part, us-ascii or utf-8, 7bit or 8bit, whose
 * header is plain.  Its text is the body cleaned exactly as the full
 * parse would (the same part_text through mime_text_search), and its
 * subject is decoded by the same code; only GMime's object tree, which
 * costs more than everything else together, is skipped.
 *
 * "Plain" is checked conservatively, so that anything GMime might read
 * differently takes the full parse: every header line is CRLF-ended,
 * printable ASCII or tab, at most 998 bytes, "name:" (name bytes 0x21
 * to 0x7e but ':') or a continuation of the field before; the header
 * ends with an empty line and fits the limits (max_header, max_fields);
 * no bare LF in the message; at most one Content-Type and one
 * Content-Transfer-Encoding; Content-Type absent or exactly "text/plain"
 * with at most a charset parameter of us-ascii or utf-8 (quoted or
 * not); the transfer encoding absent, 7bit or 8bit; no "=?" in the
 * Subject; the body valid UTF-8 (so that no charset conversion can
 * apply).  The fuzz target (t/fuzz/mime.c) holds this path to the full
 * parse's text, subject and flags.
 */
#include <string.h>

#include "store/mime_priv.h"

#define LINE_MAX_SIMPLE 998u

struct span {
	const unsigned char *p;
	size_t n;
};

static struct span
trim(struct span s)
{
	while (s.n > 0 && (s.p[0] == ' ' || s.p[0] == '\t')) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t' ||
	    s.p[s.n - 1] == '\r' || s.p[s.n - 1] == '\n'))
		s.n--;
	return s;
}

static bool
span_is(struct span s, const char *word)
{
	size_t n = strlen(word);

	return s.n == n && ascii_strncasecmp((const char *)s.p, word, n) == 0;
}

/* ctype_ok - "text/plain" [ ";" "charset=" ("us-ascii" | "utf-8") ] */
static bool
ctype_ok(struct span v, const char **charset_r)
{
	struct span rest, cs;

	*charset_r = NULL;
	v = trim(v);
	if (v.n < 10 || ascii_strncasecmp((const char *)v.p, "text/plain",
	    10) != 0)
		return false;
	rest = trim((struct span){ v.p + 10, v.n - 10 });
	if (rest.n == 0)
		return true;
	if (rest.p[0] != ';')
		return false;
	rest = trim((struct span){ rest.p + 1, rest.n - 1 });
	if (rest.n < 8 || ascii_strncasecmp((const char *)rest.p, "charset=",
	    8) != 0)
		return false;
	cs = (struct span){ rest.p + 8, rest.n - 8 };
	if (cs.n >= 2 && cs.p[0] == '"' && cs.p[cs.n - 1] == '"')
		cs = (struct span){ cs.p + 1, cs.n - 2 };
	if (span_is(cs, "us-ascii"))
		*charset_r = "us-ascii";
	else if (span_is(cs, "utf-8"))
		*charset_r = "utf-8";
	else
		return false;
	return true;
}

/*
 * header - walk the header block: 0 with the body's offset and the
 * fields we need, -1 when it is not plain
 */
static int
header(const struct mime_ctx *c, size_t *body_r, struct span *subject,
    struct span *ctype, struct span *cte)
{
	const unsigned char *m = c->msg;
	size_t pos = 0, fields = 0;
	struct span *cur = NULL;
	int nct = 0, ncte = 0;

	for (;;) {
		const unsigned char *nl = memchr(m + pos, '\n', c->len - pos);
		size_t end, n;

		if (nl == NULL)
			return -1;	/* no empty line: no separator */
		end = (size_t)(nl - m) + 1;
		n = end - pos;
		if (n > LINE_MAX_SIMPLE + 2 || n < 2 || m[end - 2] != '\r')
			return -1;
		if (n == 2) {		/* the empty line */
			*body_r = end;
			break;
		}
		for (size_t i = pos; i < end - 2; i++)
			if ((m[i] < 0x20 && m[i] != '\t') || m[i] > 0x7e)
				return -1;
		if (m[pos] == ' ' || m[pos] == '\t') {
			if (cur == NULL && fields == 0)
				return -1;	/* continuation of nothing */
			if (cur != NULL)
				cur->n = end - (size_t)(cur->p - m);
		} else {
			const unsigned char *colon = memchr(m + pos, ':',
			    n - 2);
			struct span name;

			if (colon == NULL || colon == m + pos)
				return -1;
			name = (struct span){ m + pos, (size_t)(colon - m) -
			    pos };
			for (size_t i = 0; i < name.n; i++)
				if (name.p[i] <= 0x20)
					return -1;
			if (++fields > c->lim.max_fields)
				return -1;
			cur = NULL;
			if (span_is(name, "subject") && subject->p == NULL)
				cur = subject;
			else if (span_is(name, "content-type") && nct++ == 0)
				cur = ctype;
			else if (span_is(name, "content-transfer-encoding") &&
			    ncte++ == 0)
				cur = cte;
			if (cur != NULL) {
				cur->p = colon + 1;
				cur->n = end - (size_t)(colon + 1 - m);
			}
		}
		pos = end;
		if (pos > c->lim.max_header)
			return -1;
	}
	return nct > 1 || ncte > 1 ? -1 : 0;
}

bool
mime_simple(struct mime_ctx *c)
{
	struct span subject = { NULL, 0 }, ctype = { NULL, 0 };
	struct span cte = { NULL, 0 };
	const char *charset = NULL, *enc = "7bit";
	size_t body;
	uint32_t i;
	struct mime_part *p;

	if (c->flags != 0 || header(c, &body, &subject, &ctype, &cte) < 0)
		return false;
	if (ctype.p != NULL && !ctype_ok(ctype, &charset))
		return false;
	if (cte.p != NULL) {
		struct span v = trim(cte);

		if (span_is(v, "8bit"))
			enc = "8bit";
		else if (!span_is(v, "7bit"))
			return false;
	}
	if (subject.p != NULL && memmem(subject.p, subject.n, "=?", 2) !=
	    NULL)
		return false;
	if (!mime_utf8_valid(c->msg + body, c->len - body))
		return false;
	i = mime_ctx_add(c);	/* moves c->parts: before taking &parts[i] */
	p = &c->parts[i];
	p->parent = MIME_NONE;
	p->next = 1;
	p->kind = MIME_LEAF;
	p->flags = MIME_PART_MESSAGE;
	p->part_id = "";
	p->type = "text";
	p->subtype = "plain";
	p->charset = charset;
	p->encoding = enc;
	p->hdr_start = 0;
	p->body_start = body;
	p->body_end = c->len;
	mime_fields_subject_raw(c, subject.p == NULL ? NULL :
	    mime_arena_strndup(c->a, subject.p, subject.n), &c->info->hdr);
	return true;
}
