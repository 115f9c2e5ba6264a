/*
 * fts.c - the full-text index over kv: posting lists as Roaring bitmaps
 * (key layout in store/fts.h), batched writes and boolean search.
 *
 * Invariants:
 *   - A doc is in the bitmap of (field, term) iff its term list
 *     'F' acct 0xff doc names (field, term); it is in the all-docs bitmap
 *     iff that term list exists.  Index and remove change the term list
 *     and the bitmaps in the same transaction, so they never disagree
 *     after a commit.
 *   - No empty bitmap is stored: the last doc out deletes the key, so a
 *     prefix scan sees only terms that still match something.
 *   - A batch merges changes per posting key in memory (an add and a del
 *     bitmap; adding a doc cancels its pending del and the other way
 *     round, so the last operation wins) and reads, changes and writes
 *     each key once at flush, in key order.  Term lists are written at
 *     once, so a later remove or reindex in the transaction finds them.
 *   - Stored bytes are not trusted: what does not parse is an error.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "store/fts.h"
#include "store/kv.h"
#include "store/rec.h"

#define FTS_SUBSPACE 'F'
#define FTS_KEY_ALL 0xfe
#define FTS_KEY_DOC 0xff
#define FTS_DOCLIST_VERSION 1

struct fts {
	char *language;		/* validated by fts_new */
	struct fts_limits lim;
};

int
fts_new(const char *language, const struct fts_limits *limits,
    struct fts **fts_r, struct buf *err)
{
	struct fts_limits lim = { 0 };
	struct fts_stemmer *st;

	*fts_r = NULL;
	fts_token_selfcheck();
	if (language == NULL)
		language = "english";
	if (fts_stemmer_new(language, &st, err) < 0)
		return -1;
	fts_stemmer_free(&st);
	if (limits != NULL)
		lim = *limits;
	lim.doc_tokens = lim.doc_tokens ? lim.doc_tokens : FTS_DOC_TOKENS_MAX;
	lim.doc_terms = lim.doc_terms ? lim.doc_terms : FTS_DOC_TERMS_MAX;
	if (lim.prefix_terms == 0)
		lim.prefix_terms = FTS_PREFIX_TERMS_MAX;
	*fts_r = xcalloc(1, sizeof(**fts_r));
	(*fts_r)->language = xstrdup(language);
	(*fts_r)->lim = lim;
	return 0;
}

void
fts_free(struct fts **fts)
{
	if (*fts == NULL)
		return;
	free((*fts)->language);
	free(*fts);
	*fts = NULL;
}

/* stemmer - one per batch or search: not thread-safe, made in < 1 us */
static struct fts_stemmer *
stemmer(struct fts *fts)
{
	struct fts_stemmer *st;
	struct buf err = BUF_INIT(0);

	/* the language worked in fts_new: only OOM fails here */
	if (fts_stemmer_new(fts->language, &st, &err) < 0)
		PANIC("%s", buf_cstr(&err));
	return st;
}

/* key_list - 'F' acct field term; also 'F' acct 0xfe and 'F' acct 0xff */
static void
key_list(struct buf *k, uint32_t account, unsigned field, const void *term,
    size_t len)
{
	buf_reset(k);
	key_u8(k, FTS_SUBSPACE);
	key_u32(k, account);
	key_u8(k, (uint8_t)field);
	buf_add(k, term, len);
}

/* bm - a bitmap from roaring, which returns NULL only on OOM */
static roaring_bitmap_t *
bm(roaring_bitmap_t *r)
{
	if (r == NULL)
		PANIC("roaring: out of memory");
	return r;
}

/*
 * bm_apply - *acc = *acc op x (AND 'a', OR 'o', AND NOT 'n'), or x when
 * *acc is NULL; frees x; x NULL (an operand that failed) changes nothing
 */
static void
bm_apply(roaring_bitmap_t **acc, int op, roaring_bitmap_t *x)
{
	if (x == NULL)
		return;
	if (*acc == NULL)
		*acc = x;
	else if (op == 'a')
		roaring_bitmap_and_inplace(*acc, x);
	else if (op == 'o')
		roaring_bitmap_or_inplace(*acc, x);
	else
		roaring_bitmap_andnot_inplace(*acc, x);
	if (*acc != x)
		roaring_bitmap_free(x);
}

static int
bm_decode(const void *p, size_t len, roaring_bitmap_t **r, struct buf *err)
{
	size_t need = roaring_bitmap_portable_deserialize_size(p, len);

	*r = NULL;
	if (need != 0 && need == len)
		*r = roaring_bitmap_portable_deserialize_safe(p, len);
	if (*r == NULL) {
		buf_addf(err, "fts: corrupt posting list (%zu bytes)", len);
		return -1;
	}
	return 0;
}

/*
 * bm_load - the bitmap at key k into *r (empty when absent), its stored
 * bytes left in val; 1 when found, 0 when not, -1/KV_CONFLICT
 */
static int
bm_load(struct kv_txn *t, const struct buf *k, struct buf *val,
    roaring_bitmap_t **r, struct buf *err)
{
	int rc;

	*r = NULL;
	buf_reset(val);
	if ((rc = kv_get(t, k->data, k->len, val, err)) < 0)
		return rc;
	if (rc == 0) {
		*r = bm(roaring_bitmap_create());
		return 0;
	}
	return bm_decode(val->data, val->len, r, err) < 0 ? -1 : 1;
}

/* bm_encode - the portable serialization into out (replacing) */
static void
bm_encode(roaring_bitmap_t *r, struct buf *out)
{
	size_t n;

	roaring_bitmap_run_optimize(r);
	n = roaring_bitmap_portable_size_in_bytes(r);
	buf_reset(out);
	if (buf_reserve(out, n) < 0)
		PANIC("bm_encode: limited buffer");
	out->len = roaring_bitmap_portable_serialize(r, (char *)out->data);
	ASSERT(out->len == n);
	out->data[out->len] = '\0';
}

/* ---- batches ---- */

/* a posting key touched since the last flush and its pending changes */
struct entry {
	size_t off, len;	/* the key's bytes in arena */
	roaring_bitmap_t *add, *del;
	uint64_t seq;		/* the last doc (b->seq) that added here */
};

struct fts_batch {
	struct fts *fts;
	struct kv_txn *t;
	struct fts_stemmer *st;
	struct buf arena;	/* the keys of ents, back to back */
	struct entry *ents;
	size_t n, cap;
	uint32_t *slots;	/* open addressing: entry index + 1; 0 = free */
	size_t nslots;		/* a power of two, at least twice n */
	/* the doc being indexed: its account, field, entries, sequence */
	uint32_t account, doc;
	unsigned field;
	size_t *terms, nterms, terms_cap;
	uint64_t seq;
	bool full;		/* the doc_terms limit reached */
	struct buf key, val, enc, stem;
	struct fts_stats stats;
	bool failed;
};

static uint32_t
hash_bytes(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static void
rehash(struct fts_batch *b)
{
	size_t mask = (b->nslots == 0 ? 1024 : b->nslots * 2) - 1;

	free(b->slots);
	b->slots = xcalloc(mask + 1, sizeof(*b->slots));
	b->nslots = mask + 1;
	for (size_t i = 0; i < b->n; i++) {
		size_t s = hash_bytes(b->arena.data + b->ents[i].off,
		    b->ents[i].len) & mask;

		while (b->slots[s] != 0)
			s = (s + 1) & mask;
		b->slots[s] = (uint32_t)i + 1;
	}
}

/* entry - the index of the entry of key k, added when new */
static size_t
entry(struct fts_batch *b, const struct buf *k)
{
	size_t s, mask;

	if (b->n >= b->nslots / 2)
		rehash(b);
	mask = b->nslots - 1;
	for (s = hash_bytes(k->data, k->len) & mask; b->slots[s] != 0;
	    s = (s + 1) & mask) {
		const struct entry *e = &b->ents[b->slots[s] - 1];

		if (e->len == k->len &&
		    memcmp(b->arena.data + e->off, k->data, k->len) == 0)
			return b->slots[s] - 1;
	}
	ASSERT(b->n < UINT32_MAX);
	if (b->n == b->cap) {
		b->cap = b->cap == 0 ? 1024 : b->cap * 2;
		b->ents = xreallocarray(b->ents, b->cap, sizeof(*b->ents));
	}
	b->ents[b->n] = (struct entry){ .off = b->arena.len, .len = k->len };
	buf_add(&b->arena, k->data, k->len);
	b->slots[s] = (uint32_t)++b->n;
	return b->n - 1;
}

static int
entry_cmp(const void *a, const void *c, void *arg)
{
	const struct fts_batch *b = arg;
	const struct entry *x = &b->ents[*(const size_t *)a];
	const struct entry *y = &b->ents[*(const size_t *)c];
	int d = memcmp(b->arena.data + x->off, b->arena.data + y->off,
	    x->len < y->len ? x->len : y->len);

	if (d != 0)
		return d;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* pending - doc goes into (add) or out of the bitmap of entry i */
static void
pending(struct fts_batch *b, size_t i, uint32_t doc, bool add)
{
	struct entry *e = &b->ents[i];
	roaring_bitmap_t **in = add ? &e->add : &e->del;
	roaring_bitmap_t *out = add ? e->del : e->add;

	if (*in == NULL)
		*in = bm(roaring_bitmap_create());
	roaring_bitmap_add(*in, doc);
	if (out != NULL)
		roaring_bitmap_remove(out, doc);
}

static void
pending_clear(struct fts_batch *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (b->ents[i].add != NULL)	/* roaring frees no NULL */
			roaring_bitmap_free(b->ents[i].add);
		if (b->ents[i].del != NULL)
			roaring_bitmap_free(b->ents[i].del);
	}
	b->n = 0;
	buf_reset(&b->arena);
	if (b->slots != NULL)
		memset(b->slots, 0, b->nslots * sizeof(*b->slots));
}

struct fts_batch *
fts_batch_new(struct fts *fts, struct kv_txn *t)
{
	struct fts_batch *b = xcalloc(1, sizeof(*b));

	b->fts = fts;
	b->t = t;
	b->st = stemmer(fts);
	return b;
}

void
fts_batch_free(struct fts_batch **b)
{
	if (*b == NULL)
		return;
	pending_clear(*b);
	buf_free(&(*b)->arena);
	free((*b)->ents);
	free((*b)->slots);
	free((*b)->terms);
	buf_free(&(*b)->key);
	buf_free(&(*b)->val);
	buf_free(&(*b)->enc);
	buf_free(&(*b)->stem);
	fts_stemmer_free(&(*b)->st);
	free(*b);
	*b = NULL;
}

struct fts_stats
fts_batch_stats(const struct fts_batch *b)
{
	return b->stats;
}

/* failed - the answer to a call on a batch that failed before */
static int
failed(struct buf *err)
{
	buf_add_str(err, "fts: batch used after a failure");
	return -1;
}

/*
 * unindex - take doc out of every bitmap its term list names (pending);
 * 1 if it was indexed, 0 if not
 */
static int
unindex(struct fts_batch *b, uint32_t account, uint32_t doc,
    struct buf *err)
{
	const unsigned char *p;
	size_t len, off = 1;
	int rc;

	key_list(&b->key, account, FTS_KEY_DOC, "", 0);
	key_u32(&b->key, doc);
	buf_reset(&b->val);
	rc = kv_get(b->t, b->key.data, b->key.len, &b->val, err);
	if (rc <= 0)
		return rc;
	p = b->val.data;
	len = b->val.len;
	if (len < 1 || p[0] != FTS_DOCLIST_VERSION)
		goto corrupt;
	while (off < len) {
		unsigned field, tlen;

		if (len - off < 2)
			goto corrupt;
		field = p[off];
		tlen = p[off + 1];
		off += 2;
		if (field < FTS_FIELD_MIN || field > FTS_FIELD_MAX ||
		    tlen == 0 || tlen > FTS_TOKEN_MAX || tlen > len - off)
			goto corrupt;
		key_list(&b->key, account, field, p + off, tlen);
		pending(b, entry(b, &b->key), doc, false);
		off += tlen;
	}
	return 1;
corrupt:
	buf_addf(err, "fts: corrupt term list of doc %u/%u", account, doc);
	return -1;
}

/* collect_token - the doc holds tok in b->field */
static int
collect_token(void *ctx, const char *tok, size_t len)
{
	struct fts_batch *b = ctx;
	size_t i;

	if ((FTS_F(b->field) & FTS_F_STEMMED) != 0) {
		fts_stem(b->st, tok, len, &b->stem);
		tok = (const char *)b->stem.data;
		len = b->stem.len;
	}
	key_list(&b->key, b->account, b->field, tok, len);
	i = entry(b, &b->key);
	if (b->ents[i].seq == b->seq)
		return 0;		/* this doc has it already */
	if (b->nterms >= b->fts->lim.doc_terms) {
		b->full = true;
		return 1;
	}
	pending(b, i, b->doc, true);
	b->ents[i].seq = b->seq;
	if (b->nterms == b->terms_cap) {
		b->terms_cap = b->terms_cap == 0 ? 256 : b->terms_cap * 2;
		b->terms = xreallocarray(b->terms, b->terms_cap,
		    sizeof(*b->terms));
	}
	b->terms[b->nterms++] = i;
	return 0;
}

int
fts_batch_index(struct fts_batch *b, uint32_t account, uint32_t doc,
    const struct fts_doc *d, struct buf *err)
{
	size_t tokens = 0, max = b->fts->lim.doc_tokens;
	int rc;

	if (b->failed)
		return failed(err);
	for (size_t i = 0; i < d->nparts; i++) {
		const struct fts_part *part = &d->parts[i];

		if (part->field < FTS_FIELD_MIN ||
		    part->field > FTS_FIELD_MAX ||
		    (part->text == NULL && part->len != 0)) {
			buf_addf(err, "fts: bad part %zu of doc %u/%u", i,
			    account, doc);
			return -1;
		}
	}
	/* out of the old bitmaps first: the adds below cancel the dels */
	if ((rc = unindex(b, account, doc, err)) < 0) {
		b->failed = true;
		return rc;
	}
	b->account = account;
	b->doc = doc;
	b->nterms = 0;
	b->full = false;
	b->seq++;
	for (size_t i = 0; i < d->nparts && !b->full && tokens < max; i++) {
		b->field = d->parts[i].field;
		tokens += fts_tokenize(d->parts[i].text, d->parts[i].len,
		    max - tokens, collect_token, b);
	}
	b->stats.docs_indexed++;
	b->stats.tokens += tokens;
	b->stats.terms += b->nterms;
	if (b->full || tokens >= max)
		b->stats.docs_truncated++;

	/* the term list: field, length, term of each key, in key order */
	if (b->nterms > 0)	/* qsort_r's base is nonnull */
		qsort_r(b->terms, b->nterms, sizeof(*b->terms), entry_cmp, b);
	buf_reset(&b->enc);
	buf_add(&b->enc, &(uint8_t){ FTS_DOCLIST_VERSION }, 1);
	for (size_t j = 0; j < b->nterms; j++) {
		const struct entry *e = &b->ents[b->terms[j]];
		const unsigned char *k = b->arena.data + e->off;

		/* 'F' acct(4) field term */
		buf_add(&b->enc, k + 5, 1);
		buf_add(&b->enc, &(uint8_t){ (uint8_t)(e->len - 6) }, 1);
		buf_add(&b->enc, k + 6, e->len - 6);
	}
	key_list(&b->key, account, FTS_KEY_ALL, "", 0);
	pending(b, entry(b, &b->key), doc, true);
	key_list(&b->key, account, FTS_KEY_DOC, "", 0);
	key_u32(&b->key, doc);
	rc = kv_put(b->t, b->key.data, b->key.len, b->enc.data, b->enc.len,
	    err);
	b->failed = rc < 0;
	return rc;
}

int
fts_batch_remove(struct fts_batch *b, uint32_t account, uint32_t doc,
    struct buf *err)
{
	int rc;

	if (b->failed)
		return failed(err);
	if ((rc = unindex(b, account, doc, err)) <= 0) {
		b->failed = rc < 0;
		return rc;
	}
	b->stats.docs_removed++;
	key_list(&b->key, account, FTS_KEY_ALL, "", 0);
	pending(b, entry(b, &b->key), doc, false);
	key_list(&b->key, account, FTS_KEY_DOC, "", 0);
	key_u32(&b->key, doc);
	rc = kv_delete(b->t, b->key.data, b->key.len, err);
	b->failed = rc < 0;
	return rc;
}

/* flush_one - apply the pending changes of entry i */
static int
flush_one(struct fts_batch *b, size_t i, struct buf *err)
{
	const struct entry *e = &b->ents[i];
	roaring_bitmap_t *r;
	int found, rc = 0;

	buf_reset(&b->key);
	buf_add(&b->key, b->arena.data + e->off, e->len);
	if ((found = bm_load(b->t, &b->key, &b->val, &r, err)) < 0)
		return found;
	if (e->add != NULL)
		roaring_bitmap_or_inplace(r, e->add);
	if (e->del != NULL)
		roaring_bitmap_andnot_inplace(r, e->del);
	if (roaring_bitmap_is_empty(r)) {
		if (found) {
			rc = kv_delete(b->t, b->key.data, b->key.len, err);
			b->stats.lists_written++;
		}
	} else {
		bm_encode(r, &b->enc);
		/* a reindex that changed nothing writes nothing */
		if (!found || b->enc.len != b->val.len ||
		    memcmp(b->enc.data, b->val.data, b->val.len) != 0) {
			rc = kv_put(b->t, b->key.data, b->key.len, b->enc.data,
			    b->enc.len, err);
			b->stats.lists_written++;
		}
	}
	roaring_bitmap_free(r);
	return rc;
}

int
fts_batch_flush(struct fts_batch *b, struct buf *err)
{
	size_t *order;
	int rc = 0;

	if (b->failed)
		return failed(err);
	/* in key order: neighbouring pages for a B-tree, fewer seeks */
	order = xreallocarray(NULL, b->n + 1, sizeof(*order));
	for (size_t i = 0; i < b->n; i++)
		order[i] = i;
	qsort_r(order, b->n, sizeof(*order), entry_cmp, b);
	for (size_t j = 0; j < b->n && rc == 0; j++)
		rc = flush_one(b, order[j], err);
	free(order);
	pending_clear(b);
	b->failed = rc < 0;
	return rc;
}

/* done - flush and free a batch of one (rc: its one call's result) */
static int
done(struct fts_batch *b, int rc, struct buf *err)
{
	if (rc == 0)
		rc = fts_batch_flush(b, err);
	fts_batch_free(&b);
	return rc;
}

int
fts_index(struct fts *fts, struct kv_txn *t, uint32_t account, uint32_t doc,
    const struct fts_doc *d, struct buf *err)
{
	struct fts_batch *b = fts_batch_new(fts, t);

	return done(b, fts_batch_index(b, account, doc, d, err), err);
}

int
fts_remove(struct fts *fts, struct kv_txn *t, uint32_t account, uint32_t doc,
    struct buf *err)
{
	struct fts_batch *b = fts_batch_new(fts, t);

	return done(b, fts_batch_remove(b, account, doc, err), err);
}

/* ---- search ---- */

struct search {
	const struct fts *fts;
	struct kv_txn *t;
	uint32_t account;
	const roaring_bitmap_t *universe;	/* the caller's, or NULL */
	roaring_bitmap_t *all;			/* loaded on first use */
	struct fts_stemmer *st;
	struct buf key, val, stem;
	struct buf toks;	/* one TERM's tokens, NUL-separated */
};

/* universe - a new copy of "every doc" */
static int
universe(struct search *s, roaring_bitmap_t **r, struct buf *err)
{
	int rc;

	if (s->universe == NULL && s->all == NULL) {
		key_list(&s->key, s->account, FTS_KEY_ALL, "", 0);
		if ((rc = bm_load(s->t, &s->key, &s->val, &s->all, err)) < 0)
			return rc;
	}
	*r = bm(roaring_bitmap_copy(s->universe != NULL ? s->universe :
	    s->all));
	return 0;
}

/*
 * or_terms - add to u the docs of (field, term), or with prefix of every
 * term of field starting with term
 */
static int
or_terms(struct search *s, unsigned field, const void *term, size_t len,
    bool prefix, roaring_bitmap_t *u, struct buf *err)
{
	struct kv_iter *it = NULL;
	roaring_bitmap_t *r;
	const void *k, *v;
	size_t klen, vlen, elen, n = 0;
	int rc;

	key_list(&s->key, s->account, field, term, len);
	if (!prefix) {
		if ((rc = bm_load(s->t, &s->key, &s->val, &r, err)) < 0)
			return rc;
		bm_apply(&u, 'o', r);
		return 0;
	}
	buf_reset(&s->val);	/* the end key; values come from it */
	if (buf_reserve(&s->val, s->key.len) < 0)
		PANIC("or_terms: limited buffer");
	/* never 0: the key starts with 'F' */
	elen = kv_prefix_end(s->key.data, s->key.len, s->val.data);
	rc = kv_iter_new(s->t, s->key.data, s->key.len, s->val.data, elen,
	    false, &it, err);
	while (rc == 0 && (rc = kv_iter_next(it, &k, &klen, &v, &vlen,
	    err)) == 1) {
		if (++n > s->fts->lim.prefix_terms) {
			buf_addf(err, "fts: prefix matches more than %zu terms",
			    s->fts->lim.prefix_terms);
			rc = -1;
		} else if ((rc = bm_decode(v, vlen, &r, err)) == 0) {
			bm_apply(&u, 'o', r);
		}
	}
	kv_iter_free(&it);
	return rc;
}

/* eval_term - AND over the tokens of (OR over the fields) */
static int
eval_term(struct search *s, const struct fts_query *q, roaring_bitmap_t **r,
    struct buf *err)
{
	const char *tok;
	size_t n, len;
	int rc = 0;

	buf_reset(&s->toks);
	n = fts_token_list(q->text, q->len, FTS_QUERY_TOKENS_MAX, &s->toks);
	if (n > FTS_QUERY_TOKENS_MAX) {
		buf_addf(err, "fts: more than %u words in a search term",
		    FTS_QUERY_TOKENS_MAX);
		return -1;
	}
	if (n == 0)
		return universe(s, r, err);
	tok = (const char *)s->toks.data;
	for (size_t i = 0; i < n && rc == 0; i++, tok += len + 1) {
		bool prefix = q->prefix && i == n - 1;
		roaring_bitmap_t *u = bm(roaring_bitmap_create());

		len = strlen(tok);
		if (!prefix)
			fts_stem(s->st, tok, len, &s->stem);
		for (unsigned f = FTS_FIELD_MIN; f <= FTS_FIELD_MAX && rc == 0;
		    f++) {
			if ((q->fields & FTS_F(f)) == 0)
				continue;
			if (!prefix && (FTS_F(f) & FTS_F_STEMMED) != 0)
				rc = or_terms(s, f, s->stem.data, s->stem.len,
				    false, u, err);
			else
				rc = or_terms(s, f, tok, len, prefix, u, err);
		}
		bm_apply(r, 'a', u);
		if (roaring_bitmap_is_empty(*r))
			break;
	}
	return rc;
}

/*
 * eval - *r (NULL on entry) = the docs matching q; on error *r may hold
 * a partial result for the caller to free.  An AND evaluates its positive
 * operands first and stops at an empty result, then subtracts its NOT
 * operands, so "a AND NOT b" never loads the universe.
 */
static int
eval(struct search *s, const struct fts_query *q, roaring_bitmap_t **r,
    struct buf *err)
{
	const struct fts_query *c;
	roaring_bitmap_t *x = NULL;
	int rc = 0;

	switch (q->op) {
	case FTS_Q_TERM:
		return eval_term(s, q, r, err);
	case FTS_Q_NOT:
		if ((rc = universe(s, r, err)) == 0)
			rc = eval(s, q->child, &x, err);
		break;
	case FTS_Q_OR:
	case FTS_Q_AND:
		for (c = q->child; c != NULL && rc == 0; c = c->next) {
			if (q->op == FTS_Q_AND && (c->op == FTS_Q_NOT ||
			    (*r != NULL && roaring_bitmap_is_empty(*r))))
				continue;
			rc = eval(s, c, &x, err);
			bm_apply(r, q->op == FTS_Q_OR ? 'o' : 'a', x);
			x = NULL;
		}
		if (rc == 0 && *r == NULL && q->op == FTS_Q_OR)
			*r = bm(roaring_bitmap_create());
		if (rc == 0 && *r == NULL)
			rc = universe(s, r, err);
		for (c = q->child; c != NULL && rc == 0 &&
		    q->op == FTS_Q_AND; c = c->next) {
			if (c->op != FTS_Q_NOT || roaring_bitmap_is_empty(*r))
				continue;
			rc = eval(s, c->child, &x, err);
			bm_apply(r, 'n', x);
			x = NULL;
		}
		break;
	}
	if (x != NULL)
		bm_apply(r, 'n', x);
	return rc;
}

int
fts_search(struct fts *fts, struct kv_txn *t, uint32_t account,
    const struct fts_query *q, const roaring_bitmap_t *universe_bm,
    roaring_bitmap_t **result_r, struct buf *err)
{
	struct search s = {
		.fts = fts, .t = t, .account = account,
		.universe = universe_bm,
		.key = BUF_INIT(0), .val = BUF_INIT(0), .stem = BUF_INIT(0),
		.toks = BUF_INIT(0),
	};
	roaring_bitmap_t *r = NULL;
	int rc;

	*result_r = NULL;
	if (fts_query_check(q, err) < 0)
		return -1;
	s.st = stemmer(fts);
	rc = eval(&s, q, &r, err);
	if (rc == 0 && universe_bm != NULL)
		roaring_bitmap_and_inplace(r, universe_bm);
	if (rc == 0)
		*result_r = r;
	else if (r != NULL)
		roaring_bitmap_free(r);
	if (s.all != NULL)
		roaring_bitmap_free(s.all);
	fts_stemmer_free(&s.st);
	buf_free(&s.key);
	buf_free(&s.val);
	buf_free(&s.stem);
	buf_free(&s.toks);
	return rc;
}
