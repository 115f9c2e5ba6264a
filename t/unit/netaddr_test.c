/*
 * netaddr_test.c - listen specs (good and bad IPv4, IPv6, ports, junk),
 * printing IPs (v4-mapped as IPv4), ports and loopback tests.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "common/netaddr.h"

static const struct {
	const char *in;
	int family;		/* 0: must fail */
	const char *ip;		/* netaddr_ip of the result */
	unsigned port;
	bool loopback;
} listen_cases[] = {
	{ "0.0.0.0:25", AF_INET, "0.0.0.0", 25, false },
	{ "127.0.0.1:2525", AF_INET, "127.0.0.1", 2525, true },
	{ "127.255.0.9:1", AF_INET, "127.255.0.9", 1, true },
	{ "192.0.2.1:65535", AF_INET, "192.0.2.1", 65535, false },
	{ "[::]:25", AF_INET6, "::", 25, false },
	{ "[::1]:587", AF_INET6, "::1", 587, true },
	{ "[2001:db8::1]:465", AF_INET6, "2001:db8::1", 465, false },
	{ "[::ffff:192.0.2.7]:25", AF_INET6, "192.0.2.7", 25, false },
	{ "[::ffff:127.0.0.1]:25", AF_INET6, "127.0.0.1", 25, true },
	{ "1.2.3.4:025", AF_INET, "1.2.3.4", 25, false },
	{ "unix:/run/postern/lmtp", AF_UNIX, "local", 0, true },
	{ "unix:/x", AF_UNIX, "local", 0, true },

	{ "", 0, NULL, 0, false },
	{ "1.2.3.4", 0, NULL, 0, false },		/* no port */
	{ "1.2.3.4:", 0, NULL, 0, false },
	{ "1.2.3.4:0", 0, NULL, 0, false },
	{ "1.2.3.4:65536", 0, NULL, 0, false },
	{ "1.2.3.4:99999999999999999999999", 0, NULL, 0, false },
	{ "1.2.3.4:25x", 0, NULL, 0, false },
	{ "1.2.3.4:+25", 0, NULL, 0, false },
	{ "1.2.3.4:-25", 0, NULL, 0, false },
	{ "1.2.3.4: 25", 0, NULL, 0, false },
	{ "1.2.3.4:25 ", 0, NULL, 0, false },
	{ " 1.2.3.4:25", 0, NULL, 0, false },
	{ "1.2.3:25", 0, NULL, 0, false },
	{ "1.2.3.256:25", 0, NULL, 0, false },
	{ "01.2.3.4:25", 0, NULL, 0, false },
	{ "1.2.3.4.5:25", 0, NULL, 0, false },
	{ ":25", 0, NULL, 0, false },
	{ "localhost:25", 0, NULL, 0, false },	/* numeric only */
	{ "mx.example.com:25", 0, NULL, 0, false },
	{ "*:25", 0, NULL, 0, false },
	{ "::1:25", 0, NULL, 0, false },	/* IPv6 needs brackets */
	{ "[::1]", 0, NULL, 0, false },
	{ "[::1]:", 0, NULL, 0, false },
	{ "[::1]25", 0, NULL, 0, false },
	{ "[::1]:0", 0, NULL, 0, false },
	{ "[::1]:65536", 0, NULL, 0, false },
	{ "[::1:25", 0, NULL, 0, false },
	{ "[]:25", 0, NULL, 0, false },
	{ "[1.2.3.4]:25", 0, NULL, 0, false },
	{ "[::g]:25", 0, NULL, 0, false },
	{ "[fe80::1%eth0]:25", 0, NULL, 0, false },
	{ "[::1]:25:25", 0, NULL, 0, false },
	{ "[[::1]]:25", 0, NULL, 0, false },
	{ "[0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000]:25",
	  0, NULL, 0, false },
	{ "unix:", 0, NULL, 0, false },
	{ "unix:relative/lmtp", 0, NULL, 0, false },
	{ "unix:/0123456789012345678901234567890123456789012345678901234567"
	  "89012345678901234567890123456789012345678901234567890", 0, NULL, 0,
	  false },				/* 108 bytes: no room for NUL */
};

static void
test_parse_listen(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(listen_cases) / sizeof(listen_cases[0]);
	    i++) {
		struct netaddr na;
		const char *error = NULL;
		char ip[NETADDR_STRLEN];
		int r = netaddr_parse_listen(listen_cases[i].in, &na, &error);

		if (listen_cases[i].family == 0) {
			if (r != -1 || error == NULL || *error == '\0')
				fail_msg("\"%s\": accepted", listen_cases[i].in);
			continue;
		}
		if (r != 0)
			fail_msg("\"%s\": %s", listen_cases[i].in, error);
		assert_int_equal(na.ss.ss_family, listen_cases[i].family);
		if (listen_cases[i].family == AF_UNIX)
			assert_int_equal(na.len,
			    offsetof(struct sockaddr_un, sun_path) +
			    strlen(listen_cases[i].in + 5) + 1);
		else
			assert_int_equal(na.len,
			    listen_cases[i].family == AF_INET ?
			    sizeof(struct sockaddr_in) :
			    sizeof(struct sockaddr_in6));
		netaddr_ip((struct sockaddr *)&na.ss, ip);
		assert_string_equal(ip, listen_cases[i].ip);
		assert_int_equal(netaddr_port((struct sockaddr *)&na.ss),
		    listen_cases[i].port);
		assert_int_equal(netaddr_is_loopback((struct sockaddr *)&na.ss),
		    listen_cases[i].loopback);
	}
}

static void
test_error_texts(void **state)
{
	static const struct {
		const char *in, *error;
	} cases[] = {
		{ "1.2.3.4:0", "bad port (expected a number 1..65535)" },
		{ "1.2.3.4:", "missing port after ':'" },
		{ "::1:25", "IPv6 addresses need brackets: \"[IPv6]:port\"" },
		{ "[::1]", "missing port (\"[IPv6]:port\")" },
		{ "[::1", "missing ']' after IPv6 address" },
		{ "", "empty address" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct netaddr na;
		const char *error = NULL;

		assert_int_equal(netaddr_parse_listen(cases[i].in, &na, &error),
		    -1);
		assert_string_equal(error, cases[i].error);
	}
}

/* addresses as accept(2) hands them over, not only as we parse them */
static void
test_sockaddrs(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct sockaddr sa_unix = { .sa_family = AF_UNIX };
	char ip[NETADDR_STRLEN];

	(void)state;
	sin.sin_port = htons(40000);
	assert_int_equal(inet_pton(AF_INET, "10.1.2.3", &sin.sin_addr), 1);
	netaddr_ip((struct sockaddr *)&sin, ip);
	assert_string_equal(ip, "10.1.2.3");
	assert_int_equal(netaddr_port((struct sockaddr *)&sin), 40000);
	assert_false(netaddr_is_loopback((struct sockaddr *)&sin));

	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.1.2.3",
	    &sin6.sin6_addr), 1);
	netaddr_ip((struct sockaddr *)&sin6, ip);
	assert_string_equal(ip, "10.1.2.3");
	assert_false(netaddr_is_loopback((struct sockaddr *)&sin6));

	/* the longest IPv6 text fits NETADDR_STRLEN */
	assert_int_equal(inet_pton(AF_INET6,
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", &sin6.sin6_addr), 1);
	netaddr_ip((struct sockaddr *)&sin6, ip);
	assert_string_equal(ip, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");

	/* ::2 is not loopback; ::ffff:128.0.0.1 neither */
	assert_int_equal(inet_pton(AF_INET6, "::2", &sin6.sin6_addr), 1);
	assert_false(netaddr_is_loopback((struct sockaddr *)&sin6));
	assert_int_equal(inet_pton(AF_INET6, "::ffff:128.0.0.1",
	    &sin6.sin6_addr), 1);
	assert_false(netaddr_is_loopback((struct sockaddr *)&sin6));

	/* a UNIX socket peer (LMTP): this machine */
	netaddr_ip(&sa_unix, ip);
	assert_string_equal(ip, "local");
	assert_int_equal(netaddr_port(&sa_unix), 0);
	assert_true(netaddr_is_loopback(&sa_unix));
}

/* sa_of - a sockaddr for a numeric address (test helper) */
static struct sockaddr_storage
sa_of(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') == NULL) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

		sin->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
	}
	return ss;
}

static bool
in_net(const char *net, const char *ip)
{
	struct netaddr_cidr c;
	struct sockaddr_storage ss = sa_of(ip);
	const char *error = NULL;

	assert_int_equal(netaddr_cidr_parse(net, &c, &error), 0);
	return netaddr_cidr_match(&c, (struct sockaddr *)&ss);
}

static void
test_cidr(void **state)
{
	static const char *const bad[] = { "", "/24", "10.0.0.0/", "10.0.0.0/33",
		"10.0.0.0/2x", "::/129", "example.org", "10.0.0.0/24/1",
		"10.0.0", "10.0.0.0/-1" };
	struct netaddr_cidr c;
	const char *error;

	(void)state;
	assert_true(in_net("10.0.0.0/8", "10.200.3.4"));
	assert_false(in_net("10.0.0.0/8", "11.0.0.1"));
	assert_true(in_net("192.0.2.128/25", "192.0.2.200"));
	assert_false(in_net("192.0.2.128/25", "192.0.2.127"));
	assert_true(in_net("192.0.2.77/24", "192.0.2.1"));	/* host bits */
	assert_true(in_net("192.0.2.1", "192.0.2.1"));
	assert_false(in_net("192.0.2.1", "192.0.2.2"));
	assert_true(in_net("0.0.0.0/0", "203.0.113.9"));
	assert_false(in_net("0.0.0.0/0", "2001:db8::1"));
	assert_true(in_net("2001:db8::/32", "2001:db8:ffff::1"));
	assert_false(in_net("2001:db8::/32", "2001:db9::1"));
	assert_true(in_net("2001:db8::/33", "2001:db8:7fff::1"));
	assert_false(in_net("2001:db8::/33", "2001:db8:8000::1"));
	assert_true(in_net("::1", "::1"));
	/* a v4-mapped peer is its IPv4 address */
	assert_true(in_net("127.0.0.0/8", "::ffff:127.0.0.1"));
	assert_false(in_net("::ffff:0:0/96", "::ffff:127.0.0.1"));
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		error = NULL;
		if (netaddr_cidr_parse(bad[i], &c, &error) == 0)
			fail_msg("\"%s\" parsed", bad[i]);
		assert_non_null(error);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_error_texts),
		cmocka_unit_test(test_sockaddrs),
		cmocka_unit_test(test_cidr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
