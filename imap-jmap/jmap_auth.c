/*
 * jmap_auth.c - HTTP Basic authentication (RFC 7617) of JMAP requests
 * against the directory, with the failed-login accounting that SMTP AUTH
 * and IMAP share (common/auth_throttle.h), and a short-lived cache of
 * checked passwords.
 *
 * Where: over HTTPS, or over plain HTTP from a loopback client with
 * auth.plaintext_loopback (tests), the rule of IMAP and submission;
 * elsewhere 403 before any credentials are looked at.  A request
 * without credentials (or with another scheme: bearer tokens are not
 * offered) gets 401 and the challenge, uncounted.  A wrong user or
 * password gets 401 too, counted per client IP and per account name
 * tried, and may be held back on a timer (the verdict's delay); an IP
 * over auth.max_failures_per_ip gets 429 with Retry-After for
 * auth.block_time, every request, cached credentials or not.  Password
 * checks run on the checks pool, bounded by auth.max_checks and
 * auth.max_check_wait across every server (503 and Retry-After at once
 * past them).
 *
 * The cache: JMAP clients send their password with every request, and a
 * deliberately slow hash (Argon2id) per request would make every call
 * cost a third of a second.  A successful check is remembered for
 * jmap.auth_cache_ttl under HMAC-SHA256(process key, lower(user) NUL
 * password) - never the password - in a direct-mapped table of
 * AUTH_CACHE_SLOTS entries (a collision only costs a check).  Only an
 * exact (user, password) pair that passed is accepted from it.
 * XXX a password change or a deleted account takes up to the TTL to
 * bite: the directory has no change notification to flush it with.
 *
 * The password is wiped once checked and never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/sasl.h"
#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

#define AUTH_CACHE_SLOTS 4096
#define CHALLENGE "Basic realm=\"Postern JMAP\", charset=\"UTF-8\""

struct cache_entry {
	unsigned char digest[32];
	uint64_t expires_us;		/* 0: empty */
	uint32_t acct;
	char name[DIR_NAME_MAX + 1];
};

struct jmap_auth_cache {
	pthread_mutex_t mu;
	uint64_t ttl_us;
	unsigned char key[32];
	struct cache_entry *slots;
};

struct jmap_auth_cache *
jmap_auth_cache_new(unsigned ttl)
{
	struct jmap_auth_cache *c = xcalloc(1, sizeof(*c));

	pthread_mutex_init(&c->mu, NULL);
	c->ttl_us = (uint64_t)ttl * 1000000;
	if (RAND_bytes(c->key, sizeof(c->key)) != 1)
		PANIC("RAND_bytes failed");
	c->slots = xcalloc(AUTH_CACHE_SLOTS, sizeof(*c->slots));
	return c;
}

void
jmap_auth_cache_free(struct jmap_auth_cache **cp)
{
	struct jmap_auth_cache *c = *cp;

	if (c == NULL)
		return;
	explicit_bzero(c->slots, AUTH_CACHE_SLOTS * sizeof(*c->slots));
	explicit_bzero(c->key, sizeof(c->key));
	free(c->slots);
	pthread_mutex_destroy(&c->mu);
	free(c);
	*cp = NULL;
}

static struct cache_entry *
slot_of(struct jmap_auth_cache *c, const unsigned char digest[32])
{
	uint32_t h;

	memcpy(&h, digest, sizeof(h));
	return &c->slots[h % AUTH_CACHE_SLOTS];
}

/* cache_get - 1 with the account when d passed within the TTL */
static int
cache_get(struct jmap_auth_cache *c, const unsigned char d[32],
    uint32_t *acct_r, char **name_r)
{
	struct cache_entry *e;
	int found = 0;

	if (c->ttl_us == 0)
		return 0;
	pthread_mutex_lock(&c->mu);
	e = slot_of(c, d);
	if (e->expires_us > clock_mono_us() && ct_equal(e->digest, d, 32)) {
		*acct_r = e->acct;
		*name_r = xstrdup(e->name);
		found = 1;
	}
	pthread_mutex_unlock(&c->mu);
	return found;
}

static void
cache_put(struct jmap_auth_cache *c, const unsigned char d[32], uint32_t acct,
    const char *name)
{
	struct cache_entry *e;

	if (c->ttl_us == 0 || strlen(name) > DIR_NAME_MAX)
		return;
	pthread_mutex_lock(&c->mu);
	e = slot_of(c, d);
	memcpy(e->digest, d, 32);
	e->acct = acct;
	(void)snprintf(e->name, sizeof(e->name), "%s", name);
	e->expires_us = clock_mono_us() + c->ttl_us;
	pthread_mutex_unlock(&c->mu);
}

void
jmap_auth_wipe(struct jmap_req *r)
{
	sasl_wipe(&r->user);
	sasl_wipe(&r->key);
	sasl_wipe(&r->pass);
	explicit_bzero(r->digest, sizeof(r->digest));
}

static void
challenge(struct jmap_req *r, const char *why)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "WWW-Authenticate", CHALLENGE);
	jmap_reply_error(r, 401, why);
}

static void
retry_after(struct jmap_req *r, unsigned secs)
{
	char v[16];

	(void)snprintf(v, sizeof(v), "%u", secs);
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Retry-After", v);
}

/* refuse_blocked - an IP blocked for its failures: 429 */
static bool
refuse_blocked(struct jmap_req *r)
{
	unsigned left;

	if (r->srv->throttle == NULL)
		return false;
	left = auth_throttle_blocked(r->srv->throttle, r->ip,
	    clock_mono_us());
	if (left == 0)
		return false;
	log_warn(JMAP_SVC, "%s: [%s]: login refused: blocked for %us more "
	    "after too many failed logins", r->id, r->ip, left);
	retry_after(r, left);
	jmap_reply_error(r, 429, "Too many failed logins; try again later");
	return true;
}

static void
count_failure(struct jmap_req *r)
{
	struct auth_throttle_verdict v;
	char user[4 * 64 + 1];

	memset(&v, 0, sizeof(v));
	if (r->srv->throttle != NULL)
		auth_throttle_fail(r->srv->throttle, r->ip, buf_cstr(&r->key),
		    clock_mono_us(), &v);
	sasl_printable(&r->user, user, sizeof(user));
	log_warn(JMAP_SVC, "%s: [%s]: Basic authentication failed: "
	    "user=<%s>, failures=%u from this address, %u for this user, "
	    "reply delayed %u ms", r->id, r->ip, user, v.ip_failures,
	    v.account_failures, v.delay_ms);
	if (v.blocked)
		log_warn(JMAP_SVC, "%s: [%s]: blocked from login for %us after "
		    "%u failed logins", r->id, r->ip,
		    r->srv->cfg->auth.block_time, v.ip_failures);
	r->verdict = v;
}

static void
fail_reply(struct jmap_req *r)
{
	if (r->verdict.blocked) {
		retry_after(r, r->srv->cfg->auth.block_time);
		jmap_reply_error(r, 429, "Too many failed logins; try again "
		    "later");
		return;
	}
	challenge(r, "Authentication failed");
}

static void
delay_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	fail_reply(arg);
}

/* answer - a counted failure: now, or after the verdict's delay */
static void
answer(struct jmap_req *r)
{
	unsigned ms = r->verdict.delay_ms;

	if (ms > 0) {
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

		r->timer = evtimer_new(loop_base(r->fr->loop), delay_done, r);
		evtimer_add(r->timer, &tv);
		return;
	}
	fail_reply(r);
}

static void
auth_work(void *arg)
{
	struct jmap_req *r = arg;
	struct jmap_server *s = r->srv;
	struct buf err = BUF_INIT(0);
	struct dir_account a;
	uint64_t began = clock_mono_us();
	uint32_t id = 0;
	int rc;

	rc = dir_authenticate(s->env.dir, buf_cstr(&r->user),
	    (const char *)r->pass.data, r->pass.len, &id, &err);
	sasl_wipe(&r->pass);
	if (rc == 1) {
		memset(&a, 0, sizeof(a));
		if (dir_user_get_id(s->env.dir, id, &a, &err) == 1)
			r->username = xstrdup(a.name);
		else
			rc = -1;
		dir_account_clear(&a);
	}
	/* the mailboxes a client expects, on first login */
	if (rc == 1 && mail_ensure_defaults(s->env.st->mail, id, &err) < 0)
		rc = -1;
	if (rc < 0)
		(void)snprintf(r->error, sizeof(r->error), "%s",
		    err.len > 0 ? buf_cstr(&err) : "account vanished");
	r->auth_result = rc;
	r->acct = id;
	buf_free(&err);
	if (s->throttle != NULL)
		auth_throttle_check_end(s->throttle, clock_mono_us() - began);
	if (rc == 0)
		count_failure(r);
}

static void
authenticated(struct jmap_req *r)
{
	jmap_id_make('A', r->acct, r->account_id);
	jmap_auth_wipe(r);
	r->authed(r);
}

static void
auth_done(void *arg)
{
	struct jmap_req *r = arg;
	struct jmap_server *s = r->srv;

	if (r->auth_result == 1) {
		cache_put(s->auth_cache, r->digest, r->acct, r->username);
		if (s->throttle != NULL)
			auth_throttle_success(s->throttle, buf_cstr(&r->key),
			    clock_mono_us());
		log_info(JMAP_SVC, "%s: login: user=<%s>, method=Basic, rip=%s%s",
		    r->id, r->username, r->ip, r->fr->tls ? ", TLS" : "");
		authenticated(r);
	} else if (r->auth_result == 0) {
		answer(r);
	} else {
		log_error(JMAP_SVC, "%s: [%s]: Basic authentication: %s", r->id,
		    r->ip, r->error);
		retry_after(r, 5);
		jmap_reply_error(r, 503, "Temporary authentication failure");
	}
}

static bool
login_allowed(const struct jmap_req *r)
{
	return r->fr->tls || (r->loopback &&
	    r->srv->cfg->auth.plaintext_loopback);
}

static void
make_digest(struct jmap_req *r)
{
	struct buf in = BUF_INIT(0);
	unsigned len = 0;

	buf_add(&in, r->key.data, r->key.len);
	buf_add(&in, "", 1);
	buf_add(&in, r->pass.data, r->pass.len);
	if (HMAC(EVP_sha256(), r->srv->auth_cache->key,
	    sizeof(r->srv->auth_cache->key), in.data, in.len, r->digest,
	    &len) == NULL || len != sizeof(r->digest))
		PANIC("HMAC-SHA256 failed");
	sasl_wipe(&in);
}

void
jmap_auth(struct jmap_req *r)
{
	struct jmap_server *s = r->srv;
	const char *h = evhttp_find_header(
	    evhttp_request_get_input_headers(r->req), "Authorization");
	struct buf dec = BUF_INIT(SASL_USER_MAX + 1 + SASL_PASS_MAX);
	const unsigned char *colon;
	size_t ulen;

	if (!login_allowed(r)) {
		jmap_reply_error(r, 403, "Use HTTPS: logins over plain HTTP "
		    "are for loopback tests only");
		return;
	}
	if (h == NULL || ascii_strncasecmp(h, "Basic ", 6) != 0) {
		challenge(r, "Authentication required");
		return;
	}
	for (h += 6; *h == ' '; h++)
		;
	if (sasl_b64_decode(h, strlen(h), &dec) < 0 ||
	    (colon = memchr(dec.data, ':', dec.len)) == NULL) {
		sasl_wipe(&dec);
		challenge(r, "Malformed Basic credentials");
		return;
	}
	if (refuse_blocked(r)) {
		sasl_wipe(&dec);
		return;
	}
	ulen = (size_t)(colon - dec.data);
	buf_reset(&r->user);
	buf_reset(&r->key);
	buf_add(&r->user, dec.data, ulen);
	for (size_t i = 0; i < ulen; i++) {
		unsigned char c = (unsigned char)ascii_tolower(dec.data[i]);

		buf_add(&r->key, &c, 1);
	}
	buf_reset(&r->pass);
	buf_add(&r->pass, colon + 1, dec.len - ulen - 1);
	sasl_wipe(&dec);
	if (!sasl_user_is_valid((const char *)r->user.data, r->user.len) ||
	    r->pass.len == 0 || r->pass.len > SASL_PASS_MAX ||
	    memchr(r->pass.data, '\0', r->pass.len) != NULL) {
		count_failure(r);	/* no account has such a name */
		answer(r);
		return;
	}
	make_digest(r);
	if (cache_get(s->auth_cache, r->digest, &r->acct, &r->username)) {
		authenticated(r);
		return;
	}
	if (s->throttle != NULL && !auth_throttle_check_begin(s->throttle)) {
		log_warn(JMAP_SVC, "%s: [%s]: Basic authentication not tried: "
		    "password checks under way up to auth.max_checks (%u) or "
		    "auth.max_check_wait (%us)", r->id, r->ip,
		    s->cfg->auth.max_checks, s->cfg->auth.max_check_wait);
		retry_after(r, 1);
		jmap_reply_error(r, 503, "Server busy, try again later");
		return;
	}
	jmap_run_job(r, s->auth_jobs, auth_work, auth_done);
}
