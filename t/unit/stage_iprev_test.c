/*
 * stage_iprev_test.c - the iprev stage (filters/stage_iprev.c) against a
 * real DNS server (dnsmasq, t/unit/dns_fixture.h), driven through the
 * pipeline: a confirmed name (IPv4, IPv6, one of two PTR names), a PTR
 * whose name does not resolve back, no PTR, temperror from a SERVFAIL of
 * the forward lookup and from a PTR lookup that times out; conn->ptr, the
 * symbols, the Authentication-Results clauses, a second transaction of
 * the same connection, and a trusted client left alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/dns.h"
#include "filters/filters.h"
#include "t/unit/stage_fx.h"
#include "t/unit/unit_tmpdir.h"

static const char records[] =
    /* 192.0.2.10 <-> mx.confirmed.test (host-record makes both) */
    "host-record=mx.confirmed.test,192.0.2.10\n"
    "host-record=six.confirmed.test,2001:db8::10\n"
    /* 192.0.2.11 -> liar.test -> 192.0.2.99 */
    "ptr-record=11.2.0.192.in-addr.arpa,liar.test\n"
    "address=/liar.test/192.0.2.99\n"
    /* 192.0.2.12: no PTR at all */
    /* 192.0.2.13 -> a name whose A lookup gets SERVFAIL */
    "ptr-record=13.2.0.192.in-addr.arpa,host.servfail.test\n"
    /* 192.0.2.14 -> two names, one resolves back */
    "ptr-record=14.2.0.192.in-addr.arpa,other.test\n"
    "ptr-record=14.2.0.192.in-addr.arpa,good.test\n"
    "address=/other.test/192.0.2.98\n"
    "address=/good.test/192.0.2.14\n";

static struct sfx_dns dnsfx;
static struct dns *dns, *dead;	/* dead: every query times out */
static struct sfx fx;
extern const struct filter_stage_ops filter_stage_iprev;
static const struct filter_stage_ops *const registry[] = {
	&filter_stage_iprev,
};

static int
group_setup(void **state)
{
	if (sfx_dns_group_setup(state, &dnsfx, records, 2000) < 0)
		return -1;
	dns = dnsfx.resolver;
	dead = sfx_resolver(dnsfx.server.blackhole_fwd, 300, false);
	return dead != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	dns_free(&dead);
	return sfx_dns_group_teardown(state, &dnsfx);
}

/* setup - a pipeline of the iprev stage on resolver d (iprev.fail 1.5),
 * a session from peer */
static void
setup(struct dns *d, const char *peer, const char *filters_extra)
{
	sfx_init(&fx);
	fx.cfg = sfx_config("server = { hostname = \"mx.receiver.test\"; };\n"
	    "filters = { stages = [\"iprev\"]; trust_loopback = false; %s };\n"
	    "iprev = { fail = 1.5; };\n", filters_extra);
	fx.f = sfx_filters(&(struct filter_env){ .cfg = fx.cfg, .dns = d },
	    registry, ARRAY_SIZE(registry));
	fx.s = sfx_session(fx.f, peer, "smtp");
}

static void
teardown(void)
{
	sfx_free(&fx);
}

/* deliver - one transaction; fx.out gets the pipeline's header fields */
static void
deliver(void)
{
	(void)sfx_deliver(&fx, "s@example.test", "u@receiver.test",
	    "Subject: hi\r\n\r\nbody\r\n");
}

/* sym - the score of symbol name, or fail */
static double
sym(const char *name)
{
	return sfx_sym(filters_msg(fx.s), name);
}

static void
assert_has(const char *needle)
{
	if (strstr(buf_cstr(&fx.out), needle) == NULL)
		fail_msg("no \"%s\" in %s", needle, buf_cstr(&fx.out));
}

/* one connection from peer: its verdict, name and clause */
static void
check(struct dns *d, const char *peer, const char *ptr, const char *clause,
    const char *symbol, double score)
{
	setup(d, peer, "");
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_CONTINUE);
	if (ptr == NULL)
		assert_null(filters_session_conn(fx.s)->ptr);
	else
		assert_string_equal(filters_session_conn(fx.s)->ptr, ptr);
	deliver();
	assert_has(clause);
	if (symbol != NULL)
		assert_true(sym(symbol) == score);
	else
		assert_int_equal(filters_msg(fx.s)->nsyms, 0);
	teardown();
}

/* ---- tests ---- */

static void
test_confirmed(void **state)
{
	(void)state;
	check(dns, "192.0.2.10", "mx.confirmed.test",
	    "iprev=pass policy.iprev=192.0.2.10 (mx.confirmed.test)", NULL,
	    0);
	check(dns, "2001:db8::10", "six.confirmed.test",
	    "iprev=pass policy.iprev=\"2001:db8::10\" (six.confirmed.test)",
	    NULL, 0);
	/* one of two names resolves back: whichever order they come in */
	check(dns, "192.0.2.14", "good.test",
	    "iprev=pass policy.iprev=192.0.2.14 (good.test)", NULL, 0);
}

static void
test_fail(void **state)
{
	(void)state;
	/* a PTR whose name does not resolve back to the client */
	check(dns, "192.0.2.11", NULL, "iprev=fail policy.iprev=192.0.2.11",
	    "IPREV_FAIL", 1.5);
	/* no PTR at all */
	check(dns, "192.0.2.12", NULL, "iprev=fail policy.iprev=192.0.2.12",
	    "IPREV_FAIL", 1.5);
	check(dns, "2001:db8::12", NULL,
	    "iprev=fail policy.iprev=\"2001:db8::12\"", "IPREV_FAIL", 1.5);
}

static void
test_temperror(void **state)
{
	uint64_t t0;

	(void)state;
	/* the name's A lookup gets SERVFAIL */
	check(dns, "192.0.2.13", NULL,
	    "iprev=temperror policy.iprev=192.0.2.13", "IPREV_TEMPERROR", 0);
	/* the PTR lookup gets no answer: bounded by the timeout (300 ms) */
	t0 = clock_mono_us();
	check(dead, "192.0.2.10", NULL,
	    "iprev=temperror policy.iprev=192.0.2.10", "IPREV_TEMPERROR", 0);
	assert_true(clock_mono_us() - t0 < 3000000);
}

static void
test_transactions(void **state)
{
	(void)state;
	/* the name found at connect serves every transaction */
	setup(dns, "192.0.2.10", "");
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_CONTINUE);
	deliver();
	assert_has("iprev=pass policy.iprev=192.0.2.10 (mx.confirmed.test)");
	filters_txn_end(fx.s);
	deliver();
	assert_has("iprev=pass policy.iprev=192.0.2.10 (mx.confirmed.test)");
	filters_txn_end(fx.s);
	teardown();

	/* a fail is asked again, and scored again, per message */
	setup(dns, "192.0.2.12", "");
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_CONTINUE);
	filters_txn_end(fx.s);		/* RSET before any message */
	deliver();
	assert_has("iprev=fail policy.iprev=192.0.2.12");
	assert_true(sym("IPREV_FAIL") == 1.5);
	teardown();

	/* without the connect step (a pipeline driven from MAIL on) */
	setup(dns, "192.0.2.10", "");
	deliver();
	assert_has("iprev=pass policy.iprev=192.0.2.10 (mx.confirmed.test)");
	assert_string_equal(filters_session_conn(fx.s)->ptr,
	    "mx.confirmed.test");
	teardown();
}

static void
test_trusted(void **state)
{
	(void)state;
	setup(dns, "192.0.2.12", "trusted_networks = [\"192.0.2.0/24\"];");
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_CONTINUE);
	deliver();
	assert_null(strstr(buf_cstr(&fx.out), "iprev="));
	assert_int_equal(filters_msg(fx.s)->nsyms, 0);
	teardown();

	/* no resolver: the stage does not start */
	setup(dns, "192.0.2.12", "");
	sfx_refused(&(struct filter_env){ .cfg = fx.cfg }, registry,
	    ARRAY_SIZE(registry), "no DNS resolver");
	teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_confirmed),
		cmocka_unit_test(test_fail),
		cmocka_unit_test(test_temperror),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_trusted),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
