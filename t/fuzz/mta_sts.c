/*
 * mta_sts.c - libFuzzer target for the pure half of MTA-STS
 * (mta/mta_sts.c): the policy parser, the TXT record parser, the cache
 * record decoder and MX pattern matching, all fed the whole input.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: mta/mta_sts.c
 *
 * Invariants checked, not only "no crash":
 *   - policy: PARSE_TOO_LONG exactly when the input is over 64 KiB;
 *     PARSE_BAD leaves the policy empty and says why in err; PARSE_OK
 *     gives a known mode, max_age within the maximum, 1..MTA_STS_MX_MAX
 *     patterns (0 allowed only in mode none), each in lower case and of
 *     the pattern grammar, each matching a host made from it (itself, or
 *     "x" for the wildcard label, in upper case too) and not matching a
 *     host with one more label in front; the input contained
 *     "version: STSv1" or "version:" with blanks before STSv1;
 *   - the policy round-trips through the cache record: encoded, decoded
 *     back to the same mode, max_age and patterns;
 *   - TXT: PARSE_OK only for input starting "v=STSv1", with an id of
 *     1..32 letters and digits, which a minimal record reproduces;
 *   - the record decoder on raw input: PARSE_OK gives a policy that
 *     meets the policy invariants;
 *   - mx matching (input split at the first LF: pattern, host): a match
 *     survives upper-casing the host, a plain pattern matches itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "mta/mta_sts.h"

static void
check_pattern(const char *pat)
{
	size_t n = strlen(pat);
	const char *dom = pat;
	char host[300], up[300], deeper[310];

	ASSERT(n > 0 && n <= 255);
	for (size_t i = 0; i < n; i++)
		ASSERT(pat[i] == ascii_tolower((unsigned char)pat[i]));
	if (n >= 2 && pat[0] == '*' && pat[1] == '.') {
		dom = pat + 2;
		snprintf(host, sizeof(host), "x.%s", dom);
	} else {
		snprintf(host, sizeof(host), "%s", pat);
	}
	ASSERT(strchr(dom, '*') == NULL && dom[0] != '\0');
	ASSERT(dom[strlen(dom) - 1] != '.');
	for (size_t i = 0; host[i] != '\0'; i++)
		up[i] = (char)(host[i] >= 'a' && host[i] <= 'z' ?
		    host[i] - 32 : host[i]);
	up[strlen(host)] = '\0';
	ASSERT(mta_sts_mx_match(pat, host));
	ASSERT(mta_sts_mx_match(pat, up));
	snprintf(deeper, sizeof(deeper), "y.%s", host);
	ASSERT(!mta_sts_mx_match(pat, deeper));
}

static void
check_policy(const struct mta_sts_policy *p)
{
	ASSERT(p->mode == MTA_STS_MODE_NONE ||
	    p->mode == MTA_STS_MODE_TESTING ||
	    p->mode == MTA_STS_MODE_ENFORCE);
	ASSERT(p->max_age <= MTA_STS_MAX_AGE_MAX);
	ASSERT(p->nmx <= MTA_STS_MX_MAX);
	ASSERT(p->nmx > 0 || p->mode == MTA_STS_MODE_NONE);
	for (size_t i = 0; i < p->nmx; i++)
		check_pattern(p->mx[i]);
}

static void
check_roundtrip(const char *in, size_t len, const struct mta_sts_policy *p)
{
	struct buf rec = BUF_INIT(0);
	struct mta_sts_record r;

	mta_sts_record_encode(7, 8, "abc", in, len, &rec);
	ASSERT(mta_sts_record_decode(rec.data, rec.len, &r) == PARSE_OK);
	ASSERT(r.fetched == 7 && r.expires == 8 && strcmp(r.id, "abc") == 0);
	ASSERT(r.policy.mode == p->mode && r.policy.max_age == p->max_age);
	ASSERT(r.policy.nmx == p->nmx);
	for (size_t i = 0; i < p->nmx; i++)
		ASSERT(strcmp(r.policy.mx[i], p->mx[i]) == 0);
	mta_sts_policy_free(&r.policy);
	buf_free(&rec);
}

static void
check_txt(const char *in, size_t len)
{
	char id[MTA_STS_ID_MAX + 1], again[MTA_STS_ID_MAX + 1];
	struct buf min = BUF_INIT(0);
	size_t n;

	memset(id, 0, sizeof(id));
	if (mta_sts_txt_parse(in, len, id) != PARSE_OK)
		return;
	ASSERT(len >= 7 && memcmp(in, "v=STSv1", 7) == 0);
	ASSERT(mta_sts_txt_is_sts(in, len));
	n = strlen(id);
	ASSERT(n >= 1 && n <= MTA_STS_ID_MAX);
	for (size_t i = 0; i < n; i++)
		ASSERT(is_ascii_alnum((unsigned char)id[i]));
	buf_addf(&min, "v=STSv1; id=%s", id);
	ASSERT(mta_sts_txt_parse((char *)min.data, min.len, again) ==
	    PARSE_OK && strcmp(id, again) == 0);
	buf_free(&min);
}

static void
check_match(const char *in, size_t len)
{
	const char *lf = memchr(in, '\n', len);
	char *pat, *host, *up;
	size_t hl;

	if (lf == NULL)
		return;
	pat = xmemdup0(in, (size_t)(lf - in));
	hl = len - (size_t)(lf - in) - 1;
	host = xmemdup0(lf + 1, hl);
	up = xmemdup0(lf + 1, hl);
	for (size_t i = 0; i < hl; i++)
		if (up[i] >= 'a' && up[i] <= 'z')
			up[i] = (char)(up[i] - 32);
	if (mta_sts_mx_match(pat, host))
		ASSERT(mta_sts_mx_match(pat, up));
	if (pat[0] != '\0' && pat[0] != '*' && strlen(pat) == (size_t)(lf -
	    in) && pat[strlen(pat) - 1] != '.')
		ASSERT(mta_sts_mx_match(pat, pat));
	free(pat);
	free(host);
	free(up);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf err = BUF_INIT(0);
	struct mta_sts_policy p;
	struct mta_sts_record r;
	enum parse_res res;

	memset(&p, 0x55, sizeof(p));
	res = mta_sts_policy_parse(in, size, &p, &err);
	ASSERT((res == PARSE_TOO_LONG) == (size > MTA_STS_POLICY_MAX));
	if (res == PARSE_OK) {
		ASSERT(err.len == 0);
		ASSERT(memmem(in, size, "version:", 8) != NULL &&
		    memmem(in, size, "STSv1", 5) != NULL);
		check_policy(&p);
		check_roundtrip(in, size, &p);
	} else {
		ASSERT(res == PARSE_BAD || res == PARSE_TOO_LONG);
		ASSERT(err.len > 0);
		ASSERT(p.mx == NULL && p.nmx == 0);
	}
	mta_sts_policy_free(&p);
	buf_free(&err);

	check_txt(in, size);

	if (mta_sts_record_decode(data, size, &r) == PARSE_OK) {
		check_policy(&r.policy);
		ASSERT(strlen(r.id) >= 1 && strlen(r.id) <= MTA_STS_ID_MAX);
		mta_sts_policy_free(&r.policy);
	} else {
		ASSERT(r.policy.mx == NULL);
	}

	check_match(in, size);
	return 0;
}
