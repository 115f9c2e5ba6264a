/*
 * jmap_vacation.c - VacationResponse/get and /set (RFC 8621 8): the one
 * object "singleton" of an account, kept by the store
 * (mail_vacation_get/put, store/mail_vacation.c) and acted on at
 * delivery (delivery/vacation.c sends the RFC 3834 auto-replies).
 *
 * Properties: id ("singleton", immutable), isEnabled, fromDate and
 * toDate (UTCDate or null: replies for messages arriving in [fromDate,
 * toDate)), subject, textBody, htmlBody (String or null).  An account
 * that never set one has it disabled with every other property null.
 *
 * /get is the standard one (RFC 8620 5.1) over that single id: ids null
 * or naming "singleton" return it, any other id is notFound.  /set
 * (5.3): create and destroy of "singleton" are refused with the
 * "singleton" SetError (destroying another id is notFound); update
 * applies the PatchObject to the object as /get shows it and checks
 * the result whole: every bad property is named in one
 * invalidProperties (a wrong type, a date that is not a UTCDate, a
 * subject with a control character or over MAIL_VACATION_SUBJECT_MAX
 * octets, a body over MAIL_VACATION_BODY_MAX, an unknown property, an
 * id other than "singleton").  An update that changes nothing writes
 * nothing; one that changes anything takes delivery.vacation_period
 * as the reply period and starts the record of replies afresh.
 *
 * The state is the store's change-log state of type 'v', so push
 * (jmap_push.c) reports "VacationResponse" changes like any type's.
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

#define SINGLETON "singleton"

static const char *const props[] = {
	"id", "isEnabled", "fromDate", "toDate", "subject", "textBody",
	"htmlBody", NULL,
};

const struct jmap_type jmap_vacation_type = {
	.name = "VacationResponse",
	.prefix = 'V',
	.log = MAIL_LOG_VACATION,
	.cap = JMAP_CAP_VACATION,
	.props = props,
};

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
date_or_null(bool has, int64_t t)
{
	char d[JMAP_DATE_MAX];

	if (!has)
		return json_null();
	jmap_date_utc(t, d);
	return json_string(d);
}

/* vacation_json - every property of v */
static json_t *
vacation_json(const struct mail_vacation *v)
{
	json_t *o = json_object();

	json_object_set_new(o, "id", json_string(SINGLETON));
	json_object_set_new(o, "isEnabled", json_boolean(v->enabled));
	json_object_set_new(o, "fromDate", date_or_null(v->has_from, v->from));
	json_object_set_new(o, "toDate", date_or_null(v->has_to, v->to));
	json_object_set_new(o, "subject", str_or_null(v->subject));
	json_object_set_new(o, "textBody", str_or_null(v->text));
	json_object_set_new(o, "htmlBody", str_or_null(v->html));
	return o;
}

/* load - the account's response as JSON (a new reference), or NULL */
static json_t *
load(struct jmap_call *c, struct buf *err)
{
	struct mail_vacation v;
	json_t *o;

	if (mail_vacation_get(c->ctx->env->st->mail, c->acct, &v, err) < 0)
		return NULL;
	o = vacation_json(&v);
	mail_vacation_clear(&v);
	return o;
}

/* ---- /get ---- */

static const struct jmap_arg get_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "ids", JMAP_ARG_STRINGS, JMAP_ARG_NULL },
	{ "properties", JMAP_ARG_STRINGS, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

static int
vacation_get(struct jmap_call *c, struct buf *err)
{
	json_t *ids, *want = NULL, *obj, *list, *nf, *v;
	bool found = false;
	char state[24];
	size_t i;

	if (jmap_args_check(c, get_args, NULL) < 0)
		return 0;
	ids = jmap_arg_get(c, "ids");
	if (ids != NULL &&
	    json_array_size(ids) > c->ctx->env->lim.max_objects_in_get) {
		jmap_error(c, "requestTooLarge", "more than maxObjectsInGet "
		    "(%u) ids", c->ctx->env->lim.max_objects_in_get);
		return 0;
	}
	if ((v = jmap_arg_get(c, "properties")) != NULL) {
		json_array_foreach(v, i, obj) {
			if (!jmap_in_list(props, json_string_value(obj))) {
				jmap_error(c, "invalidArguments", "unknown "
				    "property \"%.64s\"",
				    json_string_value(obj));
				return 0;
			}
		}
		want = v;
	}
	/* the state first: a change racing the read shows up later */
	if (jmap_std_state(c, &jmap_vacation_type, state, err) < 0)
		return -1;
	if ((obj = load(c, err)) == NULL)
		return -1;
	list = json_array();
	nf = json_array();
	if (ids == NULL)
		found = true;
	json_array_foreach(ids, i, v) {
		const char *s = json_string_value(v);
		bool dup = false;
		size_t k;
		json_t *w;

		if (strcmp(s, SINGLETON) == 0) {
			found = true;
			continue;
		}
		/* each id once (RFC 8620 5.1) */
		json_array_foreach(nf, k, w) {
			if (strcmp(json_string_value(w), s) == 0)
				dup = true;
		}
		if (!dup)
			json_array_append(nf, v);
	}
	if (found && want != NULL) {
		json_t *o = json_object(), *p;

		json_object_set(o, "id", json_object_get(obj, "id"));
		json_array_foreach(want, i, p) {
			json_object_set(o, json_string_value(p),
			    json_object_get(obj, json_string_value(p)));
		}
		json_array_append_new(list, o);
	} else if (found) {
		json_array_append(list, obj);
	}
	json_decref(obj);
	jmap_std_reply_get(c, state, list, nf);
	return 0;
}

/* ---- /set ---- */

/* utc_date - a UTCDate (RFC 8620 1.4: time-offset "Z"); 0 or -1 */
static int
utc_date(const json_t *v, int64_t *t_r)
{
	const char *s = json_string_value(v);
	size_t n = s != NULL ? strlen(s) : 0;

	if (n == 0 || s[n - 1] != 'Z')
		return -1;
	return jmap_date_parse(s, t_r);
}

/* has_control - a C0 control or DEL: a subject is one header line */
static bool
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* bad_prop - add name to the invalid properties */
static void
bad_prop(json_t *bad, const char *name)
{
	json_array_append_new(bad, json_string(name));
}

/* opt_str - a String or null property: its copy into *s_r; false bad */
static bool
opt_str(json_t *o, const char *name, size_t max, bool one_line,
    char **s_r)
{
	json_t *v = json_object_get(o, name);

	*s_r = NULL;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v) || json_string_length(v) > max ||
	    strlen(json_string_value(v)) != json_string_length(v) ||
	    (one_line && has_control(json_string_value(v))))
		return false;
	*s_r = xstrdup(json_string_value(v));
	return true;
}

/* opt_date - a UTCDate or null property */
static bool
opt_date(json_t *o, const char *name, bool *has_r, int64_t *t_r)
{
	json_t *v = json_object_get(o, name);

	*has_r = false;
	if (v == NULL || json_is_null(v))
		return true;
	if (!json_is_string(v) || utc_date(v, t_r) < 0)
		return false;
	*has_r = true;
	return true;
}

/*
 * parse - the patched object into *v: NULL, or an invalidProperties
 * SetError naming every property that is wrong
 */
static json_t *
parse(json_t *o, struct mail_vacation *v)
{
	json_t *bad = json_array(), *e, *val;
	const char *k;

	memset(v, 0, sizeof(*v));
	json_object_foreach(o, k, val) {
		if (!jmap_in_list(props, k))
			bad_prop(bad, k);
	}
	val = json_object_get(o, "id");
	if (!json_is_string(val) ||
	    strcmp(json_string_value(val), SINGLETON) != 0)
		bad_prop(bad, "id");
	val = json_object_get(o, "isEnabled");
	if (!json_is_boolean(val))
		bad_prop(bad, "isEnabled");
	else
		v->enabled = json_is_true(val);
	if (!opt_date(o, "fromDate", &v->has_from, &v->from))
		bad_prop(bad, "fromDate");
	if (!opt_date(o, "toDate", &v->has_to, &v->to))
		bad_prop(bad, "toDate");
	if (!opt_str(o, "subject", MAIL_VACATION_SUBJECT_MAX, true,
	    &v->subject))
		bad_prop(bad, "subject");
	if (!opt_str(o, "textBody", MAIL_VACATION_BODY_MAX, false, &v->text))
		bad_prop(bad, "textBody");
	if (!opt_str(o, "htmlBody", MAIL_VACATION_BODY_MAX, false, &v->html))
		bad_prop(bad, "htmlBody");
	if (json_array_size(bad) == 0) {
		json_decref(bad);
		return NULL;
	}
	e = jmap_set_error("invalidProperties", "%s", "a property has a "
	    "wrong type, format or length");
	json_object_set_new(e, "properties", bad);
	mail_vacation_clear(v);
	return e;
}

/* update - the patch of "singleton": 1 done, 0 with *seterr_r, -1 */
static int
update(struct jmap_call *c, json_t *patch, json_t **seterr_r,
    struct buf *err)
{
	struct mail_vacation v;
	json_t *old, *new_obj;
	const char *badkey;
	int rc = 1;

	if (!json_is_object(patch)) {
		*seterr_r = jmap_set_error("invalidPatch", "not an object");
		return 0;
	}
	if ((old = load(c, err)) == NULL)
		return -1;
	new_obj = json_deep_copy(old);
	if (jmap_patch_apply(new_obj, patch, &badkey) < 0) {
		*seterr_r = jmap_set_error("invalidPatch", "cannot apply "
		    "\"%.64s\"", badkey);
		rc = 0;
	} else if ((*seterr_r = parse(new_obj, &v)) != NULL) {
		rc = 0;
	} else if (!json_equal(old, new_obj)) {
		v.period = c->ctx->env->cfg->delivery.vacation_period;
		if (mail_vacation_put(c->ctx->env->st->mail, c->acct, &v, NULL,
		    err) < 0)
			rc = -1;
		mail_vacation_clear(&v);
	} else {
		mail_vacation_clear(&v);	/* nothing changes */
	}
	json_decref(old);
	json_decref(new_obj);
	return rc;
}

static json_t *
or_null(json_t *o)
{
	if ((json_is_object(o) && json_object_size(o) == 0) ||
	    (json_is_array(o) && json_array_size(o) == 0)) {
		json_decref(o);
		return json_null();
	}
	return o;
}

static int
vacation_set(struct jmap_call *c, struct buf *err)
{
	json_t *create, *upd, *destroy, *if_in, *res, *v;
	json_t *updated, *not_created, *not_updated, *not_destroyed;
	char old_state[24], new_state[24];
	const char *key;
	size_t total, i;

	if (jmap_args_check(c, jmap_std_set_args, NULL) < 0)
		return 0;
	create = jmap_arg_get(c, "create");
	upd = jmap_arg_get(c, "update");
	destroy = jmap_arg_get(c, "destroy");
	if_in = jmap_arg_get(c, "ifInState");
	total = json_object_size(create) + json_object_size(upd) +
	    json_array_size(destroy);
	if (total > c->ctx->env->lim.max_objects_in_set) {
		jmap_error(c, "requestTooLarge", "more than maxObjectsInSet "
		    "(%u) objects", c->ctx->env->lim.max_objects_in_set);
		return 0;
	}
	if (jmap_std_state(c, &jmap_vacation_type, old_state, err) < 0)
		return -1;
	if (if_in != NULL && strcmp(json_string_value(if_in), old_state) != 0) {
		jmap_error(c, "stateMismatch", "the state is %s, not %.64s",
		    old_state, json_string_value(if_in));
		return 0;
	}
	updated = json_object();
	not_created = json_object();
	not_updated = json_object();
	not_destroyed = json_object();
	json_object_foreach(create, key, v) {
		json_object_set_new(not_created, key, jmap_set_error(
		    "singleton", "there is one VacationResponse, \"%s\": "
		    "update it", SINGLETON));
	}
	json_object_foreach(upd, key, v) {
		json_t *seterr = NULL;
		int rc;

		if (strcmp(key, SINGLETON) != 0) {
			json_object_set_new(not_updated, key, jmap_set_error(
			    "notFound", "the only VacationResponse is \"%s\"",
			    SINGLETON));
			continue;
		}
		rc = update(c, v, &seterr, err);
		if (rc < 0) {
			json_decref(updated);
			json_decref(not_created);
			json_decref(not_updated);
			json_decref(not_destroyed);
			return -1;
		}
		if (rc == 0)
			json_object_set_new(not_updated, key, seterr);
		else
			json_object_set_new(updated, key, json_null());
	}
	json_array_foreach(destroy, i, v) {
		const char *s = json_string_value(v);

		json_object_set_new(not_destroyed, s, strcmp(s, SINGLETON) ==
		    0 ? jmap_set_error("singleton", "the VacationResponse "
		    "cannot be destroyed; set isEnabled false") :
		    jmap_set_error("notFound", "the only VacationResponse "
		    "is \"%s\"", SINGLETON));
	}
	if (jmap_std_state(c, &jmap_vacation_type, new_state, err) < 0) {
		json_decref(updated);
		json_decref(not_created);
		json_decref(not_updated);
		json_decref(not_destroyed);
		return -1;
	}
	res = json_object();
	json_object_set_new(res, "accountId", json_string(c->ctx->account_id));
	json_object_set_new(res, "oldState", json_string(old_state));
	json_object_set_new(res, "newState", json_string(new_state));
	json_object_set_new(res, "created", json_null());
	json_object_set_new(res, "updated", or_null(updated));
	json_object_set_new(res, "destroyed", json_null());
	json_object_set_new(res, "notCreated", or_null(not_created));
	json_object_set_new(res, "notUpdated", or_null(not_updated));
	json_object_set_new(res, "notDestroyed", or_null(not_destroyed));
	jmap_reply(c, res);
	return 0;
}

const struct jmap_method jmap_vacation_methods[] = {
	{ "VacationResponse/get", JMAP_CAP_VACATION, JMAP_M_ACCOUNT,
	  vacation_get, NULL, 0 },
	{ "VacationResponse/set", JMAP_CAP_VACATION,
	  JMAP_M_ACCOUNT | JMAP_M_WRITE, vacation_set, NULL, 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};
