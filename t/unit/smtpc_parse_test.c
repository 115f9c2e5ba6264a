/*
 * smtpc_parse_test.c - table-driven tests of mta/smtpc_parse.c: replies
 * single and multi-line, pipelined, CRLF and bare LF, enhanced status
 * codes, garbage, the three limits; every case is also fed split at every
 * byte boundary, at every pair of boundaries (short inputs) and one byte
 * at a time, and must give the same replies.  Then the one-line format
 * for logs and the EHLO capabilities.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "mta/smtpc_parse.h"

/* ---- a driver: feed in[] cut at cuts[], describe what comes out ---- */

struct run {
	struct buf desc;	/* "250 2.1.0 [text|line 2] + 354 - [go]" */
	enum parse_res final;	/* PARSE_MORE when the input ran out */
	const char *why;
	size_t consumed;
};

static void
describe(struct buf *d, const struct smtpc_reply *r)
{
	size_t nl = 0;

	if (d->len > 0)
		buf_add_str(d, " + ");
	buf_addf(d, "%u %s [", r->code, r->has_enh ? r->enh : "-");
	for (size_t i = 0; i < r->text.len; i++) {
		unsigned char c = r->text.data[i];

		nl += c == '\n';
		if (c == '\n')
			buf_add_str(d, "|");
		else if (c == '\0')
			buf_add_str(d, "\\0");
		else
			buf_add(d, &c, 1);
	}
	buf_add_str(d, "]");
	/* the joined text has exactly nlines lines */
	assert_int_equal(r->nlines, nl + 1);
	assert_true(r->code >= 200 && r->code <= 599);
	assert_true(!r->has_enh || r->enh_class == r->code / 100);
}

static void
run_cuts(const unsigned char *in, size_t len, const struct smtpc_limits *lim,
    const size_t *cuts, size_t ncuts, struct run *out)
{
	struct smtpc_parser p;
	struct smtpc_reply reply;
	size_t start = 0;

	memset(&reply, 0, sizeof(reply));
	memset(out, 0, sizeof(*out));
	smtpc_parser_init(&p, lim);
	out->final = PARSE_MORE;
	for (size_t c = 0; c <= ncuts && out->final == PARSE_MORE; c++) {
		size_t end = c < ncuts ? cuts[c] : len, off = start;

		while (out->final == PARSE_MORE) {
			size_t used = 99999;
			enum parse_res r = smtpc_parse(&p, in + off, end - off,
			    &used, &reply, &out->why);

			assert_true(used <= end - off);
			off += used;
			if (r == PARSE_OK) {
				assert_true(used > 0 && in[off - 1] == '\n');
				describe(&out->desc, &reply);
				continue;
			}
			out->final = r;
			if (r == PARSE_MORE) {
				assert_int_equal(off, end);
				out->final = PARSE_MORE;
				break;
			}
		}
		out->consumed = off;
		start = end;
	}
	if (out->final != PARSE_MORE) {
		size_t used = 1;
		const char *why = NULL;

		/* dead: says the same again, consumes nothing */
		assert_int_equal(smtpc_parse(&p, in, len, &used, &reply,
		    &why), out->final);
		assert_int_equal(used, 0);
		assert_string_equal(why, out->why);
	}
	smtpc_reply_free(&reply);
	smtpc_parser_free(&p);
}

static void
run_free(struct run *r)
{
	buf_free(&r->desc);
}

struct rcase {
	const char *name, *in;
	size_t len;			/* 0: strlen(in) */
	size_t line_max, lines_max, reply_max;
	const char *want;		/* replies, as describe() puts them */
	enum parse_res res;		/* after the input */
	const char *why;
};

#define R(n, i, w) { .name = n, .in = i, .want = w, .res = PARSE_MORE }
#define B(n, i, w, y) { .name = n, .in = i, .want = w, .res = PARSE_BAD, \
	.why = y }
#define L(n, i, lm, ls, rm, w, rs, y) { .name = n, .in = i, \
	.line_max = lm, .lines_max = ls, .reply_max = rm, .want = w, \
	.res = rs, .why = y }

static const struct rcase rcases[] = {
	/* plain replies */
	R("single", "250 OK\r\n", "250 - [OK]"),
	R("code alone", "250\r\n", "250 - []"),
	R("code and space", "250 \r\n", "250 - []"),
	R("greeting", "220 mx.example ESMTP ready\r\n",
	    "220 - [mx.example ESMTP ready]"),
	R("multi-line", "250-mx.example Hello\r\n250-PIPELINING\r\n"
	    "250 SIZE 100\r\n", "250 - [mx.example Hello|PIPELINING|SIZE 100]"),
	R("empty continuation", "250-\r\n250 \r\n", "250 - [|]"),
	R("354", "354 End data with <CR><LF>.<CR><LF>\r\n",
	    "354 - [End data with <CR><LF>.<CR><LF>]"),
	R("pipelined", "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n",
	    "250 2.1.0 [2.1.0 Ok] + 250 2.1.5 [2.1.5 Ok] + 354 - [go]"),
	R("pipelined multi", "250-a\r\n250 b\r\n550-5.1.1 x\r\n550 5.1.1 y\r\n",
	    "250 - [a|b] + 550 5.1.1 [5.1.1 x|5.1.1 y]"),
	R("599 and 200", "599 x\r\n200 y\r\n", "599 - [x] + 200 - [y]"),
	R("second digit 9", "290 odd\r\n", "290 - [odd]"),

	/* line ends: bare LF tolerated, one CR dropped, others kept */
	R("bare LF", "250 ok\n", "250 - [ok]"),
	R("mixed ends", "250-a\r\n250-b\n250 c\r\n", "250 - [a|b|c]"),
	R("CR inside", "250 a\rb\r\n", "250 - [a\rb]"),
	R("CR CR LF", "250 ok\r\r\n", "250 - [ok\r]"),
	{ .name = "NUL inside", .in = "250 a\0b\r\n", .len = 9,
	    .want = "250 - [a\\0b]", .res = PARSE_MORE },
	R("8-bit text", "250 caf\xc3\xa9 \xff\r\n", "250 - [caf\xc3\xa9 \xff]"),
	R("tab in text", "250 a\tb\r\n", "250 - [a\tb]"),

	/* not complete yet */
	R("no LF", "250 ok", ""),
	R("CR pending", "250 ok\r", ""),
	R("continuation only", "250-a\r\n250-b\r\n", ""),
	R("next reply pending", "250 a\r\n250", "250 - [a]"),
	R("empty input", "", ""),

	/* enhanced status codes */
	R("enh", "250 2.1.0 Sender ok\r\n", "250 2.1.0 [2.1.0 Sender ok]"),
	R("enh alone", "250 2.1.0\r\n", "250 2.1.0 [2.1.0]"),
	R("enh 4xx", "451 4.7.1 greylisted\r\n",
	    "451 4.7.1 [4.7.1 greylisted]"),
	R("enh three digits", "550 5.100.999 x\r\n",
	    "550 5.100.999 [5.100.999 x]"),
	R("enh class mismatch", "550 2.1.0 x\r\n", "550 - [2.1.0 x]"),
	R("enh class 3", "354 3.0.0 go\r\n", "354 - [3.0.0 go]"),
	R("enh trailing junk", "250 2.1.0x y\r\n", "250 - [2.1.0x y]"),
	R("enh four digits", "250 2.1000.0 y\r\n", "250 - [2.1000.0 y]"),
	R("enh detail four", "250 2.1.0000 y\r\n", "250 - [2.1.0000 y]"),
	R("enh empty subject", "250 2..0 y\r\n", "250 - [2..0 y]"),
	R("enh empty detail", "250 2.1. y\r\n", "250 - [2.1. y]"),
	R("enh two parts", "250 2.1 y\r\n", "250 - [2.1 y]"),
	R("enh after space", "250  2.1.0 y\r\n", "250 - [ 2.1.0 y]"),
	R("enh tab", "250 2.1.0\ty\r\n", "250 - [2.1.0\ty]"),
	R("enh on later line only", "250-a\r\n250 2.1.0 b\r\n",
	    "250 - [a|2.1.0 b]"),
	R("enh multi", "550-5.1.1 no\r\n550 5.1.1 such user\r\n",
	    "550 5.1.1 [5.1.1 no|5.1.1 such user]"),

	/* garbage */
	B("letters", "abc\r\n", "", "bad reply code"),
	B("short", "25\r\n", "", "bad reply code"),
	B("empty line", "\r\n", "", "bad reply code"),
	B("bare LF line", "\n", "", "bad reply code"),
	B("space first", " 250 ok\r\n", "", "bad reply code"),
	B("digit letter", "2x0 ok\r\n", "", "bad reply code"),
	B("code 199", "199 x\r\n", "", "reply code out of range"),
	B("code 600", "600 x\r\n", "", "reply code out of range"),
	B("code 000", "000 x\r\n", "", "reply code out of range"),
	B("code 100", "100 x\r\n", "", "reply code out of range"),
	B("letter after code", "250x\r\n", "",
	    "bad separator after reply code"),
	B("tab after code", "250\tok\r\n", "",
	    "bad separator after reply code"),
	B("four digits", "2500 ok\r\n", "", "bad separator after reply code"),
	B("codes differ", "250-a\r\n251 b\r\n", "",
	    "reply code differs between lines"),
	B("class differs", "250-a\r\n550 b\r\n", "",
	    "reply code differs between lines"),
	B("good then bad", "250 ok\r\nxyz\r\n", "250 - [ok]", "bad reply code"),
	B("bad then good", "xyz\r\n250 ok\r\n", "", "bad reply code"),
	B("HTTP", "HTTP/1.1 400 Bad Request\r\n", "", "bad reply code"),

	/* limits: line (line_max 10) */
	L("line at max", "250 123456\r\n", 10, 0, 0, "250 - [123456]",
	    PARSE_MORE, NULL),
	L("line at max, LF", "250 123456\n", 10, 0, 0, "250 - [123456]",
	    PARSE_MORE, NULL),
	L("line over max", "250 1234567\r\n", 10, 0, 0, "", PARSE_TOO_LONG,
	    "over-long reply line"),
	L("line over max, LF", "250 1234567\n", 10, 0, 0, "", PARSE_TOO_LONG,
	    "over-long reply line"),
	L("line over max, no LF yet", "250 1234567", 10, 0, 0, "",
	    PARSE_TOO_LONG, "over-long reply line"),
	L("line at max, CR pending", "250 123456\r", 10, 0, 0, "",
	    PARSE_MORE, NULL),
	L("line over max, CR pending", "250 1234567\r", 10, 0, 0, "",
	    PARSE_TOO_LONG, "over-long reply line"),
	L("line at max, CR CR", "250 12345\r\r\n", 10, 0, 0,
	    "250 - [12345\r]", PARSE_MORE, NULL),
	L("line over max, CR CR", "250 123456\r\r\n", 10, 0, 0, "",
	    PARSE_TOO_LONG, "over-long reply line"),
	L("second reply too long", "250 1\r\n250 1234567\r\n", 10, 0, 0,
	    "250 - [1]", PARSE_TOO_LONG, "over-long reply line"),
	L("garbage too long", "xxxxxxxxxxxxxxxxxxxx", 10, 0, 0, "",
	    PARSE_TOO_LONG, "over-long reply line"),
	/* lines (lines_max 2) */
	L("lines at max", "250-a\r\n250 b\r\n", 0, 2, 0, "250 - [a|b]",
	    PARSE_MORE, NULL),
	L("lines over max", "250-a\r\n250-b\r\n250 c\r\n", 0, 2, 0, "",
	    PARSE_TOO_LONG, "too many reply lines"),
	L("lines per reply", "250-a\r\n250 b\r\n250-c\r\n250 d\r\n", 0, 2, 0,
	    "250 - [a|b] + 250 - [c|d]", PARSE_MORE, NULL),
	/* bytes (reply_max 20, line_max 10) */
	L("reply at max", "250-123\r\n250 12345\r\n", 10, 0, 20,
	    "250 - [123|12345]", PARSE_MORE, NULL),
	L("reply over max", "250-1234\r\n250 12345\r\n", 10, 0, 20, "",
	    PARSE_TOO_LONG, "over-long reply"),
	L("reply over max, LF", "250-1234\n250-12345\n250 1\n", 10, 0, 20, "",
	    PARSE_TOO_LONG, "over-long reply"),
	L("reply max per reply", "250 123456\r\n250 123456\r\n"
	    "250 123456\r\n", 10, 0, 12,
	    "250 - [123456] + 250 - [123456] + 250 - [123456]",
	    PARSE_MORE, NULL),
	L("reply max raised to a line", "250 123456\r\n", 10, 0, 5,
	    "250 - [123456]", PARSE_MORE, NULL),
};

static void
check_same(const struct rcase *c, const struct run *a, const struct run *b,
    const char *how)
{
	if (strcmp(buf_cstr(&a->desc), buf_cstr(&b->desc)) != 0 ||
	    a->final != b->final || (a->why == NULL) != (b->why == NULL) ||
	    (a->why != NULL && strcmp(a->why, b->why) != 0))
		fail_msg("%s: %s: \"%s\" %d vs \"%s\" %d", c->name, how,
		    buf_cstr(&a->desc), (int)a->final, buf_cstr(&b->desc),
		    (int)b->final);
}

static void
check_case(const struct rcase *c)
{
	const unsigned char *in = (const unsigned char *)c->in;
	size_t len = c->len != 0 ? c->len : strlen(c->in);
	struct smtpc_limits lim = { c->line_max, c->lines_max, c->reply_max };
	size_t cuts[512];
	struct run whole, split;

	run_cuts(in, len, &lim, NULL, 0, &whole);
	if (strcmp(buf_cstr(&whole.desc), c->want) != 0 ||
	    whole.final != c->res)
		fail_msg("%s: got \"%s\" %d", c->name, buf_cstr(&whole.desc),
		    (int)whole.final);
	if (c->why != NULL && (whole.why == NULL ||
	    strcmp(whole.why, c->why) != 0))
		fail_msg("%s: why %s", c->name, whole.why);
	if (c->res == PARSE_MORE)
		assert_int_equal(whole.consumed, len);

	/* one cut anywhere */
	for (size_t k = 0; k <= len; k++) {
		cuts[0] = k;
		run_cuts(in, len, &lim, cuts, 1, &split);
		check_same(c, &whole, &split, "one cut");
		run_free(&split);
	}
	/* two cuts anywhere, for the short ones */
	for (size_t k = 0; len <= 64 && k <= len; k++) {
		for (size_t m = k; m <= len; m++) {
			cuts[0] = k;
			cuts[1] = m;
			run_cuts(in, len, &lim, cuts, 2, &split);
			check_same(c, &whole, &split, "two cuts");
			run_free(&split);
		}
	}
	/* byte by byte */
	assert_true(len <= ARRAY_SIZE(cuts));
	for (size_t k = 0; k < len; k++)
		cuts[k] = k + 1;
	run_cuts(in, len, &lim, cuts, len, &split);
	check_same(c, &whole, &split, "byte by byte");
	run_free(&split);
	run_free(&whole);
}

static void
test_reply_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(rcases); i++)
		check_case(&rcases[i]);
}

/* the reply's fields, not only its description */
static void
test_reply_fields(void **state)
{
	static const char in[] = "550-5.1.1 The account\r\n"
	    "550 5.1.1 does not exist\r\n250 ok\r\n";
	struct smtpc_parser p;
	struct smtpc_reply r;
	size_t used;
	const char *why = NULL;

	(void)state;
	memset(&r, 0, sizeof(r));
	smtpc_parser_init(&p, NULL);
	assert_true(smtpc_parser_is_idle(&p));
	assert_int_equal(smtpc_parse(&p, (const void *)in, sizeof(in) - 1,
	    &used, &r, &why), PARSE_OK);
	assert_int_equal(used, 49);
	assert_int_equal(r.code, 550);
	assert_true(r.has_enh);
	assert_int_equal(r.enh_class, 5);
	assert_int_equal(r.enh_subject, 1);
	assert_int_equal(r.enh_detail, 1);
	assert_string_equal(r.enh, "5.1.1");
	assert_int_equal(r.nlines, 2);
	assert_string_equal(buf_cstr(&r.text),
	    "5.1.1 The account\n5.1.1 does not exist");
	assert_true(smtpc_parser_is_idle(&p));
	/* the next reply replaces the text of the first */
	assert_int_equal(smtpc_parse(&p, (const void *)(in + used),
	    sizeof(in) - 1 - used, &used, &r, &why), PARSE_OK);
	assert_int_equal(r.code, 250);
	assert_false(r.has_enh);
	assert_string_equal(r.enh, "");
	assert_int_equal(r.nlines, 1);
	assert_string_equal(buf_cstr(&r.text), "ok");
	/* part of a reply: not idle */
	assert_int_equal(smtpc_parse(&p, (const void *)"2", 1, &used, &r,
	    &why), PARSE_MORE);
	assert_false(smtpc_parser_is_idle(&p));
	assert_int_equal(smtpc_parse(&p, (const void *)"50-a\r\n", 6, &used,
	    &r, &why), PARSE_MORE);
	assert_false(smtpc_parser_is_idle(&p));
	assert_int_equal(smtpc_parse(&p, (const void *)"x\r\n", 3, &used, &r,
	    &why), PARSE_BAD);
	assert_string_equal(why, "bad reply code");
	assert_false(smtpc_parser_is_idle(&p));
	assert_string_equal(buf_cstr(&r.text), "ok");	/* untouched */
	smtpc_parser_free(&p);
	smtpc_reply_free(&r);
	smtpc_reply_free(&r);		/* harmless twice */
}

/* the default limits: 4096 per line, 1000 lines, 64 KiB */
static void
test_default_limits(void **state)
{
	struct buf in = BUF_INIT(0);
	struct run r;

	(void)state;
	buf_add_str(&in, "250 ");
	for (int i = 0; i < SMTPC_LINE_MAX_DEFAULT - 4; i++)
		buf_add_str(&in, "x");
	buf_add_str(&in, "\r\n");
	run_cuts(in.data, in.len, NULL, NULL, 0, &r);
	assert_int_equal(r.final, PARSE_MORE);
	assert_int_equal(r.desc.len, SMTPC_LINE_MAX_DEFAULT - 4 + 8);
	run_free(&r);
	buf_truncate(&in, in.len - 2);
	buf_add_str(&in, "y\r\n");
	run_cuts(in.data, in.len, NULL, NULL, 0, &r);
	assert_int_equal(r.final, PARSE_TOO_LONG);
	run_free(&r);

	buf_reset(&in);
	for (int i = 0; i < SMTPC_LINES_MAX_DEFAULT - 1; i++)
		buf_add_str(&in, "250-x\r\n");
	buf_add_str(&in, "250 x\r\n");
	run_cuts(in.data, in.len, NULL, NULL, 0, &r);
	assert_int_equal(r.final, PARSE_MORE);
	assert_true(r.desc.len > 0);
	run_free(&r);
	buf_truncate(&in, in.len - 7);
	buf_add_str(&in, "250-x\r\n250 x\r\n");
	run_cuts(in.data, in.len, NULL, NULL, 0, &r);
	assert_int_equal(r.final, PARSE_TOO_LONG);
	assert_string_equal(r.why, "too many reply lines");
	run_free(&r);

	/* 700 lines of 100 bytes: 70,000 > 65,536 */
	buf_reset(&in);
	for (int i = 0; i < 700; i++) {
		buf_add_str(&in, "250-");
		for (int j = 0; j < 94; j++)
			buf_add_str(&in, "z");
		buf_add_str(&in, "\r\n");
	}
	buf_add_str(&in, "250 end\r\n");
	run_cuts(in.data, in.len, NULL, NULL, 0, &r);
	assert_int_equal(r.final, PARSE_TOO_LONG);
	assert_string_equal(r.why, "over-long reply");
	run_free(&r);
	buf_free(&in);
}

/* ---- smtpc_reply_format ---- */

static void
test_format(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "250 OK\r\n", "250 OK" },
		{ "250\r\n", "250" },
		{ "250 \r\n", "250" },
		{ "550-5.1.1 The email account\r\n550-5.1.1 does not exist\r\n"
		  "550 5.1.1 https://x\r\n",
		  "550 5.1.1 The email account does not exist https://x" },
		{ "550-5.1.1 a\r\n550 5.7.1 b\r\n", "550 5.1.1 a 5.7.1 b" },
		{ "550-5.1.1 a\r\n550 5.1.1\r\n", "550 5.1.1 a" },
		{ "550-5.1.1 a\r\n550 5.1.10 b\r\n", "550 5.1.1 a 5.1.10 b" },
		{ "250-mx Hello\r\n250-\r\n250 SIZE\r\n", "250 mx Hello SIZE" },
		{ "250-2.0.0 a\r\n250 2.0.0  b\r\n", "250 2.0.0 a b" },
		{ "550-2.0.0 a\r\n550 2.0.0 b\r\n", "550 2.0.0 a 2.0.0 b" },
	};
	struct buf out = BUF_INIT(0), small = BUF_INIT(5);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct smtpc_parser p;
		struct smtpc_reply r;
		size_t used;

		memset(&r, 0, sizeof(r));
		smtpc_parser_init(&p, NULL);
		assert_int_equal(smtpc_parse(&p, (const void *)cases[i].in,
		    strlen(cases[i].in), &used, &r, NULL), PARSE_OK);
		buf_reset(&out);
		assert_int_equal(smtpc_reply_format(&r, &out), 0);
		if (strcmp(buf_cstr(&out), cases[i].want) != 0)
			fail_msg("format %zu: %s", i, buf_cstr(&out));
		/* a limited buffer: all or nothing */
		buf_reset(&small);
		buf_add_str(&small, "ab");
		assert_int_equal(smtpc_reply_format(&r, &small),
		    out.len <= 3 ? 0 : -1);
		assert_int_equal(small.len, out.len <= 3 ? 2 + out.len : 2);
		smtpc_reply_free(&r);
		smtpc_parser_free(&p);
	}
	buf_free(&out);
	buf_free(&small);
}

/* ---- EHLO ---- */

struct ecase {
	const char *name, *in;
	unsigned ext;
	uint64_t size;
	unsigned auth;
	size_t nkeywords;
	enum parse_res res;
};

#define E(n, i, e, s, a, k) { n, i, e, s, a, k, PARSE_OK }
#define X(name) SMTPC_EXT_##name
#define A(name) SMTPC_AUTH_##name

static const struct ecase ecases[] = {
	E("postfix", "250-mx.example\r\n250-PIPELINING\r\n"
	    "250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n250-STARTTLS\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n"
	    "250-SMTPUTF8\r\n250 CHUNKING\r\n",
	    X(PIPELINING) | X(SIZE) | X(STARTTLS) | X(ENHANCEDSTATUSCODES) |
	    X(8BITMIME) | X(DSN) | X(SMTPUTF8) | X(CHUNKING), 10240000, 0, 10),
	E("greeting only", "250 mx.example\r\n", 0, 0, 0, 0),
	E("keyword on the greeting line", "250 STARTTLS\r\n", 0, 0, 0, 0),
	E("lower case", "250-x\r\n250-starttls\r\n250-Pipelining\r\n"
	    "250 size 100\r\n", X(STARTTLS) | X(PIPELINING) | X(SIZE), 100,
	    0, 3),
	E("auth both forms", "250-x\r\n250-AUTH PLAIN LOGIN CRAM-MD5 FOO\r\n"
	    "250 AUTH=LOGIN XOAUTH2\r\n", X(AUTH), 0,
	    A(PLAIN) | A(LOGIN) | A(CRAM_MD5) | A(XOAUTH2), 2),
	E("auth old form only", "250-x\r\n250 auth=login plain\r\n", X(AUTH),
	    0, A(LOGIN) | A(PLAIN), 1),
	E("auth all known", "250-x\r\n250 AUTH PLAIN LOGIN CRAM-MD5 "
	    "SCRAM-SHA-1 SCRAM-SHA-256 XOAUTH2 OAUTHBEARER EXTERNAL\r\n",
	    X(AUTH), 0, 0xff, 1),
	E("auth spaces", "250-x\r\n250 AUTH   PLAIN  \r\n", X(AUTH), 0,
	    A(PLAIN), 1),
	E("auth no mechanisms", "250-x\r\n250 AUTH\r\n", X(AUTH), 0, 0, 1),
	E("auth= empty", "250-x\r\n250 AUTH=\r\n", X(AUTH), 0, 0, 1),
	E("auth prefix only", "250-x\r\n250 AUTHX PLAIN\r\n", 0, 0, 0, 1),
	E("size alone", "250-x\r\n250 SIZE\r\n", X(SIZE), 0, 0, 1),
	E("size zero", "250-x\r\n250 SIZE 0\r\n", X(SIZE), 0, 0, 1),
	E("size junk", "250-x\r\n250 SIZE 12ab\r\n", X(SIZE), 0, 0, 1),
	E("size negative", "250-x\r\n250 SIZE -1\r\n", X(SIZE), 0, 0, 1),
	E("size max", "250-x\r\n250 SIZE 18446744073709551615\r\n", X(SIZE),
	    UINT64_MAX, 0, 1),
	E("size overflow", "250-x\r\n250 SIZE 18446744073709551616\r\n",
	    X(SIZE), 0, 0, 1),
	E("size=", "250-x\r\n250 SIZE=100\r\n", 0, 0, 0, 1),
	E("keyword with params", "250-x\r\n250 PIPELINING extra\r\n",
	    X(PIPELINING), 0, 0, 1),
	E("keyword longer", "250-x\r\n250 STARTTLSX\r\n", 0, 0, 0, 1),
	E("keyword shorter", "250-x\r\n250 STARTTL\r\n", 0, 0, 0, 1),
	E("leading space", "250-x\r\n250  STARTTLS\r\n", X(STARTTLS), 0, 0,
	    1),
	E("others", "250-x\r\n250-BINARYMIME\r\n250-REQUIRETLS\r\n"
	    "250-DELIVERBY 60\r\n250 X-EXPS GSSAPI\r\n",
	    X(BINARYMIME) | X(REQUIRETLS), 0, 0, 4),
	E("empty lines", "250-x\r\n250-\r\n250 \r\n", 0, 0, 0, 2),
	{ "not 250", "550 go away\r\n", 0, 0, 0, 0, PARSE_BAD },
	{ "220", "220-x\r\n220 STARTTLS\r\n", 0, 0, 0, 0, PARSE_BAD },
};

static void
check_ehlo(const char *name, const char *in, struct smtpc_ehlo *caps,
    enum parse_res want)
{
	struct smtpc_limits lim = { 0, 0, 1024 * 1024 };
	struct smtpc_parser p;
	struct smtpc_reply r;
	size_t used;

	memset(&r, 0, sizeof(r));
	smtpc_parser_init(&p, &lim);
	if (smtpc_parse(&p, (const void *)in, strlen(in), &used, &r, NULL) !=
	    PARSE_OK)
		fail_msg("%s: reply does not parse", name);
	if (smtpc_ehlo_parse(&r, caps) != want)
		fail_msg("%s: ehlo result", name);
	smtpc_reply_free(&r);
	smtpc_parser_free(&p);
}

static void
test_ehlo_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ecases); i++) {
		const struct ecase *c = &ecases[i];
		struct smtpc_ehlo caps;

		check_ehlo(c->name, c->in, &caps, c->res);
		if (caps.ext != c->ext || caps.size != c->size ||
		    caps.auth != c->auth || caps.nkeywords != c->nkeywords ||
		    caps.truncated)
			fail_msg("%s: ext %#x size %llu auth %#x n %zu",
			    c->name, caps.ext, (unsigned long long)caps.size,
			    caps.auth, caps.nkeywords);
	}
}

static void
test_ehlo_limits(void **state)
{
	struct buf in = BUF_INIT(0);
	struct smtpc_ehlo caps;

	(void)state;
	/* keyword lines past SMTPC_EHLO_LINES_MAX are not looked at */
	buf_add_str(&in, "250-mx.example\r\n");
	for (int i = 0; i < SMTPC_EHLO_LINES_MAX - 1; i++)
		buf_addf(&in, "250-X-UNKNOWN-%d\r\n", i);
	buf_add_str(&in, "250-PIPELINING\r\n");	/* the 100th: seen */
	buf_add_str(&in, "250 STARTTLS\r\n");	/* the 101st: not */
	check_ehlo("many lines", buf_cstr(&in), &caps, PARSE_OK);
	assert_int_equal(caps.nkeywords, SMTPC_EHLO_LINES_MAX);
	assert_true(caps.truncated);
	assert_int_equal(caps.ext, SMTPC_EXT_PIPELINING);

	/* mechanisms past SMTPC_AUTH_MECHS_MAX are not either, over lines */
	buf_reset(&in);
	buf_add_str(&in, "250-mx.example\r\n250-AUTH");
	for (int i = 0; i < SMTPC_AUTH_MECHS_MAX - 2; i++)
		buf_addf(&in, " M%d", i);
	buf_add_str(&in, " LOGIN\r\n250 AUTH=XOAUTH2 PLAIN\r\n");
	check_ehlo("many mechanisms", buf_cstr(&in), &caps, PARSE_OK);
	assert_true(caps.truncated);
	assert_int_equal(caps.auth, SMTPC_AUTH_LOGIN | SMTPC_AUTH_XOAUTH2);
	assert_int_equal(caps.ext, SMTPC_EXT_AUTH);
	buf_free(&in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply_table),
		cmocka_unit_test(test_reply_fields),
		cmocka_unit_test(test_default_limits),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_ehlo_table),
		cmocka_unit_test(test_ehlo_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
