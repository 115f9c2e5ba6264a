/*
 * queue_dsn.h - delivery status notifications: the RFC 3461 ESMTP
 * parameters (NOTIFY, ORCPT on RCPT; RET, ENVID on MAIL) and the RFC 3464
 * report message sent back to a sender.
 *
 * Both halves are pure: no I/O, no globals, no policy.  The SMTP server
 * checks the parameters with queue_dsn_params_parse() and stores them as
 * it received them (struct queue_rcpt.params, queue_envelope.sender_
 * params); the queue manager parses the stored strings again when a
 * notification is due (queue_notify.c) and builds the report with
 * queue_dsn_build().
 */
#ifndef POSTERN_QUEUE_DSN_H
#define POSTERN_QUEUE_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

/* ---- RFC 3461 parameters ---- */

/* NOTIFY bits; 0 = no NOTIFY given (RFC 3461 4.1: act as FAILURE,DELAY) */
#define QUEUE_DSN_NOTIFY_SUCCESS 0x1u
#define QUEUE_DSN_NOTIFY_FAILURE 0x2u
#define QUEUE_DSN_NOTIFY_DELAY 0x4u
#define QUEUE_DSN_NOTIFY_NEVER 0x8u	/* never with another bit */

enum queue_dsn_ret {
	QUEUE_DSN_RET_NONE,	/* not given: ours (full, within limits) */
	QUEUE_DSN_RET_FULL,
	QUEUE_DSN_RET_HDRS,
};

/* RFC 3461 4.4 and 4.2: the longest ENVID and ORCPT values, encoded */
#define QUEUE_DSN_ENVID_MAX 100u
#define QUEUE_DSN_ORCPT_MAX 500u

/* flags of queue_dsn_params_parse */
#define QUEUE_DSN_PARSE_RCPT 0x1u	/* RCPT parameters; else MAIL */
#define QUEUE_DSN_PARSE_UTF8 0x2u	/* SMTPUTF8 transaction (RFC 6533:
					 * raw UTF-8 allowed in ORCPT=utf-8) */

/*
 * The DSN parameters found in one command.  Values point into the parsed
 * string (valid as long as it is) and are still encoded: decode them with
 * queue_dsn_xtext_decode() / queue_dsn_orcpt_decode(), which cannot fail
 * on a value that parsed.
 */
struct queue_dsn_params {
	unsigned notify;		/* QUEUE_DSN_NOTIFY_* bits, 0: none */
	enum queue_dsn_ret ret;
	const char *envid;		/* xtext; NULL: no ENVID */
	size_t envid_len;
	const char *orcpt_type;		/* addr-type ("rfc822", "utf-8");
					 * NULL: no ORCPT */
	size_t orcpt_type_len;
	const char *orcpt;		/* the address after ';', encoded */
	size_t orcpt_len;
	bool utf8;			/* the flag it was parsed with */
};

/*
 * queue_dsn_params_parse - the ESMTP parameters of one MAIL or RCPT
 * command, "KEY[=VALUE]" separated by spaces; keywords other than the
 * four of RFC 3461 are skipped (the caller checks those).  Keywords and
 * the NOTIFY and RET values are case-insensitive.
 *
 * PARSE_OK: *p filled (zeroed first).  PARSE_BAD: a malformed value, a
 * duplicate, NOTIFY=NEVER with another value, MAIL's keyword on RCPT or
 * the reverse, an encoded value that decodes to a control character (or
 * non-ASCII outside ORCPT=utf-8): answer 501 5.5.4.  PARSE_TOO_LONG: an
 * ENVID or ORCPT over its limit: 501 5.5.4 too.  *error_r is static text
 * for the reply ("invalid NOTIFY parameter").  Never reads past n.
 */
enum parse_res queue_dsn_params_parse(const char *s, size_t n,
    unsigned flags, struct queue_dsn_params *p, const char **error_r);

/*
 * queue_dsn_xtext_decode - RFC 3461 4 xtext ("+2B" for '+'), appended
 * to out (NULL: only check).  -1 when malformed, or when a decoded byte
 * is not printable US-ASCII (RFC 3461 4.2, 4.4); out may then hold part
 * of it.  Lowercase hex digits are accepted.
 */
int queue_dsn_xtext_decode(const char *s, size_t n, struct buf *out)
    WARN_UNUSED;
/*
 * queue_dsn_orcpt_decode - the address of an ORCPT: for addr-type
 * "utf-8" (RFC 6533 3) utf-8-addr-xtext or, when utf8, -unitext, with
 * "\x{HEX}" escapes, decoded to UTF-8; for any other type xtext, whose
 * "+HH" bytes may spell UTF-8 (as Postfix sends a UTF-8 address).  No
 * control character (C0, DEL, C1) may result, and the UTF-8 must be
 * well formed.  -1 when malformed.
 */
int queue_dsn_orcpt_decode(const char *type, size_t type_len,
    const char *s, size_t n, bool utf8, struct buf *out) WARN_UNUSED;

/* ---- RFC 3464 reports ---- */

enum queue_dsn_action {
	QUEUE_DSN_FAILED,
	QUEUE_DSN_DELAYED,
	QUEUE_DSN_DELIVERED,
	QUEUE_DSN_RELAYED,	/* to a next hop that sends no DSN itself */
	QUEUE_DSN_EXPANDED,	/* delivered, and forwarded onwards */
};

/* "failed", "delayed", "delivered", "relayed", "expanded" */
const char *queue_dsn_action_name(enum queue_dsn_action a);

/* one per-recipient field group; strings hold no NUL, "" or NULL =
 * absent for the optional ones */
struct queue_dsn_rcpt {
	const char *final_rcpt;		/* as given at RCPT, without <> */
	const char *orcpt_type;		/* ORCPT addr-type; absent: none */
	const char *orcpt;		/* ORCPT address, decoded */
	enum queue_dsn_action action;
	const char *status;		/* RFC 3463 "5.1.1" */
	const char *remote_mta;		/* "mx.example.com": the diagnostic
					 * came from its reply */
	const char *diag;		/* "550 5.1.1 no such user", or our
					 * own text when remote_mta is absent */
	uint64_t last_attempt_us;	/* 0: none */
	uint64_t retry_until_us;	/* delayed: when we give up; 0: none */
};

/* the original's content, as struct transport_content reads it: up to
 * size (> 0) bytes, *n_r == 0 at the end; -1 with a line in err */
typedef int queue_dsn_read_fn(void *ctx, void *buf, size_t size,
    size_t *n_r, struct buf *err);

/* the original message's headers returned when not the whole message */
#define QUEUE_DSN_HEADERS_MAX (64u << 10)

struct queue_dsn_report {
	const char *hostname;		/* MAILER-DAEMON@, Reporting-MTA */
	const char *qid;		/* the original's queue ID */
	const char *sender;		/* original envelope sender: To: */
	const char *envid;		/* ENVID, decoded; absent: none */
	enum queue_dsn_ret ret;
	uint64_t arrival_us;
	const char *client_name;	/* Received-From-MTA; absent: none */
	const char *client_ip;
	uint64_t now_us;		/* Date:, Message-ID */
	const struct queue_dsn_rcpt *rcpts;
	size_t nrcpt;			/* >= 1 */
	/* the original: returned in full when a recipient failed, RET is
	 * not HDRS and content_size <= full_max; otherwise its header
	 * section, at most QUEUE_DSN_HEADERS_MAX bytes of whole lines.
	 * read NULL: no copy (the text part says it is unavailable). */
	uint64_t content_size;
	uint64_t full_max;
	queue_dsn_read_fn *read;
	void *read_ctx;
};

/* what queue_dsn_build says about the message it made */
#define QUEUE_DSN_OUT_8BIT 0x1u		/* send with BODY=8BITMIME */
#define QUEUE_DSN_OUT_UTF8 0x2u		/* ... and SMTPUTF8 (RFC 6533) */
#define QUEUE_DSN_OUT_FULL 0x4u		/* the whole original attached */

/*
 * queue_dsn_build - the complete report message, appended to out: RFC
 * 5322 header (From: MAILER-DAEMON, To: the sender, Subject, Date,
 * Message-ID, Auto-Submitted: auto-replied), multipart/report with a
 * text/plain explanation, message/delivery-status and the original
 * (message/rfc822 or text/rfc822-headers).  When an address or the
 * original's header is not ASCII, the RFC 6533 types are used instead
 * (message/global-delivery-status, message/global, message/global-
 * headers).  CRLF line ends; every line we write is within 998 bytes
 * (long fields folded, or broken with a space where they have none),
 * the original's bare CR or LF become CRLF.  Deterministic: the output
 * depends on r only.  -1 only when read fails (err has its line): the
 * caller may build again with read NULL.
 */
int queue_dsn_build(const struct queue_dsn_report *r, struct buf *out,
    unsigned *flags_r, struct buf *err) WARN_UNUSED;

#endif
