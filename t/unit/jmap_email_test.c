/*
 * jmap_email_test.c - the pure helpers of JMAP Email, table-driven:
 * header:... property names and the forms each field allows (RFC 8621
 * 4.1.2, 4.1.3; jmap_email_names.c), RFC 3339 dates both ways, the
 * parsed header forms over raw values (jmap_email_hdr.c) and
 * SearchSnippet's <mark> highlighting.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap-jmap/jmap_priv.h"

static void
test_hprop(void **state)
{
	static const struct {
		const char *in;
		int ret;
		const char *name;
		enum jmap_hform form;
		bool all, form_ok;
	} cases[] = {
		{ "header:Subject", 0, "Subject", JMAP_HF_RAW, false, true },
		{ "header:subject:asText", 0, "subject", JMAP_HF_TEXT, false,
		    true },
		{ "header:From:asAddresses:all", 0, "From",
		    JMAP_HF_ADDRESSES, true, true },
		{ "header:To:asGroupedAddresses", 0, "To", JMAP_HF_GROUPED,
		    false, true },
		{ "header:X-Foo:all", 0, "X-Foo", JMAP_HF_RAW, true, true },
		{ "header:X-Foo:asDate", 0, "X-Foo", JMAP_HF_DATE, false,
		    true },
		{ "header:From:asDate", 0, "From", JMAP_HF_DATE, false,
		    false },
		{ "header:Subject:asAddresses", 0, "Subject",
		    JMAP_HF_ADDRESSES, false, false },
		{ "header:Message-ID:asMessageIds", 0, "Message-ID",
		    JMAP_HF_MSGIDS, false, true },
		{ "header:List-Post:asURLs", 0, "List-Post", JMAP_HF_URLS,
		    false, true },
		{ "header:Received:asText", 0, "Received", JMAP_HF_TEXT,
		    false, false },
		{ "header:", -1, NULL, 0, false, false },
		{ "header:X:asNope", -1, NULL, 0, false, false },
		{ "header:X:all:asRaw", -1, NULL, 0, false, false },
		{ "header:X:asRaw:all:x", -1, NULL, 0, false, false },
		{ "header:X:asRaw:", -1, NULL, 0, false, false },
		{ "header:X Y", -1, NULL, 0, false, false },
		{ "headers", -1, NULL, 0, false, false },
		{ "subject", -1, NULL, 0, false, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jmap_hprop h;
		int r = jmap_hprop_parse(cases[i].in, strlen(cases[i].in), &h);

		if (r != cases[i].ret)
			fail_msg("%s: got %d", cases[i].in, r);
		if (r < 0)
			continue;
		assert_string_equal(h.name, cases[i].name);
		assert_int_equal(h.form, cases[i].form);
		assert_int_equal(h.all, cases[i].all);
		if (jmap_hprop_form_ok(&h) != cases[i].form_ok)
			fail_msg("%s: form_ok", cases[i].in);
	}
}

static void
test_dates(void **state)
{
	static const struct {
		const char *in;
		int ret;
		int64_t t;
	} cases[] = {
		{ "1970-01-01T00:00:00Z", 0, 0 },
		{ "2026-11-30T09:24:15Z", 0, 1796030655 },
		{ "2026-11-30T10:24:15+01:00", 0, 1796030655 },
		{ "2026-11-30T04:24:15-05:00", 0, 1796030655 },
		{ "2026-11-30T09:24:15.123Z", 0, 1796030655 },
		{ "2026-11-30T09:24:15", -1, 0 },
		{ "2026-11-30T09:24:15Zjunk", -1, 0 },
		{ "2026-11-30T09:24:15+0100", -1, 0 },
		{ "2026-11-30T09:24:15.Z", -1, 0 },
		{ "yesterday", -1, 0 },
		{ "", -1, 0 },
	};
	char out[JMAP_DATE_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = -1;
		int r = jmap_date_parse(cases[i].in, &t);

		if (r != cases[i].ret || (r == 0 && t != cases[i].t))
			fail_msg("%s: got %d %lld", cases[i].in, r,
			    (long long)t);
	}
	jmap_date_utc(1796030655, out);
	assert_string_equal(out, "2026-11-30T09:24:15Z");
	jmap_date_local(1796030655, 60, out);
	assert_string_equal(out, "2026-11-30T10:24:15+01:00");
	jmap_date_local(1796030655, -330, out);
	assert_string_equal(out, "2026-11-30T03:54:15-05:30");
	jmap_date_local(1796030655, 0, out);
	assert_string_equal(out, "2026-11-30T09:24:15Z");
}

static void
expect_json(json_t *got, const char *want)
{
	json_error_t e;
	json_t *w = json_loads(want, JSON_DECODE_ANY, &e);
	char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);

	if (w == NULL || !json_equal(got, w))
		fail_msg("got %s, want %s", g, want);
	free(g);
	json_decref(w);
	json_decref(got);
}

static void
test_forms(void **state)
{
	static const struct {
		enum jmap_hform form;
		const char *raw, *want;
	} cases[] = {
		{ JMAP_HF_RAW, " =?UTF-8?Q?a=C3=A9?= x", "\" =?UTF-8?Q?a=C3=A9?= x\"" },
		{ JMAP_HF_TEXT, " =?UTF-8?Q?a=C3=A9?= x", "\"a\\u00e9 x\"" },
		{ JMAP_HF_ADDRESSES, " \"A B\" <a@b.c>, d@e.f",
		    "[{\"name\":\"A B\",\"email\":\"a@b.c\"},"
		    "{\"name\":null,\"email\":\"d@e.f\"}]" },
		{ JMAP_HF_GROUPED, " x@y.z, G: a@b.c;",
		    "[{\"name\":null,\"addresses\":[{\"name\":null,"
		    "\"email\":\"x@y.z\"}]},{\"name\":\"G\",\"addresses\":"
		    "[{\"name\":null,\"email\":\"a@b.c\"}]}]" },
		{ JMAP_HF_MSGIDS, " <a@b> <c@d>", "[\"a@b\",\"c@d\"]" },
		{ JMAP_HF_MSGIDS, " nothing", "null" },
		{ JMAP_HF_DATE, " Mon, 30 Nov 2026 10:24:15 +0100",
		    "\"2026-11-30T10:24:15+01:00\"" },
		{ JMAP_HF_DATE, " not a date", "null" },
		{ JMAP_HF_URLS, " <mailto:a@b>, (c) <http://x/ y>",
		    "[\"mailto:a@b\",\"http://x/y\"]" },
		{ JMAP_HF_URLS, " none", "null" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_json(jmap_hvalue_json(cases[i].form, cases[i].raw,
		    strlen(cases[i].raw)), cases[i].want);
}

static void
test_header_block(void **state)
{
	static const char hdr[] = "From: a@b.c\r\nX-A: one\r\n"
	    "x-a: two\r\n  folded\r\nSubject: s\r\n\r\n";
	struct jmap_hprop h;

	(void)state;
	assert_int_equal(jmap_hprop_parse("header:X-A:all", 14, &h), 0);
	expect_json(jmap_header_prop(&h, (const unsigned char *)hdr,
	    strlen(hdr)), "[\" one\",\" two\\r\\n  folded\"]");
	assert_int_equal(jmap_hprop_parse("header:x-a:asText", 17, &h), 0);
	expect_json(jmap_header_prop(&h, (const unsigned char *)hdr,
	    strlen(hdr)), "\"two  folded\"");
	assert_int_equal(jmap_hprop_parse("header:Nope", 11, &h), 0);
	expect_json(jmap_header_prop(&h, (const unsigned char *)hdr,
	    strlen(hdr)), "null");
	expect_json(jmap_headers_json((const unsigned char *)hdr,
	    strlen(hdr)), "[{\"name\":\"From\",\"value\":\" a@b.c\"},"
	    "{\"name\":\"X-A\",\"value\":\" one\"},{\"name\":\"x-a\","
	    "\"value\":\" two\\r\\n  folded\"},{\"name\":\"Subject\","
	    "\"value\":\" s\"}]");
}

static void
test_snippet(void **state)
{
	static const struct {
		const char *s;
		const char *terms[3];
		const char *want;	/* NULL: no mark */
	} cases[] = {
		{ "Budget <draft> review", { "budget" },
		    "<mark>Budget</mark> &lt;draft&gt; review" },
		{ "budgets & budgeting", { "budget" },
		    "<mark>budgets</mark> &amp; <mark>budgeting</mark>" },
		{ "no match here", { "zzz" }, NULL },
		{ "a \"quoted\" word", { "word", "quo" },
		    "a &quot;<mark>quoted</mark>&quot; <mark>word</mark>" },
		{ "café au lait", { "caf" }, "<mark>café</mark> au lait" },
		{ "", { "x" }, NULL },
		{ "text", { NULL }, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = 0;
		char *got;

		while (n < 3 && cases[i].terms[n] != NULL)
			n++;
		got = jmap_snippet_mark(cases[i].s, (char *const *)
		    cases[i].terms, n);
		if (cases[i].want == NULL) {
			if (got != NULL)
				fail_msg("%s: got %s", cases[i].s, got);
		} else if (got == NULL || strcmp(got, cases[i].want) != 0) {
			fail_msg("%s: got %s", cases[i].s, got ? got : "NULL");
		}
		free(got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hprop),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_forms),
		cmocka_unit_test(test_header_block),
		cmocka_unit_test(test_snippet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
