/*
 * queue_sched.c - the queue manager's indexes, so that a scheduling round
 * costs what it does, not the size of the queue.
 *
 *   - a hash table by queue ID (enqueue of a message already loaded);
 *   - a binary min-heap of the messages that have a recipient to try,
 *     keyed by (due time, sequence): pending recipients are due at 0,
 *     deferred ones at their next_try; the sequence number, renewed each
 *     time a message is put back, makes equal due times round-robin;
 *   - a list of messages ready to leave the queue (every recipient final,
 *     or the file gone, and no job running).
 *
 * A message is in at most one of heap and finish list.  Everything here
 * runs under qm->lock.  Before these indexes every round walked every
 * message: with 15,000 deferred messages that was a third of the CPU of a
 * 20-session `make bench` run (perf: strcmp, qmgr_tick, finishable).
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "queue/queue_priv.h"

#define NOT_IN_HEAP SIZE_MAX

/* ---- hash by queue ID ---- */

static size_t
qid_hash(const char *qid, size_t cap)
{
	uint64_t h = 1469598103934665603u;	/* FNV-1a */

	for (; *qid != '\0'; qid++)
		h = (h ^ (unsigned char)*qid) * 1099511628211u;
	return (size_t)(h & (cap - 1));
}

static void
hash_grow(struct qmgr *qm)
{
	size_t cap = qm->hash_cap == 0 ? 1024 : qm->hash_cap * 2;
	struct qmgr_msg **v = xcalloc(cap, sizeof(*v));

	for (size_t i = 0; i < qm->hash_cap; i++) {
		struct qmgr_msg *q, *next;

		for (q = qm->hash[i]; q != NULL; q = next) {
			size_t h = qid_hash(q->m->env.qid, cap);

			next = q->hnext;
			q->hnext = v[h];
			v[h] = q;
		}
	}
	free(qm->hash);
	qm->hash = v;
	qm->hash_cap = cap;
}

void
qmgr_index_add(struct qmgr *qm, struct qmgr_msg *q)
{
	size_t h;

	if (qm->hash_n >= qm->hash_cap / 2)
		hash_grow(qm);
	h = qid_hash(q->m->env.qid, qm->hash_cap);
	q->hnext = qm->hash[h];
	qm->hash[h] = q;
	qm->hash_n++;
	q->heap_idx = NOT_IN_HEAP;
	q->finishing = false;
}

struct qmgr_msg *
qmgr_index_find(struct qmgr *qm, const char *qid)
{
	if (qm->hash_cap == 0)
		return NULL;
	for (struct qmgr_msg *q = qm->hash[qid_hash(qid, qm->hash_cap)];
	    q != NULL; q = q->hnext)
		if (strcmp(q->m->env.qid, qid) == 0)
			return q;
	return NULL;
}

static void heap_remove(struct qmgr *qm, struct qmgr_msg *q);

void
qmgr_index_remove(struct qmgr *qm, struct qmgr_msg *q)
{
	struct qmgr_msg **pp;

	heap_remove(qm, q);
	for (pp = &qm->hash[qid_hash(q->m->env.qid, qm->hash_cap)];
	    *pp != NULL; pp = &(*pp)->hnext) {
		if (*pp == q) {
			*pp = q->hnext;
			qm->hash_n--;
			return;
		}
	}
	PANIC("qmgr_index_remove: %s not indexed", q->m->env.qid);
}

/* ---- heap ---- */

static bool
before(const struct qmgr_msg *a, const struct qmgr_msg *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
heap_set(struct qmgr *qm, size_t i, struct qmgr_msg *q)
{
	qm->heap[i] = q;
	q->heap_idx = i;
}

static void
sift_up(struct qmgr *qm, size_t i)
{
	struct qmgr_msg *q = qm->heap[i];

	while (i > 0 && before(q, qm->heap[(i - 1) / 2])) {
		heap_set(qm, i, qm->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	heap_set(qm, i, q);
}

static void
sift_down(struct qmgr *qm, size_t i)
{
	struct qmgr_msg *q = qm->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= qm->heap_n)
			break;
		if (c + 1 < qm->heap_n && before(qm->heap[c + 1], qm->heap[c]))
			c++;
		if (!before(qm->heap[c], q))
			break;
		heap_set(qm, i, qm->heap[c]);
		i = c;
	}
	heap_set(qm, i, q);
}

static void
heap_remove(struct qmgr *qm, struct qmgr_msg *q)
{
	size_t i = q->heap_idx;
	struct qmgr_msg *last;

	if (i == NOT_IN_HEAP)
		return;
	q->heap_idx = NOT_IN_HEAP;
	last = qm->heap[--qm->heap_n];
	if (last == q)
		return;
	heap_set(qm, i, last);
	sift_down(qm, i);
	sift_up(qm, last->heap_idx);
}

static void
heap_push(struct qmgr *qm, struct qmgr_msg *q)
{
	if (qm->heap_n == qm->heap_cap) {
		qm->heap_cap = qm->heap_cap == 0 ? 256 : qm->heap_cap * 2;
		qm->heap = xreallocarray(qm->heap, qm->heap_cap,
		    sizeof(*qm->heap));
	}
	heap_set(qm, qm->heap_n++, q);
	sift_up(qm, q->heap_idx);
}

struct qmgr_msg *
qmgr_index_due(struct qmgr *qm, uint64_t now)
{
	struct qmgr_msg *q;

	if (qm->heap_n == 0 || qm->heap[0]->due > now)
		return NULL;
	q = qm->heap[0];
	heap_remove(qm, q);
	return q;
}

uint64_t
qmgr_index_next_due(const struct qmgr *qm)
{
	return qm->heap_n > 0 ? qm->heap[0]->due : UINT64_MAX;
}

/* ---- what a message waits for ---- */

static bool
all_final(const struct qmgr_msg *q)
{
	for (size_t i = 0; i < q->m->env.nrcpt; i++)
		if (!queue_rcpt_is_final(q->m->state[i].status))
			return false;
	return true;
}

/* earliest due time of a recipient no job owns; UINT64_MAX: none */
static uint64_t
msg_due(const struct qmgr_msg *q)
{
	uint64_t due = UINT64_MAX;

	for (size_t i = 0; i < q->m->env.nrcpt; i++) {
		const struct queue_rcpt_state *st = &q->m->state[i];
		uint64_t t;

		if (q->inflight[i] || queue_rcpt_is_final(st->status))
			continue;
		t = st->status == QUEUE_RCPT_PENDING ? 0 : st->next_try_us;
		if (t < due)
			due = t;
	}
	return due;
}

void
qmgr_index_update(struct qmgr *qm, struct qmgr_msg *q)
{
	uint64_t due;

	if (q->finishing)
		return;
	if (q->jobs == 0 && (q->dead || all_final(q))) {
		heap_remove(qm, q);
		q->finishing = true;
		q->fnext = qm->finish;
		qm->finish = q;
		return;
	}
	due = q->dead ? UINT64_MAX : msg_due(q);
	if (due == UINT64_MAX) {
		heap_remove(qm, q);
		return;
	}
	heap_remove(qm, q);
	q->due = due;
	q->seq = qm->seq++;
	heap_push(qm, q);
}

void
qmgr_index_free(struct qmgr *qm)
{
	free(qm->heap);
	free(qm->hash);
	qm->heap = NULL;
	qm->hash = NULL;
	qm->heap_n = qm->heap_cap = qm->hash_n = qm->hash_cap = 0;
}
