/*
 * mime_imap.c - IMAP's view of a parsed message: the ENVELOPE, BODY and
 * BODYSTRUCTURE strings (RFC 3501 7.4.2, RFC 9051 7.5.2) written once at
 * delivery exactly as FETCH sends them, and section-spec ranges (RFC 3501
 * 6.4.5) for BODY[...] and BINARY[...].
 *
 * What is written where the RFCs leave a choice, following Dovecot so
 * clients see what they are used to:
 *   - strings are quoted ("\" and "\"" escaped), or a literal when they
 *     hold 8-bit bytes (raw 8-bit headers go out as they are); absent
 *     fields are NIL;
 *   - ENVELOPE fields are the raw header values, unfolded; Sender and
 *     Reply-To default to From when absent or empty; display names are
 *     raw (encoded words kept); a missing local part or domain is
 *     "MISSING_MAILBOX" / "MISSING_DOMAIN" (a NIL host would mean a
 *     group), "<>" is ("" ""); groups are (NIL NIL "name" NIL) ...
 *     (NIL NIL NIL NIL);
 *   - type, subtype, transfer encoding and disposition are lower-case;
 *     a text part without a charset parameter is given ("charset"
 *     "us-ascii"); parameter names are lower-case and values decoded
 *     (RFC 2231 continuations joined); a value with non-ASCII characters
 *     is sent as RFC 2231 "name*" "utf-8''%XX..." so strings stay 7-bit;
 *   - body-fld-lines counts lines, a last line without line break too;
 *     extension data is always written: MD5 (Content-MD5 when present),
 *     disposition, language (always a list), location;
 *   - a multipart without any part gets one empty text/plain part (the
 *     grammar wants at least one); a message/rfc822 part without a
 *     readable message gets an all-NIL envelope and that empty part (one
 *     nested past max_depth keeps its envelope); a message/rfc822 GMime
 *     did not open (base64 or quoted-printable encoded, or nested past
 *     GMime's own limit) is "application" "octet-stream";
 *   - parts not described because of a limit are left out.
 */
#include <string.h>

#include "store/mime_priv.h"

#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL " \
	"\"7bit\" 0 0"
#define NIL_ENVELOPE "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"

static void
imap_string(struct buf *out, const char *s)
{
	size_t n = strlen(s);
	bool lit = false;

	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80 || s[i] == '\r' || s[i] == '\n')
			lit = true;
	if (lit) {
		buf_addf(out, "{%zu}\r\n", n);
		buf_add(out, s, n);
		return;
	}
	buf_add_str(out, "\"");
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_add_str(out, "\\");
		buf_add(out, &s[i], 1);
	}
	buf_add_str(out, "\"");
}

void
mime_imap_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		buf_add_str(out, "NIL");
	else
		imap_string(out, s);
}

static void
address(struct buf *out, const struct mime_addr *a)
{
	const char *local, *domain;

	if (a->kind == MIME_ADDR_GROUP) {
		buf_add_str(out, "(NIL NIL ");
		imap_string(out, a->raw_name ? a->raw_name : "");
		buf_add_str(out, " NIL)");
		return;
	}
	if (a->kind == MIME_ADDR_GROUP_END) {
		buf_add_str(out, "(NIL NIL NIL NIL)");
		return;
	}
	local = a->local[0] || !a->domain[0] ? a->local : "MISSING_MAILBOX";
	domain = a->domain[0] || !a->local[0] ? a->domain : "MISSING_DOMAIN";
	buf_add_str(out, "(");
	mime_imap_nstring(out, a->raw_name);
	buf_add_str(out, " ");
	mime_imap_nstring(out, a->route);
	buf_add_str(out, " ");
	imap_string(out, local);
	buf_add_str(out, " ");
	imap_string(out, domain);
	buf_add_str(out, ")");
}

static void
addr_list(struct buf *out, const struct mime_addr_list *l)
{
	if (l->n == 0) {
		buf_add_str(out, "NIL");
		return;
	}
	buf_add_str(out, "(");
	for (uint32_t i = 0; i < l->n; i++)
		address(out, &l->v[i]);
	buf_add_str(out, ")");
}

void
mime_imap_envelope(struct buf *out, const struct mime_headers *h)
{
	buf_add_str(out, "(");
	mime_imap_nstring(out, h->date_raw);
	buf_add_str(out, " ");
	mime_imap_nstring(out, h->subject_raw);
	buf_add_str(out, " ");
	addr_list(out, &h->from);
	buf_add_str(out, " ");
	addr_list(out, h->sender.n ? &h->sender : &h->from);
	buf_add_str(out, " ");
	addr_list(out, h->reply_to.n ? &h->reply_to : &h->from);
	buf_add_str(out, " ");
	addr_list(out, &h->to);
	buf_add_str(out, " ");
	addr_list(out, &h->cc);
	buf_add_str(out, " ");
	addr_list(out, &h->bcc);
	buf_add_str(out, " ");
	mime_imap_nstring(out, h->in_reply_to_raw);
	buf_add_str(out, " ");
	mime_imap_nstring(out, h->message_id_raw);
	buf_add_str(out, ")");
}

static bool
is_attr_char(unsigned char ch)
{
	return g_ascii_isalnum(ch) || strchr("!#$&+-.^_`|~", ch) != NULL;
}

static void
param(struct buf *out, const char *name, const char *value)
{
	bool ascii = true;
	char *lname = g_ascii_strdown(name, -1);

	for (const char *p = value; *p; p++)
		if ((unsigned char)*p >= 0x80)
			ascii = false;
	if (ascii) {
		imap_string(out, lname);
		buf_add_str(out, " ");
		imap_string(out, value);
	} else {
		struct buf v = BUF_INIT(0), n = BUF_INIT(0);

		buf_add_str(&v, "utf-8''");
		for (const unsigned char *p = (const unsigned char *)value;
		    *p; p++) {
			if (is_attr_char(*p))
				buf_add(&v, p, 1);
			else
				buf_addf(&v, "%%%02X", *p);
		}
		buf_reset(&n);
		buf_addf(&n, "%s*", lname);
		imap_string(out, buf_cstr(&n));
		buf_add_str(out, " ");
		imap_string(out, buf_cstr(&v));
		buf_free(&v);
		buf_free(&n);
	}
	g_free(lname);
}

/* params - "(name value ...)" or NIL; charset us-ascii added for text */
static void
params(struct buf *out, GMimeParamList *l, bool text)
{
	int n = l ? g_mime_param_list_length(l) : 0, written = 0;
	bool charset = false;

	for (int i = 0; i < n; i++) {
		GMimeParam *pa = g_mime_param_list_get_parameter_at(l, i);
		const char *name = g_mime_param_get_name(pa);
		const char *value = g_mime_param_get_value(pa);

		if (name == NULL || name[0] == '\0' || value == NULL)
			continue;
		buf_add_str(out, written++ ? " " : "(");
		if (g_ascii_strcasecmp(name, "charset") == 0)
			charset = true;
		param(out, name, value);
	}
	if (text && !charset) {
		buf_add_str(out, written++ ? " " : "(");
		buf_add_str(out, "\"charset\" \"us-ascii\"");
	}
	buf_add_str(out, written ? ")" : "NIL");
}

static void
raw_nstring(struct mime_ctx *c, struct buf *out, GMimeObject *o,
    const char *name)
{
	const char *raw = o ? mime_raw_header(o, name) : NULL;

	buf_add_str(out, " ");
	mime_imap_nstring(out, raw ? mime_unfold(c->a, raw) : NULL);
}

/* ext_common - disposition, language, location */
static void
ext_common(struct buf *out, const struct mime_part *p, GMimeObject *o)
{
	GMimeContentDisposition *cd = o ?
	    g_mime_object_get_content_disposition(o) : NULL;
	bool any = false;

	buf_add_str(out, " ");
	if (cd != NULL && p->disposition != NULL) {
		buf_add_str(out, "(");
		imap_string(out, p->disposition);
		buf_add_str(out, " ");
		params(out, g_mime_content_disposition_get_parameters(cd),
		    false);
		buf_add_str(out, ")");
	} else {
		buf_add_str(out, "NIL");
	}
	buf_add_str(out, " ");
	for (const char *s = p->language; s && *s;) {
		size_t n;

		while (*s == ',' || *s == ' ' || *s == '\t')
			s++;
		n = strcspn(s, ", \t");
		if (n > 0) {
			char *tag = g_strndup(s, n);

			buf_add_str(out, any ? " " : "(");
			imap_string(out, tag);
			g_free(tag);
			any = true;
		}
		s += n;
	}
	buf_add_str(out, any ? ")" : "NIL");
	buf_add_str(out, " ");
	mime_imap_nstring(out, p->location);
}

static void write_part(struct mime_ctx *c, struct buf *out, uint32_t i,
    bool ext);

static void
write_fields(struct mime_ctx *c, struct buf *out, const struct mime_part *p,
    GMimeObject *o, const char *type, const char *subtype)
{
	GMimeContentType *ct = o ? g_mime_object_get_content_type(o) : NULL;

	buf_add_str(out, "(");
	imap_string(out, type);
	buf_add_str(out, " ");
	imap_string(out, subtype);
	buf_add_str(out, " ");
	params(out, ct ? g_mime_content_type_get_parameters(ct) : NULL,
	    strcmp(type, "text") == 0);
	raw_nstring(c, out, o, "Content-ID");
	raw_nstring(c, out, o, "Content-Description");
	buf_add_str(out, " ");
	imap_string(out, p->encoding);
	buf_addf(out, " %llu", (unsigned long long)(p->body_end -
	    p->body_start));
}

static void
write_message(struct mime_ctx *c, struct buf *out, uint32_t i, bool ext)
{
	const struct mime_part *p = &c->parts[i];
	uint32_t inner = i + 1;

	GMimeObject *o = c->obj[i];
	GMimeMessage *msg = inner < p->next ? c->gmsg[inner] : NULL;
	struct mime_headers h;

	/* a message not described (nested too deep) still has its envelope */
	if (msg == NULL && o != NULL && GMIME_IS_MESSAGE_PART(o))
		msg = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
	write_fields(c, out, p, o, "message", p->subtype);
	buf_add_str(out, " ");
	if (msg != NULL) {
		mime_fields_headers(c, msg, &h, false);
		mime_imap_envelope(out, &h);
	} else {
		buf_add_str(out, NIL_ENVELOPE);
	}
	buf_add_str(out, " ");
	if (inner < p->next)
		write_part(c, out, inner, ext);
	else
		buf_add_str(out, ext ? EMPTY_BODY " NIL NIL NIL NIL)" :
		    EMPTY_BODY ")");
	buf_addf(out, " %llu", (unsigned long long)p->lines);
}

static void
write_part(struct mime_ctx *c, struct buf *out, uint32_t i, bool ext)
{
	const struct mime_part *p = &c->parts[i];
	GMimeObject *o = c->obj[i];

	if (p->kind == MIME_MULTIPART) {
		GMimeContentType *ct = o ? g_mime_object_get_content_type(o) :
		    NULL;

		buf_add_str(out, "(");
		if (p->next == i + 1)
			buf_add_str(out, ext ? EMPTY_BODY " NIL NIL NIL NIL)" :
			    EMPTY_BODY ")");
		for (uint32_t k = i + 1; k < p->next; k = c->parts[k].next)
			write_part(c, out, k, ext);
		buf_add_str(out, " ");
		imap_string(out, p->subtype);
		if (ext) {
			buf_add_str(out, " ");
			params(out, ct ? g_mime_content_type_get_parameters(ct) :
			    NULL, false);
			ext_common(out, p, o);
		}
		buf_add_str(out, ")");
		return;
	}
	if (p->kind == MIME_MESSAGE) {
		write_message(c, out, i, ext);
	} else if (strcmp(p->type, "message") == 0 &&
	    (strcmp(p->subtype, "rfc822") == 0 ||
	    strcmp(p->subtype, "global") == 0)) {
		/* no envelope to give: not described as a message */
		write_fields(c, out, p, o, "application", "octet-stream");
	} else {
		write_fields(c, out, p, o, p->type, p->subtype);
		if (strcmp(p->type, "text") == 0)
			buf_addf(out, " %llu", (unsigned long long)p->lines);
	}
	if (ext) {
		raw_nstring(c, out, o, "Content-MD5");
		ext_common(out, p, o);
	}
	buf_add_str(out, ")");
}

void
mime_imap_body(struct mime_ctx *c, struct buf *out, bool ext)
{
	write_part(c, out, 0, ext);
}

/* child - the k-th (1-based) child of part i; MIME_NONE */
static uint32_t
child(const struct mime_info *info, uint32_t i, uint64_t k)
{
	uint64_t idx = 1;

	for (uint32_t j = i + 1; j < info->parts[i].next;
	    j = info->parts[j].next, idx++)
		if (idx == k)
			return j;
	return MIME_NONE;
}

/* step - one numeric part specifier from cur (as_msg: cur is a message
 * seen as a message, so its body is part 1 unless multipart) */
static bool
step(const struct mime_info *info, uint32_t *cur, bool *as_msg, uint64_t k)
{
	const struct mime_part *p = &info->parts[*cur];

	if (!*as_msg && p->kind == MIME_MESSAGE) {
		if (p->next == *cur + 1)
			return false;	/* its message was not described */
		*cur += 1;
		*as_msg = true;
		p = &info->parts[*cur];
	}
	if (*as_msg) {
		*as_msg = false;
		if (p->kind != MIME_MULTIPART)
			return k == 1;
	} else if (p->kind != MIME_MULTIPART) {
		return false;
	}
	*cur = child(info, *cur, k);
	return *cur != MIME_NONE;
}

static bool
ci_prefix(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n >= l && g_ascii_strncasecmp(s, lit, l) == 0;
}

int
mime_section(const struct mime_info *info, const char *spec,
    size_t spec_len, uint64_t *start_r, uint64_t *len_r, uint32_t *part_r)
{
	uint32_t cur = 0;
	bool as_msg = true, dot = false;
	size_t i = 0, n;
	const struct mime_part *p;
	const char *sfx;

	while (i < spec_len && g_ascii_isdigit(spec[i])) {
		uint64_t k = 0;

		if (spec[i] == '0')
			return -1;
		for (; i < spec_len && g_ascii_isdigit(spec[i]); i++) {
			if (k > UINT32_MAX)
				return -1;
			k = k * 10 + (uint64_t)(spec[i] - '0');
		}
		if (!step(info, &cur, &as_msg, k))
			return -1;
		dot = false;
		if (i < spec_len) {
			if (spec[i] != '.')
				return -1;
			i++;
			dot = true;
		}
	}
	sfx = spec + i;
	n = spec_len - i;
	p = &info->parts[cur];
	if (n == 0) {
		if (dot)
			return -1;
		*start_r = as_msg ? 0 : p->body_start;
		*len_r = as_msg ? info->size : p->body_end - p->body_start;
	} else if (n == 4 && ci_prefix(sfx, n, "MIME")) {
		if (as_msg)
			return -1;
		*start_r = p->hdr_start;
		*len_r = p->body_start - p->hdr_start;
	} else if ((n == 4 && ci_prefix(sfx, n, "TEXT")) ||
	    (ci_prefix(sfx, n, "HEADER") && (n == 6 || sfx[6] == '.'))) {
		if (!as_msg) {
			if (p->kind != MIME_MESSAGE || p->next == cur + 1)
				return -1;
			p = &info->parts[++cur];
		}
		if (sfx[0] == 'T' || sfx[0] == 't') {
			*start_r = p->body_start;
			*len_r = p->body_end - p->body_start;
		} else {
			*start_r = p->hdr_start;
			*len_r = p->body_start - p->hdr_start;
		}
	} else {
		return -1;
	}
	if (part_r != NULL)
		*part_r = cur;
	return 0;
}
