/*
 * blob.h - the blob store: content-addressed put/get/delete of raw
 * messages and other large objects, with reference counts, so a message
 * delivered to 50 recipients is stored once.
 *
 * A blob's id is the SHA-256 of its content (32 bytes; 64 lowercase hex
 * digits where a name is needed).  Content never changes once stored.
 * Putting content that is already there adds a reference instead of
 * writing it again; blob_unref drops one and the content goes with the
 * last one.
 *
 * Backends:
 *
 *   "fs" (default)  one file per blob, <root>/ab/<64 hex> where ab is
 *                   the first byte of the id in hex, mode 0600; puts
 *                   stream into an unnamed file (or one in <root>/tmp/)
 *                   and are linked into place.  Reference counts live in
 *                   the data store (the "c" key below), so a blob store
 *                   needs a struct kv whatever its backend.
 *   "kv"            everything in the data store.
 *
 * Key layout in the data store (subspace 'B' = 0x42; id = 32 raw bytes;
 * integers big-endian):
 *
 *   'B' id 'c'            refcount: 8-byte signed counter (kv_add); present
 *                         iff the blob is referenced (deleted at zero).
 *                         Both backends.
 *   'B' id 'd' u32 index  kv backend: content chunk index, BLOB_CHUNK bytes
 *                         each except the last (which is never empty; an
 *                         empty blob has no chunk).
 *   'B' id 'h'            kv backend: header, u64 size then u32 chunk
 *                         size: present iff the content is stored.
 *
 * Crash safety - the order that keeps counts from ever being too low:
 *   - Content is durable before the reference that counts it: fs writes
 *     the temporary file, fsyncs it, links it under its name, fsyncs the
 *     directory and only then commits count + 1; kv writes the chunks,
 *     the header and the count in one transaction.
 *   - Dropping the last reference commits the count's deletion first and
 *     removes the content after (fs: unlink, then fsync the directory;
 *     kv: in the same transaction).
 *   - So a crash, or an error whose outcome is unknown (a failed commit),
 *     can leave content that nothing counts (an orphan: wasted space,
 *     never wrong data), never a count without its content.
 *     XXX a sweep (files or 'h' keys with no 'c' key, under the shard
 *     lock) would reclaim orphans; there is none yet.
 *   - Callers keep the same order one level up: take the reference before
 *     the record that holds the blob id is committed and drop it after
 *     that record is gone; or, exactly, call blob_ref_txn/blob_unref_txn
 *     inside the transaction that writes the record (store/LAYOUT.md: one
 *     transaction per delivery).  A delivery to N mailboxes:
 *     blob_put_pinned, then blob_ref_pinned_txn for each record in the
 *     delivery's transaction, then blob_pin_release: the counts commit
 *     with the records, and a crash before that leaves at worst an
 *     orphan (fs), never a count nothing holds.
 *   - A call reported failed after its commit was attempted may still
 *     have happened (a commit's outcome can be unknown).  A retried
 *     blob_put only leaks; a retried blob_unref could drop someone else's
 *     reference, so where that matters use blob_unref_txn with the
 *     deletion of the record, which a retry then does not find.
 *
 * Concurrency: a struct blob_store is shared by all threads; a writer or
 * a reader belongs to the thread that uses it.  fs serialises, per shard
 * directory (flock, so across processes too), "is the file there, count
 * + 1" against "count - 1 reached zero, unlink", which is what lets a put
 * never count content that an unref is about to remove; a pin (below)
 * holds the same lock shared.  Every call blocks on the disk: workers
 * only, never an I/O loop.  Every call but the *_txn ones runs its own
 * data store transactions or takes a shard lock: never call one while
 * holding a write transaction on the same store (the fs backend would
 * wait for the store's writer, or for a pin whose owner waits for it,
 * while holding a shard lock: a deadlock).  The *_txn calls take no
 * lock and may run in any transaction.
 *
 * Errors: fallible calls return 0 (or 1/0 for found/not found where
 * documented), -1 with one line appended to err, or BLOB_CORRUPT when
 * content read back does not hash to its id.  The calls meant to run in
 * a caller's kv transaction pass KV_CONFLICT through.
 */
#ifndef POSTERN_BLOB_H
#define POSTERN_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

#define BLOB_ID_SIZE 32
#define BLOB_HEX_SIZE (2 * BLOB_ID_SIZE + 1)	/* hex digits and a NUL */
#define BLOB_CHUNK (64u << 10)	/* kv chunk size, also the write batch */
#define BLOB_TO_END UINT64_MAX	/* a range length meaning "to the end" */
#define BLOB_CORRUPT (-3)	/* not KV_CONFLICT (-2): both may meet */

struct kv;
struct kv_txn;
struct blob_store;
struct blob_writer;
struct blob_reader;
struct blob_pin;

struct blob_id {
	unsigned char b[BLOB_ID_SIZE];
};

/*
 * blob_fault_fn - tests only: called before each step of the fs write
 * and delete paths ("create", "write", "fsync", "link", "fsync_dir",
 * "unlink"), and at open before trying unnamed files ("tmpfile"); a
 * non-zero return is taken as that step's errno.
 */
typedef int blob_fault_fn(void *ctx, const char *step);

struct blob_options {
	const char *backend;	/* "fs" (default when NULL), "kv" */
	/*
	 * fs: the root directory, created if missing.  kv: a directory for
	 * the scratch file of a streamed put over 1 MiB (NULL =
	 * "/tmp"); the file is unnamed (or unlinked at once).
	 */
	const char *path;
	struct kv *kv;		/* the data store, borrowed; required */
	blob_fault_fn *fault;	/* NULL in production */
	void *fault_ctx;
	/*
	 * fs: a pinned put (blob_put_pinned) of at most inline_max bytes
	 * keeps its content in the data store, written by the filing
	 * transaction itself, as the kv backend does: no file, no inode,
	 * no fsync of its own for the small messages that are most mail.
	 * Reads, counts and removal find the content wherever it is.  0 =
	 * every blob in a file.
	 */
	uint64_t inline_max;
};

/* blob_open - -1 with err; on fs also removes temporary files older than
 * an hour that a crash left in <root>/tmp/ */
int blob_open(const struct blob_options *opt, struct blob_store **bs_r,
    struct buf *err) WARN_UNUSED;
/* blob_close - no writer or reader may be open; accepts NULL */
void blob_close(struct blob_store **bs);
const char *blob_backend_name(const struct blob_store *bs);

/* ids */
void blob_id_of(const void *data, size_t len, struct blob_id *id_r);
void blob_id_hex(const struct blob_id *id, char hex[BLOB_HEX_SIZE]);
/* blob_id_parse - exactly 64 hex digits (either case); 0/-1 */
int blob_id_parse(const char *hex, size_t len, struct blob_id *id_r)
    WARN_UNUSED;

/*
 * blob_put - store len bytes (copied, or found already there) and add
 * one reference, which the caller owns; the id in *id_r.  Returns when
 * content and count are durable.
 */
int blob_put(struct blob_store *bs, const void *data, size_t len,
    struct blob_id *id_r, struct buf *err) WARN_UNUSED;

/*
 * Pinned put: the content stored, its count taken in the caller's
 * transaction, so a delivery commits its references with its records
 * and runs no data store commit of its own for them.
 *
 * blob_put_pinned - make len bytes durable under their id (*id_r)
 * WITHOUT touching the count, and return a pin that keeps the content
 * from being removed, by this process or another, until
 * blob_pin_release: an unref or reap of the same content waits for the
 * pin (fs), or meets the content written in the very transaction that
 * counts it (kv).  The kv backend writes nothing here: it keeps the
 * pointer, so data must stay valid and unchanged until the pin is
 * released.  -1 with err, nothing pinned.
 *
 * blob_ref_pinned_txn - count + 1 inside t (on the struct kv given at
 * blob_open), also from zero: the pin vouches for the content (kv: it is
 * written in t when absent).  Callable any number of times, one per
 * record that holds the id, in any number of attempts of a transaction
 * (an aborted one takes its counts with it).  0, -1, KV_CONFLICT (pass it
 * on to kv_run).
 *
 * blob_pin_release - after the transaction has committed or been given
 * up, never before: releasing first would let a reap remove content the
 * commit is about to count.  Content nothing counts then is an orphan
 * (fs; kv has none).  Accepts NULL, sets *pin to NULL.
 *
 * A thread holding a pin must not call blob_put, blob_writer_finish,
 * blob_unref or blob_reap: they wait, on fs, for every pin of the
 * content's shard, its own included.  It may take more pins (a group
 * commit of several messages) and run write transactions; another thread
 * may call blob_ref_pinned_txn with it (a group commit's leader running
 * the members' transactions), one at a time.  An fs pin is a descriptor
 * (close-on-exec): a child forked while it is held and not exec'ed holds
 * the lock too until it closes it or exits.
 */
int blob_put_pinned(struct blob_store *bs, const void *data, size_t len,
    struct blob_id *id_r, struct blob_pin **pin_r, struct buf *err)
    WARN_UNUSED;
int blob_ref_pinned_txn(struct blob_store *bs, struct kv_txn *t,
    struct blob_pin *pin, struct buf *err) WARN_UNUSED;
void blob_pin_release(struct blob_pin **pin);

/*
 * Streaming put: the id is computed while writing.  Nothing is visible
 * under the id before blob_writer_finish succeeds, which then means what
 * blob_put means.  After an error of blob_writer_write, finish fails too;
 * finish and abort free the writer (*w = NULL) whatever the result.
 */
int blob_writer_new(struct blob_store *bs, struct blob_writer **w_r,
    struct buf *err) WARN_UNUSED;
int blob_writer_write(struct blob_writer *w, const void *data, size_t len,
    struct buf *err) WARN_UNUSED;
int blob_writer_finish(struct blob_writer **w, struct blob_id *id_r,
    struct buf *err) WARN_UNUSED;
/* blob_writer_abort - drop everything written; accepts NULL */
void blob_writer_abort(struct blob_writer **w);

/* blob_ref - one more reference to a stored blob: 1, or 0 when there is
 * no such (referenced) blob; the content is not touched */
int blob_ref(struct blob_store *bs, const struct blob_id *id,
    struct buf *err) WARN_UNUSED;
/*
 * blob_unref - drop one reference, and the content with the last: 1, or
 * 0 when the blob had no reference.  Once the count is committed the
 * call succeeds: a failure to remove the content after that is logged
 * (and leaves an orphan), never reported, so a caller never retries an
 * unref that happened.
 */
int blob_unref(struct blob_store *bs, const struct blob_id *id,
    struct buf *err) WARN_UNUSED;
/* blob_refcount - 1 with the count (>= 1), 0 when unreferenced */
int blob_refcount(struct blob_store *bs, const struct blob_id *id,
    uint64_t *count_r, struct buf *err) WARN_UNUSED;

/*
 * The same inside a caller's write transaction t, which must be on the
 * struct kv given at blob_open, so the reference commits with the record
 * that holds it.  blob_ref_txn: 1, or 0 when not referenced.
 * blob_unref_txn: 1, or 0 when not referenced; *reap_r true means the
 * count reached zero and, once t is committed, blob_reap must be called
 * to remove the content (until then, or if it never is, an orphan).
 * Both may return KV_CONFLICT: pass it on to kv_run.
 */
int blob_ref_txn(struct blob_store *bs, struct kv_txn *t,
    const struct blob_id *id, struct buf *err) WARN_UNUSED;
int blob_unref_txn(struct blob_store *bs, struct kv_txn *t,
    const struct blob_id *id, bool *reap_r, struct buf *err) WARN_UNUSED;
/* blob_reap - remove the content if it is (still) unreferenced; 0/-1 */
int blob_reap(struct blob_store *bs, const struct blob_id *id,
    struct buf *err) WARN_UNUSED;

/*
 * Reading.  Content may be there without a reference (an orphan, see
 * above): reading does not consult the count.
 *
 * A range is (offset, length), length BLOB_TO_END for "to the end"; the
 * bytes read are [offset, min(offset + length, size)): a range past the
 * end is a short read, one starting at or after the end an empty one
 * (IMAP's partial FETCH wants exactly that, RFC 3501 6.4.5).
 *
 * Reading the whole blob (offset 0, length >= size) checks the content
 * against its id, or against the checksum the backend stored with it
 * (XXH3-64: in the data store's header, on a file as an xattr):
 * BLOB_CORRUPT when it does not match.  Partial reads are not checked.
 */

/* blob_size - 1 with the size, 0 when absent */
int blob_size(struct blob_store *bs, const struct blob_id *id,
    uint64_t *size_r, struct buf *err) WARN_UNUSED;
/*
 * blob_get - 1 with the range appended to out, 0 when absent, -1 (out
 * unchanged) when it would pass out->max, BLOB_CORRUPT.
 */
int blob_get(struct blob_store *bs, const struct blob_id *id,
    uint64_t offset, uint64_t length, struct buf *out, struct buf *err)
    WARN_UNUSED;

/* blob_reader_open - 1 with a reader over the range, 0 when absent */
int blob_reader_open(struct blob_store *bs, const struct blob_id *id,
    uint64_t offset, uint64_t length, struct blob_reader **r_r,
    struct buf *err) WARN_UNUSED;
/*
 * blob_reader_read - up to cap (> 0) bytes into p: 0 with *n_r (0 at the
 * end of the range), -1.  A reader over the whole blob checks it on the read
 * that reaches the end, which returns BLOB_CORRUPT instead of its bytes
 * on a mismatch.  fs readers keep the file open, so content unreferenced
 * meanwhile still reads; kv readers fetch chunks as they go and fail
 * (-1) when the blob was deleted under them.
 */
int blob_reader_read(struct blob_reader *r, void *p, size_t cap,
    size_t *n_r, struct buf *err) WARN_UNUSED;
/* blob_reader_size - the size of the whole blob */
uint64_t blob_reader_size(const struct blob_reader *r);
void blob_reader_close(struct blob_reader **r);

#endif
