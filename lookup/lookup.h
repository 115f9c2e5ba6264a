/*
 * lookup.h - the lookup store: keys with values, a time to live and
 * atomic counters, where the anti-spam filters keep their state
 * (greylisting triplets, reputation, rate limits, Bayes token counts).
 *
 * Backends (lookup_options.backend):
 *   "kv"      the data store (store/kv.h), so SQLite/RocksDB/... serve
 *             it and the state survives restarts; the embedded default.
 *             Expired keys read as absent at once and are deleted by
 *             lookup_expire(), which the owner calls now and then.
 *             Each call is a transaction of its own (writes of many
 *             threads share commits): never call it from a thread that
 *             holds a write transaction on the same store (kv.h allows
 *             one per thread, so the call would fail).
 *   "memory"  a hash table in this process, bounded to mem_max_bytes;
 *             ephemeral (counters of one node, tests).
 *   "redis"   a Redis server (hiredis), shared by several nodes.
 *
 * Keys and values are byte strings (binary-safe, may be empty).  The
 * namespace prefix of the options is prepended to every key, so several
 * users share one backend; it is prepended as it is, so give each user a
 * prefix that is no prefix of another's (end them with ':', as Redis
 * users do: "grey:", "rate:", "bayes:").
 *
 * Counters: a counter is a value holding a signed 64-bit integer as
 * canonical decimal text ("0", "42", "-7": optional '-', no '+', no
 * leading zero, no blank), which is what Redis' INCRBY keeps, so
 * lookup_get() returns "42" on every backend and a value set to "42" can
 * be incremented; lookup_parse_counter() reads one.
 *
 * Time to live: ttl_s 0 means no expiry; otherwise the key expires ttl_s
 * seconds after the write that set it (memory and kv: once the clock
 * reaches write time + ttl_s, in whole seconds of the clock hook; Redis:
 * its own clock, in milliseconds).  lookup_set() replaces the expiry
 * with its own (ttl_s 0 removes it).  lookup_incr() uses ttl_s only when
 * it creates the counter (absent or expired before); an existing counter
 * keeps the expiry it has, none included.  An expired key is absent for
 * every call.
 *
 * Limits (LOOKUP_*_MAX): keys up to 512 bytes (without the prefix),
 * values up to 64 KiB, batches up to 50,000 keys.  Going over one is an
 * argument error: -1 with one line in err, nothing read or changed.  A
 * value found over the limit (a foreign writer of a shared Redis) is an
 * error too.
 *
 * Errors: 0 (or 1/0 where documented), or -1 with one line appended to
 * err.  A -1 from a write that reached a remote store (Redis timing out
 * after the command went out) may or may not have been applied; the
 * embedded backends apply a failed call not at all.
 *
 * Concurrency: one struct lookup is shared by every worker thread; every
 * call is thread-safe and blocking (disk, network): call it from jobs,
 * never from an I/O loop.  Each single-key call is atomic; the batch
 * calls are atomic on the embedded backends and Redis (one transaction,
 * one Lua script) except lookup_get_many on "memory", which reads each
 * key atomically but not all of them at one instant.
 *
 * Redis: every call is one round trip on a pooled connection, bounded by
 * redis_timeout_ms (connecting, sending, each reply); a Redis that is
 * down or goes away fails the calls made meanwhile with -1, and the next
 * call connects again.  Connections broken while idle are noticed and
 * replaced before use.  If the process does not ignore SIGPIPE when
 * lookup_open() runs, each call blocks SIGPIPE in its thread around the
 * network I/O (as libpq does), so a peer closing never kills us.
 */
#ifndef POSTERN_LOOKUP_H
#define POSTERN_LOOKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

struct kv;

#define LOOKUP_KEY_MAX 512u		/* bytes in a key, prefix excluded */
#define LOOKUP_VALUE_MAX (64u << 10)	/* bytes in a value */
#define LOOKUP_BATCH_MAX 50000u		/* keys in one batch call */
#define LOOKUP_PREFIX_MAX 64u		/* bytes in the namespace prefix */
#define LOOKUP_COUNTER_LEN_MAX 20u	/* "-9223372036854775808" */
#define LOOKUP_MEM_DEFAULT (64u << 20)	/* mem_max_bytes 0 */
#define LOOKUP_MEM_MIN (128u << 10)	/* smallest mem_max_bytes */
#define LOOKUP_REDIS_TIMEOUT_DEFAULT 1000u	/* ms */
#define LOOKUP_REDIS_IDLE_DEFAULT 16u	/* idle connections kept */
#define LOOKUP_EXPIRE_DEFAULT 1000u	/* lookup_expire max 0 */

struct lookup;

/* the clock: unix seconds */
typedef int64_t lookup_clock_fn(void *arg);

struct lookup_options {
	const char *backend;	/* "kv" (NULL too), "memory", "redis" */
	const char *prefix;	/* namespace (copied); NULL or "" = none */
	/*
	 * the clock of the memory and kv backends (NULL = real time), so
	 * tests move time; called from any thread, so it must be
	 * thread-safe.  Redis uses its own clock.
	 */
	lookup_clock_fn *now;
	void *now_arg;

	/* kv: the data store, owned by the caller; it must outlive the
	 * struct lookup */
	struct kv *kv;

	/* memory: the byte budget (0 = LOOKUP_MEM_DEFAULT, at least
	 * LOOKUP_MEM_MIN), see lookup_mem.c for what is counted */
	size_t mem_max_bytes;

	/* redis (strings copied) */
	const char *redis_host;	/* NULL: "127.0.0.1"; "/path": socket */
	uint16_t redis_port;	/* 0 = 6379 */
	unsigned redis_db;	/* SELECT on connect (when not 0) */
	const char *redis_user;	/* AUTH user password (Redis 6 ACL) */
	const char *redis_password;	/* NULL = no AUTH */
	unsigned redis_timeout_ms;	/* 0 = LOOKUP_REDIS_TIMEOUT_DEFAULT */
	unsigned redis_idle_max;	/* 0 = LOOKUP_REDIS_IDLE_DEFAULT */
};

/* one key of a batch: len bytes at key (key may be NULL when len is 0) */
struct lookup_key {
	const void *key;
	size_t len;
};

/*
 * lookup_open - open a lookup store as the options say; -1 with err for
 * unknown backends, bad options and (redis) a first connection that
 * fails: wrong address, AUTH or SELECT refused.  *l_r is NULL on error.
 */
int lookup_open(const struct lookup_options *opt, struct lookup **l_r,
    struct buf *err) WARN_UNUSED;
/* lookup_close - no call may be running; accepts NULL, sets *l NULL */
void lookup_close(struct lookup **l);
/* lookup_backend_name - "kv", "memory" or "redis" */
const char *lookup_backend_name(const struct lookup *l);

/*
 * lookup_get - 1 with the value appended to val (its max is honoured:
 * a value that does not fit is an error), 0 when absent or expired
 * (val untouched), -1 on error.
 */
int lookup_get(struct lookup *l, const void *key, size_t klen,
    struct buf *val, struct buf *err) WARN_UNUSED;
/* lookup_set - store val under key with ttl_s (0 = no expiry) */
int lookup_set(struct lookup *l, const void *key, size_t klen,
    const void *val, size_t vlen, uint32_t ttl_s, struct buf *err)
    WARN_UNUSED;
/* lookup_delete - remove key; absent is not an error */
int lookup_delete(struct lookup *l, const void *key, size_t klen,
    struct buf *err) WARN_UNUSED;
/*
 * lookup_incr - add delta to the counter at key (absent or expired = 0,
 * then created with ttl_s; an existing counter keeps its expiry) and put
 * the result in *new_r (may be NULL).  A value that is not a counter
 * and a result outside int64_t are errors that change nothing.
 */
int lookup_incr(struct lookup *l, const void *key, size_t klen,
    int64_t delta, uint32_t ttl_s, int64_t *new_r, struct buf *err)
    WARN_UNUSED;
/*
 * lookup_get_many - lookup_get of n keys in one round trip / one read
 * transaction: vals[i] gets the value of keys[i] appended and found[i]
 * is set when present, found[i] false (vals[i] untouched) when not.  On
 * -1 vals and found are unspecified.  n may be 0.
 */
int lookup_get_many(struct lookup *l, const struct lookup_key *keys,
    size_t n, struct buf *vals, bool *found, struct buf *err) WARN_UNUSED;
/*
 * lookup_incr_many - lookup_incr(keys[i], deltas[i], ttl_s) for every i,
 * in order (a key may repeat), in one round trip / one transaction, all
 * or nothing: if one fails (not a counter, overflow) none is applied.
 * new_r: NULL, or n results (new_r[i] the value keys[i] had right after
 * its own increment, so a repeated key shows each step).
 */
int lookup_incr_many(struct lookup *l, const struct lookup_key *keys,
    size_t n, const int64_t *deltas, uint32_t ttl_s, int64_t *new_r,
    struct buf *err) WARN_UNUSED;
/*
 * lookup_expire - delete up to max (0 = LOOKUP_EXPIRE_DEFAULT) expired
 * keys of this namespace; *n_r (may be NULL) is how many.  n_r == max
 * means there may be more: call again.  kv needs this to reclaim space
 * (one write transaction per call, found through an expiry index, so it
 * never scans live keys): run it from a periodic job.  memory expires by
 * itself (on access and when over budget) but frees early with it;
 * redis expires by itself and returns 0 at once.
 */
int lookup_expire(struct lookup *l, size_t max, size_t *n_r,
    struct buf *err) WARN_UNUSED;

/*
 * lookup_parse_counter - a counter's value (see above) into *v_r; 0, or
 * -1 when it is not one
 */
int lookup_parse_counter(const void *val, size_t len, int64_t *v_r)
    WARN_UNUSED;

#endif
