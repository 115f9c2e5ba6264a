/*
 * rfc5322_test.c - table-driven tests of common/rfc5322.c: the end of
 * the header, its fields (folding, blanks before the colon, junk lines),
 * the addresses of an address list (strict), and the domain of a From
 * field (strict reading first, the tolerant salvage after).  The dmarc
 * stage's tests (stage_dmarc_test.c) hold the From domain to DMARC's
 * cases too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/rfc5322.h"

#define M(s) (const unsigned char *)(s), strlen(s)

static void
test_len(void **state)
{
	bool c;

	(void)state;
	assert_int_equal(rfc5322_header_len(M("A: b\r\n\r\nbody\r\n"), &c), 8);
	assert_true(c);
	assert_int_equal(rfc5322_header_len(M("\r\nbody\r\n"), &c), 2);
	assert_true(c);
	assert_int_equal(rfc5322_header_len(M("A: b\n\nbody"), &c), 6);
	assert_true(c);
	assert_int_equal(rfc5322_header_len(M("A: b\r\nC: d\r\n"), &c), 12);
	assert_false(c);
	assert_int_equal(rfc5322_header_len(M("A: b\r\n\r"), &c), 7);
	assert_false(c);
	assert_int_equal(rfc5322_header_len(M(""), &c), 0);
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
	struct rfc5322_field f;
	size_t off = 0, hlen;
	bool c;

	(void)state;
	hlen = rfc5322_header_len(M(msg), &c);
	assert_true(c);
	assert_true(rfc5322_header_next((const unsigned char *)msg, hlen, &off, &f));
	assert_int_equal(f.name_len, 4);
	assert_memory_equal(f.name, "From", 4);
	assert_int_equal(f.value_len, 4);
	assert_memory_equal(f.value, " a@b", 4);
	assert_true(rfc5322_header_next((const unsigned char *)msg, hlen, &off, &f));
	assert_memory_equal(f.name, "Subject", 7);
	assert_int_equal(f.value_len, strlen(" one\r\n two\r\n\tthree"));
	assert_memory_equal(f.value, " one\r\n two\r\n\tthree", f.value_len);
	assert_true(rfc5322_header_next((const unsigned char *)msg, hlen, &off, &f));
	assert_memory_equal(f.name, "X-Empty", 7);
	assert_int_equal(f.value_len, 0);
	assert_true(rfc5322_header_next((const unsigned char *)msg, hlen, &off, &f));
	assert_memory_equal(f.name, "from", 4);
	assert_false(rfc5322_header_next((const unsigned char *)msg, hlen, &off,
	    &f));
	assert_int_equal(rfc5322_header_find((const unsigned char *)msg, hlen,
	    "FROM", NULL), 2);
	assert_int_equal(rfc5322_header_find((const unsigned char *)msg, hlen,
	    "Body", NULL), 0);
	assert_int_equal(rfc5322_header_find((const unsigned char *)msg, hlen,
	    "Message-ID", NULL), 0);
	/* a continuation with no field before it is skipped */
	off = 0;
	assert_true(rfc5322_header_next(M(" lost\r\nA: b\r\n"), &off, &f));
	assert_memory_equal(f.name, "A", 1);
}

/* the first value, its count; over a whole message the body is out */
static void
test_find(void **state)
{
	static const char msg[] =
	    "Received: x\r\n"
	    "Subject : first\r\n"
	    "\tfolded\r\n"
	    "SUBJECT: second\r\n"
	    "Subject\r\n"
	    " : not a field (no colon on its first line)\r\n"
	    "\r\n"
	    "Subject: in the body\r\n";
	struct buf v = BUF_INIT(0);

	(void)state;
	assert_int_equal(rfc5322_header_find(M(msg), "subject", &v), 2);
	assert_string_equal(buf_cstr(&v), " first\r\n\tfolded");
	buf_reset(&v);
	assert_int_equal(rfc5322_header_find(M(msg), "Received", &v), 1);
	assert_string_equal(buf_cstr(&v), " x");
	buf_reset(&v);
	/* a header cut short: its last field still counts */
	assert_int_equal(rfc5322_header_find(M("A: 1\r\nB: 2"), "b", &v), 1);
	assert_string_equal(buf_cstr(&v), " 2");
	buf_reset(&v);
	assert_int_equal(rfc5322_header_find(M("\r\nA: 1\r\n"), "A", &v),
	    0);
	assert_int_equal(v.len, 0);
	buf_free(&v);
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
		int r = rfc5322_addresses(v, strlen(v), &out, &n);

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
	assert_int_equal(rfc5322_addresses("a@b\0.evil", 9, &out, &n), -1);
	buf_reset(&out);
	assert_int_equal(rfc5322_addresses("\"a\0\"@b", 6, &out, &n), -1);
	buf_reset(&out);
	assert_int_equal(rfc5322_addresses("a\x01@b", 4, &out, &n), -1);
	buf_reset(&out);
	assert_int_equal(rfc5322_addresses("\"a\x1b\"@b", 6, &out, &n), -1);
	buf_free(&out);
}

static const struct {
	const char *value;
	const char *want;	/* the domain, or why there is none */
	bool ok;
} from_cases[] = {
	/* read strictly */
	{ "Alice <Alice@Example.ORG>", "example.org", true },
	{ "alice@example.org.", "example.org", true },
	{ "\"x@evil.example\" <alice@example.org>", "example.org", true },
	{ "\"a@evil.example\"@example.org", "example.org", true },
	{ "alice@example.org (x@evil.example)", "example.org", true },
	{ "a . b @ example . org", "example.org", true },	/* obs CFWS */
	{ "<@relay.example:alice@example.org>", "example.org", true },
	{ "Friends: alice@example.org;", "example.org", true },
	{ "alice@example.org, bob@example.com", "several From addresses",
	  false },
	{ "Undisclosed:;", "no From address", false },
	{ "", "no From address", false },
	{ "alice@[192.0.2.1]", "no usable From domain", false },
	/* not an address list: salvaged, a forged domain is still found */
	{ "\"CEO\" <ceo@bank.example> trailing junk", "bank.example", true },
	{ "ceo@bank.example (unterminated", "bank.example", true },
	{ "John Doe john@bank.example", "bank.example", true },
	{ "<ceo@bank.example", "bank.example", true },
	{ "<>", "no From address", false },
	{ "alice", "no usable From domain", false },
	{ "alice@exa mple.org", "no usable From domain", false },
};

static void
test_from_domain(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(from_cases); i++) {
		char dom[RFC5322_DOMAIN_SIZE];
		const char *why = NULL;
		int r = rfc5322_from_domain(from_cases[i].value, dom, &why);

		if (r != (from_cases[i].ok ? 0 : -1))
			fail_msg("\"%s\": got %d (%s)", from_cases[i].value,
			    r, why != NULL ? why : dom);
		if (strcmp(r == 0 ? dom : why, from_cases[i].want) != 0)
			fail_msg("\"%s\": got \"%s\"", from_cases[i].value,
			    r == 0 ? dom : why);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_len),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_addresses_nul),
		cmocka_unit_test(test_from_domain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
