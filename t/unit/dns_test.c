/*
 * dns_test.c - common/dns.h against a real server (dnsmasq, started by
 * dns_fixture.h on a loopback port): TXT (one string, several strings
 * concatenated, several records, long answers over TCP, the txt_max and
 * max_records limits), A/AAAA, MX ordering, null MX, malformed MX, PTR for
 * IPv4/IPv6/v4-mapped, CNAME chains, raw TLSA rdata, NXDOMAIN vs NODATA,
 * SERVFAIL (a real one on the wire), REFUSED, timeouts honoured to the
 * deadline (one query, A+AAAA at once, a dead forwarder), many threads on
 * one resolver while others time out, dns_flush while others look up, the
 * cache and dns_flush across a server restart, a DNSSEC trust anchor that
 * makes answers bogus.  The pure parts (name checks, reverse and DNSBL
 * names, rdata parsers) are table-driven.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/dns.h"
#include "dns_fixture.h"

static const char records[] =
	"txt-record=one.test,\"v=spf1 -all\"\n"
	"txt-record=multi.test,\"v=DKIM1; k=rsa; \",\"p=MIGf\",\"MA0G\"\n"
	"txt-record=several.test,\"first\"\n"
	"txt-record=several.test,\"second\"\n"
	"txt-record=several.test,\"third\"\n"
	"txt-record=empty.test,\"\"\n"
	"host-record=h.test,192.0.2.1,2001:db8::1\n"
	"host-record=v4.test,192.0.2.2\n"
	"host-record=v6.test,2001:db8::2\n"
	"host-record=many.test,192.0.2.11\n"
	"host-record=many.test,192.0.2.12\n"
	"host-record=many.test,192.0.2.13\n"
	"host-record=many.test,192.0.2.14\n"
	"host-record=many.test,192.0.2.15\n"
	"mx-host=mx.test,b.mx.test,20\n"
	"mx-host=mx.test,a.mx.test,10\n"
	"mx-host=mx.test,c.mx.test,30\n"
	"mx-host=mx.test,d.mx.test,10\n"
	"dns-rr=nullmx.test,15,000000\n"		/* 0 . */
	"dns-rr=mixmx.test,15,000000\n"
	"dns-rr=mixmx.test,15,000A046D61696C047465737400\n" /* 10 mail.test */
	"dns-rr=badmx.test,15,000A0361206200\n"	/* 10 "a b" */
	"ptr-record=1.2.0.192.in-addr.arpa,h.test\n"
	"ptr-record=1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1."
	"0.0.2.ip6.arpa,h.test\n"
	"dns-rr=3.2.0.192.in-addr.arpa,12,0361206200\n"	/* PTR "a b" */
	"dns-rr=_25._tcp.mx.test,52,0301010123456789ABCDEF\n"	/* TLSA */
	"cname=alias.test,h.test\n"
	"cname=alias2.test,alias.test\n";

static struct dnsfix fx;
static struct dns *dns;		/* cached, 2 s timeout: most tests */

static struct dns *
mkdns(const char *fwd, unsigned timeout_ms, bool no_cache)
{
	const char *fw[1] = { fwd };
	struct dns_options o;
	struct buf err = BUF_INIT(0);
	struct dns *d;

	memset(&o, 0, sizeof(o));
	o.forwarders = fw;
	o.nforwarders = 1;
	o.timeout_ms = timeout_ms;
	o.no_cache = no_cache;
	o.forward_special_zones = true;
	if (dns_new(&o, &d, &err) < 0)
		fail_msg("dns_new: %s", buf_cstr(&err));
	buf_free(&err);
	return d;
}

/* a long TXT record (one string of 1000 characters: dnsmasq cuts it into
 * character-strings of 255) and 6 such records at one name: 6 KB, more
 * than a UDP answer holds, so the answer comes over TCP */
static void
add_long_records(struct buf *conf)
{
	int i, j;

	for (i = 0; i < 7; i++) {
		buf_addf(conf, "txt-record=%s.test,\"",
		    i == 0 ? "long" : "big");
		for (j = 0; j < 1000; j++)
			buf_addf(conf, "%c", 'a' + (i + j) % 26);
		buf_add_str(conf, "\"\n");
	}
}

static int
group_setup(void **state)
{
	struct buf conf = BUF_INIT(0);
	int rc;

	(void)state;
	buf_add_str(&conf, records);
	add_long_records(&conf);
	rc = dnsfix_start(&fx, buf_cstr(&conf));
	buf_free(&conf);
	if (rc < 0)
		return -1;
	dns = mkdns(fx.fwd, 2000, false);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	dns_free(&dns);
	dnsfix_stop(&fx);
	return 0;
}

/* ---- pure: names ---- */

static void
test_name_check(void **state)
{
	static const struct {
		const char *name;
		bool ok;
	} cases[] = {
		{ "example.com", true },
		{ "example.com.", true },
		{ ".", true },
		{ "a", true },
		{ "_dmarc.example.org", true },
		{ "sel._domainkey.example.org", true },
		{ "x+tag=1.spf.example", true },	/* SPF macro output */
		{ "", false },
		{ "..", false },
		{ ".a", false },
		{ "a..b", false },
		{ "a.b..", false },
		{ "a b.test", false },
		{ "a\\.b.test", false },
		{ "tab\t.test", false },
		{ "caf\xc3\xa9.test", false },
	};
	struct buf err = BUF_INIT(0), name = BUF_INIT(0);
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		buf_reset(&err);
		assert_int_equal(dns_name_check(cases[i].name, &err),
		    cases[i].ok ? 0 : -1);
		assert_int_equal(err.len == 0, cases[i].ok);
	}
	/* labels of 63 and 64, names of 253 and 254 (+ trailing dot) */
	for (i = 0; i < 63; i++)
		buf_add_str(&name, "x");
	buf_add_str(&name, ".test");
	assert_int_equal(dns_name_check(buf_cstr(&name), &err), 0);
	buf_reset(&name);
	for (i = 0; i < 64; i++)
		buf_add_str(&name, "x");
	assert_int_equal(dns_name_check(buf_cstr(&name), &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "label longer than 63"));
	buf_reset(&name);
	for (i = 0; i < 126; i++)
		buf_add_str(&name, "a.");
	buf_add_str(&name, "b");		/* 253 */
	assert_int_equal(dns_name_check(buf_cstr(&name), &err), 0);
	buf_add_str(&name, ".");
	assert_int_equal(dns_name_check(buf_cstr(&name), &err), 0);
	buf_truncate(&name, 252);
	buf_add_str(&name, "bc");		/* 254 */
	buf_reset(&err);
	assert_int_equal(dns_name_check(buf_cstr(&name), &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "longer than 253"));

	assert_true(dns_is_host_name("mx-1.example_x.org", 18));
	assert_false(dns_is_host_name("", 0));
	assert_false(dns_is_host_name("a..b", 4));
	assert_false(dns_is_host_name("a.b.", 4));
	assert_false(dns_is_host_name("a b", 3));
	assert_false(dns_is_host_name("a*b", 3));
	buf_free(&err);
	buf_free(&name);
}

static void
sa_of(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (void *)ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (void *)ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
}

static void
test_reverse_and_dnsbl_names(void **state)
{
	static const struct {
		const char *ip, *zone, *want;	/* zone NULL: reverse name */
	} cases[] = {
		{ "192.0.2.1", NULL, "1.2.0.192.in-addr.arpa" },
		{ "10.20.30.40", NULL, "40.30.20.10.in-addr.arpa" },
		{ "::ffff:192.0.2.7", NULL, "7.2.0.192.in-addr.arpa" },
		{ "2001:db8::567:89ab", NULL, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0."
		  "0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa" },
		{ "192.0.2.99", "zen.example.org",
		  "99.2.0.192.zen.example.org" },
		{ "192.0.2.99", "bl.example.", "99.2.0.192.bl.example" },
		{ "::ffff:127.0.0.2", "bl.test", "2.0.0.127.bl.test" },
		{ "2001:db8:1:2:3:4:5:6", "v6bl.test",
		  "6.0.0.0.5.0.0.0.4.0.0.0."
		  "3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.v6bl.test" },
	};
	struct buf out = BUF_INIT(0), err = BUF_INIT(0), big = BUF_INIT(0);
	struct sockaddr_storage ss;
	struct sockaddr_un_like {
		sa_family_t family;
	} un = { AF_UNIX };
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		sa_of(cases[i].ip, &ss);
		buf_reset(&out);
		if (cases[i].zone == NULL)
			assert_int_equal(dns_reverse_name((void *)&ss, &out,
			    &err), 0);
		else
			assert_int_equal(dns_dnsbl_name((void *)&ss,
			    cases[i].zone, &out, &err), 0);
		assert_string_equal(buf_cstr(&out), cases[i].want);
	}
	assert_int_equal(err.len, 0);

	/* no reverse name for a UNIX socket; bad or too long zones */
	assert_int_equal(dns_reverse_name((void *)&un, &out, &err), -1);
	buf_reset(&err);
	sa_of("2001:db8::1", &ss);
	assert_int_equal(dns_dnsbl_name((void *)&ss, "bad..zone", &out, &err),
	    -1);
	assert_int_equal(dns_dnsbl_name((void *)&ss, ".", &out, &err), -1);
	for (i = 0; i < 25; i++)
		buf_add_str(&big, "abcdefgh.");
	buf_add_str(&big, "test");	/* 229: fine alone, not after 64 */
	buf_reset(&out);
	buf_reset(&err);
	assert_int_equal(dns_dnsbl_name((void *)&ss, buf_cstr(&big), &out,
	    &err), -1);
	assert_int_equal(out.len, 0);
	assert_non_null(strstr(buf_cstr(&err), "longer than 253"));
	/* a limited output buffer is respected */
	buf_free(&out);
	buf_init(&out, 10);
	sa_of("192.0.2.1", &ss);
	assert_int_equal(dns_reverse_name((void *)&ss, &out, &err), -1);
	assert_int_equal(out.len, 0);
	buf_free(&out);
	buf_free(&err);
	buf_free(&big);
}

/* ---- pure: rdata ---- */

static void
test_rdata_parsers(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		int rc;
		const char *text;
		size_t used;
	} names[] = {
		{ "\0", 1, 0, ".", 1 },
		{ "\4mail\7example\0", 14, 0, "mail.example", 14 },
		{ "\4mail\7example\0junk", 18, 0, "mail.example", 14 },
		{ "\4mail\7exam", 10, -1, NULL, 0 },	/* runs past len */
		{ "\4mail", 5, -1, NULL, 0 },		/* no root label */
		{ "\xc0\x0c", 2, -1, NULL, 0 },		/* compression */
		{ "\x40xxx", 4, -1, NULL, 0 },		/* label type 01 */
		{ "\3a b\0", 5, -1, NULL, 0 },		/* not a host name */
		{ "\3a.b\0", 5, -1, NULL, 0 },
		{ "\3_a-\0", 5, 0, "_a-", 5 },
	};
	static const struct {
		const char *in;
		size_t len;
		int rc;
		const char *text;
		size_t tlen;
	} txts[] = {
		{ "\5hello", 6, 0, "hello", 5 },
		{ "\2ab\0\3cde", 8, 0, "abcde", 5 },
		{ "\0", 1, 0, "", 0 },
		{ "\3a\0b", 4, 0, "a\0b", 3 },		/* binary-safe */
		{ "", 0, -1, NULL, 0 },
		{ "\5abc", 4, -1, NULL, 0 },
		{ "\2ab\5x", 5, -1, NULL, 0 },
	};
	struct buf out = BUF_INIT(0);
	unsigned char longname[300];
	unsigned pref;
	size_t i, used, off = 0;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		buf_reset(&out);
		used = 0;
		assert_int_equal(dns_rdata_name((const unsigned char *)
		    names[i].in, names[i].len, &used, &out), names[i].rc);
		if (names[i].rc == 0) {
			assert_string_equal(buf_cstr(&out), names[i].text);
			assert_int_equal(used, names[i].used);
		} else {
			assert_int_equal(out.len, 0);
		}
	}
	/* 255 octets is the most a name may take: 4 * (1 + 62) + 1 = 253
	 * is fine, 4 * 63 + 1 + 3 = 256 is not */
	for (i = 0; i < 4; i++) {
		longname[off++] = 62;
		memset(longname + off, 'x', 62);
		off += 62;
	}
	longname[off++] = 0;
	buf_reset(&out);
	assert_int_equal(dns_rdata_name(longname, off, &used, &out), 0);
	longname[off - 1] = 2;
	memcpy(longname + off, "yy", 2);
	longname[off + 2] = 0;
	assert_int_equal(dns_rdata_name(longname, off + 3, &used, &out), -1);

	for (i = 0; i < ARRAY_SIZE(txts); i++) {
		buf_reset(&out);
		assert_int_equal(dns_rdata_txt((const unsigned char *)
		    txts[i].in, txts[i].len, &out), txts[i].rc);
		if (txts[i].rc == 0) {
			assert_int_equal(out.len, txts[i].tlen);
			assert_memory_equal(buf_cstr(&out), txts[i].text,
			    txts[i].tlen);
		}
	}
	buf_free(&out);
	buf_init(&out, 4);	/* the limit is honoured */
	assert_int_equal(dns_rdata_txt((const unsigned char *)"\5hello", 6,
	    &out), -1);
	assert_int_equal(out.len, 0);
	buf_free(&out);

	buf_reset(&out);
	assert_int_equal(dns_rdata_mx((const unsigned char *)"\0\x0a\2mx\0",
	    6, &pref, &out), 0);
	assert_int_equal(pref, 10);
	assert_string_equal(buf_cstr(&out), "mx");
	buf_reset(&out);
	assert_int_equal(dns_rdata_mx((const unsigned char *)"\0\0\0", 3,
	    &pref, &out), 0);
	assert_string_equal(buf_cstr(&out), ".");
	assert_int_equal(dns_rdata_mx((const unsigned char *)"\0\0\0x", 4,
	    &pref, &out), -1);		/* trailing byte */
	assert_int_equal(dns_rdata_mx((const unsigned char *)"\0\0", 2,
	    &pref, &out), -1);
	buf_free(&out);
}

/* ---- against dnsmasq ---- */

static void
test_txt(void **state)
{
	struct buf err = BUF_INIT(0);
	struct dns_result r;
	size_t i;

	(void)state;
	assert_int_equal(dns_txt(dns, "one.test", &r, &err), 0);
	assert_int_equal(r.status, DNS_OK);
	assert_int_equal(r.ntxt, 1);
	assert_string_equal(r.txt[0].text, "v=spf1 -all");
	assert_int_equal(r.txt[0].len, 11);
	assert_int_equal(r.nrr, 1);
	assert_int_equal(r.rr[0].type, DNS_T_TXT);
	assert_int_equal(r.rcode, 0);
	assert_true(r.ttl > 0 && r.ttl <= DNSFIX_TTL);
	assert_false(r.secure || r.bogus || r.truncated);
	assert_null(r.canonname);
	dns_result_free(&r);
	dns_result_free(&r);		/* harmless twice */

	assert_int_equal(dns_txt(dns, "multi.test.", &r, &err), 0);
	assert_int_equal(r.ntxt, 1);
	assert_string_equal(r.txt[0].text, "v=DKIM1; k=rsa; p=MIGfMA0G");
	dns_result_free(&r);

	assert_int_equal(dns_txt(dns, "SEVERAL.test", &r, &err), 0);
	assert_int_equal(r.ntxt, 3);
	{
		bool seen[3] = { false, false, false };

		for (i = 0; i < 3; i++) {
			seen[0] |= strcmp(r.txt[i].text, "first") == 0;
			seen[1] |= strcmp(r.txt[i].text, "second") == 0;
			seen[2] |= strcmp(r.txt[i].text, "third") == 0;
		}
		assert_true(seen[0] && seen[1] && seen[2]);
	}
	dns_result_free(&r);

	assert_int_equal(dns_txt(dns, "empty.test", &r, &err), 0);
	assert_int_equal(r.ntxt, 1);
	assert_int_equal(r.txt[0].len, 0);
	assert_string_equal(r.txt[0].text, "");
	dns_result_free(&r);

	assert_int_equal(dns_txt(dns, "long.test", &r, &err), 0);
	assert_int_equal(r.ntxt, 1);
	assert_int_equal(r.txt[0].len, 1000);
	for (i = 0; i < 1000; i++)
		assert_int_equal(r.txt[0].text[i], 'a' + i % 26);
	dns_result_free(&r);

	assert_int_equal(dns_txt(dns, "big.test", &r, &err), 0);
	assert_int_equal(r.ntxt, 6);		/* 6 KB: over TCP */
	for (i = 0; i < 6; i++)
		assert_int_equal(r.txt[i].len, 1000);
	assert_false(r.truncated);
	dns_result_free(&r);
	assert_int_equal(err.len, 0);
	buf_free(&err);
}

static void
test_limits(void **state)
{
	const char *fw[1] = { fx.fwd };
	struct dns_options o;
	struct buf err = BUF_INIT(0);
	struct dns_result r;
	struct dns *d;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.forwarders = fw;
	o.nforwarders = 1;
	o.forward_special_zones = true;
	o.max_records = 2;
	o.txt_max = 2500;
	assert_int_equal(dns_new(&o, &d, &err), 0);

	/* 2 of 6 TXT records pass txt_max: the others are dropped whole */
	assert_int_equal(dns_txt(d, "big.test", &r, &err), 0);
	assert_true(r.truncated);
	assert_int_equal(r.nrr, 2);		/* max_records first */
	assert_int_equal(r.ntxt, 2);
	dns_result_free(&r);

	/* 5 A records, 2 kept */
	assert_int_equal(dns_addrs(d, "many.test", AF_INET, &r, &err), 0);
	assert_true(r.truncated);
	assert_int_equal(r.naddr, 2);
	dns_result_free(&r);
	dns_free(&d);

	/* one record over txt_max alone: no usable record */
	o.txt_max = 999;
	o.max_records = 0;
	assert_int_equal(dns_new(&o, &d, &err), 0);
	assert_int_equal(dns_txt(d, "long.test", &r, &err), -1);
	assert_int_equal(r.status, DNS_SERVFAIL);
	assert_true(r.truncated);
	assert_non_null(strstr(buf_cstr(&err), "long.test/TXT: no usable"));
	dns_result_free(&r);
	dns_free(&d);

	/* options out of range */
	o.txt_max = DNS_TXT_MAX_LIMIT + 1;
	buf_reset(&err);
	assert_int_equal(dns_new(&o, &d, &err), -1);
	assert_null(d);
	o.txt_max = 0;
	o.timeout_ms = DNS_TIMEOUT_MAX_MS + 1;
	assert_int_equal(dns_new(&o, &d, &err), -1);
	o.timeout_ms = 0;
	fw[0] = "not-an-address";
	buf_reset(&err);
	assert_int_equal(dns_new(&o, &d, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "bad forwarder"));
	o.nforwarders = 0;
	o.resolv_conf = "/nonexistent/resolv.conf";
	assert_int_equal(dns_new(&o, &d, &err), -1);
	o.resolv_conf = NULL;
	o.trust_anchor_file = "/nonexistent/root.key";
	buf_reset(&err);
	assert_int_equal(dns_new(&o, &d, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "trust anchor"));
	buf_free(&err);
}

static bool
addr_is(const struct netaddr *a, const char *ip)
{
	char out[NETADDR_STRLEN];

	netaddr_ip((const struct sockaddr *)&a->ss, out);
	return strcmp(out, ip) == 0 && netaddr_port((const void *)&a->ss) == 0;
}

static void
test_addrs(void **state)
{
	struct buf err = BUF_INIT(0);
	struct dns_result r;

	(void)state;
	assert_int_equal(dns_addrs(dns, "h.test", AF_UNSPEC, &r, &err), 0);
	assert_int_equal(r.status, DNS_OK);
	assert_int_equal(r.naddr, 2);
	assert_true(addr_is(&r.addr[0], "192.0.2.1"));
	assert_int_equal(r.addr[0].len, sizeof(struct sockaddr_in));
	assert_true(addr_is(&r.addr[1], "2001:db8::1"));
	assert_int_equal(r.addr[1].len, sizeof(struct sockaddr_in6));
	assert_int_equal(r.nrr, 2);
	assert_int_equal(r.rr[0].type, DNS_T_A);
	assert_int_equal(r.rr[1].type, DNS_T_AAAA);
	dns_result_free(&r);

	assert_int_equal(dns_addrs(dns, "h.test", AF_INET6, &r, &err), 0);
	assert_int_equal(r.naddr, 1);
	assert_true(addr_is(&r.addr[0], "2001:db8::1"));
	dns_result_free(&r);

	/* one family missing: still OK */
	assert_int_equal(dns_addrs(dns, "v4.test", AF_UNSPEC, &r, &err), 0);
	assert_int_equal(r.naddr, 1);
	assert_true(addr_is(&r.addr[0], "192.0.2.2"));
	dns_result_free(&r);
	assert_int_equal(dns_addrs(dns, "v6.test", AF_UNSPEC, &r, &err), 0);
	assert_int_equal(r.naddr, 1);
	assert_true(addr_is(&r.addr[0], "2001:db8::2"));
	dns_result_free(&r);
	assert_int_equal(dns_addrs(dns, "v6.test", AF_INET, &r, &err), 0);
	assert_int_equal(r.status, DNS_NODATA);
	assert_int_equal(r.naddr, 0);
	dns_result_free(&r);

	/* neither: NODATA when the name exists, NXDOMAIN when not */
	assert_int_equal(dns_addrs(dns, "one.test", AF_UNSPEC, &r, &err), 0);
	assert_int_equal(r.status, DNS_NODATA);
	dns_result_free(&r);
	assert_int_equal(dns_addrs(dns, "nx.test", AF_UNSPEC, &r, &err), 0);
	assert_int_equal(r.status, DNS_NXDOMAIN);
	assert_int_equal(r.rcode, 3);
	dns_result_free(&r);

	assert_int_equal(dns_addrs(dns, "h.test", AF_UNIX, &r, &err), -1);
	assert_int_equal(r.status, DNS_ERROR);
	dns_result_free(&r);
	buf_free(&err);
}

static void
test_cname_and_raw(void **state)
{
	struct buf err = BUF_INIT(0);
	struct dns_result r;

	(void)state;
	assert_int_equal(dns_addrs(dns, "alias2.test", AF_INET, &r, &err), 0);
	assert_int_equal(r.naddr, 1);
	assert_true(addr_is(&r.addr[0], "192.0.2.1"));
	assert_string_equal(r.canonname, "h.test");
	dns_result_free(&r);

	/* raw rdata of a type without a parser: TLSA 3 1 1 <hash> */
	assert_int_equal(dns_query(dns, "_25._tcp.mx.test", DNS_T_TLSA, &r,
	    &err), 0);
	assert_int_equal(r.nrr, 1);
	assert_int_equal(r.rr[0].type, DNS_T_TLSA);
	assert_int_equal(r.rr[0].len, 11);
	assert_memory_equal(r.rr[0].data,
	    "\3\1\1\x01\x23\x45\x67\x89\xab\xcd\xef", 11);
	dns_result_free(&r);

	/* asking for the CNAME itself gives its rdata */
	assert_int_equal(dns_query(dns, "alias.test", DNS_T_CNAME, &r, &err),
	    0);
	assert_int_equal(r.nrr, 1);
	assert_memory_equal(r.rr[0].data, "\1h\4test\0", 8);
	dns_result_free(&r);
	assert_int_equal(err.len, 0);
	buf_free(&err);
}

static void
test_mx(void **state)
{
	struct buf err = BUF_INIT(0);
	struct dns_result r;
	size_t i;

	(void)state;
	assert_int_equal(dns_mx(dns, "mx.test", &r, &err), 0);
	assert_int_equal(r.nmx, 4);
	assert_false(r.null_mx);
	for (i = 1; i < r.nmx; i++)
		assert_true(r.mx[i - 1].pref <= r.mx[i].pref);
	assert_int_equal(r.mx[0].pref, 10);
	assert_int_equal(r.mx[1].pref, 10);
	assert_true((strcmp(r.mx[0].host, "a.mx.test") == 0 &&
	    strcmp(r.mx[1].host, "d.mx.test") == 0) ||
	    (strcmp(r.mx[0].host, "d.mx.test") == 0 &&
	    strcmp(r.mx[1].host, "a.mx.test") == 0));
	assert_string_equal(r.mx[2].host, "b.mx.test");
	assert_string_equal(r.mx[3].host, "c.mx.test");
	dns_result_free(&r);

	/* RFC 7505: "0 ." alone says "no mail here" */
	assert_int_equal(dns_mx(dns, "nullmx.test", &r, &err), 0);
	assert_int_equal(r.status, DNS_OK);
	assert_true(r.null_mx);
	assert_int_equal(r.nmx, 0);
	dns_result_free(&r);

	/* beside a real MX it is dropped as malformed */
	assert_int_equal(dns_mx(dns, "mixmx.test", &r, &err), 0);
	assert_false(r.null_mx);
	assert_int_equal(r.nmx, 1);
	assert_string_equal(r.mx[0].host, "mail.test");
	assert_int_equal(r.malformed, 1);
	dns_result_free(&r);
	assert_int_equal(err.len, 0);

	/* nothing usable: a temporary failure, as Postfix has it */
	assert_int_equal(dns_mx(dns, "badmx.test", &r, &err), -1);
	assert_int_equal(r.status, DNS_SERVFAIL);
	assert_int_equal(r.malformed, 1);
	assert_non_null(strstr(buf_cstr(&err), "badmx.test/MX: no usable"));
	dns_result_free(&r);

	/* no MX: NODATA (the implicit MX is the caller's) */
	assert_int_equal(dns_mx(dns, "h.test", &r, &err), 0);
	assert_int_equal(r.status, DNS_NODATA);
	dns_result_free(&r);
	buf_free(&err);
}

static void
test_ptr(void **state)
{
	struct buf err = BUF_INIT(0);
	struct sockaddr_storage ss;
	struct dns_result r;
	const char *ips[] = { "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" };
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(ips); i++) {
		sa_of(ips[i], &ss);
		assert_int_equal(dns_ptr(dns, (void *)&ss, &r, &err), 0);
		assert_int_equal(r.nname, 1);
		assert_string_equal(r.name[0], "h.test");
		dns_result_free(&r);
	}
	sa_of("192.0.2.99", &ss);
	assert_int_equal(dns_ptr(dns, (void *)&ss, &r, &err), 0);
	assert_int_equal(r.status, DNS_NXDOMAIN);
	dns_result_free(&r);
	assert_int_equal(err.len, 0);

	sa_of("192.0.2.3", &ss);		/* PTR "a b": not a host */
	assert_int_equal(dns_ptr(dns, (void *)&ss, &r, &err), -1);
	assert_int_equal(r.status, DNS_SERVFAIL);
	dns_result_free(&r);
	buf_free(&err);
}

static void
test_nxdomain_nodata_servfail(void **state)
{
	struct buf err = BUF_INIT(0);
	struct dns_result r;

	(void)state;
	assert_int_equal(dns_txt(dns, "nx.test", &r, &err), 0);
	assert_int_equal(r.status, DNS_NXDOMAIN);
	assert_false(dns_status_is_temporary(r.status));
	assert_int_equal(r.ntxt, 0);
	dns_result_free(&r);
	assert_int_equal(dns_txt(dns, "h.test", &r, &err), 0);
	assert_int_equal(r.status, DNS_NODATA);
	assert_int_equal(r.rcode, 0);
	dns_result_free(&r);
	assert_int_equal(err.len, 0);

	/* a SERVFAIL on the wire */
	assert_int_equal(dns_txt(dns, "x." DNSFIX_SERVFAIL_ZONE, &r, &err),
	    -1);
	assert_int_equal(r.status, DNS_SERVFAIL);
	assert_true(dns_status_is_temporary(r.status));
	assert_int_equal(r.rcode, 2);
	assert_string_equal(buf_cstr(&err),
	    "x.servfail.test/TXT: server failure (SERVFAIL)");
	dns_result_free(&r);

	/* dnsmasq REFUSES names outside its zones: a server failure too */
	buf_reset(&err);
	assert_int_equal(dns_query(dns, "example.com", DNS_T_A, &r, &err), -1);
	assert_int_equal(r.status, DNS_SERVFAIL);
	dns_result_free(&r);

	/* the resolver is fine afterwards */
	assert_int_equal(dns_txt(dns, "one.test", &r, &err), 0);
	assert_int_equal(r.status, DNS_OK);
	dns_result_free(&r);
	buf_free(&err);
}

static void
test_bad_questions(void **state)
{
	const char *bad[] = { "", "a..b.test", "a b.test", "-\x01.test",
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.test" };	/* label 64 */
	struct buf err = BUF_INIT(0);
	struct dns_result r;
	struct sockaddr_storage ss;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		buf_reset(&err);
		assert_int_equal(dns_txt(dns, bad[i], &r, &err), -1);
		assert_int_equal(r.status, DNS_ERROR);
		assert_false(dns_status_is_temporary(r.status));
		assert_non_null(strstr(buf_cstr(&err), "bad DNS name"));
		assert_null(strchr(buf_cstr(&err), '\x01'));
		dns_result_free(&r);
		assert_int_equal(dns_mx(dns, bad[i], &r, &err), -1);
		dns_result_free(&r);
		assert_int_equal(dns_addrs(dns, bad[i], AF_UNSPEC, &r, &err),
		    -1);
		dns_result_free(&r);
	}
	buf_reset(&err);
	assert_int_equal(dns_query(dns, "one.test", 255, &r, &err), -1);
	assert_int_equal(r.status, DNS_ERROR);
	assert_string_equal(buf_cstr(&err),
	    "one.test: DNS query type TYPE255 refused");
	dns_result_free(&r);
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(dns_ptr(dns, (void *)&ss, &r, &err), -1);
	assert_int_equal(r.status, DNS_ERROR);
	dns_result_free(&r);
	buf_free(&err);
}

/* elapsed ms of one lookup that must time out */
static uint64_t
timed_out_ms(struct dns *d, const char *name, int family)
{
	struct buf err = BUF_INIT(0);
	struct dns_result r;
	uint64_t t0 = clock_mono_us();

	if (family < 0)
		assert_int_equal(dns_txt(d, name, &r, &err), -1);
	else
		assert_int_equal(dns_addrs(d, name, family, &r, &err), -1);
	t0 = (clock_mono_us() - t0) / 1000;
	assert_int_equal(r.status, DNS_TIMEOUT);
	assert_true(dns_status_is_temporary(r.status));
	assert_non_null(strstr(buf_cstr(&err), "timed out after 300 ms"));
	dns_result_free(&r);
	buf_free(&err);
	return t0;
}

static void
test_timeouts(void **state)
{
	struct dns *d = mkdns(fx.fwd, 300, false);
	struct dns *dead = mkdns(fx.blackhole_fwd, 300, false);
	struct buf err = BUF_INIT(0);
	struct dns_result r;
	uint64_t ms;

	(void)state;
	ms = timed_out_ms(d, "x." DNSFIX_TIMEOUT_ZONE, -1);
	assert_true(ms >= 300 && ms < 550);
	/* A and AAAA at once: one timeout, not two */
	ms = timed_out_ms(d, "y." DNSFIX_TIMEOUT_ZONE, AF_UNSPEC);
	assert_true(ms >= 300 && ms < 550);
	/* the same resolver still answers other names at once */
	assert_int_equal(dns_txt(d, "one.test", &r, &err), 0);
	dns_result_free(&r);
	/* a forwarder that never answers */
	ms = timed_out_ms(dead, "one.test", -1);
	assert_true(ms >= 300 && ms < 550);
	ms = timed_out_ms(dead, "h.test", AF_UNSPEC);
	assert_true(ms >= 300 && ms < 550);
	dns_free(&d);
	dns_free(&dead);	/* with cancelled queries still in libunbound */
	buf_free(&err);
}

/* ---- many threads on one resolver ---- */

struct worker {
	struct dns *d;
	unsigned id;
	bool slow;		/* asks timeout.test: every query times out */
	unsigned ok, bad;
	uint64_t max_us;	/* slowest fast lookup */
	pthread_t t;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct buf err = BUF_INIT(0);
	struct dns_result r;
	unsigned i;

	for (i = 0; i < (w->slow ? 2u : 40u); i++) {
		uint64_t t0 = clock_mono_us(), us;
		bool good;

		buf_reset(&err);
		if (w->slow) {
			good = dns_txt(w->d, "s." DNSFIX_TIMEOUT_ZONE, &r,
			    &err) < 0 && r.status == DNS_TIMEOUT;
		} else if ((w->id + i) % 3 == 0) {
			good = dns_addrs(w->d, "h.test", AF_UNSPEC, &r,
			    &err) == 0 && r.naddr == 2;
		} else if ((w->id + i) % 3 == 1) {
			good = dns_mx(w->d, "mx.test", &r, &err) == 0 &&
			    r.nmx == 4 && r.mx[0].pref == 10;
		} else {
			good = dns_txt(w->d, "nx.test", &r, &err) == 0 &&
			    r.status == DNS_NXDOMAIN;
		}
		us = clock_mono_us() - t0;
		if (!w->slow && us > w->max_us)
			w->max_us = us;
		if (good)
			w->ok++;
		else
			w->bad++;
		dns_result_free(&r);
	}
	buf_free(&err);
	return NULL;
}

static void
test_threads(void **state)
{
	/* no cache: every lookup goes to dnsmasq */
	struct dns *d = mkdns(fx.fwd, 300, true);
	struct worker w[10];
	uint64_t t0 = clock_mono_us();
	unsigned i;

	(void)state;
	memset(w, 0, sizeof(w));
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		w[i].d = d;
		w[i].id = i;
		w[i].slow = i < 3;
		assert_int_equal(pthread_create(&w[i].t, NULL, worker_main,
		    &w[i]), 0);
	}
	for (i = 0; i < ARRAY_SIZE(w); i++)
		assert_int_equal(pthread_join(w[i].t, NULL), 0);
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		assert_int_equal(w[i].bad, 0);
		assert_int_equal(w[i].ok, w[i].slow ? 2 : 40);
		/* a thread waiting for a timeout never holds up the others */
		if (!w[i].slow)
			assert_true(w[i].max_us < 200000);
	}
	assert_true(clock_mono_us() - t0 < 2000000);
	dns_free(&d);
}

/* dns_flush while other threads look up: they wait, then go on */
static void
test_flush_under_load(void **state)
{
	struct dns *d = mkdns(fx.fwd, 2000, false);
	struct buf err = BUF_INIT(0);
	struct worker w[4];
	unsigned i;

	(void)state;
	memset(w, 0, sizeof(w));
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		w[i].d = d;
		w[i].id = i;
		assert_int_equal(pthread_create(&w[i].t, NULL, worker_main,
		    &w[i]), 0);
	}
	for (i = 0; i < 5; i++) {
		assert_int_equal(dns_flush(d, &err), 0);
		usleep(2000);
	}
	for (i = 0; i < ARRAY_SIZE(w); i++)
		assert_int_equal(pthread_join(w[i].t, NULL), 0);
	for (i = 0; i < ARRAY_SIZE(w); i++) {
		assert_int_equal(w[i].bad, 0);
		assert_int_equal(w[i].ok, 40);
	}
	dns_free(&d);
	buf_free(&err);
}

/* ---- the cache across a restart of the server ---- */

static const char *
txt_of(struct dns *d, const char *name)
{
	static char text[64];
	struct buf err = BUF_INIT(0);
	struct dns_result r;

	assert_int_equal(dns_txt(d, name, &r, &err), 0);
	assert_int_equal(r.ntxt, 1);
	snprintf(text, sizeof(text), "%s", r.txt[0].text);
	dns_result_free(&r);
	buf_free(&err);
	return text;
}

static void
test_cache_and_flush(void **state)
{
	struct dns *nocache = mkdns(fx.fwd, 2000, true);
	struct buf err = BUF_INIT(0);

	(void)state;
	assert_string_equal(txt_of(dns, "one.test"), "v=spf1 -all");
	assert_int_equal(dnsfix_restart(&fx,
	    "txt-record=one.test,\"v=spf1 +all\"\n"), 0);
	assert_string_equal(txt_of(dns, "one.test"), "v=spf1 -all");
	assert_string_equal(txt_of(nocache, "one.test"), "v=spf1 +all");
	assert_int_equal(dns_flush(dns, &err), 0);
	assert_string_equal(txt_of(dns, "one.test"), "v=spf1 +all");
	dns_free(&nocache);

	/* back to the records of the other tests */
	{
		struct buf conf = BUF_INIT(0);

		buf_add_str(&conf, records);
		add_long_records(&conf);
		assert_int_equal(dnsfix_restart(&fx, buf_cstr(&conf)), 0);
		buf_free(&conf);
	}
	assert_int_equal(dns_flush(dns, &err), 0);
	assert_string_equal(txt_of(dns, "one.test"), "v=spf1 -all");
	buf_free(&err);
}

/* ---- DNSSEC: a trust anchor dnsmasq's unsigned answers cannot meet ---- */

static void
test_dnssec_bogus(void **state)
{
	const char *fw[1] = { fx.fwd };
	char ta[128];
	struct dns_options o;
	struct buf err = BUF_INIT(0);
	struct dns_result r;
	struct dns *d;
	FILE *f;

	(void)state;
	snprintf(ta, sizeof(ta), "%s/ta.key", fx.dir);
	f = fopen(ta, "w");
	assert_non_null(f);
	fprintf(f, "h.test. DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF"
	    "0123456789ABCDEF0123456789ABCDEF\n");
	fclose(f);
	memset(&o, 0, sizeof(o));
	o.forwarders = fw;
	o.nforwarders = 1;
	o.forward_special_zones = true;
	o.trust_anchor_file = ta;
	assert_int_equal(dns_new(&o, &d, &err), 0);

	/* under the anchor: no DNSKEY comes, the answer is bogus */
	assert_int_equal(dns_addrs(d, "h.test", AF_INET, &r, &err), -1);
	assert_int_equal(r.status, DNS_SERVFAIL);
	assert_true(r.bogus);
	assert_false(r.secure);
	assert_int_equal(r.naddr, 0);
	assert_non_null(r.why_bogus);
	assert_non_null(strstr(buf_cstr(&err), "DNSSEC validation failed"));
	dns_result_free(&r);

	/* elsewhere: insecure, answered */
	assert_int_equal(dns_txt(d, "one.test", &r, &err), 0);
	assert_false(r.bogus || r.secure);
	dns_result_free(&r);
	dns_free(&d);

	/* a trust anchor file that is no such thing */
	f = fopen(ta, "w");
	assert_non_null(f);
	fprintf(f, "this is not a DS record\n");
	fclose(f);
	buf_reset(&err);
	assert_int_equal(dns_new(&o, &d, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "trust anchor"));
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_name_check),
		cmocka_unit_test(test_reverse_and_dnsbl_names),
		cmocka_unit_test(test_rdata_parsers),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_txt),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_addrs),
		cmocka_unit_test(test_cname_and_raw),
		cmocka_unit_test(test_mx),
		cmocka_unit_test(test_ptr),
		cmocka_unit_test(test_nxdomain_nodata_servfail),
		cmocka_unit_test(test_bad_questions),
		cmocka_unit_test(test_timeouts),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_flush_under_load),
		cmocka_unit_test(test_cache_and_flush),
		cmocka_unit_test(test_dnssec_bogus),
	};
	int rc;

	rc = cmocka_run_group_tests_name("dns_pure", pure, NULL, NULL);
	rc += cmocka_run_group_tests_name("dns_live", live, group_setup,
	    group_teardown);
	return rc;
}
