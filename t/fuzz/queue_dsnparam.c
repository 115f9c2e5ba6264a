/*
 * queue_dsnparam.c - libFuzzer target for the RFC 3461 parameter parser,
 * queue_dsn_params_parse() and its decoders in queue/queue_dsnparam.c.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: queue/queue_dsnparam.c
 *
 * The input is a parameter string; the first byte picks the flags (RCPT,
 * SMTPUTF8).  Invariants checked, beyond "no crash":
 *   - the answer is OK, BAD or TOO_LONG, with *error_r set (non-empty
 *     text unless OK), and the same answer twice;
 *   - on anything but OK, *p is all zero;
 *   - on OK every span lies inside the input, notify is NEVER alone or a
 *     subset of SUCCESS|FAILURE|DELAY, ret in range, MAIL's parameters
 *     only on MAIL and RCPT's only on RCPT;
 *   - ENVID is at most 100 bytes and ORCPT at most 500 (with its type
 *     and ';'), and they decode (as the queue relies on) to text with no
 *     control character, ENVID to printable ASCII, a non-utf-8 ORCPT
 *     (xtext, whose "+HH" may spell UTF-8, as Postfix sends it) from
 *     ASCII to valid UTF-8, a utf-8 ORCPT to valid UTF-8 with raw 8-bit
 *     bytes only with SMTPUTF8;
 *   - each decoder agrees with itself with and without an output buffer;
 *   - the keyword spelled in another case gives the same answer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "queue/queue_dsn.h"

static bool
within(const char *p, size_t n, const char *s, size_t len)
{
	return p >= s && p <= s + len && n <= (size_t)(s + len - p);
}

static bool
is_zero(const struct queue_dsn_params *p)
{
	static const struct queue_dsn_params zero;

	return memcmp(p, &zero, sizeof(zero)) == 0;
}

/* valid_utf8 - well-formed, no C0/C1 control or DEL */
static bool
valid_utf8(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		size_t len;

		if (s[i] < 0x80) {
			if (s[i] < 0x20 || s[i] == 0x7f)
				return false;
			i++;
			continue;
		}
		len = s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 : 2;
		if (s[i] < 0xc2 || s[i] > 0xf4 || n - i < len)
			return false;
		cp = s[i] & (len == 2 ? 0x1fu : len == 3 ? 0x0fu : 0x07u);
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3fu);
		}
		if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp < 0xa0))
			return false;
		i += len;
	}
	return true;
}

static bool
printable_ascii(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

static void
check_ok(const char *s, size_t len, unsigned flags,
    const struct queue_dsn_params *p)
{
	const unsigned valid = QUEUE_DSN_NOTIFY_SUCCESS |
	    QUEUE_DSN_NOTIFY_FAILURE | QUEUE_DSN_NOTIFY_DELAY;
	bool rcpt = (flags & QUEUE_DSN_PARSE_RCPT) != 0;
	struct buf d = BUF_INIT(0);

	ASSERT(p->notify == QUEUE_DSN_NOTIFY_NEVER || (p->notify & ~valid) ==
	    0);
	ASSERT(p->ret == QUEUE_DSN_RET_NONE || p->ret == QUEUE_DSN_RET_FULL ||
	    p->ret == QUEUE_DSN_RET_HDRS);
	ASSERT(p->utf8 == ((flags & QUEUE_DSN_PARSE_UTF8) != 0));
	if (rcpt)
		ASSERT(p->ret == QUEUE_DSN_RET_NONE && p->envid == NULL);
	else
		ASSERT(p->notify == 0 && p->orcpt_type == NULL);
	if (p->envid != NULL) {
		ASSERT(within(p->envid, p->envid_len, s, len));
		ASSERT(p->envid_len >= 1 &&
		    p->envid_len <= QUEUE_DSN_ENVID_MAX);
		ASSERT(queue_dsn_xtext_decode(p->envid, p->envid_len, NULL) ==
		    0);
		ASSERT(queue_dsn_xtext_decode(p->envid, p->envid_len, &d) ==
		    0);
		ASSERT(d.len >= 1 && d.len <= p->envid_len);
		ASSERT(printable_ascii(d.data, d.len));
		buf_reset(&d);
	}
	if (p->orcpt_type != NULL) {
		bool is_utf8 = ascii_eq_nocase(p->orcpt_type,
		    p->orcpt_type_len, "utf-8");

		ASSERT(within(p->orcpt_type, p->orcpt_type_len, s, len));
		ASSERT(within(p->orcpt, p->orcpt_len, s, len));
		ASSERT(p->orcpt_type_len >= 1 && p->orcpt_len >= 1);
		ASSERT(p->orcpt == p->orcpt_type + p->orcpt_type_len + 1 &&
		    p->orcpt[-1] == ';');
		ASSERT(p->orcpt_type_len + 1 + p->orcpt_len <=
		    QUEUE_DSN_ORCPT_MAX);
		ASSERT(memchr(p->orcpt_type, ';', p->orcpt_type_len) == NULL);
		ASSERT(queue_dsn_orcpt_decode(p->orcpt_type,
		    p->orcpt_type_len, p->orcpt, p->orcpt_len, p->utf8, NULL) ==
		    0);
		ASSERT(queue_dsn_orcpt_decode(p->orcpt_type,
		    p->orcpt_type_len, p->orcpt, p->orcpt_len, p->utf8, &d) ==
		    0);
		ASSERT(d.len >= 1);
		if (is_utf8) {
			ASSERT(valid_utf8(d.data, d.len));
			/* raw 8-bit input only in an SMTPUTF8 transaction */
			for (size_t i = 0; i < p->orcpt_len; i++)
				ASSERT(p->utf8 ||
				    (unsigned char)p->orcpt[i] < 0x80);
		} else {
			/* xtext: ASCII input, UTF-8 (or ASCII) out */
			ASSERT(valid_utf8(d.data, d.len));
			for (size_t i = 0; i < p->orcpt_len; i++)
				ASSERT((unsigned char)p->orcpt[i] < 0x80);
		}
	}
	buf_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct queue_dsn_params p, q;
	const char *s, *error = NULL, *error2 = NULL;
	enum parse_res res, res2;
	unsigned flags;
	char *lower;

	if (size == 0)
		return 0;
	flags = data[0] & (QUEUE_DSN_PARSE_RCPT | QUEUE_DSN_PARSE_UTF8);
	s = (const char *)data + 1;
	size--;
	memset(&p, 0xa5, sizeof(p));
	res = queue_dsn_params_parse(s, size, flags, &p, &error);
	ASSERT(res == PARSE_OK || res == PARSE_BAD || res == PARSE_TOO_LONG);
	ASSERT(error != NULL);
	res2 = queue_dsn_params_parse(s, size, flags, &q, &error2);
	ASSERT(res2 == res && memcmp(&p, &q, sizeof(p)) == 0);
	if (res != PARSE_OK) {
		ASSERT(error[0] != '\0');
		ASSERT(is_zero(&p));
	} else {
		check_ok(s, size, flags, &p);
	}
	/* keywords and NOTIFY/RET values are case-insensitive: lower-casing
	 * the ASCII letters never changes the answer of an all-keyword
	 * input, except where xtext or an address changes with it */
	lower = xmalloc(size + 1);
	for (size_t i = 0; i < size; i++)
		lower[i] = (char)ascii_tolower((unsigned char)s[i]);
	res2 = queue_dsn_params_parse(lower, size, flags, &q, &error2);
	if (memchr(s, '+', size) == NULL && memchr(s, '\\', size) == NULL &&
	    memchr(s, '=', size) != NULL && res == PARSE_OK &&
	    p.envid == NULL && p.orcpt_type == NULL)
		ASSERT(res2 == PARSE_OK && q.notify == p.notify &&
		    q.ret == p.ret);
	free(lower);
	return 0;
}
