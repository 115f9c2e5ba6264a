/*
 * jmap_thread.c - Thread/get and Thread/changes (RFC 8621 3): a thread
 * is the list of its emails' ids, oldest first (mail_thread_get: by
 * receivedAt, then email id), through the standard method shapes.
 *
 * Threads are not listed: Thread/get needs its ids (a client finds them
 * in Email/get threadId), and ids null is invalidArguments, as RFC 8620
 * 5.1 allows for a type whose objects are not all fetched at once.
 * Thread/changes reads the store's thread log ('t'), which records a
 * thread whose email list changed.
 */
#include <stdlib.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

static const char *const thread_props[] = { "id", "emailIds", NULL };

static int
thread_get(struct jmap_call *c, uint32_t id, const json_t *want,
    json_t **obj_r, struct buf *err)
{
	uint32_t *ids = NULL;
	size_t n = 0;
	json_t *o, *a;
	char s[JMAP_ID_MAX];
	int r;

	(void)want;
	r = mail_thread_get(c->ctx->env->st->mail, c->acct, id, &ids, &n, err);
	if (r <= 0)
		return r;
	o = json_object();
	a = json_array();
	jmap_id_make('T', id, s);
	json_object_set_new(o, "id", json_string(s));
	for (size_t i = 0; i < n; i++) {
		jmap_id_make('M', ids[i], s);
		json_array_append_new(a, json_string(s));
	}
	json_object_set_new(o, "emailIds", a);
	free(ids);
	*obj_r = o;
	return 1;
}

const struct jmap_type jmap_thread_type = {
	.name = "Thread",
	.prefix = 'T',
	.log = MAIL_LOG_THREAD,
	.cap = JMAP_CAP_MAIL,
	.props = thread_props,
	.get = thread_get,
};

const struct jmap_method jmap_thread_methods[] = {
	JMAP_STD_METHOD("Thread/get", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    &jmap_thread_type, JMAP_STD_GET),
	JMAP_STD_METHOD("Thread/changes", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    &jmap_thread_type, JMAP_STD_CHANGES),
	{ NULL, 0, 0, NULL, NULL, 0 },
};
