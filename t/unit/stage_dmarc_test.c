/*
 * stage_dmarc_test.c - the dmarc stage (filters/stage_dmarc.c) in a real
 * pipeline "spf", "dkim", "dmarc" against a real DNS server (dnsmasq,
 * t/unit/dns_fixture.h) holding the SPF, DKIM key and DMARC records;
 * messages signed at test time (t/unit/dkim_fx.h).  Covered: an aligned
 * DKIM pass, an aligned SPF pass, relaxed and strict alignment with a
 * subdomain in both directions (for DKIM and SPF), p=reject (550 5.7.1,
 * or only the symbol when dmarc.reject is off), p=quarantine (junk),
 * p=none, pct=0 (the next policy down), sp= at the organizational
 * domain, no record, a record that is not DMARC, several records, a
 * malformed record, the organizational-domain fallback, a temporary
 * failure of the policy lookup and of an aligned DKIM key, a message too
 * large for DKIM to be verified (nothing enforced), and the From
 * field: several fields, several addresses, none, group syntax, quoted
 * and commented forms, a domain literal.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filters/filters.h"
#include "filters/stage_dkim.h"
#include "filters/stage_spf.h"
#include "t/unit/dkim_fx.h"
#include "t/unit/stage_fx.h"
#include "t/unit/unit_tmpdir.h"

extern const struct filter_stage_ops filter_stage_dmarc;

#define RECEIVED "Received: from client.example.net (client.example.net " \
    "[192.0.2.1]) by mx.test.example; Mon, 30 Nov 2026 00:00:01 +0000\r\n"

static const char *const zone =
    "local=/example.org/\n"
    "local=/example.com/\n"
    "local=/example.net/\n"
    "local=/example.edu/\n"
    /* p=reject at the organizational domain, sp=quarantine below it */
    "txt-record=_dmarc.example.org,\"v=DMARC1; p=reject; sp=quarantine\"\n"
    "txt-record=_dmarc.example.com,\"v=DMARC1; p=reject\"\n"
    "txt-record=example.com,\"v=spf1 ip4:192.0.2.1 -all\"\n"
    "txt-record=_dmarc.example.net,\"v=DMARC1; p=reject; adkim=s; "
    "aspf=s\"\n"
    "txt-record=mail.example.net,\"v=spf1 ip4:192.0.2.1 -all\"\n"
    "txt-record=_dmarc.quarantine.example.com,\"v=DMARC1; "
    "p=quarantine\"\n"
    "txt-record=_dmarc.none.example.com,\"v=DMARC1; p=none\"\n"
    "txt-record=_dmarc.pct.example.com,\"v=DMARC1; p=reject; pct=0\"\n"
    "txt-record=_dmarc.bad.example.com,\"v=DMARC1; p=bogus\"\n"
    "txt-record=_dmarc.nop.example.com,\"v=DMARC1; sp=reject\"\n"
    "txt-record=_dmarc.multi.example.com,\"v=DMARC1; p=reject\"\n"
    "txt-record=_dmarc.multi.example.com,\"v=DMARC1; p=none\"\n"
    "txt-record=_dmarc.notdmarc.example.com,\"v=spf1 -all\"\n"
    /* example.biz is not a local zone: names without a record there are
     * refused, which the resolver takes as a temporary failure */
    "txt-record=_dmarc.example.biz,\"v=DMARC1; p=reject\"\n";

static struct {
	struct sfx_dns dns;
	struct config *cfg;
	struct filters *f;
	DKIM_LIB *signer;
	struct dkimfx_key rsa;
} g;

struct run {
	struct filter_session *s;
	struct filter_msg *m;
	enum filter_action a;
	struct filter_reply r;
	struct buf msg, hdr;
};

/* ---- helpers ---- */

/* message - a message with this From field (NULL: none) */
static void
message(const char *from, struct buf *out)
{
	buf_reset(out);
	if (from != NULL)
		buf_addf(out, "From: %s\r\n", from);
	buf_add_str(out, "To: bob@example.edu\r\n"
	    "Subject: DMARC test\r\n"
	    "Date: Mon, 30 Nov 2026 00:00:00 +0000\r\n"
	    "Message-ID: <2@example.org>\r\n"
	    "\r\n"
	    "Hello.\r\n");
}

/* signed_message - the message signed with d=domain s=sel */
static void
signed_message(const char *from, const char *domain, const char *selector,
    struct buf *out)
{
	struct buf msg = BUF_INIT(0);

	message(from, &msg);
	buf_reset(out);
	if (dkimfx_sign(g.signer, &g.rsa, domain, selector,
	    DKIM_SIGN_RSASHA256, buf_cstr(&msg), out) < 0)
		fail_msg("cannot sign for %s", domain);
	buf_free(&msg);
}

/* pipeline - "spf", "dkim", "dmarc" with these dmarc keys; *cfg_r must
 * outlive it */
static struct filters *
pipeline(const char *dmarc_conf, struct config **cfg_r)
{
	static const struct filter_stage_ops *const reg[] = {
		&filter_stage_spf, &filter_stage_dkim, &filter_stage_dmarc,
	};

	*cfg_r = sfx_config("server = { hostname = \"mx.test.example\"; };\n"
	    "filters = { stages = [\"spf\", \"dkim\", \"dmarc\"]; "
	    "trust_loopback = false; stage_timeout = 20; reject_score = 100; "
	    "junk_score = 50; add_header_score = 50; };\n"
	    "spf = { helo = false; reject_fail = false; };\n"
	    "dmarc = { pass = -1.0; fail = 3.5; %s };\n", dmarc_conf);
	return sfx_filters(&(struct filter_env){ .cfg = *cfg_r,
	    .dns = g.dns.resolver }, reg, ARRAY_SIZE(reg));
}

static void
run_with(struct filters *f, struct run *rn, const char *sender,
    const char *msg, bool truncated)
{
	memset(rn, 0, sizeof(*rn));
	buf_init(&rn->msg, 0);
	buf_init(&rn->hdr, 0);
	buf_add_str(&rn->msg, RECEIVED);
	buf_add_str(&rn->msg, msg);
	rn->s = sfx_session(f, "192.0.2.1", "smtp");
	assert_int_equal(filters_helo(rn->s, "client.example.net", &rn->r),
	    FILTER_CONTINUE);
	sfx_mail_rcpt(rn->s, sender, "bob@example.edu", &rn->r);
	rn->a = sfx_data(rn->s, rn->msg.data, rn->msg.len, truncated, &rn->r,
	    &rn->hdr);
	rn->m = filters_msg(rn->s);
}

static void
run(struct run *rn, const char *sender, const char *msg)
{
	run_with(g.f, rn, sender, msg, false);
}

static void
done(struct run *rn)
{
	filters_session_free(&rn->s);
	buf_free(&rn->msg);
	buf_free(&rn->hdr);
}

/* dmarc_is - the whole dmarc clause of the Authentication-Results field */
static void
dmarc_is(const struct run *rn, const char *clause)
{
	const char *h = buf_cstr(&rn->hdr), *p = strstr(h, "\tdmarc=");
	size_t n = strlen(clause);

	if (p == NULL || strncmp(p + 1, clause, n) != 0 ||
	    (p[n + 1] != ';' && p[n + 1] != '\r'))
		fail_msg("want \"%s\" in:\n%s", clause, h);
}

/* ---- fixture ---- */

static int
group_setup(void **state)
{
	struct buf conf = BUF_INIT(0);
	static const char *const keyed[] = { "example.org", "example.net",
		"mail.example.net", "example.biz" };

	if (unit_tmpdir_setup(state) < 0)
		return -1;
	memset(&g, 0, sizeof(g));
	if (dkimfx_genkey_rsa(".", "example.org", "sel", 2048, &g.rsa) < 0)
		return -1;
	buf_add_str(&conf, zone);
	for (size_t i = 0; i < ARRAY_SIZE(keyed); i++)
		buf_addf(&conf, "txt-record=sel._domainkey.%s,\"%s\"\n",
		    keyed[i], buf_cstr(&g.rsa.record));
	if (sfx_dns_start(&g.dns, buf_cstr(&conf), 1000, true) < 0)
		return -1;
	g.signer = dkim_init(NULL, NULL);
	buf_free(&conf);
	return g.signer != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	if (g.signer != NULL)
		dkim_close(g.signer);
	config_free(&g.cfg);
	sfx_dns_stop(&g.dns);
	dkimfx_key_free(&g.rsa);
	return unit_tmpdir_teardown(state);
}

static int
setup(void **state)
{
	(void)state;
	g.f = pipeline("", &g.cfg);
	return 0;
}

static int
teardown(void **state)
{
	struct config *cfg = g.cfg;

	(void)state;
	filters_free(&g.f);
	g.cfg = NULL;
	config_free(&cfg);
	return 0;
}

/* ---- tests ---- */

static void
test_dkim_aligned_pass(void **state)
{
	struct buf m = BUF_INIT(0);
	struct run rn;

	(void)state;
	/* SPF passes too, but for example.com: not aligned */
	signed_message("Alice <alice@example.org>", "example.org", "sel", &m);
	run(&rn, "bounce@example.com", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_CONTINUE);
	dmarc_is(&rn, "dmarc=pass (p=reject dis=none) header.from=example.org");
	assert_true(sfx_sym(rn.m, "DMARC_PASS") == -1.0);
	assert_true(sfx_has_sym(rn.m, "DKIM_PASS"));
	assert_true(sfx_has_sym(rn.m, "SPF_PASS"));
	done(&rn);
	buf_free(&m);
}

static void
test_spf_aligned_pass(void **state)
{
	struct buf m = BUF_INIT(0);
	struct run rn;

	(void)state;
	message("alice@example.com", &m);
	run(&rn, "alice@example.com", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_CONTINUE);
	dmarc_is(&rn, "dmarc=pass (p=reject dis=none) header.from=example.com");
	assert_true(sfx_has_sym(rn.m, "DMARC_PASS"));
	assert_true(sfx_has_sym(rn.m, "DKIM_NONE"));
	done(&rn);
	/* relaxed: MAIL FROM a subdomain of the From domain's */
	message("alice@quarantine.example.com", &m);
	run(&rn, "alice@example.com", buf_cstr(&m));
	dmarc_is(&rn, "dmarc=pass (p=quarantine dis=none) "
	    "header.from=quarantine.example.com");
	done(&rn);
	buf_free(&m);
}

/* adkim=s / aspf=s at example.net; relaxed at example.org */
static void
test_alignment_modes(void **state)
{
	struct buf m = BUF_INIT(0);
	struct run rn;

	(void)state;
	/* relaxed: From a subdomain, d= the organizational domain */
	signed_message("alice@news.example.org", "example.org", "sel", &m);
	run(&rn, "bounce@example.edu", buf_cstr(&m));
	dmarc_is(&rn, "dmarc=pass (p=reject sp=quarantine dis=none) "
	    "header.from=news.example.org");
	done(&rn);
	/* strict, the same shape: fail, and p=reject */
	signed_message("alice@news.example.net", "example.net", "sel", &m);
	run(&rn, "bounce@example.edu", buf_cstr(&m));
	assert_true(sfx_has_sym(rn.m, "DKIM_PASS"));
	dmarc_is(&rn, "dmarc=fail (p=reject dis=reject) "
	    "header.from=news.example.net");
	assert_int_equal(rn.a, FILTER_REJECT);
	done(&rn);
	/* strict, the other way round (d= a subdomain of From's domain),
	 * which libopendmarc 1.4 alone would call aligned */
	signed_message("alice@example.net", "mail.example.net", "sel", &m);
	run(&rn, "bounce@example.edu", buf_cstr(&m));
	assert_true(sfx_has_sym(rn.m, "DKIM_PASS"));
	dmarc_is(&rn, "dmarc=fail (p=reject dis=reject) "
	    "header.from=example.net");
	done(&rn);
	/* strict, exactly the From domain: pass */
	signed_message("alice@example.net", "example.net", "sel", &m);
	run(&rn, "bounce@example.edu", buf_cstr(&m));
	dmarc_is(&rn, "dmarc=pass (p=reject dis=none) header.from=example.net");
	done(&rn);
	/* SPF: pass for mail.example.net, From example.net, aspf=s */
	message("alice@example.net", &m);
	run(&rn, "bounce@mail.example.net", buf_cstr(&m));
	assert_true(sfx_has_sym(rn.m, "SPF_PASS"));
	dmarc_is(&rn, "dmarc=fail (p=reject dis=reject) "
	    "header.from=example.net");
	done(&rn);
	/* ... and relaxed (example.com's record), the same shape: pass */
	message("alice@quarantine.example.com", &m);
	run(&rn, "bounce@example.com", buf_cstr(&m));
	dmarc_is(&rn, "dmarc=pass (p=quarantine dis=none) "
	    "header.from=quarantine.example.com");
	done(&rn);
	buf_free(&m);
}

static void
test_reject(void **state)
{
	struct buf m = BUF_INIT(0);
	struct filters *f;
	struct config *cfg;
	struct run rn;

	(void)state;
	/* unsigned, SPF passes for another domain */
	message("Alice <alice@example.org>", &m);
	run(&rn, "bounce@example.com", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_REJECT);
	assert_int_equal(rn.r.code, 550);
	assert_string_equal(rn.r.ecode, "5.7.1");
	assert_string_equal(rn.r.text, "Rejected by DMARC policy for "
	    "example.org");
	dmarc_is(&rn, "dmarc=fail (p=reject dis=reject) "
	    "header.from=example.org");
	assert_true(sfx_sym(rn.m, "DMARC_FAIL") == 3.5);
	done(&rn);
	/* a signature that fails is no better */
	signed_message("Alice <alice@example.org>", "example.org", "sel", &m);
	memcpy(strstr((char *)m.data, "Hello."), "Jello.", 6);	/* body */
	run(&rn, "bounce@example.com", buf_cstr(&m));
	assert_true(sfx_has_sym(rn.m, "DKIM_FAIL"));
	assert_int_equal(rn.a, FILTER_REJECT);
	done(&rn);
	/* dmarc.reject off: only the symbol */
	f = pipeline("reject = false;", &cfg);
	message("Alice <alice@example.org>", &m);
	run_with(f, &rn, "bounce@example.com", buf_cstr(&m), false);
	assert_int_equal(rn.a, FILTER_CONTINUE);
	assert_false(filters_junk(rn.s));
	dmarc_is(&rn, "dmarc=fail (p=reject dis=none) header.from=example.org");
	assert_true(sfx_sym(rn.m, "DMARC_FAIL") == 3.5);
	done(&rn);
	filters_free(&f);
	config_free(&cfg);
	buf_free(&m);
}

static void
test_quarantine_and_none(void **state)
{
	struct buf m = BUF_INIT(0);
	struct filters *f;
	struct config *cfg;
	struct run rn;

	(void)state;
	message("alice@quarantine.example.com", &m);
	run(&rn, "bounce@example.org", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_QUARANTINE);
	assert_true(filters_junk(rn.s));
	dmarc_is(&rn, "dmarc=fail (p=quarantine dis=quarantine) "
	    "header.from=quarantine.example.com");
	assert_true(sfx_has_sym(rn.m, "DMARC_FAIL"));
	done(&rn);
	f = pipeline("quarantine = false;", &cfg);
	run_with(f, &rn, "bounce@example.org", buf_cstr(&m), false);
	assert_int_equal(rn.a, FILTER_CONTINUE);
	dmarc_is(&rn, "dmarc=fail (p=quarantine dis=none) "
	    "header.from=quarantine.example.com");
	done(&rn);
	filters_free(&f);
	config_free(&cfg);
	/* p=none: the symbol and nothing else */
	message("alice@none.example.com", &m);
	run(&rn, "bounce@example.org", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_CONTINUE);
	assert_false(filters_junk(rn.s));
	dmarc_is(&rn, "dmarc=fail (p=none dis=none) "
	    "header.from=none.example.com");
	assert_true(sfx_sym(rn.m, "DMARC_FAIL") == 3.5);
	done(&rn);
	/* pct=0: p=reject applies to no message, quarantine does */
	message("alice@pct.example.com", &m);
	run(&rn, "bounce@example.org", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_QUARANTINE);
	dmarc_is(&rn, "dmarc=fail (p=reject dis=quarantine) "
	    "header.from=pct.example.com");
	done(&rn);
	buf_free(&m);
}

/* no record at the From domain: the organizational domain's */
static void
test_org_fallback(void **state)
{
	struct buf m = BUF_INIT(0);
	struct run rn;

	(void)state;
	/* sub.example.org has none; example.org says sp=quarantine */
	message("alice@a.b.sub.example.org", &m);
	run(&rn, "bounce@example.com", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_QUARANTINE);
	dmarc_is(&rn, "dmarc=fail (p=reject sp=quarantine dis=quarantine) "
	    "header.from=a.b.sub.example.org");
	done(&rn);
	/* a TXT record at _dmarc that is not DMARC's does not count */
	message("alice@notdmarc.example.com", &m);
	run(&rn, "bounce@example.org", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_REJECT);
	assert_string_equal(rn.r.text, "Rejected by DMARC policy for "
	    "notdmarc.example.com");
	done(&rn);
	/* no record anywhere */
	message("alice@mail.example.edu", &m);
	run(&rn, "bounce@example.org", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_CONTINUE);
	dmarc_is(&rn, "dmarc=none header.from=mail.example.edu");
	assert_true(sfx_sym(rn.m, "DMARC_NONE") == 0.0);
	assert_false(sfx_has_sym(rn.m, "DMARC_FAIL"));
	done(&rn);
	/* two records: no policy (RFC 7489 6.6.3) */
	message("alice@multi.example.com", &m);
	run(&rn, "bounce@example.org", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_CONTINUE);
	dmarc_is(&rn, "dmarc=none reason=\"several DMARC records\" "
	    "header.from=multi.example.com");
	done(&rn);
	buf_free(&m);
}

static void
test_bad_records(void **state)
{
	static const char *const froms[] = { "alice@bad.example.com",
		"alice@nop.example.com" };
	struct buf m = BUF_INIT(0);
	struct run rn;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(froms); i++) {
		message(froms[i], &m);
		run(&rn, "bounce@example.org", buf_cstr(&m));
		assert_int_equal(rn.a, FILTER_CONTINUE);
		assert_non_null(strstr(buf_cstr(&rn.hdr), "\tdmarc=permerror "
		    "reason=\"bad DMARC record\" header.from="));
		assert_true(sfx_sym(rn.m, "DMARC_PERMERROR") == 0.0);
		done(&rn);
	}
	buf_free(&m);
}

static void
test_temperror(void **state)
{
	struct buf m = BUF_INIT(0);
	struct run rn;

	(void)state;
	/* the policy lookup itself */
	message("alice@" DNSFIX_SERVFAIL_ZONE, &m);
	run(&rn, "bounce@example.org", buf_cstr(&m));
	assert_int_equal(rn.a, FILTER_CONTINUE);
	dmarc_is(&rn, "dmarc=temperror reason=\"policy lookup failed\" "
	    "header.from=servfail.test");
	assert_true(sfx_sym(rn.m, "DMARC_TEMPERROR") == 0.0);
	done(&rn);
	/* p=reject, but the only aligned signature's key lookup failed */
	signed_message("alice@example.biz", "example.biz", "gone", &m);
	run(&rn, "bounce@example.com", buf_cstr(&m));
	assert_true(sfx_has_sym(rn.m, "DKIM_TEMPERROR"));
	assert_int_equal(rn.a, FILTER_CONTINUE);
	dmarc_is(&rn, "dmarc=temperror reason=\"aligned identifier not "
	    "checked\" header.from=example.biz");
	done(&rn);
	/* the same domain, its key there: pass */
	signed_message("alice@example.biz", "example.biz", "sel", &m);
	run(&rn, "bounce@example.com", buf_cstr(&m));
	dmarc_is(&rn, "dmarc=pass (p=reject dis=none) header.from=example.biz");
	done(&rn);
	buf_free(&m);
}

/* a message too large to scan: its signatures are not verified, so a
 * fail is not to be trusted; an aligned SPF pass still counts */
static void
test_unverified(void **state)
{
	struct buf m = BUF_INIT(0);
	struct run rn;

	(void)state;
	signed_message("Alice <alice@example.org>", "example.org", "sel", &m);
	run_with(g.f, &rn, "bounce@example.com", buf_cstr(&m), true);
	assert_int_equal(rn.a, FILTER_CONTINUE);
	dmarc_is(&rn, "dmarc=none reason=\"DKIM not verified\" "
	    "header.from=example.org");
	assert_true(sfx_has_sym(rn.m, "DMARC_NONE"));
	assert_false(sfx_has_sym(rn.m, "DMARC_FAIL"));
	done(&rn);
	message("alice@example.com", &m);
	run_with(g.f, &rn, "alice@example.com", buf_cstr(&m), true);
	dmarc_is(&rn, "dmarc=pass (p=reject dis=none) header.from=example.com");
	done(&rn);
	buf_free(&m);
}

/* RFC 7489 6.6.1: exactly one From field with one address */
static void
test_from_field(void **state)
{
	static const struct {
		const char *from;	/* the From value(s); NULL: none */
		const char *want;	/* the domain, or the permerror */
		bool error;
	} cases[] = {
		{ "Alice <alice@example.org>", "example.org", false },
		{ "alice@EXAMPLE.Org", "example.org", false },
		{ "\"Doe, John\" <john@example.org>", "example.org", false },
		{ "\"x@evil.example\" <alice@example.org>", "example.org",
		  false },
		{ "(a comment, with a comma) alice@example.org (and @ one)",
		  "example.org", false },
		{ "alice@example.org.", "example.org", false },
		{ "<@relay.example:alice@example.org>", "example.org", false },
		{ "Alice\r\n <alice@example.org>", "example.org", false },
		{ "alice@example.org, bob@example.com",
		  "several From addresses", true },
		{ "Friends: alice@example.org, bob@example.org;",
		  "several From addresses", true },
		{ "Undisclosed:;", "no From address", true },
		{ "<>", "no From address", true },
		{ "", "no From address", true },
		{ "alice", "no usable From domain", true },
		{ "alice@[192.0.2.1]", "no usable From domain", true },
		{ "alice@exa mple.org", "no usable From domain", true },
		{ "alice@ex\xc3\xa4mple.org", "no usable From domain", true },
		{ "alice@example.org\r\nFrom: bob@example.com",
		  "several From fields", true },
		{ NULL, "no From field", true },
	};
	struct buf m = BUF_INIT(0), want = BUF_INIT(0);
	struct run rn;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		message(cases[i].from, &m);
		run(&rn, "bounce@example.edu", buf_cstr(&m));
		buf_reset(&want);
		if (cases[i].error)
			buf_addf(&want, "\tdmarc=permerror reason=\"%s\"\r\n",
			    cases[i].want);
		else
			buf_addf(&want, " header.from=%s\r\n", cases[i].want);
		if (strstr(buf_cstr(&rn.hdr), buf_cstr(&want)) == NULL)
			fail_msg("case %zu: want \"%s\" in:\n%s", i,
			    buf_cstr(&want), buf_cstr(&rn.hdr));
		if (cases[i].error) {
			assert_true(sfx_has_sym(rn.m, "DMARC_PERMERROR"));
			assert_int_equal(rn.a, FILTER_CONTINUE);
		}
		done(&rn);
	}
	buf_free(&m);
	buf_free(&want);
}

/* the stage does not start without its resolver or its list */
static void
test_init_errors(void **state)
{
	struct config *cfg;
	static const struct filter_stage_ops *const reg[] = {
		&filter_stage_dmarc,
	};

	(void)state;
	cfg = sfx_config("filters = { stages = [\"dmarc\"]; };\n");
	sfx_refused(&(struct filter_env){ .cfg = cfg }, reg, 1, "resolver");
	config_free(&cfg);
	cfg = sfx_config("filters = { stages = [\"dmarc\"]; };\n"
	    "dmarc = { public_suffix_list = \"/nonexistent/psl.dat\"; };\n");
	sfx_refused(&(struct filter_env){ .cfg = cfg,
	    .dns = g.dns.resolver }, reg, 1, "/nonexistent/psl.dat");
	config_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dkim_aligned_pass, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spf_aligned_pass, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_alignment_modes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine_and_none, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_org_fallback, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_records, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_temperror, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unverified, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_from_field, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_init_errors, setup,
		    teardown),
	};

	(void)dnsfix_restart;	/* the fixture's, unused here */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
