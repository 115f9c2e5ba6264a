/*
 * auth_throttle_test.c - common/auth_throttle.c with a clock of the
 * test's: free failures, growing delays and their cap, the IP block and
 * its end, forgetting after the window, a success clearing the account
 * but not the IP, accounts never blocked, and the bound on records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/auth_throttle.h"

#define SEC 1000000ull

static const struct auth_throttle_conf conf = {
	.free = 2, .delay_ms = 100, .delay_max_ms = 1000, .window = 600,
	.ip_limit = 8, .block = 3600, .max_entries = 1000,
};

static void
test_delays_and_block(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&conf);
	struct auth_throttle_verdict v;
	static const unsigned want[] = { 0, 0, 100, 200, 400, 800, 1000, 1000 };
	uint64_t now = 1000 * SEC;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		assert_int_equal(auth_throttle_blocked(t, "192.0.2.1", now), 0);
		auth_throttle_fail(t, "192.0.2.1", "u@example.com", now, &v);
		assert_int_equal(v.ip_failures, i + 1);
		assert_int_equal(v.account_failures, i + 1);
		assert_int_equal(v.delay_ms, want[i]);
		assert_int_equal(v.blocked, i + 1 == conf.ip_limit);
		now += SEC;
	}
	/* blocked, for this IP only, until block seconds have passed */
	assert_int_equal(auth_throttle_blocked(t, "192.0.2.1", now),
	    conf.block - 1);
	assert_int_equal(auth_throttle_blocked(t, "192.0.2.2", now), 0);
	assert_int_equal(auth_throttle_blocked(t, "192.0.2.1",
	    now + (conf.block - 1) * SEC), 0);
	/* the account is never blocked; its count slows other IPs too */
	auth_throttle_fail(t, "192.0.2.3", "u@example.com", now, &v);
	assert_int_equal(v.ip_failures, 1);
	assert_int_equal(v.account_failures, 9);
	assert_int_equal(v.delay_ms, 1000);
	assert_false(v.blocked);
	/* another account from a fresh IP: nothing */
	auth_throttle_fail(t, "192.0.2.4", "v@example.com", now, &v);
	assert_int_equal(v.delay_ms, 0);
	/* a success forgets the account, not the IP */
	auth_throttle_success(t, "u@example.com", now);
	auth_throttle_fail(t, "192.0.2.3", "u@example.com", now, &v);
	assert_int_equal(v.account_failures, 1);
	assert_int_equal(v.ip_failures, 2);
	auth_throttle_free(&t);
	assert_null(t);
	auth_throttle_free(&t);
}

static void
test_window(void **state)
{
	struct auth_throttle *t = auth_throttle_new(&conf);
	struct auth_throttle_verdict v;
	uint64_t now = 5 * SEC;

	(void)state;
	for (int i = 0; i < 5; i++)
		auth_throttle_fail(t, "2001:db8::1", NULL, now, &v);
	assert_int_equal(v.ip_failures, 5);
	assert_int_equal(v.account_failures, 0);
	/* within the window of the last failure: counted on */
	now += conf.window * SEC;
	auth_throttle_fail(t, "2001:db8::1", "", now, &v);
	assert_int_equal(v.ip_failures, 6);
	/* past it: forgotten */
	now += conf.window * SEC + 1;
	auth_throttle_fail(t, "2001:db8::1", "x", now, &v);
	assert_int_equal(v.ip_failures, 1);
	assert_int_equal(v.delay_ms, 0);
	auth_throttle_free(&t);
}

static void
test_block_again(void **state)
{
	struct auth_throttle_conf c = conf;
	struct auth_throttle *t;
	struct auth_throttle_verdict v;
	uint64_t now = SEC;

	(void)state;
	c.ip_limit = 2;
	c.block = 10;
	c.delay_ms = 0;		/* delays off */
	t = auth_throttle_new(&c);
	auth_throttle_fail(t, "ip", "a", now, &v);
	assert_false(v.blocked);
	assert_int_equal(v.delay_ms, 0);
	auth_throttle_fail(t, "ip", "b", now, &v);
	assert_true(v.blocked);
	assert_int_equal(auth_throttle_blocked(t, "ip", now), 10);
	assert_int_equal(auth_throttle_blocked(t, "ip", now + SEC / 2), 10);
	now += 11 * SEC;
	assert_int_equal(auth_throttle_blocked(t, "ip", now), 0);
	/* still over the limit in the window: the next failure blocks */
	auth_throttle_fail(t, "ip", "c", now, &v);
	assert_true(v.blocked);
	auth_throttle_free(&t);
	/* ip_limit 0: never */
	c.ip_limit = 0;
	t = auth_throttle_new(&c);
	for (int i = 0; i < 100; i++)
		auth_throttle_fail(t, "ip", "a", now, &v);
	assert_false(v.blocked);
	assert_int_equal(auth_throttle_blocked(t, "ip", now), 0);
	auth_throttle_free(&t);
}

static void
test_bounded(void **state)
{
	struct auth_throttle_conf c = conf;
	struct auth_throttle *t;
	struct auth_throttle_verdict v;
	char name[64];
	uint64_t now = SEC;

	(void)state;
	c.max_entries = 50;
	t = auth_throttle_new(&c);
	/* a block, then a flood of fresh names from elsewhere */
	for (int i = 0; i < 8; i++)
		auth_throttle_fail(t, "blocked-ip", "victim", now, &v);
	assert_true(v.blocked);
	for (int i = 0; i < 1000; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		auth_throttle_fail(t, "flood-ip", name, now, &v);
		assert_true(auth_throttle_entries(t) <= c.max_entries);
	}
	assert_int_equal(auth_throttle_entries(t), c.max_entries);
	/* the least recently used went first: the flood's IP stays */
	auth_throttle_fail(t, "flood-ip", "user999", now, &v);
	assert_int_equal(v.ip_failures, 1001);
	assert_int_equal(v.account_failures, 2);
	/* long names are cut, and still counted */
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	auth_throttle_fail(t, "x", name, now, &v);
	assert_int_equal(v.account_failures, 1);
	auth_throttle_free(&t);
	/* max_entries below 2 is taken as 2: an IP and an account fit */
	c.max_entries = 0;
	t = auth_throttle_new(&c);
	auth_throttle_fail(t, "ip", "acct", now, &v);
	auth_throttle_fail(t, "ip", "acct", now, &v);
	assert_int_equal(v.ip_failures, 2);
	assert_int_equal(v.account_failures, 2);
	assert_int_equal(auth_throttle_entries(t), 2);
	auth_throttle_free(&t);
}

/* password checks at once: up to max_checks, then refused until one
 * ends; 0 bounds nothing */
static void
test_checks(void **state)
{
	struct auth_throttle_conf c = conf;
	struct auth_throttle *t;

	(void)state;
	c.max_checks = 2;
	t = auth_throttle_new(&c);
	assert_true(auth_throttle_check_begin(t));
	assert_true(auth_throttle_check_begin(t));
	assert_false(auth_throttle_check_begin(t));
	auth_throttle_check_end(t, 1000);
	assert_true(auth_throttle_check_begin(t));
	assert_false(auth_throttle_check_begin(t));
	auth_throttle_check_end(t, 1000);
	auth_throttle_check_end(t, 1000);
	auth_throttle_free(&t);
	c.max_checks = 0;
	t = auth_throttle_new(&c);
	for (int i = 0; i < 1000; i++)
		assert_true(auth_throttle_check_begin(t));
	auth_throttle_free(&t);
}

/*
 * the wait bound: queued checks times the average check, shared by the
 * threads.  Fast checks (2 ms) let a burst of 1,000 queue; slow ones
 * (0.3 s, Argon2id) are refused once the wait passes max_wait; the
 * average follows the checks as they change
 */
static void
test_check_wait(void **state)
{
	struct auth_throttle_conf c = conf;
	struct auth_throttle *t;
	unsigned n;

	(void)state;
	c.max_checks = 1000;
	c.threads = 2;
	c.max_wait_us = 10 * SEC;
	t = auth_throttle_new(&c);
	/* no check has ended yet: nothing to go by, only max_checks */
	assert_true(auth_throttle_check_begin(t));
	auth_throttle_check_end(t, 2000);
	for (n = 0; n < 1000 && auth_throttle_check_begin(t); n++)
		;
	assert_int_equal(n, 1000);	/* 999 ahead x 2 ms / 2: 1 s */
	assert_int_equal(auth_throttle_check_wait(t), 999 * 2000 / 2);
	for (unsigned i = 0; i < n; i++)
		auth_throttle_check_end(t, 2000);
	auth_throttle_free(&t);

	t = auth_throttle_new(&c);
	assert_true(auth_throttle_check_begin(t));
	auth_throttle_check_end(t, 300000);
	for (n = 0; n < 1000 && auth_throttle_check_begin(t); n++)
		;
	/* 0.3 s each on 2 threads: 10 s is 66 queued beyond the running 2 */
	assert_int_equal(n, 68);
	assert_true(auth_throttle_check_wait(t) > 10 * SEC);
	/* the checks got faster: the average comes down, room again */
	for (unsigned i = 0; i < 40; i++)
		auth_throttle_check_end(t, 3000);
	assert_true(auth_throttle_check_wait(t) < 1 * SEC);
	assert_true(auth_throttle_check_begin(t));
	for (unsigned i = 0; i < n - 40 + 1; i++)
		auth_throttle_check_end(t, 3000);
	auth_throttle_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_delays_and_block),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_block_again),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_check_wait),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
