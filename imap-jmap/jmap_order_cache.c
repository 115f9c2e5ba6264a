/*
 * jmap_order_cache.c - whole receivedAt orders of mailboxes, kept for
 * Email/query pages deep into a big mailbox (jmap_priv.h).
 *
 * The receivedAt index (store/mail_order.c) answers the first pages by
 * reading only as far as the window, but a page at position 10,000 of
 * 20,000 reads 10,000 index keys (20 ms).  Clients page through a
 * mailbox, or jump into it, at one state; so the first deep query of a
 * mailbox keeps its whole order here, and the next ones cut their
 * window from memory.
 *
 * An entry is valid for one version of the mailbox: its uidvalidity,
 * uidnext, highestmodseq and total, which change with every email that
 * comes in or goes out of it (a removal takes a modseq, mail_member.c).
 * A flag change also takes one and so drops the entry though the order
 * stands: simple, and right.  Collapsed threads are not kept (a thread
 * can change without this mailbox changing).
 *
 * A few entries, least recently used out, under one mutex; a get copies
 * the ids out, so no entry is used outside the lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

struct order_ent {
	struct jmap_order_key key;
	uint32_t *ids;		/* NULL: a free slot */
	size_t n;
	uint64_t used;
};

struct jmap_order_cache {
	pthread_mutex_t mu;
	struct order_ent *v;
	size_t nv;
	size_t max_ids;		/* a bigger order is not kept */
	uint64_t clock;
};

struct jmap_order_cache *
jmap_order_cache_new(size_t entries, size_t max_ids)
{
	struct jmap_order_cache *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->mu, NULL);
	c->nv = entries > 0 ? entries : 1;
	c->v = xcalloc(c->nv, sizeof(*c->v));
	c->max_ids = max_ids;
	return c;
}

void
jmap_order_cache_free(struct jmap_order_cache **cp)
{
	struct jmap_order_cache *c = *cp;

	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nv; i++)
		free(c->v[i].ids);
	free(c->v);
	pthread_mutex_destroy(&c->mu);
	free(c);
	*cp = NULL;
}

static bool
same(const struct jmap_order_key *a, const struct jmap_order_key *b)
{
	return a->acct == b->acct && a->mbox == b->mbox &&
	    a->oldest_first == b->oldest_first &&
	    a->uidvalidity == b->uidvalidity && a->uidnext == b->uidnext &&
	    a->modseq == b->modseq && a->total == b->total;
}

bool
jmap_order_cache_get(struct jmap_order_cache *c,
    const struct jmap_order_key *k, uint32_t **ids_r, size_t *n_r)
{
	bool hit = false;

	if (c == NULL)
		return false;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->nv; i++) {
		struct order_ent *e = &c->v[i];

		if (e->ids == NULL || !same(&e->key, k))
			continue;
		e->used = ++c->clock;
		*n_r = e->n;
		*ids_r = xreallocarray(NULL, e->n > 0 ? e->n : 1,
		    sizeof(**ids_r));
		if (e->n > 0)
			memcpy(*ids_r, e->ids, e->n * sizeof(**ids_r));
		hit = true;
		break;
	}
	pthread_mutex_unlock(&c->mu);
	return hit;
}

void
jmap_order_cache_put(struct jmap_order_cache *c,
    const struct jmap_order_key *k, const uint32_t *ids, size_t n)
{
	struct order_ent *slot = NULL;

	if (c == NULL || n > c->max_ids)
		return;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < c->nv; i++) {
		struct order_ent *e = &c->v[i];

		/* the same mailbox's older version goes first */
		if (e->ids != NULL && e->key.acct == k->acct &&
		    e->key.mbox == k->mbox &&
		    e->key.oldest_first == k->oldest_first) {
			slot = e;
			break;
		}
		if (slot == NULL || (slot->ids != NULL && (e->ids == NULL ||
		    e->used < slot->used)))
			slot = e;
	}
	free(slot->ids);
	slot->key = *k;
	slot->n = n;
	slot->ids = xreallocarray(NULL, n > 0 ? n : 1, sizeof(*ids));
	if (n > 0)	/* ids may be NULL for an empty mailbox */
		memcpy(slot->ids, ids, n * sizeof(*ids));
	slot->used = ++c->clock;
	pthread_mutex_unlock(&c->mu);
}
