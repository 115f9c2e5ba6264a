/*
 * bayes_fx.h - what the Bayes tests share: token lookups, a generated
 * corpus (two vocabularies over a common one, from a seeded generator),
 * and a classifier over a lookup store of either backend ("memory", or
 * "kv" over SQLite, possibly through failinject) in the scratch
 * directory, with learn/forget/classify/stats helpers that fail the
 * test on errors.  Header-only (static), since each unit test is its
 * own program.
 */
#ifndef POSTERN_T_BAYES_FX_H
#define POSTERN_T_BAYES_FX_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filters/bayes.h"
#include "lookup/lookup.h"
#include "store/kv.h"

/* ---- tokens ---- */

static inline bool
has(const struct bayes_tokens *t, const char *tok)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(bayes_token_text(t, i), tok) == 0)
			return true;
	return false;
}

static void
tokenize(struct bayes_tokens *t, const char *msg, const char *text)
{
	bayes_tokenize(t, (const unsigned char *)msg, strlen(msg), text,
	    text != NULL ? strlen(text) : 0);
}

/* ---- a generated corpus ---- */

static const char *const ham_words[] = {
	"meeting", "project", "budget", "report", "schedule", "review",
	"lunch", "family", "weekend", "release", "minutes", "agenda",
	"quarterly", "deadline", "colleague", "draft", "notes", "attached",
	"thanks", "regards", "kernel", "patch", "compile", "holiday",
	"birthday", "dinner", "garden", "invoice", "conference", "slides",
};
static const char *const spam_words[] = {
	"viagra", "pills", "cheap", "winner", "prize", "casino", "loan",
	"free", "offer", "click", "urgent", "million", "bitcoin", "lottery",
	"discount", "guaranteed", "unsubscribe", "bonus", "claim", "credit",
	"investment", "limited", "exclusive", "deal", "invoice", "cash",
	"rolex", "replica", "pharmacy", "congratulations",
};
static const char *const common_words[] = {
	"the", "and", "you", "please", "today", "information", "email",
	"now", "your", "with", "this", "about", "will", "have", "from",
	"more", "time", "just", "here", "new",
};

static uint32_t rng;

static uint32_t
rnd(uint32_t n)
{
	rng = rng * 1103515245u + 12345u;
	return (rng >> 8) % n;
}

/* gen - one message of class spam (or ham), number i */
static void
gen(struct buf *m, bool spam, unsigned i)
{
	const char *const *own = spam ? spam_words : ham_words;

	buf_reset(m);
	buf_addf(m, "From: %s%u@%s\r\nTo: u@test.example\r\n"
	    "Message-ID: <%s%u@gen.example>\r\nSubject: %s %s\r\n\r\n",
	    spam ? "promo" : "colleague", rnd(50), spam ? "bulk.example" :
	    "work.example", spam ? "s" : "h", i, own[rnd(30)], own[rnd(30)]);
	for (unsigned w = 0; w < 40; w++) {
		if (rnd(10) < 6)
			buf_addf(m, "%s ", own[rnd(30)]);
		else
			buf_addf(m, "%s ", common_words[rnd(20)]);
		if (w % 10 == 9)
			buf_add_str(m, "\r\n");
	}
	if (spam && rnd(2) == 0)
		buf_addf(m, "http://offer%u.bulk.example/go\r\n", rnd(5));
}

/* ---- fixture: a lookup store on either backend ---- */

struct fx {
	const char *backend;	/* "memory" or "kv" */
	const char *kv_backend;	/* kv: NULL = "sqlite" */
	struct kv *kv;
	struct lookup *l;
	struct bayes *b;
	struct buf err;
	unsigned seq;
	int64_t now;
};

static struct fx mem_fx = { .backend = "memory" };
static struct fx kv_fx = { .backend = "kv" };
static struct fx fi_fx = { .backend = "kv",
	.kv_backend = "failinject:sqlite" };

static int64_t
fx_clock(void *arg)
{
	return ((struct fx *)arg)->now;
}

static void
fx_open(struct fx *f, unsigned min_learned, bool per_user)
{
	struct lookup_options lo;
	struct bayes_options bo;

	buf_init(&f->err, 0);
	f->now = 1700000000;
	memset(&lo, 0, sizeof(lo));
	lo.backend = f->backend;
	lo.now = fx_clock;
	lo.now_arg = f;
	if (strcmp(f->backend, "kv") == 0) {
		char path[64];
		struct kv_options ko = { f->kv_backend != NULL ?
		    f->kv_backend : "sqlite", path, false };

		(void)snprintf(path, sizeof(path), "%s%u.sqlite",
		    f->kv_backend != NULL ? "fi" : "kv", f->seq++);
		if (kv_open(&ko, &f->kv, &f->err) < 0)
			fail_msg("kv_open: %s", buf_cstr(&f->err));
		lo.kv = f->kv;
	}
	if (lookup_open(&lo, &f->l, &f->err) < 0)
		fail_msg("lookup_open: %s", buf_cstr(&f->err));
	memset(&bo, 0, sizeof(bo));
	bo.lookup = f->l;
	bo.min_learned = min_learned;
	bo.per_user = per_user;
	f->b = bayes_new(&bo);
}

static void
fx_close(struct fx *f)
{
	bayes_free(&f->b);
	lookup_close(&f->l);
	kv_close(&f->kv);
	buf_free(&f->err);
}

static void
ok(struct fx *f, int rc)
{
	if (rc < 0)
		fail_msg("%s", buf_cstr(&f->err));
}

static enum bayes_outcome
learn(struct fx *f, const char *msg, const char *user, enum bayes_class c,
    bool relearn)
{
	struct bayes_tokens t;
	enum bayes_outcome out;

	memset(&t, 0, sizeof(t));
	tokenize(&t, msg, NULL);
	ok(f, bayes_learn(f->b, &t, user, c, relearn, 0, &out, &f->err));
	bayes_tokens_free(&t);
	return out;
}

static enum bayes_outcome
forget(struct fx *f, const char *msg, enum bayes_class c)
{
	struct bayes_tokens t;
	enum bayes_outcome out;

	memset(&t, 0, sizeof(t));
	tokenize(&t, msg, NULL);
	ok(f, bayes_forget(f->b, &t, NULL, c, &out, &f->err));
	bayes_tokens_free(&t);
	return out;
}

static void
classify(struct fx *f, const char *msg, const char *user,
    struct bayes_result *r)
{
	struct bayes_tokens t;

	memset(&t, 0, sizeof(t));
	tokenize(&t, msg, NULL);
	ok(f, bayes_classify(f->b, &t, user, r, &f->err));
	bayes_tokens_free(&t);
}

static struct bayes_stats
stats(struct fx *f, const char *user)
{
	struct bayes_stats s;

	ok(f, bayes_stats(f->b, user, &s, &f->err));
	return s;
}

static int64_t
counter_of(struct fx *f, const char *key, size_t klen)
{
	struct buf v = BUF_INIT(0);
	int64_t n = 0;
	int r = lookup_get(f->l, key, klen, &v, &f->err);

	ok(f, r);
	if (r == 1)
		ok(f, lookup_parse_counter(v.data, v.len, &n));
	buf_free(&v);
	return n;
}

#endif
