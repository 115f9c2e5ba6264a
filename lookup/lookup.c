/*
 * lookup.c - the lookup store front end (lookup.h): backend selection,
 * the limit checks every call goes through, the namespace prefix, the
 * clock, and the counter format the backends share.
 *
 * Invariants: a backend sees only calls within the limits (lookup_priv.h)
 * with the prefix already prepended, so limits are enforced once, here,
 * before anything is read or written: an over-limit call changes
 * nothing.  A struct lookup is immutable after lookup_open (the prefix,
 * the clock hook), so the front end needs no lock; each backend guards
 * its own state.  Counters are canonical decimal text, parsed exactly as
 * Redis' string2ll does (no '+', no leading zero, no "-0", no blank),
 * so a counter moves between backends unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "lookup/lookup.h"
#include "lookup/lookup_priv.h"

static const struct lookup_ops *const lookup_backends[] = {
	&lookup_kv_ops,
	&lookup_mem_ops,
	&lookup_redis_ops,
};

static const unsigned char lookup_empty[1];	/* a NULL, 0-length key */

int
lookup_open(const struct lookup_options *opt, struct lookup **l_r,
    struct buf *err)
{
	const char *name, *prefix;
	size_t plen;

	*l_r = NULL;
	if (opt == NULL) {
		buf_addf(err, "lookup_open: no options given");
		return -1;
	}
	name = opt->backend != NULL ? opt->backend : "kv";
	prefix = opt->prefix != NULL ? opt->prefix : "";
	plen = strnlen(prefix, LOOKUP_PREFIX_MAX + 1);
	if (plen > LOOKUP_PREFIX_MAX) {
		buf_addf(err, "lookup_open: the prefix is over the %u-byte "
		    "limit", LOOKUP_PREFIX_MAX);
		return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(lookup_backends); i++) {
		const struct lookup_ops *ops = lookup_backends[i];
		struct lookup *l;

		if (strcmp(ops->name, name) != 0)
			continue;
		if (ops->open(opt, &l, err) < 0)
			return -1;
		l->ops = ops;
		l->prefix = (unsigned char *)xmemdup0(prefix, plen);
		l->plen = plen;
		l->now = opt->now;
		l->now_arg = opt->now_arg;
		*l_r = l;
		return 0;
	}
	buf_addf(err, "lookup_open: unknown backend \"%s\" (kv, memory, "
	    "redis)", name);
	return -1;
}

void
lookup_close(struct lookup **lp)
{
	struct lookup *l = *lp;
	unsigned char *prefix;

	if (l == NULL)
		return;
	*lp = NULL;
	prefix = l->prefix;
	l->ops->close(l);
	free(prefix);
}

const char *
lookup_backend_name(const struct lookup *l)
{
	return l->ops->name;
}

int64_t
lookup_now(const struct lookup *l)
{
	if (l->now != NULL)
		return l->now(l->now_arg);
	return (int64_t)(clock_wall_us() / 1000000u);
}

/* ---- checks and the prefix ---- */

static int
check_key(const char *what, const void *key, size_t klen, struct buf *err)
{
	ASSERT(key != NULL || klen == 0);
	if (klen > LOOKUP_KEY_MAX) {
		buf_addf(err, "%s: a key of %zu bytes is over the %u-byte "
		    "limit", what, klen, LOOKUP_KEY_MAX);
		return -1;
	}
	return 0;
}

static int
check_batch(const char *what, const struct lookup_key *keys, size_t n,
    struct buf *err)
{
	if (n > LOOKUP_BATCH_MAX) {
		buf_addf(err, "%s: a batch of %zu keys is over the %u-key "
		    "limit", what, n, LOOKUP_BATCH_MAX);
		return -1;
	}
	ASSERT(keys != NULL || n == 0);
	for (size_t i = 0; i < n; i++) {
		ASSERT(keys[i].key != NULL || keys[i].len == 0);
		if (keys[i].len > LOOKUP_KEY_MAX) {
			buf_addf(err, "%s: key %zu has %zu bytes, over the "
			    "%u-byte limit", what, i, keys[i].len,
			    LOOKUP_KEY_MAX);
			return -1;
		}
	}
	return 0;
}

/* full_key - prefix + key, in tmp when there is a prefix */
static const void *
full_key(const struct lookup *l, const void *key, size_t *klen,
    struct buf *tmp)
{
	if (l->plen == 0)
		return *klen != 0 ? key : lookup_empty;
	buf_add(tmp, l->prefix, l->plen);
	buf_add(tmp, key, *klen);
	*klen = tmp->len;
	return tmp->data;
}

/* full_keys - the batch with the prefix (bytes in tmp); free() it */
static struct lookup_key *
full_keys(const struct lookup *l, const struct lookup_key *keys, size_t n,
    struct buf *tmp)
{
	struct lookup_key *fk = xreallocarray(NULL, n, sizeof(*fk));
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		fk[i].len = keys[i].len;
		fk[i].key = keys[i].len != 0 ? keys[i].key : lookup_empty;
	}
	if (l->plen == 0)
		return fk;
	/* the buffer moves while it grows: pointers once it is complete */
	for (size_t i = 0; i < n; i++) {
		buf_add(tmp, l->prefix, l->plen);
		buf_add(tmp, keys[i].key, keys[i].len);
	}
	for (size_t i = 0; i < n; i++) {
		fk[i].key = tmp->data + off;
		fk[i].len = l->plen + keys[i].len;
		off += fk[i].len;
	}
	return fk;
}

/* ---- the calls ---- */

int
lookup_get(struct lookup *l, const void *key, size_t klen, struct buf *val,
    struct buf *err)
{
	struct buf tmp = BUF_INIT(0);
	struct lookup_key k;
	bool found = false;
	int r;

	if (check_key("lookup_get", key, klen, err) < 0)
		return -1;
	k.len = klen;
	k.key = full_key(l, key, &k.len, &tmp);
	r = l->ops->get_many(l, &k, 1, val, &found, err);
	buf_free(&tmp);
	if (r < 0)
		return -1;
	return found ? 1 : 0;
}

int
lookup_set(struct lookup *l, const void *key, size_t klen, const void *val,
    size_t vlen, uint32_t ttl_s, struct buf *err)
{
	struct buf tmp = BUF_INIT(0);
	const void *fk;
	int r;

	if (check_key("lookup_set", key, klen, err) < 0)
		return -1;
	ASSERT(val != NULL || vlen == 0);
	if (vlen > LOOKUP_VALUE_MAX) {
		buf_addf(err, "lookup_set: a value of %zu bytes is over the "
		    "%u-byte limit", vlen, LOOKUP_VALUE_MAX);
		return -1;
	}
	fk = full_key(l, key, &klen, &tmp);
	r = l->ops->set(l, fk, klen, vlen != 0 ? val : lookup_empty, vlen,
	    ttl_s, err);
	buf_free(&tmp);
	return r < 0 ? -1 : 0;
}

int
lookup_delete(struct lookup *l, const void *key, size_t klen,
    struct buf *err)
{
	struct buf tmp = BUF_INIT(0);
	const void *fk;
	int r;

	if (check_key("lookup_delete", key, klen, err) < 0)
		return -1;
	fk = full_key(l, key, &klen, &tmp);
	r = l->ops->del(l, fk, klen, err);
	buf_free(&tmp);
	return r < 0 ? -1 : 0;
}

int
lookup_incr(struct lookup *l, const void *key, size_t klen, int64_t delta,
    uint32_t ttl_s, int64_t *new_r, struct buf *err)
{
	struct buf tmp = BUF_INIT(0);
	struct lookup_key k;
	int64_t v = 0;
	int r;

	if (check_key("lookup_incr", key, klen, err) < 0)
		return -1;
	k.len = klen;
	k.key = full_key(l, key, &k.len, &tmp);
	r = l->ops->incr_many(l, &k, 1, &delta, ttl_s, &v, err);
	buf_free(&tmp);
	if (r < 0)
		return -1;
	if (new_r != NULL)
		*new_r = v;
	return 0;
}

int
lookup_get_many(struct lookup *l, const struct lookup_key *keys, size_t n,
    struct buf *vals, bool *found, struct buf *err)
{
	struct buf tmp = BUF_INIT(0);
	struct lookup_key *fk;
	int r;

	if (check_batch("lookup_get_many", keys, n, err) < 0)
		return -1;
	if (n == 0)
		return 0;
	ASSERT(vals != NULL && found != NULL);
	for (size_t i = 0; i < n; i++)
		found[i] = false;
	fk = full_keys(l, keys, n, &tmp);
	r = l->ops->get_many(l, fk, n, vals, found, err);
	free(fk);
	buf_free(&tmp);
	return r < 0 ? -1 : 0;
}

int
lookup_incr_many(struct lookup *l, const struct lookup_key *keys, size_t n,
    const int64_t *deltas, uint32_t ttl_s, int64_t *new_r, struct buf *err)
{
	struct buf tmp = BUF_INIT(0);
	struct lookup_key *fk;
	int r;

	if (check_batch("lookup_incr_many", keys, n, err) < 0)
		return -1;
	if (n == 0)
		return 0;
	ASSERT(deltas != NULL);
	fk = full_keys(l, keys, n, &tmp);
	r = l->ops->incr_many(l, fk, n, deltas, ttl_s, new_r, err);
	free(fk);
	buf_free(&tmp);
	return r < 0 ? -1 : 0;
}

int
lookup_expire(struct lookup *l, size_t max, size_t *n_r, struct buf *err)
{
	size_t n = 0;

	if (max == 0)
		max = LOOKUP_EXPIRE_DEFAULT;
	if (l->ops->expire(l, max, &n, err) < 0)
		return -1;
	if (n_r != NULL)
		*n_r = n;
	return 0;
}

/* ---- counters and values ---- */

int
lookup_parse_counter(const void *val, size_t len, int64_t *v_r)
{
	const unsigned char *p = val;
	uint64_t u = 0, lim = INT64_MAX;
	bool neg = false;

	if (len == 0 || len > LOOKUP_COUNTER_LEN_MAX)
		return -1;
	if (p[0] == '-') {
		neg = true;
		lim = (uint64_t)INT64_MAX + 1;
		p++;
		len--;
		if (len == 0)
			return -1;
	}
	if (p[0] == '0') {	/* only "0" itself: no "-0", no "007" */
		if (len != 1 || neg)
			return -1;
		*v_r = 0;
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (!is_ascii_digit(p[i]))
			return -1;
		d = (unsigned)(p[i] - '0');
		/* u * 10 + d > lim, asked without overflowing */
		if (u > (lim - d) / 10)
			return -1;
		u = u * 10 + d;
	}
	/* two's complement, which gcc defines for the cast */
	*v_r = neg ? (int64_t)(0 - u) : (int64_t)u;
	return 0;
}

size_t
lookup_counter_fmt(int64_t v, char out[LOOKUP_COUNTER_LEN_MAX + 1])
{
	char tmp[LOOKUP_COUNTER_LEN_MAX];
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	size_t n = 0, len = 0;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		out[len++] = '-';
	while (n > 0)
		out[len++] = tmp[--n];
	out[len] = '\0';
	return len;
}

int
lookup_value_put(struct buf *val, const void *v, size_t vlen,
    struct buf *err)
{
	if (vlen > LOOKUP_VALUE_MAX) {
		buf_addf(err, "lookup: a stored value of %zu bytes is over "
		    "the %u-byte limit", vlen, LOOKUP_VALUE_MAX);
		return -1;
	}
	if (buf_append(val, v, vlen) < 0) {
		buf_addf(err, "lookup: a value of %zu bytes does not fit the "
		    "caller's buffer (max %zu)", vlen, val->max);
		return -1;
	}
	return 0;
}

int
lookup_add(int64_t cur, int64_t delta, int64_t *sum_r, struct buf *err)
{
	if (__builtin_add_overflow(cur, delta, sum_r)) {
		buf_addf(err, "lookup_incr: %lld + %lld overflows",
		    (long long)cur, (long long)delta);
		return -1;
	}
	return 0;
}
