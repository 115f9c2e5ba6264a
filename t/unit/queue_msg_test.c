/*
 * queue_msg_test.c - the queue file parser on hostile input: record
 * headers, envelope defects, torn tails, result records, limits, and a
 * deterministic mutation loop that must never crash or misreport.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "queue/queue_priv.h"

#define QID "65F0A1B2C3D4E5"

static void
end_record(struct buf *b, const void *content, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned mdlen = 32;
	struct buf p = BUF_INIT(0);

	assert_int_equal(EVP_Digest(content, len, md, &mdlen, EVP_sha256(),
	    NULL), 1);
	buf_addf(&p, "%zu ", len);
	for (int i = 0; i < 32; i++) {
		char h[2] = { hex[md[i] >> 4], hex[md[i] & 15] };

		buf_add(&p, h, 2);
	}
	queue_record_add(b, REC_END, p.data, p.len);
	buf_free(&p);
}

/* image - a complete file: envelope, extra, content "hello", end, tail */
static size_t
image(struct buf *b, const char *extra, size_t extra_len, bool end,
    const char *tail, size_t tail_len)
{
	size_t base;

	buf_reset(b);
	queue_record_add_str(b, REC_VERSION, QUEUE_MAGIC);
	queue_record_add_str(b, REC_QID, QID);
	queue_record_add_str(b, REC_ARRIVAL, "1700000000000000");
	queue_record_add_str(b, REC_SENDER, "s@example.com");
	queue_record_add_str(b, REC_RCPT, "a@example.com");
	queue_record_add_str(b, REC_RCPT, "b@example.com");
	buf_add(b, extra, extra_len);
	queue_record_add(b, REC_CONTENT, "hel", 3);
	queue_record_add(b, REC_CONTENT, "lo", 2);
	if (end)
		end_record(b, "hello", 5);
	base = b->len;
	buf_add(b, tail, tail_len);
	return base;
}

static enum queue_load_res
parse(const struct buf *b, struct queue_msg **m)
{
	struct buf err = BUF_INIT(0);
	enum queue_load_res res;

	res = queue_msg_parse_mem(b->data, b->len, QID, m, &err);
	if (res != QUEUE_LOAD_OK)
		assert_true(err.len > 0);	/* always a reason */
	buf_free(&err);
	return res;
}

#define S(lit) lit, sizeof(lit) - 1

static void
test_record_header(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		enum parse_res want;
		int type;
		uint64_t plen;
		size_t hlen;
	} cases[] = {
		{ S("R5:"), PARSE_OK, 'R', 5, 3 },
		{ S("C0:"), PARSE_OK, 'C', 0, 3 },
		{ S("C9999999999:"), PARSE_OK, 'C', 9999999999ull, 12 },
		{ S("C99999999999:"), PARSE_TOO_LONG, 0, 0, 0 },
		{ S("C05:"), PARSE_BAD, 0, 0, 0 },	/* leading zero */
		{ S("C:"), PARSE_BAD, 0, 0, 0 },	/* no digits */
		{ S("C-5:"), PARSE_BAD, 0, 0, 0 },
		{ S("C+5:"), PARSE_BAD, 0, 0, 0 },
		{ S("C 5:"), PARSE_BAD, 0, 0, 0 },
		{ S("5C:"), PARSE_BAD, 0, 0, 0 },
		{ S("\0" "5:"), PARSE_BAD, 0, 0, 0 },
		{ S("C5"), PARSE_MORE, 0, 0, 0 },
		{ S("C"), PARSE_MORE, 0, 0, 0 },
		{ S(""), PARSE_MORE, 0, 0, 0 },
		{ S("C12x"), PARSE_BAD, 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int type = 0;
		uint64_t plen = 0;
		size_t hlen = 0;
		enum parse_res r = queue_record_header(
		    (const unsigned char *)cases[i].in, cases[i].len, &type,
		    &plen, &hlen);

		if (r != cases[i].want)
			fail_msg("case %zu \"%s\": got %d want %d", i,
			    cases[i].in, r, cases[i].want);
		if (r == PARSE_OK) {
			assert_int_equal(type, cases[i].type);
			assert_int_equal(plen, cases[i].plen);
			assert_int_equal(hlen, cases[i].hlen);
		}
	}
}

static void
test_dsn(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
		{ "2.0.0", true }, { "4.4.1", true }, { "5.1.10", true },
		{ "5.123.123", true }, { "3.0.0", false }, { "5.0", false },
		{ "5.1234.0", false }, { "5..0", false }, { "5.0.0 ", false },
		{ "x.0.0", false }, { "", false },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		if (queue_dsn_is_valid(cases[i].s, strlen(cases[i].s)) !=
		    cases[i].ok)
			fail_msg("dsn \"%s\"", cases[i].s);
}

static void
test_envelope_defects(void **state)
{
	static const struct {
		const char *name;
		const char *extra;
		size_t len;
		bool end;
		enum queue_load_res want;
	} cases[] = {
		{ "valid", S(""), true, QUEUE_LOAD_OK },
		{ "valid extras", S("r12:NOTIFY=NEVER\nA9:192.0.2.1\n"
		    "E4:helo\nU0:\n"), true, QUEUE_LOAD_OK },
		{ "no end record", S(""), false, QUEUE_LOAD_CORRUPT },
		{ "duplicate ID", S("I14:" QID "\n"), true,
		    QUEUE_LOAD_CORRUPT },
		{ "duplicate sender", S("S1:x\n"), true, QUEUE_LOAD_CORRUPT },
		{ "duplicate helo", S("E1:x\nE1:y\n"), true,
		    QUEUE_LOAD_CORRUPT },
		{ "params without rcpt", S("A1:x\nr1:y\n"), true,
		    QUEUE_LOAD_CORRUPT },
		{ "NUL in helo", S("E3:a\0b\n"), true, QUEUE_LOAD_CORRUPT },
		{ "unknown type", S("Z1:x\n"), true, QUEUE_LOAD_CORRUPT },
		{ "result in envelope", S("D1:x\n"), true, QUEUE_LOAD_CORRUPT },
		{ "huge length", S("H9999999999:x\n"), true,
		    QUEUE_LOAD_CORRUPT },
		{ "eleven digits", S("H12345678901:x\n"), true,
		    QUEUE_LOAD_CORRUPT },
		{ "negative length", S("H-1:x\n"), true, QUEUE_LOAD_CORRUPT },
		{ "missing length", S("H:x\n"), true, QUEUE_LOAD_CORRUPT },
		{ "leading zero", S("H01:x\n"), true, QUEUE_LOAD_CORRUPT },
		{ "no terminator", S("H1:xy"), true, QUEUE_LOAD_CORRUPT },
		{ "binary junk", S("\xff\xfe\x00\x01"), true,
		    QUEUE_LOAD_CORRUPT },
		{ "duplicate arrival", S("T1:1\n"), true, QUEUE_LOAD_CORRUPT },
	};
	struct buf b = BUF_INIT(0);
	struct queue_msg *m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		enum queue_load_res r;

		image(&b, cases[i].extra, cases[i].len, cases[i].end, "", 0);
		r = parse(&b, &m);
		if (r != cases[i].want)
			fail_msg("%s: got %d want %d", cases[i].name, r,
			    cases[i].want);
		if (r == QUEUE_LOAD_OK) {
			assert_int_equal(m->env.nrcpt, 2);
			assert_int_equal(m->content_size, 5);
			assert_string_equal(m->env.qid, QID);
		}
		queue_msg_free(&m);
	}
	buf_free(&b);
}

static void
test_whole_file_defects(void **state)
{
	static const struct {
		const char *name;
		const char *data;
		size_t len;
	} cases[] = {
		{ "empty", S("") },
		{ "other version", S("V15:POSTERN-QUEUE 2\n") },
		{ "no version", S("I14:" QID "\n") },
		{ "content first", S("C15:POSTERN-QUEUE 1\n") },
		{ "text", S("hello world\n") },
		{ "end without envelope", S("V15:POSTERN-QUEUE 1\nX3:0 x\n") },
		{ "header cut", S("V15:POSTERN-QUEUE 1\nI1") },
		{ "zeros", S("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0") },
	};
	struct queue_msg *m;
	struct buf b = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		buf_reset(&b);
		buf_add(&b, cases[i].data, cases[i].len);
		if (parse(&b, &m) != QUEUE_LOAD_CORRUPT)
			fail_msg("%s: not reported corrupt", cases[i].name);
		assert_null(m);
	}
	/* an end record that lies about the size */
	image(&b, "", 0, false, "", 0);
	queue_record_add_str(&b, REC_END, "6 "
	    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	assert_int_equal(parse(&b, &m), QUEUE_LOAD_CORRUPT);
	image(&b, "", 0, false, "", 0);
	queue_record_add_str(&b, REC_END, "5 nothex");
	assert_int_equal(parse(&b, &m), QUEUE_LOAD_CORRUPT);
	/* the ID record must match the file name */
	image(&b, "", 0, true, "", 0);
	{
		struct buf err = BUF_INIT(0);

		assert_int_equal(queue_msg_parse_mem(b.data, b.len,
		    "00000000000000", &m, &err), QUEUE_LOAD_CORRUPT);
		buf_free(&err);
	}
	buf_free(&b);
}

static void
test_field_limits(void **state)
{
	struct buf b = BUF_INIT(0), extra = BUF_INIT(0), big = BUF_INIT(0);
	struct queue_msg *m;

	(void)state;
	for (size_t i = 0; i < QUEUE_FIELD_MAX; i++)
		buf_add(&big, "h", 1);
	queue_record_add(&extra, REC_HELO, big.data, big.len);
	image(&b, (const char *)extra.data, extra.len, true, "", 0);
	assert_int_equal(parse(&b, &m), QUEUE_LOAD_OK);
	assert_int_equal(strlen(m->env.helo), QUEUE_FIELD_MAX);
	queue_msg_free(&m);
	buf_reset(&extra);
	buf_add(&big, "h", 1);
	queue_record_add(&extra, REC_HELO, big.data, big.len);
	image(&b, (const char *)extra.data, extra.len, true, "", 0);
	assert_int_equal(parse(&b, &m), QUEUE_LOAD_CORRUPT);
	/* a content record over QUEUE_CHUNK_MAX, backed by real bytes */
	buf_reset(&b);
	image(&b, "", 0, false, "", 0);
	buf_free(&big);
	big.data = xcalloc(1, QUEUE_CHUNK_MAX + 1);
	queue_record_add(&b, REC_CONTENT, big.data, QUEUE_CHUNK_MAX + 1);
	end_record(&b, "", 0);
	assert_int_equal(parse(&b, &m), QUEUE_LOAD_CORRUPT);
	free(big.data);
	buf_free(&b);
	buf_free(&extra);
}

static void
test_tails(void **state)
{
	static const struct {
		const char *name;
		const char *tail;
		size_t len;
		bool torn;
		unsigned bad;
		uint64_t warned;	/* delay_warned_us */
	} cases[] = {
		{ "none", S(""), false, 0, 0 },
		{ "length past the end", S("D1000:0 sent"), true, 0, 0 },
		{ "no terminator", S("D3:abcd"), true, 0, 0 },
		{ "cut header", S("D4"), true, 0, 0 },
		{ "zeros", S("\0\0\0\0\0\0\0\0"), true, 0, 0 },
		{ "unknown type", S("Z5:hello\n"), false, 1, 0 },
		{ "malformed result", S("D5:hello\n"), false, 1, 0 },
		{ "bad index", S("D27:9 sent 1 5 0 2.0.0 local ok\n"), false,
		    1, 0 },
		{ "bad status", S("D27:0 gone 1 5 0 2.0.0 local ok\n"), false,
		    1, 0 },
		{ "bad dsn", S("D27:0 sent 1 5 0 2.0.x local ok\n"), false,
		    1, 0 },
		{ "content after end", S("C2:xy\n"), false, 1, 0 },
		{ "flush", S("F3:123\n"), false, 0, 0 },
		{ "delay warned", S("W3:456\n"), false, 0, 456 },
		{ "delay warned twice", S("W3:456\nW3:789\n"), false, 0, 789 },
		{ "delay warned at 0", S("W1:0\n"), false, 1, 0 },
		{ "delay warned junk", S("W3:4x6\nW0:\n"), false, 2, 0 },
		{ "delay warned too long",
		    S("W33:123456789012345678901234567890123\n"), false, 1,
		    0 },
		{ "valid then torn", S("D27:0 sent 1 5 0 2.0.0 local ok\n"
		    "D27:1 sent"), true, 0, 0 },
	};
	struct buf b = BUF_INIT(0);
	struct queue_msg *m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		size_t base = image(&b, "", 0, true, cases[i].tail,
		    cases[i].len);

		if (parse(&b, &m) != QUEUE_LOAD_OK)
			fail_msg("%s: not OK", cases[i].name);
		assert_int_equal(m->file_size, b.len);
		if (cases[i].torn)
			assert_true(m->valid_size < m->file_size &&
			    m->valid_size >= base);
		else
			assert_int_equal(m->valid_size, m->file_size);
		if (m->bad_records != cases[i].bad)
			fail_msg("%s: %u bad records", cases[i].name,
			    m->bad_records);
		assert_int_equal(m->delay_warned_us, cases[i].warned);
		queue_msg_free(&m);
	}
	buf_free(&b);
}

static void
test_results(void **state)
{
	struct queue_result r[] = {
		{ 0, QUEUE_RCPT_DEFERRED, 1, 100, 400, "4.4.1",
		    "mx[1.2.3.4]:25", "connect refused", 0 },
		{ 1, QUEUE_RCPT_FAILED, 1, 100, 0, "5.1.1", "local",
		    "no such user", 0 },
		{ 0, QUEUE_RCPT_DEFERRED, 2, 400, 1000, "4.2.0", "mx", "busy",
		    0 },
	};
	struct buf b = BUF_INIT(0), tail = BUF_INIT(0);
	struct queue_msg *m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(r); i++)
		queue_result_add(&tail, &r[i]);
	image(&b, "", 0, true, (const char *)tail.data, tail.len);
	assert_int_equal(parse(&b, &m), QUEUE_LOAD_OK);
	/* the last record per recipient wins */
	assert_int_equal(m->state[0].status, QUEUE_RCPT_DEFERRED);
	assert_int_equal(m->state[0].attempts, 2);
	assert_int_equal(m->state[0].last_try_us, 400);
	assert_int_equal(m->state[0].next_try_us, 1000);
	assert_string_equal(m->state[0].dsn, "4.2.0");
	assert_string_equal(m->state[0].relay, "mx");
	assert_string_equal(m->state[0].text, "busy");
	assert_int_equal(m->state[1].status, QUEUE_RCPT_FAILED);
	assert_string_equal(m->state[1].text, "no such user");
	queue_msg_free(&m);
	/* a flush makes deferred recipients before it due; later results
	 * still win */
	queue_record_add_str(&tail, REC_FLUSH, "500");
	image(&b, "", 0, true, (const char *)tail.data, tail.len);
	assert_int_equal(parse(&b, &m), QUEUE_LOAD_OK);
	assert_int_equal(m->state[0].next_try_us, 0);
	assert_int_equal(m->state[1].status, QUEUE_RCPT_FAILED);
	queue_msg_free(&m);
	queue_result_add(&tail, &r[2]);
	image(&b, "", 0, true, (const char *)tail.data, tail.len);
	assert_int_equal(parse(&b, &m), QUEUE_LOAD_OK);
	assert_int_equal(m->state[0].next_try_us, 1000);
	queue_msg_free(&m);
	buf_free(&b);
	buf_free(&tail);
}

/* the flags of a result (",remote", ",dsn" after the status word) come
 * back; an unknown one makes the record bad, skipped */
static void
test_result_flags(void **state)
{
	struct queue_result r[] = {
		{ 0, QUEUE_RCPT_SENT, 1, 100, 0, "2.0.0", "mx[1.2.3.4]:25",
		    "250 ok", QUEUE_RCPT_F_REMOTE | QUEUE_RCPT_F_DSN_PASSED },
		{ 1, QUEUE_RCPT_FAILED, 1, 100, 0, "5.1.1", "mx[1.2.3.4]:25",
		    "550 no", QUEUE_RCPT_F_REMOTE },
	};
	struct buf b = BUF_INIT(0), tail = BUF_INIT(0);
	struct queue_msg *m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(r); i++)
		queue_result_add(&tail, &r[i]);
	assert_non_null(memmem(tail.data, tail.len, " sent,remote,dsn 1 ", 19));
	assert_non_null(memmem(tail.data, tail.len, " failed,remote 1 ", 17));
	image(&b, "", 0, true, (const char *)tail.data, tail.len);
	assert_int_equal(parse(&b, &m), QUEUE_LOAD_OK);
	assert_int_equal(m->state[0].status, QUEUE_RCPT_SENT);
	assert_int_equal(m->state[0].flags, QUEUE_RCPT_F_REMOTE |
	    QUEUE_RCPT_F_DSN_PASSED);
	assert_int_equal(m->state[1].status, QUEUE_RCPT_FAILED);
	assert_int_equal(m->state[1].flags, QUEUE_RCPT_F_REMOTE);
	assert_string_equal(m->state[1].text, "550 no");
	assert_int_equal(m->bad_records, 0);
	queue_msg_free(&m);
	/* a flag this version does not know: the record is skipped */
	buf_reset(&tail);
	queue_record_add_str(&tail, REC_RESULT,
	    "0 sent,remote,shiny 1 100 0 2.0.0 mx 250 ok");
	queue_record_add_str(&tail, REC_RESULT,
	    "0 ,remote 1 100 0 2.0.0 mx 250 ok");
	image(&b, "", 0, true, (const char *)tail.data, tail.len);
	assert_int_equal(parse(&b, &m), QUEUE_LOAD_OK);
	assert_int_equal(m->bad_records, 2);
	assert_int_equal(m->state[0].status, QUEUE_RCPT_PENDING);
	queue_msg_free(&m);
	buf_free(&b);
	buf_free(&tail);
}

/* mutations of a valid image: never a crash, never IOERR, and an OK
 * answer keeps its invariants */
static void
test_mutations(void **state)
{
	struct buf good = BUF_INIT(0), b = BUF_INIT(0), tail = BUF_INIT(0);
	struct queue_result r = { 1, QUEUE_RCPT_SENT, 1, 5, 0, "2.0.0",
		"local", "ok", 0 };
	uint32_t x = 2463534242u;

	(void)state;
	queue_result_add(&tail, &r);
	image(&good, S("r5:N=NO\n"), true, (const char *)tail.data, tail.len);
	for (int iter = 0; iter < 20000; iter++) {
		struct queue_msg *m;
		enum queue_load_res res;
		int edits = 1 + iter % 4;

		buf_reset(&b);
		buf_add(&b, good.data, good.len);
		for (int e = 0; e < edits; e++) {
			size_t pos;

			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			pos = x % b.len;
			switch ((x >> 24) % 4) {
			case 0:
				b.data[pos] ^= (unsigned char)(1u << (x % 8));
				break;
			case 1:
				b.data[pos] = (unsigned char)('0' + x % 10);
				break;
			case 2:
				buf_truncate(&b, pos);
				break;
			default:
				b.data[pos] = (unsigned char)(x >> 8);
				break;
			}
			if (b.len == 0)
				break;
		}
		res = parse(&b, &m);
		assert_true(res == QUEUE_LOAD_OK || res == QUEUE_LOAD_CORRUPT);
		if (res == QUEUE_LOAD_OK) {
			assert_true(m->valid_size <= m->file_size);
			assert_true(m->end_offset < m->valid_size);
			assert_true(m->content_size < m->file_size);
			assert_true(m->env.nrcpt >= 1);
			for (size_t i = 0; i < m->env.nrcpt; i++)
				assert_non_null(m->state[i].text);
		}
		queue_msg_free(&m);
	}
	buf_free(&good);
	buf_free(&b);
	buf_free(&tail);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_header),
		cmocka_unit_test(test_dsn),
		cmocka_unit_test(test_envelope_defects),
		cmocka_unit_test(test_whole_file_defects),
		cmocka_unit_test(test_field_limits),
		cmocka_unit_test(test_tails),
		cmocka_unit_test(test_results),
		cmocka_unit_test(test_result_flags),
		cmocka_unit_test(test_mutations),
	};

	log_open(LOG_DEST_STDERR, LOG_LVL_ERROR, NULL, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
