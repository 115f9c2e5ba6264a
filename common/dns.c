/*
 * dns.c - the resolver: one libunbound context shared by every job
 * thread, lookups bounded by a deadline (contract in dns.h).
 *
 * Why not ub_resolve(): it blocks for as long as unbound's own retry
 * schedule runs (tens of seconds against a dead server), and a mail server
 * must bound each lookup.  So every lookup is ub_resolve_async() on a
 * context in thread mode (ub_ctx_async(ctx, 1): one libunbound thread does
 * the network work; the default, fork mode, has no place in a threaded
 * program), and the calling thread waits for its answer until a deadline.
 *
 * Waiting, leader/follower.  The answers of all queries come back on one
 * descriptor (ub_fd) and ub_process() runs the callbacks of whatever
 * arrived, in the calling thread.  One waiting thread at a time, the
 * poller, polls that descriptor without holding d->mu, then takes d->mu
 * and runs ub_process(); the callback only fills the struct dns_q it
 * belongs to (on some waiting thread's stack), and the poller broadcasts
 * d->cv.  The other threads wait on d->cv until their own deadline, and
 * one of them becomes the poller when the poller leaves.  ub_process()
 * and ub_cancel() are only ever called under d->mu, so a thread whose
 * deadline passed while its query is not done can ub_cancel() it and
 * return: in thread mode that marks the query so its callback is never
 * called, and libunbound frees the late answer in a later ub_process().
 *
 * dns_flush replaces the context (libunbound has no flush): it holds new
 * lookups back and waits until no thread is inside one.
 *
 * Answers become a struct dns_result: status from rcode/havedata/bogus,
 * raw rdata copied (at most max_records), then the typed helpers parse
 * the raw records with the pure parsers of dns_rr.c.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "dns.h"
#include "xalloc.h"

#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_NXDOMAIN 3
#define DNS_TEXT_MAX 512	/* libunbound's why_bogus, canonname */

struct dns {
	pthread_mutex_t mu;
	/* signalled: answers processed, the poller left, the last lookup
	 * left (for a flush), a flush ended */
	pthread_cond_t cv;
	struct ub_ctx *ctx;
	int fd;			/* ub_fd(ctx) */
	bool polling;		/* a thread is in poll() on fd */
	bool flushing;		/* dns_flush waits for busy == 0 */
	int broken;		/* ub_process() failed: the ub error */
	unsigned busy;		/* threads inside dns_run */

	/* the options, copied */
	char **fwd;
	size_t nfwd;
	char *resolv_conf;
	char *ta_file;
	bool no_cache;
	bool forward_special;
	unsigned timeout_ms;
	unsigned max_records;
	size_t txt_max;
};

/* one question of one lookup; lives on the asking thread's stack */
struct dns_q {
	const char *name;
	uint16_t type;
	int id;			/* libunbound's async id */
	bool pending;		/* sent, callback not yet run */
	bool timed_out;
	int ub_err;
	struct ub_result *res;
};

static void
dns_lock(struct dns *d)
{
	int rc = pthread_mutex_lock(&d->mu);

	if (rc != 0)
		PANIC("dns: pthread_mutex_lock: %s", strerror(rc));
}

static void
dns_unlock(struct dns *d)
{
	int rc = pthread_mutex_unlock(&d->mu);

	if (rc != 0)
		PANIC("dns: pthread_mutex_unlock: %s", strerror(rc));
}

static void
dns_wait_until(struct dns *d, uint64_t deadline_us)
{
	struct timespec ts;
	int rc;

	ts.tv_sec = (time_t)(deadline_us / 1000000u);
	ts.tv_nsec = (long)(deadline_us % 1000000u) * 1000;
	rc = pthread_cond_timedwait(&d->cv, &d->mu, &ts);
	if (rc != 0 && rc != ETIMEDOUT)
		PANIC("dns: pthread_cond_timedwait: %s", strerror(rc));
}

static void
dns_wait(struct dns *d)
{
	int rc = pthread_cond_wait(&d->cv, &d->mu);

	if (rc != 0)
		PANIC("dns: pthread_cond_wait: %s", strerror(rc));
}

static void
dns_broadcast(struct dns *d)
{
	int rc = pthread_cond_broadcast(&d->cv);

	if (rc != 0)
		PANIC("dns: pthread_cond_broadcast: %s", strerror(rc));
}

/* ---- set-up ---- */

static int
dns_ub_fail(struct ub_ctx *ctx, const char *what, const char *arg, int rc,
    struct buf *err)
{
	buf_addf(err, "dns: %s%s%s: %s", what, arg != NULL ? " " : "",
	    arg != NULL ? arg : "", ub_strerror(rc));
	ub_ctx_delete(ctx);
	return -1;
}

/*
 * The special-use zones that unbound answers itself with NXDOMAIN (RFC
 * 6761 test. and invalid., home.arpa, the RFC 6303 and AS112 reverse zones
 * of private, shared and documentation addresses), for
 * forward_special_zones: removed from libunbound's local zones, so they
 * go to the forwarders like any other name, and "domain-insecure" (the
 * root proves they do not exist, so validation would call them bogus).
 * RFC 6761 6.2 asks for exactly this switch, off by default.  localhost,
 * the loopback reverse zones and onion. (RFC 7686) stay local.
 */
static const char *const dns_special[] = {
	"test.", "invalid.", "home.arpa.", "10.in-addr.arpa.",
	"168.192.in-addr.arpa.", "0.in-addr.arpa.", "254.169.in-addr.arpa.",
	"2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.",
	"113.0.203.in-addr.arpa.", "255.255.255.255.in-addr.arpa.",
	"d.f.ip6.arpa.", "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.",
	"a.e.f.ip6.arpa.", "b.e.f.ip6.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.",
	"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	"ip6.arpa.",
};
/* and 16..31.172.in-addr.arpa (172.16/12), 64..127.100.in-addr.arpa
 * (100.64/10) */
#define DNS_NSPECIAL (ARRAY_SIZE(dns_special) + 16 + 64)

static void
dns_special_zone(size_t i, struct buf *z)
{
	buf_reset(z);
	if (i < ARRAY_SIZE(dns_special))
		buf_add_str(z, dns_special[i]);
	else if ((i -= ARRAY_SIZE(dns_special)) < 16)
		buf_addf(z, "%zu.172.in-addr.arpa.", 16 + i);
	else
		buf_addf(z, "%zu.100.in-addr.arpa.", 64 + i - 16);
}

/* phase 0 (before finalising): domain-insecure; 1: remove the zones */
static int
dns_unblock_special(struct ub_ctx *ctx, int phase, struct buf *err)
{
	struct buf z = BUF_INIT(0);
	size_t i;
	int rc = 0;

	for (i = 0; i < DNS_NSPECIAL && rc == 0; i++) {
		dns_special_zone(i, &z);
		rc = phase == 0 ? ub_ctx_set_option(ctx, "domain-insecure:",
		    buf_cstr(&z)) : ub_ctx_zone_remove(ctx, buf_cstr(&z));
	}
	if (rc != 0)
		buf_addf(err, "dns: special-use zone %s: %s", buf_cstr(&z),
		    ub_strerror(rc));
	buf_free(&z);
	return rc != 0 ? -1 : 0;
}

/* dns_ctx_make - a new, finalised libunbound context for d's options */
static int
dns_ctx_make(const struct dns *d, struct ub_ctx **ctx_r, struct buf *err)
{
	struct ub_ctx *ctx;
	size_t i;
	int rc;

	ctx = ub_ctx_create();
	if (ctx == NULL) {
		buf_add_str(err, "dns: cannot create a libunbound context");
		return -1;
	}
	if ((rc = ub_ctx_async(ctx, 1)) != 0)
		return dns_ub_fail(ctx, "ub_ctx_async", NULL, rc, err);
	/* forwarders on loopback are the common case: a local unbound,
	 * systemd-resolved's 127.0.0.53, the test's dnsmasq */
	if ((rc = ub_ctx_set_option(ctx, "do-not-query-localhost:",
	    "no")) != 0)
		return dns_ub_fail(ctx, "option", "do-not-query-localhost",
		    rc, err);
	if (d->no_cache &&
	    ((rc = ub_ctx_set_option(ctx, "cache-max-ttl:", "0")) != 0 ||
	    (rc = ub_ctx_set_option(ctx, "cache-max-negative-ttl:", "0")) !=
	    0))
		return dns_ub_fail(ctx, "option", "cache-max-ttl", rc, err);
	if (d->forward_special && dns_unblock_special(ctx, 0, err) < 0) {
		ub_ctx_delete(ctx);
		return -1;
	}
	for (i = 0; i < d->nfwd; i++)
		if ((rc = ub_ctx_set_fwd(ctx, d->fwd[i])) != 0)
			return dns_ub_fail(ctx, "bad forwarder", d->fwd[i], rc,
			    err);
	if (d->nfwd == 0 && (rc = ub_ctx_resolvconf(ctx, d->resolv_conf)) !=
	    0)
		return dns_ub_fail(ctx, "cannot read", d->resolv_conf != NULL ?
		    d->resolv_conf : "/etc/resolv.conf", rc, err);
	if (d->ta_file != NULL &&
	    (rc = ub_ctx_add_ta_file(ctx, d->ta_file)) != 0)
		return dns_ub_fail(ctx, "trust anchor file", d->ta_file, rc,
		    err);
	/*
	 * Finalise now, so that a bad trust anchor file is a start-up
	 * error and not the first lookup's: removing a local zone that
	 * does not exist is libunbound's way to finalise without a query.
	 */
	if ((rc = ub_ctx_zone_remove(ctx, "postern.invalid.")) != 0)
		return dns_ub_fail(ctx, "libunbound set-up failed",
		    d->ta_file != NULL ? "(trust anchor file?)" : NULL, rc,
		    err);
	if (d->forward_special && dns_unblock_special(ctx, 1, err) < 0) {
		ub_ctx_delete(ctx);
		return -1;
	}
	*ctx_r = ctx;
	return 0;
}

static void
dns_free_opts(struct dns *d)
{
	size_t i;

	for (i = 0; i < d->nfwd; i++)
		free(d->fwd[i]);
	free(d->fwd);
	free(d->resolv_conf);
	free(d->ta_file);
}

int
dns_new(const struct dns_options *opt, struct dns **d_r, struct buf *err)
{
	struct dns *d;
	pthread_condattr_t ca;
	size_t i;

	*d_r = NULL;
	if (opt->timeout_ms > DNS_TIMEOUT_MAX_MS) {
		buf_addf(err, "dns: timeout %u ms is over %u", opt->timeout_ms,
		    DNS_TIMEOUT_MAX_MS);
		return -1;
	}
	if (opt->max_records > DNS_MAX_RECORDS_LIMIT ||
	    opt->txt_max > DNS_TXT_MAX_LIMIT) {
		buf_addf(err, "dns: max_records (at most %u) or txt_max (at "
		    "most %u) out of range", DNS_MAX_RECORDS_LIMIT,
		    DNS_TXT_MAX_LIMIT);
		return -1;
	}
	if (opt->trust_anchor_file != NULL) {
		FILE *f = fopen(opt->trust_anchor_file, "r");

		if (f == NULL) {
			buf_addf(err, "dns: trust anchor file %s: %s",
			    opt->trust_anchor_file, strerror(errno));
			return -1;
		}
		fclose(f);
	}
	d = xcalloc(1, sizeof(*d));
	d->fwd = xcalloc(opt->nforwarders + 1, sizeof(*d->fwd));
	for (i = 0; i < opt->nforwarders; i++)
		d->fwd[i] = xstrdup(opt->forwarders[i]);
	d->nfwd = opt->nforwarders;
	d->resolv_conf = opt->resolv_conf != NULL ?
	    xstrdup(opt->resolv_conf) : NULL;
	d->ta_file = opt->trust_anchor_file != NULL ?
	    xstrdup(opt->trust_anchor_file) : NULL;
	d->no_cache = opt->no_cache;
	d->forward_special = opt->forward_special_zones;
	d->timeout_ms = opt->timeout_ms != 0 ? opt->timeout_ms :
	    DNS_TIMEOUT_DEFAULT_MS;
	d->max_records = opt->max_records != 0 ? opt->max_records :
	    DNS_MAX_RECORDS_DEFAULT;
	d->txt_max = opt->txt_max != 0 ? opt->txt_max : DNS_TXT_MAX_DEFAULT;

	if (dns_ctx_make(d, &d->ctx, err) < 0) {
		dns_free_opts(d);
		free(d);
		return -1;
	}
	d->fd = ub_fd(d->ctx);
	if (d->fd < 0) {
		buf_add_str(err, "dns: ub_fd failed");
		ub_ctx_delete(d->ctx);
		dns_free_opts(d);
		free(d);
		return -1;
	}
	if (pthread_mutex_init(&d->mu, NULL) != 0 ||
	    pthread_condattr_init(&ca) != 0 ||
	    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&d->cv, &ca) != 0)
		PANIC("dns: cannot initialise a mutex or condition variable");
	pthread_condattr_destroy(&ca);
	*d_r = d;
	return 0;
}

void
dns_free(struct dns **dp)
{
	struct dns *d = *dp;

	if (d == NULL)
		return;
	ASSERT(d->busy == 0);
	ub_ctx_delete(d->ctx);
	pthread_cond_destroy(&d->cv);
	pthread_mutex_destroy(&d->mu);
	dns_free_opts(d);
	free(d);
	*dp = NULL;
}

int
dns_flush(struct dns *d, struct buf *err)
{
	struct ub_ctx *ctx = NULL, *old;
	int fd = -1;

	dns_lock(d);
	while (d->flushing)
		dns_wait(d);
	d->flushing = true;
	while (d->busy > 0)
		dns_wait(d);
	dns_unlock(d);

	/* new lookups wait on d->flushing meanwhile */
	if (dns_ctx_make(d, &ctx, err) == 0 && (fd = ub_fd(ctx)) < 0) {
		buf_add_str(err, "dns: ub_fd failed");
		ub_ctx_delete(ctx);
	}
	dns_lock(d);
	old = fd >= 0 ? d->ctx : NULL;
	if (fd >= 0) {
		d->ctx = ctx;
		d->fd = fd;
		d->broken = 0;
	}
	d->flushing = false;
	dns_broadcast(d);
	dns_unlock(d);
	if (old == NULL)
		return -1;
	ub_ctx_delete(old);
	return 0;
}

/* ---- the lookup engine ---- */

/* runs inside ub_process(), on the poller, with d->mu held */
static void
dns_cb(void *arg, int ub_err, struct ub_result *res)
{
	struct dns_q *q = arg;

	q->ub_err = ub_err;
	q->res = res;
	q->pending = false;
}

/* dns_run - send every question of qs, wait until all are answered or
 * the deadline; the unanswered ones are cancelled and marked timed_out */
static void
dns_run(struct dns *d, struct dns_q *qs, size_t n)
{
	uint64_t deadline = clock_mono_us() +
	    (uint64_t)d->timeout_ms * 1000u, now;
	struct pollfd pfd;
	size_t i;
	bool pending;
	int pr, rc;

	for (i = 0; i < n; i++) {
		qs[i].id = 0;
		qs[i].pending = false;
		qs[i].timed_out = false;
		qs[i].ub_err = 0;
		qs[i].res = NULL;
	}
	dns_lock(d);
	while (d->flushing) {
		if (clock_mono_us() >= deadline) {
			for (i = 0; i < n; i++)
				qs[i].timed_out = true;
			dns_unlock(d);
			return;
		}
		dns_wait_until(d, deadline);
	}
	d->busy++;
	for (i = 0; i < n; i++) {
		rc = ub_resolve_async(d->ctx, qs[i].name, qs[i].type, 1,
		    &qs[i], dns_cb, &qs[i].id);
		if (rc != 0)
			qs[i].ub_err = rc;
		else
			qs[i].pending = true;
	}
	for (;;) {
		pending = false;
		for (i = 0; i < n; i++)
			pending = pending || qs[i].pending;
		if (!pending)
			break;
		now = clock_mono_us();
		if (now >= deadline || d->broken != 0) {
			for (i = 0; i < n; i++) {
				if (!qs[i].pending)
					continue;
				(void)ub_cancel(d->ctx, qs[i].id);
				qs[i].pending = false;
				if (d->broken != 0)
					qs[i].ub_err = d->broken;
				else
					qs[i].timed_out = true;
			}
			break;
		}
		if (d->polling) {
			dns_wait_until(d, deadline);
			continue;
		}
		d->polling = true;
		pfd.fd = d->fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		dns_unlock(d);
		pr = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
		dns_lock(d);
		d->polling = false;
		if (pr > 0 && (rc = ub_process(d->ctx)) != 0)
			d->broken = rc;
		dns_broadcast(d);
	}
	if (--d->busy == 0 && d->flushing)
		dns_broadcast(d);
	dns_unlock(d);
}

static void
dns_q_release(struct dns_q *qs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		ub_resolve_free(qs[i].res);
		qs[i].res = NULL;
	}
}

/* ---- answers into results ---- */

static void
dns_result_init(struct dns_result *r)
{
	memset(r, 0, sizeof(*r));
	r->status = DNS_ERROR;
	r->rcode = -1;
}

void
dns_result_free(struct dns_result *r)
{
	size_t i;

	for (i = 0; i < r->nrr; i++)
		free(r->rr[i].data);
	free(r->rr);
	for (i = 0; i < r->ntxt; i++)
		free(r->txt[i].text);
	free(r->txt);
	free(r->addr);
	for (i = 0; i < r->nmx; i++)
		free(r->mx[i].host);
	free(r->mx);
	for (i = 0; i < r->nname; i++)
		free(r->name[i]);
	free(r->name);
	free(r->canonname);
	free(r->why_bogus);
	dns_result_init(r);
}

static const char *
dns_rcode_name(int rcode)
{
	static const char *const names[] = { "NOERROR", "FORMERR",
		"SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED" };

	if (rcode >= 0 && (size_t)rcode < ARRAY_SIZE(names))
		return names[rcode];
	return "unknown rcode";
}

/* a copy of libunbound's text: bounded, without a trailing dot, control
 * characters as '?' */
static char *
dns_text_dup(const char *s, bool strip_dot)
{
	size_t n = strnlen(s, DNS_TEXT_MAX), i;
	char *t;

	if (strip_dot && n > 1 && s[n - 1] == '.')
		n--;
	t = xmemdup0(s, n);
	for (i = 0; i < n; i++)
		if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] >= 0x7f)
			t[i] = '?';
	return t;
}

/* same name, ignoring case and one trailing dot */
static bool
dns_same_name(const char *a, const char *b)
{
	size_t la = strnlen(a, DNS_TEXT_MAX), lb = strnlen(b, DNS_TEXT_MAX);

	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && ascii_strncasecmp(a, b, la) == 0;
}

/* dns_copy_rr - append the records of res to r->rr, at most max_records
 * in all */
static void
dns_copy_rr(const struct dns *d, const struct ub_result *res, uint16_t type,
    struct dns_result *r)
{
	size_t n = 0, i;

	if (res->data == NULL || res->len == NULL)
		return;
	while (res->data[n] != NULL && n < d->max_records)
		n++;
	if (n > d->max_records - r->nrr)
		n = d->max_records - r->nrr;
	if (res->data[n] != NULL)
		r->truncated = true;
	r->rr = xreallocarray(r->rr, r->nrr + n + 1, sizeof(*r->rr));
	for (i = 0; i < n; i++) {
		if (res->len[i] < 0 || res->len[i] > 65535) {
			r->malformed++;
			continue;
		}
		r->rr[r->nrr].type = type;
		r->rr[r->nrr].len = (uint16_t)res->len[i];
		r->rr[r->nrr].data = (unsigned char *)xmemdup0(res->data[i],
		    (size_t)res->len[i]);
		r->nrr++;
	}
}

/*
 * dns_take - move what q got into r (records appended, flags merged: the
 * first answer, counted in *ntaken, sets secure and ttl, later ones can
 * only lower them) and return its status, the reason of a failure in why.
 */
static enum dns_status
dns_take(const struct dns *d, const struct dns_q *q, unsigned *ntaken,
    struct dns_result *r, struct buf *why)
{
	const struct ub_result *res = q->res;
	uint32_t ttl;
	enum dns_status st;

	if (q->timed_out) {
		buf_addf(why, "timed out after %u ms", d->timeout_ms);
		return DNS_TIMEOUT;
	}
	if (q->ub_err != 0 || res == NULL) {
		buf_addf(why, "resolver failure: %s", ub_strerror(q->ub_err));
		return q->ub_err == UB_SYNTAX ? DNS_ERROR : DNS_SERVFAIL;
	}
	if (r->rcode < 0 || res->rcode != DNS_RCODE_NOERROR)
		r->rcode = res->rcode;
	if (res->bogus) {
		r->bogus = true;
		r->secure = false;
		if (r->why_bogus == NULL)
			r->why_bogus = dns_text_dup(res->why_bogus != NULL ?
			    res->why_bogus : "bogus", false);
		buf_addf(why, "DNSSEC validation failed: %s", r->why_bogus);
		return DNS_SERVFAIL;
	}
	if (res->havedata) {
		dns_copy_rr(d, res, q->type, r);
		st = DNS_OK;
	} else if (res->nxdomain || res->rcode == DNS_RCODE_NXDOMAIN) {
		st = DNS_NXDOMAIN;
	} else if (res->rcode == DNS_RCODE_NOERROR) {
		st = DNS_NODATA;
	} else {
		buf_addf(why, "server failure (%s)",
		    dns_rcode_name(res->rcode));
		return DNS_SERVFAIL;
	}
	ttl = res->ttl > 0 ? (uint32_t)res->ttl : 0;
	r->secure = (*ntaken == 0 || r->secure) && res->secure;
	if (*ntaken == 0 || ttl < r->ttl)
		r->ttl = ttl;
	(*ntaken)++;
	if (r->canonname == NULL && res->canonname != NULL &&
	    !dns_same_name(res->canonname, q->name))
		r->canonname = dns_text_dup(res->canonname, true);
	return st;
}

/* dns_finish - the return value for status; the error line for -1 */
static int
dns_finish(const char *name, uint16_t type, struct dns_result *r,
    const struct buf *why, struct buf *err)
{
	char tn[DNS_TYPE_NAME_MAX];

	switch (r->status) {
	case DNS_OK:
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		return 0;
	case DNS_SERVFAIL:
	case DNS_TIMEOUT:
	case DNS_ERROR:
		break;
	}
	buf_addf(err, "%s/%s: %s", name, dns_type_name(type, tn),
	    why->len > 0 ? buf_cstr(why) : dns_status_name(r->status));
	return -1;
}

static bool
dns_type_ok(uint16_t type)
{
	/* 0 is reserved; 251..255 are IXFR, AXFR, MAILB, MAILA, ANY:
	 * meta-queries no lookup of ours has a use for */
	return type != 0 && (type < 251 || type > 255);
}

int
dns_query(struct dns *d, const char *name, uint16_t rrtype,
    struct dns_result *r, struct buf *err)
{
	struct buf why = BUF_INIT(0);
	struct dns_q q;
	char tn[DNS_TYPE_NAME_MAX];
	unsigned ntaken = 0;
	int rc;

	dns_result_init(r);
	if (dns_name_check(name, err) < 0)
		return -1;
	if (!dns_type_ok(rrtype)) {
		buf_addf(err, "%s: DNS query type %s refused", name,
		    dns_type_name(rrtype, tn));
		return -1;
	}
	q.name = name;
	q.type = rrtype;
	dns_run(d, &q, 1);
	r->status = dns_take(d, &q, &ntaken, r, &why);
	dns_q_release(&q, 1);
	rc = dns_finish(name, rrtype, r, &why, err);
	buf_free(&why);
	return rc;
}

/* dns_unusable - an answer none of whose records we could use */
static int
dns_unusable(const char *name, uint16_t type, struct dns_result *r,
    struct buf *err)
{
	char tn[DNS_TYPE_NAME_MAX];

	r->status = DNS_SERVFAIL;
	buf_addf(err, "%s/%s: no usable record (%u malformed%s)", name,
	    dns_type_name(type, tn), r->malformed,
	    r->truncated ? ", over the limits" : "");
	return -1;
}

int
dns_txt(struct dns *d, const char *name, struct dns_result *r,
    struct buf *err)
{
	int rc;

	rc = dns_query(d, name, DNS_T_TXT, r, err);
	if (rc < 0 || r->status != DNS_OK)
		return rc;
	if (dns_parse_txt(r, d->txt_max) == 0)
		return dns_unusable(name, DNS_T_TXT, r, err);
	return 0;
}

int
dns_mx(struct dns *d, const char *name, struct dns_result *r,
    struct buf *err)
{
	int rc;

	rc = dns_query(d, name, DNS_T_MX, r, err);
	if (rc < 0 || r->status != DNS_OK)
		return rc;
	if (dns_parse_mx(r) == 0 && !r->null_mx)
		return dns_unusable(name, DNS_T_MX, r, err);
	return 0;
}

int
dns_ptr(struct dns *d, const struct sockaddr *sa, struct dns_result *r,
    struct buf *err)
{
	struct buf rname = BUF_INIT(0);
	int rc;

	dns_result_init(r);
	if (dns_reverse_name(sa, &rname, err) < 0)
		return -1;
	rc = dns_query(d, buf_cstr(&rname), DNS_T_PTR, r, err);
	if (rc == 0 && r->status == DNS_OK && dns_parse_ptr(r) == 0)
		rc = dns_unusable(buf_cstr(&rname), DNS_T_PTR, r, err);
	buf_free(&rname);
	return rc;
}

int
dns_addrs(struct dns *d, const char *name, int family, struct dns_result *r,
    struct buf *err)
{
	struct buf why[2] = { BUF_INIT(0), BUF_INIT(0) };
	enum dns_status st[2];
	struct dns_q q[2];
	size_t n = 0, i, fail = 0;
	unsigned ntaken = 0;
	int rc;

	dns_result_init(r);
	if (dns_name_check(name, err) < 0)
		return -1;
	if (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC) {
		buf_addf(err, "%s: address family %d refused", name, family);
		return -1;
	}
	if (family != AF_INET6)
		q[n++].type = DNS_T_A;
	if (family != AF_INET)
		q[n++].type = DNS_T_AAAA;
	for (i = 0; i < n; i++)
		q[i].name = name;
	dns_run(d, q, n);
	for (i = 0; i < n; i++)
		st[i] = dns_take(d, &q[i], &ntaken, r, &why[i]);
	dns_q_release(q, n);

	/* OK wins; then a temporary failure (we do not know), then ERROR;
	 * NXDOMAIN only if every answer says so */
	r->status = st[0];
	for (i = 1; i < n; i++) {
		if (r->status == DNS_OK || st[i] == DNS_OK) {
			r->status = DNS_OK;
		} else if (dns_status_is_temporary(r->status)) {
			continue;
		} else if (dns_status_is_temporary(st[i]) ||
		    st[i] == DNS_ERROR) {
			r->status = st[i];
			fail = i;
		} else if (r->status != DNS_ERROR && st[i] != r->status) {
			r->status = DNS_NODATA;
		}
	}

	if (r->status == DNS_OK && dns_parse_addrs(r) == 0)
		rc = dns_unusable(name, q[0].type, r, err);
	else
		rc = dns_finish(name, q[fail].type, r, &why[fail], err);
	buf_free(&why[0]);
	buf_free(&why[1]);
	return rc;
}
