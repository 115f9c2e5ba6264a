/*
 * fts_test.c - store/fts.h's index over the real kv backends (the
 * tokenizer is fts_token_test.c, the deferred merge fts_pending_test.c):
 * fields, AND/OR/NOT, prefixes, universes, removal and reindexing (no key
 * left behind), batch merging against an in-memory model, limits, corrupt
 * values, and an injected kv failure at every step (nothing half
 * written).  Last, a benchmark that prints index rate and query latency
 * (figures only, no assertions; FTS_BENCH_DOCS sets its size).
 */
#include "t/unit/fts_fx.h"

static const struct doc mails[] = {
	DOC(1, 1, SUBJ("Invoice for March"),
	    FROM("Alice Smith <alice@example.com>"), TO("bob@example.org"),
	    BODY("Please find the invoice attached. Running late."),
	    ATT("Invoice total: 1,234.56 EUR")),
	DOC(1, 2, SUBJ("Lunch tomorrow?"), FROM("Bob <bob@example.org>"),
	    TO("alice@example.com"), CC("Carol <carol@example.net>"),
	    BODY("Are we still running to the caf\u00e9?")),
	DOC(1, 3, SUBJ("Re: Invoice for March"),
	    FROM("Carol <carol@example.net>"), TO("alice@example.com"),
	    BCC("dave@example.com"),
	    BODY("Paid the invoices. \u00dcbergr\u00f6\u00dfentr\u00e4ger "
	    "\u6771\u4eac")),
	DOC(1, 4, SUBJ("Newsletter"), FROM("news@lists.example.com"),
	    TO("alice@example.com"), BODY("Mails and more mails")),
	/* another account, same doc numbers */
	DOC(2, 1, SUBJ("Lunch"), BODY("invoice")),
};

static void
test_search(void **state)
{
	const char *backend = *state != NULL ? *state : "sqlite";
	static const struct { const char *q, *want; } cases[] = {
		{ "subject:invoice", "1 3" },
		{ "invoice", "1 3" },
		{ "INVOICES", "1 3" },
		{ "from:alice", "1" },
		{ "from:smith", "1" },
		{ "from:alice@example.com", "1" },
		{ "from:Alice@Example.COM", "1" },
		{ "to:alice@example.com", "2 3 4" },
		{ "to:example.com", "2 3 4" },
		{ "from:example.com", "1 4" },
		{ "\"alice smith\"", "1" },
		{ "alice invoice", "1 3" },	/* alice in To of 3 */
		{ "cc:carol", "2" },
		{ "bcc:dave", "3" },
		{ "to:dave", "" },
		{ "body:run", "1 2" },
		{ "body:running", "1 2" },
		{ "subject:running", "" },
		{ "body:cafe", "2" },
		{ "body:caf\u00e9", "2" },
		{ "\u00fcbergr\u00f6\u00dfentr\u00e4ger", "3" },
		{ "UBERGROSSENTRAGER", "3" },
		{ "\u6771\u4eac", "3" },
		{ "\u4eac\u6771", "3" },	/* unigrams: not a phrase */
		{ "body:mail", "4" },
		{ "1,234.56", "1" },
		{ "att:eur", "1" },
		{ "body:eur", "" },
		{ "nothing", "" },
		{ "", "1 2 3 4" },
		{ "\"!!\"", "1 2 3 4" },
		{ "invoice -from:carol", "1" },
		{ "-invoice", "2 4" },
		{ "-invoice -lunch", "4" },
		{ "--invoice", "1 3" },
		{ "lunch | newsletter", "2 4" },
		{ "(subject:invoice | subject:lunch) -body:paid", "1 2" },
		{ "-(invoice | lunch) | bcc:dave", "3 4" },
		{ "subject:inv*", "1 3" },
		{ "from:ali*", "1" },
		{ "to:example.c*", "2 3 4" },
		{ "invoi*", "1 3" },
		{ "zzz*", "" },
		{ "runn*", "" },	/* prefixes meet stems: "run" */
	};
	struct env *e = env_open(backend, backend);
	roaring_bitmap_t *u = roaring_bitmap_of(2, 2, 3);

	assert_int_equal(apply(e, mails, ARRAY_SIZE(mails)), 0);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got = SEARCH(e, cases[i].q);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].q,
			    got, cases[i].want);
	}
	/* accounts are apart */
	assert_string_equal(search_in(e, 2, "invoice", NULL), "1");
	assert_string_equal(search_in(e, 2, "from:alice", NULL), "");
	assert_string_equal(search_in(e, 3, "-x", NULL), "");
	/* a universe of the caller's bounds every answer */
	assert_string_equal(search_in(e, 1, "invoice", u), "3");
	assert_string_equal(search_in(e, 1, "-invoice", u), "2");
	assert_string_equal(search_in(e, 1, "", u), "2 3");
	roaring_bitmap_free(u);
	env_close(e);
}

static void
test_remove_reindex(void **state)
{
	const char *backend = *state != NULL ? *state : "sqlite";
	char path[32];
	struct env *e;
	struct doc d;

	assert_true(snprintf(path, sizeof(path), "remove-%s", backend) <
	    (int)sizeof(path));
	e = env_open(backend, path);
	assert_int_equal(apply(e, mails, ARRAY_SIZE(mails)), 0);
	/* pending: in no posting list until merged */
	assert_int_equal(keys(e, 1, FTS_ATTACHMENT), 0);
	assert_string_equal(SEARCH(e, "att:eur"), "1");
	merge(e, 1);
	assert_true(keys(e, 1, FTS_ATTACHMENT) > 0);
	d = (struct doc)RM(1, 1);
	assert_int_equal(apply(e, &d, 1), 0);
	assert_string_equal(SEARCH(e, "invoice"), "3");
	assert_string_equal(SEARCH(e, "-zzz"), "2 3 4");
	assert_int_equal(keys(e, 1, FTS_ATTACHMENT), 0);	/* doc 1 only */
	/* removing twice, or a doc never indexed, is no error */
	assert_int_equal(apply(e, &d, 1), 0);
	d.id = 99;
	assert_int_equal(apply(e, &d, 1), 0);

	/* reindex: old words gone, new ones in */
	d = (struct doc)DOC(1, 2, SUBJ("Dinner tonight"), FROM("Bob"));
	assert_int_equal(apply(e, &d, 1), 0);
	assert_string_equal(SEARCH(e, "lunch"), "");
	assert_string_equal(SEARCH(e, "cc:carol"), "");
	assert_string_equal(SEARCH(e, "dinner"), "2");
	assert_string_equal(SEARCH(e, "from:bob"), "2");
	/* a doc without words is indexed (it is in the universe) */
	d = (struct doc)DOC(1, 7, BODY("!!!"));
	assert_int_equal(apply(e, &d, 1), 0);
	assert_string_equal(SEARCH(e, "-zzz"), "2 3 4 7");

	/* all gone: not one 'F' key of account 1 left */
	for (uint32_t id = 1; id <= 7; id++) {
		d = (struct doc)RM(1, id);
		assert_int_equal(apply(e, &d, 1), 0);
	}
	assert_int_equal(keys(e, 1, 0), 0);
	assert_true(keys(e, 2, 0) > 0);
	env_close(e);
}

/* ---- batches against a model ---- */

#define M_DOCS 40
#define M_WORDS 12

static const char *const m_words[M_WORDS] = {
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf",
	"hotel", "india", "juliett", "kilo", "lima",
};

struct model {
	struct env *e;
	bool indexed[M_DOCS];
	uint16_t has[M_DOCS][FTS_FIELD_MAX + 1];	/* word bits */
	unsigned seed;
};

static unsigned
rnd(struct model *m, unsigned n)
{
	m->seed = m->seed * 1103515245u + 12345u;
	return (m->seed >> 16) % n;
}

static int
model_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct model *m = arg;
	struct fts_batch *b = fts_batch_new(m->e->fts, t);
	unsigned ops = 1 + rnd(m, 30);

	for (unsigned i = 0; i < ops; i++) {
		uint32_t id = rnd(m, M_DOCS);
		struct fts_part parts[4];
		struct buf text[4];
		struct fts_doc d = { parts, 0 };

		if (rnd(m, 3) == 0) {
			assert_int_equal(fts_batch_remove(b, 1, id, err), 0);
			m->indexed[id] = false;
			memset(m->has[id], 0, sizeof(m->has[id]));
		} else {
			memset(m->has[id], 0, sizeof(m->has[id]));
			for (unsigned p = rnd(m, 4); p > 0; p--) {
				unsigned f = FTS_FIELD_MIN + rnd(m, FTS_FIELD_MAX);

				buf_init(&text[d.nparts], 0);
				for (unsigned w = rnd(m, 4); w > 0; w--) {
					unsigned x = rnd(m, M_WORDS);

					buf_addf(&text[d.nparts], "%s, ",
					    m_words[x]);
					m->has[id][f] |= 1u << x;
				}
				parts[d.nparts] = (struct fts_part){ f,
				    text[d.nparts].data, text[d.nparts].len };
				d.nparts++;
			}
			assert_int_equal(fts_batch_index(b, 1, id, &d, err), 0);
			m->indexed[id] = true;
			for (size_t p = 0; p < d.nparts; p++)
				buf_free(&text[p]);
		}
		if (rnd(m, 8) == 0)
			assert_int_equal(fts_batch_flush(b, err), 0);
	}
	assert_int_equal(fts_batch_flush(b, err), 0);
	assert_true(fts_batch_stats(b).docs_indexed +
	    fts_batch_stats(b).docs_removed <= ops);
	fts_batch_free(&b);
	assert_null(b);
	return 0;
}

static void
test_batch_model(void **state)
{
	struct model m = { .e = env_open("sqlite", "model.db"), .seed = 7 };
	char q[64];

	for (int round = 0; round < 25; round++) {
		assert_int_equal(kv_run(m.e->kv, KV_WRITE, model_fn, &m,
		    &m.e->err), 0);
		for (unsigned f = FTS_FIELD_MIN; f <= FTS_FIELD_MAX; f++) {
			static const char *const name[] = { "", "subject:",
			    "from:", "to:", "cc:", "bcc:", "body:", "att:" };

			for (unsigned x = 0; x < M_WORDS; x++) {
				struct buf want = BUF_INIT(0);

				for (uint32_t id = 0; id < M_DOCS; id++)
					if (m.has[id][f] & (1u << x))
						buf_addf(&want, "%s%u",
						    want.len ? " " : "", id);
				assert_true(snprintf(q, sizeof(q), "%s%s",
				    name[f], m_words[x]) < (int)sizeof(q));
				assert_string_equal(SEARCH(m.e, q),
				    buf_cstr(&want));
				buf_free(&want);
			}
		}
		{
			struct buf want = BUF_INIT(0);

			for (uint32_t id = 0; id < M_DOCS; id++)
				if (m.indexed[id])
					buf_addf(&want, "%s%u",
					    want.len ? " " : "", id);
			assert_string_equal(SEARCH(m.e, ""), buf_cstr(&want));
			buf_free(&want);
		}
	}
	env_close(m.e);
}

/* a batch: changes are seen only after flush; last operation wins */
static int
batch_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct env *e = arg;
	struct fts_batch *b = fts_batch_new(e->fts, t);
	struct fts_part p = { FTS_BODY, "kiwi", 4 };
	struct fts_doc d = { &p, 1 };
	struct fts_query *q = fts_query_term(FTS_F_ANY, "kiwi", 4, false);
	roaring_bitmap_t *r;

	assert_int_equal(fts_batch_index(b, 1, 10, &d, err), 0);
	assert_int_equal(fts_batch_remove(b, 1, 10, err), 0);
	assert_int_equal(fts_batch_remove(b, 1, 11, err), 0);
	assert_int_equal(fts_batch_index(b, 1, 11, &d, err), 0);
	assert_int_equal(fts_batch_index(b, 1, 12, &d, err), 0);
	assert_int_equal(fts_search(e->fts, t, 1, q, NULL, &r, err), 0);
	assert_string_equal(bits(r), "");
	roaring_bitmap_free(r);
	assert_int_equal(fts_batch_flush(b, err), 0);
	assert_int_equal(fts_search(e->fts, t, 1, q, NULL, &r, err), 0);
	assert_string_equal(bits(r), "11 12");
	roaring_bitmap_free(r);
	assert_int_equal(fts_batch_stats(b).docs_indexed, 3);
	assert_int_equal(fts_batch_stats(b).docs_removed, 1);
	/* reindexing the same text changes no posting list */
	assert_int_equal(fts_batch_index(b, 1, 11, &d, err), 0);
	assert_int_equal(fts_batch_flush(b, err), 0);
	assert_int_equal(fts_batch_stats(b).lists_written, 2);
	fts_batch_free(&b);
	fts_query_free(&q);
	return 0;
}

static void
test_batch(void **state)
{
	struct env *e = env_open("sqlite", "batch.db");

	assert_int_equal(kv_run(e->kv, KV_WRITE, batch_fn, e, &e->err), 0);
	assert_string_equal(SEARCH(e, "kiwi"), "11 12");
	env_close(e);
}

static void
test_query_limits(void **state)
{
	struct fts_query *q = fts_query_term(FTS_F_ANY, "a", 1, false), *or;
	struct buf err = BUF_INIT(0), text = BUF_INIT(0);
	struct env *e = env_open("sqlite", "limits.db");

	assert_int_equal(fts_query_check(NULL, &err), -1);
	for (int i = 0; i < 31; i++)
		q = fts_query_add(fts_query_op(FTS_Q_NOT), q);
	assert_int_equal(fts_query_check(q, &err), 0);	/* term at depth 32 */
	q = fts_query_add(fts_query_op(FTS_Q_NOT), q);
	assert_int_equal(fts_query_check(q, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "deeper"));
	fts_query_free(&q);

	or = fts_query_op(FTS_Q_OR);
	for (int i = 0; i < 999; i++)
		fts_query_add(or, fts_query_term(FTS_F_ANY, "x", 1, false));
	assert_int_equal(fts_query_check(or, &err), 0);
	fts_query_add(or, fts_query_term(FTS_F_ANY, "x", 1, false));
	assert_int_equal(fts_query_check(or, &err), -1);
	fts_query_free(&or);

	{
		struct fts_query t = { .op = FTS_Q_TERM, .fields = 0 };
		struct fts_query two[2] = { t, t }, n = { .op = FTS_Q_NOT };

		assert_int_equal(fts_query_check(&t, &err), -1);
		t.fields = FTS_F(0);
		assert_int_equal(fts_query_check(&t, &err), -1);
		t.fields = FTS_F(FTS_FIELD_MAX + 1);
		assert_int_equal(fts_query_check(&t, &err), -1);
		t.fields = FTS_F(FTS_BODY);
		assert_int_equal(fts_query_check(&t, &err), 0);
		t.next = &two[0];
		assert_int_equal(fts_query_check(&t, &err), -1);	/* root */
		t.next = NULL;
		t.child = &two[0];
		assert_int_equal(fts_query_check(&t, &err), -1);
		assert_int_equal(fts_query_check(&n, &err), -1);
		two[0].fields = two[1].fields = FTS_F_ANY;
		two[0].next = &two[1];
		n.child = &two[0];
		assert_int_equal(fts_query_check(&n, &err), -1);
		n.op = (enum fts_query_op)99;
		assert_int_equal(fts_query_check(&n, &err), -1);
		n.op = FTS_Q_AND;
		assert_int_equal(fts_query_check(&n, &err), 0);
	}

	/* words in one term: 64 fine, 65 refused */
	buf_add_str(&text, "\"w0");
	for (int i = 1; i < 64; i++)
		buf_addf(&text, " w%d", i);
	buf_add_str(&text, "\"");
	assert_string_equal(SEARCH(e, buf_cstr(&text)), "");
	buf_truncate(&text, text.len - 1);
	buf_add_str(&text, "-x\"");
	assert_non_null(strstr(SEARCH(e, buf_cstr(&text)), "more than 64"));
	buf_free(&text);
	buf_free(&err);
	env_close(e);
}

/* bounds, small here (the defaults are big): terms, tokens, prefixes */
struct big_arg {
	struct env *e;
	struct buf text[2];
};

static int
big_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct big_arg *a = arg;
	struct fts_batch *b = fts_batch_new(a->e->fts, t);

	for (uint32_t id = 1; id <= 2; id++) {
		struct fts_part p = { FTS_BODY, a->text[id - 1].data,
		    a->text[id - 1].len };

		assert_int_equal(fts_batch_index(b, 1, id,
		    &(struct fts_doc){ &p, 1 }, err), 0);
	}
	assert_int_equal(fts_batch_flush(b, err), 0);
	assert_int_equal(fts_batch_stats(b).docs_truncated, 2);
	/* the token that hit the term bound was read too */
	assert_int_equal(fts_batch_stats(b).tokens, 1001 + 5000);
	fts_batch_free(&b);
	return 0;
}

static void
test_big_doc(void **state)
{
	struct fts_limits lim = { .doc_tokens = 5000, .doc_terms = 1000,
	    .prefix_terms = 100 };
	struct big_arg a = { env_open_lim("sqlite", "big.db", &lim),
	    { BUF_INIT(0), BUF_INIT(0) } };
	struct env *e = a.e;
	struct doc d = RM(1, 1);

	for (unsigned i = 0; i < 1010; i++)
		buf_addf(&a.text[0], "x%u ", i);
	for (unsigned i = 0; i < 6000; i++)
		buf_addf(&a.text[1], "y%u ", i % 10);
	buf_add_str(&a.text[1], "zfinal");
	assert_int_equal(kv_run(e->kv, KV_WRITE, big_fn, &a, &e->err), 0);
	/* pending, then merged: the same answers */
	assert_string_equal(SEARCH(e, "x999"), "1");
	assert_non_null(strstr(SEARCH(e, "x*"), "more than 100 terms"));
	assert_string_equal(SEARCH(e, "x99*"), "1");
	merge(e, 1);
	/* doc 1 cut at 1000 terms, doc 2 at 5000 tokens */
	assert_int_equal(keys(e, 1, FTS_BODY), 1000 + 10);
	assert_string_equal(SEARCH(e, "x999"), "1");
	assert_string_equal(SEARCH(e, "x1000"), "");
	assert_string_equal(SEARCH(e, "y9"), "2");
	assert_string_equal(SEARCH(e, "zfinal"), "");
	assert_non_null(strstr(SEARCH(e, "x*"), "more than 100 terms"));
	assert_string_equal(SEARCH(e, "x99*"), "1");	/* 11 terms */
	assert_int_equal(apply(e, &d, 1), 0);
	d.id = 2;
	assert_int_equal(apply(e, &d, 1), 0);
	assert_int_equal(keys(e, 1, 0), 0);
	buf_free(&a.text[0]);
	buf_free(&a.text[1]);
	env_close(e);
}

static int
put_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	const struct buf *kv = arg;

	return kv_put(t, kv[0].data, kv[0].len, kv[1].data, kv[1].len, err);
}

static void
put_raw(struct env *e, const void *k, size_t klen, const void *v,
    size_t vlen)
{
	struct buf kv[2] = { BUF_INIT(0), BUF_INIT(0) };

	buf_add(&kv[0], k, klen);
	buf_add(&kv[1], v, vlen);
	assert_int_equal(kv_run(e->kv, KV_WRITE, put_fn, kv, &e->err), 0);
	buf_free(&kv[0]);
	buf_free(&kv[1]);
}

static void
test_corrupt(void **state)
{
	static const struct { const char *name; size_t vlen; const char *v; } lists[] = {
		{ "empty", 0, "" },
		{ "garbage", 5, "hello" },
		{ "cookie only", 4, "\x3a\x30\x00\x00" },
	};
	static const unsigned char kiwi[] = { 'F', 0, 0, 0, 1, FTS_BODY,
	    'k', 'i', 'w', 'i' };
	static const unsigned char doc5[] = { 'F', 0, 0, 0, 1, 0xff,
	    0, 0, 0, 5 };
	static const struct { const char *name; size_t vlen; const char *v; } terms[] = {
		{ "empty", 0, "" },
		{ "version", 1, "\x02" },
		{ "field 0", 4, "\x01\x00\x01x" },
		{ "field 8", 4, "\x01\x08\x01x" },
		{ "length 0", 3, "\x01\x06\x00" },
		{ "past the end", 4, "\x01\x06\x05x" },
		{ "half a pair", 2, "\x01\x06" },
	};
	struct env *e = env_open("sqlite", "corrupt.db");
	struct doc rm = RM(1, 5);

	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		put_raw(e, kiwi, sizeof(kiwi), lists[i].v, lists[i].vlen);
		if (strstr(SEARCH(e, "body:kiwi"), "corrupt") == NULL)
			fail_msg("posting list %s: %s", lists[i].name,
			    SEARCH(e, "body:kiwi"));
		assert_non_null(strstr(SEARCH(e, "body:kiw*"), "corrupt"));
	}
	for (size_t i = 0; i < ARRAY_SIZE(terms); i++) {
		put_raw(e, doc5, sizeof(doc5), terms[i].v, terms[i].vlen);
		assert_int_equal(apply(e, &rm, 1), -1);
		if (strstr(buf_cstr(&e->err), "corrupt term list") == NULL)
			fail_msg("term list %s: %s", terms[i].name,
			    buf_cstr(&e->err));
	}
	/* a good list: the doc's words go, a bad posting list is an error */
	put_raw(e, doc5, sizeof(doc5), "\x01\x06\x04kiwi", 7);
	assert_int_equal(apply(e, &rm, 1), -1);
	assert_non_null(strstr(buf_cstr(&e->err), "corrupt posting list"));
	env_close(e);
}

/*
 * An injected kv failure at each step of a transaction that reindexes,
 * adds and removes: -1 leaves the index exactly as before, a conflict is
 * retried by kv_run and ends in the full change.
 */
static void
test_failinject(void **state)
{
	static const struct doc change[] = {
		DOC(1, 2, SUBJ("Dinner"), BODY("invoice")),
		DOC(1, 5, SUBJ("Kiwi"), TO("alice@example.com")),
		RM(1, 3),
	};
	static const struct { const char *q, *before, *after; } checks[] = {
		{ "invoice", "1 3", "1 2" },
		{ "lunch", "2", "" },
		{ "to:alice@example.com", "2 3 4", "4 5" },
		{ "", "1 2 3 4", "1 2 4 5" },
	};
	struct env *e = env_open("failinject:sqlite", "fi.db");
	unsigned steps = 0;

	for (int pass = 0; pass < 2; pass++) {
		int result = pass == 0 ? -1 : KV_CONFLICT;

		for (unsigned nth = 1;; nth++) {
			size_t nkeys;
			int rc, failed;
			bool last;

			assert_int_equal(apply(e, mails, 4), 0);
			nkeys = keys(e, 1, 0);
			kv_failinject_set(e->kv, KV_FI_ALL, nth, result);
			rc = apply_fts(e, change, ARRAY_SIZE(change), &failed);
			last = !kv_failinject_fired(e->kv);
			kv_failinject_set(e->kv, 0, 0, -1);
			assert_int_equal(rc, result == -1 && !last ? -1 : 0);
			/* fts hands the kv error up as it came */
			assert_true(failed == 0 || failed == result);
			for (size_t i = 0; i < ARRAY_SIZE(checks); i++)
				assert_string_equal(SEARCH(e, checks[i].q),
				    rc < 0 ? checks[i].before :
				    checks[i].after);
			if (rc < 0)
				assert_int_equal(keys(e, 1, 0), nkeys);
			/* back to the start: remove everything */
			for (uint32_t id = 1; id <= 5; id++) {
				struct doc d = RM(1, id);

				assert_int_equal(apply(e, &d, 1), 0);
			}
			steps++;
			if (last)
				break;
		}
	}
	assert_true(steps > 20);
	env_close(e);
}

/* ---- benchmark: figures printed, nothing asserted ---- */

#define B_VOCAB 50000

struct bench {
	struct env *e;
	double cum[B_VOCAB];	/* Zipf(1) cumulative weights */
	unsigned seed;
	uint32_t next, n;	/* docs to index in this transaction */
	uint64_t tokens;
};

static unsigned
b_rnd(struct bench *b)
{
	b->seed = b->seed * 1103515245u + 12345u;
	return b->seed >> 1;
}

/*
 * b_word - a Zipf-distributed word, letters only: rank 0 is "ba", then
 * "bb" ... "bz", "ca", ...
 */
static void
b_word(struct bench *b, struct buf *out)
{
	double x = (double)(b_rnd(b) % 1000000) / 1000000 * b->cum[B_VOCAB - 1];
	size_t lo = 0, hi = B_VOCAB - 1;
	char w[8], *p = w + sizeof(w);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (b->cum[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	*--p = ' ';
	for (size_t r = lo + 26; r > 0; r /= 26)
		*--p = "abcdefghijklmnopqrstuvwxyz"[r % 26];
	buf_add(out, p, (size_t)(w + sizeof(w) - p));
}

static int
bench_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct bench *b = arg;
	struct fts_batch *bt = fts_batch_new(b->e->fts, t);
	struct buf f[4] = { BUF_INIT(0), BUF_INIT(0), BUF_INIT(0),
	    BUF_INIT(0) };
	int rc = 0;

	for (uint32_t i = 0; i < b->n && rc == 0; i++) {
		struct fts_part p[4];

		for (int k = 0; k < 4; k++)
			buf_reset(&f[k]);
		for (int w = 0; w < 6; w++)
			b_word(b, &f[0]);
		buf_addf(&f[1], "User %u <user%u@host%u.example.com>",
		    b_rnd(b) % 500, b_rnd(b) % 500, b_rnd(b) % 20);
		buf_addf(&f[2], "user%u@example.org", b_rnd(b) % 500);
		for (int w = 0; w < 200; w++)
			b_word(b, &f[3]);
		p[0] = (struct fts_part){ FTS_SUBJECT, f[0].data, f[0].len };
		p[1] = (struct fts_part){ FTS_FROM, f[1].data, f[1].len };
		p[2] = (struct fts_part){ FTS_TO, f[2].data, f[2].len };
		p[3] = (struct fts_part){ FTS_BODY, f[3].data, f[3].len };
		rc = b->n == 1 ? fts_index(b->e->fts, t, 1, b->next + i,
		    &(struct fts_doc){ p, 4 }, err) :
		    fts_batch_index(bt, 1, b->next + i,
		    &(struct fts_doc){ p, 4 }, err);
	}
	if (rc == 0)
		rc = fts_batch_flush(bt, err);
	b->tokens += fts_batch_stats(bt).tokens;
	fts_batch_free(&bt);
	for (int k = 0; k < 4; k++)
		buf_free(&f[k]);
	return rc;
}

struct bq_arg {
	struct env *e;
	struct fts_query *q;
	unsigned reps;
	uint64_t hits;
};

static int
bq_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct bq_arg *a = arg;

	for (unsigned i = 0; i < a->reps; i++) {
		roaring_bitmap_t *r;

		if (fts_search(a->e->fts, t, 1, a->q, NULL, &r, err) < 0)
			return -1;
		a->hits = roaring_bitmap_get_cardinality(r);
		roaring_bitmap_free(r);
	}
	return 0;
}

static void
test_bench(void **state)
{
	static const char *const queries[] = {
		"ba", "body:ca", "body:bab", "body:zzb", "subject:ba subject:ca",
		"ba | ca | da", "ba -ca", "from:host3.example.com",
		"to:user42", "body:zz*", "body:bz*", "ba bb bc bd be",
	};
#if defined(__SANITIZE_ADDRESS__)
	uint32_t ndocs = 2000;
#else
	uint32_t ndocs = 10000;
#endif
	const char *env = getenv("FTS_BENCH_DOCS");
	const char *backend = getenv("FTS_BENCH_BACKEND");
	struct bench *b = calloc(1, sizeof(*b));
	uint64_t t0, n;
	double secs;

	if (env != NULL && parse_u64(env, strlen(env), 10000000, &n) == 0 &&
	    n > 0)
		ndocs = (uint32_t)n;
	backend = backend != NULL ? backend : "sqlite";
	b->e = env_open(backend, "bench");
	b->seed = 42;
	for (size_t r = 0; r < B_VOCAB; r++)
		b->cum[r] = (r ? b->cum[r - 1] : 0) + 1.0 / (double)(r + 1);

	t0 = clock_mono_us();
	for (b->next = 1; b->next <= ndocs; b->next += b->n) {
		b->n = ndocs - b->next + 1 < 1000 ? ndocs - b->next + 1 : 1000;
		if (kv_run(b->e->kv, KV_WRITE, bench_fn, b, &b->e->err) < 0)
			fail_msg("index: %s", buf_cstr(&b->e->err));
	}
	secs = (double)(clock_mono_us() - t0) / 1e6;
	printf("fts bench: %s, %u docs (%.0f tokens each), batches of 1000: "
	    "%.2f s, %.0f docs/s, %.0f tokens/s\n", backend, ndocs,
	    (double)b->tokens / ndocs, secs, ndocs / secs,
	    (double)b->tokens / secs);

	t0 = clock_mono_us();
	b->n = 1;
	for (int i = 0; i < 100; i++, b->next++)
		assert_int_equal(kv_run(b->e->kv, KV_WRITE, bench_fn, b,
		    &b->e->err), 0);
	secs = (double)(clock_mono_us() - t0) / 1e6;
	printf("fts bench: 100 docs, one transaction each (fsync): "
	    "%.0f docs/s\n", 100 / secs);

	for (size_t i = 0; i < ARRAY_SIZE(queries); i++) {
		struct bq_arg a = { b->e, parse(queries[i]), 50, 0 };

		t0 = clock_mono_us();
		assert_int_equal(kv_run(b->e->kv, KV_READ, bq_fn, &a,
		    &b->e->err), 0);
		printf("fts bench: query %-32s %6llu hits %8.3f ms\n",
		    queries[i], (unsigned long long)a.hits,
		    (double)(clock_mono_us() - t0) / 1e3 / a.reps);
		fts_query_free(&a.q);
	}
	env_close(b->e);
	free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_search, "sqlite"),
		cmocka_unit_test_prestate(test_search, "rocksdb"),
		cmocka_unit_test_prestate(test_remove_reindex, "sqlite"),
		cmocka_unit_test_prestate(test_remove_reindex, "rocksdb"),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_batch_model),
		cmocka_unit_test(test_query_limits),
		cmocka_unit_test(test_big_doc),
		cmocka_unit_test(test_corrupt),
		cmocka_unit_test(test_failinject),
		cmocka_unit_test(test_bench),
	};

	/* e.g. FTS_TEST=test_bench for the figures alone */
	if (getenv("FTS_TEST") != NULL)
		cmocka_set_test_filter(getenv("FTS_TEST"));

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
