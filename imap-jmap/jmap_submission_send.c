/*
 * jmap_submission_send.c - EmailSubmission/set create (RFC 8621 7.5):
 * the checks, the envelope, and the hand-off to the queue as SMTP
 * submission does it.
 *
 * Checks, in this order, each the SetError of the RFC:
 *   invalidProperties   unknown or server-set properties, an identityId
 *                       or emailId that names nothing, a malformed
 *                       envelope or ESMTP parameter we do not take
 *   tooLarge            the email is over smtp.max_message_size (the
 *                       submission server's SIZE), maxSize says it
 *   invalidEmail        no From, several From fields, a From or Sender
 *                       that is no address list, several From addresses
 *                       and no Sender (RFC 5322 3.6.2), and when the
 *                       envelope is derived, a To/Cc/Bcc that is none
 *   forbiddenFrom       a From address the account may not use
 *                       (jmap_may_send_as: the 553 5.7.1 rule of SMTP
 *                       submission)
 *   forbiddenMailFrom   the envelope sender, by the same rule; the null
 *                       sender too (a user sends no bounces)
 *   noRecipients, invalidRecipients (each address that is not one bare
 *                       addr-spec), tooManyRecipients (over
 *                       smtp.max_recipients, maxRecipients says it)
 *   forbiddenToSend     jmap.submission is false (or the server has
 *                       no queue: unit tests)
 *   rateLimit           ratelimit.per_sender submissions in the window,
 *                       when the ratelimit stage is on (as SMTP
 *                       submission counts them; the counts are kept
 *                       apart: 'J' acct 'r', since the lookup store is
 *                       not ours to reach)
 * A derived envelope (RFC 8621 7): mailFrom the Sender address, else the
 * one From address; rcptTo To, Cc and Bcc, each address once (compared
 * case-insensitively).  A given envelope's rcptTo is taken once per
 * address too, so deliveryStatus has one entry for each.  ESMTP
 * parameters: RET, ENVID, BODY, SMTPUTF8 and SIZE on mailFrom, NOTIFY
 * and ORCPT on rcptTo (checked by queue_dsn_params_parse), what the
 * queue and the SMTP client carry; the capability advertises the same.
 *
 * The message sent is the email's raw message with a Received field of
 * ours on top, Date and Message-ID added when missing (RFC 6409 8, as
 * the submission listener does), and every Bcc field removed (RFC 8621
 * 7.5 MUST).  It is spooled with its envelope (auth_user the login, so
 * the queue's log and DSNs read as for SMTP submission) and group
 * committed; once durable the queue manager is told, and the local and
 * SMTP transports deliver it (the SMTP client DKIM-signs mail of our
 * domains at delivery).  Only then is the EmailSubmission record written:
 * a store failure after the commit is a serverFail for a message that
 * goes (logged with its queue ID), never a record of mail that does not.
 *
 * undoStatus is always "final": the queue cannot take a message back
 * once committed (a delivery may already be running), so there is no
 * "pending" and maxDelayedSend is 0.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/rfc5322.h"
#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"
#include "queue/queue.h"
#include "queue/queue_dsn.h"

#define SUB_PARAM_MAX 600u	/* octets of one ESMTP parameter value */

/* what one create works on */
struct send {
	struct jmap_call *c;
	json_t *identity;		/* the Identity as /get shows it */
	struct mail_email em;
	struct buf msg;			/* the raw message */
	size_t hlen;			/* its header section */
	bool derived;			/* the envelope was not given */
	json_t *envelope;		/* as stored and returned */
	/* the envelope for the queue */
	const char *mail_from;		/* in envelope */
	struct buf mail_params;
	struct queue_rcpt *rcpts;	/* addr in envelope, params owned */
	size_t nrcpt;
	char qid[QUEUE_ID_SIZE];
};

static void
send_clear(struct send *s)
{
	json_decref(s->identity);
	json_decref(s->envelope);
	mail_email_clear(&s->em);
	buf_free(&s->msg);
	buf_free(&s->mail_params);
	for (size_t i = 0; i < s->nrcpt; i++)
		free((char *)s->rcpts[i].params);
	free(s->rcpts);
}

/* ---- the header ---- */

/*
 * field_addrs - the addresses of every field called name into out (each
 * NUL-ended), their number into *n_r and the fields' into *nfields_r;
 * -1 when one field is no address list
 */
static int
field_addrs(const struct send *s, const char *name, struct buf *out,
    size_t *n_r, size_t *nfields_r)
{
	struct rfc5322_field f;
	size_t off = 0, n;

	*n_r = *nfields_r = 0;
	while (rfc5322_header_next(s->msg.data, s->hlen, &off, &f)) {
		if (!ascii_eq_nocase(f.name, f.name_len, name))
			continue;
		(*nfields_r)++;
		if (rfc5322_addresses(f.value, f.value_len, out, &n) < 0)
			return -1;
		*n_r += n;
	}
	return 0;
}

static json_t *
invalid_email(const char *prop, const char *why)
{
	json_t *e = jmap_set_error("invalidEmail", "%s", why);

	json_object_set_new(e, "properties", json_pack("[s]", prop));
	return e;
}

/* check_from - From and Sender; the envelope sender they give into
 * *sender_r (in out); NULL or a SetError */
static json_t *
check_from(struct send *s, struct buf *from, struct buf *sender,
    const char **sender_r, struct buf *err, int *fail_r)
{
	size_t nfrom, nff, nsnd, nsf;
	const char *a;
	int r;

	*fail_r = 0;
	if (field_addrs(s, "From", from, &nfrom, &nff) < 0)
		return invalid_email("from", "the From field is no address "
		    "list");
	if (nff == 0 || nfrom == 0)
		return invalid_email("from", "the email has no From address");
	if (nff > 1)
		return invalid_email("from", "the email has several From "
		    "fields");
	if (field_addrs(s, "Sender", sender, &nsnd, &nsf) < 0 ||
	    nsf > 1 || (nsf == 1 && nsnd != 1))
		return invalid_email("sender", "the Sender field is not one "
		    "address");
	if (nfrom > 1 && nsf == 0)
		return invalid_email("sender", "several From addresses need "
		    "a Sender (RFC 5322 3.6.2)");
	a = (const char *)from->data;
	for (size_t i = 0; i < nfrom; i++, a += strlen(a) + 1) {
		if ((r = jmap_may_send_as(s->c, a, err)) < 0) {
			*fail_r = -1;
			return NULL;
		}
		if (r == 0)
			return jmap_set_error("forbiddenFrom", "From: <%.200s> "
			    "is not an address of %.200s", a,
			    s->c->ctx->username);
	}
	*sender_r = nsf == 1 ? (const char *)sender->data :
	    (const char *)from->data;
	return NULL;
}

/* ---- the envelope ---- */

struct param_rule {
	const char *name;
	bool value;		/* takes a value */
};

static const struct param_rule mail_params[] = {
	{ "RET", true }, { "ENVID", true }, { "BODY", true },
	{ "SMTPUTF8", false }, { "SIZE", true }, { NULL, false },
};

static const struct param_rule rcpt_params[] = {
	{ "NOTIFY", true }, { "ORCPT", true }, { NULL, false },
};

static bool
param_chars_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f ||
		    *s == '=')
			return false;
	return true;
}

/*
 * params_string - an Address's parameters as ESMTP text ("KEY=VALUE ..."),
 * checked against rules and, for the DSN ones, queue_dsn_params_parse;
 * NULL or why not
 */
static const char *
params_string(json_t *params, const struct param_rule *rules, bool rcpt,
    struct buf *out)
{
	struct queue_dsn_params p;
	const char *k, *error;
	json_t *v;

	if (params == NULL || json_is_null(params))
		return NULL;
	if (!json_is_object(params))
		return "parameters must be an object or null";
	json_object_foreach(params, k, v) {
		const struct param_rule *r = rules;
		const char *val = json_string_value(v);

		while (r->name != NULL && !ascii_eq_nocase(k, strlen(k),
		    r->name))
			r++;
		if (r->name == NULL)
			return "an ESMTP parameter this server does not take";
		if (r->value ? val == NULL || val[0] == '\0' ||
		    strlen(val) > SUB_PARAM_MAX || !param_chars_ok(val) :
		    !json_is_null(v))
			return "a malformed ESMTP parameter value";
		if (strcmp(r->name, "BODY") == 0 &&
		    !ascii_eq_nocase(val, strlen(val), "7BIT") &&
		    !ascii_eq_nocase(val, strlen(val), "8BITMIME"))
			return "BODY is 7BIT or 8BITMIME";
		if (strcmp(r->name, "SIZE") == 0) {
			uint64_t n;

			if (parse_u64(val, strlen(val), UINT64_MAX, &n) < 0)
				return "SIZE is a number";
		}
		if (out->len > 0)
			buf_add_str(out, " ");
		buf_add_str(out, r->name);
		if (val != NULL)
			buf_addf(out, "=%s", val);
	}
	if (out->len > 0 && queue_dsn_params_parse(buf_cstr(out), out->len,
	    (rcpt ? QUEUE_DSN_PARSE_RCPT : 0) | QUEUE_DSN_PARSE_UTF8, &p,
	    &error) != PARSE_OK)
		return error;
	return NULL;
}

static json_t *
address_json(const char *email, json_t *params)
{
	return json_pack("{s:s,s:O}", "email", email, "parameters",
	    params != NULL ? params : json_null());
}

/* rcpt_add - one rcptTo address, unless it is there already */
static void
rcpt_add(json_t *rcpts, const char *email, json_t *params)
{
	size_t i;
	json_t *x;

	json_array_foreach(rcpts, i, x) {
		const char *e = json_string_value(json_object_get(x, "email"));

		if (strlen(e) == strlen(email) &&
		    ascii_strncasecmp(e, email, strlen(e)) == 0)
			return;
	}
	json_array_append_new(rcpts, address_json(email, params));
}

/* derive - the envelope from the header (RFC 8621 7); NULL or a SetError */
static json_t *
derive(struct send *s, const char *sender)
{
	static const char *const fields[] = { "To", "Cc", "Bcc" };
	static const char *const props[] = { "to", "cc", "bcc" };
	json_t *rcpts = json_array();
	struct buf a = BUF_INIT(0);

	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		size_t n, nf;
		const char *p;

		buf_reset(&a);
		if (field_addrs(s, fields[i], &a, &n, &nf) < 0) {
			buf_free(&a);
			json_decref(rcpts);
			return invalid_email(props[i], "no address list");
		}
		p = (const char *)a.data;
		for (size_t k = 0; k < n; k++, p += strlen(p) + 1)
			rcpt_add(rcpts, p, NULL);
	}
	buf_free(&a);
	s->envelope = json_pack("{s:o,s:o}", "mailFrom", address_json(sender,
	    NULL), "rcptTo", rcpts);
	s->derived = true;
	return NULL;
}

/* given - the client's envelope, checked and deduplicated */
static json_t *
given(struct send *s, json_t *env)
{
	json_t *mf = json_object_get(env, "mailFrom");
	json_t *rt = json_object_get(env, "rcptTo"), *rcpts, *x;
	size_t i;
	const char *k;

	json_object_foreach(env, k, x) {
		if (strcmp(k, "mailFrom") != 0 && strcmp(k, "rcptTo") != 0)
			return jmap_set_error_props("envelope", "unknown member "
			    "\"%.64s\"", k);
	}
	if (!json_is_object(mf) || !json_is_string(json_object_get(mf,
	    "email")) || !json_is_array(rt))
		return jmap_set_error_props("envelope", "an Envelope is "
		    "{mailFrom: Address, rcptTo: Address[]}");
	rcpts = json_array();
	json_array_foreach(rt, i, x) {
		if (!json_is_object(x) || !json_is_string(json_object_get(x,
		    "email"))) {
			json_decref(rcpts);
			return jmap_set_error_props("envelope", "rcptTo item "
			    "%zu is not an Address", i);
		}
		rcpt_add(rcpts, json_string_value(json_object_get(x, "email")),
		    json_object_get(x, "parameters"));
	}
	s->envelope = json_pack("{s:o,s:o}", "mailFrom", address_json(
	    json_string_value(json_object_get(mf, "email")),
	    json_object_get(mf, "parameters")), "rcptTo", rcpts);
	return NULL;
}

/* check_envelope - the rules for s->envelope; NULL or a SetError */
static json_t *
check_envelope(struct send *s, struct buf *err, int *fail_r)
{
	const struct config *cfg = s->c->ctx->env->cfg;
	json_t *mf = json_object_get(s->envelope, "mailFrom");
	json_t *rt = json_object_get(s->envelope, "rcptTo"), *bad, *x, *e;
	const char *why;
	size_t i;
	int r;

	*fail_r = 0;
	s->mail_from = json_string_value(json_object_get(mf, "email"));
	if ((why = params_string(json_object_get(mf, "parameters"),
	    mail_params, false, &s->mail_params)) != NULL)
		return jmap_set_error_props("envelope", "mailFrom: %s", why);
	if (s->mail_from[0] == '\0' || !jmap_is_addr(s->mail_from))
		return jmap_set_error("forbiddenMailFrom", "the envelope "
		    "sender must be an address of the account");
	if ((r = jmap_may_send_as(s->c, s->mail_from, err)) < 0) {
		*fail_r = -1;
		return NULL;
	}
	if (r == 0)
		return jmap_set_error("forbiddenMailFrom", "<%.200s> is not "
		    "an address of %.200s", s->mail_from, s->c->ctx->username);
	if (json_array_size(rt) == 0)
		return jmap_set_error("noRecipients", "the envelope has no "
		    "recipient");
	bad = json_array();
	json_array_foreach(rt, i, x) {
		const char *a = json_string_value(json_object_get(x, "email"));

		if (!jmap_is_addr(a))
			json_array_append_new(bad, json_string(a));
	}
	if (json_array_size(bad) > 0) {
		e = jmap_set_error("invalidRecipients", "%zu recipients are "
		    "not addresses", json_array_size(bad));
		json_object_set_new(e, "invalidRecipients", bad);
		return e;
	}
	json_decref(bad);
	if (json_array_size(rt) > cfg->smtp.max_recipients) {
		e = jmap_set_error("tooManyRecipients", "at most %u recipients",
		    cfg->smtp.max_recipients);
		json_object_set_new(e, "maxRecipients",
		    json_integer(cfg->smtp.max_recipients));
		return e;
	}
	s->rcpts = xcalloc(json_array_size(rt), sizeof(*s->rcpts));
	json_array_foreach(rt, i, x) {
		struct buf p = BUF_INIT(0);

		if ((why = params_string(json_object_get(x, "parameters"),
		    rcpt_params, true, &p)) != NULL) {
			buf_free(&p);
			return jmap_set_error_props("envelope", "rcptTo %zu: %s",
			    i, why);
		}
		s->rcpts[s->nrcpt].addr = json_string_value(json_object_get(x,
		    "email"));
		s->rcpts[s->nrcpt++].params = buf_steal(&p, NULL);
	}
	return NULL;
}

/* ---- limits ---- */

static bool
ratelimit_on(const struct config *cfg)
{
	for (size_t i = 0; i < cfg->filters.stages.n; i++)
		if (strcmp(cfg->filters.stages.v[i], "ratelimit") == 0)
			return cfg->ratelimit.per_sender > 0 &&
			    cfg->ratelimit.window > 0;
	return false;
}

/* rate_check - NULL, or rateLimit; -1 in *fail_r */
static json_t *
rate_check(struct send *s, struct buf *err, int *fail_r)
{
	const struct config *cfg = s->c->ctx->env->cfg;
	uint64_t n;

	*fail_r = 0;
	if (!ratelimit_on(cfg))
		return NULL;
	if (mail_obj_rate_add(s->c->ctx->env->st->mail, s->c->acct,
	    (uint64_t)time(NULL) / cfg->ratelimit.window, &n, err) < 0) {
		*fail_r = -1;
		return NULL;
	}
	if (n <= cfg->ratelimit.per_sender)
		return NULL;
	log_info(JMAP_SVC, "%s: submission refused: user=<%s>, rate limit "
	    "%u per %us", s->c->ctx->log_id, s->c->ctx->username,
	    cfg->ratelimit.per_sender, cfg->ratelimit.window);
	return jmap_set_error("rateLimit", "more than %u messages in %u "
	    "seconds; try again later", cfg->ratelimit.per_sender,
	    cfg->ratelimit.window);
}

/* ---- the message and the queue ---- */

static void
date_now(char *out, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	(void)strftime(out, size, "%a, %d %b %Y %H:%M:%S %z", &tm);
}

/* build - what is spooled: our fields, then the message without Bcc */
static void
build(struct send *s, struct buf *out)
{
	const struct config *cfg = s->c->ctx->env->cfg;
	const unsigned char *m = s->msg.data;
	struct rfc5322_field f;
	size_t off = 0, copied = 0;
	char date[64];

	date_now(date, sizeof(date));
	buf_addf(out, "Received: by %s (Postern) with HTTP id %s",
	    cfg->server.hostname, s->qid);
	if (s->nrcpt == 1)
		buf_addf(out, "\r\n\tfor <%s>", s->rcpts[0].addr);
	buf_addf(out, "; %s\r\n", date);
	if (rfc5322_header_find(m, s->hlen, "Date", NULL) == 0)
		buf_addf(out, "Date: %s\r\n", date);
	if (rfc5322_header_find(m, s->hlen, "Message-ID", NULL) == 0)
		buf_addf(out, "Message-ID: <%s.%llu@%s>\r\n", s->qid,
		    (unsigned long long)clock_wall_us(), cfg->server.hostname);
	while (rfc5322_header_next(m, s->hlen, &off, &f)) {
		size_t start = (size_t)((const unsigned char *)f.name - m);

		if (!ascii_eq_nocase(f.name, f.name_len, "Bcc"))
			continue;
		buf_add(out, m + copied, start - copied);
		copied = off;
	}
	buf_add(out, m + copied, s->msg.len - copied);
}

struct commit_wait {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool done;
	int status;
	char error[256];
};

static void
committed(void *arg, int status, const char *error)
{
	struct commit_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->status = status;
	if (error != NULL)
		(void)snprintf(w->error, sizeof(w->error), "%s", error);
	w->done = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

/* enqueue - spool the message, wait for the group commit, tell the
 * queue manager; 0 or -1 */
static int
enqueue(struct send *s, const struct buf *data, struct buf *err)
{
	const struct jmap_env *env = s->c->ctx->env;
	struct queue_envelope qe;
	struct spool_file *f;
	struct commit_wait w;
	const char *error;

	memset(&qe, 0, sizeof(qe));
	memcpy(qe.qid, s->qid, sizeof(qe.qid));
	qe.arrival_us = clock_wall_us();
	qe.protocol = "HTTP";
	qe.auth_user = s->c->ctx->username;
	qe.sender = s->mail_from;
	qe.sender_params = buf_cstr(&s->mail_params);
	qe.rcpts = s->rcpts;
	qe.nrcpt = s->nrcpt;
	if ((f = spool_create(env->spool, &qe, &error)) == NULL) {
		buf_addf(err, "%s: spool: %s", s->qid, error);
		return -1;
	}
	if (spool_append(f, data->data, data->len, &error) < 0) {
		buf_addf(err, "%s: spool: %s", s->qid, error);
		spool_abort(&f);
		return -1;
	}
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cv, NULL);
	spool_commit(f, committed, &w);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cv, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.mu);
	if (w.status < 0) {
		buf_addf(err, "%s: spool commit: %s", s->qid, w.error);
		return -1;
	}
	qmgr_enqueue(env->qm, s->qid);
	return 0;
}

/* ---- create ---- */

static const char *const client_props[] = {
	"identityId", "emailId", "envelope", "undoStatus", NULL,
};
static const char *const server_props[] = {
	"id", "threadId", "sendAt", "deliveryStatus", "dsnBlobIds",
	"mdnBlobIds", NULL,
};

/* load - the identity and the email of obj; NULL or a SetError */
static json_t *
load(struct send *s, json_t *obj, struct buf *err, int *fail_r)
{
	struct jmap_call *c = s->c;
	json_t *ident = json_object_get(obj, "identityId");
	json_t *email = json_object_get(obj, "emailId"), *u;
	const char *k;
	uint32_t n;
	json_t *v;
	int r;

	*fail_r = 0;
	json_object_foreach(obj, k, v) {
		if (!jmap_in_list(client_props, k))
			return jmap_set_error_props(k, "%s", jmap_in_list(
			    server_props, k) ? "set by the server" :
			    "unknown property");
	}
	u = json_object_get(obj, "undoStatus");
	if (u != NULL && (!json_is_string(u) ||
	    strcmp(json_string_value(u), "final") != 0))
		return jmap_set_error_props("undoStatus", "this server sends "
		    "at once: only \"final\"");
	if (!json_is_string(ident) || jmap_id_resolve(c, 'I',
	    json_string_value(ident), &n) < 0)
		return jmap_set_error_props("identityId", "no such Identity");
	if ((r = jmap_identity_load(c, n, &s->identity, err)) <= 0) {
		*fail_r = r;
		return r < 0 ? NULL : jmap_set_error_props("identityId", "no "
		    "such Identity");
	}
	if (!json_is_string(email) || jmap_id_resolve(c, 'M',
	    json_string_value(email), &n) < 0)
		return jmap_set_error_props("emailId", "no such Email");
	if ((r = mail_email_get(c->ctx->env->st->mail, c->acct, n, &s->em,
	    err)) <= 0) {
		*fail_r = r;
		return r < 0 ? NULL : jmap_set_error_props("emailId", "no such "
		    "Email");
	}
	return NULL;
}

/* record - the EmailSubmission as stored (queueId is ours) */
static json_t *
record(struct send *s)
{
	json_t *ds = json_object(), *x;
	char sid[JMAP_ID_MAX], tid[JMAP_ID_MAX], date[JMAP_DATE_MAX];
	char reply[64];
	size_t i;

	jmap_id_make('M', s->em.id, sid);
	jmap_id_make('T', s->em.thread, tid);
	jmap_date_utc((int64_t)time(NULL), date);
	(void)snprintf(reply, sizeof(reply), "250 2.0.0 Queued as %s",
	    s->qid);
	json_array_foreach(json_object_get(s->envelope, "rcptTo"), i, x) {
		json_object_set_new(ds, json_string_value(json_object_get(x,
		    "email")), json_pack("{s:s,s:s,s:s}", "smtpReply", reply,
		    "delivered", "queued", "displayed", "unknown"));
	}
	return json_pack("{s:O,s:s,s:s,s:O,s:s,s:s,s:o,s:[],s:[],s:s}",
	    "identityId", json_object_get(s->identity, "id"), "emailId", sid,
	    "threadId", tid, "envelope", s->envelope, "sendAt", date,
	    "undoStatus", "final", "deliveryStatus", ds, "dsnBlobIds",
	    "mdnBlobIds", "queueId", s->qid);
}

int
jmap_submission_create(struct jmap_call *c, json_t *obj, uint32_t *id_r,
    json_t **created_r, json_t **seterr_r, struct buf *err)
{
	const struct jmap_env *env = c->ctx->env;
	struct send s;
	struct buf from = BUF_INIT(0), sender = BUF_INIT(0);
	struct buf data = BUF_INIT(0);
	const char *env_sender = NULL;
	json_t *rec = NULL;
	char *text;
	bool complete;
	int fail = 0, r = -1;

	memset(&s, 0, sizeof(s));
	s.c = c;
	if ((*seterr_r = load(&s, obj, err, &fail)) != NULL || fail < 0)
		goto out;
	if (s.em.size > env->cfg->smtp.max_message_size) {
		*seterr_r = jmap_set_error("tooLarge", "the email is larger "
		    "than %llu octets", (unsigned long long)
		    env->cfg->smtp.max_message_size);
		json_object_set_new(*seterr_r, "maxSize", json_integer(
		    (json_int_t)env->cfg->smtp.max_message_size));
		goto out;
	}
	if (blob_get(env->st->blobs, &s.em.blob, 0, s.em.size, &s.msg,
	    err) != 1) {
		buf_addf(err, ": the message of email %u", s.em.id);
		goto out;
	}
	s.hlen = rfc5322_header_len(s.msg.data, s.msg.len, &complete);
	if ((*seterr_r = check_from(&s, &from, &sender, &env_sender, err,
	    &fail)) != NULL || fail < 0)
		goto out;
	if (json_object_get(obj, "envelope") != NULL &&
	    !json_is_null(json_object_get(obj, "envelope")))
		*seterr_r = json_is_object(json_object_get(obj, "envelope")) ?
		    given(&s, json_object_get(obj, "envelope")) :
		    jmap_set_error_props("envelope", "an Envelope or null");
	else
		*seterr_r = derive(&s, env_sender);
	if (*seterr_r != NULL ||
	    (*seterr_r = check_envelope(&s, err, &fail)) != NULL || fail < 0)
		goto out;
	if (!env->cfg->jmap.submission || env->spool == NULL ||
	    env->qm == NULL) {
		*seterr_r = jmap_set_error("forbiddenToSend", "sending is off "
		    "on this server (jmap.submission)");
		goto out;
	}
	if ((*seterr_r = rate_check(&s, err, &fail)) != NULL || fail < 0)
		goto out;
	queue_id_new(s.qid);
	build(&s, &data);
	if (enqueue(&s, &data, err) < 0)
		goto out;
	log_info(JMAP_SVC, "%s: from=<%s>, size=%zu, nrcpt=%zu, "
	    "sasl_username=<%s>, jmap=%s", s.qid, s.mail_from, data.len,
	    s.nrcpt, c->ctx->username, c->ctx->log_id);
	rec = record(&s);
	text = json_dumps(rec, JSON_COMPACT);
	if (text == NULL)
		PANIC("json_dumps failed");
	r = mail_obj_create(env->st->mail, c->acct, MAIL_LOG_SUBMISSION, text,
	    strlen(text), id_r, err);
	free(text);
	if (r < 0) {
		buf_addf(err, " (%s was queued and goes out)", s.qid);
		goto out;
	}
	/* what the server set or defaulted */
	*created_r = json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}", "threadId",
	    json_object_get(rec, "threadId"), "sendAt",
	    json_object_get(rec, "sendAt"), "undoStatus",
	    json_object_get(rec, "undoStatus"), "deliveryStatus",
	    json_object_get(rec, "deliveryStatus"), "dsnBlobIds",
	    json_object_get(rec, "dsnBlobIds"), "mdnBlobIds",
	    json_object_get(rec, "mdnBlobIds"));
	if (s.derived)
		json_object_set(*created_r, "envelope", s.envelope);
	r = 1;
out:
	/* refused: a SetError; else -1 (a store, directory or queue
	 * failure) unless it went */
	if (*seterr_r != NULL)
		r = 0;
	json_decref(rec);
	buf_free(&from);
	buf_free(&sender);
	buf_free(&data);
	send_clear(&s);
	return r;
}
