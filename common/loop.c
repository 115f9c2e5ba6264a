/*
 * loop.c - I/O loop threads and the worker pool (see loop.h).
 *
 * Cross-thread posting: each loop has a mutex-protected FIFO of calls and
 * one persistent libevent "wake" event that other threads activate with
 * event_active() (libevent's pthread locking is turned on once, before the
 * first base exists).  The loop thread swaps the whole FIFO out under the
 * lock and runs it without the lock, so a call may post again.
 *
 * The job pool is a plain FIFO with a condition variable; a job's
 * completion is a loop_post() to the submitting loop.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <event2/thread.h>

#include "loop.h"
#include "xalloc.h"

struct post {
	struct post *next;
	loop_fn *fn;
	void *arg;
};

struct loop {
	struct loops *group;
	unsigned index;
	struct event_base *base;
	struct event *wake;
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	struct post *head, *tail;
	bool stopping;
};

struct loops {
	unsigned n;
	struct loop *v;
};

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;

static void
evthread_init(void)
{
	if (evthread_use_pthreads() != 0)
		PANIC("evthread_use_pthreads failed");
}

static void
loop_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;
	struct post *p, *next;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&l->mu);
	p = l->head;
	l->head = l->tail = NULL;
	pthread_mutex_unlock(&l->mu);
	for (; p != NULL; p = next) {
		next = p->next;
		p->fn(p->arg);
		free(p);
	}
}

static void
loop_break_cb(void *arg)
{
	struct loop *l = arg;

	event_base_loopbreak(l->base);
}

struct loops *
loops_new(unsigned n)
{
	struct loops *ls;

	ASSERT(n >= 1);
	pthread_once(&evthread_once, evthread_init);
	ls = xcalloc(1, sizeof(*ls));
	ls->n = n;
	ls->v = xcalloc(n, sizeof(*ls->v));
	for (unsigned i = 0; i < n; i++) {
		struct loop *l = &ls->v[i];

		l->group = ls;
		l->index = i;
		l->base = event_base_new();
		if (l->base == NULL)
			PANIC("event_base_new failed");
		l->wake = event_new(l->base, -1, EV_PERSIST, loop_wake_cb, l);
		if (l->wake == NULL)
			PANIC("event_new failed");
		pthread_mutex_init(&l->mu, NULL);
	}
	return ls;
}

unsigned
loops_count(const struct loops *ls)
{
	return ls->n;
}

struct loop *
loops_get(struct loops *ls, unsigned i)
{
	ASSERT(i < ls->n);
	return &ls->v[i];
}

struct event_base *
loop_base(struct loop *l)
{
	return l->base;
}

unsigned
loop_index(const struct loop *l)
{
	return l->index;
}

static void *
loop_thread(void *arg)
{
	struct loop *l = arg;

	/* EVLOOP_NO_EXIT_ON_EMPTY: a loop with no sockets yet still waits */
	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

int
loops_start(struct loops *ls, const char **error_r)
{
	for (unsigned i = 0; i < ls->n; i++) {
		struct loop *l = &ls->v[i];
		int err = pthread_create(&l->thread, NULL, loop_thread, l);

		if (err != 0) {
			*error_r = strerror(err);
			return -1;
		}
		l->started = true;
	}
	return 0;
}

void
loop_post(struct loop *l, loop_fn *fn, void *arg)
{
	struct post *p = xmalloc(sizeof(*p));

	p->next = NULL;
	p->fn = fn;
	p->arg = arg;
	pthread_mutex_lock(&l->mu);
	if (l->stopping) {
		pthread_mutex_unlock(&l->mu);
		free(p);
		return;
	}
	if (l->tail != NULL)
		l->tail->next = p;
	else
		l->head = p;
	l->tail = p;
	pthread_mutex_unlock(&l->mu);
	event_active(l->wake, EV_READ, 0);
}

void
loops_stop(struct loops *ls)
{
	for (unsigned i = 0; i < ls->n; i++) {
		struct loop *l = &ls->v[i];

		if (!l->started)
			continue;
		loop_post(l, loop_break_cb, l);
		pthread_mutex_lock(&l->mu);
		l->stopping = true;
		pthread_mutex_unlock(&l->mu);
	}
	for (unsigned i = 0; i < ls->n; i++) {
		struct loop *l = &ls->v[i];

		if (l->started)
			pthread_join(l->thread, NULL);
		l->started = false;
	}
}

void
loops_free(struct loops **lsp)
{
	struct loops *ls = *lsp;

	if (ls == NULL)
		return;
	loops_stop(ls);
	for (unsigned i = 0; i < ls->n; i++) {
		struct loop *l = &ls->v[i];
		struct post *p, *next;

		for (p = l->head; p != NULL; p = next) {
			next = p->next;
			free(p);
		}
		event_free(l->wake);
		event_base_free(l->base);
		pthread_mutex_destroy(&l->mu);
	}
	free(ls->v);
	free(ls);
	*lsp = NULL;
}

/* ---- job pool ---- */

struct job {
	struct job *next;
	struct loop *origin;
	job_fn *work;
	job_done_fn *done;
	void *ctx;
};

struct jobs {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;
	bool stopping;
	unsigned n;
	pthread_t *threads;
};

static void *
jobs_thread(void *arg)
{
	struct jobs *j = arg;

	for (;;) {
		struct job *jb;

		pthread_mutex_lock(&j->mu);
		while (j->head == NULL && !j->stopping)
			pthread_cond_wait(&j->cv, &j->mu);
		jb = j->head;
		if (jb == NULL) {	/* stopping and drained */
			pthread_mutex_unlock(&j->mu);
			return NULL;
		}
		j->head = jb->next;
		if (j->head == NULL)
			j->tail = NULL;
		pthread_mutex_unlock(&j->mu);

		jb->work(jb->ctx);
		if (jb->done != NULL) {
			if (jb->origin != NULL)
				loop_post(jb->origin, jb->done, jb->ctx);
			else
				jb->done(jb->ctx);
		}
		free(jb);
	}
}

struct jobs *
jobs_new(unsigned n)
{
	struct jobs *j = xcalloc(1, sizeof(*j));

	ASSERT(n >= 1);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	j->n = n;
	j->threads = xcalloc(n, sizeof(*j->threads));
	for (unsigned i = 0; i < n; i++) {
		int err = pthread_create(&j->threads[i], NULL, jobs_thread, j);

		if (err != 0)
			PANIC("jobs_new: pthread_create: %s", strerror(err));
	}
	return j;
}

void
jobs_submit(struct jobs *j, struct loop *origin, job_fn *work,
    job_done_fn *done, void *ctx)
{
	struct job *jb = xmalloc(sizeof(*jb));

	jb->next = NULL;
	jb->origin = origin;
	jb->work = work;
	jb->done = done;
	jb->ctx = ctx;
	pthread_mutex_lock(&j->mu);
	ASSERT(!j->stopping);
	if (j->tail != NULL)
		j->tail->next = jb;
	else
		j->head = jb;
	j->tail = jb;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

void
jobs_free(struct jobs **jp)
{
	struct jobs *j = *jp;

	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->stopping = true;
	pthread_cond_broadcast(&j->cv);
	pthread_mutex_unlock(&j->mu);
	for (unsigned i = 0; i < j->n; i++)
		pthread_join(j->threads[i], NULL);
	pthread_mutex_destroy(&j->mu);
	pthread_cond_destroy(&j->cv);
	free(j->threads);
	free(j);
	*jp = NULL;
}
