/*
 * lookup_conformance.c - the one conformance suite every lookup backend
 * passes (lookup/lookup.h is the contract).  Not a test program by
 * itself: a thin t/unit/lookup_<backend>_test.c includes this file,
 * describes its backend in a struct lkc_backend (how to open a lookup
 * store with a given prefix on the group's shared store, and whether
 * time passes by the clock hook or by sleeping) and calls
 * lookup_conformance_run() with its own extra tests, which run in the
 * same group on the same fixture.
 *
 * Each test starts from an empty store (the backend's test_setup) and
 * c->l open with the prefix "t:".  Time: backends with the clock hook
 * start at LKC_T0 and lkc_pass() moves it; Redis has its own clock, so
 * there lkc_pass(c, 1) sleeps a little over a second, and the TTL tests
 * only ever need one such pass to keep the suite fast.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "lookup/lookup.h"
#include "lookup/lookup_priv.h"

#define S(lit) lit, sizeof(lit) - 1
#define LKC_T0 1700000000	/* the hooked clock's start */

struct lkc;

struct lkc_backend {
	const char *name;
	/* open a lookup store with prefix on this test's store */
	int (*open)(struct lkc *c, const char *prefix, struct lookup **l_r,
	    struct buf *err);
	int (*group_setup)(struct lkc *c);	/* may be NULL */
	void (*group_teardown)(struct lkc *c);	/* may be NULL */
	int (*test_setup)(struct lkc *c);	/* empty store; may be NULL */
	void (*test_teardown)(struct lkc *c);	/* may be NULL */
	bool real_clock;	/* TTLs pass by sleeping (Redis) */
	bool shared;		/* lookups of one test share the data */
	bool sweeps;		/* lookup_expire deletes (kv, memory) */
	unsigned writes;	/* per thread in the concurrency test */
};

struct lkc {
	const struct lkc_backend *be;
	char dir[64];		/* the group's scratch directory */
	unsigned seq;		/* tests run, for per-test paths */
	atomic_llong now;	/* the hooked clock */
	struct lookup *l;	/* prefix "t:" */
	struct buf err;
	void *priv;		/* the backend's own state */
};

static const struct lkc_backend *lkc_be;	/* for the next group */

/* ---- helpers ---- */

/* the clock hook for backends that take one (not Redis) */
__attribute__((unused)) static int64_t
lkc_clock(void *arg)
{
	struct lkc *c = arg;

	return atomic_load(&c->now);
}

static void
ok(int r, struct buf *err)
{
	if (r < 0)
		fail_msg("unexpected %d: %s", r, buf_cstr(err));
}

static void
lkc_sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0)
		;
}

/* lkc_pass - let secs seconds pass for the store */
static void
lkc_pass(struct lkc *c, unsigned secs)
{
	if (c->be->real_clock)
		lkc_sleep_ms(secs * 1000 + 150);
	else
		atomic_fetch_add(&c->now, secs);
}

static struct lookup *
lkc_open(struct lkc *c, const char *prefix)
{
	struct lookup *l = NULL;

	ok(c->be->open(c, prefix, &l, &c->err), &c->err);
	return l;
}

static void
set(struct lkc *c, struct lookup *l, const void *k, size_t kn,
    const void *v, size_t vn, uint32_t ttl)
{
	ok(lookup_set(l, k, kn, v, vn, ttl, &c->err), &c->err);
}

/* expect - get k: want NULL = absent */
static void
expect(struct lkc *c, struct lookup *l, const void *k, size_t kn,
    const void *want, size_t wn)
{
	struct buf v = BUF_INIT(0);
	int r = lookup_get(l, k, kn, &v, &c->err);

	ok(r, &c->err);
	if (want == NULL) {
		assert_int_equal(r, 0);
		assert_int_equal(v.len, 0);
	} else {
		assert_int_equal(r, 1);
		assert_int_equal(v.len, wn);
		if (wn > 0)
			assert_memory_equal(v.data, want, wn);
	}
	buf_free(&v);
}

static int64_t
incr(struct lkc *c, struct lookup *l, const void *k, size_t kn,
    int64_t delta, uint32_t ttl)
{
	int64_t v = 0;

	ok(lookup_incr(l, k, kn, delta, ttl, &v, &c->err), &c->err);
	return v;
}

/* keyname - "<pfx><n>" into out (cap bytes); its length */
static size_t
keyname(char *out, size_t cap, const char *pfx, long n)
{
	int r = snprintf(out, cap, "%s%ld", pfx, n);

	assert_true(r > 0 && (size_t)r < cap);
	return (size_t)r;
}

/* expect_num - k holds the counter want */
static void
expect_num(struct lkc *c, struct lookup *l, const char *k, int64_t want)
{
	char num[LOOKUP_COUNTER_LEN_MAX + 1];
	size_t n = lookup_counter_fmt(want, num);

	expect(c, l, k, strlen(k), num, n);
}

/* ---- basics ---- */

static void
test_basic(void **state)
{
	struct lkc *c = *state;
	struct buf v = BUF_INIT(0);

	expect(c, c->l, S("a"), NULL, 0);
	set(c, c->l, S("a"), S("one"), 0);
	expect(c, c->l, S("a"), S("one"));
	set(c, c->l, S("a"), S("a longer value"), 0);
	expect(c, c->l, S("a"), S("a longer value"));
	set(c, c->l, S("a"), S("2"), 0);
	expect(c, c->l, S("a"), S("2"));
	/* the value is appended, and an absent key leaves val alone */
	buf_add_str(&v, "x=");
	assert_int_equal(lookup_get(c->l, S("a"), &v, &c->err), 1);
	assert_string_equal(buf_cstr(&v), "x=2");
	assert_int_equal(lookup_get(c->l, S("zz"), &v, &c->err), 0);
	assert_string_equal(buf_cstr(&v), "x=2");
	/* empty values and the empty key */
	set(c, c->l, S("e"), "", 0, 0);
	expect(c, c->l, S("e"), "", 0);
	set(c, c->l, NULL, 0, S("empty key"), 0);
	expect(c, c->l, "", 0, S("empty key"));
	/* delete, twice */
	ok(lookup_delete(c->l, S("a"), &c->err), &c->err);
	expect(c, c->l, S("a"), NULL, 0);
	ok(lookup_delete(c->l, S("a"), &c->err), &c->err);
	ok(lookup_delete(c->l, S("never"), &c->err), &c->err);
	expect(c, c->l, S("e"), "", 0);
	assert_string_equal(lookup_backend_name(c->l) != NULL ? "ok" : "",
	    "ok");
	buf_free(&v);
}

static void
test_binary(void **state)
{
	struct lkc *c = *state;
	unsigned char all[256], key[LOOKUP_KEY_MAX];

	for (size_t i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)i;
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(255 - i % 256);
	set(c, c->l, S("a\0b"), all, sizeof(all), 0);
	set(c, c->l, S("a\0c"), S("\0\r\n\0"), 0);
	set(c, c->l, S("a"), S("\xff"), 0);
	set(c, c->l, all, sizeof(all), S("all"), 0);
	set(c, c->l, key, sizeof(key), S("longest key"), 0);
	expect(c, c->l, S("a\0b"), all, sizeof(all));
	expect(c, c->l, S("a\0c"), S("\0\r\n\0"));
	expect(c, c->l, S("a"), S("\xff"));
	expect(c, c->l, S("a\0"), NULL, 0);
	expect(c, c->l, all, sizeof(all), S("all"));
	expect(c, c->l, all, sizeof(all) - 1, NULL, 0);
	expect(c, c->l, key, sizeof(key), S("longest key"));
	assert_int_equal(incr(c, c->l, S("\0\0"), 5, 0), 5);
	expect(c, c->l, S("\0\0"), S("5"));
}

static void
test_limits(void **state)
{
	struct lkc *c = *state;
	size_t big = LOOKUP_KEY_MAX + 1, n = LOOKUP_BATCH_MAX + 1;
	unsigned char *key = xcalloc(1, big);
	unsigned char *val = xmalloc(LOOKUP_VALUE_MAX + 1);
	struct lookup_key *keys = xcalloc(n, sizeof(*keys));
	struct buf *vals = xcalloc(n, sizeof(*vals));
	bool *found = xcalloc(n, sizeof(*found));
	int64_t *deltas = xcalloc(n, sizeof(*deltas));
	struct buf v = BUF_INIT(0), small = BUF_INIT(10);
	struct lookup *l;
	struct lookup_options o = { 0 };

	memset(val, 'v', LOOKUP_VALUE_MAX + 1);
	/* over the key limit: -1 with a message, nothing written */
	buf_reset(&c->err);
	assert_int_equal(lookup_set(c->l, key, big, S("x"), 0, &c->err), -1);
	assert_non_null(strstr(buf_cstr(&c->err), "512"));
	assert_int_equal(lookup_get(c->l, key, big, &v, &c->err), -1);
	assert_int_equal(lookup_delete(c->l, key, big, &c->err), -1);
	assert_int_equal(lookup_incr(c->l, key, big, 1, 0, NULL, &c->err),
	    -1);
	expect(c, c->l, key, LOOKUP_KEY_MAX, NULL, 0);
	/* over the value limit */
	assert_int_equal(lookup_set(c->l, S("v"), val, LOOKUP_VALUE_MAX + 1,
	    0, &c->err), -1);
	expect(c, c->l, S("v"), NULL, 0);
	set(c, c->l, S("v"), val, LOOKUP_VALUE_MAX, 0);
	expect(c, c->l, S("v"), val, LOOKUP_VALUE_MAX);
	/* the caller's buffer limit is honoured */
	buf_reset(&c->err);
	assert_int_equal(lookup_get(c->l, S("v"), &small, &c->err), -1);
	assert_non_null(strstr(buf_cstr(&c->err), "buffer"));
	assert_int_equal(small.len, 0);
	/* batches: a key over the limit, or one key too many */
	for (size_t i = 0; i < n; i++) {
		keys[i].key = key;
		keys[i].len = 1 + i % 8;
		deltas[i] = 1;
		buf_init(&vals[i], 0);
	}
	keys[7].len = big;
	assert_int_equal(lookup_get_many(c->l, keys, 10, vals, found,
	    &c->err), -1);
	assert_int_equal(lookup_incr_many(c->l, keys, 10, deltas, 0,
	    NULL, &c->err), -1);
	keys[7].len = 1;
	buf_reset(&c->err);
	assert_int_equal(lookup_get_many(c->l, keys, n, vals, found,
	    &c->err), -1);
	assert_non_null(strstr(buf_cstr(&c->err), "50000"));
	assert_int_equal(lookup_incr_many(c->l, keys, n, deltas, 0, NULL,
	    &c->err), -1);
	expect(c, c->l, key, 1, NULL, 0);	/* nothing incremented */
	/* empty batches are fine and do nothing */
	ok(lookup_get_many(c->l, keys, 0, vals, found, &c->err), &c->err);
	ok(lookup_incr_many(c->l, NULL, 0, NULL, 0, NULL, &c->err), &c->err);
	/* the options */
	o.backend = "no-such";
	assert_int_equal(lookup_open(&o, &l, &c->err), -1);
	assert_null(l);
	o.backend = "memory";
	o.prefix = "0123456789012345678901234567890123456789012345678901234"
	    "567890123456789";
	assert_int_equal(lookup_open(&o, &l, &c->err), -1);
	o.backend = "kv";
	o.prefix = NULL;
	assert_int_equal(lookup_open(&o, &l, &c->err), -1);	/* no kv */
	lookup_close(&l);	/* NULL is fine */
	for (size_t i = 0; i < n; i++)
		buf_free(&vals[i]);
	free(key);
	free(val);
	free(keys);
	free(vals);
	free(found);
	free(deltas);
	buf_free(&v);
	buf_free(&small);
}

/* ---- time to live ---- */

static void
test_ttl(void **state)
{
	struct lkc *c = *state;
	struct lookup_key mk[2] = { { S("m1") }, { S("m2") } };
	const int64_t md[2] = { 3, -4 };
	size_t swept = 0, n;

	set(c, c->l, S("k1"), S("v1"), 1);
	set(c, c->l, S("k2"), S("v2"), 0);
	set(c, c->l, S("k3"), S("v3"), 1000);
	assert_int_equal(incr(c, c->l, S("c1"), 1, 1), 1);	/* created */
	assert_int_equal(incr(c, c->l, S("c1"), 1, 1000), 2);	/* kept */
	set(c, c->l, S("c2"), S("5"), 0);
	assert_int_equal(incr(c, c->l, S("c2"), 1, 1), 6);	/* no TTL */
	set(c, c->l, S("c3"), S("5"), 1);
	assert_int_equal(incr(c, c->l, S("c3"), 1, 0), 6);	/* kept */
	ok(lookup_incr_many(c->l, mk, 2, md, 1, NULL, &c->err), &c->err);
	set(c, c->l, S("k4"), S("v4"), 1);
	set(c, c->l, S("k4"), S("v4'"), 0);	/* expiry removed */
	set(c, c->l, S("k5"), S("v5"), 0);
	set(c, c->l, S("k5"), S("v5'"), 1);	/* expiry added */
	set(c, c->l, S("x"), S("not a counter"), 1);
	expect(c, c->l, S("k1"), S("v1"));
	expect_num(c, c->l, "m1", 3);
	expect_num(c, c->l, "m2", -4);
	expect_num(c, c->l, "c3", 6);

	lkc_pass(c, 1);
	expect(c, c->l, S("k1"), NULL, 0);
	expect(c, c->l, S("k2"), S("v2"));
	expect(c, c->l, S("k3"), S("v3"));
	expect(c, c->l, S("c1"), NULL, 0);
	expect_num(c, c->l, "c2", 6);
	expect(c, c->l, S("c3"), NULL, 0);
	expect(c, c->l, S("m1"), NULL, 0);
	expect(c, c->l, S("m2"), NULL, 0);
	expect(c, c->l, S("k4"), S("v4'"));
	expect(c, c->l, S("k5"), NULL, 0);
	/* an expired key is absent for every call */
	assert_int_equal(incr(c, c->l, S("c1"), 7, 0), 7);
	assert_int_equal(incr(c, c->l, S("x"), 1, 0), 1);
	ok(lookup_delete(c->l, S("k1"), &c->err), &c->err);
	set(c, c->l, S("k5"), S("back"), 0);
	expect(c, c->l, S("k5"), S("back"));
	/* the sweep finds what is left: k3 stays */
	do {
		ok(lookup_expire(c->l, 2, &n, &c->err), &c->err);
		assert_true(n <= 2);
		swept += n;
	} while (n == 2);
	/* at most c3, m1, m2: memory may have dropped them on reading */
	assert_true(c->be->sweeps ? swept <= 3 : swept == 0);
	expect(c, c->l, S("k3"), S("v3"));
	expect_num(c, c->l, "c1", 7);
	expect_num(c, c->l, "x", 1);
	ok(lookup_expire(c->l, 0, NULL, &c->err), &c->err);
}

/* the exact second a key dies, with the hooked clock */
static void
test_ttl_boundary(void **state)
{
	struct lkc *c = *state;
	size_t n;

	if (c->be->real_clock)
		skip();
	set(c, c->l, S("k"), S("v"), 10);
	assert_int_equal(incr(c, c->l, S("n"), 1, 10), 1);
	lkc_pass(c, 9);
	expect(c, c->l, S("k"), S("v"));
	assert_int_equal(incr(c, c->l, S("n"), 1, 100), 2);
	ok(lookup_expire(c->l, 0, &n, &c->err), &c->err);
	assert_int_equal(n, 0);
	lkc_pass(c, 1);
	ok(lookup_expire(c->l, 0, &n, &c->err), &c->err);
	assert_int_equal(n, c->be->sweeps ? 2 : 0);
	ok(lookup_expire(c->l, 0, &n, &c->err), &c->err);
	assert_int_equal(n, 0);
	expect(c, c->l, S("k"), NULL, 0);
	expect(c, c->l, S("n"), NULL, 0);
	/* a long TTL from a clock far ahead */
	set(c, c->l, S("far"), S("v"), UINT32_MAX);
	lkc_pass(c, 1000000);
	expect(c, c->l, S("far"), S("v"));
}

/* ---- counters ---- */

static void
test_incr(void **state)
{
	struct lkc *c = *state;
	static const char *const bad[] = { "abc", "", " 1", "1 ", "+1",
	    "01", "-0", "-", "1.5", "1e3", "0x10", "99999999999999999999",
	    "9223372036854775808", "-9223372036854775809" };
	int64_t v = 0;

	assert_int_equal(incr(c, c->l, S("n"), 5, 0), 5);
	assert_int_equal(incr(c, c->l, S("n"), 37, 0), 42);
	expect(c, c->l, S("n"), S("42"));
	assert_int_equal(incr(c, c->l, S("n"), -50, 0), -8);
	expect(c, c->l, S("n"), S("-8"));
	assert_int_equal(incr(c, c->l, S("n"), 0, 0), -8);
	ok(lookup_incr(c->l, S("n"), 8, 0, NULL, &c->err), &c->err);
	expect(c, c->l, S("n"), S("0"));
	assert_int_equal(incr(c, c->l, S("z"), 0, 0), 0);	/* created */
	expect(c, c->l, S("z"), S("0"));
	set(c, c->l, S("s"), S("100"), 0);
	assert_int_equal(incr(c, c->l, S("s"), 1, 0), 101);
	/* values that are no counter: an error that changes nothing */
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		set(c, c->l, S("bad"), bad[i], strlen(bad[i]), 0);
		buf_reset(&c->err);
		if (lookup_incr(c->l, S("bad"), 1, 0, &v, &c->err) != -1)
			fail_msg("\"%s\" counted as a counter", bad[i]);
		assert_true(c->err.len > 0);
		expect(c, c->l, S("bad"), bad[i], strlen(bad[i]));
	}
	/* the edges of int64_t, and overflow either way */
	set(c, c->l, S("max"), S("9223372036854775806"), 0);
	assert_true(incr(c, c->l, S("max"), 1, 0) == INT64_MAX);
	buf_reset(&c->err);
	assert_int_equal(lookup_incr(c->l, S("max"), 1, 0, &v, &c->err), -1);
	assert_true(c->err.len > 0);
	expect(c, c->l, S("max"), S("9223372036854775807"));
	assert_true(incr(c, c->l, S("min"), INT64_MIN, 0) == INT64_MIN);
	expect(c, c->l, S("min"), S("-9223372036854775808"));
	assert_int_equal(lookup_incr(c->l, S("min"), -1, 0, &v, &c->err), -1);
	expect(c, c->l, S("min"), S("-9223372036854775808"));
	assert_true(incr(c, c->l, S("min"), INT64_MAX, 0) == -1);
}

/* ---- batches ---- */

static void
test_get_many(void **state)
{
	struct lkc *c = *state;
	enum { N = 300 };
	struct lookup_key keys[N];
	struct buf vals[N];
	bool found[N];
	char names[N][16];

	for (int i = 0; i < N; i++) {
		int id = i % 200;	/* 200..299 repeat 0..99 */

		keys[i].len = keyname(names[i], sizeof(names[i]), "key", id);
		keys[i].key = names[i];
		buf_init(&vals[i], 0);
		buf_add_str(&vals[i], "=");
		if (i < 200 && id % 2 == 0)
			set(c, c->l, names[i], keys[i].len, names[i],
			    keys[i].len, 0);
	}
	ok(lookup_get_many(c->l, keys, N, vals, found, &c->err), &c->err);
	for (int i = 0; i < N; i++) {
		int id = i % 200;

		assert_int_equal(found[i], id % 2 == 0);
		if (found[i]) {
			assert_int_equal(vals[i].len, 1 + keys[i].len);
			assert_memory_equal(vals[i].data + 1, names[i],
			    keys[i].len);
		} else {
			assert_string_equal(buf_cstr(&vals[i]), "=");
		}
		buf_free(&vals[i]);
	}
}

static void
test_incr_many(void **state)
{
	struct lkc *c = *state;
	struct lookup_key k[5] = { { S("a") }, { S("b") }, { S("a") },
	    { S("c") }, { S("a") } };
	int64_t d[5] = { 1, 2, 3, 4, 5 };
	struct buf vals[5];
	bool found[5];
	int64_t nv[5] = { 0, 0, 0, 0, 0 };

	ok(lookup_incr_many(c->l, k, 5, d, 0, nv, &c->err), &c->err);
	expect_num(c, c->l, "a", 9);
	expect_num(c, c->l, "b", 2);
	expect_num(c, c->l, "c", 4);
	/* the results: each step of a repeated key */
	assert_int_equal(nv[0], 1);
	assert_int_equal(nv[1], 2);
	assert_int_equal(nv[2], 4);
	assert_int_equal(nv[3], 4);
	assert_int_equal(nv[4], 9);
	/* one bad key: none applied, created keys included */
	set(c, c->l, S("c"), S("text"), 0);
	k[1].key = "new";
	buf_reset(&c->err);
	assert_int_equal(lookup_incr_many(c->l, k, 5, d, 10, NULL, &c->err),
	    -1);
	assert_true(c->err.len > 0);
	expect_num(c, c->l, "a", 9);
	expect(c, c->l, S("new"), NULL, 0);
	expect(c, c->l, S("c"), S("text"));
	/* overflow half way: the same */
	set(c, c->l, S("c"), S("9223372036854775800"), 0);
	d[3] = 100;
	assert_int_equal(lookup_incr_many(c->l, k, 5, d, 0, NULL, &c->err), -1);
	expect_num(c, c->l, "a", 9);
	expect(c, c->l, S("new"), NULL, 0);
	/* mixed present and absent through get_many */
	d[3] = 1;
	ok(lookup_incr_many(c->l, k, 5, d, 0, NULL, &c->err), &c->err);
	for (int i = 0; i < 5; i++)
		buf_init(&vals[i], 0);
	k[3].key = "absent";
	k[3].len = 6;
	ok(lookup_get_many(c->l, k, 5, vals, found, &c->err), &c->err);
	assert_true(found[0] && found[1] && found[2] && !found[3] &&
	    found[4]);
	assert_string_equal(buf_cstr(&vals[0]), "18");
	assert_string_equal(buf_cstr(&vals[1]), "2");
	assert_string_equal(buf_cstr(&vals[4]), "18");
	for (int i = 0; i < 5; i++)
		buf_free(&vals[i]);
}

/* the largest batch, twice, then read back in one call */
static void
test_large_batch(void **state)
{
	struct lkc *c = *state;
	size_t n = LOOKUP_BATCH_MAX;
	struct lookup_key *keys = xcalloc(n, sizeof(*keys));
	struct buf *vals = xcalloc(n, sizeof(*vals));
	bool *found = xcalloc(n, sizeof(*found));
	int64_t *deltas = xcalloc(n, sizeof(*deltas));
	char (*names)[16] = xcalloc(n, sizeof(*names));
	uint64_t t0 = clock_mono_us();

	for (size_t i = 0; i < n; i++) {
		keys[i].len = keyname(names[i], sizeof(names[i]), "tok",
		    (long)i);
		keys[i].key = names[i];
		deltas[i] = (int64_t)i;
		buf_init(&vals[i], 0);
	}
	ok(lookup_incr_many(c->l, keys, n, deltas, 0, NULL, &c->err), &c->err);
	ok(lookup_incr_many(c->l, keys, n, deltas, 0, NULL, &c->err), &c->err);
	keys[n - 1].key = "tok-absent";
	keys[n - 1].len = 10;
	ok(lookup_get_many(c->l, keys, n, vals, found, &c->err), &c->err);
	for (size_t i = 0; i < n - 1; i++) {
		int64_t v;

		assert_true(found[i]);
		assert_int_equal(lookup_parse_counter(vals[i].data,
		    vals[i].len, &v), 0);
		assert_true(v == 2 * (int64_t)i);
	}
	assert_false(found[n - 1]);
	print_message("%s: 2 x incr_many + get_many of %zu keys: %llu ms\n",
	    c->be->name, n, (unsigned long long)(clock_mono_us() - t0) / 1000);
	for (size_t i = 0; i < n; i++)
		buf_free(&vals[i]);
	free(keys);
	free(vals);
	free(found);
	free(deltas);
	free(names);
}

/* ---- concurrency ---- */

#define LKC_THREADS 8
#define LKC_BATCH_KEYS 20

struct lkc_run {
	struct lkc *c;
	atomic_int errors;
};

static void *
lkc_worker(void *arg)
{
	struct lkc_run *r = arg;
	struct lkc *c = r->c;
	struct buf err = BUF_INIT(0), v = BUF_INIT(0);
	struct lookup_key keys[LKC_BATCH_KEYS];
	int64_t deltas[LKC_BATCH_KEYS];
	char names[LKC_BATCH_KEYS][8];

	for (int i = 0; i < LKC_BATCH_KEYS; i++) {
		keys[i].len = keyname(names[i], sizeof(names[i]), "b", i);
		keys[i].key = names[i];
		deltas[i] = i;
	}
	for (unsigned i = 0; i < c->be->writes; i++) {
		buf_reset(&v);
		if (lookup_incr(c->l, S("hot"), 1, 60, NULL, &err) < 0 ||
		    lookup_get(c->l, S("hot"), &v, &err) != 1 ||
		    (i % 10 == 0 && lookup_incr_many(c->l, keys,
		    LKC_BATCH_KEYS, deltas, 0, NULL, &err) < 0)) {
			if (atomic_fetch_add(&r->errors, 1) == 0)
				print_message("worker: %s\n", buf_cstr(&err));
		}
	}
	buf_free(&err);
	buf_free(&v);
	return NULL;
}

static void
test_concurrent(void **state)
{
	struct lkc *c = *state;
	struct lkc_run r = { .c = c };
	pthread_t t[LKC_THREADS];
	unsigned rounds = (c->be->writes + 9) / 10;
	uint64_t t0 = clock_mono_us();

	atomic_init(&r.errors, 0);
	for (int i = 0; i < LKC_THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, lkc_worker, &r),
		    0);
	for (int i = 0; i < LKC_THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&r.errors), 0);
	expect_num(c, c->l, "hot", (int64_t)LKC_THREADS * c->be->writes);
	expect_num(c, c->l, "b0", 0);
	expect_num(c, c->l, "b7", 7 * LKC_THREADS * (int64_t)rounds);
	print_message("%s: %d threads x %u incr+get: %llu ms\n", c->be->name,
	    LKC_THREADS, c->be->writes,
	    (unsigned long long)(clock_mono_us() - t0) / 1000);
}

/* ---- namespaces ---- */

static void
test_namespace(void **state)
{
	struct lkc *c = *state;
	struct lookup *a = lkc_open(c, "a:"), *b = lkc_open(c, "b:");
	struct lookup *raw = lkc_open(c, NULL);

	set(c, a, S("k"), S("from a"), 0);
	set(c, b, S("k"), S("from b"), 0);
	assert_int_equal(incr(c, a, S("n"), 1, 0), 1);
	assert_int_equal(incr(c, b, S("n"), 10, 0), 10);
	expect(c, a, S("k"), S("from a"));
	expect(c, b, S("k"), S("from b"));
	expect(c, c->l, S("k"), NULL, 0);
	ok(lookup_delete(a, S("k"), &c->err), &c->err);
	expect(c, a, S("k"), NULL, 0);
	expect(c, b, S("k"), S("from b"));
	expect_num(c, a, "n", 1);
	if (c->be->shared) {	/* the prefix is prepended as it is */
		expect(c, raw, S("b:k"), S("from b"));
		expect(c, raw, S("a:n"), S("1"));
		set(c, raw, S("a:x"), S("raw"), 0);
		expect(c, a, S("x"), S("raw"));
	}
	lookup_close(&a);
	lookup_close(&b);
	lookup_close(&raw);
}

/* ---- the runner ---- */

static int
rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
group_setup(void **state)
{
	struct lkc *c = xcalloc(1, sizeof(*c));
	static const char tmpl[] = "/tmp/postern-lookup.XXXXXX";

	c->be = lkc_be;
	memcpy(c->dir, tmpl, sizeof(tmpl));
	buf_init(&c->err, 0);
	if (mkdtemp(c->dir) == NULL ||
	    (c->be->group_setup != NULL && c->be->group_setup(c) < 0)) {
		buf_free(&c->err);
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int
group_teardown(void **state)
{
	struct lkc *c = *state;
	int r;

	if (c->be->group_teardown != NULL)
		c->be->group_teardown(c);
	r = nftw(c->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	buf_free(&c->err);
	free(c);
	return r;
}

static int
test_setup(void **state)
{
	struct lkc *c = *state;

	buf_reset(&c->err);
	atomic_store(&c->now, LKC_T0);
	if (c->be->test_setup != NULL && c->be->test_setup(c) < 0)
		return -1;
	if (c->be->open(c, "t:", &c->l, &c->err) < 0) {
		print_message("open: %s\n", buf_cstr(&c->err));
		return -1;
	}
	return 0;
}

static int
test_teardown(void **state)
{
	struct lkc *c = *state;

	lookup_close(&c->l);
	if (c->be->test_teardown != NULL)
		c->be->test_teardown(c);
	c->seq++;
	return 0;
}

#define LKT(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

/* lookup_conformance_run - the suite, then extra (may be NULL), on be */
static int
lookup_conformance_run(const struct lkc_backend *be,
    const struct CMUnitTest *extra, size_t n_extra)
{
	const struct CMUnitTest tests[] = {
		LKT(test_basic),
		LKT(test_binary),
		LKT(test_limits),
		LKT(test_ttl),
		LKT(test_ttl_boundary),
		LKT(test_incr),
		LKT(test_get_many),
		LKT(test_incr_many),
		LKT(test_large_batch),
		LKT(test_concurrent),
		LKT(test_namespace),
	};
	size_t n = ARRAY_SIZE(tests);
	struct CMUnitTest *all = xcalloc(n + n_extra, sizeof(*all));
	struct buf name = BUF_INIT(0);
	int r;

	memcpy(all, tests, sizeof(tests));
	if (n_extra > 0)
		memcpy(all + n, extra, n_extra * sizeof(*extra));
	lkc_be = be;
	buf_addf(&name, "lookup conformance: %s", be->name);
	r = _cmocka_run_group_tests(buf_cstr(&name), all, n + n_extra,
	    group_setup, group_teardown);
	buf_free(&name);
	free(all);
	return r;
}
