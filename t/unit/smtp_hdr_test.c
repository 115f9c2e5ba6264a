/*
 * smtp_hdr_test.c - table-driven tests of mta/smtp_hdr.c: the end of the
 * header, its fields (folding, blanks before the colon, junk lines), and
 * the addresses of an address list.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "mta/smtp_hdr.h"

#define M(s) (const unsigned char *)(s), strlen(s)

static void
test_len(void **state)
{
	bool c;

	(void)state;
	assert_int_equal(smtp_hdr_len(M("A: b\r\n\r\nbody\r\n"), &c), 8);
	assert_true(c);
	assert_int_equal(smtp_hdr_len(M("\r\nbody\r\n"), &c), 2);
	assert_true(c);
	assert_int_equal(smtp_hdr_len(M("A: b\n\nbody"), &c), 6);
	assert_true(c);
	assert_int_equal(smtp_hdr_len(M("A: b\r\nC: d\r\n"), &c), 12);
	assert_false(c);
	assert_int_equal(smtp_hdr_len(M("A: b\r\n\r"), &c), 7);
	assert_false(c);
	assert_int_equal(smtp_hdr_len(M(""), &c), 0);
	assert_false(c);
}

static void
test_fields(void **state)
{
	static const char msg[] =
	    "From : a@b\r\n"
	    "Subject: one\r\n"
	    " two\r\n"
	    "\tthree\r\n"
	    "junk line without colon\r\n"
	    "X-Empty:\r\n"
	    "from: c@d\r\n"
	    "\r\n"
	    "Body: not a field\r\n";
	struct smtp_hdr_field f;
	size_t off = 0, hlen;
	bool c;

	(void)state;
	hlen = smtp_hdr_len(M(msg), &c);
	assert_true(c);
	assert_true(smtp_hdr_next((const unsigned char *)msg, hlen, &off, &f));
	assert_int_equal(f.name.len, 4);
	assert_memory_equal(f.name.p, "From", 4);
	assert_int_equal(f.value.len, 4);
	assert_memory_equal(f.value.p, " a@b", 4);
	assert_true(smtp_hdr_next((const unsigned char *)msg, hlen, &off, &f));
	assert_memory_equal(f.name.p, "Subject", 7);
	assert_int_equal(f.value.len, strlen(" one\r\n two\r\n\tthree"));
	assert_memory_equal(f.value.p, " one\r\n two\r\n\tthree", f.value.len);
	assert_true(smtp_hdr_next((const unsigned char *)msg, hlen, &off, &f));
	assert_memory_equal(f.name.p, "X-Empty", 7);
	assert_int_equal(f.value.len, 0);
	assert_true(smtp_hdr_next((const unsigned char *)msg, hlen, &off, &f));
	assert_memory_equal(f.name.p, "from", 4);
	assert_false(smtp_hdr_next((const unsigned char *)msg, hlen, &off,
	    &f));
	assert_int_equal(smtp_hdr_count((const unsigned char *)msg, hlen,
	    "FROM"), 2);
	assert_int_equal(smtp_hdr_count((const unsigned char *)msg, hlen,
	    "Body"), 0);
	assert_int_equal(smtp_hdr_count((const unsigned char *)msg, hlen,
	    "Message-ID"), 0);
	/* a continuation with no field before it is skipped */
	off = 0;
	assert_true(smtp_hdr_next(M(" lost\r\nA: b\r\n"), &off, &f));
	assert_memory_equal(f.name.p, "A", 1);
}

static const struct {
	const char *value;
	int want;
	const char *addrs;	/* the addresses, separated by "|" */
} addr_cases[] = {
	{ "a@example.com", 0, "a@example.com" },
	{ " a@example.com ", 0, "a@example.com" },
	{ "Alice <a@example.com>", 0, "a@example.com" },
	{ "\"Doe, John\" <j@example.com>", 0, "j@example.com" },
	{ "\"a <b@c>\" <d@e>", 0, "d@e" },
	{ "a@b, c@d", 0, "a@b|c@d" },
	{ "A <a@b>, \"C\" <c@d>, e@f", 0, "a@b|c@d|e@f" },
	{ "a@b (comment), (c) c@d", 0, "a@b|c@d" },
	{ "a@b (nested (comment))", 0, "a@b" },
	{ "a . b @ example . com", 0, "a.b@example.com" },
	{ "\"quoted local\"@example.com", 0, "\"quoted local\"@example.com" },
	{ "Name\r\n <a@b>", 0, "a@b" },
	{ "<@route1,@route2:a@b>", 0, "a@b" },
	{ "a@b,, ,c@d", 0, "a@b|c@d" },		/* obs-mbox-list */
	{ "Group: a@b, c@d;", 0, "a@b|c@d" },
	{ "Group: a@b;, e@f", 0, "a@b|e@f" },
	{ "undisclosed-recipients:;", 0, "" },
	{ "a@[192.0.2.1]", 0, "a@[192.0.2.1]" },
	{ "=?utf-8?q?J=C3=B6rg?= <j@x>", 0, "j@x" },
	{ "", 0, "" },
	{ "no at sign", -1, NULL },
	{ "John Doe john@example.com", -1, NULL },	/* phrase, no <> */
	{ "a@b@c", -1, NULL },
	{ "@b", -1, NULL },
	{ "a@", -1, NULL },
	{ "<a@b", -1, NULL },
	{ "a@b>", -1, NULL },
	{ "<a@b> trailing", -1, NULL },
	{ "<<a@b>>", -1, NULL },
	{ "A <a@b> <c@d>", -1, NULL },
	{ "\"unterminated <a@b>", -1, NULL },
	{ "a@b (unterminated", -1, NULL },
	{ "a@b)", -1, NULL },
	{ "<>", -1, NULL },
	{ "G: H: a@b;;", -1, NULL },		/* group in a group */
	{ "G: a@b", -1, NULL },			/* unclosed group */
	{ "a@b;", -1, NULL },			/* ";" without a group */
	{ "a\\@b@c", -1, NULL },
	{ "\"a\\", -1, NULL },			/* ends in a quoted-pair */
	{ "a@b, \"x\\", -1, NULL },
};

static void
test_addresses(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(addr_cases); i++) {
		const char *v = addr_cases[i].value;
		struct buf out = BUF_INIT(0), want = BUF_INIT(0);
		size_t n = 99, nwant = 0;
		int r = smtp_hdr_addresses(v, strlen(v), &out, &n);

		if (r != addr_cases[i].want)
			fail_msg("\"%s\": got %d", v, r);
		if (r < 0) {
			buf_free(&out);
			continue;
		}
		for (const char *a = addr_cases[i].addrs; *a != '\0';) {
			size_t l = strcspn(a, "|");

			buf_add(&want, a, l);
			buf_add(&want, "", 1);	/* its NUL */
			nwant++;
			a += l + (a[l] == '|');
		}
		if (n != nwant || out.len != want.len || (out.len > 0 &&
		    memcmp(out.data, want.data, out.len) != 0))
			fail_msg("\"%s\": %zu addresses, \"%.*s\"", v, n,
			    (int)out.len, out.data != NULL ?
			    (const char *)out.data : "");
		buf_free(&out);
		buf_free(&want);
	}
}

static void
test_addresses_nul(void **state)
{
	struct buf out = BUF_INIT(0);
	size_t n;

	(void)state;
	/* a NUL never reaches the caller, who reads C strings */
	assert_int_equal(smtp_hdr_addresses("a@b\0.evil", 9, &out, &n), -1);
	buf_reset(&out);
	assert_int_equal(smtp_hdr_addresses("\"a\0\"@b", 6, &out, &n), -1);
	buf_reset(&out);
	assert_int_equal(smtp_hdr_addresses("a\x01@b", 4, &out, &n), -1);
	buf_reset(&out);
	assert_int_equal(smtp_hdr_addresses("\"a\x1b\"@b", 6, &out, &n), -1);
	buf_free(&out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_len),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_addresses_nul),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
