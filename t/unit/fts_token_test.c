/*
 * fts_token_test.c - store/fts.h without an index: the tokenizer by
 * tables (ASCII, punctuation, apostrophes, hyphens, addresses, URLs,
 * numbers, accented Latin, ß, Greek, Cyrillic, CJK, invalid UTF-8, long
 * tokens), every code point checked against the tokenizer's invariants
 * and glibc's case mapping, and stemming.
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
	};

	/* e.g. FTS_TEST=test_bench for the figures alone */
	if (getenv("FTS_TEST") != NULL)
		cmocka_set_test_filter(getenv("FTS_TEST"));

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
