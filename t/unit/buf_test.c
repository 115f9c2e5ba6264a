/*
 * buf_test.c - common/buf.h (limits, growth, NUL termination, consume,
 * truncate, steal, printf) and the helpers of common/util.c (parse_u64,
 * the ASCII comparisons, ct_equal).  Every limit is tested at exactly max
 * and one past it, and a refused call must leave the buffer as it was.
 * Contract violations are tested to PANIC in a child process.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "t/unit/unit_dies.h"
#include "common/buf.h"
#include "common/common.h"
#include "common/log.h"
#include "common/xalloc.h"

#define S(lit) lit, sizeof(lit) - 1

/* check_inv - the invariant of buf.c, after every operation */
static void
check_inv(const struct buf *b)
{
	if (b->data == NULL) {
		assert_int_equal(b->len, 0);
		assert_int_equal(b->cap, 0);
		return;
	}
	assert_true(b->len <= b->cap);
	assert_int_equal(b->data[b->len], '\0');
	if (b->max != 0) {
		assert_true(b->len <= b->max);
		assert_true(b->cap <= b->max);
	}
}

/* fill - a buffer of max bytes holding n bytes "0123456789012..." */
static void
fill(struct buf *b, size_t max, size_t n)
{
	buf_init(b, max);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(buf_append_byte(b, (unsigned char)('0' +
		    i % 10)), 0);
	check_inv(b);
}

static bool
holds_prefix(const struct buf *b, size_t n)
{
	if (b->len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (b->data[i] != '0' + i % 10)
			return false;
	return true;
}

enum op { OP_RESERVE, OP_APPEND, OP_APPEND_STR, OP_APPEND_BYTE };

static void
test_limits(void **state)
{
	static const struct {
		const char *name;
		enum op op;
		size_t max, pre, n;
		int want;
	} cases[] = {
		{ "append unlimited", OP_APPEND, 0, 0, 100, 0 },
		{ "append unlimited, large", OP_APPEND, 0, 7, 1u << 20, 0 },
		{ "append exactly max", OP_APPEND, 10, 0, 10, 0 },
		{ "append one over", OP_APPEND, 10, 0, 11, -1 },
		{ "append fills up", OP_APPEND, 10, 4, 6, 0 },
		{ "append one over after", OP_APPEND, 10, 4, 7, -1 },
		{ "append 0 when full", OP_APPEND, 10, 10, 0, 0 },
		{ "append 1 when full", OP_APPEND, 10, 10, 1, -1 },
		{ "append 0 to unallocated", OP_APPEND, 10, 0, 0, 0 },
		{ "append max 1", OP_APPEND, 1, 0, 1, 0 },
		{ "append max 1, over", OP_APPEND, 1, 0, 2, -1 },
		{ "append huge with a limit", OP_APPEND, 10, 3, SIZE_MAX, -1 },
		{ "append past the first allocation", OP_APPEND, 1000, 60, 940,
		    0 },
		{ "append past, one over", OP_APPEND, 1000, 60, 941, -1 },
		{ "str exactly max", OP_APPEND_STR, 10, 3, 7, 0 },
		{ "str one over", OP_APPEND_STR, 10, 3, 8, -1 },
		{ "str empty when full", OP_APPEND_STR, 10, 10, 0, 0 },
		{ "byte fills up", OP_APPEND_BYTE, 10, 9, 1, 0 },
		{ "byte when full", OP_APPEND_BYTE, 10, 10, 1, -1 },
		{ "byte unlimited", OP_APPEND_BYTE, 0, 100, 1, 0 },
		{ "reserve exactly max", OP_RESERVE, 64, 0, 64, 0 },
		{ "reserve one over", OP_RESERVE, 64, 0, 65, -1 },
		{ "reserve rest", OP_RESERVE, 100, 30, 70, 0 },
		{ "reserve rest + 1", OP_RESERVE, 100, 30, 71, -1 },
		{ "reserve 0 when full", OP_RESERVE, 100, 100, 0, 0 },
		{ "reserve unlimited", OP_RESERVE, 0, 5, 100000, 0 },
		{ "reserve huge with a limit", OP_RESERVE, 100, 1, SIZE_MAX,
		    -1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b;
		size_t n = cases[i].n, cap0;
		char *src = NULL;
		int r = 0;

		fill(&b, cases[i].max, cases[i].pre);
		cap0 = b.cap;
		if (cases[i].op == OP_APPEND || cases[i].op == OP_APPEND_STR) {
			/* a huge n is refused before the source is read */
			bool real = n <= (1u << 20);

			src = xmalloc(real ? n + 1 : 1);
			for (size_t k = 0; real && k < n; k++)
				src[k] = (char)('0' + (cases[i].pre + k) % 10);
			src[real ? n : 0] = '\0';
		}
		switch (cases[i].op) {
		case OP_RESERVE:
			r = buf_reserve(&b, n);
			break;
		case OP_APPEND:
			r = buf_append(&b, src, n);
			break;
		case OP_APPEND_STR:
			r = buf_append_str(&b, src);
			break;
		case OP_APPEND_BYTE:
			r = buf_append_byte(&b, (unsigned char)('0' +
			    cases[i].pre % 10));
			break;
		}
		if (r != cases[i].want)
			fail_msg("%s: got %d want %d", cases[i].name, r,
			    cases[i].want);
		check_inv(&b);
		if (r < 0) {
			/* refused: nothing changed, not even the allocation */
			if (!holds_prefix(&b, cases[i].pre) || b.cap != cap0)
				fail_msg("%s: refused but changed",
				    cases[i].name);
		} else if (cases[i].op == OP_RESERVE) {
			assert_true(holds_prefix(&b, cases[i].pre));
			assert_non_null(b.data);
			assert_true(b.cap - b.len >= n);
		} else if (!holds_prefix(&b, cases[i].pre + n)) {
			fail_msg("%s: wrong content", cases[i].name);
		}
		free(src);
		buf_free(&b);
	}
}

static void
test_printf(void **state)
{
	static const struct {
		const char *name;
		size_t max, pre, n;	/* n: chars printed */
		int want;
	} cases[] = {
		{ "unlimited", 0, 0, 300, 0 },
		{ "unlimited, prefilled", 0, 50, 300, 0 },
		{ "exactly max", 20, 0, 20, 0 },
		{ "one over", 20, 0, 21, -1 },
		{ "fills up", 20, 5, 15, 0 },
		{ "one over after", 20, 5, 16, -1 },
		{ "empty when full", 20, 20, 0, 0 },
		{ "one char when full", 20, 20, 1, -1 },
		/* cap 64 after the prefill: growth must stop at max */
		{ "grows to exactly max", 100, 60, 40, 0 },
		{ "grows, one over", 100, 60, 41, -1 },
		{ "max equals first allocation", 64, 0, 64, 0 },
		{ "max 1", 1, 0, 1, 0 },
		{ "max 1, over", 1, 0, 2, -1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b;
		size_t n = cases[i].n, cap0;
		char *arg = xmalloc(n + 1);
		int r;

		for (size_t k = 0; k < n; k++)
			arg[k] = (char)('0' + (cases[i].pre + k) % 10);
		arg[n] = '\0';
		fill(&b, cases[i].max, cases[i].pre);
		cap0 = b.cap;
		r = buf_printf(&b, "%s", arg);
		if (r != cases[i].want)
			fail_msg("%s: got %d want %d", cases[i].name, r,
			    cases[i].want);
		check_inv(&b);
		if (r < 0 && (!holds_prefix(&b, cases[i].pre) ||
		    b.cap != cap0))
			fail_msg("%s: refused but changed", cases[i].name);
		if (r == 0 && !holds_prefix(&b, cases[i].pre + n))
			fail_msg("%s: wrong content", cases[i].name);
		free(arg);
		buf_free(&b);
	}
}

static void
test_printf_format(void **state)
{
	struct buf b = BUF_INIT(0);
	struct buf lim = BUF_INIT(12);

	(void)state;
	assert_int_equal(buf_printf(&b, "%s", ""), 0);	/* allocates */
	assert_non_null(b.data);
	assert_string_equal(buf_cstr(&b), "");
	assert_int_equal(buf_printf(&b, "%d-%s-%zu-%c", -42, "x", (size_t)7,
	    'z'), 0);
	assert_int_equal(buf_printf(&b, "|%05u|", 12u), 0);
	assert_string_equal(buf_cstr(&b), "-42-x-7-z|00012|");
	assert_int_equal(b.len, strlen("-42-x-7-z|00012|"));
	check_inv(&b);
	buf_addf(&b, "%s", "!");
	assert_string_equal(buf_cstr(&b), "-42-x-7-z|00012|!");
	/* a limited buffer: the refused call leaves the earlier text */
	assert_int_equal(buf_printf(&lim, "%d", 123456), 0);
	assert_int_equal(buf_printf(&lim, "%d", 1234567), -1);
	assert_string_equal(buf_cstr(&lim), "123456");
	assert_int_equal(buf_printf(&lim, "%d", 123456), 0);
	assert_string_equal(buf_cstr(&lim), "123456123456");
	assert_int_equal(lim.len, 12);
	check_inv(&lim);
	buf_free(&b);
	buf_free(&lim);
}

static void
test_consume_truncate(void **state)
{
	static const struct {
		const char *name;
		bool consume;
		size_t n;
		const char *want;
	} cases[] = {
		{ "consume 0", true, 0, "hello world" },
		{ "consume 1", true, 1, "ello world" },
		{ "consume 6", true, 6, "world" },
		{ "consume all but 1", true, 10, "d" },
		{ "consume all", true, 11, "" },
		{ "truncate 0", false, 0, "" },
		{ "truncate 5", false, 5, "hello" },
		{ "truncate to len", false, 11, "hello world" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b = BUF_INIT(64);
		size_t cap;

		assert_int_equal(buf_append_str(&b, "hello world"), 0);
		cap = b.cap;
		if (cases[i].consume)
			buf_consume(&b, cases[i].n);
		else
			buf_truncate(&b, cases[i].n);
		check_inv(&b);
		if (b.len != strlen(cases[i].want) ||
		    strcmp(buf_cstr(&b), cases[i].want) != 0)
			fail_msg("%s: \"%s\"", cases[i].name, buf_cstr(&b));
		assert_int_equal(b.cap, cap);	/* keeps the allocation */
		/* the freed room is usable again, up to max */
		assert_int_equal(buf_reserve(&b, 64 - b.len), 0);
		assert_int_equal(buf_reserve(&b, 65 - b.len), -1);
		buf_free(&b);
	}
	/* on an unallocated buffer 0 is the only valid n */
	{
		struct buf b = BUF_INIT(0);

		buf_consume(&b, 0);
		buf_truncate(&b, 0);
		check_inv(&b);
		assert_null(b.data);
		assert_string_equal(buf_cstr(&b), "");
	}
	/* binary data: embedded NULs are data, not terminators */
	{
		struct buf b = BUF_INIT(0);

		buf_add(&b, "a\0b\0c", 5);
		buf_consume(&b, 2);
		assert_int_equal(b.len, 3);
		assert_memory_equal(b.data, "b\0c", 4);
		buf_truncate(&b, 1);
		assert_memory_equal(b.data, "b", 2);
		buf_free(&b);
	}
}

static void
test_steal(void **state)
{
	struct buf b = BUF_INIT(16);
	size_t len = 99;
	char *s;

	(void)state;
	/* empty and never allocated: "" (never NULL), length 0 */
	s = buf_steal(&b, &len);
	assert_non_null(s);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(s);
	/* allocated but empty */
	assert_int_equal(buf_reserve(&b, 1), 0);
	s = buf_steal(&b, &len);
	assert_string_equal(s, "");
	assert_int_equal(len, 0);
	free(s);
	/* non-empty: the caller owns the bytes, the buffer starts over */
	assert_int_equal(buf_append(&b, "abc\0def", 7), 0);
	s = buf_steal(&b, &len);
	assert_int_equal(len, 7);
	assert_memory_equal(s, "abc\0def", 8);	/* NUL-terminated */
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(s);
	s = buf_steal(&b, NULL);	/* len_r is optional */
	free(s);
	/* reusable, and the limit still holds */
	assert_int_equal(b.max, 16);
	assert_int_equal(buf_append_str(&b, "0123456789abcdef"), 0);
	assert_int_equal(buf_append_byte(&b, 'x'), -1);
	s = buf_steal(&b, &len);
	assert_string_equal(s, "0123456789abcdef");
	assert_int_equal(len, 16);
	free(s);
	buf_free(&b);
}

static void
test_growth(void **state)
{
	static const struct {
		size_t max, n;
	} cases[] = {
		{ 0, 10000 },
		{ 1000, 1000 },
		{ 65, 65 },
		{ 64, 64 },
		{ 63, 63 },
		{ 1, 1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b;
		unsigned reallocs = 0;
		size_t cap = 0;

		buf_init(&b, cases[i].max);
		check_inv(&b);
		assert_null(b.data);
		assert_string_equal(buf_cstr(&b), "");
		for (size_t k = 0; k < cases[i].n; k++) {
			assert_int_equal(buf_append_byte(&b,
			    (unsigned char)('0' + k % 10)), 0);
			check_inv(&b);
			if (b.cap != cap) {
				assert_true(b.cap > cap);
				reallocs++;
				cap = b.cap;
			}
		}
		assert_true(holds_prefix(&b, cases[i].n));
		/* geometric growth: a handful of reallocations */
		if (reallocs > 10)
			fail_msg("max %zu: %u reallocations for %zu bytes",
			    cases[i].max, reallocs, cases[i].n);
		if (cases[i].max != 0)
			assert_int_equal(buf_append_byte(&b, 'x'), -1);
		/* reset keeps the allocation, free releases it */
		buf_reset(&b);
		check_inv(&b);
		assert_int_equal(b.cap, cap);
		assert_string_equal(buf_cstr(&b), "");
		buf_free(&b);
		check_inv(&b);
		assert_null(b.data);
		assert_int_equal(b.max, cases[i].max);
		/* ... and leaves a buffer that may be reused */
		assert_int_equal(buf_append_str(&b, "0"), 0);
		assert_true(holds_prefix(&b, 1));
		buf_free(&b);
	}
}

static void
panic_add_full(void *arg)
{
	struct buf b = BUF_INIT(4);

	(void)arg;
	buf_add(&b, "abcd", 4);
	buf_add(&b, "e", 1);
}

static void
panic_addf_full(void *arg)
{
	struct buf b = BUF_INIT(4);

	(void)arg;
	buf_addf(&b, "%s", "abcde");
}

static void
panic_consume_past(void *arg)
{
	struct buf b = BUF_INIT(0);

	(void)arg;
	buf_add(&b, "ab", 2);
	buf_consume(&b, 3);
}

static void
panic_truncate_past(void *arg)
{
	struct buf b = BUF_INIT(0);

	(void)arg;
	buf_add(&b, "ab", 2);
	buf_truncate(&b, 3);
}

static void
no_panic_add_fits(void *arg)
{
	struct buf b = BUF_INIT(4);

	(void)arg;
	buf_add(&b, "abcd", 4);
	buf_free(&b);
}

static void
test_panics(void **state)
{
	static const struct {
		const char *name;
		void (*fn)(void *);
		bool want;
	} cases[] = {
		{ "buf_add over max", panic_add_full, true },
		{ "buf_addf over max", panic_addf_full, true },
		{ "buf_consume past len", panic_consume_past, true },
		{ "buf_truncate past len", panic_truncate_past, true },
		{ "buf_add exactly max", no_panic_add_fits, false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (unit_dies(cases[i].fn, NULL) != cases[i].want)
			fail_msg("%s: %s", cases[i].name, cases[i].want ?
			    "did not PANIC" : "PANICked");
}

/* ---- util.c ---- */

static void
test_parse_u64(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		uint64_t max;
		int want;
		uint64_t val;
	} cases[] = {
		{ S(""), UINT64_MAX, -1, 0 },
		{ S("0"), UINT64_MAX, 0, 0 },
		{ S("7"), UINT64_MAX, 0, 7 },
		{ S("00"), UINT64_MAX, 0, 0 },
		{ S("0042"), UINT64_MAX, 0, 42 },
		{ S("12345"), UINT64_MAX, 0, 12345 },
		{ S("+1"), UINT64_MAX, -1, 0 },
		{ S("-1"), UINT64_MAX, -1, 0 },
		{ S("-0"), UINT64_MAX, -1, 0 },
		{ S(" 1"), UINT64_MAX, -1, 0 },
		{ S("1 "), UINT64_MAX, -1, 0 },
		{ S("12a"), UINT64_MAX, -1, 0 },
		{ S("0x10"), UINT64_MAX, -1, 0 },
		{ S("1.5"), UINT64_MAX, -1, 0 },
		{ S("1\0" "2"), UINT64_MAX, -1, 0 },
		{ S("\xd9\xa3"), UINT64_MAX, -1, 0 },	/* Arabic-Indic 3 */
		{ S("18446744073709551615"), UINT64_MAX, 0, UINT64_MAX },
		{ S("18446744073709551616"), UINT64_MAX, -1, 0 },
		{ S("18446744073709551620"), UINT64_MAX, -1, 0 },
		{ S("99999999999999999999"), UINT64_MAX, -1, 0 },
		{ S("28446744073709551615"), UINT64_MAX, -1, 0 },
		{ S("00000000000000000001"), UINT64_MAX, 0, 1 },
		{ S("184467440737095516150"), UINT64_MAX, -1, 0 },
		/* at most 20 characters, even when they are leading zeros
		 * (RFC 1870's 1*20DIGIT) */
		{ S("000000000000000000001"), UINT64_MAX, -1, 0 },
		{ S("1844674407370955161"), UINT64_MAX, 0,
		    1844674407370955161ull },
		{ S("100"), 100, 0, 100 },
		{ S("101"), 100, -1, 0 },
		{ S("0"), 0, 0, 0 },
		{ S("1"), 0, -1, 0 },
		{ S("4294967295"), UINT32_MAX, 0, UINT32_MAX },
		{ S("4294967296"), UINT32_MAX, -1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t v = 0xdeadbeef;
		int r = parse_u64(cases[i].s, cases[i].len, cases[i].max, &v);

		if (r != cases[i].want)
			fail_msg("case %zu \"%.*s\" max %llu: got %d", i,
			    (int)cases[i].len, cases[i].s,
			    (unsigned long long)cases[i].max, r);
		if (r == 0 && v != cases[i].val)
			fail_msg("case %zu \"%s\": value %llu", i, cases[i].s,
			    (unsigned long long)v);
		if (r < 0 && v != 0xdeadbeef)
			fail_msg("case %zu \"%s\": *val_r written on error", i,
			    cases[i].s);
	}
	/* only len bytes are read: the digits may run on past them */
	{
		uint64_t v;

		assert_int_equal(parse_u64("12345", 3, UINT64_MAX, &v), 0);
		assert_int_equal(v, 123);
		assert_int_equal(parse_u64("12x", 2, UINT64_MAX, &v), 0);
		assert_int_equal(v, 12);
	}
}

static void
test_ascii_eq_nocase(void **state)
{
	static const struct {
		const char *a;
		size_t alen;
		const char *lit;
		bool want;
	} cases[] = {
		{ S("MAIL"), "mail", true },
		{ S("mail"), "MAIL", true },
		{ S("MaIl"), "mAiL", true },
		{ S("mail"), "mail", true },
		{ S(""), "", true },
		{ S("mai"), "mail", false },	/* prefix of lit */
		{ S("mails"), "mail", false },	/* lit is a prefix */
		{ S(""), "x", false },
		{ S("x"), "", false },
		{ S("mail"), "maij", false },
		{ S("a\0b"), "a", false },	/* NUL in a is a byte */
		{ S("@"), "`", false },	/* 0x40 vs 0x60: not letters */
		{ S("["), "{", false },
		{ S("\xc9"), "\xe9", false },	/* Latin-1 É/é: ASCII only */
		{ "MAILX", 4, "mail", true },	/* only alen bytes of a */
		{ S("1-2"), "1-2", true },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (ascii_eq_nocase(cases[i].a, cases[i].alen, cases[i].lit) !=
		    cases[i].want)
			fail_msg("case %zu (\"%.*s\", \"%s\")", i,
			    (int)cases[i].alen, cases[i].a, cases[i].lit);
}

static int
sign(int v)
{
	return (v > 0) - (v < 0);
}

static void
test_ascii_strncasecmp(void **state)
{
	static const struct {
		const char *a, *b;
		size_t n;
		int want;	/* sign */
	} cases[] = {
		{ "abc", "ABC", 3, 0 },
		{ "abc", "ABD", 3, -1 },
		{ "abd", "ABC", 3, 1 },
		{ "abc", "abd", 2, 0 },		/* only n bytes */
		{ "abc", "xyz", 0, 0 },
		{ "ab", "abc", 3, -1 },		/* shorter is less */
		{ "abc", "ab", 3, 1 },
		{ "ab", "AB", 10, 0 },		/* stops at the NULs */
		{ "", "", 5, 0 },
		{ "Z", "a", 1, 1 },		/* z > a after folding */
		{ "[", "a", 1, -1 },		/* '[' not folded: 0x5b */
		{ "@", "`", 1, -1 },
		{ "\xc9", "\xe9", 1, -1 },	/* no locale folding */
		{ "\xff", "a", 1, 1 },		/* unsigned compare */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int r = sign(ascii_strncasecmp(cases[i].a, cases[i].b,
		    cases[i].n));

		if (r != cases[i].want)
			fail_msg("case %zu (\"%s\", \"%s\", %zu): %d", i,
			    cases[i].a, cases[i].b, cases[i].n, r);
		/* antisymmetric */
		assert_int_equal(sign(ascii_strncasecmp(cases[i].b,
		    cases[i].a, cases[i].n)), -r);
	}
}

static void
test_ascii_classes(void **state)
{
	(void)state;
	for (int c = -1; c < 256; c++) {
		bool lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z';
		bool digit = c >= '0' && c <= '9';

		assert_int_equal(is_ascii_alpha(c), lower || upper);
		assert_int_equal(is_ascii_digit(c), digit);
		assert_int_equal(is_ascii_alnum(c), lower || upper || digit);
		assert_int_equal(ascii_tolower(c), upper ? c + 32 : c);
	}
}

static void
test_ct_equal(void **state)
{
	static const struct {
		const char *a, *b;
		size_t n;
		bool want;
	} cases[] = {
		{ "", "", 0, true },
		{ "abc", "xyz", 0, true },	/* zero bytes compared */
		{ "secret", "secret", 6, true },
		{ "secret", "secreT", 6, false },	/* case matters */
		{ "secret", "Secret", 6, false },
		{ "a\0b", "a\0c", 3, false },	/* past a NUL */
		{ "a\0b", "a\0b", 3, true },
		{ "\x80", "\x00", 1, false },	/* each bit counts */
		{ "\x01", "\x00", 1, false },
		{ "abcdef", "abcxyz", 3, true },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (ct_equal(cases[i].a, cases[i].b, cases[i].n) !=
		    cases[i].want)
			fail_msg("case %zu", i);
	/* every single-bit difference in a long input is seen */
	{
		unsigned char x[256], y[256];

		for (size_t i = 0; i < sizeof(x); i++)
			x[i] = y[i] = (unsigned char)i;
		assert_true(ct_equal(x, y, sizeof(x)));
		for (size_t i = 0; i < sizeof(x); i++)
			for (int bit = 0; bit < 8; bit++) {
				y[i] ^= (unsigned char)(1u << bit);
				assert_false(ct_equal(x, y, sizeof(x)));
				y[i] ^= (unsigned char)(1u << bit);
			}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_printf),
		cmocka_unit_test(test_printf_format),
		cmocka_unit_test(test_consume_truncate),
		cmocka_unit_test(test_steal),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_panics),
		cmocka_unit_test(test_parse_u64),
		cmocka_unit_test(test_ascii_eq_nocase),
		cmocka_unit_test(test_ascii_strncasecmp),
		cmocka_unit_test(test_ascii_classes),
		cmocka_unit_test(test_ct_equal),
	};

	log_open(LOG_DEST_STDERR, LOG_LVL_ERROR, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
