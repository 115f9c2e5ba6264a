/*
 * mail_fx.h - the fixture of the mail model's unit tests (mail_test.c,
 * mail_thread_test.c, mail_member_test.c): a real data store of the
 * backend named by the test's state ("sqlite" or "rocksdb"), helpers to
 * add emails and run transactions, and an invariant checker that
 * compares a mailbox record with its 'U' keys and the quota with the
 * emails.  Header-only, since each unit test is its own program.
 */
#ifndef POSTERN_MAIL_FX_H
#define POSTERN_MAIL_FX_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/mail.h"
#include "t/unit/unit_tmpdir.h"

#define ACCT 7u

struct fx {
	struct kv *kv;
	struct mail *m;
	struct buf err;
	const char *backend;
};

/* fx_new - a new store named after the test in the group's tmpdir */
static inline struct fx *
fx_new(void **state, const char *name)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct kv_options o = { NULL, NULL, false };
	char path[256];
	int n;

	assert_non_null(fx);
	fx->backend = *state != NULL ? *state : "sqlite";
	n = snprintf(path, sizeof(path), "%s-%s", fx->backend, name);
	assert_true(n > 0 && (size_t)n < sizeof(path));
	buf_init(&fx->err, 0);
	o.backend = fx->backend;
	o.path = path;
	if (kv_open(&o, &fx->kv, &fx->err) < 0)
		fail_msg("kv_open: %s", buf_cstr(&fx->err));
	fx->m = mail_new(fx->kv);
	return fx;
}

static inline void
fx_free(struct fx *fx)
{
	mail_free(&fx->m);
	assert_null(fx->m);
	mail_free(&fx->m);	/* accepts NULL */
	kv_close(&fx->kv);
	buf_free(&fx->err);
	free(fx);
}

#define ok(fx, call)                                                      \
	do {                                                              \
		buf_reset(&(fx)->err);                                    \
		if ((call) < 0)                                           \
			fail_msg("%s: %s", #call, buf_cstr(&(fx)->err));  \
	} while (0)

#define expect_err(fx, call, want)                                        \
	do {                                                              \
		buf_reset(&(fx)->err);                                    \
		assert_int_equal((call), -1);                             \
		if (strstr(buf_cstr(&(fx)->err), (want)) == NULL)         \
			fail_msg("error \"%s\" lacks \"%s\"",             \
			    buf_cstr(&(fx)->err), (want));                \
	} while (0)

/* ---- collecting ---- */

struct msgs {
	size_t n;
	struct mail_msg v[256];
	char kw[256][512];	/* each one's keywords, copied */
};

static inline int
collect(void *arg, const struct mail_msg *msg)
{
	struct msgs *s = arg;

	assert_true(s->n < ARRAY_SIZE(s->v));
	assert_non_null(msg->keywords);
	assert_true(strlen(msg->keywords) < sizeof(s->kw[0]));
	memcpy(s->kw[s->n], msg->keywords, strlen(msg->keywords) + 1);
	s->v[s->n++] = *msg;
	s->v[s->n - 1].keywords = NULL;	/* only valid in the callback */
	return 0;
}

struct logs {
	size_t n;
	uint64_t state[64];
	uint32_t id[64];
	enum mail_log_op op[64];
};

static inline int
collect_log(void *arg, uint64_t st, enum mail_log_op op, uint32_t id)
{
	struct logs *l = arg;

	assert_true(l->n < ARRAY_SIZE(l->id));
	l->state[l->n] = st;
	l->op[l->n] = op;
	l->id[l->n++] = id;
	return 0;
}

static inline struct msgs *
fx_list(struct fx *fx, uint32_t mbox)
{
	struct msgs *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	ok(fx, mail_msg_list(fx->m, ACCT, mbox, 1, collect, s, &fx->err));
	return s;
}

static inline struct msgs *
fx_vanished(struct fx *fx, uint32_t mbox, uint64_t since)
{
	struct msgs *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	ok(fx, mail_msg_vanished_since(fx->m, ACCT, mbox, since, collect, s,
	    &fx->err));
	return s;
}

/* ---- setting up ---- */

static inline uint32_t
fx_box(struct fx *fx, const char *name)
{
	uint32_t id = 0;

	ok(fx, mail_ensure_defaults(fx->m, ACCT, &fx->err));
	buf_reset(&fx->err);
	if (mail_mailbox_find(fx->m, ACCT, 0, name, &id, &fx->err) != 1)
		ok(fx, mail_mailbox_create(fx->m, ACCT, 0, name,
		    MAIL_ROLE_NONE, &id, &fx->err));
	return id;
}

static inline void
new_email(struct mail_new_email *e, uint32_t mbox, uint64_t size,
    uint32_t flags)
{
	memset(e, 0, sizeof(*e));
	e->mbox = mbox;
	memset(e->blob.b, (int)size & 0xff, sizeof(e->blob.b));
	e->size = size;
	e->received_at = 1700000000;
	e->flags = flags;
	e->mime = "mime-info";
	e->mime_len = 9;
}

static inline struct mail_added
fx_add(struct fx *fx, uint32_t mbox, uint64_t size, uint32_t flags)
{
	struct mail_new_email e;
	struct mail_added a;

	new_email(&e, mbox, size, flags);
	ok(fx, mail_email_add(fx->m, ACCT, &e, &a, &fx->err));
	return a;
}

/* ---- transactions of the *_txn calls that may destroy ---- */

struct fx_op {
	int (*fn)(struct kv_txn *t, struct fx_op *op, struct buf *err);
	uint32_t mbox, uid, email, dst;
	bool flag;
	struct mail_removed rm;
	struct mail_added a;
	int found;
	int ndestroyed;		/* mail_removed_fn calls */
};

static inline int
fx_op_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct fx_op *op = arg;

	op->ndestroyed = 0;
	op->found = op->fn(t, op, err);
	return op->found < 0 ? op->found : 0;
}

static inline int
fx_run(struct fx *fx, struct fx_op *op)
{
	buf_reset(&fx->err);
	if (kv_run(fx->kv, KV_WRITE, fx_op_txn, op, &fx->err) < 0)
		return -1;
	return op->found;
}

static inline int
op_expunge(struct kv_txn *t, struct fx_op *op, struct buf *err)
{
	return mail_msg_expunge_txn(t, ACCT, op->mbox, op->uid, &op->rm, err);
}

static inline int
op_destroy(struct kv_txn *t, struct fx_op *op, struct buf *err)
{
	return mail_email_destroy_txn(t, ACCT, op->email, &op->rm, err);
}

static inline int
op_remove(struct kv_txn *t, struct fx_op *op, struct buf *err)
{
	return mail_email_remove_txn(t, ACCT, op->email, op->mbox, &op->rm,
	    err);
}

static inline int
on_destroyed(void *arg, struct kv_txn *t, const struct mail_removed *r,
    struct buf *err)
{
	struct fx_op *op = arg;

	(void)t;
	(void)err;
	assert_true(r->destroyed);
	assert_true(r->email != 0);
	op->ndestroyed++;
	return 0;
}

static inline int
op_delete_box(struct kv_txn *t, struct fx_op *op, struct buf *err)
{
	return mail_mailbox_delete_txn(t, ACCT, op->mbox, op->flag,
	    on_destroyed, op, err);
}

/* fx_expunge - expunge (mbox, uid), which must exist */
static inline struct mail_removed
fx_expunge(struct fx *fx, uint32_t mbox, uint32_t uid)
{
	struct fx_op op;

	memset(&op, 0, sizeof(op));
	op.fn = op_expunge;
	op.mbox = mbox;
	op.uid = uid;
	if (fx_run(fx, &op) != 1)
		fail_msg("expunge %u/%u: %s", mbox, uid, buf_cstr(&fx->err));
	return op.rm;
}

/* ---- invariants ---- */

/*
 * fx_check_box - the record's counts are those of its 'U' keys, UIDs
 * increase and are below uidnext, MODSEQs are at most highestmodseq, and
 * CHANGEDSINCE 0 lists the same memberships (one 'S' per 'U')
 */
static inline void
fx_check_box(struct fx *fx, uint32_t mbox)
{
	struct mail_mailbox mb;
	struct msgs *s = fx_list(fx, mbox), *c = calloc(1, sizeof(*c));
	uint32_t total = 0, unseen = 0, unread = 0;
	uint32_t threads[256], nthreads = 0, uthreads[256], nuthreads = 0;

	assert_non_null(c);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, mbox, &mb, &fx->err),
	    1);
	for (size_t i = 0; i < s->n; i++) {
		struct mail_email em;
		bool is_unread = (s->v[i].flags & (MAIL_F_SEEN |
		    MAIL_F_DRAFT)) == 0;
		size_t j;

		assert_true(s->v[i].uid < mb.uidnext);
		assert_true(i == 0 || s->v[i].uid > s->v[i - 1].uid);
		assert_true(s->v[i].modseq <= mb.highestmodseq);
		total++;
		unseen += (s->v[i].flags & MAIL_F_SEEN) == 0;
		unread += is_unread;
		assert_int_equal(mail_email_get(fx->m, ACCT, s->v[i].email,
		    &em, &fx->err), 1);
		assert_int_equal(em.flags, s->v[i].flags);
		for (j = 0; j < nthreads && threads[j] != em.thread; j++)
			;
		if (j == nthreads)
			threads[nthreads++] = em.thread;
		for (j = 0; is_unread && j < nuthreads &&
		    uthreads[j] != em.thread; j++)
			;
		if (is_unread && j == nuthreads)
			uthreads[nuthreads++] = em.thread;
		mail_email_clear(&em);
	}
	assert_int_equal(mb.total, total);
	assert_int_equal(mb.unseen, unseen);
	assert_int_equal(mb.unread, unread);
	assert_int_equal(mb.threads, nthreads);
	assert_int_equal(mb.unread_threads, nuthreads);
	ok(fx, mail_msg_changed_since(fx->m, ACCT, mbox, 0, collect, c,
	    &fx->err));
	assert_int_equal(c->n, s->n);
	for (size_t i = 1; i < c->n; i++)
		assert_true(c->v[i].modseq > c->v[i - 1].modseq);
	mail_mailbox_clear(&mb);
	free(s);
	free(c);
}

/* fx_quota - the quota usage */
static inline uint64_t
fx_quota(struct fx *fx)
{
	uint64_t used;

	ok(fx, mail_quota_used(fx->m, ACCT, &used, &fx->err));
	return used;
}

/* fx_get - the email record, which must exist */
static inline void
fx_get(struct fx *fx, uint32_t email, struct mail_email *em)
{
	assert_int_equal(mail_email_get(fx->m, ACCT, email, em, &fx->err), 1);
}

#define FX_TEST(f) cmocka_unit_test_prestate(f, "sqlite")
#define FX_TEST_ROCKS(f) cmocka_unit_test_prestate(f, "rocksdb")

#endif
