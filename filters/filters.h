/*
 * filters.h - the pipeline as its callers see it: built once from the
 * configuration (filters.stages, in order), then one filter_session per
 * SMTP connection.  filter.h is the stage side and explains the verdicts,
 * time limits and failure policy.
 *
 * Every step blocks (stages do DNS, lookup-store and socket I/O): call
 * them from worker threads only.  A session is used by one thread at a
 * time (its connection's job).
 */
#ifndef POSTERN_FILTERS_H
#define POSTERN_FILTERS_H

#include "filters/filter.h"

struct lookup;
struct dns;

/* the field that tells the delivery agent to file into Junk */
#define FILTERS_JUNK_FIELD "X-Postern-Spam"

/* what stages may use; everything outlives the pipeline */
struct filter_env {
	const struct config *cfg;
	struct lookup *lookup;		/* the lookup store (state) */
	struct dns *dns;		/* the resolver; NULL = no DNS stages */
	/* the clock of the stages (unix seconds); NULL = time(NULL) */
	int64_t (*now)(void *arg);
	void *now_arg;
	/*
	 * text - the message's readable text for content classifiers:
	 * decoded, converted to UTF-8, HTML stripped (URLs kept); -1 when it
	 * cannot be had.  Supplied by the caller (the MIME code lives in
	 * store/, which filters/ does not include); NULL = none.
	 */
	int (*text)(void *arg, const unsigned char *msg, size_t len,
	    struct buf *out);
	void *text_arg;
};

struct filters;
struct filter_session;

/*
 * filters_new - the pipeline of env->cfg->filters.stages, looked up by
 * name in registry (n entries); each stage's init runs here.  -1 with err
 * (an unknown stage, a stage whose init failed).  An empty stage list
 * gives a pipeline that runs nothing but would still add the header
 * fields; `postern serve` attaches no pipeline then, so that messages pass
 * untouched.
 */
int filters_new(const struct filter_env *env,
    const struct filter_stage_ops *const *registry, size_t n,
    struct filters **f_r, struct buf *err) WARN_UNUSED;
void filters_free(struct filters **f);
/* filters_stage_count - stages configured (0: nothing to run) */
size_t filters_stage_count(const struct filters *f);
/*
 * filters_wants - whether a stage has something to do at step (the data
 * step always runs: it adds the header fields).  A step no stage wants
 * does no I/O and may be called on any thread.
 */
bool filters_wants(const struct filters *f, enum filter_step step);
/* filters_max_scan - messages up to this size go through the data step */
uint64_t filters_max_scan(const struct filters *f);

/*
 * filters_session_new - for a connection from peer on listener ("smtp",
 * "submission", "lmtp", "milter").  The client is trusted (inbound-only
 * stages skipped) when it is in filters.trusted_networks, or loopback
 * with filters.trust_loopback.
 */
struct filter_session *filters_session_new(struct filters *f,
    const struct sockaddr *peer, socklen_t peerlen, const char *listener);
void filters_session_free(struct filter_session **s);
/*
 * filters_session_has_work - false when no stage will ever run for this
 * session as it stands: a trusted client and only inbound stages.  The
 * caller may then drop the session and treat the connection as
 * unfiltered: no jobs, no holding the message for the data step, no
 * header fields added (a trusted client's mail is not scanned, so it
 * gets no verdict to record either).
 */
bool filters_session_has_work(const struct filter_session *s);
void filters_session_tls(struct filter_session *s, bool on);
/* filters_session_auth - an authenticated client is trusted */
void filters_session_auth(struct filter_session *s, const char *user);
/*
 * filters_session_can - the changes this caller applies (FILTER_CAN_*,
 * default none: a caller that does not apply envelope changes must not
 * let a milter believe it made one); before filters_connect, since
 * milters are offered only those when their connection opens
 */
void filters_session_can(struct filter_session *s, unsigned can);
/* filters_session_conn - the connection as stages see it */
struct filter_conn *filters_session_conn(struct filter_session *s);

/* the steps: see filter.h for the verdicts; r is filled for 4xx/5xx */
enum filter_action filters_connect(struct filter_session *s,
    struct filter_reply *r);
enum filter_action filters_helo(struct filter_session *s, const char *helo,
    struct filter_reply *r);
enum filter_action filters_mail(struct filter_session *s, const char *qid,
    const char *sender, struct filter_reply *r);
/* filters_rcpt - a recipient refused here is not kept in the envelope */
enum filter_action filters_rcpt(struct filter_session *s, const char *rcpt,
    struct filter_reply *r);
/*
 * filters_data - the message (as it will be stored, CRLF line ends, our
 * Received field first); truncated when only its first part is given
 * (bigger than filters_max_scan: the stages see the header only).  After
 * it, filters_apply gives the message to store, filters_junk whether it
 * goes to Junk, and filters_msg(s)->envelope the envelope changes the
 * caller is to apply in order (filter.h; only those it said it can).
 * Never FILTER_ERROR: failures are resolved by policy.
 */
enum filter_action filters_data(struct filter_session *s,
    const unsigned char *msg, size_t len, bool truncated,
    struct filter_reply *r);
/*
 * filters_apply - msg with the pipeline's header fields (the stages'
 * additions, Authentication-Results, X-Spam-Status, X-Spam-Flag) inserted
 * at offset at (after our Received field) and the stages' changes and
 * deletions applied, appended to out; when a stage replaced the body
 * (filters_msg(s)->body_replaced), with that body (CRLF line ends)
 * instead of msg's.  Only after filters_data, with the same msg.
 */
void filters_apply(struct filter_session *s, const unsigned char *msg,
    size_t len, size_t at, struct buf *out);
/*
 * filters_is_ours - a field of the message that filters_apply would drop
 * as a forgery of ours (Authentication-Results with our authserv-id,
 * X-Spam-Status, X-Spam-Flag, the junk mark)
 */
bool filters_is_ours(const struct filter_session *s, const char *name,
    const char *value);
/* filters_headers - only the fields filters_apply would insert */
void filters_headers(struct filter_session *s, struct buf *out);
bool filters_junk(const struct filter_session *s);
/* filters_msg - the transaction's message (tests, the milter server) */
struct filter_msg *filters_msg(struct filter_session *s);
/*
 * filters_stage_data - the slot of m->stage_data that belongs to the stage
 * whose ops are ops (compared by address), or NULL when that stage is not
 * in this pipeline.  A stage reads and sets its per-transaction state
 * through it (filter.h does not tell a stage its index), and one stage may
 * read another's published state this way (the DMARC stage reads the SPF
 * result, see stage_spf.h).  What the slot holds is freed by the owning
 * stage's txn_end.
 */
void **filters_stage_data(const struct filter_msg *m,
    const struct filter_stage_ops *ops);
/* filters_txn_end - the transaction is over (RSET, 250, reject, QUIT) */
void filters_txn_end(struct filter_session *s);

/* filter_action_name - "continue", "reject", ... */
const char *filter_action_name(enum filter_action a);

#endif
