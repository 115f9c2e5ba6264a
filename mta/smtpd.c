/*
 * smtpd.c - inbound SMTP sessions: accept, limits, I/O, replies, STARTTLS.
 *
 * The command and content parsers are pure (smtp_parse.c, smtp_data.c);
 * this file moves bytes between them and the socket.  Input is processed
 * one command at a time, so PIPELINING (RFC 2920) needs nothing special:
 * replies are queued in order, and while a job is in flight (busy) or the
 * client is not reading its replies (SMTPD_OUT_HIGH) no further input is
 * processed, and libevent stops reading at SMTPD_IN_HIGH.
 *
 * Limits: overall and per-IP connections (checked at accept, 421 4.7.0),
 * command and data timeouts (421 4.4.2), an error cap (421 4.7.0).
 *
 * STARTTLS (RFC 3207): whatever the client sent after the STARTTLS line
 * is discarded before the handshake (CVE-2011-0411), and the session
 * forgets HELO and any transaction, as the RFC requires.  Implicit TLS
 * (submissions, RFC 8314 3.3): the socket is wrapped at accept and the
 * greeting waits in the TLS buffer until the handshake is done.
 *
 * AUTH (smtpd_auth.c): after a 334, SASL response lines (SMTPD_AUTH)
 * may be SMTP_SASL_LINE_MAX octets long (RFC 4954 4).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "common/log.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "mta/mta_priv.h"

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);

struct smtpd *
smtpd_new(const struct config *cfg, struct jobs *jobs, SSL_CTX *tls,
    struct spool *spool, smtpd_queued_fn *on_queued, void *arg)
{
	struct smtpd *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	s->jobs = jobs;
	s->tls = tls;
	s->spool = spool;
	s->on_queued = on_queued;
	s->queued_arg = arg;
	pthread_mutex_init(&s->mu, NULL);
	ip_count_init(&s->ips);
	s->flush_at = SMTPD_FLUSH_AT;
	s->starttls = cfg->smtp.starttls;
	s->relay_nets = xcalloc(cfg->smtp.relay_networks.n + 1,
	    sizeof(*s->relay_nets));
	for (size_t i = 0; i < cfg->smtp.relay_networks.n; i++) {
		const char *error;

		/* config_table.c checked them: a failure is our bug */
		if (netaddr_cidr_parse(cfg->smtp.relay_networks.v[i],
		    &s->relay_nets[i], &error) < 0)
			PANIC("smtp.relay_networks: %s: %s",
			    cfg->smtp.relay_networks.v[i], error);
	}
	s->nrelay_nets = cfg->smtp.relay_networks.n;
	return s;
}

/* is_relay_client - peer is in smtp.relay_networks (never for LMTP,
 * which delivers here only) */
static bool
is_relay_client(const struct smtpd *s, const struct sockaddr *peer)
{
	if (s->lmtp != NULL)
		return false;
	for (size_t i = 0; i < s->nrelay_nets; i++)
		if (netaddr_cidr_match(&s->relay_nets[i], peer))
			return true;
	return false;
}

void
smtpd_set_auth(struct smtpd *s, struct directory *dir,
    struct auth_throttle *th, struct jobs *checks)
{
	s->dir = dir;
	s->throttle = th;
	s->auth_jobs = checks != NULL ? checks : s->jobs;
}

void
smtpd_set_submission(struct smtpd *s, bool implicit_tls)
{
	ASSERT(s->tls != NULL);
	s->submission = true;
	s->implicit_tls = implicit_tls;
	s->starttls = true;
}

static void session_free(struct smtpd_session *s);

void
smtpd_set_filters(struct smtpd *s, struct filters *f, const char *listener)
{
	uint64_t scan = filters_max_scan(f);

	s->filters = f;
	s->listener = listener;
	s->flush_at = scan > SMTPD_FLUSH_AT ? (size_t)scan : SMTPD_FLUSH_AT;
}

void
smtpd_set_rcpt_check(struct smtpd *s, smtpd_rcpt_fn *fn, void *arg)
{
	s->rcpt_check = fn;
	s->rcpt_arg = arg;
}

void
smtpd_set_lmtp(struct smtpd *s, smtpd_lmtp_fn *deliver, void *arg)
{
	s->lmtp = deliver;
	s->lmtp_arg = arg;
}

void
smtpd_set_direct(struct smtpd *s, smtpd_lmtp_fn *deliver, void *arg)
{
	s->direct = deliver;
	s->direct_arg = arg;
}

void
smtpd_free(struct smtpd **sp)
{
	struct smtpd *s = *sp;

	if (s == NULL)
		return;
	/* the loops and the job pool are stopped: nothing else runs */
	s->shutting_down = true;
	while (s->sessions != NULL)
		session_free(s->sessions);
	ip_count_free(&s->ips);
	free(s->relay_nets);
	pthread_mutex_destroy(&s->mu);
	free(s);
	*sp = NULL;
}

unsigned
smtpd_session_count(struct smtpd *s)
{
	unsigned n;

	pthread_mutex_lock(&s->mu);
	n = s->nsessions;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* conn_admit - count a new connection; NULL or the reason to refuse */
static const char *
conn_admit(struct smtpd *s, const char *ip)
{
	const char *refuse = NULL;

	pthread_mutex_lock(&s->mu);
	if (s->nsessions >= s->cfg->smtp.max_connections)
		refuse = "too many connections";
	else if (ip_count_get(&s->ips, ip) >=
	    s->cfg->smtp.max_connections_per_ip)
		refuse = "too many connections from your address";
	if (refuse == NULL) {
		ip_count_add(&s->ips, ip);
		s->nsessions++;
	}
	pthread_mutex_unlock(&s->mu);
	return refuse;
}

static void
session_link(struct smtpd *s, struct smtpd_session *sess)
{
	pthread_mutex_lock(&s->mu);
	sess->next = s->sessions;
	if (s->sessions != NULL)
		s->sessions->prev = sess;
	s->sessions = sess;
	pthread_mutex_unlock(&s->mu);
}

static void
conn_release(struct smtpd *s, struct smtpd_session *sess, const char *ip)
{
	pthread_mutex_lock(&s->mu);
	if (sess != NULL) {
		if (sess->prev != NULL)
			sess->prev->next = sess->next;
		else
			s->sessions = sess->next;
		if (sess->next != NULL)
			sess->next->prev = sess->prev;
	}
	ip_count_del(&s->ips, ip);
	s->nsessions--;
	pthread_mutex_unlock(&s->mu);
}

/*
 * set_timeouts - command or data timeout, per state.  Only when it
 * changes: libevent re-arms a bufferevent's timeout on every read by
 * itself, and each explicit reset costs an epoll_ctl.
 */
static void
set_timeouts(struct smtpd_session *s)
{
	unsigned secs = s->state == SMTPD_DATA || s->state == SMTPD_BDAT ?
	    s->cfg->smtp.data_timeout : s->cfg->smtp.command_timeout;
	struct timeval tv = { .tv_sec = secs, .tv_usec = 0 };

	if (secs == s->timeout_secs)
		return;
	s->timeout_secs = secs;
	bufferevent_set_timeouts(s->bev, &tv, &tv);
}

static void
setup_bev(struct smtpd_session *s)
{
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, SMTPD_IN_HIGH);
	s->timeout_secs = 0;	/* a new bufferevent: set them */
	set_timeouts(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
greet(struct smtpd_session *s)
{
	smtpd_reply(s, 220, NULL, "%s %s", s->cfg->server.hostname,
	    s->cfg->smtp.banner);
}

static void
connect_work(void *arg)
{
	struct smtpd_session *s = arg;

	s->faction = filters_connect(s->fs, &s->freply);
}

/*
 * connect_done - greet, or refuse: 554 and close (RFC 5321 3.1 lets the
 * server wait for QUIT; we do not keep a refused client around), 421 for
 * a temporary refusal
 */
static void
connect_done(void *arg)
{
	struct smtpd_session *s = arg;
	const struct filter_reply *r = &s->freply;

	s->busy = false;
	if (!s->dead && (s->faction == FILTER_REJECT ||
	    s->faction == FILTER_TEMPFAIL)) {
		bool perm = s->faction == FILTER_REJECT;

		log_info(SMTPD_SVC, "NOQUEUE: reject: CONNECT from "
		    "unknown[%s]: %d %s %s", s->ip, perm ? 554 : 421, r->ecode,
		    r->text);
		smtpd_reply(s, perm ? 554 : 421, r->ecode, "%s %s",
		    s->cfg->server.hostname, r->text);
		smtpd_close(s);		/* may free s */
		return;
	}
	if (!s->dead)
		greet(s);
	smtpd_resume(s);
}

void
smtpd_accept(struct loop *l, evutil_socket_t fd, const struct sockaddr *peer,
    socklen_t peerlen, void *arg)
{
	struct smtpd *srv = arg;
	struct smtpd_session *s;
	char ip[NETADDR_STRLEN];
	const char *refuse;

	(void)peerlen;
	netaddr_ip(peer, ip);
	if ((refuse = conn_admit(srv, ip)) != NULL) {
		char line[160];
		int n = snprintf(line, sizeof(line), "421 4.7.0 %s Error: %s\r\n",
		    srv->cfg->server.hostname, refuse);

		log_warn(SMTPD_SVC, "refused connect from unknown[%s]: %s", ip,
		    refuse);
		/* best effort: a short line fits any fresh socket buffer */
		if (n > 0 && (size_t)n < sizeof(line))
			(void)!send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->cfg = srv->cfg;
	s->loop = l;
	memcpy(s->ip, ip, sizeof(s->ip));
	s->port = netaddr_port(peer);
	s->loopback = netaddr_is_loopback(peer);
	s->relay_client = is_relay_client(srv, peer);
	s->started_us = clock_mono_us();
	s->state = SMTPD_CMD;
	buf_init(&s->txn.content, 0);
	if (srv->implicit_tls) {
		SSL *ssl = SSL_new(srv->tls);

		s->bev = ssl == NULL ? NULL : bufferevent_openssl_socket_new(
		    loop_base(l), fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE);
		if (s->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
		else if (ssl != NULL)
			SSL_free(ssl);
	} else {
		s->bev = bufferevent_socket_new(loop_base(l), fd,
		    BEV_OPT_CLOSE_ON_FREE);
	}
	if (s->bev == NULL) {
		log_error(SMTPD_SVC, "bufferevent_socket_new failed");
		close(fd);
		conn_release(srv, NULL, ip);
		free(s);
		return;
	}
	session_link(srv, s);
	log_info(SMTPD_SVC, "connect from unknown[%s]:%u", s->ip, s->port);
	setup_bev(s);
	if (srv->filters != NULL) {
		s->fs = filters_session_new(srv->filters, peer, peerlen,
		    srv->listener);
		/* LMTP answers per RCPT: the recipients cannot change */
		filters_session_can(s->fs, srv->lmtp != NULL ?
		    FILTER_CAN_BODY : FILTER_CAN_ALL);
		/* a trusted client past only inbound stages: unfiltered */
		if (!filters_session_has_work(s->fs))
			filters_session_free(&s->fs);
	}
	if (s->fs != NULL && filters_wants(srv->filters, FILTER_STEP_CONNECT)) {
		smtpd_run_job(s, connect_work, connect_done);
		return;
	}
	greet(s);
}

static void
session_free(struct smtpd_session *s)
{
	char counts[256];
	size_t off = 0;
	const struct {
		const char *name;
		unsigned n;
	} c[] = {
		{ "ehlo", s->n_ehlo }, { "helo", s->n_helo },
		{ "starttls", s->n_starttls }, { "auth", s->n_auth },
		{ "mail", s->n_mail },
		{ "rcpt", s->n_rcpt }, { "data", s->n_data },
		{ "bdat", s->n_bdat }, { "rset", s->n_rset },
		{ "noop", s->n_noop }, { "vrfy", s->n_vrfy },
		{ "help", s->n_help }, { "quit", s->n_quit },
		{ "unknown", s->n_unknown }, { "commands", s->n_cmds },
	};

	counts[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		int n;

		if (c[i].n == 0 && strcmp(c[i].name, "commands") != 0)
			continue;
		n = snprintf(counts + off, sizeof(counts) - off, " %s=%u",
		    c[i].name, c[i].n);
		if (n < 0 || (size_t)n >= sizeof(counts) - off)
			break;
		off += (size_t)n;
	}
	log_info(SMTPD_SVC, "disconnect from unknown[%s]:%u%s", s->ip, s->port,
	    counts);
	if (s->close_timer != NULL)
		event_free(s->close_timer);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	smtpd_txn_reset(s);
	buf_free(&s->txn.content);
	free(s->txn.rcpts);
	filters_session_free(&s->fs);
	smtpd_auth_free(s);
	free(s->auth_user);
	free(s->helo);
	conn_release(s->srv, s, s->ip);
	free(s);
}

/* session_gone - the connection is over; free now or after the job */
static void
session_gone(struct smtpd_session *s)
{
	if (s->busy) {
		if (s->bev != NULL) {
			bufferevent_free(s->bev);
			s->bev = NULL;
		}
		s->dead = true;
		return;
	}
	session_free(s);
}

/*
 * output_pending - bytes not yet handed to the kernel.  With TLS the
 * filter's own buffer empties as soon as it has encrypted, so the
 * underlying socket's buffer counts too.
 */
static size_t
output_pending(struct smtpd_session *s)
{
	struct bufferevent *under = bufferevent_get_underlying(s->bev);
	size_t n = evbuffer_get_length(bufferevent_get_output(s->bev));

	if (under != NULL)
		n += evbuffer_get_length(bufferevent_get_output(under));
	return n;
}

static void close_check(struct smtpd_session *s);

static void
close_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	close_check(arg);
}

/* close_check - free a closing session once its last reply is out */
static void
close_check(struct smtpd_session *s)
{
	struct timeval tick = { 0, 20 * 1000 };

	if (s->busy)
		return;		/* the job's completion calls us again */
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) > 0)
		return;		/* write_cb calls us again */
	if (output_pending(s) == 0 || s->close_ticks++ >= SMTPD_CLOSE_TICKS) {
		session_gone(s);
		return;
	}
	/* TLS bytes still in the socket's buffer: look again shortly (the
	 * write timeout bounds how long a non-reading client can hold us) */
	if (s->close_timer == NULL)
		s->close_timer = evtimer_new(loop_base(s->loop), close_timer_cb,
		    s);
	evtimer_add(s->close_timer, &tick);
}

void
smtpd_close(struct smtpd_session *s)
{
	s->closing = true;
	bufferevent_disable(s->bev, EV_READ);
	close_check(s);
}

static void
vreply(struct smtpd_session *s, int code, const char *ecode, const char *fmt,
    va_list ap)
{
	struct evbuffer *out = bufferevent_get_output(s->bev);
	char text[1024];
	int n = vsnprintf(text, sizeof(text), fmt, ap);

	if (n < 0)
		PANIC("smtpd reply: bad format");
	if ((size_t)n >= sizeof(text))	/* our own text; keep it a line */
		n = (int)sizeof(text) - 1;
	if (ecode != NULL)
		evbuffer_add_printf(out, "%d %s %.*s\r\n", code, ecode, n, text);
	else
		evbuffer_add_printf(out, "%d %.*s\r\n", code, n, text);
}

void
smtpd_reply(struct smtpd_session *s, int code, const char *ecode,
    const char *fmt, ...)
{
	va_list ap;

	if (s->bev == NULL)
		return;
	va_start(ap, fmt);
	vreply(s, code, ecode, fmt, ap);
	va_end(ap);
}

void
smtpd_error(struct smtpd_session *s, int code, const char *ecode,
    const char *fmt, ...)
{
	va_list ap;

	if (s->bev == NULL)
		return;
	va_start(ap, fmt);
	vreply(s, code, ecode, fmt, ap);
	va_end(ap);
	/* the error cap: a client that keeps failing is cut off */
	if (++s->nerrors >= s->cfg->smtp.max_errors && !s->closing) {
		log_warn(SMTPD_SVC, "too many errors from unknown[%s]", s->ip);
		smtpd_reply(s, 421, "4.7.0", "%s Error: too many errors",
		    s->cfg->server.hostname);
		smtpd_close(s);
	}
}

const char *
smtpd_proto(const struct smtpd_session *s)
{
	/* RFC 3848 and RFC 6531 protocol names for Received: "with" */
	static const char *const names[][4] = {
		/* plain, TLS, AUTH, TLS and AUTH */
		{ "LMTP", "LMTPS", "LMTPA", "LMTPSA" },
		{ "UTF8SMTP", "UTF8SMTPS", "UTF8SMTPA", "UTF8SMTPSA" },
		{ "SMTP", "SMTPS", "SMTP", "SMTPS" },	/* AUTH needs EHLO */
		{ "ESMTP", "ESMTPS", "ESMTPA", "ESMTPSA" },
	};
	size_t row = s->srv->lmtp != NULL ? 0 : s->txn.smtputf8 ? 1 :
	    !s->esmtp ? 2 : 3;

	return names[row][(s->tls_active ? 1 : 0) +
	    (s->auth_user != NULL ? 2 : 0)];
}

/* process - handle buffered input until it runs out or we must wait */
static void
process(struct smtpd_session *s)
{
	struct evbuffer *in;

	while (!s->busy && !s->closing && s->bev != NULL) {
		struct evbuffer_iovec v;
		size_t avail, used;

		in = bufferevent_get_input(s->bev);
		if (evbuffer_get_length(bufferevent_get_output(s->bev)) >
		    SMTPD_OUT_HIGH)
			return;	/* the client is not reading; write_cb resumes */
		avail = evbuffer_get_length(in);
		if (avail == 0)
			return;

		switch (s->state) {
		case SMTPD_CMD: {
			size_t n = avail < SMTP_CMD_LINE_MAX + 2 ? avail :
			    SMTP_CMD_LINE_MAX + 2;
			const unsigned char *p = evbuffer_pullup(in, (ssize_t)n);
			char line[SMTP_CMD_LINE_MAX + 1];
			size_t llen;
			enum parse_res r = smtp_line_split(p, n,
			    SMTP_CMD_LINE_MAX, &llen, &used);

			if (r == PARSE_MORE)
				return;
			if (r == PARSE_TOO_LONG) {
				evbuffer_drain(in, n);
				s->state = SMTPD_SKIP;
				smtpd_error(s, 500, "5.5.2",
				    "Error: command line too long");
				break;
			}
			if (r == PARSE_BAD) {
				/* bare LF: refuse the line, keep the session */
				evbuffer_drain(in, smtp_line_skip(p, n));
				smtpd_error(s, 500, "5.5.2",
				    "Error: bare <LF> received; "
				    "lines must end in <CR><LF>");
				break;
			}
			memcpy(line, p, llen);
			line[llen] = '\0';
			evbuffer_drain(in, used);
			smtpd_command(s, line, llen);
			break;
		}
		case SMTPD_AUTH: {
			size_t n = avail < SMTP_SASL_LINE_MAX + 2 ? avail :
			    SMTP_SASL_LINE_MAX + 2;
			const unsigned char *p = evbuffer_pullup(in, (ssize_t)n);
			size_t llen;
			enum parse_res r = smtp_line_split(p, n,
			    SMTP_SASL_LINE_MAX, &llen, &used);

			if (r == PARSE_MORE)
				return;
			if (r == PARSE_TOO_LONG) {
				evbuffer_drain(in, n);
				s->state = SMTPD_SKIP;
				smtpd_auth_line_too_long(s);
				break;
			}
			if (r == PARSE_BAD) {
				/* a bare LF ends the exchange like junk */
				evbuffer_drain(in, smtp_line_skip(p, n));
				s->state = SMTPD_CMD;
				smtpd_auth_response(s, NULL, 0);
				break;
			}
			/* the response is read in place, then drained */
			smtpd_auth_response(s, (const char *)p, llen);
			evbuffer_drain(in, used);
			break;
		}
		case SMTPD_SKIP: {
			size_t n;

			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				return;
			n = smtp_line_skip(v.iov_base, v.iov_len);
			if (n > 0 && ((unsigned char *)v.iov_base)[n - 1] == '\n')
				s->state = SMTPD_CMD;
			evbuffer_drain(in, n);	/* v is invalid from here */
			break;
		}
		case SMTPD_DATA:
		case SMTPD_BDAT:
			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
				return;
			used = smtpd_data_input(s, v.iov_base, v.iov_len);
			evbuffer_drain(in, used);
			break;
		}
	}
}

void
smtpd_resume(struct smtpd_session *s)
{
	if (s->dead) {
		session_free(s);
		return;
	}
	if (s->closing) {
		close_check(s);
		return;
	}
	process(s);
	if (s->bev != NULL && !s->busy && !s->closing && !s->dead)
		set_timeouts(s);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct smtpd_session *s = arg;

	(void)bev;
	process(s);
	if (!s->closing && !s->dead && s->bev != NULL)
		set_timeouts(s);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct smtpd_session *s = arg;

	(void)bev;
	if (s->closing) {
		close_check(s);
		return;
	}
	/* output drained below the mark: pipelined input may go on */
	process(s);
}

static void
tls_established(struct smtpd_session *s)
{
	SSL *ssl = bufferevent_openssl_get_ssl(s->bev);

	s->tls_active = true;
	if (s->fs != NULL)
		filters_session_tls(s->fs, true);
	tls_describe(ssl, s->tls_info, sizeof(s->tls_info));
	log_info(SMTPD_SVC, "Anonymous TLS connection established from "
	    "unknown[%s]: %s", s->ip, s->tls_info);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtpd_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		tls_established(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->closing) {	/* client does not read our goodbye */
			session_gone(s);
			return;
		}
		log_info(SMTPD_SVC, "timeout after %s from unknown[%s]",
		    s->state == SMTPD_DATA || s->state == SMTPD_BDAT ?
		    "DATA" : "command", s->ip);
		smtpd_reply(s, 421, "4.4.2", "%s Error: timeout exceeded",
		    s->cfg->server.hostname);
		smtpd_close(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(s->bev);

		if (e != 0) {
			char err[256];

			ERR_error_string_n(e, err, sizeof(err));
			log_info(SMTPD_SVC, "TLS error from unknown[%s]: %s",
			    s->ip, err);
		}
	}
	if (s->txn.active && s->state != SMTPD_CMD)
		log_info(SMTPD_SVC, "lost connection after %s from unknown[%s]",
		    s->state == SMTPD_BDAT ? "BDAT" : "DATA", s->ip);
	session_gone(s);
}

void
smtpd_starttls(struct smtpd_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct bufferevent *tls;
	SSL *ssl;
	size_t junk = evbuffer_get_length(in);

	if (junk > 0) {
		/* plaintext pipelined after STARTTLS: never execute it */
		log_warn(SMTPD_SVC, "discarding %zu bytes pipelined after "
		    "STARTTLS from unknown[%s]", junk, s->ip);
		evbuffer_drain(in, junk);
	}
	ssl = SSL_new(s->srv->tls);
	if (ssl == NULL) {
		smtpd_error(s, 454, "4.7.0", "TLS not available due to "
		    "local problem");
		return;
	}
	smtpd_reply(s, 220, "2.0.0", "Ready to start TLS");
	tls = bufferevent_openssl_filter_new(loop_base(s->loop), s->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		smtpd_close(s);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	s->bev = tls;
	/* RFC 3207 4.2: forget everything learned before the handshake */
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	smtpd_txn_reset(s);
	setup_bev(s);
}
