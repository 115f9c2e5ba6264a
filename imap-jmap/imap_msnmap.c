/*
 * imap_msnmap.c - the selected mailbox's message sequence numbers (RFC
 * 9051 2.3.1.2): the UIDs the client knows, ascending, MSN = position.
 *
 * Invariants: uid[] is strictly ascending and holds no 0.  Appends only
 * take UIDs above the last (a new message always gets a larger UID);
 * removal compacts in one pass, so expunging k of n messages costs O(n
 * + k log n), not O(k * n).  Pure: no I/O, no locking (the session's).
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

void
imap_msnmap_clear(struct imap_msnmap *m)
{
	free(m->uid);
	memset(m, 0, sizeof(*m));
}

void
imap_msnmap_append(struct imap_msnmap *m, uint32_t uid)
{
	ASSERT(uid > imap_msnmap_last(m));
	if (m->n == m->cap) {
		if (m->cap > UINT32_MAX / 2)
			PANIC("imap_msnmap: too many messages");
		m->cap = m->cap == 0 ? 64 : m->cap * 2;
		m->uid = xreallocarray(m->uid, m->cap, sizeof(*m->uid));
	}
	m->uid[m->n++] = uid;
}

uint32_t
imap_msnmap_last(const struct imap_msnmap *m)
{
	return m->n == 0 ? 0 : m->uid[m->n - 1];
}

/* find - the index of the first UID >= uid */
static uint32_t
find(const struct imap_msnmap *m, uint32_t uid)
{
	uint32_t lo = 0, hi = m->n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (m->uid[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint32_t
imap_msnmap_msn(const struct imap_msnmap *m, uint32_t uid)
{
	uint32_t i = find(m, uid);

	return i < m->n && m->uid[i] == uid ? i + 1 : 0;
}

uint32_t
imap_msnmap_uid(const struct imap_msnmap *m, uint32_t msn)
{
	return msn == 0 || msn > m->n ? 0 : m->uid[msn - 1];
}

size_t
imap_msnmap_remove(struct imap_msnmap *m, const uint32_t *gone, size_t n,
    uint32_t *msns_r)
{
	uint32_t r = 0, w = 0;
	size_t g = 0, k = 0;

	if (n == 0 || m->n == 0)
		return 0;
	r = w = find(m, gone[0]);
	for (; r < m->n; r++) {
		while (g < n && gone[g] < m->uid[r])
			g++;
		if (g < n && gone[g] == m->uid[r]) {
			if (msns_r != NULL)
				msns_r[k] = r + 1;
			k++;
			continue;
		}
		m->uid[w++] = m->uid[r];
	}
	m->n = w;
	/* descending: each EXPUNGE leaves the lower numbers unchanged */
	for (size_t i = 0; msns_r != NULL && i < k / 2; i++) {
		uint32_t t = msns_r[i];

		msns_r[i] = msns_r[k - 1 - i];
		msns_r[k - 1 - i] = t;
	}
	return k;
}

bool
imap_seqset_has(const struct imap_seqset *set, uint32_t v, uint32_t star)
{
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = set->r[i].lo == IMAP_SEQ_STAR ? star :
		    set->r[i].lo;
		uint32_t hi = set->r[i].hi == IMAP_SEQ_STAR ? star :
		    set->r[i].hi;

		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		if (v >= lo && v <= hi)
			return true;
	}
	return false;
}

long
imap_msnmap_resolve(const struct imap_msnmap *m,
    const struct imap_seqset *set, bool uid, uint32_t **msns_r)
{
	/* a difference array: O(messages + ranges) whatever the overlaps
	 * of a hostile set ("1:*,1:*,..." 100,000 times) */
	uint32_t *d, *v, n = 0, run = 0;

	*msns_r = NULL;
	ASSERT(!set->saved);
	d = xcalloc((size_t)m->n + 1, sizeof(*d));
	for (size_t i = 0; i < set->n; i++) {
		uint32_t star = uid ? imap_msnmap_last(m) : m->n;
		uint32_t lo = set->r[i].lo == IMAP_SEQ_STAR ? star :
		    set->r[i].lo;
		uint32_t hi = set->r[i].hi == IMAP_SEQ_STAR ? star :
		    set->r[i].hi;
		uint32_t a, b;

		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		if (uid) {
			/* the messages whose UID is in lo..hi */
			a = find(m, lo);
			b = find(m, hi);
			if (b < m->n && m->uid[b] == hi)
				b++;
		} else {
			if (lo == 0 || hi > m->n) {
				free(d);
				return -1;
			}
			a = lo - 1;
			b = hi;
		}
		if (b <= a)
			continue;
		d[a]++;		/* no overflow: at most max_items ranges */
		d[b]--;
	}
	v = d;		/* written behind the read position: reuse d */
	for (uint32_t j = 0; j < m->n; j++) {
		run += d[j];
		if (run != 0)
			v[n++] = j + 1;
	}
	if (n == 0) {
		free(d);
		return 0;
	}
	*msns_r = v;
	return (long)n;
}
