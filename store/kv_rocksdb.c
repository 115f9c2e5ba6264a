/*
 * kv_rocksdb.c - the RocksDB kv backend, through RocksDB's C API, on an
 * OptimisticTransactionDB in the directory given as path.  RocksDB's
 * default comparator is bytewise (memcmp, shorter first): kv.h's order.
 *
 * Writers: one at a time per struct kv.  A write transaction takes the
 * ticket lock (kv_wlock) at kv_begin and holds it to its end, then runs
 * in a RocksDB transaction (one object, reused through the old_txn
 * argument of rocksdb_optimistictransaction_begin), which gives
 * read-your-writes for gets and iterators (the transaction's write batch
 * merged over the DB).  Its reads see the latest committed state, which
 * no one else can change while it runs, so it is serialisable; the
 * optimistic commit-time check therefore never fires, and KV_CONFLICT
 * (RocksDB's Busy/TryAgain) would only appear if something else wrote to
 * the DB.  Serialising costs throughput only when write transactions
 * are long, and ours are short.  Durability: a commit writes the WAL
 * without syncing it (WriteOptions.sync off) under the writer lock, then,
 * after releasing it, waits for a SyncWAL begun after the commit
 * (kv_sync in store_priv.h: one sync at a time covers every commit
 * before it, and the next writers work meanwhile); kv_commit returns
 * after that.  RocksDB's WAL recovery (point in time) keeps a prefix, so
 * a synced commit survives a crash with every commit before it.
 *
 * Readers: a read transaction takes a RocksDB snapshot at kv_begin and
 * reads through ReadOptions pointing at it; readers never wait.  Read
 * transaction objects (with their ReadOptions) are pooled on the struct
 * kv, iterator objects on each transaction object, so the steady state
 * allocates only what the C API does (a PinnableSlice per get, the
 * iterator itself).
 *
 * Iterators carry lower/upper bounds in their ReadOptions (RocksDB then
 * stops at the bound instead of wading through tombstones past it) and
 * check the bounds themselves as well, since the write-batch half of a
 * transaction iterator may not honour them.  A reverse iterator sets no
 * upper bound: SeekForPrev(upper bound) with it set missed keys in a
 * write transaction (test_random_model found a range whose only key was
 * its lower bound returned empty); it starts below the bound anyway.  RocksDB says a write in the
 * transaction invalidates its iterators, so when the transaction's gen
 * moved the iterator is rebuilt and sought just past the last key
 * returned (store_priv.h: "Iterators and writes").  delete_range
 * deletes key by key in batches (a transaction has no DeleteRange).
 *
 * read_only: a TransactionDB cannot be opened read-only, but its files
 * are a plain DB's, so rocksdb_open_for_read_only opens them: the state
 * as of kv_open (no snapshot needed), no writer, and the directory is not
 * locked, so it works next to a running server.  A long-lived read-only
 * store does not follow later writes: reopen it to catch up.
 */
#include <pthread.h>
#include <rocksdb/c.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "store/kv.h"
#include "store/store_priv.h"

#define RDB_FREE_TXNS_MAX 64	/* idle read transaction objects kept */
#define RDB_FREE_ITERS_MAX 4	/* idle iterator objects per transaction */
#define RDB_DELETE_BATCH 1024	/* keys collected per delete_range pass */

struct kv_rocksdb;
struct rdb_txn;

struct rdb_iter {
	struct kv_iter base;
	struct rdb_txn *t;
	rocksdb_readoptions_t *ro;	/* bounds point into lo and hi */
	rocksdb_iterator_t *it;
	struct buf lo, hi;		/* [lo, hi); not changed while in use */
	struct buf last;		/* the last key returned */
	bool reverse, has_hi, has_last, started, done;
	uint64_t gen;			/* the transaction's gen at build */
	struct rdb_iter *next_free;
};

struct rdb_txn {
	struct kv_txn base;		/* first */
	struct kv_rocksdb *r;
	rocksdb_transaction_t *txn;	/* write: reused, else NULL */
	const rocksdb_snapshot_t *snap;	/* read, unless read_only */
	rocksdb_readoptions_t *ro;	/* gets: the snapshot or the latest */
	rocksdb_pinnableslice_t *pinned;	/* the last get's value */
	struct rdb_iter *free_iters;
	unsigned n_free_iters;
	struct rdb_txn *next_free;
};

struct kv_rocksdb {
	struct kv base;			/* first */
	rocksdb_options_t *opts;
	rocksdb_writeoptions_t *wo;
	rocksdb_optimistictransaction_options_t *oto;
	rocksdb_optimistictransactiondb_t *odb;	/* NULL when read_only */
	rocksdb_t *db;			/* the base DB */
	bool read_only;
	struct kv_wlock wlock;
	struct kv_sync sync;		/* SyncWAL after the writer lock */
	struct rdb_txn *wtxn;		/* the writer's object, reused */
	pthread_mutex_t mu;		/* guards free_txns */
	struct rdb_txn *free_txns;
	unsigned n_free_txns;
};

/* rdb_fail - report and free a RocksDB error; KV_CONFLICT if retryable */
static int
rdb_fail(const char *what, char *e, struct buf *err)
{
	static const char *const retry[] = {
		"Resource busy", "Resource temporarily unavailable",
		"Operation timed out",
	};
	int r = -1;

	for (size_t i = 0; i < ARRAY_SIZE(retry); i++)
		if (strncmp(e, retry[i], strlen(retry[i])) == 0)
			r = KV_CONFLICT;
	buf_addf(err, "rocksdb %s: %s", what, e);
	rocksdb_free(e);
	return r;
}

static int
keycmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static struct rdb_txn *
rdb_txn_new(struct kv_rocksdb *r)
{
	struct rdb_txn *t = xcalloc(1, sizeof(*t));

	t->r = r;
	t->ro = rocksdb_readoptions_create();
	return t;
}

static void
rdb_iter_destroy(struct rdb_iter *it)
{
	if (it->it != NULL)
		rocksdb_iter_destroy(it->it);
	rocksdb_readoptions_destroy(it->ro);
	buf_free(&it->lo);
	buf_free(&it->hi);
	buf_free(&it->last);
	free(it);
}

static void
rdb_txn_destroy(struct rdb_txn *t)
{
	struct rdb_iter *it;

	while ((it = t->free_iters) != NULL) {
		t->free_iters = it->next_free;
		rdb_iter_destroy(it);
	}
	if (t->txn != NULL)
		rocksdb_transaction_destroy(t->txn);
	rocksdb_readoptions_destroy(t->ro);
	free(t);
}

static void
rdb_close(struct kv *kv)
{
	struct kv_rocksdb *r = (struct kv_rocksdb *)kv;
	struct rdb_txn *t;

	while ((t = r->free_txns) != NULL) {
		r->free_txns = t->next_free;
		rdb_txn_destroy(t);
	}
	if (r->wtxn != NULL)
		rdb_txn_destroy(r->wtxn);
	if (r->odb != NULL) {
		rocksdb_optimistictransactiondb_close_base_db(r->db);
		rocksdb_optimistictransactiondb_close(r->odb);
	} else if (r->db != NULL) {
		rocksdb_close(r->db);
	}
	rocksdb_optimistictransaction_options_destroy(r->oto);
	rocksdb_writeoptions_destroy(r->wo);
	rocksdb_options_destroy(r->opts);
	kv_sync_destroy(&r->sync);
	kv_wlock_destroy(&r->wlock);
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* rdb_sync - kv_sync_fn: the WAL to disk */
static int
rdb_sync(void *arg, struct buf *err)
{
	struct kv_rocksdb *r = arg;
	char *e = NULL;

	rocksdb_flush_wal(r->db, 1, &e);
	if (e != NULL) {
		buf_addf(err, "rocksdb: sync the WAL: %s", e);
		rocksdb_free(e);
		return -1;
	}
	return 0;
}

static int
rdb_open(const struct kv_options *opt, const char *arg, struct kv **kv_r,
    struct buf *err)
{
	struct kv_rocksdb *r;
	char *e = NULL;

	if (arg != NULL) {
		buf_addf(err, "kv_open: the rocksdb backend takes no argument");
		return -1;
	}
	r = xcalloc(1, sizeof(*r));
	r->read_only = opt->read_only;
	pthread_mutex_init(&r->mu, NULL);
	kv_wlock_init(&r->wlock);
	kv_sync_init(&r->sync, rdb_sync, r);
	r->opts = rocksdb_options_create();
	rocksdb_options_set_create_if_missing(r->opts, !opt->read_only);
	/*
	 * A Bloom filter over whole keys in the memtable: a get of an absent
	 * key (idempotency, index and thread look-ups at every delivery)
	 * skips the skip-list search.  Scans are unaffected.
	 */
	rocksdb_options_set_memtable_prefix_bloom_size_ratio(r->opts, 0.1);
	rocksdb_options_set_memtable_whole_key_filtering(r->opts, 1);
	r->wo = rocksdb_writeoptions_create();
	rocksdb_writeoptions_set_sync(r->wo, 0);	/* rdb_sync after */
	r->oto = rocksdb_optimistictransaction_options_create();
	if (opt->read_only) {
		r->db = rocksdb_open_for_read_only(r->opts, opt->path, 0, &e);
	} else {
		r->odb = rocksdb_optimistictransactiondb_open(r->opts,
		    opt->path, &e);
		if (r->odb != NULL)
			r->db = rocksdb_optimistictransactiondb_get_base_db(
			    r->odb);
	}
	if (e != NULL || r->db == NULL) {
		if (e != NULL)
			(void)rdb_fail("open", e, err);
		else
			buf_addf(err, "rocksdb open %s failed", opt->path);
		rdb_close(&r->base);
		return -1;
	}
	if (!opt->read_only)
		r->wtxn = rdb_txn_new(r);
	*kv_r = &r->base;
	return 0;
}

static int
rdb_begin(struct kv *kv, enum kv_mode mode, struct kv_txn **t_r,
    struct buf *err)
{
	struct kv_rocksdb *r = (struct kv_rocksdb *)kv;
	struct rdb_txn *t;

	if (mode == KV_WRITE) {
		if (kv_wlock_acquire(&r->wlock, err) < 0)
			return -1;
		t = r->wtxn;
		t->txn = rocksdb_optimistictransaction_begin(r->odb, r->wo,
		    r->oto, t->txn);
		*t_r = &t->base;
		return 0;
	}
	pthread_mutex_lock(&r->mu);
	if ((t = r->free_txns) != NULL) {
		r->free_txns = t->next_free;
		r->n_free_txns--;
	}
	pthread_mutex_unlock(&r->mu);
	if (t == NULL)
		t = rdb_txn_new(r);
	if (!r->read_only) {
		t->snap = rocksdb_create_snapshot(r->db);
		rocksdb_readoptions_set_snapshot(t->ro, t->snap);
	}
	*t_r = &t->base;
	return 0;
}

/* rdb_end - release what the transaction held; t may be reused */
static void
rdb_end(struct rdb_txn *t)
{
	struct kv_rocksdb *r = t->r;

	if (t->pinned != NULL) {
		rocksdb_pinnableslice_destroy(t->pinned);
		t->pinned = NULL;
	}
	if (t->base.mode == KV_WRITE) {
		kv_wlock_release(&r->wlock);
		return;
	}
	if (t->snap != NULL) {
		rocksdb_readoptions_set_snapshot(t->ro, NULL);
		rocksdb_release_snapshot(r->db, t->snap);
		t->snap = NULL;
	}
	pthread_mutex_lock(&r->mu);
	if (r->n_free_txns < RDB_FREE_TXNS_MAX) {
		t->next_free = r->free_txns;
		r->free_txns = t;
		r->n_free_txns++;
		t = NULL;
	}
	pthread_mutex_unlock(&r->mu);
	if (t != NULL)
		rdb_txn_destroy(t);
}

static void
rdb_rollback(struct rdb_txn *t)
{
	char *e = NULL;

	rocksdb_transaction_rollback(t->txn, &e);
	if (e != NULL) {
		/* nothing was written: the batch is dropped at the next begin */
		rocksdb_free(e);
	}
}

/* rdb_commit_nowait - commit; a write's ticket is its kv_sync sequence */
static int
rdb_commit_nowait(struct kv_txn *base, uint64_t *ticket_r, struct buf *err)
{
	struct rdb_txn *t = (struct rdb_txn *)base;
	char *e = NULL;
	int r = 0;

	*ticket_r = 0;
	if (base->mode == KV_WRITE) {
		rocksdb_transaction_commit(t->txn, &e);
		if (e != NULL) {
			r = rdb_fail("commit", e, err);
			rdb_rollback(t);
		} else {
			*ticket_r = kv_sync_committed(&t->r->sync);
		}
	}
	rdb_end(t);
	return r;
}

static int
rdb_durable(struct kv *kv, uint64_t ticket, struct buf *err)
{
	struct kv_rocksdb *r = (struct kv_rocksdb *)kv;

	return kv_sync_wait(&r->sync, ticket, err);
}

static int
rdb_commit(struct kv_txn *base, struct buf *err)
{
	uint64_t ticket;

	/* reads only: kv.c commits writes with commit_nowait + durable */
	return rdb_commit_nowait(base, &ticket, err);
}

static void
rdb_abort(struct kv_txn *base)
{
	struct rdb_txn *t = (struct rdb_txn *)base;

	if (base->mode == KV_WRITE)
		rdb_rollback(t);
	rdb_end(t);
}

static int
rdb_get(struct kv_txn *base, const void *key, size_t klen,
    const void **val_r, size_t *vlen_r, struct buf *err)
{
	struct rdb_txn *t = (struct rdb_txn *)base;
	char *e = NULL;

	if (t->pinned != NULL) {
		rocksdb_pinnableslice_destroy(t->pinned);
		t->pinned = NULL;
	}
	if (base->mode == KV_WRITE)
		t->pinned = rocksdb_transaction_get_pinned(t->txn, t->ro, key,
		    klen, &e);
	else
		t->pinned = rocksdb_get_pinned(t->r->db, t->ro, key, klen, &e);
	if (e != NULL)
		return rdb_fail("get", e, err);
	if (t->pinned == NULL)
		return 0;
	*val_r = rocksdb_pinnableslice_value(t->pinned, vlen_r);
	if (*val_r == NULL)
		*val_r = "";
	return 1;
}

static int
rdb_put(struct kv_txn *base, const void *key, size_t klen, const void *val,
    size_t vlen, struct buf *err)
{
	struct rdb_txn *t = (struct rdb_txn *)base;
	char *e = NULL;

	rocksdb_transaction_put(t->txn, key, klen, val, vlen, &e);
	return e != NULL ? rdb_fail("put", e, err) : 0;
}

static int
rdb_del(struct kv_txn *base, const void *key, size_t klen, struct buf *err)
{
	struct rdb_txn *t = (struct rdb_txn *)base;
	char *e = NULL;

	rocksdb_transaction_delete(t->txn, key, klen, &e);
	return e != NULL ? rdb_fail("delete", e, err) : 0;
}

static int
rdb_iter_new(struct kv_txn *base, const void *start, size_t slen,
    const void *end, size_t elen, bool reverse, struct kv_iter **it_r,
    struct buf *err)
{
	struct rdb_txn *t = (struct rdb_txn *)base;
	struct rdb_iter *it = t->free_iters;

	if (it != NULL) {
		t->free_iters = it->next_free;
		t->n_free_iters--;
	} else {
		it = xcalloc(1, sizeof(*it));
		it->t = t;
		it->ro = rocksdb_readoptions_create();
		buf_init(&it->lo, 0);
		buf_init(&it->hi, 0);
		buf_init(&it->last, 0);
		if (buf_reserve(&it->last, KV_KEY_MAX) < 0)
			PANIC("rdb_iter_new: cannot reserve an unlimited buffer");
	}
	buf_reset(&it->lo);
	buf_add(&it->lo, start, slen);
	buf_reset(&it->hi);
	it->has_hi = end != NULL;
	if (it->has_hi)
		buf_add(&it->hi, end, elen);
	rocksdb_readoptions_set_snapshot(it->ro, t->snap);
	rocksdb_readoptions_set_iterate_lower_bound(it->ro,
	    it->lo.len > 0 ? (const char *)it->lo.data : NULL, it->lo.len);
	rocksdb_readoptions_set_iterate_upper_bound(it->ro,
	    it->has_hi && !reverse ? (const char *)it->hi.data : NULL,
	    it->hi.len);
	it->reverse = reverse;
	it->has_last = false;
	it->started = false;
	it->done = false;
	*it_r = &it->base;
	return 0;
}

/* rdb_iter_build - a fresh cursor over the transaction as it is now */
static void
rdb_iter_build(struct rdb_iter *it)
{
	struct rdb_txn *t = it->t;

	if (it->it != NULL)
		rocksdb_iter_destroy(it->it);
	if (t->base.mode == KV_WRITE)
		it->it = rocksdb_transaction_create_iterator(t->txn, it->ro);
	else
		it->it = rocksdb_create_iterator(t->r->db, it->ro);
	it->gen = t->base.gen;
}

/* rdb_iter_skip - step back over keys >= k (reverse) or past k itself */
static void
rdb_iter_skip(struct rdb_iter *it, const void *k, size_t klen)
{
	const char *key;
	size_t len;

	while (rocksdb_iter_valid(it->it)) {
		key = rocksdb_iter_key(it->it, &len);
		if (it->reverse ? keycmp(key, len, k, klen) < 0 :
		    keycmp(key, len, k, klen) > 0)
			return;
		if (it->reverse)
			rocksdb_iter_prev(it->it);
		else
			rocksdb_iter_next(it->it);
	}
}

/* rdb_iter_position - move to the next candidate pair */
static void
rdb_iter_position(struct rdb_iter *it)
{
	struct buf *last = &it->last;

	if (!it->started) {
		it->started = true;
		rdb_iter_build(it);
		if (!it->reverse) {
			rocksdb_iter_seek(it->it, (const char *)it->lo.data,
			    it->lo.len);
		} else if (it->has_hi) {
			rocksdb_iter_seek_for_prev(it->it,
			    (const char *)it->hi.data, it->hi.len);
			rdb_iter_skip(it, it->hi.data, it->hi.len);
		} else {
			rocksdb_iter_seek_to_last(it->it);
		}
	} else if (it->gen != it->t->base.gen) {
		rdb_iter_build(it);
		if (it->reverse)
			rocksdb_iter_seek_for_prev(it->it,
			    (const char *)last->data, last->len);
		else
			rocksdb_iter_seek(it->it, (const char *)last->data,
			    last->len);
		rdb_iter_skip(it, last->data, last->len);
	} else if (it->reverse) {
		rocksdb_iter_prev(it->it);
	} else {
		rocksdb_iter_next(it->it);
	}
}

static int
rdb_iter_next(struct kv_iter *base, const void **key, size_t *klen,
    const void **val, size_t *vlen, struct buf *err)
{
	struct rdb_iter *it = (struct rdb_iter *)base;
	const char *k;
	size_t len;
	char *e = NULL;

	if (it->done)
		return 0;
	rdb_iter_position(it);
	if (!rocksdb_iter_valid(it->it)) {
		it->done = true;
		rocksdb_iter_get_error(it->it, &e);
		return e != NULL ? rdb_fail("iterator", e, err) : 0;
	}
	k = rocksdb_iter_key(it->it, &len);
	if (it->reverse ? keycmp(k, len, it->lo.data, it->lo.len) < 0 :
	    it->has_hi && keycmp(k, len, it->hi.data, it->hi.len) >= 0) {
		it->done = true;
		return 0;
	}
	*key = len > 0 ? k : "";
	*klen = len;
	*val = rocksdb_iter_value(it->it, vlen);
	if (*vlen == 0)
		*val = "";
	buf_reset(&it->last);	/* reserved at KV_KEY_MAX: no allocation */
	buf_add(&it->last, k, len);
	it->has_last = true;
	return 1;
}

static void
rdb_iter_free(struct kv_iter *base)
{
	struct rdb_iter *it = (struct rdb_iter *)base;
	struct rdb_txn *t = it->t;

	if (it->it != NULL) {
		rocksdb_iter_destroy(it->it);
		it->it = NULL;
	}
	if (t->n_free_iters >= RDB_FREE_ITERS_MAX) {
		rdb_iter_destroy(it);
		return;
	}
	it->next_free = t->free_iters;
	t->free_iters = it;
	t->n_free_iters++;
}

/*
 * rdb_delete_range - collect up to RDB_DELETE_BATCH keys with an
 * iterator, drop it (a write would invalidate it), delete them, go on
 * from just past the last one.
 */
static int
rdb_delete_range(struct kv_txn *base, const void *start, size_t slen,
    const void *end, size_t elen, struct buf *err)
{
	struct kv_iter *itb;
	struct buf keys = BUF_INIT(0), from = BUF_INIT(0);
	const void *k, *v;
	size_t klen, vlen, n, off;
	int r = 0;

	buf_add(&from, start, slen);
	do {
		if ((r = rdb_iter_new(base, from.data, from.len, end, elen,
		    false, &itb, err)) < 0)
			break;
		itb->txn = base;
		buf_reset(&keys);
		for (n = 0; n < RDB_DELETE_BATCH &&
		    (r = rdb_iter_next(itb, &k, &klen, &v, &vlen, err)) == 1;
		    n++) {
			buf_add(&keys, &klen, sizeof(klen));
			buf_add(&keys, k, klen);
		}
		rdb_iter_free(itb);
		if (r < 0)
			break;
		r = 0;
		for (off = 0; off < keys.len && r == 0; off += klen) {
			memcpy(&klen, keys.data + off, sizeof(klen));
			off += sizeof(klen);
			r = rdb_del(base, keys.data + off, klen, err);
			if (r == 0 && off + klen == keys.len) {
				buf_reset(&from);	/* next pass: past it */
				buf_add(&from, keys.data + off, klen);
				buf_add(&from, "", 1);
			}
		}
	} while (r == 0 && n == RDB_DELETE_BATCH);
	buf_free(&keys);
	buf_free(&from);
	return r;
}

const struct kv_ops kv_rocksdb_ops = {
	.name = "rocksdb",
	.open = rdb_open,
	.close = rdb_close,
	.begin = rdb_begin,
	.commit = rdb_commit,
	.commit_nowait = rdb_commit_nowait,
	.durable = rdb_durable,
	.abort = rdb_abort,
	.get = rdb_get,
	.put = rdb_put,
	.del = rdb_del,
	.delete_range = rdb_delete_range,
	.iter_new = rdb_iter_new,
	.iter_next = rdb_iter_next,
	.iter_free = rdb_iter_free,
};
