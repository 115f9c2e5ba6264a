/*
 * log.c - syslog-style logging to stderr or syslog(3) (see log.h).
 *
 * To stderr a line is "<RFC 3339 UTC time> postern/<svc>[pid]: <level:
 * >text\n", written with a single write(2) so lines from different threads
 * never interleave.  To syslog it is one RFC 3164 datagram on /dev/log
 * with the tag "postern/<svc>[pid]", which syslog(3) cannot do per line
 * (its ident is process-wide) - hence our own few lines of client.  Lines longer than LOG_LINE_MAX are cut and marked
 * with "..." (a log line is our own output, not peer data we must keep).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_LINE_MAX 4096

/* Written once by log_open() before threads start; read-only after. */
static struct {
	enum log_dest dest;
	enum log_level min;
	int facility;
	int fd;		/* AF_UNIX datagram socket to /dev/log, or -1 */
} log_cfg = { LOG_DEST_STDERR, LOG_LVL_INFO, LOG_MAIL, -1 };

static const struct {
	const char *name;
	int facility;
} facilities[] = {
	{ "mail", LOG_MAIL },	  { "daemon", LOG_DAEMON },
	{ "user", LOG_USER },	  { "local0", LOG_LOCAL0 },
	{ "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
	{ "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 },
	{ "local5", LOG_LOCAL5 }, { "local6", LOG_LOCAL6 },
	{ "local7", LOG_LOCAL7 },
};

void
log_open(enum log_dest dest, enum log_level min, const char *facility,
    const char *syslog_socket)
{
	int fac = LOG_MAIL;

	for (size_t i = 0; facility != NULL && i < ARRAY_SIZE(facilities); i++)
		if (strcmp(facility, facilities[i].name) == 0)
			fac = facilities[i].facility;
	log_cfg.dest = dest;
	log_cfg.min = min;
	log_cfg.facility = fac;
	if (dest == LOG_DEST_SYSLOG && log_cfg.fd < 0) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		const char *path = syslog_socket != NULL ? syslog_socket :
		    "/dev/log";
		int fd = strlen(path) < sizeof(sun.sun_path) ?
		    socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0) : -1;

		if (fd >= 0)
			memcpy(sun.sun_path, path, strlen(path) + 1);
		if (fd >= 0 &&
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
			close(fd);
			fd = -1;
		}
		log_cfg.fd = fd;	/* -1: lines go to stderr instead */
		if (fd < 0)
			log_msg(LOG_LVL_WARN, "master", "syslog socket %s: %s; "
			    "logging to stderr", path, strerror(errno));
	}
}

int
log_parse_level(const char *s)
{
	static const char *const names[] = { "debug", "info", "warning",
		"error" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcmp(s, names[i]) == 0)
			return (int)i;
	return -1;
}

bool
log_enabled(enum log_level lvl)
{
	return lvl >= log_cfg.min;
}

static const char *
level_prefix(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_DEBUG:
		return "debug: ";
	case LOG_LVL_WARN:
		return "warning: ";
	case LOG_LVL_ERROR:
		return "error: ";
	case LOG_LVL_INFO:
		break;
	}
	return "";
}

static int
syslog_priority(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_DEBUG:
		return LOG_DEBUG;
	case LOG_LVL_WARN:
		return LOG_WARNING;
	case LOG_LVL_ERROR:
		return LOG_ERR;
	case LOG_LVL_INFO:
		break;
	}
	return LOG_INFO;
}

/* append with truncation: the cut is marked, never silent */
static size_t
put(char *line, size_t off, size_t cap, const char *s, size_t n)
{
	if (off >= cap)
		return off;
	if (n > cap - off)
		n = cap - off;
	memcpy(line + off, s, n);
	return off + n;
}

/* build - the whole line for syslog (RFC 3164) or stderr; its length */
static size_t
build(char *line, bool syslog, enum log_level lvl, const char *svc,
    const char *text, size_t tlen, bool cut, const struct timespec *ts)
{
	char stamp[48];
	size_t off = 0;
	struct tm tm;
	int n;

	if (syslog) {
		/* RFC 3164 datagram, so each service keeps its own tag */
		localtime_r(&ts->tv_sec, &tm);
		n = snprintf(stamp, sizeof(stamp), "<%d>",
		    log_cfg.facility | syslog_priority(lvl));
		off = put(line, off, LOG_LINE_MAX, stamp, (size_t)n);
		n = (int)strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S ", &tm);
	} else {
		gmtime_r(&ts->tv_sec, &tm);
		n = (int)strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		off = put(line, off, LOG_LINE_MAX, stamp, (size_t)n);
		n = snprintf(stamp, sizeof(stamp), ".%06ldZ ",
		    ts->tv_nsec / 1000);
	}
	off = put(line, off, LOG_LINE_MAX, stamp, (size_t)n);
	off = put(line, off, LOG_LINE_MAX, "postern/", 8);
	off = put(line, off, LOG_LINE_MAX, svc, strlen(svc));
	n = snprintf(stamp, sizeof(stamp), "[%ld]: ", (long)getpid());
	off = put(line, off, LOG_LINE_MAX, stamp, (size_t)n);
	off = put(line, off, LOG_LINE_MAX, level_prefix(lvl),
	    strlen(level_prefix(lvl)));
	off = put(line, off, LOG_LINE_MAX, text, tlen);
	if (cut || off >= LOG_LINE_MAX)
		off = put(line, off, LOG_LINE_MAX + 3, "...", 3);
	return off;
}

void
log_vmsg(enum log_level lvl, const char *svc, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX + 8], text[LOG_LINE_MAX];
	int saved_errno = errno, n;
	size_t off, tlen;
	bool cut;
	struct timespec ts;

	if (lvl < log_cfg.min)
		return;
	n = vsnprintf(text, sizeof(text), fmt, ap);
	if (n < 0)
		n = 0;
	cut = (size_t)n >= sizeof(text);
	tlen = cut ? sizeof(text) - 1 : (size_t)n;
	/* one line per event: a newline in the text would forge a second */
	for (size_t i = 0; i < tlen; i++)
		if (text[i] == '\n' || text[i] == '\r')
			text[i] = ' ';

	clock_gettime(CLOCK_REALTIME, &ts);
	if (log_cfg.dest == LOG_DEST_SYSLOG && log_cfg.fd >= 0) {
		off = build(line, true, lvl, svc, text, tlen, cut, &ts);
		/* never wait: an I/O thread must not stall on a slow syslogd */
		if (send(log_cfg.fd, line, off, MSG_NOSIGNAL | MSG_DONTWAIT) >=
		    0) {
			errno = saved_errno;
			return;
		}
		/* syslogd gone or behind: to stderr rather than lose it */
	}
	off = build(line, false, lvl, svc, text, tlen, cut, &ts);
	line[off++] = '\n';
	(void)!write(STDERR_FILENO, line, off);
	errno = saved_errno;
}

void
log_msg(enum log_level lvl, const char *svc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(lvl, svc, fmt, ap);
	va_end(ap);
}

void
log_fatal(const char *svc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERROR, svc, fmt, ap);
	va_end(ap);
	exit(1);
}
