/*
 * filters_test.c - the pipeline (filters/filters.c) with stages defined
 * here to drive it: order and early stop, ACCEPT skipping the rest,
 * inbound-only stages skipped for trusted clients, the failure policy
 * (error and time budget, before and at DATA), the score thresholds and
 * the scored/verdict hooks, the milter sequence (every header, eoh, the
 * body in chunks, eom), a refused recipient left out of the envelope,
 * and the header fields: Authentication-Results, X-Spam-Status folding,
 * X-Spam-Flag, forged fields of ours removed, a stage's change and
 * deletion applied to the right occurrence; a stage's new body (seen by
 * the later stages, stored by filters_apply with CRLF line ends, refused
 * when the caller cannot apply it, for a truncated message and over the
 * limit) and envelope changes (recorded in order), and a failed stage's
 * changes undone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "filters/filters.h"
#include "t/unit/unit_tmpdir.h"

/* ---- stages for the test: their behaviour is set per test ---- */

struct probe {
	const char *name;
	enum filter_action connect, rcpt, data;
	double score;			/* added at data */
	const char *sym;
	unsigned sleep_ms;		/* at data */
	unsigned calls, headers, eohs, eoms, verdicts, scored;
	size_t body_bytes;
	enum filter_action last_verdict;
	enum filter_action on_scored;
};

static struct probe probes[3];

static int
probe_init(const struct filter_env *env, void **state_r, struct buf *err)
{
	(void)env;
	(void)err;
	for (size_t i = 0; i < 3; i++)
		if (probes[i].name == NULL)
			break;
	*state_r = NULL;
	return 0;
}

static struct probe *
me(const char *name)
{
	for (size_t i = 0; i < 3; i++)
		if (probes[i].name != NULL && strcmp(probes[i].name, name) == 0)
			return &probes[i];
	fail_msg("no probe %s", name);
	return NULL;
}

#define PROBE_STEP(stage, fn, field)					\
static enum filter_action						\
fn(void *st, struct filter_msg *m, struct filter_reply *r)		\
{									\
	struct probe *p = me(stage);					\
									\
	(void)st;							\
	(void)m;							\
	p->calls++;							\
	if (p->field == FILTER_REJECT)					\
		filter_reply_set(r, 554, "5.7.1", "go away %s", stage);	\
	return p->field;						\
}

PROBE_STEP("a", a_connect, connect)
PROBE_STEP("b", b_connect, connect)
PROBE_STEP("a", a_rcpt, rcpt)

static enum filter_action
data_step(const char *stage, struct filter_msg *m, struct filter_reply *r)
{
	struct probe *p = me(stage);

	p->calls++;
	if (p->sleep_ms > 0)
		usleep(p->sleep_ms * 1000);
	if (p->sym != NULL)
		filter_symbol(m, p->sym, p->score);
	(void)r;
	return p->data;
}

static enum filter_action
a_data(void *st, struct filter_msg *m, struct filter_reply *r)
{
	(void)st;
	filter_ar(m, "spf=pass smtp.mailfrom=%s", m->sender);
	filter_header_add(m, "X-Probe", "a was here");
	return data_step("a", m, r);
}

static enum filter_action
b_data(void *st, struct filter_msg *m, struct filter_reply *r)
{
	(void)st;
	return data_step("b", m, r);
}

/* c: the milter-style callbacks */
static enum filter_action
c_header(void *st, struct filter_msg *m, const struct filter_header *h,
    struct filter_reply *r)
{
	(void)st;
	(void)r;
	me("c")->headers++;
	if (strcmp(h->name, "Subject") == 0 && strstr(h->value, "change"))
		filter_header_change(m, "Subject", 1, " changed");
	if (strcmp(h->name, "X-Drop") == 0)
		filter_header_change(m, "X-Drop", 2, NULL);
	return FILTER_CONTINUE;
}

static enum filter_action
c_eoh(void *st, struct filter_msg *m, struct filter_reply *r)
{
	(void)st;
	(void)m;
	(void)r;
	me("c")->eohs++;
	return FILTER_CONTINUE;
}

static enum filter_action
c_body(void *st, struct filter_msg *m, const unsigned char *chunk, size_t len,
    struct filter_reply *r)
{
	(void)st;
	(void)m;
	(void)r;
	(void)chunk;
	assert_true(len <= FILTER_BODY_CHUNK);
	me("c")->body_bytes += len;
	return FILTER_CONTINUE;
}

static enum filter_action
c_eom(void *st, struct filter_msg *m, struct filter_reply *r)
{
	(void)st;
	(void)r;
	me("c")->eoms++;
	return data_step("c", m, r);
}

static enum filter_action
c_scored(void *st, struct filter_msg *m, struct filter_reply *r)
{
	struct probe *p = me("c");

	(void)st;
	(void)m;
	p->scored++;
	if (p->on_scored == FILTER_TEMPFAIL)
		filter_reply_set(r, 451, "4.7.1", "greylisted");
	return p->on_scored;
}

static void
verdict(const char *stage, enum filter_action final)
{
	me(stage)->verdicts++;
	me(stage)->last_verdict = final;
}

static void
a_verdict(void *st, struct filter_msg *m, enum filter_action final)
{
	(void)st;
	(void)m;
	verdict("a", final);
}

static void
c_verdict(void *st, struct filter_msg *m, enum filter_action final)
{
	(void)st;
	(void)m;
	verdict("c", final);
}

static const struct filter_stage_ops stage_a = {
	.name = "a", .init = probe_init, .connect = a_connect,
	.rcpt = a_rcpt, .data = a_data, .verdict = a_verdict,
};
static const struct filter_stage_ops stage_b = {
	.name = "b", .inbound_only = true, .connect = b_connect,
	.data = b_data,
};
static const struct filter_stage_ops stage_c = {
	.name = "c", .header = c_header, .eoh = c_eoh, .body = c_body,
	.eom = c_eom, .scored = c_scored, .verdict = c_verdict,
};
/* e: replaces the body and changes the envelope; f: sees the body */
static struct {
	const char *body;
	size_t body_len;
	enum filter_action ret;
	int rc_body, rc_add, rc_del, rc_from;
	struct buf seen;		/* what f's body callback got */
} ed;

static enum filter_action
e_data(void *st, struct filter_msg *m, struct filter_reply *r)
{
	(void)st;
	(void)r;
	filter_header_add(m, "X-E", "e was here");
	ed.rc_body = filter_replace_body(m, ed.body, ed.body_len);
	ed.rc_add = filter_rcpt_add(m, "new@example.org", "NOTIFY=NEVER");
	ed.rc_del = filter_rcpt_delete(m, "u@EXAMPLE.org");
	ed.rc_from = filter_sender_change(m, "", "");
	return ed.ret;
}

static enum filter_action
f_body(void *st, struct filter_msg *m, const unsigned char *chunk,
    size_t len, struct filter_reply *r)
{
	(void)st;
	(void)m;
	(void)r;
	buf_add(&ed.seen, chunk, len);
	return FILTER_CONTINUE;
}

static const struct filter_stage_ops stage_e = {
	.name = "e", .data = e_data,
};
static const struct filter_stage_ops stage_f = {
	.name = "f", .body = f_body,
};
static const struct filter_stage_ops *const registry[] = {
	&stage_a, &stage_b, &stage_c, &stage_e, &stage_f,
};

/* ---- fixture ---- */

struct fx {
	struct config *cfg;
	struct filters *f;
	struct filter_session *s;
	struct filter_reply r;
	struct buf out, err;
};

static struct fx fx;

static void
setup_with(const char *extra, const char *peer)
{
	FILE *fp = fopen("t.conf", "w");
	struct filter_env env;
	struct sockaddr_in sin;

	assert_non_null(fp);
	fprintf(fp, "server = { hostname = \"mx.test.example\"; };\n"
	    "filters = { %s stage_timeout = 1; trust_loopback = false; %s "
	    "};\n", strstr(extra, "stages") != NULL ? "" :
	    "stages = [\"a\", \"b\", \"c\"];", extra);
	fclose(fp);
	memset(&fx, 0, sizeof(fx));
	memset(probes, 0, sizeof(probes));
	probes[0].name = "a";
	probes[1].name = "b";
	probes[2].name = "c";
	buf_init(&fx.err, 0);
	buf_init(&fx.out, 0);
	if (config_load("t.conf", &fx.cfg, &fx.err) < 0)
		fail_msg("config: %s", buf_cstr(&fx.err));
	memset(&env, 0, sizeof(env));
	env.cfg = fx.cfg;
	if (filters_new(&env, registry, ARRAY_SIZE(registry), &fx.f,
	    &fx.err) < 0)
		fail_msg("filters_new: %s", buf_cstr(&fx.err));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, peer, &sin.sin_addr), 1);
	fx.s = filters_session_new(fx.f, (struct sockaddr *)&sin,
	    sizeof(sin), "smtp");
}

static int
teardown(void **state)
{
	(void)state;
	filters_session_free(&fx.s);
	filters_free(&fx.f);
	config_free(&fx.cfg);
	buf_free(&fx.out);
	buf_free(&fx.err);
	return 0;
}

static const char message[] =
    "Received: from x by mx.test.example; Mon, 30 Nov 2026 00:00:00 +0000\r\n"
    "Authentication-Results: mx.test.example; spf=pass forged\r\n"
    "Authentication-Results: other.example; dkim=pass\r\n"
    "X-Spam-Flag: YES\r\n"
    "Subject: please change\r\n"
    "X-Drop: one\r\n"
    "X-Drop: two\r\n"
    "  folded two\r\n"
    "From: <s@example.net>\r\n"
    "\r\n"
    "body line\r\n";

static enum filter_action
deliver(const char *msg, size_t len)
{
	enum filter_action a;

	/* ACCEPT (after a stage accepted) lets the transaction go on too */
	assert_true(filters_mail(fx.s, "QID1", "s@example.net", &fx.r) <=
	    FILTER_ACCEPT);
	assert_true(filters_rcpt(fx.s, "u@example.org", &fx.r) <=
	    FILTER_ACCEPT);
	a = filters_data(fx.s, (const unsigned char *)msg, len, false, &fx.r);
	buf_reset(&fx.out);
	filters_apply(fx.s, (const unsigned char *)msg, len,
	    (size_t)(strstr(msg, "\r\n") + 2 - msg), &fx.out);
	return a;
}

/* ---- tests ---- */

static void
test_order_and_accept(void **state)
{
	(void)state;
	setup_with("", "192.0.2.1");
	probes[0].connect = FILTER_CONTINUE;
	probes[1].connect = FILTER_REJECT;
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_REJECT);
	assert_int_equal(fx.r.code, 554);
	assert_string_equal(fx.r.text, "go away b");
	assert_int_equal(probes[0].calls, 1);
	assert_int_equal(probes[1].calls, 1);
	/* ACCEPT from a: b and c are skipped for the whole transaction */
	probes[0].connect = FILTER_ACCEPT;
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_ACCEPT);
	assert_int_equal(probes[1].calls, 1);
	probes[1].data = FILTER_REJECT;
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	assert_int_equal(probes[1].calls, 1);
	assert_int_equal(probes[2].eoms, 0);
	filters_txn_end(fx.s);
	/* a new transaction runs everyone again */
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_REJECT);
	assert_int_equal(fx.r.code, 550);	/* data: a 5xx made 550 */
	assert_int_equal(probes[1].calls, 2);
	teardown(NULL);
}

static void
test_trusted_skips_inbound(void **state)
{
	(void)state;
	setup_with("trusted_networks = [\"192.0.2.0/24\"];", "192.0.2.9");
	probes[1].connect = FILTER_REJECT;
	assert_true(filters_session_conn(fx.s)->trusted);
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_CONTINUE);
	assert_int_equal(probes[1].calls, 0);
	assert_int_equal(probes[0].calls, 1);
	teardown(NULL);
	setup_with("trusted_networks = [\"192.0.2.0/24\"];", "198.51.100.9");
	probes[1].connect = FILTER_REJECT;
	assert_false(filters_session_conn(fx.s)->trusted);
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_REJECT);
	/* authentication makes a client trusted */
	filters_session_auth(fx.s, "alice@example.org");
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_CONTINUE);
	teardown(NULL);
}

static void
test_failure_policy(void **state)
{
	(void)state;
	setup_with("", "192.0.2.1");
	/* before DATA: tempfail by default */
	probes[0].connect = FILTER_ERROR;
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_TEMPFAIL);
	assert_int_equal(fx.r.code, 451);
	assert_string_equal(fx.r.ecode, "4.7.1");
	/* at DATA: accept with a symbol; a stage over its budget too */
	probes[0].data = FILTER_ERROR;
	probes[1].sleep_ms = 1100;
	probes[1].data = FILTER_REJECT;		/* too late to count */
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	assert_non_null(strstr(buf_cstr(&fx.out), "A_ERROR=0.0"));
	assert_non_null(strstr(buf_cstr(&fx.out), "B_ERROR=0.0"));
	assert_int_equal(probes[2].eoms, 1);
	teardown(NULL);
	setup_with("fail_at_data = \"tempfail\"; fail_before_data = "
	    "\"accept\";", "192.0.2.1");
	probes[0].connect = FILTER_ERROR;
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_CONTINUE);
	probes[0].data = FILTER_ERROR;
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_TEMPFAIL);
	assert_int_equal(fx.r.code, 451);
	assert_int_equal(probes[2].eoms, 0);
	teardown(NULL);
	/* a stage's own action (filters.fail_actions) beats the defaults */
	setup_with("fail_actions = [\"a=accept\", \"b=reject\"];",
	    "192.0.2.1");
	probes[0].connect = FILTER_ERROR;
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_CONTINUE);
	probes[1].connect = FILTER_ERROR;
	assert_int_equal(filters_connect(fx.s, &fx.r), FILTER_REJECT);
	assert_int_equal(fx.r.code, 550);
	teardown(NULL);
}

static void
test_thresholds(void **state)
{
	(void)state;
	setup_with("reject_score = 10.0; junk_score = 5.0; add_header_score = "
	    "3; greylist_score = 2;", "192.0.2.1");
	probes[1].sym = "B_SAYS";
	probes[1].score = 3.5;
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	assert_false(filters_junk(fx.s));
	assert_non_null(strstr(buf_cstr(&fx.out), "X-Spam-Flag: YES\r\n"));
	assert_non_null(strstr(buf_cstr(&fx.out),
	    "X-Spam-Status: Yes, score=3.5 required=3.0 tests=B_SAYS=3.5\r\n"));
	assert_int_equal(probes[2].scored, 1);
	assert_int_equal(probes[0].last_verdict, FILTER_CONTINUE);
	filters_txn_end(fx.s);
	/* junk */
	probes[1].score = 6;
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_QUARANTINE);
	assert_true(filters_junk(fx.s));
	assert_true(filters_msg(fx.s)->spam);
	assert_int_equal(probes[2].last_verdict, FILTER_QUARANTINE);
	filters_txn_end(fx.s);
	/* scored() may defer (greylisting on doubt) */
	probes[1].score = 2.5;
	probes[2].on_scored = FILTER_TEMPFAIL;
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_TEMPFAIL);
	assert_string_equal(fx.r.text, "greylisted");
	filters_txn_end(fx.s);
	/* reject: scored() is not asked */
	probes[1].score = 12;
	probes[2].scored = 0;
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_REJECT);
	assert_int_equal(fx.r.code, 550);
	assert_string_equal(fx.r.ecode, "5.7.1");
	assert_int_equal(probes[2].scored, 0);
	assert_int_equal(probes[0].last_verdict, FILTER_REJECT);
	assert_true(filters_msg(fx.s)->spam);
	teardown(NULL);
}

static void
test_milter_sequence_and_rcpt(void **state)
{
	char *big;
	size_t hl = sizeof(message) - 1 - strlen("body line\r\n");
	size_t blen = 3 * FILTER_BODY_CHUNK + 10;

	(void)state;
	setup_with("", "192.0.2.1");
	big = malloc(hl + blen);
	memcpy(big, message, hl);
	memset(big + hl, 'x', blen);
	assert_int_equal(deliver(big, hl + blen), FILTER_CONTINUE);
	assert_int_equal(probes[2].headers, 8);
	assert_int_equal(filters_msg(fx.s)->nhdrs, 8);
	assert_int_equal(probes[2].eohs, 1);
	assert_int_equal(probes[2].eoms, 1);
	assert_int_equal(probes[2].body_bytes, blen);
	assert_string_equal(filter_header_get(filters_msg(fx.s),
	    "x-drop")->value, " one");
	filters_txn_end(fx.s);
	free(big);
	/* a refused recipient does not stay in the envelope */
	assert_int_equal(filters_mail(fx.s, "Q2", "", &fx.r),
	    FILTER_CONTINUE);
	probes[0].rcpt = FILTER_REJECT;
	assert_int_equal(filters_rcpt(fx.s, "no@example.org", &fx.r),
	    FILTER_REJECT);
	probes[0].rcpt = FILTER_CONTINUE;
	assert_int_equal(filters_rcpt(fx.s, "yes@example.org", &fx.r),
	    FILTER_CONTINUE);
	assert_int_equal(filters_msg(fx.s)->nrcpts, 1);
	assert_string_equal(filters_msg(fx.s)->rcpts[0], "yes@example.org");
	teardown(NULL);
}

static void
test_headers(void **state)
{
	const char *o, *body;

	(void)state;
	setup_with("", "192.0.2.1");
	for (int i = 0; i < 12; i++)
		filter_symbol(filters_msg(fx.s), "A_RATHER_LONG_SYMBOL_NAME",
		    0.1);
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	o = buf_cstr(&fx.out);
	/* our Received stays first, our fields follow it */
	assert_true(strncmp(o, "Received: from x by mx.test.example;", 36) ==
	    0);
	assert_non_null(strstr(o, "\r\nX-Probe: a was here\r\n"
	    "Authentication-Results: mx.test.example;\r\n"
	    "\tspf=pass smtp.mailfrom=s@example.net\r\n"));
	/* forged fields of ours are gone, others' stay */
	assert_null(strstr(o, "forged"));
	assert_non_null(strstr(o, "Authentication-Results: other.example; "
	    "dkim=pass\r\n"));
	assert_null(strstr(o, "X-Spam-Flag"));
	/* X-Spam-Status folded, no line over 78 */
	for (const char *l = o; (body = strstr(l, "\r\n")) != NULL &&
	    body != l; l = body + 2)
		assert_true(body - l <= 78);
	/* the changes: Subject replaced, the second X-Drop deleted */
	assert_non_null(strstr(o, "\r\nSubject: changed\r\n"));
	assert_non_null(strstr(o, "\r\nX-Drop: one\r\n"));
	assert_null(strstr(o, "two"));
	assert_non_null(strstr(o, "From: <s@example.net>\r\n\r\nbody line\r\n"));
	filters_txn_end(fx.s);
	/* no results: "none" */
	probes[0].data = FILTER_CONTINUE;
	teardown(NULL);
	setup_with("stages = [\"b\"];", "192.0.2.1");
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	assert_non_null(strstr(buf_cstr(&fx.out),
	    "Authentication-Results: mx.test.example; none\r\n"
	    "X-Spam-Status: No, score=0.0 required=6.0 tests=none\r\n"));
	teardown(NULL);
}

/* forged fields of ours are removed wherever they hide (the fuzzer's
 * finds: after a line without a colon, a blank before the colon, the
 * authserv-id behind a comment or in quotes, after 1000 fields) */
static void
test_forged_fields(void **state)
{
	static const char forged[] =
	    "Received: from x by mx.test.example; Mon, 30 Nov 2026\r\n"
	    " continued received\r\n"
	    "no colon on this line\r\n"
	    "X-Spam-Flag : YES\r\n"
	    "Authentication-Results: (a comment) mx.test.example; dkim=pass\r\n"
	    "Authentication-Results: \"mx.test.example\"; spf=pass\r\n"
	    "Authentication-Results: mx.test.example.evil; keep=1\r\n"
	    "Subject: s\r\n"
	    "\r\n"
	    "body\r\n";
	struct buf big = BUF_INIT(0);
	const char *o;

	(void)state;
	setup_with("stages = [\"b\"];", "192.0.2.1");
	assert_int_equal(deliver(forged, sizeof(forged) - 1), FILTER_CONTINUE);
	o = buf_cstr(&fx.out);
	/* the continuation stays with Received, our block after it */
	assert_non_null(strstr(o, " continued received\r\n"
	    "Authentication-Results: mx.test.example; none\r\n"));
	assert_null(strstr(o, "X-Spam-Flag"));
	assert_null(strstr(o, "dkim=pass"));
	assert_null(strstr(o, "spf=pass"));
	assert_non_null(strstr(o, "mx.test.example.evil; keep=1"));
	assert_non_null(strstr(o, "no colon on this line\r\n"));
	assert_non_null(strstr(o, "\r\n\r\nbody\r\n"));
	filters_txn_end(fx.s);
	/* past the 1000 fields the stages see */
	buf_add_str(&big, "Received: from x by y; now\r\n");
	for (int i = 0; i < FILTER_HEADERS_MAX + 5; i++)
		buf_addf(&big, "X-Filler-%d: %d\r\n", i, i);
	buf_add_str(&big, "X-Spam-Status: Yes, score=99\r\n\r\nbody\r\n");
	assert_int_equal(deliver(buf_cstr(&big), big.len), FILTER_CONTINUE);
	assert_int_equal(filters_msg(fx.s)->nhdrs, FILTER_HEADERS_MAX);
	assert_null(strstr(buf_cstr(&fx.out), "score=99"));
	assert_non_null(strstr(buf_cstr(&fx.out), "\r\n\r\nbody\r\n"));
	buf_free(&big);
	teardown(NULL);
}

static void
body_test_setup(const char *body)
{
	setup_with("stages = [\"e\", \"f\"]; max_scan_size = \"64K\";",
	    "192.0.2.1");
	buf_free(&ed.seen);
	ed.body = body;
	ed.body_len = strlen(body);
	ed.ret = FILTER_CONTINUE;
	filters_session_can(fx.s, FILTER_CAN_ALL);
}

static void
test_body_and_envelope(void **state)
{
	static const char want[] = "From: <s@example.net>\r\n\r\n"
	    "new body\r\n.\r\nbare CR\r\nlast\r\n";
	const struct filter_msg *m;
	const char *o;

	(void)state;
	body_test_setup("new body\n.\r\nbare CR\rlast");
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	assert_int_equal(ed.rc_body, 0);
	m = filters_msg(fx.s);
	assert_true(m->body_replaced);
	/* the later stage saw the new body, CRLF-normalised */
	assert_string_equal(buf_cstr(&ed.seen),
	    "new body\r\n.\r\nbare CR\r\nlast\r\n");
	/* stored: our fields, the client's header (edits applied), the
	 * new body in place of the old */
	o = buf_cstr(&fx.out);
	assert_non_null(strstr(o, "X-E: e was here\r\n"));
	assert_null(strstr(o, "body line"));
	assert_int_equal(fx.out.len - (size_t)(strstr(o, want) - o),
	    strlen(want));
	/* the envelope changes, in order, for the caller */
	assert_int_equal(m->nenvelope, 3);
	assert_int_equal(m->envelope[0].op, FILTER_RCPT_ADD);
	assert_string_equal(m->envelope[0].addr, "new@example.org");
	assert_string_equal(m->envelope[0].args, "NOTIFY=NEVER");
	assert_string_equal(m->envelope[0].stage, "e");
	assert_int_equal(m->envelope[1].op, FILTER_RCPT_DELETE);
	assert_string_equal(m->envelope[1].addr, "u@EXAMPLE.org");
	assert_int_equal(m->envelope[2].op, FILTER_SENDER_CHANGE);
	assert_string_equal(m->envelope[2].addr, "");
	filters_txn_end(fx.s);
	assert_int_equal(filters_msg(fx.s)->nenvelope, 0);
	assert_false(filters_msg(fx.s)->body_replaced);

	/* a stage that fails: its changes are undone, the message passes
	 * (fail_at_data = accept) as it was */
	ed.ret = FILTER_ERROR;
	buf_free(&ed.seen);
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	m = filters_msg(fx.s);
	assert_false(m->body_replaced);
	assert_int_equal(m->nenvelope, 0);
	assert_string_equal(buf_cstr(&ed.seen), "body line\r\n");
	o = buf_cstr(&fx.out);
	assert_null(strstr(o, "X-E:"));
	assert_non_null(strstr(o, "E_ERROR=0.0"));
	assert_non_null(strstr(o, "\r\n\r\nbody line\r\n"));
	filters_txn_end(fx.s);

	/* a caller that cannot apply them: refused, nothing recorded */
	ed.ret = FILTER_CONTINUE;
	filters_session_can(fx.s, FILTER_CAN_SENDER);
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	assert_int_equal(ed.rc_body, -1);
	assert_int_equal(ed.rc_add, -1);
	assert_int_equal(ed.rc_del, -1);
	assert_int_equal(ed.rc_from, 0);
	assert_int_equal(filters_msg(fx.s)->nenvelope, 1);
	assert_non_null(strstr(buf_cstr(&fx.out), "\r\n\r\nbody line\r\n"));
	filters_txn_end(fx.s);
	filters_session_can(fx.s, FILTER_CAN_ALL);

	/* the stages saw only the header: the body would be lost */
	assert_true(filters_mail(fx.s, "Q3", "s@example.net", &fx.r) <=
	    FILTER_ACCEPT);
	(void)filters_data(fx.s, (const unsigned char *)message,
	    sizeof(message) - 1, true, &fx.r);
	assert_int_equal(ed.rc_body, -1);
	filters_txn_end(fx.s);
	teardown(NULL);
}

static void
test_body_limits(void **state)
{
	static const char hdronly[] = "Received: from x by y; now\r\n"
	    "Subject: no body";
	size_t max;
	char *big;

	(void)state;
	/* a header without its blank line (or last CRLF) gets both */
	body_test_setup("b");
	assert_int_equal(deliver(hdronly, sizeof(hdronly) - 1),
	    FILTER_CONTINUE);
	assert_int_equal(ed.rc_body, 0);
	assert_non_null(strstr(buf_cstr(&fx.out),
	    "Subject: no body\r\n\r\nb\r\n"));
	filters_txn_end(fx.s);
	/* the limit: max_scan_size here, counted after CRLF normalising */
	max = filter_body_max(filters_msg(fx.s));
	assert_int_equal(max, 64 * 1024);
	big = malloc(max + 1);
	memset(big, 'x', max + 1);
	big[max - 2] = '\r';
	big[max - 1] = '\n';
	ed.body = big;
	ed.body_len = max;			/* exactly max */
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	assert_int_equal(ed.rc_body, 0);
	assert_int_equal(fx.out.len - (size_t)(strstr(buf_cstr(&fx.out),
	    "\r\n\r\nxxx") + 4 - buf_cstr(&fx.out)), max);
	filters_txn_end(fx.s);
	ed.body_len = max + 1;			/* one over */
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	assert_int_equal(ed.rc_body, -1);
	assert_non_null(strstr(buf_cstr(&fx.out), "\r\n\r\nbody line\r\n"));
	filters_txn_end(fx.s);
	big[10] = '\n';			/* a bare LF: CRLF makes it over */
	ed.body_len = max;
	assert_int_equal(deliver(message, sizeof(message) - 1),
	    FILTER_CONTINUE);
	assert_int_equal(ed.rc_body, -1);
	filters_txn_end(fx.s);
	free(big);
	buf_free(&ed.seen);
	teardown(NULL);
}

static void
test_config_errors(void **state)
{
	FILE *fp;
	struct filter_env env;

	(void)state;
	memset(&fx, 0, sizeof(fx));
	buf_init(&fx.err, 0);
	fp = fopen("t.conf", "w");
	fprintf(fp, "filters = { stages = [\"a\", \"nope\"]; };\n");
	fclose(fp);
	assert_int_equal(config_load("t.conf", &fx.cfg, &fx.err), 0);
	memset(&env, 0, sizeof(env));
	env.cfg = fx.cfg;
	assert_int_equal(filters_new(&env, registry, ARRAY_SIZE(registry),
	    &fx.f, &fx.err), -1);
	assert_non_null(strstr(buf_cstr(&fx.err), "unknown stage \"nope\""));
	config_free(&fx.cfg);
	buf_reset(&fx.err);
	fp = fopen("t.conf", "w");
	fprintf(fp, "filters = { stages = [\"a\", \"a\"]; };\n");
	fclose(fp);
	assert_int_equal(config_load("t.conf", &fx.cfg, &fx.err), 0);
	env.cfg = fx.cfg;
	assert_int_equal(filters_new(&env, registry, ARRAY_SIZE(registry),
	    &fx.f, &fx.err), -1);
	assert_non_null(strstr(buf_cstr(&fx.err), "listed twice"));
	config_free(&fx.cfg);
	buf_reset(&fx.err);
	fp = fopen("t.conf", "w");
	fprintf(fp, "filters = { stages = [\"a\"]; fail_actions = "
	    "[\"c=accept\"]; };\n");
	fclose(fp);
	assert_int_equal(config_load("t.conf", &fx.cfg, &fx.err), 0);
	env.cfg = fx.cfg;
	assert_int_equal(filters_new(&env, registry, ARRAY_SIZE(registry),
	    &fx.f, &fx.err), -1);
	assert_non_null(strstr(buf_cstr(&fx.err), "no such stage"));
	config_free(&fx.cfg);
	buf_free(&fx.err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_and_accept),
		cmocka_unit_test(test_trusted_skips_inbound),
		cmocka_unit_test(test_failure_policy),
		cmocka_unit_test(test_thresholds),
		cmocka_unit_test(test_milter_sequence_and_rcpt),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_forged_fields),
		cmocka_unit_test(test_body_and_envelope),
		cmocka_unit_test(test_body_limits),
		cmocka_unit_test(test_config_errors),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
