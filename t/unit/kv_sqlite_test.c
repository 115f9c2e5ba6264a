/*
 * kv_sqlite_test.c - the kv conformance suite (kv_conformance.c) on the
 * SQLite backend, then again through the fault-injection wrapper, with
 * the tests that prove a failure at any step loses nothing; then what is
 * SQLite's own: the checkpointer keeps the WAL bounded under writes that
 * never pause, and a file from before the split into two tables is
 * split on its first read-write open.
 */
#include "t/unit/kv_conformance.c"

#include <sqlite3.h>
#include <sys/stat.h>

#define WAL_WRITERS 4
#define WAL_COMMITS 1500	/* per writer: ~7 pages each, ~40,000 frames */

struct wal_run {
	struct kv *kv;
	atomic_int errors, id;
	atomic_bool stop;
};

static int
wal_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	const int *n = arg;
	unsigned char k[12] = "wal", v[3000];

	/* spread keys: each commit dirties a few leaf pages */
	memcpy(k + 3, n, sizeof(*n));
	memset(v, 'v', sizeof(v));
	for (int i = 0; i < 4; i++) {
		k[8] = (unsigned char)i;
		if (kv_put(t, k, sizeof(k), v, sizeof(v), err) < 0)
			return -1;
	}
	return kv_add(t, S("wal-count"), 1, NULL, err);
}

static void *
wal_writer(void *arg)
{
	struct wal_run *r = arg;
	struct buf err = BUF_INIT(0);
	int id = atomic_fetch_add(&r->id, 1);

	for (int i = 0; i < WAL_COMMITS; i++) {
		int n = id * WAL_COMMITS + i;

		if (kv_run(r->kv, KV_WRITE, wal_fn, &n, &err) < 0)
			atomic_fetch_add(&r->errors, 1);
	}
	buf_free(&err);
	return NULL;
}

static void *
wal_reader(void *arg)
{
	struct wal_run *r = arg;
	struct buf err = BUF_INIT(0), v = BUF_INIT(0);

	while (!atomic_load(&r->stop)) {
		struct kv_txn *t;

		if (kv_begin(r->kv, KV_READ, &t, &err) < 0) {
			atomic_fetch_add(&r->errors, 1);
			continue;
		}
		buf_reset(&v);
		if (kv_get(t, S("wal-count"), &v, &err) < 0)
			atomic_fetch_add(&r->errors, 1);
		if (kv_commit(&t, &err) < 0)
			atomic_fetch_add(&r->errors, 1);
	}
	buf_free(&err);
	buf_free(&v);
	return NULL;
}

/*
 * commits from several threads without a pause, readers alongside: the
 * WAL must start over now and then (a checkpoint beside the writers alone
 * never completes), so it stays far below the ~40,000 frames written
 */
static void
test_wal_bounded(void **state)
{
	struct kvc *c = *state;
	struct wal_run r = { .kv = c->kv };
	pthread_t w[WAL_WRITERS], rd;
	struct buf wal = BUF_INIT(0), v = BUF_INIT(0);
	struct kv_txn *t;
	struct stat st;

	atomic_init(&r.errors, 0);
	atomic_init(&r.id, 0);
	atomic_init(&r.stop, false);
	assert_int_equal(pthread_create(&rd, NULL, wal_reader, &r), 0);
	for (int i = 0; i < WAL_WRITERS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, wal_writer, &r),
		    0);
	for (int i = 0; i < WAL_WRITERS; i++)
		pthread_join(w[i], NULL);
	atomic_store(&r.stop, true);
	pthread_join(rd, NULL);
	assert_int_equal(atomic_load(&r.errors), 0);
	buf_addf(&wal, "%s-wal", c->path);
	assert_int_equal(stat(buf_cstr(&wal), &st), 0);
	print_message("sqlite: WAL %lld bytes after %d commits\n",
	    (long long)st.st_size, WAL_WRITERS * WAL_COMMITS);
	/* 4,000 frames wake the checkpointer; 4 KiB + 24 bytes each */
	assert_true(st.st_size < 10 * 4000 * 4120 / 4);
	t = begin(c, KV_READ);
	assert_int_equal(kv_get(t, S("wal-count"), &v, &c->err), 1);
	assert_int_equal(decode_i64(&v), WAL_WRITERS * WAL_COMMITS);
	commit(c, &t);
	buf_free(&wal);
	buf_free(&v);
}

/* sql_count - the rows of table in the file at path, by SQLite itself */
static int64_t
sql_count(const char *path, const char *table)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	struct buf q = BUF_INIT(0);
	int64_t n = -1;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	buf_addf(&q, "SELECT count(*) FROM %s", table);
	assert_int_equal(sqlite3_prepare_v2(db, buf_cstr(&q), -1, &st, NULL),
	    SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	buf_free(&q);
	return n;
}

/*
 * a file of the layout before the split (one table kv, user_version 0),
 * written by SQLite directly: read-only it reads as it is; the first
 * read-write open moves the small subspaces to kvs, and every key reads
 * the same, in the same order, in both directions
 */
static void
test_split_old_file(void **state)
{
	static const struct kvk keys[] = {
		K(""), K("\0"), K("Aacct"), K("B12c"), K("E\0\0\0\1"),
		K("Fterm"), K("I\0\0\0\1"), K("Ix"), K("J"), K("Mbox"),
		K("N\xff"), K("U\0\0\0\1\0\0\0\2"), K("V"), K("Vz"),
		K("Wz"), K("\xff\xff"),
	};
	struct kvk rev[ARRAY_SIZE(keys)];
	struct kvc *c = *state;
	sqlite3 *db;
	sqlite3_stmt *st;
	struct kv_txn *t;
	size_t n = ARRAY_SIZE(keys), big = 0;

	kv_close(&c->kv);
	(void)unlink(c->path);
	assert_int_equal(sqlite3_open(c->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL; "
	    "CREATE TABLE kv (key BLOB PRIMARY KEY, value BLOB NOT NULL)",
	    NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO kv VALUES "
	    "(?1, ?1)", -1, &st, NULL), SQLITE_OK);
	for (size_t i = 0; i < n; i++) {
		sqlite3_bind_blob(st, 1, keys[i].p, (int)keys[i].n,
		    SQLITE_STATIC);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
		big += keys[i].n > 0 && keys[i].p[0] != 0 &&
		    strchr("BFIJNV", keys[i].p[0]) != NULL;
		rev[n - 1 - i] = keys[i];
	}
	sqlite3_finalize(st);
	sqlite3_close(db);

	for (int pass = 0; pass < 3; pass++) {
		open_store(c, pass == 0);
		t = begin(c, KV_READ);
		scan(c, t, "", 0, NULL, 0, false, keys, n);
		scan(c, t, "", 0, NULL, 0, true, rev, n);
		for (size_t i = 0; i < n; i++)
			expect(c, t, keys[i].p, keys[i].n, keys[i].p,
			    keys[i].n);
		commit(c, &t);
		kv_close(&c->kv);
		/* read-only: untouched; then split, and split it stays */
		assert_int_equal(sql_count(c->path, "kv"), pass == 0 ? n : big);
		if (pass > 0)
			assert_int_equal(sql_count(c->path, "kvs"), n - big);
	}
	open_store(c, false);
}

int
main(void)
{
	const struct CMUnitTest own[] = {
		KVT(test_wal_bounded),
		KVT(test_split_old_file),
	};
	int r = kv_conformance_run("sqlite");

	r |= kv_conformance_run("failinject:sqlite");
	kvc_backend = "sqlite";
	r |= cmocka_run_group_tests_name("kv sqlite", own, group_setup,
	    group_teardown);
	return r;
}
