/*
 * smtp_tlspolicy_test.c - the TLS policy of outbound SMTP end to end, on
 * loopback with real servers (t/unit/tlspolicy_fx.h):
 *
 * MTA-STS: dnsmasq (t/unit/dns_fixture.h) publishes the _mta-sts TXT
 * records, the MX records and mta-sts.<domain> -> 127.0.0.1; a Python
 * HTTPS server with a certificate of a test CA serves the policies and
 * counts requests.  Checked: a policy is fetched, then taken from the
 * cache (no request), refetched when the TXT id changes and when max_age
 * has passed, kept when a refresh fails (404) and when the TXT record
 * goes; a policy host whose certificate does not verify, a redirect and
 * an oversized policy give no policy; enforce mode skips an MX not in
 * the policy and refuses certificates that do not verify for the MX
 * name (wrong name, unknown CA), testing mode lets them through noted.
 *
 * DANE: a zone dane.test signed with fresh keys (ldns-signzone) and an
 * unsigned zone plain.test, both served by unbound on a loopback port;
 * the resolver has the signed zone's DS as its trust anchor.  Checked:
 * a secure DANE-EE(3 1 1) record authenticates a server whose key it
 * names (whatever the certificate's name) and refuses another key;
 * DANE-TA(2 0 1) accepts a chain to that CA for the MX name and refuses
 * a wrong name or another CA; TLSA records that are all unusable mean
 * TLS without authentication; a TLSA RRset whose signature was broken
 * (bogus) makes the host unusable and the lookup fail; secure denial of
 * TLSA, an insecure zone with TLSA records, and a secure MX pointing to
 * an insecure host give no DANE; dane-only and the configured levels.
 * The TLSA base domain of an MX host that is a secure CNAME (RFC 7672
 * 2.2.2): the expanded name's records first (an alias's own records of
 * another key lose, DANE-TA names the target), the alias's own when the
 * target securely has none, a failed lookup at the target stops, a chain
 * into the unsigned zone is no DANE.  A relay "[host]" gets DANE when
 * its address lookup is secure, with the relay's port in the TLSA name.
 * The reuse key of an authenticated connection names the host and the
 * records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/dns.h"
#include "mta/smtp_route.h"
#include "mta/smtp_tlspolicy.h"
#include "t/unit/dns_fixture.h"
#include "t/unit/tlspolicy_fx.h"

static char dir[] = "/tmp/postern-tlspolicy.XXXXXX";
static int64_t now_s = 1700000000;
static struct dnsfix fx;		/* MTA-STS DNS */
static pid_t https_pid, unbound_pid;
static struct dns *sts_dns, *dane_dns;
static struct smtp_tlspolicy *sts_tp, *dane_tp;
static SSL_CTX *client_ctx;
/* TLS servers: mx1.sts.test, other.sts.test (both from ca), mx1.sts.test
 * from the evil CA, mxta.dane.test (ca); all send their chain */
static struct tpfx_srv srv_mx1, srv_other, srv_evil, srv_ta;

static int64_t
test_clock(void *arg)
{
	(void)arg;
	return __atomic_load_n(&now_s, __ATOMIC_SEQ_CST);
}

/* ---- MTA-STS ---- */

#define STS_ENFORCE "version: STSv1\nmode: enforce\nmx: mx1.sts.test\n" \
	"max_age: 3600\n"
#define STS_TESTING "version: STSv1\r\nmode: testing\r\n" \
	"mx: *.example.org\r\nmax_age: 3600\r\n"
#define STS_PATH "www/mta-sts.sts.test/.well-known/mta-sts.txt"

static int
sts_dns_records(const char *txt_id)
{
	struct buf err = BUF_INIT(0);
	char rec[2048];
	int rc;

	snprintf(rec, sizeof(rec),
	    "mx-host=sts.test,mx1.sts.test,10\n"
	    "mx-host=sts.test,evil.sts.test,20\n"
	    "host-record=mx1.sts.test,127.0.0.1\n"
	    "host-record=evil.sts.test,127.0.0.2\n"
	    "host-record=mta-sts.sts.test,127.0.0.1\n"
	    "%s%s%s"
	    "mx-host=nosts.test,mx1.sts.test,10\n"
	    "mx-host=broken.test,mx1.sts.test,10\n"
	    "txt-record=_mta-sts.broken.test,\"v=STSv1; id=1\"\n"
	    "host-record=mta-sts.broken.test,127.0.0.1\n"
	    "mx-host=big.test,mx1.sts.test,10\n"
	    "txt-record=_mta-sts.big.test,\"v=STSv1; id=1\"\n"
	    "host-record=mta-sts.big.test,127.0.0.1\n"
	    "mx-host=redirect.test,mx1.sts.test,10\n"
	    "txt-record=_mta-sts.redirect.test,\"v=STSv1; id=1\"\n"
	    "host-record=mta-sts.redirect.test,127.0.0.1\n",
	    txt_id != NULL ? "txt-record=_mta-sts.sts.test,\"v=STSv1; id=" :
	    "", txt_id != NULL ? txt_id : "", txt_id != NULL ? "\"\n" : "");
	if (fx.pid == 0)
		return dnsfix_start(&fx, rec);
	if (dnsfix_restart(&fx, rec) < 0)
		return -1;
	/*
	 * no_cache is not enough: libunbound keeps an answer for the rest
	 * of the second even with a TTL of 0, so an NXDOMAIN of a moment
	 * ago would come back
	 */
	rc = dns_flush(sts_dns, &err);
	buf_free(&err);
	return rc;
}

/* requests the HTTPS server saw for host */
static unsigned
requests(const char *host)
{
	char path[256], line[512];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/requests.log", dir);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strncmp(line, host, strlen(host)) == 0 &&
		    line[strlen(host)] == ' ';
	fclose(f);
	return n;
}

/* the route (through relay, if not NULL) and the policy of domain, over
 * dns; the lookup's return */
static int
policy_via(struct smtp_tlspolicy *tp, struct dns *d, const char *domain,
    const char *relay, unsigned flags, enum smtp_tlspolicy_level level,
    struct smtp_tlspolicy_result *r, struct buf *err)
{
	struct smtp_route_options ro;
	struct smtp_route route;
	struct buf rerr = BUF_INIT(0);
	int rc;

	memset(&ro, 0, sizeof(ro));
	ro.allow_self = true;
	ro.family = SMTP_ROUTE_IPV4_ONLY;
	ro.relay = relay;
	if (smtp_route_lookup(d, domain, &ro, &route, &rerr) < 0)
		fail_msg("route of %s: %s", domain, buf_cstr(&rerr));
	buf_free(&rerr);
	buf_reset(err);
	rc = smtp_tlspolicy_lookup(tp, domain, &route, level, flags, r, err);
	smtp_route_free(&route);
	return rc;
}

static int
policy_of(struct smtp_tlspolicy *tp, struct dns *d, const char *domain,
    enum smtp_tlspolicy_level level, struct smtp_tlspolicy_result *r,
    struct buf *err)
{
	return policy_via(tp, d, domain, NULL, 0, level, r, err);
}

static void
test_sts_fetch_and_cache(void **state)
{
	struct smtp_tlspolicy_result r;
	struct buf err = BUF_INIT(0), why = BUF_INIT(0);
	char path[256];

	(void)state;
	assert_int_equal(tpfx_write(dir, STS_PATH, STS_ENFORCE), 0);

	/* fetched */
	assert_int_equal(policy_of(sts_tp, sts_dns, "sts.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_int_equal(r.source, SMTP_TLSPOLICY_SRC_MTA_STS);
	assert_int_equal(r.sts_mode, MTA_STS_MODE_ENFORCE);
	assert_string_equal(r.sts_id, "1");
	assert_false(r.sts_from_cache);
	assert_int_equal(requests("mta-sts.sts.test"), 1);
	assert_int_equal(r.nhost, 2);
	assert_true(smtp_tlspolicy_mx_allowed(&r, "mx1.sts.test", &why));
	assert_true(smtp_tlspolicy_mx_allowed(&r, "MX1.sts.test.", &why));
	assert_int_equal(smtp_tlspolicy_mode(&r, "mx1.sts.test"),
	    SMTP_TLSPOLICY_MODE_VERIFY);
	assert_true(smtp_tlspolicy_tls_required(&r, "mx1.sts.test"));
	assert_false(smtp_tlspolicy_mx_allowed(&r, "evil.sts.test", &why));
	assert_non_null(strstr(buf_cstr(&why), "not an MX host"));
	assert_false(smtp_tlspolicy_mx_allowed(&r, "elsewhere.test", NULL));
	smtp_tlspolicy_result_free(&r);

	/* cached: no request */
	assert_int_equal(policy_of(sts_tp, sts_dns, "sts.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_true(r.sts_from_cache);
	assert_int_equal(r.sts_mode, MTA_STS_MODE_ENFORCE);
	assert_int_equal(requests("mta-sts.sts.test"), 1);
	smtp_tlspolicy_result_free(&r);

	/* a new id: refetched, now testing (CRLF lines) */
	assert_int_equal(tpfx_write(dir, STS_PATH, STS_TESTING), 0);
	assert_int_equal(sts_dns_records("2"), 0);
	assert_int_equal(policy_of(sts_tp, sts_dns, "sts.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_int_equal(requests("mta-sts.sts.test"), 2);
	assert_int_equal(r.sts_mode, MTA_STS_MODE_TESTING);
	assert_string_equal(r.sts_id, "2");
	assert_true(smtp_tlspolicy_mx_allowed(&r, "evil.sts.test", NULL));
	assert_int_equal(smtp_tlspolicy_mode(&r, "evil.sts.test"),
	    SMTP_TLSPOLICY_MODE_TESTING);
	assert_false(smtp_tlspolicy_tls_required(&r, "evil.sts.test"));
	assert_non_null(strstr(buf_cstr(&r.note), "used anyway"));
	smtp_tlspolicy_result_free(&r);

	/* a new id but the refresh fails (404): the cached policy stays */
	snprintf(path, sizeof(path), "%s/" STS_PATH, dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(sts_dns_records("3"), 0);
	assert_int_equal(policy_of(sts_tp, sts_dns, "sts.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_int_equal(requests("mta-sts.sts.test"), 3);
	assert_true(r.sts_from_cache);
	assert_int_equal(r.sts_mode, MTA_STS_MODE_TESTING);
	assert_string_equal(r.sts_id, "2");
	assert_non_null(strstr(buf_cstr(&r.note), "HTTP status 404"));
	smtp_tlspolicy_result_free(&r);

	/* max_age passed: fetched again (id 3 now) */
	assert_int_equal(tpfx_write(dir, STS_PATH, STS_ENFORCE), 0);
	__atomic_add_fetch(&now_s, 3601, __ATOMIC_SEQ_CST);
	assert_int_equal(policy_of(sts_tp, sts_dns, "sts.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_int_equal(requests("mta-sts.sts.test"), 4);
	assert_false(r.sts_from_cache);
	assert_int_equal(r.sts_mode, MTA_STS_MODE_ENFORCE);
	assert_string_equal(r.sts_id, "3");
	smtp_tlspolicy_result_free(&r);
	/* ... and again with the same id once it expired */
	__atomic_add_fetch(&now_s, 3601, __ATOMIC_SEQ_CST);
	assert_int_equal(policy_of(sts_tp, sts_dns, "sts.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_int_equal(requests("mta-sts.sts.test"), 5);
	smtp_tlspolicy_result_free(&r);

	/* the TXT record gone: the cached policy still applies (5.1) */
	assert_int_equal(sts_dns_records(NULL), 0);
	assert_int_equal(policy_of(sts_tp, sts_dns, "sts.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_int_equal(requests("mta-sts.sts.test"), 5);
	assert_int_equal(r.source, SMTP_TLSPOLICY_SRC_MTA_STS);
	assert_true(r.sts_from_cache);
	assert_false(smtp_tlspolicy_mx_allowed(&r, "evil.sts.test", NULL));
	smtp_tlspolicy_result_free(&r);
	buf_free(&err);
	buf_free(&why);
}

static void
test_sts_no_policy(void **state)
{
	static const char *const domains[] = {
		"nosts.test",		/* no TXT record */
		"broken.test",		/* policy host cert not for it */
		"big.test",		/* 70,000 bytes */
		"redirect.test",	/* 301 */
	};
	static const char *const why[] = {
		NULL, "fetch failed", "larger than", "HTTP status 301",
	};
	struct smtp_tlspolicy_result r;
	struct buf err = BUF_INIT(0), big = BUF_INIT(0);

	(void)state;
	buf_add_str(&big, STS_ENFORCE);
	while (big.len < 70000)
		buf_add_str(&big, "x-pad: 0123456789012345678901234567890\n");
	assert_int_equal(tpfx_write(dir,
	    "www/mta-sts.big.test/.well-known/mta-sts.txt", buf_cstr(&big)),
	    0);
	assert_int_equal(tpfx_write(dir,
	    "www/mta-sts.redirect.test/.well-known/mta-sts.txt", STS_ENFORCE),
	    0);
	assert_int_equal(tpfx_write(dir, "www/mta-sts.redirect.test/REDIRECT",
	    ""), 0);
	for (size_t i = 0; i < ARRAY_SIZE(domains); i++) {
		assert_int_equal(policy_of(sts_tp, sts_dns, domains[i],
		    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
		if (r.source != SMTP_TLSPOLICY_SRC_NONE)
			fail_msg("%s: policy %d", domains[i], r.source);
		assert_false(r.sts_found);
		assert_int_equal(smtp_tlspolicy_mode(&r, "mx1.sts.test"),
		    SMTP_TLSPOLICY_MODE_MAY);
		assert_false(smtp_tlspolicy_tls_required(&r, "mx1.sts.test"));
		if (why[i] != NULL &&
		    strstr(buf_cstr(&r.note), why[i]) == NULL)
			fail_msg("%s: note %s", domains[i], buf_cstr(&r.note));
		smtp_tlspolicy_result_free(&r);
	}
	/* the broken host was asked but never answered over TLS */
	assert_int_equal(requests("mta-sts.broken.test"), 0);
	buf_free(&big);
	buf_free(&err);
}

static void
test_sts_tls(void **state)
{
	struct smtp_tlspolicy_result enf, tst;
	struct buf err = BUF_INIT(0), note = BUF_INIT(0);

	(void)state;
	assert_int_equal(tpfx_write(dir, STS_PATH, STS_ENFORCE), 0);
	assert_int_equal(sts_dns_records("enf1"), 0);
	assert_int_equal(policy_of(sts_tp, sts_dns, "sts.test",
	    SMTP_TLSPOLICY_AUTO, &enf, &err), 0);
	assert_int_equal(enf.sts_mode, MTA_STS_MODE_ENFORCE);

	/* the right name from a CA we trust */
	assert_int_equal(tpfx_handshake(client_ctx, &enf, "mx1.sts.test",
	    srv_mx1.port, &note, &err), 0);
	assert_non_null(strstr(buf_cstr(&note), "certificate verified"));
	/* another name, another CA: refused, never cleartext */
	buf_reset(&err);
	assert_int_equal(tpfx_handshake(client_ctx, &enf, "mx1.sts.test",
	    srv_other.port, &note, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "not verified"));
	assert_non_null(strstr(buf_cstr(&err), "mismatch"));
	buf_reset(&err);
	assert_int_equal(tpfx_handshake(client_ctx, &enf, "mx1.sts.test",
	    srv_evil.port, &note, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "not verified"));
	/* an MX the policy does not list is refused before any byte */
	buf_reset(&err);
	assert_int_equal(tpfx_handshake(client_ctx, &enf, "evil.sts.test",
	    srv_mx1.port, &note, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "not an MX host"));

	/* testing: the same failures noted, the session goes on */
	assert_int_equal(tpfx_write(dir, STS_PATH, STS_TESTING), 0);
	assert_int_equal(sts_dns_records("tst1"), 0);
	assert_int_equal(policy_of(sts_tp, sts_dns, "sts.test",
	    SMTP_TLSPOLICY_AUTO, &tst, &err), 0);
	assert_int_equal(tst.sts_mode, MTA_STS_MODE_TESTING);
	buf_reset(&note);
	assert_int_equal(tpfx_handshake(client_ctx, &tst, "mx1.sts.test",
	    srv_other.port, &note, &err), 0);
	assert_non_null(strstr(buf_cstr(&note), "delivering anyway"));
	buf_reset(&note);
	assert_int_equal(tpfx_handshake(client_ctx, &tst, "evil.sts.test",
	    srv_evil.port, &note, &err), 0);
	assert_non_null(strstr(buf_cstr(&note), "not verified"));
	smtp_tlspolicy_result_free(&enf);
	smtp_tlspolicy_result_free(&tst);
	buf_free(&err);
	buf_free(&note);
}

/* ---- DANE ---- */

static void
test_dane_ee(void **state)
{
	struct smtp_tlspolicy_result r;
	struct buf err = BUF_INIT(0), note = BUF_INIT(0), why = BUF_INIT(0);
	const struct smtp_tlspolicy_host *h;

	(void)state;
	assert_int_equal(policy_of(dane_tp, dane_dns, "dane.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_int_equal(r.source, SMTP_TLSPOLICY_SRC_DANE);
	h = smtp_tlspolicy_host(&r, "mx.dane.test");
	assert_non_null(h);
	assert_int_equal(h->mode, SMTP_TLSPOLICY_MODE_DANE);
	assert_int_equal(h->ntlsa, 1);
	assert_int_equal(h->tlsa[0].usage, 3);
	assert_true(smtp_tlspolicy_tls_required(&r, "mx.dane.test"));
	/* a host DANE did not vet is not used */
	assert_false(smtp_tlspolicy_mx_allowed(&r, "other.dane.test", &why));

	/* the key the record names, in a certificate for another name */
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mx.dane.test",
	    srv_mx1.port, &note, &err), 0);
	assert_non_null(strstr(buf_cstr(&note), "DANE-EE(3) 1 1 matched"));
	/* another key (same CA, even a valid PKIX chain): refused */
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mx.dane.test",
	    srv_other.port, &note, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "no matching DANE TLSA records"));
	smtp_tlspolicy_result_free(&r);
	buf_free(&err);
	buf_free(&note);
	buf_free(&why);
}

static void
test_dane_ta(void **state)
{
	struct smtp_tlspolicy_result r;
	struct buf err = BUF_INIT(0), note = BUF_INIT(0);

	(void)state;
	assert_int_equal(policy_of(dane_tp, dane_dns, "ta.dane.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_int_equal(r.source, SMTP_TLSPOLICY_SRC_DANE);
	assert_int_equal(smtp_tlspolicy_mode(&r, "mxta.dane.test"),
	    SMTP_TLSPOLICY_MODE_DANE);
	/* a chain to the CA the record names, for the MX name */
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mxta.dane.test",
	    srv_ta.port, &note, &err), 0);
	assert_non_null(strstr(buf_cstr(&note), "DANE-TA(2) 0 1 matched "
	    "at depth 1"));
	/* the same CA, another name: DANE-TA checks names */
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mxta.dane.test",
	    srv_mx1.port, &note, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "mismatch"));
	/* another CA */
	buf_reset(&err);
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mxta.dane.test",
	    srv_evil.port, &note, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "no matching DANE TLSA records"));
	smtp_tlspolicy_result_free(&r);
	buf_free(&err);
	buf_free(&note);
}

static void
test_dane_not_applicable(void **state)
{
	static const struct {
		const char *domain, *host;
		enum smtp_tlspolicy_source source;
		enum smtp_tlspolicy_mode mode;
	} cases[] = {
		/* TLSA records, none usable: TLS, no authentication */
		{ "unusable.dane.test", "mxu.dane.test",
		  SMTP_TLSPOLICY_SRC_DANE, SMTP_TLSPOLICY_MODE_ENCRYPT },
		/* secure denial of TLSA */
		{ "notlsa.dane.test", "mxn.dane.test",
		  SMTP_TLSPOLICY_SRC_NONE, SMTP_TLSPOLICY_MODE_MAY },
		/* an unsigned zone with TLSA records */
		{ "plain.test", "mx.plain.test",
		  SMTP_TLSPOLICY_SRC_NONE, SMTP_TLSPOLICY_MODE_MAY },
		/* a secure MX, an insecure host (2.2.1) */
		{ "cross.dane.test", "mx.plain.test",
		  SMTP_TLSPOLICY_SRC_NONE, SMTP_TLSPOLICY_MODE_MAY },
	};
	struct smtp_tlspolicy_result r;
	struct buf err = BUF_INIT(0), note = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(policy_of(dane_tp, dane_dns, cases[i].domain,
		    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
		if (r.source != cases[i].source ||
		    smtp_tlspolicy_mode(&r, cases[i].host) != cases[i].mode)
			fail_msg("%s: source %d mode %d", cases[i].domain,
			    r.source, smtp_tlspolicy_mode(&r, cases[i].host));
		smtp_tlspolicy_result_free(&r);
	}
	/* encrypt: any certificate, but TLS it must be */
	assert_int_equal(policy_of(dane_tp, dane_dns, "unusable.dane.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_true(smtp_tlspolicy_tls_required(&r, "mxu.dane.test"));
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mxu.dane.test",
	    srv_evil.port, &note, &err), 0);
	smtp_tlspolicy_result_free(&r);

	/* bogus TLSA: the only host unusable, the lookup fails */
	assert_int_equal(policy_of(dane_tp, dane_dns, "bogus.dane.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "TLSA lookup of "
	    "_25._tcp.mxb.dane.test failed"));
	assert_false(smtp_tlspolicy_mx_allowed(&r, "mxb.dane.test", NULL));
	smtp_tlspolicy_result_free(&r);
	buf_free(&err);
	buf_free(&note);
}

/*
 * RFC 7672 2.2.2: an MX host whose address answer is a secure CNAME
 * chain has its TLSA records looked up first at the expanded name, then
 * at its own; a failure on the way stops; a chain into an insecure zone
 * is insecure
 */
static void
test_dane_cname(void **state)
{
	static const struct {
		const char *domain, *host, *base;
		enum smtp_tlspolicy_source source;
		enum smtp_tlspolicy_mode mode;
		unsigned port;		/* 1: srv_mx1, 2: srv_other, 3: srv_ta */
		int handshake;		/* with that server */
	} cases[] = {
		/* alias -> mx: mx's record (mx1's key) wins over alias's own
		 * (other's key) */
		{ "cn.dane.test", "alias.dane.test", "mx.dane.test",
		  SMTP_TLSPOLICY_SRC_DANE, SMTP_TLSPOLICY_MODE_DANE, 1, 0 },
		{ "cn.dane.test", "alias.dane.test", "mx.dane.test",
		  SMTP_TLSPOLICY_SRC_DANE, SMTP_TLSPOLICY_MODE_DANE, 2, -1 },
		/* DANE-TA at the expanded name: the certificate names it */
		{ "cnta.dane.test", "aliasta.dane.test", "mxta.dane.test",
		  SMTP_TLSPOLICY_SRC_DANE, SMTP_TLSPOLICY_MODE_DANE, 3, 0 },
		/* the target securely has none: the alias's own record */
		{ "cnfall.dane.test", "alias2.dane.test", "alias2.dane.test",
		  SMTP_TLSPOLICY_SRC_DANE, SMTP_TLSPOLICY_MODE_DANE, 1, 0 },
		/* the chain leaves the signed zone: insecure, no DANE */
		{ "cnplain.dane.test", "alias3.dane.test", NULL,
		  SMTP_TLSPOLICY_SRC_NONE, SMTP_TLSPOLICY_MODE_MAY, 0, 0 },
	};
	struct smtp_tlspolicy_result r;
	struct buf err = BUF_INIT(0), note = BUF_INIT(0);
	const unsigned ports[] = { 0, srv_mx1.port, srv_other.port,
		srv_ta.port };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct smtp_tlspolicy_host *h;

		assert_int_equal(policy_of(dane_tp, dane_dns, cases[i].domain,
		    SMTP_TLSPOLICY_AUTO, &r, &err), 0);
		h = smtp_tlspolicy_host(&r, cases[i].host);
		assert_non_null(h);
		if (r.source != cases[i].source || h->mode != cases[i].mode)
			fail_msg("%s: source %d mode %d (%s)", cases[i].domain,
			    r.source, h->mode, buf_cstr(&r.note));
		if (cases[i].base == NULL)
			assert_null(h->base);
		else
			assert_string_equal(h->base, cases[i].base);
		if (cases[i].port != 0) {
			buf_reset(&err);
			buf_reset(&note);
			if (tpfx_handshake(client_ctx, &r, cases[i].host,
			    ports[cases[i].port], &note, &err) !=
			    cases[i].handshake)
				fail_msg("%s with server %u: %s%s", cases[i].host,
				    cases[i].port, buf_cstr(&err),
				    buf_cstr(&note));
		}
		smtp_tlspolicy_result_free(&r);
	}
	/* the expanded name's TLSA lookup fails (bogus): the host is not
	 * used, never a fall back to the alias's own name or to may */
	assert_int_equal(policy_of(dane_tp, dane_dns, "cnbogus.dane.test",
	    SMTP_TLSPOLICY_AUTO, &r, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "_25._tcp.mxb.dane.test"));
	assert_false(smtp_tlspolicy_mx_allowed(&r, "alias4.dane.test", NULL));
	smtp_tlspolicy_result_free(&r);
	buf_free(&err);
	buf_free(&note);
}

/* a relay named "[host]": DANE when its address lookup is secure (with
 * SMTP_TLSPOLICY_F_NO_MX, as the client passes it), on the relay's port */
static void
test_dane_relay(void **state)
{
	struct smtp_tlspolicy_result r;
	struct buf err = BUF_INIT(0), note = BUF_INIT(0);
	const struct smtp_tlspolicy_host *h;

	(void)state;
	assert_int_equal(policy_via(dane_tp, dane_dns, "elsewhere.test",
	    "[mx.dane.test]", SMTP_TLSPOLICY_F_NO_MX, SMTP_TLSPOLICY_AUTO, &r,
	    &err), 0);
	assert_int_equal(r.source, SMTP_TLSPOLICY_SRC_DANE);
	h = smtp_tlspolicy_host(&r, "mx.dane.test");
	assert_non_null(h);
	assert_int_equal(h->mode, SMTP_TLSPOLICY_MODE_DANE);
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mx.dane.test",
	    srv_mx1.port, &note, &err), 0);
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mx.dane.test",
	    srv_other.port, &note, &err), -1);
	assert_false(r.sts_found);	/* no MTA-STS through a relay */
	smtp_tlspolicy_result_free(&r);
	/* its own port: _2525._tcp.mx.dane.test has a record of another
	 * key */
	assert_int_equal(policy_via(dane_tp, dane_dns, "elsewhere.test",
	    "[mx.dane.test]:2525", SMTP_TLSPOLICY_F_NO_MX, SMTP_TLSPOLICY_AUTO,
	    &r, &err), 0);
	assert_int_equal(smtp_tlspolicy_mode(&r, "mx.dane.test"),
	    SMTP_TLSPOLICY_MODE_DANE);
	buf_reset(&err);
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mx.dane.test",
	    srv_mx1.port, &note, &err), -1);
	smtp_tlspolicy_result_free(&r);
	/* without the flag the route alone cannot say it is not an MX
	 * answer: no DANE */
	assert_int_equal(policy_via(dane_tp, dane_dns, "elsewhere.test",
	    "[mx.dane.test]", 0, SMTP_TLSPOLICY_AUTO, &r, &err), 0);
	assert_int_equal(r.source, SMTP_TLSPOLICY_SRC_NONE);
	smtp_tlspolicy_result_free(&r);
	/* an insecure relay host: no DANE */
	assert_int_equal(policy_via(dane_tp, dane_dns, "elsewhere.test",
	    "[mx.plain.test]", SMTP_TLSPOLICY_F_NO_MX, SMTP_TLSPOLICY_AUTO,
	    &r, &err), 0);
	assert_int_equal(r.source, SMTP_TLSPOLICY_SRC_NONE);
	assert_int_equal(smtp_tlspolicy_mode(&r, "mx.plain.test"),
	    SMTP_TLSPOLICY_MODE_MAY);
	smtp_tlspolicy_result_free(&r);
	/* dane-only through a relay that has none: nothing */
	assert_int_equal(policy_via(dane_tp, dane_dns, "elsewhere.test",
	    "[mx.plain.test]", SMTP_TLSPOLICY_F_NO_MX,
	    SMTP_TLSPOLICY_LVL_DANE_ONLY, &r, &err), -1);
	smtp_tlspolicy_result_free(&r);
	buf_free(&err);
	buf_free(&note);
}

/* what a cached connection may be reused for: the same name and, for
 * DANE, the same records; nothing to reuse under may */
static void
test_auth_key(void **state)
{
	struct smtp_tlspolicy_result a, b, c;
	struct buf ka = BUF_INIT(0), kb = BUF_INIT(0), kc = BUF_INIT(0);
	struct buf err = BUF_INIT(0);

	(void)state;
	assert_int_equal(policy_of(dane_tp, dane_dns, "dane.test",
	    SMTP_TLSPOLICY_AUTO, &a, &err), 0);
	assert_int_equal(policy_of(dane_tp, dane_dns, "cn.dane.test",
	    SMTP_TLSPOLICY_AUTO, &b, &err), 0);
	assert_int_equal(policy_of(dane_tp, dane_dns, "dane.test",
	    SMTP_TLSPOLICY_AUTO, &c, &err), 0);
	smtp_tlspolicy_auth_key(&a, "mx.dane.test", &ka);
	smtp_tlspolicy_auth_key(&b, "alias.dane.test", &kb);
	smtp_tlspolicy_auth_key(&c, "mx.dane.test", &kc);
	assert_true(smtp_tlspolicy_is_authenticated(&a, "mx.dane.test"));
	assert_int_equal(strncmp(buf_cstr(&ka), "dane mx.dane.test "
	    "mx.dane.test ", 31), 0);
	assert_int_equal(ka.len, 31 + 64);
	assert_string_equal(buf_cstr(&ka), buf_cstr(&kc));	/* stable */
	/* the same records, another name: not the same key */
	assert_int_equal(strncmp(buf_cstr(&kb), "dane mx.dane.test "
	    "alias.dane.test ", 34), 0);
	assert_string_equal(buf_cstr(&ka) + 31, buf_cstr(&kb) + 34);
	smtp_tlspolicy_result_free(&b);
	/* other records: another key */
	assert_int_equal(policy_of(dane_tp, dane_dns, "cnfall.dane.test",
	    SMTP_TLSPOLICY_AUTO, &b, &err), 0);
	buf_reset(&kb);
	smtp_tlspolicy_auth_key(&b, "alias2.dane.test", &kb);
	assert_int_equal(kb.len, 39 + 64);
	smtp_tlspolicy_result_free(&b);
	assert_int_equal(policy_of(dane_tp, dane_dns, "unusable.dane.test",
	    SMTP_TLSPOLICY_AUTO, &b, &err), 0);
	buf_reset(&kb);
	smtp_tlspolicy_auth_key(&b, "mxu.dane.test", &kb);
	assert_int_equal(kb.len, 0);		/* encrypt: nothing proven */
	assert_false(smtp_tlspolicy_is_authenticated(&b, "mxu.dane.test"));
	smtp_tlspolicy_result_free(&b);
	/* PKIX: the name */
	assert_int_equal(policy_of(sts_tp, sts_dns, "nosts.test",
	    SMTP_TLSPOLICY_LVL_VERIFY, &b, &err), 0);
	buf_reset(&kb);
	smtp_tlspolicy_auth_key(&b, "mx1.sts.test", &kb);
	assert_string_equal(buf_cstr(&kb), "verify mx1.sts.test");
	smtp_tlspolicy_result_free(&b);
	assert_int_equal(policy_of(sts_tp, sts_dns, "nosts.test",
	    SMTP_TLSPOLICY_LVL_MAY, &b, &err), 0);
	buf_reset(&kb);
	smtp_tlspolicy_auth_key(&b, "mx1.sts.test", &kb);
	assert_int_equal(kb.len, 0);
	smtp_tlspolicy_result_free(&b);
	smtp_tlspolicy_result_free(&a);
	smtp_tlspolicy_result_free(&c);
	buf_free(&ka);
	buf_free(&kb);
	buf_free(&kc);
	buf_free(&err);
}

static void
test_levels(void **state)
{
	struct smtp_tlspolicy_result r;
	struct buf err = BUF_INIT(0);
	enum smtp_tlspolicy_level l;

	(void)state;
	/* dane-only: DANE or nothing */
	assert_int_equal(policy_of(dane_tp, dane_dns, "notlsa.dane.test",
	    SMTP_TLSPOLICY_LVL_DANE_ONLY, &r, &err), -1);
	assert_non_null(strstr(buf_cstr(&err), "dane-only"));
	smtp_tlspolicy_result_free(&r);
	assert_int_equal(policy_of(dane_tp, dane_dns, "dane.test",
	    SMTP_TLSPOLICY_LVL_DANE_ONLY, &r, &err), 0);
	assert_int_equal(r.source, SMTP_TLSPOLICY_SRC_DANE);
	smtp_tlspolicy_result_free(&r);
	/* configured levels: as they are, no lookups */
	assert_int_equal(policy_of(dane_tp, dane_dns, "dane.test",
	    SMTP_TLSPOLICY_LVL_MAY, &r, &err), 0);
	assert_int_equal(r.source, SMTP_TLSPOLICY_SRC_CONFIG);
	assert_int_equal(smtp_tlspolicy_mode(&r, "mx.dane.test"),
	    SMTP_TLSPOLICY_MODE_MAY);
	assert_true(smtp_tlspolicy_mx_allowed(&r, "anything.test", NULL));
	smtp_tlspolicy_result_free(&r);
	assert_int_equal(policy_of(dane_tp, dane_dns, "dane.test",
	    SMTP_TLSPOLICY_LVL_NONE, &r, &err), 0);
	assert_false(smtp_tlspolicy_tls_wanted(&r, "mx.dane.test"));
	smtp_tlspolicy_result_free(&r);
	/* verify: PKIX with the MX name (the test CA is the store) */
	assert_int_equal(policy_of(sts_tp, sts_dns, "nosts.test",
	    SMTP_TLSPOLICY_LVL_VERIFY, &r, &err), 0);
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mx1.sts.test",
	    srv_mx1.port, NULL, &err), 0);
	assert_int_equal(tpfx_handshake(client_ctx, &r, "mx1.sts.test",
	    srv_other.port, NULL, &err), -1);
	smtp_tlspolicy_result_free(&r);

	assert_int_equal(smtp_tlspolicy_level_parse("dane-only", &l), 0);
	assert_int_equal(l, SMTP_TLSPOLICY_LVL_DANE_ONLY);
	assert_string_equal(smtp_tlspolicy_level_name(l), "dane-only");
	assert_int_equal(smtp_tlspolicy_level_parse("auto", &l), 0);
	assert_int_equal(l, SMTP_TLSPOLICY_AUTO);
	assert_int_equal(smtp_tlspolicy_level_parse("Dane", &l), -1);
	buf_free(&err);
}

/* ---- set-up ---- */

static struct dns *
resolver(const char *fwd, const char *ta)
{
	const char *fw[1] = { fwd };
	struct dns_options o;
	struct buf err = BUF_INIT(0);
	struct dns *d;

	memset(&o, 0, sizeof(o));
	o.forwarders = fw;
	o.nforwarders = 1;
	o.forward_special_zones = true;
	o.no_cache = true;
	o.timeout_ms = 3000;
	o.trust_anchor_file = ta;
	if (dns_new(&o, &d, &err) < 0)
		fail_msg("dns_new: %s", buf_cstr(&err));
	buf_free(&err);
	return d;
}

static struct smtp_tlspolicy *
policy(struct dns *d, unsigned sts_port)
{
	struct smtp_tlspolicy_options o;
	struct buf err = BUF_INIT(0);
	struct smtp_tlspolicy *tp;
	char ca[128];

	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	memset(&o, 0, sizeof(o));
	o.dns = d;
	o.sts_port = sts_port;
	o.sts_timeout_ms = 5000;
	o.ca_file = ca;
	o.now = test_clock;
	if (smtp_tlspolicy_new(&o, &tp, &err) < 0)
		fail_msg("smtp_tlspolicy_new: %s", buf_cstr(&err));
	buf_free(&err);
	return tp;
}

static int
start_dane(void)
{
	char spki[80], ospki[80], cahash[80], port[40], ta[128], zone[8192];
	const char *args[] = { "dnssec", dir, "dane.test", "plain.test",
		"_25._tcp.mxb.dane.test.", NULL };
	struct buf err = BUF_INIT(0);
	struct dns_result r;

	if (tpfx_read(dir, "mx1.spki256", spki, sizeof(spki)) < 0 ||
	    tpfx_read(dir, "other.spki256", ospki, sizeof(ospki)) < 0 ||
	    tpfx_read(dir, "ca.cert256", cahash, sizeof(cahash)) < 0)
		return -1;
	snprintf(zone, sizeof(zone),
	    "$ORIGIN dane.test.\n$TTL 300\n"
	    "@ SOA ns.dane.test. h.dane.test. 1 3600 600 86400 300\n"
	    "@ NS ns\nns A 127.0.0.1\n"
	    "@ MX 10 mx\nmx A 127.0.0.1\n_25._tcp.mx TLSA 3 1 1 %s\n"
	    "ta MX 10 mxta\nmxta A 127.0.0.4\n_25._tcp.mxta TLSA 2 0 1 %s\n"
	    "unusable MX 10 mxu\nmxu A 127.0.0.5\n"
	    "_25._tcp.mxu TLSA 1 1 1 %s\n_25._tcp.mxu TLSA 3 1 1 abcdef\n"
	    "_25._tcp.mxu TLSA 0 0 1 %s\n"
	    "bogus MX 10 mxb\nmxb A 127.0.0.6\n_25._tcp.mxb TLSA 3 1 1 %s\n"
	    "notlsa MX 10 mxn\nmxn A 127.0.0.2\n"
	    "cross MX 10 mx.plain.test.\n"
	    "_2525._tcp.mx TLSA 3 1 1 %s\n"
	    "cn MX 10 alias\nalias CNAME mx\n_25._tcp.alias TLSA 3 1 1 %s\n"
	    "cnta MX 10 aliasta\naliasta CNAME mxta\n"
	    "cnfall MX 10 alias2\nalias2 CNAME mxn\n"
	    "_25._tcp.alias2 TLSA 3 1 1 %s\n"
	    "cnplain MX 10 alias3\nalias3 CNAME mx.plain.test.\n"
	    "_25._tcp.alias3 TLSA 3 1 1 %s\n"
	    "cnbogus MX 10 alias4\nalias4 CNAME mxb\n"
	    "_25._tcp.alias4 TLSA 3 1 1 %s\n",
	    spki, cahash, spki, cahash, spki, ospki, ospki, spki, spki, spki);
	if (tpfx_write(dir, "dane.test.zone", zone) < 0)
		return -1;
	snprintf(zone, sizeof(zone),
	    "$ORIGIN plain.test.\n$TTL 300\n"
	    "@ SOA ns.plain.test. h.plain.test. 1 3600 600 86400 300\n"
	    "@ NS ns\nns A 127.0.0.1\n"
	    "@ MX 10 mx\nmx A 127.0.0.7\n_25._tcp.mx TLSA 3 1 1 %s\n", spki);
	if (tpfx_write(dir, "plain.test.zone", zone) < 0)
		return -1;
	unbound_pid = tpfx_spawn(dir, "unbound.out", args);
	if (unbound_pid < 0 || tpfx_wait_port(dir, "unbound.port",
	    unbound_pid) == 0)
		return -1;
	tpfx_read(dir, "unbound.port", port, sizeof(port));
	snprintf(zone, sizeof(zone), "127.0.0.1@%s", port);
	snprintf(ta, sizeof(ta), "%s/ta.ds", dir);
	dane_dns = resolver(zone, ta);
	/* unbound answers once it has loaded the zones */
	for (int i = 0; i < 100; i++) {
		int rc = dns_query(dane_dns, "dane.test", DNS_T_SOA, &r, &err);
		bool ok = rc == 0 && r.status == DNS_OK && r.secure;

		dns_result_free(&r);
		buf_reset(&err);
		if (ok) {
			buf_free(&err);
			return 0;
		}
		usleep(50000);
	}
	buf_free(&err);
	return -1;
}

static int
setup_all(void)
{
	const char *certs[] = { "certs", dir,
		"https:ca:mta-sts.sts.test,mta-sts.big.test,"
		"mta-sts.redirect.test", "mx1:ca:mx1.sts.test",
		"other:ca:other.sts.test", "evil:evil:mx1.sts.test",
		"mxta:ca:mxta.dane.test", NULL };
	const char *https[] = { "https", dir, NULL, NULL, NULL };
	char p1[128], p2[128], p3[128], p4[128];
	unsigned port;
	struct buf err = BUF_INIT(0);

	if (mkdtemp(dir) == NULL || tpfx_run(dir, certs) < 0) {
		fprintf(stderr, "tlspolicy: certificates (python3-cryptography)"
		    " failed, see %s/helper.out\n", dir);
		return -1;
	}
#define CHAIN(n, f) (snprintf(p1, sizeof(p1), "%s/%s.chain", dir, f), \
	snprintf(p2, sizeof(p2), "%s/%s.key", dir, f), \
	tpfx_srv_start(n, p1, p2))
	if (CHAIN(&srv_mx1, "mx1") < 0 || CHAIN(&srv_other, "other") < 0 ||
	    CHAIN(&srv_evil, "evil") < 0 || CHAIN(&srv_ta, "mxta") < 0)
		return -1;
#undef CHAIN
	snprintf(p3, sizeof(p3), "%s/https.crt", dir);
	snprintf(p4, sizeof(p4), "%s/https.key", dir);
	https[2] = p3;
	https[3] = p4;
	https_pid = tpfx_spawn(dir, "https.out", https);
	if (https_pid < 0 ||
	    (port = tpfx_wait_port(dir, "https.port", https_pid)) == 0 ||
	    sts_dns_records("1") < 0)
		return -1;
	sts_dns = resolver(fx.fwd, NULL);
	sts_tp = policy(sts_dns, port);
	if (start_dane() < 0) {
		fprintf(stderr, "tlspolicy: the signed zone (ldnsutils, "
		    "unbound) failed, see %s/helper.out, unbound.out\n", dir);
		return -1;
	}
	dane_tp = policy(dane_dns, port);
	client_ctx = SSL_CTX_new(TLS_client_method());
	if (client_ctx == NULL || SSL_CTX_set_min_proto_version(client_ctx,
	    TLS1_2_VERSION) != 1 ||
	    smtp_tlspolicy_ctx_init(client_ctx, &err) < 0 ||
	    smtp_tlspolicy_ctx_init(client_ctx, &err) < 0)
		return -1;
	buf_free(&err);
	return 0;
}

static void
teardown_all(void)
{
	SSL_CTX_free(client_ctx);
	smtp_tlspolicy_free(&sts_tp);
	smtp_tlspolicy_free(&dane_tp);
	dns_free(&sts_dns);
	dns_free(&dane_dns);
	tpfx_kill(&https_pid);
	tpfx_kill(&unbound_pid);
	dnsfix_stop(&fx);
	tpfx_srv_stop(&srv_mx1);
	tpfx_srv_stop(&srv_other);
	tpfx_srv_stop(&srv_evil);
	tpfx_srv_stop(&srv_ta);
	if (getenv("DNSFIX_KEEP") == NULL)
		nftw(dir, dnsfix_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	const struct CMUnitTest sts[] = {
		cmocka_unit_test(test_sts_fetch_and_cache),
		cmocka_unit_test(test_sts_no_policy),
		cmocka_unit_test(test_sts_tls),
	};
	const struct CMUnitTest dane[] = {
		cmocka_unit_test(test_dane_ee),
		cmocka_unit_test(test_dane_ta),
		cmocka_unit_test(test_dane_not_applicable),
		cmocka_unit_test(test_dane_cname),
		cmocka_unit_test(test_dane_relay),
		cmocka_unit_test(test_auth_key),
		cmocka_unit_test(test_levels),
	};
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (setup_all() < 0) {
		teardown_all();
		fprintf(stderr, "tlspolicy: set-up failed\n");
		return 1;
	}
	rc = cmocka_run_group_tests_name("tlspolicy_mta_sts", sts, NULL,
	    NULL);
	rc += cmocka_run_group_tests_name("tlspolicy_dane", dane, NULL, NULL);
	teardown_all();
	return rc;
}
