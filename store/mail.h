/*
 * mail.h - the mail model over the data store: mailboxes with roles,
 * per-mailbox UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ, emails and their
 * memberships (each with its UID and MODSEQ), the change log and the
 * per-account quota usage.  The keys are those of store/LAYOUT.md ('C',
 * 'M', 'm', 'E', 'I', 'U', 'S', 'L', 'Q').
 *
 * Every function that takes a struct mail runs its own kv_run
 * transaction and blocks (disk): call it from worker threads only.  The
 * *_txn variants run inside a caller's transaction on the same struct kv
 * (for a delivery: blob_ref_txn, the email, the FTS postings and the 'P'
 * idempotency key commit together); they may return KV_CONFLICT, which
 * the caller passes on to kv_run.
 *
 * Invariants (kept because every change is one serialisable write
 * transaction):
 *   - UIDs are strictly increasing per mailbox and never reused; they come
 *     from the mailbox record's uidnext in the transaction that adds the
 *     membership.
 *   - MODSEQs are strictly increasing per mailbox (from highestmodseq the
 *     same way); highestmodseq is the largest MODSEQ handed out.
 *   - UIDVALIDITY never repeats within an account, even for a mailbox
 *     deleted and recreated under the same name: it is the creation time
 *     in seconds, bumped to last+1 when not greater than the last value
 *     used in the account ('C' acct "uidvalidity").  u32 seconds last
 *     until 2106.
 *   - Mailbox and email ids come from counters and are never reused.
 *   - The change log's states ('C' acct "state") increase by one per
 *     change, across all types of one account.
 *
 * Errors: 0 (or 1/0 where documented), -1 with one line appended to err,
 * or KV_CONFLICT from the *_txn variants.
 *
 * Not done yet:
 * XXX threads ('T', 'R'): thread id in the email record, threading by
 *     Message-ID/References/In-Reply-To at delivery.
 * XXX flag and keyword changes (STORE, Email/set): must move the 'S' key
 *     to a new MODSEQ, bump highestmodseq, and log "updated".  Only the
 *     system-flag bitmask exists; custom keywords need a list field.
 * XXX expunge / Email destroy: 'X' keys for QRESYNC, blob_unref_txn,
 *     quota decrement, "destroyed" in the change log.
 * XXX COPY/MOVE (a second membership of an existing email).
 * XXX JMAP /changes API over 'L' (only mail_log_scan exists), with
 *     maxChanges and a cannotCalculateChanges horizon after pruning.
 * XXX rename/delete mailboxes, subscriptions, sort order, counts
 *     (total/unread) in the mailbox record.
 * XXX quota limits: only usage is counted, nothing enforces a limit.
 */
#ifndef POSTERN_MAIL_H
#define POSTERN_MAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "store/blob.h"
#include "store/kv.h"

#define MAIL_NAME_MAX 255u	/* bytes in one mailbox name (one level) */

enum mail_role {
	MAIL_ROLE_NONE = 0,
	MAIL_ROLE_INBOX,
	MAIL_ROLE_SENT,
	MAIL_ROLE_DRAFTS,
	MAIL_ROLE_TRASH,
	MAIL_ROLE_JUNK,
	MAIL_ROLE_ARCHIVE,
};

/* system flags (IMAP) / the matching JMAP keywords, a bitmask */
#define MAIL_F_SEEN	(1u << 0)	/* \Seen      $seen */
#define MAIL_F_ANSWERED	(1u << 1)	/* \Answered  $answered */
#define MAIL_F_FLAGGED	(1u << 2)	/* \Flagged   $flagged */
#define MAIL_F_DELETED	(1u << 3)	/* \Deleted   (no keyword) */
#define MAIL_F_DRAFT	(1u << 4)	/* \Draft     $draft */
#define MAIL_F_FORWARDED (1u << 5)	/* $Forwarded $forwarded */
#define MAIL_F_JUNK	(1u << 6)	/* $Junk      $junk */
#define MAIL_F_NOTJUNK	(1u << 7)	/* $NotJunk   $notjunk */

/* change-log types ('L' acct type state) */
enum mail_log_type {
	MAIL_LOG_MAILBOX = 'm',
	MAIL_LOG_EMAIL = 'e',
};

enum mail_log_op {
	MAIL_LOG_CREATED = 'c',
	MAIL_LOG_UPDATED = 'u',
	MAIL_LOG_DESTROYED = 'd',
};

struct mail;

struct mail_mailbox {
	uint32_t id;
	uint32_t parent;	/* 0 = top level */
	char *name;		/* owned; one level, never holds NUL */
	enum mail_role role;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint64_t highestmodseq;	/* 0 until the first email */
	bool subscribed;
};

/* one membership as IMAP sees it ('U' acct mbox uid) */
struct mail_msg {
	uint32_t uid;
	uint32_t email;
	uint32_t flags;		/* MAIL_F_* */
	uint64_t modseq;
};

/* an email to add to one mailbox */
struct mail_new_email {
	uint32_t mbox;
	struct blob_id blob;	/* the caller holds / takes its reference */
	uint64_t size;
	int64_t received_at;	/* seconds since the epoch */
	uint32_t flags;		/* MAIL_F_* */
	const void *mime;	/* mime_info_encode() bytes, may be NULL */
	size_t mime_len;
};

/* what mail_email_add assigned */
struct mail_added {
	uint32_t email;
	uint32_t uid;
	uint64_t modseq;
	uint64_t state;		/* the change-log state of "created" */
};

/*
 * callbacks: 0 goes on, a positive value stops the scan (the call returns
 * 0), a negative one stops it and the call returns -1
 */
typedef int mail_mailbox_fn(void *arg, const struct mail_mailbox *mb);
typedef int mail_msg_fn(void *arg, const struct mail_msg *msg);
typedef int mail_log_fn(void *arg, uint64_t state, enum mail_log_op op,
    uint32_t id);

/* mail_new - the model over kv, which must outlive it */
struct mail *mail_new(struct kv *kv);
/* mail_free - accepts NULL, sets *m to NULL */
void mail_free(struct mail **m);

const char *mail_role_name(enum mail_role role);

/* mail_mailbox_clear - free mb's strings and zero it */
void mail_mailbox_clear(struct mail_mailbox *mb);

/*
 * mail_mailbox_create - a new mailbox under parent (0 = top level, else
 * an existing mailbox); -1 when the name is empty, too long, holds a
 * control character, or exists under the same parent (names compare
 * byte for byte), and for a top-level name that is INBOX in another case
 * (RFC 3501 5.1: the IMAP layer maps those to "INBOX" before a find).
 * Its id into *id_r (may be NULL).
 */
int mail_mailbox_create(struct mail *m, uint32_t acct, uint32_t parent,
    const char *name, enum mail_role role, uint32_t *id_r, struct buf *err)
    WARN_UNUSED;
int mail_mailbox_create_txn(struct kv_txn *t, uint32_t acct, uint32_t parent,
    const char *name, enum mail_role role, uint32_t *id_r, struct buf *err)
    WARN_UNUSED;
/* mail_mailbox_get - 1 and *mb filled (clear it after), 0 unknown, -1 */
int mail_mailbox_get(struct mail *m, uint32_t acct, uint32_t mbox,
    struct mail_mailbox *mb, struct buf *err) WARN_UNUSED;
int mail_mailbox_get_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    struct mail_mailbox *mb, struct buf *err) WARN_UNUSED;
/* mail_mailbox_find - 1 and the id in *id_r, 0 when there is none, -1 */
int mail_mailbox_find(struct mail *m, uint32_t acct, uint32_t parent,
    const char *name, uint32_t *id_r, struct buf *err) WARN_UNUSED;
/* mail_mailbox_list - every mailbox of acct in id order */
int mail_mailbox_list(struct mail *m, uint32_t acct, mail_mailbox_fn *fn,
    void *arg, struct buf *err) WARN_UNUSED;
/*
 * mail_ensure_defaults - create the top-level INBOX, Sent, Drafts, Trash,
 * Junk and Archive with their roles where no mailbox of that name exists
 * (on first delivery or login); idempotent, one transaction.  A mailbox
 * of that name already there is kept as it is, whatever its role.
 */
int mail_ensure_defaults(struct mail *m, uint32_t acct, struct buf *err)
    WARN_UNUSED;
int mail_ensure_defaults_txn(struct kv_txn *t, uint32_t acct,
    struct buf *err) WARN_UNUSED;

/*
 * mail_email_add_txn - a new email in mailbox e->mbox, inside t: email id,
 * 'E' record, 'I' MIME info, 'U' and 'S' keys, the mailbox's uidnext and
 * highestmodseq, the quota and a "created" change record.  Does not
 * touch the blob's reference count (blob_ref_txn is the caller's).
 * -1 when the mailbox does not exist or its UIDs are exhausted.
 */
int mail_email_add_txn(struct mail *m, struct kv_txn *t, uint32_t acct,
    const struct mail_new_email *e, struct mail_added *added_r,
    struct buf *err) WARN_UNUSED;
/* mail_email_add - the same in a transaction of its own */
int mail_email_add(struct mail *m, uint32_t acct,
    const struct mail_new_email *e, struct mail_added *added_r,
    struct buf *err) WARN_UNUSED;

/*
 * Building blocks for write transactions, shared by store/mail*.c; the
 * later JMAP /set and IMAP STORE/COPY code composes them the same way.
 */
/* mail_kv - the store m was made on */
struct kv *mail_kv(struct mail *m);
/* mail_counter_next_txn - the next id (1, 2, ...) from 'C' acct name */
int mail_counter_next_txn(struct kv_txn *t, uint32_t acct, const char *name,
    uint32_t *id_r, struct buf *err) WARN_UNUSED;
/* mail_log_append_txn - one change record; its state into *state_r */
int mail_log_append_txn(struct kv_txn *t, uint32_t acct,
    enum mail_log_type type, enum mail_log_op op, uint32_t id,
    uint64_t *state_r, struct buf *err) WARN_UNUSED;
/* mail_mailbox_put_txn - write mb's record (not its name index) as is */
int mail_mailbox_put_txn(struct kv_txn *t, uint32_t acct,
    const struct mail_mailbox *mb, struct buf *err) WARN_UNUSED;

/* mail_msg_list - memberships of mbox with uid >= first_uid, UID order */
int mail_msg_list(struct mail *m, uint32_t acct, uint32_t mbox,
    uint32_t first_uid, mail_msg_fn *fn, void *arg, struct buf *err)
    WARN_UNUSED;
/*
 * mail_msg_changed_since - memberships of mbox whose MODSEQ is greater
 * than modseq, in MODSEQ order (CONDSTORE CHANGEDSINCE, RFC 7162).
 */
int mail_msg_changed_since(struct mail *m, uint32_t acct, uint32_t mbox,
    uint64_t modseq, mail_msg_fn *fn, void *arg, struct buf *err)
    WARN_UNUSED;

/* mail_log_scan - change records of one type with state > since */
int mail_log_scan(struct mail *m, uint32_t acct, enum mail_log_type type,
    uint64_t since, mail_log_fn *fn, void *arg, struct buf *err)
    WARN_UNUSED;
/* mail_quota_used - bytes counted against acct ('Q') */
int mail_quota_used(struct mail *m, uint32_t acct, uint64_t *used_r,
    struct buf *err) WARN_UNUSED;

#endif
