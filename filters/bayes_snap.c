/*
 * bayes_snap.c - a read-through cache of lookup_get_many for bulk
 * classification (`postern spam classify` over a folder): each key is
 * read from the lookup store once and then answered from memory, so
 * the tokens every message shares (most of them) cost a hash probe
 * instead of a store read.  The price is a snapshot: what others learn
 * after a key was first read is not seen, which suits one command that
 * judges many messages by one state.  Never used by the server's stage.
 *
 * An open-addressing table (linear probing, FNV-1a of the key) over
 * entries appended to one buffer: key length, key, found flag, value
 * length, value.  Bounded by BAYES_SNAP_MAX bytes of entries; past that
 * the misses are still answered, just not kept.  Thread-safe: a
 * read-write lock, readers in parallel, the store read outside it.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "filters/filters_priv.h"
#include "lookup/lookup.h"

#define SNAP_SLOTS_MIN 4096u	/* a power of two */

struct bayes_snap {
	pthread_rwlock_t lock;
	uint64_t *slot;		/* 1 + offset of the entry in ent, 0 free */
	size_t nslots, n;
	struct buf ent;
	size_t max;
};

struct bayes_snap *
bayes_snap_new(size_t max_bytes)
{
	struct bayes_snap *s = xcalloc(1, sizeof(*s));

	pthread_rwlock_init(&s->lock, NULL);
	s->nslots = SNAP_SLOTS_MIN;
	s->slot = xcalloc(s->nslots, sizeof(*s->slot));
	buf_init(&s->ent, 0);
	s->max = max_bytes;
	return s;
}

void
bayes_snap_free(struct bayes_snap **sp)
{
	struct bayes_snap *s = *sp;

	if (s == NULL)
		return;
	pthread_rwlock_destroy(&s->lock);
	free(s->slot);
	buf_free(&s->ent);
	free(s);
	*sp = NULL;
}

/* an entry: u32 key length, key, u8 found, u32 value length, value */
static const unsigned char *
ent_key(const struct bayes_snap *s, uint64_t off, size_t *len_r)
{
	uint32_t n;

	memcpy(&n, s->ent.data + off, 4);
	*len_r = n;
	return s->ent.data + off + 4;
}

/* find - the slot of key: holding it, or the free one it would take */
static size_t
find(const struct bayes_snap *s, const void *key, size_t len)
{
	size_t i = bayes_fnv1a(key, len) & (s->nslots - 1);

	for (; s->slot[i] != 0; i = (i + 1) & (s->nslots - 1)) {
		size_t kl;
		const unsigned char *k = ent_key(s, s->slot[i] - 1, &kl);

		if (kl == len && memcmp(k, key, len) == 0)
			break;
	}
	return i;
}

/* grow - twice the slots once half are used */
static void
grow(struct bayes_snap *s)
{
	uint64_t *old = s->slot;
	size_t nold = s->nslots;

	s->nslots *= 2;
	s->slot = xcalloc(s->nslots, sizeof(*s->slot));
	for (size_t i = 0; i < nold; i++) {
		size_t kl;
		const unsigned char *k;

		if (old[i] == 0)
			continue;
		k = ent_key(s, old[i] - 1, &kl);
		s->slot[find(s, k, kl)] = old[i];
	}
	free(old);
}

static void
put(struct bayes_snap *s, const void *key, size_t klen, bool found,
    const struct buf *val)
{
	uint32_t kl = (uint32_t)klen, vl = found ? (uint32_t)val->len : 0;
	size_t i, off = s->ent.len;

	if (s->ent.len > s->max || 9 + klen + vl > s->max - s->ent.len)
		return;		/* full: answered, not kept */
	i = find(s, key, klen);
	if (s->slot[i] != 0)
		return;		/* another thread was first */
	buf_add(&s->ent, &kl, 4);
	buf_add(&s->ent, key, klen);
	buf_add(&s->ent, &(unsigned char){ found }, 1);
	buf_add(&s->ent, &vl, 4);
	if (vl > 0)
		buf_add(&s->ent, val->data, vl);
	s->slot[i] = off + 1;
	if (++s->n > s->nslots / 2)
		grow(s);
}

int
bayes_snap_get_many(struct bayes_snap *s, struct lookup *l,
    const struct lookup_key *keys, size_t n, struct buf *vals, bool *found,
    struct buf *err)
{
	size_t *miss = xcalloc(n + 1, sizeof(*miss)), m = 0;
	struct lookup_key *mk = NULL;
	struct buf *mv = NULL;
	bool *mf = NULL;
	int rc = 0;

	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		size_t j = find(s, keys[i].key, keys[i].len), kl;
		const unsigned char *p;
		uint32_t vl;

		found[i] = false;
		if (s->slot[j] == 0) {
			miss[m++] = i;
			continue;
		}
		p = ent_key(s, s->slot[j] - 1, &kl) + kl;
		found[i] = p[0] != 0;
		memcpy(&vl, p + 1, 4);
		if (found[i])
			buf_add(&vals[i], p + 5, vl);
	}
	pthread_rwlock_unlock(&s->lock);
	if (m > 0) {
		mk = xcalloc(m, sizeof(*mk));
		mv = xcalloc(m, sizeof(*mv));
		mf = xcalloc(m, sizeof(*mf));
		for (size_t i = 0; i < m; i++) {
			mk[i] = keys[miss[i]];
			buf_init(&mv[i], 0);
		}
		rc = lookup_get_many(l, mk, m, mv, mf, err);
		if (rc == 0) {
			pthread_rwlock_wrlock(&s->lock);
			for (size_t i = 0; i < m; i++)
				put(s, mk[i].key, mk[i].len, mf[i], &mv[i]);
			pthread_rwlock_unlock(&s->lock);
		}
		for (size_t i = 0; i < m; i++) {
			if (rc == 0 && mf[i]) {
				found[miss[i]] = true;
				buf_add(&vals[miss[i]], mv[i].data, mv[i].len);
			}
			buf_free(&mv[i]);
		}
	}
	free(miss);
	free(mk);
	free(mv);
	free(mf);
	return rc;
}
