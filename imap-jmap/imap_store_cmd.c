/*
 * imap_store_cmd.c - STORE and UID STORE (RFC 9051 6.4.6): FLAGS,
 * +FLAGS, -FLAGS and their .SILENT forms, system flags and keywords
 * (PERMANENTFLAGS lists \* : any keyword may be created), with
 * UNCHANGEDSINCE (RFC 7162 3.1.3) and its [MODIFIED set].
 *
 * One write transaction for the whole set: every message changes or
 * none (a store error, a keyword the store refuses).  Flags belong to
 * the email (store/mail.h), so a change shows in every mailbox holding
 * it, and the store's change hook wakes the sessions that have one of
 * them selected.  The same transaction then reads the memberships back
 * (flags, keywords, MODSEQ as committed) for the replies.
 *
 * Replies (RFC 9051 6.4.6, RFC 7162 3.1.3): without .SILENT a FETCH of
 * FLAGS for every message of the set that exists, changed or not; with
 * CONDSTORE enabled or UNCHANGEDSINCE given each carries its MODSEQ,
 * and under .SILENT a message whose flags did change still gets a FETCH
 * of its MODSEQ alone, so the client's cache keeps up (RFC 7162 3.1.3
 * example).  UID STORE adds UID to each line.  Messages that failed
 * UNCHANGEDSINCE are named in OK [MODIFIED set] (UIDs for UID STORE);
 * UNCHANGEDSINCE 0 fails every message (every MODSEQ is at least 1).
 * The model takes the session's own change (imap_sel_own_change) so the
 * refresh after it does not send the same FETCH again.
 *
 * MESSAGELIMIT (RFC 9738 3.1, imap_msgs_cmd.c): of a bigger set only the
 * limit with the highest UIDs change, and the reply says where it
 * stopped (in an untagged NO beside [MODIFIED]).
 *
 * A STORE, CONDSTORE-enabling by UNCHANGEDSINCE (RFC 7162 3.1), in a
 * read-only mailbox is NO [READ-ONLY].  Messages expunged by another
 * session and not yet announced are skipped silently (RFC 2180 4.2.1).
 *
 * XXX a keyword new to the mailbox is not announced with an untagged
 * FLAGS / PERMANENTFLAGS (Dovecot does); clients learn it from FETCH.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_fetch_out.h"
#include "imap-jmap/imap_priv.h"

struct store_item {
	uint32_t msn, uid;
	bool found;		/* read back after the change */
	bool modified;		/* UNCHANGEDSINCE failed */
	bool changed;
	uint32_t flags;
	uint64_t modseq;
	size_t kw;		/* offset in op.kw */
};

struct store_op {
	struct imap_session *s;
	struct mail_flag_change c;
	uint64_t unchangedsince;	/* 0 = none */
	bool all_fail;			/* UNCHANGEDSINCE 0 */
	struct store_item *it;
	uint32_t *uids;
	size_t n, pos;
	uint64_t before, after;		/* the mailbox's highestmodseq */
	struct buf kw;			/* keywords read back */
	uint32_t cut;			/* MESSAGELIMIT: lowest UID kept */
};

uint32_t
imap_sys_flags(unsigned sys)
{
	uint32_t f = 0;

	if (sys & IMAP_FLAG_ANSWERED)
		f |= MAIL_F_ANSWERED;
	if (sys & IMAP_FLAG_FLAGGED)
		f |= MAIL_F_FLAGGED;
	if (sys & IMAP_FLAG_DELETED)
		f |= MAIL_F_DELETED;
	if (sys & IMAP_FLAG_SEEN)
		f |= MAIL_F_SEEN;
	if (sys & IMAP_FLAG_DRAFT)
		f |= MAIL_F_DRAFT;
	return f;
}

static int
readback_row(void *arg, const struct mail_msg *msg)
{
	struct store_op *op = arg;

	while (op->pos < op->n && op->it[op->pos].uid < msg->uid)
		op->pos++;
	if (op->pos == op->n || op->it[op->pos].uid != msg->uid)
		return 0;
	op->it[op->pos].found = true;
	op->it[op->pos].flags = msg->flags;
	op->it[op->pos].modseq = msg->modseq;
	op->it[op->pos].kw = op->kw.len;
	buf_add(&op->kw, msg->keywords, strlen(msg->keywords) + 1);
	op->pos++;
	return 0;
}

static int
modseq_txn(struct kv_txn *t, struct store_op *op, uint64_t *ms_r,
    struct buf *err)
{
	struct mail_mailbox mb;
	int r;

	memset(&mb, 0, sizeof(mb));
	r = mail_mailbox_get_txn(t, op->s->acct, op->s->sel->mbox, &mb, err);
	*ms_r = r == 1 ? mb.highestmodseq : 0;
	mail_mailbox_clear(&mb);
	return r < 0 ? r : 0;
}

static int
store_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct store_op *op = arg;
	int r;

	buf_reset(&op->kw);
	op->pos = 0;
	if ((r = modseq_txn(t, op, &op->before, err)) < 0)
		return r;
	for (size_t i = 0; i < op->n; i++) {
		struct store_item *it = &op->it[i];
		struct mail_flag_result res;

		it->found = it->modified = it->changed = false;
		memset(&res, 0, sizeof(res));
		if (op->all_fail) {
			it->modified = true;
			continue;
		}
		r = mail_msg_update_flags_txn(t, op->s->acct, op->s->sel->mbox,
		    it->uid, op->unchangedsince, &op->c, &res, err);
		if (r < 0)
			return r;
		it->modified = r == 1 && res.modified;
		it->changed = r == 1 && res.changed;
	}
	if ((r = imap_msgs_scan(t, op->s, op->uids, op->n, readback_row, op,
	    err)) < 0)
		return r;
	/* UNCHANGEDSINCE 0 on a message that is gone names nothing */
	for (size_t i = 0; op->all_fail && i < op->n; i++)
		op->it[i].modified = op->it[i].found;
	return modseq_txn(t, op, &op->after, err);
}

static void
write_replies(struct imap_session *s, struct store_op *op)
{
	const struct imap_store *p = &s->cmd->u.store;
	bool modseq = s->condstore || p->has_unchangedsince;
	uint32_t *mod = xcalloc(op->n + 1, sizeof(*mod));
	size_t nmod = 0;

	for (size_t i = 0; i < op->n; i++) {
		const struct store_item *it = &op->it[i];
		unsigned items = 0;

		if (it->modified) {
			mod[nmod++] = s->cmd->uid ? it->uid : it->msn;
			continue;
		}
		if (!it->found)
			continue;
		if (!p->silent)
			items |= IMAP_FETCH_OUT_ST_FLAGS;
		if (modseq && (!p->silent || it->changed))
			items |= IMAP_FETCH_OUT_ST_MODSEQ;
		if (items != 0 && s->cmd->uid)
			items |= IMAP_FETCH_OUT_ST_UID;
		imap_write_flag_fetch(s, it->msn, it->uid, it->flags,
		    (const char *)op->kw.data + it->kw, it->modseq, items);
	}
	if (imap_refresh(s, s->cmd->uid) < 0 || s->want_close) {
		if (!s->want_close)
			imap_tagged(s, "NO", "[SERVERBUG] Internal error; see "
			    "the server log");
	} else if (nmod > 0) {
		struct buf set = BUF_INIT(0);

		imap_limit_code(s, op->cut, true, NULL);
		imap_write_uidset(&set, mod, nmod);
		imap_tagged(s, "OK", "[MODIFIED %s] Conditional STORE failed",
		    buf_cstr(&set));
		buf_free(&set);
	} else {
		struct buf code = BUF_INIT(0);

		imap_limit_code(s, op->cut, false, &code);
		imap_tagged(s, "OK", "%s%sSTORE completed", buf_cstr(&code),
		    s->cmd->uid ? "UID " : "");
		buf_free(&code);
	}
	free(mod);
}

static void
store_work(struct imap_session *s)
{
	const struct imap_store *p = &s->cmd->u.store;
	struct store_op op;
	const char **kw = NULL;
	struct buf err = BUF_INIT(0);
	uint32_t *msns = NULL;
	long n;

	memset(&op, 0, sizeof(op));
	buf_init(&op.kw, 0);
	n = imap_set_msns_limit(s, &p->set, s->cmd->uid, &msns, &op.cut);
	if (n < 0)
		goto out;
	op.s = s;
	op.n = (size_t)n;
	op.it = xcalloc(op.n + 1, sizeof(*op.it));
	op.uids = xcalloc(op.n + 1, sizeof(*op.uids));
	for (size_t i = 0; i < op.n; i++) {
		op.it[i].msn = msns[i];
		op.it[i].uid = op.uids[i] = imap_msnmap_uid(&s->sel->map,
		    msns[i]);
	}
	kw = xcalloc(p->flags.nkw + 1, sizeof(*kw));
	for (size_t i = 0; i < p->flags.nkw; i++)
		kw[i] = p->flags.kw[i].p;
	switch (p->op) {
	case IMAP_STORE_SET:
		op.c.replace = true;
		op.c.add = imap_sys_flags(p->flags.sys);
		op.c.kw_add = kw;
		op.c.nkw_add = p->flags.nkw;
		break;
	case IMAP_STORE_ADD:
		op.c.add = imap_sys_flags(p->flags.sys);
		op.c.kw_add = kw;
		op.c.nkw_add = p->flags.nkw;
		break;
	case IMAP_STORE_REMOVE:
		op.c.remove = imap_sys_flags(p->flags.sys);
		op.c.kw_remove = kw;
		op.c.nkw_remove = p->flags.nkw;
		break;
	}
	op.unchangedsince = p->has_unchangedsince ? p->unchangedsince : 0;
	op.all_fail = p->has_unchangedsince && p->unchangedsince == 0;
	if (op.n > 0 && kv_run(mail_kv(s->srv->st->mail), KV_WRITE, store_txn,
	    &op, &err) < 0) {
		/* a keyword the store refuses (too many on one message) is
		 * the client's doing (mail_flags.c words it so) */
		if (strstr(buf_cstr(&err), "keyword") == NULL) {
			imap_store_error(s, "STORE", &err);
			goto out;
		}
		log_info(IMAP_SVC, "%s: user=<%s>: STORE refused: %s", s->id,
		    s->user, buf_cstr(&err));
		imap_tagged(s, "NO", "[LIMIT] The flags cannot be stored");
		goto out;
	}
	imap_sel_own_change(s, op.before, op.after);
	write_replies(s, &op);
out:
	free(kw);
	free(msns);
	free(op.it);
	free(op.uids);
	buf_free(&op.kw);
	buf_free(&err);
}

void
imap_cmd_store(struct imap_session *s)
{
	const struct imap_store *p = &s->cmd->u.store;

	if (s->sel->read_only) {
		imap_tagged(s, "NO", "[READ-ONLY] The mailbox is read-only");
		return;
	}
	if (p->flags.nkw > MAIL_KEYWORDS_MAX) {
		imap_tagged(s, "NO", "[LIMIT] Too many keywords");
		return;
	}
	/* RFC 7162 3.1: UNCHANGEDSINCE enables CONDSTORE */
	if (p->has_unchangedsince)
		s->condstore = true;
	imap_run_job(s, s->srv->jobs, store_work, NULL);
}
