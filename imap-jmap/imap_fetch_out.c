/*
 * imap_fetch_out.c - FETCH responses (RFC 9051 7.5.2, RFC 3501 7.4.2)
 * from a parsed fetch-att list and one message's data; the FETCH line of
 * a STORE reply.  The contract and every choice made are in
 * imap_fetch_out.h.
 *
 * Invariants: a render appends one complete, well-formed line or nothing
 * (out is cut back to where it was on any failure); the blob is read at
 * most once and only for items that need the bytes; every offset used on
 * the blob comes from a struct mime_info whose size was checked against
 * the blob's length, so slices never leave it.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "imap-jmap/imap_fetch_out.h"
#include "store/mail.h"

/* fetch kinds written at most once per line (the section-less ones) */
#define SIMPLE_KIND(k) ((k) != IMAP_FETCH_BODY_SECTION && \
	(k) != IMAP_FETCH_BINARY && (k) != IMAP_FETCH_BINARY_SIZE)

/* one render's state */
struct render {
	struct buf *out;
	const struct imap_fetch_out_opts *o;
	const struct imap_fetch_out_msg *m;
	struct buf *err;
	size_t start;		/* out->len when the render began */
	uint64_t work;		/* octets filtered or decoded so far */
	bool first;		/* no item written yet */
	bool have_blob;
	const unsigned char *blob;
	size_t blob_len;
	const struct mime_info *mime;	/* the caller's or own_mime */
	struct mime_info *own_mime;	/* parsed here as a fallback */
	struct buf tmp;		/* a filtered header, decoded content */
};

static const char *const month[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* ---- small writers ---- */

void
imap_fetch_out_datetime(struct buf *out, int64_t t, int tz)
{
	/* 0000-01-01 00:00:00 and 9999-12-31 23:59:59 UTC */
	const int64_t lo = -62167219200LL, hi = 253402300799LL;
	struct tm tm;
	time_t local;
	unsigned a;

	if (tz > 23 * 60 + 59)
		tz = 23 * 60 + 59;
	if (tz < -(23 * 60 + 59))
		tz = -(23 * 60 + 59);
	/* clamp before adding the zone so the sum cannot overflow */
	if (t < lo)
		t = lo;
	if (t > hi)
		t = hi;
	t += (int64_t)tz * 60;
	local = (time_t)(t < lo ? lo : t > hi ? hi : t);
	if (gmtime_r(&local, &tm) == NULL)
		PANIC("gmtime_r failed on %" PRId64, t);
	a = (unsigned)(tz < 0 ? -tz : tz);
	buf_addf(out, "\"%02d-%s-%04d %02d:%02d:%02d %c%02u%02u\"",
	    tm.tm_mday, month[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, tz < 0 ? '-' : '+', a / 60, a % 60);
}

void
imap_fetch_out_objectid(struct buf *out, char prefix, uint32_t id)
{
	buf_addf(out, "%c%" PRIu32, prefix, id);
}

bool
imap_fetch_out_objectid_parse(const char *s, size_t len, char prefix,
    uint32_t *id_r)
{
	uint64_t v;

	if (len < 2 || s[0] != prefix || s[1] == '0' ||
	    parse_u64(s + 1, len - 1, UINT32_MAX, &v) < 0)
		return false;
	*id_r = (uint32_t)v;
	return true;
}

/* is_flag_atom - a keyword we may send as an atom (mail_keyword_is_valid) */
static bool
is_flag_atom(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x21 || c > 0x7e || strchr("(){]%*\"\\", c) != NULL)
			return false;
	}
	return true;
}

static void
write_flags(struct buf *out, unsigned session,
    const struct imap_fetch_out_msg *m)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} sys[] = {
		{ MAIL_F_ANSWERED, "\\Answered" },
		{ MAIL_F_FLAGGED, "\\Flagged" },
		{ MAIL_F_DELETED, "\\Deleted" },
		{ MAIL_F_SEEN, "\\Seen" },
		{ MAIL_F_DRAFT, "\\Draft" },
		{ MAIL_F_FORWARDED, "$Forwarded" },
		{ MAIL_F_JUNK, "$Junk" },
		{ MAIL_F_NOTJUNK, "$NotJunk" },
	};
	const char *sep = "";

	buf_add_str(out, "FLAGS (");
	for (size_t i = 0; i < ARRAY_SIZE(sys); i++) {
		if ((m->flags & sys[i].bit) == 0)
			continue;
		buf_addf(out, "%s%s", sep, sys[i].name);
		sep = " ";
	}
	for (const char *k = m->keywords; k != NULL && *k != '\0';) {
		size_t n = strcspn(k, " ");

		if (is_flag_atom(k, n)) {
			buf_add_str(out, sep);
			buf_add(out, k, n);
			sep = " ";
		}
		k += n;
		k += strspn(k, " ");
	}
	if (m->recent && (session & IMAP_FETCH_OUT_REV2) == 0)
		buf_addf(out, "%s\\Recent", sep);
	buf_add_str(out, ")");
}

static void
write_line_start(struct buf *out, unsigned session,
    const struct imap_fetch_out_msg *m)
{
	if (session & IMAP_FETCH_OUT_UIDONLY)
		buf_addf(out, "* %" PRIu32 " UIDFETCH (", m->uid);
	else
		buf_addf(out, "* %" PRIu32 " FETCH (", m->msn);
}

/* ---- what a list needs ---- */

void
imap_fetch_out_opts_init(struct imap_fetch_out_opts *opts,
    const struct imap_cmd *cmd, unsigned session)
{
	ASSERT(cmd->kind == IMAP_CMD_FETCH);
	memset(opts, 0, sizeof(*opts));
	opts->att = cmd->u.fetch.att;
	opts->natt = cmd->u.fetch.natt;
	opts->uid = cmd->uid;
	opts->changedsince = cmd->u.fetch.has_changedsince;
	opts->session = session;
}

static unsigned
att_needs(const struct imap_fetch_att *a)
{
	bool whole = a->section.spec.len == 0;

	switch (a->kind) {
	case IMAP_FETCH_ENVELOPE:
	case IMAP_FETCH_BODY:
	case IMAP_FETCH_BODYSTRUCTURE:
	case IMAP_FETCH_PREVIEW:
		return IMAP_FETCH_OUT_NEED_MIME;
	case IMAP_FETCH_BODY_SECTION:
	case IMAP_FETCH_BINARY:
		return whole ? IMAP_FETCH_OUT_NEED_BLOB :
		    IMAP_FETCH_OUT_NEED_MIME | IMAP_FETCH_OUT_NEED_PARTS |
		    IMAP_FETCH_OUT_NEED_BLOB;
	case IMAP_FETCH_BINARY_SIZE:
		return whole ? 0 : IMAP_FETCH_OUT_NEED_MIME |
		    IMAP_FETCH_OUT_NEED_PARTS;
	case IMAP_FETCH_RFC822:
		return IMAP_FETCH_OUT_NEED_BLOB;
	case IMAP_FETCH_RFC822_HEADER:
	case IMAP_FETCH_RFC822_TEXT:
		return IMAP_FETCH_OUT_NEED_MIME | IMAP_FETCH_OUT_NEED_PARTS |
		    IMAP_FETCH_OUT_NEED_BLOB;
	default:
		return 0;
	}
}

unsigned
imap_fetch_out_needs(const struct imap_fetch_out_opts *opts)
{
	unsigned need = 0;

	for (size_t i = 0; i < opts->natt; i++)
		need |= att_needs(&opts->att[i]);
	return need;
}

static bool
att_sets_seen(const struct imap_fetch_att *a)
{
	switch (a->kind) {
	case IMAP_FETCH_BODY_SECTION:
	case IMAP_FETCH_BINARY:
		return !a->peek;
	case IMAP_FETCH_RFC822:
	case IMAP_FETCH_RFC822_TEXT:
		return true;
	default:
		return false;
	}
}

bool
imap_fetch_out_sets_seen(const struct imap_fetch_out_opts *opts)
{
	if (opts->session & IMAP_FETCH_OUT_READ_ONLY)
		return false;
	for (size_t i = 0; i < opts->natt; i++)
		if (att_sets_seen(&opts->att[i]))
			return true;
	return false;
}

/* ---- render helpers ---- */

/* room - n more octets keep the line within max_response */
static bool
room(const struct render *r, uint64_t n)
{
	uint64_t used = r->out->len - r->start;

	if (r->o->max_response == 0)
		return true;
	return used <= r->o->max_response && n <= r->o->max_response - used;
}

/*
 * spend - n more octets to filter or decode.  Output is bounded by
 * max_response, but work that yields little (1,000 partials of a decoded
 * part, a HEADER.FIELDS of a huge header cut to nothing) is not: it is
 * bounded by four times as much.
 */
static bool
spend(struct render *r, uint64_t n)
{
	uint64_t max = r->o->max_response;

	if (max == 0)
		return true;
	max = max > UINT64_MAX / 4 ? UINT64_MAX : max * 4;
	if (r->work > max || n > max - r->work)
		return false;
	r->work += n;
	return true;
}

static void
item(struct render *r, const char *name)
{
	if (!r->first)
		buf_add_str(r->out, " ");
	r->first = false;
	buf_add_str(r->out, name);
}

static enum imap_fetch_out_res
get_blob(struct render *r)
{
	if (r->have_blob)
		return IMAP_FETCH_OUT_OK;
	if (r->m->blob == NULL) {
		buf_add_str(r->err, "message content not available");
		return IMAP_FETCH_OUT_ERROR;
	}
	if (r->m->blob(r->m->blob_arg, &r->blob, &r->blob_len, r->err) < 0)
		return IMAP_FETCH_OUT_ERROR;
	r->have_blob = true;
	if (r->blob == NULL && r->blob_len != 0) {
		buf_add_str(r->err, "blob callback gave no data");
		return IMAP_FETCH_OUT_ERROR;
	}
	/* the offsets of the MIME info index these bytes */
	if (r->mime != NULL && r->mime->size != r->blob_len) {
		buf_addf(r->err, "message is %zu octets, its MIME info says "
		    "%" PRIu64, r->blob_len, r->mime->size);
		return IMAP_FETCH_OUT_ERROR;
	}
	return IMAP_FETCH_OUT_OK;
}

static enum imap_fetch_out_res
get_mime(struct render *r)
{
	enum imap_fetch_out_res res;

	if (r->mime != NULL)
		return IMAP_FETCH_OUT_OK;
	if ((res = get_blob(r)) != IMAP_FETCH_OUT_OK)
		return res;
	if (mime_parse(r->blob, r->blob_len, NULL, &r->own_mime, r->err) < 0)
		return IMAP_FETCH_OUT_ERROR;
	r->mime = r->own_mime;
	return IMAP_FETCH_OUT_OK;
}

/* slice - the partial <off.count> of p[0..*n) */
static void
slice(const struct imap_fetch_att *a, const unsigned char **p, size_t *n)
{
	if (!a->has_partial)
		return;
	if (a->partial_off >= *n) {
		*n = 0;
		return;
	}
	*p += a->partial_off;
	*n -= (size_t)a->partial_off;
	if (a->partial_len < *n)
		*n = (size_t)a->partial_len;
}

/*
 * content - the content of a body item: "" when empty, else a literal;
 * binary: literal8 when it holds a NUL; else NUL goes out as 0x80
 */
static enum imap_fetch_out_res
content(struct render *r, const unsigned char *p, size_t n, bool binary)
{
	bool lit8;
	size_t run = 0;

	if (n == 0) {
		buf_add_str(r->out, "\"\"");
		return IMAP_FETCH_OUT_OK;
	}
	if (!room(r, (uint64_t)n + 32))
		return IMAP_FETCH_OUT_TOO_BIG;
	lit8 = binary && memchr(p, '\0', n) != NULL;
	buf_addf(r->out, "%s{%zu}\r\n", lit8 ? "~" : "", n);
	if (lit8) {
		buf_add(r->out, p, n);
		return IMAP_FETCH_OUT_OK;
	}
	/* memchr, not a byte loop: this copies every body FETCH sends */
	while (run < n) {
		const unsigned char *nul = memchr(p + run, '\0', n - run);
		size_t k = nul != NULL ? (size_t)(nul - p) : n;

		buf_add(r->out, p + run, k - run);
		if (nul == NULL)
			break;
		buf_add(r->out, "\x80", 1);
		run = k + 1;
	}
	return IMAP_FETCH_OUT_OK;
}

/* section_name - "[spec (fields)]<origin>" of a body item */
static void
section_name(struct render *r, const struct imap_fetch_att *a)
{
	const struct imap_section *s = &a->section;

	buf_add_str(r->out, "[");
	buf_add(r->out, s->spec.p, s->spec.len);
	if (s->text == IMAP_SECTION_HEADER_FIELDS ||
	    s->text == IMAP_SECTION_HEADER_FIELDS_NOT) {
		buf_add_str(r->out, " (");
		for (size_t i = 0; i < s->nfield; i++) {
			if (i > 0)
				buf_add_str(r->out, " ");
			imap_write_astring(r->out, s->field[i].p,
			    s->field[i].len, false);
		}
		buf_add_str(r->out, ")");
	}
	buf_add_str(r->out, "]");
	if (a->has_partial)
		buf_addf(r->out, "<%" PRIu64 ">", a->partial_off);
}

static bool
field_listed(const struct imap_section *s, const unsigned char *name,
    size_t n)
{
	for (size_t i = 0; i < s->nfield; i++)
		if (s->field[i].len == n &&
		    ascii_strncasecmp(s->field[i].p, (const char *)name,
		    n) == 0)
			return true;
	return false;
}

/*
 * header_filter - the fields of the header block h[0..len) that s lists
 * (HEADER.FIELDS) or does not (.NOT), exact bytes, then the empty line
 * that ends the block if it has one
 */
static void
header_filter(const unsigned char *h, size_t len,
    const struct imap_section *s, struct buf *out)
{
	bool invert = s->text == IMAP_SECTION_HEADER_FIELDS_NOT;
	size_t pos = 0, no, nl, vo, vl;

	while (mime_header_next(h, len, &pos, &no, &nl, &vo, &vl))
		if (field_listed(s, h + no, nl) != invert)
			buf_add(out, h + no, pos - no);
	/* the block is [hdr_start, body_start): the empty line is last */
	if (len >= 2 && h[len - 2] == '\r' && h[len - 1] == '\n' &&
	    (len == 2 || h[len - 3] == '\n'))
		buf_add(out, "\r\n", 2);
	else if (len >= 1 && h[len - 1] == '\n' &&
	    (len == 1 || h[len - 2] == '\n'))
		buf_add(out, "\n", 1);
}

/*
 * body_item - BODY[...] and RFC822*: name is the item's name; with_section
 * writes the section and origin after it (BODY), not for RFC822*
 */
static enum imap_fetch_out_res
body_item(struct render *r, const char *name, const struct imap_fetch_att *a,
    bool with_section)
{
	const struct imap_section *s = &a->section;
	const unsigned char *p = NULL;
	size_t n = 0;
	bool nil = false;
	enum imap_fetch_out_res res;

	if (s->spec.len > 0 && (res = get_mime(r)) != IMAP_FETCH_OUT_OK)
		return res;
	if ((res = get_blob(r)) != IMAP_FETCH_OUT_OK)
		return res;
	if (s->spec.len == 0) {
		p = r->blob;
		n = r->blob_len;
	} else {
		uint64_t start, len;

		if (mime_section(r->mime, s->spec.p, s->spec.len, &start,
		    &len, NULL) < 0) {
			nil = true;
		} else {
			p = r->blob + start;
			n = (size_t)len;
		}
		if (!nil && (s->text == IMAP_SECTION_HEADER_FIELDS ||
		    s->text == IMAP_SECTION_HEADER_FIELDS_NOT)) {
			if (!spend(r, n))
				return IMAP_FETCH_OUT_TOO_BIG;
			buf_reset(&r->tmp);
			header_filter(p, n, s, &r->tmp);
			p = r->tmp.data;
			n = r->tmp.len;
		}
	}
	item(r, name);
	if (with_section)
		section_name(r, a);
	buf_add_str(r->out, " ");
	if (nil) {
		buf_add_str(r->out, "NIL");
		return IMAP_FETCH_OUT_OK;
	}
	slice(a, &p, &n);
	return content(r, p, n, false);
}

/* is_known_cte - an encoding mime_part_decode() decodes or passes as is */
static bool
is_known_cte(const char *enc)
{
	static const char *const known[] = {
		"7bit", "8bit", "7-bit", "8-bit", "binary", "base64",
		"quoted-printable", "uuencode", "x-uuencode", "x-uue",
	};

	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (ascii_eq_nocase(enc, strlen(enc), known[i]))
			return true;
	return false;
}

/* binary_item - BINARY[...] and BINARY.SIZE[...] (RFC 3516) */
static enum imap_fetch_out_res
binary_item(struct render *r, const struct imap_fetch_att *a)
{
	const struct imap_section *s = &a->section;
	bool size_only = a->kind == IMAP_FETCH_BINARY_SIZE;
	const struct mime_part *part = NULL;
	const unsigned char *p = NULL;
	uint64_t start = 0, len = 0;
	uint32_t idx;
	size_t n;
	bool nil = false;
	enum imap_fetch_out_res res;

	if (s->spec.len > 0) {
		if ((res = get_mime(r)) != IMAP_FETCH_OUT_OK)
			return res;
		if (mime_section(r->mime, s->spec.p, s->spec.len, &start,
		    &len, &idx) < 0)
			nil = true;
		else
			part = &r->mime->parts[idx];
		if (part != NULL && part->kind == MIME_LEAF &&
		    !is_known_cte(part->encoding)) {
			buf_addf(r->err, "unknown Content-Transfer-Encoding "
			    "\"%.64s\" in part %s", part->encoding,
			    part->part_id);
			return IMAP_FETCH_OUT_UNKNOWN_CTE;
		}
	}
	if (size_only) {
		item(r, "BINARY.SIZE");
		section_name(r, a);
		buf_addf(r->out, " %" PRIu64, nil ? 0 : part == NULL ?
		    r->m->size : part->kind == MIME_LEAF ?
		    part->decoded_size : len);
		return IMAP_FETCH_OUT_OK;
	}
	if (!nil && (res = get_blob(r)) != IMAP_FETCH_OUT_OK)
		return res;
	if (nil) {
		/* nothing */
	} else if (part == NULL) {
		p = r->blob;
		n = r->blob_len;
	} else if (part->kind != MIME_LEAF) {
		p = r->blob + start;
		n = (size_t)len;
	} else {
		if (!spend(r, part->body_end - part->body_start))
			return IMAP_FETCH_OUT_TOO_BIG;
		buf_reset(&r->tmp);
		if (mime_part_decode(r->mime, idx, r->blob, r->blob_len,
		    &r->tmp) < 0) {
			buf_addf(r->err, "cannot decode part %s",
			    part->part_id);
			return IMAP_FETCH_OUT_ERROR;
		}
		p = r->tmp.data;
		n = r->tmp.len;
	}
	item(r, "BINARY");
	section_name(r, a);
	buf_add_str(r->out, " ");
	if (nil) {
		buf_add_str(r->out, "NIL");
		return IMAP_FETCH_OUT_OK;
	}
	slice(a, &p, &n);
	return content(r, p, n, true);
}

/* stored - ENVELOPE, BODY, BODYSTRUCTURE: a string made at delivery */
static enum imap_fetch_out_res
stored(struct render *r, const char *name, enum imap_fetch_kind kind)
{
	enum imap_fetch_out_res res;
	const char *s;
	size_t n;

	if ((res = get_mime(r)) != IMAP_FETCH_OUT_OK)
		return res;
	s = kind == IMAP_FETCH_ENVELOPE ? r->mime->envelope :
	    kind == IMAP_FETCH_BODY ? r->mime->body : r->mime->bodystructure;
	if (s == NULL) {
		buf_addf(r->err, "no stored %s", name);
		return IMAP_FETCH_OUT_ERROR;
	}
	n = strlen(s);
	if (!room(r, n))
		return IMAP_FETCH_OUT_TOO_BIG;
	item(r, name);
	buf_add_str(r->out, " ");
	buf_add(r->out, s, n);
	return IMAP_FETCH_OUT_OK;
}

static enum imap_fetch_out_res
preview(struct render *r)
{
	enum imap_fetch_out_res res;
	const char *s;

	if ((res = get_mime(r)) != IMAP_FETCH_OUT_OK)
		return res;
	s = r->mime->preview;
	item(r, "PREVIEW ");
	imap_write_nstring(r->out, s, s != NULL ? strlen(s) : 0,
	    (r->o->session & IMAP_FETCH_OUT_UTF8) != 0);
	return IMAP_FETCH_OUT_OK;
}

static void
objectid(struct render *r, const char *name, char prefix, uint32_t id)
{
	item(r, name);
	if (id == 0) {
		buf_add_str(r->out, " NIL");
		return;
	}
	buf_add_str(r->out, " (");
	imap_fetch_out_objectid(r->out, prefix, id);
	buf_add_str(r->out, ")");
}

static void
modseq(struct render *r)
{
	item(r, "MODSEQ");
	buf_addf(r->out, " (%" PRIu64 ")", r->m->modseq);
}

static void
flags(struct render *r)
{
	item(r, "");
	write_flags(r->out, r->o->session, r->m);
}

static enum imap_fetch_out_res
att(struct render *r, const struct imap_fetch_att *a)
{
	switch (a->kind) {
	case IMAP_FETCH_ENVELOPE:
		return stored(r, "ENVELOPE", a->kind);
	case IMAP_FETCH_BODY:
		return stored(r, "BODY", a->kind);
	case IMAP_FETCH_BODYSTRUCTURE:
		return stored(r, "BODYSTRUCTURE", a->kind);
	case IMAP_FETCH_FLAGS:
		flags(r);
		break;
	case IMAP_FETCH_INTERNALDATE:
		item(r, "INTERNALDATE ");
		imap_fetch_out_datetime(r->out, r->m->internal_date, r->m->tz);
		break;
	case IMAP_FETCH_RFC822_SIZE:
		item(r, "RFC822.SIZE");
		buf_addf(r->out, " %" PRIu64, r->m->size);
		break;
	case IMAP_FETCH_UID:
		item(r, "UID");
		buf_addf(r->out, " %" PRIu32, r->m->uid);
		break;
	case IMAP_FETCH_BODY_SECTION:
		return body_item(r, "BODY", a, true);
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		return binary_item(r, a);
	case IMAP_FETCH_RFC822:
	case IMAP_FETCH_RFC822_HEADER:
	case IMAP_FETCH_RFC822_TEXT: {
		struct imap_fetch_att b;
		const char *spec = a->kind == IMAP_FETCH_RFC822 ? "" :
		    a->kind == IMAP_FETCH_RFC822_HEADER ? "HEADER" : "TEXT";

		memset(&b, 0, sizeof(b));
		b.kind = IMAP_FETCH_BODY_SECTION;
		b.section.spec.p = spec;
		b.section.spec.len = strlen(spec);
		return body_item(r, a->kind == IMAP_FETCH_RFC822 ? "RFC822" :
		    a->kind == IMAP_FETCH_RFC822_HEADER ? "RFC822.HEADER" :
		    "RFC822.TEXT", &b, false);
	}
	case IMAP_FETCH_MODSEQ:
		modseq(r);
		break;
	case IMAP_FETCH_EMAILID:
		objectid(r, "EMAILID", 'M', r->m->email_id);
		break;
	case IMAP_FETCH_THREADID:
		objectid(r, "THREADID", 'T', r->m->thread_id);
		break;
	case IMAP_FETCH_SAVEDATE:
		item(r, "SAVEDATE ");
		if (r->m->has_savedate)
			imap_fetch_out_datetime(r->out, r->m->savedate,
			    r->m->tz);
		else
			buf_add_str(r->out, "NIL");
		break;
	case IMAP_FETCH_PREVIEW:
		return preview(r);
	}
	return IMAP_FETCH_OUT_OK;
}

static bool
requested(const struct imap_fetch_out_opts *o, enum imap_fetch_kind kind)
{
	for (size_t i = 0; i < o->natt; i++)
		if (o->att[i].kind == kind)
			return true;
	return false;
}

enum imap_fetch_out_res
imap_fetch_out_render(struct buf *out, const struct imap_fetch_out_opts *o,
    const struct imap_fetch_out_msg *m, bool *set_seen_r, struct buf *err)
{
	struct render r;
	enum imap_fetch_out_res res = IMAP_FETCH_OUT_OK;
	uint32_t done = 0;	/* simple kinds written, by bit */

	ASSERT(out->max == 0);
	memset(&r, 0, sizeof(r));
	r.out = out;
	r.o = o;
	r.m = m;
	r.err = err;
	r.start = out->len;
	r.first = true;
	r.mime = m->mime;
	buf_init(&r.tmp, 0);

	write_line_start(out, o->session, m);
	if (o->uid && (o->session & IMAP_FETCH_OUT_UIDONLY) == 0 &&
	    !requested(o, IMAP_FETCH_UID)) {
		item(&r, "UID");
		buf_addf(out, " %" PRIu32, m->uid);
	}
	for (size_t i = 0; i < o->natt && res == IMAP_FETCH_OUT_OK; i++) {
		const struct imap_fetch_att *a = &o->att[i];

		if (SIMPLE_KIND(a->kind)) {
			if (done & (1u << a->kind))
				continue;
			done |= 1u << a->kind;
		}
		res = att(&r, a);
		if (res == IMAP_FETCH_OUT_OK && !room(&r, 0))
			res = IMAP_FETCH_OUT_TOO_BIG;
	}
	if (res == IMAP_FETCH_OUT_OK) {
		if (m->flags_changed && !requested(o, IMAP_FETCH_FLAGS))
			flags(&r);
		if ((o->changedsince || (m->flags_changed &&
		    (o->session & IMAP_FETCH_OUT_CONDSTORE))) &&
		    !requested(o, IMAP_FETCH_MODSEQ))
			modseq(&r);
		buf_add_str(out, ")\r\n");
	}
	if (res != IMAP_FETCH_OUT_OK)
		buf_truncate(out, r.start);
	else if (set_seen_r != NULL)
		*set_seen_r = (m->flags & MAIL_F_SEEN) == 0 &&
		    imap_fetch_out_sets_seen(o);
	if (res == IMAP_FETCH_OUT_TOO_BIG)
		buf_addf(err, "FETCH response over %" PRIu64 " octets",
		    o->max_response);
	buf_free(&r.tmp);
	mime_info_free(&r.own_mime);
	return res;
}

void
imap_fetch_out_store(struct buf *out, unsigned session,
    const struct imap_fetch_out_msg *m, unsigned items)
{
	const char *sep = "";

	if (session & IMAP_FETCH_OUT_UIDONLY)
		items &= ~IMAP_FETCH_OUT_ST_UID;
	if ((items & (IMAP_FETCH_OUT_ST_FLAGS | IMAP_FETCH_OUT_ST_UID |
	    IMAP_FETCH_OUT_ST_MODSEQ)) == 0)
		return;
	write_line_start(out, session, m);
	if (items & IMAP_FETCH_OUT_ST_UID) {
		buf_addf(out, "UID %" PRIu32, m->uid);
		sep = " ";
	}
	if (items & IMAP_FETCH_OUT_ST_FLAGS) {
		buf_add_str(out, sep);
		write_flags(out, session, m);
		sep = " ";
	}
	if (items & IMAP_FETCH_OUT_ST_MODSEQ)
		buf_addf(out, "%sMODSEQ (%" PRIu64 ")", sep, m->modseq);
	buf_add_str(out, ")\r\n");
}
