/*
 * smtp_hdr.c - libFuzzer target for common/rfc5322.c, the header and
 * address reader of the submission server (mta/smtpd_submit.c), the
 * dmarc stage and the DKIM signer (named for its first user, which had
 * its own copy: mta/smtp_hdr.c).
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: common/rfc5322.c common/dns_rr.c
 *
 * The input is a message.  Invariants, beyond "no crash": the header
 * length is within the input and ends in an empty line when complete;
 * every field's name and value lie inside the header, in order, and the
 * name holds no colon; the count of From fields matches the walk, and is
 * the same over the header and over the whole message; an address list
 * that parses yields exactly n NUL-terminated addresses, each with one
 * unquoted "@" not at either end, no NUL, CR or LF, and no more bytes
 * than the value had; a From domain is a lower-case host name of at most
 * DNS_NAME_MAX characters, and where the strict reading finds addresses
 * the From domain agrees with it (none or several: no domain; one: its
 * domain, or none when that is no host name).
 */
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/rfc5322.h"

/* check_addresses - the strict reading; how many, or -1 */
static long
check_addresses(const char *v, size_t len, struct buf *out)
{
	size_t n = 0, seen = 0, off = 0;

	buf_reset(out);
	if (rfc5322_addresses(v, len, out, &n) < 0)
		return -1;
	ASSERT(out->len <= len + n);
	while (off < out->len) {
		const char *a = (const char *)out->data + off;
		size_t l = strnlen(a, out->len - off);
		bool quoted = false;
		size_t ats = 0, at = 0;

		ASSERT(l < out->len - off);	/* NUL-terminated */
		ASSERT(l > 0);
		for (size_t i = 0; i < l; i++) {
			ASSERT(a[i] != '\r' && a[i] != '\n');
			if (a[i] == '\\' && quoted) {
				i++;
				continue;
			}
			if (a[i] == '"')
				quoted = !quoted;
			else if (a[i] == '@' && !quoted) {
				ats++;
				at = i;
			}
		}
		ASSERT(ats == 1 && at > 0 && at + 1 < l);
		off += l + 1;
		seen++;
	}
	ASSERT(seen == n);
	return (long)n;
}

/* check_from_domain - v[0..len) as a From value, against the strict
 * reading's n addresses (the first of them in addrs) */
static void
check_from_domain(const char *v, size_t len, long n,
    const struct buf *addrs)
{
	struct buf z = BUF_INIT(0);
	char dom[RFC5322_DOMAIN_SIZE];
	const char *why = NULL, *a, *at;
	size_t dlen;
	int r;

	if (memchr(v, '\0', len) != NULL)
		return;			/* a C string is what it takes */
	buf_add(&z, v, len);
	r = rfc5322_from_domain(buf_cstr(&z), dom, &why);
	buf_free(&z);
	if (r == 0) {
		dlen = strlen(dom);
		ASSERT(dlen > 0 && dlen <= DNS_NAME_MAX);
		ASSERT(dns_is_host_name(dom, dlen));
		for (size_t i = 0; i < dlen; i++)
			ASSERT(dom[i] == ascii_tolower((unsigned char)dom[i]));
	} else {
		ASSERT(why != NULL);
	}
	if (n < 0)
		return;			/* salvaged: its own rules */
	if (n != 1) {
		ASSERT(r < 0);
		return;
	}
	/* the one address's domain: after its last "@", which is the one
	 * outside quotes (a domain has no quotes when it is a host name) */
	a = (const char *)addrs->data;
	at = strrchr(a, '@');
	ASSERT(at != NULL);
	if (r == 0) {
		dlen = strlen(dom);
		ASSERT(ascii_strncasecmp(at + 1, dom, dlen) == 0);
		for (const char *p = at + 1 + dlen; *p != '\0'; p++)
			ASSERT(*p == '.');
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rfc5322_field f;
	struct buf addrs = BUF_INIT(0);
	size_t off = 0, prev = 0, nfrom = 0, hlen;
	bool complete;
	long n;

	hlen = rfc5322_header_len(data, size, &complete);
	ASSERT(hlen <= size);
	ASSERT(!complete || (hlen > 0 && data[hlen - 1] == '\n'));
	ASSERT(!complete || hlen == 1 || data[hlen - 2] == '\n' ||
	    (data[hlen - 2] == '\r' && (hlen == 2 || data[hlen - 3] == '\n')));
	ASSERT(complete || hlen == size);
	while (rfc5322_header_next(data, hlen, &off, &f)) {
		const unsigned char *np = (const unsigned char *)f.name;
		const unsigned char *vp = (const unsigned char *)f.value;

		ASSERT(off <= hlen && off > prev);
		ASSERT(np >= data + prev && vp > np + f.name_len - 1);
		ASSERT(vp + f.value_len <= data + off);
		ASSERT(f.name_len > 0 && memchr(np, ':', f.name_len) == NULL);
		if (ascii_eq_nocase(f.name, f.name_len, "From"))
			nfrom++;
		n = check_addresses(f.value, f.value_len, &addrs);
		check_from_domain(f.value, f.value_len, n, &addrs);
		prev = off;
	}
	ASSERT(rfc5322_header_find(data, hlen, "from", NULL) == nfrom);
	ASSERT(rfc5322_header_find(data, size, "from", NULL) == nfrom);
	n = check_addresses((const char *)data, size, &addrs);
	check_from_domain((const char *)data, size, n, &addrs);
	buf_free(&addrs);
	return 0;
}
