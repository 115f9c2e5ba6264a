/*
 * mail_flags_test.c - keywords and flag changes (mail_flags.c) over a
 * real data store: keyword validation (RFC 8621 4.1.1 / IMAP atoms),
 * keywords stored lowercase, sorted and unique in the email record and in
 * each membership (FETCH FLAGS), their limits, and STORE / Email/set:
 * a new MODSEQ in every mailbox holding the email, counts following
 * \Seen and \Draft, no-op changes writing nothing, UNCHANGEDSINCE, and
 * the change log.
 */
#include "t/unit/mail_fx.h"

/* ---- keywords and flags ---- */

static void
test_keyword_rules(void **state)
{
	static const struct {
		const char *kw;
		bool valid;
	} cases[] = {
		{ "$label1", true }, { "Work", true }, { "a.b-c_d+e", true },
		{ "", false }, { "a b", false }, { "a(b", false },
		{ "a)b", false }, { "a{b", false }, { "a]b", false },
		{ "a%b", false }, { "a*b", false }, { "a\"b", false },
		{ "\\Seen", false }, { "a\tb", false }, { "caf\xc3\xa9", false },
		{ "a\x7f", false },
	};
	char big[MAIL_KEYWORD_MAX + 2];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (mail_keyword_is_valid(cases[i].kw) != cases[i].valid)
			fail_msg("keyword \"%s\": want %d", cases[i].kw,
			    cases[i].valid);
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(mail_keyword_is_valid(big));
	big[MAIL_KEYWORD_MAX] = '\0';
	assert_true(mail_keyword_is_valid(big));
	assert_int_equal(mail_keyword_flag("$Seen"), MAIL_F_SEEN);
	assert_int_equal(mail_keyword_flag("$notjunk"), MAIL_F_NOTJUNK);
	assert_int_equal(mail_keyword_flag("$label1"), 0);
	assert_int_equal(mail_keyword_flag("\\Deleted"), 0);
}

static void
test_keywords_stored(void **state)
{
	static const char *const kws[] = { "Work", "$Forwarded", "work",
	    "$label1", "Zeta" };
	static const char *const bad[] = { "ok", "not ok" };
	struct fx *fx = fx_new(state, "keywords");
	uint32_t box = fx_box(fx, "A");
	struct mail_new_email e;
	struct mail_added a;
	struct mail_email em;
	struct msgs *s;
	const char *many[MAIL_KEYWORDS_MAX + 1];
	char names[MAIL_KEYWORDS_MAX + 1][8];

	new_email(&e, box, 10, 0);
	e.keywords = kws;
	e.nkeywords = ARRAY_SIZE(kws);
	ok(fx, mail_email_add(fx->m, ACCT, &e, &a, &fx->err));
	fx_get(fx, a.email, &em);
	/* lowercase, unique, sorted; the system keyword became a flag */
	assert_int_equal(em.flags, MAIL_F_FORWARDED);
	assert_int_equal(em.nkeywords, 3);
	assert_string_equal(em.keywords[0], "$label1");
	assert_string_equal(em.keywords[1], "work");
	assert_string_equal(em.keywords[2], "zeta");
	assert_int_equal(em.thread, a.thread);
	assert_true(em.thread != 0);
	assert_int_equal(em.nmembers, 1);
	assert_int_equal(em.members[0].mbox, box);
	assert_int_equal(em.members[0].uid, a.uid);
	assert_int_equal(em.members[0].modseq, a.modseq);
	assert_int_equal(em.size, 10);
	assert_int_equal(em.received_at, 1700000000);
	assert_memory_equal(em.blob.b, e.blob.b, sizeof(e.blob.b));
	mail_email_clear(&em);
	/* FETCH FLAGS reads them from the membership */
	s = fx_list(fx, box);
	assert_int_equal(s->n, 1);
	assert_string_equal(s->kw[0], "$label1 work zeta");
	free(s);

	/* an invalid keyword or too many: nothing delivered */
	e.keywords = bad;
	e.nkeywords = 2;
	expect_err(fx, mail_email_add(fx->m, ACCT, &e, NULL, &fx->err),
	    "invalid keyword");
	for (size_t i = 0; i < ARRAY_SIZE(many); i++) {
		int n = snprintf(names[i], sizeof(names[i]), "k%zu", i);

		assert_true(n > 0 && (size_t)n < sizeof(names[i]));
		many[i] = names[i];
	}
	e.keywords = many;
	e.nkeywords = MAIL_KEYWORDS_MAX + 1;
	expect_err(fx, mail_email_add(fx->m, ACCT, &e, NULL, &fx->err),
	    "keywords");
	e.nkeywords = MAIL_KEYWORDS_MAX;
	ok(fx, mail_email_add(fx->m, ACCT, &e, NULL, &fx->err));
	s = fx_list(fx, box);
	assert_int_equal(s->n, 2);
	free(s);
	fx_free(fx);
}

static void
test_flags(void **state)
{
	static const char *const work[] = { "Work" };
	static const char *const label[] = { "$label1", "$Seen" };
	struct fx *fx = fx_new(state, "flags");
	uint32_t a = fx_box(fx, "A"), b = fx_box(fx, "B");
	struct mail_added x, y, c;
	struct mail_flag_change fc;
	struct mail_flag_result res;
	struct mail_mailbox ma, mb;
	struct mail_email em;
	struct msgs *s;
	struct logs l;
	uint64_t st, hm_a, hm_b;

	x = fx_add(fx, a, 10, 0);
	y = fx_add(fx, a, 20, MAIL_F_DRAFT);
	assert_int_equal(mail_msg_copy(fx->m, ACCT, a, x.uid, b, &c,
	    &fx->err), 1);
	fx_check_box(fx, a);
	fx_check_box(fx, b);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, a, &ma, &fx->err), 1);
	assert_int_equal(ma.unseen, 2);
	assert_int_equal(ma.unread, 1);		/* the draft is not unread */
	hm_a = ma.highestmodseq;
	mail_mailbox_clear(&ma);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, b, &mb, &fx->err), 1);
	hm_b = mb.highestmodseq;
	mail_mailbox_clear(&mb);
	ok(fx, mail_current_state(fx->m, ACCT, 0, &st, &fx->err));

	/* STORE +FLAGS (\Seen Work) in A: x changes in A and in B */
	memset(&fc, 0, sizeof(fc));
	fc.add = MAIL_F_SEEN;
	fc.kw_add = work;
	fc.nkw_add = 1;
	assert_int_equal(mail_msg_update_flags(fx->m, ACCT, a, x.uid, 0, &fc,
	    &res, &fx->err), 1);
	assert_true(res.changed);
	assert_false(res.modified);
	assert_int_equal(res.flags, MAIL_F_SEEN);
	assert_true(res.modseq > hm_a);
	assert_true(res.state > st);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, a, &ma, &fx->err), 1);
	assert_int_equal(ma.highestmodseq, res.modseq);
	assert_int_equal(ma.unseen, 1);
	assert_int_equal(ma.unread, 0);
	mail_mailbox_clear(&ma);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, b, &mb, &fx->err), 1);
	assert_int_equal(mb.highestmodseq, hm_b + 1);
	assert_int_equal(mb.unread, 0);
	assert_int_equal(mb.unread_threads, 0);
	mail_mailbox_clear(&mb);
	fx_check_box(fx, a);
	fx_check_box(fx, b);
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	ok(fx, mail_msg_changed_since(fx->m, ACCT, b, hm_b, collect, s,
	    &fx->err));
	assert_int_equal(s->n, 1);
	assert_int_equal(s->v[0].uid, c.uid);
	assert_int_equal(s->v[0].flags, MAIL_F_SEEN);
	assert_string_equal(s->kw[0], "work");
	free(s);

	/* the same again changes nothing and takes no MODSEQ */
	assert_int_equal(mail_msg_update_flags(fx->m, ACCT, b, c.uid, 0, &fc,
	    &res, &fx->err), 1);
	assert_false(res.changed);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, b, &mb, &fx->err), 1);
	assert_int_equal(mb.highestmodseq, hm_b + 1);
	mail_mailbox_clear(&mb);

	/* UNCHANGEDSINCE below the MODSEQ: MODIFIED, nothing written */
	fc.add = MAIL_F_FLAGGED;
	assert_int_equal(mail_msg_update_flags(fx->m, ACCT, b, c.uid, hm_b,
	    &fc, &res, &fx->err), 1);
	assert_true(res.modified);
	assert_false(res.changed);
	assert_int_equal(res.modseq, hm_b + 1);
	assert_int_equal(mail_msg_update_flags(fx->m, ACCT, b, c.uid,
	    hm_b + 1, &fc, &res, &fx->err), 1);
	assert_true(res.changed);
	assert_int_equal(res.flags, MAIL_F_SEEN | MAIL_F_FLAGGED);

	/* -FLAGS, a replace (STORE FLAGS / JMAP keywords), unknown uids */
	memset(&fc, 0, sizeof(fc));
	fc.remove = MAIL_F_SEEN;
	fc.kw_remove = work;
	fc.nkw_remove = 1;
	assert_int_equal(mail_email_update_flags(fx->m, ACCT, x.email, &fc,
	    &res, &fx->err), 1);
	assert_int_equal(res.flags, MAIL_F_FLAGGED);
	fx_check_box(fx, a);
	fx_check_box(fx, b);
	memset(&fc, 0, sizeof(fc));
	fc.replace = true;
	fc.kw_add = label;
	fc.nkw_add = 2;
	assert_int_equal(mail_email_update_flags(fx->m, ACCT, y.email, &fc,
	    &res, &fx->err), 1);
	fx_get(fx, y.email, &em);
	assert_int_equal(em.flags, MAIL_F_SEEN);
	assert_int_equal(em.nkeywords, 1);
	assert_string_equal(em.keywords[0], "$label1");
	mail_email_clear(&em);
	fx_check_box(fx, a);
	assert_int_equal(mail_msg_update_flags(fx->m, ACCT, a, 999, 0, &fc,
	    &res, &fx->err), 0);
	assert_int_equal(mail_email_update_flags(fx->m, ACCT, 999, &fc, &res,
	    &fx->err), 0);
	fc.kw_add = (const char *const[]){ "bad kw" };
	fc.nkw_add = 1;
	expect_err(fx, mail_email_update_flags(fx->m, ACCT, y.email, &fc,
	    &res, &fx->err), "invalid keyword");

	/* email log: four "updated" (x, x, x, y) */
	memset(&l, 0, sizeof(l));
	ok(fx, mail_log_scan(fx->m, ACCT, MAIL_LOG_EMAIL, st, collect_log,
	    &l, &fx->err));
	assert_int_equal(l.n, 4);
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(l.op[i], MAIL_LOG_UPDATED);
	assert_int_equal(l.id[3], y.email);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_keyword_rules),
		FX_TEST(test_keywords_stored),
		FX_TEST(test_flags),
		FX_TEST_ROCKS(test_keywords_stored),
		FX_TEST_ROCKS(test_flags),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
