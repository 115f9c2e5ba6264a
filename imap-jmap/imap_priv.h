/*
 * imap_priv.h - what the IMAP server files share inside imap-jmap/.
 *
 * A session belongs to one I/O loop and is touched only by that loop's
 * thread, except while a job is in flight (busy): then the worker owns
 * the session's protocol state (account, selected mailbox, the response
 * buffer out) and the loop reads no input, writes nothing and changes
 * none of it; the loop still owns the bufferevent, the parser and the
 * timers.  A session whose client vanished during a job (dead) is freed
 * when the job completes, or when a notification posted to it arrives.
 *
 * Responses are built in s->out (by a handler on the loop or by a job)
 * and handed to the bufferevent by imap_flush() on the loop.
 *
 * The pure parts (imap_msnmap.c: the MSN <-> UID list; imap_path.c:
 * mailbox paths, LIST patterns and the mailbox tree) have their own unit
 * tests (t/unit/imap_msnmap_test.c, t/unit/imap_path_test.c).
 */
#ifndef POSTERN_IMAP_PRIV_H
#define POSTERN_IMAP_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/bufferevent.h>
#include <openssl/ssl.h>

#include "common/auth_throttle.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/ip_count.h"
#include "common/loop.h"
#include "common/netaddr.h"
#include "directory/directory.h"
#include "imap-jmap/imap.h"
#include "imap-jmap/imap_parse.h"
#include "store/mail.h"
#include "store/store.h"

#define IMAP_SVC "imap"
/* Stop processing pipelined commands while this much output is unsent. */
#define IMAP_OUT_HIGH (64 * 1024)
/* Bytes the loop may buffer from a client before it stops reading. */
#define IMAP_IN_HIGH (256 * 1024)
/* A closing session waits this many 20 ms ticks for its socket. */
#define IMAP_CLOSE_TICKS 250
#define IMAP_DELIM '/'			/* the hierarchy separator */
#define IMAP_PATH_MAX 4096		/* octets of a full mailbox path */

/* states, as bits so that a command lists where it is valid */
enum imap_state {
	IMAP_S_NOAUTH = 1u << 0,
	IMAP_S_AUTH = 1u << 1,
	IMAP_S_SELECTED = 1u << 2,
	IMAP_S_LOGOUT = 1u << 3,
};


struct imap_server {
	const struct config *cfg;
	struct store *st;
	struct directory *dir;
	SSL_CTX *tls;
	struct jobs *jobs;		/* store work */
	struct jobs *auth_jobs;		/* password checks */
	struct auth_throttle *throttle;	/* failed-login accounting */
	uint32_t id_base;		/* session ids: base + counter */

	pthread_mutex_t mu;	/* guards everything below */
	uint32_t next_id;
	unsigned nsessions;
	struct imap_session *sessions;	/* every open session */
	struct ip_count_table ips;	/* connections per address */
	struct imap_session **watch;	/* logged-in sessions by account */
	size_t nwatch;
};

/* ---- the selected mailbox's message list (imap_msnmap.c, pure) ---- */

/*
 * The UIDs the client knows, ascending: the MSN of uid[i] is i + 1
 * (RFC 9051 2.3.1.2).  New messages are appended (their UIDs are larger
 * than any known), expunged ones removed in one pass.
 */
struct imap_msnmap {
	uint32_t *uid;
	uint32_t n, cap;
};

void imap_msnmap_clear(struct imap_msnmap *m);
/* imap_msnmap_append - uid must be greater than imap_msnmap_last */
void imap_msnmap_append(struct imap_msnmap *m, uint32_t uid);
/* imap_msnmap_last - the largest UID, 0 when empty */
uint32_t imap_msnmap_last(const struct imap_msnmap *m);
/* imap_msnmap_msn - the MSN of uid, 0 when absent */
uint32_t imap_msnmap_msn(const struct imap_msnmap *m, uint32_t uid);
/* imap_msnmap_uid - the UID of msn (1-based), 0 when out of range */
uint32_t imap_msnmap_uid(const struct imap_msnmap *m, uint32_t msn);
/*
 * imap_msnmap_remove - drop every UID of gone[0..n) (ascending; UIDs
 * not in m are skipped).  When msns_r is not NULL it gets, in DESCENDING
 * order, the MSN each removed UID had: EXPUNGE responses sent in that
 * order keep every number valid for the client.  The count removed.
 */
size_t imap_msnmap_remove(struct imap_msnmap *m, const uint32_t *gone,
    size_t n, uint32_t *msns_r);
/*
 * imap_msnmap_resolve - the messages a sequence set names, as MSNs,
 * ascending and without duplicates, into *msns_r (owned, free()); their
 * count is returned.  uid: the set holds UIDs (a UID not in m is
 * skipped; "*" is the largest UID, RFC 9051 6.4.8); else MSNs ("*" the
 * last; a number past the last is invalid: -1, RFC 9051 9 "seq-number").
 * A set of "$" (SEARCHRES) is the caller's.
 */
long imap_msnmap_resolve(const struct imap_msnmap *m,
    const struct imap_seqset *set, bool uid, uint32_t **msns_r);
/* imap_seqset_has - whether v is in set; star is the value of "*" */
bool imap_seqset_has(const struct imap_seqset *set, uint32_t v,
    uint32_t star);

/* ---- mailbox paths and LIST (imap_path.c, pure) ---- */

/* a full path cut into its levels (one store mailbox name each) */
struct imap_levels {
	char **lv;		/* owned strings */
	size_t n;
};

void imap_levels_free(struct imap_levels *l);
/*
 * imap_path_split - path (UTF-8, as the parser decoded it) into levels.
 * A first level that is INBOX in any case becomes "INBOX" (RFC 9051 5.1).
 * trailing_ok: one separator at the end is dropped (CREATE "a/" means
 * "a", RFC 9051 6.3.4).  -1 with *why_r (a static text) for an empty
 * path, an empty level, a level over MAIL_NAME_MAX or holding a wildcard
 * ('*', '%': LIST could not name it) or a control character, more than
 * MAIL_DEPTH_MAX levels, a path over IMAP_PATH_MAX.
 */
int imap_path_split(const char *path, size_t len, bool trailing_ok,
    struct imap_levels *out, const char **why_r) WARN_UNUSED;
/*
 * imap_list_match - whether name matches the LIST pattern pat: '*'
 * matches anything, '%' anything but the separator (RFC 9051 6.3.9).  The
 * pattern's first level matches a name's INBOX in any case ("inb*").
 * O(len(pat) * len(name)).
 */
bool imap_list_match(const char *pat, size_t plen, const char *name,
    size_t nlen);
/*
 * imap_list_pattern - the canonical pattern of LIST ref pat: pat alone
 * when ref is empty or pat starts with the separator (the separator then
 * dropped), else ref and pat joined (RFC 9051 6.3.9, as Dovecot reads
 * it).  Appended to out.
 */
void imap_list_pattern(const char *ref, size_t rlen, const char *pat,
    size_t plen, struct buf *out);

/* one mailbox of the account as LIST sees it */
struct imap_node {
	struct mail_mailbox mb;	/* a copy; mb.name owned */
	char *path;		/* full path, owned; NULL: not reachable
				   over IMAP (a name holding the separator,
				   a broken parent chain) */
	bool has_children;	/* a reachable child */
	bool sub_below;		/* a subscribed descendant */
};

struct imap_tree {
	struct imap_node *v;	/* sorted by path once finished: INBOX
				   first, then byte order */
	size_t n, cap;
};

void imap_tree_add(struct imap_tree *t, const struct mail_mailbox *mb);
/* imap_tree_finish - compute paths and children; sort */
void imap_tree_finish(struct imap_tree *t);
void imap_tree_free(struct imap_tree *t);
/* imap_tree_find - the node of path (exact, after INBOX folding) */
const struct imap_node *imap_tree_find(const struct imap_tree *t,
    const char *path);
/* imap_role_attr - "\\Sent", ... for a role, NULL for none and INBOX */
const char *imap_role_attr(enum mail_role role);
/* imap_use_role - the role of a CREATE (USE (...)) bit, or -1 */
int imap_use_role(unsigned use_bit);

/* ---- the session ---- */

enum imap_cont {
	IMAP_CONT_NONE,		/* reading commands */
	IMAP_CONT_SASL,		/* AUTHENTICATE waits for a response line */
	IMAP_CONT_IDLE,		/* IDLE waits for DONE */
	IMAP_CONT_PART,		/* a command answers in parts (more) */
};

enum imap_sasl_step {
	IMAP_SASL_NONE,
	IMAP_SASL_PLAIN,	/* "+ " sent, the PLAIN message next */
	IMAP_SASL_LOGIN_USER,	/* "+ VXNlcm5hbWU6" sent */
	IMAP_SASL_LOGIN_PASS,	/* "+ UGFzc3dvcmQ6" sent */
};

/* one login attempt; the password is wiped once checked */
struct imap_authn {
	enum imap_sasl_step step;
	const char *method;	/* "LOGIN" (the command), "PLAIN", "LOGIN"
				   (the SASL mechanism) for the log */
	struct buf user;	/* as sent */
	struct buf key;		/* lowercased: the throttle's name */
	struct buf pass;
	int result;		/* the job's: 1 ok, 0 refused, -1 error */
	uint32_t id;
	char *account;
	char error[256];
	struct auth_throttle_verdict verdict;	/* of a refused check */
	struct event *timer;	/* a failure's reply held back */
	bool blocked;		/* ... then BYE */
};

/* the selected mailbox */
struct imap_sel {
	enum mail_role role;	/* Junk training on COPY/MOVE */
	uint32_t mbox;
	char *path;		/* as the client named it (UTF-8) */
	bool read_only;		/* EXAMINE */
	uint32_t uidvalidity;
	uint32_t uidnext;	/* above every UID seen */
	uint64_t modseq;	/* every change up to it is reflected */
	struct imap_msnmap map;
	uint32_t *gone;		/* expunged, still in map until announced */
	size_t ngone, gone_cap;
	uint32_t *saved;	/* SEARCHRES "$": UIDs ascending; those
				   expunged since are skipped when used */
	size_t nsaved;
};

struct imap_zlib;
struct imap_session;

/* work done on a worker, or a done step on the loop (imap_run_job) */
typedef void imap_work_fn(struct imap_session *s);

struct imap_session {
	struct imap_session *prev, *next;	/* srv->sessions, under srv->mu */
	struct imap_session *wprev, *wnext;	/* srv->watch, under srv->mu */
	bool watched;		/* in srv->watch (under srv->mu) */
	bool idle_watch;	/* in IDLE: changes are posted (srv->mu) */
	bool notify_posted;	/* a notify_cb is on its way (srv->mu) */
	struct imap_server *srv;
	const struct config *cfg;
	struct loop *loop;
	struct bufferevent *bev;	/* the top of the filter chain */
	struct event *close_timer;
	unsigned close_ticks;
	char id[12];		/* for the log */
	char ip[NETADDR_STRLEN];
	unsigned port;
	bool loopback;
	uint64_t started_us;

	enum imap_state state;
	struct imap_parser *parser;
	struct imap_cmd *cmd;	/* the command running, owned */
	enum imap_cont cont;
	bool busy;		/* a job is in flight */
	bool in_process;	/* imap_server.c process() is running */
	bool closing;		/* close once output is flushed */
	bool dead;		/* client gone: free when nothing refers to it */
	bool want_close;	/* set by a job: BYE written, close after */
	bool tls;
	bool compress;
	struct imap_zlib *z;
	unsigned read_secs, write_secs;	/* what the bufferevent has now */
	unsigned nbad;		/* BAD answers in a row */
	unsigned ncmds;
	uint64_t out_bytes;

	/* logged in */
	uint32_t acct;
	char *user;
	struct imap_authn sasl;
	uint64_t quota;		/* the account's, bytes, 0 = none */

	/* ENABLE (RFC 5161) */
	bool rev2;		/* IMAP4rev2 */
	bool utf8;		/* UTF8=ACCEPT, or IMAP4rev2 */
	bool condstore;
	bool qresync;
	bool uidonly;		/* UIDONLY (RFC 9586): no MSN either way */

	struct imap_sel *sel;	/* SELECTED */

	/* IDLE */
	bool idling;		/* "+ idling" sent, DONE not yet read */
	bool notified;		/* a change arrived while busy */

	/* the job's scratch: its result for the done step */
	int job_r;
	struct buf out;		/* responses not yet flushed */

	/*
	 * A command that answers in parts (FETCH of many messages): its
	 * state, freed with the command (imap_cmd_finish) or the session;
	 * while more is set the command goes on (cont IMAP_CONT_PART) and
	 * the loop runs more(s) - which starts the next part's job - once
	 * the output is under IMAP_OUT_HIGH (imap_server.c process()).
	 */
	void *cmd_state;
	void (*cmd_state_free)(void *state);
	imap_work_fn *more;

	/*
	 * NOTIFY (RFC 5465, imap_notify.c).  notify is set and freed on the
	 * loop only (the NOTIFY command's done step, a push's done step,
	 * teardown) and its contents are used by jobs; notify_pending is
	 * the loop's.  notify_watch, notify_meta and the METADATA queue are
	 * under srv->mu: another session's job queues into it.
	 */
	struct imap_notify_state *notify;	/* NULL: no NOTIFY yet */
	bool notify_pending;	/* something may have changed: a push is
				   due between commands */
	bool refresh_no_flags;	/* imap_refresh: write no FETCH FLAGS and
				   keep the MODSEQ (they stay due) */
	bool notify_watch;	/* srv->mu: changes are posted */
	unsigned notify_meta;	/* srv->mu: IMAP_NEV_*_METADATA wanted */
	struct imap_notify_meta *meta_q;	/* srv->mu: queued, owned */
	size_t nmeta;
	bool meta_overflow;	/* srv->mu: the queue was full */
};

/* imap_server.c */
/* imap_sys_flags - IMAP_FLAG_* system flags as MAIL_F_* (STORE, APPEND) */
uint32_t imap_sys_flags(unsigned sys);
/* imap_flush - hand s->out to the bufferevent (loop thread) */
void imap_flush(struct imap_session *s);
/* imap_close - flush, stop reading, free once the output is out */
void imap_close(struct imap_session *s);
/* imap_resume - after a job or a timer: free, close or process input */
void imap_resume(struct imap_session *s);
/* imap_starttls - the OK is written: switch the stream to TLS */
void imap_starttls(struct imap_session *s);
/* imap_setup_bev - callbacks, watermark, timeouts of a new s->bev */
void imap_setup_bev(struct imap_session *s);
/* imap_set_timeouts - the read timeout of the state, the write one */
void imap_set_timeouts(struct imap_session *s);
/* imap_watch, imap_unwatch - the account's change notifications */
void imap_watch(struct imap_session *s);
void imap_unwatch(struct imap_session *s);
/* imap_idle_watch - in IDLE or not: whether changes are posted */
void imap_idle_watch(struct imap_session *s, bool on);

/* imap_compress.c */
/* imap_compress_start - wrap the stream in DEFLATE (RFC 4978); -1 */
int imap_compress_start(struct imap_session *s);
void imap_compress_free(struct imap_zlib **z);

/* imap_session.c */
/* imap_command - one command from the parser (owned by s from here) */
void imap_command(struct imap_session *s, struct imap_cmd *cmd);
/* imap_parse_error - a parser error: BAD/NO, or BYE when fatal */
void imap_parse_error(struct imap_session *s,
    const struct imap_parse_error *e);
/* imap_greet - the greeting with the capabilities */
void imap_greet(struct imap_session *s);
/* imap_is_offered - whether capability name is offered after login */
bool imap_is_offered(const char *name, size_t len);
/* imap_capabilities - the CAPABILITY list of s's state (no "CAPABILITY") */
void imap_capabilities(const struct imap_session *s, struct buf *out);
/* tagged and untagged replies into s->out */
void imap_tagged(struct imap_session *s, const char *status,
    const char *fmt, ...) PRINTF_LIKE(3, 4);
void imap_untagged(struct imap_session *s, const char *fmt, ...)
    PRINTF_LIKE(2, 3);
/* imap_bad - a tagged BAD that counts towards max_bad_commands */
void imap_bad(struct imap_session *s, const char *fmt, ...)
    PRINTF_LIKE(2, 3);
/* imap_cmd_finish - the command is answered: free it, read on */
void imap_cmd_finish(struct imap_session *s);
/*
 * imap_run_job - work(s) on a worker of pool, then done(s) (may be NULL)
 * on the loop, then the output is flushed and the command finished
 * unless done started something else (busy again, or a continuation).
 */
void imap_run_job(struct imap_session *s, struct jobs *pool,
    imap_work_fn *work, imap_work_fn *done);
/* imap_session_reset_login - back to not authenticated (UNAUTHENTICATE) */
void imap_session_reset_login(struct imap_session *s);
/* imap_mailbox_id - the OBJECTID of a mailbox (RFC 8474) */
void imap_mailbox_id(uint32_t mbox, struct buf *out);
/* imap_cmd_state_free - the command's cmd_state goes (accepts none) */
void imap_cmd_state_free(struct imap_session *s);

/* imap_auth.c */
bool imap_login_allowed(const struct imap_session *s);
void imap_cmd_login(struct imap_session *s);
void imap_cmd_authenticate(struct imap_session *s);
/* imap_auth_response - a line read in IMAP_CONT_SASL */
void imap_auth_response(struct imap_session *s, struct imap_cmd *line);
/* imap_auth_abort - a parser error ended the exchange */
void imap_auth_abort(struct imap_session *s, const char *why);
void imap_auth_free(struct imap_session *s);

/* imap_mbox.c: CREATE, DELETE, RENAME, (UN)SUBSCRIBE, STATUS, quota */
void imap_cmd_create(struct imap_session *s);
void imap_cmd_delete(struct imap_session *s);
void imap_cmd_rename(struct imap_session *s);
void imap_cmd_subscribe(struct imap_session *s);
void imap_cmd_status(struct imap_session *s);
void imap_cmd_getquota(struct imap_session *s);
void imap_cmd_getquotaroot(struct imap_session *s);
void imap_cmd_setquota(struct imap_session *s);
/*
 * On a worker: imap_resolve - the mailbox id of a path: 1, 0 none (a NO
 * [NONEXISTENT] or [CANNOT] is written when tag is true), -1 (NO
 * [SERVERBUG] written).  imap_status_items - the STATUS response of one
 * mailbox; 0 or -1 (err).
 */
int imap_resolve(struct imap_session *s, const char *path, size_t len,
    uint32_t *mbox_r, bool reply);
int imap_status_items(struct imap_session *s, const struct mail_mailbox *mb,
    const char *path, unsigned items, struct buf *err);
/* imap_store_error - log err, answer NO [SERVERBUG] */
void imap_store_error(struct imap_session *s, const char *what,
    struct buf *err);

/* imap_list.c */
void imap_cmd_list(struct imap_session *s);

/* imap_select.c */
void imap_cmd_select(struct imap_session *s);
void imap_cmd_close(struct imap_session *s);
void imap_cmd_expunge(struct imap_session *s);
/* imap_sel_free - unselect: the model goes */
void imap_sel_free(struct imap_sel **sel);
/*
 * imap_refresh - on a worker: bring s->sel up to date with the store and
 * write the untagged responses (EXISTS, EXPUNGE or VANISHED, FETCH
 * FLAGS).  expunge_ok: EXPUNGE/VANISHED may be sent now (not during
 * FETCH, STORE, SEARCH; RFC 9051 7.5.1); else expunged messages stay in
 * the map until a command that may announce them.  -1 on a store error
 * (logged); a deleted mailbox gets BYE (want_close).
 */
int imap_refresh(struct imap_session *s, bool expunge_ok);
/* imap_write_flags - "(\\Seen $Forwarded kw ...)" */
void imap_write_flags(struct buf *out, uint32_t flags, const char *keywords);
/* imap_out_session - the IMAP_FETCH_OUT_* bits of s (imap_fetch_out.h) */
unsigned imap_out_session(const struct imap_session *s);
/*
 * imap_write_flag_fetch - an unsolicited or STORE FETCH of one
 * message's flags: "* n FETCH (UID u FLAGS (...) MODSEQ (m))", or
 * UIDFETCH under UIDONLY; items are IMAP_FETCH_OUT_ST_* bits
 */
void imap_write_flag_fetch(struct imap_session *s, uint32_t msn,
    uint32_t uid, uint32_t flags, const char *keywords, uint64_t modseq,
    unsigned items);
/*
 * imap_set_msns - on a worker: the messages set names (UIDs with uid,
 * else MSNs; "$" is the saved result), as MSNs ascending, into *msns_r
 * (owned, free()); the count, or -1 when an MSN is past the last (BAD
 * written).
 */
long imap_set_msns(struct imap_session *s, const struct imap_seqset *set,
    bool uid, uint32_t **msns_r);
/*
 * imap_sel_own_change - a write transaction of this session found the
 * mailbox at highestmodseq before and left it at after: when the model
 * was up to date before, it is after too (the session has answered its
 * own changes itself and the next refresh does not repeat them)
 */
void imap_sel_own_change(struct imap_session *s, uint64_t before,
    uint64_t after);
/*
 * imap_sel_expunged - this session removed uids[0..n) (ascending) from
 * the selected mailbox (MOVE): EXPUNGE or VANISHED for them now, with
 * whatever other expunges wait
 */
void imap_sel_expunged(struct imap_session *s, const uint32_t *uids,
    size_t n);
/* imap_idle_start, imap_idle_notify - IDLE (RFC 2177) */
void imap_cmd_idle(struct imap_session *s);
void imap_idle_done(struct imap_session *s, bool ok);
void imap_idle_notify(struct imap_session *s);

/* imap_append.c */
void imap_cmd_append(struct imap_session *s);

/* imap_fetch_cmd.c: FETCH, UID FETCH */
void imap_cmd_fetch(struct imap_session *s);
/* imap_store_cmd.c: STORE, UID STORE */
void imap_cmd_store(struct imap_session *s);
/* imap_search_cmd.c: SEARCH, SORT, THREAD and their UID forms */
void imap_cmd_search(struct imap_session *s);
/* imap_copy_cmd.c: COPY, MOVE and their UID forms */
void imap_cmd_copy(struct imap_session *s);

/*
 * imap_msgs_* (imap_msgs_cmd.c) - on a worker, inside a read or write
 * transaction t of the store: the memberships of the selected mailbox
 * for the UIDs uids[0..n) (ascending), read run by run (one scan per
 * run of UIDs adjacent in the model).  fn gets each one found, in UID
 * order, and returns 0 or -1 (the scan fails); a UID the store no
 * longer holds (expunged, not yet announced) is skipped.
 */
int imap_msgs_scan(struct kv_txn *t, struct imap_session *s,
    const uint32_t *uids, size_t n, mail_msg_fn *fn, void *arg,
    struct buf *err) WARN_UNUSED;

/*
 * MESSAGELIMIT (RFC 9738, imap_msgs_cmd.c): a command works on at most
 * cfg->imap.message_limit messages (0: no limit), those with the
 * highest UIDs, and says where it stopped with the response code
 * "MESSAGELIMIT limit uid", uid the lowest UID it took.
 *   imap_limit_cut - v[0..*n_r) ascending (MSNs or UIDs of the model):
 *       keeps the last limit ones, moved to the front; the number dropped
 *   imap_set_msns_limit - imap_set_msns, then the cut; *cut_r is the
 *       lowest UID kept when some were dropped, else 0
 *   imap_limit_code - the response code of a command cut at cut (0:
 *       nothing): "[MESSAGELIMIT n u] " appended to code for a tagged
 *       reply that has no code of its own (own_code false), else an
 *       untagged NO with it written now (RFC 9738 3.1)
 */
size_t imap_limit_cut(const struct imap_session *s, uint32_t *v,
    size_t *n_r);
long imap_set_msns_limit(struct imap_session *s, const struct imap_seqset *set,
    bool uid, uint32_t **msns_r, uint32_t *cut_r);
void imap_limit_code(struct imap_session *s, uint32_t cut, bool own_code,
    struct buf *code);

/* imap_metadata.c: GETMETADATA, SETMETADATA (RFC 5464) */
void imap_cmd_getmetadata(struct imap_session *s);
void imap_cmd_setmetadata(struct imap_session *s);

/* ---- NOTIFY (RFC 5465): imap_notify_set.c (pure), imap_notify.c ---- */

/* mailbox names in one NOTIFY SET; more: NO [NOTIFICATIONOVERFLOW] */
#define IMAP_NOTIFY_NAMES_MAX 1000u
/*
 * The per-session queue: notifications one push may hold (LIST, STATUS,
 * METADATA, MessageNew FETCH) and METADATA changes queued for a session.
 * Past it the client gets OK [NOTIFICATIONOVERFLOW] and NOTIFY is off,
 * as after NOTIFY NONE (RFC 5465 5.8).
 */
#define IMAP_NOTIFY_QUEUE_MAX 1000u
/* octets of one MessageNew FETCH line; more: NO [TOOBIG] for it */
#define IMAP_NOTIFY_FETCH_MAX (1024u * 1024)

enum imap_notify_res {
	IMAP_NOTIFY_OK = 0,
	IMAP_NOTIFY_BAD = -1,		/* BAD, the reason in why */
	IMAP_NOTIFY_BADEVENT = -2,	/* NO [BADEVENT (supported)] */
	IMAP_NOTIFY_TOO_MANY = -3,	/* NO [NOTIFICATIONOVERFLOW] */
};

/* one event group for mailboxes other than the selected one */
struct imap_notify_grp {
	enum imap_notify_filter filter;	/* never SELECTED[-DELAYED] */
	unsigned events;		/* IMAP_NEV_*; 0 for NONE */
	char **path;		/* SUBTREE roots, MAILBOXES names: owned,
				   INBOX folded */
	size_t npath;
	uint32_t *id;		/* MAILBOXES: the ids the names had at SET
				   (imap_notify_set_resolve); owned */
	size_t nid;
};

/* a checked NOTIFY SET (or NONE), owned by the session */
struct imap_notify_set {
	bool none;			/* NOTIFY NONE */
	bool status;			/* SET STATUS */
	bool sel_delayed;		/* SELECTED-DELAYED */
	unsigned sel_events;		/* for the selected mailbox */
	struct imap_fetch_att *fetch;	/* MessageNew (...) there: a deep
					   copy, owned */
	size_t nfetch;
	struct imap_notify_grp *grp;
	size_t ngrp;
	unsigned events;		/* the union over grp */
};

/*
 * imap_notify_set_new - check a parsed NOTIFY (RFC 5465 3.1, 5, 6.1) and
 * copy it out of the command: IMAP_NOTIFY_OK and *ns_r (free it with
 * imap_notify_set_free), or an error with nothing allocated; BAD has
 * its reason in *why_r (static).  metadata: METADATA is offered, so the
 * metadata events are supported.
 */
enum imap_notify_res imap_notify_set_new(const struct imap_notify *cmd,
    bool metadata, struct imap_notify_set **ns_r, const char **why_r);
void imap_notify_set_free(struct imap_notify_set **ns);
/* imap_notify_supported - "MessageNew MessageExpunge ..." (BADEVENT) */
void imap_notify_supported(struct buf *out, bool metadata);
/*
 * imap_notify_events - the IMAP_NEV_* a mailbox other than the selected
 * one gets: those of the most specific group that matches it (MAILBOXES,
 * then the SUBTREE with the longest root, SUBSCRIBED, INBOXES and
 * PERSONAL), the first given among equals; 0 when none does
 */
unsigned imap_notify_events(const struct imap_notify_set *ns,
    const char *path, uint32_t id, bool subscribed);
/* imap_notify_path_fold - INBOX as the first level in any case -> "INBOX",
 * one trailing separator dropped; a new string */
char *imap_notify_path_fold(const char *path, size_t len);

/* what this session did itself: RFC 5465 5 "SHOULD omit" telling it */
enum imap_notify_echo_kind {
	IMAP_ECHO_CREATE,	/* path (and its superiors) created */
	IMAP_ECHO_DELETE,	/* path deleted */
	IMAP_ECHO_RENAME,	/* path (and below) renamed to to */
	IMAP_ECHO_SUB,		/* path (un)subscribed */
};

struct imap_notify_echo {
	enum imap_notify_echo_kind kind;
	char *path, *to;	/* owned, folded */
};

/* the account's mailboxes as NOTIFY last told them */
struct imap_notify_view {
	struct imap_tree t;	/* finished: paths, children */
	uint32_t *ix;		/* indices of t.v ordered by mailbox id */
};

void imap_notify_view_build(struct imap_notify_view *v,
    const struct mail_mailbox *const *mb, size_t n);
void imap_notify_view_free(struct imap_notify_view *v);
const struct imap_node *imap_notify_view_find(
    const struct imap_notify_view *v, uint32_t id);
/* imap_notify_set_resolve - MAILBOXES names to ids, SUBTREE roots that
 * do not exist dropped (RFC 5465 3.1: names of no mailbox are ignored) */
void imap_notify_set_resolve(struct imap_notify_set *ns,
    const struct imap_notify_view *v);

/* how notifications are written */
struct imap_notify_out {
	bool utf8;		/* UTF8=ACCEPT: names as UTF-8 */
	bool condstore;		/* HIGHESTMODSEQ in every STATUS */
	uint32_t selected;	/* its messages are SELECTED's: no STATUS */
	const struct imap_notify_echo *echo;
	size_t necho;
	size_t count;		/* responses written */
};

/*
 * imap_notify_apply - the mailboxes recs[0..nrecs) (as the store has
 * them now) and gone[0..ngone) (ids no longer there) against v: the
 * LIST responses of MailboxName (create, delete as \NonExistent, rename
 * with OLDNAME, for descendants too) and SubscriptionChange (RFC 5465
 * 5.4, 5.5), then STATUS for changed counts (5.1-5.3), each where the
 * matching group asks for it and the session did not cause it; v is
 * updated.  full: recs is every mailbox (an id of v not there is gone).
 */
void imap_notify_apply(struct imap_notify_view *v,
    const struct imap_notify_set *ns, const struct mail_mailbox *recs,
    size_t nrecs, const uint32_t *gone, size_t ngone, bool full,
    struct imap_notify_out *o, struct buf *out);
/* imap_notify_status_all - SET STATUS: a STATUS of every watched mailbox
 * with message events (RFC 5465 3.1) */
void imap_notify_status_all(const struct imap_notify_view *v,
    const struct imap_notify_set *ns, struct imap_notify_out *o,
    struct buf *out);
/* imap_notify_status_line - "* STATUS name (MESSAGES .. UNSEEN ..)" */
void imap_notify_status_line(struct buf *out, const char *path,
    const struct mail_mailbox *mb, bool highestmodseq, bool utf8);

/* imap_notify.c: the command and the pushes */
void imap_cmd_notify(struct imap_session *s);
/*
 * imap_notify_push - on the loop, between commands or in IDLE, with
 * notify_pending set: start the job that tells what changed; true when
 * it did (the session is busy), else notify_pending is cleared when
 * there is nothing to tell (NOTIFY NONE)
 */
bool imap_notify_push(struct imap_session *s);
/* imap_notify_cmd - on the loop: cmd is about to run (what it will
 * change is not told back; a push follows it) */
void imap_notify_cmd(struct imap_session *s, const struct imap_cmd *cmd);
/* imap_notify_free - the session's NOTIFY state and queue go */
void imap_notify_free(struct imap_session *s);
/*
 * imap_notify_metadata_changed - called by the METADATA code (any
 * thread, no lock held) after session s changed entry of mailbox mbox
 * (0: a server entry): every other session of the account that asked
 * for MailboxMetadataChange (of a group matching mbox) or
 * ServerMetadataChange gets an unsolicited "* METADATA mailbox entry"
 * (RFC 5465 5.6, 5.7; RFC 5464 4.4).  Queued per session, at most
 * IMAP_NOTIFY_QUEUE_MAX (then NOTIFICATIONOVERFLOW).
 */
void imap_notify_metadata_changed(struct imap_session *s, uint32_t mbox,
    const char *entry);
/* imap_server.c: post the session's notify_cb unless one is on its way;
 * srv->mu held */
void imap_post_notify_locked(struct imap_session *s);
/* imap_server.c: the first session of acct's watch bucket (follow wnext,
 * check acct); srv->mu held */
struct imap_session *imap_watch_first_locked(struct imap_server *srv,
    uint32_t acct);

/*
 * imap_read_blob - the renderer's blob callback (imap_fetch_out.h): the
 * raw message of id, read whole into data (reused message to message);
 * -1 with err when the blob store fails or the blob is missing
 */
struct imap_blob_ctx {
	struct imap_session *s;
	const struct blob_id *id;
	struct buf data;
};
int imap_read_blob(void *arg, const unsigned char **data_r, size_t *len_r,
    struct buf *err);

#endif
