/*
 * ip_count.h - connections per client address, for the listeners'
 * max_connections_per_ip (SMTP, IMAP).  A hash table of the addresses
 * with at least one connection; an address leaves it with its last one.
 * No lock of its own: the caller holds the one that also guards its
 * session list and total.
 */
#ifndef POSTERN_IP_COUNT_H
#define POSTERN_IP_COUNT_H

#include <stddef.h>

struct ip_count_table {
	struct ip_count **buckets;
	size_t nbuckets;
};

void ip_count_init(struct ip_count_table *t);
void ip_count_free(struct ip_count_table *t);
/* ip_count_get - the connections of ip now */
unsigned ip_count_get(const struct ip_count_table *t, const char *ip);
/* ip_count_add - one more for ip (a NUL-terminated address string) */
void ip_count_add(struct ip_count_table *t, const char *ip);
/* ip_count_del - one less for ip; nothing when it has none */
void ip_count_del(struct ip_count_table *t, const char *ip);

#endif
