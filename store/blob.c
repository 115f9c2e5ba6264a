/*
 * blob.c - the blob store's front end: backend choice, ids (SHA-256),
 * the streaming writer, pinned puts, ranges and readers, and the
 * reference counts in the data store ('B' id 'c', see blob.h), which
 * every backend shares.
 *
 * Invariants kept here, so backends need not: a backend's writer sees
 * appends of at most BLOB_CHUNK bytes gathered from the caller's writes
 * (none of 0 bytes), and commit only with the id the writer computed; a
 * reader's backend sees only reads within the blob's size; a range never
 * overflows (every end is computed by subtraction from the size); a
 * whole-blob read is hashed and compared with the id at its end, or,
 * when the backend stored a checksum with the content (XXH3-64 in the kv
 * backend's header or a file's xattr, r->has_check), with that: what a read can meet is the stored
 * bytes gone bad, which either finds, and the id was checked when the
 * content was put.  XXH3 runs at memory speed; SHA-256 was a quarter of
 * the server's CPU fetching message bodies over IMAP.  A count
 * key exists only with a value >= 1: blob_count_add deletes it at zero and
 * calls a negative result corruption.
 */
#include <errno.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "store/blob.h"
#include "store/store_priv.h"

#include <xxhash.h>

#include "common/xalloc.h"
#include "store/kv.h"

static const struct blob_ops *const backends[] = {
	&blob_fs_ops,
	&blob_kv_ops,
};

int
blob_open(const struct blob_options *opt, struct blob_store **bs_r,
    struct buf *err)
{
	const char *name = opt->backend != NULL ? opt->backend : "fs";
	const struct blob_ops *ops = NULL;
	struct blob_store *bs;

	for (size_t i = 0; i < ARRAY_SIZE(backends); i++)
		if (strcmp(backends[i]->name, name) == 0)
			ops = backends[i];
	if (ops == NULL) {
		buf_addf(err, "blob store: unknown backend \"%s\"", name);
		return -1;
	}
	if (opt->kv == NULL) {
		buf_addf(err, "blob store: no data store for the counts");
		return -1;
	}
	bs = xcalloc(1, sizeof(*bs));
	bs->ops = ops;
	bs->kv = opt->kv;
	bs->fault = opt->fault;
	bs->fault_ctx = opt->fault_ctx;
	if (ops->open(bs, opt, err) < 0) {
		free(bs);
		return -1;
	}
	*bs_r = bs;
	return 0;
}

void
blob_close(struct blob_store **bsp)
{
	struct blob_store *bs = *bsp;

	if (bs == NULL)
		return;
	bs->ops->close(bs);
	free(bs);
	*bsp = NULL;
}

const char *
blob_backend_name(const struct blob_store *bs)
{
	return bs->ops->name;
}

/* ---- ids ---- */

void
blob_id_of(const void *data, size_t len, struct blob_id *id_r)
{
	unsigned int n = 0;

	if (EVP_Digest(data, len, id_r->b, &n, EVP_sha256(), NULL) != 1 ||
	    n != BLOB_ID_SIZE)
		PANIC("SHA-256 failed");
}

void
blob_id_hex(const struct blob_id *id, char hex[BLOB_HEX_SIZE])
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < BLOB_ID_SIZE; i++) {
		hex[2 * i] = digits[id->b[i] >> 4];
		hex[2 * i + 1] = digits[id->b[i] & 0xf];
	}
	hex[2 * BLOB_ID_SIZE] = '\0';
}

static int
hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)ascii_tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
blob_id_parse(const char *hex, size_t len, struct blob_id *id_r)
{
	if (len != 2 * BLOB_ID_SIZE)
		return -1;
	for (size_t i = 0; i < BLOB_ID_SIZE; i++) {
		int hi = hex_val(hex[2 * i]), lo = hex_val(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		id_r->b[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* ---- helpers for the backends ---- */

void
blob_err(struct buf *err, const struct blob_id *id, const char *what, int e)
{
	char hex[BLOB_HEX_SIZE];

	blob_id_hex(id, hex);
	if (e != 0)
		buf_addf(err, "blob %s: %s: %s", hex, what, strerror(e));
	else
		buf_addf(err, "blob %s: %s", hex, what);
}

int
blob_fault(struct blob_store *bs, const char *step)
{
	return bs->fault != NULL ? bs->fault(bs->fault_ctx, step) : 0;
}

size_t
blob_key(unsigned char key[BLOB_KEY_SIZE], const struct blob_id *id,
    char kind)
{
	key[0] = 'B';
	memcpy(key + 1, id->b, BLOB_ID_SIZE);
	key[1 + BLOB_ID_SIZE] = (unsigned char)kind;
	return 2 + BLOB_ID_SIZE;
}

int
blob_count_get(struct kv_txn *t, const struct blob_id *id,
    int64_t *count_r, struct buf *err)
{
	unsigned char key[BLOB_KEY_SIZE];
	size_t klen = blob_key(key, id, 'c');
	struct buf val = BUF_INIT(0);
	int ret;

	ret = kv_get(t, key, klen, &val, err);
	if (ret == 1) {
		uint64_t v = 0;

		for (size_t i = 0; i < val.len && i < 8; i++)
			v = v << 8 | val.data[i];
		*count_r = (int64_t)v;
		if (val.len != 8 || *count_r < 1) {
			blob_err(err, id, "corrupt reference count", 0);
			ret = -1;
		}
	}
	buf_free(&val);
	return ret;
}

int
blob_count_add(struct kv_txn *t, const struct blob_id *id, int64_t delta,
    int64_t *count_r, struct buf *err)
{
	unsigned char key[BLOB_KEY_SIZE];
	size_t klen = blob_key(key, id, 'c');
	int64_t n;
	int ret;

	if ((ret = kv_add(t, key, klen, delta, &n, err)) < 0)
		return ret;
	if (n < 0) {
		blob_err(err, id, "reference count below zero", 0);
		return -1;
	}
	if (n == 0 && (ret = kv_delete(t, key, klen, err)) < 0)
		return ret;
	if (count_r != NULL)
		*count_r = n;
	return 0;
}

/* ---- reference counts ---- */

int
blob_ref_txn(struct blob_store *bs, struct kv_txn *t,
    const struct blob_id *id, struct buf *err)
{
	int64_t n;
	int ret;

	(void)bs;
	if ((ret = blob_count_get(t, id, &n, err)) != 1)
		return ret;
	if ((ret = blob_count_add(t, id, 1, NULL, err)) < 0)
		return ret;
	return 1;
}

/* unref_in - count - 1 in t, the content dropped at zero by backends
 * that do it in the transaction: 1 with the new count, 0, -1 */
static int
unref_in(struct blob_store *bs, struct kv_txn *t, const struct blob_id *id,
    int64_t *count_r, struct buf *err)
{
	int64_t n;
	int ret;

	if ((ret = blob_count_get(t, id, &n, err)) != 1)
		return ret;
	if ((ret = blob_count_add(t, id, -1, count_r, err)) < 0)
		return ret;
	if (*count_r == 0 && bs->ops->drop_txn != NULL &&
	    (ret = bs->ops->drop_txn(bs, t, id, err)) < 0)
		return ret;
	return 1;
}

int
blob_unref_txn(struct blob_store *bs, struct kv_txn *t,
    const struct blob_id *id, bool *reap_r, struct buf *err)
{
	int64_t n = 1;
	int ret;

	ret = unref_in(bs, t, id, &n, err);
	*reap_r = ret == 1 && n == 0 && bs->ops->reap != NULL;
	return ret;
}

int
blob_reap(struct blob_store *bs, const struct blob_id *id, struct buf *err)
{
	return bs->ops->reap != NULL ? bs->ops->reap(bs, id, err) : 0;
}

struct count_arg {
	struct blob_store *bs;
	const struct blob_id *id;
	int delta;		/* +1 or -1 */
	bool must_exist;	/* +1: only when referenced already */
	int found;
	int64_t count;
};

static int
count_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct count_arg *a = arg;
	int ret;

	a->found = 1;
	a->count = 1;
	if (a->delta < 0)
		ret = a->found = unref_in(a->bs, t, a->id, &a->count, err);
	else if (a->must_exist)
		ret = a->found = blob_ref_txn(a->bs, t, a->id, err);
	else
		ret = blob_count_add(t, a->id, 1, &a->count, err);
	return ret < 0 ? ret : 0;
}

int
blob_count_run(struct blob_store *bs, const struct blob_id *id, int delta,
    bool must_exist, bool *zero_r, struct buf *err)
{
	struct count_arg a = { bs, id, delta, must_exist, 0, 1 };

	if (kv_run(bs->kv, KV_WRITE, count_fn, &a, err) < 0)
		return -1;
	if (zero_r != NULL)
		*zero_r = delta < 0 && a.found == 1 && a.count == 0;
	return a.found;
}

int
blob_ref(struct blob_store *bs, const struct blob_id *id, struct buf *err)
{
	return blob_count_run(bs, id, 1, true, NULL, err);
}

int
blob_unref(struct blob_store *bs, const struct blob_id *id, struct buf *err)
{
	return bs->ops->unref(bs, id, err);
}

struct refcount_arg {
	const struct blob_id *id;
	int found;
	int64_t count;
};

static int
refcount_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct refcount_arg *a = arg;

	a->found = blob_count_get(t, a->id, &a->count, err);
	return a->found < 0 ? a->found : 0;
}

int
blob_refcount(struct blob_store *bs, const struct blob_id *id,
    uint64_t *count_r, struct buf *err)
{
	struct refcount_arg a = { id, 0, 0 };

	if (kv_run(bs->kv, KV_READ, refcount_fn, &a, err) < 0)
		return -1;
	if (a.found == 1)
		*count_r = (uint64_t)a.count;
	return a.found;
}

/* ---- writing ---- */

int
blob_put(struct blob_store *bs, const void *data, size_t len,
    struct blob_id *id_r, struct buf *err)
{
	struct blob_writer *w;

	if (bs->ops->put_mem != NULL) {
		blob_id_of(data, len, id_r);
		return bs->ops->put_mem(bs, id_r, data, len, err);
	}
	if (blob_writer_new(bs, &w, err) < 0)
		return -1;
	if (blob_writer_write(w, data, len, err) < 0) {
		blob_writer_abort(&w);
		return -1;
	}
	return blob_writer_finish(&w, id_r, err);
}

int
blob_put_pinned(struct blob_store *bs, const void *data, size_t len,
    struct blob_id *id_r, struct blob_pin **pin_r, struct buf *err)
{
	struct blob_pin *pin = xcalloc(1, sizeof(*pin));

	pin->bs = bs;
	pin->fd = -1;
	pin->size = len;
	if (data == NULL)
		data = "";	/* len 0: never hash or keep a NULL */
	blob_id_of(data, len, &pin->id);
	if (bs->ops->pin_put(bs, pin, data, err) < 0) {
		free(pin);
		return -1;
	}
	*id_r = pin->id;
	*pin_r = pin;
	return 0;
}

int
blob_ref_pinned_txn(struct blob_store *bs, struct kv_txn *t,
    struct blob_pin *pin, struct buf *err)
{
	ASSERT(pin->bs == bs);
	return bs->ops->pin_ref(bs, t, pin, err);
}

void
blob_pin_release(struct blob_pin **pinp)
{
	struct blob_pin *pin = *pinp;

	if (pin == NULL)
		return;
	*pinp = NULL;
	pin->bs->ops->pin_release(pin);
	free(pin);
}

static void
writer_free(struct blob_writer *w)
{
	EVP_MD_CTX_free(w->md);
	free(w->pend);
	free(w);
}

int
blob_writer_new(struct blob_store *bs, struct blob_writer **w_r,
    struct buf *err)
{
	struct blob_writer *w = xcalloc(1, sizeof(*w));

	w->bs = bs;
	w->pend = xmalloc(BLOB_CHUNK);
	w->md = EVP_MD_CTX_new();
	if (w->md == NULL || EVP_DigestInit_ex(w->md, EVP_sha256(), NULL) != 1) {
		buf_addf(err, "blob store: SHA-256 init failed");
		writer_free(w);
		return -1;
	}
	if (bs->ops->w_begin(w, err) < 0) {
		writer_free(w);
		return -1;
	}
	*w_r = w;
	return 0;
}

static int
writer_flush(struct blob_writer *w, struct buf *err)
{
	if (w->npend == 0)
		return 0;
	if (w->bs->ops->w_append(w, w->pend, w->npend, err) < 0)
		return -1;
	w->npend = 0;
	return 0;
}

int
blob_writer_write(struct blob_writer *w, const void *data, size_t len,
    struct buf *err)
{
	const unsigned char *p = data;

	if (w->failed) {
		buf_addf(err, "blob store: write after a failed write");
		return -1;
	}
	if (len > UINT64_MAX - w->size) {
		buf_addf(err, "blob store: blob too large");
		goto fail;
	}
	if (EVP_DigestUpdate(w->md, data, len) != 1) {
		buf_addf(err, "blob store: SHA-256 update failed");
		goto fail;
	}
	w->size += len;
	while (len > 0) {
		size_t n = BLOB_CHUNK - w->npend;

		if (w->npend == 0 && len >= BLOB_CHUNK) {
			/* a whole chunk: hand it over without copying */
			if (w->bs->ops->w_append(w, p, BLOB_CHUNK, err) < 0)
				goto fail;
			n = BLOB_CHUNK;
		} else {
			if (n > len)
				n = len;
			memcpy(w->pend + w->npend, p, n);
			w->npend += n;
			if (w->npend == BLOB_CHUNK && writer_flush(w, err) < 0)
				goto fail;
		}
		p += n;
		len -= n;
	}
	return 0;
fail:
	w->failed = true;
	return -1;
}

int
blob_writer_finish(struct blob_writer **wp, struct blob_id *id_r,
    struct buf *err)
{
	struct blob_writer *w = *wp;
	unsigned int n = 0;
	int ret = -1;

	*wp = NULL;
	if (w->failed)
		buf_addf(err, "blob store: finish after a failed write");
	else if (writer_flush(w, err) < 0)
		;
	else if (EVP_DigestFinal_ex(w->md, id_r->b, &n) != 1 ||
	    n != BLOB_ID_SIZE)
		buf_addf(err, "blob store: SHA-256 final failed");
	else
		ret = w->bs->ops->w_commit(w, id_r, err);
	w->bs->ops->w_end(w);
	writer_free(w);
	return ret;
}

void
blob_writer_abort(struct blob_writer **wp)
{
	struct blob_writer *w = *wp;

	if (w == NULL)
		return;
	*wp = NULL;
	w->bs->ops->w_end(w);
	writer_free(w);
}

/* ---- reading ---- */

int
blob_reader_open(struct blob_store *bs, const struct blob_id *id,
    uint64_t offset, uint64_t length, struct blob_reader **r_r,
    struct buf *err)
{
	struct blob_reader *r = xcalloc(1, sizeof(*r));
	int ret;

	r->bs = bs;
	r->id = *id;
	if ((ret = bs->ops->r_open(r, err)) != 1) {
		free(r);
		return ret;
	}
	if (offset >= r->size) {
		r->pos = r->end = r->size;
	} else {
		uint64_t avail = r->size - offset;

		r->pos = offset;
		r->end = offset + (length < avail ? length : avail);
	}
	if (offset == 0 && length >= r->size && r->has_check) {
		if ((r->xxh = XXH3_createState()) == NULL ||
		    XXH3_64bits_reset(r->xxh) != XXH_OK) {
			buf_addf(err, "blob store: XXH3 init failed");
			blob_reader_close(&r);
			return -1;
		}
	} else if (offset == 0 && length >= r->size) {
		r->md = EVP_MD_CTX_new();
		if (r->md == NULL ||
		    EVP_DigestInit_ex(r->md, EVP_sha256(), NULL) != 1) {
			buf_addf(err, "blob store: SHA-256 init failed");
			blob_reader_close(&r);
			return -1;
		}
	}
	*r_r = r;
	return 1;
}

/*
 * verify - the end of a whole-blob read: does it match its checksum, or
 * else hash to its id?
 */
static int
verify(struct blob_reader *r, struct buf *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	int ok;

	if (r->xxh != NULL) {
		uint64_t h = XXH3_64bits_digest(r->xxh);

		XXH3_freeState(r->xxh);
		r->xxh = NULL;
		if (h != r->check) {
			blob_err(err, &r->id, "content does not match its "
			    "checksum", 0);
			return BLOB_CORRUPT;
		}
		return 0;
	}
	ok = EVP_DigestFinal_ex(r->md, md, &n) == 1 && n == BLOB_ID_SIZE;
	EVP_MD_CTX_free(r->md);
	r->md = NULL;
	if (!ok) {
		buf_addf(err, "blob store: SHA-256 final failed");
		return -1;
	}
	if (memcmp(md, r->id.b, BLOB_ID_SIZE) != 0) {
		blob_err(err, &r->id, "content does not match its id", 0);
		return BLOB_CORRUPT;
	}
	return 0;
}

int
blob_reader_read(struct blob_reader *r, void *p, size_t cap, size_t *n_r,
    struct buf *err)
{
	uint64_t left = r->end - r->pos;
	size_t n = left < cap ? (size_t)left : cap;
	int ret;

	*n_r = 0;
	if (n > 0) {
		if ((ret = r->bs->ops->r_pread(r, p, n, r->pos, err)) < 0)
			return ret;
		if (r->md != NULL && EVP_DigestUpdate(r->md, p, n) != 1) {
			buf_addf(err, "blob store: SHA-256 update failed");
			return -1;
		}
		if (r->xxh != NULL && XXH3_64bits_update(r->xxh, p, n) !=
		    XXH_OK) {
			buf_addf(err, "blob store: XXH3 update failed");
			return -1;
		}
		r->pos += n;
	}
	if (r->pos == r->end && (r->md != NULL || r->xxh != NULL) &&
	    (ret = verify(r, err)) < 0)
		return ret;
	*n_r = n;
	return 0;
}

uint64_t
blob_reader_size(const struct blob_reader *r)
{
	return r->size;
}

void
blob_reader_close(struct blob_reader **rp)
{
	struct blob_reader *r = *rp;

	if (r == NULL)
		return;
	*rp = NULL;
	r->bs->ops->r_close(r);
	EVP_MD_CTX_free(r->md);
	XXH3_freeState(r->xxh);
	free(r);
}

int
blob_size(struct blob_store *bs, const struct blob_id *id, uint64_t *size_r,
    struct buf *err)
{
	struct blob_reader *r;
	int ret;

	if ((ret = blob_reader_open(bs, id, 0, 0, &r, err)) != 1)
		return ret;
	*size_r = r->size;
	blob_reader_close(&r);
	return 1;
}

int
blob_get(struct blob_store *bs, const struct blob_id *id, uint64_t offset,
    uint64_t length, struct buf *out, struct buf *err)
{
	struct blob_reader *r;
	unsigned char none;
	uint64_t want;
	size_t n;
	int ret;

	if ((ret = blob_reader_open(bs, id, offset, length, &r, err)) != 1)
		return ret;
	want = r->end - r->pos;
	if (want > SIZE_MAX - 1 || buf_reserve(out, (size_t)want) < 0) {
		blob_err(err, id, "larger than the buffer's limit", 0);
		blob_reader_close(&r);
		return -1;
	}
	/* straight into out's spare room; len moves only on success (an
	 * empty range still reads, to check an empty blob) */
	ret = blob_reader_read(r, want > 0 ? out->data + out->len : &none,
	    (size_t)want, &n, err);
	blob_reader_close(&r);
	if (ret < 0) {
		if (want > 0)
			out->data[out->len] = '\0';
		return ret;
	}
	if (n > 0) {
		out->len += n;
		out->data[out->len] = '\0';
	}
	return 1;
}
