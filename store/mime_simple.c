/*
 * mime_simple.c - the fast path of mime_parse_text for the common shapes
 * of a message: one leaf part, or multiparts (nested, up to STACK_MAX
 * deep) of leaves, every header block plain and every boundary clean.
 * Its parts are found by a line scan instead of GMime's object tree,
 * which costs more than everything else of a text-only parse together;
 * the text is then made by the same code as the full parse's
 * (mime_text_search over the parts, with their type, charset and
 * transfer encoding read as mime_fields.c reads them), and the subject
 * is decoded by the same code.
 *
 * "Plain" and "clean" are checked conservatively, so that anything
 * GMime might read differently takes the full parse:
 *   - no bare LF in the message, and mime_prescan() would show GMime all
 *     of it with no limit reached;
 *   - every header block: CRLF-ended lines of printable ASCII or tab, at
 *     most 998 bytes, "name:" (name bytes 0x21 to 0x7e but ':') or a
 *     continuation of the field before, ended by an empty line; at most
 *     one Content-Type and one Content-Transfer-Encoding; no "=?" in the
 *     top-level Subject;
 *   - Content-Type: type "/" subtype, then "; name=value" parameters
 *     (value a token or a quoted string without backslash), folding
 *     white space between them; no comment, no "=?", no RFC 2231
 *     "name*"; charset and boundary at most once; absent only at the
 *     top (text/plain);
 *   - no message/ part and no multipart/digest (their parts default to
 *     messages); a multipart has a boundary of 1 to 70 bytes of
 *     letters, digits and '()+_,-./=?, none a prefix of an enclosing
 *     one's;
 *   - in a multipart's body every line is at most BODY_LINE_MAX bytes
 *     (GMime reads 4 KiB blocks), a line starting with "--" and a
 *     boundary of the stack is exactly "--" boundary or "--" boundary
 *     "--", and the structure is complete: a first boundary after the
 *     preamble, each part ended by its multipart's next boundary, a
 *     final boundary, and a nested multipart's epilogue ended by its
 *     parent's boundary.
 * A part's body ends before the CRLF preceding the boundary line
 * (RFC 2046), as mime_layout.c says.  The fuzz target (t/fuzz/mime.c)
 * holds this path to the full parse's text, subject and flags.
 */
#include <string.h>

#include "store/mime_priv.h"

#define LINE_MAX_SIMPLE 998u		/* a header line */
#define BODY_LINE_MAX 1000u		/* a line of a multipart's body */
#define BOUNDARY_MAX 70u		/* RFC 2046 5.1.1 */
#define STACK_MAX 8u			/* nested multiparts */

struct span {
	const unsigned char *p;
	size_t n;
};

/* what the text needs of one header block */
struct hblock {
	struct span subject, ctype, cte;
	size_t body;			/* where its body starts */
};

struct ctype {
	struct span type, sub, charset, boundary;
	bool has_charset, has_boundary;
};

enum ev { EV_EOF, EV_PLAIN, EV_FINAL, EV_BAD };

struct scan {
	struct mime_ctx *c;
	struct span bound[STACK_MAX];	/* innermost last */
	size_t nbound;
	size_t pos;			/* the line looked at */
	size_t level;			/* of the last event */
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

/* is_token_char - RFC 2045's token, as mime_fields.c tests it */
static bool
is_token_char(unsigned char ch)
{
	return ch > 32 && ch < 127 && strchr("()<>@,;:\\\"/[]?=", ch) == NULL;
}

static bool
is_bchar(unsigned char ch)
{
	return is_ascii_alnum(ch) || (ch != 0 && strchr("'()+_,-./=?", ch));
}

/* lower - arena copy of s, lower-cased */
static const char *
lower(struct mime_ctx *c, struct span s)
{
	char *o = mime_arena_strndup(c->a, s.p, s.n);

	for (size_t i = 0; i < s.n; i++)
		o[i] = (char)ascii_tolower((unsigned char)o[i]);
	return o;
}

/* token_or_null - mime_fields.c's token(): a lower-case copy when s is a
 * non-empty token, else NULL */
static const char *
token_or_null(struct mime_ctx *c, struct span s)
{
	if (s.n == 0)
		return NULL;
	for (size_t i = 0; i < s.n; i++)
		if (!is_token_char(s.p[i]))
			return NULL;
	return lower(c, s);
}

/* first_token - mime_fields.c's first_token(): the lower-case first
 * token of a raw value, NULL when none */
static const char *
first_token(struct mime_ctx *c, struct span v)
{
	size_t i = 0, j;

	while (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t' ||
	    v.p[i] == '\r' || v.p[i] == '\n'))
		i++;
	for (j = i; j < v.n && is_token_char(v.p[j]); j++)
		;
	return j == i ? NULL : lower(c, (struct span){ v.p + i, j - i });
}

/*
 * header_block - the header block at pos, ended by an empty line: 0 with
 * the fields the text needs, -1 when it is not plain.  *eight: a field
 * value holds a byte over 0x7f (MIME_8BIT_HEADER at the top), not
 * counting "Content-" fields, which GMime keeps on the part, not the
 * message, so that mime_fields.c does not look at them.
 */
static int
header_block(const struct mime_ctx *c, size_t pos, bool top,
    struct hblock *h, bool *eight)
{
	const unsigned char *m = c->msg;
	size_t start = pos, fields = 0;
	struct span *cur = NULL;
	int nct = 0, ncte = 0;
	bool content = false, high;

	memset(h, 0, sizeof(*h));
	*eight = false;
	for (;;) {
		const unsigned char *nl = memchr(m + pos, '\n', c->len - pos);
		size_t end, ce;

		if (nl == NULL)
			return -1;	/* no empty line: no separator */
		end = (size_t)(nl - m) + 1;
		ce = end - 1;		/* the line's end, without CR LF */
		if (ce > pos && m[ce - 1] == '\r')
			ce--;
		if (ce - pos > LINE_MAX_SIMPLE)
			return -1;
		if (ce == pos) {	/* the empty line */
			h->body = end;
			break;
		}
		high = false;
		for (size_t i = pos; i < ce; i++) {
			if ((m[i] < 0x20 && m[i] != '\t') || m[i] == 0x7f)
				return -1;
			high |= m[i] > 0x7f;
		}
		if (m[pos] == ' ' || m[pos] == '\t') {
			if (fields == 0)
				return -1;	/* continuation of nothing */
			if (cur != NULL)
				cur->n = end - (size_t)(cur->p - m);
		} else {
			const unsigned char *colon = memchr(m + pos, ':',
			    ce - pos);
			struct span name;

			if (colon == NULL || colon == m + pos)
				return -1;
			name = (struct span){ m + pos, (size_t)(colon - m) -
			    pos };
			for (size_t i = 0; i < name.n; i++)
				if (name.p[i] <= 0x20 || name.p[i] >= 0x7f)
					return -1;
			if (++fields > c->lim.max_fields)
				return -1;
			content = name.n >= 8 && ascii_strncasecmp(
			    (const char *)name.p, "content-", 8) == 0;
			cur = NULL;
			if (top && span_is(name, "subject") &&
			    h->subject.p == NULL)
				cur = &h->subject;
			else if (span_is(name, "content-type") && nct++ == 0)
				cur = &h->ctype;
			else if (span_is(name, "content-transfer-encoding") &&
			    ncte++ == 0)
				cur = &h->cte;
			if (cur != NULL) {
				cur->p = colon + 1;
				cur->n = end - (size_t)(colon + 1 - m);
			}
		}
		*eight |= high && !content;
		pos = end;
		if (pos - start > c->lim.max_header)
			return -1;
	}
	return nct > 1 || ncte > 1 ? -1 : 0;
}

/* skip_ws - past blanks and folds (CRLF and a blank) from i */
static size_t
skip_ws(struct span v, size_t i)
{
	for (;;) {
		if (i < v.n && (v.p[i] == ' ' || v.p[i] == '\t'))
			i++;
		else if (i + 2 < v.n && v.p[i] == '\r' && v.p[i + 1] == '\n' &&
		    (v.p[i + 2] == ' ' || v.p[i + 2] == '\t'))
			i += 3;
		else if (i + 1 < v.n && v.p[i] == '\n' &&
		    (v.p[i + 1] == ' ' || v.p[i + 1] == '\t'))
			i += 2;
		else
			return i;
	}
}

static size_t
skip_token(struct span v, size_t i)
{
	while (i < v.n && is_token_char(v.p[i]))
		i++;
	return i;
}

/* ctype_parse - a plain Content-Type value; false when it is not */
static bool
ctype_parse(struct span v, struct ctype *ct)
{
	size_t i, j;

	memset(ct, 0, sizeof(*ct));
	v = trim(v);
	if (memmem(v.p, v.n, "=?", 2) != NULL || memchr(v.p, '(', v.n))
		return false;
	i = skip_ws(v, 0);
	j = skip_token(v, i);
	if (j == i || j >= v.n || v.p[j] != '/')
		return false;
	ct->type = (struct span){ v.p + i, j - i };
	i = j + 1;
	if ((j = skip_token(v, i)) == i)
		return false;
	ct->sub = (struct span){ v.p + i, j - i };
	i = skip_ws(v, j);
	while (i < v.n) {
		struct span name, val;

		if (v.p[i] != ';')
			return false;
		i = skip_ws(v, i + 1);
		j = skip_token(v, i);
		if (j == i || j >= v.n || v.p[j] != '=')
			return false;
		name = (struct span){ v.p + i, j - i };
		if (memchr(name.p, '*', name.n) != NULL)
			return false;	/* RFC 2231 */
		i = j + 1;
		if (i < v.n && v.p[i] == '"') {
			size_t k = i + 1;

			while (k < v.n && v.p[k] != '"' && v.p[k] != '\\' &&
			    v.p[k] >= 0x20 && v.p[k] < 0x7f)
				k++;
			if (k >= v.n || v.p[k] != '"')
				return false;
			val = (struct span){ v.p + i + 1, k - i - 1 };
			i = k + 1;
		} else {
			if ((j = skip_token(v, i)) == i)
				return false;
			val = (struct span){ v.p + i, j - i };
			i = j;
		}
		i = skip_ws(v, i);
		if (span_is(name, "charset")) {
			if (ct->has_charset)
				return false;
			ct->has_charset = true;
			ct->charset = val;
		} else if (span_is(name, "boundary")) {
			if (ct->has_boundary)
				return false;
			ct->has_boundary = true;
			ct->boundary = val;
		}
	}
	return true;
}

/* push - the boundary of a new multipart; false when it is not clean */
static bool
push(struct scan *s, struct span b)
{
	if (!b.n || b.n > BOUNDARY_MAX || s->nbound == STACK_MAX)
		return false;
	for (size_t i = 0; i < b.n; i++)
		if (!is_bchar(b.p[i]))
			return false;
	for (size_t k = 0; k < s->nbound; k++) {
		size_t n = b.n < s->bound[k].n ? b.n : s->bound[k].n;

		if (memcmp(b.p, s->bound[k].p, n) == 0)
			return false;	/* one a prefix of the other */
	}
	s->bound[s->nbound++] = b;
	return true;
}

/*
 * next_event - from s->pos, the next boundary line of the stack: s->pos
 * at its start and s->level its multipart; EV_EOF with s->pos at the end;
 * EV_BAD when a line is not clean
 */
static enum ev
next_event(struct scan *s)
{
	const unsigned char *m = s->c->msg;
	size_t len = s->c->len;

	while (s->pos < len) {
		const unsigned char *nl = memchr(m + s->pos, '\n',
		    len - s->pos);
		size_t end = nl ? (size_t)(nl - m) + 1 : len;
		size_t n = end - s->pos;
		const unsigned char *p = m + s->pos;

		if (n > BODY_LINE_MAX)
			return EV_BAD;
		if (nl != NULL && --n > 0 && p[n - 1] == '\r')
			n--;		/* the line without CR LF or LF */
		if (n >= 2 && p[0] == '-' && p[1] == '-') {
			for (size_t k = 0; k < s->nbound; k++) {
				const struct span *b = &s->bound[k];

				if (n - 2 < b->n || memcmp(p + 2, b->p, b->n))
					continue;
				s->level = k;
				if (n - 2 == b->n)
					return EV_PLAIN;
				if (n - 2 == b->n + 2 && p[2 + b->n] == '-' &&
				    p[3 + b->n] == '-')
					return EV_FINAL;
				return EV_BAD;
			}
		}
		s->pos = end;
	}
	return EV_EOF;
}

/* skip_line - past the boundary line at s->pos; false when it ends the
 * message without a line break */
static bool
skip_line(struct scan *s)
{
	const unsigned char *nl = memchr(s->c->msg + s->pos, '\n',
	    s->c->len - s->pos);

	if (nl == NULL)
		return false;
	s->pos = (size_t)(nl - s->c->msg) + 1;
	return true;
}

/* part_end - where a body starting at bs ends, before the CRLF preceding
 * the boundary line at l (mime_layout.c's part_end) */
static size_t
part_end(const struct mime_ctx *c, size_t bs, size_t l)
{
	if (l > bs && c->msg[l - 1] == '\n')
		l--;
	if (l > bs && c->msg[l - 1] == '\r')
		l--;
	return l < bs ? bs : l;
}

static const char *
part_id(struct mime_ctx *c, uint32_t parent, uint32_t k)
{
	const char *base = parent == MIME_NONE ? "" : c->parts[parent].part_id;
	struct buf b = BUF_INIT(0);
	const char *id;

	if (parent == MIME_NONE)
		return "";
	if (base[0] != '\0')
		buf_addf(&b, "%s.", base);
	buf_addf(&b, "%u", k);
	id = mime_arena_strndup(c->a, b.data, b.len);
	buf_free(&b);
	return id;
}

static enum ev entity(struct scan *s, uint32_t parent, uint32_t k,
    uint16_t depth, size_t hs, const struct hblock *h);

/*
 * multipart - the body of the multipart part i from s->pos (its
 * boundary on the stack); returns the event that ends it (a boundary
 * of its parent, or EV_EOF at the top), EV_BAD when not clean
 */
static enum ev
multipart(struct scan *s, uint32_t i, uint16_t depth)
{
	size_t top = s->nbound - 1;
	uint32_t k = 0;
	enum ev ev = next_event(s);	/* past the preamble */

	if (ev != EV_PLAIN || s->level != top)
		return EV_BAD;
	while (ev == EV_PLAIN && s->level == top) {
		struct hblock h;
		size_t hs;
		bool eight;

		if (!skip_line(s))
			return EV_BAD;
		hs = s->pos;
		if (header_block(s->c, hs, false, &h, &eight) < 0 ||
		    h.ctype.p == NULL)
			return EV_BAD;
		s->pos = h.body;
		ev = entity(s, i, ++k, (uint16_t)(depth + 1), hs, &h);
		if ((ev != EV_PLAIN && ev != EV_FINAL) || s->level != top)
			return EV_BAD;	/* cut short */
	}
	if (ev != EV_FINAL)
		return EV_BAD;
	/* the epilogue: to the parent's next boundary, or the end */
	if (!skip_line(s) && top > 0)
		return EV_BAD;
	s->nbound--;
	ev = next_event(s);
	if (top == 0)
		return ev == EV_EOF ? EV_EOF : EV_BAD;
	if ((ev != EV_PLAIN && ev != EV_FINAL) || s->level != top - 1)
		return EV_BAD;
	return ev;
}

/*
 * entity - the part with header block h (at hs), body at s->pos, the
 * k-th child of parent (MIME_NONE: the root): recorded, its body walked;
 * returns the event that ends it, as multipart()
 */
static enum ev
entity(struct scan *s, uint32_t parent, uint32_t k, uint16_t depth,
    size_t hs, const struct hblock *h)
{
	struct mime_ctx *c = s->c;
	struct ctype ct = { 0 };
	struct mime_part *p;
	uint32_t i;
	bool multi;
	enum ev ev;

	if (h->ctype.p != NULL && !ctype_parse(h->ctype, &ct))
		return EV_BAD;
	if (c->nparts + 1 >= c->lim.max_parts || depth + 1u >= c->lim.max_depth)
		return EV_BAD;
	multi = span_is(ct.type, "multipart");
	if (span_is(ct.type, "message") || (multi && span_is(ct.sub,
	    "digest")) || (multi && (!ct.has_boundary || !push(s,
	    ct.boundary))))
		return EV_BAD;
	i = mime_ctx_add(c);	/* moves c->parts: before taking &parts[i] */
	p = &c->parts[i];
	p->parent = parent;
	p->depth = depth;
	p->kind = multi ? MIME_MULTIPART : MIME_LEAF;
	p->flags = parent == MIME_NONE ? MIME_PART_MESSAGE : 0;
	p->type = h->ctype.p == NULL ? "text" : lower(c, ct.type);
	p->subtype = h->ctype.p == NULL ? "plain" : lower(c, ct.sub);
	p->charset = ct.has_charset ? token_or_null(c, ct.charset) : NULL;
	p->encoding = h->cte.p == NULL ? NULL : first_token(c, h->cte);
	if (p->encoding == NULL)
		p->encoding = "7bit";
	p->hdr_start = hs;
	p->body_start = s->pos;
	p->part_id = part_id(c, parent, k);
	if (multi) {
		ev = multipart(s, i, depth);
	} else {
		ev = s->nbound == 0 ? (s->pos = c->len, EV_EOF) :
		    next_event(s);
		if (s->nbound > 0 && ((ev != EV_PLAIN && ev != EV_FINAL) ||
		    s->level != s->nbound - 1))
			return EV_BAD;
	}
	if (ev == EV_BAD)
		return EV_BAD;
	p = &c->parts[i];
	p->body_end = ev == EV_EOF ? c->len : part_end(c, p->body_start,
	    s->pos);
	p->next = c->nparts;
	return ev;
}

bool
mime_simple(struct mime_ctx *c)
{
	struct scan s = { .c = c };
	struct hblock h;
	uint32_t flags = 0;
	bool eight;

	if ((c->flags & ~(uint32_t)MIME_BARE_LF) != 0 ||
	    header_block(c, 0, true, &h, &eight) < 0)
		return false;
	if (h.subject.p != NULL && memmem(h.subject.p, h.subject.n, "=?",
	    2) != NULL)
		return false;
	if (mime_prescan(c->msg, c->len, &c->lim, &flags) != c->len ||
	    flags != 0)
		return false;
	s.pos = h.body;
	if (entity(&s, MIME_NONE, 0, 0, 0, &h) != EV_EOF) {
		c->nparts = 0;
		return false;
	}
	if (eight)
		c->flags |= MIME_8BIT_HEADER;
	mime_fields_subject_raw(c, h.subject.p == NULL ? NULL :
	    mime_arena_strndup(c->a, h.subject.p, h.subject.n), &c->info->hdr);
	return true;
}
