/*
 * delivery_test.c - the local delivery agent over a real store (SQLite
 * data store, filesystem blobs) and the internal directory: a user, a
 * sub-address, an alias to two accounts, a catch-all, an unknown address,
 * quotas (RCPT-time check and delivery-time refusal that writes nothing),
 * one blob for many recipients, idempotent retries by (queue ID,
 * recipient index), bare LF made CRLF, and the message found by the
 * full-text index.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/delivery.h"
#include "t/unit/unit_tmpdir.h"

struct fx {
	struct config *cfg;
	struct store *st;
	struct directory *dir;
	struct delivery *d;
	struct buf err;
	uint32_t alice, bob, carol;
};

static const char msg_text[] =
    "From: Sender <s@example.net>\r\n"
    "To: alice@example.org\r\n"
    "Subject: quarterly invoice\r\n"
    "Message-ID: <m1@example.net>\r\n"
    "\r\n"
    "Please find the invoice attached.\r\n";

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	FILE *f;

	assert_non_null(fx);
	buf_init(&fx->err, 0);
	f = fopen("d.conf", "w");
	assert_non_null(f);
	fprintf(f, "server = { data_dir = \"%s/var\"; };\n", unit_tmpdir);
	fclose(f);
	(void)system("rm -rf var");
	if (config_load("d.conf", &fx->cfg, &fx->err) < 0)
		fail_msg("config: %s", buf_cstr(&fx->err));
	if (mkdir("var", 0700) < 0)
		fail_msg("mkdir var");
	if (store_open(fx->cfg, &fx->st, &fx->err) < 0)
		fail_msg("store_open: %s", buf_cstr(&fx->err));
	fx->dir = directory_new(fx->st->kv, NULL);
	fx->d = delivery_new(fx->st, fx->dir);
	assert_int_equal(dir_domain_add(fx->dir, "example.org", &fx->err), 0);
	assert_int_equal(dir_user_add(fx->dir, "alice@example.org", NULL, 0,
	    NULL, &fx->alice, &fx->err), 0);
	assert_int_equal(dir_user_add(fx->dir, "bob@example.org", NULL, 0,
	    NULL, &fx->bob, &fx->err), 0);
	/* room for one message of msg_text's size, not two */
	assert_int_equal(dir_user_add(fx->dir, "carol@example.org", NULL,
	    sizeof(msg_text) + 10, NULL, &fx->carol, &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->dir, "team@example.org",
	    "alice@example.org", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->dir, "team@example.org",
	    "bob@example.org", &fx->err), 0);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	delivery_free(&fx->d);
	directory_free(&fx->dir);
	store_close(&fx->st);
	config_free(&fx->cfg);
	buf_free(&fx->err);
	free(fx);
	return 0;
}

struct ver_arg {
	unsigned char v[4];
	int found;
};

static int
ver_put_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct ver_arg *a = arg;

	return kv_put(t, "\x01version", 8, a->v, 4, err);
}

static int
ver_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct ver_arg *a = arg;
	struct buf v = BUF_INIT(0);

	a->found = kv_get(t, "\x01version", 8, &v, err);
	if (a->found == 1 && v.len == 4)
		memcpy(a->v, v.data, 4);
	buf_free(&v);
	return a->found < 0 ? -1 : 0;
}

/*
 * the store's layout version: written at open (2), a store of a newer
 * version is refused with a reason, and opens again once it is back
 */
static void
test_layout_version(void **state)
{
	struct fx *fx = *state;
	struct ver_arg a = { { 0 }, 0 };
	struct store *st = NULL;

	assert_int_equal(kv_run(fx->st->kv, KV_READ, ver_fn, &a, &fx->err), 0);
	assert_int_equal(a.found, 1);
	assert_memory_equal(a.v, "\0\0\0\2", 4);
	a.v[3] = 3;
	assert_int_equal(kv_run(fx->st->kv, KV_WRITE, ver_put_fn, &a, &fx->err),
	    0);
	delivery_free(&fx->d);
	directory_free(&fx->dir);
	store_close(&fx->st);
	assert_int_equal(store_open(fx->cfg, &st, &fx->err), -1);
	assert_null(st);
	assert_non_null(strstr(buf_cstr(&fx->err), "store layout version 3 is "
	    "newer than this build's (2)"));
	/* back to 2 behind the store's back, and it opens */
	{
		struct kv_options o = { "sqlite", fx->cfg->store.path, false };
		struct kv *kv;

		assert_int_equal(kv_open(&o, &kv, &fx->err), 0);
		a.v[3] = 2;
		assert_int_equal(kv_run(kv, KV_WRITE, ver_put_fn, &a, &fx->err), 0);
		kv_close(&kv);
	}
	buf_reset(&fx->err);
	assert_int_equal(store_open(fx->cfg, &fx->st, &fx->err), 0);
	fx->dir = directory_new(fx->st->kv, NULL);
	fx->d = delivery_new(fx->st, fx->dir);
}

static int
count_msg(void *arg, const struct mail_msg *msg)
{
	(void)msg;
	(*(size_t *)arg)++;
	return 0;
}

/* box_count - messages in acct's top-level mailbox name (0: none yet) */
static size_t
box_count(struct fx *fx, uint32_t acct, const char *name)
{
	uint32_t inbox;
	size_t n = 0;
	int r = mail_mailbox_find(fx->st->mail, acct, 0, name, &inbox,
	    &fx->err);

	assert_true(r >= 0);
	if (r == 0)
		return 0;
	assert_int_equal(mail_msg_list(fx->st->mail, acct, inbox, 1,
	    count_msg, &n, &fx->err), 0);
	return n;
}

static size_t
inbox_count(struct fx *fx, uint32_t acct)
{
	return box_count(fx, acct, "INBOX");
}

static void
deliver1(struct fx *fx, const char *qid, uint32_t index, const char *addr,
    struct delivery_rcpt *rc)
{
	memset(rc, 0, sizeof(*rc));
	rc->addr = addr;
	rc->index = index;
	delivery_message(fx->d, qid, "s@example.net",
	    "BODY=8BITMIME SMTPUTF8 RET=HDRS", msg_text, sizeof(msg_text) - 1, rc, 1);
}

static void
test_user_plus_alias(void **state)
{
	struct fx *fx = *state;
	struct delivery_rcpt rc[4];
	uint64_t refs;
	struct blob_id id;

	memset(rc, 0, sizeof(rc));
	rc[0].addr = "alice@example.org";
	rc[1].addr = "Alice+lists@Example.org";
	rc[1].index = 1;
	rc[2].addr = "team@example.org";	/* alice and bob */
	rc[2].index = 2;
	rc[3].addr = "nobody@example.org";
	rc[3].index = 3;
	delivery_message(fx->d, "Q1", "s@example.net", "", msg_text, sizeof(msg_text) - 1, rc, 4);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rc[i].status, TRANSPORT_OK);
		assert_string_equal(rc[i].dsn, "2.0.0");
	}
	assert_int_equal(rc[3].status, TRANSPORT_PERMFAIL);
	assert_string_equal(rc[3].dsn, "5.1.1");
	assert_int_equal(inbox_count(fx, fx->alice), 3);
	assert_int_equal(inbox_count(fx, fx->bob), 1);

	/* one blob, one reference per email */
	blob_id_of(msg_text, sizeof(msg_text) - 1, &id);
	assert_int_equal(blob_refcount(fx->st->blobs, &id, &refs, &fx->err),
	    1);
	assert_int_equal(refs, 4);
}

static void
test_idempotent_retry(void **state)
{
	struct fx *fx = *state;
	struct delivery_rcpt rc;
	size_t before = inbox_count(fx, fx->bob);

	deliver1(fx, "Q2", 0, "bob@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_OK);
	assert_int_equal(inbox_count(fx, fx->bob), before + 1);
	/* the queue retries after a crash: nothing filed twice */
	deliver1(fx, "Q2", 0, "bob@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_OK);
	assert_non_null(strstr(rc.text, "already"));
	assert_int_equal(inbox_count(fx, fx->bob), before + 1);
	/* another recipient index of the same message is another delivery */
	deliver1(fx, "Q2", 1, "bob@example.org", &rc);
	assert_int_equal(inbox_count(fx, fx->bob), before + 2);
	/* no idempotency id (LMTP): every call files */
	deliver1(fx, NULL, 0, "bob@example.org", &rc);
	deliver1(fx, NULL, 0, "bob@example.org", &rc);
	assert_int_equal(inbox_count(fx, fx->bob), before + 4);
}

static void
test_quota(void **state)
{
	struct fx *fx = *state;
	struct delivery_rcpt rc;
	uint64_t used;

	assert_int_equal(delivery_rcpt_check(fx->d, "carol@example.org", 0,
	    &fx->err), DELIVERY_RCPT_OK);
	assert_int_equal(delivery_rcpt_check(fx->d, "carol@example.org",
	    100000, &fx->err), DELIVERY_RCPT_OVER_QUOTA);
	deliver1(fx, "Q3", 0, "carol@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_OK);
	deliver1(fx, "Q4", 0, "carol@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_TEMPFAIL);
	assert_string_equal(rc.dsn, "4.2.2");
	assert_int_equal(inbox_count(fx, fx->carol), 1);
	assert_int_equal(mail_quota_used(fx->st->mail, fx->carol, &used,
	    &fx->err), 0);
	assert_int_equal(used, sizeof(msg_text) - 1);
	/* 11 bytes left: an unknown size passes, a known one does not */
	assert_int_equal(delivery_rcpt_check(fx->d, "carol@example.org", 0,
	    &fx->err), DELIVERY_RCPT_OK);
	assert_int_equal(delivery_rcpt_check(fx->d, "carol@example.org", 50,
	    &fx->err), DELIVERY_RCPT_OVER_QUOTA);

	/* an alias reaching a full account: nobody gets it this time */
	assert_int_equal(dir_alias_add(fx->dir, "all@example.org",
	    "bob@example.org", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->dir, "all@example.org",
	    "carol@example.org", &fx->err), 0);
	size_t bob_before = inbox_count(fx, fx->bob);
	deliver1(fx, "Q5", 0, "all@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_TEMPFAIL);
	assert_int_equal(inbox_count(fx, fx->bob), bob_before);
}

static void
test_checks(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(delivery_rcpt_check(fx->d, "alice@example.org", 0,
	    &fx->err), DELIVERY_RCPT_OK);
	assert_int_equal(delivery_rcpt_check(fx->d, "ALICE+x@example.org",
	    0, &fx->err), DELIVERY_RCPT_OK);
	assert_int_equal(delivery_rcpt_check(fx->d, "team@example.org", 0,
	    &fx->err), DELIVERY_RCPT_OK);
	assert_int_equal(delivery_rcpt_check(fx->d, "ghost@example.org", 0,
	    &fx->err), DELIVERY_RCPT_UNKNOWN);
	/* a catch-all takes the rest of the domain */
	assert_int_equal(dir_alias_add(fx->dir, "@example.org",
	    "alice@example.org", &fx->err), 0);
	assert_int_equal(delivery_rcpt_check(fx->d, "ghost@example.org", 0,
	    &fx->err), DELIVERY_RCPT_OK);
	assert_int_equal(dir_alias_del(fx->dir, "@example.org", NULL,
	    &fx->err), 0);
}

struct search_op {
	struct fx *fx;
	uint32_t acct;
	uint64_t hits;
};

static int
search_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct search_op *op = arg;
	struct fts_query q = { FTS_Q_TERM, FTS_F(FTS_SUBJECT), "invoices",
		8, false, NULL, NULL };
	roaring_bitmap_t *res = NULL;
	int r = fts_search(op->fx->st->fts, t, op->acct, &q, NULL, &res, err);

	if (r < 0)
		return r;
	op->hits = roaring_bitmap_get_cardinality(res);
	roaring_bitmap_free(res);
	return 0;
}

static void
test_bare_lf_and_search(void **state)
{
	struct fx *fx = *state;
	static const char lf[] = "Subject: Invoices for March\n"
	    "From: x@example.net\n\nbody line\n";
	static const char crlf[] = "Subject: Invoices for March\r\n"
	    "From: x@example.net\r\n\r\nbody line\r\n";
	struct delivery_rcpt rc;
	struct blob_id id;
	uint64_t refs;
	struct search_op op = { fx, fx->alice, 0 };

	memset(&rc, 0, sizeof(rc));
	rc.addr = "alice@example.org";
	delivery_message(fx->d, "Q6", "s@example.net", "", lf, sizeof(lf) - 1, &rc, 1);
	assert_int_equal(rc.status, TRANSPORT_OK);
	/* stored as CRLF: the blob is the CRLF text's */
	blob_id_of(crlf, sizeof(crlf) - 1, &id);
	assert_int_equal(blob_refcount(fx->st->blobs, &id, &refs, &fx->err),
	    1);
	assert_int_equal(refs, 1);
	/* "invoices" stems like "invoice" in the first message's subject */
	assert_int_equal(kv_run(fx->st->kv, KV_READ, search_txn, &op,
	    &fx->err), 0);
	assert_true(op.hits >= 4);
}

static int
last_uid(void *arg, const struct mail_msg *msg)
{
	*(uint32_t *)arg = msg->uid;
	return 0;
}

static int
last_email(void *arg, const struct mail_msg *msg)
{
	*(uint32_t *)arg = msg->email;
	return 0;
}

/* expunging the last copy drops the blob, its index entry and quota */
static void
test_expunge(void **state)
{
	struct fx *fx = *state;
	static const char text[] = "Subject: zanzibar expedition\r\n"
	    "From: x@example.net\r\n\r\nunique words\r\n";
	struct delivery_rcpt rc;
	struct fts_query q = { FTS_Q_TERM, FTS_F(FTS_SUBJECT), "zanzibar", 8,
		false, NULL, NULL };
	roaring_bitmap_t *res = NULL;
	struct kv_txn *t;
	struct blob_id id;
	uint64_t refs, used_before, used;
	uint32_t inbox, uid = 0;

	assert_int_equal(mail_quota_used(fx->st->mail, fx->bob, &used_before,
	    &fx->err), 0);
	memset(&rc, 0, sizeof(rc));
	rc.addr = "bob@example.org";
	delivery_message(fx->d, "Q7", "s@example.net", "", text, sizeof(text) - 1, &rc, 1);
	assert_int_equal(rc.status, TRANSPORT_OK);
	assert_int_equal(mail_mailbox_find(fx->st->mail, fx->bob, 0, "INBOX",
	    &inbox, &fx->err), 1);
	/* the newest message has the last UID */
	assert_int_equal(mail_msg_list(fx->st->mail, fx->bob, inbox, 1,
	    last_uid, &uid, &fx->err), 0);
	assert_true(uid > 0);
	/* what IMAP and JMAP will read: stored at delivery, no reparse */
	{
		struct mime_info *info = NULL;
		uint32_t email = 0;

		assert_int_equal(mail_msg_list(fx->st->mail, fx->bob, inbox, 1,
		    last_email, &email, &fx->err), 0);
		assert_int_equal(mail_email_mime(fx->st->mail, fx->bob, email,
		    &info, &fx->err), 1);
		assert_string_equal(info->hdr.subject, "zanzibar expedition");
		assert_non_null(strstr(info->envelope, "zanzibar"));
		assert_non_null(info->bodystructure);
		mime_info_free(&info);
		assert_int_equal(mail_email_mime(fx->st->mail, fx->bob,
		    999999, &info, &fx->err), 0);
	}
	blob_id_of(text, sizeof(text) - 1, &id);
	assert_int_equal(blob_refcount(fx->st->blobs, &id, &refs, &fx->err),
	    1);
	assert_int_equal(store_expunge(fx->st, fx->bob, inbox, uid,
	    &fx->err), 1);
	assert_int_equal(store_expunge(fx->st, fx->bob, inbox, uid,
	    &fx->err), 0);
	assert_int_equal(blob_refcount(fx->st->blobs, &id, &refs, &fx->err),
	    0);
	assert_int_equal(blob_size(fx->st->blobs, &id, &refs, &fx->err), 0);
	assert_int_equal(mail_quota_used(fx->st->mail, fx->bob, &used,
	    &fx->err), 0);
	assert_int_equal(used, used_before);
	assert_int_equal(kv_begin(fx->st->kv, KV_READ, &t, &fx->err), 0);
	assert_int_equal(fts_search(fx->st->fts, t, fx->bob, &q, NULL, &res,
	    &fx->err), 0);
	assert_int_equal(roaring_bitmap_get_cardinality(res), 0);
	roaring_bitmap_free(res);
	kv_abort(&t);
}

struct fwd_log {
	unsigned calls;
	bool fail;
	char first[64];
};

static int
fwd_hook(void *arg, const char *sender, const char *sender_params,
    const char *const *rcpts, size_t n, const void *msg, size_t len,
    struct buf *err)
{
	struct fwd_log *fl = arg;

	assert_string_equal(sender, "s@example.net");
	/* the copy keeps the original's body type, SMTPUTF8, RET */
	assert_string_equal(sender_params, "BODY=8BITMIME SMTPUTF8 RET=HDRS");
	assert_int_equal(n, 1);
	assert_true(len > 0 && msg != NULL);
	if (fl->fail) {
		buf_addf(err, "spool full");
		return -1;
	}
	fl->calls++;
	(void)snprintf(fl->first, sizeof(fl->first), "%s", rcpts[0]);
	return 0;
}

/* an alias with a remote target: forwarded once per (queue ID, rcpt) */
static void
test_forward(void **state)
{
	struct fx *fx = *state;
	struct delivery_rcpt rc;
	struct fwd_log fl;
	size_t before = inbox_count(fx, fx->alice);

	memset(&fl, 0, sizeof(fl));
	assert_int_equal(dir_alias_add(fx->dir, "fwd@example.org",
	    "alice@example.org", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->dir, "fwd@example.org",
	    "Friend@Remote.example", &fx->err), 0);
	/* no hook: deferred, nothing filed */
	deliver1(fx, "Q8", 0, "fwd@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_TEMPFAIL);
	assert_int_equal(inbox_count(fx, fx->alice), before);
	delivery_set_forward(fx->d, fwd_hook, &fl);
	/* the hook fails: deferred, nothing filed */
	fl.fail = true;
	deliver1(fx, "Q8", 0, "fwd@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_TEMPFAIL);
	assert_non_null(strstr(rc.text, "spool full"));
	assert_int_equal(inbox_count(fx, fx->alice), before);
	fl.fail = false;
	deliver1(fx, "Q8", 0, "fwd@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_OK);
	assert_int_equal(fl.calls, 1);
	assert_string_equal(fl.first, "friend@remote.example");
	assert_int_equal(inbox_count(fx, fx->alice), before + 1);
	/* retried: neither forwarded nor filed again */
	deliver1(fx, "Q8", 0, "fwd@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_OK);
	assert_int_equal(fl.calls, 1);
	assert_int_equal(inbox_count(fx, fx->alice), before + 1);
	delivery_set_forward(fx->d, NULL, NULL);
	assert_int_equal(dir_alias_del(fx->dir, "fwd@example.org", NULL,
	    &fx->err), 0);
}

/* idempotency keys go once older than the queue can retry */
static void
test_prune(void **state)
{
	struct fx *fx = *state;
	struct delivery_rcpt rc;
	size_t before;

	deliver1(fx, "Q10", 0, "bob@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_OK);
	assert_true(delivery_prune(fx->d, 3600, &fx->err) == 0);
	before = inbox_count(fx, fx->bob);
	deliver1(fx, "Q10", 0, "bob@example.org", &rc);	/* kept: no-op */
	assert_int_equal(inbox_count(fx, fx->bob), before);
	sleep(1);
	assert_true(delivery_prune(fx->d, 0, &fx->err) > 0);
	/* gone: the same (queue ID, recipient) would now be filed again */
	deliver1(fx, "Q10", 0, "bob@example.org", &rc);
	assert_int_equal(inbox_count(fx, fx->bob), before + 1);
}

static int
group_setup(void **state)
{
	if (unit_tmpdir_setup(state) < 0)
		return -1;
	return fx_setup(state);
}

static int
group_teardown(void **state)
{
	fx_teardown(state);
	return unit_tmpdir_teardown(state);
}

/* the filters' junk mark files into Junk; only in the header counts */
static void
test_junk(void **state)
{
	static const char junk[] =
	    "Received: from x by mx.example.org\r\n"
	    "x-postern-spam:  Junk\r\n"
	    "Subject: cheap pills\r\n"
	    "\r\n"
	    "buy now\r\n";
	static const char body_only[] =
	    "Subject: about headers\r\n"
	    "\r\n"
	    "X-Postern-Spam: junk\r\n";
	struct fx *fx = *state;
	struct delivery_rcpt rc;
	size_t inbox = inbox_count(fx, fx->alice), jb;

	jb = box_count(fx, fx->alice, "Junk");
	memset(&rc, 0, sizeof(rc));
	rc.addr = "alice@example.org";
	delivery_message(fx->d, "QJ1", "s@example.net", "", junk,
	    sizeof(junk) - 1, &rc, 1);
	assert_int_equal(rc.status, TRANSPORT_OK);
	assert_int_equal(box_count(fx, fx->alice, "Junk"), jb + 1);
	assert_int_equal(inbox_count(fx, fx->alice), inbox);
	memset(&rc, 0, sizeof(rc));
	rc.addr = "alice@example.org";
	delivery_message(fx->d, "QJ2", "s@example.net", "", body_only,
	    sizeof(body_only) - 1, &rc, 1);
	assert_int_equal(rc.status, TRANSPORT_OK);
	assert_int_equal(box_count(fx, fx->alice, "Junk"), jb + 1);
	assert_int_equal(inbox_count(fx, fx->alice), inbox + 1);
}

struct trained {
	unsigned n, spam;
	uint32_t acct;
	bool has_subject;
};

static void
train_hook(void *arg, uint32_t acct, const void *msg, size_t len, bool spam)
{
	struct trained *t = arg;

	t->n++;
	t->spam += spam;
	t->acct = acct;
	t->has_subject = memmem(msg, len, "quarterly invoice", 17) != NULL;
}

static uint32_t
mbox_id(struct fx *fx, uint32_t acct, const char *name)
{
	uint32_t id = 0;

	assert_int_equal(mail_mailbox_find(fx->st->mail, acct, 0, name, &id,
	    &fx->err), 1);
	return id;
}

/* moving into or out of Junk reaches the training hook, with the content */
static void
test_junk_training(void **state)
{
	struct fx *fx = *state;
	struct trained t = { 0, 0, 0, false };
	struct delivery_rcpt rc;
	uint32_t inbox, junk, trash, archive, uid = 0;
	struct mail_added a;

	store_set_junk_hook(fx->st, train_hook, &t);
	deliver1(fx, "QT1", 0, "bob@example.org", &rc);
	assert_int_equal(rc.status, TRANSPORT_OK);
	inbox = mbox_id(fx, fx->bob, "INBOX");
	junk = mbox_id(fx, fx->bob, "Junk");
	trash = mbox_id(fx, fx->bob, "Trash");
	archive = mbox_id(fx, fx->bob, "Archive");
	assert_int_equal(mail_msg_list(fx->st->mail, fx->bob, inbox, 1,
	    last_uid, &uid, &fx->err), 0);
	/* into Junk: spam, with the message */
	assert_int_equal(store_msg_move(fx->st, fx->bob, inbox, uid, junk, &a,
	    &fx->err), 1);
	assert_int_equal(t.n, 1);
	assert_int_equal(t.spam, 1);
	assert_int_equal(t.acct, fx->bob);
	assert_true(t.has_subject);
	/* back into INBOX: not spam */
	assert_int_equal(store_msg_move(fx->st, fx->bob, junk, a.uid, inbox,
	    &a, &fx->err), 1);
	assert_int_equal(t.n, 2);
	assert_int_equal(t.spam, 1);
	/* a copy elsewhere: nothing to learn */
	assert_int_equal(store_msg_copy(fx->st, fx->bob, inbox, a.uid, archive,
	    NULL, &fx->err), 1);
	assert_int_equal(t.n, 2);
	/* Junk to Trash is throwing spam away, not a ham verdict */
	assert_int_equal(store_msg_move(fx->st, fx->bob, inbox, a.uid, junk,
	    &a, &fx->err), 1);
	assert_int_equal(store_msg_move(fx->st, fx->bob, junk, a.uid, trash,
	    &a, &fx->err), 1);
	assert_int_equal(t.n, 3);
	assert_int_equal(t.spam, 2);
	/* no such message */
	assert_int_equal(store_msg_move(fx->st, fx->bob, junk, 9999, inbox,
	    &a, &fx->err), 0);
	store_set_junk_hook(fx->st, NULL, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_plus_alias),
		cmocka_unit_test(test_idempotent_retry),
		cmocka_unit_test(test_quota),
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_bare_lf_and_search),
		cmocka_unit_test(test_expunge),
		cmocka_unit_test(test_forward),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_junk),
		cmocka_unit_test(test_junk_training),
		cmocka_unit_test(test_layout_version),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
