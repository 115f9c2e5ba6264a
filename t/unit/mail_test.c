/*
 * mail_test.c - the mail model over a real data store (SQLite, and the
 * key tests again on RocksDB): default mailboxes created once, duplicate
 * names, UID/MODSEQ assignment on delivery, listing in UID order,
 * CONDSTORE's changed-since, the quota counter, the change log, a failed
 * delivery transaction leaving nothing behind, concurrent deliveries
 * that must hand out every UID exactly once with no gaps; mailbox
 * rename/move (no cycles), delete, subscribe and sort order; JMAP
 * /changes folding, paging and pruning.  Keywords and flag changes are
 * in mail_flags_test.c, threads in mail_thread_test.c, expunge, copy
 * and move in mail_member_test.c.
 */
#include <pthread.h>

#include "t/unit/mail_fx.h"

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
	struct fx *fx = fx_new(state, "defaults");
	struct seen_boxes s = { 0, 0, 0 };
	struct mail_mailbox mb;
	uint32_t id, id2;

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
	struct fx *fx = fx_new(state, "create");
	struct mail_mailbox a, b;
	uint32_t work, sub, sub2, found;

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

static void
test_add_three(void **state)
{
	struct fx *fx = fx_new(state, "add");
	static const uint64_t sizes[3] = { 1000, 2500, 40000 };
	struct mail_added added[3];
	struct mail_new_email e;
	struct mail_mailbox mb;
	struct msgs *s = calloc(1, sizeof(*s));
	struct logs l;
	uint32_t inbox;
	uint64_t used;

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
	/* six creates, then a "counts" per delivery */
	assert_int_equal(l.n, 9);
	for (size_t i = 0; i < 9; i++)
		assert_int_equal(l.op[i], i < 6 ? MAIL_LOG_CREATED :
		    MAIL_LOG_COUNTS);
	assert_int_equal(l.id[8], inbox);
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
	struct fx *fx = fx_new(state, "atomic");
	struct failing f;
	struct mail_mailbox mb;
	struct msgs *s = calloc(1, sizeof(*s));
	struct logs l;
	struct mail_added a;
	uint32_t inbox;
	uint64_t used;

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
	struct fx *fx = fx_new(state, "concurrent");
	struct worker w[THREADS];
	pthread_t th[THREADS];
	struct msgs *s = calloc(1, sizeof(*s));
	struct mail_mailbox mb;
	uint32_t inbox;
	uint64_t used;

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

/* ---- mailboxes ---- */

static void
test_mailbox_rename(void **state)
{
	struct fx *fx = fx_new(state, "rename");
	struct mail_mailbox mb;
	struct logs l;
	uint32_t a, b, c, inbox, found;
	uint64_t st;

	a = fx_box(fx, "A");
	ok(fx, mail_mailbox_create(fx->m, ACCT, a, "B", MAIL_ROLE_NONE, &b,
	    &fx->err));
	ok(fx, mail_mailbox_create(fx->m, ACCT, b, "C", MAIL_ROLE_NONE, &c,
	    &fx->err));
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, 0, "INBOX", &inbox,
	    &fx->err), 1);
	fx_add(fx, b, 10, 0);
	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_MAILBOX, &st,
	    &fx->err));

	/* a plain rename keeps id, UIDVALIDITY and messages */
	assert_int_equal(mail_mailbox_rename(fx->m, ACCT, b, a, "B2",
	    &fx->err), 1);
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, a, "B", &found,
	    &fx->err), 0);
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, a, "B2", &found,
	    &fx->err), 1);
	assert_int_equal(found, b);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, b, &mb, &fx->err), 1);
	assert_string_equal(mb.name, "B2");
	assert_int_equal(mb.total, 1);
	mail_mailbox_clear(&mb);
	/* a move to the top level; its child follows by id */
	assert_int_equal(mail_mailbox_rename(fx->m, ACCT, b, 0, "B2",
	    &fx->err), 1);
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, 0, "B2", &found,
	    &fx->err), 1);
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, b, "C", &found,
	    &fx->err), 1);
	assert_int_equal(found, c);
	/* the same place and name: nothing to do */
	assert_int_equal(mail_mailbox_rename(fx->m, ACCT, b, 0, "B2",
	    &fx->err), 1);

	/* never a cycle: under itself, under its child */
	expect_err(fx, mail_mailbox_rename(fx->m, ACCT, b, b, "x", &fx->err),
	    "under itself");
	expect_err(fx, mail_mailbox_rename(fx->m, ACCT, b, c, "x", &fx->err),
	    "under itself");
	ok(fx, mail_mailbox_rename(fx->m, ACCT, a, c, "A", &fx->err));
	expect_err(fx, mail_mailbox_rename(fx->m, ACCT, b, a, "B2",
	    &fx->err), "under itself");
	/* taken names, bad names, INBOX, unknown ids */
	expect_err(fx, mail_mailbox_rename(fx->m, ACCT, b, 0, "Sent",
	    &fx->err), "already exists");
	expect_err(fx, mail_mailbox_rename(fx->m, ACCT, b, 0, "inbox",
	    &fx->err), "reserved name");
	expect_err(fx, mail_mailbox_rename(fx->m, ACCT, b, 0, "",
	    &fx->err), "empty");
	expect_err(fx, mail_mailbox_rename(fx->m, ACCT, b, 4242, "x",
	    &fx->err), "no parent mailbox");
	expect_err(fx, mail_mailbox_rename(fx->m, ACCT, inbox, 0, "Old",
	    &fx->err), "INBOX");
	assert_int_equal(mail_mailbox_rename(fx->m, ACCT, 4242, 0, "x",
	    &fx->err), 0);

	/* "updated" logged for each real change (three) */
	memset(&l, 0, sizeof(l));
	ok(fx, mail_log_scan(fx->m, ACCT, MAIL_LOG_MAILBOX, st, collect_log,
	    &l, &fx->err));
	assert_int_equal(l.n, 3);
	assert_int_equal(l.id[0], b);
	assert_int_equal(l.op[0], MAIL_LOG_UPDATED);
	assert_int_equal(l.id[2], a);
	fx_free(fx);
}

static void
test_mailbox_delete(void **state)
{
	struct fx *fx = fx_new(state, "delete");
	struct mail_added a1, a2;
	struct mail_mailbox mb;
	struct mail_changes ch;
	struct mail_email em;
	struct fx_op op;
	uint32_t a, b, other, inbox, id;
	uint64_t st;

	a = fx_box(fx, "A");
	other = fx_box(fx, "Other");
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, 0, "INBOX", &inbox,
	    &fx->err), 1);
	ok(fx, mail_mailbox_create(fx->m, ACCT, a, "B", MAIL_ROLE_NONE, &b,
	    &fx->err));
	a1 = fx_add(fx, a, 100, 0);
	a2 = fx_add(fx, a, 200, MAIL_F_SEEN);
	assert_int_equal(mail_msg_copy(fx->m, ACCT, a, a2.uid, other, NULL,
	    &fx->err), 1);
	fx_expunge(fx, a, fx_add(fx, a, 5, 0).uid);	/* leaves an 'X' */
	ok(fx, mail_current_state(fx->m, ACCT, 0, &st, &fx->err));

	expect_err(fx, mail_mailbox_delete(fx->m, ACCT, a, &fx->err),
	    "child mailboxes");
	ok(fx, mail_mailbox_delete(fx->m, ACCT, b, &fx->err));
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, b, &mb, &fx->err), 0);
	assert_int_equal(mail_mailbox_find(fx->m, ACCT, a, "B", &id,
	    &fx->err), 0);
	expect_err(fx, mail_mailbox_delete(fx->m, ACCT, a, &fx->err),
	    "not empty");
	expect_err(fx, mail_mailbox_delete(fx->m, ACCT, inbox, &fx->err),
	    "INBOX");
	assert_int_equal(mail_mailbox_delete(fx->m, ACCT, 4242, &fx->err), 0);

	/* with its emails: one only there is destroyed, one copied not */
	memset(&op, 0, sizeof(op));
	op.fn = op_delete_box;
	op.mbox = a;
	op.flag = true;
	assert_int_equal(fx_run(fx, &op), 1);
	assert_int_equal(op.ndestroyed, 1);
	assert_int_equal(mail_email_get(fx->m, ACCT, a1.email, &em,
	    &fx->err), 0);
	fx_get(fx, a2.email, &em);
	assert_int_equal(em.nmembers, 1);
	assert_int_equal(em.members[0].mbox, other);
	mail_email_clear(&em);
	assert_int_equal(fx_quota(fx), 200);
	fx_check_box(fx, other);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, a, &mb, &fx->err), 0);
	/* its keys are gone: a new mailbox of that name starts afresh */
	free(fx_vanished(fx, a, 0));
	ok(fx, mail_mailbox_create(fx->m, ACCT, 0, "A", MAIL_ROLE_NONE, &id,
	    &fx->err));
	assert_true(id != a);

	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_MAILBOX, st, 0, &ch,
	    &fx->err));
	assert_int_equal(ch.ndestroyed, 2);	/* B, A */
	assert_int_equal(ch.ncreated, 1);	/* the new A */
	assert_int_equal(ch.nupdated, 0);	/* Other kept its copy */
	mail_changes_clear(&ch);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, st, 0, &ch,
	    &fx->err));
	assert_int_equal(ch.ndestroyed, 1);
	assert_int_equal(ch.destroyed[0], a1.email);
	assert_int_equal(ch.nupdated, 1);
	assert_int_equal(ch.updated[0], a2.email);
	mail_changes_clear(&ch);
	fx_free(fx);
}

static void
test_mailbox_subscribe_sort(void **state)
{
	struct fx *fx = fx_new(state, "subscribe");
	struct mail_mailbox mb;
	struct logs l;
	uint32_t a = fx_box(fx, "A");
	uint64_t st;

	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_MAILBOX, &st,
	    &fx->err));
	assert_int_equal(mail_mailbox_subscribe(fx->m, ACCT, a, false,
	    &fx->err), 1);
	assert_int_equal(mail_mailbox_subscribe(fx->m, ACCT, a, false,
	    &fx->err), 1);	/* no change, no record */
	assert_int_equal(mail_mailbox_set_sort_order(fx->m, ACCT, a, 42,
	    &fx->err), 1);
	assert_int_equal(mail_mailbox_subscribe(fx->m, ACCT, 4242, true,
	    &fx->err), 0);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, a, &mb, &fx->err), 1);
	assert_false(mb.subscribed);
	assert_int_equal(mb.sort_order, 42);
	mail_mailbox_clear(&mb);
	memset(&l, 0, sizeof(l));
	ok(fx, mail_log_scan(fx->m, ACCT, MAIL_LOG_MAILBOX, st, collect_log,
	    &l, &fx->err));
	assert_int_equal(l.n, 2);
	assert_int_equal(l.op[0], MAIL_LOG_UPDATED);
	assert_int_equal(l.op[1], MAIL_LOG_UPDATED);
	fx_free(fx);
}

/* ---- /changes ---- */

static bool
has_id(const uint32_t *v, size_t n, uint32_t id)
{
	for (size_t i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

static void
test_changes(void **state)
{
	struct fx *fx = fx_new(state, "changes");
	uint32_t box = fx_box(fx, "A");
	struct mail_added e[6];
	struct mail_flag_change fc;
	struct mail_changes ch, all;
	uint64_t st0, st, cur;
	size_t seen_c = 0, seen_u = 0, seen_d = 0;

	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_EMAIL, &st0,
	    &fx->err));
	assert_int_equal(st0, 0);
	for (size_t i = 0; i < 3; i++)
		e[i] = fx_add(fx, box, 10, 0);
	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_EMAIL, &st0,
	    &fx->err));
	assert_int_equal(st0, e[2].state);
	for (size_t i = 3; i < 6; i++)
		e[i] = fx_add(fx, box, 10, 0);
	memset(&fc, 0, sizeof(fc));
	fc.add = MAIL_F_SEEN;
	/* e0 updated, e3 created+updated, e4 created+destroyed,
	 * e1 destroyed */
	ok(fx, mail_email_update_flags(fx->m, ACCT, e[0].email, &fc, NULL,
	    &fx->err));
	ok(fx, mail_email_update_flags(fx->m, ACCT, e[3].email, &fc, NULL,
	    &fx->err));
	fx_expunge(fx, box, e[4].uid);
	fx_expunge(fx, box, e[1].uid);

	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, st0, 0, &all,
	    &fx->err));
	assert_false(all.cannot_calculate);
	assert_false(all.has_more);
	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_EMAIL, &cur,
	    &fx->err));
	assert_int_equal(all.new_state, cur);
	assert_int_equal(all.ncreated, 2);
	assert_true(has_id(all.created, all.ncreated, e[3].email));
	assert_true(has_id(all.created, all.ncreated, e[5].email));
	assert_int_equal(all.nupdated, 1);
	assert_int_equal(all.updated[0], e[0].email);
	assert_false(all.counts_only);
	assert_int_equal(all.ndestroyed, 1);
	assert_int_equal(all.destroyed[0], e[1].email);

	/* paging by one: every id of the window shows up, states advance,
	 * and the pages together say what the single answer says */
	st = st0;
	for (int pages = 0; ; pages++) {
		assert_true(pages < 10);
		ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, st, 1, &ch,
		    &fx->err));
		assert_true(ch.ncreated + ch.nupdated + ch.ndestroyed <= 1);
		assert_true(ch.new_state > st || !ch.has_more);
		seen_c += ch.ncreated;
		seen_u += ch.nupdated;
		seen_d += ch.ndestroyed;
		st = ch.new_state;
		if (!ch.has_more) {
			mail_changes_clear(&ch);
			break;
		}
		mail_changes_clear(&ch);
	}
	assert_int_equal(st, all.new_state);
	/* e4 created on one page and destroyed on a later one, e3 created
	 * then updated on a later one: each page is exact from its state */
	assert_int_equal(seen_c, 3);
	assert_int_equal(seen_u, 2);
	assert_int_equal(seen_d, 2);
	mail_changes_clear(&all);

	/* nothing since now; a state from the future */
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, cur, 0, &ch,
	    &fx->err));
	assert_int_equal(ch.ncreated + ch.nupdated + ch.ndestroyed, 0);
	assert_int_equal(ch.new_state, cur);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, 1000000, 0, &ch,
	    &fx->err));
	assert_true(ch.cannot_calculate);

	/* mailbox counts only; threads */
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_MAILBOX, st0, 0, &ch,
	    &fx->err));
	assert_int_equal(ch.nupdated, 1);
	assert_true(ch.counts_only);
	mail_changes_clear(&ch);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_THREAD, st0, 0, &ch,
	    &fx->err));
	assert_int_equal(ch.ncreated, 2);	/* e3, e5 (e4's came, went) */
	assert_int_equal(ch.ndestroyed, 1);	/* e1's */
	mail_changes_clear(&ch);

	/* prune: older states cannot be calculated, later ones exact */
	ok(fx, mail_log_prune(fx->m, ACCT, e[4].state, &fx->err));
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, st0, 0, &ch,
	    &fx->err));
	assert_true(ch.cannot_calculate);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, e[4].state, 0, &ch,
	    &fx->err));
	assert_false(ch.cannot_calculate);
	assert_int_equal(ch.ncreated, 1);
	assert_int_equal(ch.created[0], e[5].email);
	assert_int_equal(ch.nupdated, 2);	/* e0, e3 */
	assert_int_equal(ch.ndestroyed, 2);	/* e4, e1 */
	mail_changes_clear(&ch);
	/* the type's state survives a prune of all its records */
	ok(fx, mail_log_prune(fx->m, ACCT, UINT64_MAX, &fx->err));
	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_EMAIL, &st,
	    &fx->err));
	assert_int_equal(st, cur);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, cur, 0, &ch,
	    &fx->err));
	assert_false(ch.cannot_calculate);
	assert_int_equal(ch.new_state, cur);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, cur - 1, 0, &ch,
	    &fx->err));
	assert_true(ch.cannot_calculate);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_defaults),
		FX_TEST(test_create_errors),
		FX_TEST(test_add_three),
		FX_TEST(test_add_txn_atomic),
		FX_TEST(test_concurrent),
		FX_TEST(test_mailbox_rename),
		FX_TEST(test_mailbox_delete),
		FX_TEST(test_mailbox_subscribe_sort),
		FX_TEST(test_changes),
		FX_TEST_ROCKS(test_add_three),
		FX_TEST_ROCKS(test_concurrent),
		FX_TEST_ROCKS(test_mailbox_delete),
		FX_TEST_ROCKS(test_changes),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
