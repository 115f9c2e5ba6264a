/*
 * mail_order.c - every mailbox's emails in receivedAt order (see mail.h,
 * "receivedAt order"): the index JMAP's Email/query reads for its common
 * shape (inMailbox, sorted by receivedAt, threads collapsed or not), so
 * that a page of a mailbox of 100,000 emails costs the page and not
 * 100,000 email records.
 *
 * Keys (store/LAYOUT.md):
 *   'O' acct mbox                    -> the number of entries below (8
 *                                       bytes, kv_add); absent at 0
 *   'O' acct mbox ~received email    -> thread (u32)
 * where ~received is received_at as a u64 with the sign bit flipped (as
 * in 'T') and then every bit inverted, so a forward scan is newest
 * first and, among emails received in the same second, by email id
 * ascending: Email/query's default order, ties broken as its comparator
 * breaks them (jmap_email_query.c).
 *
 * Kept by mail_member_add/mail_member_remove in the transaction that
 * writes or deletes the membership's 'U' key, so an entry exists exactly
 * while the membership does.  UID order is arrival order in the
 * mailbox, which is not receivedAt order: a COPY or MOVE keeps the
 * email's receivedAt (IMAP's INTERNALDATE), and APPEND and Email/import
 * set it; hence an index of its own rather than the 'U' keys.
 *
 * The count makes the index checkable in O(1): it equals the mailbox
 * record's total exactly when the index is whole.  A store written
 * before the index existed has mailboxes without it; a reader that finds
 * the count short calls mail_order_rebuild once (one write transaction
 * reading every email of the mailbox), after which deliveries keep it.
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/mail_priv.h"

#define ORDER_KEY_LEN 21	/* 'O' acct mbox ~received email */
#define ORDER_PREFIX_LEN 9	/* 'O' acct mbox: the count's key */

static uint64_t
recv_key(int64_t received)
{
	return ~((uint64_t)received ^ (UINT64_C(1) << 63));
}

static int64_t
recv_of_key(uint64_t k)
{
	return (int64_t)(~k ^ (UINT64_C(1) << 63));
}

static void
order_key(struct buf *k, uint32_t acct, uint32_t mbox, int64_t received,
    uint32_t email)
{
	mail_key_id(k, 'O', acct, mbox);
	key_u64(k, recv_key(received));
	key_u32(k, email);
}

/* count_add - the entry count by dir; the key goes when it reaches 0 */
static int
count_add(struct kv_txn *t, uint32_t acct, uint32_t mbox, int dir,
    struct buf *err)
{
	struct buf k = BUF_INIT(0);
	int64_t n = 0;
	int r;

	mail_key_id(&k, 'O', acct, mbox);
	r = kv_add(t, k.data, k.len, dir, &n, err);
	if (r == 0 && n < 0) {
		buf_addf(err, "mailbox %u: receivedAt index count out of step",
		    mbox);
		r = -1;
	} else if (r == 0 && n == 0) {
		r = kv_delete(t, k.data, k.len, err);
	}
	buf_free(&k);
	return r;
}

int
mail_order_add_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const struct mail_email *em, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	order_key(&k, acct, mbox, em->received_at, em->id);
	key_u32(&v, em->thread);
	if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) == 0)
		r = count_add(t, acct, mbox, 1, err);
	buf_free(&k);
	buf_free(&v);
	return r;
}

int
mail_order_remove_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const struct mail_email *em, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	order_key(&k, acct, mbox, em->received_at, em->id);
	/* absent: a mailbox whose index was never built (mail_order_rebuild
	 * repairs the count when a reader needs it); no count to take from */
	if ((r = kv_get(t, k.data, k.len, &v, err)) == 1 &&
	    (r = kv_delete(t, k.data, k.len, err)) == 0)
		r = count_add(t, acct, mbox, -1, err);
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

int
mail_order_count_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint64_t *n_r, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	*n_r = 0;
	mail_key_id(&k, 'O', acct, mbox);
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && (v.len != 8 || (int64_t)get_u64(v.data) < 0)) {
		buf_addf(err, "mailbox %u: malformed receivedAt index count",
		    mbox);
		r = -1;
	} else if (r == 1) {
		*n_r = get_u64(v.data);
	}
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

/* ---- reading ---- */

static int
entry_of(const void *kp, size_t kl, const void *vp, size_t vl,
    struct mail_order_entry *e, struct buf *err)
{
	const unsigned char *k = kp;

	if (kl != ORDER_KEY_LEN || vl < 4) {
		buf_addf(err, "malformed receivedAt index key");
		return -1;
	}
	e->received = recv_of_key(get_u64(k + 9));
	e->email = get_u32(k + 17);
	e->thread = get_u32(vp);
	return 0;
}

/* emit - fn's answer as the scan's: 0 go on, 1 stop, -1 */
static int
emit(mail_order_fn *fn, void *arg, const struct mail_order_entry *e,
    struct buf *err)
{
	int r = fn(arg, e);

	if (r < 0) {
		if (err->len == 0)
			buf_addf(err, "receivedAt index scan stopped");
		return -1;
	}
	return r > 0 ? 1 : 0;
}

int
mail_order_scan_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    bool oldest_first, mail_order_fn *fn, void *arg, struct buf *err)
{
	struct buf start = BUF_INIT(0);
	unsigned char end[KV_KEY_MAX];
	size_t elen, kl, vl, ngroup = 0, capgroup = 0;
	struct mail_order_entry e, *group = NULL;
	struct kv_iter *it = NULL;
	const void *kp, *vp;
	int r;

	/* from just past the count's key to the end of the prefix */
	mail_key_id(&start, 'O', acct, mbox);
	elen = kv_prefix_end(start.data, start.len, end);
	key_u8(&start, 0);
	r = kv_iter_new(t, start.data, start.len, elen > 0 ? end : NULL, elen,
	    oldest_first, &it, err);
	while (r == 0 && (r = kv_iter_next(it, &kp, &kl, &vp, &vl, err)) == 1) {
		if ((r = entry_of(kp, kl, vp, vl, &e, err)) < 0)
			break;
		if (!oldest_first) {
			r = emit(fn, arg, &e, err);
			continue;
		}
		/*
		 * Backwards, one second's emails come by email id descending;
		 * they are held until the second changes and given ascending,
		 * the order ties have in every sort
		 */
		if (ngroup > 0 && group[0].received != e.received) {
			for (size_t i = ngroup; r == 0 && i > 0; i--)
				r = emit(fn, arg, &group[i - 1], err);
			ngroup = 0;
		}
		if (ngroup == capgroup) {
			capgroup = capgroup ? capgroup * 2 : 16;
			group = xreallocarray(group, capgroup, sizeof(*group));
		}
		group[ngroup++] = e;
	}
	for (size_t i = ngroup; r == 0 && i > 0; i--)
		r = emit(fn, arg, &group[i - 1], err);
	kv_iter_free(&it);
	free(group);
	buf_free(&start);
	return r < 0 ? r : 0;
}

/* ---- building it for a mailbox that has none ---- */

struct rebuild_op {
	uint32_t acct, mbox;
	struct buf emails;	/* u32 each, from the 'U' scan */
	uint64_t entries;
};

static int
collect_email(void *arg, const struct mail_msg *msg)
{
	struct rebuild_op *op = arg;

	key_u32(&op->emails, msg->email);
	return 0;
}

static int
rebuild_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct rebuild_op *op = arg;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	buf_reset(&op->emails);
	op->entries = 0;
	mail_key_id(&k, 'O', op->acct, op->mbox);
	if ((r = mail_delete_prefix(t, &k, err)) < 0 ||
	    (r = mail_msg_list_txn(t, op->acct, op->mbox, 1, collect_email, op,
	    err)) < 0)
		goto out;
	for (size_t i = 0; i < op->emails.len; i += 4) {
		struct mail_email em;
		uint32_t id = get_u32(op->emails.data + i);

		memset(&em, 0, sizeof(em));
		r = mail_email_get_txn(t, op->acct, id, &em, err);
		if (r == 0) {
			buf_addf(err, "mailbox %u: email %u of a 'U' key "
			    "missing", op->mbox, id);
			r = -1;
		}
		if (r < 0)
			goto out;
		order_key(&k, op->acct, op->mbox, em.received_at, em.id);
		buf_reset(&v);
		key_u32(&v, em.thread);
		mail_email_clear(&em);
		if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) < 0)
			goto out;
		op->entries++;
	}
	r = 0;
	if (op->entries > 0) {
		mail_key_id(&k, 'O', op->acct, op->mbox);
		r = kv_add(t, k.data, k.len, (int64_t)op->entries, NULL, err);
	}
out:
	buf_free(&k);
	buf_free(&v);
	return r;
}

int
mail_order_rebuild(struct mail *m, uint32_t acct, uint32_t mbox,
    struct buf *err)
{
	struct rebuild_op op = { acct, mbox, BUF_INIT(0), 0 };
	int r;

	r = kv_run(mail_kv(m), KV_WRITE, rebuild_txn, &op, err);
	buf_free(&op.emails);
	return r;
}
