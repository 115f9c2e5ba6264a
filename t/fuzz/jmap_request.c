/*
 * jmap_request.c - libFuzzer target for the JMAP core's pure parts
 * (imap-jmap/jmap_json.c): the Request object, result references with
 * JSON Pointer and "*", and patch objects.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: imap-jmap/jmap_json.c imap-jmap/jmap_email_names.c
 *
 * The input is a request body, parsed with small limits (4 calls, 64 KiB)
 * and core + mail known.  Each call is then run as Core/echo would: its
 * references resolved against the responses so far, and the resolved
 * arguments become its response, so later calls' references walk what
 * earlier calls supplied.  The arguments of the first call are patched
 * with those of the second, and every call's name is evaluated as a
 * pointer into the whole request.  Invariants checked, beyond "no
 * crash":
 *   - a refused request has a problem type of ours, status 400, the
 *     "limit" member exactly for limit, and no root left; an accepted one
 *     is an object whose calls are at most 4 of [String, Object, String],
 *     its capabilities among the known;
 *   - resolving never changes the call's own arguments; a success keeps
 *     every plain argument as it was and has a plain one for every "#"
 *     one (references resolved one level, never left as "#"); a failure
 *     is invalidArguments or invalidResultReference with a description;
 *   - a pointer without "*" gives the same as with "*" when the path
 *     holds no "*" token; "" gives the document itself;
 *   - a patch either fails naming one of its keys, or leaves an object;
 *   - Email's pure parts (jmap_email_names.c), over every member name
 *     and string in the calls' arguments: a header:... property that
 *     parses has a name of 1..JMAP_HNAME_MAX octets without ":" and
 *     "header:" name (":all") parses back to the same; a date that
 *     parses prints (jmap_date_utc) as one that parses to the same
 *     second; a snippet, with the call's name as a term, is NULL or
 *     holds a <mark> and no "<" outside the marks.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "imap-jmap/jmap_priv.h"

static const struct jmap_limits lim = {
	.max_size_upload = 1 << 20, .max_concurrent_upload = 1,
	.max_size_request = 64 << 10, .max_concurrent_requests = 1,
	.max_calls_in_request = 4, .max_objects_in_get = 10,
	.max_objects_in_set = 10,
};

static void
check_resolved(json_t *args, json_t *out)
{
	const char *k;
	json_t *v;

	json_object_foreach(args, k, v) {
		if (k[0] != '#') {
			ASSERT(json_equal(json_object_get(out, k), v));
		} else {
			ASSERT(json_object_get(out, k + 1) != NULL);
			ASSERT(json_object_get(args, k + 1) == NULL);
		}
	}
}

static bool
has_star_token(const char *p)
{
	for (const char *s = strchr(p, '/'); s != NULL; s = strchr(s + 1, '/'))
		if (s[1] == '*' && (s[2] == '/' || s[2] == '\0'))
			return true;
	return false;
}

static void
check_pointer(json_t *doc, const char *path)
{
	json_t *a = jmap_pointer_eval(doc, path, true);
	json_t *b = jmap_pointer_eval(doc, path, false);

	if (path[0] == '\0')
		ASSERT(a == doc && b == doc);
	if (!has_star_token(path))
		ASSERT((a == NULL) == (b == NULL) &&
		    (a == NULL || json_equal(a, b)));
	json_decref(a);
	json_decref(b);
}

static void
check_hprop(const char *s)
{
	struct jmap_hprop h, h2;
	char canon[JMAP_HNAME_MAX + 16];
	int n;

	if (jmap_hprop_parse(s, strlen(s), &h) < 0)
		return;
	ASSERT(h.name[0] != '\0' && strlen(h.name) <= JMAP_HNAME_MAX);
	ASSERT(strchr(h.name, ':') == NULL);
	ASSERT(h.form < JMAP_HF_COUNT);
	(void)jmap_hprop_form_ok(&h);
	if (h.form != JMAP_HF_RAW)
		return;
	n = snprintf(canon, sizeof(canon), "header:%s%s", h.name,
	    h.all ? ":all" : "");
	ASSERT(n > 0 && (size_t)n < sizeof(canon));
	ASSERT(jmap_hprop_parse(canon, (size_t)n, &h2) == 0);
	ASSERT(strcmp(h.name, h2.name) == 0 && h2.form == JMAP_HF_RAW &&
	    h2.all == h.all);
}

static void
check_date(const char *s)
{
	char out[JMAP_DATE_MAX];
	int64_t t, t2;

	if (jmap_date_parse(s, &t) < 0 || t < 0 || t > 253402300799)
		return;
	jmap_date_utc(t, out);
	ASSERT(jmap_date_parse(out, &t2) == 0 && t2 == t);
}

static void
check_snippet(const char *s, const char *term)
{
	char *terms[1] = { (char *)term };
	char *m = jmap_snippet_mark(s, terms, 1), *p;

	if (m == NULL)
		return;
	ASSERT(strstr(m, "<mark>") != NULL);
	for (p = strchr(m, '<'); p != NULL; p = strchr(p + 1, '<'))
		ASSERT(strncmp(p, "<mark>", 6) == 0 ||
		    strncmp(p, "</mark>", 7) == 0);
	free(m);
}

static void
check_email_parts(json_t *v, const char *term)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_string(v)) {
		check_hprop(json_string_value(v));
		check_date(json_string_value(v));
		check_snippet(json_string_value(v), term);
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, x) {
			check_hprop(k);
			check_email_parts(x, term);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			check_email_parts(x, term);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned known = JMAP_CAP_BIT(JMAP_CAP_CORE) |
	    JMAP_CAP_BIT(JMAP_CAP_MAIL);
	struct jmap_request r;
	struct jmap_problem p;
	json_t *responses, *call;
	size_t i;

	if (jmap_request_parse(data, size, &lim, known, &r, &p) < 0) {
		ASSERT(strncmp(p.type, JMAP_ERR_URN, strlen(JMAP_ERR_URN)) == 0);
		ASSERT(p.status == 400 && r.root == NULL);
		ASSERT((p.limit != NULL) ==
		    (strcmp(p.type, JMAP_ERR_URN "limit") == 0));
		return 0;
	}
	ASSERT(json_is_object(r.root) && json_is_array(r.calls));
	ASSERT(json_array_size(r.calls) <= lim.max_calls_in_request);
	ASSERT((r.using & ~known) == 0);
	responses = json_array();
	json_array_foreach(r.calls, i, call) {
		json_t *name = json_array_get(call, 0);
		json_t *args = json_array_get(call, 1);
		json_t *id = json_array_get(call, 2);
		json_t *copy = json_deep_copy(args), *out = NULL, *resp;
		struct buf desc = BUF_INIT(0);
		const char *type = NULL;

		ASSERT(json_is_string(name) && json_is_object(args) &&
		    json_is_string(id));
		check_pointer(r.root, json_string_value(name));
		check_email_parts(args, json_string_value(name));
		resp = json_array();
		if (jmap_refs_resolve(args, responses, &out, &type,
		    &desc) == 0) {
			check_resolved(args, out);
			json_array_append(resp, name);
			json_array_append_new(resp, out);
		} else {
			ASSERT(strcmp(type, "invalidArguments") == 0 ||
			    strcmp(type, "invalidResultReference") == 0);
			ASSERT(desc.len > 0);
			json_array_append_new(resp, json_string("error"));
			json_array_append_new(resp, json_object());
		}
		ASSERT(json_equal(copy, args));
		json_array_append(resp, id);
		json_array_append_new(responses, resp);
		json_decref(copy);
		buf_free(&desc);
	}
	if (json_array_size(r.calls) >= 2) {
		json_t *obj = json_deep_copy(json_array_get(json_array_get(
		    r.calls, 0), 1));
		json_t *patch = json_array_get(json_array_get(r.calls, 1), 1);
		const char *bad = NULL;

		if (jmap_patch_apply(obj, patch, &bad) < 0)
			ASSERT(bad != NULL && (bad[0] == '\0' ||
			    json_object_get(patch, bad) != NULL));
		else
			ASSERT(json_is_object(obj));
		json_decref(obj);
	}
	json_decref(responses);
	jmap_request_clear(&r);
	return 0;
}
