/*
 * smtp_parse.h - sans-IO parsers for inbound SMTP command lines.
 *
 * RFC 5321 (commands, paths, limits), 1870 (SIZE), 6152 (8BITMIME),
 * 6531 (SMTPUTF8), 3030 (BDAT), 3461 (DSN parameters), 4954 (AUTH=).
 * Pure functions: bytes in, a result and a reply hint out; no I/O, no
 * allocation, no policy beyond the grammar.
 *
 * Ownership: struct smtp_cmd and the parameter structs hold views
 * (struct smtp_str) into the line passed to smtp_cmd_parse().  They are
 * valid only while that line is; copy what must outlive it.  Views are not
 * NUL-terminated.
 *
 * Errors: every PARSE_BAD fills a struct smtp_reply_hint whose strings are
 * static; the session sends "<code> <enh> <text>".
 */
#ifndef POSTERN_SMTP_PARSE_H
#define POSTERN_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

#define SMTP_CMD_LINE_MAX	510	/* 512 with CRLF, RFC 5321 4.5.3.1.4 */
#define SMTP_TEXT_LINE_MAX	998	/* 1000 with CRLF, 4.5.3.1.6 */
#define SMTP_LOCAL_MAX		64	/* 4.5.3.1.1 */
#define SMTP_DOMAIN_MAX		255	/* 4.5.3.1.2 */
#define SMTP_PATH_MAX		256	/* 4.5.3.1.3, "<" and ">" included */
#define SMTP_PARAMS_MAX		16
#define SMTP_ENVID_MAX		100	/* RFC 3461 4.4, value as sent */
#define SMTP_ORCPT_MAX		500	/* RFC 3461 4.2, value as sent */

/*
 * smtp_line_split - find one CRLF-terminated line of at most max bytes
 * (CRLF excluded) at the start of in[0..len).
 *
 * PARSE_OK: *line_len_r bytes of line, *used_r = line + CRLF.
 * PARSE_MORE: no LF yet and fewer than max + 2 bytes.
 * PARSE_BAD: a bare LF (not preceded by CR) ends the line.
 * PARSE_TOO_LONG: max + 2 bytes without LF; discard with smtp_line_skip().
 * The output parameters are only set on PARSE_OK.
 */
enum parse_res smtp_line_split(const unsigned char *in, size_t len,
    size_t max, size_t *line_len_r, size_t *used_r);

/*
 * smtp_line_skip - bytes up to and including the next LF, or len when
 * there is none (keep discarding until an LF arrives).
 */
size_t smtp_line_skip(const unsigned char *in, size_t len);

enum smtp_verb {
	SMTP_VERB_HELO,
	SMTP_VERB_EHLO,
	SMTP_VERB_MAIL,
	SMTP_VERB_RCPT,
	SMTP_VERB_DATA,
	SMTP_VERB_BDAT,
	SMTP_VERB_RSET,
	SMTP_VERB_NOOP,
	SMTP_VERB_QUIT,
	SMTP_VERB_VRFY,
	SMTP_VERB_EXPN,
	SMTP_VERB_HELP,
	SMTP_VERB_STARTTLS,
	SMTP_VERB_AUTH,
	SMTP_VERB_LHLO,		/* LMTP (RFC 2033); an SMTP server says 500 */
	SMTP_VERB_UNKNOWN,
};

/* smtp_verb_name - "HELO" ... "AUTH", "UNKNOWN" */
const char *smtp_verb_name(enum smtp_verb verb);

/* a view into the parsed line: not owned, not NUL-terminated */
struct smtp_str {
	const char *p;
	size_t len;
};

struct smtp_reply_hint {
	unsigned code;		/* 500, 501, 502, 504, 553 or 555 */
	const char *enh;	/* enhanced status code, "5.5.2" */
	const char *text;	/* static, no CRLF */
};

struct smtp_param {
	struct smtp_str key;	/* esmtp-keyword, matched case-insensitively */
	struct smtp_str value;	/* esmtp-value; len 0 when has_value false */
	bool has_value;
};

/*
 * struct smtp_path - a reverse-path or forward-path.  A source route
 * ("<@a,@b:u@c>") is checked and dropped.  mailbox is "local@domain"
 * exactly as sent (a quoted local part keeps its quotes and backslashes);
 * for <> every view is empty; for RCPT TO:<Postmaster> mailbox and local
 * are "Postmaster" (as sent) and domain is empty.
 */
struct smtp_path {
	struct smtp_str mailbox;
	struct smtp_str local;
	struct smtp_str domain;	/* a domain or "[address-literal]" */
	bool is_null;		/* "<>" (MAIL only) */
	bool is_postmaster;	/* "<Postmaster>", no domain (RCPT only) */
	bool is_literal;	/* domain is an address literal */
	bool is_quoted;		/* local part is a Quoted-string */
	bool has_utf8;		/* non-ASCII in mailbox: needs SMTPUTF8 */
};

/*
 * struct smtp_cmd - one parsed command line.
 *
 * HELO/EHLO: domain (a domain name, or an address literal "[192.0.2.1]",
 *   "[IPv6:2001:db8::1]" with is_literal set); ASCII only.
 * MAIL/RCPT: path, params[0..nparams).
 * BDAT: bdat_size, bdat_last.
 * VRFY/EXPN/HELP/NOOP/AUTH: arg, the raw text after the verb (empty when
 *   none; required for VRFY, EXPN and AUTH).
 * DATA/RSET/QUIT/STARTTLS: nothing (an argument is a 501).
 * arg is set for every verb to the text after the verb and its spaces.
 */
struct smtp_cmd {
	enum smtp_verb verb;
	struct smtp_str arg;
	struct smtp_str domain;
	bool is_literal;
	struct smtp_path path;
	struct smtp_param params[SMTP_PARAMS_MAX];
	size_t nparams;
	uint64_t bdat_size;
	bool bdat_last;
};

/*
 * smtp_cmd_parse - parse one command line (without its CRLF).
 *
 * Verbs and the "FROM:"/"TO:" keywords are case-insensitive.  Trailing
 * spaces are ignored, and so are spaces after "FROM:"/"TO:" (Postfix is
 * as lenient); the line must hold no control character (NUL included) and
 * only well-formed UTF-8.
 *
 * PARSE_OK with *cmd filled, or PARSE_BAD with *err_r:
 *   500 5.5.2  unrecognized verb, control character in the line
 *   501 5.5.2  malformed UTF-8 in the arguments
 *   501 5.5.4  bad or missing arguments, bad parameter syntax
 *   501 5.1.7  bad reverse-path (missing brackets included), too long
 *   501 5.1.3  bad forward-path (missing brackets included), too long
 *   502 5.5.1  known but not implemented: TURN ETRN ATRN SEND SOML SAML
 *              VERB XCLIENT XFORWARD (EXPN parses; the session says 502)
 */
enum parse_res smtp_cmd_parse(const char *line, size_t len,
    struct smtp_cmd *cmd, struct smtp_reply_hint *err_r);

/* smtp_domain_is_valid - Domain or address literal as in EHLO (ASCII) */
bool smtp_domain_is_valid(const char *s, size_t len);

/* extensions the session advertised: parameters of others are 555 */
#define SMTP_EXT_SIZE		(1u << 0)
#define SMTP_EXT_8BITMIME	(1u << 1)
#define SMTP_EXT_SMTPUTF8	(1u << 2)
#define SMTP_EXT_DSN		(1u << 3)
#define SMTP_EXT_AUTH		(1u << 4)
#define SMTP_EXT_ALL		((1u << 5) - 1)

enum smtp_body { SMTP_BODY_7BIT, SMTP_BODY_8BITMIME };
enum smtp_ret { SMTP_RET_NONE, SMTP_RET_FULL, SMTP_RET_HDRS };

struct smtp_mail_params {
	uint64_t size;		/* SIZE=, RFC 1870 */
	bool has_size;
	enum smtp_body body;	/* BODY=, 7BIT when absent */
	bool smtputf8;		/* SMTPUTF8, RFC 6531 */
	enum smtp_ret ret;	/* RET=, RFC 3461 */
	struct smtp_str envid;	/* ENVID=, raw xtext (<= SMTP_ENVID_MAX) */
	bool has_envid;
	struct smtp_str auth;	/* AUTH=, raw xtext ("<>" allowed) */
	bool has_auth;
};

#define SMTP_NOTIFY_NEVER	(1u << 0)
#define SMTP_NOTIFY_SUCCESS	(1u << 1)
#define SMTP_NOTIFY_FAILURE	(1u << 2)
#define SMTP_NOTIFY_DELAY	(1u << 3)

struct smtp_rcpt_params {
	unsigned notify;		/* SMTP_NOTIFY_*, 0 when absent */
	struct smtp_str orcpt_type;	/* ORCPT addr-type, "rfc822" */
	struct smtp_str orcpt_addr;	/* ORCPT raw xtext after ";" */
	bool has_orcpt;
};

/*
 * smtp_mail_params_parse - check cmd->params of a parsed MAIL command
 * against the extensions in ext (SMTP_EXT_*).
 *
 *   555 5.5.4  unknown parameter, one of an extension not in ext, repeated
 *   501 5.5.4  malformed value (SIZE digits, BODY, RET, xtext, lengths)
 *   504 5.5.4  BODY=BINARYMIME (not advertised, RFC 3030 needs CHUNKING
 *              and BINARYMIME)
 *   553 5.6.7  non-ASCII reverse-path without SMTPUTF8 (RFC 6531 3.7.4.1)
 * SIZE over the session's limit is policy (552 5.3.4), left to the caller.
 */
enum parse_res smtp_mail_params_parse(const struct smtp_cmd *cmd,
    unsigned ext, struct smtp_mail_params *p, struct smtp_reply_hint *err_r);

/*
 * smtp_rcpt_params_parse - the same for RCPT; smtputf8 says whether the
 * transaction's MAIL carried SMTPUTF8 (a non-ASCII forward-path without it
 * is 553 5.6.7).  NOTIFY=NEVER is exclusive with the other values; ORCPT
 * is addr-type ";" xtext (UTF-8 also allowed when addr-type is "utf-8",
 * RFC 6533).
 */
enum parse_res smtp_rcpt_params_parse(const struct smtp_cmd *cmd,
    unsigned ext, bool smtputf8, struct smtp_rcpt_params *p,
    struct smtp_reply_hint *err_r);

/*
 * smtp_xtext_decode - append the RFC 3461 xtext in[0..len) decoded ("+2B"
 * -> "+") to out; -1 when it is malformed or out->max would be passed
 * (out is then left unchanged).
 */
int smtp_xtext_decode(const char *in, size_t len, struct buf *out)
    WARN_UNUSED;

#endif
