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
 *   "fs" (default)  one file per blob, <root>/ab/cd/<64 hex> where ab and
 *                   cd are the first two bytes of the id in hex, mode
 *                   0600; puts stream into <root>/tmp/ and are linked
 *                   into place.  Reference counts live in the data store
 *                   (the "c" key below), so a blob store needs a struct
 *                   kv whatever its backend.
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
 *     transaction per delivery).  A delivery to N mailboxes: blob_put
 *     (its reference goes to the first record), then blob_ref_txn for
 *     each other record in the delivery's transaction.  A crash before
 *     that commits leaves one count nothing holds (a leak, as above).
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
 * never count content that an unref is about to remove.  Every call
 * blocks on the disk: workers only, never an I/O loop.  Every call but
 * the *_txn ones runs its own data store transactions: never call one
 * while holding a write transaction on the same store (the fs backend
 * would wait for the store's writer while holding a shard lock that
 * another thread inside the transaction may want: a deadlock).
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

struct blob_id {
	unsigned char b[BLOB_ID_SIZE];
};

/*
 * blob_fault_fn - tests only: called before each step of the fs write
 * and delete paths ("create", "write", "fsync", "link", "fsync_dir",
 * "unlink"); a non-zero return is taken as that step's errno.
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
 * against its id: BLOB_CORRUPT when it does not match.  Partial reads
 * are not checked.
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

#ifdef BLOB_INTERNAL
/*
 * ---- The backend interface: store/blob*.c only ----
 *
 * XXX belongs in store/store_priv.h (a "blob" section); kept here until
 * that file's owner takes it.
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
	void *be;
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
/* blob_mkdir_p - mkdir -p, 0700 for what it makes; -1 with errno */
int blob_mkdir_p(const char *dir) WARN_UNUSED;
/* blob_fault - the injected errno of a step, 0 to go on */
int blob_fault(struct blob_store *bs, const char *step);
/* blob_err - append "blob <hex>: <what>" (and ": <strerror(e)>" if e) */
void blob_err(struct buf *err, const struct blob_id *id, const char *what,
    int e);
#endif

#endif
