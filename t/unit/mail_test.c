/*
 * mail_test.c - the mail model over a real SQLite data store: default
 * mailboxes created once, duplicate names, UID/MODSEQ assignment on
 * delivery, listing in UID order, CONDSTORE's changed-since, the quota
 * counter, the change log, a failed delivery transaction leaving nothing
 * behind, and concurrent deliveries that must hand out
 * every UID exactly once with no gaps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "store/mail.h"
#include "t/unit/unit_tmpdir.h"

#define ACCT 7u

struct fx {
	struct kv *kv;
	struct mail *m;
	struct buf err;
};

static struct fx *
fx_new(const char *path)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct kv_options o = { "sqlite", path, false };

	assert_non_null(fx);
	buf_init(&fx->err, 0);
	unlink(path);
	if (kv_open(&o, &fx->kv, &fx->err) < 0)
		fail_msg("kv_open: %s", buf_cstr(&fx->err));
	fx->m = mail_new(fx->kv);
	return fx;
}

static void
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

struct seen_boxes {
	size_t n;
	uint32_t roles;		/* bit per role */
	uint32_t last_uidvalidity;
};

static int
count_box(void *arg, const struct mail_mailbox *mb)
{
	struct seen_boxes *s = arg;

	s->n++;
	s->roles |= 1u << mb->role;
	/* created in id order within one account: never repeats */
	assert_true(mb->uidvalidity > s->last_uidvalidity);
	s->last_uidvalidity = mb->uidvalidity;
	assert_int_equal(mb->uidnext, 1);
	assert_int_equal(mb->parent, 0);
	return 0;
}

static void
test_defaults(void **state)
{
	struct fx *fx = fx_new("defaults.sqlite");
	struct seen_boxes s = { 0, 0, 0 };
	struct mail_mailbox mb;
	uint32_t id, id2;

	(void)state;
	ok(fx, mail_ensure_defaults(fx->m, ACCT, &fx->err));
	ok(fx, mail_mailbox_find(fx->m, ACCT, 0, "INBOX", &id, &fx->err));
	ok(fx, mail_ensure_defaults(fx->m, ACCT, &fx->err));
	ok(fx, mail_mailbox_list(fx->m, ACCT, count_box, &s, &fx->err));
	assert_int_equal(s.n, 6);
	assert_int_equal(s.roles, (1u << MAIL_ROLE_INBOX) |
	    (1u << MAIL_ROLE_SENT) | (1u << MAIL_ROLE_DRAFTS) |
	    (1u << MAIL_ROLE_TRASH) | (1u << MAIL_ROLE_JUNK) |
	    (1u << MAIL_ROLE_ARCHIVE));
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, 0, "INBOX", &id2,
	    &fx->err), 1);
	assert_int_equal(id, id2);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, id, &mb, &fx->err), 1);
	assert_string_equal(mb.name, "INBOX");
	assert_int_equal(mb.role, MAIL_ROLE_INBOX);
	assert_string_equal(mail_role_name(mb.role), "inbox");
	assert_true(mb.subscribed);
	assert_int_equal(mb.highestmodseq, 0);
	mail_mailbox_clear(&mb);
	assert_null(mb.name);

	/* another account has none until its own first login */
	s.n = 0;
	ok(fx, mail_mailbox_list(fx->m, ACCT + 1, count_box, &s, &fx->err));
	assert_int_equal(s.n, 0);
	assert_int_equal(mail_mailbox_find(fx->m, ACCT + 1, 0, "INBOX", &id,
	    &fx->err), 0);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, 999, &mb, &fx->err), 0);
	fx_free(fx);
}

static void
test_create_errors(void **state)
{
	struct fx *fx = fx_new("create.sqlite");
	struct mail_mailbox a, b;
	uint32_t work, sub, sub2, found;

	(void)state;
	ok(fx, mail_mailbox_create(fx->m, ACCT, 0, "Work", MAIL_ROLE_NONE,
	    &work, &fx->err));
	expect_err(fx, mail_mailbox_create(fx->m, ACCT, 0, "Work",
	    MAIL_ROLE_NONE, NULL, &fx->err), "already exists");
	/* the same name under another parent, or in another account */
	ok(fx, mail_mailbox_create(fx->m, ACCT, work, "Work", MAIL_ROLE_NONE,
	    &sub, &fx->err));
	ok(fx, mail_mailbox_create(fx->m, ACCT + 1, 0, "Work", MAIL_ROLE_NONE,
	    NULL, &fx->err));
	expect_err(fx, mail_mailbox_create(fx->m, ACCT, work, "Work",
	    MAIL_ROLE_NONE, NULL, &fx->err), "already exists");
	expect_err(fx, mail_mailbox_create(fx->m, ACCT, 4242, "x",
	    MAIL_ROLE_NONE, NULL, &fx->err), "no parent mailbox");
	/* INBOX is case-insensitive at the top level (RFC 3501 5.1) */
	expect_err(fx, mail_mailbox_create(fx->m, ACCT, 0, "Inbox",
	    MAIL_ROLE_NONE, NULL, &fx->err), "reserved name");
	ok(fx, mail_mailbox_create(fx->m, ACCT, work, "inbox",
	    MAIL_ROLE_NONE, NULL, &fx->err));
	expect_err(fx, mail_mailbox_create(fx->m, ACCT, 0, "",
	    MAIL_ROLE_NONE, NULL, &fx->err), "empty");
	expect_err(fx, mail_mailbox_create(fx->m, ACCT, 0, "a\tb",
	    MAIL_ROLE_NONE, NULL, &fx->err), "control character");
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, work, "Work", &found,
	    &fx->err), 1);
	assert_int_equal(found, sub);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, sub, &b, &fx->err), 1);
	assert_int_equal(b.parent, work);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, work, &a, &fx->err), 1);
	assert_true(b.uidvalidity > a.uidvalidity);
	/* a later mailbox never gets an earlier UIDVALIDITY */
	ok(fx, mail_mailbox_create(fx->m, ACCT, sub, "deeper", MAIL_ROLE_NONE,
	    &sub2, &fx->err));
	mail_mailbox_clear(&a);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, sub2, &a, &fx->err), 1);
	assert_true(a.uidvalidity > b.uidvalidity);
	mail_mailbox_clear(&a);
	mail_mailbox_clear(&b);
	fx_free(fx);
}

struct msgs {
	size_t n;
	struct mail_msg v[256];
};

static int
collect(void *arg, const struct mail_msg *msg)
{
	struct msgs *s = arg;

	assert_true(s->n < ARRAY_SIZE(s->v));
	s->v[s->n++] = *msg;
	return 0;
}

struct logs {
	size_t n;
	uint64_t state[8];
	uint32_t id[8];
	enum mail_log_op op[8];
};

static int
collect_log(void *arg, uint64_t st, enum mail_log_op op, uint32_t id)
{
	struct logs *l = arg;

	assert_true(l->n < ARRAY_SIZE(l->id));
	l->state[l->n] = st;
	l->op[l->n] = op;
	l->id[l->n++] = id;
	return 0;
}

static void
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

static void
test_add_three(void **state)
{
	struct fx *fx = fx_new("add.sqlite");
	static const uint64_t sizes[3] = { 1000, 2500, 40000 };
	struct mail_added added[3];
	struct mail_new_email e;
	struct mail_mailbox mb;
	struct msgs *s = calloc(1, sizeof(*s));
	struct logs l;
	uint32_t inbox;
	uint64_t used;

	(void)state;
	assert_non_null(s);
	ok(fx, mail_ensure_defaults(fx->m, ACCT, &fx->err));
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, 0, "INBOX", &inbox,
	    &fx->err), 1);
	for (size_t i = 0; i < 3; i++) {
		new_email(&e, inbox, sizes[i], i == 1 ? MAIL_F_SEEN : 0);
		ok(fx, mail_email_add(fx->m, ACCT, &e, &added[i], &fx->err));
		assert_int_equal(added[i].uid, i + 1);
		if (i > 0) {
			assert_true(added[i].modseq > added[i - 1].modseq);
			assert_true(added[i].email > added[i - 1].email);
			assert_true(added[i].state > added[i - 1].state);
		}
	}
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, inbox, &mb, &fx->err),
	    1);
	assert_int_equal(mb.uidnext, 4);
	assert_int_equal(mb.highestmodseq, added[2].modseq);
	mail_mailbox_clear(&mb);

	/* an unknown mailbox is an error and changes nothing */
	new_email(&e, 4242, 5, 0);
	expect_err(fx, mail_email_add(fx->m, ACCT, &e, NULL, &fx->err),
	    "no mailbox");

	ok(fx, mail_msg_list(fx->m, ACCT, inbox, 1, collect, s, &fx->err));
	assert_int_equal(s->n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(s->v[i].uid, i + 1);
		assert_int_equal(s->v[i].email, added[i].email);
		assert_int_equal(s->v[i].modseq, added[i].modseq);
		assert_int_equal(s->v[i].flags, i == 1 ? MAIL_F_SEEN : 0);
	}
	s->n = 0;
	ok(fx, mail_msg_list(fx->m, ACCT, inbox, 3, collect, s, &fx->err));
	assert_int_equal(s->n, 1);
	assert_int_equal(s->v[0].uid, 3);

	s->n = 0;
	ok(fx, mail_msg_changed_since(fx->m, ACCT, inbox, added[0].modseq,
	    collect, s, &fx->err));
	assert_int_equal(s->n, 2);
	assert_int_equal(s->v[0].uid, 2);
	assert_int_equal(s->v[1].uid, 3);
	assert_int_equal(s->v[1].modseq, added[2].modseq);
	s->n = 0;
	ok(fx, mail_msg_changed_since(fx->m, ACCT, inbox, 0, collect, s,
	    &fx->err));
	assert_int_equal(s->n, 3);
	s->n = 0;
	ok(fx, mail_msg_changed_since(fx->m, ACCT, inbox, added[2].modseq,
	    collect, s, &fx->err));
	assert_int_equal(s->n, 0);

	ok(fx, mail_quota_used(fx->m, ACCT, &used, &fx->err));
	assert_int_equal(used, sizes[0] + sizes[1] + sizes[2]);
	ok(fx, mail_quota_used(fx->m, ACCT + 1, &used, &fx->err));
	assert_int_equal(used, 0);

	memset(&l, 0, sizeof(l));
	ok(fx, mail_log_scan(fx->m, ACCT, MAIL_LOG_EMAIL, 0, collect_log, &l,
	    &fx->err));
	assert_int_equal(l.n, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(l.id[i], added[i].email);
		assert_int_equal(l.op[i], MAIL_LOG_CREATED);
		assert_int_equal(l.state[i], added[i].state);
	}
	memset(&l, 0, sizeof(l));
	ok(fx, mail_log_scan(fx->m, ACCT, MAIL_LOG_EMAIL, added[1].state,
	    collect_log, &l, &fx->err));
	assert_int_equal(l.n, 1);
	assert_int_equal(l.id[0], added[2].email);
	memset(&l, 0, sizeof(l));
	ok(fx, mail_log_scan(fx->m, ACCT, MAIL_LOG_MAILBOX, 0, collect_log,
	    &l, &fx->err));
	assert_int_equal(l.n, 6);
	free(s);
	fx_free(fx);
}

/* a delivery transaction that fails after the add: nothing of it stays */
struct failing {
	struct mail *m;
	struct mail_new_email e;
	struct mail_added a;
};

static int
failing_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct failing *f = arg;

	if (mail_email_add_txn(f->m, t, ACCT, &f->e, &f->a, err) < 0)
		return -1;
	assert_int_equal(f->a.uid, 1);
	buf_addf(err, "later step failed");
	return -1;
}

static void
test_add_txn_atomic(void **state)
{
	struct fx *fx = fx_new("atomic.sqlite");
	struct failing f;
	struct mail_mailbox mb;
	struct msgs *s = calloc(1, sizeof(*s));
	struct logs l;
	struct mail_added a;
	uint32_t inbox;
	uint64_t used;

	(void)state;
	assert_non_null(s);
	ok(fx, mail_ensure_defaults(fx->m, ACCT, &fx->err));
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, 0, "INBOX", &inbox,
	    &fx->err), 1);
	memset(&f, 0, sizeof(f));
	f.m = fx->m;
	new_email(&f.e, inbox, 123, 0);
	expect_err(fx, kv_run(mail_kv(fx->m), KV_WRITE, failing_txn, &f,
	    &fx->err), "later step failed");
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, inbox, &mb, &fx->err),
	    1);
	assert_int_equal(mb.uidnext, 1);
	assert_int_equal(mb.highestmodseq, 0);
	mail_mailbox_clear(&mb);
	ok(fx, mail_msg_list(fx->m, ACCT, inbox, 1, collect, s, &fx->err));
	assert_int_equal(s->n, 0);
	ok(fx, mail_quota_used(fx->m, ACCT, &used, &fx->err));
	assert_int_equal(used, 0);
	memset(&l, 0, sizeof(l));
	ok(fx, mail_log_scan(fx->m, ACCT, MAIL_LOG_EMAIL, 0, collect_log, &l,
	    &fx->err));
	assert_int_equal(l.n, 0);
	/* the next real delivery gets UID 1 */
	ok(fx, mail_email_add(fx->m, ACCT, &f.e, &a, &fx->err));
	assert_int_equal(a.uid, 1);
	free(s);
	fx_free(fx);
}

/* ---- concurrent deliveries ---- */

#define THREADS 4
#define PER_THREAD 50

struct worker {
	struct mail *m;
	uint32_t inbox;
	int failed;
	struct buf err;		/* the first failure */
};

static void *
worker_run(void *arg)
{
	struct worker *w = arg;
	struct mail_new_email e;

	for (int i = 0; i < PER_THREAD && !w->failed; i++) {
		new_email(&e, w->inbox, 100, 0);
		if (mail_email_add(w->m, ACCT, &e, NULL, &w->err) < 0)
			w->failed = 1;
	}
	return NULL;
}

static void
test_concurrent(void **state)
{
	struct fx *fx = fx_new("concurrent.sqlite");
	struct worker w[THREADS];
	pthread_t th[THREADS];
	struct msgs *s = calloc(1, sizeof(*s));
	struct mail_mailbox mb;
	uint32_t inbox;
	uint64_t used;

	(void)state;
	assert_non_null(s);
	ok(fx, mail_ensure_defaults(fx->m, ACCT, &fx->err));
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, 0, "INBOX", &inbox,
	    &fx->err), 1);
	for (int i = 0; i < THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].m = fx->m;
		w[i].inbox = inbox;
		assert_int_equal(pthread_create(&th[i], NULL, worker_run,
		    &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		if (w[i].failed)
			fail_msg("worker %d: %s", i, buf_cstr(&w[i].err));
		buf_free(&w[i].err);
	}
	ok(fx, mail_msg_list(fx->m, ACCT, inbox, 1, collect, s, &fx->err));
	assert_int_equal(s->n, THREADS * PER_THREAD);
	for (size_t i = 0; i < s->n; i++) {
		/* in UID order, so each UID exactly once means uid == i+1 */
		assert_int_equal(s->v[i].uid, i + 1);
		if (i > 0)
			assert_true(s->v[i].modseq > s->v[i - 1].modseq);
	}
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, inbox, &mb, &fx->err),
	    1);
	assert_int_equal(mb.uidnext, THREADS * PER_THREAD + 1);
	assert_int_equal(mb.highestmodseq, s->v[s->n - 1].modseq);
	mail_mailbox_clear(&mb);
	ok(fx, mail_quota_used(fx->m, ACCT, &used, &fx->err));
	assert_int_equal(used, 100u * THREADS * PER_THREAD);
	free(s);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_add_three),
		cmocka_unit_test(test_add_txn_atomic),
		cmocka_unit_test(test_concurrent),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
