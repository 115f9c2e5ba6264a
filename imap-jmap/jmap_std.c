/*
 * jmap_std.c - the standard methods of RFC 8620 5.1-5.6 for any type that
 * supplies its per-object functions (struct jmap_type in jmap_priv.h):
 * /get with ids and properties, /changes from the store's change log,
 * /set with ifInState, patches and creation ids, /query with position,
 * anchor and limit, /queryChanges; and the filter and sort checks /query
 * implementations share.
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
 *   - /queryChanges (5.6) needs no stored query state: since the query
 *     state is the type's state, it lists as removed every id updated or
 *     destroyed since, and as added every id of the current results
 *     created or updated since, with its index.  That is the superset the
 *     RFC allows (an unmoved id removed and added again), exact for any
 *     filter and sort.  upToId is accepted and not used.  More than
 *     MAIL_CHANGES_MAX changes since: cannotCalculateChanges.
 *   - "#creationId" is accepted wherever an id of the type is (/get ids,
 *     /set update keys and destroy, anchor), as RFC 5.3 asks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

#define QUERY_LIMIT_MAX 10000u	/* ids in one /query answer */

static const char *const collations[] = { "i;ascii-casemap", "i;octet",
	NULL };

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

static bool
in_list(const char *const *list, const char *s)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
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

		if (!in_list(t->props, name)) {
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
	json_t *ids, *want, *list, *nf, *seen, *v, *obj, *res;
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
	res = json_object();
	json_object_set_new(res, "accountId", json_string(c->ctx->account_id));
	json_object_set_new(res, "state", json_string(state));
	json_object_set_new(res, "list", list);
	json_object_set_new(res, "notFound", nf);
	jmap_reply(c, res);
	return 0;
}

/* ---- /changes ---- */

static const struct jmap_arg changes_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "sinceState", JMAP_ARG_STRING, JMAP_ARG_REQUIRED },
	{ "maxChanges", JMAP_ARG_UINT, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

static json_t *
id_array(char prefix, const uint32_t *v, size_t n)
{
	json_t *a = json_array();
	char id[JMAP_ID_MAX];

	for (size_t i = 0; i < n; i++) {
		jmap_id_make(prefix, v[i], id);
		json_array_append_new(a, json_string(id));
	}
	return a;
}

/* max_changes - the argument, 0 when absent; -1 answered when 0 */
static int
max_changes(struct jmap_call *c, size_t *max_r)
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
	    max_changes(c, &max) < 0)
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
	json_object_set_new(res, "created", id_array(t->prefix, ch.created,
	    ch.ncreated));
	json_object_set_new(res, "updated", id_array(t->prefix, ch.updated,
	    ch.nupdated));
	json_object_set_new(res, "destroyed", id_array(t->prefix,
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

static const struct jmap_arg set_args[] = {
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
		if (!in_list(t->props, k))
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

	if (jmap_args_check(c, set_args, t->set_args) < 0)
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

/* ---- filters and sorts ---- */

int
jmap_filter_check(json_t *filter, jmap_cond_check_fn *cond_check,
    json_t **error_r)
{
	json_t *op, *conds, *v;
	const char *why, *o, *k;
	size_t i;

	if (!json_is_object(filter)) {
		*error_r = jmap_error_obj("invalidArguments", "a filter must "
		    "be an object");
		return -1;
	}
	op = json_object_get(filter, "operator");
	if (op == NULL) {
		why = cond_check(filter);
		if (why != NULL) {
			*error_r = jmap_error_obj("unsupportedFilter", "%s",
			    why);
			return -1;
		}
		return 0;
	}
	conds = json_object_get(filter, "conditions");
	o = json_string_value(op);
	json_object_foreach(filter, k, v) {
		if (strcmp(k, "operator") != 0 && strcmp(k, "conditions") != 0)
			o = NULL;
	}
	if (o == NULL || (strcmp(o, "AND") != 0 && strcmp(o, "OR") != 0 &&
	    strcmp(o, "NOT") != 0) || !json_is_array(conds)) {
		*error_r = jmap_error_obj("invalidArguments", "a FilterOperator "
		    "is {operator: AND|OR|NOT, conditions: [...]}");
		return -1;
	}
	json_array_foreach(conds, i, v) {
		if (jmap_filter_check(v, cond_check, error_r) < 0)
			return -1;
	}
	return 0;
}

bool
jmap_filter_match(json_t *filter, jmap_cond_match_fn *cond_match, void *arg)
{
	json_t *op = json_object_get(filter, "operator"), *v;
	const char *o;
	size_t i;

	if (op == NULL)
		return cond_match(arg, filter);
	o = json_string_value(op);
	json_array_foreach(json_object_get(filter, "conditions"), i, v) {
		bool m = jmap_filter_match(v, cond_match, arg);

		if (o[0] == 'A' && !m)
			return false;
		if (o[0] == 'O' && m)
			return true;
		if (o[0] == 'N' && m)
			return false;
	}
	return o[0] != 'O';
}

int
jmap_sort_check(json_t *sort, const char *const *props, json_t **error_r)
{
	size_t i;
	json_t *cmp;

	json_array_foreach(sort, i, cmp) {
		json_t *p, *asc, *col;

		if (!json_is_object(cmp) ||
		    !json_is_string(p = json_object_get(cmp, "property"))) {
			*error_r = jmap_error_obj("invalidArguments", "a "
			    "Comparator needs a \"property\"");
			return -1;
		}
		asc = json_object_get(cmp, "isAscending");
		col = json_object_get(cmp, "collation");
		if ((asc != NULL && !json_is_boolean(asc)) ||
		    (col != NULL && !json_is_string(col)) ||
		    json_object_size(cmp) != 1 + (size_t)(asc != NULL) +
		    (size_t)(col != NULL)) {
			*error_r = jmap_error_obj("invalidArguments", "a "
			    "Comparator is {property, isAscending, "
			    "collation}");
			return -1;
		}
		if (!in_list(props, json_string_value(p))) {
			*error_r = jmap_error_obj("unsupportedSort", "cannot "
			    "sort by \"%.64s\"", json_string_value(p));
			return -1;
		}
		if (col != NULL && !in_list(collations,
		    json_string_value(col))) {
			*error_r = jmap_error_obj("unsupportedSort", "unknown "
			    "collation \"%.64s\"", json_string_value(col));
			return -1;
		}
	}
	return 0;
}

/* ---- /query ---- */

static const struct jmap_arg query_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "filter", JMAP_ARG_OBJECT, JMAP_ARG_NULL },
	{ "sort", JMAP_ARG_ARRAY, JMAP_ARG_NULL },
	{ "position", JMAP_ARG_INT, JMAP_ARG_NULL },
	{ "anchor", JMAP_ARG_STRING, JMAP_ARG_NULL },
	{ "anchorOffset", JMAP_ARG_INT, JMAP_ARG_NULL },
	{ "limit", JMAP_ARG_UINT, JMAP_ARG_NULL },
	{ "calculateTotal", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

/* run_query - the type's query; 1 with ids, 0 answered, -1 */
static int
run_query(struct jmap_call *c, const struct jmap_type *t, uint32_t **ids_r,
    size_t *n_r, struct buf *err)
{
	json_t *error = NULL;

	*ids_r = NULL;
	*n_r = 0;
	if (t->query(c, jmap_arg_get(c, "filter"), jmap_arg_get(c, "sort"),
	    ids_r, n_r, &error, err) < 0) {
		json_decref(error);
		free(*ids_r);
		return -1;
	}
	if (error != NULL) {
		free(*ids_r);
		jmap_reply_as(c, "error", error);
		return 0;
	}
	return 1;
}

int
jmap_std_query(struct jmap_call *c, const struct jmap_type *t, struct buf *err)
{
	json_t *anchor, *res, *ids_out, *lim;
	uint32_t *ids, an;
	size_t n, start, count;
	char state[24], id[JMAP_ID_MAX];
	int rc;

	if (jmap_args_check(c, query_args, t->query_args) < 0)
		return 0;
	if (jmap_std_state(c, t, state, err) < 0)
		return -1;
	if ((rc = run_query(c, t, &ids, &n, err)) <= 0)
		return rc;
	anchor = jmap_arg_get(c, "anchor");
	if (anchor != NULL) {
		json_t *off = jmap_arg_get(c, "anchorOffset");
		json_int_t o = off != NULL ? json_integer_value(off) : 0;
		size_t i;

		for (i = 0; i < n; i++)
			if (jmap_id_resolve(c, t->prefix,
			    json_string_value(anchor), &an) == 0 &&
			    ids[i] == an)
				break;
		if (i == n) {
			free(ids);
			jmap_error(c, "anchorNotFound", "the anchor is not in "
			    "the results");
			return 0;
		}
		start = o < 0 && (size_t)-o > i ? 0 :
		    o < 0 ? i - (size_t)-o :
		    (size_t)o > n - i ? n : i + (size_t)o;
	} else {
		json_t *pos = jmap_arg_get(c, "position");
		json_int_t p = pos != NULL ? json_integer_value(pos) : 0;

		start = p < 0 ? ((size_t)-p > n ? 0 : n - (size_t)-p) :
		    (size_t)p > n ? n : (size_t)p;
	}
	lim = jmap_arg_get(c, "limit");
	count = n - start;
	if (lim != NULL && (json_int_t)count > json_integer_value(lim))
		count = (size_t)json_integer_value(lim);
	if (count > QUERY_LIMIT_MAX)
		count = QUERY_LIMIT_MAX;
	ids_out = json_array();
	for (size_t i = 0; i < count; i++) {
		jmap_id_make(t->prefix, ids[start + i], id);
		json_array_append_new(ids_out, json_string(id));
	}
	res = json_object();
	json_object_set_new(res, "accountId", json_string(c->ctx->account_id));
	json_object_set_new(res, "queryState", json_string(state));
	json_object_set_new(res, "canCalculateChanges", json_true());
	json_object_set_new(res, "position", json_integer((json_int_t)start));
	json_object_set_new(res, "ids", ids_out);
	if (json_is_true(jmap_arg_get(c, "calculateTotal")))
		json_object_set_new(res, "total", json_integer((json_int_t)n));
	if (count == QUERY_LIMIT_MAX && n - start > count)
		json_object_set_new(res, "limit", json_integer(QUERY_LIMIT_MAX));
	free(ids);
	jmap_reply(c, res);
	return 0;
}

/* ---- /queryChanges ---- */

static const struct jmap_arg query_changes_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "filter", JMAP_ARG_OBJECT, JMAP_ARG_NULL },
	{ "sort", JMAP_ARG_ARRAY, JMAP_ARG_NULL },
	{ "sinceQueryState", JMAP_ARG_STRING, JMAP_ARG_REQUIRED },
	{ "maxChanges", JMAP_ARG_UINT, JMAP_ARG_NULL },
	{ "upToId", JMAP_ARG_STRING, JMAP_ARG_NULL },
	{ "calculateTotal", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
jmap_std_query_changes(struct jmap_call *c, const struct jmap_type *t,
    struct buf *err)
{
	struct mail_changes ch;
	const char *since_s;
	uint64_t since;
	uint32_t *ids, *changed;
	size_t n, nchanged, max, nadded = 0;
	json_t *removed, *added, *res;
	char state[24], id[JMAP_ID_MAX];
	int rc;

	if (jmap_args_check(c, query_changes_args, t->query_args) < 0 ||
	    max_changes(c, &max) < 0)
		return 0;
	since_s = json_string_value(jmap_arg_get(c, "sinceQueryState"));
	if (jmap_state_parse(since_s, &since) < 0) {
		jmap_error(c, "cannotCalculateChanges", "\"%.64s\" is not a "
		    "query state of this server", since_s);
		return 0;
	}
	if (mail_changes(c->ctx->env->st->mail, c->acct, t->log, since,
	    MAIL_CHANGES_MAX, &ch, err) < 0)
		return -1;
	if (ch.cannot_calculate || ch.has_more) {
		mail_changes_clear(&ch);
		jmap_error(c, "cannotCalculateChanges", "too many changes "
		    "since %.64s, or an unknown state", since_s);
		return 0;
	}
	if ((rc = run_query(c, t, &ids, &n, err)) <= 0) {
		mail_changes_clear(&ch);
		return rc;
	}
	nchanged = ch.ncreated + ch.nupdated;
	changed = xcalloc(nchanged + 1, sizeof(*changed));
	if (ch.ncreated > 0)
		memcpy(changed, ch.created, ch.ncreated * sizeof(*changed));
	if (ch.nupdated > 0)
		memcpy(changed + ch.ncreated, ch.updated,
		    ch.nupdated * sizeof(*changed));
	qsort(changed, nchanged, sizeof(*changed), cmp_u32);
	removed = id_array(t->prefix, ch.updated, ch.nupdated);
	added = id_array(t->prefix, ch.destroyed, ch.ndestroyed);
	json_array_extend(removed, added);
	json_decref(added);
	added = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *a;

		if (bsearch(&ids[i], changed, nchanged, sizeof(*changed),
		    cmp_u32) == NULL)
			continue;
		a = json_object();
		jmap_id_make(t->prefix, ids[i], id);
		json_object_set_new(a, "id", json_string(id));
		json_object_set_new(a, "index", json_integer((json_int_t)i));
		json_array_append_new(added, a);
		nadded++;
	}
	free(changed);
	jmap_state_str(ch.new_state, state);
	mail_changes_clear(&ch);
	if (max > 0 && json_array_size(removed) + nadded > max) {
		json_decref(removed);
		json_decref(added);
		free(ids);
		jmap_error(c, "tooManyChanges", "more than %zu changes", max);
		return 0;
	}
	res = json_object();
	json_object_set_new(res, "accountId", json_string(c->ctx->account_id));
	json_object_set_new(res, "oldQueryState", json_string(since_s));
	json_object_set_new(res, "newQueryState", json_string(state));
	if (json_is_true(jmap_arg_get(c, "calculateTotal")))
		json_object_set_new(res, "total", json_integer((json_int_t)n));
	json_object_set_new(res, "removed", removed);
	json_object_set_new(res, "added", added);
	free(ids);
	jmap_reply(c, res);
	return 0;
}
