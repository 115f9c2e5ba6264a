/*
 * imap_fetch_cmd.c - FETCH and UID FETCH (RFC 9051 6.4.5, 6.4.9) with
 * the CHANGEDSINCE and VANISHED modifiers (RFC 7162 3.1.4, 3.2.6), in
 * UIDFETCH form under UIDONLY (RFC 9586).  The lines themselves are the
 * renderer's (imap_fetch_out.h); this file reads what it needs.
 *
 * Parts: the messages are taken a part at a time, each part one job
 * with one read transaction (its memberships read run by run, then the
 * email records and MIME info its items need, the blob only when an
 * item needs the bytes), and its output handed to the client before
 * the next part starts (s->more, imap_server.c): a part ends after
 * FETCH_PART_MSGS messages or FETCH_PART_BYTES of output, so FETCH 1:*
 * of a big mailbox holds one part in memory and a client that reads
 * slowly holds the server back, not its memory.  Each part is its own
 * snapshot: a message expunged between parts is left out like one
 * expunged before the command.
 *
 * \Seen (RFC 9051 6.4.5): when the items set it (a non-PEEK body item,
 * read-write mailbox), a part first sets it on the messages that lack
 * it, in one write transaction, and they are rendered with the new
 * flags, FLAGS (and MODSEQ under CONDSTORE) added to their line
 * (imap_fetch_out.h, the session sets first).  The model takes its own
 * change (imap_sel_own_change) so the next refresh does not repeat it.
 *
 * Messages the client knows but the store no longer holds (expunged by
 * another session, not yet announced, RFC 9051 7.5.1): left out; a
 * FETCH by message number then ends NO [EXPUNGEISSUED] (RFC 5530, as
 * Dovecot does), a UID FETCH OK with the expunge announced.  A render
 * that cannot be made (BINARY of an unknown encoding, a line over the
 * size bound) leaves that message out and the command ends NO
 * [UNKNOWN-CTE] (RFC 3516) or NO [LIMIT]; the others are sent.
 *
 * MESSAGELIMIT (RFC 9738 3.1, imap_msgs_cmd.c): a set of more messages
 * than the limit is fetched for the limit with the highest UIDs, and
 * the reply says "MESSAGELIMIT limit uid" (in an untagged NO when the
 * tagged one has a code of its own).
 *
 * CHANGEDSINCE enables CONDSTORE (RFC 7162 3.1), as the MODSEQ item
 * does; VANISHED needs QRESYNC enabled (RFC 7162 3.2.6) and first sends
 * VANISHED (EARLIER) for the UIDs of the set expunged after the MODSEQ.
 * PARTIAL (RFC 9394) is not offered: BAD.
 *
 * XXX SAVEDATE is the email record's creation time, which for a copy is
 * when the original was stored, not when this copy was made.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_fetch_out.h"
#include "imap-jmap/imap_priv.h"

#define FETCH_PART_BYTES (512u * 1024)	/* output of one part */
/* messages of one part, by what each costs */
#define FETCH_PART_MSGS 2000u		/* flags, sizes, dates */
#define FETCH_PART_MIME 500u		/* ENVELOPE, BODYSTRUCTURE */
#define FETCH_PART_BLOB 64u		/* message bytes */

struct fetch_state {
	struct imap_fetch_out_opts opts;
	unsigned need;		/* IMAP_FETCH_OUT_NEED_* */
	bool need_email;	/* the email record: sizes, dates, blob */
	bool sets_seen;
	size_t part_msgs;
	uint32_t *msns;		/* the messages, ascending */
	size_t n, next;
	uint32_t cut;		/* MESSAGELIMIT: the lowest UID kept, or 0 */
	bool started;
	bool done;		/* the tagged reply is written */
	bool gone;		/* some message was expunged meanwhile */
	enum imap_fetch_out_res fail;	/* the first render failure */
	uint32_t *carry;	/* UIDs given \Seen by a part that ended
				   before rendering them: their FLAGS are
				   still due (ascending) */
	size_t ncarry;
	struct buf err;
};

/* one message of a part */
struct fetch_item {
	uint32_t msn, uid;
	uint32_t email, flags;
	uint64_t modseq;
	size_t kw;		/* offset of its keywords in part.kw */
	bool found;		/* its membership was read */
	bool skip;		/* CHANGEDSINCE: not changed */
	bool flags_changed;	/* \Seen set now */
};

struct fetch_part {
	struct fetch_item *it;
	size_t n, pos;		/* pos: the next to match a row */
	struct buf kw;		/* keywords, each NUL-terminated */
};

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void
state_free(void *arg)
{
	struct fetch_state *st = arg;

	free(st->msns);
	free(st->carry);
	buf_free(&st->err);
	free(st);
}

static bool
has_att(const struct imap_fetch *f, enum imap_fetch_kind kind)
{
	for (size_t i = 0; i < f->natt; i++)
		if (f->att[i].kind == kind)
			return true;
	return false;
}

static int
item_row(void *arg, const struct mail_msg *msg)
{
	struct fetch_part *p = arg;

	while (p->pos < p->n && p->it[p->pos].uid < msg->uid)
		p->pos++;
	if (p->pos == p->n || p->it[p->pos].uid != msg->uid)
		return 0;
	p->it[p->pos].found = true;
	p->it[p->pos].email = msg->email;
	p->it[p->pos].flags = msg->flags;
	p->it[p->pos].modseq = msg->modseq;
	p->it[p->pos].kw = p->kw.len;
	buf_add(&p->kw, msg->keywords, strlen(msg->keywords) + 1);
	p->pos++;
	return 0;
}

/* ---- \Seen ---- */

struct seen_op {
	struct imap_session *s;
	struct fetch_part *p;
	uint64_t before, after;
	struct mail_flag_result *res;	/* per item */
};

static int
highestmodseq_txn(struct kv_txn *t, struct imap_session *s, uint64_t *ms_r,
    struct buf *err)
{
	struct mail_mailbox mb;
	int r;

	memset(&mb, 0, sizeof(mb));
	r = mail_mailbox_get_txn(t, s->acct, s->sel->mbox, &mb, err);
	*ms_r = r == 1 ? mb.highestmodseq : 0;
	mail_mailbox_clear(&mb);
	return r < 0 ? r : 0;
}

static int
seen_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct seen_op *op = arg;
	struct mail_flag_change c;
	int r;

	memset(&c, 0, sizeof(c));
	c.add = MAIL_F_SEEN;
	if ((r = highestmodseq_txn(t, op->s, &op->before, err)) < 0)
		return r;
	for (size_t i = 0; i < op->p->n; i++) {
		struct fetch_item *it = &op->p->it[i];

		memset(&op->res[i], 0, sizeof(op->res[i]));
		if (!it->found || it->skip || (it->flags & MAIL_F_SEEN))
			continue;
		r = mail_msg_update_flags_txn(t, op->s->acct, op->s->sel->mbox,
		    it->uid, 0, &c, &op->res[i], err);
		if (r < 0)
			return r;
		if (r == 0)
			it->found = false;	/* expunged since the read */
	}
	return highestmodseq_txn(t, op->s, &op->after, err);
}

/* set_seen - \Seen on the part's messages that lack it; -1 (err) */
static int
set_seen(struct imap_session *s, struct fetch_part *p, struct buf *err)
{
	struct seen_op op = { s, p, 0, 0, NULL };
	bool any = false;

	for (size_t i = 0; i < p->n && !any; i++)
		any = p->it[i].found && !p->it[i].skip &&
		    !(p->it[i].flags & MAIL_F_SEEN);
	if (!any)
		return 0;
	op.res = xcalloc(p->n, sizeof(*op.res));
	if (kv_run(mail_kv(s->srv->st->mail), KV_WRITE, seen_txn, &op,
	    err) < 0) {
		free(op.res);
		return -1;
	}
	for (size_t i = 0; i < p->n; i++) {
		if (!op.res[i].changed)
			continue;
		p->it[i].flags = op.res[i].flags;
		p->it[i].modseq = op.res[i].modseq;
		p->it[i].flags_changed = true;
	}
	imap_sel_own_change(s, op.before, op.after);
	free(op.res);
	return 0;
}

/* ---- rendering ---- */

int
imap_read_blob(void *arg, const unsigned char **data_r, size_t *len_r,
    struct buf *err)
{
	struct imap_blob_ctx *b = arg;
	int r;

	buf_reset(&b->data);
	r = blob_get(b->s->srv->st->blobs, b->id, 0, BLOB_TO_END, &b->data,
	    err);
	if (r == 0)
		buf_addf(err, "the message's blob is missing");
	if (r != 1)
		return -1;
	*data_r = b->data.data;
	*len_r = b->data.len;
	return 0;
}

/*
 * render_one - one message's line(s) into s->out: 1 rendered, 0 left
 * out (gone, or a render failure noted in st), -1 store error (err)
 */
static int
render_one(struct imap_session *s, struct fetch_state *st, struct kv_txn *t,
    const struct fetch_part *p, const struct fetch_item *it,
    struct imap_blob_ctx *bc, struct buf *err)
{
	struct imap_fetch_out_msg m;
	struct mail_email em;
	struct mime_info *mime = NULL;
	enum imap_fetch_out_res res;
	size_t errlen = err->len;
	int r = 1;

	memset(&m, 0, sizeof(m));
	memset(&em, 0, sizeof(em));
	m.msn = it->msn;
	m.uid = it->uid;
	m.flags = it->flags;
	m.keywords = (const char *)p->kw.data + it->kw;
	m.flags_changed = it->flags_changed;
	m.modseq = it->modseq;
	m.email_id = it->email;
	/* ENVELOPE, BODYSTRUCTURE, PREVIEW: the ready strings only, not
	 * the part tree (most of the decoding) */
	if ((st->need & IMAP_FETCH_OUT_NEED_MIME) &&
	    (r = mail_email_mime_some_txn(t, s->acct, it->email,
	    (st->need & IMAP_FETCH_OUT_NEED_PARTS) ? MIME_DEC_ALL :
	    MIME_DEC_IMAP | MIME_DEC_PREVIEW, &mime, err)) < 0)
		goto out;
	/* no MIME info stored: the renderer parses the blob instead */
	if (st->need_email || (mime == NULL &&
	    (st->need & IMAP_FETCH_OUT_NEED_MIME))) {
		r = mail_email_get_txn(t, s->acct, it->email, &em, err);
		if (r == 0)
			st->gone = true;	/* destroyed meanwhile */
		if (r <= 0)
			goto out;
		m.internal_date = em.received_at;
		m.size = em.size;
		m.thread_id = em.thread;
		m.has_savedate = true;
		m.savedate = em.created;
		bc->id = &em.blob;
		m.blob = imap_read_blob;
		m.blob_arg = bc;
	}
	m.mime = mime;
	r = 1;
	res = imap_fetch_out_render(&s->out, &st->opts, &m, NULL, err);
	if (res == IMAP_FETCH_OUT_ERROR) {
		r = -1;
	} else if (res != IMAP_FETCH_OUT_OK) {
		/* this message only; the command ends NO */
		if (st->fail == IMAP_FETCH_OUT_OK)
			st->fail = res;
		log_info(IMAP_SVC, "%s: user=<%s>: FETCH uid %" PRIu32 ": %s",
		    s->id, s->user, it->uid, buf_cstr(err) + errlen);
		buf_truncate(err, errlen);
		r = 0;
	}
out:
	mime_info_free(&mime);
	mail_email_clear(&em);
	buf_reset(&bc->data);
	return r;
}

/* fetch_part - the next part of st->msns; -1 on a store error (err) */
static int
fetch_part(struct imap_session *s, struct fetch_state *st, struct buf *err)
{
	const struct imap_fetch *f = &s->cmd->u.fetch;
	struct fetch_part p;
	struct imap_blob_ctx bc = { s, NULL, BUF_INIT(0) };
	struct kv_txn *t = NULL;
	uint32_t *uids;
	size_t n = st->n - st->next, i;
	int r = 0;

	if (n > st->part_msgs)
		n = st->part_msgs;
	memset(&p, 0, sizeof(p));
	p.it = xcalloc(n, sizeof(*p.it));
	p.n = n;
	uids = xcalloc(n, sizeof(*uids));
	for (i = 0; i < n; i++) {
		p.it[i].msn = st->msns[st->next + i];
		p.it[i].uid = uids[i] = imap_msnmap_uid(&s->sel->map,
		    p.it[i].msn);
	}
	if (kv_begin(mail_kv(s->srv->st->mail), KV_READ, &t, err) < 0 ||
	    imap_msgs_scan(t, s, uids, n, item_row, &p, err) < 0)
		goto fail;
	for (i = 0; f->has_changedsince && i < n; i++)
		p.it[i].skip = p.it[i].modseq <= f->changedsince;
	for (i = 0; st->ncarry > 0 && i < n; i++)
		if (bsearch(&p.it[i].uid, st->carry, st->ncarry,
		    sizeof(uint32_t), cmp_u32) != NULL)
			p.it[i].flags_changed = true;
	free(st->carry);
	st->carry = NULL;
	st->ncarry = 0;
	if (st->sets_seen && set_seen(s, &p, err) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		const struct fetch_item *it = &p.it[i];

		if (it->skip)
			continue;
		if (!it->found) {
			st->gone = true;
			continue;
		}
		if (render_one(s, st, t, &p, it, &bc, err) < 0)
			goto fail;
		if (s->out.len >= FETCH_PART_BYTES) {
			i++;
			break;
		}
	}
	/* \Seen set on messages the next part renders: say so there */
	for (size_t j = i; j < n; j++) {
		if (!p.it[j].flags_changed)
			continue;
		if (st->carry == NULL)
			st->carry = xcalloc(n - j, sizeof(*st->carry));
		st->carry[st->ncarry++] = p.it[j].uid;
	}
	st->next += i;
	goto out;
fail:
	r = -1;
out:
	kv_abort(&t);
	buf_free(&bc.data);
	buf_free(&p.kw);
	free(p.it);
	free(uids);
	return r;
}

/* ---- VANISHED (EARLIER) ---- */

struct vanished_scan {
	const struct imap_seqset *set;
	const struct imap_sel *sel;
	uint32_t *v;
	size_t n, cap;
};

static int
vanished_row(void *arg, const struct mail_msg *msg)
{
	struct vanished_scan *vs = arg;

	if (vs->set->saved ? bsearch(&msg->uid, vs->sel->saved,
	    vs->sel->nsaved, sizeof(uint32_t), cmp_u32) == NULL :
	    !imap_seqset_has(vs->set, msg->uid, UINT32_MAX))
		return 0;
	if (vs->n == vs->cap) {
		vs->cap = vs->cap == 0 ? 64 : vs->cap * 2;
		vs->v = xreallocarray(vs->v, vs->cap, sizeof(*vs->v));
	}
	vs->v[vs->n++] = msg->uid;
	return 0;
}

/* vanished_earlier - RFC 7162 3.2.6; -1 on a store error (err) */
static int
vanished_earlier(struct imap_session *s, struct buf *err)
{
	const struct imap_fetch *f = &s->cmd->u.fetch;
	struct vanished_scan vs = { &f->set, s->sel, NULL, 0, 0 };
	size_t w = 0;

	if (mail_msg_vanished_since(s->srv->st->mail, s->acct, s->sel->mbox,
	    f->changedsince, vanished_row, &vs, err) < 0) {
		free(vs.v);
		return -1;
	}
	qsort(vs.v, vs.n, sizeof(*vs.v), cmp_u32);
	for (size_t i = 0; i < vs.n; i++)
		if (w == 0 || vs.v[i] != vs.v[w - 1])
			vs.v[w++] = vs.v[i];
	if (w > 0) {
		buf_add_str(&s->out, "* VANISHED (EARLIER) ");
		imap_write_uidset(&s->out, vs.v, w);
		buf_add_str(&s->out, "\r\n");
	}
	free(vs.v);
	return 0;
}

/* ---- the command ---- */

static void
finish(struct imap_session *s, struct fetch_state *st)
{
	const char *name = s->cmd->uid ? "UID FETCH" : "FETCH";
	struct buf code = BUF_INIT(0);

	st->done = true;
	if (imap_refresh(s, s->cmd->uid) < 0 || s->want_close) {
		if (!s->want_close)
			imap_tagged(s, "NO", "[SERVERBUG] Internal error; see "
			    "the server log");
		return;
	}
	imap_limit_code(s, st->cut, st->fail != IMAP_FETCH_OUT_OK ||
	    (st->gone && !s->cmd->uid), &code);
	if (st->fail == IMAP_FETCH_OUT_UNKNOWN_CTE)
		imap_tagged(s, "NO", "[UNKNOWN-CTE] A part has an encoding "
		    "that cannot be decoded");
	else if (st->fail == IMAP_FETCH_OUT_TOO_BIG)
		imap_tagged(s, "NO", "[LIMIT] A response would be too big");
	else if (st->gone && !s->cmd->uid)
		imap_tagged(s, "NO", "[EXPUNGEISSUED] Some of the requested "
		    "messages no longer exist");
	else
		imap_tagged(s, "OK", "%s%s completed", buf_cstr(&code), name);
	buf_free(&code);
}

static void
fetch_work(struct imap_session *s)
{
	struct fetch_state *st = s->cmd_state;
	long n;

	if (!st->started) {
		st->started = true;
		n = imap_set_msns_limit(s, &s->cmd->u.fetch.set, s->cmd->uid,
		    &st->msns, &st->cut);
		if (n < 0) {
			st->done = true;	/* BAD written */
			return;
		}
		st->n = (size_t)n;
		if (s->cmd->u.fetch.vanished && vanished_earlier(s,
		    &st->err) < 0)
			goto fail;
	}
	if (st->next < st->n && fetch_part(s, st, &st->err) < 0)
		goto fail;
	if (st->next == st->n)
		finish(s, st);
	return;
fail:
	st->done = true;
	imap_store_error(s, s->cmd->uid ? "UID FETCH" : "FETCH", &st->err);
}

static void fetch_more(struct imap_session *s);

static void
fetch_done(struct imap_session *s)
{
	struct fetch_state *st = s->cmd_state;

	if (st->done) {
		s->cont = IMAP_CONT_NONE;
		return;
	}
	/* the next part once this one is on its way (imap_server.c) */
	s->cont = IMAP_CONT_PART;
	s->more = fetch_more;
}

static void
fetch_more(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, fetch_work, fetch_done);
}

void
imap_cmd_fetch(struct imap_session *s)
{
	const struct imap_fetch *f = &s->cmd->u.fetch;
	struct fetch_state *st;

	if (f->has_partial) {
		imap_bad(s, "PARTIAL is not supported");
		return;
	}
	if (f->vanished && !s->qresync) {
		imap_bad(s, "VANISHED needs QRESYNC enabled");
		return;
	}
	/* RFC 7162 3.1: CONDSTORE-enabling uses */
	if (f->has_changedsince || has_att(f, IMAP_FETCH_MODSEQ))
		s->condstore = true;
	st = xcalloc(1, sizeof(*st));
	buf_init(&st->err, 0);
	imap_fetch_out_opts_init(&st->opts, s->cmd, imap_out_session(s));
	/* one message's line: its biggest literal twice, and room */
	st->opts.max_response = 2 * s->cfg->imap.max_append_size +
	    (1u << 20);
	st->need = imap_fetch_out_needs(&st->opts);
	st->need_email = (st->need & IMAP_FETCH_OUT_NEED_BLOB) ||
	    has_att(f, IMAP_FETCH_INTERNALDATE) ||
	    has_att(f, IMAP_FETCH_RFC822_SIZE) ||
	    has_att(f, IMAP_FETCH_THREADID) || has_att(f, IMAP_FETCH_SAVEDATE);
	st->sets_seen = imap_fetch_out_sets_seen(&st->opts);
	st->part_msgs = (st->need & IMAP_FETCH_OUT_NEED_BLOB) ?
	    FETCH_PART_BLOB : (st->need & IMAP_FETCH_OUT_NEED_MIME) ?
	    FETCH_PART_MIME : FETCH_PART_MSGS;
	s->cmd_state = st;
	s->cmd_state_free = state_free;
	fetch_more(s);
}
