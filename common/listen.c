/*
 * listen.c - SO_REUSEPORT listeners, one socket per loop (see listen.h).
 *
 * A UNIX socket is one socket, accepted on the first loop: SO_REUSEPORT
 * does not spread UNIX connections.  A stale socket file of that name is
 * replaced (never another kind of file); the new one is mode 0666, so
 * access is controlled by its directory, as Postfix does with private/.
 *
 * SO_REUSEPORT would also let a second listener on the same address and
 * port - another postern, or two listeners of one config - bind quietly
 * and take a share of the connections.  So a socket without it is bound
 * first, as a probe: "Address already in use" then, as from any server.
 *
 * TCP_NODELAY is set on the listening sockets, so every accepted one
 * has it (Linux copies it): each server writes a whole reply into its
 * bufferevent, flushed once per loop turn, so Nagle could only delay
 * the last segment of a reply by a delayed ACK (40 ms seen on 16 KiB
 * IMAP FETCH and JMAP responses).
 *
 * Accept errors (EMFILE and friends) are logged and libevent keeps
 * listening; libevent's evconnlistener retries on the next readiness.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/listener.h>

#include "listen.h"
#include "log.h"
#include "xalloc.h"

struct listen_slot;

struct listener {
	unsigned n;
	struct evconnlistener **ev;
	struct listen_slot *slots;	/* callback argument of ev[i] */
	int *fds;			/* bound, not yet started; -1 after */
	struct loop **loops;
	listen_accept_fn *cb;
	void *arg;
	char name[NETADDR_STRLEN + 112];
	char *unix_path;		/* removed again at listener_free */
};

struct listen_slot {
	struct listener *owner;
	unsigned i;
};

static void
accept_cb(struct evconnlistener *evl, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct listen_slot *slot = arg;

	(void)evl;
	slot->owner->cb(slot->owner->loops[slot->i], fd, sa,
	    (socklen_t)salen, slot->owner->arg);
}

static void
accept_error_cb(struct evconnlistener *evl, void *arg)
{
	struct listen_slot *slot = arg;
	int err = EVUTIL_SOCKET_ERROR();

	(void)evl;
	log_warn("listen", "accept on %s: %s", slot->owner->name,
	    evutil_socket_error_to_string(err));
}

/* bind_unix - the one socket of a UNIX listener */
static int
bind_unix(const struct netaddr *addr, const char **error_r)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&addr->ss;
	struct stat st;
	int fd;

	if (lstat(sun->sun_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			*error_r = "exists and is not a socket";
			return -1;
		}
		(void)unlink(sun->sun_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 ||
	    chmod(sun->sun_path, 0666) < 0 || listen(fd, 511) < 0) {
		*error_r = strerror(errno);
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * probe_free - 0 when nothing listens on addr: a bind without
 * SO_REUSEPORT fails on any socket bound there (REUSEADDR only lets
 * TIME_WAIT connections be); closed again at once
 */
static int
probe_free(const struct netaddr *addr, const char **error_r)
{
	int fd, on = 1, rc = 0;

	fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (addr->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
	    bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0) {
		*error_r = strerror(errno);
		rc = -1;
	}
	close(fd);
	return rc;
}

static int
bind_one(const struct netaddr *addr, const char **error_r)
{
	int fd, on = 1;

	fd = socket(addr->ss.ss_family,
	    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) < 0 ||
	    (addr->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
	    bind(fd, (const struct sockaddr *)&addr->ss, addr->len) < 0 ||
	    listen(fd, 511) < 0) {
		*error_r = strerror(errno);
		close(fd);
		return -1;
	}
	return fd;
}

int
listen_bind_shared(const struct netaddr *addr, int *fds, unsigned n,
    const char **error_r)
{
	for (unsigned i = 0; i < n; i++)
		fds[i] = -1;
	/* port 0 asks the kernel for a free port: nothing to probe */
	if (netaddr_port((const struct sockaddr *)&addr->ss) != 0 &&
	    probe_free(addr, error_r) < 0)
		return -1;
	for (unsigned i = 0; i < n; i++) {
		if ((fds[i] = bind_one(addr, error_r)) < 0) {
			for (unsigned j = 0; j < i; j++) {
				close(fds[j]);
				fds[j] = -1;
			}
			return -1;
		}
	}
	return 0;
}

struct listener *
listener_open(struct loops *ls, const struct netaddr *addr,
    const char **error_r)
{
	struct listener *l = xcalloc(1, sizeof(*l));
	char ip[NETADDR_STRLEN];

	l->n = addr->ss.ss_family == AF_UNIX ? 1 : loops_count(ls);
	l->ev = xcalloc(l->n, sizeof(*l->ev));
	l->loops = xcalloc(l->n, sizeof(*l->loops));
	l->slots = xcalloc(l->n, sizeof(*l->slots));
	l->fds = xcalloc(l->n, sizeof(*l->fds));
	netaddr_ip((const struct sockaddr *)&addr->ss, ip);
	if (addr->ss.ss_family == AF_UNIX)
		(void)snprintf(l->name, sizeof(l->name), "unix:%s",
		    ((const struct sockaddr_un *)&addr->ss)->sun_path);
	else
		(void)snprintf(l->name, sizeof(l->name),
		    addr->ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
		    netaddr_port((const struct sockaddr *)&addr->ss));
	for (unsigned i = 0; i < l->n; i++)
		l->fds[i] = -1;
	for (unsigned i = 0; i < l->n; i++)
		l->loops[i] = loops_get(ls, i);
	if ((addr->ss.ss_family == AF_UNIX ?
	    (l->fds[0] = bind_unix(addr, error_r)) :
	    listen_bind_shared(addr, l->fds, l->n, error_r)) < 0) {
		listener_free(&l);
		return NULL;
	}
	if (addr->ss.ss_family == AF_UNIX)
		l->unix_path = xstrdup(
		    ((const struct sockaddr_un *)&addr->ss)->sun_path);
	return l;
}

void
listener_start(struct listener *l, listen_accept_fn *cb, void *arg)
{
	l->cb = cb;
	l->arg = arg;
	for (unsigned i = 0; i < l->n; i++) {
		struct listen_slot *slot = &l->slots[i];

		slot->owner = l;
		slot->i = i;
		l->ev[i] = evconnlistener_new(loop_base(l->loops[i]), accept_cb,
		    slot, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1,
		    l->fds[i]);
		if (l->ev[i] == NULL)
			PANIC("evconnlistener_new failed");
		l->fds[i] = -1;	/* the evconnlistener owns it now */
		evconnlistener_set_error_cb(l->ev[i], accept_error_cb);
	}
}

const char *
listener_name(const struct listener *l)
{
	return l->name;
}

void
listener_free(struct listener **lp)
{
	struct listener *l = *lp;

	if (l == NULL)
		return;
	for (unsigned i = 0; i < l->n; i++) {
		if (l->ev[i] != NULL)
			evconnlistener_free(l->ev[i]);
		if (l->fds[i] >= 0)
			close(l->fds[i]);
	}
	if (l->unix_path != NULL) {
		(void)unlink(l->unix_path);	/* may fail once unprivileged */
		free(l->unix_path);
	}
	free(l->ev);
	free(l->loops);
	free(l->slots);
	free(l->fds);
	free(l);
	*lp = NULL;
}
