/*
 * queue_notify_test.c - the queue's delivery status notifications, end
 * to end through a real spool and queue manager with scripted transports
 * and an injected clock: a failure report reaches the sender (through
 * the queue, from <>) and only then does the original go; never to the
 * null sender; NOTIFY=NEVER and NOTIFY=SUCCESS; RET, ENVID and ORCPT;
 * a remote reply as Remote-MTA and Diagnostic-Code; a report that cannot
 * be written keeps the original until it can; an original whose content
 * is damaged is reported without it; the delay warning, once, recorded
 * in the queue file so that a restart does not repeat it.
 */
#include "t/unit/queue_test.h"

#include "common/log.h"
#include "queue/queue_priv.h"
#include "queue/transport.h"

#define SEC 1000000ull
#define T0 (1700000000ull * SEC)

/* an answer per address; unlisted addresses are delivered */
struct answer {
	const char *addr;
	enum transport_status st;
	const char *dsn;
	const char *text;
	const char *relay;	/* NULL: the transport's name */
	unsigned flags;		/* TRANSPORT_F_* of the result */
};

/* a report that reached its recipient */
struct report {
	char rcpt[64];
	char params[64];
	struct buf content;
};

struct tt {
	struct transport t;
	const struct answer *answers;
	size_t nanswers;
	struct report reports[8];
	size_t nreports;
	size_t calls;
};

static void
tt_deliver(void *ctx, const struct transport_request *req,
    struct transport_result *res)
{
	struct tt *tt = ctx;

	tt->calls++;
	for (size_t k = 0; k < req->nrcpt; k++) {
		const char *addr = req->env->rcpts[req->rcpt[k]].addr;
		const struct answer *a = NULL;

		for (size_t i = 0; i < tt->nanswers; i++)
			if (strcmp(tt->answers[i].addr, addr) == 0)
				a = &tt->answers[i];
		if (a != NULL) {
			transport_result_set(&res[k], a->st, a->dsn, "%s",
			    a->text);
			res[k].flags = a->flags;
			if (a->relay != NULL)
				transport_result_relay(&res[k], "%s",
				    a->relay);
			continue;
		}
		if (req->env->sender[0] == '\0') {
			struct report *r = &tt->reports[tt->nreports++];
			struct buf err = BUF_INIT(0);
			unsigned char chunk[100];
			size_t n;

			ASSERT(tt->nreports <= ARRAY_SIZE(tt->reports));
			(void)snprintf(r->rcpt, sizeof(r->rcpt), "%s", addr);
			(void)snprintf(r->params, sizeof(r->params), "%s",
			    req->env->sender_params);
			buf_init(&r->content, 0);
			if (transport_content_rewind(req->content, &err) < 0)
				PANIC("rewind");
			do {
				if (transport_content_read(req->content, chunk,
				    sizeof(chunk), &n, &err) < 0)
					PANIC("read: %s", buf_cstr(&err));
				buf_add(&r->content, chunk, n);
			} while (n > 0);
			buf_free(&err);
		}
		transport_result_set(&res[k], TRANSPORT_OK, NULL, "250 ok");
	}
}

static uint64_t
fake_now(void *arg)
{
	return *(uint64_t *)arg;
}

static const char *
route(void *arg, const char *addr)
{
	(void)arg;
	return strstr(addr, "@local") != NULL ? "local" : "smtp";
}

struct fx {
	char *dir;
	struct spool *sp;
	uint64_t now;
	struct config_queue cq;
	struct qmgr_hooks hooks;
	struct qmgr *qm;
	struct tt local, smtp;	/* reports arrive through smtp */
};

static void
tt_init(struct tt *tt, const char *name, const struct answer *a, size_t n)
{
	memset(tt, 0, sizeof(*tt));
	tt->t.name = name;
	tt->t.ctx = tt;
	tt->t.deliver = tt_deliver;
	tt->answers = a;
	tt->nanswers = n;
}

static struct fx *
fx_new(const struct answer *a, size_t n)
{
	struct fx *fx = xcalloc(1, sizeof(*fx));
	const char *error;

	fx->dir = tdir_new();
	fx->sp = spool_open(fx->dir, &error);
	assert_non_null(fx->sp);
	fx->now = T0;
	fx->cq = (struct config_queue){ .dir = fx->dir, .min_backoff = 300,
		.max_backoff = 4000, .max_lifetime = 5 * 86400,
		.scan_interval = 60, .max_deliveries = 20,
		.bounce_size_limit = 50000, .dsn_hostname = "mx.test.example" };
	fx->hooks = (struct qmgr_hooks){ .route = route, .now = fake_now,
		.now_arg = &fx->now };
	tt_init(&fx->local, "local", a, n);
	tt_init(&fx->smtp, "smtp", a, n);
	return fx;
}

static void
fx_qmgr(struct fx *fx)
{
	struct buf err = BUF_INIT(0);

	fx->qm = qmgr_new(&fx->cq, &fx->hooks);
	qmgr_register_transport(fx->qm, &fx->local.t);
	qmgr_register_transport(fx->qm, &fx->smtp.t);
	assert_int_equal(qmgr_load(fx->qm, &err), 0);
	buf_free(&err);
}

static void
fx_free(struct fx **fxp)
{
	struct fx *fx = *fxp;

	qmgr_free(&fx->qm);
	spool_close(&fx->sp);
	for (size_t i = 0; i < fx->smtp.nreports; i++)
		buf_free(&fx->smtp.reports[i].content);
	tdir_rm(&fx->dir);
	free(fx);
	*fxp = NULL;
}

/* idle - tick until nothing is due now */
static uint64_t
idle(struct fx *fx)
{
	uint64_t due = 0;

	for (int i = 0; i < 20 && due <= fx->now; i++)
		due = qmgr_tick(fx->qm);
	assert_true(due > fx->now);
	return due;
}

/* put - a committed message; rcpts[i] may carry params after a space */
static void
put(struct fx *fx, const char *sender, const char *sender_params,
    const char *const *rcpts, size_t n, const char *content,
    char qid[QUEUE_ID_SIZE])
{
	struct queue_rcpt r[8];
	char *addr[8];
	struct queue_envelope env;
	struct spool_file *f;
	const char *error = NULL;

	assert_true(n <= 8);
	memset(&env, 0, sizeof(env));
	for (size_t i = 0; i < n; i++) {
		const char *sp = strchr(rcpts[i], ' ');

		addr[i] = sp != NULL ? xmemdup0(rcpts[i], (size_t)(sp -
		    rcpts[i])) : xstrdup(rcpts[i]);
		r[i].addr = addr[i];
		r[i].params = sp != NULL ? sp + 1 : "";
	}
	env.arrival_us = T0;
	env.client_ip = "192.0.2.7";
	env.client_name = "client.example.net";
	env.sender = sender;
	env.sender_params = sender_params;
	env.rcpts = r;
	env.nrcpt = n;
	f = spool_create(fx->sp, &env, &error);
	assert_non_null(f);
	memcpy(qid, spool_file_id(f), QUEUE_ID_SIZE);
	assert_int_equal(spool_append(f, content, strlen(content), &error),
	    0);
	assert_int_equal(commit_wait(f, NULL, 0), 0);
	for (size_t i = 0; i < n; i++)
		free(addr[i]);
}

static const char msg[] = "From: s@example.com\r\nSubject: test\r\n\r\n"
    "the body\r\n";

static bool
has(const struct report *r, const char *s)
{
	return strstr(buf_cstr(&r->content), s) != NULL;
}

static const struct answer fail_a[] = {
	{ "a@local", TRANSPORT_PERMFAIL, "5.1.1", "user unknown", NULL, 0 },
	{ "r@remote.example", TRANSPORT_PERMFAIL, "5.2.1",
	  "550 5.2.1 mailbox disabled", "mx.remote.example[192.0.2.1]:25",
	  0 },
	{ "later@remote.example", TRANSPORT_TEMPFAIL, "4.4.1",
	  "connect: Connection refused", NULL, 0 },
};

static void
test_failure_report(void **state)
{
	struct fx *fx = fx_new(fail_a, ARRAY_SIZE(fail_a));
	const char *rcpts[] = { "a@local", "ok@local",
		"r@remote.example ORCPT=rfc822;R+40remote.example" };
	char qid[QUEUE_ID_SIZE];
	struct report *r;

	(void)state;
	put(fx, "s@example.com", "BODY=8BITMIME ENVID=QQ+2B1", rcpts, 3, msg,
	    qid);
	fx_qmgr(fx);
	idle(fx);
	/* the original is gone, the report was delivered through the queue
	 * to the sender, from <> */
	assert_false(file_exists(fx->dir, "msg", qid));
	assert_int_equal(count_files(fx->dir, "msg"), 0);
	assert_int_equal(fx->smtp.nreports, 1);
	r = &fx->smtp.reports[0];
	assert_string_equal(r->rcpt, "s@example.com");
	assert_string_equal(r->params, "");
	assert_true(has(r, "From: Mail Delivery System "
	    "<MAILER-DAEMON@mx.test.example>\r\n"));
	assert_true(has(r, "\r\nTo: <s@example.com>\r\n"));
	assert_true(has(r, "\r\nSubject: Undelivered Mail Returned to "
	    "Sender\r\n"));
	assert_true(has(r, "Content-Type: multipart/report; "
	    "report-type=delivery-status;"));
	assert_true(has(r, "\r\nReporting-MTA: dns; mx.test.example\r\n"));
	assert_true(has(r, "\r\nOriginal-Envelope-Id: QQ+1\r\n"));
	assert_true(has(r, "\r\nReceived-From-MTA: dns; client.example.net "
	    "([192.0.2.7])\r\n"));
	assert_true(has(r, "\r\nFinal-Recipient: rfc822; a@local\r\n"
	    "Action: failed\r\nStatus: 5.1.1\r\n"
	    "Diagnostic-Code: X-Postern; user unknown\r\n"));
	assert_true(has(r, "\r\nFinal-Recipient: rfc822; r@remote.example\r\n"
	    "Original-Recipient: rfc822;R@remote.example\r\n"
	    "Action: failed\r\nStatus: 5.2.1\r\n"
	    "Remote-MTA: dns; mx.remote.example\r\n"
	    "Diagnostic-Code: smtp; 550 5.2.1 mailbox disabled\r\n"));
	/* delivered without NOTIFY=SUCCESS: not in the report */
	assert_false(has(r, "ok@local"));
	/* the whole original */
	assert_true(has(r, "Content-Type: message/rfc822\r\n\r\n"
	    "From: s@example.com\r\nSubject: test\r\n\r\nthe body\r\n"));
	fx_free(&fx);
}

static void
test_null_sender(void **state)
{
	struct fx *fx = fx_new(fail_a, ARRAY_SIZE(fail_a));
	const char *rcpts[] = { "a@local" };
	char qid[QUEUE_ID_SIZE];

	(void)state;
	put(fx, "", "", rcpts, 1, msg, qid);
	fx_qmgr(fx);
	idle(fx);
	assert_false(file_exists(fx->dir, "msg", qid));
	assert_int_equal(count_files(fx->dir, "msg"), 0);
	assert_int_equal(fx->smtp.nreports, 0);
	assert_int_equal(fx->smtp.calls, 0);
	fx_free(&fx);
}

static void
test_notify_never_and_success(void **state)
{
	struct fx *fx = fx_new(fail_a, ARRAY_SIZE(fail_a));
	const char *never[] = { "a@local NOTIFY=NEVER" };
	const char *success[] = { "ok@local NOTIFY=SUCCESS,FAILURE",
		"other@local", "far@remote.example NOTIFY=SUCCESS" };
	char qid[QUEUE_ID_SIZE], qid2[QUEUE_ID_SIZE];
	struct report *r;

	(void)state;
	put(fx, "s@example.com", "", never, 1, msg, qid);
	put(fx, "s@example.com", "RET=FULL", success, 3, msg, qid2);
	fx_qmgr(fx);
	qmgr_set_spool(fx->qm, fx->sp);	/* the server's, shared */
	idle(fx);
	assert_int_equal(count_files(fx->dir, "msg"), 0);
	/* NEVER: nothing; SUCCESS: one report for two recipients */
	assert_int_equal(fx->smtp.nreports, 1);
	r = &fx->smtp.reports[0];
	assert_true(has(r, "\r\nSubject: Successful Mail Delivery Report\r\n"));
	assert_true(has(r, "\r\nFinal-Recipient: rfc822; ok@local\r\n"
	    "Action: delivered\r\nStatus: 2.0.0\r\n"));
	assert_true(has(r, "\r\nFinal-Recipient: rfc822; far@remote.example"
	    "\r\nAction: relayed\r\n"));
	assert_false(has(r, "other@local"));
	/* a success report returns the header only, whatever RET says */
	assert_true(has(r, "Content-Type: text/rfc822-headers\r\n\r\n"
	    "From: s@example.com\r\nSubject: test\r\n\r\n--"));
	assert_false(has(r, "the body"));
	fx_free(&fx);
}

/* success left to a next hop that does DSN (TRANSPORT_F_DSN_PASSED):
 * no "relayed" from us; a remote reply flagged TRANSPORT_F_REMOTE is
 * the Diagnostic-Code whatever its text looks like */
static const struct answer passed_a[] = {
	{ "passed@remote.example", TRANSPORT_OK, "2.0.0", "250 2.0.0 queued",
	  "mx.remote.example[192.0.2.1]:25",
	  TRANSPORT_F_REMOTE | TRANSPORT_F_DSN_PASSED },
	{ "kept@remote.example", TRANSPORT_OK, "2.0.0", "250 2.0.0 queued",
	  "mx.remote.example[192.0.2.1]:25", TRANSPORT_F_REMOTE },
	{ "odd@remote.example", TRANSPORT_PERMFAIL, "5.7.1",
	  "go away", "mx.odd.example[192.0.2.2]:25", TRANSPORT_F_REMOTE },
};

static void
test_dsn_passed_on(void **state)
{
	struct fx *fx = fx_new(passed_a, ARRAY_SIZE(passed_a));
	const char *rcpts[] = { "passed@remote.example NOTIFY=SUCCESS",
		"kept@remote.example NOTIFY=SUCCESS",
		"odd@remote.example" };
	char qid[QUEUE_ID_SIZE];
	struct report *r;

	(void)state;
	put(fx, "s@example.com", "", rcpts, 3, msg, qid);
	fx_qmgr(fx);
	qmgr_set_spool(fx->qm, fx->sp);
	idle(fx);
	assert_int_equal(count_files(fx->dir, "msg"), 0);
	assert_int_equal(fx->smtp.nreports, 1);
	r = &fx->smtp.reports[0];
	assert_false(has(r, "passed@remote.example"));
	assert_true(has(r, "\r\nFinal-Recipient: rfc822; kept@remote.example"
	    "\r\nAction: relayed\r\n"));
	assert_true(has(r, "Remote-MTA: dns; mx.odd.example\r\n"
	    "Diagnostic-Code: smtp; go away\r\n"));
	fx_free(&fx);
}

static void
test_ret_hdrs_and_size_limit(void **state)
{
	struct fx *fx = fx_new(fail_a, ARRAY_SIZE(fail_a));
	const char *rcpts[] = { "a@local" };
	char qid[QUEUE_ID_SIZE];

	(void)state;
	put(fx, "s@example.com", "RET=HDRS", rcpts, 1, msg, qid);
	fx_qmgr(fx);
	idle(fx);
	qmgr_free(&fx->qm);
	fx->cq.bounce_size_limit = strlen(msg) - 1;
	put(fx, "t@example.com", "", rcpts, 1, msg, qid);
	fx_qmgr(fx);
	idle(fx);
	assert_int_equal(fx->smtp.nreports, 2);
	for (size_t i = 0; i < 2; i++) {
		struct report *r = &fx->smtp.reports[i];

		assert_true(has(r, "Content-Description: Undelivered Message "
		    "Headers\r\nContent-Type: text/rfc822-headers\r\n"));
		assert_false(has(r, "the body"));
	}
	fx_free(&fx);
}

/* a report that cannot be written keeps the original, which a restart
 * reports again */
static void
test_report_write_fails(void **state)
{
	struct fx *fx = fx_new(fail_a, ARRAY_SIZE(fail_a));
	const char *rcpts[] = { "a@local" };
	struct buf tmp = BUF_INIT(0), saved = BUF_INIT(0);
	char qid[QUEUE_ID_SIZE];

	(void)state;
	put(fx, "s@example.com", "", rcpts, 1, msg, qid);
	/* tmp/ replaced by a file: the queue manager's spool cannot open */
	buf_addf(&tmp, "%s/tmp", fx->dir);
	buf_addf(&saved, "%s/tmp.saved", fx->dir);
	assert_int_equal(rename(buf_cstr(&tmp), buf_cstr(&saved)), 0);
	write_whole(buf_cstr(&tmp), "x", 1, O_EXCL);
	fx_qmgr(fx);
	idle(fx);
	assert_true(file_exists(fx->dir, "msg", qid));
	assert_int_equal(count_files(fx->dir, "msg"), 1);
	assert_int_equal(fx->smtp.nreports, 0);
	/* repaired; the next start reports it, then the original goes */
	assert_int_equal(unlink(buf_cstr(&tmp)), 0);
	assert_int_equal(rename(buf_cstr(&saved), buf_cstr(&tmp)), 0);
	qmgr_free(&fx->qm);
	fx_qmgr(fx);
	idle(fx);
	assert_false(file_exists(fx->dir, "msg", qid));
	assert_int_equal(fx->smtp.nreports, 1);
	assert_true(has(&fx->smtp.reports[0], "Final-Recipient: rfc822; "
	    "a@local"));
	buf_free(&tmp);
	buf_free(&saved);
	fx_free(&fx);
}

/* an original whose content fails its checksum is reported without it */
static void
test_damaged_original(void **state)
{
	struct fx *fx = fx_new(fail_a, ARRAY_SIZE(fail_a));
	const char *rcpts[] = { "a@local" };
	struct buf path = BUF_INIT(0), file = BUF_INIT(0);
	char qid[QUEUE_ID_SIZE];
	unsigned char *body;

	(void)state;
	put(fx, "s@example.com", "", rcpts, 1, msg, qid);
	tpath(&path, fx->dir, "msg", qid);
	read_whole(buf_cstr(&path), &file);
	body = memmem(file.data, file.len, "the body", 8);
	assert_non_null(body);
	body[0] = 'T';
	write_whole(buf_cstr(&path), file.data, file.len, O_TRUNC);
	fx_qmgr(fx);
	idle(fx);
	assert_false(file_exists(fx->dir, "msg", qid));
	assert_int_equal(fx->smtp.nreports, 1);
	assert_true(has(&fx->smtp.reports[0], "could not be read back from "
	    "the queue"));
	assert_false(has(&fx->smtp.reports[0], "message/rfc822"));
	buf_free(&path);
	buf_free(&file);
	fx_free(&fx);
}

static const struct answer later_a[] = {
	{ "later@remote.example", TRANSPORT_TEMPFAIL, "4.4.1",
	  "connect to mx.remote.example[192.0.2.9]:25: Connection refused",
	  NULL, 0 },
	{ "quiet@remote.example", TRANSPORT_TEMPFAIL, "4.4.1", "no route",
	  NULL, 0 },
};

static void
test_delay_warning(void **state)
{
	struct fx *fx = fx_new(later_a, ARRAY_SIZE(later_a));
	const char *rcpts[] = { "later@remote.example",
		"quiet@remote.example NOTIFY=FAILURE", "ok@local" };
	char qid[QUEUE_ID_SIZE];
	struct queue_msg *m;
	struct report *r;
	struct buf err = BUF_INIT(0);
	uint64_t due;

	(void)state;
	fx->cq.delay_warning_time = 3600;
	put(fx, "s@example.com", "", rcpts, 3, msg, qid);
	fx_qmgr(fx);
	/* tries at 0, 300, 900, 2100: younger than an hour, no warning */
	for (int i = 0; i < 4; i++) {
		due = idle(fx);
		assert_int_equal(fx->smtp.nreports, 0);
		fx->now = due;
	}
	assert_int_equal(fx->now, T0 + 4500 * SEC);
	idle(fx);
	/* the try at 4500 deferred it again: one warning */
	assert_int_equal(fx->smtp.nreports, 1);
	r = &fx->smtp.reports[0];
	assert_true(has(r, "\r\nSubject: Delayed Mail (still being retried)"
	    "\r\n"));
	assert_true(has(r, "\r\nFinal-Recipient: rfc822; later@remote.example"
	    "\r\nAction: delayed\r\nStatus: 4.4.1\r\n"));
	assert_true(has(r, "\r\nWill-Retry-Until: Sun, 19 Nov 2023 22:13:20 "
	    "+0000\r\n"));
	assert_true(has(r, "Content-Type: text/rfc822-headers\r\n"));
	/* NOTIFY=FAILURE only: not warned about; delivered: not either */
	assert_false(has(r, "quiet@remote.example"));
	assert_false(has(r, "ok@local"));
	/* recorded in the file */
	assert_int_equal(queue_msg_load(fx->dir, qid, &m, &err),
	    QUEUE_LOAD_OK);
	assert_int_equal(m->delay_warned_us, T0 + 4500 * SEC);
	queue_msg_free(&m);
	/* more deferrals, and a restart: no second warning */
	fx->now += 4000 * SEC;
	idle(fx);
	qmgr_free(&fx->qm);
	fx_qmgr(fx);
	fx->now += 4000 * SEC;
	idle(fx);
	assert_int_equal(fx->smtp.nreports, 1);
	assert_true(file_exists(fx->dir, "msg", qid));
	buf_free(&err);
	fx_free(&fx);
}

/* no warning when warnings are off, or for a null sender */
static void
test_delay_warning_off(void **state)
{
	struct fx *fx = fx_new(later_a, ARRAY_SIZE(later_a));
	const char *rcpts[] = { "later@remote.example" };
	char qid[QUEUE_ID_SIZE];

	(void)state;
	put(fx, "s@example.com", "", rcpts, 1, msg, qid);
	fx_qmgr(fx);
	for (int i = 0; i < 6; i++)
		fx->now = idle(fx);
	assert_int_equal(fx->smtp.nreports, 0);
	qmgr_free(&fx->qm);
	fx->cq.delay_warning_time = 60;
	put(fx, "", "", rcpts, 1, msg, qid);
	fx_qmgr(fx);
	for (int i = 0; i < 4; i++)
		fx->now = idle(fx);
	/* only the first message's sender is warned */
	assert_int_equal(fx->smtp.nreports, 1);
	assert_true(has(&fx->smtp.reports[0], "To: <s@example.com>"));
	fx_free(&fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure_report),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_notify_never_and_success),
		cmocka_unit_test(test_dsn_passed_on),
		cmocka_unit_test(test_ret_hdrs_and_size_limit),
		cmocka_unit_test(test_report_write_fails),
		cmocka_unit_test(test_damaged_original),
		cmocka_unit_test(test_delay_warning),
		cmocka_unit_test(test_delay_warning_off),
	};

	log_open(LOG_DEST_STDERR, LOG_LVL_WARN, "mail", NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
