/*
 * imap_lex.c - the tokens of IMAP commands (RFC 9051 9, RFC 3501 9):
 * atoms, astrings, quoted strings, literals, numbers, sequence sets,
 * dates, mailbox names.  Each reader consumes its token and returns
 * true, or records the first error in the lexer and returns false.
 *
 * A reader that runs into the end of a prefix (the text of a command
 * whose next literal has not arrived, see imap_parse.h) sets hit_end: the
 * framer then knows the command is fine so far.  The framer has already
 * checked that literal markers sit at line ends outside quoted strings;
 * here a marker must also match the next literal's recorded position,
 * so grammar and framing can never disagree about where data is.
 *
 * Strings are copied into the arena with a NUL; literal data is used
 * where it lies (it is in the arena already).
 */
#include <string.h>

#include "common/buf.h"
#include "imap-jmap/imap_parse_priv.h"

const char *const imap_month_name[12] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

bool
imap_is_atom_char(unsigned char c)
{
	/* CHAR minus atom-specials: ( ) { SP CTL % * " \ ] */
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

bool
imap_is_astring_char(unsigned char c)
{
	/* 8-bit: leniency, see imap_parse.h */
	return imap_is_atom_char(c) || c == ']' || c >= 0x80;
}

bool
imap_is_tag_char(unsigned char c)
{
	return (imap_is_atom_char(c) || c == ']') && c != '+';
}

bool
imap_is_base64(const char *s, size_t len)
{
	size_t pad = 0;

	if (len % 4 != 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '=') {
			if (len - i > 2)
				return false;	/* "=" only in the last two */
			pad++;
		} else if (pad > 0 || !(is_ascii_alnum(c) || c == '+' ||
		    c == '/')) {
			return false;
		}
	}
	return true;
}

static bool
is_list_char(unsigned char c)
{
	return imap_is_astring_char(c) || c == '%' || c == '*';
}

bool
lex_fail(struct imap_lex *lx, const char *text)
{
	return lex_fail_code(lx, text, NULL, false);
}

bool
lex_fail_code(struct imap_lex *lx, const char *text, const char *code,
    bool is_no)
{
	if (lx->err == NULL) {
		lx->err = text;
		lx->code = code;
		lx->err_no = is_no;
	}
	return false;
}

bool
lex_need(struct imap_lex *lx)
{
	if (lx->pos < lx->len)
		return true;
	if (lx->prefix)
		lx->hit_end = true;
	return lex_fail(lx, "Missing argument");
}

int
lex_peek(const struct imap_lex *lx)
{
	return lx->pos < lx->len ? (unsigned char)lx->s[lx->pos] : -1;
}

bool
lex_end(struct imap_lex *lx)
{
	if (lx->pos < lx->len)
		return lex_fail(lx, lx->s[lx->pos] == ' ' ?
		    "Unexpected extra argument" : "Unexpected character");
	if (lx->prefix) {
		lx->hit_end = true;
		return false;
	}
	if (lx->next_lit != lx->nlit)
		return lex_fail(lx, "Literal out of place");
	return true;
}

bool
lex_char(struct imap_lex *lx, char c, const char *what)
{
	if (!lex_need(lx))
		return false;
	if (lx->s[lx->pos] != c)
		return lex_fail(lx, what);
	lx->pos++;
	return true;
}

bool
lex_sp(struct imap_lex *lx)
{
	return lex_char(lx, ' ', "Expected a space");
}

bool
lex_open(struct imap_lex *lx)
{
	if (!lex_char(lx, '(', "Expected \"(\""))
		return false;
	if (++lx->depth > lx->lim->max_depth)
		return lex_fail(lx, "Too deeply nested");
	return true;
}

bool
lex_close(struct imap_lex *lx)
{
	if (!lex_char(lx, ')', "Expected \")\""))
		return false;
	lx->depth--;
	return true;
}

bool
lex_at_close(const struct imap_lex *lx)
{
	return lex_peek(lx) == ')';
}

bool
lex_keyword(struct imap_lex *lx, const char **p, size_t *len)
{
	size_t start = lx->pos;

	if (!lex_need(lx))
		return false;
	while (lx->pos < lx->len &&
	    imap_is_atom_char((unsigned char)lx->s[lx->pos]) &&
	    lx->s[lx->pos] != '[')
		lx->pos++;
	if (lx->pos == start)
		return lex_fail(lx, "Expected a keyword");
	*p = lx->s + start;
	*len = lx->pos - start;
	return true;
}

bool
lex_is(const char *p, size_t len, const char *lit)
{
	return ascii_eq_nocase(p, len, lit);
}

bool
lex_peek_keyword(const struct imap_lex *lx, const char *lit)
{
	size_t n = strlen(lit), i = lx->pos;

	if (n > lx->len - i || ascii_strncasecmp(lx->s + i, lit, n) != 0)
		return false;
	i += n;
	return i == lx->len || !imap_is_atom_char((unsigned char)lx->s[i]) ||
	    lx->s[i] == '[';
}

static struct imap_str
copy_str(struct imap_lex *lx, const char *p, size_t n)
{
	struct imap_str s = { imap_arena_strndup(lx->a, p, n), n };

	return s;
}

bool
lex_atom(struct imap_lex *lx, struct imap_str *out)
{
	size_t start = lx->pos;

	if (!lex_need(lx))
		return false;
	while (lx->pos < lx->len &&
	    imap_is_atom_char((unsigned char)lx->s[lx->pos]))
		lx->pos++;
	if (lx->pos == start)
		return lex_fail(lx, "Expected an atom");
	*out = copy_str(lx, lx->s + start, lx->pos - start);
	return true;
}

/* quoted = DQUOTE *QUOTED-CHAR DQUOTE; "\" escapes only DQUOTE and "\" */
static bool
lex_quoted(struct imap_lex *lx, struct imap_str *out)
{
	size_t i = lx->pos + 1, n = 0;
	char *d;

	for (;; i++) {
		unsigned char c;

		if (i >= lx->len) {
			lx->pos = i;
			return lex_fail(lx, "Unterminated quoted string");
		}
		c = (unsigned char)lx->s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if (i + 1 >= lx->len || (lx->s[i + 1] != '"' &&
			    lx->s[i + 1] != '\\'))
				return lex_fail(lx,
				    "Invalid escape in quoted string");
			i++;
		} else if (c == '\0' || c == '\r' || c == '\n') {
			return lex_fail(lx,
			    "Invalid character in quoted string");
		}
		n++;
	}
	d = imap_arena_alloc(lx->a, n + 1);
	n = 0;
	for (size_t j = lx->pos + 1; j < i; j++) {
		if (lx->s[j] == '\\')
			j++;
		d[n++] = lx->s[j];
	}
	d[n] = '\0';
	out->p = d;
	out->len = n;
	lx->pos = i + 1;
	return true;
}

bool
lex_at_literal(const struct imap_lex *lx)
{
	int c = lex_peek(lx);

	return c == '{' || (c == '~' && lx->pos + 1 < lx->len &&
	    lx->s[lx->pos + 1] == '{');
}

bool
lex_literal(struct imap_lex *lx, unsigned flags, struct imap_str *out,
    bool *binary_r)
{
	size_t p = lx->pos, digits;
	bool lit8 = false;

	if (!lex_need(lx))
		return false;
	if (lx->s[p] == '~') {
		lit8 = true;
		p++;
	}
	if (p >= lx->len || lx->s[p] != '{')
		return lex_fail(lx, "Expected a literal");
	digits = ++p;
	while (p < lx->len && is_ascii_digit((unsigned char)lx->s[p]))
		p++;
	if (p == digits)
		return lex_fail(lx, "Invalid literal");
	if (p < lx->len && lx->s[p] == '+')
		p++;
	if (p >= lx->len || lx->s[p] != '}')
		return lex_fail(lx, "Invalid literal");
	p++;
	if (lit8 && !(flags & LEX_LIT8))
		return lex_fail(lx, "literal8 not allowed here");
	if (lx->next_lit < lx->nlit && lx->lit[lx->next_lit].end == p) {
		const struct imap_lit *l = &lx->lit[lx->next_lit];

		if (l->has_nul && !(flags & LEX_NUL))
			return lex_fail(lx, "NUL octet in a literal");
		out->p = l->data;
		out->len = l->len;
		if (binary_r != NULL)
			*binary_r = l->lit8;
		lx->next_lit++;
		lx->pos = p;
		return true;
	}
	if (lx->prefix && p == lx->len) {
		lx->hit_end = true;
		if (flags & LEX_MESSAGE)
			lx->pending_message = true;
		return lex_fail(lx, "Literal data missing");
	}
	return lex_fail(lx, "A literal must end the line");
}

bool
lex_string(struct imap_lex *lx, struct imap_str *out)
{
	if (!lex_need(lx))
		return false;
	if (lx->s[lx->pos] == '"')
		return lex_quoted(lx, out);
	if (lex_at_literal(lx))
		return lex_literal(lx, 0, out, NULL);
	return lex_fail(lx, "Expected a string");
}

bool
lex_astring(struct imap_lex *lx, struct imap_str *out)
{
	size_t start = lx->pos;

	if (!lex_need(lx))
		return false;
	if (lx->s[lx->pos] == '"' || lex_at_literal(lx))
		return lex_string(lx, out);
	while (lx->pos < lx->len &&
	    imap_is_astring_char((unsigned char)lx->s[lx->pos]))
		lx->pos++;
	if (lx->pos == start)
		return lex_fail(lx, "Expected a string");
	*out = copy_str(lx, lx->s + start, lx->pos - start);
	return true;
}

bool
lex_nstring(struct imap_lex *lx, struct imap_str *out)
{
	if (lex_peek_keyword(lx, "NIL")) {
		lx->pos += 3;
		out->p = NULL;
		out->len = 0;
		return true;
	}
	return lex_string(lx, out);
}

static bool
digits(struct imap_lex *lx, bool nz, uint64_t max, uint64_t *v)
{
	size_t start = lx->pos;

	if (!lex_need(lx))
		return false;
	while (lx->pos < lx->len &&
	    is_ascii_digit((unsigned char)lx->s[lx->pos]))
		lx->pos++;
	if (lx->pos == start)
		return lex_fail(lx, "Expected a number");
	if (nz && lx->s[start] == '0')
		return lex_fail(lx, "Expected a non-zero number");
	if (parse_u64(lx->s + start, lx->pos - start, max, v) < 0)
		return lex_fail(lx, "Number out of range");
	return true;
}

bool
lex_number(struct imap_lex *lx, uint64_t max, uint64_t *v)
{
	return digits(lx, false, max, v);
}

bool
lex_nz_number(struct imap_lex *lx, uint64_t max, uint64_t *v)
{
	return digits(lx, true, max, v);
}

bool
lex_u32(struct imap_lex *lx, uint32_t *v)
{
	uint64_t x;

	if (!digits(lx, false, UINT32_MAX, &x))
		return false;
	*v = (uint32_t)x;
	return true;
}

bool
lex_nz_u32(struct imap_lex *lx, uint32_t *v)
{
	uint64_t x;

	if (!digits(lx, true, UINT32_MAX, &x))
		return false;
	*v = (uint32_t)x;
	return true;
}

void
lex_vec_init(struct lex_vec *vec, size_t size)
{
	vec->v = NULL;
	vec->n = vec->cap = 0;
	vec->size = size;
}

void *
lex_vec_push(struct imap_lex *lx, struct lex_vec *vec)
{
	if (vec->n >= lx->lim->max_items) {
		lex_fail(lx, "Too many items in a list");
		return NULL;
	}
	if (vec->n == vec->cap) {
		size_t cap = vec->cap == 0 ? 4 : vec->cap * 2;
		void *v = imap_arena_array(lx->a, cap, vec->size);

		if (vec->n > 0)
			memcpy(v, vec->v, vec->n * vec->size);
		vec->v = v;
		vec->cap = cap;
	}
	return (char *)vec->v + vec->size * vec->n++;
}

/* seq-number = nz-number / "*" */
static bool
seq_number(struct imap_lex *lx, uint32_t *v)
{
	if (lex_peek(lx) == '*') {
		lx->pos++;
		*v = IMAP_SEQ_STAR;
		return true;
	}
	return lex_nz_u32(lx, v);
}

bool
lex_seqset(struct imap_lex *lx, struct imap_seqset *out)
{
	struct lex_vec vec;

	memset(out, 0, sizeof(*out));
	if (lex_peek(lx) == '$') {
		lx->pos++;
		out->saved = true;
		return true;
	}
	lex_vec_init(&vec, sizeof(struct imap_seq_range));
	for (;;) {
		struct imap_seq_range *r = lex_vec_push(lx, &vec);

		if (r == NULL || !seq_number(lx, &r->lo))
			return false;
		r->hi = r->lo;
		if (lex_peek(lx) == ':') {
			lx->pos++;
			if (!seq_number(lx, &r->hi))
				return false;
		}
		if (lex_peek(lx) != ',')
			break;
		lx->pos++;
	}
	out->r = vec.v;
	out->n = vec.n;
	return true;
}

static unsigned
days_in_month(unsigned year, unsigned month)
{
	static const unsigned char days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
	};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

/* n_digits - exactly n digits (n <= 4) */
static bool
n_digits(struct imap_lex *lx, size_t n, unsigned *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!lex_need(lx))
			return false;
		if (!is_ascii_digit((unsigned char)lx->s[lx->pos]))
			return lex_fail(lx, "Invalid date");
		*v = *v * 10 + (unsigned)(lx->s[lx->pos++] - '0');
	}
	return true;
}

/* "-" date-month "-" date-year, after the day */
static bool
month_year(struct imap_lex *lx, unsigned day, struct imap_date *out)
{
	unsigned year, month = 0;

	if (!lex_char(lx, '-', "Invalid date"))
		return false;
	if (!lex_need(lx))
		return false;
	for (unsigned m = 0; m < 12; m++)
		if (lx->len - lx->pos >= 3 &&
		    ascii_strncasecmp(lx->s + lx->pos, imap_month_name[m],
		    3) == 0)
			month = m + 1;
	if (month == 0)
		return lex_fail(lx, "Invalid month in date");
	lx->pos += 3;
	if (!lex_char(lx, '-', "Invalid date") || !n_digits(lx, 4, &year))
		return false;
	if (day < 1 || day > days_in_month(year, month))
		return lex_fail(lx, "Invalid day in date");
	out->year = (uint16_t)year;
	out->month = (uint8_t)month;
	out->day = (uint8_t)day;
	return true;
}

bool
lex_date(struct imap_lex *lx, struct imap_date *out)
{
	bool quoted = lex_peek(lx) == '"';
	unsigned day, d2;

	if (quoted)
		lx->pos++;
	if (!n_digits(lx, 1, &day))
		return false;
	if (is_ascii_digit(lex_peek(lx))) {
		if (!n_digits(lx, 1, &d2))
			return false;
		day = day * 10 + d2;
	}
	if (!month_year(lx, day, out))
		return false;
	return !quoted || lex_char(lx, '"', "Invalid date");
}

bool
lex_datetime(struct imap_lex *lx, struct imap_datetime *out)
{
	unsigned day, d2, h, m, s, zh, zm;
	int sign;

	if (!lex_char(lx, '"', "Expected a date-time"))
		return false;
	/* date-day-fixed: SP DIGIT / 2DIGIT; a lone digit is accepted */
	if (lex_peek(lx) == ' ')
		lx->pos++;
	if (!n_digits(lx, 1, &day))
		return false;
	if (is_ascii_digit(lex_peek(lx))) {
		if (!n_digits(lx, 1, &d2))
			return false;
		day = day * 10 + d2;
	}
	if (!month_year(lx, day, &out->date) || !lex_sp(lx) ||
	    !n_digits(lx, 2, &h) || !lex_char(lx, ':', "Invalid time") ||
	    !n_digits(lx, 2, &m) || !lex_char(lx, ':', "Invalid time") ||
	    !n_digits(lx, 2, &s) || !lex_sp(lx) || !lex_need(lx))
		return false;
	if (h > 23 || m > 59 || s > 60)
		return lex_fail(lx, "Invalid time");
	if (lx->s[lx->pos] != '+' && lx->s[lx->pos] != '-')
		return lex_fail(lx, "Invalid time zone");
	sign = lx->s[lx->pos++] == '-' ? -1 : 1;
	if (!n_digits(lx, 2, &zh) || !n_digits(lx, 2, &zm))
		return false;
	if (zm > 59)
		return lex_fail(lx, "Invalid time zone");
	if (!lex_char(lx, '"', "Invalid date-time"))
		return false;
	out->hour = (uint8_t)h;
	out->min = (uint8_t)m;
	out->sec = (uint8_t)s;
	out->zone = (int16_t)(sign * (int)(zh * 60 + zm));
	return true;
}

int64_t
imap_datetime_to_unix(const struct imap_datetime *dt)
{
	/* days from civil (Howard Hinnant's algorithm), no timegm/TZ */
	int64_t y = dt->date.year, m = dt->date.month, d = dt->date.day;
	int64_t era, yoe, doy, doe, days;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	days = era * 146097 + doe - 719468;
	return days * 86400 + dt->hour * 3600 + dt->min * 60 + dt->sec -
	    (int64_t)dt->zone * 60;
}

/* decode_mailbox - raw (as sent) to the UTF-8 name, see imap_parse.h */
static bool
decode_mailbox(struct imap_lex *lx, struct imap_str raw,
    struct imap_mailbox *out)
{
	bool has8 = false;
	struct buf b;

	out->raw = raw;
	if (lex_is(raw.p, raw.len, "INBOX")) {
		out->name = copy_str(lx, "INBOX", 5);
		return true;
	}
	for (size_t i = 0; i < raw.len; i++)
		has8 |= (unsigned char)raw.p[i] >= 0x80;
	if (has8 || lx->utf8) {
		if (has8 && !imap_utf8_is_valid(raw.p, raw.len))
			return lex_fail(lx, "Mailbox name is not valid UTF-8");
		out->name = raw;
		return true;
	}
	buf_init(&b, 0);
	if (imap_mutf7_decode(raw.p, raw.len, &b) < 0) {
		buf_free(&b);
		return lex_fail(lx,
		    "Mailbox name is not valid modified UTF-7");
	}
	out->name = copy_str(lx, (const char *)b.data, b.len);
	buf_free(&b);
	return true;
}

bool
lex_mailbox(struct imap_lex *lx, struct imap_mailbox *out)
{
	struct imap_str raw;

	return lex_astring(lx, &raw) && decode_mailbox(lx, raw, out);
}

bool
lex_list_mailbox(struct imap_lex *lx, struct imap_mailbox *out)
{
	struct imap_str raw;
	size_t start = lx->pos;

	if (!lex_need(lx))
		return false;
	if (lx->s[lx->pos] == '"' || lex_at_literal(lx)) {
		if (!lex_string(lx, &raw))
			return false;
	} else {
		while (lx->pos < lx->len &&
		    is_list_char((unsigned char)lx->s[lx->pos]))
			lx->pos++;
		if (lx->pos == start)
			return lex_fail(lx, "Expected a mailbox pattern");
		raw = copy_str(lx, lx->s + start, lx->pos - start);
	}
	return decode_mailbox(lx, raw, out);
}

bool
lex_partial_range(struct imap_lex *lx, struct imap_partial *out)
{
	bool neg = lex_peek(lx) == '-';

	if (neg)
		lx->pos++;
	if (!lex_nz_u32(lx, &out->lo) ||
	    !lex_char(lx, ':', "Invalid partial range"))
		return false;
	if (neg && !lex_char(lx, '-', "Invalid partial range"))
		return false;
	if (!lex_nz_u32(lx, &out->hi))
		return false;
	out->from_end = neg;
	return true;
}
