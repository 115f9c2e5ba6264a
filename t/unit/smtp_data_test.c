/*
 * smtp_data_test.c - table-driven tests of mta/smtp_data.c.
 *
 * Every case is fed whole, in every 2-way split, byte by byte, and through
 * an out buffer of max 3 that is drained after each call; all must give
 * the same output, flags, size and end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "mta/smtp_data.h"

#define F_BARE	0x01
#define F_LONG	0x02
#define F_BIG	0x04
#define F_8BIT	0x08
#define F_NUL	0x10

struct data_case {
	const char *name;
	enum smtp_data_mode mode;
	bool normalize;
	uint64_t max;
	const char *in;
	size_t inlen;		/* 0: strlen(in) */
	enum parse_res want;
	size_t used;		/* PARSE_OK only */
	const char *out;
	size_t outlen;		/* 0: strlen(out) */
	unsigned flags;
	uint64_t size;		/* 0: outlen */
};

#define DOT(n, norm, i, u, o, f) { .name = n, .mode = SMTP_DATA_DOT, \
	.normalize = norm, .in = i, .want = PARSE_OK, .used = u, .out = o, \
	.flags = f }
#define DOTM(n, norm, i, o, f) { .name = n, .mode = SMTP_DATA_DOT, \
	.normalize = norm, .in = i, .want = PARSE_MORE, .out = o, .flags = f }
#define RAW(n, norm, i, o, f) { .name = n, .mode = SMTP_DATA_RAW, \
	.normalize = norm, .in = i, .want = PARSE_MORE, .out = o, .flags = f }

static const struct data_case cases[] = {
	DOT("empty message", false, ".\r\n", 3, "", 0),
	DOT("simple", false, "Subject: x\r\n\r\nbody\r\n.\r\n", 23,
	    "Subject: x\r\n\r\nbody\r\n", 0),
	DOT("pipelined after end", false, "a\r\n.\r\nQUIT\r\n", 6, "a\r\n", 0),
	DOT("two ends", false, "a\r\n.\r\n.\r\n", 6, "a\r\n", 0),
	DOT("empty first line", false, "\r\n.\r\n", 5, "\r\n", 0),
	DOT("stuffed dot", false, "..a\r\n.\r\n", 8, ".a\r\n", 0),
	DOT("dot-dot line", false, "..\r\n.\r\n", 7, ".\r\n", 0),
	DOT("unstuffed dot text", false, ".a\r\n.\r\n", 7, "a\r\n", 0),
	DOT("dots in the middle", false, "a\r\n..\r\n...\r\nb.\r\n.\r\n", 19,
	    "a\r\n.\r\n..\r\nb.\r\n", 0),
	DOT("dot mid line", false, "a.b\r\n.\r\n", 8, "a.b\r\n", 0),
	DOTM("no end", false, "abc\r\n", "abc\r\n", 0),
	DOTM("CR pending", false, "abc\r", "abc", 0),
	DOTM("dot pending", false, "abc\r\n.", "abc\r\n", 0),
	DOTM("dot CR pending", false, "abc\r\n.\r", "abc\r\n", 0),
	DOTM("nothing", false, "", "", 0),

	/* smuggling: only CRLF.CRLF ends the data */
	DOTM("LF.LF", false, "a\n.\nb", "a\n.\nb", F_BARE),
	DOTM("CR.CR", false, "a\r.\rb", "a\r.\rb", F_BARE),
	DOTM("LF.CRLF", false, "a\n.\r\nb", "a\n.\r\nb", F_BARE),
	DOTM("CRLF.LF", false, "a\r\n.\nb", "a\r\n\nb", F_BARE),
	DOTM("CRLF.CR", false, "a\r\n.\rb", "a\r\n\rb", F_BARE),
	DOTM("LF.LF at start", false, "\n.\n", "\n.\n", F_BARE),
	DOTM("dot LF at start", false, ".\n", "\n", F_BARE),
	DOT("LF.LF then end", false, "a\n.\nb\r\n.\r\n", 10, "a\n.\nb\r\n",
	    F_BARE),
	DOT("CR.CR then end", false, "a\r.\rb\r\n.\r\n", 10, "a\r.\rb\r\n",
	    F_BARE),
	DOT("LF.CRLF then end", false, "a\n.\r\nb\r\n.\r\n", 11,
	    "a\n.\r\nb\r\n", F_BARE),
	DOT("CRLF.LF then end", false, "a\r\n.\nb\r\n.\r\n", 11,
	    "a\r\n\nb\r\n", F_BARE),
	DOT("CRLF.CR then end", false, "a\r\n.\rb\r\n.\r\n", 11,
	    "a\r\n\rb\r\n", F_BARE),
	DOT("CR CRLF", false, "a\r\r\n.\r\n", 7, "a\r\r\n", F_BARE),
	DOT("CRLF.CR CRLF", false, "a\r\n.\r\r\n.\r\n", 10, "a\r\n\r\r\n",
	    F_BARE),
	/* the same with normalize: stored content is pure CRLF */
	DOTM("n LF.LF", true, "a\n.\nb", "a\r\n.\r\nb", F_BARE),
	DOTM("n CR.CR", true, "a\r.\rb", "a\r\n.\r\nb", F_BARE),
	DOTM("n LF.CRLF", true, "a\n.\r\nb", "a\r\n.\r\nb", F_BARE),
	DOTM("n CRLF.LF", true, "a\r\n.\nb", "a\r\n\r\nb", F_BARE),
	DOTM("n CRLF.CR", true, "a\r\n.\rb", "a\r\n\r\nb", F_BARE),
	DOT("n LF.LF then end", true, "a\n.\nb\r\n.\r\n", 10,
	    "a\r\n.\r\nb\r\n", F_BARE),
	DOT("n CR.CR then end", true, "a\r.\rb\r\n.\r\n", 10,
	    "a\r\n.\r\nb\r\n", F_BARE),
	DOT("n CRLF.LF then end", true, "a\r\n.\nb\r\n.\r\n", 11,
	    "a\r\n\r\nb\r\n", F_BARE),
	DOT("n CR CRLF", true, "a\r\r\n.\r\n", 7, "a\r\n\r\n", F_BARE),
	DOT("n bare LF line dot", true, "\n..x\r\n.\r\n", 9,
	    "\r\n..x\r\n", F_BARE),
	DOT("n clean", true, "a\r\nb\r\n.\r\n", 9, "a\r\nb\r\n", 0),

	/* content flags */
	DOT("8bit", false, "\xc3\xa9\r\n.\r\n", 7, "\xc3\xa9\r\n", F_8BIT),
	{ .name = "NUL stored", .mode = SMTP_DATA_DOT, .in = "a\0b\r\n.\r\n",
	  .inlen = 8, .want = PARSE_OK, .used = 8, .out = "a\0b\r\n",
	  .outlen = 5, .flags = F_NUL },
	/* size limit: content "abc\r\n" is 5 octets */
	{ .name = "size exactly max", .mode = SMTP_DATA_DOT, .max = 5,
	  .in = "abc\r\n.\r\n", .want = PARSE_OK, .used = 8, .out = "abc\r\n" },
	{ .name = "size one over", .mode = SMTP_DATA_DOT, .max = 4,
	  .in = "abc\r\n.\r\n", .want = PARSE_OK, .used = 8, .out = "abc\r",
	  .flags = F_BIG, .size = 5 },
	{ .name = "size far over", .mode = SMTP_DATA_DOT, .max = 1,
	  .in = "abc\r\ndef\r\n..\r\n.\r\nX", .want = PARSE_OK, .used = 17,
	  .out = "a", .flags = F_BIG, .size = 13 },
	{ .name = "size raw", .mode = SMTP_DATA_RAW, .max = 2,
	  .in = "abc", .want = PARSE_MORE, .out = "ab", .flags = F_BIG,
	  .size = 3 },

	/* RAW (BDAT): no stuffing, no terminator; finish flushes a CR */
	RAW("raw plain", false, "a\r\n.\r\nb", "a\r\n.\r\nb", 0),
	RAW("raw dots", false, "..x\r\n.\r\n", "..x\r\n.\r\n", 0),
	RAW("raw bare LF", false, "a\nb", "a\nb", F_BARE),
	RAW("raw bare LF n", true, "a\nb", "a\r\nb", F_BARE),
	RAW("raw CR at end", false, "a\r", "a\r", F_BARE),
	RAW("raw CR at end n", true, "a\r", "a\r\n", F_BARE),
	RAW("raw CRLF at end", true, "a\r\n", "a\r\n", 0),
	RAW("raw CR CR LF n", true, "\r\r\n", "\r\n\r\n", F_BARE),
	RAW("raw empty", false, "", "", 0),
};

struct result {
	enum parse_res r;
	size_t used;
	struct buf out;
	struct smtp_data d;
};

static size_t
inlen(const struct data_case *c)
{
	return c->inlen != 0 ? c->inlen : strlen(c->in);
}

/*
 * run - feed c->in in pieces: cut[0..ncut) are the piece ends; outmax is
 * out->max (the buffer is drained into a second one after every call).
 */
static void
run(const struct data_case *c, const size_t *cut, size_t ncut,
    size_t outmax, struct result *res)
{
	struct buf out = BUF_INIT(outmax);
	size_t len = inlen(c), off = 0;

	buf_init(&res->out, 0);
	smtp_data_init(&res->d, c->mode, c->normalize, c->max);
	res->r = PARSE_MORE;
	for (size_t k = 0; k <= ncut && res->r == PARSE_MORE; k++) {
		size_t end = k < ncut ? cut[k] : len;

		while (off < end) {
			size_t used;

			res->r = smtp_data_feed(&res->d,
			    (const unsigned char *)c->in + off, end - off,
			    &out, &used);
			assert_true(used <= end - off);
			off += used;
			buf_add(&res->out, out.data, out.len);
			buf_reset(&out);
			if (res->r == PARSE_OK)
				break;
			assert_int_equal(res->r, PARSE_MORE);
			if (outmax == 0)
				assert_int_equal(off, end);
		}
	}
	if (c->mode == SMTP_DATA_RAW) {
		while (smtp_data_finish(&res->d, &out) < 0) {
			buf_add(&res->out, out.data, out.len);
			buf_reset(&out);
		}
		buf_add(&res->out, out.data, out.len);
	}
	res->used = off;
	buf_free(&out);
}

static unsigned
flags_of(const struct smtp_data *d)
{
	return (d->bare_newline ? F_BARE : 0) |
	    (d->line_too_long ? F_LONG : 0) | (d->too_big ? F_BIG : 0) |
	    (d->has_8bit ? F_8BIT : 0) | (d->has_nul ? F_NUL : 0);
}

static void
check_want(const struct data_case *c, const struct result *res)
{
	size_t olen = c->outlen != 0 ? c->outlen : strlen(c->out);

	if (res->r != c->want)
		fail_msg("%s: result %d", c->name, (int)res->r);
	if (res->used != (c->want == PARSE_OK ? c->used : inlen(c)))
		fail_msg("%s: used %zu", c->name, res->used);
	if (res->out.len != olen ||
	    (olen > 0 && memcmp(res->out.data, c->out, olen) != 0))
		fail_msg("%s: out \"%.*s\"", c->name, (int)res->out.len,
		    res->out.data != NULL ? (char *)res->out.data : "");
	if (flags_of(&res->d) != c->flags)
		fail_msg("%s: flags %#x", c->name, flags_of(&res->d));
	if (res->d.size != (c->size != 0 ? c->size : olen))
		fail_msg("%s: size %ju", c->name, (uintmax_t)res->d.size);
}

static void
check_same(const struct data_case *c, const struct result *a,
    const struct result *b, const char *how, size_t at)
{
	if (a->r != b->r || a->used != b->used || a->out.len != b->out.len ||
	    (a->out.len > 0 &&
	    memcmp(a->out.data, b->out.data, a->out.len) != 0) ||
	    flags_of(&a->d) != flags_of(&b->d) || a->d.size != b->d.size ||
	    a->d.state != b->d.state)
		fail_msg("%s: %s at %zu differs from whole", c->name, how, at);
}

/* check_case - expected values (when given), then split equivalence */
static void
check_case(const struct data_case *c, bool expected)
{
	size_t len = inlen(c);
	size_t *cuts = xcalloc(len + 1, sizeof(*cuts));
	struct result whole, other;

	run(c, NULL, 0, 0, &whole);
	if (expected)
		check_want(c, &whole);
	for (size_t at = 0; at <= len; at++) {
		run(c, &at, 1, 0, &other);
		check_same(c, &whole, &other, "2-way split", at);
		buf_free(&other.out);
	}
	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	run(c, cuts, len, 0, &other);
	check_same(c, &whole, &other, "1-byte pieces", 0);
	buf_free(&other.out);
	run(c, NULL, 0, 3, &other);
	check_same(c, &whole, &other, "out max 3", 0);
	buf_free(&other.out);
	run(c, cuts, len, 4, &other);
	check_same(c, &whole, &other, "1-byte pieces, out max 4", 0);
	buf_free(&other.out);
	buf_free(&whole.out);
	free(cuts);
}

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		check_case(&cases[i], true);
}

/* the table again with normalize flipped: still split-independent */
static void
test_table_flipped(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct data_case c = cases[i];

		c.normalize = !c.normalize;
		check_case(&c, false);
	}
}

/* a line of n octets (plus stuffing dot when dotted), then the end */
static void
check_long(size_t n, bool dotted, bool want_long)
{
	char *in = xmalloc(n + 8);
	struct data_case c = { .name = "long line", .mode = SMTP_DATA_DOT };
	struct result res;
	size_t off = 0;

	if (dotted)
		in[off++] = '.';
	memset(in + off, 'x', n);
	off += n;
	memcpy(in + off, "\r\n.\r\n", 6);
	c.in = in;
	run(&c, NULL, 0, 0, &res);
	assert_int_equal(res.r, PARSE_OK);
	assert_int_equal(res.used, off + 5);
	assert_int_equal(res.out.len, n + 2);
	assert_int_equal(res.d.line_too_long, want_long);
	buf_free(&res.out);
	check_case(&c, false);
	free(in);
}

static void
test_long_lines(void **state)
{
	(void)state;
	check_long(SMTP_DATA_LINE_MAX, false, false);
	check_long(SMTP_DATA_LINE_MAX + 1, false, true);
	check_long(SMTP_DATA_LINE_MAX, true, false);	/* dot not counted */
	check_long(SMTP_DATA_LINE_MAX + 1, true, true);
	check_long(100000, false, true);
}

static void
test_long_line_resets(void **state)
{
	struct data_case c = { .name = "two lines", .mode = SMTP_DATA_DOT };
	char *in = xmalloc(2 * SMTP_DATA_LINE_MAX + 16);
	struct result res;

	(void)state;
	/* two lines of 998 separated by each kind of newline */
	for (int k = 0; k < 3; k++) {
		static const char *const nl[] = { "\r\n", "\n", "\r" };
		size_t off = 0, l = strlen(nl[k]);

		memset(in, 'y', SMTP_DATA_LINE_MAX);
		off = SMTP_DATA_LINE_MAX;
		memcpy(in + off, nl[k], l);
		off += l;
		memset(in + off, 'z', SMTP_DATA_LINE_MAX);
		off += SMTP_DATA_LINE_MAX;
		memcpy(in + off, "\r\n.\r\n", 6);
		c.in = in;
		run(&c, NULL, 0, 0, &res);
		assert_int_equal(res.r, PARSE_OK);
		assert_false(res.d.line_too_long);
		assert_int_equal(res.d.bare_newline, k != 0);
		buf_free(&res.out);
	}
	free(in);
}

static void
test_after_end(void **state)
{
	struct smtp_data d;
	struct buf out = BUF_INIT(0);
	size_t used = 99;

	(void)state;
	smtp_data_init(&d, SMTP_DATA_DOT, false, 0);
	assert_int_equal(smtp_data_feed(&d, (const unsigned char *)".\r\nX", 4,
	    &out, &used), PARSE_OK);
	assert_int_equal(used, 3);
	assert_int_equal(smtp_data_feed(&d, (const unsigned char *)"X", 1,
	    &out, &used), PARSE_OK);
	assert_int_equal(used, 0);
	assert_int_equal(out.len, 0);
	buf_free(&out);
}

static void
test_out_full(void **state)
{
	struct smtp_data d;
	struct buf out = BUF_INIT(4);
	size_t used;

	(void)state;
	smtp_data_init(&d, SMTP_DATA_DOT, true, 0);
	assert_int_equal(smtp_data_feed(&d, (const unsigned char *)
	    "abcdefgh\r\n.\r\n", 13, &out, &used), PARSE_MORE);
	assert_int_equal(used, 4);
	assert_int_equal(out.len, 4);
	/* full: no progress until drained */
	assert_int_equal(smtp_data_feed(&d, (const unsigned char *)
	    "efgh\r\n.\r\n", 9, &out, &used), PARSE_MORE);
	assert_int_equal(used, 0);
	buf_reset(&out);
	assert_int_equal(smtp_data_feed(&d, (const unsigned char *)
	    "efgh\r\n.\r\n", 9, &out, &used), PARSE_MORE);
	assert_int_equal(used, 4);
	buf_reset(&out);
	/* CRLF written, then fewer than 3 octets free: stop */
	assert_int_equal(smtp_data_feed(&d, (const unsigned char *)
	    "\r\n.\r\n", 5, &out, &used), PARSE_MORE);
	assert_int_equal(used, 2);
	assert_memory_equal(out.data, "\r\n", 2);
	buf_reset(&out);
	assert_int_equal(smtp_data_feed(&d, (const unsigned char *)
	    ".\r\nQUIT", 7, &out, &used), PARSE_OK);
	assert_int_equal(used, 3);
	assert_int_equal(out.len, 0);
	/* past max_size nothing is written, so a full out does not block */
	smtp_data_init(&d, SMTP_DATA_RAW, false, 2);
	buf_reset(&out);
	assert_int_equal(smtp_data_feed(&d, (const unsigned char *)"ab", 2,
	    &out, &used), PARSE_MORE);
	assert_int_equal(smtp_data_feed(&d, (const unsigned char *)"cdefgh", 6,
	    &out, &used), PARSE_MORE);
	assert_int_equal(used, 6);
	assert_int_equal(out.len, 2);
	assert_true(d.too_big);
	assert_int_equal(d.size, 8);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_table_flipped),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_long_line_resets),
		cmocka_unit_test(test_after_end),
		cmocka_unit_test(test_out_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
