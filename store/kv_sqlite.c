/*
 * kv_sqlite.c - the embedded default kv backend: one SQLite file holding
 * two tables,
 *
 *     CREATE TABLE kvs (key BLOB PRIMARY KEY, value BLOB NOT NULL)
 *         WITHOUT ROWID
 *     CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL)
 *
 * each ordered by memcmp on the key (how SQLite compares BLOBs: shorter
 * first on a common prefix), which is the order kv.h promises.  A key
 * lives in one of them by its first byte (store/LAYOUT.md's subspace):
 * the subspaces of large values (SQ_BIG_PREFIXES: MIME metadata, posting
 * lists, blob chunks, JMAP objects, annotations, vacation texts) in the
 * rowid table kv, every other one in kvs.
 *
 * Why two: in a WITHOUT ROWID table the value lives in the key's B-tree,
 * so a get is one B-tree search and a scan reads keys and values from the
 * same pages; but a value over ~1 KB (a quarter of a page) overflows
 * there, and seeking past a 1 MB posting list copied it (100k get+put of
 * the fts tests were 15x slower).  In the rowid table the key index holds
 * only keys and a value up to a page stays in the table's leaf, at the
 * cost of a second search (index, then rowid) per row.  Per-message
 * records ('U' flags, 'S', 'E', 'O', ...) are small and read 20,000 at a
 * time by SELECT and SEARCH: in kvs, SELECT of 20,000 messages fell from
 * 22 ms to 7 ms; MIME metadata ('I', 1-3 KB) stays where it does not
 * overflow.  Every subspace is a run of first bytes, so a range that
 * crosses runs is read as one segment per run, in order (sq_iter_next).
 *
 * A database from before the split (PRAGMA user_version 0) is split on
 * the first read-write open: the small subspaces move to kvs in one
 * transaction, then user_version = 1.  A read-only open of such a file
 * reads everything from kv.  Keys and values are always bound as BLOBs,
 * never text, so no affinity conversion touches them.
 *
 * Concurrency: the file is in WAL mode.  A read transaction is BEGIN
 * followed by one read, which pins its WAL snapshot at kv_begin (a bare
 * BEGIN would take it at the first read); readers never block each other
 * or the writer.  Writers in this process queue on a ticket lock
 * (kv_wlock) and then BEGIN IMMEDIATE, so there is one writer at a time
 * and no KV_CONFLICT; another process writing the same file (the CLI) is
 * waited for up to SQ_BUSY_MS by SQLite's busy handler, after which
 * kv_begin fails with "database is locked" (-1, not KV_CONFLICT: kv_run
 * would only wait again).
 *
 * Durability: the writer connection runs with synchronous=NORMAL, so
 * COMMIT appends the transaction's frames to the WAL without an fsync;
 * sq_commit then releases the writer lock and returns only once an
 * fdatasync of the WAL that began after its COMMIT has finished
 * (kv_sync in store_priv.h: one sync at a time covers every commit
 * before it, and the next writers work meanwhile).  SQLite's WAL
 * recovers a prefix (frames are checksummed in a chain), so a
 * transaction whose frames are synced survives a crash with everything
 * before it.  Readers may see a commit a few milliseconds before it is
 * durable; a crash then loses what no caller was told is saved.  The
 * automatic checkpoint, which would run inside COMMIT under the lock, is
 * replaced by a checkpointer thread (sq_checkpointer).  Other
 * connections keep synchronous=FULL.
 *
 * Connections: a pool.  A transaction takes an idle connection (opening
 * one if none is idle) and gives it back at its end, so each thread has
 * its own and a connection serves one transaction at a time (hence
 * SQLITE_OPEN_NOMUTEX).  struct sq_conn embeds the struct kv_txn: a
 * transaction costs no allocation.  Statements are prepared once per
 * connection (SQLITE_PREPARE_PERSISTENT) and reset after use; iterator
 * objects with their two statements are kept on the connection for reuse.
 *
 * Iterators are plain SQLite cursors (SELECT ... WHERE key >= ?1 AND key
 * < ?2 ORDER BY key [DESC]): SQLite steps through the B-tree, so a scan
 * of a huge range holds one row at a time, and inside the transaction
 * every step sees its snapshot (read) or its own writes (write).  No
 * upper bound binds kv_unbounded_end, above every valid key, so one
 * statement serves both cases.  SQLite leaves it undefined whether a
 * running SELECT sees writes made on the same connection after it
 * started, so when the transaction wrote since the cursor was bound
 * (gen moved) the cursor is rebound just past the last key returned:
 * "last key + 0x00" inclusive going forward, "last key" exclusive going
 * back.  That gives the semantics of store_priv.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "store/kv.h"
#include "store/store_priv.h"

#define SQ_BUSY_MS 5000		/* wait for another process's writer */
#define SQ_IDLE_MAX 16		/* idle connections kept open */
#define SQ_FREE_ITERS_MAX 4	/* iterator objects kept per connection */
/* the writer connection: its page cache, no sync in COMMIT (see above) */
#define SQ_WRITER_PRAGMA "PRAGMA cache_size = -8192; "	/* KiB: 8 MiB */ \
	"PRAGMA synchronous = NORMAL"
#define SQ_CKPT_FRAMES 4000	/* WAL frames that wake the checkpointer */
/*
 * Every connection maps the database file (the WAL is still read with
 * pread): a read connection loses its page cache whenever another one
 * commits, and re-reading each page with pread was the largest cost of
 * IMAP FETCH (copies out of the kernel's cache, 10% of the server's CPU
 * in perf).  Address space only; pages are the kernel's cache, shared.
 */
#define SQ_MMAP_PRAGMA "PRAGMA mmap_size = 1073741824"	/* 1 GiB */

/* the subspaces (first key bytes) of large values: table kv */
#define SQ_BIG_PREFIXES "BFIJNV"
#define SQ_LAYOUT 1		/* PRAGMA user_version of the split */
#define SQ_RUNS_MAX 16		/* runs of first bytes in one table */

enum sq_tab { SQ_KV, SQ_KVS, SQ_TABS };	/* rowid, WITHOUT ROWID */

enum sq_stmt {
	SQ_BEGIN_R,
	SQ_SNAPSHOT,
	SQ_BEGIN_W,
	SQ_COMMIT,
	SQ_ROLLBACK,
	SQ_GET,			/* from here on: one per table */
	SQ_PUT,
	SQ_DEL,
	SQ_DEL_RANGE,
	SQ_N
};

#define SQ_TABLE_SQL(T) \
	[SQ_GET] = "SELECT value FROM " T " WHERE key = ?1", \
	[SQ_PUT] = "INSERT INTO " T " (key, value) VALUES (?1, ?2) " \
	    "ON CONFLICT (key) DO UPDATE SET value = excluded.value", \
	[SQ_DEL] = "DELETE FROM " T " WHERE key = ?1", \
	[SQ_DEL_RANGE] = "DELETE FROM " T " WHERE key >= ?1 AND key < ?2"

static const char *const sq_sql[SQ_TABS][SQ_N] = {
	[SQ_KV] = {
		[SQ_BEGIN_R] = "BEGIN DEFERRED",
		[SQ_SNAPSHOT] = "SELECT 1 FROM kv LIMIT 1",
		[SQ_BEGIN_W] = "BEGIN IMMEDIATE",
		[SQ_COMMIT] = "COMMIT",
		[SQ_ROLLBACK] = "ROLLBACK",
		SQ_TABLE_SQL("kv"),
	},
	[SQ_KVS] = { SQ_TABLE_SQL("kvs") },
};

#define SQ_ITER_SQL(T) { \
	"SELECT key, value FROM " T " WHERE key >= ?1 AND key < ?2 " \
	    "ORDER BY key", \
	"SELECT key, value FROM " T " WHERE key >= ?1 AND key < ?2 " \
	    "ORDER BY key DESC" }

static const char *const sq_iter_sql[SQ_TABS][2] = {
	[SQ_KV] = SQ_ITER_SQL("kv"),
	[SQ_KVS] = SQ_ITER_SQL("kvs"),
};

static const char sq_schema[] =
	"CREATE TABLE IF NOT EXISTS kv (key BLOB PRIMARY KEY, "
	"value BLOB NOT NULL); "
	"CREATE TABLE IF NOT EXISTS kvs (key BLOB PRIMARY KEY, "
	"value BLOB NOT NULL) WITHOUT ROWID";

/* a run of first key bytes [lo, hi) stored in one table; hi 256: the end */
struct sq_run {
	uint16_t lo, hi;
	enum sq_tab tab;
};

struct kv_sqlite;
struct sq_conn;

struct sq_iter {
	struct kv_iter base;
	struct sq_conn *c;
	/* [table][forward, reverse]; prepared on first use */
	sqlite3_stmt *st[SQ_TABS][2];
	sqlite3_stmt *cur;	/* the segment's statement */
	struct buf olo;		/* the whole range: inclusive */
	struct buf ohi;		/* exclusive, when has_ohi */
	struct buf lo;		/* the segment's ?1, inclusive */
	struct buf hi;		/* its ?2, exclusive, when has_hi */
	struct buf last;	/* the last key returned, when has_last */
	bool reverse, has_ohi, has_hi, has_last, bound, done, in_seg;
	int run;		/* the segment's run (index in s->runs) */
	uint64_t gen;		/* the transaction's gen when bound */
	struct sq_iter *next_free;
};

struct sq_conn {
	struct kv_txn base;	/* first: the connection is the transaction */
	struct kv_sqlite *s;
	sqlite3 *db;
	sqlite3_stmt *st[SQ_TABS][SQ_N];
	sqlite3_stmt *get_row;	/* the get statement left on its row */
	struct sq_iter *free_iters;
	unsigned n_free_iters;
	struct sq_conn *next_idle;
};

struct kv_sqlite {
	struct kv base;
	char *path;
	bool read_only;
	/* first key byte -> table; the runs of equal tables, in order */
	uint8_t tab_of[256];
	struct sq_run runs[SQ_RUNS_MAX];
	int nruns;
	pthread_mutex_t mu;	/* guards idle and n_idle */
	struct sq_conn *idle;
	unsigned n_idle;
	struct kv_wlock wlock;
	struct sq_conn *writer;	/* kept for write transactions; wlock */
	struct kv_sync sync;	/* fdatasync of the WAL after COMMIT */
	char *wal;		/* its path */
	/* the checkpointer thread: started on first need, guarded by mu */
	pthread_t ckpt;
	pthread_cond_t ckpt_cv;
	bool ckpt_started, ckpt_wanted, ckpt_stop;
};

static int
sq_fail(struct sq_conn *c, const char *what, struct buf *err)
{
	buf_addf(err, "sqlite %s: %s (%d)", what, sqlite3_errmsg(c->db),
	    sqlite3_extended_errcode(c->db));
	return -1;
}

static sqlite3_stmt *
sq_prepare(struct sq_conn *c, const char *sql, struct buf *err)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st,
	    NULL) != SQLITE_OK) {
		(void)sq_fail(c, "prepare", err);
		return NULL;
	}
	return st;
}

/* sq_stmt - the connection's statement id on tab, prepared on first use */
static sqlite3_stmt *
sq_stmt(struct sq_conn *c, enum sq_tab tab, enum sq_stmt id,
    struct buf *err)
{
	if (c->st[tab][id] == NULL)
		c->st[tab][id] = sq_prepare(c, sq_sql[tab][id], err);
	return c->st[tab][id];
}

/* sq_tab - the table holding key */
static inline enum sq_tab
sq_tab(const struct sq_conn *c, const void *key, size_t klen)
{
	return (enum sq_tab)c->s->tab_of[klen > 0 ?
	    *(const unsigned char *)key : 0];
}

/* sq_exec - run a statement (of table kv) that returns no row, reset it */
static int
sq_exec(struct sq_conn *c, enum sq_stmt id, const char *what,
    struct buf *err)
{
	sqlite3_stmt *st = sq_stmt(c, SQ_KV, id, err);
	int rc;

	if (st == NULL)
		return -1;
	rc = sqlite3_step(st);
	(void)sqlite3_reset(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return sq_fail(c, what, err);
	return 0;
}

static void
sq_iter_destroy(struct sq_iter *it)
{
	for (size_t t = 0; t < SQ_TABS; t++) {
		sqlite3_finalize(it->st[t][0]);
		sqlite3_finalize(it->st[t][1]);
	}
	buf_free(&it->olo);
	buf_free(&it->ohi);
	buf_free(&it->lo);
	buf_free(&it->hi);
	buf_free(&it->last);
	free(it);
}

static void
sq_conn_close(struct sq_conn *c)
{
	struct sq_iter *it;

	if (c == NULL)
		return;
	while ((it = c->free_iters) != NULL) {
		c->free_iters = it->next_free;
		sq_iter_destroy(it);
	}
	for (size_t t = 0; t < SQ_TABS; t++)
		for (size_t i = 0; i < SQ_N; i++)
			sqlite3_finalize(c->st[t][i]);
	sqlite3_close(c->db);
	free(c);
}

static int
sq_conn_open(struct kv_sqlite *s, struct sq_conn **c_r, struct buf *err)
{
	struct sq_conn *c = xcalloc(1, sizeof(*c));
	int flags = SQLITE_OPEN_NOMUTEX | (s->read_only ? SQLITE_OPEN_READONLY :
	    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
	int rc;

	c->s = s;
	rc = sqlite3_open_v2(s->path, &c->db, flags, NULL);
	if (rc != SQLITE_OK) {
		buf_addf(err, "sqlite open %s: %s", s->path, c->db != NULL ?
		    sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
		sq_conn_close(c);
		return -1;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, SQ_BUSY_MS);
	if (sqlite3_exec(c->db, SQ_MMAP_PRAGMA, NULL, NULL, NULL) !=
	    SQLITE_OK) {
		(void)sq_fail(c, "mmap_size", err);
		sq_conn_close(c);
		return -1;
	}
	if (!s->read_only && sqlite3_exec(c->db, "PRAGMA synchronous = FULL",
	    NULL, NULL, NULL) != SQLITE_OK) {
		(void)sq_fail(c, "synchronous = FULL", err);
		sq_conn_close(c);
		return -1;
	}
	*c_r = c;
	return 0;
}

/* sq_set_layout - the key byte -> table map: split, or all in kv */
static void
sq_set_layout(struct kv_sqlite *s, bool split)
{
	s->nruns = 0;
	for (unsigned b = 0; b < 256; b++) {
		enum sq_tab t = split && strchr(SQ_BIG_PREFIXES, (int)b) ==
		    NULL ? SQ_KVS : SQ_KV;

		if (b == 0)	/* strchr finds the terminator */
			t = split ? SQ_KVS : SQ_KV;
		s->tab_of[b] = (uint8_t)t;
		if (s->nruns > 0 && s->runs[s->nruns - 1].tab == t) {
			s->runs[s->nruns - 1].hi = (uint16_t)(b + 1);
			continue;
		}
		if (s->nruns == SQ_RUNS_MAX)
			PANIC("kv_sqlite: SQ_BIG_PREFIXES makes over %d runs",
			    SQ_RUNS_MAX);
		s->runs[s->nruns++] = (struct sq_run){ (uint16_t)b,
		    (uint16_t)(b + 1), t };
	}
}

/* sq_pragma_int - the integer a PRAGMA query returns, or -1 */
static int64_t
sq_pragma_int(struct sq_conn *c, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;

	if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * sq_split - move the small subspaces of a database from before the
 * split into kvs, in one write transaction; another process doing the
 * same first is seen by the user_version read inside it
 */
static int
sq_split(struct sq_conn *c, struct buf *err)
{
	struct kv_sqlite *s = c->s;
	sqlite3_stmt *cp = NULL, *del = NULL;
	int64_t moved = 0;
	unsigned char lo, hi;
	int rc = -1;

	if (sq_exec(c, SQ_BEGIN_W, "split: begin", err) < 0)
		return -1;
	if (sq_pragma_int(c, "PRAGMA user_version") >= SQ_LAYOUT) {
		rc = 0;
		goto out;
	}
	if (sqlite3_prepare_v2(c->db, "INSERT INTO kvs (key, value) SELECT "
	    "key, value FROM kv WHERE key >= ?1 AND key < ?2", -1, &cp,
	    NULL) != SQLITE_OK || sqlite3_prepare_v2(c->db, "DELETE FROM kv "
	    "WHERE key >= ?1 AND key < ?2", -1, &del, NULL) != SQLITE_OK) {
		(void)sq_fail(c, "split", err);
		goto out;
	}
	for (int r = 0; r < s->nruns; r++) {
		if (s->runs[r].tab != SQ_KVS)
			continue;
		lo = (unsigned char)s->runs[r].lo;
		hi = (unsigned char)s->runs[r].hi;
		for (sqlite3_stmt *st = cp; st != NULL;
		    st = st == cp ? del : NULL) {
			if (sqlite3_bind_blob(st, 1, &lo, lo == 0 ? 0 : 1,
			    SQLITE_STATIC) != SQLITE_OK ||
			    (s->runs[r].hi == 256 ? sqlite3_bind_blob(st, 2,
			    kv_unbounded_end, sizeof(kv_unbounded_end),
			    SQLITE_STATIC) : sqlite3_bind_blob(st, 2, &hi, 1,
			    SQLITE_STATIC)) != SQLITE_OK ||
			    sqlite3_step(st) != SQLITE_DONE) {
				(void)sq_fail(c, "split", err);
				goto out;
			}
			if (st == cp)
				moved += sqlite3_changes64(c->db);
			(void)sqlite3_reset(st);
		}
	}
	if (sqlite3_exec(c->db, "PRAGMA user_version = 1", NULL, NULL,
	    NULL) != SQLITE_OK) {
		(void)sq_fail(c, "split: user_version", err);
		goto out;
	}
	if (moved > 0)
		log_info("store", "%s: moved %" PRId64 " keys of the small "
		    "subspaces to table kvs (layout %d)", s->path, moved,
		    SQ_LAYOUT);
	rc = 0;
out:
	sqlite3_finalize(cp);
	sqlite3_finalize(del);
	if (rc == 0 && sq_exec(c, SQ_COMMIT, "split: commit", err) < 0)
		rc = -1;
	if (rc < 0 && !sqlite3_get_autocommit(c->db)) {
		struct buf ignored = BUF_INIT(0);

		(void)sq_exec(c, SQ_ROLLBACK, "rollback", &ignored);
		buf_free(&ignored);
	}
	return rc;
}

/* sq_setup - on the first connection: WAL mode, the tables, the layout */
static int
sq_setup(struct sq_conn *c, struct buf *err)
{
	sqlite3_stmt *st;
	const unsigned char *mode;
	int ok;

	if (c->s->read_only) {
		/* no table yet fails here, with its name */
		if (sq_stmt(c, SQ_KV, SQ_GET, err) == NULL)
			return -1;
		sq_set_layout(c->s, sq_pragma_int(c, "PRAGMA user_version") >=
		    SQ_LAYOUT);
		return 0;
	}
	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &st,
	    NULL) != SQLITE_OK)
		return sq_fail(c, "journal_mode = WAL", err);
	ok = sqlite3_step(st) == SQLITE_ROW &&
	    (mode = sqlite3_column_text(st, 0)) != NULL &&
	    strcmp((const char *)mode, "wal") == 0;
	sqlite3_finalize(st);
	if (!ok)
		return sq_fail(c, "journal_mode = WAL", err);
	if (sqlite3_exec(c->db, sq_schema, NULL, NULL, NULL) != SQLITE_OK)
		return sq_fail(c, "create table", err);
	sq_set_layout(c->s, true);
	if (sq_pragma_int(c, "PRAGMA user_version") < SQ_LAYOUT &&
	    sq_split(c, err) < 0)
		return -1;
	return 0;
}

static void sq_close(struct kv *kv);
static kv_sync_fn sq_wal_sync;

static int
sq_open(const struct kv_options *opt, const char *arg, struct kv **kv_r,
    struct buf *err)
{
	struct kv_sqlite *s;
	struct sq_conn *c = NULL;

	if (arg != NULL) {
		buf_addf(err, "kv_open: the sqlite backend takes no argument");
		return -1;
	}
	s = xcalloc(1, sizeof(*s));
	s->path = xstrdup(opt->path);
	s->read_only = opt->read_only;
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->ckpt_cv, NULL);
	kv_wlock_init(&s->wlock);
	kv_sync_init(&s->sync, sq_wal_sync, s);
	if (sq_conn_open(s, &c, err) < 0 || sq_setup(c, err) < 0) {
		sq_conn_close(c);
		sq_close(&s->base);
		return -1;
	}
	/* SQLite's absolute name: a later chdir changes nothing */
	s->wal = xstrdup(sqlite3_filename_wal(sqlite3_db_filename(c->db,
	    "main")));
	s->idle = c;
	s->n_idle = 1;
	*kv_r = &s->base;
	return 0;
}

static void
sq_close(struct kv *kv)
{
	struct kv_sqlite *s = (struct kv_sqlite *)kv;
	struct sq_conn *c;

	pthread_mutex_lock(&s->mu);
	s->ckpt_stop = true;
	pthread_cond_signal(&s->ckpt_cv);
	pthread_mutex_unlock(&s->mu);
	if (s->ckpt_started)
		(void)pthread_join(s->ckpt, NULL);
	while ((c = s->idle) != NULL) {
		s->idle = c->next_idle;
		sq_conn_close(c);
	}
	sq_conn_close(s->writer);	/* the last one: checkpoints, syncs */
	kv_sync_destroy(&s->sync);
	kv_wlock_destroy(&s->wlock);
	pthread_cond_destroy(&s->ckpt_cv);
	pthread_mutex_destroy(&s->mu);
	free(s->wal);
	free(s->path);
	free(s);
}

static int
sq_conn_get(struct kv_sqlite *s, struct sq_conn **c_r, struct buf *err)
{
	pthread_mutex_lock(&s->mu);
	if ((*c_r = s->idle) != NULL) {
		s->idle = (*c_r)->next_idle;
		s->n_idle--;
	}
	pthread_mutex_unlock(&s->mu);
	if (*c_r != NULL)
		return 0;
	return sq_conn_open(s, c_r, err);	/* outside the lock: slow */
}

static void
sq_conn_put(struct sq_conn *c)
{
	struct kv_sqlite *s = c->s;

	pthread_mutex_lock(&s->mu);
	if (s->n_idle < SQ_IDLE_MAX) {
		c->next_idle = s->idle;
		s->idle = c;
		s->n_idle++;
		c = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	sq_conn_close(c);
}

/* sq_wal_sync - kv_sync_fn: the WAL file to disk */
static int
sq_wal_sync(void *arg, struct buf *err)
{
	struct kv_sqlite *s = arg;
	int fd = open(s->wal, O_RDONLY | O_CLOEXEC), e = 0;

	/*
	 * fdatasync flushes the file (inode), whoever wrote it.  No WAL file:
	 * the last connection closed, after a checkpoint that synced the
	 * database file (other processes' connections, e.g. the CLI's).
	 */
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fdatasync(fd) < 0)
		e = errno;
	if (fd >= 0)
		(void)close(fd);
	if (e != 0) {
		buf_addf(err, "sqlite: sync %s: %s", s->wal, strerror(e));
		return -1;
	}
	return 0;
}

/*
 * sq_checkpointer - copies the WAL into the database file when the
 * writer's commits have grown it past SQ_CKPT_FRAMES, on a connection of
 * its own: most of it outside the writer lock (a PASSIVE checkpoint runs
 * beside readers and the writer; in NORMAL mode it syncs the WAL before
 * and the database file after), the frames written meanwhile under it
 * (sq_checkpoint).  The next write transaction then starts the WAL over.
 */
static void
sq_checkpoint(struct kv_sqlite *s, struct sq_conn *c)
{
	struct buf err = BUF_INIT(0);
	int rc;

	/* the bulk, beside the writers (BUSY: another process does it) */
	rc = sqlite3_wal_checkpoint_v2(c->db, "main",
	    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	/*
	 * The rest with the writers held off: under steady writes a PASSIVE
	 * checkpoint never catches up with the end of the WAL, and the WAL
	 * starts over only after a complete one, so it would grow without
	 * bound.  RESTART waits (busy handler) for readers of old frames.
	 */
	if ((rc == SQLITE_OK || rc == SQLITE_BUSY) &&
	    kv_wlock_acquire(&s->wlock, &err) == 0) {
		rc = sqlite3_wal_checkpoint_v2(c->db, "main",
		    SQLITE_CHECKPOINT_RESTART, NULL, NULL);
		kv_wlock_release(&s->wlock);
	}
	if (rc != SQLITE_OK && rc != SQLITE_BUSY)
		log_warn("store", "checkpoint: %s%s", err.len > 0 ?
		    buf_cstr(&err) : "", err.len > 0 ? "" :
		    sqlite3_errmsg(c->db));
	buf_free(&err);
}

static void *
sq_checkpointer(void *arg)
{
	struct kv_sqlite *s = arg;
	struct sq_conn *c = NULL;
	struct buf err = BUF_INIT(0);

	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->ckpt_wanted && !s->ckpt_stop)
			pthread_cond_wait(&s->ckpt_cv, &s->mu);
		if (s->ckpt_stop)
			break;
		s->ckpt_wanted = false;
		pthread_mutex_unlock(&s->mu);
		buf_reset(&err);
		if (c == NULL && sq_conn_open(s, &c, &err) < 0) {
			log_warn("store", "checkpoint: %s", buf_cstr(&err));
		} else {
			sq_checkpoint(s, c);
		}
		pthread_mutex_lock(&s->mu);
	}
	pthread_mutex_unlock(&s->mu);
	sq_conn_close(c);
	buf_free(&err);
	return NULL;
}

/* sq_wal_hook - after each commit of the writer: wake the checkpointer */
static int
sq_wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct kv_sqlite *s = arg;

	(void)db;
	(void)name;
	if (frames < SQ_CKPT_FRAMES)
		return SQLITE_OK;
	pthread_mutex_lock(&s->mu);
	if (!s->ckpt_started && !s->ckpt_stop) {
		if (pthread_create(&s->ckpt, NULL, sq_checkpointer, s) == 0)
			s->ckpt_started = true;
		else
			log_warn("store", "no checkpointer thread: %s",
			    strerror(errno));
	}
	s->ckpt_wanted = true;
	pthread_cond_signal(&s->ckpt_cv);
	pthread_mutex_unlock(&s->mu);
	return SQLITE_OK;
}

/*
 * sq_writer_open - the connection every write transaction uses, under
 * the writer lock.  One connection rather than any from the pool: in WAL
 * mode a connection drops its page cache whenever another connection
 * committed, so writers taking turns with pool connections re-read every
 * page they touch (19 preads per delivered message, measured); the
 * writer's own commits leave its cache valid, so it keeps a large one.
 */
static int
sq_writer_open(struct kv_sqlite *s, struct buf *err)
{
	struct sq_conn *c;

	if (sq_conn_open(s, &c, err) < 0)
		return -1;
	if (sqlite3_exec(c->db, SQ_WRITER_PRAGMA, NULL, NULL, NULL) !=
	    SQLITE_OK) {
		(void)sq_fail(c, "writer pragmas", err);
		sq_conn_close(c);
		return -1;
	}
	/* replaces the automatic checkpoint in COMMIT */
	(void)sqlite3_wal_hook(c->db, sq_wal_hook, s);
	s->writer = c;
	return 0;
}

static int
sq_begin(struct kv *kv, enum kv_mode mode, struct kv_txn **t_r,
    struct buf *err)
{
	struct kv_sqlite *s = (struct kv_sqlite *)kv;
	struct sq_conn *c;

	if (mode == KV_WRITE) {
		if (kv_wlock_acquire(&s->wlock, err) < 0)
			return -1;
		if (s->writer == NULL && sq_writer_open(s, err) < 0) {
			kv_wlock_release(&s->wlock);
			return -1;
		}
		c = s->writer;
		if (sq_exec(c, SQ_BEGIN_W, "begin", err) < 0) {
			kv_wlock_release(&s->wlock);
			return -1;
		}
		*t_r = &c->base;
		return 0;
	}
	if (sq_conn_get(s, &c, err) < 0)
		return -1;
	if (sq_exec(c, SQ_BEGIN_R, "begin", err) < 0) {
		sq_conn_put(c);
		return -1;
	} else if (sq_exec(c, SQ_SNAPSHOT, "snapshot", err) < 0) {
		(void)sq_exec(c, SQ_ROLLBACK, "rollback", err);
		sq_conn_put(c);
		return -1;
	}
	*t_r = &c->base;
	return 0;
}

/* sq_end - give the connection back, and the writer lock */
static void
sq_end(struct sq_conn *c)
{
	if (c->base.mode == KV_WRITE)
		kv_wlock_release(&c->s->wlock);	/* c stays the writer */
	else
		sq_conn_put(c);
}

/* sq_reset_gets - let go of the last get's row, in either table */
static void
sq_reset_gets(struct sq_conn *c)
{
	if (c->get_row != NULL)
		(void)sqlite3_reset(c->get_row);
	c->get_row = NULL;
}

/* sq_commit_nowait - COMMIT; a write's ticket is its kv_sync sequence */
static int
sq_commit_nowait(struct kv_txn *t, uint64_t *ticket_r, struct buf *err)
{
	struct sq_conn *c = (struct sq_conn *)t;
	struct kv_sqlite *s = c->s;
	int r;

	/* a pending SELECT would keep the snapshot past COMMIT */
	sq_reset_gets(c);
	*ticket_r = 0;
	r = sq_exec(c, SQ_COMMIT, "commit", err);
	if (r < 0 && !sqlite3_get_autocommit(c->db)) {
		struct buf ignored = BUF_INIT(0);

		(void)sq_exec(c, SQ_ROLLBACK, "rollback", &ignored);
		buf_free(&ignored);
	}
	if (r < 0 || c->base.mode != KV_WRITE) {
		sq_end(c);
		return r;
	}
	/* durable once the WAL is synced: outside the writer lock */
	*ticket_r = kv_sync_committed(&s->sync);
	sq_end(c);
	return 0;
}

static int
sq_durable(struct kv *kv, uint64_t ticket, struct buf *err)
{
	struct kv_sqlite *s = (struct kv_sqlite *)kv;

	return kv_sync_wait(&s->sync, ticket, err);
}

static int
sq_commit(struct kv_txn *t, struct buf *err)
{
	uint64_t ticket;

	/* reads only: kv.c commits writes with commit_nowait + durable */
	return sq_commit_nowait(t, &ticket, err);
}

static void
sq_abort(struct kv_txn *t)
{
	struct sq_conn *c = (struct sq_conn *)t;
	struct buf ignored = BUF_INIT(0);

	sq_reset_gets(c);
	/* after some errors SQLite has already rolled back on its own */
	if (!sqlite3_get_autocommit(c->db) &&
	    sq_exec(c, SQ_ROLLBACK, "rollback", &ignored) < 0) {
		/* the connection's state is unknown: do not reuse it */
		if (c->base.mode == KV_WRITE) {
			c->s->writer = NULL;
			kv_wlock_release(&c->s->wlock);
		}
		sq_conn_close(c);
		buf_free(&ignored);
		return;
	}
	buf_free(&ignored);
	sq_end(c);
}

static inline int
sq_bind(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	return sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
}

static int
sq_get(struct kv_txn *t, const void *key, size_t klen, const void **val_r,
    size_t *vlen_r, struct buf *err)
{
	struct sq_conn *c = (struct sq_conn *)t;
	sqlite3_stmt *st = sq_stmt(c, sq_tab(c, key, klen), SQ_GET, err);
	int rc;

	if (st == NULL)
		return -1;
	sq_reset_gets(c);	/* the previous get's row, either table */
	if (sq_bind(st, 1, key, klen) != SQLITE_OK)
		return sq_fail(c, "get", err);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		/* stays on the row: the value is valid until the next call */
		c->get_row = st;
		*val_r = sqlite3_column_blob(st, 0);
		*vlen_r = (size_t)sqlite3_column_bytes(st, 0);
		if (*val_r == NULL)	/* SQLite's empty BLOB */
			*val_r = "";
		return 1;
	}
	(void)sqlite3_reset(st);
	if (rc == SQLITE_DONE)
		return 0;
	return sq_fail(c, "get", err);
}

/* sq_write - bind up to two BLOBs, step once, reset */
static int
sq_write(struct sq_conn *c, enum sq_tab tab, enum sq_stmt id, const void *a,
    size_t alen, const void *b, size_t blen, const char *what,
    struct buf *err)
{
	sqlite3_stmt *st = sq_stmt(c, tab, id, err);
	int rc;

	if (st == NULL)
		return -1;
	if (sq_bind(st, 1, a, alen) != SQLITE_OK ||
	    (b != NULL && sq_bind(st, 2, b, blen) != SQLITE_OK))
		return sq_fail(c, what, err);
	rc = sqlite3_step(st);
	(void)sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return sq_fail(c, what, err);
	return 0;
}

static int
sq_put(struct kv_txn *t, const void *key, size_t klen, const void *val,
    size_t vlen, struct buf *err)
{
	struct sq_conn *c = (struct sq_conn *)t;

	return sq_write(c, sq_tab(c, key, klen), SQ_PUT, key, klen, val, vlen,
	    "put", err);
}

static int
sq_del(struct kv_txn *t, const void *key, size_t klen, struct buf *err)
{
	struct sq_conn *c = (struct sq_conn *)t;

	return sq_write(c, sq_tab(c, key, klen), SQ_DEL, key, klen, NULL, 0,
	    "delete", err);
}

/* sq_kcmp - kv.h's key order: memcmp, then the shorter first */
static int
sq_kcmp(const void *a, size_t alen, const void *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);

	if (r != 0 || alen == blen)
		return r;
	return alen < blen ? -1 : 1;
}

/*
 * sq_seg - the part of [lo, hi) (hi NULL: unbounded) whose keys start
 * with a byte of run r, into [slo, shi) (*has_shi false: unbounded);
 * false when it is empty
 */
static bool
sq_seg(const struct sq_run *r, const void *lo, size_t lolen, const void *hi,
    size_t hilen, struct buf *slo, struct buf *shi, bool *has_shi)
{
	unsigned char first = (unsigned char)r->lo, end = (unsigned char)r->hi;

	buf_reset(slo);
	if (r->lo == 0 || sq_kcmp(lo, lolen, &first, 1) >= 0)
		buf_add(slo, lo, lolen);
	else
		buf_add(slo, &first, 1);
	buf_reset(shi);
	*has_shi = true;
	if (hi != NULL && (r->hi == 256 || sq_kcmp(hi, hilen, &end, 1) <= 0))
		buf_add(shi, hi, hilen);
	else if (r->hi != 256)
		buf_add(shi, &end, 1);
	else
		*has_shi = false;
	return !*has_shi || sq_kcmp(slo->data != NULL ? slo->data :
	    (unsigned char *)"", slo->len, shi->data != NULL ? shi->data :
	    (unsigned char *)"", shi->len) < 0;
}

static int
sq_delete_range(struct kv_txn *t, const void *start, size_t slen,
    const void *end, size_t elen, struct buf *err)
{
	struct sq_conn *c = (struct sq_conn *)t;
	struct kv_sqlite *s = c->s;
	struct buf lo = BUF_INIT(0), hi = BUF_INIT(0);
	bool has_hi;
	int r = 0;

	for (int i = 0; i < s->nruns && r == 0; i++) {
		if (!sq_seg(&s->runs[i], start, slen, end, elen, &lo, &hi,
		    &has_hi))
			continue;
		r = sq_write(c, s->runs[i].tab, SQ_DEL_RANGE, lo.data != NULL ?
		    (const void *)lo.data : "", lo.len, has_hi ?
		    (const void *)hi.data : (const void *)kv_unbounded_end,
		    has_hi ? hi.len :
		    sizeof(kv_unbounded_end), "delete range", err);
	}
	buf_free(&lo);
	buf_free(&hi);
	return r;
}

static int
sq_iter_new(struct kv_txn *t, const void *start, size_t slen,
    const void *end, size_t elen, bool reverse, struct kv_iter **it_r,
    struct buf *err)
{
	struct sq_conn *c = (struct sq_conn *)t;
	struct sq_iter *it = c->free_iters;

	(void)err;
	if (it != NULL) {
		c->free_iters = it->next_free;
		c->n_free_iters--;
	} else {
		it = xcalloc(1, sizeof(*it));
		it->c = c;
		buf_init(&it->olo, 0);
		buf_init(&it->ohi, 0);
		buf_init(&it->lo, 0);
		buf_init(&it->hi, 0);
		buf_init(&it->last, 0);
		if (buf_reserve(&it->last, KV_KEY_MAX) < 0)
			PANIC("sq_iter_new: cannot reserve an unlimited buffer");
	}
	it->cur = NULL;
	it->reverse = reverse;
	buf_reset(&it->olo);
	buf_add(&it->olo, start, slen);
	buf_reset(&it->ohi);
	it->has_ohi = end != NULL;
	if (it->has_ohi)
		buf_add(&it->ohi, end, elen);
	/* the first run to look at: the one of the range's first key */
	it->run = reverse ? c->s->nruns - 1 : 0;
	if (!reverse && slen > 0)
		while (c->s->runs[it->run].hi <= *(const unsigned char *)start)
			it->run++;
	it->in_seg = false;
	it->done = false;
	*it_r = &it->base;
	return 0;
}

/*
 * sq_iter_seg - move to the next run (in the iterator's direction) that
 * holds part of the range, with its statement; false at the end
 */
static bool
sq_iter_seg(struct sq_iter *it, struct buf *err, int *fail)
{
	struct kv_sqlite *s = it->c->s;
	enum sq_tab tab;

	*fail = 0;
	for (; it->run >= 0 && it->run < s->nruns;
	    it->run += it->reverse ? -1 : 1) {
		if (sq_seg(&s->runs[it->run], it->olo.data != NULL ?
		    (const void *)it->olo.data : "", it->olo.len, it->has_ohi ?
		    (const void *)(it->ohi.data != NULL ? it->ohi.data :
		    (unsigned char *)"") : NULL, it->ohi.len, &it->lo, &it->hi,
		    &it->has_hi))
			break;
	}
	if (it->run < 0 || it->run >= s->nruns)
		return false;
	tab = s->runs[it->run].tab;
	if (it->st[tab][it->reverse] == NULL &&
	    (it->st[tab][it->reverse] = sq_prepare(it->c,
	    sq_iter_sql[tab][it->reverse], err)) == NULL) {
		*fail = -1;
		return false;
	}
	it->cur = it->st[tab][it->reverse];
	it->run += it->reverse ? -1 : 1;	/* where the next one starts */
	it->has_last = false;
	it->bound = false;
	it->in_seg = true;
	return true;
}

/* sq_iter_bind - (re)start the cursor just past the last key returned */
static int
sq_iter_bind(struct sq_iter *it, struct buf *err)
{
	const void *hi = kv_unbounded_end;
	size_t hilen = sizeof(kv_unbounded_end);

	(void)sqlite3_reset(it->cur);
	if (it->has_last && !it->reverse) {
		buf_reset(&it->lo);
		buf_add(&it->lo, it->last.data, it->last.len);
		buf_add(&it->lo, "", 1);	/* the next key up */
	} else if (it->has_last) {
		buf_reset(&it->hi);
		buf_add(&it->hi, it->last.data, it->last.len);
		it->has_hi = true;
	}
	if (it->has_hi) {
		hi = it->hi.data != NULL ? (const void *)it->hi.data : "";
		hilen = it->hi.len;
	}
	if (sq_bind(it->cur, 1, it->lo.data != NULL ? (const void *)it->lo.data :
	    "", it->lo.len) != SQLITE_OK ||
	    sq_bind(it->cur, 2, hi, hilen) != SQLITE_OK)
		return sq_fail(it->c, "iterator", err);
	it->gen = it->base.txn->gen;
	it->bound = true;
	return 0;
}

static int
sq_iter_next(struct kv_iter *base, const void **key, size_t *klen,
    const void **val, size_t *vlen, struct buf *err)
{
	struct sq_iter *it = (struct sq_iter *)base;
	int rc, fail;

	for (;;) {
		if (it->done)
			return 0;
		if (!it->in_seg && !sq_iter_seg(it, err, &fail)) {
			it->done = true;
			return fail;
		}
		if ((!it->bound || it->gen != base->txn->gen) &&
		    sq_iter_bind(it, err) < 0)
			return -1;
		rc = sqlite3_step(it->cur);
		if (rc != SQLITE_DONE)
			break;
		(void)sqlite3_reset(it->cur);
		it->in_seg = false;	/* on to the next run */
	}
	if (rc != SQLITE_ROW)
		return sq_fail(it->c, "iterator", err);
	*key = sqlite3_column_blob(it->cur, 0);
	*klen = (size_t)sqlite3_column_bytes(it->cur, 0);
	*val = sqlite3_column_blob(it->cur, 1);
	*vlen = (size_t)sqlite3_column_bytes(it->cur, 1);
	if (*key == NULL)
		*key = "";
	if (*val == NULL)
		*val = "";
	buf_reset(&it->last);	/* reserved at KV_KEY_MAX: no allocation */
	buf_add(&it->last, *key, *klen);
	it->has_last = true;
	return 1;
}

static void
sq_iter_free(struct kv_iter *base)
{
	struct sq_iter *it = (struct sq_iter *)base;
	struct sq_conn *c = it->c;

	if (it->cur != NULL)
		(void)sqlite3_reset(it->cur);
	if (c->n_free_iters >= SQ_FREE_ITERS_MAX) {
		sq_iter_destroy(it);
		return;
	}
	it->next_free = c->free_iters;
	c->free_iters = it;
	c->n_free_iters++;
}

const struct kv_ops kv_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.begin = sq_begin,
	.commit = sq_commit,
	.commit_nowait = sq_commit_nowait,
	.durable = sq_durable,
	.abort = sq_abort,
	.get = sq_get,
	.put = sq_put,
	.del = sq_del,
	.delete_range = sq_delete_range,
	.iter_new = sq_iter_new,
	.iter_next = sq_iter_next,
	.iter_free = sq_iter_free,
};
