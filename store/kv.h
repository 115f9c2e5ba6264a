/*
 * kv.h - the data store: an ordered key-value store with transactions.
 *
 * Everything Postern keeps (accounts, mailboxes, email metadata, UIDs and
 * MODSEQs, the change log, the directory, full-text postings, blobs in
 * the in-database blob backend) is written once on top of this small
 * interface; backends implement only this.  Keys and values are byte
 * strings compared with memcmp (shorter first on a common prefix), so
 * keys encode big-endian integers to sort numerically.  The key layout
 * lives in store/LAYOUT.md.
 *
 * Backends: "sqlite" (embedded default: WAL, one writer, readers in
 * parallel), "rocksdb"; later "postgresql", "mysql".  Every backend passes
 * the same conformance suite (t/unit/kv_conformance.c).
 *
 * Transactions and concurrency - the contract every backend keeps:
 *   - A read transaction sees one consistent snapshot for its whole life.
 *   - Write transactions are serialisable.  A backend may serialise them
 *     (SQLite, and RocksDB here: one writer at a time per struct kv) or
 *     detect conflicts optimistically; then any call, most often
 *     kv_commit, may return KV_CONFLICT, the caller aborts and runs the
 *     transaction again.  kv_run() does that loop, so callers write their
 *     transaction as a function and never see KV_CONFLICT.
 *   - A write transaction reads its own writes (get and iterators).
 *   - kv_commit of a write transaction returns only when the changes are
 *     durable (fsync'ed): a crash after it loses nothing.
 *   - A struct kv is shared by all threads; a transaction and its
 *     iterators belong to the one thread that uses them.  Calls block
 *     (disk): only from worker threads, never an I/O loop.  A thread has
 *     at most one write transaction open at a time (a second kv_begin
 *     KV_WRITE fails instead of waiting for itself); read transactions
 *     may be open next to it.
 *   - A call that fails inside the backend (-1 or KV_CONFLICT) dooms the
 *     transaction: later calls return the same failure and kv_commit
 *     rolls it back, so half a transaction is never committed.  Argument
 *     errors (a key over KV_KEY_MAX, a value over KV_VALUE_MAX or over
 *     the caller's buffer, a write in a read transaction, a kv_add that
 *     overflows or finds no counter) change nothing and leave it usable.
 *   - Iterators must be freed before kv_commit/kv_abort (PANIC if not).
 *
 * Errors: functions return 0 (or 1/0 where a result is boolean, as
 * documented), -1 with one line appended to err, or KV_CONFLICT.
 */
#ifndef POSTERN_KV_H
#define POSTERN_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

#define KV_CONFLICT (-2)
#define KV_KEY_MAX 1024u		/* bytes in a key */
#define KV_VALUE_MAX (16u << 20)	/* bytes in a value */

struct kv;
struct kv_txn;
struct kv_iter;

enum kv_mode { KV_READ, KV_WRITE };

struct kv_options {
	/* "sqlite" (default when NULL), "rocksdb"; "failinject:<backend>"
	 * wraps one for tests (store/store_priv.h) */
	const char *backend;
	const char *path;	/* file (sqlite) or directory (rocksdb) */
	bool read_only;		/* e.g. a CLI next to a running server */
};

/* kv_open - open or create the store; -1 with err */
int kv_open(const struct kv_options *opt, struct kv **kv_r, struct buf *err)
    WARN_UNUSED;
/* kv_close - no transaction may be open; accepts NULL */
void kv_close(struct kv **kv);
/* kv_backend_name - "sqlite", "rocksdb", ... */
const char *kv_backend_name(const struct kv *kv);

int kv_begin(struct kv *kv, enum kv_mode mode, struct kv_txn **txn_r,
    struct buf *err) WARN_UNUSED;
/* kv_commit - make a write transaction durable and end it (*txn = NULL
 * whatever the result); a read transaction just ends */
int kv_commit(struct kv_txn **txn, struct buf *err) WARN_UNUSED;
/*
 * kv_commit_nowait - kv_commit, except that a write transaction may not
 * be durable yet when it returns 0: it is committed (later transactions
 * see it) and *ticket_r is for kv_wait_durable, which must return 0
 * before anyone is told the changes are saved.  Lets a caller (kv_group)
 * hand the writer slot to the next transaction while the log syncs.
 * *ticket_r is 0 when there is nothing to wait for.
 */
int kv_commit_nowait(struct kv_txn **txn, uint64_t *ticket_r,
    struct buf *err) WARN_UNUSED;
/* kv_wait_durable - after kv_commit_nowait; -1: the outcome is unknown */
int kv_wait_durable(struct kv *kv, uint64_t ticket, struct buf *err)
    WARN_UNUSED;
/* kv_abort - drop every change and end it; accepts NULL */
void kv_abort(struct kv_txn **txn);

/* kv_get - 1 and the value appended to val when found, 0 when not */
int kv_get(struct kv_txn *t, const void *key, size_t klen, struct buf *val,
    struct buf *err) WARN_UNUSED;
int kv_put(struct kv_txn *t, const void *key, size_t klen, const void *val,
    size_t vlen, struct buf *err) WARN_UNUSED;
/* kv_delete - absent keys are not an error */
int kv_delete(struct kv_txn *t, const void *key, size_t klen,
    struct buf *err) WARN_UNUSED;
/* kv_delete_range - every key in [start, end); end NULL or elen 0 = no
 * upper bound, as for iterators */
int kv_delete_range(struct kv_txn *t, const void *start, size_t slen,
    const void *end, size_t elen, struct buf *err) WARN_UNUSED;
/*
 * kv_add - atomic counter: the value is a signed 64-bit integer stored as
 * 8 big-endian bytes (absent = 0); adds delta and returns the new value
 * in *new_r (may be NULL).  A value of another length is an error, so is
 * overflow (the value stays as it was; no wrapping).
 */
int kv_add(struct kv_txn *t, const void *key, size_t klen, int64_t delta,
    int64_t *new_r, struct buf *err) WARN_UNUSED;

/*
 * kv_iter_new - keys in [start, end) in ascending order, or descending
 * with reverse; end NULL or elen 0 = no upper bound, so the result of
 * kv_prefix_end() can be passed as it is.  Keys may be empty.
 *
 * Writes of the iterator's own transaction while it is open: it returns
 * each key at most once, in order, and at each kv_iter_next reflects the
 * transaction as it is then for the keys still ahead of its position (a
 * key put ahead is returned with its new value, a key deleted ahead is
 * skipped); writes behind its position are not seen.
 */
int kv_iter_new(struct kv_txn *t, const void *start, size_t slen,
    const void *end, size_t elen, bool reverse, struct kv_iter **it_r,
    struct buf *err) WARN_UNUSED;
/*
 * kv_iter_next - 1 with the next pair (pointers valid until the next call
 * on it or its transaction), 0 at the end, -1/KV_CONFLICT on error.
 */
int kv_iter_next(struct kv_iter *it, const void **key, size_t *klen,
    const void **val, size_t *vlen, struct buf *err) WARN_UNUSED;
void kv_iter_free(struct kv_iter **it);

/*
 * kv_prefix_end - the smallest key greater than every key starting with
 * prefix, into out (which must hold plen bytes); its length, or 0 when no
 * such key exists (prefix all 0xff: scan to the end, pass end NULL).
 */
size_t kv_prefix_end(const void *prefix, size_t plen, unsigned char *out);

/*
 * kv_scan_txn - fn(arg, key, val) for every key from start up to the end
 * of prefix (start must begin with prefix; start == prefix scans the
 * whole prefix), in order, inside t.  fn returns 0 to go on, 1 to stop,
 * -1 on error (with a line in err).  kv_scan runs the same in a read
 * transaction of its own (kv_run).  0, or -1/KV_CONFLICT.
 */
typedef int kv_row_fn(void *arg, const unsigned char *key, size_t klen,
    const unsigned char *val, size_t vlen, struct buf *err);
int kv_scan_txn(struct kv_txn *t, const void *start, size_t slen,
    const void *prefix, size_t plen, kv_row_fn *fn, void *arg,
    struct buf *err) WARN_UNUSED;
int kv_scan(struct kv *kv, const void *start, size_t slen, const void *prefix,
    size_t plen, kv_row_fn *fn, void *arg, struct buf *err) WARN_UNUSED;

/*
 * kv_run - run fn(txn, arg, err) in a new transaction of the given mode
 * and commit it; on KV_CONFLICT (from fn or commit) abort and run it
 * again, up to 100 times with a short random backoff.  fn returning -1
 * aborts and kv_run returns -1 - unless a call inside fn had hit a
 * conflict, which is retried even if fn turned it into -1.  err holds
 * one line: earlier attempts' lines are dropped.
 */
typedef int kv_txn_fn(struct kv_txn *t, void *arg, struct buf *err);
int kv_run(struct kv *kv, enum kv_mode mode, kv_txn_fn *fn, void *arg,
    struct buf *err) WARN_UNUSED;
/* kv_run_nowait - kv_run KV_WRITE, committed with kv_commit_nowait */
int kv_run_nowait(struct kv *kv, kv_txn_fn *fn, void *arg,
    uint64_t *ticket_r, struct buf *err) WARN_UNUSED;

/*
 * Commit notes: how a writer tells others what it changed, once it is
 * done.  kv_txn_note(t, v) attaches v to the write transaction t (each
 * value once); when t has committed - never when it is rolled back or
 * aborted - the kv's commit hook, if set, gets the notes of t, on the
 * committing thread, outside any transaction, as soon as the changes are
 * visible to new transactions (before a nowait commit is durable).  The
 * mail model notes the account of every change it logs, and the store
 * turns that into its change hooks (store.h store_add_change_hook): an
 * IDLE session hears of a delivery at once.  A hook must be quick and
 * must not block or open a transaction.  kv_set_commit_hook before the
 * kv is shared between threads; a kv_txn_note in a read transaction is
 * ignored.
 */
typedef void kv_commit_fn(void *arg, const uint32_t *notes, size_t n);
void kv_set_commit_hook(struct kv *kv, kv_commit_fn *fn, void *arg);
void kv_txn_note(struct kv_txn *t, uint32_t v);

/*
 * Group commit.  Every write commit costs a sync of the backend's log
 * (SQLite: an fdatasync of the WAL behind its one writer), so threads
 * that each run a small write transaction at the same moment are better
 * served by one transaction holding all their work and one commit.
 * kv_group_run(g, fn, arg, err) means kv_run(kv, KV_WRITE, fn, arg, err)
 * - fn runs (perhaps several times, on conflicts) and its writes commit
 * or not - except that calls arriving while a group transaction is being
 * committed wait and then run together, each fn after the other in ONE
 * transaction, in the thread of whichever caller leads the group.  So:
 *   - fn must not keep state across calls other than through arg (as
 *     with kv_run), and it sees the writes of the fns before it in the
 *     group (the same as if they had committed first);
 *   - a fn that returns -1 is not committed and neither, in that
 *     attempt, is anyone else's work: the group is then run again with
 *     each fn in a transaction of its own, so one failure (a bad message,
 *     a full disk) is reported to its caller only;
 *   - the commit happens before any caller returns 0; a group waits for
 *     its commit to be durable after letting the next group start
 *     (kv_commit_nowait), so syncs overlap the next group's work.
 * A lone caller pays nothing: with no group forming it runs at once.
 */
struct kv_group;

/* kv_group_new - batches of at most max_batch (0 = 64) calls on kv */
struct kv_group *kv_group_new(struct kv *kv, size_t max_batch);
/* kv_group_free - no call may be running; accepts NULL */
void kv_group_free(struct kv_group **g);
int kv_group_run(struct kv_group *g, kv_txn_fn *fn, void *arg,
    struct buf *err) WARN_UNUSED;
/* kv_group_stats - calls and committed group transactions so far */
void kv_group_stats(struct kv_group *g, uint64_t *calls_r,
    uint64_t *groups_r);

#endif
