/*
 * mail_obj_test.c - the JMAP object records of store/mail_obj.c
 * (Identity, EmailSubmission) over a real data store, SQLite and
 * RocksDB: ids from counters and never reused, values replaced whole,
 * tombstones, every change in the log of its own type (and /changes over
 * it), the kinds kept apart, the rate windows; and the sender wildcard
 * rule of common/sender_wildcard.c that SMTP submission and JMAP share.
 */
#include "common/sender_wildcard.h"
#include "t/unit/mail_fx.h"
#include "t/unit/unit_dies.h"

struct objs {
	size_t n;
	uint32_t id[16];
	char v[16][64];
};

static int
collect_obj(void *arg, uint32_t id, const unsigned char *v, size_t len)
{
	struct objs *o = arg;

	assert_true(o->n < ARRAY_SIZE(o->id) && len < sizeof(o->v[0]));
	o->id[o->n] = id;
	memcpy(o->v[o->n], v, len);
	o->v[o->n++][len] = '\0';
	return 0;
}

static int
stop_at_first(void *arg, uint32_t id, const unsigned char *v, size_t len)
{
	(void)v;
	(void)len;
	*(uint32_t *)arg = id;
	return 1;
}

static void
test_objects(void **state)
{
	struct fx *fx = fx_new(state, "objects");
	struct buf v = BUF_INIT(0);
	struct objs o;
	struct logs l;
	struct mail_changes ch;
	uint32_t a, b, s, first = 0;
	uint64_t st0, st1, st;

	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_IDENTITY, &st0,
	    &fx->err));
	assert_int_equal(st0, 0);
	ok(fx, mail_obj_create(fx->m, ACCT, MAIL_LOG_IDENTITY, "one", 3, &a,
	    &fx->err));
	ok(fx, mail_obj_create(fx->m, ACCT, MAIL_LOG_IDENTITY, "two", 3, &b,
	    &fx->err));
	ok(fx, mail_obj_create(fx->m, ACCT, MAIL_LOG_SUBMISSION, "sub", 3, &s,
	    &fx->err));
	assert_int_equal(a, 1);
	assert_int_equal(b, 2);
	assert_int_equal(s, 1);		/* each kind counts its own ids */
	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_IDENTITY, &st1,
	    &fx->err));
	assert_int_equal(st1, 2);

	assert_int_equal(mail_obj_get(fx->m, ACCT, MAIL_LOG_IDENTITY, b, &v,
	    &fx->err), 1);
	assert_string_equal(buf_cstr(&v), "two");
	buf_reset(&v);
	assert_int_equal(mail_obj_get(fx->m, ACCT, MAIL_LOG_IDENTITY, 3, &v,
	    &fx->err), 0);
	assert_int_equal(mail_obj_get(fx->m, ACCT + 1, MAIL_LOG_IDENTITY, a,
	    &v, &fx->err), 0);	/* another account has none */

	/* put: replaced whole; logged or not; unknown ids are 0 */
	assert_int_equal(mail_obj_put(fx->m, ACCT, MAIL_LOG_IDENTITY, a,
	    "uno", 3, MAIL_LOG_UPDATED, &fx->err), 1);
	assert_int_equal(mail_obj_put(fx->m, ACCT, MAIL_LOG_IDENTITY, b,
	    "dos", 3, 0, &fx->err), 1);
	assert_int_equal(mail_obj_put(fx->m, ACCT, MAIL_LOG_IDENTITY, 9,
	    "x", 1, MAIL_LOG_UPDATED, &fx->err), 0);
	memset(&o, 0, sizeof(o));
	ok(fx, mail_obj_list(fx->m, ACCT, MAIL_LOG_IDENTITY, collect_obj, &o,
	    &fx->err));
	assert_int_equal(o.n, 2);
	assert_string_equal(o.v[0], "uno");
	assert_string_equal(o.v[1], "dos");
	ok(fx, mail_obj_list(fx->m, ACCT, MAIL_LOG_IDENTITY, stop_at_first,
	    &first, &fx->err));
	assert_int_equal(first, a);

	/* destroy; the id is not handed out again */
	assert_int_equal(mail_obj_destroy(fx->m, ACCT, MAIL_LOG_IDENTITY, a,
	    &fx->err), 1);
	assert_int_equal(mail_obj_destroy(fx->m, ACCT, MAIL_LOG_IDENTITY, a,
	    &fx->err), 0);
	assert_int_equal(mail_obj_put(fx->m, ACCT, MAIL_LOG_IDENTITY, a,
	    "z", 1, MAIL_LOG_UPDATED, &fx->err), 0);
	ok(fx, mail_obj_create(fx->m, ACCT, MAIL_LOG_IDENTITY, "three", 5, &a,
	    &fx->err));
	assert_int_equal(a, 3);
	/* a tombstone: kept, logged destroyed */
	assert_int_equal(mail_obj_put(fx->m, ACCT, MAIL_LOG_IDENTITY, b,
	    "gone", 4, MAIL_LOG_DESTROYED, &fx->err), 1);

	/* the identity log: c1 c2 u1 d1 c3 d2, the submission log apart */
	memset(&l, 0, sizeof(l));
	ok(fx, mail_log_scan(fx->m, ACCT, MAIL_LOG_IDENTITY, st0, collect_log,
	    &l, &fx->err));
	assert_int_equal(l.n, 6);
	assert_int_equal(l.op[0], MAIL_LOG_CREATED);
	assert_int_equal(l.op[2], MAIL_LOG_UPDATED);
	assert_int_equal(l.op[3], MAIL_LOG_DESTROYED);
	assert_int_equal(l.id[4], 3);
	assert_int_equal(l.op[5], MAIL_LOG_DESTROYED);
	assert_int_equal(l.id[5], 2);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_IDENTITY, st0, 0, &ch,
	    &fx->err));
	/* 1 and 2 created and destroyed in the window: left out */
	assert_int_equal(ch.ncreated, 1);
	assert_int_equal(ch.created[0], 3);
	assert_int_equal(ch.ndestroyed, 0);
	assert_int_equal(ch.nupdated, 0);
	mail_changes_clear(&ch);
	ok(fx, mail_changes(fx->m, ACCT, MAIL_LOG_IDENTITY, st1, 0, &ch,
	    &fx->err));
	/* since both existed: 1 updated then destroyed, 2 a tombstone */
	assert_int_equal(ch.ncreated, 1);
	assert_int_equal(ch.ndestroyed, 2);
	assert_int_equal(ch.destroyed[0], 1);
	assert_int_equal(ch.destroyed[1], 2);
	assert_int_equal(ch.nupdated, 0);
	mail_changes_clear(&ch);
	ok(fx, mail_current_state(fx->m, ACCT, MAIL_LOG_SUBMISSION, &st,
	    &fx->err));
	assert_int_equal(st, 3);	/* the third change of the account */
	memset(&o, 0, sizeof(o));
	ok(fx, mail_obj_list(fx->m, ACCT, MAIL_LOG_SUBMISSION, collect_obj, &o,
	    &fx->err));
	assert_int_equal(o.n, 1);
	assert_string_equal(o.v[0], "sub");
	buf_free(&v);
	fx_free(fx);
}

static void
test_rate(void **state)
{
	struct fx *fx = fx_new(state, "rate");
	uint64_t n;

	for (uint64_t i = 1; i <= 3; i++) {
		ok(fx, mail_obj_rate_add(fx->m, ACCT, 100, &n, &fx->err));
		assert_int_equal(n, i);
	}
	ok(fx, mail_obj_rate_add(fx->m, ACCT + 1, 100, &n, &fx->err));
	assert_int_equal(n, 1);		/* per account */
	ok(fx, mail_obj_rate_add(fx->m, ACCT, 101, &n, &fx->err));
	assert_int_equal(n, 1);		/* a new window starts at one */
	/* and the old window's count is gone: counting it again starts
	 * over (a clock that went back) */
	ok(fx, mail_obj_rate_add(fx->m, ACCT, 100, &n, &fx->err));
	assert_int_equal(n, 1);
	fx_free(fx);
}

static void
create_email_kind(void *arg)
{
	struct fx *fx = arg;
	uint32_t id;

	if (mail_obj_create(fx->m, ACCT, MAIL_LOG_EMAIL, "x", 1, &id,
	    &fx->err) < 0)
		return;
}

static void
test_wrong_kind_panics(void **state)
{
	struct fx *fx = fx_new(state, "kind");

	/* an email is no object of this file: our bug, not a peer's */
	assert_true(unit_dies(create_email_kind, fx));
	fx_free(fx);
}

static void
test_sender_wildcards(void **state)
{
	char *v[] = { "@example.org=u@test.example",
	    "boss@test.example=U@Test.Example",
	    "@other.example=v@test.example", "broken" };
	struct strlist wl = { v, ARRAY_SIZE(v) };
	static const struct {
		const char *account, *addr;
		bool want;
	} cases[] = {
		{ "u@test.example", "a@example.org", true },
		{ "u@test.example", "A@EXAMPLE.ORG", true },
		{ "U@TEST.EXAMPLE", "a@example.org", true },
		{ "u@test.example", "a@sub.example.org", false },
		{ "u@test.example", "a@example.org.evil", false },
		{ "u@test.example", "example.org", false },
		{ "u@test.example", "boss@test.example", true },
		{ "u@test.example", "boss2@test.example", false },
		{ "u@test.example", "a@other.example", false },
		{ "v@test.example", "a@other.example", true },
		{ "v@test.example", "a@example.org", false },
		{ "w@test.example", "broken", false },
	};
	size_t plen;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (sender_wildcard_match(&wl, cases[i].account,
		    cases[i].addr) != cases[i].want)
			fail_msg("%s as %s: want %d", cases[i].account,
			    cases[i].addr, cases[i].want);
	assert_true(sender_wildcard_grants(v[0], "u@test.example", &plen));
	assert_int_equal(plen, strlen("@example.org"));
	assert_false(sender_wildcard_grants(v[2], "u@test.example", &plen));
	assert_false(sender_wildcard_grants("=u@test.example",
	    "u@test.example", &plen));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_objects),
		FX_TEST(test_rate),
		FX_TEST(test_wrong_kind_panics),
		FX_TEST_ROCKS(test_objects),
		FX_TEST_ROCKS(test_rate),
		cmocka_unit_test(test_sender_wildcards),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
