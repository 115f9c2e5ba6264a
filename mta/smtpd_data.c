/*
 * smtpd_data.c - DATA and BDAT content: scanning, spooling, the 250.
 *
 * Content goes through the pure scanner (smtp_data.c), which unstuffs
 * dots, ends DATA only at <CR><LF>.<CR><LF> and flags bare CR/LF, long
 * lines and oversize messages.  Bare CR or LF is handled per
 * smtp.bare_newline: "reject" (default) answers 554 5.6.0 once the
 * message has ended, "normalize" stores it as CRLF.  Either way a bare
 * newline never ends the message, so no second message can be smuggled
 * (CVE-2023-51764 class).
 *
 * Spooling runs in jobs: every SMTPD_FLUSH_AT bytes a job appends what
 * was read to the spool file (reading pauses meanwhile), and at the end a
 * job writes the rest and hands the file to the group committer.  Only
 * when the committer reports the file and its directory entry durable is
 * "250 Ok: queued as QID" sent (ARCHITECTURE.md, "Durability").  Before
 * the first byte is written or scanned, the header of an authenticated
 * or submitted message is checked and completed (smtpd_submit.c).
 *
 * Direct delivery skips a recipient that asked for a success report
 * (NOTIFY=SUCCESS, RFC 3461): the queue delivers it and reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/loop.h"
#include "common/xalloc.h"
#include "mta/mta_priv.h"
#include "queue/queue_dsn.h"

static void
add_received(struct smtpd_session *s)
{
	struct smtpd_txn *t = &s->txn;
	struct buf *b = &t->content;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	buf_addf(b, "Received: from %s (unknown [%s])\r\n",
	    s->helo != NULL ? s->helo : "unknown", s->ip);
	if (s->tls_active)
		buf_addf(b, "\t(using %s)\r\n", s->tls_info);
	buf_addf(b, "\tby %s (Postern) with %s id %s", s->cfg->server.hostname,
	    smtpd_proto(s), t->qid);
	if (t->nrcpt == 1)
		buf_addf(b, "\r\n\tfor <%s>", t->rcpts[0].addr);
	buf_addf(b, "; %s\r\n", date);
}

static void
content_start(struct smtpd_session *s, enum smtp_data_mode mode)
{
	struct smtpd_txn *t = &s->txn;

	if (t->data_started)
		return;
	smtp_data_init(&t->scan, mode,
	    s->cfg->smtp.bare_newline == BARE_NEWLINE_NORMALIZE,
	    s->cfg->smtp.max_message_size);
	buf_reset(&t->content);
	add_received(s);
	t->received_len = t->content.len;
	t->data_started = true;
	t->job_status = 0;
}

void
smtpd_data_begin(struct smtpd_session *s)
{
	content_start(s, SMTP_DATA_DOT);
	s->state = SMTPD_DATA;
}

static void
abort_file_work(void *arg)
{
	struct spool_file *f = arg;

	spool_abort(&f);
}

void
smtpd_txn_free_content(struct smtpd_session *s)
{
	struct smtpd_txn *t = &s->txn;

	/*
	 * A spool file here was never committed, so never acknowledged:
	 * remove it, on a worker since unlink is disk I/O.
	 */
	if (t->file != NULL && s->srv->shutting_down)
		spool_abort(&t->file);
	if (t->file != NULL) {
		jobs_submit(s->srv->jobs, NULL, abort_file_work, NULL, t->file);
		t->file = NULL;
	}
	buf_free(&t->content);
	t->data_started = false;
}

/* ---- jobs (worker threads; the session is paused while they run) ---- */

static int
spool_write(struct smtpd_session *s)
{
	struct smtpd_txn *t = &s->txn;
	const char *error = NULL;

	if (t->file == NULL) {
		struct queue_envelope env;
		struct queue_rcpt *rcpts = xcalloc(t->nrcpt, sizeof(*rcpts));

		memset(&env, 0, sizeof(env));
		memcpy(env.qid, t->qid, sizeof(env.qid));
		env.arrival_us = clock_wall_us();
		env.client_ip = s->ip;
		env.client_name = "unknown";
		env.helo = s->helo != NULL ? s->helo : "";
		env.protocol = smtpd_proto(s);
		env.tls_info = s->tls_active ? s->tls_info : "";
		env.auth_user = s->auth_user != NULL ? s->auth_user : "";
		env.sender = t->sender;
		env.sender_params = t->sender_params;
		for (size_t i = 0; i < t->nrcpt; i++) {
			rcpts[i].addr = t->rcpts[i].addr;
			rcpts[i].params = t->rcpts[i].params;
		}
		env.rcpts = rcpts;
		env.nrcpt = t->nrcpt;
		t->file = spool_create(s->srv->spool, &env, &error);
		free(rcpts);
		if (t->file == NULL)
			goto fail;
	}
	if (t->content.len > 0 &&
	    spool_append(t->file, t->content.data, t->content.len, &error) < 0)
		goto fail;
	buf_reset(&t->content);
	return 0;
fail:
	(void)snprintf(t->job_error, sizeof(t->job_error), "%s", error);
	t->job_status = -1;
	if (t->file != NULL)
		spool_abort(&t->file);
	buf_reset(&t->content);
	return -1;
}

static void
flush_work(void *arg)
{
	struct smtpd_session *s = arg;

	/* refused by its header: nothing of it is kept (the reply: at
	 * the end of the data) */
	if (smtpd_submit_header(s, false)) {
		buf_reset(&s->txn.content);
		return;
	}
	(void)spool_write(s);
}

static void
flush_done(void *arg)
{
	struct smtpd_session *s = arg;

	s->busy = false;
	if (s->txn.job_status < 0)
		log_error(SMTPD_SVC, "%s: spool write: %s", s->txn.qid,
		    s->txn.job_error);
	smtpd_resume(s);
}

static void
end_done(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_txn *t = &s->txn;

	s->busy = false;
	if (t->faction == FILTER_REJECT || t->faction == FILTER_TEMPFAIL) {
		const struct filter_reply *r = &t->freply;

		log_info(SMTPD_SVC, "%s: reject: %s from unknown[%s]: %d %s %s; "
		    "from=<%s>", t->qid, t->bdat ? "BDAT" : "DATA", s->ip,
		    r->code, r->ecode, r->text, t->sender);
		smtpd_error(s, r->code, r->ecode, "%s", r->text);
	} else if (t->discard) {
		log_info(SMTPD_SVC, "%s: from=<%s>, size=%llu, nrcpt=%zu, "
		    "discarded by the filters", t->qid, t->sender,
		    (unsigned long long)t->scan.size, t->nrcpt);
		smtpd_reply(s, 250, "2.0.0", "Ok: queued as %s", t->qid);
	} else if (t->job_status == 0) {
		log_info(SMTPD_SVC, "%s: from=<%s>, size=%llu, nrcpt=%zu, "
		    "proto=%s, helo=<%s>%s", t->qid, t->sender,
		    (unsigned long long)t->scan.size, t->nrcpt + t->ndirect,
		    smtpd_proto(s), s->helo != NULL ? s->helo : "",
		    t->ndirect == 0 ? "" : t->nrcpt == 0 ?
		    ", delivered directly" : ", partly delivered directly");
		smtpd_reply(s, 250, "2.0.0", "Ok: queued as %s", t->qid);
		if (s->srv->on_queued != NULL && t->nrcpt > 0)
			s->srv->on_queued(s->srv->queued_arg, t->qid);
	} else {
		log_error(SMTPD_SVC, "%s: queue file write error: %s", t->qid,
		    t->job_error);
		smtpd_error(s, 451, "4.3.0", "Error: queue file write error");
	}
	smtpd_txn_reset(s);
	smtpd_resume(s);
}

static void
committed(void *arg, int status, const char *error)
{
	struct smtpd_session *s = arg;

	if (status != 0) {
		s->txn.job_status = -1;
		(void)snprintf(s->txn.job_error, sizeof(s->txn.job_error),
		    "%s", error != NULL ? error : "commit failed");
	}
	loop_post(s->loop, end_done, s);
}

/*
 * filter_data - the pipeline's data step, on a worker, for a message in
 * memory: true when the message is done with (refused, deferred,
 * discarded: t->faction/t->discard say which); otherwise t->content is
 * the message with the pipeline's header fields, and the body a stage
 * replaced (CRLF line ends, as the scanner stores it: unstuffed, and
 * stuffed again on the way out like any content), and the transaction
 * has the stages' envelope changes (smtpd_envelope.c).  A message
 * flushed to the spool while it arrived (over filters.max_scan_size) is
 * passed on unscanned.
 */
static bool
filter_data(struct smtpd_session *s)
{
	struct smtpd_txn *t = &s->txn;
	struct buf out = BUF_INIT(0);

	t->faction = FILTER_CONTINUE;
	if (s->fs == NULL || t->job_status < 0)
		return false;
	if (t->file != NULL) {
		log_info(SMTPD_SVC, "%s: not scanned: bigger than "
		    "filters.max_scan_size", t->qid);
		return false;
	}
	t->faction = filters_data(s->fs, t->content.data, t->content.len,
	    false, &t->freply);
	if (t->faction == FILTER_REJECT || t->faction == FILTER_TEMPFAIL)
		return true;
	if (t->faction == FILTER_DISCARD) {
		t->discard = true;
		return true;
	}
	filters_apply(s->fs, t->content.data, t->content.len,
	    t->received_len, &out);
	buf_free(&t->content);
	t->content = out;
	/* the size we log is the message's, not the client's, from now on */
	if (filters_msg(s->fs)->body_replaced)
		t->scan.size = t->content.len - t->received_len;
	return smtpd_envelope_apply(s);
}

static void
end_work(void *arg)
{
	struct smtpd_session *s = arg;
	struct spool_file *f;

	if (s->txn.job_status == 0 && smtpd_submit_header(s, true)) {
		if (s->txn.file != NULL)
			spool_abort(&s->txn.file);
		loop_post(s->loop, end_done, s);
		return;
	}
	if (filter_data(s)) {
		loop_post(s->loop, end_done, s);
		return;
	}
	if (s->txn.job_status < 0 || spool_write(s) < 0) {
		loop_post(s->loop, end_done, s);
		return;
	}
	f = s->txn.file;
	s->txn.file = NULL;	/* the committer owns it now */
	spool_commit(f, committed, s);
}

static void
abort_work(void *arg)
{
	struct smtpd_session *s = arg;

	if (s->txn.file != NULL)
		spool_abort(&s->txn.file);
}

static void
abort_done(void *arg)
{
	struct smtpd_session *s = arg;

	s->busy = false;
	smtpd_txn_reset(s);
	smtpd_resume(s);
}

void
smtpd_run_job_on(struct smtpd_session *s, struct jobs *pool, job_fn *work,
    job_done_fn *done)
{
	/*
	 * Reading goes on (bounded by SMTPD_IN_HIGH) but nothing is
	 * processed while busy; not toggling EV_READ saves two epoll_ctl
	 * calls per job.
	 */
	s->busy = true;
	jobs_submit(pool, s->loop, work, done, s);
}

void
smtpd_run_job(struct smtpd_session *s, job_fn *work, job_done_fn *done)
{
	smtpd_run_job_on(s, s->srv->jobs, work, done);
}

/* ---- LMTP: deliver now, one reply per recipient ---- */

static void
lmtp_work(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_txn *t = &s->txn;

	bool done;

	t->lmtp_replies = xcalloc(t->nrcpt, sizeof(*t->lmtp_replies));
	done = filter_data(s);
	for (size_t i = 0; i < t->nrcpt; i++) {
		struct smtpd_lmtp_rcpt *r = &t->lmtp_replies[i];

		r->addr = t->rcpts[i].addr;
		if (done && t->discard) {	/* one reply per recipient */
			r->code = 250;
			(void)snprintf(r->ecode, sizeof(r->ecode), "2.0.0");
			(void)snprintf(r->text, sizeof(r->text), "Ok: "
			    "discarded");
		} else if (done) {
			r->code = t->freply.code;
			(void)snprintf(r->ecode, sizeof(r->ecode), "%s",
			    t->freply.ecode);
			(void)snprintf(r->text, sizeof(r->text), "%.*s",
			    (int)sizeof(r->text) - 1, t->freply.text);
		} else {
			r->code = 451;
			(void)snprintf(r->ecode, sizeof(r->ecode), "4.3.0");
			(void)snprintf(r->text, sizeof(r->text), "delivery "
			    "not attempted");
		}
	}
	if (done)
		return;
	s->srv->lmtp(s->srv->lmtp_arg, t->qid, t->sender, t->sender_params,
	    t->content.data, t->content.len, t->lmtp_replies, t->nrcpt);
}

static void
lmtp_done(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_txn *t = &s->txn;

	s->busy = false;
	log_info(SMTPD_SVC, "%s: from=<%s>, size=%llu, nrcpt=%zu, proto=%s, "
	    "helo=<%s>", t->qid, t->sender, (unsigned long long)t->scan.size,
	    t->nrcpt, smtpd_proto(s), s->helo != NULL ? s->helo : "");
	for (size_t i = 0; i < t->nrcpt; i++) {
		const struct smtpd_lmtp_rcpt *r = &t->lmtp_replies[i];
		int code = r->code >= 200 && r->code <= 599 ? r->code : 451;

		log_info(SMTPD_SVC, "%s: to=<%s>, relay=lmtp, dsn=%s, "
		    "status=%s (%s)", t->qid, r->addr, r->ecode,
		    code < 300 ? "sent" : code < 500 ? "deferred" : "bounced",
		    r->text);
		smtpd_reply(s, code, r->ecode, "<%s> %s", r->addr, r->text);
	}
	free(t->lmtp_replies);
	t->lmtp_replies = NULL;
	smtpd_txn_reset(s);
	smtpd_resume(s);
}

/* ---- direct delivery: into the mailboxes, the rest into the queue ---- */

/* wants_success - the recipient asked for a success DSN */
static bool
wants_success(const struct smtpd_txn *t, const char *params)
{
	struct queue_dsn_params dp;
	const char *why;

	return queue_dsn_params_parse(params, strlen(params),
	    QUEUE_DSN_PARSE_RCPT | (t->smtputf8 ? QUEUE_DSN_PARSE_UTF8 : 0),
	    &dp, &why) == PARSE_OK && (dp.notify & QUEUE_DSN_NOTIFY_SUCCESS);
}

static void
direct_work(void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_txn *t = &s->txn;
	struct smtpd_lmtp_rcpt *r;
	size_t keep = 0, m = 0, *idx;
	bool *sent;
	struct spool_file *f;

	if (smtpd_submit_header(s, true) || filter_data(s)) {
		loop_post(s->loop, end_done, s);
		return;
	}
	/* after the filters: they may have changed the recipients */
	r = xcalloc(t->nrcpt, sizeof(*r));
	idx = xcalloc(t->nrcpt, sizeof(*idx));
	sent = xcalloc(t->nrcpt, sizeof(*sent));
	for (size_t i = 0; i < t->nrcpt; i++) {
		if (wants_success(t, t->rcpts[i].params))
			continue;	/* the queue reports the delivery */
		r[m].addr = t->rcpts[i].addr;
		r[m].code = 451;
		idx[m++] = i;
	}
	if (m > 0)
		s->srv->direct(s->srv->direct_arg, t->qid, t->sender,
		    t->sender_params, t->content.data, t->content.len, r,
		    m);
	for (size_t j = 0; j < m; j++)
		sent[idx[j]] = r[j].code >= 200 && r[j].code < 300;
	/* what was delivered leaves the transaction; the rest is queued */
	for (size_t i = 0; i < t->nrcpt; i++) {
		if (sent[i]) {
			free(t->rcpts[i].addr);
			free(t->rcpts[i].params);
			t->ndirect++;
			continue;
		}
		t->rcpts[keep++] = t->rcpts[i];
	}
	t->nrcpt = keep;
	free(r);
	free(idx);
	free(sent);
	if (keep == 0) {		/* all in their mailboxes: done */
		buf_reset(&t->content);
		t->job_status = 0;
		loop_post(s->loop, end_done, s);
		return;
	}
	if (spool_write(s) < 0) {
		loop_post(s->loop, end_done, s);
		return;
	}
	f = t->file;
	t->file = NULL;		/* the committer owns it now */
	spool_commit(f, committed, s);
}

/* data_end - the message is complete: refuse it, or spool and commit */
static void
data_end(struct smtpd_session *s)
{
	struct smtpd_txn *t = &s->txn;
	const struct smtp_data *d = &t->scan;
	int code = 0;
	const char *ecode = NULL, *text = NULL;

	s->state = SMTPD_CMD;
	if (t->bdat_fail_code != 0) {
		code = t->bdat_fail_code;
		ecode = code == 552 ? "5.3.4" : "5.5.1";
		text = t->bdat_fail_text;
	} else if (d->too_big) {
		code = 552;
		ecode = "5.3.4";
		text = "Error: message size exceeds fixed limit";
	} else if (d->bare_newline &&
	    s->cfg->smtp.bare_newline == BARE_NEWLINE_REJECT) {
		code = 554;
		ecode = "5.6.0";
		text = "Error: bare <CR> or <LF> in message; lines must end "
		    "in <CR><LF> (RFC 5321 2.3.8)";
	} else if (d->line_too_long) {
		code = 554;
		ecode = "5.6.0";
		text = "Error: message line longer than 998 octets "
		    "(RFC 5321 4.5.3.1.6)";
	}
	if (code != 0) {
		log_info(SMTPD_SVC, "%s: reject: %s from unknown[%s]: %d %s %s; "
		    "from=<%s>", t->qid, t->bdat ? "BDAT" : "DATA", s->ip, code,
		    ecode, text, t->sender != NULL ? t->sender : "");
		/* LMTP: one reply per recipient, whatever the outcome */
		for (size_t i = 1; s->srv->lmtp != NULL && i < t->nrcpt &&
		    t->active; i++)
			smtpd_reply(s, code, ecode, "%s", text);
		smtpd_error(s, code, ecode, "%s", text);
		if (t->file != NULL && !s->closing) {
			smtpd_run_job(s, abort_work, abort_done);
			/* the reset happens after the unlink, in resume */
		}
		if (!s->busy)
			smtpd_txn_reset(s);
		else
			t->active = false;
		return;
	}
	if (s->srv->lmtp != NULL) {
		smtpd_run_job(s, lmtp_work, lmtp_done);
		return;
	}
	if (s->srv->direct != NULL && t->file == NULL && t->job_status == 0) {
		smtpd_run_job(s, direct_work, NULL);
		return;		/* direct_work arranges end_done */
	}
	smtpd_run_job(s, end_work, NULL);
	/* end_work arranges end_done on this loop */
}

static void bdat_chunk_end(struct smtpd_session *s);

void
smtpd_bdat_begin(struct smtpd_session *s, uint64_t size, bool last)
{
	struct smtpd_txn *t = &s->txn;

	s->state = SMTPD_BDAT;
	t->bdat_left = size;
	t->bdat_last = last;
	if (t->bdat_fail_code != 0)
		return;	/* an earlier chunk failed: discard and repeat */
	if (!t->active) {
		t->bdat_fail_code = 503;
		t->bdat_fail_text = "Error: need MAIL command";
	} else if (t->nrcpt == 0) {
		t->bdat_fail_code = 554;
		t->bdat_fail_text = "Error: no valid recipients";
	} else if (t->data_started && !t->bdat) {
		t->bdat_fail_code = 503;
		t->bdat_fail_text = "Error: BDAT after DATA";
	} else {
		t->bdat = true;
		content_start(s, SMTP_DATA_RAW);
	}
	if (size == 0)		/* "BDAT 0 LAST": no octets to wait for */
		bdat_chunk_end(s);
}

/* bdat_chunk_end - the chunk's bytes are all in */
static void
bdat_chunk_end(struct smtpd_session *s)
{
	struct smtpd_txn *t = &s->txn;

	if (t->bdat_last) {
		if (!t->active) {	/* no transaction to end */
			s->state = SMTPD_CMD;
			smtpd_error(s, t->bdat_fail_code, "5.5.1", "%s",
			    t->bdat_fail_text);
			smtpd_txn_reset(s);
			return;
		}
		if (t->data_started && t->bdat_fail_code == 0 &&
		    smtp_data_finish(&t->scan, &t->content) < 0)
			PANIC("smtp_data_finish on an unlimited buffer");
		data_end(s);
		return;
	}
	s->state = SMTPD_CMD;
	if (!t->active) {	/* nothing to carry over to the next chunk */
		smtpd_error(s, t->bdat_fail_code, "5.5.1", "%s",
		    t->bdat_fail_text);
		t->bdat_fail_code = 0;
		t->bdat_fail_text = NULL;
		return;
	}
	if (t->bdat_fail_code == 0 && t->scan.too_big) {
		t->bdat_fail_code = 552;
		t->bdat_fail_text = "Error: message size exceeds fixed limit";
	}
	if (t->bdat_fail_code != 0) {
		smtpd_error(s, t->bdat_fail_code,
		    t->bdat_fail_code == 552 ? "5.3.4" : "5.5.1", "%s",
		    t->bdat_fail_text);
		return;
	}
	smtpd_reply(s, 250, "2.0.0", "Ok: %llu octets received",
	    (unsigned long long)t->scan.size);
}

/*
 * flush_at - content held in memory before it goes to the spool: up to
 * filters.max_scan_size for a session the data step scans, else the
 * usual SMTPD_FLUSH_AT
 */
static size_t
flush_at(const struct smtpd_session *s)
{
	return s->fs != NULL ? s->srv->flush_at : SMTPD_FLUSH_AT;
}

size_t
smtpd_data_input(struct smtpd_session *s, const unsigned char *in,
    size_t len)
{
	struct smtpd_txn *t = &s->txn;
	size_t used;

	if (s->state == SMTPD_DATA) {
		enum parse_res r = smtp_data_feed(&t->scan, in, len,
		    &t->content, &used);

		/* write failed: 451 at the end; header refused: its reply */
		if (t->job_status < 0 || t->hdr_refused)
			buf_reset(&t->content);
		if (r == PARSE_OK)
			data_end(s);
		else if (t->content.len >= flush_at(s) && s->srv->lmtp == NULL)
			smtpd_run_job(s, flush_work, flush_done);
		return used;
	}

	/* BDAT: exactly bdat_left raw octets */
	used = len < t->bdat_left ? len : (size_t)t->bdat_left;
	if (t->bdat_fail_code == 0 && t->data_started) {
		size_t u;

		(void)smtp_data_feed(&t->scan, in, used, &t->content, &u);
		if (t->job_status < 0 || t->hdr_refused)
			buf_reset(&t->content);
	}
	t->bdat_left -= used;
	if (t->bdat_left == 0)
		bdat_chunk_end(s);
	else if (t->content.len >= flush_at(s) && s->srv->lmtp == NULL)
		smtpd_run_job(s, flush_work, flush_done);
	return used;
}
