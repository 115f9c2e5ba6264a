/*
 * lookup_mem.c - the "memory" lookup backend: a hash table in this
 * process, bounded in bytes, with TTLs and counters (lookup.h).
 *
 * Layout: up to MEM_SHARDS shards, each a mutex, a chained hash table,
 * an LRU list (most recently used first) and a min-heap of the entries
 * that have an expiry, ordered by it.  A key's shard is the top byte of
 * its hash, its bucket the low bits; the hash is SipHash-1-3 under a
 * random key drawn at open (the hash-table hash of Python and Rust),
 * because keys come from peers (IP addresses, message tokens) and a
 * fixed hash would let them pile every key into one chain.
 *
 * Budget: mem_max_bytes is split evenly between the shards: 16, or fewer
 * for a small budget, so that every share holds the largest possible
 * entry and the entry just written always fits.  A shard counts each
 * entry as sizeof(struct mem_entry) + key + value capacity, plus its
 * bucket and heap arrays; malloc's own overhead is not counted, so the
 * process uses somewhat more.  After a write takes a shard over its
 * share, it drops entries until it is back under: expired ones first
 * (the heap top), then the least recently used.  The LRU order is exact
 * within a shard, which makes it an approximate LRU over the table.
 *
 * Expiry: an entry with expires <= now is dead.  Reads find and drop
 * dead entries (lazy expiry), a write over budget drops them first,
 * lookup_expire drops them from the heaps; nothing else scans.
 *
 * Locking: each call holds one shard's mutex at a time, except
 * incr_many, which takes every shard its keys hash to, in shard order
 * (so two batches never deadlock), applies the increments in order with
 * an undo log and rolls them back on the first error: all or nothing.
 * Budget eviction runs after the batch, so it never frees an entry the
 * undo log points to.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "lookup/lookup.h"
#include "lookup/lookup_priv.h"

#define MEM_SHARDS 16u			/* at most; a power of two */
/* the largest entry: every shard's share of the budget holds one */
#define MEM_ENTRY_MAX (sizeof(struct mem_entry) + LOOKUP_PREFIX_MAX + \
	LOOKUP_KEY_MAX + LOOKUP_VALUE_MAX)
#define MEM_BUCKETS_MIN 64u
#define MEM_NEVER INT64_MAX		/* expires of an entry without TTL */
#define MEM_NO_HEAP SIZE_MAX		/* heap_i of an entry not in it */
#define MEM_VAL_MIN 24u			/* smallest value allocation */

struct mem_entry {
	struct mem_entry *hnext;	/* bucket chain */
	struct mem_entry *prev, *next;	/* LRU: prev is more recent */
	uint64_t hash;
	int64_t expires;		/* MEM_NEVER or unix seconds */
	size_t heap_i;
	unsigned char *val;
	size_t vlen, vcap;
	size_t klen;
	unsigned char key[];
};

struct mem_shard {
	pthread_mutex_t mu;
	struct mem_entry **buckets;
	size_t nbuckets;		/* a power of two */
	size_t entries;
	struct mem_entry *head, *tail;	/* LRU: head most recent */
	struct mem_entry **heap;	/* min-heap on expires */
	size_t nheap, heap_cap;
	size_t bytes, budget;
	uint64_t evicted, expired;
} __attribute__((aligned(64)));		/* no false sharing of mutexes */

struct lookup_mem {
	struct lookup base;
	uint64_t k0, k1;		/* the SipHash key */
	size_t max_bytes;
	unsigned nshards;		/* a power of two, <= MEM_SHARDS */
	struct mem_shard shards[MEM_SHARDS];
};

/* ---- hashing ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                          \
	do {                                                              \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                    \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                    \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t
siphash13(uint64_t k0, uint64_t k1, const unsigned char *p, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t m, b = (uint64_t)len << 56;
	size_t end = len - len % 8;

	for (size_t i = 0; i < end; i += 8) {
		m = 0;
		for (size_t j = 0; j < 8; j++)
			m |= (uint64_t)p[i + j] << (8 * j);
		v3 ^= m;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t j = 0; j < len % 8; j++)
		b |= (uint64_t)p[end + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static struct mem_shard *
shard_of(struct lookup_mem *m, uint64_t hash)
{
	return &m->shards[(hash >> 56) & (m->nshards - 1)];
}

/* ---- the LRU list and the expiry heap ---- */

static void
lru_unlink(struct mem_shard *sh, struct mem_entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		sh->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		sh->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
lru_front(struct mem_shard *sh, struct mem_entry *e)
{
	e->prev = NULL;
	e->next = sh->head;
	if (sh->head != NULL)
		sh->head->prev = e;
	else
		sh->tail = e;
	sh->head = e;
}

static void
lru_touch(struct mem_shard *sh, struct mem_entry *e)
{
	if (sh->head != e) {
		lru_unlink(sh, e);
		lru_front(sh, e);
	}
}

static void
heap_swap(struct mem_shard *sh, size_t a, size_t b)
{
	struct mem_entry *e = sh->heap[a];

	sh->heap[a] = sh->heap[b];
	sh->heap[b] = e;
	sh->heap[a]->heap_i = a;
	sh->heap[b]->heap_i = b;
}

static void
heap_up(struct mem_shard *sh, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (sh->heap[p]->expires <= sh->heap[i]->expires)
			break;
		heap_swap(sh, p, i);
		i = p;
	}
}

static void
heap_down(struct mem_shard *sh, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < sh->nheap &&
		    sh->heap[l]->expires < sh->heap[m]->expires)
			m = l;
		if (r < sh->nheap &&
		    sh->heap[r]->expires < sh->heap[m]->expires)
			m = r;
		if (m == i)
			return;
		heap_swap(sh, i, m);
		i = m;
	}
}

static void
heap_fix(struct mem_shard *sh, size_t i)
{
	if (i > 0 && sh->heap[i]->expires < sh->heap[(i - 1) / 2]->expires)
		heap_up(sh, i);
	else
		heap_down(sh, i);
}

static void
heap_del(struct mem_shard *sh, struct mem_entry *e)
{
	size_t i = e->heap_i, last = --sh->nheap;

	e->heap_i = MEM_NO_HEAP;
	if (i == last)
		return;
	sh->heap[i] = sh->heap[last];
	sh->heap[i]->heap_i = i;
	heap_fix(sh, i);
}

/* set_expiry - change e's expiry, keeping the heap in step */
static void
set_expiry(struct mem_shard *sh, struct mem_entry *e, int64_t expires)
{
	bool in = e->heap_i != MEM_NO_HEAP;

	e->expires = expires;
	if (in && expires == MEM_NEVER) {
		heap_del(sh, e);
	} else if (in) {
		heap_fix(sh, e->heap_i);
	} else if (expires != MEM_NEVER) {
		if (sh->nheap == sh->heap_cap) {
			size_t cap = sh->heap_cap == 0 ? 16 : sh->heap_cap * 2;

			sh->heap = xreallocarray(sh->heap, cap,
			    sizeof(*sh->heap));
			sh->bytes += (cap - sh->heap_cap) * sizeof(*sh->heap);
			sh->heap_cap = cap;
		}
		sh->heap[sh->nheap] = e;
		e->heap_i = sh->nheap++;
		heap_up(sh, e->heap_i);
	}
}

/* ---- entries ---- */

static struct mem_entry *
find(struct mem_shard *sh, uint64_t hash, const void *key, size_t klen)
{
	struct mem_entry *e = sh->buckets[hash & (sh->nbuckets - 1)];

	for (; e != NULL; e = e->hnext)
		if (e->hash == hash && e->klen == klen &&
		    memcmp(e->key, key, klen) == 0)
			return e;
	return NULL;
}

static void
grow(struct mem_shard *sh)
{
	size_t n = sh->nbuckets * 2;
	struct mem_entry **b = xcalloc(n, sizeof(*b));

	for (size_t i = 0; i < sh->nbuckets; i++) {
		struct mem_entry *e, *next;

		for (e = sh->buckets[i]; e != NULL; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(sh->buckets);
	sh->bytes += (n - sh->nbuckets) * sizeof(*b);
	sh->buckets = b;
	sh->nbuckets = n;
}

/* entry_new - an empty value without expiry, most recently used */
static struct mem_entry *
entry_new(struct mem_shard *sh, uint64_t hash, const void *key, size_t klen)
{
	struct mem_entry *e = xmalloc(sizeof(*e) + klen);
	struct mem_entry **b;

	memset(e, 0, sizeof(*e));
	e->hash = hash;
	e->expires = MEM_NEVER;
	e->heap_i = MEM_NO_HEAP;
	e->klen = klen;
	memcpy(e->key, key, klen);
	b = &sh->buckets[hash & (sh->nbuckets - 1)];
	e->hnext = *b;
	*b = e;
	lru_front(sh, e);
	sh->entries++;
	sh->bytes += sizeof(*e) + klen;
	if (sh->entries > sh->nbuckets)
		grow(sh);
	return e;
}

static void
entry_remove(struct mem_shard *sh, struct mem_entry *e)
{
	struct mem_entry **pp = &sh->buckets[e->hash & (sh->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(sh, e);
	if (e->heap_i != MEM_NO_HEAP)
		heap_del(sh, e);
	sh->entries--;
	sh->bytes -= sizeof(*e) + e->klen + e->vcap;
	free(e->val);
	free(e);
}

static void
set_value(struct mem_shard *sh, struct mem_entry *e, const void *v,
    size_t vlen)
{
	/* reallocate to grow, or to give back a lot: not for every change */
	if (e->val == NULL || vlen > e->vcap || e->vcap - vlen > vlen + 64) {
		size_t cap = vlen < MEM_VAL_MIN ? MEM_VAL_MIN : vlen;

		e->val = xrealloc(e->val, cap);
		sh->bytes = sh->bytes - e->vcap + cap;
		e->vcap = cap;
	}
	memcpy(e->val, v, vlen);
	e->vlen = vlen;
}

static bool
is_live(const struct mem_entry *e, int64_t now)
{
	return e->expires > now;
}

/* shrink - back under budget: expired entries first, then the LRU tail;
 * keep (may be NULL) is the entry just written, never dropped */
static void
shrink(struct mem_shard *sh, int64_t now, const struct mem_entry *keep)
{
	while (sh->bytes > sh->budget) {
		struct mem_entry *victim;

		if (sh->nheap > 0 && !is_live(sh->heap[0], now)) {
			victim = sh->heap[0];
			sh->expired++;
		} else {
			victim = sh->tail;
			if (victim == keep)
				victim = victim->prev;
			if (victim == NULL)
				return;
			sh->evicted++;
		}
		entry_remove(sh, victim);
	}
}

static int64_t
expiry(int64_t now, uint32_t ttl_s)
{
	if (ttl_s == 0 || now > MEM_NEVER - 1 - (int64_t)ttl_s)
		return MEM_NEVER;
	return now + ttl_s;
}

/* ---- the backend ---- */

static int
mem_open(const struct lookup_options *opt, struct lookup **l_r,
    struct buf *err)
{
	size_t max = opt->mem_max_bytes != 0 ? opt->mem_max_bytes :
	    LOOKUP_MEM_DEFAULT;
	struct lookup_mem *m;
	uint64_t seed[2];

	if (max < LOOKUP_MEM_MIN) {
		buf_addf(err, "lookup memory: max bytes %zu is below the "
		    "minimum of %u", max, LOOKUP_MEM_MIN);
		return -1;
	}
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed)) {
		buf_addf(err, "lookup memory: getrandom failed");
		return -1;
	}
	m = xcalloc(1, sizeof(*m));
	m->k0 = seed[0];
	m->k1 = seed[1];
	m->max_bytes = max;
	m->nshards = MEM_SHARDS;
	while (m->nshards > 1 && max / m->nshards < MEM_ENTRY_MAX)
		m->nshards /= 2;
	for (unsigned i = 0; i < m->nshards; i++) {
		struct mem_shard *sh = &m->shards[i];

		pthread_mutex_init(&sh->mu, NULL);
		sh->nbuckets = MEM_BUCKETS_MIN;
		sh->buckets = xcalloc(sh->nbuckets, sizeof(*sh->buckets));
		sh->bytes = sh->nbuckets * sizeof(*sh->buckets);
		sh->budget = max / m->nshards;
	}
	*l_r = &m->base;
	return 0;
}

static void
mem_close(struct lookup *l)
{
	struct lookup_mem *m = (struct lookup_mem *)l;

	for (unsigned i = 0; i < m->nshards; i++) {
		struct mem_shard *sh = &m->shards[i];
		struct mem_entry *e, *next;

		for (e = sh->head; e != NULL; e = next) {
			next = e->next;
			free(e->val);
			free(e);
		}
		free(sh->buckets);
		free(sh->heap);
		pthread_mutex_destroy(&sh->mu);
	}
	free(m);
}

static int
mem_get_many(struct lookup *l, const struct lookup_key *keys, size_t n,
    struct buf *vals, bool *found, struct buf *err)
{
	struct lookup_mem *m = (struct lookup_mem *)l;
	int64_t now = lookup_now(l);

	for (size_t i = 0; i < n; i++) {
		uint64_t h = siphash13(m->k0, m->k1, keys[i].key, keys[i].len);
		struct mem_shard *sh = shard_of(m, h);
		struct mem_entry *e;
		int r = 0;

		pthread_mutex_lock(&sh->mu);
		e = find(sh, h, keys[i].key, keys[i].len);
		if (e != NULL && !is_live(e, now)) {
			entry_remove(sh, e);
			sh->expired++;
		} else if (e != NULL) {
			r = lookup_value_put(&vals[i], e->val, e->vlen, err);
			found[i] = r == 0;
			lru_touch(sh, e);
		}
		pthread_mutex_unlock(&sh->mu);
		if (r < 0)
			return -1;
	}
	return 0;
}

static int
mem_set(struct lookup *l, const void *key, size_t klen, const void *val,
    size_t vlen, uint32_t ttl_s, struct buf *err)
{
	struct lookup_mem *m = (struct lookup_mem *)l;
	int64_t now = lookup_now(l);
	uint64_t h = siphash13(m->k0, m->k1, key, klen);
	struct mem_shard *sh = shard_of(m, h);
	struct mem_entry *e;

	pthread_mutex_lock(&sh->mu);
	e = find(sh, h, key, klen);
	if (e == NULL)
		e = entry_new(sh, h, key, klen);
	else
		lru_touch(sh, e);
	set_value(sh, e, val, vlen);
	set_expiry(sh, e, expiry(now, ttl_s));
	shrink(sh, now, e);
	pthread_mutex_unlock(&sh->mu);
	return 0;
}

static int
mem_del(struct lookup *l, const void *key, size_t klen, struct buf *err)
{
	struct lookup_mem *m = (struct lookup_mem *)l;
	uint64_t h = siphash13(m->k0, m->k1, key, klen);
	struct mem_shard *sh = shard_of(m, h);
	struct mem_entry *e;

	pthread_mutex_lock(&sh->mu);
	e = find(sh, h, key, klen);
	if (e != NULL)
		entry_remove(sh, e);
	pthread_mutex_unlock(&sh->mu);
	return 0;
}

/* what one increment of a batch changed, to take it back */
struct mem_undo {
	struct mem_entry *e;
	bool created;		/* absent or dead before: remove it */
	int64_t old_expires;
	size_t oldlen;
	char old[LOOKUP_COUNTER_LEN_MAX];
};

static int
incr_one(struct mem_shard *sh, uint64_t h, const struct lookup_key *k,
    int64_t delta, uint32_t ttl_s, int64_t now, int64_t *new_r,
    struct mem_undo *u, struct buf *err)
{
	struct mem_entry *e = find(sh, h, k->key, k->len);
	char num[LOOKUP_COUNTER_LEN_MAX + 1];
	int64_t cur, sum;

	if (e != NULL && is_live(e, now)) {
		if (lookup_parse_counter(e->val, e->vlen, &cur) < 0) {
			buf_addf(err, "lookup_incr: the value (%zu bytes) is "
			    "not a counter", e->vlen);
			return -1;
		}
		if (lookup_add(cur, delta, &sum, err) < 0)
			return -1;
		u->e = e;
		u->created = false;
		u->old_expires = e->expires;
		u->oldlen = e->vlen;		/* a counter: <= 20 bytes */
		memcpy(u->old, e->val, e->vlen);
		set_value(sh, e, num, lookup_counter_fmt(sum, num));
		lru_touch(sh, e);
	} else {
		/* a dead entry is absent: reuse it, undo removes it */
		if (e == NULL)
			e = entry_new(sh, h, k->key, k->len);
		else
			lru_touch(sh, e);
		sum = delta;
		u->e = e;
		u->created = true;
		set_value(sh, e, num, lookup_counter_fmt(sum, num));
		set_expiry(sh, e, expiry(now, ttl_s));
	}
	*new_r = sum;
	return 0;
}

static int
mem_incr_many(struct lookup *l, const struct lookup_key *keys, size_t n,
    const int64_t *deltas, uint32_t ttl_s, int64_t *new_r, struct buf *err)
{
	struct lookup_mem *m = (struct lookup_mem *)l;
	int64_t now = lookup_now(l);
	uint64_t *h = xreallocarray(NULL, n, sizeof(*h));
	struct mem_undo *undo = xreallocarray(NULL, n, sizeof(*undo));
	uint32_t locked = 0;
	size_t done = 0;
	int r = 0;

	for (size_t i = 0; i < n; i++) {
		h[i] = siphash13(m->k0, m->k1, keys[i].key, keys[i].len);
		locked |= 1u << (shard_of(m, h[i]) - m->shards);
	}
	/* in shard order, so two batches never deadlock */
	for (unsigned s = 0; s < m->nshards; s++)
		if (locked & (1u << s))
			pthread_mutex_lock(&m->shards[s].mu);
	for (; done < n; done++) {
		int64_t v;

		r = incr_one(shard_of(m, h[done]), h[done], &keys[done],
		    deltas[done], ttl_s, now, &v, &undo[done], err);
		if (r < 0)
			break;
		if (new_r != NULL)
			new_r[done] = v;
	}
	if (r < 0) {
		if (n > 1)
			buf_addf(err, " (key %zu of %zu; none applied)",
			    done + 1, n);
		while (done-- > 0) {
			struct mem_undo *u = &undo[done];
			struct mem_shard *sh = shard_of(m, h[done]);

			if (u->created) {
				entry_remove(sh, u->e);
			} else {
				set_value(sh, u->e, u->old, u->oldlen);
				set_expiry(sh, u->e, u->old_expires);
			}
		}
	}
	for (unsigned s = 0; s < m->nshards; s++)
		if (locked & (1u << s)) {
			shrink(&m->shards[s], now, NULL);
			pthread_mutex_unlock(&m->shards[s].mu);
		}
	free(h);
	free(undo);
	return r;
}

static int
mem_expire(struct lookup *l, size_t max, size_t *n_r, struct buf *err)
{
	struct lookup_mem *m = (struct lookup_mem *)l;
	int64_t now = lookup_now(l);
	size_t n = 0;

	for (unsigned s = 0; s < m->nshards && n < max; s++) {
		struct mem_shard *sh = &m->shards[s];

		pthread_mutex_lock(&sh->mu);
		while (n < max && sh->nheap > 0 && !is_live(sh->heap[0], now)) {
			entry_remove(sh, sh->heap[0]);
			sh->expired++;
			n++;
		}
		pthread_mutex_unlock(&sh->mu);
	}
	*n_r = n;
	return 0;
}

void
lookup_mem_stats(struct lookup *l, struct lookup_mem_stats *st)
{
	struct lookup_mem *m = (struct lookup_mem *)l;

	ASSERT(l->ops == &lookup_mem_ops);
	memset(st, 0, sizeof(*st));
	st->max_bytes = m->max_bytes;
	for (unsigned s = 0; s < m->nshards; s++) {
		struct mem_shard *sh = &m->shards[s];

		pthread_mutex_lock(&sh->mu);
		st->entries += sh->entries;
		st->bytes += sh->bytes;
		st->evicted += sh->evicted;
		st->expired += sh->expired;
		pthread_mutex_unlock(&sh->mu);
	}
}

const struct lookup_ops lookup_mem_ops = {
	.name = "memory",
	.open = mem_open,
	.close = mem_close,
	.get_many = mem_get_many,
	.set = mem_set,
	.del = mem_del,
	.incr_many = mem_incr_many,
	.expire = mem_expire,
};
