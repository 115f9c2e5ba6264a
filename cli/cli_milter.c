/*
 * cli_milter.c - `postern milter`: Postern's filter pipeline served over
 * the milter protocol with libmilter, so a postmaster can keep Postfix
 * (smtpd_milters = inet:127.0.0.1:8890) or Sendmail in front and use
 * Postern's stages.  It listens on milter.listen ("inet:PORT@IP",
 * "inet6:PORT@IP" or "unix:/path"), with the stages, lookup store and
 * resolver of the configuration (cli_filters.c), as the server would.
 *
 * Each MTA connection gets a filter session (listener "milter"; trust as
 * for SMTP: filters.trusted_networks and trust_loopback, applied to the
 * client the MTA reports); each callback runs the matching step.  The
 * message is rebuilt from the header fields and body libmilter hands
 * over (up to filters.max_scan_size; beyond that the stages see the
 * header only) and goes through the data step at the end of message.
 * Then: a refusal becomes the reply (smfi_setreply + REJECT/TEMPFAIL),
 * DISCARD discards, and otherwise the pipeline's fields are inserted at
 * the top (Authentication-Results, X-Spam-Status, X-Spam-Flag,
 * X-Postern-Spam: junk for the delivery agent or a Sieve rule), forged
 * fields of ours are deleted and the stages' changes applied.  Junk is
 * only marked: for the MTA in front, quarantine means its hold queue,
 * which is for the postmaster, not for spam.
 *
 * No built-in stage replaces the body or changes the envelope, but a
 * milter listed as a stage ("milter:NAME") may: those changes are passed
 * on to the MTA (smfi_replacebody, smfi_addrcpt[_par], smfi_delrcpt,
 * smfi_chgfrom).  xxfi_negotiate asks the MTA for these actions when it
 * offers them, and the stages' milters are offered only what the MTA
 * granted (filters_session_can), so a change is never made that cannot
 * be passed on.  Header changes are required, as before.
 *
 * libmilter gives callbacks no argument of ours, so the pipeline is a
 * file-level pointer set once before smfi_main and only read after.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <libmilter/mfapi.h>

#include "cli/cli.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "store/store.h"

#define SVC "milter"

static struct filters *the_filters;	/* set before smfi_main */
static uint64_t the_max_scan;

/* the actions we need, and those we pass on when the MTA offers them */
#define NEED_ACTIONS (SMFIF_ADDHDRS | SMFIF_CHGHDRS)
#define MAY_ACTIONS (SMFIF_CHGBODY | SMFIF_ADDRCPT | SMFIF_ADDRCPT_PAR | \
    SMFIF_DELRCPT | SMFIF_CHGFROM)

struct mpriv {
	struct filter_session *fs;
	unsigned long actions;	/* negotiated with the MTA */
	struct buf msg;		/* header fields, blank line, body */
	bool truncated;		/* over max_scan: the header only */
	char qid[64];
	char *sender;
};

static sfsistat
verdict(SMFICTX *ctx, enum filter_action a, const struct filter_reply *r)
{
	char code[8], text[300];

	switch (a) {
	case FILTER_REJECT:
	case FILTER_TEMPFAIL:
		snprintf(code, sizeof(code), "%d", r->code);
		/* libmilter passes the text through a format: no '%' */
		snprintf(text, sizeof(text), "%s", r->text);
		for (char *p = text; *p != '\0'; p++)
			if (*p == '%')
				*p = ' ';
		(void)smfi_setreply(ctx, code, (char *)r->ecode, text);
		return a == FILTER_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
	case FILTER_DISCARD:
		return SMFIS_DISCARD;
	default:
		return SMFIS_CONTINUE;
	}
}

static struct mpriv *
priv(SMFICTX *ctx)
{
	return smfi_getpriv(ctx);
}

/* new_priv - the connection's state, made at the first callback */
static struct mpriv *
new_priv(SMFICTX *ctx)
{
	struct mpriv *p = priv(ctx);

	if (p == NULL) {
		p = xcalloc(1, sizeof(*p));
		buf_init(&p->msg, 0);
		p->actions = NEED_ACTIONS;	/* negotiation skipped */
		(void)smfi_setpriv(ctx, p);
	}
	return p;
}

/*
 * m_negotiate - the MTA's offer (f0: actions); we take the header actions
 * we need and what we may pass on.  The protocol steps (*pf1) stay as
 * libmilter set them from our callbacks.
 */
static sfsistat
m_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
    unsigned long f2, unsigned long f3, unsigned long *pf0,
    unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
	struct mpriv *p = new_priv(ctx);

	(void)f1;
	(void)f2;
	(void)f3;
	(void)pf1;
	(void)pf2;
	(void)pf3;
	/* NEED_ACTIONS not offered: libmilter refuses the MTA, as before */
	p->actions = NEED_ACTIONS | (f0 & MAY_ACTIONS);
	*pf0 = p->actions;
	return SMFIS_CONTINUE;
}

/* can - what the stages' milters may be offered */
static unsigned
can(unsigned long actions)
{
	unsigned c = 0;

	if ((actions & SMFIF_CHGBODY) != 0)
		c |= FILTER_CAN_BODY;
	if ((actions & (SMFIF_ADDRCPT | SMFIF_DELRCPT)) ==
	    (SMFIF_ADDRCPT | SMFIF_DELRCPT))
		c |= FILTER_CAN_RCPT;
	if ((actions & SMFIF_CHGFROM) != 0)
		c |= FILTER_CAN_SENDER;
	return c;
}

static sfsistat
m_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *sa)
{
	struct mpriv *p = new_priv(ctx);
	struct sockaddr_storage none;
	struct filter_reply r;
	socklen_t len = sizeof(struct sockaddr_in);

	(void)host;
	if (sa == NULL || (sa->sa_family != AF_INET &&
	    sa->sa_family != AF_INET6)) {
		/* unknown: 0.0.0.0, trusted by nothing */
		memset(&none, 0, sizeof(none));
		none.ss_family = AF_INET;
		sa = (struct sockaddr *)&none;
	} else if (sa->sa_family == AF_INET6) {
		len = sizeof(struct sockaddr_in6);
	}
	filters_session_free(&p->fs);	/* a second connect: start again */
	p->fs = filters_session_new(the_filters, sa, len, "milter");
	filters_session_can(p->fs, can(p->actions));
	return verdict(ctx, filters_connect(p->fs, &r), &r);
}

static sfsistat
m_helo(SMFICTX *ctx, char *helo)
{
	struct mpriv *p = priv(ctx);
	struct filter_reply r;

	if (p == NULL)
		return SMFIS_TEMPFAIL;
	return verdict(ctx, filters_helo(p->fs, helo != NULL ? helo : "",
	    &r), &r);
}

/* unbracket - "<a@b>" as "a@b" in out */
static const char *
unbracket(const char *s, struct buf *out)
{
	size_t n = strlen(s);

	buf_reset(out);
	if (n >= 2 && s[0] == '<' && s[n - 1] == '>')
		buf_add(out, s + 1, n - 2);
	else
		buf_add(out, s, n);
	return buf_cstr(out);
}

static sfsistat
m_envfrom(SMFICTX *ctx, char **argv)
{
	struct mpriv *p = priv(ctx);
	struct filter_reply r;
	struct buf a = BUF_INIT(0);
	const char *qid, *auth;
	sfsistat st;

	if (p == NULL)
		return SMFIS_TEMPFAIL;
	filters_txn_end(p->fs);
	buf_reset(&p->msg);
	p->truncated = false;
	qid = smfi_getsymval(ctx, "i");
	snprintf(p->qid, sizeof(p->qid), "%s", qid != NULL ? qid : "");
	auth = smfi_getsymval(ctx, "{auth_authen}");
	if (auth != NULL && auth[0] != '\0')
		filters_session_auth(p->fs, auth);
	st = verdict(ctx, filters_mail(p->fs, p->qid, unbracket(argv[0] != NULL ?
	    argv[0] : "", &a), &r), &r);
	buf_free(&a);
	return st;
}

static sfsistat
m_envrcpt(SMFICTX *ctx, char **argv)
{
	struct mpriv *p = priv(ctx);
	struct filter_reply r;
	struct buf a = BUF_INIT(0);
	sfsistat st;

	if (p == NULL)
		return SMFIS_TEMPFAIL;
	st = verdict(ctx, filters_rcpt(p->fs, unbracket(argv[0] != NULL ?
	    argv[0] : "", &a), &r), &r);
	buf_free(&a);
	return st;
}

/* add - bytes to the message while it fits the scan limit */
static void
add(struct mpriv *p, const void *data, size_t len)
{
	if (p->truncated)
		return;
	if (len > the_max_scan - p->msg.len) {
		p->truncated = true;
		return;
	}
	buf_add(&p->msg, data, len);
}

static sfsistat
m_header(SMFICTX *ctx, char *name, char *value)
{
	struct mpriv *p = priv(ctx);

	if (p == NULL)
		return SMFIS_TEMPFAIL;
	if (p->truncated)
		return SMFIS_CONTINUE;
	add(p, name, strlen(name));
	add(p, ": ", 2);
	/* libmilter folds with bare LF; the message has CRLF */
	for (const char *v = value; *v != '\0'; v++) {
		if (*v == '\n' && (v == value || v[-1] != '\r'))
			add(p, "\r", 1);
		add(p, v, 1);
	}
	add(p, "\r\n", 2);
	return SMFIS_CONTINUE;
}

static sfsistat
m_eoh(SMFICTX *ctx)
{
	struct mpriv *p = priv(ctx);

	if (p == NULL)
		return SMFIS_TEMPFAIL;
	add(p, "\r\n", 2);
	return SMFIS_CONTINUE;
}

static sfsistat
m_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
	struct mpriv *p = priv(ctx);

	if (p == NULL)
		return SMFIS_TEMPFAIL;
	add(p, chunk, len);
	return SMFIS_CONTINUE;
}

/*
 * apply_changes - a stage's new body and envelope changes, through
 * libmilter (negotiated: the stages were offered only these); -1 when
 * one could not be passed on (the MTA went away), logged: the caller
 * defers the message rather than let it go half changed.  The MTA gets
 * the body with CRLF line ends, as Postfix and Sendmail take it.
 */
static int
apply_changes(SMFICTX *ctx, struct mpriv *p)
{
	struct filter_msg *m = filters_msg(p->fs);
	struct buf a = BUF_INIT(0);
	/* libmilter sends nothing for an empty body: an empty line then */
	unsigned char *body = m->len > m->body_off ?
	    (unsigned char *)m->data + m->body_off : (unsigned char *)"\r\n";
	int blen = m->len > m->body_off ? (int)(m->len - m->body_off) : 2;
	int rc = 0;

	if (m->body_replaced && smfi_replacebody(ctx, body, blen) ==
	    MI_FAILURE) {
		log_warn(SVC, "%s: smfi_replacebody failed", p->qid);
		rc = -1;
	}
	for (size_t i = 0; i < m->nenvelope; i++) {
		const struct filter_envelope_edit *e = &m->envelope[i];
		int r;

		buf_reset(&a);
		buf_addf(&a, "<%s>", e->addr);
		if (e->op == FILTER_RCPT_DELETE)
			r = smfi_delrcpt(ctx, (char *)buf_cstr(&a));
		else if (e->op == FILTER_SENDER_CHANGE)
			r = smfi_chgfrom(ctx, (char *)buf_cstr(&a),
			    e->args[0] != '\0' ? e->args : NULL);
		else if (e->args[0] != '\0' &&
		    (p->actions & SMFIF_ADDRCPT_PAR) != 0)
			r = smfi_addrcpt_par(ctx, (char *)buf_cstr(&a),
			    e->args);
		else
			r = smfi_addrcpt(ctx, (char *)buf_cstr(&a));
		if (r == MI_FAILURE) {
			log_warn(SVC, "%s: %s <%s> for the MTA failed", p->qid,
			    e->op == FILTER_RCPT_DELETE ? "deleting" :
			    e->op == FILTER_SENDER_CHANGE ? "the sender" :
			    "adding", e->addr);
			rc = -1;
		}
	}
	buf_free(&a);
	return rc;
}

/* apply - the pipeline's fields, deletions and changes, through libmilter;
 * -1 as apply_changes */
static int
apply(SMFICTX *ctx, struct mpriv *p)
{
	struct filter_msg *m = filters_msg(p->fs);
	struct buf h = BUF_INIT(0), name = BUF_INIT(0), value = BUF_INIT(0);
	const char *s, *e;
	int at = 0;

	/* forged fields of ours: delete the k-th of each name, from the end */
	for (size_t i = m->nhdrs; i-- > 0;) {
		int k = 0;

		if (!filters_is_ours(p->fs, m->hdrs[i].name,
		    m->hdrs[i].value))
			continue;
		for (size_t j = 0; j <= i; j++)
			if (strcasecmp(m->hdrs[j].name, m->hdrs[i].name) == 0)
				k++;
		(void)smfi_chgheader(ctx, (char *)m->hdrs[i].name, k, NULL);
	}
	for (size_t i = 0; i < m->nedits; i++)
		if (m->edits[i].kind == FILTER_EDIT_CHANGE)
			(void)smfi_chgheader(ctx, m->edits[i].name,
			    (int)m->edits[i].index, m->edits[i].value);
	/* our fields, in order, at the top */
	filters_headers(p->fs, &h);
	for (s = (const char *)h.data; s != NULL && *s != '\0'; s = e) {
		const char *colon = strchr(s, ':');

		/* a field ends at a CRLF not followed by white space */
		for (e = strstr(s, "\r\n"); e != NULL && (e[2] == ' ' ||
		    e[2] == '\t'); e = strstr(e + 2, "\r\n"))
			;
		if (colon == NULL || e == NULL || colon > e)
			break;
		buf_reset(&name);
		buf_add(&name, s, (size_t)(colon - s));
		buf_reset(&value);
		for (const char *v = colon + 1; v < e; v++)
			if (!(v == colon + 1 && *v == ' ') && *v != '\r')
				buf_add(&value, v, 1);
		(void)smfi_insheader(ctx, at++, (char *)buf_cstr(&name),
		    (char *)buf_cstr(&value));
		e += 2;
	}
	buf_free(&h);
	buf_free(&name);
	buf_free(&value);
	return apply_changes(ctx, p);
}

static sfsistat
m_eom(SMFICTX *ctx)
{
	struct mpriv *p = priv(ctx);
	struct filter_reply r;
	enum filter_action a;

	if (p == NULL)
		return SMFIS_TEMPFAIL;
	memset(&r, 0, sizeof(r));
	a = filters_data(p->fs, p->msg.data, p->msg.len, p->truncated, &r);
	if (a == FILTER_REJECT || a == FILTER_TEMPFAIL || a == FILTER_DISCARD)
		return verdict(ctx, a, &r);
	return apply(ctx, p) < 0 ? SMFIS_TEMPFAIL : SMFIS_CONTINUE;
}

static sfsistat
m_abort(SMFICTX *ctx)
{
	struct mpriv *p = priv(ctx);

	if (p != NULL)
		filters_txn_end(p->fs);
	return SMFIS_CONTINUE;
}

static sfsistat
m_close(SMFICTX *ctx)
{
	struct mpriv *p = priv(ctx);

	if (p != NULL) {
		filters_session_free(&p->fs);
		buf_free(&p->msg);
		free(p->sender);
		free(p);
		(void)smfi_setpriv(ctx, NULL);
	}
	return SMFIS_CONTINUE;
}

int
cli_milter(const struct config *cfg, int argc, char **argv)
{
	struct smfiDesc desc;
	struct cli_filters cf;
	struct store *store = NULL;
	struct buf err = BUF_INIT(0);
	char *conn;
	int rc = 1;

	(void)argv;
	if (argc > 1) {
		fprintf(stderr, "usage: postern [-c FILE] milter\n");
		return 2;
	}
	log_open(cfg->log.dest, cfg->log.level, cfg->log.facility,
	    cfg->log.syslog_socket);
	memset(&desc, 0, sizeof(desc));
	desc.xxfi_name = (char *)"postern";
	desc.xxfi_version = SMFI_VERSION;
	desc.xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
	desc.xxfi_connect = m_connect;
	desc.xxfi_helo = m_helo;
	desc.xxfi_envfrom = m_envfrom;
	desc.xxfi_envrcpt = m_envrcpt;
	desc.xxfi_header = m_header;
	desc.xxfi_eoh = m_eoh;
	desc.xxfi_body = m_body;
	desc.xxfi_eom = m_eom;
	desc.xxfi_abort = m_abort;
	desc.xxfi_close = m_close;
	desc.xxfi_negotiate = m_negotiate;
	conn = xstrdup(cfg->milter.listen);
	if (smfi_setconn(conn) == MI_FAILURE ||
	    smfi_register(desc) == MI_FAILURE ||
	    smfi_settimeout((int)cfg->filters.stage_timeout * 4) ==
	    MI_FAILURE) {
		fprintf(stderr, "postern milter: bad milter.listen \"%s\"\n",
		    cfg->milter.listen);
		goto out;
	}
	/* bind while we may still be root, then become server.user */
	if (smfi_opensocket(true) == MI_FAILURE) {
		fprintf(stderr, "postern milter: cannot listen on %s: %s\n",
		    cfg->milter.listen, strerror(errno));
		goto out;
	}
	if (cli_store_open(cfg, &store) < 0)
		goto out;
	if (cli_filters_open(cfg, store->kv, &cf, &err) < 0) {
		fprintf(stderr, "postern milter: %s\n", buf_cstr(&err));
		goto out;
	}
	the_filters = cf.filters;
	the_max_scan = filters_max_scan(cf.filters);
	signal(SIGPIPE, SIG_IGN);
	log_info(SVC, "milter listening on %s, %zu stages", cfg->milter.listen,
	    filters_stage_count(cf.filters));
	rc = smfi_main() == MI_SUCCESS ? 0 : 1;
	log_info(SVC, "stopped");
	cli_filters_close(&cf);
out:
	store_close(&store);
	free(conn);
	buf_free(&err);
	return rc;
}
