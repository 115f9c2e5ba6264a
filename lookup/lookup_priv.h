/*
 * lookup_priv.h - internals shared inside lookup/; no other folder
 * includes this file (unit tests do, for the memory statistics).
 *
 * lookup.c owns the public API: limits, argument checks, the namespace
 * prefix and the clock.  A backend implements struct lookup_ops and
 * embeds struct lookup as the FIRST member of its own object.  It sees
 * only valid calls: keys already prefixed (at most LOOKUP_PREFIX_MAX +
 * LOOKUP_KEY_MAX bytes, never a NULL pointer), values within
 * LOOKUP_VALUE_MAX, 1 <= n <= LOOKUP_BATCH_MAX.  The single-key get and
 * incr are batches of one.
 */
#ifndef POSTERN_LOOKUP_PRIV_H
#define POSTERN_LOOKUP_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "lookup/lookup.h"

struct lookup {
	const struct lookup_ops *ops;
	unsigned char *prefix;	/* NUL-terminated, never NULL */
	size_t plen;
	lookup_clock_fn *now;
	void *now_arg;
};

struct lookup_ops {
	const char *name;
	/* open: the options are checked; fills everything past the base */
	int (*open)(const struct lookup_options *opt, struct lookup **l_r,
	    struct buf *err);
	void (*close)(struct lookup *l);
	/* get_many: vals[i] appended and found[i] set, as lookup_get_many */
	int (*get_many)(struct lookup *l, const struct lookup_key *keys,
	    size_t n, struct buf *vals, bool *found, struct buf *err);
	int (*set)(struct lookup *l, const void *key, size_t klen,
	    const void *val, size_t vlen, uint32_t ttl_s, struct buf *err);
	int (*del)(struct lookup *l, const void *key, size_t klen,
	    struct buf *err);
	/* incr_many: all or nothing; new_r NULL or n results */
	int (*incr_many)(struct lookup *l, const struct lookup_key *keys,
	    size_t n, const int64_t *deltas, uint32_t ttl_s, int64_t *new_r,
	    struct buf *err);
	/* expire: max >= 1 */
	int (*expire)(struct lookup *l, size_t max, size_t *n_r,
	    struct buf *err);
};

extern const struct lookup_ops lookup_kv_ops;
extern const struct lookup_ops lookup_mem_ops;
extern const struct lookup_ops lookup_redis_ops;

/* lookup_now - the clock of the options, or the real time */
int64_t lookup_now(const struct lookup *l);

/* lookup_counter_fmt - v as canonical decimal into out; its length */
size_t lookup_counter_fmt(int64_t v, char out[LOOKUP_COUNTER_LEN_MAX + 1]);

/* lookup_value_put - append a found value to a caller's buffer; -1 if
 * it is over LOOKUP_VALUE_MAX or the buffer's own max */
int lookup_value_put(struct buf *val, const void *v, size_t vlen,
    struct buf *err) WARN_UNUSED;

/* lookup_add - *cur + delta into *sum_r; -1 with err on overflow */
int lookup_add(int64_t cur, int64_t delta, int64_t *sum_r, struct buf *err)
    WARN_UNUSED;

/*
 * ---- memory backend statistics (lookup_mem.c), for tests and
 * monitoring; PANIC on another backend ----
 */
struct lookup_mem_stats {
	size_t entries;
	size_t bytes;		/* counted as lookup_mem.c says */
	size_t max_bytes;
	uint64_t evicted;	/* live entries dropped for the budget */
	uint64_t expired;	/* expired entries dropped */
};

void lookup_mem_stats(struct lookup *l, struct lookup_mem_stats *st);

#endif
