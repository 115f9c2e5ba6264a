/*
 * lookup_kv.c - the "kv" lookup backend: the lookup store kept in the
 * data store (store/kv.h), so every kv backend serves it and its state
 * survives restarts.  The embedded default.
 *
 * Key layout (store/LAYOUT.md, subspace 'K'):
 *
 *   'K' 'v' prefix key                      expires (u64) + the value
 *   'K' 'x' prefix 0x00 expires (u64) key   empty: the expiry index
 *
 * expires is unix seconds, 0 for a key without TTL; a key is dead once
 * the clock reaches it.  prefix is the namespace (a C string, so it
 * holds no 0x00 and 'K' 'x' prefix 0x00 starts exactly this namespace's
 * index, in expiry order).  Counters are values like any other, decimal
 * text (lookup.h), so lookup_get returns them as Redis would.
 *
 * Invariant: a 'v' key with expires != 0 has exactly one 'x' key, with
 * the same expires; every write that changes a key's expiry moves its
 * index key in the same transaction.  Dead keys read as absent at once;
 * lookup_expire deletes them in batches by a range scan of the index up
 * to now, which touches only dead keys, never the live ones.  A dead
 * key written again (set, incr) is replaced and its index key dropped.
 *
 * Transactions: every call is one transaction.  Reads run in kv_run
 * KV_READ; writes in kv_group_run, which is kv_run KV_WRITE except that
 * calls from many threads at the same moment share one transaction and
 * one commit (group commit: rate counters and greylisting write on every
 * SMTP transaction, and a sync per write would bound them to the disk's
 * sync rate).  A failing call (not a counter, overflow, a store error)
 * commits nothing, batches included.  The callbacks may run more than
 * once (conflict retries, group isolation), so each starts from the
 * arguments alone.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "lookup/lookup.h"
#include "lookup/lookup_priv.h"
#include "store/kv.h"

#define LKV_HDR 8u		/* the expires in front of every value */

struct lookup_kv {
	struct lookup base;
	struct kv *kv;
	struct kv_group *g;
};

/* ---- encoding ---- */

static void
put_u64(struct buf *b, uint64_t u)
{
	unsigned char be[8];

	for (size_t i = sizeof(be); i > 0; i--, u >>= 8)
		be[i - 1] = (unsigned char)u;
	buf_add(b, be, sizeof(be));
}

static uint64_t
get_u64(const unsigned char *p)
{
	uint64_t u = 0;

	for (size_t i = 0; i < 8; i++)
		u = u << 8 | p[i];
	return u;
}

/* expiry - 0 (none) or the second the key dies, never 0 itself */
static uint64_t
expiry(int64_t now, uint32_t ttl_s)
{
	if (ttl_s == 0)
		return 0;
	if (now < 1)
		now = 1;
	return (uint64_t)now + ttl_s;
}

static bool
is_live(uint64_t expires, int64_t now)
{
	return expires == 0 || (int64_t)expires > now;
}

static int
key_cmp(const void *a, const void *b, void *arg)
{
	const struct lookup_key *keys = arg;
	const struct lookup_key *x = &keys[*(const size_t *)a];
	const struct lookup_key *y = &keys[*(const size_t *)b];
	int c = memcmp(x->key, y->key, x->len < y->len ? x->len : y->len);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

/*
 * key_order - the indexes of keys[0..n) in key order: a batch walks the
 * data store's B-tree from one end to the other instead of jumping
 * about (SQLite: training took about 8% less CPU)
 */
static size_t *
key_order(const struct lookup_key *keys, size_t n)
{
	size_t *ord = xreallocarray(NULL, n ? n : 1, sizeof(*ord));

	for (size_t i = 0; i < n; i++)
		ord[i] = i;
	qsort_r(ord, n, sizeof(*ord), key_cmp, (void *)(uintptr_t)keys);
	return ord;
}

static void
vkey(struct buf *b, const void *key, size_t klen)
{
	buf_reset(b);
	buf_add(b, "Kv", 2);
	buf_add(b, key, klen);
}

/* xkey - the index key of key (which starts with the prefix) */
static void
xkey(const struct lookup *l, struct buf *b, const void *key, size_t klen,
    uint64_t expires)
{
	buf_reset(b);
	buf_add(b, "Kx", 2);
	buf_add(b, l->prefix, l->plen);
	buf_add(b, "", 1);	/* the prefix holds no 0x00 */
	put_u64(b, expires);
	buf_add(b, (const unsigned char *)key + l->plen, klen - l->plen);
}

/*
 * get_old - the stored record of the 'v' key in k: 1 with *expires_r
 * and the value (v->data + LKV_HDR), 0 when absent
 */
static int
get_old(struct kv_txn *t, const struct buf *k, struct buf *v,
    uint64_t *expires_r, struct buf *err)
{
	int r;

	buf_reset(v);
	r = kv_get(t, k->data, k->len, v, err);
	if (r != 1)
		return r;
	if (v->len < LKV_HDR) {
		buf_addf(err, "lookup kv: a record of %zu bytes has no "
		    "header", v->len);
		return -1;
	}
	*expires_r = get_u64(v->data);
	return 1;
}

/* ---- reads ---- */

struct lkv_get {
	struct lookup *l;
	const struct lookup_key *keys;
	size_t n;
	struct buf *vals;
	bool *found;
	size_t *orig;		/* vals[i].len before the call */
	const size_t *ord;	/* key_order */
	int64_t now;
};

static int
get_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct lkv_get *a = arg;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	uint64_t expires;
	int r = 0;

	for (size_t o = 0; o < a->n && r >= 0; o++) {
		size_t i = a->ord[o];

		buf_truncate(&a->vals[i], a->orig[i]);	/* a retry */
		a->found[i] = false;
		vkey(&k, a->keys[i].key, a->keys[i].len);
		r = get_old(t, &k, &v, &expires, err);
		if (r != 1 || !is_live(expires, a->now))
			continue;
		r = lookup_value_put(&a->vals[i], v.data + LKV_HDR,
		    v.len - LKV_HDR, err);
		a->found[i] = r == 0;
	}
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

static int
lkv_get_many(struct lookup *l, const struct lookup_key *keys, size_t n,
    struct buf *vals, bool *found, struct buf *err)
{
	struct lookup_kv *s = (struct lookup_kv *)l;
	struct lkv_get a = { .l = l, .keys = keys, .n = n, .vals = vals,
	    .found = found, .now = lookup_now(l) };
	int r;

	a.orig = xreallocarray(NULL, n, sizeof(*a.orig));
	for (size_t i = 0; i < n; i++)
		a.orig[i] = vals[i].len;
	a.ord = key_order(keys, n);
	r = kv_run(s->kv, KV_READ, get_fn, &a, err);
	free(a.orig);
	free((void *)(uintptr_t)a.ord);
	return r < 0 ? -1 : 0;
}

/* ---- writes ---- */

struct lkv_write {
	struct lookup *l;
	const struct lookup_key *keys;
	size_t n;
	const void *val;	/* set */
	size_t vlen;
	const int64_t *deltas;	/* incr */
	int64_t *new_r;		/* incr: NULL or n */
	const size_t *ord;	/* incr: key_order */
	uint64_t expires;	/* set, and incr on creation */
	int64_t now;
	size_t max, done;	/* expire */
};

/* drop_index - delete the index key of key if it has an expiry */
static int
drop_index(struct kv_txn *t, const struct lookup *l, struct buf *x,
    const void *key, size_t klen, uint64_t expires, struct buf *err)
{
	if (expires == 0)
		return 0;
	xkey(l, x, key, klen, expires);
	return kv_delete(t, x->data, x->len, err);
}

/* write_rec - put the record of key, and its index key when index */
static int
write_rec(struct kv_txn *t, const struct lookup *l, struct buf *k,
    struct buf *x, const void *key, size_t klen, uint64_t expires,
    const void *val, size_t vlen, bool index, struct buf *err)
{
	struct buf rec = BUF_INIT(0);
	int r;

	put_u64(&rec, expires);
	buf_add(&rec, val, vlen);
	r = kv_put(t, k->data, k->len, rec.data, rec.len, err);
	buf_free(&rec);
	if (r < 0 || expires == 0 || !index)
		return r;
	xkey(l, x, key, klen, expires);
	return kv_put(t, x->data, x->len, "", 0, err);
}

static int
set_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct lkv_write *a = arg;
	const struct lookup_key *key = &a->keys[0];
	struct buf k = BUF_INIT(0), v = BUF_INIT(0), x = BUF_INIT(0);
	uint64_t old = 0;
	int r;

	vkey(&k, key->key, key->len);
	r = get_old(t, &k, &v, &old, err);
	if (r == 1)
		r = drop_index(t, a->l, &x, key->key, key->len, old, err);
	if (r >= 0 && a->val != NULL)
		r = write_rec(t, a->l, &k, &x, key->key, key->len,
		    a->expires, a->val, a->vlen, true, err);
	else if (r >= 0)	/* delete */
		r = kv_delete(t, k.data, k.len, err);
	buf_free(&k);
	buf_free(&v);
	buf_free(&x);
	return r < 0 ? r : 0;
}

static int
lkv_set(struct lookup *l, const void *key, size_t klen, const void *val,
    size_t vlen, uint32_t ttl_s, struct buf *err)
{
	struct lookup_kv *s = (struct lookup_kv *)l;
	struct lookup_key k = { key, klen };
	struct lkv_write a = { .l = l, .keys = &k, .n = 1, .val = val,
	    .vlen = vlen, .expires = expiry(lookup_now(l), ttl_s) };

	return kv_group_run(s->g, set_fn, &a, err) < 0 ? -1 : 0;
}

static int
lkv_del(struct lookup *l, const void *key, size_t klen, struct buf *err)
{
	struct lookup_kv *s = (struct lookup_kv *)l;
	struct lookup_key k = { key, klen };
	struct lkv_write a = { .l = l, .keys = &k, .n = 1 };

	return kv_group_run(s->g, set_fn, &a, err) < 0 ? -1 : 0;
}

static int
incr_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct lkv_write *a = arg;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0), x = BUF_INIT(0);
	char num[LOOKUP_COUNTER_LEN_MAX + 1];
	size_t o, i = 0;
	int r = 0;

	for (o = 0; o < a->n; o++) {
		const struct lookup_key *key = &a->keys[i = a->ord[o]];
		uint64_t old = 0, expires = a->expires;
		int64_t cur = 0, sum;
		bool live;

		vkey(&k, key->key, key->len);
		if ((r = get_old(t, &k, &v, &old, err)) < 0)
			break;
		live = r == 1 && is_live(old, a->now);
		if (live && lookup_parse_counter(v.data + LKV_HDR,
		    v.len - LKV_HDR, &cur) < 0) {
			buf_addf(err, "lookup_incr: the value (%zu bytes) is "
			    "not a counter", v.len - LKV_HDR);
			r = -1;
			break;
		}
		if (live)	/* an existing counter keeps its expiry */
			expires = old;
		else if (r == 1 && (r = drop_index(t, a->l, &x, key->key,
		    key->len, old, err)) < 0)	/* dead: replaced */
			break;
		if ((r = lookup_add(cur, a->deltas[i], &sum, err)) < 0)
			break;
		r = write_rec(t, a->l, &k, &x, key->key, key->len, expires,
		    num, lookup_counter_fmt(sum, num), !live, err);
		if (r < 0)
			break;
		if (a->new_r != NULL)
			a->new_r[i] = sum;
	}
	if (r < 0 && a->n > 1)
		buf_addf(err, " (key %zu of %zu; none applied)", i + 1,
		    a->n);
	buf_free(&k);
	buf_free(&v);
	buf_free(&x);
	return r < 0 ? r : 0;
}

static int
lkv_incr_many(struct lookup *l, const struct lookup_key *keys, size_t n,
    const int64_t *deltas, uint32_t ttl_s, int64_t *new_r, struct buf *err)
{
	struct lookup_kv *s = (struct lookup_kv *)l;
	int64_t now = lookup_now(l);
	struct lkv_write a = { .l = l, .keys = keys, .n = n, .deltas = deltas,
	    .new_r = new_r, .expires = expiry(now, ttl_s), .now = now };
	size_t *ord = key_order(keys, n);
	int r;

	a.ord = ord;
	r = kv_group_run(s->g, incr_fn, &a, err);
	free(ord);
	return r < 0 ? -1 : 0;
}

/* ---- the sweep ---- */

static int
expire_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct lkv_write *a = arg;
	const struct lookup *l = a->l;
	struct buf lo = BUF_INIT(0), hi = BUF_INIT(0), found = BUF_INIT(0);
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	struct kv_iter *it = NULL;
	const void *ik, *iv;
	size_t ikn, ivn, off = 0, head = 2 + l->plen + 1;
	int r;

	a->done = 0;
	xkey(l, &lo, l->prefix, l->plen, 0);
	buf_truncate(&lo, head);
	xkey(l, &hi, l->prefix, l->plen, (uint64_t)a->now + 1);
	/* collect first: no writes under the iterator */
	r = kv_iter_new(t, lo.data, lo.len, hi.data, hi.len, false, &it, err);
	while (r >= 0 && a->done < a->max &&
	    (r = kv_iter_next(it, &ik, &ikn, &iv, &ivn, err)) == 1) {
		if (ikn < head + 8)
			continue;	/* not ours: cannot happen */
		put_u64(&found, ikn);
		buf_add(&found, ik, ikn);
		a->done++;
	}
	kv_iter_free(&it);
	while (r >= 0 && off < found.len) {
		const unsigned char *p = found.data + off + 8;
		size_t n = (size_t)get_u64(found.data + off);
		uint64_t want = get_u64(p + head), old = 0;

		off += 8 + n;
		if ((r = kv_delete(t, p, n, err)) < 0)
			break;
		buf_reset(&k);
		buf_add(&k, "Kv", 2);
		buf_add(&k, l->prefix, l->plen);
		buf_add(&k, p + head + 8, n - head - 8);
		r = get_old(t, &k, &v, &old, err);
		if (r == 1 && old == want)
			r = kv_delete(t, k.data, k.len, err);
	}
	buf_free(&lo);
	buf_free(&hi);
	buf_free(&found);
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

static int
lkv_expire(struct lookup *l, size_t max, size_t *n_r, struct buf *err)
{
	struct lookup_kv *s = (struct lookup_kv *)l;
	struct lkv_write a = { .l = l, .now = lookup_now(l), .max = max };

	*n_r = 0;
	if (a.now < 1)
		return 0;
	if (kv_group_run(s->g, expire_fn, &a, err) < 0)
		return -1;
	*n_r = a.done;
	return 0;
}

/* ---- open and close ---- */

static int
lkv_open(const struct lookup_options *opt, struct lookup **l_r,
    struct buf *err)
{
	struct lookup_kv *s;

	if (opt->kv == NULL) {
		buf_addf(err, "lookup kv: no data store given");
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->kv = opt->kv;
	s->g = kv_group_new(opt->kv, 0);
	*l_r = &s->base;
	return 0;
}

static void
lkv_close(struct lookup *l)
{
	struct lookup_kv *s = (struct lookup_kv *)l;

	kv_group_free(&s->g);
	free(s);
}

const struct lookup_ops lookup_kv_ops = {
	.name = "kv",
	.open = lkv_open,
	.close = lkv_close,
	.get_many = lkv_get_many,
	.set = lkv_set,
	.del = lkv_del,
	.incr_many = lkv_incr_many,
	.expire = lkv_expire,
};
