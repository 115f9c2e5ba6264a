/*
 * ip_count_test.c - connections per address (common/ip_count.h): counts
 * per address, independent addresses, an address gone with its last
 * connection, releasing an unknown address, many addresses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "common/ip_count.h"

static void
test_counts(void **state)
{
	struct ip_count_table t;
	char ip[32];

	(void)state;
	ip_count_init(&t);
	assert_int_equal(ip_count_get(&t, "192.0.2.1"), 0);
	ip_count_add(&t, "192.0.2.1");
	ip_count_add(&t, "192.0.2.1");
	ip_count_add(&t, "2001:db8::1");
	assert_int_equal(ip_count_get(&t, "192.0.2.1"), 2);
	assert_int_equal(ip_count_get(&t, "2001:db8::1"), 1);
	assert_int_equal(ip_count_get(&t, "192.0.2.10"), 0);
	ip_count_del(&t, "192.0.2.1");
	assert_int_equal(ip_count_get(&t, "192.0.2.1"), 1);
	ip_count_del(&t, "192.0.2.1");
	assert_int_equal(ip_count_get(&t, "192.0.2.1"), 0);
	ip_count_del(&t, "192.0.2.1");		/* none left: nothing */
	assert_int_equal(ip_count_get(&t, "192.0.2.1"), 0);
	assert_int_equal(ip_count_get(&t, "2001:db8::1"), 1);
	for (unsigned i = 0; i < 5000; i++) {
		(void)snprintf(ip, sizeof(ip), "10.%u.%u.1", i / 256, i % 256);
		ip_count_add(&t, ip);
	}
	assert_int_equal(ip_count_get(&t, "10.19.135.1"), 1);
	assert_int_equal(ip_count_get(&t, "10.19.136.1"), 0);
	ip_count_free(&t);			/* LeakSanitizer: all freed */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
