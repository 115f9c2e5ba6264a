/*
 * mail.h - the mail model over the data store: mailboxes with roles,
 * per-mailbox UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ and counts, emails and
 * their memberships (each with its UID and MODSEQ), flags and keywords,
 * threads, expunge/destroy, COPY/MOVE, the change log with JMAP /changes,
 * and the per-account quota usage, and the IMAP annotations.  The keys
 * are those of store/LAYOUT.md ('C', 'M', 'm', 'E', 'I', 'U', 'S', 'X',
 * 'H', 'L', 'T', 'R', 'Q', 'N', 'O').
 *
 * Every function that takes a struct mail runs its own kv_run
 * transaction and blocks (disk): call it from worker threads only.  The
 * *_txn variants run inside a caller's transaction on the same struct kv
 * (for a delivery: blob_ref_txn, the email, the FTS postings and the 'P'
 * idempotency key commit together); they may return KV_CONFLICT, which
 * the caller passes on to kv_run.  A *_txn call that returns -1 may have
 * written part of its work: the caller must not commit (kv_run aborts).
 *
 * Invariants (kept because every change is one serialisable write
 * transaction):
 *   - UIDs are strictly increasing per mailbox and never reused; they come
 *     from the mailbox record's uidnext in the transaction that adds the
 *     membership (delivery, COPY, MOVE alike).
 *   - MODSEQs are strictly increasing per mailbox (from highestmodseq the
 *     same way); highestmodseq is the largest MODSEQ handed out.  Every
 *     add, flag change and expunge of a membership takes a new one.
 *   - UIDVALIDITY never repeats within an account, even for a mailbox
 *     deleted and recreated under the same name: it is the creation time
 *     in seconds, bumped to last+1 when not greater than the last value
 *     used in the account ('C' acct "uidvalidity").  u32 seconds last
 *     until 2106.
 *   - Mailbox, email and thread ids come from counters and are never
 *     reused.
 *   - The change log's states ('C' acct "state") increase by one per
 *     change record, across all types of one account.
 *   - An email exists ('E') exactly while it has at least one membership;
 *     the quota usage ('Q') is the sum of the sizes of existing emails
 *     (one per email, however many mailboxes hold it), and the mailbox
 *     counts are those of its 'U' keys.
 *
 * Flags and keywords belong to the email, not to a membership (JMAP
 * semantics, RFC 8621 4.1.1): a STORE in one mailbox changes the email
 * in every mailbox that holds it, and each of those memberships takes a
 * new MODSEQ.  \Deleted is such a flag too; IMAP EXPUNGE removes only
 * the membership of the mailbox it runs in.
 *
 * Blob references and full-text postings are per email, not per
 * membership: COPY and MOVE need no blob or FTS work.  The mail layer
 * owns neither store: when an email is destroyed (its last membership
 * removed) it says so in struct mail_removed and the caller drops the
 * blob reference (blob_unref_txn) and the FTS document in the same
 * transaction.  For that reason there are no self-committing variants of
 * the calls that may destroy an email.
 *
 * Errors: 0 (or 1/0 where documented), -1 with one line appended to err,
 * or KV_CONFLICT from the *_txn variants.
 *
 * Not done yet:
 * XXX quota limits: only usage is counted here; store_msg_add_txn
 *     enforces a limit at delivery (STORE_OVER_QUOTA); COPY adds no
 *     bytes, so it needs none.
 * XXX nothing calls mail_log_prune yet: a periodic job (cli/serve) should
 *     keep the log to a bounded number of states per account.
 * XXX 'X' (expunged) keys are kept for ever: a prune below a MODSEQ, with
 *     a per-mailbox horizon so QRESYNC can fall back (RFC 7162 3.2.5.2),
 *     is missing.
 * XXX 'R' entries (msg-id -> thread) of destroyed threads stay until
 *     displaced (at most MAIL_THREAD_REFS per key); lookups skip them
 *     since the thread has no 'T' key left.
 * XXX flags are per email: \Deleted set through one mailbox shows in
 *     every mailbox holding the email (a per-membership \Deleted bit in
 *     'U' would fix it if IMAP clients mind).
 * XXX Mailbox/set role changes and IMAP's RENAME INBOX (RFC 3501 6.3.5:
 *     create + move every message) are not here.
 * XXX a mailbox delete with its emails is one transaction, as long as the
 *     mailbox is big; batching would need a "being deleted" state.
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
#include "store/mime.h"

#define MAIL_NAME_MAX 255u	/* bytes in one mailbox name (one level) */
#define MAIL_DEPTH_MAX 256u	/* mailbox levels (parent chain) */
#define MAIL_KEYWORD_MAX 255u	/* bytes in one keyword (RFC 8621 4.1.1) */
#define MAIL_KEYWORDS_MAX 100u	/* custom keywords on one email */
#define MAIL_THREAD_IDS 100u	/* msg-ids of one email used for threading */
#define MAIL_THREAD_REFS 8u	/* threads remembered per msg-id ('R') */
#define MAIL_CHANGES_MAX 10000u	/* ids in one mail_changes answer */

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
#define MAIL_F_ALL	0xffu

/* change-log types ('L' acct type state) */
enum mail_log_type {
	MAIL_LOG_MAILBOX = 'm',
	MAIL_LOG_EMAIL = 'e',
	MAIL_LOG_THREAD = 't',	/* a thread's email list changed */
	MAIL_LOG_IDENTITY = 'i',	/* JMAP Identity (mail_obj.c) */
	MAIL_LOG_SUBMISSION = 's',	/* JMAP EmailSubmission (mail_obj.c) */
	MAIL_LOG_VACATION = 'v',	/* the VacationResponse (only the
					   last record is kept) */
};

enum mail_log_op {
	MAIL_LOG_CREATED = 'c',
	MAIL_LOG_UPDATED = 'u',
	MAIL_LOG_DESTROYED = 'd',
	MAIL_LOG_COUNTS = 'n',	/* mailbox: only its counts changed (an
				   "updated" for /changes, which can then
				   name the properties) */
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
	uint32_t sort_order;	/* JMAP sortOrder, 0 by default */
	/* counts, kept in the record by every membership and flag change */
	uint32_t total;		/* emails (= IMAP messages) */
	uint32_t unseen;	/* without \Seen: IMAP STATUS UNSEEN */
	uint32_t unread;	/* with neither $seen nor $draft: JMAP
				   unreadEmails (RFC 8621 2) */
	uint32_t threads;	/* threads with an email here: totalThreads */
	uint32_t unread_threads; /* threads with an unread (as above) email
				   here: unreadThreads */
};

/*
 * one membership as IMAP sees it ('U' acct mbox uid); for
 * mail_msg_vanished_since only uid and modseq (the expunge's) are set
 */
struct mail_msg {
	uint32_t uid;
	uint32_t email;
	uint32_t flags;		/* MAIL_F_* */
	uint64_t modseq;
	const char *keywords;	/* custom keywords, lowercase, separated by
				   one space, "" for none: what FETCH FLAGS
				   sends after the system flags.  Valid during
				   the callback only */
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
	const struct mime_info *info;	/* the parsed message, for threading
					   (Message-ID, In-Reply-To,
					   References, base subject); NULL =
					   a thread of its own */
	const char *const *keywords;	/* custom keywords (IMAP flag
					   atoms other than the system
					   flags; see mail_keyword_is_valid),
					   nkeywords of them; "$seen" and
					   the other system keywords are
					   turned into their MAIL_F_ bit */
	size_t nkeywords;
};

/* what mail_email_add / mail_email_copy assigned */
struct mail_added {
	uint32_t email;
	uint32_t uid;
	uint64_t modseq;
	uint64_t state;		/* the change-log state of "created" (add)
				   or "updated" (copy, move) */
	uint32_t thread;
	bool existed;		/* copy/move: the email was in the target
				   mailbox already; uid and modseq are that
				   membership's, nothing was written */
};

/* one membership as the email record keeps it */
struct mail_member {
	uint32_t mbox;
	uint32_t uid;
	uint64_t modseq;	/* the membership's current MODSEQ */
};

/* the email record ('E'), mail_email_get */
struct mail_email {
	uint32_t id;
	struct blob_id blob;
	uint64_t size;
	int64_t received_at;
	int64_t created;	/* when the record was written (seconds) */
	uint32_t flags;		/* MAIL_F_* */
	uint32_t thread;	/* never 0 */
	char **keywords;	/* owned; custom keywords, lowercase, sorted,
				   unique */
	size_t nkeywords;
	struct mail_member *members;	/* owned; at most one per mailbox,
					   in the order they were added */
	size_t nmembers;
};

/*
 * what a membership removal did: destroyed is true when it was the
 * email's last one, and then the caller must drop the blob reference
 * (blob_unref_txn) and the FTS document of email in the same transaction
 */
struct mail_removed {
	bool destroyed;
	uint32_t email;
	struct blob_id blob;
	uint64_t size;
	uint32_t uid;		/* the membership removed (none on destroy
				   of an email that had several: the last) */
	uint64_t modseq;	/* its expunge MODSEQ (the 'X' key) */
};

/* a flag and keyword change (IMAP STORE, JMAP Email/set keywords) */
struct mail_flag_change {
	bool replace;		/* flags = add, keywords = kw_add (STORE
				   FLAGS, a JMAP "keywords" replacement);
				   else add, then remove */
	uint32_t add, remove;	/* MAIL_F_* */
	const char *const *kw_add;	/* custom or system keywords */
	size_t nkw_add;
	const char *const *kw_remove;
	size_t nkw_remove;
};

struct mail_flag_result {
	bool modified;		/* UNCHANGEDSINCE failed: nothing written
				   (RFC 7162 3.1.3 MODIFIED) */
	bool changed;		/* false: the email already had those flags,
				   nothing written (no new MODSEQ) */
	uint32_t flags;		/* the email's flags afterwards */
	uint64_t modseq;	/* mail_msg_update_flags_txn: the
				   membership's MODSEQ afterwards */
	uint64_t state;		/* the "updated" change record (changed) */
};

/* a JMAP /changes answer (RFC 8620 5.2), mail_changes */
struct mail_changes {
	bool cannot_calculate;	/* since is older than the log kept or newer
				   than any state: nothing else is set */
	bool has_more;		/* call again from new_state */
	bool counts_only;	/* mailbox: every updated id changed only
				   its counts (JMAP updatedProperties) */
	uint64_t new_state;
	uint32_t *created, *updated, *destroyed;	/* owned */
	size_t ncreated, nupdated, ndestroyed;
};

/*
 * callbacks: 0 goes on, a positive value stops the scan (the call returns
 * 0), a negative one stops it and the call returns -1
 */
typedef int mail_mailbox_fn(void *arg, const struct mail_mailbox *mb);
typedef int mail_msg_fn(void *arg, const struct mail_msg *msg);
typedef int mail_log_fn(void *arg, uint64_t state, enum mail_log_op op,
    uint32_t id);
/* inside the transaction t that destroyed r->email: 0, or -1 with err
 * (or KV_CONFLICT), which the mail call returns */
typedef int mail_removed_fn(void *arg, struct kv_txn *t,
    const struct mail_removed *r, struct buf *err);

/* mail_new - the model over kv, which must outlive it */
struct mail *mail_new(struct kv *kv);
/* mail_free - accepts NULL, sets *m to NULL */
void mail_free(struct mail **m);

const char *mail_role_name(enum mail_role role);

/* mail_mailbox_clear - free mb's strings and zero it */
void mail_mailbox_clear(struct mail_mailbox *mb);
/* mail_email_clear - free em's arrays and zero it */
void mail_email_clear(struct mail_email *em);

/* ---- mailboxes ---- */

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
int mail_mailbox_find_txn(struct kv_txn *t, uint32_t acct, uint32_t parent,
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
 * mail_mailbox_rename - give mbox a new name and/or parent (0 = top
 * level): IMAP RENAME, JMAP Mailbox/set name/parentId.  1 done (also
 * when nothing changes), 0 unknown mbox, -1 when the name is invalid (as
 * for create) or taken under the new parent, the new parent does not
 * exist, is mbox or one of its descendants (no cycles), the chain would
 * pass MAIL_DEPTH_MAX levels, or mbox has the INBOX role (RFC 3501
 * 6.3.5's RENAME INBOX is the IMAP layer's: create + move).  UIDVALIDITY
 * and the UIDs are kept (RFC 3501 allows it; the messages did not
 * change).  Children move with it (they name their parent by id).
 */
int mail_mailbox_rename(struct mail *m, uint32_t acct, uint32_t mbox,
    uint32_t new_parent, const char *new_name, struct buf *err) WARN_UNUSED;
int mail_mailbox_rename_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t new_parent, const char *new_name, struct buf *err) WARN_UNUSED;
/*
 * mail_mailbox_delete_txn - 1 deleted, 0 unknown, -1 when mbox has the
 * INBOX role (RFC 3501 6.3.4), has child mailboxes, or holds messages
 * and remove_emails is false (JMAP onDestroyRemoveEmails).  With
 * remove_emails every membership is expunged as mail_msg_expunge_txn
 * does, and fn (may be NULL only when the caller owns no blobs, i.e. in
 * tests) is called for each email so destroyed.  All of the mailbox's
 * keys go ('M', 'm', 'U', 'S', 'X', 'H', and 'N': its annotations);
 * "destroyed" is logged.
 */
int mail_mailbox_delete_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    bool remove_emails, mail_removed_fn *fn, void *arg, struct buf *err)
    WARN_UNUSED;
/* mail_mailbox_delete - the same for an empty mailbox, in its own
 * transaction */
int mail_mailbox_delete(struct mail *m, uint32_t acct, uint32_t mbox,
    struct buf *err) WARN_UNUSED;
/*
 * mail_mailbox_subscribe, mail_mailbox_set_sort_order - 1 done (logged
 * "updated" when the value changed), 0 unknown mbox, -1.  Subscriptions
 * to names that do not exist (RFC 3501 6.3.6 allows them) are the IMAP
 * layer's.
 */
int mail_mailbox_subscribe(struct mail *m, uint32_t acct, uint32_t mbox,
    bool subscribed, struct buf *err) WARN_UNUSED;
int mail_mailbox_set_sort_order(struct mail *m, uint32_t acct, uint32_t mbox,
    uint32_t sort_order, struct buf *err) WARN_UNUSED;
int mail_mailbox_update_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const bool *subscribed, const uint32_t *sort_order, struct buf *err)
    WARN_UNUSED;

/* ---- emails ---- */

/*
 * mail_email_add_txn - a new email in mailbox e->mbox, inside t: email id,
 * thread (mail_thread.c: by Message-ID/In-Reply-To/References and base
 * subject), 'E' record, 'I' MIME info, 'U' and 'S' keys, the mailbox's
 * uidnext, highestmodseq and counts, the quota and the change records
 * (email created, mailbox counts, thread created or updated).  Does not
 * touch the blob's reference count (blob_ref_txn is the caller's).
 * -1 when the mailbox does not exist, its UIDs are exhausted, or a
 * keyword is invalid or there are more than MAIL_KEYWORDS_MAX.
 */
int mail_email_add_txn(struct mail *m, struct kv_txn *t, uint32_t acct,
    const struct mail_new_email *e, struct mail_added *added_r,
    struct buf *err) WARN_UNUSED;
/* mail_email_add - the same in a transaction of its own */
int mail_email_add(struct mail *m, uint32_t acct,
    const struct mail_new_email *e, struct mail_added *added_r,
    struct buf *err) WARN_UNUSED;
/* mail_email_get - 1 and *em filled (clear it after), 0 unknown, -1 */
int mail_email_get(struct mail *m, uint32_t acct, uint32_t email,
    struct mail_email *em, struct buf *err) WARN_UNUSED;
int mail_email_get_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    struct mail_email *em, struct buf *err) WARN_UNUSED;
/*
 * mail_email_mime - the parsed metadata stored at delivery ('I', see
 * mime.h: envelope, body structure, headers, preview), decoded: 1 with
 * *info_r (free it with mime_info_free), 0 when the email has none, -1
 * (a corrupt record included).  FETCH ENVELOPE, Email/get and listings
 * use it instead of reading and parsing the message again.
 */
int mail_email_mime(struct mail *m, uint32_t acct, uint32_t email,
    struct mime_info **info_r, struct buf *err) WARN_UNUSED;
/* mail_email_mime_txn - the same inside t (a FETCH batch's snapshot);
 * may return KV_CONFLICT */
int mail_email_mime_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    struct mime_info **info_r, struct buf *err) WARN_UNUSED;
/* mail_email_mime_some_txn - only the fields want names
 * (mime_info_decode_some): SEARCH and FETCH of one field of many */
int mail_email_mime_some_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    unsigned want, struct mime_info **info_r, struct buf *err) WARN_UNUSED;

/*
 * Keywords (RFC 8621 4.1.1, RFC 3501 flag-keyword): 1 to
 * MAIL_KEYWORD_MAX bytes of %x21-7e except ( ) { ] % * " \, compared and
 * stored in lowercase.  The system keywords ($seen, $answered, $flagged,
 * $draft, $forwarded, $junk, $notjunk) are MAIL_F_ bits, not keywords.
 */
bool mail_keyword_is_valid(const char *kw);
/* mail_keyword_flag - the MAIL_F_ bit of a system keyword, else 0 */
uint32_t mail_keyword_flag(const char *kw);

/*
 * mail_email_update_flags_txn - apply c to email (JMAP Email/set): when
 * its flags or keywords change, every membership takes a new MODSEQ in
 * its mailbox ('S' moved, 'U' rewritten, highestmodseq bumped), the
 * mailbox counts follow (\Seen, \Draft) and "updated" is logged for the
 * email (and "counts" for a mailbox whose counts changed).  1 done (see
 * res, which may be NULL), 0 unknown email, -1 for an invalid keyword
 * or more than MAIL_KEYWORDS_MAX.
 */
int mail_email_update_flags_txn(struct kv_txn *t, uint32_t acct,
    uint32_t email, const struct mail_flag_change *c,
    struct mail_flag_result *res, struct buf *err) WARN_UNUSED;
/*
 * mail_msg_update_flags_txn - the same for the email at (mbox, uid): IMAP
 * STORE.  unchangedsince != 0: when the membership's MODSEQ is greater,
 * nothing is written and res->modified is set (RFC 7162 3.1.3; the IMAP
 * layer answers UNCHANGEDSINCE 0 itself: every MODSEQ is >= 1).  res
 * must not be NULL; res->modseq is the membership's MODSEQ afterwards.
 * 1 done, 0 no such uid.
 */
int mail_msg_update_flags_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint64_t unchangedsince, const struct mail_flag_change *c,
    struct mail_flag_result *res, struct buf *err) WARN_UNUSED;
/* the same, each in a transaction of its own (no blob work involved) */
int mail_email_update_flags(struct mail *m, uint32_t acct, uint32_t email,
    const struct mail_flag_change *c, struct mail_flag_result *res,
    struct buf *err) WARN_UNUSED;
int mail_msg_update_flags(struct mail *m, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint64_t unchangedsince, const struct mail_flag_change *c,
    struct mail_flag_result *res, struct buf *err) WARN_UNUSED;

/*
 * mail_msg_expunge_txn - remove the membership (mbox, uid): 'U' and 'S'
 * deleted, 'X' acct mbox modseq -> uid with a new MODSEQ (QRESYNC
 * VANISHED), highestmodseq and counts updated, the email record's
 * membership list updated and "updated" logged for it - or, when it was
 * the last membership, the email destroyed: 'E' and 'I' deleted, removed
 * from its thread, the quota decremented by its size, "destroyed"
 * logged; r->destroyed then tells the caller to drop the blob reference
 * and the FTS document in this transaction.  1 done, 0 no such uid.
 */
int mail_msg_expunge_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t uid, struct mail_removed *r, struct buf *err) WARN_UNUSED;
/* mail_email_remove_txn - the same for email's membership of mbox (JMAP
 * mailboxIds); 0 when email is unknown or not in mbox */
int mail_email_remove_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    uint32_t mbox, struct mail_removed *r, struct buf *err) WARN_UNUSED;
/* mail_email_destroy_txn - every membership expunged, so the email is
 * destroyed (JMAP Email/set destroy); 1 done, 0 unknown */
int mail_email_destroy_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    struct mail_removed *r, struct buf *err) WARN_UNUSED;

/*
 * mail_email_copy_txn - email also in mailbox mbox: a new UID and MODSEQ
 * there, counts, the email record's memberships, "updated" logged for
 * the email.  An email is at most once in a mailbox (JMAP mailboxIds is
 * a set): when it is there already nothing is written and a->existed is
 * set with that membership's UID (an IMAP COPY of it reports that UID).
 * No blob or FTS work: both are per email.  1 done, 0 unknown email, -1
 * when mbox does not exist or its UIDs are exhausted.
 */
int mail_email_copy_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    uint32_t mbox, struct mail_added *a, struct buf *err) WARN_UNUSED;
/* mail_msg_copy_txn - IMAP COPY of (mbox, uid) into dst; 0 no such uid */
int mail_msg_copy_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint32_t dst, struct mail_added *a, struct buf *err)
    WARN_UNUSED;
/*
 * mail_msg_move_txn - IMAP MOVE (RFC 6851) of (mbox, uid) into dst: the
 * copy and the expunge of the source (with its 'X' key) in this
 * transaction, one "updated" for the email.  Never destroys the email.
 * dst == mbox changes nothing (a->existed).  1 done, 0 no such uid.
 */
int mail_msg_move_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint32_t dst, struct mail_added *a, struct buf *err)
    WARN_UNUSED;
/* copy and move in a transaction of their own (they never destroy) */
int mail_msg_copy(struct mail *m, uint32_t acct, uint32_t mbox, uint32_t uid,
    uint32_t dst, struct mail_added *a, struct buf *err) WARN_UNUSED;
int mail_msg_move(struct mail *m, uint32_t acct, uint32_t mbox, uint32_t uid,
    uint32_t dst, struct mail_added *a, struct buf *err) WARN_UNUSED;

/* ---- threads ---- */

/*
 * mail_thread_get - 1 with the thread's email ids in *ids_r (owned:
 * free()) and their count in *n_r, ordered by receivedAt, oldest first,
 * then by email id (RFC 8621 3: a stable order); 0 when the thread has
 * no email (unknown or destroyed), -1.
 */
int mail_thread_get(struct mail *m, uint32_t acct, uint32_t thread,
    uint32_t **ids_r, size_t *n_r, struct buf *err) WARN_UNUSED;
int mail_thread_get_txn(struct kv_txn *t, uint32_t acct, uint32_t thread,
    uint32_t **ids_r, size_t *n_r, struct buf *err) WARN_UNUSED;

/*
 * Building blocks for write transactions, shared by store/mail*.c; the
 * later JMAP /set and IMAP code composes them the same way.
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

/* ---- receivedAt order per mailbox (store/mail_order.c) ---- */

/*
 * 'O' acct mbox ~received email -> thread: one entry per membership of
 * mbox, read newest first (ties by email id ascending), and 'O' acct
 * mbox -> their count.  mail_member.c writes them with the 'U' keys;
 * JMAP Email/query reads a page of a mailbox from them.  A store from
 * before the index has none: mail_order_count_txn then differs from the
 * mailbox's total, and mail_order_rebuild (one write transaction over
 * the mailbox's emails) makes it whole.
 */
struct mail_order_entry {
	uint32_t email, thread;
	int64_t received;
};
/* callback: 0 goes on, > 0 stops (the scan returns 0), < 0 fails it */
typedef int mail_order_fn(void *arg, const struct mail_order_entry *e);
/* mail_order_add_txn / _remove_txn - em's entry of mbox in / out
 * (mail_member_add, mail_member_remove); an absent entry is no error */
int mail_order_add_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const struct mail_email *em, struct buf *err) WARN_UNUSED;
int mail_order_remove_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const struct mail_email *em, struct buf *err) WARN_UNUSED;
/* mail_order_count_txn - the entries of mbox (0 when none) */
int mail_order_count_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint64_t *n_r, struct buf *err) WARN_UNUSED;
/* mail_order_scan_txn - fn for each entry, newest first, or oldest first
 * (ties by email id ascending both ways); 0 or -1 */
int mail_order_scan_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    bool oldest_first, mail_order_fn *fn, void *arg, struct buf *err)
    WARN_UNUSED;
/* mail_order_rebuild - mbox's entries and count anew from its 'U' keys
 * and email records, in a write transaction of its own */
int mail_order_rebuild(struct mail *m, uint32_t acct, uint32_t mbox,
    struct buf *err) WARN_UNUSED;

/* ---- IMAP's questions ---- */

/* mail_msg_list - memberships of mbox with uid >= first_uid, UID order */
int mail_msg_list(struct mail *m, uint32_t acct, uint32_t mbox,
    uint32_t first_uid, mail_msg_fn *fn, void *arg, struct buf *err)
    WARN_UNUSED;
/* mail_msg_list_txn - the same inside t, so that a command reads the
 * memberships and the email records of one snapshot (FETCH, SEARCH) */
int mail_msg_list_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t first_uid, mail_msg_fn *fn, void *arg, struct buf *err)
    WARN_UNUSED;
/*
 * mail_msg_changed_since - memberships of mbox whose MODSEQ is greater
 * than modseq, in MODSEQ order (CONDSTORE CHANGEDSINCE, RFC 7162).
 */
int mail_msg_changed_since(struct mail *m, uint32_t acct, uint32_t mbox,
    uint64_t modseq, mail_msg_fn *fn, void *arg, struct buf *err)
    WARN_UNUSED;
/*
 * mail_msg_vanished_since - UIDs of mbox expunged with a MODSEQ greater
 * than modseq, in MODSEQ order (QRESYNC VANISHED, RFC 7162 3.2.10); the
 * callback gets uid and modseq only.  Complete for every modseq: 'X'
 * keys are not pruned yet (see the XXX above).
 */
int mail_msg_vanished_since(struct mail *m, uint32_t acct, uint32_t mbox,
    uint64_t modseq, mail_msg_fn *fn, void *arg, struct buf *err)
    WARN_UNUSED;

/* ---- annotations: IMAP METADATA, RFC 5464 (store/mail_meta.c) ---- */

/*
 * Entries ('N' acct mbox name) of the server (mbox MAIL_META_SERVER) or
 * of a mailbox, per account, /private and /shared alike.  A name is the
 * whole entry path, "/private/..." or "/shared/..." with at least one
 * component below (mail_meta_name_is_valid: printable ASCII without
 * '*', '%', "//" or a trailing '/', at most MAIL_META_NAME_MAX bytes);
 * names are case-insensitive (RFC 5464 3.2): stored, compared and given
 * back in lowercase.  Values are opaque bytes, NUL included.  A
 * mailbox's entries go with mail_mailbox_delete_txn; RENAME keeps them.
 *   get     - 1 with the value appended to val, 0 when there is none
 *             (an invalid name included), -1
 *   scan    - fn for each entry strictly below `below` (name + "/"; ""
 *             = every entry of mbox; "/private" and "/shared" alone are
 *             allowed there), in name order; children_only: one level
 *             below (GETMETADATA DEPTH 1).  fn: 0 goes on, > 0 stops,
 *             < 0 stops and the scan fails
 *   count   - the entries of mbox
 *   set     - value NULL deletes.  1 done (also deleting an absent
 *             entry), 0 when mbox is not MAIL_META_SERVER and no such
 *             mailbox exists, MAIL_META_TOOMANY when the entry is new
 *             and mbox holds max_entries already (0 = no limit; nothing
 *             written), -1 for an invalid name.  Notes acct for the
 *             change hooks (store.h).
 */
#define MAIL_META_SERVER 0u		/* the "mailbox" of server entries */
#define MAIL_META_NAME_MAX 1000u	/* bytes of an entry name */
#define MAIL_META_TOOMANY (-5)		/* mail_meta_set*: see above */

typedef int mail_meta_fn(void *arg, const char *name, const void *value,
    size_t len);
bool mail_meta_name_is_valid(const char *name);
int mail_meta_get(struct mail *m, uint32_t acct, uint32_t mbox,
    const char *name, struct buf *val, struct buf *err) WARN_UNUSED;
int mail_meta_get_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const char *name, struct buf *val, struct buf *err) WARN_UNUSED;
int mail_meta_scan_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const char *below, bool children_only, mail_meta_fn *fn, void *arg,
    struct buf *err) WARN_UNUSED;
int mail_meta_count_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    size_t *n_r, struct buf *err) WARN_UNUSED;
int mail_meta_set(struct mail *m, uint32_t acct, uint32_t mbox,
    const char *name, const void *value, size_t len, size_t max_entries,
    struct buf *err) WARN_UNUSED;
int mail_meta_set_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const char *name, const void *value, size_t len, size_t max_entries,
    struct buf *err) WARN_UNUSED;

/* ---- the change log (JMAP /changes) ---- */

/* mail_log_scan - change records of one type with state > since */
int mail_log_scan(struct mail *m, uint32_t acct, enum mail_log_type type,
    uint64_t since, mail_log_fn *fn, void *arg, struct buf *err)
    WARN_UNUSED;
/*
 * mail_current_state - the state of type (JMAP Foo/get "state": the last
 * change record of that type, or the pruning horizon of that type, or
 * 0), or with type 0 the account's last state of any type.
 */
int mail_current_state(struct mail *m, uint32_t acct, enum mail_log_type type,
    uint64_t *state_r, struct buf *err) WARN_UNUSED;
/*
 * mail_changes - Foo/changes (RFC 8620 5.2) of one type since a state,
 * at most max_changes ids (0 or over MAIL_CHANGES_MAX: MAIL_CHANGES_MAX).
 * Per id the records of the window fold into one answer: created (even
 * if updated later), updated, or destroyed; an id created and destroyed
 * in the window is left out (RFC 8620 5.2 allows it).  When more ids
 * remain, has_more is set and new_state is the state of the last record
 * taken, so the next call goes on from there; else new_state is the
 * current state of the type.  cannot_calculate when since is older than
 * the type's horizon (mail_log_prune) or newer than the account's last
 * state.  ch is cleared first; mail_changes_clear frees it.
 */
int mail_changes(struct mail *m, uint32_t acct, enum mail_log_type type,
    uint64_t since, size_t max_changes, struct mail_changes *ch,
    struct buf *err) WARN_UNUSED;
void mail_changes_clear(struct mail_changes *ch);
/*
 * mail_log_prune - delete the change records with state <= keep_after
 * (clamped to the current state), remembering per type the last state
 * pruned as that type's horizon: /changes since an older state is
 * cannot_calculate, any later one stays exact.
 */
int mail_log_prune(struct mail *m, uint32_t acct, uint64_t keep_after,
    struct buf *err) WARN_UNUSED;

/* ---- JMAP Identity and EmailSubmission records (store/mail_obj.c) ---- */

/*
 * Objects only the JMAP server reads ('J' acct kind id), their bytes
 * opaque here; kind is MAIL_LOG_IDENTITY or MAIL_LOG_SUBMISSION (another
 * is a PANIC), and every create, logged put and destroy appends a change
 * record of that type in its transaction.  Ids come from 'C' acct
 * "identity" / "submission" and are never reused.
 *   create  - a new object: its id into *id_r, "created" logged
 *   get     - 1 with the value appended to v, 0 unknown, -1
 *   put     - replace an existing object's value, logging op (0: no
 *             record; "destroyed" keeps the value as a tombstone the
 *             caller hides): 1, 0 unknown, -1
 *   destroy - 1 deleted ("destroyed" logged), 0 unknown, -1
 *   list    - fn for every object of kind in id order (0 goes on, > 0
 *             stops, < 0 stops and fails)
 */
typedef int mail_obj_fn(void *arg, uint32_t id, const unsigned char *v,
    size_t len);
int mail_obj_create(struct mail *m, uint32_t acct, enum mail_log_type kind,
    const void *v, size_t len, uint32_t *id_r, struct buf *err) WARN_UNUSED;
int mail_obj_create_txn(struct kv_txn *t, uint32_t acct,
    enum mail_log_type kind, const void *v, size_t len, uint32_t *id_r,
    struct buf *err) WARN_UNUSED;
int mail_obj_get(struct mail *m, uint32_t acct, enum mail_log_type kind,
    uint32_t id, struct buf *v, struct buf *err) WARN_UNUSED;
int mail_obj_get_txn(struct kv_txn *t, uint32_t acct, enum mail_log_type kind,
    uint32_t id, struct buf *v, struct buf *err) WARN_UNUSED;
int mail_obj_put(struct mail *m, uint32_t acct, enum mail_log_type kind,
    uint32_t id, const void *v, size_t len, enum mail_log_op op,
    struct buf *err) WARN_UNUSED;
int mail_obj_put_txn(struct kv_txn *t, uint32_t acct, enum mail_log_type kind,
    uint32_t id, const void *v, size_t len, enum mail_log_op op,
    struct buf *err) WARN_UNUSED;
int mail_obj_destroy(struct mail *m, uint32_t acct, enum mail_log_type kind,
    uint32_t id, struct buf *err) WARN_UNUSED;
int mail_obj_destroy_txn(struct kv_txn *t, uint32_t acct,
    enum mail_log_type kind, uint32_t id, struct buf *err) WARN_UNUSED;
int mail_obj_list(struct mail *m, uint32_t acct, enum mail_log_type kind,
    mail_obj_fn *fn, void *arg, struct buf *err) WARN_UNUSED;
int mail_obj_list_txn(struct kv_txn *t, uint32_t acct, enum mail_log_type kind,
    mail_obj_fn *fn, void *arg, struct buf *err) WARN_UNUSED;
/*
 * mail_obj_rate_add - one more submission of acct in the fixed window
 * number window ('J' acct 'r' window, kv_add), the counts of earlier
 * windows deleted in the same transaction; the new count into *count_r
 */
int mail_obj_rate_add(struct mail *m, uint32_t acct, uint64_t window,
    uint64_t *count_r, struct buf *err) WARN_UNUSED;

/* ---- the vacation response (store/mail_vacation.c, RFC 8621 8) ---- */

#define MAIL_VACATION_SUBJECT_MAX 900u	/* octets: one header line */
#define MAIL_VACATION_BODY_MAX (64u * 1024)	/* octets of each body */

/*
 * An account's VacationResponse ('V' acct 'r').  A NULL string is JMAP
 * null; a date counts only with its has_ flag.  period: seconds between
 * two replies to one sender, fixed when the response is written
 * (delivery.vacation_period then, as Sieve's :days is per script).
 */
struct mail_vacation {
	bool enabled;
	bool has_from, has_to;
	int64_t from, to;		/* unix seconds: replies in [from, to) */
	char *subject, *text, *html;	/* owned; NULL = null */
	uint32_t period;
};

/* mail_vacation_clear - free v's strings and zero it */
void mail_vacation_clear(struct mail_vacation *v);
/* mail_vacation_get - 1 with *v (clear it after), 0 when never written
 * (*v zeroed: disabled, every property null), -1 */
int mail_vacation_get(struct mail *m, uint32_t acct, struct mail_vacation *v,
    struct buf *err) WARN_UNUSED;
/*
 * mail_vacation_put - write v as the account's response, one change
 * record of type MAIL_LOG_VACATION (the JMAP state, into *state_r, may
 * be NULL; older records of the type are dropped), and forget every
 * reply sent so far, so that a sender writing after the change gets
 * the new text.  -1 when a string passes its limit.
 */
int mail_vacation_put(struct mail *m, uint32_t acct,
    const struct mail_vacation *v, uint64_t *state_r, struct buf *err)
    WARN_UNUSED;
/*
 * mail_vacation_claim - whether an auto-reply to sender (an envelope
 * address, compared in lower case) is due at now: 1 when none went out
 * in the last period seconds, now recorded in the same transaction (two
 * deliveries at once claim it once); 0 when one did; -1.
 * mail_vacation_unclaim takes the record back (the reply failed).
 */
int mail_vacation_claim(struct mail *m, uint32_t acct, const char *sender,
    int64_t now, uint32_t period, struct buf *err) WARN_UNUSED;
int mail_vacation_unclaim(struct mail *m, uint32_t acct, const char *sender,
    struct buf *err) WARN_UNUSED;

/* mail_quota_used - bytes counted against acct ('Q'): the sum of the
 * sizes of its emails, each counted once */
int mail_quota_used(struct mail *m, uint32_t acct, uint64_t *used_r,
    struct buf *err) WARN_UNUSED;
int mail_quota_used_txn(struct kv_txn *t, uint32_t acct, uint64_t *used_r,
    struct buf *err) WARN_UNUSED;

#endif
