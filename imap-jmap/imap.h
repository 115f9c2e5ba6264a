/*
 * imap.h - the IMAP server: IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC
 * 3501) over the mailbox store, on 143 with STARTTLS and 993 with
 * implicit TLS (RFC 8314).
 *
 * One struct imap_server serves every IMAP listener: start a listener
 * with imap_accept (STARTTLS offered) or imap_accept_tls (TLS from the
 * first byte).  Sessions live on the I/O loops; store work and password
 * checks run as jobs; commands are parsed by imap_parse.h.  Connection
 * limits, timeouts and sizes are the configuration's imap group;
 * authentication follows the auth group (auth.plaintext_loopback) and
 * counts failures in the struct auth_throttle shared with SMTP AUTH.
 *
 * Sessions see each other's changes: cli/serve registers
 * imap_server_changed as a store change hook (store_add_change_hook),
 * and a session in IDLE hears of a delivery or of another session's
 * change at once; the others at their next command.
 *
 * What works and what does not yet: see the README's IMAP rows and the
 * dispatch table in imap_session.c.
 */
#ifndef POSTERN_IMAP_H
#define POSTERN_IMAP_H

#include <stdint.h>

#include <event2/util.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include "common/config.h"
#include "common/loop.h"

struct imap_server;
struct store;
struct directory;
struct auth_throttle;

/*
 * imap_server_new - cfg, st and dir must outlive the server; tls (needed
 * for STARTTLS and imap_accept_tls) may be NULL: then no TLS is offered
 * and logins need auth.plaintext_loopback and a loopback client.  The
 * server is usable once imap_server_set_jobs has run.
 */
struct imap_server *imap_server_new(const struct config *cfg,
    struct store *st, struct directory *dir, SSL_CTX *tls);
/*
 * imap_server_set_jobs - store work runs on jobs, password checks on
 * checks (NULL: jobs), with failures counted in th (NULL: no
 * throttling).  All must outlive the server and be drained (jobs_free)
 * before imap_server_free.  Before the first session.
 */
void imap_server_set_jobs(struct imap_server *s, struct jobs *jobs,
    struct jobs *checks, struct auth_throttle *th);

/* the listen_accept_fn of the listeners; arg is the server */
void imap_accept(struct loop *l, evutil_socket_t fd,
    const struct sockaddr *peer, socklen_t peerlen, void *arg);
void imap_accept_tls(struct loop *l, evutil_socket_t fd,
    const struct sockaddr *peer, socklen_t peerlen, void *arg);

/*
 * imap_server_changed - a store_change_fn (arg: the server): account
 * acct changed; its sessions in IDLE are woken.  Any thread; never
 * blocks on I/O.
 */
void imap_server_changed(void *arg, uint32_t acct);

/* imap_session_count - sessions open now (any thread) */
unsigned imap_session_count(struct imap_server *s);
/* imap_server_free - after the loops and the job pools have stopped */
void imap_server_free(struct imap_server **s);

#endif
