/*
 * smtpd.h - the inbound SMTP server (RFC 5321) on port 25, message
 * submission (RFC 6409) on 587 and 465, and LMTP.
 *
 * A struct smtpd serves one listener kind; its sessions live on the I/O
 * loops, run blocking work (spool writes, the group commit, password
 * checks) as jobs, and answer 250 after DATA only once the message is
 * durable in the spool.
 */
#ifndef POSTERN_SMTPD_H
#define POSTERN_SMTPD_H

#include <openssl/ssl.h>

#include "common/config.h"
#include "common/listen.h"
#include "common/loop.h"
#include "queue/queue.h"

struct smtpd;

/* smtpd_queued_fn - a message was committed to the spool (any thread) */
typedef void smtpd_queued_fn(void *arg, const char *qid);

/*
 * smtpd_new - cfg, jobs, spool must outlive the server; tls may be NULL
 * (no STARTTLS).  on_queued tells the queue manager about new mail.
 */
struct smtpd *smtpd_new(const struct config *cfg, struct jobs *jobs,
    SSL_CTX *tls, struct spool *spool, smtpd_queued_fn *on_queued,
    void *arg);
/*
 * The recipient check (optional).  Without one, RCPT TO is accepted for
 * any address of smtp.local_domains.  With one, it decides alone, on a
 * worker thread (it may block on the directory and the store): size is
 * the MAIL FROM SIZE= value, 0 when none was given.  Either way, an
 * authenticated session and (SMTP, not LMTP) a client in
 * smtp.relay_networks may relay: SMTPD_RCPT_RELAY_DENIED is not applied
 * to them.
 */
enum smtpd_verdict {
	SMTPD_RCPT_OK,			/* 250 2.1.5 */
	SMTPD_RCPT_RELAY_DENIED,	/* 554 5.7.1: not a local domain */
	SMTPD_RCPT_UNKNOWN,		/* 550 5.1.1 */
	SMTPD_RCPT_OVER_QUOTA,		/* 452 4.2.2 */
	SMTPD_RCPT_TEMPFAIL,		/* 451 4.3.0 */
};
typedef enum smtpd_verdict smtpd_rcpt_fn(void *arg, const char *addr,
    uint64_t size);
/* smtpd_set_rcpt_check - before the first session */
void smtpd_set_rcpt_check(struct smtpd *s, smtpd_rcpt_fn *fn, void *arg);

/*
 * LMTP (RFC 2033).  smtpd_set_lmtp makes s an LMTP server: LHLO instead of
 * HELO/EHLO, and at the end of DATA (or BDAT LAST) the message is not
 * spooled but handed to deliver, on a worker, with the whole content in
 * memory; its per-recipient answers are sent in RCPT order.  deliver
 * must fill code (250, 4xx, 5xx), ecode and text of every recipient.
 * sender_params are the MAIL parameters as the queue would store them
 * (queue_envelope.sender_params: "BODY=8BITMIME SMTPUTF8", "" for none).
 */
struct smtpd_lmtp_rcpt {
	const char *addr;
	int code;
	char ecode[16];
	char text[200];
};
typedef void smtpd_lmtp_fn(void *arg, const char *qid, const char *sender,
    const char *sender_params, const void *msg, size_t len,
    struct smtpd_lmtp_rcpt *rcpts, size_t n);
/* smtpd_set_lmtp - before the first session */
void smtpd_set_lmtp(struct smtpd *s, smtpd_lmtp_fn *deliver, void *arg);

/*
 * Direct delivery (SMTP, optional).  A message that ends in memory (at
 * most SMTPD_FLUSH_AT bytes, never flushed to a spool file) is first
 * handed to deliver, on a worker, with the same per-recipient contract as
 * LMTP: a recipient answered 250 is in its mailbox, durably; every other
 * one (not local, deferred, refused, not attempted) is then written to
 * the queue as usual, which retries or bounces it.  The client gets its
 * 250 only once each recipient is either delivered or queued, so the
 * durability promise is the same - the mailbox commit is the durable
 * copy - and a local message costs no queue file at all.
 */
void smtpd_set_direct(struct smtpd *s, smtpd_lmtp_fn *deliver, void *arg);

/*
 * The anti-spam pipeline (optional; filters/filters.h).  Every session
 * gets a filter session (the client is named listener to the stages);
 * connect, HELO, MAIL and RCPT run the stages that want them on a worker
 * before the reply, and a message that ends in memory goes through the
 * data step before it is delivered or queued: a refusal is the reply to
 * DATA, DISCARD answers 250 and drops it, and otherwise the message is
 * stored with the pipeline's header fields, the body a stage replaced,
 * and (SMTP, not LMTP, whose replies are per RCPT) the stages' envelope
 * changes, by the policy of smtpd_envelope.c.  Content is kept in memory up
 * to filters.max_scan_size; a bigger message (flushed to the spool while
 * it arrives) is queued unscanned.  Before the first session.
 */
struct filters;
void smtpd_set_filters(struct smtpd *s, struct filters *f,
    const char *listener);

/*
 * Authentication (RFC 4954; mta/smtpd_auth.c).  smtpd_set_auth offers
 * AUTH PLAIN and LOGIN, checked against dir, once the session is under
 * TLS (or from loopback with auth.plaintext_loopback); failures are
 * counted and throttled in th (common/auth_throttle.h), which may be
 * shared by several servers and bounds the password checks under way
 * (auth.max_checks; more get 454 4.7.0).  The checks run on checks, a
 * pool of their own, so that slow hashes cannot hold up the jobs that
 * carry mail (NULL: the server's pool).  An authenticated client may
 * relay to any domain, but only from its own addresses (MAIL FROM and
 * the From: field; 553 5.7.1 otherwise).  dir, th and checks must
 * outlive the server; checks must be drained (jobs_free) before
 * smtpd_free, as the server's own pool.
 */
struct directory;
struct auth_throttle;
void smtpd_set_auth(struct smtpd *s, struct directory *dir,
    struct auth_throttle *th, struct jobs *checks);
/*
 * smtpd_set_submission - a submission server: STARTTLS offered whatever
 * smtp.starttls says (implicit_tls: the session is TLS from the first
 * byte instead, RFC 8314), MAIL needs AUTH (530 5.7.0), and messages get
 * Date: and Message-ID: when they lack them (RFC 6409 8).  Needs a TLS
 * context and smtpd_set_auth.  Before the first session.
 */
void smtpd_set_submission(struct smtpd *s, bool implicit_tls);

/* smtpd_accept - the listen_accept_fn of SMTP listeners; arg is smtpd */
void smtpd_accept(struct loop *l, evutil_socket_t fd,
    const struct sockaddr *peer, socklen_t peerlen, void *arg);
/* smtpd_session_count - sessions open now (any thread) */
unsigned smtpd_session_count(struct smtpd *s);
/* smtpd_free - after the loops have stopped */
void smtpd_free(struct smtpd **s);

#endif
