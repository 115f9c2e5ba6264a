/*
 * lookup_redis.c - the "redis" lookup backend: a Redis server (6.0 or
 * later) through hiredis' synchronous API, for several Postern nodes
 * that share their filter state.
 *
 * Commands, each call one round trip:
 *   get        GET key                 (a batch: MGET)
 *   set        SET key value [EX ttl]
 *   delete     DEL key
 *   incr       EVALSHA of LKR_SCRIPT, for one key or a batch
 * The script is what makes increments atomic the way lookup.h says: per
 * key it reads the old value, INCRBY's it (Redis checks that it is a
 * counter and that the sum fits in 64 bits) and, when the key was
 * absent, sets its expiry - so the TTL applies on creation only and
 * nobody sees a counter without it.  On the first error it restores the
 * keys it had changed (SET ... KEEPTTL, or DEL what it created) and
 * fails, so a batch is all or nothing, like the embedded backends.  It
 * returns the new values as strings read back with GET (a Lua number is
 * a double, exact only to 2^53).  Scripts run atomically, so the batch
 * is one transaction too.  SCRIPT LOAD runs on every new connection, and
 * NOSCRIPT (the cache flushed since) falls back to EVAL.
 *
 * Connections: a pool of idle connections guarded by a mutex; a call
 * takes one (connecting when none is idle) and gives it back when the
 * call went well, so each calling thread has its own, and at most
 * redis_idle_max stay open while idle.  A new connection does AUTH,
 * SELECT and SCRIPT LOAD; every connect, send and reply is bounded by
 * redis_timeout_ms (SO_RCVTIMEO/SO_SNDTIMEO).  A connection that saw any
 * error is closed, never reused, so the next call reconnects; an idle
 * connection that became readable (the server closed it, say on a
 * restart) is closed before use instead of failing a call.
 *
 * A batch of LOOKUP_BATCH_MAX increments runs as one script, which
 * keeps Redis busy for some 150 ms (Redis runs one command at a time);
 * Bayes training (`postern spam train`) sends batches that large, one
 * per thousand messages or so; the server's own calls are small.  Batches of keys in several hash
 * slots would need Redis Cluster's rules: this backend talks to one
 * server (or a proxy in front of several), not to a cluster.
 *
 * SIGPIPE: hiredis writes with write(2); when the process does not
 * ignore SIGPIPE (checked at open) each call blocks it in its thread and
 * discards one it raised, as libpq does.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "lookup/lookup.h"
#include "lookup/lookup_priv.h"

#define LKR_SHA_LEN 40

/* KEYS: counters; ARGV[1]: ttl ("0" = none); ARGV[2]: "1" to return the
 * new values; ARGV[2 + i]: the delta of KEYS[i] */
static const char lkr_script[] =
	"local ttl = ARGV[1]\n"
	"local old = {}\n"
	"local out = {}\n"
	"for i = 1, #KEYS do\n"
	"  local k = KEYS[i]\n"
	"  local v = redis.pcall('GET', k)\n"
	"  local r = v\n"
	"  if type(v) ~= 'table' then\n"
	"    old[i] = v\n"
	"    r = redis.pcall('INCRBY', k, ARGV[i + 2])\n"
	"  end\n"
	"  if type(r) == 'table' and r.err then\n"
	"    for j = i - 1, 1, -1 do\n"
	"      if old[j] then\n"
	"        redis.call('SET', KEYS[j], old[j], 'KEEPTTL')\n"
	"      else\n"
	"        redis.call('DEL', KEYS[j])\n"
	"      end\n"
	"    end\n"
	"    return redis.error_reply('key ' .. i .. ' of ' .. #KEYS .. "
	    "': ' .. r.err)\n"
	"  end\n"
	"  if not v and ttl ~= '0' then redis.call('EXPIRE', k, ttl) end\n"
	"  if ARGV[2] == '1' then out[i] = redis.call('GET', k) end\n"
	"end\n"
	"return out\n";

struct lkr_conn {
	redisContext *c;
	struct lkr_conn *next;
	char sha[LKR_SHA_LEN + 1];
};

struct lookup_redis {
	struct lookup base;
	char *host;
	int port;
	unsigned db;
	char *user, *password;
	unsigned timeout_ms;
	struct timeval tv;
	unsigned idle_max;
	bool sigpipe_ignored;
	char *where;		/* "redis host:port" for messages */
	pthread_mutex_t mu;	/* guards idle, n_idle */
	struct lkr_conn *idle;
	unsigned n_idle;
};

/* ---- SIGPIPE ---- */

struct lkr_sigpipe {
	bool active, was_pending;
	sigset_t old;
};

static void
sigpipe_block(const struct lookup_redis *r, struct lkr_sigpipe *sp)
{
	sigset_t set, pend;

	sp->active = !r->sigpipe_ignored;
	if (!sp->active)
		return;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &sp->old);
	sp->was_pending = sigpending(&pend) == 0 &&
	    sigismember(&pend, SIGPIPE) == 1;
}

static void
sigpipe_restore(struct lkr_sigpipe *sp)
{
	sigset_t set, pend;

	if (!sp->active)
		return;
	/* ours only: one that was pending before belongs to someone else */
	if (!sp->was_pending && sigpending(&pend) == 0 &&
	    sigismember(&pend, SIGPIPE) == 1) {
		struct timespec zero = { 0, 0 };

		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		(void)sigtimedwait(&set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &sp->old, NULL);
}

/* ---- commands ---- */

static void
conn_error(const struct lookup_redis *r, const redisContext *c, int eno,
    const char *what, struct buf *err)
{
	if (c->err == REDIS_ERR_IO && (eno == EAGAIN || eno == EWOULDBLOCK))
		buf_addf(err, "%s: %s: no reply within %u ms", r->where, what,
		    r->timeout_ms);
	else
		buf_addf(err, "%s: %s: %s", r->where, what,
		    c->errstr[0] != '\0' ? c->errstr : "connection error");
}

/*
 * command - send argv and read the reply; NULL with err when the
 * connection failed (it is then unusable: c->err is set)
 */
static redisReply *
command(const struct lookup_redis *r, redisContext *c, int argc,
    const char **argv, const size_t *argvlen, struct buf *err)
{
	struct lkr_sigpipe sp;
	redisReply *rep;
	int eno;

	sigpipe_block(r, &sp);
	errno = 0;
	rep = redisCommandArgv(c, argc, argv, argvlen);
	eno = errno;
	sigpipe_restore(&sp);
	if (rep == NULL) {
		if (c->err == 0)	/* hiredis promises it; be safe */
			c->err = REDIS_ERR_OTHER;
		conn_error(r, c, eno, argv[0], err);
	}
	return rep;
}

/* reply_error - an error reply (or an unexpected type) as our error */
static int
reply_error(const struct lookup_redis *r, const redisReply *rep,
    const char *what, struct buf *err)
{
	if (rep->type == REDIS_REPLY_ERROR)
		buf_addf(err, "%s: %s: %.*s", r->where, what,
		    (int)(rep->len < 200 ? rep->len : 200), rep->str);
	else
		buf_addf(err, "%s: %s: unexpected reply type %d", r->where,
		    what, rep->type);
	return -1;
}

static bool
is_ok(const redisReply *rep)
{
	return rep->type == REDIS_REPLY_STATUS && rep->len == 2 &&
	    memcmp(rep->str, "OK", 2) == 0;
}

/* simple - a command whose answer must be +OK */
static int
simple(const struct lookup_redis *r, redisContext *c, int argc,
    const char **argv, const size_t *argvlen, const char *what,
    struct buf *err)
{
	redisReply *rep = command(r, c, argc, argv, argvlen, err);
	int ret = 0;

	if (rep == NULL)
		return -1;
	if (!is_ok(rep))
		ret = reply_error(r, rep, what, err);
	freeReplyObject(rep);
	return ret;
}

/* ---- connections ---- */

static void
conn_free(struct lkr_conn *cn)
{
	if (cn == NULL)
		return;
	redisFree(cn->c);
	free(cn);
}

static int
conn_setup(const struct lookup_redis *r, struct lkr_conn *cn,
    struct buf *err)
{
	redisContext *c = cn->c;
	const char *argv[3];
	size_t argvlen[3];
	char db[24];
	redisReply *rep;
	int argc = 0;

	if (redisSetTimeout(c, r->tv) != REDIS_OK) {
		conn_error(r, c, errno, "set timeout", err);
		return -1;
	}
	if (c->fd >= 0)
		(void)redisEnableKeepAlive(c);
	if (r->password != NULL) {
		argv[argc] = "AUTH";
		argvlen[argc++] = 4;
		if (r->user != NULL) {
			argv[argc] = r->user;
			argvlen[argc++] = strlen(r->user);
		}
		argv[argc] = r->password;
		argvlen[argc++] = strlen(r->password);
		if (simple(r, c, argc, argv, argvlen, "AUTH", err) < 0)
			return -1;
	}
	if (r->db != 0) {
		argv[0] = "SELECT";
		argvlen[0] = 6;
		argv[1] = db;
		argvlen[1] = lookup_counter_fmt(r->db, db);
		if (simple(r, c, 2, argv, argvlen, "SELECT", err) < 0)
			return -1;
	}
	argv[0] = "SCRIPT";
	argvlen[0] = 6;
	argv[1] = "LOAD";
	argvlen[1] = 4;
	argv[2] = lkr_script;
	argvlen[2] = sizeof(lkr_script) - 1;
	if ((rep = command(r, c, 3, argv, argvlen, err)) == NULL)
		return -1;
	if (rep->type != REDIS_REPLY_STRING || rep->len != LKR_SHA_LEN) {
		(void)reply_error(r, rep, "SCRIPT LOAD", err);
		freeReplyObject(rep);
		return -1;
	}
	memcpy(cn->sha, rep->str, LKR_SHA_LEN);
	cn->sha[LKR_SHA_LEN] = '\0';
	freeReplyObject(rep);
	return 0;
}

static struct lkr_conn *
conn_new(const struct lookup_redis *r, struct buf *err)
{
	struct lkr_conn *cn = xcalloc(1, sizeof(*cn));
	struct lkr_sigpipe sp;

	sigpipe_block(r, &sp);
	if (r->host[0] == '/')
		cn->c = redisConnectUnixWithTimeout(r->host, r->tv);
	else
		cn->c = redisConnectWithTimeout(r->host, r->port, r->tv);
	sigpipe_restore(&sp);
	if (cn->c == NULL) {
		buf_addf(err, "%s: connect: out of memory", r->where);
		free(cn);
		return NULL;
	}
	if (cn->c->err != 0) {
		buf_addf(err, "%s: connect: %s", r->where, cn->c->errstr);
		conn_free(cn);
		return NULL;
	}
	if (conn_setup(r, cn, err) < 0) {
		conn_free(cn);
		return NULL;
	}
	return cn;
}

/* is_stale - an idle connection with something to read has been closed
 * by the server (or is out of step): never use it */
static bool
is_stale(const struct lkr_conn *cn)
{
	struct pollfd p = { .fd = cn->c->fd, .events = POLLIN };

	return cn->c->err != 0 || poll(&p, 1, 0) != 0;
}

static struct lkr_conn *
conn_get(struct lookup_redis *r, struct buf *err)
{
	struct lkr_conn *cn;

	for (;;) {
		pthread_mutex_lock(&r->mu);
		cn = r->idle;
		if (cn != NULL) {
			r->idle = cn->next;
			r->n_idle--;
		}
		pthread_mutex_unlock(&r->mu);
		if (cn == NULL)
			return conn_new(r, err);
		if (!is_stale(cn))
			return cn;
		conn_free(cn);
	}
}

static void
conn_put(struct lookup_redis *r, struct lkr_conn *cn)
{
	if (cn->c->err == 0) {
		pthread_mutex_lock(&r->mu);
		if (r->n_idle < r->idle_max) {
			cn->next = r->idle;
			r->idle = cn;
			r->n_idle++;
			cn = NULL;
		}
		pthread_mutex_unlock(&r->mu);
	}
	conn_free(cn);
}

/* ---- the backend ---- */

static int
lkr_get_many(struct lookup *l, const struct lookup_key *keys, size_t n,
    struct buf *vals, bool *found, struct buf *err)
{
	struct lookup_redis *r = (struct lookup_redis *)l;
	const char **argv = xreallocarray(NULL, n + 1, sizeof(*argv));
	size_t *argvlen = xreallocarray(NULL, n + 1, sizeof(*argvlen));
	struct lkr_conn *cn = conn_get(r, err);
	redisReply *rep = NULL;
	int ret = -1;

	if (cn == NULL)
		goto out;
	argv[0] = "MGET";
	argvlen[0] = 4;
	for (size_t i = 0; i < n; i++) {
		argv[i + 1] = keys[i].key;
		argvlen[i + 1] = keys[i].len;
	}
	if ((rep = command(r, cn->c, (int)n + 1, argv, argvlen, err)) == NULL)
		goto out;
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
		(void)reply_error(r, rep, "MGET", err);
		goto out;
	}
	ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		const redisReply *e = rep->element[i];

		if (e->type == REDIS_REPLY_STRING) {
			ret = lookup_value_put(&vals[i], e->str, e->len, err);
			found[i] = ret == 0;
		} else if (e->type != REDIS_REPLY_NIL) {
			ret = reply_error(r, e, "MGET", err);
		}
	}
out:
	if (rep != NULL)
		freeReplyObject(rep);
	if (cn != NULL)
		conn_put(r, cn);
	free(argv);
	free(argvlen);
	return ret;
}

static int
lkr_set(struct lookup *l, const void *key, size_t klen, const void *val,
    size_t vlen, uint32_t ttl_s, struct buf *err)
{
	struct lookup_redis *r = (struct lookup_redis *)l;
	const char *argv[5] = { "SET", key, val, "EX", NULL };
	size_t argvlen[5] = { 3, klen, vlen, 2, 0 };
	char ttl[LOOKUP_COUNTER_LEN_MAX + 1];
	struct lkr_conn *cn = conn_get(r, err);
	int ret;

	if (cn == NULL)
		return -1;
	argv[4] = ttl;
	argvlen[4] = lookup_counter_fmt(ttl_s, ttl);
	ret = simple(r, cn->c, ttl_s != 0 ? 5 : 3, argv, argvlen, "SET", err);
	conn_put(r, cn);
	return ret;
}

static int
lkr_del(struct lookup *l, const void *key, size_t klen, struct buf *err)
{
	struct lookup_redis *r = (struct lookup_redis *)l;
	const char *argv[2] = { "DEL", key };
	size_t argvlen[2] = { 3, klen };
	struct lkr_conn *cn = conn_get(r, err);
	redisReply *rep;
	int ret = -1;

	if (cn == NULL)
		return -1;
	if ((rep = command(r, cn->c, 2, argv, argvlen, err)) != NULL) {
		ret = rep->type == REDIS_REPLY_INTEGER ? 0 :
		    reply_error(r, rep, "DEL", err);
		freeReplyObject(rep);
	}
	conn_put(r, cn);
	return ret;
}

/* incr_reply - the script's answer: new values when asked for */
static int
incr_reply(const struct lookup_redis *r, const redisReply *rep, size_t n,
    int64_t *new_r, struct buf *err)
{
	if (rep->type == REDIS_REPLY_ERROR) {
		buf_addf(err, "lookup_incr: %s: %.*s%s", r->where,
		    (int)(rep->len < 200 ? rep->len : 200), rep->str,
		    n > 1 ? " (none applied)" : "");
		return -1;
	}
	if (rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != (new_r != NULL ? n : 0))
		return reply_error(r, rep, "EVALSHA", err);
	for (size_t i = 0; new_r != NULL && i < n; i++) {
		const redisReply *e = rep->element[i];

		if (e->type != REDIS_REPLY_STRING ||
		    lookup_parse_counter(e->str, e->len, &new_r[i]) < 0) {
			buf_addf(err, "%s: EVALSHA: result %zu is not a "
			    "counter", r->where, i);
			return -1;
		}
	}
	return 0;
}

static int
lkr_incr_many(struct lookup *l, const struct lookup_key *keys, size_t n,
    const int64_t *deltas, uint32_t ttl_s, int64_t *new_r, struct buf *err)
{
	struct lookup_redis *r = (struct lookup_redis *)l;
	size_t argc = 3 + 2 + 2 * n;
	const char **argv = xreallocarray(NULL, argc, sizeof(*argv));
	size_t *argvlen = xreallocarray(NULL, argc, sizeof(*argvlen));
	char (*nums)[LOOKUP_COUNTER_LEN_MAX + 1] =
	    xreallocarray(NULL, n + 2, sizeof(*nums));
	struct lkr_conn *cn = conn_get(r, err);
	redisReply *rep = NULL;
	size_t a = 0;
	int ret = -1;

	if (cn == NULL)
		goto out;
	argv[a] = "EVALSHA";
	argvlen[a++] = 7;
	argv[a] = cn->sha;
	argvlen[a++] = LKR_SHA_LEN;
	argv[a] = nums[n];
	argvlen[a++] = lookup_counter_fmt((int64_t)n, nums[n]);
	for (size_t i = 0; i < n; i++) {
		argv[a] = keys[i].key;
		argvlen[a++] = keys[i].len;
	}
	argv[a] = nums[n + 1];
	argvlen[a++] = lookup_counter_fmt(ttl_s, nums[n + 1]);
	argv[a] = new_r != NULL ? "1" : "0";
	argvlen[a++] = 1;
	for (size_t i = 0; i < n; i++) {
		argv[a] = nums[i];
		argvlen[a++] = lookup_counter_fmt(deltas[i], nums[i]);
	}
	if ((rep = command(r, cn->c, (int)argc, argv, argvlen, err)) == NULL)
		goto out;
	if (rep->type == REDIS_REPLY_ERROR && rep->len >= 8 &&
	    memcmp(rep->str, "NOSCRIPT", 8) == 0) {
		/* the script cache was flushed: send the script itself */
		freeReplyObject(rep);
		argv[0] = "EVAL";
		argvlen[0] = 4;
		argv[1] = lkr_script;
		argvlen[1] = sizeof(lkr_script) - 1;
		rep = command(r, cn->c, (int)argc, argv, argvlen, err);
		if (rep == NULL)
			goto out;
	}
	ret = incr_reply(r, rep, n, new_r, err);
out:
	if (rep != NULL)
		freeReplyObject(rep);
	if (cn != NULL)
		conn_put(r, cn);
	free(argv);
	free(argvlen);
	free(nums);
	return ret;
}

static int
lkr_expire(struct lookup *l, size_t max, size_t *n_r, struct buf *err)
{
	*n_r = 0;	/* Redis expires keys itself */
	return 0;
}

/* ---- open and close ---- */

static void
lkr_free(struct lookup_redis *r)
{
	struct lkr_conn *cn, *next;

	for (cn = r->idle; cn != NULL; cn = next) {
		next = cn->next;
		conn_free(cn);
	}
	pthread_mutex_destroy(&r->mu);
	free(r->host);
	free(r->user);
	free(r->password);
	free(r->where);
	free(r);
}

static int
lkr_open(const struct lookup_options *opt, struct lookup **l_r,
    struct buf *err)
{
	struct lookup_redis *r = xcalloc(1, sizeof(*r));
	struct sigaction sa;
	struct buf where = BUF_INIT(0);
	struct lkr_conn *cn;

	r->host = xstrdup(opt->redis_host != NULL ? opt->redis_host :
	    "127.0.0.1");
	r->port = opt->redis_port != 0 ? opt->redis_port : 6379;
	r->db = opt->redis_db;
	r->user = opt->redis_user != NULL ? xstrdup(opt->redis_user) : NULL;
	r->password = opt->redis_password != NULL ?
	    xstrdup(opt->redis_password) : NULL;
	r->timeout_ms = opt->redis_timeout_ms != 0 ? opt->redis_timeout_ms :
	    LOOKUP_REDIS_TIMEOUT_DEFAULT;
	r->tv.tv_sec = r->timeout_ms / 1000;
	r->tv.tv_usec = (r->timeout_ms % 1000) * 1000;
	r->idle_max = opt->redis_idle_max != 0 ? opt->redis_idle_max :
	    LOOKUP_REDIS_IDLE_DEFAULT;
	r->sigpipe_ignored = sigaction(SIGPIPE, NULL, &sa) == 0 &&
	    sa.sa_handler == SIG_IGN;
	pthread_mutex_init(&r->mu, NULL);
	if (r->host[0] == '/')
		buf_addf(&where, "redis %s", r->host);
	else
		buf_addf(&where, "redis %s:%d", r->host, r->port);
	r->where = buf_steal(&where, NULL);
	if (r->user != NULL && r->password == NULL) {
		buf_addf(err, "%s: a user needs a password", r->where);
		lkr_free(r);
		return -1;
	}
	/* connect once: a wrong address, password or db shows at start-up */
	if ((cn = conn_new(r, err)) == NULL) {
		lkr_free(r);
		return -1;
	}
	conn_put(r, cn);
	*l_r = &r->base;
	return 0;
}

static void
lkr_close(struct lookup *l)
{
	lkr_free((struct lookup_redis *)l);
}

const struct lookup_ops lookup_redis_ops = {
	.name = "redis",
	.open = lkr_open,
	.close = lkr_close,
	.get_many = lkr_get_many,
	.set = lkr_set,
	.del = lkr_del,
	.incr_many = lkr_incr_many,
	.expire = lkr_expire,
};
