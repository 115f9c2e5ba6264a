/*
 * auth_throttle.c - failed-authentication counts per IP and per account
 * (policy in auth_throttle.h).
 *
 * One hash table of records keyed by a kind byte ('i' an IP, 'a' an
 * account) and the name, with a list in order of last use for eviction.
 * The hash is FNV-1a with a random seed per process, so that a client
 * choosing account names cannot aim them all at one chain; chains stay
 * short anyway since the table never holds more than max_entries.
 * Invariants: every record is in exactly one chain and in the use list;
 * n counts them; n <= max_entries after every call.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "auth_throttle.h"
#include "xalloc.h"

#define KIND_IP 'i'
#define KIND_ACCOUNT 'a'

struct entry {
	struct entry *hnext;		/* hash chain */
	struct entry *prev, *next;	/* use list, most recent first */
	uint64_t last_us;		/* last failure */
	uint64_t blocked_until_us;	/* IPs: blocked before this */
	unsigned count;
	uint32_t hash;
	size_t klen;
	char key[];			/* kind byte + name, no NUL */
};

struct auth_throttle {
	struct auth_throttle_conf c;
	pthread_mutex_t mu;
	struct entry **buckets;
	size_t nbuckets;		/* a power of two */
	struct entry *head, *tail;
	size_t n;
	uint32_t seed;
	unsigned checks;		/* queued or running now */
	uint64_t check_avg_us;		/* moving average; 0 = none yet */
};

struct auth_throttle *
auth_throttle_new(const struct auth_throttle_conf *c)
{
	struct auth_throttle *t = xcalloc(1, sizeof(*t));
	unsigned char seed[4];

	t->c = *c;
	if (t->c.threads == 0)
		t->c.threads = 1;
	/* an IP and an account per failure: room for both */
	if (t->c.max_entries < 2)
		t->c.max_entries = 2;
	t->nbuckets = 64;
	while (t->nbuckets < t->c.max_entries && t->nbuckets < (1u << 24))
		t->nbuckets *= 2;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	if (RAND_bytes(seed, sizeof(seed)) == 1)
		memcpy(&t->seed, seed, sizeof(t->seed));
	else
		t->seed = (uint32_t)clock_mono_us();
	pthread_mutex_init(&t->mu, NULL);
	return t;
}

void
auth_throttle_free(struct auth_throttle **tp)
{
	struct auth_throttle *t = *tp;
	struct entry *e, *next;

	if (t == NULL)
		return;
	for (e = t->head; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
	free(t->buckets);
	pthread_mutex_destroy(&t->mu);
	free(t);
	*tp = NULL;
}

/* check_wait - a new check's wait: those queued ahead, by the threads */
static uint64_t
check_wait(const struct auth_throttle *t)
{
	uint64_t ahead = t->checks >= t->c.threads ?
	    t->checks - t->c.threads + 1 : 0;

	return ahead * t->check_avg_us / t->c.threads;
}

bool
auth_throttle_check_begin(struct auth_throttle *t)
{
	bool ok;

	pthread_mutex_lock(&t->mu);
	ok = (t->c.max_checks == 0 || t->checks < t->c.max_checks) &&
	    (t->c.max_wait_us == 0 || check_wait(t) <= t->c.max_wait_us);
	if (ok)
		t->checks++;
	pthread_mutex_unlock(&t->mu);
	return ok;
}

void
auth_throttle_check_end(struct auth_throttle *t, uint64_t took_us)
{
	pthread_mutex_lock(&t->mu);
	ASSERT(t->checks > 0);
	t->checks--;
	/* an average over about the last 8 checks */
	if (t->check_avg_us == 0)
		t->check_avg_us = took_us > 0 ? took_us : 1;
	else if (took_us >= t->check_avg_us)
		t->check_avg_us += (took_us - t->check_avg_us) / 8;
	else
		t->check_avg_us -= (t->check_avg_us - took_us) / 8;
	pthread_mutex_unlock(&t->mu);
}

uint64_t
auth_throttle_check_wait(struct auth_throttle *t)
{
	uint64_t w;

	pthread_mutex_lock(&t->mu);
	w = check_wait(t);
	pthread_mutex_unlock(&t->mu);
	return w;
}

static uint32_t
key_hash(const struct auth_throttle *t, char kind, const char *name,
    size_t len)
{
	uint32_t h = 2166136261u ^ t->seed;

	h = (h ^ (unsigned char)kind) * 16777619u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)name[i]) * 16777619u;
	return h;
}

static void
list_unlink(struct auth_throttle *t, struct entry *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		t->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		t->tail = e->prev;
	e->prev = e->next = NULL;
}

static void
list_push(struct auth_throttle *t, struct entry *e)
{
	e->prev = NULL;
	e->next = t->head;
	if (t->head != NULL)
		t->head->prev = e;
	t->head = e;
	if (t->tail == NULL)
		t->tail = e;
}

static void
remove_entry(struct auth_throttle *t, struct entry *e)
{
	struct entry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	list_unlink(t, e);
	t->n--;
	free(e);
}

static size_t
name_len(const char *name)
{
	size_t n = strlen(name);

	return n > AUTH_THROTTLE_KEY_MAX ? AUTH_THROTTLE_KEY_MAX : n;
}

/* find - the record of kind+name, its count reset when stale, or NULL */
static struct entry *
find(struct auth_throttle *t, char kind, const char *name, uint64_t now)
{
	size_t len = name_len(name);
	uint32_t h = key_hash(t, kind, name, len);
	struct entry *e;

	for (e = t->buckets[h & (t->nbuckets - 1)]; e != NULL; e = e->hnext)
		if (e->hash == h && e->klen == len + 1 && e->key[0] == kind &&
		    memcmp(e->key + 1, name, len) == 0)
			break;
	if (e != NULL && e->count > 0 && now > e->last_us &&
	    now - e->last_us > (uint64_t)t->c.window * 1000000)
		e->count = 0;	/* forgotten: window over since the last */
	return e;
}

/* get - find or make the record, and make it the most recent */
static struct entry *
get(struct auth_throttle *t, char kind, const char *name, uint64_t now)
{
	struct entry *e = find(t, kind, name, now);
	size_t len;

	if (e != NULL) {
		list_unlink(t, e);
		list_push(t, e);
		return e;
	}
	if (t->n >= t->c.max_entries)
		remove_entry(t, t->tail);
	len = name_len(name);
	e = xcalloc(1, sizeof(*e) + len + 1);
	e->hash = key_hash(t, kind, name, len);
	e->klen = len + 1;
	e->key[0] = kind;
	memcpy(e->key + 1, name, len);
	e->hnext = t->buckets[e->hash & (t->nbuckets - 1)];
	t->buckets[e->hash & (t->nbuckets - 1)] = e;
	list_push(t, e);
	t->n++;
	return e;
}

unsigned
auth_throttle_blocked(struct auth_throttle *t, const char *ip,
    uint64_t now_us)
{
	struct entry *e;
	unsigned left = 0;

	pthread_mutex_lock(&t->mu);
	e = find(t, KIND_IP, ip, now_us);
	if (e != NULL && e->blocked_until_us > now_us)
		left = (unsigned)((e->blocked_until_us - now_us + 999999) /
		    1000000);
	pthread_mutex_unlock(&t->mu);
	return left;
}

static unsigned
delay_for(const struct auth_throttle_conf *c, unsigned n)
{
	unsigned shift;
	uint64_t d;

	if (n <= c->free || c->delay_ms == 0)
		return 0;
	shift = n - c->free - 1;
	if (shift >= 32)
		return c->delay_max_ms;
	d = (uint64_t)c->delay_ms << shift;
	return d > c->delay_max_ms ? c->delay_max_ms : (unsigned)d;
}

void
auth_throttle_fail(struct auth_throttle *t, const char *ip,
    const char *account, uint64_t now_us, struct auth_throttle_verdict *v)
{
	struct entry *ei, *ea = NULL;
	unsigned n;

	memset(v, 0, sizeof(*v));
	pthread_mutex_lock(&t->mu);
	ei = get(t, KIND_IP, ip, now_us);
	if (ei->count < UINT32_MAX)
		ei->count++;
	ei->last_us = now_us;
	v->ip_failures = ei->count;
	if (account != NULL && account[0] != '\0') {
		/* max_entries >= 2 and ei is the most recent: it stays */
		ea = get(t, KIND_ACCOUNT, account, now_us);
		if (ea->count < UINT32_MAX)
			ea->count++;
		ea->last_us = now_us;
		v->account_failures = ea->count;
	}
	n = v->ip_failures > v->account_failures ? v->ip_failures :
	    v->account_failures;
	v->delay_ms = delay_for(&t->c, n);
	if (t->c.ip_limit > 0 && ei->count >= t->c.ip_limit &&
	    ei->blocked_until_us <= now_us) {
		ei->blocked_until_us = now_us + (uint64_t)t->c.block * 1000000;
		v->blocked = true;
	}
	pthread_mutex_unlock(&t->mu);
}

void
auth_throttle_success(struct auth_throttle *t, const char *account,
    uint64_t now_us)
{
	struct entry *e;

	pthread_mutex_lock(&t->mu);
	e = find(t, KIND_ACCOUNT, account, now_us);
	if (e != NULL)
		remove_entry(t, e);
	pthread_mutex_unlock(&t->mu);
}

size_t
auth_throttle_entries(struct auth_throttle *t)
{
	size_t n;

	pthread_mutex_lock(&t->mu);
	n = t->n;
	pthread_mutex_unlock(&t->mu);
	return n;
}
