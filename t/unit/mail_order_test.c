/*
 * mail_order_test.c - every mailbox's receivedAt index (store/mail_order.c,
 * 'O') over a real data store, against what it indexes: after each add
 * (received times out of UID order, ties in one second), COPY and MOVE
 * of old emails (they keep their receivedAt), expunge, destroy and a
 * mailbox deleted with its emails, the index read newest first and
 * oldest first equals the mailbox's 'U' keys sorted by (receivedAt,
 * email id ascending) with each email's thread, and its count equals the
 * mailbox's total.  Then a seeded random run checking the same after
 * every step, a store whose index was lost (a store from before it) made
 * whole by mail_order_rebuild, and a scan stopped or failed by its
 * callback.
 */
#include "t/unit/mail_fx.h"
#include "store/rec.h"

struct ent {
	uint32_t email, thread;
	int64_t received;
};

struct ents {
	size_t n;
	struct ent v[512];
	int stop_after;		/* > 0: the callback stops there */
	bool fail;		/* the callback fails at once */
};

static int
collect_ent(void *arg, const struct mail_order_entry *e)
{
	struct ents *s = arg;

	if (s->fail)
		return -1;
	assert_true(s->n < ARRAY_SIZE(s->v));
	s->v[s->n].email = e->email;
	s->v[s->n].thread = e->thread;
	s->v[s->n].received = e->received;
	s->n++;
	return s->stop_after > 0 && s->n == (size_t)s->stop_after ? 1 : 0;
}

struct scan_op {
	uint32_t mbox;
	bool oldest_first;
	struct ents *s;
	uint64_t count;
};

static int
scan_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct scan_op *op = arg;
	int r;

	op->s->n = 0;
	if ((r = mail_order_count_txn(t, ACCT, op->mbox, &op->count,
	    err)) < 0)
		return r;
	return mail_order_scan_txn(t, ACCT, op->mbox, op->oldest_first,
	    collect_ent, op->s, err);
}

static struct ents *
scan(struct fx *fx, uint32_t mbox, bool oldest_first, uint64_t *count_r)
{
	struct ents *s = calloc(1, sizeof(*s));
	struct scan_op op = { mbox, oldest_first, s, 0 };

	assert_non_null(s);
	ok(fx, kv_run(fx->kv, KV_READ, scan_txn, &op, &fx->err));
	if (count_r != NULL)
		*count_r = op.count;
	return s;
}

static int
cmp_newest(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->received != y->received)
		return x->received > y->received ? -1 : 1;
	return x->email < y->email ? -1 : x->email > y->email;
}

static int
cmp_oldest(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;

	if (x->received != y->received)
		return x->received < y->received ? -1 : 1;
	return x->email < y->email ? -1 : x->email > y->email;
}

/* check_order - mbox's index both ways is its 'U' keys in receivedAt
 * order; its count is the mailbox's total */
static void
check_order(struct fx *fx, uint32_t mbox)
{
	struct msgs *m = fx_list(fx, mbox);
	struct ents *want = calloc(1, sizeof(*want)), *got;
	struct mail_mailbox mb;
	uint64_t count;

	assert_non_null(want);
	for (size_t i = 0; i < m->n; i++) {
		struct mail_email em;

		fx_get(fx, m->v[i].email, &em);
		want->v[want->n].email = em.id;
		want->v[want->n].thread = em.thread;
		want->v[want->n].received = em.received_at;
		want->n++;
		mail_email_clear(&em);
	}
	assert_int_equal(mail_mailbox_get(fx->m, ACCT, mbox, &mb, &fx->err),
	    1);
	qsort(want->v, want->n, sizeof(want->v[0]), cmp_newest);
	got = scan(fx, mbox, false, &count);
	assert_int_equal(count, mb.total);
	assert_int_equal(got->n, want->n);
	for (size_t i = 0; i < want->n; i++) {
		assert_int_equal(got->v[i].email, want->v[i].email);
		assert_int_equal(got->v[i].thread, want->v[i].thread);
		assert_int_equal(got->v[i].received, want->v[i].received);
	}
	free(got);
	qsort(want->v, want->n, sizeof(want->v[0]), cmp_oldest);
	got = scan(fx, mbox, true, NULL);
	assert_int_equal(got->n, want->n);
	for (size_t i = 0; i < want->n; i++)
		assert_int_equal(got->v[i].email, want->v[i].email);
	free(got);
	mail_mailbox_clear(&mb);
	free(want);
	free(m);
}

static struct mail_added
add_at(struct fx *fx, uint32_t mbox, int64_t received)
{
	struct mail_new_email e;
	struct mail_added a;

	new_email(&e, mbox, 100, 0);
	e.received_at = received;
	ok(fx, mail_email_add(fx->m, ACCT, &e, &a, &fx->err));
	return a;
}

static int
op_copy(struct kv_txn *t, struct fx_op *op, struct buf *err)
{
	return mail_email_copy_txn(t, ACCT, op->email, op->dst, &op->a, err);
}

static int
op_move(struct kv_txn *t, struct fx_op *op, struct buf *err)
{
	return mail_msg_move_txn(t, ACCT, op->mbox, op->uid, op->dst, &op->a,
	    err);
}

static struct mail_added
fx_copy(struct fx *fx, uint32_t email, uint32_t dst)
{
	struct fx_op op;

	memset(&op, 0, sizeof(op));
	op.fn = op_copy;
	op.email = email;
	op.dst = dst;
	if (fx_run(fx, &op) != 1)
		fail_msg("copy %u: %s", email, buf_cstr(&fx->err));
	return op.a;
}

static struct mail_added
fx_move(struct fx *fx, uint32_t mbox, uint32_t uid, uint32_t dst)
{
	struct fx_op op;

	memset(&op, 0, sizeof(op));
	op.fn = op_move;
	op.mbox = mbox;
	op.uid = uid;
	op.dst = dst;
	if (fx_run(fx, &op) != 1)
		fail_msg("move %u/%u: %s", mbox, uid, buf_cstr(&fx->err));
	return op.a;
}

static void
test_order_follows_memberships(void **state)
{
	struct fx *fx = fx_new(state, "follows");
	uint32_t a = fx_box(fx, "A"), b = fx_box(fx, "B");
	struct mail_added e1, e2, e3, e4, e5, c;
	struct mail_removed rm;
	struct ents *s;
	struct fx_op op;
	uint64_t count;

	/* UID order is not receivedAt order; e3 and e4 tie */
	e1 = add_at(fx, a, 1700000300);
	e2 = add_at(fx, a, 1700000100);
	e3 = add_at(fx, a, 1700000200);
	e4 = add_at(fx, a, 1700000200);
	e5 = add_at(fx, a, -5);		/* before 1970: the sign flip */
	check_order(fx, a);
	s = scan(fx, a, false, &count);
	assert_int_equal(count, 5);
	assert_int_equal(s->v[0].email, e1.email);
	assert_int_equal(s->v[1].email, e3.email);	/* the tie by id */
	assert_int_equal(s->v[2].email, e4.email);
	assert_int_equal(s->v[3].email, e2.email);
	assert_int_equal(s->v[4].email, e5.email);
	assert_int_equal(s->v[4].received, -5);
	free(s);
	s = scan(fx, a, true, NULL);
	assert_int_equal(s->v[0].email, e5.email);
	assert_int_equal(s->v[2].email, e3.email);	/* ascending ties */
	assert_int_equal(s->v[3].email, e4.email);
	free(s);

	/* COPY of an old email into B lands after newer ones in B */
	(void)add_at(fx, b, 1700000250);
	c = fx_copy(fx, e2.email, b);
	check_order(fx, a);
	check_order(fx, b);
	s = scan(fx, b, false, NULL);
	assert_int_equal(s->n, 2);
	assert_int_equal(s->v[1].email, e2.email);
	free(s);
	/* MOVE B -> A of e2 again: already in A, so only B loses it */
	(void)fx_move(fx, b, c.uid, a);
	check_order(fx, a);
	check_order(fx, b);
	/* MOVE of e1 A -> B */
	(void)fx_move(fx, a, e1.uid, b);
	check_order(fx, a);
	check_order(fx, b);
	/* expunge, and destroy with its last membership */
	rm = fx_expunge(fx, a, e4.uid);
	assert_true(rm.destroyed);
	check_order(fx, a);
	memset(&op, 0, sizeof(op));
	op.fn = op_destroy;
	op.email = e1.email;
	assert_int_equal(fx_run(fx, &op), 1);
	check_order(fx, a);
	check_order(fx, b);
	/* B deleted with its emails: no entry, no count left */
	memset(&op, 0, sizeof(op));
	op.fn = op_delete_box;
	op.mbox = b;
	op.flag = true;
	assert_int_equal(fx_run(fx, &op), 1);
	s = scan(fx, b, false, &count);
	assert_int_equal(s->n, 0);
	assert_int_equal(count, 0);
	free(s);
	check_order(fx, a);
	fx_free(fx);
}

static uint32_t
rnd(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

static void
test_order_random_run(void **state)
{
	struct fx *fx = fx_new(state, "random");
	uint32_t box[3], seed = 20261130;
	size_t copies = 0, moves = 0, expunges = 0;

	box[0] = fx_box(fx, "A");
	box[1] = fx_box(fx, "B");
	box[2] = fx_box(fx, "C");
	for (int step = 0; step < 300; step++) {
		uint32_t what = rnd(&seed) % 10, bi = rnd(&seed) % 3;
		struct msgs *m = fx_list(fx, box[bi]);

		if (what < 4 || m->n == 0) {
			/* few distinct seconds: many ties */
			(void)add_at(fx, box[bi], 1700000000 +
			    (int64_t)(rnd(&seed) % 20));
		} else {
			const struct mail_msg *msg = &m->v[rnd(&seed) % m->n];
			uint32_t dst = box[rnd(&seed) % 3];

			if (what < 6) {
				(void)fx_copy(fx, msg->email, dst);
				copies++;
			} else if (what < 8) {
				(void)fx_move(fx, box[bi], msg->uid, dst);
				moves++;
			} else {
				(void)fx_expunge(fx, box[bi], msg->uid);
				expunges++;
			}
		}
		free(m);
		for (size_t i = 0; i < 3; i++)
			check_order(fx, box[i]);
	}
	assert_true(copies > 20 && moves > 20 && expunges > 20);
	fx_free(fx);
}

static int
drop_index_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct buf k = BUF_INIT(0);
	unsigned char end[KV_KEY_MAX];
	size_t elen;
	int r;

	(void)arg;
	key_u8(&k, 'O');
	key_u32(&k, ACCT);
	elen = kv_prefix_end(k.data, k.len, end);
	r = kv_delete_range(t, k.data, k.len, end, elen, err);
	buf_free(&k);
	return r;
}

static void
test_order_rebuild(void **state)
{
	struct fx *fx = fx_new(state, "rebuild");
	uint32_t a = fx_box(fx, "A"), b = fx_box(fx, "B");
	struct mail_added v[8];
	struct ents *s;
	uint64_t count;

	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		v[i] = add_at(fx, a, 1700000000 + (int64_t)((i * 7) % 5));
	(void)fx_copy(fx, v[3].email, b);
	/* a store from before the index: no 'O' key at all */
	ok(fx, kv_run(fx->kv, KV_WRITE, drop_index_txn, NULL, &fx->err));
	s = scan(fx, a, false, &count);
	assert_int_equal(s->n, 0);
	assert_int_equal(count, 0);
	free(s);
	/* removing a membership that has no entry is no error; new ones
	 * are indexed, so the count is short of the total, not over it */
	(void)fx_expunge(fx, a, v[0].uid);
	(void)add_at(fx, a, 1600000000);
	s = scan(fx, a, false, &count);
	assert_int_equal(count, 1);
	free(s);
	ok(fx, mail_order_rebuild(fx->m, ACCT, a, &fx->err));
	ok(fx, mail_order_rebuild(fx->m, ACCT, b, &fx->err));
	check_order(fx, a);
	check_order(fx, b);
	/* and rebuilding a whole one changes nothing */
	ok(fx, mail_order_rebuild(fx->m, ACCT, a, &fx->err));
	check_order(fx, a);
	/* an empty mailbox: no count key after a rebuild either */
	(void)fx_expunge(fx, b, 1);
	ok(fx, mail_order_rebuild(fx->m, ACCT, b, &fx->err));
	s = scan(fx, b, false, &count);
	assert_int_equal(s->n, 0);
	assert_int_equal(count, 0);
	free(s);
	fx_free(fx);
}

static void
test_order_scan_stops(void **state)
{
	struct fx *fx = fx_new(state, "stops");
	uint32_t a = fx_box(fx, "A");
	struct ents *s = calloc(1, sizeof(*s));
	struct scan_op op = { a, false, s, 0 };

	assert_non_null(s);
	for (int i = 0; i < 10; i++)
		(void)add_at(fx, a, 1700000000 + i / 3);
	s->stop_after = 4;
	ok(fx, kv_run(fx->kv, KV_READ, scan_txn, &op, &fx->err));
	assert_int_equal(s->n, 4);
	/* oldest first holds a second's emails until the second changes:
	 * a stop inside a group still stops at once */
	op.oldest_first = true;
	ok(fx, kv_run(fx->kv, KV_READ, scan_txn, &op, &fx->err));
	assert_int_equal(s->n, 4);
	assert_int_equal(s->v[0].received, 1700000000);
	assert_int_equal(s->v[3].received, 1700000001);
	s->fail = true;
	buf_reset(&fx->err);
	assert_int_equal(kv_run(fx->kv, KV_READ, scan_txn, &op, &fx->err),
	    -1);
	assert_non_null(strstr(buf_cstr(&fx->err), "stopped"));
	free(s);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_order_follows_memberships),
		FX_TEST(test_order_random_run),
		FX_TEST(test_order_rebuild),
		FX_TEST(test_order_scan_stops),
		FX_TEST_ROCKS(test_order_follows_memberships),
		FX_TEST_ROCKS(test_order_random_run),
		FX_TEST_ROCKS(test_order_rebuild),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
