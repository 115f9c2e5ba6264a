/*
 * imap_auth.c - LOGIN (RFC 9051 6.2.3) and AUTHENTICATE (6.2.2) with
 * PLAIN (RFC 4616) and LOGIN, SASL-IR (RFC 4959), against the directory,
 * with the failed-login accounting shared with SMTP AUTH.
 *
 * Where: only under TLS, or from a loopback client with
 * auth.plaintext_loopback (tests), the rule and key of SMTP submission;
 * elsewhere CAPABILITY shows LOGINDISABLED and no AUTH=, and LOGIN or
 * AUTHENTICATE get NO [PRIVACYREQUIRED].
 *
 * The exchange: PLAIN with an initial response or after "+ "; LOGIN
 * after "+ VXNlcm5hbWU6" and "+ UGFzc3dvcmQ6" (an initial response is
 * the user name).  "*" cancels (BAD), a response that is not canonical
 * base64 is BAD (the parser checks it), a PLAIN message without its two
 * NULs BAD.  A PLAIN authzid must be empty or the authcid (any case): no
 * account acts as another.  A wrong user or password is NO
 * [AUTHENTICATIONFAILED], the same answer and about the same time
 * whichever it was (dir_authenticate); a directory failure NO
 * [UNAVAILABLE].  The check runs on the password-check pool
 * (imap_server_set_jobs), bounded across servers by auth.max_checks and
 * auth.max_check_wait (NO [UNAVAILABLE] at once past them).  The password is wiped when the job is
 * done and never logged.
 *
 * Failures are counted per client IP and account name tried in the
 * shared struct auth_throttle (policy: common/auth_throttle.h): the NO
 * may be held back on a timer (the session reads nothing meanwhile), and
 * an IP over auth.max_failures_per_ip gets BYE, now and for
 * auth.block_time at its every login, with no password check.  Each
 * failure is logged with both counts; a block once.
 *
 * On success: the account's default mailboxes are made if missing
 * (mail_ensure_defaults), the parser gets the authenticated limits
 * (imap.max_line, imap.max_append_size), and the session is listed for
 * change notifications.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/sasl.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

/* base64 of "Username:" and "Password:", the customary LOGIN prompts */
#define LOGIN_USER_PROMPT "VXNlcm5hbWU6"
#define LOGIN_PASS_PROMPT "UGFzc3dvcmQ6"

/* sasl_reset - the attempt is over; secrets wiped */
static void
sasl_reset(struct imap_session *s)
{
	struct imap_authn *a = &s->sasl;

	a->step = IMAP_SASL_NONE;
	sasl_wipe(&a->user);
	sasl_wipe(&a->key);
	sasl_wipe(&a->pass);
	free(a->account);
	a->account = NULL;
	a->blocked = false;
	a->result = 0;
	if (s->cont == IMAP_CONT_SASL)
		s->cont = IMAP_CONT_NONE;
}

void
imap_auth_free(struct imap_session *s)
{
	if (s->sasl.timer != NULL) {
		event_free(s->sasl.timer);
		s->sasl.timer = NULL;
	}
	sasl_reset(s);
}

bool
imap_login_allowed(const struct imap_session *s)
{
	return s->srv->dir != NULL && (s->tls ||
	    (s->loopback && s->cfg->auth.plaintext_loopback));
}

static void
bye_blocked(struct imap_session *s)
{
	imap_untagged(s, "BYE Too many failed logins; try again later");
	s->want_close = true;
}

/* refuse_blocked - an IP blocked for its failures: NO, BYE */
static bool
refuse_blocked(struct imap_session *s)
{
	unsigned left;

	if (s->srv->throttle == NULL)
		return false;
	left = auth_throttle_blocked(s->srv->throttle, s->ip, clock_mono_us());
	if (left == 0)
		return false;
	log_warn(IMAP_SVC, "%s: [%s]: login refused: blocked for %us more "
	    "after too many failed logins", s->id, s->ip, left);
	sasl_reset(s);
	imap_tagged(s, "NO", "[UNAVAILABLE] Too many failed logins");
	bye_blocked(s);
	return true;
}

static void
fail_reply(struct imap_session *s)
{
	bool blocked = s->sasl.blocked;

	sasl_reset(s);
	imap_tagged(s, "NO", "[AUTHENTICATIONFAILED] Authentication failed.");
	if (blocked)
		bye_blocked(s);
}

static void
delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct imap_session *s = arg;

	(void)fd;
	(void)what;
	s->busy = false;
	if (!s->dead) {
		fail_reply(s);
		imap_flush(s);
		imap_cmd_finish(s);
	}
	imap_resume(s);
}

/* count_failure - into the throttle, and the log line */
static void
count_failure(struct imap_session *s, struct auth_throttle_verdict *v_r)
{
	struct imap_authn *a = &s->sasl;
	struct auth_throttle_verdict v;
	char user[4 * 64 + 1];

	memset(&v, 0, sizeof(v));
	if (s->srv->throttle != NULL)
		auth_throttle_fail(s->srv->throttle, s->ip, buf_cstr(&a->key),
		    clock_mono_us(), &v);
	sasl_printable(&a->user, user, sizeof(user));
	log_warn(IMAP_SVC, "%s: [%s]: %s authentication failed: user=<%s>, "
	    "failures=%u from this address, %u for this user, reply delayed "
	    "%u ms", s->id, s->ip, a->method, user, v.ip_failures,
	    v.account_failures, v.delay_ms);
	if (v.blocked)
		log_warn(IMAP_SVC, "%s: [%s]: blocked from login for %us after "
		    "%u failed logins", s->id, s->ip, s->cfg->auth.block_time,
		    v.ip_failures);
	*v_r = v;
}

/* answer - a counted failure: answer now, or hold it on a timer (busy) */
static void
answer(struct imap_session *s, const struct auth_throttle_verdict *v)
{
	struct imap_authn *a = &s->sasl;

	a->blocked = v->blocked;
	if (v->delay_ms > 0) {
		struct timeval tv = { v->delay_ms / 1000,
		    (v->delay_ms % 1000) * 1000 };

		if (a->timer == NULL)
			a->timer = evtimer_new(loop_base(s->loop), delay_done,
			    s);
		s->busy = true;
		evtimer_add(a->timer, &tv);
		return;
	}
	fail_reply(s);
}

/* failed - a failure found on the loop (no password check ran) */
static void
failed(struct imap_session *s)
{
	struct auth_throttle_verdict v;

	count_failure(s, &v);
	answer(s, &v);
}

/*
 * auth_work - the check, and the accounting that must happen whether or
 * not the client waits for the answer: the check slot is given back and
 * a refused guess counted here, so a client that hangs up after its
 * guess gains nothing
 */
static void
auth_work(struct imap_session *s)
{
	struct imap_authn *a = &s->sasl;
	struct buf err = BUF_INIT(0);
	struct dir_account acct;
	uint64_t began = clock_mono_us();
	uint32_t id = 0;
	int r;

	r = dir_authenticate(s->srv->dir, buf_cstr(&a->user),
	    (const char *)a->pass.data, a->pass.len, &id, &err);
	sasl_wipe(&a->pass);
	if (r == 1) {
		memset(&acct, 0, sizeof(acct));
		if (dir_user_get_id(s->srv->dir, id, &acct, &err) == 1) {
			a->account = xstrdup(acct.name);
			s->quota = acct.quota;
		} else {
			r = -1;
		}
		dir_account_clear(&acct);
	}
	/* the mailboxes a client expects, on first login */
	if (r == 1 && mail_ensure_defaults(s->srv->st->mail, id, &err) < 0)
		r = -1;
	if (r < 0)
		(void)snprintf(a->error, sizeof(a->error), "%s",
		    err.len > 0 ? buf_cstr(&err) : "account vanished");
	a->result = r;
	a->id = id;
	buf_free(&err);
	if (s->srv->throttle != NULL)
		auth_throttle_check_end(s->srv->throttle, clock_mono_us() -
		    began);
	if (r == 0)
		count_failure(s, &a->verdict);
}

static void
succeeded(struct imap_session *s)
{
	struct imap_authn *a = &s->sasl;
	struct imap_limits lim;

	if (s->srv->throttle != NULL)
		auth_throttle_success(s->srv->throttle, buf_cstr(&a->key),
		    clock_mono_us());
	s->user = a->account;
	a->account = NULL;
	s->acct = a->id;
	s->state = IMAP_S_AUTH;
	log_info(IMAP_SVC, "%s: login: user=<%s>, method=%s, rip=%s%s", s->id,
	    s->user, a->method, s->ip, s->tls ? ", TLS" : "");
	imap_limits_default(&lim, true);
	lim.max_line = (size_t)s->cfg->imap.max_line;
	lim.max_append = s->cfg->imap.max_append_size;
	imap_parser_set_limits(s->parser, &lim);
	imap_watch(s);
	sasl_reset(s);
	buf_add_str(&s->out, s->cmd->tag.p);
	buf_add_str(&s->out, " OK [CAPABILITY ");
	imap_capabilities(s, &s->out);
	buf_add_str(&s->out, "] Logged in\r\n");
	s->nbad = 0;
	imap_set_timeouts(s);
}

static void
auth_done(struct imap_session *s)
{
	struct imap_authn *a = &s->sasl;

	if (a->result == 1) {
		succeeded(s);
	} else if (a->result == 0) {
		answer(s, &a->verdict);
	} else {
		log_error(IMAP_SVC, "%s: [%s]: %s authentication: %s", s->id,
		    s->ip, a->method, a->error);
		sasl_reset(s);
		imap_tagged(s, "NO", "[UNAVAILABLE] Temporary authentication "
		    "failure");
	}
}

/* verify - the credentials are in: check them in a job */
static void
verify(struct imap_session *s, const char *user, size_t ulen,
    const unsigned char *pass, size_t plen)
{
	struct imap_authn *a = &s->sasl;

	a->step = IMAP_SASL_NONE;
	s->cont = IMAP_CONT_NONE;
	if (refuse_blocked(s))
		return;
	buf_reset(&a->user);
	buf_reset(&a->key);
	buf_add(&a->user, user, ulen);
	for (size_t i = 0; i < ulen; i++) {
		char c = (char)ascii_tolower((unsigned char)user[i]);

		buf_add(&a->key, &c, 1);
	}
	if (!sasl_user_is_valid(user, ulen) || plen == 0 ||
	    plen > SASL_PASS_MAX) {
		failed(s);	/* no account has such a name or password */
		return;
	}
	if (s->srv->throttle != NULL &&
	    !auth_throttle_check_begin(s->srv->throttle)) {
		log_warn(IMAP_SVC, "%s: [%s]: %s authentication not tried: "
		    "password checks under way up to auth.max_checks (%u) or "
		    "auth.max_check_wait (%us)", s->id, s->ip, a->method,
		    s->cfg->auth.max_checks, s->cfg->auth.max_check_wait);
		sasl_reset(s);
		imap_tagged(s, "NO", "[UNAVAILABLE] Server busy, try again "
		    "later");
		return;
	}
	buf_reset(&a->pass);
	buf_add(&a->pass, pass, plen);
	imap_run_job(s, s->srv->auth_jobs, auth_work, auth_done);
}

static bool
refuse_plaintext(struct imap_session *s)
{
	if (s->srv->dir == NULL) {
		imap_tagged(s, "NO", "[UNAVAILABLE] Login is not enabled");
		return true;
	}
	if (imap_login_allowed(s))
		return false;
	imap_tagged(s, "NO", "[PRIVACYREQUIRED] Use STARTTLS or port 993 "
	    "first");
	return true;
}

void
imap_cmd_login(struct imap_session *s)
{
	const struct imap_login *l = &s->cmd->u.login;

	s->sasl.method = "LOGIN";
	if (refuse_plaintext(s))
		return;
	verify(s, l->user.p, l->user.len, (const unsigned char *)l->pass.p,
	    l->pass.len);
}

/* response - one decoded SASL response (initial or after a "+") */
static void
response(struct imap_session *s, const unsigned char *d, size_t len)
{
	struct imap_authn *a = &s->sasl;
	struct sasl_plain pl;

	switch (a->step) {
	case IMAP_SASL_PLAIN:
		if (sasl_plain_parse(d, len, &pl) != PARSE_OK) {
			sasl_reset(s);
			imap_bad(s, "Malformed PLAIN response");
			return;
		}
		if (pl.authzid.len > 0 && (pl.authzid.len != pl.authcid.len ||
		    ascii_strncasecmp(pl.authzid.p, pl.authcid.p,
		    pl.authcid.len) != 0)) {
			log_warn(IMAP_SVC, "%s: [%s]: PLAIN: authorization "
			    "identity differs from the authentication "
			    "identity: refused", s->id, s->ip);
			sasl_reset(s);
			imap_tagged(s, "NO", "[AUTHORIZATIONFAILED] Cannot "
			    "act as another user");
			return;
		}
		verify(s, pl.authcid.p, pl.authcid.len,
		    (const unsigned char *)pl.passwd.p, pl.passwd.len);
		return;
	case IMAP_SASL_LOGIN_USER:
		if (len > SASL_USER_MAX) {
			sasl_reset(s);
			imap_bad(s, "User name too long");
			return;
		}
		buf_reset(&a->user);
		buf_add(&a->user, d, len);
		a->step = IMAP_SASL_LOGIN_PASS;
		s->cont = IMAP_CONT_SASL;
		imap_parser_expect(s->parser, IMAP_EXPECT_SASL);
		buf_add_str(&s->out, "+ " LOGIN_PASS_PROMPT "\r\n");
		return;
	case IMAP_SASL_LOGIN_PASS: {
		struct buf user = BUF_INIT(0);

		/* verify() refills a->user from its argument */
		buf_add(&user, a->user.data, a->user.len);
		verify(s, (const char *)user.data, user.len, d, len);
		sasl_wipe(&user);
		return;
	}
	case IMAP_SASL_NONE:
		break;
	}
	PANIC("imap: SASL response without an exchange");
}

/* decode_response - base64 (checked by the parser) to octets */
static void
decode_response(struct imap_session *s, const char *b64, size_t len)
{
	struct buf dec = BUF_INIT(SASL_USER_MAX * 2 + SASL_PASS_MAX + 4);

	if (sasl_b64_decode(b64, len, &dec) < 0) {
		sasl_reset(s);
		imap_bad(s, "Invalid base64 or response too long");
	} else {
		response(s, dec.data != NULL ? dec.data :
		    (const unsigned char *)"", dec.len);
	}
	sasl_wipe(&dec);
}

void
imap_cmd_authenticate(struct imap_session *s)
{
	const struct imap_auth *au = &s->cmd->u.auth;
	struct imap_authn *a = &s->sasl;

	if (ascii_eq_nocase(au->mech.p, au->mech.len, "PLAIN")) {
		a->method = "PLAIN";
		a->step = IMAP_SASL_PLAIN;
	} else if (ascii_eq_nocase(au->mech.p, au->mech.len, "LOGIN")) {
		a->method = "LOGIN";
		a->step = IMAP_SASL_LOGIN_USER;
	} else {
		imap_tagged(s, "NO", "Unsupported authentication mechanism");
		return;
	}
	if (refuse_plaintext(s) || refuse_blocked(s)) {
		sasl_reset(s);
		return;
	}
	if (au->has_ir) {
		decode_response(s, au->ir.p, au->ir.len);
		return;
	}
	s->cont = IMAP_CONT_SASL;
	imap_parser_expect(s->parser, IMAP_EXPECT_SASL);
	buf_add_str(&s->out, a->step == IMAP_SASL_PLAIN ? "+ \r\n" :
	    "+ " LOGIN_USER_PROMPT "\r\n");
}

void
imap_auth_response(struct imap_session *s, struct imap_cmd *line)
{
	const struct imap_sasl *l = &line->u.sasl;

	s->cont = IMAP_CONT_NONE;
	if (l->cancel) {
		sasl_reset(s);
		imap_bad(s, "Authentication cancelled");
	} else {
		decode_response(s, l->data.p, l->data.len);
	}
	if (!s->busy && s->cont == IMAP_CONT_NONE)
		imap_cmd_finish(s);
}

void
imap_auth_abort(struct imap_session *s, const char *why)
{
	sasl_reset(s);
	imap_bad(s, "%s", why);
	imap_cmd_finish(s);
}
