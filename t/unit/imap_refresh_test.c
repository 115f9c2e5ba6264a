/*
 * imap_refresh_test.c - the selected mailbox's model against a real
 * store (imap-jmap/imap_select.c imap_refresh): what another session's
 * delivery, flag change and expunge turn into - EXISTS, FETCH FLAGS
 * (with MODSEQ under CONDSTORE), EXPUNGE in an order the client can
 * replay, VANISHED under QRESYNC - that expunges wait while they may
 * not be sent (FETCH, STORE, SEARCH), that nothing is said twice, and
 * BYE for a mailbox deleted under the session.
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

#define ACCT 7u

struct fx {
	struct config *cfg;
	struct store *st;
	struct imap_server srv;
	struct imap_session s;
	uint32_t inbox;
	struct buf err;
};

static const char msg[] = "Subject: hi\r\nFrom: a@example.org\r\n\r\nhi\r\n";

static uint32_t
add(struct fx *fx, uint32_t flags)
{
	struct store_add a;
	struct mail_added added;

	memset(&a, 0, sizeof(a));
	a.acct = ACCT;
	a.mbox = fx->inbox;
	a.flags = flags;
	if (store_append(fx->st, &a, msg, sizeof(msg) - 1, &added,
	    &fx->err) < 0)
		fail_msg("store_append: %s", buf_cstr(&fx->err));
	return added.uid;
}

static int
list_row(void *arg, const struct mail_msg *m)
{
	imap_msnmap_append(arg, m->uid);
	return 0;
}

/* fx_new - a store with INBOX and n messages, and a session that has
 * selected it (as SELECT leaves it) */
static struct fx *
fx_new(const char *name, unsigned n)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct mail_mailbox mb;
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
	for (unsigned i = 0; i < n; i++)
		(void)add(fx, 0);
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
	memset(&mb, 0, sizeof(mb));
	assert_int_equal(mail_mailbox_get(fx->st->mail, ACCT, fx->inbox, &mb,
	    &fx->err), 1);
	fx->s.sel->uidvalidity = mb.uidvalidity;
	fx->s.sel->uidnext = mb.uidnext;
	fx->s.sel->modseq = mb.highestmodseq;
	mail_mailbox_clear(&mb);
	assert_int_equal(mail_msg_list(fx->st->mail, ACCT, fx->inbox, 1,
	    list_row, &fx->s.sel->map, &fx->err), 0);
	assert_int_equal(fx->s.sel->map.n, n);
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

/* refresh - imap_refresh, and what it wrote (then forgotten) */
static const char *
refresh(struct fx *fx, bool expunge_ok)
{
	static char out[4096];

	buf_reset(&fx->s.out);
	assert_int_equal(imap_refresh(&fx->s, expunge_ok), 0);
	(void)snprintf(out, sizeof(out), "%s", buf_cstr(&fx->s.out));
	return out;
}

static void
set_flags(struct fx *fx, uint32_t uid, uint32_t add_flags)
{
	struct mail_flag_change c;
	struct mail_flag_result r;

	memset(&c, 0, sizeof(c));
	c.add = add_flags;
	assert_int_equal(mail_msg_update_flags(fx->st->mail, ACCT, fx->inbox,
	    uid, 0, &c, &r, &fx->err), 1);
}

static void
expunge(struct fx *fx, uint32_t uid)
{
	assert_int_equal(store_expunge(fx->st, ACCT, fx->inbox, uid, &fx->err),
	    1);
}

static void
test_new_and_flags(void **state)
{
	struct fx *fx = fx_new("flags", 3);
	uint32_t uid;

	(void)state;
	assert_string_equal(refresh(fx, true), "");
	uid = add(fx, MAIL_F_SEEN);
	assert_int_equal(uid, 4);
	/* a new message: EXISTS, and no FETCH for it */
	assert_string_equal(refresh(fx, true), "* 4 EXISTS\r\n");
	assert_string_equal(refresh(fx, true), "");	/* said once */
	set_flags(fx, 2, MAIL_F_SEEN | MAIL_F_FLAGGED);
	assert_string_equal(refresh(fx, true),
	    "* 2 FETCH (UID 2 FLAGS (\\Flagged \\Seen))\r\n");
	fx->s.condstore = true;
	set_flags(fx, 3, MAIL_F_ANSWERED);
	assert_true(strncmp(refresh(fx, false),
	    "* 3 FETCH (UID 3 FLAGS (\\Answered) MODSEQ (", 42) == 0);
	fx_free(fx);
}

static void
test_expunge_rules(void **state)
{
	struct fx *fx = fx_new("expunge", 5);

	(void)state;
	expunge(fx, 2);
	expunge(fx, 4);
	/* during FETCH/STORE/SEARCH: nothing, and the numbers stay */
	assert_string_equal(refresh(fx, false), "");
	assert_int_equal(fx->s.sel->map.n, 5);
	assert_int_equal(imap_msnmap_msn(&fx->s.sel->map, 5), 5);
	/* a flag change meanwhile is told with the numbers the client has */
	set_flags(fx, 5, MAIL_F_DELETED);
	assert_string_equal(refresh(fx, false),
	    "* 5 FETCH (UID 5 FLAGS (\\Deleted))\r\n");
	/* then at the next command that may: highest first */
	assert_string_equal(refresh(fx, true),
	    "* 4 EXPUNGE\r\n* 2 EXPUNGE\r\n");
	assert_int_equal(fx->s.sel->map.n, 3);
	assert_int_equal(imap_msnmap_uid(&fx->s.sel->map, 3), 5);
	assert_string_equal(refresh(fx, true), "");
	/* a message that came and went unseen: nothing at all */
	expunge(fx, add(fx, 0));
	assert_string_equal(refresh(fx, true), "");
	/* expunged and new in one refresh: EXPUNGE before EXISTS */
	expunge(fx, 1);
	(void)add(fx, 0);
	assert_string_equal(refresh(fx, true),
	    "* 1 EXPUNGE\r\n* 3 EXISTS\r\n");
	fx_free(fx);
}

static void
test_vanished_and_deleted(void **state)
{
	struct fx *fx = fx_new("vanished", 6);
	struct buf err = BUF_INIT(0);
	uint32_t id;

	(void)state;
	fx->s.qresync = fx->s.condstore = true;
	expunge(fx, 2);
	expunge(fx, 3);
	expunge(fx, 6);
	assert_string_equal(refresh(fx, true), "* VANISHED 2:3,6\r\n");
	assert_int_equal(fx->s.sel->map.n, 3);
	/* the selected mailbox deleted by someone else: BYE */
	assert_int_equal(mail_mailbox_create(fx->st->mail, ACCT, 0, "Tmp",
	    MAIL_ROLE_NONE, &id, &err), 0);
	fx->s.sel->mbox = id;
	assert_int_equal(mail_mailbox_delete(fx->st->mail, ACCT, id, &err), 1);
	assert_string_equal(refresh(fx, true),
	    "* BYE The selected mailbox has been deleted\r\n");
	assert_true(fx->s.want_close);
	buf_free(&err);
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_and_flags),
		cmocka_unit_test(test_expunge_rules),
		cmocka_unit_test(test_vanished_and_deleted),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
