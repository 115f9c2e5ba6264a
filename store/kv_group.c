/*
 * kv_group.c - group commit of concurrent write transactions (kv.h).
 *
 * Callers queue a member (fn, arg, their own error buffer) and wait.  The
 * first caller that finds no group running becomes the leader: it takes
 * up to max_batch queued members, runs them in one kv_run transaction,
 * marks them done and wakes everyone; a waiter whose member is not done
 * then leads the next group.  Members queued while a group commits wait
 * at most one commit, which is what makes the batches form under load
 * and costs nothing without it.
 *
 * Failure isolation: when a group transaction fails for any reason but a
 * conflict (kv_run retries those), nothing of it is committed and every
 * member is run again alone, so each caller gets its own result.  A
 * member's error text goes to its own buffer only.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "common/xalloc.h"
#include "store/kv.h"

#define KV_GROUP_DEFAULT 64

struct kv_member {
	struct kv_member *next;
	kv_txn_fn *fn;
	void *arg;
	struct buf err;		/* this member's error line */
	int result;
	bool taken;		/* in a batch: never leads again */
	bool done;
	pthread_cond_t cond;	/* its caller waits here, woken alone */
};

struct kv_group {
	struct kv *kv;
	size_t max_batch;
	pthread_mutex_t mu;
	struct kv_member *head, *tail;	/* queued, not yet taken */
	bool leading;			/* a group is being run */
	uint64_t calls, groups;
};

struct kv_group *
kv_group_new(struct kv *kv, size_t max_batch)
{
	struct kv_group *g = xcalloc(1, sizeof(*g));

	g->kv = kv;
	g->max_batch = max_batch == 0 ? KV_GROUP_DEFAULT : max_batch;
	pthread_mutex_init(&g->mu, NULL);
	return g;
}

void
kv_group_free(struct kv_group **gp)
{
	struct kv_group *g = *gp;

	if (g == NULL)
		return;
	pthread_mutex_destroy(&g->mu);
	free(g);
	*gp = NULL;
}

/* group_txn - every member in t; the first failure stops the group */
static int
group_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct kv_member *m;
	int r;

	for (m = arg; m != NULL; m = m->next) {
		buf_reset(&m->err);
		r = m->fn(t, m->arg, &m->err);
		if (r == KV_CONFLICT)
			return r;
		if (r < 0) {
			buf_addf(err, "%s", buf_cstr(&m->err));
			return -1;
		}
	}
	return 0;
}

/*
 * run_group - the members from batch on; results into each.  A group
 * that commits whole leaves *ticket_r for kv_wait_durable (its members'
 * results are 0 until then); one that fails is run again member by
 * member, each waiting for its own commit.
 */
static void
run_group(struct kv_group *g, struct kv_member *batch, uint64_t *ticket_r)
{
	struct buf err = BUF_INIT(0);

	*ticket_r = 0;
	if (batch->next == NULL) {	/* alone: no isolation pass needed */
		batch->result = kv_run_nowait(g->kv, batch->fn, batch->arg,
		    ticket_r, &batch->err);
		return;
	}
	if (kv_run_nowait(g->kv, group_txn, batch, ticket_r, &err) == 0) {
		for (struct kv_member *m = batch; m != NULL; m = m->next)
			m->result = 0;
	} else {
		for (struct kv_member *m = batch; m != NULL; m = m->next) {
			buf_reset(&m->err);
			m->result = kv_run(g->kv, KV_WRITE, m->fn, m->arg,
			    &m->err);
		}
	}
	buf_free(&err);
}

int
kv_group_run(struct kv_group *g, kv_txn_fn *fn, void *arg, struct buf *err)
{
	struct kv_member me;

	me.next = NULL;
	me.fn = fn;
	me.arg = arg;
	buf_init(&me.err, 0);
	me.result = -1;
	me.taken = false;
	me.done = false;
	pthread_cond_init(&me.cond, NULL);

	pthread_mutex_lock(&g->mu);
	g->calls++;
	if (g->tail != NULL)
		g->tail->next = &me;
	else
		g->head = &me;
	g->tail = &me;
	while (!me.done) {
		struct kv_member *batch, *last;
		uint64_t ticket;
		size_t n = 1;

		/* a taken member waits for its leader; me is queued else */
		if (g->leading || me.taken) {
			pthread_cond_wait(&me.cond, &g->mu);
			continue;
		}
		/* lead: take up to max_batch from the head of the queue */
		g->leading = true;
		batch = last = g->head;
		batch->taken = true;
		while (n < g->max_batch && last->next != NULL) {
			last = last->next;
			last->taken = true;
			n++;
		}
		g->head = last->next;
		if (g->head == NULL)
			g->tail = NULL;
		last->next = NULL;
		pthread_mutex_unlock(&g->mu);

		run_group(g, batch, &ticket);

		/* the next group may run while this one's commit syncs */
		pthread_mutex_lock(&g->mu);
		g->groups++;
		g->leading = false;
		if (g->head != NULL)		/* it leads the next group */
			pthread_cond_signal(&g->head->cond);
		pthread_mutex_unlock(&g->mu);
		if (ticket != 0) {
			struct buf serr = BUF_INIT(0);

			if (kv_wait_durable(g->kv, ticket, &serr) < 0)
				for (struct kv_member *m = batch; m != NULL;
				    m = m->next) {
					m->result = -1;
					buf_reset(&m->err);
					buf_addf(&m->err, "%s",
					    buf_cstr(&serr));
				}
			buf_free(&serr);
		}

		pthread_mutex_lock(&g->mu);
		for (struct kv_member *m = batch, *next; m != NULL; m = next) {
			next = m->next;		/* m may go once done */
			m->done = true;
			if (m != &me)
				pthread_cond_signal(&m->cond);
		}
	}
	pthread_mutex_unlock(&g->mu);
	pthread_cond_destroy(&me.cond);
	if (me.result < 0)
		buf_addf(err, "%s", buf_cstr(&me.err));
	buf_free(&me.err);
	return me.result < 0 ? -1 : 0;
}

void
kv_group_stats(struct kv_group *g, uint64_t *calls_r, uint64_t *groups_r)
{
	pthread_mutex_lock(&g->mu);
	*calls_r = g->calls;
	*groups_r = g->groups;
	pthread_mutex_unlock(&g->mu);
}
