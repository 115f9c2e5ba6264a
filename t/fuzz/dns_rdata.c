/*
 * dns_rdata.c - libFuzzer target for the pure half of the resolver
 * (common/dns_rr.c): dns_rdata_name, dns_rdata_txt, dns_rdata_mx,
 * dns_rdata_tlsa and dns_parse_txt/_mx/_ptr/_addrs over a struct
 * dns_result filled with records made from the input.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: common/dns_rr.c
 *
 * Input: byte 0 picks the TXT budget of dns_parse_txt and the max of the
 * output buffers, then records: a type byte (A, AAAA, MX, TXT, PTR, TLSA,
 * by its low three bits), a length (one byte, or two when the high bit is
 * set: up to 32767), the rdata (cut at the end of the input).  The whole
 * input is also given to the four rdata parsers as one rdata.
 *
 * Each parser is checked against a decoder written here from RFC 1035
 * (3.1 names, 3.3.9 MX, 3.3.14 TXT) and the contract of dns.h, not only
 * for "no crash":
 *   - a name is accepted exactly when the decoder accepts it; then it is
 *     "." (the root, one zero byte) or a host name (dns_is_host_name) of
 *     at most DNS_NAME_MAX characters, *used is within the input and the
 *     text encodes back to exactly those bytes;
 *   - TXT: the strings concatenated, accepted exactly when every string
 *     fits the rdata; a buffer's max is honoured (-1, never a cut);
 *   - MX: the preference, a name filling the rest of the rdata;
 *   - TLSA: the three octets and the rest as data, which is not empty
 *     (RFC 6698 2.1);
 *   - on -1 the output buffer is as it was (what was in it before kept);
 *   - dns_parse_*: each record of the matching type counted once, as an
 *     entry or as malformed (or, TXT, dropped over txt_max with truncated
 *     set); entries equal the decoder's, in answer order (MX: stably
 *     sorted by preference); TXT text within txt_max and NUL-terminated;
 *     a null MX only for a lone "0 ."; the raw records untouched;
 *   - dns_is_host_name agrees with the rule of dns.h on the raw input;
 *     a name an answer gave passes dns_name_check;
 *   - no leak (LeakSanitizer) once dns_result_free's work is done.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/dns.h"
#include "common/xalloc.h"

/*
 * XXX dns_parse_txt leaks the buffer of a TXT record that fails half way
 * (a complete first string, then one running past the rdata: the
 * dns_rdata_txt error path truncates the buffer, nobody frees it).  Until
 * common/dns_rr.c frees it, such records are left out of the results
 * here; set this to 0 to see the leak (t/fuzz/dns_rdata/txt-leak).
 */
#define AVOID_KNOWN_TXT_LEAK 0

#define NAME_TEXT_MAX 1024	/* the decoder's room: more than any name */

/* ---- the reference decoder ---- */

static bool
host_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * ref_name - RFC 1035 3.1: labels of 1..63 host characters, a zero
 * octet at the end, 255 octets in all; "." for the root.  false if not.
 */
static bool
ref_name(const uint8_t *p, size_t len, size_t *used_r, char *text,
    size_t *tlen_r)
{
	size_t off = 0, wire = 0, tl = 0;

	for (;;) {
		size_t l;

		if (off == len)
			return false;
		l = p[off++];
		wire += l + 1;
		if (l == 0)
			break;
		if (l > 63 || len - off < l)
			return false;
		if (tl > 0)
			text[tl++] = '.';
		for (size_t i = 0; i < l; i++) {
			if (!host_char(p[off + i]))
				return false;
			if (tl < NAME_TEXT_MAX - 1)
				text[tl++] = (char)p[off + i];
		}
		off += l;
		if (wire > 255)
			return false;
	}
	if (wire > 255)
		return false;
	if (tl == 0)
		text[tl++] = '.';
	text[tl] = '\0';
	*tlen_r = tl;
	*used_r = off;
	return true;
}

/* ref_txt - RFC 1035 3.3.14: one or more <character-string>s */
static bool
ref_txt(const uint8_t *p, size_t len, struct buf *out)
{
	size_t off = 0;

	if (len == 0)
		return false;
	while (off < len) {
		size_t l = p[off++];

		if (l > len - off)
			return false;
		buf_add(out, p + off, l);
		off += l;
	}
	return true;
}

/* ref_mx - RFC 1035 3.3.9: PREFERENCE, EXCHANGE filling the rdata */
static bool
ref_mx(const uint8_t *p, size_t len, unsigned *pref_r, char *host,
    size_t *hlen_r)
{
	size_t used;

	if (len < 3 || !ref_name(p + 2, len - 2, &used, host, hlen_r) ||
	    used != len - 2)
		return false;
	*pref_r = (unsigned)p[0] << 8 | p[1];
	return true;
}

/* ref_host_name - dns.h: letters, digits, '-' and '_' in labels of
 * 1..63, at most DNS_NAME_MAX, no trailing dot */
static bool
ref_host_name(const uint8_t *s, size_t n)
{
	size_t label = 0;

	if (n == 0 || n > DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!host_char(s[i]) || ++label > DNS_LABEL_MAX) {
			return false;
		}
	}
	return label > 0;
}

/* ---- the rdata parsers on one rdata ---- */

/* out as it was: its first plen bytes are prefix, no more */
static void
check_unchanged(const struct buf *out, const char *prefix, size_t plen)
{
	ASSERT(out->len == plen);
	ASSERT(plen == 0 || memcmp(out->data, prefix, plen) == 0);
	ASSERT(out->data == NULL || out->data[out->len] == '\0');
}

/* encode text (a name dns_rdata_name gave) back into wire form */
static void
encode_name(const char *text, size_t tlen, struct buf *wire)
{
	size_t start = 0;

	if (tlen == 1 && text[0] == '.') {
		buf_add(wire, "", 1);
		return;
	}
	for (size_t i = 0; i <= tlen; i++) {
		if (i == tlen || text[i] == '.') {
			unsigned char l = (unsigned char)(i - start);

			ASSERT(i - start >= 1 && i - start <= DNS_LABEL_MAX);
			buf_add(wire, &l, 1);
			buf_add(wire, text + start, i - start);
			start = i + 1;
		}
	}
	buf_add(wire, "", 1);
}

static void
check_name(const uint8_t *p, size_t len, size_t max, const char *prefix)
{
	struct buf out = BUF_INIT(max), wire = BUF_INIT(0);
	size_t plen = strlen(prefix), used = 0, rused = 0, rlen = 0;
	char ref[NAME_TEXT_MAX];
	bool want = ref_name(p, len, &rused, ref, &rlen);
	int rc;

	if (plen > 0)
		ASSERT(buf_append(&out, prefix, plen) == 0);
	rc = dns_rdata_name(p, len, &used, &out);
	if (want && (max == 0 || rlen <= max - plen)) {
		const char *t = (const char *)out.data + plen;
		size_t tl = out.len - plen;

		ASSERT(rc == 0);
		ASSERT(used == rused && used >= 1 && used <= len);
		ASSERT(tl == rlen && memcmp(t, ref, tl) == 0);
		ASSERT(out.data[out.len] == '\0');
		ASSERT(memcmp(out.data, prefix, plen) == 0);
		if (tl == 1 && t[0] == '.') {
			ASSERT(used == 1 && p[0] == 0);
		} else {
			struct buf err = BUF_INIT(0);

			ASSERT(tl <= DNS_NAME_MAX);
			ASSERT(dns_is_host_name(t, tl));
			/* a name from an answer can be asked about */
			if (plen == 0) {
				ASSERT(dns_name_check(t, &err) == 0);
				ASSERT(err.len == 0);
			}
			buf_free(&err);
		}
		encode_name(t, tl, &wire);
		ASSERT(wire.len == used && memcmp(wire.data, p, used) == 0);
	} else {
		ASSERT(rc == -1);
		check_unchanged(&out, prefix, plen);
	}
	buf_free(&out);
	buf_free(&wire);
}

static void
check_txt(const uint8_t *p, size_t len, size_t max, const char *prefix)
{
	struct buf out = BUF_INIT(max), ref = BUF_INIT(0);
	size_t plen = strlen(prefix);
	bool want = ref_txt(p, len, &ref);
	int rc;

	if (plen > 0)
		ASSERT(buf_append(&out, prefix, plen) == 0);
	rc = dns_rdata_txt(p, len, &out);
	if (want && (max == 0 || ref.len <= max - plen)) {
		ASSERT(rc == 0);
		ASSERT(out.len == plen + ref.len);
		ASSERT(memcmp(out.data, prefix, plen) == 0);
		ASSERT(ref.len == 0 || memcmp(out.data + plen, ref.data,
		    ref.len) == 0);
		ASSERT(ref.len < len);	/* a length octet per string */
	} else {
		ASSERT(rc == -1);
		check_unchanged(&out, prefix, plen);
	}
	buf_free(&out);
	buf_free(&ref);
}

static void
check_mx(const uint8_t *p, size_t len, size_t max)
{
	struct buf host = BUF_INIT(max);
	char ref[NAME_TEXT_MAX];
	size_t rlen = 0;
	unsigned pref = 70000, rpref = 0;
	bool want = ref_mx(p, len, &rpref, ref, &rlen);
	int rc = dns_rdata_mx(p, len, &pref, &host);

	if (want && (max == 0 || rlen <= max)) {
		ASSERT(rc == 0);
		ASSERT(pref == rpref && pref <= 65535);
		ASSERT(host.len == rlen && memcmp(host.data, ref, rlen) == 0);
		ASSERT(strcmp(buf_cstr(&host), ".") == 0 ||
		    dns_is_host_name(buf_cstr(&host), host.len));
	} else {
		ASSERT(rc == -1);
		check_unchanged(&host, "", 0);
	}
	buf_free(&host);
}

/* RFC 6698 2.1: usage, selector, matching type, >= 1 octet of data */
static void
check_tlsa(const uint8_t *p, size_t len)
{
	struct dns_tlsa t;
	int rc = dns_rdata_tlsa(p, len, &t);

	if (len < 4) {
		ASSERT(rc == -1);
		return;
	}
	ASSERT(rc == 0);
	ASSERT(t.usage == p[0] && t.selector == p[1] && t.mtype == p[2]);
	ASSERT(t.data == p + 3 && t.len == len - 3 && t.len >= 1);
}

static void
check_rdata(const uint8_t *p, size_t len, size_t max)
{
	ASSERT(dns_is_host_name((const char *)p, len) ==
	    ref_host_name(p, len));
	check_name(p, len, 0, "");
	check_name(p, len, 0, "x.");
	check_name(p, len, max, "");
	check_txt(p, len, 0, "");
	check_txt(p, len, max + 2, "ab");
	check_mx(p, len, 0);
	check_mx(p, len, max);
	check_tlsa(p, len);
}

/* ---- results ---- */

static const uint16_t types[8] = {
	DNS_T_A, DNS_T_AAAA, DNS_T_MX, DNS_T_TXT, DNS_T_PTR, DNS_T_TLSA,
	DNS_T_TXT, DNS_T_MX,
};

/* what dns_result_free (common/dns.c, which needs libunbound) does */
static void
result_free(struct dns_result *r)
{
	for (size_t i = 0; i < r->nrr; i++)
		free(r->rr[i].data);
	free(r->rr);
	for (size_t i = 0; i < r->ntxt; i++)
		free(r->txt[i].text);
	free(r->txt);
	free(r->addr);
	for (size_t i = 0; i < r->nmx; i++)
		free(r->mx[i].host);
	free(r->mx);
	for (size_t i = 0; i < r->nname; i++)
		free(r->name[i]);
	free(r->name);
	free(r->canonname);
	free(r->why_bogus);
	memset(r, 0, sizeof(*r));
}

/* txt_leaks - a TXT rdata that would hit the known leak: a complete
 * first string, then a string running past the rdata */
static bool
txt_leaks(const uint8_t *p, size_t len)
{
	struct buf t = BUF_INIT(0);
	bool bad = len > 0 && p[0] < len && !ref_txt(p, len, &t);

	buf_free(&t);
	return bad;
}

/* the records of the input, as dns_copy_rr (common/dns.c) makes them */
static void
make_result(const uint8_t *data, size_t size, struct dns_result *r)
{
	size_t off = 1;

	memset(r, 0, sizeof(*r));
	r->status = DNS_OK;
	r->rcode = 0;
	r->rr = xcalloc(size / 2 + 1, sizeof(*r->rr));
	while (size - off >= 2) {
		uint16_t type = types[data[off] & 7];
		size_t len = data[off + 1];

		off += 2;
		if (len & 0x80) {
			if (off == size)
				break;
			len = (len & 0x7f) << 8 | data[off++];
		}
		if (len > size - off)
			len = size - off;
		if (AVOID_KNOWN_TXT_LEAK && type == DNS_T_TXT &&
		    txt_leaks(data + off, len)) {
			off += len;
			continue;
		}
		r->rr[r->nrr].type = type;
		r->rr[r->nrr].len = (uint16_t)len;
		r->rr[r->nrr].data = (unsigned char *)xmemdup0(data + off, len);
		r->nrr++;
		off += len;
	}
}

static unsigned
check_parse_txt(struct dns_result *r, size_t txt_max)
{
	size_t n = dns_parse_txt(r, txt_max), k = 0, used = 0;
	unsigned bad = 0;
	bool dropped = false;

	ASSERT(n == r->ntxt && n <= r->nrr);
	for (size_t i = 0; i < r->nrr; i++) {
		struct buf ref = BUF_INIT(0);

		if (r->rr[i].type != DNS_T_TXT)
			continue;
		if (!ref_txt(r->rr[i].data, r->rr[i].len, &ref)) {
			bad++;
		} else if (ref.len > txt_max - used) {
			dropped = true;
		} else {
			ASSERT(k < n);
			ASSERT(r->txt[k].len == ref.len);
			ASSERT(ref.len == 0 || memcmp(r->txt[k].text, ref.data,
			    ref.len) == 0);
			ASSERT(r->txt[k].text[ref.len] == '\0');
			used += ref.len;
			k++;
		}
		buf_free(&ref);
	}
	ASSERT(k == n && used <= txt_max);
	ASSERT(r->truncated == dropped);
	return bad;
}

/* one MX the decoder made: preference, host, its place in the answer */
struct ref_mx {
	unsigned pref;
	size_t hlen;
	char host[NAME_TEXT_MAX];
};

static unsigned
check_parse_mx(struct dns_result *r)
{
	size_t n = dns_parse_mx(r), k = 0, nnull = 0;
	struct ref_mx *want = xcalloc(r->nrr + 1, sizeof(*want));
	unsigned bad = 0;

	ASSERT(n == r->nmx && n <= r->nrr);
	for (size_t i = 0; i < r->nrr; i++) {
		struct ref_mx m;

		if (r->rr[i].type != DNS_T_MX)
			continue;
		if (!ref_mx(r->rr[i].data, r->rr[i].len, &m.pref, m.host,
		    &m.hlen)) {
			bad++;
		} else if (strcmp(m.host, ".") == 0) {
			if (m.pref == 0)
				nnull++;
			else
				bad++;
		} else {
			/* stable: after every entry of a lower or equal
			 * preference */
			size_t j = k;

			while (j > 0 && want[j - 1].pref > m.pref) {
				want[j] = want[j - 1];
				j--;
			}
			want[j] = m;
			k++;
		}
	}
	ASSERT(k == n);
	for (size_t i = 0; i < n; i++) {
		ASSERT(r->mx[i].pref == want[i].pref);
		ASSERT(strlen(r->mx[i].host) == want[i].hlen);
		ASSERT(strcmp(r->mx[i].host, want[i].host) == 0);
		ASSERT(dns_is_host_name(r->mx[i].host, want[i].hlen));
		ASSERT(i == 0 || r->mx[i - 1].pref <= r->mx[i].pref);
	}
	ASSERT(r->null_mx == (n == 0 && nnull == 1));
	if (!r->null_mx)
		bad += (unsigned)nnull;
	free(want);
	return bad;
}

static unsigned
check_parse_ptr(struct dns_result *r)
{
	size_t n = dns_parse_ptr(r), k = 0;
	unsigned bad = 0;

	ASSERT(n == r->nname && n <= r->nrr);
	for (size_t i = 0; i < r->nrr; i++) {
		char ref[NAME_TEXT_MAX];
		size_t used, rlen;

		if (r->rr[i].type != DNS_T_PTR)
			continue;
		if (!ref_name(r->rr[i].data, r->rr[i].len, &used, ref,
		    &rlen) || used != r->rr[i].len ||
		    strcmp(ref, ".") == 0) {
			bad++;
			continue;
		}
		ASSERT(k < n);
		ASSERT(strcmp(r->name[k], ref) == 0);
		ASSERT(dns_is_host_name(r->name[k], rlen));
		k++;
	}
	ASSERT(k == n);
	return bad;
}

static unsigned
check_parse_addrs(struct dns_result *r)
{
	size_t n = dns_parse_addrs(r), k = 0;
	unsigned bad = 0;

	ASSERT(n == r->naddr && n <= r->nrr);
	for (size_t i = 0; i < r->nrr; i++) {
		const struct dns_rr *rr = &r->rr[i];
		const struct netaddr *a;

		if (rr->type != DNS_T_A && rr->type != DNS_T_AAAA)
			continue;
		if (rr->len != (rr->type == DNS_T_A ? 4 : 16)) {
			bad++;
			continue;
		}
		ASSERT(k < n);
		a = &r->addr[k++];
		if (rr->type == DNS_T_A) {
			const struct sockaddr_in *s4 = (const void *)&a->ss;

			ASSERT(a->len == sizeof(*s4));
			ASSERT(s4->sin_family == AF_INET && s4->sin_port == 0);
			ASSERT(memcmp(&s4->sin_addr, rr->data, 4) == 0);
		} else {
			const struct sockaddr_in6 *s6 = (const void *)&a->ss;

			ASSERT(a->len == sizeof(*s6));
			ASSERT(s6->sin6_family == AF_INET6 &&
			    s6->sin6_port == 0);
			ASSERT(memcmp(&s6->sin6_addr, rr->data, 16) == 0);
		}
	}
	ASSERT(k == n);
	return bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dns_result r;
	struct dns_rr *copy;
	size_t txt_max, max, nrr;
	unsigned bad;

	if (size == 0)
		return 0;
	/* budgets from tiny to the defaults, so both sides are reached */
	txt_max = data[0] < 0xf0 ? (size_t)data[0] * 4 : DNS_TXT_MAX_DEFAULT;
	max = (size_t)(data[0] & 0x3f) * 5 + 1;
	check_rdata(data + 1, size - 1, max);

	make_result(data, size, &r);
	nrr = r.nrr;
	copy = xcalloc(nrr + 1, sizeof(*copy));
	for (size_t i = 0; i < nrr; i++) {
		copy[i] = r.rr[i];
		copy[i].data = (unsigned char *)xmemdup0(r.rr[i].data,
		    r.rr[i].len);
	}
	bad = check_parse_txt(&r, txt_max);
	bad += check_parse_mx(&r);
	bad += check_parse_ptr(&r);
	bad += check_parse_addrs(&r);
	ASSERT(r.malformed == bad);
	ASSERT(r.ntxt + r.nmx + r.nname + r.naddr + r.malformed <= r.nrr);
	ASSERT(r.status == DNS_OK && r.rcode == 0);
	/* the raw records are the parsers' input only */
	ASSERT(r.nrr == nrr);
	for (size_t i = 0; i < nrr; i++) {
		ASSERT(r.rr[i].type == copy[i].type &&
		    r.rr[i].len == copy[i].len);
		ASSERT(memcmp(r.rr[i].data, copy[i].data, copy[i].len) == 0);
		free(copy[i].data);
	}
	free(copy);
	result_free(&r);
	return 0;
}
