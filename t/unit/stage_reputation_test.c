/*
 * stage_reputation_test.c - the reputation stage
 * (filters/stage_reputation.c) in a real pipeline over the memory lookup
 * store (and kv failinject on SQLite for failures), with a moving clock
 * shared by the pipeline and the store: a spammy IP and its /24 that
 * accumulate a positive score, a good domain a negative one, the clamp,
 * the stage's own symbols kept out of what is learnt, min_samples, decay
 * over half-lives (and across the store's epochs), the From domain
 * parser on tricky and on bad fields, the DKIM domain from the real dkim
 * stage (an Ed25519 key served by dnsmasq, messages signed by Postern's
 * signer, mta/dkim_sign.h), what is not learnt (deferred, refused by a
 * stage, trusted clients), and lookup-store failures.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/dns.h"
#include "filters/filters.h"
#include "filters/stage_dkim.h"
#include "store/kv.h"
#include "store/store_priv.h"
#include "t/unit/dkim_fx.h"
#include "t/unit/stage_fx.h"
#include "t/unit/unit_tmpdir.h"

extern const struct filter_stage_ops filter_stage_reputation;

#define T0 1700000000
#define HALF (7 * 86400)
#define SPAN (5 * HALF)		/* the stage's epoch (REP_EPOCH) */

/* the clock (sfx_now) is shared by the pipeline and the store; "score"
 * (sfx_stage_score), a stage of the test, adds sfx_score and returns
 * sfx_verdict */
static const struct filter_stage_ops *const registry[] = {
	&filter_stage_reputation, &sfx_stage_score, &filter_stage_dkim,
};
static struct dns *test_dns;		/* set: "dkim" runs first */

/* ---- fixture ---- */

static struct sfx rx;

/*
 * setup - backend "memory" or "failinject"; filters_extra goes into
 * filters (with reject_score, give junk_score too), extra into reputation
 * (min_samples is 3 unless it says)
 */
static void
setup(const char *backend, const char *filters_extra, const char *extra)
{
	sfx_init(&rx);
	sfx_now = T0;
	sfx_score = 0;
	sfx_verdict = FILTER_CONTINUE;
	rx.cfg = sfx_config("server = { hostname = \"mx.test.example\"; };\n"
	    "filters = { stages = [%s\"score\", \"reputation\"]; "
	    "trust_loopback = false; stage_timeout = 20; %s %s };\n"
	    "dkim = { pass = 0.0; fail = 0.0; none = 0.0; };\n"
	    "reputation = { half_life = \"7d\"; %s %s };\n",
	    test_dns != NULL ? "\"dkim\", " : "",
	    strstr(filters_extra, "reject_score") != NULL ? "" :
	    "junk_score = 50; reject_score = 60;", filters_extra,
	    strstr(extra, "min_samples") != NULL ? "" : "min_samples = 3;",
	    extra);
	sfx_lookup(&rx, backend);
	rx.f = sfx_filters(&(struct filter_env){ .cfg = rx.cfg,
	    .lookup = rx.l, .dns = test_dns, .now = sfx_clock }, registry,
	    ARRAY_SIZE(registry));
}

static void
teardown(void)
{
	sfx_free(&rx);
}

/* deliver_raw - msg (after our Received field) from ip, envelope
 * sender, that the "score" stage scores score; the data step's verdict */
static enum filter_action
deliver_raw(const char *ip, const char *sender, const char *msg,
    double score)
{
	struct buf b = BUF_INIT(0);
	enum filter_action a;

	sfx_connect(&rx, ip, "smtp");
	memset(&rx.r, 0, sizeof(rx.r));
	sfx_score = score;
	sfx_mail_rcpt(rx.s, sender, "u@example.net", &rx.r);
	buf_add_str(&b, "Received: from x by mx.test.example; "
	    "Mon, 30 Nov 2026 00:00:00 +0000\r\n");
	buf_add_str(&b, msg);
	a = sfx_data(rx.s, b.data, b.len, false, &rx.r, NULL);
	buf_free(&b);
	return a;
}

/*
 * deliver - a message from ip, envelope sender, with the From field from
 * (none when NULL; from may hold "\r\nFrom: x" for a second field), that
 * the "score" stage scores score; the verdict of the data step
 */
static enum filter_action
deliver(const char *ip, const char *sender, const char *from, double score)
{
	struct buf msg = BUF_INIT(0);
	enum filter_action a;

	if (from != NULL)
		buf_addf(&msg, "From:%s\r\n", from);
	buf_add_str(&msg, "Subject: hello\r\n\r\nbody\r\n");
	a = deliver_raw(ip, sender, buf_cstr(&msg), score);
	buf_free(&msg);
	return a;
}

/* sym - whether the last message has the symbol, and its score */
static bool
sym(const char *name, double *score_r)
{
	const struct filter_symbol *y = sfx_find_sym(filters_msg(rx.s), name);

	if (y != NULL && score_r != NULL)
		*score_r = y->score;
	return y != NULL;
}

static void
assert_sym(const char *name, double want)
{
	double got = -1000;

	if (!sym(name, &got))
		fail_msg("no symbol %s", name);
	if (got - want > 1e-3 || want - got > 1e-3)
		fail_msg("%s = %f, want %f", name, got, want);
}

static bool
any_reputation(void)
{
	const struct filter_msg *m = filters_msg(rx.s);

	for (size_t i = 0; i < m->nsyms; i++)
		if (strncmp(m->syms[i].name, "REPUTATION_", 11) == 0)
			return true;
	return false;
}

#define SPAMMER "203.0.113.5"
#define SPAMMER_FROM "x@bad.example"

/* ---- tests ---- */

static void
test_spammy_ip(void **state)
{
	(void)state;
	setup("memory", "", "weight = 1;");
	for (int i = 0; i < 3; i++) {
		/* nothing known before the third message is learnt */
		deliver(SPAMMER, SPAMMER_FROM, " <" SPAMMER_FROM ">", 12);
		assert_false(any_reputation());
	}
	/* the average (12) clamped to +10, for every kind */
	deliver(SPAMMER, SPAMMER_FROM, " <" SPAMMER_FROM ">", 12);
	assert_sym("REPUTATION_IP", 10);
	assert_sym("REPUTATION_NET", 10);
	assert_sym("REPUTATION_MAILFROM", 10);
	assert_sym("REPUTATION_FROM", 10);
	assert_false(sym("REPUTATION_DKIM", NULL));
	/* its neighbour shares the /24, not the IP */
	deliver("203.0.113.77", "y@other.example", NULL, 0);
	assert_sym("REPUTATION_NET", 10);
	assert_false(sym("REPUTATION_IP", NULL));
	assert_false(sym("REPUTATION_MAILFROM", NULL));
	/* another network knows nothing */
	deliver("198.51.100.1", "y@other.example", NULL, 0);
	assert_false(any_reputation());
	teardown();
}

static void
test_own_score_not_learnt(void **state)
{
	(void)state;
	setup("memory", "reject_score = 15; junk_score = 14;", "weight = 0.5;");
	for (int i = 0; i < 3; i++)
		assert_int_equal(deliver(SPAMMER, SPAMMER_FROM, NULL, 4),
		    FILTER_CONTINUE);
	/* 4 + 3 x 0.5 x 4 = 10 */
	deliver(SPAMMER, SPAMMER_FROM, NULL, 4);
	assert_sym("REPUTATION_IP", 2);
	assert_true(filters_msg(rx.s)->score > 9.99);
	/* learnt as 4, not 10: the average stays */
	for (int i = 0; i < 5; i++)
		deliver(SPAMMER, SPAMMER_FROM, NULL, 4);
	assert_sym("REPUTATION_IP", 2);
	teardown();
	/* a message refused over reject_score is learnt */
	setup("memory", "reject_score = 15; junk_score = 14;",
	    "min_samples = 1;");
	assert_int_equal(deliver(SPAMMER, SPAMMER_FROM, NULL, 20),
	    FILTER_REJECT);
	deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	assert_sym("REPUTATION_IP", 10);
	teardown();
}

static void
test_good_domain(void **state)
{
	char ip[32];

	(void)state;
	setup("memory", "", "");
	for (int i = 0; i < 3; i++) {
		snprintf(ip, sizeof(ip), "198.51.%d.1", i);
		deliver(ip, "news@Good.Example",
		    " Good News <news@good.example>", -2);
	}
	deliver("192.0.2.1", "other@good.example", " <x@GOOD.example>", 0);
	assert_sym("REPUTATION_MAILFROM", -2);
	assert_sym("REPUTATION_FROM", -2);
	assert_false(sym("REPUTATION_IP", NULL));
	assert_false(sym("REPUTATION_NET", NULL));
	assert_true(filters_msg(rx.s)->score < -3.99);
	teardown();
	/* very good: clamped to -5, times the weight */
	setup("memory", "", "weight = 2; min_samples = 2;");
	deliver("192.0.2.1", "a@good.example", NULL, -30);
	deliver("192.0.2.1", "a@good.example", NULL, -30);
	deliver("192.0.2.1", "a@good.example", NULL, 0);
	assert_sym("REPUTATION_MAILFROM", -10);
	assert_sym("REPUTATION_IP", -10);
	teardown();
}

static void
test_min_samples(void **state)
{
	(void)state;
	setup("memory", "", "min_samples = 5;");
	for (int i = 0; i < 5; i++) {
		deliver(SPAMMER, SPAMMER_FROM, NULL, 3);
		assert_false(any_reputation());
	}
	deliver(SPAMMER, SPAMMER_FROM, NULL, 3);
	assert_sym("REPUTATION_IP", 3);
	teardown();
}

static void
test_decay(void **state)
{
	(void)state;
	setup("memory", "", "");
	for (int i = 0; i < 4; i++)
		deliver(SPAMMER, SPAMMER_FROM, NULL, 8);
	deliver(SPAMMER, SPAMMER_FROM, NULL, 8);	/* weight 4 */
	assert_sym("REPUTATION_IP", 8);
	/* a half-life later: the same average, but weight 2.5 < 3 */
	sfx_now += HALF;
	deliver(SPAMMER, SPAMMER_FROM, NULL, 8);
	assert_false(any_reputation());
	teardown();

	/* old samples count less */
	setup("memory", "", "min_samples = 1;");
	for (int i = 0; i < 4; i++)
		deliver(SPAMMER, SPAMMER_FROM, NULL, 10);
	sfx_now += 2 * HALF;
	deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	assert_sym("REPUTATION_IP", 10);	/* weight 4 / 4 */
	sfx_now += 1;
	for (int i = 0; i < 2; i++)
		deliver(SPAMMER, SPAMMER_FROM, NULL, -2);
	deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	/* (4 x 10 / 4 + 0 - 2 x 2) / (4 / 4 + 1 + 2) */
	assert_sym("REPUTATION_IP", 6.0 / 4.0);
	/* two epochs on, nothing is left that counts */
	sfx_now += 10 * HALF;
	deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	assert_false(any_reputation());
	teardown();
}

static void
test_epoch_boundary(void **state)
{
	int64_t boundary = ((int64_t)T0 / SPAN + 1) * SPAN;

	(void)state;
	/* just before an epoch starts, then just after: both are read */
	setup("memory", "", "min_samples = 5;");
	sfx_now = boundary - 100;
	for (int i = 0; i < 3; i++)
		deliver(SPAMMER, SPAMMER_FROM, NULL, 6);
	sfx_now = boundary + 100;
	for (int i = 0; i < 3; i++)
		deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	assert_sym("REPUTATION_IP", 3);		/* weight 6, average 3 */
	teardown();
	/* the previous epoch decays like the current one */
	setup("memory", "", "min_samples = 1;");
	sfx_now = boundary - 100;
	deliver(SPAMMER, SPAMMER_FROM, NULL, 6);
	sfx_now += SPAN;	/* the next epoch, five half-lives on */
	deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	assert_false(any_reputation());		/* 1/32 < min_samples */
	teardown();
	setup("memory", "", "min_samples = 1;");
	sfx_now = boundary - 100;
	for (int i = 0; i < 64; i++)
		deliver(SPAMMER, SPAMMER_FROM, NULL, 6);
	sfx_now += SPAN;
	deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	assert_sym("REPUTATION_IP", 6);		/* 64 / 32 = 2 left */
	teardown();
	/* two epochs back is no longer read, even with weight left */
	setup("memory", "", "min_samples = 1;");
	sfx_now = boundary - 100;
	for (int i = 0; i < 64; i++)
		deliver(SPAMMER, SPAMMER_FROM, NULL, 6);
	sfx_now = boundary + SPAN + 100;
	deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	assert_false(any_reputation());
	teardown();
}

/* From fields that name one domain, however it is written */
static const char *const good_froms[] = {
	" \"Evil, <x@bad.example>\" (c@omment.example) <Real@Good.Example>",
	" real@good.example (Real Name)",
	" Real Name <real@GOOD.example.>",
	" =?utf-8?q?R=C3=A9al?= <r@good.example>",
	" \"a@b\"@good.example",
	"\r\n\t<r@good.example>",
	" r @ good . example",
	" Real (nested (comment) here) <r@good.example>",
	" \"quoted \\\" quote <x@bad.example>\" <r@good.example>",
	" < r@good.example >",
};

/* and fields that do not, which are skipped */
static const char *const bad_froms[] = {
	"",
	"   ",
	" undisclosed-recipients:;",
	" <>",
	" a@bad.example, c@bad.example",
	" no at sign",
	" \"unterminated@bad.example",
	" (unterminated comment a@bad.example",
	" a@[192.0.2.1]",
	" <a@bad.example",
	" a@bad.example>",
	" Name <a@bad.example> trailing",
	" a@@bad.example",
	" a@b@bad.example",
	" @bad.example",
	" a@bad..example",
	" a@.bad.example",
	" a@localhost",
	" a@bad.exa mple",
	" a@bad.example;",
	" Name a@x <a@bad.example>",
	" a@bad.ex\x01""ample",
	" a@bad.example)",
	" a@((((((((((((((((((deep))))))))))))))))))bad.example",
	" Group: a@bad.example;",
	" <@route.example:a@bad.example>",
	" a@bad_domain",
	" a@\xc3\xa9.example",
	/* two From fields */
	" a@bad.example\r\nFrom: b@bad.example",
};

static void
test_from_domain(void **state)
{
	char big[5000];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good_froms); i++) {
		setup("memory", "", "min_samples = 1;");
		deliver("192.0.2.1", "", good_froms[i], 3);
		deliver("198.51.100.1", "", " plain@good.example", 0);
		if (!sym("REPUTATION_FROM", NULL))
			fail_msg("From:%s: no domain", good_froms[i]);
		assert_sym("REPUTATION_FROM", 3);
		teardown();
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad_froms); i++) {
		setup("memory", "", "min_samples = 1;");
		deliver("192.0.2.1", "", bad_froms[i], 3);
		deliver("192.0.2.1", "", bad_froms[i], 3);
		if (sym("REPUTATION_FROM", NULL))
			fail_msg("From:%s: a domain", bad_froms[i]);
		assert_sym("REPUTATION_IP", 3);	/* the rest works */
		teardown();
	}
	/* too long to look at */
	setup("memory", "", "min_samples = 1;");
	memset(big, ' ', sizeof(big));
	memcpy(big + sizeof(big) - 18, "<a@bad.example>", 16);
	deliver("192.0.2.1", "", big, 3);
	deliver("192.0.2.1", "", big, 3);
	assert_false(sym("REPUTATION_FROM", NULL));
	teardown();
}

static const char dkim_message[] =
    "From: Alice <alice@example.org>\r\n"
    "To: u@example.net\r\n"
    "Subject: DKIM and reputation\r\n"
    "Date: Mon, 30 Nov 2026 00:00:00 +0000\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Hello.\r\n";

/* the real dkim stage first, a real DNS server with the key */
static void
test_dkim_domain(void **state)
{
	struct dkimfx_key key;
	struct sfx_dns dns;
	struct buf conf = BUF_INIT(0), msg = BUF_INIT(0);
	char *p;

	(void)state;
	assert_int_equal(dkimfx_genkey_ed25519(&key), 0);
	buf_addf(&conf, "local=/example.org/\n"
	    "txt-record=ed._domainkey.example.org,\"%s\"\n",
	    buf_cstr(&key.record));
	assert_int_equal(sfx_dns_start(&dns, buf_cstr(&conf), 2000, true), 0);
	test_dns = dns.resolver;
	/* Ed25519: Postern's signer, no libopendkim handle */
	assert_int_equal(dkimfx_sign(NULL, &key, "example.org", "ed",
	    DKIM_SIGN_ED25519SHA256, dkim_message, &msg), 0);

	setup("memory", "", "min_samples = 2;");
	deliver_raw("192.0.2.1", "", buf_cstr(&msg), -1);
	assert_non_null(stage_dkim_results(filters_msg(rx.s)));
	assert_false(any_reputation());
	deliver_raw("198.51.100.1", "", buf_cstr(&msg), -1);
	deliver_raw("203.0.113.1", "", buf_cstr(&msg), 0);
	assert_sym("REPUTATION_DKIM", -1);
	assert_sym("REPUTATION_FROM", -1);
	/* a signature that fails names no domain; neither does none */
	p = strstr((char *)msg.data, "Hello.");
	assert_non_null(p);
	*p = 'J';
	deliver_raw("203.0.113.1", "", buf_cstr(&msg), 0);
	assert_false(sym("REPUTATION_DKIM", NULL));
	assert_true(sym("REPUTATION_FROM", NULL));
	deliver_raw("203.0.113.1", "", dkim_message, 0);
	assert_false(sym("REPUTATION_DKIM", NULL));
	teardown();

	test_dns = NULL;
	sfx_dns_stop(&dns);
	dkimfx_key_free(&key);
	buf_free(&conf);
	buf_free(&msg);
}

static void
test_not_learnt(void **state)
{
	(void)state;
	setup("memory", "trusted_networks = [\"10.0.0.0/8\"];",
	    "min_samples = 1;");
	/* deferred: it will come back */
	sfx_verdict = FILTER_TEMPFAIL;
	assert_int_equal(deliver(SPAMMER, SPAMMER_FROM, NULL, 9),
	    FILTER_TEMPFAIL);
	/* refused by a stage under reject_score: its score is partial */
	sfx_verdict = FILTER_REJECT;
	assert_int_equal(deliver(SPAMMER, SPAMMER_FROM, NULL, 9),
	    FILTER_REJECT);
	/* accepted by a stage: the score was cut short */
	sfx_verdict = FILTER_ACCEPT;
	deliver(SPAMMER, SPAMMER_FROM, NULL, 9);
	sfx_verdict = FILTER_CONTINUE;
	deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	assert_false(any_reputation());
	/* trusted clients are neither judged nor learnt */
	deliver("10.1.1.1", "t@trusted.example", NULL, 9);
	deliver("10.1.1.1", "t@trusted.example", NULL, 9);
	assert_false(any_reputation());
	deliver("192.0.2.1", "t@trusted.example", NULL, 0);
	assert_false(any_reputation());
	/* IPv6: the /64 */
	deliver("2001:db8:1:2::1", "", NULL, 7);
	deliver("2001:db8:1:2::99", "", NULL, 0);
	assert_sym("REPUTATION_NET", 7);
	assert_false(sym("REPUTATION_IP", NULL));
	teardown();
}

static void
test_lookup_failure(void **state)
{
	(void)state;
	setup("failinject", "", "min_samples = 1;");
	deliver(SPAMMER, SPAMMER_FROM, NULL, 5);
	/* the read fails: the failure policy (accept, with the symbol) */
	kv_failinject_set(rx.kv, KV_FI_ALL, 1, -1);
	assert_int_equal(deliver(SPAMMER, SPAMMER_FROM, NULL, 5),
	    FILTER_CONTINUE);
	assert_true(sym("REPUTATION_ERROR", NULL));
	assert_false(sym("REPUTATION_IP", NULL));
	/* the learning write fails: logged, nothing applied */
	kv_failinject_set(rx.kv, KV_FI_PUT, 1, -1);
	deliver(SPAMMER, SPAMMER_FROM, NULL, 9);
	assert_true(kv_failinject_fired(rx.kv));
	kv_failinject_set(rx.kv, 0, 0, -1);
	deliver(SPAMMER, SPAMMER_FROM, NULL, 0);
	assert_sym("REPUTATION_IP", 5);		/* 5 and 5, not the 9 */
	teardown();
}

static void
test_no_lookup_store(void **state)
{
	(void)state;
	setup("memory", "", "");
	sfx_refused(&(struct filter_env){ .cfg = rx.cfg }, registry,
	    ARRAY_SIZE(registry), "no lookup store");
	teardown();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spammy_ip),
		cmocka_unit_test(test_own_score_not_learnt),
		cmocka_unit_test(test_good_domain),
		cmocka_unit_test(test_min_samples),
		cmocka_unit_test(test_decay),
		cmocka_unit_test(test_epoch_boundary),
		cmocka_unit_test(test_from_domain),
		cmocka_unit_test(test_dkim_domain),
		cmocka_unit_test(test_not_learnt),
		cmocka_unit_test(test_lookup_failure),
		cmocka_unit_test(test_no_lookup_store),
	};

	/* the fixtures' helpers this test does not use */
	(void)dnsfix_restart;
	(void)dkimfx_b8;
	(void)dkimfx_genkey_rsa;
	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
