/*
 * queue_dsn_test.c - queue/queue_dsn.h: the RFC 3461 parameter parser and
 * its decoders (tables), and the RFC 3464 report builder.
 *
 * Reports are compared with golden files t/unit/queue_dsn/<name>.ref,
 * kept with LF line ends (the output is checked to use CRLF only, then
 * compared with CR removed); QUEUE_DSN_REGEN=1 rewrites them.  Each is
 * also checked for its invariants: CRLF only, no line over 998 bytes,
 * and the MIME structure GMime sees (store/mime.h): multipart/report with
 * the explanation, the delivery-status part and the original's type.
 * The expectations in the .ref files were checked by hand against RFC
 * 3464 2.2, 2.3 and RFC 3461 6.3 when they were first written.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "queue/queue_dsn.h"
#include "store/mime.h"

#define DIR "t/unit/queue_dsn/"
#define T0 1700000000000000ull	/* Tue, 14 Nov 2023 22:13:20 +0000 */
#define SEC 1000000ull

/* ---- parameters ---- */

#define R QUEUE_DSN_PARSE_RCPT
#define U QUEUE_DSN_PARSE_UTF8
#define NS QUEUE_DSN_NOTIFY_SUCCESS
#define NF QUEUE_DSN_NOTIFY_FAILURE
#define ND QUEUE_DSN_NOTIFY_DELAY
#define NN QUEUE_DSN_NOTIFY_NEVER

static const struct {
	const char *in;
	unsigned flags;
	enum parse_res want;
	unsigned notify;
	enum queue_dsn_ret ret;
	const char *envid;	/* decoded; NULL: none */
	const char *otype;	/* NULL: no ORCPT */
	const char *orcpt;	/* decoded */
} params[] = {
	{ "", R, PARSE_OK, 0, 0, NULL, NULL, NULL },
	{ "NOTIFY=SUCCESS,FAILURE", R, PARSE_OK, NS | NF, 0, NULL, NULL,
	  NULL },
	{ "notify=delay,Failure,success", R, PARSE_OK, NS | NF | ND, 0, NULL,
	  NULL, NULL },
	{ "NOTIFY=NEVER", R, PARSE_OK, NN, 0, NULL, NULL, NULL },
	{ "NOTIFY=FAILURE,FAILURE", R, PARSE_OK, NF, 0, NULL, NULL, NULL },
	{ "NOTIFY=NEVER,DELAY", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "NOTIFY=", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "NOTIFY", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "NOTIFY=SUCCESS,,DELAY", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "NOTIFY=SUCCESS,", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "NOTIFY=SOMETIMES", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "NOTIFY=FAILURE NOTIFY=DELAY", R, PARSE_BAD, 0, 0, NULL, NULL,
	  NULL },
	{ "NOTIFY=FAILURE", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "RET=HDRS", 0, PARSE_OK, 0, QUEUE_DSN_RET_HDRS, NULL, NULL, NULL },
	{ "RET=full ENVID=abc+2Bdef", 0, PARSE_OK, 0, QUEUE_DSN_RET_FULL,
	  "abc+def", NULL, NULL },
	{ "BODY=8BITMIME  SMTPUTF8 ENVID=QQ+2b314159 SIZE=10", 0, PARSE_OK, 0,
	  0, "QQ+314159", NULL, NULL },
	{ "RET=PART", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "RET=HDRS RET=FULL", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "RET=HDRS", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ENVID=x", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ENVID=", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ENVID=a+0Db", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ENVID=a+0Ab", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ENVID=a+C3+A9", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ENVID=a=b", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ENVID=a+2", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ENVID=a+ZZ", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ENVID=a+20b", 0, PARSE_OK, 0, 0, "a b", NULL, NULL },
	{ "ENVID=\xc3\xa9", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=rfc822;bob+40example.com", R, PARSE_OK, 0, 0, NULL,
	  "rfc822", "bob@example.com" },
	{ "ORCPT=RFC822;a+2Bb@example.com NOTIFY=SUCCESS", R, PARSE_OK, NS, 0,
	  NULL, "RFC822", "a+b@example.com" },
	{ "ORCPT=rfc822", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=;bob@example.com", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=rfc822;", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=rfc(822);x@y", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=rfc822;a=b", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=rfc822;x@y", 0, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=x-local;bob", R, PARSE_OK, 0, 0, NULL, "x-local", "bob" },
	{ "ORCPT=utf-8;j\\x{E9}r\\x{f4}me@example.com", R, PARSE_OK, 0, 0,
	  NULL, "utf-8", "j\xc3\xa9r\xc3\xb4me@example.com" },
	{ "ORCPT=UTF-8;a\\x{2B}b\\x{1F600}@example.com", R, PARSE_OK, 0, 0,
	  NULL, "UTF-8", "a+b\xf0\x9f\x98\x80@example.com" },
	{ "ORCPT=utf-8;j\xc3\xa9r\xc3\xb4me@example.com", R, PARSE_BAD, 0, 0,
	  NULL, NULL, NULL },
	{ "ORCPT=utf-8;j\xc3\xa9r\xc3\xb4me@example.com", R | U, PARSE_OK, 0,
	  0, NULL, "utf-8", "j\xc3\xa9r\xc3\xb4me@example.com" },
	{ "ORCPT=utf-8;a\xc3(", R | U, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\xc2\x85", R | U, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\xed\xa0\x80", R | U, PARSE_BAD, 0, 0, NULL, NULL,
	  NULL },
	{ "ORCPT=utf-8;a\xc0\xaf", R | U, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=rfc822;j\xc3\xa9", R | U, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	/* Postfix's form of a UTF-8 address: xtext of its UTF-8 bytes */
	{ "ORCPT=rfc822;j+C3+B6rg@example.org", R | U, PARSE_OK, 0, 0, NULL,
	  "rfc822", "j\xc3\xb6rg@example.org" },
	{ "ORCPT=rfc822;j+C3+B6rg@example.org", R, PARSE_OK, 0, 0, NULL,
	  "rfc822", "j\xc3\xb6rg@example.org" },
	{ "ORCPT=rfc822;j+C3+28", R | U, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=rfc822;j+C2+85", R | U, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=rfc822;j+C3", R | U, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=rfc822;j+0D", R | U, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\\x{0D}b", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\\x{D800}b", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\\x{110000}b", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\\x{1234567}b", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\\x{4}b", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\\x{41b", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\\x{}", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\\x", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a+b", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
	{ "ORCPT=utf-8;a\\b", R, PARSE_BAD, 0, 0, NULL, NULL, NULL },
};

static void
test_params(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(params); i++) {
		struct queue_dsn_params p;
		struct buf d = BUF_INIT(0);
		const char *error = NULL;
		enum parse_res res;

		res = queue_dsn_params_parse(params[i].in,
		    strlen(params[i].in), params[i].flags, &p, &error);
		if (res != params[i].want)
			fail_msg("\"%s\": got %d, want %d (%s)", params[i].in,
			    (int)res, (int)params[i].want, error);
		assert_non_null(error);
		if (res != PARSE_OK) {
			assert_true(error[0] != '\0');
			assert_null(p.envid);
			assert_null(p.orcpt_type);
			continue;
		}
		assert_int_equal(p.notify, params[i].notify);
		assert_int_equal(p.ret, params[i].ret);
		if (params[i].envid == NULL) {
			assert_null(p.envid);
		} else {
			assert_int_equal(queue_dsn_xtext_decode(p.envid,
			    p.envid_len, &d), 0);
			assert_string_equal(buf_cstr(&d), params[i].envid);
		}
		buf_reset(&d);
		if (params[i].otype == NULL) {
			assert_null(p.orcpt_type);
		} else {
			assert_int_equal(p.orcpt_type_len,
			    strlen(params[i].otype));
			assert_memory_equal(p.orcpt_type, params[i].otype,
			    p.orcpt_type_len);
			assert_int_equal(queue_dsn_orcpt_decode(p.orcpt_type,
			    p.orcpt_type_len, p.orcpt, p.orcpt_len, p.utf8,
			    &d), 0);
			assert_string_equal(buf_cstr(&d), params[i].orcpt);
		}
		buf_free(&d);
	}
}

/* the limits: 100 for ENVID, 500 for ORCPT, counted encoded */
static void
test_param_limits(void **state)
{
	struct buf s = BUF_INIT(0);
	struct queue_dsn_params p;
	const char *error;

	(void)state;
	buf_add_str(&s, "ENVID=");
	for (int i = 0; i < 100; i++)
		buf_add_str(&s, "e");
	assert_int_equal(queue_dsn_params_parse((const char *)s.data, s.len,
	    0, &p, &error), PARSE_OK);
	assert_int_equal(p.envid_len, 100);
	buf_add_str(&s, "e");
	assert_int_equal(queue_dsn_params_parse((const char *)s.data, s.len,
	    0, &p, &error), PARSE_TOO_LONG);
	assert_string_equal(error, "ENVID longer than 100 characters");
	/* a value that is too long and malformed: too long wins, early */
	buf_reset(&s);
	buf_add_str(&s, "ORCPT=rfc822;");
	while (s.len < 6 + 500)
		buf_add_str(&s, "a");
	assert_int_equal(queue_dsn_params_parse((const char *)s.data, s.len,
	    R, &p, &error), PARSE_OK);
	assert_int_equal(p.orcpt_len, 500 - 7);
	buf_add_str(&s, "a");
	assert_int_equal(queue_dsn_params_parse((const char *)s.data, s.len,
	    R, &p, &error), PARSE_TOO_LONG);
	/* the parser never reads past n: a NUL-less prefix of a longer
	 * string */
	assert_int_equal(queue_dsn_params_parse("RET=HDRSX", 8, 0, &p,
	    &error), PARSE_OK);
	assert_int_equal(p.ret, QUEUE_DSN_RET_HDRS);
	buf_free(&s);
}

static void
test_xtext(void **state)
{
	static const struct {
		const char *in, *out;	/* out NULL: malformed */
	} cases[] = {
		{ "", "" },
		{ "plain", "plain" },
		{ "+2B+3D", "+=" },
		{ "+2b+3d", "+=" },
		{ "a+20b", "a b" },
		{ "+7E", "~" },
		{ "+7F", NULL },
		{ "+1F", NULL },
		{ "+FF", NULL },
		{ "+", NULL },
		{ "+4", NULL },
		{ "a b", NULL },
		{ "a=b", NULL },
		{ "\x7f", NULL },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b = BUF_INIT(0);
		int r = queue_dsn_xtext_decode(cases[i].in,
		    strlen(cases[i].in), &b);

		if (cases[i].out == NULL) {
			assert_int_equal(r, -1);
		} else {
			assert_int_equal(r, 0);
			assert_string_equal(buf_cstr(&b), cases[i].out);
			/* out NULL only checks, with the same answer */
			assert_int_equal(queue_dsn_xtext_decode(cases[i].in,
			    strlen(cases[i].in), NULL), 0);
		}
		buf_free(&b);
	}
}

/* ---- reports ---- */

struct src {
	const char *data;
	size_t len, off;
	size_t chunk;		/* most bytes per read: exercises joins */
	bool fail;		/* -1 once half of it was read */
};

static int
src_read(void *ctx, void *buf, size_t size, size_t *n_r, struct buf *err)
{
	struct src *s = ctx;
	size_t n = s->len - s->off;

	if (s->fail && s->off >= s->len / 2) {
		buf_addf(err, "read error at %zu", s->off);
		return -1;
	}
	if (n > size)
		n = size;
	if (n > s->chunk)
		n = s->chunk;
	memcpy(buf, s->data + s->off, n);
	s->off += n;
	*n_r = n;
	return 0;
}

static const char original[] =
    "Received: from client.example.net (client.example.net [192.0.2.7])\r\n"
    "\tby mx.test.example with ESMTP id 65F0A1B2C3D4E5\r\n"
    "From: Alice <alice@example.net>\r\n"
    "To: bob@test.example, carol@test.example\r\n"
    "Subject: lunch\r\n"
    "Message-ID: <lunch@example.net>\r\n"
    "\r\n"
    "Shall we meet at noon?\r\n"
    "--\r\n"
    "Alice\r\n";

static const struct queue_dsn_rcpt r_local = {
	.final_rcpt = "bob@test.example",
	.action = QUEUE_DSN_FAILED,
	.status = "5.1.1",
	.diag = "user unknown",
	.last_attempt_us = T0 + 60 * SEC,
};

static const struct queue_dsn_rcpt r_remote = {
	.final_rcpt = "carol@remote.example",
	.orcpt_type = "rfc822",
	.orcpt = "Carol@Remote.example",
	.action = QUEUE_DSN_FAILED,
	.status = "5.2.1",
	.remote_mta = "mx.remote.example",
	.diag = "550 5.2.1 <carol@remote.example>: mailbox disabled",
	.last_attempt_us = T0 + 61 * SEC,
};

static const struct queue_dsn_rcpt r_delayed = {
	.final_rcpt = "dave@remote.example",
	.action = QUEUE_DSN_DELAYED,
	.status = "4.4.1",
	.diag = "connect to mx.remote.example[192.0.2.9]:25: Connection "
	    "refused",
	.last_attempt_us = T0 + 4 * 3600 * SEC,
	.retry_until_us = T0 + 5 * 86400 * SEC,
};

static const struct queue_dsn_rcpt r_delivered = {
	.final_rcpt = "bob@test.example",
	.orcpt_type = "rfc822",
	.orcpt = "bob@test.example",
	.action = QUEUE_DSN_DELIVERED,
	.status = "2.0.0",
	.diag = "delivered to mailbox (1 account)",
	.last_attempt_us = T0 + 1 * SEC,
};

static const struct queue_dsn_rcpt r_relayed = {
	.final_rcpt = "erin@remote.example",
	.action = QUEUE_DSN_RELAYED,
	.status = "2.0.0",
	.remote_mta = "mx.remote.example",
	.diag = "250 2.0.0 Ok: queued as 4B3C",
	.last_attempt_us = T0 + 2 * SEC,
};

/* its ORCPT came as Postfix sends one, type rfc822: reported as utf-8 */
static const struct queue_dsn_rcpt r_utf8 = {
	.final_rcpt = "j\xc3\xa9r\xc3\xb4me@t\xc3\xa9st.example",
	.orcpt_type = "rfc822",
	.orcpt = "J\xc3\xa9r\xc3\xb4me@t\xc3\xa9st.example",
	.action = QUEUE_DSN_FAILED,
	.status = "5.1.1",
	.diag = "user unknown",
	.last_attempt_us = T0 + 60 * SEC,
};

struct golden {
	const char *name;
	const struct queue_dsn_rcpt *rcpts[3];
	size_t nrcpt;
	const char *content;	/* NULL: original */
	enum queue_dsn_ret ret;
	uint64_t full_max;
	bool no_read;
	const char *sender;	/* NULL: alice@example.net */
	const char *envid;
	/* expected structure */
	const char *type3;	/* NULL: two parts */
	unsigned flags;
};

static struct queue_dsn_rcpt r_long;

static const struct golden goldens[] = {
	{ "failed-full", { &r_local, &r_remote }, 2, NULL, 0, 50000, false,
	  NULL, "QQ314159", "message/rfc822", QUEUE_DSN_OUT_FULL },
	{ "failed-ret-hdrs", { &r_local }, 1, NULL, QUEUE_DSN_RET_HDRS, 50000,
	  false, NULL, NULL, "text/rfc822-headers", 0 },
	{ "failed-too-big", { &r_remote }, 1, NULL, 0, 100, false, NULL, NULL,
	  "text/rfc822-headers", 0 },
	{ "delayed", { &r_delayed }, 1, NULL, QUEUE_DSN_RET_FULL, 50000, false,
	  NULL, NULL, "text/rfc822-headers", 0 },
	{ "success", { &r_delivered, &r_relayed }, 2, NULL, 0, 50000, false,
	  NULL, NULL, "text/rfc822-headers", 0 },
	{ "mixed", { &r_local, &r_delivered }, 2, NULL, 0, 50000, false,
	  NULL, NULL, "message/rfc822", QUEUE_DSN_OUT_FULL },
	{ "unreadable", { &r_local }, 1, NULL, 0, 50000, true, NULL, NULL,
	  NULL, 0 },
	{ "utf8", { &r_utf8 }, 1,
	  "From: J\xc3\xa9r\xc3\xb4me <j@example.net>\r\n"
	  "Subject: caf\xc3\xa9\r\n\r\nbody\r\n", 0, 50000, false,
	  "s\xc3\xa9nder@example.net", NULL, "message/global",
	  QUEUE_DSN_OUT_FULL | QUEUE_DSN_OUT_8BIT | QUEUE_DSN_OUT_UTF8 },
	{ "8bit-body", { &r_local }, 1,
	  "Subject: x\r\n\r\ncaf\xc3\xa9\r\n", 0, 50000, false, NULL, NULL,
	  "message/rfc822", QUEUE_DSN_OUT_FULL | QUEUE_DSN_OUT_8BIT },
	{ "bare-lf", { &r_local }, 1,
	  "Subject: bare\nX-A: 1\r\rbody\nend", 0, 50000, false, NULL, NULL,
	  "message/rfc822", QUEUE_DSN_OUT_FULL },
	{ "headers-only-no-body", { &r_local }, 1,
	  "Subject: no body\r\nX-Last: 1", QUEUE_DSN_RET_HDRS, 50000, false,
	  NULL, NULL, "text/rfc822-headers", 0 },
	{ "long-fields", { &r_long }, 1, NULL, 0, 50000, false, NULL, NULL,
	  "message/rfc822", QUEUE_DSN_OUT_FULL },
	/* the original holds the first boundary we would pick */
	{ "boundary-clash", { &r_local }, 1,
	  "Subject: clash\r\n\r\n--=_65F0A1B2C3D4E5.1700000300000000\r\n",
	  0, 50000, false, NULL, NULL, "message/rfc822", QUEUE_DSN_OUT_FULL },
};

static void
make_long(struct buf *diag, struct buf *addr)
{
	/* a diagnostic of words, then one word longer than a line may be */
	for (int i = 0; i < 40; i++)
		buf_addf(diag, "word%02d ", i);
	for (int i = 0; i < 1100; i++)
		buf_add_str(diag, "x");
	buf_add_str(diag, " end\x01\x7f\xff");
	for (int i = 0; i < 300; i++)
		buf_add_str(addr, "l");
	buf_add_str(addr, "@test.example");
	r_long = (struct queue_dsn_rcpt){
		.final_rcpt = buf_cstr(addr),
		.action = QUEUE_DSN_FAILED,
		.status = "bogus",	/* becomes 5.0.0 */
		.diag = buf_cstr(diag),
	};
}

static void
report_of(const struct golden *g, struct queue_dsn_report *r,
    struct queue_dsn_rcpt *rc, struct src *s)
{
	for (size_t i = 0; i < g->nrcpt; i++)
		rc[i] = *g->rcpts[i];
	*s = (struct src){ g->content != NULL ? g->content : original, 0, 0,
		7, false };
	s->len = strlen(s->data);
	*r = (struct queue_dsn_report){
		.hostname = "mx.test.example",
		.qid = "65F0A1B2C3D4E5",
		.sender = g->sender != NULL ? g->sender : "alice@example.net",
		.envid = g->envid,
		.ret = g->ret,
		.arrival_us = T0,
		.client_name = "client.example.net",
		.client_ip = "192.0.2.7",
		.now_us = T0 + 300 * SEC,
		.rcpts = rc,
		.nrcpt = g->nrcpt,
		.content_size = s->len,
		.full_max = g->full_max,
		.read = g->no_read ? NULL : src_read,
		.read_ctx = s,
	};
}

/* check_lines - CRLF only, no line over 998 bytes; out_lf: with LF */
static void
check_lines(const struct buf *m, struct buf *out_lf, const char *name)
{
	size_t col = 0;

	for (size_t i = 0; i < m->len; i++) {
		unsigned char c = m->data[i];

		if (c == '\r') {
			if (i + 1 >= m->len || m->data[i + 1] != '\n')
				fail_msg("%s: bare CR at %zu", name, i);
			continue;
		}
		if (c == '\n') {
			if (i == 0 || m->data[i - 1] != '\r')
				fail_msg("%s: bare LF at %zu", name, i);
			col = 0;
		} else if (++col > 998) {
			fail_msg("%s: line longer than 998 at %zu", name, i);
		}
		buf_add(out_lf, &c, 1);
	}
	assert_true(m->len >= 2 &&
	    memcmp(m->data + m->len - 2, "\r\n", 2) == 0);
}

static const struct mime_part *
child(const struct mime_info *mi, uint32_t parent, unsigned nth)
{
	uint32_t c = parent + 1;

	for (unsigned k = 0; k < nth && c < mi->parts[parent].next; k++)
		c = mi->parts[c].next;
	return c < mi->parts[parent].next ? &mi->parts[c] : NULL;
}

static void
check_type(const struct mime_part *p, const char *type)
{
	char t[64];

	assert_non_null(p);
	(void)snprintf(t, sizeof(t), "%s/%s", p->type, p->subtype);
	assert_string_equal(t, type);
}

static void
check_mime(const struct buf *m, const struct golden *g, bool utf8)
{
	struct mime_info *mi = NULL;
	struct buf err = BUF_INIT(0);

	assert_int_equal(mime_parse(m->data, m->len, NULL, &mi, &err), 0);
	assert_int_equal(mi->flags & (MIME_FALLBACK | MIME_MALFORMED |
	    MIME_BARE_LF | MIME_NO_SEPARATOR), 0);
	check_type(&mi->parts[0], "multipart/report");
	check_type(child(mi, 0, 0), "text/plain");
	check_type(child(mi, 0, 1), utf8 ? "message/global-delivery-status" :
	    "message/delivery-status");
	if (g->type3 != NULL) {
		check_type(child(mi, 0, 2), g->type3);
		assert_null(child(mi, 0, 3));
	} else {
		assert_null(child(mi, 0, 2));
	}
	mime_info_free(&mi);
	buf_free(&err);
}

static void
run_golden(const struct golden *g, bool regen)
{
	struct buf out = BUF_INIT(0), lf = BUF_INIT(0), ref = BUF_INIT(0);
	struct buf err = BUF_INIT(0), path = BUF_INIT(0);
	struct queue_dsn_rcpt rc[3];
	struct queue_dsn_report r;
	unsigned flags = 99;
	struct src s;
	FILE *f;

	report_of(g, &r, rc, &s);
	buf_add_str(&out, "previous");
	buf_reset(&out);
	if (queue_dsn_build(&r, &out, &flags, &err) != 0)
		fail_msg("%s: %s", g->name, buf_cstr(&err));
	assert_int_equal(err.len, 0);
	if (flags != g->flags)
		fail_msg("%s: flags %#x, want %#x", g->name, flags, g->flags);
	check_lines(&out, &lf, g->name);
	check_mime(&out, g, g->sender != NULL);
	/* deterministic */
	{
		struct buf again = BUF_INIT(0);
		unsigned fl2;

		report_of(g, &r, rc, &s);
		assert_int_equal(queue_dsn_build(&r, &again, &fl2, &err), 0);
		assert_int_equal(again.len, out.len);
		assert_memory_equal(again.data, out.data, out.len);
		buf_free(&again);
	}
	buf_addf(&path, DIR "%s.ref", g->name);
	if (regen) {
		f = fopen(buf_cstr(&path), "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(lf.data, 1, lf.len, f), lf.len);
		assert_int_equal(fclose(f), 0);
	} else {
		char chunk[4096];
		size_t n;

		f = fopen(buf_cstr(&path), "rb");
		if (f == NULL)
			fail_msg("%s: no %s (QUEUE_DSN_REGEN=1 makes it)",
			    g->name, buf_cstr(&path));
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_add(&ref, chunk, n);
		fclose(f);
		if (ref.len != lf.len || memcmp(ref.data, lf.data, lf.len) !=
		    0)
			fail_msg("%s: differs from %s; got:\n%s", g->name,
			    buf_cstr(&path), buf_cstr(&lf));
	}
	buf_free(&out);
	buf_free(&lf);
	buf_free(&ref);
	buf_free(&err);
	buf_free(&path);
}

static void
test_golden(void **state)
{
	bool regen = getenv("QUEUE_DSN_REGEN") != NULL;
	struct buf diag = BUF_INIT(0), addr = BUF_INIT(0);

	(void)state;
	make_long(&diag, &addr);
	for (size_t i = 0; i < ARRAY_SIZE(goldens); i++)
		run_golden(&goldens[i], regen);
	buf_free(&diag);
	buf_free(&addr);
}

/* has_line - the report holds this line */
static bool
has_line(const struct buf *m, const char *line)
{
	struct buf l = BUF_INIT(0);
	bool found;

	buf_addf(&l, "\r\n%s\r\n", line);
	found = memmem(m->data, m->len, l.data, l.len) != NULL;
	buf_free(&l);
	return found;
}

static size_t
count(const struct buf *m, const char *s)
{
	size_t n = 0;

	for (const char *p = buf_cstr(m); (p = strstr(p, s)) != NULL; p++)
		n++;
	return n;
}

/* the fields RFC 3461 6.3 and RFC 3464 require, by hand */
static void
test_fields(void **state)
{
	const struct golden *g = &goldens[0];
	struct buf out = BUF_INIT(0), err = BUF_INIT(0);
	struct queue_dsn_rcpt rc[3];
	struct queue_dsn_report r;
	unsigned flags;
	struct src s;

	(void)state;
	report_of(g, &r, rc, &s);
	assert_int_equal(queue_dsn_build(&r, &out, &flags, &err), 0);
	{
		const char *from = "From: Mail Delivery System "
		    "<MAILER-DAEMON@mx.test.example>\r\n";

		assert_true(strncmp(buf_cstr(&out), from, strlen(from)) == 0);
	}
	assert_true(has_line(&out, "To: <alice@example.net>"));
	assert_true(has_line(&out, "Subject: Undelivered Mail Returned to "
	    "Sender"));
	assert_true(has_line(&out, "Date: Tue, 14 Nov 2023 22:18:20 +0000"));
	assert_true(has_line(&out, "Message-ID: "
	    "<20231114221820.F.65F0A1B2C3D4E5@mx.test.example>"));
	assert_true(has_line(&out, "Auto-Submitted: auto-replied"));
	assert_true(has_line(&out, "MIME-Version: 1.0"));
	assert_true(has_line(&out, "Reporting-MTA: dns; mx.test.example"));
	assert_true(has_line(&out, "Original-Envelope-Id: QQ314159"));
	assert_true(has_line(&out, "Arrival-Date: Tue, 14 Nov 2023 22:13:20 "
	    "+0000"));
	assert_true(has_line(&out, "Final-Recipient: rfc822; "
	    "bob@test.example"));
	assert_true(has_line(&out, "Action: failed"));
	assert_true(has_line(&out, "Status: 5.1.1"));
	assert_true(has_line(&out, "Diagnostic-Code: X-Postern; user "
	    "unknown"));
	assert_true(has_line(&out, "Final-Recipient: rfc822; "
	    "carol@remote.example"));
	assert_true(has_line(&out, "Original-Recipient: "
	    "rfc822;Carol@Remote.example"));
	assert_true(has_line(&out, "Remote-MTA: dns; mx.remote.example"));
	assert_true(has_line(&out, "Diagnostic-Code: smtp; 550 5.2.1 "
	    "<carol@remote.example>: mailbox disabled"));
	/* RFC 3461 6.3 (d): no ORCPT, no Original-Recipient */
	assert_int_equal(count(&out, "Original-Recipient:"), 1);
	assert_int_equal(count(&out, "Final-Recipient:"), 2);
	/* the whole original, after its part header */
	assert_non_null(strstr(buf_cstr(&out), "Content-Type: message/rfc822"
	    "\r\n\r\nReceived: from client.example.net"));
	assert_non_null(strstr(buf_cstr(&out), "Shall we meet at noon?"));
	buf_free(&out);
	buf_free(&err);
}

/* a read error fails the build (with the reader's line); the caller
 * builds again without the original */
static void
test_read_error(void **state)
{
	struct buf out = BUF_INIT(0), err = BUF_INIT(0);
	struct queue_dsn_rcpt rc[3];
	struct queue_dsn_report r;
	unsigned flags;
	struct src s;

	(void)state;
	report_of(&goldens[0], &r, rc, &s);
	s.fail = true;
	assert_int_equal(queue_dsn_build(&r, &out, &flags, &err), -1);
	assert_string_equal(buf_cstr(&err), "read error at 140");
	buf_free(&out);
	buf_free(&err);
}

/* the header returned is cut after its last whole line within
 * QUEUE_DSN_HEADERS_MAX; a whole message over that, within full_max,
 * is returned whole */
static void
test_sizes(void **state)
{
	struct buf content = BUF_INIT(0), out = BUF_INIT(0), err = BUF_INIT(0);
	struct queue_dsn_rcpt rc[3];
	struct queue_dsn_report r;
	const char *part, *end;
	unsigned flags;
	struct src s;

	(void)state;
	for (int i = 0; content.len < 70000; i++)
		buf_addf(&content, "X-Filler-%05d: %060d\r\n", i, i);
	buf_add_str(&content, "\r\nthe body\r\n");
	report_of(&goldens[1], &r, rc, &s);	/* RET=HDRS */
	s.data = buf_cstr(&content);
	s.len = content.len;
	s.chunk = 5000;
	r.content_size = content.len;
	assert_int_equal(queue_dsn_build(&r, &out, &flags, &err), 0);
	assert_int_equal(flags, 0);
	part = strstr(buf_cstr(&out), "text/rfc822-headers\r\n\r\n");
	assert_non_null(part);
	part += strlen("text/rfc822-headers\r\n\r\n");
	end = strstr(part, "\r\n\r\n--=_");
	assert_non_null(end);
	end += 2;	/* the last line's CRLF */
	assert_true((size_t)(end - part) <= QUEUE_DSN_HEADERS_MAX);
	assert_true((size_t)(end - part) > QUEUE_DSN_HEADERS_MAX - 100);
	assert_memory_equal(part, content.data, (size_t)(end - part));
	assert_false(strstr(buf_cstr(&out), "the body"));

	/* RET=FULL, 70 KB within a full_max of 100 KB: all of it */
	buf_reset(&out);
	report_of(&goldens[0], &r, rc, &s);
	s.data = buf_cstr(&content);
	s.len = content.len;
	s.chunk = 5000;
	r.content_size = content.len;
	r.full_max = 100000;
	assert_int_equal(queue_dsn_build(&r, &out, &flags, &err), 0);
	assert_int_equal(flags, QUEUE_DSN_OUT_FULL);
	assert_non_null(memmem(out.data, out.len, content.data, content.len));
	buf_free(&content);
	buf_free(&out);
	buf_free(&err);
}

static int
group_setup(void **state)
{
	(void)state;
	setenv("TZ", "America/New_York", 1);	/* dates are UTC anyway */
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_param_limits),
		cmocka_unit_test(test_xtext),
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_read_error),
		cmocka_unit_test(test_sizes),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
