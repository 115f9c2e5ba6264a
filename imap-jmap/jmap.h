/*
 * jmap.h - the JMAP server: RFC 8620 (core: session, API, binary data,
 * push) over HTTPS, with the RFC 8621 mail types it implements so far
 * (see the README's JMAP rows and the method tables of jmap_methods.c).
 *
 * HTTP is libevent's evhttp, one instance per I/O loop and listener kind
 * (HTTPS through bufferevent_openssl, plain HTTP for loopback tests);
 * JSON is jansson.  Request bodies are parsed, and methods run, as jobs;
 * password checks run on the checks pool with the failed-login
 * accounting shared with SMTP AUTH and IMAP (common/auth_throttle.h).
 *
 * Life cycle, in cli/serve:
 *   jmap_server_new     while still root: binds jmap.listen_tls and
 *                       jmap.listen, one socket per loop (SO_REUSEPORT)
 *   store_add_change_hook(store, jmap_server_changed, s)
 *                       before the store is shared (push)
 *   jmap_server_start   before loops_start: the evhttp instances accept
 *   ...                 loops_stop, the job pools drained (jobs_free)
 *   jmap_server_free    closes every connection and frees what is left
 */
#ifndef POSTERN_JMAP_H
#define POSTERN_JMAP_H

#include <stdint.h>

#include <openssl/ssl.h>

#include "common/config.h"
#include "common/loop.h"

struct jmap_server;
struct store;
struct directory;
struct auth_throttle;

/*
 * jmap_server_new - bind every address of cfg->jmap (listen_tls needs
 * tls); NULL with *error_r (static or per-thread text) naming the
 * address.  cfg, loops and tls must outlive the server.  Nothing is
 * accepted before jmap_server_start.
 */
struct jmap_server *jmap_server_new(const struct config *cfg,
    struct loops *loops, SSL_CTX *tls, const char **error_r);
/*
 * jmap_server_start - serve: store work on jobs, password checks on
 * checks (NULL: jobs) with failures counted in th (NULL: none).  st,
 * dir and the pools must outlive the server; the pools are drained
 * before jmap_server_free.  From the main thread, before loops_start.
 */
void jmap_server_start(struct jmap_server *s, struct store *st,
    struct directory *dir, struct jobs *jobs, struct jobs *checks,
    struct auth_throttle *th);
/*
 * jmap_server_set_queue - EmailSubmission spools through sp (sharing
 * its group commit) and tells qm of each message; both must outlive the
 * server's jobs.  Before jmap_server_start; without it sending is
 * refused (forbiddenToSend).
 */
struct spool;
struct qmgr;
void jmap_server_set_queue(struct jmap_server *s, struct spool *sp,
    struct qmgr *qm);
/*
 * jmap_server_changed - a store_change_fn (arg: the server): account
 * acct changed; its EventSource connections send a StateChange.  Any
 * thread; never blocks on I/O.
 */
void jmap_server_changed(void *arg, uint32_t acct);
/* jmap_server_free - after loops_stop and the pools' jobs_free; NULL ok */
void jmap_server_free(struct jmap_server **s);

#endif
