/*
 * smtp_client.c - the outbound SMTP transport (contract in
 * smtp_client.h): per recipient domain, its route (smtp_route.h), its
 * TLS policy, a connection (cached or new, host after host), and
 * transactions of at most smtp_client.max_recipients recipients over it
 * (smtp_txn.c); RFC 5321 5 (routing) and 4.5.3.1.8 (recipients per
 * transaction), RFC 3207 and RFC 7435 (opportunistic TLS).
 *
 * Decisions, and why:
 *   - One deliver() call: by MX the qmgr gives recipients of one domain
 *     (the transport is per_domain); with smtp_client.relay, all of a
 *     message's.  They are grouped here by destination (dest_key: the
 *     domain for MX delivery; a next hop with its TLS and port for a
 *     relay or a domain's own next hop), so that mail for several
 *     domains through one relay goes in one transaction, as in Postfix.
 *     The message is prepared once per call (DKIM signing, smtp_msg.c),
 *     routed once per destination, then sent in transactions of at most
 *     max_recipients (Postfix's smtp_destination_recipient_limit is 50
 *     too), one after another over the same connection.  Through a
 *     relay the TLS policy is looked up with the first recipient's
 *     domain (it matters only for MTA-STS, which a relay does not get).
 *   - Hosts: the route's order (MX preference, IPv6 first by default).
 *     A host that cannot be used (connect failure, a greeting or EHLO
 *     other than 2xx, a TLS failure the policy does not forgive, a lost
 *     or garbled conversation before MAIL) makes us try the next
 *     address; at most SMTPC_SESSIONS_MAX (smtp_cache.c) of them may be
 *     hosts that did
 *     answer (Postfix's smtp_mx_session_limit, 2), so a domain with
 *     twenty broken MX hosts costs two conversations, not twenty.  If
 *     none takes the mail, every recipient gets the last host's failure,
 *     temporary.  Once a transaction started, its replies decide: we do
 *     not try another host for recipients a host refused.
 *   - TLS policy: the level is smtp_client.tls, or a domain's tls=
 *     (smtp_client_tls_level); the client calls mta/smtp_tlspolicy.h
 *     directly, once per destination after its route (DANE TLSA and
 *     MTA-STS lookups, in the delivery's job), and per host for what it
 *     allows and needs (smtp_host_tls), the SSL set-up and the check
 *     after the handshake.  No hook: the policy is not optional, and
 *     one code path is the one that is tested.  The module knows
 *     nothing of the client (routes and OpenSSL objects in, a result
 *     out); the client knows nothing of DANE or MTA-STS.  "auto" (the
 *     default) without DANE or MTA-STS, and "may", are RFC 7435's
 *     opportunistic TLS: STARTTLS when offered, any certificate accepted
 *     (the verification result is logged), a failed handshake retried
 *     once in plain text.  Where the policy requires TLS there is no
 *     such retry and no cleartext: the host failed (4.7.4 when STARTTLS
 *     is not offered, Postfix's code; 4.7.5 for the rest), the next one
 *     is tried, and if none is left the mail is deferred.  A policy
 *     lookup that leaves no host usable (a TLSA lookup failed, no MX in
 *     the MTA-STS policy, dane-only without DANE) defers at once
 *     (4.7.5).  The relay with AUTH requires TLS whatever the level: no
 *     password in the clear.
 *   - AUTH PLAIN only, only to the global relay (smtp_client.relay),
 *     only over TLS.  A relay that offers no AUTH gets the mail without;
 *     a refused AUTH defers (it is our configuration, not the mail).
 *   - Connection reuse: after a transaction that ended cleanly the
 *     connection goes to the cache (up to cache_reuse_limit transactions
 *     and cache_idle_time idle); the next delivery to any domain routed
 *     to the same address and port takes it when its TLS state satisfies
 *     that delivery's policy for the host (TLS required: TLS; dane or
 *     verify: authenticated under the same smtp_tlspolicy_auth_key, so
 *     the same name and, for DANE, the same records) and its AUTH state
 *     is the same.  Before reuse a non-blocking peek checks the peer has
 *     neither closed nor sent anything (a 421 on idle timeout); if it
 *     died anyway before its first reply, the transaction goes to the
 *     next connection, a fresh one at the end.
 *     A reaper thread closes connections idle too long (QUIT, a short
 *     wait for its reply).
 *   - Concurrency: at most max_connections open (idle cached ones
 *     included: the oldest idle one is closed to make room) and at most
 *     destination_concurrency deliveries to one domain (or to the relay:
 *     every domain it carries counts), like Postfix's default process
 *     and destination limits.  A delivery waits for a slot up to
 *     SMTPC_SLOT_WAIT seconds, then is deferred (4.4.5); the qmgr's own
 *     queue.max_deliveries bounds how many wait.
 *   - Loops: our names (server.hostname, helo_name) and the listening
 *     addresses serve gives, for smtp_route's rule (an MX that is us ends
 *     the list).
 *   - Shutdown: smtp_client_stop makes every wait of every delivery end
 *     at once through a pipe all polls watch; their recipients are
 *     deferred.  A message whose end was sent but whose reply had not
 *     come may then be delivered twice (see smtp_txn.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "mta/dkim_sign.h"
#include "mta/smtp_client_priv.h"

#define SMTPC_PASSWORD_MAX 1024	/* bytes of relay_password_file */

/* ---- TLS ---- */

static const char *const tls_names[] = { "none", "may", "encrypt", "verify",
	"auto", "dane", "dane-only" };

const char *
smtp_tls_mode_name(enum smtp_tls_mode m)
{
	return (size_t)m < ARRAY_SIZE(tls_names) ? tls_names[m] : "?";
}

enum smtp_tlspolicy_level
smtp_client_tls_level(enum smtp_tls_mode m)
{
	switch (m) {
	case SMTP_TLS_NONE:
		return SMTP_TLSPOLICY_LVL_NONE;
	case SMTP_TLS_MAY:
		return SMTP_TLSPOLICY_LVL_MAY;
	case SMTP_TLS_ENCRYPT:
		return SMTP_TLSPOLICY_LVL_ENCRYPT;
	case SMTP_TLS_VERIFY:
		return SMTP_TLSPOLICY_LVL_VERIFY;
	case SMTP_TLS_DANE:
		return SMTP_TLSPOLICY_LVL_DANE;
	case SMTP_TLS_DANE_ONLY:
		return SMTP_TLSPOLICY_LVL_DANE_ONLY;
	case SMTP_TLS_AUTO:
		break;
	}
	return SMTP_TLSPOLICY_AUTO;
}

void
smtp_host_tls(const struct smtp_tlspolicy_result *pol, const char *host,
    bool use_auth, struct smtp_host_tls *t)
{
	t->mode = smtp_tlspolicy_mode(pol, host);
	t->wanted = use_auth || smtp_tlspolicy_tls_wanted(pol, host);
	t->required = use_auth || smtp_tlspolicy_tls_required(pol, host);
	t->authenticated = smtp_tlspolicy_is_authenticated(pol, host);
}

/* ---- smtp_client.domains ---- */

static int
tls_mode_parse(const char *s, size_t n)
{
	for (size_t m = 0; m < ARRAY_SIZE(tls_names); m++)
		if (ascii_eq_nocase(s, n, tls_names[m]))
			return (int)m;
	return -1;
}

int
smtp_client_override_parse(const char *spec, struct smtp_client_override *o,
    struct buf *err)
{
	const char *eq = strchr(spec, '='), *p, *name;
	struct smtp_route_nexthop nh;
	bool first = true, seen_tls = false;
	size_t dlen;

	memset(o, 0, sizeof(*o));
	o->tls = -1;
	if (eq == NULL || eq == spec) {
		buf_addf(err, "\"%s\": expected DOMAIN=[NEXTHOP][,tls=MODE]"
		    "[,port=N]", spec);
		return -1;
	}
	dlen = (size_t)(eq - spec);
	name = spec[0] == '.' ? spec + 1 : spec;
	if (dlen >= sizeof(o->domain) || eq - name == 0 ||
	    !dns_is_host_name(name, (size_t)(eq - name))) {
		buf_addf(err, "\"%s\": bad domain", spec);
		return -1;
	}
	for (size_t i = 0; i < dlen; i++)
		o->domain[i] = (char)ascii_tolower((unsigned char)spec[i]);
	for (p = eq + 1;; first = false) {
		size_t n = strcspn(p, ",");
		const char *v = memchr(p, '=', n);
		uint64_t port;

		if (v == NULL && first) {
			o->has_nexthop = true;
			if (n >= sizeof(o->nexthop)) {
				buf_addf(err, "\"%s\": next hop too long",
				    spec);
				return -1;
			}
			memcpy(o->nexthop, p, n);
			if (n > 0 && smtp_route_nexthop_parse(o->nexthop, &nh,
			    err) < 0)
				return -1;
		} else if (v == NULL) {
			buf_addf(err, "\"%s\": the next hop comes first",
			    spec);
			return -1;
		} else if ((size_t)(v - p) == 3 && strncmp(p, "tls", 3) == 0 &&
		    !seen_tls) {
			o->tls = tls_mode_parse(v + 1, n - 4);
			seen_tls = true;
			if (o->tls < 0) {
				buf_addf(err, "\"%s\": tls= is auto, none, "
				    "may, encrypt, verify, dane or dane-only",
				    spec);
				return -1;
			}
		} else if ((size_t)(v - p) == 4 && strncmp(p, "port", 4) == 0 &&
		    o->port == 0) {
			if (parse_u64(v + 1, n - 5, 65535, &port) < 0 ||
			    port == 0) {
				buf_addf(err, "\"%s\": port= is 1..65535",
				    spec);
				return -1;
			}
			o->port = (unsigned)port;
		} else {
			buf_addf(err, "\"%s\": unknown or repeated option "
			    "\"%.*s\"", spec, (int)n, p);
			return -1;
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	return 0;
}

const struct smtp_client_override *
smtp_client_override_find(const struct smtp_client_override *v, size_t n,
    const char *domain)
{
	const struct smtp_client_override *best = NULL;
	size_t dlen = strlen(domain), blen = 0;

	for (size_t i = 0; i < n; i++) {
		const char *d = v[i].domain;
		size_t len = strlen(d);

		if (d[0] != '.') {
			if (strcmp(d, domain) == 0)
				return &v[i];
			continue;
		}
		if (dlen > len && strcmp(domain + dlen - len, d) == 0 &&
		    len > blen) {
			best = &v[i];
			blen = len;
		}
	}
	return best;
}

/* ---- set-up ---- */

static int
read_password(const char *path, char **pass_r, struct buf *err)
{
	char data[SMTPC_PASSWORD_MAX + 1];
	ssize_t n;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		buf_addf(err, "smtp_client.relay_password_file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	n = read(fd, data, sizeof(data) - 1);
	close(fd);
	if (n < 0) {
		buf_addf(err, "smtp_client.relay_password_file %s: %s", path,
		    strerror(errno));
		return -1;
	}
	data[n] = '\0';
	len = strcspn(data, "\r\n");
	if (len == 0) {
		buf_addf(err, "smtp_client.relay_password_file %s: no password "
		    "on its first line", path);
		return -1;
	}
	*pass_r = xmemdup0(data, len);
	OPENSSL_cleanse(data, sizeof(data));
	return 0;
}

static SSL_CTX *
client_ctx(const struct config *cfg, struct buf *err)
{
	const char *ca = cfg->smtp_client.tls_ca_file;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char text[256];

	if (ctx == NULL)
		goto fail;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
		goto fail;
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cfg->tls.ciphers[0] != '\0' &&
	    SSL_CTX_set_cipher_list(ctx, cfg->tls.ciphers) != 1)
		goto fail;
	/*
	 * the policy sets each SSL up (smtp_tlspolicy_ssl_setup: its own CA
	 * store and SSL_VERIFY_PEER where a certificate must pass); this
	 * store only tells "Trusted" from "Untrusted" in the log otherwise
	 */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (ca[0] != '\0' ? SSL_CTX_load_verify_locations(ctx, ca,
	    NULL) != 1 : SSL_CTX_set_default_verify_paths(ctx) != 1)
		goto fail;
	if (smtp_tlspolicy_ctx_init(ctx, err) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
fail:
	ERR_error_string_n(ERR_get_error(), text, sizeof(text));
	ERR_clear_error();
	buf_addf(err, "TLS client context%s%s: %s", ca[0] != '\0' ?
	    ", tls_ca_file " : "", ca, text);
	SSL_CTX_free(ctx);
	return NULL;
}

int
smtp_client_new(const struct config *cfg, struct dns *dns,
    const struct dkim_signer *signer, struct smtp_tlspolicy *tp,
    const struct netaddr *self, size_t nself, struct smtp_client **c_r,
    struct buf *err)
{
	const struct config_smtp_client *cc = &cfg->smtp_client;
	struct smtp_client *c = xcalloc(1, sizeof(*c));
	struct smtp_route_nexthop nh;
	pthread_condattr_t ca;

	*c_r = NULL;
	c->cfg = cfg;
	c->cc = cc;
	c->dns = dns;
	c->signer = signer;
	c->tp = tp;
	c->stop_pipe[0] = c->stop_pipe[1] = -1;
	pthread_mutex_init(&c->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (cc->relay[0] != '\0' && smtp_route_nexthop_parse(cc->relay, &nh,
	    err) < 0) {
		buf_add_str(err, " (smtp_client.relay)");
		goto fail;
	}
	c->ovr = xcalloc(cc->domains.n + 1, sizeof(*c->ovr));
	for (size_t i = 0; i < cc->domains.n; i++, c->novr++)
		if (smtp_client_override_parse(cc->domains.v[i],
		    &c->ovr[i], err) < 0) {
			buf_add_str(err, " (smtp_client.domains)");
			goto fail;
		}
	if (cc->relay_user[0] != '\0' && read_password(
	    cc->relay_password_file, &c->relay_pass, err) < 0)
		goto fail;
	if ((c->ssl_ctx = client_ctx(cfg, err)) == NULL)
		goto fail;
	c->self_names[0] = cfg->server.hostname;
	c->self_names[1] = cc->helo_name;
	c->self_addrs = xcalloc(nself + 1, sizeof(*c->self_addrs));
	if (nself > 0)
		memcpy(c->self_addrs, self, nself * sizeof(*self));
	c->nself_addrs = nself;
	if (pipe2(c->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		buf_addf(err, "pipe: %s", strerror(errno));
		goto fail;
	}
	if (pthread_create(&c->reaper, NULL, smtp_cache_reaper, c) != 0) {
		buf_add_str(err, "cannot start the connection cache thread");
		goto fail;
	}
	c->reaper_running = true;
	*c_r = c;
	return 0;
fail:
	smtp_client_free(&c);
	return -1;
}

void
smtp_client_stop(struct smtp_client *c)
{
	pthread_mutex_lock(&c->mu);
	if (!c->stopping) {
		c->stopping = true;
		if (c->stop_pipe[1] >= 0 && write(c->stop_pipe[1], "x", 1) < 0)
			log_error(SMTPC_SVC, "stop: %s", strerror(errno));
	}
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

void
smtp_client_free(struct smtp_client **cp)
{
	struct smtp_client *c = *cp;
	struct smtp_conn *conn;

	if (c == NULL)
		return;
	smtp_client_stop(c);
	if (c->reaper_running)
		pthread_join(c->reaper, NULL);
	while ((conn = c->cache) != NULL) {
		c->cache = conn->next;
		smtp_cache_close(c, &conn, true);
	}
	ASSERT(c->dests == NULL);
	SSL_CTX_free(c->ssl_ctx);
	if (c->relay_pass != NULL) {
		OPENSSL_cleanse(c->relay_pass, strlen(c->relay_pass));
		free(c->relay_pass);
	}
	free(c->ovr);
	free(c->self_addrs);
	for (int i = 0; i < 2; i++)
		if (c->stop_pipe[i] >= 0)
			close(c->stop_pipe[i]);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
	*cp = NULL;
}

/* ---- delivery ---- */

/* the domain of one recipient, its recipients and what they use */
struct dom_ctx {
	struct smtp_client *c;
	const struct transport_request *req;
	struct smtp_msg *msg;
	const size_t *ks;	/* indexes into req->rcpt and res */
	size_t nk;
	struct transport_result *res;
	char domain[DNS_NAME_MAX + 2];
	struct smtp_route route;
	struct smtp_tlspolicy_result pol;
	const char *nexthop;	/* the relay or the domain's; "": by MX */
	bool use_auth;
};

static void PRINTF_LIKE(4, 5)
dom_fail(struct dom_ctx *d, enum transport_status st, const char *dsn,
    const char *fmt, ...)
{
	struct buf t = BUF_INIT(0);
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(&t, fmt, ap) < 0)
		PANIC("dom_fail: format");
	va_end(ap);
	for (size_t i = 0; i < d->nk; i++)
		if (d->res[d->ks[i]].status == TRANSPORT_NONE)
			transport_result_set(&d->res[d->ks[i]], st, dsn, "%s",
			    buf_cstr(&t));
	buf_free(&t);
}

/* is_clean - an address or parameter string fit for a command line */
static bool
is_clean(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* transactions - the recipients in batches over one connection after
 * the other */
static void
transactions(struct dom_ctx *d)
{
	struct smtp_client *c = d->c;
	const struct queue_envelope *env = d->req->env;
	struct smtp_txn_rcpt *tr = xcalloc(d->nk, sizeof(*tr));
	struct smtp_conn *conn = NULL;
	struct smtp_fail f;
	size_t done = 0, n = 0;

	smtp_fail_init(&f);
	for (size_t i = 0; i < d->nk; i++) {
		const struct queue_rcpt *r =
		    &env->rcpts[d->req->rcpt[d->ks[i]]];
		struct transport_result *res = &d->res[d->ks[i]];

		if (!is_clean(r->addr) || !is_clean(r->params)) {
			transport_result_set(res, TRANSPORT_PERMFAIL, "5.1.3",
			    "bad recipient address syntax");
			continue;
		}
		tr[n++] = (struct smtp_txn_rcpt){ r->addr, r->params, res,
			false };
	}
	while (done < n) {
		size_t batch = n - done;
		struct smtp_txn t;

		if (batch > c->cc->max_recipients)
			batch = c->cc->max_recipients;
		if (conn == NULL)
			conn = smtp_cache_take(c, &d->route, &d->pol,
			    d->use_auth, d->req->queue_id);
		if (conn == NULL)
			conn = smtp_cache_open(c, &d->route, &d->pol,
			    d->use_auth, d->req->queue_id, &f);
		if (conn == NULL) {
			for (size_t i = done; i < n; i++)
				smtp_fail_apply(&f, tr[i].res);
			break;
		}
		t = (struct smtp_txn){ d->req->queue_id, env, d->msg,
			tr + done, batch };
		switch (smtp_txn_run(c, conn, &t)) {
		case SMTP_TXN_RETRY:
			/* only a reused one: each try uses up a cached
			 * connection, then a fresh one is made */
			smtp_cache_close(c, &conn, false);
			continue;
		case SMTP_TXN_BROKEN:
			smtp_cache_close(c, &conn, false);
			break;
		case SMTP_TXN_CLEAN:
			break;
		}
		done += batch;
	}
	if (conn != NULL)
		smtp_cache_put(c, conn);
	smtp_fail_free(&f);
	free(tr);
}

/* log_note - each line of the policy's note, for the postmaster */
static void
log_note(const struct dom_ctx *d)
{
	const char *p = buf_cstr(&d->pol.note);

	while (*p != '\0') {
		size_t n = strcspn(p, "\n");

		log_info(SMTPC_SVC, "%s: TLS policy of %s: %.*s",
		    d->req->queue_id, d->domain, (int)n, p);
		p += n + (p[n] != '\0');
	}
}

/*
 * tls_policy - d->pol for d's route, at the level configured for it;
 * -1: no host may be used now, the recipients are deferred (4.7.5)
 */
static int
tls_policy(struct dom_ctx *d, const struct smtp_client_override *o)
{
	struct smtp_client *c = d->c;
	enum smtp_tls_mode m = o != NULL && o->tls >= 0 ?
	    (enum smtp_tls_mode)o->tls : c->cc->tls;
	struct smtp_route_nexthop nh;
	struct buf err = BUF_INIT(0);
	unsigned flags = 0;
	int rc;

	/* AUTH only to the configured relay (never in the clear: every
	 * host requires TLS then, smtp_host_tls) */
	d->use_auth = c->relay_pass != NULL && d->route.relay &&
	    (o == NULL || !o->has_nexthop);
	/* a "[host]" next hop: DANE as for a domain without MX */
	if (d->route.relay && d->nexthop[0] != '\0' &&
	    smtp_route_nexthop_parse(d->nexthop, &nh, &err) == 0 &&
	    nh.no_mx && !nh.is_ip)
		flags |= SMTP_TLSPOLICY_F_NO_MX;
	buf_reset(&err);
	rc = smtp_tlspolicy_lookup(c->tp, d->domain, &d->route,
	    smtp_client_tls_level(m), flags, &d->pol, &err);
	log_note(d);
	if (rc < 0) {
		log_warn(SMTPC_SVC, "%s: %s; deferred", d->req->queue_id,
		    buf_cstr(&err));
		dom_fail(d, TRANSPORT_TEMPFAIL, SMTP_TLSPOLICY_DSN, "%s",
		    buf_cstr(&err));
	}
	buf_free(&err);
	return rc;
}

/* route_and_policy - d->route and d->pol; -1: the recipients failed */
static int
route_and_policy(struct dom_ctx *d, const struct smtp_client_override *o)
{
	struct smtp_client *c = d->c;
	const struct config_smtp_client *cc = c->cc;
	struct smtp_route_options ropt;
	struct buf err = BUF_INIT(0);
	int rc = -1;

	memset(&ropt, 0, sizeof(ropt));
	ropt.relay = o != NULL && o->has_nexthop ? o->nexthop : cc->relay;
	d->nexthop = ropt.relay;
	ropt.port = o != NULL && o->port != 0 ? o->port : cc->port;
	ropt.family = (enum smtp_route_family)cc->address_family;
	ropt.self_names = c->self_names;
	ropt.nself_names = ARRAY_SIZE(c->self_names);
	ropt.self_addrs = c->self_addrs;
	ropt.nself_addrs = c->nself_addrs;
	if (smtp_route_lookup(c->dns, d->domain, &ropt, &d->route,
	    &err) < 0) {
		dom_fail(d, d->route.status == SMTP_ROUTE_PERMFAIL ?
		    TRANSPORT_PERMFAIL : TRANSPORT_TEMPFAIL, d->route.dsn,
		    "%s", buf_cstr(&err));
		goto out;
	}
	rc = tls_policy(d, o);
out:
	buf_free(&err);
	return rc;
}

static void
deliver_domain(struct dom_ctx *d)
{
	struct smtp_client *c = d->c;
	const struct smtp_client_override *o;
	struct buf key = BUF_INIT(0);
	struct smtp_dest *dest;
	bool ok;

	o = smtp_client_override_find(c->ovr, c->novr, d->domain);
	if (route_and_policy(d, o) < 0)
		return;
	log_debug(SMTPC_SVC, "%s: %s: %zu host%s, first %s, TLS policy %s "
	    "(level %s), %s for it", d->req->queue_id, d->domain,
	    d->route.nhost, d->route.nhost == 1 ? "" : "s",
	    d->route.host[0].name, smtp_tlspolicy_source_name(d->pol.source),
	    smtp_tlspolicy_level_name(d->pol.level),
	    smtp_tlspolicy_mode_name(smtp_tlspolicy_mode(&d->pol,
	    d->route.host[0].name)));
	/* a next hop's deliveries count together, whatever the domain */
	if (d->route.relay)
		buf_addf(&key, "relay:%s", d->nexthop);
	else
		buf_add_str(&key, d->domain);
	dest = smtp_cache_dest_acquire(c, buf_cstr(&key), &ok);
	buf_free(&key);
	if (!ok)
		dom_fail(d, TRANSPORT_TEMPFAIL, "4.4.5", c->stopping ?
		    "delivery interrupted (shutting down)" :
		    "too many deliveries to %s at once "
		    "(smtp_client.destination_concurrency)", d->domain);
	else
		transactions(d);
	smtp_cache_dest_release(c, dest, ok);
}

/* domain_of - the lower-case domain of addr into out; false: none fits */
static bool
domain_of(const char *addr, char *out, size_t size)
{
	const char *at = strrchr(addr, '@');
	size_t n;

	if (at == NULL || at[1] == '\0' || (n = strlen(at + 1)) >= size)
		return false;
	for (size_t i = 0; i <= n; i++)
		out[i] = (char)ascii_tolower((unsigned char)at[1 + i]);
	return true;
}

/*
 * dest_key - where mail for domain goes, as a grouping key: a next hop
 * (the relay, a domain's own) with the TLS and port a domain's override
 * gives, or the domain itself for delivery by MX.  Recipients of one key
 * share a route and transactions: through a relay, several domains go
 * in one transaction, as Postfix does.
 */
static void
dest_key(const struct smtp_client *c, const char *domain, struct buf *key)
{
	const struct smtp_client_override *o = smtp_client_override_find(
	    c->ovr, c->novr, domain);
	const char *spec = o != NULL && o->has_nexthop ? o->nexthop :
	    c->cc->relay;

	if (spec[0] == '\0')
		buf_addf(key, "mx|%s", domain);
	else
		buf_addf(key, "relay|%s|%d|%u", spec, o != NULL ? o->tls : -1,
		    o != NULL ? o->port : 0);
}

static void
smtpc_deliver(void *ctx, const struct transport_request *req,
    struct transport_result *res)
{
	struct smtp_client *c = ctx;
	const struct queue_envelope *env = req->env;
	size_t *ks = xcalloc(req->nrcpt, sizeof(*ks));
	char **keys = xcalloc(req->nrcpt, sizeof(*keys));
	struct buf err = BUF_INIT(0);
	struct smtp_msg msg;

	smtp_msg_init(&msg, req->content, req->queue_id);
	/* the scan reads it all, checksum included, before any connection */
	if (smtp_msg_prepare(&msg, c->signer, &err) < 0 ||
	    smtp_msg_scan(&msg, &err) < 0) {
		for (size_t k = 0; k < req->nrcpt; k++)
			transport_result_set(&res[k], TRANSPORT_TEMPFAIL,
			    "4.3.0", "%s", buf_cstr(&err));
		goto out;
	}
	for (size_t k = 0; k < req->nrcpt; k++) {
		char dom[DNS_NAME_MAX + 2];
		struct buf key = BUF_INIT(0);

		if (!domain_of(env->rcpts[req->rcpt[k]].addr, dom,
		    sizeof(dom))) {
			transport_result_set(&res[k], TRANSPORT_PERMFAIL,
			    "5.1.2", "no domain in the recipient address");
			continue;
		}
		dest_key(c, dom, &key);
		keys[k] = buf_steal(&key, NULL);
	}
	for (size_t k = 0; k < req->nrcpt; k++) {
		struct dom_ctx d;

		if (keys[k] == NULL)
			continue;
		memset(&d, 0, sizeof(d));
		d.c = c;
		d.req = req;
		d.msg = &msg;
		d.res = res;
		d.ks = ks;
		/* the route and the TLS policy get the first one's domain */
		if (!domain_of(env->rcpts[req->rcpt[k]].addr, d.domain,
		    sizeof(d.domain)))
			PANIC("smtpc_deliver: domain_of changed its mind");
		for (size_t j = k + 1; j < req->nrcpt; j++)
			if (keys[j] != NULL && strcmp(keys[j], keys[k]) == 0) {
				ks[d.nk++] = j;
				free(keys[j]);
				keys[j] = NULL;
			}
		/* k first: the order of the recipients is kept */
		memmove(ks + 1, ks, d.nk * sizeof(*ks));
		ks[0] = k;
		d.nk++;
		free(keys[k]);
		keys[k] = NULL;
		deliver_domain(&d);
		smtp_route_free(&d.route);
		smtp_tlspolicy_result_free(&d.pol);
	}
out:
	for (size_t k = 0; k < req->nrcpt; k++)
		free(keys[k]);
	smtp_msg_free(&msg);
	buf_free(&err);
	free(ks);
	free(keys);
}

void
smtp_client_transport(struct smtp_client *c, struct transport *t)
{
	memset(t, 0, sizeof(*t));
	t->name = "smtp";
	t->idempotent = false;	/* a repeat would be a duplicate */
	/* by MX, one domain per job; through a relay, all together */
	t->per_domain = c->cc->relay[0] == '\0';
	t->ctx = c;
	t->deliver = smtpc_deliver;
}
