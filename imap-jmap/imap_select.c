/*
 * imap_select.c - the selected mailbox: SELECT and EXAMINE (RFC 9051
 * 6.3.2, 6.3.3; CONDSTORE and QRESYNC parameters, RFC 7162 3.1.8,
 * 3.2.5), CLOSE, UNSELECT (RFC 3691), EXPUNGE and UID EXPUNGE (RFC
 * 4315), IDLE (RFC 2177), and the model every command keeps up to date:
 * imap_refresh.
 *
 * The model (struct imap_sel): the UIDs the client knows (imap_msnmap),
 * the MODSEQ up to which every change is reflected, and the UIDs
 * expunged by someone else but not yet announced.  imap_refresh reads
 * the mailbox record first (its highestmodseq H), then the memberships
 * changed since the model's MODSEQ (new UIDs -> EXISTS, known ones ->
 * FETCH FLAGS, with MODSEQ under CONDSTORE) and the UIDs expunged since
 * (-> EXPUNGE, or VANISHED under QRESYNC), and takes H as the new MODSEQ.
 * Each store call is its own snapshot, so a scan may also see changes
 * made after H; they are applied now and seen again next time, which
 * is harmless because every step is idempotent: a new UID is appended
 * only when above every UID known, an expunge only removes a UID still
 * known, and a flag FETCH may be repeated (RFC 9051 7.5.2 allows
 * unsolicited FETCH at any time).  A mailbox record that is gone means
 * another session deleted the mailbox: BYE.
 *
 * EXPUNGE and VANISHED are never sent while FETCH, STORE or SEARCH (not
 * their UID forms) run (RFC 9051 7.5.1): with expunge_ok false the
 * expunged UIDs stay in the map, numbered as the client knows them,
 * until a command that may announce them.
 *
 * IDLE: "+ idling", then the session is marked for notifications
 * (imap_idle_watch): a change to the account posts to its loop, which
 * runs a refresh job and writes what changed at once; a change that
 * arrives while a refresh runs is taken after it.  DONE ends it.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_fetch_out.h"
#include "imap-jmap/imap_priv.h"

#define SYSTEM_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft " \
	"$Forwarded $Junk $NotJunk"

void
imap_write_flags(struct buf *out, uint32_t flags, const char *keywords)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{ MAIL_F_ANSWERED, "\\Answered" }, { MAIL_F_FLAGGED, "\\Flagged" },
		{ MAIL_F_DELETED, "\\Deleted" }, { MAIL_F_SEEN, "\\Seen" },
		{ MAIL_F_DRAFT, "\\Draft" }, { MAIL_F_FORWARDED, "$Forwarded" },
		{ MAIL_F_JUNK, "$Junk" }, { MAIL_F_NOTJUNK, "$NotJunk" },
	};
	const char *sp = "";

	buf_add_str(out, "(");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!(flags & names[i].bit))
			continue;
		buf_addf(out, "%s%s", sp, names[i].name);
		sp = " ";
	}
	if (keywords != NULL && keywords[0] != '\0')
		buf_addf(out, "%s%s", sp, keywords);
	buf_add_str(out, ")");
}

void
imap_sel_free(struct imap_sel **selp)
{
	struct imap_sel *sel = *selp;

	if (sel == NULL)
		return;
	imap_msnmap_clear(&sel->map);
	free(sel->gone);
	free(sel->saved);
	free(sel->path);
	free(sel);
	*selp = NULL;
}

/* ---- refresh ---- */

struct changed {
	uint32_t uid, flags;
	uint64_t modseq;
	char *keywords;
};

struct refresh_scan {
	struct imap_sel *sel;
	uint32_t *fresh;		/* new UIDs */
	size_t nfresh, fresh_cap;
	struct changed *ch;		/* known UIDs whose flags changed */
	size_t nch, ch_cap;
};

static int
changed_row(void *arg, const struct mail_msg *msg)
{
	struct refresh_scan *r = arg;

	if (msg->uid >= r->sel->uidnext) {
		if (r->nfresh == r->fresh_cap) {
			r->fresh_cap = r->fresh_cap == 0 ? 16 :
			    r->fresh_cap * 2;
			r->fresh = xreallocarray(r->fresh, r->fresh_cap,
			    sizeof(*r->fresh));
		}
		r->fresh[r->nfresh++] = msg->uid;
		return 0;
	}
	if (imap_msnmap_msn(&r->sel->map, msg->uid) == 0)
		return 0;	/* expunged and announced already */
	if (r->nch == r->ch_cap) {
		r->ch_cap = r->ch_cap == 0 ? 16 : r->ch_cap * 2;
		r->ch = xreallocarray(r->ch, r->ch_cap, sizeof(*r->ch));
	}
	r->ch[r->nch++] = (struct changed){ msg->uid, msg->flags, msg->modseq,
		xstrdup(msg->keywords != NULL ? msg->keywords : "") };
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* gone_add - uid expunged by the store, still in the client's view
 * (a repeat is possible and harmless: announce drops it) */
static void
gone_add(struct imap_sel *sel, uint32_t uid)
{
	if (sel->ngone == sel->gone_cap) {
		sel->gone_cap = sel->gone_cap == 0 ? 16 : sel->gone_cap * 2;
		sel->gone = xreallocarray(sel->gone, sel->gone_cap,
		    sizeof(*sel->gone));
	}
	sel->gone[sel->ngone++] = uid;
}

static int
vanished_row(void *arg, const struct mail_msg *msg)
{
	struct imap_sel *sel = arg;

	if (imap_msnmap_msn(&sel->map, msg->uid) != 0)
		gone_add(sel, msg->uid);
	return 0;
}

/* announce - EXPUNGE (or VANISHED) for the UIDs gone, out of the map */
static void
announce(struct imap_session *s)
{
	struct imap_sel *sel = s->sel;
	uint32_t *msns;
	size_t n;

	if (sel->ngone == 0)
		return;
	qsort(sel->gone, sel->ngone, sizeof(*sel->gone), cmp_u32);
	n = 0;
	for (size_t i = 0; i < sel->ngone; i++)
		if (n == 0 || sel->gone[i] != sel->gone[n - 1])
			sel->gone[n++] = sel->gone[i];
	sel->ngone = n;
	if (s->qresync || s->uidonly) {
		buf_add_str(&s->out, "* VANISHED ");
		imap_write_uidset(&s->out, sel->gone, sel->ngone);
		buf_add_str(&s->out, "\r\n");
		(void)imap_msnmap_remove(&sel->map, sel->gone, sel->ngone, NULL);
	} else {
		msns = xcalloc(sel->ngone, sizeof(*msns));
		n = imap_msnmap_remove(&sel->map, sel->gone, sel->ngone, msns);
		for (size_t i = 0; i < n; i++)
			buf_addf(&s->out, "* %" PRIu32 " EXPUNGE\r\n", msns[i]);
		free(msns);
	}
	sel->ngone = 0;
}

unsigned
imap_out_session(const struct imap_session *s)
{
	unsigned bits = 0;

	if (s->rev2)
		bits |= IMAP_FETCH_OUT_REV2;
	if (s->utf8)
		bits |= IMAP_FETCH_OUT_UTF8;
	if (s->condstore)
		bits |= IMAP_FETCH_OUT_CONDSTORE;
	if (s->uidonly)
		bits |= IMAP_FETCH_OUT_UIDONLY;
	if (s->sel != NULL && s->sel->read_only)
		bits |= IMAP_FETCH_OUT_READ_ONLY;
	return bits;
}

void
imap_write_flag_fetch(struct imap_session *s, uint32_t msn, uint32_t uid,
    uint32_t flags, const char *keywords, uint64_t modseq, unsigned items)
{
	struct imap_fetch_out_msg m;

	memset(&m, 0, sizeof(m));
	m.msn = msn;
	m.uid = uid;
	m.flags = flags;
	m.keywords = keywords;
	m.modseq = modseq;
	imap_fetch_out_store(&s->out, imap_out_session(s), &m, items);
}

/* fetch_flags - an unsolicited flag update (RFC 7162 3.2: with MODSEQ
 * once CONDSTORE is on) */
static void
fetch_flags(struct imap_session *s, uint32_t msn, uint32_t uid,
    uint32_t flags, const char *keywords, uint64_t modseq)
{
	imap_write_flag_fetch(s, msn, uid, flags, keywords, modseq,
	    IMAP_FETCH_OUT_ST_UID | IMAP_FETCH_OUT_ST_FLAGS |
	    (s->condstore ? IMAP_FETCH_OUT_ST_MODSEQ : 0));
}

void
imap_sel_own_change(struct imap_session *s, uint64_t before, uint64_t after)
{
	if (s->sel != NULL && before == s->sel->modseq && after > before)
		s->sel->modseq = after;
}

void
imap_sel_expunged(struct imap_session *s, const uint32_t *uids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (imap_msnmap_msn(&s->sel->map, uids[i]) != 0)
			gone_add(s->sel, uids[i]);
	announce(s);
}

long
imap_set_msns(struct imap_session *s, const struct imap_seqset *set,
    bool uid, uint32_t **msns_r)
{
	const struct imap_sel *sel = s->sel;
	uint32_t *v;
	size_t n = 0;
	long r;

	if (!set->saved) {
		r = imap_msnmap_resolve(&sel->map, set, uid, msns_r);
		if (r < 0)
			imap_bad(s, "Invalid message sequence number");
		return r;
	}
	/* "$" (RFC 5182 2.1): the saved UIDs still here, in either form */
	v = xcalloc(sel->nsaved + 1, sizeof(*v));
	for (size_t i = 0; i < sel->nsaved; i++) {
		uint32_t msn = imap_msnmap_msn(&sel->map, sel->saved[i]);

		if (msn != 0)
			v[n++] = msn;
	}
	*msns_r = v;
	return (long)n;
}

int
imap_refresh(struct imap_session *s, bool expunge_ok)
{
	struct imap_sel *sel = s->sel;
	struct refresh_scan rs;
	struct mail_mailbox mb;
	struct buf err = BUF_INIT(0);
	uint32_t before;
	int r, ret = 0;

	if (sel == NULL)
		return 0;
	memset(&rs, 0, sizeof(rs));
	memset(&mb, 0, sizeof(mb));
	rs.sel = sel;
	r = mail_mailbox_get(s->srv->st->mail, s->acct, sel->mbox, &mb, &err);
	if (r == 0) {
		log_info(IMAP_SVC, "%s: user=<%s>: the selected mailbox %s "
		    "was deleted", s->id, s->user, sel->path);
		imap_untagged(s, "BYE The selected mailbox has been deleted");
		s->want_close = true;
		goto out;
	}
	if (r < 0)
		goto fail;
	if (mb.highestmodseq != sel->modseq) {
		if (mail_msg_changed_since(s->srv->st->mail, s->acct,
		    sel->mbox, sel->modseq, changed_row, &rs, &err) < 0 ||
		    mail_msg_vanished_since(s->srv->st->mail, s->acct,
		    sel->mbox, sel->modseq, vanished_row, sel, &err) < 0)
			goto fail;
		/* a NOTIFY push without FlagChange (imap_notify.c): the flag
		 * changes stay due, so the MODSEQ they come after stays too */
		if (!s->refresh_no_flags)
			sel->modseq = mb.highestmodseq;
	}
	if (expunge_ok)
		announce(s);
	before = sel->map.n;
	if (rs.nfresh > 1)
		qsort(rs.fresh, rs.nfresh, sizeof(*rs.fresh), cmp_u32);
	for (size_t i = 0; i < rs.nfresh; i++) {
		if (rs.fresh[i] <= imap_msnmap_last(&sel->map))
			continue;
		imap_msnmap_append(&sel->map, rs.fresh[i]);
		sel->uidnext = rs.fresh[i] + 1;
	}
	if (sel->map.n != before)
		buf_addf(&s->out, "* %" PRIu32 " EXISTS\r\n", sel->map.n);
	for (size_t i = 0; i < rs.nch && !s->refresh_no_flags; i++) {
		uint32_t msn = imap_msnmap_msn(&sel->map, rs.ch[i].uid);

		if (msn != 0)
			fetch_flags(s, msn, rs.ch[i].uid, rs.ch[i].flags,
			    rs.ch[i].keywords, rs.ch[i].modseq);
	}
	goto out;
fail:
	log_error(IMAP_SVC, "%s: user=<%s>: refreshing %s: %s", s->id, s->user,
	    sel->path, buf_cstr(&err));
	ret = -1;
out:
	for (size_t i = 0; i < rs.nch; i++)
		free(rs.ch[i].keywords);
	free(rs.ch);
	free(rs.fresh);
	mail_mailbox_clear(&mb);
	buf_free(&err);
	return ret;
}

/* ---- SELECT, EXAMINE ---- */

struct select_scan {
	struct imap_sel *sel;
	uint32_t first_unseen;	/* MSN, 0 when none */
	char **kw;		/* keywords in use, for FLAGS */
	size_t nkw, kw_cap;
};

static void
kw_add(struct select_scan *sc, const char *kw, size_t len)
{
	for (size_t i = 0; i < sc->nkw; i++)
		if (strlen(sc->kw[i]) == len && memcmp(sc->kw[i], kw, len) == 0)
			return;
	if (sc->nkw == MAIL_KEYWORDS_MAX * 10)
		return;		/* FLAGS lists what it can; STORE takes any */
	if (sc->nkw == sc->kw_cap) {
		sc->kw_cap = sc->kw_cap == 0 ? 8 : sc->kw_cap * 2;
		sc->kw = xreallocarray(sc->kw, sc->kw_cap, sizeof(*sc->kw));
	}
	sc->kw[sc->nkw++] = xmemdup0(kw, len);
}

static int
select_row(void *arg, const struct mail_msg *msg)
{
	struct select_scan *sc = arg;
	const char *k = msg->keywords;

	if (msg->uid <= imap_msnmap_last(&sc->sel->map))
		return 0;
	imap_msnmap_append(&sc->sel->map, msg->uid);
	if (sc->first_unseen == 0 && !(msg->flags & MAIL_F_SEEN))
		sc->first_unseen = sc->sel->map.n;
	while (k != NULL && *k != '\0') {
		const char *sp = strchr(k, ' ');
		size_t len = sp != NULL ? (size_t)(sp - k) : strlen(k);

		if (len > 0)
			kw_add(sc, k, len);
		k += len + (sp != NULL);
	}
	return 0;
}

struct qresync_scan {
	struct imap_session *s;
	const struct imap_select *p;
	uint32_t *v;
	size_t n, cap;
};

static int
qresync_vanished_row(void *arg, const struct mail_msg *msg)
{
	struct qresync_scan *q = arg;

	if (q->p->has_known_uids && !imap_seqset_has(&q->p->known_uids,
	    msg->uid, UINT32_MAX))
		return 0;
	if (q->n == q->cap) {
		q->cap = q->cap == 0 ? 64 : q->cap * 2;
		q->v = xreallocarray(q->v, q->cap, sizeof(*q->v));
	}
	q->v[q->n++] = msg->uid;
	return 0;
}

static int
qresync_changed_row(void *arg, const struct mail_msg *msg)
{
	struct qresync_scan *q = arg;
	uint32_t msn = imap_msnmap_msn(&q->s->sel->map, msg->uid);

	if (msn != 0)
		fetch_flags(q->s, msn, msg->uid, msg->flags, msg->keywords,
		    msg->modseq);
	return 0;
}

/* qresync - VANISHED (EARLIER) and the changed flags (RFC 7162 3.2.5) */
static int
qresync(struct imap_session *s, const struct imap_select *p, struct buf *err)
{
	struct qresync_scan q = { s, p, NULL, 0, 0 };
	size_t w = 0;

	if (mail_msg_vanished_since(s->srv->st->mail, s->acct, s->sel->mbox,
	    p->modseq, qresync_vanished_row, &q, err) < 0) {
		free(q.v);
		return -1;
	}
	if (q.n > 1)
		qsort(q.v, q.n, sizeof(*q.v), cmp_u32);
	for (size_t i = 0; i < q.n; i++)
		if (w == 0 || q.v[i] != q.v[w - 1])
			q.v[w++] = q.v[i];
	if (w > 0) {
		buf_add_str(&s->out, "* VANISHED (EARLIER) ");
		imap_write_uidset(&s->out, q.v, w);
		buf_add_str(&s->out, "\r\n");
	}
	free(q.v);
	return mail_msg_changed_since(s->srv->st->mail, s->acct, s->sel->mbox,
	    p->modseq, qresync_changed_row, &q, err);
}

static void
select_work(struct imap_session *s)
{
	const struct imap_select *p = &s->cmd->u.select;
	bool examine = s->cmd->kind == IMAP_CMD_EXAMINE;
	struct select_scan sc;
	struct mail_mailbox mb;
	struct imap_sel *sel;
	struct buf err = BUF_INIT(0);
	uint32_t id;
	int r;

	memset(&sc, 0, sizeof(sc));
	memset(&mb, 0, sizeof(mb));
	/* RFC 9051 6.3.2: the current one is closed first, without expunge */
	if (s->sel != NULL) {
		imap_sel_free(&s->sel);
		s->state = IMAP_S_AUTH;
		imap_untagged(s, "OK [CLOSED] Previous mailbox closed");
	}
	if (imap_resolve(s, p->mbox.name.p, p->mbox.name.len, &id, true) != 1)
		goto out;
	r = mail_mailbox_get(s->srv->st->mail, s->acct, id, &mb, &err);
	if (r <= 0) {
		if (r < 0)
			imap_store_error(s, "SELECT", &err);
		else
			imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
		goto out;
	}
	sel = xcalloc(1, sizeof(*sel));
	sel->mbox = id;
	sel->path = xmemdup0(p->mbox.name.p, p->mbox.name.len);
	sel->read_only = examine;
	sel->uidvalidity = mb.uidvalidity;
	sel->modseq = mb.highestmodseq;
	sel->role = mb.role;
	sc.sel = sel;
	if (mail_msg_list(s->srv->st->mail, s->acct, id, 1, select_row, &sc,
	    &err) < 0) {
		imap_sel_free(&sel);
		imap_store_error(s, "SELECT", &err);
		goto out;
	}
	sel->uidnext = mb.uidnext;
	if (imap_msnmap_last(&sel->map) >= sel->uidnext)
		sel->uidnext = imap_msnmap_last(&sel->map) + 1;
	s->sel = sel;
	s->state = IMAP_S_SELECTED;

	buf_add_str(&s->out, "* FLAGS (" SYSTEM_FLAGS);
	for (size_t i = 0; i < sc.nkw; i++)
		buf_addf(&s->out, " %s", sc.kw[i]);
	buf_add_str(&s->out, ")\r\n");
	imap_untagged(s, "%" PRIu32 " EXISTS", sel->map.n);
	if (!s->rev2) {
		imap_untagged(s, "0 RECENT");
		if (sc.first_unseen != 0 && !s->uidonly)
			imap_untagged(s, "OK [UNSEEN %" PRIu32 "] First unseen",
			    sc.first_unseen);
	}
	imap_untagged(s, "OK [UIDVALIDITY %" PRIu32 "] UIDs valid",
	    sel->uidvalidity);
	imap_untagged(s, "OK [UIDNEXT %" PRIu32 "] Predicted next UID",
	    sel->uidnext);
	if (examine)
		imap_untagged(s, "OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		imap_untagged(s, "OK [PERMANENTFLAGS (" SYSTEM_FLAGS " \\*)] "
		    "Flags permitted");
	/* RFC 7162 3.1.2.1: always, from a CONDSTORE server; never 0 */
	imap_untagged(s, "OK [HIGHESTMODSEQ %" PRIu64 "] Highest",
	    sel->modseq > 0 ? sel->modseq : 1);
	buf_add_str(&s->out, "* OK [MAILBOXID (");
	imap_mailbox_id(id, &s->out);
	buf_add_str(&s->out, ")] Ok\r\n");
	if (p->qresync && p->uidvalidity == sel->uidvalidity &&
	    qresync(s, p, &err) < 0) {
		imap_store_error(s, "SELECT QRESYNC", &err);
		goto out;
	}
	log_debug(IMAP_SVC, "%s: user=<%s>: %s %s: %" PRIu32 " messages",
	    s->id, s->user, examine ? "EXAMINE" : "SELECT", sel->path,
	    sel->map.n);
	imap_tagged(s, "OK", "[%s] %s completed", examine ? "READ-ONLY" :
	    "READ-WRITE", examine ? "EXAMINE" : "SELECT");
out:
	for (size_t i = 0; i < sc.nkw; i++)
		free(sc.kw[i]);
	free(sc.kw);
	mail_mailbox_clear(&mb);
	buf_free(&err);
}

void
imap_cmd_select(struct imap_session *s)
{
	const struct imap_select *p = &s->cmd->u.select;

	if (p->qresync && !s->qresync) {
		imap_bad(s, "QRESYNC is not enabled");
		return;
	}
	if (p->condstore && !imap_is_offered("CONDSTORE", 9)) {
		imap_bad(s, "CONDSTORE is not supported yet");
		return;
	}
	/* RFC 7162 3.1.8: SELECT (CONDSTORE) enables CONDSTORE */
	if (p->condstore)
		s->condstore = true;
	imap_run_job(s, s->srv->jobs, select_work, NULL);
}

/* ---- EXPUNGE, UID EXPUNGE, CLOSE, UNSELECT ---- */

struct expunge_op {
	struct store_reap *rp;
	uint32_t mbox;
	const uint32_t *uids;
	size_t n;
};

static int
expunge_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct expunge_op *op = arg;

	store_reap_attempt(op->rp);
	for (size_t i = 0; i < op->n; i++) {
		struct mail_removed r;
		int ret;

		ret = mail_msg_expunge_txn(t, op->rp->acct, op->mbox,
		    op->uids[i], &r, err);
		if (ret < 0)
			return ret;
		if (ret == 1 && (ret = store_removed_txn(op->rp, t, &r,
		    err)) < 0)
			return ret;
	}
	return 0;
}

struct deleted_scan {
	struct imap_session *s;
	const struct imap_seqset *set;	/* UID EXPUNGE, else NULL */
	uint32_t *v;
	size_t n, cap;
};

static int
deleted_row(void *arg, const struct mail_msg *msg)
{
	struct deleted_scan *d = arg;
	const struct imap_msnmap *m = &d->s->sel->map;

	/* only what the client sees: not a message it has not heard of */
	if (!(msg->flags & MAIL_F_DELETED) || imap_msnmap_msn(m, msg->uid) == 0)
		return 0;
	if (d->set != NULL && !d->set->saved && !imap_seqset_has(d->set,
	    msg->uid, imap_msnmap_last(m)))
		return 0;
	if (d->set != NULL && d->set->saved &&
	    bsearch(&msg->uid, d->s->sel->saved, d->s->sel->nsaved,
	    sizeof(uint32_t), cmp_u32) == NULL)
		return 0;		/* UID EXPUNGE $ (RFC 5182) */
	if (d->n == d->cap) {
		d->cap = d->cap == 0 ? 64 : d->cap * 2;
		d->v = xreallocarray(d->v, d->cap, sizeof(*d->v));
	}
	d->v[d->n++] = msg->uid;
	return 0;
}

/*
 * expunge_deleted - remove the \Deleted messages (of set); -1 (err).
 * UID EXPUNGE (set) removes at most imap.message_limit of them, the
 * highest UIDs, and *cut_r is then the lowest removed (RFC 9738 3.1);
 * EXPUNGE and CLOSE are never cut.
 */
static int
expunge_deleted(struct imap_session *s, const struct imap_seqset *set,
    size_t *n_r, uint32_t *cut_r, struct buf *err)
{
	struct deleted_scan d = { s, set, NULL, 0, 0 };
	struct store_reap rp;
	struct expunge_op op;
	int r;

	*n_r = 0;
	*cut_r = 0;
	if (mail_msg_list(s->srv->st->mail, s->acct, s->sel->mbox, 1,
	    deleted_row, &d, err) < 0) {
		free(d.v);
		return -1;
	}
	if (d.n == 0)
		return 0;
	if (set != NULL && imap_limit_cut(s, d.v, &d.n) > 0)
		*cut_r = d.v[0];
	/*
	 * XXX one transaction for all: a mailbox of 100,000 deleted
	 * messages is one big commit; batches would need the client's
	 * view to be updated per batch
	 */
	store_reap_init(&rp, s->srv->st, s->acct);
	op = (struct expunge_op){ &rp, s->sel->mbox, d.v, d.n };
	r = kv_run(mail_kv(s->srv->st->mail), KV_WRITE, expunge_txn, &op, err);
	store_reap_finish(&rp, r == 0);
	free(d.v);
	*n_r = d.n;
	return r < 0 ? -1 : 0;
}

static void
expunge_work(struct imap_session *s)
{
	struct buf err = BUF_INIT(0), code = BUF_INIT(0);
	size_t n;
	uint32_t cut;

	if (expunge_deleted(s, s->cmd->uid ? &s->cmd->u.copy.set : NULL, &n,
	    &cut, &err) < 0) {
		imap_store_error(s, "EXPUNGE", &err);
	} else {
		if (n > 0)
			log_info(IMAP_SVC, "%s: user=<%s>: expunged %zu from %s",
			    s->id, s->user, n, s->sel->path);
		(void)imap_refresh(s, true);
		imap_limit_code(s, cut, false, &code);
		if (!s->want_close)
			imap_tagged(s, "OK", "%s%sEXPUNGE completed",
			    buf_cstr(&code), s->cmd->uid ? "UID " : "");
	}
	buf_free(&code);
	buf_free(&err);
}

void
imap_cmd_expunge(struct imap_session *s)
{
	if (s->sel->read_only) {
		imap_tagged(s, "NO", "[READ-ONLY] The mailbox is read-only");
		return;
	}
	imap_run_job(s, s->srv->jobs, expunge_work, NULL);
}

/* CLOSE: expunge silently (RFC 9051 6.4.1), then unselect */
static void
close_work(struct imap_session *s)
{
	struct buf err = BUF_INIT(0);
	size_t n;
	uint32_t cut;

	if (!s->sel->read_only && expunge_deleted(s, NULL, &n, &cut,
	    &err) < 0) {
		imap_store_error(s, "CLOSE", &err);
	} else {
		imap_sel_free(&s->sel);
		s->state = IMAP_S_AUTH;
		imap_tagged(s, "OK", "CLOSE completed");
	}
	buf_free(&err);
}

void
imap_cmd_close(struct imap_session *s)
{
	if (s->cmd->kind == IMAP_CMD_CLOSE) {
		imap_run_job(s, s->srv->jobs, close_work, NULL);
		return;
	}
	imap_sel_free(&s->sel);
	s->state = IMAP_S_AUTH;
	imap_tagged(s, "OK", "UNSELECT completed");
}

/* ---- IDLE ---- */

static void idle_refresh_done(struct imap_session *s);

static void
idle_refresh(struct imap_session *s)
{
	(void)imap_refresh(s, true);
}

static void
idle_run(struct imap_session *s)
{
	s->notified = false;
	imap_run_job(s, s->srv->jobs, idle_refresh, idle_refresh_done);
}

static void
idle_refresh_done(struct imap_session *s)
{
	if (s->notified && s->idling && s->sel != NULL && !s->want_close)
		idle_run(s);
}

void
imap_cmd_idle(struct imap_session *s)
{
	buf_add_str(&s->out, "+ idling\r\n");
	s->cont = IMAP_CONT_IDLE;
	s->idling = true;
	s->notified = false;
	imap_parser_expect(s->parser, IMAP_EXPECT_DONE);
	imap_idle_watch(s, true);
	/* what changed since the last command, at once */
	if (s->sel != NULL)
		idle_run(s);
}

void
imap_idle_notify(struct imap_session *s)
{
	if (!s->idling || s->closing || s->sel == NULL)
		return;
	if (s->busy) {
		s->notified = true;	/* taken when the refresh is done */
		return;
	}
	idle_run(s);
}

void
imap_idle_done(struct imap_session *s, bool ok)
{
	s->idling = false;
	s->notified = false;
	imap_idle_watch(s, false);
	if (ok)
		imap_tagged(s, "OK", "IDLE terminated");
	else
		imap_bad(s, "Expected DONE");
	imap_cmd_finish(s);
}
