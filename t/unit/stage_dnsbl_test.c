/*
 * stage_dnsbl_test.c - the dnsbl stage (filters/stage_dnsbl.c) against a
 * real DNS server (dnsmasq, t/unit/dns_fixture.h), driven through the
 * pipeline: listed, not listed, a whitelist's negative score, two lists
 * adding up, an IPv6 client (nibble names), the 127.255.255.x error
 * answers and a non-127 answer ignored, temporary failures (SERVFAIL,
 * timeout) scored 0, symbol names cut to size, a trusted client left
 * alone, and a zone too long to query refused at start-up.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "filters/filters.h"
#include "t/unit/stage_fx.h"
#include "t/unit/unit_tmpdir.h"

#define V6_99 "9.9.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2"

static const char records[] =
    "address=/99.2.0.192.bl.test/127.0.0.2\n"
    "address=/99.2.0.192.wl.test/127.0.10.5\n"
    "address=/99.2.0.192.bl2.test/127.0.0.4\n"
    /* error answers of the list, and a hijacked NXDOMAIN */
    "address=/98.2.0.192.bl.test/127.255.255.254\n"
    "address=/97.2.0.192.bl.test/192.0.2.250\n"
    "address=/" V6_99 ".bl.test/127.0.0.3\n"
    "address=/99.2.0.192.a-very-long-list-name-to-cut-short.lists.test/"
    "127.0.0.2\n";

static struct sfx_dns dns;
static struct sfx fx;
extern const struct filter_stage_ops filter_stage_dnsbl;
static const struct filter_stage_ops *const registry[] = {
	&filter_stage_dnsbl,
};

static int
group_setup(void **state)
{
	return sfx_dns_group_setup(state, &dns, records, 300);
}

static int
group_teardown(void **state)
{
	return sfx_dns_group_teardown(state, &dns);
}

/* load - the configuration with dnsbl.zones = [zones] */
static void
load(const char *zones, const char *filters_extra)
{
	sfx_init(&fx);
	fx.cfg = sfx_config("server = { hostname = \"mx.receiver.test\"; };\n"
	    "filters = { stages = [\"dnsbl\"]; trust_loopback = false; %s };\n"
	    "dnsbl = { zones = [%s]; };\n", filters_extra, zones);
}

static void
setup(const char *zones, const char *peer, const char *filters_extra)
{
	load(zones, filters_extra);
	fx.f = sfx_filters(&(struct filter_env){ .cfg = fx.cfg,
	    .dns = dns.resolver }, registry, ARRAY_SIZE(registry));
	fx.s = sfx_session(fx.f, peer, "smtp");
}

static void
teardown(void)
{
	sfx_free(&fx);
}

/* deliver - one message; the verdict of the data step */
static enum filter_action
deliver(void)
{
	return sfx_deliver(&fx, "s@example.test", "u@receiver.test",
	    "Subject: hi\r\n\r\nbody\r\n");
}

/* syms - the message's symbols as "NAME=score,..." */
static const char *
syms(void)
{
	static char out[1024];
	const struct filter_msg *m = filters_msg(fx.s);
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < m->nsyms && off < sizeof(out); i++)
		off += (size_t)snprintf(out + off, sizeof(out) - off,
		    "%s%s=%.1f", i == 0 ? "" : ",", m->syms[i].name,
		    m->syms[i].score);
	return out;
}

/* one message from peer against zones: its symbols and score */
static void
check(const char *zones, const char *peer, const char *want_syms,
    double want_score)
{
	setup(zones, peer, "");
	(void)deliver();
	assert_string_equal(syms(), want_syms);
	assert_true(filters_msg(fx.s)->score == want_score);
	/* no Authentication-Results method for DNS lists */
	assert_non_null(strstr(buf_cstr(&fx.out),
	    "Authentication-Results: mx.receiver.test; none"));
	teardown();
}

/* ---- tests ---- */

static void
test_listed(void **state)
{
	(void)state;
	check("\"bl.test=3.5\"", "192.0.2.99", "DNSBL_BL_TEST=3.5", 3.5);
	/* two lists add up, in order */
	check("\"bl.test=3\", \"bl2.test=2\"", "192.0.2.99",
	    "DNSBL_BL_TEST=3.0,DNSBL_BL2_TEST=2.0", 5.0);
}

static void
test_not_listed(void **state)
{
	(void)state;
	check("\"bl.test=3\"", "192.0.2.1", "", 0.0);
	/* 127.255.255.254: the list says "error", not "listed" */
	check("\"bl.test=3\"", "192.0.2.98", "", 0.0);
	/* an answer outside 127/8 is not a list's answer */
	check("\"bl.test=3\"", "192.0.2.97", "", 0.0);
}

static void
test_whitelist(void **state)
{
	(void)state;
	check("\"wl.test=-2\"", "192.0.2.99", "DNSBL_WL_TEST=-2.0", -2.0);
	check("\"bl.test=3\", \"wl.test=-2.5\"", "192.0.2.99",
	    "DNSBL_BL_TEST=3.0,DNSBL_WL_TEST=-2.5", 0.5);
}

static void
test_ipv6(void **state)
{
	(void)state;
	check("\"bl.test=4\"", "2001:db8::99", "DNSBL_BL_TEST=4.0", 4.0);
	check("\"bl.test=4\"", "2001:db8::98", "", 0.0);
	/* a v4-mapped client is asked about as IPv4 */
	check("\"bl.test=4\"", "::ffff:192.0.2.99", "DNSBL_BL_TEST=4.0",
	    4.0);
}

static void
test_tempfail(void **state)
{
	uint64_t t0;

	(void)state;
	check("\"bl.servfail.test=5\", \"bl.test=1\"", "192.0.2.99",
	    "DNSBL_BL_SERVFAIL_TEST_TEMPFAIL=0.0,DNSBL_BL_TEST=1.0", 1.0);
	t0 = clock_mono_us();
	check("\"bl.timeout.test=5\"", "192.0.2.99",
	    "DNSBL_BL_TIMEOUT_TEST_TEMPFAIL=0.0", 0.0);
	assert_true(clock_mono_us() - t0 < 3000000);
}

static void
test_symbol_names(void **state)
{
	char want[64];

	(void)state;
	/* cut to FILTER_SYMBOL_NAME_MAX - 1, the suffix kept */
	setup("\"a-very-long-list-name-to-cut-short.lists.test=1\"",
	    "192.0.2.99", "");
	(void)deliver();
	assert_int_equal(filters_msg(fx.s)->nsyms, 1);
	assert_int_equal(strlen(filters_msg(fx.s)->syms[0].name),
	    FILTER_SYMBOL_NAME_MAX - 1);
	snprintf(want, sizeof(want), "%.*s", FILTER_SYMBOL_NAME_MAX - 1,
	    "DNSBL_A_VERY_LONG_LIST_NAME_TO_CUT_SHORT_LISTS_TEST");
	assert_string_equal(filters_msg(fx.s)->syms[0].name, want);
	teardown();
	setup("\"a-very-long-list-name-to-cut-short.servfail.test=1\"",
	    "192.0.2.99", "");
	(void)deliver();
	assert_int_equal(filters_msg(fx.s)->nsyms, 1);
	assert_int_equal(strlen(filters_msg(fx.s)->syms[0].name),
	    FILTER_SYMBOL_NAME_MAX - 1);
	assert_non_null(strstr(filters_msg(fx.s)->syms[0].name,
	    "_TEMPFAIL"));
	assert_int_equal(strncmp(filters_msg(fx.s)->syms[0].name,
	    "DNSBL_A_VERY_LONG", 17), 0);
	teardown();
}

static void
test_trusted_and_config(void **state)
{
	char zone[300];

	(void)state;
	/* a trusted client is not looked up */
	setup("\"bl.test=3\"", "192.0.2.99",
	    "trusted_networks = [\"192.0.2.0/24\"];");
	(void)deliver();
	assert_string_equal(syms(), "");
	teardown();

	/* a zone too long for a query (253 characters with the address) */
	snprintf(zone, sizeof(zone), "\"%.60s.%.60s.%.60s.%.60s.test=1\"",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
	    "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc",
	    "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd");
	load(zone, "");
	sfx_refused(&(struct filter_env){ .cfg = fx.cfg,
	    .dns = dns.resolver }, registry, ARRAY_SIZE(registry),
	    "dnsbl.zones");
	teardown();

	/* no resolver */
	load("\"bl.test=3\"", "");
	sfx_refused(&(struct filter_env){ .cfg = fx.cfg }, registry,
	    ARRAY_SIZE(registry), "no DNS resolver");
	teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_listed),
		cmocka_unit_test(test_not_listed),
		cmocka_unit_test(test_whitelist),
		cmocka_unit_test(test_ipv6),
		cmocka_unit_test(test_tempfail),
		cmocka_unit_test(test_symbol_names),
		cmocka_unit_test(test_trusted_and_config),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
