/*
 * stage_dkim_test.c - the dkim stage (filters/stage_dkim.c) in a real
 * pipeline against a real DNS server (dnsmasq, t/unit/dns_fixture.h):
 * keys made at test time (opendkim-genkey for RSA, OpenSSL for Ed25519),
 * published as TXT records, messages signed with libopendkim's signer
 * (RSA) and with Postern's (Ed25519, mta/dkim_sign.h; see dkim_fx.h).
 * Covered: RSA and Ed25519 signatures that pass, a valid signature next
 * to a broken one, a changed header field and a changed body (fail), an
 * unsigned message (none), a key record that is missing, revoked or
 * malformed (permerror), SERVFAIL and a timeout on the key lookup
 * (temperror, the other signature still verified), rsa-sha1 and a
 * 512-bit key (policy), garbage in DKIM-Signature fields (a defined
 * result each, values quoted in Authentication-Results, never a header
 * injection), the cap on signatures and the one lookup per key, a
 * message too large to scan, several threads verifying at once through
 * one pipeline, the symbols and their scores, the exact
 * Authentication-Results clauses, and init without a resolver.
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
#include "t/unit/dkim_fx.h"
#include "t/unit/stage_fx.h"
#include "t/unit/unit_tmpdir.h"

#define RECEIVED "Received: from client.example.net (client.example.net " \
    "[192.0.2.1]) by mx.test.example; Mon, 30 Nov 2026 00:00:01 +0000\r\n"
#define DNS_TIMEOUT_MS 1000

static const char message[] =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "Subject: DKIM test\r\n"
    "Date: Mon, 30 Nov 2026 00:00:00 +0000\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Hello,\r\n"
    "this is the body.\r\n";

static struct {
	struct sfx_dns dns;
	struct config *cfg;
	struct filters *f;
	DKIM_LIB *signer;
	struct dkimfx_key rsa, ed, small;
} g;

/* one message through the pipeline */
struct run {
	struct filter_session *s;
	struct filter_msg *m;
	const struct stage_dkim_results *res;
	enum filter_action a;
	struct filter_reply r;
	struct buf msg, hdr;
};

/* ---- helpers ---- */

static void
sign(const struct dkimfx_key *k, const char *domain, const char *selector,
    dkim_alg_t alg, const char *msg, struct buf *out)
{
	buf_reset(out);
	if (dkimfx_sign(g.signer, k, domain, selector, alg, msg, out) < 0)
		fail_msg("cannot sign with %s/%s", domain, selector);
}

static void
run_msg(struct run *rn, const char *msg, bool truncated)
{
	memset(rn, 0, sizeof(*rn));
	buf_init(&rn->msg, 0);
	buf_init(&rn->hdr, 0);
	buf_add_str(&rn->msg, RECEIVED);
	buf_add_str(&rn->msg, msg);
	rn->s = sfx_session(g.f, "192.0.2.1", "smtp");
	sfx_mail_rcpt(rn->s, "alice@example.org", "bob@example.net", &rn->r);
	rn->a = sfx_data(rn->s, rn->msg.data, rn->msg.len, truncated, &rn->r,
	    &rn->hdr);
	rn->m = filters_msg(rn->s);
	rn->res = stage_dkim_results(rn->m);
}

static void
run(struct run *rn, const char *msg)
{
	run_msg(rn, msg, false);
	assert_int_equal(rn->a, FILTER_CONTINUE);
	assert_non_null(rn->res);
}

static void
done(struct run *rn)
{
	filters_session_free(&rn->s);
	buf_free(&rn->msg);
	buf_free(&rn->hdr);
}

/* has_ar - the Authentication-Results field holds this whole clause */
static void
has_ar(const struct run *rn, const char *clause)
{
	struct buf want = BUF_INIT(0);
	const char *h = buf_cstr(&rn->hdr);

	buf_addf(&want, "\t%s", clause);
	/* a clause ends with ";" (more follow) or the field's CRLF */
	for (const char *p = h; (p = strstr(p, buf_cstr(&want))) != NULL;
	    p++) {
		char c = p[want.len];

		if (c == ';' || c == '\r') {
			buf_free(&want);
			return;
		}
	}
	fail_msg("no clause \"%s\" in:\n%s", clause, h);
}

/* has_ar_start - a clause that starts with start and goes on with the
 * header.b property */
static void
has_ar_start(const struct run *rn, const char *start)
{
	struct buf want = BUF_INIT(0);

	buf_addf(&want, "\t%s header.b=", start);
	if (strstr(buf_cstr(&rn->hdr), buf_cstr(&want)) == NULL)
		fail_msg("no clause \"%s ...\" in:\n%s", start,
		    buf_cstr(&rn->hdr));
	buf_free(&want);
}

/* pass_clause - "dkim=pass header.d=... header.b=..." for msg's first
 * signature; header.b quoted when it holds '/' '+' or '=' */
static void
pass_clause(const char *msg, const char *d, const char *s, const char *a,
    struct buf *out)
{
	char b[9];

	dkimfx_b8(msg, b);
	assert_int_equal(strlen(b), 8);
	buf_reset(out);
	buf_addf(out, "dkim=pass header.d=%s header.s=%s header.a=%s "
	    "header.b=%s%s%s", d, s, a, strpbrk(b, "/=") ? "\"" : "", b,
	    strpbrk(b, "/=") ? "\"" : "");
}

/* ---- fixture ---- */

static void
add_txt(struct buf *conf, const char *name, const char *text)
{
	buf_addf(conf, "txt-record=%s,\"%s\"\n", name, text);
}

static int
group_setup(void **state)
{
	struct buf conf = BUF_INIT(0), rec = BUF_INIT(0);
	static const struct filter_stage_ops *const reg[] = {
		&filter_stage_dkim,
	};
	const char *p;

	if (unit_tmpdir_setup(state) < 0)
		return -1;
	memset(&g, 0, sizeof(g));
	if (dkimfx_genkey_rsa(".", "example.org", "sel", 2048, &g.rsa) < 0 ||
	    dkimfx_genkey_rsa(".", "example.org", "small", 512, &g.small) <
	    0 || dkimfx_genkey_ed25519(&g.ed) < 0) {
		fprintf(stderr, "cannot make the keys\n");
		return -1;
	}
	buf_add_str(&conf, "local=/example.org/\n");
	add_txt(&conf, "sel._domainkey.example.org", buf_cstr(&g.rsa.record));
	add_txt(&conf, "ed._domainkey.example.org", buf_cstr(&g.ed.record));
	add_txt(&conf, "small._domainkey.example.org",
	    buf_cstr(&g.small.record));
	/* the RSA key without h=sha256, so that rsa-sha1 gets that far */
	p = strstr(buf_cstr(&g.rsa.record), "p=");
	buf_addf(&rec, "v=DKIM1; k=rsa; %s", p);
	add_txt(&conf, "sha1._domainkey.example.org", buf_cstr(&rec));
	add_txt(&conf, "revoked._domainkey.example.org", "v=DKIM1; k=rsa; p=");
	add_txt(&conf, "badrec._domainkey.example.org",
	    "v=DKIM1; k=rsa; p=bm90IGEga2V5IGF0IGFsbA==");
	add_txt(&conf, "badtype._domainkey.example.org",
	    "v=DKIM1; k=dsa; p=AAAA");
	add_txt(&conf, "notdkim._domainkey.example.org", "hello world");
	if (sfx_dns_start(&g.dns, buf_cstr(&conf), DNS_TIMEOUT_MS, true) < 0)
		return -1;
	g.cfg = sfx_config("server = { hostname = \"mx.test.example\"; };\n"
	    "filters = { stages = [\"dkim\"]; trust_loopback = false; "
	    "stage_timeout = 20; };\n"
	    "dkim = { pass = -0.5; fail = 2.5; none = 0.25; };\n");
	g.f = sfx_filters(&(struct filter_env){ .cfg = g.cfg,
	    .dns = g.dns.resolver }, reg, ARRAY_SIZE(reg));
	g.signer = dkim_init(NULL, NULL);
	if (g.signer != NULL) {
		unsigned int bits = 512;	/* let it sign with "small" */

		(void)dkim_options(g.signer, DKIM_OP_SETOPT,
		    DKIM_OPTS_MINKEYBITS, &bits, sizeof(bits));
	}
	buf_free(&conf);
	buf_free(&rec);
	return g.signer != NULL ? 0 : -1;
}

static int
group_teardown(void **state)
{
	if (g.signer != NULL)
		dkim_close(g.signer);
	filters_free(&g.f);
	config_free(&g.cfg);
	sfx_dns_stop(&g.dns);
	dkimfx_key_free(&g.rsa);
	dkimfx_key_free(&g.ed);
	dkimfx_key_free(&g.small);
	return unit_tmpdir_teardown(state);
}

/* ---- tests ---- */

static void
test_rsa_pass(void **state)
{
	struct buf s = BUF_INIT(0), want = BUF_INIT(0);
	struct run rn;

	(void)state;
	sign(&g.rsa, "example.org", "sel", DKIM_SIGN_RSASHA256, message, &s);
	run(&rn, buf_cstr(&s));
	assert_int_equal(rn.res->nsigs, 1);
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_PASS);
	assert_string_equal(rn.res->sigs[0].domain, "example.org");
	assert_string_equal(rn.res->sigs[0].selector, "sel");
	assert_string_equal(rn.res->sigs[0].algorithm, "rsa-sha256");
	assert_null(rn.res->sigs[0].reason);
	pass_clause(buf_cstr(&s), "example.org", "sel", "rsa-sha256", &want);
	has_ar(&rn, buf_cstr(&want));
	assert_true(sfx_sym(rn.m, "DKIM_PASS") == -0.5);
	assert_false(sfx_has_sym(rn.m, "DKIM_FAIL"));
	assert_false(sfx_has_sym(rn.m, "DKIM_NONE"));
	done(&rn);
	buf_free(&s);
	buf_free(&want);
}

static void
test_ed25519_pass(void **state)
{
	struct buf s = BUF_INIT(0), want = BUF_INIT(0);
	struct run rn;

	(void)state;
	sign(&g.ed, "example.org", "ed", DKIM_SIGN_ED25519SHA256, message, &s);
	run(&rn, buf_cstr(&s));
	assert_int_equal(rn.res->nsigs, 1);
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_PASS);
	assert_string_equal(rn.res->sigs[0].algorithm, "ed25519-sha256");
	pass_clause(buf_cstr(&s), "example.org", "ed", "ed25519-sha256",
	    &want);
	has_ar(&rn, buf_cstr(&want));
	assert_true(sfx_sym(rn.m, "DKIM_PASS") == -0.5);
	done(&rn);
	buf_free(&s);
	buf_free(&want);
}

/* a broken Ed25519 signature in front of a good RSA one, and the two
 * signatures of one message (RSA and Ed25519) both passing */
static void
test_two_signatures(void **state)
{
	struct buf rsa = BUF_INIT(0), ed = BUF_INIT(0), both = BUF_INIT(0);
	struct buf broken = BUF_INIT(0), want = BUF_INIT(0);
	const char *b;
	struct run rn;

	(void)state;
	sign(&g.rsa, "example.org", "sel", DKIM_SIGN_RSASHA256, message, &rsa);
	sign(&g.ed, "example.org", "ed", DKIM_SIGN_ED25519SHA256, message,
	    &ed);
	/* the Ed25519 field, its b= changed, before the RSA-signed message */
	b = dkimfx_b_tag(buf_cstr(&ed));
	buf_add(&broken, ed.data, (size_t)(b - (const char *)ed.data));
	buf_add_str(&broken, b[0] == 'A' ? "B" : "A");
	buf_add_str(&broken, b + 1);
	buf_truncate(&broken, (size_t)(strstr(buf_cstr(&broken),
	    "\r\nFrom:") + 2 - (const char *)broken.data));
	buf_add_str(&broken, buf_cstr(&rsa));
	run(&rn, buf_cstr(&broken));
	assert_int_equal(rn.res->nsigs, 2);
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_FAIL);
	assert_string_equal(rn.res->sigs[0].reason,
	    "signature verification failed");
	assert_int_equal(rn.res->sigs[1].result, STAGE_DKIM_PASS);
	has_ar_start(&rn, "dkim=fail reason=\"signature verification failed\" "
	    "header.d=example.org header.s=ed header.a=ed25519-sha256");
	pass_clause(buf_cstr(&rsa), "example.org", "sel", "rsa-sha256", &want);
	has_ar(&rn, buf_cstr(&want));
	/* a pass next to a failure: only DKIM_PASS */
	assert_true(sfx_sym(rn.m, "DKIM_PASS") == -0.5);
	assert_false(sfx_has_sym(rn.m, "DKIM_FAIL"));
	done(&rn);
	/* both valid: the Ed25519 field signs over the RSA one */
	sign(&g.ed, "example.org", "ed", DKIM_SIGN_ED25519SHA256,
	    buf_cstr(&rsa), &both);
	run(&rn, buf_cstr(&both));
	if (rn.res->nsigs != 2)
		fail_msg("%s", buf_cstr(&both));
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_PASS);
	assert_string_equal(rn.res->sigs[0].selector, "ed");
	assert_int_equal(rn.res->sigs[1].result, STAGE_DKIM_PASS);
	assert_string_equal(rn.res->sigs[1].selector, "sel");
	done(&rn);
	buf_free(&rsa);
	buf_free(&ed);
	buf_free(&both);
	buf_free(&broken);
	buf_free(&want);
}

static void
test_tampered(void **state)
{
	struct buf s = BUF_INIT(0), t = BUF_INIT(0);
	struct run rn;

	(void)state;
	sign(&g.rsa, "example.org", "sel", DKIM_SIGN_RSASHA256, message, &s);
	dkimfx_replace(buf_cstr(&s), "Subject: DKIM test",
	    "Subject: DKIM tEst", &t);
	run(&rn, buf_cstr(&t));
	assert_int_equal(rn.res->nsigs, 1);
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_FAIL);
	assert_string_equal(rn.res->sigs[0].reason,
	    "signature verification failed");
	has_ar_start(&rn, "dkim=fail reason=\"signature verification failed\" "
	    "header.d=example.org header.s=sel header.a=rsa-sha256");
	assert_true(sfx_sym(rn.m, "DKIM_FAIL") == 2.5);
	assert_false(sfx_has_sym(rn.m, "DKIM_PASS"));
	done(&rn);
	dkimfx_replace(buf_cstr(&s), "the body.", "the b0dy.", &t);
	run(&rn, buf_cstr(&t));
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_FAIL);
	assert_string_equal(rn.res->sigs[0].reason, "body hash mismatch");
	assert_true(sfx_sym(rn.m, "DKIM_FAIL") == 2.5);
	done(&rn);
	/* an added header field that is not signed changes nothing */
	dkimfx_replace(buf_cstr(&s), "\r\nFrom:",
	    "\r\nX-Added: yes\r\nFrom:", &t);
	run(&rn, buf_cstr(&t));
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_PASS);
	done(&rn);
	buf_free(&s);
	buf_free(&t);
}

static void
test_unsigned(void **state)
{
	struct run rn;

	(void)state;
	run(&rn, message);
	assert_int_equal(rn.res->nsigs, 0);
	has_ar(&rn, "dkim=none");
	assert_true(sfx_sym(rn.m, "DKIM_NONE") == 0.25);
	assert_false(sfx_has_sym(rn.m, "DKIM_PASS"));
	assert_false(sfx_has_sym(rn.m, "DKIM_FAIL"));
	done(&rn);
}

/* the key record: missing (NXDOMAIN), revoked, not a key, wrong type */
static void
test_key_records(void **state)
{
	static const struct {
		const char *selector, *reason;
	} cases[] = {
		{ "nokey", "no key" },
		{ "revoked", "key revoked" },
		{ "badrec", "unable to apply public key" },
		{ "badtype", "unknown key type" },
		{ "notdkim", NULL },
	};
	struct buf s = BUF_INIT(0), want = BUF_INIT(0);
	struct run rn;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		sign(&g.rsa, "example.org", cases[i].selector,
		    DKIM_SIGN_RSASHA256, message, &s);
		run(&rn, buf_cstr(&s));
		assert_int_equal(rn.res->nsigs, 1);
		if (rn.res->sigs[0].result != STAGE_DKIM_PERMERROR)
			fail_msg("%s: %s (%s)", cases[i].selector,
			    stage_dkim_result_name(rn.res->sigs[0].result),
			    rn.res->sigs[0].reason);
		assert_non_null(rn.res->sigs[0].reason);
		if (cases[i].reason != NULL)
			assert_string_equal(rn.res->sigs[0].reason,
			    cases[i].reason);
		buf_reset(&want);
		buf_addf(&want, "dkim=permerror reason=\"%s\" "
		    "header.d=example.org header.s=%s header.a=rsa-sha256",
		    rn.res->sigs[0].reason, cases[i].selector);
		assert_non_null(strstr(buf_cstr(&rn.hdr), buf_cstr(&want)));
		assert_true(sfx_sym(rn.m, "DKIM_PERMERROR") == 0.0);
		assert_false(sfx_has_sym(rn.m, "DKIM_FAIL"));
		assert_false(sfx_has_sym(rn.m, "DKIM_PASS"));
		done(&rn);
	}
	buf_free(&s);
	buf_free(&want);
}

/* SERVFAIL and a timeout on the key lookup: temperror, and a good
 * signature of the same message is still verified */
static void
test_dns_failures(void **state)
{
	struct buf s = BUF_INIT(0), t = BUF_INIT(0);
	struct run rn;
	uint64_t t0;

	(void)state;
	sign(&g.rsa, DNSFIX_SERVFAIL_ZONE, "sel", DKIM_SIGN_RSASHA256,
	    message, &s);
	run(&rn, buf_cstr(&s));
	assert_int_equal(rn.res->nsigs, 1);
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_TEMPERROR);
	has_ar_start(&rn, "dkim=temperror reason=\"key lookup failed\" "
	    "header.d=servfail.test header.s=sel header.a=rsa-sha256");
	assert_true(sfx_sym(rn.m, "DKIM_TEMPERROR") == 0.0);
	assert_false(sfx_has_sym(rn.m, "DKIM_FAIL"));
	assert_false(sfx_has_sym(rn.m, "DKIM_PERMERROR"));
	done(&rn);
	/* the SERVFAIL signature over a good one: both judged */
	sign(&g.rsa, "example.org", "sel", DKIM_SIGN_RSASHA256, message, &t);
	sign(&g.rsa, DNSFIX_SERVFAIL_ZONE, "sel", DKIM_SIGN_RSASHA256,
	    buf_cstr(&t), &s);
	run(&rn, buf_cstr(&s));
	assert_int_equal(rn.res->nsigs, 2);
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_TEMPERROR);
	assert_int_equal(rn.res->sigs[1].result, STAGE_DKIM_PASS);
	assert_true(sfx_has_sym(rn.m, "DKIM_PASS"));
	assert_false(sfx_has_sym(rn.m, "DKIM_TEMPERROR"));
	done(&rn);
	/* no answer at all: bounded by the resolver's timeout */
	sign(&g.rsa, DNSFIX_TIMEOUT_ZONE, "sel", DKIM_SIGN_RSASHA256, message,
	    &s);
	t0 = clock_mono_us();
	run(&rn, buf_cstr(&s));
	assert_true(clock_mono_us() - t0 < 3 * DNS_TIMEOUT_MS * 1000);
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_TEMPERROR);
	assert_true(sfx_has_sym(rn.m, "DKIM_TEMPERROR"));
	done(&rn);
	buf_free(&s);
	buf_free(&t);
}

/* valid signatures the site does not accept: rsa-sha1 (RFC 8301), a
 * 512-bit key */
static void
test_policy(void **state)
{
	struct buf s = BUF_INIT(0);
	struct run rn;

	(void)state;
	sign(&g.rsa, "example.org", "sha1", DKIM_SIGN_RSASHA1, message, &s);
	run(&rn, buf_cstr(&s));
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_POLICY);
	assert_string_equal(rn.res->sigs[0].reason, "rsa-sha1 not accepted");
	has_ar_start(&rn, "dkim=policy reason=\"rsa-sha1 not accepted\" "
	    "header.d=example.org header.s=sha1 header.a=rsa-sha1");
	assert_false(sfx_has_sym(rn.m, "DKIM_PASS"));
	assert_true(sfx_has_sym(rn.m, "DKIM_PERMERROR"));
	done(&rn);
	sign(&g.small, "example.org", "small", DKIM_SIGN_RSASHA256, message,
	    &s);
	run(&rn, buf_cstr(&s));
	assert_int_equal(rn.res->sigs[0].result, STAGE_DKIM_POLICY);
	assert_false(sfx_has_sym(rn.m, "DKIM_PASS"));
	done(&rn);
	buf_free(&s);
}

/* DKIM-Signature fields that are not signatures: a defined result each,
 * and nothing of theirs can break out of the Authentication-Results
 * field */
static void
test_garbage(void **state)
{
	static const struct {
		const char *field;
		enum stage_dkim_result want;
	} cases[] = {
		{ "DKIM-Signature: garbage", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: ;;;===;", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature:", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: \r\n \r\n\t", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
		  "h=from; bh=xx; b=!!!@@@", STAGE_DKIM_FAIL },
		{ "DKIM-Signature: v=1; a=foo-bar; d=example.org; s=sel; "
		  "h=from; bh=AAAA; b=AAAA", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=1; a=rsa-sha256; s=sel; h=from; bh=AAAA; "
		  "b=AAAA", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; h=from; "
		  "bh=AAAA; b=AAAA", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=2; a=rsa-sha256; d=example.org; s=sel; "
		  "h=from; bh=AAAA; b=AAAA", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=1; a=rsa-sha256; c=weird; d=example.org; "
		  "s=sel; h=from; bh=AAAA; b=AAAA", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
		  "h=to; bh=AAAA; b=AAAA", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
		  "h=from; l=-5; bh=AAAA; b=AAAA", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
		  "i=x@other.example; h=from; bh=AAAA; b=AAAA",
		  STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; "
		  "h=from; x=1000; t=900; bh=AAAA; b=AAAA",
		  STAGE_DKIM_POLICY },
		/* what must be quoted or replaced in the header */
		{ "DKIM-Signature: v=1; a=rsa\"sha256; d=ex(am)ple.org; "
		  "s=se\"l\\; h=from; bh=AAAA; b=A/A=A+AA",
		  STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=ex\xc3\xa4mple.org; "
		  "s=s\x01l; h=from; bh=AAAA; b=AAAA", STAGE_DKIM_PERMERROR },
		{ "DKIM-Signature: v=1; a=rsa-sha256; d=nowhere.test; "
		  "s=a.b; h=from; bh=AAAA; b=AAAA", STAGE_DKIM_PERMERROR },
	};
	struct buf msg = BUF_INIT(0);
	struct run rn;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *h, *end;

		buf_reset(&msg);
		buf_addf(&msg, "%s\r\n%s", cases[i].field, message);
		run(&rn, buf_cstr(&msg));
		assert_int_equal(rn.res->nsigs, 1);
		if (rn.res->sigs[0].result != cases[i].want)
			fail_msg("case %zu: %s (%s), want %s", i,
			    stage_dkim_result_name(rn.res->sigs[0].result),
			    rn.res->sigs[0].reason,
			    stage_dkim_result_name(cases[i].want));
		assert_non_null(rn.res->sigs[0].reason);
		assert_false(sfx_has_sym(rn.m, "DKIM_PASS"));
		/* the field: one line per clause, printable ASCII only */
		h = strstr(buf_cstr(&rn.hdr), "Authentication-Results:");
		end = strstr(h, "\r\nX-Spam-Status:");
		assert_non_null(end);
		for (const char *p = h; p < end; p++) {
			unsigned char c = (unsigned char)*p;

			if (c == '\r')
				assert_memory_equal(p, "\r\n\t", 3);
			else if (c != '\n' && c != '\t')
				assert_true(c >= ' ' && c < 0x7f);
		}
		assert_non_null(strstr(h, "\r\n\tdkim="));
		assert_null(strstr(h, "dkim=pass"));
		done(&rn);
	}
	/* the quoting itself */
	buf_reset(&msg);
	buf_addf(&msg, "%s\r\n%s", cases[14].field, message);
	run(&rn, buf_cstr(&msg));
	assert_non_null(strstr(buf_cstr(&rn.hdr), " header.b=\"A/A=A+AA\""));
	done(&rn);
	buf_free(&msg);
}

/* at most STAGE_DKIM_SIGS_MAX signatures; one key lookup per key */
static void
test_many_signatures(void **state)
{
	struct buf s = BUF_INIT(0), many = BUF_INIT(0);
	const char *from;
	char log[128];
	struct run rn;
	int n;

	(void)state;
	sign(&g.rsa, "example.org", "sel", DKIM_SIGN_RSASHA256, message, &s);
	from = strstr(buf_cstr(&s), "\r\nFrom:") + 2;
	for (int i = 0; i < STAGE_DKIM_SIGS_MAX + 2; i++)
		buf_add(&many, s.data, (size_t)(from - (const char *)s.data));
	buf_add_str(&many, from);
	snprintf(log, sizeof(log), "%s/dnsmasq.log", g.dns.server.dir);
	n = dkimfx_queries(log, "sel._domainkey.example.org");
	run(&rn, buf_cstr(&many));
	assert_int_equal(dkimfx_queries(log, "sel._domainkey.example.org"),
	    n + 1);
	assert_int_equal(rn.res->nsigs, STAGE_DKIM_SIGS_MAX);
	assert_int_equal(rn.res->nignored, 2);
	for (size_t i = 0; i < rn.res->nsigs; i++)
		assert_int_equal(rn.res->sigs[i].result, STAGE_DKIM_PASS);
	done(&rn);
	buf_free(&s);
	buf_free(&many);
}

/* only the header of a big message is here: no verdict at all */
static void
test_truncated(void **state)
{
	struct buf s = BUF_INIT(0);
	struct run rn;

	(void)state;
	sign(&g.rsa, "example.org", "sel", DKIM_SIGN_RSASHA256, message, &s);
	run_msg(&rn, buf_cstr(&s), true);
	assert_int_equal(rn.a, FILTER_CONTINUE);
	assert_null(rn.res);
	assert_false(sfx_has_sym(rn.m, "DKIM_PASS"));
	assert_false(sfx_has_sym(rn.m, "DKIM_FAIL"));
	assert_null(strstr(buf_cstr(&rn.hdr), "dkim="));
	done(&rn);
	buf_free(&s);
}

/* a transaction after another on the same connection starts afresh */
static void
test_second_transaction(void **state)
{
	struct buf s = BUF_INIT(0);
	struct run rn;

	(void)state;
	sign(&g.rsa, "example.org", "sel", DKIM_SIGN_RSASHA256, message, &s);
	run(&rn, buf_cstr(&s));
	filters_txn_end(rn.s);
	assert_null(stage_dkim_results(filters_msg(rn.s)));
	assert_int_equal(filters_mail(rn.s, "QID2", "", &rn.r),
	    FILTER_CONTINUE);
	assert_int_equal(filters_rcpt(rn.s, "bob@example.net", &rn.r),
	    FILTER_CONTINUE);
	assert_int_equal(filters_data(rn.s, (const unsigned char *)message,
	    strlen(message), false, &rn.r), FILTER_CONTINUE);
	assert_int_equal(stage_dkim_results(filters_msg(rn.s))->nsigs, 0);
	done(&rn);
	buf_free(&s);
}

/* one pipeline, several threads at once (the server's job pool): the
 * shared DKIM_LIB, one DKIM handle per message */
#define THREADS 4
#define PER_THREAD 6

static void *
verifier(void *arg)
{
	const struct buf *msgs = arg;
	struct run rn;
	intptr_t bad = 0;

	for (int i = 0; i < PER_THREAD; i++) {
		run_msg(&rn, buf_cstr(&msgs[i % 2]), false);
		if (rn.res == NULL || rn.res->nsigs != 1 ||
		    rn.res->sigs[0].result != STAGE_DKIM_PASS)
			bad++;
		done(&rn);
	}
	return (void *)bad;
}

static void
test_threads(void **state)
{
	struct buf msgs[2] = { BUF_INIT(0), BUF_INIT(0) };
	pthread_t t[THREADS];
	void *bad;

	(void)state;
	sign(&g.rsa, "example.org", "sel", DKIM_SIGN_RSASHA256, message,
	    &msgs[0]);
	sign(&g.ed, "example.org", "ed", DKIM_SIGN_ED25519SHA256, message,
	    &msgs[1]);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, verifier, msgs),
		    0);
	for (int i = 0; i < THREADS; i++) {
		assert_int_equal(pthread_join(t[i], &bad), 0);
		assert_null(bad);
	}
	buf_free(&msgs[0]);
	buf_free(&msgs[1]);
}

static void
test_init_needs_dns(void **state)
{
	static const struct filter_stage_ops *const reg[] = {
		&filter_stage_dkim,
	};

	(void)state;
	assert_null(sfx_refused(&(struct filter_env){ .cfg = g.cfg }, reg, 1,
	    "resolver"));
	assert_string_equal(stage_dkim_result_name(STAGE_DKIM_TEMPERROR),
	    "temperror");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsa_pass),
		cmocka_unit_test(test_ed25519_pass),
		cmocka_unit_test(test_two_signatures),
		cmocka_unit_test(test_tampered),
		cmocka_unit_test(test_unsigned),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_dns_failures),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_many_signatures),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_second_transaction),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_init_needs_dns),
	};

	(void)dnsfix_restart;	/* the fixture's, unused here */
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
