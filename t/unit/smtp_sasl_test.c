/*
 * smtp_sasl_test.c - table-driven tests of mta/smtp_sasl.c: the AUTH
 * argument, strict base64 both ways, the PLAIN message, user names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "mta/smtp_sasl.h"

static const struct {
	const char *name, *arg;
	enum parse_res want;
	enum smtp_sasl_mech mech;
	const char *ir;		/* NULL: none */
	unsigned code;
	const char *enh;
} start_cases[] = {
	{ "plain", "PLAIN", PARSE_OK, SMTP_SASL_PLAIN, NULL, 0, NULL },
	{ "login lower", "login", PARSE_OK, SMTP_SASL_LOGIN, NULL, 0, NULL },
	{ "plain ir", "PLAIN AHUAcA==", PARSE_OK, SMTP_SASL_PLAIN, "AHUAcA==",
	  0, NULL },
	{ "empty ir", "PLAIN =", PARSE_OK, SMTP_SASL_PLAIN, "", 0, NULL },
	{ "two spaces", "LOGIN  dQ==", PARSE_OK, SMTP_SASL_LOGIN, "dQ==", 0,
	  NULL },
	{ "unknown", "CRAM-MD5", PARSE_BAD, 0, NULL, 504, "5.5.4" },
	{ "prefix", "PLAINX", PARSE_BAD, 0, NULL, 504, "5.5.4" },
	{ "three words", "PLAIN a b", PARSE_BAD, 0, NULL, 501, "5.5.4" },
	{ "too long", "ABCDEFGHIJKLMNOPQRSTU", PARSE_BAD, 0, NULL, 501,
	  "5.5.4" },
	{ "empty", "", PARSE_BAD, 0, NULL, 501, "5.5.4" },
};

static void
test_start(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(start_cases); i++) {
		struct smtp_sasl_start st;
		struct smtp_reply_hint h = { 0, NULL, NULL };
		const char *a = start_cases[i].arg;
		enum parse_res r = smtp_sasl_start_parse(a, strlen(a), &st, &h);

		if (r != start_cases[i].want)
			fail_msg("%s: got %d", start_cases[i].name, (int)r);
		if (r != PARSE_OK) {
			if (h.code != start_cases[i].code ||
			    strcmp(h.enh, start_cases[i].enh) != 0)
				fail_msg("%s: %u %s", start_cases[i].name,
				    h.code, h.enh);
			continue;
		}
		if (st.mech != start_cases[i].mech ||
		    st.has_ir != (start_cases[i].ir != NULL))
			fail_msg("%s: mech %d ir %d", start_cases[i].name,
			    (int)st.mech, st.has_ir);
		if (st.has_ir && (st.ir.len != strlen(start_cases[i].ir) ||
		    memcmp(st.ir.p, start_cases[i].ir, st.ir.len) != 0))
			fail_msg("%s: ir %.*s", start_cases[i].name,
			    (int)st.ir.len, st.ir.p);
	}
	assert_string_equal(smtp_sasl_mech_name(SMTP_SASL_PLAIN), "PLAIN");
	assert_string_equal(smtp_sasl_mech_name(SMTP_SASL_LOGIN), "LOGIN");
	assert_true(smtp_sasl_is_cancel("*", 1));
	assert_false(smtp_sasl_is_cancel("**", 2));
	assert_false(smtp_sasl_is_cancel("", 0));
}

static const struct {
	const char *in;
	const char *out;	/* NULL: refused */
	size_t out_len;
} b64_cases[] = {
	{ "", "", 0 },
	{ "Zg==", "f", 1 },
	{ "Zm8=", "fo", 2 },
	{ "Zm9v", "foo", 3 },
	{ "Zm9vYmFy", "foobar", 6 },
	{ "AHUAcA==", "\0u\0p", 4 },
	{ "+/+/", "\xfb\xff\xbf", 3 },
	{ "Zg=", NULL, 0 },		/* not a multiple of 4 */
	{ "Zg", NULL, 0 },		/* no padding */
	{ "Zh==", NULL, 0 },		/* unused bits set */
	{ "Zm9=", NULL, 0 },		/* ... */
	{ "Z===", NULL, 0 },
	{ "====", NULL, 0 },
	{ "Zg==Zg==", NULL, 0 },	/* padding inside */
	{ "Zm 9", NULL, 0 },		/* white space */
	{ "Zm9v\n", NULL, 0 },
	{ "Zm-_", NULL, 0 },		/* base64url */
	{ "=Zm9", NULL, 0 },
};

static void
test_b64(void **state)
{
	struct buf b = BUF_INIT(0), small = BUF_INIT(2), enc = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(b64_cases); i++) {
		const char *in = b64_cases[i].in;
		int r;

		buf_reset(&b);
		buf_add_str(&b, "x");
		r = smtp_sasl_b64_decode(in, strlen(in), &b);
		if (b64_cases[i].out == NULL) {
			if (r != -1 || b.len != 1)
				fail_msg("\"%s\": accepted", in);
			continue;
		}
		if (r != 0 || b.len != 1 + b64_cases[i].out_len ||
		    memcmp(b.data + 1, b64_cases[i].out,
		    b64_cases[i].out_len) != 0)
			fail_msg("\"%s\": r %d len %zu", in, r, b.len);
		/* canonical: encoding gives the input back */
		buf_reset(&enc);
		smtp_sasl_b64_encode(b.data + 1, b.len - 1, &enc);
		assert_int_equal(enc.len, strlen(in));
		assert_memory_equal(enc.data, in, enc.len);
	}
	/* out->max: refused, out unchanged */
	assert_int_equal(smtp_sasl_b64_decode("Zm9v", 4, &small), -1);
	assert_int_equal(small.len, 0);
	assert_int_equal(smtp_sasl_b64_decode("Zm8=", 4, &small), 0);
	assert_int_equal(small.len, 2);
	/* every length encodes and decodes back */
	for (size_t n = 0; n < 64; n++) {
		unsigned char raw[64];

		for (size_t k = 0; k < n; k++)
			raw[k] = (unsigned char)(k * 37 + n);
		buf_reset(&enc);
		buf_reset(&b);
		smtp_sasl_b64_encode(raw, n, &enc);
		assert_int_equal(enc.len, (n + 2) / 3 * 4);
		assert_int_equal(smtp_sasl_b64_decode((const char *)enc.data,
		    enc.len, &b), 0);
		assert_int_equal(b.len, n);
		if (n > 0)
			assert_memory_equal(b.data, raw, n);
	}
	buf_free(&b);
	buf_free(&small);
	buf_free(&enc);
}

#define PL(s) (const unsigned char *)(s), sizeof(s) - 1

static void
test_plain(void **state)
{
	struct smtp_sasl_plain p;
	unsigned char big[SMTP_SASL_PASS_MAX + 16];

	(void)state;
	assert_int_equal(smtp_sasl_plain_parse(PL("\0u@x\0pw"), &p),
	    PARSE_OK);
	assert_int_equal(p.authzid.len, 0);
	assert_int_equal(p.authcid.len, 3);
	assert_memory_equal(p.authcid.p, "u@x", 3);
	assert_int_equal(p.passwd.len, 2);
	assert_memory_equal(p.passwd.p, "pw", 2);
	assert_int_equal(smtp_sasl_plain_parse(PL("z\0u\0p w"), &p), PARSE_OK);
	assert_int_equal(p.authzid.len, 1);
	assert_int_equal(p.passwd.len, 3);
	assert_int_equal(smtp_sasl_plain_parse(PL(""), &p), PARSE_BAD);
	assert_int_equal(smtp_sasl_plain_parse(PL("u\0p"), &p), PARSE_BAD);
	assert_int_equal(smtp_sasl_plain_parse(PL("\0\0p"), &p), PARSE_BAD);
	assert_int_equal(smtp_sasl_plain_parse(PL("\0u\0"), &p), PARSE_BAD);
	assert_int_equal(smtp_sasl_plain_parse(PL("\0u\0p\0q"), &p),
	    PARSE_BAD);
	/* lengths */
	memset(big, 'p', sizeof(big));
	big[0] = '\0';
	big[1] = 'u';
	big[2] = '\0';
	assert_int_equal(smtp_sasl_plain_parse(big, 3 + SMTP_SASL_PASS_MAX,
	    &p), PARSE_OK);
	assert_int_equal(smtp_sasl_plain_parse(big, 4 + SMTP_SASL_PASS_MAX,
	    &p), PARSE_BAD);
	memset(big, 'u', sizeof(big));
	big[0] = '\0';
	big[1 + SMTP_SASL_USER_MAX] = '\0';
	assert_int_equal(smtp_sasl_plain_parse(big, SMTP_SASL_USER_MAX + 3,
	    &p), PARSE_OK);
	big[1 + SMTP_SASL_USER_MAX] = 'u';
	big[2 + SMTP_SASL_USER_MAX] = '\0';
	assert_int_equal(smtp_sasl_plain_parse(big, SMTP_SASL_USER_MAX + 4,
	    &p), PARSE_BAD);
}

static void
test_user(void **state)
{
	char big[SMTP_SASL_USER_MAX + 1];

	(void)state;
	assert_true(smtp_sasl_user_is_valid("u@example.com", 13));
	assert_true(smtp_sasl_user_is_valid("j\xc3\xb6rg@x", 7));
	assert_false(smtp_sasl_user_is_valid("", 0));
	assert_false(smtp_sasl_user_is_valid("a b", 3));
	assert_false(smtp_sasl_user_is_valid("a\tb", 3));
	assert_false(smtp_sasl_user_is_valid("a\0b", 3));
	assert_false(smtp_sasl_user_is_valid("a\x7f", 2));
	memset(big, 'u', sizeof(big));
	assert_true(smtp_sasl_user_is_valid(big, SMTP_SASL_USER_MAX));
	assert_false(smtp_sasl_user_is_valid(big, SMTP_SASL_USER_MAX + 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start),
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_user),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
