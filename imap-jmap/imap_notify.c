/*
 * imap_notify.c - NOTIFY (RFC 5465) in the session: the command, and the
 * pushes that tell the client what changed while none of its commands
 * runs.  The checks, the matching of mailboxes to event groups and the
 * LIST/STATUS responses are the pure imap_notify_set.c's.
 *
 * NOTIFY SET is one job: the account's mailboxes are read once into the
 * session's view, MAILBOXES names resolved to ids, the selected mailbox
 * refreshed (the implicit NOOP of RFC 5465 3.1), a STATUS written for
 * every watched mailbox with message events when STATUS was given.  The
 * state is installed on the loop by the job's done step.  NOTIFY NONE
 * keeps a state that says "nothing": from then on IDLE tells nothing
 * either (RFC 5465 4: IDLE sends what NOTIFY asked for).
 *
 * Pushes.  A commit on the account posts to the session (imap_server.c
 * notify_cb); so does, at dispatch, a command of the session that may
 * change something (imap_notify_cmd).  The loop runs a push job when no
 * command is in progress, or in IDLE, never inside a command's answer
 * (RFC 5465 5), and only while the client takes its output
 * (IMAP_OUT_HIGH).  A push
 *   1. refreshes the selected mailbox with the model's own code
 *      (imap_refresh: EXISTS, EXPUNGE or VANISHED, FETCH FLAGS) when
 *      SELECTED or SELECTED-DELAYED has events: expunges at once under
 *      SELECTED, under SELECTED-DELAYED only in IDLE (else they wait
 *      for a command that may announce them, RFC 5465 6.1); no FETCH
 *      FLAGS without FlagChange (they stay due for the next command).
 *      MessageNew with fetch attributes adds a FETCH of each new
 *      message, rendered by imap_fetch_out.h without setting \Seen;
 *      not for messages this session appended, copied or moved itself
 *      (RFC 5465 5.2 SHOULD NOT);
 *   2. asks the change log what changed since the state it last told
 *      (mail_changes: mailbox records, and with FlagChange the email
 *      records, whose memberships name their mailboxes), re-reads only
 *      those mailboxes and hands them to imap_notify_apply.  When the
 *      log cannot say (pruned, or over MAIL_CHANGES_MAX records, or
 *      over NOTIFY_EMAILS_MAX flag changes) the mailbox list is read
 *      instead: one scan of the account's mailboxes, never of messages;
 *   3. writes the METADATA changes other sessions queued.
 * Everything is idempotent against the view, so a record seen twice
 * says nothing twice.  A push that would hold more than
 * IMAP_NOTIFY_QUEUE_MAX notifications, or a METADATA queue that
 * filled, ends in OK [NOTIFICATIONOVERFLOW] and NOTIFY NONE (RFC 5465
 * 5.8); the selected mailbox's responses are kept (the client's message
 * numbers depend on them).
 *
 * Decisions: MessageNew FETCHes never set \Seen (IMAP_FETCH_OUT_READ_ONLY
 * rendering: RFC 5465 5.2 asks clients not to want it); a message whose
 * FETCH is over IMAP_NOTIFY_FETCH_MAX gets "* NO [TOOBIG]" with its UID
 * instead, the client fetches it itself; at most IMAP_NOTIFY_QUEUE_MAX
 * new messages are fetched in one push, more is an overflow.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_fetch_out.h"
#include "imap-jmap/imap_priv.h"

/* flag changes one push reads email records for; more: the mailbox list */
#define NOTIFY_EMAILS_MAX 256u
/* own changes remembered until the push after them */
#define NOTIFY_ECHO_MAX 64u

/* a METADATA change queued for a session (srv->mu) */
struct imap_notify_meta {
	uint32_t mbox;		/* 0: a server entry */
	char *entry;
};

struct imap_notify_state {
	struct imap_notify_set *set;
	struct imap_notify_view view;	/* when set->events != 0 */
	uint64_t since;		/* the change-log state told */
	uint32_t sel_mbox, sel_uidvalidity;	/* the selection fetched is of */
	uint32_t fetched;	/* MessageNew FETCH done up to this UID */
	bool reselect;		/* SELECT, EXAMINE, CLOSE or UNSELECT ran */
	bool own_new;		/* an own APPEND/COPY/MOVE into the selected
				   mailbox ran: what it added is no news */
	struct imap_notify_echo *echo;	/* own mailbox changes */
	size_t necho;
	bool overflow;		/* this push went over the queue limit */
};

static void
echo_clear(struct imap_notify_state *n)
{
	for (size_t i = 0; i < n->necho; i++) {
		free(n->echo[i].path);
		free(n->echo[i].to);
	}
	n->necho = 0;
}

static void
state_free(struct imap_notify_state **np)
{
	struct imap_notify_state *n = *np;

	if (n == NULL)
		return;
	imap_notify_set_free(&n->set);
	imap_notify_view_free(&n->view);
	echo_clear(n);
	free(n->echo);
	free(n);
	*np = NULL;
}

static void
state_free_v(void *arg)
{
	struct imap_notify_state *n = arg;

	state_free(&n);
}

static void
meta_clear_locked(struct imap_session *s)
{
	for (size_t i = 0; i < s->nmeta; i++)
		free(s->meta_q[i].entry);
	free(s->meta_q);
	s->meta_q = NULL;
	s->nmeta = 0;
	s->meta_overflow = false;
}

void
imap_notify_free(struct imap_session *s)
{
	state_free(&s->notify);
	s->notify_pending = false;
	pthread_mutex_lock(&s->srv->mu);
	s->notify_watch = false;
	s->notify_meta = 0;
	meta_clear_locked(s);
	pthread_mutex_unlock(&s->srv->mu);
}

/* install - n becomes the session's state (loop) */
static void
install(struct imap_session *s, struct imap_notify_state *n)
{
	const struct imap_notify_set *ns = n->set;
	unsigned meta = 0;

	for (size_t i = 0; i < ns->ngrp; i++)
		meta |= ns->grp[i].events & (IMAP_NEV_MAILBOX_METADATA |
		    IMAP_NEV_SERVER_METADATA);
	state_free(&s->notify);
	s->notify = n;
	pthread_mutex_lock(&s->srv->mu);
	s->notify_watch = !ns->none && s->watched;
	s->notify_meta = ns->none || !s->watched ? 0 : meta;
	meta_clear_locked(s);
	pthread_mutex_unlock(&s->srv->mu);
}

/* none_state - what NOTIFY NONE and an overflow leave */
static struct imap_notify_state *
none_state(void)
{
	struct imap_notify_state *n = xcalloc(1, sizeof(*n));

	n->set = xcalloc(1, sizeof(*n->set));
	n->set->none = true;
	return n;
}

static void
out_init(struct imap_session *s, struct imap_notify_state *n,
    struct imap_notify_out *o)
{
	memset(o, 0, sizeof(*o));
	o->utf8 = s->utf8;
	o->condstore = s->condstore;
	o->selected = s->sel != NULL ? s->sel->mbox : 0;
	o->echo = n->echo;
	o->necho = n->necho;
}

/* ---- reading the store (on a worker) ---- */

struct recs {
	struct mail_mailbox *v;
	size_t n, cap;
};

static void
recs_add(struct recs *r, const struct mail_mailbox *mb)
{
	if (r->n == r->cap) {
		r->cap = r->cap == 0 ? 16 : r->cap * 2;
		r->v = xreallocarray(r->v, r->cap, sizeof(*r->v));
	}
	r->v[r->n] = *mb;
	r->v[r->n++].name = xstrdup(mb->name);
}

static void
recs_free(struct recs *r)
{
	for (size_t i = 0; i < r->n; i++)
		mail_mailbox_clear(&r->v[i]);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

static int
recs_row(void *arg, const struct mail_mailbox *mb)
{
	recs_add(arg, mb);
	return 0;
}

/* read_all - every mailbox of the account */
static int
read_all(struct imap_session *s, struct recs *r, struct buf *err)
{
	return mail_mailbox_list(s->srv->st->mail, s->acct, recs_row, r, err);
}

static int
read_view(struct imap_session *s, struct imap_notify_state *n,
    struct buf *err)
{
	struct recs r = { NULL, 0, 0 };
	const struct mail_mailbox **p;

	if (read_all(s, &r, err) < 0) {
		recs_free(&r);
		return -1;
	}
	p = xcalloc(r.n + 1, sizeof(*p));
	for (size_t i = 0; i < r.n; i++)
		p[i] = &r.v[i];
	imap_notify_view_build(&n->view, p, r.n);
	free(p);
	recs_free(&r);
	return 0;
}

struct ids {
	uint32_t *v;
	size_t n, cap;
};

static void
ids_add(struct ids *d, uint32_t id)
{
	if (d->n == d->cap) {
		d->cap = d->cap == 0 ? 16 : d->cap * 2;
		d->v = xreallocarray(d->v, d->cap, sizeof(*d->v));
	}
	d->v[d->n++] = id;
}

static void
ids_addv(struct ids *d, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ids_add(d, v[i]);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * changed - the mailboxes changed since n->since into d, or *full_r
 * when the log cannot say cheaply; -1 (err)
 */
static int
changed(struct imap_session *s, struct imap_notify_state *n, struct ids *d,
    bool *full_r, struct buf *err)
{
	struct mail *m = s->srv->st->mail;
	struct mail_changes ch;
	int r = 0;

	*full_r = false;
	if (mail_changes(m, s->acct, MAIL_LOG_MAILBOX, n->since, 0, &ch,
	    err) < 0)
		return -1;
	if (ch.cannot_calculate || ch.has_more) {
		*full_r = true;
	} else {
		ids_addv(d, ch.created, ch.ncreated);
		ids_addv(d, ch.updated, ch.nupdated);
		ids_addv(d, ch.destroyed, ch.ndestroyed);
	}
	mail_changes_clear(&ch);
	/* a flag change that leaves the counts alone is logged for the
	 * email only: its memberships name the mailboxes */
	if (*full_r || !(n->set->events & IMAP_NEV_FLAG_CHANGE))
		return 0;
	if (mail_changes(m, s->acct, MAIL_LOG_EMAIL, n->since, 0, &ch,
	    err) < 0)
		return -1;
	if (ch.cannot_calculate || ch.has_more ||
	    ch.nupdated > NOTIFY_EMAILS_MAX) {
		*full_r = true;
		mail_changes_clear(&ch);
		return 0;
	}
	for (size_t i = 0; i < ch.nupdated && r >= 0; i++) {
		struct mail_email em;

		memset(&em, 0, sizeof(em));
		r = mail_email_get(m, s->acct, ch.updated[i], &em, err);
		for (size_t j = 0; r == 1 && j < em.nmembers; j++)
			ids_add(d, em.members[j].mbox);
		mail_email_clear(&em);
	}
	mail_changes_clear(&ch);
	return r < 0 ? -1 : 0;
}

/* others - step 2: mailboxes other than the selected one */
static int
others(struct imap_session *s, struct imap_notify_state *n,
    struct imap_notify_out *o, struct buf *err)
{
	struct mail *m = s->srv->st->mail;
	struct recs r = { NULL, 0, 0 };
	struct ids d = { NULL, 0, 0 }, gone = { NULL, 0, 0 };
	uint64_t now;
	bool full;
	int ret = -1;

	/* the state first: what commits later is told next time */
	if (mail_current_state(m, s->acct, 0, &now, err) < 0)
		return -1;
	if (now == n->since)
		return 0;
	if (changed(s, n, &d, &full, err) < 0)
		goto out;
	if (full) {
		if (read_all(s, &r, err) < 0)
			goto out;
	} else {
		size_t w = 0;

		if (d.n > 1)
			qsort(d.v, d.n, sizeof(*d.v), cmp_u32);
		for (size_t i = 0; i < d.n; i++) {
			struct mail_mailbox mb;
			int x;

			if (w > 0 && d.v[i] == d.v[w - 1])
				continue;
			d.v[w++] = d.v[i];
			memset(&mb, 0, sizeof(mb));
			x = mail_mailbox_get(m, s->acct, d.v[i], &mb, err);
			if (x == 1)
				recs_add(&r, &mb);
			else if (x == 0)
				ids_add(&gone, d.v[i]);
			mail_mailbox_clear(&mb);
			if (x < 0)
				goto out;
		}
	}
	/* what a push cost, for the postmaster (and the tests) */
	log_debug(IMAP_SVC, "%s: user=<%s>: notify: read %zu of %zu "
	    "mailboxes%s", s->id, s->user, r.n + gone.n, n->view.t.n,
	    full ? " (full list)" : "");
	imap_notify_apply(&n->view, n->set, r.v, r.n, gone.v, gone.n, full, o,
	    &s->out);
	n->since = now;
	ret = 0;
out:
	recs_free(&r);
	free(d.v);
	free(gone.v);
	return ret;
}

/* ---- MessageNew fetch attributes (RFC 5465 5.2) ---- */

struct new_msg {
	uint32_t uid, email, flags;
	uint64_t modseq;
	char *keywords;
};

struct new_scan {
	const struct imap_msnmap *map;
	uint32_t last;
	struct new_msg *v;
	size_t n, cap;
};

static int
new_row(void *arg, const struct mail_msg *msg)
{
	struct new_scan *sc = arg;

	if (msg->uid > sc->last)
		return 1;
	if (imap_msnmap_msn(sc->map, msg->uid) == 0)
		return 0;
	if (sc->n == sc->cap) {
		sc->cap = sc->cap == 0 ? 16 : sc->cap * 2;
		sc->v = xreallocarray(sc->v, sc->cap, sizeof(*sc->v));
	}
	sc->v[sc->n++] = (struct new_msg){ msg->uid, msg->email, msg->flags,
		msg->modseq, xstrdup(msg->keywords != NULL ? msg->keywords :
		"") };
	return 0;
}

/* fetch_one - the FETCH of one new message into s->out; -1 (err) */
static int
fetch_one(struct imap_session *s, const struct imap_fetch_out_opts *opts,
    unsigned need, const struct new_msg *nm, struct imap_blob_ctx *bc,
    struct buf *err)
{
	struct imap_fetch_out_msg m;
	struct mail_email em;
	struct mime_info *mime = NULL;
	enum imap_fetch_out_res res;
	size_t errlen = err->len;
	int r;

	memset(&m, 0, sizeof(m));
	memset(&em, 0, sizeof(em));
	r = mail_email_get(s->srv->st->mail, s->acct, nm->email, &em, err);
	if (r <= 0)
		goto out;	/* gone meanwhile: its EXPUNGE follows */
	if ((need & IMAP_FETCH_OUT_NEED_MIME) &&
	    (r = mail_email_mime(s->srv->st->mail, s->acct, nm->email, &mime,
	    err)) < 0)
		goto out;
	m.msn = imap_msnmap_msn(&s->sel->map, nm->uid);
	m.uid = nm->uid;
	m.flags = nm->flags;
	m.keywords = nm->keywords;
	m.modseq = nm->modseq;
	m.email_id = nm->email;
	m.internal_date = em.received_at;
	m.size = em.size;
	m.thread_id = em.thread;
	m.has_savedate = true;
	m.savedate = em.created;
	m.mime = mime;
	bc->id = &em.blob;
	m.blob = imap_read_blob;
	m.blob_arg = bc;
	r = 0;
	res = imap_fetch_out_render(&s->out, opts, &m, NULL, err);
	if (res == IMAP_FETCH_OUT_TOO_BIG || res == IMAP_FETCH_OUT_UNKNOWN_CTE)
		buf_addf(&s->out, "* NO [%s] UID %" PRIu32 ": %s\r\n",
		    res == IMAP_FETCH_OUT_TOO_BIG ? "TOOBIG" : "UNKNOWN-CTE",
		    nm->uid, res == IMAP_FETCH_OUT_TOO_BIG ?
		    "too big to send with NOTIFY; fetch it" :
		    "unknown Content-Transfer-Encoding");
	if (res == IMAP_FETCH_OUT_ERROR) {
		/* this message only: the others are news too */
		log_error(IMAP_SVC, "%s: user=<%s>: NOTIFY FETCH uid %" PRIu32
		    ": %s", s->id, s->user, nm->uid, buf_cstr(err) + errlen);
		buf_truncate(err, errlen);
	}
out:
	mime_info_free(&mime);
	mail_email_clear(&em);
	buf_reset(&bc->data);
	return r < 0 ? -1 : 0;
}

/* fetch_new - the FETCH of each message above n->fetched */
static int
fetch_new(struct imap_session *s, struct imap_notify_state *n,
    struct imap_notify_out *o, struct buf *err)
{
	const struct imap_notify_set *ns = n->set;
	struct new_scan sc;
	struct imap_fetch_out_opts opts;
	struct imap_blob_ctx bc = { s, NULL, BUF_INIT(0) };
	int r = 0;

	memset(&sc, 0, sizeof(sc));
	sc.map = &s->sel->map;
	sc.last = imap_msnmap_last(&s->sel->map);
	if (mail_msg_list(s->srv->st->mail, s->acct, s->sel->mbox,
	    n->fetched + 1, new_row, &sc, err) < 0) {
		r = -1;
		goto out;
	}
	if (sc.n > IMAP_NOTIFY_QUEUE_MAX) {
		n->overflow = true;
		goto out;
	}
	memset(&opts, 0, sizeof(opts));
	opts.att = ns->fetch;
	opts.natt = ns->nfetch;
	/* a notification never sets \Seen */
	opts.session = imap_out_session(s) | IMAP_FETCH_OUT_READ_ONLY;
	opts.max_response = IMAP_NOTIFY_FETCH_MAX;
	for (size_t i = 0; i < sc.n && r == 0; i++) {
		r = fetch_one(s, &opts, imap_fetch_out_needs(&opts), &sc.v[i],
		    &bc, err);
		o->count++;
	}
out:
	for (size_t i = 0; i < sc.n; i++)
		free(sc.v[i].keywords);
	free(sc.v);
	buf_free(&bc.data);
	return r;
}

/* selected - step 1: the selected mailbox; -1 when the refresh failed
 * (logged) or err */
static int
selected(struct imap_session *s, struct imap_notify_state *n,
    struct imap_notify_out *o, struct buf *err)
{
	const struct imap_notify_set *ns = n->set;
	struct imap_sel *sel = s->sel;
	bool expunge_ok = !ns->sel_delayed || s->cont == IMAP_CONT_IDLE;
	uint32_t last = imap_msnmap_last(&sel->map);
	int r;

	if (n->reselect || n->sel_mbox != sel->mbox ||
	    n->sel_uidvalidity != sel->uidvalidity) {
		n->sel_mbox = sel->mbox;
		n->sel_uidvalidity = sel->uidvalidity;
		n->fetched = last;	/* SELECT told of those */
	}
	n->reselect = false;
	if (n->own_new && last > n->fetched)
		n->fetched = last;
	n->own_new = false;
	s->refresh_no_flags = !(ns->sel_events & IMAP_NEV_FLAG_CHANGE);
	r = imap_refresh(s, expunge_ok);
	s->refresh_no_flags = false;
	if (r < 0 || s->want_close || s->sel == NULL)
		return r;
	last = imap_msnmap_last(&sel->map);
	if (ns->nfetch > 0 && last > n->fetched &&
	    fetch_new(s, n, o, err) < 0)
		return -1;
	n->fetched = last;
	return 0;
}

/* ---- METADATA changes (RFC 5465 5.6, 5.7) ---- */

static void
metadata(struct imap_session *s, struct imap_notify_state *n,
    struct imap_notify_out *o)
{
	struct imap_notify_meta *q;
	size_t nq;
	bool full;

	pthread_mutex_lock(&s->srv->mu);
	q = s->meta_q;
	nq = s->nmeta;
	full = s->meta_overflow;
	s->meta_q = NULL;
	s->nmeta = 0;
	s->meta_overflow = false;
	pthread_mutex_unlock(&s->srv->mu);
	if (full)
		n->overflow = true;
	for (size_t i = 0; i < nq; i++) {
		const struct imap_node *node = NULL;
		const char *path = "";
		unsigned want = IMAP_NEV_SERVER_METADATA;

		if (q[i].mbox != 0) {
			node = imap_notify_view_find(&n->view, q[i].mbox);
			if (node == NULL || node->path == NULL)
				continue;
			path = node->path;
			want = imap_notify_events(n->set, path, q[i].mbox,
			    node->mb.subscribed) & IMAP_NEV_MAILBOX_METADATA;
		} else {
			want &= n->set->events;
		}
		if (want == 0)
			continue;
		buf_add_str(&s->out, "* METADATA ");
		imap_write_mailbox(&s->out, path, strlen(path), s->utf8);
		buf_add_str(&s->out, " ");
		imap_write_astring(&s->out, q[i].entry, strlen(q[i].entry),
		    s->utf8);
		buf_add_str(&s->out, "\r\n");
		o->count++;
	}
	for (size_t i = 0; i < nq; i++)
		free(q[i].entry);
	free(q);
}

void
imap_notify_metadata_changed(struct imap_session *s, uint32_t mbox,
    const char *entry)
{
	struct imap_server *srv = s->srv;
	unsigned want = mbox != 0 ? IMAP_NEV_MAILBOX_METADATA :
	    IMAP_NEV_SERVER_METADATA;
	struct imap_session *t;

	pthread_mutex_lock(&srv->mu);
	for (t = imap_watch_first_locked(srv, s->acct); t != NULL;
	    t = t->wnext) {
		if (t == s || t->acct != s->acct || !(t->notify_meta & want))
			continue;
		if (t->nmeta >= IMAP_NOTIFY_QUEUE_MAX) {
			t->meta_overflow = true;
		} else {
			t->meta_q = xreallocarray(t->meta_q, t->nmeta + 1,
			    sizeof(*t->meta_q));
			t->meta_q[t->nmeta].mbox = mbox;
			t->meta_q[t->nmeta++].entry = xstrdup(entry);
		}
		imap_post_notify_locked(t);
	}
	pthread_mutex_unlock(&srv->mu);
}

/* ---- the push ---- */

static void
push_work(struct imap_session *s)
{
	struct imap_notify_state *n = s->notify;
	struct imap_notify_out o;
	struct buf err = BUF_INIT(0);
	size_t mark;

	out_init(s, n, &o);
	if (s->sel != NULL && n->set->sel_events != 0 &&
	    selected(s, n, &o, &err) < 0) {
		if (err.len > 0)
			log_error(IMAP_SVC, "%s: user=<%s>: NOTIFY: %s", s->id,
			    s->user, buf_cstr(&err));
		goto out;	/* the next push tries again */
	}
	if (s->want_close)
		goto out;
	/* what follows is not about message numbers: an overflow may
	 * drop it */
	mark = s->out.len;
	o.count = 0;
	if (n->set->events != 0 && others(s, n, &o, &err) < 0)
		log_error(IMAP_SVC, "%s: user=<%s>: NOTIFY: %s", s->id,
		    s->user, buf_cstr(&err));
	metadata(s, n, &o);
	if (o.count > IMAP_NOTIFY_QUEUE_MAX) {
		buf_truncate(&s->out, mark);
		n->overflow = true;
	}
out:
	echo_clear(n);
	buf_free(&err);
}

static void
push_done(struct imap_session *s)
{
	if (s->notify == NULL || !s->notify->overflow)
		return;
	log_info(IMAP_SVC, "%s: user=<%s>: NOTIFY: over %u notifications at "
	    "once: NOTIFICATIONOVERFLOW", s->id, s->user,
	    IMAP_NOTIFY_QUEUE_MAX);
	imap_untagged(s, "OK [NOTIFICATIONOVERFLOW] Too many changes at "
	    "once; NOTIFY is off");
	install(s, none_state());
}

bool
imap_notify_push(struct imap_session *s)
{
	struct imap_notify_state *n = s->notify;

	if (n == NULL || n->set->none || s->state == IMAP_S_NOAUTH) {
		s->notify_pending = false;
		return false;
	}
	if (s->busy || s->closing || s->want_close ||
	    (s->cmd != NULL && s->cont != IMAP_CONT_IDLE))
		return false;	/* still due */
	s->notify_pending = false;
	if (n->set->events == 0 && (s->sel == NULL ||
	    n->set->sel_events == 0)) {
		echo_clear(n);
		return false;
	}
	imap_run_job(s, s->srv->jobs, push_work, push_done);
	return true;
}

/* ---- the command's side ---- */

static void
echo_add(struct imap_notify_state *n, enum imap_notify_echo_kind kind,
    const struct imap_mailbox *a, const struct imap_mailbox *b)
{
	if (n->necho >= NOTIFY_ECHO_MAX)
		return;		/* then told back: a SHOULD, not a leak */
	if (n->echo == NULL)
		n->echo = xcalloc(NOTIFY_ECHO_MAX, sizeof(*n->echo));
	n->echo[n->necho].kind = kind;
	n->echo[n->necho].path = imap_notify_path_fold(a->name.p, a->name.len);
	n->echo[n->necho++].to = b != NULL ?
	    imap_notify_path_fold(b->name.p, b->name.len) : NULL;
}

/* is_selected - mbox names the selected mailbox */
static bool
is_selected(const struct imap_session *s, const struct imap_mailbox *mbox)
{
	char *a, *b;
	bool r;

	if (s->sel == NULL)
		return false;
	a = imap_notify_path_fold(mbox->name.p, mbox->name.len);
	b = imap_notify_path_fold(s->sel->path, strlen(s->sel->path));
	r = strcmp(a, b) == 0;
	free(a);
	free(b);
	return r;
}

void
imap_notify_cmd(struct imap_session *s, const struct imap_cmd *cmd)
{
	struct imap_notify_state *n = s->notify;

	if (n == NULL || n->set->none)
		return;
	switch (cmd->kind) {
	case IMAP_CMD_CREATE:
		echo_add(n, IMAP_ECHO_CREATE, &cmd->u.create.mbox, NULL);
		break;
	case IMAP_CMD_DELETE:
		echo_add(n, IMAP_ECHO_DELETE, &cmd->u.mbox, NULL);
		break;
	case IMAP_CMD_RENAME:
		echo_add(n, IMAP_ECHO_RENAME, &cmd->u.rename.from,
		    &cmd->u.rename.to);
		break;
	case IMAP_CMD_SUBSCRIBE:
	case IMAP_CMD_UNSUBSCRIBE:
		echo_add(n, IMAP_ECHO_SUB, &cmd->u.mbox, NULL);
		break;
	case IMAP_CMD_APPEND:
		n->own_new |= is_selected(s, &cmd->u.append.mbox);
		break;
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		n->own_new |= is_selected(s, &cmd->u.copy.mbox);
		break;
	case IMAP_CMD_SELECT:
	case IMAP_CMD_EXAMINE:
	case IMAP_CMD_CLOSE:
	case IMAP_CMD_UNSELECT:
		n->reselect = true;
		break;
	case IMAP_CMD_STORE:
	case IMAP_CMD_EXPUNGE:
	case IMAP_CMD_SETMETADATA:
		break;
	default:
		return;		/* changes nothing a push would tell */
	}
	/* the push follows the command, before the next one is read */
	s->notify_pending = true;
}

/* ---- NOTIFY SET, NOTIFY NONE ---- */

static void
set_work(struct imap_session *s)
{
	struct imap_notify_state *n = s->cmd_state;
	struct imap_notify_out o;
	struct buf err = BUF_INIT(0);

	s->job_r = -1;
	/* the state first: what commits after it is told by a push */
	if (mail_current_state(s->srv->st->mail, s->acct, 0, &n->since,
	    &err) < 0 || (n->set->events != 0 && read_view(s, n, &err) < 0)) {
		imap_store_error(s, "NOTIFY", &err);
		goto out;
	}
	imap_notify_set_resolve(n->set, &n->view);
	/* a successful NOTIFY SET is an implicit NOOP (RFC 5465 3.1) */
	if (imap_refresh(s, true) < 0) {
		imap_tagged(s, "NO", "[SERVERBUG] Internal error; see the "
		    "server log");
		goto out;
	}
	if (s->want_close)
		goto out;	/* BYE: the selected mailbox was deleted */
	if (s->sel != NULL) {
		n->sel_mbox = s->sel->mbox;
		n->sel_uidvalidity = s->sel->uidvalidity;
		n->fetched = imap_msnmap_last(&s->sel->map);
	}
	if (n->set->status) {
		out_init(s, n, &o);
		imap_notify_status_all(&n->view, n->set, &o, &s->out);
	}
	imap_tagged(s, "OK", "NOTIFY completed");
	s->job_r = 0;
out:
	buf_free(&err);
}

static void
set_done(struct imap_session *s)
{
	struct imap_notify_state *n = s->cmd_state;

	if (s->job_r < 0 || s->want_close)
		return;		/* the command's state goes with it */
	s->cmd_state = NULL;
	s->cmd_state_free = NULL;
	install(s, n);
	/* what committed between the snapshot and now */
	s->notify_pending = true;
}

void
imap_cmd_notify(struct imap_session *s)
{
	bool metadata = imap_is_offered("METADATA", 8);
	struct imap_notify_set *ns;
	struct imap_notify_state *n;
	struct buf sup = BUF_INIT(0);
	const char *why;

	switch (imap_notify_set_new(&s->cmd->u.notify, metadata, &ns, &why)) {
	case IMAP_NOTIFY_BAD:
		imap_bad(s, "%s", why);
		return;
	case IMAP_NOTIFY_BADEVENT:
		/* RFC 5465 3.1: NO, listing every event served */
		imap_notify_supported(&sup, metadata);
		imap_tagged(s, "NO", "[BADEVENT (%s)] Unsupported NOTIFY event",
		    buf_cstr(&sup));
		buf_free(&sup);
		return;
	case IMAP_NOTIFY_TOO_MANY:
		imap_tagged(s, "NO", "[NOTIFICATIONOVERFLOW] More than %u "
		    "mailboxes named", IMAP_NOTIFY_NAMES_MAX);
		return;
	case IMAP_NOTIFY_OK:
		break;
	}
	n = xcalloc(1, sizeof(*n));
	n->set = ns;
	if (ns->none) {
		install(s, n);
		imap_tagged(s, "OK", "NOTIFY completed");
		return;
	}
	s->cmd_state = n;
	s->cmd_state_free = state_free_v;
	imap_run_job(s, s->srv->jobs, set_work, set_done);
}
