/*
 * filters_priv.h - what the files of filters/ share and nobody else
 * uses.
 */
#ifndef POSTERN_FILTERS_PRIV_H
#define POSTERN_FILTERS_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

struct lookup;
struct lookup_key;

/* bayes_fnv1a - FNV-1a of p[0..n): the Bayes tables' hash (token dedup,
 * the snapshot) */
static inline uint64_t
bayes_fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* bayes_snap.c: a read-through cache of lookup_get_many (bayes_options
 * .snapshot), bounded to max_bytes of entries */
struct bayes_snap;
struct bayes_snap *bayes_snap_new(size_t max_bytes);
void bayes_snap_free(struct bayes_snap **s);
/* bayes_snap_get_many - lookup_get_many's contract, through the cache */
int bayes_snap_get_many(struct bayes_snap *s, struct lookup *l,
    const struct lookup_key *keys, size_t n, struct buf *vals, bool *found,
    struct buf *err) WARN_UNUSED;

#endif
