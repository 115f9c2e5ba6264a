/*
 * mail_member.c - memberships of an email in mailboxes (see mail.h): add
 * one (delivery, COPY, JMAP mailboxIds), remove one (EXPUNGE, JMAP
 * mailboxIds, the source of a MOVE), destroy an email with its last
 * membership, and the mailbox counts that follow.
 *
 * Keys (store/LAYOUT.md, mail.c):
 *   'U' acct mbox uid       -> email flags modseq keywords
 *   'S' acct mbox modseq    -> uid, the membership's current MODSEQ
 *   'X' acct mbox modseq    -> uid expunged at that MODSEQ (QRESYNC)
 *   'O' acct mbox ...       -> the mailbox in receivedAt order, kept
 *                              with 'U' (mail_order.c)
 *   'H' acct mbox thread    -> emails(u32) unread(u32): how many emails of
 *                              the thread the mailbox holds, and how many
 *                              of them are unread (neither $seen nor
 *                              $draft); absent when 0 emails.  Kept so
 *                              totalThreads/unreadThreads (RFC 8621 2)
 *                              are counts in the mailbox record, changed
 *                              when an 'H' value crosses 0.
 *
 * A membership is added with the next UID and MODSEQ of its mailbox and
 * removed with one more MODSEQ (its 'X' key), so UIDs and MODSEQs stay
 * strictly increasing per mailbox whatever the mix of deliveries, copies,
 * moves, flag changes and expunges (RFC 7162 3.2.10 wants the expunge's
 * MODSEQ above every earlier one).  The email record lists its
 * memberships, so expunge, move and flag changes need no scan.
 */
#include <string.h>

#include "common/xalloc.h"
#include "store/mail_priv.h"

/* ---- counts ---- */

static int
count_step(uint32_t *v, int dir, const char *what, struct buf *err)
{
	if (dir > 0 && *v == UINT32_MAX) {
		buf_addf(err, "mailbox %s count overflow", what);
		return -1;
	}
	if (dir < 0 && *v == 0) {
		buf_addf(err, "mailbox %s count out of step", what);
		return -1;
	}
	*v = dir > 0 ? *v + 1 : *v - 1;
	return 0;
}

int
mail_counts_adjust(struct kv_txn *t, uint32_t acct, struct mail_mailbox *mb,
    uint32_t thread, uint32_t flags, int dir, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	uint32_t emails = 0, unread = 0;
	bool is_unread = mail_is_unread(flags);
	int r;

	if (count_step(&mb->total, dir, "total", err) < 0 ||
	    (mail_is_unseen(flags) &&
	    count_step(&mb->unseen, dir, "unseen", err) < 0) ||
	    (is_unread && count_step(&mb->unread, dir, "unread", err) < 0))
		return -1;
	mail_key_id(&k, 'H', acct, mb->id);
	key_u32(&k, thread);
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && v.len != 8) {
		buf_addf(err, "mailbox %u thread %u: malformed count", mb->id,
		    thread);
		r = -1;
	}
	if (r < 0)
		goto out;
	if (r == 1) {
		emails = get_u32(v.data);
		unread = get_u32(v.data + 4);
	}
	r = -1;
	if (count_step(&emails, dir, "thread", err) < 0 ||
	    (is_unread && count_step(&unread, dir, "thread unread",
	    err) < 0))
		goto out;
	/* a thread appears in or leaves the mailbox (its unread part) */
	if ((dir > 0 ? emails == 1 : emails == 0) &&
	    count_step(&mb->threads, dir, "threads", err) < 0)
		goto out;
	if (is_unread && (dir > 0 ? unread == 1 : unread == 0) &&
	    count_step(&mb->unread_threads, dir, "unread threads", err) < 0)
		goto out;
	if (emails == 0) {
		r = kv_delete(t, k.data, k.len, err);
	} else {
		buf_reset(&v);
		key_u32(&v, emails);
		key_u32(&v, unread);
		r = kv_put(t, k.data, k.len, v.data, v.len, err);
	}
out:
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* ---- one membership ---- */

/* get_box - the mailbox of a membership, which must exist */
static int
get_box(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    struct mail_mailbox *mb, struct buf *err)
{
	int r = mail_mailbox_get_txn(t, acct, mbox, mb, err);

	if (r == 0)
		buf_addf(err, "account %u: no mailbox %u", acct, mbox);
	return r == 1 ? 0 : r < 0 ? r : -1;
}

int
mail_member_add(struct kv_txn *t, uint32_t acct, struct mail_email *em,
    uint32_t mbox, struct mail_member *mem_r, struct buf *err)
{
	struct mail_mailbox mb;
	struct mail_member mem;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	if ((r = get_box(t, acct, mbox, &mb, err)) < 0)
		return r;
	if (mb.uidnext == UINT32_MAX || mb.highestmodseq == UINT64_MAX) {
		buf_addf(err, "mailbox %u: UIDs exhausted", mbox);
		r = -1;
		goto out;
	}
	mem.mbox = mbox;
	mem.uid = mb.uidnext++;
	mem.modseq = ++mb.highestmodseq;
	if ((r = mail_counts_adjust(t, acct, &mb, em->thread, em->flags, 1,
	    err)) < 0 ||
	    (r = mail_mailbox_put_txn(t, acct, &mb, err)) < 0)
		goto out;
	mail_key_msg(&k, acct, mbox, mem.uid);
	mail_uval_encode(&v, em, mem.modseq);
	if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) < 0)
		goto out;
	mail_key_modseq(&k, 'S', acct, mbox, mem.modseq);
	buf_reset(&v);
	key_u32(&v, mem.uid);
	if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) < 0 ||
	    (r = mail_order_add_txn(t, acct, mbox, em, err)) < 0 ||
	    (r = mail_log_append_txn(t, acct, MAIL_LOG_MAILBOX,
	    MAIL_LOG_COUNTS, mbox, NULL, err)) < 0)
		goto out;
	em->members = xreallocarray(em->members, em->nmembers + 1,
	    sizeof(*em->members));
	em->members[em->nmembers++] = mem;
	if (mem_r != NULL)
		*mem_r = mem;
out:
	mail_mailbox_clear(&mb);
	buf_free(&k);
	buf_free(&v);
	return r;
}

int
mail_member_remove(struct kv_txn *t, uint32_t acct, struct mail_email *em,
    size_t i, uint64_t *xmodseq_r, struct buf *err)
{
	struct mail_member mem = em->members[i];
	struct mail_mailbox mb;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	if ((r = get_box(t, acct, mem.mbox, &mb, err)) < 0)
		return r;
	if (mb.highestmodseq == UINT64_MAX) {
		buf_addf(err, "mailbox %u: MODSEQs exhausted", mem.mbox);
		r = -1;
		goto out;
	}
	*xmodseq_r = ++mb.highestmodseq;
	if ((r = mail_counts_adjust(t, acct, &mb, em->thread, em->flags, -1,
	    err)) < 0 ||
	    (r = mail_mailbox_put_txn(t, acct, &mb, err)) < 0)
		goto out;
	mail_key_msg(&k, acct, mem.mbox, mem.uid);
	if ((r = kv_delete(t, k.data, k.len, err)) < 0)
		goto out;
	mail_key_modseq(&k, 'S', acct, mem.mbox, mem.modseq);
	if ((r = kv_delete(t, k.data, k.len, err)) < 0 ||
	    (r = mail_order_remove_txn(t, acct, mem.mbox, em, err)) < 0)
		goto out;
	mail_key_modseq(&k, 'X', acct, mem.mbox, *xmodseq_r);
	key_u32(&v, mem.uid);
	if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) < 0 ||
	    (r = mail_log_append_txn(t, acct, MAIL_LOG_MAILBOX,
	    MAIL_LOG_COUNTS, mem.mbox, NULL, err)) < 0)
		goto out;
	memmove(em->members + i, em->members + i + 1,
	    (em->nmembers - i - 1) * sizeof(*em->members));
	em->nmembers--;
out:
	mail_mailbox_clear(&mb);
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* ---- removal and destruction ---- */

/* destroy - em has no membership left: the record, its thread, quota */
static int
destroy(struct kv_txn *t, uint32_t acct, const struct mail_email *em,
    struct mail_removed *rm, struct buf *err)
{
	struct buf k = BUF_INIT(0);
	int r;

	mail_key_id(&k, 'E', acct, em->id);
	if ((r = kv_delete(t, k.data, k.len, err)) < 0)
		goto out;
	mail_key_id(&k, 'I', acct, em->id);
	if ((r = kv_delete(t, k.data, k.len, err)) < 0 ||
	    (r = mail_thread_remove(t, acct, em->thread, em->id,
	    em->received_at, err)) < 0)
		goto out;
	mail_key_acct(&k, 'Q', acct);
	if ((r = kv_add(t, k.data, k.len, -(int64_t)em->size, NULL,
	    err)) < 0 ||
	    (r = mail_log_append_txn(t, acct, MAIL_LOG_EMAIL,
	    MAIL_LOG_DESTROYED, em->id, NULL, err)) < 0)
		goto out;
	rm->destroyed = true;
	rm->blob = em->blob;
	rm->size = em->size;
out:
	buf_free(&k);
	return r;
}

/* remove_at - em's membership i out, then em written or destroyed */
static int
remove_at(struct kv_txn *t, uint32_t acct, struct mail_email *em, size_t i,
    struct mail_removed *rm, struct buf *err)
{
	int r;

	memset(rm, 0, sizeof(*rm));
	rm->email = em->id;
	rm->uid = em->members[i].uid;
	if ((r = mail_member_remove(t, acct, em, i, &rm->modseq, err)) < 0)
		return r;
	if (em->nmembers == 0)
		return destroy(t, acct, em, rm, err);
	if ((r = mail_email_put(t, acct, em, err)) < 0)
		return r;
	return mail_log_append_txn(t, acct, MAIL_LOG_EMAIL, MAIL_LOG_UPDATED,
	    em->id, NULL, err);
}

int
mail_msg_email(struct kv_txn *t, uint32_t acct, uint32_t mbox, uint32_t uid,
    struct mail_email *em, size_t *i_r, struct buf *err)
{
	struct mail_msg msg;
	int r;

	memset(em, 0, sizeof(*em));
	if ((r = mail_msg_get_txn(t, acct, mbox, uid, &msg, err)) <= 0)
		return r;
	r = mail_email_get_txn(t, acct, msg.email, em, err);
	if (r == 1 && (!mail_member_find(em, mbox, i_r) ||
	    em->members[*i_r].uid != uid))
		r = 0;
	if (r == 0) {
		buf_addf(err, "mailbox %u uid %u: email %u does not list it",
		    mbox, uid, msg.email);
		r = -1;
	}
	return r;
}

int
mail_msg_expunge_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t uid, struct mail_removed *rm, struct buf *err)
{
	struct mail_email em;
	size_t i;
	int r;

	memset(rm, 0, sizeof(*rm));
	r = mail_msg_email(t, acct, mbox, uid, &em, &i, err);
	if (r == 1 && (r = remove_at(t, acct, &em, i, rm, err)) == 0)
		r = 1;
	mail_email_clear(&em);
	return r;
}

int
mail_email_remove_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    uint32_t mbox, struct mail_removed *rm, struct buf *err)
{
	struct mail_email em;
	size_t i;
	int r;

	memset(rm, 0, sizeof(*rm));
	r = mail_email_get_txn(t, acct, email, &em, err);
	if (r == 1 && !mail_member_find(&em, mbox, &i))
		r = 0;
	if (r == 1 && (r = remove_at(t, acct, &em, i, rm, err)) == 0)
		r = 1;
	mail_email_clear(&em);
	return r;
}

int
mail_email_destroy_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    struct mail_removed *rm, struct buf *err)
{
	struct mail_email em;
	int r;

	memset(rm, 0, sizeof(*rm));
	r = mail_email_get_txn(t, acct, email, &em, err);
	if (r == 1 && em.nmembers == 0) {
		buf_addf(err, "email %u: no membership", email);
		r = -1;
	}
	while (r == 1 && em.nmembers > 1)
		if ((r = mail_member_remove(t, acct, &em, 0, &rm->modseq,
		    err)) == 0)
			r = 1;
	if (r == 1 && (r = remove_at(t, acct, &em, 0, rm, err)) == 0)
		r = 1;
	mail_email_clear(&em);
	return r;
}

/* ---- copy and move ---- */

/* copy_to - em into dst unless it is there; a->existed if it was */
static int
copy_to(struct kv_txn *t, uint32_t acct, struct mail_email *em, uint32_t dst,
    struct mail_added *a, struct buf *err)
{
	struct mail_member mem;
	size_t i;
	int r;

	memset(a, 0, sizeof(*a));
	a->email = em->id;
	a->thread = em->thread;
	if (mail_member_find(em, dst, &i)) {
		a->existed = true;
		a->uid = em->members[i].uid;
		a->modseq = em->members[i].modseq;
		return 0;
	}
	if ((r = mail_member_add(t, acct, em, dst, &mem, err)) < 0)
		return r;
	a->uid = mem.uid;
	a->modseq = mem.modseq;
	return 0;
}

int
mail_email_copy_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    uint32_t mbox, struct mail_added *a, struct buf *err)
{
	struct mail_email em;
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = mail_email_get_txn(t, acct, email, &em, err)) <= 0)
		goto out;
	if ((r = copy_to(t, acct, &em, mbox, a, err)) < 0)
		goto out;
	if (!a->existed &&
	    ((r = mail_email_put(t, acct, &em, err)) < 0 ||
	    (r = mail_log_append_txn(t, acct, MAIL_LOG_EMAIL,
	    MAIL_LOG_UPDATED, em.id, &a->state, err)) < 0))
		goto out;
	r = 1;
out:
	mail_email_clear(&em);
	return r;
}

int
mail_msg_copy_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint32_t dst, struct mail_added *a, struct buf *err)
{
	struct mail_msg msg;
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = mail_msg_get_txn(t, acct, mbox, uid, &msg, err)) <= 0)
		return r;
	return mail_email_copy_txn(t, acct, msg.email, dst, a, err);
}

int
mail_msg_move_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint32_t dst, struct mail_added *a, struct buf *err)
{
	struct mail_email em;
	uint64_t xmodseq;
	size_t i;
	int r;

	memset(a, 0, sizeof(*a));
	if ((r = mail_msg_email(t, acct, mbox, uid, &em, &i, err)) <= 0)
		goto out;
	if (dst == mbox) {
		a->email = em.id;
		a->thread = em.thread;
		a->uid = uid;
		a->modseq = em.members[i].modseq;
		a->existed = true;
		goto out;
	}
	/* copy first: the email never has zero memberships, so a MOVE
	 * never destroys it (and needs no blob work) */
	if ((r = copy_to(t, acct, &em, dst, a, err)) < 0 ||
	    (r = mail_member_remove(t, acct, &em, i, &xmodseq, err)) < 0 ||
	    (r = mail_email_put(t, acct, &em, err)) < 0 ||
	    (r = mail_log_append_txn(t, acct, MAIL_LOG_EMAIL,
	    MAIL_LOG_UPDATED, em.id, &a->state, err)) < 0)
		goto out;
	r = 1;
out:
	mail_email_clear(&em);
	return r;
}

struct copy_op {
	uint32_t acct, mbox, uid, dst;
	bool move;
	struct mail_added a;
	int found;
};

static int
copy_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct copy_op *op = arg;

	op->found = op->move ?
	    mail_msg_move_txn(t, op->acct, op->mbox, op->uid, op->dst, &op->a,
	    err) :
	    mail_msg_copy_txn(t, op->acct, op->mbox, op->uid, op->dst, &op->a,
	    err);
	return op->found < 0 ? op->found : 0;
}

static int
copy_run(struct mail *m, bool move, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint32_t dst, struct mail_added *a, struct buf *err)
{
	struct copy_op op;

	memset(&op, 0, sizeof(op));
	op.acct = acct;
	op.mbox = mbox;
	op.uid = uid;
	op.dst = dst;
	op.move = move;
	if (kv_run(mail_kv(m), KV_WRITE, copy_txn, &op, err) < 0)
		return -1;
	if (a != NULL)
		*a = op.a;
	return op.found;
}

int
mail_msg_copy(struct mail *m, uint32_t acct, uint32_t mbox, uint32_t uid,
    uint32_t dst, struct mail_added *a, struct buf *err)
{
	return copy_run(m, false, acct, mbox, uid, dst, a, err);
}

int
mail_msg_move(struct mail *m, uint32_t acct, uint32_t mbox, uint32_t uid,
    uint32_t dst, struct mail_added *a, struct buf *err)
{
	return copy_run(m, true, acct, mbox, uid, dst, a, err);
}
