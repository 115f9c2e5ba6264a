/*
 * queue_mgr.c - the queue manager: which recipient is tried when, and by
 * which transport.
 *
 * Every message in msg/ is held in memory as its envelope and per-
 * recipient state (never its content).  A scheduling round (qmgr_tick)
 * loads newly committed messages, applies a flush, and takes the due
 * messages in order (round-robin among equals): a message's due
 * recipients (never tried, or deferred with next_try <= now) are grouped
 * by the transport the route callback names (and, for a per_domain
 * transport, by recipient domain too), and each group becomes one job
 * handed to the dispatch callback, while fewer than max_deliveries jobs
 * run.  Jobs run qmgr_job_run (queue_job.c) anywhere, append their
 * results to the file and hand the new states back under the lock.  A
 * message whose recipients are all final leaves the queue: its
 * notification to the sender (queue_notify.c, or the bounce hook), then
 * unlink.
 *
 * Invariants, all under qm->lock: a recipient belongs to at most one job
 * (inflight), and only that job changes its state; a message is freed
 * only when no job refers to it (jobs == 0); active counts running jobs.
 * The lock is never held across I/O, a transport or a callback other than
 * route.  qmgr_tick is called by one thread at a time (the qmgr thread,
 * or a test); the other entry points from anywhere.
 *
 * A round costs what it schedules, not the size of the queue: messages
 * are found by queue ID in a hash, taken in due order from a heap, and
 * leave through a finish list (queue_sched.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "queue/queue_priv.h"

#define SVC "qmgr"

uint64_t
qmgr_now(struct qmgr *qm)
{
	return qm->hooks.now != NULL ? qm->hooks.now(qm->hooks.now_arg) :
	    clock_wall_us();
}

struct qmgr *
qmgr_new(const struct config_queue *cfg, const struct qmgr_hooks *hooks)
{
	struct qmgr *qm = xcalloc(1, sizeof(*qm));
	pthread_condattr_t ca;

	qm->dir = xstrdup(cfg->dir);
	qm->min_backoff = (uint64_t)cfg->min_backoff * 1000000u;
	qm->max_backoff = (uint64_t)cfg->max_backoff * 1000000u;
	qm->max_lifetime = (uint64_t)cfg->max_lifetime * 1000000u;
	qm->scan_interval = (uint64_t)(cfg->scan_interval > 0 ?
	    cfg->scan_interval : 60) * 1000000u;
	qm->max_deliveries = cfg->max_deliveries > 0 ? cfg->max_deliveries : 1;
	qm->delay_warning = (uint64_t)cfg->delay_warning_time * 1000000u;
	qm->bounce_size_limit = cfg->bounce_size_limit;
	qm->dsn_hostname = xstrdup(cfg->dsn_hostname != NULL &&
	    cfg->dsn_hostname[0] != '\0' ? cfg->dsn_hostname : "localhost");
	if (hooks != NULL)
		qm->hooks = *hooks;
	pthread_mutex_init(&qm->lock, NULL);
	pthread_mutex_init(&qm->spool_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&qm->cond, &ca);
	pthread_condattr_destroy(&ca);
	return qm;
}

static void
msg_free(struct qmgr_msg *qmsg)
{
	queue_msg_free(&qmsg->m);
	free(qmsg->inflight);
	pthread_mutex_destroy(&qmsg->append_lock);
	free(qmsg);
}

static void
list_remove(struct qmgr *qm, struct qmgr_msg *qmsg)
{
	if (qmsg->prev != NULL)
		qmsg->prev->next = qmsg->next;
	else
		qm->head = qmsg->next;
	if (qmsg->next != NULL)
		qmsg->next->prev = qmsg->prev;
	else
		qm->tail = qmsg->prev;
	qmsg->prev = qmsg->next = NULL;
	qm->nmsgs--;
}

static void
list_append(struct qmgr *qm, struct qmgr_msg *qmsg)
{
	qmsg->prev = qm->tail;
	qmsg->next = NULL;
	if (qm->tail != NULL)
		qm->tail->next = qmsg;
	else
		qm->head = qmsg;
	qm->tail = qmsg;
	qm->nmsgs++;
}

void
qmgr_free(struct qmgr **qmp)
{
	struct qmgr *qm = *qmp;

	if (qm == NULL)
		return;
	qmgr_stop(qm);
	pthread_mutex_lock(&qm->lock);
	while (qm->active > 0)
		pthread_cond_wait(&qm->cond, &qm->lock);
	pthread_mutex_unlock(&qm->lock);
	while (qm->head != NULL) {
		struct qmgr_msg *qmsg = qm->head;

		list_remove(qm, qmsg);
		msg_free(qmsg);
	}
	qmgr_index_free(qm);
	qmgr_notify_free(qm);
	free(qm->incoming);
	free(qm->transports);
	pthread_mutex_destroy(&qm->lock);
	pthread_mutex_destroy(&qm->spool_lock);
	pthread_cond_destroy(&qm->cond);
	free(qm->dsn_hostname);
	free(qm->dir);
	free(qm);
	*qmp = NULL;
}

void
qmgr_register_transport(struct qmgr *qm, const struct transport *t)
{
	size_t i;

	ASSERT(t->name != NULL && t->deliver != NULL);
	pthread_mutex_lock(&qm->lock);
	for (i = 0; i < qm->ntransports; i++)
		if (strcmp(qm->transports[i].name, t->name) == 0)
			break;
	if (i == qm->ntransports)
		qm->transports = xreallocarray(qm->transports,
		    ++qm->ntransports, sizeof(*qm->transports));
	qm->transports[i] = *t;
	pthread_mutex_unlock(&qm->lock);
}

/* kick - wake the qmgr thread; with the lock held */
static void
kick(struct qmgr *qm)
{
	qm->kick = true;
	pthread_cond_broadcast(&qm->cond);
}

void
qmgr_enqueue(struct qmgr *qm, const char *qid)
{
	if (!queue_id_is_valid(qid)) {
		log_warn(SVC, "enqueue: \"%.20s\" is not a queue ID", qid);
		return;
	}
	pthread_mutex_lock(&qm->lock);
	if (qm->nincoming == qm->incoming_cap) {
		qm->incoming_cap = qm->incoming_cap == 0 ? 16 :
		    qm->incoming_cap * 2;
		qm->incoming = xreallocarray(qm->incoming, qm->incoming_cap,
		    sizeof(*qm->incoming));
	}
	memcpy(qm->incoming[qm->nincoming++], qid, QUEUE_ID_SIZE);
	kick(qm);
	pthread_mutex_unlock(&qm->lock);
}

void
qmgr_flush(struct qmgr *qm)
{
	pthread_mutex_lock(&qm->lock);
	qm->flush = true;
	kick(qm);
	pthread_mutex_unlock(&qm->lock);
}

void
qmgr_get_stats(struct qmgr *qm, struct qmgr_stats *st_r)
{
	pthread_mutex_lock(&qm->lock);
	*st_r = qm->stats;
	st_r->messages = qm->nmsgs;
	st_r->active = qm->active;
	pthread_mutex_unlock(&qm->lock);
}

int
qmgr_load(struct qmgr *qm, struct buf *err)
{
	struct buf path = BUF_INIT(0);
	struct dirent *de;
	DIR *d;

	queue_path(&path, qm->dir, "msg", NULL);
	d = opendir(buf_cstr(&path));
	if (d == NULL) {
		buf_addf(err, "opendir %s: %s", buf_cstr(&path),
		    strerror(errno));
		buf_free(&path);
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (queue_id_is_valid(de->d_name))
			qmgr_enqueue(qm, de->d_name);
	closedir(d);
	buf_free(&path);
	return 0;
}

/* load_one - a committed message into memory (no lock: disk I/O) */
static void
load_one(struct qmgr *qm, const char *qid)
{
	struct buf err = BUF_INIT(0);
	struct queue_msg *m = NULL;
	struct qmgr_msg *qmsg;
	bool present;

	pthread_mutex_lock(&qm->lock);
	present = qmgr_index_find(qm, qid) != NULL;
	pthread_mutex_unlock(&qm->lock);
	if (present)
		return;
	switch (queue_msg_load(qm->dir, qid, &m, &err)) {
	case QUEUE_LOAD_OK:
		break;
	case QUEUE_LOAD_GONE:
		log_info(SVC, "%s: removed (queue file vanished)", qid);
		goto out;
	case QUEUE_LOAD_CORRUPT:
		buf_reset(&err);
		if (queue_msg_move_corrupt(qm->dir, qid, &err) < 0)
			log_error(SVC, "%s: corrupt queue file: %s", qid,
			    buf_cstr(&err));
		else
			log_warn(SVC, "%s: corrupt queue file moved to "
			    "corrupt/", qid);
		goto out;
	case QUEUE_LOAD_IOERR:
		/* XXX not retried until the next start or enqueue */
		log_error(SVC, "%s: cannot load: %s", qid, buf_cstr(&err));
		goto out;
	}
	qmsg = xcalloc(1, sizeof(*qmsg));
	qmsg->m = m;
	qmsg->inflight = xcalloc(m->env.nrcpt, sizeof(*qmsg->inflight));
	qmsg->delay_warned = m->delay_warned_us != 0;
	pthread_mutex_init(&qmsg->append_lock, NULL);
	pthread_mutex_lock(&qm->lock);
	present = qmgr_index_find(qm, qid) != NULL;
	if (!present) {
		list_append(qm, qmsg);
		qmgr_index_add(qm, qmsg);
		qmgr_index_update(qm, qmsg);
	}
	pthread_mutex_unlock(&qm->lock);
	if (present) {
		msg_free(qmsg);
		goto out;
	}
	log_info(SVC, "%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)",
	    qid, m->env.sender, (unsigned long long)m->content_size,
	    m->env.nrcpt);
	m = NULL;
out:
	queue_msg_free(&m);
	buf_free(&err);
}

static bool
is_due(const struct qmgr_msg *qmsg, size_t i, uint64_t now)
{
	const struct queue_rcpt_state *st = &qmsg->m->state[i];

	if (qmsg->inflight[i] || queue_rcpt_is_final(st->status))
		return false;
	return st->status == QUEUE_RCPT_PENDING || st->next_try_us <= now;
}

struct joblist {
	struct qmgr_job **v;
	size_t n, cap;
};

/* find_transport - the registered transport called name, or NULL */
static const struct transport *
find_transport(const struct qmgr *qm, const char *name)
{
	for (size_t i = 0; i < qm->ntransports; i++)
		if (strcmp(qm->transports[i].name, name) == 0)
			return &qm->transports[i];
	return NULL;
}

/* same_domain - the parts after the last '@' are equal without case */
static bool
same_domain(const char *a, const char *b)
{
	const char *da = strrchr(a, '@'), *db = strrchr(b, '@');

	da = da != NULL ? da + 1 : "";
	db = db != NULL ? db + 1 : "";
	return ascii_eq_nocase(da, strlen(da), db);
}

static void
new_job(struct qmgr *qm, struct qmgr_msg *qmsg, const char *tname,
    const size_t *rcpt, size_t n, struct joblist *jl)
{
	struct qmgr_job *job = xcalloc(1, sizeof(*job));

	job->qm = qm;
	job->qmsg = qmsg;
	job->tname = xstrdup(tname);
	if (find_transport(qm, tname) != NULL)
		job->t = *find_transport(qm, tname);
	job->rcpt = xreallocarray(NULL, n, sizeof(*job->rcpt));
	job->attempt = xreallocarray(NULL, n, sizeof(*job->attempt));
	job->n = n;
	for (size_t i = 0; i < n; i++) {
		job->rcpt[i] = rcpt[i];
		job->attempt[i] = qmsg->m->state[rcpt[i]].attempts + 1;
		qmsg->inflight[rcpt[i]] = true;
	}
	qmsg->jobs++;
	qm->active++;
	qm->stats.jobs++;
	if (qm->active > qm->stats.max_active)
		qm->stats.max_active = qm->active;
	if (jl->n == jl->cap) {
		jl->cap = jl->cap == 0 ? 8 : jl->cap * 2;
		jl->v = xreallocarray(jl->v, jl->cap, sizeof(*jl->v));
	}
	jl->v[jl->n++] = job;
}

/* make_jobs - one job per transport among qmsg's due recipients, and
 * per domain for a per_domain transport */
static void
make_jobs(struct qmgr *qm, struct qmgr_msg *qmsg, uint64_t now,
    struct joblist *jl)
{
	size_t n = qmsg->m->env.nrcpt, ngroup;
	const char **name = NULL;
	size_t *group = NULL;
	bool *taken = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *tname;

		if (!is_due(qmsg, i, now))
			continue;
		if (name == NULL) {
			name = xcalloc(n, sizeof(*name));
			group = xcalloc(n, sizeof(*group));
			taken = xcalloc(n, sizeof(*taken));
		}
		tname = qm->hooks.route != NULL ? qm->hooks.route(
		    qm->hooks.route_arg, qmsg->m->env.rcpts[i].addr) : NULL;
		name[i] = tname != NULL ? tname : "smtp";
	}
	for (size_t i = 0; name != NULL && i < n; i++) {
		const struct transport *t;
		bool per_domain;

		if (name[i] == NULL || taken[i])
			continue;
		if (qm->active >= qm->max_deliveries)
			break;
		t = find_transport(qm, name[i]);
		per_domain = t != NULL && t->per_domain;
		ngroup = 0;
		for (size_t j = i; j < n; j++)
			if (name[j] != NULL && !taken[j] &&
			    strcmp(name[j], name[i]) == 0 && (!per_domain ||
			    same_domain(qmsg->m->env.rcpts[j].addr,
			    qmsg->m->env.rcpts[i].addr))) {
				taken[j] = true;
				group[ngroup++] = j;
			}
		new_job(qm, qmsg, name[i], group, ngroup, jl);
	}
	free(name);
	free(group);
	free(taken);
}

/* schedule_locked - jobs for due messages while deliveries are free;
 * messages ready to leave are moved to *finished (out of every index) */
static void
schedule_locked(struct qmgr *qm, uint64_t now, struct joblist *jl,
    struct qmgr_msg **finished)
{
	struct qmgr_msg *qmsg;

	while (qm->active < qm->max_deliveries &&
	    (qmsg = qmgr_index_due(qm, now)) != NULL) {
		make_jobs(qm, qmsg, now, jl);
		qmgr_index_update(qm, qmsg);	/* what it still waits for */
	}
	while ((qmsg = qm->finish) != NULL) {
		qm->finish = qmsg->fnext;
		qmgr_index_remove(qm, qmsg);
		list_remove(qm, qmsg);
		qmsg->next = *finished;
		*finished = qmsg;
	}
}

/* next_due_locked - when a round could do something next */
static uint64_t
next_due_locked(struct qmgr *qm)
{
	if (qm->nincoming > 0 || qm->flush || qm->finish != NULL)
		return 0;
	/* saturated: a finishing job kicks us, not the clock */
	if (qm->active >= qm->max_deliveries)
		return UINT64_MAX;
	return qmgr_index_next_due(qm);
}

/* finish - every recipient final (or the file gone): notify, remove */
static void
finish(struct qmgr *qm, struct qmgr_msg *qmsg)
{
	const struct queue_msg *m = qmsg->m;
	struct buf path = BUF_INIT(0);
	size_t *failed, nfailed = 0;
	bool keep = false;

	if (qmsg->dead) {
		msg_free(qmsg);
		return;
	}
	failed = xcalloc(m->env.nrcpt, sizeof(*failed));
	for (size_t i = 0; i < m->env.nrcpt; i++)
		if (m->state[i].status == QUEUE_RCPT_FAILED)
			failed[nfailed++] = i;
	if (qm->hooks.bounce != NULL) {
		if (nfailed > 0)
			keep = qm->hooks.bounce(qm->hooks.bounce_arg, m,
			    failed, nfailed) < 0;
	} else {
		keep = qmgr_notify_final(qm, m) < 0;
	}
	free(failed);
	if (keep) {
		log_warn(SVC, "%s: bounce failed; queue file kept until the "
		    "next start", m->env.qid);
	} else {
		queue_path(&path, qm->dir, "msg", m->env.qid);
		if (unlink(buf_cstr(&path)) < 0 && errno != ENOENT)
			log_error(SVC, "%s: unlink %s: %s", m->env.qid,
			    buf_cstr(&path), strerror(errno));
		else
			log_info(SVC, "%s: removed", m->env.qid);
		buf_free(&path);
	}
	msg_free(qmsg);
}

uint64_t
qmgr_tick(struct qmgr *qm)
{
	char (*in)[QUEUE_ID_SIZE];
	struct joblist jl = { NULL, 0, 0 };
	struct qmgr_msg *finished = NULL, *next;
	size_t nin, flushed = 0;
	bool flush;
	uint64_t now, due;

	pthread_mutex_lock(&qm->lock);
	in = qm->incoming;
	nin = qm->nincoming;
	qm->incoming = NULL;
	qm->nincoming = qm->incoming_cap = 0;
	flush = qm->flush;
	qm->flush = false;
	qm->kick = false;
	pthread_mutex_unlock(&qm->lock);

	for (size_t i = 0; i < nin; i++)
		load_one(qm, in[i]);
	free(in);

	now = qmgr_now(qm);
	pthread_mutex_lock(&qm->lock);
	for (struct qmgr_msg *q = qm->head; flush && q != NULL; q = q->next) {
		for (size_t i = 0; i < q->m->env.nrcpt; i++)
			if (!q->inflight[i] && q->m->state[i].status ==
			    QUEUE_RCPT_DEFERRED) {
				q->m->state[i].next_try_us = 0;
				flushed++;
			}
		qmgr_index_update(qm, q);
	}
	schedule_locked(qm, now, &jl, &finished);
	pthread_mutex_unlock(&qm->lock);
	if (flush)
		log_info(SVC, "flush: %zu deferred recipients due now",
		    flushed);

	for (size_t i = 0; i < jl.n; i++) {
		if (qm->hooks.dispatch != NULL)
			qm->hooks.dispatch(qm->hooks.dispatch_arg, jl.v[i]);
		else
			qmgr_job_run(jl.v[i]);
	}
	free(jl.v);
	for (; finished != NULL; finished = next) {
		next = finished->next;
		finish(qm, finished);
	}

	pthread_mutex_lock(&qm->lock);
	due = next_due_locked(qm);
	pthread_mutex_unlock(&qm->lock);
	return due;
}

static void *
qmgr_main(void *arg)
{
	struct qmgr *qm = arg;

	pthread_mutex_lock(&qm->lock);
	while (!qm->stop) {
		uint64_t due, now, wait = qm->scan_interval;
		struct timespec ts;

		pthread_mutex_unlock(&qm->lock);
		due = qmgr_tick(qm);
		now = qmgr_now(qm);
		pthread_mutex_lock(&qm->lock);
		if (qm->stop)
			break;
		if (qm->kick)
			continue;
		if (due <= now)
			wait = 1000;	/* due already: soon, never a spin */
		else if (due - now < wait)
			wait = due - now;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		wait += (uint64_t)ts.tv_nsec / 1000u;
		ts.tv_sec += (time_t)(wait / 1000000u);
		ts.tv_nsec = (long)(wait % 1000000u) * 1000;
		while (!qm->kick && !qm->stop &&
		    pthread_cond_timedwait(&qm->cond, &qm->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&qm->lock);
	return NULL;
}

int
qmgr_start(struct qmgr *qm, const char **error_r)
{
	int e;

	ASSERT(!qm->running);
	qm->stop = false;
	e = pthread_create(&qm->thread, NULL, qmgr_main, qm);
	if (e != 0) {
		log_error(SVC, "thread: %s", strerror(e));
		*error_r = "cannot start the queue manager thread";
		return -1;
	}
	qm->running = true;
	return 0;
}

void
qmgr_stop(struct qmgr *qm)
{
	if (!qm->running)
		return;
	pthread_mutex_lock(&qm->lock);
	qm->stop = true;
	pthread_cond_broadcast(&qm->cond);
	pthread_mutex_unlock(&qm->lock);
	pthread_join(qm->thread, NULL);
	qm->running = false;
}
