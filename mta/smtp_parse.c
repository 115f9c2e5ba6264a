/*
 * smtp_parse.c - inbound SMTP command-line parsers (see smtp_parse.h).
 *
 * Everything here is a pure function of its input.  A line is first
 * checked as a whole (no control character, NUL included; well-formed
 * UTF-8 only, RFC 3629: no overlongs, no surrogates, nothing past
 * U+10FFFF), so the grammar code below may assume printable text.
 *
 * Grammar: RFC 5321 4.1.1 (commands), 4.1.2 (paths, with the RFC 6531
 * UTF-8 extensions of atext, qtextSMTP and sub-domain), 4.1.3 (address
 * literals; General-address-literal is refused, no tag is registered),
 * 4.5.3.1 (lengths).  Deliberate leniency, as in Postfix: trailing spaces,
 * spaces after "FROM:"/"TO:" and between parameters, and "_" in HELO/EHLO
 * names.  A path without angle brackets is a syntax error (501 5.1.7 /
 * 501 5.1.3), never guessed at.
 */
#include <arpa/inet.h>
#include <string.h>

#include "mta/smtp_parse.h"

enum parse_res
smtp_line_split(const unsigned char *in, size_t len, size_t max,
    size_t *line_len_r, size_t *used_r)
{
	/* max + 2 cannot wrap for any limit a caller can hold in memory */
	size_t window = len < max + 2 ? len : max + 2;	/* line + CR LF */
	const unsigned char *lf = memchr(in, '\n', window);

	if (lf == NULL)
		return len >= max + 2 ? PARSE_TOO_LONG : PARSE_MORE;
	if (lf == in || lf[-1] != '\r')
		return PARSE_BAD;			/* bare LF */
	*line_len_r = (size_t)(lf - in) - 1;
	*used_r = (size_t)(lf - in) + 1;
	return PARSE_OK;
}

size_t
smtp_line_skip(const unsigned char *in, size_t len)
{
	const unsigned char *lf = memchr(in, '\n', len);

	return lf == NULL ? len : (size_t)(lf - in) + 1;
}

static const struct {
	const char *name;
	enum smtp_verb verb;
} verbs[] = {
	{ "HELO", SMTP_VERB_HELO }, { "EHLO", SMTP_VERB_EHLO },
	{ "MAIL", SMTP_VERB_MAIL }, { "RCPT", SMTP_VERB_RCPT },
	{ "DATA", SMTP_VERB_DATA }, { "BDAT", SMTP_VERB_BDAT },
	{ "RSET", SMTP_VERB_RSET }, { "NOOP", SMTP_VERB_NOOP },
	{ "QUIT", SMTP_VERB_QUIT }, { "VRFY", SMTP_VERB_VRFY },
	{ "EXPN", SMTP_VERB_EXPN }, { "HELP", SMTP_VERB_HELP },
	{ "STARTTLS", SMTP_VERB_STARTTLS }, { "AUTH", SMTP_VERB_AUTH },
	{ "LHLO", SMTP_VERB_LHLO },
};

/* known verbs we will never implement: 502, not 500 (RFC 5321 4.2.4) */
static const char *const unimplemented[] = {
	"TURN", "ETRN", "ATRN", "SEND", "SOML", "SAML", "VERB", "XCLIENT",
	"XFORWARD",
};

const char *
smtp_verb_name(enum smtp_verb verb)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (verbs[i].verb == verb)
			return verbs[i].name;
	return "UNKNOWN";
}

static enum parse_res
bad(struct smtp_reply_hint *err_r, unsigned code, const char *enh,
    const char *text)
{
	if (err_r != NULL) {
		err_r->code = code;
		err_r->enh = enh;
		err_r->text = text;
	}
	return PARSE_BAD;
}

/* utf8_len - length of the well-formed UTF-8 sequence at p, 0 if none */
static size_t
utf8_len(const unsigned char *p, size_t len)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;		/* continuation, overlong C0/C1, F5.. */
	if (c == 0xe0)
		lo = 0xa0;		/* overlong */
	else if (c == 0xed)
		hi = 0x9f;		/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;		/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;		/* past U+10FFFF */
	if (len < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

static bool
utf8_is_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0, n; i < len; i += n)
		if ((n = utf8_len(p + i, len - i)) == 0)
			return false;
	return true;
}

static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* RFC 5322 atext, plus UTF8-non-ascii bytes (RFC 6531 3.3) */
static bool
is_atext(unsigned char c)
{
	return is_ascii_alnum(c) || c >= 0x80 ||
	    (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

#define DOM_UTF8	0x1	/* U-labels allowed (RFC 6531 sub-domain) */
#define DOM_UNDERSCORE	0x2	/* "_" allowed, for HELO/EHLO leniency */

static bool
is_ldh(unsigned char c, unsigned flags)
{
	return is_ascii_alnum(c) || c == '-' ||
	    (c == '_' && (flags & DOM_UNDERSCORE)) ||
	    (c >= 0x80 && (flags & DOM_UTF8));
}

/*
 * domain_is_valid - sub-domain *("." sub-domain), each label a Let-dig,
 * optional Ldh-str, ending in a Let-dig (RFC 5321 4.1.2); ASCII labels at
 * most 63 octets (RFC 1035).
 * XXX U-labels are only checked to be UTF-8; IDNA2008 validation would
 * need libidn2.
 */
static bool
domain_is_valid(const char *s, size_t len, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start = 0;

	if (len == 0 || len > SMTP_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		bool ascii = true;

		if (i < len && p[i] != '.')
			continue;
		if (i == start || p[start] == '-' || p[i - 1] == '-')
			return false;
		for (size_t j = start; j < i; j++) {
			if (!is_ldh(p[j], flags))
				return false;
			if (p[j] >= 0x80)
				ascii = false;
		}
		if (ascii && i - start > 63)
			return false;
		start = i + 1;
	}
	return true;
}

/* IPv4-address-literal: Snum 3("." Snum), Snum = 1*3DIGIT, 0..255 */
static bool
ipv4_is_valid(const char *s, size_t len)
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		size_t start = i;
		unsigned v = 0;

		while (i < len && is_ascii_digit((unsigned char)s[i]) &&
		    i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255)
			return false;
		if (part < 3) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == len;
}

/* literal_is_valid - "[" IPv4 "]" or "[IPv6:" IPv6-addr "]" */
static bool
literal_is_valid(const char *s, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];
	struct in6_addr a6;

	if (len < 2 || s[0] != '[' || s[len - 1] != ']')
		return false;
	s++;
	len -= 2;
	if (len > 5 && ascii_eq_nocase(s, 5, "IPv6:")) {
		s += 5;
		len -= 5;
		/* inet_pton takes exactly the RFC 4291 text forms */
		if (len >= sizeof(tmp))
			return false;
		for (size_t i = 0; i < len; i++)
			if (!is_ascii_alnum((unsigned char)s[i]) &&
			    s[i] != ':' && s[i] != '.')
				return false;
		memcpy(tmp, s, len);
		tmp[len] = '\0';
		return inet_pton(AF_INET6, tmp, &a6) == 1;
	}
	return ipv4_is_valid(s, len);
}

bool
smtp_domain_is_valid(const char *s, size_t len)
{
	if (len > 0 && s[0] == '[')
		return literal_is_valid(s, len);
	return domain_is_valid(s, len, DOM_UNDERSCORE);
}

/* dot_string_is_valid - Atom *("." Atom) */
static bool
dot_string_is_valid(const char *s, size_t len)
{
	if (len == 0 || s[0] == '.' || s[len - 1] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.' ? s[i + 1] == '.' :
		    !is_atext((unsigned char)s[i]))
			return false;
	}
	return true;
}

enum path_err { PATH_OK, PATH_SYNTAX, PATH_TOO_LONG };

/* parse_domain - a Domain or an address literal at s[*i..); advances *i */
static enum path_err
parse_domain(const char *s, size_t len, size_t *i, bool literal_ok,
    bool *literal_r)
{
	size_t start = *i, end;

	*literal_r = false;
	if (start < len && s[start] == '[') {
		const char *rb = memchr(s + start, ']', len - start);

		if (!literal_ok || rb == NULL)
			return PATH_SYNTAX;
		end = (size_t)(rb - s) + 1;
		if (!literal_is_valid(s + start, end - start))
			return PATH_SYNTAX;
		*literal_r = true;
	} else {
		for (end = start; end < len && (s[end] == '.' ||
		    is_ldh((unsigned char)s[end], DOM_UTF8)); end++)
			;
		if (end - start > SMTP_DOMAIN_MAX)
			return PATH_TOO_LONG;
		if (!domain_is_valid(s + start, end - start, DOM_UTF8))
			return PATH_SYNTAX;
	}
	*i = end;
	return PATH_OK;
}

/*
 * parse_path - Path (RFC 5321 4.1.2) at s[0] == '<'; *end_r is the index
 * after ">".  Reverse-path "<>" only when !rcpt; "<Postmaster>" only when
 * rcpt.
 */
static enum path_err
parse_path(const char *s, size_t len, bool rcpt, struct smtp_path *path,
    size_t *end_r)
{
	size_t i = 1, lstart, lend;
	enum path_err err;
	bool lit;

	memset(path, 0, sizeof(*path));
	if (len < 2 || s[0] != '<')
		return PATH_SYNTAX;
	if (s[1] == '>') {
		if (rcpt)
			return PATH_SYNTAX;
		path->is_null = true;
		path->mailbox.p = path->local.p = path->domain.p = s + 1;
		*end_r = 2;
		return PATH_OK;
	}
	/* A-d-l ":" - a source route, checked and dropped (4.1.2, C) */
	if (s[i] == '@') {
		for (;;) {
			i++;
			if ((err = parse_domain(s, len, &i, false, &lit)))
				return err;
			if (i < len && s[i] == ':')
				break;
			if (i >= len || s[i] != ',' || i + 1 >= len ||
			    s[i + 1] != '@')
				return PATH_SYNTAX;
			i++;
		}
		i++;
	}
	lstart = i;
	if (i < len && s[i] == '"') {
		path->is_quoted = true;
		/* qtextSMTP; no controls are left, UTF-8 is checked */
		for (i++; i < len && s[i] != '"'; i++) {
			/* quoted-pairSMTP = "\" %d32-126 */
			if (s[i] == '\\' && (++i >= len ||
			    (unsigned char)s[i] >= 0x80))
				return PATH_SYNTAX;
		}
		if (i >= len)
			return PATH_SYNTAX;
		i++;
	} else {
		while (i < len && (is_atext((unsigned char)s[i]) ||
		    s[i] == '.'))
			i++;
		if (!dot_string_is_valid(s + lstart, i - lstart))
			return PATH_SYNTAX;
	}
	lend = i;
	path->local.p = s + lstart;
	path->local.len = lend - lstart;
	if (rcpt && i < len && s[i] == '>' && !path->is_quoted &&
	    ascii_eq_nocase(path->local.p, path->local.len, "Postmaster")) {
		path->is_postmaster = true;
		path->domain.p = s + i;
	} else {
		if (i >= len || s[i] != '@')
			return PATH_SYNTAX;
		i++;
		path->domain.p = s + i;
		if ((err = parse_domain(s, len, &i, true, &path->is_literal)))
			return err;
		path->domain.len = (size_t)(s + i - path->domain.p);
	}
	if (i >= len || s[i] != '>')
		return PATH_SYNTAX;
	i++;
	if (path->local.len > SMTP_LOCAL_MAX || i > SMTP_PATH_MAX)
		return PATH_TOO_LONG;
	path->mailbox.p = path->local.p;
	path->mailbox.len = (size_t)(s + i - 1 - path->local.p);
	for (size_t k = 0; k < path->mailbox.len; k++)
		path->has_utf8 |= (unsigned char)path->mailbox.p[k] >= 0x80;
	*end_r = i;
	return PATH_OK;
}

/* esmtp-keyword "=" esmtp-value, RFC 5321 4.1.2 + RFC 6531 3.3 */
static bool
parse_param(const char *s, size_t len, struct smtp_param *p)
{
	const char *eq = memchr(s, '=', len);
	size_t klen = eq != NULL ? (size_t)(eq - s) : len;

	if (klen == 0 || !is_ascii_alnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < klen; i++)
		if (!is_ascii_alnum((unsigned char)s[i]) && s[i] != '-')
			return false;
	p->key.p = s;
	p->key.len = klen;
	p->has_value = eq != NULL;
	p->value.p = eq != NULL ? eq + 1 : s + len;
	p->value.len = eq != NULL ? len - klen - 1 : 0;
	if (p->has_value && p->value.len == 0)
		return false;
	/* no SP or control left, UTF-8 checked: only "=" is out of place */
	return p->value.len == 0 ||
	    memchr(p->value.p, '=', p->value.len) == NULL;
}

static enum parse_res
parse_mail_rcpt(const char *s, size_t len, struct smtp_cmd *cmd,
    struct smtp_reply_hint *err_r)
{
	bool rcpt = cmd->verb == SMTP_VERB_RCPT;
	const char *kw = rcpt ? "TO:" : "FROM:";
	const char *enh = rcpt ? "5.1.3" : "5.1.7";
	size_t kwlen = strlen(kw), i, end = 0;

	if (len < kwlen || !ascii_eq_nocase(s, kwlen, kw))
		return bad(err_r, 501, "5.5.4", rcpt ?
		    "Syntax: RCPT TO:<address>" :
		    "Syntax: MAIL FROM:<address>");
	for (i = kwlen; i < len && s[i] == ' '; i++)
		;
	switch (parse_path(s + i, len - i, rcpt, &cmd->path, &end)) {
	case PATH_OK:
		break;
	case PATH_TOO_LONG:
		return bad(err_r, 501, enh, rcpt ?
		    "Recipient address too long" : "Sender address too long");
	case PATH_SYNTAX:
		return bad(err_r, 501, enh, rcpt ?
		    "Bad recipient address syntax" :
		    "Bad sender address syntax");
	}
	i += end;
	if (i < len && s[i] != ' ')
		return bad(err_r, 501, enh, rcpt ?
		    "Bad recipient address syntax" :
		    "Bad sender address syntax");
	while (i < len) {
		size_t start;

		while (i < len && s[i] == ' ')
			i++;
		start = i;
		while (i < len && s[i] != ' ')
			i++;
		if (cmd->nparams == SMTP_PARAMS_MAX)
			return bad(err_r, 501, "5.5.4", "Too many parameters");
		if (!parse_param(s + start, i - start,
		    &cmd->params[cmd->nparams]))
			return bad(err_r, 501, "5.5.4",
			    "Bad parameter syntax");
		cmd->nparams++;
	}
	return PARSE_OK;
}

static enum parse_res
parse_bdat(const char *s, size_t len, struct smtp_cmd *cmd,
    struct smtp_reply_hint *err_r)
{
	const char *sp = memchr(s, ' ', len);
	size_t nlen = sp != NULL ? (size_t)(sp - s) : len, i = nlen;

	if (parse_u64(s, nlen, UINT64_MAX, &cmd->bdat_size) < 0)
		return bad(err_r, 501, "5.5.4", "Syntax: BDAT size [LAST]");
	while (i < len && s[i] == ' ')
		i++;
	if (i < len) {
		if (!ascii_eq_nocase(s + i, len - i, "LAST"))
			return bad(err_r, 501, "5.5.4",
			    "Syntax: BDAT size [LAST]");
		cmd->bdat_last = true;
	}
	return PARSE_OK;
}

enum parse_res
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd,
    struct smtp_reply_hint *err_r)
{
	const char *arg;
	size_t vlen, alen;

	memset(cmd, 0, sizeof(*cmd));
	cmd->verb = SMTP_VERB_UNKNOWN;
	for (size_t i = 0; i < len; i++)
		if (is_ctl((unsigned char)line[i]))
			return bad(err_r, 500, "5.5.2",
			    "Invalid character in command");
	while (len > 0 && line[len - 1] == ' ')
		len--;
	for (vlen = 0; vlen < len && line[vlen] != ' '; vlen++)
		;
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (ascii_eq_nocase(line, vlen, verbs[i].name))
			cmd->verb = verbs[i].verb;
	if (cmd->verb == SMTP_VERB_UNKNOWN) {
		for (size_t i = 0; i < ARRAY_SIZE(unimplemented); i++)
			if (ascii_eq_nocase(line, vlen, unimplemented[i]))
				return bad(err_r, 502, "5.5.1",
				    "Command not implemented");
		return bad(err_r, 500, "5.5.2", "Command unrecognized");
	}
	arg = line + vlen;
	alen = len - vlen;
	while (alen > 0 && arg[0] == ' ') {
		arg++;
		alen--;
	}
	cmd->arg.p = arg;
	cmd->arg.len = alen;
	if (!utf8_is_valid(arg, alen))
		return bad(err_r, 501, "5.5.2", "Malformed UTF-8 in command");

	switch (cmd->verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
	case SMTP_VERB_LHLO:
		if (alen == 0)
			return bad(err_r, 501, "5.5.4",
			    cmd->verb == SMTP_VERB_HELO ?
			    "Syntax: HELO hostname" :
			    cmd->verb == SMTP_VERB_EHLO ?
			    "Syntax: EHLO hostname" : "Syntax: LHLO hostname");
		if (!smtp_domain_is_valid(arg, alen))
			return bad(err_r, 501, "5.5.4", "Invalid domain name");
		cmd->domain = cmd->arg;
		cmd->is_literal = arg[0] == '[';
		return PARSE_OK;
	case SMTP_VERB_MAIL:
	case SMTP_VERB_RCPT:
		return parse_mail_rcpt(arg, alen, cmd, err_r);
	case SMTP_VERB_BDAT:
		return parse_bdat(arg, alen, cmd, err_r);
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
	case SMTP_VERB_AUTH:
		if (alen == 0)
			return bad(err_r, 501, "5.5.4", "Argument required");
		return PARSE_OK;
	case SMTP_VERB_NOOP:
	case SMTP_VERB_HELP:
		return PARSE_OK;
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		if (alen != 0)
			return bad(err_r, 501, "5.5.4",
			    "No parameters allowed");
		return PARSE_OK;
	case SMTP_VERB_UNKNOWN:
		break;
	}
	PANIC("smtp_cmd_parse: verb %d", (int)cmd->verb);
}

/* ---- MAIL and RCPT parameters ---- */

/* hexval - value of an uppercase hex digit (xtext), -1 if it is none */
static int
hexval(unsigned char c)
{
	if (is_ascii_digit(c))
		return c - '0';
	return c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* xtext_is_valid - RFC 3461 4: xchar / "+" 2HEXUPPER; utf8 adds RFC 6533 */
static bool
xtext_is_valid(const char *s, size_t len, bool utf8)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < len; i++) {
		if (p[i] == '+') {
			if (len - i < 3 || hexval(p[i + 1]) < 0 ||
			    hexval(p[i + 2]) < 0)
				return false;
			i += 2;
		} else if (p[i] == '=' || p[i] < 33 || (p[i] > 126 && !utf8)) {
			return false;
		}
	}
	return true;
}

int
smtp_xtext_decode(const char *in, size_t len, struct buf *out)
{
	size_t start = out->len;

	if (!xtext_is_valid(in, len, false))
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c == '+') {
			c = (unsigned char)(hexval((unsigned char)in[i + 1]) *
			    16 + hexval((unsigned char)in[i + 2]));
			i += 2;
		}
		if (buf_append_byte(out, c) < 0) {
			buf_truncate(out, start);
			return -1;
		}
	}
	return 0;
}

static bool
str_eq(const struct smtp_str *s, const char *lit)
{
	return ascii_eq_nocase(s->p, s->len, lit);
}

#define BAD_VALUE(text) bad(err_r, 501, "5.5.4", (text))

enum mail_param { MP_SIZE, MP_BODY, MP_SMTPUTF8, MP_RET, MP_ENVID, MP_AUTH };

enum parse_res
smtp_mail_params_parse(const struct smtp_cmd *cmd, unsigned ext,
    struct smtp_mail_params *p, struct smtp_reply_hint *err_r)
{
	/* in the order of enum mail_param */
	static const struct { const char *key; unsigned ext; } known[] = {
		{ "SIZE", SMTP_EXT_SIZE }, { "BODY", SMTP_EXT_8BITMIME },
		{ "SMTPUTF8", SMTP_EXT_SMTPUTF8 }, { "RET", SMTP_EXT_DSN },
		{ "ENVID", SMTP_EXT_DSN }, { "AUTH", SMTP_EXT_AUTH },
	};
	unsigned seen = 0;

	ASSERT(cmd->verb == SMTP_VERB_MAIL);
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < cmd->nparams; i++) {
		const struct smtp_param *pa = &cmd->params[i];
		const struct smtp_str *v = &pa->value;
		size_t k;

		for (k = 0; k < ARRAY_SIZE(known); k++)
			if (str_eq(&pa->key, known[k].key))
				break;
		if (k == ARRAY_SIZE(known) || !(ext & known[k].ext))
			return bad(err_r, 555, "5.5.4",
			    "Unsupported MAIL parameter");
		if (seen & (1u << k))
			return bad(err_r, 555, "5.5.4",
			    "Duplicate MAIL parameter");
		seen |= 1u << k;
		if (pa->has_value != (k != MP_SMTPUTF8))
			return BAD_VALUE("Bad MAIL parameter value");
		switch ((enum mail_param)k) {
		case MP_SIZE:
			if (parse_u64(v->p, v->len, UINT64_MAX, &p->size) < 0)
				return BAD_VALUE("Bad SIZE value");
			p->has_size = true;
			break;
		case MP_BODY:
			if (str_eq(v, "7BIT"))
				p->body = SMTP_BODY_7BIT;
			else if (str_eq(v, "8BITMIME"))
				p->body = SMTP_BODY_8BITMIME;
			else if (str_eq(v, "BINARYMIME"))
				return bad(err_r, 504, "5.5.4",
				    "BODY=BINARYMIME not supported");
			else
				return BAD_VALUE("Bad BODY value");
			break;
		case MP_SMTPUTF8:
			p->smtputf8 = true;
			break;
		case MP_RET:
			if (str_eq(v, "FULL"))
				p->ret = SMTP_RET_FULL;
			else if (str_eq(v, "HDRS"))
				p->ret = SMTP_RET_HDRS;
			else
				return BAD_VALUE("Bad RET value");
			break;
		case MP_ENVID:
			if (v->len > SMTP_ENVID_MAX ||
			    !xtext_is_valid(v->p, v->len, false))
				return BAD_VALUE("Bad ENVID value");
			p->envid = *v;
			p->has_envid = true;
			break;
		case MP_AUTH:
			if (!xtext_is_valid(v->p, v->len, false))
				return BAD_VALUE("Bad AUTH value");
			p->auth = *v;
			p->has_auth = true;
			break;
		}
	}
	if (cmd->path.has_utf8 && !p->smtputf8)
		return bad(err_r, 553, "5.6.7",
		    "Non-ASCII address requires SMTPUTF8");
	return PARSE_OK;
}

static bool
parse_notify(const struct smtp_str *v, unsigned *notify_r)
{
	static const char *const names[] = {
		"NEVER", "SUCCESS", "FAILURE", "DELAY",
	};
	size_t i = 0;

	*notify_r = 0;
	while (i <= v->len) {
		const char *comma = memchr(v->p + i, ',', v->len - i);
		size_t n = comma != NULL ? (size_t)(comma - v->p) - i :
		    v->len - i, k;

		for (k = 0; k < ARRAY_SIZE(names); k++)
			if (ascii_eq_nocase(v->p + i, n, names[k]))
				break;
		if (k == ARRAY_SIZE(names) || (*notify_r & (1u << k)))
			return false;
		*notify_r |= 1u << k;
		i += n + 1;
	}
	/* NEVER stands alone (RFC 3461 4.1) */
	return !(*notify_r & SMTP_NOTIFY_NEVER) ||
	    *notify_r == SMTP_NOTIFY_NEVER;
}

static bool
parse_orcpt(const struct smtp_str *v, struct smtp_rcpt_params *p)
{
	const char *semi = memchr(v->p, ';', v->len);
	size_t tlen;

	if (v->len > SMTP_ORCPT_MAX || semi == NULL)
		return false;
	tlen = (size_t)(semi - v->p);
	if (tlen == 0 || tlen + 1 == v->len)
		return false;
	for (size_t i = 0; i < tlen; i++)	/* addr-type = atom */
		if (!is_atext((unsigned char)v->p[i]) ||
		    (unsigned char)v->p[i] >= 0x80)
			return false;
	p->orcpt_type.p = v->p;
	p->orcpt_type.len = tlen;
	p->orcpt_addr.p = semi + 1;
	p->orcpt_addr.len = v->len - tlen - 1;
	return xtext_is_valid(p->orcpt_addr.p, p->orcpt_addr.len,
	    str_eq(&p->orcpt_type, "utf-8"));
}

enum parse_res
smtp_rcpt_params_parse(const struct smtp_cmd *cmd, unsigned ext,
    bool smtputf8, struct smtp_rcpt_params *p,
    struct smtp_reply_hint *err_r)
{
	bool seen_notify = false;

	ASSERT(cmd->verb == SMTP_VERB_RCPT);
	memset(p, 0, sizeof(*p));
	for (size_t i = 0; i < cmd->nparams; i++) {
		const struct smtp_param *pa = &cmd->params[i];
		bool notify = str_eq(&pa->key, "NOTIFY");

		if ((!notify && !str_eq(&pa->key, "ORCPT")) ||
		    !(ext & SMTP_EXT_DSN))
			return bad(err_r, 555, "5.5.4",
			    "Unsupported RCPT parameter");
		if (notify ? seen_notify : p->has_orcpt)
			return bad(err_r, 555, "5.5.4",
			    "Duplicate RCPT parameter");
		if (!pa->has_value)
			return BAD_VALUE("Bad RCPT parameter value");
		if (notify) {
			if (!parse_notify(&pa->value, &p->notify))
				return BAD_VALUE("Bad NOTIFY value");
			seen_notify = true;
		} else {
			if (!parse_orcpt(&pa->value, p))
				return BAD_VALUE("Bad ORCPT value");
			p->has_orcpt = true;
		}
	}
	if (cmd->path.has_utf8 && !smtputf8)
		return bad(err_r, 553, "5.6.7",
		    "Non-ASCII address requires SMTPUTF8");
	return PARSE_OK;
}
