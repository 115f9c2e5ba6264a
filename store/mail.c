/*
 * mail.c - the mail model over the data store (see mail.h): emails and
 * their memberships, IMAP's UID and CONDSTORE questions, the change log
 * and quota usage; mailboxes are in mail_mailbox.c.
 *
 * Keys (store/LAYOUT.md; acct, mbox, email and uid u32, modseq and state
 * u64, all big-endian):
 *   'C' acct name 0x00          -> counter (kv_add): "mailbox", "email",
 *                                  "state"; "uidvalidity" holds the last
 *                                  UIDVALIDITY handed out (same format)
 *   'M', 'm'                    -> mailboxes (mail_mailbox.c)
 *   'E' acct email              -> email record (EM_* fields)
 *   'I' acct email              -> mime_info_encode() bytes, as given
 *   'U' acct mbox uid           -> email(u32) flags(u32) modseq(u64)
 *   'S' acct mbox modseq        -> uid (u32)
 *   'L' acct type(u8) state     -> change record (LOG_* fields)
 *   'Q' acct                    -> bytes used (kv_add)
 *
 * 'U' and 'S' values are fixed-width rather than tagged records since
 * they are read once per message on every IMAP SELECT/FETCH; readers
 * accept longer values so fields can be appended.  Every change is one
 * write transaction, so the invariants in mail.h hold under concurrent
 * deliveries: two transactions that read the same uidnext cannot both
 * commit (kv.h: writes are serialisable).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xalloc.h"
#include "store/mail.h"
#include "store/rec.h"

struct mail {
	struct kv *kv;
};

enum {	/* email record */
	EM_BLOB = 1, EM_SIZE, EM_RECEIVED, EM_FLAGS, EM_MEMBER, EM_CREATED,
};
enum {	/* change record */
	LOG_ID = 1, LOG_OP,
};

#define MAIL_UVAL_LEN 16	/* 'U' value: email, flags, modseq */
#define MAIL_MEMBER_LEN 16	/* EM_MEMBER: mbox, uid, modseq */

struct mail *
mail_new(struct kv *kv)
{
	struct mail *m = xcalloc(1, sizeof(*m));

	m->kv = kv;
	return m;
}

void
mail_free(struct mail **mp)
{
	if (*mp == NULL)
		return;
	free(*mp);
	*mp = NULL;
}

const char *
mail_role_name(enum mail_role role)
{
	switch (role) {
	case MAIL_ROLE_NONE:	return "";
	case MAIL_ROLE_INBOX:	return "inbox";
	case MAIL_ROLE_SENT:	return "sent";
	case MAIL_ROLE_DRAFTS:	return "drafts";
	case MAIL_ROLE_TRASH:	return "trash";
	case MAIL_ROLE_JUNK:	return "junk";
	case MAIL_ROLE_ARCHIVE:	return "archive";
	}
	return "";
}

void
mail_mailbox_clear(struct mail_mailbox *mb)
{
	free(mb->name);
	memset(mb, 0, sizeof(*mb));
}

struct kv *
mail_kv(struct mail *m)
{
	return m->kv;
}

/* ---- keys ---- */

static void
key_acct(struct buf *k, uint8_t space, uint32_t acct)
{
	buf_reset(k);
	key_u8(k, space);
	key_u32(k, acct);
}

static void
key_counter(struct buf *k, uint32_t acct, const char *name)
{
	key_acct(k, 'C', acct);
	key_str(k, name);
}

/* key_acct_u32 - 'E'/'I' acct email */
static void
key_acct_u32(struct buf *k, uint8_t space, uint32_t acct, uint32_t id)
{
	key_acct(k, space, acct);
	key_u32(k, id);
}

/* key_mbox_u32 - 'U'/'S' acct mbox, before the uid or modseq */
static void
key_mbox_u32(struct buf *k, uint8_t space, uint32_t acct, uint32_t mbox)
{
	key_acct(k, space, acct);
	key_u32(k, mbox);
}

static void
write_u32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void
write_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* ---- small helpers ---- */

/* counter_next - the next id from 'C' acct name; -1 past u32 */
int
mail_counter_next_txn(struct kv_txn *t, uint32_t acct, const char *name,
    uint32_t *id_r, struct buf *err)
{
	struct buf k = BUF_INIT(0);
	int64_t v;
	int r;

	key_counter(&k, acct, name);
	r = kv_add(t, k.data, k.len, 1, &v, err);
	buf_free(&k);
	if (r < 0)
		return r;
	if (v <= 0 || v > UINT32_MAX) {
		buf_addf(err, "account %u: %s ids exhausted", acct, name);
		return -1;
	}
	*id_r = (uint32_t)v;
	return 0;
}

/* log_append - one change record; its state into *state_r (may be NULL) */
int
mail_log_append_txn(struct kv_txn *t, uint32_t acct, enum mail_log_type type,
    enum mail_log_op op, uint32_t id, uint64_t *state_r, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	unsigned char opc = (unsigned char)op;
	int64_t state;
	int r;

	key_counter(&k, acct, "state");
	r = kv_add(t, k.data, k.len, 1, &state, err);
	if (r == 0) {
		key_acct(&k, 'L', acct);
		key_u8(&k, (uint8_t)type);
		key_u64(&k, (uint64_t)state);
		rec_put_u64(&v, LOG_ID, id);
		rec_put_bytes(&v, LOG_OP, &opc, 1);
		r = kv_put(t, k.data, k.len, v.data, v.len, err);
	}
	if (r == 0 && state_r != NULL)
		*state_r = (uint64_t)state;
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* ---- scans ---- */

/* scan - rows from start up to the end of prefix, in a read transaction */
static int
scan(struct mail *m, const struct buf *start, const struct buf *prefix,
    kv_row_fn *fn, void *arg, struct buf *err)
{
	return kv_scan(m->kv, start->data, start->len, prefix->data,
	    prefix->len, fn, arg, err);
}

/* stop - a callback's answer as a kv_row_fn's */
static int
stop(int r, struct buf *err)
{
	if (r < 0)
		buf_addf(err, "callback failed");
	return r < 0 ? -1 : r > 0 ? 1 : 0;
}

/* ---- emails ---- */

int
mail_email_add_txn(struct mail *m, struct kv_txn *t, uint32_t acct,
    const struct mail_new_email *e, struct mail_added *added_r,
    struct buf *err)
{
	struct mail_mailbox mb;
	struct mail_added a;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	unsigned char member[MAIL_MEMBER_LEN];
	int r;

	(void)m;
	memset(&a, 0, sizeof(a));
	if (e->size > INT64_MAX) {
		buf_addf(err, "email size %llu out of range",
		    (unsigned long long)e->size);
		return -1;
	}
	r = mail_mailbox_get_txn(t, acct, e->mbox, &mb, err);
	if (r == 0)
		buf_addf(err, "account %u: no mailbox %u", acct, e->mbox);
	if (r <= 0)
		return r < 0 ? r : -1;
	if (mb.uidnext == UINT32_MAX || mb.highestmodseq == UINT64_MAX) {
		buf_addf(err, "mailbox %u: UIDs exhausted", e->mbox);
		r = -1;
		goto out;
	}
	a.uid = mb.uidnext++;
	a.modseq = ++mb.highestmodseq;
	if ((r = mail_counter_next_txn(t, acct, "email", &a.email, err)) < 0 ||
	    (r = mail_mailbox_put_txn(t, acct, &mb, err)) < 0)
		goto out;

	/* 'E': the email record with its one membership */
	key_acct_u32(&k, 'E', acct, a.email);
	rec_put_bytes(&v, EM_BLOB, e->blob.b, sizeof(e->blob.b));
	rec_put_u64(&v, EM_SIZE, e->size);
	rec_put_u64(&v, EM_RECEIVED, (uint64_t)e->received_at);
	rec_put_u64(&v, EM_FLAGS, e->flags);
	write_u32(member, e->mbox);
	write_u32(member + 4, a.uid);
	write_u64(member + 8, a.modseq);
	rec_put_bytes(&v, EM_MEMBER, member, sizeof(member));
	rec_put_u64(&v, EM_CREATED, (uint64_t)time(NULL));
	if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) < 0)
		goto out;
	if (e->mime != NULL) {
		key_acct_u32(&k, 'I', acct, a.email);
		if ((r = kv_put(t, k.data, k.len, e->mime, e->mime_len,
		    err)) < 0)
			goto out;
	}

	/* 'U' and 'S': IMAP's view */
	key_mbox_u32(&k, 'U', acct, e->mbox);
	key_u32(&k, a.uid);
	buf_reset(&v);
	key_u32(&v, a.email);
	key_u32(&v, e->flags);
	key_u64(&v, a.modseq);
	if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) < 0)
		goto out;
	key_mbox_u32(&k, 'S', acct, e->mbox);
	key_u64(&k, a.modseq);
	buf_reset(&v);
	key_u32(&v, a.uid);
	if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) < 0)
		goto out;

	key_acct(&k, 'Q', acct);
	if ((r = kv_add(t, k.data, k.len, (int64_t)e->size, NULL, err)) < 0)
		goto out;
	r = mail_log_append_txn(t, acct, MAIL_LOG_EMAIL, MAIL_LOG_CREATED,
	    a.email, &a.state, err);
out:
	if (r == 0 && added_r != NULL)
		*added_r = a;
	mail_mailbox_clear(&mb);
	buf_free(&k);
	buf_free(&v);
	return r;
}

struct add_op {
	struct mail *m;
	uint32_t acct;
	const struct mail_new_email *e;
	struct mail_added a;
};

static int
add_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct add_op *op = arg;

	return mail_email_add_txn(op->m, t, op->acct, op->e, &op->a, err);
}

int
mail_email_add(struct mail *m, uint32_t acct, const struct mail_new_email *e,
    struct mail_added *added_r, struct buf *err)
{
	struct add_op op = { m, acct, e, { 0, 0, 0, 0 } };

	if (kv_run(mail_kv(m), KV_WRITE, add_txn, &op, err) < 0)
		return -1;
	if (added_r != NULL)
		*added_r = op.a;
	return 0;
}

/* ---- IMAP's questions ---- */

struct msg_cb {
	mail_msg_fn *fn;
	void *arg;
};

static int
uval_decode(const unsigned char *v, size_t vl, struct mail_msg *msg,
    struct buf *err)
{
	if (vl < MAIL_UVAL_LEN) {
		buf_addf(err, "uid %u: malformed value", msg->uid);
		return -1;
	}
	msg->email = get_u32(v);
	msg->flags = get_u32(v + 4);
	msg->modseq = get_u64(v + 8);
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
	if (uval_decode(v, vl, &msg, err) < 0)
		return -1;
	return stop(c->fn(c->arg, &msg), err);
}

int
mail_msg_list(struct mail *m, uint32_t acct, uint32_t mbox,
    uint32_t first_uid, mail_msg_fn *fn, void *arg, struct buf *err)
{
	struct buf prefix = BUF_INIT(0), start = BUF_INIT(0);
	struct msg_cb c = { fn, arg };
	int r;

	key_mbox_u32(&prefix, 'U', acct, mbox);
	key_mbox_u32(&start, 'U', acct, mbox);
	key_u32(&start, first_uid);
	r = scan(m, &start, &prefix, uid_row, &c, err);
	buf_free(&prefix);
	buf_free(&start);
	return r;
}

struct since_op {
	uint32_t acct, mbox;
	uint64_t modseq;
	struct msg_cb c;
};

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
	unsigned char end[KV_KEY_MAX];
	size_t elen;
	struct kv_iter *it;
	const void *kp, *vp;
	size_t kl, vl;
	int r;

	key_mbox_u32(&prefix, 'S', op->acct, op->mbox);
	key_mbox_u32(&start, 'S', op->acct, op->mbox);
	key_u64(&start, op->modseq + 1);
	elen = kv_prefix_end(prefix.data, prefix.len, end);
	r = kv_iter_new(t, start.data, start.len, elen > 0 ? end : NULL, elen,
	    false, &it, err);
	if (r < 0)
		goto out;
	while ((r = kv_iter_next(it, &kp, &kl, &vp, &vl, err)) == 1) {
		if (kl != 17 || vl < 4) {
			buf_addf(err, "malformed modseq key");
			r = -1;
			break;
		}
		buf_add(&uids, vp, 4);
	}
	kv_iter_free(&it);
	for (size_t i = 0; r == 0 && i < uids.len; i += 4) {
		struct mail_msg msg;

		memset(&msg, 0, sizeof(msg));
		msg.uid = get_u32(uids.data + i);
		key_mbox_u32(&k, 'U', op->acct, op->mbox);
		key_u32(&k, msg.uid);
		buf_reset(&v);
		r = kv_get(t, k.data, k.len, &v, err);
		if (r == 0)
			continue;	/* XXX expunged: 'X' will say so */
		if (r < 0 || (r = uval_decode(v.data, v.len, &msg, err)) < 0)
			break;
		r = stop(op->c.fn(op->c.arg, &msg), err);
	}
out:
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
	struct since_op op = { acct, mbox, modseq, { fn, arg } };

	if (modseq == UINT64_MAX)
		return 0;
	return kv_run(mail_kv(m), KV_READ, since_txn, &op, err);
}

/* ---- change log and quota ---- */

struct log_cb {
	mail_log_fn *fn;
	void *arg;
};

static int
log_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct log_cb *c = arg;
	struct rec_reader rr;
	const unsigned char *d;
	size_t n;
	uint8_t tag;
	uint64_t id = UINT64_MAX;
	int op = -1, r;

	if (kl != 14)
		goto bad;
	rec_reader_init(&rr, v, vl);
	while ((r = rec_next(&rr, &tag, &d, &n)) == 1) {
		if (tag == LOG_ID && !rec_u64(d, n, &id))
			goto bad;
		if (tag == LOG_OP && n == 1)
			op = d[0];
	}
	if (r < 0 || id > UINT32_MAX || op < 0)
		goto bad;
	return stop(c->fn(c->arg, get_u64(k + 6), (enum mail_log_op)op,
	    (uint32_t)id), err);
bad:
	buf_addf(err, "malformed change record");
	return -1;
}

int
mail_log_scan(struct mail *m, uint32_t acct, enum mail_log_type type,
    uint64_t since, mail_log_fn *fn, void *arg, struct buf *err)
{
	struct buf prefix = BUF_INIT(0), start = BUF_INIT(0);
	struct log_cb c = { fn, arg };
	int r = 0;

	if (since == UINT64_MAX)
		return 0;
	key_acct(&prefix, 'L', acct);
	key_u8(&prefix, (uint8_t)type);
	key_acct(&start, 'L', acct);
	key_u8(&start, (uint8_t)type);
	key_u64(&start, since + 1);
	r = scan(m, &start, &prefix, log_row, &c, err);
	buf_free(&prefix);
	buf_free(&start);
	return r;
}

struct quota_op {
	uint32_t acct;
	uint64_t used;
};

static int
quota_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct quota_op *op = arg;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	key_acct(&k, 'Q', op->acct);
	op->used = 0;
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && (v.len != 8 || (int64_t)get_u64(v.data) < 0)) {
		buf_addf(err, "account %u: malformed quota", op->acct);
		r = -1;
	} else if (r == 1)
		op->used = get_u64(v.data);
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

int
mail_quota_used(struct mail *m, uint32_t acct, uint64_t *used_r,
    struct buf *err)
{
	struct quota_op op = { acct, 0 };

	if (kv_run(mail_kv(m), KV_READ, quota_txn, &op, err) < 0)
		return -1;
	*used_r = op.used;
	return 0;
}
