/*
 * listen.h - listening sockets, one per I/O loop, with SO_REUSEPORT.
 *
 * For each address, every loop gets its own socket bound to it with
 * SO_REUSEPORT, so the kernel spreads new connections over the loops and
 * no accept lock is shared.  IPv6 sockets are IPV6_V6ONLY, so "[::]:25"
 * and "0.0.0.0:25" can both be listed.  Binding happens at start-up, as
 * root when a privileged port needs it, before privileges are dropped.
 */
#ifndef POSTERN_LISTEN_H
#define POSTERN_LISTEN_H

#include <event2/util.h>
#include <sys/socket.h>

#include "common.h"
#include "loop.h"
#include "netaddr.h"

struct listener;

/*
 * listen_bind_shared - n listening sockets bound to addr (IP, not UNIX)
 * with SO_REUSEPORT, non-blocking; 0, or -1 with *error_r and none left
 * open.  "Address already in use" when anything listens there already,
 * another postern or another listener of ours (see listen.c).  For
 * servers that accept on their own, as evhttp does.
 */
int listen_bind_shared(const struct netaddr *addr, int *fds, unsigned n,
    const char **error_r) WARN_UNUSED;

/* listen_accept_fn - runs on loop l's thread; fd is non-blocking, owned */
typedef void listen_accept_fn(struct loop *l, evutil_socket_t fd,
    const struct sockaddr *peer, socklen_t peerlen, void *arg);

/*
 * listener_open - bind addr once per loop of ls (as root if need be);
 * NULL with *error_r.  Nothing is accepted before listener_start().
 */
struct listener *listener_open(struct loops *ls, const struct netaddr *addr,
    const char **error_r);
/* listener_start - accept on every loop, calling cb(…, arg) */
void listener_start(struct listener *l, listen_accept_fn *cb, void *arg);
/* listener_name - "[::1]:25", "127.0.0.1:25" */
const char *listener_name(const struct listener *l);
/* listener_free - stop accepting and close the sockets */
void listener_free(struct listener **l);

#endif
