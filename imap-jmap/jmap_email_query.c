/*
 * jmap_email_query.c - Email/query's filters and sorts (RFC 8621 4.4),
 * the query function of jmap_email_type; jmap_query.c cuts the window
 * (position, anchor, limit, calculateTotal) and answers queryChanges.
 *
 * Two ways to an answer, both in one read transaction (one snapshot):
 *
 *   - The mailbox walk, for what clients ask all the time: a filter
 *     naming one mailbox (inMailbox, alone or in an AND), sorted by
 *     receivedAt (the default), threads collapsed or not.  The mailbox's
 *     receivedAt index (store/mail_order.c, 'O') yields its emails
 *     already in order with their threads; with inMailbox alone no email
 *     record is read at all, and the total is the mailbox record's count
 *     of emails or of threads.  Other conditions in the AND are checked
 *     on each email as the walk reaches it.  The walk stops as soon as
 *     the window /query asked for is complete (c->qwin,
 *     jmap_qwin_covered), so a page of 50 reads 51 index keys, plus the
 *     emails skipped before it, plus with a filter one record each.
 *   - The general path for any other filter or sort: the candidates are
 *     the mailbox's emails (its 'U' keys) when the filter names one, else
 *     every email of the account (jmap_email_list); each one's record is
 *     read, and its stored MIME info only when a filter or sort needs the
 *     header summary; then sort and collapse.
 *
 * The text conditions (text, from, to, cc, bcc, subject, body) run once
 * each against the full-text index (fts_search, docs are email numbers)
 * at the start, so a condition is one bitmap lookup per email; "header"
 * reads the email's header block from the blob store.  A debug log line
 * per query names the way taken and the keys and records read.
 *
 * Decisions:
 *   - The thread keyword conditions (allInThreadHaveKeyword, ...) read
 *     each thread's emails once (a cache per query).
 *   - Sort ties are broken by email id, ascending, so a query is stable;
 *     the index sorts ties the same way, so both ways give the same
 *     list, window and total (t/integration/test_jmap_query.py).
 *   - collapseThreads keeps the first email of each thread in the
 *     sorted list (4.4.3).
 *   - Booleans (hasKeyword and the thread ones) sort false before true
 *     ascending; from/to are the first address's name, else its email
 *     (4.4.2); subject is the RFC 5256 base subject.
 *   - A condition of the wrong type is unsupportedFilter with the
 *     reason (the core's filter walk has only that answer).
 *   - A mailbox whose index is not whole (a store from before it) has
 *     it rebuilt by the first walk that finds it so.
 * XXX no filter at all (the whole account by receivedAt) takes the
 *     general path: a merge of the mailboxes' indexes (an email in two
 *     mailboxes once) would serve it, but the total of distinct emails
 *     has no counter yet.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <roaring/roaring.h>

#include "common/log.h"
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
	char *from, *to, *subject;	/* sort keys, owned; NULL = "" */
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
	struct kv_txn *t;		/* the query's read transaction */
	struct text_hit *hits;
	size_t nhits;
	struct thread_kw *threads;
	size_t nthreads;
	struct row *r;			/* the email being matched */
	struct buf *err;
	int failed;			/* the first error (-1, KV_CONFLICT) */
	bool need_info;
	size_t loaded;			/* email records read */
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

static void
fail(struct qctx *q, int r)
{
	if (q->failed == 0)
		q->failed = r < 0 ? r : -1;
}

static struct thread_kw *
thread_of(struct qctx *q, uint32_t thread)
{
	struct thread_kw *tk;
	uint32_t *ids = NULL;
	size_t n = 0;
	int r;

	for (size_t i = 0; i < q->nthreads; i++)
		if (q->threads[i].thread == thread)
			return &q->threads[i];
	if ((r = mail_thread_get_txn(q->t, q->c->acct, thread, &ids, &n,
	    q->err)) < 0) {
		fail(q, r);
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
		if ((r = mail_email_get_txn(q->t, q->c->acct, ids[i], &em,
		    q->err)) < 0)
			fail(q, r);
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
search_hits(struct qctx *q, struct kv_txn *t, struct buf *err)
{
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
	if (a == NULL)
		a = "";
	if (b == NULL)
		b = "";
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

/* ---- one email ---- */

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
	return NULL;
}

static void
row_clear(struct row *r)
{
	mail_email_clear(&r->em);
	mime_info_free(&r->info);
	free(r->from);
	free(r->to);
	free(r->subject);
	memset(r, 0, sizeof(*r));
}

/* row_load - email id's facts inside q->t: 1, 0 when it is gone, or
 * -1/KV_CONFLICT */
static int
row_load(struct qctx *q, uint32_t id, struct row *r)
{
	struct mail_email *em = &r->em;
	int g;

	memset(r, 0, sizeof(*r));
	if ((g = mail_email_get_txn(q->t, q->c->acct, id, em, q->err)) <= 0)
		return g;
	q->loaded++;
	r->id = id;
	r->thread = em->thread;
	r->size = em->size;
	r->received = em->received_at;
	r->sent = em->received_at;
	if (q->need_info && (g = mail_email_mime_txn(q->t, q->c->acct, id,
	    &r->info, q->err)) < 0) {
		row_clear(r);
		return g;
	}
	if (r->info != NULL) {
		const struct mime_headers *h = &r->info->hdr;

		r->has_att = r->info->has_attachment;
		if (h->has_date)
			r->sent = h->date;
		r->from = addr_key(&h->from);
		r->to = addr_key(&h->to);
		if (h->base_subject != NULL)
			r->subject = xstrdup(h->base_subject);
	}
	return 1;
}

/* row_match - r passes filter (NULL: everything); false on an error,
 * then q->failed */
static bool
row_match(struct qctx *q, struct row *r, json_t *filter)
{
	bool ok;

	if (filter == NULL)
		return true;
	q->r = r;
	ok = jmap_filter_match(filter, cond_match, q);
	q->r = NULL;
	return ok && q->failed == 0;
}

static void
qctx_threads_clear(struct qctx *q)
{
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
	q->threads = NULL;
	q->nthreads = 0;
}

static void
qctx_clear(struct qctx *q)
{
	for (size_t i = 0; i < q->nhits; i++)
		if (q->hits[i].bm != NULL)
			roaring_bitmap_free(q->hits[i].bm);
	free(q->hits);
	qctx_threads_clear(q);
}

/* qctx_begin - a (new) attempt of the query's transaction t */
static int
qctx_begin(struct qctx *q, struct kv_txn *t, struct buf *err)
{
	qctx_threads_clear(q);
	q->t = t;
	q->failed = 0;
	q->loaded = 0;
	return search_hits(q, t, err);
}

/* ---- the result list ---- */

struct out {
	uint32_t *ids;
	size_t n, cap;
};

static void
out_push(struct out *o, uint32_t id)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 64;
		o->ids = xreallocarray(o->ids, o->cap, sizeof(*o->ids));
	}
	o->ids[o->n++] = id;
}

/* ---- the mailbox walk ---- */

struct walk {
	struct qctx *q;
	json_t *filter;		/* NULL: the mailbox's emails, all of them */
	uint32_t mbox;
	bool oldest_first, collapse;
	roaring_bitmap_t *seen;	/* threads in the results (collapse) */
	struct out out;
	size_t anchor_at;	/* index in out, SIZE_MAX: not yet */
	size_t total;		/* every result, SIZE_MAX: not known */
	size_t scanned;		/* index keys read */
	bool stopped;		/* out holds the window, not every result */
	bool incomplete;	/* the index is not whole: rebuild it */
	bool whole;		/* read it all (for the order cache) */
	bool cached;		/* out came from the order cache */
	struct jmap_order_key key;
};

/* deeper than this, a page of the whole mailbox reads and keeps the
 * whole order (jmap_order_cache.c) */
#define WALK_DEEP 1000

static int
walk_entry(void *arg, const struct mail_order_entry *e)
{
	struct walk *w = arg;
	struct qctx *q = w->q;
	const struct jmap_qwin *qw = q->c->qwin;

	w->scanned++;
	/* a thread already given hides the rest, matching or not */
	if (w->collapse && roaring_bitmap_contains(w->seen, e->thread))
		return 0;
	if (w->filter != NULL) {
		struct row r;
		int g = row_load(q, e->email, &r);
		bool ok;

		if (g < 0) {
			fail(q, g);
			return -1;
		}
		if (g == 0) {		/* an index without its email */
			buf_addf(q->err, "receivedAt index: email %u missing",
			    e->email);
			fail(q, -1);
			return -1;
		}
		ok = row_match(q, &r, w->filter);
		row_clear(&r);
		if (q->failed != 0)
			return -1;
		if (!ok)
			return 0;
	}
	if (w->collapse)
		roaring_bitmap_add(w->seen, e->thread);
	out_push(&w->out, e->email);
	if (qw != NULL && qw->anchor_ok && e->email == qw->anchor)
		w->anchor_at = w->out.n - 1;
	if (qw != NULL && !w->whole && jmap_qwin_covered(qw, w->out.n,
	    w->anchor_at, w->total)) {
		w->stopped = true;
		return 1;
	}
	return 0;
}

static int
walk_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct walk *w = arg;
	struct qctx *q = w->q;
	struct mail_mailbox mb;
	uint64_t indexed;
	uint32_t *ids;
	size_t n;
	int r;

	w->out.n = 0;
	w->anchor_at = SIZE_MAX;
	w->total = SIZE_MAX;
	w->scanned = 0;
	w->stopped = w->incomplete = w->cached = false;
	roaring_bitmap_clear(w->seen);
	if ((r = qctx_begin(q, t, err)) < 0)
		return r;
	if ((r = mail_mailbox_get_txn(t, q->c->acct, w->mbox, &mb, err)) <= 0)
		return r;		/* no such mailbox: nothing in it */
	if ((r = mail_order_count_txn(t, q->c->acct, w->mbox, &indexed,
	    err)) < 0) {
		mail_mailbox_clear(&mb);
		return r;
	}
	if (indexed != mb.total) {
		w->incomplete = true;
		mail_mailbox_clear(&mb);
		return 0;
	}
	/* the mailbox alone: the record counts what the walk would */
	if (w->filter == NULL)
		w->total = w->collapse ? mb.threads : mb.total;
	w->key = (struct jmap_order_key){ q->c->acct, w->mbox,
		w->oldest_first, mb.uidvalidity, mb.uidnext, mb.total,
		mb.highestmodseq };
	mail_mailbox_clear(&mb);
	if (w->whole && jmap_order_cache_get(q->c->ctx->env->order_cache,
	    &w->key, &ids, &n)) {
		free(w->out.ids);
		w->out = (struct out){ ids, n, n };
		w->cached = true;
		return 0;
	}
	r = mail_order_scan_txn(t, q->c->acct, w->mbox, w->oldest_first,
	    walk_entry, w, err);
	if (q->failed != 0)
		return q->failed;
	return r;
}

/* deep - the window lies past WALK_DEEP results (or needs the end or
 * an anchor): worth the whole order, once */
static bool
deep(const struct jmap_qwin *qw)
{
	return qw != NULL && (qw->has_anchor || qw->position < 0 ||
	    (uint64_t)qw->position + qw->limit > WALK_DEEP);
}

/* walk - the results from mbox's index: 1 done, 0 when the index
 * cannot serve (the general path then), -1 */
static int
walk(struct qctx *q, json_t *filter, uint32_t mbox, bool oldest_first,
    bool collapse, struct out *o, struct buf *err)
{
	struct jmap_ctx *ctx = q->c->ctx;
	struct kv *kv = ctx->env->st->kv;
	struct walk w;
	int r;

	memset(&w, 0, sizeof(w));
	w.q = q;
	w.filter = filter;
	w.mbox = mbox;
	w.oldest_first = oldest_first;
	w.collapse = collapse;
	w.whole = filter == NULL && !collapse &&
	    ctx->env->order_cache != NULL && deep(q->c->qwin);
	w.seen = roaring_bitmap_create();
	for (int attempt = 0;; attempt++) {
		r = kv_run(kv, KV_READ, walk_txn, &w, err);
		if (r < 0 || !w.incomplete)
			break;
		if (attempt > 0) {	/* rebuilt, and still not whole */
			r = 0;
			goto out;
		}
		log_info(JMAP_SVC, "%s: mailbox %u: building its receivedAt "
		    "index", ctx->log_id, mbox);
		if ((r = mail_order_rebuild(ctx->env->st->mail, q->c->acct,
		    mbox, err)) < 0)
			break;
	}
	if (r < 0)
		goto out;
	if (w.stopped) {
		q->c->qwin->prefix = true;
		q->c->qwin->total = w.total;
	}
	if (w.whole && !w.cached)
		jmap_order_cache_put(ctx->env->order_cache, &w.key, w.out.ids,
		    w.out.n);
	log_debug(JMAP_SVC, "%s: Email/query: path=%s, mailbox=%u, "
	    "scanned=%zu, loaded=%zu, results=%zu%s", ctx->log_id,
	    w.cached ? "cache" : "index", mbox, w.scanned, q->loaded,
	    w.out.n, w.stopped ? "+" : "");
	*o = w.out;
	w.out.ids = NULL;
	r = 1;
out:
	free(w.out.ids);
	roaring_bitmap_free(w.seen);
	return r;
}

/* ---- the general path ---- */

struct general {
	struct qctx *q;
	json_t *filter;
	struct sorter *s;
	bool collapse;
	uint32_t mbox;		/* the candidates: mbox's emails, or */
	const uint32_t *all;	/* these (mbox 0) */
	size_t nall;
	struct out cand;	/* mbox's, from its 'U' keys */
	struct row *rows;
	size_t nrows;
	struct out out;
};

static int
general_cand(void *arg, const struct mail_msg *msg)
{
	struct general *g = arg;

	out_push(&g->cand, msg->email);
	return 0;
}

static void
general_reset(struct general *g)
{
	for (size_t i = 0; i < g->nrows; i++)
		row_clear(&g->rows[i]);
	free(g->rows);
	g->rows = NULL;
	g->nrows = 0;
	g->out.n = 0;
	g->cand.n = 0;
}

/* general_sort - g's rows in order, collapsed, into g->out */
static void
general_sort(struct general *g)
{
	struct sorter *s = g->s;
	struct qctx *q = g->q;
	size_t nrows = g->nrows, *order;
	roaring_bitmap_t *seen;

	order = xcalloc(nrows ? nrows : 1, sizeof(*order));
	s->q = q;
	s->rows = g->rows;
	s->nrows = nrows;
	s->kwv = xcalloc(s->n * nrows + 1, sizeof(*s->kwv));
	for (size_t i = 0; i < s->n; i++) {
		if (s->v[i].key < S_KW)
			continue;
		for (size_t j = 0; j < nrows; j++) {
			struct row *r = &g->rows[j];
			size_t tot, have;

			if (s->v[i].key == S_KW) {
				s->kwv[i * nrows + j] = has_kw(r->em.flags,
				    r->em.keywords, r->em.nkeywords,
				    s->v[i].kw);
				continue;
			}
			have = thread_kw_count(q, r, s->v[i].kw, &tot);
			s->kwv[i * nrows + j] = s->v[i].key == S_ALL_KW ?
			    tot > 0 && have == tot : have > 0;
		}
	}
	for (size_t i = 0; i < nrows; i++)
		order[i] = i;
	qsort_r(order, nrows, sizeof(*order), compare, s);
	seen = roaring_bitmap_create();
	for (size_t i = 0; i < nrows; i++) {
		uint32_t th = g->rows[order[i]].thread;

		if (g->collapse && roaring_bitmap_contains(seen, th))
			continue;
		roaring_bitmap_add(seen, th);
		out_push(&g->out, g->rows[order[i]].id);
	}
	roaring_bitmap_free(seen);
	free(order);
	free(s->kwv);
	s->kwv = NULL;
}

static int
general_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct general *g = arg;
	struct qctx *q = g->q;
	const uint32_t *ids = g->all;
	size_t n = g->nall;
	int r;

	general_reset(g);
	if ((r = qctx_begin(q, t, err)) < 0)
		return r;
	if (g->mbox != 0) {
		if ((r = mail_msg_list_txn(t, q->c->acct, g->mbox, 1,
		    general_cand, g, err)) < 0)
			return r;
		ids = g->cand.ids;
		n = g->cand.n;
	}
	g->rows = xcalloc(n ? n : 1, sizeof(*g->rows));
	for (size_t i = 0; i < n; i++) {
		struct row *row = &g->rows[g->nrows];

		if ((r = row_load(q, ids[i], row)) < 0)
			return r;
		if (r == 0)
			continue;	/* gone since the listing */
		if (!row_match(q, row, g->filter)) {
			row_clear(row);
			if (q->failed != 0)
				return q->failed;
			continue;
		}
		mime_info_free(&row->info);
		g->nrows++;
	}
	general_sort(g);
	return q->failed;
}

static int
general(struct qctx *q, json_t *filter, struct sorter *s, bool collapse,
    uint32_t mbox, struct out *o, struct buf *err)
{
	struct jmap_ctx *ctx = q->c->ctx;
	struct general g;
	uint32_t *all = NULL;
	size_t nall = 0;
	int r;

	memset(&g, 0, sizeof(g));
	if (mbox == 0 && jmap_email_list(q->c, &all, &nall, err) < 0)
		return -1;
	g.q = q;
	g.filter = filter;
	g.s = s;
	g.collapse = collapse;
	g.mbox = mbox;
	g.all = all;
	g.nall = nall;
	r = kv_run(ctx->env->st->kv, KV_READ, general_txn, &g, err);
	if (r == 0) {
		log_debug(JMAP_SVC, "%s: Email/query: path=general, "
		    "mailbox=%u, loaded=%zu, results=%zu", ctx->log_id, mbox,
		    q->loaded, g.out.n);
		*o = g.out;
		g.out.ids = NULL;
	}
	general_reset(&g);
	free(g.out.ids);
	free(g.cand.ids);
	free(all);
	return r;
}

/* ---- the query ---- */

/*
 * source_mailbox - the mailbox every result must be in: a condition with
 * inMailbox, or one directly in an AND.  1 with *mbox_r, 0 none, -1
 * when it names no mailbox of ours (so nothing matches).
 */
static int
source_mailbox(struct jmap_call *c, json_t *filter, uint32_t *mbox_r)
{
	json_t *op, *v, *in;
	size_t i;

	if (filter == NULL)
		return 0;
	op = json_object_get(filter, "operator");
	if (op == NULL) {
		in = json_object_get(filter, "inMailbox");
		if (in == NULL)
			return 0;
		return jmap_id_resolve(c, 'M', json_string_value(in),
		    mbox_r) == 0 ? 1 : -1;
	}
	if (strcmp(json_string_value(op), "AND") != 0)
		return 0;
	json_array_foreach(json_object_get(filter, "conditions"), i, v) {
		if (json_object_get(v, "operator") != NULL ||
		    (in = json_object_get(v, "inMailbox")) == NULL)
			continue;
		return jmap_id_resolve(c, 'M', json_string_value(in),
		    mbox_r) == 0 ? 1 : -1;
	}
	return 0;
}

int
jmap_email_query(struct jmap_call *c, json_t *filter, json_t *sort,
    uint32_t **ids_r, size_t *n_r, json_t **error_r, struct buf *err)
{
	struct qctx q;
	struct sorter s;
	struct out o = { NULL, 0, 0 };
	uint32_t mbox = 0;
	bool collapse = json_is_true(jmap_arg_get(c, "collapseThreads"));
	int ret = 0, src;	/* ret: 1 answered, 0 not yet, -1 */

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
	src = source_mailbox(c, filter, &mbox);
	if (src > 0 && s.n == 1 && s.v[0].key == S_RECEIVED) {
		/* inMailbox alone needs no condition checked per email */
		bool bare = json_object_size(filter) == 1 &&
		    json_object_get(filter, "inMailbox") != NULL;

		ret = walk(&q, bare ? NULL : filter, mbox, s.v[0].asc,
		    collapse, &o, err);
	}
	if (src < 0)
		ret = 1;	/* an unknown mailbox holds nothing */
	else if (ret == 0)
		ret = general(&q, filter, &s, collapse, src > 0 ? mbox : 0, &o,
		    err) < 0 ? -1 : 1;
	if (ret > 0) {
		*ids_r = o.ids;
		*n_r = o.n;
	} else {
		free(o.ids);
	}
	free(s.v);
	qctx_clear(&q);
	return ret < 0 ? -1 : 0;
}

/* ---- queryChanges: what threads move ---- */

static bool
filter_has_thread_kw(json_t *f)
{
	json_t *v;
	size_t i;

	if (json_object_get(f, "operator") != NULL) {
		json_array_foreach(json_object_get(f, "conditions"), i, v)
			if (filter_has_thread_kw(v))
				return true;
		return false;
	}
	return json_object_get(f, "allInThreadHaveKeyword") != NULL ||
	    json_object_get(f, "someInThreadHaveKeyword") != NULL ||
	    json_object_get(f, "noneInThreadHaveKeyword") != NULL;
}

static bool
sort_has_thread_kw(json_t *sort)
{
	json_t *v;
	size_t i;

	json_array_foreach(sort, i, v) {
		const char *p = json_string_value(json_object_get(v,
		    "property"));

		if (p != NULL && (strcmp(p, "allInThreadHaveKeyword") == 0 ||
		    strcmp(p, "someInThreadHaveKeyword") == 0))
			return true;
	}
	return false;
}

int
jmap_email_query_changes_more(struct jmap_call *c, json_t *filter,
    json_t *sort, const struct mail_changes *ch, uint64_t since,
    uint32_t **ids_r, size_t *n_r, struct buf *err)
{
	struct mail *m = c->ctx->env->st->mail;
	struct mail_changes tch;
	roaring_bitmap_t *threads;
	uint32_t *tv;
	size_t ntv;
	struct out o = { NULL, 0, 0 };
	const uint32_t *lists[2] = { ch->created, ch->updated };
	const size_t nlists[2] = { ch->ncreated, ch->nupdated };
	int r = 0;

	*ids_r = NULL;
	*n_r = 0;
	if (!json_is_true(jmap_arg_get(c, "collapseThreads")) &&
	    (filter == NULL || !filter_has_thread_kw(filter)) &&
	    (sort == NULL || !sort_has_thread_kw(sort)))
		return 0;
	/* the threads of the emails changed (a keyword change logs no
	 * thread change), and the threads logged (an email destroyed) */
	if (mail_changes(m, c->acct, MAIL_LOG_THREAD, since, MAIL_CHANGES_MAX,
	    &tch, err) < 0)
		return -1;
	if (tch.cannot_calculate || tch.has_more) {
		mail_changes_clear(&tch);
		return 1;
	}
	threads = roaring_bitmap_create();
	roaring_bitmap_add_many(threads, tch.ncreated, tch.created);
	roaring_bitmap_add_many(threads, tch.nupdated, tch.updated);
	mail_changes_clear(&tch);
	for (size_t l = 0; r == 0 && l < 2; l++) {
		for (size_t i = 0; r == 0 && i < nlists[l]; i++) {
			struct mail_email em;

			memset(&em, 0, sizeof(em));
			r = mail_email_get(m, c->acct, lists[l][i], &em, err);
			if (r == 1)
				roaring_bitmap_add(threads, em.thread);
			mail_email_clear(&em);
			r = r < 0 ? -1 : 0;
		}
	}
	ntv = (size_t)roaring_bitmap_get_cardinality(threads);
	tv = xcalloc(ntv + 1, sizeof(*tv));
	roaring_bitmap_to_uint32_array(threads, tv);
	roaring_bitmap_free(threads);
	for (size_t k = 0; r == 0 && k < ntv; k++) {
		uint32_t *ids = NULL;
		size_t n = 0;

		if (mail_thread_get(m, c->acct, tv[k], &ids, &n, err) < 0)
			r = -1;
		for (size_t i = 0; i < n; i++)
			out_push(&o, ids[i]);
		free(ids);
	}
	free(tv);
	if (r < 0) {
		free(o.ids);
		return -1;
	}
	*ids_r = o.ids;
	*n_r = o.n;
	return 0;
}
