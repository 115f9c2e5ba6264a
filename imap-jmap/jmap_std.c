/*
 * jmap_std.c - the standard methods of RFC 8620 5.1-5.3 for any type that
 * supplies its per-object functions (struct jmap_type in jmap_priv.h):
 * /get with ids and properties, /changes from the store's change log,
 * /set with ifInState, patches and creation ids.  /query and
 * /queryChanges are in jmap_query.c.
 *
 * Decisions:
 *   - A state is the type's change-log state (mail_current_state); /get
 *     reads it before the objects, so a change racing the read makes
 *     the client's next /changes return the object again, never miss it.
 *   - /set applies each create, update and destroy in a transaction of
 *     its own, in that order (RFC 8620 5.3 allows partial success).  An
 *     update is the patch applied to the object as /get returns it, then
 *     handed whole to the type, which compares old and new: the type
 *     never parses a patch.
 *   - "#creationId" is accepted wherever an id of the type is (/get ids,
 *     /set update keys and destroy, anchor), as RFC 5.3 asks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

int
jmap_std_state(struct jmap_call *c, const struct jmap_type *t, char out[24],
    struct buf *err)
{
	uint64_t st;

	if (mail_current_state(c->ctx->env->st->mail, c->acct, t->log, &st,
	    err) < 0)
		return -1;
	jmap_state_str(st, out);
	return 0;
}

/* is_ref_or_id - an Id, or "#" and an Id (a creation id) */
static bool
is_ref_or_id(const json_t *v)
{
	json_t *tmp;
	bool ok;

	if (!json_is_string(v))
		return false;
	if (json_string_value(v)[0] != '#')
		return jmap_value_is_id(v);
	tmp = json_string(json_string_value(v) + 1);
	ok = jmap_value_is_id(tmp);
	json_decref(tmp);
	return ok;
}

static bool
ids_ok(const json_t *a)
{
	size_t i;
	json_t *v;

	json_array_foreach(a, i, v) {
		if (!is_ref_or_id(v))
			return false;
	}
	return true;
}

/* ---- /get ---- */

static const struct jmap_arg get_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "ids", JMAP_ARG_STRINGS, JMAP_ARG_NULL },
	{ "properties", JMAP_ARG_STRINGS, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

/* pick - a new object with only the members named in want */
static json_t *
pick(json_t *obj, const json_t *want)
{
	json_t *o = json_object(), *p;
	size_t i;

	json_array_foreach(want, i, p) {
		json_t *v = json_object_get(obj, json_string_value(p));

		if (v != NULL)
			json_object_set(o, json_string_value(p), v);
	}
	return o;
}

/* wanted - the properties to return: asked for (checked), or all */
static json_t *
wanted(struct jmap_call *c, const struct jmap_type *t)
{
	json_t *props = jmap_arg_get(c, "properties"), *want = json_array();
	json_t *p;
	size_t i;

	if (props == NULL) {
		for (const char *const *n = t->props; *n != NULL; n++)
			json_array_append_new(want, json_string(*n));
		return want;
	}
	json_array_append_new(want, json_string("id"));
	json_array_foreach(props, i, p) {
		const char *name = json_string_value(p);
		bool seen = false;
		size_t k;
		json_t *q;

		if (!jmap_in_list(t->props, name)) {
			jmap_error(c, "invalidArguments", "unknown property "
			    "\"%.64s\"", name);
			json_decref(want);
			return NULL;
		}
		json_array_foreach(want, k, q) {
			if (strcmp(json_string_value(q), name) == 0)
				seen = true;
		}
		if (!seen)
			json_array_append(want, p);
	}
	return want;
}

int
jmap_std_get(struct jmap_call *c, const struct jmap_type *t, struct buf *err)
{
	unsigned max = c->ctx->env->lim.max_objects_in_get;
	json_t *ids, *want, *list, *nf, *seen, *v, *obj;
	uint32_t *all = NULL, n;
	size_t nall = 0, i;
	char state[24], id[JMAP_ID_MAX];
	int rc = 0;

	if (jmap_args_check(c, get_args, NULL) < 0)
		return 0;
	ids = jmap_arg_get(c, "ids");
	if (ids != NULL && !ids_ok(ids)) {
		jmap_error(c, "invalidArguments", "\"ids\" must be Ids");
		return 0;
	}
	if (ids == NULL && t->list == NULL) {
		jmap_error(c, "invalidArguments", "%s/get needs \"ids\"",
		    t->name);
		return 0;
	}
	if ((want = wanted(c, t)) == NULL)
		return 0;
	if (jmap_std_state(c, t, state, err) < 0) {
		json_decref(want);
		return -1;
	}
	if (ids == NULL && t->list(c, &all, &nall, err) < 0) {
		json_decref(want);
		return -1;
	}
	if ((ids != NULL ? json_array_size(ids) : nall) > max) {
		jmap_error(c, "requestTooLarge", "more than maxObjectsInGet "
		    "(%u) ids", max);
		free(all);
		json_decref(want);
		return 0;
	}
	list = json_array();
	nf = json_array();
	seen = json_object();
	for (i = 0; i < (ids != NULL ? json_array_size(ids) : nall); i++) {
		const char *s;

		if (ids != NULL) {
			v = json_array_get(ids, i);
			s = json_string_value(v);
			if (json_object_get(seen, s) != NULL)
				continue;	/* once only (RFC 8620 5.1) */
			json_object_set_new(seen, s, json_true());
			if (jmap_id_resolve(c, t->prefix, s, &n) < 0) {
				json_array_append(nf, v);
				continue;
			}
		} else {
			n = all[i];
			jmap_id_make(t->prefix, n, id);
			s = id;
		}
		obj = NULL;
		rc = t->get(c, n, want, &obj, err);
		if (rc < 0)
			break;
		if (rc == 0) {
			json_array_append_new(nf, json_string(s));
			continue;
		}
		json_array_append_new(list, pick(obj, want));
		json_decref(obj);
	}
	free(all);
	json_decref(want);
	json_decref(seen);
	if (rc < 0) {
		json_decref(list);
		json_decref(nf);
		return -1;
	}
	jmap_std_reply_get(c, state, list, nf);
	return 0;
}

bool
jmap_in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

void
jmap_std_reply_get(struct jmap_call *c, const char *state, json_t *list,
    json_t *not_found)
{
	json_t *res = json_object();

	json_object_set_new(res, "accountId", json_string(c->ctx->account_id));
	json_object_set_new(res, "state", json_string(state));
	json_object_set_new(res, "list", list);
	json_object_set_new(res, "notFound", not_found);
	jmap_reply(c, res);
}

/* ---- /changes ---- */

static const struct jmap_arg changes_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "sinceState", JMAP_ARG_STRING, JMAP_ARG_REQUIRED },
	{ "maxChanges", JMAP_ARG_UINT, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

json_t *
jmap_std_id_array(char prefix, const uint32_t *v, size_t n)
{
	json_t *a = json_array();
	char id[JMAP_ID_MAX];

	for (size_t i = 0; i < n; i++) {
		jmap_id_make(prefix, v[i], id);
		json_array_append_new(a, json_string(id));
	}
	return a;
}

int
jmap_std_max_changes(struct jmap_call *c, size_t *max_r)
{
	json_t *m = jmap_arg_get(c, "maxChanges");

	*max_r = 0;
	if (m == NULL)
		return 0;
	if (json_integer_value(m) == 0) {
		jmap_error(c, "invalidArguments", "\"maxChanges\" must be "
		    "greater than 0");
		return -1;
	}
	*max_r = json_integer_value(m) > MAIL_CHANGES_MAX ? MAIL_CHANGES_MAX :
	    (size_t)json_integer_value(m);
	return 0;
}

int
jmap_std_changes(struct jmap_call *c, const struct jmap_type *t,
    struct buf *err)
{
	struct mail_changes ch;
	const char *since_s;
	uint64_t since;
	size_t max;
	json_t *res;
	char state[24];

	if (jmap_args_check(c, changes_args, NULL) < 0 ||
	    jmap_std_max_changes(c, &max) < 0)
		return 0;
	since_s = json_string_value(jmap_arg_get(c, "sinceState"));
	if (jmap_state_parse(since_s, &since) < 0) {
		jmap_error(c, "cannotCalculateChanges", "\"%.64s\" is not a "
		    "state of this server", since_s);
		return 0;
	}
	if (mail_changes(c->ctx->env->st->mail, c->acct, t->log, since, max,
	    &ch, err) < 0)
		return -1;
	if (ch.cannot_calculate) {
		jmap_error(c, "cannotCalculateChanges", "state %.64s is too "
		    "old or unknown", since_s);
		mail_changes_clear(&ch);
		return 0;
	}
	jmap_state_str(ch.new_state, state);
	res = json_object();
	json_object_set_new(res, "accountId", json_string(c->ctx->account_id));
	json_object_set_new(res, "oldState", json_string(since_s));
	json_object_set_new(res, "newState", json_string(state));
	json_object_set_new(res, "hasMoreChanges", json_boolean(ch.has_more));
	json_object_set_new(res, "created", jmap_std_id_array(t->prefix, ch.created,
	    ch.ncreated));
	json_object_set_new(res, "updated", jmap_std_id_array(t->prefix, ch.updated,
	    ch.nupdated));
	json_object_set_new(res, "destroyed", jmap_std_id_array(t->prefix,
	    ch.destroyed, ch.ndestroyed));
	if (t->counts_props != NULL) {
		json_t *up = json_null();

		if (ch.counts_only && ch.nupdated > 0) {
			up = json_array();
			for (const char *const *p = t->counts_props;
			    *p != NULL; p++)
				json_array_append_new(up, json_string(*p));
		}
		json_object_set_new(res, "updatedProperties", up);
	}
	mail_changes_clear(&ch);
	jmap_reply(c, res);
	return 0;
}

/* ---- /set ---- */

const struct jmap_arg jmap_std_set_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "ifInState", JMAP_ARG_STRING, JMAP_ARG_NULL },
	{ "create", JMAP_ARG_OBJECT, JMAP_ARG_NULL },
	{ "update", JMAP_ARG_OBJECT, JMAP_ARG_NULL },
	{ "destroy", JMAP_ARG_STRINGS, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

static json_t *
all_props(const struct jmap_type *t)
{
	json_t *a = json_array();

	for (const char *const *n = t->props; *n != NULL; n++)
		json_array_append_new(a, json_string(*n));
	return a;
}

static json_t *
or_null(json_t *o)
{
	if (json_object_size(o) == 0 && !json_is_array(o)) {
		json_decref(o);
		return json_null();
	}
	if (json_is_array(o) && json_array_size(o) == 0) {
		json_decref(o);
		return json_null();
	}
	return o;
}

static int
set_create(struct jmap_call *c, const struct jmap_type *t, json_t *create,
    json_t *created, json_t *not_created, struct buf *err)
{
	const char *cid;
	json_t *obj;

	json_object_foreach(create, cid, obj) {
		json_t *extra = NULL, *seterr = NULL, *out;
		char id[JMAP_ID_MAX];
		uint32_t n;
		int rc;

		if (!json_is_object(obj)) {
			json_object_set_new(not_created, cid,
			    jmap_set_error("invalidProperties", "not an "
			    "object"));
			continue;
		}
		if (t->create == NULL) {
			json_object_set_new(not_created, cid,
			    jmap_set_error("forbidden", "%s objects cannot be "
			    "created", t->name));
			continue;
		}
		rc = t->create(c, obj, &n, &extra, &seterr, err);
		if (rc < 0) {
			json_decref(extra);
			json_decref(seterr);
			return -1;
		}
		if (rc == 0) {
			json_object_set_new(not_created, cid, seterr != NULL ?
			    seterr : jmap_set_error("invalidProperties", "%s",
			    "refused"));
			json_decref(extra);
			continue;
		}
		jmap_id_make(t->prefix, n, id);
		out = extra != NULL ? extra : json_object();
		json_object_set_new(out, "id", json_string(id));
		json_object_set_new(created, cid, out);
		jmap_created_add(c, cid, id);
	}
	return 0;
}

/* props_known - every member of o is a property of t */
static const char *
props_unknown(const struct jmap_type *t, json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		if (!jmap_in_list(t->props, k))
			return k;
	}
	return NULL;
}

static int
set_update(struct jmap_call *c, const struct jmap_type *t, json_t *update,
    json_t *updated, json_t *not_updated, struct buf *err)
{
	json_t *want = all_props(t), *patch;
	const char *key;
	int ret = 0;

	json_object_foreach(update, key, patch) {
		json_t *old = NULL, *new_obj, *extra = NULL, *seterr = NULL;
		const char *bad, *unknown;
		char id[JMAP_ID_MAX];
		uint32_t n;
		int rc;

		if (jmap_id_resolve(c, t->prefix, key, &n) < 0) {
			json_object_set_new(not_updated, key,
			    jmap_set_error("notFound", "no such %s", t->name));
			continue;
		}
		jmap_id_make(t->prefix, n, id);
		if (!json_is_object(patch)) {
			json_object_set_new(not_updated, id,
			    jmap_set_error("invalidPatch", "not an object"));
			continue;
		}
		if (t->update == NULL) {
			json_object_set_new(not_updated, id,
			    jmap_set_error("forbidden", "%s objects cannot be "
			    "changed", t->name));
			continue;
		}
		rc = t->get(c, n, want, &old, err);
		if (rc < 0) {
			ret = -1;
			break;
		}
		if (rc == 0) {
			json_object_set_new(not_updated, id,
			    jmap_set_error("notFound", "no such %s", t->name));
			continue;
		}
		new_obj = json_deep_copy(old);
		if (jmap_patch_apply(new_obj, patch, &bad) < 0) {
			json_object_set_new(not_updated, id,
			    jmap_set_error("invalidPatch", "cannot apply "
			    "\"%.64s\"", bad));
		} else if ((unknown = props_unknown(t, new_obj)) != NULL) {
			json_object_set_new(not_updated, id,
			    jmap_set_error_props(unknown, "unknown property"));
		} else {
			rc = t->update(c, n, old, new_obj, &extra, &seterr,
			    err);
			if (rc < 0) {
				json_decref(extra);
				json_decref(seterr);
				ret = -1;
			} else if (rc == 0) {
				json_object_set_new(not_updated, id,
				    seterr != NULL ? seterr : jmap_set_error(
				    "invalidProperties", "%s", "refused"));
				json_decref(extra);
			} else {
				json_object_set_new(updated, id, extra != NULL ?
				    extra : json_null());
				json_decref(seterr);
			}
		}
		json_decref(old);
		json_decref(new_obj);
		if (ret < 0)
			break;
	}
	json_decref(want);
	return ret;
}

static int
set_destroy(struct jmap_call *c, const struct jmap_type *t, json_t *destroy,
    json_t *destroyed, json_t *not_destroyed, struct buf *err)
{
	size_t i;
	json_t *v;

	json_array_foreach(destroy, i, v) {
		const char *s = json_string_value(v);
		json_t *seterr = NULL;
		char id[JMAP_ID_MAX];
		uint32_t n;
		int rc;

		if (jmap_id_resolve(c, t->prefix, s, &n) < 0) {
			json_object_set_new(not_destroyed, s,
			    jmap_set_error("notFound", "no such %s", t->name));
			continue;
		}
		jmap_id_make(t->prefix, n, id);
		if (t->destroy == NULL) {
			json_object_set_new(not_destroyed, id,
			    jmap_set_error("forbidden", "%s objects cannot be "
			    "destroyed", t->name));
			continue;
		}
		rc = t->destroy(c, n, &seterr, err);
		if (rc < 0) {
			json_decref(seterr);
			return -1;
		}
		if (rc == 0)
			json_object_set_new(not_destroyed, id, seterr != NULL ?
			    seterr : jmap_set_error("notFound", "no such %s",
			    t->name));
		else
			json_array_append_new(destroyed, json_string(id));
	}
	return 0;
}

int
jmap_std_set(struct jmap_call *c, const struct jmap_type *t, struct buf *err)
{
	json_t *create, *update, *destroy, *res, *if_in;
	json_t *created, *not_created, *updated, *not_updated, *destroyed;
	json_t *not_destroyed;
	const char *key;
	json_t *v;
	size_t total;
	char old_state[24], new_state[24];
	int rc;

	if (jmap_args_check(c, jmap_std_set_args, t->set_args) < 0)
		return 0;
	create = jmap_arg_get(c, "create");
	update = jmap_arg_get(c, "update");
	destroy = jmap_arg_get(c, "destroy");
	if_in = jmap_arg_get(c, "ifInState");
	if (destroy != NULL && !ids_ok(destroy)) {
		jmap_error(c, "invalidArguments", "\"destroy\" must be Ids");
		return 0;
	}
	json_object_foreach(create, key, v) {
		json_t *k = json_string(key);
		bool ok = jmap_value_is_id(k);

		json_decref(k);
		if (!ok) {
			jmap_error(c, "invalidArguments", "creation ids must be "
			    "Ids");
			return 0;
		}
	}
	total = json_object_size(create) + json_object_size(update) +
	    json_array_size(destroy);
	if (total > c->ctx->env->lim.max_objects_in_set) {
		jmap_error(c, "requestTooLarge", "more than maxObjectsInSet "
		    "(%u) objects", c->ctx->env->lim.max_objects_in_set);
		return 0;
	}
	if (jmap_std_state(c, t, old_state, err) < 0)
		return -1;
	if (if_in != NULL && strcmp(json_string_value(if_in), old_state) != 0) {
		jmap_error(c, "stateMismatch", "the state is %s, not %.64s",
		    old_state, json_string_value(if_in));
		return 0;
	}
	created = json_object();
	not_created = json_object();
	updated = json_object();
	not_updated = json_object();
	destroyed = json_array();
	not_destroyed = json_object();
	rc = set_create(c, t, create, created, not_created, err);
	if (rc == 0)
		rc = set_update(c, t, update, updated, not_updated, err);
	if (rc == 0)
		rc = set_destroy(c, t, destroy, destroyed, not_destroyed, err);
	if (rc == 0)
		rc = jmap_std_state(c, t, new_state, err);
	if (rc < 0) {
		json_decref(created);
		json_decref(not_created);
		json_decref(updated);
		json_decref(not_updated);
		json_decref(destroyed);
		json_decref(not_destroyed);
		return -1;
	}
	res = json_object();
	json_object_set_new(res, "accountId", json_string(c->ctx->account_id));
	json_object_set_new(res, "oldState", json_string(old_state));
	json_object_set_new(res, "newState", json_string(new_state));
	json_object_set_new(res, "created", or_null(created));
	json_object_set_new(res, "updated", or_null(updated));
	json_object_set_new(res, "destroyed", or_null(destroyed));
	json_object_set_new(res, "notCreated", or_null(not_created));
	json_object_set_new(res, "notUpdated", or_null(not_updated));
	json_object_set_new(res, "notDestroyed", or_null(not_destroyed));
	jmap_reply(c, res);
	return 0;
}

int
jmap_std_run(struct jmap_call *c, const struct jmap_method *m,
    struct buf *err)
{
	switch (m->std) {
	case JMAP_STD_GET:
		return jmap_std_get(c, m->type, err);
	case JMAP_STD_CHANGES:
		return jmap_std_changes(c, m->type, err);
	case JMAP_STD_SET:
		return jmap_std_set(c, m->type, err);
	case JMAP_STD_QUERY:
		return jmap_std_query(c, m->type, err);
	case JMAP_STD_QUERY_CHANGES:
		return jmap_std_query_changes(c, m->type, err);
	}
	buf_addf(err, "%s: no handler", m->name);
	return -1;
}
