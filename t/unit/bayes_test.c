/*
 * bayes_test.c - the Bayes classifier (filters/bayes.c, bayes_token.c)
 * and its stage (filters/stage_bayes.c): the arithmetic on hand-checked
 * numbers (ln/exp, Robinson's f, chi-square, Fisher's combining), the
 * tokenizer's tokens and bounds (header names and fields, URLs from the
 * text and from raw HTML, word lengths, numbers, the token and text
 * limits, the message identity), then, on the memory and the kv (SQLite)
 * lookup backends: a generated corpus learned and held-out messages
 * classified, forget undoing learn exactly, relearning, no judgement
 * before min_learned, per-user sets over the global one, the training
 * hook, a store failure at any step of learn and forget changing
 * nothing (failinject); and the stage in a pipeline: symbols, autolearn
 * with no double learning of a retried message, and a store error as
 * the pipeline's failure symbol.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/bayes.h"
#include "filters/filters.h"
#include "lookup/lookup.h"
#include "store/kv.h"
#include "store/mime.h"
#include "store/store_priv.h"
#include "t/unit/bayes_fx.h"
#include "t/unit/stage_fx.h"
#include "t/unit/unit_tmpdir.h"

#define NEAR(a, b) assert_true((a) - (b) < 1e-9 && (b) - (a) < 1e-9)

/* ---- the arithmetic ---- */

static void
test_arithmetic(void **state)
{
	const double one[] = { 0.9 }, two[] = { 0.9, 0.8 };
	const double three[] = { 0.99, 0.2, 0.3 }, even[] = { 0.7, 0.3 };
	double many[150];

	(void)state;
	NEAR(bayes_ln(1), 0);
	NEAR(bayes_ln(2), 0.6931471805599453);
	NEAR(bayes_ln(0.1), -2.302585092994046);
	NEAR(bayes_ln(1e-300), -690.7755278982137);
	NEAR(bayes_exp(0), 1);
	NEAR(bayes_exp(-2.302585092994046), 0.1);
	NEAR(bayes_exp(1) / 2.718281828459045, 1);
	assert_true(bayes_exp(-800) == 0);
	/* Robinson: s = 1, x = 0.5 */
	NEAR(bayes_robinson(1, 0, 1, 1, 0.5), 0.75);
	NEAR(bayes_robinson(0, 0, 10, 10, 0.5), 0.5);
	NEAR(bayes_robinson(3, 1, 10, 10, 0.5), 0.7);	/* p .75, n 4 */
	/* p = (2/10) / (2/10 + 2/40) = 0.8, n = 4: (0.5 + 3.2) / 5 */
	NEAR(bayes_robinson(2, 2, 10, 40, 0.5), 0.74);
	NEAR(bayes_robinson(0, 0, 10, 10, 0.3), 0.3);	/* the prior */
	/* chi-square survival: 2 degrees = exp(-x2/2); 4: e^-m (1 + m) */
	NEAR(bayes_chi2q(4.605170185988091, 2), 0.1);
	NEAR(bayes_chi2q(10, 4), 0.040427681994512805);
	NEAR(bayes_chi2q(0, 10), 1);
	/* Fisher: one clue is itself; hand-checked pairs (SpamBayes) */
	NEAR(bayes_fisher(one, 1), 0.9);
	NEAR(bayes_fisher(two, 2), 0.9291412340556515);
	NEAR(bayes_fisher(three, 3), 0.6769842691677499);
	NEAR(bayes_fisher(even, 2), 0.5);
	NEAR(bayes_fisher(NULL, 0), 0.5);
	for (size_t i = 0; i < 150; i++)
		many[i] = 0.9;
	NEAR(bayes_fisher(many, 150), 1.0);
	assert_string_equal(bayes_verdict_name(BAYES_VERDICT_UNSURE), "unsure");
}

/* ---- the tokenizer ---- */

static void
test_tokens(void **state)
{
	struct bayes_tokens t, u;
	const char *msg =
	    "Received: from evil by mx; Mon, 1 Jan 2024 00:00:00 +0000\r\n"
	    "X-Spam-Status: No\r\n"
	    "From: \"Cheap Meds\" <offers@Pharma.Example>\r\n"
	    "To: you@test.example\r\n"
	    "Subject: BUY now, 50% off!\r\n"
	    "Message-ID: <1234.5678@mailer.example>\r\n"
	    "Content-Type: text/HTML; charset=\"UTF-8\"\r\n"
	    "X-Mailer: BulkSender 9\r\n"
	    "\r\n"
	    "<a href=\"https://track.evil.example/c?id=42\">Click</a> ok go "
	    "1234567 123 supercalifragilisticexpialidocious-and-some-more-x "
	    "Visit www.Shop.Example/deals. now Now NOW\r\n";

	(void)state;
	memset(&t, 0, sizeof(t));
	memset(&u, 0, sizeof(u));
	tokenize(&t, msg, NULL);
	assert_true(has(&t, "hn:from"));
	assert_true(has(&t, "hn:x-mailer"));
	assert_false(has(&t, "hn:received"));		/* the path's */
	assert_false(has(&t, "hn:x-spam-status"));	/* ours */
	assert_false(has(&t, "evil"));
	assert_true(has(&t, "h:from:offers@pharma.example"));
	assert_true(has(&t, "h:from:@pharma.example"));
	assert_true(has(&t, "h:from:cheap"));
	assert_true(has(&t, "h:to:@test.example"));
	assert_true(has(&t, "h:subject:buy"));
	assert_true(has(&t, "h:subject:off!"));
	assert_true(has(&t, "h:message-id:@mailer.example"));
	assert_true(has(&t, "h:content-type:text/html"));
	assert_true(has(&t, "h:content-type:charset=utf-8"));
	assert_true(has(&t, "h:x-mailer:bulksender"));
	/* the raw body: URLs in tags, words, bounds */
	assert_true(has(&t, "url:track.evil.example"));
	assert_true(has(&t, "url:d:evil.example"));
	assert_true(has(&t, "url:tld:example"));
	assert_true(has(&t, "h:from:tld:example"));
	assert_true(has(&t, "url:https://track.evil.example/c?id=42"));
	assert_true(has(&t, "url:www.shop.example"));
	assert_true(has(&t, "url:d:shop.example"));
	assert_true(has(&t, "url:www.shop.example/deals"));
	assert_true(has(&t, "now"));
	assert_true(has(&t, "123"));
	assert_false(has(&t, "1234567"));	/* a long number */
	assert_false(has(&t, "ok"));		/* too short */
	assert_false(has(&t, "go"));
	assert_true(has(&t, "skip:s 50"));	/* 59 bytes */
	/* "now", "Now" and "NOW" are one token */
	{
		size_t nows = 0;

		for (size_t i = 0; i < t.n; i++)
			nows += strcmp(bayes_token_text(&t, i), "now") == 0;
		assert_int_equal(nows, 1);
	}
	assert_false(t.truncated);

	/* with a text: words from it, URLs from the raw body as well */
	tokenize(&u, msg, "Click here, cheap pills");
	assert_true(has(&u, "pills"));
	assert_false(has(&u, "now"));		/* not in the text */
	assert_true(has(&u, "url:track.evil.example"));
	assert_false(has(&u, "url:www.shop.example"));	/* raw: http only */
	/* the identity: line ends and the header do not matter, the body
	 * and the Message-ID do */
	{
		const char *a = "Message-ID: <x@y>\r\nSubject: a\r\n\r\nbody\r\n";
		const char *b = "Subject: b\nMessage-ID:  <x@y>\n\nbody\n\n";
		const char *c = "Message-ID: <x@y>\r\n\r\nbody!\r\n";
		const char *d = "Message-ID: <z@y>\r\n\r\nbody\r\n";
		unsigned char id[BAYES_ID_LEN];

		tokenize(&t, a, NULL);
		memcpy(id, t.id, sizeof(id));
		tokenize(&t, b, NULL);
		assert_memory_equal(id, t.id, sizeof(id));
		tokenize(&t, c, NULL);
		assert_memory_not_equal(id, t.id, sizeof(id));
		tokenize(&t, d, NULL);
		assert_memory_not_equal(id, t.id, sizeof(id));
	}
	bayes_tokens_free(&t);
	bayes_tokens_free(&u);
}

static void
test_token_bounds(void **state)
{
	struct bayes_tokens t;
	struct buf m = BUF_INIT(0), text = BUF_INIT(0);

	(void)state;
	memset(&t, 0, sizeof(t));
	/* a huge To: at most BAYES_HEADER_TOKENS from the header */
	buf_add_str(&m, "To: ");
	for (unsigned i = 0; i < 2000; i++)
		buf_addf(&m, "user%u@dom%u.example, ", i, i);
	buf_add_str(&m, "\r\nSubject: hello\r\n\r\nbody words here\r\n");
	tokenize(&t, buf_cstr(&m), NULL);
	assert_true(t.truncated);
	assert_true(has(&t, "body"));		/* the body still counts */
	assert_true(t.n <= BAYES_HEADER_TOKENS + 3);
	/* many distinct words: BAYES_TOKENS_MAX, the first ones */
	buf_reset(&m);
	buf_add_str(&m, "Subject: x\r\n\r\n");
	for (unsigned i = 0; i < 5000; i++)
		buf_addf(&m, "word%c%c%c ", 'a' + i % 26, 'a' + i / 26 % 26,
		    'a' + i / 676 % 26);
	tokenize(&t, buf_cstr(&m), NULL);
	assert_int_equal(t.n, BAYES_TOKENS_MAX);
	assert_true(t.truncated);
	assert_true(has(&t, "wordaaa"));
	assert_false(has(&t, "wordhkh"));	/* number 4999: too late */
	for (size_t i = 0; i < t.n; i++)
		assert_true(t.v[i].len <= BAYES_TOKEN_TEXT_MAX);
	/* the text: only its first BAYES_TEXT_MAX bytes */
	for (unsigned i = 0; i < BAYES_TEXT_MAX / 8; i++)
		buf_add_str(&text, "filler  ");
	buf_add_str(&text, "beyondthelimit");
	tokenize(&t, "Subject: y\r\n\r\nz\r\n", buf_cstr(&text));
	assert_true(has(&t, "filler"));
	assert_false(has(&t, "beyondthelimit"));
	assert_true(t.truncated);
	/* a long URL is cut in its token, its host kept */
	buf_reset(&text);
	buf_add_str(&text, "see http://long.example/");
	for (unsigned i = 0; i < 400; i++)
		buf_add_str(&text, "a");
	tokenize(&t, "\r\n", buf_cstr(&text));
	assert_true(has(&t, "url:long.example"));
	for (size_t i = 0; i < t.n; i++)
		if (strncmp(bayes_token_text(&t, i), "url:http", 8) == 0)
			assert_int_equal(t.v[i].len, 4 + BAYES_URL_MAX);
	/* no header, no body, nothing at all: fine */
	tokenize(&t, "", NULL);
	assert_int_equal(t.n, 0);
	tokenize(&t, "just text without header\n", NULL);
	assert_true(has(&t, "just"));
	bayes_tokens_free(&t);
	bayes_tokens_free(&t);		/* twice is fine */
	buf_free(&m);
	buf_free(&text);
}

static void
test_corpus(void **state)
{
	struct fx *f = *state;
	struct buf m = BUF_INIT(0);
	struct bayes_result r;
	unsigned right = 0;

	fx_open(f, 20, false);
	rng = 1;
	for (unsigned i = 0; i < 80; i++) {
		gen(&m, true, i);
		assert_int_equal(learn(f, buf_cstr(&m), NULL, BAYES_SPAM,
		    false), BAYES_LEARNED);
		gen(&m, false, i);
		assert_int_equal(learn(f, buf_cstr(&m), NULL, BAYES_HAM,
		    false), BAYES_LEARNED);
	}
	assert_int_equal(stats(f, NULL).nspam, 80);
	assert_int_equal(stats(f, NULL).nham, 80);
	assert_true(stats(f, NULL).ntokens > 100);
	/* held out: other numbers, other draws */
	for (unsigned i = 1000; i < 1040; i++) {
		gen(&m, i % 2 == 0, i);
		classify(f, buf_cstr(&m), NULL, &r);
		assert_true(r.nclues > 0 && r.nclues <= BAYES_CLUES_MAX);
		assert_true(r.ntop > 0 && r.top[0].token[0] != '\0');
		if (i % 2 == 0 ? r.verdict == BAYES_VERDICT_SPAM :
		    r.verdict == BAYES_VERDICT_HAM)
			right++;
	}
	assert_true(right >= 39);
	/* a spam word is a clue with a high f */
	gen(&m, true, 2000);
	classify(f, buf_cstr(&m), NULL, &r);
	assert_true(r.prob > 0.99);
	assert_true(r.top[0].prob > 0.9 || r.top[0].prob < 0.1);
	buf_free(&m);
	fx_close(f);
}

static void
test_forget_and_relearn(void **state)
{
	struct fx *f = *state;
	const char *a = "Subject: alpha bravo\r\n\r\ncharlie delta echo\r\n";
	const char *b = "Subject: bravo\r\n\r\ncharlie foxtrot golf\r\n";
	struct bayes_tokens t;
	struct buf key = BUF_INIT(0);

	fx_open(f, 1, false);
	memset(&t, 0, sizeof(t));
	assert_int_equal(learn(f, a, NULL, BAYES_SPAM, false), BAYES_LEARNED);
	assert_int_equal(learn(f, b, NULL, BAYES_HAM, false), BAYES_LEARNED);
	assert_int_equal(stats(f, NULL).nspam, 1);
	assert_int_equal(stats(f, NULL).nham, 1);
	/* hn:subject h:subject:alpha h:subject:bravo charlie delta echo
	 * alpha bravo (the raw body has no subject), then b's h:subject:bravo
	 * hn:subject charlie foxtrot golf: 6 + 2 new ones... count them */
	tokenize(&t, a, NULL);
	{
		int64_t n = (int64_t)t.n;

		tokenize(&t, b, NULL);
		n += (int64_t)t.n - 3;	/* hn:subject, h:subject:bravo, charlie */
		assert_int_equal(stats(f, NULL).ntokens, n);
	}
	/* twice: nothing; as the other class: nothing unless relearning */
	assert_int_equal(learn(f, a, NULL, BAYES_SPAM, false), BAYES_ALREADY);
	assert_int_equal(learn(f, a, NULL, BAYES_HAM, false), BAYES_OTHER);
	assert_int_equal(stats(f, NULL).nspam, 1);
	assert_int_equal(learn(f, a, NULL, BAYES_HAM, true), BAYES_RELEARNED);
	assert_int_equal(stats(f, NULL).nspam, 0);
	assert_int_equal(stats(f, NULL).nham, 2);
	/* "charlie" is in both, now ham twice, spam 0; "delta" only in a:
	 * ham once (the counter is spam * 2^32 + ham) */
	tokenize(&t, "\r\ncharlie\r\n", NULL);
	buf_add_str(&key, "bayes:t");
	buf_add(&key, t.v[0].hash, BAYES_HASH_LEN);
	assert_int_equal(counter_of(f, (const char *)key.data, key.len), 2);
	{
		struct buf k2 = BUF_INIT(0);

		tokenize(&t, "\r\ndelta\r\n", NULL);
		buf_add_str(&k2, "bayes:t");
		buf_add(&k2, t.v[0].hash, BAYES_HASH_LEN);
		assert_int_equal(counter_of(f, (const char *)k2.data, k2.len),
		    1);
		assert_int_equal(learn(f, "\r\ndelta\r\n", NULL, BAYES_SPAM,
		    false), BAYES_LEARNED);
		assert_int_equal(counter_of(f, (const char *)k2.data, k2.len),
		    ((int64_t)1 << 32) + 1);
		assert_int_equal(forget(f, "\r\ndelta\r\n", BAYES_SPAM),
		    BAYES_LEARNED);
		buf_free(&k2);
	}
	/* forget: only as what it was learned as */
	assert_int_equal(forget(f, a, BAYES_SPAM), BAYES_OTHER);
	assert_int_equal(forget(f, a, BAYES_HAM), BAYES_LEARNED);
	assert_int_equal(forget(f, a, BAYES_HAM), BAYES_NOT_LEARNED);
	assert_int_equal(forget(f, b, BAYES_HAM), BAYES_LEARNED);
	/* back to nothing at all */
	assert_int_equal(stats(f, NULL).nspam, 0);
	assert_int_equal(stats(f, NULL).nham, 0);
	assert_int_equal(stats(f, NULL).ntokens, 0);
	assert_int_equal(counter_of(f, (const char *)key.data, key.len), 0);
	/* and learnable again */
	assert_int_equal(learn(f, a, NULL, BAYES_SPAM, false), BAYES_LEARNED);
	bayes_tokens_free(&t);
	buf_free(&key);
	fx_close(f);
}

/*
 * learn_many equals learning one message after another: 600 messages
 * (three groups), a repeat of one (already) and of another as the other
 * class (relearned), into the global set at once and into a user's set
 * one by one; then the totals and every token's counter agree
 */
static void
test_learn_many(void **state)
{
	struct fx *f = *state;
	enum { N = 600 };
	struct bayes_tokens *t = calloc(N + 2, sizeof(*t));
	struct bayes_item *v = calloc(N + 2, sizeof(*v));
	struct buf m = BUF_INIT(0), k1 = BUF_INIT(0), k2 = BUF_INIT(0);
	struct bayes_stats a, b;
	enum bayes_outcome out;

	assert_non_null(t);
	assert_non_null(v);
	fx_open(f, 1, false);
	rng = 7;
	for (unsigned i = 0; i < N; i++) {
		gen(&m, i % 2 == 0, i);
		tokenize(&t[i], buf_cstr(&m), NULL);
		v[i].t = &t[i];
		v[i].c = i % 2 == 0 ? BAYES_SPAM : BAYES_HAM;
	}
	/* the last two: message 0 again as spam, message 1 (ham) as spam */
	rng = 7;
	for (unsigned i = 0; i < 2; i++) {
		gen(&m, i % 2 == 0, i);
		tokenize(&t[N + i], buf_cstr(&m), NULL);
		v[N + i].t = &t[N + i];
		v[N + i].c = BAYES_SPAM;
	}
	ok(f, bayes_learn_many(f->b, v, N + 2, NULL, true, 0, &f->err));
	for (unsigned i = 0; i < N + 2; i++) {
		assert_true(v[i].done);
		assert_int_equal(v[i].out, i == N ? BAYES_ALREADY : i == N + 1 ?
		    BAYES_RELEARNED : BAYES_LEARNED);
		ok(f, bayes_learn(f->b, &t[i], "seq", v[i].c, true, 0, &out,
		    &f->err));
		assert_int_equal(out, v[i].out);
	}
	a = stats(f, NULL);
	b = stats(f, "seq");
	assert_int_equal(a.nspam, N / 2 + 1);
	assert_int_equal(a.nham, N / 2 - 1);
	assert_int_equal(a.nspam, b.nspam);
	assert_int_equal(a.nham, b.nham);
	assert_int_equal(a.ntokens, b.ntokens);
	for (unsigned i = 0; i < N; i++)
		for (size_t j = 0; j < t[i].n; j++) {
			buf_reset(&k1);
			buf_reset(&k2);
			buf_add_str(&k1, "bayes:t");
			buf_add(&k1, t[i].v[j].hash, BAYES_HASH_LEN);
			buf_add_str(&k2, "bayes:u:seq:t");
			buf_add(&k2, t[i].v[j].hash, BAYES_HASH_LEN);
			assert_int_equal(counter_of(f, (const char *)k1.data,
			    k1.len), counter_of(f, (const char *)k2.data,
			    k2.len));
		}
	/* all of it again: nothing changes */
	ok(f, bayes_learn_many(f->b, v, N + 2, NULL, false, 0, &f->err));
	for (unsigned i = 0; i < N + 2; i++)
		assert_int_equal(v[i].out, i == 1 ? BAYES_OTHER :
		    BAYES_ALREADY);
	assert_int_equal(stats(f, NULL).ntokens, a.ntokens);
	assert_int_equal(stats(f, NULL).nspam, a.nspam);
	for (unsigned i = 0; i < N + 2; i++)
		bayes_tokens_free(&t[i]);
	free(t);
	free(v);
	buf_free(&m);
	buf_free(&k1);
	buf_free(&k2);
	fx_close(f);
}

/*
 * a snapshot classifier answers as a fresh one, from memory after the
 * first read, and does not see later learning; the user's keys too
 */
static void
test_snapshot(void **state)
{
	struct fx *f = *state;
	struct bayes_options bo;
	struct bayes *snap;
	struct bayes_tokens t;
	struct bayes_result r1, r2;
	struct buf m = BUF_INIT(0), last = BUF_INIT(0);

	fx_open(f, 1, false);
	memset(&t, 0, sizeof(t));
	memset(&bo, 0, sizeof(bo));
	bo.lookup = f->l;
	bo.min_learned = 1;
	bo.snapshot = true;
	snap = bayes_new(&bo);
	rng = 3;
	for (unsigned i = 0; i < 20; i++) {
		gen(&m, i % 2 == 0, i);
		learn(f, buf_cstr(&m), NULL, i % 2 == 0 ? BAYES_SPAM :
		    BAYES_HAM, false);
	}
	for (unsigned i = 100; i < 110; i++) {
		gen(&m, i % 2 == 0, i);
		tokenize(&t, buf_cstr(&m), NULL);
		for (int pass = 0; pass < 2; pass++) {
			ok(f, bayes_classify(f->b, &t, pass ? "u@x" : NULL,
			    &r1, &f->err));
			ok(f, bayes_classify(snap, &t, pass ? "u@x" : NULL,
			    &r2, &f->err));
			assert_true(r1.prob == r2.prob);
			assert_int_equal(r1.verdict, r2.verdict);
			assert_int_equal(r1.nclues, r2.nclues);
		}
	}
	/* learn the last one (ham) as spam ten times over (new IDs): the
	 * fresh classifier moves, the snapshot does not */
	buf_reset(&last);
	buf_add(&last, m.data, m.len);
	for (unsigned i = 0; i < 10; i++) {
		buf_reset(&m);
		buf_addf(&m, "%s\r\nvariant %u\r\n", buf_cstr(&last), i);
		learn(f, buf_cstr(&m), NULL, BAYES_SPAM, false);
	}
	ok(f, bayes_classify(snap, &t, NULL, &r2, &f->err));
	ok(f, bayes_classify(f->b, &t, NULL, &r1, &f->err));
	assert_true(r1.prob > r2.prob);
	assert_int_equal(r2.nspam, 10);
	assert_int_equal(r1.nspam, 20);
	buf_free(&last);
	bayes_free(&snap);
	bayes_tokens_free(&t);
	buf_free(&m);
	fx_close(f);
}

static void
test_untrained(void **state)
{
	struct fx *f = *state;
	struct buf m = BUF_INIT(0);
	struct bayes_result r;

	fx_open(f, 5, false);
	rng = 7;
	gen(&m, true, 0);
	classify(f, buf_cstr(&m), NULL, &r);
	assert_int_equal(r.verdict, BAYES_VERDICT_NONE);
	NEAR(r.prob, 0.5);
	for (unsigned i = 0; i < 5; i++) {
		gen(&m, false, i);
		(void)learn(f, buf_cstr(&m), NULL, BAYES_HAM, false);
	}
	for (unsigned i = 0; i < 4; i++) {
		gen(&m, true, i);
		(void)learn(f, buf_cstr(&m), NULL, BAYES_SPAM, false);
	}
	gen(&m, true, 100);
	classify(f, buf_cstr(&m), NULL, &r);
	assert_int_equal(r.verdict, BAYES_VERDICT_NONE);	/* 4 < 5 */
	assert_int_equal(r.nspam, 4);
	assert_int_equal(r.nham, 5);
	gen(&m, true, 4);
	(void)learn(f, buf_cstr(&m), NULL, BAYES_SPAM, false);
	gen(&m, true, 101);
	classify(f, buf_cstr(&m), NULL, &r);
	assert_int_not_equal(r.verdict, BAYES_VERDICT_NONE);
	assert_true(r.prob > 0.5);
	buf_free(&m);
	fx_close(f);
}

static void
test_per_user(void **state)
{
	struct fx *f = *state;
	const char *news = "Subject: weekly newsletter\r\n\r\nnewsletter "
	    "digest roundup subscribers\r\n";
	const char *spam = "Subject: win\r\n\r\nwinner lottery prize\r\n";
	struct bayes_result r;
	struct buf m = BUF_INIT(0);

	fx_open(f, 2, true);
	/* globally the newsletter is ham */
	for (unsigned i = 0; i < 3; i++) {
		buf_reset(&m);
		buf_addf(&m, "Message-ID: <n%u@x>\r\n%s", i, news);
		(void)learn(f, buf_cstr(&m), NULL, BAYES_HAM, false);
		buf_reset(&m);
		buf_addf(&m, "Message-ID: <s%u@x>\r\n%s", i, spam);
		(void)learn(f, buf_cstr(&m), NULL, BAYES_SPAM, false);
	}
	classify(f, news, NULL, &r);
	assert_int_equal(r.verdict, BAYES_VERDICT_HAM);
	/* a user without a trained set gets the global judgement */
	classify(f, news, "Alice@Example.org", &r);
	assert_false(r.user_used);
	assert_int_equal(r.verdict, BAYES_VERDICT_HAM);
	/* alice calls it spam (and has ham of her own) */
	for (unsigned i = 0; i < 3; i++) {
		buf_reset(&m);
		buf_addf(&m, "Message-ID: <a%u@x>\r\n%s", i, news);
		(void)learn(f, buf_cstr(&m), "alice@example.org", BAYES_SPAM,
		    false);
		buf_reset(&m);
		buf_addf(&m, "Message-ID: <b%u@x>\r\nSubject: family\r\n\r\n"
		    "dinner garden weekend\r\n", i);
		(void)learn(f, buf_cstr(&m), "alice@example.org", BAYES_HAM,
		    false);
	}
	assert_int_equal(stats(f, "ALICE@example.org").nspam, 3);
	assert_int_equal(stats(f, NULL).nspam, 3);	/* global untouched */
	classify(f, news, "alice@example.org", &r);
	assert_true(r.user_used);
	assert_int_equal(r.user_nspam, 3);
	assert_true(r.prob > 0.5);
	/* for bob it is still ham; tokens alice never saw keep the
	 * global judgement for her too */
	classify(f, news, "bob@example.org", &r);
	assert_int_equal(r.verdict, BAYES_VERDICT_HAM);
	classify(f, spam, "alice@example.org", &r);
	assert_int_equal(r.verdict, BAYES_VERDICT_SPAM);
	/* bad user names */
	{
		struct bayes_tokens t;

		memset(&t, 0, sizeof(t));
		tokenize(&t, news, NULL);
		assert_int_equal(bayes_classify(f->b, &t, "a b", &r, &f->err),
		    -1);
		bayes_tokens_free(&t);
	}
	/* the training hook: global and, per user, the user's */
	buf_reset(&m);
	buf_add_str(&m, "Message-ID: <hook@x>\r\nSubject: hook\r\n\r\nhook "
	    "moved into junk\r\n");
	ok(f, bayes_train_message(f->b, "carol@example.org", m.data, m.len,
	    true, true, &f->err));
	assert_int_equal(stats(f, NULL).nspam, 4);
	assert_int_equal(stats(f, "carol@example.org").nspam, 1);
	/* moved out of Junk again: relearned as ham in both */
	ok(f, bayes_train_message(f->b, "carol@example.org", m.data, m.len,
	    false, true, &f->err));
	assert_int_equal(stats(f, NULL).nspam, 3);
	assert_int_equal(stats(f, NULL).nham, 4);
	assert_int_equal(stats(f, "carol@example.org").nham, 1);
	assert_int_equal(stats(f, "carol@example.org").nspam, 0);
	buf_free(&m);
	fx_close(f);
}

/* a store failure at any step: -1, nothing changed, the marker free */
static void
test_store_failures(void **state)
{
	struct fx *f = *state;
	const char *a = "Subject: one\r\n\r\nalpha bravo charlie\r\n";
	const char *b = "Subject: two\r\n\r\nbravo delta echo\r\n";
	struct bayes_tokens t;
	struct bayes_result r;
	enum bayes_outcome out;
	unsigned steps;
	int64_t lag = 0;

	fx_open(f, 1, false);
	memset(&t, 0, sizeof(t));
	assert_int_equal(learn(f, a, NULL, BAYES_HAM, false), BAYES_LEARNED);
	tokenize(&t, b, NULL);
	for (steps = 1;; steps++) {
		bool fired;
		int rc;

		kv_failinject_set(f->kv, KV_FI_ALL, steps, -1);
		buf_reset(&f->err);
		rc = bayes_learn(f->b, &t, NULL, BAYES_SPAM, false, 0, &out,
		    &f->err);
		fired = kv_failinject_fired(f->kv);
		kv_failinject_set(f->kv, 0, 0, -1);
		/* the last step, the distinct-token statistic, only warns:
		 * the count stays behind by b's 3 new tokens */
		if (fired && rc == 0) {
			lag = 3;
			break;
		}
		if (!fired) {
			ok(f, rc);
			break;
		}
		assert_int_equal(rc, -1);
		assert_true(f->err.len > 0);
		assert_int_equal(stats(f, NULL).nspam, 0);
		assert_int_equal(stats(f, NULL).ntokens, 5);
	}
	assert_true(steps > 2);
	assert_int_equal(out, BAYES_LEARNED);	/* never left claimed */
	assert_int_equal(stats(f, NULL).nspam, 1);
	assert_int_equal(stats(f, NULL).ntokens, 8 - lag);
	for (steps = 1;; steps++) {
		bool fired;
		int rc;

		kv_failinject_set(f->kv, KV_FI_ALL, steps, -1);
		buf_reset(&f->err);
		rc = bayes_forget(f->b, &t, NULL, BAYES_SPAM, &out, &f->err);
		fired = kv_failinject_fired(f->kv);
		kv_failinject_set(f->kv, 0, 0, -1);
		/* the last step, deleting the marker at 0, may fail */
		if (!fired || rc == 0) {
			ok(f, rc);
			break;
		}
		assert_int_equal(rc, -1);
		/* the counts go with the marker: both or neither */
		assert_int_equal(stats(f, NULL).nspam, 1);
	}
	assert_int_equal(out, BAYES_LEARNED);
	assert_int_equal(stats(f, NULL).nspam, 0);
	assert_int_equal(stats(f, NULL).ntokens, 5 - lag);
	/* a marker left at 0 reads as not learned */
	{
		struct buf mk = BUF_INIT(0);

		buf_add_str(&mk, "bayes:m");
		buf_add(&mk, t.id, BAYES_ID_LEN);
		ok(f, lookup_set(f->l, mk.data, mk.len, "0", 1, 0, &f->err));
		buf_free(&mk);
	}
	assert_int_equal(forget(f, b, BAYES_SPAM), BAYES_NOT_LEARNED);
	assert_int_equal(learn(f, b, NULL, BAYES_SPAM, false), BAYES_LEARNED);
	assert_int_equal(forget(f, b, BAYES_SPAM), BAYES_LEARNED);
	/* reads fail too */
	kv_failinject_set(f->kv, KV_FI_GET, 1, -1);
	assert_int_equal(bayes_classify(f->b, &t, NULL, &r, &f->err), -1);
	kv_failinject_set(f->kv, KV_FI_ALL, 1, -1);
	assert_int_equal(bayes_stats(f->b, NULL, &(struct bayes_stats){ 0 },
	    &f->err), -1);
	kv_failinject_set(f->kv, 0, 0, -1);
	bayes_tokens_free(&t);
	fx_close(f);
}

/* ---- the stage in a pipeline ---- */

static double given_score;

static enum filter_action
score_data(void *st, struct filter_msg *m, struct filter_reply *r)
{
	(void)st;
	(void)r;
	if (given_score != 0)
		filter_symbol(m, "GIVEN", given_score);
	return FILTER_CONTINUE;
}

static const struct filter_stage_ops score_stage = {
	.name = "score", .data = score_data,
};
static const struct filter_stage_ops *const registry[] = {
	&score_stage, &filter_stage_bayes,
};

static bool text_fails;

static int
text_fn(void *arg, const unsigned char *msg, size_t len, struct buf *out)
{
	struct mime_info *info = NULL;
	struct buf err = BUF_INIT(0);

	(void)arg;
	if (text_fails || mime_parse(msg, len, NULL, &info, &err) < 0) {
		buf_free(&err);
		return -1;
	}
	if (info->hdr.subject != NULL)
		buf_addf(out, "%s\n", info->hdr.subject);
	buf_add(out, info->text, info->text_len);
	mime_info_free(&info);
	buf_free(&err);
	return 0;
}

static const char *pipe_rcpt = "u@test.example";

/* pipe_open - a pipeline over f's lookup store (p->l stays NULL: p does
 * not own it), a session */
static void
pipe_open(struct fx *f, struct sfx *p, bool per_user)
{
	sfx_init(p);
	p->cfg = sfx_config("server = { hostname = \"mx.test.example\"; };\n"
	    "filters = { stages = [\"score\", \"bayes\"]; trust_loopback = "
	    "false; reject_score = 30; junk_score = 6; };\n"
	    "bayes = { min_learned = 2; spam_score = 4; ham_score = -2; "
	    "autolearn_spam = 10; autolearn_ham = -1; per_user = %s; };\n",
	    per_user ? "true" : "false");
	p->f = sfx_filters(&(struct filter_env){ .cfg = p->cfg,
	    .lookup = f->l, .text = text_fn }, registry,
	    ARRAY_SIZE(registry));
	p->s = sfx_session(p->f, "192.0.2.7", "smtp");
}

/* deliver - one transaction; the symbol of the bayes stage, or NULL */
static const struct filter_symbol *
deliver(struct sfx *p, const char *msg, double score,
    enum filter_action *a_r)
{
	struct filter_msg *m;
	enum filter_action a;

	given_score = score;
	filters_txn_end(p->s);
	assert_true(filters_mail(p->s, "QID", "s@example.net", &p->r) <=
	    FILTER_ACCEPT);
	assert_true(filters_rcpt(p->s, pipe_rcpt, &p->r) <= FILTER_ACCEPT);
	a = filters_data(p->s, (const unsigned char *)msg, strlen(msg), false,
	    &p->r);
	if (a_r != NULL)
		*a_r = a;
	m = filters_msg(p->s);
	for (size_t i = 0; i < m->nsyms; i++)
		if (strncmp(m->syms[i].name, "BAYES_", 6) == 0)
			return &m->syms[i];
	return NULL;
}

static void
test_stage(void **state)
{
	struct fx *f = *state;
	struct sfx p;
	struct buf m = BUF_INIT(0), msg = BUF_INIT(0);
	const struct filter_symbol *sym;
	enum filter_action a;

	fx_open(f, 2, false);
	pipe_open(f, &p, false);
	rng = 3;
	/* untrained: no symbol; a high score teaches spam, once */
	gen(&m, true, 1);
	buf_addf(&msg, "Received: from a by mx; retry 1\r\n%s", buf_cstr(&m));
	assert_null(deliver(&p, buf_cstr(&msg), 15, &a));
	assert_int_equal(a, FILTER_QUARANTINE);
	assert_int_equal(stats(f, NULL).nspam, 1);
	/* the retry (another Received field) is the same message */
	buf_reset(&msg);
	buf_addf(&msg, "Received: from a by mx; retry 2\r\n%s", buf_cstr(&m));
	assert_null(deliver(&p, buf_cstr(&msg), 15, NULL));
	assert_int_equal(stats(f, NULL).nspam, 1);
	/* in between scores teach nothing; low ones teach ham */
	gen(&m, false, 2);
	(void)deliver(&p, buf_cstr(&m), 0, NULL);
	assert_int_equal(stats(f, NULL).nham, 0);
	(void)deliver(&p, buf_cstr(&m), -3, NULL);
	assert_int_equal(stats(f, NULL).nham, 1);
	for (unsigned i = 10; i < 30; i++) {
		gen(&m, i % 2 == 0, i);
		(void)deliver(&p, buf_cstr(&m), i % 2 == 0 ? 20 : -5, NULL);
	}
	assert_int_equal(stats(f, NULL).nspam, 11);
	assert_int_equal(stats(f, NULL).nham, 11);
	/* trained: spam gets BAYES_SPAM up to spam_score, ham BAYES_HAM */
	gen(&m, true, 500);
	sym = deliver(&p, buf_cstr(&m), 0, &a);
	assert_non_null(sym);
	assert_string_equal(sym->name, "BAYES_SPAM");
	assert_true(sym->score > 3.5 && sym->score <= 4.0);
	/* 4 points is not over autolearn_spam (10): not learned; and its
	 * own score never counts towards autolearning */
	assert_int_equal(stats(f, NULL).nspam, 11);
	(void)deliver(&p, buf_cstr(&m), 8, NULL);	/* 8 + 4 >= 10 */
	assert_int_equal(stats(f, NULL).nspam, 11);
	(void)deliver(&p, buf_cstr(&m), 10, NULL);
	assert_int_equal(stats(f, NULL).nspam, 12);
	gen(&m, false, 501);
	sym = deliver(&p, buf_cstr(&m), 0, NULL);
	assert_non_null(sym);
	assert_string_equal(sym->name, "BAYES_HAM");
	assert_true(sym->score < -1.5 && sym->score >= -2.0);
	/* without the text (the function fails): the raw body */
	text_fails = true;
	gen(&m, true, 502);
	sym = deliver(&p, buf_cstr(&m), 0, NULL);
	text_fails = false;
	assert_non_null(sym);
	assert_string_equal(sym->name, "BAYES_SPAM");
	/* a message too big to scan: nothing, and nothing learned */
	filters_txn_end(p.s);
	assert_true(filters_mail(p.s, "QID", "s@example.net", &p.r) <=
	    FILTER_ACCEPT);
	assert_true(filters_rcpt(p.s, "u@test.example", &p.r) <=
	    FILTER_ACCEPT);
	given_score = 20;
	gen(&m, true, 503);
	(void)filters_data(p.s, m.data, m.len, true, &p.r);
	assert_int_equal(stats(f, NULL).nspam, 12);
	/* a broken store: FILTER_ERROR, so the pipeline's failure symbol
	 * (BAYES_ERROR, score 0) and the message goes on */
	ok(f, lookup_set(f->l, "bayes:nspam", 11, "junk", 4, 0, &f->err));
	sym = deliver(&p, buf_cstr(&m), 0, &a);
	assert_non_null(sym);
	assert_string_not_equal(sym->name, "BAYES_SPAM");
	assert_string_not_equal(sym->name, "BAYES_HAM");
	assert_true(sym->score == 0);
	assert_int_equal(a, FILTER_CONTINUE);
	filters_txn_end(p.s);
	sfx_free(&p);
	buf_free(&m);
	buf_free(&msg);
	fx_close(f);
}

/* per user: the recipient's set, subaddress and case folded away */
static void
test_stage_per_user(void **state)
{
	struct fx *f = *state;
	struct sfx p;
	struct buf m = BUF_INIT(0);
	const struct filter_symbol *sym;

	fx_open(f, 2, true);
	pipe_open(f, &p, true);
	rng = 11;
	pipe_rcpt = "Alice+lists@Example.ORG";
	for (unsigned i = 0; i < 6; i++) {
		gen(&m, i % 2 == 0, i);
		(void)deliver(&p, buf_cstr(&m), i % 2 == 0 ? 20 : -5, NULL);
	}
	assert_int_equal(stats(f, NULL).nspam, 3);
	assert_int_equal(stats(f, "alice@example.org").nspam, 3);
	assert_int_equal(stats(f, "alice@example.org").nham, 3);
	assert_int_equal(stats(f, "alice+lists@example.org").nspam, 0);
	gen(&m, true, 100);
	sym = deliver(&p, buf_cstr(&m), 0, NULL);
	assert_non_null(sym);
	assert_string_equal(sym->name, "BAYES_SPAM");
	pipe_rcpt = "u@test.example";
	filters_txn_end(p.s);
	sfx_free(&p);
	buf_free(&m);
	fx_close(f);
}

static void
test_stage_needs_lookup(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = sfx_config("filters = { stages = [\"bayes\"]; };\n");
	sfx_refused(&(struct filter_env){ .cfg = cfg }, registry,
	    ARRAY_SIZE(registry), "no lookup store");
	config_free(&cfg);
}

#define BOTH(fn)							\
	cmocka_unit_test_prestate(fn, &mem_fx),				\
	cmocka_unit_test_prestate(fn, &kv_fx)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arithmetic),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_token_bounds),
		BOTH(test_corpus),
		BOTH(test_forget_and_relearn),
		BOTH(test_learn_many),
		BOTH(test_snapshot),
		BOTH(test_untrained),
		BOTH(test_per_user),
		cmocka_unit_test_prestate(test_store_failures, &fi_fx),
		BOTH(test_stage),
		cmocka_unit_test_prestate(test_stage_per_user, &mem_fx),
		cmocka_unit_test(test_stage_needs_lookup),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
