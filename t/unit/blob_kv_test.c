/*
 * blob_kv_test.c - the kv blob backend: the conformance suite on SQLite
 * and on RocksDB, then its key layout (blob.h): chunks, header and count
 * under 'B' id, all gone with the last reference; a failed transaction
 * stores nothing, a pinned one's included.
 */
#include "t/unit/blob_conformance.c"

#include "store/store_priv.h"

#include <xxhash.h>

struct scan_arg {
	const unsigned char *prefix;
	size_t plen;
	size_t headers, keys;
};

static int
scan_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct scan_arg *a = arg;
	unsigned char end[BLOB_KEY_SIZE];
	size_t elen = kv_prefix_end(a->prefix, a->plen, end);
	struct kv_iter *it;
	const void *k, *v;
	size_t klen, vlen;
	int ret;

	a->headers = a->keys = 0;
	if (kv_iter_new(t, a->prefix, a->plen, end, elen, false, &it,
	    err) < 0)
		return -1;
	while ((ret = kv_iter_next(it, &k, &klen, &v, &vlen, err)) == 1) {
		a->keys++;
		if (klen == 2 + BLOB_ID_SIZE &&
		    ((const unsigned char *)k)[klen - 1] == 'h')
			a->headers++;
	}
	kv_iter_free(&it);
	return ret < 0 ? ret : 0;
}

static struct scan_arg
scan(struct blob_env *e, const void *prefix, size_t plen)
{
	struct scan_arg a = { prefix, plen, 0, 0 };
	struct buf err = BUF_INIT(0);

	if (kv_run(e->kv, KV_READ, scan_fn, &a, &err) < 0)
		fail_msg("scan: %s", buf_cstr(&err));
	buf_free(&err);
	return a;
}

static size_t
kv_count_objects(struct blob_env *e)
{
	return scan(e, "B", 1).headers;
}

struct flip_arg {
	const struct blob_id *id;
};

static int
flip_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct flip_arg *a = arg;
	unsigned char key[BLOB_KEY_SIZE];
	struct buf val = BUF_INIT(0);
	size_t klen = blob_key(key, a->id, 'd');
	int ret;

	memset(key + klen, 0, 4);	/* chunk 0 */
	klen += 4;
	if ((ret = kv_get(t, key, klen, &val, err)) != 1) {
		buf_free(&val);
		return -1;
	}
	val.data[0] ^= 0x20;
	ret = kv_put(t, key, klen, val.data, val.len, err);
	buf_free(&val);
	return ret;
}

static void
kv_corrupt(struct blob_env *e, const struct blob_id *id)
{
	struct flip_arg a = { id };
	struct buf err = BUF_INIT(0);

	if (kv_run(e->kv, KV_WRITE, flip_fn, &a, &err) < 0)
		fail_msg("corrupt: %s", buf_cstr(&err));
	buf_free(&err);
}

struct get_arg {
	const unsigned char *key;
	size_t klen;
	struct buf *val;
	int found;
};

static int
get_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct get_arg *a = arg;

	buf_reset(a->val);
	a->found = kv_get(t, a->key, a->klen, a->val, err);
	return a->found < 0 ? -1 : 0;
}

/* raw_get - a key's value straight from the data store: 1/0 */
static int
raw_get(struct blob_env *e, const unsigned char *key, size_t klen,
    struct buf *val)
{
	struct get_arg a = { key, klen, val, 0 };
	struct buf err = BUF_INIT(0);

	if (kv_run(e->kv, KV_READ, get_fn, &a, &err) < 0)
		fail_msg("get: %s", buf_cstr(&err));
	buf_free(&err);
	return a.found;
}

static void
test_kv_layout(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 2 * BLOB_CHUNK + 1000;
	unsigned char *p = pattern(n, 31);
	unsigned char key[BLOB_KEY_SIZE], prefix[1 + BLOB_ID_SIZE];
	static const unsigned char hdr[12] = {
		0, 0, 0, 0, 0, 2, 0x03, 0xe8, 0, 1, 0, 0,
	};
	uint64_t xxh;
	static const unsigned char one[8] = { 0, 0, 0, 0, 0, 0, 0, 1 };
	struct buf val = BUF_INIT(0);
	struct blob_id id;
	size_t klen;

	put_ok(e, p, n, &id);
	klen = blob_key(key, &id, 'h');
	assert_int_equal(klen, 34);
	assert_int_equal(key[0], 0x42);
	assert_int_equal(raw_get(e, key, klen, &val), 1);
	assert_int_equal(val.len, 20);
	assert_memory_equal(val.data, hdr, 12);	/* size, chunk size */
	xxh = XXH3_64bits(p, n);		/* then the checksum */
	for (int i = 0; i < 8; i++)
		assert_int_equal(val.data[12 + i], (xxh >> (56 - 8 * i)) & 0xff);
	klen = blob_key(key, &id, 'c');
	assert_int_equal(raw_get(e, key, klen, &val), 1);
	assert_int_equal(val.len, 8);
	assert_memory_equal(val.data, one, 8);
	for (uint32_t i = 0; i < 3; i++) {
		klen = blob_key(key, &id, 'd');
		key[klen] = key[klen + 1] = key[klen + 2] = 0;
		key[klen + 3] = (unsigned char)i;
		assert_int_equal(raw_get(e, key, klen + 4, &val), 1);
		assert_int_equal(val.len, i < 2 ? BLOB_CHUNK : 1000);
		assert_memory_equal(val.data, p + i * BLOB_CHUNK, val.len);
	}
	prefix[0] = 'B';
	memcpy(prefix + 1, id.b, BLOB_ID_SIZE);
	assert_int_equal(scan(e, prefix, sizeof(prefix)).keys, 5);

	/* the empty blob: a header and a count, no chunk */
	put_ok(e, "", 0, &id);
	memcpy(prefix + 1, id.b, BLOB_ID_SIZE);
	assert_int_equal(scan(e, prefix, sizeof(prefix)).keys, 2);

	unref_ok(e, &id, 1);
	blob_id_of(p, n, &id);
	unref_ok(e, &id, 1);
	assert_int_equal(scan(e, "B", 1).keys, 0);
	free(p);
	buf_free(&val);
}

struct put_raw {
	const unsigned char *key;
	size_t klen;
	const void *val;
	size_t vlen;
};

static int
put_raw_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct put_raw *a = arg;

	return kv_put(t, a->key, a->klen, a->val, a->vlen, err);
}

/* raw_put - a key's value straight into the data store */
static void
raw_put(struct blob_env *e, const unsigned char *key, size_t klen,
    const void *val, size_t vlen)
{
	struct put_raw a = { key, klen, val, vlen };
	struct buf err = BUF_INIT(0);

	if (kv_run(e->kv, KV_WRITE, put_raw_fn, &a, &err) < 0)
		fail_msg("put: %s", buf_cstr(&err));
	buf_free(&err);
}

/*
 * the read check: a one-chunk blob (read with its header in one
 * transaction) corrupted is found by its XXH3; a header from before the
 * checksum (12 bytes) reads, its content checked against the SHA-256 id
 */
static void
test_kv_checksum(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 5000;
	unsigned char *p = pattern(n, 41);
	unsigned char key[BLOB_KEY_SIZE];
	struct buf val = BUF_INIT(0), hdr = BUF_INIT(0), err = BUF_INIT(0);
	struct blob_id id;
	size_t klen;

	put_ok(e, p, n, &id);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	kv_corrupt(e, &id);
	assert_int_equal(blob_get(e->bs, &id, 0, BLOB_TO_END, &val, &err),
	    BLOB_CORRUPT);
	assert_non_null(strstr(buf_cstr(&err), "checksum"));
	assert_int_equal(val.len, 0);

	/* the old header: the same corruption, found by the SHA-256 */
	klen = blob_key(key, &id, 'h');
	assert_int_equal(raw_get(e, key, klen, &hdr), 1);
	raw_put(e, key, klen, hdr.data, 12);
	buf_reset(&err);
	assert_int_equal(blob_get(e->bs, &id, 0, BLOB_TO_END, &val, &err),
	    BLOB_CORRUPT);
	assert_non_null(strstr(buf_cstr(&err), "does not match its id"));
	kv_corrupt(e, &id);		/* flipped back: reads again */
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	unref_ok(e, &id, 1);
	free(p);
	buf_free(&val);
	buf_free(&hdr);
	buf_free(&err);
}

/* test_kv_failed_commit - nothing half-stored when the commit fails */
static void
test_kv_failed_commit(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 2 * MiB;
	unsigned char *p = pattern(n, 37);
	struct buf err = BUF_INIT(0);
	struct blob_writer *w;
	struct blob_id id;

	kv_failinject_set(e->kv, KV_FI_COMMIT, 1, -1);
	assert_int_equal(blob_put(e->bs, p, n, &id, &err), -1);
	assert_true(kv_failinject_fired(e->kv));
	assert_int_equal(scan(e, "B", 1).keys, 0);

	/* a put failing midway through the chunks, whole and streamed */
	kv_failinject_set(e->kv, KV_FI_PUT, 3, -1);
	assert_int_equal(blob_put(e->bs, p, n, &id, &err), -1);
	assert_true(kv_failinject_fired(e->kv));
	assert_int_equal(scan(e, "B", 1).keys, 0);
	kv_failinject_set(e->kv, KV_FI_PUT, 20, -1);
	assert_int_equal(blob_writer_new(e->bs, &w, &err), 0);
	assert_int_equal(blob_writer_write(w, p, n, &err), 0);
	assert_int_equal(blob_writer_finish(&w, &id, &err), -1);
	assert_true(kv_failinject_fired(e->kv));
	assert_int_equal(scan(e, "B", 1).keys, 0);

	/* an unref whose commit fails keeps everything */
	kv_failinject_set(e->kv, 0, 0, -1);
	put_ok(e, p, n, &id);
	kv_failinject_set(e->kv, KV_FI_COMMIT, 1, -1);
	assert_int_equal(blob_unref(e->bs, &id, &err), -1);
	kv_failinject_set(e->kv, 0, 0, -1);
	assert_int_equal(refcount(e, &id), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	free(p);
	buf_free(&err);
}

/*
 * test_kv_pin_failed - a pinned transaction failing at its commit or
 * midway through the chunks it writes stores nothing at all; an
 * ambiguous commit stores everything
 */
static void
test_kv_pin_failed(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 2 * MiB;
	unsigned char *p = pattern(n, 67);
	struct buf err = BUF_INIT(0);
	struct blob_pin *pin;
	struct pin_txn a;
	struct blob_id id;
	static const struct {
		unsigned ops, nth;
	} faults[] = {
		{ KV_FI_COMMIT, 1 }, { KV_FI_PUT, 1 }, { KV_FI_PUT, 20 },
		{ KV_FI_GET, 1 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(faults); i++) {
		pin = pin_ok(e, p, n, &id);
		a = (struct pin_txn){ e->bs, { pin }, 1, 2, false, 0, 0 };
		kv_failinject_set(e->kv, faults[i].ops, faults[i].nth, -1);
		assert_int_equal(kv_run(e->kv, KV_WRITE, pin_txn_fn, &a, &err),
		    -1);
		assert_true(kv_failinject_fired(e->kv));
		blob_pin_release(&pin);
		assert_int_equal(scan(e, "B", 1).keys, 0);
	}
	pin = pin_ok(e, p, n, &id);
	a = (struct pin_txn){ e->bs, { pin }, 1, 2, false, 0, 0 };
	kv_failinject_set(e->kv, KV_FI_COMMIT_AFTER, 1, -1);
	assert_int_equal(kv_run(e->kv, KV_WRITE, pin_txn_fn, &a, &err), -1);
	assert_true(kv_failinject_fired(e->kv));
	kv_failinject_set(e->kv, 0, 0, -1);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 2);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	free(p);
	buf_free(&err);
}

static const struct blob_suite kv_sqlite = {
	"blob kv (sqlite)", "kv", "sqlite", kv_count_objects, kv_corrupt,
	NULL,
};
static const struct blob_suite kv_rocksdb = {
	"blob kv (rocksdb)", "kv", "rocksdb", kv_count_objects, kv_corrupt,
	NULL,
};
static const struct blob_suite kv_failinject = {
	"blob kv (failinject:sqlite)", "kv", "failinject:sqlite",
	kv_count_objects, kv_corrupt, NULL,
};

int
main(void)
{
	static const struct CMUnitTest kv_tests[] = {
		BLOB_TEST(test_kv_layout),
		BLOB_TEST(test_kv_checksum),
	};
	static const struct CMUnitTest fi_tests[] = {
		BLOB_TEST(test_kv_failed_commit),
		BLOB_TEST(test_kv_pin_failed),
	};
	int failed = 0;

	failed += blob_suite_run(&kv_sqlite, kv_tests, ARRAY_SIZE(kv_tests));
	failed += blob_suite_run(&kv_rocksdb, kv_tests, ARRAY_SIZE(kv_tests));
	suite = &kv_failinject;
	failed += cmocka_run_group_tests_name(kv_failinject.name, fi_tests,
	    NULL, NULL);
	return failed;
}
