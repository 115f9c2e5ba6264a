/*
 * jmap_email_query.c - Email/query's filters and sorts (RFC 8621 4.4),
 * the query function of jmap_email_type; jmap_query.c cuts the window
 * (position, anchor, limit, calculateTotal) and answers queryChanges.
 *
 * Every email of the account is a candidate (jmap_email_list); each
 * one's record is read, and its stored MIME info only when a filter or
 * sort needs the header summary.  The text conditions (text, from, to,
 * cc, bcc, subject, body) run once each against the full-text index
 * (fts_search, docs are email numbers) before the walk, so a condition
 * is one bitmap lookup per email; "header" reads the email's header
 * block from the blob store.
 *
 * Decisions:
 *   - The thread keyword conditions (allInThreadHaveKeyword, ...) read
 *     each thread's emails once (a cache per query).
 *   - Sort ties are broken by email id, ascending, so a query is stable.
 *   - collapseThreads keeps the first email of each thread in the
 *     sorted list (4.4.3).
 *   - Booleans (hasKeyword and the thread ones) sort false before true
 *     ascending; from/to are the first address's name, else its email
 *     (4.4.2); subject is the RFC 5256 base subject.
 *   - A condition of the wrong type is unsupportedFilter with the
 *     reason (the core's filter walk has only that answer).
 * XXX every email of the account is read per query: a sorted index per
 * mailbox (receivedAt) would let inMailbox + receivedAt, the common
 * case, read only the window.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <roaring/roaring.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"
#include "store/fts.h"
#include "store/mime.h"

const char *const jmap_email_sorts[] = {
	"receivedAt", "size", "from", "to", "subject", "sentAt",
	"hasKeyword", "allInThreadHaveKeyword", "someInThreadHaveKeyword",
	NULL,
};

const struct jmap_arg jmap_email_query_args[] = {
	{ "collapseThreads", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

static const struct {
	const char *name;
	unsigned fields;
} text_conds[] = {
	{ "text", FTS_F_ANY },
	{ "from", FTS_F(FTS_FROM) },
	{ "to", FTS_F(FTS_TO) },
	{ "cc", FTS_F(FTS_CC) },
	{ "bcc", FTS_F(FTS_BCC) },
	{ "subject", FTS_F(FTS_SUBJECT) },
	{ "body", FTS_F(FTS_BODY) | FTS_F(FTS_ATTACHMENT) },
};
#define NTEXT (sizeof(text_conds) / sizeof(text_conds[0]))

/* ---- condition checks ---- */

static bool
is_kw(json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0 &&
	    json_string_length(v) <= MAIL_KEYWORD_MAX;
}

static const char *
cond_check(json_t *cond)
{
	const char *k;
	json_t *v;
	int64_t t;

	json_object_foreach(cond, k, v) {
		bool text = false;

		for (size_t i = 0; i < NTEXT; i++)
			if (strcmp(k, text_conds[i].name) == 0)
				text = true;
		if (text) {
			if (!json_is_string(v))
				return "a text condition must be a string";
		} else if (strcmp(k, "inMailbox") == 0) {
			if (!json_is_string(v))
				return "inMailbox must be an id";
		} else if (strcmp(k, "inMailboxOtherThan") == 0) {
			size_t i;
			json_t *x;

			if (!json_is_array(v))
				return "inMailboxOtherThan must be ids";
			json_array_foreach(v, i, x)
				if (!json_is_string(x))
					return "inMailboxOtherThan must be ids";
		} else if (strcmp(k, "before") == 0 ||
		    strcmp(k, "after") == 0) {
			if (!json_is_string(v) ||
			    jmap_date_parse(json_string_value(v), &t) < 0)
				return "before/after must be UTCDates";
		} else if (strcmp(k, "minSize") == 0 ||
		    strcmp(k, "maxSize") == 0) {
			if (!jmap_value_is_uint(v))
				return "minSize/maxSize must be UnsignedInts";
		} else if (strcmp(k, "hasKeyword") == 0 ||
		    strcmp(k, "notKeyword") == 0 ||
		    strcmp(k, "allInThreadHaveKeyword") == 0 ||
		    strcmp(k, "someInThreadHaveKeyword") == 0 ||
		    strcmp(k, "noneInThreadHaveKeyword") == 0) {
			if (!is_kw(v))
				return "a keyword condition must be a keyword";
		} else if (strcmp(k, "hasAttachment") == 0) {
			if (!json_is_boolean(v))
				return "hasAttachment must be a boolean";
		} else if (strcmp(k, "header") == 0) {
			if (!json_is_array(v) || json_array_size(v) < 1 ||
			    json_array_size(v) > 2 ||
			    !json_is_string(json_array_get(v, 0)) ||
			    (json_array_size(v) == 2 &&
			    !json_is_string(json_array_get(v, 1))))
				return "header must be [name] or [name, value]";
		} else {
			return "unknown filter condition";
		}
	}
	return NULL;
}

/* ---- per-email facts ---- */

struct row {
	uint32_t id, thread;
	uint64_t size;
	int64_t received, sent;
	bool has_att;
	struct mail_email em;
	char *from, *to, *subject;	/* sort keys, owned */
	struct mime_info *info;		/* while filtering only */
};

struct text_hit {
	json_t *cond;
	size_t which;			/* text_conds index */
	roaring_bitmap_t *bm;
};

struct thread_kw {
	uint32_t thread;
	uint32_t *flags;		/* per email of the thread */
	char ***kws;
	size_t *nkws;
	size_t n;
};

struct qctx {
	struct jmap_call *c;
	struct text_hit *hits;
	size_t nhits;
	struct thread_kw *threads;
	size_t nthreads;
	struct row *r;			/* the email being matched */
	struct buf *err;
	int failed;
	bool need_info;
};

static bool
has_kw(uint32_t flags, char *const *kws, size_t n, const char *kw)
{
	uint32_t f = mail_keyword_flag(kw);

	if (f != 0)
		return (flags & f) != 0;
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(kws[i], kw) == 0)
			return true;
	return false;
}

static struct thread_kw *
thread_of(struct qctx *q, uint32_t thread)
{
	struct mail *m = q->c->ctx->env->st->mail;
	struct thread_kw *tk;
	uint32_t *ids = NULL;
	size_t n = 0;

	for (size_t i = 0; i < q->nthreads; i++)
		if (q->threads[i].thread == thread)
			return &q->threads[i];
	if (mail_thread_get(m, q->c->acct, thread, &ids, &n, q->err) < 0) {
		q->failed = 1;
		return NULL;
	}
	q->threads = xreallocarray(q->threads, q->nthreads + 1,
	    sizeof(*q->threads));
	tk = &q->threads[q->nthreads++];
	memset(tk, 0, sizeof(*tk));
	tk->thread = thread;
	tk->flags = xcalloc(n ? n : 1, sizeof(*tk->flags));
	tk->kws = xcalloc(n ? n : 1, sizeof(*tk->kws));
	tk->nkws = xcalloc(n ? n : 1, sizeof(*tk->nkws));
	for (size_t i = 0; i < n; i++) {
		struct mail_email em;

		memset(&em, 0, sizeof(em));
		if (mail_email_get(m, q->c->acct, ids[i], &em, q->err) < 0)
			q->failed = 1;
		tk->flags[i] = em.flags;
		tk->kws[i] = em.keywords;
		tk->nkws[i] = em.nkeywords;
		em.keywords = NULL;
		em.nkeywords = 0;
		mail_email_clear(&em);
		tk->n++;
	}
	free(ids);
	return tk;
}

/* thread_kw_count - emails of r's thread with kw, and the total */
static size_t
thread_kw_count(struct qctx *q, struct row *r, const char *kw, size_t *n_r)
{
	struct thread_kw *tk = thread_of(q, r->thread);
	size_t k = 0;

	*n_r = 0;
	if (tk == NULL)
		return 0;
	for (size_t i = 0; i < tk->n; i++)
		if (has_kw(tk->flags[i], tk->kws[i], tk->nkws[i], kw))
			k++;
	*n_r = tk->n;
	return k;
}

static bool
header_match(struct qctx *q, struct row *r, json_t *v)
{
	struct store *st = q->c->ctx->env->st;
	const char *name = json_string_value(json_array_get(v, 0));
	const char *want = json_array_size(v) == 2 ?
	    json_string_value(json_array_get(v, 1)) : NULL;
	struct buf hdr = BUF_INIT(0);
	size_t pos = 0, no, nl, vo, vl;
	bool found = false;

	if (r->info == NULL || blob_get(st->blobs, &r->em.blob, 0,
	    r->info->parts[0].body_start, &hdr, q->err) != 1) {
		buf_free(&hdr);
		return false;
	}
	while (!found && mime_header_next(hdr.data, hdr.len, &pos, &no, &nl,
	    &vo, &vl)) {
		struct buf val = BUF_INIT(0);

		if (nl != strlen(name) || strncasecmp((const char *)hdr.data +
		    no, name, nl) != 0)
			continue;
		if (want == NULL)
			found = true;
		else {
			buf_add(&val, hdr.data + vo, vl);
			found = strcasestr(buf_cstr(&val), want) != NULL;
			buf_free(&val);
		}
	}
	buf_free(&hdr);
	return found;
}

static bool
cond_match(void *arg, json_t *cond)
{
	struct qctx *q = arg;
	struct row *r = q->r;
	const char *k;
	json_t *v;
	int64_t t;
	size_t n, have;
	uint32_t mb;

	json_object_foreach(cond, k, v) {
		const char *s = json_string_value(v);
		bool ok = true;

		if (strcmp(k, "inMailbox") == 0) {
			ok = false;
			if (jmap_id_resolve(q->c, 'M', s, &mb) == 0)
				for (size_t i = 0; i < r->em.nmembers; i++)
					if (r->em.members[i].mbox == mb)
						ok = true;
		} else if (strcmp(k, "inMailboxOtherThan") == 0) {
			ok = false;
			for (size_t i = 0; i < r->em.nmembers && !ok; i++) {
				size_t j;
				json_t *x;
				bool listed = false;

				json_array_foreach(v, j, x)
					if (jmap_id_resolve(q->c, 'M',
					    json_string_value(x), &mb) == 0 &&
					    mb == r->em.members[i].mbox)
						listed = true;
				ok = !listed;
			}
		} else if (strcmp(k, "before") == 0) {
			ok = jmap_date_parse(s, &t) == 0 && r->received < t;
		} else if (strcmp(k, "after") == 0) {
			ok = jmap_date_parse(s, &t) == 0 && r->received >= t;
		} else if (strcmp(k, "minSize") == 0) {
			ok = r->size >= (uint64_t)json_integer_value(v);
		} else if (strcmp(k, "maxSize") == 0) {
			ok = r->size < (uint64_t)json_integer_value(v);
		} else if (strcmp(k, "hasKeyword") == 0) {
			ok = has_kw(r->em.flags, r->em.keywords,
			    r->em.nkeywords, s);
		} else if (strcmp(k, "notKeyword") == 0) {
			ok = !has_kw(r->em.flags, r->em.keywords,
			    r->em.nkeywords, s);
		} else if (strcmp(k, "allInThreadHaveKeyword") == 0) {
			have = thread_kw_count(q, r, s, &n);
			ok = n > 0 && have == n;
		} else if (strcmp(k, "someInThreadHaveKeyword") == 0) {
			ok = thread_kw_count(q, r, s, &n) > 0;
		} else if (strcmp(k, "noneInThreadHaveKeyword") == 0) {
			ok = thread_kw_count(q, r, s, &n) == 0;
		} else if (strcmp(k, "hasAttachment") == 0) {
			ok = r->has_att == json_is_true(v);
		} else if (strcmp(k, "header") == 0) {
			ok = header_match(q, r, v);
		} else {
			ok = false;
			for (size_t i = 0; i < q->nhits; i++)
				if (q->hits[i].cond == cond &&
				    strcmp(text_conds[q->hits[i].which].name,
				    k) == 0)
					ok = roaring_bitmap_contains(
					    q->hits[i].bm, r->id);
		}
		if (!ok)
			return false;
	}
	return true;
}

/* ---- the full-text conditions ---- */

static void
collect_text(struct qctx *q, json_t *f)
{
	json_t *conds = json_object_get(f, "conditions"), *v;
	size_t i;

	if (json_object_get(f, "operator") != NULL) {
		json_array_foreach(conds, i, v)
			collect_text(q, v);
		return;
	}
	for (size_t k = 0; k < NTEXT; k++) {
		if (json_object_get(f, text_conds[k].name) == NULL)
			continue;
		q->hits = xreallocarray(q->hits, q->nhits + 1,
		    sizeof(*q->hits));
		q->hits[q->nhits].cond = f;
		q->hits[q->nhits].which = k;
		q->hits[q->nhits].bm = NULL;
		q->nhits++;
	}
	if (json_object_get(f, "hasAttachment") != NULL ||
	    json_object_get(f, "header") != NULL)
		q->need_info = true;
}

static int
search_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct qctx *q = arg;
	struct fts *fts = q->c->ctx->env->st->fts;

	for (size_t i = 0; i < q->nhits; i++) {
		json_t *v = json_object_get(q->hits[i].cond,
		    text_conds[q->hits[i].which].name);
		struct fts_query *fq = fts_query_term(
		    text_conds[q->hits[i].which].fields, json_string_value(v),
		    json_string_length(v), false);
		int r;

		if (q->hits[i].bm != NULL)
			roaring_bitmap_free(q->hits[i].bm);
		q->hits[i].bm = NULL;
		r = fts_search(fts, t, q->c->acct, fq, NULL, &q->hits[i].bm,
		    err);
		fts_query_free(&fq);
		if (r != 0)
			return r;
	}
	return 0;
}

/* ---- sorting ---- */

enum skey { S_RECEIVED, S_SIZE, S_FROM, S_TO, S_SUBJECT, S_SENT, S_KW,
	S_ALL_KW, S_SOME_KW };

struct cmp {
	enum skey key;
	bool asc, octet;
	const char *kw;
};

struct sorter {
	struct cmp *v;
	size_t n;
	struct qctx *q;
	struct row *rows;
	bool *kwv;			/* per cmp x row: keyword values */
	size_t nrows;
};

static int
cmp_str(const char *a, const char *b, bool octet)
{
	return octet ? strcmp(a, b) : strcasecmp(a, b);
}

static int
compare(const void *pa, const void *pb, void *arg)
{
	const struct sorter *s = arg;
	size_t ia = *(const size_t *)pa, ib = *(const size_t *)pb;
	const struct row *a = &s->rows[ia], *b = &s->rows[ib];

	for (size_t i = 0; i < s->n; i++) {
		const struct cmp *c = &s->v[i];
		int d = 0;

		switch (c->key) {
		case S_RECEIVED:
			d = (a->received > b->received) -
			    (a->received < b->received);
			break;
		case S_SIZE:
			d = (a->size > b->size) - (a->size < b->size);
			break;
		case S_SENT:
			d = (a->sent > b->sent) - (a->sent < b->sent);
			break;
		case S_FROM:
			d = cmp_str(a->from, b->from, c->octet);
			break;
		case S_TO:
			d = cmp_str(a->to, b->to, c->octet);
			break;
		case S_SUBJECT:
			d = cmp_str(a->subject, b->subject, c->octet);
			break;
		case S_KW:
		case S_ALL_KW:
		case S_SOME_KW:
			d = (int)s->kwv[i * s->nrows + ia] -
			    (int)s->kwv[i * s->nrows + ib];
			break;
		}
		if (d != 0)
			return c->asc ? d : -d;
	}
	return (a->id > b->id) - (a->id < b->id);
}

static int
sort_parse(json_t *sort, struct sorter *s, json_t **error_r)
{
	size_t i;
	json_t *c;

	s->n = 0;
	s->v = xcalloc(json_array_size(sort) + 1, sizeof(*s->v));
	json_array_foreach(sort, i, c) {
		json_t *p = json_object_get(c, "property");
		json_t *asc = json_object_get(c, "isAscending");
		json_t *col = json_object_get(c, "collation");
		json_t *kw = json_object_get(c, "keyword");
		const char *name = json_string_value(p);
		struct cmp *x = &s->v[s->n];
		size_t k, known = 1;

		if (!json_is_object(c) || name == NULL ||
		    (asc != NULL && !json_is_boolean(asc)) ||
		    (col != NULL && !json_is_string(col)) ||
		    (kw != NULL && !is_kw(kw))) {
			*error_r = jmap_error_obj("invalidArguments", "a "
			    "Comparator is {property, isAscending, collation, "
			    "keyword}");
			return -1;
		}
		known += (asc != NULL) + (col != NULL) + (kw != NULL);
		if (json_object_size(c) != known) {
			*error_r = jmap_error_obj("invalidArguments", "unknown "
			    "Comparator member");
			return -1;
		}
		for (k = 0; jmap_email_sorts[k] != NULL; k++)
			if (strcmp(jmap_email_sorts[k], name) == 0)
				break;
		if (jmap_email_sorts[k] == NULL) {
			*error_r = jmap_error_obj("unsupportedSort", "cannot "
			    "sort by \"%.64s\"", name);
			return -1;
		}
		x->key = (enum skey)k;
		if (x->key >= S_KW && kw == NULL) {
			*error_r = jmap_error_obj("invalidArguments", "%s needs "
			    "\"keyword\"", name);
			return -1;
		}
		if (col != NULL && strcmp(json_string_value(col),
		    "i;ascii-casemap") != 0 && strcmp(json_string_value(col),
		    "i;octet") != 0) {
			*error_r = jmap_error_obj("unsupportedSort", "unknown "
			    "collation");
			return -1;
		}
		x->asc = asc == NULL || json_is_true(asc);
		x->octet = col != NULL && strcmp(json_string_value(col),
		    "i;octet") == 0;
		x->kw = kw != NULL ? json_string_value(kw) : NULL;
		s->n++;
	}
	return 0;
}

/* ---- the query ---- */

static char *
addr_key(const struct mime_addr_list *l)
{
	for (uint32_t i = 0; i < l->n; i++) {
		const struct mime_addr *a = &l->v[i];
		struct buf b = BUF_INIT(0);

		if (a->kind != MIME_ADDR_MAILBOX)
			continue;
		if (a->name != NULL && a->name[0] != '\0')
			return xstrdup(a->name);
		buf_add_str(&b, a->local);
		buf_add_str(&b, "@");
		buf_add_str(&b, a->domain);
		return buf_steal(&b, NULL);
	}
	return xstrdup("");
}

static void
row_clear(struct row *r)
{
	mail_email_clear(&r->em);
	mime_info_free(&r->info);
	free(r->from);
	free(r->to);
	free(r->subject);
}

static void
qctx_clear(struct qctx *q)
{
	for (size_t i = 0; i < q->nhits; i++)
		if (q->hits[i].bm != NULL)
			roaring_bitmap_free(q->hits[i].bm);
	free(q->hits);
	for (size_t i = 0; i < q->nthreads; i++) {
		for (size_t k = 0; k < q->threads[i].n; k++) {
			for (size_t j = 0; j < q->threads[i].nkws[k]; j++)
				free(q->threads[i].kws[k][j]);
			free(q->threads[i].kws[k]);
		}
		free(q->threads[i].flags);
		free(q->threads[i].kws);
		free(q->threads[i].nkws);
	}
	free(q->threads);
}

int
jmap_email_query(struct jmap_call *c, json_t *filter, json_t *sort,
    uint32_t **ids_r, size_t *n_r, json_t **error_r, struct buf *err)
{
	struct mail *m = c->ctx->env->st->mail;
	struct qctx q;
	struct sorter s;
	struct row *rows = NULL;
	roaring_bitmap_t *seen;
	uint32_t *all = NULL, *out;
	size_t nall = 0, nrows = 0, *order, k = 0;
	bool collapse = json_is_true(jmap_arg_get(c, "collapseThreads"));
	int ret = 0;

	memset(&q, 0, sizeof(q));
	memset(&s, 0, sizeof(s));
	q.c = c;
	q.err = err;
	if (filter != NULL && jmap_filter_check(filter, cond_check,
	    error_r) < 0)
		return 0;
	if (sort != NULL && sort_parse(sort, &s, error_r) < 0) {
		free(s.v);
		return 0;
	}
	if (sort == NULL) {	/* default: receivedAt descending */
		s.v = xcalloc(1, sizeof(*s.v));
		s.v[0].key = S_RECEIVED;
		s.n = 1;
	}
	for (size_t i = 0; i < s.n; i++)
		if (s.v[i].key == S_FROM || s.v[i].key == S_TO ||
		    s.v[i].key == S_SUBJECT || s.v[i].key == S_SENT)
			q.need_info = true;
	if (filter != NULL)
		collect_text(&q, filter);
	if (q.nhits > 0 && kv_run(c->ctx->env->st->kv, KV_READ, search_txn,
	    &q, err) < 0)
		ret = -1;
	if (ret == 0 && jmap_email_list(c, &all, &nall, err) < 0)
		ret = -1;
	if (ret == 0)
		rows = xcalloc(nall ? nall : 1, sizeof(*rows));
	for (size_t i = 0; ret == 0 && i < nall; i++) {
		struct row *r = &rows[nrows];
		int g;

		memset(r, 0, sizeof(*r));
		g = mail_email_get(m, c->acct, all[i], &r->em, err);
		if (g < 0) {
			ret = -1;
			break;
		}
		if (g == 0)
			continue;	/* gone since the listing */
		r->id = all[i];
		r->thread = r->em.thread;
		r->size = r->em.size;
		r->received = r->em.received_at;
		r->sent = r->em.received_at;
		if (q.need_info && mail_email_mime(m, c->acct, r->id, &r->info,
		    err) < 0) {
			row_clear(r);
			ret = -1;
			break;
		}
		if (r->info != NULL) {
			const struct mime_headers *h = &r->info->hdr;

			r->has_att = r->info->has_attachment;
			if (h->has_date)
				r->sent = h->date;
			r->from = addr_key(&h->from);
			r->to = addr_key(&h->to);
			r->subject = xstrdup(h->base_subject != NULL ?
			    h->base_subject : "");
		} else {
			r->from = xstrdup("");
			r->to = xstrdup("");
			r->subject = xstrdup("");
		}
		q.r = r;
		if (filter != NULL && !jmap_filter_match(filter, cond_match,
		    &q)) {
			row_clear(r);
			continue;
		}
		if (q.failed) {
			row_clear(r);
			ret = -1;
			break;
		}
		mime_info_free(&r->info);
		nrows++;
	}
	free(all);
	if (ret == 0) {
		order = xcalloc(nrows ? nrows : 1, sizeof(*order));
		s.q = &q;
		s.rows = rows;
		s.nrows = nrows;
		s.kwv = xcalloc(s.n * nrows + 1, sizeof(*s.kwv));
		for (size_t i = 0; i < s.n; i++) {
			if (s.v[i].key < S_KW)
				continue;
			for (size_t j = 0; j < nrows; j++) {
				size_t tot, have;

				if (s.v[i].key == S_KW) {
					s.kwv[i * nrows + j] = has_kw(
					    rows[j].em.flags, rows[j].em.keywords,
					    rows[j].em.nkeywords, s.v[i].kw);
					continue;
				}
				have = thread_kw_count(&q, &rows[j], s.v[i].kw,
				    &tot);
				s.kwv[i * nrows + j] = s.v[i].key == S_ALL_KW ?
				    tot > 0 && have == tot : have > 0;
			}
		}
		for (size_t i = 0; i < nrows; i++)
			order[i] = i;
		qsort_r(order, nrows, sizeof(*order), compare, &s);
		out = xcalloc(nrows ? nrows : 1, sizeof(*out));
		seen = roaring_bitmap_create();
		for (size_t i = 0; i < nrows; i++) {
			uint32_t th = rows[order[i]].thread;

			if (collapse && roaring_bitmap_contains(seen, th))
				continue;
			roaring_bitmap_add(seen, th);
			out[k++] = rows[order[i]].id;
		}
		roaring_bitmap_free(seen);
		*ids_r = out;
		*n_r = k;
		free(order);
		free(s.kwv);
		if (q.failed)
			ret = -1;
	}
	for (size_t i = 0; i < nrows; i++)
		row_clear(&rows[i]);
	free(rows);
	free(s.v);
	qctx_clear(&q);
	return ret;
}
