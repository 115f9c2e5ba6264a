/*
 * tlspolicy_fx.h - what t/unit/smtp_tlspolicy_test.c runs against, all on
 * loopback: helper processes (t/unit/tlspolicy_fx.py: certificates, an
 * HTTPS server for MTA-STS policies, a DNSSEC-signed zone served by
 * unbound), TLS servers in threads of the test (an SMTP server's TLS
 * half: they accept, do the handshake with their certificate chain and
 * close), and the client side of a handshake run through the policy.
 * Header-only, since each unit test is its own program.
 */
#ifndef POSTERN_TLSPOLICY_FX_H
#define POSTERN_TLSPOLICY_FX_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/buf.h"
#include "mta/smtp_tlspolicy.h"

#define TPFX_PY "/usr/bin/python3"
#define TPFX_SCRIPT "t/unit/tlspolicy_fx.py"

/* tpfx_spawn - the helper with args (NULL-ended) in a process group of
 * its own, output to dir/<log>; its pid, or -1 */
static inline pid_t
tpfx_spawn(const char *dir, const char *log, const char *const *args)
{
	char out[256];
	const char *argv[16];
	size_t n = 0;
	pid_t pid;

	snprintf(out, sizeof(out), "%s/%s", dir, log);
	argv[n++] = TPFX_PY;
	argv[n++] = TPFX_SCRIPT;
	for (; *args != NULL && n < 15; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid = fork();
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (o >= 0) {
			dup2(o, 1);
			dup2(o, 2);
		}
		setpgid(0, 0);
		execv(TPFX_PY, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* tpfx_run - the helper to its end; 0 if it exited 0 */
static inline int
tpfx_run(const char *dir, const char *const *args)
{
	pid_t pid = tpfx_spawn(dir, "helper.out", args);
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* tpfx_kill - the helper's process group, then reap it */
static inline void
tpfx_kill(pid_t *pid)
{
	int status;

	if (*pid <= 0)
		return;
	kill(-*pid, SIGTERM);
	kill(*pid, SIGTERM);
	waitpid(*pid, &status, 0);
	*pid = 0;
}

/* tpfx_read - the first line of dir/name into out (at most n - 1 bytes,
 * newline dropped); 0, or -1 if absent */
static inline int
tpfx_read(const char *dir, const char *name, char *out, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fgets(out, (int)n, f) == NULL)
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

/* tpfx_wait_port - wait (10 s at most) for the helper's port file */
static inline unsigned
tpfx_wait_port(const char *dir, const char *name, pid_t pid)
{
	char text[16];
	int status;

	for (int i = 0; i < 1000; i++) {
		if (tpfx_read(dir, name, text, sizeof(text)) == 0 &&
		    text[0] != '\0')
			return (unsigned)strtoul(text, NULL, 10);
		if (waitpid(pid, &status, WNOHANG) == pid)
			return 0;
		usleep(10000);
	}
	return 0;
}

/* tpfx_write - dir/name holds text (directories made as needed) */
static inline int
tpfx_write(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (char *s = strchr(path + strlen(dir) + 1, '/'); s != NULL;
	    s = strchr(s + 1, '/')) {
		*s = '\0';
		(void)mkdir(path, 0755);
		*s = '/';
	}
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : -1;
}

/* ---- a TLS server in a thread ---- */

struct tpfx_srv {
	int lfd;
	unsigned port;
	SSL_CTX *ctx;
	int stop[2];
	pthread_t th;
	unsigned handshakes;	/* completed */
};

static inline void *
tpfx_srv_main(void *arg)
{
	struct tpfx_srv *s = arg;

	for (;;) {
		struct pollfd p[2] = { { s->lfd, POLLIN, 0 },
			{ s->stop[0], POLLIN, 0 } };
		struct timeval tv = { 5, 0 };
		SSL *ssl;
		int fd;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents != 0)
			break;
		if ((fd = accept(s->lfd, NULL, NULL)) < 0)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		ssl = SSL_new(s->ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) == 1) {
			__atomic_add_fetch(&s->handshakes, 1, __ATOMIC_SEQ_CST);
			(void)SSL_shutdown(ssl);
		}
		SSL_free(ssl);
		ERR_clear_error();
		close(fd);
	}
	return NULL;
}

/* tpfx_srv_start - a TLS server with this chain and key on 127.0.0.1 */
static inline int
tpfx_srv_start(struct tpfx_srv *s, const char *chain, const char *key)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (s->ctx == NULL ||
	    SSL_CTX_use_certificate_chain_file(s->ctx, chain) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) != 1)
		return -1;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)&sin,
	    sizeof(sin)) < 0 || listen(s->lfd, 8) < 0 ||
	    getsockname(s->lfd, (struct sockaddr *)&sin, &len) < 0 ||
	    pipe(s->stop) < 0)
		return -1;
	s->port = ntohs(sin.sin_port);
	return pthread_create(&s->th, NULL, tpfx_srv_main, s) == 0 ? 0 : -1;
}

static inline void
tpfx_srv_stop(struct tpfx_srv *s)
{
	if (s->ctx == NULL)
		return;
	(void)!write(s->stop[1], "x", 1);
	pthread_join(s->th, NULL);
	close(s->stop[0]);
	close(s->stop[1]);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
	memset(s, 0, sizeof(*s));
}

/*
 * tpfx_handshake - what the transport does around SSL_connect: a TCP
 * connection to port, smtp_tlspolicy_ssl_setup for host, the handshake,
 * smtp_tlspolicy_ssl_check.  The check's answer (-1 also when setup
 * refused), err and note filled as they left them.
 */
static inline int
tpfx_handshake(SSL_CTX *ctx, const struct smtp_tlspolicy_result *r,
    const char *host, unsigned port, struct buf *note, struct buf *err)
{
	struct sockaddr_in sin;
	struct timeval tv = { 5, 0 };
	SSL *ssl = NULL;
	int fd, rc = -1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
		buf_addf(err, "connect: %s", strerror(errno));
		goto out;
	}
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, fd);
	if (smtp_tlspolicy_ssl_setup(r, host, ssl, err) < 0)
		goto out;
	(void)SSL_connect(ssl);
	rc = smtp_tlspolicy_ssl_check(r, host, ssl, note, err);
	if (SSL_is_init_finished(ssl))
		(void)SSL_shutdown(ssl);
out:
	SSL_free(ssl);
	ERR_clear_error();
	close(fd);
	return rc;
}

#endif
