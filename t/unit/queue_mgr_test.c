/*
 * queue_mgr_test.c - the queue manager with scripted transports and an
 * injected clock: immediate delivery, backoff doubling and its cap,
 * permanent and mixed results, expiry, max_deliveries, restart, flush,
 * vanished and damaged files, missing transports, routing, and the
 * scheduling thread.
 */
#include "t/unit/queue_test.h"

#include "common/log.h"
#include "queue/transport.h"

#define SEC 1000000ull
#define T0 (1700000000ull * SEC)

struct call {
	char qid[QUEUE_ID_SIZE];
	size_t rcpt[8];
	unsigned attempt[8];
	size_t n;
	uint64_t at;
};

/* a test transport: per address a script of answers, the last repeats */
struct script {
	const char *addr;
	enum transport_status st[8];
	size_t n;
};

struct tt {
	struct transport t;
	const struct script *script;
	size_t nscript;
	struct call calls[64];
	size_t ncalls;
	uint64_t *clock;
	bool read_content;
	bool delete_file;	/* unlink the queue file mid-delivery */
	const char *dir;
	struct buf content;
	pthread_mutex_t lock;
};

static void
tt_deliver(void *ctx, const struct transport_request *req,
    struct transport_result *res)
{
	struct tt *tt = ctx;
	struct buf err = BUF_INIT(0);
	struct call *c;

	pthread_mutex_lock(&tt->lock);
	if (tt->ncalls == ARRAY_SIZE(tt->calls))
		PANIC("tt_deliver: too many calls");
	c = &tt->calls[tt->ncalls++];
	memcpy(c->qid, req->queue_id, QUEUE_ID_SIZE);
	c->n = req->nrcpt;
	c->at = tt->clock != NULL ? *tt->clock : 0;
	for (size_t k = 0; k < req->nrcpt && k < 8; k++) {
		c->rcpt[k] = req->rcpt[k];
		c->attempt[k] = req->attempt[k];
	}
	pthread_mutex_unlock(&tt->lock);
	if (tt->delete_file) {
		struct buf p = BUF_INIT(0);

		tpath(&p, tt->dir, "msg", req->queue_id);
		if (unlink(buf_cstr(&p)) < 0)
			PANIC("unlink");
		buf_free(&p);
	}
	if (tt->read_content) {
		unsigned char data[7];
		size_t n;

		buf_reset(&tt->content);
		if (transport_content_rewind(req->content, &err) < 0)
			PANIC("rewind");
		for (;;) {
			if (transport_content_read(req->content, data,
			    sizeof(data), &n, &err) < 0) {
				for (size_t k = 0; k < req->nrcpt; k++)
					transport_result_set(&res[k],
					    TRANSPORT_TEMPFAIL, "4.3.0", "%s",
					    buf_cstr(&err));
				buf_free(&err);
				return;
			}
			if (n == 0)
				break;
			buf_add(&tt->content, data, n);
		}
	}
	for (size_t k = 0; k < req->nrcpt; k++) {
		const char *addr = req->env->rcpts[req->rcpt[k]].addr;
		enum transport_status st = TRANSPORT_OK;

		for (size_t s = 0; s < tt->nscript; s++) {
			const struct script *sc = &tt->script[s];

			if (strcmp(sc->addr, addr) == 0)
				st = sc->st[req->attempt[k] - 1 < sc->n ?
				    req->attempt[k] - 1 : sc->n - 1];
		}
		if (st == TRANSPORT_NONE)
			continue;	/* a buggy transport */
		transport_result_set(&res[k], st, st == TRANSPORT_PERMFAIL ?
		    "5.1.1" : NULL, "%s\r\n(try %u)\x01\r\n",
		    st == TRANSPORT_OK ? "250 ok" : st == TRANSPORT_TEMPFAIL ?
		    "451 later" : "550 no such user", req->attempt[k]);
		transport_result_relay(&res[k], "%s.example[192.0.2.1]:25",
		    tt->t.name);
	}
	buf_free(&err);
}

struct bounce_log {
	size_t calls;
	size_t failed[8];
	size_t nfailed;
	char text[256];
	int ret;
};

static int
bounce_hook(void *arg, const struct queue_msg *m, const size_t *failed,
    size_t n)
{
	struct bounce_log *b = arg;

	b->calls++;
	b->nfailed = n;
	for (size_t i = 0; i < n && i < 8; i++)
		b->failed[i] = failed[i];
	if (n > 0)
		(void)snprintf(b->text, sizeof(b->text), "%s",
		    m->state[failed[0]].text);
	return b->ret;
}

static uint64_t
fake_now(void *arg)
{
	return *(uint64_t *)arg;
}

static const char *
route(void *arg, const char *addr)
{
	(void)arg;
	return strstr(addr, "@local") != NULL ? "local" : "smtp";
}

struct later {
	struct qmgr_job *v[64];
	size_t n;
};

static void
dispatch_later(void *arg, struct qmgr_job *job)
{
	struct later *l = arg;

	if (l->n == ARRAY_SIZE(l->v))
		PANIC("dispatch_later: full");
	l->v[l->n++] = job;
}

static void
run_later(struct later *l, size_t n)
{
	for (size_t i = 0; i < n && l->n > 0; i++)
		qmgr_job_run(l->v[--l->n]);
}

struct fx {
	char *dir;
	struct spool *sp;
	uint64_t now;
	struct config_queue cq;
	struct qmgr_hooks hooks;
	struct qmgr *qm;
	struct tt local, smtp;
	struct bounce_log bounce;
	struct later later;
};

static void
tt_init(struct tt *tt, const char *name, struct fx *fx)
{
	memset(tt, 0, sizeof(*tt));
	tt->t.name = name;
	tt->t.ctx = tt;
	tt->t.deliver = tt_deliver;
	tt->clock = &fx->now;
	tt->dir = fx->dir;
	buf_init(&tt->content, 0);
	pthread_mutex_init(&tt->lock, NULL);
}

static void
fx_qmgr(struct fx *fx)
{
	struct buf err = BUF_INIT(0);

	fx->qm = qmgr_new(&fx->cq, &fx->hooks);
	qmgr_register_transport(fx->qm, &fx->local.t);
	qmgr_register_transport(fx->qm, &fx->smtp.t);
	assert_int_equal(qmgr_load(fx->qm, &err), 0);
	buf_free(&err);
}

static struct fx *
fx_new(void)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	const char *error;

	fx->dir = tdir_new();
	fx->sp = spool_open(fx->dir, &error);
	assert_non_null(fx->sp);
	fx->now = T0;
	fx->cq = (struct config_queue){ .dir = fx->dir, .min_backoff = 300,
		.max_backoff = 4000, .max_lifetime = 5 * 86400,
		.scan_interval = 60, .max_deliveries = 20 };
	fx->hooks = (struct qmgr_hooks){ .route = route, .now = fake_now,
		.now_arg = &fx->now, .bounce = bounce_hook,
		.bounce_arg = &fx->bounce };
	tt_init(&fx->local, "local", fx);
	tt_init(&fx->smtp, "smtp", fx);
	return fx;
}

static void
fx_free(struct fx **fxp)
{
	struct fx *fx = *fxp;

	qmgr_free(&fx->qm);
	spool_close(&fx->sp);
	buf_free(&fx->local.content);
	buf_free(&fx->smtp.content);
	tdir_rm(&fx->dir);
	free(fx);
	*fxp = NULL;
}

/* idle - tick until nothing is due now; returns the next due time */
static uint64_t
idle(struct fx *fx)
{
	uint64_t due = 0;

	for (int i = 0; i < 20 && due <= fx->now; i++)
		due = qmgr_tick(fx->qm);
	assert_true(due > fx->now);
	return due;
}

static struct queue_msg *
load(struct fx *fx, const char *qid)
{
	struct buf err = BUF_INIT(0);
	struct queue_msg *m;

	assert_int_equal(queue_msg_load(fx->dir, qid, &m, &err),
	    QUEUE_LOAD_OK);
	buf_free(&err);
	return m;
}

static void
test_immediate(void **state)
{
	struct fx *fx = fx_new();
	const char *rcpts[] = { "a@local", "b@remote.example", "c@local" };
	char qid[QUEUE_ID_SIZE];
	struct qmgr_stats st;

	(void)state;
	put_msg(fx->sp, T0, "s@example.com", rcpts, 3, "hello\r\n\0x", 9, qid);
	fx->local.read_content = fx->smtp.read_content = true;
	fx_qmgr(fx);
	assert_int_equal(idle(fx), UINT64_MAX);
	/* grouped by transport: local gets 0 and 2 in one job */
	assert_int_equal(fx->local.ncalls, 1);
	assert_int_equal(fx->local.calls[0].n, 2);
	assert_int_equal(fx->local.calls[0].rcpt[0], 0);
	assert_int_equal(fx->local.calls[0].rcpt[1], 2);
	assert_int_equal(fx->local.calls[0].attempt[0], 1);
	assert_int_equal(fx->smtp.ncalls, 1);
	assert_int_equal(fx->smtp.calls[0].n, 1);
	assert_int_equal(fx->smtp.calls[0].rcpt[0], 1);
	assert_int_equal(fx->local.content.len, 9);
	assert_memory_equal(fx->local.content.data, "hello\r\n\0x", 9);
	assert_false(file_exists(fx->dir, "msg", qid));
	assert_int_equal(fx->bounce.calls, 0);
	qmgr_get_stats(fx->qm, &st);
	assert_int_equal(st.sent, 3);
	assert_int_equal(st.messages, 0);
	assert_int_equal(st.active, 0);
	fx_free(&fx);
}

/* a per_domain transport gets one call per recipient domain (without
 * case); the others keep one call for all */
static void
test_per_domain(void **state)
{
	struct fx *fx = fx_new();
	const char *rcpts[] = { "a@x.example", "b@y.example", "c@X.Example",
		"d@local", "e@y.example", "f@local" };
	char qid[QUEUE_ID_SIZE];

	(void)state;
	fx->smtp.t.per_domain = true;
	put_msg(fx->sp, T0, "s@example.com", rcpts, 6, "x", 1, qid);
	fx_qmgr(fx);
	assert_int_equal(idle(fx), UINT64_MAX);
	assert_int_equal(fx->smtp.ncalls, 2);
	/* in recipient order, each domain's recipients together */
	assert_int_equal(fx->smtp.calls[0].n, 2);
	assert_int_equal(fx->smtp.calls[0].rcpt[0], 0);
	assert_int_equal(fx->smtp.calls[0].rcpt[1], 2);
	assert_int_equal(fx->smtp.calls[1].n, 2);
	assert_int_equal(fx->smtp.calls[1].rcpt[0], 1);
	assert_int_equal(fx->smtp.calls[1].rcpt[1], 4);
	/* local is not per_domain: one call */
	assert_int_equal(fx->local.ncalls, 1);
	assert_int_equal(fx->local.calls[0].n, 2);
	assert_false(file_exists(fx->dir, "msg", qid));
	fx_free(&fx);
}

static void
test_backoff(void **state)
{
	static const struct script sc[] = { { "a@remote", {
		TRANSPORT_TEMPFAIL, TRANSPORT_TEMPFAIL, TRANSPORT_TEMPFAIL,
		TRANSPORT_TEMPFAIL, TRANSPORT_TEMPFAIL, TRANSPORT_TEMPFAIL,
		TRANSPORT_OK }, 7 } };
	/* 300 * 2^(n-1), capped at 4000 */
	static const uint64_t delay[] = { 300, 600, 1200, 2400, 4000, 4000 };
	struct fx *fx = fx_new();
	const char *rcpts[] = { "a@remote" };
	char qid[QUEUE_ID_SIZE];
	uint64_t at = T0, due;

	(void)state;
	fx->smtp.script = sc;
	fx->smtp.nscript = 1;
	put_msg(fx->sp, T0, "s@example.com", rcpts, 1, "x", 1, qid);
	fx_qmgr(fx);
	for (unsigned k = 1; k <= 7; k++) {
		fx->now = at;
		due = idle(fx);
		assert_int_equal(fx->smtp.ncalls, k);
		assert_int_equal(fx->smtp.calls[k - 1].attempt[0], k);
		assert_int_equal(fx->smtp.calls[k - 1].at, at);
		if (k == 7)
			break;
		{
			struct queue_msg *m = load(fx, qid);

			assert_int_equal(m->state[0].status,
			    QUEUE_RCPT_DEFERRED);
			assert_int_equal(m->state[0].attempts, k);
			assert_int_equal(m->state[0].next_try_us,
			    at + delay[k - 1] * SEC);
			assert_string_equal(m->state[0].dsn, "4.0.0");
			assert_string_equal(m->state[0].relay,
			    "smtp.example[192.0.2.1]:25");
			/* CR, LF and \x01 became spaces */
			assert_non_null(strstr(m->state[0].text, "451 later"));
			assert_null(strpbrk(m->state[0].text, "\r\n\x01"));
			queue_msg_free(&m);
		}
		assert_int_equal(due, at + delay[k - 1] * SEC);
		/* a second early: nothing happens */
		fx->now = due - SEC;
		assert_int_equal(idle(fx), due);
		assert_int_equal(fx->smtp.ncalls, k);
		at = due;
	}
	assert_false(file_exists(fx->dir, "msg", qid));
	fx_free(&fx);
}

static void
test_permfail_and_mixed(void **state)
{
	static const struct script sc[] = {
		{ "temp@x", { TRANSPORT_TEMPFAIL, TRANSPORT_OK }, 2 },
		{ "perm@x", { TRANSPORT_PERMFAIL }, 1 },
	};
	struct fx *fx = fx_new();
	const char *rcpts[] = { "ok@x", "temp@x", "perm@x" };
	char qid[QUEUE_ID_SIZE];
	struct queue_msg *m;

	(void)state;
	fx->smtp.script = sc;
	fx->smtp.nscript = 2;
	put_msg(fx->sp, T0, "s@example.com", rcpts, 3, "x", 1, qid);
	fx_qmgr(fx);
	assert_int_equal(idle(fx), T0 + 300 * SEC);
	m = load(fx, qid);
	assert_int_equal(m->state[0].status, QUEUE_RCPT_SENT);
	assert_int_equal(m->state[1].status, QUEUE_RCPT_DEFERRED);
	assert_int_equal(m->state[2].status, QUEUE_RCPT_FAILED);
	assert_string_equal(m->state[2].dsn, "5.1.1");
	queue_msg_free(&m);
	assert_int_equal(fx->bounce.calls, 0);	/* not final yet */
	fx->now = T0 + 300 * SEC;
	assert_int_equal(idle(fx), UINT64_MAX);
	assert_int_equal(fx->smtp.ncalls, 2);
	assert_int_equal(fx->smtp.calls[1].n, 1);	/* only temp@x */
	assert_int_equal(fx->smtp.calls[1].rcpt[0], 1);
	assert_false(file_exists(fx->dir, "msg", qid));
	assert_int_equal(fx->bounce.calls, 1);
	assert_int_equal(fx->bounce.nfailed, 1);
	assert_int_equal(fx->bounce.failed[0], 2);
	/* a failing bounce keeps the file */
	fx->bounce.ret = -1;
	{
		const char *one[] = { "perm@x" };

		put_msg(fx->sp, T0, "s@example.com", one, 1, "x", 1, qid);
		qmgr_enqueue(fx->qm, qid);
		idle(fx);
		assert_true(file_exists(fx->dir, "msg", qid));
		assert_int_equal(fx->bounce.calls, 2);
	}
	fx_free(&fx);
}

static void
test_expiry(void **state)
{
	static const struct script sc[] = { { "a@x", { TRANSPORT_TEMPFAIL },
		1 } };
	struct fx *fx = fx_new();
	const char *rcpts[] = { "a@x" };
	char qid[QUEUE_ID_SIZE];
	uint64_t due;

	(void)state;
	fx->cq.max_lifetime = 3600;
	fx->smtp.script = sc;
	fx->smtp.nscript = 1;
	put_msg(fx->sp, T0, "s@example.com", rcpts, 1, "x", 1, qid);
	fx_qmgr(fx);
	/* tries at 0, 300, 900, 2100; the one at 4500 is past 3600 */
	for (int i = 0; i < 10 && (due = idle(fx)) != UINT64_MAX; i++)
		fx->now = due;
	assert_int_equal(fx->smtp.ncalls, 5);
	assert_int_equal(fx->smtp.calls[4].at, T0 + 4500 * SEC);
	assert_int_equal(fx->bounce.calls, 1);
	assert_non_null(strstr(fx->bounce.text, "message expired: 451"));
	assert_false(file_exists(fx->dir, "msg", qid));
	fx_free(&fx);
}

static void
test_max_deliveries(void **state)
{
	struct fx *fx = fx_new();
	const char *rcpts[] = { "a@x" };
	char qid[QUEUE_ID_SIZE];
	struct qmgr_stats st;

	(void)state;
	fx->cq.max_deliveries = 2;
	fx->hooks.dispatch = dispatch_later;
	fx->hooks.dispatch_arg = &fx->later;
	for (int i = 0; i < 5; i++)
		put_msg(fx->sp, T0, "s@example.com", rcpts, 1, "x", 1, qid);
	fx_qmgr(fx);
	/* saturated: nothing is due by the clock, a finished job kicks */
	assert_int_equal(qmgr_tick(fx->qm), UINT64_MAX);
	assert_int_equal(fx->later.n, 2);
	assert_int_equal(qmgr_tick(fx->qm), UINT64_MAX);
	assert_int_equal(fx->later.n, 2);
	qmgr_get_stats(fx->qm, &st);
	assert_int_equal(st.active, 2);
	run_later(&fx->later, 1);
	assert_int_equal(qmgr_tick(fx->qm), UINT64_MAX);
	assert_int_equal(fx->later.n, 2);
	while (fx->later.n > 0) {
		run_later(&fx->later, fx->later.n);
		qmgr_tick(fx->qm);
	}
	idle(fx);
	qmgr_get_stats(fx->qm, &st);
	assert_int_equal(st.jobs, 5);
	assert_int_equal(st.max_active, 2);
	assert_int_equal(st.sent, 5);
	assert_int_equal(count_files(fx->dir, "msg"), 0);
	fx_free(&fx);
}

static void
test_restart(void **state)
{
	static const struct script sc[] = { { "temp@x", { TRANSPORT_TEMPFAIL,
		TRANSPORT_OK }, 2 } };
	struct fx *fx = fx_new();
	const char *rcpts[] = { "ok@x", "temp@x" };
	char qid[QUEUE_ID_SIZE];

	(void)state;
	fx->smtp.script = sc;
	fx->smtp.nscript = 1;
	put_msg(fx->sp, T0, "s@example.com", rcpts, 2, "x", 1, qid);
	fx_qmgr(fx);
	idle(fx);
	assert_int_equal(fx->smtp.ncalls, 1);
	qmgr_free(&fx->qm);
	/* a new qmgr over the same spool, a new transport */
	tt_init(&fx->smtp, "smtp", fx);
	fx->smtp.script = sc;
	fx->smtp.nscript = 1;
	fx->now = T0 + 100 * SEC;
	fx_qmgr(fx);
	assert_int_equal(idle(fx), T0 + 300 * SEC);
	assert_int_equal(fx->smtp.ncalls, 0);
	fx->now = T0 + 300 * SEC;
	assert_int_equal(idle(fx), UINT64_MAX);
	assert_int_equal(fx->smtp.ncalls, 1);
	assert_int_equal(fx->smtp.calls[0].n, 1);	/* ok@x not again */
	assert_int_equal(fx->smtp.calls[0].rcpt[0], 1);
	assert_int_equal(fx->smtp.calls[0].attempt[0], 2);
	assert_false(file_exists(fx->dir, "msg", qid));
	fx_free(&fx);
}

static void
test_flush(void **state)
{
	static const struct script sc[] = { { "temp@x", { TRANSPORT_TEMPFAIL,
		TRANSPORT_TEMPFAIL, TRANSPORT_OK }, 3 } };
	struct fx *fx = fx_new();
	const char *rcpts[] = { "temp@x" };
	char qid[QUEUE_ID_SIZE];
	struct buf err = BUF_INIT(0);
	bool did;

	(void)state;
	fx->smtp.script = sc;
	fx->smtp.nscript = 1;
	put_msg(fx->sp, T0, "s@example.com", rcpts, 1, "x", 1, qid);
	fx_qmgr(fx);
	idle(fx);
	fx->now = T0 + 10 * SEC;
	assert_int_equal(idle(fx), T0 + 300 * SEC);
	assert_int_equal(fx->smtp.ncalls, 1);
	qmgr_flush(fx->qm);	/* SIGUSR1 */
	assert_int_equal(idle(fx), T0 + 10 * SEC + 600 * SEC);
	assert_int_equal(fx->smtp.ncalls, 2);
	assert_int_equal(fx->smtp.calls[1].at, T0 + 10 * SEC);
	/* the CLI's flush record, seen by the next start */
	qmgr_free(&fx->qm);
	assert_int_equal(queue_msg_append_flush(fx->dir, qid, true, &did,
	    &err), 0);
	assert_true(did);
	fx->now = T0 + 20 * SEC;
	fx_qmgr(fx);
	assert_int_equal(idle(fx), UINT64_MAX);
	assert_int_equal(fx->smtp.ncalls, 3);
	assert_false(file_exists(fx->dir, "msg", qid));
	buf_free(&err);
	fx_free(&fx);
}

static void
test_vanished(void **state)
{
	static const struct script sc[] = { { "temp@x", { TRANSPORT_TEMPFAIL },
		1 } };
	struct fx *fx = fx_new();
	const char *rcpts[] = { "temp@x" };
	char qid[QUEUE_ID_SIZE];
	struct buf p = BUF_INIT(0);
	struct qmgr_stats st;

	(void)state;
	fx->smtp.script = sc;
	fx->smtp.nscript = 1;
	put_msg(fx->sp, T0, "s@example.com", rcpts, 1, "x", 1, qid);
	fx_qmgr(fx);
	idle(fx);
	tpath(&p, fx->dir, "msg", qid);	/* `postern queue delete` */
	assert_int_equal(unlink(buf_cstr(&p)), 0);
	fx->now = T0 + 300 * SEC;
	assert_int_equal(idle(fx), UINT64_MAX);
	assert_int_equal(fx->smtp.ncalls, 1);	/* not tried again */
	qmgr_get_stats(fx->qm, &st);
	assert_int_equal(st.messages, 0);
	/* an ID that never existed, and one not even an ID */
	qmgr_enqueue(fx->qm, "00000000000000");
	qmgr_enqueue(fx->qm, "../etc/passwd");
	assert_int_equal(idle(fx), UINT64_MAX);
	/* deleted while being delivered */
	fx->smtp.delete_file = true;
	put_msg(fx->sp, fx->now, "s@example.com", rcpts, 1, "x", 1, qid);
	qmgr_enqueue(fx->qm, qid);
	idle(fx);
	fx->now += 300 * SEC;
	assert_int_equal(idle(fx), UINT64_MAX);
	assert_int_equal(fx->smtp.ncalls, 2);
	qmgr_get_stats(fx->qm, &st);
	assert_int_equal(st.messages, 0);
	buf_free(&p);
	fx_free(&fx);
}

static void
test_no_transport_and_no_result(void **state)
{
	static const struct script sc[] = { { "bug@x", { TRANSPORT_NONE },
		1 } };
	struct fx *fx = fx_new();
	const char *rcpts[] = { "a@local", "bug@x" };
	char qid[QUEUE_ID_SIZE];
	struct queue_msg *m;

	(void)state;
	fx->smtp.script = sc;
	fx->smtp.nscript = 1;
	put_msg(fx->sp, T0, "s@example.com", rcpts, 2, "x", 1, qid);
	fx->qm = qmgr_new(&fx->cq, &fx->hooks);	/* no "local" */
	qmgr_register_transport(fx->qm, &fx->smtp.t);
	qmgr_enqueue(fx->qm, qid);
	idle(fx);
	m = load(fx, qid);
	assert_int_equal(m->state[0].status, QUEUE_RCPT_DEFERRED);
	assert_string_equal(m->state[0].relay, "none");
	assert_string_equal(m->state[0].text,
	    "no transport registered for local");
	assert_string_equal(m->state[0].dsn, "4.3.5");
	assert_int_equal(m->state[1].status, QUEUE_RCPT_DEFERRED);
	assert_string_equal(m->state[1].text, "transport smtp gave no result");
	queue_msg_free(&m);
	fx_free(&fx);
}

static void
test_damaged_content(void **state)
{
	struct fx *fx = fx_new();
	const char *rcpts[] = { "a@x" };
	char qid[QUEUE_ID_SIZE];
	struct buf p = BUF_INIT(0), data = BUF_INIT(0);
	unsigned char *hit;

	(void)state;
	put_msg(fx->sp, T0, "s@example.com", rcpts, 1, "payload!", 8, qid);
	tpath(&p, fx->dir, "msg", qid);
	read_whole(buf_cstr(&p), &data);
	hit = memmem(data.data, data.len, "payload", 7);
	assert_non_null(hit);
	hit[0] = 'P';
	write_whole(buf_cstr(&p), data.data, data.len, O_TRUNC);
	fx->smtp.read_content = true;
	fx_qmgr(fx);
	assert_int_equal(idle(fx), UINT64_MAX);
	assert_int_equal(fx->smtp.ncalls, 1);
	assert_false(file_exists(fx->dir, "msg", qid));
	assert_true(file_exists(fx->dir, "corrupt", qid));
	buf_free(&p);
	buf_free(&data);
	fx_free(&fx);
}

static void
test_thread(void **state)
{
	struct fx *fx = fx_new();
	const char *rcpts[] = { "a@local", "b@x" };
	char qid[QUEUE_ID_SIZE];
	const char *error;
	int waited = 0;

	(void)state;
	fx->hooks.now = NULL;	/* the real clock */
	fx->qm = qmgr_new(&fx->cq, &fx->hooks);
	qmgr_register_transport(fx->qm, &fx->local.t);
	qmgr_register_transport(fx->qm, &fx->smtp.t);
	assert_int_equal(qmgr_start(fx->qm, &error), 0);
	for (int i = 0; i < 5; i++) {
		put_msg(fx->sp, 0, "s@example.com", rcpts, 2, "x", 1, qid);
		qmgr_enqueue(fx->qm, qid);
	}
	while (count_files(fx->dir, "msg") > 0 && waited++ < 500)
		usleep(10000);
	assert_int_equal(count_files(fx->dir, "msg"), 0);
	qmgr_free(&fx->qm);
	assert_int_equal(fx->local.ncalls + fx->smtp.ncalls, 10);
	fx_free(&fx);
}

/* a transport that counts and always defers */
struct counting {
	struct transport t;
	unsigned calls;
	uint64_t last_at;
	uint64_t *clock;
};

static void
counting_deliver(void *ctx, const struct transport_request *req,
    struct transport_result *res)
{
	struct counting *c = ctx;

	__atomic_add_fetch(&c->calls, 1, __ATOMIC_SEQ_CST);
	c->last_at = *c->clock;
	for (size_t k = 0; k < req->nrcpt; k++)
		transport_result_set(&res[k], TRANSPORT_TEMPFAIL, "4.4.1",
		    "try later");
}

/*
 * test_many_deferred - a round touches only what is due: two waves of
 * deferred messages come back each at its own time, a round in between
 * delivers nothing, and the next due time is the earliest next_try.
 */
static void
test_many_deferred(void **state)
{
	struct fx *fx = fx_new();
	const char *rcpts[] = { "a@remote.example" };
	struct counting c = { { "smtp", false, NULL, counting_deliver, false },
		0, 0, NULL };
	struct buf err = BUF_INIT(0);
	char qid[QUEUE_ID_SIZE];
	struct qmgr_stats st;

	(void)state;
	c.t.ctx = &c;
	c.clock = &fx->now;
	for (int i = 0; i < 300; i++)
		put_msg(fx->sp, T0, "s@example.com", rcpts, 1, "x", 1, qid);
	fx->qm = qmgr_new(&fx->cq, &fx->hooks);
	qmgr_register_transport(fx->qm, &c.t);
	assert_int_equal(qmgr_load(fx->qm, &err), 0);
	assert_int_equal(idle(fx), T0 + 300 * SEC);
	assert_int_equal(c.calls, 300);

	fx->now = T0 + 100 * SEC;	/* a second wave */
	for (int i = 0; i < 200; i++) {
		put_msg(fx->sp, fx->now, "s@example.com", rcpts, 1, "x", 1,
		    qid);
		qmgr_enqueue(fx->qm, qid);
	}
	assert_int_equal(idle(fx), T0 + 300 * SEC);
	assert_int_equal(c.calls, 500);

	fx->now = T0 + 299 * SEC;	/* nothing due yet */
	assert_int_equal(qmgr_tick(fx->qm), T0 + 300 * SEC);
	assert_int_equal(c.calls, 500);

	fx->now = T0 + 300 * SEC;	/* the first wave, second attempt */
	assert_int_equal(idle(fx), T0 + 400 * SEC);
	assert_int_equal(c.calls, 800);

	fx->now = T0 + 400 * SEC;	/* the second wave */
	assert_int_equal(idle(fx), T0 + 900 * SEC);	/* 300 + 2 * 300 */
	assert_int_equal(c.calls, 1000);
	qmgr_get_stats(fx->qm, &st);
	assert_int_equal(st.messages, 500);
	assert_int_equal(st.deferred, 1000);
	buf_free(&err);
	fx_free(&fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_immediate),
		cmocka_unit_test(test_per_domain),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_permfail_and_mixed),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_max_deliveries),
		cmocka_unit_test(test_restart),
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_vanished),
		cmocka_unit_test(test_no_transport_and_no_result),
		cmocka_unit_test(test_damaged_content),
		cmocka_unit_test(test_thread),
		cmocka_unit_test(test_many_deferred),
	};

	log_open(LOG_DEST_STDERR, getenv("QUEUE_TEST_LOG") != NULL ?
	    LOG_LVL_DEBUG : LOG_LVL_ERROR, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
