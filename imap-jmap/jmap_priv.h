/*
 * jmap_priv.h - what the JMAP server files share inside imap-jmap/.
 *
 * Files:
 *   jmap_json.c     pure: the Request object (RFC 8620 3.3), problem
 *                   details (3.6.1), JSON Pointer with "*" and result
 *                   references (3.7), patch objects (5.3)
 *   jmap_api.c      one API request: dispatch, the method-level errors,
 *                   the response builder, argument checks, ids, Core/echo
 *   jmap_std.c      the standard methods' shapes (RFC 8620 5.1-5.3):
 *                   /get, /changes, /set
 *   jmap_query.c    /query, /queryChanges (5.5, 5.6), filters, sorts
 *   jmap_methods.c  the method tables and the std types: adding a type
 *                   is one line there and a file of its own
 *   jmap_session.c  the session resource (2) and its state
 *   jmap_http.c     listeners, evhttp, routing, responses, limits
 *   jmap_auth.c     HTTP Basic against the directory, the password cache
 *   jmap_blob.c     upload, download (6.1, 6.2), Blob/copy (6.3)
 *   jmap_push.c     EventSource (7.3) and the store's change hook
 *   jmap_mailbox.c  the Mailbox methods (RFC 8621 2)
 *   jmap_thread.c   Thread/get, Thread/changes (RFC 8621 3)
 *
 * Ids (RFC 8620 1.2: [A-Za-z0-9_-], opaque to clients) are a letter and
 * the store's decimal number, no leading zero: account "A1", mailbox
 * "M7", email "M42", thread "T9" (an email's and a thread's ids are
 * IMAP's EMAILID and THREADID, RFC 8474; ids are unique per type only).  Blob ids name their owner, so that
 * the account check of a download is one key lookup and never a scan:
 *   "B" + 64 hex digits   an upload (or Blob/copy) of the account: its
 *                         content's SHA-256, valid while the account's
 *                         upload record ('J' acct 'u' sha, jmap_blob.c)
 *                         lives;
 *   "R" + email number    the raw message of one of its emails.
 *   "P" + email number + "." + part index   a body part (Email/get
 *                         blobId of a leaf part), downloaded
 *                         transfer-decoded (jmap_email_part_content);
 *                         not accepted by Blob/copy or Email/import.
 * Content is stored once whatever the accounts (blob.h), but a blob id
 * of one account is meaningless in another: another account's email
 * number or an upload it never made is notFound, never its data.
 *
 * States are the decimal change-log states of store/mail.h
 * (mail_current_state of the type's log): "0" before the first change.
 *
 * Threads: a struct jmap_req, a struct jmap_es and the evhttp objects
 * belong to their loop's thread; a request's job owns the request's
 * work fields (body, out, status) while it runs, and the loop touches
 * none of them until its done callback.  Everything under srv->mu is
 * shared.  A method handler runs inside a job: it may block on the
 * store (mail_*, blob_*), never on the network.
 */
#ifndef POSTERN_JMAP_PRIV_H
#define POSTERN_JMAP_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <openssl/ssl.h>

#include "common/auth_throttle.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/loop.h"
#include "common/netaddr.h"
#include "directory/directory.h"
#include "imap-jmap/jmap.h"
#include "store/mail.h"
#include "store/store.h"

#define JMAP_SVC "jmap"
#define JMAP_ID_MAX 24		/* "M4294967295" and a NUL, with room */
#define JMAP_BLOB_ID_MAX (1 + 2 * BLOB_ID_SIZE + 1)

/* ---- capabilities ---- */

enum jmap_cap {
	JMAP_CAP_CORE,		/* urn:ietf:params:jmap:core */
	JMAP_CAP_MAIL,		/* urn:ietf:params:jmap:mail */
	JMAP_CAP_SUBMISSION,	/* urn:ietf:params:jmap:submission */
	JMAP_CAP_VACATION,	/* urn:ietf:params:jmap:vacationresponse */
	JMAP_CAP_COUNT
};
#define JMAP_CAP_BIT(c) (1u << (c))

extern const char *const jmap_cap_names[JMAP_CAP_COUNT];
/* jmap_cap_find - the capability named s, or -1 */
int jmap_cap_find(const char *s);

/* ---- limits (RFC 8620 2, the core capability) ---- */

struct jmap_limits {
	uint64_t max_size_upload;
	unsigned max_concurrent_upload;
	uint64_t max_size_request;
	unsigned max_concurrent_requests;
	unsigned max_calls_in_request;
	unsigned max_objects_in_get;
	unsigned max_objects_in_set;
};

void jmap_limits_from_config(const struct config *cfg, struct jmap_limits *l);

/* ---- jmap_json.c: pure, fuzzed (t/fuzz/jmap_request.c) ---- */

/* a request-level error (RFC 8620 3.6.1) as RFC 7807 problem details */
struct jmap_problem {
	int status;		/* HTTP status */
	const char *type;	/* "urn:ietf:params:jmap:error:notJSON", ... */
	const char *limit;	/* the "limit" member, or NULL */
	char detail[256];
};

#define JMAP_ERR_URN "urn:ietf:params:jmap:error:"

/* a parsed Request object; the views point into root */
struct jmap_request {
	json_t *root;		/* owned */
	json_t *calls;		/* methodCalls: arrays [name, args, id] */
	json_t *created_ids;	/* createdIds, or NULL */
	unsigned using;		/* JMAP_CAP_BIT()s */
};

/*
 * jmap_request_parse - the body of a POST to the API endpoint: I-JSON
 * (no duplicate names, no NUL, valid UTF-8), a Request object and
 * nothing else (unknown members are notRequest), every capability of
 * `using` in known (else unknownCapability), at most
 * lim->max_calls_in_request calls and at most lim->max_size_request
 * octets (else limit).  0 with *r (clear it), -1 with *p.
 */
int jmap_request_parse(const void *body, size_t len,
    const struct jmap_limits *lim, unsigned known, struct jmap_request *r,
    struct jmap_problem *p) WARN_UNUSED;
void jmap_request_clear(struct jmap_request *r);
/* jmap_problem_set - fill p; detail is formatted (cut to fit) */
void jmap_problem_set(struct jmap_problem *p, int status, const char *type,
    const char *limit, const char *fmt, ...) PRINTF_LIKE(5, 6);
/* jmap_problem_json - p as an application/problem+json body */
void jmap_problem_json(const struct jmap_problem *p, struct buf *out);

/*
 * jmap_pointer_eval - evaluate a JSON Pointer (RFC 6901: "" is the whole
 * document, else "/" tokens with ~0 and ~1) against doc; with star, a
 * token "*" on an array applies the rest to every item and collects the
 * results in a new array, an item's array result flattened into it (RFC
 * 8620 3.7).  A new reference (json_decref it), or NULL when a token
 * does not resolve, an escape is bad, an index is not canonical or past
 * the end, or "*" meets a non-array.
 */
json_t *jmap_pointer_eval(json_t *doc, const char *path, bool star);

/*
 * jmap_refs_resolve - the arguments of a call with every "#name"
 * argument replaced by the value of its ResultReference (RFC 8620 3.7)
 * evaluated against responses (methodResponses so far: arrays [name,
 * args, callId]).  0 with *out_r (a new reference; args itself when it
 * holds no reference), or -1 with *type_r ("invalidArguments": name and
 * #name both present; "invalidResultReference": a malformed reference,
 * no such call id, a name mismatch, a path that does not resolve) and
 * one line in desc.
 */
int jmap_refs_resolve(json_t *args, json_t *responses, json_t **out_r,
    const char **type_r, struct buf *desc) WARN_UNUSED;

/*
 * jmap_patch_apply - apply a PatchObject (RFC 8620 5.3) to obj in place:
 * each key a JSON Pointer with an implicit leading "/", every part but
 * the last existing and an object (never inside an array), no key the
 * prefix of another.  null removes a nested member and sets a top-level
 * property to null (its default).  0, or -1 with *bad_r pointing at the
 * offending key of patch (obj may then be half patched: apply it to a
 * copy).
 */
int jmap_patch_apply(json_t *obj, json_t *patch, const char **bad_r)
    WARN_UNUSED;

/* ---- the method layer (jmap_api.c) ---- */

struct jmap_method;
struct jmap_type;

/* what every API request runs against; immutable once the server is up */
struct jmap_env {
	const struct config *cfg;
	struct store *st;
	struct directory *dir;
	struct jmap_limits lim;
	/* NULL-ended list of method tables, each ended by a NULL name */
	const struct jmap_method *const *tables;
	/* NULL-ended list of the std types (push reports their states) */
	const struct jmap_type *const *types;
	/* EmailSubmission hands mail to these (jmap_server_set_queue);
	 * NULL: sending is forbiddenToSend */
	struct spool *spool;
	struct qmgr *qm;
	/* whole mailbox orders for deep Email/query pages; NULL: none */
	struct jmap_order_cache *order_cache;
};

/* one API request as the methods see it */
struct jmap_ctx {
	const struct jmap_env *env;
	uint32_t acct;			/* the authenticated account */
	char account_id[JMAP_ID_MAX];	/* "A<acct>" */
	const char *username;
	unsigned using;			/* capabilities the client named */
	unsigned account_caps;		/* what the account supports */
	bool read_only;			/* the account may not be changed */
	json_t *created_ids;		/* creation id -> id, owned */
	json_t *responses;		/* methodResponses, owned */
	const char *log_id;		/* the request's id in the log */
};

/* one method call */
struct jmap_call {
	struct jmap_ctx *ctx;
	const struct jmap_method *method;
	const char *call_id;
	json_t *args;		/* resolved arguments, borrowed */
	uint32_t acct;		/* accountId, checked (JMAP_M_ACCOUNT) */
	bool answered;		/* a response was added */
	struct jmap_qwin *qwin;	/* /query's window, while the type's query
				   function runs (jmap_query.c); else NULL */
};

/*
 * jmap_method_fn - a method handler.  It runs in a job (may block on the
 * store), reads c->args (references resolved; with JMAP_M_ACCOUNT the
 * accountId checked, c->acct set) and answers with jmap_reply (the
 * method's response, its name c->method->name), jmap_reply_as (another
 * response after it, e.g. an implicit Foo/set) or jmap_error (a
 * method-level error).  New objects' creation ids go in
 * c->ctx->created_ids (jmap_created_add) so that later calls' "#id"
 * find them.  Return 0, or -1 with one line in err: the call is
 * answered serverFail (whatever it answered before is kept) and the
 * line is logged, never sent.
 */
typedef int jmap_method_fn(struct jmap_call *c, struct buf *err);

#define JMAP_M_ACCOUNT	(1u << 0)	/* takes accountId: the core checks
					   it (accountNotFound,
					   accountNotSupportedByMethod) */
#define JMAP_M_WRITE	(1u << 1)	/* changes the account
					   (accountReadOnly) */

/* the standard method (jmap_std.c) a table entry without fn runs */
enum jmap_std_op {
	JMAP_STD_GET = 1, JMAP_STD_CHANGES, JMAP_STD_SET, JMAP_STD_QUERY,
	JMAP_STD_QUERY_CHANGES,
};

struct jmap_method {
	const char *name;	/* "Mailbox/get" */
	enum jmap_cap cap;	/* must be in `using` (else unknownMethod) */
	unsigned flags;		/* JMAP_M_* */
	jmap_method_fn *fn;	/* NULL: jmap_std_<std> of type */
	const struct jmap_type *type;
	enum jmap_std_op std;
};

/* JMAP_STD_METHOD - a table entry served by a standard method */
#define JMAP_STD_METHOD(name, cap, flags, type, op) \
	{ (name), (cap), (flags), NULL, (type), (op) }

/*
 * jmap_api_execute - run every call of r in order (RFC 8620 3.6.2):
 * each call's references resolved, its method found and checked, its
 * handler run; every outcome is a response in ctx->responses.
 */
void jmap_api_execute(struct jmap_ctx *ctx, struct jmap_request *r);
/*
 * jmap_api_run - one POST body start to end: parse, execute, and the
 * Response object (or the problem details) into out; the HTTP status.
 * *problem_r tells which content type out holds.
 */
int jmap_api_run(const struct jmap_env *env, uint32_t acct,
    const char *username, const char *content_type, const void *body,
    size_t len, const char *log_id, struct buf *out, bool *problem_r);
/* jmap_ctx_init, jmap_ctx_clear - for jmap_api_execute's callers */
void jmap_ctx_init(struct jmap_ctx *ctx, const struct jmap_env *env,
    uint32_t acct, const char *username);
void jmap_ctx_clear(struct jmap_ctx *ctx);

/* the response builder */
void jmap_reply(struct jmap_call *c, json_t *args);	/* steals args */
void jmap_reply_as(struct jmap_call *c, const char *name, json_t *args);
void jmap_error(struct jmap_call *c, const char *type, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
/* jmap_set_error - a SetError object {type, description} (new ref) */
json_t *jmap_set_error(const char *type, const char *fmt, ...)
    PRINTF_LIKE(2, 3);
/* jmap_set_error_props - invalidProperties naming one property */
json_t *jmap_set_error_props(const char *prop, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

/*
 * Argument checks: a spec is an array of struct jmap_arg ended by a NULL
 * name.  jmap_args_check answers invalidArguments (and returns -1) for a
 * missing required argument, an argument of the wrong type and an
 * argument in neither spec (spec2 may be NULL).
 */
enum jmap_arg_type {
	JMAP_ARG_ANY,
	JMAP_ARG_STRING,
	JMAP_ARG_ID,		/* a string of 1..255 id characters */
	JMAP_ARG_BOOL,
	JMAP_ARG_UINT,		/* 0 .. 2^53-1 */
	JMAP_ARG_INT,		/* -2^53+1 .. 2^53-1 */
	JMAP_ARG_OBJECT,
	JMAP_ARG_IDS,		/* an array of ids */
	JMAP_ARG_STRINGS,	/* an array of strings */
	JMAP_ARG_ARRAY,
};
#define JMAP_ARG_REQUIRED (1u << 0)
#define JMAP_ARG_NULL	  (1u << 1)	/* null allowed (= absent) */

struct jmap_arg {
	const char *name;
	enum jmap_arg_type type;
	unsigned flags;
};

int jmap_args_check(struct jmap_call *c, const struct jmap_arg *spec,
    const struct jmap_arg *spec2) WARN_UNUSED;
/* jmap_arg_get - the argument, or NULL when absent or null */
json_t *jmap_arg_get(struct jmap_call *c, const char *name);
bool jmap_value_is_id(const json_t *v);
bool jmap_value_is_uint(const json_t *v);

/* ids */
void jmap_id_make(char prefix, uint32_t n, char out[JMAP_ID_MAX]);
/* jmap_id_parse - prefix and a canonical decimal 1..UINT32_MAX; 0/-1 */
int jmap_id_parse(char prefix, const char *s, uint32_t *n_r) WARN_UNUSED;
/*
 * jmap_id_resolve - s is an id, or "#" and a creation id of this
 * request (RFC 8620 5.3) that named an object of that prefix: 0 with
 * *n_r, -1 when it is neither
 */
int jmap_id_resolve(struct jmap_call *c, char prefix, const char *s,
    uint32_t *n_r) WARN_UNUSED;
/* jmap_created_add - creation id cid made object id */
void jmap_created_add(struct jmap_call *c, const char *cid, const char *id);
/* jmap_state_str - a change-log state as a state string */
void jmap_state_str(uint64_t state, char out[24]);
/* jmap_state_parse - a state string; -1 when it is none of ours */
int jmap_state_parse(const char *s, uint64_t *state_r) WARN_UNUSED;

/* the method tables (jmap_methods.c, jmap_api.c, jmap_blob.c, ...) */
extern const struct jmap_method jmap_core_methods[];
extern const struct jmap_method jmap_blob_methods[];
extern const struct jmap_method jmap_mailbox_methods[];
extern const struct jmap_method jmap_thread_methods[];
extern const struct jmap_method *const jmap_method_tables[];
extern const struct jmap_type *const jmap_std_types[];
extern const struct jmap_type jmap_mailbox_type;
extern const struct jmap_type jmap_thread_type;
/* jmap_caps_advertised - core, and each capability a method has */
unsigned jmap_caps_advertised(const struct jmap_env *env);
const struct jmap_method *jmap_method_find(const struct jmap_env *env,
    const char *name);

/* ---- the standard methods (jmap_std.c) ---- */

/*
 * A type served by the std helpers supplies its per-object functions;
 * its method table then names them: JMAP_STD_METHOD("Foo/get", ...,
 * &foo_type, JMAP_STD_GET), run by jmap_std_run.
 * Every function runs in the job of the call and may block on the store.
 * All return 1/0 where documented, else 0, or -1 with a line in err
 * (serverFail).  *seterr_r is a SetError (jmap_set_error) refusing that
 * one object (the /set goes on with the next).
 */
struct jmap_type {
	const char *name;	/* "Mailbox": StateChange and error texts */
	char prefix;		/* of its ids */
	enum mail_log_type log;	/* the change log of its state */
	enum jmap_cap cap;	/* push reports it when advertised */
	const char *const *props;	/* every property, NULL-ended: the
					   default of /get and what may be
					   asked for */
	const char *const *counts_props;	/* /changes updatedProperties
						   when only counts changed;
						   NULL: always null */
	/* get - the object with (at least) the properties named in want (a
	 * JSON array of valid names, "id" among them): 1 with *obj_r, 0 no
	 * such object, -1 */
	int (*get)(struct jmap_call *c, uint32_t id, const json_t *want,
	    json_t **obj_r, struct buf *err);
	/* list - every id of the account, ascending (/get with ids null) */
	int (*list)(struct jmap_call *c, uint32_t **ids_r, size_t *n_r,
	    struct buf *err);
	/*
	 * /set; NULL refuses that operation ("forbidden").  create gets the
	 * client's object (creation ids in it resolved by the function,
	 * jmap_id_resolve): 1 with *id_r and *created_r (the server-set
	 * properties to return, may be NULL), 0 with *seterr_r.  update gets
	 * the object as it is (every property) and as the patch makes it: 1
	 * done (*updated_r: server-set properties that changed, may be
	 * NULL), 0 with *seterr_r (notFound when it vanished).  destroy: 1
	 * done, 0 with *seterr_r.
	 */
	const struct jmap_arg *set_args;	/* its extra /set arguments */
	int (*create)(struct jmap_call *c, json_t *obj, uint32_t *id_r,
	    json_t **created_r, json_t **seterr_r, struct buf *err);
	int (*update)(struct jmap_call *c, uint32_t id, json_t *old_obj,
	    json_t *new_obj, json_t **updated_r, json_t **seterr_r,
	    struct buf *err);
	int (*destroy)(struct jmap_call *c, uint32_t id, json_t **seterr_r,
	    struct buf *err);
	/*
	 * /query: every matching id in sort order.  filter and sort are the
	 * arguments as given (NULL when absent or null), c->args for the
	 * type's own (query_args).  0 with the ids, or 0 with *error_r set
	 * (a method error object {type, description}: unsupportedFilter,
	 * unsupportedSort, invalidArguments), or -1.  NULL: no /query.
	 */
	const struct jmap_arg *query_args;
	int (*query)(struct jmap_call *c, json_t *filter, json_t *sort,
	    uint32_t **ids_r, size_t *n_r, json_t **error_r, struct buf *err);
};

/* jmap_std_set_args - the arguments of a plain /set (RFC 8620 5.3) */
extern const struct jmap_arg jmap_std_set_args[];
/* jmap_in_list - s is one of the NULL-terminated list */
bool jmap_in_list(const char *const *list, const char *s);
/* jmap_std_reply_get - the /get response; takes list and not_found */
void jmap_std_reply_get(struct jmap_call *c, const char *state, json_t *list,
    json_t *not_found);
/* jmap_std_run - the standard method of table entry m (m->fn NULL) */
int jmap_std_run(struct jmap_call *c, const struct jmap_method *m,
    struct buf *err) WARN_UNUSED;
int jmap_std_get(struct jmap_call *c, const struct jmap_type *t,
    struct buf *err);
int jmap_std_changes(struct jmap_call *c, const struct jmap_type *t,
    struct buf *err);
int jmap_std_set(struct jmap_call *c, const struct jmap_type *t,
    struct buf *err);
int jmap_std_query(struct jmap_call *c, const struct jmap_type *t,
    struct buf *err);
int jmap_std_query_changes(struct jmap_call *c, const struct jmap_type *t,
    struct buf *err);
/*
 * The window /query asks for, as a type's query function sees it in
 * c->qwin: one that reads its results in order (an index) may stop once
 * jmap_qwin_covered says the ids so far hold the window, and then sets
 * prefix (and total when it knows it: it must when want_total).  One
 * that ignores it returns every id, as before.  NULL for /queryChanges,
 * which needs them all.
 */
struct jmap_qwin {
	json_int_t position;	/* as given, 0 when absent */
	bool has_anchor;	/* then position does not count */
	bool anchor_ok;		/* the anchor is an id of the type: anchor */
	uint32_t anchor;
	json_int_t anchor_offset;
	size_t limit;		/* capped at the most one answer holds */
	bool want_total;	/* calculateTotal */
	bool prefix;		/* out: ids are the first results only */
	size_t total;		/* out with prefix: all results (SIZE_MAX:
				   not known) */
};
/*
 * The order cache (jmap_order_cache.c): a mailbox's whole receivedAt
 * order, kept for one version of the mailbox (the key).  get copies the
 * ids (the caller frees them); put keeps a copy, if it has at most
 * max_ids.  Thread-safe; NULL cache: nothing kept, nothing found.
 */
struct jmap_order_key {
	uint32_t acct, mbox;
	bool oldest_first;
	uint32_t uidvalidity, uidnext, total;
	uint64_t modseq;
};
struct jmap_order_cache;
struct jmap_order_cache *jmap_order_cache_new(size_t entries, size_t max_ids);
void jmap_order_cache_free(struct jmap_order_cache **c);
bool jmap_order_cache_get(struct jmap_order_cache *c,
    const struct jmap_order_key *k, uint32_t **ids_r, size_t *n_r);
void jmap_order_cache_put(struct jmap_order_cache *c,
    const struct jmap_order_key *k, const uint32_t *ids, size_t n);

/* jmap_qwin_covered - whether n results in order, the anchor at index
 * anchor_at (SIZE_MAX: not among them), total all (SIZE_MAX: not known)
 * answer w as the whole list would */
bool jmap_qwin_covered(const struct jmap_qwin *w, size_t n, size_t anchor_at,
    size_t total);
/* jmap_std_state - the type's state (mail_current_state of t->log) */
int jmap_std_state(struct jmap_call *c, const struct jmap_type *t,
    char out[24], struct buf *err);
/* jmap_std_id_array - ids of one prefix as a JSON array (new ref) */
json_t *jmap_std_id_array(char prefix, const uint32_t *v, size_t n);
/* jmap_std_max_changes - maxChanges (0: absent); -1 answered when 0 */
int jmap_std_max_changes(struct jmap_call *c, size_t *max_r) WARN_UNUSED;

/*
 * jmap_query.c.  Filters (RFC 8620 5.5): a FilterOperator {operator, conditions} or a
 * FilterCondition.  jmap_filter_check walks the tree: cond_check(cond)
 * returns NULL or a description of why the condition is not supported;
 * 0, or -1 with *error_r (unsupportedFilter / invalidArguments).
 * jmap_filter_match evaluates a checked tree with cond_match.
 */
typedef const char *jmap_cond_check_fn(json_t *cond);
typedef bool jmap_cond_match_fn(void *arg, json_t *cond);
int jmap_filter_check(json_t *filter, jmap_cond_check_fn *cond_check,
    json_t **error_r);
bool jmap_filter_match(json_t *filter, jmap_cond_match_fn *cond_match,
    void *arg);
/*
 * jmap_sort_check - sort is an array of Comparator {property,
 * isAscending, collation}; each property in props (NULL-ended) and each
 * collation one of ours; 0 or -1 with *error_r (unsupportedSort,
 * invalidArguments)
 */
int jmap_sort_check(json_t *sort, const char *const *props,
    json_t **error_r);
json_t *jmap_error_obj(const char *type, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

/* ---- Email (jmap_email*.c, RFC 8621 4) ---- */

extern const struct jmap_method jmap_email_methods[];
extern const struct jmap_type jmap_email_type;
/* the sort properties of Email/query (the session advertises them) */
extern const char *const jmap_email_sorts[];

/* jmap_email_hdr.c: header:Name[:asForm][:all] (RFC 8621 4.1.2, 4.1.3) */
enum jmap_hform {
	JMAP_HF_RAW, JMAP_HF_TEXT, JMAP_HF_ADDRESSES, JMAP_HF_GROUPED,
	JMAP_HF_MSGIDS, JMAP_HF_DATE, JMAP_HF_URLS, JMAP_HF_COUNT
};
#define JMAP_HF_BIT(f) (1u << (f))
#define JMAP_HF_ADDRS (JMAP_HF_BIT(JMAP_HF_ADDRESSES) | \
	JMAP_HF_BIT(JMAP_HF_GROUPED))
#define JMAP_HNAME_MAX 128u	/* octets of a field name we look up */
#define JMAP_DATE_MAX 32u	/* "2026-11-30T09:24:15+05:30" and a NUL */

struct jmap_hprop {
	char name[JMAP_HNAME_MAX + 1];	/* as the client wrote it */
	enum jmap_hform form;
	bool all;
};
/* jmap_hprop_parse - a "header:..." property name; 0, or -1 when bad.
 * Pure. */
int jmap_hprop_parse(const char *prop, size_t len, struct jmap_hprop *h)
    WARN_UNUSED;
/* jmap_hprop_form_ok - the form is allowed for the field (4.1.2) */
bool jmap_hprop_form_ok(const struct jmap_hprop *h);
/* jmap_hvalue_json - one raw field value (after the colon) as form */
json_t *jmap_hvalue_json(enum jmap_hform form, const char *v, size_t len);
/* jmap_header_prop - h's value over a raw header block (last field, or
 * every one with :all) */
json_t *jmap_header_prop(const struct jmap_hprop *h,
    const unsigned char *hdr, size_t len);
/* jmap_headers_json - every field of a header block: [{name, value}] */
json_t *jmap_headers_json(const unsigned char *hdr, size_t len);
struct mime_addr_list;
struct mime_idlist;
json_t *jmap_addrs_json(const struct mime_addr_list *l, bool grouped);
/* jmap_msgids_json - null for an empty list */
json_t *jmap_msgids_json(const struct mime_idlist *l);
/* RFC 3339 dates: UTC with "Z"; local time with its offset */
void jmap_date_utc(int64_t t, char out[JMAP_DATE_MAX]);
void jmap_date_local(int64_t t, int tz_min, char out[JMAP_DATE_MAX]);
/* jmap_date_parse - an RFC 3339 UTCDate / Date; 0 with seconds, -1 */
int jmap_date_parse(const char *s, int64_t *t_r) WARN_UNUSED;

/* jmap_email.c: what Email/get, Email/parse and Email/query share */
struct mime_info;
struct jmap_email_opts {
	json_t *body_props;	/* the EmailBodyPart properties (borrowed) */
	bool fetch_text, fetch_html, fetch_all;
	size_t max_value;	/* maxBodyValueBytes, 0 = no limit */
};
/*
 * jmap_email_json - the Email object with the properties of want (valid
 * names: standard ones and header:...) of a message: em NULL for one
 * that is not stored (Email/parse: blob_id names it); msg the raw bytes
 * (NULL when want needs none of them, see jmap_email_needs_raw)
 */
json_t *jmap_email_json(const struct mail_email *em, const char *blob_id,
    const struct mime_info *info, const unsigned char *msg, size_t len,
    const json_t *want, const struct jmap_email_opts *o);
bool jmap_email_needs_raw(const json_t *want,
    const struct jmap_email_opts *o);
/* jmap_email_list - every email id of the account, ascending */
int jmap_email_list(struct jmap_call *c, uint32_t **ids_r, size_t *n_r,
    struct buf *err) WARN_UNUSED;
/* jmap_blob_find - the content of a blob id of acct: 1, 0 none, -1 */
int jmap_blob_find(const struct jmap_env *env, uint32_t acct, const char *s,
    struct blob_id *id_r, struct buf *err) WARN_UNUSED;
/*
 * jmap_email_part_content - the transfer-decoded body of the part that
 * blob id s ("P" email "." part index) names, appended to out (whose max
 * it sets): 1, 0 when acct has no such email or part (or the part is a
 * multipart), -1
 */
int jmap_email_part_content(const struct jmap_env *env, uint32_t acct,
    const char *s, struct buf *out, struct buf *err) WARN_UNUSED;
/* jmap_email_keywords_json - the keywords object of flags + custom */
json_t *jmap_email_keywords_json(uint32_t flags, char *const *kw, size_t n);

/* jmap_email.c: the /get and /parse arguments; -1 answered */
int jmap_email_get_opts(struct jmap_call *c, json_t **want_r,
    struct jmap_email_opts *o) WARN_UNUSED;
/* jmap_email_set.c: the type's /set functions and the other methods */
int jmap_email_create(struct jmap_call *c, json_t *obj, uint32_t *id_r,
    json_t **created_r, json_t **seterr_r, struct buf *err);
int jmap_email_update(struct jmap_call *c, uint32_t id, json_t *old_obj,
    json_t *new_obj, json_t **updated_r, json_t **seterr_r,
    struct buf *err);
int jmap_email_destroy(struct jmap_call *c, uint32_t id, json_t **seterr_r,
    struct buf *err);
jmap_method_fn jmap_email_import, jmap_email_parse, jmap_email_copy;
/* jmap_email_query.c */
extern const struct jmap_arg jmap_email_query_args[];
int jmap_email_query(struct jmap_call *c, json_t *filter, json_t *sort,
    uint32_t **ids_r, size_t *n_r, json_t **error_r, struct buf *err);
/*
 * jmap_email_query_changes_more - Email/queryChanges: the emails whose
 * place in the results may have changed since although they did not
 * (collapseThreads, thread keyword conditions: every email of a thread
 * that one of ch's emails is in, or one logged as changed since);
 * *ids_r owned, none when the query does not look at threads.  0, 1
 * when the thread changes cannot be told (cannotCalculateChanges), -1.
 */
struct mail_changes;
int jmap_email_query_changes_more(struct jmap_call *c, json_t *filter,
    json_t *sort, const struct mail_changes *ch, uint64_t since,
    uint32_t **ids_r, size_t *n_r, struct buf *err) WARN_UNUSED;
/* jmap_email_build.c: a message from structured properties (1, 0 with
 * *seterr_r, -1); SearchSnippet/get */
int jmap_email_build(struct jmap_call *c, json_t *obj, struct buf *out,
    json_t **seterr_r, struct buf *err);
jmap_method_fn jmap_snippet_get;
/* jmap_snippet_mark - s HTML-escaped, words beginning with a term in
 * <mark>; NULL when no term occurs (free() the result).  Pure. */
char *jmap_snippet_mark(const char *s, char *const *terms, size_t nterms);

/* ---- Identity and EmailSubmission (RFC 8621 6, 7) ---- */

/* jmap_identity.c */
extern const struct jmap_method jmap_identity_methods[];
extern const struct jmap_type jmap_identity_type;
/*
 * jmap_may_send_as - whether the call's account may use addr as a sender
 * (From:, MAIL FROM, an Identity's email): SMTP submission's rule, its
 * own address, sub-addresses and aliases (dir_owns) and
 * auth.sender_wildcards; 1, 0, -1
 */
int jmap_may_send_as(struct jmap_call *c, const char *addr, struct buf *err)
    WARN_UNUSED;
/* jmap_is_addr - s is one bare addr-spec (rfc5322_addresses reads it as
 * itself: no display name, no brackets), at most DIR_NAME_MAX octets */
bool jmap_is_addr(const char *s);
/* jmap_identity_load - the Identity id as /get shows it: 1 with *obj_r,
 * 0 when there is none (or it was destroyed), -1 */
int jmap_identity_load(struct jmap_call *c, uint32_t id, json_t **obj_r,
    struct buf *err) WARN_UNUSED;

/* jmap_submission.c: the type and its methods; jmap_submission_send.c:
 * create (the checks of 7.5 and the queue) */
extern const struct jmap_method jmap_submission_methods[];
extern const struct jmap_type jmap_submission_type;
int jmap_submission_create(struct jmap_call *c, json_t *obj, uint32_t *id_r,
    json_t **created_r, json_t **seterr_r, struct buf *err);
/* jmap_submission_capability - the account capability (RFC 8621 1.3.2) */
json_t *jmap_submission_capability(const struct jmap_env *env);

/* ---- VacationResponse (jmap_vacation.c, RFC 8621 8) ---- */

/* VacationResponse/get and /set of the singleton; the type is listed
 * for push only (its id is "singleton", not a prefixed number, so the
 * std helpers do not serve it) */
extern const struct jmap_method jmap_vacation_methods[];
extern const struct jmap_type jmap_vacation_type;

/* ---- the session resource (jmap_session.c) ---- */

/* jmap_session_json - the Session object; base "https://host[:port]" */
json_t *jmap_session_json(const struct jmap_env *env, uint32_t acct,
    const char *username, const char *base);
/* jmap_session_state - its "state": changes when what it says changes */
void jmap_session_state(const struct jmap_env *env, uint32_t acct,
    const char *username, char out[24]);

/* ---- the HTTP side (jmap_http.c, jmap_auth.c, jmap_blob.c, push) ---- */

struct jmap_front;
struct jmap_req;
struct jmap_es;
struct jmap_auth_cache;

/* what counts against an account's limits (jmap_use_enter) */
enum jmap_use {
	JMAP_USE_REQUEST,	/* maxConcurrentRequests: API, download */
	JMAP_USE_UPLOAD,	/* maxConcurrentUpload */
	JMAP_USE_PUSH,		/* jmap.max_eventsource */
	JMAP_USE_COUNT
};

struct jmap_server {
	const struct config *cfg;
	struct loops *loops;
	SSL_CTX *tls;
	struct jmap_env env;
	struct jobs *jobs;		/* store work */
	struct jobs *auth_jobs;		/* password checks */
	struct auth_throttle *throttle;
	struct jmap_bound *bound;	/* sockets of jmap_server_new */
	size_t nbound;
	struct jmap_front *fronts;	/* evhttp instances, when started */
	size_t nfronts;
	struct jmap_auth_cache *auth_cache;
	uint32_t id_base;

	pthread_mutex_t mu;	/* guards everything below */
	uint32_t next_id;
	struct jmap_acct_use **use;	/* per-account counters, hashed */
	size_t nuse;
	struct jmap_req *reqs;	/* every request alive (shutdown frees) */
	struct jmap_es **push;	/* EventSource connections by account */
	size_t npush;
};

/* one bound socket */
struct jmap_bound {
	int fd;			/* -1 once evhttp owns it */
	unsigned loop;
	bool tls;
	char name[NETADDR_STRLEN + 16];
};

/* one evhttp: one loop, TLS or not */
struct jmap_front {
	struct jmap_server *srv;
	struct loop *loop;
	struct evhttp *http;
	bool tls;
};

enum jmap_route {
	JMAP_R_NONE,
	JMAP_R_WELL_KNOWN,
	JMAP_R_SESSION,
	JMAP_R_API,
	JMAP_R_UPLOAD,
	JMAP_R_DOWNLOAD,
	JMAP_R_PUSH,
};

typedef void jmap_req_fn(struct jmap_req *r);

/* one HTTP request, from its arrival to its answer */
struct jmap_req {
	struct jmap_req *prev, *next;	/* srv->reqs */
	struct jmap_server *srv;
	struct jmap_front *fr;
	struct evhttp_request *req;	/* NULL once answered */
	enum jmap_route route;
	char id[16];			/* in the log */
	char ip[NETADDR_STRLEN];
	bool loopback;
	uint64_t started_us;
	/* authentication (jmap_auth.c) */
	struct buf user, key, pass;	/* pass wiped after the check */
	unsigned char digest[32];	/* the password cache's key */
	int auth_result;		/* the check: 1, 0, -1 */
	struct auth_throttle_verdict verdict;
	char error[200];
	uint32_t acct;
	char *username;			/* owned, once authenticated */
	char account_id[JMAP_ID_MAX];
	struct event *timer;		/* a delayed failure */
	jmap_req_fn *authed;		/* what runs once authenticated */
	unsigned held;			/* JMAP_USE_ bits taken */
	/* the work: owned by the job while it runs */
	struct evbuffer *in;		/* the request body */
	char *content_type;		/* of the body, owned */
	char *path_account;		/* upload/download: from the path */
	char *path_blob;
	char *path_name;
	char *query_type;		/* download ?type= */
	struct buf out;			/* the response body */
	int status;
	bool problem;			/* out is problem details */
	const char *out_type;		/* Content-Type of out (static) */
	char *disposition;		/* download: Content-Disposition */
};

/* jmap_http.c */
void jmap_reply_buf(struct jmap_req *r, int status, const char *ctype,
    struct buf *body);
void jmap_reply_json(struct jmap_req *r, int status, json_t *body);
void jmap_reply_problem(struct jmap_req *r, const struct jmap_problem *p);
/* jmap_reply_error - problem details of type about:blank with a title */
void jmap_reply_error(struct jmap_req *r, int status, const char *title);
void jmap_req_free(struct jmap_req *r);
/* jmap_base_url - cfg jmap.url, or scheme://Host of the request */
void jmap_base_url(struct jmap_req *r, struct buf *out);
/* jmap_run_job - work on a worker, then done on r's loop */
void jmap_run_job(struct jmap_req *r, struct jobs *j, job_fn *work,
    job_done_fn *done);
bool jmap_use_enter(struct jmap_server *s, uint32_t acct, enum jmap_use u,
    unsigned limit);
void jmap_use_leave(struct jmap_server *s, uint32_t acct, enum jmap_use u);

/* jmap_auth.c */
struct jmap_auth_cache *jmap_auth_cache_new(unsigned ttl);
void jmap_auth_cache_free(struct jmap_auth_cache **c);
/* jmap_auth - authenticate r, then r->authed(r); or answer r itself */
void jmap_auth(struct jmap_req *r);
void jmap_auth_wipe(struct jmap_req *r);

/* jmap_blob.c */
void jmap_upload(struct jmap_req *r);
void jmap_download(struct jmap_req *r);
/* jmap_blob_id_email - the blob id of an email's raw message */
void jmap_blob_id_email(uint32_t email, char out[JMAP_BLOB_ID_MAX]);

/* jmap_push.c */
void jmap_push_open(struct jmap_req *r);
/* jmap_push_free_all - at shutdown, after the evhttp instances went */
void jmap_push_free_all(struct jmap_server *s);

#endif
