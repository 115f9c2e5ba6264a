/*
 * imap_notify_test.c - the store's change hooks that wake IMAP IDLE
 * (store_add_change_hook over kv_set_commit_hook / kv_txn_note): a hook
 * hears of every account a committed transaction changed, once per
 * account and commit, after the commit (a new transaction sees the
 * change), and never of a transaction rolled back, aborted or only
 * read; a delivery through store_append and a mailbox change count.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/config.h"
#include "store/store.h"
#include "t/unit/unit_tmpdir.h"

struct heard {
	struct store *st;
	uint32_t acct[16];
	size_t n;
	int visible;		/* the change was visible to a new read */
};

static void
hook(void *arg, uint32_t acct)
{
	struct heard *h = arg;
	struct buf err = BUF_INIT(0);
	uint32_t id = 0;

	assert_true(h->n < ARRAY_SIZE(h->acct));
	h->acct[h->n++] = acct;
	/* after the commit: a fresh read sees what was written */
	if (mail_mailbox_find(h->st->mail, acct, 0, "INBOX", &id, &err) == 1)
		h->visible++;
	buf_free(&err);
}

static struct store *
open_store(const char *name, struct config **cfg_r)
{
	struct buf err = BUF_INIT(0);
	struct store *st;
	FILE *f;

	assert_int_equal(mkdir(name, 0700), 0);
	f = fopen("p.conf", "w");
	assert_non_null(f);
	fprintf(f, "server = { data_dir = \"%s\"; hostname = \"mx.test\"; };\n",
	    name);
	fclose(f);
	if (config_load("p.conf", cfg_r, &err) < 0)
		fail_msg("config: %s", buf_cstr(&err));
	if (store_open(*cfg_r, &st, &err) < 0)
		fail_msg("store_open: %s", buf_cstr(&err));
	buf_free(&err);
	return st;
}

static int
two_accounts_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	(void)arg;
	if (mail_ensure_defaults_txn(t, 21, err) < 0 ||
	    mail_ensure_defaults_txn(t, 22, err) < 0 ||
	    mail_ensure_defaults_txn(t, 21, err) < 0)
		return -1;
	return 0;
}

static int
failing_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	(void)arg;
	if (mail_ensure_defaults_txn(t, 31, err) < 0)
		return -1;
	buf_addf(err, "given up on purpose");
	return -1;
}

static int
read_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	uint32_t id;

	(void)arg;
	kv_txn_note(t, 41);	/* ignored: nothing was written */
	return mail_mailbox_find_txn(t, 41, 0, "INBOX", &id, err) < 0 ? -1 : 0;
}

static void
test_hooks(void **state)
{
	struct config *cfg = NULL;
	struct store *st = open_store("hooks", &cfg);
	struct heard a, b;
	struct buf err = BUF_INIT(0);
	struct store_add add;
	struct mail_added added;
	uint32_t inbox = 0, id;
	static const char msg[] = "Subject: hi\r\nFrom: a@example.org\r\n\r\n"
	    "hello\r\n";

	(void)state;
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.st = b.st = st;
	store_add_change_hook(st, hook, &a);
	store_add_change_hook(st, hook, &b);

	/* one account, one commit: one call per hook, after the commit */
	assert_int_equal(mail_ensure_defaults(st->mail, 7, &err), 0);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.acct[0], 7);
	assert_int_equal(a.visible, 1);
	assert_int_equal(b.n, 1);

	/* two accounts in one transaction: each once */
	a.n = b.n = 0;
	assert_int_equal(kv_run(st->kv, KV_WRITE, two_accounts_txn, NULL,
	    &err), 0);
	assert_int_equal(a.n, 2);
	assert_int_equal(a.acct[0] + a.acct[1], 21 + 22);
	assert_true(a.acct[0] != a.acct[1]);

	/* rolled back or read only: nothing */
	a.n = b.n = 0;
	assert_int_equal(kv_run(st->kv, KV_WRITE, failing_txn, NULL, &err),
	    -1);
	buf_reset(&err);
	assert_int_equal(kv_run(st->kv, KV_READ, read_txn, NULL, &err), 0);
	assert_int_equal(a.n, 0);
	assert_int_equal(b.n, 0);

	/* a delivery (store_append) and a mailbox change count */
	assert_int_equal(mail_mailbox_find(st->mail, 7, 0, "INBOX", &inbox,
	    &err), 1);
	memset(&add, 0, sizeof(add));
	add.acct = 7;
	add.mbox = inbox;
	assert_int_equal(store_append(st, &add, msg, sizeof(msg) - 1, &added,
	    &err), 0);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.acct[0], 7);
	assert_int_equal(mail_mailbox_create(st->mail, 7, 0, "Work",
	    MAIL_ROLE_NONE, &id, &err), 0);
	assert_int_equal(a.n, 2);
	/* nothing changed: nothing to hear */
	assert_int_equal(mail_ensure_defaults(st->mail, 7, &err), 0);
	assert_int_equal(a.n, 2);

	buf_free(&err);
	store_close(&st);
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hooks),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
