/*
 * mta_priv.h - what the inbound SMTP session files share inside mta/.
 *
 * A session belongs to one I/O loop and is touched only by that loop's
 * thread, except while a job is in flight (busy): then the worker owns the
 * transaction's spool state and the loop does not read input.  A session
 * whose client vanished during a job is freed when the job completes.
 */
#ifndef POSTERN_MTA_PRIV_H
#define POSTERN_MTA_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>

#include "common/auth_throttle.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/ip_count.h"
#include "common/loop.h"
#include "common/netaddr.h"
#include "directory/directory.h"
#include "filters/filters.h"
#include "mta/smtp_data.h"
#include "mta/smtp_parse.h"
#include "mta/smtp_sasl.h"
#include "mta/smtpd.h"
#include "queue/queue.h"

#define SMTPD_SVC "smtpd"
/* Content is written to the spool in chunks of about this size. */
#define SMTPD_FLUSH_AT (256 * 1024)
/* Stop reading pipelined commands while this much output is unsent. */
#define SMTPD_OUT_HIGH (64 * 1024)
/* A closing TLS session waits this many 20 ms ticks for its socket. */
#define SMTPD_CLOSE_TICKS 500
/* Bytes the loop may buffer from a client before it stops reading. */
#define SMTPD_IN_HIGH (256 * 1024)


struct smtpd {
	const struct config *cfg;
	struct jobs *jobs;
	SSL_CTX *tls;
	struct spool *spool;
	smtpd_queued_fn *on_queued;
	void *queued_arg;
	smtpd_rcpt_fn *rcpt_check;
	void *rcpt_arg;
	smtpd_lmtp_fn *lmtp;		/* non-NULL: an LMTP server */
	void *lmtp_arg;
	smtpd_lmtp_fn *direct;		/* SMTP: deliver before queueing */
	void *direct_arg;
	struct filters *filters;	/* the anti-spam pipeline, or NULL */
	const char *listener;		/* its name for the stages */
	size_t flush_at;		/* content kept in memory up to this */
	bool starttls;			/* offer STARTTLS (with tls) */
	bool submission;		/* AUTH before MAIL, RFC 6409 fixes */
	bool implicit_tls;		/* TLS from the first byte (465) */
	struct directory *dir;		/* non-NULL: AUTH offered */
	struct auth_throttle *throttle;	/* failed-AUTH accounting */
	struct jobs *auth_jobs;		/* password checks run here */
	struct netaddr_cidr *relay_nets;	/* smtp.relay_networks */
	size_t nrelay_nets;

	pthread_mutex_t mu;	/* guards the counters and list below */
	unsigned nsessions;
	struct smtpd_session *sessions;	/* every open session */
	bool shutting_down;	/* loops and jobs stopped: free inline */
	struct ip_count_table ips;	/* connections per address */
};

enum smtpd_state {
	SMTPD_CMD,	/* reading command lines */
	SMTPD_SKIP,	/* discarding the rest of an over-long line */
	SMTPD_DATA,	/* reading DATA content up to CRLF.CRLF */
	SMTPD_BDAT,	/* reading a BDAT chunk */
	SMTPD_AUTH,	/* reading a SASL response line (after a 334) */
};

/* where a SASL exchange stands */
enum smtpd_sasl_step {
	SMTPD_SASL_NONE,
	SMTPD_SASL_PLAIN,	/* 334 sent, the PLAIN message next */
	SMTPD_SASL_LOGIN_USER,	/* 334 Username: */
	SMTPD_SASL_LOGIN_PASS,	/* 334 Password: */
};

/* one AUTH command's state; the password is wiped as soon as it is used */
struct smtpd_sasl {
	enum smtpd_sasl_step step;
	enum smtp_sasl_mech mech;
	struct buf user;	/* authcid as sent */
	struct buf key;		/* ... lowercased: the throttle's name */
	struct buf pass;
	/* the job's answer */
	int result;		/* 1 ok, 0 refused, -1 error */
	uint64_t check_us;	/* what the check took (auth_throttle) */
	uint32_t id;
	char *account;		/* the account's name, on success */
	char error[256];
	/* a failure's reply held back (auth_throttle.h) */
	struct event *timer;
	bool blocked;		/* ... then 421 and close */
};

struct smtpd_rcpt {
	char *addr;
	char *params;	/* ESMTP parameters as received, "" when none */
};

/* A mail transaction: MAIL to the end of DATA/BDAT LAST, or RSET. */
struct smtpd_txn {
	bool active;			/* MAIL accepted */
	char qid[QUEUE_ID_SIZE];
	char *sender;
	char *sender_params;
	bool smtputf8;
	bool body_8bitmime;
	uint64_t size_hint;		/* MAIL FROM SIZE=, 0 = none */
	struct smtpd_rcpt pending;	/* RCPT being checked by a job */
	enum smtpd_verdict verdict;	/* ... and the job's answer */
	struct smtpd_rcpt *rcpts;
	size_t nrcpt, rcpt_cap;

	/* content */
	bool bdat;			/* BDAT used: DATA now refused */
	bool data_started;		/* scanner initialised */
	bool hdr_done;			/* smtpd_submit_header ran */
	bool hdr_refused;		/* ... and refused the message */
	int owned;			/* the MAIL job: sender owned 1, not
					 * 0, lookup failed -1 */
	uint64_t bdat_left;		/* bytes of the current chunk to read */
	bool bdat_last;
	int bdat_fail_code;		/* nonzero: reply for the rest */
	const char *bdat_fail_text;
	struct smtp_data scan;
	struct buf content;		/* not yet in the spool file */
	struct spool_file *file;	/* created at the first flush */

	size_t received_len;		/* our Received field, first */
	/* the pipeline's answer at RCPT and at the end of the data */
	enum filter_action faction;
	struct filter_reply freply;
	bool discard;			/* accepted, then dropped */

	/* job results */
	int job_status;
	char job_error[256];
	struct smtpd_lmtp_rcpt *lmtp_replies;	/* LMTP: one per rcpt */
	size_t ndirect;			/* rcpts delivered directly */
};

struct smtpd_session {
	struct smtpd_session *prev, *next;	/* srv->sessions, under srv->mu */
	struct smtpd *srv;
	const struct config *cfg;
	struct loop *loop;
	struct bufferevent *bev;	/* the TLS filter once STARTTLS is done */
	struct event *close_timer;	/* waits for TLS output to drain */
	unsigned close_ticks;		/* ... for at most SMTPD_CLOSE_TICKS */
	char ip[NETADDR_STRLEN];
	unsigned port;
	bool loopback;
	bool relay_client;	/* in smtp.relay_networks: relays (SMTP) */
	uint64_t started_us;

	enum smtpd_state state;
	unsigned timeout_secs;	/* what the bufferevent has now */
	char *helo;
	bool esmtp;
	bool tls_active;
	char tls_info[160];
	bool busy;		/* a job is in flight */
	bool closing;		/* close once output is flushed */
	bool dead;		/* client gone; free when the job is done */
	unsigned nerrors;
	char *auth_user;	/* the authenticated account, or NULL */
	uint32_t auth_id;
	const char *auth_mech;	/* "PLAIN", "LOGIN" */
	struct smtpd_sasl sasl;
	struct smtpd_txn txn;
	struct filter_session *fs;	/* with srv->filters */
	enum filter_action faction;	/* connect, HELO, MAIL: the answer */
	struct filter_reply freply;

	/* per-command counters for the disconnect line */
	unsigned n_ehlo, n_helo, n_mail, n_rcpt, n_data, n_bdat, n_rset,
	    n_quit, n_starttls, n_noop, n_vrfy, n_help, n_unknown, n_cmds,
	    n_auth;
};

/* smtpd.c */
void smtpd_reply(struct smtpd_session *s, int code, const char *ecode,
    const char *fmt, ...) PRINTF_LIKE(4, 5);
/* smtpd_error - a 4xx/5xx reply that counts toward max_errors */
void smtpd_error(struct smtpd_session *s, int code, const char *ecode,
    const char *fmt, ...) PRINTF_LIKE(4, 5);
void smtpd_close(struct smtpd_session *s);
void smtpd_resume(struct smtpd_session *s);
void smtpd_starttls(struct smtpd_session *s);
const char *smtpd_proto(const struct smtpd_session *s);

/* smtpd_cmd.c */
void smtpd_command(struct smtpd_session *s, const char *line, size_t len);
void smtpd_txn_reset(struct smtpd_session *s);
/* smtpd_run_job - work on a worker, then done on the session's loop; the
 * session processes no input meanwhile (busy) */
void smtpd_run_job(struct smtpd_session *s, job_fn *work,
    job_done_fn *done);
/* smtpd_run_job_on - the same on another pool (password checks) */
void smtpd_run_job_on(struct smtpd_session *s, struct jobs *pool,
    job_fn *work, job_done_fn *done);

/* smtpd_data.c */
void smtpd_data_begin(struct smtpd_session *s);
/* smtpd_bdat_begin - after a BDAT command; size/last from the parser */
void smtpd_bdat_begin(struct smtpd_session *s, uint64_t size, bool last);
/* smtpd_data_input - consume content from in; returns bytes used */
size_t smtpd_data_input(struct smtpd_session *s, const unsigned char *in,
    size_t len);
void smtpd_txn_free_content(struct smtpd_session *s);

/* smtpd_auth.c */
/* smtpd_auth_offered - whether AUTH may be used now (EHLO shows it) */
bool smtpd_auth_offered(const struct smtpd_session *s);
void smtpd_auth_command(struct smtpd_session *s, const struct smtp_cmd *cmd);
/* smtpd_auth_response - a line read in SMTPD_AUTH (CRLF removed) */
void smtpd_auth_response(struct smtpd_session *s, const char *line,
    size_t len);
/* smtpd_auth_line_too_long - a response line over SMTP_SASL_LINE_MAX */
void smtpd_auth_line_too_long(struct smtpd_session *s);
/* smtpd_auth_free - the session's SASL state and timer; wipes secrets */
void smtpd_auth_free(struct smtpd_session *s);
/*
 * smtpd_auth_owns - on a worker: may the authenticated account use addr
 * (MAIL FROM, From:)?  1 yes, 0 no, -1 error with err.  The account's own
 * addresses and aliases (dir_owns), and auth.sender_wildcards.
 */
int smtpd_auth_owns(struct smtpd_session *s, const char *addr,
    struct buf *err);

/* smtpd_submit.c */
/*
 * smtpd_submit_header - on a worker, once per message, before its first
 * byte goes to the spool or the pipeline: an authenticated session's
 * From: addresses must be its own (else t->faction REJECT with
 * t->freply 553 5.7.1), and on submission listeners missing Date:,
 * Message-ID: (and From:) are added (RFC 6409 8).  at_end: the whole
 * message is in t->content.  True when the message is refused.
 */
bool smtpd_submit_header(struct smtpd_session *s, bool at_end);

/* smtpd_envelope.c */
/*
 * smtpd_envelope_apply - the pipeline's envelope changes (filters_msg()->
 * envelope) on the transaction, on the worker after filters_data; true
 * when the message is done with: t->faction TEMPFAIL with t->freply (a
 * recipient cannot be checked now), or t->discard (no recipient left)
 */
bool smtpd_envelope_apply(struct smtpd_session *s);

#endif
