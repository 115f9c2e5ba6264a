/*
 * jmap_json_test.c - the pure JSON parts of the JMAP core
 * (imap-jmap/jmap_json.c), table-driven: JSON Pointer with "*" (RFC 6901,
 * RFC 8620 3.7), result references, patch objects (RFC 8620 5.3), and
 * the Request object's request-level errors (3.6.1) in their order.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap-jmap/jmap_priv.h"

static json_t *
load(const char *s)
{
	json_error_t e;
	json_t *v = json_loads(s, JSON_DECODE_ANY, &e);

	if (v == NULL)
		fail_msg("bad test JSON %s: %s", s, e.text);
	return v;
}

/* same - a and b (JSON text) are equal values */
static void
assert_json(json_t *got, const char *want)
{
	json_t *w = load(want);
	char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

	if (!json_equal(got, w))
		fail_msg("got %s, want %s", g, want);
	free(g);
	json_decref(w);
}

static void
test_pointer(void **state)
{
	static const char doc[] =
	    "{\"a\": [{\"b\": [1, 2]}, {\"b\": [3]}, {\"b\": 4}],"
	    " \"x/y\": {\"m~n\": \"esc\"}, \"\": 0,"
	    " \"l\": [[{\"c\": 1}, {\"c\": 2}], [{\"c\": 3}]],"
	    " \"n\": null, \"*\": \"star\", \"e\": []}";
	static const struct {
		const char *path;
		bool star;
		const char *want;	/* NULL: fails */
	} cases[] = {
		{ "", true, NULL },	/* the whole document: checked below */
		{ "/a/0/b/1", true, "2" },
		{ "/a/2/b", true, "4" },
		{ "/x~1y/m~0n", true, "\"esc\"" },
		{ "/", true, "0" },	/* the member named "" */
		{ "/n", true, "null" },
		{ "/*", true, "\"star\"" },	/* "*" on an object: a name */
		{ "/a/*/b", true, "[1, 2, 3, 4]" },	/* flattened */
		{ "/a/*/b", false, NULL },	/* no "*" outside references */
		{ "/l/*/*/c", true, "[1, 2, 3]" },
		{ "/l/*", true, "[{\"c\": 1}, {\"c\": 2}, {\"c\": 3}]" },
		{ "/e/*", true, "[]" },
		{ "/e/*/x", true, "[]" },
		{ "/a/*/c", true, NULL },	/* one item lacks it */
		{ "a", true, NULL },		/* no leading "/" */
		{ "/a/3", true, NULL },
		{ "/a/-", true, NULL },
		{ "/a/01", true, NULL },
		{ "/a/+1", true, NULL },
		{ "/a/1e0", true, NULL },
		{ "/a/99999999999999999999999", true, NULL },
		{ "/x~2y", true, NULL },
		{ "/x~", true, NULL },
		{ "/n/x", true, NULL },
		{ "/missing", true, NULL },
		{ "/a/0/b/1/deeper", true, NULL },
	};
	json_t *d = load(doc);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *v = jmap_pointer_eval(d, cases[i].path, cases[i].star);

		if (i == 0) {
			assert_ptr_equal(v, d);
		} else if (cases[i].want == NULL) {
			if (v != NULL)
				fail_msg("%s: resolved, should fail",
				    cases[i].path);
		} else {
			if (v == NULL)
				fail_msg("%s: did not resolve", cases[i].path);
			assert_json(v, cases[i].want);
		}
		json_decref(v);
	}
	json_decref(d);
}

static void
test_refs(void **state)
{
	static const char responses[] =
	    "[[\"Foo/get\", {\"list\": [{\"id\": \"a\"}, {\"id\": \"b\"}]},"
	    " \"0\"], [\"error\", {\"type\": \"serverFail\"}, \"1\"],"
	    " [\"Foo/get\", {\"list\": []}, \"0\"]]";
	static const struct {
		const char *args;
		const char *want;	/* the resolved arguments */
		const char *type;	/* or the error */
	} cases[] = {
		{ "{\"x\": 1}", "{\"x\": 1}", NULL },
		{ "{\"#ids\": {\"resultOf\": \"0\", \"name\": \"Foo/get\","
		  " \"path\": \"/list/*/id\"}, \"k\": true}",
		  "{\"ids\": [\"a\", \"b\"], \"k\": true}", NULL },
		/* the first response with that id, not the last */
		{ "{\"#n\": {\"resultOf\": \"0\", \"name\": \"Foo/get\","
		  " \"path\": \"/list/1/id\"}}", "{\"n\": \"b\"}", NULL },
		{ "{\"#e\": {\"resultOf\": \"1\", \"name\": \"error\","
		  " \"path\": \"/type\"}}", "{\"e\": \"serverFail\"}", NULL },
		{ "{\"ids\": 1, \"#ids\": {\"resultOf\": \"0\", \"name\":"
		  " \"Foo/get\", \"path\": \"\"}}", NULL, "invalidArguments" },
		{ "{\"#\": {\"resultOf\": \"0\", \"name\": \"Foo/get\","
		  " \"path\": \"\"}}", NULL, "invalidArguments" },
		{ "{\"#x\": {\"resultOf\": \"9\", \"name\": \"Foo/get\","
		  " \"path\": \"\"}}", NULL, "invalidResultReference" },
		{ "{\"#x\": {\"resultOf\": \"1\", \"name\": \"Foo/get\","
		  " \"path\": \"\"}}", NULL, "invalidResultReference" },
		{ "{\"#x\": {\"resultOf\": \"0\", \"name\": \"Foo/get\","
		  " \"path\": \"/nope\"}}", NULL, "invalidResultReference" },
		{ "{\"#x\": {\"resultOf\": \"0\", \"name\": \"Foo/get\"}}",
		  NULL, "invalidResultReference" },
		{ "{\"#x\": {\"resultOf\": 0, \"name\": \"Foo/get\","
		  " \"path\": \"\"}}", NULL, "invalidResultReference" },
		{ "{\"#x\": {\"resultOf\": \"0\", \"name\": \"Foo/get\","
		  " \"path\": \"\", \"more\": 1}}", NULL,
		  "invalidResultReference" },
		{ "{\"#x\": [1]}", NULL, "invalidResultReference" },
	};
	json_t *resp = load(responses);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *args = load(cases[i].args), *out = NULL;
		struct buf desc = BUF_INIT(0);
		const char *type = NULL;
		int r = jmap_refs_resolve(args, resp, &out, &type, &desc);

		if (cases[i].type == NULL) {
			if (r != 0)
				fail_msg("case %zu: %s: %s", i, type,
				    buf_cstr(&desc));
			assert_json(out, cases[i].want);
			json_decref(out);
		} else {
			assert_int_equal(r, -1);
			assert_string_equal(type, cases[i].type);
			assert_true(desc.len > 0);
		}
		/* the call's own arguments are never changed */
		assert_json(args, cases[i].args);
		buf_free(&desc);
		json_decref(args);
	}
	json_decref(resp);
}

static void
test_patch(void **state)
{
	static const char obj[] =
	    "{\"name\": \"x\", \"parentId\": \"M1\", \"keywords\":"
	    " {\"$seen\": true}, \"list\": [1, 2], \"deep\": {\"a\": {\"b\": 1}},"
	    " \"t~o/p\": 1}";
	static const struct {
		const char *patch;
		const char *want;	/* NULL: invalidPatch */
		const char *bad;
	} cases[] = {
		{ "{}", obj, NULL },
		{ "{\"name\": \"y\"}", NULL, NULL },	/* checked below */
		{ "{\"parentId\": null}", NULL, NULL },
		{ "{\"keywords/$flagged\": true, \"keywords/$seen\": null}",
		  NULL, NULL },
		{ "{\"deep/a/b\": 2, \"deep/a/c\": 3}", NULL, NULL },
		{ "{\"new\": [1]}", NULL, NULL },
		{ "{\"t~0o~1p\": 2}", NULL, NULL },
		{ "{\"keywords/$x\": null}", NULL, NULL },	/* no-op */
		{ "{\"list/0\": 5}", NULL, "list/0" },	/* inside an array */
		{ "{\"missing/x\": 1}", NULL, "missing/x" },
		{ "{\"name/x\": 1}", NULL, "name/x" },	/* not an object */
		{ "{\"deep\": {}, \"deep/a/b\": 1}", NULL, "deep/a/b" },
		{ "{\"deep/a\": 1, \"deep/a/b\": 1}", NULL, "deep/a/b" },
		{ "{\"bad~2\": 1}", NULL, "bad~2" },
	};
	static const char *const want[] = {
		obj,
		"{\"name\": \"y\", \"parentId\": \"M1\", \"keywords\":"
		" {\"$seen\": true}, \"list\": [1, 2], \"deep\": {\"a\":"
		" {\"b\": 1}}, \"t~o/p\": 1}",
		"{\"name\": \"x\", \"parentId\": null, \"keywords\":"
		" {\"$seen\": true}, \"list\": [1, 2], \"deep\": {\"a\":"
		" {\"b\": 1}}, \"t~o/p\": 1}",
		"{\"name\": \"x\", \"parentId\": \"M1\", \"keywords\":"
		" {\"$flagged\": true}, \"list\": [1, 2], \"deep\": {\"a\":"
		" {\"b\": 1}}, \"t~o/p\": 1}",
		"{\"name\": \"x\", \"parentId\": \"M1\", \"keywords\":"
		" {\"$seen\": true}, \"list\": [1, 2], \"deep\": {\"a\":"
		" {\"b\": 2, \"c\": 3}}, \"t~o/p\": 1}",
		"{\"name\": \"x\", \"parentId\": \"M1\", \"keywords\":"
		" {\"$seen\": true}, \"list\": [1, 2], \"deep\": {\"a\":"
		" {\"b\": 1}}, \"t~o/p\": 1, \"new\": [1]}",
		"{\"name\": \"x\", \"parentId\": \"M1\", \"keywords\":"
		" {\"$seen\": true}, \"list\": [1, 2], \"deep\": {\"a\":"
		" {\"b\": 1}}, \"t~o/p\": 2}",
		obj,
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *o = load(obj), *p = load(cases[i].patch);
		const char *bad = NULL;
		int r = jmap_patch_apply(o, p, &bad);

		if (cases[i].bad == NULL) {
			if (r != 0)
				fail_msg("case %zu: refused at %s", i, bad);
			assert_json(o, want[i]);
		} else {
			assert_int_equal(r, -1);
			assert_string_equal(bad, cases[i].bad);
		}
		json_decref(o);
		json_decref(p);
	}
}

static void
test_request(void **state)
{
	static const struct {
		const char *body;
		const char *type;	/* NULL: parses */
		const char *limit;
	} cases[] = {
		{ "{\"using\": [], \"methodCalls\": []}", NULL, NULL },
		{ "{\"using\": [\"urn:ietf:params:jmap:core\"], \"methodCalls\":"
		  " [[\"Core/echo\", {}, \"0\"]], \"createdIds\": {\"a\":"
		  " \"M1\"}}", NULL, NULL },
		{ "", "notJSON", NULL },
		{ "{", "notJSON", NULL },
		{ "{\"using\": [], \"using\": [], \"methodCalls\": []}",
		  "notJSON", NULL },
		{ "{\"using\": [\"\\u0000\"], \"methodCalls\": []}", "notJSON",
		  NULL },
		{ "{\"using\": [], \"methodCalls\": []} x", "notJSON", NULL },
		{ "[]", "notRequest", NULL },
		{ "\"x\"", "notRequest", NULL },
		{ "{\"methodCalls\": []}", "notRequest", NULL },
		{ "{\"using\": []}", "notRequest", NULL },
		{ "{\"using\": [1], \"methodCalls\": []}", "notRequest", NULL },
		{ "{\"using\": [], \"methodCalls\": {}}", "notRequest", NULL },
		{ "{\"using\": [], \"methodCalls\": [[\"a\", {}, \"b\", 1]]}",
		  "notRequest", NULL },
		{ "{\"using\": [], \"methodCalls\": [[\"a\", null, \"b\"]]}",
		  "notRequest", NULL },
		{ "{\"using\": [], \"methodCalls\": [], \"x\": 1}", "notRequest",
		  NULL },
		{ "{\"using\": [], \"methodCalls\": [], \"createdIds\":"
		  " {\"a\": 1}}", "notRequest", NULL },
		/* notRequest before unknownCapability */
		{ "{\"using\": [\"urn:x\"], \"methodCalls\": 1}", "notRequest",
		  NULL },
		{ "{\"using\": [\"urn:x\"], \"methodCalls\": []}",
		  "unknownCapability", NULL },
		/* known to us, not offered (known = core only here) */
		{ "{\"using\": [\"urn:ietf:params:jmap:mail\"], \"methodCalls\":"
		  " []}", "unknownCapability", NULL },
		{ "{\"using\": [], \"methodCalls\": [[\"a\", {}, \"1\"],"
		  " [\"a\", {}, \"2\"], [\"a\", {}, \"3\"]]}", "limit",
		  "maxCallsInRequest" },
	};
	struct jmap_limits lim = { .max_size_request = 4096,
	    .max_calls_in_request = 2 };
	char big[5000];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct jmap_request r;
		struct jmap_problem p;
		int rc = jmap_request_parse(cases[i].body,
		    strlen(cases[i].body), &lim, JMAP_CAP_BIT(JMAP_CAP_CORE),
		    &r, &p);

		if (cases[i].type == NULL) {
			if (rc != 0)
				fail_msg("case %zu: %s %s", i, p.type,
				    p.detail);
			assert_non_null(r.calls);
			jmap_request_clear(&r);
			continue;
		}
		if (rc == 0)
			fail_msg("case %zu: parsed, want %s", i,
			    cases[i].type);
		assert_null(r.root);
		assert_string_equal(p.type + strlen(JMAP_ERR_URN),
		    cases[i].type);
		assert_int_equal(p.status, 400);
		if (cases[i].limit != NULL)
			assert_string_equal(p.limit, cases[i].limit);
		else
			assert_null(p.limit);
	}
	/* too large: refused before parsing */
	memset(big, ' ', sizeof(big));
	{
		struct jmap_request r;
		struct jmap_problem p;
		struct buf out = BUF_INIT(0);
		json_t *o;

		assert_int_equal(jmap_request_parse(big, sizeof(big), &lim,
		    1, &r, &p), -1);
		assert_string_equal(p.limit, "maxSizeRequest");
		jmap_problem_json(&p, &out);
		o = load(buf_cstr(&out));
		assert_string_equal(json_string_value(json_object_get(o,
		    "type")), JMAP_ERR_URN "limit");
		assert_int_equal(json_integer_value(json_object_get(o,
		    "status")), 400);
		assert_string_equal(json_string_value(json_object_get(o,
		    "limit")), "maxSizeRequest");
		json_decref(o);
		buf_free(&out);
	}
}

static void
test_ids(void **state)
{
	static const struct {
		const char *json;
		bool ok;
	} cases[] = {
		{ "\"M1\"", true }, { "\"a-b_C9\"", true }, { "\"\"", false },
		{ "\"a b\"", false }, { "\"#x\"", false }, { "\"é\"", false },
		{ "1", false }, { "null", false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *v = load(cases[i].json);

		assert_int_equal(jmap_value_is_id(v), cases[i].ok);
		json_decref(v);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pointer),
		cmocka_unit_test(test_refs),
		cmocka_unit_test(test_patch),
		cmocka_unit_test(test_request),
		cmocka_unit_test(test_ids),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
