/*
 * smtpd_auth.c - SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) and LOGIN,
 * against the directory, and the sender rule of authenticated sessions.
 *
 * Where: AUTH is offered by a server given a directory (smtpd_set_auth:
 * submission always, port 25 with smtp.auth), and only under TLS, or
 * from a loopback client with auth.plaintext_loopback (tests); without
 * TLS the command gets 538 5.7.11 and EHLO does not show it.  AUTH needs
 * EHLO, comes once (503 5.5.1 again), never inside a transaction (503),
 * and STARTTLS after it is refused (smtpd_cmd.c).
 *
 * The exchange: PLAIN with an initial response (RFC 4954 4, "=" for an
 * empty one) or after "334 " (an empty challenge); LOGIN after "334
 * VXNlcm5hbWU6" and "334 UGFzc3dvcmQ6" (an initial response is taken as
 * the user name, as Postfix does).  "*" cancels (501 5.0.0), a response
 * that is not canonical base64 is 501 5.5.2, a line over
 * SMTP_SASL_LINE_MAX 500 5.5.6, a PLAIN message without its two NULs 501
 * 5.5.2.  A PLAIN authzid must be empty or the authcid (any case): we do
 * not let one account act as another (535 5.7.8).  Success is 235 2.7.0;
 * a wrong user or password 535 5.7.8, the same reply and about the same
 * time whichever it was (dir_authenticate); a directory failure 454
 * 4.7.0.  The password check runs as a job on the server's auth_jobs, a
 * small pool of its own (smtpd_set_auth): an Argon2id check takes about
 * 0.3 s and 64 MiB, and on the pool that writes the spool and checks
 * recipients 100 guessing clients held a port-25 message up for 57 s.
 * Checks queue across the servers up to auth.max_checks and a wait of
 * auth.max_check_wait (auth_throttle_check_begin); past that AUTH gets
 * 454 4.7.0 at once, uncounted, so the wait of a real user stays
 * bounded too.  The
 * password is wiped when the job is done and never logged, nor is any
 * response line.
 *
 * Failures are counted per client IP and per account name tried in the
 * server's struct auth_throttle (policy: common/auth_throttle.h): the
 * reply to a failure may be held back on a timer of the session's loop
 * (the session reads nothing meanwhile), and an IP over
 * auth.max_failures_per_ip gets 421 4.7.0 and is disconnected, now and
 * for auth.block_time at its every AUTH, with no password check.  Each
 * failure is logged with both counts; a block once.
 *
 * Once authenticated, the session is trusted by the pipeline
 * (filters_session_auth: inbound checks skipped), may relay to any
 * domain (smtpd_cmd.c), and may use as sender (MAIL FROM, the From:
 * addresses) only what smtpd_auth_owns accepts: the account's address,
 * its sub-addresses, aliases that reach it (not a domain's catch-all),
 * and auth.sender_wildcards; else 553 5.7.1.  The null sender is refused
 * to authenticated sessions: a user's mail program sends no bounces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "common/sasl.h"
#include "common/sender_wildcard.h"
#include "common/xalloc.h"
#include "mta/mta_priv.h"

/* base64 of "Username:" and "Password:", the customary LOGIN prompts */
#define LOGIN_USER_PROMPT "VXNlcm5hbWU6"
#define LOGIN_PASS_PROMPT "UGFzc3dvcmQ6"

/* sasl_reset - back to reading commands; secrets wiped */
static void
sasl_reset(struct smtpd_session *s)
{
	struct smtpd_sasl *a = &s->sasl;

	a->step = SMTPD_SASL_NONE;
	sasl_wipe(&a->user);
	sasl_wipe(&a->key);
	sasl_wipe(&a->pass);
	free(a->account);
	a->account = NULL;
	a->blocked = false;
	a->result = 0;
	if (s->state == SMTPD_AUTH)
		s->state = SMTPD_CMD;
}

void
smtpd_auth_free(struct smtpd_session *s)
{
	if (s->sasl.timer != NULL) {
		event_free(s->sasl.timer);
		s->sasl.timer = NULL;
	}
	sasl_reset(s);
}

bool
smtpd_auth_offered(const struct smtpd_session *s)
{
	return s->srv->dir != NULL && (s->tls_active ||
	    (s->loopback && s->cfg->auth.plaintext_loopback));
}

/* refuse_blocked - an IP blocked for its failures: 421 and close */
static bool
refuse_blocked(struct smtpd_session *s)
{
	unsigned left;

	if (s->srv->throttle == NULL)
		return false;
	left = auth_throttle_blocked(s->srv->throttle, s->ip, clock_mono_us());
	if (left == 0)
		return false;
	log_warn(SMTPD_SVC, "unknown[%s]: AUTH refused: blocked for %us more "
	    "after too many failed authentications", s->ip, left);
	sasl_reset(s);
	smtpd_reply(s, 421, "4.7.0", "%s Error: too many failed "
	    "authentications; try again later", s->cfg->server.hostname);
	smtpd_close(s);
	return true;
}

/* fail_reply - the 535, and the 421 of a block */
static void
fail_reply(struct smtpd_session *s)
{
	bool blocked = s->sasl.blocked;

	sasl_reset(s);
	smtpd_error(s, 535, "5.7.8", "Error: authentication failed");
	if (blocked && !s->closing) {
		smtpd_reply(s, 421, "4.7.0", "%s Error: too many failed "
		    "authentications; try again later",
		    s->cfg->server.hostname);
		smtpd_close(s);
	}
}

static void
delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;

	(void)fd;
	(void)what;
	s->busy = false;
	if (!s->dead)
		fail_reply(s);
	smtpd_resume(s);
}

/* count_failure - into the throttle, and the log line */
static void
count_failure(struct smtpd_session *s, struct auth_throttle_verdict *v_r)
{
	struct smtpd_sasl *a = &s->sasl;
	struct auth_throttle_verdict v;
	char user[4 * 64 + 1];

	memset(&v, 0, sizeof(v));
	if (s->srv->throttle != NULL)
		auth_throttle_fail(s->srv->throttle, s->ip, buf_cstr(&a->key),
		    clock_mono_us(), &v);
	sasl_printable(&a->user, user, sizeof(user));
	log_warn(SMTPD_SVC, "unknown[%s]: SASL %s authentication failed: "
	    "user=<%s>, failures=%u from this address, %u for this user, "
	    "reply delayed %u ms", s->ip, smtp_sasl_mech_name(a->mech), user,
	    v.ip_failures, v.account_failures, v.delay_ms);
	if (v.blocked)
		log_warn(SMTPD_SVC, "unknown[%s]: blocked from AUTH for %us "
		    "after %u failed authentications", s->ip,
		    s->cfg->auth.block_time, v.ip_failures);
	*v_r = v;
}

/*
 * failed - count the failure; answer now, or hold the answer (busy, a
 * timer resumes the session: the caller must not)
 */
static void
failed(struct smtpd_session *s)
{
	struct smtpd_sasl *a = &s->sasl;
	struct auth_throttle_verdict v;

	count_failure(s, &v);
	a->blocked = v.blocked;
	if (v.delay_ms > 0) {
		struct timeval tv = { v.delay_ms / 1000,
		    (v.delay_ms % 1000) * 1000 };

		if (a->timer == NULL)
			a->timer = evtimer_new(loop_base(s->loop), delay_done,
			    s);
		s->busy = true;
		evtimer_add(a->timer, &tv);
		return;
	}
	fail_reply(s);
}

static void
auth_work(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_sasl *a = &s->sasl;
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
		if (dir_user_get_id(s->srv->dir, id, &acct, &err) == 1)
			a->account = xstrdup(acct.name);
		else
			r = -1;
		dir_account_clear(&acct);
	}
	if (r < 0)
		(void)snprintf(a->error, sizeof(a->error), "%s",
		    err.len > 0 ? buf_cstr(&err) : "account vanished");
	a->result = r;
	a->id = id;
	a->check_us = clock_mono_us() - began;
	buf_free(&err);
}

static void
succeeded(struct smtpd_session *s)
{
	struct smtpd_sasl *a = &s->sasl;

	if (s->srv->throttle != NULL)
		auth_throttle_success(s->srv->throttle, buf_cstr(&a->key),
		    clock_mono_us());
	s->auth_user = a->account;
	a->account = NULL;
	s->auth_id = a->id;
	s->auth_mech = smtp_sasl_mech_name(a->mech);
	log_info(SMTPD_SVC, "unknown[%s]: SASL %s authentication succeeded: "
	    "user=<%s>", s->ip, s->auth_mech, s->auth_user);
	if (s->fs != NULL) {
		filters_session_auth(s->fs, s->auth_user);
		/* trusted now: no stage may have anything left to do */
		if (!filters_session_has_work(s->fs))
			filters_session_free(&s->fs);
	}
	sasl_reset(s);
	smtpd_reply(s, 235, "2.7.0", "Authentication successful");
}

static void
auth_done(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_sasl *a = &s->sasl;

	s->busy = false;
	if (s->srv->throttle != NULL)
		auth_throttle_check_end(s->srv->throttle, a->check_us);
	if (s->dead) {
		struct auth_throttle_verdict v;

		/* a guess counts even if its client did not wait for 535 */
		if (a->result == 0)
			count_failure(s, &v);
		smtpd_resume(s);	/* frees it */
		return;
	}
	if (a->result == 1) {
		succeeded(s);
	} else if (a->result == 0) {
		failed(s);
		if (s->busy)
			return;		/* the timer resumes */
	} else {
		log_error(SMTPD_SVC, "unknown[%s]: SASL %s authentication: "
		    "directory: %s", s->ip, smtp_sasl_mech_name(a->mech),
		    a->error);
		sasl_reset(s);
		smtpd_error(s, 454, "4.7.0", "Temporary authentication "
		    "failure");
	}
	smtpd_resume(s);
}

/* verify - the credentials are in: check them in a job */
static void
verify(struct smtpd_session *s, const char *user, size_t ulen,
    const unsigned char *pass, size_t plen)
{
	struct smtpd_sasl *a = &s->sasl;

	s->state = SMTPD_CMD;
	a->step = SMTPD_SASL_NONE;
	if (refuse_blocked(s))
		return;
	buf_reset(&a->user);
	buf_reset(&a->key);
	buf_add(&a->user, user, ulen);
	for (size_t i = 0; i < ulen; i++) {
		char c = (char)ascii_tolower((unsigned char)user[i]);

		buf_add(&a->key, &c, 1);
	}
	if (!smtp_sasl_user_is_valid(user, ulen)) {
		failed(s);	/* no account has such a name */
		return;
	}
	if (s->srv->throttle != NULL &&
	    !auth_throttle_check_begin(s->srv->throttle)) {
		log_warn(SMTPD_SVC, "unknown[%s]: SASL %s authentication not "
		    "tried: password checks under way up to auth.max_checks "
		    "(%u) or auth.max_check_wait (%us)", s->ip,
		    smtp_sasl_mech_name(a->mech), s->cfg->auth.max_checks,
		    s->cfg->auth.max_check_wait);
		sasl_reset(s);
		smtpd_error(s, 454, "4.7.0", "Temporary authentication "
		    "failure: server busy, try again later");
		return;
	}
	buf_reset(&a->pass);
	buf_add(&a->pass, pass, plen);
	smtpd_run_job_on(s, s->srv->auth_jobs, auth_work, auth_done);
}

/* response - one base64 response (initial or after a 334) */
static void
response(struct smtpd_session *s, const char *b64, size_t len)
{
	struct smtpd_sasl *a = &s->sasl;
	struct buf dec = BUF_INIT(SMTP_SASL_LINE_MAX);
	struct smtp_sasl_plain pl;

	if (smtp_sasl_b64_decode(b64, len, &dec) < 0) {
		sasl_reset(s);
		smtpd_error(s, 501, "5.5.2", "Error: cannot decode response");
		return;
	}
	switch (a->step) {
	case SMTPD_SASL_PLAIN:
		if (smtp_sasl_plain_parse(dec.data, dec.len, &pl) !=
		    PARSE_OK) {
			sasl_reset(s);
			smtpd_error(s, 501, "5.5.2", "Error: malformed PLAIN "
			    "response");
			break;
		}
		if (pl.authzid.len > 0 && (pl.authzid.len != pl.authcid.len ||
		    ascii_strncasecmp(pl.authzid.p, pl.authcid.p,
		    pl.authcid.len) != 0)) {
			log_warn(SMTPD_SVC, "unknown[%s]: SASL PLAIN: "
			    "authorization identity differs from the "
			    "authentication identity: refused", s->ip);
			sasl_reset(s);
			smtpd_error(s, 535, "5.7.8", "Error: authentication "
			    "failed");
			break;
		}
		verify(s, pl.authcid.p, pl.authcid.len,
		    (const unsigned char *)pl.passwd.p, pl.passwd.len);
		break;
	case SMTPD_SASL_LOGIN_USER:
		if (dec.len > SMTP_SASL_USER_MAX) {
			sasl_reset(s);
			smtpd_error(s, 501, "5.5.2", "Error: user name too "
			    "long");
			break;
		}
		buf_reset(&a->user);
		buf_add(&a->user, dec.data, dec.len);
		a->step = SMTPD_SASL_LOGIN_PASS;
		s->state = SMTPD_AUTH;
		smtpd_reply(s, 334, NULL, LOGIN_PASS_PROMPT);
		break;
	case SMTPD_SASL_LOGIN_PASS: {
		struct buf user = BUF_INIT(0);

		if (dec.len > SMTP_SASL_PASS_MAX) {
			sasl_reset(s);
			smtpd_error(s, 501, "5.5.2", "Error: password too "
			    "long");
			break;
		}
		/* verify() refills a->user from its argument */
		buf_add(&user, a->user.data, a->user.len);
		verify(s, (const char *)user.data, user.len, dec.data,
		    dec.len);
		buf_free(&user);
		break;
	}
	case SMTPD_SASL_NONE:
		PANIC("smtpd: SASL response without an exchange");
	}
	sasl_wipe(&dec);
}

void
smtpd_auth_response(struct smtpd_session *s, const char *line, size_t len)
{
	if (line == NULL) {
		sasl_reset(s);
		smtpd_error(s, 501, "5.5.2", "Error: bare <LF> in response");
		return;
	}
	if (smtp_sasl_is_cancel(line, len)) {
		sasl_reset(s);
		smtpd_error(s, 501, "5.0.0", "Authentication aborted");
		return;
	}
	response(s, line, len);
}

void
smtpd_auth_line_too_long(struct smtpd_session *s)
{
	sasl_reset(s);
	s->state = SMTPD_SKIP;	/* the rest of the line is discarded */
	smtpd_error(s, 500, "5.5.6", "Authentication Exchange line is too "
	    "long");
}

void
smtpd_auth_command(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	struct smtpd_sasl *a = &s->sasl;
	struct smtp_sasl_start st;
	struct smtp_reply_hint h;

	if (s->srv->dir == NULL) {
		smtpd_error(s, 503, "5.5.1", "Error: authentication not "
		    "enabled");
		return;
	}
	if (!s->esmtp) {
		smtpd_error(s, 503, "5.5.1", "Error: send EHLO first");
		return;
	}
	if (s->auth_user != NULL) {
		smtpd_error(s, 503, "5.5.1", "Error: already authenticated");
		return;
	}
	if (s->txn.active) {
		smtpd_error(s, 503, "5.5.1", "Error: MAIL transaction in "
		    "progress");
		return;
	}
	if (!smtpd_auth_offered(s)) {
		smtpd_error(s, 538, "5.7.11", "Encryption required for "
		    "requested authentication mechanism");
		return;
	}
	if (refuse_blocked(s))
		return;
	if (smtp_sasl_start_parse(cmd->arg.p, cmd->arg.len, &st, &h) !=
	    PARSE_OK) {
		smtpd_error(s, (int)h.code, h.enh, "%s", h.text);
		return;
	}
	a->mech = st.mech;
	a->step = st.mech == SMTP_SASL_PLAIN ? SMTPD_SASL_PLAIN :
	    SMTPD_SASL_LOGIN_USER;
	if (st.has_ir) {
		response(s, st.ir.p, st.ir.len);
		return;
	}
	s->state = SMTPD_AUTH;
	if (st.mech == SMTP_SASL_PLAIN)
		smtpd_reply(s, 334, NULL, "%s", "");
	else
		smtpd_reply(s, 334, NULL, LOGIN_USER_PROMPT);
}

int
smtpd_auth_owns(struct smtpd_session *s, const char *addr, struct buf *err)
{
	ASSERT(s->auth_user != NULL);
	if (sender_wildcard_match(&s->cfg->auth.sender_wildcards,
	    s->auth_user, addr))
		return 1;
	return dir_owns(s->srv->dir, s->auth_id, addr, err);
}
