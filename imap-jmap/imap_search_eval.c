/*
 * imap_search_eval.c - SEARCH key evaluation (RFC 9051 6.4.4 and the
 * keys of CONDSTORE 7162, WITHIN 5032, SAVEDATE 8514, OBJECTID 8474,
 * SEARCHRES 5182) and the SEARCH/ESEARCH answers (RFC 4731, 9394).
 * imap_search_eval.h is the contract; this is how.
 *
 * Two passes.  compile() turns the key tree into nodes with what each
 * key needs ready: folded strings, normalised sequence ranges, day
 * numbers, keyword bits, and the index's bitmaps (all index queries are
 * asked here, once, before any message is looked at).  AND children are
 * ordered by cost (membership < email record < index < header summary <
 * raw header < body text).  Then every message is matched against the
 * tree with short-circuit, loading what a key needs on first use and
 * releasing it after the message.
 *
 * The tree's depth is the parser's max_depth (100 at most), so compile()
 * and match() recurse.
 */
#include <glib.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_search_eval.h"
#include "store/mail.h"

enum cost {
	C_MEMBER,	/* the membership fields */
	C_EMAIL,	/* the email record */
	C_INDEX,	/* a bitmap (maybe a load for an unindexed message) */
	C_HDR,		/* the header summary */
	C_RAWHDR,	/* the raw header */
	C_TEXT,		/* the body text */
};

struct range {
	uint32_t lo, hi;
};

struct node {
	enum imap_skey_kind kind;
	const struct imap_skey *k;
	enum cost cost;
	struct node **kids;
	size_t nkids;
	/* string keys: the folded string */
	char *needle;
	size_t nlen;
	/* index: cand is the answer of the index query (NULL: none) */
	roaring_bitmap_t *cand;
	bool answers;		/* cand answers for indexed messages, not only
				   narrows */
	/* KEYWORD */
	uint32_t kw_flag;
	char *kw;
	/* dates: days since the epoch */
	int64_t day;
	/* sets */
	struct range *r;
	size_t nr;
	/* EMAILID, THREADID */
	bool id_ok;
	uint32_t id;
};

struct eval {
	struct imap_search_env *env;
	struct buf *err;
	struct buf fold;	/* scratch: a folded field */
	struct buf field;	/* scratch: an address list, a header value */
	roaring_bitmap_t *indexed;	/* every indexed document */
	bool has_modseq;
	bool bad;		/* compile: a BAD string */
	struct imap_search_msg *m;	/* the message being matched */
};

/* ---- folding and substring search ---- */

/*
 * fold - append s[0..len) folded to out: ASCII lowercased; other text
 * NFKD then case-folded (invalid UTF-8 and NULs replaced first).  The
 * same function for the key and the field, so they meet.
 */
static void
fold(struct buf *out, const char *s, size_t len)
{
	size_t i;
	char *tmp, *valid, *nfkd, *cf;

	for (i = 0; i < len && (unsigned char)s[i] < 0x80 && s[i] != '\0'; i++)
		;
	if (i == len) {
		if (buf_reserve(out, len) < 0)
			PANIC("fold: limited buffer");
		for (i = 0; i < len; i++)
			out->data[out->len + i] =
			    (unsigned char)ascii_tolower((unsigned char)s[i]);
		out->len += len;
		out->data[out->len] = '\0';
		return;
	}
	tmp = xmemdup0(s, len);
	for (i = 0; i < len; i++)
		if (tmp[i] == '\0')
			tmp[i] = ' ';
	valid = g_utf8_make_valid(tmp, (gssize)len);
	free(tmp);
	nfkd = g_utf8_normalize(valid, -1, G_NORMALIZE_NFKD);
	g_free(valid);
	if (nfkd == NULL)		/* cannot happen on valid UTF-8 */
		PANIC("fold: g_utf8_normalize failed");
	cf = g_utf8_casefold(nfkd, -1);
	g_free(nfkd);
	buf_add_str(out, cf);
	g_free(cf);
}

/* contains - the folded key of nd is in s[0..len) */
static bool
contains(struct eval *ev, const struct node *nd, const char *s, size_t len)
{
	if (nd->nlen == 0)
		return true;
	if (s == NULL || len == 0)
		return false;
	buf_reset(&ev->fold);
	fold(&ev->fold, s, len);
	return memmem(ev->fold.data, ev->fold.len, nd->needle, nd->nlen) !=
	    NULL;
}

/* addr_text - "Name <local@domain>, group: <a@b>;" of l, into out */
static void
addr_text(struct buf *out, const struct mime_addr_list *l)
{
	bool sep = false;

	for (uint32_t i = 0; i < l->n; i++) {
		const struct mime_addr *a = &l->v[i];

		if (a->kind == MIME_ADDR_GROUP_END) {
			buf_add_str(out, ";");
			sep = true;
			continue;
		}
		if (sep)
			buf_add_str(out, ", ");
		/* buf_add_str, not buf_addf: this runs per message in SEARCH */
		if (a->kind == MIME_ADDR_GROUP) {
			buf_add_str(out, a->name != NULL ? a->name : "");
			buf_add_str(out, ": ");
			sep = false;
			continue;
		}
		if (a->name != NULL && a->name[0] != '\0') {
			buf_add_str(out, a->name);
			buf_add_str(out, " ");
		}
		buf_add_str(out, "<");
		buf_add_str(out, a->local);
		buf_add_str(out, "@");
		buf_add_str(out, a->domain);
		buf_add_str(out, ">");
		sep = true;
	}
}

static const struct mime_addr_list *
addr_list(const struct mime_headers *h, enum imap_skey_kind kind)
{
	switch (kind) {
	case IMAP_SK_FROM:
		return &h->from;
	case IMAP_SK_TO:
		return &h->to;
	case IMAP_SK_CC:
		return &h->cc;
	default:
		return &h->bcc;
	}
}

/* ---- compile ---- */

bool
imap_search_charset_ok(const char *name, size_t len)
{
	return ascii_eq_nocase(name, len, "US-ASCII") ||
	    ascii_eq_nocase(name, len, "UTF-8") ||
	    ascii_eq_nocase(name, len, "ASCII") ||
	    ascii_eq_nocase(name, len, "UTF8");
}

/* days_from_civil - days since 1970-01-01 of a proleptic Gregorian date */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/*
 * local_day - the day number of t seen in zone tz (minutes east); t is
 * clamped first, as a Date header may say anything
 */
static int64_t
local_day(int64_t t, int tz)
{
	const int64_t lim = INT64_C(1) << 60;
	int64_t s;

	if (t > lim)
		t = lim;
	if (t < -lim)
		t = -lim;
	s = t + (int64_t)tz * 60;
	return s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
}

static int
cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * ranges - nd->r: the set as sorted, merged ranges of numbers that exist
 * (1..n for MSNs; UIDs up to the last one, with "*" the last one)
 */
static void
ranges(struct eval *ev, struct node *nd, const struct imap_seqset *set,
    bool uid)
{
	const struct imap_search_env *env = ev->env;
	uint32_t star, max;
	size_t k = 0;

	if (set->saved || env->n == 0 || set->n == 0)
		return;
	star = uid ? env->msgs[env->n - 1].uid : (uint32_t)env->n;
	max = star;
	nd->r = xreallocarray(NULL, set->n, sizeof(*nd->r));
	for (size_t i = 0; i < set->n; i++) {
		uint32_t lo = set->r[i].lo, hi = set->r[i].hi;

		if (lo == IMAP_SEQ_STAR)
			lo = star;
		if (hi == IMAP_SEQ_STAR)
			hi = star;
		if (lo > hi) {
			uint32_t t = lo;

			lo = hi;
			hi = t;
		}
		if (lo > max)
			continue;
		if (hi > max)
			hi = max;
		nd->r[k++] = (struct range){ lo, hi };
	}
	qsort(nd->r, k, sizeof(*nd->r), cmp_range);
	nd->nr = 0;
	for (size_t i = 0; i < k; i++) {
		struct range *last = nd->nr > 0 ? &nd->r[nd->nr - 1] : NULL;

		/* lo >= 1 here ("*" resolved, no 0 in a set), so lo - 1 */
		if (last != NULL && nd->r[i].lo - 1 <= last->hi) {
			if (nd->r[i].hi > last->hi)
				last->hi = nd->r[i].hi;
		} else {
			nd->r[nd->nr++] = nd->r[i];
		}
	}
}

static bool
in_ranges(const struct node *nd, uint32_t v)
{
	size_t lo = 0, hi = nd->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v < nd->r[mid].lo)
			hi = mid;
		else if (v > nd->r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool
in_saved(const struct imap_search_env *env, uint32_t uid)
{
	size_t lo = 0, hi = env->nsaved;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uid < env->saved[mid])
			hi = mid;
		else if (uid > env->saved[mid])
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * index_text - the text to ask the index for s[0..len): its
 * white-space-separated chunks (only the interior ones, with white space
 * on both sides inside s, when interior), as many as stay within
 * FTS_QUERY_TOKENS_MAX tokens and IMAP_SEARCH_FTS_WORDS chunks.  Returns
 * the number of tokens in out; *cut_r when chunks were left out at the
 * end, *last_r the length of the last token.
 */
static size_t
index_text(const char *s, size_t len, bool interior, struct buf *out,
    bool *cut_r, size_t *last_r)
{
	struct buf toks = BUF_INIT(0);
	size_t i = 0, chunks = 0, ntok = 0;

	*cut_r = false;
	*last_r = 0;
	buf_reset(out);
	while (i < len) {
		size_t a, b, keep = out->len, n;

		while (i < len && is_ws(s[i]))
			i++;
		a = i;
		while (i < len && !is_ws(s[i]))
			i++;
		b = i;
		if (a == b)
			break;
		if (interior && (a == 0 || b == len))
			continue;
		if (chunks == IMAP_SEARCH_FTS_WORDS) {
			*cut_r = true;
			break;
		}
		if (out->len > 0)
			buf_add_str(out, " ");
		buf_add(out, s + a, b - a);
		buf_reset(&toks);
		n = fts_token_list(out->data, out->len, FTS_QUERY_TOKENS_MAX,
		    &toks);
		if (n > FTS_QUERY_TOKENS_MAX) {
			buf_truncate(out, keep);
			*cut_r = true;
			break;
		}
		ntok = n;
		chunks++;
	}
	buf_reset(&toks);
	if (ntok > 0 && fts_token_list(out->data, out->len,
	    FTS_QUERY_TOKENS_MAX, &toks) == ntok) {
		/* tokens are NUL-terminated one after the other */
		size_t e = toks.len - 1, b = e;

		while (b > 0 && toks.data[b - 1] != '\0')
			b--;
		*last_r = e - b;
	}
	buf_free(&toks);
	return ntok;
}

static unsigned
fts_fields(enum imap_skey_kind kind)
{
	switch (kind) {
	case IMAP_SK_SUBJECT:
		return FTS_F(FTS_SUBJECT);
	case IMAP_SK_FROM:
		return FTS_F(FTS_FROM);
	case IMAP_SK_TO:
		return FTS_F(FTS_TO);
	case IMAP_SK_CC:
		return FTS_F(FTS_CC);
	case IMAP_SK_BCC:
		return FTS_F(FTS_BCC);
	case IMAP_SK_BODY:
		return FTS_F(FTS_BODY) | FTS_F(FTS_ATTACHMENT);
	default:
		return FTS_F_ANY;
	}
}

static int
ask_index(struct eval *ev, struct fts_query *q, roaring_bitmap_t **r)
{
	int rc;

	rc = ev->env->fts(ev->env->ctx, q, r, ev->err);
	fts_query_free(&q);
	if (rc < 0 || *r == NULL) {
		if (*r != NULL)
			roaring_bitmap_free(*r);
		*r = NULL;
		if (ev->err->len == 0)
			buf_add_str(ev->err, "full-text index failed");
		return -1;
	}
	return 0;
}

/*
 * string_index - the index's part for a string key (see the header):
 * the answer (BODY, TEXT in the index mode) or the candidates of the
 * interior words
 */
static int
string_index(struct eval *ev, struct node *nd, const struct imap_str *s)
{
	bool full = (nd->kind == IMAP_SK_BODY || nd->kind == IMAP_SK_TEXT) &&
	    ev->env->text_mode == IMAP_SEARCH_TEXT_INDEX;
	unsigned fields = fts_fields(nd->kind);
	struct buf text = BUF_INIT(0);
	struct fts_query *q;
	size_t last;
	bool cut;
	int rc = 0;

	if (ev->env->fts == NULL || s->len == 0)
		return 0;
	if (index_text(s->p, s->len, !full, &text, &cut, &last) == 0) {
		buf_free(&text);
		return 0;
	}
	q = fts_query_term(fields, (const char *)text.data, text.len, false);
	/* the last word may be the start of a longer one: also a prefix */
	if (full && !cut && !is_ws(s->p[s->len - 1]) &&
	    last >= IMAP_SEARCH_PREFIX_MIN) {
		struct fts_query *o = fts_query_op(FTS_Q_OR);

		fts_query_add(o, q);
		q = fts_query_add(o, fts_query_term(fields,
		    (const char *)text.data, text.len, true));
	}
	buf_free(&text);
	if (ask_index(ev, q, &nd->cand) < 0)
		return -1;
	nd->answers = full;
	if (ev->indexed == NULL) {
		/* no token: every indexed document */
		q = fts_query_term(FTS_F_ANY, "", 0, false);
		rc = ask_index(ev, q, &ev->indexed);
	}
	return rc;
}

static enum cost
string_cost(const struct node *nd)
{
	if (nd->kind == IMAP_SK_BODY || nd->kind == IMAP_SK_TEXT)
		return nd->answers ? C_INDEX : C_TEXT;
	return C_HDR;
}

static int compile(struct eval *ev, const struct imap_skey *k,
    struct node **nd_r);

static int
cmp_cost(const void *a, const void *b)
{
	const struct node *x = *(struct node *const *)a;
	const struct node *y = *(struct node *const *)b;

	return (int)x->cost - (int)y->cost;
}

static int
compile_kids(struct eval *ev, struct node *nd)
{
	const struct imap_skey *c;
	size_t n = 0;

	for (c = nd->k->kids; c != NULL; c = c->next)
		n++;
	nd->kids = xcalloc(n > 0 ? n : 1, sizeof(*nd->kids));
	for (c = nd->k->kids; c != NULL; c = c->next) {
		/* counted even when it fails: node_free frees it */
		int rc = compile(ev, c, &nd->kids[nd->nkids++]);

		if (rc < 0)
			return -1;
	}
	for (size_t i = 0; i < nd->nkids; i++)
		if (nd->kids[i]->cost > nd->cost)
			nd->cost = nd->kids[i]->cost;
	/* cheapest first; qsort is not stable, but the order among equal
	 * costs does not change the answer */
	if (nd->kind == IMAP_SK_AND || nd->kind == IMAP_SK_OR)
		qsort(nd->kids, nd->nkids, sizeof(*nd->kids), cmp_cost);
	return 0;
}

/* compile_string - fold s, the string of nd, and ask the index */
static int
compile_string(struct eval *ev, struct node *nd, const struct imap_str *s)
{
	struct buf f = BUF_INIT(0);

	if (!imap_utf8_is_valid(s->p, s->len) ||
	    memchr(s->p, '\0', s->len) != NULL) {
		buf_add_str(ev->err, "Search string is not valid UTF-8");
		ev->bad = true;
		return -1;
	}
	fold(&f, s->p, s->len);
	nd->nlen = f.len;
	nd->needle = buf_steal(&f, NULL);
	if (nd->kind == IMAP_SK_HEADER) {
		nd->cost = C_RAWHDR;
		return 0;
	}
	if (string_index(ev, nd, s) < 0)
		return -1;
	nd->cost = string_cost(nd);
	return 0;
}

static int
compile(struct eval *ev, const struct imap_skey *k, struct node **nd_r)
{
	struct node *nd = xcalloc(1, sizeof(*nd));
	const struct imap_date *d = &k->date;

	*nd_r = nd;
	nd->kind = k->kind;
	nd->k = k;
	nd->cost = C_MEMBER;
	switch (k->kind) {
	case IMAP_SK_AND:
	case IMAP_SK_OR:
	case IMAP_SK_NOT:
		return compile_kids(ev, nd);
	case IMAP_SK_BCC:
	case IMAP_SK_BODY:
	case IMAP_SK_CC:
	case IMAP_SK_FROM:
	case IMAP_SK_SUBJECT:
	case IMAP_SK_TEXT:
	case IMAP_SK_TO:
		return compile_string(ev, nd, &k->str);
	case IMAP_SK_HEADER:
		/* str is the field name, str2 the string */
		return compile_string(ev, nd, &k->str2);
	case IMAP_SK_KEYWORD:
	case IMAP_SK_UNKEYWORD:
		nd->kw = xmemdup0(k->str.p, k->str.len);
		for (char *p = nd->kw; *p != '\0'; p++)
			*p = (char)ascii_tolower((unsigned char)*p);
		nd->kw_flag = mail_keyword_flag(nd->kw);
		return 0;
	case IMAP_SK_EMAILID:
	case IMAP_SK_THREADID:
		if (ev->env->objectid != NULL)
			nd->id_ok = ev->env->objectid(ev->env->ctx,
			    k->kind == IMAP_SK_THREADID, k->str.p, k->str.len,
			    &nd->id);
		nd->cost = k->kind == IMAP_SK_THREADID ? C_EMAIL : C_MEMBER;
		return 0;
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE:
	case IMAP_SK_SAVEDBEFORE:
	case IMAP_SK_SAVEDON:
	case IMAP_SK_SAVEDSINCE:
		nd->day = days_from_civil(d->year, d->month, d->day);
		nd->cost = C_EMAIL;
		return 0;
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		nd->day = days_from_civil(d->year, d->month, d->day);
		nd->cost = C_HDR;
		return 0;
	case IMAP_SK_LARGER:
	case IMAP_SK_SMALLER:
	case IMAP_SK_OLDER:
	case IMAP_SK_YOUNGER:
		nd->cost = C_EMAIL;
		return 0;
	case IMAP_SK_MODSEQ:
		ev->has_modseq = true;
		return 0;
	case IMAP_SK_SEQSET:
	case IMAP_SK_UID:
		ranges(ev, nd, &k->set, k->kind == IMAP_SK_UID);
		return 0;
	default:
		return 0;
	}
}

static void
node_free(struct node **ndp)
{
	struct node *nd = *ndp;

	if (nd == NULL)
		return;
	*ndp = NULL;
	for (size_t i = 0; i < nd->nkids; i++)
		node_free(&nd->kids[i]);
	free(nd->kids);
	free(nd->needle);
	free(nd->kw);
	free(nd->r);
	if (nd->cand != NULL)
		roaring_bitmap_free(nd->cand);
	free(nd);
}

/* ---- match ---- */

static int
need(struct eval *ev, unsigned bits)
{
	struct imap_search_msg *m = ev->m;
	unsigned miss = bits & ~m->loaded;

	if (miss == 0)
		return 0;
	if (ev->env->load == NULL)
		PANIC("imap_search: fields 0x%x not loaded and no load()",
		    miss);
	if (ev->env->load(ev->env->ctx, m, miss, ev->err) < 0) {
		if (ev->err->len == 0)
			buf_add_str(ev->err, "cannot load the message");
		return -1;
	}
	m->loaded |= miss;
	return 0;
}

static bool
has_keyword(const struct node *nd, const struct imap_search_msg *m)
{
	size_t n = strlen(nd->kw);
	const char *p = m->keywords != NULL ? m->keywords : "";

	if (nd->kw_flag != 0)
		return (m->flags & nd->kw_flag) != 0;
	while (p != NULL && *p != '\0') {
		const char *e = strchr(p, ' ');
		size_t l = e != NULL ? (size_t)(e - p) : strlen(p);

		if (l == n && memcmp(p, nd->kw, n) == 0)
			return true;
		p = e != NULL ? e + 1 : NULL;
	}
	return false;
}

static int
date_cmp(const struct node *nd, int64_t day)
{
	switch (nd->kind) {
	case IMAP_SK_BEFORE:
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SAVEDBEFORE:
		return day < nd->day;
	case IMAP_SK_ON:
	case IMAP_SK_SENTON:
	case IMAP_SK_SAVEDON:
		return day == nd->day;
	default:
		return day >= nd->day;
	}
}

/* match_header - HEADER field string: in any field of that name */
static int
match_header(struct eval *ev, const struct node *nd)
{
	const struct imap_str *name = &nd->k->str;
	const unsigned char *h;
	size_t pos = 0, no, nl, vo, vl;

	if (need(ev, IMAP_SEARCH_NEED_RAWHDR) < 0)
		return -1;
	h = (const unsigned char *)ev->m->raw_hdr;
	if (h == NULL)
		return 0;
	while (mime_header_next(h, ev->m->raw_hdr_len, &pos, &no, &nl, &vo,
	    &vl)) {
		if (nl != name->len ||
		    ascii_strncasecmp((const char *)h + no, name->p, nl) != 0)
			continue;
		if (nd->k->str2.len == 0)
			return 1;	/* "" asks for the field only */
		buf_reset(&ev->field);
		for (size_t i = 0; i < vl; i++)
			if (h[vo + i] != '\r' && h[vo + i] != '\n')
				buf_add(&ev->field, h + vo + i, 1);
		if (contains(ev, nd, (const char *)ev->field.data,
		    ev->field.len))
			return 1;
	}
	return 0;
}

/* match_hdr_field - SUBJECT, FROM, TO, CC, BCC on the summary */
static int
match_hdr_field(struct eval *ev, const struct node *nd,
    enum imap_skey_kind kind)
{
	const struct mime_headers *h;

	if (need(ev, IMAP_SEARCH_NEED_HDR) < 0)
		return -1;
	h = ev->m->hdr;
	if (h == NULL)
		return 0;
	if (kind == IMAP_SK_SUBJECT)
		return h->subject != NULL &&
		    contains(ev, nd, h->subject, strlen(h->subject));
	buf_reset(&ev->field);
	addr_text(&ev->field, addr_list(h, kind));
	return contains(ev, nd, (const char *)ev->field.data, ev->field.len);
}

static bool
indexed(const struct eval *ev, uint32_t email)
{
	return ev->indexed != NULL && roaring_bitmap_contains(ev->indexed,
	    email);
}

/* match_text - BODY and TEXT, exact or by the index */
static int
match_text(struct eval *ev, const struct node *nd)
{
	static const enum imap_skey_kind hdr_keys[] = { IMAP_SK_SUBJECT,
		IMAP_SK_FROM, IMAP_SK_TO, IMAP_SK_CC, IMAP_SK_BCC };
	struct imap_search_msg *m = ev->m;
	bool is_text = nd->kind == IMAP_SK_TEXT;
	int rc;

	if (nd->nlen == 0)
		return 1;
	if (nd->cand != NULL && nd->answers && indexed(ev, m->email))
		return roaring_bitmap_contains(nd->cand, m->email);
	if (is_text) {
		/* the raw header first: the index does not hold it */
		if (need(ev, IMAP_SEARCH_NEED_RAWHDR) < 0)
			return -1;
		if (contains(ev, nd, m->raw_hdr, m->raw_hdr_len))
			return 1;
	}
	if (nd->cand != NULL && !nd->answers && indexed(ev, m->email) &&
	    !roaring_bitmap_contains(nd->cand, m->email))
		return 0;
	if (is_text)
		for (size_t i = 0; i < ARRAY_SIZE(hdr_keys); i++)
			if ((rc = match_hdr_field(ev, nd, hdr_keys[i])) != 0)
				return rc;
	if (need(ev, IMAP_SEARCH_NEED_TEXT) < 0)
		return -1;
	return contains(ev, nd, m->text, m->text_len);
}

static int
match_string(struct eval *ev, const struct node *nd)
{
	if (nd->k->str.len == 0)
		return 1;		/* "" is in every field, even an absent one */
	if (nd->kind == IMAP_SK_BODY || nd->kind == IMAP_SK_TEXT)
		return match_text(ev, nd);
	if (nd->cand != NULL && indexed(ev, ev->m->email) &&
	    !roaring_bitmap_contains(nd->cand, ev->m->email))
		return 0;
	return match_hdr_field(ev, nd, nd->kind);
}

static int match(struct eval *ev, const struct node *nd);

static int
match_sys(struct eval *ev, const struct node *nd)
{
	const struct imap_search_msg *m = ev->m;
	uint32_t f = m->flags;

	switch (nd->kind) {
	case IMAP_SK_ALL:
		return 1;
	case IMAP_SK_ANSWERED:
		return (f & MAIL_F_ANSWERED) != 0;
	case IMAP_SK_DELETED:
		return (f & MAIL_F_DELETED) != 0;
	case IMAP_SK_DRAFT:
		return (f & MAIL_F_DRAFT) != 0;
	case IMAP_SK_FLAGGED:
		return (f & MAIL_F_FLAGGED) != 0;
	case IMAP_SK_SEEN:
		return (f & MAIL_F_SEEN) != 0;
	case IMAP_SK_UNANSWERED:
		return (f & MAIL_F_ANSWERED) == 0;
	case IMAP_SK_UNDELETED:
		return (f & MAIL_F_DELETED) == 0;
	case IMAP_SK_UNDRAFT:
		return (f & MAIL_F_DRAFT) == 0;
	case IMAP_SK_UNFLAGGED:
		return (f & MAIL_F_FLAGGED) == 0;
	case IMAP_SK_UNSEEN:
		return (f & MAIL_F_SEEN) == 0;
	case IMAP_SK_NEW:
		return m->recent && (f & MAIL_F_SEEN) == 0;
	case IMAP_SK_OLD:
		return !m->recent;
	case IMAP_SK_RECENT:
		return m->recent;
	case IMAP_SK_SAVEDATESUPPORTED:
		return ev->env->save_date_supported;
	default:
		PANIC("imap_search: key %d is no flag", (int)nd->kind);
	}
}

static int
match_email(struct eval *ev, const struct node *nd)
{
	const struct imap_search_msg *m = ev->m;
	uint64_t age;

	if (need(ev, IMAP_SEARCH_NEED_EMAIL) < 0)
		return -1;
	switch (nd->kind) {
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE:
		return date_cmp(nd, local_day(m->internal_date,
		    m->internal_tz));
	case IMAP_SK_SAVEDBEFORE:
	case IMAP_SK_SAVEDON:
	case IMAP_SK_SAVEDSINCE:
		return m->has_save_date && date_cmp(nd,
		    local_day(m->save_date, m->internal_tz));
	case IMAP_SK_LARGER:
		return m->size > nd->k->num;
	case IMAP_SK_SMALLER:
		return m->size < nd->k->num;
	case IMAP_SK_OLDER:
	case IMAP_SK_YOUNGER:
		/* in u64: the difference of any two int64 fits */
		age = m->internal_date >= ev->env->now ? 0 :
		    (uint64_t)ev->env->now - (uint64_t)m->internal_date;
		if (nd->kind == IMAP_SK_OLDER)
			return age > nd->k->num;
		return age <= nd->k->num;
	case IMAP_SK_THREADID:
		return nd->id_ok && m->thread == nd->id;
	default:
		PANIC("imap_search: key %d is no email key", (int)nd->kind);
	}
}

static int
match(struct eval *ev, const struct node *nd)
{
	struct imap_search_msg *m = ev->m;
	const struct mime_headers *h;
	int rc;

	switch (nd->kind) {
	case IMAP_SK_AND:
		for (size_t i = 0; i < nd->nkids; i++)
			if ((rc = match(ev, nd->kids[i])) <= 0)
				return rc;
		return 1;
	case IMAP_SK_OR:
		for (size_t i = 0; i < nd->nkids; i++)
			if ((rc = match(ev, nd->kids[i])) != 0)
				return rc;
		return 0;
	case IMAP_SK_NOT:
		rc = match(ev, nd->kids[0]);
		return rc < 0 ? rc : !rc;
	case IMAP_SK_BCC:
	case IMAP_SK_BODY:
	case IMAP_SK_CC:
	case IMAP_SK_FROM:
	case IMAP_SK_SUBJECT:
	case IMAP_SK_TEXT:
	case IMAP_SK_TO:
		return match_string(ev, nd);
	case IMAP_SK_HEADER:
		return match_header(ev, nd);
	case IMAP_SK_KEYWORD:
		return has_keyword(nd, m);
	case IMAP_SK_UNKEYWORD:
		return !has_keyword(nd, m);
	case IMAP_SK_EMAILID:
		return nd->id_ok && m->email == nd->id;
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		if (need(ev, IMAP_SEARCH_NEED_HDR) < 0)
			return -1;
		h = m->hdr;
		return h != NULL && h->has_date &&
		    date_cmp(nd, local_day(h->date, h->date_tz));
	case IMAP_SK_MODSEQ:
		return m->modseq >= nd->k->num;
	case IMAP_SK_SEQSET:
		if (nd->k->set.saved)
			return in_saved(ev->env, m->uid);
		return in_ranges(nd, (uint32_t)(m - ev->env->msgs) + 1);
	case IMAP_SK_UID:
		if (nd->k->set.saved)
			return in_saved(ev->env, m->uid);
		return in_ranges(nd, m->uid);
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE:
	case IMAP_SK_SAVEDBEFORE:
	case IMAP_SK_SAVEDON:
	case IMAP_SK_SAVEDSINCE:
	case IMAP_SK_LARGER:
	case IMAP_SK_SMALLER:
	case IMAP_SK_OLDER:
	case IMAP_SK_YOUNGER:
	case IMAP_SK_THREADID:
		return match_email(ev, nd);
	default:
		return match_sys(ev, nd);
	}
}

/* ---- the entry points ---- */

static void
needs_of(const struct imap_skey *k, const struct imap_search_env *env,
    unsigned *bits)
{
	for (const struct imap_skey *c = k->kids; c != NULL; c = c->next)
		needs_of(c, env, bits);
	switch (k->kind) {
	case IMAP_SK_BCC:
	case IMAP_SK_CC:
	case IMAP_SK_FROM:
	case IMAP_SK_SUBJECT:
	case IMAP_SK_TO:
	case IMAP_SK_SENTBEFORE:
	case IMAP_SK_SENTON:
	case IMAP_SK_SENTSINCE:
		*bits |= IMAP_SEARCH_NEED_HDR;
		break;
	case IMAP_SK_HEADER:
		*bits |= IMAP_SEARCH_NEED_RAWHDR;
		break;
	case IMAP_SK_BODY:
	case IMAP_SK_TEXT:
		/* even with an index: unindexed messages are searched */
		*bits |= IMAP_SEARCH_NEED_TEXT;
		if (k->kind == IMAP_SK_TEXT)
			*bits |= IMAP_SEARCH_NEED_RAWHDR |
			    IMAP_SEARCH_NEED_HDR;
		break;
	case IMAP_SK_BEFORE:
	case IMAP_SK_ON:
	case IMAP_SK_SINCE:
	case IMAP_SK_SAVEDBEFORE:
	case IMAP_SK_SAVEDON:
	case IMAP_SK_SAVEDSINCE:
	case IMAP_SK_LARGER:
	case IMAP_SK_SMALLER:
	case IMAP_SK_OLDER:
	case IMAP_SK_YOUNGER:
	case IMAP_SK_THREADID:
		*bits |= IMAP_SEARCH_NEED_EMAIL;
		break;
	default:
		break;
	}
}

unsigned
imap_search_needs(const struct imap_search *s,
    const struct imap_search_env *env)
{
	unsigned bits = 0;

	if (s->key != NULL)
		needs_of(s->key, env, &bits);
	return bits;
}

void
imap_search_result_free(struct imap_search_result *res)
{
	free(res->idx);
	free(res->seq);
	free(res->uid);
	free(res->modseq);
	memset(res, 0, sizeof(*res));
}

static void
result_add(struct imap_search_result *res, size_t *cap,
    const struct imap_search_env *env, size_t i)
{
	if (res->n == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		res->idx = xreallocarray(res->idx, *cap, sizeof(*res->idx));
		res->seq = xreallocarray(res->seq, *cap, sizeof(*res->seq));
		res->uid = xreallocarray(res->uid, *cap, sizeof(*res->uid));
		if (res->has_modseq)
			res->modseq = xreallocarray(res->modseq, *cap,
			    sizeof(*res->modseq));
	}
	res->idx[res->n] = (uint32_t)i;
	res->seq[res->n] = (uint32_t)i + 1;
	res->uid[res->n] = env->msgs[i].uid;
	if (res->has_modseq)
		res->modseq[res->n] = env->msgs[i].modseq;
	res->n++;
}

enum imap_search_status
imap_search_eval(const struct imap_search *s, struct imap_search_env *env,
    struct imap_search_result *res, struct buf *err)
{
	struct eval ev;
	struct node *root = NULL;
	enum imap_search_status st = IMAP_SEARCH_OK;
	size_t cap = 0;

	memset(res, 0, sizeof(*res));
	if (s->has_charset &&
	    !imap_search_charset_ok(s->charset.p, s->charset.len)) {
		buf_add_str(err, "Unsupported charset");
		return IMAP_SEARCH_BADCHARSET;
	}
	ASSERT(env->n <= UINT32_MAX - 1 && s->key != NULL);
	for (size_t i = 1; i < env->n; i++)
		if (env->msgs[i].uid <= env->msgs[i - 1].uid)
			PANIC("imap_search: UIDs not ascending at %zu", i);
	memset(&ev, 0, sizeof(ev));
	ev.env = env;
	ev.err = err;
	buf_init(&ev.fold, 0);
	buf_init(&ev.field, 0);
	if (compile(&ev, s->key, &root) < 0) {
		st = ev.bad ? IMAP_SEARCH_BAD : IMAP_SEARCH_FAILED;
		goto out;
	}
	res->has_modseq = ev.has_modseq;
	for (size_t i = 0; i < env->n; i++) {
		struct imap_search_msg *m = &env->msgs[i];
		unsigned had = m->loaded;
		int rc;

		ev.m = m;
		rc = match(&ev, root);
		if (m->loaded != had && env->release != NULL) {
			env->release(env->ctx, m);
			m->loaded = had;
		}
		if (rc < 0) {
			st = IMAP_SEARCH_FAILED;
			imap_search_result_free(res);
			break;
		}
		if (rc > 0)
			result_add(res, &cap, env, i);
	}
out:
	node_free(&root);
	if (ev.indexed != NULL)
		roaring_bitmap_free(ev.indexed);
	buf_free(&ev.fold);
	buf_free(&ev.field);
	return st;
}

/* ---- SEARCHRES and the answers ---- */

static bool
minmax_only(unsigned opts)
{
	return (opts & (IMAP_SRET_MIN | IMAP_SRET_MAX)) != 0 &&
	    (opts & (IMAP_SRET_ALL | IMAP_SRET_COUNT |
	    IMAP_SRET_PARTIAL)) == 0;
}

/*
 * pick - the position of MIN (max false) or MAX in res: its ends, since
 * it is ascending (SEARCH) or in sort order (SORT: ESORT's first and
 * last)
 */
static size_t
pick(const struct imap_search_result *res, bool max)
{
	return max ? res->n - 1 : 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void
imap_search_save(const struct imap_search_ret *ret,
    const struct imap_search_result *res, uint32_t **uids_r, size_t *n_r)
{
	uint32_t *v;
	size_t n = 0;

	*uids_r = NULL;
	*n_r = 0;
	if (res->n == 0)
		return;
	v = xreallocarray(NULL, res->n, sizeof(*v));
	if (minmax_only(ret->opts)) {
		if ((ret->opts & IMAP_SRET_MIN) != 0)
			v[n++] = res->uid[pick(res, false)];
		if ((ret->opts & IMAP_SRET_MAX) != 0)
			v[n++] = res->uid[pick(res, true)];
	} else {
		memcpy(v, res->uid, res->n * sizeof(*v));
		n = res->n;
	}
	qsort(v, n, sizeof(*v), cmp_u32);
	*n_r = 0;
	for (size_t i = 0; i < n; i++)
		if (*n_r == 0 || v[*n_r - 1] != v[i])
			v[(*n_r)++] = v[i];
	*uids_r = v;
}

static const uint32_t *
numbers(const struct imap_search_result *res, bool uid)
{
	return uid ? res->uid : res->seq;
}

void
imap_search_write(struct buf *out, const struct imap_search_result *res,
    bool uid)
{
	const uint32_t *v = numbers(res, uid);
	uint64_t top = 0;

	buf_add_str(out, res->sorted ? "* SORT" : "* SEARCH");
	for (size_t i = 0; i < res->n; i++) {
		buf_addf(out, " %" PRIu32, v[i]);
		if (res->has_modseq && res->modseq[i] > top)
			top = res->modseq[i];
	}
	if (res->has_modseq && res->n > 0)
		buf_addf(out, " (MODSEQ %" PRIu64 ")", top);
	buf_add_str(out, "\r\n");
}

/*
 * write_ordered - v[0..n) as a set in the given order: runs of
 * consecutive ascending numbers as ranges ("5,1:3,9"), for ESORT
 */
static void
write_ordered(struct buf *out, const uint32_t *v, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j + 1 < n && v[j] != UINT32_MAX && v[j + 1] == v[j] + 1)
			j++;
		if (i > 0)
			buf_add_str(out, ",");
		if (j == i)
			buf_addf(out, "%" PRIu32, v[i]);
		else
			buf_addf(out, "%" PRIu32 ":%" PRIu32, v[i], v[j]);
		i = j + 1;
	}
}

static void
write_set(struct buf *out, const struct imap_search_result *res, bool uid,
    size_t from, size_t to)
{
	const uint32_t *v = numbers(res, uid) + from;

	if (res->sorted)
		write_ordered(out, v, to - from);
	else
		imap_write_uidset(out, v, to - from);
}

/* partial_window - positions [*from, *to) of res that p selects */
static void
partial_window(const struct imap_partial *p, size_t n, size_t *from,
    size_t *to)
{
	uint64_t a = p->lo < p->hi ? p->lo : p->hi;
	uint64_t b = p->lo < p->hi ? p->hi : p->lo;

	if (!p->from_end) {
		*from = a - 1 < n ? (size_t)(a - 1) : n;
		*to = b < n ? (size_t)b : n;
	} else {
		/* -a is position n - a + 1 (1-based): index n - a */
		*to = a <= n ? (size_t)(n - a + 1) : 0;
		*from = b <= n ? (size_t)(n - b) : 0;
	}
	if (*to < *from)
		*to = *from;
}

void
imap_search_write_esearch(struct buf *out, const char *tag, size_t tag_len,
    bool uid, const struct imap_search_ret *ret,
    const struct imap_search_result *res)
{
	unsigned opts = ret->opts == 0 ? IMAP_SRET_ALL : ret->opts;
	const uint32_t *v = numbers(res, uid);
	uint64_t top = 0;

	if (opts == IMAP_SRET_SAVE)
		return;
	buf_add_str(out, "* ESEARCH (TAG ");
	imap_write_string(out, tag, tag_len, false);
	buf_add_str(out, ")");
	if (uid)
		buf_add_str(out, " UID");
	if (res->n > 0) {
		size_t lo = pick(res, false), hi = pick(res, true);

		if ((opts & IMAP_SRET_MIN) != 0)
			buf_addf(out, " MIN %" PRIu32, v[lo]);
		if ((opts & IMAP_SRET_MAX) != 0)
			buf_addf(out, " MAX %" PRIu32, v[hi]);
		if ((opts & IMAP_SRET_ALL) != 0) {
			buf_add_str(out, " ALL ");
			write_set(out, res, uid, 0, res->n);
		}
		if (res->has_modseq && minmax_only(opts)) {
			if ((opts & IMAP_SRET_MIN) != 0)
				top = res->modseq[lo];
			if ((opts & IMAP_SRET_MAX) != 0 &&
			    res->modseq[hi] > top)
				top = res->modseq[hi];
		} else if (res->has_modseq) {
			for (size_t i = 0; i < res->n; i++)
				if (res->modseq[i] > top)
					top = res->modseq[i];
		}
	}
	if ((opts & IMAP_SRET_PARTIAL) != 0) {
		const struct imap_partial *p = &ret->partial;
		size_t from, to;

		partial_window(p, res->n, &from, &to);
		buf_addf(out, " PARTIAL (%s%" PRIu32 ":%s%" PRIu32 " ",
		    p->from_end ? "-" : "", p->lo, p->from_end ? "-" : "",
		    p->hi);
		if (from == to)
			buf_add_str(out, "NIL");
		else
			write_set(out, res, uid, from, to);
		buf_add_str(out, ")");
	}
	if ((opts & IMAP_SRET_COUNT) != 0)
		buf_addf(out, " COUNT %zu", res->n);
	if (res->has_modseq && res->n > 0)
		buf_addf(out, " MODSEQ %" PRIu64, top);
	buf_add_str(out, "\r\n");
}
