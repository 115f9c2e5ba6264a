/*
 * queue_notify.c - the queue's side of delivery status notifications
 * (RFC 3461 6, RFC 3464): which recipients a report covers, building it
 * from the queue file (queue_dsn.c), and enqueueing it as a new message.
 *
 * When: a message leaving the queue (every recipient final) gets one
 * report for its failed recipients whose NOTIFY allows FAILURE (no
 * NOTIFY counts as FAILURE,DELAY, RFC 3461 4.1) and its delivered ones
 * that asked for SUCCESS; the local transport's "local" relay is
 * "delivered", any other "relayed", except when the transport passed
 * NOTIFY on to a next hop that does DSN (QUEUE_RCPT_F_DSN_PASSED): that
 * one reports success itself (RFC 3461 5.2.2), we send nothing.
 * As Postfix does, failures wait for the message's last recipient.  A
 * message still deferred once delay_warning has passed since its arrival
 * gets one "delayed" report, for its deferred recipients whose NOTIFY
 * allows DELAY, sent by the delivery job that deferred it; a W record in
 * the queue file keeps a restart from sending it again.
 *
 * Cost: a failure report is written on the qmgr thread (finish), which
 * waits for its commit; XXX a burst of bounces slows scheduling by one
 * group commit each; running finish() as a job would fix that.
 *
 * Never to the null sender: a message from <> (a notification itself)
 * that fails is logged and dropped (RFC 5321 6.1, 6.2; RFC 3461 6.2),
 * so there is no loop; no copy goes to the postmaster either.
 *
 * Durability: the report is a queue file like any other, from <> to the
 * original sender, written through spool_create/spool_append/spool_commit
 * (the server's spool when qmgr_set_spool gave it, else one of our own
 * on the same directory) and durable before the original's file goes;
 * when it cannot be written the caller keeps the original (qmgr_bounce_
 * fn's contract), so a failure is never lost, at worst reported twice: a
 * crash between the report's commit and the original's unlink sends it
 * again at the next start (Postfix has the same window).
 *
 * The report's remote part: a result the transport flagged as the next
 * hop's reply (QUEUE_RCPT_F_REMOTE), with a relay "name[addr]:port",
 * names that host (Remote-MTA, Diagnostic-Code: smtp); anything else is
 * our own diagnostic.  Results recorded before the flag existed (or by a
 * transport that does not set it) are still recognised by their text
 * starting with a reply code.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "queue/queue_dsn.h"
#include "queue/queue_priv.h"

#define SVC "qmgr"

struct item {
	size_t idx;		/* recipient */
	enum queue_dsn_action action;
	const struct queue_rcpt_state *st;
};

/* has_keyword - s holds the ESMTP keyword kw (no value), any case */
static bool
has_keyword(const char *s, const char *kw)
{
	for (const char *p = s; *p != '\0';) {
		size_t len = strcspn(p, " ");

		if (ascii_eq_nocase(p, len, kw))
			return true;
		p += len;
		while (*p == ' ')
			p++;
	}
	return false;
}

static unsigned
utf8_flag(const struct queue_msg *m)
{
	return has_keyword(m->env.sender_params, "SMTPUTF8") ?
	    QUEUE_DSN_PARSE_UTF8 : 0;
}

/* params - a stored parameter string's DSN parameters; none when it does
 * not parse (the session checked it: an old or edited file) */
static void
params(const struct queue_msg *m, const char *s, unsigned flags,
    struct queue_dsn_params *p)
{
	const char *error;

	if (queue_dsn_params_parse(s, strlen(s), flags | utf8_flag(m), p,
	    &error) != PARSE_OK)
		log_warn(SVC, "%s: DSN parameters \"%.100s\" ignored: %s",
		    m->env.qid, s, error);
}

static unsigned
notify_of(const struct queue_msg *m, size_t i)
{
	struct queue_dsn_params p;

	params(m, m->env.rcpts[i].params, QUEUE_DSN_PARSE_RCPT, &p);
	return p.notify;
}

/* wants - does NOTIFY ask for this kind of report? */
static bool
wants(unsigned notify, unsigned bit)
{
	if (notify == 0)	/* RFC 3461 4.1: as if FAILURE,DELAY */
		return bit != QUEUE_DSN_NOTIFY_SUCCESS;
	return (notify & bit) != 0;
}

/* remote_mta - the host whose reply st's text is, or NULL */
static char *
remote_mta(const struct queue_rcpt_state *st)
{
	const char *br = strchr(st->relay, '['), *t = st->text;

	if (br == NULL || br == st->relay)
		return NULL;
	if ((st->flags & QUEUE_RCPT_F_REMOTE) != 0)
		return xmemdup0(st->relay, (size_t)(br - st->relay));
	if (t[0] < '2' || t[0] > '5' || !is_ascii_digit((unsigned char)t[1]) ||
	    !is_ascii_digit((unsigned char)t[2]) ||
	    (t[3] != ' ' && t[3] != '-' && t[3] != '\0'))
		return NULL;
	return xmemdup0(st->relay, (size_t)(br - st->relay));
}

static struct spool *
notify_spool(struct qmgr *qm)
{
	struct spool *sp;
	const char *error;

	pthread_mutex_lock(&qm->spool_lock);
	if (qm->spool == NULL) {
		qm->spool = spool_open(qm->dir, &error);
		if (qm->spool == NULL)
			log_error(SVC, "notifications: queue %s: %s", qm->dir,
			    error);
		qm->own_spool = qm->spool != NULL;
	}
	sp = qm->spool;
	pthread_mutex_unlock(&qm->spool_lock);
	return sp;
}

void
qmgr_set_spool(struct qmgr *qm, struct spool *sp)
{
	pthread_mutex_lock(&qm->spool_lock);
	ASSERT(qm->spool == NULL);
	qm->spool = sp;
	qm->own_spool = false;
	pthread_mutex_unlock(&qm->spool_lock);
}

void
qmgr_notify_free(struct qmgr *qm)
{
	if (qm->own_spool)
		spool_close(&qm->spool);
	qm->spool = NULL;
}

struct commit_wait {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool done;
	int status;
	struct buf error;
};

static void
committed(void *arg, int status, const char *error)
{
	struct commit_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->status = status;
	if (error != NULL)
		buf_add_str(&w->error, error);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

/* enqueue - msg as a new queue file from <> to m's sender, durable on
 * return 0; its ID in qid */
static int
enqueue(struct qmgr *qm, const struct queue_msg *m, const struct buf *msg,
    unsigned flags, char qid[QUEUE_ID_SIZE])
{
	struct spool *sp = notify_spool(qm);
	struct queue_envelope env;
	struct queue_rcpt rc = { m->env.sender, "" };
	struct commit_wait w;
	struct spool_file *f;
	const char *error = NULL;
	int ret = -1;

	if (sp == NULL)
		return -1;
	memset(&env, 0, sizeof(env));
	env.client_ip = "127.0.0.1";
	env.client_name = "localhost";
	env.helo = qm->dsn_hostname;
	env.protocol = "local";
	env.sender = "";
	env.sender_params = (flags & QUEUE_DSN_OUT_UTF8) ?
	    "BODY=8BITMIME SMTPUTF8" : (flags & QUEUE_DSN_OUT_8BIT) ?
	    "BODY=8BITMIME" : "";
	env.rcpts = &rc;
	env.nrcpt = 1;
	f = spool_create(sp, &env, &error);
	if (f == NULL || spool_append(f, msg->data, msg->len, &error) < 0) {
		log_error(SVC, "%s: notification: queue file: %s", m->env.qid,
		    error);
		spool_abort(&f);
		return -1;
	}
	memcpy(qid, spool_file_id(f), QUEUE_ID_SIZE);
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cond, NULL);
	buf_init(&w.error, 0);
	spool_commit(f, committed, &w);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.mu);
	pthread_mutex_unlock(&w.mu);
	if (w.status != 0)
		log_error(SVC, "%s: notification: queue commit: %s",
		    m->env.qid, buf_cstr(&w.error));
	else
		ret = 0;
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cond);
	buf_free(&w.error);
	return ret;
}

static int
content_read(void *ctx, void *buf, size_t size, size_t *n_r,
    struct buf *err)
{
	return queue_content_read(ctx, buf, size, n_r, err);
}

/*
 * send_report - one report about m for it[0..n); fd: m's open file, or
 * -1 to open it.  0 when it is durably queued; -1 logged.
 */
static int
send_report(struct qmgr *qm, const struct queue_msg *m,
    const struct item *it, size_t n, int fd, const char *what)
{
	struct queue_dsn_rcpt *dr = xcalloc(n, sizeof(*dr));
	char **str = xcalloc(3 * n, sizeof(*str));	/* owned strings */
	struct buf envid = BUF_INIT(0), msg = BUF_INIT(0), err = BUF_INIT(0);
	struct queue_content *qc = NULL;
	struct queue_dsn_params mp;
	struct queue_dsn_report r;
	char qid[QUEUE_ID_SIZE];
	unsigned flags;
	int ret;

	params(m, m->env.sender_params, 0, &mp);
	if (mp.envid != NULL &&
	    queue_dsn_xtext_decode(mp.envid, mp.envid_len, &envid) < 0)
		PANIC("send_report: ENVID parsed but does not decode");
	for (size_t k = 0; k < n; k++) {
		const struct queue_rcpt_state *st = it[k].st;
		struct queue_dsn_params rp;
		struct buf o = BUF_INIT(0);

		params(m, m->env.rcpts[it[k].idx].params, QUEUE_DSN_PARSE_RCPT,
		    &rp);
		if (rp.orcpt_type != NULL) {
			if (queue_dsn_orcpt_decode(rp.orcpt_type,
			    rp.orcpt_type_len, rp.orcpt, rp.orcpt_len, rp.utf8,
			    &o) < 0)
				PANIC("send_report: ORCPT parsed but does not "
				    "decode");
			str[3 * k] = xmemdup0(rp.orcpt_type,
			    rp.orcpt_type_len);
			str[3 * k + 1] = buf_steal(&o, NULL);
		}
		str[3 * k + 2] = remote_mta(st);
		dr[k] = (struct queue_dsn_rcpt){
			.final_rcpt = m->env.rcpts[it[k].idx].addr,
			.orcpt_type = str[3 * k],
			.orcpt = str[3 * k + 1],
			.action = it[k].action,
			.status = st->dsn,
			.remote_mta = str[3 * k + 2],
			.diag = st->text,
			.last_attempt_us = st->last_try_us,
			.retry_until_us = it[k].action == QUEUE_DSN_DELAYED ?
			    m->env.arrival_us + qm->max_lifetime : 0,
		};
	}
	if (fd >= 0)
		qc = queue_content_new(fd, false, m);
	else
		qc = queue_content_open(qm->dir, m, &err);
	r = (struct queue_dsn_report){
		.hostname = qm->dsn_hostname,
		.qid = m->env.qid,
		.sender = m->env.sender,
		.envid = envid.len > 0 ? buf_cstr(&envid) : NULL,
		.ret = mp.ret,
		.arrival_us = m->env.arrival_us,
		.client_name = m->env.client_name,
		.client_ip = m->env.client_ip,
		.now_us = qmgr_now(qm),
		.rcpts = dr,
		.nrcpt = n,
		.content_size = m->content_size,
		.full_max = qm->bounce_size_limit,
		.read = qc != NULL ? content_read : NULL,
		.read_ctx = qc,
	};
	if (qc == NULL || queue_dsn_build(&r, &msg, &flags, &err) < 0) {
		/* best effort, as Postfix: the report matters more */
		log_warn(SVC, "%s: %s notification without the original: %s",
		    m->env.qid, what, buf_cstr(&err));
		buf_reset(&msg);
		r.read = NULL;
		if (queue_dsn_build(&r, &msg, &flags, &err) < 0)
			PANIC("queue_dsn_build without a read failed");
	}
	queue_content_close(&qc);
	ret = enqueue(qm, m, &msg, flags, qid);
	if (ret == 0) {
		log_info(SVC, "%s: sender %s notification: %s", m->env.qid,
		    what, qid);
		qmgr_enqueue(qm, qid);
	}
	for (size_t k = 0; k < 3 * n; k++)
		free(str[k]);
	free(str);
	free(dr);
	buf_free(&envid);
	buf_free(&msg);
	buf_free(&err);
	return ret;
}

int
qmgr_notify_final(struct qmgr *qm, const struct queue_msg *m)
{
	size_t nr = m->env.nrcpt, n = 0, nfailed = 0;
	struct item *it;
	bool failed = false;
	int ret = 0;

	for (size_t i = 0; i < nr; i++)
		if (m->state[i].status == QUEUE_RCPT_FAILED)
			nfailed++;
	if (m->env.sender[0] == '\0') {
		if (nfailed > 0)
			log_info(SVC, "%s: %zu failed recipient%s, no "
			    "notification to the null sender", m->env.qid,
			    nfailed, nfailed == 1 ? "" : "s");
		return 0;
	}
	it = xcalloc(nr, sizeof(*it));
	for (size_t i = 0; i < nr; i++) {
		const struct queue_rcpt_state *st = &m->state[i];
		unsigned notify;

		if (st->status != QUEUE_RCPT_FAILED &&
		    st->status != QUEUE_RCPT_SENT)
			continue;
		notify = notify_of(m, i);
		if (st->status == QUEUE_RCPT_FAILED &&
		    wants(notify, QUEUE_DSN_NOTIFY_FAILURE)) {
			it[n++] = (struct item){ i, QUEUE_DSN_FAILED, st };
			failed = true;
		} else if (st->status == QUEUE_RCPT_SENT &&
		    wants(notify, QUEUE_DSN_NOTIFY_SUCCESS) &&
		    (st->flags & QUEUE_RCPT_F_DSN_PASSED) != 0) {
			log_info(SVC, "%s: to=<%s>: success notification left "
			    "to %s (DSN passed on)", m->env.qid,
			    m->env.rcpts[i].addr, st->relay);
		} else if (st->status == QUEUE_RCPT_SENT &&
		    wants(notify, QUEUE_DSN_NOTIFY_SUCCESS)) {
			it[n++] = (struct item){ i, strcmp(st->relay,
			    "local") == 0 ? QUEUE_DSN_DELIVERED :
			    QUEUE_DSN_RELAYED, st };
		} else if (st->status == QUEUE_RCPT_FAILED) {
			log_info(SVC, "%s: to=<%s>: no non-delivery "
			    "notification (%s)", m->env.qid,
			    m->env.rcpts[i].addr,
			    notify == QUEUE_DSN_NOTIFY_NEVER ? "NOTIFY=NEVER" :
			    "NOTIFY without FAILURE");
		}
	}
	if (n > 0)
		ret = send_report(qm, m, it, n, -1, failed ? "non-delivery" :
		    "delivery status");
	free(it);
	return ret;
}

bool
qmgr_notify_delay(struct qmgr *qm, struct qmgr_msg *qmsg,
    const size_t *rcpt, const struct queue_rcpt_state *st, size_t n,
    int fd)
{
	const struct queue_msg *m = qmsg->m;
	size_t nr = m->env.nrcpt, ni = 0;
	struct queue_rcpt_state *snap;
	size_t *mine;
	struct item *it;
	bool *want, sent = false;

	if (m->env.sender[0] == '\0')
		return false;
	pthread_mutex_lock(&qm->lock);
	sent = qmsg->delay_warned;	/* the common case: long done */
	pthread_mutex_unlock(&qm->lock);
	if (sent)
		return false;
	want = xcalloc(nr, sizeof(*want));
	mine = xcalloc(nr, sizeof(*mine));
	snap = xcalloc(nr, sizeof(*snap));
	it = xcalloc(nr, sizeof(*it));
	/* envelopes are immutable: parsed without the lock */
	for (size_t i = 0; i < nr; i++)
		want[i] = wants(notify_of(m, i), QUEUE_DSN_NOTIFY_DELAY);
	for (size_t k = 0; k < n; k++)
		mine[rcpt[k]] = k + 1;
	pthread_mutex_lock(&qm->lock);
	if (!qmsg->delay_warned) {
		for (size_t i = 0; i < nr; i++) {
			const struct queue_rcpt_state *s = mine[i] != 0 ?
			    &st[mine[i] - 1] : &m->state[i];

			if (s->status != QUEUE_RCPT_DEFERRED || !want[i])
				continue;
			snap[i] = *s;
			snap[i].dsn = xstrdup(s->dsn);
			snap[i].relay = xstrdup(s->relay);
			snap[i].text = xstrdup(s->text);
			it[ni++] = (struct item){ i, QUEUE_DSN_DELAYED,
				&snap[i] };
		}
		qmsg->delay_warned = ni > 0;	/* ours to send */
	}
	pthread_mutex_unlock(&qm->lock);
	if (ni > 0) {
		sent = send_report(qm, m, it, ni, fd, "delay") == 0;
		if (!sent) {
			pthread_mutex_lock(&qm->lock);
			qmsg->delay_warned = false;	/* the next deferral */
			pthread_mutex_unlock(&qm->lock);
		}
	}
	for (size_t i = 0; i < nr; i++) {
		free(snap[i].dsn);
		free(snap[i].relay);
		free(snap[i].text);
	}
	free(snap);
	free(it);
	free(mine);
	free(want);
	return sent;
}
