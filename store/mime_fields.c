/*
 * mime_fields.c - the fields of each part, and the header summary of a
 * message, from GMime's parse of the header fields (RFC 2045 Content-*,
 * RFC 2183 Content-Disposition, RFC 2231 parameters, RFC 5322 3.6 for
 * the summary, RFC 2047 encoded words).
 *
 * Part fields are normalised for lookups: type, subtype, charset,
 * transfer encoding and disposition lower-case ASCII tokens (a type that
 * is not a token becomes application/octet-stream, as RFC 2045 5.2 allows
 * for an unreadable Content-Type; GMime's default is text/plain), names
 * and content ids UTF-8.  The IMAP writers use the raw fields themselves.
 *
 * The summary takes the first field of each name.  Raw values are
 * unfolded (CR and LF removed) and trimmed; the decoded subject and
 * display names are UTF-8 (GMime decodes RFC 2047 words, 8-bit text is
 * UTF-8 or else Latin-1); the Date is parsed by GMime (RFC 5322 and the
 * obsolete forms); msg-id lists by GMime's References parser.
 */
#include <string.h>

#include "common/xalloc.h"
#include "store/mime_priv.h"

char *
mime_unfold(struct mime_arena *a, const char *v)
{
	size_t n = strlen(v), s = 0, k = 0;
	char *out;

	while (s < n && (v[s] == ' ' || v[s] == '\t' || v[s] == '\r' ||
	    v[s] == '\n'))
		s++;
	out = mime_arena_alloc(a, n - s + 1);
	for (size_t i = s; i < n; i++)
		if (v[i] != '\r' && v[i] != '\n')
			out[k++] = v[i];
	while (k > 0 && (out[k - 1] == ' ' || out[k - 1] == '\t'))
		k--;
	out[k] = '\0';
	return out;
}

const char *
mime_raw_header(GMimeObject *o, const char *name)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(o);
	int n = g_mime_header_list_get_count(hl);

	for (int i = 0; i < n; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);

		if (g_ascii_strcasecmp(g_mime_header_get_name(h), name) == 0)
			return g_mime_header_get_raw_value(h);
	}
	return NULL;
}

bool
mime_is_type(const struct mime_part *p, const char *type,
    const char *subtype)
{
	return strcmp(p->type, type) == 0 &&
	    (subtype == NULL || strcmp(p->subtype, subtype) == 0);
}

static bool
is_token_char(unsigned char ch)
{
	return ch > 32 && ch < 127 && strchr("()<>@,;:\\\"/[]?=", ch) == NULL;
}

/* token - lower-case copy of s when it is a non-empty RFC 2045 token */
static const char *
token(struct mime_arena *a, const char *s)
{
	size_t n;
	char *out;

	if (s == NULL || s[0] == '\0')
		return NULL;
	n = strlen(s);
	for (size_t i = 0; i < n; i++)
		if (!is_token_char((unsigned char)s[i]))
			return NULL;
	out = mime_arena_strndup(a, s, n);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)g_ascii_tolower(out[i]);
	return out;
}

/* first_token - the lower-case first token of a raw value; NULL */
static const char *
first_token(struct mime_arena *a, const char *raw)
{
	const char *s = raw, *e;
	char *t;

	if (raw == NULL)
		return NULL;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	for (e = s; is_token_char((unsigned char)*e); e++)
		;
	if (e == s)
		return NULL;
	t = mime_arena_strndup(a, s, (size_t)(e - s));
	for (char *q = t; *q; q++)
		*q = (char)g_ascii_tolower(*q);
	return t;
}

/* utf8 - arena copy of s made valid UTF-8; NULL stays NULL */
static const char *
utf8(struct mime_arena *a, const char *s)
{
	struct buf b = BUF_INIT(0);
	const char *out;

	if (s == NULL)
		return NULL;
	mime_utf8_append(&b, s, strlen(s));
	out = mime_arena_strndup(a, b.data ? b.data :
	    (const unsigned char *)"", b.len);
	buf_free(&b);
	return out;
}

static void
params(struct mime_ctx *c, GMimeParamList *l, struct mime_part *p)
{
	int n = l ? g_mime_param_list_length(l) : 0;

	if (n <= 0)
		return;
	p->params = mime_arena_array(c->a, (size_t)n, sizeof(*p->params));
	for (int i = 0; i < n; i++) {
		GMimeParam *pa = g_mime_param_list_get_parameter_at(l, i);
		const char *name = g_mime_param_get_name(pa);
		const char *value = g_mime_param_get_value(pa);
		char *lname;

		if (name == NULL || name[0] == '\0' || value == NULL)
			continue;
		lname = g_ascii_strdown(name, -1);
		p->params[p->nparams].name = utf8(c->a, lname);
		p->params[p->nparams].value = utf8(c->a, value);
		p->nparams++;
		g_free(lname);
	}
}

void
mime_fields_defaults(struct mime_ctx *c, uint32_t i)
{
	struct mime_part *p = &c->parts[i];

	p->type = "text";
	p->subtype = "plain";
	p->encoding = "7bit";
}

void
mime_fields_part(struct mime_ctx *c, uint32_t i)
{
	struct mime_part *p = &c->parts[i];
	GMimeObject *o = c->obj[i];
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	GMimeContentDisposition *cd = g_mime_object_get_content_disposition(o);
	const char *type = NULL, *sub = NULL, *name = NULL, *raw;

	if (ct != NULL) {
		type = token(c->a, g_mime_content_type_get_media_type(ct));
		sub = token(c->a, g_mime_content_type_get_media_subtype(ct));
		p->charset = token(c->a,
		    g_mime_content_type_get_parameter(ct, "charset"));
	}
	if (p->kind == MIME_MULTIPART) {
		type = "multipart";	/* GMime's test was case-insensitive */
		if (sub == NULL)
			sub = "mixed";
	} else if (p->kind == MIME_MESSAGE) {
		type = "message";
	} else if (type == NULL || sub == NULL) {
		type = ct == NULL ? "text" : "application";
		sub = ct == NULL ? "plain" : "octet-stream";
	}
	p->type = type;
	p->subtype = sub;
	p->encoding = first_token(c->a, mime_raw_header(o,
	    "Content-Transfer-Encoding"));
	if (p->encoding == NULL)
		p->encoding = "7bit";
	if (cd != NULL) {
		p->disposition = token(c->a,
		    g_mime_content_disposition_get_disposition(cd));
		name = g_mime_content_disposition_get_parameter(cd,
		    "filename");
	}
	if ((name == NULL || name[0] == '\0') && ct != NULL)
		name = g_mime_content_type_get_parameter(ct, "name");
	if (name != NULL && name[0] != '\0')
		p->name = utf8(c->a, name);
	if (ct != NULL)
		params(c, g_mime_content_type_get_parameters(ct), p);
	if ((raw = mime_raw_header(o, "Content-Description")) != NULL) {
		char *dec = g_mime_utils_header_decode_text(c->opt, raw);

		p->description = utf8(c->a, mime_unfold(c->a, dec ? dec : raw));
		g_free(dec);
	}
	raw = g_mime_object_get_content_id(o);
	if (raw != NULL && raw[0] != '\0')
		p->cid = utf8(c->a, raw);
	if ((raw = mime_raw_header(o, "Content-Language")) != NULL)
		p->language = mime_unfold(c->a, raw);
	if ((raw = mime_raw_header(o, "Content-Location")) != NULL)
		p->location = mime_unfold(c->a, raw);
}

static void
idlist(struct mime_ctx *c, const char *raw, struct mime_idlist *out)
{
	GMimeReferences *refs;
	int n;

	if (raw == NULL)
		return;
	refs = g_mime_references_parse(c->opt, raw);
	n = refs ? g_mime_references_length(refs) : 0;
	if (n > 0) {
		out->v = mime_arena_array(c->a, (size_t)n, sizeof(*out->v));
		for (int i = 0; i < n; i++)
			out->v[i] = utf8(c->a,
			    g_mime_references_get_message_id(refs, i));
		out->n = (uint32_t)n;
	}
	if (refs != NULL)
		g_mime_references_free(refs);
}

static void
parse_date(struct mime_headers *h, const char *raw)
{
	GDateTime *dt = g_mime_utils_header_decode_date(raw);

	if (dt == NULL)
		return;
	h->has_date = true;
	h->date = g_date_time_to_unix(dt);
	h->date_tz = (int16_t)(g_date_time_get_utc_offset(dt) /
	    G_TIME_SPAN_MINUTE);
	g_date_time_unref(dt);
}

static bool
is_8bit(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

enum { F_DATE, F_SUBJECT, F_FROM, F_SENDER, F_REPLY_TO, F_TO, F_CC, F_BCC,
    F_MESSAGE_ID, F_IN_REPLY_TO, F_REFERENCES, F_COUNT };

static const char *const field_names[F_COUNT] = {
	"Date", "Subject", "From", "Sender", "Reply-To", "To", "Cc", "Bcc",
	"Message-ID", "In-Reply-To", "References",
};

/* decode_subject - h->subject (RFC 2047 decoded, UTF-8) and its base */
static void
decode_subject(struct mime_ctx *c, struct mime_headers *h)
{
	char *dec;

	if (h->subject_raw == NULL)
		return;
	dec = g_mime_utils_header_decode_text(c->opt, h->subject_raw);
	h->subject = utf8(c->a, dec ? dec : h->subject_raw);
	g_free(dec);
	h->base_subject = mime_base_subject(c->a, h->subject);
}

void
mime_fields_subject(struct mime_ctx *c, GMimeMessage *msg,
    struct mime_headers *h)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	int n = g_mime_header_list_get_count(hl);
	const char *raw = NULL;

	for (int i = 0; i < n; i++) {
		GMimeHeader *hd = g_mime_header_list_get_header_at(hl, i);
		const char *val = g_mime_header_get_raw_value(hd);

		if (val == NULL)
			continue;
		if (is_8bit(val))
			c->flags |= MIME_8BIT_HEADER;
		if (raw == NULL && g_ascii_strcasecmp(
		    g_mime_header_get_name(hd), "Subject") == 0)
			raw = val;
	}
	mime_fields_subject_raw(c, raw, h);
}

void
mime_fields_subject_raw(struct mime_ctx *c, const char *raw,
    struct mime_headers *h)
{
	memset(h, 0, sizeof(*h));
	h->base_subject = "";
	if (raw != NULL)
		h->subject_raw = mime_unfold(c->a, raw);
	decode_subject(c, h);
}

void
mime_fields_headers(struct mime_ctx *c, GMimeMessage *msg,
    struct mime_headers *h, bool full)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
	int n = g_mime_header_list_get_count(hl);
	const char *raw[F_COUNT] = { NULL };
	struct mime_addr_list *lists[] = { &h->from, &h->sender, &h->reply_to,
	    &h->to, &h->cc, &h->bcc };

	memset(h, 0, sizeof(*h));
	for (int i = 0; i < n; i++) {
		GMimeHeader *hd = g_mime_header_list_get_header_at(hl, i);
		const char *name = g_mime_header_get_name(hd);
		const char *val = g_mime_header_get_raw_value(hd);

		if (val == NULL)
			continue;
		if (full && is_8bit(val))
			c->flags |= MIME_8BIT_HEADER;
		for (int f = 0; f < F_COUNT; f++)
			if (raw[f] == NULL &&
			    g_ascii_strcasecmp(name, field_names[f]) == 0)
				raw[f] = val;
	}
	if (raw[F_DATE] != NULL) {
		h->date_raw = mime_unfold(c->a, raw[F_DATE]);
		if (full)
			parse_date(h, h->date_raw);
	}
	if (raw[F_SUBJECT] != NULL)
		h->subject_raw = mime_unfold(c->a, raw[F_SUBJECT]);
	for (int f = F_FROM; f <= F_BCC; f++)
		if (raw[f] != NULL)
			mime_addr_parse(c->a, c->opt, raw[f],
			    lists[f - F_FROM]);
	if (raw[F_MESSAGE_ID] != NULL)
		h->message_id_raw = mime_unfold(c->a, raw[F_MESSAGE_ID]);
	if (raw[F_IN_REPLY_TO] != NULL)
		h->in_reply_to_raw = mime_unfold(c->a, raw[F_IN_REPLY_TO]);
	if (raw[F_REFERENCES] != NULL)
		h->references_raw = mime_unfold(c->a, raw[F_REFERENCES]);
	h->base_subject = "";
	if (!full)
		return;
	decode_subject(c, h);
	idlist(c, h->message_id_raw, &h->message_id);
	idlist(c, h->in_reply_to_raw, &h->in_reply_to);
	idlist(c, h->references_raw, &h->references);
}
