/*
 * stage_spf_test.c - the spf stage (filters/stage_spf.c) against a real
 * DNS server (dnsmasq, t/unit/dns_fixture.h) through common/dns, driven
 * through the pipeline: every result (pass, fail, softfail, neutral, none,
 * permerror for two records and for a syntax error, temperror for a
 * SERVFAIL and a timeout), the include:, a:, mx: and exp= paths, the
 * 10-term and 2-void-lookup limits of RFC 7208 4.6.4 across includes, the
 * HELO identity and the null sender, an IPv6 client, reject_fail's 550
 * 5.7.23, the scores, the Authentication-Results clauses and the result
 * published for the DMARC stage.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "filters/filters.h"
#include "filters/stage_spf.h"
#include "t/unit/stage_fx.h"
#include "t/unit/unit_tmpdir.h"

static const char records[] =
    "txt-record=pass.test,\"v=spf1 ip4:192.0.2.1 -all\"\n"
    "txt-record=fail.test,\"v=spf1 ip4:192.0.2.200 -all\"\n"
    "txt-record=soft.test,\"v=spf1 ip4:192.0.2.200 ~all\"\n"
    "txt-record=neutral.test,\"v=spf1 ?all\"\n"
    "txt-record=nospf.test,\"just some text\"\n"
    "txt-record=two.test,\"v=spf1 ip4:192.0.2.1 -all\"\n"
    "txt-record=two.test,\"v=spf1 -all\"\n"
    "txt-record=syntax.test,\"v=spf1 ip4:192.0.2.1 frobnicate:x -all\"\n"
    "txt-record=badip.test,\"v=spf1 ip4:192.0.2.300 -all\"\n"
    "txt-record=include.test,\"v=spf1 include:pass.test -all\"\n"
    "txt-record=inclnone.test,\"v=spf1 include:nxdomain.test -all\"\n"
    /* a (own name and another), mx */
    "txt-record=a.test,\"v=spf1 a -all\"\n"
    "host-record=a.test,192.0.2.1\n"
    "txt-record=aother.test,\"v=spf1 a:host.aother.test -all\"\n"
    "host-record=host.aother.test,192.0.2.1\n"
    "txt-record=mx.test,\"v=spf1 mx -all\"\n"
    "mx-host=mx.test,mail.mx.test,10\n"
    "host-record=mail.mx.test,192.0.2.1\n"
    "txt-record=mxother.test,\"v=spf1 mx:mx.test -all\"\n"
    /* the term limit across includes: 1 + 5, then 1 + 5 (the 11th is
     * the fourth a: of i2), and 1 + 5, 1 + 3 = 10 exactly */
    "txt-record=limit.test,\"v=spf1 include:i1.test include:i2.test "
    "ip4:192.0.2.1 -all\"\n"
    "txt-record=limit10.test,\"v=spf1 include:i1.test include:i3.test "
    "ip4:192.0.2.1 -all\"\n"
    "txt-record=i1.test,\"v=spf1 a:h1.test a:h2.test a:h3.test a:h4.test "
    "a:h5.test ?all\"\n"
    "txt-record=i2.test,\"v=spf1 a:h6.test a:h7.test a:h8.test a:h9.test "
    "a:h10.test ?all\"\n"
    "txt-record=i3.test,\"v=spf1 a:h6.test a:h7.test a:h8.test ?all\"\n"
    "host-record=h1.test,192.0.2.51\nhost-record=h2.test,192.0.2.52\n"
    "host-record=h3.test,192.0.2.53\nhost-record=h4.test,192.0.2.54\n"
    "host-record=h5.test,192.0.2.55\nhost-record=h6.test,192.0.2.56\n"
    "host-record=h7.test,192.0.2.57\nhost-record=h8.test,192.0.2.58\n"
    "host-record=h9.test,192.0.2.59\nhost-record=h10.test,192.0.2.60\n"
    /* 11 terms in one record; 11 MX hosts (4.6.4: at most 10) */
    "txt-record=one11.test,\"v=spf1 a:h1.test a:h2.test a:h3.test "
    "a:h4.test a:h5.test a:h6.test a:h7.test a:h8.test a:h9.test "
    "a:h10.test a:h1.test ip4:192.0.2.1 -all\"\n"
    "txt-record=mx11.test,\"v=spf1 mx ip4:192.0.2.1 -all\"\n"
    "mx-host=mx11.test,h1.test,1\nmx-host=mx11.test,h2.test,2\n"
    "mx-host=mx11.test,h3.test,3\nmx-host=mx11.test,h4.test,4\n"
    "mx-host=mx11.test,h5.test,5\nmx-host=mx11.test,h6.test,6\n"
    "mx-host=mx11.test,h7.test,7\nmx-host=mx11.test,h8.test,8\n"
    "mx-host=mx11.test,h9.test,9\nmx-host=mx11.test,h10.test,10\n"
    "mx-host=mx11.test,mail.mx.test,11\n"
    /* void lookups: three names that do not exist, or two */
    "txt-record=void3.test,\"v=spf1 a:v1.test a:v2.test a:v3.test "
    "ip4:192.0.2.1 -all\"\n"
    "txt-record=void2.test,\"v=spf1 a:v1.test a:v2.test ip4:192.0.2.1 "
    "-all\"\n"
    /* HELO names */
    "txt-record=helo.test,\"v=spf1 ip4:192.0.2.1 -all\"\n"
    "txt-record=badhelo.test,\"v=spf1 -all\"\n"
    /* exp= */
    "txt-record=exp.test,\"v=spf1 ip4:192.0.2.200 -all "
    "exp=why.exp.test\"\n"
    "txt-record=why.exp.test,\"%{i} is not welcome at %{d}\"\n"
    /* temporary failures */
    "txt-record=inclfail.test,\"v=spf1 include:x.servfail.test -all\"\n"
    /* IPv6 */
    "txt-record=six.test,\"v=spf1 ip6:2001:db8::1 -all\"\n";

static struct sfx_dns dns;
static struct sfx fx;
extern const struct filter_stage_ops filter_stage_spf;
static const struct filter_stage_ops *const registry[] = {
	&filter_stage_spf,
};

static int
group_setup(void **state)
{
	return sfx_dns_group_setup(state, &dns, records, 400);
}

static int
group_teardown(void **state)
{
	return sfx_dns_group_teardown(state, &dns);
}

/* setup - a pipeline of the spf stage with spf = { extra }, a session
 * from peer (IPv4 or IPv6) */
static void
setup(const char *extra, const char *peer)
{
	sfx_init(&fx);
	fx.cfg = sfx_config("server = { hostname = \"mx.receiver.test\"; };\n"
	    "filters = { stages = [\"spf\"]; trust_loopback = false; };\n"
	    "spf = { fail = 3; softfail = 1; neutral = 0.25; none = 0.5; "
	    "permerror = 0.75; %s };\n", extra);
	fx.f = sfx_filters(&(struct filter_env){ .cfg = fx.cfg,
	    .dns = dns.resolver }, registry, ARRAY_SIZE(registry));
	fx.s = sfx_session(fx.f, peer, "smtp");
}

static void
teardown(void)
{
	sfx_free(&fx);
}

/* mail - HELO (when helo != NULL) and MAIL FROM */
static enum filter_action
mail(const char *helo, const char *sender)
{
	if (helo != NULL)
		assert_int_equal(filters_helo(fx.s, helo, &fx.r),
		    FILTER_CONTINUE);
	return filters_mail(fx.s, "QID1", sender, &fx.r);
}

/* data - RCPT and DATA of a small message; fx.out gets the header
 * fields the pipeline adds */
static void
data(void)
{
	static const char msg[] = "Subject: hi\r\n\r\nbody\r\n";

	assert_int_equal(filters_rcpt(fx.s, "u@receiver.test", &fx.r),
	    FILTER_CONTINUE);
	(void)sfx_data(fx.s, msg, sizeof(msg) - 1, false, &fx.r, &fx.out);
}

/* sym - the score of symbol name, or fail */
static double
sym(const char *name)
{
	return sfx_sym(filters_msg(fx.s), name);
}

/* check - one MAIL FROM from 192.0.2.1, its result, symbol and clause */
static void
check(const char *sender, enum spf_res want, const char *symbol,
    double score)
{
	const struct spf_result *res;
	char clause[256];

	setup("helo = false;", "192.0.2.1");
	assert_int_equal(mail("client.example", sender), FILTER_CONTINUE);
	res = stage_spf_result(filters_msg(fx.s));
	assert_non_null(res);
	if (res->result != want)
		fail_msg("%s: got %s, want %s", sender,
		    stage_spf_res_name(res->result), stage_spf_res_name(want));
	assert_false(res->helo_checked);
	data();
	assert_true(sym(symbol) == score);
	snprintf(clause, sizeof(clause), "spf=%s smtp.mailfrom=%s",
	    stage_spf_res_name(want), sender);
	if (strstr(buf_cstr(&fx.out), clause) == NULL)
		fail_msg("no \"%s\" in %s", clause, buf_cstr(&fx.out));
	assert_null(strstr(buf_cstr(&fx.out), "smtp.helo"));
	teardown();
}

/* ---- tests ---- */

static void
test_results(void **state)
{
	(void)state;
	check("user@pass.test", SPF_RES_PASS, "SPF_PASS", 0.0);
	check("user@fail.test", SPF_RES_FAIL, "SPF_FAIL", 3.0);
	check("user@soft.test", SPF_RES_SOFTFAIL, "SPF_SOFTFAIL", 1.0);
	check("user@neutral.test", SPF_RES_NEUTRAL, "SPF_NEUTRAL", 0.25);
	check("user@nospf.test", SPF_RES_NONE, "SPF_NONE", 0.5);
	check("user@nxdomain.test", SPF_RES_NONE, "SPF_NONE", 0.5);
	/* not a multi-label domain name: none without a lookup */
	check("user@localhost", SPF_RES_NONE, "SPF_NONE", 0.5);
}

static void
test_permerror(void **state)
{
	(void)state;
	check("user@two.test", SPF_RES_PERMERROR, "SPF_PERMERROR", 0.75);
	check("user@syntax.test", SPF_RES_PERMERROR, "SPF_PERMERROR", 0.75);
	check("user@badip.test", SPF_RES_PERMERROR, "SPF_PERMERROR", 0.75);
	/* include: of a domain without a record (RFC 7208 5.2) */
	check("user@inclnone.test", SPF_RES_PERMERROR, "SPF_PERMERROR", 0.75);
}

static void
test_mechanisms(void **state)
{
	(void)state;
	check("user@include.test", SPF_RES_PASS, "SPF_PASS", 0.0);
	check("user@a.test", SPF_RES_PASS, "SPF_PASS", 0.0);
	check("user@aother.test", SPF_RES_PASS, "SPF_PASS", 0.0);
	check("user@mx.test", SPF_RES_PASS, "SPF_PASS", 0.0);
	check("user@mxother.test", SPF_RES_PASS, "SPF_PASS", 0.0);
}

static void
test_limits(void **state)
{
	(void)state;
	/* 10 DNS-querying terms over two includes: allowed; 11: permerror
	 * (libspf2 alone counts per record and would pass this) */
	check("user@limit10.test", SPF_RES_PASS, "SPF_PASS", 0.0);
	check("user@limit.test", SPF_RES_PERMERROR, "SPF_PERMERROR", 0.75);
	check("user@one11.test", SPF_RES_PERMERROR, "SPF_PERMERROR", 0.75);
	check("user@mx11.test", SPF_RES_PERMERROR, "SPF_PERMERROR", 0.75);
	/* two void lookups are allowed, the third is a permerror */
	check("user@void2.test", SPF_RES_PASS, "SPF_PASS", 0.0);
	check("user@void3.test", SPF_RES_PERMERROR, "SPF_PERMERROR", 0.75);
}

static void
test_temperror(void **state)
{
	uint64_t t0;

	(void)state;
	check("user@x.servfail.test", SPF_RES_TEMPERROR, "SPF_TEMPERROR",
	    0.0);
	check("user@inclfail.test", SPF_RES_TEMPERROR, "SPF_TEMPERROR", 0.0);
	/* no answer at all: bounded by the resolver's timeout (400 ms) */
	t0 = clock_mono_us();
	check("user@x.timeout.test", SPF_RES_TEMPERROR, "SPF_TEMPERROR", 0.0);
	assert_true(clock_mono_us() - t0 < 3000000);
}

static void
test_helo(void **state)
{
	const struct spf_result *res;

	(void)state;
	/* both identities, two clauses; only MAIL FROM scores */
	setup("helo = true;", "192.0.2.1");
	assert_int_equal(mail("badhelo.test", "user@pass.test"),
	    FILTER_CONTINUE);
	res = stage_spf_result(filters_msg(fx.s));
	assert_non_null(res);
	assert_true(res->helo_checked);
	assert_int_equal(res->helo_result, SPF_RES_FAIL);
	assert_string_equal(res->helo, "badhelo.test");
	assert_int_equal(res->result, SPF_RES_PASS);
	assert_string_equal(res->domain, "pass.test");
	assert_false(res->null_sender);
	data();
	assert_true(sym("SPF_HELO_FAIL") == 0.0);
	assert_true(sym("SPF_PASS") == 0.0);
	assert_non_null(strstr(buf_cstr(&fx.out),
	    "spf=pass smtp.mailfrom=user@pass.test;\r\n\t"
	    "spf=fail smtp.helo=badhelo.test"));
	teardown();

	/* a HELO that is no domain name is not checked */
	setup("helo = true;", "192.0.2.1");
	assert_int_equal(mail("[192.0.2.1]", "user@pass.test"),
	    FILTER_CONTINUE);
	assert_false(stage_spf_result(filters_msg(fx.s))->helo_checked);
	teardown();

	/* with reject_fail, a HELO fail refuses MAIL */
	setup("helo = true; reject_fail = true;", "192.0.2.1");
	assert_int_equal(mail("badhelo.test", "user@pass.test"),
	    FILTER_REJECT);
	assert_int_equal(fx.r.code, 550);
	assert_string_equal(fx.r.ecode, "5.7.23");
	assert_non_null(strstr(fx.r.text, "badhelo.test"));
	teardown();
}

static void
test_null_sender(void **state)
{
	const struct spf_result *res;

	(void)state;
	/* MAIL FROM:<> is postmaster@<HELO>: one check */
	setup("helo = true;", "192.0.2.1");
	assert_int_equal(mail("helo.test", ""), FILTER_CONTINUE);
	res = stage_spf_result(filters_msg(fx.s));
	assert_non_null(res);
	assert_true(res->null_sender);
	assert_int_equal(res->result, SPF_RES_PASS);
	assert_string_equal(res->domain, "helo.test");
	assert_true(res->helo_checked);
	assert_int_equal(res->helo_result, SPF_RES_PASS);
	data();
	assert_non_null(strstr(buf_cstr(&fx.out),
	    "spf=pass smtp.mailfrom=postmaster@helo.test;\r\n\t"
	    "spf=pass smtp.helo=helo.test"));
	teardown();

	/* no usable HELO name: none */
	setup("helo = false;", "192.0.2.1");
	assert_int_equal(mail("[192.0.2.1]", ""), FILTER_CONTINUE);
	res = stage_spf_result(filters_msg(fx.s));
	assert_int_equal(res->result, SPF_RES_NONE);
	assert_string_equal(res->domain, "");
	data();
	assert_non_null(strstr(buf_cstr(&fx.out),
	    "spf=none smtp.mailfrom=\"postmaster@[192.0.2.1]\""));
	teardown();
}

static void
test_reject_fail(void **state)
{
	(void)state;
	/* our explanation */
	setup("helo = false; reject_fail = true;", "192.0.2.1");
	assert_int_equal(mail("client.example", "user@fail.test"),
	    FILTER_REJECT);
	assert_int_equal(fx.r.code, 550);
	assert_string_equal(fx.r.ecode, "5.7.23");
	assert_string_equal(fx.r.text, "SPF validation failed: fail.test "
	    "does not designate 192.0.2.1 as a permitted sender");
	teardown();

	/* the domain's exp=, macros expanded (RFC 7208 6.2) */
	setup("helo = false; reject_fail = true;", "192.0.2.1");
	assert_int_equal(mail("client.example", "user@exp.test"),
	    FILTER_REJECT);
	assert_string_equal(fx.r.ecode, "5.7.23");
	assert_string_equal(fx.r.text, "SPF validation failed: 192.0.2.1 is "
	    "not welcome at exp.test");
	teardown();

	/* a softfail is only scored */
	setup("helo = false; reject_fail = true;", "192.0.2.1");
	assert_int_equal(mail("client.example", "user@soft.test"),
	    FILTER_CONTINUE);
	teardown();

	/* without reject_fail a fail is scored */
	setup("helo = false;", "192.0.2.1");
	assert_int_equal(mail("client.example", "user@fail.test"),
	    FILTER_CONTINUE);
	teardown();
}

static void
test_ipv6(void **state)
{
	(void)state;
	setup("helo = false;", "2001:db8::1");
	assert_int_equal(mail("client.example", "u@six.test"),
	    FILTER_CONTINUE);
	assert_int_equal(stage_spf_result(filters_msg(fx.s))->result,
	    SPF_RES_PASS);
	teardown();
	setup("helo = false;", "2001:db8::2");
	assert_int_equal(mail("client.example", "u@six.test"),
	    FILTER_CONTINUE);
	assert_int_equal(stage_spf_result(filters_msg(fx.s))->result,
	    SPF_RES_FAIL);
	teardown();
}

static void
test_transactions_and_trust(void **state)
{
	(void)state;
	/* the result is per transaction */
	setup("helo = false;", "192.0.2.1");
	assert_int_equal(mail("client.example", "u@pass.test"),
	    FILTER_CONTINUE);
	filters_txn_end(fx.s);
	assert_null(stage_spf_result(filters_msg(fx.s)));
	assert_int_equal(mail(NULL, "u@fail.test"), FILTER_CONTINUE);
	assert_int_equal(stage_spf_result(filters_msg(fx.s))->result,
	    SPF_RES_FAIL);
	teardown();

	/* an authenticated client is not checked */
	setup("helo = false; reject_fail = true;", "192.0.2.1");
	filters_session_auth(fx.s, "someone");
	assert_int_equal(mail("client.example", "u@fail.test"),
	    FILTER_CONTINUE);
	assert_null(stage_spf_result(filters_msg(fx.s)));
	data();
	assert_null(strstr(buf_cstr(&fx.out), "spf="));
	teardown();

	/* no resolver: the stage does not start */
	setup("", "192.0.2.1");
	sfx_refused(&(struct filter_env){ .cfg = fx.cfg }, registry,
	    ARRAY_SIZE(registry), "no DNS resolver");
	teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_permerror),
		cmocka_unit_test(test_mechanisms),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_temperror),
		cmocka_unit_test(test_helo),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_reject_fail),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_transactions_and_trust),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
