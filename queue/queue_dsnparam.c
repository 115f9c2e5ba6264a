/*
 * queue_dsnparam.c - the ESMTP parameters of the DSN extension: a pure,
 * bounded parser and the decoders of their encoded values.
 *
 * RFC 3461 4.1 NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY; 4.2
 * ORCPT=addr-type;xtext, at most 500 characters; 4.3 RET=FULL|HDRS; 4.4
 * ENVID=xtext, at most 100 characters; 4 xtext: printable ASCII but '+'
 * and '=', which are written "+XX" (two hex digits).  The decoded ENVID
 * and ORCPT must be printable US-ASCII (4.2, 4.4), which is also what
 * keeps a CR or LF out of the report that quotes them.  RFC 6533 3 adds
 * ORCPT=utf-8;addr: QCHAR (printable ASCII but '+', '=', '\'), "\x{HEX}"
 * for any code point, and in an SMTPUTF8 transaction raw UTF-8 too.
 *
 * Decisions: lowercase hex digits are accepted where the RFCs say
 * uppercase (they decode the same; Postfix accepts them too); a
 * duplicate keyword, an empty value and a control character after
 * decoding are errors; NOTIFY elements may repeat ("FAILURE,FAILURE").
 * No I/O and no allocation: values are returned as spans of the input.
 */
#include <string.h>

#include "queue/queue_dsn.h"

static int
hexval(unsigned char c)
{
	if (is_ascii_digit(c))
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
queue_dsn_xtext_decode(const char *s, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		int hi, lo;

		if (c == '+') {
			if (n - i < 3)
				return -1;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (unsigned char)(hi << 4 | lo);
			i += 3;
		} else if (c >= 0x21 && c <= 0x7e && c != '=') {
			i++;
		} else {
			return -1;
		}
		if (c < 0x20 || c > 0x7e)
			return -1;
		if (out != NULL)
			buf_add(out, &c, 1);
	}
	return 0;
}

static bool
is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0);
}

/* utf8_seq - one well-formed UTF-8 sequence of 2..4 bytes at s (shortest
 * form, no surrogate, at most U+10FFFF); its length, or 0 */
static size_t
utf8_seq(const unsigned char *s, size_t n, uint32_t *cp_r)
{
	size_t len;
	uint32_t cp, min;

	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1fu;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0fu;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07u;
		min = 0x10000;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_r = cp;
	return len;
}

/* utf8_addr_decode - RFC 6533 utf-8-addr-xtext / -unitext */
static int
utf8_addr_decode(const char *s, size_t n, bool utf8, struct buf *out)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		unsigned char enc[4];
		uint32_t cp = 0;
		size_t len, digits = 0;

		if (u[i] == '\\') {
			/* "\x{" 2..6 hex digits "}" */
			if (n - i < 6 || u[i + 1] != 'x' || u[i + 2] != '{')
				return -1;
			for (i += 3; i < n && hexval(u[i]) >= 0; i++) {
				if (++digits > 6)
					return -1;
				cp = cp << 4 | (uint32_t)hexval(u[i]);
			}
			if (i == n || u[i] != '}' || digits < 2)
				return -1;
			i++;
			if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
			    is_control(cp))
				return -1;
			len = utf8_encode(cp, enc);
			if (out != NULL)
				buf_add(out, enc, len);
		} else if (u[i] >= 0x80) {
			if (!utf8)
				return -1;
			len = utf8_seq(u + i, n - i, &cp);
			if (len == 0 || is_control(cp))
				return -1;
			if (out != NULL)
				buf_add(out, u + i, len);
			i += len;
		} else if (u[i] >= 0x21 && u[i] <= 0x7e && u[i] != '+' &&
		    u[i] != '=') {
			if (out != NULL)
				buf_add(out, u + i, 1);
			i++;
		} else {
			return -1;
		}
	}
	return 0;
}

/*
 * xtext_utf8_decode - xtext whose "+HH" bytes may spell UTF-8: Postfix
 * relays a UTF-8 recipient with ORCPT=rfc822;j+C3+B6rg@example.org
 * (not RFC 6533's utf-8 type), and its own smtpd accepts that, so a
 * message from it must not fail on an optional DSN parameter.  The
 * result is well-formed UTF-8 without control characters; plain xtext
 * is the ASCII case of it.
 */
static int
xtext_utf8_decode(const char *s, size_t n, struct buf *out)
{
	struct buf raw = BUF_INIT(0);
	int rc = 0;

	for (size_t i = 0; i < n && rc == 0;) {
		unsigned char c = (unsigned char)s[i];
		int hi, lo;

		if (c == '+' && n - i >= 3 &&
		    (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hexval((unsigned char)s[i + 2])) >= 0) {
			c = (unsigned char)(hi << 4 | lo);
			i += 3;
		} else if (c >= 0x21 && c <= 0x7e && c != '=' && c != '+') {
			i++;
		} else {
			rc = -1;
		}
		buf_add(&raw, &c, 1);
	}
	for (size_t i = 0; i < raw.len && rc == 0;) {
		uint32_t cp = raw.data[i];
		size_t len = cp < 0x80 ? 1 : utf8_seq(raw.data + i,
		    raw.len - i, &cp);

		if (len == 0 || is_control(cp))
			rc = -1;
		i += len;
	}
	if (rc == 0 && out != NULL)
		buf_add(out, raw.data, raw.len);
	buf_free(&raw);
	return rc;
}

int
queue_dsn_orcpt_decode(const char *type, size_t type_len, const char *s,
    size_t n, bool utf8, struct buf *out)
{
	if (ascii_eq_nocase(type, type_len, "utf-8"))
		return utf8_addr_decode(s, n, utf8, out);
	return xtext_utf8_decode(s, n, out);
}

/* RFC 5322 atext, for ORCPT's addr-type */
static bool
is_atext(unsigned char c)
{
	return is_ascii_alnum(c) || (c != '\0' &&
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static enum parse_res
parse_notify(const char *v, size_t n, struct queue_dsn_params *p)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "SUCCESS", QUEUE_DSN_NOTIFY_SUCCESS },
		{ "FAILURE", QUEUE_DSN_NOTIFY_FAILURE },
		{ "DELAY", QUEUE_DSN_NOTIFY_DELAY },
		{ "NEVER", QUEUE_DSN_NOTIFY_NEVER },
	};
	unsigned bits = 0;
	size_t i = 0;

	for (;;) {
		const char *comma = memchr(v + i, ',', n - i);
		size_t len = comma != NULL ? (size_t)(comma - (v + i)) : n - i;
		size_t k;

		for (k = 0; k < ARRAY_SIZE(names); k++)
			if (ascii_eq_nocase(v + i, len, names[k].name))
				break;
		if (k == ARRAY_SIZE(names))
			return PARSE_BAD;	/* unknown or empty element */
		bits |= names[k].bit;
		if (comma == NULL)
			break;
		i += len + 1;
	}
	if ((bits & QUEUE_DSN_NOTIFY_NEVER) && bits != QUEUE_DSN_NOTIFY_NEVER)
		return PARSE_BAD;
	p->notify = bits;
	return PARSE_OK;
}

static enum parse_res
parse_orcpt(const char *v, size_t n, bool utf8, struct queue_dsn_params *p)
{
	const char *semi;
	size_t tlen;

	if (n > QUEUE_DSN_ORCPT_MAX)
		return PARSE_TOO_LONG;
	semi = memchr(v, ';', n);
	if (semi == NULL || semi == v || semi == v + n - 1)
		return PARSE_BAD;
	tlen = (size_t)(semi - v);
	for (size_t i = 0; i < tlen; i++)
		if (!is_atext((unsigned char)v[i]))
			return PARSE_BAD;
	if (queue_dsn_orcpt_decode(v, tlen, semi + 1, n - tlen - 1, utf8,
	    NULL) < 0)
		return PARSE_BAD;
	p->orcpt_type = v;
	p->orcpt_type_len = tlen;
	p->orcpt = semi + 1;
	p->orcpt_len = n - tlen - 1;
	return PARSE_OK;
}

enum kw { KW_NOTIFY, KW_ORCPT, KW_RET, KW_ENVID, KW_OTHER };

static const char *const kw_names[] = { "NOTIFY", "ORCPT", "RET", "ENVID" };

/* param - one "KEY=VALUE"; *seen has a bit per keyword already given */
static enum parse_res
param(const char *t, size_t n, unsigned flags, unsigned *seen,
    struct queue_dsn_params *p, const char **error_r)
{
	static const char *const bad[] = { "invalid NOTIFY parameter",
		"invalid ORCPT parameter", "invalid RET parameter",
		"invalid ENVID parameter" };
	static const char *const dup[] = { "duplicate NOTIFY parameter",
		"duplicate ORCPT parameter", "duplicate RET parameter",
		"duplicate ENVID parameter" };
	const char *eq = memchr(t, '=', n), *v;
	size_t klen = eq != NULL ? (size_t)(eq - t) : n, vlen;
	bool rcpt = (flags & QUEUE_DSN_PARSE_RCPT) != 0;
	enum parse_res res = PARSE_BAD;
	enum kw kw;

	for (kw = 0; kw < KW_OTHER; kw++)
		if (ascii_eq_nocase(t, klen, kw_names[kw]))
			break;
	if (kw == KW_OTHER)
		return PARSE_OK;
	if (rcpt != (kw == KW_NOTIFY || kw == KW_ORCPT)) {
		*error_r = rcpt ? "RET and ENVID are MAIL parameters" :
		    "NOTIFY and ORCPT are RCPT parameters";
		return PARSE_BAD;
	}
	if (*seen & (1u << kw)) {
		*error_r = dup[kw];
		return PARSE_BAD;
	}
	*seen |= 1u << kw;
	*error_r = bad[kw];
	if (eq == NULL || eq == t + n - 1)
		return PARSE_BAD;	/* no value */
	v = eq + 1;
	vlen = n - klen - 1;
	switch (kw) {
	case KW_NOTIFY:
		res = parse_notify(v, vlen, p);
		break;
	case KW_ORCPT:
		res = parse_orcpt(v, vlen, (flags & QUEUE_DSN_PARSE_UTF8) != 0,
		    p);
		break;
	case KW_RET:
		res = PARSE_OK;
		if (ascii_eq_nocase(v, vlen, "FULL"))
			p->ret = QUEUE_DSN_RET_FULL;
		else if (ascii_eq_nocase(v, vlen, "HDRS"))
			p->ret = QUEUE_DSN_RET_HDRS;
		else
			res = PARSE_BAD;
		break;
	case KW_ENVID:
		if (vlen > QUEUE_DSN_ENVID_MAX) {
			res = PARSE_TOO_LONG;
		} else if (queue_dsn_xtext_decode(v, vlen, NULL) == 0) {
			p->envid = v;
			p->envid_len = vlen;
			res = PARSE_OK;
		}
		break;
	case KW_OTHER:
		break;
	}
	if (res == PARSE_TOO_LONG)
		*error_r = kw == KW_ENVID ? "ENVID longer than 100 characters" :
		    "ORCPT longer than 500 characters";
	return res;
}

enum parse_res
queue_dsn_params_parse(const char *s, size_t n, unsigned flags,
    struct queue_dsn_params *p, const char **error_r)
{
	unsigned seen = 0;
	size_t i = 0;

	memset(p, 0, sizeof(*p));
	p->utf8 = (flags & QUEUE_DSN_PARSE_UTF8) != 0;
	*error_r = "";
	while (i < n) {
		const char *sp;
		size_t len;
		enum parse_res res;

		if (s[i] == ' ') {
			i++;
			continue;
		}
		sp = memchr(s + i, ' ', n - i);
		len = sp != NULL ? (size_t)(sp - (s + i)) : n - i;
		res = param(s + i, len, flags, &seen, p, error_r);
		if (res != PARSE_OK) {
			memset(p, 0, sizeof(*p));
			return res;
		}
		i += len;
	}
	return PARSE_OK;
}
