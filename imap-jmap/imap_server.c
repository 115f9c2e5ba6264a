/*
 * imap_server.c - IMAP sessions: accept, limits, I/O, timeouts, TLS,
 * closing, and the per-account registry through which store changes
 * wake sessions in IDLE.
 *
 * The command parser is pure (imap_parse.h); this file moves bytes
 * between it and the socket.  Input is processed one command at a time:
 * while a job is in flight (busy), while a continuation waits, or while
 * the client does not read its replies (IMAP_OUT_HIGH) no further input
 * is parsed, and libevent stops reading at IMAP_IN_HIGH, so pipelined
 * commands wait in order and memory stays bounded.  A command with a
 * long answer (FETCH 1:*) makes it in parts, each started once the
 * previous one is under IMAP_OUT_HIGH (s->more), so it holds one part
 * in memory, never the whole answer.  A client that takes
 * none of our output for imap.output_timeout is dropped; one in IDLE
 * that lets more than imap.max_output pile up is dropped at once (what
 * it would get next is unbounded).
 *
 * Limits: overall and per-IP connections (checked at accept, "* BYE"),
 * the login and idle timeouts (RFC 9051 5.4: at least 30 minutes once
 * logged in), max_bad_commands BADs in a row.
 *
 * STARTTLS (RFC 9051 6.2.1): whatever the client sent after the command
 * is discarded before the handshake, as for SMTP (CVE-2011-0411).
 * Implicit TLS (993): the socket is wrapped at accept and the greeting
 * waits in the TLS buffer until the handshake is done.
 *
 * Notifications: a logged-in session is listed under its account
 * (watch buckets, under srv->mu).  imap_server_changed, called by the
 * store after a commit on any thread, posts notify_cb to the loop of
 * each of the account's sessions in IDLE or with NOTIFY SET, at most one
 * post in flight per session (notify_posted); a session is never freed
 * while a post is on its way (it is marked dead and the post frees it).
 * Under NOTIFY the post only marks a push as due (notify_pending):
 * process() runs it between commands, or in IDLE, before it reads the
 * next command (imap_notify.c), so no notification lands inside a
 * command's answer and a client that does not read holds pushes back
 * like pipelined commands (IMAP_OUT_HIGH).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void session_free(struct imap_session *s);
static void process(struct imap_session *s);

struct imap_server *
imap_server_new(const struct config *cfg, struct store *st,
    struct directory *dir, SSL_CTX *tls)
{
	struct imap_server *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	s->st = st;
	s->dir = dir;
	s->tls = tls;
	pthread_mutex_init(&s->mu, NULL);
	ip_count_init(&s->ips);
	s->nwatch = 4096;
	s->watch = xcalloc(s->nwatch, sizeof(*s->watch));
	if (RAND_bytes((unsigned char *)&s->id_base, sizeof(s->id_base)) != 1)
		s->id_base = (uint32_t)clock_wall_us();
	return s;
}

void
imap_server_set_jobs(struct imap_server *s, struct jobs *jobs,
    struct jobs *checks, struct auth_throttle *th)
{
	s->jobs = jobs;
	s->auth_jobs = checks != NULL ? checks : jobs;
	s->throttle = th;
}

void
imap_server_free(struct imap_server **sp)
{
	struct imap_server *s = *sp;

	if (s == NULL)
		return;
	/* the loops and the job pools are stopped: nothing else runs */
	while (s->sessions != NULL)
		session_free(s->sessions);
	ip_count_free(&s->ips);
	free(s->watch);
	pthread_mutex_destroy(&s->mu);
	free(s);
	*sp = NULL;
}

unsigned
imap_session_count(struct imap_server *s)
{
	unsigned n;

	pthread_mutex_lock(&s->mu);
	n = s->nsessions;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* ---- connection accounting ---- */

/* conn_admit - count a new connection; NULL or the reason to refuse */
static const char *
conn_admit(struct imap_server *s, const char *ip, uint32_t *id_r)
{
	const char *refuse = NULL;

	pthread_mutex_lock(&s->mu);
	if (s->nsessions >= s->cfg->imap.max_connections)
		refuse = "Too many connections";
	else if (ip_count_get(&s->ips, ip) >=
	    s->cfg->imap.max_connections_per_ip)
		refuse = "Too many connections from your address";
	if (refuse == NULL) {
		ip_count_add(&s->ips, ip);
		s->nsessions++;
		*id_r = s->id_base + s->next_id++;
	}
	pthread_mutex_unlock(&s->mu);
	return refuse;
}

static void
conn_release(struct imap_server *s, struct imap_session *sess,
    const char *ip)
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

/* ---- the notification registry ---- */

static struct imap_session **
watch_bucket(struct imap_server *srv, uint32_t acct)
{
	return &srv->watch[(acct * 2654435761u) % srv->nwatch];
}

void
imap_watch(struct imap_session *s)
{
	struct imap_server *srv = s->srv;
	struct imap_session **b;

	pthread_mutex_lock(&srv->mu);
	if (!s->watched) {
		b = watch_bucket(srv, s->acct);
		s->wprev = NULL;
		s->wnext = *b;
		if (*b != NULL)
			(*b)->wprev = s;
		*b = s;
		s->watched = true;
	}
	pthread_mutex_unlock(&srv->mu);
}

/* unwatch_locked - out of the registry; srv->mu held */
static void
unwatch_locked(struct imap_session *s)
{
	if (!s->watched)
		return;
	if (s->wprev != NULL)
		s->wprev->wnext = s->wnext;
	else
		*watch_bucket(s->srv, s->acct) = s->wnext;
	if (s->wnext != NULL)
		s->wnext->wprev = s->wprev;
	s->wprev = s->wnext = NULL;
	s->watched = false;
	s->idle_watch = false;
	s->notify_watch = false;
	s->notify_meta = 0;
}

void
imap_unwatch(struct imap_session *s)
{
	pthread_mutex_lock(&s->srv->mu);
	unwatch_locked(s);
	pthread_mutex_unlock(&s->srv->mu);
}

void
imap_idle_watch(struct imap_session *s, bool on)
{
	pthread_mutex_lock(&s->srv->mu);
	s->idle_watch = on && s->watched;
	pthread_mutex_unlock(&s->srv->mu);
}

/* notify_cb - on the session's loop: its account changed */
static void
notify_cb(void *arg)
{
	struct imap_session *s = arg;

	pthread_mutex_lock(&s->srv->mu);
	s->notify_posted = false;
	pthread_mutex_unlock(&s->srv->mu);
	if (s->dead) {
		if (!s->busy)
			session_free(s);
		return;
	}
	if (s->notify != NULL) {
		/* NOTIFY decides what IDLE says too (RFC 5465 4) */
		s->notify_pending = true;
		if (!s->busy)
			process(s);
		return;
	}
	imap_idle_notify(s);
}

void
imap_post_notify_locked(struct imap_session *s)
{
	if (s->notify_posted)
		return;
	s->notify_posted = true;
	loop_post(s->loop, notify_cb, s);
}

struct imap_session *
imap_watch_first_locked(struct imap_server *srv, uint32_t acct)
{
	return *watch_bucket(srv, acct);
}

void
imap_server_changed(void *arg, uint32_t acct)
{
	struct imap_server *srv = arg;
	struct imap_session *s;

	pthread_mutex_lock(&srv->mu);
	for (s = *watch_bucket(srv, acct); s != NULL; s = s->wnext)
		if (s->acct == acct && (s->idle_watch || s->notify_watch))
			imap_post_notify_locked(s);
	pthread_mutex_unlock(&srv->mu);
}

/* ---- timeouts ---- */

/*
 * imap_set_timeouts - only when they change: libevent re-arms a
 * bufferevent's timeouts on every read and write by itself, and each
 * explicit reset costs an epoll_ctl
 */
void
imap_set_timeouts(struct imap_session *s)
{
	unsigned r = s->state == IMAP_S_NOAUTH ? s->cfg->imap.login_timeout :
	    s->cfg->imap.idle_timeout;
	unsigned w = s->cfg->imap.output_timeout;
	struct timeval rtv = { .tv_sec = r }, wtv = { .tv_sec = w };

	if (s->bev == NULL || (r == s->read_secs && w == s->write_secs))
		return;
	s->read_secs = r;
	s->write_secs = w;
	bufferevent_set_timeouts(s->bev, &rtv, &wtv);
}

void
imap_setup_bev(struct imap_session *s)
{
	bufferevent_setcb(s->bev, read_cb, write_cb, event_cb, s);
	bufferevent_setwatermark(s->bev, EV_READ, 0, IMAP_IN_HIGH);
	s->read_secs = s->write_secs = 0;	/* a new bufferevent */
	imap_set_timeouts(s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

/* ---- accept ---- */

static void
accept_common(struct loop *l, evutil_socket_t fd, const struct sockaddr *peer,
    struct imap_server *srv, bool implicit_tls)
{
	struct imap_session *s;
	char ip[NETADDR_STRLEN];
	const char *refuse;
	uint32_t id = 0;

	netaddr_ip(peer, ip);
	if ((refuse = conn_admit(srv, ip, &id)) != NULL) {
		char line[160];
		int n = snprintf(line, sizeof(line), "* BYE %s\r\n", refuse);

		log_warn(IMAP_SVC, "refused connect from [%s]: %s", ip, refuse);
		/* best effort, in clear even on 993: a short line fits any
		 * fresh socket buffer and a TLS client just fails */
		if (!implicit_tls && n > 0 && (size_t)n < sizeof(line))
			(void)!send(fd, line, (size_t)n,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	s = xcalloc(1, sizeof(*s));
	s->srv = srv;
	s->cfg = srv->cfg;
	s->loop = l;
	(void)snprintf(s->id, sizeof(s->id), "%08" PRIX32, id);
	memcpy(s->ip, ip, sizeof(s->ip));
	s->port = netaddr_port(peer);
	s->loopback = netaddr_is_loopback(peer);
	s->started_us = clock_mono_us();
	s->state = IMAP_S_NOAUTH;
	buf_init(&s->out, 0);
	if (implicit_tls) {
		SSL *ssl = srv->tls != NULL ? SSL_new(srv->tls) : NULL;

		/* idle sessions are most of them: no 34 KiB of TLS buffers */
		if (ssl != NULL)
			SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
		s->bev = ssl == NULL ? NULL : bufferevent_openssl_socket_new(
		    loop_base(l), fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE);
		if (s->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
		else if (ssl != NULL)
			SSL_free(ssl);
		s->tls = true;
	} else {
		s->bev = bufferevent_socket_new(loop_base(l), fd,
		    BEV_OPT_CLOSE_ON_FREE);
	}
	if (s->bev == NULL) {
		log_error(IMAP_SVC, "bufferevent_socket_new failed");
		close(fd);
		conn_release(srv, NULL, ip);
		buf_free(&s->out);
		free(s);
		return;
	}
	s->parser = imap_parser_new(NULL);
	pthread_mutex_lock(&srv->mu);
	s->next = srv->sessions;
	if (srv->sessions != NULL)
		srv->sessions->prev = s;
	srv->sessions = s;
	pthread_mutex_unlock(&srv->mu);
	log_info(IMAP_SVC, "%s: connect from [%s]:%u%s", s->id, s->ip,
	    s->port, implicit_tls ? " (implicit TLS)" : "");
	imap_setup_bev(s);
	imap_greet(s);
	imap_flush(s);
}

void
imap_accept(struct loop *l, evutil_socket_t fd, const struct sockaddr *peer,
    socklen_t peerlen, void *arg)
{
	(void)peerlen;
	accept_common(l, fd, peer, arg, false);
}

void
imap_accept_tls(struct loop *l, evutil_socket_t fd,
    const struct sockaddr *peer, socklen_t peerlen, void *arg)
{
	(void)peerlen;
	accept_common(l, fd, peer, arg, true);
}

/* ---- closing ---- */

static void
session_free(struct imap_session *s)
{
	uint64_t secs = (clock_mono_us() - s->started_us) / 1000000;

	log_info(IMAP_SVC, "%s: disconnect from [%s]:%u%s%s%s commands=%u "
	    "out=%" PRIu64 " time=%" PRIu64 "s", s->id, s->ip, s->port,
	    s->user != NULL ? " user=<" : "", s->user != NULL ? s->user : "",
	    s->user != NULL ? ">" : "", s->ncmds, s->out_bytes, secs);
	imap_unwatch(s);
	imap_notify_free(s);
	if (s->close_timer != NULL)
		event_free(s->close_timer);
	if (s->bev != NULL)
		bufferevent_free(s->bev);
	imap_compress_free(&s->z);
	imap_cmd_state_free(s);
	imap_cmd_free(&s->cmd);
	imap_parser_free(&s->parser);
	imap_auth_free(s);
	imap_sel_free(&s->sel);
	free(s->user);
	buf_free(&s->out);
	conn_release(s->srv, s, s->ip);
	free(s);
}

/* session_gone - the connection is over; free now or when nothing
 * refers to the session any more (a job, a posted notification) */
static void
session_gone(struct imap_session *s)
{
	bool posted;

	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	pthread_mutex_lock(&s->srv->mu);
	unwatch_locked(s);
	posted = s->notify_posted;
	pthread_mutex_unlock(&s->srv->mu);
	if (s->busy || posted) {
		s->dead = true;
		return;
	}
	session_free(s);
}

/*
 * output_pending - bytes not yet handed to the kernel: the output of
 * every bufferevent of the chain (COMPRESS over TLS over the socket)
 */
static size_t
output_pending(struct imap_session *s)
{
	size_t n = 0;

	for (struct bufferevent *b = s->bev; b != NULL;
	    b = bufferevent_get_underlying(b))
		n += evbuffer_get_length(bufferevent_get_output(b));
	return n;
}

static void close_check(struct imap_session *s);

static void
close_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	close_check(arg);
}

/* close_check - free a closing session once its last reply is out */
static void
close_check(struct imap_session *s)
{
	struct timeval tick = { 0, 20 * 1000 };

	if (s->busy)
		return;		/* the job's completion calls us again */
	if (output_pending(s) == 0 || s->close_ticks++ >= IMAP_CLOSE_TICKS) {
		session_gone(s);
		return;
	}
	/* bytes still down the chain: look again shortly (the write
	 * timeout bounds how long a non-reading client can hold us) */
	if (s->close_timer == NULL)
		s->close_timer = evtimer_new(loop_base(s->loop), close_timer_cb,
		    s);
	evtimer_add(s->close_timer, &tick);
}

/* close_later - close_check from the loop, never from inside a caller
 * that still uses s */
static void
close_later(struct imap_session *s)
{
	struct timeval now = { 0, 0 };

	if (s->close_timer == NULL)
		s->close_timer = evtimer_new(loop_base(s->loop), close_timer_cb,
		    s);
	evtimer_add(s->close_timer, &now);
}

void
imap_close(struct imap_session *s)
{
	imap_flush(s);
	if (s->closing)
		return;
	s->closing = true;
	if (s->bev != NULL)
		bufferevent_disable(s->bev, EV_READ);
	close_later(s);
}

/* drop - a client that does not read: no goodbye, the socket goes now */
static void
drop(struct imap_session *s)
{
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	s->closing = true;
	close_later(s);
}

/* output of at least this many bytes goes to libevent without a copy */
#define IMAP_FLUSH_HANDOFF (64u * 1024)

/* flush_free - libevent's cleanup of a buffer imap_flush handed over */
static void
flush_free(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

void
imap_flush(struct imap_session *s)
{
	/* during a job s->out is the worker's: job_done flushes it */
	if (s->out.len == 0 || s->busy)
		return;
	if (s->bev != NULL && s->out.len >= IMAP_FLUSH_HANDOFF) {
		/* a big answer (bodies): the buffer itself, not a copy */
		struct evbuffer *ob = bufferevent_get_output(s->bev);
		size_t len;
		char *d = buf_steal(&s->out, &len);

		if (evbuffer_add_reference(ob, d, len, flush_free, NULL) < 0) {
			evbuffer_add(ob, d, len);
			free(d);
		}
		s->out_bytes += len;
	} else if (s->bev != NULL) {
		evbuffer_add(bufferevent_get_output(s->bev), s->out.data,
		    s->out.len);
		s->out_bytes += s->out.len;
	}
	/* an idle session should not keep a big buffer around */
	if (s->out.cap > 4096)
		buf_free(&s->out);
	else
		buf_reset(&s->out);
	/*
	 * Untagged output with no command to pace it (IDLE): a client that
	 * does not read would have it grow without bound.
	 */
	if (s->idling && !s->closing && s->bev != NULL &&
	    output_pending(s) > s->cfg->imap.max_output) {
		log_warn(IMAP_SVC, "%s: [%s]: over %" PRIu64 " bytes of output "
		    "not taken: disconnecting", s->id, s->ip,
		    s->cfg->imap.max_output);
		drop(s);
	}
}

/* ---- input ---- */

/*
 * process - parse buffered input until it runs out or we must wait.
 * Not re-entered: a flush inside it can call write_cb at once (the
 * COMPRESS filter passes its output on synchronously), and the loop
 * goes on by itself.  Nothing is parsed while a command is still being
 * answered (its job's done step flushes before it finishes the
 * command), except the lines of a continuation (IDLE, AUTHENTICATE).
 */
static void
process(struct imap_session *s)
{
	if (s->in_process)
		return;
	s->in_process = true;
	while (!s->busy && !s->closing && !s->dead && s->bev != NULL) {
		struct evbuffer *in = bufferevent_get_input(s->bev);
		struct evbuffer_iovec v;
		struct imap_parse_error err;
		struct imap_cmd *cmd = NULL;
		enum imap_parse_ev ev;
		size_t used = 0;

		if (output_pending(s) > IMAP_OUT_HIGH)
			break;	/* the client is not reading; write_cb resumes */
		if (s->more != NULL) {
			/* the next part of a command's answer (FETCH) */
			imap_work_fn *more = s->more;

			s->more = NULL;
			more(s);	/* a job: s->out is the worker's now */
			continue;
		}
		if (s->cmd != NULL && s->cont != IMAP_CONT_IDLE &&
		    s->cont != IMAP_CONT_SASL)
			break;	/* its finish resumes us */
		/* NOTIFY: what changed, told between commands (RFC 5465) */
		if (s->notify_pending && imap_notify_push(s))
			continue;	/* a job: s->out is the worker's now */
		if (evbuffer_get_length(in) == 0 ||
		    evbuffer_peek(in, -1, NULL, &v, 1) < 1)
			break;
		ev = imap_parser_feed(s->parser, v.iov_base, v.iov_len, &used,
		    &cmd, &err);
		evbuffer_drain(in, used);	/* v is invalid from here */
		switch (ev) {
		case IMAP_PARSE_MORE:
			break;
		case IMAP_PARSE_CONTINUE:
			buf_add_str(&s->out, "+ Ready for literal data\r\n");
			break;
		case IMAP_PARSE_BAD:
			imap_parse_error(s, &err);
			break;
		case IMAP_PARSE_CMD:
			if (s->notify != NULL)
				imap_notify_cmd(s, cmd);
			imap_command(s, cmd);
			break;
		}
		if (!s->dead)
			imap_flush(s);
	}
	s->in_process = false;
}

void
imap_resume(struct imap_session *s)
{
	if (s->dead) {
		session_gone(s);
		return;
	}
	if (s->closing) {
		close_check(s);
		return;
	}
	process(s);
	if (!s->busy && !s->closing && !s->dead)
		imap_set_timeouts(s);
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct imap_session *s = arg;

	(void)bev;
	process(s);
	if (!s->closing && !s->dead)
		imap_set_timeouts(s);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct imap_session *s = arg;

	(void)bev;
	if (s->closing) {
		close_check(s);
		return;
	}
	/* output drained below the mark: pipelined input may go on */
	process(s);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct imap_session *s = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		SSL *ssl = bufferevent_openssl_get_ssl(s->bev);
		char info[160];

		tls_describe(ssl, info, sizeof(info));
		log_info(IMAP_SVC, "%s: TLS connection established from "
		    "[%s]: %s", s->id, s->ip, info);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (s->closing || (what & BEV_EVENT_WRITING)) {
			log_info(IMAP_SVC, "%s: [%s]: output not taken for "
			    "%us: disconnecting", s->id, s->ip,
			    s->cfg->imap.output_timeout);
			session_gone(s);
			return;
		}
		log_info(IMAP_SVC, "%s: [%s]: %s timeout", s->id, s->ip,
		    s->state == IMAP_S_NOAUTH ? "login" : "idle");
		if (s->busy) {
			/* a job runs: the client is waiting, not idle */
			bufferevent_enable(s->bev, EV_READ);
			return;
		}
		imap_untagged(s, "BYE Autologout; idle for too long");
		imap_close(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		unsigned long e = bufferevent_get_openssl_error(s->bev);

		if (e != 0) {
			char err[256];

			ERR_error_string_n(e, err, sizeof(err));
			log_info(IMAP_SVC, "%s: TLS error from [%s]: %s", s->id,
			    s->ip, err);
		}
	}
	session_gone(s);
}

void
imap_starttls(struct imap_session *s)
{
	struct evbuffer *in = bufferevent_get_input(s->bev);
	struct bufferevent *tls;
	size_t junk = evbuffer_get_length(in);
	SSL *ssl;

	if (junk > 0) {
		/* plaintext pipelined after STARTTLS: never execute it */
		log_warn(IMAP_SVC, "%s: discarding %zu bytes pipelined after "
		    "STARTTLS from [%s]", s->id, junk, s->ip);
		evbuffer_drain(in, junk);
	}
	ssl = SSL_new(s->srv->tls);
	if (ssl == NULL) {
		imap_untagged(s, "BYE TLS not available");
		imap_close(s);
		return;
	}
	SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
	tls = bufferevent_openssl_filter_new(loop_base(s->loop), s->bev, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (tls == NULL) {
		SSL_free(ssl);
		imap_close(s);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tls, 1);
	s->bev = tls;
	s->tls = true;
	imap_setup_bev(s);
}
