/*
 * fts.c - the full-text index over kv: posting lists as Roaring bitmaps
 * (key layout in store/fts.h), batched writes with a deferred merge,
 * and boolean search.
 *
 * Invariants (after every flush; a batch writes term lists at once and
 * the bitmaps at flush):
 *   - A doc is indexed iff its term list 'F' acct 0xff doc exists, iff
 *     it is in the all-docs bitmap 'F' acct 0xfe.
 *   - An indexed doc is either pending (in 'F' acct 0xfd) or merged.  A
 *     merged doc is in the posting list of (field, term) iff its term
 *     list names (field, term); a pending doc is in no posting list at
 *     all.  So indexing a doc writes its term list and two small bitmaps,
 *     never the ~350 posting lists of its words; a merge (fts_merge, or
 *     a flush that finds pending_max docs pending) moves every pending
 *     doc of the account into the posting lists at once, each list read,
 *     changed and written once for the whole group.  A search ORs the
 *     posting list of a term with the pending docs whose term list holds
 *     it, so pending docs are found exactly like merged ones.
 *   - Removing (or reindexing) a merged doc takes it out of the posting
 *     lists its term list names, in the same flush; a pending doc just
 *     leaves the pending set.
 *   - No empty bitmap is stored: the last doc out deletes the key, so a
 *     prefix scan sees only terms that still match something.
 *   - A batch merges changes per bitmap key in memory (an add and a del
 *     bitmap; adding a doc cancels its pending del and the other way
 *     round, so the last operation wins) and reads, changes and writes
 *     each key once at flush, in key order; it writes nothing that would
 *     not change.
 *   - Stored bytes are not trusted: what does not parse is an error, and
 *     a term list must be sorted (search bisects it).
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
#define FTS_KEY_PENDING 0xfd
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
	if (lim.pending_max == 0)
		lim.pending_max = FTS_PENDING_MAX;
	if (lim.pending_due == 0)
		lim.pending_due = FTS_PENDING_DUE;
	if (lim.pending_due > lim.pending_max)
		lim.pending_due = lim.pending_max;
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

/* key_list - 'F' acct field term; also 'F' acct 0xfd/0xfe/0xff */
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

/* key_doc - 'F' acct 0xff doc */
static void
key_doc(struct buf *k, uint32_t account, uint32_t doc)
{
	key_list(k, account, FTS_KEY_DOC, "", 0);
	key_u32(k, doc);
}

/* bm - a bitmap from roaring, which returns NULL only on OOM */
static roaring_bitmap_t *
bm(roaring_bitmap_t *r)
{
	if (r == NULL)
		PANIC("roaring: out of memory");
	return r;
}

static void
bm_free(roaring_bitmap_t **r)
{
	if (*r != NULL)		/* roaring frees no NULL */
		roaring_bitmap_free(*r);
	*r = NULL;
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

	/* runs: the all-docs bitmap of consecutive ids is a few bytes */
	roaring_bitmap_run_optimize(r);
	n = roaring_bitmap_portable_size_in_bytes(r);
	buf_reset(out);
	if (buf_reserve(out, n) < 0)
		PANIC("bm_encode: limited buffer");
	out->len = roaring_bitmap_portable_serialize(r, (char *)out->data);
	ASSERT(out->len == n);
	out->data[out->len] = '\0';
}

/* ft_cmp - (field, term) pairs in key order (memcmp, shorter first) */
static int
ft_cmp(unsigned f1, const unsigned char *t1, size_t l1, unsigned f2,
    const unsigned char *t2, size_t l2)
{
	int d;

	if (f1 != f2)
		return f1 < f2 ? -1 : 1;
	d = memcmp(t1, t2, l1 < l2 ? l1 : l2);
	if (d != 0)
		return d;
	return l1 < l2 ? -1 : l1 > l2;
}

/*
 * termlist_walk - fn(ctx, field, term, len) for each pair of the term
 * list p[len] of doc account/doc; -1 with err when it does not parse or
 * is not sorted and unique
 */
typedef void termlist_fn(void *ctx, unsigned field, const unsigned char *term,
    size_t len);

static int
termlist_walk(const unsigned char *p, size_t len, uint32_t account,
    uint32_t doc, termlist_fn *fn, void *ctx, struct buf *err)
{
	const unsigned char *prev = NULL;
	unsigned pfield = 0;
	size_t plen = 0, off = 1;

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
		if (prev != NULL && ft_cmp(pfield, prev, plen, field, p + off,
		    tlen) >= 0)
			goto corrupt;
		fn(ctx, field, p + off, tlen);
		prev = p + off;
		pfield = field;
		plen = tlen;
		off += tlen;
	}
	return 0;
corrupt:
	buf_addf(err, "fts: corrupt term list of doc %u/%u", account, doc);
	return -1;
}

/* ---- key sets: keys met since the last flush, with pending changes ---- */

struct entry {
	size_t off, len;	/* the key's bytes in arena */
	roaring_bitmap_t *add, *del;
};

struct kset {
	struct buf arena;	/* the keys of ents, back to back */
	struct entry *ents;
	size_t n, cap;
	uint32_t *slots;	/* open addressing: entry index + 1; 0 = free */
	size_t nslots;		/* a power of two, at least twice n */
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
kset_rehash(struct kset *ks)
{
	size_t mask = (ks->nslots == 0 ? 1024 : ks->nslots * 2) - 1;

	free(ks->slots);
	ks->slots = xcalloc(mask + 1, sizeof(*ks->slots));
	ks->nslots = mask + 1;
	for (size_t i = 0; i < ks->n; i++) {
		size_t s = hash_bytes(ks->arena.data + ks->ents[i].off,
		    ks->ents[i].len) & mask;

		while (ks->slots[s] != 0)
			s = (s + 1) & mask;
		ks->slots[s] = (uint32_t)i + 1;
	}
}

/*
 * kset_get - the index of the entry of key k; when absent, SIZE_MAX, or
 * with add a new entry
 */
static size_t
kset_get(struct kset *ks, const struct buf *k, bool add)
{
	size_t s, mask;

	if (ks->n >= ks->nslots / 2)
		kset_rehash(ks);
	mask = ks->nslots - 1;
	for (s = hash_bytes(k->data, k->len) & mask; ks->slots[s] != 0;
	    s = (s + 1) & mask) {
		const struct entry *e = &ks->ents[ks->slots[s] - 1];

		if (e->len == k->len &&
		    memcmp(ks->arena.data + e->off, k->data, k->len) == 0)
			return ks->slots[s] - 1;
	}
	if (!add)
		return SIZE_MAX;
	ASSERT(ks->n < UINT32_MAX);
	if (ks->n == ks->cap) {
		ks->cap = ks->cap == 0 ? 1024 : ks->cap * 2;
		ks->ents = xreallocarray(ks->ents, ks->cap, sizeof(*ks->ents));
	}
	ks->ents[ks->n] = (struct entry){ .off = ks->arena.len,
	    .len = k->len };
	buf_add(&ks->arena, k->data, k->len);
	ks->slots[s] = (uint32_t)++ks->n;
	return ks->n - 1;
}

static int
entry_cmp(const void *a, const void *c, void *arg)
{
	const struct kset *ks = arg;
	const struct entry *x = &ks->ents[*(const size_t *)a];
	const struct entry *y = &ks->ents[*(const size_t *)c];
	int d = memcmp(ks->arena.data + x->off, ks->arena.data + y->off,
	    x->len < y->len ? x->len : y->len);

	if (d != 0)
		return d;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* kset_order - the entries' indexes in key order (caller frees) */
static size_t *
kset_order(struct kset *ks)
{
	size_t *order = xreallocarray(NULL, ks->n + 1, sizeof(*order));

	for (size_t i = 0; i < ks->n; i++)
		order[i] = i;
	if (ks->n > 0)	/* qsort_r's base is nonnull */
		qsort_r(order, ks->n, sizeof(*order), entry_cmp, ks);
	return order;
}

static void
kset_clear(struct kset *ks)
{
	for (size_t i = 0; i < ks->n; i++) {
		bm_free(&ks->ents[i].add);
		bm_free(&ks->ents[i].del);
	}
	ks->n = 0;
	buf_reset(&ks->arena);
	if (ks->nslots > 65536) {	/* after a huge doc: not for each */
		free(ks->slots);
		ks->slots = NULL;
		ks->nslots = 0;
	} else if (ks->slots != NULL) {
		memset(ks->slots, 0, ks->nslots * sizeof(*ks->slots));
	}
}

static void
kset_free(struct kset *ks)
{
	kset_clear(ks);
	buf_free(&ks->arena);
	free(ks->ents);
	free(ks->slots);
	memset(ks, 0, sizeof(*ks));
}

/* change - doc goes into (add) or out of the bitmap of entry i */
static void
change(struct kset *ks, size_t i, uint32_t doc, bool add)
{
	struct entry *e = &ks->ents[i];
	roaring_bitmap_t **in = add ? &e->add : &e->del;
	roaring_bitmap_t *out = add ? e->del : e->add;

	if (*in == NULL)
		*in = bm(roaring_bitmap_create());
	roaring_bitmap_add(*in, doc);
	if (out != NULL)
		roaring_bitmap_remove(out, doc);
}

/* ---- batches ---- */

/* an account met by the batch */
struct acct {
	uint32_t account;
	roaring_bitmap_t *stored;	/* pending set as of the last flush;
					 * NULL until needed */
	uint64_t pending;	/* pending docs after the last flush */
	bool flushed;		/* its pending set written by this flush */
	bool due;		/* pending >= pending_due at the last flush */
};

struct fts_batch {
	struct fts *fts;
	struct kv_txn *t;
	struct fts_stemmer *st;
	struct kset post;	/* bitmap keys changed since the last flush */
	struct acct *accts;
	size_t naccts, acap;
	struct buf key, val, enc;
	struct fts_stats stats;
	bool failed;
};

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
	kset_free(&(*b)->post);
	for (size_t i = 0; i < (*b)->naccts; i++)
		bm_free(&(*b)->accts[i].stored);
	free((*b)->accts);
	buf_free(&(*b)->key);
	buf_free(&(*b)->val);
	buf_free(&(*b)->enc);
	fts_stemmer_free(&(*b)->st);
	free(*b);
	*b = NULL;
}

struct fts_stats
fts_batch_stats(const struct fts_batch *b)
{
	return b->stats;
}

size_t
fts_batch_merge_due(const struct fts_batch *b, uint32_t *accounts,
    size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < b->naccts; i++)
		if (b->accts[i].due) {
			if (n < max)
				accounts[n] = b->accts[i].account;
			n++;
		}
	return n;
}

/* failed - the answer to a call on a batch that failed before */
static int
failed(struct buf *err)
{
	buf_add_str(err, "fts: batch used after a failure");
	return -1;
}

/* acct - the record of account, added when new */
static struct acct *
acct(struct fts_batch *b, uint32_t account)
{
	for (size_t i = 0; i < b->naccts; i++)
		if (b->accts[i].account == account)
			return &b->accts[i];
	if (b->naccts == b->acap) {
		b->acap = b->acap == 0 ? 8 : b->acap * 2;
		b->accts = xreallocarray(b->accts, b->acap,
		    sizeof(*b->accts));
	}
	b->accts[b->naccts] = (struct acct){ .account = account };
	return &b->accts[b->naccts++];
}

/* change_key - doc into or out of the bitmap 'F' account field */
static void
change_key(struct fts_batch *b, uint32_t account, unsigned field,
    uint32_t doc, bool add)
{
	key_list(&b->key, account, field, "", 0);
	change(&b->post, kset_get(&b->post, &b->key, true), doc, add);
}

/*
 * is_pending - whether doc is in the pending set as this batch has it
 * (the stored set, loaded once per flush, and the batch's changes)
 */
static int
is_pending(struct fts_batch *b, uint32_t account, uint32_t doc,
    bool *pending_r, struct buf *err)
{
	struct acct *a = acct(b, account);
	const struct entry *e;
	size_t i;
	int rc;

	if (a->stored == NULL) {
		key_list(&b->key, account, FTS_KEY_PENDING, "", 0);
		if ((rc = bm_load(b->t, &b->key, &b->val, &a->stored,
		    err)) < 0)
			return rc;
	}
	key_list(&b->key, account, FTS_KEY_PENDING, "", 0);
	i = kset_get(&b->post, &b->key, false);
	e = i == SIZE_MAX ? NULL : &b->post.ents[i];
	if (e != NULL && e->add != NULL && roaring_bitmap_contains(e->add,
	    doc))
		*pending_r = true;
	else if (e != NULL && e->del != NULL &&
	    roaring_bitmap_contains(e->del, doc))
		*pending_r = false;
	else
		*pending_r = roaring_bitmap_contains(a->stored, doc);
	return 0;
}

struct term_change {
	struct fts_batch *b;
	uint32_t account, doc;
	bool add;
};

/* term_change - the doc into or out of the posting list of a term */
static void
term_change(void *ctx, unsigned field, const unsigned char *term,
    size_t len)
{
	struct term_change *c = ctx;

	key_list(&c->b->key, c->account, field, term, len);
	change(&c->b->post, kset_get(&c->b->post, &c->b->key, true), c->doc,
	    c->add);
}

/* term_none - a term of a pending doc's list: in no posting list */
static void
term_none(void *ctx, unsigned field, const unsigned char *term, size_t len)
{
	(void)ctx;
	(void)field;
	(void)term;
	(void)len;
}

/*
 * unindex - take doc out of what holds it: a merged doc out of every
 * posting list its term list names (at flush), a pending doc out of
 * nothing (its caller decides about the pending set); 1 if it was
 * indexed, with *pending_r, 0 if not
 */
static int
unindex(struct fts_batch *b, uint32_t account, uint32_t doc,
    bool *pending_r, struct buf *err)
{
	struct term_change c = { b, account, doc, false };
	int rc;

	*pending_r = false;
	if ((rc = is_pending(b, account, doc, pending_r, err)) < 0)
		return rc;
	key_doc(&b->key, account, doc);
	buf_reset(&b->val);
	rc = kv_get(b->t, b->key.data, b->key.len, &b->val, err);
	if (rc <= 0)
		return rc;
	/* b->key is the callback's: the list stays in b->val */
	if (termlist_walk(b->val.data, b->val.len, account, doc,
	    *pending_r ? term_none : term_change, &c, err) < 0)
		return -1;
	return 1;
}

/* the tokens of a doc being collected into its term list */
struct collect {
	const struct fts *fts;
	struct fts_stemmer *st;
	struct kset terms;	/* field term */
	unsigned field;
	bool full;		/* the doc_terms limit reached */
	struct buf key, stem;
};

/* collect_token - the doc holds tok in c->field */
static int
collect_token(void *ctx, const char *tok, size_t len)
{
	struct collect *c = ctx;

	if ((FTS_F(c->field) & FTS_F_STEMMED) != 0) {
		fts_stem(c->st, tok, len, &c->stem);
		tok = (const char *)c->stem.data;
		len = c->stem.len;
	}
	buf_reset(&c->key);
	key_u8(&c->key, (uint8_t)c->field);
	buf_add(&c->key, tok, len);
	if (kset_get(&c->terms, &c->key, false) != SIZE_MAX)
		return 0;		/* this doc has it already */
	if (c->terms.n >= c->fts->lim.doc_terms) {
		c->full = true;
		return 1;
	}
	(void)kset_get(&c->terms, &c->key, true);
	return 0;
}

struct fts_terms {
	struct buf enc;		/* the term list as 'F' acct 0xff doc holds it */
	uint64_t tokens, terms;
	bool truncated;
};

/* terms_build - tokenize and stem d into its term list, with st */
static int
terms_build(const struct fts *fts, struct fts_stemmer *st,
    const struct fts_doc *d, struct fts_terms *out, struct buf *err)
{
	struct collect c = { .fts = fts, .st = st };
	size_t tokens = 0, max = fts->lim.doc_tokens, *order;

	for (size_t i = 0; i < d->nparts; i++) {
		const struct fts_part *part = &d->parts[i];

		if (part->field < FTS_FIELD_MIN ||
		    part->field > FTS_FIELD_MAX ||
		    (part->text == NULL && part->len != 0)) {
			buf_addf(err, "fts: bad part %zu of a doc", i);
			return -1;
		}
	}
	for (size_t i = 0; i < d->nparts && !c.full && tokens < max; i++) {
		c.field = d->parts[i].field;
		tokens += fts_tokenize(d->parts[i].text, d->parts[i].len,
		    max - tokens, collect_token, &c);
	}
	out->tokens = tokens;
	out->terms = c.terms.n;
	out->truncated = c.full || tokens >= max;

	/* the term list: field, length, term of each pair, in key order */
	order = kset_order(&c.terms);
	buf_reset(&out->enc);
	buf_add(&out->enc, &(uint8_t){ FTS_DOCLIST_VERSION }, 1);
	for (size_t j = 0; j < c.terms.n; j++) {
		const struct entry *e = &c.terms.ents[order[j]];
		const unsigned char *k = c.terms.arena.data + e->off;

		buf_add(&out->enc, k, 1);
		buf_add(&out->enc, &(uint8_t){ (uint8_t)(e->len - 1) }, 1);
		buf_add(&out->enc, k + 1, e->len - 1);
	}
	free(order);
	kset_free(&c.terms);
	buf_free(&c.key);
	buf_free(&c.stem);
	return 0;
}

struct fts_terms *
fts_terms_new(struct fts *fts, const struct fts_doc *d, struct buf *err)
{
	struct fts_terms *tl = xcalloc(1, sizeof(*tl));
	struct fts_stemmer *st = stemmer(fts);
	int rc = terms_build(fts, st, d, tl, err);

	fts_stemmer_free(&st);
	if (rc < 0)
		fts_terms_free(&tl);
	return tl;
}

void
fts_terms_free(struct fts_terms **tl)
{
	if (*tl == NULL)
		return;
	buf_free(&(*tl)->enc);
	free(*tl);
	*tl = NULL;
}

int
fts_batch_index_terms(struct fts_batch *b, uint32_t account, uint32_t doc,
    const struct fts_terms *tl, struct buf *err)
{
	bool was_pending;
	int rc;

	if (b->failed)
		return failed(err);
	/* a merged doc leaves its old posting lists; pending stays so */
	if ((rc = unindex(b, account, doc, &was_pending, err)) < 0) {
		b->failed = true;
		return rc;
	}
	b->stats.docs_indexed++;
	b->stats.tokens += tl->tokens;
	b->stats.terms += tl->terms;
	if (tl->truncated)
		b->stats.docs_truncated++;
	change_key(b, account, FTS_KEY_ALL, doc, true);
	change_key(b, account, FTS_KEY_PENDING, doc, true);
	key_doc(&b->key, account, doc);
	rc = kv_put(b->t, b->key.data, b->key.len, tl->enc.data, tl->enc.len,
	    err);
	b->failed = rc < 0;
	return rc;
}

int
fts_batch_index(struct fts_batch *b, uint32_t account, uint32_t doc,
    const struct fts_doc *d, struct buf *err)
{
	struct fts_terms tl = { BUF_INIT(0), 0, 0, false };
	int rc;

	if (b->failed)
		return failed(err);
	if (terms_build(b->fts, b->st, d, &tl, err) < 0)
		return -1;
	rc = fts_batch_index_terms(b, account, doc, &tl, err);
	buf_free(&tl.enc);
	return rc;
}

int
fts_batch_remove(struct fts_batch *b, uint32_t account, uint32_t doc,
    struct buf *err)
{
	bool was_pending;
	int rc;

	if (b->failed)
		return failed(err);
	if ((rc = unindex(b, account, doc, &was_pending, err)) <= 0) {
		b->failed = rc < 0;
		return rc;
	}
	b->stats.docs_removed++;
	change_key(b, account, FTS_KEY_ALL, doc, false);
	if (was_pending)
		change_key(b, account, FTS_KEY_PENDING, doc, false);
	key_doc(&b->key, account, doc);
	rc = kv_delete(b->t, b->key.data, b->key.len, err);
	b->failed = rc < 0;
	return rc;
}

/* flush_one - apply the changes of entry i; *card_r: docs after */
static int
flush_one(struct fts_batch *b, size_t i, uint64_t *card_r, struct buf *err)
{
	const struct entry *e = &b->post.ents[i];
	roaring_bitmap_t *r;
	int found, rc = 0;

	buf_reset(&b->key);
	buf_add(&b->key, b->post.arena.data + e->off, e->len);
	if ((found = bm_load(b->t, &b->key, &b->val, &r, err)) < 0)
		return found;
	if (e->add != NULL)
		roaring_bitmap_or_inplace(r, e->add);
	if (e->del != NULL)
		roaring_bitmap_andnot_inplace(r, e->del);
	*card_r = roaring_bitmap_get_cardinality(r);
	if (*card_r == 0) {
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

/*
 * flush_keys - write every changed bitmap, in key order (neighbouring
 * pages for a B-tree, fewer seeks); note each account's pending count
 */
static int
flush_keys(struct fts_batch *b, struct buf *err)
{
	size_t *order = kset_order(&b->post);
	int rc = 0;

	for (size_t j = 0; j < b->post.n && rc == 0; j++) {
		const struct entry *e = &b->post.ents[order[j]];
		const unsigned char *k = b->post.arena.data + e->off;
		uint64_t card;

		rc = flush_one(b, order[j], &card, err);
		if (rc == 0 && e->len == 6 && k[5] == FTS_KEY_PENDING) {
			struct acct *a = acct(b, get_u32(k + 1));

			a->pending = card;
			a->flushed = true;
		}
	}
	free(order);
	kset_clear(&b->post);
	for (size_t i = 0; i < b->naccts; i++)	/* changed: load again */
		bm_free(&b->accts[i].stored);
	return rc;
}

/*
 * merge_docs - every pending doc of account into the posting lists of
 * its terms and out of the pending set, one write per list; the batch
 * must hold no unflushed change
 */
static int
merge_docs(struct fts_batch *b, uint32_t account, struct buf *err)
{
	roaring_uint32_iterator_t *it;
	roaring_bitmap_t *p;
	struct buf list = BUF_INIT(0);
	uint64_t n = 0;
	int rc;

	ASSERT(b->post.n == 0);
	key_list(&b->key, account, FTS_KEY_PENDING, "", 0);
	if ((rc = bm_load(b->t, &b->key, &b->val, &p, err)) <= 0) {
		bm_free(&p);
		return rc < 0 ? rc : 0;
	}
	rc = 0;
	it = roaring_create_iterator(p);
	if (it == NULL)
		PANIC("roaring: out of memory");
	for (; it->has_value && rc == 0;
	    roaring_advance_uint32_iterator(it)) {
		struct term_change c = { b, account, it->current_value, true };

		key_doc(&b->key, account, c.doc);
		buf_reset(&list);
		if ((rc = kv_get(b->t, b->key.data, b->key.len, &list,
		    err)) < 0)
			break;
		/* no term list: not indexed (an unflushed batch committed) */
		if (rc == 1)
			rc = termlist_walk(list.data, list.len, account, c.doc,
			    term_change, &c, err);
		n++;
		change_key(b, account, FTS_KEY_PENDING, c.doc, false);
	}
	roaring_free_uint32_iterator(it);
	roaring_bitmap_free(p);
	buf_free(&list);
	if (rc == 0)
		rc = flush_keys(b, err);
	if (rc == 0) {
		b->stats.merges++;
		b->stats.docs_merged += n;
	}
	return rc;
}

int
fts_batch_flush(struct fts_batch *b, struct buf *err)
{
	const struct fts_limits *lim = &b->fts->lim;
	int rc;

	if (b->failed)
		return failed(err);
	rc = flush_keys(b, err);
	/* by index: merge_docs may add to accts */
	for (size_t i = 0; i < b->naccts && rc == 0; i++) {
		if (!b->accts[i].flushed)
			continue;
		b->accts[i].flushed = false;
		if (b->accts[i].pending >= lim->pending_max) {
			rc = merge_docs(b, b->accts[i].account, err);
			b->accts[i].flushed = false;
			b->accts[i].pending = 0;
		}
		b->accts[i].due = b->accts[i].pending >= lim->pending_due;
	}
	b->failed = rc < 0;
	return rc;
}

int
fts_merge(struct fts *fts, struct kv_txn *t, uint32_t account,
    struct buf *err)
{
	struct fts_batch *b = fts_batch_new(fts, t);
	int rc = merge_docs(b, account, err);

	fts_batch_free(&b);
	return rc;
}

int
fts_pending(struct fts *fts, struct kv_txn *t, uint32_t account,
    uint64_t *n_r, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	roaring_bitmap_t *p;
	int rc;

	(void)fts;
	*n_r = 0;
	key_list(&k, account, FTS_KEY_PENDING, "", 0);
	if ((rc = bm_load(t, &k, &v, &p, err)) >= 0) {
		*n_r = roaring_bitmap_get_cardinality(p);
		rc = 0;
	}
	bm_free(&p);
	buf_free(&k);
	buf_free(&v);
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

/* a pending doc's term list: entries poffs[first..first + n) */
struct pdoc {
	uint32_t doc;
	size_t first, n;
};

struct search {
	const struct fts *fts;
	struct kv_txn *t;
	uint32_t account;
	const roaring_bitmap_t *universe;	/* the caller's, or NULL */
	roaring_bitmap_t *all;			/* loaded on first use */
	struct fts_stemmer *st;
	struct buf key, val, stem;
	struct buf toks;	/* one TERM's tokens, NUL-separated */
	/* the pending docs' term lists, loaded on first use */
	bool pend_loaded;
	struct buf plists;	/* the lists back to back */
	size_t *poffs;		/* offset in plists of each pair (field) */
	size_t npoffs, poffs_cap;
	struct pdoc *pdocs;
	size_t npdocs;
	size_t *pm;		/* a prefix's matches: offsets in plists */
	size_t npm, pm_cap;
};

static void
push_off(size_t **v, size_t *n, size_t *cap, size_t off)
{
	if (*n == *cap) {
		*cap = *cap == 0 ? 1024 : *cap * 2;
		*v = xreallocarray(*v, *cap, sizeof(**v));
	}
	(*v)[(*n)++] = off;
}

static void
pend_pair(void *ctx, unsigned field, const unsigned char *term, size_t len)
{
	struct search *s = ctx;

	(void)field;
	(void)len;
	push_off(&s->poffs, &s->npoffs, &s->poffs_cap,
	    (size_t)(term - 2 - s->plists.data));
}

/* pend_add - the term list of pending doc, val[len], into s */
static int
pend_add(struct search *s, uint32_t doc, const void *val, size_t len,
    struct buf *err)
{
	size_t start = s->plists.len;
	struct pdoc *pd = &s->pdocs[s->npdocs++];

	buf_add(&s->plists, val, len);
	*pd = (struct pdoc){ doc, s->npoffs, 0 };
	if (termlist_walk(s->plists.data + start, len, s->account, doc,
	    pend_pair, s, err) < 0)
		return -1;
	pd->n = s->npoffs - pd->first;
	return 0;
}

/*
 * pend_load - the term lists of the account's pending docs (at most
 * pending_max after any flush: bounded work), once per search.  Pending
 * docs are mostly the newest, next to each other: then one range scan
 * of their term lists instead of a get each.
 */
static int
pend_load(struct search *s, struct buf *err)
{
	roaring_uint32_iterator_t *it;
	roaring_bitmap_t *p;
	struct kv_iter *ki = NULL;
	uint64_t n;
	uint32_t lo, hi;
	int rc;

	if (s->pend_loaded)
		return 0;
	key_list(&s->key, s->account, FTS_KEY_PENDING, "", 0);
	if ((rc = bm_load(s->t, &s->key, &s->val, &p, err)) <= 0) {
		bm_free(&p);
		s->pend_loaded = rc == 0;
		return rc;
	}
	n = roaring_bitmap_get_cardinality(p);
	lo = roaring_bitmap_minimum(p);
	hi = roaring_bitmap_maximum(p);
	s->pdocs = xreallocarray(NULL, n, sizeof(*s->pdocs));
	if ((uint64_t)(hi - lo) < 2 * n && hi < UINT32_MAX) {
		const void *kp, *v;
		size_t klen, vlen;

		key_doc(&s->key, s->account, lo);
		key_doc(&s->val, s->account, hi + 1);
		rc = kv_iter_new(s->t, s->key.data, s->key.len, s->val.data,
		    s->val.len, false, &ki, err);
		while (rc == 0 && (rc = kv_iter_next(ki, &kp, &klen, &v,
		    &vlen, err)) == 1) {
			uint32_t doc;

			rc = 0;
			if (klen != 10)
				continue;
			doc = get_u32((const unsigned char *)kp + 6);
			if (roaring_bitmap_contains(p, doc))
				rc = pend_add(s, doc, v, vlen, err);
		}
		kv_iter_free(&ki);
	} else {
		it = roaring_create_iterator(p);
		if (it == NULL)
			PANIC("roaring: out of memory");
		for (rc = 0; it->has_value && rc >= 0;
		    roaring_advance_uint32_iterator(it)) {
			key_doc(&s->key, s->account, it->current_value);
			buf_reset(&s->val);
			rc = kv_get(s->t, s->key.data, s->key.len, &s->val,
			    err);
			/* 0: not indexed after all (an unflushed batch) */
			if (rc == 1)
				rc = pend_add(s, it->current_value,
				    s->val.data, s->val.len, err);
		}
		roaring_free_uint32_iterator(it);
		rc = rc < 0 ? rc : 0;
	}
	roaring_bitmap_free(p);
	s->pend_loaded = rc == 0;
	return rc;
}

/* pend_cmp - the pending pair at off against (field, term) */
static int
pend_cmp(const struct search *s, size_t off, unsigned field,
    const unsigned char *term, size_t len)
{
	const unsigned char *p = s->plists.data + off;

	return ft_cmp(p[0], p + 2, p[1], field, term, len);
}

/*
 * pend_or - add to u the pending docs holding (field, term), or with
 * prefix every term of field starting with it (their offsets in s->pm,
 * sorted and unique)
 */
static void
pend_or(struct search *s, unsigned field, const unsigned char *term,
    size_t len, bool prefix, roaring_bitmap_t *u)
{
	s->npm = 0;
	for (size_t i = 0; i < s->npdocs; i++) {
		const struct pdoc *pd = &s->pdocs[i];
		size_t lo = pd->first, hi = pd->first + pd->n;

		while (lo < hi) {	/* the first pair >= (field, term) */
			size_t mid = lo + (hi - lo) / 2;

			if (pend_cmp(s, s->poffs[mid], field, term, len) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (hi = pd->first + pd->n; lo < hi; lo++) {
			const unsigned char *p = s->plists.data +
			    s->poffs[lo];

			if (p[0] != field || p[1] < len ||
			    memcmp(p + 2, term, len) != 0 ||
			    (!prefix && p[1] != len))
				break;
			roaring_bitmap_add(u, pd->doc);
			if (!prefix)
				break;
			push_off(&s->pm, &s->npm, &s->pm_cap, s->poffs[lo]);
		}
	}
}

static int
pm_cmp(const void *a, const void *b, void *arg)
{
	const struct search *s = arg;
	const unsigned char *p = s->plists.data + *(const size_t *)b;

	return pend_cmp(s, *(const size_t *)a, p[0], p + 2, p[1]);
}

/* pm_unique - sort the prefix matches and drop repeats */
static void
pm_unique(struct search *s)
{
	size_t n = 0;

	if (s->npm == 0)
		return;
	qsort_r(s->pm, s->npm, sizeof(*s->pm), pm_cmp, s);
	for (size_t i = 0; i < s->npm; i++)
		if (n == 0 || pm_cmp(&s->pm[n - 1], &s->pm[i], s) != 0)
			s->pm[n++] = s->pm[i];
	s->npm = n;
}

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
 * term of field starting with term: the posting lists' merged docs and
 * the pending ones.  A prefix counts the distinct terms of both against
 * prefix_terms.
 */
static int
or_terms(struct search *s, unsigned field, const void *term, size_t len,
    bool prefix, roaring_bitmap_t *u, struct buf *err)
{
	struct kv_iter *it = NULL;
	roaring_bitmap_t *r;
	const unsigned char *k;
	const void *kp, *v;
	size_t klen, vlen, elen, n = 0, common = 0, j = 0;
	size_t max = s->fts->lim.prefix_terms;
	bool over;
	int rc;

	if ((rc = pend_load(s, err)) < 0)
		return rc;
	pend_or(s, field, term, len, prefix, u);
	key_list(&s->key, s->account, field, term, len);
	if (!prefix) {
		if ((rc = bm_load(s->t, &s->key, &s->val, &r, err)) < 0)
			return rc;
		bm_apply(&u, 'o', r);
		return 0;
	}
	pm_unique(s);
	buf_reset(&s->val);	/* the end key; values come from it */
	if (buf_reserve(&s->val, s->key.len) < 0)
		PANIC("or_terms: limited buffer");
	/* never 0: the key starts with 'F' */
	elen = kv_prefix_end(s->key.data, s->key.len, s->val.data);
	rc = kv_iter_new(s->t, s->key.data, s->key.len, s->val.data, elen,
	    false, &it, err);
	over = s->npm > max;
	while (!over && rc == 0 && (rc = kv_iter_next(it, &kp, &klen, &v,
	    &vlen, err)) == 1) {
		k = kp;
		/* both in key order: count the terms pending docs share */
		while (j < s->npm && pend_cmp(s, s->pm[j], field, k + 6,
		    klen - 6) < 0)
			j++;
		if (j < s->npm && pend_cmp(s, s->pm[j], field, k + 6,
		    klen - 6) == 0)
			common++;
		/* distinct terms so far: never fewer than this */
		if (++n - common + s->npm > max)
			over = true;
		else if ((rc = bm_decode(v, vlen, &r, err)) == 0)
			bm_apply(&u, 'o', r);
	}
	kv_iter_free(&it);
	if (over) {
		buf_addf(err, "fts: prefix matches more than %zu terms", max);
		rc = -1;
	}
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
		.toks = BUF_INIT(0), .plists = BUF_INIT(0),
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
	bm_free(&s.all);
	buf_free(&s.plists);
	free(s.poffs);
	free(s.pdocs);
	free(s.pm);
	fts_stemmer_free(&s.st);
	buf_free(&s.key);
	buf_free(&s.val);
	buf_free(&s.stem);
	buf_free(&s.toks);
	return rc;
}
