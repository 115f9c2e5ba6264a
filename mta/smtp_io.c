/*
 * smtp_io.c - the SMTP client's socket: connect, write, read replies,
 * STARTTLS, all on a non-blocking socket with poll(2) and a deadline for
 * each operation, so that no peer can hold a delivery thread longer than
 * the configured timeouts (smtp_client.*_timeout).
 *
 * Invariants: every wait polls the socket and the client's stop pipe
 * together (smtp_client_stop ends all of them at once); replies are only
 * ever taken from smtpc_parse (bounded: an over-long line or reply is an
 * error, never a bigger buffer); bytes after a complete reply stay in
 * rbuf for the next call (pipelining), and STARTTLS refuses to start
 * over them (a reply injected before the handshake would otherwise be
 * read as if it came over TLS).  TLS runs over the same fd with OpenSSL
 * in non-blocking mode: SSL_ERROR_WANT_READ/WRITE become waits under the
 * same deadline.  TCP_NODELAY is set: the client writes whole command
 * groups and message blocks itself, and Nagle's delay would cost a
 * round trip on the final "." of every message.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "mta/smtp_client_priv.h"

static uint64_t
now_ms(void)
{
	return clock_mono_us() / 1000u;
}

static uint64_t
deadline_of(unsigned timeout)
{
	return now_ms() + (uint64_t)timeout * 1000u;
}

static int PRINTF_LIKE(4, 5)
io_fail(struct smtp_io *io, enum smtp_io_fail why, struct buf *err,
    const char *fmt, ...)
{
	va_list ap;

	io->fail = why;
	va_start(ap, fmt);
	if (buf_vprintf(err, fmt, ap) < 0) {
		/* err is full: io->fail still says what happened */
	}
	va_end(ap);
	return -1;
}

/* tls_error - OpenSSL's first queued error, or what is left to say */
static const char *
tls_error(char *out, size_t size, const char *none)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		return none;
	ERR_error_string_n(e, out, size);
	ERR_clear_error();
	return out;
}

void
smtp_io_init(struct smtp_io *io, int stop_fd)
{
	memset(io, 0, sizeof(*io));
	io->fd = -1;
	io->stop_fd = stop_fd;
	smtpc_parser_init(&io->parser, NULL);
}

/* io_wait - until fd has events, the deadline passes or we stop */
static int
io_wait(struct smtp_io *io, short events, uint64_t deadline,
    struct buf *err)
{
	for (;;) {
		struct pollfd pfd[2];
		uint64_t now = now_ms();
		nfds_t n = 1;
		int r;

		if (now >= deadline)
			return io_fail(io, SMTP_IO_TIMEOUT, err, "timed out");
		pfd[0] = (struct pollfd){ io->fd, events, 0 };
		if (io->stop_fd >= 0) {
			pfd[1] = (struct pollfd){ io->stop_fd, POLLIN, 0 };
			n = 2;
		}
		r = poll(pfd, n, deadline - now > INT_MAX ? INT_MAX :
		    (int)(deadline - now));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return io_fail(io, SMTP_IO_LOST, err, "poll: %s",
			    strerror(errno));
		if (n == 2 && pfd[1].revents != 0)
			return io_fail(io, SMTP_IO_STOPPED, err,
			    "delivery interrupted (shutting down)");
		/* POLLERR, POLLHUP: the next call gets the error */
		if (r > 0 && pfd[0].revents != 0)
			return 0;
	}
}

int
smtp_io_connect(struct smtp_io *io, const struct netaddr *a,
    unsigned timeout, struct buf *err)
{
	uint64_t deadline = deadline_of(timeout);
	int fd, e = 0, one = 1;
	socklen_t elen = sizeof(e);

	ASSERT(io->fd < 0);
	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd < 0)
		return io_fail(io, SMTP_IO_CONNECT, err, "socket: %s",
		    strerror(errno));
	io->fd = fd;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return io_fail(io, SMTP_IO_CONNECT, err, "%s",
		    strerror(errno));
	if (io_wait(io, POLLOUT, deadline, err) < 0) {
		if (io->fail == SMTP_IO_TIMEOUT)
			io->fail = SMTP_IO_CONNECT;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
		e = errno;
	if (e != 0)
		return io_fail(io, SMTP_IO_CONNECT, err, "%s", strerror(e));
	return 0;
}

/* tls_wait - after SSL_ERROR_WANT_READ/WRITE: wait for it; else fail */
static int
tls_wait(struct smtp_io *io, int r, uint64_t deadline, const char *what,
    struct buf *err)
{
	char text[256];

	switch (SSL_get_error(io->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return io_wait(io, POLLIN, deadline, err);
	case SSL_ERROR_WANT_WRITE:
		return io_wait(io, POLLOUT, deadline, err);
	case SSL_ERROR_ZERO_RETURN:
		return io_fail(io, SMTP_IO_LOST, err, "lost connection");
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0)
			return io_fail(io, SMTP_IO_LOST, err, "%s", errno != 0 ?
			    strerror(errno) : "lost connection");
		/* FALLTHROUGH */
	default:
		return io_fail(io, SMTP_IO_TLS, err, "TLS %s: %s", what,
		    tls_error(text, sizeof(text), "failed"));
	}
}

int
smtp_io_write(struct smtp_io *io, const void *p, size_t n, unsigned timeout,
    struct buf *err)
{
	uint64_t deadline = deadline_of(timeout);
	const unsigned char *q = p;

	while (n > 0) {
		size_t chunk = n > INT_MAX ? INT_MAX : n;
		ssize_t r;

		if (io->ssl != NULL) {
			ERR_clear_error();
			r = SSL_write(io->ssl, q, (int)chunk);
			if (r <= 0) {
				if (tls_wait(io, (int)r, deadline, "write",
				    err) < 0)
					return -1;
				continue;
			}
		} else {
			r = send(io->fd, q, chunk, MSG_NOSIGNAL);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK)) {
				if (io_wait(io, POLLOUT, deadline, err) < 0)
					return -1;
				continue;
			}
			if (r < 0)
				return io_fail(io, SMTP_IO_LOST, err, "%s",
				    strerror(errno));
		}
		q += r;
		n -= (size_t)r;
	}
	return 0;
}

/* read_some - at least one byte into rbuf (rlen), 0; or -1 */
static int
read_some(struct smtp_io *io, uint64_t deadline, struct buf *err)
{
	io->roff = io->rlen = 0;
	for (;;) {
		ssize_t r;

		if (io->ssl != NULL) {
			ERR_clear_error();
			r = SSL_read(io->ssl, io->rbuf, sizeof(io->rbuf));
			if (r <= 0) {
				if (tls_wait(io, (int)r, deadline, "read",
				    err) < 0)
					return -1;
				continue;
			}
		} else {
			r = recv(io->fd, io->rbuf, sizeof(io->rbuf), 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK)) {
				if (io_wait(io, POLLIN, deadline, err) < 0)
					return -1;
				continue;
			}
			if (r < 0)
				return io_fail(io, SMTP_IO_LOST, err, "%s",
				    strerror(errno));
			if (r == 0)
				return io_fail(io, SMTP_IO_LOST, err,
				    "lost connection");
		}
		io->rlen = (size_t)r;
		return 0;
	}
}

int
smtp_io_reply(struct smtp_io *io, struct smtpc_reply *reply,
    unsigned timeout, struct buf *err)
{
	uint64_t deadline = deadline_of(timeout);

	for (;;) {
		if (io->roff < io->rlen) {
			const char *why = NULL;
			size_t used = 0;

			switch (smtpc_parse(&io->parser, io->rbuf + io->roff,
			    io->rlen - io->roff, &used, reply, &why)) {
			case PARSE_OK:
				io->roff += used;
				return 0;
			case PARSE_MORE:
				io->roff = io->rlen;
				break;
			case PARSE_BAD:
			case PARSE_TOO_LONG:
				return io_fail(io, SMTP_IO_PROTO, err, "%s",
				    why != NULL ? why : "malformed reply");
			}
		}
		if (read_some(io, deadline, err) < 0)
			return -1;
	}
}

bool
smtp_io_has_unread(const struct smtp_io *io)
{
	return io->roff < io->rlen || !smtpc_parser_is_idle(&io->parser);
}

int
smtp_io_starttls(struct smtp_io *io, SSL *ssl, unsigned timeout,
    struct buf *err)
{
	uint64_t deadline = deadline_of(timeout);

	ASSERT(io->ssl == NULL);
	io->ssl = ssl;
	if (SSL_set_fd(ssl, io->fd) != 1)
		return io_fail(io, SMTP_IO_TLS, err, "TLS: SSL_set_fd failed");
	for (;;) {
		int r;

		ERR_clear_error();
		r = SSL_connect(ssl);
		if (r == 1)
			return 0;
		if (tls_wait(io, r, deadline, "handshake", err) < 0) {
			if (io->fail == SMTP_IO_LOST)
				io->fail = SMTP_IO_TLS;
			return -1;
		}
	}
}

bool
smtp_io_is_idle(struct smtp_io *io)
{
	struct pollfd pfd = { io->fd, POLLIN, 0 };
	char c;

	if (io->fd < 0 || smtp_io_has_unread(io))
		return false;
	if (io->ssl != NULL && SSL_pending(io->ssl) > 0)
		return false;
	if (poll(&pfd, 1, 0) == 0)
		return true;
	if (io->ssl != NULL) {
		/* a record that is no data (a TLS 1.3 session ticket) is
		 * consumed here and leaves the connection idle */
		int r;

		ERR_clear_error();
		r = SSL_peek(io->ssl, &c, 1);
		return r <= 0 && SSL_get_error(io->ssl, r) ==
		    SSL_ERROR_WANT_READ;
	}
	/* data nobody asked for, or EOF: either way not reusable */
	return recv(io->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK);
}

void
smtp_io_close(struct smtp_io *io)
{
	if (io->ssl != NULL) {
		ERR_clear_error();
		(void)SSL_shutdown(io->ssl);	/* once; never waited for */
		SSL_free(io->ssl);
		ERR_clear_error();
		io->ssl = NULL;
	}
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
	io->roff = io->rlen = 0;
	smtpc_parser_free(&io->parser);
	smtpc_parser_init(&io->parser, NULL);
}
