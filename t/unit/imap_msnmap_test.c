/*
 * imap_msnmap_test.c - the selected mailbox's MSN <-> UID list
 * (imap-jmap/imap_msnmap.c): lookups both ways, expunge order, sequence
 * sets with "*", UID sets over holes, a hostile set's cost, and a random
 * model check of removal against a plain array.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap-jmap/imap_priv.h"

static void
fill(struct imap_msnmap *m, const uint32_t *uids, size_t n)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++)
		imap_msnmap_append(m, uids[i]);
}

static void
test_lookup(void **state)
{
	static const uint32_t uids[] = { 3, 4, 9, 10, 11, 40 };
	struct imap_msnmap m;

	(void)state;
	fill(&m, uids, ARRAY_SIZE(uids));
	assert_int_equal(m.n, 6);
	assert_int_equal(imap_msnmap_last(&m), 40);
	assert_int_equal(imap_msnmap_msn(&m, 3), 1);
	assert_int_equal(imap_msnmap_msn(&m, 11), 5);
	assert_int_equal(imap_msnmap_msn(&m, 40), 6);
	assert_int_equal(imap_msnmap_msn(&m, 5), 0);	/* a hole */
	assert_int_equal(imap_msnmap_msn(&m, 41), 0);
	assert_int_equal(imap_msnmap_msn(&m, 1), 0);
	assert_int_equal(imap_msnmap_uid(&m, 1), 3);
	assert_int_equal(imap_msnmap_uid(&m, 6), 40);
	assert_int_equal(imap_msnmap_uid(&m, 0), 0);
	assert_int_equal(imap_msnmap_uid(&m, 7), 0);
	imap_msnmap_clear(&m);
	assert_int_equal(imap_msnmap_last(&m), 0);
	assert_int_equal(imap_msnmap_msn(&m, 3), 0);
}

/* EXPUNGE numbers in descending order stay valid one after the other */
static void
test_remove_order(void **state)
{
	static const uint32_t uids[] = { 1, 2, 3, 5, 8, 13, 21 };
	static const uint32_t gone[] = { 2, 4, 8, 21, 22 };	/* 4, 22 unknown */
	struct imap_msnmap m;
	uint32_t msns[ARRAY_SIZE(gone)];
	size_t n;

	(void)state;
	fill(&m, uids, ARRAY_SIZE(uids));
	n = imap_msnmap_remove(&m, gone, ARRAY_SIZE(gone), msns);
	assert_int_equal(n, 3);
	assert_int_equal(msns[0], 7);	/* 21 */
	assert_int_equal(msns[1], 5);	/* 8 */
	assert_int_equal(msns[2], 2);	/* 2 */
	assert_int_equal(m.n, 4);
	assert_int_equal(imap_msnmap_uid(&m, 1), 1);
	assert_int_equal(imap_msnmap_uid(&m, 2), 3);
	assert_int_equal(imap_msnmap_uid(&m, 3), 5);
	assert_int_equal(imap_msnmap_uid(&m, 4), 13);
	/* nothing known: nothing removed, nothing written */
	assert_int_equal(imap_msnmap_remove(&m, gone, ARRAY_SIZE(gone), NULL),
	    0);
	assert_int_equal(imap_msnmap_remove(&m, gone, 0, NULL), 0);
	/* appends go on after a removal */
	imap_msnmap_append(&m, 30);
	assert_int_equal(imap_msnmap_msn(&m, 30), 5);
	imap_msnmap_clear(&m);
}

/* against a plain array: random expunges, the client's replay of the
 * EXPUNGE responses ends where the map ends */
static void
test_remove_model(void **state)
{
	struct imap_msnmap m;
	uint32_t model[600], gone[600], msns[600];
	size_t n = 0;
	unsigned seed = 12345;

	(void)state;
	memset(&m, 0, sizeof(m));
	for (uint32_t u = 1; n < ARRAY_SIZE(model); u += 1 + (u % 3)) {
		model[n++] = u;
		imap_msnmap_append(&m, u);
	}
	for (int round = 0; round < 50 && n > 0; round++) {
		size_t ng = 0, k;

		for (size_t i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			if ((seed >> 16) % 7 == 0)
				gone[ng++] = model[i];
		}
		k = imap_msnmap_remove(&m, gone, ng, msns);
		assert_int_equal(k, ng);
		/* the client applies "* msn EXPUNGE" one by one */
		for (size_t i = 0; i < k; i++) {
			assert_true(msns[i] >= 1 && msns[i] <= n);
			if (i > 0)
				assert_true(msns[i] < msns[i - 1]);
			memmove(&model[msns[i] - 1], &model[msns[i]],
			    (n - msns[i]) * sizeof(*model));
			n--;
		}
		assert_int_equal(m.n, n);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(imap_msnmap_uid(&m, (uint32_t)i + 1),
			    model[i]);
	}
	imap_msnmap_clear(&m);
}

static struct imap_seqset
set_of(const struct imap_seq_range *r, size_t n)
{
	struct imap_seqset s = { r, n, false };

	return s;
}

static void
test_resolve(void **state)
{
	static const uint32_t uids[] = { 10, 20, 30, 40, 50 };
	static const struct imap_seq_range star[] = { { 2, IMAP_SEQ_STAR } };
	static const struct imap_seq_range rev[] = { { 4, 2 }, { 1, 1 },
		{ 3, 3 } };
	static const struct imap_seq_range past[] = { { 6, 6 } };
	static const struct imap_seq_range uidr[] = { { 15, 35 }, { 50, 50 },
		{ 99, 99 } };
	static const struct imap_seq_range uidstar[] = { { 60,
		IMAP_SEQ_STAR } };
	static const struct imap_seq_range uidnone[] = { { 11, 19 } };
	struct imap_msnmap m;
	struct imap_seqset s;
	uint32_t *v;
	long n;

	(void)state;
	fill(&m, uids, ARRAY_SIZE(uids));
	s = set_of(star, 1);
	n = imap_msnmap_resolve(&m, &s, false, &v);
	assert_int_equal(n, 4);
	assert_int_equal(v[0], 2);
	assert_int_equal(v[3], 5);
	free(v);
	s = set_of(rev, 3);	/* "4:2,1,3": sorted, no duplicate */
	n = imap_msnmap_resolve(&m, &s, false, &v);
	assert_int_equal(n, 4);
	for (long i = 0; i < n; i++)
		assert_int_equal(v[i], (uint32_t)i + 1);
	free(v);
	s = set_of(past, 1);	/* past the last MSN: invalid */
	assert_int_equal(imap_msnmap_resolve(&m, &s, false, &v), -1);
	assert_null(v);
	s = set_of(uidr, 3);	/* UIDs: holes and unknown ones skipped */
	n = imap_msnmap_resolve(&m, &s, true, &v);
	assert_int_equal(n, 3);
	assert_int_equal(v[0], 2);
	assert_int_equal(v[1], 3);
	assert_int_equal(v[2], 5);
	free(v);
	/* "60:*" with 50 the largest UID is 50:60 (RFC 9051 6.4.8) */
	s = set_of(uidstar, 1);
	n = imap_msnmap_resolve(&m, &s, true, &v);
	assert_int_equal(n, 1);
	assert_int_equal(v[0], 5);
	free(v);
	s = set_of(uidnone, 1);
	assert_int_equal(imap_msnmap_resolve(&m, &s, true, &v), 0);
	assert_null(v);
	assert_true(imap_seqset_has(&(struct imap_seqset){ uidr, 3, false },
	    50, 50));
	assert_false(imap_seqset_has(&(struct imap_seqset){ uidr, 3, false },
	    40, 50));
	assert_true(imap_seqset_has(&(struct imap_seqset){ uidstar, 1,
	    false }, 55, 50));	/* 60:* with * = 50: 50:60 */
	imap_msnmap_clear(&m);
}

/* "1:*" 100,000 times over 20,000 messages: linear, not quadratic */
static void
test_resolve_hostile(void **state)
{
	struct imap_seq_range *r = calloc(100000, sizeof(*r));
	struct imap_msnmap m;
	struct imap_seqset s;
	uint32_t *v;
	long n;

	(void)state;
	assert_non_null(r);
	memset(&m, 0, sizeof(m));
	for (uint32_t u = 1; u <= 20000; u++)
		imap_msnmap_append(&m, u * 2);
	for (size_t i = 0; i < 100000; i++)
		r[i] = (struct imap_seq_range){ 1, IMAP_SEQ_STAR };
	s = set_of(r, 100000);
	n = imap_msnmap_resolve(&m, &s, false, &v);
	assert_int_equal(n, 20000);
	assert_int_equal(v[19999], 20000);
	free(v);
	imap_msnmap_clear(&m);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_remove_order),
		cmocka_unit_test(test_remove_model),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_resolve_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
