/*
 * smtpd_envelope.c - the pipeline's envelope changes (milters'
 * SMFIR_ADDRCPT, SMFIR_ADDRCPT_PAR, SMFIR_DELRCPT, SMFIR_CHGFROM, see
 * filters/milter.c) applied to the transaction after the data step and
 * before the message is delivered or queued, in the order the stages
 * made them.  Runs in the end-of-data job, on a worker.
 *
 * Policy.  Postfix trusts its milters: a recipient they add skips
 * smtpd_recipient_restrictions.  Ours skips the equivalent too, the
 * pipeline's RCPT step (DNSBL, greylisting, rate limits, milters' RCPT),
 * but not the relay rule and recipient check that RCPT TO is put through
 * (srv->rcpt_check, or smtp.local_domains without one): a milter that
 * takes an address out of the message (a forwarding or archiving milter
 * fed a crafted header) would otherwise relay for an unauthenticated
 * client, and an unknown local address would only turn into a bounce.
 * An authenticated client may relay (smtpd_auth.c), so for its mail a
 * remote recipient is taken as RCPT TO would take it.
 * So an added recipient is
 *   - taken when RCPT TO would take it, or would say "mailbox full" (the
 *     delivery defers it then, as for any recipient), and routed like
 *     the others: local mailboxes at once, the rest through the queue;
 *   - dropped, with a log line, when RCPT TO would refuse it (relay
 *     access denied, unknown user), when it is a recipient already, when
 *     the transaction has smtp.max_recipients, or when it is not ASCII
 *     and the transaction is not SMTPUTF8;
 *   - a 451 4.3.0 for the whole message when it cannot be checked now (a
 *     directory failure): the client retries, nothing is lost.
 * ESMTP parameters of an added recipient or of a new sender are logged
 * and ignored, as Postfix does: we support none for recipients (no DSN
 * yet), and the MAIL ones we know (SIZE, BODY, SMTPUTF8) describe the
 * message, which keeps the client's.  A deleted recipient goes wherever
 * it occurs, matched with the domain in any case (RFC 5321 2.4; Postfix
 * compares the whole address exactly).  A new sender replaces the old
 * one; the null sender is allowed.  When no recipient is left the message
 * is accepted and dropped, as DISCARD would do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "mta/mta_priv.h"

/* same_rcpt - the same mailbox: local part exactly, domain in any case */
static bool
same_rcpt(const char *a, const char *b)
{
	const char *da = strrchr(a, '@'), *db = strrchr(b, '@');
	size_t la, lb;

	if (da == NULL || db == NULL)	/* <Postmaster> */
		return da == db && ascii_eq_nocase(a, strlen(a), b);
	la = (size_t)(da - a);
	lb = (size_t)(db - b);
	return la == lb && memcmp(a, b, la) == 0 &&
	    ascii_eq_nocase(da + 1, strlen(da + 1), db + 1);
}

static bool
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

/* rcpt_verdict - what RCPT TO would say about addr */
static enum smtpd_verdict
rcpt_verdict(struct smtpd_session *s, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const struct strlist *ld = &s->cfg->smtp.local_domains;

	if (at == NULL)		/* "postmaster" (milter.c let only it by) */
		return SMTPD_RCPT_OK;
	if (s->srv->rcpt_check != NULL)
		return s->srv->rcpt_check(s->srv->rcpt_arg, addr,
		    s->txn.size_hint);
	for (size_t i = 0; i < ld->n; i++)
		if (ascii_eq_nocase(at + 1, strlen(at + 1), ld->v[i]))
			return SMTPD_RCPT_OK;
	return SMTPD_RCPT_RELAY_DENIED;
}

static void
note(struct smtpd_session *s, const struct filter_envelope_edit *e,
    const char *what)
{
	log_info(SMTPD_SVC, "%s: %s <%s> %s%s%s%s", s->txn.qid, e->stage,
	    e->addr, what, e->args[0] != '\0' ? " (ignoring ESMTP "
	    "parameters \"" : "", e->args[0] != '\0' ? e->args : "",
	    e->args[0] != '\0' ? "\")" : "");
}

/* add - 1 taken or dropped, 0 cannot be checked now (the caller
 * defers the message) */
static int
add(struct smtpd_session *s, const struct filter_envelope_edit *e)
{
	struct smtpd_txn *t = &s->txn;
	const char *why = NULL;

	for (size_t i = 0; i < t->nrcpt; i++)
		if (same_rcpt(t->rcpts[i].addr, e->addr)) {
			note(s, e, "not added: a recipient already");
			return 1;
		}
	if (t->nrcpt >= s->cfg->smtp.max_recipients)
		why = "not added: smtp.max_recipients reached";
	else if (!t->smtputf8 && !is_ascii(e->addr))
		why = "not added: not ASCII, and no SMTPUTF8";
	else
		switch (rcpt_verdict(s, e->addr)) {
		case SMTPD_RCPT_OK:
		case SMTPD_RCPT_OVER_QUOTA:
			break;
		case SMTPD_RCPT_RELAY_DENIED:
			if (s->auth_user == NULL)
				why = "not added: relay access denied";
			break;
		case SMTPD_RCPT_UNKNOWN:
			why = "not added: user unknown";
			break;
		case SMTPD_RCPT_TEMPFAIL:
			note(s, e, "cannot be checked now");
			return 0;
		}
	if (why != NULL) {
		log_warn(SMTPD_SVC, "%s: %s <%s> %s", t->qid, e->stage,
		    e->addr, why);
		return 1;
	}
	if (t->nrcpt == t->rcpt_cap) {
		t->rcpt_cap = t->rcpt_cap == 0 ? 4 : t->rcpt_cap * 2;
		t->rcpts = xreallocarray(t->rcpts, t->rcpt_cap,
		    sizeof(*t->rcpts));
	}
	t->rcpts[t->nrcpt].addr = xstrdup(e->addr);
	t->rcpts[t->nrcpt].params = xstrdup("");
	t->nrcpt++;
	note(s, e, "added as a recipient");
	return 1;
}

static void
delete(struct smtpd_session *s, const struct filter_envelope_edit *e)
{
	struct smtpd_txn *t = &s->txn;
	size_t keep = 0, n = t->nrcpt;

	for (size_t i = 0; i < n; i++) {
		if (same_rcpt(t->rcpts[i].addr, e->addr)) {
			free(t->rcpts[i].addr);
			free(t->rcpts[i].params);
			continue;
		}
		t->rcpts[keep++] = t->rcpts[i];
	}
	t->nrcpt = keep;
	note(s, e, keep < n ? "removed as a recipient" :
	    "not removed: not a recipient");
}

static void
sender(struct smtpd_session *s, const struct filter_envelope_edit *e)
{
	struct smtpd_txn *t = &s->txn;

	if (!t->smtputf8 && !is_ascii(e->addr)) {
		log_warn(SMTPD_SVC, "%s: %s <%s> not the sender: not ASCII, "
		    "and no SMTPUTF8", t->qid, e->stage, e->addr);
		return;
	}
	log_info(SMTPD_SVC, "%s: from=<%s> changed by %s", t->qid, t->sender,
	    e->stage);
	free(t->sender);
	t->sender = xstrdup(e->addr);
	note(s, e, "is the sender");
}

bool
smtpd_envelope_apply(struct smtpd_session *s)
{
	struct smtpd_txn *t = &s->txn;
	const struct filter_msg *m = filters_msg(s->fs);

	for (size_t i = 0; i < m->nenvelope; i++) {
		const struct filter_envelope_edit *e = &m->envelope[i];

		switch (e->op) {
		case FILTER_RCPT_ADD:
			if (add(s, e) == 0) {
				t->faction = FILTER_TEMPFAIL;
				filter_reply_set(&t->freply, 451, "4.3.0",
				    "Temporary lookup failure");
				return true;
			}
			break;
		case FILTER_RCPT_DELETE:
			delete(s, e);
			break;
		case FILTER_SENDER_CHANGE:
			sender(s, e);
			break;
		}
	}
	if (m->nenvelope > 0 && t->nrcpt == 0) {
		log_info(SMTPD_SVC, "%s: the filters removed every recipient",
		    t->qid);
		t->discard = true;
		return true;
	}
	return false;
}
