/*
 * imap_copy_cmd.c - COPY and MOVE with their UID forms (RFC 9051 6.4.7,
 * 6.4.8, 6.4.9; MOVE RFC 6851), the COPYUID response code of UIDPLUS
 * (RFC 4315), and the Junk training hook.
 *
 * One write transaction for the set (mail_msg_copy_txn, mail_msg_move_txn),
 * so a COPY or MOVE is done for every message or for none: RFC 9051
 * 6.4.7 wants a failed COPY to leave the target as it was, and a
 * failed MOVE leaves the source as it was too.  A message expunged
 * elsewhere and not yet announced fails the command NO [EXPUNGEISSUED]
 * with nothing done (RFC 2180 4.4.1, as Dovecot).  A missing target is
 * NO [TRYCREATE].  Flags and keywords go with the email (store/mail.h);
 * an email already in the target is not copied twice (a mailbox holds
 * an email once): COPYUID then names the UID it has there.
 *
 * COPYUID (RFC 4315 3): the source UIDs and the target UIDs in the same
 * order; runs of consecutive UIDs are written as ranges on both sides.
 * COPY answers it in the tagged OK, MOVE in an untagged OK before the
 * EXPUNGE (or VANISHED, under QRESYNC or UIDONLY) responses of the
 * moved messages (RFC 6851 4.3), which leave the model at once.
 *
 * MESSAGELIMIT (RFC 9738 3.1, imap_msgs_cmd.c): a COPY of more messages
 * than the limit is refused whole, NO [MESSAGELIMIT limit uid]; a MOVE
 * moves the limit with the highest UIDs and says where it stopped.
 *
 * Junk (ARCHITECTURE.md, issue 4): a message that goes into a mailbox
 * with the Junk role from one without it trains the classifier as spam,
 * one MOVEd out of Junk into anything but Trash as ham - the rule of
 * store.c's store_msg_move/store_msg_copy, applied here because the set
 * is moved in one transaction: after the commit, through the store's
 * hook (struct store junk_fn, filled by cli/serve when bayes training is
 * enabled), one message at a time on this worker, each read from the
 * blob store.  A training failure is the hook's to log, never the
 * move's.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

struct copy_op {
	struct imap_session *s;
	bool move;
	uint32_t dst;
	const uint32_t *uids;
	size_t n;
	struct mail_added *added;	/* per message */
	bool gone;			/* a message is no longer there */
	uint64_t before, after;		/* the source's highestmodseq */
};

static int
src_modseq(struct kv_txn *t, struct copy_op *op, uint64_t *ms_r,
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
copy_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct copy_op *op = arg;
	struct imap_session *s = op->s;
	int r;

	op->gone = false;
	if ((r = src_modseq(t, op, &op->before, err)) < 0)
		return r;
	for (size_t i = 0; i < op->n; i++) {
		memset(&op->added[i], 0, sizeof(op->added[i]));
		r = op->move ? mail_msg_move_txn(t, s->acct, s->sel->mbox,
		    op->uids[i], op->dst, &op->added[i], err) :
		    mail_msg_copy_txn(t, s->acct, s->sel->mbox, op->uids[i],
		    op->dst, &op->added[i], err);
		if (r < 0)
			return r;
		if (r == 0) {
			op->gone = true;	/* all or nothing */
			buf_addf(err, "uid %" PRIu32 " is gone", op->uids[i]);
			return -1;
		}
	}
	return src_modseq(t, op, &op->after, err);
}

/* write_runs - v[0..n) in order, consecutive ascending runs as ranges */
static void
write_runs(struct buf *out, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		buf_addf(out, "%s%" PRIu32, i > 0 ? "," : "", v[i]);
		if (j > i)
			buf_addf(out, ":%" PRIu32, v[j]);
		i = j + 1;
	}
}

/*
 * train - the Junk hook for the messages that crossed Junk's border
 * (see above); dst_role is the target's role
 */
static void
train(struct imap_session *s, const struct copy_op *op,
    enum mail_role dst_role)
{
	struct store *st = s->srv->st;
	enum mail_role src_role = s->sel->role;
	bool spam;

	if (st->junk_fn == NULL || op->dst == s->sel->mbox)
		return;
	if (dst_role == MAIL_ROLE_JUNK && src_role != MAIL_ROLE_JUNK)
		spam = true;
	else if (src_role == MAIL_ROLE_JUNK && dst_role != MAIL_ROLE_JUNK &&
	    dst_role != MAIL_ROLE_TRASH && op->move)
		spam = false;
	else
		return;
	for (size_t i = 0; i < op->n; i++) {
		struct mail_email em;
		struct buf msg = BUF_INIT(0), err = BUF_INIT(0);

		if (op->added[i].existed)
			continue;
		memset(&em, 0, sizeof(em));
		if (mail_email_get(st->mail, s->acct, op->added[i].email, &em,
		    &err) == 1 && blob_get(st->blobs, &em.blob, 0, BLOB_TO_END,
		    &msg, &err) == 1)
			st->junk_fn(st->junk_arg, s->acct, msg.data, msg.len,
			    spam);
		else
			log_warn(IMAP_SVC, "%s: user=<%s>: Junk training: "
			    "email %" PRIu32 ": %s", s->id, s->user,
			    op->added[i].email, err.len > 0 ? buf_cstr(&err) :
			    "gone");
		mail_email_clear(&em);
		buf_free(&msg);
		buf_free(&err);
	}
}

static void
copy_work(struct imap_session *s)
{
	const struct imap_copy *p = &s->cmd->u.copy;
	bool move = s->cmd->kind == IMAP_CMD_MOVE;
	const char *name = move ? "MOVE" : "COPY";
	struct copy_op op;
	struct mail_mailbox dst;
	struct buf err = BUF_INIT(0), code = BUF_INIT(0);
	uint32_t *msns = NULL, *uids = NULL, *to = NULL, cut;
	long n;
	int r;

	memset(&op, 0, sizeof(op));
	memset(&dst, 0, sizeof(dst));
	n = imap_set_msns_limit(s, &p->set, s->cmd->uid, &msns, &cut);
	if (n < 0)
		goto out;
	if (cut != 0 && !move) {
		/* RFC 9738 3.1: a COPY is all or nothing, so nothing */
		imap_tagged(s, "NO", "[MESSAGELIMIT %u %" PRIu32 "] Too many "
		    "messages to copy, try a smaller subset",
		    s->cfg->imap.message_limit, cut);
		goto out;
	}
	r = imap_resolve(s, p->mbox.name.p, p->mbox.name.len, &op.dst, false);
	if (r == 0) {
		imap_tagged(s, "NO", "[TRYCREATE] No such mailbox");
		goto out;
	}
	if (r < 0 || mail_mailbox_get(s->srv->st->mail, s->acct, op.dst, &dst,
	    &err) < 0) {
		imap_store_error(s, name, &err);
		goto out;
	}
	uids = xcalloc((size_t)n + 1, sizeof(*uids));
	for (long i = 0; i < n; i++)
		uids[i] = imap_msnmap_uid(&s->sel->map, msns[i]);
	op.s = s;
	op.move = move;
	op.uids = uids;
	op.n = (size_t)n;
	op.added = xcalloc(op.n + 1, sizeof(*op.added));
	if (op.n > 0 && kv_run(mail_kv(s->srv->st->mail), KV_WRITE, copy_txn,
	    &op, &err) < 0) {
		if (op.gone)
			imap_tagged(s, "NO", "[EXPUNGEISSUED] Some of the "
			    "requested messages no longer exist");
		else
			imap_store_error(s, name, &err);
		goto out;
	}
	if (op.n > 0) {
		to = xcalloc(op.n, sizeof(*to));
		for (size_t i = 0; i < op.n; i++)
			to[i] = op.added[i].uid;
		buf_addf(&code, "[COPYUID %" PRIu32 " ", dst.uidvalidity);
		write_runs(&code, uids, op.n);
		buf_add_str(&code, " ");
		write_runs(&code, to, op.n);
		buf_add_str(&code, "] ");
		log_info(IMAP_SVC, "%s: user=<%s>: %s %zu message%s from %s to "
		    "%s", s->id, s->user, move ? "moved" : "copied", op.n,
		    op.n == 1 ? "" : "s", s->sel->path, p->mbox.name.p);
	}
	if (move && op.n > 0) {
		imap_untagged(s, "OK %sMoved", buf_cstr(&code));
		buf_reset(&code);
		/* a MOVE into the mailbox itself changes nothing */
		if (op.dst != s->sel->mbox) {
			imap_sel_expunged(s, uids, op.n);
			imap_sel_own_change(s, op.before, op.after);
		}
	}
	train(s, &op, dst.role);
	if (imap_refresh(s, true) < 0 || s->want_close) {
		if (!s->want_close)
			imap_tagged(s, "NO", "[SERVERBUG] Internal error; see "
			    "the server log");
		goto out;
	}
	imap_limit_code(s, cut, code.len > 0, &code);	/* MOVE only */
	imap_tagged(s, "OK", "%s%s%s completed", buf_cstr(&code),
	    s->cmd->uid ? "UID " : "", name);
out:
	mail_mailbox_clear(&dst);
	free(op.added);
	free(msns);
	free(uids);
	free(to);
	buf_free(&code);
	buf_free(&err);
}

void
imap_cmd_copy(struct imap_session *s)
{
	if (s->cmd->kind == IMAP_CMD_MOVE && s->sel->read_only) {
		imap_tagged(s, "NO", "[READ-ONLY] The mailbox is read-only");
		return;
	}
	imap_run_job(s, s->srv->jobs, copy_work, NULL);
}
