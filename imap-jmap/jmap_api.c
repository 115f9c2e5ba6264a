/*
 * jmap_api.c - one API request (RFC 8620 3.3-3.7): every method call in
 * order, its result references resolved, its method found and checked,
 * its handler run, and the Response object; the response builder, the
 * argument checks and the id helpers the handlers share; Core/echo.
 *
 * The checks the core makes so that no handler has to, in this order
 * (the first that fails is the call's one response):
 *   unknownMethod                 no such method, or its capability is
 *                                 not in the request's `using`
 *   invalidArguments /            a "#" argument next to its plain form,
 *   invalidResultReference        or a reference that does not resolve
 *   invalidArguments              accountId missing or not an Id
 *                                 (methods flagged JMAP_M_ACCOUNT)
 *   accountNotFound               an account the user has not
 *   accountNotSupportedByMethod   the account lacks the capability
 *   accountReadOnly               a JMAP_M_WRITE method, read-only account
 * and after the handler, serverFail when it failed (-1: the line goes to
 * the log with the request's id; the client gets the id only).
 *
 * Everything here runs inside the API request's job.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

#define MAX_SAFE_INT 9007199254740991LL	/* 2^53 - 1 (RFC 8620 1.3) */

void
jmap_limits_from_config(const struct config *cfg, struct jmap_limits *l)
{
	l->max_size_upload = cfg->jmap.max_size_upload;
	l->max_concurrent_upload = cfg->jmap.max_concurrent_upload;
	l->max_size_request = cfg->jmap.max_size_request;
	l->max_concurrent_requests = cfg->jmap.max_concurrent_requests;
	l->max_calls_in_request = cfg->jmap.max_calls_in_request;
	l->max_objects_in_get = cfg->jmap.max_objects_in_get;
	l->max_objects_in_set = cfg->jmap.max_objects_in_set;
}

/* ---- ids and states ---- */

void
jmap_id_make(char prefix, uint32_t n, char out[JMAP_ID_MAX])
{
	(void)snprintf(out, JMAP_ID_MAX, "%c%u", prefix, n);
}

int
jmap_id_parse(char prefix, const char *s, uint32_t *n_r)
{
	size_t len = strlen(s);
	uint64_t v;

	if (len < 2 || s[0] != prefix || s[1] == '0' ||
	    parse_u64(s + 1, len - 1, UINT32_MAX, &v) < 0 || v == 0)
		return -1;
	*n_r = (uint32_t)v;
	return 0;
}

int
jmap_id_resolve(struct jmap_call *c, char prefix, const char *s,
    uint32_t *n_r)
{
	if (s[0] == '#') {
		json_t *id = json_object_get(c->ctx->created_ids, s + 1);

		if (!json_is_string(id))
			return -1;
		s = json_string_value(id);
	}
	return jmap_id_parse(prefix, s, n_r);
}

void
jmap_created_add(struct jmap_call *c, const char *cid, const char *id)
{
	json_object_set_new(c->ctx->created_ids, cid, json_string(id));
}

void
jmap_state_str(uint64_t state, char out[24])
{
	(void)snprintf(out, 24, "%llu", (unsigned long long)state);
}

int
jmap_state_parse(const char *s, uint64_t *state_r)
{
	size_t len = strlen(s);

	if (len == 0 || (len > 1 && s[0] == '0'))
		return -1;
	return parse_u64(s, len, UINT64_MAX, state_r);
}

/* ---- the response builder ---- */

static void
add_response(struct jmap_call *c, const char *name, json_t *args)
{
	json_t *r = json_array();

	json_array_append_new(r, json_string(name));
	json_array_append_new(r, args);
	json_array_append_new(r, json_string(c->call_id));
	json_array_append_new(c->ctx->responses, r);
	c->answered = true;
}

void
jmap_reply(struct jmap_call *c, json_t *args)
{
	ASSERT(c->method != NULL);
	add_response(c, c->method->name, args);
}

void
jmap_reply_as(struct jmap_call *c, const char *name, json_t *args)
{
	add_response(c, name, args);
}

static json_t *
verror_obj(const char *type, const char *fmt, va_list ap)
{
	json_t *o = json_object();
	char text[512];

	(void)vsnprintf(text, sizeof(text), fmt, ap);
	json_object_set_new(o, "type", json_string(type));
	/* a description may quote client text cut in the middle of a
	 * UTF-8 sequence: jansson refuses that, and we leave it out */
	if (text[0] != '\0') {
		json_t *d = json_string(text);

		if (d != NULL)
			json_object_set_new(o, "description", d);
	}
	return o;
}

json_t *
jmap_error_obj(const char *type, const char *fmt, ...)
{
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	o = verror_obj(type, fmt, ap);
	va_end(ap);
	return o;
}

void
jmap_error(struct jmap_call *c, const char *type, const char *fmt, ...)
{
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	o = verror_obj(type, fmt, ap);
	va_end(ap);
	add_response(c, "error", o);
}

json_t *
jmap_set_error(const char *type, const char *fmt, ...)
{
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	o = verror_obj(type, fmt, ap);
	va_end(ap);
	return o;
}

json_t *
jmap_set_error_props(const char *prop, const char *fmt, ...)
{
	va_list ap;
	json_t *o, *props = json_array();

	va_start(ap, fmt);
	o = verror_obj("invalidProperties", fmt, ap);
	va_end(ap);
	json_array_append_new(props, json_string(prop));
	json_object_set_new(o, "properties", props);
	return o;
}

/* ---- arguments ---- */

bool
jmap_value_is_uint(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= MAX_SAFE_INT;
}

static bool
type_ok(const json_t *v, enum jmap_arg_type t)
{
	size_t i;
	json_t *e;

	switch (t) {
	case JMAP_ARG_ANY:
		return true;
	case JMAP_ARG_STRING:
		return json_is_string(v);
	case JMAP_ARG_ID:
		return jmap_value_is_id(v);
	case JMAP_ARG_BOOL:
		return json_is_boolean(v);
	case JMAP_ARG_UINT:
		return jmap_value_is_uint(v);
	case JMAP_ARG_INT:
		return json_is_integer(v) &&
		    json_integer_value(v) >= -MAX_SAFE_INT &&
		    json_integer_value(v) <= MAX_SAFE_INT;
	case JMAP_ARG_OBJECT:
		return json_is_object(v);
	case JMAP_ARG_ARRAY:
		return json_is_array(v);
	case JMAP_ARG_IDS:
	case JMAP_ARG_STRINGS:
		if (!json_is_array(v))
			return false;
		json_array_foreach(v, i, e) {
			if (t == JMAP_ARG_IDS ? !jmap_value_is_id(e) :
			    !json_is_string(e))
				return false;
		}
		return true;
	}
	return false;
}

static const char *const type_names[] = {
	[JMAP_ARG_ANY] = "a value",
	[JMAP_ARG_STRING] = "a String",
	[JMAP_ARG_ID] = "an Id",
	[JMAP_ARG_BOOL] = "a Boolean",
	[JMAP_ARG_UINT] = "an UnsignedInt",
	[JMAP_ARG_INT] = "an Int",
	[JMAP_ARG_OBJECT] = "an object",
	[JMAP_ARG_IDS] = "an Id[]",
	[JMAP_ARG_STRINGS] = "a String[]",
	[JMAP_ARG_ARRAY] = "an array",
};

static const struct jmap_arg *
spec_find(const struct jmap_arg *spec, const char *name)
{
	for (; spec != NULL && spec->name != NULL; spec++)
		if (strcmp(spec->name, name) == 0)
			return spec;
	return NULL;
}

static int
required_present(struct jmap_call *c, const struct jmap_arg *spec)
{
	for (; spec != NULL && spec->name != NULL; spec++) {
		json_t *v = json_object_get(c->args, spec->name);

		if ((spec->flags & JMAP_ARG_REQUIRED) &&
		    (v == NULL || json_is_null(v))) {
			jmap_error(c, "invalidArguments", "\"%s\" is required",
			    spec->name);
			return -1;
		}
	}
	return 0;
}

int
jmap_args_check(struct jmap_call *c, const struct jmap_arg *spec,
    const struct jmap_arg *spec2)
{
	const char *key;
	json_t *v;

	json_object_foreach(c->args, key, v) {
		const struct jmap_arg *a = spec_find(spec, key);

		if (a == NULL)
			a = spec_find(spec2, key);
		if (a == NULL) {
			jmap_error(c, "invalidArguments", "unknown argument "
			    "\"%.64s\"", key);
			return -1;
		}
		if (json_is_null(v)) {
			if ((a->flags & (JMAP_ARG_NULL | JMAP_ARG_REQUIRED)) !=
			    JMAP_ARG_NULL) {
				jmap_error(c, "invalidArguments", "\"%s\" may "
				    "not be null", a->name);
				return -1;
			}
			continue;
		}
		if (!type_ok(v, a->type)) {
			jmap_error(c, "invalidArguments", "\"%s\" must be %s",
			    a->name, type_names[a->type]);
			return -1;
		}
	}
	if (required_present(c, spec) < 0 || required_present(c, spec2) < 0)
		return -1;
	return 0;
}

json_t *
jmap_arg_get(struct jmap_call *c, const char *name)
{
	json_t *v = json_object_get(c->args, name);

	return json_is_null(v) ? NULL : v;
}

/* ---- methods ---- */

const struct jmap_method *
jmap_method_find(const struct jmap_env *env, const char *name)
{
	for (const struct jmap_method *const *t = env->tables; *t != NULL;
	    t++)
		for (const struct jmap_method *m = *t; m->name != NULL; m++)
			if (strcmp(m->name, name) == 0)
				return m;
	return NULL;
}

unsigned
jmap_caps_advertised(const struct jmap_env *env)
{
	unsigned caps = JMAP_CAP_BIT(JMAP_CAP_CORE);

	for (const struct jmap_method *const *t = env->tables; *t != NULL;
	    t++)
		for (const struct jmap_method *m = *t; m->name != NULL; m++)
			caps |= JMAP_CAP_BIT(m->cap);
	return caps;
}

/* Core/echo (RFC 8620 4): the arguments, as they are */
static int
core_echo(struct jmap_call *c, struct buf *err)
{
	(void)err;
	jmap_reply(c, json_incref(c->args));
	return 0;
}

const struct jmap_method jmap_core_methods[] = {
	{ "Core/echo", JMAP_CAP_CORE, 0, core_echo, NULL, 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* check_account - the JMAP_M_ACCOUNT checks; 0 or -1 answered */
static int
check_account(struct jmap_call *c)
{
	struct jmap_ctx *ctx = c->ctx;
	json_t *a = json_object_get(c->args, "accountId");

	if (!jmap_value_is_id(a)) {
		jmap_error(c, "invalidArguments", "\"accountId\" must be an "
		    "Id");
		return -1;
	}
	if (strcmp(json_string_value(a), ctx->account_id) != 0) {
		jmap_error(c, "accountNotFound", "no account \"%s\" for this "
		    "user", json_string_value(a));
		return -1;
	}
	if ((ctx->account_caps & JMAP_CAP_BIT(c->method->cap)) == 0) {
		jmap_error(c, "accountNotSupportedByMethod", "the account does "
		    "not support %s", jmap_cap_names[c->method->cap]);
		return -1;
	}
	if ((c->method->flags & JMAP_M_WRITE) && ctx->read_only) {
		jmap_error(c, "accountReadOnly", "the account is read-only");
		return -1;
	}
	c->acct = ctx->acct;
	return 0;
}

static void
run_call(struct jmap_ctx *ctx, const char *name, json_t *args,
    const char *call_id)
{
	struct jmap_call c;
	struct buf desc = BUF_INIT(0), err = BUF_INIT(0);
	const struct jmap_method *m;
	const char *type;
	json_t *resolved = NULL;
	int rc;

	memset(&c, 0, sizeof(c));
	c.ctx = ctx;
	c.call_id = call_id;
	m = jmap_method_find(ctx->env, name);
	if (m == NULL || (ctx->using & JMAP_CAP_BIT(m->cap)) == 0) {
		jmap_error(&c, "unknownMethod", m == NULL ? "no method \"%.64s\""
		    : "\"%.64s\" needs its capability in \"using\"", name);
		return;
	}
	c.method = m;
	if (jmap_refs_resolve(args, ctx->responses, &resolved, &type,
	    &desc) < 0) {
		jmap_error(&c, type, "%s", buf_cstr(&desc));
		buf_free(&desc);
		return;
	}
	c.args = resolved;
	if ((m->flags & JMAP_M_ACCOUNT) && check_account(&c) < 0)
		goto out;
	rc = m->fn != NULL ? m->fn(&c, &err) : jmap_std_run(&c, m, &err);
	if (rc < 0 || !c.answered) {
		log_error(JMAP_SVC, "%s: %s: %s", ctx->log_id, m->name,
		    err.len > 0 ? buf_cstr(&err) : "no response");
		jmap_error(&c, "serverFail", "internal error, see the server "
		    "log at %s", ctx->log_id);
	}
out:
	json_decref(resolved);
	buf_free(&desc);
	buf_free(&err);
}

void
jmap_ctx_init(struct jmap_ctx *ctx, const struct jmap_env *env,
    uint32_t acct, const char *username)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->env = env;
	ctx->acct = acct;
	jmap_id_make('A', acct, ctx->account_id);
	ctx->username = username;
	ctx->account_caps = jmap_caps_advertised(env);
	ctx->created_ids = json_object();
	ctx->responses = json_array();
	ctx->log_id = "-";
}

void
jmap_ctx_clear(struct jmap_ctx *ctx)
{
	json_decref(ctx->created_ids);
	json_decref(ctx->responses);
	memset(ctx, 0, sizeof(*ctx));
}

void
jmap_api_execute(struct jmap_ctx *ctx, struct jmap_request *r)
{
	size_t i;
	json_t *call;

	if (r->created_ids != NULL)
		json_object_update(ctx->created_ids, r->created_ids);
	ctx->using = r->using;
	json_array_foreach(r->calls, i, call) {
		run_call(ctx, json_string_value(json_array_get(call, 0)),
		    json_array_get(call, 1),
		    json_string_value(json_array_get(call, 2)));
	}
}

/* is_json_type - "application/json", parameters allowed */
static bool
is_json_type(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (ct == NULL || ascii_strncasecmp(ct, want, n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

int
jmap_api_run(const struct jmap_env *env, uint32_t acct,
    const char *username, const char *content_type, const void *body,
    size_t len, const char *log_id, struct buf *out, bool *problem_r)
{
	struct jmap_request r;
	struct jmap_problem p;
	struct jmap_ctx ctx;
	json_t *resp;
	char state[24], *s;

	if (!is_json_type(content_type)) {
		jmap_problem_set(&p, 400, JMAP_ERR_URN "notJSON", NULL,
		    "The content type must be application/json");
		jmap_problem_json(&p, out);
		*problem_r = true;
		return p.status;
	}
	if (jmap_request_parse(body, len, &env->lim,
	    jmap_caps_advertised(env), &r, &p) < 0) {
		jmap_problem_json(&p, out);
		*problem_r = true;
		return p.status;
	}
	jmap_ctx_init(&ctx, env, acct, username);
	ctx.log_id = log_id;
	jmap_api_execute(&ctx, &r);
	jmap_session_state(env, acct, username, state);
	resp = json_object();
	json_object_set(resp, "methodResponses", ctx.responses);
	if (r.created_ids != NULL)
		json_object_set(resp, "createdIds", ctx.created_ids);
	json_object_set_new(resp, "sessionState", json_string(state));
	s = json_dumps(resp, JSON_COMPACT);
	if (s == NULL)
		PANIC("json_dumps failed");
	buf_add_str(out, s);
	free(s);
	log_debug(JMAP_SVC, "%s: api: user=<%s>, calls=%zu", log_id, username,
	    json_array_size(r.calls));
	json_decref(resp);
	jmap_ctx_clear(&ctx);
	jmap_request_clear(&r);
	*problem_r = false;
	return 200;
}
