/*
 * fts_fx.h - what the full-text index tests share: a tiny query parser,
 * an index over a real kv backend in a scratch directory, search and
 * apply helpers, key counting and merging.  Header-only (static inline),
 * since each unit test is its own program.
 */
#ifndef POSTERN_T_FTS_FX_H
#define POSTERN_T_FTS_FX_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include "common/buf.h"
#include "common/common.h"
#include "store/fts.h"
#include "store/kv.h"
#include "store/store_priv.h"
#include "t/unit/unit_tmpdir.h"

/* ---- queries: a tiny parser for the tests ----
 *   expr := and ('|' and)* ; and := unary+ ; unary := '-' unary |
 *   '(' expr ')' | [field ':'] (word | "text") ['*']
 */

struct qp {
	const char *p;
};

static inline struct fts_query *qp_expr(struct qp *q);

static inline void
qp_space(struct qp *q)
{
	while (*q->p == ' ')
		q->p++;
}

static inline struct fts_query *
qp_unary(struct qp *q)
{
	static const struct { const char *name; unsigned fields; } f[] = {
		{ "subject:", FTS_F(FTS_SUBJECT) }, { "from:", FTS_F(FTS_FROM) },
		{ "to:", FTS_F(FTS_TO) }, { "cc:", FTS_F(FTS_CC) },
		{ "bcc:", FTS_F(FTS_BCC) }, { "body:", FTS_F(FTS_BODY) },
		{ "att:", FTS_F(FTS_ATTACHMENT) },
	};
	unsigned fields = FTS_F_ANY;
	const char *start;
	size_t len;
	bool prefix;

	qp_space(q);
	if (*q->p == '-') {
		q->p++;
		return fts_query_add(fts_query_op(FTS_Q_NOT), qp_unary(q));
	}
	if (*q->p == '(') {
		struct fts_query *e;

		q->p++;
		e = qp_expr(q);
		qp_space(q);
		assert_int_equal(*q->p++, ')');
		return e;
	}
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (strncmp(q->p, f[i].name, strlen(f[i].name)) == 0) {
			fields = f[i].fields;
			q->p += strlen(f[i].name);
		}
	if (*q->p == '"') {
		start = ++q->p;
		q->p = strchr(start, '"');
		assert_non_null(q->p);
		len = (size_t)(q->p++ - start);
	} else {
		start = q->p;
		q->p += strcspn(q->p, " ()|*");
		len = (size_t)(q->p - start);
	}
	prefix = *q->p == '*';
	q->p += prefix;
	return fts_query_term(fields, start, len, prefix);
}

static inline struct fts_query *
qp_expr(struct qp *q)
{
	struct fts_query *or = fts_query_op(FTS_Q_OR);

	for (;;) {
		struct fts_query *and = fts_query_op(FTS_Q_AND);

		qp_space(q);
		while (*q->p != '\0' && *q->p != ')' && *q->p != '|') {
			fts_query_add(and, qp_unary(q));
			qp_space(q);
		}
		fts_query_add(or, and);
		if (*q->p != '|')
			return or;
		q->p++;
	}
}

static inline struct fts_query *
parse(const char *s)
{
	struct qp q = { s };
	struct fts_query *e = qp_expr(&q);

	assert_int_equal(*q.p, '\0');
	return e;
}

/* ---- the index over SQLite ---- */

struct env {
	struct kv *kv;
	struct fts *fts;
	struct buf err;
};

static inline struct env *
env_open_lim(const char *backend, const char *path,
    const struct fts_limits *lim)
{
	struct env *e = calloc(1, sizeof(*e));
	struct kv_options opt = { .backend = backend, .path = path };

	buf_init(&e->err, 0);
	if (kv_open(&opt, &e->kv, &e->err) < 0)
		fail_msg("kv_open: %s", buf_cstr(&e->err));
	assert_int_equal(fts_new(NULL, lim, &e->fts, &e->err), 0);
	return e;
}

#define env_open(backend, path) env_open_lim(backend, path, NULL)

static inline void
env_close(struct env *e)
{
	kv_close(&e->kv);
	fts_free(&e->fts);
	assert_null(e->fts);
	buf_free(&e->err);
	free(e);
}

/* bits - a bitmap as "1 2 3" */
static const char *
bits(const roaring_bitmap_t *r)
{
	static struct buf out;
	roaring_uint32_iterator_t *it = roaring_create_iterator(r);

	buf_reset(&out);
	for (; it->has_value; roaring_advance_uint32_iterator(it))
		buf_addf(&out, "%s%u", out.len ? " " : "", it->current_value);
	roaring_free_uint32_iterator(it);
	return buf_cstr(&out);
}

struct search_arg {
	struct env *e;
	uint32_t account;
	const char *q;
	const roaring_bitmap_t *universe;
	roaring_bitmap_t *r;
};

static inline int
search_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct search_arg *a = arg;
	struct fts_query *q = parse(a->q);
	int rc = fts_search(a->e->fts, t, a->account, q, a->universe, &a->r,
	    err);

	fts_query_free(&q);
	assert_null(q);
	return rc;
}

/* search - the docs matching q, as "1 2 3"; "ERR: ..." on error */
static const char *
search_in(struct env *e, uint32_t account, const char *q,
    const roaring_bitmap_t *universe)
{
	static struct buf out;
	struct search_arg a = { e, account, q, universe, NULL };

	buf_reset(&e->err);
	buf_reset(&out);
	if (kv_run(e->kv, KV_READ, search_fn, &a, &e->err) < 0) {
		buf_addf(&out, "ERR: %s", buf_cstr(&e->err));
		assert_null(a.r);
		return buf_cstr(&out);
	}
	buf_add_str(&out, bits(a.r));
	roaring_bitmap_free(a.r);
	return buf_cstr(&out);
}

#define SEARCH(e, q) search_in(e, 1, q, NULL)

struct doc {
	uint32_t account, id;
	const char *f[FTS_FIELD_MAX + 1];	/* by enum fts_field */
	bool remove;
};

struct apply_arg {
	struct env *e;
	const struct doc *docs;
	size_t n;
	int failed;	/* the last error fts returned: -1 or KV_CONFLICT */
};

static inline int
apply_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct apply_arg *a = arg;
	struct fts_part parts[FTS_FIELD_MAX + 1];

	for (size_t i = 0; i < a->n; i++) {
		const struct doc *d = &a->docs[i];
		struct fts_doc fd = { parts, 0 };
		int rc;

		for (unsigned f = FTS_FIELD_MIN; f <= FTS_FIELD_MAX; f++)
			if (d->f[f] != NULL)
				parts[fd.nparts++] = (struct fts_part){ f,
				    d->f[f], strlen(d->f[f]) };
		rc = d->remove ? fts_remove(a->e->fts, t, d->account, d->id,
		    err) : fts_index(a->e->fts, t, d->account, d->id, &fd, err);
		if (rc < 0)
			return a->failed = rc;
	}
	return 0;
}

/* apply_fts - index (or remove) docs in one transaction; fts's error */
static inline int
apply_fts(struct env *e, const struct doc *docs, size_t n, int *failed_r)
{
	struct apply_arg a = { e, docs, n, 0 };
	int rc;

	buf_reset(&e->err);
	rc = kv_run(e->kv, KV_WRITE, apply_fn, &a, &e->err);
	*failed_r = a.failed;
	return rc;
}

static inline int
apply(struct env *e, const struct doc *docs, size_t n)
{
	int failed;

	return apply_fts(e, docs, n, &failed);
}

struct count_arg {
	unsigned char prefix[6];
	size_t plen, n;
};

static inline int
count_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct count_arg *a = arg;
	unsigned char end[6];
	size_t elen = kv_prefix_end(a->prefix, a->plen, end);
	struct kv_iter *it;
	const void *k, *v;
	size_t klen, vlen;
	int rc;

	a->n = 0;
	if (kv_iter_new(t, a->prefix, a->plen, end, elen, false, &it, err) < 0)
		return -1;
	while ((rc = kv_iter_next(it, &k, &klen, &v, &vlen, err)) == 1)
		a->n++;
	kv_iter_free(&it);
	return rc;
}

/* keys - how many keys start with 'F' account [field] (field 0: any) */
static inline size_t
keys(struct env *e, uint32_t account, unsigned field)
{
	struct count_arg a = { { 'F', account >> 24, account >> 16 & 0xff,
	    account >> 8 & 0xff, account & 0xff, field }, field ? 6 : 5, 0 };

	assert_int_equal(kv_run(e->kv, KV_READ, count_fn, &a, &e->err), 0);
	return a.n;
}

struct merge_arg {
	struct env *e;
	uint32_t account;
};

static inline int
merge_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct merge_arg *a = arg;

	return fts_merge(a->e->fts, t, a->account, err);
}

/* merge - the pending docs of account into the posting lists */
static inline void
merge(struct env *e, uint32_t account)
{
	struct merge_arg a = { e, account };

	buf_reset(&e->err);
	if (kv_run(e->kv, KV_WRITE, merge_fn, &a, &e->err) < 0)
		fail_msg("merge: %s", buf_cstr(&e->err));
}

#define DOC(a, n, ...) { .account = a, .id = n, .f = { __VA_ARGS__ } }
#define RM(a, n) { .account = a, .id = n, .remove = true }
#define SUBJ(s) [FTS_SUBJECT] = s
#define FROM(s) [FTS_FROM] = s
#define TO(s) [FTS_TO] = s
#define CC(s) [FTS_CC] = s
#define BCC(s) [FTS_BCC] = s
#define BODY(s) [FTS_BODY] = s
#define ATT(s) [FTS_ATTACHMENT] = s

#endif
