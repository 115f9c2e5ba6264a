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
};

/* imap_server.c */
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

#endif
