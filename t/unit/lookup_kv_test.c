/*
 * lookup_kv_test.c - the lookup conformance suite (lookup_conformance.c)
 * on the "kv" backend over the data store, once on SQLite and once on
 * RocksDB, and once more on SQLite through the fault-injection wrapper;
 * then what is the kv backend's own: state kept across a restart, the
 * key layout of store/LAYOUT.md ('K'), the sweep through the expiry
 * index (in batches, namespace by namespace), and store failures that
 * apply nothing.
 */
#include "t/unit/lookup_conformance.c"

#include "store/kv.h"
#include "store/store_priv.h"

struct kvfx {
	const char *kv_backend;
	char path[128];
	struct kv *kv;
};

static int
kvfx_open_kv(struct lkc *c)
{
	struct kvfx *f = c->priv;
	struct kv_options o = { .backend = f->kv_backend, .path = f->path };

	if (kv_open(&o, &f->kv, &c->err) < 0) {
		print_message("kv_open: %s\n", buf_cstr(&c->err));
		return -1;
	}
	return 0;
}

static int
kvfx_test_setup(struct lkc *c)
{
	struct kvfx *f = c->priv;
	int n = snprintf(f->path, sizeof(f->path), "%s/t%u", c->dir, c->seq);

	if (n < 0 || (size_t)n >= sizeof(f->path))
		return -1;
	return kvfx_open_kv(c);
}

static void
kvfx_test_teardown(struct lkc *c)
{
	struct kvfx *f = c->priv;

	kv_close(&f->kv);
}

static int
kvfx_open(struct lkc *c, const char *prefix, struct lookup **l_r,
    struct buf *err)
{
	struct kvfx *f = c->priv;
	struct lookup_options o = { .backend = "kv", .prefix = prefix,
	    .now = lkc_clock, .now_arg = c, .kv = f->kv };

	return lookup_open(&o, l_r, err);
}

static struct kvfx kvfx_state;

static int
kvfx_group_setup(struct lkc *c)
{
	c->priv = &kvfx_state;
	return 0;
}

/* count - keys of the store starting with prefix */
static size_t
count(struct lkc *c, const void *prefix, size_t plen)
{
	struct kvfx *f = c->priv;
	struct kv_txn *t;
	struct kv_iter *it;
	unsigned char end[64];
	size_t elen = kv_prefix_end(prefix, plen, end), n = 0;
	const void *k, *v;
	size_t kn, vn;

	ok(kv_begin(f->kv, KV_READ, &t, &c->err), &c->err);
	ok(kv_iter_new(t, prefix, plen, end, elen, false, &it, &c->err),
	    &c->err);
	while (kv_iter_next(it, &k, &kn, &v, &vn, &c->err) == 1)
		n++;
	kv_iter_free(&it);
	ok(kv_commit(&t, &c->err), &c->err);
	return n;
}

/* raw - the store's value at key: 1 and v, or 0 */
static int
raw(struct lkc *c, const void *key, size_t klen, struct buf *v)
{
	struct kvfx *f = c->priv;
	struct kv_txn *t;
	int r;

	buf_reset(v);
	ok(kv_begin(f->kv, KV_READ, &t, &c->err), &c->err);
	r = kv_get(t, key, klen, v, &c->err);
	ok(r, &c->err);
	ok(kv_commit(&t, &c->err), &c->err);
	return r;
}

/* key - a literal, then a u64, then a literal, as the store keys it */
static void
key3(struct buf *b, const void *a, size_t an, uint64_t u, const void *z,
    size_t zn)
{
	buf_reset(b);
	buf_add(b, a, an);
	for (int i = 7; i >= 0; i--)
		buf_add(b, &(unsigned char){ (unsigned char)(u >> (8 * i)) },
		    1);
	buf_add(b, z, zn);
}

/* state is kept across closing and opening the store again */
static void
test_kv_restart(void **state)
{
	struct lkc *c = *state;
	struct kvfx *f = c->priv;
	struct lookup_key k[2] = { { S("tok1") }, { S("tok2") } };
	const int64_t d[2] = { 2, 3 };
	size_t n;

	set(c, c->l, S("k"), S("v"), 0);
	set(c, c->l, S("ttl"), S("x"), 10);
	assert_int_equal(incr(c, c->l, S("n"), 5, 0), 5);
	ok(lookup_incr_many(c->l, k, 2, d, 20, NULL, &c->err), &c->err);
	lookup_close(&c->l);
	kv_close(&f->kv);

	assert_int_equal(kvfx_open_kv(c), 0);
	c->l = lkc_open(c, "t:");
	expect(c, c->l, S("k"), S("v"));
	expect(c, c->l, S("ttl"), S("x"));
	assert_int_equal(incr(c, c->l, S("n"), 1, 0), 6);
	expect_num(c, c->l, "tok2", 3);
	lkc_pass(c, 10);
	expect(c, c->l, S("ttl"), NULL, 0);
	ok(lookup_expire(c->l, 0, &n, &c->err), &c->err);
	assert_int_equal(n, 1);
	expect_num(c, c->l, "tok1", 2);
	lkc_pass(c, 10);
	ok(lookup_expire(c->l, 0, &n, &c->err), &c->err);
	assert_int_equal(n, 2);
	assert_int_equal(count(c, S("Kx")), 0);
	assert_int_equal(count(c, S("Kv")), 2);	/* k, n */
}

/* the keys of store/LAYOUT.md */
static void
test_kv_layout(void **state)
{
	struct lkc *c = *state;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0), want = BUF_INIT(0);
	struct lookup *a = lkc_open(c, "a:"), *b = lkc_open(c, "b:");
	uint64_t exp = LKC_T0 + 10;
	size_t n;

	set(c, c->l, S("k\0"), S("val"), 10);
	assert_int_equal(raw(c, S("Kvt:k\0"), &v), 1);
	key3(&want, "", 0, exp, S("val"));
	assert_int_equal(v.len, want.len);
	assert_memory_equal(v.data, want.data, want.len);
	key3(&k, S("Kxt:\0"), exp, S("k\0"));
	assert_int_equal(raw(c, k.data, k.len, &v), 1);
	assert_int_equal(v.len, 0);
	/* no TTL: no index key; a counter is decimal text */
	set(c, c->l, S("k\0"), S("val"), 0);
	assert_int_equal(raw(c, k.data, k.len, &v), 0);
	assert_int_equal(count(c, S("Kx")), 0);
	assert_int_equal(incr(c, c->l, S("c"), -12, 5), -12);
	assert_int_equal(raw(c, S("Kvt:c"), &v), 1);
	key3(&want, "", 0, LKC_T0 + 5, S("-12"));
	assert_memory_equal(v.data, want.data, want.len);
	assert_int_equal(count(c, S("Kxt:\0")), 1);
	/* delete takes both */
	ok(lookup_delete(c->l, S("c"), &c->err), &c->err);
	ok(lookup_delete(c->l, S("k\0"), &c->err), &c->err);
	assert_int_equal(count(c, S("K")), 0);
	/* a sweep keeps to its namespace */
	set(c, a, S("x"), S("1"), 1);
	set(c, b, S("x"), S("2"), 1);
	set(c, b, S("y"), S("3"), 1);
	lkc_pass(c, 1);
	ok(lookup_expire(a, 0, &n, &c->err), &c->err);
	assert_int_equal(n, 1);
	assert_int_equal(count(c, S("Kxa:\0")), 0);
	assert_int_equal(count(c, S("Kxb:\0")), 2);
	assert_int_equal(count(c, S("Kvb:")), 2);
	ok(lookup_expire(b, 0, &n, &c->err), &c->err);
	assert_int_equal(n, 2);
	assert_int_equal(count(c, S("K")), 0);
	lookup_close(&a);
	lookup_close(&b);
	buf_free(&k);
	buf_free(&v);
	buf_free(&want);
}

/* the sweep works in batches and leaves the live keys alone */
static void
test_kv_sweep(void **state)
{
	struct lkc *c = *state;
	struct lookup_key keys[500];
	int64_t d[500];
	char names[500][16];
	size_t n, total = 0, calls = 0;

	/* 2,500 keys dying over 5 seconds, 100 that live on */
	for (int ttl = 1; ttl <= 6; ttl++) {
		int m = ttl <= 5 ? 500 : 100;

		for (int i = 0; i < m; i++) {
			keys[i].len = keyname(names[i], sizeof(names[i]),
			    ttl <= 5 ? "d" : "l", i * 10 + ttl);
			keys[i].key = names[i];
			d[i] = 1;
		}
		ok(lookup_incr_many(c->l, keys, (size_t)m, d,
		    ttl <= 5 ? (uint32_t)ttl : 1000, NULL, &c->err), &c->err);
	}
	lkc_pass(c, 5);
	do {
		ok(lookup_expire(c->l, 1000, &n, &c->err), &c->err);
		total += n;
		calls++;
	} while (n == 1000);
	assert_int_equal(total, 2500);
	assert_int_equal(calls, 3);
	assert_int_equal(count(c, S("Kx")), 100);
	assert_int_equal(count(c, S("Kv")), 100);
	expect(c, c->l, S("l996"), S("1"));
}

/* a store failure at any step applies nothing (failinject only) */
static void
test_kv_failures(void **state)
{
	struct lkc *c = *state;
	struct kvfx *f = c->priv;
	struct lookup_key k[3] = { { S("a") }, { S("b") }, { S("c") } };
	const int64_t d[3] = { 1, 1, 1 };
	struct buf v = BUF_INIT(0);
	unsigned steps;

	if (strncmp(f->kv_backend, "failinject:", 11) != 0)
		skip();
	set(c, c->l, S("a"), S("1"), 10);
	for (steps = 1;; steps++) {
		bool fired;
		int r;

		kv_failinject_set(f->kv, KV_FI_ALL, steps, -1);
		buf_reset(&c->err);
		r = lookup_incr_many(c->l, k, 3, d, 10, NULL, &c->err);
		fired = kv_failinject_fired(f->kv);
		kv_failinject_set(f->kv, 0, 0, -1);
		if (!fired) {
			ok(r, &c->err);
			break;
		}
		assert_int_equal(r, -1);
		assert_true(c->err.len > 0);
		expect_num(c, c->l, "a", 1);
		expect(c, c->l, S("b"), NULL, 0);
		assert_int_equal(count(c, S("Kx")), 1);
	}
	assert_true(steps > 5);
	expect_num(c, c->l, "a", 2);
	expect_num(c, c->l, "c", 1);
	assert_int_equal(count(c, S("Kx")), 3);
	/* reads and single writes report failures too */
	kv_failinject_set(f->kv, KV_FI_GET, 1, -1);
	assert_int_equal(lookup_get(c->l, S("a"), &v, &c->err), -1);
	kv_failinject_set(f->kv, KV_FI_COMMIT, 1, -1);
	assert_int_equal(lookup_set(c->l, S("a"), S("9"), 0, &c->err), -1);
	/* a conflict is retried */
	kv_failinject_set(f->kv, KV_FI_PUT, 1, KV_CONFLICT);
	ok(lookup_set(c->l, S("b"), S("9"), 0, &c->err), &c->err);
	kv_failinject_set(f->kv, 0, 0, -1);
	expect_num(c, c->l, "a", 2);
	expect_num(c, c->l, "b", 9);
	buf_free(&v);
}

#define KVFX_BACKEND(kvb, n) {						\
	.name = "kv on " kvb, .open = kvfx_open,			\
	.group_setup = kvfx_group_setup,				\
	.test_setup = kvfx_test_setup,					\
	.test_teardown = kvfx_test_teardown,				\
	.shared = true, .sweeps = true, .writes = (n) }

int
main(void)
{
	static const struct lkc_backend be[] = {
		KVFX_BACKEND("sqlite", 200),
		KVFX_BACKEND("rocksdb", 200),
		KVFX_BACKEND("failinject:sqlite", 50),
	};
	static const char *const kvb[] = { "sqlite", "rocksdb",
	    "failinject:sqlite" };
	const struct CMUnitTest own[] = {
		LKT(test_kv_restart),
		LKT(test_kv_layout),
		LKT(test_kv_sweep),
		LKT(test_kv_failures),
	};
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(be); i++) {
		kvfx_state.kv_backend = kvb[i];
		r |= lookup_conformance_run(&be[i], own, ARRAY_SIZE(own));
	}
	return r;
}
