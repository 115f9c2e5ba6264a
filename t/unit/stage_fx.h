/*
 * stage_fx.h - what the tests of the filter stages share: a DNS server
 * (t/unit/dns_fixture.h) with a resolver that asks it, a configuration
 * written and loaded, a pipeline over the test's registry (or its
 * refusal to start), a session for a client address given as text (IPv4
 * or IPv6), the SMTP steps driven through it, the message's symbols, a
 * lookup store on either backend with a clock the test moves, and a
 * "score" stage whose score and verdict the test sets; for a cmocka
 * group, the scratch directory with the DNS server.  Each test keeps
 * its own records, configuration text and checks.  Header-only (static
 * inline), since each unit test is its own program; include cmocka.h
 * first.  The test fails (cmocka) on any error here.
 */
#ifndef POSTERN_T_STAGE_FX_H
#define POSTERN_T_STAGE_FX_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/config.h"
#include "common/dns.h"
#include "filters/filters.h"
#include "lookup/lookup.h"
#include "store/kv.h"
#include "t/unit/dns_fixture.h"
#include "t/unit/unit_tmpdir.h"

/* sfx_fail - the test fails with what and err's text (err freed) */
static inline void
sfx_fail(const char *what, struct buf *err)
{
	char msg[1024];

	snprintf(msg, sizeof(msg), "%s: %s", what, buf_cstr(err));
	buf_free(err);
	fail_msg("%s", msg);
}

/* ---- DNS ---- */

/*
 * sfx_resolver - a resolver whose one forwarder is fwd (a dnsfix's fwd
 * or blackhole_fwd), giving up after timeout_ms, asking about test. and
 * the reverse zones too; NULL (a line on stderr) when it cannot be had
 */
static inline struct dns *
sfx_resolver(const char *fwd, unsigned timeout_ms, bool no_cache)
{
	const char *fw[1] = { fwd };
	struct dns_options o;
	struct buf err = BUF_INIT(0);
	struct dns *d = NULL;

	memset(&o, 0, sizeof(o));
	o.forwarders = fw;
	o.nforwarders = 1;
	o.timeout_ms = timeout_ms;
	o.no_cache = no_cache;
	o.forward_special_zones = true;
	if (dns_new(&o, &d, &err) < 0)
		fprintf(stderr, "dns_new: %s\n", buf_cstr(&err));
	buf_free(&err);
	return d;
}

/* a DNS server with the test's records, and a resolver that asks it */
struct sfx_dns {
	struct dnsfix server;
	struct dns *resolver;
};

/* sfx_dns_start - both, or -1 (a line on stderr, nothing left running) */
static inline int
sfx_dns_start(struct sfx_dns *d, const char *records, unsigned timeout_ms,
    bool no_cache)
{
	d->resolver = NULL;
	if (dnsfix_start(&d->server, records) < 0)
		return -1;
	d->resolver = sfx_resolver(d->server.fwd, timeout_ms, no_cache);
	if (d->resolver == NULL) {
		dnsfix_stop(&d->server);
		return -1;
	}
	return 0;
}

static inline void
sfx_dns_stop(struct sfx_dns *d)
{
	dns_free(&d->resolver);
	dnsfix_stop(&d->server);
}

/* sfx_dns_group_setup - for a cmocka group setup: the scratch directory
 * (t/unit/unit_tmpdir.h), then sfx_dns_start (the resolver caching) */
static inline int
sfx_dns_group_setup(void **state, struct sfx_dns *d, const char *records,
    unsigned timeout_ms)
{
	if (unit_tmpdir_setup(state) < 0)
		return -1;
	return sfx_dns_start(d, records, timeout_ms, false);
}

static inline int
sfx_dns_group_teardown(void **state, struct sfx_dns *d)
{
	sfx_dns_stop(d);
	return unit_tmpdir_teardown(state);
}

/* ---- a pipeline ---- */

/* sfx_config - t.conf in the current directory with the text of fmt,
 * loaded */
static inline struct config *
sfx_config(const char *fmt, ...) PRINTF_LIKE(1, 2);

static inline struct config *
sfx_config(const char *fmt, ...)
{
	struct config *cfg = NULL;
	struct buf err = BUF_INIT(0);
	FILE *fp = fopen("t.conf", "w");
	va_list ap;

	assert_non_null(fp);
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	fclose(fp);
	if (config_load("t.conf", &cfg, &err) < 0)
		sfx_fail("config", &err);
	buf_free(&err);
	return cfg;
}

/* sfx_filters - the pipeline of env->cfg over registry (n stages) */
static inline struct filters *
sfx_filters(const struct filter_env *env,
    const struct filter_stage_ops *const *registry, size_t n)
{
	struct filters *f = NULL;
	struct buf err = BUF_INIT(0);

	if (filters_new(env, registry, n, &f, &err) < 0)
		sfx_fail("filters_new", &err);
	buf_free(&err);
	return f;
}

/* sfx_refused - filters_new fails, its error saying why; what it left in
 * its f_r (NULL) */
static inline struct filters *
sfx_refused(const struct filter_env *env,
    const struct filter_stage_ops *const *registry, size_t n,
    const char *why)
{
	struct filters *f = NULL;
	struct buf err = BUF_INIT(0);

	assert_int_equal(filters_new(env, registry, n, &f, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), why));
	buf_free(&err);
	return f;
}

/* ---- a session and its steps ---- */

/* sfx_session - a session of f for a client at ip (IPv4 or IPv6) on
 * listener ("smtp", "submission", ...) */
static inline struct filter_session *
sfx_session(struct filters *f, const char *ip, const char *listener)
{
	struct sockaddr_storage ss;
	socklen_t len;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		len = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
		len = sizeof(*sin);
	}
	return filters_session_new(f, (struct sockaddr *)&ss, len, listener);
}

/* sfx_mail_rcpt - MAIL FROM sender (queue ID QID1), RCPT TO rcpt: both
 * go on */
static inline void
sfx_mail_rcpt(struct filter_session *s, const char *sender, const char *rcpt,
    struct filter_reply *r)
{
	assert_int_equal(filters_mail(s, "QID1", sender, r), FILTER_CONTINUE);
	assert_int_equal(filters_rcpt(s, rcpt, r), FILTER_CONTINUE);
}

/* sfx_data - DATA of msg (len bytes; truncated: only its start was
 * kept); hdr, when not NULL, gets the header fields the pipeline adds.
 * The verdict. */
static inline enum filter_action
sfx_data(struct filter_session *s, const void *msg, size_t len,
    bool truncated, struct filter_reply *r, struct buf *hdr)
{
	enum filter_action a;

	a = filters_data(s, msg, len, truncated, r);
	if (hdr != NULL) {
		buf_reset(hdr);
		filters_headers(s, hdr);
	}
	return a;
}

/* ---- symbols ---- */

/* sfx_find_sym - the message's symbol name; NULL when it has none */
static inline const struct filter_symbol *
sfx_find_sym(const struct filter_msg *m, const char *name)
{
	for (size_t i = 0; i < m->nsyms; i++)
		if (strcmp(m->syms[i].name, name) == 0)
			return &m->syms[i];
	return NULL;
}

/* sfx_has_sym - whether the message got symbol name */
static inline bool
sfx_has_sym(const struct filter_msg *m, const char *name)
{
	return sfx_find_sym(m, name) != NULL;
}

/* sfx_sym - the score of symbol name; the test fails without it */
static inline double
sfx_sym(const struct filter_msg *m, const char *name)
{
	const struct filter_symbol *y = sfx_find_sym(m, name);

	if (y == NULL)
		fail_msg("no symbol %s", name);
	return y != NULL ? y->score : 0;
}

/* ---- a clock the test moves, for the pipeline and the lookup store ---- */

static int64_t sfx_now;

static inline int64_t
sfx_clock(void *arg)
{
	(void)arg;
	return sfx_now;
}

/* ---- "score": a stage of the test, adding TEST_SCORE at data ---- */

static double sfx_score;		/* its score */
static enum filter_action sfx_verdict;	/* what it returns */

static inline enum filter_action
sfx_score_data(void *st, struct filter_msg *m, struct filter_reply *r)
{
	(void)st;
	filter_symbol(m, "TEST_SCORE", sfx_score);
	if (sfx_verdict == FILTER_REJECT)
		filter_reply_set(r, 550, "5.7.1", "no");
	if (sfx_verdict == FILTER_TEMPFAIL)
		filter_reply_set(r, 451, "4.7.1", "later");
	return sfx_verdict;
}

static const struct filter_stage_ops sfx_stage_score = {
	.name = "score", .data = sfx_score_data,
};

/* ---- the fixture of a test: a pipeline, a session, a lookup store ---- */

struct sfx {
	struct kv *kv;			/* the lookup store's, on kv */
	struct lookup *l;		/* NULL: none */
	struct config *cfg;
	struct filters *f;
	struct filter_session *s;
	struct filter_reply r;
	struct buf out;			/* the header fields added */
};

static inline void
sfx_init(struct sfx *x)
{
	memset(x, 0, sizeof(*x));
	buf_init(&x->out, 0);
}

/*
 * sfx_lookup - x's lookup store on backend "memory", "sqlite" (kv on a
 * new SQLite file) or "failinject" (kv failinject over SQLite: x->kv for
 * kv_failinject_set), on the clock sfx_now
 */
static inline void
sfx_lookup(struct sfx *x, const char *backend)
{
	static unsigned seq;		/* a new file each time */
	struct lookup_options lo = { .backend = "memory", .now = sfx_clock };
	struct buf err = BUF_INIT(0);

	if (strcmp(backend, "memory") != 0) {
		char path[64];
		struct kv_options ko = { .backend = strcmp(backend,
		    "failinject") == 0 ? "failinject:sqlite" : "sqlite",
		    .path = path };

		snprintf(path, sizeof(path), "lookup%u.db", ++seq);
		if (kv_open(&ko, &x->kv, &err) < 0)
			sfx_fail("kv_open", &err);
		lo.backend = "kv";
		lo.kv = x->kv;
	}
	if (lookup_open(&lo, &x->l, &err) < 0)
		sfx_fail("lookup_open", &err);
	buf_free(&err);
}

/* a test of two cases: the lookup store on "memory", then on "sqlite"
 * (the test's *state is the backend, for sfx_lookup) */
#define SFX_BOTH_STORES(fn)						\
	cmocka_unit_test_prestate(fn, (void *)"memory"),		\
	cmocka_unit_test_prestate(fn, (void *)"sqlite")

/* sfx_connect - a new session (the previous one closed) for ip */
static inline void
sfx_connect(struct sfx *x, const char *ip, const char *listener)
{
	filters_session_free(&x->s);
	x->s = sfx_session(x->f, ip, listener);
}

/* sfx_deliver - one message on x's session (sfx_mail_rcpt, sfx_data);
 * x->out gets the header fields added.  The verdict of the data step. */
static inline enum filter_action
sfx_deliver(struct sfx *x, const char *sender, const char *rcpt,
    const char *msg)
{
	sfx_mail_rcpt(x->s, sender, rcpt, &x->r);
	return sfx_data(x->s, msg, strlen(msg), false, &x->r, &x->out);
}

static inline void
sfx_free(struct sfx *x)
{
	filters_session_free(&x->s);
	filters_free(&x->f);
	lookup_close(&x->l);
	kv_close(&x->kv);
	config_free(&x->cfg);
	buf_free(&x->out);
}

#endif
