/*
 * smtpd_cmd.c - SMTP command handlers (RFC 5321 4.1, with RFC 1869
 * EHLO, 1870 SIZE, 2920 PIPELINING, 3030 CHUNKING, 3207 STARTTLS, 6152
 * 8BITMIME, 6531 SMTPUTF8, 2034 ENHANCEDSTATUSCODES, 3461 DSN, 4954
 * AUTH; AUTH itself is smtpd_auth.c).
 *
 * Policy lives here, grammar in smtp_parse.c: command order (503 5.5.1),
 * SIZE and recipient limits, and the relay rule - recipients only in
 * smtp.local_domains (or <Postmaster>), anything else 554 5.7.1, so
 * Postern is never an open relay - unless the session is authenticated
 * or its client is in smtp.relay_networks (relay_client, Postfix's
 * mynetworks): then any domain (an address literal stays refused).  An
 * authenticated sender must be the account's (smtpd_auth_owns; 553
 * 5.7.1, the null sender too); a relay network's client is trusted with
 * any sender, as Postfix trusts mynetworks: it is the postmaster's own
 * hosts (an application server, a printer), which have no account.  The
 * queue routes what is not local to the smtp transport by its domain,
 * whoever sent it.  On a submission server MAIL needs AUTH first (530
 * 5.7.0), relay network or not.
 *
 * DSN (RFC 3461) is offered by SMTP servers (not LMTP, which hands the
 * message on at once): RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT,
 * checked by the parser and again with queue_dsn_params_parse (what the
 * queue will read back: 501 5.5.4 when it would not take them), and
 * stored as received in the envelope's parameter strings.  MAIL's AUTH=
 * (RFC 4954 5), taken when AUTH is offered, is checked and dropped: we
 * do not pass identities on from other servers.  Parameters of
 * extensions not offered are refused (555 5.5.4).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "mta/mta_priv.h"
#include "queue/queue_dsn.h"

/* session_ext - the extensions this session advertised, for parameters */
static unsigned
session_ext(const struct smtpd_session *s)
{
	unsigned ext = SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8;

	if (!s->esmtp)
		return 0;
	if (s->srv->lmtp == NULL)
		ext |= SMTP_EXT_DSN;
	if (smtpd_auth_offered(s))
		ext |= SMTP_EXT_AUTH;
	return ext;
}

static char *
str_dup(struct smtp_str s)
{
	return xmemdup0(s.p, s.len);
}

static void
hint_error(struct smtpd_session *s, const struct smtp_reply_hint *h)
{
	smtpd_error(s, (int)h->code, h->enh, "%s", h->text);
}

void
smtpd_txn_reset(struct smtpd_session *s)
{
	struct smtpd_txn *t = &s->txn;

	smtpd_txn_free_content(s);
	for (size_t i = 0; i < t->nrcpt; i++) {
		free(t->rcpts[i].addr);
		free(t->rcpts[i].params);
	}
	t->nrcpt = 0;
	t->ndirect = 0;
	free(t->pending.addr);
	free(t->pending.params);
	t->pending.addr = t->pending.params = NULL;
	free(t->sender);
	free(t->sender_params);
	t->sender = t->sender_params = NULL;
	t->active = false;
	t->smtputf8 = false;
	t->body_8bitmime = false;
	t->size_hint = 0;
	t->bdat = false;
	t->data_started = false;
	t->bdat_left = 0;
	t->bdat_last = false;
	t->bdat_fail_code = 0;
	t->bdat_fail_text = NULL;
	t->hdr_done = false;
	t->hdr_refused = false;
	t->owned = 0;
	t->qid[0] = '\0';
	t->discard = false;
	t->faction = FILTER_CONTINUE;
	t->received_len = 0;
	if (s->fs != NULL)
		filters_txn_end(s->fs);
}

/* params_text - "KEY=VALUE KEY" as received, for the envelope; AUTH=
 * is not kept (see the top) */
static char *
params_text(const struct smtp_cmd *cmd)
{
	struct buf b = BUF_INIT(0);

	for (size_t i = 0; i < cmd->nparams; i++) {
		const struct smtp_param *p = &cmd->params[i];

		if (cmd->verb == SMTP_VERB_MAIL &&
		    ascii_eq_nocase(p->key.p, p->key.len, "AUTH"))
			continue;
		if (b.len > 0)
			buf_add(&b, " ", 1);
		buf_add(&b, p->key.p, p->key.len);
		if (p->has_value) {
			buf_add(&b, "=", 1);
			buf_add(&b, p->value.p, p->value.len);
		}
	}
	return buf_steal(&b, NULL);
}

/* dsn_check - the DSN parameters as the queue will read them back */
static bool
dsn_check(struct smtpd_session *s, const char *params, bool rcpt)
{
	struct queue_dsn_params dp;
	const char *why = NULL;

	if (queue_dsn_params_parse(params, strlen(params),
	    (rcpt ? QUEUE_DSN_PARSE_RCPT : 0) |
	    (s->txn.smtputf8 ? QUEUE_DSN_PARSE_UTF8 : 0), &dp, &why) ==
	    PARSE_OK)
		return true;
	smtpd_error(s, 501, "5.5.4", "Error: %s", why != NULL ? why :
	    "invalid DSN parameter");
	return false;
}

static void log_reject(struct smtpd_session *s, const char *stage, int code,
    const char *ecode, const char *text, const char *to);

/* filter_refused - the pipeline's 4xx/5xx for a command, logged */
static bool
filter_refused(struct smtpd_session *s, const char *stage,
    enum filter_action a, const struct filter_reply *r, const char *to)
{
	if (a != FILTER_REJECT && a != FILTER_TEMPFAIL)
		return false;
	log_reject(s, stage, r->code, r->ecode, r->text, to);
	if (to != NULL)
		smtpd_error(s, r->code, r->ecode, "<%s>: %s", to, r->text);
	else
		smtpd_error(s, r->code, r->ecode, "%s", r->text);
	return true;
}

static void
helo_reply(struct smtpd_session *s)
{
	struct evbuffer *out;
	const char *host = s->cfg->server.hostname;

	if (!s->esmtp) {
		smtpd_reply(s, 250, NULL, "%s", host);
		return;
	}
	out = bufferevent_get_output(s->bev);
	evbuffer_add_printf(out, "250-%s\r\n", host);
	evbuffer_add_printf(out, "250-PIPELINING\r\n");
	evbuffer_add_printf(out, "250-SIZE %llu\r\n",
	    (unsigned long long)s->cfg->smtp.max_message_size);
	if (s->srv->tls != NULL && s->srv->starttls && !s->tls_active)
		evbuffer_add_printf(out, "250-STARTTLS\r\n");
	if (smtpd_auth_offered(s))
		evbuffer_add_printf(out, "250-AUTH PLAIN LOGIN\r\n");
	evbuffer_add_printf(out, "250-ENHANCEDSTATUSCODES\r\n");
	evbuffer_add_printf(out, "250-8BITMIME\r\n");
	if (s->srv->lmtp == NULL)
		evbuffer_add_printf(out, "250-DSN\r\n");
	evbuffer_add_printf(out, "250-SMTPUTF8\r\n");
	evbuffer_add_printf(out, "250 CHUNKING\r\n");
}

static void
helo_work(void *arg)
{
	struct smtpd_session *s = arg;

	s->faction = filters_helo(s->fs, s->helo, &s->freply);
}

static void
helo_done(void *arg)
{
	struct smtpd_session *s = arg;

	s->busy = false;
	if (!s->dead) {
		if (filter_refused(s, s->esmtp ? "EHLO" : "HELO", s->faction,
		    &s->freply, NULL)) {
			free(s->helo);		/* HELO again, or nothing */
			s->helo = NULL;
		} else {
			helo_reply(s);
		}
	}
	smtpd_resume(s);
}

static void
cmd_helo(struct smtpd_session *s, const struct smtp_cmd *cmd, bool ehlo)
{
	free(s->helo);
	s->helo = str_dup(cmd->domain);
	s->esmtp = ehlo;
	smtpd_txn_reset(s);	/* RFC 5321 4.1.4: EHLO implies RSET */
	if (s->fs != NULL) {
		if (filters_wants(s->srv->filters, FILTER_STEP_HELO)) {
			smtpd_run_job(s, helo_work, helo_done);
			return;
		}
		(void)filters_helo(s->fs, s->helo, &s->freply);
	}
	helo_reply(s);
}

static void
log_reject(struct smtpd_session *s, const char *stage, int code,
    const char *ecode, const char *text, const char *to)
{
	log_info(SMTPD_SVC, "%s: reject: %s from unknown[%s]: %d %s %s; "
	    "from=<%s>%s%s%s proto=%s helo=<%s>",
	    s->txn.qid[0] != '\0' ? s->txn.qid : "NOQUEUE", stage, s->ip,
	    code, ecode, text, s->txn.sender != NULL ? s->txn.sender : "",
	    to != NULL ? " to=<" : "", to != NULL ? to : "",
	    to != NULL ? ">" : "", s->esmtp ? "ESMTP" : "SMTP",
	    s->helo != NULL ? s->helo : "");
}

static void
mail_work(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_txn *t = &s->txn;
	struct buf err = BUF_INIT(0);

	t->owned = 1;
	s->faction = FILTER_CONTINUE;
	if (s->auth_user != NULL) {
		t->owned = smtpd_auth_owns(s, t->sender, &err);
		if (t->owned < 0)
			(void)snprintf(t->job_error, sizeof(t->job_error),
			    "%s", buf_cstr(&err));
	}
	buf_free(&err);
	if (t->owned == 1 && s->fs != NULL)
		s->faction = filters_mail(s->fs, t->qid, t->sender,
		    &s->freply);
}

/* not_owned - 553 for a sender the account may not use */
static void
not_owned(struct smtpd_session *s, const char *addr)
{
	char text[200];

	(void)snprintf(text, sizeof(text), "Sender address rejected: not "
	    "owned by user %s", s->auth_user);
	log_reject(s, "MAIL", 553, "5.7.1", text, NULL);
	smtpd_error(s, 553, "5.7.1", "<%s>: %s", addr, text);
}

static void
mail_done(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_txn *t = &s->txn;

	s->busy = false;
	if (s->dead) {
		smtpd_resume(s);
		return;
	}
	if (t->owned == 0) {
		not_owned(s, t->sender);
		smtpd_txn_reset(s);
	} else if (t->owned < 0) {
		log_error(SMTPD_SVC, "%s: sender check <%s>: %s", t->qid,
		    t->sender, t->job_error);
		smtpd_error(s, 451, "4.3.0", "<%s>: Temporary lookup failure",
		    t->sender);
		smtpd_txn_reset(s);
	} else if (filter_refused(s, "MAIL", s->faction, &s->freply, NULL)) {
		smtpd_txn_reset(s);
	} else {
		smtpd_reply(s, 250, "2.1.0", "Ok");
	}
	smtpd_resume(s);
}

static void
cmd_mail(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_mail_params mp;
	struct smtp_reply_hint h;
	struct smtpd_txn *t = &s->txn;
	unsigned ext = session_ext(s);
	char *params;

	if (s->helo == NULL) {
		smtpd_error(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (t->active) {
		smtpd_error(s, 503, "5.5.1", "Error: nested MAIL command");
		return;
	}
	if (s->srv->submission && s->auth_user == NULL) {
		smtpd_error(s, 530, "5.7.0", "Authentication required");
		return;
	}
	if (smtp_mail_params_parse(cmd, ext, &mp, &h) != PARSE_OK) {
		hint_error(s, &h);
		return;
	}
	if (mp.has_size && mp.size > s->cfg->smtp.max_message_size) {
		smtpd_error(s, 552, "5.3.4", "Message size exceeds fixed "
		    "limit");
		return;
	}
	if (s->auth_user != NULL && cmd->path.is_null) {
		not_owned(s, "");
		return;
	}
	t->smtputf8 = mp.smtputf8;	/* for dsn_check */
	params = params_text(cmd);
	if (!dsn_check(s, params, false)) {
		t->smtputf8 = false;
		free(params);
		return;
	}
	t->active = true;
	t->sender = str_dup(cmd->path.mailbox);
	t->sender_params = params;
	t->body_8bitmime = mp.body == SMTP_BODY_8BITMIME;
	t->size_hint = mp.has_size ? mp.size : 0;
	queue_id_new(t->qid);
	if (s->auth_user != NULL) {
		log_info(SMTPD_SVC, "%s: client=unknown[%s]:%u, "
		    "sasl_method=%s, sasl_username=%s", t->qid, s->ip,
		    s->port, s->auth_mech, s->auth_user);
		/* the sender check is a directory lookup: a job */
		smtpd_run_job(s, mail_work, mail_done);
		return;
	}
	log_info(SMTPD_SVC, "%s: client=unknown[%s]:%u", t->qid, s->ip,
	    s->port);
	if (s->fs != NULL) {
		if (filters_wants(s->srv->filters, FILTER_STEP_MAIL)) {
			smtpd_run_job(s, mail_work, mail_done);
			return;
		}
		(void)filters_mail(s->fs, t->qid, t->sender, &s->freply);
	}
	smtpd_reply(s, 250, "2.1.0", "Ok");
}

/* is_local_domain - ASCII case-insensitive match against local_domains */
static bool
is_local_domain(const struct config *cfg, struct smtp_str d)
{
	for (size_t i = 0; i < cfg->smtp.local_domains.n; i++) {
		const char *ld = cfg->smtp.local_domains.v[i];

		if (ascii_eq_nocase(d.p, d.len, ld))
			return true;
	}
	return false;
}

/* may_relay - recipients of any domain are taken from this session */
static bool
may_relay(const struct smtpd_session *s)
{
	return s->auth_user != NULL || s->relay_client;
}

/* rcpt_add - the recipient is accepted: into the transaction */
static void
rcpt_add(struct smtpd_session *s, char *addr, char *params)
{
	struct smtpd_txn *t = &s->txn;

	if (t->nrcpt == t->rcpt_cap) {
		t->rcpt_cap = t->rcpt_cap == 0 ? 4 : t->rcpt_cap * 2;
		t->rcpts = xreallocarray(t->rcpts, t->rcpt_cap,
		    sizeof(*t->rcpts));
	}
	t->rcpts[t->nrcpt].addr = addr;
	t->rcpts[t->nrcpt].params = params;
	t->nrcpt++;
	smtpd_reply(s, 250, "2.1.5", "Ok");
}

static void
rcpt_check_work(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_txn *t = &s->txn;

	t->verdict = s->srv->rcpt_check == NULL ? SMTPD_RCPT_OK :
	    s->srv->rcpt_check(s->srv->rcpt_arg, t->pending.addr,
	    t->size_hint);
	/* an authenticated or relay-network client relays: not ours is
	 * not refused */
	if (t->verdict == SMTPD_RCPT_RELAY_DENIED && may_relay(s))
		t->verdict = SMTPD_RCPT_OK;
	t->faction = FILTER_CONTINUE;
	if (t->verdict == SMTPD_RCPT_OK && s->fs != NULL)
		t->faction = filters_rcpt(s->fs, t->pending.addr, &t->freply);
}

static void
rcpt_check_done(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_txn *t = &s->txn;
	char *addr = t->pending.addr, *params = t->pending.params;
	int code = 0;
	const char *ecode = NULL, *text = NULL;

	s->busy = false;
	t->pending.addr = t->pending.params = NULL;
	switch (t->verdict) {
	case SMTPD_RCPT_OK:
		if (filter_refused(s, "RCPT", t->faction, &t->freply, addr))
			break;
		rcpt_add(s, addr, params);
		addr = params = NULL;
		break;
	case SMTPD_RCPT_RELAY_DENIED:
		code = 554, ecode = "5.7.1", text = "Relay access denied";
		break;
	case SMTPD_RCPT_UNKNOWN:
		code = 550, ecode = "5.1.1", text = "Recipient address "
		    "rejected: User unknown in local recipient table";
		break;
	case SMTPD_RCPT_OVER_QUOTA:
		code = 452, ecode = "4.2.2", text = "Mailbox full";
		break;
	case SMTPD_RCPT_TEMPFAIL:
		code = 451, ecode = "4.3.0", text = "Temporary lookup failure";
		break;
	}
	if (code != 0) {
		log_reject(s, "RCPT", code, ecode, text, addr);
		smtpd_error(s, code, ecode, "<%s>: %s", addr, text);
	}
	free(addr);
	free(params);
	smtpd_resume(s);
}

static void
cmd_rcpt(struct smtpd_session *s, const struct smtp_cmd *cmd)
{
	struct smtp_rcpt_params rp;
	struct smtp_reply_hint h;
	struct smtpd_txn *t = &s->txn;
	char *addr, *params;

	if (!t->active) {
		smtpd_error(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (smtp_rcpt_params_parse(cmd, session_ext(s), t->smtputf8, &rp,
	    &h) != PARSE_OK) {
		hint_error(s, &h);
		return;
	}
	if (t->nrcpt >= s->cfg->smtp.max_recipients) {
		smtpd_error(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	params = params_text(cmd);
	if (!dsn_check(s, params, true)) {
		free(params);
		return;
	}
	addr = str_dup(cmd->path.mailbox);
	if (cmd->path.is_literal && !cmd->path.is_postmaster) {
		log_reject(s, "RCPT", 554, "5.7.1", "Relay access denied", addr);
		smtpd_error(s, 554, "5.7.1", "<%s>: Relay access denied", addr);
		free(addr);
		free(params);
		return;
	}
	/* <Postmaster> without a domain is always taken (RFC 5321 4.5.1) */
	if (cmd->path.is_postmaster) {
		rcpt_add(s, addr, params);
		return;
	}
	if (s->srv->rcpt_check == NULL && !may_relay(s) &&
	    !is_local_domain(s->cfg, cmd->path.domain)) {
		log_reject(s, "RCPT", 554, "5.7.1", "Relay access denied", addr);
		smtpd_error(s, 554, "5.7.1", "<%s>: Relay access denied", addr);
		free(addr);
		free(params);
		return;
	}
	if (s->srv->rcpt_check != NULL || (s->fs != NULL &&
	    filters_wants(s->srv->filters, FILTER_STEP_RCPT))) {
		t->pending.addr = addr;
		t->pending.params = params;
		smtpd_run_job(s, rcpt_check_work, rcpt_check_done);
		return;
	}
	if (s->fs != NULL)
		(void)filters_rcpt(s->fs, addr, &t->freply);
	rcpt_add(s, addr, params);
}

static void
cmd_data(struct smtpd_session *s)
{
	struct smtpd_txn *t = &s->txn;

	if (!t->active) {
		smtpd_error(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (t->bdat) {
		smtpd_error(s, 503, "5.5.1", "Error: DATA after BDAT");
		return;
	}
	if (t->nrcpt == 0) {
		smtpd_error(s, 554, "5.5.1", "Error: no valid recipients");
		return;
	}
	smtpd_data_begin(s);
	smtpd_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

static void
cmd_help(struct smtpd_session *s)
{
	smtpd_reply(s, 214, "2.0.0", "Commands: EHLO HELO AUTH MAIL RCPT "
	    "DATA BDAT RSET NOOP QUIT VRFY HELP STARTTLS; see RFC 5321");
}

void
smtpd_command(struct smtpd_session *s, const char *line, size_t len)
{
	struct smtp_cmd cmd;
	struct smtp_reply_hint h;

	s->n_cmds++;
	if (smtp_cmd_parse(line, len, &cmd, &h) != PARSE_OK) {
		if (h.code == 500)
			s->n_unknown++;
		hint_error(s, &h);
		return;
	}
	switch (cmd.verb) {
	case SMTP_VERB_EHLO:
	case SMTP_VERB_HELO:
		if (s->srv->lmtp != NULL) {
			/* RFC 2033 4.1: only LHLO */
			smtpd_error(s, 500, "5.5.1", "Error: this is LMTP: "
			    "send LHLO");
			break;
		}
		if (cmd.verb == SMTP_VERB_EHLO)
			s->n_ehlo++;
		else
			s->n_helo++;
		cmd_helo(s, &cmd, cmd.verb == SMTP_VERB_EHLO);
		break;
	case SMTP_VERB_LHLO:
		if (s->srv->lmtp == NULL) {
			s->n_unknown++;
			smtpd_error(s, 500, "5.5.2", "Error: command not "
			    "recognized");
			break;
		}
		s->n_ehlo++;
		cmd_helo(s, &cmd, true);
		break;
	case SMTP_VERB_MAIL:
		s->n_mail++;
		cmd_mail(s, &cmd);
		break;
	case SMTP_VERB_RCPT:
		s->n_rcpt++;
		cmd_rcpt(s, &cmd);
		break;
	case SMTP_VERB_DATA:
		s->n_data++;
		cmd_data(s);
		break;
	case SMTP_VERB_BDAT:
		s->n_bdat++;
		smtpd_bdat_begin(s, cmd.bdat_size, cmd.bdat_last);
		break;
	case SMTP_VERB_RSET:
		s->n_rset++;
		smtpd_txn_reset(s);
		smtpd_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_VERB_NOOP:
		s->n_noop++;
		smtpd_reply(s, 250, "2.0.0", "Ok");
		break;
	case SMTP_VERB_QUIT:
		s->n_quit++;
		smtpd_reply(s, 221, "2.0.0", "Bye");
		smtpd_close(s);
		break;
	case SMTP_VERB_VRFY:
		/* RFC 5321 3.5.3: 252, we neither confirm nor deny */
		s->n_vrfy++;
		smtpd_reply(s, 252, "2.0.0", "Cannot VRFY user, but will "
		    "accept message and attempt delivery");
		break;
	case SMTP_VERB_EXPN:
		smtpd_error(s, 502, "5.5.1", "Error: command not implemented");
		break;
	case SMTP_VERB_HELP:
		s->n_help++;
		cmd_help(s);
		break;
	case SMTP_VERB_STARTTLS:
		s->n_starttls++;
		if (s->srv->tls == NULL || !s->srv->starttls)
			smtpd_error(s, 502, "5.5.1", "Error: command not "
			    "implemented");
		else if (s->tls_active)
			smtpd_error(s, 503, "5.5.1", "Error: TLS already active");
		else if (s->auth_user != NULL)
			/* what was authenticated in the clear stays so */
			smtpd_error(s, 503, "5.5.1", "Error: STARTTLS after "
			    "AUTH");
		else
			smtpd_starttls(s);
		break;
	case SMTP_VERB_AUTH:
		s->n_auth++;
		smtpd_auth_command(s, &cmd);
		break;
	case SMTP_VERB_UNKNOWN:
		s->n_unknown++;
		smtpd_error(s, 500, "5.5.2", "Error: command not recognized");
		break;
	}
}
