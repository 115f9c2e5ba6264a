/*
 * lookup_mem_test.c - the lookup conformance suite (lookup_conformance.c)
 * on the "memory" backend, then what is the memory backend's own: the
 * byte budget (least recently used entries go, expired ones before any
 * live one), lazy expiry, and the smallest budget; and, once, the
 * counter format of the front end.
 */
#include "t/unit/lookup_conformance.c"

static int
mem_open(struct lkc *c, const char *prefix, struct lookup **l_r,
    struct buf *err)
{
	struct lookup_options o = { .backend = "memory", .prefix = prefix,
	    .now = lkc_clock, .now_arg = c };

	return lookup_open(&o, l_r, err);
}

static struct lookup *
mem_open_max(struct lkc *c, size_t max)
{
	struct lookup_options o = { .backend = "memory", .prefix = "m:",
	    .now = lkc_clock, .now_arg = c, .mem_max_bytes = max };
	struct lookup *l = NULL;

	ok(lookup_open(&o, &l, &c->err), &c->err);
	return l;
}

static void
put_n(struct lkc *c, struct lookup *l, const char *name, int from, int to,
    uint32_t ttl)
{
	static const char val[200] = "v";
	char k[32];

	for (int i = from; i < to; i++)
		set(c, l, k, keyname(k, sizeof(k), name, i), val, sizeof(val),
		    ttl);
}

static bool
has(struct lkc *c, struct lookup *l, const char *name, int i)
{
	struct buf v = BUF_INIT(0);
	char k[32];
	int r = lookup_get(l, k, keyname(k, sizeof(k), name, i), &v, &c->err);

	ok(r, &c->err);
	buf_free(&v);
	return r == 1;
}

/* a hot set read now and then survives a flood of new keys */
static void
test_mem_budget(void **state)
{
	struct lkc *c = *state;
	struct lookup *l = mem_open_max(c, 1u << 20);
	struct lookup_mem_stats st;
	int n = 20000;

	put_n(c, l, "hot", 0, 32, 0);
	for (int i = 0; i < n; i += 100) {
		put_n(c, l, "cold", i, i + 100, 0);
		for (int h = 0; h < 32; h++)
			assert_true(has(c, l, "hot", h));
		lookup_mem_stats(l, &st);
		assert_true(st.bytes <= st.max_bytes);
	}
	for (int i = n - 100; i < n; i++)	/* the newest stay */
		assert_true(has(c, l, "cold", i));
	assert_false(has(c, l, "cold", 0));	/* the oldest went */
	lookup_mem_stats(l, &st);
	print_message("memory: %zu entries, %zu of %zu bytes, %llu evicted\n",
	    st.entries, st.bytes, st.max_bytes,
	    (unsigned long long)st.evicted);
	assert_true(st.bytes <= st.max_bytes);
	assert_true(st.bytes > st.max_bytes / 2);	/* it is used */
	assert_true(st.evicted > 0);
	assert_true(st.entries + st.evicted == (size_t)n + 32);
	/* the largest value fits at any budget */
	lookup_close(&l);
	l = mem_open_max(c, LOOKUP_MEM_MIN);
	{
		unsigned char *big = xcalloc(1, LOOKUP_VALUE_MAX);

		put_n(c, l, "k", 0, 1000, 0);
		for (int i = 0; i < 3; i++)
			set(c, l, S("big"), big, LOOKUP_VALUE_MAX, 0);
		expect(c, l, S("big"), big, LOOKUP_VALUE_MAX);
		lookup_mem_stats(l, &st);
		assert_true(st.bytes <= st.max_bytes);
		free(big);
	}
	lookup_close(&l);
}

/* over budget, expired entries go before live ones, even older ones */
static void
test_mem_expired_first(void **state)
{
	struct lkc *c = *state;
	struct lookup *l = mem_open_max(c, 1u << 20);
	struct lookup_mem_stats st;

	put_n(c, l, "old", 0, 1200, 0);	/* least recently used */
	put_n(c, l, "ttl", 0, 1200, 10);
	lookup_mem_stats(l, &st);
	assert_int_equal(st.evicted, 0);
	lkc_pass(c, 10);
	put_n(c, l, "new", 0, 1200, 0);	/* over budget: needs room */
	lookup_mem_stats(l, &st);
	assert_int_equal(st.evicted, 0);
	assert_true(st.expired > 0);
	assert_true(st.bytes <= st.max_bytes);
	for (int i = 0; i < 1200; i++) {
		assert_true(has(c, l, "old", i));
		assert_true(has(c, l, "new", i));
		assert_false(has(c, l, "ttl", i));
	}
	lookup_close(&l);
}

/* a read drops an expired entry; lookup_expire drops the rest */
static void
test_mem_lazy(void **state)
{
	struct lkc *c = *state;
	struct lookup *l = mem_open_max(c, 0);
	struct lookup_mem_stats st;
	size_t n;

	put_n(c, l, "k", 0, 10, 5);
	put_n(c, l, "p", 0, 10, 0);
	lkc_pass(c, 5);
	lookup_mem_stats(l, &st);
	assert_int_equal(st.entries, 20);
	assert_int_equal(st.max_bytes, LOOKUP_MEM_DEFAULT);
	assert_false(has(c, l, "k", 3));
	lookup_mem_stats(l, &st);
	assert_int_equal(st.entries, 19);
	assert_int_equal(st.expired, 1);
	ok(lookup_expire(l, 4, &n, &c->err), &c->err);
	assert_int_equal(n, 4);
	ok(lookup_expire(l, 0, &n, &c->err), &c->err);
	assert_int_equal(n, 5);
	lookup_mem_stats(l, &st);
	assert_int_equal(st.entries, 10);
	assert_int_equal(st.expired, 10);
	lookup_close(&l);
}

static void
test_mem_min(void **state)
{
	struct lkc *c = *state;
	struct lookup_options o = { .backend = "memory",
	    .mem_max_bytes = LOOKUP_MEM_MIN - 1 };
	struct lookup *l = NULL;

	buf_reset(&c->err);
	assert_int_equal(lookup_open(&o, &l, &c->err), -1);
	assert_null(l);
	assert_non_null(strstr(buf_cstr(&c->err), "minimum"));
}

/* the counter format, shared by every backend (lookup.c) */
static void
test_parse_counter(void **state)
{
	static const struct {
		const char *in;
		int ok;
		int64_t v;
	} cases[] = {
		{ "0", 0, 0 }, { "7", 0, 7 }, { "-7", 0, -7 },
		{ "9223372036854775807", 0, INT64_MAX },
		{ "-9223372036854775808", 0, INT64_MIN },
		{ "9223372036854775808", -1, 0 },
		{ "-9223372036854775809", -1, 0 },
		{ "18446744073709551616", -1, 0 },
		{ "", -1, 0 }, { "-", -1, 0 }, { "-0", -1, 0 }, { "00", -1, 0 },
		{ "+1", -1, 0 }, { "1a", -1, 0 }, { " 1", -1, 0 },
		{ "000000000000000000001", -1, 0 },
	};
	char num[LOOKUP_COUNTER_LEN_MAX + 1];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t v = 12345;
		int r = lookup_parse_counter(cases[i].in, strlen(cases[i].in),
		    &v);

		if (r != cases[i].ok || (r == 0 && v != cases[i].v))
			fail_msg("\"%s\": %d", cases[i].in, r);
		if (r == 0) {	/* and back: the format is canonical */
			assert_int_equal(lookup_counter_fmt(v, num),
			    strlen(cases[i].in));
			assert_string_equal(num, cases[i].in);
		}
	}
}

static const struct lkc_backend mem_backend = {
	.name = "memory",
	.open = mem_open,
	.sweeps = true,
	.writes = 20000,
};

int
main(void)
{
	const struct CMUnitTest own[] = {
		LKT(test_mem_budget),
		LKT(test_mem_expired_first),
		LKT(test_mem_lazy),
		LKT(test_mem_min),
		LKT(test_parse_counter),
	};

	return lookup_conformance_run(&mem_backend, own, ARRAY_SIZE(own));
}
