/*
 * smtp_parse_test.c - table-driven tests of mta/smtp_parse.c: line
 * splitting, every verb, paths and their limits, MAIL/RCPT parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "mta/smtp_parse.h"

/* ---- smtp_line_split / smtp_line_skip ---- */

static const struct {
	const char *name, *in;
	size_t max;
	enum parse_res want;
	size_t line_len, used;
} split_cases[] = {
	{ "complete line", "HELO x\r\n", 64, PARSE_OK, 6, 8 },
	{ "needs more", "HELO x", 64, PARSE_MORE, 0, 0 },
	{ "CR at end", "HELO x\r", 64, PARSE_MORE, 0, 0 },
	{ "bare LF", "HELO x\n", 64, PARSE_BAD, 0, 0 },
	{ "bare LF alone", "\n", 64, PARSE_BAD, 0, 0 },
	{ "empty line", "\r\n", 64, PARSE_OK, 0, 2 },
	{ "empty input", "", 64, PARSE_MORE, 0, 0 },
	{ "exactly max", "ABCD\r\n", 4, PARSE_OK, 4, 6 },
	{ "one over max", "ABCDE\r\n", 4, PARSE_TOO_LONG, 0, 0 },
	{ "over max, CR last", "ABCDE\r", 4, PARSE_TOO_LONG, 0, 0 },
	{ "over max, no LF yet", "ABCDEF", 4, PARSE_TOO_LONG, 0, 0 },
	{ "max, CR pending", "ABCD\r", 4, PARSE_MORE, 0, 0 },
	{ "first of two lines", "A\r\nBB\r\n", 64, PARSE_OK, 1, 3 },
	{ "bare CR inside line", "A\rB\r\n", 64, PARSE_OK, 3, 5 },
	{ "LF after max window", "ABCDEFG\n", 4, PARSE_TOO_LONG, 0, 0 },
};

static void
test_line_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(split_cases); i++) {
		size_t ll = 0, used = 0;
		enum parse_res r = smtp_line_split(
		    (const unsigned char *)split_cases[i].in,
		    strlen(split_cases[i].in), split_cases[i].max, &ll, &used);

		if (r != split_cases[i].want)
			fail_msg("%s: got %d", split_cases[i].name, (int)r);
		if (r == PARSE_OK && (ll != split_cases[i].line_len ||
		    used != split_cases[i].used))
			fail_msg("%s: len %zu used %zu", split_cases[i].name,
			    ll, used);
	}
}

static void
test_line_split_cmd_max(void **state)
{
	unsigned char line[SMTP_CMD_LINE_MAX + 3];
	size_t ll, used;

	(void)state;
	memset(line, 'x', sizeof(line));
	line[SMTP_CMD_LINE_MAX] = '\r';
	line[SMTP_CMD_LINE_MAX + 1] = '\n';
	assert_int_equal(smtp_line_split(line, SMTP_CMD_LINE_MAX + 2,
	    SMTP_CMD_LINE_MAX, &ll, &used), PARSE_OK);
	assert_int_equal(ll, SMTP_CMD_LINE_MAX);
	assert_int_equal(used, 512);
	/* 511 octets before CRLF: too long before the LF arrives */
	memset(line, 'x', sizeof(line));
	assert_int_equal(smtp_line_split(line, SMTP_CMD_LINE_MAX + 2,
	    SMTP_CMD_LINE_MAX, &ll, &used), PARSE_TOO_LONG);
	assert_int_equal(smtp_line_split(line, SMTP_CMD_LINE_MAX + 1,
	    SMTP_CMD_LINE_MAX, &ll, &used), PARSE_MORE);
}

static void
test_line_skip(void **state)
{
#define SKIP(s) smtp_line_skip((const unsigned char *)(s), sizeof(s) - 1)
	(void)state;
	assert_int_equal(SKIP("abc\ndef"), 4);
	assert_int_equal(SKIP("abc"), 3);
	assert_int_equal(SKIP(""), 0);
	assert_int_equal(SKIP("\n\n"), 1);
	assert_int_equal(SKIP("xy\r\n"), 4);
#undef SKIP
}

/* ---- smtp_cmd_parse ---- */

struct cmd_case {
	const char *name, *line;
	size_t len;		/* 0: strlen(line) */
	enum parse_res want;
	enum smtp_verb verb;
	const char *field;	/* domain, mailbox or arg, by verb */
	unsigned code;
	const char *enh;
	size_t nparams;
	uint64_t size;
	bool last, flag;	/* flag: literal / null / postmaster / utf8 */
};

#define OK(n, l, v, f) { .name = n, .line = l, .want = PARSE_OK, \
	.verb = SMTP_VERB_##v, .field = f }
#define OKF(n, l, v, f) { .name = n, .line = l, .want = PARSE_OK, \
	.verb = SMTP_VERB_##v, .field = f, .flag = true }
#define OKP(n, l, v, f, np) { .name = n, .line = l, .want = PARSE_OK, \
	.verb = SMTP_VERB_##v, .field = f, .nparams = np }
#define BDAT(n, l, sz, la) { .name = n, .line = l, .want = PARSE_OK, \
	.verb = SMTP_VERB_BDAT, .field = NULL, .size = sz, .last = la }
#define ERR(n, l, c, e) { .name = n, .line = l, .want = PARSE_BAD, \
	.code = c, .enh = e }
/* bad sender path, bad parameter syntax, bad UTF-8 */
#define ES(n, p) ERR(n, "MAIL FROM:" p, 501, "5.1.7")
#define EP(n, p) ERR(n, "MAIL FROM:<u@example.com> " p, 501, "5.5.4")
#define EU(n, p) ERR(n, "MAIL FROM:" p, 501, "5.5.2")

static const struct cmd_case cmd_cases[] = {
	/* HELO / EHLO */
	OK("helo", "HELO example.com", HELO, "example.com"),
	OK("helo lower", "helo example.com", HELO, "example.com"),
	OK("ehlo", "EHLO mail.example.org", EHLO, "mail.example.org"),
	OK("ehlo mixed case", "eHlO mx1.example.org", EHLO, "mx1.example.org"),
	OK("ehlo single label", "EHLO localhost", EHLO, "localhost"),
	OK("ehlo underscore", "EHLO my_pc.example", EHLO, "my_pc.example"),
	OK("ehlo trailing sp", "EHLO a.example   ", EHLO, "a.example"),
	OK("ehlo two sp", "EHLO  a.example", EHLO, "a.example"),
	OK("ehlo digits", "EHLO 192.0.2.1", EHLO, "192.0.2.1"),
	OKF("ehlo v4 literal", "EHLO [192.0.2.1]", EHLO, "[192.0.2.1]"),
	OKF("ehlo v6 literal", "EHLO [IPv6:2001:db8::1]", EHLO,
	    "[IPv6:2001:db8::1]"),
	OKF("ehlo v6 lower tag", "EHLO [ipv6:::1]", EHLO, "[ipv6:::1]"),
	OKF("ehlo v6v4", "EHLO [IPv6:::ffff:192.0.2.1]", EHLO,
	    "[IPv6:::ffff:192.0.2.1]"),
	ERR("ehlo no arg", "EHLO", 501, "5.5.4"),
	ERR("ehlo only sp", "EHLO   ", 501, "5.5.4"),
	ERR("helo no arg", "HELO", 501, "5.5.4"),
	OK("lhlo", "LHLO relay.example", LHLO, "relay.example"),
	ERR("lhlo no arg", "LHLO", 501, "5.5.4"),
	ERR("lhlo bad domain", "LHLO a..example", 501, "5.5.4"),
	ERR("ehlo two words", "EHLO foo bar", 501, "5.5.4"),
	ERR("ehlo leading hyphen", "EHLO -a.example", 501, "5.5.4"),
	ERR("ehlo trailing hyphen", "EHLO a-.example", 501, "5.5.4"),
	ERR("ehlo empty label", "EHLO a..example", 501, "5.5.4"),
	ERR("ehlo trailing dot", "EHLO a.example.", 501, "5.5.4"),
	ERR("ehlo utf8", "EHLO h\xc3\xb6st.example", 501, "5.5.4"),
	ERR("ehlo v4 256", "EHLO [256.1.1.1]", 501, "5.5.4"),
	ERR("ehlo v4 short", "EHLO [1.2.3]", 501, "5.5.4"),
	ERR("ehlo v4 4 digits", "EHLO [1.2.3.0001]", 501, "5.5.4"),
	ERR("ehlo v6 bad", "EHLO [IPv6:2001:db8::g]", 501, "5.5.4"),
	ERR("ehlo v6 no tag", "EHLO [2001:db8::1]", 501, "5.5.4"),
	ERR("ehlo general literal", "EHLO [x-tag:foo]", 501, "5.5.4"),
	ERR("ehlo open bracket", "EHLO [192.0.2.1", 501, "5.5.4"),
	ERR("ehlo empty literal", "EHLO []", 501, "5.5.4"),
	ERR("ehlo v6 tag only", "EHLO [IPv6:]", 501, "5.5.4"),
	ERR("ehlo v6 tag v4", "EHLO [IPv6:1.2.3.4]", 501, "5.5.4"),

	/* MAIL */
	OK("mail", "MAIL FROM:<user@example.com>", MAIL, "user@example.com"),
	OK("mail lower", "mail from:<user@example.com>", MAIL,
	    "user@example.com"),
	OKF("mail null", "MAIL FROM:<>", MAIL, ""),
	OK("mail sp after colon", "MAIL FROM: <a@example.com>", MAIL,
	    "a@example.com"),
	OK("mail spaces after colon", "MAIL FROM:   <a@example.com>", MAIL,
	    "a@example.com"),
	OK("mail quoted", "MAIL FROM:<\"john doe\"@example.com>", MAIL,
	    "\"john doe\"@example.com"),
	OK("mail quoted pair", "MAIL FROM:<\"a\\\"b\"@example.com>", MAIL,
	    "\"a\\\"b\"@example.com"),
	OK("mail quoted >", "MAIL FROM:<\"a>b\"@example.com>", MAIL,
	    "\"a>b\"@example.com"),
	OK("mail empty quoted", "MAIL FROM:<\"\"@example.com>", MAIL,
	    "\"\"@example.com"),
	OK("mail atext", "MAIL FROM:<a!#$%&'*+-/=?^_`{|}~b@example.com>", MAIL,
	    "a!#$%&'*+-/=?^_`{|}~b@example.com"),
	OK("mail dots", "MAIL FROM:<first.last@example.com>", MAIL,
	    "first.last@example.com"),
	OKF("mail v4 literal", "MAIL FROM:<u@[192.0.2.1]>", MAIL,
	    "u@[192.0.2.1]"),
	OKF("mail v6 literal", "MAIL FROM:<u@[IPv6:2001:db8::1]>", MAIL,
	    "u@[IPv6:2001:db8::1]"),
	OK("mail source route", "MAIL FROM:<@a.example,@b.example:u@c.example>",
	    MAIL, "u@c.example"),
	OK("mail one route", "MAIL FROM:<@a.example:u@c.example>", MAIL,
	    "u@c.example"),
	OKP("mail params", "MAIL FROM:<u@example.com> SIZE=1000 BODY=8BITMIME",
	    MAIL, "u@example.com", 2),
	OKP("mail param spaces", "MAIL FROM:<u@x.example>  SIZE=1   SMTPUTF8 ",
	    MAIL, "u@x.example", 2),
	OKP("mail param utf8 value", "MAIL FROM:<u@x.example> X-A=\xc3\xa9",
	    MAIL, "u@x.example", 1),
	OKF("mail utf8 local", "MAIL FROM:<j\xc3\xb6rg@example.com>", MAIL,
	    "j\xc3\xb6rg@example.com"),
	OKF("mail utf8 domain",
	    "MAIL FROM:<\xe7\x94\xa8@\xe4\xbe\x8b\xe5\xad\x90.example>", MAIL,
	    "\xe7\x94\xa8@\xe4\xbe\x8b\xe5\xad\x90.example"),
	OKF("mail 4-byte utf8", "MAIL FROM:<\xf0\x9f\x98\x80@example.com>",
	    MAIL, "\xf0\x9f\x98\x80@example.com"),
	ES("mail no brackets", "user@example.com"),
	ES("mail no >", "<user@example.com"),
	ES("mail no <", "user@example.com>"),
	ES("mail trailing junk", "<u@example.com>junk"),
	ES("mail junk after >", "<u@example.com>>"),
	ERR("mail no colon", "MAIL FROM <u@example.com>", 501, "5.5.4"),
	ERR("mail to", "MAIL TO:<u@example.com>", 501, "5.5.4"),
	ERR("mail bare", "MAIL", 501, "5.5.4"),
	ES("mail empty path", ""),
	ES("mail postmaster", "<Postmaster>"),
	ES("mail no domain", "<user>"),
	ES("mail empty domain", "<user@>"),
	ES("mail empty local", "<@example.com>"),
	ES("mail leading dot", "<.u@example.com>"),
	ES("mail trailing dot", "<u.@example.com>"),
	ES("mail double dot", "<u..v@example.com>"),
	ES("mail two @", "<u@v@example.com>"),
	ES("mail unterminated quote", "<\"u@example.com>"),
	ES("mail quote then junk", "<\"u\"x@example.com>"),
	ES("mail route no colon", "<@a.example u@b.example>"),
	ES("mail route literal", "<@[192.0.2.1]:u@b.example>"),
	ES("mail route empty", "<@:u@b.example>"),
	ES("mail route ,,", "<@a.example,,@b:u@c.example>"),
	ES("mail bad literal", "<u@[300.0.0.1]>"),
	ES("mail underscore domain", "<u@a_b.example>"),
	ES("mail space in path", "<u @example.com>"),
	ES("mail quoted-pair utf8", "<\"\\\xc3\xa9\"@example.com>"),
	EP("mail empty param value", "SIZE="),
	EP("mail empty keyword", "=1"),
	EP("mail keyword hyphen", "-X"),
	EP("mail keyword junk", "A_B=1"),
	EP("mail value =", "X=a=b"),
	EU("mail overlong utf8", "<\xc0\xafu@example.com>"),
	EU("mail surrogate", "<\xed\xa0\x80u@example.com>"),
	EU("mail overlong 3", "<\xe0\x80\xafu@example.com>"),
	EU("mail past 10FFFF", "<\xf4\x90\x80\x80@example.com>"),
	EU("mail truncated utf8", "<u@example.com> X=\xc3"),
	EU("mail stray continuation", "<\x80@example.com>"),
	EU("mail 0xff", "<\xff@example.com>"),

	/* RCPT */
	OK("rcpt", "RCPT TO:<user@example.com>", RCPT, "user@example.com"),
	OK("rcpt lower", "rcpt to:<user@example.com>", RCPT,
	    "user@example.com"),
	OK("rcpt sp after colon", "RCPT TO: <user@example.com>", RCPT,
	    "user@example.com"),
	OKF("rcpt postmaster", "RCPT TO:<Postmaster>", RCPT, "Postmaster"),
	OKF("rcpt postmaster lower", "RCPT TO:<postmaster>", RCPT,
	    "postmaster"),
	OK("rcpt postmaster@", "RCPT TO:<Postmaster@example.com>", RCPT,
	    "Postmaster@example.com"),
	OKP("rcpt notify", "RCPT TO:<u@example.com> NOTIFY=NEVER", RCPT,
	    "u@example.com", 1),
	OK("rcpt route", "RCPT TO:<@hop.example:u@example.com>", RCPT,
	    "u@example.com"),
	ERR("rcpt null", "RCPT TO:<>", 501, "5.1.3"),
	ERR("rcpt no brackets", "RCPT TO:user@example.com", 501, "5.1.3"),
	ERR("rcpt no domain", "RCPT TO:<user>", 501, "5.1.3"),
	ERR("rcpt quoted postmaster", "RCPT TO:<\"Postmaster\">", 501, "5.1.3"),
	ERR("rcpt from", "RCPT FROM:<u@example.com>", 501, "5.5.4"),
	ERR("rcpt bare", "RCPT", 501, "5.5.4"),
	ERR("rcpt junk", "RCPT TO:<u@example.com>x", 501, "5.1.3"),

	/* DATA RSET QUIT STARTTLS */
	OK("data", "DATA", DATA, ""),
	OK("data lower", "data", DATA, ""),
	OK("data trailing sp", "DATA ", DATA, ""),
	OK("rset", "RSET", RSET, ""),
	OK("quit", "QUIT", QUIT, ""),
	OK("quit mixed", "QuIt", QUIT, ""),
	OK("starttls", "STARTTLS", STARTTLS, ""),
	OK("starttls lower", "starttls", STARTTLS, ""),
	ERR("data arg", "DATA x", 501, "5.5.4"),
	ERR("rset arg", "RSET now", 501, "5.5.4"),
	ERR("quit arg", "QUIT please", 501, "5.5.4"),
	ERR("starttls arg", "STARTTLS x", 501, "5.5.4"),

	/* BDAT */
	BDAT("bdat", "BDAT 1000", 1000, false),
	BDAT("bdat last", "BDAT 0 LAST", 0, true),
	BDAT("bdat lower", "bdat 12 last", 12, true),
	BDAT("bdat spaces", "BDAT  10   LAST", 10, true),
	BDAT("bdat max", "BDAT 18446744073709551615", UINT64_MAX, false),
	BDAT("bdat leading zeros", "BDAT 007", 7, false),
	ERR("bdat overflow", "BDAT 18446744073709551616", 501, "5.5.4"),
	ERR("bdat no size", "BDAT", 501, "5.5.4"),
	ERR("bdat only last", "BDAT LAST", 501, "5.5.4"),
	ERR("bdat negative", "BDAT -1", 501, "5.5.4"),
	ERR("bdat plus", "BDAT +1", 501, "5.5.4"),
	ERR("bdat junk", "BDAT 1x", 501, "5.5.4"),
	ERR("bdat first", "BDAT 10 FIRST", 501, "5.5.4"),
	ERR("bdat extra", "BDAT 10 LAST X", 501, "5.5.4"),

	/* VRFY EXPN HELP NOOP AUTH */
	OK("vrfy", "VRFY user", VRFY, "user"),
	OK("vrfy lower", "vrfy <u@example.com>", VRFY, "<u@example.com>"),
	OK("expn", "EXPN staff", EXPN, "staff"),
	OK("help", "HELP", HELP, ""),
	OK("help arg", "HELP MAIL", HELP, "MAIL"),
	OK("noop", "NOOP", NOOP, ""),
	OK("noop arg", "NOOP any text here", NOOP, "any text here"),
	OK("noop utf8", "NOOP h\xc3\xa9", NOOP, "h\xc3\xa9"),
	OK("auth", "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=", AUTH,
	    "PLAIN dGVzdAB0ZXN0AHRlc3Q="),
	OK("auth lower", "auth login", AUTH, "login"),
	ERR("vrfy no arg", "VRFY", 501, "5.5.4"),
	ERR("expn no arg", "EXPN", 501, "5.5.4"),
	ERR("auth no arg", "AUTH", 501, "5.5.4"),
	ERR("noop bad utf8", "NOOP \xc3(", 501, "5.5.2"),

	/* unknown, unimplemented, bad bytes */
	ERR("unknown", "FOO", 500, "5.5.2"),
	ERR("empty", "", 500, "5.5.2"),
	ERR("leading space", " HELO x.example", 500, "5.5.2"),
	ERR("verb prefix", "HEL x.example", 500, "5.5.2"),
	ERR("verb suffix", "HELOX x.example", 500, "5.5.2"),
	ERR("no space after verb", "MAILFROM:<>", 500, "5.5.2"),
	ERR("utf8 verb", "H\xc3\x89LO x", 500, "5.5.2"),
	ERR("turn", "TURN", 502, "5.5.1"),
	ERR("etrn", "ETRN example.com", 502, "5.5.1"),
	ERR("atrn lower", "atrn", 502, "5.5.1"),
	ERR("xclient", "XCLIENT ADDR=1.2.3.4", 502, "5.5.1"),
	ERR("control char", "NOOP \x01", 500, "5.5.2"),
	ERR("tab", "NOOP\tx", 500, "5.5.2"),
	ERR("DEL", "DATA\x7f", 500, "5.5.2"),
	ERR("CR inside", "NOOP a\rb", 500, "5.5.2"),
	{ .name = "NUL inside", .line = "HELO a\0b", .len = 8,
	  .want = PARSE_BAD, .code = 500, .enh = "5.5.2" },
	{ .name = "NUL in path", .line = "MAIL FROM:<a\0@b.example>", .len = 24,
	  .want = PARSE_BAD, .code = 500, .enh = "5.5.2" },
};

static bool
str_is(struct smtp_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

static void
check_cmd(const struct cmd_case *c)
{
	size_t len = c->len != 0 ? c->len : strlen(c->line);
	struct smtp_reply_hint h = { 0, NULL, NULL };
	struct smtp_cmd cmd;
	enum parse_res r = smtp_cmd_parse(c->line, len, &cmd, &h);
	bool flag = false;

	if (r != c->want)
		fail_msg("%s: got %d (%u %s %s)", c->name, (int)r, h.code,
		    h.enh ? h.enh : "-", h.text ? h.text : "-");
	if (r == PARSE_BAD) {
		if (h.code != c->code || strcmp(h.enh, c->enh) != 0 ||
		    h.text == NULL || h.text[0] == '\0')
			fail_msg("%s: got %u %s", c->name, h.code, h.enh);
		return;
	}
	if (cmd.verb != c->verb)
		fail_msg("%s: verb %s", c->name, smtp_verb_name(cmd.verb));
	switch (cmd.verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
	case SMTP_VERB_LHLO:
		if (!str_is(cmd.domain, c->field))
			fail_msg("%s: domain %.*s", c->name,
			    (int)cmd.domain.len, cmd.domain.p);
		flag = cmd.is_literal;
		break;
	case SMTP_VERB_MAIL:
	case SMTP_VERB_RCPT:
		if (!str_is(cmd.path.mailbox, c->field))
			fail_msg("%s: mailbox %.*s", c->name,
			    (int)cmd.path.mailbox.len, cmd.path.mailbox.p);
		flag = cmd.path.is_null || cmd.path.is_postmaster ||
		    cmd.path.is_literal || cmd.path.has_utf8;
		if (cmd.nparams != c->nparams)
			fail_msg("%s: %zu params", c->name, cmd.nparams);
		break;
	case SMTP_VERB_BDAT:
		if (cmd.bdat_size != c->size || cmd.bdat_last != c->last)
			fail_msg("%s: size %ju last %d", c->name,
			    (uintmax_t)cmd.bdat_size, cmd.bdat_last);
		break;
	default:
		if (!str_is(cmd.arg, c->field))
			fail_msg("%s: arg %.*s", c->name, (int)cmd.arg.len,
			    cmd.arg.p);
		break;
	}
	if (flag != c->flag)
		fail_msg("%s: flag %d", c->name, flag);
}

static void
test_cmd_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cmd_cases); i++)
		check_cmd(&cmd_cases[i]);
}

static void
test_path_parts(void **state)
{
	struct smtp_reply_hint h;
	struct smtp_cmd cmd;
	const char *l = "MAIL FROM:<@r.example:\"a b\"@[IPv6:2001:db8::2]> X";

	(void)state;
	assert_int_equal(smtp_cmd_parse(l, strlen(l), &cmd, &h), PARSE_OK);
	assert_true(str_is(cmd.path.local, "\"a b\""));
	assert_true(str_is(cmd.path.domain, "[IPv6:2001:db8::2]"));
	assert_true(cmd.path.is_quoted && cmd.path.is_literal);
	assert_false(cmd.path.has_utf8);
	assert_int_equal(cmd.nparams, 1);
	assert_true(str_is(cmd.params[0].key, "X"));
	assert_false(cmd.params[0].has_value);
	l = "RCPT TO:<Postmaster>";
	assert_int_equal(smtp_cmd_parse(l, strlen(l), &cmd, &h), PARSE_OK);
	assert_true(cmd.path.is_postmaster);
	assert_int_equal(cmd.path.domain.len, 0);
	l = "MAIL FROM:<>";
	assert_int_equal(smtp_cmd_parse(l, strlen(l), &cmd, &h), PARSE_OK);
	assert_true(cmd.path.is_null);
	assert_int_equal(cmd.path.mailbox.len, 0);
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
}

/* build "<prefix><n times c><suffix>" into a static buffer */
static const char *
mk(const char *prefix, size_t n, char c, const char *suffix)
{
	static char b[2048];
	size_t pl = strlen(prefix), sl = strlen(suffix);

	assert_true(pl + n + sl < sizeof(b));
	memcpy(b, prefix, pl);
	memset(b + pl, c, n);
	memcpy(b + pl + n, suffix, sl + 1);
	return b;
}

/* a valid domain of exactly n octets: 63-octet labels, then the rest */
static const char *
mk_domain(size_t n)
{
	static char d[1024];
	size_t i = 0;

	while (i < n) {
		size_t l = n - i > 64 ? 63 : n - i;

		if (n - i == 64)
			l = 62;		/* never leave a 0-octet label */
		memset(d + i, 'a', l);
		i += l;
		if (i < n)
			d[i++] = '.';
	}
	d[n] = '\0';
	return d;
}

static enum parse_res
parse_str(const char *l, struct smtp_cmd *cmd, struct smtp_reply_hint *h)
{
	return smtp_cmd_parse(l, strlen(l), cmd, h);
}

/* P - parse into the caller's cmd and h */
#define P(l) parse_str((l), &cmd, &h)

static void
test_limits(void **state)
{
	struct smtp_reply_hint h;
	struct smtp_cmd cmd;
	char line[2048];

	(void)state;
	/* local part 64 / 65 */
	assert_int_equal(P(mk("MAIL FROM:<", 64, 'l', "@x.io>")), PARSE_OK);
	assert_int_equal(cmd.path.local.len, 64);
	assert_int_equal(P(mk("MAIL FROM:<", 65, 'l', "@x.io>")), PARSE_BAD);
	assert_int_equal(h.code, 501);
	assert_string_equal(h.enh, "5.1.7");
	assert_int_equal(P(mk("RCPT TO:<", 65, 'l', "@x.example>")), PARSE_BAD);
	assert_string_equal(h.enh, "5.1.3");
	/* domain 255 / 256 (EHLO, where no path limit interferes) */
	snprintf(line, sizeof(line), "EHLO %s", mk_domain(255));
	assert_int_equal(P(line), PARSE_OK);
	assert_int_equal(cmd.domain.len, 255);
	snprintf(line, sizeof(line), "EHLO %s", mk_domain(256));
	assert_int_equal(P(line), PARSE_BAD);
	snprintf(line, sizeof(line), "RCPT TO:<u@%s>", mk_domain(256));
	assert_int_equal(P(line), PARSE_BAD);
	assert_int_equal(h.code, 501);
	/* label 63 / 64 */
	assert_int_equal(P(mk("EHLO ", 63, 'a', ".example")), PARSE_OK);
	assert_int_equal(P(mk("EHLO ", 64, 'a', ".example")), PARSE_BAD);
	/* path 256 / 257 octets with its brackets: 1 + 64 + 1 + D + 1 */
	snprintf(line, sizeof(line), "MAIL FROM:<%s@%s>",
	    mk("", 64, 'l', ""), mk_domain(189));
	assert_int_equal(P(line), PARSE_OK);
	assert_int_equal(cmd.path.mailbox.len, 254);
	snprintf(line, sizeof(line), "MAIL FROM:<%s@%s>",
	    mk("", 64, 'l', ""), mk_domain(190));
	assert_int_equal(P(line), PARSE_BAD);
	assert_int_equal(h.code, 501);
	assert_string_equal(h.enh, "5.1.7");
	/* 16 parameters, then 17 */
	snprintf(line, sizeof(line), "MAIL FROM:<>");
	for (int i = 0; i < 16; i++)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
		    " P%d=%d", i, i);
	assert_int_equal(P(line), PARSE_OK);
	assert_int_equal(cmd.nparams, 16);
	assert_true(str_is(cmd.params[15].key, "P15"));
	assert_true(str_is(cmd.params[15].value, "15"));
	snprintf(line + strlen(line), sizeof(line) - strlen(line), " P16");
	assert_int_equal(P(line), PARSE_BAD);
	assert_int_equal(h.code, 501);
	assert_string_equal(h.enh, "5.5.4");
}

/* ---- MAIL / RCPT parameters ---- */

static const struct mail_case {
	const char *name, *line;
	unsigned ext;
	enum parse_res want;
	unsigned code;
	const char *enh;
	uint64_t size;
	bool has_size, utf8;
	enum smtp_body body;
	enum smtp_ret ret;
	const char *envid, *auth;
} mail_cases[] = {
#define M "MAIL FROM:<u@example.com> "
#define MOK(n, p, ...) { .name = n, .line = M p, .ext = SMTP_EXT_ALL, \
	.want = PARSE_OK, __VA_ARGS__ }
#define MERR(n, p, x, c, e) { .name = n, .line = M p, .ext = x, \
	.want = PARSE_BAD, .code = c, .enh = e }
	MOK("size", "SIZE=1000", .size = 1000, .has_size = true),
	MOK("size lower", "size=0", .size = 0, .has_size = true),
	MOK("size max", "SIZE=18446744073709551615", .size = UINT64_MAX,
	    .has_size = true),
	MOK("body 7bit", "BODY=7BIT", .body = SMTP_BODY_7BIT),
	MOK("body 8bit", "BODY=8BITMIME", .body = SMTP_BODY_8BITMIME),
	MOK("body lower", "body=8bitmime", .body = SMTP_BODY_8BITMIME),
	MOK("smtputf8", "SMTPUTF8", .utf8 = true),
	MOK("ret full", "RET=FULL", .ret = SMTP_RET_FULL),
	MOK("ret hdrs", "ret=hdrs", .ret = SMTP_RET_HDRS),
	MOK("envid", "ENVID=QQ314159+2Bx", .envid = "QQ314159+2Bx"),
	MOK("auth null", "AUTH=<>", .auth = "<>"),
	MOK("auth xtext", "AUTH=u+40example.com", .auth = "u+40example.com"),
	MOK("all", "SIZE=5 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=x AUTH=<>",
	    .size = 5, .has_size = true, .body = SMTP_BODY_8BITMIME,
	    .utf8 = true, .ret = SMTP_RET_HDRS, .envid = "x", .auth = "<>"),
	MERR("size overflow", "SIZE=18446744073709551616", SMTP_EXT_ALL, 501,
	    "5.5.4"),
	MERR("size junk", "SIZE=12k", SMTP_EXT_ALL, 501, "5.5.4"),
	MERR("size no value", "SIZE", SMTP_EXT_ALL, 501, "5.5.4"),
	MERR("size twice", "SIZE=1 SIZE=2", SMTP_EXT_ALL, 555, "5.5.4"),
	MERR("size twice ci", "SIZE=1 size=1", SMTP_EXT_ALL, 555, "5.5.4"),
	MERR("size not offered", "SIZE=1", 0, 555, "5.5.4"),
	MERR("binarymime", "BODY=BINARYMIME", SMTP_EXT_ALL, 504, "5.5.4"),
	MERR("body bad", "BODY=9BIT", SMTP_EXT_ALL, 501, "5.5.4"),
	MERR("body no value", "BODY", SMTP_EXT_ALL, 501, "5.5.4"),
	MERR("body not offered", "BODY=8BITMIME",
	    SMTP_EXT_ALL & ~SMTP_EXT_8BITMIME, 555, "5.5.4"),
	MERR("smtputf8 value", "SMTPUTF8=yes", SMTP_EXT_ALL, 501, "5.5.4"),
	MERR("smtputf8 not offered", "SMTPUTF8", SMTP_EXT_SIZE, 555, "5.5.4"),
	MERR("ret bad", "RET=NONE", SMTP_EXT_ALL, 501, "5.5.4"),
	MERR("ret no dsn", "RET=FULL", SMTP_EXT_SIZE, 555, "5.5.4"),
	MERR("envid lower hex", "ENVID=a+2b", SMTP_EXT_ALL, 501, "5.5.4"),
	MERR("envid short hex", "ENVID=a+2", SMTP_EXT_ALL, 501, "5.5.4"),
	MERR("envid utf8", "ENVID=\xc3\xa9", SMTP_EXT_ALL, 501, "5.5.4"),
	MERR("envid no dsn", "ENVID=x", SMTP_EXT_SIZE, 555, "5.5.4"),
	MERR("auth bad xtext", "AUTH=a+zz", SMTP_EXT_ALL, 501, "5.5.4"),
	MERR("auth not offered", "AUTH=<>", SMTP_EXT_DSN, 555, "5.5.4"),
	MERR("unknown", "FOO=bar", SMTP_EXT_ALL, 555, "5.5.4"),
	MERR("unknown no value", "XYZZY", SMTP_EXT_ALL, 555, "5.5.4"),
	MERR("notify on mail", "NOTIFY=NEVER", SMTP_EXT_ALL, 555, "5.5.4"),
	/* what port 25 offers (smtpd_cmd.c): DSN, and AUTH only with it */
	{ .name = "dsn without auth", .line = M "RET=HDRS ENVID=x",
	  .ext = SMTP_EXT_ALL & ~SMTP_EXT_AUTH, .want = PARSE_OK,
	  .ret = SMTP_RET_HDRS, .envid = "x" },
	MERR("auth= without auth", "AUTH=<>", SMTP_EXT_ALL & ~SMTP_EXT_AUTH,
	    555, "5.5.4"),
	{ .name = "utf8 path, no SMTPUTF8",
	  .line = "MAIL FROM:<j\xc3\xb6rg@example.com>", .ext = SMTP_EXT_ALL,
	  .want = PARSE_BAD, .code = 553, .enh = "5.6.7" },
	{ .name = "utf8 path, SMTPUTF8",
	  .line = "MAIL FROM:<j\xc3\xb6rg@example.com> SMTPUTF8",
	  .ext = SMTP_EXT_ALL, .want = PARSE_OK, .utf8 = true },
#undef M
#undef MOK
#undef MERR
};

static void
test_mail_params(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(mail_cases); i++) {
		const struct mail_case *c = &mail_cases[i];
		struct smtp_reply_hint h = { 0, NULL, NULL };
		struct smtp_mail_params p;
		struct smtp_cmd cmd;
		enum parse_res r;

		if (P(c->line) != PARSE_OK)
			fail_msg("%s: command: %u %s", c->name, h.code, h.enh);
		r = smtp_mail_params_parse(&cmd, c->ext, &p, &h);
		if (r != c->want)
			fail_msg("%s: got %d (%u %s)", c->name, (int)r, h.code,
			    h.enh ? h.enh : "-");
		if (r == PARSE_BAD) {
			if (h.code != c->code || strcmp(h.enh, c->enh) != 0)
				fail_msg("%s: %u %s", c->name, h.code, h.enh);
			continue;
		}
		if (p.has_size != c->has_size || p.size != c->size ||
		    p.body != c->body || p.smtputf8 != c->utf8 ||
		    p.ret != c->ret ||
		    p.has_envid != (c->envid != NULL) ||
		    (c->envid != NULL && !str_is(p.envid, c->envid)) ||
		    p.has_auth != (c->auth != NULL) ||
		    (c->auth != NULL && !str_is(p.auth, c->auth)))
			fail_msg("%s: fields differ", c->name);
	}
}

static const struct rcpt_case {
	const char *name, *line;
	unsigned ext;
	bool utf8;
	enum parse_res want;
	unsigned code;
	const char *enh;
	unsigned notify;
	const char *otype, *oaddr;
} rcpt_cases[] = {
#define R "RCPT TO:<u@example.com> "
#define ROK(n, p, nt, ot, oa) { .name = n, .line = R p, \
	.ext = SMTP_EXT_ALL, .want = PARSE_OK, .notify = nt, .otype = ot, \
	.oaddr = oa }
#define RERR(n, p, x, c) { .name = n, .line = R p, .ext = x, \
	.want = PARSE_BAD, .code = c, .enh = "5.5.4" }
	ROK("notify never", "NOTIFY=NEVER", SMTP_NOTIFY_NEVER, NULL, NULL),
	ROK("notify three", "NOTIFY=SUCCESS,FAILURE,DELAY",
	    SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY,
	    NULL, NULL),
	ROK("notify lower", "notify=delay", SMTP_NOTIFY_DELAY, NULL, NULL),
	ROK("orcpt", "ORCPT=rfc822;u@example.com", 0, "rfc822",
	    "u@example.com"),
	ROK("orcpt xtext", "ORCPT=rfc822;a+2Bb@example.com", 0, "rfc822",
	    "a+2Bb@example.com"),
	ROK("orcpt utf-8", "ORCPT=utf-8;j\xc3\xb6rg@example.com", 0, "utf-8",
	    "j\xc3\xb6rg@example.com"),
	ROK("both", "ORCPT=rfc822;x@y NOTIFY=FAILURE", SMTP_NOTIFY_FAILURE,
	    "rfc822", "x@y"),
	RERR("never and success", "NOTIFY=NEVER,SUCCESS", SMTP_EXT_ALL, 501),
	RERR("success twice", "NOTIFY=SUCCESS,SUCCESS", SMTP_EXT_ALL, 501),
	RERR("trailing comma", "NOTIFY=SUCCESS,", SMTP_EXT_ALL, 501),
	RERR("leading comma", "NOTIFY=,SUCCESS", SMTP_EXT_ALL, 501),
	RERR("notify bad", "NOTIFY=SOMETIMES", SMTP_EXT_ALL, 501),
	RERR("notify no value", "NOTIFY", SMTP_EXT_ALL, 501),
	RERR("orcpt no type", "ORCPT=;u@example.com", SMTP_EXT_ALL, 501),
	RERR("orcpt no semicolon", "ORCPT=rfc822", SMTP_EXT_ALL, 501),
	RERR("orcpt no address", "ORCPT=rfc822;", SMTP_EXT_ALL, 501),
	RERR("orcpt bad xtext", "ORCPT=rfc822;a+zz", SMTP_EXT_ALL, 501),
	RERR("orcpt utf8 rfc822", "ORCPT=rfc822;j\xc3\xb6rg@example.com",
	    SMTP_EXT_ALL, 501),
	RERR("orcpt bad type", "ORCPT=rfc(822;x@y", SMTP_EXT_ALL, 501),
	RERR("notify twice", "NOTIFY=NEVER NOTIFY=NEVER", SMTP_EXT_ALL, 555),
	RERR("orcpt twice", "ORCPT=rfc822;a@b ORCPT=rfc822;a@b", SMTP_EXT_ALL,
	    555),
	RERR("unknown", "FOO=1", SMTP_EXT_ALL, 555),
	RERR("size on rcpt", "SIZE=1", SMTP_EXT_ALL, 555),
	RERR("no dsn", "NOTIFY=NEVER", SMTP_EXT_SIZE, 555),
	{ .name = "dsn without auth", .line = R "NOTIFY=SUCCESS,DELAY "
	  "ORCPT=rfc822;x@y", .ext = SMTP_EXT_ALL & ~SMTP_EXT_AUTH,
	  .want = PARSE_OK, .notify = SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY,
	  .otype = "rfc822", .oaddr = "x@y" },
	{ .name = "utf8 rcpt, no SMTPUTF8",
	  .line = "RCPT TO:<j\xc3\xb6rg@example.com>", .ext = SMTP_EXT_ALL,
	  .want = PARSE_BAD, .code = 553, .enh = "5.6.7" },
	{ .name = "utf8 rcpt, SMTPUTF8",
	  .line = "RCPT TO:<j\xc3\xb6rg@example.com>", .ext = SMTP_EXT_ALL,
	  .utf8 = true, .want = PARSE_OK },
#undef R
#undef ROK
#undef RERR
};

static void
check_rcpt(const struct rcpt_case *c)
{
	struct smtp_reply_hint h = { 0, NULL, NULL };
	struct smtp_rcpt_params p;
	struct smtp_cmd cmd;
	enum parse_res r;

	if (P(c->line) != PARSE_OK)
		fail_msg("%s: command: %u %s", c->name, h.code, h.enh);
	r = smtp_rcpt_params_parse(&cmd, c->ext, c->utf8, &p, &h);
	if (r != c->want)
		fail_msg("%s: got %d (%u %s)", c->name, (int)r, h.code,
		    h.enh ? h.enh : "-");
	if (r == PARSE_BAD) {
		if (h.code != c->code || strcmp(h.enh, c->enh) != 0)
			fail_msg("%s: %u %s", c->name, h.code, h.enh);
		return;
	}
	if (p.notify != c->notify || p.has_orcpt != (c->otype != NULL) ||
	    (c->otype != NULL && (!str_is(p.orcpt_type, c->otype) ||
	    !str_is(p.orcpt_addr, c->oaddr))))
		fail_msg("%s: fields differ", c->name);
}

static void
test_rcpt_params(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(rcpt_cases); i++)
		check_rcpt(&rcpt_cases[i]);
}

static void
test_dsn_lengths(void **state)
{
	struct smtp_reply_hint h;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	struct smtp_cmd cmd;
	char line[1024];

	(void)state;
	assert_int_equal(P(mk("MAIL FROM:<> ENVID=", 100, 'e', "")), PARSE_OK);
	assert_int_equal(smtp_mail_params_parse(&cmd, SMTP_EXT_ALL, &mp, &h),
	    PARSE_OK);
	assert_int_equal(mp.envid.len, 100);
	assert_int_equal(P(mk("MAIL FROM:<> ENVID=", 101, 'e', "")), PARSE_OK);
	assert_int_equal(smtp_mail_params_parse(&cmd, SMTP_EXT_ALL, &mp, &h),
	    PARSE_BAD);
	assert_int_equal(h.code, 501);
	/* ORCPT value of 500 octets: "rfc822;" + 493 */
	snprintf(line, sizeof(line), "%s", mk("RCPT TO:<a@b.example> "
	    "ORCPT=rfc822;", 493, 'o', ""));
	assert_int_equal(P(line), PARSE_OK);
	assert_int_equal(smtp_rcpt_params_parse(&cmd, SMTP_EXT_ALL, false,
	    &rp, &h), PARSE_OK);
	assert_int_equal(rp.orcpt_addr.len, 493);
	snprintf(line, sizeof(line), "%s", mk("RCPT TO:<a@b.example> "
	    "ORCPT=rfc822;", 494, 'o', ""));
	assert_int_equal(P(line), PARSE_OK);
	assert_int_equal(smtp_rcpt_params_parse(&cmd, SMTP_EXT_ALL, false,
	    &rp, &h), PARSE_BAD);
}

static void
test_xtext_decode(void **state)
{
	struct buf b = BUF_INIT(0), small = BUF_INIT(3);

	(void)state;
	assert_int_equal(smtp_xtext_decode("abc+2Bdef", 9, &b), 0);
	assert_int_equal(b.len, 7);
	assert_memory_equal(b.data, "abc+def", 7);
	buf_reset(&b);
	assert_int_equal(smtp_xtext_decode("+41+3D+2B", 9, &b), 0);
	assert_memory_equal(b.data, "A=+", 3);
	assert_int_equal(smtp_xtext_decode("+4", 2, &b), -1);
	assert_int_equal(smtp_xtext_decode("+4g", 3, &b), -1);
	assert_int_equal(smtp_xtext_decode("a b", 3, &b), -1);
	assert_int_equal(b.len, 3);	/* unchanged on error */
	assert_int_equal(smtp_xtext_decode("abc", 3, &small), 0);
	assert_int_equal(smtp_xtext_decode("d", 1, &small), -1);
	assert_int_equal(small.len, 3);
	assert_int_equal(smtp_xtext_decode("", 0, &small), 0);
	buf_free(&b);
	buf_free(&small);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_split),
		cmocka_unit_test(test_line_split_cmd_max),
		cmocka_unit_test(test_line_skip),
		cmocka_unit_test(test_cmd_table),
		cmocka_unit_test(test_path_parts),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_mail_params),
		cmocka_unit_test(test_rcpt_params),
		cmocka_unit_test(test_dsn_lengths),
		cmocka_unit_test(test_xtext_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
