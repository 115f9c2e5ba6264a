/*
 * kv_conformance_writers.c - the conformance tests of writers at the
 * same time: concurrent kv_run writers (serialisable, no lost update,
 * snapshots alongside), group commit (kv_group_run), commits that let
 * the next writer go before they are durable (kv_commit_nowait,
 * kv_wait_durable), and kv_sync, the shared log sync behind them.  Not a
 * program: kv_conformance.c includes it, with its helpers and fixture.
 */
#define CONC_THREADS 8
#define CONC_INCR 500

struct conc {
	struct kvc *c;
	atomic_bool stop;
	atomic_int errors;
	atomic_int reads;
};

static int
incr_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	(void)arg;
	return kv_add(t, S("ctr"), 1, NULL, err);
}

static void *
conc_writer(void *arg)
{
	struct conc *cc = arg;
	struct buf err = BUF_INIT(0);

	for (int i = 0; i < CONC_INCR; i++) {
		if (kv_run(cc->c->kv, KV_WRITE, incr_fn, NULL, &err) != 0) {
			fprintf(stderr, "kv_run: %s\n", buf_cstr(&err));
			atomic_fetch_add(&cc->errors, 1);
		}
	}
	buf_free(&err);
	return NULL;
}

static int64_t
decode_i64(const struct buf *v)
{
	uint64_t u = 0;

	for (size_t i = 0; i < v->len; i++)
		u = u << 8 | v->data[i];
	return (int64_t)u;
}

/* conc_reader - within a snapshot the counter holds still; across
 * snapshots it never goes back */
static void *
conc_reader(void *arg)
{
	struct conc *cc = arg;
	struct buf err = BUF_INIT(0), v1 = BUF_INIT(0), v2 = BUF_INIT(0);
	int64_t prev = 0;
	struct kv_txn *t;

	while (!atomic_load(&cc->stop)) {
		buf_reset(&v1);
		buf_reset(&v2);
		if (kv_begin(cc->c->kv, KV_READ, &t, &err) < 0 ||
		    kv_get(t, S("ctr"), &v1, &err) < 0 ||
		    (usleep(200), kv_get(t, S("ctr"), &v2, &err)) < 0 ||
		    kv_commit(&t, &err) < 0 || v1.len != v2.len ||
		    decode_i64(&v1) != decode_i64(&v2) ||
		    decode_i64(&v1) < prev) {
			kv_abort(&t);
			atomic_fetch_add(&cc->errors, 1);
			break;
		}
		prev = decode_i64(&v1);
		atomic_fetch_add(&cc->reads, 1);
	}
	buf_free(&v1);
	buf_free(&v2);
	buf_free(&err);
	return NULL;
}

static void
test_concurrent_writers(void **state)
{
	struct kvc *c = *state;
	struct conc cc = { .c = c };
	pthread_t w[CONC_THREADS], r[2];
	uint64_t t0 = clock_mono_us(), us;
	struct kv_txn *t;

	atomic_init(&cc.stop, false);
	atomic_init(&cc.errors, 0);
	atomic_init(&cc.reads, 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&r[i], NULL, conc_reader, &cc),
		    0);
	for (int i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, conc_writer, &cc),
		    0);
	for (int i = 0; i < CONC_THREADS; i++)
		pthread_join(w[i], NULL);
	us = clock_mono_us() - t0;
	atomic_store(&cc.stop, true);
	for (int i = 0; i < 2; i++)
		pthread_join(r[i], NULL);
	assert_int_equal(atomic_load(&cc.errors), 0);
	t = begin(c, KV_READ);
	expect(c, t, S("ctr"), "\0\0\0\0\0\0\x0f\xa0", 8);	/* 4000 */
	commit(c, &t);
	print_message("%s: %d kv_run increments from %d threads in %.2f s "
	    "(%.0f commits/s), %d snapshot reads alongside\n", c->backend,
	    CONC_THREADS * CONC_INCR, CONC_THREADS, us / 1e6,
	    CONC_THREADS * CONC_INCR / (us / 1e6), atomic_load(&cc.reads));
}

/* ---- group commit ---- */

struct grp {
	struct kvc *c;
	struct kv_group *g;
	int id;
	atomic_int errors;
	atomic_int refused;
};

/* grp_fn - one increment; member 7's every 10th call fails on purpose */
static int
grp_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	int *call = arg;

	if (*call < 0) {
		buf_addf(err, "refused on purpose");
		return -1;
	}
	return kv_add(t, S("gctr"), 1, NULL, err);
}

static void *
grp_writer(void *arg)
{
	struct grp *gp = arg;
	struct buf err = BUF_INIT(0);
	int id = __atomic_fetch_add(&gp->id, 1, __ATOMIC_SEQ_CST);

	for (int i = 0; i < CONC_INCR; i++) {
		int call = id == 7 && i % 10 == 0 ? -1 : i;

		buf_reset(&err);
		if (kv_group_run(gp->g, grp_fn, &call, &err) == 0)
			continue;
		if (call < 0 && strcmp(buf_cstr(&err), "refused on purpose")
		    == 0)
			atomic_fetch_add(&gp->refused, 1);
		else
			atomic_fetch_add(&gp->errors, 1);
	}
	buf_free(&err);
	return NULL;
}

/*
 * kv_group_run: every call's work commits exactly once, a failing member
 * gets its own error and costs the others nothing, and under
 * concurrency the groups are fewer than the calls
 */
static void
test_group_commit(void **state)
{
	struct kvc *c = *state;
	struct grp gp = { .c = c };
	pthread_t w[CONC_THREADS];
	uint64_t calls, groups, t0 = clock_mono_us(), us;
	struct kv_txn *t;
	struct buf v = BUF_INIT(0);
	int64_t want = CONC_THREADS * CONC_INCR - CONC_INCR / 10;

	gp.g = kv_group_new(c->kv, 0);
	atomic_init(&gp.errors, 0);
	atomic_init(&gp.refused, 0);
	for (int i = 0; i < CONC_THREADS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, grp_writer, &gp),
		    0);
	for (int i = 0; i < CONC_THREADS; i++)
		pthread_join(w[i], NULL);
	us = clock_mono_us() - t0;
	assert_int_equal(atomic_load(&gp.errors), 0);
	assert_int_equal(atomic_load(&gp.refused), CONC_INCR / 10);
	kv_group_stats(gp.g, &calls, &groups);
	assert_int_equal(calls, CONC_THREADS * CONC_INCR);
	assert_true(groups <= calls);
	t = begin(c, KV_READ);
	assert_int_equal(kv_get(t, S("gctr"), &v, &c->err), 1);
	assert_int_equal(decode_i64(&v), want);
	commit(c, &t);
	print_message("%s: %llu kv_group_run increments from %d threads in "
	    "%.2f s (%.0f calls/s) in %llu group commits\n", c->backend,
	    (unsigned long long)calls, CONC_THREADS, us / 1e6,
	    calls / (us / 1e6), (unsigned long long)groups);
	kv_group_free(&gp.g);
	kv_group_free(&gp.g);	/* accepts NULL */
	buf_free(&v);
}

static int
nowait_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	(void)arg;
	return kv_put(t, S("nw2"), S("two"), err);
}

/*
 * kv_commit_nowait: committed (seen by the next transaction) when it
 * returns, durable once kv_wait_durable returns; tickets may be waited
 * for in any order, twice, or not at all; reads have none
 */
static void
test_commit_nowait(void **state)
{
	struct kvc *c = *state;
	struct kv_txn *t = begin(c, KV_WRITE);
	uint64_t t1, t2, t3;

	put(c, t, S("nw1"), S("one"));
	ok(kv_commit_nowait(&t, &t1, &c->err), &c->err);
	assert_null(t);
	t = begin(c, KV_READ);
	expect(c, t, S("nw1"), S("one"));
	ok(kv_commit_nowait(&t, &t2, &c->err), &c->err);
	assert_int_equal(t2, 0);
	ok(kv_run_nowait(c->kv, nowait_fn, NULL, &t2, &c->err), &c->err);
	t = begin(c, KV_WRITE);
	put(c, t, S("nw3"), S("three"));
	ok(kv_commit_nowait(&t, &t3, &c->err), &c->err);
	ok(kv_wait_durable(c->kv, t3, &c->err), &c->err);
	ok(kv_wait_durable(c->kv, t1, &c->err), &c->err);
	ok(kv_wait_durable(c->kv, t1, &c->err), &c->err);
	ok(kv_wait_durable(c->kv, t2, &c->err), &c->err);
	ok(kv_wait_durable(c->kv, 0, &c->err), &c->err);
	/* after an argument error the transaction commits as usual */
	t = begin(c, KV_WRITE);
	put(c, t, S("nw4"), S("four"));
	assert_int_equal(kv_add(t, S("nw1"), 1, NULL, &c->err), -1);
	buf_reset(&c->err);
	ok(kv_commit_nowait(&t, &t1, &c->err), &c->err);
	ok(kv_wait_durable(c->kv, t1, &c->err), &c->err);
	t = begin(c, KV_READ);
	expect(c, t, S("nw2"), S("two"));
	expect(c, t, S("nw3"), S("three"));
	expect(c, t, S("nw4"), S("four"));
	commit(c, &t);
}

/* ---- kv_sync (store_priv.h), with a sync function of the test's ---- */

struct fsync_fake {
	atomic_int calls;
	atomic_int fail;	/* fail the next sync */
};

static int
fake_sync(void *arg, struct buf *err)
{
	struct fsync_fake *f = arg;

	atomic_fetch_add(&f->calls, 1);
	usleep(500);			/* commits pile up meanwhile */
	if (atomic_exchange(&f->fail, 0) != 0) {
		buf_addf(err, "fake sync failed");
		return -1;
	}
	return 0;
}

struct sync_run {
	struct kv_sync *ks;
	atomic_int errors;
};

static void *
sync_committer(void *arg)
{
	struct sync_run *r = arg;
	struct buf err = BUF_INIT(0);

	for (int i = 0; i < 200; i++)
		if (kv_sync_wait(r->ks, kv_sync_committed(r->ks), &err) < 0)
			atomic_fetch_add(&r->errors, 1);
	buf_free(&err);
	return NULL;
}

/*
 * every commit waits for a sync that began after it; one sync covers
 * many commits; a failed sync fails the commits it covered only
 */
static void
test_kv_sync(void **state)
{
	struct fsync_fake f;
	struct kv_sync ks;
	struct sync_run r = { .ks = &ks };
	pthread_t th[8];
	struct buf err = BUF_INIT(0);
	uint64_t s1, s2;

	(void)state;
	atomic_init(&f.calls, 0);
	atomic_init(&f.fail, 0);
	atomic_init(&r.errors, 0);
	kv_sync_init(&ks, fake_sync, &f);
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&th[i], NULL, sync_committer,
		    &r), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&r.errors), 0);
	assert_int_equal(ks.committed, 1600);
	assert_int_equal(ks.synced, 1600);
	assert_true(atomic_load(&f.calls) < 1600);
	print_message("kv_sync: 1600 commits from 8 threads, %d syncs\n",
	    atomic_load(&f.calls));

	/* already durable: no sync */
	f.calls = 0;
	assert_int_equal(kv_sync_wait(&ks, 5, &err), 0);
	assert_int_equal(atomic_load(&f.calls), 0);
	/* a failed sync: its commit's outcome is unknown; the next is fine */
	s1 = kv_sync_committed(&ks);
	f.fail = 1;
	assert_int_equal(kv_sync_wait(&ks, s1, &err), -1);
	assert_string_equal(buf_cstr(&err), "fake sync failed");
	s2 = kv_sync_committed(&ks);
	buf_reset(&err);
	assert_int_equal(kv_sync_wait(&ks, s2, &err), 0);
	assert_int_equal(kv_sync_wait(&ks, s1, &err), 0);	/* covered */
	assert_int_equal(err.len, 0);
	kv_sync_destroy(&ks);
	buf_free(&err);
}
