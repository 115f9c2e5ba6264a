/*
 * jmap_http.c - the JMAP server's HTTP side: its sockets, one evhttp per
 * loop and kind (HTTPS through bufferevent_openssl, plain HTTP), the
 * routes, the responses, the per-account limits, and the start and the
 * end of the server.
 *
 * Routes (RFC 8620 2.2, 3.1, 6.1, 6.2, 7.3):
 *   GET  /.well-known/jmap                       307 to /jmap/session
 *   GET  /jmap/session                           the session resource
 *   POST /jmap/api/                              API requests
 *   POST /jmap/upload/{accountId}/               a blob in
 *   GET  /jmap/download/{accountId}/{blobId}/{name}?type=   a blob out
 *   GET  /jmap/eventsource/?types=&closeafter=&ping=        push
 *   OPTIONS on any of them                       a CORS preflight
 * Every one but the first needs HTTP Basic (jmap_auth.c).  Every
 * response carries "Access-Control-Allow-Origin: *" so that web clients
 * may call us (credentials are sent explicitly, never by cookie).
 *
 * Sockets: jmap_server_new binds each address once per loop with
 * listen_bind_shared (common/listen.c's listeners accept themselves;
 * evhttp wants the listening socket, not accepted ones)
 * while we may still be root; jmap_server_start hands them to evhttp.
 *
 * Limits: a request body over the larger of maxSizeRequest and
 * maxSizeUpload is refused by evhttp itself (413); the API and upload
 * routes check their own limit.  Concurrency (maxConcurrentRequests,
 * maxConcurrentUpload, jmap.max_eventsource) is counted per account
 * across loops, under srv->mu, and answered 429 (worth a retry), the
 * size and count limits 400 or 413 (RFC 8620 3.6.1 leaves the status
 * open).  Headers are capped at 16 KiB; a connection idle for
 * jmap.idle_timeout is closed.
 *
 * XXX evhttp reads a whole body before our callback runs, so a client
 * that never authenticates can still make us buffer up to the largest
 * body limit per connection; there is no per-IP or global connection
 * cap yet (libevent 2.1 gives no hook between the headers and the body;
 * a cap at accept time needs our own evconnlistener in front).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <openssl/rand.h>

#include "common/listen.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

#define HEADERS_MAX (16 * 1024)

struct jmap_acct_use {
	struct jmap_acct_use *next;
	uint32_t acct;
	unsigned n[JMAP_USE_COUNT];
};

/* ---- sockets ---- */

static int
bind_list(struct jmap_server *s, const struct strlist *list, bool tls,
    const char **error_r)
{
	static __thread char msg[NETADDR_STRLEN + 160];
	unsigned nloops = loops_count(s->loops);

	for (size_t i = 0; i < list->n; i++) {
		struct netaddr a;
		const char *error;
		int *fds = xreallocarray(NULL, nloops, sizeof(*fds));

		if (netaddr_parse_listen(list->v[i], &a, &error) < 0 ||
		    (a.ss.ss_family != AF_INET && a.ss.ss_family != AF_INET6 &&
		    (error = "an IP address and port, not a UNIX socket")) ||
		    listen_bind_shared(&a, fds, nloops, &error) < 0) {
			free(fds);
			(void)snprintf(msg, sizeof(msg), "jmap.%s %s: %s",
			    tls ? "listen_tls" : "listen", list->v[i], error);
			*error_r = msg;
			return -1;
		}
		for (unsigned l = 0; l < nloops; l++) {
			struct jmap_bound *b;

			s->bound = xreallocarray(s->bound, s->nbound + 1,
			    sizeof(*s->bound));
			b = &s->bound[s->nbound++];
			b->fd = fds[l];
			b->loop = l;
			b->tls = tls;
			(void)snprintf(b->name, sizeof(b->name), "%s",
			    list->v[i]);
		}
		free(fds);
	}
	return 0;
}

struct jmap_server *
jmap_server_new(const struct config *cfg, struct loops *loops, SSL_CTX *tls,
    const char **error_r)
{
	struct jmap_server *s = xcalloc(1, sizeof(*s));

	s->cfg = cfg;
	s->loops = loops;
	s->tls = tls;
	pthread_mutex_init(&s->mu, NULL);
	s->nuse = 1024;
	s->use = xcalloc(s->nuse, sizeof(*s->use));
	s->npush = 1024;
	s->push = xcalloc(s->npush, sizeof(*s->push));
	if (RAND_bytes((unsigned char *)&s->id_base, sizeof(s->id_base)) != 1)
		s->id_base = (uint32_t)clock_wall_us();
	if (cfg->jmap.listen_tls.n > 0 && tls == NULL) {
		*error_r = "jmap.listen_tls: no TLS context";
		jmap_server_free(&s);
		return NULL;
	}
	if (bind_list(s, &cfg->jmap.listen_tls, true, error_r) < 0 ||
	    bind_list(s, &cfg->jmap.listen, false, error_r) < 0) {
		jmap_server_free(&s);
		return NULL;
	}
	return s;
}

/* ---- per-account counters ---- */

static struct jmap_acct_use **
use_bucket(struct jmap_server *s, uint32_t acct)
{
	return &s->use[(acct * 2654435761u) % s->nuse];
}

bool
jmap_use_enter(struct jmap_server *s, uint32_t acct, enum jmap_use u,
    unsigned limit)
{
	struct jmap_acct_use **pp, *e;
	bool ok = false;

	pthread_mutex_lock(&s->mu);
	pp = use_bucket(s, acct);
	for (e = *pp; e != NULL && e->acct != acct; e = e->next)
		;
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		e->acct = acct;
		e->next = *pp;
		*pp = e;
	}
	if (e->n[u] < limit) {
		e->n[u]++;
		ok = true;
	}
	pthread_mutex_unlock(&s->mu);
	return ok;
}

void
jmap_use_leave(struct jmap_server *s, uint32_t acct, enum jmap_use u)
{
	struct jmap_acct_use **pp, *e;

	pthread_mutex_lock(&s->mu);
	for (pp = use_bucket(s, acct); (e = *pp) != NULL; pp = &e->next) {
		if (e->acct != acct)
			continue;
		ASSERT(e->n[u] > 0);
		e->n[u]--;
		for (int i = 0; i < JMAP_USE_COUNT; i++)
			if (e->n[i] != 0)
				goto out;
		*pp = e->next;
		free(e);
		break;
	}
out:
	pthread_mutex_unlock(&s->mu);
}

/* ---- requests ---- */

static struct jmap_req *
req_new(struct jmap_front *fr, struct evhttp_request *req)
{
	struct jmap_server *s = fr->srv;
	struct jmap_req *r = xcalloc(1, sizeof(*r));
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct sockaddr *sa = evcon != NULL ?
	    evhttp_connection_get_addr(evcon) : NULL;
	uint32_t n;

	r->srv = s;
	r->fr = fr;
	r->req = req;
	r->started_us = clock_mono_us();
	buf_init(&r->user, 0);
	buf_init(&r->key, 0);
	buf_init(&r->pass, 0);
	buf_init(&r->out, 0);
	if (sa != NULL) {
		netaddr_ip(sa, r->ip);
		r->loopback = netaddr_is_loopback(sa);
	} else {
		(void)snprintf(r->ip, sizeof(r->ip), "unknown");
	}
	pthread_mutex_lock(&s->mu);
	n = s->id_base + s->next_id++;
	r->next = s->reqs;
	if (s->reqs != NULL)
		s->reqs->prev = r;
	s->reqs = r;
	pthread_mutex_unlock(&s->mu);
	(void)snprintf(r->id, sizeof(r->id), "J%08X", n);
	return r;
}

void
jmap_req_free(struct jmap_req *r)
{
	struct jmap_server *s = r->srv;

	pthread_mutex_lock(&s->mu);
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		s->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	pthread_mutex_unlock(&s->mu);
	for (int u = 0; u < JMAP_USE_COUNT; u++)
		if (r->held & (1u << u))
			jmap_use_leave(s, r->acct, (enum jmap_use)u);
	jmap_auth_wipe(r);
	if (r->timer != NULL)
		event_free(r->timer);
	if (r->in != NULL)
		evbuffer_free(r->in);
	buf_free(&r->out);
	free(r->username);
	free(r->content_type);
	free(r->path_account);
	free(r->path_blob);
	free(r->path_name);
	free(r->query_type);
	free(r->disposition);
	free(r);
}

struct job_hop {
	struct jmap_req *r;
	job_fn *work;
	job_done_fn *done;
};

static void
hop_work(void *arg)
{
	struct job_hop *h = arg;

	h->work(h->r);
}

static void
hop_done(void *arg)
{
	struct job_hop *h = arg;
	struct jmap_req *r = h->r;
	job_done_fn *done = h->done;

	free(h);
	done(r);
}

void
jmap_run_job(struct jmap_req *r, struct jobs *j, job_fn *work,
    job_done_fn *done)
{
	struct job_hop *h = xmalloc(sizeof(*h));

	h->r = r;
	h->work = work;
	h->done = done;
	jobs_submit(j, r->fr->loop, hop_work, hop_done, h);
}

/* ---- responses ---- */

static const char *
reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 307: return "Temporary Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

static void
free_ref(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)data);
}

static const char *
route_name(enum jmap_route rt)
{
	static const char *const names[] = {
		[JMAP_R_NONE] = "-", [JMAP_R_WELL_KNOWN] = "well-known",
		[JMAP_R_SESSION] = "session", [JMAP_R_API] = "api",
		[JMAP_R_UPLOAD] = "upload", [JMAP_R_DOWNLOAD] = "download",
		[JMAP_R_PUSH] = "eventsource",
	};

	return names[rt];
}

void
jmap_reply_buf(struct jmap_req *r, int status, const char *ctype,
    struct buf *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct evbuffer *evb = evbuffer_new();
	size_t len = body->len;

	if (ctype != NULL)
		evhttp_add_header(h, "Content-Type", ctype);
	if (evhttp_find_header(h, "Cache-Control") == NULL)
		evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
	if (len > 0) {
		char *data = buf_steal(body, &len);

		if (evbuffer_add_reference(evb, data, len, free_ref, NULL) < 0)
			PANIC("evbuffer_add_reference failed");
	}
	evhttp_send_reply(r->req, status, reason(status), evb);
	evbuffer_free(evb);
	r->req = NULL;
	log_info(JMAP_SVC, "%s: %s: status=%d, user=<%s>, rip=%s, size=%zu, "
	    "delay=%.3f", r->id, route_name(r->route), status,
	    r->username != NULL ? r->username : "", r->ip, len,
	    (double)(clock_mono_us() - r->started_us) / 1e6);
	jmap_req_free(r);
}

void
jmap_reply_json(struct jmap_req *r, int status, json_t *body)
{
	struct buf b = BUF_INIT(0);
	char *s = json_dumps(body, JSON_COMPACT);

	if (s == NULL)
		PANIC("json_dumps failed");
	buf_add_str(&b, s);
	free(s);
	json_decref(body);
	jmap_reply_buf(r, status, "application/json", &b);
	buf_free(&b);
}

void
jmap_reply_problem(struct jmap_req *r, const struct jmap_problem *p)
{
	struct buf b = BUF_INIT(0);

	jmap_problem_json(p, &b);
	jmap_reply_buf(r, p->status, "application/problem+json", &b);
	buf_free(&b);
}

void
jmap_reply_error(struct jmap_req *r, int status, const char *title)
{
	struct jmap_problem p;

	jmap_problem_set(&p, status, "about:blank", NULL, "%s", title);
	jmap_reply_problem(r, &p);
}

/* host_ok - a Host header worth echoing into URLs */
static bool
host_ok(const char *h)
{
	size_t n = 0;

	for (; h[n] != '\0'; n++)
		if (!is_ascii_alnum((unsigned char)h[n]) && h[n] != '.' &&
		    h[n] != '-' && h[n] != ':' && h[n] != '[' && h[n] != ']')
			return false;
	return n > 0 && n <= 255;
}

void
jmap_base_url(struct jmap_req *r, struct buf *out)
{
	const char *host;

	if (r->srv->cfg->jmap.url[0] != '\0') {
		buf_add_str(out, r->srv->cfg->jmap.url);
		return;
	}
	host = r->req != NULL ? evhttp_find_header(
	    evhttp_request_get_input_headers(r->req), "Host") : NULL;
	buf_add_str(out, r->fr->tls ? "https://" : "http://");
	buf_add_str(out, host != NULL && host_ok(host) ? host :
	    r->srv->cfg->server.hostname);
}

/* ---- routes ---- */

static void
session_step(struct jmap_req *r)
{
	struct buf base = BUF_INIT(0);
	json_t *s;

	jmap_base_url(r, &base);
	s = jmap_session_json(&r->srv->env, r->acct, r->username,
	    buf_cstr(&base));
	buf_free(&base);
	jmap_reply_json(r, 200, s);
}

static void
api_work(void *arg)
{
	struct jmap_req *r = arg;
	size_t len = evbuffer_get_length(r->in);
	const unsigned char *data = evbuffer_pullup(r->in, -1);

	r->status = jmap_api_run(&r->srv->env, r->acct, r->username,
	    r->content_type, data != NULL ? data : (const unsigned char *)"",
	    len, r->id, &r->out, &r->problem);
}

static void
api_done(void *arg)
{
	struct jmap_req *r = arg;

	jmap_reply_buf(r, r->status, r->problem ? "application/problem+json" :
	    "application/json", &r->out);
}

static void
api_step(struct jmap_req *r)
{
	struct jmap_server *s = r->srv;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	const char *ct = evhttp_find_header(
	    evhttp_request_get_input_headers(r->req), "Content-Type");
	struct jmap_problem p;

	if (evbuffer_get_length(in) > s->env.lim.max_size_request) {
		jmap_problem_set(&p, 400, JMAP_ERR_URN "limit",
		    "maxSizeRequest", "The request is larger than %llu octets",
		    (unsigned long long)s->env.lim.max_size_request);
		jmap_reply_problem(r, &p);
		return;
	}
	if (!jmap_use_enter(s, r->acct, JMAP_USE_REQUEST,
	    s->env.lim.max_concurrent_requests)) {
		jmap_problem_set(&p, 429, JMAP_ERR_URN "limit",
		    "maxConcurrentRequests", "More than %u requests at once",
		    s->env.lim.max_concurrent_requests);
		jmap_reply_problem(r, &p);
		return;
	}
	r->held |= 1u << JMAP_USE_REQUEST;
	r->in = evbuffer_new();
	evbuffer_add_buffer(r->in, in);
	r->content_type = xstrdup(ct != NULL ? ct : "");
	jmap_run_job(r, s->jobs, api_work, api_done);
}

static void
cors_preflight(struct jmap_req *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct buf none = BUF_INIT(0);

	evhttp_add_header(h, "Access-Control-Allow-Methods",
	    "GET, POST, OPTIONS");
	evhttp_add_header(h, "Access-Control-Allow-Headers",
	    "Authorization, Content-Type, Accept, Last-Event-ID");
	evhttp_add_header(h, "Access-Control-Max-Age", "86400");
	jmap_reply_buf(r, 204, NULL, &none);
}

static void
well_known(struct jmap_req *r)
{
	struct buf loc = BUF_INIT(0), none = BUF_INIT(0);

	jmap_base_url(r, &loc);
	buf_add_str(&loc, "/jmap/session");
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Location", buf_cstr(&loc));
	buf_free(&loc);
	jmap_reply_buf(r, 307, NULL, &none);
}

static void
not_allowed(struct jmap_req *r, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow",
	    allow);
	jmap_reply_error(r, 405, "Method not allowed here");
}

/* segment - the percent-decoded path segment p[0..n); NULL when it holds
 * a NUL or a '/' once decoded */
static char *
segment(const char *p, size_t n)
{
	char *raw = xmemdup0(p, n), *dec;
	size_t len = 0;

	dec = evhttp_uridecode(raw, 0, &len);
	free(raw);
	if (dec == NULL)
		return NULL;
	if (len == 0 || strlen(dec) != len) {
		free(dec);
		return NULL;
	}
	return dec;
}

/*
 * split_path - rest is "a/b/c": the first nseg - 1 segments end at a '/',
 * the last takes the rest (a name may be anything once decoded but NUL);
 * a trailing '/' after the last is allowed when trailing.  0/-1.
 */
static int
split_path(const char *rest, char **segs, size_t nseg, bool trailing)
{
	for (size_t i = 0; i < nseg; i++) {
		const char *end = i + 1 < nseg ? strchr(rest, '/') : NULL;
		size_t n;

		if (end == NULL) {
			n = strlen(rest);
			if (trailing && n > 0 && rest[n - 1] == '/')
				n--;
			if (i + 1 < nseg)
				return -1;
		} else {
			n = (size_t)(end - rest);
		}
		segs[i] = segment(rest, n);
		if (segs[i] == NULL)
			return -1;
		rest += n + (end != NULL);
	}
	return 0;
}

static void
request_cb(struct evhttp_request *req, void *arg)
{
	struct jmap_front *fr = arg;
	struct jmap_req *r;
	const struct evhttp_uri *uri;
	enum evhttp_cmd_type cmd;
	const char *path;

	r = req_new(fr, req);
	if (evhttp_request_get_uri(req) == NULL) {
		/* evhttp's own refusal: a body too large, bad framing */
		int code = evhttp_request_get_response_code(req);

		jmap_reply_error(r, code >= 400 ? code : 400,
		    code == 413 ? "The request body is too large" :
		    "Malformed HTTP request");
		return;
	}
	uri = evhttp_request_get_evhttp_uri(req);
	path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	cmd = evhttp_request_get_command(req);
	if (path == NULL) {
		jmap_reply_error(r, 404, "No such resource");
		return;
	}
	if (strcmp(path, "/.well-known/jmap") == 0)
		r->route = JMAP_R_WELL_KNOWN;
	else if (strcmp(path, "/jmap/session") == 0 ||
	    strcmp(path, "/jmap/session/") == 0)
		r->route = JMAP_R_SESSION;
	else if (strcmp(path, "/jmap/api") == 0 ||
	    strcmp(path, "/jmap/api/") == 0)
		r->route = JMAP_R_API;
	else if (strncmp(path, "/jmap/upload/", 13) == 0)
		r->route = JMAP_R_UPLOAD;
	else if (strncmp(path, "/jmap/download/", 15) == 0)
		r->route = JMAP_R_DOWNLOAD;
	else if (strcmp(path, "/jmap/eventsource") == 0 ||
	    strcmp(path, "/jmap/eventsource/") == 0)
		r->route = JMAP_R_PUSH;
	if (r->route == JMAP_R_NONE) {
		jmap_reply_error(r, 404, "No such resource");
		return;
	}
	if (cmd == EVHTTP_REQ_OPTIONS) {
		cors_preflight(r);
		return;
	}
	switch (r->route) {
	case JMAP_R_WELL_KNOWN:
		if (cmd != EVHTTP_REQ_GET) {
			not_allowed(r, "GET, OPTIONS");
			return;
		}
		well_known(r);
		return;
	case JMAP_R_SESSION:
		if (cmd != EVHTTP_REQ_GET) {
			not_allowed(r, "GET, OPTIONS");
			return;
		}
		r->authed = session_step;
		break;
	case JMAP_R_API:
		if (cmd != EVHTTP_REQ_POST) {
			not_allowed(r, "POST, OPTIONS");
			return;
		}
		r->authed = api_step;
		break;
	case JMAP_R_UPLOAD: {
		char *seg[1] = { NULL };

		if (cmd != EVHTTP_REQ_POST) {
			not_allowed(r, "POST, OPTIONS");
			return;
		}
		if (split_path(path + 13, seg, 1, true) < 0) {
			free(seg[0]);
			jmap_reply_error(r, 404, "No such resource");
			return;
		}
		r->path_account = seg[0];
		r->authed = jmap_upload;
		break;
	}
	case JMAP_R_DOWNLOAD: {
		char *seg[3] = { NULL, NULL, NULL };
		const char *q = evhttp_uri_get_query(uri);

		if (cmd != EVHTTP_REQ_GET) {
			not_allowed(r, "GET, OPTIONS");
			return;
		}
		if (split_path(path + 15, seg, 3, false) < 0) {
			for (size_t i = 0; i < 3; i++)
				free(seg[i]);
			jmap_reply_error(r, 404, "No such resource");
			return;
		}
		r->path_account = seg[0];
		r->path_blob = seg[1];
		r->path_name = seg[2];
		if (q != NULL) {
			struct evkeyvalq kv;
			const char *t;

			TAILQ_INIT(&kv);
			if (evhttp_parse_query_str(q, &kv) == 0 &&
			    (t = evhttp_find_header(&kv, "type")) != NULL)
				r->query_type = xstrdup(t);
			evhttp_clear_headers(&kv);
		}
		r->authed = jmap_download;
		break;
	}
	case JMAP_R_PUSH:
		if (cmd != EVHTTP_REQ_GET) {
			not_allowed(r, "GET, OPTIONS");
			return;
		}
		r->authed = jmap_push_open;
		break;
	case JMAP_R_NONE:
		break;
	}
	jmap_auth(r);
}

/* ---- start and end ---- */

static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	struct jmap_front *fr = arg;
	SSL *ssl = SSL_new(fr->srv->tls);
	struct bufferevent *bev;

	if (ssl == NULL)
		PANIC("SSL_new failed");
	/* deferred: a failed write never frees the connection under a
	 * caller still holding its request (push events) */
	bev = bufferevent_openssl_socket_new(base, -1, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL)
		PANIC("bufferevent_openssl_socket_new failed");
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

static void
front_init(struct jmap_server *s, struct jmap_front *fr, unsigned loop,
    bool tls)
{
	const struct jmap_limits *l = &s->env.lim;
	uint64_t body = l->max_size_upload > l->max_size_request ?
	    l->max_size_upload : l->max_size_request;

	fr->srv = s;
	fr->loop = loops_get(s->loops, loop);
	fr->tls = tls;
	fr->http = evhttp_new(loop_base(fr->loop));
	if (fr->http == NULL)
		PANIC("evhttp_new failed");
	evhttp_set_gencb(fr->http, request_cb, fr);
	evhttp_set_allowed_methods(fr->http, EVHTTP_REQ_GET |
	    EVHTTP_REQ_POST | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(fr->http, HEADERS_MAX);
	/* one more octet than allowed: ours answer with the JMAP limit */
	evhttp_set_max_body_size(fr->http, (ev_ssize_t)body + 1);
	evhttp_set_timeout(fr->http, (int)s->cfg->jmap.idle_timeout);
	if (tls)
		evhttp_set_bevcb(fr->http, tls_bev, fr);
}

void
jmap_server_start(struct jmap_server *s, struct store *st,
    struct directory *dir, struct jobs *jobs, struct jobs *checks,
    struct auth_throttle *th)
{
	unsigned nloops = loops_count(s->loops);

	s->env.cfg = s->cfg;
	s->env.st = st;
	s->env.dir = dir;
	jmap_limits_from_config(s->cfg, &s->env.lim);
	s->env.tables = jmap_method_tables;
	s->env.types = jmap_std_types;
	s->jobs = jobs;
	s->auth_jobs = checks != NULL ? checks : jobs;
	s->throttle = th;
	s->auth_cache = jmap_auth_cache_new(s->cfg->jmap.auth_cache_ttl);
	/* 32 mailboxes of up to 250,000 emails: 32 MiB at the most */
	s->env.order_cache = jmap_order_cache_new(32, 250000);
	s->fronts = xcalloc(2 * (size_t)nloops, sizeof(*s->fronts));
	for (size_t i = 0; i < s->nbound; i++) {
		struct jmap_bound *b = &s->bound[i];
		struct jmap_front *fr = &s->fronts[2 * b->loop + b->tls];

		if (fr->http == NULL)
			front_init(s, fr, b->loop, b->tls);
		if (evhttp_accept_socket(fr->http, b->fd) != 0)
			PANIC("evhttp_accept_socket failed");
		b->fd = -1;	/* evhttp's now */
		if (b->loop == 0)
			log_info(JMAP_SVC, "jmap%s listening on %s",
			    b->tls ? " (HTTPS)" : " (plain HTTP)", b->name);
	}
	s->nfronts = 2 * (size_t)nloops;
}

void
jmap_server_free(struct jmap_server **sp)
{
	struct jmap_server *s = *sp;

	if (s == NULL)
		return;
	/* the loops and the pools are stopped: nothing else runs */
	for (size_t i = 0; i < s->nfronts; i++)
		if (s->fronts[i].http != NULL)
			evhttp_free(s->fronts[i].http);
	free(s->fronts);
	jmap_push_free_all(s);
	while (s->reqs != NULL) {
		s->reqs->req = NULL;	/* evhttp freed it */
		jmap_req_free(s->reqs);
	}
	for (size_t i = 0; i < s->nbound; i++)
		if (s->bound[i].fd >= 0)
			close(s->bound[i].fd);
	free(s->bound);
	for (size_t i = 0; i < s->nuse; i++) {
		struct jmap_acct_use *e, *next;

		for (e = s->use[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(s->use);
	free(s->push);
	jmap_auth_cache_free(&s->auth_cache);
	jmap_order_cache_free(&s->env.order_cache);
	pthread_mutex_destroy(&s->mu);
	free(s);
	*sp = NULL;
}
