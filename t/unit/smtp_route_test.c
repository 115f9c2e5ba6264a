/*
 * smtp_route_test.c - mta/smtp_route.c against a real DNS server
 * (dnsmasq on loopback, t/unit/dns_fixture.h): MX preference order,
 * equal preferences shuffled (by an injected random function, and by
 * OpenSSL), the implicit MX, null MX, NXDOMAIN, a SERVFAIL on the wire, a
 * timeout, MX hosts without addresses (permanent, temporary, mixed), a
 * host listed twice and addresses shared by two hosts, IP-literal and
 * CNAME MX targets, IPv6 and IPv4 in each order and alone, the host and
 * address limits, address literal domains, relays with and without
 * brackets (and their failures: always temporary), the per-domain hook,
 * loops to ourselves by name and by address.  The next-hop syntax is a
 * pure table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/dns.h"
#include "common/netaddr.h"
#include "mta/smtp_route.h"
#include "dns_fixture.h"

/* an MX whose target is "192.0.2.1" (pref 10), and "v4.test" (pref 20) */
#define IPLIT_MX "000A0331393201300132013100"
#define V4_MX_20 "0014027634047465737400"

static const char records[] =
	"mx-host=pref.test,b.pref.test,20\n"
	"mx-host=pref.test,a.pref.test,10\n"
	"mx-host=pref.test,c.pref.test,30\n"
	"host-record=a.pref.test,192.0.2.10\n"
	"host-record=b.pref.test,192.0.2.20\n"
	"host-record=c.pref.test,192.0.2.30\n"
	"cname=cdomain.test,pref.test\n"
	"mx-host=eq.test,e2.test,10\n"
	"mx-host=eq.test,f.test,20\n"
	"mx-host=eq.test,e1.test,10\n"
	"mx-host=eq.test,e3.test,10\n"
	"host-record=e1.test,192.0.2.41\n"
	"host-record=e2.test,192.0.2.42\n"
	"host-record=e3.test,192.0.2.43\n"
	"host-record=f.test,192.0.2.44\n"
	"host-record=implicit.test,192.0.2.50,2001:db8::50\n"
	"txt-record=nomail.test,\"no MX, no address\"\n"
	"dns-rr=nullmx.test,15,000000\n"
	"host-record=nullmx.test,192.0.2.51\n"
	"host-record=v4.test,192.0.2.2\n"
	"mx-host=noaddr.test,gone.test,10\n"
	"mx-host=noaddr.test,v4.test,20\n"
	"mx-host=deadmx.test,gone.test,10\n"
	"mx-host=deadmx.test,gone2.test,20\n"
	"mx-host=tempmx.test,mx." DNSFIX_SERVFAIL_ZONE ",10\n"
	"mx-host=tempmix.test,mx." DNSFIX_SERVFAIL_ZONE ",10\n"
	"mx-host=tempmix.test,v4.test,20\n"
	"mx-host=tempperm.test,mx." DNSFIX_SERVFAIL_ZONE ",10\n"
	"mx-host=tempperm.test,gone.test,20\n"
	"mx-host=slowmx.test,mx." DNSFIX_TIMEOUT_ZONE ",10\n"
	"mx-host=slowmx.test,v4.test,20\n"
	"host-record=h.test,192.0.2.3,2001:db8::3\n"
	"host-record=h.test,192.0.2.1,2001:db8::1\n"
	"mx-host=dual.test,h.test,10\n"
	"host-record=h2.test,192.0.2.1,192.0.2.4\n"
	"mx-host=dup.test,h.test,10\n"
	"mx-host=dup.test,h2.test,20\n"
	"mx-host=twice.test,v4.test,10\n"
	"mx-host=twice.test,v4.test,20\n"
	"dns-rr=iplit.test,15," IPLIT_MX "\n"
	"dns-rr=iplit2.test,15," IPLIT_MX "\n"
	"dns-rr=iplit2.test,15," V4_MX_20 "\n"
	"mx-host=cnamemx.test,alias.test,10\n"
	"cname=alias.test,v4.test\n"
	"host-record=me.test,192.0.2.98\n"
	"host-record=other.test,192.0.2.97\n"
	"host-record=third.test,192.0.2.96\n"
	"host-record=myaddr.test,192.0.2.99\n"
	"mx-host=loop1.test,me.test,10\n"
	"mx-host=loop1.test,other.test,20\n"
	"mx-host=loop2.test,other.test,10\n"
	"mx-host=loop2.test,me.test,20\n"
	"mx-host=loop2.test,third.test,30\n"
	"mx-host=loop3.test,other.test,10\n"
	"mx-host=loop3.test,myaddr.test,20\n"
	"mx-host=loop3.test,third.test,30\n"
	"mx-host=loop4.test,myaddr.test,10\n"
	"mx-host=loop4.test,other.test,20\n"
	"mx-host=loop5.test,me.test,10\n"
	"mx-host=loop5.test,other.test,10\n"
	"mx-host=loop5.test,third.test,20\n"
	"host-record=relay.test,192.0.2.200,2001:db8::200\n"
	"mx-host=relaymx.test,v4.test,10\n"
	"host-record=relaymx.test,192.0.2.201\n";

static struct dnsfix fx;
static struct dns *dns;		/* 2 s timeout */
static struct dns *fast;	/* 300 ms timeout: the timeout cases */

static const char *const self_names[] = { "ME.test." };
static struct netaddr self_addrs[1];

static struct dns *
mkdns(unsigned timeout_ms)
{
	const char *fw[1] = { fx.fwd };
	struct dns_options o;
	struct buf err = BUF_INIT(0);
	struct dns *d;

	memset(&o, 0, sizeof(o));
	o.forwarders = fw;
	o.nforwarders = 1;
	o.timeout_ms = timeout_ms;
	o.forward_special_zones = true;
	if (dns_new(&o, &d, &err) < 0)
		fail_msg("dns_new: %s", buf_cstr(&err));
	buf_free(&err);
	return d;
}

static int
group_setup(void **state)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&self_addrs[0].ss;

	(void)state;
	if (dnsfix_start(&fx, records) < 0)
		return -1;
	dns = mkdns(2000);
	fast = mkdns(300);
	sin->sin_family = AF_INET;
	sin->sin_port = htons(2525);	/* the port does not matter */
	inet_pton(AF_INET, "192.0.2.99", &sin->sin_addr);
	self_addrs[0].len = sizeof(*sin);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	dns_free(&dns);
	dns_free(&fast);
	dnsfix_stop(&fx);
	return 0;
}

static uint32_t
rng_max(void *arg)
{
	(void)arg;
	return UINT32_MAX;
}

static uint32_t
rng_zero(void *arg)
{
	(void)arg;
	return 0;
}

static uint32_t
rng_seq(void *arg)
{
	uint32_t *n = arg;

	return ++*n;
}

/* "name/pref=ip,ip name/pref*=ip" (* for the implicit MX) */
static void
describe(const struct smtp_route *r, struct buf *d)
{
	char ip[NETADDR_STRLEN];

	for (size_t i = 0; i < r->nhost; i++) {
		const struct smtp_route_host *h = &r->host[i];

		assert_true(h->naddr > 0);
		buf_addf(d, "%s%s/%u%s=", i > 0 ? " " : "", h->name, h->pref,
		    h->implicit ? "*" : "");
		for (size_t j = 0; j < h->naddr; j++) {
			netaddr_ip((const struct sockaddr *)&h->addr[j].ss, ip);
			buf_addf(d, "%s%s", j > 0 ? "," : "", ip);
		}
	}
}

static bool
all_ports(const struct smtp_route *r, unsigned port)
{
	for (size_t i = 0; i < r->nhost; i++)
		for (size_t j = 0; j < r->host[i].naddr; j++)
			if (netaddr_port((const struct sockaddr *)
			    &r->host[i].addr[j].ss) != port)
				return false;
	return true;
}

struct rcase {
	const char *name, *domain;
	const char *relay;
	enum smtp_route_family family;
	unsigned max_hosts, max_addrs, port;
	bool self, allow_self, slow;
	/* OK: want is the description; else dsn and part of the error */
	enum smtp_route_status status;
	const char *dsn, *want;
	bool some_temporary;
};

#define OK(n, d, w) { .name = n, .domain = d, .want = w, .self = true, \
	.status = SMTP_ROUTE_OK, .dsn = "2.0.0" }
#define PERM(n, d, e, w) { .name = n, .domain = d, .want = w, .self = true, \
	.status = SMTP_ROUTE_PERMFAIL, .dsn = e }
#define TEMP(n, d, e, w) { .name = n, .domain = d, .want = w, .self = true, \
	.status = SMTP_ROUTE_TEMPFAIL, .dsn = e }
#define H "h.test/10=2001:db8::1,2001:db8::3,192.0.2.1,192.0.2.3"
#define PREF "a.pref.test/10=192.0.2.10 b.pref.test/20=192.0.2.20 " \
	"c.pref.test/30=192.0.2.30"

static const struct rcase rcases[] = {
	/* preference order; equal preferences as rng_max orders them */
	OK("preference order", "pref.test", PREF),
	OK("domain is a CNAME", "cdomain.test", PREF),
	OK("trailing dot", "pref.test.", PREF),
	OK("equal preferences", "eq.test", "e3.test/10=192.0.2.43 "
	    "e2.test/10=192.0.2.42 e1.test/10=192.0.2.41 "
	    "f.test/20=192.0.2.44"),
	{ .name = "other port", .domain = "pref.test", .port = 2525,
	    .status = SMTP_ROUTE_OK, .dsn = "2.0.0", .want = PREF },

	/* no MX, null MX, names that do not exist, DNS failures */
	OK("implicit MX", "implicit.test",
	    "implicit.test/0*=2001:db8::50,192.0.2.50"),
	OK("implicit MX, trailing dot", "implicit.test.",
	    "implicit.test/0*=2001:db8::50,192.0.2.50"),
	PERM("no MX, no address", "nomail.test", "5.4.4",
	    "no MX and no address for nomail.test: nomail.test: no address"),
	PERM("null MX", "nullmx.test", "5.1.10",
	    "domain nullmx.test does not accept mail (null MX)"),
	PERM("NXDOMAIN", "nx.test", "5.1.2",
	    "domain nx.test not found (NXDOMAIN)"),
	PERM("bad name", "a..b.test", "5.1.2", "bad domain name: "),
	PERM("empty name", "", "5.1.2", "bad domain name: "),
	TEMP("SERVFAIL", "x." DNSFIX_SERVFAIL_ZONE, "4.4.3",
	    "cannot find the mail servers of x.servfail.test, will retry: "
	    "x.servfail.test/MX: server failure (SERVFAIL)"),
	{ .name = "timeout", .domain = "x." DNSFIX_TIMEOUT_ZONE, .slow = true,
	    .status = SMTP_ROUTE_TEMPFAIL, .dsn = "4.4.3",
	    .want = "x.timeout.test/MX: timed out after 300 ms" },

	/* MX hosts without addresses */
	OK("MX host without address", "noaddr.test", "v4.test/20=192.0.2.2"),
	PERM("no MX host has an address", "deadmx.test", "5.4.4",
	    "no address for the MX hosts of deadmx.test: gone.test: host not "
	    "found; gone2.test: host not found"),
	TEMP("MX host lookup fails", "tempmx.test", "4.4.3",
	    "no address for the MX hosts of tempmx.test, will retry: "
	    "mx.servfail.test: mx.servfail.test/"),
	{ .name = "MX host lookup fails, another works", .domain =
	    "tempmix.test", .status = SMTP_ROUTE_OK, .dsn = "2.0.0",
	    .want = "v4.test/20=192.0.2.2", .some_temporary = true },
	TEMP("temporary and permanent", "tempperm.test", "4.4.3",
	    "gone.test: host not found"),
	{ .name = "MX host times out, another works", .domain = "slowmx.test",
	    .slow = true, .status = SMTP_ROUTE_OK, .dsn = "2.0.0",
	    .want = "v4.test/20=192.0.2.2", .some_temporary = true },

	/* odd MX sets */
	OK("addresses shared", "dup.test", H " h2.test/20=192.0.2.4"),
	OK("host listed twice", "twice.test", "v4.test/10=192.0.2.2"),
	PERM("IP literal MX", "iplit.test", "5.4.4",
	    "no usable MX host for iplit.test: 192.0.2.1: an MX must name a "
	    "host, not an address"),
	OK("IP literal MX beside a host", "iplit2.test",
	    "v4.test/20=192.0.2.2"),
	OK("MX is a CNAME", "cnamemx.test", "alias.test/10=192.0.2.2"),

	/* families and limits */
	OK("IPv6 first", "dual.test", H),
	{ .name = "IPv4 first", .domain = "dual.test",
	    .family = SMTP_ROUTE_IPV4_FIRST, .status = SMTP_ROUTE_OK,
	    .dsn = "2.0.0",
	    .want = "h.test/10=192.0.2.1,192.0.2.3,2001:db8::1,2001:db8::3" },
	{ .name = "IPv4 only", .domain = "dual.test",
	    .family = SMTP_ROUTE_IPV4_ONLY, .status = SMTP_ROUTE_OK,
	    .dsn = "2.0.0", .want = "h.test/10=192.0.2.1,192.0.2.3" },
	{ .name = "IPv6 only", .domain = "dual.test",
	    .family = SMTP_ROUTE_IPV6_ONLY, .status = SMTP_ROUTE_OK,
	    .dsn = "2.0.0", .want = "h.test/10=2001:db8::1,2001:db8::3" },
	{ .name = "IPv6 only, no IPv6", .domain = "v4.test",
	    .family = SMTP_ROUTE_IPV6_ONLY, .status = SMTP_ROUTE_PERMFAIL,
	    .dsn = "5.4.4", .want = "no MX and no address for v4.test" },
	{ .name = "max addrs in a host", .domain = "dual.test",
	    .max_addrs = 3, .status = SMTP_ROUTE_OK, .dsn = "2.0.0",
	    .want = "h.test/10=2001:db8::1,2001:db8::3,192.0.2.1" },
	{ .name = "max addrs over hosts", .domain = "pref.test",
	    .max_addrs = 2, .status = SMTP_ROUTE_OK, .dsn = "2.0.0",
	    .want = "a.pref.test/10=192.0.2.10 b.pref.test/20=192.0.2.20" },
	{ .name = "max hosts", .domain = "pref.test", .max_hosts = 2,
	    .status = SMTP_ROUTE_OK, .dsn = "2.0.0",
	    .want = "a.pref.test/10=192.0.2.10 b.pref.test/20=192.0.2.20" },
	{ .name = "max hosts counts skipped ones", .domain = "noaddr.test",
	    .max_hosts = 1, .status = SMTP_ROUTE_PERMFAIL, .dsn = "5.4.4",
	    .want = "gone.test: host not found" },

	/* address literals */
	OK("IPv4 literal", "[192.0.2.5]", "[192.0.2.5]/0=192.0.2.5"),
	OK("IPv6 literal", "[IPv6:2001:db8::5]",
	    "[IPv6:2001:db8::5]/0=2001:db8::5"),
	PERM("IPv6 literal without tag", "[2001:db8::5]", "5.1.2",
	    "bad address literal [2001:db8::5]"),
	PERM("bad literal", "[bogus]", "5.1.2", "bad address literal"),
	PERM("unclosed literal", "[192.0.2.5", "5.1.2", "bad address literal"),
	PERM("literal of ours", "[192.0.2.99]", "5.4.6",
	    "mail for [192.0.2.99] loops back to myself"),
	{ .name = "literal of a disabled family", .domain = "[192.0.2.5]",
	    .family = SMTP_ROUTE_IPV6_ONLY, .status = SMTP_ROUTE_PERMFAIL,
	    .dsn = "5.4.4", .want = "address family is not enabled" },

	/* loops: self_names ME.test., self_addrs 192.0.2.99 */
	PERM("we are the best MX", "loop1.test", "5.4.6",
	    "mail for loop1.test loops back to myself"),
	OK("we are a backup MX", "loop2.test", "other.test/10=192.0.2.97"),
	OK("we are a backup MX by address", "loop3.test",
	    "other.test/10=192.0.2.97"),
	PERM("we are the best MX by address", "loop4.test", "5.4.6",
	    "mail for loop4.test loops back to myself"),
	PERM("we share the best preference", "loop5.test", "5.4.6",
	    "loops back to myself"),
	PERM("implicit MX is us", "me.test", "5.4.6",
	    "mail for me.test loops back to myself"),
	PERM("implicit MX is us by address", "myaddr.test", "5.4.6",
	    "mail for myaddr.test loops back to myself"),
	{ .name = "loops allowed", .domain = "loop1.test", .self = true,
	    .allow_self = true, .status = SMTP_ROUTE_OK, .dsn = "2.0.0",
	    .want = "me.test/10=192.0.2.98 other.test/20=192.0.2.97" },
	{ .name = "nobody told us who we are", .domain = "loop4.test",
	    .status = SMTP_ROUTE_OK, .dsn = "2.0.0",
	    .want = "myaddr.test/10=192.0.2.99 other.test/20=192.0.2.97" },

	/* relays: the domain is not looked up */
	{ .name = "relay in brackets", .domain = "nx.test",
	    .relay = "[relay.test]:587", .port = 587, .status = SMTP_ROUTE_OK,
	    .dsn = "2.0.0", .want = "relay.test/0=2001:db8::200,192.0.2.200" },
	{ .name = "relay in brackets, no MX lookup", .domain = "pref.test",
	    .relay = "[relaymx.test]", .status = SMTP_ROUTE_OK,
	    .dsn = "2.0.0", .want = "relaymx.test/0=192.0.2.201" },
	{ .name = "relay by MX", .domain = "pref.test",
	    .relay = "relaymx.test:2525", .port = 2525,
	    .status = SMTP_ROUTE_OK, .dsn = "2.0.0",
	    .want = "v4.test/10=192.0.2.2" },
	{ .name = "relay without MX", .domain = "pref.test",
	    .relay = "relay.test", .status = SMTP_ROUTE_OK, .dsn = "2.0.0",
	    .want = "relay.test/0*=2001:db8::200,192.0.2.200" },
	{ .name = "relay IPv4", .domain = "pref.test",
	    .relay = "[192.0.2.7]:26", .port = 26, .status = SMTP_ROUTE_OK,
	    .dsn = "2.0.0", .want = "192.0.2.7/0=192.0.2.7" },
	{ .name = "relay IPv4, no brackets", .domain = "pref.test",
	    .relay = "192.0.2.8", .status = SMTP_ROUTE_OK, .dsn = "2.0.0",
	    .want = "192.0.2.8/0=192.0.2.8" },
	{ .name = "relay IPv6", .domain = "pref.test",
	    .relay = "[IPv6:2001:db8::7]", .status = SMTP_ROUTE_OK,
	    .dsn = "2.0.0", .want = "2001:db8::7/0=2001:db8::7" },
	{ .name = "relay is us, in brackets", .domain = "pref.test",
	    .relay = "[myaddr.test]", .self = true, .status = SMTP_ROUTE_OK,
	    .dsn = "2.0.0", .want = "myaddr.test/0=192.0.2.99" },
	{ .name = "relay not found", .domain = "pref.test",
	    .relay = "[gone.test]", .status = SMTP_ROUTE_TEMPFAIL,
	    .dsn = "4.4.4",
	    .want = "relay [gone.test]: gone.test: host not found" },
	{ .name = "relay domain not found", .domain = "pref.test",
	    .relay = "gone.test", .status = SMTP_ROUTE_TEMPFAIL,
	    .dsn = "4.1.2",
	    .want = "relay gone.test: domain gone.test not found" },
	{ .name = "relay fails", .domain = "pref.test",
	    .relay = "[x." DNSFIX_SERVFAIL_ZONE "]",
	    .status = SMTP_ROUTE_TEMPFAIL, .dsn = "4.4.3",
	    .want = "relay [x.servfail.test]: x.servfail.test: "
	    "x.servfail.test/" },
	{ .name = "relay with a null MX", .domain = "pref.test",
	    .relay = "nullmx.test", .status = SMTP_ROUTE_TEMPFAIL,
	    .dsn = "4.1.10", .want = "does not accept mail" },
	{ .name = "relay loops", .domain = "pref.test", .self = true,
	    .relay = "loop4.test", .status = SMTP_ROUTE_TEMPFAIL,
	    .dsn = "4.4.6", .want = "relay loop4.test: mail for loop4.test "
	    "loops back to myself" },
	{ .name = "relay syntax", .domain = "pref.test", .relay = "a:b:c",
	    .status = SMTP_ROUTE_TEMPFAIL, .dsn = "4.3.5",
	    .want = "bad relay \"a:b:c\": an IPv6 address needs brackets" },
};

static void
check_route(const struct rcase *c)
{
	struct smtp_route_options o;
	struct smtp_route r;
	struct buf err = BUF_INIT(0), d = BUF_INIT(0);
	int rc;

	memset(&o, 0, sizeof(o));
	o.relay = c->relay;
	o.family = c->family;
	o.max_hosts = c->max_hosts;
	o.max_addrs = c->max_addrs;
	o.port = c->relay == NULL ? c->port : 0;
	o.allow_self = c->allow_self;
	o.random = rng_max;
	if (c->self) {
		o.self_names = self_names;
		o.nself_names = ARRAY_SIZE(self_names);
		o.self_addrs = self_addrs;
		o.nself_addrs = ARRAY_SIZE(self_addrs);
	}
	rc = smtp_route_lookup(c->slow ? fast : dns, c->domain, &o, &r, &err);
	describe(&r, &d);
	if (rc != (c->status == SMTP_ROUTE_OK ? 0 : -1) ||
	    r.status != c->status || strcmp(r.dsn, c->dsn) != 0)
		fail_msg("%s: rc %d status %d dsn %s: %s / %s", c->name, rc,
		    (int)r.status, r.dsn, buf_cstr(&d), buf_cstr(&err));
	if (c->status == SMTP_ROUTE_OK) {
		if (strcmp(buf_cstr(&d), c->want) != 0)
			fail_msg("%s: got %s", c->name, buf_cstr(&d));
		assert_int_equal(err.len, 0);
		assert_true(all_ports(&r, c->port != 0 ? c->port : 25));
	} else {
		assert_int_equal(r.nhost, 0);
		if (strstr(buf_cstr(&err), c->want) == NULL)
			fail_msg("%s: error %s", c->name, buf_cstr(&err));
		assert_null(strchr(buf_cstr(&err), '\n'));
	}
	assert_int_equal(r.some_temporary, c->some_temporary);
	assert_int_equal(r.relay, c->relay != NULL);
	assert_false(r.mx_secure);	/* no trust anchor */
	smtp_route_free(&r);
	smtp_route_free(&r);	/* harmless twice */
	buf_free(&err);
	buf_free(&d);
}

static void
test_routes(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(rcases); i++)
		check_route(&rcases[i]);
}

/* a route's description with these options */
static void
route_of(const char *domain, const struct smtp_route_options *o,
    struct buf *d)
{
	struct smtp_route r;
	struct buf err = BUF_INIT(0);

	buf_reset(d);
	if (smtp_route_lookup(dns, domain, o, &r, &err) < 0)
		fail_msg("%s: %s", domain, buf_cstr(&err));
	describe(&r, d);
	smtp_route_free(&r);
	buf_free(&err);
}

/* the order of equal preferences is the random function's */
static void
test_shuffle(void **state)
{
	struct smtp_route_options o;
	struct buf d = BUF_INIT(0);
	uint32_t n = 0;
	unsigned seen = 0, runs = 0;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.random = rng_zero;
	route_of("eq.test", &o, &d);
	assert_string_equal(buf_cstr(&d), "e2.test/10=192.0.2.42 "
	    "e3.test/10=192.0.2.43 e1.test/10=192.0.2.41 "
	    "f.test/20=192.0.2.44");
	o.random = rng_seq;
	o.random_arg = &n;
	route_of("eq.test", &o, &d);
	assert_string_equal(buf_cstr(&d), "e3.test/10=192.0.2.43 "
	    "e1.test/10=192.0.2.41 e2.test/10=192.0.2.42 "
	    "f.test/20=192.0.2.44");
	assert_int_equal(n, 2);		/* one draw per swap of the group */

	/* addresses of one family too: rng_zero swaps the two */
	o.random = rng_zero;
	route_of("dual.test", &o, &d);
	assert_string_equal(buf_cstr(&d),
	    "h.test/10=2001:db8::3,2001:db8::1,192.0.2.3,192.0.2.1");

	/* OpenSSL: every one of the three comes first at some point, f
	 * never does (a miss has odds of 3 * (2/3)^60, about 1e-10) */
	memset(&o, 0, sizeof(o));
	for (runs = 0; runs < 60; runs++) {
		route_of("eq.test", &o, &d);
		assert_non_null(strstr(buf_cstr(&d), " f.test/20="));
		assert_int_equal(strncmp(buf_cstr(&d), "e", 1), 0);
		seen |= 1u << (buf_cstr(&d)[1] - '1');
	}
	assert_int_equal(seen, 7);
	/* with the defaults (opt NULL) too; IPv6 first */
	route_of("dual.test", NULL, &d);
	assert_int_equal(strncmp(buf_cstr(&d), "h.test/10=2001:db8::", 20),
	    0);
	assert_non_null(strstr(buf_cstr(&d), ",192.0.2."));
	buf_free(&d);
}

/* the per-domain hook: its answer beats the relay; "" is direct */
static const char *
hook(void *arg, const char *domain)
{
	unsigned *calls = arg;

	(*calls)++;
	if (strcmp(domain, "pref.test") == 0)
		return "";
	if (strcmp(domain, "special.test") == 0)
		return "[other.test]:2526";
	return NULL;
}

static void
test_nexthop_hook(void **state)
{
	struct smtp_route_options o;
	struct smtp_route r;
	struct buf d = BUF_INIT(0), err = BUF_INIT(0);
	unsigned calls = 0;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.relay = "[relay.test]";
	o.nexthop = hook;
	o.nexthop_arg = &calls;
	o.random = rng_max;
	assert_int_equal(smtp_route_lookup(dns, "pref.test", &o, &r, &err), 0);
	assert_false(r.relay);
	describe(&r, &d);
	assert_string_equal(buf_cstr(&d), PREF);
	smtp_route_free(&r);

	buf_reset(&d);
	assert_int_equal(smtp_route_lookup(dns, "special.test", &o, &r, &err),
	    0);
	assert_true(r.relay);
	describe(&r, &d);
	assert_string_equal(buf_cstr(&d), "other.test/0=192.0.2.97");
	assert_true(all_ports(&r, 2526));
	smtp_route_free(&r);

	buf_reset(&d);
	assert_int_equal(smtp_route_lookup(dns, "nx.test", &o, &r, &err), 0);
	assert_true(r.relay);
	describe(&r, &d);
	assert_string_equal(buf_cstr(&d),
	    "relay.test/0=2001:db8::200,192.0.2.200");
	smtp_route_free(&r);
	assert_int_equal(calls, 3);
	assert_int_equal(err.len, 0);
	buf_free(&d);
	buf_free(&err);
}

/* ---- pure: next-hop syntax ---- */

static void
test_nexthop_parse(void **state)
{
	static const struct {
		const char *spec, *host;
		unsigned port;
		bool no_mx, is_ip;
	} good[] = {
		{ "mail.example", "mail.example", 0, false, false },
		{ "mail.example:587", "mail.example", 587, false, false },
		{ "mail.example.", "mail.example", 0, false, false },
		{ "[mail.example]", "mail.example", 0, true, false },
		{ "[mail.example]:25", "mail.example", 25, true, false },
		{ "[mail.example.]:65535", "mail.example", 65535, true,
		    false },
		{ "localhost", "localhost", 0, false, false },
		{ "[192.0.2.1]", "192.0.2.1", 0, true, true },
		{ "192.0.2.1:26", "192.0.2.1", 26, true, true },
		{ "[2001:db8::1]:587", "2001:db8::1", 587, true, true },
		{ "[IPv6:2001:db8::1]", "2001:db8::1", 0, true, true },
		{ "[ipv6:::1]:10025", "::1", 10025, true, true },
	};
	static const char *const bad[] = {
		"", "[", "[mail.example", "[mail.example]x", "mail.example:",
		"mail.example:0", "mail.example:65536", "mail.example:x",
		"mail.example:+25", "2001:db8::1", "a b.example", "[]", "[]:25",
		"host:25:26", "[IPv6:192.0.2.1]", "[192.0.2.1]:", "a..b",
		"mail.example:99999999999999999999999",
	};
	struct smtp_route_nexthop nh;
	struct buf err = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		if (smtp_route_nexthop_parse(good[i].spec, &nh, &err) < 0)
			fail_msg("%s: %s", good[i].spec, buf_cstr(&err));
		if (strcmp(nh.host, good[i].host) != 0 ||
		    nh.port != good[i].port || nh.no_mx != good[i].no_mx ||
		    nh.is_ip != good[i].is_ip)
			fail_msg("%s: %s %u %d %d", good[i].spec, nh.host,
			    nh.port, nh.no_mx, nh.is_ip);
		if (nh.is_ip)
			assert_int_equal(netaddr_port((const struct sockaddr *)
			    &nh.addr.ss), 0);
	}
	assert_int_equal(err.len, 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		buf_reset(&err);
		if (smtp_route_nexthop_parse(bad[i], &nh, &err) == 0)
			fail_msg("\"%s\" parsed", bad[i]);
		assert_true(err.len > 0);
		assert_non_null(strstr(buf_cstr(&err), bad[i]));
	}
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_nexthop_parse),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_routes),
		cmocka_unit_test(test_shuffle),
		cmocka_unit_test(test_nexthop_hook),
	};
	int rc;

	rc = cmocka_run_group_tests_name("smtp_route_pure", pure, NULL, NULL);
	rc += cmocka_run_group_tests_name("smtp_route_live", live, group_setup,
	    group_teardown);
	return rc;
}
