/*
 * imap_fetch.c - FETCH (RFC 9051 6.4.5, RFC 3501 6.4.5): the macros ALL,
 * FAST and FULL (expanded here), every fetch-att of RFC 9051 and RFC 3501
 * (RFC822, RFC822.HEADER, RFC822.TEXT), BINARY[.PEEK] and BINARY.SIZE
 * (RFC 3516), MODSEQ (RFC 7162), EMAILID/THREADID (RFC 8474), SAVEDATE
 * (RFC 8514), PREVIEW [(LAZY)] (RFC 8970); sections with part numbers,
 * HEADER, HEADER.FIELDS[.NOT] (names checked as RFC 5322 ftext), TEXT and
 * MIME, partial <off.len>; the modifiers CHANGEDSINCE, VANISHED (RFC 7162
 * 3.1.4, 3.2.6: VANISHED needs UID FETCH and CHANGEDSINCE) and PARTIAL
 * (RFC 9394).
 */
#include <string.h>

#include "common/buf.h"
#include "imap-jmap/imap_parse_priv.h"

static const struct {
	const char *name;
	enum imap_fetch_kind kind;
	bool peek;
} atts[] = {
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE, false },
	{ "FLAGS", IMAP_FETCH_FLAGS, false },
	{ "INTERNALDATE", IMAP_FETCH_INTERNALDATE, false },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE, false },
	{ "BODY", IMAP_FETCH_BODY, false },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE, false },
	{ "UID", IMAP_FETCH_UID, false },
	{ "BODY.PEEK", IMAP_FETCH_BODY_SECTION, true },
	{ "BINARY", IMAP_FETCH_BINARY, false },
	{ "BINARY.PEEK", IMAP_FETCH_BINARY, true },
	{ "BINARY.SIZE", IMAP_FETCH_BINARY_SIZE, false },
	{ "RFC822", IMAP_FETCH_RFC822, false },
	{ "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER, false },
	{ "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT, false },
	{ "MODSEQ", IMAP_FETCH_MODSEQ, false },
	{ "EMAILID", IMAP_FETCH_EMAILID, false },
	{ "THREADID", IMAP_FETCH_THREADID, false },
	{ "SAVEDATE", IMAP_FETCH_SAVEDATE, false },
	{ "PREVIEW", IMAP_FETCH_PREVIEW, false },
};

static const char *const section_texts[] = {
	[IMAP_SECTION_NONE] = "",
	[IMAP_SECTION_HEADER] = "HEADER",
	[IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
	[IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
	[IMAP_SECTION_TEXT] = "TEXT",
	[IMAP_SECTION_MIME] = "MIME",
};

const char *
imap_fetch_name(const struct imap_fetch_att *att)
{
	if (att->kind == IMAP_FETCH_BODY_SECTION)
		return att->peek ? "BODY.PEEK" : "BODY";
	for (size_t i = 0; i < ARRAY_SIZE(atts); i++)
		if (atts[i].kind == att->kind && atts[i].peek == att->peek)
			return atts[i].name;
	return NULL;
}

/* header-fld-name: RFC 5322 ftext, printable ASCII but ":" */
static bool
is_field_name(const struct imap_str *s)
{
	if (s->len == 0)
		return false;
	for (size_t i = 0; i < s->len; i++) {
		unsigned char c = (unsigned char)s->p[i];

		if (c < 33 || c > 126 || c == ':')
			return false;
	}
	return true;
}

/* header-list = "(" header-fld-name *(SP header-fld-name) ")" */
static bool
header_list(struct imap_lex *lx, struct imap_section *sec)
{
	struct lex_vec f;

	lex_vec_init(&f, sizeof(struct imap_str));
	if (!lex_sp(lx) || !lex_open(lx))
		return false;
	for (bool first = true; first || !lex_at_close(lx); first = false) {
		struct imap_str *s = lex_vec_push(lx, &f);

		if (s == NULL || (!first && !lex_sp(lx)) ||
		    !lex_astring(lx, s))
			return false;
		if (!is_field_name(s))
			return lex_fail(lx, "Invalid header field name");
	}
	sec->field = f.v;
	sec->nfield = f.n;
	return lex_close(lx);
}

/* spec - the section-spec text for mime_section() */
static void
spec(struct imap_lex *lx, struct imap_section *sec)
{
	struct buf b;

	buf_init(&b, 0);
	for (size_t i = 0; i < sec->npart; i++)
		buf_addf(&b, "%s%u", i > 0 ? "." : "", sec->part[i]);
	if (sec->text != IMAP_SECTION_NONE)
		buf_addf(&b, "%s%s", sec->npart > 0 ? "." : "",
		    section_texts[sec->text]);
	sec->spec.len = b.len;
	sec->spec.p = imap_arena_strndup(lx->a, b.data != NULL ?
	    (const char *)b.data : "", b.len);
	buf_free(&b);
}

/* "[" [section-spec] "]" or, binary, "[" [section-part] "]" */
static bool
section(struct imap_lex *lx, struct imap_section *sec, bool binary)
{
	struct lex_vec parts;
	bool dot = false;

	lex_vec_init(&parts, sizeof(uint32_t));
	if (!lex_char(lx, '[', "Expected \"[\""))
		return false;
	while (is_ascii_digit(lex_peek(lx))) {
		uint32_t *n = lex_vec_push(lx, &parts);

		if (n == NULL || !lex_nz_u32(lx, n))
			return false;
		if (lex_peek(lx) != '.')
			break;
		lx->pos++;
		dot = true;
		if (!is_ascii_digit(lex_peek(lx)))
			break;		/* "1.HEADER", a text after the dot */
		dot = false;
	}
	sec->part = parts.v;
	sec->npart = parts.n;
	if ((binary || parts.n > 0) && lex_peek(lx) != ']' && !dot)
		return lex_fail(lx, "Invalid section");
	if (binary && dot)
		return lex_fail(lx, "Invalid section");
	if (!binary && (lex_peek(lx) != ']' || dot)) {
		const char *p;
		size_t n, t;

		if (!lex_keyword(lx, &p, &n))
			return false;
		for (t = 1; t < ARRAY_SIZE(section_texts); t++)
			if (lex_is(p, n, section_texts[t]))
				break;
		if (t == ARRAY_SIZE(section_texts) ||
		    (t == IMAP_SECTION_MIME && parts.n == 0))
			return lex_fail(lx, "Invalid section");
		sec->text = (enum imap_section_text)t;
		if ((t == IMAP_SECTION_HEADER_FIELDS ||
		    t == IMAP_SECTION_HEADER_FIELDS_NOT) &&
		    !header_list(lx, sec))
			return false;
	}
	if (!lex_char(lx, ']', "Invalid section"))
		return false;
	spec(lx, sec);
	return true;
}

/* partial = "<" number64 "." nz-number64 ">" */
static bool
partial(struct imap_lex *lx, struct imap_fetch_att *a)
{
	if (lex_peek(lx) != '<')
		return true;
	lx->pos++;
	a->has_partial = true;
	return lex_number(lx, IMAP_NUMBER64_MAX, &a->partial_off) &&
	    lex_char(lx, '.', "Invalid partial") &&
	    lex_nz_number(lx, IMAP_NUMBER64_MAX, &a->partial_len) &&
	    lex_char(lx, '>', "Invalid partial");
}

/* at_lazy - " (LAZY" follows: PREVIEW's modifiers, not fetch modifiers */
static bool
at_lazy(struct imap_lex *lx)
{
	struct imap_lex peek = *lx;

	if (lex_peek(lx) != ' ' || lx->pos + 1 >= lx->len ||
	    lx->s[lx->pos + 1] != '(')
		return false;
	peek.pos += 2;
	return lex_peek_keyword(&peek, "LAZY");
}

static bool
att(struct imap_lex *lx, struct imap_fetch_att *a)
{
	const char *p;
	size_t n, i;

	if (!lex_keyword(lx, &p, &n))
		return false;
	for (i = 0; i < ARRAY_SIZE(atts); i++)
		if (lex_is(p, n, atts[i].name))
			break;
	if (i == ARRAY_SIZE(atts))
		return lex_fail(lx, "Invalid fetch attribute");
	a->kind = atts[i].kind;
	a->peek = atts[i].peek;
	switch (a->kind) {
	case IMAP_FETCH_BODY:
		if (lex_peek(lx) != '[')
			return true;
		a->kind = IMAP_FETCH_BODY_SECTION;
		/* FALLTHROUGH */
	case IMAP_FETCH_BODY_SECTION:
		return section(lx, &a->section, false) && partial(lx, a);
	case IMAP_FETCH_BINARY:
		return section(lx, &a->section, true) && partial(lx, a);
	case IMAP_FETCH_BINARY_SIZE:
		return section(lx, &a->section, true);
	case IMAP_FETCH_PREVIEW:
		if (!at_lazy(lx))
			return true;
		lx->pos++;
		if (!lex_open(lx))
			return false;
		for (bool first = true; first || !lex_at_close(lx);
		    first = false) {
			if ((!first && !lex_sp(lx)) || !lex_keyword(lx, &p, &n))
				return false;
			if (!lex_is(p, n, "LAZY"))
				return lex_fail(lx, "Unknown PREVIEW modifier");
		}
		a->lazy = true;
		return lex_close(lx);
	default:
		return true;
	}
}

bool
imap_parse_fetch_atts(struct imap_lex *lx, const struct imap_fetch_att **out,
    size_t *n)
{
	struct lex_vec v;

	lex_vec_init(&v, sizeof(struct imap_fetch_att));
	if (!lex_open(lx))
		return false;
	for (bool first = true; first || !lex_at_close(lx); first = false) {
		struct imap_fetch_att *a = lex_vec_push(lx, &v);

		if (a == NULL || (!first && !lex_sp(lx)) || !att(lx, a))
			return false;
	}
	*out = v.v;
	*n = v.n;
	return lex_close(lx);
}

/* macro - ALL, FAST, FULL (RFC 9051 6.4.5): the first n of full[] */
static bool
macro(struct imap_lex *lx, struct imap_fetch *f)
{
	static const enum imap_fetch_kind full[] = {
		IMAP_FETCH_FLAGS, IMAP_FETCH_INTERNALDATE,
		IMAP_FETCH_RFC822_SIZE, IMAP_FETCH_ENVELOPE, IMAP_FETCH_BODY,
	};
	static const struct {
		const char *name;
		size_t n;
	} macros[] = { { "ALL", 4 }, { "FAST", 3 }, { "FULL", 5 } };

	for (size_t m = 0; m < ARRAY_SIZE(macros); m++) {
		struct imap_fetch_att *a;

		if (!lex_peek_keyword(lx, macros[m].name))
			continue;
		lx->pos += strlen(macros[m].name);
		a = imap_arena_array(lx->a, macros[m].n, sizeof(*a));
		for (size_t i = 0; i < macros[m].n; i++)
			a[i].kind = full[i];
		f->att = a;
		f->natt = macros[m].n;
		f->paren = true;
		return true;
	}
	return false;
}

/* (CHANGEDSINCE n / VANISHED / PARTIAL range) modifiers */
static bool
modifiers(struct imap_lex *lx, struct imap_fetch *f)
{
	if (!lex_open(lx))
		return false;
	for (bool first = true; first || !lex_at_close(lx); first = false) {
		const char *p;
		size_t n;

		if ((!first && !lex_sp(lx)) || !lex_keyword(lx, &p, &n))
			return false;
		if (lex_is(p, n, "CHANGEDSINCE") && !f->has_changedsince) {
			f->has_changedsince = true;
			if (!lex_sp(lx) || !lex_number(lx, IMAP_NUMBER64_MAX,
			    &f->changedsince))
				return false;
			if (f->changedsince == 0)
				return lex_fail(lx, "CHANGEDSINCE 0");
		} else if (lex_is(p, n, "VANISHED") && !f->vanished) {
			f->vanished = true;
		} else if (lex_is(p, n, "PARTIAL") && !f->has_partial) {
			f->has_partial = true;
			if (!lex_sp(lx) || !lex_partial_range(lx, &f->partial))
				return false;
		} else {
			return lex_fail(lx, "Unknown or repeated FETCH "
			    "modifier");
		}
	}
	if (f->vanished && !(lx->uid && f->has_changedsince))
		return lex_fail(lx, "VANISHED needs UID FETCH and "
		    "CHANGEDSINCE");
	return lex_close(lx);
}

/* FETCH SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
 *     "(" fetch-att *(SP fetch-att) ")") [SP "(" modifiers ")"] */
bool
imap_parse_fetch(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_fetch *f = &cmd->u.fetch;

	if (!lex_sp(lx) || !lex_seqset(lx, &f->set) || !lex_sp(lx))
		return false;
	if (lex_peek(lx) == '(') {
		f->paren = true;
		if (!imap_parse_fetch_atts(lx, &f->att, &f->natt))
			return false;
	} else if (!macro(lx, f)) {
		struct imap_fetch_att *a = imap_arena_alloc(lx->a,
		    sizeof(*a));

		if (!att(lx, a))
			return false;
		f->att = a;
		f->natt = 1;
	}
	if (lex_peek(lx) != ' ')
		return true;
	lx->pos++;
	return modifiers(lx, f);
}
