/*
 * smtp_fail.c - what the SMTP client reports: a reply of the next hop
 * (its text as sent, flagged TRANSPORT_F_REMOTE, its enhanced code or
 * the class's x.0.0) or a failure of our own (connect, timeout, lost or
 * garbled conversation, TLS), worded as Postfix words them so that log
 * readers and tools find what they know: "connect to host[addr]:port:
 * Connection refused", "conversation with ... timed out while sending
 * MAIL FROM", "lost connection with ... while sending message body".
 *
 * Codes (RFC 3463): connect 4.4.1; timeout and lost connection 4.4.2;
 * a reply the parser refused 4.5.0; TLS 4.7.5; our shutdown 4.3.0.
 * Every failure of ours is temporary: the next try may work.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mta/smtp_client_priv.h"

void
smtp_fail_init(struct smtp_fail *f)
{
	memset(f, 0, sizeof(*f));
	buf_init(&f->text, 0);
	f->st = TRANSPORT_TEMPFAIL;
	memcpy(f->dsn, "4.4.1", 6);
}

void
smtp_fail_free(struct smtp_fail *f)
{
	buf_free(&f->text);
}

void
smtp_fail_set(struct smtp_fail *f, enum transport_status st, const char *dsn,
    unsigned flags, const char *fmt, ...)
{
	va_list ap;

	f->st = st;
	f->flags = flags;
	(void)snprintf(f->dsn, sizeof(f->dsn), "%s", dsn);
	buf_reset(&f->text);
	va_start(ap, fmt);
	if (buf_vprintf(&f->text, fmt, ap) < 0)
		PANIC("fail_set: format");
	va_end(ap);
}

void
smtp_fail_apply(const struct smtp_fail *f, struct transport_result *res)
{
	transport_result_set(res, f->st, f->dsn, "%s", buf_cstr(&f->text));
	res->flags = f->flags;
	if (f->relay[0] != '\0')
		transport_result_relay(res, "%s", f->relay);
}

/* reply_status - what a reply code means for the mail */
static enum transport_status
reply_status(const struct smtpc_reply *r)
{
	return r->code < 300 ? TRANSPORT_OK : r->code < 500 ?
	    TRANSPORT_TEMPFAIL : TRANSPORT_PERMFAIL;
}

static const char *
reply_dsn(const struct smtpc_reply *r)
{
	if (r->has_enh)
		return r->enh;
	return r->code < 300 ? "2.0.0" : r->code < 500 ? "4.0.0" : "5.0.0";
}

/* reply_fail - f from a reply of the peer: its text, flagged remote */
void
smtp_fail_reply(struct smtp_fail *f, const struct smtpc_reply *r)
{
	struct buf t = BUF_INIT(0);

	if (smtpc_reply_format(r, &t) < 0)
		PANIC("reply_fail: format");
	smtp_fail_set(f, reply_status(r) == TRANSPORT_PERMFAIL ?
	    TRANSPORT_PERMFAIL : TRANSPORT_TEMPFAIL, reply_dsn(r),
	    TRANSPORT_F_REMOTE, "%s", buf_cstr(&t));
	buf_free(&t);
}

/* reply_result - res from a reply of the peer to one recipient */
void
smtp_fail_result(const struct smtp_conn *conn, const struct smtpc_reply *r,
    struct transport_result *res)
{
	struct buf t = BUF_INIT(0);

	if (smtpc_reply_format(r, &t) < 0)
		PANIC("reply_result: format");
	transport_result_set(res, reply_status(r), reply_dsn(r), "%s",
	    buf_cstr(&t));
	res->flags = TRANSPORT_F_REMOTE;
	transport_result_relay(res, "%s", conn->relay);
	buf_free(&t);
}

/* io_failure - f from what the connection's I/O said, phase being what
 * we were doing ("receiving the initial server greeting") */
void
smtp_fail_io(const struct smtp_conn *conn, struct smtp_fail *f,
    const char *phase, const struct buf *why)
{
	const char *w = buf_cstr(why), *r = conn->relay;

	switch (conn->io.fail) {
	case SMTP_IO_CONNECT:
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.4.1", 0,
		    "connect to %s: %s", r, w);
		break;
	case SMTP_IO_TIMEOUT:
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.4.2", 0,
		    "conversation with %s timed out while %s", r, phase);
		break;
	case SMTP_IO_PROTO:
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.5.0", 0,
		    "%s sent a malformed reply while %s: %s", r, phase, w);
		break;
	case SMTP_IO_TLS:
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.7.5", 0,
		    "TLS with %s failed while %s: %s", r, phase, w);
		break;
	case SMTP_IO_STOPPED:
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.3.0", 0,
		    "delivery to %s interrupted (shutting down)", r);
		break;
	case SMTP_IO_LOST:
	case SMTP_IO_OK:
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.4.2", 0,
		    "lost connection with %s while %s%s%s%s", r, phase,
		    strcmp(w, "lost connection") != 0 ? " (" : "",
		    strcmp(w, "lost connection") != 0 ? w : "",
		    strcmp(w, "lost connection") != 0 ? ")" : "");
		break;
	}
}

