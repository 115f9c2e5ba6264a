/*
 * mime_codec.c - struct mime_info to bytes and back, for the kv store.
 *
 * Format, version 1: the magic "PMI" and a version byte, then every field
 * in a fixed order.  Integers are LEB128 varints (signed ones zigzag
 * encoded); a string is its length and its bytes, an optional string its
 * length + 1 (0 for NULL).  Lists are a count and their items.  The
 * search text is not stored (the indexer takes it at delivery).  A new
 * field means a new version; decode refuses versions it does not know.
 *
 * Decoding trusts nothing: every length and count is checked against the
 * bytes left (so a short input cannot ask for a big allocation), strings
 * hold no NUL and UTF-8 fields are valid UTF-8, and the part tree is
 * checked to be what mime_parse() builds: pre-order, parents before
 * children, children inside their parent's body and in order, offsets
 * within the message, list indexes within the parts.  Code reading a
 * decoded struct can index without checks of its own.
 */
#include <string.h>

#include "store/mime_priv.h"

#define MIME_CODEC_VERSION 1

/* --- encode --- */

static void
put_u(struct buf *b, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			tmp[n] |= 0x80;
		n++;
	} while (v != 0);
	buf_add(b, tmp, n);
}

static void
put_i(struct buf *b, int64_t v)
{
	put_u(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void
put_s(struct buf *b, const char *s)
{
	size_t n = strlen(s);

	put_u(b, n);
	buf_add(b, s, n);
}

static void
put_ns(struct buf *b, const char *s)
{
	size_t n;

	if (s == NULL) {
		put_u(b, 0);
		return;
	}
	n = strlen(s);
	put_u(b, (uint64_t)n + 1);
	buf_add(b, s, n);
}

static void
put_addrs(struct buf *b, const struct mime_addr_list *l)
{
	put_u(b, l->n);
	for (uint32_t i = 0; i < l->n; i++) {
		const struct mime_addr *a = &l->v[i];

		put_u(b, a->kind);
		put_ns(b, a->name);
		put_ns(b, a->raw_name);
		put_ns(b, a->route);
		put_ns(b, a->local);
		put_ns(b, a->domain);
	}
}

static void
put_ids(struct buf *b, const struct mime_idlist *l)
{
	put_u(b, l->n);
	for (uint32_t i = 0; i < l->n; i++)
		put_s(b, l->v[i]);
}

static void
put_parts(struct buf *b, const struct mime_partlist *l)
{
	put_u(b, l->n);
	for (uint32_t i = 0; i < l->n; i++)
		put_u(b, l->v[i]);
}

int
mime_info_encode(const struct mime_info *info, struct buf *out)
{
	const struct mime_headers *h = &info->hdr;
	const struct mime_addr_list *lists[] = { &h->from, &h->sender,
	    &h->reply_to, &h->to, &h->cc, &h->bcc };
	struct buf b = BUF_INIT(0);
	int rc;

	buf_add(&b, "PMI", 3);
	put_u(&b, MIME_CODEC_VERSION);
	put_u(&b, info->flags);
	put_u(&b, info->size);
	put_u(&b, info->nparts);
	for (uint32_t i = 0; i < info->nparts; i++) {
		const struct mime_part *p = &info->parts[i];

		put_u(&b, p->parent == MIME_NONE ? 0 : (uint64_t)p->parent + 1);
		put_u(&b, p->next);
		put_u(&b, p->depth);
		put_u(&b, p->kind);
		put_u(&b, p->flags);
		put_s(&b, p->part_id);
		put_s(&b, p->type);
		put_s(&b, p->subtype);
		put_ns(&b, p->charset);
		put_s(&b, p->encoding);
		put_ns(&b, p->disposition);
		put_ns(&b, p->name);
		put_ns(&b, p->cid);
		put_ns(&b, p->description);
		put_ns(&b, p->language);
		put_ns(&b, p->location);
		put_u(&b, p->nparams);
		for (uint32_t k = 0; k < p->nparams; k++) {
			put_s(&b, p->params[k].name);
			put_s(&b, p->params[k].value);
		}
		put_u(&b, p->hdr_start);
		put_u(&b, p->body_start);
		put_u(&b, p->body_end);
		put_u(&b, p->lines);
		put_u(&b, p->decoded_size);
	}
	put_u(&b, h->has_date);
	put_i(&b, h->date);
	put_i(&b, h->date_tz);
	put_ns(&b, h->date_raw);
	put_ns(&b, h->subject_raw);
	put_ns(&b, h->subject);
	put_s(&b, h->base_subject);
	for (size_t i = 0; i < G_N_ELEMENTS(lists); i++)
		put_addrs(&b, lists[i]);
	put_ns(&b, h->message_id_raw);
	put_ns(&b, h->in_reply_to_raw);
	put_ns(&b, h->references_raw);
	put_ids(&b, &h->message_id);
	put_ids(&b, &h->in_reply_to);
	put_ids(&b, &h->references);
	put_s(&b, info->envelope);
	put_s(&b, info->body);
	put_s(&b, info->bodystructure);
	put_s(&b, info->preview);
	put_u(&b, info->has_attachment);
	put_parts(&b, &info->text_body);
	put_parts(&b, &info->html_body);
	put_parts(&b, &info->attachments);
	rc = buf_append(out, b.data, b.len);
	buf_free(&b);
	return rc;
}

/* --- decode --- */

struct rd {
	const unsigned char *p, *end;
	struct mime_arena *a;
	const char *bad;	/* the first problem */
	bool skip;		/* a field not wanted: bounds checked only */
};

static void
fail(struct rd *r, const char *why)
{
	if (r->bad == NULL)
		r->bad = why;
	r->p = r->end;
}

static uint64_t
get_u(struct rd *r)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		unsigned char ch;

		if (r->p >= r->end) {
			fail(r, "truncated");
			return 0;
		}
		ch = *r->p++;
		if (shift == 63 && ch > 1) {
			fail(r, "integer overflow");
			return 0;
		}
		v |= (uint64_t)(ch & 0x7f) << shift;
		if (!(ch & 0x80))
			return v;
	}
	fail(r, "integer overflow");
	return 0;
}

static uint64_t
get_max(struct rd *r, uint64_t max, const char *what)
{
	uint64_t v = get_u(r);

	if (v > max) {
		fail(r, what);
		return 0;
	}
	return v;
}

static int64_t
get_i(struct rd *r)
{
	uint64_t v = get_u(r);

	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* count - a list length that the bytes left can hold, items taking at
 * least min bytes each: a short input cannot ask for a big allocation */
static uint32_t
count(struct rd *r, size_t min)
{
	uint64_t left = (uint64_t)(r->end - r->p) / min;

	return (uint32_t)get_max(r, left < UINT32_MAX ? left : UINT32_MAX - 1,
	    "bad count");
}

enum { S_RAW, S_UTF8 };

static const char *
str(struct rd *r, bool nullable, int kind)
{
	uint64_t n = get_u(r);
	char *s;

	if (nullable) {
		if (n == 0)
			return NULL;
		n--;
	}
	if (n > (uint64_t)(r->end - r->p)) {
		fail(r, "string past the end");
		return nullable ? NULL : "";
	}
	if (r->skip) {
		r->p += n;
		return nullable ? NULL : "";
	}
	if (memchr(r->p, '\0', n) != NULL ||
	    (kind == S_UTF8 && !mime_utf8_valid(r->p, n))) {
		fail(r, "bad string");
		return nullable ? NULL : "";
	}
	s = mime_arena_strndup(r->a, r->p, n);
	r->p += n;
	return s;
}

static void
get_addrs(struct rd *r, struct mime_addr_list *l)
{
	struct mime_addr skipped;

	l->n = count(r, 6);
	l->v = r->skip ? NULL : mime_arena_array(r->a, l->n, sizeof(*l->v));
	for (uint32_t i = 0; i < l->n; i++) {
		struct mime_addr *a = r->skip ? &skipped : &l->v[i];

		a->kind = (uint8_t)get_max(r, MIME_ADDR_GROUP_END, "bad kind");
		a->name = str(r, true, S_UTF8);
		a->raw_name = str(r, true, S_RAW);
		a->route = str(r, true, S_UTF8);
		a->local = str(r, true, S_UTF8);
		a->domain = str(r, true, S_UTF8);
		if (!r->skip && (a->kind == MIME_ADDR_MAILBOX) !=
		    (a->local != NULL && a->domain != NULL))
			fail(r, "bad address");
	}
	if (r->skip)
		l->n = 0;
}

static void
get_ids(struct rd *r, struct mime_idlist *l)
{
	l->n = count(r, 1);
	l->v = r->skip ? NULL : mime_arena_array(r->a, l->n, sizeof(*l->v));
	for (uint32_t i = 0; i < l->n; i++) {
		const char *id = str(r, false, S_UTF8);

		if (!r->skip)
			l->v[i] = id;
	}
	if (r->skip)
		l->n = 0;
}

static void
get_parts(struct rd *r, struct mime_partlist *l, uint32_t nparts)
{
	l->n = count(r, 1);
	l->v = r->skip ? NULL : mime_arena_array(r->a, l->n, sizeof(*l->v));
	for (uint32_t i = 0; i < l->n; i++) {
		uint32_t v = (uint32_t)get_u(r);

		if (!r->skip && v >= nparts)
			fail(r, "bad part index");
		else if (!r->skip)
			l->v[i] = v;
	}
	if (r->skip)
		l->n = 0;
}

/* check_tree - the shape mime_parse() builds */
static const char *
check_tree(const struct mime_info *info)
{
	const struct mime_part *p = info->parts;
	uint32_t n = info->nparts;

	if (p[0].parent != MIME_NONE || p[0].depth != 0 || p[0].next != n ||
	    !(p[0].flags & MIME_PART_MESSAGE))
		return "bad root";
	for (uint32_t i = 0; i < n; i++) {
		uint32_t kids = 0;
		uint64_t after = p[i].body_start;

		if (p[i].next <= i || p[i].next > n ||
		    p[i].hdr_start > p[i].body_start ||
		    p[i].body_start > p[i].body_end ||
		    p[i].body_end > info->size || p[i].kind > MIME_MESSAGE)
			return "bad part";
		for (uint32_t j = i + 1; j < p[i].next; j = p[j].next) {
			if (p[j].parent != i || p[j].depth != p[i].depth + 1 ||
			    p[j].next <= j || p[j].next > p[i].next ||
			    p[j].hdr_start < after ||
			    p[j].body_end > p[i].body_end)
				return "bad child";
			after = p[j].body_end;
			kids++;
		}
		if ((p[i].kind == MIME_LEAF && kids != 0) ||
		    (p[i].kind == MIME_MESSAGE && (kids > 1 || (kids == 1 &&
		    !(p[i + 1].flags & MIME_PART_MESSAGE)))))
			return "bad children";
		if (i > 0 && (p[i].flags & MIME_PART_MESSAGE) &&
		    p[p[i].parent].kind != MIME_MESSAGE)
			return "bad message part";
	}
	return NULL;
}

int
mime_info_decode(const void *data, size_t len, struct mime_info **info_r,
    struct buf *err)
{
	return mime_info_decode_some(data, len, MIME_DEC_ALL, info_r, err);
}

int
mime_info_decode_some(const void *data, size_t len, unsigned want,
    struct mime_info **info_r, struct buf *err)
{
	struct rd r = { data, (const unsigned char *)data + len, NULL, NULL,
		false };
	struct mime_part skipped;
	uint32_t nparts;
	struct mime_info *info;
	struct mime_headers *h;
	struct mime_addr_list *lists[6];
	const char *bad;

	*info_r = NULL;
	if (len < 4 || memcmp(data, "PMI", 3) != 0) {
		buf_addf(err, "mime: not an encoded mime_info");
		return -1;
	}
	r.p += 3;
	if (get_u(&r) != MIME_CODEC_VERSION) {
		buf_addf(err, "mime: unknown mime_info version");
		return -1;
	}
	r.a = mime_arena_new();
	info = mime_arena_alloc(r.a, sizeof(*info));
	info->arena = r.a;
	h = &info->hdr;
	info->flags = (uint32_t)get_max(&r, UINT32_MAX, "bad flags");
	info->size = get_u(&r);
	nparts = count(&r, 22);
	if (nparts == 0)
		fail(&r, "no parts");
	r.skip = !(want & MIME_DEC_PARTS);
	info->nparts = r.skip ? 0 : nparts;
	info->parts = r.skip ? NULL : mime_arena_array(r.a, nparts,
	    sizeof(*info->parts));
	for (uint32_t i = 0; i < nparts && r.bad == NULL; i++) {
		struct mime_part *p = r.skip ? &skipped : &info->parts[i];
		uint64_t parent = get_max(&r, i, "bad parent");

		p->parent = parent == 0 ? MIME_NONE : (uint32_t)(parent - 1);
		p->next = (uint32_t)get_max(&r, nparts, "bad next");
		p->depth = (uint16_t)get_max(&r, UINT16_MAX, "bad depth");
		p->kind = (uint8_t)get_max(&r, MIME_MESSAGE, "bad kind");
		p->flags = (uint8_t)get_max(&r, MIME_PART_MESSAGE |
		    MIME_PART_TRUNCATED, "bad flags");
		p->part_id = str(&r, false, S_UTF8);
		p->type = str(&r, false, S_UTF8);
		p->subtype = str(&r, false, S_UTF8);
		p->charset = str(&r, true, S_UTF8);
		p->encoding = str(&r, false, S_UTF8);
		p->disposition = str(&r, true, S_UTF8);
		p->name = str(&r, true, S_UTF8);
		p->cid = str(&r, true, S_UTF8);
		p->description = str(&r, true, S_UTF8);
		p->language = str(&r, true, S_RAW);
		p->location = str(&r, true, S_RAW);
		p->nparams = count(&r, 2);
		p->params = mime_arena_array(r.a, p->nparams,
		    sizeof(*p->params));
		for (uint32_t k = 0; k < p->nparams; k++) {
			p->params[k].name = str(&r, false, S_UTF8);
			p->params[k].value = str(&r, false, S_UTF8);
		}
		p->hdr_start = get_u(&r);
		p->body_start = get_u(&r);
		p->body_end = get_u(&r);
		p->lines = get_u(&r);
		p->decoded_size = get_u(&r);
		if (i == 0)
			info->header_end = p->body_start;
	}
	if (r.bad == NULL && !r.skip && (bad = check_tree(info)) != NULL)
		fail(&r, bad);
	if (info->header_end > info->size)
		fail(&r, "bad header end");
	r.skip = !(want & MIME_DEC_HDR);
	h->has_date = get_max(&r, 1, "bad bool") != 0;
	h->date = get_i(&r);
	h->date_tz = (int16_t)get_i(&r);
	h->date_raw = str(&r, true, S_RAW);
	h->subject_raw = str(&r, true, S_RAW);
	h->subject = str(&r, true, S_UTF8);
	h->base_subject = str(&r, false, S_UTF8);
	lists[0] = &h->from;
	lists[1] = &h->sender;
	lists[2] = &h->reply_to;
	lists[3] = &h->to;
	lists[4] = &h->cc;
	lists[5] = &h->bcc;
	for (size_t i = 0; i < G_N_ELEMENTS(lists); i++)
		get_addrs(&r, lists[i]);
	h->message_id_raw = str(&r, true, S_RAW);
	h->in_reply_to_raw = str(&r, true, S_RAW);
	h->references_raw = str(&r, true, S_RAW);
	get_ids(&r, &h->message_id);
	get_ids(&r, &h->in_reply_to);
	get_ids(&r, &h->references);
	r.skip = !(want & MIME_DEC_IMAP);
	info->envelope = str(&r, false, S_RAW);
	info->body = str(&r, false, S_RAW);
	info->bodystructure = str(&r, false, S_RAW);
	r.skip = !(want & MIME_DEC_PREVIEW);
	info->preview = str(&r, false, S_UTF8);
	r.skip = !(want & MIME_DEC_PARTS);
	info->has_attachment = get_max(&r, 1, "bad bool") != 0;
	get_parts(&r, &info->text_body, nparts);
	get_parts(&r, &info->html_body, nparts);
	get_parts(&r, &info->attachments, nparts);
	if (r.bad == NULL && r.p != r.end)
		fail(&r, "trailing bytes");
	if (r.bad != NULL) {
		buf_addf(err, "mime: corrupt mime_info: %s", r.bad);
		mime_info_free(&info);
		return -1;
	}
	*info_r = info;
	return 0;
}
