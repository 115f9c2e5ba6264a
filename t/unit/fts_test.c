/*
 * fts_test.c - store/fts.h: the tokenizer by tables (ASCII, punctuation,
 * apostrophes, hyphens, addresses, URLs, numbers, accented Latin, ß,
 * Greek, Cyrillic, CJK, invalid UTF-8, long tokens), every code point
 * checked against the tokenizer's invariants and glibc's case mapping,
 * stemming; then the index over the real SQLite kv backend: fields,
 * AND/OR/NOT, prefixes, universes, removal and reindexing (no key left
 * behind), batch merging against an in-memory model, limits, corrupt
 * values, and an injected kv failure at every step (nothing half
 * written).  Last, a benchmark that prints index rate and query latency
 * (figures only, no assertions; FTS_BENCH_DOCS sets its size).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>
#include <wctype.h>

#include "common/buf.h"
#include "common/common.h"
#include "store/fts.h"
#include "store/kv.h"
#include "store/store_priv.h"
#include "t/unit/unit_tmpdir.h"

/* toks - the tokens of len bytes, joined by single spaces */
static const char *
toks(const void *in, size_t len, size_t max)
{
	static struct buf out;
	struct buf list = BUF_INIT(0);
	size_t n = fts_token_list(in, len, max, &list);

	buf_reset(&out);
	for (size_t i = 0, off = 0; i < n && i < max; i++) {
		const char *t = (const char *)list.data + off;

		if (i > 0)
			buf_add_str(&out, " ");
		buf_add_str(&out, t);
		off += strlen(t) + 1;
	}
	buf_free(&list);
	return buf_cstr(&out);
}

#define TOKS(s) toks(s, strlen(s), 1000)

static void
test_tokenize(void **state)
{
	static const struct { const char *name, *in, *want; } cases[] = {
		{ "empty", "", "" },
		{ "only separators", " \t,.;!?-'@", "" },
		{ "ascii", "Hello, World!", "hello world" },
		{ "punctuation", "a;b:c/d\\e|f(g)h[i]j{k}l<m>n\"o", "a b c d e f g h i j k l m n o" },
		{ "apostrophes", "don't Alice's O\u2019Brien 'quoted'", "don t alice s o brien quoted" },
		{ "hyphens", "e-mail state-of-the-art --x", "e mail state of the art x" },
		{ "underscore plus", "snake_case a+b", "snake case a b" },
		{ "address", "Mail alice@example.com now", "mail alice example com alice@example.com now" },
		{ "address parts", "<Alice.B+tag@Mail.Example.COM>", "alice b tag mail example com alice.b+tag@mail.example.com" },
		{ "address dot after", "to bob@x.org.", "to bob x org bob@x.org" },
		{ "address no domain dot", "root@localhost", "root localhost root@localhost" },
		{ "idn address", "J\u00fcrgen@B\u00fccher.de", "jurgen bucher de jurgen@bucher.de" },
		{ "two at", "a@b@c", "a b c" },
		{ "dangling at", "alice@ @bob", "alice bob" },
		{ "bad domain joiner", "a@b_c", "a b c" },
		{ "double joiner", "a..b a@@b", "a b a b" },
		{ "url", "https://www.example.com/path?q=1&x=y#frag", "https www example com path q 1 x y frag" },
		{ "mailto", "mailto:carol@example.net", "mailto carol example net carol@example.net" },
		{ "numbers", "3.14 1,000 2024-01-15 v2 007", "3 14 1 000 2024 01 15 v2 007" },
		{ "latin-1", "Caf\u00e9 No\u00ebl na\u00efve fa\u00e7ade \u00c5SA", "cafe noel naive facade asa" },
		{ "german", "\u00dcbergr\u00f6\u00dfentr\u00e4ger Stra\u00dfe STRA\u1e9eE", "ubergrossentrager strasse strasse" },
		{ "ligatures", "\u00c6sir \u0152uvre \u00fearn", "aesir oeuvre tharn" },
		{ "latin ext-a", "\u0141\u00f3d\u017a \u010ce\u0161tina \u0130stanbul \u0131", "lodz cestina istanbul i" },
		{ "romanian", "\u0218tefan \u021b\u0103r\u0103", "stefan tara" },
		{ "vietnamese", "Ti\u1ebfng Vi\u1ec7t", "tieng viet" },
		{ "nfd", "Cafe\u0301 Nin\u0303o", "cafe nino" },
		{ "mark at start", "\u0301abc", "abc" },
		{ "greek", "\u039a\u03b1\u03bb\u03b7\u03bc\u03ad\u03c1\u03b1 \u039f\u0394\u03a5\u03a3\u03a3\u0395\u03a5\u03a3 \u1f00\u03c1\u03c7\u03ae",
		    "\u03ba\u03b1\u03bb\u03b7\u03bc\u03b5\u03c1\u03b1 \u03bf\u03b4\u03c5\u03c3\u03c3\u03b5\u03c5\u03c3 \u03b1\u03c1\u03c7\u03b7" },
		{ "final sigma", "\u03bb\u03cc\u03b3\u03bf\u03c2", "\u03bb\u03bf\u03b3\u03bf\u03c3" },
		{ "cyrillic", "\u041f\u0440\u0438\u0432\u0435\u0442 \u041c\u0418\u0420 \u0401\u043b\u043a\u0430 \u0439\u043e\u0434",
		    "\u043f\u0440\u0438\u0432\u0435\u0442 \u043c\u0438\u0440 \u0435\u043b\u043a\u0430 \u0439\u043e\u0434" },
		{ "ukrainian", "\u0407\u0436\u0430\u043a", "\u0457\u0436\u0430\u043a" },
		{ "cjk unigrams", "\u6771\u4eac\u30bf\u30ef\u30fc is \u9ad8\u3044",
		    "\u6771 \u4eac \u30bf \u30ef \u30fc is \u9ad8 \u3044" },
		{ "cjk next to latin", "abc\u6f22def", "abc \u6f22 def" },
		{ "hangul", "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4", "\uc548\ub155\ud558\uc138\uc694 \uc138\uacc4" },
		{ "fullwidth", "\uff21\uff22\uff23\uff11\uff12\uff13", "abc123" },
		{ "arabic-indic digits", "\u0663\u0664\u0665", "345" },
		{ "hebrew points", "\u05e9\u05b8\u05c1\u05dc\u05d5\u05b9\u05dd", "\u05e9\u05dc\u05d5\u05dd" },
		{ "micro sign", "5\u00b5m", "5\u03bcm" },
		{ "symbols", "\u20ac100 \u00a9 \u2192 \u2605 \U0001f600 \u00d7\u00f7", "100" },
		{ "nbsp and em space", "a\u00a0b\u2003c", "a b c" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got = TOKS(cases[i].in);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name,
			    got, cases[i].want);
	}
}

static void
test_tokenize_bytes(void **state)
{
	static const struct { const char *name, *in; size_t len; const char *want; } cases[] = {
		{ "controls and NUL", "a\tb\r\nc\0d", 9, "a b c d" },
		{ "0xff", "ab\xff" "cd", 5, "ab cd" },
		{ "overlong", "a\xc0\xaf" "b", 4, "a b" },
		{ "overlong 3", "\xe0\x80\xafz", 4, "z" },
		{ "surrogate", "\xed\xa0\x80x", 4, "x" },
		{ "truncated", "caf\xc3", 4, "caf" },
		{ "truncated middle", "\xe2\x82x", 3, "x" },
		{ "past U+10FFFF", "\xf4\x90\x80\x80z", 5, "z" },
		{ "lone continuations", "\x80\x80" "a\xbf", 4, "a" },
		{ "bad byte in address", "al\xffice@example.com", 18, "al ice example com ice@example.com" },
		{ "valid 4-byte ideograph", "\xf0\xa0\x80\x80", 4, "\xf0\xa0\x80\x80" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *got = toks(cases[i].in, cases[i].len, 1000);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].name,
			    got, cases[i].want);
	}
}

static char *
rep(const char *head, const char *unit, size_t n)
{
	struct buf b = BUF_INIT(0);

	buf_add_str(&b, head);
	for (size_t i = 0; i < n; i++)
		buf_add_str(&b, unit);
	return buf_steal(&b, NULL);
}

static void
test_long_tokens(void **state)
{
	static const struct {
		const char *head, *unit; size_t n;
		const char *whead, *wunit; size_t wn;
	} cases[] = {
		{ "", "a", 100, "", "a", 64 },
		{ "", "A", 64, "", "a", 64 },
		{ "", "\u0436", 40, "", "\u0436", 32 },	/* 2 bytes each */
		{ "a", "\u0436", 40, "a", "\u0436", 31 },	/* cut at a boundary */
		{ "", "\u00df", 40, "", "ss", 32 },
		{ "a", "\u00df", 40, "a", "ss", 31 },	/* "ss" fits whole or not */
		{ "", "\u00e9", 70, "", "e", 64 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *in = rep(cases[i].head, cases[i].unit, cases[i].n);
		char *want = rep(cases[i].whead, cases[i].wunit, cases[i].wn);

		assert_true(strlen(want) <= FTS_TOKEN_MAX);
		assert_string_equal(TOKS(in), want);
		free(in);
		free(want);
	}
	/* a long address: its words, not itself */
	{
		char *local = rep("", "x", 60), *in = rep(local, "@example.com", 1);
		char *want = rep(local, " example com", 1);

		assert_string_equal(TOKS(in), want);
		free(local);
		free(in);
		free(want);
	}
}

static int
stop_after_one(void *ctx, const char *tok, size_t len)
{
	(*(int *)ctx)++;
	return 1;
}

static void
test_token_bounds(void **state)
{
	struct buf list = BUF_INIT(0);
	int calls = 0;

	assert_int_equal(fts_token_list("a b c d", 7, 2, &list), 3);
	buf_free(&list);
	assert_string_equal(toks("a b c d", 7, 2), "a b");
	assert_string_equal(toks("x a@b.c", 7, 4), "x a b c");
	assert_int_equal(fts_tokenize("a b c", 5, 0, stop_after_one, &calls), 0);
	assert_int_equal(fts_tokenize("a b c", 5, 10, stop_after_one, &calls), 1);
	assert_int_equal(calls, 1);
	fts_token_selfcheck();
}

/* is_utf8 - strict RFC 3629 */
static bool
is_utf8(const unsigned char *p, size_t len)
{
	mbstate_t st = { 0 };

	for (size_t off = 0; off < len;) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, (const char *)p + off, len - off, &st);

		if (n == 0 || n > len - off || (wc >= 0xD800 && wc < 0xE000))
			return false;
		off += n;
	}
	return true;
}

/* fold1 - the one token of code point cp alone, "" when none */
static const char *
fold1(uint32_t cp, char *out)
{
	char in[8];
	mbstate_t st = { 0 };
	size_t n = wcrtomb(in, (wchar_t)cp, &st);
	struct buf list = BUF_INIT(0);
	size_t ntok;

	assert_true(n != (size_t)-1);
	ntok = fts_token_list(in, n, 4, &list);
	assert_true(ntok <= 1);
	out[0] = '\0';
	if (ntok == 1) {
		assert_true(list.len - 1 <= FTS_TOKEN_MAX);
		memcpy(out, list.data, list.len);
	}
	buf_free(&list);
	return out;
}

/*
 * Every code point: at most one token, valid UTF-8, which tokenizes to
 * itself (folding is idempotent); and lower- and uppercase forms (glibc's
 * C.UTF-8 tables) fold alike whenever both are word characters.
 */
static void
test_every_code_point(void **state)
{
	char a[80], b[80];
	unsigned words = 0;

	assert_non_null(setlocale(LC_CTYPE, "C.UTF-8"));
	for (uint32_t cp = 1; cp <= 0x10FFFF; cp++) {
		if (cp >= 0xD800 && cp < 0xE000)
			continue;
		fold1(cp, a);
		if (a[0] == '\0')
			continue;
		words++;
		assert_true(is_utf8((const unsigned char *)a, strlen(a)));
		if (strcmp(TOKS(a), a) != 0)
			fail_msg("U+%04X: \"%s\" tokenizes to \"%s\"", cp, a,
			    TOKS(a));
		for (int up = 0; up < 2; up++) {
			uint32_t other = up ? (uint32_t)towupper(cp) :
			    (uint32_t)towlower(cp);

			if (other == cp || fold1(other, b)[0] == '\0')
				continue;
			if (strcmp(a, b) != 0)
				fail_msg("U+%04X folds to \"%s\", its case "
				    "pair U+%04X to \"%s\"", cp, a, other, b);
		}
	}
	assert_true(words > 90000);
}

static void
test_stem(void **state)
{
	static const struct { const char *lang, *in, *want; } cases[] = {
		{ NULL, "running", "run" },
		{ NULL, "mails", "mail" },
		{ NULL, "invoices", "invoic" },
		{ NULL, "invoice", "invoic" },
		{ NULL, "generously", "generous" },
		{ NULL, "the", "the" },
		{ NULL, "2024s", "2024s" },		/* digits: never */
		{ NULL, "a@b.c", "a@b.c" },		/* addresses: never */
		{ "none", "running", "running" },
		{ "german", "h\u00e4user", "haus" },
		{ "russian", "\u043a\u043d\u0438\u0433\u0430\u043c\u0438", "\u043a\u043d\u0438\u0433" },
	};
	struct buf out = BUF_INIT(0), err = BUF_INIT(0);
	struct fts_stemmer *st;
	struct fts *fts;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(fts_stemmer_new(cases[i].lang, &st, &err), 0);
		fts_stem(st, cases[i].in, strlen(cases[i].in), &out);
		if (strcmp(buf_cstr(&out), cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", cases[i].in,
			    buf_cstr(&out), cases[i].want);
		fts_stemmer_free(&st);
		assert_null(st);
	}
	assert_int_equal(fts_stemmer_new("klingon", &st, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "klingon"));
	assert_int_equal(fts_new("klingon", NULL, &fts, &err), -1);
	assert_null(fts);
	fts_free(&fts);
	buf_free(&out);
	buf_free(&err);
}

/* ---- queries: a tiny parser for the tests ----
 *   expr := and ('|' and)* ; and := unary+ ; unary := '-' unary |
 *   '(' expr ')' | [field ':'] (word | "text") ['*']
 */

struct qp {
	const char *p;
};

static struct fts_query *qp_expr(struct qp *q);

static void
qp_space(struct qp *q)
{
	while (*q->p == ' ')
		q->p++;
}

static struct fts_query *
qp_unary(struct qp *q)
{
	static const struct { const char *name; unsigned fields; } f[] = {
		{ "subject:", FTS_F(FTS_SUBJECT) }, { "from:", FTS_F(FTS_FROM) },
		{ "to:", FTS_F(FTS_TO) }, { "cc:", FTS_F(FTS_CC) },
		{ "bcc:", FTS_F(FTS_BCC) }, { "body:", FTS_F(FTS_BODY) },
		{ "att:", FTS_F(FTS_ATTACHMENT) },
	};
	unsigned fields = FTS_F_ANY;
	const char *start;
	size_t len;
	bool prefix;

	qp_space(q);
	if (*q->p == '-') {
		q->p++;
		return fts_query_add(fts_query_op(FTS_Q_NOT), qp_unary(q));
	}
	if (*q->p == '(') {
		struct fts_query *e;

		q->p++;
		e = qp_expr(q);
		qp_space(q);
		assert_int_equal(*q->p++, ')');
		return e;
	}
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		if (strncmp(q->p, f[i].name, strlen(f[i].name)) == 0) {
			fields = f[i].fields;
			q->p += strlen(f[i].name);
		}
	if (*q->p == '"') {
		start = ++q->p;
		q->p = strchr(start, '"');
		assert_non_null(q->p);
		len = (size_t)(q->p++ - start);
	} else {
		start = q->p;
		q->p += strcspn(q->p, " ()|*");
		len = (size_t)(q->p - start);
	}
	prefix = *q->p == '*';
	q->p += prefix;
	return fts_query_term(fields, start, len, prefix);
}

static struct fts_query *
qp_expr(struct qp *q)
{
	struct fts_query *or = fts_query_op(FTS_Q_OR);

	for (;;) {
		struct fts_query *and = fts_query_op(FTS_Q_AND);

		qp_space(q);
		while (*q->p != '\0' && *q->p != ')' && *q->p != '|') {
			fts_query_add(and, qp_unary(q));
			qp_space(q);
		}
		fts_query_add(or, and);
		if (*q->p != '|')
			return or;
		q->p++;
	}
}

static struct fts_query *
parse(const char *s)
{
	struct qp q = { s };
	struct fts_query *e = qp_expr(&q);

	assert_int_equal(*q.p, '\0');
	return e;
}

/* ---- the index over SQLite ---- */

struct env {
	struct kv *kv;
	struct fts *fts;
	struct buf err;
};

static struct env *
env_open_lim(const char *backend, const char *path,
    const struct fts_limits *lim)
{
	struct env *e = calloc(1, sizeof(*e));
	struct kv_options opt = { .backend = backend, .path = path };

	buf_init(&e->err, 0);
	if (kv_open(&opt, &e->kv, &e->err) < 0)
		fail_msg("kv_open: %s", buf_cstr(&e->err));
	assert_int_equal(fts_new(NULL, lim, &e->fts, &e->err), 0);
	return e;
}

#define env_open(backend, path) env_open_lim(backend, path, NULL)

static void
env_close(struct env *e)
{
	kv_close(&e->kv);
	fts_free(&e->fts);
	assert_null(e->fts);
	buf_free(&e->err);
	free(e);
}

/* bits - a bitmap as "1 2 3" */
static const char *
bits(const roaring_bitmap_t *r)
{
	static struct buf out;
	roaring_uint32_iterator_t *it = roaring_create_iterator(r);

	buf_reset(&out);
	for (; it->has_value; roaring_advance_uint32_iterator(it))
		buf_addf(&out, "%s%u", out.len ? " " : "", it->current_value);
	roaring_free_uint32_iterator(it);
	return buf_cstr(&out);
}

struct search_arg {
	struct env *e;
	uint32_t account;
	const char *q;
	const roaring_bitmap_t *universe;
	roaring_bitmap_t *r;
};

static int
search_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct search_arg *a = arg;
	struct fts_query *q = parse(a->q);
	int rc = fts_search(a->e->fts, t, a->account, q, a->universe, &a->r,
	    err);

	fts_query_free(&q);
	assert_null(q);
	return rc;
}

/* search - the docs matching q, as "1 2 3"; "ERR: ..." on error */
static const char *
search_in(struct env *e, uint32_t account, const char *q,
    const roaring_bitmap_t *universe)
{
	static struct buf out;
	struct search_arg a = { e, account, q, universe, NULL };

	buf_reset(&e->err);
	buf_reset(&out);
	if (kv_run(e->kv, KV_READ, search_fn, &a, &e->err) < 0) {
		buf_addf(&out, "ERR: %s", buf_cstr(&e->err));
		assert_null(a.r);
		return buf_cstr(&out);
	}
	buf_add_str(&out, bits(a.r));
	roaring_bitmap_free(a.r);
	return buf_cstr(&out);
}

#define SEARCH(e, q) search_in(e, 1, q, NULL)

struct doc {
	uint32_t account, id;
	const char *f[FTS_FIELD_MAX + 1];	/* by enum fts_field */
	bool remove;
};

struct apply_arg {
	struct env *e;
	const struct doc *docs;
	size_t n;
	int failed;	/* the last error fts returned: -1 or KV_CONFLICT */
};

static int
apply_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct apply_arg *a = arg;
	struct fts_part parts[FTS_FIELD_MAX + 1];

	for (size_t i = 0; i < a->n; i++) {
		const struct doc *d = &a->docs[i];
		struct fts_doc fd = { parts, 0 };
		int rc;

		for (unsigned f = FTS_FIELD_MIN; f <= FTS_FIELD_MAX; f++)
			if (d->f[f] != NULL)
				parts[fd.nparts++] = (struct fts_part){ f,
				    d->f[f], strlen(d->f[f]) };
		rc = d->remove ? fts_remove(a->e->fts, t, d->account, d->id,
		    err) : fts_index(a->e->fts, t, d->account, d->id, &fd, err);
		if (rc < 0)
			return a->failed = rc;
	}
	return 0;
}

/* apply_fts - index (or remove) docs in one transaction; fts's error */
static int
apply_fts(struct env *e, const struct doc *docs, size_t n, int *failed_r)
{
	struct apply_arg a = { e, docs, n, 0 };
	int rc;

	buf_reset(&e->err);
	rc = kv_run(e->kv, KV_WRITE, apply_fn, &a, &e->err);
	*failed_r = a.failed;
	return rc;
}

static int
apply(struct env *e, const struct doc *docs, size_t n)
{
	int failed;

	return apply_fts(e, docs, n, &failed);
}

struct count_arg {
	unsigned char prefix[6];
	size_t plen, n;
};

static int
count_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct count_arg *a = arg;
	unsigned char end[6];
	size_t elen = kv_prefix_end(a->prefix, a->plen, end);
	struct kv_iter *it;
	const void *k, *v;
	size_t klen, vlen;
	int rc;

	a->n = 0;
	if (kv_iter_new(t, a->prefix, a->plen, end, elen, false, &it, err) < 0)
		return -1;
	while ((rc = kv_iter_next(it, &k, &klen, &v, &vlen, err)) == 1)
		a->n++;
	kv_iter_free(&it);
	return rc;
}

/* keys - how many keys start with 'F' account [field] (field 0: any) */
static size_t
keys(struct env *e, uint32_t account, unsigned field)
{
	struct count_arg a = { { 'F', account >> 24, account >> 16 & 0xff,
	    account >> 8 & 0xff, account & 0xff, field }, field ? 6 : 5, 0 };

	assert_int_equal(kv_run(e->kv, KV_READ, count_fn, &a, &e->err), 0);
	return a.n;
}

struct merge_arg {
	struct env *e;
	uint32_t account;
};

static int
merge_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct merge_arg *a = arg;

	return fts_merge(a->e->fts, t, a->account, err);
}

/* merge - the pending docs of account into the posting lists */
static void
merge(struct env *e, uint32_t account)
{
	struct merge_arg a = { e, account };

	buf_reset(&e->err);
	if (kv_run(e->kv, KV_WRITE, merge_fn, &a, &e->err) < 0)
		fail_msg("merge: %s", buf_cstr(&e->err));
}

#define DOC(a, n, ...) { .account = a, .id = n, .f = { __VA_ARGS__ } }
#define RM(a, n) { .account = a, .id = n, .remove = true }
#define SUBJ(s) [FTS_SUBJECT] = s
#define FROM(s) [FTS_FROM] = s
#define TO(s) [FTS_TO] = s
#define CC(s) [FTS_CC] = s
#define BCC(s) [FTS_BCC] = s
#define BODY(s) [FTS_BODY] = s
#define ATT(s) [FTS_ATTACHMENT] = s

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
		cmocka_unit_test(test_tokenize),
		cmocka_unit_test(test_tokenize_bytes),
		cmocka_unit_test(test_long_tokens),
		cmocka_unit_test(test_token_bounds),
		cmocka_unit_test(test_every_code_point),
		cmocka_unit_test(test_stem),
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
		cmocka_unit_test_prestate(test_pending_model, "sqlite"),
		cmocka_unit_test_prestate(test_pending_model, "rocksdb"),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_bench),
	};

	/* e.g. FTS_TEST=test_bench for the figures alone */
	if (getenv("FTS_TEST") != NULL)
		cmocka_set_test_filter(getenv("FTS_TEST"));

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
