/*
 * blob_kv.c - the blob backend inside the data store: content in chunks
 * of BLOB_CHUNK bytes under 'B' id 'd' <u32 index>, a header 'B' id 'h'
 * (u64 size, u32 chunk size, u64 XXH3-64 of the content) and the shared
 * count 'B' id 'c' (blob.h).  A whole read checks the XXH3 (blob.c); a
 * header written before it was kept (12 bytes, no checksum) has the
 * content checked against the SHA-256 id instead.
 *
 * Invariants: chunks, header and count of a blob are written in one
 * transaction and deleted in one (the unref that reaches zero), so the
 * header exists iff the count does and every chunk it promises is there;
 * chunk i holds min(chunk size, size - i * chunk size) bytes, which every
 * read checks.  A range read fetches only the chunks it covers, in one
 * read transaction per call.
 *
 * A pinned put writes nothing until blob_ref_pinned_txn, which stores
 * chunks and header in the caller's transaction when they are absent.
 *
 * A streamed put gathers its content in memory up to BLOB_KV_SPILL bytes
 * and beyond that in an unnamed scratch file, and writes it all in the
 * commit's transaction: nothing is visible, and nothing is left behind by
 * a crash, before that commits.  XXX that transaction holds the store's
 * one writer for as long as a large blob takes to write; chunks written
 * ahead under a temporary key (and renamed by the header) would not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/blob.h"
#include "store/store_priv.h"

#include <xxhash.h>

#include "common/xalloc.h"
#include "store/kv.h"

#define HEADER_SIZE 20		/* size, chunk size, XXH3-64 */
#define HEADER_SIZE_OLD 12	/* without the checksum */

struct blob_kvbe {
	char *spool_dir;
};

struct kv_writer {
	struct buf mem;		/* the content while it fits in memory */
	int fd;			/* the scratch file, -1 until spilled */
};

struct kv_reader {
	uint32_t chunk;		/* chunk size from the header */
	struct buf cache;	/* the last chunk read, checked */
	uint64_t cache_index;
	bool cached;
};

static void
u64_put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void
u32_put(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
u64_get(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
u32_get(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static size_t
chunk_key(unsigned char key[BLOB_KEY_SIZE], const struct blob_id *id,
    uint64_t index)
{
	size_t n = blob_key(key, id, 'd');

	u32_put(key + n, (uint32_t)index);
	return n + 4;
}

static int
kvb_open(struct blob_store *bs, const struct blob_options *opt,
    struct buf *err)
{
	struct blob_kvbe *be;
	const char *dir = opt->path != NULL && opt->path[0] != '\0' ?
	    opt->path : "/tmp";

	if (mkdir_p(dir, 0700) < 0) {
		buf_addf(err, "blob store: mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	be = xcalloc(1, sizeof(*be));
	be->spool_dir = xstrdup(dir);
	bs->be = be;
	return 0;
}

static void
kvb_close(struct blob_store *bs)
{
	struct blob_kvbe *be = bs->be;

	free(be->spool_dir);
	free(be);
	bs->be = NULL;
}

/*
 * header_get - 1 with the size, chunk size and (*has_check) checksum, 0
 * when absent
 */
static int
header_get(struct kv_txn *t, const struct blob_id *id, uint64_t *size_r,
    uint32_t *chunk_r, bool *has_check, uint64_t *check_r, struct buf *err)
{
	unsigned char key[BLOB_KEY_SIZE];
	size_t klen = blob_key(key, id, 'h');
	struct buf val = BUF_INIT(0);
	int ret;

	ret = kv_get(t, key, klen, &val, err);
	if (ret == 1) {
		if ((val.len != HEADER_SIZE && val.len != HEADER_SIZE_OLD) ||
		    (*chunk_r = u32_get(val.data + 8)) == 0 ||
		    *chunk_r > KV_VALUE_MAX) {
			blob_err(err, id, "corrupt header", 0);
			ret = BLOB_CORRUPT;
		} else {
			*size_r = u64_get(val.data);
			*has_check = val.len == HEADER_SIZE;
			*check_r = *has_check ? u64_get(val.data + 12) : 0;
		}
	}
	buf_free(&val);
	return ret;
}

/* ---- writing ---- */

struct put_arg {
	const struct blob_id *id;
	uint64_t size;
	const unsigned char *mem;	/* the content, or NULL: in fd */
	int fd;
	unsigned char *chunk;		/* BLOB_CHUNK bytes for reading fd */
	int status;			/* BLOB_CORRUPT seen */
};

static int
put_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct put_arg *a = arg;
	unsigned char key[BLOB_KEY_SIZE], hdr[HEADER_SIZE];
	uint64_t size, off, check;
	uint32_t chunk;
	XXH3_state_t *xxh;
	bool has_check;
	size_t klen;
	int ret;

	a->status = 0;
	ret = header_get(t, a->id, &size, &chunk, &has_check, &check, err);
	if (ret == 1 && size != a->size) {
		blob_err(err, a->id, "stored size differs from the content's",
		    0);
		ret = BLOB_CORRUPT;
	}
	if (ret < 0) {
		a->status = ret;
		return ret == BLOB_CORRUPT ? -1 : ret;
	}
	if (ret == 1)
		return blob_count_add(t, a->id, 1, NULL, err);
	if ((xxh = XXH3_createState()) == NULL ||
	    XXH3_64bits_reset(xxh) != XXH_OK) {
		XXH3_freeState(xxh);
		buf_addf(err, "blob store: XXH3 init failed");
		return -1;
	}
	for (off = 0; off < a->size; off += BLOB_CHUNK) {
		uint64_t left = a->size - off;
		size_t n = left < BLOB_CHUNK ? (size_t)left : BLOB_CHUNK;
		const unsigned char *p = a->mem != NULL ? a->mem + off :
		    a->chunk;

		for (size_t got = 0; a->mem == NULL && got < n;) {
			ssize_t k = pread(a->fd, a->chunk + got, n - got,
			    (off_t)(off + got));

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) {
				blob_err(err, a->id, "read scratch file",
				    k < 0 ? errno : EIO);
				XXH3_freeState(xxh);
				return -1;
			}
			got += (size_t)k;
		}
		klen = chunk_key(key, a->id, off / BLOB_CHUNK);
		if (XXH3_64bits_update(xxh, p, n) != XXH_OK) {
			buf_addf(err, "blob store: XXH3 update failed");
			ret = -1;
		} else {
			ret = kv_put(t, key, klen, p, n, err);
		}
		if (ret < 0) {
			XXH3_freeState(xxh);
			return ret;
		}
	}
	u64_put(hdr, a->size);
	u32_put(hdr + 8, BLOB_CHUNK);
	u64_put(hdr + 12, XXH3_64bits_digest(xxh));
	XXH3_freeState(xxh);
	klen = blob_key(key, a->id, 'h');
	if ((ret = kv_put(t, key, klen, hdr, sizeof(hdr), err)) < 0)
		return ret;
	return blob_count_add(t, a->id, 1, NULL, err);
}

static int
put_run(struct blob_store *bs, struct put_arg *a, struct buf *err)
{
	/* 2^32 chunks of BLOB_CHUNK bytes: 256 TiB, far past any message */
	if (a->size / BLOB_CHUNK > UINT32_MAX) {
		blob_err(err, a->id, "too large for the data store", 0);
		return -1;
	}
	if (kv_run(bs->kv, KV_WRITE, put_fn, a, err) < 0)
		return a->status < 0 ? a->status : -1;
	return 0;
}

static int
kvb_put_mem(struct blob_store *bs, const struct blob_id *id, const void *p,
    size_t n, struct buf *err)
{
	struct put_arg a = { id, n, p, -1, NULL, 0 };

	if (p == NULL)
		a.mem = (const unsigned char *)"";
	return put_run(bs, &a, err);
}

static int
kvb_w_begin(struct blob_writer *w, struct buf *err)
{
	struct kv_writer *kw = xcalloc(1, sizeof(*kw));

	(void)err;
	buf_init(&kw->mem, 0);
	kw->fd = -1;
	w->be = kw;
	return 0;
}

/* spill_open - an unnamed scratch file in the spool directory */
static int
spill_open(struct blob_kvbe *be, struct buf *err)
{
	struct buf path = BUF_INIT(0);
	int fd;

	fd = open(be->spool_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	/* a filesystem without O_TMPFILE: a name, unlinked at once */
	buf_addf(&path, "%s/postern-blob.XXXXXX", be->spool_dir);
	fd = mkostemp((char *)path.data, O_CLOEXEC);
	if (fd >= 0)
		unlink((char *)path.data);
	else
		buf_addf(err, "blob store: scratch file in %s: %s",
		    be->spool_dir, strerror(errno));
	buf_free(&path);
	return fd;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const unsigned char *s = p;

	while (n > 0) {
		ssize_t k = write(fd, s, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

static int
kvb_w_append(struct blob_writer *w, const void *p, size_t n,
    struct buf *err)
{
	struct kv_writer *kw = w->be;

	if (kw->fd < 0 && n <= BLOB_KV_SPILL - kw->mem.len) {
		buf_add(&kw->mem, p, n);
		return 0;
	}
	if (kw->fd < 0) {
		if ((kw->fd = spill_open(w->bs->be, err)) < 0)
			return -1;
		if (write_all(kw->fd, kw->mem.data, kw->mem.len) < 0)
			goto fail;
		buf_free(&kw->mem);
	}
	if (write_all(kw->fd, p, n) < 0)
		goto fail;
	return 0;
fail:
	buf_addf(err, "blob store: write scratch file: %s", strerror(errno));
	return -1;
}

static int
kvb_w_commit(struct blob_writer *w, const struct blob_id *id,
    struct buf *err)
{
	struct kv_writer *kw = w->be;
	struct put_arg a = { id, w->size, NULL, kw->fd, NULL, 0 };
	int ret;

	if (kw->fd < 0) {
		a.mem = kw->mem.data != NULL ? kw->mem.data :
		    (const unsigned char *)"";
		return put_run(w->bs, &a, err);
	}
	a.chunk = xmalloc(BLOB_CHUNK);
	ret = put_run(w->bs, &a, err);
	free(a.chunk);
	return ret;
}

static void
kvb_w_end(struct blob_writer *w)
{
	struct kv_writer *kw = w->be;

	if (kw == NULL)
		return;
	if (kw->fd >= 0)
		close(kw->fd);
	buf_free(&kw->mem);
	free(kw);
	w->be = NULL;
}

/* ---- pinned puts ---- */

/*
 * Nothing is written before the caller's transaction: the pin keeps the
 * caller's pointer, and the first pin_ref in a transaction writes chunks
 * and header when that transaction does not see them (its own earlier
 * call, or another one's commit).  So content and count still commit
 * together, a crash or an abort leaves nothing, and an unref reaching
 * zero elsewhere is serialised with the transaction by the data store:
 * either it comes first and the content is written again, or after and
 * it sees the count.
 */
static int
kvb_pin_put(struct blob_store *bs, struct blob_pin *pin, const void *data,
    struct buf *err)
{
	(void)bs;
	if (pin->size / BLOB_CHUNK > UINT32_MAX) {
		blob_err(err, &pin->id, "too large for the data store", 0);
		return -1;
	}
	pin->data = data;
	return 0;
}

static int
kvb_pin_ref(struct blob_store *bs, struct kv_txn *t, struct blob_pin *pin,
    struct buf *err)
{
	struct put_arg a = { &pin->id, pin->size, pin->data, -1, NULL, 0 };

	(void)bs;
	return put_fn(t, &a, err);
}

static void
kvb_pin_release(struct blob_pin *pin)
{
	pin->data = NULL;
}

/* ---- reading ---- */

struct hdr_arg {
	const struct blob_id *id;
	int found;
	uint64_t size;
	uint32_t chunk;
	bool has_check;
	uint64_t check;
	struct buf *cache;	/* a one-chunk blob: its content */
	int status;
};

/*
 * hdr_fn - the header and, for a blob of one chunk (every message under
 * the chunk size), that chunk in the same read transaction: one
 * transaction per small blob read instead of two
 */
static int
hdr_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct hdr_arg *a = arg;
	unsigned char key[BLOB_KEY_SIZE];
	int ret;

	a->found = header_get(t, a->id, &a->size, &a->chunk, &a->has_check,
	    &a->check, err);
	if (a->found != 1 || a->size == 0 || a->size > a->chunk)
		return a->found < 0 ? -1 : 0;
	ret = kv_get(t, key, chunk_key(key, a->id, 0), a->cache, err);
	if (ret < 0)
		return -1;
	if (ret == 0) {
		blob_err(err, a->id, "chunk missing (deleted while "
		    "reading?)", 0);
		return -1;
	}
	if (a->cache->len != a->size) {
		blob_err(err, a->id, "chunk of the wrong size", 0);
		a->status = BLOB_CORRUPT;
		return -1;
	}
	return 0;
}

static int
kvb_r_open(struct blob_reader *r, struct buf *err)
{
	struct kv_reader *kr = xcalloc(1, sizeof(*kr));
	struct hdr_arg a = { &r->id, 0, 0, 0, false, 0, &kr->cache, 0 };

	buf_init(&kr->cache, 0);
	if (kv_run(r->bs->kv, KV_READ, hdr_fn, &a, err) < 0 || a.found != 1) {
		buf_free(&kr->cache);
		free(kr);
		if (a.found == 0)
			return 0;
		return a.status < 0 ? a.status : a.found == BLOB_CORRUPT ?
		    BLOB_CORRUPT : -1;
	}
	kr->chunk = a.chunk;
	kr->cached = a.size > 0 && a.size <= a.chunk;
	kr->cache_index = 0;
	r->be = kr;
	r->size = a.size;
	r->has_check = a.has_check;
	r->check = a.check;
	return 1;
}

struct chunks_arg {
	struct blob_reader *r;
	unsigned char *p;
	size_t n;
	uint64_t off;
	int status;
};

/* chunks_fn - a range within one read transaction; the last chunk stays
 * cached, so small sequential reads fetch each chunk once */
static int
chunks_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct chunks_arg *a = arg;
	struct kv_reader *kr = a->r->be;
	unsigned char key[BLOB_KEY_SIZE];
	unsigned char *d = a->p;
	uint64_t off = a->off;
	size_t n = a->n;
	int ret;

	a->status = 0;
	while (n > 0) {
		uint64_t index = off / kr->chunk, start = index * kr->chunk;
		uint64_t left = a->r->size - start;
		size_t want = left < kr->chunk ? (size_t)left : kr->chunk;
		size_t skip = (size_t)(off - start), take = want - skip;

		if (take > n)
			take = n;
		if (!kr->cached || kr->cache_index != index) {
			kr->cached = false;
			buf_reset(&kr->cache);
			ret = kv_get(t, key, chunk_key(key, &a->r->id, index),
			    &kr->cache, err);
			if (ret < 0)
				return ret;
			if (ret == 0) {
				blob_err(err, &a->r->id, "chunk missing "
				    "(deleted while reading?)", 0);
				return -1;
			}
			if (kr->cache.len != want) {
				blob_err(err, &a->r->id, "chunk of the wrong "
				    "size", 0);
				a->status = BLOB_CORRUPT;
				return -1;
			}
			kr->cached = true;
			kr->cache_index = index;
		}
		memcpy(d, kr->cache.data + skip, take);
		d += take;
		off += take;
		n -= take;
	}
	return 0;
}

static int
kvb_r_pread(struct blob_reader *r, void *p, size_t n, uint64_t off,
    struct buf *err)
{
	struct chunks_arg a = { r, p, n, off, 0 };
	struct kv_reader *kr = r->be;

	/* within the chunk kvb_r_open or the last read left: no txn */
	if (kr->cached && off / kr->chunk == kr->cache_index &&
	    (off + n - 1) / kr->chunk == kr->cache_index)
		return chunks_fn(NULL, &a, err);
	if (kv_run(r->bs->kv, KV_READ, chunks_fn, &a, err) < 0)
		return a.status < 0 ? a.status : -1;
	return 0;
}

static void
kvb_r_close(struct blob_reader *r)
{
	struct kv_reader *kr = r->be;

	if (kr == NULL)
		return;
	buf_free(&kr->cache);
	free(kr);
	r->be = NULL;
}

/* ---- deleting ---- */

static int
kvb_drop_txn(struct blob_store *bs, struct kv_txn *t,
    const struct blob_id *id, struct buf *err)
{
	unsigned char start[BLOB_KEY_SIZE], end[BLOB_KEY_SIZE];
	size_t slen = blob_key(start, id, 'd');
	int ret;

	(void)bs;
	blob_key(end, id, 'd' + 1);
	if ((ret = kv_delete_range(t, start, slen, end, slen, err)) < 0)
		return ret;
	slen = blob_key(start, id, 'h');
	return kv_delete(t, start, slen, err);
}

static int
kvb_unref(struct blob_store *bs, const struct blob_id *id, struct buf *err)
{
	return blob_count_run(bs, id, -1, true, NULL, err);
}

const struct blob_ops blob_kv_ops = {
	.name = "kv",
	.open = kvb_open,
	.close = kvb_close,
	.w_begin = kvb_w_begin,
	.w_append = kvb_w_append,
	.w_commit = kvb_w_commit,
	.w_end = kvb_w_end,
	.put_mem = kvb_put_mem,
	.r_open = kvb_r_open,
	.r_pread = kvb_r_pread,
	.r_close = kvb_r_close,
	.unref = kvb_unref,
	.drop_txn = kvb_drop_txn,
	.reap = NULL,
	.pin_put = kvb_pin_put,
	.pin_ref = kvb_pin_ref,
	.pin_release = kvb_pin_release,
};
