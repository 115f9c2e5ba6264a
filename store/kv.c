/*
 * kv.c - the data store front end: backend selection, the checks every
 * call goes through, kv_add, kv_prefix_end, kv_run, and the writer lock
 * the embedded backends share.  The backends behind struct kv_ops
 * (store_priv.h) see only valid calls, so limits are enforced once, here.
 *
 * Invariants: a transaction that saw a backend failure (-1 or
 * KV_CONFLICT) is doomed - every later call returns that failure and
 * kv_commit rolls it back - so no caller can commit half of what it
 * meant to write.  Argument errors (a key over KV_KEY_MAX, a write in a
 * read transaction, kv_add overflow or a value that is not 8 bytes, a
 * value bigger than the caller's buffer allows) change nothing and leave
 * the transaction usable.  kv_commit/kv_abort with an iterator still open
 * and kv_close with a transaction still open are bugs: PANIC.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "store/kv.h"
#include "store/store_priv.h"

#define KV_RUN_ATTEMPTS 100u
#define KV_RUN_BACKOFF_US 50u	/* first retry waits up to this, doubling */
#define KV_RUN_BACKOFF_SHIFT_MAX 8u	/* ... to at most 12.8 ms */

const unsigned char kv_unbounded_end[KV_KEY_MAX + 1] = {
	[0 ... KV_KEY_MAX] = 0xff,
};

static const struct kv_ops *const kv_backends[] = {
	&kv_sqlite_ops,
	&kv_rocksdb_ops,
	&kv_failinject_ops,
};

static const unsigned char kv_empty[1];	/* what a NULL, 0-length pointer becomes */

int
kv_open(const struct kv_options *opt, struct kv **kv_r, struct buf *err)
{
	const char *name, *colon, *arg = NULL;
	size_t nlen;

	*kv_r = NULL;
	if (opt == NULL || opt->path == NULL || opt->path[0] == '\0') {
		buf_addf(err, "kv_open: no path given");
		return -1;
	}
	name = opt->backend != NULL ? opt->backend : "sqlite";
	colon = strchr(name, ':');
	nlen = colon != NULL ? (size_t)(colon - name) : strlen(name);
	if (colon != NULL)
		arg = colon + 1;
	for (size_t i = 0; i < ARRAY_SIZE(kv_backends); i++) {
		const struct kv_ops *ops = kv_backends[i];
		struct kv *kv;

		if (strlen(ops->name) != nlen ||
		    memcmp(ops->name, name, nlen) != 0)
			continue;
		if (ops->open(opt, arg, &kv, err) < 0)
			return -1;
		kv->ops = ops;
		kv->read_only = opt->read_only;
		kv->commit_hook = NULL;
		kv->commit_arg = NULL;
		atomic_init(&kv->n_txns, 0);
		*kv_r = kv;
		return 0;
	}
	buf_addf(err, "kv_open: unknown backend \"%s\"", name);
	return -1;
}

void
kv_close(struct kv **kvp)
{
	struct kv *kv = *kvp;

	if (kv == NULL)
		return;
	*kvp = NULL;
	if (atomic_load(&kv->n_txns) != 0)
		PANIC("kv_close: %u transaction(s) still open",
		    atomic_load(&kv->n_txns));
	kv->ops->close(kv);
}

const char *
kv_backend_name(const struct kv *kv)
{
	return kv->ops->name;
}

int
kv_begin(struct kv *kv, enum kv_mode mode, struct kv_txn **txn_r,
    struct buf *err)
{
	struct kv_txn *t;
	int r;

	*txn_r = NULL;
	if (mode == KV_WRITE && kv->read_only) {
		buf_addf(err, "kv_begin: the store was opened read-only");
		return -1;
	}
	r = kv->ops->begin(kv, mode, &t, err);
	if (r < 0)
		return r;
	t->kv = kv;
	t->mode = mode;
	t->failed = 0;
	t->n_iters = 0;
	t->gen = 0;
	t->notes = NULL;
	t->nnotes = t->notes_cap = 0;
	atomic_fetch_add(&kv->n_txns, 1);
	*txn_r = t;
	return 0;
}

/* add_line - err may already hold the failure a caller ignored */
static void
add_line(struct buf *err, const char *text)
{
	buf_addf(err, "%s%s", err->len > 0 ? "; " : "", text);
}

static void
txn_end_checks(struct kv_txn *t, const char *what)
{
	if (t->n_iters != 0)
		PANIC("%s: %u iterator(s) still open", what, t->n_iters);
	atomic_fetch_sub(&t->kv->n_txns, 1);
}

void
kv_set_commit_hook(struct kv *kv, kv_commit_fn *fn, void *arg)
{
	kv->commit_hook = fn;
	kv->commit_arg = arg;
}

void
kv_txn_note(struct kv_txn *t, uint32_t v)
{
	if (t->mode != KV_WRITE)
		return;
	for (size_t i = 0; i < t->nnotes; i++)
		if (t->notes[i] == v)
			return;
	if (t->nnotes == t->notes_cap) {
		t->notes_cap = t->notes_cap == 0 ? 4 : t->notes_cap * 2;
		t->notes = xreallocarray(t->notes, t->notes_cap,
		    sizeof(*t->notes));
	}
	t->notes[t->nnotes++] = v;
}

/* notes_take - t's notes, to hand to the hook once it has committed */
static uint32_t *
notes_take(struct kv_txn *t, size_t *n_r)
{
	uint32_t *notes = t->notes;

	*n_r = t->nnotes;
	t->notes = NULL;
	t->nnotes = t->notes_cap = 0;
	return notes;
}

static void
notes_done(struct kv *kv, uint32_t *notes, size_t n, bool committed)
{
	if (committed && n > 0 && kv->commit_hook != NULL)
		kv->commit_hook(kv->commit_arg, notes, n);
	free(notes);
}

/* commit - kv_commit; kv_commit_nowait when ticket_r is not NULL */
static int
commit(struct kv_txn **txn, uint64_t *ticket_r, struct buf *err)
{
	struct kv_txn *t = *txn;
	struct kv *kv;		/* t is the next writer's after the commit */
	uint32_t *notes;
	size_t nnotes;
	int r;

	ASSERT(t != NULL);
	if (ticket_r != NULL)
		*ticket_r = 0;
	*txn = NULL;
	txn_end_checks(t, "kv_commit");
	kv = t->kv;
	notes = notes_take(t, &nnotes);
	if (t->failed != 0) {
		r = t->failed;
		t->kv->ops->abort(t);
		notes_done(kv, notes, nnotes, false);
		add_line(err, "kv_commit: rolled back, an earlier call failed");
		return r;
	}
	if (t->mode == KV_WRITE && t->kv->ops->commit_nowait != NULL) {
		uint64_t ticket = 0;

		r = t->kv->ops->commit_nowait(t, &ticket, err);
		/* visible from here: tell the hook before waiting for the
		 * sync, so that the waiters of a group commit hear early */
		notes_done(kv, notes, nnotes, r == 0);
		if (r != 0 || ticket_r != NULL) {
			if (ticket_r != NULL)
				*ticket_r = ticket;
			return r;
		}
		return kv_wait_durable(kv, ticket, err);
	}
	r = t->kv->ops->commit(t, err);
	notes_done(kv, notes, nnotes, r == 0);
	return r;
}

int
kv_commit(struct kv_txn **txn, struct buf *err)
{
	return commit(txn, NULL, err);
}

int
kv_commit_nowait(struct kv_txn **txn, uint64_t *ticket_r, struct buf *err)
{
	return commit(txn, ticket_r, err);
}

int
kv_wait_durable(struct kv *kv, uint64_t ticket, struct buf *err)
{
	if (ticket == 0 || kv->ops->durable == NULL)
		return 0;
	return kv->ops->durable(kv, ticket, err);
}

void
kv_abort(struct kv_txn **txn)
{
	struct kv_txn *t = *txn;

	if (t == NULL)
		return;
	*txn = NULL;
	txn_end_checks(t, "kv_abort");
	free(t->notes);
	t->notes = NULL;
	t->nnotes = t->notes_cap = 0;
	t->kv->ops->abort(t);
}

/* usable - 0 when a call may go to the backend, else its answer */
static int
usable(struct kv_txn *t, bool write, struct buf *err)
{
	if (t->failed != 0) {
		add_line(err, "kv: the transaction already failed");
		return t->failed;
	}
	if (write && t->mode != KV_WRITE) {
		buf_addf(err, "kv: write in a read transaction");
		return -1;
	}
	return 0;
}

static int
check_key(const char *what, size_t klen, struct buf *err)
{
	if (klen > KV_KEY_MAX) {
		buf_addf(err, "%s: key of %zu bytes, the limit is %u", what,
		    klen, KV_KEY_MAX);
		return -1;
	}
	return 0;
}

/* backend_result - record a backend failure in the transaction */
static int
backend_result(struct kv_txn *t, int r)
{
	if (r < 0)
		t->failed = r == KV_CONFLICT ? KV_CONFLICT : -1;
	return r < 0 ? t->failed : r;
}

#define NONNULL(p) ((const void *)(p) != NULL ? (const void *)(p) : \
	(const void *)kv_empty)

int
kv_get(struct kv_txn *t, const void *key, size_t klen, struct buf *val,
    struct buf *err)
{
	const void *v;
	size_t vlen;
	int r;

	if ((r = usable(t, false, err)) != 0 ||
	    (r = check_key("kv_get", klen, err)) != 0)
		return r;
	r = backend_result(t, t->kv->ops->get(t, NONNULL(key), klen, &v,
	    &vlen, err));
	if (r != 1)
		return r;
	if (buf_append(val, v, vlen) < 0) {
		buf_addf(err, "kv_get: value of %zu bytes is over the buffer "
		    "limit %zu", vlen, val->max);
		return -1;
	}
	return 1;
}

int
kv_put(struct kv_txn *t, const void *key, size_t klen, const void *val,
    size_t vlen, struct buf *err)
{
	int r;

	if ((r = usable(t, true, err)) != 0 ||
	    (r = check_key("kv_put", klen, err)) != 0)
		return r;
	if (vlen > KV_VALUE_MAX) {
		buf_addf(err, "kv_put: value of %zu bytes, the limit is %u",
		    vlen, KV_VALUE_MAX);
		return -1;
	}
	t->gen++;
	return backend_result(t, t->kv->ops->put(t, NONNULL(key), klen,
	    NONNULL(val), vlen, err));
}

int
kv_delete(struct kv_txn *t, const void *key, size_t klen, struct buf *err)
{
	int r;

	if ((r = usable(t, true, err)) != 0 ||
	    (r = check_key("kv_delete", klen, err)) != 0)
		return r;
	t->gen++;
	return backend_result(t, t->kv->ops->del(t, NONNULL(key), klen, err));
}

/* range_end - NULL for "no upper bound" (end NULL or elen 0) */
static const void *
range_end(const void *end, size_t elen)
{
	return end != NULL && elen > 0 ? end : NULL;
}

int
kv_delete_range(struct kv_txn *t, const void *start, size_t slen,
    const void *end, size_t elen, struct buf *err)
{
	int r;

	end = range_end(end, elen);
	elen = end != NULL ? elen : 0;
	if ((r = usable(t, true, err)) != 0 ||
	    (r = check_key("kv_delete_range start", slen, err)) != 0 ||
	    (r = check_key("kv_delete_range end", elen, err)) != 0)
		return r;
	t->gen++;
	return backend_result(t, t->kv->ops->delete_range(t, NONNULL(start),
	    slen, end, elen, err));
}

int
kv_add(struct kv_txn *t, const void *key, size_t klen, int64_t delta,
    int64_t *new_r, struct buf *err)
{
	unsigned char be[8];
	const unsigned char *v;
	const void *vp;
	size_t vlen;
	uint64_t u = 0;
	int64_t cur, sum;
	int r;

	if ((r = usable(t, true, err)) != 0 ||
	    (r = check_key("kv_add", klen, err)) != 0)
		return r;
	key = NONNULL(key);
	r = backend_result(t, t->kv->ops->get(t, key, klen, &vp, &vlen, err));
	if (r < 0)
		return r;
	if (r == 1) {
		if (vlen != sizeof(be)) {
			buf_addf(err, "kv_add: the value has %zu bytes, a "
			    "counter has 8", vlen);
			return -1;
		}
		v = vp;
		for (size_t i = 0; i < sizeof(be); i++)
			u = u << 8 | v[i];
	}
	cur = (int64_t)u;	/* two's complement: gcc defines the cast */
	if (__builtin_add_overflow(cur, delta, &sum)) {
		buf_addf(err, "kv_add: %lld + %lld overflows", (long long)cur,
		    (long long)delta);
		return -1;
	}
	u = (uint64_t)sum;
	for (size_t i = sizeof(be); i > 0; i--, u >>= 8)
		be[i - 1] = (unsigned char)u;
	t->gen++;
	r = backend_result(t, t->kv->ops->put(t, key, klen, be, sizeof(be),
	    err));
	if (r == 0 && new_r != NULL)
		*new_r = sum;
	return r;
}

int
kv_iter_new(struct kv_txn *t, const void *start, size_t slen,
    const void *end, size_t elen, bool reverse, struct kv_iter **it_r,
    struct buf *err)
{
	struct kv_iter *it;
	int r;

	*it_r = NULL;
	end = range_end(end, elen);
	elen = end != NULL ? elen : 0;
	if ((r = usable(t, false, err)) != 0 ||
	    (r = check_key("kv_iter_new start", slen, err)) != 0 ||
	    (r = check_key("kv_iter_new end", elen, err)) != 0)
		return r;
	r = backend_result(t, t->kv->ops->iter_new(t, NONNULL(start), slen,
	    end, elen, reverse, &it, err));
	if (r < 0)
		return r;
	it->txn = t;
	t->n_iters++;
	*it_r = it;
	return 0;
}

int
kv_iter_next(struct kv_iter *it, const void **key, size_t *klen,
    const void **val, size_t *vlen, struct buf *err)
{
	struct kv_txn *t = it->txn;
	int r;

	if ((r = usable(t, false, err)) != 0)
		return r;
	return backend_result(t, t->kv->ops->iter_next(it, key, klen, val,
	    vlen, err));
}

void
kv_iter_free(struct kv_iter **itp)
{
	struct kv_iter *it = *itp;

	if (it == NULL)
		return;
	*itp = NULL;
	ASSERT(it->txn->n_iters > 0);
	it->txn->n_iters--;
	it->txn->kv->ops->iter_free(it);
}

size_t
kv_prefix_end(const void *prefix, size_t plen, unsigned char *out)
{
	const unsigned char *p = prefix;

	while (plen > 0 && p[plen - 1] == 0xff)
		plen--;
	if (plen == 0)
		return 0;
	memmove(out, p, plen);
	out[plen - 1]++;
	return plen;
}

/* backoff - sleep a random while, longer as attempts pile up */
static void
backoff(unsigned attempt, uint64_t *seed)
{
	unsigned shift = attempt < KV_RUN_BACKOFF_SHIFT_MAX ? attempt :
	    KV_RUN_BACKOFF_SHIFT_MAX;
	uint64_t x = *seed, us;
	struct timespec ts;

	x ^= x << 13;	/* xorshift64: spreads retries, nothing more */
	x ^= x >> 7;
	x ^= x << 17;
	*seed = x;
	us = x % ((uint64_t)KV_RUN_BACKOFF_US << shift);
	ts.tv_sec = 0;
	ts.tv_nsec = (long)(us * 1000);
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* run - kv_run; committed with kv_commit_nowait when ticket_r != NULL */
static int
run(struct kv *kv, enum kv_mode mode, kv_txn_fn *fn, void *arg,
    uint64_t *ticket_r, struct buf *err)
{
	size_t mark = err->len;
	uint64_t seed = clock_mono_us() ^ (uint64_t)(uintptr_t)&mark;

	seed |= 1;	/* xorshift state must not be 0 */
	for (unsigned attempt = 0; attempt < KV_RUN_ATTEMPTS; attempt++) {
		struct kv_txn *t;
		int r;

		if (attempt > 0) {
			buf_truncate(err, mark);	/* one line, not 100 */
			backoff(attempt, &seed);
		}
		r = kv_begin(kv, mode, &t, err);
		if (r == KV_CONFLICT)
			continue;
		if (r < 0)
			return -1;
		r = fn(t, arg, err);
		/* a conflict is retried even if fn turned it into -1 */
		if (r != 0 && t->failed == KV_CONFLICT)
			r = KV_CONFLICT;
		if (r == 0) {
			r = commit(&t, ticket_r, err);
		} else {
			kv_abort(&t);
			if (r != KV_CONFLICT)
				r = -1;
		}
		if (r != KV_CONFLICT)
			return r;
	}
	buf_truncate(err, mark);
	buf_addf(err, "kv_run: still conflicting after %u attempts",
	    KV_RUN_ATTEMPTS);
	return -1;
}

int
kv_run(struct kv *kv, enum kv_mode mode, kv_txn_fn *fn, void *arg,
    struct buf *err)
{
	return run(kv, mode, fn, arg, NULL, err);
}

int
kv_run_nowait(struct kv *kv, kv_txn_fn *fn, void *arg, uint64_t *ticket_r,
    struct buf *err)
{
	*ticket_r = 0;
	return run(kv, KV_WRITE, fn, arg, ticket_r, err);
}

void
kv_wlock_init(struct kv_wlock *w)
{
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->next = 0;
	w->serving = 0;
	w->held = false;
}

void
kv_wlock_destroy(struct kv_wlock *w)
{
	ASSERT(!w->held);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
}

int
kv_wlock_acquire(struct kv_wlock *w, struct buf *err)
{
	uint64_t ticket;

	pthread_mutex_lock(&w->mu);
	if (w->held && pthread_equal(w->owner, pthread_self())) {
		pthread_mutex_unlock(&w->mu);
		buf_addf(err, "kv_begin: this thread already has a write "
		    "transaction open (it would wait for itself)");
		return -1;
	}
	ticket = w->next++;
	while (ticket != w->serving)
		pthread_cond_wait(&w->cv, &w->mu);
	w->held = true;
	w->owner = pthread_self();
	pthread_mutex_unlock(&w->mu);
	return 0;
}

void
kv_wlock_release(struct kv_wlock *w)
{
	pthread_mutex_lock(&w->mu);
	ASSERT(w->held);
	w->held = false;
	w->serving++;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void
kv_sync_init(struct kv_sync *ks, kv_sync_fn *fn, void *arg)
{
	memset(ks, 0, sizeof(*ks));
	pthread_mutex_init(&ks->mu, NULL);
	pthread_cond_init(&ks->cv, NULL);
	ks->fn = fn;
	ks->arg = arg;
}

void
kv_sync_destroy(struct kv_sync *ks)
{
	ASSERT(!ks->running);
	pthread_cond_destroy(&ks->cv);
	pthread_mutex_destroy(&ks->mu);
}

uint64_t
kv_sync_committed(struct kv_sync *ks)
{
	uint64_t seq;

	pthread_mutex_lock(&ks->mu);
	seq = ++ks->committed;
	pthread_mutex_unlock(&ks->mu);
	return seq;
}

int
kv_sync_wait(struct kv_sync *ks, uint64_t seq, struct buf *err)
{
	uint64_t gen, upto;
	int r = 0;

	pthread_mutex_lock(&ks->mu);
	gen = ks->failed;
	while (ks->synced < seq) {
		if (ks->running) {
			pthread_cond_wait(&ks->cv, &ks->mu);
			if (ks->failed != gen && ks->failed >= seq) {
				buf_addf(err, "kv: the log sync after this "
				    "commit failed: its outcome is unknown");
				r = -1;
				break;
			}
			continue;
		}
		ks->running = true;
		upto = ks->committed;
		pthread_mutex_unlock(&ks->mu);
		r = ks->fn(ks->arg, err);
		pthread_mutex_lock(&ks->mu);
		ks->running = false;
		if (r < 0)
			ks->failed = upto;
		else if (upto > ks->synced)
			ks->synced = upto;
		pthread_cond_broadcast(&ks->cv);
		if (r < 0)
			break;
	}
	pthread_mutex_unlock(&ks->mu);
	return r;
}

int
kv_scan_txn(struct kv_txn *t, const void *start, size_t slen,
    const void *prefix, size_t plen, kv_row_fn *fn, void *arg,
    struct buf *err)
{
	unsigned char end[KV_KEY_MAX];
	size_t elen;
	struct kv_iter *it;
	const void *kp, *vp;
	size_t kl, vl;
	int r;

	if (plen > KV_KEY_MAX) {
		buf_addf(err, "kv_scan: prefix of %zu bytes", plen);
		return -1;
	}
	elen = kv_prefix_end(prefix, plen, end);
	if (kv_iter_new(t, start, slen, elen > 0 ? end : NULL, elen, false,
	    &it, err) < 0)
		return -1;
	while ((r = kv_iter_next(it, &kp, &kl, &vp, &vl, err)) == 1) {
		r = fn(arg, kp, kl, vp, vl, err);
		if (r != 0)
			break;
	}
	kv_iter_free(&it);
	return r < 0 ? r : 0;
}

struct scan_op {
	const void *start, *prefix;
	size_t slen, plen;
	kv_row_fn *fn;
	void *arg;
};

static int
scan_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct scan_op *op = arg;

	return kv_scan_txn(t, op->start, op->slen, op->prefix, op->plen,
	    op->fn, op->arg, err);
}

int
kv_scan(struct kv *kv, const void *start, size_t slen, const void *prefix,
    size_t plen, kv_row_fn *fn, void *arg, struct buf *err)
{
	struct scan_op op = { start, prefix, slen, plen, fn, arg };

	return kv_run(kv, KV_READ, scan_txn, &op, err);
}
