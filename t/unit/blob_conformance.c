/*
 * blob_conformance.c - the suite every blob backend passes: ids are
 * SHA-256, round trips from empty to 5 MiB (whole and streamed), one copy
 * and counted references for duplicates, deletion at zero, ranges at every
 * boundary, readers, concurrent puts of the same content, a put racing an
 * unref, persistence across close/open, corrupt content detected, aborted
 * writers leave nothing, references inside a caller's transaction, buffer
 * limits, pinned puts (counted in the caller's transaction, once or many
 * times, from zero, after an abort or a conflict, several pins at once,
 * and racing an unref or a reap of the same content).
 *
 * Not a program: t/unit/blob_<backend>_test.c includes it, fills a struct
 * blob_suite (backend names and two hooks that look at the storage) and
 * runs blob_conformance_tests[] once per suite with blob_suite_run().
 * Each test gets a fresh directory with a data store and a blob store.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "store/blob.h"
#include "store/store_priv.h"
#include "store/kv.h"

#define MiB (1u << 20)

struct blob_env;

struct blob_suite {
	const char *name;
	const char *blob_backend;
	const char *kv_backend;
	/* how many blobs have content stored (fs: files, kv: headers) */
	size_t (*count_objects)(struct blob_env *e);
	/* flip one byte of id's stored content, keeping its size */
	void (*corrupt)(struct blob_env *e, const struct blob_id *id);
	/* a fault step failed while the blob store opens (NULL: none) */
	const char *open_fault;
};

struct blob_env {
	char dir[64];
	char kv_path[96];
	char blob_path[96];
	struct kv *kv;
	struct blob_store *bs;
	const char *fail_step;	/* fault injected into this step, if set */
	int fail_errno;
};

static const struct blob_suite *suite;

/* ---- fixtures ---- */

static int
env_fault(void *ctx, const char *step)
{
	struct blob_env *e = ctx;

	if (e->fail_step == NULL || strcmp(step, e->fail_step) != 0)
		return 0;
	return e->fail_errno != 0 ? e->fail_errno : EIO;
}

static void
env_open(struct blob_env *e)
{
	struct kv_options ko = { suite->kv_backend, e->kv_path, false };
	struct blob_options bo = { suite->blob_backend, e->blob_path, NULL,
	    env_fault, e, 0 };
	struct buf err = BUF_INIT(0);

	if (kv_open(&ko, &e->kv, &err) < 0)
		fail_msg("kv_open %s: %s", e->kv_path, buf_cstr(&err));
	bo.kv = e->kv;
	e->fail_step = suite->open_fault;
	if (blob_open(&bo, &e->bs, &err) < 0)
		fail_msg("blob_open %s: %s", e->blob_path, buf_cstr(&err));
	e->fail_step = NULL;
	assert_string_equal(blob_backend_name(e->bs), suite->blob_backend);
	buf_free(&err);
}

static void
env_close(struct blob_env *e)
{
	blob_close(&e->bs);
	kv_close(&e->kv);
	assert_null(e->bs);
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
env_setup(void **state)
{
	struct blob_env *e = xcalloc(1, sizeof(*e));

	snprintf(e->dir, sizeof(e->dir), "/tmp/postern-blob.XXXXXX");
	if (mkdtemp(e->dir) == NULL)
		return -1;
	snprintf(e->kv_path, sizeof(e->kv_path), "%s/data.%s", e->dir,
	    suite->kv_backend);
	snprintf(e->blob_path, sizeof(e->blob_path), "%s/blobs", e->dir);
	env_open(e);
	*state = e;
	return 0;
}

static int
env_teardown(void **state)
{
	struct blob_env *e = *state;

	env_close(e);
	nftw(e->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(e);
	return 0;
}

/* ---- helpers ---- */

/* pattern - n bytes that differ from chunk to chunk (xorshift) */
static unsigned char *
pattern(size_t n, uint32_t seed)
{
	unsigned char *p = xmalloc(n + 1);
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
	return p;
}

static void
put_ok(struct blob_env *e, const void *p, size_t n, struct blob_id *id)
{
	struct buf err = BUF_INIT(0);

	if (blob_put(e->bs, p, n, id, &err) != 0)
		fail_msg("blob_put %zu bytes: %s", n, buf_cstr(&err));
	buf_free(&err);
}

/* put_stream - through the writer, in pieces of piece bytes */
static void
put_stream(struct blob_env *e, const unsigned char *p, size_t n,
    size_t piece, struct blob_id *id)
{
	struct buf err = BUF_INIT(0);
	struct blob_writer *w;

	assert_int_equal(blob_writer_new(e->bs, &w, &err), 0);
	for (size_t off = 0; off < n; off += piece) {
		size_t k = n - off < piece ? n - off : piece;

		if (blob_writer_write(w, p + off, k, &err) != 0)
			fail_msg("blob_writer_write: %s", buf_cstr(&err));
	}
	if (blob_writer_finish(&w, id, &err) != 0)
		fail_msg("blob_writer_finish: %s", buf_cstr(&err));
	assert_null(w);
	buf_free(&err);
}

static uint64_t
refcount(struct blob_env *e, const struct blob_id *id)
{
	struct buf err = BUF_INIT(0);
	uint64_t n = 0;
	int ret = blob_refcount(e->bs, id, &n, &err);

	if (ret < 0)
		fail_msg("blob_refcount: %s", buf_cstr(&err));
	buf_free(&err);
	return ret == 1 ? n : 0;
}

/* expect_get - blob_get's result, and the bytes when it found them */
static void
expect_get(struct blob_env *e, const struct blob_id *id, uint64_t off,
    uint64_t len, int want, const void *bytes, size_t n)
{
	struct buf out = BUF_INIT(0), err = BUF_INIT(0);
	int ret = blob_get(e->bs, id, off, len, &out, &err);

	if (ret != want)
		fail_msg("blob_get(%llu, %llu) = %d, want %d: %s",
		    (unsigned long long)off, (unsigned long long)len, ret,
		    want, buf_cstr(&err));
	if (want == 1) {
		assert_int_equal(out.len, n);
		assert_true(n == 0 || memcmp(out.data, bytes, n) == 0);
	}
	buf_free(&out);
	buf_free(&err);
}

static void
unref_ok(struct blob_env *e, const struct blob_id *id, int want)
{
	struct buf err = BUF_INIT(0);
	int ret = blob_unref(e->bs, id, &err);

	if (ret != want)
		fail_msg("blob_unref = %d, want %d: %s", ret, want,
		    buf_cstr(&err));
	buf_free(&err);
}

/* ---- the tests ---- */

static void
test_ids(void **state)
{
	static const char abc[] =
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	static const char empty[] =
	    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct blob_env *e = *state;
	char hex[BLOB_HEX_SIZE];
	struct blob_id id, id2;

	blob_id_of("abc", 3, &id);
	blob_id_hex(&id, hex);
	assert_string_equal(hex, abc);
	put_ok(e, "abc", 3, &id2);
	assert_memory_equal(id.b, id2.b, BLOB_ID_SIZE);
	put_ok(e, "", 0, &id);
	blob_id_hex(&id, hex);
	assert_string_equal(hex, empty);

	assert_int_equal(blob_id_parse(abc, 64, &id), 0);
	assert_memory_equal(id.b, id2.b, BLOB_ID_SIZE);
	assert_int_equal(blob_id_parse("BA7816BF8F01CFEA414140DE5DAE2223"
	    "B00361A396177A9CB410FF61F20015AD", 64, &id), 0);
	assert_memory_equal(id.b, id2.b, BLOB_ID_SIZE);
	assert_int_equal(blob_id_parse(abc, 63, &id), -1);
	assert_int_equal(blob_id_parse("g" "a7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad", 64, &id), -1);
	assert_int_equal(blob_id_parse("../../etc/passwd", 16, &id), -1);
}

static void
test_round_trip(void **state)
{
	static const struct {
		size_t size;
		size_t piece;	/* 0: blob_put, else streamed */
	} cases[] = {
		{ 0, 0 }, { 1, 0 }, { MiB, 0 },
		{ 0, 100 }, { 1, 1 }, { BLOB_CHUNK, 4096 },
		{ BLOB_CHUNK + 1, BLOB_CHUNK }, { 3 * BLOB_CHUNK - 1, 1000 },
		{ 5 * MiB, 7777 }, { 5 * MiB + 3, 3 * MiB },
	};
	struct blob_env *e = *state;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t n = cases[i].size;
		unsigned char *p = pattern(n, (uint32_t)i);
		struct buf err = BUF_INIT(0);
		struct blob_id id, want;
		uint64_t size = 0;

		blob_id_of(p, n, &want);
		if (cases[i].piece == 0)
			put_ok(e, p, n, &id);
		else
			put_stream(e, p, n, cases[i].piece, &id);
		assert_memory_equal(id.b, want.b, BLOB_ID_SIZE);
		assert_int_equal(blob_size(e->bs, &id, &size, &err), 1);
		assert_int_equal(size, n);
		expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
		expect_get(e, &id, 0, n, 1, p, n);
		free(p);
		buf_free(&err);
	}
}

static void
test_not_found(void **state)
{
	struct blob_env *e = *state;
	struct buf err = BUF_INIT(0);
	struct blob_reader *r = NULL;
	struct blob_id id;
	uint64_t n;

	blob_id_of("never stored", 12, &id);
	expect_get(e, &id, 0, BLOB_TO_END, 0, NULL, 0);
	expect_get(e, &id, 5, 1, 0, NULL, 0);
	assert_int_equal(blob_size(e->bs, &id, &n, &err), 0);
	assert_int_equal(blob_reader_open(e->bs, &id, 0, BLOB_TO_END, &r,
	    &err), 0);
	assert_null(r);
	assert_int_equal(blob_ref(e->bs, &id, &err), 0);
	assert_int_equal(blob_unref(e->bs, &id, &err), 0);
	assert_int_equal(blob_refcount(e->bs, &id, &n, &err), 0);
	assert_int_equal(err.len, 0);
	assert_int_equal(suite->count_objects(e), 0);
	buf_free(&err);
}

static void
test_refcount(void **state)
{
	struct blob_env *e = *state;
	unsigned char *p = pattern(200000, 7);
	struct buf err = BUF_INIT(0);
	struct blob_id id, id2, other;

	put_ok(e, p, 200000, &id);
	assert_int_equal(refcount(e, &id), 1);
	put_stream(e, p, 200000, 999, &id2);
	assert_memory_equal(id.b, id2.b, BLOB_ID_SIZE);
	assert_int_equal(refcount(e, &id), 2);
	assert_int_equal(suite->count_objects(e), 1);
	assert_int_equal(blob_ref(e->bs, &id, &err), 1);
	assert_int_equal(refcount(e, &id), 3);

	put_ok(e, "other", 5, &other);
	assert_int_equal(suite->count_objects(e), 2);

	unref_ok(e, &id, 1);
	unref_ok(e, &id, 1);
	assert_int_equal(refcount(e, &id), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, 200000);
	unref_ok(e, &id, 1);
	assert_int_equal(refcount(e, &id), 0);
	expect_get(e, &id, 0, BLOB_TO_END, 0, NULL, 0);
	unref_ok(e, &id, 0);
	assert_int_equal(blob_ref(e->bs, &id, &err), 0);
	assert_int_equal(suite->count_objects(e), 1);

	/* stored again from nothing */
	put_ok(e, p, 200000, &id);
	assert_int_equal(refcount(e, &id), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, 200000);
	expect_get(e, &other, 0, BLOB_TO_END, 1, "other", 5);
	assert_int_equal(err.len, 0);
	free(p);
	buf_free(&err);
}

static void
test_ranges(void **state)
{
	const uint64_t C = BLOB_CHUNK, size = 3 * BLOB_CHUNK + 100;
	const struct {
		uint64_t off, len;
	} cases[] = {
		{ 0, 0 }, { 0, 1 }, { 0, 10 }, { 1, 10 }, { 0, BLOB_TO_END },
		{ 12345, 678 }, { C - 1, 1 }, { C - 1, 2 }, { C, 1 },
		{ C, C }, { C - 10, C + 20 }, { 1, 2 * C + 50 },
		{ 2 * C, BLOB_TO_END }, { 3 * C, 100 }, { 3 * C + 99, 1 },
		{ size - 1, 10 }, { size - 10, BLOB_TO_END }, { size, 1 },
		{ size, BLOB_TO_END }, { size + 5, 1 }, { 0, size + 100 },
		{ 0, size }, { 0, size - 1 }, { UINT64_MAX, UINT64_MAX },
		{ 5, UINT64_MAX - 2 },
	};
	struct blob_env *e = *state;
	unsigned char *p = pattern((size_t)size, 3);
	struct blob_id id;

	put_ok(e, p, (size_t)size, &id);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t off = cases[i].off, len = cases[i].len, n = 0;

		if (off < size)
			n = len < size - off ? len : size - off;
		expect_get(e, &id, off, len, 1, off < size ? p + off : p,
		    (size_t)n);
	}
	/* appended after what the buffer already holds */
	{
		struct buf out = BUF_INIT(0), err = BUF_INIT(0);

		buf_add_str(&out, "head:");
		assert_int_equal(blob_get(e->bs, &id, C - 2, 4, &out, &err),
		    1);
		assert_int_equal(out.len, 9);
		assert_memory_equal(out.data, "head:", 5);
		assert_memory_equal(out.data + 5, p + C - 2, 4);
		assert_int_equal(out.data[9], 0);
		buf_free(&out);
		buf_free(&err);
	}
	free(p);
}

static void
test_reader(void **state)
{
	static const size_t caps[] = { 97, 1000, BLOB_CHUNK, 3 * MiB };
	const size_t size = 5 * BLOB_CHUNK + 17;
	struct blob_env *e = *state;
	/* room for the largest cap: a reader never passes its range */
	unsigned char *p = pattern(size, 11), *got = xmalloc(3 * MiB);
	struct buf err = BUF_INIT(0);
	struct blob_reader *r;
	struct blob_id id;

	put_stream(e, p, size, 65537, &id);
	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		size_t total = 0, n;

		assert_int_equal(blob_reader_open(e->bs, &id, 0, BLOB_TO_END,
		    &r, &err), 1);
		assert_int_equal(blob_reader_size(r), size);
		do {
			size_t cap = caps[i] < 3 * MiB - total ? caps[i] :
			    3 * MiB - total;

			assert_int_equal(blob_reader_read(r, got + total, cap,
			    &n, &err), 0);
			total += n;
		} while (n > 0);
		assert_int_equal(total, size);
		assert_memory_equal(got, p, size);
		/* at the end it stays at the end */
		assert_int_equal(blob_reader_read(r, got, 10, &n, &err), 0);
		assert_int_equal(n, 0);
		blob_reader_close(&r);
		assert_null(r);
	}
	/* a range */
	assert_int_equal(blob_reader_open(e->bs, &id, BLOB_CHUNK - 3, 100000,
	    &r, &err), 1);
	{
		size_t total = 0, n;

		do {
			assert_int_equal(blob_reader_read(r, got + total, 4096,
			    &n, &err), 0);
			total += n;
		} while (n > 0);
		assert_int_equal(total, 100000);
		assert_memory_equal(got, p + BLOB_CHUNK - 3, 100000);
	}
	blob_reader_close(&r);
	blob_reader_close(&r);	/* NULL is fine */
	assert_int_equal(err.len, 0);
	free(p);
	free(got);
	buf_free(&err);
}

struct put_job {
	struct blob_env *e;
	const unsigned char *p;
	size_t n;
	int iterations;		/* 0: one put; else put/get/unref rounds */
	struct blob_id id;
	int ret;
	char msg[200];
};

static void *
put_thread(void *arg)
{
	struct put_job *j = arg;
	struct buf err = BUF_INIT(0), out = BUF_INIT(0);

	j->ret = blob_put(j->e->bs, j->p, j->n, &j->id, &err);
	for (int i = 0; j->ret == 0 && i < j->iterations; i++) {
		/* holding a reference, the content must be readable */
		buf_reset(&out);
		if (blob_get(j->e->bs, &j->id, 0, BLOB_TO_END, &out,
		    &err) != 1 || out.len != j->n ||
		    memcmp(out.data, j->p, j->n) != 0) {
			j->ret = -2;
			buf_add_str(&err, "referenced content not readable");
			break;
		}
		if (blob_unref(j->e->bs, &j->id, &err) != 1) {
			j->ret = -3;
			break;
		}
		if (i + 1 < j->iterations)
			j->ret = blob_put(j->e->bs, j->p, j->n, &j->id, &err);
	}
	snprintf(j->msg, sizeof(j->msg), "%s", buf_cstr(&err));
	buf_free(&err);
	buf_free(&out);
	return NULL;
}

static void
run_jobs(struct put_job *jobs, size_t n)
{
	pthread_t th[16];

	assert_true(n <= ARRAY_SIZE(th));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(pthread_create(&th[i], NULL, put_thread,
		    &jobs[i]), 0);
	for (size_t i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	for (size_t i = 0; i < n; i++)
		if (jobs[i].ret != 0)
			fail_msg("thread %zu: %d %s", i, jobs[i].ret,
			    jobs[i].msg);
}

static void
test_concurrent_puts(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 300000;
	unsigned char *p = pattern(n, 5);
	struct put_job jobs[8];
	struct blob_id want;

	blob_id_of(p, n, &want);
	for (size_t i = 0; i < ARRAY_SIZE(jobs); i++)
		jobs[i] = (struct put_job){ e, p, n, 0, { { 0 } }, -1, "" };
	run_jobs(jobs, ARRAY_SIZE(jobs));
	for (size_t i = 0; i < ARRAY_SIZE(jobs); i++)
		assert_memory_equal(jobs[i].id.b, want.b, BLOB_ID_SIZE);
	assert_int_equal(refcount(e, &want), 8);
	assert_int_equal(suite->count_objects(e), 1);
	expect_get(e, &want, 0, BLOB_TO_END, 1, p, n);
	free(p);
}

/*
 * test_put_unref_race - threads put, read and drop the same content over
 * and over: the count keeps passing through zero, and a put must never
 * count content that a concurrent unref is removing
 */
static void
test_put_unref_race(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 70000;
	unsigned char *p = pattern(n, 9);
	struct put_job jobs[4];
	struct blob_id id;

	for (size_t i = 0; i < ARRAY_SIZE(jobs); i++)
		jobs[i] = (struct put_job){ e, p, n, 25, { { 0 } }, -1, "" };
	run_jobs(jobs, ARRAY_SIZE(jobs));
	blob_id_of(p, n, &id);
	assert_int_equal(refcount(e, &id), 0);
	expect_get(e, &id, 0, BLOB_TO_END, 0, NULL, 0);
	assert_int_equal(suite->count_objects(e), 0);
	free(p);
}

static void
test_persistence(void **state)
{
	struct blob_env *e = *state;
	unsigned char *p = pattern(MiB + 5, 13);
	struct buf err = BUF_INIT(0);
	struct blob_id a, b, c;

	put_ok(e, "persistent", 10, &a);
	put_stream(e, p, MiB + 5, 4000, &b);
	assert_int_equal(blob_ref(e->bs, &b, &err), 1);
	put_ok(e, "gone", 4, &c);
	unref_ok(e, &c, 1);
	env_close(e);
	env_open(e);
	expect_get(e, &a, 0, BLOB_TO_END, 1, "persistent", 10);
	expect_get(e, &b, 0, BLOB_TO_END, 1, p, MiB + 5);
	expect_get(e, &b, MiB, 5, 1, p + MiB, 5);
	expect_get(e, &c, 0, BLOB_TO_END, 0, NULL, 0);
	assert_int_equal(refcount(e, &a), 1);
	assert_int_equal(refcount(e, &b), 2);
	assert_int_equal(refcount(e, &c), 0);
	assert_int_equal(suite->count_objects(e), 2);
	free(p);
	buf_free(&err);
}

static void
test_corrupt(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 3 * BLOB_CHUNK;
	unsigned char *p = pattern(n, 17), *got = xmalloc(n);
	struct buf out = BUF_INIT(0), err = BUF_INIT(0);
	struct blob_reader *r;
	struct blob_id id;
	size_t k, total = 0;
	int ret;

	put_ok(e, p, n, &id);
	suite->corrupt(e, &id);
	buf_add_str(&out, "kept");
	assert_int_equal(blob_get(e->bs, &id, 0, BLOB_TO_END, &out, &err),
	    BLOB_CORRUPT);
	assert_non_null(strstr(buf_cstr(&err), "does not match"));
	assert_int_equal(out.len, 4);	/* out unchanged */
	assert_string_equal(buf_cstr(&out), "kept");

	/* a streaming reader over the whole blob says so at its end */
	assert_int_equal(blob_reader_open(e->bs, &id, 0, BLOB_TO_END, &r,
	    &err), 1);
	do {
		ret = blob_reader_read(r, got + total, 50000, &k, &err);
		total += k;
	} while (ret == 0 && k > 0);
	assert_int_equal(ret, BLOB_CORRUPT);
	blob_reader_close(&r);

	/* partial reads are not checked: the intact chunks still serve */
	expect_get(e, &id, BLOB_CHUNK, BLOB_CHUNK, 1, p + BLOB_CHUNK,
	    BLOB_CHUNK);
	free(p);
	free(got);
	buf_free(&out);
	buf_free(&err);
}

static void
test_writer_abort(void **state)
{
	struct blob_env *e = *state;
	unsigned char *p = pattern(3 * MiB, 19);
	struct buf err = BUF_INIT(0);
	struct blob_writer *w;
	struct blob_id id, empty;

	assert_int_equal(blob_writer_new(e->bs, &w, &err), 0);
	assert_int_equal(blob_writer_write(w, p, 3 * MiB, &err), 0);
	blob_writer_abort(&w);
	assert_null(w);
	blob_writer_abort(&w);
	blob_id_of(p, 3 * MiB, &id);
	expect_get(e, &id, 0, BLOB_TO_END, 0, NULL, 0);
	assert_int_equal(refcount(e, &id), 0);
	assert_int_equal(suite->count_objects(e), 0);

	/* a writer with nothing written stores the empty blob */
	assert_int_equal(blob_writer_new(e->bs, &w, &err), 0);
	assert_int_equal(blob_writer_finish(&w, &id, &err), 0);
	blob_id_of("", 0, &empty);
	assert_memory_equal(id.b, empty.b, BLOB_ID_SIZE);
	expect_get(e, &id, 0, BLOB_TO_END, 1, "", 0);
	assert_int_equal(refcount(e, &id), 1);
	free(p);
	buf_free(&err);
}

struct txn_arg {
	struct blob_store *bs;
	const struct blob_id *id;
	bool unref;
	bool fail;		/* return -1 after the blob call */
	int ret;
	bool reap;
};

static int
txn_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct txn_arg *a = arg;
	static const unsigned char key[] = "\x01test-record";
	int ret;

	if (a->unref)
		ret = blob_unref_txn(a->bs, t, a->id, &a->reap, err);
	else
		ret = blob_ref_txn(a->bs, t, a->id, err);
	a->ret = ret;
	if (ret < 0)
		return ret;
	/* the record that holds the reference commits with it */
	if (kv_put(t, key, sizeof(key) - 1, a->id->b, BLOB_ID_SIZE, err) < 0)
		return -1;
	return a->fail ? -1 : 0;
}

static void
test_txn_refs(void **state)
{
	struct blob_env *e = *state;
	struct buf err = BUF_INIT(0);
	struct blob_id id, none;
	struct txn_arg a;

	put_ok(e, "in a transaction", 16, &id);
	a = (struct txn_arg){ e->bs, &id, false, false, 0, false };
	assert_int_equal(kv_run(e->kv, KV_WRITE, txn_fn, &a, &err), 0);
	assert_int_equal(a.ret, 1);
	assert_int_equal(refcount(e, &id), 2);

	/* an aborted transaction takes its reference with it */
	a = (struct txn_arg){ e->bs, &id, false, true, 0, false };
	assert_int_equal(kv_run(e->kv, KV_WRITE, txn_fn, &a, &err), -1);
	assert_int_equal(refcount(e, &id), 2);
	buf_reset(&err);

	blob_id_of("none", 4, &none);
	a = (struct txn_arg){ e->bs, &none, false, false, 0, false };
	assert_int_equal(kv_run(e->kv, KV_WRITE, txn_fn, &a, &err), 0);
	assert_int_equal(a.ret, 0);

	a = (struct txn_arg){ e->bs, &id, true, false, 0, false };
	assert_int_equal(kv_run(e->kv, KV_WRITE, txn_fn, &a, &err), 0);
	assert_int_equal(a.ret, 1);
	assert_false(a.reap);
	unref_ok(e, &id, 1);
	put_ok(e, "in a transaction", 16, &id);
	a = (struct txn_arg){ e->bs, &id, true, false, 0, false };
	assert_int_equal(kv_run(e->kv, KV_WRITE, txn_fn, &a, &err), 0);
	assert_int_equal(refcount(e, &id), 0);
	if (a.reap)
		assert_int_equal(blob_reap(e->bs, &id, &err), 0);
	expect_get(e, &id, 0, BLOB_TO_END, 0, NULL, 0);
	assert_int_equal(suite->count_objects(e), 0);
	/* reaping what is referenced again keeps it */
	put_ok(e, "in a transaction", 16, &id);
	assert_int_equal(blob_reap(e->bs, &id, &err), 0);
	expect_get(e, &id, 0, BLOB_TO_END, 1, "in a transaction", 16);
	assert_int_equal(err.len, 0);
	buf_free(&err);
}

static void
test_buf_limit(void **state)
{
	struct blob_env *e = *state;
	unsigned char *p = pattern(100000, 23);
	struct buf out = BUF_INIT(50000), err = BUF_INIT(0);
	struct blob_id id;

	put_ok(e, p, 100000, &id);
	assert_int_equal(blob_get(e->bs, &id, 0, BLOB_TO_END, &out, &err),
	    -1);
	assert_int_equal(out.len, 0);
	assert_true(err.len > 0);
	assert_int_equal(blob_get(e->bs, &id, 10, 50000, &out, &err), 1);
	assert_int_equal(out.len, 50000);
	assert_memory_equal(out.data, p + 10, 50000);
	free(p);
	buf_free(&out);
	buf_free(&err);
}

/* ---- pinned puts ---- */

static bool
suite_is_fs(void)
{
	return strcmp(suite->blob_backend, "fs") == 0;
}

static struct blob_pin *
pin_ok(struct blob_env *e, const void *p, size_t n, struct blob_id *id)
{
	struct buf err = BUF_INIT(0);
	struct blob_pin *pin = NULL;

	if (blob_put_pinned(e->bs, p, n, id, &pin, &err) != 0)
		fail_msg("blob_put_pinned %zu bytes: %s", n, buf_cstr(&err));
	assert_non_null(pin);
	buf_free(&err);
	return pin;
}

struct pin_txn {
	struct blob_store *bs;
	struct blob_pin *pins[4];
	size_t npins;
	int refs;		/* blob_ref_pinned_txn calls per pin */
	bool fail;		/* return -1 at the end */
	int conflicts;		/* attempts to end in KV_CONFLICT first */
	int attempts;
};

static int
pin_txn_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct pin_txn *a = arg;
	static const unsigned char key[] = "\x01pinned-record";
	int ret;

	a->attempts++;
	for (size_t i = 0; i < a->npins; i++)
		for (int k = 0; k < a->refs; k++)
			if ((ret = blob_ref_pinned_txn(a->bs, t, a->pins[i],
			    err)) != 0)
				return ret;
	if (kv_put(t, key, sizeof(key) - 1, "x", 1, err) < 0)
		return -1;
	if (a->conflicts > 0) {
		a->conflicts--;
		return KV_CONFLICT;	/* kv_run runs it again */
	}
	return a->fail ? -1 : 0;
}

/* pin_commit - refs references to each pin in one transaction */
static int
pin_commit(struct blob_env *e, struct blob_pin **pins, size_t npins,
    int refs, bool fail)
{
	struct pin_txn a = { e->bs, { NULL }, npins, refs, fail, 0, 0 };
	struct buf err = BUF_INIT(0);
	int ret;

	assert_true(npins <= ARRAY_SIZE(a.pins));
	memcpy(a.pins, pins, npins * sizeof(*pins));
	ret = kv_run(e->kv, KV_WRITE, pin_txn_fn, &a, &err);
	if (ret != 0 && !fail)
		fail_msg("pinned transaction: %s", buf_cstr(&err));
	buf_free(&err);
	return ret;
}

static void
test_pin_commit(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 3 * BLOB_CHUNK + 7;
	unsigned char *p = pattern(n, 41);
	struct blob_id id, want;
	struct blob_pin *pin;

	blob_id_of(p, n, &want);
	pin = pin_ok(e, p, n, &id);
	assert_memory_equal(id.b, want.b, BLOB_ID_SIZE);
	assert_int_equal(refcount(e, &id), 0);	/* no count of its own */
	assert_int_equal(pin_commit(e, &pin, 1, 1, false), 0);
	blob_pin_release(&pin);
	assert_null(pin);
	blob_pin_release(&pin);	/* NULL is fine */
	assert_int_equal(refcount(e, &id), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	assert_int_equal(suite->count_objects(e), 1);

	/* the empty blob */
	pin = pin_ok(e, NULL, 0, &id);
	blob_id_of("", 0, &want);
	assert_memory_equal(id.b, want.b, BLOB_ID_SIZE);
	assert_int_equal(pin_commit(e, &pin, 1, 1, false), 0);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, "", 0);
	unref_ok(e, &id, 1);
	expect_get(e, &id, 0, BLOB_TO_END, 0, NULL, 0);
	free(p);
}

static void
test_pin_abort(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 100000;
	unsigned char *p = pattern(n, 43);
	struct blob_pin *pin;
	struct blob_id id;

	pin = pin_ok(e, p, n, &id);
	assert_int_equal(pin_commit(e, &pin, 1, 2, true), -1);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 0);
	/* fs: the content stays as an orphan; kv: nothing was written */
	assert_int_equal(suite->count_objects(e), suite_is_fs() ? 1 : 0);
	if (!suite_is_fs())
		expect_get(e, &id, 0, BLOB_TO_END, 0, NULL, 0);

	/* released without any transaction */
	pin = pin_ok(e, p, n, &id);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 0);

	/* a later put adopts the orphan */
	put_ok(e, p, n, &id);
	assert_int_equal(refcount(e, &id), 1);
	assert_int_equal(suite->count_objects(e), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	free(p);
}

static void
test_pin_several(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 2 * BLOB_CHUNK;
	unsigned char *p = pattern(n, 47);
	struct blob_pin *pins[3];
	struct blob_id id, id2;
	char a[32], b[32];

	/* three references in one transaction, the first try of which
	 * conflicts: only the committed attempt counts */
	pins[0] = pin_ok(e, p, n, &id);
	{
		struct pin_txn t = { e->bs, { pins[0] }, 1, 3, false, 1, 0 };
		struct buf err = BUF_INIT(0);

		if (kv_run(e->kv, KV_WRITE, pin_txn_fn, &t, &err) != 0)
			fail_msg("pinned transaction: %s", buf_cstr(&err));
		assert_int_equal(t.attempts, 2);
		buf_free(&err);
	}
	blob_pin_release(&pins[0]);
	assert_int_equal(refcount(e, &id), 3);
	assert_int_equal(suite->count_objects(e), 1);
	unref_ok(e, &id, 1);
	unref_ok(e, &id, 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	unref_ok(e, &id, 1);
	expect_get(e, &id, 0, BLOB_TO_END, 0, NULL, 0);
	assert_int_equal(suite->count_objects(e), 0);

	/*
	 * a group commit: several pins held by one thread at once, two of
	 * them in the same fs shard (first id byte) and one twice over,
	 * all counted in one transaction
	 */
	snprintf(a, sizeof(a), "group 0");
	blob_id_of(a, strlen(a), &id);
	for (unsigned i = 1;; i++) {
		snprintf(b, sizeof(b), "group %u", i);
		blob_id_of(b, strlen(b), &id2);
		if (id2.b[0] == id.b[0])
			break;
	}
	pins[0] = pin_ok(e, a, strlen(a), &id);
	pins[1] = pin_ok(e, b, strlen(b), &id2);
	pins[2] = pin_ok(e, a, strlen(a), &id);
	assert_int_equal(pin_commit(e, pins, 3, 1, false), 0);
	for (size_t i = 0; i < 3; i++)
		blob_pin_release(&pins[i]);
	assert_int_equal(refcount(e, &id), 2);
	assert_int_equal(refcount(e, &id2), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, a, strlen(a));
	expect_get(e, &id2, 0, BLOB_TO_END, 1, b, strlen(b));
	free(p);
}

static void
test_pin_referenced(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 70000;
	unsigned char *p = pattern(n, 53);
	struct blob_pin *pin;
	struct blob_id id, id2;

	put_ok(e, p, n, &id);
	pin = pin_ok(e, p, n, &id2);
	assert_memory_equal(id.b, id2.b, BLOB_ID_SIZE);
	assert_int_equal(refcount(e, &id), 1);
	assert_int_equal(pin_commit(e, &pin, 1, 2, false), 0);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 3);
	assert_int_equal(suite->count_objects(e), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);

	/* an aborted one leaves the existing references alone */
	pin = pin_ok(e, p, n, &id2);
	assert_int_equal(pin_commit(e, &pin, 1, 1, true), -1);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 3);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	free(p);
}

struct unref_job {
	struct blob_env *e;
	const struct blob_id *id;
	bool via_txn;	/* blob_unref_txn + blob_reap, or blob_unref */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool counted;		/* the count's change committed */
	atomic_bool done;
	int ret;
	char msg[200];
};

static int
unref_txn_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct txn_arg *a = arg;

	a->ret = blob_unref_txn(a->bs, t, a->id, &a->reap, err);
	return a->ret < 0 ? a->ret : 0;
}

static void *
unref_thread(void *arg)
{
	struct unref_job *j = arg;
	struct buf err = BUF_INIT(0);

	if (j->via_txn) {
		struct txn_arg a = { j->e->bs, j->id, true, false, 0, false };

		j->ret = kv_run(j->e->kv, KV_WRITE, unref_txn_fn, &a, &err);
		if (j->ret == 0 && (a.ret != 1 || (suite_is_fs() &&
		    !a.reap))) {
			j->ret = -2;
			buf_add_str(&err, "the unref did not reach zero");
		}
		pthread_mutex_lock(&j->mu);
		j->counted = true;
		pthread_cond_signal(&j->cv);
		pthread_mutex_unlock(&j->mu);
		if (j->ret == 0 && a.reap)
			j->ret = blob_reap(j->e->bs, j->id, &err);
	} else {
		j->ret = blob_unref(j->e->bs, j->id, &err) == 1 ? 0 : -1;
	}
	snprintf(j->msg, sizeof(j->msg), "%s", buf_cstr(&err));
	atomic_store(&j->done, true);
	buf_free(&err);
	return NULL;
}

/*
 * test_pin_vs_unref - while a pin is held, another thread drops the last
 * reference to the same content (blob_unref; blob_unref_txn then
 * blob_reap): on fs the removal must wait for the pin, on kv it may go
 * ahead and the pinned transaction writes the content again.  Either
 * way, once that transaction has committed, the count is 1 and the
 * content intact.
 */
static void
test_pin_vs_unref(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 50000;
	unsigned char *p = pattern(n, 59);

	for (int via_txn = 0; via_txn < 2; via_txn++) {
		struct unref_job j;
		struct blob_pin *pin;
		struct blob_id id;
		pthread_t th;

		memset(&j, 0, sizeof(j));
		put_ok(e, p, n, &id);
		pin = pin_ok(e, p, n, &id);
		j.e = e;
		j.id = &id;
		j.via_txn = via_txn;
		pthread_mutex_init(&j.mu, NULL);
		pthread_cond_init(&j.cv, NULL);
		atomic_init(&j.done, false);
		assert_int_equal(pthread_create(&th, NULL, unref_thread, &j),
		    0);
		if (via_txn) {
			/* the count reaches zero before the pinned
			 * transaction: its reference counts from zero */
			pthread_mutex_lock(&j.mu);
			while (!j.counted)
				pthread_cond_wait(&j.cv, &j.mu);
			pthread_mutex_unlock(&j.mu);
		}
		usleep(100 * 1000);
		if (suite_is_fs()) {
			assert_false(atomic_load(&j.done));
			expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
		}
		assert_int_equal(pin_commit(e, &pin, 1, 1, false), 0);
		blob_pin_release(&pin);
		pthread_join(th, NULL);
		if (j.ret != 0)
			fail_msg("unref thread: %d %s", j.ret, j.msg);
		assert_int_equal(refcount(e, &id), 1);
		expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
		assert_int_equal(suite->count_objects(e), 1);
		pthread_mutex_destroy(&j.mu);
		pthread_cond_destroy(&j.cv);
		unref_ok(e, &id, 1);
		assert_int_equal(suite->count_objects(e), 0);
	}
	free(p);
}

#define BLOB_TEST(f) cmocka_unit_test_setup_teardown(f, env_setup, \
	env_teardown)

static const struct CMUnitTest blob_conformance_tests[] = {
	BLOB_TEST(test_ids),
	BLOB_TEST(test_round_trip),
	BLOB_TEST(test_not_found),
	BLOB_TEST(test_refcount),
	BLOB_TEST(test_ranges),
	BLOB_TEST(test_reader),
	BLOB_TEST(test_concurrent_puts),
	BLOB_TEST(test_put_unref_race),
	BLOB_TEST(test_persistence),
	BLOB_TEST(test_corrupt),
	BLOB_TEST(test_writer_abort),
	BLOB_TEST(test_txn_refs),
	BLOB_TEST(test_buf_limit),
	BLOB_TEST(test_pin_commit),
	BLOB_TEST(test_pin_abort),
	BLOB_TEST(test_pin_several),
	BLOB_TEST(test_pin_referenced),
	BLOB_TEST(test_pin_vs_unref),
};

/* blob_suite_run - the conformance tests, then extra, against s */
static int
blob_suite_run(const struct blob_suite *s, const struct CMUnitTest *extra,
    size_t n_extra)
{
	int failed;

	suite = s;
	failed = _cmocka_run_group_tests(s->name, blob_conformance_tests,
	    ARRAY_SIZE(blob_conformance_tests), NULL, NULL);
	if (n_extra > 0)
		failed += _cmocka_run_group_tests(s->name, extra, n_extra,
		    NULL, NULL);
	return failed;
}
