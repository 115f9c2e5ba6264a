/*
 * dns_fixture.h - a real DNS server for unit tests: dnsmasq on a free
 * 127.0.0.1 port, answering only from the records the test gives.
 * Header-only, since each unit test is its own program; the pytest twin
 * is t/integration/dnsfix.py.
 *
 *   struct dnsfix f;
 *   dnsfix_start(&f, "txt-record=a.test,\"v=spf1 -all\"\n"
 *                    "host-record=mx.test,192.0.2.1\n");
 *   ... dns_options.forwarders = { f.fwd } ("127.0.0.1@<port>") ...
 *   dnsfix_restart(&f, "...new records...");   same port
 *   dnsfix_stop(&f);
 *
 * records are dnsmasq configuration lines: txt-record=, host-record=,
 * mx-host=, ptr-record=, cname=, address=, srv-host=, ...  What the
 * fixture adds around them:
 *   - no upstream servers at all (no-resolv, no-hosts, no server= but
 *     the two below), so nothing leaves 127.0.0.1; a name outside the
 *     local zones is REFUSED;
 *   - local zones test, in-addr.arpa and ip6.arpa: a name there that has
 *     no record is NXDOMAIN, a name with records of other types NODATA;
 *   - DNSFIX_SERVFAIL_ZONE (servfail.test) forwarded to a UDP socket of
 *     the fixture that answers every query with RCODE SERVFAIL, which
 *     dnsmasq passes on: a real SERVFAIL on the wire;
 *   - DNSFIX_TIMEOUT_ZONE (timeout.test) forwarded to a bound UDP socket
 *     that nobody reads (a black hole): no answer ever comes;
 *   - f.blackhole_fwd ("127.0.0.1@<port>") is that black hole itself, to
 *     use as a forwarder for a resolver whose every query times out;
 *   - local-ttl=DNSFIX_TTL, cache-size=0: dnsmasq caches nothing;
 *   - TXT dnsfix-probe.test holding f.dir: how the fixture knows the
 *     server on its port is its own (tests running in parallel).
 * A configuration line may not be longer than about 1000 characters
 * (dnsmasq's limit); a longer TXT string is cut into character-strings
 * of 255 by dnsmasq itself.
 * dnsmasq runs in the foreground (--keep-in-foreground, not --no-daemon:
 * that one answers TCP in the main process, and a resolver that keeps its
 * TCP connection open, as libunbound does, would stall it for a minute),
 * in a process group of its own with the test process as subreaper, so
 * that its per-connection TCP children are reaped too (dnsfix_kill).  It
 * logs queries to f.dir/dnsmasq.log, its other output goes to
 * f.dir/dnsmasq.out (DNSFIX_KEEP=1 in the environment keeps the
 * directory), and it writes no pid file.  As root it stays root
 * (user=root): nothing of the test is readable by "nobody".
 *
 * A resolver must be told to ask the server about test. at all:
 * libunbound answers test., in-addr.arpa of private and documentation
 * addresses and the like itself (NXDOMAIN) unless common/dns.h's
 * forward_special_zones is set.
 */
#ifndef POSTERN_DNS_FIXTURE_H
#define POSTERN_DNS_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DNSFIX_DNSMASQ "/usr/sbin/dnsmasq"
#define DNSFIX_SERVFAIL_ZONE "servfail.test"
#define DNSFIX_TIMEOUT_ZONE "timeout.test"
#define DNSFIX_TTL 60

struct dnsfix {
	char dir[64];		/* scratch directory */
	pid_t pid;		/* dnsmasq; 0 when not running */
	unsigned port;		/* its UDP and TCP port */
	char fwd[32];		/* "127.0.0.1@port", a dns_options forwarder */
	int blackhole_fd;	/* bound, never read */
	unsigned blackhole_port;
	char blackhole_fwd[32];
	int servfail_fd;	/* answers SERVFAIL */
	unsigned servfail_port;
	int stop_pipe[2];	/* wakes and stops the SERVFAIL thread */
	pthread_t servfail_thread;
	bool thread_running;
};

static inline int
dnsfix_udp_socket(unsigned *port_r)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		close(fd);
		return -1;
	}
	*port_r = ntohs(sin.sin_port);
	return fd;
}

/* the SERVFAIL server: the query's header and question, QR set, RCODE 2 */
static inline void *
dnsfix_servfail_main(void *arg)
{
	struct dnsfix *f = arg;
	unsigned char q[4096];

	for (;;) {
		struct pollfd pfd[2] = {
			{ f->servfail_fd, POLLIN, 0 },
			{ f->stop_pipe[0], POLLIN, 0 },
		};
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		ssize_t n;
		size_t end = 12;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents != 0)
			break;
		if ((pfd[0].revents & POLLIN) == 0)
			continue;
		n = recvfrom(f->servfail_fd, q, sizeof(q), 0,
		    (struct sockaddr *)&from, &flen);
		if (n < 12 || (q[2] & 0x80) != 0)
			continue;
		while (end < (size_t)n && q[end] != 0 && q[end] < 64)
			end += (size_t)q[end] + 1;
		end += 5;	/* root label, QTYPE, QCLASS */
		if (end > (size_t)n || q[4] != 0 || q[5] != 1)
			continue;
		q[2] = (unsigned char)(0x80 | (q[2] & 0x79));	/* QR, RD */
		q[3] = 0x80 | 2;			/* RA, SERVFAIL */
		memset(q + 6, 0, 6);	/* no answer, authority, additional */
		(void)sendto(f->servfail_fd, q, end, 0,
		    (struct sockaddr *)&from, flen);
	}
	return NULL;
}

static inline int
dnsfix_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline int
dnsfix_write_conf(const struct dnsfix *f, const char *records)
{
	char path[128];
	FILE *c;

	snprintf(path, sizeof(path), "%s/dnsmasq.conf", f->dir);
	c = fopen(path, "w");
	if (c == NULL)
		return -1;
	fprintf(c, "port=%u\nlisten-address=127.0.0.1\nbind-interfaces\n"
	    "no-resolv\nno-hosts\nno-poll\npid-file=\n"
	    "log-facility=%s/dnsmasq.log\nlog-queries\n"
	    "cache-size=0\nlocal-ttl=%d\n"
	    "local=/test/\nlocal=/in-addr.arpa/\nlocal=/ip6.arpa/\n"
	    "server=/%s/127.0.0.1#%u\nserver=/%s/127.0.0.1#%u\n",
	    f->port, f->dir, DNSFIX_TTL, DNSFIX_SERVFAIL_ZONE,
	    f->servfail_port, DNSFIX_TIMEOUT_ZONE, f->blackhole_port);
	/* what dnsfix_probe asks: the answer proves the server is ours */
	fprintf(c, "txt-record=dnsfix-probe.test,\"%s\"\n", f->dir);
	if (geteuid() == 0)
		fprintf(c, "user=root\n");
	fprintf(c, "%s\n", records != NULL ? records : "");
	return fclose(c) == 0 ? 0 : -1;
}

/*
 * dnsfix_probe - 0 once our dnsmasq answers on f->port: the TXT record
 * dnsfix-probe.test holds f->dir, so a server of another test that took
 * the port meanwhile is not mistaken for ours.
 */
static inline int
dnsfix_probe(const struct dnsfix *f)
{
	static const unsigned char query[] = {
		0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		12, 'd', 'n', 's', 'f', 'i', 'x', '-', 'p', 'r', 'o', 'b', 'e',
		4, 't', 'e', 's', 't', 0, 0, 16, 0, 1,
	};
	struct sockaddr_in sin;
	struct pollfd pfd;
	unsigned char reply[512];
	ssize_t n;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -1;

	if (fd < 0)
		return -1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)f->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pfd.fd = fd;
	pfd.events = POLLIN;
	if (sendto(fd, query, sizeof(query), 0, (struct sockaddr *)&sin,
	    sizeof(sin)) == (ssize_t)sizeof(query) && poll(&pfd, 1, 100) > 0 &&
	    (n = recv(fd, reply, sizeof(reply), 0)) >= 12 &&
	    reply[0] == 0x12 && reply[1] == 0x34 &&
	    memmem(reply, (size_t)n, f->dir, strlen(f->dir)) != NULL)
		rc = 0;
	close(fd);
	return rc;
}

/* dnsfix_spawn - start dnsmasq on f->port and wait until it answers */
static inline int
dnsfix_spawn(struct dnsfix *f, const char *records)
{
	char conf[128], out[128];
	int i, status;
	long maxfd = sysconf(_SC_OPEN_MAX);

	if (dnsfix_write_conf(f, records) < 0)
		return -1;
	snprintf(conf, sizeof(conf), "--conf-file=%s/dnsmasq.conf", f->dir);
	snprintf(out, sizeof(out), "%s/dnsmasq.out", f->dir);
	if (maxfd < 0 || maxfd > 65536)
		maxfd = 65536;
	f->pid = fork();
	if (f->pid < 0) {
		f->pid = 0;
		return -1;
	}
	if (f->pid == 0) {
		/* only async-signal-safe calls until exec */
		int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
		long fd;

		if (o >= 0) {
			dup2(o, 1);
			dup2(o, 2);
		}
		for (fd = 3; fd < maxfd; fd++)
			close((int)fd);
		setpgid(0, 0);	/* its TCP children share this group */
		execl(DNSFIX_DNSMASQ, "dnsmasq", "--keep-in-foreground", conf,
		    (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 300; i++) {	/* 3 s */
		if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
			f->pid = 0;	/* died: port taken? bad records? */
			return -1;
		}
		if (dnsfix_probe(f) == 0)
			return 0;
		usleep(10000);
	}
	kill(f->pid, SIGKILL);
	waitpid(f->pid, &status, 0);
	f->pid = 0;
	return -1;
}

/*
 * dnsfix_kill - stop dnsmasq and the processes it forked for TCP
 * connections.  Those only die of SIGALRM or SIGKILL, and once the main
 * process is gone they are orphans; the test process is their subreaper
 * (dnsfix_start), so they come to us and are reaped here instead of
 * lingering as zombies under an init that may not reap.
 */
static inline void
dnsfix_kill(struct dnsfix *f)
{
	int status;

	if (f->pid <= 0)
		return;
	kill(f->pid, SIGTERM);
	waitpid(f->pid, &status, 0);
	kill(-f->pid, SIGKILL);
	while (waitpid(-f->pid, &status, 0) > 0 || errno == EINTR)
		;
	f->pid = 0;
}

static inline void dnsfix_stop(struct dnsfix *f);

/* dnsfix_dump - dnsmasq's own output to stderr: why it did not start */
static inline void
dnsfix_dump(const struct dnsfix *f)
{
	char path[128], line[512];
	FILE *in;

	snprintf(path, sizeof(path), "%s/dnsmasq.out", f->dir);
	if (f->dir[0] == '\0' || (in = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), in) != NULL)
		fprintf(stderr, "dnsfix: %s", line);
	fclose(in);
}

/*
 * dnsfix_start - the sockets, the SERVFAIL thread and dnsmasq with
 * records; 0 once it answers, -1 (everything undone, a line on stderr)
 * otherwise.
 */
static inline int
dnsfix_start(struct dnsfix *f, const char *records)
{
	unsigned port;
	int tries, fd;

	memset(f, 0, sizeof(*f));
	f->blackhole_fd = f->servfail_fd = -1;
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); /* dnsfix_kill */
	f->stop_pipe[0] = f->stop_pipe[1] = -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/postern-dnsfix.XXXXXX");
	if (mkdtemp(f->dir) == NULL) {
		f->dir[0] = '\0';
		goto fail;
	}
	f->blackhole_fd = dnsfix_udp_socket(&f->blackhole_port);
	f->servfail_fd = dnsfix_udp_socket(&f->servfail_port);
	if (f->blackhole_fd < 0 || f->servfail_fd < 0 ||
	    pipe2(f->stop_pipe, O_CLOEXEC) < 0)
		goto fail;
	snprintf(f->blackhole_fwd, sizeof(f->blackhole_fwd), "127.0.0.1@%u",
	    f->blackhole_port);
	if (pthread_create(&f->servfail_thread, NULL, dnsfix_servfail_main,
	    f) != 0)
		goto fail;
	f->thread_running = true;
	/* a free port: ask the kernel for one, let it go, hand it to
	 * dnsmasq; another process may take it meanwhile, so try again */
	for (tries = 0; tries < 5; tries++) {
		fd = dnsfix_udp_socket(&port);
		if (fd < 0)
			goto fail;
		close(fd);
		f->port = port;
		snprintf(f->fwd, sizeof(f->fwd), "127.0.0.1@%u", f->port);
		if (dnsfix_spawn(f, records) == 0)
			return 0;
	}
fail:
	fprintf(stderr, "dnsfix: cannot start %s in %s\n", DNSFIX_DNSMASQ,
	    f->dir);
	dnsfix_dump(f);
	dnsfix_stop(f);
	return -1;
}

/* dnsfix_restart - dnsmasq again, on the same port, with these records */
static inline int
dnsfix_restart(struct dnsfix *f, const char *records)
{
	int tries;

	dnsfix_kill(f);
	for (tries = 0; tries < 5; tries++)	/* the port may linger */
		if (dnsfix_spawn(f, records) == 0)
			return 0;
	fprintf(stderr, "dnsfix: cannot restart dnsmasq on port %u\n",
	    f->port);
	dnsfix_dump(f);
	return -1;
}

/* dnsfix_stop - everything dnsfix_start made; harmless twice */
static inline void
dnsfix_stop(struct dnsfix *f)
{
	dnsfix_kill(f);
	if (f->thread_running) {
		(void)!write(f->stop_pipe[1], "x", 1);
		pthread_join(f->servfail_thread, NULL);
		f->thread_running = false;
	}
	if (f->stop_pipe[0] >= 0)
		close(f->stop_pipe[0]);
	if (f->stop_pipe[1] >= 0)
		close(f->stop_pipe[1]);
	if (f->servfail_fd >= 0)
		close(f->servfail_fd);
	if (f->blackhole_fd >= 0)
		close(f->blackhole_fd);
	f->stop_pipe[0] = f->stop_pipe[1] = -1;
	f->servfail_fd = f->blackhole_fd = -1;
	if (f->dir[0] != '\0' && getenv("DNSFIX_KEEP") == NULL)
		nftw(f->dir, dnsfix_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	f->dir[0] = '\0';
}

#endif
