/*
 * stage_ratelimit_test.c - the ratelimit stage (filters/stage_ratelimit.c)
 * in a real pipeline over a real lookup store (memory, and kv on SQLite),
 * with one clock the test moves for the pipeline and the store: the
 * per-IP limit hit at MAIL (450 4.7.1) and reset when the window turns,
 * other IPs and trusted clients untouched, the per-sender limit for
 * authenticated users (case folded), 0 = off, the burst at a window
 * boundary, and lookup-store failures (kv failinject) turned into the
 * failure policy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "filters/filters.h"
#include "store/kv.h"
#include "store/store_priv.h"
#include "t/unit/stage_fx.h"
#include "t/unit/unit_tmpdir.h"

extern const struct filter_stage_ops filter_stage_ratelimit;

#define WINDOW 3600
#define T0 (472222 * (int64_t)WINDOW + 10)	/* 10 s into a window */

static const struct filter_stage_ops *const registry[] = {
	&filter_stage_ratelimit,
};

static struct sfx lx;

/* setup - backend "memory", "sqlite" or "failinject"; extra goes into
 * the ratelimit group (per_ip 3, per_sender 2 unless it says); one clock
 * (sfx_now) for the pipeline and the store */
static void
setup(const char *backend, const char *filters_extra, const char *extra)
{
	sfx_init(&lx);
	sfx_now = T0;
	lx.cfg = sfx_config("server = { hostname = \"mx.test.example\"; };\n"
	    "filters = { stages = [\"ratelimit\"]; trust_loopback = false; "
	    "trusted_networks = [\"10.0.0.0/8\"]; %s };\n"
	    "ratelimit = { window = %d; %s };\n", filters_extra, WINDOW,
	    extra[0] != '\0' ? extra : "per_ip = 3; per_sender = 2;");
	sfx_lookup(&lx, backend);
	lx.f = sfx_filters(&(struct filter_env){ .cfg = lx.cfg,
	    .lookup = lx.l, .now = sfx_clock }, registry,
	    ARRAY_SIZE(registry));
}

static void
teardown(void)
{
	sfx_free(&lx);
}

/* connect_from - a new connection from ip, authenticated as user */
static void
connect_from(const char *ip, const char *user)
{
	sfx_connect(&lx, ip, user != NULL ? "submission" : "smtp");
	if (user != NULL)
		filters_session_auth(lx.s, user);
}

/* mail - one more transaction on the connection: its MAIL verdict */
static enum filter_action
mail(void)
{
	filters_txn_end(lx.s);
	memset(&lx.r, 0, sizeof(lx.r));
	return filters_mail(lx.s, "QID", "s@example.net", &lx.r);
}

static void
assert_limited(enum filter_action a)
{
	assert_int_equal(a, FILTER_TEMPFAIL);
	assert_int_equal(lx.r.code, 450);
	assert_string_equal(lx.r.ecode, "4.7.1");
	assert_string_equal(lx.r.text, "Rate limit exceeded, try again later");
}

/* ---- tests ---- */

static void
test_per_ip(void **state)
{
	setup(*state, "", "");
	connect_from("192.0.2.1", NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(mail(), FILTER_CONTINUE);
	assert_limited(mail());
	/* a new connection does not help; refusals keep counting */
	connect_from("192.0.2.1", NULL);
	assert_limited(mail());
	/* another address (even in the same /24) has its own count */
	connect_from("192.0.2.2", NULL);
	assert_int_equal(mail(), FILTER_CONTINUE);
	/* the next window starts at zero */
	sfx_now += WINDOW;
	connect_from("192.0.2.1", NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(mail(), FILTER_CONTINUE);
	assert_limited(mail());
	/* and so does the one after it, even with the store's keys gone */
	sfx_now += 5 * WINDOW;
	assert_int_equal(mail(), FILTER_CONTINUE);
	teardown();
}

static void
test_trusted_not_per_ip(void **state)
{
	setup(*state, "", "");
	connect_from("10.1.2.3", NULL);
	for (int i = 0; i < 20; i++)
		assert_int_equal(mail(), FILTER_CONTINUE);
	teardown();
}

static void
test_per_sender(void **state)
{
	setup(*state, "", "");
	/* authenticated: trusted, so per_sender (2) applies, not per_ip */
	connect_from("192.0.2.1", "Alice@Example.ORG");
	assert_int_equal(mail(), FILTER_CONTINUE);
	assert_int_equal(mail(), FILTER_CONTINUE);
	assert_limited(mail());
	/* the same login in another case, from elsewhere */
	connect_from("198.51.100.7", "alice@example.org");
	assert_limited(mail());
	connect_from("198.51.100.7", "bob@example.org");
	assert_int_equal(mail(), FILTER_CONTINUE);
	/* unauthenticated from the same IP: its own per_ip count */
	connect_from("192.0.2.1", NULL);
	assert_int_equal(mail(), FILTER_CONTINUE);
	sfx_now += WINDOW;
	connect_from("192.0.2.1", "alice@example.org");
	assert_int_equal(mail(), FILTER_CONTINUE);
	teardown();
}

static void
test_off(void **state)
{
	setup(*state, "", "per_ip = 0; per_sender = 0;");
	connect_from("192.0.2.1", NULL);
	for (int i = 0; i < 50; i++)
		assert_int_equal(mail(), FILTER_CONTINUE);
	connect_from("192.0.2.1", "alice@example.org");
	for (int i = 0; i < 50; i++)
		assert_int_equal(mail(), FILTER_CONTINUE);
	teardown();
	/* only one of them on */
	setup(*state, "", "per_ip = 0; per_sender = 1;");
	connect_from("192.0.2.1", NULL);
	for (int i = 0; i < 5; i++)
		assert_int_equal(mail(), FILTER_CONTINUE);
	connect_from("192.0.2.1", "alice@example.org");
	assert_int_equal(mail(), FILTER_CONTINUE);
	assert_limited(mail());
	teardown();
}

/* fixed windows: the limit at the end of one, again at the start of the
 * next (the documented burst), never more within one */
static void
test_burst_at_boundary(void **state)
{
	setup(*state, "", "");
	sfx_now = (T0 / WINDOW + 1) * WINDOW - 1;
	connect_from("192.0.2.1", NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(mail(), FILTER_CONTINUE);
	assert_limited(mail());
	sfx_now += 1;
	for (int i = 0; i < 3; i++)
		assert_int_equal(mail(), FILTER_CONTINUE);
	assert_limited(mail());
	sfx_now += WINDOW - 1;
	assert_limited(mail());
	teardown();
}

static void
test_long_login(void **state)
{
	char user[1000];

	setup(*state, "", "");
	memset(user, 'u', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	connect_from("192.0.2.1", user);
	assert_int_equal(mail(), FILTER_CONTINUE);
	assert_int_equal(mail(), FILTER_CONTINUE);
	assert_limited(mail());
	user[500] = 'v';
	connect_from("192.0.2.1", user);
	assert_int_equal(mail(), FILTER_CONTINUE);
	teardown();
}

static void
test_lookup_failure(void **state)
{
	(void)state;
	setup("failinject", "", "");
	connect_from("192.0.2.1", NULL);
	kv_failinject_set(lx.kv, KV_FI_ALL, 1, -1);
	assert_int_equal(mail(), FILTER_TEMPFAIL);
	assert_true(kv_failinject_fired(lx.kv));
	assert_int_equal(lx.r.code, 451);
	assert_string_equal(lx.r.text, "Temporary filter failure; try again "
	    "later");
	/* nothing was counted: three more pass */
	for (int i = 0; i < 3; i++)
		assert_int_equal(mail(), FILTER_CONTINUE);
	assert_limited(mail());
	teardown();
	setup("failinject", "fail_before_data = \"accept\";", "");
	connect_from("192.0.2.1", NULL);
	kv_failinject_set(lx.kv, KV_FI_ALL, 1, -1);
	assert_int_equal(mail(), FILTER_CONTINUE);
	teardown();
}

static void
test_no_lookup_store(void **state)
{
	setup(*state, "", "");
	sfx_refused(&(struct filter_env){ .cfg = lx.cfg }, registry,
	    ARRAY_SIZE(registry), "no lookup store");
	teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		SFX_BOTH_STORES(test_per_ip),
		SFX_BOTH_STORES(test_trusted_not_per_ip),
		SFX_BOTH_STORES(test_per_sender),
		SFX_BOTH_STORES(test_off),
		SFX_BOTH_STORES(test_burst_at_boundary),
		SFX_BOTH_STORES(test_long_login),
		cmocka_unit_test(test_lookup_failure),
		cmocka_unit_test_prestate(test_no_lookup_store,
		    (void *)"memory"),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
