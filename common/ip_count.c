/*
 * ip_count.c - connections per client address (ip_count.h).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ip_count.h"
#include "common/netaddr.h"
#include "common/xalloc.h"

#define BUCKETS 1024u

struct ip_count {
	struct ip_count *next;
	unsigned count;
	char ip[NETADDR_STRLEN];
};

static struct ip_count **
bucket(const struct ip_count_table *t, const char *ip)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *ip != '\0'; ip++)
		h = (h ^ (unsigned char)*ip) * 16777619u;
	return &t->buckets[h % t->nbuckets];
}

void
ip_count_init(struct ip_count_table *t)
{
	t->nbuckets = BUCKETS;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
}

void
ip_count_free(struct ip_count_table *t)
{
	for (size_t i = 0; t->buckets != NULL && i < t->nbuckets; i++) {
		struct ip_count *c, *next;

		for (c = t->buckets[i]; c != NULL; c = next) {
			next = c->next;
			free(c);
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = 0;
}

unsigned
ip_count_get(const struct ip_count_table *t, const char *ip)
{
	const struct ip_count *c;

	for (c = *bucket(t, ip); c != NULL; c = c->next)
		if (strcmp(c->ip, ip) == 0)
			return c->count;
	return 0;
}

void
ip_count_add(struct ip_count_table *t, const char *ip)
{
	struct ip_count **pp = bucket(t, ip), *c;

	for (c = *pp; c != NULL && strcmp(c->ip, ip) != 0; c = c->next)
		;
	if (c == NULL) {
		c = xcalloc(1, sizeof(*c));
		(void)snprintf(c->ip, sizeof(c->ip), "%s", ip);
		c->next = *pp;
		*pp = c;
	}
	c->count++;
}

void
ip_count_del(struct ip_count_table *t, const char *ip)
{
	struct ip_count **pp, *c;

	for (pp = bucket(t, ip); (c = *pp) != NULL; pp = &c->next) {
		if (strcmp(c->ip, ip) == 0) {
			if (--c->count == 0) {
				*pp = c->next;
				free(c);
			}
			return;
		}
	}
}
