/*
 * jmap_api_test.c - the JMAP method layer (imap-jmap/jmap_api.c) with a
 * method table of its own, no store: the core's checks in their order
 * (unknownMethod, references, accountId, accountNotFound,
 * accountNotSupportedByMethod, accountReadOnly), serverFail for a handler
 * that fails or does not answer, argument checks, creation ids across
 * calls, ids and states, and jmap_api_run's content type and Response.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap-jmap/jmap_priv.h"

static int
m_ok(struct jmap_call *c, struct buf *err)
{
	json_t *r = json_object();

	(void)err;
	json_object_set_new(r, "acct", json_integer(c->acct));
	jmap_reply(c, r);
	return 0;
}

static int
m_fail(struct jmap_call *c, struct buf *err)
{
	(void)c;
	buf_add_str(err, "the disk is on fire");
	return -1;
}

static int
m_silent(struct jmap_call *c, struct buf *err)
{
	(void)c;
	(void)err;
	return 0;
}

static const struct jmap_arg args_spec[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "n", JMAP_ARG_UINT, JMAP_ARG_REQUIRED },
	{ "ids", JMAP_ARG_IDS, JMAP_ARG_NULL },
	{ "s", JMAP_ARG_STRING, 0 },
	{ NULL, 0, 0 },
};

static int
m_args(struct jmap_call *c, struct buf *err)
{
	(void)err;
	if (jmap_args_check(c, args_spec, NULL) < 0)
		return 0;
	jmap_reply(c, json_object());
	return 0;
}

/* m_create - "Test/create" {cid}: makes X<n> for cid, n = 7 */
static int
m_create(struct jmap_call *c, struct buf *err)
{
	(void)err;
	jmap_created_add(c, json_string_value(json_object_get(c->args, "cid")),
	    "X7");
	jmap_reply(c, json_object());
	return 0;
}

/* m_resolve - "Test/resolve" {id}: the number of an X id or #cid */
static int
m_resolve(struct jmap_call *c, struct buf *err)
{
	uint32_t n = 0;
	json_t *r = json_object();

	(void)err;
	if (jmap_id_resolve(c, 'X', json_string_value(json_object_get(c->args,
	    "id")), &n) < 0)
		n = 0;
	json_object_set_new(r, "n", json_integer(n));
	jmap_reply(c, r);
	return 0;
}

static const struct jmap_method test_methods[] = {
	{ "Test/ok", JMAP_CAP_CORE, JMAP_M_ACCOUNT, m_ok, NULL, 0 },
	{ "Test/noacct", JMAP_CAP_CORE, 0, m_ok, NULL, 0 },
	{ "Test/write", JMAP_CAP_CORE, JMAP_M_ACCOUNT | JMAP_M_WRITE, m_ok, NULL, 0 },
	{ "Test/mail", JMAP_CAP_MAIL, JMAP_M_ACCOUNT, m_ok, NULL, 0 },
	{ "Test/fail", JMAP_CAP_CORE, 0, m_fail, NULL, 0 },
	{ "Test/silent", JMAP_CAP_CORE, 0, m_silent, NULL, 0 },
	{ "Test/args", JMAP_CAP_CORE, JMAP_M_ACCOUNT, m_args, NULL, 0 },
	{ "Test/create", JMAP_CAP_CORE, 0, m_create, NULL, 0 },
	{ "Test/resolve", JMAP_CAP_CORE, 0, m_resolve, NULL, 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

static const struct jmap_method *const test_tables[] = { test_methods,
	jmap_core_methods, NULL };
static const struct jmap_type *const no_types[] = { NULL };

static struct jmap_env env = {
	.lim = { 1 << 20, 1, 1 << 20, 1, 16, 10, 10 },
	.tables = test_tables,
	.types = no_types,
};

/* run - one request's responses, as [name, type-or-null] pairs */
static json_t *
run(const char *body, bool read_only, unsigned account_caps)
{
	struct jmap_request r;
	struct jmap_problem p;
	struct jmap_ctx ctx;
	json_t *out;

	if (jmap_request_parse(body, strlen(body), &env.lim,
	    jmap_caps_advertised(&env), &r, &p) < 0)
		fail_msg("%s: %s", p.type, p.detail);
	jmap_ctx_init(&ctx, &env, 42, "u@example.com");
	ctx.read_only = read_only;
	if (account_caps != 0)
		ctx.account_caps = account_caps;
	jmap_api_execute(&ctx, &r);
	out = json_incref(ctx.responses);
	jmap_ctx_clear(&ctx);
	jmap_request_clear(&r);
	return out;
}

static const char *
resp_type(json_t *resps, size_t i)
{
	json_t *r = json_array_get(resps, i);

	if (strcmp(json_string_value(json_array_get(r, 0)), "error") != 0)
		return json_string_value(json_array_get(r, 0));
	return json_string_value(json_object_get(json_array_get(r, 1),
	    "type"));
}

#define USING "\"using\": [\"urn:ietf:params:jmap:core\"," \
	" \"urn:ietf:params:jmap:mail\"]"

static void
test_checks(void **state)
{
	static const struct {
		const char *call;
		const char *want;
	} cases[] = {
		{ "[\"Test/ok\", {\"accountId\": \"A42\"}, \"c\"]", "Test/ok" },
		{ "[\"Nope/x\", {}, \"c\"]", "unknownMethod" },
		{ "[\"Test/ok\", {}, \"c\"]", "invalidArguments" },
		{ "[\"Test/ok\", {\"accountId\": 42}, \"c\"]",
		  "invalidArguments" },
		{ "[\"Test/ok\", {\"accountId\": \"A43\"}, \"c\"]",
		  "accountNotFound" },
		{ "[\"Test/noacct\", {\"accountId\": \"A43\"}, \"c\"]",
		  "Test/noacct" },
		{ "[\"Test/ok\", {\"#accountId\": {\"resultOf\": \"zz\","
		  " \"name\": \"x\", \"path\": \"\"}}, \"c\"]",
		  "invalidResultReference" },
		{ "[\"Test/fail\", {}, \"c\"]", "serverFail" },
		{ "[\"Test/silent\", {}, \"c\"]", "serverFail" },
		{ "[\"Test/args\", {\"accountId\": \"A42\", \"n\": 1}, \"c\"]",
		  "Test/args" },
		{ "[\"Test/args\", {\"accountId\": \"A42\", \"n\": 1,"
		  " \"ids\": null, \"s\": \"x\"}, \"c\"]", "Test/args" },
		{ "[\"Test/args\", {\"accountId\": \"A42\"}, \"c\"]",
		  "invalidArguments" },
		{ "[\"Test/args\", {\"accountId\": \"A42\", \"n\": -1}, \"c\"]",
		  "invalidArguments" },
		{ "[\"Test/args\", {\"accountId\": \"A42\", \"n\": null},"
		  " \"c\"]", "invalidArguments" },
		{ "[\"Test/args\", {\"accountId\": \"A42\", \"n\": 1.5},"
		  " \"c\"]", "invalidArguments" },
		{ "[\"Test/args\", {\"accountId\": \"A42\", \"n\":"
		  " 9007199254740992}, \"c\"]", "invalidArguments" },
		{ "[\"Test/args\", {\"accountId\": \"A42\", \"n\": 1,"
		  " \"s\": null}, \"c\"]", "invalidArguments" },
		{ "[\"Test/args\", {\"accountId\": \"A42\", \"n\": 1,"
		  " \"ids\": [\"a b\"]}, \"c\"]", "invalidArguments" },
		{ "[\"Test/args\", {\"accountId\": \"A42\", \"n\": 1,"
		  " \"other\": 1}, \"c\"]", "invalidArguments" },
		{ "[\"Core/echo\", {\"x\": [1]}, \"c\"]", "Core/echo" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf body = BUF_INIT(0);
		json_t *resps;

		buf_addf(&body, "{" USING ", \"methodCalls\": [%s]}",
		    cases[i].call);
		resps = run(buf_cstr(&body), false, 0);
		assert_int_equal(json_array_size(resps), 1);
		assert_string_equal(json_string_value(json_array_get(
		    json_array_get(resps, 0), 2)), "c");
		if (strcmp(resp_type(resps, 0), cases[i].want) != 0)
			fail_msg("case %zu: %s, want %s", i,
			    resp_type(resps, 0), cases[i].want);
		json_decref(resps);
		buf_free(&body);
	}
}

static void
test_account_rules(void **state)
{
	json_t *r;

	(void)state;
	/* a method whose capability the client did not name */
	r = run("{\"using\": [\"urn:ietf:params:jmap:core\"], \"methodCalls\":"
	    " [[\"Test/mail\", {\"accountId\": \"A42\"}, \"c\"]]}", false, 0);
	assert_string_equal(resp_type(r, 0), "unknownMethod");
	json_decref(r);
	/* named, but the account lacks it */
	r = run("{" USING ", \"methodCalls\": [[\"Test/mail\", {\"accountId\":"
	    " \"A42\"}, \"c\"]]}", false, JMAP_CAP_BIT(JMAP_CAP_CORE));
	assert_string_equal(resp_type(r, 0), "accountNotSupportedByMethod");
	json_decref(r);
	/* a read-only account: reads pass, writes do not */
	r = run("{" USING ", \"methodCalls\": [[\"Test/write\", {\"accountId\":"
	    " \"A42\"}, \"w\"], [\"Test/ok\", {\"accountId\": \"A42\"},"
	    " \"r\"]]}", true, 0);
	assert_string_equal(resp_type(r, 0), "accountReadOnly");
	assert_string_equal(resp_type(r, 1), "Test/ok");
	json_decref(r);
	r = run("{" USING ", \"methodCalls\": [[\"Test/write\", {\"accountId\":"
	    " \"A42\"}, \"w\"]]}", false, 0);
	assert_string_equal(resp_type(r, 0), "Test/write");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
	    json_array_get(r, 0), 1), "acct")), 42);
	json_decref(r);
}

static void
test_creation_ids(void **state)
{
	json_t *r;

	(void)state;
	r = run("{" USING ", \"methodCalls\": ["
	    "[\"Test/resolve\", {\"id\": \"#k\"}, \"0\"],"
	    "[\"Test/create\", {\"cid\": \"k\"}, \"1\"],"
	    "[\"Test/resolve\", {\"id\": \"#k\"}, \"2\"],"
	    "[\"Test/resolve\", {\"id\": \"#given\"}, \"3\"],"
	    "[\"Test/resolve\", {\"id\": \"X12\"}, \"4\"],"
	    "[\"Test/resolve\", {\"id\": \"X012\"}, \"5\"],"
	    "[\"Test/resolve\", {\"id\": \"Y12\"}, \"6\"],"
	    "[\"Test/resolve\", {\"id\": \"X4294967296\"}, \"7\"]"
	    "], \"createdIds\": {\"given\": \"X5\"}}", false, 0);
	static const int want[] = { 0, -1, 7, 5, 12, 0, 0, 0 };
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		json_t *a = json_array_get(json_array_get(r, i), 1);

		if (want[i] >= 0)
			assert_int_equal(json_integer_value(json_object_get(a,
			    "n")), want[i]);
	}
	json_decref(r);
}

static void
test_ids_states(void **state)
{
	char id[JMAP_ID_MAX], st[24];
	uint32_t n;
	uint64_t s;

	(void)state;
	jmap_id_make('M', 4294967295u, id);
	assert_string_equal(id, "M4294967295");
	assert_int_equal(jmap_id_parse('M', id, &n), 0);
	assert_int_equal(n, 4294967295u);
	assert_int_equal(jmap_id_parse('M', "M0", &n), -1);
	assert_int_equal(jmap_id_parse('M', "M", &n), -1);
	assert_int_equal(jmap_id_parse('M', "M1x", &n), -1);
	assert_int_equal(jmap_id_parse('M', "m1", &n), -1);
	jmap_state_str(0, st);
	assert_string_equal(st, "0");
	assert_int_equal(jmap_state_parse("0", &s), 0);
	assert_int_equal(jmap_state_parse("18446744073709551615", &s), 0);
	assert_true(s == UINT64_MAX);
	assert_int_equal(jmap_state_parse("18446744073709551616", &s), -1);
	assert_int_equal(jmap_state_parse("01", &s), -1);
	assert_int_equal(jmap_state_parse("", &s), -1);
	assert_int_equal(jmap_state_parse("-1", &s), -1);
}

static void
test_api_run(void **state)
{
	struct config *cfg = NULL;
	struct buf out = BUF_INIT(0), errors = BUF_INIT(0);
	struct jmap_env e = env;
	bool problem;
	json_t *o;
	int st;
	static const char req[] = "{\"using\": [\"urn:ietf:params:jmap:core\"],"
	    " \"methodCalls\": [[\"Core/echo\", {\"a\": 1}, \"x\"]],"
	    " \"createdIds\": {}}";

	(void)state;
	assert_int_equal(config_load(NULL, &cfg, &errors), 0);
	e.cfg = cfg;
	st = jmap_api_run(&e, 42, "u@example.com", "text/plain", req,
	    strlen(req), "T1", &out, &problem);
	assert_int_equal(st, 400);
	assert_true(problem);
	assert_non_null(strstr(buf_cstr(&out), "notJSON"));
	buf_reset(&out);
	st = jmap_api_run(&e, 42, "u@example.com",
	    "Application/JSON; charset=utf-8", req, strlen(req), "T1", &out,
	    &problem);
	assert_int_equal(st, 200);
	assert_false(problem);
	o = json_loads(buf_cstr(&out), 0, NULL);
	assert_non_null(o);
	assert_non_null(json_object_get(o, "sessionState"));
	assert_non_null(json_object_get(o, "createdIds"));
	assert_string_equal(json_string_value(json_array_get(json_array_get(
	    json_object_get(o, "methodResponses"), 0), 0)), "Core/echo");
	json_decref(o);
	buf_reset(&out);
	st = jmap_api_run(&e, 42, "u@example.com", "application/jsonx", req,
	    strlen(req), "T1", &out, &problem);
	assert_int_equal(st, 400);
	buf_free(&out);
	buf_free(&errors);
	config_free(&cfg);
}

/* per-account concurrency counters (jmap_http.c), no listener bound */
static void
test_use_limits(void **state)
{
	struct config *cfg = NULL;
	struct buf errors = BUF_INIT(0);
	struct loops *loops = loops_new(1);
	struct jmap_server *s;
	const char *error = NULL;
	size_t ntls;

	(void)state;
	assert_int_equal(config_load(NULL, &cfg, &errors), 0);
	ntls = cfg->jmap.listen_tls.n;
	cfg->jmap.listen_tls.n = 0;	/* no port 443 in a unit test */
	cfg->jmap.listen.n = 0;
	s = jmap_server_new(cfg, loops, NULL, &error);
	assert_non_null(s);
	assert_true(jmap_use_enter(s, 1, JMAP_USE_REQUEST, 2));
	assert_true(jmap_use_enter(s, 1, JMAP_USE_REQUEST, 2));
	assert_false(jmap_use_enter(s, 1, JMAP_USE_REQUEST, 2));
	/* another account, another kind: counted apart */
	assert_true(jmap_use_enter(s, 2, JMAP_USE_REQUEST, 2));
	assert_true(jmap_use_enter(s, 1, JMAP_USE_UPLOAD, 1));
	assert_false(jmap_use_enter(s, 1, JMAP_USE_UPLOAD, 1));
	jmap_use_leave(s, 1, JMAP_USE_REQUEST);
	assert_true(jmap_use_enter(s, 1, JMAP_USE_REQUEST, 2));
	jmap_use_leave(s, 1, JMAP_USE_REQUEST);
	jmap_use_leave(s, 1, JMAP_USE_REQUEST);
	jmap_use_leave(s, 1, JMAP_USE_UPLOAD);
	jmap_use_leave(s, 2, JMAP_USE_REQUEST);
	/* all back to zero: the record is gone, and the limit starts over */
	assert_true(jmap_use_enter(s, 1, JMAP_USE_UPLOAD, 1));
	jmap_use_leave(s, 1, JMAP_USE_UPLOAD);
	/* an HTTPS listener without a TLS context is refused */
	cfg->jmap.listen_tls.n = 1;
	assert_null(jmap_server_new(cfg, loops, NULL, &error));
	assert_non_null(strstr(error, "listen_tls"));
	cfg->jmap.listen_tls.n = ntls;
	jmap_server_free(&s);
	assert_null(s);
	loops_free(&loops);
	config_free(&cfg);
	buf_free(&errors);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_account_rules),
		cmocka_unit_test(test_creation_ids),
		cmocka_unit_test(test_ids_states),
		cmocka_unit_test(test_api_run),
		cmocka_unit_test(test_use_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
