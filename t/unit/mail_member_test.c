/*
 * mail_member_test.c - memberships (mail_member.c) over a real data
 * store: EXPUNGE with its 'X' key and VANISHED, UIDs never reused,
 * MODSEQs monotone, an email destroyed with its last membership (quota,
 * record, MIME info), COPY and MOVE (RFC 6851) with new UIDs and no
 * quota change, Email/set destroy of an email in several mailboxes, and
 * a seeded random run of adds, copies, moves, flag changes and expunges
 * that checks after every step: counts equal to the 'U' keys, quota
 * equal to the sizes of the live emails, UIDs and MODSEQs strictly
 * increasing per mailbox, and the change log replaying to exactly the
 * live emails.
 */
#include "t/unit/mail_fx.h"

static void
test_expunge(void **state)
{
	struct fx *fx = fx_new(state, "expunge");
	uint32_t box = fx_box(fx, "A");
	struct mail_added a = fx_add(fx, box, 1000, 0);
	struct mail_added b = fx_add(fx, box, 2000, MAIL_F_SEEN);
	struct mail_added c;
	struct mail_removed rm;
	struct mail_mailbox mb;
	struct mail_email em;
	struct msgs *s;
	struct fx_op op;
	uint64_t hm;

	assert_int_equal(fx_quota(fx), 3000);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, box, &mb, &fx->err),
	    1);
	hm = mb.highestmodseq;
	mail_mailbox_clear(&mb);

	rm = fx_expunge(fx, box, a.uid);
	assert_true(rm.destroyed);
	assert_int_equal(rm.email, a.email);
	assert_int_equal(rm.uid, a.uid);
	assert_int_equal(rm.size, 1000);
	assert_int_equal(rm.modseq, hm + 1);
	assert_int_equal(fx_quota(fx), 2000);
	assert_int_equal(mail_email_get(fx->m, ACCT, a.email, &em, &fx->err),
	    0);
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, box, &mb, &fx->err),
	    1);
	assert_int_equal(mb.highestmodseq, hm + 1);
	assert_int_equal(mb.total, 1);
	assert_int_equal(mb.unseen, 0);
	assert_int_equal(mb.threads, 1);
	mail_mailbox_clear(&mb);
	fx_check_box(fx, box);

	/* VANISHED (EARLIER) since before the expunge, not after */
	s = fx_vanished(fx, box, hm);
	assert_int_equal(s->n, 1);
	assert_int_equal(s->v[0].uid, a.uid);
	assert_int_equal(s->v[0].modseq, hm + 1);
	free(s);
	s = fx_vanished(fx, box, hm + 1);
	assert_int_equal(s->n, 0);
	free(s);
	/* gone from CHANGEDSINCE too */
	s = calloc(1, sizeof(*s));
	assert_non_null(s);
	ok(fx, mail_msg_changed_since(fx->m, ACCT, box, 0, collect, s,
	    &fx->err));
	assert_int_equal(s->n, 1);
	assert_int_equal(s->v[0].uid, b.uid);
	free(s);

	/* twice: no such uid; the next delivery does not reuse the UID */
	memset(&op, 0, sizeof(op));
	op.fn = op_expunge;
	op.mbox = box;
	op.uid = a.uid;
	assert_int_equal(fx_run(fx, &op), 0);
	c = fx_add(fx, box, 10, 0);
	assert_true(c.uid > b.uid);
	assert_true(c.modseq > hm + 1);
	fx_expunge(fx, box, c.uid);
	c = fx_add(fx, box, 10, 0);
	assert_int_equal(c.uid, b.uid + 2);
	fx_check_box(fx, box);
	fx_free(fx);
}

static void
test_copy_move(void **state)
{
	struct fx *fx = fx_new(state, "copy");
	uint32_t a = fx_box(fx, "A"), b = fx_box(fx, "B"), c = fx_box(fx, "C");
	struct mail_added x = fx_add(fx, a, 500, 0), y, z, w;
	struct mail_removed rm;
	struct mail_mailbox mb;
	struct mail_email em;
	struct msgs *s;
	struct fx_op op;
	uint64_t st, hm_a;

	fx_add(fx, b, 1, 0);	/* B's UIDs start above 1 */
	assert_int_equal(fx_quota(fx), 501);
	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_EMAIL, &st,
	    &fx->err));
	assert_int_equal(mail_msg_copy(fx->m, ACCT, a, x.uid, b, &y,
	    &fx->err), 1);
	assert_false(y.existed);
	assert_int_equal(y.email, x.email);
	assert_int_equal(y.uid, 2);
	assert_int_equal(y.thread, x.thread);
	assert_true(y.state > st);
	assert_int_equal(fx_quota(fx), 501);	/* bytes per email */
	fx_get(fx, x.email, &em);
	assert_int_equal(em.nmembers, 2);
	assert_int_equal(em.members[1].mbox, b);
	assert_int_equal(em.members[1].uid, 2);
	mail_email_clear(&em);
	fx_check_box(fx, a);
	fx_check_box(fx, b);

	/* again into B: it is there already */
	assert_int_equal(mail_msg_copy(fx->m, ACCT, a, x.uid, b, &z,
	    &fx->err), 1);
	assert_true(z.existed);
	assert_int_equal(z.uid, 2);
	assert_int_equal(mail_msg_copy(fx->m, ACCT, a, 999, b, &z, &fx->err),
	    0);
	expect_err(fx, mail_msg_copy(fx->m, ACCT, a, x.uid, 4242, &z,
	    &fx->err), "no mailbox");

	/* MOVE A -> C: C gets a UID, A an 'X', the email survives */
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, a, &mb, &fx->err), 1);
	hm_a = mb.highestmodseq;
	mail_mailbox_clear(&mb);
	assert_int_equal(mail_msg_move(fx->m, ACCT, a, x.uid, c, &w,
	    &fx->err), 1);
	assert_false(w.existed);
	assert_int_equal(w.uid, 1);
	s = fx_vanished(fx, a, hm_a);
	assert_int_equal(s->n, 1);
	assert_int_equal(s->v[0].uid, x.uid);
	free(s);
	fx_get(fx, x.email, &em);
	assert_int_equal(em.nmembers, 2);
	assert_int_equal(em.members[0].mbox, b);
	assert_int_equal(em.members[1].mbox, c);
	mail_email_clear(&em);
	assert_int_equal(fx_quota(fx), 501);
	fx_check_box(fx, a);
	fx_check_box(fx, b);
	fx_check_box(fx, c);
	/* MOVE into the mailbox it is in; MOVE C -> B where it is too */
	assert_int_equal(mail_msg_move(fx->m, ACCT, c, w.uid, c, &z,
	    &fx->err), 1);
	assert_true(z.existed);
	assert_int_equal(mail_msg_move(fx->m, ACCT, c, w.uid, b, &z,
	    &fx->err), 1);
	assert_true(z.existed);
	assert_int_equal(z.uid, y.uid);
	fx_get(fx, x.email, &em);
	assert_int_equal(em.nmembers, 1);
	mail_email_clear(&em);
	fx_check_box(fx, c);

	/* a copy back into A gets a new UID above the moved one */
	assert_int_equal(mail_msg_copy(fx->m, ACCT, b, y.uid, a, &z,
	    &fx->err), 1);
	assert_true(z.uid > x.uid);
	/* JMAP: out of one mailbox, then destroyed */
	memset(&op, 0, sizeof(op));
	op.fn = op_remove;
	op.email = x.email;
	op.mbox = c;
	assert_int_equal(fx_run(fx, &op), 0);	/* not in C any more */
	op.mbox = a;
	assert_int_equal(fx_run(fx, &op), 1);
	assert_false(op.rm.destroyed);
	assert_int_equal(op.rm.uid, z.uid);
	memset(&op, 0, sizeof(op));
	op.fn = op_destroy;
	op.email = x.email;
	assert_int_equal(fx_run(fx, &op), 1);
	rm = op.rm;
	assert_true(rm.destroyed);
	assert_int_equal(rm.size, 500);
	assert_int_equal(fx_run(fx, &op), 0);
	assert_int_equal(fx_quota(fx), 1);
	fx_check_box(fx, a);
	fx_check_box(fx, b);
	fx_free(fx);
}

static void
test_destroy_everywhere(void **state)
{
	struct fx *fx = fx_new(state, "destroy");
	uint32_t box[3] = { fx_box(fx, "A"), fx_box(fx, "B"),
	    fx_box(fx, "C") };
	struct mail_added x = fx_add(fx, box[0], 70, 0);
	struct mail_changes ch;
	struct fx_op op;
	uint64_t st;

	for (size_t i = 1; i < 3; i++)
		assert_int_equal(mail_msg_copy(fx->m, ACCT, box[0], x.uid,
		    box[i], NULL, &fx->err), 1);
	ok(fx, mail_current_state(fx->m, ACCT, 0, &st, &fx->err));
	memset(&op, 0, sizeof(op));
	op.fn = op_destroy;
	op.email = x.email;
	assert_int_equal(fx_run(fx, &op), 1);
	assert_true(op.rm.destroyed);
	for (size_t i = 0; i < 3; i++) {
		struct msgs *s = fx_vanished(fx, box[i], 0);

		assert_int_equal(s->n, 1);
		free(s);
		fx_check_box(fx, box[i]);
	}
	assert_int_equal(fx_quota(fx), 0);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, st, 0, &ch,
	    &fx->err));
	assert_int_equal(ch.ndestroyed, 1);
	assert_int_equal(ch.nupdated, 0);
	mail_changes_clear(&ch);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_MAILBOX, st, 0, &ch,
	    &fx->err));
	assert_int_equal(ch.nupdated, 3);
	assert_true(ch.counts_only);
	mail_changes_clear(&ch);
	fx_free(fx);
}

/* ---- a random run with the invariants checked after every step ---- */

#define BOXES 3
#define STEPS 300

struct model {
	uint32_t box[BOXES];
	uint32_t last_uid[BOXES];	/* the highest UID ever seen */
	uint64_t last_modseq[BOXES];
	uint32_t live[512];		/* live email ids */
	uint64_t size[512];
	size_t nlive;
	/* what the run did, so it cannot silently test nothing */
	unsigned copies, existed, moves, flag_changes, expunges, destroys;
};

static uint32_t
rnd(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

static void
model_forget(struct model *md, uint32_t email)
{
	for (size_t i = 0; i < md->nlive; i++)
		if (md->live[i] == email) {
			md->live[i] = md->live[--md->nlive];
			md->size[i] = md->size[md->nlive];
			return;
		}
	fail_msg("email %u not live", email);
}

/* model_check - every invariant named at the top */
static void
model_check(struct fx *fx, struct model *md)
{
	struct mail_changes ch;
	uint64_t sum = 0;

	for (size_t i = 0; i < BOXES; i++) {
		struct mail_mailbox mb;
		struct msgs *s = fx_list(fx, md->box[i]);

		fx_check_box(fx, md->box[i]);
		assert_int_equal(mail_mailbox_get(fx->m, ACCT, md->box[i], &mb,
		    &fx->err), 1);
		assert_true(mb.highestmodseq >= md->last_modseq[i]);
		md->last_modseq[i] = mb.highestmodseq;
		assert_true(mb.uidnext > md->last_uid[i] ||
		    md->last_uid[i] == 0);
		for (size_t j = 0; j < s->n; j++)
			if (s->v[j].uid > md->last_uid[i])
				md->last_uid[i] = s->v[j].uid;
		mail_mailbox_clear(&mb);
		free(s);
	}
	for (size_t i = 0; i < md->nlive; i++)
		sum += md->size[i];
	assert_int_equal(fx_quota(fx), sum);
	/* the log from 0: created and not destroyed == live */
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_EMAIL, 0, 0, &ch,
	    &fx->err));
	assert_false(ch.has_more);
	assert_int_equal(ch.ncreated, md->nlive);
	for (size_t i = 0; i < md->nlive; i++) {
		bool found = false;

		for (size_t j = 0; j < ch.ncreated && !found; j++)
			found = ch.created[j] == md->live[i];
		assert_true(found);
	}
	assert_int_equal(ch.nupdated, 0);
	assert_int_equal(ch.ndestroyed, 0);
	mail_changes_clear(&ch);
}

/* pick - a random live membership: its box index and uid; false none */
static bool
pick(struct fx *fx, struct model *md, uint32_t *seed, size_t *bi,
    uint32_t *uid)
{
	for (int tries = 0; tries < 6; tries++) {
		struct msgs *s;

		*bi = rnd(seed) % BOXES;
		s = fx_list(fx, md->box[*bi]);
		if (s->n > 0) {
			*uid = s->v[rnd(seed) % s->n].uid;
			free(s);
			return true;
		}
		free(s);
	}
	return false;
}

static void
test_random_run(void **state)
{
	struct fx *fx = fx_new(state, "random");
	struct model *md = calloc(1, sizeof(*md));
	uint32_t seed = 4242;

	assert_non_null(md);
	for (size_t i = 0; i < BOXES; i++) {
		char name[] = "B?";

		name[1] = (char)('0' + i);
		md->box[i] = fx_box(fx, name);
	}
	for (int step = 0; step < STEPS; step++) {
		uint32_t what = rnd(&seed) % 10, uid;
		struct mail_flag_change fc;
		struct mail_flag_result res;
		struct mail_removed rm;
		struct mail_added a;
		size_t bi, dj;

		if (what < 3 || md->nlive == 0) {
			uint64_t size = 1 + rnd(&seed) % 1000;

			bi = rnd(&seed) % BOXES;
			a = fx_add(fx, md->box[bi], size, rnd(&seed) % 4 == 0 ?
			    MAIL_F_SEEN : 0);
			assert_true(a.uid > md->last_uid[bi]);
			assert_true(md->nlive < ARRAY_SIZE(md->live));
			md->live[md->nlive] = a.email;
			md->size[md->nlive++] = size;
		} else if (!pick(fx, md, &seed, &bi, &uid)) {
			continue;
		} else if (what < 5) {
			dj = rnd(&seed) % BOXES;
			assert_int_equal(mail_msg_copy(fx->m, ACCT, md->box[bi],
			    uid, md->box[dj], &a, &fx->err), 1);
			assert_true(a.existed || a.uid > md->last_uid[dj]);
			md->copies += !a.existed;
			md->existed += a.existed;
		} else if (what < 6) {
			dj = rnd(&seed) % BOXES;
			assert_int_equal(mail_msg_move(fx->m, ACCT, md->box[bi],
			    uid, md->box[dj], &a, &fx->err), 1);
			assert_true(a.existed || a.uid > md->last_uid[dj]);
			md->moves += !a.existed;
		} else if (what < 8) {
			memset(&fc, 0, sizeof(fc));
			fc.add = rnd(&seed) & (MAIL_F_SEEN | MAIL_F_DRAFT);
			fc.remove = rnd(&seed) & (MAIL_F_SEEN | MAIL_F_FLAGGED);
			assert_int_equal(mail_msg_update_flags(fx->m, ACCT,
			    md->box[bi], uid, 0, &fc, &res, &fx->err), 1);
			md->flag_changes += res.changed;
		} else {
			rm = fx_expunge(fx, md->box[bi], uid);
			md->expunges++;
			if (rm.destroyed) {
				model_forget(md, rm.email);
				md->destroys++;
			}
		}
		model_check(fx, md);
	}
	assert_true(md->copies > 10 && md->existed > 0 && md->moves > 10);
	assert_true(md->flag_changes > 10 && md->destroys > 5 &&
	    md->expunges > md->destroys);
	free(md);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_expunge),
		FX_TEST(test_copy_move),
		FX_TEST(test_destroy_everywhere),
		FX_TEST(test_random_run),
		FX_TEST_ROCKS(test_expunge),
		FX_TEST_ROCKS(test_copy_move),
		FX_TEST_ROCKS(test_random_run),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
