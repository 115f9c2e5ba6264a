/*
 * bayes.c - the classifier over the lookup store: key building, one
 * batched read per classification, learning and forgetting as one
 * batched increment, and the arithmetic (Robinson's f(w), Fisher's
 * method with the chi-square survival function).  bayes.h documents
 * the model, the key layout and the bounds; bayes_token.c the tokens.
 *
 * Numbers: a token's two counts share one counter, spam * 2^32 + ham,
 * so that a message costs one key per token to read and to write; a
 * value read back negative (not ours) counts as nothing, and forgetting
 * never takes a count below 0 (it reads them first), so ham never
 * borrows from spam.  XXX a token seen in 2^32 ham would carry into
 * its spam count: a saturating update needs a capped increment the
 * lookup store does not offer.
 *
 * libm is not linked into Postern, so the two functions Fisher's method
 * needs, ln and exp, are computed here from frexp/ldexp (libc) and short
 * series that reach double precision on the reduced ranges.
 *
 * Markers: learning claims the message's marker with an atomic
 * increment by its class code (ham 1, spam 2).  A result equal to the
 * code means nobody had learned it; anything else tells the previous
 * code and the increment is taken back (or, relearning, turned into
 * the new code).  A failed write of the counts releases the claim.
 * Forgetting looks first (so forgetting the unknown creates no key),
 * then claims with a decrement to 0, which reads as "not learned" and
 * keeps the marker's expiry; a failed write puts the code back, and
 * the marker at 0 is deleted last (a failure there changes nothing).
 */
#include <math.h>	/* frexp, ldexp: in libc, not libm */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "filters/bayes.h"
#include "filters/filters_priv.h"
#include "lookup/lookup.h"

#define PREFIX "bayes:"
#define LN2 0.693147180559945309417232121458
#define SQRT1_2 0.707106781186547524400844362105

struct bayes {
	struct bayes_options o;
	/*
	 * Held from reading the counts to writing the changes, so that two
	 * learners of this process never both see a token as new (or both
	 * as last): the distinct-token count stays exact in-process.
	 */
	pthread_mutex_t mu;
	struct bayes_snap *snap;	/* snapshot: classify's reads */
};

/* a batch of keys under construction: offsets until the buffer stops
 * moving, then pointers */
struct keys {
	struct buf b;
	size_t *off, *len;
	struct lookup_key *v;
	size_t n, cap;
};

/* ---- arithmetic ---- */

double
bayes_ln(double x)
{
	int e;
	double m, z, z2, term, sum = 0;

	ASSERT(x > 0);
	m = frexp(x, &e);		/* x = m * 2^e, m in [0.5, 1) */
	if (m < SQRT1_2) {
		m *= 2;
		e--;
	}
	/* ln m = 2 atanh z, |z| <= 0.172: each term 34 times smaller */
	z = (m - 1) / (m + 1);
	z2 = z * z;
	term = z;
	for (int k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= z2;
		if (term < 1e-20 && term > -1e-20)
			break;
	}
	return 2 * sum + e * LN2;
}

double
bayes_exp(double x)
{
	double r, term = 1, sum = 1;
	int k;

	if (x < -745)
		return 0;
	if (x > 709)
		x = 709;
	/* x = k ln 2 + r with |r| <= ln 2 / 2 */
	k = (int)(x / LN2 + (x < 0 ? -0.5 : 0.5));
	r = x - k * LN2;
	for (int i = 1; i < 30; i++) {
		term *= r / i;
		sum += term;
		if (term < 1e-20 && term > -1e-20)
			break;
	}
	return ldexp(sum, k);
}

double
bayes_robinson(int64_t s, int64_t h, int64_t ns, int64_t nh, double x)
{
	double b, g, p, n = (double)s + (double)h;

	if (n <= 0 || ns <= 0 || nh <= 0)
		return x;
	b = (double)s / (double)ns;
	g = (double)h / (double)nh;
	p = b / (b + g);
	return (BAYES_S * x + n * p) / (BAYES_S + n);
}

double
bayes_chi2q(double x2, unsigned v)
{
	double m = x2 / 2, term, sum;

	ASSERT(v % 2 == 0);
	sum = term = bayes_exp(-m);
	for (unsigned i = 1; i < v / 2; i++) {
		term *= m / i;
		sum += term;
	}
	return sum < 1 ? sum : 1;
}

double
bayes_fisher(const double *f, size_t n)
{
	double s = 0, h = 0, sp, hp;

	if (n == 0)
		return 0.5;
	for (size_t i = 0; i < n; i++) {
		/* clues are inside (0, 1): Robinson's f never reaches 0 or 1 */
		s += bayes_ln(1 - f[i]);
		h += bayes_ln(f[i]);
	}
	sp = 1 - bayes_chi2q(-2 * s, 2 * (unsigned)n);
	hp = 1 - bayes_chi2q(-2 * h, 2 * (unsigned)n);
	return (sp - hp + 1) / 2;
}

const char *
bayes_verdict_name(enum bayes_verdict v)
{
	static const char *const names[] = { "none", "ham", "unsure",
		"spam" };

	return (unsigned)v < ARRAY_SIZE(names) ? names[v] : "?";
}

/* ---- keys ---- */

static void
keys_init(struct keys *k, size_t cap)
{
	memset(k, 0, sizeof(*k));
	buf_init(&k->b, 0);
	k->cap = cap;
	k->off = xcalloc(cap, sizeof(*k->off));
	k->len = xcalloc(cap, sizeof(*k->len));
	k->v = xcalloc(cap, sizeof(*k->v));
}

static void
keys_free(struct keys *k)
{
	buf_free(&k->b);
	free(k->off);
	free(k->len);
	free(k->v);
}

/* keys_add - prefix + a + b (binary) as the next key */
static void
keys_add(struct keys *k, const struct buf *prefix, const void *a, size_t alen,
    const void *b, size_t blen)
{
	ASSERT(k->n < k->cap);
	k->off[k->n] = k->b.len;
	if (prefix != NULL)
		buf_add(&k->b, prefix->data, prefix->len);
	buf_add(&k->b, a, alen);
	buf_add(&k->b, b, blen);
	k->len[k->n] = k->b.len - k->off[k->n];
	k->n++;
}

/* token_key - prefix "t" hash */
static void
token_key(struct keys *k, const struct buf *prefix, const unsigned char *hash)
{
	keys_add(k, prefix, "t", 1, hash, BAYES_HASH_LEN);
}

/* unpack - a token's counter: spam * 2^32 + ham */
static void
unpack(int64_t v, int64_t *s_r, int64_t *h_r)
{
	if (v < 0)
		v = 0;		/* not ours: count nothing */
	*s_r = v >> 32;
	*h_r = v & 0xffffffff;
}

static void
keys_done(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++) {
		k->v[i].key = k->b.data + k->off[i];
		k->v[i].len = k->len[i];
	}
}

/* set_prefix - "bayes:" or "bayes:u:<user>:" (lower-cased) */
static int
set_prefix(const char *user, struct buf *p, struct buf *err)
{
	size_t n = user != NULL ? strlen(user) : 0;

	buf_add_str(p, PREFIX);
	if (n == 0)
		return 0;
	if (n > BAYES_USER_MAX) {
		buf_addf(err, "bayes: user name longer than %u bytes",
		    BAYES_USER_MAX);
		return -1;
	}
	buf_add_str(p, "u:");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)user[i];

		if (c <= 0x20 || c == 0x7f) {
			buf_add_str(err, "bayes: bad user name");
			return -1;
		}
		buf_add(p, &(char){ (char)ascii_tolower(c) }, 1);
	}
	buf_add_str(p, ":");
	return 0;
}

/* counter - vals[i] as a count (absent 0, negative 0); -1 not a counter */
static int
counter(const struct buf *vals, const bool *found, size_t i, int64_t *v_r,
    struct buf *err)
{
	*v_r = 0;
	if (!found[i])
		return 0;
	if (lookup_parse_counter(vals[i].data, vals[i].len, v_r) < 0) {
		buf_add_str(err, "bayes: a token count is not a counter");
		return -1;
	}
	if (*v_r < 0)
		*v_r = 0;
	return 0;
}

/*
 * add_set_keys - the keys of one set, read by classify and apply:
 * nspam, nham, then each token's counter (2 + n keys)
 */
static void
add_set_keys(struct keys *k, const struct buf *prefix,
    const struct bayes_tokens *t)
{
	keys_add(k, prefix, "nspam", 5, NULL, 0);
	keys_add(k, prefix, "nham", 4, NULL, 0);
	for (size_t i = 0; i < t->n; i++)
		token_key(k, prefix, t->v[i].hash);
}

/* get_counts - lookup_get_many of k into cnt[0..k->n), through the
 * snapshot when snap and there is one */
static int
get_counts(struct bayes *b, struct keys *k, int64_t *cnt, bool snap,
    struct buf *err)
{
	struct buf *vals = xcalloc(k->n + 1, sizeof(*vals));
	bool *found = xcalloc(k->n + 1, sizeof(*found));
	int rc = 0;

	keys_done(k);
	for (size_t i = 0; i < k->n; i++)
		buf_init(&vals[i], 0);
	if ((snap && b->snap != NULL ? bayes_snap_get_many(b->snap,
	    b->o.lookup, k->v, k->n, vals, found, err) :
	    lookup_get_many(b->o.lookup, k->v, k->n, vals, found, err)) < 0)
		rc = -1;
	for (size_t i = 0; rc == 0 && i < k->n; i++)
		if (counter(vals, found, i, &cnt[i], err) < 0)
			rc = -1;
	for (size_t i = 0; i < k->n; i++)
		buf_free(&vals[i]);
	free(vals);
	free(found);
	return rc;
}

/* ---- the object ---- */

struct bayes *
bayes_new(const struct bayes_options *o)
{
	struct bayes *b = xcalloc(1, sizeof(*b));

	ASSERT(o->lookup != NULL);
	b->o = *o;
	pthread_mutex_init(&b->mu, NULL);
	if (o->snapshot)
		b->snap = bayes_snap_new(BAYES_SNAP_MAX);
	return b;
}

void
bayes_free(struct bayes **bp)
{
	if (*bp == NULL)
		return;
	pthread_mutex_destroy(&(*bp)->mu);
	bayes_snap_free(&(*bp)->snap);
	free(*bp);
	*bp = NULL;
}

static bool
is_trained(const struct bayes *b, int64_t ns, int64_t nh)
{
	int64_t min = b->o.min_learned > 0 ? b->o.min_learned : 1;

	return ns >= min && nh >= min;
}

struct clue {
	double f, dev;
	size_t i;		/* the token */
	int64_t s, h;
};

static int
clue_cmp(const void *a_, const void *b_)
{
	const struct clue *a = a_, *b = b_;

	if (a->dev != b->dev)
		return a->dev > b->dev ? -1 : 1;
	return a->i < b->i ? -1 : a->i > b->i;	/* stable: token order */
}

int
bayes_classify(struct bayes *b, const struct bayes_tokens *t,
    const char *user, struct bayes_result *r, struct buf *err)
{
	struct buf gp = BUF_INIT(0), up = BUF_INIT(0);
	bool has_user = user != NULL && user[0] != '\0';
	struct keys k;
	int64_t *cnt, *uc;
	struct clue *clues;
	double *f;
	size_t nc = 0, per = 2 + t->n;
	bool g_ok, u_ok = false;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	r->prob = 0.5;
	r->ntokens = t->n;
	buf_add_str(&gp, PREFIX);
	if (has_user && set_prefix(user, &up, err) < 0) {
		buf_free(&gp);
		buf_free(&up);
		return -1;
	}
	keys_init(&k, has_user ? 2 * per : per);
	add_set_keys(&k, &gp, t);
	if (has_user)
		add_set_keys(&k, &up, t);
	cnt = xcalloc(k.cap, sizeof(*cnt));
	clues = xcalloc(t->n + 1, sizeof(*clues));
	f = xcalloc(t->n + 1, sizeof(*f));
	if (get_counts(b, &k, cnt, true, err) < 0)
		goto out;
	uc = has_user ? cnt + per : NULL;
	r->nspam = cnt[0];
	r->nham = cnt[1];
	g_ok = is_trained(b, cnt[0], cnt[1]);
	if (uc != NULL) {
		r->user_nspam = uc[0];
		r->user_nham = uc[1];
		u_ok = is_trained(b, uc[0], uc[1]);
	}
	rc = 0;
	if (!g_ok && !u_ok) {
		r->verdict = BAYES_VERDICT_NONE;
		goto out;
	}
	r->user_used = u_ok;
	for (size_t i = 0; i < t->n; i++) {
		int64_t s, h, us = 0, uh = 0;
		double fw;

		unpack(cnt[2 + i], &s, &h);
		fw = g_ok ? bayes_robinson(s, h, cnt[0], cnt[1], BAYES_X) :
		    BAYES_X;
		if (u_ok) {
			unpack(uc[2 + i], &us, &uh);
			fw = bayes_robinson(us, uh, uc[0], uc[1], fw);
			s += us;
			h += uh;
		}
		if (fw - 0.5 > BAYES_MIN_DEV || 0.5 - fw > BAYES_MIN_DEV) {
			clues[nc].f = fw;
			clues[nc].dev = fw > 0.5 ? fw - 0.5 : 0.5 - fw;
			clues[nc].i = i;
			clues[nc].s = s;
			clues[nc].h = h;
			nc++;
		}
	}
	qsort(clues, nc, sizeof(*clues), clue_cmp);
	if (nc > BAYES_CLUES_MAX)
		nc = BAYES_CLUES_MAX;
	for (size_t i = 0; i < nc; i++)
		f[i] = clues[i].f;
	r->nclues = nc;
	r->prob = bayes_fisher(f, nc);
	r->verdict = r->prob >= BAYES_SPAM_CUTOFF ? BAYES_VERDICT_SPAM :
	    r->prob <= BAYES_HAM_CUTOFF ? BAYES_VERDICT_HAM :
	    BAYES_VERDICT_UNSURE;
	for (size_t i = 0; i < nc && r->ntop < BAYES_TOP_MAX; i++) {
		struct bayes_clue *c = &r->top[r->ntop++];

		(void)snprintf(c->token, sizeof(c->token), "%s",
		    bayes_token_text(t, clues[i].i));
		c->prob = clues[i].f;
		c->spam = clues[i].s;
		c->ham = clues[i].h;
	}
out:
	keys_free(&k);
	free(cnt);
	free(clues);
	free(f);
	buf_free(&gp);
	buf_free(&up);
	return rc;
}

/* ---- learning ---- */

enum op { OP_SKIP, OP_LEARN, OP_RELEARN, OP_FORGET };

/*
 * A group: messages whose keys fit one lookup batch.  Its write holds
 * every changed token, the three totals and one marker correction per
 * message; its read the totals and every token.
 */
#define GROUP_MSGS 1024u
#define GROUP_TOKENS (LOOKUP_BATCH_MAX - 3 - GROUP_MSGS)
#define TOKSET_SLOTS 131072u	/* a power of two, > 2 * GROUP_TOKENS */
_Static_assert(TOKSET_SLOTS > 2 * GROUP_TOKENS, "token set too small");
_Static_assert(GROUP_TOKENS >= BAYES_TOKENS_MAX, "a message must fit");

/* the distinct tokens of a group, by hash */
struct tokset {
	uint32_t *slot;			/* 1 + index, 0 empty */
	const unsigned char **hash;	/* GROUP_TOKENS of them */
	size_t n;
};

static void
tokset_init(struct tokset *s)
{
	s->slot = xcalloc(TOKSET_SLOTS, sizeof(*s->slot));
	s->hash = xcalloc(GROUP_TOKENS, sizeof(*s->hash));
	s->n = 0;
}

static void
tokset_free(struct tokset *s)
{
	free(s->slot);
	free(s->hash);
}

static void
tokset_reset(struct tokset *s)
{
	memset(s->slot, 0, TOKSET_SLOTS * sizeof(*s->slot));
	s->n = 0;
}

_Static_assert(BAYES_HASH_LEN == 12, "hash_eq compares 8 + 4 bytes");

/* hash_eq - two token hashes equal (inline: a memcmp call per probe was
 * a tenth of learning) */
static inline bool
hash_eq(const unsigned char *a, const unsigned char *b)
{
	uint64_t x, y;
	uint32_t u, v;

	memcpy(&x, a, 8);
	memcpy(&y, b, 8);
	memcpy(&u, a + 8, 4);
	memcpy(&v, b + 8, 4);
	return x == y && u == v;
}

/* tokset_find - the slot of hash h: its index + 1 there, or 0 (free) */
static size_t
tokset_find(const struct tokset *s, const unsigned char *h)
{
	uint64_t x;
	size_t i;

	memcpy(&x, h, sizeof(x));	/* a SHA-256 prefix: uniform */
	for (i = x & (TOKSET_SLOTS - 1); s->slot[i] != 0;
	    i = (i + 1) & (TOKSET_SLOTS - 1))
		if (hash_eq(s->hash[s->slot[i] - 1], h))
			break;
	return i;
}

/* tokset_add - the index of hash h, added when new (room checked by the
 * caller) */
static size_t
tokset_add(struct tokset *s, const unsigned char *h)
{
	size_t i = tokset_find(s, h);

	if (s->slot[i] != 0)
		return s->slot[i] - 1;
	ASSERT(s->n < GROUP_TOKENS);
	s->hash[s->n] = h;
	s->slot[i] = (uint32_t)++s->n;
	return s->n - 1;
}

/* tokset_new - how many of t's tokens s lacks */
static size_t
tokset_new(const struct tokset *s, const struct bayes_tokens *t)
{
	size_t n = 0;

	for (size_t j = 0; j < t->n; j++)
		n += s->slot[tokset_find(s, t->v[j].hash)] == 0;
	return n;
}

static void
tokset_add_all(struct tokset *s, const struct bayes_tokens *t)
{
	for (size_t j = 0; j < t->n; j++)
		(void)tokset_add(s, t->v[j].hash);
}

/* step - one count by op: +1 for the class learned, the other class -1
 * when relearning, -1 forgetting; never below 0 */
static void
step(int64_t *cs, size_t ci, enum op op)
{
	if (op == OP_FORGET) {
		cs[ci] -= cs[ci] > 0;
		return;
	}
	cs[ci]++;
	if (op == OP_RELEARN)
		cs[1 - ci] -= cs[1 - ci] > 0;
}

/*
 * apply - the count changes of the items of one set whose op is not
 * OP_SKIP, as one lookup_incr_many together with the extra keys x and
 * their deltas xd (marker corrections): the counts are read, the
 * changes played message by message on the copy (so a repeated message
 * and a token shared by many add up as one learner after another would
 * have made them), and the differences written.
 */
static int
apply(struct bayes *b, const struct buf *prefix, struct bayes_item *v,
    const enum op *ops, size_t n, const struct keys *x, const int64_t *xd,
    struct buf *err)
{
	struct tokset set;
	struct keys k, w;
	int64_t *cnt = NULL, *cur = NULL, *delta = NULL, *nv = NULL, ntok = 0;
	int64_t tot[2];
	size_t nk, tok_lo = 0, tok_hi = 0, nix = 0, at = 0;
	uint32_t *ix;		/* each counted token's index in set */
	bool blind = true;
	int rc = -1;

	tokset_init(&set);
	for (size_t i = 0; i < n; i++)
		nix += ops[i] != OP_SKIP ? v[i].t->n : 0;
	ix = xreallocarray(NULL, nix ? nix : 1, sizeof(*ix));
	for (size_t i = 0; i < n; i++) {
		blind &= ops[i] == OP_SKIP || ops[i] == OP_LEARN;
		if (ops[i] == OP_SKIP)
			continue;
		for (size_t j = 0; j < v[i].t->n; j++)
			ix[at++] = (uint32_t)tokset_add(&set,
			    v[i].t->v[j].hash);
	}
	at = 0;
	nk = 2 + set.n;
	keys_init(&k, nk);
	keys_init(&w, nk + 1 + x->n);
	keys_add(&k, prefix, "nspam", 5, NULL, 0);
	keys_add(&k, prefix, "nham", 4, NULL, 0);
	for (size_t i = 0; i < set.n; i++)
		token_key(&k, prefix, set.hash[i]);
	cnt = xcalloc(nk, sizeof(*cnt));
	cur = xcalloc(2 * nk, sizeof(*cur));	/* spam, ham of each key */
	delta = xcalloc(nk + 1 + x->n, sizeof(*delta));
	nv = xcalloc(nk + 1 + x->n, sizeof(*nv));
	pthread_mutex_lock(&b->mu);
	/*
	 * Learning only adds: the changes need no read (counts taken as 0),
	 * and a token is new where its result equals its change.
	 */
	if (!blind && get_counts(b, &k, cnt, false, err) < 0)
		goto out;
	keys_done(&k);
	tot[0] = cnt[0];
	tot[1] = cnt[1];
	for (size_t i = 2; i < nk; i++)
		unpack(cnt[i], &cur[2 * i], &cur[2 * i + 1]);
	for (size_t i = 0; i < n; i++) {
		size_t ci = v[i].c == BAYES_SPAM ? 0 : 1;

		if (ops[i] == OP_SKIP)
			continue;
		step(tot, ci, ops[i]);
		for (size_t j = 0; j < v[i].t->n; j++)
			step(&cur[2 * (2 + (size_t)ix[at++])], ci, ops[i]);
	}
	/* only the keys that change; the totals are plain counters */
	for (size_t i = 0; i < nk; i++) {
		int64_t os, oh, d;

		if (i < 2) {
			d = tot[i] - cnt[i];
		} else {
			unpack(cnt[i], &os, &oh);
			d = (cur[2 * i] - os) * ((int64_t)1 << 32) +
			    (cur[2 * i + 1] - oh);
			ntok += (os + oh == 0 && cur[2 * i] + cur[2 * i + 1] >
			    0) - (os + oh > 0 && cur[2 * i] + cur[2 * i + 1] ==
			    0);
		}
		if (i == 2)
			tok_lo = w.n;
		if (d == 0)
			continue;
		keys_add(&w, NULL, k.v[i].key, k.v[i].len, NULL, 0);
		delta[w.n - 1] = d;
	}
	tok_hi = w.n;
	if (ntok != 0 && !blind) {
		keys_add(&w, prefix, "ntokens", 7, NULL, 0);
		delta[w.n - 1] = ntok;
	}
	for (size_t i = 0; i < x->n; i++) {
		keys_add(&w, NULL, x->v[i].key, x->v[i].len, NULL, 0);
		delta[w.n - 1] = xd[i];
	}
	keys_done(&w);
	if (lookup_incr_many(b->o.lookup, w.v, w.n, delta, 0, nv, err) < 0)
		goto out;
	rc = 0;
	if (blind)
		ntok = 0;	/* what the loop counted assumed all new */
	for (size_t i = tok_lo; blind && i < tok_hi; i++)
		ntok += nv[i] == delta[i];
	if (blind && ntok != 0) {
		struct buf key = BUF_INIT(0), e2 = BUF_INIT(0);

		/* a statistic: the counts are in, so a failure only warns */
		buf_add(&key, prefix->data, prefix->len);
		buf_add_str(&key, "ntokens");
		if (lookup_incr(b->o.lookup, key.data, key.len, ntok, 0, NULL,
		    &e2) < 0)
			log_warn("bayes", "distinct-token count not updated: "
			    "%s", buf_cstr(&e2));
		buf_free(&key);
		buf_free(&e2);
	}
out:
	pthread_mutex_unlock(&b->mu);
	tokset_free(&set);
	free(ix);
	keys_free(&k);
	keys_free(&w);
	free(cnt);
	free(cur);
	free(delta);
	free(nv);
	return rc;
}

static void
marker_key(const struct buf *prefix, const struct bayes_tokens *t,
    struct buf *key)
{
	buf_add(key, prefix->data, prefix->len);
	buf_add(key, "m", 1);
	buf_add(key, t->id, BAYES_ID_LEN);
}

/*
 * learn_group - claim the markers of n messages with one increment by
 * their codes, decide from what each held before, then write the counts
 * and the markers' corrections at once; a failed write takes every
 * claim back.  A message twice in the group meets itself at the marker.
 */
static int
learn_group(struct bayes *b, const struct buf *prefix, struct bayes_item *v,
    size_t n, bool relearn, uint32_t ttl_s, struct buf *err)
{
	struct keys mk, fix;
	struct buf key = BUF_INIT(0), e2 = BUF_INIT(0);
	int64_t *code = xcalloc(n, sizeof(*code));
	int64_t *nv = xcalloc(n, sizeof(*nv));
	int64_t *fd = xcalloc(n, sizeof(*fd));
	enum op *ops = xcalloc(n, sizeof(*ops));
	bool work = false;
	int rc = -1;

	keys_init(&mk, n);
	keys_init(&fix, n);
	for (size_t i = 0; i < n; i++) {
		buf_reset(&key);
		marker_key(prefix, v[i].t, &key);
		keys_add(&mk, NULL, key.data, key.len, NULL, 0);
		code[i] = v[i].c == BAYES_SPAM ? 2 : 1;
	}
	keys_done(&mk);
	if (lookup_incr_many(b->o.lookup, mk.v, n, code, ttl_s, nv, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		int64_t prev = nv[i] - code[i];
		int64_t d = 0;

		if (prev == 0) {
			ops[i] = OP_LEARN;
			v[i].out = BAYES_LEARNED;
		} else if (prev == 3 - code[i] && relearn) {
			ops[i] = OP_RELEARN;	/* the marker becomes ours */
			v[i].out = BAYES_RELEARNED;
			d = -prev;
		} else {
			ops[i] = OP_SKIP;	/* the claim goes back */
			v[i].out = prev == 3 - code[i] ? BAYES_OTHER :
			    BAYES_ALREADY;
			d = -code[i];
		}
		work |= ops[i] != OP_SKIP;
		if (d != 0) {
			keys_add(&fix, NULL, mk.v[i].key, mk.v[i].len, NULL,
			    0);
			fd[fix.n - 1] = d;
		}
	}
	keys_done(&fix);
	if (work ? apply(b, prefix, v, ops, n, &fix, fd, err) :
	    lookup_incr_many(b->o.lookup, fix.v, fix.n, fd, 0, NULL, err)) {
		/* release every claim so that a later try learns them */
		for (size_t i = 0; i < n; i++)
			code[i] = -code[i];
		if (lookup_incr_many(b->o.lookup, mk.v, n, code, 0, NULL,
		    &e2) < 0)
			log_warn("bayes", "learned-markers left claimed: %s",
			    buf_cstr(&e2));
		goto out;
	}
	rc = 0;
out:
	keys_free(&mk);
	keys_free(&fix);
	buf_free(&key);
	buf_free(&e2);
	free(code);
	free(nv);
	free(fd);
	free(ops);
	return rc;
}

int
bayes_learn_many(struct bayes *b, struct bayes_item *v, size_t n,
    const char *user, bool relearn, uint32_t ttl_s, struct buf *err)
{
	struct buf p = BUF_INIT(0);
	struct tokset set;
	size_t i = 0;
	int rc = 0;

	for (size_t j = 0; j < n; j++)
		v[j].done = false;
	if (set_prefix(user, &p, err) < 0) {
		buf_free(&p);
		return -1;
	}
	/* groups: as many messages as their distinct tokens allow */
	if (n > 1)
		tokset_init(&set);
	while (rc == 0 && i < n) {
		size_t j = i + 1;

		if (n > 1) {
			tokset_reset(&set);
			tokset_add_all(&set, v[i].t);
			/* the exact count only when the bound says maybe */
			while (j < n && j - i < GROUP_MSGS &&
			    (v[j].t->n <= GROUP_TOKENS - set.n ||
			    tokset_new(&set, v[j].t) <= GROUP_TOKENS - set.n))
				tokset_add_all(&set, v[j++].t);
		}
		if ((rc = learn_group(b, &p, v + i, j - i, relearn, ttl_s,
		    err)) == 0)
			for (size_t m = i; m < j; m++)
				v[m].done = true;
		i = j;
	}
	if (n > 1)
		tokset_free(&set);
	buf_free(&p);
	return rc;
}

int
bayes_learn(struct bayes *b, const struct bayes_tokens *t, const char *user,
    enum bayes_class c, bool relearn, uint32_t ttl_s,
    enum bayes_outcome *out_r, struct buf *err)
{
	struct bayes_item it = { .t = t, .c = c };

	if (bayes_learn_many(b, &it, 1, user, relearn, ttl_s, err) < 0)
		return -1;
	if (out_r != NULL)
		*out_r = it.out;
	return 0;
}

int
bayes_forget(struct bayes *b, const struct bayes_tokens *t, const char *user,
    enum bayes_class c, enum bayes_outcome *out_r, struct buf *err)
{
	struct buf p = BUF_INIT(0), mk = BUF_INIT(0), val = BUF_INIT(0);
	struct buf e2 = BUF_INIT(0);
	int64_t code = c == BAYES_SPAM ? 2 : 1, v = 0;
	enum bayes_outcome out = BAYES_LEARNED;
	struct bayes_item it = { .t = t, .c = c };
	enum op op = OP_FORGET;
	struct keys none = { .n = 0 };
	bool claimed = false;
	int rc = -1, r;

	if (set_prefix(user, &p, err) < 0)
		goto done;
	marker_key(&p, t, &mk);
	/* a look first, so that forgetting the unknown creates no key */
	if ((r = lookup_get(b->o.lookup, mk.data, mk.len, &val, err)) < 0)
		goto done;
	if (r == 1 && lookup_parse_counter(val.data, val.len, &v) < 0)
		v = 0;
	if (v == code) {
		/* claim it: 0 reads as "not learned" and keeps its expiry */
		if (lookup_incr(b->o.lookup, mk.data, mk.len, -code, 0, &v,
		    err) < 0)
			goto done;
		claimed = v == 0;
		if (!claimed) {		/* changed meanwhile: not ours */
			if (lookup_incr(b->o.lookup, mk.data, mk.len, code, 0,
			    NULL, err) < 0)
				goto done;
			v += code;
		}
	}
	if (!claimed) {
		out = v == 3 - code ? BAYES_OTHER : BAYES_NOT_LEARNED;
		rc = 0;
		goto done;
	}
	if (apply(b, &p, &it, &op, 1, &none, NULL, err) < 0) {
		if (lookup_incr(b->o.lookup, mk.data, mk.len, code, 0, NULL,
		    &e2) < 0)
			log_warn("bayes", "learned-marker lost after a failed "
			    "forget: %s", buf_cstr(&e2));
		goto done;
	}
	/* tidying: a marker at 0 reads as absent already */
	if (lookup_delete(b->o.lookup, mk.data, mk.len, &e2) < 0)
		log_warn("bayes", "learned-marker not deleted: %s",
		    buf_cstr(&e2));
	rc = 0;
done:
	if (rc == 0 && out_r != NULL)
		*out_r = out;
	buf_free(&p);
	buf_free(&mk);
	buf_free(&val);
	buf_free(&e2);
	return rc;
}

int
bayes_stats(struct bayes *b, const char *user, struct bayes_stats *s,
    struct buf *err)
{
	struct buf p = BUF_INIT(0);
	struct keys k;
	int64_t cnt[3] = { 0, 0, 0 };
	int rc = -1;

	memset(s, 0, sizeof(*s));
	if (set_prefix(user, &p, err) < 0) {
		buf_free(&p);
		return -1;
	}
	keys_init(&k, 3);
	keys_add(&k, &p, "nspam", 5, NULL, 0);
	keys_add(&k, &p, "nham", 4, NULL, 0);
	keys_add(&k, &p, "ntokens", 7, NULL, 0);
	if (get_counts(b, &k, cnt, false, err) == 0) {
		s->nspam = cnt[0];
		s->nham = cnt[1];
		s->ntokens = cnt[2];
		rc = 0;
	}
	keys_free(&k);
	buf_free(&p);
	return rc;
}

int
bayes_train_message(struct bayes *b, const char *user,
    const unsigned char *msg, size_t len, bool spam, bool unlearn_other,
    struct buf *err)
{
	struct bayes_tokens t;
	struct buf text = BUF_INIT(0);
	enum bayes_class c = spam ? BAYES_SPAM : BAYES_HAM;
	bool has_text = false;
	int rc;

	memset(&t, 0, sizeof(t));
	if (b->o.text != NULL)
		has_text = b->o.text(b->o.text_arg, msg, len, &text) == 0;
	bayes_tokenize(&t, msg, len, has_text ? buf_cstr(&text) : NULL,
	    has_text ? text.len : 0);
	rc = bayes_learn(b, &t, NULL, c, unlearn_other, 0, NULL, err);
	if (rc == 0 && b->o.per_user && user != NULL && user[0] != '\0')
		rc = bayes_learn(b, &t, user, c, unlearn_other, 0, NULL, err);
	bayes_tokens_free(&t);
	buf_free(&text);
	return rc;
}
