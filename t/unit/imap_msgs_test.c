/*
 * imap_msgs_test.c - the selected mailbox's helpers the message commands
 * share, against a real store: imap_msgs_scan (memberships read run by
 * run inside one transaction, expunged ones skipped), imap_set_msns
 * ("$" and UID sets to message numbers), imap_sel_own_change (a session's
 * own write is not reported back to it by the next refresh, unless
 * someone else wrote first) and imap_sel_expunged (MOVE's EXPUNGE, in
 * an order the client can replay, or VANISHED).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/config.h"
#include "imap-jmap/imap_priv.h"
#include "t/unit/unit_tmpdir.h"

#define ACCT 9u

struct fx {
	struct config *cfg;
	struct store *st;
	struct imap_server srv;
	struct imap_session s;
	uint32_t inbox;
	struct buf err;
};

static const char msg[] = "Subject: hi\r\nFrom: a@example.org\r\n\r\nhi\r\n";

static int
list_row(void *arg, const struct mail_msg *m)
{
	imap_msnmap_append(arg, m->uid);
	return 0;
}

static uint64_t
highestmodseq(struct fx *fx)
{
	struct mail_mailbox mb;
	uint64_t ms;

	memset(&mb, 0, sizeof(mb));
	assert_int_equal(mail_mailbox_get(fx->st->mail, ACCT, fx->inbox, &mb,
	    &fx->err), 1);
	ms = mb.highestmodseq;
	mail_mailbox_clear(&mb);
	return ms;
}

/* fx_new - INBOX with n messages, selected by the session */
static struct fx *
fx_new(const char *name, unsigned n)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	FILE *f;

	assert_non_null(fx);
	buf_init(&fx->err, 0);
	assert_int_equal(mkdir(name, 0700), 0);
	f = fopen("p.conf", "w");
	assert_non_null(f);
	fprintf(f, "server = { data_dir = \"%s\"; hostname = \"mx.test\"; };\n",
	    name);
	fclose(f);
	if (config_load("p.conf", &fx->cfg, &fx->err) < 0 ||
	    store_open(fx->cfg, &fx->st, &fx->err) < 0 ||
	    mail_ensure_defaults(fx->st->mail, ACCT, &fx->err) < 0 ||
	    mail_mailbox_find(fx->st->mail, ACCT, 0, "INBOX", &fx->inbox,
	    &fx->err) != 1)
		fail_msg("set-up: %s", buf_cstr(&fx->err));
	for (unsigned i = 0; i < n; i++) {
		struct store_add a;
		struct mail_added added;

		memset(&a, 0, sizeof(a));
		a.acct = ACCT;
		a.mbox = fx->inbox;
		if (store_append(fx->st, &a, msg, sizeof(msg) - 1, &added,
		    &fx->err) < 0)
			fail_msg("store_append: %s", buf_cstr(&fx->err));
	}
	fx->srv.cfg = fx->cfg;
	fx->srv.st = fx->st;
	fx->s.srv = &fx->srv;
	fx->s.cfg = fx->cfg;
	fx->s.acct = ACCT;
	memcpy(fx->s.id, "TEST", 5);
	buf_init(&fx->s.out, 0);
	fx->s.state = IMAP_S_SELECTED;
	fx->s.sel = calloc(1, sizeof(*fx->s.sel));
	fx->s.sel->mbox = fx->inbox;
	fx->s.sel->path = strdup("INBOX");
	fx->s.sel->modseq = highestmodseq(fx);
	assert_int_equal(mail_msg_list(fx->st->mail, ACCT, fx->inbox, 1,
	    list_row, &fx->s.sel->map, &fx->err), 0);
	fx->s.sel->uidnext = imap_msnmap_last(&fx->s.sel->map) + 1;
	return fx;
}

static void
fx_free(struct fx *fx)
{
	imap_sel_free(&fx->s.sel);
	buf_free(&fx->s.out);
	buf_free(&fx->err);
	store_close(&fx->st);
	config_free(&fx->cfg);
	free(fx);
}

static void
expunge(struct fx *fx, uint32_t uid)
{
	assert_int_equal(store_expunge(fx->st, ACCT, fx->inbox, uid,
	    &fx->err), 1);
}

struct seen {
	uint32_t uid[64];
	size_t n;
};

static int
seen_row(void *arg, const struct mail_msg *m)
{
	struct seen *sn = arg;

	assert_true(sn->n < 64);
	sn->uid[sn->n++] = m->uid;
	return 0;
}

/* scan - imap_msgs_scan of uids in a read transaction, as "1 2 3" */
static const char *
scan(struct fx *fx, const uint32_t *uids, size_t n)
{
	static char out[512];
	struct seen sn = { { 0 }, 0 };
	struct kv_txn *t = NULL;
	size_t len = 0;

	assert_int_equal(kv_begin(mail_kv(fx->st->mail), KV_READ, &t,
	    &fx->err), 0);
	assert_int_equal(imap_msgs_scan(t, &fx->s, uids, n, seen_row, &sn,
	    &fx->err), 0);
	kv_abort(&t);
	out[0] = '\0';
	for (size_t i = 0; i < sn.n; i++) {
		int w = snprintf(out + len, sizeof(out) - len, "%s%u",
		    i > 0 ? " " : "", sn.uid[i]);

		assert_true(w > 0 && (size_t)w < sizeof(out) - len);
		len += (size_t)w;
	}
	return out;
}

static void
test_scan_runs(void **state)
{
	struct fx *fx = fx_new("scan", 10);
	uint32_t all[10], some[] = { 2, 3, 4, 7, 10 }, one[] = { 5 };

	(void)state;
	for (unsigned i = 0; i < 10; i++)
		all[i] = i + 1;
	assert_string_equal(scan(fx, all, 10), "1 2 3 4 5 6 7 8 9 10");
	assert_string_equal(scan(fx, some, 5), "2 3 4 7 10");
	assert_string_equal(scan(fx, one, 1), "5");
	assert_string_equal(scan(fx, one, 0), "");
	/* expunged elsewhere, still in the model: skipped, runs go on */
	expunge(fx, 3);
	expunge(fx, 10);
	assert_string_equal(scan(fx, all, 10), "1 2 4 5 6 7 8 9");
	assert_string_equal(scan(fx, some, 5), "2 4 7");
	fx_free(fx);
}

static void
test_set_msns(void **state)
{
	struct fx *fx = fx_new("msns", 6);
	struct imap_seq_range r[] = { { 2, 4 }, { 6, IMAP_SEQ_STAR } };
	struct imap_seqset set = { r, 2, false }, saved = { NULL, 0, true };
	uint32_t *v = NULL;
	uint32_t keep[] = { 2, 5, 9 };

	(void)state;
	assert_int_equal(imap_set_msns(&fx->s, &set, true, &v), 4);
	assert_int_equal(v[0], 2);
	assert_int_equal(v[3], 6);
	free(v);
	/* "$": the saved UIDs still known, as message numbers */
	fx->s.sel->saved = malloc(sizeof(keep));
	memcpy(fx->s.sel->saved, keep, sizeof(keep));
	fx->s.sel->nsaved = 3;
	assert_int_equal(imap_set_msns(&fx->s, &saved, false, &v), 2);
	assert_int_equal(v[0], 2);
	assert_int_equal(v[1], 5);
	free(v);
	/* after an expunge is announced the numbers move */
	expunge(fx, 1);
	buf_reset(&fx->s.out);
	assert_int_equal(imap_refresh(&fx->s, true), 0);
	assert_string_equal(buf_cstr(&fx->s.out), "* 1 EXPUNGE\r\n");
	assert_int_equal(imap_set_msns(&fx->s, &saved, true, &v), 2);
	assert_int_equal(v[0], 1);
	assert_int_equal(v[1], 4);
	free(v);
	fx_free(fx);
}

static void
store_flag(struct fx *fx, uint32_t uid, uint32_t flag)
{
	struct mail_flag_change c;
	struct mail_flag_result r;

	memset(&c, 0, sizeof(c));
	c.add = flag;
	assert_int_equal(mail_msg_update_flags(fx->st->mail, ACCT, fx->inbox,
	    uid, 0, &c, &r, &fx->err), 1);
}

static void
test_own_change(void **state)
{
	struct fx *fx = fx_new("own", 3);
	uint64_t before, after;

	(void)state;
	/* our own STORE, the model up to date: the refresh is silent */
	before = highestmodseq(fx);
	store_flag(fx, 2, MAIL_F_FLAGGED);
	after = highestmodseq(fx);
	imap_sel_own_change(&fx->s, before, after);
	buf_reset(&fx->s.out);
	assert_int_equal(imap_refresh(&fx->s, true), 0);
	assert_string_equal(buf_cstr(&fx->s.out), "");
	/* someone else first: both are reported, ours again too */
	store_flag(fx, 1, MAIL_F_SEEN);
	before = highestmodseq(fx);
	store_flag(fx, 3, MAIL_F_SEEN);
	after = highestmodseq(fx);
	imap_sel_own_change(&fx->s, before, after);
	buf_reset(&fx->s.out);
	assert_int_equal(imap_refresh(&fx->s, true), 0);
	assert_string_equal(buf_cstr(&fx->s.out),
	    "* 1 FETCH (UID 1 FLAGS (\\Seen))\r\n"
	    "* 3 FETCH (UID 3 FLAGS (\\Seen))\r\n");
	fx_free(fx);
}

static void
test_expunged_by_us(void **state)
{
	struct fx *fx = fx_new("moved", 6);
	uint32_t moved[] = { 2, 5 }, more[] = { 1 };

	(void)state;
	imap_sel_expunged(&fx->s, moved, 2);
	assert_string_equal(buf_cstr(&fx->s.out),
	    "* 5 EXPUNGE\r\n* 2 EXPUNGE\r\n");
	assert_int_equal(fx->s.sel->map.n, 4);
	/* an expunge by another session waiting goes out with ours, once */
	expunge(fx, 6);
	buf_reset(&fx->s.out);
	assert_int_equal(imap_refresh(&fx->s, false), 0);
	assert_string_equal(buf_cstr(&fx->s.out), "");
	fx->s.qresync = true;
	imap_sel_expunged(&fx->s, more, 1);
	assert_string_equal(buf_cstr(&fx->s.out), "* VANISHED 1,6\r\n");
	buf_reset(&fx->s.out);
	assert_int_equal(imap_refresh(&fx->s, true), 0);
	assert_string_equal(buf_cstr(&fx->s.out), "");
	assert_int_equal(fx->s.sel->map.n, 2);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scan_runs),
		cmocka_unit_test(test_set_msns),
		cmocka_unit_test(test_own_change),
		cmocka_unit_test(test_expunged_by_us),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
