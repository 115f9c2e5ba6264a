/*
 * imap_append.c - APPEND (RFC 9051 6.3.12) with MULTIAPPEND (RFC 3502),
 * UTF8 data items (RFC 6855 4), flags, internal date and APPENDUID
 * (RFC 4315).
 *
 * Filing goes through the path local delivery uses (store/store.h):
 * store_msg_prepare parses the message once (bare LF made CRLF, MIME,
 * search text) and stores its content, then store_msg_add_txn files it
 * - email record, UID and MODSEQ, blob reference, full-text postings -
 * inside one write transaction, which holds every message of a
 * MULTIAPPEND: all are filed or none (RFC 3502 3).  The account's quota
 * (from the directory, read now) is checked in that transaction: over
 * it is NO [OVERQUOTA] and nothing is filed.
 *
 * Errors: a missing mailbox is NO [TRYCREATE] (RFC 9051 6.3.12), an
 * empty message NO, a UTF8 data item without UTF8=ACCEPT enabled BAD;
 * messages over imap.max_append_size never get here (the parser answers
 * NO [TOOBIG] before the literal is sent); a MULTIAPPEND of more than
 * imap.message_limit messages is NO [MESSAGELIMIT n] (RFC 9738).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

struct append_one {
	struct store_msg m;
	bool prepared;
	struct store_add add;
	const char **kw;
	struct mail_added added;
};

struct append_op {
	struct store *st;
	struct append_one *v;
	size_t n;
	bool over_quota;
};

static int
append_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct append_op *op = arg;
	struct fts_batch *b = fts_batch_new(op->st->fts, t);
	int r = 0;

	op->over_quota = false;
	for (size_t i = 0; r == 0 && i < op->n; i++) {
		r = store_msg_add_txn(op->st, t, b, &op->v[i].m, &op->v[i].add,
		    &op->v[i].added, err);
		if (r == STORE_OVER_QUOTA) {
			op->over_quota = true;
			r = -1;		/* all or nothing */
		}
	}
	if (r == 0)
		r = fts_batch_flush(b, err);
	fts_batch_free(&b);
	return r;
}

static void
append_work(struct imap_session *s)
{
	const struct imap_append *a = &s->cmd->u.append;
	struct store *st = s->srv->st;
	struct append_op op = { st, NULL, a->nmsg, false };
	struct mail_mailbox mb;
	struct dir_account acct;
	struct buf err = BUF_INIT(0), uids = BUF_INIT(0);
	uint32_t id, *uidv = NULL;
	int r;

	memset(&mb, 0, sizeof(mb));
	memset(&acct, 0, sizeof(acct));
	if ((r = imap_resolve(s, a->mbox.name.p, a->mbox.name.len, &id,
	    false)) <= 0) {
		if (r == 0)
			imap_tagged(s, "NO", "[TRYCREATE] No such mailbox");
		else
			imap_tagged(s, "NO", "[SERVERBUG] Internal error");
		goto out;
	}
	if (mail_mailbox_get(st->mail, s->acct, id, &mb, &err) != 1 ||
	    dir_user_get_id(s->srv->dir, s->acct, &acct, &err) < 0) {
		imap_store_error(s, "APPEND", &err);
		goto out;
	}
	op.v = xcalloc(a->nmsg, sizeof(*op.v));
	for (size_t i = 0; i < a->nmsg; i++) {
		const struct imap_append_msg *msg = &a->msg[i];
		struct append_one *o = &op.v[i];

		if (store_msg_prepare(st, msg->data.p, msg->data.len, &o->m,
		    &err) < 0) {
			imap_store_error(s, "APPEND", &err);
			goto out;
		}
		o->prepared = true;
		o->add.acct = s->acct;
		o->add.mbox = id;
		o->add.quota = acct.quota;
		o->add.received_at = msg->has_date ?
		    imap_datetime_to_unix(&msg->date) : (int64_t)time(NULL);
		if (msg->has_flags) {
			o->add.flags = imap_sys_flags(msg->flags.sys);
			o->kw = xcalloc(msg->flags.nkw + 1, sizeof(*o->kw));
			for (size_t k = 0; k < msg->flags.nkw; k++)
				o->kw[k] = msg->flags.kw[k].p;
			o->add.keywords = o->kw;
			o->add.nkeywords = msg->flags.nkw;
		}
	}
	r = kv_run(mail_kv(st->mail), KV_WRITE, append_txn, &op, &err);
	if (r < 0 && op.over_quota) {
		imap_tagged(s, "NO", "[OVERQUOTA] Over quota");
		goto out;
	}
	if (r < 0) {
		/* a keyword the store refuses is the client's doing */
		log_info(IMAP_SVC, "%s: user=<%s>: APPEND failed: %s", s->id,
		    s->user, buf_cstr(&err));
		imap_tagged(s, "NO", "[CANNOT] The message cannot be stored");
		goto out;
	}
	uidv = xcalloc(a->nmsg, sizeof(*uidv));
	for (size_t i = 0; i < a->nmsg; i++)
		uidv[i] = op.v[i].added.uid;
	/* ascending already: one transaction hands them out in order */
	imap_write_uidset(&uids, uidv, a->nmsg);
	log_info(IMAP_SVC, "%s: user=<%s>: appended %zu message%s to %s "
	    "(uid %s)", s->id, s->user, a->nmsg, a->nmsg == 1 ? "" : "s",
	    a->mbox.name.p, buf_cstr(&uids));
	(void)imap_refresh(s, true);
	imap_tagged(s, "OK", "[APPENDUID %" PRIu32 " %s] APPEND completed",
	    mb.uidvalidity, buf_cstr(&uids));
out:
	for (size_t i = 0; op.v != NULL && i < a->nmsg; i++) {
		if (op.v[i].prepared)
			store_msg_release(st, &op.v[i].m);
		free(op.v[i].kw);
	}
	free(op.v);
	free(uidv);
	dir_account_clear(&acct);
	mail_mailbox_clear(&mb);
	buf_free(&uids);
	buf_free(&err);
}

void
imap_cmd_append(struct imap_session *s)
{
	const struct imap_append *a = &s->cmd->u.append;
	unsigned limit = s->cfg->imap.message_limit;

	/* RFC 9738: MULTIAPPEND is all or nothing (RFC 3502), so over the
	 * limit nothing is filed, as with COPY */
	if (limit > 0 && a->nmsg > limit) {
		imap_tagged(s, "NO", "[MESSAGELIMIT %u] Too many messages to "
		    "append at once", limit);
		return;
	}
	for (size_t i = 0; i < a->nmsg; i++) {
		if (a->msg[i].utf8 && !s->utf8) {
			imap_bad(s, "UTF8 data needs ENABLE UTF8=ACCEPT");
			return;
		}
		if (a->msg[i].data.len == 0) {
			imap_tagged(s, "NO", "Empty message");
			return;
		}
		if (a->msg[i].has_flags &&
		    a->msg[i].flags.nkw > MAIL_KEYWORDS_MAX) {
			imap_tagged(s, "NO", "[LIMIT] Too many keywords");
			return;
		}
	}
	imap_run_job(s, s->srv->jobs, append_work, NULL);
}
