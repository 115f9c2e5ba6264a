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
	kv_commit_fn *commit_hook;	/* kv_set_commit_hook */
	void *commit_arg;
};

struct kv_txn {
	struct kv *kv;
	enum kv_mode mode;
	int failed;		/* 0, or the -1/KV_CONFLICT that doomed it */
	unsigned n_iters;	/* open iterators: 0 at commit and abort */
	uint64_t gen;		/* bumped before every write (see iterators) */
	uint32_t *notes;	/* kv_txn_note, distinct values; owned */
	size_t nnotes, notes_cap;
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
	/*
	 * optional (with durable): commit a write transaction without
	 * waiting until it is durable; durable(ticket) waits for that.
	 * With them kv_commit of a write is commit_nowait + durable, and
	 * commit serves read transactions only.
	 */
	int (*commit_nowait)(struct kv_txn *t, uint64_t *ticket_r,
	    struct buf *err);
	int (*durable)(struct kv *kv, uint64_t ticket, struct buf *err);
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

/*
 * kv_sync - durability after the writer lock, shared by syncs.  A backend
 * commits without syncing its log while it holds the writer lock, takes
 * a sequence number (kv_sync_committed, still under the lock), releases
 * the lock, and then waits in kv_sync_wait until a sync that started
 * after its commit has finished.  One thread syncs at a time, for every
 * commit made before it started; the others wait for it, so the next
 * writers fill the log while it syncs (group commit without holding the
 * lock across the fsync).  Correct for logs that recover a prefix: a
 * later commit can be durable only with every earlier one (SQLite's WAL
 * and RocksDB's WAL are checksummed in sequence).  A failed sync fails
 * its waiters that it covered; each of them reports the commit's outcome
 * as unknown (-1), the others sync again.
 */
typedef int kv_sync_fn(void *arg, struct buf *err);

struct kv_sync {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t committed;	/* commits made, not necessarily durable */
	uint64_t synced;	/* the first `synced` commits are durable */
	uint64_t failed;	/* the commits covered by the last failed sync */
	bool running;		/* a thread is in fn */
	kv_sync_fn *fn;
	void *arg;
};

void kv_sync_init(struct kv_sync *ks, kv_sync_fn *fn, void *arg);
void kv_sync_destroy(struct kv_sync *ks);
uint64_t kv_sync_committed(struct kv_sync *ks);
int kv_sync_wait(struct kv_sync *ks, uint64_t seq, struct buf *err)
    WARN_UNUSED;

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

/* ==== blob ==== */
#include "store/blob.h"

/*
 * ---- The backend interface: store/blob*.c only ----
 *
 * blob.c owns the public API: hashing, write batching, ranges and their
 * checks, hash verification, and the reference counts' key.  A backend
 * stores content and decides how a count change and its content change
 * are ordered (the crash-safety rules above).
 */
#include <openssl/evp.h>

#define BLOB_KV_SPILL (1u << 20)	/* kv: streamed puts past this spill */
#define BLOB_KEY_SIZE (1 + BLOB_ID_SIZE + 1 + 4)	/* longest 'B' key */

struct blob_store {
	const struct blob_ops *ops;
	struct kv *kv;
	blob_fault_fn *fault;
	void *fault_ctx;
	void *be;		/* the backend's state */
};

struct blob_writer {
	struct blob_store *bs;
	EVP_MD_CTX *md;
	uint64_t size;		/* bytes written */
	unsigned char *pend;	/* BLOB_CHUNK bytes gathered for w_append */
	size_t npend;
	bool failed;
	void *be;
};

struct blob_reader {
	struct blob_store *bs;
	struct blob_id id;
	uint64_t size;		/* of the blob */
	uint64_t pos, end;	/* next byte of the range, its end */
	EVP_MD_CTX *md;		/* whole-blob reads: checked at the end */
	/*
	 * r_open may set a checksum stored with the content (kv: XXH3-64);
	 * a whole-blob read then checks that instead of the SHA-256 id
	 */
	bool has_check;
	uint64_t check;
	struct XXH3_state_s *xxh;	/* the running check, with has_check */
	void *be;
	bool in_kv;		/* fs: the content is inline in the data store */
};

/* a pinned put (blob.h): what the backend holds until the release */
struct blob_pin {
	struct blob_store *bs;
	struct blob_id id;
	uint64_t size;
	const void *data;	/* kv: the content, borrowed from the caller */
	int fd;			/* fs: the shard, flock'ed shared */
	bool in_kv;		/* fs: kept inline, as the kv backend does */
};

struct blob_ops {
	const char *name;
	int (*open)(struct blob_store *bs, const struct blob_options *opt,
	    struct buf *err);
	void (*close)(struct blob_store *bs);
	/* the writer: begin, append (never 0 bytes), then commit (store the
	 * content unless there, count + 1) or nothing; then always end */
	int (*w_begin)(struct blob_writer *w, struct buf *err);
	int (*w_append)(struct blob_writer *w, const void *p, size_t n,
	    struct buf *err);
	int (*w_commit)(struct blob_writer *w, const struct blob_id *id,
	    struct buf *err);
	void (*w_end)(struct blob_writer *w);
	/* optional: blob_put of content in memory without the writer */
	int (*put_mem)(struct blob_store *bs, const struct blob_id *id,
	    const void *p, size_t n, struct buf *err);
	/* r_open: 1 with r->size and r->be, 0 absent; r_pread: n bytes at
	 * off (within size); BLOB_CORRUPT when stored lengths disagree */
	int (*r_open)(struct blob_reader *r, struct buf *err);
	int (*r_pread)(struct blob_reader *r, void *p, size_t n, uint64_t off,
	    struct buf *err);
	void (*r_close)(struct blob_reader *r);
	/* unref: 1 or 0 as blob_unref */
	int (*unref)(struct blob_store *bs, const struct blob_id *id,
	    struct buf *err);
	/* drop_txn (optional): remove content in the transaction that took
	 * the count to zero; reap (optional): after it, see blob_reap */
	int (*drop_txn)(struct blob_store *bs, struct kv_txn *t,
	    const struct blob_id *id, struct buf *err);
	int (*reap)(struct blob_store *bs, const struct blob_id *id,
	    struct buf *err);
	/* pin_put: pin->id and size set; make the content durable (or keep
	 * data) without a count.  pin_ref: count + 1 in t (0, -1,
	 * KV_CONFLICT).  pin_release: drop what pin_put holds */
	int (*pin_put)(struct blob_store *bs, struct blob_pin *pin,
	    const void *data, struct buf *err);
	int (*pin_ref)(struct blob_store *bs, struct kv_txn *t,
	    struct blob_pin *pin, struct buf *err);
	void (*pin_release)(struct blob_pin *pin);
};

extern const struct blob_ops blob_fs_ops;
extern const struct blob_ops blob_kv_ops;

/* blob_key - 'B' id kind into key; its length (34) */
size_t blob_key(unsigned char key[BLOB_KEY_SIZE], const struct blob_id *id,
    char kind);
/* blob_count_get - 1 with the count, 0 when absent (in t) */
int blob_count_get(struct kv_txn *t, const struct blob_id *id,
    int64_t *count_r, struct buf *err) WARN_UNUSED;
/* blob_count_add - count + delta, the key deleted at zero; *count_r the
 * new value; a count going negative is an error */
int blob_count_add(struct kv_txn *t, const struct blob_id *id,
    int64_t delta, int64_t *count_r, struct buf *err) WARN_UNUSED;
/*
 * blob_count_run - a count change in a write transaction of its own: +1
 * (must_exist: only if referenced already) or -1 (which drops the content
 * at zero when the backend does that in the transaction, drop_txn).  1,
 * or 0 when must_exist or -1 found no count; *zero_r (may be NULL): a -1
 * reached zero.
 */
int blob_count_run(struct blob_store *bs, const struct blob_id *id,
    int delta, bool must_exist, bool *zero_r, struct buf *err) WARN_UNUSED;
/* blob_fault - the injected errno of a step, 0 to go on */
int blob_fault(struct blob_store *bs, const char *step);
/* blob_err - append "blob <hex>: <what>" (and ": <strerror(e)>" if e) */
void blob_err(struct buf *err, const struct blob_id *id, const char *what,
    int e);

#endif
