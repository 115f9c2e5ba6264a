/*
 * mime.c - mime_parse(): a raw RFC 5322 / MIME (RFC 2045-2049) message,
 * parsed once at delivery by GMime, into the struct mime_info that IMAP
 * (RFC 3501, RFC 9051) and JMAP Mail (RFC 8621) serve from.
 *
 * The steps: mime_prescan() bounds what GMime is shown (mime_layout.c);
 * GMime parses that prefix, from memory without copying it, with
 * persistent content streams; mime_layout() walks GMime's tree to find the
 * offsets of every part; each part's fields come from GMime's view of its
 * headers (mime_fields.c); then the IMAP strings (mime_imap.c), the sizes
 * and search text (mime_text.c) and the JMAP lists (mime_jmap.c).
 *
 * Never failing on a message: GMime returns no message when the first
 * line is not a header field (or the input is empty), and when the input
 * ends inside something that could still be a field name; the second case
 * is parsed again without that last line (which stays in the body).  A
 * message GMime cannot read, or whose tree mime_layout() cannot follow,
 * is one text/plain part (MIME_FALLBACK): its header block is what GMime
 * read, else empty.
 *
 * Decisions, for the summary and the bodies: header fields are decoded
 * loosely (RFC 2047 words inside quoted strings and words, RFC 2231
 * continuations), 8-bit header text is UTF-8 when it is valid UTF-8 and
 * Latin-1 otherwise; the same fallback applies to bodies without a
 * charset, labelled us-ascii, or with a charset iconv does not know.
 *
 * GMime is initialised once per process (pthread_once); its parser
 * options are built then and never change, so parses run in parallel.
 *
 * XXX GMime keeps every charset name it is asked about for the life of
 * the process (g_mime_charset_iconv_name's cache, about 90 bytes a
 * name), and it asks while decoding RFC 2047 words and RFC 2231
 * parameters, so a stream of messages with made-up charset names grows
 * it without bound.  A fix belongs in GMime (a bounded cache); until
 * then, recycling delivery workers now and then bounds it.
 */
#include <pthread.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/mime_priv.h"

/* --- arena --- */

struct chunk {
	struct chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct mime_arena {
	struct chunk *head;
	size_t next_size;
};

struct mime_arena *
mime_arena_new(void)
{
	struct mime_arena *a = xcalloc(1, sizeof(*a));

	a->next_size = 4096;
	return a;
}

void
mime_arena_free(struct mime_arena **ap)
{
	struct mime_arena *a = ap ? *ap : NULL;

	if (a == NULL)
		return;
	while (a->head != NULL) {
		struct chunk *ch = a->head;

		a->head = ch->next;
		free(ch);
	}
	free(a);
	*ap = NULL;
}

void *
mime_arena_alloc(struct mime_arena *a, size_t n)
{
	struct chunk *ch = a->head;
	void *p;

	if (n > SIZE_MAX / 2)
		PANIC("mime_arena_alloc: %zu bytes", n);
	n = (n + alignof(max_align_t) - 1) & ~(alignof(max_align_t) - 1);
	if (n == 0)
		n = alignof(max_align_t);
	if (ch == NULL || ch->size - ch->used < n) {
		size_t size = n > a->next_size ? n : a->next_size;

		ch = xmalloc(sizeof(*ch) + size);
		ch->size = size;
		ch->used = 0;
		ch->next = a->head;
		a->head = ch;
		if (a->next_size < 256 * 1024)
			a->next_size *= 2;
	}
	p = (unsigned char *)ch->data + ch->used;
	ch->used += n;
	memset(p, 0, n);
	return p;
}

void *
mime_arena_array(struct mime_arena *a, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / 2 / size)
		PANIC("mime_arena_array: %zu * %zu", nmemb, size);
	return mime_arena_alloc(a, nmemb * size);
}

char *
mime_arena_strndup(struct mime_arena *a, const void *p, size_t n)
{
	char *s = mime_arena_alloc(a, n + 1);
	const unsigned char *in = p;
	size_t k = 0;

	for (size_t i = 0; i < n; i++)
		if (in[i] != '\0')
			s[k++] = (char)in[i];
	s[k] = '\0';
	return s;
}

char *
mime_arena_strdup(struct mime_arena *a, const char *s)
{
	return mime_arena_strndup(a, s, strlen(s));
}

/* --- GMime --- */

static pthread_once_t mime_once = PTHREAD_ONCE_INIT;
static GMimeParserOptions *mime_opt;	/* read-only after mime_init() */

static void
mime_init(void)
{
	static const char *fallback[] = { "utf-8", "iso-8859-1", NULL };

	g_mime_init();
	mime_opt = g_mime_parser_options_new();
	g_mime_parser_options_set_rfc2047_compliance_mode(mime_opt,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(mime_opt,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(mime_opt,
	    GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_fallback_charsets(mime_opt, fallback);
}

/* one GMime parse of msg[0..len), and what must outlive the message */
struct gm_run {
	GByteArray *arr;
	GMimeStream *stream;
	GMimeParser *parser;
	GMimeMessage *msg;
};

static void
gm_done(struct gm_run *r)
{
	/* the message's content streams refer to the stream: message first */
	if (r->msg != NULL)
		g_object_unref(r->msg);
	if (r->parser != NULL)
		g_object_unref(r->parser);
	if (r->stream != NULL)
		g_object_unref(r->stream);
	if (r->arr != NULL)
		(void)g_byte_array_free(r->arr, FALSE);	/* not our bytes */
	memset(r, 0, sizeof(*r));
}

static GMimeMessage *
gm_parse(struct gm_run *r, const unsigned char *msg, size_t len)
{
	memset(r, 0, sizeof(*r));
	/*
	 * The stream reads the caller's bytes in place: it is told it does
	 * not own them, nothing ever writes to it, and g_byte_array_free(,
	 * FALSE) hands the pointer back without freeing it.
	 */
	r->arr = g_byte_array_new_take((guint8 *)(uintptr_t)msg, len);
	r->stream = g_mime_stream_mem_new_with_byte_array(r->arr);
	g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(r->stream), FALSE);
	r->parser = g_mime_parser_new_with_stream(r->stream);
	g_mime_parser_set_format(r->parser, GMIME_FORMAT_MESSAGE);
	g_mime_parser_set_persist_stream(r->parser, TRUE);
	r->msg = g_mime_parser_construct_message(r->parser, mime_opt);
	return r->msg;
}

/* --- the parse --- */

void
mime_limits_default(struct mime_limits *lim)
{
	lim->max_parts = MIME_DEFAULT_MAX_PARTS;
	lim->max_depth = MIME_DEFAULT_MAX_DEPTH;
	lim->max_header = MIME_DEFAULT_MAX_HEADER;
	lim->max_fields = MIME_DEFAULT_MAX_FIELDS;
	lim->max_text = MIME_DEFAULT_MAX_TEXT;
	lim->max_preview = MIME_DEFAULT_MAX_PREVIEW;
}

static void
limits_merge(struct mime_limits *out, const struct mime_limits *in)
{
	mime_limits_default(out);
	if (in == NULL)
		return;
	if (in->max_parts)
		out->max_parts = in->max_parts;
	if (in->max_depth)
		out->max_depth = in->max_depth;
	if (in->max_header)
		out->max_header = in->max_header;
	if (in->max_fields)
		out->max_fields = in->max_fields;
	if (in->max_text)
		out->max_text = in->max_text;
	if (in->max_preview)
		out->max_preview = in->max_preview;
	if (out->max_depth > UINT16_MAX - 1)
		out->max_depth = UINT16_MAX - 1;
}

uint32_t
mime_ctx_add(struct mime_ctx *c)
{
	if (c->nparts == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->parts = xreallocarray(c->parts, c->cap, sizeof(*c->parts));
		c->obj = xreallocarray(c->obj, c->cap, sizeof(*c->obj));
		c->gmsg = xreallocarray(c->gmsg, c->cap, sizeof(*c->gmsg));
	}
	memset(&c->parts[c->nparts], 0, sizeof(c->parts[0]));
	c->obj[c->nparts] = NULL;
	c->gmsg[c->nparts] = NULL;
	return c->nparts++;
}

static bool
has_bare_lf(const unsigned char *m, size_t len)
{
	const unsigned char *p = m, *end = m + len, *nl;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (nl == m || nl[-1] != '\r')
			return true;
		p = nl + 1;
	}
	return false;
}

/* fallback - the whole message as one text/plain part; header block per
 * GMime when it read one (gm), else empty */
static void
fallback(struct mime_ctx *c, GMimeMessage *gm, size_t body_start)
{
	uint32_t i;

	c->nparts = 0;
	c->flags |= MIME_FALLBACK;
	i = mime_ctx_add(c);
	c->parts[i].parent = MIME_NONE;
	c->parts[i].next = 1;
	c->parts[i].kind = MIME_LEAF;
	c->parts[i].flags = MIME_PART_MESSAGE;
	c->parts[i].part_id = "";
	c->parts[i].hdr_start = 0;
	c->parts[i].body_start = body_start;
	c->parts[i].body_end = c->len;
	c->gmsg[i] = gm;
}

static const char *
buf_to_arena(struct mime_arena *a, struct buf *b)
{
	const char *s = mime_arena_strndup(a, b->data ? b->data :
	    (const unsigned char *)"", b->len);

	buf_reset(b);
	return s;
}

static void finish_text_only(struct mime_ctx *c);
static void copy_parts(struct mime_ctx *c);

static void
build(struct mime_ctx *c)
{
	struct mime_info *info = c->info;
	struct buf b = BUF_INIT(0);

	mime_layout_extend(c);
	for (uint32_t i = 0; i < c->nparts; i++) {
		if (c->obj[i] != NULL)
			mime_fields_part(c, i);
		else
			mime_fields_defaults(c, i);
	}
	if (c->text_only) {
		if (c->gmsg[0] != NULL)
			mime_fields_subject(c, c->gmsg[0], &info->hdr);
		else
			info->hdr.base_subject = "";
		finish_text_only(c);
		return;
	}
	mime_layout_lines(c);
	mime_text_sizes(c);
	if (c->gmsg[0] != NULL)
		mime_fields_headers(c, c->gmsg[0], &info->hdr, true);
	else
		info->hdr.base_subject = "";

	mime_imap_envelope(&b, &info->hdr);
	info->envelope = buf_to_arena(c->a, &b);
	mime_imap_body(c, &b, false);
	info->body = buf_to_arena(c->a, &b);
	mime_imap_body(c, &b, true);
	info->bodystructure = buf_to_arena(c->a, &b);
	buf_free(&b);

	mime_jmap_lists(c);
	mime_text_search(c);	/* also the preview */
	copy_parts(c);
}

/* finish_text_only - mime_parse_text's end: the text, empty strings */
static void
finish_text_only(struct mime_ctx *c)
{
	struct mime_info *info = c->info;

	info->envelope = info->body = info->bodystructure = "";
	info->preview = "";
	mime_text_search(c);
	copy_parts(c);
}

static void
copy_parts(struct mime_ctx *c)
{
	struct mime_info *info = c->info;

	info->parts = mime_arena_array(c->a, c->nparts, sizeof(*info->parts));
	memcpy(info->parts, c->parts, c->nparts * sizeof(*info->parts));
	info->nparts = c->nparts;
	info->header_end = c->nparts > 0 ? c->parts[0].body_start : 0;
	info->size = c->len;
}

static int
parse(const unsigned char *msg, size_t len, const struct mime_limits *lim,
    bool text_only, struct mime_info **info_r, struct buf *err)
{
	struct mime_ctx c;
	struct gm_run run;
	GMimeMessage *gm;

	*info_r = NULL;
	if (pthread_once(&mime_once, mime_init) != 0 || mime_opt == NULL) {
		buf_addf(err, "mime: GMime initialisation failed");
		return -1;
	}
	if (len > G_MAXUINT / 2) {
		buf_addf(err, "mime: message of %zu bytes too large",
		    len);
		return -1;
	}
	memset(&c, 0, sizeof(c));
	c.text_only = text_only;
	limits_merge(&c.lim, lim);
	c.msg = msg != NULL ? msg : (const unsigned char *)"";
	c.len = msg != NULL ? len : 0;
	c.opt = mime_opt;
	c.a = mime_arena_new();
	c.info = mime_arena_alloc(c.a, sizeof(*c.info));
	c.info->arena = c.a;
	if (has_bare_lf(c.msg, c.len))
		c.flags |= MIME_BARE_LF;

	if (text_only && mime_simple(&c)) {
		finish_text_only(&c);
		c.info->flags = c.flags;
		free(c.parts);
		free(c.obj);
		free(c.gmsg);
		*info_r = c.info;
		return 0;
	}
	c.glen = mime_prescan(c.msg, c.len, &c.lim, &c.flags);
	gm = gm_parse(&run, c.msg, c.glen);
	if (gm == NULL && c.glen > 0 && c.msg[c.glen - 1] != '\n') {
		/* ends inside a would-be field name: parse without it */
		const unsigned char *nl = memrchr(c.msg, '\n', c.glen);

		if (nl != NULL) {
			gm_done(&run);
			c.glen = (size_t)(nl - c.msg) + 1;
			gm = gm_parse(&run, c.msg, c.glen);
		}
	}
	if (gm == NULL)
		fallback(&c, NULL, 0);
	else if (mime_layout(&c, gm) < 0) {
		c.flags |= MIME_LAYOUT_FAILED;
		fallback(&c, gm, mime_layout_body_start(c.msg, c.glen));
	}
	build(&c);
	c.info->flags = c.flags;
	gm_done(&run);
	free(c.parts);
	free(c.obj);
	free(c.gmsg);
	*info_r = c.info;
	return 0;
}

int
mime_parse(const unsigned char *msg, size_t len,
    const struct mime_limits *lim, struct mime_info **info_r, struct buf *err)
{
	return parse(msg, len, lim, false, info_r, err);
}

int
mime_parse_text(const unsigned char *msg, size_t len,
    const struct mime_limits *lim, struct mime_info **info_r, struct buf *err)
{
	return parse(msg, len, lim, true, info_r, err);
}

void
mime_info_free(struct mime_info **info)
{
	struct mime_arena *a;

	if (info == NULL || *info == NULL)
		return;
	a = (*info)->arena;
	*info = NULL;
	mime_arena_free(&a);
}

bool
mime_header_next(const unsigned char *hdr, size_t len, size_t *pos,
    size_t *name_off, size_t *name_len, size_t *value_off,
    size_t *value_len)
{
	size_t p = *pos;

	while (p < len) {
		const unsigned char *nl, *colon;
		size_t e, n, end;

		if (hdr[p] == '\n' || (hdr[p] == '\r' && p + 1 < len &&
		    hdr[p + 1] == '\n'))
			break;		/* the empty line ending the block */
		/* the field runs over its continuation lines */
		e = p;
		for (;;) {
			nl = memchr(hdr + e, '\n', len - e);
			e = nl == NULL ? len : (size_t)(nl - hdr) + 1;
			if (e >= len || (hdr[e] != ' ' && hdr[e] != '\t'))
				break;
		}
		n = e - p;
		colon = memchr(hdr + p, ':', n);
		if (hdr[p] == ' ' || hdr[p] == '\t' || colon == NULL) {
			p = e;		/* not a field */
			continue;
		}
		*name_off = p;
		*name_len = (size_t)(colon - hdr) - p;
		while (*name_len > 0 && (hdr[p + *name_len - 1] == ' ' ||
		    hdr[p + *name_len - 1] == '\t'))
			(*name_len)--;
		end = e;
		if (end > p && hdr[end - 1] == '\n')
			end--;
		if (end > p && hdr[end - 1] == '\r')
			end--;
		*value_off = (size_t)(colon - hdr) + 1;
		if (end < *value_off)
			end = *value_off;
		*value_len = end - *value_off;
		*pos = e;
		return true;
	}
	*pos = len;
	return false;
}
