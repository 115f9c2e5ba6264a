/*
 * mail_meta_test.c - annotations (store/mail_meta.c, IMAP METADATA RFC
 * 5464) over a real data store: entry name rules, set / get / replace /
 * delete, binary values, case-insensitive names, the scans below an
 * entry (DEPTH 1 and infinity) in name order, isolation between the
 * server, mailboxes and accounts, the per-mailbox entry limit
 * (TOOMANY) decided inside the transaction, entries of a mailbox that
 * does not exist, RENAME keeping them and DELETE removing them, the
 * change notes, a transaction given up, and a reopened store.
 */
#include "t/unit/mail_fx.h"

/* ---- collecting scans ---- */

struct ents {
	size_t n;
	char name[16][64];
	char val[16][64];
	size_t len[16];
	size_t stop_after;	/* > 0: stop the scan after that many */
};

static int
collect_ent(void *arg, const char *name, const void *value, size_t len)
{
	struct ents *e = arg;

	assert_true(e->n < ARRAY_SIZE(e->name));
	assert_true(strlen(name) < sizeof(e->name[0]));
	assert_true(len < sizeof(e->val[0]));
	memcpy(e->name[e->n], name, strlen(name) + 1);
	memcpy(e->val[e->n], value, len);
	e->len[e->n++] = len;
	return e->stop_after > 0 && e->n == e->stop_after ? 1 : 0;
}

struct scan_op {
	uint32_t acct, mbox;
	const char *below;
	bool children;
	struct ents *e;
	size_t count;
};

static int
scan_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct scan_op *op = arg;

	op->e->n = 0;
	if (mail_meta_scan_txn(t, op->acct, op->mbox, op->below, op->children,
	    collect_ent, op->e, err) < 0)
		return -1;
	return mail_meta_count_txn(t, op->acct, op->mbox, &op->count, err);
}

/* scan - the entries below `below`; the count of mbox into *count_r */
static void
scan(struct fx *fx, uint32_t acct, uint32_t mbox, const char *below,
    bool children, struct ents *e, size_t *count_r)
{
	struct scan_op op = { acct, mbox, below, children, e, 0 };

	ok(fx, kv_run(fx->kv, KV_READ, scan_txn, &op, &fx->err));
	if (count_r != NULL)
		*count_r = op.count;
}

static void
set_str(struct fx *fx, uint32_t acct, uint32_t mbox, const char *name,
    const char *value)
{
	buf_reset(&fx->err);
	if (mail_meta_set(fx->m, acct, mbox, name, value,
	    value != NULL ? strlen(value) : 0, 0, &fx->err) != 1)
		fail_msg("set %s: %s", name, buf_cstr(&fx->err));
}

/* get_str - the value as a string, or NULL when absent (static buffer) */
static const char *
get_str(struct fx *fx, uint32_t acct, uint32_t mbox, const char *name)
{
	static char out[256];
	struct buf v = BUF_INIT(0);
	int r;

	buf_add(&v, "x", 1);	/* appended to, not replaced */
	r = mail_meta_get(fx->m, acct, mbox, name, &v, &fx->err);
	assert_true(r >= 0);
	assert_true(v.len < sizeof(out));
	assert_memory_equal(v.data, "x", 1);
	memcpy(out, v.data + 1, v.len - 1);
	out[v.len - 1] = '\0';
	buf_free(&v);
	return r == 1 ? out : NULL;
}

/* ---- tests ---- */

static void
test_names(void **state)
{
	static const struct {
		const char *name;
		bool valid;
	} cases[] = {
		{ "/private/comment", true }, { "/shared/comment", true },
		{ "/Private/Vendor/Acme/x", true }, { "/SHARED/a.b-c_d", true },
		{ "/private", false }, { "/shared", false },
		{ "/private/", false }, { "/private/a/", false },
		{ "/private//a", false }, { "/private/a*", false },
		{ "/private/a%b", false }, { "/private/a b", false },
		{ "/private/a\x7f", false }, { "/private/caf\xc3\xa9", false },
		{ "/privatex/a", false }, { "/public/a", false },
		{ "private/a", false }, { "", false }, { "/", false },
	};
	char big[MAIL_META_NAME_MAX + 2];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (mail_meta_name_is_valid(cases[i].name) != cases[i].valid)
			fail_msg("name \"%s\": want %d", cases[i].name,
			    cases[i].valid);
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "/shared/", 8);
	big[sizeof(big) - 1] = '\0';
	assert_false(mail_meta_name_is_valid(big));
	big[MAIL_META_NAME_MAX] = '\0';
	assert_true(mail_meta_name_is_valid(big));
}

static void
test_set_get_delete(void **state)
{
	static const unsigned char bin[] = { 'a', 0, 'b', 0, 0, 0xff, '\r',
	    '\n' };
	struct fx *fx = fx_new(state, "setget");
	uint32_t box = fx_box(fx, "A");
	struct buf v = BUF_INIT(0);

	assert_null(get_str(fx, ACCT, box, "/private/comment"));
	set_str(fx, ACCT, box, "/private/comment", "first");
	assert_string_equal(get_str(fx, ACCT, box, "/private/comment"),
	    "first");
	set_str(fx, ACCT, box, "/private/comment", "second");
	assert_string_equal(get_str(fx, ACCT, box, "/private/comment"),
	    "second");
	/* case-insensitive names (RFC 5464 3.2), kept lowercase */
	set_str(fx, ACCT, box, "/Private/Comment", "third");
	assert_string_equal(get_str(fx, ACCT, box, "/PRIVATE/COMMENT"),
	    "third");
	/* an empty value is a value, not a deletion */
	set_str(fx, ACCT, box, "/shared/comment", "");
	assert_string_equal(get_str(fx, ACCT, box, "/shared/comment"), "");
	/* binary, NUL and all */
	ok(fx, mail_meta_set(fx->m, ACCT, box, "/private/vendor/x/bin", bin,
	    sizeof(bin), 0, &fx->err));
	assert_int_equal(mail_meta_get(fx->m, ACCT, box,
	    "/private/vendor/x/bin", &v, &fx->err), 1);
	assert_int_equal(v.len, sizeof(bin));
	assert_memory_equal(v.data, bin, sizeof(bin));
	/* delete, twice: absent is no error */
	set_str(fx, ACCT, box, "/private/comment", NULL);
	assert_null(get_str(fx, ACCT, box, "/private/comment"));
	set_str(fx, ACCT, box, "/private/comment", NULL);
	/* invalid names: set fails, get finds nothing */
	expect_err(fx, mail_meta_set(fx->m, ACCT, box, "/private", "x", 1, 0,
	    &fx->err), "invalid annotation name");
	expect_err(fx, mail_meta_set(fx->m, ACCT, box, "/other/x", "x", 1, 0,
	    &fx->err), "invalid annotation name");
	assert_int_equal(mail_meta_get(fx->m, ACCT, box, "/private/a*", &v,
	    &fx->err), 0);
	buf_free(&v);
	fx_free(fx);
}

static void
test_scan_depth(void **state)
{
	struct fx *fx = fx_new(state, "scan");
	uint32_t box = fx_box(fx, "A");
	struct ents e;
	size_t count;

	memset(&e, 0, sizeof(e));
	set_str(fx, ACCT, box, "/private/ab", "4");
	set_str(fx, ACCT, box, "/private/a/b/c", "3");
	set_str(fx, ACCT, box, "/private/a", "1");
	set_str(fx, ACCT, box, "/shared/a", "5");
	set_str(fx, ACCT, box, "/private/a/b", "2");
	set_str(fx, ACCT, box, "/private/a/d", "6");

	/* DEPTH 1 below /private/a: the children only */
	scan(fx, ACCT, box, "/private/a", true, &e, &count);
	assert_int_equal(count, 6);
	assert_int_equal(e.n, 2);
	assert_string_equal(e.name[0], "/private/a/b");
	assert_string_equal(e.name[1], "/private/a/d");
	/* DEPTH infinity: every descendant, in name order, not /private/ab */
	scan(fx, ACCT, box, "/Private/A", false, &e, NULL);
	assert_int_equal(e.n, 3);
	assert_string_equal(e.name[0], "/private/a/b");
	assert_string_equal(e.name[1], "/private/a/b/c");
	assert_string_equal(e.name[2], "/private/a/d");
	assert_int_equal(e.len[1], 1);
	assert_memory_equal(e.val[1], "3", 1);
	/* below the bare top: everything private */
	scan(fx, ACCT, box, "/private", false, &e, NULL);
	assert_int_equal(e.n, 5);
	assert_string_equal(e.name[0], "/private/a");
	assert_string_equal(e.name[4], "/private/ab");
	scan(fx, ACCT, box, "/shared", true, &e, NULL);
	assert_int_equal(e.n, 1);
	assert_string_equal(e.name[0], "/shared/a");
	/* all of the mailbox; a callback may stop the scan */
	scan(fx, ACCT, box, "", false, &e, NULL);
	assert_int_equal(e.n, 6);
	e.stop_after = 2;
	scan(fx, ACCT, box, "", false, &e, NULL);
	assert_int_equal(e.n, 2);
	e.stop_after = 0;
	/* a leaf and an invalid name have nothing below */
	scan(fx, ACCT, box, "/private/a/b/c", false, &e, NULL);
	assert_int_equal(e.n, 0);
	scan(fx, ACCT, box, "/private/*", false, &e, NULL);
	assert_int_equal(e.n, 0);
	fx_free(fx);
}

static void
test_isolation(void **state)
{
	struct fx *fx = fx_new(state, "isolation");
	uint32_t a = fx_box(fx, "A"), b = fx_box(fx, "B"), other = 0;
	struct ents e;
	size_t count;

	ok(fx, mail_ensure_defaults(fx->m, ACCT + 1, &fx->err));
	ok(fx, mail_mailbox_create(fx->m, ACCT + 1, 0, "A", MAIL_ROLE_NONE,
	    &other, &fx->err));
	set_str(fx, ACCT, MAIL_META_SERVER, "/private/comment", "server");
	set_str(fx, ACCT, a, "/private/comment", "box a");
	set_str(fx, ACCT + 1, other, "/private/comment", "other account");
	set_str(fx, ACCT + 1, MAIL_META_SERVER, "/shared/comment", "theirs");
	assert_string_equal(get_str(fx, ACCT, MAIL_META_SERVER,
	    "/private/comment"), "server");
	assert_string_equal(get_str(fx, ACCT, a, "/private/comment"),
	    "box a");
	assert_null(get_str(fx, ACCT, b, "/private/comment"));
	assert_null(get_str(fx, ACCT, MAIL_META_SERVER, "/shared/comment"));
	assert_string_equal(get_str(fx, ACCT + 1, other, "/private/comment"),
	    "other account");
	memset(&e, 0, sizeof(e));
	scan(fx, ACCT, MAIL_META_SERVER, "", false, &e, &count);
	assert_int_equal(e.n, 1);
	assert_int_equal(count, 1);
	scan(fx, ACCT, b, "", false, &e, &count);
	assert_int_equal(e.n, 0);
	assert_int_equal(count, 0);
	fx_free(fx);
}

static void
test_toomany(void **state)
{
	struct fx *fx = fx_new(state, "toomany");
	uint32_t box = fx_box(fx, "A");
	size_t count;
	struct ents e;

	memset(&e, 0, sizeof(e));
	ok(fx, mail_meta_set(fx->m, ACCT, box, "/private/a", "1", 1, 3,
	    &fx->err));
	ok(fx, mail_meta_set(fx->m, ACCT, box, "/shared/b", "2", 1, 3,
	    &fx->err));
	ok(fx, mail_meta_set(fx->m, ACCT, box, "/private/c", "3", 1, 3,
	    &fx->err));
	assert_int_equal(mail_meta_set(fx->m, ACCT, box, "/private/d", "4", 1,
	    3, &fx->err), MAIL_META_TOOMANY);
	assert_null(get_str(fx, ACCT, box, "/private/d"));
	/* replacing an entry adds none; the server has a count of its own */
	assert_int_equal(mail_meta_set(fx->m, ACCT, box, "/Private/A", "9", 1,
	    3, &fx->err), 1);
	assert_string_equal(get_str(fx, ACCT, box, "/private/a"), "9");
	assert_int_equal(mail_meta_set(fx->m, ACCT, MAIL_META_SERVER,
	    "/private/d", "4", 1, 3, &fx->err), 1);
	/* a deletion makes room */
	ok(fx, mail_meta_set(fx->m, ACCT, box, "/shared/b", NULL, 0, 3,
	    &fx->err));
	assert_int_equal(mail_meta_set(fx->m, ACCT, box, "/private/d", "4", 1,
	    3, &fx->err), 1);
	scan(fx, ACCT, box, "", false, &e, &count);
	assert_int_equal(count, 3);
	fx_free(fx);
}

static void
test_mailbox_life(void **state)
{
	struct fx *fx = fx_new(state, "life");
	uint32_t box = fx_box(fx, "A"), again = 0;
	struct fx_op op;
	struct ents e;
	size_t count;

	memset(&e, 0, sizeof(e));
	/* no such mailbox: nothing written */
	assert_int_equal(mail_meta_set(fx->m, ACCT, 999, "/private/x", "1", 1,
	    0, &fx->err), 0);
	scan(fx, ACCT, 999, "", false, &e, &count);
	assert_int_equal(count, 0);

	set_str(fx, ACCT, box, "/private/comment", "kept");
	set_str(fx, ACCT, box, "/shared/vendor/x", "also");
	set_str(fx, ACCT, MAIL_META_SERVER, "/private/comment", "server");
	/* RENAME: the mailbox keeps its id, so its entries */
	assert_int_equal(mail_mailbox_rename(fx->m, ACCT, box, 0, "Renamed",
	    &fx->err), 1);
	assert_string_equal(get_str(fx, ACCT, box, "/private/comment"),
	    "kept");
	/* DELETE: the entries go in the same transaction, none other */
	memset(&op, 0, sizeof(op));
	op.fn = op_delete_box;
	op.mbox = box;
	assert_int_equal(fx_run(fx, &op), 1);
	scan(fx, ACCT, box, "", false, &e, &count);
	assert_int_equal(count, 0);
	assert_null(get_str(fx, ACCT, box, "/private/comment"));
	assert_int_equal(mail_meta_set(fx->m, ACCT, box, "/private/x", "1", 1,
	    0, &fx->err), 0);
	assert_string_equal(get_str(fx, ACCT, MAIL_META_SERVER,
	    "/private/comment"), "server");
	/* the same name again is a new mailbox, without entries */
	ok(fx, mail_mailbox_create(fx->m, ACCT, 0, "Renamed", MAIL_ROLE_NONE,
	    &again, &fx->err));
	assert_true(again != box);
	assert_null(get_str(fx, ACCT, again, "/private/comment"));
	fx_free(fx);
}

/* ---- change notes, transactions, durability ---- */

struct heard {
	uint32_t acct[8];
	size_t n;
};

static void
heard_fn(void *arg, const uint32_t *notes, size_t n)
{
	struct heard *h = arg;

	for (size_t i = 0; i < n; i++) {
		assert_true(h->n < ARRAY_SIZE(h->acct));
		h->acct[h->n++] = notes[i];
	}
}

struct two_op {
	uint32_t box;
	bool fail;
};

static int
two_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct two_op *op = arg;

	if (mail_meta_set_txn(t, ACCT, op->box, "/private/one", "1", 1, 0,
	    err) != 1 || mail_meta_set_txn(t, ACCT, op->box, "/private/two",
	    "2", 1, 0, err) != 1)
		return -1;
	if (op->fail) {
		buf_addf(err, "given up");
		return -1;
	}
	return 0;
}

static void
test_notes_txn_reopen(void **state)
{
	struct fx *fx = fx_new(state, "notes");
	uint32_t box = fx_box(fx, "A");
	struct heard h;
	struct two_op op = { box, true };
	struct buf v = BUF_INIT(0);

	memset(&h, 0, sizeof(h));
	kv_set_commit_hook(fx->kv, heard_fn, &h);
	/* a transaction given up writes nothing and is not heard */
	expect_err(fx, kv_run(fx->kv, KV_WRITE, two_txn, &op, &fx->err),
	    "given up");
	assert_null(get_str(fx, ACCT, box, "/private/one"));
	assert_int_equal(h.n, 0);
	/* reads and refused writes are not heard either */
	assert_int_equal(mail_meta_set(fx->m, ACCT, box, "/private/x", "1", 1,
	    1, &fx->err), 1);
	assert_int_equal(h.n, 1);
	assert_int_equal(h.acct[0], ACCT);
	assert_int_equal(mail_meta_set(fx->m, ACCT, box, "/private/y", "1", 1,
	    1, &fx->err), MAIL_META_TOOMANY);
	(void)get_str(fx, ACCT, box, "/private/x");
	assert_int_equal(h.n, 1);
	/* both entries of one transaction, heard once */
	op.fail = false;
	ok(fx, kv_run(fx->kv, KV_WRITE, two_txn, &op, &fx->err));
	assert_int_equal(h.n, 2);
	kv_set_commit_hook(fx->kv, NULL, NULL);
	fx_free(fx);

	/* durable: the same store opened again */
	fx = fx_new(state, "notes");
	assert_string_equal(get_str(fx, ACCT, box, "/private/one"), "1");
	assert_string_equal(get_str(fx, ACCT, box, "/private/two"), "2");
	assert_int_equal(mail_meta_get(fx->m, ACCT, box, "/private/x", &v,
	    &fx->err), 1);
	buf_free(&v);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX_TEST(test_names),
		FX_TEST(test_set_get_delete),
		FX_TEST(test_scan_depth),
		FX_TEST(test_isolation),
		FX_TEST(test_toomany),
		FX_TEST(test_mailbox_life),
		FX_TEST(test_notes_txn_reopen),
		FX_TEST_ROCKS(test_set_get_delete),
		FX_TEST_ROCKS(test_scan_depth),
		FX_TEST_ROCKS(test_mailbox_life),
		FX_TEST_ROCKS(test_notes_txn_reopen),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
