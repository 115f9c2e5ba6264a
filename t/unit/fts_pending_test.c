/*
 * fts_pending_test.c - store/fts.h's deferred merge: searches over pending
 * and merged docs against a brute-force model (random index, reindex,
 * remove, merge and abort steps, every query kind, key-level invariants),
 * on the SQLite and RocksDB backends; searches inside the writing
 * transaction; the inline merge at pending_max.
 */
#include "t/unit/fts_fx.h"

/* ---- deferred merge: pending and merged docs against a brute force ---- */

#define P_DOCS 300
#define P_WORDS 24

static const char *const p_words[P_WORDS] = {
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
	"hotel", "india", "juliett", "kilo", "lima", "mike", "november",
	"oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform",
	"victor", "whiskey", "xray",
};

/* the brute-force index: per doc and field, a bit per word */
struct pmodel {
	bool indexed[P_DOCS];
	uint32_t has[P_DOCS][FTS_FIELD_MAX + 1];
};

struct ptest {
	struct env *e;
	struct pmodel m, next;	/* next: the model if the txn commits */
	char term[2][P_WORDS][FTS_TOKEN_MAX + 1];	/* [stemmed?][word] */
	unsigned seed;
	bool abort_txn;
	unsigned merges_due;
};

static unsigned
prnd(struct ptest *p, unsigned n)
{
	p->seed = p->seed * 1103515245u + 12345u;
	return (p->seed >> 16) % n;
}

/* pterm - the indexed form of word x in field f */
static const char *
pterm(const struct ptest *p, unsigned f, unsigned x)
{
	return p->term[(FTS_F(f) & FTS_F_STEMMED) != 0][x];
}

/* p_index_one - a random doc (or a reindex) into the batch and p->next */
static void
p_index_one(struct ptest *p, struct fts_batch *b, uint32_t id,
    struct buf *err)
{
	struct fts_part parts[4];
	struct buf text[4];
	struct fts_doc d = { parts, 0 };

	memset(p->next.has[id], 0, sizeof(p->next.has[id]));
	for (unsigned n = prnd(p, 5); n > 0; n--) {
		unsigned f = FTS_FIELD_MIN + prnd(p, FTS_FIELD_MAX);

		if (d.nparts == ARRAY_SIZE(parts))
			break;
		buf_init(&text[d.nparts], 0);
		for (unsigned w = 1 + prnd(p, 5); w > 0; w--) {
			unsigned x = prnd(p, P_WORDS);

			buf_addf(&text[d.nparts], "%s%s", p_words[x],
			    prnd(p, 4) ? " " : ", ");
			p->next.has[id][f] |= 1u << x;
		}
		parts[d.nparts] = (struct fts_part){ f, text[d.nparts].data,
		    text[d.nparts].len };
		d.nparts++;
	}
	assert_int_equal(fts_batch_index(b, 1, id, &d, err), 0);
	p->next.indexed[id] = true;
	for (size_t i = 0; i < d.nparts; i++)
		buf_free(&text[i]);
}

/*
 * p_txn_fn - 1..12 random index/reindex/remove steps in one batch,
 * flushed at times in between; then commit, or an abort (fn fails) as a
 * crash between steps would
 */
static int
p_txn_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct ptest *p = arg;
	struct fts_batch *b = fts_batch_new(p->e->fts, t);
	unsigned ops = 1 + prnd(p, 12);
	uint32_t due[4];

	p->next = p->m;
	for (unsigned i = 0; i < ops; i++) {
		uint32_t id = prnd(p, P_DOCS);

		if (prnd(p, 4) == 0) {
			assert_int_equal(fts_batch_remove(b, 1, id, err), 0);
			p->next.indexed[id] = false;
			memset(p->next.has[id], 0, sizeof(p->next.has[id]));
		} else {
			p_index_one(p, b, id, err);
		}
		if (prnd(p, 6) == 0)
			assert_int_equal(fts_batch_flush(b, err), 0);
	}
	assert_int_equal(fts_batch_flush(b, err), 0);
	assert_true(fts_batch_merge_due(b, due, ARRAY_SIZE(due)) <= 1);
	if (fts_batch_merge_due(b, due, ARRAY_SIZE(due)) == 1) {
		assert_int_equal(due[0], 1);
		p->merges_due++;
	}
	fts_batch_free(&b);
	if (p->abort_txn) {
		buf_add_str(err, "crash");
		return -1;
	}
	return 0;
}

struct inv_arg {
	roaring_bitmap_t *all, *pending, *listed;
	struct buf lists;	/* "F-key-suffix" of every pair, for a check */
	size_t pairs;
	size_t bad;
};

/* the keys of account 1, checked against the invariants of fts.c */
static int
inv_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	static const unsigned char prefix[5] = { 'F', 0, 0, 0, 1 };
	struct inv_arg *a = arg;
	unsigned char end[5];
	size_t elen = kv_prefix_end(prefix, 5, end);
	struct kv_iter *it;
	const unsigned char *k, *v;
	const void *kp, *vp;
	size_t klen, vlen;
	int rc;

	/* first the bitmaps of 0xfd, 0xfe and the term lists (0xff) */
	if (kv_iter_new(t, prefix, 5, end, elen, false, &it, err) < 0)
		return -1;
	while ((rc = kv_iter_next(it, &kp, &klen, &vp, &vlen, err)) == 1) {
		k = kp;
		v = vp;
		assert_true(klen > 5);
		if (k[5] == 0xfd || k[5] == 0xfe) {
			roaring_bitmap_t *r =
			    roaring_bitmap_portable_deserialize_safe(
			    (const char *)v, vlen);

			assert_non_null(r);
			assert_false(roaring_bitmap_is_empty(r));
			if (k[5] == 0xfd)
				a->pending = r;
			else
				a->all = r;
		} else if (k[5] == 0xff) {
			assert_int_equal(klen, 10);
			roaring_bitmap_add(a->listed, (uint32_t)k[6] << 24 |
			    (uint32_t)k[7] << 16 | (uint32_t)k[8] << 8 | k[9]);
		}
	}
	kv_iter_free(&it);
	assert_int_equal(rc, 0);
	if (a->all == NULL)
		a->all = roaring_bitmap_create();
	if (a->pending == NULL)
		a->pending = roaring_bitmap_create();
	/* indexed iff listed iff in the all-docs bitmap; pending ones too */
	assert_true(roaring_bitmap_equals(a->all, a->listed));
	assert_true(roaring_bitmap_is_subset(a->pending, a->all));

	/* each merged doc in exactly the posting lists its list names */
	{
		roaring_uint32_iterator_t *di = roaring_create_iterator(a->all);
		struct buf key = BUF_INIT(0), val = BUF_INIT(0);
		size_t postings = 0;

		for (; di->has_value; roaring_advance_uint32_iterator(di)) {
			uint32_t doc = di->current_value;
			unsigned char dk[10] = { 'F', 0, 0, 0, 1, 0xff,
			    doc >> 24, doc >> 16 & 0xff, doc >> 8 & 0xff,
			    doc & 0xff };
			size_t off = 1;

			if (roaring_bitmap_contains(a->pending, doc))
				continue;
			buf_reset(&val);
			assert_int_equal(kv_get(t, dk, 10, &val, err), 1);
			while (off < val.len) {
				roaring_bitmap_t *r;
				struct buf pv = BUF_INIT(0);
				unsigned tl = val.data[off + 1];

				buf_reset(&key);
				buf_add(&key, dk, 5);
				buf_add(&key, val.data + off, 1);
				buf_add(&key, val.data + off + 2, tl);
				assert_int_equal(kv_get(t, key.data, key.len,
				    &pv, err), 1);
				r = roaring_bitmap_portable_deserialize_safe(
				    (const char *)pv.data, pv.len);
				assert_non_null(r);
				assert_true(roaring_bitmap_contains(r, doc));
				roaring_bitmap_free(r);
				buf_free(&pv);
				off += 2 + tl;
				a->pairs++;
			}
		}
		roaring_free_uint32_iterator(di);
		/* and no posting list holds more: the bits add up */
		if (kv_iter_new(t, prefix, 5, end, elen, false, &it, err) < 0)
			return -1;
		while ((rc = kv_iter_next(it, &kp, &klen, &vp, &vlen,
		    err)) == 1) {
			roaring_bitmap_t *r;

			k = kp;
			if (k[5] >= 0xfd)
				continue;
			r = roaring_bitmap_portable_deserialize_safe(vp, vlen);
			assert_non_null(r);
			assert_false(roaring_bitmap_is_empty(r));
			assert_false(roaring_bitmap_intersect(r, a->pending));
			assert_true(roaring_bitmap_is_subset(r, a->all));
			postings += roaring_bitmap_get_cardinality(r);
			roaring_bitmap_free(r);
		}
		kv_iter_free(&it);
		assert_int_equal(rc, 0);
		assert_int_equal(postings, a->pairs);
		buf_free(&key);
		buf_free(&val);
	}
	return 0;
}

/* check_invariants - the keys of account 1 agree with each other */
static void
check_invariants(struct env *e)
{
	struct inv_arg a = { .listed = roaring_bitmap_create() };

	assert_int_equal(kv_run(e->kv, KV_READ, inv_fn, &a, &e->err), 0);
	roaring_bitmap_free(a.all);
	roaring_bitmap_free(a.pending);
	roaring_bitmap_free(a.listed);
}

/* p_word - the index of the word a non-prefix TERM asks for */
static unsigned
p_word(const struct fts_query *q)
{
	for (unsigned y = 0; y < P_WORDS; y++)
		if (strlen(p_words[y]) == q->len &&
		    memcmp(p_words[y], q->text, q->len) == 0)
			return y;
	fail_msg("query word %.*s", (int)q->len, q->text);
	return 0;
}

/* p_eval - whether doc matches q, by brute force over the model */
static bool
p_eval(const struct ptest *p, const struct fts_query *q, uint32_t doc)
{
	const struct fts_query *c;

	switch (q->op) {
	case FTS_Q_TERM:
		for (unsigned f = FTS_FIELD_MIN; f <= FTS_FIELD_MAX; f++) {
			if ((q->fields & FTS_F(f)) == 0)
				continue;
			for (unsigned x = 0; x < P_WORDS; x++) {
				const char *t = pterm(p, f, x);

				if ((p->m.has[doc][f] & (1u << x)) == 0)
					continue;
				if (q->prefix ? strncmp(t, q->text, q->len) ==
				    0 : strcmp(t, pterm(p, f, p_word(q))) == 0)
					return true;
			}
		}
		return false;
	case FTS_Q_NOT:
		return !p_eval(p, q->child, doc);
	case FTS_Q_AND:
		for (c = q->child; c != NULL; c = c->next)
			if (!p_eval(p, c, doc))
				return false;
		return true;
	case FTS_Q_OR:
		for (c = q->child; c != NULL; c = c->next)
			if (p_eval(p, c, doc))
				return true;
		return false;
	}
	return false;
}

/* p_query - a random tree: terms (per field or any, prefixes), ops */
static struct fts_query *
p_query(struct ptest *p, unsigned depth)
{
	static const unsigned fields[] = { FTS_F_ANY, FTS_F(FTS_SUBJECT),
	    FTS_F(FTS_FROM), FTS_F(FTS_BODY), FTS_F(FTS_ATTACHMENT),
	    FTS_F(FTS_TO) | FTS_F(FTS_CC) };
	unsigned kind = depth >= 3 ? 0 : prnd(p, 6);
	struct fts_query *q;

	if (kind <= 1) {
		unsigned x = prnd(p, P_WORDS);
		unsigned f = fields[prnd(p, ARRAY_SIZE(fields))];
		/* the query word as written: stemmed like a doc's */
		const char *w = p_words[x];

		if (kind == 1)	/* a prefix of a stem or word, 1..3 bytes */
			return fts_query_term(f, w, 1 + prnd(p, 3), true);
		return fts_query_term(f, w, strlen(w), false);
	}
	if (kind == 2)
		return fts_query_add(fts_query_op(FTS_Q_NOT),
		    p_query(p, depth + 1));
	q = fts_query_op(kind == 3 ? FTS_Q_OR : FTS_Q_AND);
	for (unsigned n = prnd(p, 4); n > 0; n--)
		fts_query_add(q, p_query(p, depth + 1));
	return q;
}

/* p_check - n random queries and "every doc" against the model */
static void
p_check(struct ptest *p, unsigned n)
{
	for (unsigned i = 0; i <= n; i++) {
		struct fts_query *q = i == n ?
		    fts_query_op(FTS_Q_AND) : p_query(p, 0);
		roaring_bitmap_t *want = roaring_bitmap_create(), *got = NULL;
		struct kv_txn *t;

		for (uint32_t d = 0; d < P_DOCS; d++)
			if (p->m.indexed[d] && p_eval(p, q, d))
				roaring_bitmap_add(want, d);
		assert_int_equal(kv_begin(p->e->kv, KV_READ, &t, &p->e->err),
		    0);
		if (fts_search(p->e->fts, t, 1, q, NULL, &got, &p->e->err) < 0)
			fail_msg("search: %s", buf_cstr(&p->e->err));
		kv_abort(&t);
		if (!roaring_bitmap_equals(want, got)) {
			char w[4096];

			snprintf(w, sizeof(w), "%s", bits(want));
			fail_msg("query %u (op %d, fields %#x, \"%.*s\"%s): "
			    "want \"%s\", got \"%s\"", i, (int)q->op,
			    q->fields, (int)q->len, q->text != NULL ? q->text :
			    "", q->prefix ? "*" : "", w, bits(got));
		}
		roaring_bitmap_free(want);
		roaring_bitmap_free(got);
		fts_query_free(&q);
	}
}

static uint64_t
p_pending(struct ptest *p)
{
	struct kv_txn *t;
	uint64_t n;

	assert_int_equal(kv_begin(p->e->kv, KV_READ, &t, &p->e->err), 0);
	assert_int_equal(fts_pending(p->e->fts, t, 1, &n, &p->e->err), 0);
	kv_abort(&t);
	return n;
}

static void
test_pending_model(void **state)
{
	const char *backend = *state != NULL ? *state : "sqlite";
	struct fts_limits lim = { .pending_due = 6, .pending_max = 40 };
	struct ptest *p = calloc(1, sizeof(*p));
	struct fts_stemmer *st;
	struct buf out = BUF_INIT(0), err = BUF_INIT(0);
	char path[32];
	unsigned merges = 0, aborts = 0;

	assert_true(snprintf(path, sizeof(path), "pending-%s", backend) <
	    (int)sizeof(path));
	p->e = env_open_lim(backend, path, &lim);
	p->seed = 2024;
	assert_int_equal(fts_stemmer_new("english", &st, &err), 0);
	for (unsigned x = 0; x < P_WORDS; x++) {
		fts_stem(st, p_words[x], strlen(p_words[x]), &out);
		assert_true(out.len <= FTS_TOKEN_MAX);
		memcpy(p->term[1][x], out.data, out.len);
		memcpy(p->term[0][x], p_words[x], strlen(p_words[x]));
	}
	fts_stemmer_free(&st);

	for (int round = 0; round < 160; round++) {
		int rc;

		p->abort_txn = prnd(p, 7) == 0;
		rc = kv_run(p->e->kv, KV_WRITE, p_txn_fn, p, &p->e->err);
		assert_int_equal(rc, p->abort_txn ? -1 : 0);
		if (rc == 0)
			p->m = p->next;
		else
			aborts++;
		assert_true(p_pending(p) < lim.pending_max);
		p_check(p, 12);
		if (round % 10 == 9)
			check_invariants(p->e);
		/* a merge now and then, as a delivery does when due */
		if (prnd(p, 5) == 0) {
			merge(p->e, 1);
			merges++;
			assert_int_equal(p_pending(p), 0);
			p_check(p, 12);
			check_invariants(p->e);
			/* idempotent: a second merge changes nothing */
			merge(p->e, 1);
			p_check(p, 4);
		}
	}
	check_invariants(p->e);
	assert_true(merges > 10 && aborts > 10 && p->merges_due > 10);
	buf_free(&out);
	buf_free(&err);
	env_close(p->e);
	free(p);
}

/* searches in the writing transaction, around flushes and merges */
static int
pending_txn_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct env *e = arg;
	struct fts_batch *b = fts_batch_new(e->fts, t);
	struct fts_part p = { FTS_BODY, "kiwi mango", 10 };
	struct fts_doc d = { &p, 1 };
	struct fts_query *q = fts_query_term(FTS_F_ANY, "kiwi", 4, false);
	roaring_bitmap_t *r;
	uint64_t n;

	for (uint32_t id = 1; id <= 5; id++)
		assert_int_equal(fts_batch_index(b, 1, id, &d, err), 0);
	assert_int_equal(fts_batch_flush(b, err), 0);
	assert_int_equal(fts_pending(e->fts, t, 1, &n, err), 0);
	assert_int_equal(n, 5);
	assert_int_equal(fts_batch_stats(b).merges, 0);
	assert_int_equal(fts_search(e->fts, t, 1, q, NULL, &r, err), 0);
	assert_string_equal(bits(r), "1 2 3 4 5");
	roaring_bitmap_free(r);
	/* merge 1..5; then 4 pending again by a reindex, 6 new, 2 gone */
	assert_int_equal(fts_merge(e->fts, t, 1, err), 0);
	assert_int_equal(fts_merge(e->fts, t, 1, err), 0);
	p.text = "mango";
	p.len = 5;
	assert_int_equal(fts_batch_index(b, 1, 4, &d, err), 0);
	assert_int_equal(fts_batch_index(b, 1, 6, &d, err), 0);
	assert_int_equal(fts_batch_remove(b, 1, 2, err), 0);
	assert_int_equal(fts_batch_flush(b, err), 0);
	assert_int_equal(fts_pending(e->fts, t, 1, &n, err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(fts_search(e->fts, t, 1, q, NULL, &r, err), 0);
	assert_string_equal(bits(r), "1 3 5");
	roaring_bitmap_free(r);
	/* a pending doc removed, a pending doc reindexed */
	assert_int_equal(fts_batch_remove(b, 1, 6, err), 0);
	p.text = "kiwi";
	p.len = 4;
	assert_int_equal(fts_batch_index(b, 1, 4, &d, err), 0);
	assert_int_equal(fts_batch_flush(b, err), 0);
	assert_int_equal(fts_pending(e->fts, t, 1, &n, err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(fts_search(e->fts, t, 1, q, NULL, &r, err), 0);
	assert_string_equal(bits(r), "1 3 4 5");
	roaring_bitmap_free(r);
	fts_batch_free(&b);
	fts_query_free(&q);
	return 0;
}

/*
 * pending and merged docs, removal and reindexing of both, merges in and
 * out of the writing transaction; the flush that reaches pending_max
 * merges by itself
 */
static void
test_pending(void **state)
{
	struct fts_limits lim = { .pending_due = 3, .pending_max = 8 };
	struct env *e = env_open_lim("sqlite", "pending.db", &lim);
	struct doc d[10];
	size_t n0;

	assert_int_equal(kv_run(e->kv, KV_WRITE, pending_txn_fn, e, &e->err),
	    0);
	assert_string_equal(SEARCH(e, "kiwi"), "1 3 4 5");
	assert_string_equal(SEARCH(e, "mango"), "1 3 5");
	assert_string_equal(SEARCH(e, "-mango"), "4");
	assert_string_equal(SEARCH(e, "body:ma*"), "1 3 5");
	check_invariants(e);
	n0 = keys(e, 1, 0);
	merge(e, 1);
	merge(e, 1);			/* idempotent */
	assert_string_equal(SEARCH(e, "kiwi"), "1 3 4 5");
	assert_string_equal(SEARCH(e, "body:ma*"), "1 3 5");
	assert_int_equal(keys(e, 1, 0), n0 - 1);	/* the pending set */
	check_invariants(e);

	/* one doc per transaction: the 8th pending doc's flush merges */
	for (uint32_t i = 0; i < 10; i++) {
		d[i] = (struct doc)DOC(1, 100 + i, SUBJ("papaya"));
		assert_int_equal(apply(e, &d[i], 1), 0);
		assert_string_equal(SEARCH(e, "subject:papaya -kiwi"),
		    i == 0 ? "100" : i == 1 ? "100 101" : SEARCH(e,
		    "papaya"));
	}
	assert_int_equal(keys(e, 1, FTS_SUBJECT), 1);
	check_invariants(e);
	/* everything out: not one key left */
	for (uint32_t id = 1; id <= 109; id++) {
		struct doc rm = RM(1, id);

		assert_int_equal(apply(e, &rm, 1), 0);
	}
	assert_int_equal(keys(e, 1, 0), 0);
	env_close(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_pending_model, "sqlite"),
		cmocka_unit_test_prestate(test_pending_model, "rocksdb"),
		cmocka_unit_test(test_pending),
	};

	/* e.g. FTS_TEST=test_bench for the figures alone */
	if (getenv("FTS_TEST") != NULL)
		cmocka_set_test_filter(getenv("FTS_TEST"));

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
