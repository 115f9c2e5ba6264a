/*
 * smtp_txn.c - one transaction of the SMTP client over an open session
 * (smtp_session.c): MAIL, RCPT, DATA (RFC 5321 3.3) or BDAT (RFC 3030),
 * pipelined when offered (RFC 2920), with SIZE (RFC 1870), BODY=8BITMIME
 * (RFC 6152), SMTPUTF8 (RFC 6531) and the DSN parameters (RFC 3461);
 * RSET after a transaction that did not carry the message.
 *
 * Decisions:
 *   - The content is scanned once before MAIL (smtp_msg_scan): its exact
 *     size (SIZE=, BDAT) and whether it has 8-bit bytes.  A size over the
 *     peer's SIZE is 5.3.4; 8-bit content to a peer without 8BITMIME is
 *     5.6.3 (Postfix would convert the body to quoted-printable; we do
 *     not rewrite a message we may have DKIM-signed, and such peers are
 *     rare); an SMTPUTF8 message to a peer without SMTPUTF8 is 5.6.7 when
 *     an address or the header really is UTF-8 (RFC 6531 3.4), else it
 *     goes as plain ASCII mail.  BODY=8BITMIME is sent when the content
 *     or the envelope says 8-bit and the peer offers it.
 *   - DSN: NOTIFY and ORCPT, RET and ENVID are passed on as they came
 *     when the peer offers DSN; such a recipient's success is then the
 *     peer's to report (TRANSPORT_F_DSN_PASSED), else the queue reports
 *     "relayed".  No ORCPT is made up for recipients that had none.
 *   - Pipelining: MAIL, the RCPTs and (for DATA) DATA go in groups of at
 *     most SMTPC_PIPE_BYTES, the replies of a group read before the next
 *     is written, so that neither side can block on a full socket buffer
 *     while the other waits (RFC 2920 3.1).  A refused MAIL ends it.
 *     BDAT is sent once the RCPT replies are in: one "BDAT <size> LAST"
 *     with the whole message (its size known from the scan; one reply,
 *     no round trip per chunk).
 *   - A reused connection that fails before the first reply of a
 *     transaction was dead already: SMTP_TXN_RETRY, nothing reported, a
 *     fresh connection gets the transaction (Postfix does the same).
 *   - No duplicate delivery to recipients that already have a final
 *     reply, but: when the reply to the end of the message never comes
 *     (timeout, lost connection), the accepted recipients are deferred
 *     and tried again, and the peer may have taken the message.  That is
 *     SMTP's own ambiguity (RFC 1047); the log says "message may be sent
 *     more than once".
 *   - A content read error while sending: the connection is closed
 *     without the final "." (or short of the BDAT size), so the peer
 *     discards what it got; the recipients are deferred (transport.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "mta/smtp_client_priv.h"
#include "queue/queue_dsn.h"

#define SMTPC_PIPE_BYTES (16u * 1024)	/* one pipelined group */
#define SMTPC_BLOCK (64u * 1024)	/* message bytes per write */

static bool
has_keyword(const char *s, const char *kw)
{
	for (const char *p = s; *p != '\0';) {
		size_t len = strcspn(p, " ");

		if (ascii_eq_nocase(p, len, kw))
			return true;
		p += len;
		while (*p == ' ')
			p++;
	}
	return false;
}

static bool
is_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return true;
	return false;
}

/* is_clean - nothing that could end a command line early */
static bool
is_clean(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* mail_cmd - "MAIL FROM:<...>" with the parameters the peer takes */
static void
mail_cmd(const struct smtp_conn *conn, const struct smtp_txn *t,
    bool eight, bool utf8, struct buf *out)
{
	const struct queue_envelope *env = t->env;
	struct queue_dsn_params p;
	const char *error;
	unsigned ext = conn->caps.ext;

	buf_addf(out, "MAIL FROM:<%s>", env->sender);
	if ((ext & SMTPC_EXT_SIZE) != 0)
		buf_addf(out, " SIZE=%llu",
		    (unsigned long long)t->msg->scan.size);
	if (eight && (ext & SMTPC_EXT_8BITMIME) != 0)
		buf_add_str(out, " BODY=8BITMIME");
	if (utf8 && (ext & SMTPC_EXT_SMTPUTF8) != 0)
		buf_add_str(out, " SMTPUTF8");
	if ((ext & SMTPC_EXT_DSN) != 0 && queue_dsn_params_parse(
	    env->sender_params, strlen(env->sender_params), utf8 ?
	    QUEUE_DSN_PARSE_UTF8 : 0, &p, &error) == PARSE_OK) {
		if (p.ret != QUEUE_DSN_RET_NONE)
			buf_add_str(out, p.ret == QUEUE_DSN_RET_FULL ?
			    " RET=FULL" : " RET=HDRS");
		if (p.envid != NULL)
			buf_addf(out, " ENVID=%.*s", (int)p.envid_len,
			    p.envid);
	}
	buf_add_str(out, "\r\n");
}

/* rcpt_cmd - "RCPT TO:<...>" with NOTIFY and ORCPT for a DSN peer */
static void
rcpt_cmd(const struct smtp_conn *conn, const struct smtp_txn_rcpt *r,
    bool utf8_sent, struct buf *out)
{
	static const char *const names[] = { "SUCCESS", "FAILURE", "DELAY" };
	struct queue_dsn_params p;
	const char *error, *sep = " NOTIFY=";

	buf_addf(out, "RCPT TO:<%s>", r->addr);
	if ((conn->caps.ext & SMTPC_EXT_DSN) != 0 && queue_dsn_params_parse(
	    r->params, strlen(r->params), QUEUE_DSN_PARSE_RCPT |
	    (utf8_sent ? QUEUE_DSN_PARSE_UTF8 : 0), &p, &error) ==
	    PARSE_OK) {
		/* SUCCESS, FAILURE, DELAY are bits 0, 1, 2 */
		if (p.notify == QUEUE_DSN_NOTIFY_NEVER)
			buf_add_str(out, " NOTIFY=NEVER");
		for (unsigned i = 0; i < 3 && p.notify !=
		    QUEUE_DSN_NOTIFY_NEVER; i++)
			if ((p.notify & (1u << i)) != 0) {
				buf_addf(out, "%s%s", sep, names[i]);
				sep = ",";
			}
		if (p.orcpt != NULL)
			buf_addf(out, " ORCPT=%.*s;%.*s",
			    (int)p.orcpt_type_len, p.orcpt_type,
			    (int)p.orcpt_len, p.orcpt);
	}
	buf_add_str(out, "\r\n");
}

/* all_fail - every recipient of t without a result gets f's */
static void
all_fail(struct smtp_txn *t, const struct smtp_fail *f, bool accepted_only)
{
	for (size_t i = 0; i < t->n; i++)
		if (!accepted_only || t->rcpt[i].accepted)
			smtp_fail_apply(f, t->rcpt[i].res);
}

/* precheck - what the peer cannot take, decided before MAIL: 0 fine,
 * -1 f filled (every recipient fails the same way) */
static int
precheck(const struct smtp_conn *conn, const struct smtp_txn *t,
    bool *eight_r, bool *utf8_r, struct smtp_fail *f)
{
	const struct queue_envelope *env = t->env;
	const struct smtpc_scan *sc = &t->msg->scan;
	unsigned ext = conn->caps.ext;
	bool utf8_addr = is_8bit(env->sender);

	*eight_r = (sc->flags & (SMTPC_SCAN_8BIT_HEADER |
	    SMTPC_SCAN_8BIT_BODY)) != 0 ||
	    has_keyword(env->sender_params, "BODY=8BITMIME");
	for (size_t i = 0; i < t->n; i++)
		utf8_addr = utf8_addr || is_8bit(t->rcpt[i].addr);
	*utf8_r = has_keyword(env->sender_params, "SMTPUTF8") || utf8_addr;
	if ((ext & SMTPC_EXT_SIZE) != 0 && conn->caps.size > 0 &&
	    sc->size > conn->caps.size) {
		smtp_fail_set(f, TRANSPORT_PERMFAIL, "5.3.4", 0, "message size "
		    "%llu exceeds size limit %llu of server %s",
		    (unsigned long long)sc->size,
		    (unsigned long long)conn->caps.size, conn->relay);
		return -1;
	}
	if (*utf8_r && (ext & SMTPC_EXT_SMTPUTF8) == 0 &&
	    (utf8_addr || (sc->flags & SMTPC_SCAN_8BIT_HEADER) != 0)) {
		smtp_fail_set(f, TRANSPORT_PERMFAIL, "5.6.7", 0, "SMTPUTF8 is "
		    "required, but was not offered by host %s", conn->relay);
		return -1;
	}
	if ((sc->flags & (SMTPC_SCAN_8BIT_HEADER | SMTPC_SCAN_8BIT_BODY)) !=
	    0 && (ext & SMTPC_EXT_8BITMIME) == 0) {
		smtp_fail_set(f, TRANSPORT_PERMFAIL, "5.6.3", 0, "8-bit "
		    "message content, and host %s does not offer 8BITMIME "
		    "(no conversion is done)", conn->relay);
		return -1;
	}
	if (!is_clean(env->sender)) {
		smtp_fail_set(f, TRANSPORT_PERMFAIL, "5.1.7", 0, "bad sender "
		    "address syntax");
		return -1;
	}
	return 0;
}

/* the replies of one transaction, as they come in */
struct txn_state {
	struct smtp_client *c;
	struct smtp_conn *conn;
	struct smtp_txn *t;
	bool reused;		/* conn carried a transaction before */
	bool any_reply;		/* a reply of this transaction was read */
	bool mail_ok;
	struct smtp_fail mail_fail;	/* MAIL's refusal */
	size_t naccepted;
	bool data_sent;		/* DATA went in the last group */
	struct smtpc_reply data_reply;	/* its reply */
};

/* read_replies - the replies to the commands of one group: kinds[k] is
 * 'M' (MAIL), 'R' (RCPT, rcpt index idx[k]) or 'D' (DATA) */
static int
read_replies(struct txn_state *s, const char *kinds, const size_t *idx,
    size_t n, struct smtp_fail *f)
{
	struct smtp_conn *conn = s->conn;
	struct buf why = BUF_INIT(0);
	struct smtpc_reply r;
	int rc = 0;

	memset(&r, 0, sizeof(r));
	for (size_t k = 0; k < n && rc == 0; k++) {
		unsigned t = kinds[k] == 'D' ? s->c->cc->data_init_timeout :
		    s->c->cc->mail_timeout;

		if (smtp_io_reply(&conn->io, &r, t, &why) < 0) {
			smtp_fail_io(conn, f, kinds[k] == 'M' ? "sending MAIL "
			    "FROM" : kinds[k] == 'R' ? "sending RCPT TO" :
			    "sending DATA", &why);
			rc = -1;
			break;
		}
		s->any_reply = true;
		switch (kinds[k]) {
		case 'M':
			s->mail_ok = r.code / 100 == 2;
			if (!s->mail_ok)
				smtp_fail_reply(&s->mail_fail, &r);
			break;
		case 'R': {
			struct smtp_txn_rcpt *tr = &s->t->rcpt[idx[k]];

			if (!s->mail_ok) {
				smtp_fail_apply(&s->mail_fail, tr->res);
				break;
			}
			smtp_fail_result(conn, &r, tr->res);
			tr->accepted = r.code / 100 == 2;
			if (tr->accepted)
				s->naccepted++;
			break;
		}
		default:
			smtpc_reply_free(&s->data_reply);
			s->data_reply = r;
			memset(&r, 0, sizeof(r));
			break;
		}
	}
	smtpc_reply_free(&r);
	buf_free(&why);
	return rc;
}

/* envelope - MAIL, RCPTs and (with_data) DATA, pipelined when offered;
 * -1: the conversation failed, f says how */
static int
envelope(struct txn_state *s, bool eight, bool utf8, bool with_data,
    struct smtp_fail *f)
{
	struct smtp_conn *conn = s->conn;
	struct smtp_txn *t = s->t;
	bool pipe = (conn->caps.ext & SMTPC_EXT_PIPELINING) != 0;
	size_t ncmd = t->n + 1 + (with_data ? 1 : 0), ng = 0;
	char *kinds = xmalloc(ncmd);
	size_t *idx = xcalloc(ncmd, sizeof(*idx));
	struct buf out = BUF_INIT(0), why = BUF_INIT(0);
	int rc = 0;

	for (size_t k = 0; k < ncmd && rc == 0; k++) {
		bool last = k + 1 == ncmd;

		if (k == 0) {
			mail_cmd(conn, t, eight, utf8, &out);
			kinds[ng] = 'M';
		} else if (k <= t->n) {
			rcpt_cmd(conn, &t->rcpt[k - 1], utf8 &&
			    (conn->caps.ext & SMTPC_EXT_SMTPUTF8) != 0, &out);
			kinds[ng] = 'R';
			idx[ng] = k - 1;
		} else {
			buf_add_str(&out, "DATA\r\n");
			kinds[ng] = 'D';
			s->data_sent = true;
		}
		ng++;
		if (pipe && !last && out.len < SMTPC_PIPE_BYTES)
			continue;
		if (smtp_io_write(&conn->io, out.data, out.len,
		    s->c->cc->mail_timeout, &why) < 0) {
			smtp_fail_io(conn, f, kinds[0] == 'M' ? "sending MAIL "
			    "FROM" : "sending RCPT TO", &why);
			rc = -1;
			break;
		}
		buf_reset(&out);
		rc = read_replies(s, kinds, idx, ng, f);
		ng = 0;
		/* a refused MAIL ends it: no more groups */
		if (rc == 0 && !s->mail_ok)
			break;
	}
	free(kinds);
	free(idx);
	buf_free(&out);
	buf_free(&why);
	return rc;
}

/* rset - back to the initial state after a transaction that did not end
 * with the message; -1: close the connection */
static int
rset(struct txn_state *s)
{
	struct smtp_fail f;
	struct smtpc_reply r;
	int rc;

	smtp_fail_init(&f);
	memset(&r, 0, sizeof(r));
	rc = smtp_session_cmd(s->conn, "RSET\r\n", s->c->cc->mail_timeout,
	    "sending RSET", &r, &f) < 0 || r.code / 100 != 2 ? -1 : 0;
	smtpc_reply_free(&r);
	smtp_fail_free(&f);
	return rc;
}

/* send_body - the message after 354 (dot-stuffed, ".") or after the
 * BDAT command (as it is, exactly size bytes); -1 fills f for the
 * accepted recipients (content: a read error, not the peer's fault) */
static int
send_body(struct txn_state *s, bool bdat, struct smtp_fail *f)
{
	struct smtp_msg *m = s->t->msg;
	struct buf chunk = BUF_INIT(0), out = BUF_INIT(0), err = BUF_INIT(0);
	struct smtpc_data dot;
	uint64_t sent = 0;
	bool eof = false;
	int rc = -1;

	smtpc_data_init(&dot, true);
	if (smtp_msg_rewind(m, &err) < 0)
		goto content;
	while (!eof) {
		buf_reset(&chunk);
		buf_reset(&out);
		if (smtp_msg_read(m, &chunk, SMTPC_BLOCK, &eof, &err) < 0)
			goto content;
		sent += chunk.len;
		if (bdat && sent > m->scan.size)
			goto changed;
		if (bdat)
			buf_add(&out, chunk.data, chunk.len);
		else
			smtpc_data_feed(&dot, chunk.data, chunk.len, &out);
		if (eof && !bdat)
			smtpc_data_end(&dot, &out);
		if (out.len > 0 && smtp_io_write(&s->conn->io, out.data,
		    out.len, s->c->cc->data_xfer_timeout, &err) < 0) {
			smtp_fail_io(s->conn, f, "sending message body", &err);
			goto out;
		}
	}
	if (bdat && sent != m->scan.size)
		goto changed;
	rc = 0;
	goto out;
changed:
	buf_addf(&err, "error reading queue file: its size changed between "
	    "two reads");
content:
	smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.3.0", 0, "%s",
	    buf_cstr(&err));
out:
	buf_free(&chunk);
	buf_free(&out);
	buf_free(&err);
	return rc;
}

/* finish - the reply to the end of the message, for every accepted
 * recipient */
static int
finish(struct txn_state *s, struct smtp_fail *f)
{
	struct smtp_conn *conn = s->conn;
	struct buf why = BUF_INIT(0);
	struct smtpc_reply r;
	int rc = 0;

	memset(&r, 0, sizeof(r));
	if (smtp_io_reply(&conn->io, &r, s->c->cc->data_done_timeout,
	    &why) < 0) {
		smtp_fail_io(conn, f, "sending end of data -- message may be "
		    "sent more than once", &why);
		rc = -1;
	} else {
		for (size_t i = 0; i < s->t->n; i++) {
			struct smtp_txn_rcpt *tr = &s->t->rcpt[i];

			if (!tr->accepted)
				continue;
			smtp_fail_result(conn, &r, tr->res);
			if (r.code / 100 == 2 &&
			    (conn->caps.ext & SMTPC_EXT_DSN) != 0)
				tr->res->flags |= TRANSPORT_F_DSN_PASSED;
		}
	}
	smtpc_reply_free(&r);
	buf_free(&why);
	return rc;
}

/* data - DATA or BDAT for the accepted recipients; the result end */
static enum smtp_txn_end
data(struct txn_state *s, bool bdat, struct smtp_fail *f)
{
	struct smtp_conn *conn = s->conn;
	struct buf cmd = BUF_INIT(0), why = BUF_INIT(0);
	enum smtp_txn_end end = SMTP_TXN_BROKEN;

	if (bdat) {
		buf_addf(&cmd, "BDAT %llu LAST\r\n",
		    (unsigned long long)s->t->msg->scan.size);
		if (smtp_io_write(&conn->io, cmd.data, cmd.len,
		    s->c->cc->data_init_timeout, &why) < 0) {
			smtp_fail_io(conn, f, "sending BDAT", &why);
			goto fail;
		}
	} else {
		if (!s->data_sent && smtp_io_write(&conn->io, "DATA\r\n", 6,
		    s->c->cc->data_init_timeout, &why) < 0) {
			smtp_fail_io(conn, f, "sending DATA", &why);
			goto fail;
		}
		if (!s->data_sent && read_replies(s, "D", NULL, 1, f) < 0)
			goto fail;
		if (s->data_reply.code != 354) {
			smtp_fail_reply(f, &s->data_reply);
			all_fail(s->t, f, true);
			end = rset(s) == 0 ? SMTP_TXN_CLEAN : SMTP_TXN_BROKEN;
			goto out;
		}
	}
	if (send_body(s, bdat, f) < 0 || finish(s, f) < 0)
		goto fail;
	end = SMTP_TXN_CLEAN;
	goto out;
fail:
	all_fail(s->t, f, true);
out:
	buf_free(&cmd);
	buf_free(&why);
	return end;
}

enum smtp_txn_end
smtp_txn_run(struct smtp_client *c, struct smtp_conn *conn,
    struct smtp_txn *t)
{
	struct txn_state s;
	struct smtp_fail f;
	struct buf err = BUF_INIT(0);
	bool eight, utf8, bdat;
	enum smtp_txn_end end = SMTP_TXN_CLEAN;

	memset(&s, 0, sizeof(s));
	s.c = c;
	s.conn = conn;
	s.t = t;
	s.reused = conn->ntxn > 0;
	smtp_fail_init(&s.mail_fail);
	smtp_fail_init(&f);
	memcpy(f.relay, conn->relay, sizeof(f.relay));
	memcpy(s.mail_fail.relay, conn->relay, sizeof(f.relay));
	for (size_t i = 0; i < t->n; i++)
		t->rcpt[i].accepted = false;
	if (smtp_msg_scan(t->msg, &err) < 0) {	/* done once, before */
		smtp_fail_set(&f, TRANSPORT_TEMPFAIL, "4.3.0", 0, "%s",
		    buf_cstr(&err));
		f.relay[0] = '\0';
		all_fail(t, &f, false);
		goto out;
	}
	if (precheck(conn, t, &eight, &utf8, &f) < 0) {
		all_fail(t, &f, false);
		goto out;
	}
	conn->ntxn++;
	bdat = conn->esmtp && (conn->caps.ext & SMTPC_EXT_CHUNKING) != 0;
	if (envelope(&s, eight, utf8, !bdat &&
	    (conn->caps.ext & SMTPC_EXT_PIPELINING) != 0, &f) < 0) {
		if (s.reused && !s.any_reply) {
			log_debug(SMTPC_SVC, "%s: cached connection to %s was "
			    "dead (%s)", t->qid, conn->relay,
			    buf_cstr(&f.text));
			end = SMTP_TXN_RETRY;
			goto out;
		}
		for (size_t i = 0; i < t->n; i++)
			if (t->rcpt[i].res->status == TRANSPORT_NONE ||
			    t->rcpt[i].accepted)
				smtp_fail_apply(&f, t->rcpt[i].res);
		end = SMTP_TXN_BROKEN;
		goto out;
	}
	for (size_t i = 0; i < t->n && !s.mail_ok; i++)
		if (t->rcpt[i].res->status == TRANSPORT_NONE)
			smtp_fail_apply(&s.mail_fail, t->rcpt[i].res);
	if (!s.mail_ok || s.naccepted == 0) {
		/* a peer in data mode with no recipient is broken */
		if (s.data_sent && s.data_reply.code == 354)
			end = SMTP_TXN_BROKEN;
		else
			end = rset(&s) == 0 ? SMTP_TXN_CLEAN :
			    SMTP_TXN_BROKEN;
		goto out;
	}
	end = data(&s, bdat, &f);
out:
	smtp_fail_free(&s.mail_fail);
	smtp_fail_free(&f);
	smtpc_reply_free(&s.data_reply);
	buf_free(&err);
	return end;
}
