/*
 * jmap_query.c - /query and /queryChanges (RFC 8620 5.5, 5.6) for the
 * types of jmap_std.c, and the filter and sort checks their query
 * functions share.
 *
 * Decisions:
 *   - The type's query function returns the matching ids in order; the
 *     window (position or anchor and anchorOffset, limit) is cut here, at
 *     most QUERY_LIMIT_MAX ids (then "limit" says so).  A query function
 *     that reads its results in order may stop early and return only the
 *     first ones (struct jmap_qwin in c->qwin, jmap_qwin_covered: one
 *     past the window, the total when asked for), so a page of an
 *     indexed query costs the page.  The query state is the type's
 *     state, so canCalculateChanges is always true.
 *   - /queryChanges (5.6) needs no stored query state: since the query
 *     state is the type's state, it lists as removed every id updated or
 *     destroyed since, and as added every id of the current results
 *     created or updated since, with its index.  That is the superset the
 *     RFC allows (an unmoved id removed and added again), exact for any
 *     filter and sort whose answer for an object depends on that object
 *     only.  Email's collapseThreads and thread keyword conditions also
 *     depend on the other emails of its thread: for those Email adds
 *     every email of the threads touched since
 *     (jmap_email_query_changes_more), or an email pushed out of the
 *     results by a newer one of its thread would never be removed.
 *     upToId is accepted and not used.  More than MAIL_CHANGES_MAX
 *     changes since: cannotCalculateChanges.
 *   - Collations: i;ascii-casemap (the default for strings) and i;octet,
 *     what the session advertises.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

#define QUERY_LIMIT_MAX 10000u	/* ids in one /query answer */

static const char *const collations[] = { "i;ascii-casemap", "i;octet",
	NULL };

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
		if (!jmap_in_list(props, json_string_value(p))) {
			*error_r = jmap_error_obj("unsupportedSort", "cannot "
			    "sort by \"%.64s\"", json_string_value(p));
			return -1;
		}
		if (col != NULL && !jmap_in_list(collations,
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

bool
jmap_qwin_covered(const struct jmap_qwin *w, size_t n, size_t anchor_at,
    size_t total)
{
	size_t start;

	if (w->want_total && total == SIZE_MAX)
		return false;
	if (w->has_anchor) {
		json_int_t o = w->anchor_offset;

		if (!w->anchor_ok || anchor_at == SIZE_MAX)
			return false;
		start = o < 0 && (size_t)-o > anchor_at ? 0 :
		    o < 0 ? anchor_at - (size_t)-o : anchor_at + (size_t)o;
	} else if (w->position >= 0) {
		start = (size_t)w->position;
	} else {
		if (total == SIZE_MAX)
			return false;
		start = (size_t)-w->position > total ? 0 :
		    total - (size_t)-w->position;
	}
	/* one past the window: jmap_std_query's window math then comes out
	 * as over the whole list, "limit" (more than the cap) included */
	return start <= n && n - start > w->limit;
}

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

/* qwin_init - the window of c's arguments, for the type's query */
static void
qwin_init(struct jmap_call *c, const struct jmap_type *t, struct jmap_qwin *w)
{
	json_t *pos = jmap_arg_get(c, "position");
	json_t *anchor = jmap_arg_get(c, "anchor");
	json_t *off = jmap_arg_get(c, "anchorOffset");
	json_t *lim = jmap_arg_get(c, "limit");

	memset(w, 0, sizeof(*w));
	w->position = pos != NULL ? json_integer_value(pos) : 0;
	w->has_anchor = anchor != NULL;
	w->anchor_ok = anchor != NULL && jmap_id_resolve(c, t->prefix,
	    json_string_value(anchor), &w->anchor) == 0;
	w->anchor_offset = off != NULL ? json_integer_value(off) : 0;
	w->limit = QUERY_LIMIT_MAX;
	if (lim != NULL && json_integer_value(lim) < QUERY_LIMIT_MAX)
		w->limit = (size_t)json_integer_value(lim);
	w->want_total = json_is_true(jmap_arg_get(c, "calculateTotal"));
	w->total = SIZE_MAX;
}

int
jmap_std_query(struct jmap_call *c, const struct jmap_type *t, struct buf *err)
{
	struct jmap_qwin w;
	json_t *anchor, *res, *ids_out, *lim;
	uint32_t *ids, an;
	size_t n, start, count, total;
	char state[24], id[JMAP_ID_MAX];
	int rc;

	if (jmap_args_check(c, query_args, t->query_args) < 0)
		return 0;
	if (jmap_std_state(c, t, state, err) < 0)
		return -1;
	qwin_init(c, t, &w);
	c->qwin = &w;
	rc = run_query(c, t, &ids, &n, err);
	c->qwin = NULL;
	if (rc <= 0)
		return rc;
	/* ids may be the first results only (jmap_qwin_covered): n is then
	 * past the window, so what follows comes out the same */
	total = w.prefix ? w.total : n;
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

		start = p < 0 ? ((size_t)-p > total ? 0 : total - (size_t)-p) :
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
		json_object_set_new(res, "total",
		    json_integer((json_int_t)total));
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

/* sort_unique - v sorted, duplicates out; the count left */
static size_t
sort_unique(uint32_t *v, size_t n)
{
	size_t k = 0;

	qsort(v, n, sizeof(*v), cmp_u32);
	for (size_t i = 0; i < n; i++)
		if (k == 0 || v[k - 1] != v[i])
			v[k++] = v[i];
	return k;
}

int
jmap_std_query_changes(struct jmap_call *c, const struct jmap_type *t,
    struct buf *err)
{
	struct mail_changes ch;
	const char *since_s;
	uint64_t since;
	uint32_t *ids, *changed, *created, *more = NULL;
	size_t n, nchanged, max, nadded = 0, nmore = 0;
	json_t *removed, *added, *res;
	char state[24], id[JMAP_ID_MAX];
	int rc;

	if (jmap_args_check(c, query_changes_args, t->query_args) < 0 ||
	    jmap_std_max_changes(c, &max) < 0)
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
	/* the type's own additions: emails moved by their threads */
	if (t->query == jmap_email_query &&
	    (rc = jmap_email_query_changes_more(c, jmap_arg_get(c, "filter"),
	    jmap_arg_get(c, "sort"), &ch, since, &more, &nmore, err)) != 0) {
		mail_changes_clear(&ch);
		free(ids);
		if (rc < 0)
			return -1;
		jmap_error(c, "cannotCalculateChanges", "too many thread "
		    "changes since %.64s", since_s);
		return 0;
	}
	nchanged = ch.ncreated + ch.nupdated + nmore;
	changed = xcalloc(nchanged + 1, sizeof(*changed));
	if (ch.ncreated > 0)
		memcpy(changed, ch.created, ch.ncreated * sizeof(*changed));
	if (ch.nupdated > 0)
		memcpy(changed + ch.ncreated, ch.updated,
		    ch.nupdated * sizeof(*changed));
	if (nmore > 0)
		memcpy(changed + ch.ncreated + ch.nupdated, more,
		    nmore * sizeof(*changed));
	nchanged = sort_unique(changed, nchanged);
	created = xcalloc(ch.ncreated + 1, sizeof(*created));
	if (ch.ncreated > 0)
		memcpy(created, ch.created, ch.ncreated * sizeof(*created));
	qsort(created, ch.ncreated, sizeof(*created), cmp_u32);
	removed = jmap_std_id_array(t->prefix, ch.destroyed, ch.ndestroyed);
	/* updated or moved: removed, and added again where they are now
	 * (5.6: ids in removed that are still in the results are in added
	 * too); created ones were in no old result */
	for (size_t i = 0; i < nchanged; i++) {
		if (bsearch(&changed[i], created, ch.ncreated,
		    sizeof(*changed), cmp_u32) != NULL)
			continue;
		jmap_id_make(t->prefix, changed[i], id);
		json_array_append_new(removed, json_string(id));
	}
	free(more);
	free(created);
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
