/*
 * queue_spool_test.c - the spool: queue IDs, write/read round trip with
 * binary content, the group commit under concurrency (and its batching),
 * RENAME_NOREPLACE collisions, abort, and start-up recovery.
 */
#include "t/unit/queue_test.h"

#include "common/log.h"
#include "queue/queue_priv.h"

#define IDS_PER_THREAD 50000
#define ID_THREADS 4

static void *
make_ids(void *arg)
{
	char (*ids)[QUEUE_ID_SIZE] = arg;

	for (size_t i = 0; i < IDS_PER_THREAD; i++)
		queue_id_new(ids[i]);
	return NULL;
}

static int
cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, QUEUE_ID_SIZE);
}

/*
 * check_ids_unique - 200,000 IDs from four threads at once (far more than
 * one second's worth at any real rate) hold no duplicate low part: random
 * low bits alone would have collided here almost surely.
 */
static void
check_ids_unique(void)
{
	size_t n = (size_t)IDS_PER_THREAD * ID_THREADS;
	char (*ids)[QUEUE_ID_SIZE] = calloc(n, QUEUE_ID_SIZE);
	pthread_t th[ID_THREADS];

	assert_non_null(ids);
	for (int i = 0; i < ID_THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, make_ids,
		    ids + (size_t)i * IDS_PER_THREAD), 0);
	for (int i = 0; i < ID_THREADS; i++)
		pthread_join(th[i], NULL);
	/* compare the low 24 bits only: the seconds may tick meanwhile */
	for (size_t i = 0; i < n; i++)
		memmove(ids[i], ids[i] + 8, QUEUE_ID_SIZE - 8);
	qsort(ids, n, QUEUE_ID_SIZE, cmp_id);
	for (size_t i = 1; i < n; i++)
		assert_true(memcmp(ids[i - 1], ids[i], QUEUE_ID_SIZE) != 0);
	free(ids);
}

static void
test_queue_id(void **state)
{
	static const struct {
		const char *s;
		bool valid;
	} cases[] = {
		{ "0123456789ABCD", true },
		{ "FFFFFFFFFFFFFF", true },
		{ "0123456789abcd", false },	/* lowercase */
		{ "0123456789ABC", false },	/* short */
		{ "0123456789ABCDE", false },	/* long */
		{ "../../etc/pass", false },
		{ "0123456789ABCG", false },
		{ "", false },
	};
	char id[QUEUE_ID_SIZE];
	uint64_t secs;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		assert_int_equal(queue_id_is_valid(cases[i].s),
		    cases[i].valid);
	for (int i = 0; i < 100; i++) {
		queue_id_new(id);
		assert_true(queue_id_is_valid(id));
	}
	/* the first 8 digits are the time in seconds */
	secs = (clock_wall_us() / 1000000u) & 0xffffffffu;
	queue_id_new(id);
	{
		char head[9];
		uint64_t t;

		memcpy(head, id, 8);
		head[8] = '\0';
		t = strtoull(head, NULL, 16);
		assert_true(t + 1 >= secs && t <= secs + 1);
	}
	check_ids_unique();
}

/* content with every byte value, NULs, bare CR, bare LF, CRLF, dots */
static void
make_content(struct buf *b, size_t len)
{
	uint32_t x = 12345;

	buf_reset(b);
	buf_add_str(b, "Subject: t\r\n\r\n.\r\n\0\0\r\r\n\n.\n");
	for (size_t i = 0; i < 256; i++) {
		unsigned char c = (unsigned char)i;

		buf_add(b, &c, 1);
	}
	while (b->len < len) {
		unsigned char c;

		x = x * 1103515245u + 12345u;
		c = (unsigned char)(x >> 16);
		buf_add(b, &c, 1);
	}
	buf_truncate(b, len);
}

static void
read_content(const char *dir, const struct queue_msg *m, size_t bufsize,
    struct buf *out)
{
	struct buf err = BUF_INIT(0);
	struct queue_content *c = queue_content_open(dir, m, &err);
	unsigned char *tmp = xmalloc(bufsize);
	size_t n;

	assert_non_null(c);
	buf_reset(out);
	do {
		assert_int_equal(queue_content_read(c, tmp, bufsize, &n, &err),
		    0);
		buf_add(out, tmp, n);
	} while (n > 0);
	queue_content_close(&c);
	free(tmp);
	buf_free(&err);
}

static void
test_roundtrip(void **state)
{
	static const size_t sizes[] = { 0, 1, 300, 65536, 65537, 200003 };
	static const size_t pieces[] = { 1, 7, 1000, 65536, 100000 };
	struct queue_rcpt rcpts[] = {
		{ "bob@example.net", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@x" },
		{ "carol@example.org", "" },
		{ "d\xc3\xa9@\xc3\xa9xample.org", NULL },
	};
	struct queue_envelope env = {
		.arrival_us = 1700000000123456ull,
		.client_ip = "192.0.2.7",
		.client_name = "mail.example.com",
		.helo = "mail.example.com",
		.protocol = "UTF8SMTPS",
		.tls_info = "TLSv1.3 TLS_AES_256_GCM_SHA384",
		.auth_user = "alice",
		.sender = "alice@example.com",
		.sender_params = "BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=abc",
		.rcpts = rcpts,
		.nrcpt = ARRAY_SIZE(rcpts),
	};
	struct buf content = BUF_INIT(0), back = BUF_INIT(0);
	struct buf err = BUF_INIT(0);
	char *dir = tdir_new();
	const char *error = NULL;
	struct spool *sp = spool_open(dir, &error);

	(void)state;
	assert_non_null(sp);
	for (size_t s = 0; s < ARRAY_SIZE(sizes); s++) {
		size_t piece = pieces[s % ARRAY_SIZE(pieces)];
		struct spool_file *f;
		struct queue_msg *m;
		char qid[QUEUE_ID_SIZE];

		make_content(&content, sizes[s]);
		f = spool_create(sp, &env, &error);
		assert_non_null(f);
		memcpy(qid, spool_file_id(f), sizeof(qid));
		assert_true(file_exists(dir, "tmp", qid));
		for (size_t off = 0; off < content.len; off += piece) {
			size_t n = content.len - off < piece ?
			    content.len - off : piece;

			assert_int_equal(spool_append(f, content.data + off, n,
			    &error), 0);
		}
		assert_int_equal(commit_wait(f, NULL, 0), 0);
		assert_false(file_exists(dir, "tmp", qid));
		assert_true(file_exists(dir, "msg", qid));

		assert_int_equal(queue_msg_load(dir, qid, &m, &err),
		    QUEUE_LOAD_OK);
		assert_string_equal(m->env.qid, qid);
		assert_int_equal(m->env.arrival_us, env.arrival_us);
		assert_string_equal(m->env.client_ip, env.client_ip);
		assert_string_equal(m->env.client_name, env.client_name);
		assert_string_equal(m->env.helo, env.helo);
		assert_string_equal(m->env.protocol, env.protocol);
		assert_string_equal(m->env.tls_info, env.tls_info);
		assert_string_equal(m->env.auth_user, env.auth_user);
		assert_string_equal(m->env.sender, env.sender);
		assert_string_equal(m->env.sender_params, env.sender_params);
		assert_int_equal(m->env.nrcpt, 3);
		for (size_t i = 0; i < 3; i++) {
			assert_string_equal(m->env.rcpts[i].addr,
			    rcpts[i].addr);
			assert_string_equal(m->env.rcpts[i].params,
			    rcpts[i].params != NULL ? rcpts[i].params : "");
			assert_int_equal(m->state[i].status,
			    QUEUE_RCPT_PENDING);
		}
		assert_int_equal(m->content_size, content.len);
		assert_int_equal(m->valid_size, m->file_size);
		read_content(dir, m, 4096, &back);
		assert_int_equal(back.len, content.len);
		assert_memory_equal(back.data, content.data, content.len);
		read_content(dir, m, 1, &back);	/* byte by byte */
		assert_int_equal(back.len, content.len);
		queue_msg_free(&m);
	}
	spool_close(&sp);
	assert_int_equal(count_files(dir, "msg"), ARRAY_SIZE(sizes));
	buf_free(&content);
	buf_free(&back);
	buf_free(&err);
	tdir_rm(&dir);
}

static void
test_null_sender_minimal(void **state)
{
	struct queue_rcpt r = { "x@example.com", NULL };
	struct queue_envelope env = { .sender = "", .rcpts = &r, .nrcpt = 1 };
	struct buf err = BUF_INIT(0);
	char *dir = tdir_new();
	const char *error = NULL;
	struct spool *sp = spool_open(dir, &error);
	struct spool_file *f;
	struct queue_msg *m;
	uint64_t before = clock_wall_us();

	(void)state;
	f = spool_create(sp, &env, &error);
	assert_non_null(f);
	{
		char qid[QUEUE_ID_SIZE];

		memcpy(qid, spool_file_id(f), sizeof(qid));
		assert_int_equal(commit_wait(f, NULL, 0), 0);
		assert_int_equal(queue_msg_load(dir, qid, &m, &err),
		    QUEUE_LOAD_OK);
		assert_string_equal(m->env.sender, "");
		assert_string_equal(m->env.helo, "");
		assert_string_equal(m->env.rcpts[0].params, "");
		assert_true(m->env.arrival_us >= before);
		assert_int_equal(m->content_size, 0);
		queue_msg_free(&m);
	}
	/* bad envelopes are refused before anything is written */
	env.nrcpt = 0;
	assert_null(spool_create(sp, &env, &error));
	assert_string_equal(error, "no sender or no recipient");
	env.nrcpt = 1;
	memcpy(env.qid, "nothex", 7);
	assert_null(spool_create(sp, &env, &error));
	assert_string_equal(error, "invalid queue ID");
	assert_int_equal(count_files(dir, "tmp"), 0);
	spool_close(&sp);
	buf_free(&err);
	tdir_rm(&dir);
}

/* ---- group commit ---- */

#define NTHREADS 8
#define PER_THREAD 50

struct gc {
	struct spool *sp;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned submitted, done, ok;
	bool hold_first;	/* first callback waits for every submit */
	bool held;
	bool wait_each;		/* a thread waits for its own commit */
};

static void
gc_done(void *arg, int status, const char *error)
{
	struct gc *g = arg;

	(void)error;
	pthread_mutex_lock(&g->lock);
	if (g->hold_first && !g->held) {
		g->held = true;
		while (g->submitted < NTHREADS * PER_THREAD)
			pthread_cond_wait(&g->cond, &g->lock);
	}
	g->done++;
	g->ok += status == 0;
	pthread_cond_broadcast(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

static void *
gc_thread(void *arg)
{
	struct gc *g = arg;
	struct queue_rcpt r = { "r@example.com", "" };
	struct queue_envelope env = { .sender = "s@example.com",
		.rcpts = &r, .nrcpt = 1 };
	const char *error;

	for (int i = 0; i < PER_THREAD; i++) {
		struct spool_file *f = spool_create(g->sp, &env, &error);

		/* no cmocka asserts off the main thread */
		if (f == NULL || spool_append(f, "hello\r\n", 7, &error) < 0)
			PANIC("gc_thread: %s", error);
		if (g->wait_each) {
			int st = commit_wait(f, NULL, 0);

			pthread_mutex_lock(&g->lock);
			g->submitted++;
			g->done++;
			g->ok += st == 0;
			pthread_cond_broadcast(&g->cond);
			pthread_mutex_unlock(&g->lock);
			continue;
		}
		spool_commit(f, gc_done, g);
		/* counted once queued: the held callback waits for all */
		pthread_mutex_lock(&g->lock);
		g->submitted++;
		pthread_cond_broadcast(&g->cond);
		pthread_mutex_unlock(&g->lock);
	}
	return NULL;
}

static void
run_group_commit(enum spool_sync_mode mode, bool hold_first, bool wait_each)
{
	struct gc g = { .lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER, .hold_first = hold_first,
		.wait_each = wait_each };
	pthread_t th[NTHREADS];
	char *dir = tdir_new();
	const char *error;

	g.sp = spool_open(dir, &error);
	assert_non_null(g.sp);
	spool_set_sync_mode(g.sp, mode);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, gc_thread, &g),
		    0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	spool_close(&g.sp);	/* drains */
	assert_int_equal(g.done, NTHREADS * PER_THREAD);
	assert_int_equal(g.ok, NTHREADS * PER_THREAD);
	assert_int_equal(count_files(dir, "msg"), NTHREADS * PER_THREAD);
	assert_int_equal(count_files(dir, "tmp"), 0);
	tdir_rm(&dir);
}

static void
stats_of(enum spool_sync_mode mode, bool hold, bool wait_each,
    struct spool_stats *out)
{
	/* the stats live in the spool: run it again, keeping the spool */
	struct gc g = { .lock = PTHREAD_MUTEX_INITIALIZER,
		.cond = PTHREAD_COND_INITIALIZER, .hold_first = hold,
		.wait_each = wait_each };
	pthread_t th[NTHREADS];
	char *dir = tdir_new();
	const char *error;

	g.sp = spool_open(dir, &error);
	assert_non_null(g.sp);
	spool_set_sync_mode(g.sp, mode);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, gc_thread, &g),
		    0);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_lock(&g.lock);
	while (g.done < NTHREADS * PER_THREAD)
		pthread_cond_wait(&g.cond, &g.lock);
	pthread_mutex_unlock(&g.lock);
	spool_get_stats(g.sp, out);
	spool_close(&g.sp);
	assert_int_equal(g.ok, NTHREADS * PER_THREAD);
	assert_int_equal(count_files(dir, "msg"), NTHREADS * PER_THREAD);
	tdir_rm(&dir);
}

static void
test_group_commit_batches(void **state)
{
	struct spool_stats st;

	(void)state;
	run_group_commit(SPOOL_SYNC_SYNCFS, false, false);
	/* deterministic: the first callback holds the committer until all
	 * 400 are queued, so they go in at most two batches */
	stats_of(SPOOL_SYNC_SYNCFS, true, false, &st);
	assert_int_equal(st.commits, NTHREADS * PER_THREAD);
	assert_int_equal(st.failures, 0);
	assert_true(st.syncs <= 2);
	assert_int_equal(st.batches, st.syncs);
	stats_of(SPOOL_SYNC_FSYNC, true, false, &st);
	assert_true(st.syncs <= 2);
	/* the realistic pattern: each session waits for its own 250 */
	stats_of(SPOOL_SYNC_SYNCFS, false, true, &st);
	assert_int_equal(st.commits, NTHREADS * PER_THREAD);
	assert_true(st.syncs <= st.commits);
	print_message("      8 sessions x 50, waiting for each 250: %llu "
	    "syncfs for %llu commits (largest batch %llu)\n",
	    (unsigned long long)st.syncs, (unsigned long long)st.commits,
	    (unsigned long long)st.max_batch);
}

/* ---- collisions and abort ---- */

static void
test_collision(void **state)
{
	struct queue_rcpt r = { "r@example.com", "" };
	struct queue_envelope env = { .sender = "s@example.com", .rcpts = &r,
		.nrcpt = 1 };
	struct buf path = BUF_INIT(0), after = BUF_INIT(0);
	char *dir = tdir_new(), error_text[256];
	const char *error;
	struct spool *sp = spool_open(dir, &error);
	struct spool_file *f, *g;

	(void)state;
	/* an ID already in msg/ is refused at creation */
	queue_id_new(env.qid);
	tpath(&path, dir, "msg", env.qid);
	write_whole(buf_cstr(&path), "precious", 8, O_EXCL);
	assert_null(spool_create(sp, &env, &error));
	assert_string_equal(error, "queue ID already in use");
	/* two sessions with one ID: the second create fails (O_EXCL) */
	queue_id_new(env.qid);
	f = spool_create(sp, &env, &error);
	assert_non_null(f);
	assert_null(spool_create(sp, &env, &error));
	assert_string_equal(error, "queue ID already in use");
	/* msg/QID appearing before the commit: RENAME_NOREPLACE refuses */
	tpath(&path, dir, "msg", env.qid);
	write_whole(buf_cstr(&path), "precious", 8, O_EXCL);
	assert_int_equal(spool_append(f, "x", 1, &error), 0);
	assert_int_equal(commit_wait(f, error_text, sizeof(error_text)), -1);
	assert_non_null(strstr(error_text, "already exists"));
	read_whole(buf_cstr(&path), &after);
	assert_int_equal(after.len, 8);
	assert_memory_equal(after.data, "precious", 8);
	assert_false(file_exists(dir, "tmp", env.qid));
	/* abort removes the tmp file */
	env.qid[0] = '\0';
	g = spool_create(sp, &env, &error);
	assert_non_null(g);
	{
		char qid[QUEUE_ID_SIZE];

		memcpy(qid, spool_file_id(g), sizeof(qid));
		assert_true(file_exists(dir, "tmp", qid));
		spool_abort(&g);
		assert_null(g);
		assert_false(file_exists(dir, "tmp", qid));
	}
	spool_abort(&g);	/* NULL is fine */
	{
		struct spool_stats st;

		spool_get_stats(sp, &st);
		assert_int_equal(st.failures, 1);
	}
	spool_close(&sp);
	buf_free(&path);
	buf_free(&after);
	tdir_rm(&dir);
}

/* ---- recovery ---- */

static void
test_recover(void **state)
{
	const char *one[] = { "a@example.com", "b@example.com" };
	struct buf path = BUF_INIT(0), data = BUF_INIT(0), err = BUF_INIT(0);
	char *dir = tdir_new();
	char good[QUEUE_ID_SIZE], torn[QUEUE_ID_SIZE], cut[QUEUE_ID_SIZE];
	char garbled[QUEUE_ID_SIZE];
	struct spool_recover_stats rs;
	struct queue_result qr = { 1, QUEUE_RCPT_DEFERRED, 1, 5, 10, "4.0.0",
		"smtp", "try later", 0 };
	struct queue_msg *m;
	const char *error;
	struct spool *sp = spool_open(dir, &error);
	uint64_t size_before;

	(void)state;
	put_msg(sp, 0, "s@example.com", one, 2, "hello\r\n", 7, good);
	put_msg(sp, 0, "s@example.com", one, 2, "hello\r\n", 7, torn);
	put_msg(sp, 0, "s@example.com", one, 2, "hello\r\n", 7, cut);
	queue_id_new(garbled);
	/* an unfinished file in tmp/ */
	tpath(&path, dir, "tmp", "0000000000ABCD");
	write_whole(buf_cstr(&path), "V15:POSTERN-QUEUE 1\n", 20, O_EXCL);
	/* a result, then a torn one, at the tail of "torn" */
	tpath(&path, dir, "msg", torn);
	read_whole(buf_cstr(&path), &data);
	size_before = data.len;
	buf_reset(&data);
	queue_result_add(&data, &qr);
	size_before += data.len;
	buf_add_str(&data, "D40:0 sent 2 6 0 2.0.0 smtp");
	write_whole(buf_cstr(&path), data.data, data.len, O_APPEND);
	/* "cut" loses its end record; "garbled" is noise; one odd name */
	tpath(&path, dir, "msg", cut);
	read_whole(buf_cstr(&path), &data);
	assert_int_equal(truncate(buf_cstr(&path), (off_t)data.len - 20), 0);
	tpath(&path, dir, "msg", garbled);
	write_whole(buf_cstr(&path), "\0\0garbage\n", 10, O_EXCL);
	tpath(&path, dir, "msg", "README");
	write_whole(buf_cstr(&path), "hi", 2, O_EXCL);

	assert_int_equal(spool_recover(sp, &rs, &err), 0);
	assert_int_equal(rs.tmp_removed, 1);
	assert_int_equal(rs.corrupt, 3);
	assert_int_equal(rs.truncated, 1);
	assert_int_equal(rs.ok, 2);
	assert_int_equal(count_files(dir, "tmp"), 0);
	assert_int_equal(count_files(dir, "msg"), 2);
	assert_int_equal(count_files(dir, "corrupt"), 3);
	assert_true(file_exists(dir, "corrupt", cut));
	assert_true(file_exists(dir, "corrupt", garbled));
	assert_true(file_exists(dir, "corrupt", "README"));
	/* the torn record is gone, the complete result before it kept */
	tpath(&path, dir, "msg", torn);
	read_whole(buf_cstr(&path), &data);
	assert_int_equal(data.len, size_before);
	assert_int_equal(queue_msg_load(dir, torn, &m, &err), QUEUE_LOAD_OK);
	assert_int_equal(m->state[1].status, QUEUE_RCPT_DEFERRED);
	assert_int_equal(m->state[1].next_try_us, 10);
	assert_string_equal(m->state[1].text, "try later");
	assert_int_equal(m->state[0].status, QUEUE_RCPT_PENDING);
	queue_msg_free(&m);
	/* a second run has nothing to do */
	assert_int_equal(spool_recover(sp, &rs, &err), 0);
	assert_int_equal(rs.tmp_removed + rs.corrupt + rs.truncated, 0);
	assert_int_equal(rs.ok, 2);
	/* a second corrupt file of the same name does not overwrite */
	tpath(&path, dir, "msg", cut);
	write_whole(buf_cstr(&path), "x", 1, O_EXCL);
	assert_int_equal(queue_msg_move_corrupt(dir, cut, &err), 0);
	{
		struct buf p2 = BUF_INIT(0);

		buf_addf(&p2, "%s.1", cut);
		assert_true(file_exists(dir, "corrupt", buf_cstr(&p2)));
		buf_free(&p2);
	}
	spool_close(&sp);
	buf_free(&path);
	buf_free(&data);
	buf_free(&err);
	tdir_rm(&dir);
}

/* a damaged content byte is caught by the end record's SHA-256 */
static void
test_content_checksum(void **state)
{
	const char *one[] = { "a@example.com" };
	struct buf path = BUF_INIT(0), data = BUF_INIT(0), err = BUF_INIT(0);
	char *dir = tdir_new(), qid[QUEUE_ID_SIZE], tmp[64];
	struct queue_content *c;
	struct queue_msg *m;
	const char *error;
	struct spool *sp = spool_open(dir, &error);
	unsigned char *hit;
	size_t n;
	int rc;

	(void)state;
	put_msg(sp, 0, "s@example.com", one, 1, "hello world\r\n", 13, qid);
	tpath(&path, dir, "msg", qid);
	read_whole(buf_cstr(&path), &data);
	hit = memmem(data.data, data.len, "world", 5);
	assert_non_null(hit);
	*hit = 'W';
	write_whole(buf_cstr(&path), data.data, data.len, O_TRUNC);
	assert_int_equal(queue_msg_load(dir, qid, &m, &err), QUEUE_LOAD_OK);
	c = queue_content_open(dir, m, &err);
	assert_non_null(c);
	do
		rc = queue_content_read(c, tmp, sizeof(tmp), &n, &err);
	while (rc == 0 && n > 0);
	assert_int_equal(rc, -1);
	assert_true(queue_content_is_corrupt(c));
	assert_non_null(strstr(buf_cstr(&err), "SHA-256"));
	queue_content_close(&c);
	queue_msg_free(&m);
	spool_close(&sp);
	buf_free(&path);
	buf_free(&data);
	buf_free(&err);
	tdir_rm(&dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_id),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_null_sender_minimal),
		cmocka_unit_test(test_group_commit_batches),
		cmocka_unit_test(test_collision),
		cmocka_unit_test(test_recover),
		cmocka_unit_test(test_content_checksum),
	};

	log_open(LOG_DEST_STDERR, LOG_LVL_ERROR, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
