/*
 * smtp_route.h - where the SMTP client delivers mail for a recipient
 * domain: the MX hosts and their addresses in the order to try them
 * (RFC 5321 5.1, RFC 7505), or a configured relay, over common/dns.h.
 *
 * smtp_route_lookup() blocks on DNS (it belongs in a job, never on an I/O
 * thread); it keeps no state between calls and may run on any number of
 * threads at once.  The decisions it makes are written in smtp_route.c's
 * header comment; in brief: MX hosts by preference, equal preferences in
 * random order; no MX: the domain itself; null MX: 5.1.10; NXDOMAIN:
 * 5.1.2; a DNS failure: 4.4.3; MX hosts without addresses skipped; an MX
 * that is an IP address skipped, one that is a CNAME followed; IPv6
 * before IPv4 by default; our own host among the MX hosts: only better
 * ones are tried, and if we are the best, "mail loops back to myself"
 * (5.4.6).  With a relay every failure is temporary: a relay that cannot
 * be found is our configuration's fault, not the recipient's.
 */
#ifndef POSTERN_SMTP_ROUTE_H
#define POSTERN_SMTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/dns.h"
#include "common/netaddr.h"

#define SMTP_ROUTE_PORT		25
#define SMTP_ROUTE_HOSTS_DEFAULT	10	/* MX hosts looked up */
#define SMTP_ROUTE_ADDRS_DEFAULT	20	/* addresses kept, in all */
#define SMTP_ROUTE_HOSTS_LIMIT	100
#define SMTP_ROUTE_ADDRS_LIMIT	1000

/* the order of address families within one host */
enum smtp_route_family {
	SMTP_ROUTE_IPV6_FIRST = 0,	/* the default */
	SMTP_ROUTE_IPV4_FIRST,
	SMTP_ROUTE_IPV6_ONLY,		/* AAAA only is asked */
	SMTP_ROUTE_IPV4_ONLY,		/* A only is asked */
};

/* uniformly distributed 32 bits; called from the lookup's thread */
typedef uint32_t smtp_route_random_fn(void *arg);
/*
 * The per-domain hook (a transport map, later): the next hop for domain,
 * in the syntax of smtp_route_nexthop_parse(); NULL: opt->relay applies;
 * "": direct delivery by MX even if opt->relay is set.  The string need
 * only live until the hook is called again.
 */
typedef const char *smtp_route_nexthop_fn(void *arg, const char *domain);

/* A zeroed struct (or NULL) gives the defaults. */
struct smtp_route_options {
	/* "[host]:port", "[host]", "host:port", "host", "[192.0.2.1]",
	 * "[IPv6:2001:db8::1]:587"; brackets: the host's own addresses, no
	 * MX lookup (Postfix's relayhost).  NULL or "": MX delivery */
	const char *relay;
	smtp_route_nexthop_fn *nexthop;	/* NULL: none */
	void *nexthop_arg;
	unsigned port;		/* 0: 25; when the next hop names none */
	unsigned max_hosts;	/* 0: default; MX hosts whose addresses
				 * are looked up, skipped ones included */
	unsigned max_addrs;	/* 0: default; addresses kept, all hosts */
	enum smtp_route_family family;
	/* who we are, for loop detection: host names (matched without
	 * case and trailing dot) and addresses (the port is ignored) */
	const char *const *self_names;
	size_t nself_names;
	const struct netaddr *self_addrs;
	size_t nself_addrs;
	bool allow_self;	/* no loop detection: we are a host like any
				 * other (tests, a second instance) */
	smtp_route_random_fn *random;	/* NULL: OpenSSL RAND_bytes */
	void *random_arg;
};

enum smtp_route_status {
	SMTP_ROUTE_OK,
	SMTP_ROUTE_TEMPFAIL,	/* defer: 4.x.x */
	SMTP_ROUTE_PERMFAIL,	/* bounce: 5.x.x */
};

struct smtp_route_host {
	char *name;		/* the MX host; the domain for the implicit
				 * MX; the relay; an IP literal as text */
	unsigned pref;		/* MX preference; 0 without an MX */
	bool implicit;		/* no MX: the domain (RFC 5321 5.1) */
	bool secure;		/* its addresses were DNSSEC-validated */
	struct netaddr *addr;	/* >= 1, port set, in the order to try */
	size_t naddr;
};

struct smtp_route {
	enum smtp_route_status status;
	char dsn[8];		/* RFC 3463: "2.0.0" when OK, "5.1.10" */
	struct smtp_route_host *host;	/* in the order to try */
	size_t nhost;
	bool relay;		/* a relay or a hook's next hop was used */
	bool mx_secure;		/* the MX answer was DNSSEC-validated */
	/* a host was skipped after a temporary DNS failure: if the others
	 * refuse the mail, defer rather than bounce */
	bool some_temporary;
};

/*
 * smtp_route_lookup - the route for mail to domain (ASCII or A-label,
 * one trailing dot allowed; or an address literal "[192.0.2.1]",
 * "[IPv6:2001:db8::1]", which is used as it is).  opt may be NULL.
 *
 * Fills *r always (release it with smtp_route_free() whatever the
 * return).  0: status OK, nhost >= 1, every host with >= 1 address.
 * -1: status TEMPFAIL or PERMFAIL, dsn set, nhost == 0, and one line
 * appended to err that suits a DSN's diagnostic and a log line
 * ("domain example.com does not accept mail (null MX)").
 */
int smtp_route_lookup(struct dns *dns, const char *domain,
    const struct smtp_route_options *opt, struct smtp_route *r,
    struct buf *err) WARN_UNUSED;
/* smtp_route_free - r zeroed; harmless twice */
void smtp_route_free(struct smtp_route *r);

struct smtp_route_nexthop {
	char host[DNS_NAME_MAX + 1];	/* no brackets, no trailing dot */
	unsigned port;		/* 0: none given */
	bool no_mx;		/* bracketed, or an IP address */
	bool is_ip;		/* host is an address: addr holds it */
	struct netaddr addr;	/* port 0 */
};

/*
 * smtp_route_nexthop_parse - a relay or next hop (syntax above; an IPv6
 * address needs brackets, with or without the "IPv6:" tag; a port is
 * 1..65535).  Pure; for config checks too.  -1 with a line in err.
 */
int smtp_route_nexthop_parse(const char *spec, struct smtp_route_nexthop *nh,
    struct buf *err) WARN_UNUSED;

#endif
