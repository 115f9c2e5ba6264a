/*
 * imap_mbox.c - the mailbox commands over the store: CREATE (with USE,
 * RFC 6154 CREATE-SPECIAL-USE), DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
 * STATUS (RFC 9051 6.3.11, SIZE and DELETED of RFC 9051/8438, MAILBOXID
 * of RFC 8474, APPENDLIMIT of RFC 7889), GETQUOTA, GETQUOTAROOT,
 * SETQUOTA (RFC 9208, the STORAGE resource).  Each runs as one job.
 *
 * Paths map to the store's one-level names with imap_path_split and a
 * find per level (imap_resolve).  Decisions, where the RFCs leave room:
 *   - CREATE makes missing superior levels (RFC 9051 6.3.4 SHOULD);
 *     "a/" creates "a"; an existing name is NO [ALREADYEXISTS]; one USE
 *     attribute at most, of the roles the store has (\Sent \Drafts
 *     \Trash \Junk \Archive), and not a role another mailbox holds:
 *     else NO [USEATTR] (RFC 6154 3).
 *   - DELETE of a mailbox with children is NO [HASCHILDREN]: the store
 *     has no \Noselect placeholders (RFC 9051 6.3.5 allows refusing);
 *     its messages are expunged with it, in one transaction.  INBOX
 *     cannot be deleted.  Deleting the selected mailbox unselects it.
 *   - RENAME makes missing superiors of the new name; children follow
 *     (they name their parent by id); UIDVALIDITY stays (the messages
 *     did not change).  RENAME INBOX (RFC 9051 6.3.6) creates the new
 *     mailbox and moves every INBOX message into it, in one
 *     transaction; INBOX stays, empty, and its children stay too.
 *   - SUBSCRIBE needs an existing mailbox (RFC 9051 6.3.7 lets a server
 *     check): the subscription is a property of the store's mailbox.
 *   - STATUS SIZE, DELETED and DELETED-STORAGE scan the mailbox (the
 *     store keeps no such counters: XXX a per-mailbox size counter in
 *     the 'M' record would make SIZE O(1)); RECENT is always 0 (no
 *     \Recent, as IMAP4rev2).
 *   - Quota: one root, "", the account's storage limit from the
 *     directory, in KiB; an unlimited account has no root.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

void
imap_store_error(struct imap_session *s, const char *what, struct buf *err)
{
	log_error(IMAP_SVC, "%s: user=<%s>: %s: %s", s->id,
	    s->user != NULL ? s->user : "", what, buf_cstr(err));
	imap_tagged(s, "NO", "[SERVERBUG] Internal error; see the server "
	    "log");
}

static void
write_name(struct imap_session *s, const char *path)
{
	imap_write_mailbox(&s->out, path, strlen(path), s->utf8);
}

/* resolve - the levels of path under parent 0, one find each */
static int
resolve_levels(struct mail *m, uint32_t acct, const struct imap_levels *l,
    size_t nlevels, uint32_t *mbox_r, struct buf *err)
{
	uint32_t id = 0;

	for (size_t i = 0; i < nlevels; i++) {
		int r = mail_mailbox_find(m, acct, id, l->lv[i], &id, err);

		if (r <= 0)
			return r;
	}
	*mbox_r = id;
	return 1;
}

int
imap_resolve(struct imap_session *s, const char *path, size_t len,
    uint32_t *mbox_r, bool reply)
{
	struct imap_levels l;
	struct buf err = BUF_INIT(0);
	const char *why;
	int r;

	if (imap_path_split(path, len, false, &l, &why) < 0) {
		if (reply)
			imap_tagged(s, "NO", "[NONEXISTENT] %s", why);
		return 0;
	}
	r = resolve_levels(s->srv->st->mail, s->acct, &l, l.n, mbox_r, &err);
	imap_levels_free(&l);
	if (r < 0 && reply)
		imap_store_error(s, "mailbox lookup", &err);
	else if (r == 0 && reply)
		imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
	buf_free(&err);
	return r;
}

/* ---- CREATE ---- */

struct create_op {
	uint32_t acct;
	const struct imap_levels *l;
	enum mail_role role;
	bool existed;
};

static int
create_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct create_op *op = arg;
	uint32_t parent = 0, id;
	int r;

	op->existed = false;
	for (size_t i = 0; i < op->l->n; i++) {
		bool last = i + 1 == op->l->n;

		r = mail_mailbox_find_txn(t, op->acct, parent, op->l->lv[i], &id,
		    err);
		if (r < 0)
			return r;
		if (r == 0 && (r = mail_mailbox_create_txn(t, op->acct, parent,
		    op->l->lv[i], last ? op->role : MAIL_ROLE_NONE, &id,
		    err)) < 0)
			return r;
		else if (r == 1 && last)
			op->existed = true;
		parent = id;
	}
	return 0;
}

/* role_find_row - stops at the first mailbox holding the role */
struct role_find {
	enum mail_role role;
	bool found;
};

static int
role_find_row(void *arg, const struct mail_mailbox *mb)
{
	struct role_find *f = arg;

	if (mb->role != f->role)
		return 0;
	f->found = true;
	return 1;
}

static void
create_work(struct imap_session *s)
{
	const struct imap_create *c = &s->cmd->u.create;
	struct create_op op = { s->acct, NULL, MAIL_ROLE_NONE, false };
	struct role_find rf = { MAIL_ROLE_NONE, false };
	struct imap_levels l;
	struct buf err = BUF_INIT(0);
	const char *why;

	if (imap_path_split(c->mbox.name.p, c->mbox.name.len, true, &l,
	    &why) < 0) {
		imap_tagged(s, "NO", "[CANNOT] %s", why);
		return;
	}
	if (c->has_use && c->use != 0) {
		int role = (c->use & (c->use - 1)) == 0 ?
		    imap_use_role(c->use) : -1;

		if (role < 0) {
			imap_tagged(s, "NO", "[USEATTR] Only one of \\Sent "
			    "\\Drafts \\Trash \\Junk \\Archive is supported");
			goto out;
		}
		rf.role = (enum mail_role)role;
		if (mail_mailbox_list(s->srv->st->mail, s->acct, role_find_row,
		    &rf, &err) < 0) {
			imap_store_error(s, "CREATE", &err);
			goto out;
		}
		if (rf.found) {
			imap_tagged(s, "NO", "[USEATTR] Another mailbox has "
			    "that special use");
			goto out;
		}
		op.role = rf.role;
	}
	op.l = &l;
	if (kv_run(mail_kv(s->srv->st->mail), KV_WRITE, create_txn, &op,
	    &err) < 0) {
		log_info(IMAP_SVC, "%s: user=<%s>: CREATE refused: %s", s->id,
		    s->user, buf_cstr(&err));
		imap_tagged(s, "NO", "[CANNOT] Cannot create this mailbox");
		goto out;
	}
	if (op.existed) {
		imap_tagged(s, "NO", "[ALREADYEXISTS] Mailbox exists");
		goto out;
	}
	imap_refresh(s, true);
	imap_tagged(s, "OK", "CREATE completed");
out:
	imap_levels_free(&l);
	buf_free(&err);
}

void
imap_cmd_create(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, create_work, NULL);
}

/* ---- DELETE ---- */

struct delete_op {
	struct store_reap *rp;
	uint32_t mbox;
	int found;
};

static int
delete_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct delete_op *op = arg;

	store_reap_attempt(op->rp);
	op->found = mail_mailbox_delete_txn(t, op->rp->acct, op->mbox, true,
	    store_removed_txn, op->rp, err);
	return op->found < 0 ? op->found : 0;
}

struct child_find {
	uint32_t parent;
	bool found;
};

static int
child_row(void *arg, const struct mail_mailbox *mb)
{
	struct child_find *f = arg;

	if (mb->parent != f->parent)
		return 0;
	f->found = true;
	return 1;
}

static void
delete_work(struct imap_session *s)
{
	const struct imap_mailbox *mbx = &s->cmd->u.mbox;
	struct child_find cf = { 0, false };
	struct store_reap rp;
	struct delete_op op;
	struct mail_mailbox mb;
	struct buf err = BUF_INIT(0);
	uint32_t id;
	int r;

	memset(&mb, 0, sizeof(mb));
	if (imap_resolve(s, mbx->name.p, mbx->name.len, &id, true) != 1)
		goto out;
	if ((r = mail_mailbox_get(s->srv->st->mail, s->acct, id, &mb,
	    &err)) <= 0) {
		if (r < 0)
			imap_store_error(s, "DELETE", &err);
		else
			imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
		goto out;
	}
	if (mb.role == MAIL_ROLE_INBOX || (mb.parent == 0 &&
	    strcmp(mb.name, "INBOX") == 0)) {
		imap_tagged(s, "NO", "[CANNOT] INBOX cannot be deleted");
		goto out;
	}
	cf.parent = id;
	if (mail_mailbox_list(s->srv->st->mail, s->acct, child_row, &cf,
	    &err) < 0) {
		imap_store_error(s, "DELETE", &err);
		goto out;
	}
	if (cf.found) {
		imap_tagged(s, "NO", "[HASCHILDREN] Delete the mailboxes "
		    "below it first");
		goto out;
	}
	store_reap_init(&rp, s->srv->st, s->acct);
	op = (struct delete_op){ &rp, id, 0 };
	r = kv_run(mail_kv(s->srv->st->mail), KV_WRITE, delete_txn, &op, &err);
	store_reap_finish(&rp, r == 0);
	if (r < 0) {
		imap_store_error(s, "DELETE", &err);
		goto out;
	}
	if (op.found == 0) {
		imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
		goto out;
	}
	if (s->sel != NULL && s->sel->mbox == id) {
		imap_sel_free(&s->sel);
		s->state = IMAP_S_AUTH;
		imap_untagged(s, "OK [CLOSED] The selected mailbox is gone");
	} else {
		imap_refresh(s, true);
	}
	imap_tagged(s, "OK", "DELETE completed");
out:
	mail_mailbox_clear(&mb);
	buf_free(&err);
}

void
imap_cmd_delete(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, delete_work, NULL);
}

/* ---- RENAME ---- */

struct rename_op {
	uint32_t acct;
	uint32_t from;
	bool from_inbox;
	const struct imap_levels *to;
	bool exists;		/* the new name is taken */
	uint32_t *uids;		/* RENAME INBOX: the messages to move */
	size_t nuids;
};

/* parents_txn - find or create the levels above the last of l */
static int
parents_txn(struct kv_txn *t, uint32_t acct, const struct imap_levels *l,
    uint32_t *parent_r, struct buf *err)
{
	uint32_t parent = 0, id;
	int r;

	for (size_t i = 0; i + 1 < l->n; i++) {
		r = mail_mailbox_find_txn(t, acct, parent, l->lv[i], &id, err);
		if (r == 0)
			r = mail_mailbox_create_txn(t, acct, parent, l->lv[i],
			    MAIL_ROLE_NONE, &id, err);
		if (r < 0)
			return r;
		parent = id;
	}
	*parent_r = parent;
	return 0;
}

static int
rename_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct rename_op *op = arg;
	const char *leaf = op->to->lv[op->to->n - 1];
	uint32_t parent, id;
	int r;

	op->exists = false;
	if ((r = parents_txn(t, op->acct, op->to, &parent, err)) < 0)
		return r;
	if ((r = mail_mailbox_find_txn(t, op->acct, parent, leaf, &id,
	    err)) != 0) {
		if (r == 1)
			op->exists = true;
		return r < 0 ? r : -1;	/* nothing written is kept */
	}
	if (!op->from_inbox) {
		r = mail_mailbox_rename_txn(t, op->acct, op->from, parent, leaf,
		    err);
		return r == 1 ? 0 : r == 0 ? -1 : r;
	}
	if ((r = mail_mailbox_create_txn(t, op->acct, parent, leaf,
	    MAIL_ROLE_NONE, &id, err)) < 0)
		return r;
	for (size_t i = 0; i < op->nuids; i++) {
		struct mail_added a;

		r = mail_msg_move_txn(t, op->acct, op->from, op->uids[i], id, &a,
		    err);
		if (r < 0)
			return r;
	}
	return 0;
}

struct uid_list {
	uint32_t *v;
	size_t n, cap;
};

static int
uid_row(void *arg, const struct mail_msg *msg)
{
	struct uid_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 256 : l->cap * 2;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = msg->uid;
	return 0;
}

static void
rename_work(struct imap_session *s)
{
	const struct imap_rename *rn = &s->cmd->u.rename;
	struct rename_op op;
	struct uid_list ul = { NULL, 0, 0 };
	struct imap_levels to;
	struct buf err = BUF_INIT(0);
	const char *why;
	uint32_t from;

	memset(&to, 0, sizeof(to));
	if (imap_resolve(s, rn->from.name.p, rn->from.name.len, &from,
	    true) != 1)
		goto out;
	if (imap_path_split(rn->to.name.p, rn->to.name.len, false, &to,
	    &why) < 0) {
		imap_tagged(s, "NO", "[CANNOT] %s", why);
		goto out;
	}
	memset(&op, 0, sizeof(op));
	op.acct = s->acct;
	op.from = from;
	op.to = &to;
	op.from_inbox = strcmp(rn->from.name.p, "INBOX") == 0;
	if (op.from_inbox) {
		if (mail_msg_list(s->srv->st->mail, s->acct, from, 1, uid_row,
		    &ul, &err) < 0) {
			imap_store_error(s, "RENAME", &err);
			goto out;
		}
		op.uids = ul.v;
		op.nuids = ul.n;
	}
	if (kv_run(mail_kv(s->srv->st->mail), KV_WRITE, rename_txn, &op,
	    &err) < 0) {
		if (op.exists) {
			imap_tagged(s, "NO", "[ALREADYEXISTS] The new name is "
			    "taken");
		} else {
			log_info(IMAP_SVC, "%s: user=<%s>: RENAME refused: %s",
			    s->id, s->user, buf_cstr(&err));
			imap_tagged(s, "NO", "[CANNOT] Cannot rename this "
			    "mailbox there");
		}
		goto out;
	}
	if (s->sel != NULL && s->sel->mbox == from && !op.from_inbox) {
		free(s->sel->path);
		s->sel->path = xmemdup0(rn->to.name.p, rn->to.name.len);
	}
	imap_refresh(s, true);
	imap_tagged(s, "OK", "RENAME completed");
out:
	free(ul.v);
	imap_levels_free(&to);
	buf_free(&err);
}

void
imap_cmd_rename(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, rename_work, NULL);
}

/* ---- SUBSCRIBE, UNSUBSCRIBE ---- */

static void
subscribe_work(struct imap_session *s)
{
	const struct imap_mailbox *mbx = &s->cmd->u.mbox;
	bool on = s->cmd->kind == IMAP_CMD_SUBSCRIBE;
	struct buf err = BUF_INIT(0);
	uint32_t id;
	int r;

	if (imap_resolve(s, mbx->name.p, mbx->name.len, &id, true) != 1)
		goto out;
	r = mail_mailbox_subscribe(s->srv->st->mail, s->acct, id, on, &err);
	if (r < 0)
		imap_store_error(s, imap_cmd_name(s->cmd->kind), &err);
	else if (r == 0)
		imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
	else
		imap_tagged(s, "OK", "%s completed",
		    imap_cmd_name(s->cmd->kind));
out:
	buf_free(&err);
}

void
imap_cmd_subscribe(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, subscribe_work, NULL);
}

/* ---- STATUS ---- */

struct status_scan {
	bool want_size, want_deleted_size;
	uint64_t deleted;
	uint32_t *emails;	/* whose size is wanted */
	bool *del;		/* ... and whether each is \Deleted */
	size_t n, cap;
};

/* status_row - count \Deleted; note the emails whose size counts (their
 * records are read after the scan, not inside it) */
static int
status_row(void *arg, const struct mail_msg *msg)
{
	struct status_scan *sc = arg;
	bool del = (msg->flags & MAIL_F_DELETED) != 0;

	if (del)
		sc->deleted++;
	if (!sc->want_size && !(sc->want_deleted_size && del))
		return 0;
	if (sc->n == sc->cap) {
		sc->cap = sc->cap == 0 ? 256 : sc->cap * 2;
		sc->emails = xreallocarray(sc->emails, sc->cap,
		    sizeof(*sc->emails));
		sc->del = xreallocarray(sc->del, sc->cap, sizeof(*sc->del));
	}
	sc->emails[sc->n] = msg->email;
	sc->del[sc->n++] = del;
	return 0;
}

/* status_scan - DELETED, SIZE and DELETED-STORAGE of mbox */
static int
status_scan(struct imap_session *s, uint32_t mbox, unsigned items,
    uint64_t *deleted_r, uint64_t *size_r, uint64_t *dsize_r,
    struct buf *err)
{
	struct status_scan sc;
	int ret = 0;

	memset(&sc, 0, sizeof(sc));
	sc.want_size = (items & IMAP_STATUS_SIZE) != 0;
	sc.want_deleted_size = (items & IMAP_STATUS_DELETED_STORAGE) != 0;
	*deleted_r = *size_r = *dsize_r = 0;
	if ((items & (IMAP_STATUS_DELETED | IMAP_STATUS_SIZE |
	    IMAP_STATUS_DELETED_STORAGE)) == 0)
		return 0;
	if (mail_msg_list(s->srv->st->mail, s->acct, mbox, 1, status_row, &sc,
	    err) < 0)
		ret = -1;
	for (size_t i = 0; ret == 0 && i < sc.n; i++) {
		struct mail_email em;
		int r;

		memset(&em, 0, sizeof(em));
		r = mail_email_get(s->srv->st->mail, s->acct, sc.emails[i], &em,
		    err);
		if (r < 0)
			ret = -1;
		if (r == 1) {
			*size_r += em.size;
			if (sc.del[i])
				*dsize_r += em.size;
		}
		mail_email_clear(&em);
	}
	*deleted_r = sc.deleted;
	free(sc.emails);
	free(sc.del);
	return ret;
}

int
imap_status_items(struct imap_session *s, const struct mail_mailbox *mb,
    const char *path, unsigned items, struct buf *err)
{
	struct buf line = BUF_INIT(0);
	const char *sp = "";
	uint64_t deleted, size, dsize;

	if (status_scan(s, mb->id, items, &deleted, &size, &dsize, err) < 0)
		return -1;
#define ITEM(bit, fmt, ...) do {					\
	if (items & (bit)) {						\
		buf_addf(&line, "%s" fmt, sp, __VA_ARGS__);		\
		sp = " ";						\
	}								\
} while (0)
	ITEM(IMAP_STATUS_MESSAGES, "MESSAGES %" PRIu32, mb->total);
	ITEM(IMAP_STATUS_RECENT, "RECENT %d", 0);
	ITEM(IMAP_STATUS_UIDNEXT, "UIDNEXT %" PRIu32, mb->uidnext);
	ITEM(IMAP_STATUS_UIDVALIDITY, "UIDVALIDITY %" PRIu32,
	    mb->uidvalidity);
	ITEM(IMAP_STATUS_UNSEEN, "UNSEEN %" PRIu32, mb->unseen);
	ITEM(IMAP_STATUS_DELETED, "DELETED %" PRIu64, deleted);
	ITEM(IMAP_STATUS_SIZE, "SIZE %" PRIu64, size);
	/* RFC 7162 3.1.2.1: 0 is never sent; an empty mailbox has 1 */
	ITEM(IMAP_STATUS_HIGHESTMODSEQ, "HIGHESTMODSEQ %" PRIu64,
	    mb->highestmodseq > 0 ? mb->highestmodseq : 1);
	ITEM(IMAP_STATUS_APPENDLIMIT, "APPENDLIMIT %" PRIu64,
	    s->cfg->imap.max_append_size);
	ITEM(IMAP_STATUS_DELETED_STORAGE, "DELETED-STORAGE %" PRIu64,
	    (dsize + 1023) / 1024);
#undef ITEM
	if (items & IMAP_STATUS_MAILBOXID) {
		buf_addf(&line, "%sMAILBOXID (", sp);
		imap_mailbox_id(mb->id, &line);
		buf_add_str(&line, ")");
	}
	buf_add_str(&s->out, "* STATUS ");
	write_name(s, path);
	buf_addf(&s->out, " (%s)\r\n", buf_cstr(&line));
	buf_free(&line);
	return 0;
}

static void
status_work(struct imap_session *s)
{
	const struct imap_status *st = &s->cmd->u.status;
	struct mail_mailbox mb;
	struct buf err = BUF_INIT(0);
	uint32_t id;
	int r;

	memset(&mb, 0, sizeof(mb));
	if (imap_resolve(s, st->mbox.name.p, st->mbox.name.len, &id,
	    true) != 1)
		goto out;
	r = mail_mailbox_get(s->srv->st->mail, s->acct, id, &mb, &err);
	if (r == 0) {
		imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
		goto out;
	}
	if (r < 0 || imap_status_items(s, &mb, st->mbox.name.p, st->items,
	    &err) < 0) {
		imap_store_error(s, "STATUS", &err);
		goto out;
	}
	imap_refresh(s, true);
	imap_tagged(s, "OK", "STATUS completed");
out:
	mail_mailbox_clear(&mb);
	buf_free(&err);
}

void
imap_cmd_status(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, status_work, NULL);
}

/* ---- quota ---- */

/* quota_now - the account's limit (fresh from the directory) and usage */
static int
quota_now(struct imap_session *s, uint64_t *limit_r, uint64_t *used_r,
    struct buf *err)
{
	struct dir_account a;
	int r;

	memset(&a, 0, sizeof(a));
	r = dir_user_get_id(s->srv->dir, s->acct, &a, err);
	*limit_r = r == 1 ? a.quota : s->quota;
	dir_account_clear(&a);
	if (r < 0)
		return -1;
	return mail_quota_used(s->srv->st->mail, s->acct, used_r, err);
}

static void
write_quota(struct imap_session *s, uint64_t limit, uint64_t used)
{
	imap_untagged(s, "QUOTA \"\" (STORAGE %" PRIu64 " %" PRIu64 ")",
	    (used + 1023) / 1024, limit / 1024);
}

static void
getquota_work(struct imap_session *s)
{
	const struct imap_quota *q = &s->cmd->u.quota;
	struct buf err = BUF_INIT(0);
	uint64_t limit = 0, used = 0;

	if (quota_now(s, &limit, &used, &err) < 0) {
		imap_store_error(s, "GETQUOTA", &err);
	} else if (q->root.len != 0 || limit == 0) {
		imap_tagged(s, "NO", "[NONEXISTENT] No such quota root");
	} else {
		write_quota(s, limit, used);
		imap_tagged(s, "OK", "GETQUOTA completed");
	}
	buf_free(&err);
}

void
imap_cmd_getquota(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, getquota_work, NULL);
}

static void
getquotaroot_work(struct imap_session *s)
{
	const struct imap_quota *q = &s->cmd->u.quota;
	struct buf err = BUF_INIT(0);
	uint64_t limit = 0, used = 0;
	uint32_t id;

	if (imap_resolve(s, q->mbox.name.p, q->mbox.name.len, &id, true) != 1)
		goto out;
	if (quota_now(s, &limit, &used, &err) < 0) {
		imap_store_error(s, "GETQUOTAROOT", &err);
		goto out;
	}
	buf_add_str(&s->out, "* QUOTAROOT ");
	write_name(s, q->mbox.name.p);
	buf_add_str(&s->out, limit > 0 ? " \"\"\r\n" : "\r\n");
	if (limit > 0)
		write_quota(s, limit, used);
	imap_tagged(s, "OK", "GETQUOTAROOT completed");
out:
	buf_free(&err);
}

void
imap_cmd_getquotaroot(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, getquotaroot_work, NULL);
}

void
imap_cmd_setquota(struct imap_session *s)
{
	/* RFC 9208 4.1.3: limits are the administrator's (postern user) */
	imap_tagged(s, "NO", "[NOPERM] Quotas are set by the administrator");
}
