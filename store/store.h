/*
 * store.h - the mailbox store as one object: the data store (kv), the
 * blob store, the mail model and the full-text index, opened together
 * from the configuration, and the one operation every way in shares:
 * put a raw message into a mailbox.
 *
 * Adding a message is two steps so that a caller can file one message
 * for many accounts in one transaction (local delivery, LMTP) or one
 * message per transaction (IMAP APPEND, JMAP Email/import, imports):
 *
 *   store_msg_prepare   outside any transaction: bare LF line ends made
 *                       CRLF, the content stored in the blob store and
 *                       pinned (blob_put_pinned: durable, no reference
 *                       yet, safe from a concurrent unref), parsed once
 *                       (MIME, RFC 2047, charsets) and its metadata and
 *                       search text made ready;
 *   store_msg_add_txn   inside the caller's write transaction, as many
 *                       times as there are mailboxes to file it in: the
 *                       email (mail_email_add_txn), its blob reference
 *                       (blob_ref_pinned_txn), and its full-text postings
 *                       (in the caller's fts batch, which the caller
 *                       flushes before commit);
 *   store_msg_release   after the transaction has committed or been
 *                       given up, never before: drops the pin.
 *
 * The references commit with the emails, so filing costs the caller's
 * one commit and nothing else; several messages may be prepared and
 * filed in one transaction (a group commit), each released after it.
 * While messages are prepared, the thread must not call anything that
 * drops blob references outside a transaction (store_reap_finish,
 * store_expunge): see blob_put_pinned in blob.h.
 *
 * store_append does the three for one mailbox in one transaction.
 *
 * Blocking: everything here does disk I/O; workers and the CLI only.
 */
#ifndef POSTERN_STORE_H
#define POSTERN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/config.h"
#include "store/blob.h"
#include "store/fts.h"
#include "store/kv.h"
#include "store/mail.h"
#include "store/mime.h"

/*
 * store_junk_fn - a message went into a mailbox with the Junk role
 * (spam true) or out of one into another that is not Trash (spam
 * false): its content, to train the spam classifier (cli/serve gives the
 * filters' Bayes training here).  Called after the commit, on the
 * caller's thread; a failure is the hook's to log, never the move's.
 */
typedef void store_junk_fn(void *arg, uint32_t acct, const void *msg,
    size_t len, bool spam);

/*
 * store_change_fn - a transaction that changed account acct's mail
 * (anything the change log records: a delivery, a flag change, an
 * expunge, a mailbox created, ...) has committed.  Called on the
 * committing thread (a worker, the CLI), once per account and commit,
 * outside any transaction; it must be quick and must not block: the IMAP
 * server posts to the loops of the account's IDLE sessions.  Only
 * commits of this process are seen.
 */
typedef void store_change_fn(void *arg, uint32_t acct);

#define STORE_CHANGE_HOOKS 4

struct store {
	struct kv *kv;
	struct blob_store *blobs;
	struct mail *mail;
	struct fts *fts;
	store_junk_fn *junk_fn;		/* store_set_junk_hook */
	void *junk_arg;
	struct {
		store_change_fn *fn;
		void *arg;
	} change[STORE_CHANGE_HOOKS];	/* store_add_change_hook */
	size_t nchange;
};

/*
 * store_open - the data store, blob store (created as needed under the
 * configured paths), mail model and full-text index of cfg.  -1 with err.
 */
int store_open(const struct config *cfg, struct store **st_r,
    struct buf *err) WARN_UNUSED;
/* store_close - accepts NULL, sets *st to NULL */
void store_close(struct store **st);

/* a message ready to be filed */
struct store_msg {
	struct blob_id blob;
	uint64_t size;			/* bytes stored (after CRLF fixing) */
	struct mime_info *info;		/* owned */
	struct buf mime;		/* mime_info_encode() bytes */
	struct fts_terms *terms;	/* what the index gets */
	struct blob_pin *pin;		/* from prepare to release */
	unsigned char *fixed;		/* the CRLF-fixed copy, if made */
};

/*
 * store_msg_prepare - see above.  data must stay valid and unchanged
 * until store_msg_release: the kv blob backend writes the content in the
 * filing transaction (a copy is made and kept only when line ends need
 * fixing).  -1 with err (blob store failure; m is released); bad MIME is
 * never an error.
 */
int store_msg_prepare(struct store *st, const void *data, size_t len,
    struct store_msg *m, struct buf *err) WARN_UNUSED;

/* what store_msg_add_txn files */
struct store_add {
	uint32_t acct;
	uint32_t mbox;
	uint32_t flags;			/* MAIL_F_* */
	const char *const *keywords;	/* custom keywords, see mail.h */
	size_t nkeywords;
	int64_t received_at;		/* seconds; 0 = now */
	uint64_t quota;			/* bytes the account may use, 0 =
					   unlimited: STORE_OVER_QUOTA */
};

/* store_msg_add_txn, store_append: the email would pass a->quota (the
 * transaction is left as it was: nothing of this email written) */
#define STORE_OVER_QUOTA (-4)

/*
 * store_msg_add_txn - file m in a->mbox inside t (see above); fts may be
 * NULL (not indexed).  Each call takes its own blob reference in t, so
 * an attempt that kv_run runs again needs no bookkeeping.  May return
 * KV_CONFLICT: pass it on; STORE_OVER_QUOTA (not an error: err
 * untouched).
 */
int store_msg_add_txn(struct store *st, struct kv_txn *t,
    struct fts_batch *fts, struct store_msg *m, const struct store_add *a,
    struct mail_added *added_r, struct buf *err) WARN_UNUSED;
/* store_msg_release - drop what prepare made, the pin included; only
 * once the transaction that filed m has committed or been given up */
void store_msg_release(struct store *st, struct store_msg *m);

/*
 * store_append - one message into one mailbox, in one transaction of its
 * own (IMAP APPEND, JMAP Email/import, imports).  -1 with err when the
 * mailbox does not exist or the store fails, STORE_OVER_QUOTA.
 */
int store_append(struct store *st, const struct store_add *a,
    const void *data, size_t len, struct mail_added *added_r,
    struct buf *err) WARN_UNUSED;

/*
 * Removing: the mail model reports each email it destroys (struct
 * mail_removed); the store then drops its blob reference and its
 * full-text postings in the same transaction, and removes the content
 * of blobs left without references once the transaction has committed.
 *
 *   struct store_reap rp;
 *   store_reap_init(&rp, st, acct);
 *   kv_run(..., fn, ...)   where fn calls store_reap_attempt(&rp) first
 *                          and passes store_removed_txn, &rp to the
 *                          mail_* call (or calls it with each result)
 *   store_reap_finish(&rp, committed);
 */
struct store_reap {
	struct store *st;
	uint32_t acct;
	struct blob_id *ids;		/* blobs to reap after the commit */
	size_t n, cap;
};

void store_reap_init(struct store_reap *rp, struct store *st, uint32_t acct);
void store_reap_attempt(struct store_reap *rp);
/* store_removed_txn - a mail_removed_fn; arg is a struct store_reap */
int store_removed_txn(void *arg, struct kv_txn *t,
    const struct mail_removed *r, struct buf *err) WARN_UNUSED;
/* store_reap_finish - reap when committed (failures are logged: orphans,
 * never errors); frees rp's list */
void store_reap_finish(struct store_reap *rp, bool committed);

/* store_set_junk_hook - before the store is shared between threads */
void store_set_junk_hook(struct store *st, store_junk_fn *fn, void *arg);
/*
 * store_add_change_hook - fn(arg, acct) after every commit that changed
 * an account (the registry cli/serve fills: IMAP IDLE, later JMAP push).
 * At most STORE_CHANGE_HOOKS (PANIC past it); before the store is shared
 * between threads, and fn must stay valid until store_close.
 */
void store_add_change_hook(struct store *st, store_change_fn *fn, void *arg);

/*
 * store_msg_move, store_msg_copy - IMAP MOVE and COPY (JMAP changing an
 * email's mailboxes) of (mbox, uid) into dst, as mail_msg_move/copy, and
 * then the Junk hook when the message crossed into or out of Junk: what
 * the access servers call so that moving mail trains the classifier.
 * 1 done, 0 no such message, -1 with err.
 */
int store_msg_move(struct store *st, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint32_t dst, struct mail_added *a, struct buf *err)
    WARN_UNUSED;
int store_msg_copy(struct store *st, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint32_t dst, struct mail_added *a, struct buf *err)
    WARN_UNUSED;

/*
 * store_expunge - remove the message (mbox, uid) in a transaction of its
 * own, destroying the email when it was its last mailbox: 1 done, 0 no
 * such message, -1 with err.
 */
int store_expunge(struct store *st, uint32_t acct, uint32_t mbox,
    uint32_t uid, struct buf *err) WARN_UNUSED;

#endif
