/*
 * kv_conformance.c - the one conformance suite every kv backend passes
 * (store/kv.h is the contract).  Not a test program by itself: a thin
 * t/unit/kv_<backend>_test.c includes this file and calls
 * kv_conformance_run("<backend>") for its backend, which runs every test
 * below on a fresh store in a scratch directory under /tmp (removed at
 * the end).  "failinject:<inner>" runs the same suite through the
 * fault-injection wrapper plus the tests that arm it, which prove that a
 * failure at any step of a transaction loses nothing and applies nothing
 * by halves.
 *
 * Semantics pinned down here beyond kv.h (store_priv.h has the rest):
 * keys may be empty; an empty end bound means "no upper bound", like
 * NULL; kv_add overflow is an error that changes nothing; an iterator
 * reflects its transaction's writes ahead of its position and never
 * returns a key twice; an argument error leaves the transaction usable, a
 * backend failure dooms it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t/unit/unit_dies.h"
#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "store/kv.h"
#include "store/store_priv.h"

#define S(lit) lit, sizeof(lit) - 1

struct kvc {
	const char *backend;
	char dir[64];		/* the suite's scratch directory */
	char path[128];		/* this test's store */
	unsigned seq;
	struct kv *kv;
	struct buf err;
};

struct kvk {
	const char *p;
	size_t n;
};
#define K(lit) { lit, sizeof(lit) - 1 }

/* a key set in memcmp order: shorter first on a common prefix */
static const struct kvk sorted_keys[] = {
	K(""), K("\0"), K("\0\0"), K("\x01"), K("a"), K("a\0"), K("a\0\xff"),
	K("a\x01"), K("ab"), K("b"), K("\x7f"), K("\x80"), K("\xff"),
	K("\xff\0"), K("\xff\xff"),
};
#define N_SORTED ARRAY_SIZE(sorted_keys)

static const char *kvc_backend;	/* for the next kv_conformance_run group */

/* ---- helpers ---- */

static void
ok(int r, struct buf *err)
{
	if (r < 0)
		fail_msg("unexpected %d: %s", r, buf_cstr(err));
}

static struct kv_txn *
begin(struct kvc *c, enum kv_mode mode)
{
	struct kv_txn *t;

	ok(kv_begin(c->kv, mode, &t, &c->err), &c->err);
	return t;
}

static void
commit(struct kvc *c, struct kv_txn **t)
{
	ok(kv_commit(t, &c->err), &c->err);
	assert_null(*t);
}

static void
put(struct kvc *c, struct kv_txn *t, const void *k, size_t kn,
    const void *v, size_t vn)
{
	ok(kv_put(t, k, kn, v, vn, &c->err), &c->err);
}

/* expect - get k in t: want NULL = absent */
static void
expect(struct kvc *c, struct kv_txn *t, const void *k, size_t kn,
    const void *want, size_t wn)
{
	struct buf v = BUF_INIT(0);
	int r = kv_get(t, k, kn, &v, &c->err);

	ok(r, &c->err);
	if (want == NULL) {
		assert_int_equal(r, 0);
		assert_int_equal(v.len, 0);
	} else {
		assert_int_equal(r, 1);
		assert_int_equal(v.len, wn);
		assert_memory_equal(v.data != NULL ? v.data : (void *)"", want,
		    wn);
	}
	buf_free(&v);
}

/* scan - keys of [start, end) must be want[0..n) in order */
static void
scan(struct kvc *c, struct kv_txn *t, const void *start, size_t sn,
    const void *end, size_t en, bool reverse, const struct kvk *want,
    size_t n)
{
	struct kv_iter *it;
	const void *k, *v;
	size_t kn, vn, i = 0;
	int r;

	ok(kv_iter_new(t, start, sn, end, en, reverse, &it, &c->err), &c->err);
	while ((r = kv_iter_next(it, &k, &kn, &v, &vn, &c->err)) == 1) {
		if (i >= n)
			fail_msg("scan: more than %zu keys", n);
		assert_int_equal(kn, want[i].n);
		assert_memory_equal(k, want[i].p, kn);
		i++;
	}
	ok(r, &c->err);
	assert_int_equal(i, n);
	assert_int_equal(kv_iter_next(it, &k, &kn, &v, &vn, &c->err), 0);
	kv_iter_free(&it);
	assert_null(it);
}

/* scan_sorted - the sorted_keys from index lo to hi (exclusive) */
static void
scan_sorted(struct kvc *c, struct kv_txn *t, const void *start, size_t sn,
    const void *end, size_t en, bool reverse, size_t lo, size_t hi)
{
	struct kvk want[N_SORTED] = { { NULL, 0 } };
	size_t n = 0;

	for (size_t i = lo; i < hi; i++)
		want[n++] = sorted_keys[reverse ? hi - 1 - (i - lo) : i];
	scan(c, t, start, sn, end, en, reverse, want, n);
}

static void
load_sorted(struct kvc *c)
{
	struct kv_txn *t = begin(c, KV_WRITE);

	for (size_t i = 0; i < N_SORTED; i++) {	/* out of order on purpose */
		size_t j = (i * 7) % N_SORTED;

		put(c, t, sorted_keys[j].p, sorted_keys[j].n, &j, sizeof(j));
	}
	commit(c, &t);
}

static void
open_store(struct kvc *c, bool read_only)
{
	struct kv_options o = { .backend = c->backend, .path = c->path,
	    .read_only = read_only };

	ok(kv_open(&o, &c->kv, &c->err), &c->err);
}

static void
reopen(struct kvc *c, bool read_only)
{
	kv_close(&c->kv);
	assert_null(c->kv);
	open_store(c, read_only);
}

static bool
is_failinject(const struct kvc *c)
{
	return strncmp(c->backend, "failinject:", 11) == 0;
}

/* ---- setup ---- */

static int
group_setup(void **state)
{
	struct kvc *c = xcalloc(1, sizeof(*c));

	static const char tmpl[] = "/tmp/postern-kv.XXXXXX";

	c->backend = kvc_backend;
	memcpy(c->dir, tmpl, sizeof(tmpl));
	if (mkdtemp(c->dir) == NULL) {
		free(c);
		return -1;
	}
	buf_init(&c->err, 0);
	*state = c;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static int
group_teardown(void **state)
{
	struct kvc *c = *state;
	int r = nftw(c->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);

	buf_free(&c->err);
	free(c);
	return r;
}

static int
test_setup(void **state)
{
	struct kvc *c = *state;
	int n = snprintf(c->path, sizeof(c->path), "%s/t%u", c->dir,
	    c->seq++);

	if (n < 0 || (size_t)n >= sizeof(c->path))
		return -1;
	buf_reset(&c->err);
	open_store(c, false);
	return 0;
}

static int
test_teardown(void **state)
{
	struct kvc *c = *state;

	if (c->kv != NULL && atomic_load(&c->kv->n_txns) != 0) {
		/* a failed test left a transaction open: leak, not PANIC */
		print_message("%s: store left open after a failure\n", c->path);
		c->kv = NULL;
		return -1;
	}
	kv_close(&c->kv);
	return 0;
}

/* ---- basics ---- */

static void
test_basic(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t = begin(c, KV_WRITE);

	assert_true(strncmp(c->backend, kv_backend_name(c->kv),
	    strlen(kv_backend_name(c->kv))) == 0);
	expect(c, t, S("a"), NULL, 0);
	put(c, t, S("a"), S("1"));
	put(c, t, S("b"), S("2"));
	expect(c, t, S("a"), S("1"));
	put(c, t, S("a"), S("11"));
	expect(c, t, S("a"), S("11"));
	ok(kv_delete(t, S("b"), &c->err), &c->err);
	expect(c, t, S("b"), NULL, 0);
	ok(kv_delete(t, S("never"), &c->err), &c->err);	/* absent: fine */
	put(c, t, S("c"), S("3"));
	commit(c, &t);
	t = begin(c, KV_READ);
	expect(c, t, S("a"), S("11"));
	expect(c, t, S("b"), NULL, 0);
	expect(c, t, S("c"), S("3"));
	commit(c, &t);
	kv_abort(&t);	/* NULL: fine */
}

static void
test_binary(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t = begin(c, KV_WRITE);
	static const char k1[] = "\0\0\xff\x00x", v1[] = "\xff\0\0\x01\0";

	put(c, t, k1, sizeof(k1), v1, sizeof(v1));
	put(c, t, S("\0"), S("\0"));
	put(c, t, S("empty"), "", 0);
	put(c, t, S("null"), NULL, 0);
	put(c, t, "", 0, S("empty key"));
	commit(c, &t);
	t = begin(c, KV_READ);
	expect(c, t, k1, sizeof(k1), v1, sizeof(v1));
	expect(c, t, k1, sizeof(k1) - 1, NULL, 0);	/* a prefix differs */
	expect(c, t, S("\0"), S("\0"));
	expect(c, t, S("empty"), "", 0);
	expect(c, t, S("null"), "", 0);
	expect(c, t, "", 0, S("empty key"));
	expect(c, t, NULL, 0, S("empty key"));
	commit(c, &t);
}

static void
test_limits(void **state)
{
	struct kvc *c = *state;
	unsigned char *key = xmalloc(KV_KEY_MAX + 1);
	unsigned char *big = xcalloc(1, KV_VALUE_MAX + 1);
	unsigned char *kend = xmalloc(KV_KEY_MAX);
	struct buf small = BUF_INIT(4);
	struct kv_iter *it;
	struct kv_txn *t;
	int64_t n;

	memset(key, 'k', KV_KEY_MAX + 1);
	big[0] = 1;
	big[KV_VALUE_MAX - 1] = 2;
	t = begin(c, KV_WRITE);
	put(c, t, key, KV_KEY_MAX, S("max"));
	/* argument errors: refused, and the transaction goes on */
	assert_int_equal(kv_put(t, key, KV_KEY_MAX + 1, S("x"), &c->err), -1);
	assert_true(strstr(buf_cstr(&c->err), "limit") != NULL);
	assert_int_equal(kv_get(t, key, KV_KEY_MAX + 1, &small, &c->err), -1);
	assert_int_equal(kv_delete(t, key, KV_KEY_MAX + 1, &c->err), -1);
	assert_int_equal(kv_add(t, key, KV_KEY_MAX + 1, 1, &n, &c->err), -1);
	assert_int_equal(kv_iter_new(t, key, KV_KEY_MAX + 1, NULL, 0, false,
	    &it, &c->err), -1);
	assert_null(it);
	assert_int_equal(kv_iter_new(t, "", 0, key, KV_KEY_MAX + 1, false,
	    &it, &c->err), -1);
	assert_int_equal(kv_delete_range(t, "", 0, key, KV_KEY_MAX + 1,
	    &c->err), -1);
	assert_int_equal(kv_put(t, S("big"), big, KV_VALUE_MAX + 1, &c->err),
	    -1);
	put(c, t, S("big"), big, KV_VALUE_MAX);
	put(c, t, S("ten"), S("0123456789"));
	/* a value over the caller's buffer limit: an error, nothing lost */
	assert_int_equal(kv_get(t, S("ten"), &small, &c->err), -1);
	assert_int_equal(small.len, 0);
	expect(c, t, key, KV_KEY_MAX, S("max"));
	scan(c, t, key, KV_KEY_MAX, kend, kv_prefix_end(key, KV_KEY_MAX,
	    kend), false, (struct kvk[]){ { (const char *)key, KV_KEY_MAX } },
	    1);
	buf_reset(&c->err);
	commit(c, &t);
	t = begin(c, KV_READ);
	assert_int_equal(kv_put(t, S("ro"), S("x"), &c->err), -1);
	assert_true(strstr(buf_cstr(&c->err), "read transaction") != NULL);
	assert_int_equal(kv_delete(t, S("ten"), &c->err), -1);
	assert_int_equal(kv_add(t, S("n"), 1, NULL, &c->err), -1);
	assert_int_equal(kv_delete_range(t, "", 0, NULL, 0, &c->err), -1);
	expect(c, t, key, KV_KEY_MAX, S("max"));
	expect(c, t, S("big"), big, KV_VALUE_MAX);
	commit(c, &t);
	buf_free(&small);
	free(kend);
	free(big);
	free(key);
}

static void
test_open_errors(void **state)
{
	struct kvc *c = *state;
	struct kv_options o = { .backend = "nosuch", .path = c->path };
	struct kv *kv;

	assert_int_equal(kv_open(&o, &kv, &c->err), -1);
	assert_null(kv);
	assert_true(strstr(buf_cstr(&c->err), "nosuch") != NULL);
	o.backend = c->backend;
	o.path = "";
	assert_int_equal(kv_open(&o, &kv, &c->err), -1);
	o.path = "/nonexistent/postern/kv/store";
	buf_reset(&c->err);
	assert_int_equal(kv_open(&o, &kv, &c->err), -1);
	assert_true(c->err.len > 0);
	assert_null(strchr(buf_cstr(&c->err), '\n'));	/* one line */
}

/* ---- order, bounds, prefixes ---- */

static void
test_order(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t;

	load_sorted(c);
	t = begin(c, KV_READ);
	scan_sorted(c, t, NULL, 0, NULL, 0, false, 0, N_SORTED);
	scan_sorted(c, t, NULL, 0, NULL, 0, true, 0, N_SORTED);
	commit(c, &t);
}

static void
test_bounds(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t;

	load_sorted(c);
	t = begin(c, KV_READ);
	for (int rev = 0; rev < 2; rev++) {
		/* [a, b) holds a, a\0, a\0\xff, a\x01, ab: not b */
		scan_sorted(c, t, S("a"), S("b"), rev, 4, 9);
		scan_sorted(c, t, S("a\0"), S("a\x01"), rev, 5, 7);
		/* a start between keys, an end between keys */
		scan_sorted(c, t, S("a\0\0"), S("a\x01\0"), rev, 6, 8);
		scan_sorted(c, t, S("a"), S("a"), rev, 0, 0);	/* empty */
		scan_sorted(c, t, S("b"), S("a"), rev, 0, 0);	/* reversed */
		scan_sorted(c, t, S("\x80"), NULL, 0, rev, 11, N_SORTED);
		scan_sorted(c, t, S("\x80"), "x", 0, rev, 11, N_SORTED);
		scan_sorted(c, t, "", 0, S("\0\0"), rev, 0, 2);
		scan_sorted(c, t, S("\xff\xff\0"), NULL, 0, rev, 0, 0);
	}
	commit(c, &t);
}

struct scan_seen {
	const struct kvk *want;
	size_t n, stop_after;
};

static int
scan_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct scan_seen *s = arg;

	(void)err;
	assert_int_equal(vl, 1);
	assert_memory_equal(v, "v", 1);
	assert_int_equal(kl, s->want[s->n].n);
	assert_memory_equal(k, s->want[s->n].p, kl);
	s->n++;
	return s->n == s->stop_after ? 1 : 0;
}

static int
scan_fail(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	(void)arg;
	(void)k;
	(void)kl;
	(void)v;
	(void)vl;
	buf_addf(err, "row refused");
	return -1;
}

/* check_kv_scan - kv_scan over the keys test_prefix stored */
static void
check_kv_scan(struct kvc *c, const struct kvk *pre)
{
	struct scan_seen s = { pre, 0, 0 };

	/* the whole prefix "a", in order */
	ok(kv_scan(c->kv, S("a"), S("a"), scan_row, &s, &c->err), &c->err);
	assert_int_equal(s.n, 5);
	/* from a start inside the prefix, up to its end */
	s = (struct scan_seen){ pre + 2, 0, 0 };
	ok(kv_scan(c->kv, S("a\xff"), S("a"), scan_row, &s, &c->err),
	    &c->err);
	assert_int_equal(s.n, 3);
	/* an all-0xff prefix runs to the end of the store */
	s = (struct scan_seen){ pre + 6, 0, 0 };
	ok(kv_scan(c->kv, S("\xff"), S("\xff"), scan_row, &s, &c->err),
	    &c->err);
	assert_int_equal(s.n, 3);
	/* 1 stops early; -1 is an error with its line */
	s = (struct scan_seen){ pre, 0, 2 };
	ok(kv_scan(c->kv, S("a"), S("a"), scan_row, &s, &c->err), &c->err);
	assert_int_equal(s.n, 2);
	buf_reset(&c->err);
	assert_int_equal(kv_scan(c->kv, S("a"), S("a"), scan_fail, NULL,
	    &c->err), -1);
	assert_non_null(strstr(buf_cstr(&c->err), "row refused"));
	buf_reset(&c->err);
}

static void
test_prefix(void **state)
{
	static const struct {
		const char *p;
		size_t n;
		const char *want;
		size_t wn;
	} cases[] = {
		{ S("ab"), S("ac") },
		{ S("a\xff"), S("b") },
		{ S("a\xff\xff"), S("b") },
		{ S("\0"), S("\x01") },
		{ S("a\x7f"), S("a\x80") },
		{ S("\xfe\xff"), S("\xff") },
		{ S("\xff"), "", 0 },
		{ S("\xff\xff"), "", 0 },
		{ "", 0, "", 0 },
	};
	static const struct kvk pre[] = {
		K("a"), K("a\xfe"), K("a\xff"), K("a\xff\0"), K("a\xff\xff\xff"),
		K("b"), K("\xff"), K("\xff\0"), K("\xff\xff"),
	};
	struct kvc *c = *state;
	unsigned char end[8];
	struct kv_txn *t;
	size_t n;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		memset(end, 0xaa, sizeof(end));
		n = kv_prefix_end(cases[i].p, cases[i].n, end);
		assert_int_equal(n, cases[i].wn);
		assert_memory_equal(end, cases[i].want, n);
	}
	t = begin(c, KV_WRITE);
	for (size_t i = 0; i < ARRAY_SIZE(pre); i++)
		put(c, t, pre[i].p, pre[i].n, S("v"));
	commit(c, &t);
	t = begin(c, KV_READ);
	n = kv_prefix_end(S("a\xff"), end);
	scan(c, t, S("a\xff"), end, n, false, pre + 2, 3);
	scan(c, t, S("a\xff"), end, n, true,
	    (struct kvk[]){ pre[4], pre[3], pre[2] }, 3);
	n = kv_prefix_end(S("a"), end);
	scan(c, t, S("a"), end, n, false, pre, 5);
	/* all 0xff: no end key; NULL and length 0 both mean unbounded */
	n = kv_prefix_end(S("\xff"), end);
	assert_int_equal(n, 0);
	scan(c, t, S("\xff"), end, n, false, pre + 6, 3);
	scan(c, t, S("\xff"), NULL, 0, true,
	    (struct kvk[]){ pre[8], pre[7], pre[6] }, 3);
	commit(c, &t);
	check_kv_scan(c, pre);
}

static void
test_delete_range(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t;
	struct kvk left[N_SORTED];
	size_t n = 0;

	load_sorted(c);
	t = begin(c, KV_WRITE);
	ok(kv_delete_range(t, S("a"), S("b"), &c->err), &c->err);
	ok(kv_delete_range(t, S("b"), S("a"), &c->err), &c->err);	/* none */
	ok(kv_delete_range(t, S("\x80"), NULL, 0, &c->err), &c->err);
	ok(kv_delete_range(t, S("\0"), S("\0"), &c->err), &c->err);	/* none */
	for (size_t i = 0; i < N_SORTED; i++)
		if (!(i >= 4 && i < 9) && i < 11)
			left[n++] = sorted_keys[i];
	scan(c, t, NULL, 0, NULL, 0, false, left, n);	/* own writes */
	commit(c, &t);
	t = begin(c, KV_READ);
	scan(c, t, NULL, 0, NULL, 0, false, left, n);
	commit(c, &t);
	t = begin(c, KV_WRITE);
	ok(kv_delete_range(t, "", 0, NULL, 0, &c->err), &c->err);
	scan(c, t, NULL, 0, NULL, 0, false, NULL, 0);
	kv_abort(&t);
	t = begin(c, KV_READ);	/* the abort kept everything */
	scan(c, t, NULL, 0, NULL, 0, false, left, n);
	kv_abort(&t);
}

/* ---- kv_add ---- */

static void
test_add(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t = begin(c, KV_WRITE);
	int64_t n = 99;

	ok(kv_add(t, S("n"), 5, &n, &c->err), &c->err);
	assert_int_equal(n, 5);		/* absent counts as 0 */
	ok(kv_add(t, S("n"), -7, &n, &c->err), &c->err);
	assert_int_equal(n, -2);
	expect(c, t, S("n"), S("\xff\xff\xff\xff\xff\xff\xff\xfe"));
	ok(kv_add(t, S("n"), 0, NULL, &c->err), &c->err);
	put(c, t, S("m"), "\x7f\xff\xff\xff\xff\xff\xff\xfe", 8);
	ok(kv_add(t, S("m"), 1, &n, &c->err), &c->err);
	assert_true(n == INT64_MAX);
	/* overflow: an error that changes nothing */
	assert_int_equal(kv_add(t, S("m"), 1, &n, &c->err), -1);
	assert_true(strstr(buf_cstr(&c->err), "overflow") != NULL);
	expect(c, t, S("m"), S("\x7f\xff\xff\xff\xff\xff\xff\xff"));
	put(c, t, S("lo"), S("\x80\0\0\0\0\0\0\0"));
	assert_int_equal(kv_add(t, S("lo"), -1, &n, &c->err), -1);
	ok(kv_add(t, S("lo"), INT64_MAX, &n, &c->err), &c->err);
	assert_int_equal(n, -1);
	/* a value of another length is not a counter */
	put(c, t, S("s"), S("abc"));
	assert_int_equal(kv_add(t, S("s"), 1, &n, &c->err), -1);
	put(c, t, S("e"), "", 0);
	assert_int_equal(kv_add(t, S("e"), 1, &n, &c->err), -1);
	expect(c, t, S("s"), S("abc"));
	commit(c, &t);	/* the refused calls did not doom it */
	t = begin(c, KV_READ);
	expect(c, t, S("n"), S("\xff\xff\xff\xff\xff\xff\xff\xfe"));
	expect(c, t, S("lo"), S("\xff\xff\xff\xff\xff\xff\xff\xff"));
	commit(c, &t);
}

/* ---- transactions ---- */

static void
test_read_your_writes(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t = begin(c, KV_WRITE);
	struct kv_iter *it;
	const void *k, *v;
	size_t kn, vn;

	put(c, t, S("r1"), S("a"));
	put(c, t, S("r2"), S("b"));
	put(c, t, S("r3"), S("c"));
	commit(c, &t);
	t = begin(c, KV_WRITE);
	put(c, t, S("r2"), S("B"));
	ok(kv_delete(t, S("r3"), &c->err), &c->err);
	put(c, t, S("r4"), S("d"));
	ok(kv_add(t, S("rn"), 3, NULL, &c->err), &c->err);
	expect(c, t, S("r2"), S("B"));
	expect(c, t, S("r3"), NULL, 0);
	expect(c, t, S("rn"), S("\0\0\0\0\0\0\0\x03"));
	scan(c, t, S("r"), S("s"), false,
	    (struct kvk[]){ K("r1"), K("r2"), K("r4"), K("rn") }, 4);
	scan(c, t, S("r"), S("s"), true,
	    (struct kvk[]){ K("rn"), K("r4"), K("r2"), K("r1") }, 4);
	ok(kv_iter_new(t, S("r2"), S("r3"), false, &it, &c->err), &c->err);
	assert_int_equal(kv_iter_next(it, &k, &kn, &v, &vn, &c->err), 1);
	assert_int_equal(vn, 1);
	assert_memory_equal(v, "B", 1);	/* the new value, not the old */
	kv_iter_free(&it);
	kv_abort(&t);
	t = begin(c, KV_READ);	/* the abort dropped all of it */
	expect(c, t, S("r2"), S("b"));
	expect(c, t, S("r3"), S("c"));
	scan(c, t, S("r"), S("s"), false,
	    (struct kvk[]){ K("r1"), K("r2"), K("r3") }, 3);
	commit(c, &t);
}

struct run_arg {
	int calls;
	int conflicts;	/* calls that answer KV_CONFLICT */
	bool fail;
};

static int
run_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct run_arg *a = arg;

	a->calls++;
	if (kv_put(t, S("run"), &a->calls, sizeof(a->calls), err) < 0)
		return -1;
	if (a->calls <= a->conflicts)
		return KV_CONFLICT;
	return a->fail ? -1 : 0;
}

static void
test_kv_run(void **state)
{
	struct kvc *c = *state;
	struct run_arg a = { .conflicts = 2 };
	struct kv_txn *t;
	int three = 3;

	ok(kv_run(c->kv, KV_WRITE, run_fn, &a, &c->err), &c->err);
	assert_int_equal(a.calls, 3);
	a = (struct run_arg){ .fail = true };
	assert_int_equal(kv_run(c->kv, KV_WRITE, run_fn, &a, &c->err), -1);
	a = (struct run_arg){ .conflicts = 1000 };
	buf_reset(&c->err);
	assert_int_equal(kv_run(c->kv, KV_WRITE, run_fn, &a, &c->err), -1);
	assert_int_equal(a.calls, 100);
	assert_null(strchr(buf_cstr(&c->err), '\n'));
	assert_true(strstr(buf_cstr(&c->err), "100 attempts") != NULL);
	t = begin(c, KV_READ);	/* only the first run committed */
	expect(c, t, S("run"), &three, sizeof(three));
	commit(c, &t);
	a = (struct run_arg){ 0 };	/* a write in a read transaction */
	assert_int_equal(kv_run(c->kv, KV_READ, run_fn, &a, &c->err), -1);
}

static void
test_snapshot(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *w, *r1, *r2;

	w = begin(c, KV_WRITE);
	put(c, w, S("s"), S("1"));
	commit(c, &w);
	r1 = begin(c, KV_READ);	/* no read yet: the snapshot is taken now */
	w = begin(c, KV_WRITE);
	put(c, w, S("s"), S("2"));
	put(c, w, S("new"), S("x"));
	commit(c, &w);
	expect(c, r1, S("s"), S("1"));
	expect(c, r1, S("new"), NULL, 0);
	scan(c, r1, NULL, 0, NULL, 0, false, (struct kvk[]){ K("s") }, 1);
	r2 = begin(c, KV_READ);
	expect(c, r2, S("s"), S("2"));
	w = begin(c, KV_WRITE);
	ok(kv_delete(w, S("s"), &c->err), &c->err);
	put(c, w, S("new"), S("y"));
	expect(c, r2, S("new"), S("x"));	/* uncommitted: not seen */
	commit(c, &w);
	expect(c, r1, S("s"), S("1"));
	expect(c, r2, S("s"), S("2"));
	scan(c, r2, NULL, 0, NULL, 0, true,
	    (struct kvk[]){ K("s"), K("new") }, 2);
	commit(c, &r1);
	commit(c, &r2);
	r1 = begin(c, KV_READ);
	expect(c, r1, S("s"), NULL, 0);
	expect(c, r1, S("new"), S("y"));
	commit(c, &r1);
}

/* writers at the same time, group commit, durability tickets */
#include "t/unit/kv_conformance_writers.c"
#include "t/unit/kv_conformance_model.c"

static void
next_is(struct kvc *c, struct kv_iter *it, const char *key, const char *val)
{
	const void *k, *v;
	size_t kn, vn;
	int r = kv_iter_next(it, &k, &kn, &v, &vn, &c->err);

	ok(r, &c->err);
	if (key == NULL) {
		assert_int_equal(r, 0);
		return;
	}
	assert_int_equal(r, 1);
	if (kn != strlen(key) || memcmp(k, key, kn) != 0)
		fail_msg("iterator: got \"%.*s\", want \"%s\"", (int)kn,
		    (const char *)k, key);
	assert_int_equal(vn, strlen(val));
	assert_memory_equal(v, val, vn);
}

/* writes during iteration: seen ahead of the position, never behind */
static void
test_iter_writes(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t = begin(c, KV_WRITE);
	struct kv_iter *it, *it2;

	for (char i = '1'; i <= '5'; i++)
		put(c, t, (char[]){ 's', i }, 2, S("v"));
	commit(c, &t);
	t = begin(c, KV_WRITE);
	ok(kv_iter_new(t, S("s"), S("t"), false, &it, &c->err), &c->err);
	next_is(c, it, "s1", "v");
	put(c, t, S("s3"), S("new"));
	ok(kv_delete(t, S("s4"), &c->err), &c->err);
	put(c, t, S("s0"), S("x"));	/* behind */
	put(c, t, S("s45"), S("y"));	/* ahead */
	put(c, t, S("s1"), S("z"));	/* the current key */
	next_is(c, it, "s2", "v");
	next_is(c, it, "s3", "new");
	next_is(c, it, "s45", "y");
	next_is(c, it, "s5", "v");
	next_is(c, it, NULL, NULL);
	kv_iter_free(&it);
	ok(kv_iter_new(t, S("s"), S("t"), true, &it, &c->err), &c->err);
	next_is(c, it, "s5", "v");
	put(c, t, S("s6"), S("b"));	/* behind, going down */
	ok(kv_delete(t, S("s45"), &c->err), &c->err);
	put(c, t, S("s25"), S("w"));
	put(c, t, S("s2"), S("q"));
	next_is(c, it, "s3", "new");
	next_is(c, it, "s25", "w");
	next_is(c, it, "s2", "q");
	ok(kv_delete_range(t, S("s0"), S("s1"), &c->err), &c->err);
	next_is(c, it, "s1", "z");
	next_is(c, it, NULL, NULL);
	kv_iter_free(&it);
	/* two at once, both ways, with gets and writes in between */
	ok(kv_iter_new(t, S("s"), S("t"), false, &it, &c->err), &c->err);
	ok(kv_iter_new(t, S("s"), S("t"), true, &it2, &c->err), &c->err);
	next_is(c, it, "s1", "z");
	next_is(c, it2, "s6", "b");
	expect(c, t, S("s3"), S("new"));
	next_is(c, it, "s2", "q");
	next_is(c, it2, "s5", "v");
	ok(kv_delete(t, S("s25"), &c->err), &c->err);
	next_is(c, it, "s3", "new");
	next_is(c, it2, "s3", "new");	/* s25 went ahead of both */
	next_is(c, it2, "s2", "q");
	kv_iter_free(&it2);
	next_is(c, it, "s5", "v");
	kv_iter_free(&it);
	kv_abort(&t);
}

/* ---- durability, read-only, sizes ---- */

static void
test_durability(void **state)
{
	struct kvc *c = *state;
	struct kv_options o = { .backend = c->backend, .path = c->path,
	    .read_only = true };
	struct kv_txn *t = begin(c, KV_WRITE);
	struct run_arg a = { 0 };
	struct kv *ro;

	put(c, t, S("d"), S("1"));
	commit(c, &t);
	t = begin(c, KV_WRITE);
	put(c, t, S("gone"), S("x"));
	kv_abort(&t);
	/* a read-only store next to the open read-write one */
	ok(kv_open(&o, &ro, &c->err), &c->err);
	ok(kv_begin(ro, KV_READ, &t, &c->err), &c->err);
	expect(c, t, S("d"), S("1"));
	commit(c, &t);
	kv_close(&ro);
	reopen(c, false);
	t = begin(c, KV_READ);
	expect(c, t, S("d"), S("1"));
	expect(c, t, S("gone"), NULL, 0);
	commit(c, &t);
	ok(kv_run(c->kv, KV_WRITE, run_fn, &a, &c->err), &c->err);
	reopen(c, true);
	buf_reset(&c->err);
	assert_int_equal(kv_begin(c->kv, KV_WRITE, &t, &c->err), -1);
	assert_null(t);
	assert_true(strstr(buf_cstr(&c->err), "read-only") != NULL);
	assert_int_equal(kv_run(c->kv, KV_WRITE, run_fn, &a, &c->err), -1);
	t = begin(c, KV_READ);
	expect(c, t, S("d"), S("1"));
	expect(c, t, S("run"), &a.calls, sizeof(a.calls));
	commit(c, &t);
	o.path = "/tmp/postern-kv-no-such-store";
	assert_int_equal(kv_open(&o, &ro, &c->err), -1);	/* no create */
	assert_null(ro);
}

/*
 * crash_child - when the suite re-executes itself with KVC_CRASH_PATH
 * set: commit one key, leave a second transaction open, die by SIGKILL
 * without closing anything.  Runs before main, in a fresh process (a
 * fork of a process with RocksDB's threads could not open a store).
 */
__attribute__((constructor)) static void
crash_child(void)
{
	struct kv_options o = { .backend = getenv("KVC_CRASH_BACKEND"),
	    .path = getenv("KVC_CRASH_PATH") };
	struct buf err = BUF_INIT(0);
	struct kv_txn *t;
	struct kv *kv;

	if (o.path == NULL || o.backend == NULL)
		return;
	if (kv_open(&o, &kv, &err) < 0 ||
	    kv_begin(kv, KV_WRITE, &t, &err) < 0 ||
	    kv_put(t, S("crash"), S("survived"), &err) < 0 ||
	    kv_commit(&t, &err) < 0 ||
	    kv_begin(kv, KV_WRITE, &t, &err) < 0 ||
	    kv_put(t, S("uncommitted"), S("x"), &err) < 0) {
		fprintf(stderr, "crash child: %s\n", buf_cstr(&err));
		_exit(1);
	}
	raise(SIGKILL);
}

static void
test_crash(void **state)
{
	extern char **environ;
	struct kvc *c = *state;
	struct buf eb = BUF_INIT(0), ep = BUF_INIT(0);
	char *argv[] = { "kv-crash-child", NULL }, **envp;
	size_t n = 0;
	struct kv_txn *t;
	pid_t pid;
	int st;

	/* the environment is built before fork: the child only execs */
	while (environ[n] != NULL)
		n++;
	envp = xcalloc(n + 3, sizeof(*envp));
	memcpy(envp, environ, n * sizeof(*envp));
	buf_addf(&eb, "KVC_CRASH_BACKEND=%s", c->backend);
	buf_addf(&ep, "KVC_CRASH_PATH=%s", c->path);
	envp[n] = (char *)eb.data;
	envp[n + 1] = (char *)ep.data;
	kv_close(&c->kv);	/* the child needs the store to itself */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execve("/proc/self/exe", argv, envp);
		_exit(2);
	}
	free(envp);
	buf_free(&eb);
	buf_free(&ep);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
		fail_msg("crash child: status %d", st);
	open_store(c, false);
	t = begin(c, KV_READ);
	expect(c, t, S("crash"), S("survived"));
	expect(c, t, S("uncommitted"), NULL, 0);
	commit(c, &t);
}

static void
test_big_value(void **state)
{
	struct kvc *c = *state;
	size_t n = 1u << 20;
	unsigned char *big = xmalloc(n);
	struct kv_txn *t;

	for (size_t i = 0; i < n; i++)
		big[i] = (unsigned char)(i * 31 % 251);
	t = begin(c, KV_WRITE);
	put(c, t, S("big"), big, n);
	commit(c, &t);
	t = begin(c, KV_READ);
	expect(c, t, S("big"), big, n);
	scan(c, t, NULL, 0, NULL, 0, false, (struct kvk[]){ K("big") }, 1);
	commit(c, &t);
	free(big);
}

#define MANY 20000u

static void
many_key(unsigned char k[5], uint32_t i)
{
	k[0] = 'm';
	k[1] = (unsigned char)(i >> 24);
	k[2] = (unsigned char)(i >> 16);
	k[3] = (unsigned char)(i >> 8);
	k[4] = (unsigned char)i;
}

static uint32_t
count_range(struct kvc *c, struct kv_txn *t, const void *s, size_t sn,
    const void *e, size_t en, bool reverse)
{
	struct kv_iter *it;
	const unsigned char *k;
	const void *kp, *v;
	size_t kn, vn;
	uint32_t n = 0, prev = 0, cur;
	int r;

	ok(kv_iter_new(t, s, sn, e, en, reverse, &it, &c->err), &c->err);
	while ((r = kv_iter_next(it, &kp, &kn, &v, &vn, &c->err)) == 1) {
		k = kp;
		assert_int_equal(kn, 5);
		cur = (uint32_t)k[1] << 24 | (uint32_t)k[2] << 16 |
		    (uint32_t)k[3] << 8 | k[4];
		if (n > 0 && (reverse ? cur >= prev : cur <= prev))
			fail_msg("out of order: %u after %u", cur, prev);
		assert_int_equal(vn, 4);
		assert_memory_equal(v, k + 1, 4);
		prev = cur;
		n++;
	}
	ok(r, &c->err);
	kv_iter_free(&it);
	return n;
}

static void
test_many_keys(void **state)
{
	struct kvc *c = *state;
	unsigned char k[5], e[5];
	uint64_t t0, t1, t2, t3;
	struct kv_txn *t;
	struct run_arg a = { 0 };

	t0 = clock_mono_us();
	t = begin(c, KV_WRITE);
	for (uint32_t i = 0; i < MANY; i++) {	/* out of order */
		many_key(k, (i * 7919u) % MANY);
		put(c, t, k, 5, k + 1, 4);
	}
	commit(c, &t);
	t1 = clock_mono_us();
	t = begin(c, KV_READ);
	assert_int_equal(count_range(c, t, S("m"), S("n"), false), MANY);
	t2 = clock_mono_us();
	assert_int_equal(count_range(c, t, S("m"), NULL, 0, true), MANY);
	many_key(k, 1000);
	many_key(e, 3000);
	assert_int_equal(count_range(c, t, k, 5, e, 5, false), 2000);
	assert_int_equal(count_range(c, t, k, 5, e, 5, true), 2000);
	commit(c, &t);
	t3 = clock_mono_us();
	for (int i = 0; i < 200; i++)
		ok(kv_run(c->kv, KV_WRITE, run_fn, &a, &c->err), &c->err);
	print_message("%s: %u puts in one transaction %.0f/s, forward scan "
	    "%.0f keys/s, single-put commits %.0f/s\n", c->backend, MANY,
	    MANY / ((t1 - t0) / 1e6), MANY / ((t2 - t1) / 1e6),
	    200 / ((clock_mono_us() - t3) / 1e6));
	t = begin(c, KV_WRITE);
	ok(kv_delete_range(t, S("m"), S("n"), &c->err), &c->err);
	assert_int_equal(count_range(c, t, S("m"), S("n"), false), 0);
	commit(c, &t);
}

/* ---- contract violations ---- */

static void
commit_with_iter(void *arg)
{
	struct kvc *c = arg;
	struct kv_txn *t = begin(c, KV_READ);
	struct kv_iter *it;

	ok(kv_iter_new(t, "", 0, NULL, 0, false, &it, &c->err), &c->err);
	if (kv_commit(&t, &c->err) != 12345)
		_exit(0);	/* not reached: it PANICs */
}

static void
close_with_txn(void *arg)
{
	struct kvc *c = arg;

	(void)begin(c, KV_READ);
	kv_close(&c->kv);
}

static void
failinject_other(void *arg)
{
	struct kvc *c = arg;

	kv_failinject_set(c->kv, KV_FI_ALL, 1, -1);
}

static void
test_contract(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t = begin(c, KV_WRITE), *t2;

	/* a second write transaction in one thread: an error, no deadlock */
	assert_int_equal(kv_begin(c->kv, KV_WRITE, &t2, &c->err), -1);
	assert_null(t2);
	put(c, t, S("w"), S("1"));
	commit(c, &t);
	assert_true(unit_dies(commit_with_iter, c));
	assert_true(unit_dies(close_with_txn, c));
	if (!is_failinject(c))
		assert_true(unit_dies(failinject_other, c));
}

/* ---- failinject: a failure at any step loses nothing ---- */

/* xfer_fn - move one unit from A to B, log it under "L", touch the rest */
static int
xfer_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	unsigned char lk[9];
	struct kv_iter *it;
	const void *k, *v;
	size_t kn, vn;
	int64_t a;
	int r;

	(void)arg;
	if (kv_add(t, S("A"), -1, &a, err) < 0 ||
	    kv_add(t, S("B"), 1, NULL, err) < 0)
		return -1;
	lk[0] = 'L';
	for (int i = 8; i > 0; i--, a >>= 8)
		lk[i] = (unsigned char)a;
	if (kv_put(t, lk, sizeof(lk), "", 0, err) < 0 ||
	    kv_delete(t, S("tmp"), err) < 0 ||
	    kv_delete_range(t, S("x"), S("y"), err) < 0 ||
	    kv_iter_new(t, S("L"), S("M"), true, &it, err) < 0)
		return -1;
	r = 0;
	/* a bounded read, so every run has the same number of steps */
	for (int i = 0; i < 2 && (r = kv_iter_next(it, &k, &kn, &v, &vn,
	    err)) == 1; i++)
		;
	kv_iter_free(&it);
	return r < 0 ? r : 0;
}

struct xstate {
	int64_t a, b;
	uint32_t logs;
};

static struct xstate
xstate(struct kvc *c)
{
	struct kv_txn *t = begin(c, KV_READ);
	struct buf v = BUF_INIT(0);
	struct xstate x;

	assert_int_equal(kv_get(t, S("A"), &v, &c->err), 1);
	x.a = decode_i64(&v);
	buf_reset(&v);
	assert_int_equal(kv_get(t, S("B"), &v, &c->err), 1);
	x.b = decode_i64(&v);
	x.logs = 0;
	{
		struct kv_iter *it;
		const void *k, *vv;
		size_t kn, vn;

		ok(kv_iter_new(t, S("L"), S("M"), false, &it, &c->err),
		    &c->err);
		while (kv_iter_next(it, &k, &kn, &vv, &vn, &c->err) == 1)
			x.logs++;
		kv_iter_free(&it);
	}
	commit(c, &t);
	buf_free(&v);
	/* the invariant no failure may break */
	assert_true(x.a + x.b == 100);
	assert_true(x.logs == (uint32_t)x.b);
	return x;
}

static void
test_fi_every_step(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t = begin(c, KV_WRITE);
	static const int results[] = { -1, KV_CONFLICT };
	struct xstate before, after;
	unsigned steps;
	bool fired;
	int r;

	ok(kv_add(t, S("A"), 100, NULL, &c->err), &c->err);
	ok(kv_add(t, S("B"), 0, NULL, &c->err), &c->err);
	commit(c, &t);
	for (size_t ri = 0; ri < ARRAY_SIZE(results); ri++) {
		for (steps = 1;; steps++) {
			before = xstate(c);
			kv_failinject_set(c->kv, KV_FI_ALL, steps, results[ri]);
			buf_reset(&c->err);
			r = kv_run(c->kv, KV_WRITE, xfer_fn, NULL, &c->err);
			fired = kv_failinject_fired(c->kv);
			kv_failinject_set(c->kv, 0, 0, -1);
			after = xstate(c);
			if (!fired) {	/* no step left to fail */
				ok(r, &c->err);
				assert_true(after.a == before.a - 1);
				break;
			}
			if (results[ri] == -1) {	/* nothing applied */
				assert_int_equal(r, -1);
				assert_true(strstr(buf_cstr(&c->err),
				    "failinject") != NULL ||
				    strstr(buf_cstr(&c->err), "failed") !=
				    NULL);
				assert_true(after.a == before.a);
				assert_int_equal(after.logs, before.logs);
			} else {	/* retried: applied exactly once */
				ok(r, &c->err);
				assert_true(after.a == before.a - 1);
			}
		}
		assert_true(steps > 10);	/* it did walk the steps */
	}
	kv_failinject_set(c->kv, 0, 0, -1);
	assert_true(kv_failinject_count(c->kv, KV_FI_COMMIT_AFTER) ==
	    kv_failinject_count(c->kv, KV_FI_COMMIT));
	assert_true(kv_failinject_count(c->kv, KV_FI_ITER_NEXT) > 0);
}

static void
test_fi_doomed(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t = begin(c, KV_WRITE);
	struct kv_iter *it;
	struct buf v = BUF_INIT(0);
	struct xstate x;

	put(c, t, S("p0"), S("ok"));
	kv_failinject_set(c->kv, KV_FI_PUT, 1, -1);
	assert_int_equal(kv_put(t, S("p1"), S("x"), &c->err), -1);
	assert_true(kv_failinject_fired(c->kv));
	/* everything after a failure fails, and the commit rolls back */
	assert_int_equal(kv_put(t, S("p2"), S("x"), &c->err), -1);
	assert_int_equal(kv_get(t, S("p0"), &v, &c->err), -1);
	assert_int_equal(kv_iter_new(t, "", 0, NULL, 0, false, &it, &c->err),
	    -1);
	assert_int_equal(kv_commit(&t, &c->err), -1);
	assert_null(t);
	t = begin(c, KV_READ);
	expect(c, t, S("p0"), NULL, 0);
	commit(c, &t);
	/* the ambiguous commit: reported failed, yet applied */
	t = begin(c, KV_WRITE);
	ok(kv_add(t, S("A"), 100, NULL, &c->err), &c->err);
	ok(kv_add(t, S("B"), 0, NULL, &c->err), &c->err);
	commit(c, &t);
	kv_failinject_set(c->kv, KV_FI_COMMIT_AFTER, 1, -1);
	assert_int_equal(kv_run(c->kv, KV_WRITE, xfer_fn, NULL, &c->err), -1);
	x = xstate(c);
	assert_true(x.a == 99);
	/* a conflict from a begin is retried by kv_run */
	kv_failinject_set(c->kv, KV_FI_BEGIN, 1, KV_CONFLICT);
	ok(kv_run(c->kv, KV_WRITE, xfer_fn, NULL, &c->err), &c->err);
	assert_true(kv_failinject_fired(c->kv));
	x = xstate(c);
	assert_true(x.a == 98);
	buf_free(&v);
}

/* ---- the runner ---- */

#define KVT(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

static int
kv_conformance_run(const char *backend)
{
	const struct CMUnitTest tests[] = {
		KVT(test_basic),
		KVT(test_binary),
		KVT(test_limits),
		KVT(test_open_errors),
		KVT(test_order),
		KVT(test_bounds),
		KVT(test_prefix),
		KVT(test_delete_range),
		KVT(test_add),
		KVT(test_read_your_writes),
		KVT(test_kv_run),
		KVT(test_snapshot),
		KVT(test_concurrent_writers),
		KVT(test_group_commit),
		KVT(test_commit_nowait),
		KVT(test_kv_sync),
		KVT(test_iter_writes),
		KVT(test_durability),
		KVT(test_crash),
		KVT(test_big_value),
		KVT(test_many_keys),
		KVT(test_random_model),
		KVT(test_contract),
	};
	const struct CMUnitTest fi_tests[] = {
		KVT(test_fi_every_step),
		KVT(test_fi_doomed),
	};
	struct buf name = BUF_INIT(0);
	int r;

	kvc_backend = backend;
	buf_addf(&name, "kv conformance: %s", backend);
	r = _cmocka_run_group_tests(buf_cstr(&name), tests, ARRAY_SIZE(tests),
	    group_setup, group_teardown);
	if (strncmp(backend, "failinject:", 11) == 0) {
		buf_reset(&name);
		buf_addf(&name, "kv fault injection: %s", backend);
		r |= _cmocka_run_group_tests(buf_cstr(&name), fi_tests,
		    ARRAY_SIZE(fi_tests), group_setup, group_teardown);
	}
	buf_free(&name);
	return r;
}
