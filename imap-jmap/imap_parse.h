/*
 * imap_parse.h - sans-IO IMAP command parser: bytes in, typed commands out.
 *
 * Grammar: RFC 9051 (IMAP4rev2) and RFC 3501 (IMAP4rev1), with the
 * extensions Postern serves: LITERAL+/LITERAL- (7888), BINARY (3516),
 * MULTIAPPEND (3502), UTF8=ACCEPT (6855), ENABLE (5161), ID (2971),
 * UIDPLUS (4315), CONDSTORE/QRESYNC (7162), ESEARCH (4731), SEARCHRES
 * (5182), WITHIN (5032), SORT/THREAD (5256), ESORT (5267), SORT=DISPLAY
 * (5957), LIST-EXTENDED (5258), LIST-STATUS (5819), SPECIAL-USE and
 * CREATE-SPECIAL-USE (6154), QUOTA (9208), COMPRESS (4978), UNAUTHENTICATE
 * (8437), OBJECTID (8474), SAVEDATE (8514), PREVIEW (8970), NOTIFY (5465),
 * METADATA (5464), PARTIAL (9394, the paging MESSAGELIMIT (9738) points
 * clients to), UIDONLY (9586).
 *
 * Design decisions
 *
 * Two layers.  The framer (imap_parser_feed) only splits the byte stream
 * into commands: it collects the text of a command's lines and the data
 * of its literals, enforcing the size limits as the bytes arrive, without
 * knowing the grammar.  A line ends a command unless it ends in a literal
 * marker "{n}", "{n+}", "~{n}" or "~{n+}" outside a quoted string (the
 * framer tracks quotes so that "\"{5}" is not a literal).  When a command
 * is complete, a recursive-descent parser turns it into a tree of structs
 * (struct imap_cmd).  The grammar thus works on complete input and stays
 * a plain function, as the SMTP parser does; the framer is the only state
 * machine.
 *
 * Literals.  At a synchronising literal "{n}" the command so far is parsed
 * as a prefix: when it is already wrong, or the literal is over its limit,
 * the command is rejected there and no "+" is sent, so the client sends no
 * literal data (RFC 9051 7.5) and the next line is a new command.
 * Otherwise the feed returns IMAP_PARSE_CONTINUE: the caller sends its
 * "+ ..." line and feeds on.  A non-synchronising literal "{n+}" arrives
 * without waiting, so a rejected one must be read and thrown away to stay
 * in step (RFC 7888 4, 5): the error is reported at once, then the literal
 * and the rest of the command (further lines and "{n+}" literals) are
 * skipped, and the parser resumes at the next command.  With limits
 * .literal_minus set (LITERAL- advertised instead of LITERAL+) a "{n+}"
 * over 4096 octets is BAD [TOOBIG] and skipped.  Skipping is bounded by
 * .max_skip: past it, or for a literal announced larger, the error is
 * fatal (BYE).
 *
 * Literal limits depend on where the literal is, which the framer cannot
 * see: a literal over .max_literal triggers the same prefix parse, which
 * tells whether it is an APPEND message (limit .max_append, answer NO
 * [TOOBIG] per RFC 7889) or anything else (BAD [TOOBIG]).  Prefix parses
 * are bounded by .max_literals per command.
 *
 * Memory.  A command owns one arena: the AST, its strings, the command
 * text and the literal data (an APPEND message is not copied again); one
 * imap_cmd_free() releases it.  Between commands the parser holds no
 * buffer, so an idle connection costs sizeof(struct imap_parser) only.
 *
 * Strings in the AST are NUL-terminated copies (struct imap_str), so they
 * can be handed to C string APIs.  A literal used as a string may not hold
 * a NUL (RFC 9051 CHAR8 is %x01-ff): BAD.  Only APPEND message data and a
 * SETMETADATA literal8 value may hold NULs; an APPEND message in a plain
 * literal may too (leniency, as Dovecot: the store takes bytes).
 *
 * Mailbox names come as struct imap_mailbox: raw (as sent) and name (UTF-8).
 * Without UTF-8 mode (imap_parser_set_utf8: ENABLE UTF8=ACCEPT or
 * IMAP4rev2) a 7-bit name is modified UTF-7 (RFC 3501 5.1.3) and decoded;
 * invalid mUTF-7 is BAD.  A name with 8-bit octets is taken as UTF-8 in
 * either mode when it is valid UTF-8 (what clients mean; mUTF-7 is 7-bit,
 * so nothing is ambiguous), else BAD.  Any case of "INBOX" becomes
 * "INBOX" (RFC 9051 5.1).  List patterns are decoded the same way.
 *
 * Leniency, on purpose: a line may end in a bare LF (normalised, as
 * Dovecot and Cyrus do: test tools send them); empty lines between
 * commands are ignored (some clients send an extra CRLF after APPEND);
 * 8-bit octets are accepted in quoted strings and astring atoms as raw
 * bytes (RFC 9051 allows UTF-8 there; what a charset means is the
 * caller's business); QRESYNC accepts modseq 0.  Strict elsewhere: exactly
 * one SP between arguments, no trailing SP, nz-number has no leading zero,
 * numbers do not overflow, dates are checked against the calendar, a
 * backslash in a quoted string escapes only '"' and '\', unknown options,
 * modifiers, return options and search keys are BAD.
 *
 * Errors.  Every rejection fills struct imap_parse_error: a static reason
 * for the text of the reply, an optional response code (TOOBIG, USEATTR),
 * NO instead of BAD where an RFC says so, the tag when one could be read
 * (else the reply is "* BAD"), and whether the connection can go on or
 * must get "* BYE" and be closed.  The parser is never left in a state
 * where going on would misread the peer's bytes.
 *
 * Not the parser's business (the session's): which commands are valid in
 * which state; whether an extension used (QRESYNC, UIDONLY, UTF8 APPEND
 * data) was enabled; charset support ([BADCHARSET]); base64 decoding of
 * SASL data (the SASL code shared with SMTP does it); how many parsed
 * commands to queue while one runs (it stops feeding: the parser never
 * reads ahead of the command it returns); counting BADs to drop a client
 * that only sends garbage.
 */
#ifndef POSTERN_IMAP_PARSE_H
#define POSTERN_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

/* ---- limits ---- */

#define IMAP_TAG_MAX		128	/* longer tags get an untagged BAD */
#define IMAP_LITERAL_MINUS_MAX	4096	/* RFC 7888 5 */

struct imap_limits {
	size_t max_line;	/* a command's text, literal data excluded */
	uint64_t max_literal;	/* any literal but an APPEND message */
	uint64_t max_append;	/* one APPEND message */
	uint64_t max_command;	/* all bytes of one command, literals too */
	uint64_t max_skip;	/* bytes read and dropped to resync, then BYE */
	unsigned max_depth;	/* nesting: parentheses, NOT, OR */
	unsigned max_items;	/* elements of one list or sequence set */
	unsigned max_literals;	/* literals in one command */
	bool literal_minus;	/* LITERAL- semantics for "{n+}" */
};

/*
 * imap_limits_default - sane defaults.  Authenticated: line 64 KiB,
 * literal 64 KiB, APPEND message 50 MiB (the SMTP default), command
 * 100 MiB, skip 100 MiB, depth 100, items 100,000 (a 64 KiB line holds
 * at most ~30,000 numbers anyway), literals 1,000, LITERAL+.  Before
 * authentication: line and literal 8 KiB, no APPEND (max_append 0), command
 * 64 KiB, skip 64 KiB, depth 16, items 100, literals 16.
 */
void imap_limits_default(struct imap_limits *lim, bool authenticated);

/* ---- AST ---- */

/*
 * A string owned by the command's arena: p[len] == '\0'; p holds no NUL
 * unless documented (message data, metadata values).  An absent optional
 * string (NIL) has p == NULL.
 */
struct imap_str {
	const char *p;
	size_t len;
};

struct imap_mailbox {
	struct imap_str raw;	/* as sent */
	struct imap_str name;	/* UTF-8; "INBOX" for any case of it */
};

#define IMAP_SEQ_STAR	0	/* "*" in a sequence set (0 is never valid) */

/* one element of a sequence set, as sent: "5" is 5:5; "*:4" keeps lo > hi */
struct imap_seq_range {
	uint32_t lo, hi;
};

struct imap_seqset {
	const struct imap_seq_range *r;
	size_t n;
	bool saved;		/* "$" (SEARCHRES, RFC 5182); n == 0 */
};

struct imap_date {
	uint16_t year;
	uint8_t month;		/* 1..12 */
	uint8_t day;		/* 1..31, valid for the month */
};

struct imap_datetime {
	struct imap_date date;
	uint8_t hour, min, sec;	/* sec may be 60 */
	int16_t zone;		/* minutes east of UTC */
};

/* imap_datetime_to_unix - seconds since the epoch (UTC) */
int64_t imap_datetime_to_unix(const struct imap_datetime *dt);

#define IMAP_FLAG_ANSWERED	(1u << 0)
#define IMAP_FLAG_FLAGGED	(1u << 1)
#define IMAP_FLAG_DELETED	(1u << 2)
#define IMAP_FLAG_SEEN		(1u << 3)
#define IMAP_FLAG_DRAFT		(1u << 4)

/*
 * Flags of STORE and APPEND: system flags as bits, keywords as sent.
 * "\Recent" and unknown "\Flag"s are BAD (they cannot be set).
 */
struct imap_flags {
	unsigned sys;			/* IMAP_FLAG_* */
	const struct imap_str *kw;
	size_t nkw;
};

/* PARTIAL range (RFC 9394): lo:hi, or -lo:-hi counted from the end */
struct imap_partial {
	bool from_end;
	uint32_t lo, hi;	/* as sent, both >= 1 */
};

/* -- FETCH -- */

enum imap_fetch_kind {
	IMAP_FETCH_ENVELOPE,
	IMAP_FETCH_FLAGS,
	IMAP_FETCH_INTERNALDATE,
	IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_BODY,		/* BODY without section */
	IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_UID,
	IMAP_FETCH_BODY_SECTION,	/* BODY[...], BODY.PEEK[...] */
	IMAP_FETCH_BINARY,		/* BINARY[...], BINARY.PEEK[...] */
	IMAP_FETCH_BINARY_SIZE,
	IMAP_FETCH_RFC822,		/* IMAP4rev1 */
	IMAP_FETCH_RFC822_HEADER,
	IMAP_FETCH_RFC822_TEXT,
	IMAP_FETCH_MODSEQ,
	IMAP_FETCH_EMAILID,
	IMAP_FETCH_THREADID,
	IMAP_FETCH_SAVEDATE,
	IMAP_FETCH_PREVIEW,
};

enum imap_section_text {
	IMAP_SECTION_NONE,		/* [] or [1.2] */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,		/* only after a part number */
};

struct imap_section {
	const uint32_t *part;		/* part numbers, each >= 1 */
	size_t npart;
	enum imap_section_text text;
	const struct imap_str *field;	/* HEADER.FIELDS[.NOT] names */
	size_t nfield;
	/* the section-spec without the field list, upper case ("1.2.MIME",
	 * "HEADER.FIELDS.NOT", ""): what store/mime.h mime_section() takes */
	struct imap_str spec;
};

struct imap_fetch_att {
	enum imap_fetch_kind kind;
	bool peek;			/* BODY.PEEK, BINARY.PEEK */
	bool lazy;			/* PREVIEW (LAZY) */
	struct imap_section section;	/* BODY_SECTION, BINARY* */
	bool has_partial;		/* <off.len>, BODY_SECTION/BINARY */
	uint64_t partial_off, partial_len;	/* len >= 1 */
};

/* -- SEARCH, SORT, THREAD -- */

enum imap_skey_kind {
	IMAP_SK_AND,		/* kids: "(" ... ")" and the whole program */
	IMAP_SK_OR,		/* kids: two */
	IMAP_SK_NOT,		/* kids: one */
	/* no argument */
	IMAP_SK_ALL, IMAP_SK_ANSWERED, IMAP_SK_DELETED, IMAP_SK_DRAFT,
	IMAP_SK_FLAGGED, IMAP_SK_NEW, IMAP_SK_OLD, IMAP_SK_RECENT,
	IMAP_SK_SEEN, IMAP_SK_UNANSWERED, IMAP_SK_UNDELETED,
	IMAP_SK_UNDRAFT, IMAP_SK_UNFLAGGED, IMAP_SK_UNSEEN,
	IMAP_SK_SAVEDATESUPPORTED,
	/* str */
	IMAP_SK_BCC, IMAP_SK_BODY, IMAP_SK_CC, IMAP_SK_FROM,
	IMAP_SK_SUBJECT, IMAP_SK_TEXT, IMAP_SK_TO,
	IMAP_SK_KEYWORD, IMAP_SK_UNKEYWORD,	/* str: a flag keyword atom */
	IMAP_SK_EMAILID, IMAP_SK_THREADID,	/* str: an objectid */
	IMAP_SK_HEADER,				/* str: field, str2: value */
	/* date */
	IMAP_SK_BEFORE, IMAP_SK_ON, IMAP_SK_SINCE,
	IMAP_SK_SENTBEFORE, IMAP_SK_SENTON, IMAP_SK_SENTSINCE,
	IMAP_SK_SAVEDBEFORE, IMAP_SK_SAVEDON, IMAP_SK_SAVEDSINCE,
	/* num */
	IMAP_SK_LARGER, IMAP_SK_SMALLER,	/* number64 */
	IMAP_SK_OLDER, IMAP_SK_YOUNGER,		/* seconds, >= 1 */
	IMAP_SK_MODSEQ,		/* num (may be 0); str: entry, see below */
	/* set */
	IMAP_SK_SEQSET,		/* message numbers (or "$") */
	IMAP_SK_UID,
};

enum imap_entry_type { IMAP_ENTRY_PRIV, IMAP_ENTRY_SHARED, IMAP_ENTRY_ALL };

struct imap_skey {
	enum imap_skey_kind kind;
	const struct imap_skey *kids;	/* AND, OR, NOT: first child */
	const struct imap_skey *next;	/* next sibling */
	size_t nkids;
	struct imap_str str, str2;
	struct imap_date date;
	uint64_t num;
	struct imap_seqset set;
	/* MODSEQ "/flags/<flag>" entry: str is the flag, as sent */
	bool has_entry;
	enum imap_entry_type entry_type;
};

#define IMAP_SRET_MIN		(1u << 0)
#define IMAP_SRET_MAX		(1u << 1)
#define IMAP_SRET_ALL		(1u << 2)
#define IMAP_SRET_COUNT		(1u << 3)
#define IMAP_SRET_SAVE		(1u << 4)
#define IMAP_SRET_PARTIAL	(1u << 5)

/* RETURN (...) of SEARCH (ESEARCH, RFC 4731) and SORT (ESORT) */
struct imap_search_ret {
	bool present;		/* RETURN given: answer ESEARCH */
	unsigned opts;		/* IMAP_SRET_*; 0 with present = ALL */
	struct imap_partial partial;
};

enum imap_sort_key {
	IMAP_SORT_ARRIVAL, IMAP_SORT_CC, IMAP_SORT_DATE, IMAP_SORT_FROM,
	IMAP_SORT_SIZE, IMAP_SORT_SUBJECT, IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM, IMAP_SORT_DISPLAYTO,
};

struct imap_sort_crit {
	enum imap_sort_key key;
	bool reverse;
};

enum imap_thread_alg {
	IMAP_THREAD_ORDEREDSUBJECT, IMAP_THREAD_REFERENCES, IMAP_THREAD_OTHER,
};

/* SEARCH, SORT and THREAD */
struct imap_search {
	struct imap_search_ret ret;
	bool has_charset;	/* always true for SORT and THREAD */
	struct imap_str charset;
	const struct imap_skey *key;	/* IMAP_SK_AND of the program */
	const struct imap_sort_crit *crit;	/* SORT */
	size_t ncrit;
	enum imap_thread_alg alg;	/* THREAD */
	struct imap_str alg_name;	/* THREAD, as sent */
};

/* -- the other commands -- */

struct imap_auth {
	struct imap_str mech;	/* as sent; compare case-insensitively */
	bool has_ir;		/* SASL-IR initial response given */
	struct imap_str ir;	/* base64 as sent (checked); "" for "=" */
};

struct imap_login {
	struct imap_str user, pass;
};

struct imap_strlist {
	const struct imap_str *v;
	size_t n;
};

/* ID: n pairs; val[i].p == NULL for NIL; nil for "ID NIL" */
struct imap_id {
	bool nil;
	const struct imap_str *key, *val;
	size_t n;
};

struct imap_select {
	struct imap_mailbox mbox;
	bool has_params;	/* "(...)" given, even empty */
	bool condstore;
	bool qresync;
	uint32_t uidvalidity;	/* QRESYNC */
	uint64_t modseq;
	bool has_known_uids;
	struct imap_seqset known_uids;
	bool has_seq_match;
	struct imap_seqset match_seq, match_uid;
};

#define IMAP_USE_ALL		(1u << 0)
#define IMAP_USE_ARCHIVE	(1u << 1)
#define IMAP_USE_DRAFTS		(1u << 2)
#define IMAP_USE_FLAGGED	(1u << 3)
#define IMAP_USE_JUNK		(1u << 4)
#define IMAP_USE_SENT		(1u << 5)
#define IMAP_USE_TRASH		(1u << 6)
#define IMAP_USE_IMPORTANT	(1u << 7)	/* RFC 8457 */

struct imap_create {
	struct imap_mailbox mbox;
	bool has_use;		/* (USE (...)) given */
	unsigned use;		/* IMAP_USE_* */
};

struct imap_rename {
	struct imap_mailbox from, to;
};

#define IMAP_LSEL_SUBSCRIBED		(1u << 0)
#define IMAP_LSEL_REMOTE		(1u << 1)
#define IMAP_LSEL_RECURSIVEMATCH	(1u << 2)
#define IMAP_LSEL_SPECIAL_USE		(1u << 3)

#define IMAP_LRET_SUBSCRIBED	(1u << 0)
#define IMAP_LRET_CHILDREN	(1u << 1)
#define IMAP_LRET_SPECIAL_USE	(1u << 2)
#define IMAP_LRET_STATUS	(1u << 3)

#define IMAP_STATUS_MESSAGES		(1u << 0)
#define IMAP_STATUS_RECENT		(1u << 1)
#define IMAP_STATUS_UIDNEXT		(1u << 2)
#define IMAP_STATUS_UIDVALIDITY		(1u << 3)
#define IMAP_STATUS_UNSEEN		(1u << 4)
#define IMAP_STATUS_DELETED		(1u << 5)
#define IMAP_STATUS_SIZE		(1u << 6)
#define IMAP_STATUS_HIGHESTMODSEQ	(1u << 7)
#define IMAP_STATUS_MAILBOXID		(1u << 8)
#define IMAP_STATUS_APPENDLIMIT		(1u << 9)
#define IMAP_STATUS_DELETED_STORAGE	(1u << 10)

/*
 * LIST and LSUB.  extended: any LIST-EXTENDED syntax was used (select
 * options, a parenthesised pattern list or RETURN), RFC 5258 3.
 */
struct imap_list {
	bool has_sel, has_ret, pat_list, extended;
	unsigned sel;		/* IMAP_LSEL_* */
	unsigned ret;		/* IMAP_LRET_* */
	unsigned status;	/* IMAP_STATUS_*, with IMAP_LRET_STATUS */
	struct imap_mailbox ref;
	const struct imap_mailbox *pat;
	size_t npat;		/* >= 1; LSUB: 1 */
};

struct imap_status {
	struct imap_mailbox mbox;
	unsigned items;		/* IMAP_STATUS_*, never 0 */
};

/* one message of APPEND: data may hold NULs */
struct imap_append_msg {
	bool has_flags;
	struct imap_flags flags;
	bool has_date;
	struct imap_datetime date;
	struct imap_str data;
	bool binary;		/* sent as literal8 */
	bool utf8;		/* UTF8 (~{n}) data item (RFC 6855 4) */
};

struct imap_append {
	struct imap_mailbox mbox;
	const struct imap_append_msg *msg;
	size_t nmsg;		/* > 1: MULTIAPPEND */
};

enum imap_store_op { IMAP_STORE_SET, IMAP_STORE_ADD, IMAP_STORE_REMOVE };

struct imap_store {
	struct imap_seqset set;
	bool has_unchangedsince;
	uint64_t unchangedsince;
	enum imap_store_op op;
	bool silent;
	bool paren;		/* flags sent in a list, "(...)" */
	struct imap_flags flags;
};

struct imap_fetch {
	struct imap_seqset set;
	const struct imap_fetch_att *att;
	size_t natt;		/* >= 1; macros are expanded */
	bool paren;		/* attributes sent in a list */
	bool has_changedsince;
	uint64_t changedsince;
	bool vanished;		/* only with UID and CHANGEDSINCE */
	bool has_partial;
	struct imap_partial partial;
};

/* COPY, MOVE; UID EXPUNGE uses set only */
struct imap_copy {
	struct imap_seqset set;
	struct imap_mailbox mbox;
};

struct imap_quota_res {
	struct imap_str name;	/* as sent: STORAGE, MESSAGE, ... */
	uint64_t limit;
};

/* GETQUOTA, SETQUOTA: root; GETQUOTAROOT: mbox */
struct imap_quota {
	struct imap_str root;
	struct imap_mailbox mbox;
	const struct imap_quota_res *res;
	size_t nres;
};

enum imap_notify_filter {
	IMAP_NOTIFY_SELECTED, IMAP_NOTIFY_SELECTED_DELAYED,
	IMAP_NOTIFY_INBOXES, IMAP_NOTIFY_PERSONAL, IMAP_NOTIFY_SUBSCRIBED,
	IMAP_NOTIFY_SUBTREE, IMAP_NOTIFY_MAILBOXES,
};

#define IMAP_NEV_MESSAGE_NEW		(1u << 0)
#define IMAP_NEV_MESSAGE_EXPUNGE	(1u << 1)
#define IMAP_NEV_FLAG_CHANGE		(1u << 2)
#define IMAP_NEV_ANNOTATION_CHANGE	(1u << 3)
#define IMAP_NEV_MAILBOX_NAME		(1u << 4)
#define IMAP_NEV_SUBSCRIPTION_CHANGE	(1u << 5)
#define IMAP_NEV_MAILBOX_METADATA	(1u << 6)
#define IMAP_NEV_SERVER_METADATA	(1u << 7)
#define IMAP_NEV_QUOTA_CHANGE		(1u << 8)

/*
 * One event group of NOTIFY SET.  The RFC 5465 5 dependencies
 * (FlagChange needs MessageNew and MessageExpunge, ...) are checked.
 * Events the grammar allows but we do not know are kept in unknown: the
 * session answers NO [BADEVENT] (RFC 5465 3.1).
 */
struct imap_notify_group {
	enum imap_notify_filter filter;
	const struct imap_mailbox *mbox;	/* SUBTREE, MAILBOXES */
	size_t nmbox;
	bool mbox_list;			/* mailboxes in "(...)" */
	bool none;			/* events NONE */
	unsigned events;		/* IMAP_NEV_* */
	const struct imap_fetch_att *fetch;	/* MessageNew (...) */
	size_t nfetch;
	struct imap_strlist unknown;
};

struct imap_notify {
	bool none;			/* NOTIFY NONE */
	bool status;			/* SET STATUS */
	const struct imap_notify_group *group;
	size_t ngroup;
};

enum imap_meta_depth {
	IMAP_META_DEPTH_0, IMAP_META_DEPTH_1, IMAP_META_DEPTH_INFINITY,
};

/* GETMETADATA and SETMETADATA; entry names are checked (RFC 5464 3.2) */
struct imap_meta_entry {
	struct imap_str name;
	struct imap_str value;	/* SETMETADATA; p NULL for NIL; may hold NUL
				 * when binary */
	bool binary;		/* sent as literal8 */
};

struct imap_metadata {
	bool has_maxsize;
	uint32_t maxsize;
	bool has_depth;
	enum imap_meta_depth depth;
	struct imap_mailbox mbox;	/* "" for server metadata */
	const struct imap_meta_entry *entry;
	size_t nentry;
	bool entry_list;	/* GETMETADATA entries in "(...)" */
};

/* a line read in IMAP_EXPECT_SASL mode */
struct imap_sasl {
	bool cancel;		/* "*" */
	struct imap_str data;	/* base64 as sent (checked); "" allowed */
};

enum imap_cmd_kind {
	IMAP_CMD_CAPABILITY,
	IMAP_CMD_NOOP,
	IMAP_CMD_LOGOUT,
	IMAP_CMD_ID,
	IMAP_CMD_STARTTLS,
	IMAP_CMD_AUTHENTICATE,
	IMAP_CMD_LOGIN,
	IMAP_CMD_ENABLE,
	IMAP_CMD_SELECT,
	IMAP_CMD_EXAMINE,
	IMAP_CMD_CREATE,
	IMAP_CMD_DELETE,
	IMAP_CMD_RENAME,
	IMAP_CMD_SUBSCRIBE,
	IMAP_CMD_UNSUBSCRIBE,
	IMAP_CMD_LIST,
	IMAP_CMD_LSUB,
	IMAP_CMD_NAMESPACE,
	IMAP_CMD_STATUS,
	IMAP_CMD_APPEND,
	IMAP_CMD_IDLE,
	IMAP_CMD_CHECK,
	IMAP_CMD_CLOSE,
	IMAP_CMD_UNSELECT,
	IMAP_CMD_EXPUNGE,	/* uid: UID EXPUNGE with u.copy.set */
	IMAP_CMD_SEARCH,
	IMAP_CMD_FETCH,
	IMAP_CMD_STORE,
	IMAP_CMD_COPY,
	IMAP_CMD_MOVE,
	IMAP_CMD_SORT,
	IMAP_CMD_THREAD,
	IMAP_CMD_GETQUOTA,
	IMAP_CMD_GETQUOTAROOT,
	IMAP_CMD_SETQUOTA,
	IMAP_CMD_COMPRESS,
	IMAP_CMD_UNAUTHENTICATE,
	IMAP_CMD_NOTIFY,
	IMAP_CMD_GETMETADATA,
	IMAP_CMD_SETMETADATA,
	/* not commands: the lines of the expect modes (no tag) */
	IMAP_CMD_DONE,		/* "DONE" ending IDLE */
	IMAP_CMD_SASL,		/* an AUTHENTICATE response, u.sasl */
};

/* imap_cmd_name - "FETCH", ... (no "UID "), "DONE", "SASL" */
const char *imap_cmd_name(enum imap_cmd_kind kind);

struct imap_arena;

/*
 * struct imap_cmd - one parsed command.  Everything it points to lives in
 * its arena; imap_cmd_free() releases all of it.  The union member in use
 * follows kind:
 *   AUTHENTICATE auth; LOGIN login; ENABLE enable (capability atoms);
 *   ID id; SELECT/EXAMINE select; CREATE create; DELETE, SUBSCRIBE,
 *   UNSUBSCRIBE mbox; RENAME rename; LIST/LSUB list; STATUS status;
 *   APPEND append; SEARCH/SORT/THREAD search; FETCH fetch; STORE store;
 *   COPY/MOVE, UID EXPUNGE copy; GETQUOTA/GETQUOTAROOT/SETQUOTA quota;
 *   COMPRESS compress (the algorithm atom); NOTIFY notify;
 *   GETMETADATA/SETMETADATA meta; SASL sasl; the rest nothing.
 */
struct imap_cmd {
	enum imap_cmd_kind kind;
	struct imap_str tag;	/* empty for DONE and SASL */
	bool uid;		/* "UID " prefix */
	union {
		struct imap_auth auth;
		struct imap_login login;
		struct imap_strlist enable;
		struct imap_id id;
		struct imap_select select;
		struct imap_create create;
		struct imap_mailbox mbox;
		struct imap_rename rename;
		struct imap_list list;
		struct imap_status status;
		struct imap_append append;
		struct imap_search search;
		struct imap_fetch fetch;
		struct imap_store store;
		struct imap_copy copy;
		struct imap_quota quota;
		struct imap_str compress;
		struct imap_notify notify;
		struct imap_metadata meta;
		struct imap_sasl sasl;
	} u;
	struct imap_arena *arena;	/* owns all of the above */
	size_t size;			/* bytes of the command on the wire */
};

/* imap_cmd_free - release cmd and all it points to; accepts NULL */
void imap_cmd_free(struct imap_cmd **cmd);

/*
 * imap_cmd_uses_msn - true when cmd refers to messages by sequence
 * number: FETCH, STORE, COPY, MOVE, SEARCH, SORT, THREAD without UID, a
 * sequence-set search key, QRESYNC's seq-match-data.  Under UIDONLY
 * (RFC 9586 3) the session answers those BAD [UIDREQUIRED].
 */
bool imap_cmd_uses_msn(const struct imap_cmd *cmd);

/* ---- the parser ---- */

struct imap_parser;

/* imap_parser_new - lim NULL: imap_limits_default(, false) */
struct imap_parser *imap_parser_new(const struct imap_limits *lim);
/* imap_parser_free - accepts NULL, sets *p to NULL */
void imap_parser_free(struct imap_parser **p);

/* imap_parser_set_limits - new limits from the next command on (after
 * authentication, say); call between commands only */
void imap_parser_set_limits(struct imap_parser *p,
    const struct imap_limits *lim);

/* imap_parser_set_utf8 - mailbox names are UTF-8 (UTF8=ACCEPT enabled,
 * or IMAP4rev2), not modified UTF-7 */
void imap_parser_set_utf8(struct imap_parser *p, bool on);

enum imap_expect {
	IMAP_EXPECT_COMMAND,	/* the default */
	IMAP_EXPECT_DONE,	/* after "+ idling": the DONE line */
	IMAP_EXPECT_SASL,	/* after "+ <challenge>": one SASL line */
};

/*
 * imap_parser_expect - how to read the next line (call between commands):
 * DONE gives IMAP_CMD_DONE or an untagged error ("Expected DONE": the
 * session ends IDLE with the IDLE's tag); SASL gives IMAP_CMD_SASL or an
 * untagged "Invalid base64" (the session fails the AUTHENTICATE).  Either
 * mode falls back to COMMAND after one line, or after any error in it
 * ("Line too long" included): an error in an expect mode ends the IDLE
 * or AUTHENTICATE.  No literal is recognised in these lines.
 */
void imap_parser_expect(struct imap_parser *p, enum imap_expect e);

/* imap_parser_is_idle - no command is partly read (safe to change modes,
 * limits or to start TLS/COMPRESS on the stream) */
bool imap_parser_is_idle(const struct imap_parser *p);

enum imap_parse_ev {
	IMAP_PARSE_MORE,	/* all input used; feed more */
	IMAP_PARSE_CMD,		/* *cmd_r: a command, the caller owns it */
	IMAP_PARSE_CONTINUE,	/* send "+ ..." now, then feed the rest */
	IMAP_PARSE_BAD,		/* *err_r: reply, then feed the rest */
};

struct imap_parse_error {
	const char *text;	/* static, no CRLF */
	const char *code;	/* "TOOBIG", ... without brackets, or NULL */
	bool is_no;		/* tagged NO, not BAD (needs a tag) */
	bool fatal;		/* "* BYE text", then close */
	bool has_tag;		/* tagged reply, else "* BAD" */
	const char *tag;	/* NUL-terminated; valid until the next call */
	size_t tag_len;
};

/*
 * imap_parser_feed - take in[0..len) as the next bytes from the client.
 * *used_r is how many were taken; the caller drops them and calls again
 * with the rest (and more) until MORE.  The parser stops at each event
 * and never takes bytes past the end of the command it returns, so the
 * caller may stop feeding (pipelined commands wait in its input buffer)
 * or switch the stream (STARTTLS, COMPRESS) after a command.
 *
 * CMD: *cmd_r set; free it with imap_cmd_free().  CONTINUE: a
 * synchronising literal was accepted; write the continuation request.
 * BAD: *err_r filled; reply, and if err_r->fatal send BYE and close (any
 * further call returns the same error).  After a non-fatal error the
 * parser has resynchronised (or is skipping the rest of the command by
 * itself).
 */
enum imap_parse_ev imap_parser_feed(struct imap_parser *p,
    const unsigned char *in, size_t len, size_t *used_r,
    struct imap_cmd **cmd_r, struct imap_parse_error *err_r);

/* ---- modified UTF-7 (RFC 3501 5.1.3) ---- */

/*
 * imap_mutf7_decode - append the UTF-8 form of the mUTF-7 name
 * in[0..len) to out.  -1 (out unchanged) when it is not canonical mUTF-7:
 * 8-bit or control octets, an unterminated or empty "&...-" shift other
 * than "&-", printable ASCII encoded, bad padding, unpaired surrogates,
 * U+0000, two adjacent shifts, or out->max passed.
 */
int imap_mutf7_decode(const char *in, size_t len, struct buf *out)
    WARN_UNUSED;

/*
 * imap_mutf7_encode - append the mUTF-7 form of the UTF-8 name
 * in[0..len) to out; -1 (out unchanged) when in is not valid UTF-8 or
 * holds U+0000, or out->max would be passed.
 */
int imap_mutf7_encode(const char *in, size_t len, struct buf *out)
    WARN_UNUSED;

/* imap_utf8_is_valid - well-formed UTF-8 (RFC 3629), NUL allowed */
bool imap_utf8_is_valid(const char *s, size_t len);

/* ---- response writing (imap_write.c) ---- */

/*
 * The server's side of the grammar.  out is our own buffer (max 0): these
 * cannot fail.  utf8: the client accepts UTF-8 in quoted strings
 * (UTF8=ACCEPT or IMAP4rev2); else 8-bit text goes out as a literal.
 */

#define IMAP_QUOTED_MAX	1024	/* longer strings go out as literals */

/* imap_write_string - quoted when possible, else a literal "{n}" */
void imap_write_string(struct buf *out, const char *s, size_t len,
    bool utf8);
/* imap_write_nstring - NIL for s == NULL */
void imap_write_nstring(struct buf *out, const char *s, size_t len,
    bool utf8);
/* imap_write_astring - an atom when it is one (and not NIL), else as
 * imap_write_string */
void imap_write_astring(struct buf *out, const char *s, size_t len,
    bool utf8);
/* imap_write_literal - "{n}" CRLF data, or "~{n}" with binary */
void imap_write_literal(struct buf *out, const char *s, size_t len,
    bool binary);
/*
 * imap_write_mailbox - a UTF-8 mailbox name as an astring: encoded to
 * mUTF-7 unless utf8.  A name that is not valid UTF-8 (it cannot come from
 * the store) is written as is.
 */
void imap_write_mailbox(struct buf *out, const char *name, size_t len,
    bool utf8);
/* imap_write_u64 - a number in decimal */
void imap_write_u64(struct buf *out, uint64_t v);
/* imap_write_seqset - a sequence set as parsed ("$", "*", ranges) */
void imap_write_seqset(struct buf *out, const struct imap_seqset *set);
/*
 * imap_write_uidset - the numbers v[0..n) (ascending, no 0) as a compact
 * set: runs become ranges ("1:3,5,7:9"); duplicates are dropped; n == 0
 * writes nothing.  For COPYUID, ESEARCH ALL, VANISHED.
 */
void imap_write_uidset(struct buf *out, const uint32_t *v, size_t n);

/*
 * imap_cmd_write - the command cmd written back as a client would send
 * it, with CRLF, and "{n}" literals where a string needs one.  Canonical
 * (upper-case keywords, macros expanded): parsing the output gives a
 * command that writes the same text.  For tests, fuzzing and logs.
 */
void imap_cmd_write(struct buf *out, const struct imap_cmd *cmd);

#endif
