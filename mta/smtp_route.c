/*
 * smtp_route.c - the route to a recipient domain (contract in
 * smtp_route.h): RFC 5321 5.1 (locating the target host), RFC 7505 (null
 * MX), RFC 3463 codes for what goes wrong.
 *
 * Decisions, and why:
 *   - MX hosts are tried by preference; hosts of equal preference in
 *     random order (5.1: "MUST ... randomize"), drawn from opt->random
 *     (tests) or OpenSSL.  Before the shuffle the group is sorted by name
 *     and addresses by value, so the order is a function of the random
 *     numbers only, never of the order of the DNS answer.
 *   - No MX (NODATA): the domain itself is the one MX, preference 0 (the
 *     implicit MX of 5.1).  A null MX (a lone "0 .") is a permanent
 *     5.1.10.  NXDOMAIN or a name DNS refuses is a permanent 5.1.2;
 *     SERVFAIL and timeouts are a temporary 4.4.3.  A domain that is a
 *     CNAME is followed (5.1 says to), by libunbound.
 *   - An MX host whose address lookup fails is skipped; if no host is
 *     left, the failure is temporary (4.4.3) when any skipped lookup was,
 *     else permanent (5.4.4), as Postfix has it without
 *     smtp_defer_if_no_mx_address_found.  A host listed twice keeps its
 *     best preference; an address already listed for a better host is
 *     not listed again.
 *   - An MX whose target is an IPv4 address written as a name ("10
 *     192.0.2.1") is skipped: an MX names a host (RFC 1035 3.3.9, RFC
 *     5321 5.1), Postfix and Exim refuse such records too.  An MX target
 *     that is a CNAME is followed: RFC 2181 10.3 forbids it, but every
 *     common MTA delivers anyway, and bouncing would punish the sender
 *     for the receiver's zone.
 *   - Address families: IPv6 first, then IPv4, per host (the order of RFC
 *     6724 for global addresses; a host without IPv6 connectivity fails
 *     those connects at once).  Postfix's default is "any" (random); ours
 *     is a setting: IPv4 first, or only one family (then only that
 *     family is asked).
 *   - Loops (Postfix's rule): a host that is us, by name (opt->self_names)
 *     or by any of its addresses (opt->self_addrs), ends the list: only
 *     hosts of a strictly better preference than ours are kept (a peer at
 *     our preference would hand it back).  If none is better, the mail
 *     "loops back to myself", permanent 5.4.6.  The implicit MX counts,
 *     and so does an address literal domain.  opt->allow_self turns this
 *     off.  A bracketed relay ("[host]") is not checked: the postmaster
 *     named it (a content filter on 127.0.0.1:10025 is us by address).
 *   - Relays: "[host]" uses the host's addresses, "host" its MX like a
 *     domain.  Every failure of a relay is temporary (a 5 becomes a 4):
 *     a relay that cannot be found is our configuration's fault.
 *   - Limits: at most max_hosts MX hosts are looked up (skipped ones
 *     count: each costs a lookup), at most max_addrs addresses kept.
 *     XXX a host that is us only by address, past those limits, is not
 *     seen; by name it always is.  Looking up every MX would fix that at
 *     the cost of a lookup per MX.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/xalloc.h"
#include "mta/smtp_route.h"

#define ROUTE_WHY_MAX 3		/* skipped hosts named in the reason */

struct cand {
	const char *name;
	unsigned pref;
	bool implicit;
};

struct route_ctx {
	struct dns *dns;
	const struct smtp_route_options *opt;
	struct smtp_route *r;
	struct buf *err;
	unsigned port;
	size_t max_hosts, max_addrs, naddrs;
	struct buf why;		/* what became of skipped hosts */
	unsigned nwhy;
	bool temp;		/* a skipped host failed temporarily */
};

static uint32_t
route_random(const struct route_ctx *c)
{
	uint32_t v = 0;

	if (c->opt->random != NULL)
		return c->opt->random(c->opt->random_arg);
	if (RAND_bytes((unsigned char *)&v, sizeof(v)) != 1)
		v = 0;		/* sorted order: still a valid route */
	return v;
}

static int PRINTF_LIKE(4, 5)
route_fail(struct route_ctx *c, enum smtp_route_status st, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;

	ASSERT(strlen(dsn) < sizeof(c->r->dsn));
	c->r->status = st;
	memcpy(c->r->dsn, dsn, strlen(dsn) + 1);
	va_start(ap, fmt);
	if (buf_vprintf(c->err, fmt, ap) < 0) {
		/* err is full: the status and dsn still say it */
	}
	va_end(ap);
	return -1;
}

/* names equal without case and one trailing dot */
static bool
same_name(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && ascii_strncasecmp(a, b, la) == 0;
}

static bool
is_self_name(const struct route_ctx *c, const char *name)
{
	if (c->opt->allow_self)
		return false;
	for (size_t i = 0; i < c->opt->nself_names; i++)
		if (same_name(c->opt->self_names[i], name))
			return true;
	return false;
}

static bool
same_addr(const struct netaddr *a, const struct netaddr *b)
{
	unsigned char x[16], y[16];
	size_t n = netaddr_ip_bytes((const struct sockaddr *)&a->ss, x);

	return n != 0 &&
	    n == netaddr_ip_bytes((const struct sockaddr *)&b->ss, y) &&
	    memcmp(x, y, n) == 0;
}

static bool
is_self_addr(const struct route_ctx *c, const struct netaddr *a)
{
	if (c->opt->allow_self)
		return false;
	for (size_t i = 0; i < c->opt->nself_addrs; i++)
		if (same_addr(&c->opt->self_addrs[i], a))
			return true;
	return false;
}

static void
set_port(struct netaddr *a, unsigned port)
{
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port =
		    htons((uint16_t)port);
	else if (a->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a->ss)->sin6_port =
		    htons((uint16_t)port);
}

static bool
family_ok(const struct route_ctx *c, int family)
{
	switch (c->opt->family) {
	case SMTP_ROUTE_IPV4_ONLY:
		return family == AF_INET;
	case SMTP_ROUTE_IPV6_ONLY:
		return family == AF_INET6;
	default:
		return family == AF_INET || family == AF_INET6;
	}
}

/*
 * parse_literal - the inside of an address literal: "192.0.2.1",
 * "IPv6:2001:db8::1" or (next hops only) "2001:db8::1"; port 0
 */
static int
parse_literal(const char *s, size_t len, bool tag_optional,
    struct netaddr *a)
{
	char ip[INET6_ADDRSTRLEN];
	bool v6 = false;

	if (len > 5 && ascii_strncasecmp(s, "IPv6:", 5) == 0) {
		s += 5;
		len -= 5;
		v6 = true;
	} else if (memchr(s, ':', len) != NULL) {
		if (!tag_optional)
			return -1;
		v6 = true;
	}
	if (len == 0 || len >= sizeof(ip))
		return -1;
	memcpy(ip, s, len);
	ip[len] = '\0';
	memset(a, 0, sizeof(*a));
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

		sin6->sin6_family = AF_INET6;
		a->len = sizeof(*sin6);
		return inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;

		sin->sin_family = AF_INET;
		a->len = sizeof(*sin);
		return inet_pton(AF_INET, ip, &sin->sin_addr) == 1 ? 0 : -1;
	}
}

int
smtp_route_nexthop_parse(const char *spec, struct smtp_route_nexthop *nh,
    struct buf *err)
{
	const char *host = spec, *port = NULL, *end;
	size_t hlen;
	uint64_t v;

	memset(nh, 0, sizeof(*nh));
	if (spec[0] == '[') {
		end = strchr(spec, ']');
		if (end == NULL) {
			buf_addf(err, "\"%s\": no closing bracket", spec);
			return -1;
		}
		host = spec + 1;
		hlen = (size_t)(end - host);
		nh->no_mx = true;
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0') {
			buf_addf(err, "\"%s\": junk after \"]\"", spec);
			return -1;
		}
	} else {
		end = strchr(spec, ':');
		if (end != NULL && strchr(end + 1, ':') != NULL) {
			buf_addf(err, "\"%s\": an IPv6 address needs brackets",
			    spec);
			return -1;
		}
		hlen = end != NULL ? (size_t)(end - spec) : strlen(spec);
		if (end != NULL)
			port = end + 1;
	}
	if (port != NULL && (parse_u64(port, strlen(port), 65535, &v) < 0 ||
	    v == 0)) {
		buf_addf(err, "\"%s\": bad port", spec);
		return -1;
	}
	nh->port = port != NULL ? (unsigned)v : 0;
	if (parse_literal(host, hlen, true, &nh->addr) == 0) {
		nh->is_ip = nh->no_mx = true;
		netaddr_ip((const struct sockaddr *)&nh->addr.ss, nh->host);
		return 0;
	}
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (hlen > DNS_NAME_MAX || !dns_is_host_name(host, hlen)) {
		buf_addf(err, "\"%s\": not a host name or address", spec);
		return -1;
	}
	memcpy(nh->host, host, hlen);
	nh->host[hlen] = '\0';
	return 0;
}

void
smtp_route_free(struct smtp_route *r)
{
	for (size_t i = 0; i < r->nhost; i++) {
		free(r->host[i].name);
		free(r->host[i].addr);
	}
	free(r->host);
	memset(r, 0, sizeof(*r));
}

static struct smtp_route_host *
add_host(struct route_ctx *c, const char *name, unsigned pref, bool implicit)
{
	struct smtp_route *r = c->r;
	struct smtp_route_host *h;

	r->host = xreallocarray(r->host, r->nhost + 1, sizeof(*r->host));
	h = &r->host[r->nhost++];
	memset(h, 0, sizeof(*h));
	h->name = xstrdup(name);
	h->pref = pref;
	h->implicit = implicit;
	return h;
}

/* note_skip - why a host gave no address, for the final reason */
static void
note_skip(struct route_ctx *c, const char *name, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

static void
note_skip(struct route_ctx *c, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (c->nwhy++ >= ROUTE_WHY_MAX)
		return;
	buf_addf(&c->why, "%s%s: ", c->why.len > 0 ? "; " : "", name);
	va_start(ap, fmt);
	if (buf_vprintf(&c->why, fmt, ap) < 0)
		PANIC("note_skip: unlimited buffer");
	va_end(ap);
}

static int
addr_rank(const struct netaddr *a, void *arg)
{
	const struct route_ctx *c = arg;
	bool v4_first = c->opt->family == SMTP_ROUTE_IPV4_FIRST;

	return (a->ss.ss_family == AF_INET) != v4_first;
}

static int
addr_cmp(const void *x, const void *y, void *arg)
{
	const struct netaddr *a = x, *b = y;
	unsigned char ia[16], ib[16];
	size_t na, nb;
	int ra = addr_rank(a, arg), rb = addr_rank(b, arg);

	if (ra != rb)
		return ra - rb;
	na = netaddr_ip_bytes((const struct sockaddr *)&a->ss, ia);
	nb = netaddr_ip_bytes((const struct sockaddr *)&b->ss, ib);
	if (na != nb)
		return na < nb ? -1 : 1;
	return memcmp(ia, ib, na);
}

/* family order, then random within each family */
static void
order_addrs(struct route_ctx *c, struct netaddr *a, size_t n)
{
	qsort_r(a, n, sizeof(*a), addr_cmp, c);
	for (size_t i = 0, j; i < n; i = j) {
		for (j = i + 1; j < n && addr_rank(&a[j], c) ==
		    addr_rank(&a[i], c); j++)
			;
		for (size_t k = j - 1; k > i; k--) {
			size_t m = i + route_random(c) % (k - i + 1);
			struct netaddr t = a[k];

			a[k] = a[m];
			a[m] = t;
		}
	}
}

static bool
addr_listed(const struct route_ctx *c, const struct netaddr *a)
{
	for (size_t i = 0; i < c->r->nhost; i++)
		for (size_t j = 0; j < c->r->host[i].naddr; j++)
			if (same_addr(&c->r->host[i].addr[j], a))
				return true;
	return false;
}

/*
 * host_lookup - the addresses of one host, added to the route; -1 when it
 * has none (noted).  *self_r: one of them is ours.
 */
static int
host_lookup(struct route_ctx *c, const struct cand *k, bool *self_r)
{
	int fam = c->opt->family == SMTP_ROUTE_IPV4_ONLY ? AF_INET :
	    c->opt->family == SMTP_ROUTE_IPV6_ONLY ? AF_INET6 : AF_UNSPEC;
	struct buf derr = BUF_INIT(0);
	struct dns_result dr;
	struct smtp_route_host *h;
	struct netaddr *a;
	size_t n = 0;

	*self_r = false;
	if (dns_addrs(c->dns, k->name, fam, &dr, &derr) < 0 ||
	    dr.status != DNS_OK) {
		c->temp |= dns_status_is_temporary(dr.status);
		if (derr.len > 0)
			note_skip(c, k->name, "%s", buf_cstr(&derr));
		else
			note_skip(c, k->name, "%s", dr.status == DNS_NXDOMAIN ?
			    "host not found" : "no address record");
		dns_result_free(&dr);
		buf_free(&derr);
		return -1;
	}
	buf_free(&derr);
	a = xreallocarray(NULL, dr.naddr, sizeof(*a));
	for (size_t i = 0; i < dr.naddr; i++) {
		if (!family_ok(c, dr.addr[i].ss.ss_family))
			continue;
		*self_r |= is_self_addr(c, &dr.addr[i]);
		if (addr_listed(c, &dr.addr[i]))
			continue;	/* a better host has it */
		a[n] = dr.addr[i];
		set_port(&a[n], c->port);
		n++;
	}
	if (n == 0) {
		note_skip(c, k->name, "only addresses of a better host");
		free(a);
		dns_result_free(&dr);
		return -1;
	}
	order_addrs(c, a, n);
	if (n > c->max_addrs - c->naddrs)
		n = c->max_addrs - c->naddrs;
	h = add_host(c, k->name, k->pref, k->implicit);
	h->secure = dr.secure;
	h->addr = a;
	h->naddr = n;
	c->naddrs += n;
	dns_result_free(&dr);
	return 0;
}

static int
cand_cmp(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;
	size_t la = strlen(a->name), lb = strlen(b->name);
	int d;

	if (a->pref != b->pref)
		return a->pref < b->pref ? -1 : 1;
	d = ascii_strncasecmp(a->name, b->name, la < lb ? la : lb);
	return d != 0 ? d : (la > lb) - (la < lb);
}

/* drop the hosts at or past our own preference */
static void
drop_from(struct route_ctx *c, unsigned self_pref)
{
	struct smtp_route *r = c->r;
	size_t keep = 0;

	for (size_t i = 0; i < r->nhost; i++) {
		if (r->host[i].pref < self_pref) {
			r->host[keep++] = r->host[i];
			continue;
		}
		c->naddrs -= r->host[i].naddr;
		free(r->host[i].name);
		free(r->host[i].addr);
	}
	r->nhost = keep;
}

/*
 * route_cands - look up the candidates k[0..n) (sorted by preference)
 * in turn, within the limits, stopping at a host that is us
 */
static int
route_cands(struct route_ctx *c, const char *domain, struct cand *k,
    size_t n)
{
	unsigned self_pref = UINT32_MAX;
	size_t looked = 0, i, j, better = 0;
	bool self;

	for (i = 0; i < n; i = j) {	/* shuffle equal preferences */
		for (j = i + 1; j < n && k[j].pref == k[i].pref; j++)
			;
		for (size_t x = j - 1; x > i; x--) {
			size_t m = i + route_random(c) % (x - i + 1);
			struct cand t = k[x];

			k[x] = k[m];
			k[m] = t;
		}
	}
	for (i = 0; i < n; i++)
		if (is_self_name(c, k[i].name) && k[i].pref < self_pref)
			self_pref = k[i].pref;
	for (i = 0; i < n && k[i].pref < self_pref && looked < c->max_hosts &&
	    c->naddrs < c->max_addrs; i++) {
		looked++;
		(void)host_lookup(c, &k[i], &self);	/* skips are noted */
		if (self)
			self_pref = k[i].pref;	/* later: no better */
	}
	drop_from(c, self_pref);
	for (i = 0; i < n; i++)
		better += k[i].pref < self_pref;
	if (better == 0)
		return route_fail(c, SMTP_ROUTE_PERMFAIL, "5.4.6",
		    "mail for %s loops back to myself", domain);
	if (c->r->nhost > 0) {
		c->r->some_temporary = c->temp;
		return 0;
	}
	if (n == 1 && k[0].implicit)
		return route_fail(c, c->temp ? SMTP_ROUTE_TEMPFAIL :
		    SMTP_ROUTE_PERMFAIL, c->temp ? "4.4.3" : "5.4.4",
		    "no MX and no address for %s%s: %s", domain,
		    c->temp ? ", will retry" : "", buf_cstr(&c->why));
	return route_fail(c, c->temp ? SMTP_ROUTE_TEMPFAIL :
	    SMTP_ROUTE_PERMFAIL, c->temp ? "4.4.3" : "5.4.4",
	    "no address for the MX hosts of %s%s: %s%s", domain,
	    c->temp ? ", will retry" : "", buf_cstr(&c->why),
	    c->nwhy > ROUTE_WHY_MAX ? "; ..." : "");
}

/* route_mx - the MX hosts of name, or name itself when it has none */
static int
route_mx(struct route_ctx *c, const char *name)
{
	struct buf derr = BUF_INIT(0);
	struct dns_result mx;
	struct cand *k;
	size_t n = 0;
	int rc;

	if (dns_mx(c->dns, name, &mx, &derr) < 0 || mx.status != DNS_OK) {
		if (mx.status == DNS_NODATA) {
			struct cand self = { name, 0, true };

			dns_result_free(&mx);
			buf_free(&derr);
			return route_cands(c, name, &self, 1);
		}
		if (mx.status == DNS_NXDOMAIN)
			rc = route_fail(c, SMTP_ROUTE_PERMFAIL, "5.1.2",
			    "domain %s not found (NXDOMAIN)", name);
		else if (mx.status == DNS_ERROR)
			rc = route_fail(c, SMTP_ROUTE_PERMFAIL, "5.1.2",
			    "bad domain name: %s", buf_cstr(&derr));
		else
			rc = route_fail(c, SMTP_ROUTE_TEMPFAIL, "4.4.3",
			    "cannot find the mail servers of %s, will retry: "
			    "%s", name, buf_cstr(&derr));
		dns_result_free(&mx);
		buf_free(&derr);
		return rc;
	}
	buf_free(&derr);
	c->r->mx_secure = mx.secure;
	if (mx.null_mx) {
		dns_result_free(&mx);
		return route_fail(c, SMTP_ROUTE_PERMFAIL, "5.1.10",
		    "domain %s does not accept mail (null MX)", name);
	}
	k = xcalloc(mx.nmx, sizeof(*k));
	for (size_t i = 0; i < mx.nmx; i++) {
		struct in_addr ip;
		bool dup = false;

		if (inet_pton(AF_INET, mx.mx[i].host, &ip) == 1) {
			note_skip(c, mx.mx[i].host, "an MX must name a host, "
			    "not an address");
			continue;
		}
		/* mx is sorted: a repeated host keeps its best preference */
		for (size_t j = 0; j < n && !dup; j++)
			dup = same_name(k[j].name, mx.mx[i].host);
		if (!dup) {
			k[n].name = mx.mx[i].host;
			k[n++].pref = mx.mx[i].pref;
		}
	}
	qsort(k, n, sizeof(*k), cand_cmp);
	if (n == 0)
		rc = route_fail(c, SMTP_ROUTE_PERMFAIL, "5.4.4",
		    "no usable MX host for %s: %s", name, buf_cstr(&c->why));
	else
		rc = route_cands(c, name, k, n);
	free(k);
	dns_result_free(&mx);
	return rc;
}

/* route_literal - one address, no DNS */
static int
route_literal(struct route_ctx *c, const struct netaddr *a, const char *text)
{
	struct smtp_route_host *h;

	if (!family_ok(c, a->ss.ss_family))
		return route_fail(c, SMTP_ROUTE_PERMFAIL, "5.4.4",
		    "no route to %s: its address family is not enabled",
		    text);
	h = add_host(c, text, 0, false);
	h->addr = xmalloc(sizeof(*h->addr));
	h->addr[0] = *a;
	set_port(&h->addr[0], c->port);
	h->naddr = 1;
	return 0;
}

static int
route_nexthop(struct route_ctx *c, const char *spec)
{
	struct buf *err = c->err, why = BUF_INIT(0);
	struct smtp_route_nexthop nh;
	int rc;

	c->r->relay = true;
	if (smtp_route_nexthop_parse(spec, &nh, &why) < 0) {
		c->r->status = SMTP_ROUTE_TEMPFAIL;
		memcpy(c->r->dsn, "4.3.5", 6);	/* system misconfigured */
		buf_addf(err, "bad relay %s", buf_cstr(&why));
		buf_free(&why);
		return -1;
	}
	c->err = &why;
	if (nh.port != 0)
		c->port = nh.port;
	if (nh.is_ip) {
		rc = route_literal(c, &nh.addr, nh.host);
	} else if (nh.no_mx) {
		struct cand k = { nh.host, 0, false };
		bool self;

		if ((rc = host_lookup(c, &k, &self)) < 0)
			rc = route_fail(c, c->temp ? SMTP_ROUTE_TEMPFAIL :
			    SMTP_ROUTE_PERMFAIL, c->temp ? "4.4.3" : "5.4.4",
			    "%s", buf_cstr(&c->why));
	} else {
		rc = route_mx(c, nh.host);
	}
	c->err = err;
	if (rc < 0) {
		/* our configuration, not the recipient's fault: retry */
		c->r->status = SMTP_ROUTE_TEMPFAIL;
		c->r->dsn[0] = '4';
		buf_addf(err, "relay %s: %s", spec, buf_cstr(&why));
	}
	buf_free(&why);
	return rc;
}

static int
route_domain(struct route_ctx *c, const char *domain)
{
	size_t len = strlen(domain);
	struct netaddr a;
	char *name;
	int rc;

	if (len > 0 && domain[0] == '[') {
		if (len < 3 || domain[len - 1] != ']' ||
		    parse_literal(domain + 1, len - 2, false, &a) < 0)
			return route_fail(c, SMTP_ROUTE_PERMFAIL, "5.1.2",
			    "bad address literal %s", domain);
		if (is_self_addr(c, &a))
			return route_fail(c, SMTP_ROUTE_PERMFAIL, "5.4.6",
			    "mail for %s loops back to myself", domain);
		return route_literal(c, &a, domain);
	}
	name = xstrdup(domain);
	if (len > 1 && name[len - 1] == '.')
		name[len - 1] = '\0';
	rc = route_mx(c, name);
	free(name);
	return rc;
}

int
smtp_route_lookup(struct dns *dns, const char *domain,
    const struct smtp_route_options *opt, struct smtp_route *r,
    struct buf *err)
{
	static const struct smtp_route_options defaults;
	struct route_ctx c;
	const char *spec;
	int rc;

	memset(r, 0, sizeof(*r));
	if (opt == NULL)
		opt = &defaults;
	memset(&c, 0, sizeof(c));
	c.dns = dns;
	c.opt = opt;
	c.r = r;
	c.err = err;
	buf_init(&c.why, 0);
	c.port = opt->port != 0 ? opt->port : SMTP_ROUTE_PORT;
	c.max_hosts = opt->max_hosts == 0 ? SMTP_ROUTE_HOSTS_DEFAULT :
	    opt->max_hosts > SMTP_ROUTE_HOSTS_LIMIT ? SMTP_ROUTE_HOSTS_LIMIT :
	    opt->max_hosts;
	c.max_addrs = opt->max_addrs == 0 ? SMTP_ROUTE_ADDRS_DEFAULT :
	    opt->max_addrs > SMTP_ROUTE_ADDRS_LIMIT ? SMTP_ROUTE_ADDRS_LIMIT :
	    opt->max_addrs;

	spec = opt->nexthop != NULL ? opt->nexthop(opt->nexthop_arg, domain) :
	    NULL;
	if (spec == NULL)
		spec = opt->relay;
	if (spec != NULL && spec[0] != '\0')
		rc = route_nexthop(&c, spec);
	else
		rc = route_domain(&c, domain);
	buf_free(&c.why);
	if (rc == 0) {
		r->status = SMTP_ROUTE_OK;
		memcpy(r->dsn, "2.0.0", 6);
	}
	return rc;
}
