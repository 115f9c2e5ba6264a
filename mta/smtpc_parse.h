/*
 * smtpc_parse.h - sans-IO parser for what an SMTP server sends to our
 * client: replies (RFC 5321 4.2), their enhanced status codes (RFC 3463,
 * RFC 2034) and the capabilities of an EHLO reply (RFC 5321 4.1.1.1).
 *
 * Bytes in, replies out; no I/O, no policy.  A struct smtpc_parser is fed
 * whatever arrived, in pieces of any size: it keeps the partial line and
 * the reply being read, so splitting the same bytes differently gives the
 * same replies.  Pipelined replies come out one per call.
 *
 * Decisions:
 *   - A line ends at LF; one CR right before the LF is dropped.  A bare LF
 *     is tolerated as a line end, as Postfix does for replies (the server
 *     is the one that broke the protocol, and the reply still means what
 *     it says).  Other bytes (a CR elsewhere, NUL, 8-bit) are kept in the
 *     text as they came: it is data, whoever logs it escapes it.
 *   - A code is three digits in 200..599 (1xx does not exist in SMTP;
 *     the second digit is not held to 0..5, as in Postfix).  After it
 *     comes "-" (more lines follow), " " or the end of the line (the
 *     last line).  Every line of one reply carries the same code.
 *   - The enhanced status code is taken from the first line only, and
 *     only when its class is the reply's first digit (2, 4, 5): "250
 *     5.1.0" has none.  It is never required (EHLO, greeting, servers
 *     without ENHANCEDSTATUSCODES).
 *   - Limits (struct smtpc_limits): a line longer than line_max, a reply
 *     of more than lines_max lines or more than reply_max bytes is
 *     PARSE_TOO_LONG.  RFC 5321 4.5.3.1.5 says 512 octets per reply line;
 *     real servers send more (long 5xx texts), so 4 KiB by default.
 *   - After PARSE_BAD or PARSE_TOO_LONG the parser is dead (every later
 *     call says the same): the replies are out of step with our commands
 *     and the connection must be closed.
 */
#ifndef POSTERN_SMTPC_PARSE_H
#define POSTERN_SMTPC_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

/* bytes of one line, CRLF excluded */
#define SMTPC_LINE_MAX_DEFAULT 4096
/* lines of one reply */
#define SMTPC_LINES_MAX_DEFAULT 1000
/* bytes of one reply, CRLFs included */
#define SMTPC_REPLY_MAX_DEFAULT (64 * 1024)
/* the most any of them may be */
#define SMTPC_LIMIT_MAX (16 * 1024 * 1024)

/* A zero field takes its default; values over SMTPC_LIMIT_MAX are cut to
 * it.  reply_max below line_max + 2 is raised to it. */
struct smtpc_limits {
	size_t line_max;
	size_t lines_max;
	size_t reply_max;
};

/* room for "5.999.999" and its NUL */
#define SMTPC_ENH_MAX 12

/*
 * struct smtpc_reply - one complete reply.  Owns text: release with
 * smtpc_reply_free().  A zeroed struct is an empty reply.
 */
struct smtpc_reply {
	unsigned code;		/* 200..599 */
	bool has_enh;		/* enh_* and enh are set */
	unsigned enh_class;	/* == code / 100 */
	unsigned enh_subject;	/* 0..999 */
	unsigned enh_detail;	/* 0..999 */
	char enh[SMTPC_ENH_MAX];	/* "5.1.1"; "" when !has_enh */
	size_t nlines;		/* >= 1 */
	/* each line's text after "ddd-" / "ddd " (enhanced codes kept),
	 * the lines joined with '\n'; holds any byte but LF */
	struct buf text;
};

void smtpc_reply_free(struct smtpc_reply *r);

/*
 * smtpc_reply_format - append the reply in one line for a log or a DSN
 * diagnostic: "550 5.1.1 first line second line"; the enhanced code
 * repeated at the start of later lines is left out, lines are joined with
 * one space.  Control characters are not escaped here.  -1 (out
 * unchanged) if out->max would be passed.
 */
int smtpc_reply_format(const struct smtpc_reply *r, struct buf *out)
    WARN_UNUSED;

struct smtpc_parser {
	struct smtpc_limits lim;	/* with defaults applied */
	struct buf line;		/* the current line, no LF seen yet */
	struct smtpc_reply cur;		/* the reply being read */
	size_t size;			/* bytes of cur so far */
	enum parse_res dead;		/* PARSE_MORE while alive */
	const char *why;		/* static: why it died */
};

/* smtpc_parser_init - lim may be NULL (the defaults) */
void smtpc_parser_init(struct smtpc_parser *p, const struct smtpc_limits *lim);
void smtpc_parser_free(struct smtpc_parser *p);
/* smtpc_parser_is_idle - nothing of a next reply has arrived yet */
bool smtpc_parser_is_idle(const struct smtpc_parser *p);

/*
 * smtpc_parse - consume bytes of in[0..len).
 *
 * PARSE_OK: a reply is complete; *reply (zeroed or an earlier reply,
 *   whose text is freed) now holds it; *used_r bytes were consumed, up to
 *   and including its last LF.  Call again with the rest: it may hold the
 *   next (pipelined) reply.
 * PARSE_MORE: every byte was consumed (*used_r == len) and kept.
 * PARSE_BAD / PARSE_TOO_LONG: *why_r says why ("bad reply code",
 *   "over-long reply line", ...); the parser is dead.
 * why_r may be NULL.  *reply is only touched on PARSE_OK.
 */
enum parse_res smtpc_parse(struct smtpc_parser *p, const unsigned char *in,
    size_t len, size_t *used_r, struct smtpc_reply *reply,
    const char **why_r);

/* ---- EHLO capabilities ---- */

#define SMTPC_EXT_STARTTLS		(1u << 0)	/* RFC 3207 */
#define SMTPC_EXT_PIPELINING		(1u << 1)	/* RFC 2920 */
#define SMTPC_EXT_SIZE			(1u << 2)	/* RFC 1870 */
#define SMTPC_EXT_8BITMIME		(1u << 3)	/* RFC 6152 */
#define SMTPC_EXT_SMTPUTF8		(1u << 4)	/* RFC 6531 */
#define SMTPC_EXT_CHUNKING		(1u << 5)	/* RFC 3030 */
#define SMTPC_EXT_BINARYMIME		(1u << 6)	/* RFC 3030 */
#define SMTPC_EXT_DSN			(1u << 7)	/* RFC 3461 */
#define SMTPC_EXT_ENHANCEDSTATUSCODES	(1u << 8)	/* RFC 2034 */
#define SMTPC_EXT_AUTH			(1u << 9)	/* RFC 4954 */
#define SMTPC_EXT_REQUIRETLS		(1u << 10)	/* RFC 8689 */

#define SMTPC_AUTH_PLAIN		(1u << 0)
#define SMTPC_AUTH_LOGIN		(1u << 1)
#define SMTPC_AUTH_CRAM_MD5		(1u << 2)
#define SMTPC_AUTH_SCRAM_SHA_1		(1u << 3)
#define SMTPC_AUTH_SCRAM_SHA_256	(1u << 4)
#define SMTPC_AUTH_XOAUTH2		(1u << 5)
#define SMTPC_AUTH_OAUTHBEARER		(1u << 6)
#define SMTPC_AUTH_EXTERNAL		(1u << 7)

#define SMTPC_EHLO_LINES_MAX	100	/* keyword lines looked at */
#define SMTPC_AUTH_MECHS_MAX	32	/* mechanism words looked at */

struct smtpc_ehlo {
	unsigned ext;		/* SMTPC_EXT_* */
	uint64_t size;		/* SIZE n; 0: no limit given or no SIZE */
	unsigned auth;		/* SMTPC_AUTH_*: "AUTH" and "AUTH=" */
	size_t nkeywords;	/* keyword lines looked at */
	bool truncated;		/* lines or mechanisms past the limits */
};

/*
 * smtpc_ehlo_parse - the capabilities of an EHLO reply: the lines after
 * the first (the server's name and greeting).  Keywords and mechanisms
 * are case-insensitive; unknown keywords and mechanisms are ignored, and
 * so are lines past SMTPC_EHLO_LINES_MAX and mechanisms past
 * SMTPC_AUTH_MECHS_MAX (truncated).  "SIZE" with a malformed number
 * counts as SIZE without a limit.  PARSE_BAD when the reply is not a
 * 250 (then *caps is zeroed); PARSE_OK otherwise.
 */
enum parse_res smtpc_ehlo_parse(const struct smtpc_reply *r,
    struct smtpc_ehlo *caps);

#endif
