/*
 * cli_control_test.c - the control socket's codec (cli/cli_control.h):
 * the frame splitter at its limits (exactly max, one past it, a length
 * over the limit refused from the header alone, unknown types), the
 * request parser's refusals, and every reply encoded and parsed back,
 * plus the replies a parser must refuse (out-of-range values, cut
 * short, bytes left over, NULs in text).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_control.h"
#include "common/buf.h"

#define S(lit) (const unsigned char *)(lit), sizeof(lit) - 1

static void
test_frame(void **state)
{
	static const struct {
		const char *name;
		const unsigned char *in;
		size_t len, max;
		const char *types;
		enum parse_res want;
		size_t body, used;
	} cases[] = {
		{ "empty", S(""), 10, "TS", PARSE_MORE, 0, 0 },
		{ "type only", S("T"), 10, "TS", PARSE_MORE, 0, 0 },
		{ "half a header", S("T\0\0"), 10, "TS", PARSE_MORE, 0, 0 },
		{ "body missing", S("T\0\0\0\3ab"), 10, "TS", PARSE_MORE, 0,
		    0 },
		{ "complete", S("T\0\0\0\3abc"), 10, "TS", PARSE_OK, 3, 8 },
		{ "and more", S("T\0\0\0\3abcS"), 10, "TS", PARSE_OK, 3, 8 },
		{ "empty body", S("S\0\0\0\0"), 10, "TS", PARSE_OK, 0, 5 },
		{ "exactly max", S("T\0\0\0\12"), 10, "TS", PARSE_MORE, 0, 0 },
		{ "one past max", S("T\0\0\0\13"), 10, "TS", PARSE_TOO_LONG,
		    0, 0 },
		{ "4 GiB", S("T\377\377\377\377"), 10, "TS", PARSE_TOO_LONG,
		    0, 0 },
		{ "unknown type", S("X\0\0\0\0"), 10, "TS", PARSE_BAD, 0, 0 },
		{ "a reply to the server", S("g\0\0\0\4"), 10,
		    CLI_CONTROL_REQUESTS, PARSE_BAD, 0, 0 },
		{ "NUL type", S("\0\0\0\0\0"), 10, "TS", PARSE_BAD, 0, 0 },
		{ "HTTP", S("GET / HTTP/1.0\r\n"), 1000, CLI_CONTROL_REQUESTS,
		    PARSE_BAD, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned char type = 0;
		size_t body = 0, used = 0;
		enum parse_res r = cli_control_frame(cases[i].in, cases[i].len,
		    cases[i].max, cases[i].types, &type, &body, &used);

		if (r != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].name, r,
			    cases[i].want);
		if (r == PARSE_OK) {
			assert_int_equal(type, cases[i].in[0]);
			assert_int_equal(body, cases[i].body);
			assert_int_equal(used, cases[i].used);
		}
	}
}

static void
test_req_bad(void **state)
{
	static const struct {
		const char *name;
		unsigned char cmd;
		const unsigned char *body;
		size_t len;
		const char *err;
	} cases[] = {
		{ "unknown", 'X', S("\0\0\0m"), "unknown request type" },
		{ "no header", 'T', S("\1\0"), "shorter than its header" },
		{ "class 2", 'T', S("\2\0\0m"), "bad class 2" },
		{ "classify as spam", 'C', S("\1\0\0m"), "bad class 1" },
		{ "user over max", 'T', S("\0\1\101m"), "user of 321 bytes" },
		{ "user past the end", 'T', S("\0\0\5ab"), "past the end" },
		{ "NUL in user", 'F', S("\0\0\2a\0m"), "a NUL in the user" },
		{ "stats with a message", 'S', S("\0\0\0m"), "after the user" },
		{ "train nothing", 'T', S("\1\0\0"), "a message of 0 bytes" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct cli_control_req r;
		struct buf err = BUF_INIT(0);

		if (cli_control_req_parse(cases[i].cmd, cases[i].body,
		    cases[i].len, &r, &err) == 0)
			fail_msg("%s: accepted", cases[i].name);
		if (strstr(buf_cstr(&err), cases[i].err) == NULL)
			fail_msg("%s: \"%s\"", cases[i].name, buf_cstr(&err));
		buf_free(&err);
	}
}

/* frame_back - the frame at b: its type and body, which must be all of b */
static const unsigned char *
frame_back(const struct buf *b, size_t max, const char *types,
    unsigned char *type, size_t *blen)
{
	size_t used;

	assert_int_equal(cli_control_frame(b->data, b->len, max, types, type,
	    blen, &used), PARSE_OK);
	assert_int_equal(used, b->len);
	return b->data + CLI_CONTROL_HDR;
}

static void
test_req_roundtrip(void **state)
{
	static const struct {
		unsigned char cmd;
		enum bayes_class cls;
		const char *user, *msg;
	} cases[] = {
		{ CLI_CONTROL_TRAIN, BAYES_SPAM, NULL, "Subject: x\n\nbody\n" },
		{ CLI_CONTROL_FORGET, BAYES_HAM, "bob@example.org", "m" },
		{ CLI_CONTROL_CLASSIFY, BAYES_HAM, "", "m\0with a NUL" },
		{ CLI_CONTROL_STATS, BAYES_HAM, "alice@example.org", "" },
	};
	char longuser[BAYES_USER_MAX + 1];

	(void)state;
	memset(longuser, 'u', BAYES_USER_MAX);
	longuser[BAYES_USER_MAX] = '\0';
	for (size_t i = 0; i <= ARRAY_SIZE(cases); i++) {
		bool last = i == ARRAY_SIZE(cases);
		unsigned char cmd = last ? CLI_CONTROL_TRAIN : cases[i].cmd;
		enum bayes_class cls = last ? BAYES_HAM : cases[i].cls;
		const char *user = last ? longuser : cases[i].user;
		const char *msg = last ? "m" : cases[i].msg;
		size_t mlen = last ? 1 : cmd == CLI_CONTROL_CLASSIFY ? 12 :
		    strlen(msg);
		struct buf b = BUF_INIT(0), err = BUF_INIT(0);
		struct cli_control_req r;
		const unsigned char *body;
		unsigned char type;
		size_t blen;

		cli_control_req_head(&b, cmd, cls, user, mlen);
		buf_add(&b, msg, mlen);
		body = frame_back(&b, CLI_CONTROL_REQ_MAX,
		    CLI_CONTROL_REQUESTS, &type, &blen);
		assert_int_equal(cli_control_req_parse(type, body, blen, &r,
		    &err), 0);
		assert_int_equal(r.cmd, cmd);
		assert_int_equal(r.cls, cls);
		assert_string_equal(r.user, user != NULL ? user : "");
		assert_int_equal(r.msg_len, mlen);
		assert_memory_equal(r.msg, msg, mlen);
		buf_free(&b);
		buf_free(&err);
	}
}

/* reply_back - b's one frame parsed as a reply */
static int
reply_back(const struct buf *b, struct cli_control_reply *r,
    struct buf *err)
{
	unsigned char type;
	size_t blen;
	const unsigned char *body = frame_back(b, CLI_CONTROL_REPLY_MAX,
	    CLI_CONTROL_REPLIES, &type, &blen);

	return cli_control_reply_parse(type, body, blen, r, err);
}

static void
test_reply_roundtrip(void **state)
{
	struct bayes_result res;
	struct bayes_stats st[2] = { { 5, 7, 1234 }, { 1, 0, -1 } };
	struct cli_control_reply *r = malloc(sizeof(*r));
	struct buf b = BUF_INIT(0), err = BUF_INIT(0);
	char big[2000];

	(void)state;
	cli_control_put_greeting(&b);
	assert_int_equal(reply_back(&b, r, &err), 0);
	assert_int_equal(r->type, CLI_CONTROL_GREETING);
	assert_int_equal(r->version, CLI_CONTROL_VERSION);

	for (int o = BAYES_LEARNED; o <= BAYES_NOT_LEARNED; o++) {
		buf_reset(&b);
		cli_control_put_outcome(&b, (enum bayes_outcome)o);
		assert_int_equal(reply_back(&b, r, &err), 0);
		assert_int_equal(r->outcome, o);
	}

	memset(&res, 0, sizeof(res));
	res.verdict = BAYES_VERDICT_SPAM;
	res.prob = 0.987654321;
	res.nspam = 1000;
	res.nham = -1;
	res.user_nspam = INT64_MAX;
	res.user_nham = INT64_MIN;
	res.user_used = true;
	res.ntokens = 2999;
	res.nclues = 150;
	res.ntop = BAYES_TOP_MAX;
	for (size_t i = 0; i < res.ntop; i++) {
		res.top[i].prob = (double)i / BAYES_TOP_MAX;
		res.top[i].spam = (int64_t)i;
		res.top[i].ham = (int64_t)(i * 3);
		memset(res.top[i].token, 'a' + (int)i, i == 0 ?
		    BAYES_CLUE_TEXT_MAX - 1 : i);
	}
	buf_reset(&b);
	cli_control_put_result(&b, &res);
	assert_int_equal(reply_back(&b, r, &err), 0);
	assert_int_equal(r->type, CLI_CONTROL_RESULT);
	assert_memory_equal(&r->result, &res, sizeof(res));

	buf_reset(&b);
	cli_control_put_sets(&b, st, 2);
	assert_int_equal(reply_back(&b, r, &err), 0);
	assert_int_equal(r->nsets, 2);
	assert_memory_equal(r->sets, st, sizeof(st));
	buf_reset(&b);
	cli_control_put_sets(&b, st, 1);
	assert_int_equal(reply_back(&b, r, &err), 0);
	assert_int_equal(r->nsets, 1);

	/* an error's text is cut at its limit */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_reset(&b);
	cli_control_put_error(&b, big);
	assert_int_equal(reply_back(&b, r, &err), 0);
	assert_int_equal(strlen(r->error), CLI_CONTROL_ERROR_MAX);
	buf_free(&b);
	buf_free(&err);
	free(r);
}

/* the replies a client refuses: a valid result with one thing broken */
static void
test_reply_bad(void **state)
{
	static const struct {
		const char *name;
		unsigned char type;
		size_t at;		/* byte of the good body changed */
		int val;		/* its new value; -1 = cut there */
		const char *err;
	} cases[] = {
		{ "verdict 4", 'r', 0, 4, "out of range" },
		{ "prob 2^1023", 'r', 1, 0x7f, "out of range" },
		{ "prob 2", 'r', 1, 0x40, "out of range" },
		{ "ntop 21", 'r', 50, 21, "out of range" },
		{ "clue text of 80", 'r', 51 + 24, 80, "clue 0" },
		{ "NUL in a clue", 'r', 51 + 25, 0, "a NUL in clue 0" },
		{ "cut in a clue", 'r', 51 + 10, -1, "cut short" },
		{ "cut in the header", 'r', 20, -1, "cut short" },
		{ "outcome 5", 'o', 0, 5, "out of range" },
		{ "sets 0", 's', 0, 0, "0 sets" },
		{ "sets 3", 's', 0, 3, "3 sets" },
		{ "NUL in an error", 'e', 1, 0, "a NUL" },
		{ "unknown", 'Z', 0, 0, "unknown reply type" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b = BUF_INIT(0), err = BUF_INIT(0);
		struct cli_control_reply *r = malloc(sizeof(*r));
		struct bayes_result res;
		struct bayes_stats st = { 1, 2, 3 };
		unsigned char *body;
		size_t len;

		memset(&res, 0, sizeof(res));
		res.prob = 0.5;
		res.ntop = 1;
		(void)snprintf(res.top[0].token, sizeof(res.top[0].token),
		    "tok");
		switch (cases[i].type) {
		case 'r':
		case 'Z':
			cli_control_put_result(&b, &res);
			break;
		case 'o':
			cli_control_put_outcome(&b, BAYES_LEARNED);
			break;
		case 's':
			cli_control_put_sets(&b, &st, 1);
			break;
		default:
			cli_control_put_error(&b, "an error");
			break;
		}
		body = b.data + CLI_CONTROL_HDR;
		len = b.len - CLI_CONTROL_HDR;
		assert_true(cases[i].at < len);
		if (cases[i].val < 0)
			len = cases[i].at;
		else
			body[cases[i].at] = (unsigned char)cases[i].val;
		if (cli_control_reply_parse(cases[i].type, body, len, r,
		    &err) == 0)
			fail_msg("%s: accepted", cases[i].name);
		if (strstr(buf_cstr(&err), cases[i].err) == NULL)
			fail_msg("%s: \"%s\"", cases[i].name, buf_cstr(&err));
		buf_free(&b);
		buf_free(&err);
		free(r);
	}
}

static void
test_reply_trailing_nan(void **state)
{
	struct buf b = BUF_INIT(0), err = BUF_INIT(0);
	struct cli_control_reply *r = malloc(sizeof(*r));
	struct bayes_result res;

	(void)state;
	memset(&res, 0, sizeof(res));
	res.prob = __builtin_nan("");
	cli_control_put_result(&b, &res);
	assert_int_equal(reply_back(&b, r, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "out of range"));
	buf_reset(&b);
	buf_reset(&err);
	cli_control_put_outcome(&b, BAYES_ALREADY);
	buf_add(&b, "x", 1);
	assert_int_equal(cli_control_reply_parse(CLI_CONTROL_OUTCOME,
	    b.data + CLI_CONTROL_HDR, b.len - CLI_CONTROL_HDR, r, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "bytes left over"));
	buf_free(&b);
	buf_free(&err);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_req_bad),
		cmocka_unit_test(test_req_roundtrip),
		cmocka_unit_test(test_reply_roundtrip),
		cmocka_unit_test(test_reply_bad),
		cmocka_unit_test(test_reply_trailing_nan),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
