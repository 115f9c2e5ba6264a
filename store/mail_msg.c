/*
 * mail_msg.c - IMAP's questions about one mailbox (see mail.h): the
 * memberships in UID order (SELECT, FETCH), those changed since a MODSEQ
 * (CONDSTORE CHANGEDSINCE, RFC 7162 3.1.4) and the UIDs expunged since a
 * MODSEQ (QRESYNC VANISHED, RFC 7162 3.2.10).
 *
 * Keys (store/LAYOUT.md, mail.c):
 *   'U' acct mbox uid     -> email(u32) flags(u32) modseq(u64) keywords
 *   'S' acct mbox modseq  -> uid (u32): a live membership's MODSEQ
 *   'X' acct mbox modseq  -> uid (u32): the MODSEQ of its expunge
 *
 * Each membership has exactly one 'S' key (its current MODSEQ) while it
 * exists and one 'X' key after its expunge, so a changed-since scan plus
 * a vanished-since scan from the same MODSEQ tell a client everything.
 */
#include <string.h>

#include "store/mail_priv.h"

#define MAIL_UVAL_LEN 16

struct msg_cb {
	mail_msg_fn *fn;
	void *arg;
	struct buf kw;		/* the keywords of the row, NUL-terminated */
};

/* stop - a callback's answer as a kv_row_fn's */
static int
stop(int r, struct buf *err)
{
	if (r < 0)
		buf_addf(err, "callback failed");
	return r < 0 ? -1 : r > 0 ? 1 : 0;
}

/* uval_decode - msg from a 'U' value; keywords into c->kw */
static int
uval_decode(struct msg_cb *c, const unsigned char *v, size_t vl,
    struct mail_msg *msg, struct buf *err)
{
	if (vl < MAIL_UVAL_LEN) {
		buf_addf(err, "uid %u: malformed value", msg->uid);
		return -1;
	}
	msg->email = get_u32(v);
	msg->flags = get_u32(v + 4);
	msg->modseq = get_u64(v + 8);
	buf_reset(&c->kw);
	buf_add(&c->kw, v + MAIL_UVAL_LEN, vl - MAIL_UVAL_LEN);
	if (memchr(buf_cstr(&c->kw), '\0', c->kw.len) != NULL) {
		buf_addf(err, "uid %u: malformed keywords", msg->uid);
		return -1;
	}
	msg->keywords = buf_cstr(&c->kw);
	return 0;
}

static int
uid_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct msg_cb *c = arg;
	struct mail_msg msg;

	if (kl != 13) {
		buf_addf(err, "malformed uid key");
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.uid = get_u32(k + 9);
	if (uval_decode(c, v, vl, &msg, err) < 0)
		return -1;
	return stop(c->fn(c->arg, &msg), err);
}

int
mail_msg_list(struct mail *m, uint32_t acct, uint32_t mbox,
    uint32_t first_uid, mail_msg_fn *fn, void *arg, struct buf *err)
{
	struct buf prefix = BUF_INIT(0), start = BUF_INIT(0);
	struct msg_cb c = { fn, arg, BUF_INIT(0) };
	int r;

	mail_key_id(&prefix, 'U', acct, mbox);
	mail_key_msg(&start, acct, mbox, first_uid);
	r = kv_scan(mail_kv(m), start.data, start.len, prefix.data,
	    prefix.len, uid_row, &c, err);
	buf_free(&prefix);
	buf_free(&start);
	buf_free(&c.kw);
	return r;
}

int
mail_msg_list_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t first_uid, mail_msg_fn *fn, void *arg, struct buf *err)
{
	struct buf prefix = BUF_INIT(0), start = BUF_INIT(0);
	struct msg_cb c = { fn, arg, BUF_INIT(0) };
	int r;

	mail_key_id(&prefix, 'U', acct, mbox);
	mail_key_msg(&start, acct, mbox, first_uid);
	r = kv_scan_txn(t, start.data, start.len, prefix.data, prefix.len,
	    uid_row, &c, err);
	buf_free(&prefix);
	buf_free(&start);
	buf_free(&c.kw);
	return r;
}

struct since_op {
	uint32_t acct, mbox;
	uint64_t modseq;
	struct msg_cb c;
};

/* collect_uid - an 'S' row's uid onto a list (no get while iterating) */
static int
collect_uid(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	if (kl != 17 || vl < 4) {
		buf_addf(err, "malformed modseq key");
		return -1;
	}
	buf_add(arg, v, 4);
	return 0;
}

/*
 * since_txn - the 'S' keys after modseq, then each one's 'U' value: the
 * uids are collected first so no get runs while the iterator is open.
 */
static int
since_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct since_op *op = arg;
	struct buf prefix = BUF_INIT(0), start = BUF_INIT(0);
	struct buf uids = BUF_INIT(0), k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	mail_key_id(&prefix, 'S', op->acct, op->mbox);
	mail_key_modseq(&start, 'S', op->acct, op->mbox, op->modseq + 1);
	r = kv_scan_txn(t, start.data, start.len, prefix.data, prefix.len,
	    collect_uid, &uids, err);
	for (size_t i = 0; r == 0 && i < uids.len; i += 4) {
		struct mail_msg msg;

		memset(&msg, 0, sizeof(msg));
		msg.uid = get_u32(uids.data + i);
		mail_key_msg(&k, op->acct, op->mbox, msg.uid);
		buf_reset(&v);
		r = kv_get(t, k.data, k.len, &v, err);
		if (r == 0) {
			/* 'S' and 'U' go together; a stray 'S' is skipped */
			continue;
		}
		if (r < 0 || (r = uval_decode(&op->c, v.data, v.len, &msg,
		    err)) < 0)
			break;
		r = stop(op->c.fn(op->c.arg, &msg), err);
	}
	buf_free(&prefix);
	buf_free(&start);
	buf_free(&uids);
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

int
mail_msg_changed_since(struct mail *m, uint32_t acct, uint32_t mbox,
    uint64_t modseq, mail_msg_fn *fn, void *arg, struct buf *err)
{
	struct since_op op = { acct, mbox, modseq, { fn, arg, BUF_INIT(0) } };
	int r;

	if (modseq == UINT64_MAX)
		return 0;
	r = kv_run(mail_kv(m), KV_READ, since_txn, &op, err);
	buf_free(&op.c.kw);
	return r;
}

static int
vanished_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct msg_cb *c = arg;
	struct mail_msg msg;

	if (kl != 17 || vl < 4) {
		buf_addf(err, "malformed expunge key");
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	msg.uid = get_u32(v);
	msg.modseq = get_u64(k + 9);
	msg.keywords = "";
	return stop(c->fn(c->arg, &msg), err);
}

int
mail_msg_vanished_since(struct mail *m, uint32_t acct, uint32_t mbox,
    uint64_t modseq, mail_msg_fn *fn, void *arg, struct buf *err)
{
	struct buf prefix = BUF_INIT(0), start = BUF_INIT(0);
	struct msg_cb c = { fn, arg, BUF_INIT(0) };
	int r;

	if (modseq == UINT64_MAX)
		return 0;
	mail_key_id(&prefix, 'X', acct, mbox);
	mail_key_modseq(&start, 'X', acct, mbox, modseq + 1);
	r = kv_scan(mail_kv(m), start.data, start.len, prefix.data,
	    prefix.len, vanished_row, &c, err);
	buf_free(&prefix);
	buf_free(&start);
	return r;
}
