/*
 * mta_sts_test.c - table-driven tests of the pure half of MTA-STS
 * (mta/mta_sts.c): the _mta-sts TXT record and the choice among several
 * (RFC 8461 3.1), the policy file (3.2), MX pattern matching (4.1), the
 * cache record; and the TLSA rdata parser of common/dns_rr.c that the
 * DANE half uses.  The blocking half (fetch, cache, DANE over DNSSEC,
 * handshakes) is t/unit/smtp_tlspolicy_test.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/dns.h"
#include "mta/mta_sts.h"

static void
test_txt(void **state)
{
	static const struct {
		const char *in;
		enum parse_res want;
		const char *id;
	} cases[] = {
		{ "v=STSv1; id=20160831085700Z", PARSE_OK, "20160831085700Z" },
		{ "v=STSv1;id=abc", PARSE_OK, "abc" },
		{ "v=STSv1 ;\t id=abc ; ", PARSE_OK, "abc" },
		{ "v=STSv1; id=abc;", PARSE_OK, "abc" },
		{ "v=STSv1; ext=1; id=a1; other.x-y_z=v!v", PARSE_OK, "a1" },
		{ "v=STSv1; id=12345678901234567890123456789012", PARSE_OK,
		  "12345678901234567890123456789012" },
		{ "v=STSv1; id=123456789012345678901234567890123", PARSE_BAD,
		  NULL },				/* 33 characters */
		{ "v=STSv1", PARSE_BAD, NULL },		/* no id */
		{ "v=STSv1;", PARSE_BAD, NULL },
		{ "v=STSv1; ext=1", PARSE_BAD, NULL },
		{ "v=STSv1; id=", PARSE_BAD, NULL },
		{ "v=STSv1; id=a-b", PARSE_BAD, NULL },	/* not alnum */
		{ "v=STSv1; id=a; id=b", PARSE_BAD, NULL },
		{ "v=STSv1 id=abc", PARSE_BAD, NULL },	/* no ';' */
		{ "v=STSv2; id=abc", PARSE_BAD, NULL },
		{ "v=stsv1; id=abc", PARSE_BAD, NULL },	/* case matters */
		{ "V=STSv1; id=abc", PARSE_BAD, NULL },
		{ "v=STSv1; ID=abc", PARSE_BAD, NULL },	/* an extension */
		{ " v=STSv1; id=abc", PARSE_BAD, NULL },
		{ "v=STSv1; id=abc; x=", PARSE_BAD, NULL },
		{ "v=STSv1; id=abc; x=a=b", PARSE_BAD, NULL },
		{ "v=STSv1; id=abc; =b", PARSE_BAD, NULL },
		{ "v=STSv1; id=abc; -x=b", PARSE_BAD, NULL },
		{ "v=STSv1; id=abc;; x=1", PARSE_BAD, NULL },
		{ "v=STSv1; id=abc x", PARSE_BAD, NULL },
		{ "v=STSv10; id=abc", PARSE_BAD, NULL },
	};
	char id[MTA_STS_ID_MAX + 1];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum parse_res res;

		memset(id, 'X', sizeof(id));
		res = mta_sts_txt_parse(cases[i].in, strlen(cases[i].in), id);
		if (res != cases[i].want)
			fail_msg("txt %zu \"%s\": %d", i, cases[i].in, res);
		if (res == PARSE_OK)
			assert_string_equal(id, cases[i].id);
	}
	/* a NUL inside is a byte like any other: refused */
	assert_int_equal(mta_sts_txt_parse("v=STSv1; id=a\0b", 15, id),
	    PARSE_BAD);
	assert_true(mta_sts_txt_is_sts("v=STSv1", 7));
	assert_true(mta_sts_txt_is_sts("v=STSv1 x", 9));
	assert_false(mta_sts_txt_is_sts("v=STSv10", 8));
	assert_false(mta_sts_txt_is_sts("v=spf1 -all", 11));
}

static void
test_txt_select(void **state)
{
	struct dns_txt one[] = {
		{ (char *)"v=spf1 -all", 11 },
		{ (char *)"v=STSv1; id=x1", 14 },
		{ (char *)"something else", 14 },
	};
	struct dns_txt two[] = {
		{ (char *)"v=STSv1; id=x1", 14 },
		{ (char *)"v=STSv1; id=x2", 14 },
	};
	struct dns_txt bad[] = {
		{ (char *)"v=STSv1; nope", 13 },
		{ (char *)"v=spf1 -all", 11 },
	};
	char id[MTA_STS_ID_MAX + 1];

	(void)state;
	assert_int_equal(mta_sts_txt_select(one, 3, id), PARSE_OK);
	assert_string_equal(id, "x1");
	/* 3.1: not exactly one STSv1 record: no policy */
	assert_int_equal(mta_sts_txt_select(two, 2, id), PARSE_BAD);
	assert_int_equal(mta_sts_txt_select(bad, 2, id), PARSE_BAD);
	assert_int_equal(mta_sts_txt_select(one, 0, id), PARSE_BAD);
	assert_int_equal(mta_sts_txt_select(one, 1, id), PARSE_BAD);
}

static void
test_policy(void **state)
{
	static const struct {
		const char *name, *in;
		enum parse_res want;
		enum mta_sts_mode mode;
		uint32_t max_age;
		const char *mx;		/* patterns joined by ' ' */
	} cases[] = {
		{ "RFC example", "version: STSv1\r\nmode: enforce\r\n"
		  "mx: mail.example.com\r\nmx: *.example.net\r\n"
		  "mx: backupmx.example.com\r\nmax_age: 604800\r\n", PARSE_OK,
		  MTA_STS_MODE_ENFORCE, 604800,
		  "mail.example.com *.example.net backupmx.example.com" },
		{ "LF, no final newline", "version: STSv1\nmode: testing\n"
		  "mx: MX.Example.COM\nmax_age: 86400", PARSE_OK,
		  MTA_STS_MODE_TESTING, 86400, "mx.example.com" },
		{ "mode none needs no mx", "version: STSv1\nmode: none\n"
		  "max_age: 1\n", PARSE_OK, MTA_STS_MODE_NONE, 1, "" },
		{ "blanks and empty lines", "\nversion:STSv1 \n\nmode:\t"
		  "enforce\t\nmx:   a.example   \n\r\nmax_age: 0\n\n", PARSE_OK,
		  MTA_STS_MODE_ENFORCE, 0, "a.example" },
		{ "extensions ignored", "version: STSv1\nmode: enforce\n"
		  "mx: a.example\nmax_age: 5\nx-note: any text, even "
		  "\xc3\xa9\nfoo.bar_1: 2\n", PARSE_OK, MTA_STS_MODE_ENFORCE, 5,
		  "a.example" },
		{ "max_age capped", "version: STSv1\nmode: enforce\n"
		  "mx: a.example\nmax_age: 9999999999\n", PARSE_OK,
		  MTA_STS_MODE_ENFORCE, MTA_STS_MAX_AGE_MAX, "a.example" },
		{ "trailing dot", "version: STSv1\nmode: enforce\n"
		  "mx: a.example.\nmax_age: 5\n", PARSE_OK,
		  MTA_STS_MODE_ENFORCE, 5, "a.example" },
		{ "max_age 11 digits", "version: STSv1\nmode: enforce\n"
		  "mx: a.example\nmax_age: 12345678901\n", PARSE_BAD, 0, 0,
		  NULL },
		{ "max_age negative", "version: STSv1\nmode: enforce\n"
		  "mx: a.example\nmax_age: -1\n", PARSE_BAD, 0, 0, NULL },
		{ "no version", "mode: enforce\nmx: a.example\nmax_age: 5\n",
		  PARSE_BAD, 0, 0, NULL },
		{ "STSv2", "version: STSv2\nmode: enforce\nmx: a.example\n"
		  "max_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "no mode", "version: STSv1\nmx: a.example\nmax_age: 5\n",
		  PARSE_BAD, 0, 0, NULL },
		{ "bad mode", "version: STSv1\nmode: Enforce\nmx: a.example\n"
		  "max_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "no max_age", "version: STSv1\nmode: enforce\n"
		  "mx: a.example\n", PARSE_BAD, 0, 0, NULL },
		{ "no mx in enforce", "version: STSv1\nmode: enforce\n"
		  "max_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "mode twice", "version: STSv1\nmode: enforce\nmode: none\n"
		  "mx: a.example\nmax_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "max_age twice", "version: STSv1\nmode: none\nmax_age: 5\n"
		  "max_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "bare CR", "version: STSv1\rmode: none\nmax_age: 5\n",
		  PARSE_BAD, 0, 0, NULL },
		{ "space before colon", "version : STSv1\nmode: none\n"
		  "max_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "no colon", "version STSv1\nmode: none\nmax_age: 5\n",
		  PARSE_BAD, 0, 0, NULL },
		{ "mx partial wildcard", "version: STSv1\nmode: enforce\n"
		  "mx: mx*.example\nmax_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "mx bare wildcard", "version: STSv1\nmode: enforce\n"
		  "mx: *.\nmax_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "mx empty label", "version: STSv1\nmode: enforce\n"
		  "mx: a..example\nmax_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "mx hyphen", "version: STSv1\nmode: enforce\n"
		  "mx: -a.example\nmax_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "mx underscore", "version: STSv1\nmode: enforce\n"
		  "mx: a_b.example\nmax_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "mx empty", "version: STSv1\nmode: enforce\n"
		  "mx:\nmax_age: 5\n", PARSE_BAD, 0, 0, NULL },
		{ "mx with space", "version: STSv1\nmode: enforce\n"
		  "mx: a.example b.example\nmax_age: 5\n", PARSE_BAD, 0, 0,
		  NULL },
		{ "bad extension name", "version: STSv1\nmode: none\n"
		  "max_age: 5\n_x: 1\n", PARSE_BAD, 0, 0, NULL },
		{ "control in extension", "version: STSv1\nmode: none\n"
		  "max_age: 5\nx: a\x01\n", PARSE_BAD, 0, 0, NULL },
		{ "empty", "", PARSE_BAD, 0, 0, NULL },
	};
	struct mta_sts_policy p;
	struct buf err = BUF_INIT(0), mx = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum parse_res res;

		buf_reset(&err);
		res = mta_sts_policy_parse(cases[i].in, strlen(cases[i].in),
		    &p, &err);
		if (res != cases[i].want)
			fail_msg("policy \"%s\": %d (%s)", cases[i].name, res,
			    buf_cstr(&err));
		if (res != PARSE_OK) {
			assert_true(err.len > 0);
			assert_int_equal(p.nmx, 0);
			assert_null(p.mx);
			continue;
		}
		assert_int_equal(p.mode, cases[i].mode);
		assert_int_equal(p.max_age, cases[i].max_age);
		buf_reset(&mx);
		for (size_t j = 0; j < p.nmx; j++)
			buf_addf(&mx, "%s%s", j > 0 ? " " : "", p.mx[j]);
		assert_string_equal(buf_cstr(&mx), cases[i].mx);
		mta_sts_policy_free(&p);
		mta_sts_policy_free(&p);	/* harmless twice */
	}
	buf_free(&mx);
	buf_free(&err);
}

static void
test_policy_limits(void **state)
{
	struct buf in = BUF_INIT(0), err = BUF_INIT(0);
	struct mta_sts_policy p;

	(void)state;
	buf_add_str(&in, "version: STSv1\nmode: enforce\nmax_age: 5\n");
	for (unsigned i = 0; i < MTA_STS_MX_MAX; i++)
		buf_addf(&in, "mx: mx%u.example\n", i);
	assert_int_equal(mta_sts_policy_parse((char *)in.data, in.len, &p,
	    &err), PARSE_OK);
	assert_int_equal(p.nmx, MTA_STS_MX_MAX);
	mta_sts_policy_free(&p);
	buf_add_str(&in, "mx: one.more\n");
	assert_int_equal(mta_sts_policy_parse((char *)in.data, in.len, &p,
	    &err), PARSE_BAD);
	assert_non_null(strstr(buf_cstr(&err), "more than"));

	/* exactly 64 KiB parses (padding in an extension), one more not */
	buf_reset(&in);
	buf_add_str(&in, "version: STSv1\nmode: none\nmax_age: 5\nx: ");
	while (in.len < MTA_STS_POLICY_MAX - 1)
		buf_add_str(&in, "a");
	buf_add_str(&in, "\n");
	assert_int_equal(in.len, MTA_STS_POLICY_MAX);
	assert_int_equal(mta_sts_policy_parse((char *)in.data, in.len, &p,
	    &err), PARSE_OK);
	mta_sts_policy_free(&p);
	buf_add_str(&in, "\n");
	assert_int_equal(mta_sts_policy_parse((char *)in.data, in.len, &p,
	    &err), PARSE_TOO_LONG);
	buf_free(&in);
	buf_free(&err);
}

static void
test_mx_match(void **state)
{
	static const struct {
		const char *pattern, *host;
		bool want;
	} cases[] = {
		{ "mail.example.com", "mail.example.com", true },
		{ "mail.example.com", "MAIL.Example.Com", true },
		{ "mail.example.com", "mail.example.com.", true },
		{ "mail.example.com", "mail.example.co", false },
		{ "mail.example.com", "xmail.example.com", false },
		{ "mail.example.com", "example.com", false },
		{ "*.example.com", "mx1.example.com", true },
		{ "*.example.com", "MX1.EXAMPLE.COM.", true },
		{ "*.example.com", "example.com", false },
		{ "*.example.com", "a.b.example.com", false },
		{ "*.example.com", ".example.com", false },
		{ "*.example.com", "mx1.example.net", false },
		{ "*.example.com", "mx1example.com", false },
		{ "*.example.com", "", false },
		{ "*.com", "example.com", true },
		{ "example.com", "*.example.com", false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (mta_sts_mx_match(cases[i].pattern, cases[i].host) !=
		    cases[i].want)
			fail_msg("%s vs %s", cases[i].pattern, cases[i].host);
}

static void
test_record(void **state)
{
	static const char pol[] = "version: STSv1\nmode: enforce\n"
	    "mx: *.example.com\nmax_age: 600\n";
	struct buf rec = BUF_INIT(0);
	struct mta_sts_record r;

	(void)state;
	mta_sts_record_encode(1000, 1600, "id42", pol, strlen(pol), &rec);
	assert_int_equal(mta_sts_record_decode(rec.data, rec.len, &r),
	    PARSE_OK);
	assert_int_equal(r.fetched, 1000);
	assert_int_equal(r.expires, 1600);
	assert_string_equal(r.id, "id42");
	assert_int_equal(r.policy.mode, MTA_STS_MODE_ENFORCE);
	assert_int_equal(r.policy.nmx, 1);
	assert_true(mta_sts_policy_has_mx(&r.policy, "mx.example.com"));
	mta_sts_policy_free(&r.policy);

	/* what a foreign writer might leave */
	static const char *const bad[] = {
		"", "STS1", "STS1 1 2 id\n", "STS1 1 2 id", "STS2 1 2 id\n",
		"STS1 -1 2 id\nversion: STSv1\nmode: none\nmax_age: 1\n",
		"STS1 1 2 \nversion: STSv1\nmode: none\nmax_age: 1\n",
		"STS1 1 2 i-d\nversion: STSv1\nmode: none\nmax_age: 1\n",
		"STS1 1  2 id\nversion: STSv1\nmode: none\nmax_age: 1\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&r, 0x55, sizeof(r));
		if (mta_sts_record_decode((const unsigned char *)bad[i],
		    strlen(bad[i]), &r) != PARSE_BAD)
			fail_msg("record %zu decoded", i);
		assert_null(r.policy.mx);
	}
	buf_free(&rec);
}

static void
test_tlsa_rdata(void **state)
{
	struct dns_tlsa t;

	(void)state;
	assert_int_equal(dns_rdata_tlsa((const unsigned char *)"\3\1\1\xab",
	    4, &t), 0);
	assert_int_equal(t.usage, 3);
	assert_int_equal(t.selector, 1);
	assert_int_equal(t.mtype, 1);
	assert_int_equal(t.len, 1);
	assert_int_equal(t.data[0], 0xab);
	assert_int_equal(dns_rdata_tlsa((const unsigned char *)"\2\0\0", 3,
	    &t), -1);		/* no association data */
	assert_int_equal(dns_rdata_tlsa((const unsigned char *)"", 0, &t), -1);
	/* any values come back as they are: usability is policy */
	assert_int_equal(dns_rdata_tlsa((const unsigned char *)
	    "\xff\xfe\xfd\0\0", 5, &t), 0);
	assert_int_equal(t.usage, 255);
	assert_int_equal(t.len, 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_txt_select),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_policy_limits),
		cmocka_unit_test(test_mx_match),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_tlsa_rdata),
	};

	return cmocka_run_group_tests_name("mta_sts", tests, NULL, NULL);
}
