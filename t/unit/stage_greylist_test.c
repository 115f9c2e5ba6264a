/*
 * stage_greylist_test.c - the greylist stage (filters/stage_greylist.c)
 * in a real pipeline over a real lookup store, the memory backend and
 * the kv backend on SQLite, with a clock the test moves (the same
 * function for the pipeline and the store): first attempt deferred,
 * early retry deferred without moving the first-seen time, a ripe retry
 * passing, a passed triplet staying passed while used and forgotten when
 * not, the retry window starting over, the auto-whitelist (counted
 * passes, refreshed while used, idle expiry), /24 and /64 grouping,
 * v4-mapped peers, the null sender and case folding, over-long addresses,
 * "doubt" mode (below greylist_score untouched, above it the whole
 * message deferred at data and all recipients passed at once), "always"
 * mode at RCPT per recipient, trusted clients, and lookup-store failures
 * (kv failinject) turned into the pipeline's failure policy.
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

extern const struct filter_stage_ops filter_stage_greylist;

#define T0 1700000000
#define DELAY 300
#define WINDOW 86400
#define DAY 86400

/* the clock (sfx_now) is shared by the pipeline and the lookup store;
 * "score" (sfx_stage_score) adds the test's score at data */
static const struct filter_stage_ops *const registry[] = {
	&filter_stage_greylist, &sfx_stage_score,
};

/* ---- fixture ---- */

static struct sfx gx;

/*
 * setup - backend "memory", "sqlite" or "failinject" (failinject over
 * sqlite); filters_extra and greylist_extra go into those groups
 * (whitelist_after is 2 unless greylist_extra says)
 */
static void
setup(const char *backend, const char *filters_extra,
    const char *greylist_extra)
{
	sfx_init(&gx);
	sfx_now = T0;
	sfx_score = 0;
	gx.cfg = sfx_config("server = { hostname = \"mx.test.example\"; };\n"
	    "filters = { stages = [\"score\", \"greylist\"]; "
	    "trust_loopback = false; greylist_score = 4; junk_score = 6; "
	    "reject_score = 15; %s };\n"
	    "greylist = { delay = %d; retry_window = %d; pass_ttl = \"30d\"; "
	    "whitelist_ttl = \"10d\"; %s %s };\n", filters_extra, DELAY,
	    WINDOW, strstr(greylist_extra, "whitelist_after") != NULL ? "" :
	    "whitelist_after = 2;", greylist_extra);
	sfx_lookup(&gx, backend);
	gx.f = sfx_filters(&(struct filter_env){ .cfg = gx.cfg,
	    .lookup = gx.l, .now = sfx_clock }, registry,
	    ARRAY_SIZE(registry));
}

static void
teardown(void)
{
	sfx_free(&gx);
}

/* connect_from - a new connection (the previous one closed) from ip */
static void
connect_from(const char *ip)
{
	sfx_connect(&gx, ip, "smtp");
}

/* try_rcpt - from ip: MAIL sender, RCPT rcpt; the verdict of the RCPT */
static enum filter_action
try_rcpt(const char *ip, const char *sender, const char *rcpt)
{
	connect_from(ip);
	memset(&gx.r, 0, sizeof(gx.r));
	assert_int_equal(filters_mail(gx.s, "QID", sender, &gx.r),
	    FILTER_CONTINUE);
	return filters_rcpt(gx.s, rcpt, &gx.r);
}

static const char message[] =
    "Received: from x by mx.test.example; Mon, 30 Nov 2026 00:00:00 +0000\r\n"
    "From: <s@example.net>\r\n"
    "Subject: test\r\n"
    "\r\n"
    "body\r\n";

/* try_data - from ip: a message to the n recipients that scores score */
static enum filter_action
try_data(const char *ip, const char *sender, const char *const *rcpts,
    size_t n, double score)
{
	connect_from(ip);
	memset(&gx.r, 0, sizeof(gx.r));
	sfx_score = score;
	assert_int_equal(filters_mail(gx.s, "QID", sender, &gx.r),
	    FILTER_CONTINUE);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(filters_rcpt(gx.s, rcpts[i], &gx.r),
		    FILTER_CONTINUE);
	return filters_data(gx.s, (const unsigned char *)message,
	    sizeof(message) - 1, false, &gx.r);
}

static bool
has_sym(const char *name)
{
	return sfx_has_sym(filters_msg(gx.s), name);
}

/* deferred - the last verdict was the greylist's 451, retry in secs */
static void
assert_deferred(enum filter_action a, int secs)
{
	char want[96];

	assert_int_equal(a, FILTER_TEMPFAIL);
	assert_int_equal(gx.r.code, 451);
	assert_string_equal(gx.r.ecode, "4.7.1");
	snprintf(want, sizeof(want), "Greylisted, please try again in %d "
	    "seconds", secs);
	assert_string_equal(gx.r.text, want);
}

static void
assert_passed(enum filter_action a)
{
	assert_int_equal(a, FILTER_CONTINUE);
	assert_true(has_sym("GREYLIST_PASS"));
}

#define ALWAYS "mode = \"always\";"
#define IP1 "192.0.2.1"
#define FROM1 "s@example.net"
#define RCPT1 "u@example.org"

/* pass - take a new triplet through: deferred, then passed DELAY later */
static void
pass(const char *ip, const char *sender, const char *rcpt)
{
	assert_deferred(try_rcpt(ip, sender, rcpt), DELAY);
	sfx_now += DELAY;
	assert_passed(try_rcpt(ip, sender, rcpt));
}

/* ---- tests ---- */

static void
test_first_early_ripe(void **state)
{
	setup(*state, "", ALWAYS);
	assert_deferred(try_rcpt(IP1, FROM1, RCPT1), DELAY);
	assert_int_equal(filters_msg(gx.s)->nrcpts, 0);
	assert_false(has_sym("GREYLIST_PASS"));
	/* early retries: deferred for what is left of the first delay */
	sfx_now += 100;
	assert_deferred(try_rcpt(IP1, FROM1, RCPT1), DELAY - 100);
	sfx_now += DELAY - 100 - 1;
	assert_deferred(try_rcpt(IP1, FROM1, RCPT1), 1);
	/* the delay counts from the first attempt, not the last retry */
	sfx_now += 1;
	assert_passed(try_rcpt(IP1, FROM1, RCPT1));
	assert_int_equal(filters_msg(gx.s)->nrcpts, 1);
	teardown();
}

static void
test_passed_stays_passed(void **state)
{
	setup(*state, "", ALWAYS);
	pass(IP1, FROM1, RCPT1);
	sfx_now += 20 * DAY;
	assert_passed(try_rcpt(IP1, FROM1, RCPT1));
	/* used at day 20: remembered for 30 days after that */
	sfx_now += 29 * DAY;
	assert_passed(try_rcpt(IP1, FROM1, RCPT1));
	/* idle for longer than pass_ttl: starts over */
	sfx_now += 31 * DAY;
	assert_deferred(try_rcpt(IP1, FROM1, RCPT1), DELAY);
	teardown();
}

static void
test_window_expiry(void **state)
{
	setup(*state, "", ALWAYS);
	assert_deferred(try_rcpt(IP1, FROM1, RCPT1), DELAY);
	/* the last second of the window still passes ... */
	sfx_now += WINDOW;
	assert_passed(try_rcpt(IP1, FROM1, RCPT1));
	/* ... one after it starts over, with a new first-seen time */
	assert_deferred(try_rcpt(IP1, "b@example.net", RCPT1), DELAY);
	sfx_now += WINDOW + 1;
	assert_deferred(try_rcpt(IP1, "b@example.net", RCPT1), DELAY);
	sfx_now += DELAY - 1;
	assert_deferred(try_rcpt(IP1, "b@example.net", RCPT1), 1);
	sfx_now += 1;
	assert_passed(try_rcpt(IP1, "b@example.net", RCPT1));
	teardown();
}

static void
test_auto_whitelist(void **state)
{
	setup(*state, "", ALWAYS);
	pass(IP1, FROM1, "a@example.org");
	/* a passed triplet again is no new pass: still one */
	assert_passed(try_rcpt(IP1, FROM1, "a@example.org"));
	assert_deferred(try_rcpt(IP1, FROM1, "c@example.org"), DELAY);
	sfx_now += DELAY;
	/* that makes two (whitelist_after): the /24 is whitelisted */
	assert_passed(try_rcpt(IP1, FROM1, "c@example.org"));
	assert_passed(try_rcpt("192.0.2.77", "new@example.com",
	    "z@example.org"));
	assert_deferred(try_rcpt("198.51.100.1", "new@example.com",
	    "z@example.org"), DELAY);
	/* refreshed by each message: kept while in use ... */
	sfx_now += 9 * DAY;
	assert_passed(try_rcpt("192.0.2.78", "x1@example.com",
	    "z@example.org"));
	sfx_now += 9 * DAY;
	assert_passed(try_rcpt("192.0.2.79", "x2@example.com",
	    "z@example.org"));
	/* ... dropped after whitelist_ttl without one */
	sfx_now += 10 * DAY + 1;
	assert_deferred(try_rcpt("192.0.2.80", "x3@example.com",
	    "z@example.org"), DELAY);
	teardown();
}

static void
test_whitelist_off(void **state)
{
	setup(*state, "", ALWAYS " whitelist_after = 0;");
	pass(IP1, FROM1, "a@example.org");
	pass(IP1, FROM1, "b@example.org");
	pass(IP1, FROM1, "c@example.org");
	assert_deferred(try_rcpt(IP1, FROM1, "d@example.org"), DELAY);
	teardown();
}

static void
test_v4_24(void **state)
{
	setup(*state, "", ALWAYS);
	assert_deferred(try_rcpt(IP1, FROM1, RCPT1), DELAY);
	sfx_now += DELAY;
	/* a retry from another address of the /24 */
	assert_passed(try_rcpt("192.0.2.254", FROM1, RCPT1));
	/* another /24 is another triplet */
	assert_deferred(try_rcpt("192.0.3.1", FROM1, RCPT1), DELAY);
	/* an IPv4-mapped IPv6 peer is its IPv4 address */
	assert_passed(try_rcpt("::ffff:192.0.2.9", FROM1, RCPT1));
	teardown();
}

static void
test_v6_64(void **state)
{
	setup(*state, "", ALWAYS);
	assert_deferred(try_rcpt("2001:db8:1:2::1", FROM1, RCPT1), DELAY);
	sfx_now += DELAY;
	assert_passed(try_rcpt("2001:db8:1:2:ffff:ffff:ffff:fffe", FROM1,
	    RCPT1));
	assert_deferred(try_rcpt("2001:db8:1:3::1", FROM1, RCPT1), DELAY);
	assert_deferred(try_rcpt("2001:db8:2:2::1", FROM1, RCPT1), DELAY);
	teardown();
}

static void
test_null_sender_and_case(void **state)
{
	setup(*state, "", ALWAYS " whitelist_after = 0;");
	assert_deferred(try_rcpt(IP1, "", RCPT1), DELAY);
	sfx_now += DELAY;
	assert_passed(try_rcpt(IP1, "", RCPT1));
	/* the null sender is a sender of its own */
	assert_deferred(try_rcpt(IP1, "x@example.net", RCPT1), DELAY);
	/* sender and recipient compare without case */
	assert_deferred(try_rcpt(IP1, "Mixed@Example.NET", "Who@Example.ORG"),
	    DELAY);
	sfx_now += DELAY;
	assert_passed(try_rcpt(IP1, "mixed@example.net", "who@example.org"));
	/* spaces and '%' in quoted local parts keep the parts apart */
	assert_deferred(try_rcpt(IP1, "\"a b\"@example.net", "c@example.org"),
	    DELAY);
	assert_deferred(try_rcpt(IP1, "\"a\"@example.net", "b c@example.org"),
	    DELAY);
	teardown();
}

static void
test_long_addresses(void **state)
{
	char sender[300], rcpt[300];

	setup(*state, "", ALWAYS);
	memset(sender, 's', sizeof(sender));
	memcpy(sender + sizeof(sender) - 13, "@example.net", 13);
	memset(rcpt, 'r', sizeof(rcpt));
	memcpy(rcpt + sizeof(rcpt) - 13, "@example.org", 13);
	/* over LOOKUP_KEY_MAX together: hashed, still one triplet */
	pass(IP1, sender, rcpt);
	rcpt[0] = 'q';
	assert_deferred(try_rcpt(IP1, sender, rcpt), DELAY);
	teardown();
}

static void
test_doubt_mode(void **state)
{
	const char *ab[] = { "a@example.org", "b@example.org" };
	const char *ac[] = { "a@example.org", "c@example.org" };
	const char *b[] = { "b@example.org" };

	setup(*state, "", "whitelist_after = 4;");
	/* RCPT is never greylisted in this mode */
	assert_int_equal(try_rcpt(IP1, FROM1, "a@example.org"),
	    FILTER_CONTINUE);
	/* under greylist_score: not greylisted, nothing recorded */
	assert_int_equal(try_data(IP1, FROM1, ab, 2, 3.9), FILTER_CONTINUE);
	assert_false(has_sym("GREYLIST_PASS"));
	sfx_now += DELAY;
	/* at it: the whole message deferred, as new */
	assert_deferred(try_data(IP1, FROM1, ab, 2, 4.0), DELAY);
	sfx_now += 10;
	assert_deferred(try_data(IP1, FROM1, ab, 2, 5), DELAY - 10);
	sfx_now += DELAY - 10;
	/* ripe: passes, and marks both recipients (two passes) */
	assert_passed(try_data(IP1, FROM1, ab, 2, 5));
	/* one new recipient defers the whole message */
	assert_deferred(try_data(IP1, FROM1, ac, 2, 5), DELAY);
	sfx_now += DELAY;
	assert_passed(try_data(IP1, FROM1, ac, 2, 5));	/* the third */
	assert_deferred(try_data("192.0.2.5", "n@example.com", b, 1, 5),
	    DELAY);
	sfx_now += DELAY;
	assert_passed(try_data("192.0.2.5", "n@example.com", b, 1, 5));
	/* that was the fourth (whitelist_after): the /24 is whitelisted */
	assert_passed(try_data("192.0.2.6", "o@example.com", b, 1, 5));
	teardown();
	/* duplicates count once; a passed triplet needs no new wait */
	setup(*state, "", "whitelist_after = 0;");
	{
		const char *bb[] = { "b@example.org", "B@example.org" };

		assert_deferred(try_data(IP1, FROM1, bb, 2, 5), DELAY);
		sfx_now += DELAY;
		assert_passed(try_data(IP1, FROM1, bb, 2, 5));
		assert_passed(try_data(IP1, FROM1, b, 1, 5.5));
		/* spam over reject_score is refused, never greylisted */
		assert_int_equal(try_data(IP1, FROM1, b, 1, 20),
		    FILTER_REJECT);
	}
	teardown();
}

static void
test_always_per_rcpt(void **state)
{
	setup(*state, "", ALWAYS);
	pass(IP1, FROM1, "a@example.org");
	connect_from(IP1);
	assert_int_equal(filters_mail(gx.s, "QID", FROM1, &gx.r),
	    FILTER_CONTINUE);
	assert_int_equal(filters_rcpt(gx.s, "a@example.org", &gx.r),
	    FILTER_CONTINUE);
	assert_deferred(filters_rcpt(gx.s, "b@example.org", &gx.r), DELAY);
	assert_int_equal(filters_msg(gx.s)->nrcpts, 1);
	assert_string_equal(filters_msg(gx.s)->rcpts[0], "a@example.org");
	/* the message of the recipient that passed is not greylisted again
	 * at data, whatever its score */
	sfx_score = 5;
	assert_int_equal(filters_data(gx.s, (const unsigned char *)message,
	    sizeof(message) - 1, false, &gx.r), FILTER_CONTINUE);
	teardown();
}

static void
test_trusted_skipped(void **state)
{
	setup(*state, "trusted_networks = [\"192.0.2.0/24\"];", ALWAYS);
	assert_int_equal(try_rcpt(IP1, FROM1, RCPT1), FILTER_CONTINUE);
	assert_false(has_sym("GREYLIST_PASS"));
	assert_deferred(try_rcpt("198.51.100.1", FROM1, RCPT1), DELAY);
	teardown();
}

static void
test_no_lookup_store(void **state)
{
	setup(*state, "", "");
	sfx_refused(&(struct filter_env){ .cfg = gx.cfg }, registry,
	    ARRAY_SIZE(registry), "no lookup store");
	teardown();
}

/* every store operation fails: the pipeline's failure policy applies */
static void
test_lookup_failure(void **state)
{
	const char *a[] = { "a@example.org" };

	(void)state;
	setup("failinject", "", ALWAYS);
	kv_failinject_set(gx.kv, KV_FI_ALL, 1, -1);
	assert_int_equal(try_rcpt(IP1, FROM1, RCPT1), FILTER_TEMPFAIL);
	assert_true(kv_failinject_fired(gx.kv));
	assert_int_equal(gx.r.code, 451);
	assert_string_equal(gx.r.text, "Temporary filter failure; try again "
	    "later");
	/* the read works, the write of the new triplet fails */
	kv_failinject_set(gx.kv, KV_FI_PUT, 1, -1);
	assert_int_equal(try_rcpt(IP1, FROM1, RCPT1), FILTER_TEMPFAIL);
	assert_true(kv_failinject_fired(gx.kv));
	assert_string_equal(gx.r.text, "Temporary filter failure; try again "
	    "later");
	kv_failinject_set(gx.kv, 0, 0, -1);
	assert_deferred(try_rcpt(IP1, FROM1, RCPT1), DELAY);
	teardown();
	/* before DATA with fail_before_data = accept: let through */
	setup("failinject", "fail_before_data = \"accept\";", ALWAYS);
	kv_failinject_set(gx.kv, KV_FI_ALL, 1, -1);
	assert_int_equal(try_rcpt(IP1, FROM1, RCPT1), FILTER_CONTINUE);
	assert_true(has_sym("GREYLIST_ERROR"));
	teardown();
	/* at data (doubt mode): accepted with GREYLIST_ERROR by default */
	setup("failinject", "", "");
	kv_failinject_set(gx.kv, KV_FI_ALL, 1, -1);
	assert_int_equal(try_data(IP1, FROM1, a, 1, 5), FILTER_CONTINUE);
	assert_true(kv_failinject_fired(gx.kv));
	assert_true(has_sym("GREYLIST_ERROR"));
	assert_false(has_sym("GREYLIST_PASS"));
	teardown();
	/* ... or deferred with fail_at_data = tempfail */
	setup("failinject", "fail_at_data = \"tempfail\";", "");
	kv_failinject_set(gx.kv, KV_FI_ALL, 1, -1);
	assert_int_equal(try_data(IP1, FROM1, a, 1, 5), FILTER_TEMPFAIL);
	assert_string_equal(gx.r.text, "Temporary filter failure; try again "
	    "later");
	teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		SFX_BOTH_STORES(test_first_early_ripe),
		SFX_BOTH_STORES(test_passed_stays_passed),
		SFX_BOTH_STORES(test_window_expiry),
		SFX_BOTH_STORES(test_auto_whitelist),
		SFX_BOTH_STORES(test_whitelist_off),
		SFX_BOTH_STORES(test_v4_24),
		SFX_BOTH_STORES(test_v6_64),
		SFX_BOTH_STORES(test_null_sender_and_case),
		SFX_BOTH_STORES(test_long_addresses),
		SFX_BOTH_STORES(test_doubt_mode),
		SFX_BOTH_STORES(test_always_per_rcpt),
		SFX_BOTH_STORES(test_trusted_skipped),
		cmocka_unit_test_prestate(test_no_lookup_store,
		    (void *)"memory"),
		cmocka_unit_test(test_lookup_failure),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
