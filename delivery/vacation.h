/*
 * vacation.h - the auto-reply of a JMAP VacationResponse (RFC 8621 8),
 * sent at local delivery by the rules of RFC 3834.
 *
 * Three parts: vacation_decide, pure, says whether a delivered message
 * may be answered at all (and why not); vacation_build, pure, writes
 * the reply; vacation_after_delivery, called by the delivery agent once
 * the message is committed to the mailboxes, reads the account's
 * response, decides, claims the sender for the period (store/mail.h
 * mail_vacation_claim) and hands the reply to the queue with an empty
 * envelope sender (RFC 3834 3.3).  Nothing it does can change the
 * outcome of the delivery: every failure is one log line.
 */
#ifndef POSTERN_VACATION_H
#define POSTERN_VACATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "delivery/delivery.h"
#include "store/mail.h"

#define VACATION_PERIOD_DEFAULT (7u * 24 * 3600)	/* RFC 5230's 7 days */
#define VACATION_ADDRS_MAX 100u	/* To/Cc addresses compared with the
				   user's (each may cost a directory read) */
#define VACATION_REFS_MAX 20u	/* msg-ids in the reply's References */
#define VACATION_MSGID_MAX 250u	/* octets of a msg-id we copy */

/* why a message gets no reply; VACATION_REPLY when it gets one */
enum vacation_verdict {
	VACATION_REPLY = 0,
	VACATION_NULL_SENDER,	/* <>: a bounce or an auto-reply */
	VACATION_BAD_SENDER,	/* no plain ASCII address to write in To: */
	VACATION_SPAM,		/* the filters sent it to Junk */
	VACATION_AUTO_SUBMITTED,	/* Auto-Submitted other than "no" */
	VACATION_PRECEDENCE,	/* Precedence: bulk, list or junk */
	VACATION_LIST,		/* a List-* field: a mailing list */
	VACATION_SUPPRESSED,	/* X-Auto-Response-Suppress: OOF or All */
	VACATION_SYSTEM_SENDER,	/* mailer-daemon, owner-*, *-request, ... */
	VACATION_OWN_SENDER,	/* the user wrote it */
	VACATION_NOT_ADDRESSED,	/* no address of the user in To or Cc */
};

/* vacation_verdict_str - "reply", "null sender", ... (for the log) */
const char *vacation_verdict_str(enum vacation_verdict v);

/* is_own - addr (an addr-spec of To/Cc, or the envelope sender) is one
 * of the user's own addresses */
typedef bool vacation_own_fn(void *arg, const char *addr);

/* the delivered message, as RFC 3834 calls it: the subject message */
struct vacation_subject {
	const char *sender;		/* envelope sender, "" for <> */
	const unsigned char *msg;	/* its header is read (to the
					   first empty line) */
	size_t len;
	bool junk;			/* filed in Junk */
	vacation_own_fn *is_own;
	void *own_arg;
};

/*
 * vacation_decide - the RFC 3834 section 2 rules: never answer the null
 * sender, an automatic message (Auto-Submitted other than "no"), list
 * or bulk mail (List-*, Precedence), a system sender (MAILER-DAEMON,
 * LISTSERV, majordomo, owner-*, *-owner, *-request, *-bounces,
 * noreply), spam, the user's own mail, or a message that does not name
 * one of the user's addresses in To, Cc, Resent-To or Resent-Cc (Bcc
 * only, a list expansion, a catch-all).  At most VACATION_ADDRS_MAX
 * addresses are compared.  Pure but for is_own.
 */
enum vacation_verdict vacation_decide(const struct vacation_subject *s);

/* vacation_is_active - enabled, and now in [fromDate, toDate) */
bool vacation_is_active(const struct mail_vacation *v, int64_t now);

/* what a reply says */
struct vacation_reply {
	const char *from_addr;		/* the user's address */
	const char *from_name;		/* display name, "" for none */
	const char *to;			/* the envelope sender */
	const unsigned char *orig;	/* the subject message (its header) */
	size_t orig_len;
	const char *subject;		/* NULL or "": "Auto: " + original */
	const char *text;		/* UTF-8; NULL: none */
	const char *html;		/* UTF-8; NULL: none (one of the two
					   must be given) */
	int64_t date;			/* unix seconds */
	const char *message_id;		/* without <>, ASCII */
};

/*
 * vacation_build - the reply (RFC 3834 3): From the user, To the
 * envelope sender, Subject, Date, Message-ID, In-Reply-To and
 * References of the original's Message-ID (3.1.4; References also
 * carries the original's, at most VACATION_REFS_MAX), Auto-Submitted:
 * auto-replied (5), MIME-Version, and a text/plain or text/html body or
 * multipart/alternative of both, UTF-8 quoted-printable.  Header text
 * with 8-bit bytes becomes RFC 2047 words.  CRLF lines, none longer than
 * 998 octets.  Pure.
 */
void vacation_build(const struct vacation_reply *r, struct buf *out);

/* one delivered message, as vacation_after_delivery needs it */
struct vacation_delivery {
	struct store *st;
	struct directory *dir;
	delivery_forward_fn *send;	/* queues a message (the forward
					   hook of delivery.h); NULL: none */
	void *send_arg;
	const char *queue_id;		/* for the log; NULL: none */
	const char *sender;		/* envelope sender, "" for <> */
	const void *msg;
	size_t len;
	bool junk;
};

/*
 * vacation_after_delivery - the message was filed for account acct
 * (reached at envelope address rcpt): answer it if its response says
 * so.  Blocks (store, directory, queue commit): on the delivery worker.
 */
void vacation_after_delivery(const struct vacation_delivery *vd,
    uint32_t acct, const char *rcpt);

#endif
