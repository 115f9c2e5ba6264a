/*
 * netaddr.h - socket addresses: parsing listen specs, printing IPs.
 */
#ifndef POSTERN_NETADDR_H
#define POSTERN_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "common.h"

struct netaddr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/*
 * netaddr_parse_listen - "IPv4:port", "[IPv6]:port" (numeric only, no
 * names, port 1..65535), or "unix:/absolute/path" for a UNIX socket.  -1
 * with *error_r (static text) on bad input.
 */
int netaddr_parse_listen(const char *s, struct netaddr *r,
    const char **error_r) WARN_UNUSED;

/* NETADDR_STRLEN: room for any numeric IP, with brackets and port */
#define NETADDR_STRLEN 64
/* netaddr_ip - numeric IP of sa ("192.0.2.1", "2001:db8::1"); v4-mapped
 * IPv6 addresses are printed as IPv4; "local" for a UNIX socket peer. */
void netaddr_ip(const struct sockaddr *sa, char out[NETADDR_STRLEN]);
/* netaddr_port - port in host order, 0 for non-IP families */
unsigned netaddr_port(const struct sockaddr *sa);
/* netaddr_is_loopback - 127.0.0.0/8, ::1, ::ffff:127.0.0.0/104, and
 * UNIX socket peers (this machine) */
bool netaddr_is_loopback(const struct sockaddr *sa);

/*
 * A network in CIDR form: "192.0.2.0/24", "2001:db8::/32", or a single
 * address ("192.0.2.1" = /32, "::1" = /128).  IPv4-mapped IPv6 peers
 * match IPv4 networks.
 */
struct netaddr_cidr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];		/* network byte order, host bits 0 */
	unsigned prefix;
};

/* netaddr_cidr_parse - -1 with *error_r (static text) on bad input */
int netaddr_cidr_parse(const char *s, struct netaddr_cidr *r,
    const char **error_r) WARN_UNUSED;
/* netaddr_cidr_match - whether sa (IPv4/IPv6) is inside c */
bool netaddr_cidr_match(const struct netaddr_cidr *c,
    const struct sockaddr *sa);
/*
 * netaddr_ip_bytes - the address of sa as 4 (IPv4, also for a v4-mapped
 * IPv6) or 16 bytes; 0 for other families
 */
size_t netaddr_ip_bytes(const struct sockaddr *sa, unsigned char out[16]);

#endif
