/*
 * loop_test.c - common/loop.h: loop_post runs on the loop's own thread,
 * in FIFO order, exactly once even when many threads post at once, and
 * may post again; jobs run on workers with their completion on the
 * submitting loop (or on the worker without one); jobs_free drains the
 * queue; loops_stop/loops_free drop late posts and free everything (run
 * under SAN=1 for the leak check).  Every wait has a timeout, so a lost
 * post fails the test instead of hanging it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/common.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/xalloc.h"

#define WAIT_MAX_S 5

/* a counter the test thread can wait on */
struct count {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned n;
};

static void
count_init(struct count *c)
{
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->n = 0;
}

static void
count_destroy(struct count *c)
{
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
}

static void
count_add(struct count *c)
{
	pthread_mutex_lock(&c->mu);
	c->n++;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static unsigned
count_get(struct count *c)
{
	unsigned n;

	pthread_mutex_lock(&c->mu);
	n = c->n;
	pthread_mutex_unlock(&c->mu);
	return n;
}

/* count_wait - until c reaches want; false after WAIT_MAX_S */
static bool
count_wait(struct count *c, unsigned want)
{
	struct timespec ts;
	bool ok = true;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += WAIT_MAX_S;
	pthread_mutex_lock(&c->mu);
	while (c->n < want && ok)
		ok = pthread_cond_timedwait(&c->cv, &c->mu, &ts) != ETIMEDOUT;
	ok = c->n >= want;
	pthread_mutex_unlock(&c->mu);
	return ok;
}

/* ---- loop_post ---- */

struct whoami {
	pthread_t self;
	struct count *done;
};

static void
whoami_cb(void *arg)
{
	struct whoami *w = arg;

	w->self = pthread_self();
	count_add(w->done);
}

/* loop_thread - the thread id loop l runs on (it must be running) */
static pthread_t
loop_thread(struct loop *l)
{
	struct count c;
	struct whoami w = { pthread_self(), &c };

	count_init(&c);
	loop_post(l, whoami_cb, &w);
	assert_true(count_wait(&c, 1));
	count_destroy(&c);
	return w.self;
}

struct seq_rec {
	struct seq_log *log;
	unsigned seq;
};

/* what the posted calls of one loop saw, written on that loop's thread */
struct seq_log {
	unsigned n;		/* calls seen */
	unsigned *order;	/* seq of the i-th call */
	pthread_t *thread;	/* and its thread */
	struct count *done;
};

static void
seq_cb(void *arg)
{
	struct seq_rec *r = arg;
	struct seq_log *lg = r->log;

	lg->order[lg->n] = r->seq;
	lg->thread[lg->n] = pthread_self();
	lg->n++;
	count_add(lg->done);
}

static void
test_post_order(void **state)
{
	static const struct {
		unsigned loops, posts;
	} cases[] = {
		{ 1, 1 },
		{ 1, 2000 },
		{ 2, 500 },
		{ 4, 300 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned nl = cases[i].loops, np = cases[i].posts;
		struct loops *ls = loops_new(nl);
		struct seq_log *logs = xcalloc(nl, sizeof(*logs));
		struct seq_rec *recs = xcalloc((size_t)nl * np, sizeof(*recs));
		pthread_t *tids = xcalloc(nl, sizeof(*tids));
		const char *error = NULL;
		struct count done;

		count_init(&done);
		assert_int_equal(loops_count(ls), nl);
		assert_int_equal(loops_start(ls, &error), 0);
		for (unsigned l = 0; l < nl; l++) {
			struct loop *lp = loops_get(ls, l);

			assert_int_equal(loop_index(lp), l);
			assert_non_null(loop_base(lp));
			tids[l] = loop_thread(lp);
			/* its own thread, not ours, not another loop's */
			assert_false(pthread_equal(tids[l], pthread_self()));
			for (unsigned k = 0; k < l; k++)
				assert_false(pthread_equal(tids[l], tids[k]));
			logs[l].order = xcalloc(np, sizeof(unsigned));
			logs[l].thread = xcalloc(np, sizeof(pthread_t));
			logs[l].done = &done;
		}
		/* interleave the loops so each sees a busy neighbour */
		for (unsigned s = 0; s < np; s++)
			for (unsigned l = 0; l < nl; l++) {
				struct seq_rec *r = &recs[(size_t)l * np + s];

				r->log = &logs[l];
				r->seq = s;
				loop_post(loops_get(ls, l), seq_cb, r);
			}
		if (!count_wait(&done, nl * np))
			fail_msg("case %zu: %u of %u calls ran", i,
			    count_get(&done), nl * np);
		for (unsigned l = 0; l < nl; l++) {
			assert_int_equal(logs[l].n, np);
			for (unsigned s = 0; s < np; s++) {
				if (logs[l].order[s] != s)
					fail_msg("case %zu loop %u: call %u "
					    "ran as #%u", i, l,
					    logs[l].order[s], s);
				assert_true(pthread_equal(logs[l].thread[s],
				    tids[l]));
			}
			free(logs[l].order);
			free(logs[l].thread);
		}
		loops_free(&ls);
		assert_null(ls);
		count_destroy(&done);
		free(logs);
		free(recs);
		free(tids);
	}
}

/* several threads post to the same loops at once */
#define PRODUCERS 6
#define PER_PRODUCER 4000

struct tally {
	pthread_t loop_tid[2];
	unsigned seen[PRODUCERS][PER_PRODUCER];	/* times each call ran */
	int last[2][PRODUCERS];	/* per loop and producer: last seq */
	unsigned wrong_thread, out_of_order;
	struct count done;
};

struct msg {
	struct tally *t;
	unsigned loop, producer, seq;
};

static void
tally_cb(void *arg)
{
	struct msg *m = arg;
	struct tally *t = m->t;

	/* only this loop's thread touches its row: no lock needed */
	if (!pthread_equal(pthread_self(), t->loop_tid[m->loop]))
		t->wrong_thread++;
	if ((int)m->seq <= t->last[m->loop][m->producer])
		t->out_of_order++;
	t->last[m->loop][m->producer] = (int)m->seq;
	t->seen[m->producer][m->seq]++;
	count_add(&t->done);
}

struct producer {
	struct loops *ls;
	struct msg *msgs;	/* PER_PRODUCER of them */
};

static void *
producer_thread(void *arg)
{
	struct producer *p = arg;

	for (unsigned s = 0; s < PER_PRODUCER; s++)
		loop_post(loops_get(p->ls, p->msgs[s].loop), tally_cb,
		    &p->msgs[s]);
	return NULL;
}

static void
test_post_many_threads(void **state)
{
	struct loops *ls = loops_new(2);
	struct tally *t = xcalloc(1, sizeof(*t));
	struct producer prod[PRODUCERS];
	pthread_t th[PRODUCERS];
	const char *error = NULL;

	(void)state;
	count_init(&t->done);
	assert_int_equal(loops_start(ls, &error), 0);
	for (unsigned l = 0; l < 2; l++) {
		t->loop_tid[l] = loop_thread(loops_get(ls, l));
		for (unsigned p = 0; p < PRODUCERS; p++)
			t->last[l][p] = -1;
	}
	for (unsigned p = 0; p < PRODUCERS; p++) {
		prod[p].ls = ls;
		prod[p].msgs = xcalloc(PER_PRODUCER, sizeof(struct msg));
		for (unsigned s = 0; s < PER_PRODUCER; s++)
			prod[p].msgs[s] = (struct msg){ t, (s / 7 + p) % 2, p,
				s };
	}
	for (unsigned p = 0; p < PRODUCERS; p++)
		assert_int_equal(pthread_create(&th[p], NULL, producer_thread,
		    &prod[p]), 0);
	for (unsigned p = 0; p < PRODUCERS; p++)
		assert_int_equal(pthread_join(th[p], NULL), 0);
	if (!count_wait(&t->done, PRODUCERS * PER_PRODUCER))
		fail_msg("%u of %u calls ran", count_get(&t->done),
		    PRODUCERS * PER_PRODUCER);
	/* stop first: the counters are then ours to read */
	loops_free(&ls);
	assert_int_equal(t->wrong_thread, 0);
	assert_int_equal(t->out_of_order, 0);	/* FIFO per poster */
	for (unsigned p = 0; p < PRODUCERS; p++) {
		for (unsigned s = 0; s < PER_PRODUCER; s++)
			if (t->seen[p][s] != 1)
				fail_msg("producer %u call %u ran %u times", p,
				    s, t->seen[p][s]);
		free(prod[p].msgs);
	}
	count_destroy(&t->done);
	free(t);
}

/* a posted call may post again (the FIFO is run without the lock) */
struct chain {
	struct loop *l;
	pthread_t tid;
	unsigned left, ran, wrong_thread;
	struct count done;
};

static void
chain_cb(void *arg)
{
	struct chain *c = arg;

	c->ran++;
	if (!pthread_equal(pthread_self(), c->tid))
		c->wrong_thread++;
	if (c->left-- > 0)
		loop_post(c->l, chain_cb, c);
	else
		count_add(&c->done);
}

static void
test_post_from_loop(void **state)
{
	struct loops *ls = loops_new(1);
	struct chain c = { .left = 1000 };
	const char *error = NULL;

	(void)state;
	count_init(&c.done);
	assert_int_equal(loops_start(ls, &error), 0);
	c.l = loops_get(ls, 0);
	c.tid = loop_thread(c.l);
	loop_post(c.l, chain_cb, &c);
	assert_true(count_wait(&c.done, 1));
	loops_free(&ls);
	assert_int_equal(c.ran, 1001);
	assert_int_equal(c.wrong_thread, 0);
	count_destroy(&c.done);
}

static void
count_cb(void *arg)
{
	count_add(arg);
}

static void
test_post_before_start(void **state)
{
	struct loops *ls = loops_new(2);
	struct count c;
	const char *error = NULL;

	(void)state;
	count_init(&c);
	/* posted before the threads exist: run once they do */
	for (int i = 0; i < 10; i++)
		loop_post(loops_get(ls, (unsigned)i % 2), count_cb, &c);
	usleep(10000);
	assert_int_equal(count_get(&c), 0);
	assert_int_equal(loops_start(ls, &error), 0);
	assert_true(count_wait(&c, 10));
	loops_free(&ls);
	assert_int_equal(count_get(&c), 10);
	count_destroy(&c);
}

static void
test_stop_free(void **state)
{
	static const struct {
		const char *name;
		unsigned loops;
		bool start;
		unsigned before;	/* posts before loops_stop */
	} cases[] = {
		{ "never started, no posts", 1, false, 0 },
		{ "never started, posts freed unrun", 3, false, 50 },
		{ "started, idle", 1, true, 0 },
		{ "started, posts", 4, true, 200 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct loops *ls = loops_new(cases[i].loops);
		unsigned nl = cases[i].loops, ran;
		const char *error = NULL;
		struct count c;

		count_init(&c);
		if (cases[i].start)
			assert_int_equal(loops_start(ls, &error), 0);
		for (unsigned k = 0; k < cases[i].before; k++)
			loop_post(loops_get(ls, k % nl), count_cb, &c);
		if (cases[i].start && !count_wait(&c, cases[i].before))
			fail_msg("%s: posts lost", cases[i].name);
		loops_stop(ls);
		ran = count_get(&c);
		/* after loops_stop a post is dropped, not run, not leaked */
		for (unsigned k = 0; k < 20; k++)
			loop_post(loops_get(ls, k % nl), count_cb, &c);
		loops_stop(ls);		/* idempotent */
		loops_free(&ls);
		assert_null(ls);
		if (count_get(&c) != ran ||
		    ran != (cases[i].start ? cases[i].before : 0))
			fail_msg("%s: %u calls ran", cases[i].name,
			    count_get(&c));
		count_destroy(&c);
	}
	loops_free(&(struct loops *){ NULL });	/* accepts NULL */
}

/* ---- jobs ---- */

struct job_rec {
	struct job_run *run;
	unsigned seq;
	pthread_t work_tid, done_tid;
	bool worked, work_seen_by_done;
	unsigned done_calls;
};

struct job_run {
	pthread_mutex_t mu;
	unsigned *done_order;	/* seq of the i-th done */
	unsigned ndone;
	struct count works, dones;
};

static void
job_work(void *ctx)
{
	struct job_rec *r = ctx;

	r->work_tid = pthread_self();
	r->worked = true;
	count_add(&r->run->works);
}

static void
job_done(void *ctx)
{
	struct job_rec *r = ctx;
	struct job_run *run = r->run;

	r->done_tid = pthread_self();
	r->work_seen_by_done = r->worked;	/* done follows work */
	r->done_calls++;
	pthread_mutex_lock(&run->mu);
	run->done_order[run->ndone++] = r->seq;
	pthread_mutex_unlock(&run->mu);
	count_add(&run->dones);
}

static void
test_jobs(void **state)
{
	static const struct {
		const char *name;
		unsigned workers, jobs;
		bool origin, done;
	} cases[] = {
		{ "one worker, done on the loop", 1, 200, true, true },
		{ "four workers, done on the loop", 4, 1000, true, true },
		{ "no origin: done on the worker", 3, 300, false, true },
		{ "one worker, no origin", 1, 50, false, true },
		{ "done NULL", 2, 300, true, false },
		{ "done NULL, no origin", 2, 300, false, false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		unsigned nj = cases[i].jobs;
		struct loops *ls = loops_new(1);
		struct loop *l = loops_get(ls, 0);
		struct job_rec *recs = xcalloc(nj, sizeof(*recs));
		struct job_run run;
		struct jobs *j;
		const char *error = NULL;
		pthread_t ltid;

		pthread_mutex_init(&run.mu, NULL);
		run.done_order = xcalloc(nj, sizeof(unsigned));
		run.ndone = 0;
		count_init(&run.works);
		count_init(&run.dones);
		assert_int_equal(loops_start(ls, &error), 0);
		ltid = loop_thread(l);
		j = jobs_new(cases[i].workers);
		for (unsigned k = 0; k < nj; k++) {
			recs[k].run = &run;
			recs[k].seq = k;
			jobs_submit(j, cases[i].origin ? l : NULL, job_work,
			    cases[i].done ? job_done : NULL, &recs[k]);
		}
		if (!count_wait(&run.works, nj) ||
		    (cases[i].done && !count_wait(&run.dones, nj)))
			fail_msg("%s: %u works, %u dones of %u", cases[i].name,
			    count_get(&run.works), count_get(&run.dones), nj);
		jobs_free(&j);
		assert_null(j);
		loops_free(&ls);
		assert_int_equal(count_get(&run.works), nj);
		assert_int_equal(count_get(&run.dones),
		    cases[i].done ? nj : 0);
		for (unsigned k = 0; k < nj; k++) {
			struct job_rec *r = &recs[k];

			assert_true(r->worked);
			/* work on a worker: neither the loop nor us */
			assert_false(pthread_equal(r->work_tid, pthread_self()));
			assert_false(pthread_equal(r->work_tid, ltid));
			if (!cases[i].done) {
				assert_int_equal(r->done_calls, 0);
				continue;
			}
			assert_int_equal(r->done_calls, 1);
			assert_true(r->work_seen_by_done);
			if (cases[i].origin)
				assert_true(pthread_equal(r->done_tid, ltid));
			else
				assert_true(pthread_equal(r->done_tid,
				    r->work_tid));
		}
		/* one worker and one loop: completions in submission order */
		if (cases[i].done && cases[i].workers == 1)
			for (unsigned k = 0; k < nj; k++)
				if (run.done_order[k] != k)
					fail_msg("%s: done #%u was job %u",
					    cases[i].name, k,
					    run.done_order[k]);
		count_destroy(&run.works);
		count_destroy(&run.dones);
		pthread_mutex_destroy(&run.mu);
		free(run.done_order);
		free(recs);
	}
}

/* jobs_free with jobs still queued: they all run before it returns */
struct gate {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
};

static void
gate_work(void *ctx)
{
	struct gate *g = ctx;

	pthread_mutex_lock(&g->mu);
	while (!g->open)
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
}

static void *
gate_opener(void *arg)
{
	struct gate *g = arg;

	usleep(50000);	/* long enough for jobs_free to be waiting */
	pthread_mutex_lock(&g->mu);
	g->open = true;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

struct pair {
	struct count works, dones;
};

static void
slow_work(void *ctx)
{
	struct pair *p = ctx;

	usleep(200);
	count_add(&p->works);
}

static void
pair_done(void *ctx)
{
	struct pair *p = ctx;

	count_add(&p->dones);
}

static void
test_jobs_free_drains(void **state)
{
	static const struct {
		unsigned workers, queued;
	} cases[] = {
		{ 1, 100 },
		{ 3, 300 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct gate g = { PTHREAD_MUTEX_INITIALIZER,
			PTHREAD_COND_INITIALIZER, false };
		struct jobs *j = jobs_new(cases[i].workers);
		unsigned nq = cases[i].queued;
		struct pair p;
		pthread_t opener;

		count_init(&p.works);
		count_init(&p.dones);
		/* block every worker, queue the rest behind them */
		for (unsigned w = 0; w < cases[i].workers; w++)
			jobs_submit(j, NULL, gate_work, NULL, &g);
		for (unsigned k = 0; k < nq; k++)
			jobs_submit(j, NULL, slow_work, k % 2 ? pair_done :
			    NULL, &p);
		assert_int_equal(count_get(&p.works), 0);
		assert_int_equal(pthread_create(&opener, NULL, gate_opener,
		    &g), 0);
		jobs_free(&j);
		assert_null(j);
		if (count_get(&p.works) != nq || count_get(&p.dones) != nq / 2)
			fail_msg("case %zu: %u works, %u dones of %u queued",
			    i, count_get(&p.works), count_get(&p.dones), nq);
		assert_int_equal(pthread_join(opener, NULL), 0);
		count_destroy(&p.works);
		count_destroy(&p.dones);
	}
	jobs_free(&(struct jobs *){ NULL });	/* accepts NULL */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_order),
		cmocka_unit_test(test_post_many_threads),
		cmocka_unit_test(test_post_from_loop),
		cmocka_unit_test(test_post_before_start),
		cmocka_unit_test(test_stop_free),
		cmocka_unit_test(test_jobs),
		cmocka_unit_test(test_jobs_free_drains),
	};

	log_open(LOG_DEST_STDERR, LOG_LVL_ERROR, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
