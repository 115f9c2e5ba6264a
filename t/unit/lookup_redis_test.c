/*
 * lookup_redis_test.c - the lookup conformance suite
 * (lookup_conformance.c) on the "redis" backend against a real
 * redis-server started here, then what is Redis' own: the keys as Redis
 * sees them (prefix, database, TTL), open errors, a server that dies and
 * comes back mid-test (calls fail promptly, then reconnect), and one
 * that stops answering (calls fail within the timeout, never hang).
 *
 * The server: /usr/bin/redis-server on a free 127.0.0.1 port, in the
 * group's scratch directory, with no persistence and a password, so
 * AUTH and SELECT run on every connection.  It dies with this process
 * (PR_SET_PDEATHSIG) if a test crashes.  Nothing leaves 127.0.0.1.
 * SIGPIPE is left at its default on purpose: the backend must survive
 * peers that close without the process ignoring it.
 */
#include "t/unit/lookup_conformance.c"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define RD_SERVER "/usr/bin/redis-server"
#define RD_PASSWORD "lookup-test-secret"
#define RD_DB 3
/* generous, so a loaded machine does not fail a big batch; the stop test
 * uses its own short one */
#define RD_TIMEOUT_MS 5000
#define RD_STOP_TIMEOUT_MS 300

struct rdfx {
	pid_t pid;
	int port;
};

static struct rdfx rdfx_state;

static int
free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* raw - a plain hiredis connection to the test server, AUTH'ed, on db */
static redisContext *
raw(int port, int db)
{
	struct timeval tv = { 0, 200000 };
	redisContext *rc = redisConnectWithTimeout("127.0.0.1", port, tv);
	redisReply *rep;

	if (rc == NULL || rc->err != 0) {
		redisFree(rc);
		return NULL;
	}
	(void)redisSetTimeout(rc, tv);
	rep = redisCommand(rc, "AUTH %s", RD_PASSWORD);
	if (rep != NULL)
		freeReplyObject(rep);
	rep = redisCommand(rc, "SELECT %d", db);
	if (rep == NULL || rep->type != REDIS_REPLY_STATUS) {
		if (rep != NULL)
			freeReplyObject(rep);
		redisFree(rc);
		return NULL;
	}
	freeReplyObject(rep);
	return rc;
}

static bool
rd_ping(int port)
{
	redisContext *rc = raw(port, 0);
	redisReply *rep = rc != NULL ? redisCommand(rc, "PING") : NULL;
	bool up = rep != NULL && rep->type == REDIS_REPLY_STATUS &&
	    strcmp(rep->str, "PONG") == 0;

	if (rep != NULL)
		freeReplyObject(rep);
	redisFree(rc);
	return up;
}

/* rd_start - the server on f->port, answering PING; 0 or -1 */
static int
rd_start(struct lkc *c)
{
	struct rdfx *f = c->priv;
	char port[8], log[128];
	int n = snprintf(port, sizeof(port), "%d", f->port);
	int m = snprintf(log, sizeof(log), "%s/redis.log", c->dir);

	if (n < 0 || (size_t)n >= sizeof(port) || m < 0 ||
	    (size_t)m >= sizeof(log) || access(RD_SERVER, X_OK) < 0)
		return -1;
	fflush(NULL);
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);

		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			(void)dup2(fd, STDOUT_FILENO);
			(void)dup2(fd, STDERR_FILENO);
		}
		execl(RD_SERVER, "redis-server", "--port", port, "--bind",
		    "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
		    c->dir, "--daemonize", "no", "--requirepass", RD_PASSWORD,
		    (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 250; i++) {		/* up to 5 s */
		int st;

		if (rd_ping(f->port))
			return 0;
		if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
			f->pid = 0;
			return -1;
		}
		lkc_sleep_ms(20);
	}
	return -1;
}

static void
rd_stop(struct lkc *c, int sig)
{
	struct rdfx *f = c->priv;

	if (f->pid > 0) {
		kill(f->pid, sig);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
	}
}

static int
rdfx_group_setup(struct lkc *c)
{
	struct rdfx *f = &rdfx_state;

	c->priv = f;
	f->port = free_port();
	if (f->port < 0 || rd_start(c) < 0) {
		print_message("cannot start %s\n", RD_SERVER);
		return -1;
	}
	return 0;
}

static void
rdfx_group_teardown(struct lkc *c)
{
	rd_stop(c, SIGTERM);
}

/* each test on an empty server */
static int
rdfx_test_setup(struct lkc *c)
{
	struct rdfx *f = c->priv;
	redisContext *rc = raw(f->port, 0);
	redisReply *rep = rc != NULL ? redisCommand(rc, "FLUSHALL") : NULL;
	int r = rep != NULL && rep->type == REDIS_REPLY_STATUS ? 0 : -1;

	if (rep != NULL)
		freeReplyObject(rep);
	redisFree(rc);
	return r;
}

static int
rdfx_open(struct lkc *c, const char *prefix, struct lookup **l_r,
    struct buf *err)
{
	struct rdfx *f = c->priv;
	struct lookup_options o = { .backend = "redis", .prefix = prefix,
	    .redis_host = "127.0.0.1", .redis_port = (uint16_t)f->port,
	    .redis_db = RD_DB, .redis_password = RD_PASSWORD,
	    .redis_timeout_ms = RD_TIMEOUT_MS };

	return lookup_open(&o, l_r, err);
}

/* the keys as Redis has them: prefix, database, counters, TTL */
static void
test_redis_raw(void **state)
{
	struct lkc *c = *state;
	struct rdfx *f = c->priv;
	redisContext *rc = raw(f->port, RD_DB), *rc0 = raw(f->port, 0);
	redisReply *rep;

	assert_non_null(rc);
	assert_non_null(rc0);
	set(c, c->l, S("k\0x"), S("v\0"), 0);
	assert_int_equal(incr(c, c->l, S("n"), 42, 100), 42);
	rep = redisCommand(rc, "GET %b", "t:k\0x", (size_t)5);
	assert_int_equal(rep->type, REDIS_REPLY_STRING);
	assert_int_equal(rep->len, 2);
	assert_memory_equal(rep->str, "v\0", 2);
	freeReplyObject(rep);
	rep = redisCommand(rc, "TTL t:n");
	assert_int_equal(rep->type, REDIS_REPLY_INTEGER);
	assert_true(rep->integer > 90 && rep->integer <= 100);
	freeReplyObject(rep);
	rep = redisCommand(rc, "INCRBY t:n 8");	/* Redis' counter too */
	assert_int_equal(rep->integer, 50);
	freeReplyObject(rep);
	expect(c, c->l, S("n"), S("50"));
	rep = redisCommand(rc0, "DBSIZE");	/* nothing in db 0 */
	assert_int_equal(rep->integer, 0);
	freeReplyObject(rep);
	/* a foreign key type reads as absent; incr refuses it */
	rep = redisCommand(rc, "LPUSH t:list x");
	freeReplyObject(rep);
	expect(c, c->l, S("list"), NULL, 0);
	assert_int_equal(lookup_incr(c->l, S("list"), 1, 0, NULL, &c->err),
	    -1);
	/* a flushed script cache: EVAL instead of EVALSHA */
	rep = redisCommand(rc, "SCRIPT FLUSH");
	freeReplyObject(rep);
	assert_int_equal(incr(c, c->l, S("n"), 1, 0), 51);
	redisFree(rc);
	redisFree(rc0);
}

static void
test_redis_open_errors(void **state)
{
	struct lkc *c = *state;
	struct rdfx *f = c->priv;
	struct lookup_options o = { .backend = "redis",
	    .redis_port = (uint16_t)f->port, .redis_password = "wrong",
	    .redis_timeout_ms = RD_TIMEOUT_MS };
	struct lookup *l = NULL;
	int port = free_port();
	uint64_t t0;

	buf_reset(&c->err);
	assert_int_equal(lookup_open(&o, &l, &c->err), -1);
	assert_null(l);
	assert_non_null(strstr(buf_cstr(&c->err), "AUTH"));
	o.redis_password = NULL;	/* NOAUTH on SCRIPT LOAD */
	assert_int_equal(lookup_open(&o, &l, &c->err), -1);
	o.redis_password = RD_PASSWORD;
	o.redis_db = 100000;		/* no such database */
	buf_reset(&c->err);
	assert_int_equal(lookup_open(&o, &l, &c->err), -1);
	assert_non_null(strstr(buf_cstr(&c->err), "SELECT"));
	o.redis_db = 0;
	o.redis_user = "nobody";
	assert_int_equal(lookup_open(&o, &l, &c->err), -1);
	o.redis_user = NULL;
	o.redis_host = "/nonexistent/redis.sock";
	assert_int_equal(lookup_open(&o, &l, &c->err), -1);
	o.redis_host = NULL;
	o.redis_port = (uint16_t)port;	/* nobody listens */
	buf_reset(&c->err);
	t0 = clock_mono_us();
	assert_int_equal(lookup_open(&o, &l, &c->err), -1);
	assert_true(clock_mono_us() - t0 < RD_TIMEOUT_MS * 1000u);
	assert_non_null(strstr(buf_cstr(&c->err), "connect"));
	assert_null(l);
}

/* fill the pool: several threads' connections, all idle afterwards */
static void *
rd_reader(void *arg)
{
	struct lkc *c = arg;
	struct buf err = BUF_INIT(0), v = BUF_INIT(0);

	for (int i = 0; i < 50; i++) {
		buf_reset(&v);
		if (lookup_get(c->l, S("k"), &v, &err) != 1)
			print_message("reader: %s\n", buf_cstr(&err));
	}
	buf_free(&err);
	buf_free(&v);
	return NULL;
}

/* every call fails with -1 within the timeout, err naming the server */
static void
expect_down(struct lkc *c, unsigned max_ms)
{
	struct lookup_key k[2] = { { S("k") }, { S("n") } };
	const int64_t d[2] = { 1, 1 };
	struct buf v[2] = { BUF_INIT(0), BUF_INIT(0) };
	bool found[2];
	uint64_t t0 = clock_mono_us();

	buf_reset(&c->err);
	assert_int_equal(lookup_get(c->l, S("k"), &v[0], &c->err), -1);
	assert_non_null(strstr(buf_cstr(&c->err), "redis 127.0.0.1:"));
	assert_int_equal(lookup_set(c->l, S("k"), S("x"), 0, &c->err), -1);
	assert_int_equal(lookup_delete(c->l, S("k"), &c->err), -1);
	assert_int_equal(lookup_incr(c->l, S("n"), 1, 0, NULL, &c->err), -1);
	assert_int_equal(lookup_get_many(c->l, k, 2, v, found, &c->err), -1);
	assert_int_equal(lookup_incr_many(c->l, k, 2, d, 0, NULL, &c->err), -1);
	assert_true(clock_mono_us() - t0 < 6 * max_ms * 1000u);
	buf_free(&v[0]);
	buf_free(&v[1]);
}

/* Redis dies mid-test and comes back on the same port */
static void
test_redis_restart(void **state)
{
	struct lkc *c = *state;
	pthread_t t[4];
	uint64_t t0;

	set(c, c->l, S("k"), S("v"), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, rd_reader, c), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);

	rd_stop(c, SIGKILL);
	t0 = clock_mono_us();
	expect_down(c, 50);	/* refused at once, no timeout to wait */
	print_message("redis down: 6 calls failed in %llu ms: %s\n",
	    (unsigned long long)(clock_mono_us() - t0) / 1000,
	    buf_cstr(&c->err));

	assert_int_equal(rd_start(c), 0);	/* empty: no persistence */
	expect(c, c->l, S("k"), NULL, 0);	/* the very first call works */
	set(c, c->l, S("k"), S("again"), 0);
	expect(c, c->l, S("k"), S("again"));
	assert_int_equal(incr(c, c->l, S("n"), 3, 10), 3);

	/* and again, with the pool full of connections the restart broke */
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, rd_reader, c), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	rd_stop(c, SIGKILL);
	assert_int_equal(rd_start(c), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(incr(c, c->l, S("n"), 1, 0), i + 1);
}

/* Redis stops answering (SIGSTOP): calls fail within the timeout (the
 * upper bounds are loose: they tell a timeout from a hang) */
static void
test_redis_stopped(void **state)
{
	struct lkc *c = *state;
	struct rdfx *f = c->priv;
	struct lookup_options o = { .backend = "redis", .prefix = "t",
	    .redis_host = "127.0.0.1", .redis_port = (uint16_t)f->port,
	    .redis_db = RD_DB, .redis_password = RD_PASSWORD,
	    .redis_timeout_ms = RD_STOP_TIMEOUT_MS };
	struct lookup *l = NULL;
	struct buf v = BUF_INIT(0);
	uint64_t t0, ms;

	ok(lookup_open(&o, &l, &c->err), &c->err);
	set(c, l, S("k"), S("v"), 0);
	kill(f->pid, SIGSTOP);
	/* a pooled connection: the reply never comes */
	t0 = clock_mono_us();
	buf_reset(&c->err);
	assert_int_equal(lookup_get(l, S("k"), &v, &c->err), -1);
	ms = (clock_mono_us() - t0) / 1000;
	print_message("redis stopped: -1 after %llu ms: %s\n",
	    (unsigned long long)ms, buf_cstr(&c->err));
	assert_true(ms >= RD_STOP_TIMEOUT_MS - 50 &&
	    ms < 10 * RD_STOP_TIMEOUT_MS);
	assert_non_null(strstr(buf_cstr(&c->err), "no reply within"));
	/* a new connection: the kernel accepts, AUTH is never answered */
	t0 = clock_mono_us();
	assert_int_equal(lookup_get(l, S("k"), &v, &c->err), -1);
	ms = (clock_mono_us() - t0) / 1000;
	assert_true(ms < 10 * RD_STOP_TIMEOUT_MS);
	kill(f->pid, SIGCONT);
	expect(c, l, S("k"), S("v"));
	lookup_close(&l);
	buf_free(&v);
}

static const struct lkc_backend redis_backend = {
	.name = "redis",
	.open = rdfx_open,
	.group_setup = rdfx_group_setup,
	.group_teardown = rdfx_group_teardown,
	.test_setup = rdfx_test_setup,
	.real_clock = true,
	.shared = true,
	.writes = 1000,
};

int
main(void)
{
	const struct CMUnitTest own[] = {
		LKT(test_redis_raw),
		LKT(test_redis_open_errors),
		LKT(test_redis_restart),
		LKT(test_redis_stopped),
	};

	return lookup_conformance_run(&redis_backend, own, ARRAY_SIZE(own));
}
