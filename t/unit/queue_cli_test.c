/*
 * queue_cli_test.c - `postern queue list | show | delete | flush` against
 * a scratch spool: output, exit codes, escaping, the flush record and
 * the SIGUSR1 to a running server.
 */
#include "t/unit/queue_test.h"

#include <signal.h>

#include "cli/cli.h"
#include "common/log.h"
#include "queue/queue_priv.h"

struct out {
	struct buf out, err;
};

static void
capture(int fd, int *saved, char *tmpl)
{
	int tmp = mkstemp(tmpl);

	assert_true(tmp >= 0);
	*saved = dup(fd);
	assert_true(dup2(tmp, fd) >= 0);
	close(tmp);
}

static void
release(int fd, int saved, char *tmpl, struct buf *into)
{
	assert_true(dup2(saved, fd) >= 0);
	close(saved);
	read_whole(tmpl, into);
	unlink(tmpl);
}

/* run - cli_queue with stdout and stderr captured */
static int
run(const struct config *cfg, struct out *o, const char *a1, const char *a2,
    const char *a3)
{
	char *argv[5] = { "queue", (char *)a1, (char *)a2, (char *)a3, NULL };
	char t1[] = "/tmp/postern-cli1.XXXXXX", t2[] = "/tmp/postern-cli2.XXXXXX";
	int argc = 1, s1, s2, rc;

	while (argc < 4 && argv[argc] != NULL)
		argc++;
	fflush(stdout);
	fflush(stderr);
	capture(1, &s1, t1);
	capture(2, &s2, t2);
	rc = cli_queue(cfg, argc, argv);
	fflush(stdout);
	fflush(stderr);
	release(1, s1, t1, &o->out);
	release(2, s2, t2, &o->err);
	return rc;
}

static bool
has(const struct buf *b, const char *s)
{
	return b->len > 0 && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

struct cfx {
	char *dir;
	struct buf pid_file;
	struct config cfg;
	struct spool *sp;
	struct out o;
};

static void
cfx_init(struct cfx *f)
{
	const char *error;

	memset(f, 0, sizeof(*f));
	f->dir = tdir_new();
	buf_addf(&f->pid_file, "%s/postern.pid", f->dir);
	f->cfg.queue.dir = f->dir;
	f->cfg.server.data_dir = f->dir;
	f->cfg.server.pid_file = (char *)buf_cstr(&f->pid_file);
	f->sp = spool_open(f->dir, &error);
	assert_non_null(f->sp);
}

static void
cfx_free(struct cfx *f)
{
	spool_close(&f->sp);
	buf_free(&f->pid_file);
	buf_free(&f->o.out);
	buf_free(&f->o.err);
	tdir_rm(&f->dir);
}

/* defer - append a deferred result for rcpt 0 of qid */
static void
defer(struct cfx *f, const char *qid, uint64_t next)
{
	struct queue_result r = { 0, QUEUE_RCPT_DEFERRED, 1, 5, next, "4.4.1",
		"mx.example[192.0.2.1]:25", "connect refused", 0 };
	struct buf rec = BUF_INIT(0), p = BUF_INIT(0);

	queue_result_add(&rec, &r);
	tpath(&p, f->dir, "msg", qid);
	write_whole(buf_cstr(&p), rec.data, rec.len, O_APPEND);
	buf_free(&rec);
	buf_free(&p);
}

static void
test_usage(void **state)
{
	static const char *const cases[][3] = {
		{ NULL, NULL, NULL }, { "bogus", NULL, NULL },
		{ "show", NULL, NULL }, { "show", "A", "B" },
		{ "delete", NULL, NULL }, { "list", "x", NULL },
		{ "flush", "x", NULL },
	};
	struct cfx f;

	(void)state;
	cfx_init(&f);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(run(&f.cfg, &f.o, cases[i][0], cases[i][1],
		    cases[i][2]), 2);
		assert_true(has(&f.o.err, "usage: postern queue"));
	}
	cfx_free(&f);
}

static void
test_list_and_show(void **state)
{
	const char *r1[] = { "bob@example.net", "carol@example.org" };
	struct queue_rcpt rr = { "x@example.com", "NOTIFY=NEVER" };
	struct queue_envelope env = { .sender = "", .helo = "evil\x1b[2J",
		.rcpts = &rr, .nrcpt = 1 };
	char q1[QUEUE_ID_SIZE], q2[QUEUE_ID_SIZE];
	struct spool_file *sf;
	const char *error;
	struct cfx f;

	(void)state;
	cfx_init(&f);
	assert_int_equal(run(&f.cfg, &f.o, "list", NULL, NULL), 0);
	assert_string_equal(buf_cstr(&f.o.out), "Mail queue is empty\n");
	put_msg(f.sp, 0, "alice@example.com", r1, 2, "hello\r\n", 7, q1);
	defer(&f, q1, 1700000000ull * 1000000u);
	sf = spool_create(f.sp, &env, &error);
	assert_non_null(sf);
	memcpy(q2, spool_file_id(sf), sizeof(q2));
	assert_int_equal(spool_append(sf, "a\0b", 3, &error), 0);
	assert_int_equal(commit_wait(sf, NULL, 0), 0);

	assert_int_equal(run(&f.cfg, &f.o, "list", NULL, NULL), 0);
	assert_true(has(&f.o.out, "-Queue ID-"));
	assert_true(has(&f.o.out, q1));
	assert_true(has(&f.o.out, q2));
	assert_true(has(&f.o.out, "alice@example.com"));
	assert_true(has(&f.o.out, "MAILER-DAEMON"));
	assert_true(has(&f.o.out, "(deferred, 1 try, next "));
	assert_true(has(&f.o.out, "4.4.1 connect refused)"));
	assert_true(has(&f.o.out, "(pending)"));
	assert_true(has(&f.o.out, "-- 1 Kbytes in 2 Requests.\n"));

	assert_int_equal(run(&f.cfg, &f.o, "show", q2, NULL), 0);
	assert_true(has(&f.o.out, "queue_id: "));
	assert_true(has(&f.o.out, "helo: evil\\x1b[2J\n"));	/* escaped */
	assert_true(has(&f.o.out, "params: NOTIFY=NEVER"));
	assert_true(f.o.out.len >= 4);
	assert_memory_equal(f.o.out.data + f.o.out.len - 4, "\na\0b", 4);

	assert_int_equal(run(&f.cfg, &f.o, "show", "00000000000000", NULL),
	    1);
	assert_true(has(&f.o.err, "no such message"));
	assert_int_equal(run(&f.cfg, &f.o, "show", "../../etc/passwd", NULL),
	    1);
	assert_true(has(&f.o.err, "not a queue ID"));
	cfx_free(&f);
}

static void
test_delete(void **state)
{
	const char *r1[] = { "bob@example.net" };
	char q1[QUEUE_ID_SIZE], q2[QUEUE_ID_SIZE];
	struct cfx f;

	(void)state;
	cfx_init(&f);
	put_msg(f.sp, 0, "a@example.com", r1, 1, "x", 1, q1);
	put_msg(f.sp, 0, "a@example.com", r1, 1, "x", 1, q2);
	assert_int_equal(run(&f.cfg, &f.o, "delete", q1, NULL), 0);
	assert_true(has(&f.o.out, "removed"));
	assert_false(file_exists(f.dir, "msg", q1));
	/* one unknown among known ones: the rest is done, exit 1 */
	assert_int_equal(run(&f.cfg, &f.o, "delete", q1, q2), 1);
	assert_true(has(&f.o.err, "no such message"));
	assert_false(file_exists(f.dir, "msg", q2));
	assert_int_equal(run(&f.cfg, &f.o, "delete", "bogus", NULL), 1);
	cfx_free(&f);
}

static volatile sig_atomic_t got_usr1;

static void
on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void
test_flush(void **state)
{
	const char *r1[] = { "bob@example.net" };
	char q1[QUEUE_ID_SIZE], q2[QUEUE_ID_SIZE];
	struct buf err = BUF_INIT(0), pid = BUF_INIT(0);
	struct queue_msg *m;
	struct cfx f;

	(void)state;
	cfx_init(&f);
	put_msg(f.sp, 0, "a@example.com", r1, 1, "x", 1, q1);
	put_msg(f.sp, 0, "a@example.com", r1, 1, "x", 1, q2);	/* pending */
	defer(&f, q1, UINT64_MAX / 2);
	/* no server: flush records only */
	assert_int_equal(run(&f.cfg, &f.o, "flush", NULL, NULL), 0);
	assert_true(has(&f.o.out, "1 messages"));
	assert_true(has(&f.o.out, "no server running"));
	assert_int_equal(queue_msg_load(f.dir, q1, &m, &err), QUEUE_LOAD_OK);
	assert_int_equal(m->state[0].status, QUEUE_RCPT_DEFERRED);
	assert_int_equal(m->state[0].next_try_us, 0);
	queue_msg_free(&m);
	/* a stale pid file is no server */
	buf_addf(&pid, "%d\n", 0x7ffffff0);
	write_whole(buf_cstr(&f.pid_file), pid.data, pid.len, O_TRUNC);
	assert_int_equal(run(&f.cfg, &f.o, "flush", NULL, NULL), 0);
	assert_true(has(&f.o.out, "no server running"));
	/* "the server" is us: SIGUSR1 arrives */
	signal(SIGUSR1, on_usr1);
	buf_reset(&pid);
	buf_addf(&pid, "%ld\n", (long)getpid());
	write_whole(buf_cstr(&f.pid_file), pid.data, pid.len, O_TRUNC);
	assert_int_equal(run(&f.cfg, &f.o, "flush", NULL, NULL), 0);
	assert_true(has(&f.o.out, "signalled"));
	assert_int_equal(got_usr1, 1);
	signal(SIGUSR1, SIG_DFL);
	buf_free(&err);
	buf_free(&pid);
	cfx_free(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_list_and_show),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_flush),
	};

	log_open(LOG_DEST_STDERR, LOG_LVL_ERROR, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
