/*
 * queue_job.c - one delivery job: open the queue file, run the transport,
 * turn its answers into recipient states (backoff, expiry), append them
 * to the file, log them, and hand them to the qmgr.
 *
 * Runs on whatever thread the dispatch callback chose, without the qmgr
 * lock; it touches only the recipients it owns (inflight) until
 * qmgr_job_end installs the results under the lock.
 *
 * Ordering: results are appended and fsync'ed after the transport
 * returned; a crash in between makes the next start try those recipients
 * again (at-least-once: a remote duplicate is possible, which is why the
 * local delivery agent should be idempotent per queue ID and recipient).
 * Only final results (sent, failed) are fsync'ed: a deferral that a power
 * cut loses only makes the next try come sooner, with one attempt less
 * counted - never a lost or duplicated message - and deferring a
 * recipient is the common case under load (a remote site down).  Final
 * results of an idempotent transport (transport.h; the local delivery
 * agent) are not fsync'ed either: losing them repeats a delivery that is
 * then a no-op.
 * An append that fails half-way is cut back to the size before it, so a
 * torn record never hides later ones; appends to one file are serialised.
 *
 * Retry schedule: after the n-th failed attempt the recipient is due
 * min_backoff * 2^(n-1) later, at most max_backoff.  A temporary failure
 * once max_lifetime has passed since arrival is final ("message expired"),
 * keeping the transport's 4.X.X code as Postfix does.
 *
 * Delay warnings: a job that defers a recipient of a message older than
 * delay_warning sends the message's one delay notification (queue_
 * notify.c) once its results are recorded, then appends a W record
 * (fsync'ed) so that a restart does not send it again; a crash in
 * between sends it twice, which is better than never.  As in Postfix,
 * the warning comes at the first retry after the time, not on the dot.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "queue/queue_priv.h"

#define SVC "qmgr"

static int
tc_read(struct transport_content *c, void *buf, size_t size, size_t *n_r,
    struct buf *err)
{
	return queue_content_read(c->ctx, buf, size, n_r, err);
}

static int
tc_rewind(struct transport_content *c, struct buf *err)
{
	return queue_content_rewind(c->ctx, err);
}

static uint64_t
backoff(const struct qmgr *qm, unsigned attempts)
{
	uint64_t d = qm->min_backoff;

	for (unsigned i = 1; i < attempts && d < qm->max_backoff; i++)
		d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
	return d < qm->max_backoff ? d : qm->max_backoff;
}

/* fmt_delay - seconds with at most two decimals, as Postfix: "0.04", "1.2" */
static void
fmt_delay(char *out, size_t size, uint64_t us)
{
	unsigned long long cs = (unsigned long long)((us + 5000) / 10000);

	if (cs % 100 == 0)
		(void)snprintf(out, size, "%llu", cs / 100);
	else if (cs % 10 == 0)
		(void)snprintf(out, size, "%llu.%llu", cs / 100, cs % 100 / 10);
	else
		(void)snprintf(out, size, "%llu.%02llu", cs / 100, cs % 100);
}

static const char *
default_dsn(enum transport_status st)
{
	return st == TRANSPORT_OK ? "2.0.0" :
	    st == TRANSPORT_PERMFAIL ? "5.0.0" : "4.0.0";
}

/* outcome - the new state of one recipient from one transport answer */
static void
outcome(struct qmgr_job *job, size_t k, struct transport_result *r,
    uint64_t now, struct queue_rcpt_state *st)
{
	struct qmgr *qm = job->qm;
	const struct queue_msg *m = job->qmsg->m;
	struct buf text = BUF_INIT(0), relay = BUF_INIT(0);
	bool expired;
	char *dsn;

	if (r->status == TRANSPORT_NONE) {
		log_warn(SVC, "%s: transport %s gave no result for <%s>",
		    m->env.qid, job->tname, m->env.rcpts[job->rcpt[k]].addr);
		transport_result_set(r, TRANSPORT_TEMPFAIL, NULL, "transport "
		    "%s gave no result", job->tname);
	}
	expired = r->status == TRANSPORT_TEMPFAIL &&
	    now >= m->env.arrival_us &&
	    now - m->env.arrival_us >= qm->max_lifetime;
	if (expired)
		buf_add_str(&text, "message expired: ");
	queue_text_clean(&text, (const char *)r->text.data, r->text.len,
	    QUEUE_TEXT_MAX, false);
	if (r->relay.len > 0)
		queue_text_clean(&relay, (const char *)r->relay.data,
		    r->relay.len, 256, true);
	else
		buf_add_str(&relay, job->t.deliver != NULL ? job->tname :
		    "none");
	dsn = xstrdup(queue_dsn_is_valid(r->dsn, strlen(r->dsn)) ? r->dsn :
	    default_dsn(r->status));
	dsn[0] = default_dsn(r->status)[0];	/* the class follows status */

	memset(st, 0, sizeof(*st));
	st->flags = r->flags & (QUEUE_RCPT_F_REMOTE | QUEUE_RCPT_F_DSN_PASSED);
	if (r->status != TRANSPORT_OK)
		st->flags &= ~QUEUE_RCPT_F_DSN_PASSED;
	st->attempts = job->attempt[k];
	st->last_try_us = now;
	switch (r->status) {
	case TRANSPORT_OK:
		st->status = QUEUE_RCPT_SENT;
		break;
	case TRANSPORT_PERMFAIL:
		st->status = QUEUE_RCPT_FAILED;
		break;
	default:
		st->status = expired ? QUEUE_RCPT_FAILED : QUEUE_RCPT_DEFERRED;
		if (!expired)
			st->next_try_us = now + backoff(qm, st->attempts);
		break;
	}
	st->dsn = dsn;
	st->relay = buf_steal(&relay, NULL);
	st->text = buf_steal(&text, NULL);
}

/* append - the result records, durably if sync; 0 or -1 (logged) */
static int
append(struct qmgr_job *job, int fd, const struct buf *recs, bool sync)
{
	const char *qid = job->qmsg->m->env.qid;
	struct stat sb;
	int ret = -1;

	pthread_mutex_lock(&job->qmsg->append_lock);
	if (fstat(fd, &sb) < 0) {
		log_error(SVC, "%s: fstat queue file: %s", qid,
		    strerror(errno));
	} else if (queue_write_full(fd, recs->data, recs->len) < 0) {
		log_error(SVC, "%s: cannot record delivery results: %s", qid,
		    strerror(errno));
		/* no torn record may stay in front of later appends */
		if (ftruncate(fd, sb.st_size) < 0)
			log_error(SVC, "%s: truncate after failed append: %s",
			    qid, strerror(errno));
	} else if (sync && fsync(fd) < 0) {
		log_error(SVC, "%s: fsync queue file: %s", qid,
		    strerror(errno));
	} else {
		ret = 0;
	}
	pthread_mutex_unlock(&job->qmsg->append_lock);
	return ret;
}

static void
log_result(struct qmgr_job *job, size_t k, const struct queue_rcpt_state *st,
    uint64_t now)
{
	const struct queue_msg *m = job->qmsg->m;
	const char *status;
	char delay[32];

	fmt_delay(delay, sizeof(delay), now > m->env.arrival_us ?
	    now - m->env.arrival_us : 0);
	status = st->status == QUEUE_RCPT_SENT ? "sent" :
	    st->status == QUEUE_RCPT_FAILED ? "bounced" : "deferred";
	log_info(SVC, "%s: to=<%s>, relay=%s, delay=%s, dsn=%s, status=%s "
	    "(%s)", m->env.qid, m->env.rcpts[job->rcpt[k]].addr, st->relay,
	    delay, st->dsn, status, st->text);
}

/* damaged - the transport saw the content fail its checks */
static void
damaged(struct qmgr_job *job)
{
	struct qmgr *qm = job->qm;
	const char *qid = job->qmsg->m->env.qid;
	struct buf err = BUF_INIT(0);

	if (queue_msg_move_corrupt(qm->dir, qid, &err) < 0)
		log_error(SVC, "%s: queue file content is damaged: %s", qid,
		    buf_cstr(&err));
	else
		log_error(SVC, "%s: queue file content is damaged; moved to "
		    "corrupt/", qid);
	buf_free(&err);
}

/* is_delay_due - did this job defer a recipient of an old message? */
static bool
is_delay_due(const struct qmgr_job *job, const struct queue_rcpt_state *st,
    uint64_t now)
{
	const struct qmgr *qm = job->qm;
	uint64_t arrival = job->qmsg->m->env.arrival_us;

	if (qm->delay_warning == 0 || now < arrival ||
	    now - arrival < qm->delay_warning)
		return false;
	for (size_t k = 0; k < job->n; k++)
		if (st[k].status == QUEUE_RCPT_DEFERRED)
			return true;
	return false;
}

/* delay_warning - send it unless done before, and record that it was */
static void
delay_warning(struct qmgr_job *job, const struct queue_rcpt_state *st,
    int fd, uint64_t now)
{
	struct buf rec = BUF_INIT(0);
	char ts[24];
	int n;

	if (!qmgr_notify_delay(job->qm, job->qmsg, job->rcpt, st, job->n,
	    fd))
		return;
	n = snprintf(ts, sizeof(ts), "%llu", (unsigned long long)now);
	ASSERT(n > 0 && (size_t)n < sizeof(ts));
	queue_record_add(&rec, REC_WARNED, ts, (size_t)n);
	if (append(job, fd, &rec, true) < 0)
		log_warn(SVC, "%s: delay notification not recorded: a restart "
		    "may send it again", job->qmsg->m->env.qid);
	buf_free(&rec);
}

void
qmgr_job_run(struct qmgr_job *job)
{
	struct qmgr *qm = job->qm;
	const struct queue_msg *m = job->qmsg->m;
	struct buf path = BUF_INIT(0), recs = BUF_INIT(0);
	struct transport_result *res;
	struct queue_rcpt_state *st;
	bool corrupt = false, any_final = false;
	uint64_t now;
	size_t n;
	int fd;

	queue_path(&path, qm->dir, "msg", m->env.qid);
	fd = open(buf_cstr(&path), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		log_info(SVC, "%s: removed (queue file vanished)", m->env.qid);
		buf_free(&path);
		qmgr_job_end(job, NULL, true);
		return;
	}
	res = xcalloc(job->n, sizeof(*res));
	for (size_t k = 0; k < job->n; k++) {
		buf_init(&res[k].relay, 0);
		buf_init(&res[k].text, 0);
	}
	if (fd < 0) {
		for (size_t k = 0; k < job->n; k++)
			transport_result_set(&res[k], TRANSPORT_TEMPFAIL,
			    "4.3.0", "cannot open queue file: %s",
			    strerror(errno));
	} else if (job->t.deliver == NULL) {
		for (size_t k = 0; k < job->n; k++)
			transport_result_set(&res[k], TRANSPORT_TEMPFAIL,
			    "4.3.5", "no transport registered for %s",
			    job->tname);
	} else {
		struct queue_content *qc = queue_content_new(fd, false, m);
		struct transport_content tc = { m->content_size, tc_read,
			tc_rewind, qc };
		struct transport_request req = { m->env.qid, &m->env,
			job->rcpt, job->attempt, job->n, &tc };

		job->t.deliver(job->t.ctx, &req, res);
		corrupt = queue_content_is_corrupt(qc);
		queue_content_close(&qc);
	}
	now = qmgr_now(qm);
	st = xcalloc(job->n, sizeof(*st));
	for (size_t k = 0; k < job->n; k++) {
		struct queue_result qr;

		outcome(job, k, &res[k], now, &st[k]);
		if (queue_rcpt_is_final(st[k].status))
			any_final = true;
		qr = (struct queue_result){ job->rcpt[k], st[k].status,
			st[k].attempts, st[k].last_try_us, st[k].next_try_us,
			st[k].dsn, st[k].relay, st[k].text, st[k].flags };
		queue_result_add(&recs, &qr);
		buf_free(&res[k].relay);
		buf_free(&res[k].text);
	}
	free(res);
	if (corrupt) {
		damaged(job);
	} else {
		if (fd >= 0 && append(job, fd, &recs,
		    any_final && !job->t.idempotent) < 0) {
			/* logged; the states still apply in memory, and a
			 * restart may try these recipients again */
		}
		for (size_t k = 0; k < job->n; k++)
			log_result(job, k, &st[k], now);
		if (fd >= 0 && is_delay_due(job, st, now))
			delay_warning(job, st, fd, now);
	}
	if (fd >= 0)
		close(fd);
	buf_free(&recs);
	buf_free(&path);
	n = job->n;
	qmgr_job_end(job, corrupt ? NULL : st, corrupt);	/* frees job */
	if (corrupt) {
		for (size_t k = 0; k < n; k++) {
			free(st[k].dsn);
			free(st[k].relay);
			free(st[k].text);
		}
		free(st);
	}
}

void
qmgr_job_end(struct qmgr_job *job, struct queue_rcpt_state *states,
    bool dead)
{
	struct qmgr *qm = job->qm;
	struct qmgr_msg *qmsg = job->qmsg;
	struct queue_rcpt_state old;

	pthread_mutex_lock(&qm->lock);
	for (size_t k = 0; k < job->n; k++) {
		size_t i = job->rcpt[k];

		qmsg->inflight[i] = false;
		if (states == NULL)
			continue;
		old = qmsg->m->state[i];
		qmsg->m->state[i] = states[k];
		states[k] = old;	/* freed below, outside the lock */
		switch (qmsg->m->state[i].status) {
		case QUEUE_RCPT_SENT:
			qm->stats.sent++;
			break;
		case QUEUE_RCPT_FAILED:
			qm->stats.bounced++;
			break;
		default:
			qm->stats.deferred++;
			break;
		}
	}
	if (dead)
		qmsg->dead = true;
	qmsg->jobs--;
	qm->active--;
	qmgr_index_update(qm, qmsg);
	qm->kick = true;
	pthread_cond_broadcast(&qm->cond);
	pthread_mutex_unlock(&qm->lock);
	if (states != NULL) {
		for (size_t k = 0; k < job->n; k++) {
			free(states[k].dsn);
			free(states[k].relay);
			free(states[k].text);
		}
		free(states);
	}
	free(job->tname);
	free(job->rcpt);
	free(job->attempt);
	free(job);
}
