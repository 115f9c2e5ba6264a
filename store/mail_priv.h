/*
 * mail_priv.h - internals shared by store/mail*.c and by nothing else:
 * key builders, the email record and 'U' value codecs, and the steps the
 * public *_txn functions of mail.h are made of.  Every step runs inside
 * the caller's write transaction and returns 0 (or 1/0 where said), -1
 * with one line in err, or KV_CONFLICT.
 */
#ifndef POSTERN_MAIL_PRIV_H
#define POSTERN_MAIL_PRIV_H

#include "store/mail.h"
#include "store/rec.h"

/* ---- keys (store/LAYOUT.md) ---- */

/* mail_key_acct - space acct */
static inline void
mail_key_acct(struct buf *k, uint8_t space, uint32_t acct)
{
	buf_reset(k);
	key_u8(k, space);
	key_u32(k, acct);
}

/* mail_key_counter - 'C' acct name 0x00 */
static inline void
mail_key_counter(struct buf *k, uint32_t acct, const char *name)
{
	mail_key_acct(k, 'C', acct);
	key_str(k, name);
}

/* mail_key_id - space acct id: 'E'/'I' acct email, 'M' acct mbox, the
 * 'U'/'S'/'X'/'H' prefix of a mailbox, the 'T' prefix of a thread */
static inline void
mail_key_id(struct buf *k, uint8_t space, uint32_t acct, uint32_t id)
{
	mail_key_acct(k, space, acct);
	key_u32(k, id);
}

/* mail_key_msg - 'U' acct mbox uid */
static inline void
mail_key_msg(struct buf *k, uint32_t acct, uint32_t mbox, uint32_t uid)
{
	mail_key_id(k, 'U', acct, mbox);
	key_u32(k, uid);
}

/* mail_key_modseq - 'S'/'X' acct mbox modseq */
static inline void
mail_key_modseq(struct buf *k, uint8_t space, uint32_t acct, uint32_t mbox,
    uint64_t modseq)
{
	mail_key_id(k, space, acct, mbox);
	key_u64(k, modseq);
}

/* mail_is_unseen / mail_is_unread - the IMAP and JMAP count classes */
static inline bool
mail_is_unseen(uint32_t flags)
{
	return (flags & MAIL_F_SEEN) == 0;
}

static inline bool
mail_is_unread(uint32_t flags)
{
	return (flags & (MAIL_F_SEEN | MAIL_F_DRAFT)) == 0;
}

/* mail_first_key - 1 when some key starts with prefix, 0 when none */
int mail_first_key(struct kv_txn *t, const struct buf *prefix,
    struct buf *key_r, struct buf *err) WARN_UNUSED;
/* mail_delete_prefix - every key that starts with prefix */
int mail_delete_prefix(struct kv_txn *t, const struct buf *prefix,
    struct buf *err) WARN_UNUSED;

/* ---- the email record ('E') and the 'U' value ---- */

/* mail_email_put - write em's record (mail.c) */
int mail_email_put(struct kv_txn *t, uint32_t acct,
    const struct mail_email *em, struct buf *err) WARN_UNUSED;
/* mail_uval_encode - 'U' value: email flags modseq, then the keywords */
void mail_uval_encode(struct buf *v, const struct mail_email *em,
    uint64_t modseq);
/* mail_msg_get_txn - the 'U' value of (mbox, uid): 1, 0 absent, -1;
 * msg->keywords is left NULL */
int mail_msg_get_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t uid, struct mail_msg *msg, struct buf *err) WARN_UNUSED;
/* mail_msg_email - the email of (mbox, uid) (clear it after) and the
 * index of that membership: 1, 0 no such uid, -1 (mail_member.c) */
int mail_msg_email(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t uid, struct mail_email *em, size_t *i_r, struct buf *err)
    WARN_UNUSED;
/* mail_member_find - true with the index of em's membership of mbox */
bool mail_member_find(const struct mail_email *em, uint32_t mbox,
    size_t *i_r);

/* ---- memberships (mail_member.c) ---- */

/*
 * mail_member_add - em into mbox: UID, MODSEQ, counts, 'U', 'S', a
 * "counts" record for the mailbox; appended to em->members (the caller
 * writes the record).  -1 when mbox does not exist or is exhausted.
 */
int mail_member_add(struct kv_txn *t, uint32_t acct, struct mail_email *em,
    uint32_t mbox, struct mail_member *mem_r, struct buf *err) WARN_UNUSED;
/*
 * mail_member_remove - em's membership i out: 'U', 'S' deleted, 'X' with
 * a new MODSEQ (into *xmodseq_r), counts, a "counts" record; removed
 * from em->members (the caller writes or destroys the record).
 */
int mail_member_remove(struct kv_txn *t, uint32_t acct, struct mail_email *em,
    size_t i, uint64_t *xmodseq_r, struct buf *err) WARN_UNUSED;
/*
 * mail_counts_adjust - mb's counts for one email of thread with flags
 * coming in (dir 1) or going out (dir -1), and its 'H' acct mbox thread
 * key; the caller writes mb.
 */
int mail_counts_adjust(struct kv_txn *t, uint32_t acct,
    struct mail_mailbox *mb, uint32_t thread, uint32_t flags, int dir,
    struct buf *err) WARN_UNUSED;

/* ---- threads (mail_thread.c) ---- */

/*
 * mail_thread_assign - the thread of a new email (see mail_thread.c),
 * its 'T' key, the 'R' keys of its msg-ids, a thread change record.
 */
int mail_thread_assign(struct kv_txn *t, uint32_t acct,
    const struct mime_info *info, uint32_t email, int64_t received_at,
    uint32_t *thread_r, struct buf *err) WARN_UNUSED;
/* mail_thread_remove - a destroyed email out of its thread; "updated",
 * or "destroyed" when it was the last one */
int mail_thread_remove(struct kv_txn *t, uint32_t acct, uint32_t thread,
    uint32_t email, int64_t received_at, struct buf *err) WARN_UNUSED;

/* ---- keywords (mail_flags.c) ---- */

/*
 * mail_keywords_apply - em's flags and keywords after c (a new sorted,
 * unique, lowercase keyword array replaces em's): 1 when they changed,
 * 0 when not, -1 for an invalid keyword or too many (em unchanged)
 */
int mail_keywords_apply(struct mail_email *em, const struct mail_flag_change *c,
    struct buf *err) WARN_UNUSED;

#endif
