/*
 * filter.h - the anti-spam pipeline: stages with milter semantics, run in
 * the order the configuration lists them (filters.stages), with a time
 * limit and a failure policy each, adding up a spam score from named
 * symbols.
 *
 * Who calls what.  The SMTP server (and `postern milter`) owns a struct
 * filter_session per connection and calls the steps below from a worker
 * thread (they block: DNS, the lookup store, a milter socket): connect,
 * helo, mail, rcpt (each recipient), data (the whole message), then
 * filters_txn_end at the end of each transaction (RSET, the 250, a
 * reject, a disconnect).  Each step runs every stage's callback for that
 * step, in order, and returns the verdict of the step:
 *
 *   FILTER_CONTINUE    nothing to say: go on (the reply is not used)
 *   FILTER_ACCEPT      a stage accepted: the later stages are skipped for
 *                      the rest of the transaction (trusted senders)
 *   FILTER_REJECT      5xx with r->code/ecode/text
 *   FILTER_TEMPFAIL    4xx with r->code/ecode/text
 *   FILTER_DISCARD     accept the message and drop it (data only)
 *   FILTER_QUARANTINE  accept and hold it (data only: the message gets
 *                      the junk flag and the quarantine header)
 *
 * A stage sees the message through struct filter_msg: the connection,
 * the envelope so far, and at the data step the message, split into
 * header fields and the body.  A stage adds to the spam score with
 * filter_symbol (a named symbol, e.g. "SPF_FAIL" 3.0, shown in the
 * X-Spam-Status header), adds authentication results with filter_ar
 * (the method clauses of Authentication-Results, RFC 8601), and may add,
 * change or delete header fields with filter_header_*; the caller applies
 * those edits to the message it stores (filters_apply).  At the data step
 * a stage may also replace the body (filter_replace_body: later stages
 * see the new one, filters_apply stores it) and change the envelope
 * (filter_rcpt_add, filter_rcpt_delete, filter_sender_change: recorded in
 * m->envelope for the caller, which applies them with its own policy)
 * when the caller says it can apply them (struct filter_conn can; the
 * milter client offers its milters only those).  The changes of a stage
 * that fails (FILTER_ERROR, over its budget) are undone: its failure
 * action applies to the message as it was before it.
 *
 * Milter semantics at the data step: a stage may implement data (the
 * whole message at once, which is what the built-in stages want) or the
 * milter callbacks header (each field, in order), eoh, body (chunks of at
 * most FILTER_BODY_CHUNK bytes) and eom; the pipeline drives whichever a
 * stage has, so an external milter maps one to one.
 *
 * After the last stage of the data step the pipeline turns the score into
 * an action with the configured thresholds (filters.reject_score: 550
 * 5.7.1; filters.junk_score: the junk flag, delivered into Junk;
 * filters.greylist_score: greylisting on doubt, done by the greylist
 * stage; filters.add_header_score: X-Spam-Flag), then calls every
 * stage's verdict callback with the final outcome (learning: reputation,
 * Bayes autolearn).
 *
 * Time limits and failures.  Each stage has a time budget per step
 * (filters.stage_timeout, or its own); a stage must bound its own waits
 * (DNS, sockets) by filter_deadline_ms(m).  A step that returns
 * FILTER_ERROR (the stage failed: its store is down, its milter hung up)
 * or that overran its budget gets the stage's failure action instead of
 * its verdict: by default a tempfail (451 4.7.1) before DATA and, at the
 * data step, "accept" with the symbol <STAGE>_ERROR (score 0) so that a
 * broken filter never loses mail; configurable per stage (fail_action =
 * "accept" | "tempfail" | "reject").  Every failure is logged.
 *
 * Per-listener enablement: an authenticated client (submission) and a
 * client in filters.trusted_networks skip the inbound checks (stages
 * whose ops say inbound_only), and loopback clients are trusted when
 * filters.trust_loopback is set.
 *
 * Ownership: the pipeline (struct filters) is built once at start-up and
 * shared read-only by all threads; stage state is the stage's and must be
 * thread-safe.  A filter_session belongs to one connection; its
 * filter_msg lives until filters_txn_end.  Strings handed in are copied.
 */
#ifndef POSTERN_FILTER_H
#define POSTERN_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/config.h"
#include "common/netaddr.h"

#define FILTER_STAGES_MAX 32
#define FILTER_SYMBOLS_MAX 64		/* more are counted, not kept */
#define FILTER_SYMBOL_NAME_MAX 48
#define FILTER_BODY_CHUNK 65536
#define FILTER_HEADERS_MAX 1000		/* fields parsed at the data step */
#define FILTER_EDITS_MAX 100

/* what the caller applies of the stages' changes (struct filter_conn can) */
#define FILTER_CAN_BODY 0x1u		/* filter_replace_body */
#define FILTER_CAN_RCPT 0x2u		/* filter_rcpt_add, _delete */
#define FILTER_CAN_SENDER 0x4u		/* filter_sender_change */
#define FILTER_CAN_ALL (FILTER_CAN_BODY | FILTER_CAN_RCPT | FILTER_CAN_SENDER)

enum filter_action {
	FILTER_CONTINUE = 0,
	FILTER_ACCEPT,
	FILTER_REJECT,
	FILTER_TEMPFAIL,
	FILTER_DISCARD,
	FILTER_QUARANTINE,
	FILTER_ERROR,		/* a stage failed: its fail_action applies */
};

enum filter_step {
	FILTER_STEP_CONNECT,
	FILTER_STEP_HELO,
	FILTER_STEP_MAIL,
	FILTER_STEP_RCPT,
	FILTER_STEP_DATA,
};

/* the reply of a REJECT or TEMPFAIL */
struct filter_reply {
	int code;		/* 4xx / 5xx */
	char ecode[16];		/* "5.7.1" */
	char text[256];
};

/* the client connection, as the SMTP server knows it */
struct filter_conn {
	struct netaddr addr;		/* the peer */
	char ip[NETADDR_STRLEN];	/* its numeric form */
	char *helo;			/* NULL before HELO/EHLO */
	char *ptr;			/* a forward-confirmed name (iprev) */
	char *auth_user;		/* NULL when not authenticated */
	const char *listener;		/* "smtp", "submission", "lmtp", ... */
	bool tls;
	bool loopback;
	bool trusted;			/* trusted network or authenticated */
	unsigned can;			/* FILTER_CAN_*: what the caller said
					   it applies (none by default) */
	/* per-stage per-connection state: see filter_conn_data_set */
	void *stage_conn[FILTER_STAGES_MAX];
};

struct filter_header {
	const char *name;		/* as in the message, NUL-terminated */
	const char *value;		/* raw: after the colon, folded as sent,
					   without the final CRLF */
};

struct filter_symbol {
	char name[FILTER_SYMBOL_NAME_MAX];
	double score;
};

enum filter_edit_kind {
	FILTER_EDIT_ADD,	/* append a field at the top (milter addheader
				   puts it at the end; ours go first, RFC 8601) */
	FILTER_EDIT_CHANGE,	/* the index-th field of that name (1-based);
				   NULL value deletes it */
};

struct filter_edit {
	enum filter_edit_kind kind;
	char *name;
	unsigned index;
	char *value;		/* NULL: delete */
};

enum filter_envelope_op {
	FILTER_RCPT_ADD,	/* a recipient more (milter SMFIR_ADDRCPT) */
	FILTER_RCPT_DELETE,	/* a recipient less (SMFIR_DELRCPT) */
	FILTER_SENDER_CHANGE,	/* a new envelope sender (SMFIR_CHGFROM) */
};

/* one envelope change, in the order the stages made them */
struct filter_envelope_edit {
	enum filter_envelope_op op;
	char *addr;		/* without angle brackets; "" = null sender */
	char *args;		/* ESMTP parameters as given, "" when none */
	const char *stage;	/* who asked (for the log) */
};

struct filter_session;

/* one transaction (and before MAIL, the connection) as the stages see it */
struct filter_msg {
	struct filter_conn *conn;
	const char *qid;		/* "" until known */
	char *sender;			/* NULL before MAIL; "" = null sender */
	char **rcpts;			/* accepted so far (and the current) */
	size_t nrcpts;

	/* the data step: the message as received, CRLF line ends */
	const unsigned char *data;
	size_t len;
	size_t body_off;		/* first byte of the body */
	struct filter_header *hdrs;
	size_t nhdrs;
	bool truncated;			/* only the first part is here */

	/* what the stages said */
	double score;
	struct filter_symbol syms[FILTER_SYMBOLS_MAX];
	size_t nsyms;
	struct buf ar;			/* "spf=pass smtp.mailfrom=..." clauses,
					   separated by ";\r\n\t" */
	struct filter_edit *edits;
	size_t nedits;
	struct filter_envelope_edit *envelope;
	size_t nenvelope;
	bool body_replaced;		/* data/len: the header as received,
					   then a stage's new body */
	bool junk;			/* deliver into Junk */
	bool discard;			/* a stage said DISCARD */
	bool accepted;			/* a stage said ACCEPT: skip the rest */
	bool spam;			/* the final verdict: over reject_score
					   or junk_score (for learning) */

	/* per-stage per-transaction state: stage i's own */
	void *stage_data[FILTER_STAGES_MAX];

	/* the pipeline's */
	uint64_t deadline_us;		/* of the running stage */
	size_t cur;			/* the running stage's index */
	struct filter_session *session;
};

/*
 * A stage's own state per transaction and per connection.  The running
 * stage reads and sets its slots with these (they index by m->cur);
 * txn_end(data) frees the transaction's at the end of every transaction,
 * conn_end(data) the connection's when the session ends.
 */
static inline void *
filter_data_get(const struct filter_msg *m)
{
	return m->stage_data[m->cur];
}

static inline void
filter_data_set(struct filter_msg *m, void *data)
{
	m->stage_data[m->cur] = data;
}

static inline void *
filter_conn_data_get(const struct filter_msg *m)
{
	return m->conn->stage_conn[m->cur];
}

static inline void
filter_conn_data_set(struct filter_msg *m, void *data)
{
	m->conn->stage_conn[m->cur] = data;
}

struct filter_stage_ops;
/*
 * filter_stage_data - the transaction data of another stage of the
 * pipeline (DMARC reads SPF's and DKIM's results); NULL when that stage
 * is not in the pipeline or has set none
 */
void *filter_stage_data(const struct filter_msg *m,
    const struct filter_stage_ops *ops);

/* ---- what stages use ---- */

/* filter_symbol - add score (may be negative) under name to the message */
void filter_symbol(struct filter_msg *m, const char *name, double score);
/* filter_ar - one Authentication-Results clause ("dkim=pass header.d=x") */
void filter_ar(struct filter_msg *m, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* filter_header_add - a new field at the top of the header */
void filter_header_add(struct filter_msg *m, const char *name,
    const char *value);
/* filter_header_change - the index-th (1-based) field called name gets
 * value; NULL deletes it */
void filter_header_change(struct filter_msg *m, const char *name,
    unsigned index, const char *value);
/*
 * filter_replace_body - at the data step, the message's body becomes the
 * len bytes at data (copied; a bare CR or LF made CRLF and a last line
 * ended with CRLF, as the message is stored), for the later stages
 * (m->data, m->len) and filters_apply.  -1, nothing changed, when the
 * caller cannot apply it (m->conn->can), when the stages saw only the
 * header (m->truncated: the body would be lost), or when the new body
 * is over filter_body_max.
 */
int filter_replace_body(struct filter_msg *m, const void *data, size_t len)
    WARN_UNUSED;
/* filter_body_max - the largest body a stage may set: the smaller of
 * filters.max_scan_size and smtp.max_message_size */
size_t filter_body_max(const struct filter_msg *m);
/*
 * Envelope changes at the data step, recorded in m->envelope (copied) for
 * the caller; addr without angle brackets, args "" or ESMTP parameters.
 * -1, nothing recorded, when the caller cannot apply them (m->conn->can)
 * or past smtp.max_recipients of that kind for the message.
 */
int filter_rcpt_add(struct filter_msg *m, const char *addr,
    const char *args) WARN_UNUSED;
int filter_rcpt_delete(struct filter_msg *m, const char *addr) WARN_UNUSED;
int filter_sender_change(struct filter_msg *m, const char *addr,
    const char *args) WARN_UNUSED;
/* filter_header_get - the first field called name (any case), or NULL */
const struct filter_header *filter_header_get(const struct filter_msg *m,
    const char *name);
/* filter_reply_set - the reply of a REJECT or TEMPFAIL */
void filter_reply_set(struct filter_reply *r, int code, const char *ecode,
    const char *fmt, ...) PRINTF_LIKE(4, 5);
/* filter_deadline_ms - what is left of the running stage's time budget
 * (at least 1) */
unsigned filter_deadline_ms(const struct filter_msg *m);
/* filter_now - the pipeline's clock (unix seconds; tests move it) */
int64_t filter_now(const struct filter_msg *m);

/* ---- stages ---- */

struct filter_env;	/* shared resources, see filters.h */

struct filter_stage_ops {
	const char *name;		/* its name in filters.stages */
	bool inbound_only;		/* skipped for trusted clients */
	/* the pipeline refuses to start without what the stage needs */
	bool needs_lookup;		/* env->lookup */
	bool needs_dns;			/* env->dns */
	/*
	 * init - state for this pipeline; -1 with err stops the start-up.
	 * NULL: the stage's state is the pipeline's const struct filter_env
	 * (cfg, lookup, dns, ...), which lives as long as the pipeline.
	 */
	int (*init)(const struct filter_env *env, void **state_r,
	    struct buf *err);
	void (*free)(void *state);
	/* the steps; NULL = nothing to do.  Return a filter_action. */
	enum filter_action (*connect)(void *state, struct filter_msg *m,
	    struct filter_reply *r);
	enum filter_action (*helo)(void *state, struct filter_msg *m,
	    struct filter_reply *r);
	enum filter_action (*mail)(void *state, struct filter_msg *m,
	    struct filter_reply *r);
	/* rcpt - m->rcpts[m->nrcpts - 1] is the recipient in question */
	enum filter_action (*rcpt)(void *state, struct filter_msg *m,
	    struct filter_reply *r);
	/* data, or the milter-style four below */
	enum filter_action (*data)(void *state, struct filter_msg *m,
	    struct filter_reply *r);
	enum filter_action (*header)(void *state, struct filter_msg *m,
	    const struct filter_header *h, struct filter_reply *r);
	enum filter_action (*eoh)(void *state, struct filter_msg *m,
	    struct filter_reply *r);
	enum filter_action (*body)(void *state, struct filter_msg *m,
	    const unsigned char *chunk, size_t len, struct filter_reply *r);
	enum filter_action (*eom)(void *state, struct filter_msg *m,
	    struct filter_reply *r);
	/*
	 * scored - after every stage's data step, with m->score complete and
	 * under reject_score (greylisting on doubt lives here)
	 */
	enum filter_action (*scored)(void *state, struct filter_msg *m,
	    struct filter_reply *r);
	/* verdict - after the data step, the final outcome (learning) */
	void (*verdict)(void *state, struct filter_msg *m,
	    enum filter_action final);
	/* txn_end - free the transaction's data (filter_data_set) */
	void (*txn_end)(void *state, struct filter_msg *m, void *data);
	/* conn_end - free the connection's data (filter_conn_data_set) */
	void (*conn_end)(void *state, struct filter_conn *c, void *data);
};

#endif
