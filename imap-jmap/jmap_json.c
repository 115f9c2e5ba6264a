/*
 * jmap_json.c - the pure parts of the JMAP core: the Request object (RFC
 * 8620 3.3) and its request-level errors as problem details (3.6.1, RFC
 * 7807), JSON Pointer (RFC 6901) with JMAP's "*" (3.7), result
 * references (3.7) and patch objects (5.3).
 *
 * No I/O, no globals, no store: bytes and limits in, jansson values or an
 * error out.  Fuzzed by t/fuzz/jmap_request.c, unit-tested by
 * t/unit/jmap_json_test.c.
 *
 * Decisions:
 *   - I-JSON (RFC 7493): jansson rejects invalid UTF-8, "\u0000" (no
 *     JSON_ALLOW_NUL) and integers past 64 bits; duplicate member names
 *     are rejected too (JSON_REJECT_DUPLICATES).  All are notJSON.  Valid
 *     JSON of the wrong shape (a number, an array, a member we do not
 *     know, a call that is not [String, Object, String]) is notRequest.
 *   - The order of the checks is the RFC's list read as "the first
 *     thing wrong": size (limit), then notJSON, notRequest,
 *     unknownCapability, then the number of calls (limit).
 *   - "*" recursion is bounded by the depth of the document (jansson
 *     parses at most 2048 levels), plain tokens are walked in a loop.
 *   - A patch's null on a top-level property sets it to null (every
 *     property of ours whose default is not null treats null as its
 *     default); deeper, it removes the member (RFC 8620 5.3).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

const char *const jmap_cap_names[JMAP_CAP_COUNT] = {
	"urn:ietf:params:jmap:core",
	"urn:ietf:params:jmap:mail",
	"urn:ietf:params:jmap:submission",
	"urn:ietf:params:jmap:vacationresponse",
};

int
jmap_cap_find(const char *s)
{
	for (int i = 0; i < JMAP_CAP_COUNT; i++)
		if (strcmp(s, jmap_cap_names[i]) == 0)
			return i;
	return -1;
}

void
jmap_problem_set(struct jmap_problem *p, int status, const char *type,
    const char *limit, const char *fmt, ...)
{
	va_list ap;

	p->status = status;
	p->type = type;
	p->limit = limit;
	va_start(ap, fmt);
	(void)vsnprintf(p->detail, sizeof(p->detail), fmt, ap);
	va_end(ap);
}

void
jmap_problem_json(const struct jmap_problem *p, struct buf *out)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "type", json_string(p->type));
	json_object_set_new(o, "status", json_integer(p->status));
	json_object_set_new(o, "detail", json_string(p->detail));
	if (p->limit != NULL)
		json_object_set_new(o, "limit", json_string(p->limit));
	s = json_dumps(o, JSON_COMPACT);
	if (s == NULL)
		PANIC("json_dumps failed");
	buf_add_str(out, s);
	free(s);
	json_decref(o);
}

void
jmap_request_clear(struct jmap_request *r)
{
	json_decref(r->root);
	memset(r, 0, sizeof(*r));
}

static int
not_request(struct jmap_problem *p, const char *what)
{
	jmap_problem_set(p, 400, JMAP_ERR_URN "notRequest",
	    NULL, "The request is not a valid Request object: %s", what);
	return -1;
}

/* check_using - every entry a string; their capabilities into *bits */
static int
check_using(json_t *using, unsigned known, unsigned *bits,
    struct jmap_problem *p)
{
	size_t i;
	json_t *v;

	if (!json_is_array(using))
		return not_request(p, "\"using\" must be an array of strings");
	json_array_foreach(using, i, v) {
		if (!json_is_string(v))
			return not_request(p, "\"using\" must be an array of "
			    "strings");
	}
	json_array_foreach(using, i, v) {
		int cap = jmap_cap_find(json_string_value(v));

		if (cap < 0 || (known & JMAP_CAP_BIT(cap)) == 0) {
			jmap_problem_set(p, 400, JMAP_ERR_URN
			    "unknownCapability", NULL, "The server does not "
			    "support the capability \"%.160s\"",
			    json_string_value(v));
			return -1;
		}
		*bits |= JMAP_CAP_BIT(cap);
	}
	return 0;
}

int
jmap_request_parse(const void *body, size_t len,
    const struct jmap_limits *lim, unsigned known, struct jmap_request *r,
    struct jmap_problem *p)
{
	json_error_t je;
	json_t *root, *using = NULL, *calls = NULL, *ids = NULL, *v;
	const char *key;
	size_t i;

	memset(r, 0, sizeof(*r));
	if (len > lim->max_size_request) {
		jmap_problem_set(p, 400, JMAP_ERR_URN "limit",
		    "maxSizeRequest", "The request is larger than %llu octets",
		    (unsigned long long)lim->max_size_request);
		return -1;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES |
	    JSON_DECODE_ANY, &je);
	if (root == NULL) {
		jmap_problem_set(p, 400, JMAP_ERR_URN "notJSON", NULL,
		    "The request is not I-JSON: %s at line %d, column %d",
		    je.text, je.line, je.column);
		return -1;
	}
	r->root = root;
	if (!json_is_object(root)) {
		not_request(p, "not an object");
		goto fail;
	}
	json_object_foreach(root, key, v) {
		if (strcmp(key, "using") == 0)
			using = v;
		else if (strcmp(key, "methodCalls") == 0)
			calls = v;
		else if (strcmp(key, "createdIds") == 0)
			ids = v;
		else {
			char what[128];

			(void)snprintf(what, sizeof(what), "unknown member "
			    "\"%.64s\"", key);
			not_request(p, what);
			goto fail;
		}
	}
	if (using == NULL || calls == NULL) {
		not_request(p, "\"using\" and \"methodCalls\" are required");
		goto fail;
	}
	if (!json_is_array(calls)) {
		not_request(p, "\"methodCalls\" must be an array");
		goto fail;
	}
	json_array_foreach(calls, i, v) {
		if (!json_is_array(v) || json_array_size(v) != 3 ||
		    !json_is_string(json_array_get(v, 0)) ||
		    !json_is_object(json_array_get(v, 1)) ||
		    !json_is_string(json_array_get(v, 2))) {
			not_request(p, "each method call must be [String, "
			    "Object, String]");
			goto fail;
		}
	}
	if (ids != NULL) {
		json_t *id;

		if (!json_is_object(ids)) {
			not_request(p, "\"createdIds\" must be an object");
			goto fail;
		}
		json_object_foreach(ids, key, id) {
			if (!jmap_value_is_id(id)) {
				not_request(p, "\"createdIds\" values must "
				    "be ids");
				goto fail;
			}
		}
	}
	if (check_using(using, known, &r->using, p) < 0)
		goto fail;
	if (json_array_size(calls) > lim->max_calls_in_request) {
		jmap_problem_set(p, 400, JMAP_ERR_URN "limit",
		    "maxCallsInRequest", "The request has %zu method calls, "
		    "more than %u", json_array_size(calls),
		    lim->max_calls_in_request);
		goto fail;
	}
	r->calls = calls;
	r->created_ids = ids;
	return 0;
fail:
	jmap_request_clear(r);
	return -1;
}

/* ---- ids ---- */

static bool
is_id_char(unsigned char c)
{
	return is_ascii_alnum(c) || c == '-' || c == '_';
}

bool
jmap_value_is_id(const json_t *v)
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return false;
	s = json_string_value(v);
	n = json_string_length(v);
	if (n == 0 || n > 255)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_id_char((unsigned char)s[i]))
			return false;
	return true;
}

/* ---- JSON Pointer ---- */

/*
 * next_token - the token of path starting after the '/' at *pos, decoded
 * into tok; *pos moves to the next '/' or the end.  -1 on a bad escape.
 */
static int
next_token(const char *path, size_t *pos, struct buf *tok)
{
	size_t i = *pos;

	buf_reset(tok);
	for (; path[i] != '\0' && path[i] != '/'; i++) {
		char c = path[i];

		if (c == '~') {
			if (path[i + 1] == '0')
				c = '~';
			else if (path[i + 1] == '1')
				c = '/';
			else
				return -1;
			i++;
		}
		buf_add(tok, &c, 1);
	}
	*pos = i;
	return 0;
}

/* array_index - RFC 6901's array-index: "0" or digits without a leading
 * zero, below n */
static int
array_index(const struct buf *tok, size_t n, size_t *i_r)
{
	uint64_t v;

	if (tok->len == 0 || (tok->len > 1 && tok->data[0] == '0'))
		return -1;
	if (parse_u64((const char *)tok->data, tok->len, UINT64_MAX, &v) < 0 ||
	    v >= n)
		return -1;
	*i_r = (size_t)v;
	return 0;
}

/* eval_from - path[pos..] against doc; see jmap_pointer_eval */
static json_t *
eval_from(json_t *doc, const char *path, size_t pos, bool star,
    struct buf *tok)
{
	json_t *cur = doc;

	while (path[pos] != '\0') {
		size_t i;

		ASSERT(path[pos] == '/');
		pos++;
		if (next_token(path, &pos, tok) < 0)
			return NULL;
		if (json_is_object(cur)) {
			/* a token with a NUL names no member: jansson keys
			 * from the parser hold none */
			if (tok->len > 0 &&
			    memchr(tok->data, '\0', tok->len) != NULL)
				return NULL;
			cur = json_object_get(cur, buf_cstr(tok));
			if (cur == NULL)
				return NULL;
		} else if (json_is_array(cur)) {
			if (star && tok->len == 1 && tok->data[0] == '*') {
				json_t *out = json_array(), *item;
				struct buf sub = BUF_INIT(0);
				size_t k;

				json_array_foreach(cur, k, item) {
					json_t *v = eval_from(item, path, pos,
					    star, &sub);

					if (v == NULL) {
						json_decref(out);
						buf_free(&sub);
						return NULL;
					}
					if (json_is_array(v))
						json_array_extend(out, v);
					else
						json_array_append(out, v);
					json_decref(v);
				}
				buf_free(&sub);
				return out;
			}
			if (array_index(tok, json_array_size(cur), &i) < 0)
				return NULL;
			cur = json_array_get(cur, i);
		} else {
			return NULL;
		}
	}
	return json_incref(cur);
}

json_t *
jmap_pointer_eval(json_t *doc, const char *path, bool star)
{
	struct buf tok = BUF_INIT(0);
	json_t *v;

	if (path[0] != '\0' && path[0] != '/')
		return NULL;
	v = eval_from(doc, path, 0, star, &tok);
	buf_free(&tok);
	return v;
}

/* ---- result references ---- */

static int
ref_fail(const char **type_r, struct buf *desc, const char *type,
    const char *fmt, ...) PRINTF_LIKE(4, 5);

static int
ref_fail(const char **type_r, struct buf *desc, const char *type,
    const char *fmt, ...)
{
	va_list ap;
	char text[512];

	*type_r = type;
	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	buf_add_str(desc, text);
	return -1;
}

/* resolve_one - the value of ResultReference ref; NULL with the error */
static json_t *
resolve_one(json_t *ref, json_t *responses, const char **type_r,
    struct buf *desc)
{
	json_t *of, *name, *path, *resp = NULL, *v;
	size_t i;

	if (!json_is_object(ref) || json_object_size(ref) != 3 ||
	    !json_is_string(of = json_object_get(ref, "resultOf")) ||
	    !json_is_string(name = json_object_get(ref, "name")) ||
	    !json_is_string(path = json_object_get(ref, "path"))) {
		ref_fail(type_r, desc, "invalidResultReference", "a "
		    "ResultReference is {resultOf, name, path}, all strings");
		return NULL;
	}
	json_array_foreach(responses, i, resp) {
		json_t *id = json_array_get(resp, 2);

		if (json_equal(id, of))
			break;
	}
	if (i == json_array_size(responses)) {
		ref_fail(type_r, desc, "invalidResultReference", "no response "
		    "with the call id \"%.64s\" before this call",
		    json_string_value(of));
		return NULL;
	}
	if (!json_equal(json_array_get(resp, 0), name)) {
		ref_fail(type_r, desc, "invalidResultReference", "the response "
		    "to \"%.64s\" is %.64s, not %.64s", json_string_value(of),
		    json_string_value(json_array_get(resp, 0)),
		    json_string_value(name));
		return NULL;
	}
	v = jmap_pointer_eval(json_array_get(resp, 1), json_string_value(path),
	    true);
	if (v == NULL)
		ref_fail(type_r, desc, "invalidResultReference", "the path "
		    "\"%.128s\" does not resolve in the response to \"%.64s\"",
		    json_string_value(path), json_string_value(of));
	return v;
}

int
jmap_refs_resolve(json_t *args, json_t *responses, json_t **out_r,
    const char **type_r, struct buf *desc)
{
	const char *key;
	json_t *v, *out = NULL;
	void *tmp;

	json_object_foreach(args, key, v) {
		if (key[0] != '#')
			continue;
		if (json_object_get(args, key + 1) != NULL)
			return ref_fail(type_r, desc, "invalidArguments",
			    "both \"%.64s\" and \"%.64s\" given", key + 1,
			    key);
		if (key[1] == '\0')
			return ref_fail(type_r, desc, "invalidArguments",
			    "an argument named \"#\"");
	}
	out = json_copy(args);
	json_object_foreach_safe(args, tmp, key, v) {
		json_t *val;

		if (key[0] != '#')
			continue;
		val = resolve_one(v, responses, type_r, desc);
		if (val == NULL) {
			json_decref(out);
			return -1;
		}
		json_object_del(out, key);
		json_object_set_new(out, key + 1, val);
	}
	*out_r = out;
	return 0;
}

/* ---- patch objects ---- */

int
jmap_patch_apply(json_t *obj, json_t *patch, const char **bad_r)
{
	struct buf tok = BUF_INIT(0), full = BUF_INIT(0);
	const char *key;
	json_t *val;
	int r = 0;

	if (!json_is_object(obj) || !json_is_object(patch)) {
		*bad_r = "";
		return -1;
	}
	/* no key may be the prefix of another ("a" and "a/b") */
	json_object_foreach(patch, key, val) {
		for (const char *s = strchr(key, '/'); s != NULL;
		    s = strchr(s + 1, '/')) {
			buf_reset(&full);
			buf_add(&full, key, (size_t)(s - key));
			if (json_object_get(patch, buf_cstr(&full)) != NULL) {
				*bad_r = key;
				r = -1;
				goto out;
			}
		}
	}
	json_object_foreach(patch, key, val) {
		json_t *parent = obj;
		size_t pos = 0;
		bool top = true;

		buf_reset(&full);
		buf_add_str(&full, "/");
		buf_add_str(&full, key);
		for (;;) {
			pos++;	/* the '/' */
			if (next_token(buf_cstr(&full), &pos, &tok) < 0 ||
			    (tok.len > 0 &&
			    memchr(tok.data, '\0', tok.len) != NULL)) {
				*bad_r = key;
				r = -1;
				goto out;
			}
			if (full.data[pos] == '\0')
				break;
			/* a part before the last: an existing object */
			parent = json_object_get(parent, buf_cstr(&tok));
			if (!json_is_object(parent)) {
				*bad_r = key;
				r = -1;
				goto out;
			}
			top = false;
		}
		if (json_is_null(val) && !top)
			json_object_del(parent, buf_cstr(&tok));
		else
			json_object_set(parent, buf_cstr(&tok), val);
	}
out:
	buf_free(&tok);
	buf_free(&full);
	return r;
}
