/*
 * kv_sqlite_test.c - the kv conformance suite (kv_conformance.c) on the
 * SQLite backend, then again through the fault-injection wrapper, with
 * the tests that prove a failure at any step loses nothing; then what is
 * SQLite's own: the checkpointer keeps the WAL bounded under writes that
 * never pause.
 */
#include "t/unit/kv_conformance.c"

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

int
main(void)
{
	const struct CMUnitTest own[] = {
		KVT(test_wal_bounded),
	};
	int r = kv_conformance_run("sqlite");

	r |= kv_conformance_run("failinject:sqlite");
	kvc_backend = "sqlite";
	r |= cmocka_run_group_tests_name("kv sqlite", own, group_setup,
	    group_teardown);
	return r;
}
