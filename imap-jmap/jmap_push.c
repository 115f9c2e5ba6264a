/*
 * jmap_push.c - push over EventSource (RFC 8620 7.3): StateChange
 * objects for the account's types whenever a commit changed it, from
 * SMTP, IMAP, JMAP or the CLI of this process alike.
 *
 *   GET /jmap/eventsource/?types=Mailbox,Thread&closeafter=no&ping=30
 *
 * types: "*" (or absent) for every type of jmap_std_types, else a comma
 * list; names we do not serve are ignored.  closeafter: "no" (default)
 * or "state": the response ends after the first StateChange.  ping: 0
 * (default) or seconds between "ping" events when nothing else was sent,
 * clamped to 1..3600; the data says the interval used.
 *
 * With closeafter=no the current states are sent at once (a client that
 * connects after its last fetch learns whether it missed something);
 * with closeafter=state they are the baseline the first change is
 * compared to.  Each event names only the types whose state moved since
 * the last one sent.
 *
 * How a change arrives: the store calls jmap_server_changed on the
 * committing thread; it posts es_notify to the loop of each of the
 * account's connections, at most one post in flight per connection
 * (posted, under srv->mu).  The loop reads the states in a job (the
 * store blocks), at most one at a time (busy; a change meanwhile sets
 * dirty and another read follows).
 *
 * Lifetime: a connection ends when evhttp tells its close callback (the
 * client went: noticed on the next write, a ping or an event) or after
 * its one event (closeafter=state).  The struct is freed once dead, with
 * neither a job nor a post on its way; at shutdown jmap_push_free_all
 * frees what is left.  A request evhttp let go of on a failed write
 * (its connection already NULL) is ours to free.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

#define PUSH_TYPES 16		/* std types at most */
#define PING_MAX 3600

struct jmap_es {
	struct jmap_es *prev, *next;	/* srv->push bucket (srv->mu) */
	struct jmap_server *srv;
	struct jmap_front *fr;
	struct evhttp_request *req;	/* NULL once ended or gone */
	struct evhttp_connection *evcon;
	uint32_t acct;
	char account_id[JMAP_ID_MAX];
	char id[16];
	unsigned types;		/* bit i: env->types[i] */
	bool close_after;
	unsigned ping;		/* seconds; 0 none */
	struct event *ping_ev;
	bool posted;		/* srv->mu */
	bool dead;		/* srv->mu to set, loop to act */
	/* loop only */
	bool busy, dirty, first;
	int rc;
	uint64_t sent[PUSH_TYPES], cur[PUSH_TYPES];
};

static struct jmap_es **
bucket(struct jmap_server *s, uint32_t acct)
{
	return &s->push[(acct * 2654435761u) % s->npush];
}

static void
es_destroy(struct jmap_es *es)
{
	if (es->ping_ev != NULL)
		event_free(es->ping_ev);
	jmap_use_leave(es->srv, es->acct, JMAP_USE_PUSH);
	free(es);
}

/* unlink_locked - out of the bucket; srv->mu held */
static void
unlink_locked(struct jmap_es *es)
{
	if (es->prev != NULL)
		es->prev->next = es->next;
	else
		*bucket(es->srv, es->acct) = es->next;
	if (es->next != NULL)
		es->next->prev = es->prev;
}

/* maybe_free - a dead connection with nothing on its way goes */
static void
maybe_free(struct jmap_es *es)
{
	struct jmap_server *s = es->srv;

	if (!es->dead || es->busy)
		return;
	pthread_mutex_lock(&s->mu);
	if (es->posted) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	unlink_locked(es);
	pthread_mutex_unlock(&s->mu);
	log_info(JMAP_SVC, "%s: eventsource closed", es->id);
	es_destroy(es);
}

static void
set_dead(struct jmap_es *es)
{
	pthread_mutex_lock(&es->srv->mu);
	es->dead = true;
	pthread_mutex_unlock(&es->srv->mu);
	if (es->ping_ev != NULL)
		event_del(es->ping_ev);
}

/* closed - evhttp frees the connection (the client went, shutdown) */
static void
closed(struct evhttp_connection *evcon, void *arg)
{
	struct jmap_es *es = arg;

	(void)evcon;
	/* a request detached from its failed connection is ours to free;
	 * one still attached goes with the connection */
	if (es->req != NULL && evhttp_request_get_connection(es->req) == NULL)
		evhttp_request_free(es->req);
	es->req = NULL;
	set_dead(es);
	maybe_free(es);
}

static void
arm_ping(struct jmap_es *es)
{
	struct timeval tv = { (time_t)es->ping, 0 };

	if (es->ping_ev != NULL && !es->dead)
		evtimer_add(es->ping_ev, &tv);
}

static void
send_event(struct jmap_es *es, const char *name, json_t *data)
{
	struct evbuffer *b = evbuffer_new();
	char *text = json_dumps(data, JSON_COMPACT);

	if (text == NULL)
		PANIC("json_dumps failed");
	evbuffer_add(b, "event: ", 7);
	evbuffer_add(b, name, strlen(name));
	evbuffer_add(b, "\ndata: ", 7);
	evbuffer_add(b, text, strlen(text));
	evbuffer_add(b, "\n\n", 2);
	free(text);
	evhttp_send_reply_chunk(es->req, b);
	evbuffer_free(b);
	arm_ping(es);
}

static void
ping_cb(evutil_socket_t fd, short what, void *arg)
{
	struct jmap_es *es = arg;
	json_t *d;

	(void)fd;
	(void)what;
	if (es->dead || es->req == NULL)
		return;
	d = json_object();
	json_object_set_new(d, "interval", json_integer(es->ping));
	send_event(es, "ping", d);
	json_decref(d);
}

/* end - closeafter=state: the response ends, the connection lives on */
static void
end(struct jmap_es *es)
{
	evhttp_connection_set_closecb(es->evcon, NULL, NULL);
	evhttp_send_reply_end(es->req);
	es->req = NULL;
	set_dead(es);
}

static void states_read(struct jmap_es *es);

static void
work(void *arg)
{
	struct jmap_es *es = arg;
	const struct jmap_env *env = &es->srv->env;
	struct buf err = BUF_INIT(0);

	es->rc = 0;
	for (size_t i = 0; env->types[i] != NULL && i < PUSH_TYPES; i++) {
		if ((es->types & (1u << i)) == 0)
			continue;
		if (mail_current_state(env->st->mail, es->acct,
		    env->types[i]->log, &es->cur[i], &err) < 0) {
			log_error(JMAP_SVC, "%s: eventsource: %s", es->id,
			    buf_cstr(&err));
			es->rc = -1;
			break;
		}
	}
	buf_free(&err);
}

static void
done(void *arg)
{
	struct jmap_es *es = arg;
	const struct jmap_env *env = &es->srv->env;
	json_t *changed, *acct, *sc;
	char st[24];

	es->busy = false;
	if (es->dead || es->req == NULL || es->rc < 0) {
		maybe_free(es);
		return;
	}
	acct = json_object();
	for (size_t i = 0; env->types[i] != NULL && i < PUSH_TYPES; i++) {
		if ((es->types & (1u << i)) == 0 ||
		    (!es->first && es->cur[i] == es->sent[i]))
			continue;
		es->sent[i] = es->cur[i];
		jmap_state_str(es->cur[i], st);
		json_object_set_new(acct, env->types[i]->name, json_string(st));
	}
	if (json_object_size(acct) > 0 && !(es->first && es->close_after)) {
		changed = json_object();
		json_object_set_new(changed, es->account_id, acct);
		sc = json_object();
		json_object_set_new(sc, "@type", json_string("StateChange"));
		json_object_set_new(sc, "changed", changed);
		send_event(es, "state", sc);
		json_decref(sc);
		if (es->close_after) {
			end(es);
			maybe_free(es);
			return;
		}
	} else {
		json_decref(acct);
	}
	es->first = false;
	if (es->dirty)
		states_read(es);
}

static void
states_read(struct jmap_es *es)
{
	es->dirty = false;
	es->busy = true;
	jobs_submit(es->srv->jobs, es->fr->loop, work, done, es);
}

static void
notify_cb(void *arg)
{
	struct jmap_es *es = arg;

	pthread_mutex_lock(&es->srv->mu);
	es->posted = false;
	pthread_mutex_unlock(&es->srv->mu);
	if (es->dead) {
		maybe_free(es);
		return;
	}
	if (es->busy)
		es->dirty = true;
	else
		states_read(es);
}

void
jmap_server_changed(void *arg, uint32_t acct)
{
	struct jmap_server *s = arg;
	struct jmap_es *es;

	pthread_mutex_lock(&s->mu);
	for (es = *bucket(s, acct); es != NULL; es = es->next) {
		if (es->acct != acct || es->dead || es->posted)
			continue;
		es->posted = true;
		loop_post(es->fr->loop, notify_cb, es);
	}
	pthread_mutex_unlock(&s->mu);
}

/* parse_types - the bits of the names in list ("*": all); -1 when bad */
static int
parse_types(const struct jmap_env *env, const char *list, unsigned *bits)
{
	size_t ntypes = 0;

	while (env->types[ntypes] != NULL && ntypes < PUSH_TYPES)
		ntypes++;
	*bits = 0;
	if (list == NULL || strcmp(list, "*") == 0) {
		*bits = (1u << ntypes) - 1;
		return 0;
	}
	while (*list != '\0') {
		const char *comma = strchr(list, ',');
		size_t n = comma != NULL ? (size_t)(comma - list) :
		    strlen(list);

		for (size_t i = 0; i < ntypes; i++)
			if (strlen(env->types[i]->name) == n &&
			    memcmp(env->types[i]->name, list, n) == 0)
				*bits |= 1u << i;
		list += n + (comma != NULL);
	}
	return 0;
}

void
jmap_push_open(struct jmap_req *r)
{
	struct jmap_server *s = r->srv;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(r->req);
	const char *q = evhttp_uri_get_query(uri), *v;
	struct evkeyvalq kv;
	struct evkeyvalq *h;
	struct jmap_es *es, **b;
	unsigned types = 0;
	uint64_t ping = 0;
	bool close_after = false, bad = false;

	TAILQ_INIT(&kv);
	if (q != NULL && evhttp_parse_query_str(q, &kv) < 0)
		bad = true;
	if (!bad && parse_types(&s->env, evhttp_find_header(&kv, "types"),
	    &types) < 0)
		bad = true;
	if (!bad && (v = evhttp_find_header(&kv, "closeafter")) != NULL) {
		if (strcmp(v, "state") == 0)
			close_after = true;
		else if (strcmp(v, "no") != 0)
			bad = true;
	}
	if (!bad && (v = evhttp_find_header(&kv, "ping")) != NULL &&
	    parse_u64(v, strlen(v), UINT64_MAX, &ping) < 0)
		bad = true;
	evhttp_clear_headers(&kv);
	if (bad) {
		jmap_reply_error(r, 400, "Bad types, closeafter or ping");
		return;
	}
	if (!jmap_use_enter(s, r->acct, JMAP_USE_PUSH,
	    s->cfg->jmap.max_eventsource)) {
		jmap_reply_error(r, 429, "Too many EventSource connections");
		return;
	}
	es = xcalloc(1, sizeof(*es));
	es->srv = s;
	es->fr = r->fr;
	es->req = r->req;
	es->evcon = evhttp_request_get_connection(r->req);
	es->acct = r->acct;
	memcpy(es->account_id, r->account_id, sizeof(es->account_id));
	memcpy(es->id, r->id, sizeof(es->id));
	es->types = types;
	es->close_after = close_after;
	es->ping = ping == 0 ? 0 : ping > PING_MAX ? PING_MAX : (unsigned)ping;
	es->first = true;
	if (es->ping > 0)
		es->ping_ev = evtimer_new(loop_base(r->fr->loop), ping_cb, es);
	h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "Content-Type", "text/event-stream");
	evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
	evhttp_add_header(h, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(r->req, 200, "OK");
	evhttp_connection_set_closecb(es->evcon, closed, es);
	log_info(JMAP_SVC, "%s: eventsource: user=<%s>, rip=%s, types=0x%x, "
	    "closeafter=%s, ping=%u", r->id, r->username, r->ip, types,
	    close_after ? "state" : "no", es->ping);
	r->req = NULL;
	jmap_req_free(r);
	pthread_mutex_lock(&s->mu);
	b = bucket(s, es->acct);
	es->next = *b;
	if (*b != NULL)
		(*b)->prev = es;
	*b = es;
	pthread_mutex_unlock(&s->mu);
	arm_ping(es);
	states_read(es);
}

void
jmap_push_free_all(struct jmap_server *s)
{
	for (size_t i = 0; i < s->npush; i++) {
		struct jmap_es *es, *next;

		for (es = s->push[i]; es != NULL; es = next) {
			next = es->next;
			es_destroy(es);
		}
		s->push[i] = NULL;
	}
}
