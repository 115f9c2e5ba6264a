/*
 * mail_thread_test.c - threading (mail_thread.c) over a real data store:
 * a reply after its parent and before it, References chains with a
 * missing middle, a changed subject starting a new thread, an empty
 * subject matching any, emails without ids, Thread/get's receivedAt
 * order, the thread change log, a destroyed thread never reused, and the
 * cap on the ids looked at (the root reference still counts).
 */
#include "t/unit/mail_fx.h"

struct tmsg {
	const char *id, *irt;
	const char *refs[4];
	const char *subject;	/* base subject */
	int64_t received;
};

static struct mail_added
add_msg(struct fx *fx, uint32_t box, const struct tmsg *t)
{
	struct mime_info info;
	struct mail_new_email e;
	struct mail_added a;
	uint32_t nrefs = 0;

	while (nrefs < ARRAY_SIZE(t->refs) && t->refs[nrefs] != NULL)
		nrefs++;
	memset(&info, 0, sizeof(info));
	info.hdr.message_id.v = (const char **)&t->id;
	info.hdr.message_id.n = t->id != NULL;
	info.hdr.in_reply_to.v = (const char **)&t->irt;
	info.hdr.in_reply_to.n = t->irt != NULL;
	info.hdr.references.v = (const char **)t->refs;
	info.hdr.references.n = nrefs;
	info.hdr.base_subject = t->subject != NULL ? t->subject : "";
	new_email(&e, box, 100, 0);
	e.info = &info;
	e.received_at = t->received != 0 ? t->received : 1700000000;
	ok(fx, mail_email_add(fx->m, ACCT, &e, &a, &fx->err));
	assert_true(a.thread != 0);
	return a;
}

/* thread_is - the thread holds exactly these emails, in this order */
static void
thread_is(struct fx *fx, uint32_t thread, const uint32_t *want, size_t n)
{
	uint32_t *ids;
	size_t got;

	assert_int_equal(mail_thread_get(fx->m, ACCT, thread, &ids, &got,
	    &fx->err), n > 0 ? 1 : 0);
	assert_int_equal(got, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(ids[i], want[i]);
	free(ids);
}

static void
test_reply_after_parent(void **state)
{
	struct fx *fx = fx_new(state, "after");
	uint32_t box = fx_box(fx, "A");
	struct tmsg p = { "p@x", NULL, { NULL }, "Lunch", 100 };
	struct tmsg r = { "r@x", "p@x", { "p@x" }, "Lunch", 200 };
	struct tmsg rr = { "rr@x", "r@x", { NULL }, "lunch", 300 };
	struct mail_added a = add_msg(fx, box, &p), b = add_msg(fx, box, &r);
	struct mail_added c = add_msg(fx, box, &rr);
	struct mail_email em;

	/* In-Reply-To alone is enough; base subjects fold ASCII case */
	assert_int_equal(b.thread, a.thread);
	assert_int_equal(c.thread, a.thread);
	thread_is(fx, a.thread, (uint32_t[]){ a.email, b.email, c.email },
	    3);
	fx_get(fx, c.email, &em);
	assert_int_equal(em.thread, a.thread);
	mail_email_clear(&em);
	fx_check_box(fx, box);
	fx_free(fx);
}

static void
test_reply_before_parent(void **state)
{
	struct fx *fx = fx_new(state, "before");
	uint32_t box = fx_box(fx, "A");
	/* the reply arrives first, but was received later */
	struct tmsg r = { "r@x", "p@x", { "p@x" }, "Plan", 200 };
	struct tmsg p = { "p@x", NULL, { NULL }, "Plan", 100 };
	struct mail_added b = add_msg(fx, box, &r), a = add_msg(fx, box, &p);

	assert_int_equal(a.thread, b.thread);
	/* Thread/get: receivedAt order, not arrival */
	thread_is(fx, a.thread, (uint32_t[]){ a.email, b.email }, 2);
	fx_check_box(fx, box);
	fx_free(fx);
}

static void
test_references_chain(void **state)
{
	struct fx *fx = fx_new(state, "chain");
	uint32_t box = fx_box(fx, "A");
	struct tmsg m1 = { "1@x", NULL, { NULL }, "Topic", 100 };
	/* 2@x never arrives; 3@x names the root and 2@x */
	struct tmsg m3 = { "3@x", "2@x", { "1@x", "2@x" }, "Topic", 300 };
	/* 4@x replies to 2@x only (no References to the root) */
	struct tmsg m4 = { "4@x", "2@x", { NULL }, "Topic", 400 };
	/* the same ids but a new subject: a new conversation */
	struct tmsg m5 = { "5@x", "3@x", { "1@x", "2@x", "3@x" }, "Other",
	    500 };
	/* a reply to 5@x under its subject joins 5@x's thread */
	struct tmsg m6 = { "6@x", "5@x", { "5@x" }, "Other", 600 };
	/* no subject: matches whatever thread its ids name */
	struct tmsg m7 = { "7@x", "1@x", { NULL }, "", 700 };
	/* no ids at all, same subject: not joined by subject alone */
	struct tmsg m8 = { NULL, NULL, { NULL }, "Topic", 800 };
	struct mail_added a1 = add_msg(fx, box, &m1);
	struct mail_added a3 = add_msg(fx, box, &m3);
	struct mail_added a4 = add_msg(fx, box, &m4);
	struct mail_added a5 = add_msg(fx, box, &m5);
	struct mail_added a6 = add_msg(fx, box, &m6);
	struct mail_added a7 = add_msg(fx, box, &m7);
	struct mail_added a8 = add_msg(fx, box, &m8);
	struct mail_new_email e;
	struct mail_added a9;
	struct mail_mailbox mb;

	assert_int_equal(a3.thread, a1.thread);
	assert_int_equal(a4.thread, a1.thread);	/* via 3@x's registration */
	assert_true(a5.thread != a1.thread);
	assert_int_equal(a6.thread, a5.thread);
	assert_int_equal(a7.thread, a1.thread);
	assert_true(a8.thread != a1.thread && a8.thread != a5.thread);
	/* no parsed message at all: a thread of its own */
	new_email(&e, box, 100, 0);
	ok(fx, mail_email_add(fx->m, ACCT, &e, &a9, &fx->err));
	assert_true(a9.thread != a8.thread && a9.thread != a1.thread);
	thread_is(fx, a1.thread, (uint32_t[]){ a1.email, a3.email, a4.email,
	    a7.email }, 4);
	thread_is(fx, a5.thread, (uint32_t[]){ a5.email, a6.email }, 2);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, box, &mb, &fx->err),
	    1);
	assert_int_equal(mb.threads, 4);
	assert_int_equal(mb.unread_threads, 4);
	mail_mailbox_clear(&mb);
	fx_check_box(fx, box);
	fx_free(fx);
}

static void
test_thread_log_and_destroy(void **state)
{
	struct fx *fx = fx_new(state, "tlog");
	uint32_t box = fx_box(fx, "A");
	struct tmsg p = { "p@x", NULL, { NULL }, "S", 100 };
	struct tmsg r = { "r@x", "p@x", { "p@x" }, "S", 200 };
	struct tmsg again = { "q@x", "p@x", { "p@x" }, "S", 300 };
	struct mail_added a, b, c;
	struct mail_changes ch;
	uint64_t st;

	ok(fx, mail_current_state(fx->m, ACCT, 0, &st, &fx->err));
	a = add_msg(fx, box, &p);
	b = add_msg(fx, box, &r);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_THREAD, st, 0, &ch,
	    &fx->err));
	assert_int_equal(ch.ncreated, 1);
	assert_int_equal(ch.created[0], a.thread);
	assert_int_equal(ch.nupdated, 0);
	mail_changes_clear(&ch);
	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_THREAD, &st,
	    &fx->err));

	/* one email out: updated; the last one out: destroyed */
	fx_expunge(fx, box, a.uid);
	thread_is(fx, a.thread, (uint32_t[]){ b.email }, 1);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_THREAD, st, 0, &ch,
	    &fx->err));
	assert_int_equal(ch.nupdated, 1);
	mail_changes_clear(&ch);
	fx_expunge(fx, box, b.uid);
	thread_is(fx, a.thread, NULL, 0);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_THREAD, st, 0, &ch,
	    &fx->err));
	assert_int_equal(ch.nupdated, 0);
	assert_int_equal(ch.ndestroyed, 1);
	assert_int_equal(ch.destroyed[0], a.thread);
	mail_changes_clear(&ch);

	/* a later reply to the same ids starts a new thread: a destroyed
	 * thread id is never handed out again */
	c = add_msg(fx, box, &again);
	assert_true(c.thread != a.thread);
	thread_is(fx, c.thread, (uint32_t[]){ c.email }, 1);
	fx_check_box(fx, box);
	fx_free(fx);
}

static void
test_ids_cap(void **state)
{
	struct fx *fx = fx_new(state, "cap");
	uint32_t box = fx_box(fx, "A");
	struct tmsg root = { "root@x", NULL, { NULL }, "Long", 100 };
	struct mail_added a = add_msg(fx, box, &root), b;
	char names[300][16];
	const char *refs[300];
	struct mime_info info;
	struct mail_new_email e;
	const char *id = "last@x";

	/* References of 300 unknown ids after the root: only
	 * MAIL_THREAD_IDS are looked at, and the root is one of them */
	refs[0] = "root@x";
	for (size_t i = 1; i < ARRAY_SIZE(refs); i++) {
		int n = snprintf(names[i], sizeof(names[i]), "m%zu@x", i);

		assert_true(n > 0 && (size_t)n < sizeof(names[i]));
		refs[i] = names[i];
	}
	memset(&info, 0, sizeof(info));
	info.hdr.message_id.v = &id;
	info.hdr.message_id.n = 1;
	info.hdr.references.v = refs;
	info.hdr.references.n = ARRAY_SIZE(refs);
	info.hdr.base_subject = "Long";
	new_email(&e, box, 100, 0);
	e.info = &info;
	ok(fx, mail_email_add(fx->m, ACCT, &e, &b, &fx->err));
	assert_int_equal(b.thread, a.thread);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_reply_after_parent),
		FX_TEST(test_reply_before_parent),
		FX_TEST(test_references_chain),
		FX_TEST(test_thread_log_and_destroy),
		FX_TEST(test_ids_cap),
		FX_TEST_ROCKS(test_reply_before_parent),
		FX_TEST_ROCKS(test_references_chain),
		FX_TEST_ROCKS(test_thread_log_and_destroy),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
