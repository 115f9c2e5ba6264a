/*
 * kv_failinject.c - the "failinject:<inner>" kv backend: passes every call
 * through to a store of the inner backend (same path and options) and
 * fails the one operation a test armed with kv_failinject_set
 * (store_priv.h), so a test can prove that an error at any step of a
 * transaction loses nothing and half-applies nothing.
 *
 * An injected failure happens instead of the inner call (except
 * KV_FI_COMMIT_AFTER, which commits and then reports a failure, like a
 * database connection lost after COMMIT was sent), so the front end dooms
 * the transaction exactly as it would after a real backend error.  With
 * nothing armed the backend is transparent and passes the conformance
 * suite.  A test-only backend: it allocates per transaction and iterator
 * and takes a mutex per operation, which nobody else should pay.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "store/kv.h"
#include "store/store_priv.h"

#define FI_N_OPS 9	/* bits of enum kv_fi_op */

struct kv_fi {
	struct kv base;		/* first */
	struct kv *inner;
	pthread_mutex_t mu;	/* guards everything below */
	unsigned armed_ops;
	unsigned countdown;	/* 0 = disarmed */
	int result;
	bool fired;
	uint64_t count[FI_N_OPS];	/* per bit; commit counts as KV_FI_COMMIT */
};

struct fi_txn {
	struct kv_txn base;	/* first */
	struct kv_txn *inner;
	struct buf val;		/* the last get's value */
};

struct fi_iter {
	struct kv_iter base;	/* first */
	struct kv_iter *inner;
};

static struct kv_fi *
fi_of(struct kv *kv)
{
	if (kv->ops != &kv_failinject_ops)
		PANIC("kv_failinject: the store is \"%s\", not failinject",
		    kv->ops->name);
	return (struct kv_fi *)kv;
}

static unsigned
bit_index(unsigned op)
{
	return (unsigned)__builtin_ctz(op);
}

/*
 * fi_hit - count one operation of kind op; 0 to go on, else the armed
 * result.  match is the set of armed bits that fire on it (commit: both
 * KV_FI_COMMIT and KV_FI_COMMIT_AFTER); *which_r tells which one did.
 */
static int
fi_hit(struct kv_fi *fi, unsigned op, unsigned match, unsigned *which_r,
    const char *what, struct buf *err)
{
	int r = 0;

	pthread_mutex_lock(&fi->mu);
	fi->count[bit_index(op)]++;
	if (fi->countdown > 0 && (fi->armed_ops & match) != 0 &&
	    --fi->countdown == 0) {
		fi->fired = true;
		r = fi->result;
		if (which_r != NULL)
			*which_r = fi->armed_ops & match;
	}
	pthread_mutex_unlock(&fi->mu);
	if (r != 0)
		buf_addf(err, "failinject: %s failed on purpose", what);
	return r;
}

#define HIT(fi, op, what, err) fi_hit(fi, op, op, NULL, what, err)

void
kv_failinject_set(struct kv *kv, unsigned ops, unsigned nth, int result)
{
	struct kv_fi *fi = fi_of(kv);

	ASSERT(result == -1 || result == KV_CONFLICT);
	pthread_mutex_lock(&fi->mu);
	fi->armed_ops = ops;
	fi->countdown = nth;
	fi->result = result;
	fi->fired = false;
	pthread_mutex_unlock(&fi->mu);
}

uint64_t
kv_failinject_count(struct kv *kv, unsigned ops)
{
	struct kv_fi *fi = fi_of(kv);
	uint64_t n = 0;

	if ((ops & KV_FI_COMMIT_AFTER) != 0)	/* the same operation */
		ops = (ops & ~(unsigned)KV_FI_COMMIT_AFTER) | KV_FI_COMMIT;
	pthread_mutex_lock(&fi->mu);
	for (unsigned i = 0; i < FI_N_OPS; i++)
		if ((ops & (1u << i)) != 0)
			n += fi->count[i];
	pthread_mutex_unlock(&fi->mu);
	return n;
}

bool
kv_failinject_fired(struct kv *kv)
{
	struct kv_fi *fi = fi_of(kv);
	bool fired;

	pthread_mutex_lock(&fi->mu);
	fired = fi->fired;
	pthread_mutex_unlock(&fi->mu);
	return fired;
}

static int
fi_open(const struct kv_options *opt, const char *arg, struct kv **kv_r,
    struct buf *err)
{
	struct kv_options inner_opt = *opt;
	struct kv_fi *fi;
	struct kv *inner;

	if (arg == NULL || arg[0] == '\0' ||
	    strncmp(arg, "failinject", strlen("failinject")) == 0) {
		buf_addf(err, "kv_open: failinject needs an inner backend, "
		    "as in \"failinject:sqlite\"");
		return -1;
	}
	inner_opt.backend = arg;
	if (kv_open(&inner_opt, &inner, err) < 0)
		return -1;
	fi = xcalloc(1, sizeof(*fi));
	fi->inner = inner;
	pthread_mutex_init(&fi->mu, NULL);
	*kv_r = &fi->base;
	return 0;
}

static void
fi_close(struct kv *kv)
{
	struct kv_fi *fi = (struct kv_fi *)kv;

	kv_close(&fi->inner);
	pthread_mutex_destroy(&fi->mu);
	free(fi);
}

static int
fi_begin(struct kv *kv, enum kv_mode mode, struct kv_txn **t_r,
    struct buf *err)
{
	struct kv_fi *fi = (struct kv_fi *)kv;
	struct kv_txn *inner;
	struct fi_txn *t;
	int r;

	if ((r = HIT(fi, KV_FI_BEGIN, "begin", err)) != 0 ||
	    (r = kv_begin(fi->inner, mode, &inner, err)) != 0)
		return r;
	t = xcalloc(1, sizeof(*t));
	t->inner = inner;
	buf_init(&t->val, 0);
	*t_r = &t->base;
	return 0;
}

static void
fi_txn_free(struct fi_txn *t)
{
	buf_free(&t->val);
	free(t);
}

static int
fi_commit(struct kv_txn *base, struct buf *err)
{
	struct fi_txn *t = (struct fi_txn *)base;
	struct kv_fi *fi = (struct kv_fi *)base->kv;
	unsigned which = 0;
	int r;

	r = fi_hit(fi, KV_FI_COMMIT, KV_FI_COMMIT | KV_FI_COMMIT_AFTER,
	    &which, "commit", err);
	if (r != 0 && (which & KV_FI_COMMIT) == 0) {
		struct buf ignored = BUF_INIT(0);

		/* COMMIT_AFTER: done, but the caller hears otherwise */
		if (kv_commit(&t->inner, &ignored) < 0)
			buf_addf(err, "failinject: the real commit failed "
			    "too: %s", buf_cstr(&ignored));
		buf_free(&ignored);
	} else if (r != 0) {
		kv_abort(&t->inner);
	} else {
		r = kv_commit(&t->inner, err);
	}
	fi_txn_free(t);
	return r;
}

static void
fi_abort(struct kv_txn *base)
{
	struct fi_txn *t = (struct fi_txn *)base;

	kv_abort(&t->inner);
	fi_txn_free(t);
}

static int
fi_get(struct kv_txn *base, const void *key, size_t klen,
    const void **val_r, size_t *vlen_r, struct buf *err)
{
	struct fi_txn *t = (struct fi_txn *)base;
	int r;

	if ((r = HIT((struct kv_fi *)base->kv, KV_FI_GET, "get", err)) != 0)
		return r;
	buf_reset(&t->val);
	r = kv_get(t->inner, key, klen, &t->val, err);
	if (r == 1) {
		*val_r = t->val.data != NULL ? (const void *)t->val.data : "";
		*vlen_r = t->val.len;
	}
	return r;
}

static int
fi_put(struct kv_txn *base, const void *key, size_t klen, const void *val,
    size_t vlen, struct buf *err)
{
	struct fi_txn *t = (struct fi_txn *)base;
	int r;

	if ((r = HIT((struct kv_fi *)base->kv, KV_FI_PUT, "put", err)) != 0)
		return r;
	return kv_put(t->inner, key, klen, val, vlen, err);
}

static int
fi_del(struct kv_txn *base, const void *key, size_t klen, struct buf *err)
{
	struct fi_txn *t = (struct fi_txn *)base;
	int r;

	if ((r = HIT((struct kv_fi *)base->kv, KV_FI_DELETE, "delete",
	    err)) != 0)
		return r;
	return kv_delete(t->inner, key, klen, err);
}

static int
fi_delete_range(struct kv_txn *base, const void *start, size_t slen,
    const void *end, size_t elen, struct buf *err)
{
	struct fi_txn *t = (struct fi_txn *)base;
	int r;

	if ((r = HIT((struct kv_fi *)base->kv, KV_FI_DELETE_RANGE,
	    "delete_range", err)) != 0)
		return r;
	return kv_delete_range(t->inner, start, slen, end, elen, err);
}

static int
fi_iter_new(struct kv_txn *base, const void *start, size_t slen,
    const void *end, size_t elen, bool reverse, struct kv_iter **it_r,
    struct buf *err)
{
	struct fi_txn *t = (struct fi_txn *)base;
	struct kv_iter *inner;
	struct fi_iter *it;
	int r;

	if ((r = HIT((struct kv_fi *)base->kv, KV_FI_ITER_NEW, "iter_new",
	    err)) != 0 ||
	    (r = kv_iter_new(t->inner, start, slen, end, elen, reverse, &inner,
	    err)) != 0)
		return r;
	it = xcalloc(1, sizeof(*it));
	it->inner = inner;
	*it_r = &it->base;
	return 0;
}

static int
fi_iter_next(struct kv_iter *base, const void **key, size_t *klen,
    const void **val, size_t *vlen, struct buf *err)
{
	struct fi_iter *it = (struct fi_iter *)base;
	int r;

	if ((r = HIT((struct kv_fi *)base->txn->kv, KV_FI_ITER_NEXT,
	    "iter_next", err)) != 0)
		return r;
	return kv_iter_next(it->inner, key, klen, val, vlen, err);
}

static void
fi_iter_free(struct kv_iter *base)
{
	struct fi_iter *it = (struct fi_iter *)base;

	kv_iter_free(&it->inner);
	free(it);
}

const struct kv_ops kv_failinject_ops = {
	.name = "failinject",
	.open = fi_open,
	.close = fi_close,
	.begin = fi_begin,
	.commit = fi_commit,
	.abort = fi_abort,
	.get = fi_get,
	.put = fi_put,
	.del = fi_del,
	.delete_range = fi_delete_range,
	.iter_new = fi_iter_new,
	.iter_next = fi_iter_next,
	.iter_free = fi_iter_free,
};
