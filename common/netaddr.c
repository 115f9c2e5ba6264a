/*
 * netaddr.c - socket addresses: parsing listen specs, printing IPs (see
 * netaddr.h).
 *
 * A listen spec is "IPv4:port" or "[IPv6]:port", numeric only: a name
 * would need DNS at start-up, and a name that resolves to several
 * addresses makes "which socket did we bind" a guess.  IPv6 needs the
 * brackets (RFC 3986 section 3.2.2 style) so the port is never ambiguous;
 * zone ids ("fe80::1%eth0") are not supported, inet_pton(3) rejects them.
 * IPv4 text is whatever inet_pton(3) accepts: exactly four decimal parts,
 * no leading zeros, so "010.0.0.1" cannot mean octal to one tool and
 * decimal to another.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/un.h>

#include "netaddr.h"

/* longest host part we try: an IPv6 address in full (45) plus slack */
#define NETADDR_HOST_MAX 63

static int
parse_port(const char *s, in_port_t *port_r, const char **error_r)
{
	uint64_t v;

	if (*s == '\0') {
		*error_r = "missing port after ':'";
		return -1;
	}
	if (parse_u64(s, strlen(s), 65535, &v) < 0 || v == 0) {
		*error_r = "bad port (expected a number 1..65535)";
		return -1;
	}
	*port_r = htons((uint16_t)v);
	return 0;
}

int
netaddr_parse_listen(const char *s, struct netaddr *r, const char **error_r)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&r->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r->ss;
	char host[NETADDR_HOST_MAX + 1];
	const char *end, *colon;
	in_port_t port;
	size_t n;

	memset(r, 0, sizeof(*r));
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&r->ss;

		n = strlen(s + 5);
		if (s[5] != '/') {
			*error_r = "a UNIX socket path must be absolute "
			    "(\"unix:/path\")";
			return -1;
		}
		if (n >= sizeof(sun->sun_path)) {
			*error_r = "UNIX socket path too long";
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, s + 5, n + 1);
		r->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    n + 1);
		return 0;
	}
	if (*s == '[') {
		end = strchr(s + 1, ']');
		if (end == NULL) {
			*error_r = "missing ']' after IPv6 address";
			return -1;
		}
		n = (size_t)(end - (s + 1));
		if (n == 0 || n > NETADDR_HOST_MAX) {
			*error_r = "bad IPv6 address";
			return -1;
		}
		if (end[1] != ':') {
			*error_r = end[1] == '\0' ? "missing port (\"[IPv6]:port\")" :
			    "junk after ']' (expected \":port\")";
			return -1;
		}
		memcpy(host, s + 1, n);
		host[n] = '\0';
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*error_r = "bad IPv6 address";
			return -1;
		}
		if (parse_port(end + 2, &port, error_r) < 0)
			return -1;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = port;
		r->len = sizeof(*sin6);
		return 0;
	}

	colon = strchr(s, ':');
	if (colon == NULL) {
		*error_r = *s == '\0' ? "empty address" :
		    "missing port (\"IPv4:port\" or \"[IPv6]:port\")";
		return -1;
	}
	if (strchr(colon + 1, ':') != NULL) {
		*error_r = "IPv6 addresses need brackets: \"[IPv6]:port\"";
		return -1;
	}
	n = (size_t)(colon - s);
	if (n == 0 || n > NETADDR_HOST_MAX) {
		*error_r = "bad IPv4 address";
		return -1;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		*error_r = "bad IPv4 address (numeric only, like 192.0.2.1)";
		return -1;
	}
	if (parse_port(colon + 1, &port, error_r) < 0)
		return -1;
	sin->sin_family = AF_INET;
	sin->sin_port = port;
	r->len = sizeof(*sin);
	return 0;
}

void
netaddr_ip(const struct sockaddr *sa, char out[NETADDR_STRLEN])
{
	const char *p = NULL;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		p = inet_ntop(AF_INET, &sin->sin_addr, out, NETADDR_STRLEN);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
		    (const struct sockaddr_in6 *)sa;

		/* a dual-stack socket shows IPv4 peers as ::ffff:a.b.c.d */
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			p = inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], out,
			    NETADDR_STRLEN);
		else
			p = inet_ntop(AF_INET6, &sin6->sin6_addr, out,
			    NETADDR_STRLEN);
	}
	else if (sa->sa_family == AF_UNIX)
		p = memcpy(out, "local", sizeof("local"));
	if (p == NULL)
		memcpy(out, "unknown", sizeof("unknown"));
}

unsigned
netaddr_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

bool
netaddr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

		return (ntohl(sin->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_LOOPBACK(a))
			return true;
		return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
	}
	return sa->sa_family == AF_UNIX;	/* on this machine too */
}

size_t
netaddr_ip_bytes(const struct sockaddr *sa, unsigned char out[16])
{
	if (sa->sa_family == AF_INET) {
		memcpy(out, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a =
		    &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			memcpy(out, a->s6_addr + 12, 4);
			return 4;
		}
		memcpy(out, a->s6_addr, 16);
		return 16;
	}
	return 0;
}

int
netaddr_cidr_parse(const char *s, struct netaddr_cidr *r,
    const char **error_r)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hlen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned max, prefix = 0;

	memset(r, 0, sizeof(*r));
	if (hlen == 0 || hlen >= sizeof(host)) {
		*error_r = "not an address or network";
		return -1;
	}
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, r->addr) == 1) {
		r->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, r->addr) == 1) {
		r->family = AF_INET6;
		max = 128;
	} else {
		*error_r = "not a numeric IPv4 or IPv6 address";
		return -1;
	}
	if (slash == NULL) {
		prefix = max;
	} else {
		const char *p = slash + 1;

		if (*p == '\0') {
			*error_r = "empty prefix length after /";
			return -1;
		}
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9' || prefix > max) {
				*error_r = "bad prefix length";
				return -1;
			}
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > max) {
			*error_r = "prefix length too long for the address";
			return -1;
		}
	}
	r->prefix = prefix;
	/* clear the host bits, so that matching compares whole bytes */
	for (unsigned bit = prefix; bit < max; bit++)
		r->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	return 0;
}

bool
netaddr_cidr_match(const struct netaddr_cidr *c, const struct sockaddr *sa)
{
	unsigned char a[16];
	size_t n = netaddr_ip_bytes(sa, a);
	unsigned full, rest;

	if (n != (c->family == AF_INET ? 4u : 16u) || n == 0)
		return false;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(a, c->addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return (a[full] & (unsigned char)(0xff00u >> rest)) == c->addr[full];
}
