/*
 * smtpd.h - the inbound SMTP server (RFC 5321) on port 25.
 *
 * A struct smtpd serves one listener kind; its sessions live on the I/O
 * loops, run blocking work (spool writes, the group commit) as jobs, and
 * answer 250 after DATA only once the message is durable in the spool.
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
/* smtpd_accept - the listen_accept_fn of SMTP listeners; arg is smtpd */
void smtpd_accept(struct loop *l, evutil_socket_t fd,
    const struct sockaddr *peer, socklen_t peerlen, void *arg);
/* smtpd_session_count - sessions open now (any thread) */
unsigned smtpd_session_count(struct smtpd *s);
/* smtpd_free - after the loops have stopped */
void smtpd_free(struct smtpd **s);

#endif
