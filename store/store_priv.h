/*
 * store_priv.h - internals shared inside store/; no other folder includes
 * this file.  One section per module.
 */
#ifndef POSTERN_STORE_PRIV_H
#define POSTERN_STORE_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "store/kv.h"

/*
 * ---- kv: the front end (kv.c) and its backends ----
 *
 * kv.c owns the public API: argument and limit checks, transaction
 * bookkeeping, kv_add, kv_run.  A backend implements struct kv_ops and
 * embeds struct kv, struct kv_txn and struct kv_iter as the FIRST member
 * of its own objects, so a pointer to one is a pointer to the other.  The
 * front end fills the base fields; a backend only reads them (mode, gen).
 *
 * A backend sees only valid calls: keys and bounds within KV_KEY_MAX,
 * values within KV_VALUE_MAX, never NULL pointers (an empty key or value
 * is a non-NULL pointer with length 0), writes only in KV_WRITE
 * transactions, never a call on a transaction that already failed, no
 * commit or abort while an iterator is open.  A backend call returning -1
 * or KV_CONFLICT dooms the transaction: the front end refuses further
 * calls and kv_commit rolls back and reports the failure, so a caller
 * that ignores an error can never commit half a transaction.
 */

struct kv {
	const struct kv_ops *ops;
	bool read_only;
	atomic_uint n_txns;	/* open transactions: kv_close PANICs if any */
};

struct kv_txn {
	struct kv *kv;
	enum kv_mode mode;
	int failed;		/* 0, or the -1/KV_CONFLICT that doomed it */
	unsigned n_iters;	/* open iterators: 0 at commit and abort */
	uint64_t gen;		/* bumped before every write (see iterators) */
};

/*
 * Iterators and writes in the same transaction (the contract of
 * kv_iter_next, kept by every backend): an iterator returns each key at
 * most once, in order, and on every call reflects the transaction as it
 * is at that call for the keys still ahead of it.  A key written ahead
 * of its position is returned with the new value, a key deleted ahead is
 * skipped, writes behind it are not seen.  Backends keep this by
 * comparing the transaction's gen with the one their cursor was built at
 * and, when it moved, seeking a fresh cursor just past the last key.
 */
struct kv_iter {
	struct kv_txn *txn;
};

struct kv_ops {
	const char *name;
	/* arg: what follows "name:" in the backend option, NULL if nothing */
	int (*open)(const struct kv_options *opt, const char *arg,
	    struct kv **kv_r, struct buf *err);
	void (*close)(struct kv *kv);
	int (*begin)(struct kv *kv, enum kv_mode mode, struct kv_txn **t_r,
	    struct buf *err);
	/* commit ends t whatever it returns; abort ends it too */
	int (*commit)(struct kv_txn *t, struct buf *err);
	void (*abort)(struct kv_txn *t);
	/* get: 1 with *val_r valid until the next call on t, 0 if absent */
	int (*get)(struct kv_txn *t, const void *key, size_t klen,
	    const void **val_r, size_t *vlen_r, struct buf *err);
	int (*put)(struct kv_txn *t, const void *key, size_t klen,
	    const void *val, size_t vlen, struct buf *err);
	int (*del)(struct kv_txn *t, const void *key, size_t klen,
	    struct buf *err);
	/* delete_range and iter_new: end NULL = no upper bound */
	int (*delete_range)(struct kv_txn *t, const void *start, size_t slen,
	    const void *end, size_t elen, struct buf *err);
	int (*iter_new)(struct kv_txn *t, const void *start, size_t slen,
	    const void *end, size_t elen, bool reverse, struct kv_iter **it_r,
	    struct buf *err);
	int (*iter_next)(struct kv_iter *it, const void **key, size_t *klen,
	    const void **val, size_t *vlen, struct buf *err);
	void (*iter_free)(struct kv_iter *it);
};

extern const struct kv_ops kv_sqlite_ops;
extern const struct kv_ops kv_rocksdb_ops;
extern const struct kv_ops kv_failinject_ops;

/*
 * kv_wlock - the one-writer-at-a-time lock of the SQLite and RocksDB
 * backends: a ticket lock, so writers get in in arrival order instead of
 * racing (SQLite's busy handler polls with sleeps, which starves some
 * threads and wastes time under contention).  It is not owned by a
 * thread in the pthread sense, so a transaction may in principle be
 * finished by another thread than the one that began it.  A thread that
 * already holds it and asks again gets an error instead of a deadlock.
 */
struct kv_wlock {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t next;		/* next ticket to hand out */
	uint64_t serving;	/* ticket that may write now */
	bool held;
	pthread_t owner;	/* valid while held */
};

void kv_wlock_init(struct kv_wlock *w);
void kv_wlock_destroy(struct kv_wlock *w);
int kv_wlock_acquire(struct kv_wlock *w, struct buf *err) WARN_UNUSED;
void kv_wlock_release(struct kv_wlock *w);

/* kv_unbounded_end - KV_KEY_MAX + 1 bytes of 0xff: above every valid key */
extern const unsigned char kv_unbounded_end[KV_KEY_MAX + 1];

/*
 * ---- kv failinject: "failinject:<inner>" wraps another backend ----
 *
 * Every call passes through to the inner store; kv_failinject_set arms
 * one failure: the nth operation (1 = the next one) whose bit is in ops
 * returns result (-1 or KV_CONFLICT) instead of reaching the inner store
 * (the transaction is then doomed, as after a real failure).
 * KV_FI_COMMIT_AFTER is the ambiguous case of a network database: the
 * commit reaches the inner store and succeeds, the caller is told it
 * failed.  kv_add is a get then a put, so KV_FI_GET/KV_FI_PUT reach it.
 * The counters let a test replay a transaction once per step.  Calling
 * these on a store of another backend is a bug (PANIC).
 */
enum kv_fi_op {
	KV_FI_BEGIN = 1u << 0,
	KV_FI_COMMIT = 1u << 1,		/* fails before the inner commit */
	KV_FI_COMMIT_AFTER = 1u << 2,	/* inner commit done, error reported */
	KV_FI_GET = 1u << 3,
	KV_FI_PUT = 1u << 4,
	KV_FI_DELETE = 1u << 5,
	KV_FI_DELETE_RANGE = 1u << 6,
	KV_FI_ITER_NEW = 1u << 7,
	KV_FI_ITER_NEXT = 1u << 8,
	/* every operation; a commit fails before the inner one */
	KV_FI_ALL = 0x1fbu,
};

/* kv_failinject_set - arm (nth >= 1) or disarm (nth 0) */
void kv_failinject_set(struct kv *kv, unsigned ops, unsigned nth,
    int result);
/* kv_failinject_count - operations with a bit in ops seen since open */
uint64_t kv_failinject_count(struct kv *kv, unsigned ops);
/* kv_failinject_fired - whether the failure armed last has happened */
bool kv_failinject_fired(struct kv *kv);

#endif
