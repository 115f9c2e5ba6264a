/*
 * smtp_client_test.c - the pure parts of the SMTP client: the message
 * transformations of mta/smtpc_data.c (line ends, dot-stuffing, the end
 * of DATA, the scan), table-driven, each case also fed one byte at a
 * time and split at every boundary, which must not change the output;
 * normalising twice changes nothing; un-stuffing gives the normalised
 * message back.  Then the per-domain overrides (smtp_client.domains):
 * what parses, what does not and why, and which one applies to a domain;
 * the TLS levels of the configuration as the policy module's.  What the
 * client does with a policy on the wire is t/integration/
 * test_tls_policy.py's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "mta/smtp_client.h"
#include "mta/smtpc_data.h"

static void
feed_cut(const char *in, size_t len, bool stuff, size_t cut, size_t step,
    struct buf *out)
{
	struct smtpc_data d;

	smtpc_data_init(&d, stuff);
	buf_reset(out);
	if (step > 0) {
		for (size_t i = 0; i < len; i += step)
			smtpc_data_feed(&d, (const unsigned char *)in + i,
			    len - i < step ? len - i : step, out);
	} else {
		smtpc_data_feed(&d, (const unsigned char *)in, cut, out);
		smtpc_data_feed(&d, (const unsigned char *)in + cut, len - cut,
		    out);
	}
	smtpc_data_end(&d, out);
}

/* a string literal and its length, NULs included */
#define S(x) x, sizeof(x) - 1

static const struct {
	const char *name;
	const char *in;
	size_t len;
	const char *lines;	/* normalised (BDAT, DKIM) */
	size_t llen;
	const char *data;	/* DATA: dot-stuffed, the final dot */
	size_t dlen;
} data_cases[] = {
	{ "empty", S(""), S(""), S(".\r\n") },
	{ "one line", S("a\r\n"), S("a\r\n"), S("a\r\n.\r\n") },
	{ "no final line end", S("a\r\nb"), S("a\r\nb\r\n"),
	  S("a\r\nb\r\n.\r\n") },
	{ "bare LF", S("a\nb\n"), S("a\r\nb\r\n"), S("a\r\nb\r\n.\r\n") },
	{ "bare CR", S("a\rb\r"), S("a\r\nb\r\n"), S("a\r\nb\r\n.\r\n") },
	{ "CR CR LF", S("a\r\r\nb"), S("a\r\n\r\nb\r\n"),
	  S("a\r\n\r\nb\r\n.\r\n") },
	{ "dot lines", S(".\r\n..x\r\n.y"), S(".\r\n..x\r\n.y\r\n"),
	  S("..\r\n...x\r\n..y\r\n.\r\n") },
	{ "dot after bare LF", S("a\n.b"), S("a\r\n.b\r\n"),
	  S("a\r\n..b\r\n.\r\n") },
	{ "dot inside a line", S("a.b\r\n"), S("a.b\r\n"),
	  S("a.b\r\n.\r\n") },
	{ "smuggling", S("x\n.\ny\r\n"), S("x\r\n.\r\ny\r\n"),
	  S("x\r\n..\r\ny\r\n.\r\n") },
	{ "empty lines", S("\r\n\r\n"), S("\r\n\r\n"),
	  S("\r\n\r\n.\r\n") },
	{ "NUL and 8-bit", S("a\0\xe9\r\n"), S("a\0\xe9\r\n"),
	  S("a\0\xe9\r\n.\r\n") },
};

/* unstuff - what a receiver makes of DATA: dots off, final dot gone */
static void
unstuff(const struct buf *in, struct buf *out)
{
	const char *p = (const char *)in->data, *end = p + in->len;

	buf_reset(out);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)(nl - p) + 1;

		assert_non_null(nl);
		assert_true(nl > p && nl[-1] == '\r');	/* CRLF only */
		if (n == 3 && p[0] == '.') {
			assert_true(nl + 1 == end);	/* the end, once */
			return;
		}
		if (p[0] == '.')
			p++, n--;
		buf_add(out, p, n);
		p = nl + 1;
	}
	fail_msg("no final dot");
}

static void
test_data(void **state)
{
	struct buf out = BUF_INIT(0), again = BUF_INIT(0), un = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(data_cases); i++) {
		const char *in = data_cases[i].in;
		size_t len = data_cases[i].len, llen = data_cases[i].llen;
		size_t dlen = data_cases[i].dlen;

		for (size_t cut = 0; cut <= len; cut++) {
			feed_cut(in, len, false, cut, 0, &out);
			assert_int_equal(out.len, llen);
			assert_memory_equal(out.data, data_cases[i].lines,
			    llen);
			feed_cut(in, len, true, cut, 0, &out);
			assert_int_equal(out.len, dlen);
			assert_memory_equal(out.data, data_cases[i].data,
			    dlen);
		}
		feed_cut(in, len, true, 0, 1, &out);
		assert_int_equal(out.len, dlen);
		assert_memory_equal(out.data, data_cases[i].data, dlen);
		/* un-stuffed DATA is the normalised message */
		unstuff(&out, &un);
		assert_int_equal(un.len, llen);
		assert_memory_equal(un.data, data_cases[i].lines, llen);
		/* normalising is idempotent */
		feed_cut(data_cases[i].lines, llen, false, 0, 1, &again);
		assert_int_equal(again.len, llen);
		assert_memory_equal(again.data, data_cases[i].lines, llen);
	}
	buf_free(&out);
	buf_free(&again);
	buf_free(&un);
}

static const struct {
	const char *in;
	unsigned flags;
} scan_cases[] = {
	{ "Subject: x\r\n\r\nbody\r\n", 0 },
	{ "Subject: caf\xc3\xa9\r\n\r\nbody\r\n", SMTPC_SCAN_8BIT_HEADER },
	{ "Subject: x\r\n\r\ncaf\xc3\xa9\r\n", SMTPC_SCAN_8BIT_BODY },
	{ "\r\n\xff\r\n", SMTPC_SCAN_8BIT_BODY },	/* no header at all */
	{ "A: \xff\r\n\r\n\xff", SMTPC_SCAN_8BIT_HEADER |
	  SMTPC_SCAN_8BIT_BODY },
	{ "A: b\r\n c\r\n\r\n", 0 },
};

static void
test_scan(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(scan_cases); i++) {
		const char *in = scan_cases[i].in;
		size_t len = strlen(in);

		for (size_t cut = 0; cut <= len; cut++) {
			struct smtpc_scan s;

			smtpc_scan_init(&s);
			smtpc_scan_feed(&s, (const unsigned char *)in, cut);
			smtpc_scan_feed(&s, (const unsigned char *)in + cut,
			    len - cut);
			assert_int_equal(s.flags, scan_cases[i].flags);
			assert_int_equal(s.size, len);
		}
	}
	{
		struct smtpc_scan s;

		smtpc_scan_init(&s);
		smtpc_scan_feed(&s, (const unsigned char *)"a\0b", 3);
		assert_int_equal(s.flags, SMTPC_SCAN_NUL);
	}
}

static const struct {
	const char *spec;
	int ok;
	const char *domain, *nexthop;
	bool has_nexthop;
	int tls;
	unsigned port;
	const char *why;
} ovr_cases[] = {
	{ "example.com=[10.0.0.1]:2525,tls=encrypt", 1, "example.com",
	  "[10.0.0.1]:2525", true, SMTP_TLS_ENCRYPT, 0, NULL },
	{ "Example.COM=relay.example.net", 1, "example.com",
	  "relay.example.net", true, -1, 0, NULL },
	{ "example.com=", 1, "example.com", "", true, -1, 0, NULL },
	{ "example.com=,tls=verify", 1, "example.com", "", true,
	  SMTP_TLS_VERIFY, 0, NULL },
	{ "example.com=tls=none", 1, "example.com", "", false, SMTP_TLS_NONE,
	  0, NULL },
	{ ".example.com=port=2525,tls=may", 1, ".example.com", "", false,
	  SMTP_TLS_MAY, 2525, NULL },
	{ "example.com=[IPv6:2001:db8::1]:587", 1, "example.com",
	  "[IPv6:2001:db8::1]:587", true, -1, 0, NULL },
	{ "example.com", 0, NULL, NULL, false, 0, 0, "expected" },
	{ "=x", 0, NULL, NULL, false, 0, 0, "expected" },
	{ "exa mple.com=x", 0, NULL, NULL, false, 0, 0, "bad domain" },
	{ ".=x", 0, NULL, NULL, false, 0, 0, "bad domain" },
	{ "example.com=tls=maybe", 0, NULL, NULL, false, 0, 0, "tls=" },
	{ "example.com=x,tls=may,tls=none", 0, NULL, NULL, false, 0, 0,
	  "repeated" },
	{ "example.com=port=0", 0, NULL, NULL, false, 0, 0, "port=" },
	{ "example.com=port=65536", 0, NULL, NULL, false, 0, 0, "port=" },
	{ "example.com=port=25x", 0, NULL, NULL, false, 0, 0, "port=" },
	{ "example.com=tls=may,host", 0, NULL, NULL, false, 0, 0,
	  "comes first" },
	{ "example.com=[10.0.0.1]:99999", 0, NULL, NULL, false, 0, 0,
	  "port" },
	{ "example.com=x,speed=fast", 0, NULL, NULL, false, 0, 0,
	  "unknown" },
};

static void
test_override_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ovr_cases); i++) {
		struct smtp_client_override o;
		struct buf err = BUF_INIT(0);
		int rc = smtp_client_override_parse(ovr_cases[i].spec, &o,
		    &err);

		if (!ovr_cases[i].ok) {
			assert_int_equal(rc, -1);
			if (strstr(buf_cstr(&err), ovr_cases[i].why) == NULL)
				fail_msg("%s: \"%s\" lacks \"%s\"",
				    ovr_cases[i].spec, buf_cstr(&err),
				    ovr_cases[i].why);
			buf_free(&err);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(o.domain, ovr_cases[i].domain);
		assert_int_equal(o.has_nexthop, ovr_cases[i].has_nexthop);
		assert_string_equal(o.nexthop, ovr_cases[i].nexthop);
		assert_int_equal(o.tls, ovr_cases[i].tls);
		assert_int_equal(o.port, ovr_cases[i].port);
		assert_int_equal(err.len, 0);
		buf_free(&err);
	}
}

static void
test_override_find(void **state)
{
	static const char *const specs[] = { "example.com=[a.example]",
		".example.com=[b.example]", ".mail.example.com=[c.example]",
		"other.org=" };
	struct smtp_client_override v[ARRAY_SIZE(specs)];
	const struct smtp_client_override *o;
	struct buf err = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(specs); i++)
		assert_int_equal(smtp_client_override_parse(specs[i], &v[i],
		    &err), 0);
	o = smtp_client_override_find(v, ARRAY_SIZE(v), "example.com");
	assert_string_equal(o->nexthop, "[a.example]");
	o = smtp_client_override_find(v, ARRAY_SIZE(v), "x.example.com");
	assert_string_equal(o->nexthop, "[b.example]");
	o = smtp_client_override_find(v, ARRAY_SIZE(v), "a.mail.example.com");
	assert_string_equal(o->nexthop, "[c.example]");	/* the longest */
	o = smtp_client_override_find(v, ARRAY_SIZE(v), "mail.example.com");
	assert_string_equal(o->nexthop, "[b.example]");
	assert_null(smtp_client_override_find(v, ARRAY_SIZE(v),
	    "xexample.com"));
	assert_null(smtp_client_override_find(v, ARRAY_SIZE(v), "com"));
	o = smtp_client_override_find(v, ARRAY_SIZE(v), "other.org");
	assert_true(o->has_nexthop && o->nexthop[0] == '\0');
	assert_null(smtp_client_override_find(v, ARRAY_SIZE(v), "x.other.org"));
	buf_free(&err);
}

/* every configuration value has its name and its policy level, and the
 * names are those the module knows (the config's and the module's
 * spellings cannot drift apart) */
static void
test_tls_levels(void **state)
{
	static const struct {
		enum smtp_tls_mode m;
		const char *name;
		enum smtp_tlspolicy_level level;
	} cases[] = {
		{ SMTP_TLS_NONE, "none", SMTP_TLSPOLICY_LVL_NONE },
		{ SMTP_TLS_MAY, "may", SMTP_TLSPOLICY_LVL_MAY },
		{ SMTP_TLS_ENCRYPT, "encrypt", SMTP_TLSPOLICY_LVL_ENCRYPT },
		{ SMTP_TLS_VERIFY, "verify", SMTP_TLSPOLICY_LVL_VERIFY },
		{ SMTP_TLS_AUTO, "auto", SMTP_TLSPOLICY_AUTO },
		{ SMTP_TLS_DANE, "dane", SMTP_TLSPOLICY_LVL_DANE },
		{ SMTP_TLS_DANE_ONLY, "dane-only",
		  SMTP_TLSPOLICY_LVL_DANE_ONLY },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum smtp_tlspolicy_level l;
		struct smtp_client_override o;
		struct buf spec = BUF_INIT(0), err = BUF_INIT(0);

		assert_string_equal(smtp_tls_mode_name(cases[i].m),
		    cases[i].name);
		assert_int_equal(smtp_client_tls_level(cases[i].m),
		    cases[i].level);
		assert_int_equal(smtp_tlspolicy_level_parse(cases[i].name, &l),
		    0);
		assert_int_equal(l, cases[i].level);
		/* a domain's tls= takes every name, any case */
		buf_addf(&spec, "example.com=tls=%s", cases[i].name);
		spec.data[spec.len - 1] = (char)(spec.data[spec.len - 1] -
		    'a' + 'A');	/* every name ends in a small letter */
		assert_int_equal(smtp_client_override_parse(buf_cstr(&spec),
		    &o, &err), 0);
		assert_int_equal(o.tls, (int)cases[i].m);
		buf_free(&spec);
		buf_free(&err);
	}
	assert_string_equal(smtp_tls_mode_name((enum smtp_tls_mode)99), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_override_parse),
		cmocka_unit_test(test_override_find),
		cmocka_unit_test(test_tls_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
