/*
 * kv_conformance_model.c - random operations checked against a model: a
 * sorted array of the keys the store must hold.  Keys start with bytes on
 * both sides of every subspace boundary (store/LAYOUT.md: a backend may
 * keep subspaces apart, as kv_sqlite.c keeps large values in another
 * table), so gets, puts, deletes, range deletes and scans in both
 * directions with random bounds cross them, and scans write ahead of
 * themselves as they go.  Not a program: kv_conformance.c includes it.
 */
#define MODEL_MAX 512
#define MODEL_KEY 5
#define MODEL_ROUNDS 40
#define MODEL_OPS 120

struct mkey {
	unsigned char k[MODEL_KEY];
	size_t n;
	uint32_t v;
};

struct model {
	struct mkey e[MODEL_MAX];
	size_t n;
	uint64_t rng;
};

/* first bytes: the ends, and both sides of each subspace letter */
static const unsigned char model_first[] = {
	0x00, 0x01, 0x41, 'B', 'C', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'M',
	'N', 'O', 'U', 'V', 'W', 'a', 0x7f, 0x80, 0xfe, 0xff,
};
static const unsigned char model_tail[] = { 0x00, 0x01, 'a', 0xfe, 0xff };

static uint32_t
model_rand(struct model *m, uint32_t below)
{
	m->rng = m->rng * 6364136223846793005ULL + 1442695040888963407ULL;
	return (uint32_t)(m->rng >> 33) % below;
}

/* model_key - a random key, empty one time in 50 */
static void
model_key(struct model *m, struct mkey *k)
{
	k->n = model_rand(m, 50) == 0 ? 0 : 1 + model_rand(m, MODEL_KEY);
	for (size_t i = 0; i < k->n; i++)
		k->k[i] = i == 0 ? model_first[model_rand(m,
		    sizeof(model_first))] : model_tail[model_rand(m,
		    sizeof(model_tail))];
}

static int
model_cmp(const unsigned char *a, size_t an, const unsigned char *b,
    size_t bn)
{
	int r = memcmp(a, b, an < bn ? an : bn);

	return r != 0 ? r : an < bn ? -1 : an > bn;
}

/* model_find - the index of the first key >= k */
static size_t
model_find(const struct model *m, const unsigned char *k, size_t n)
{
	size_t lo = 0, hi = m->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (model_cmp(m->e[mid].k, m->e[mid].n, k, n) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void
model_put(struct kvc *c, struct kv_txn *t, struct model *m,
    const struct mkey *k)
{
	size_t i = model_find(m, k->k, k->n);
	uint32_t v = model_rand(m, 1000000);

	if (i < m->n && model_cmp(m->e[i].k, m->e[i].n, k->k, k->n) == 0) {
		m->e[i].v = v;
	} else {
		if (m->n == MODEL_MAX)
			return;
		memmove(&m->e[i + 1], &m->e[i], (m->n - i) * sizeof(m->e[0]));
		m->e[i] = *k;
		m->e[i].v = v;
		m->n++;
	}
	put(c, t, k->k, k->n, &v, sizeof(v));
}

static void
model_del_at(struct kvc *c, struct kv_txn *t, struct model *m, size_t i)
{
	ok(kv_delete(t, m->e[i].k, m->e[i].n, &c->err), &c->err);
	memmove(&m->e[i], &m->e[i + 1], (m->n - i - 1) * sizeof(m->e[0]));
	m->n--;
}

/* model_bounds - a random range: [lo, hi), *hi_n 0 = unbounded */
static void
model_bounds(struct model *m, struct mkey *lo, struct mkey *hi)
{
	model_key(m, lo);
	model_key(m, hi);
	if (model_rand(m, 4) == 0)
		hi->n = 0;
	else if (hi->n > 0 && model_cmp(lo->k, lo->n, hi->k, hi->n) > 0) {
		struct mkey x = *lo;

		*lo = *hi;
		*hi = x;
	}
}

/*
 * model_scan - a scan of [lo, hi) that, one step in three, writes or
 * deletes a key ahead of its position: each key returned must be the
 * model's next one then
 */
static void
model_scan(struct kvc *c, struct kv_txn *t, struct model *m, bool reverse,
    bool write)
{
	struct mkey lo, hi, last = { .n = 0 };
	struct kv_iter *it;
	const void *k, *v;
	size_t kn, vn;
	bool has_last = false;
	int r;

	model_bounds(m, &lo, &hi);
	ok(kv_iter_new(t, lo.k, lo.n, hi.n > 0 ? hi.k : NULL, hi.n, reverse,
	    &it, &c->err), &c->err);
	for (;;) {
		size_t a = model_find(m, lo.k, lo.n);
		size_t b = hi.n > 0 ? model_find(m, hi.k, hi.n) : m->n;
		size_t want;
		bool none;

		/* the model's next key: past last, within [a, b) */
		if (!reverse) {
			if (has_last) {
				want = model_find(m, last.k, last.n);
				if (want < m->n && model_cmp(m->e[want].k,
				    m->e[want].n, last.k, last.n) == 0)
					want++;
				if (want < a)
					want = a;
			} else {
				want = a;
			}
			none = want >= b;
		} else {
			size_t top = has_last ? model_find(m, last.k, last.n) :
			    b;

			if (top > b)
				top = b;
			none = top <= a;
			want = none ? 0 : top - 1;
		}
		r = kv_iter_next(it, &k, &kn, &v, &vn, &c->err);
		ok(r, &c->err);
		if (none) {
			assert_int_equal(r, 0);
			break;
		}
		assert_int_equal(r, 1);
		assert_int_equal(kn, m->e[want].n);
		assert_memory_equal(kn > 0 ? k : "", m->e[want].k, kn);
		assert_int_equal(vn, sizeof(uint32_t));
		assert_memory_equal(v, &m->e[want].v, vn);
		last = m->e[want];
		has_last = true;
		if (!write || model_rand(m, 3) != 0)
			continue;
		/* a write ahead of the position, or a delete of a key there */
		if (model_rand(m, 2) == 0) {
			struct mkey nk;

			model_key(m, &nk);
			if (reverse ? model_cmp(nk.k, nk.n, last.k, last.n) < 0 :
			    model_cmp(nk.k, nk.n, last.k, last.n) > 0)
				model_put(c, t, m, &nk);
		} else if (m->n > 0) {
			size_t i = model_rand(m, (uint32_t)m->n);

			if (reverse ? model_cmp(m->e[i].k, m->e[i].n, last.k,
			    last.n) < 0 : model_cmp(m->e[i].k, m->e[i].n,
			    last.k, last.n) > 0)
				model_del_at(c, t, m, i);
		}
	}
	kv_iter_free(&it);
}

static void
test_random_model(void **state)
{
	struct kvc *c = *state;
	struct model *m = xcalloc(1, sizeof(*m));
	struct kv_txn *t;

	m->rng = 20261130;
	for (int round = 0; round < MODEL_ROUNDS; round++) {
		bool write = round % 4 != 3;

		t = begin(c, write ? KV_WRITE : KV_READ);
		for (int op = 0; op < MODEL_OPS; op++) {
			uint32_t what = model_rand(m, write ? 10 : 2);
			struct mkey k, hi;

			if (what == 0 || what == 1) {
				model_scan(c, t, m, what == 1, write);
			} else if (what <= 5) {
				model_key(m, &k);
				model_put(c, t, m, &k);
			} else if (what <= 7 && m->n > 0) {
				model_del_at(c, t, m, model_rand(m,
				    (uint32_t)m->n));
			} else if (what == 8) {
				size_t a, b;

				model_bounds(m, &k, &hi);
				ok(kv_delete_range(t, k.k, k.n, hi.n > 0 ?
				    hi.k : NULL, hi.n, &c->err), &c->err);
				a = model_find(m, k.k, k.n);
				b = hi.n > 0 ? model_find(m, hi.k, hi.n) : m->n;
				if (b > a) {
					memmove(&m->e[a], &m->e[b], (m->n - b) *
					    sizeof(m->e[0]));
					m->n -= b - a;
				}
			} else {
				size_t i;

				model_key(m, &k);
				i = model_find(m, k.k, k.n);
				if (i < m->n && model_cmp(m->e[i].k, m->e[i].n,
				    k.k, k.n) == 0)
					expect(c, t, k.k, k.n, &m->e[i].v,
					    sizeof(uint32_t));
				else
					expect(c, t, k.k, k.n, NULL, 0);
			}
		}
		if (write)
			commit(c, &t);
		else
			kv_abort(&t);
		if (round == MODEL_ROUNDS / 2)
			reopen(c, false);	/* the same keys from disk */
	}
	free(m);
}
