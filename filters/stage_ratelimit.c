/*
 * stage_ratelimit.c - message rate limits (the "ratelimit" stage): at
 * MAIL, each transaction counts one message against the client IP
 * (ratelimit.per_ip; not for trusted clients: trusted networks,
 * authenticated ones) and against the authenticated user
 * (ratelimit.per_sender, submission).  A count over its limit refuses the
 * transaction with 450 4.7.1 until the window turns.  0 turns a limit
 * off.  The stage is not inbound_only, since per_sender is about trusted
 * (authenticated) clients; it tells the two cases apart itself.
 *
 * Fixed windows: the window index floor(now / ratelimit.window) is part
 * of the key, so a new window is a new counter (the logic needs no TTL;
 * the TTL, one window, only cleans up), counted with one atomic
 * lookup_incr each:
 *
 *   rate:ip:<window>:<ip>       "192.0.2.1", "2001:db8::1"
 *   rate:user:<window>:<user>   the login, lowercased
 *
 * Burst: windows are aligned to the clock, not to the client, so a
 * client may send its limit at the end of one window and again at the
 * start of the next: up to twice the limit within a short time, never
 * more than the limit within one window.  A refused MAIL still counts
 * (the counter is incremented before it is compared), so a client that
 * keeps trying stays refused until the window turns.
 *
 * A lookup-store failure is FILTER_ERROR: the failure policy applies (by
 * default a tempfail at MAIL).  Refusals are logged.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "filters/filters.h"
#include "lookup/lookup.h"

#define RATE_SVC "ratelimit"
#define RATE_USER_MAX 256	/* longer logins are hashed in the key */

/* user_key - the login lowercased, or '#' and its SHA-256 when long */
static void
user_key(struct buf *b, const char *user)
{
	size_t n = strlen(user);

	if (n > RATE_USER_MAX) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;

		if (EVP_Digest(user, n, md, &mdlen, EVP_sha256(), NULL) != 1)
			PANIC("ratelimit: SHA-256 failed");
		buf_add_str(b, "#");
		for (unsigned i = 0; i < mdlen; i++)
			buf_addf(b, "%02x", md[i]);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char c = (char)ascii_tolower((unsigned char)user[i]);

		buf_add(b, &c, 1);
	}
}

/*
 * count - add the message to the counter at key; 1 when that takes it
 * over limit, 0 when not, -1 on a store error (logged)
 */
static int
count(const struct filter_env *rl, const struct filter_msg *m,
    const struct buf *key, unsigned limit, int64_t *n_r)
{
	struct buf err = BUF_INIT(0);
	int rc;

	rc = lookup_incr(rl->lookup, key->data, key->len, 1,
	    rl->cfg->ratelimit.window, n_r, &err);
	if (rc < 0)
		log_warn(RATE_SVC, "%s: client=%s: lookup store: %s",
		    m->qid[0] != '\0' ? m->qid : "NOQUEUE", m->conn->ip,
		    buf_cstr(&err));
	buf_free(&err);
	if (rc < 0)
		return -1;
	return *n_r > (int64_t)limit ? 1 : 0;
}

static enum filter_action
ratelimit_mail(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct filter_env *rl = state;
	const struct config_ratelimit *rc = &rl->cfg->ratelimit;
	const struct filter_conn *c = m->conn;
	long long window = filter_now(m) / (int64_t)rc->window;
	struct buf key = BUF_INIT(0);
	enum filter_action a = FILTER_CONTINUE;
	const char *what = NULL;
	unsigned limit = 0;
	int64_t n = 0;
	int over = 0;

	if (rc->per_ip > 0 && !c->trusted) {
		buf_addf(&key, "rate:ip:%lld:%s", window, c->ip);
		if ((over = count(rl, m, &key, rc->per_ip, &n)) > 0) {
			what = "client";
			limit = rc->per_ip;
		}
	}
	if (over == 0 && rc->per_sender > 0 && c->auth_user != NULL) {
		buf_reset(&key);
		buf_addf(&key, "rate:user:%lld:", window);
		user_key(&key, c->auth_user);
		if ((over = count(rl, m, &key, rc->per_sender, &n)) > 0) {
			what = "sender";
			limit = rc->per_sender;
		}
	}
	if (over < 0) {
		a = FILTER_ERROR;
	} else if (over > 0) {
		log_info(RATE_SVC, "%s: action=defer, client=%s, sasl_username="
		    "%s, from=<%s>, limit=%s, count=%lld/%u per %us",
		    m->qid[0] != '\0' ? m->qid : "NOQUEUE", c->ip,
		    c->auth_user != NULL ? c->auth_user : "",
		    m->sender != NULL ? m->sender : "", what, (long long)n,
		    limit, rc->window);
		filter_reply_set(r, 450, "4.7.1", "Rate limit exceeded, try "
		    "again later");
		a = FILTER_TEMPFAIL;
	}
	buf_free(&key);
	return a;
}

const struct filter_stage_ops filter_stage_ratelimit = {
	.name = "ratelimit",
	.inbound_only = false,
	.needs_lookup = true,
	.mail = ratelimit_mail,
};
