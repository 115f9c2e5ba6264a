/*
 * dns_rr.c - the pure half of the resolver (see dns.h): checking query
 * names, building reverse (RFC 1035 3.5, RFC 3596 2.5) and DNSBL (RFC
 * 5782 2.1, 2.4) names, and parsing the rdata of the types we read
 * (TLSA: RFC 6698 2.1).
 *
 * No I/O and no state: bytes and limits in, text or -1 out, so each is
 * table-tested and fuzzable.  The dns_parse_* functions turn the raw
 * records of a result into its typed arrays with those parsers.  The
 * rdata comes from libunbound with names already decompressed; a
 * compression pointer is therefore malformed here (it could only point
 * outside the rdata).  Names read from answers must
 * be host names (letters, digits, '-', '_'): an MX or PTR name with a
 * space, a dot inside a label or a control character cannot be a mail
 * host, and refusing it here keeps such bytes out of logs and headers.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dns.h"
#include "xalloc.h"

const char *
dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "OK";
	case DNS_NXDOMAIN:
		return "NXDOMAIN";
	case DNS_NODATA:
		return "NODATA";
	case DNS_SERVFAIL:
		return "SERVFAIL";
	case DNS_TIMEOUT:
		return "TIMEOUT";
	case DNS_ERROR:
		return "ERROR";
	}
	return "?";
}

const char *
dns_type_name(uint16_t type, char out[DNS_TYPE_NAME_MAX])
{
	static const struct {
		uint16_t type;
		const char *name;
	} names[] = {
		{ DNS_T_A, "A" }, { DNS_T_NS, "NS" }, { DNS_T_CNAME, "CNAME" },
		{ DNS_T_SOA, "SOA" }, { DNS_T_PTR, "PTR" }, { DNS_T_MX, "MX" },
		{ DNS_T_TXT, "TXT" }, { DNS_T_AAAA, "AAAA" },
		{ DNS_T_SRV, "SRV" }, { DNS_T_DS, "DS" },
		{ DNS_T_RRSIG, "RRSIG" }, { DNS_T_DNSKEY, "DNSKEY" },
		{ DNS_T_TLSA, "TLSA" },
	};
	size_t i;
	int n;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].type == type)
			return names[i].name;
	n = snprintf(out, DNS_TYPE_NAME_MAX, "TYPE%u", (unsigned)type);
	ASSERT(n > 0 && n < DNS_TYPE_NAME_MAX);
	return out;
}

/* append at most 64 bytes of name, control and non-ASCII bytes as '?' */
static void
dns_err_name(struct buf *err, const char *name)
{
	size_t i, n = strnlen(name, 65);

	buf_add_str(err, "\"");
	for (i = 0; i < n && i < 64; i++)
		buf_addf(err, "%c", name[i] >= 0x20 && name[i] < 0x7f ?
		    name[i] : '?');
	buf_add_str(err, n > 64 ? "...\"" : "\"");
}

static int
dns_name_bad(struct buf *err, const char *name, const char *why)
{
	buf_add_str(err, "bad DNS name ");
	dns_err_name(err, name);
	buf_addf(err, ": %s", why);
	return -1;
}

int
dns_name_check(const char *name, struct buf *err)
{
	size_t len = strnlen(name, DNS_NAME_MAX + 2), i, label = 0;

	if (len == 0)
		return dns_name_bad(err, name, "empty");
	if (len == 1 && name[0] == '.')
		return 0;
	if (name[len - 1] == '.')
		len--;
	if (len > DNS_NAME_MAX)
		return dns_name_bad(err, name, "longer than 253 characters");
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c == '.') {
			if (label == 0)
				return dns_name_bad(err, name, "empty label");
			label = 0;
			continue;
		}
		if (c < 0x21 || c > 0x7e || c == '\\')
			return dns_name_bad(err, name, "bad character");
		if (++label > DNS_LABEL_MAX)
			return dns_name_bad(err, name,
			    "label longer than 63 characters");
	}
	if (label == 0)
		return dns_name_bad(err, name, "empty label");
	return 0;
}

static bool
dns_is_host_char(unsigned char c)
{
	return is_ascii_alnum(c) || c == '-' || c == '_';
}

bool
dns_is_host_name(const char *name, size_t len)
{
	size_t i, label = 0;

	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!dns_is_host_char((unsigned char)name[i]) ||
		    ++label > DNS_LABEL_MAX) {
			return false;
		}
	}
	return label != 0;
}

/*
 * dns_addr_reversed - the address part of a reverse name ("4.3.2.1",
 * 32 nibbles), no trailing dot; *v4_r says which tree it belongs in.
 * out is our own buffer (no max).
 */
static int
dns_addr_reversed(const struct sockaddr *sa, struct buf *out, bool *v4_r,
    struct buf *err)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b;
	int i;

	if (sa->sa_family == AF_INET) {
		b = (const unsigned char *)
		    &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
		    &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		b = a6->s6_addr;
		if (!IN6_IS_ADDR_V4MAPPED(a6)) {
			*v4_r = false;
			for (i = 15; i >= 0; i--)
				buf_addf(out, "%c.%c%s", hex[b[i] & 0xf],
				    hex[b[i] >> 4], i > 0 ? "." : "");
			return 0;
		}
		b += 12;
	} else {
		buf_addf(err, "no reverse DNS name for address family %d",
		    sa->sa_family);
		return -1;
	}
	*v4_r = true;
	buf_addf(out, "%u.%u.%u.%u", b[3], b[2], b[1], b[0]);
	return 0;
}

/* append rev "." tail to out, which may have a max of the caller's */
static int
dns_join(struct buf *out, const struct buf *rev, const char *tail,
    size_t tail_len, struct buf *err)
{
	size_t start = out->len;

	if (rev->len > DNS_NAME_MAX - 1 ||
	    tail_len > DNS_NAME_MAX - 1 - rev->len) {
		buf_addf(err, "DNS name for %s.%.*s is longer than 253 "
		    "characters", buf_cstr(rev), (int)(tail_len > 64 ? 64 :
		    tail_len), tail);
		return -1;
	}
	if (buf_append(out, rev->data, rev->len) < 0 ||
	    buf_append_byte(out, '.') < 0 ||
	    buf_append(out, tail, tail_len) < 0) {
		buf_truncate(out, start);
		buf_addf(err, "DNS name does not fit in %zu bytes", out->max);
		return -1;
	}
	return 0;
}

int
dns_reverse_name(const struct sockaddr *sa, struct buf *out,
    struct buf *err)
{
	struct buf rev = BUF_INIT(0);
	const char *tail;
	bool v4;
	int rc = -1;

	if (dns_addr_reversed(sa, &rev, &v4, err) == 0) {
		tail = v4 ? "in-addr.arpa" : "ip6.arpa";
		rc = dns_join(out, &rev, tail, strlen(tail), err);
	}
	buf_free(&rev);
	return rc;
}

int
dns_dnsbl_name(const struct sockaddr *sa, const char *zone, struct buf *out,
    struct buf *err)
{
	struct buf rev = BUF_INIT(0);
	size_t zlen;
	bool v4;
	int rc = -1;

	if (dns_name_check(zone, err) < 0)
		return -1;
	zlen = strlen(zone);
	if (zone[zlen - 1] == '.')
		zlen--;
	if (zlen == 0) {
		buf_add_str(err, "DNSBL zone must not be the root");
		return -1;
	}
	if (dns_addr_reversed(sa, &rev, &v4, err) == 0)
		rc = dns_join(out, &rev, zone, zlen, err);
	buf_free(&rev);
	return rc;
}

int
dns_rdata_name(const unsigned char *p, size_t len, size_t *used_r,
    struct buf *out)
{
	size_t start = out->len, off = 0, wire = 0;
	bool root = true;

	for (;;) {
		size_t l, i;

		if (off >= len)
			goto bad;
		l = p[off++];
		if ((l & 0xc0) != 0)	/* pointer or obsolete label type */
			goto bad;
		if (l > 255 - wire - 1)	/* RFC 1035 3.1: 255 octets */
			goto bad;
		wire += l + 1;
		if (l == 0)
			break;
		if (l > len - off)
			goto bad;
		for (i = 0; i < l; i++)
			if (!dns_is_host_char(p[off + i]))
				goto bad;
		if ((!root && buf_append_byte(out, '.') < 0) ||
		    buf_append(out, p + off, l) < 0)
			goto bad;
		off += l;
		root = false;
	}
	if (root && buf_append_byte(out, '.') < 0)
		goto bad;
	if (!root && out->len - start > DNS_NAME_MAX)
		goto bad;
	*used_r = off;
	return 0;
bad:
	buf_truncate(out, start);
	return -1;
}

int
dns_rdata_txt(const unsigned char *p, size_t len, struct buf *out)
{
	size_t start = out->len, off = 0, l;

	if (len == 0)		/* at least one (maybe empty) string */
		return -1;
	while (off < len) {
		l = p[off++];
		if (l > len - off || buf_append(out, p + off, l) < 0) {
			buf_truncate(out, start);
			return -1;
		}
		off += l;
	}
	return 0;
}

int
dns_rdata_mx(const unsigned char *p, size_t len, unsigned *pref_r,
    struct buf *host)
{
	size_t start = host->len, used;

	if (len < 3)
		return -1;
	if (dns_rdata_name(p + 2, len - 2, &used, host) < 0)
		return -1;
	if (used != len - 2) {
		buf_truncate(host, start);
		return -1;
	}
	*pref_r = (unsigned)p[0] << 8 | p[1];
	return 0;
}

int
dns_rdata_tlsa(const unsigned char *p, size_t len, struct dns_tlsa *t)
{
	if (len < 4)		/* usage, selector, type, >= 1 octet */
		return -1;
	t->usage = p[0];
	t->selector = p[1];
	t->mtype = p[2];
	t->data = p + 3;
	t->len = len - 3;
	return 0;
}

/* ---- raw records into the typed arrays of a result ---- */

size_t
dns_parse_txt(struct dns_result *r, size_t txt_max)
{
	size_t i, used = 0;

	for (i = 0; i < r->ntxt; i++)
		used += r->txt[i].len;
	r->txt = xreallocarray(r->txt, r->ntxt + r->nrr + 1, sizeof(*r->txt));
	for (i = 0; i < r->nrr; i++) {
		struct buf t = BUF_INIT(0);

		if (r->rr[i].type != DNS_T_TXT)
			continue;
		if (dns_rdata_txt(r->rr[i].data, r->rr[i].len, &t) < 0) {
			r->malformed++;
			buf_free(&t);	/* it may hold the strings before */
			continue;
		}
		if (used > txt_max || t.len > txt_max - used) {
			/* dropped whole: half a DKIM key is worse than none */
			r->truncated = true;
			buf_free(&t);
			continue;
		}
		used += t.len;
		r->txt[r->ntxt].text = buf_steal(&t, &r->txt[r->ntxt].len);
		r->ntxt++;
	}
	return r->ntxt;
}

size_t
dns_parse_mx(struct dns_result *r)
{
	size_t i, j, nnull = 0;

	r->mx = xreallocarray(r->mx, r->nmx + r->nrr + 1, sizeof(*r->mx));
	for (i = 0; i < r->nrr; i++) {
		struct buf host = BUF_INIT(0);
		struct dns_mx mx;

		if (r->rr[i].type != DNS_T_MX)
			continue;
		if (dns_rdata_mx(r->rr[i].data, r->rr[i].len, &mx.pref,
		    &host) < 0) {
			r->malformed++;
			buf_free(&host);
			continue;
		}
		if (strcmp(buf_cstr(&host), ".") == 0) {
			if (mx.pref == 0)
				nnull++;
			else
				r->malformed++;
			buf_free(&host);
			continue;
		}
		mx.host = buf_steal(&host, NULL);
		/* stable insertion by preference: answer order among equals */
		for (j = r->nmx; j > 0 && r->mx[j - 1].pref > mx.pref; j--)
			r->mx[j] = r->mx[j - 1];
		r->mx[j] = mx;
		r->nmx++;
	}
	if (r->nmx == 0 && nnull == 1)
		r->null_mx = true;
	else
		r->malformed += (unsigned)nnull; /* "." beside real MXs */
	return r->nmx;
}

size_t
dns_parse_ptr(struct dns_result *r)
{
	size_t i, used;

	r->name = xreallocarray(r->name, r->nname + r->nrr + 1,
	    sizeof(*r->name));
	for (i = 0; i < r->nrr; i++) {
		struct buf host = BUF_INIT(0);

		if (r->rr[i].type != DNS_T_PTR)
			continue;
		if (dns_rdata_name(r->rr[i].data, r->rr[i].len, &used,
		    &host) < 0 || used != r->rr[i].len ||
		    strcmp(buf_cstr(&host), ".") == 0) {
			r->malformed++;
			buf_free(&host);
			continue;
		}
		r->name[r->nname++] = buf_steal(&host, NULL);
	}
	return r->nname;
}

size_t
dns_parse_addrs(struct dns_result *r)
{
	size_t i;

	r->addr = xreallocarray(r->addr, r->naddr + r->nrr + 1,
	    sizeof(*r->addr));
	for (i = 0; i < r->nrr; i++) {
		const struct dns_rr *rr = &r->rr[i];
		struct netaddr *a = &r->addr[r->naddr];

		memset(a, 0, sizeof(*a));
		if (rr->type == DNS_T_A && rr->len == 4) {
			struct sockaddr_in *s4 = (void *)&a->ss;

			s4->sin_family = AF_INET;
			memcpy(&s4->sin_addr, rr->data, 4);
			a->len = sizeof(*s4);
		} else if (rr->type == DNS_T_AAAA && rr->len == 16) {
			struct sockaddr_in6 *s6 = (void *)&a->ss;

			s6->sin6_family = AF_INET6;
			memcpy(&s6->sin6_addr, rr->data, 16);
			a->len = sizeof(*s6);
		} else {
			if (rr->type == DNS_T_A || rr->type == DNS_T_AAAA)
				r->malformed++;
			continue;
		}
		r->naddr++;
	}
	return r->naddr;
}
