/*
 * mime_layout.c - where every part of a message starts and ends.
 *
 * GMime's parser builds the tree of a message but keeps no byte offsets
 * for a part's header block, nor for the body of a multipart or a
 * message/rfc822 part, and IMAP needs them for BODY[1.2.MIME], BODY[1.2]
 * and BINARY[1.2] without parsing again.  So mime_layout() walks the raw
 * bytes in lockstep with GMime's tree and repeats the decisions GMime
 * 3.2's parser (gmime-parser.c) makes about lines:
 *   - a header block ends at an empty line, at a boundary line of an
 *     enclosing multipart (a part without content), or at the end;
 *   - a boundary line is "--" boundary, or "--" boundary "--" for the
 *     final one, followed by white space only (RFC 2046 5.1.1); the
 *     innermost multipart is asked first, and its final form before its
 *     plain one; a line that closes an outer multipart closes the inner
 *     ones too (a truncated multipart);
 *   - a multipart is a preamble, parts each after a boundary line, and,
 *     after its final boundary, an epilogue running to the next boundary
 *     of an enclosing multipart; a part whose header block is ended by a
 *     boundary and holds no field is skipped; multiparts nested deeper
 *     than GMime's level 1024, or without a boundary parameter, are all
 *     preamble.
 * It never decides the structure itself: at every step it checks its
 * position against what GMime recorded (the offset of every header field,
 * where each leaf's content starts and ends, the number of children,
 * whether a message/rfc822 part has a message) and returns -1 when they
 * disagree.  Only lines longer than GMime's 4 KiB read buffer can make
 * them disagree; mime.c then describes the message as one part.
 *
 * A part's body ends before the line break that precedes the boundary
 * line (RFC 2046: that CRLF belongs to the boundary), or at the end of
 * the message.  Parts past max_depth or max_parts are walked (their ends
 * bound their ancestors) but not recorded, and their parent is marked
 * MIME_PART_TRUNCATED.
 *
 */
#include <string.h>

#include "common/xalloc.h"
#include "store/mime_priv.h"

enum bt {
	BT_NONE,
	BT_EOS,
	BT_IMM,		/* a boundary of the innermost multipart */
	BT_IMM_END,	/* its final boundary */
	BT_PARENT,	/* a boundary of an enclosing multipart */
	BT_PARENT_END,
};

enum hres { HR_CONTENT, HR_BOUNDARY, HR_ERROR };

struct bound {
	const char *s;
	size_t len;
};

struct walk {
	struct mime_ctx *c;
	const unsigned char *m;
	size_t len;		/* the prefix GMime parsed */
	size_t pos;		/* GMime's read position */
	enum bt bt;		/* what ended the last scan */
	struct bound *st;	/* boundary stack, innermost last */
	size_t nst, cap;
	bool bad;		/* disagrees with GMime */
	bool blank_end;		/* the last header block ended at an empty
				   line */
	size_t last_end;	/* end of the part finished last */
};

static void walk_object(struct walk *w, GMimeObject *o, enum hres hr,
    int depth, uint32_t rec);

static bool
is_lwsp(unsigned char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static bool
is_blank(unsigned char ch)
{
	return ch == ' ' || ch == '\t';
}

/* line_end - offset of the '\n' ending the line at p, or len */
static size_t
line_end(const unsigned char *m, size_t len, size_t p)
{
	const unsigned char *nl = memchr(m + p, '\n', len - p);

	return nl == NULL ? len : (size_t)(nl - m);
}

static bool
bound_match(const unsigned char *p, size_t n, const struct bound *b,
    bool final)
{
	size_t need = 2 + b->len + (final ? 2 : 0);

	if (need > n || memcmp(p + 2, b->s, b->len) != 0)
		return false;
	if (final && (p[2 + b->len] != '-' || p[3 + b->len] != '-'))
		return false;
	for (size_t i = need; i < n; i++)
		if (!is_lwsp(p[i]))
			return false;
	return true;
}

/* check_boundary - is the line p[0..n) (no '\n') a boundary, and whose */
static enum bt
check_boundary(const struct walk *w, const unsigned char *p, size_t n)
{
	if (n < 2 || p[0] != '-' || p[1] != '-')
		return BT_NONE;
	for (size_t i = w->nst; i-- > 0;) {
		bool top = i == w->nst - 1;

		if (bound_match(p, n, &w->st[i], true))
			return top ? BT_IMM_END : BT_PARENT_END;
		if (bound_match(p, n, &w->st[i], false))
			return top ? BT_IMM : BT_PARENT;
	}
	return BT_NONE;
}

static void
push_bound(struct walk *w, const char *s)
{
	if (w->nst == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 16;
		w->st = xreallocarray(w->st, w->cap, sizeof(*w->st));
	}
	w->st[w->nst].s = s;
	w->st[w->nst].len = strlen(s);
	w->nst++;
}

/* scan_content - GMime's parser_scan_content: up to a boundary or EOS */
static void
scan_content(struct walk *w)
{
	size_t p = w->pos;

	while (p < w->len) {
		size_t e = line_end(w->m, w->len, p);
		enum bt bt = check_boundary(w, w->m + p, e - p);

		if (bt != BT_NONE) {
			w->pos = p;
			w->bt = bt;
			return;
		}
		p = e + 1;
	}
	w->pos = w->len;
	w->bt = BT_EOS;
}

/* skip_line - past the line at pos; -1 when it has no line break */
static int
skip_line(struct walk *w)
{
	size_t e = line_end(w->m, w->len, w->pos);

	if (e == w->len) {
		w->pos = w->len;
		return -1;
	}
	w->pos = e + 1;
	return 0;
}

enum name_scan
mime_scan_name(const unsigned char *p, size_t n, bool complete)
{
	bool blank = false;

	if (n > 0 && p[0] == ':')
		return NAME_INVALID;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == ':')
			return NAME_VALID;
		if (is_blank(p[i]))
			blank = true;
		else if (blank || p[i] < 32 || p[i] == 127)
			return NAME_INVALID;
	}
	/* a complete line reaches its '\n', a control character */
	return complete ? NAME_INVALID : NAME_INCOMPLETE;
}

/*
 * walk_headers - GMime's parser_step_headers from pos.  HR_CONTENT: pos
 * is the body start; HR_BOUNDARY: pos is the boundary line that ended the
 * block, bt its kind; HR_ERROR: GMime failed (nothing left, or the input
 * ends inside what could still be a field name).
 */
static enum hres
walk_headers(struct walk *w)
{
	size_t p = w->pos;
	bool name_next = true, folded = false, any = false;

	w->blank_end = false;
	if (p >= w->len)
		return HR_ERROR;
	for (;;) {
		size_t e, n;
		enum name_scan ns = NAME_VALID;
		bool named;

		if (p >= w->len) {
			/* the input ends after a whole line */
			w->pos = w->len;
			return HR_CONTENT;
		}
		e = line_end(w->m, w->len, p);
		n = e - p;

		if (folded && !is_blank(w->m[p])) {
			name_next = true;	/* a new field starts */
			folded = false;
		}
		named = name_next;
		if (e == w->len) {
			/* the input ends inside this line */
			bool eoln = w->m[p] == '\r' && n == 1;

			if (named && !eoln &&
			    mime_scan_name(w->m + p, n, false) == NAME_INCOMPLETE)
				return HR_ERROR;
			w->pos = w->len;
			return HR_CONTENT;
		}
		if (w->m[p] == '\n' || (w->m[p] == '\r' && n == 1)) {
			w->pos = e + 1;
			w->blank_end = true;
			return HR_CONTENT;
		}
		w->bt = check_boundary(w, w->m + p, n);
		if (w->bt != BT_NONE) {
			w->pos = p;
			return HR_BOUNDARY;
		}
		if (named)
			ns = mime_scan_name(w->m + p, n, true);
		name_next = false;
		if (named && ns != NAME_VALID && !any) {
			name_next = true;	/* text before any field */
		} else {
			any |= named && ns == NAME_VALID;
			folded = true;
		}
		p = e + 1;
	}
}

/* has_field_in - does o have a header field that starts in [from, to) */
static bool
has_field_in(GMimeObject *o, size_t from, size_t to)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	int n = g_mime_header_list_get_count(hl);

	for (int i = 0; i < n; i++) {
		gint64 off = g_mime_header_get_offset(
		    g_mime_header_list_get_header_at(hl, i));

		if (off >= 0 && (size_t)off >= from && (size_t)off < to)
			return true;
	}
	return false;
}

/* fields_within - every header field of o starts in [from, to) */
static bool
fields_within(GMimeObject *o, size_t from, size_t to)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	int n = g_mime_header_list_get_count(hl);

	for (int i = 0; i < n; i++) {
		gint64 off = g_mime_header_get_offset(
		    g_mime_header_list_get_header_at(hl, i));

		if (off < 0 || (size_t)off < from || (size_t)off >= to)
			return false;
	}
	return true;
}

/* body_end - where a part whose content starts at bs ends, given how the
 * last scan stopped: before the line break preceding the boundary line */
static size_t
part_end(const struct walk *w, size_t bs)
{
	size_t l = w->pos;

	if (w->bt == BT_EOS)
		return w->len;
	if (l > bs && w->m[l - 1] == '\n')
		l--;
	if (l > bs && w->m[l - 1] == '\r')
		l--;
	return l < bs ? bs : l;
}

static char *
join_id(struct mime_arena *a, const char *base, uint32_t k)
{
	struct buf b = BUF_INIT(0);
	char *s;

	if (base[0] != '\0')
		buf_addf(&b, "%s.", base);
	buf_addf(&b, "%u", k);
	s = mime_arena_strdup(a, buf_cstr(&b));
	buf_free(&b);
	return s;
}

/*
 * record - a part under parent (MIME_NONE: the root) if the limits allow;
 * k is its number among its parent's children.  MIME_NONE when not
 * recorded (the parent not recorded either, or a limit).
 */
static uint32_t
record(struct walk *w, uint32_t parent, bool root, uint32_t k,
    GMimeObject *o, GMimeMessage *msg, size_t hs, size_t bs)
{
	struct mime_ctx *c = w->c;
	struct mime_part *p;
	uint32_t i, depth = 0;
	const char *id = "";

	if (!root) {
		if (parent == MIME_NONE)
			return MIME_NONE;
		depth = c->parts[parent].depth + 1u;
		if (depth > c->lim.max_depth || c->nparts >= c->lim.max_parts) {
			c->flags |= depth > c->lim.max_depth ?
			    MIME_TRUNC_DEPTH : MIME_TRUNC_PARTS;
			c->parts[parent].flags |= MIME_PART_TRUNCATED;
			return MIME_NONE;
		}
		p = &c->parts[parent];
		if (p->kind == MIME_MULTIPART)
			id = join_id(c->a, p->part_id, k);
		else if (p->flags & MIME_PART_MESSAGE)
			id = join_id(c->a, p->part_id, 1);
		else
			id = p->part_id;
	}
	i = mime_ctx_add(c);
	p = &c->parts[i];
	p->parent = root ? MIME_NONE : parent;
	p->depth = (uint16_t)depth;
	p->part_id = id;
	p->hdr_start = hs;
	p->body_start = bs;
	p->body_end = bs;
	if (GMIME_IS_MULTIPART(o)) {
		p->kind = MIME_MULTIPART;
	} else if (GMIME_IS_MESSAGE_PART(o)) {
		const char *sub = g_mime_content_type_get_media_subtype(
		    g_mime_object_get_content_type(o));

		/* only these carry an envelope in BODYSTRUCTURE; other
		 * message parts are described as leaves */
		if (sub != NULL && (g_ascii_strcasecmp(sub, "rfc822") == 0 ||
		    g_ascii_strcasecmp(sub, "global") == 0))
			p->kind = MIME_MESSAGE;
	}
	if (msg != NULL)
		p->flags |= MIME_PART_MESSAGE;
	c->obj[i] = o;
	c->gmsg[i] = msg;
	return i;
}

/*
 * finish - a part ends.  Parts finish in walk order, so the last one to
 * finish before it is its last child, if it has any: it must not end
 * before that child (whose empty header may have taken the line break
 * that would otherwise belong to the boundary).  Anything else that
 * finished earlier ended before this part began.
 */
static void
finish(struct walk *w, uint32_t rec, size_t end)
{
	if (end < w->last_end)
		end = w->last_end;
	w->last_end = end;
	if (rec == MIME_NONE)
		return;
	w->c->parts[rec].body_end = end;
	w->c->parts[rec].next = w->c->nparts;
}

static void
walk_leaf(struct walk *w, GMimeObject *o, enum hres hr, uint32_t rec)
{
	size_t bs = w->pos;
	GMimeDataWrapper *dw = GMIME_IS_PART(o) ?
	    g_mime_part_get_content(GMIME_PART(o)) : NULL;

	if (hr != HR_CONTENT) {
		/* headers ended by a boundary: GMime reads no content */
		if (dw != NULL)
			w->bad = true;
		finish(w, rec, bs);
		return;
	}
	scan_content(w);
	if (GMIME_IS_PART(o)) {
		GMimeStream *s = dw ? g_mime_data_wrapper_get_stream(dw) : NULL;

		if (s == NULL || s->bound_start != (gint64)bs ||
		    s->bound_end < s->bound_start ||
		    s->bound_end > (gint64)w->pos)
			w->bad = true;
	}
	finish(w, rec, part_end(w, bs));
}

static void
walk_message(struct walk *w, GMimeMessagePart *mp, enum hres hr, int depth,
    uint32_t rec)
{
	GMimeMessage *msg = g_mime_message_part_get_message(mp);
	size_t bs = w->pos, hs;
	GMimeObject *body;
	uint32_t inner;

	if (hr != HR_CONTENT)
		goto empty;
	/* GMime's parser_scan_message_part(): an immediate boundary or the
	 * end means an empty message/rfc822 part */
	if (w->nst > 0) {
		size_t e;
		enum bt bt;

		if (w->pos >= w->len) {
			w->bt = BT_EOS;
			goto empty;
		}
		e = line_end(w->m, w->len, w->pos);
		bt = check_boundary(w, w->m + w->pos, e - w->pos);
		if (bt != BT_NONE) {
			w->bt = bt;
			goto empty;
		}
	}
	hs = w->pos;
	hr = walk_headers(w);
	if (hr == HR_ERROR) {
		w->bt = BT_EOS;
		goto empty;
	}
	body = msg ? g_mime_message_get_mime_part(msg) : NULL;
	if (body == NULL || !fields_within(GMIME_OBJECT(msg), hs, w->pos) ||
	    !fields_within(body, hs, w->pos)) {
		w->bad = true;
		return;
	}
	inner = rec != MIME_NONE && w->c->parts[rec].kind == MIME_MESSAGE ?
	    record(w, rec, false, 1, body, msg, hs, w->pos) : MIME_NONE;
	/* gmime-parser.c: scan_message_part(depth + 1) builds at depth + 1 */
	walk_object(w, body, hr, depth + 2, inner);
	finish(w, rec, part_end(w, bs));
	return;
empty:
	if (msg != NULL)
		w->bad = true;
	finish(w, rec, part_end(w, bs));
}

/* walk_subparts - GMime's parser_scan_multipart_subparts */
static void
walk_subparts(struct walk *w, GMimeMultipart *mp, int depth, uint32_t rec)
{
	int count = g_mime_multipart_get_count(mp), next = 0;

	do {
		GMimeObject *child;
		enum hres hr;
		size_t hs;

		if (skip_line(w) < 0) {
			w->bt = BT_EOS;
			break;
		}
		hs = w->pos;
		hr = walk_headers(w);
		if (hr == HR_ERROR) {
			w->bt = BT_EOS;
			break;
		}
		child = next < count ? g_mime_multipart_get_part(mp, next) :
		    NULL;
		if (hr == HR_BOUNDARY &&
		    (child == NULL || !has_field_in(child, hs, w->pos))) {
			/* no field before the boundary: GMime skips it */
			w->c->flags |= MIME_MALFORMED;
			if (w->bt == BT_IMM)
				continue;
			break;
		}
		if (child == NULL || !fields_within(child, hs, w->pos)) {
			w->bad = true;
			return;
		}
		next++;
		walk_object(w, child, hr, depth + 1, record(w, rec, false,
		    (uint32_t)next, child, NULL, hs, w->pos));
		if (w->bad)
			return;
	} while (w->bt == BT_IMM);
	if (next != count)
		w->bad = true;
}

/* walk_multipart - GMime's parser_construct_multipart after the headers */
static void
walk_multipart(struct walk *w, GMimeMultipart *mp, int depth, uint32_t rec)
{
	const char *boundary = g_mime_object_get_content_type_parameter(
	    GMIME_OBJECT(mp), "boundary");
	size_t bs = w->pos, e;

	if (boundary == NULL || depth >= MIME_GMIME_MAX_LEVEL) {
		w->c->flags |= MIME_MALFORMED;
		scan_content(w);
		if (g_mime_multipart_get_count(mp) != 0)
			w->bad = true;
		finish(w, rec, part_end(w, bs));
		return;
	}
	push_bound(w, boundary);
	scan_content(w);
	if (w->bt == BT_IMM)
		walk_subparts(w, mp, depth, rec);
	else if (g_mime_multipart_get_count(mp) != 0)
		w->bad = true;
	if (w->bad)
		return;
	if (w->bt == BT_IMM_END) {
		(void)skip_line(w);
		w->nst--;
		scan_content(w);
		finish(w, rec, part_end(w, bs));
		return;
	}
	w->c->flags |= MIME_MALFORMED;	/* no final boundary */
	w->nst--;
	if (w->bt == BT_PARENT_END || w->bt == BT_PARENT) {
		/* GMime's found_immediate_boundary() on the new innermost */
		e = line_end(w->m, w->len, w->pos);
		if (w->nst > 0 && bound_match(w->m + w->pos, e - w->pos,
		    &w->st[w->nst - 1], w->bt == BT_PARENT_END))
			w->bt = w->bt == BT_PARENT_END ? BT_IMM_END : BT_IMM;
	}
	finish(w, rec, part_end(w, bs));
}

static void
walk_object(struct walk *w, GMimeObject *o, enum hres hr, int depth,
    uint32_t rec)
{
	if (GMIME_IS_MULTIPART(o))
		walk_multipart(w, GMIME_MULTIPART(o), depth, rec);
	else if (GMIME_IS_MESSAGE_PART(o))
		walk_message(w, GMIME_MESSAGE_PART(o), hr, depth, rec);
	else
		walk_leaf(w, o, hr, rec);
}

int
mime_layout(struct mime_ctx *c, GMimeMessage *msg)
{
	struct walk w;
	GMimeObject *body = g_mime_message_get_mime_part(msg);
	enum hres hr;
	uint32_t root;

	memset(&w, 0, sizeof(w));
	w.c = c;
	w.m = c->msg;
	w.len = c->glen;
	hr = walk_headers(&w);
	if (body == NULL || hr == HR_ERROR ||
	    !fields_within(GMIME_OBJECT(msg), 0, w.pos) ||
	    !fields_within(body, 0, w.pos)) {
		c->nparts = 0;
		return -1;
	}
	if (!w.blank_end)
		c->flags |= MIME_NO_SEPARATOR;
	root = record(&w, MIME_NONE, true, 0, body, msg, 0, w.pos);
	walk_object(&w, body, hr, 0, root);
	free(w.st);
	if (w.bad) {
		c->nparts = 0;
		return -1;
	}
	return 0;
}

void
mime_layout_extend(struct mime_ctx *c)
{
	if (c->glen == c->len)
		return;
	for (uint32_t i = 0; i < c->nparts; i++)
		if (c->parts[i].body_end == c->glen)
			c->parts[i].body_end = c->len;
}

struct mark {
	uint64_t off;
	uint32_t slot;
};

static int
cmp_mark(const void *a, const void *b)
{
	const struct mark *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

static bool
wants_lines(const struct mime_part *p)
{
	return p->kind == MIME_MESSAGE ||
	    (p->kind == MIME_LEAF && strcmp(p->type, "text") == 0);
}

/*
 * mime_layout_lines - one sweep over the message counts the line breaks
 * before each body start and end that needs them (text leaves and
 * message parts), so nested message parts cost nothing extra.  A last
 * line without a line break counts as a line.
 */
void
mime_layout_lines(struct mime_ctx *c)
{
	struct mark *mk = xreallocarray(NULL, (size_t)c->nparts * 2,
	    sizeof(*mk));
	uint64_t *cnt = xreallocarray(NULL, (size_t)c->nparts * 2,
	    sizeof(*cnt));
	size_t n = 0, done = 0;
	uint64_t nl = 0;

	for (uint32_t i = 0; i < c->nparts; i++) {
		if (!wants_lines(&c->parts[i]))
			continue;
		mk[n].off = c->parts[i].body_start;
		mk[n++].slot = i * 2;
		mk[n].off = c->parts[i].body_end;
		mk[n++].slot = i * 2 + 1;
	}
	qsort(mk, n, sizeof(*mk), cmp_mark);
	for (size_t k = 0; k < n; k++) {
		while (done < mk[k].off) {
			const unsigned char *q = memchr(c->msg + done, '\n',
			    mk[k].off - done);

			if (q == NULL) {
				done = mk[k].off;
				break;
			}
			nl++;
			done = (size_t)(q - c->msg) + 1;
		}
		cnt[mk[k].slot] = nl;
	}
	for (uint32_t i = 0; i < c->nparts; i++) {
		struct mime_part *p = &c->parts[i];

		p->lines = 0;
		if (!wants_lines(p) || p->body_end == p->body_start)
			continue;
		p->lines = cnt[i * 2 + 1] - cnt[i * 2];
		if (c->msg[p->body_end - 1] != '\n')
			p->lines++;
	}
	free(mk);
	free(cnt);
}

size_t
mime_layout_body_start(const unsigned char *m, size_t len)
{
	struct walk w;

	memset(&w, 0, sizeof(w));
	w.m = m;
	w.len = len;
	if (walk_headers(&w) == HR_ERROR)
		return 0;
	return w.pos;
}
