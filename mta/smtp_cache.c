/*
 * smtp_cache.c - the SMTP client's shared state: the connections it may
 * open (smtp_client.max_connections, idle cached ones included), the
 * deliveries per destination (destination_concurrency), the cache of
 * idle connections and its reaper thread, and opening a new connection
 * host after host along a route.  The decisions are in smtp_client.c's
 * header comment; here the mechanics:
 *
 * Invariants, all under c->mu: nconn counts every connection from the
 * slot taken before connecting to its close (cached ones included); a
 * connection is in the cache or owned by exactly one delivery; a
 * destination entry lives while a delivery holds or waits for one of its
 * slots.  No I/O with the lock held: a connection leaves the cache
 * before it is checked or closed.  Every wait for a slot is bounded
 * (SMTPC_SLOT_WAIT) and ends at smtp_client_stop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "mta/smtp_client_priv.h"

#define SMTPC_SESSIONS_MAX 2	/* hosts that answered, tried per domain */
#define SMTPC_SLOT_WAIT 300	/* seconds for a slot */

struct smtp_dest {
	char *key;		/* the domain, or the relay */
	unsigned active;	/* deliveries holding a slot */
	unsigned refs;		/* those and the ones waiting for one */
	struct smtp_dest *next;
};

/* reaper - closes cached connections idle past cache_idle_time */
void *
smtp_cache_reaper(void *arg)
{
	struct smtp_client *c = arg;
	uint64_t idle = (uint64_t)c->cc->cache_idle_time * 1000000u;

	pthread_mutex_lock(&c->mu);
	while (!c->stopping) {
		struct smtp_conn **pp = &c->cache, *old = NULL, *conn;
		uint64_t now = clock_mono_us(), wake = now + 1000000u;
		struct timespec ts;

		while ((conn = *pp) != NULL) {
			if (now - conn->idle_since >= idle) {
				*pp = conn->next;
				conn->next = old;
				old = conn;
				continue;
			}
			if (conn->idle_since + idle < wake)
				wake = conn->idle_since + idle;
			pp = &conn->next;
		}
		if (old != NULL) {
			pthread_mutex_unlock(&c->mu);
			while ((conn = old) != NULL) {
				old = conn->next;
				log_debug(SMTPC_SVC, "closing idle connection "
				    "to %s", conn->relay);
				smtp_cache_close(c, &conn, true);
			}
			pthread_mutex_lock(&c->mu);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		wake = wake - now + (uint64_t)ts.tv_nsec / 1000u;
		ts.tv_sec += (time_t)(wake / 1000000u);
		ts.tv_nsec = (long)(wake % 1000000u) * 1000;
		(void)pthread_cond_timedwait(&c->cv, &c->mu, &ts);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/* ---- slots: open connections, deliveries per destination ---- */

/* wait_until - one bounded wait on c->cv (locked); false at the end */
static bool
wait_until(struct smtp_client *c, const struct timespec *ts)
{
	return !c->stopping &&
	    pthread_cond_timedwait(&c->cv, &c->mu, ts) != ETIMEDOUT;
}

static void
slot_deadline(struct timespec *ts)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += SMTPC_SLOT_WAIT;
}

/* conn_slot - room for one more connection; -1 fills f */
static int
conn_slot(struct smtp_client *c, struct smtp_fail *f)
{
	struct timespec ts;
	bool ok = true;

	slot_deadline(&ts);
	pthread_mutex_lock(&c->mu);
	while (ok && !c->stopping && c->nconn >= c->cc->max_connections) {
		struct smtp_conn **pp = &c->cache, *victim;

		if (*pp == NULL) {
			ok = wait_until(c, &ts);
			continue;
		}
		while ((*pp)->next != NULL)	/* the oldest idle one */
			pp = &(*pp)->next;
		victim = *pp;
		*pp = NULL;
		pthread_mutex_unlock(&c->mu);
		smtp_cache_close(c, &victim, true);
		pthread_mutex_lock(&c->mu);
	}
	ok = ok && !c->stopping;
	if (ok)
		c->nconn++;
	pthread_mutex_unlock(&c->mu);
	if (!ok) {
		f->st = TRANSPORT_TEMPFAIL;
		memcpy(f->dsn, "4.4.5", 6);
		f->flags = 0;
		buf_reset(&f->text);
		buf_add_str(&f->text, c->stopping ? "delivery interrupted "
		    "(shutting down)" : "too many open SMTP connections "
		    "(smtp_client.max_connections)");
	}
	return ok ? 0 : -1;
}

/* conn_close - QUIT (polite), close, and its slot free */
void
smtp_cache_close(struct smtp_client *c, struct smtp_conn **conn, bool polite)
{
	smtp_session_quit(c, conn, polite);
	pthread_mutex_lock(&c->mu);
	ASSERT(c->nconn > 0);
	c->nconn--;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

struct smtp_dest *
smtp_cache_dest_acquire(struct smtp_client *c, const char *key, bool *ok_r)
{
	struct smtp_dest *d;
	struct timespec ts;
	bool ok = true;

	slot_deadline(&ts);
	pthread_mutex_lock(&c->mu);
	for (d = c->dests; d != NULL; d = d->next)
		if (strcmp(d->key, key) == 0)
			break;
	if (d == NULL) {
		d = xcalloc(1, sizeof(*d));
		d->key = xstrdup(key);
		d->next = c->dests;
		c->dests = d;
	}
	d->refs++;	/* while waiting too: it keeps d alive */
	while (ok && d->active >= c->cc->destination_concurrency)
		ok = wait_until(c, &ts);
	*ok_r = ok && !c->stopping;
	if (*ok_r)
		d->active++;
	pthread_mutex_unlock(&c->mu);
	return d;
}

void
smtp_cache_dest_release(struct smtp_client *c, struct smtp_dest *d,
    bool held)
{
	struct smtp_dest **pp;

	pthread_mutex_lock(&c->mu);
	if (held)
		d->active--;
	if (--d->refs == 0) {
		for (pp = &c->dests; *pp != d; pp = &(*pp)->next)
			;
		*pp = d->next;
		free(d->key);
		free(d);
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* ---- the connection cache ---- */

static bool
same_addr(const struct netaddr *a, const struct netaddr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* what a cached connection to one host of the route must have */
struct want {
	bool allowed;		/* the policy allows the host */
	struct smtp_host_tls t;
	char *key;		/* t.authenticated: smtp_tlspolicy_auth_key */
};

/* fits - may conn carry mail for a host that wants w, with or without
 * AUTH?  Nothing weaker than what a new session would have to get. */
static bool
fits(const struct smtp_conn *conn, const struct want *w, bool use_auth)
{
	if (!w->allowed || conn->authed != use_auth)
		return false;
	if (w->t.authenticated)
		return conn->verified && conn->verified_for != NULL &&
		    w->key[0] != '\0' && strcmp(w->key, conn->verified_for) == 0;
	return !w->t.required || conn->tls;
}

/* cache_take - an idle cached connection to one of the route's
 * addresses that fits, checked alive; NULL: none */
struct smtp_conn *
smtp_cache_take(struct smtp_client *c, const struct smtp_route *rt,
    const struct smtp_tlspolicy_result *pol, bool use_auth, const char *qid)
{
	struct smtp_conn **pp, *conn;
	struct want *w = xcalloc(rt->nhost + 1, sizeof(*w));

	/* the policy is asked outside the lock */
	for (size_t i = 0; i < rt->nhost; i++) {
		struct buf key = BUF_INIT(0);

		w[i].allowed = smtp_tlspolicy_mx_allowed(pol, rt->host[i].name,
		    NULL);
		smtp_host_tls(pol, rt->host[i].name, use_auth, &w[i].t);
		smtp_tlspolicy_auth_key(pol, rt->host[i].name, &key);
		w[i].key = buf_steal(&key, NULL);
	}
	pthread_mutex_lock(&c->mu);
	for (;;) {
		conn = NULL;
		for (size_t i = 0; i < rt->nhost && conn == NULL; i++)
			for (size_t j = 0; j < rt->host[i].naddr; j++) {
				for (pp = &c->cache; *pp != NULL;
				    pp = &(*pp)->next)
					if (same_addr(&(*pp)->addr,
					    &rt->host[i].addr[j]) &&
					    fits(*pp, &w[i], use_auth))
						break;
				if (*pp != NULL) {
					conn = *pp;
					*pp = conn->next;
					conn->next = NULL;
					break;
				}
			}
		if (conn == NULL)
			break;
		pthread_mutex_unlock(&c->mu);
		if (smtp_io_is_idle(&conn->io)) {
			log_debug(SMTPC_SVC, "%s: reusing the connection to %s "
			    "(transaction %u)", qid, conn->relay,
			    conn->ntxn + 1);
			goto out;
		}
		log_debug(SMTPC_SVC, "%s: cached connection to %s is gone",
		    qid, conn->relay);
		smtp_cache_close(c, &conn, false);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
out:
	for (size_t i = 0; i < rt->nhost; i++)
		free(w[i].key);
	free(w);
	return conn;
}

/* cache_put - keep conn for the next delivery, or close it */
void
smtp_cache_put(struct smtp_client *c, struct smtp_conn *conn)
{
	bool keep = c->cc->cache_idle_time > 0 &&
	    conn->ntxn < c->cc->cache_reuse_limit &&
	    smtp_io_is_idle(&conn->io);

	pthread_mutex_lock(&c->mu);
	if (keep && !c->stopping) {
		conn->idle_since = clock_mono_us();
		conn->next = c->cache;
		c->cache = conn;
		conn = NULL;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu);
	if (conn != NULL)
		smtp_cache_close(c, &conn, true);
}

/* open_conn - a new session with the route's hosts in order; NULL with
 * f telling what went wrong last */
struct smtp_conn *
smtp_cache_open(struct smtp_client *c, const struct smtp_route *rt,
    const struct smtp_tlspolicy_result *pol, bool use_auth, const char *qid,
    struct smtp_fail *f)
{
	unsigned sessions = 0;

	for (size_t i = 0; i < rt->nhost; i++) {
		const struct smtp_route_host *h = &rt->host[i];
		struct buf why = BUF_INIT(0);
		struct smtp_host_tls t;

		if (!smtp_tlspolicy_mx_allowed(pol, h->name, &why)) {
			smtp_fail_set(f, TRANSPORT_TEMPFAIL,
			    SMTP_TLSPOLICY_DSN, 0, "MX host %s may not be "
			    "used now (TLS policy %s): %s", h->name,
			    smtp_tlspolicy_source_name(pol->source),
			    buf_cstr(&why));
			f->relay[0] = '\0';
			log_info(SMTPC_SVC, "%s: %s", qid, buf_cstr(&f->text));
			buf_free(&why);
			continue;
		}
		buf_free(&why);
		smtp_host_tls(pol, h->name, use_auth, &t);
		for (size_t j = 0; j < h->naddr; j++) {
			struct smtp_conn *conn;
			int rc;

			if (sessions >= SMTPC_SESSIONS_MAX || c->stopping)
				return NULL;
			if (conn_slot(c, f) < 0)
				return NULL;
			conn = xcalloc(1, sizeof(*conn));
			rc = smtp_session_open(c, conn, h, &h->addr[j], pol,
			    &t, use_auth, qid, f);
			if (rc < 0 && f->retry_plain && !t.required) {
				struct smtp_host_tls plain = t;

				plain.wanted = false;
				log_info(SMTPC_SVC, "%s: %s; trying again "
				    "without TLS", qid, buf_cstr(&f->text));
				rc = smtp_session_open(c, conn, h, &h->addr[j],
				    pol, &plain, use_auth, qid, f);
			}
			if (rc == 0)
				return conn;
			if ((f->flags & TRANSPORT_F_REMOTE) != 0)
				log_info(SMTPC_SVC, "%s: host %s refused to "
				    "talk to me: %s", qid, f->relay,
				    buf_cstr(&f->text));
			else
				log_info(SMTPC_SVC, "%s: %s", qid,
				    buf_cstr(&f->text));
			free(conn);
			pthread_mutex_lock(&c->mu);
			c->nconn--;
			pthread_cond_broadcast(&c->cv);
			pthread_mutex_unlock(&c->mu);
			if (f->greeted)
				sessions++;
		}
	}
	return NULL;
}
