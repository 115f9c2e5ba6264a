/*
 * smtp_data.h - sans-IO scanner for SMTP message content.
 *
 * DOT mode reads DATA content (RFC 5321 4.1.1.4, 4.5.2): dot-stuffed,
 * ended by CRLF "." CRLF.  RAW mode reads BDAT chunks (RFC 3030): no
 * stuffing, no terminator; the session counts chunk sizes.
 *
 * Only <CRLF>.<CRLF> ends DATA, and the start of the content counts as
 * following a CRLF (so ".\r\n" at once is an empty message).  "\n.\n",
 * "\r.\r", "\n.\r\n", "\r\n.\n" never end it (SMTP smuggling,
 * CVE-2023-51764).  A bare CR or LF sets bare_newline; with normalize the
 * scanner writes it as CRLF, without it the byte is kept as is (the
 * session then rejects the message at its end, so the copy is only a copy).
 *
 * Dot-unstuffing: a "." that starts a line begun after a real CRLF (or at
 * the start of the content) is removed, unless the line is exactly "."
 * CRLF, the terminator.  A line begun after a bare CR or LF is not
 * unstuffed: its leading dot is stored.  Stored content is re-stuffed on
 * the way out, so it can never turn into a terminator.
 *
 * Lines in out end in CRLF (with normalize, or when bare_newline is
 * false).  The state carries everything across calls: feeding an input
 * whole, in any two pieces or byte by byte gives the same output, flags
 * and end.
 */
#ifndef POSTERN_SMTP_DATA_H
#define POSTERN_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

enum smtp_data_mode {
	SMTP_DATA_DOT,	/* DATA: dot-stuffed, ends at CRLF.CRLF */
	SMTP_DATA_RAW,	/* BDAT: raw chunks */
};

/* the scanner's private state; only smtp_data.c looks at it */
enum smtp_data_state {
	SMTP_DATA_S_BOL,	/* at the start of a line after a real CRLF */
	SMTP_DATA_S_TEXT,	/* inside a line, or after a bare CR/LF */
	SMTP_DATA_S_CR,		/* a CR that may start a CRLF */
	SMTP_DATA_S_DOT,	/* "." at BOL */
	SMTP_DATA_S_DOT_CR,	/* "." CR at BOL */
	SMTP_DATA_S_END,	/* CRLF.CRLF seen */
};

/*
 * Everything below is read-only for the caller, set by smtp_data_init().
 * size counts the content octets as stored (unstuffed, normalized),
 * including those not written to out because of max_size.
 */
struct smtp_data {
	enum smtp_data_mode mode;
	bool normalize;
	uint64_t max_size;	/* 0 = no limit */
	uint64_t size;		/* content octets so far (saturating) */
	size_t line_len;	/* octets of the current line (capped) */
	enum smtp_data_state state;

	bool bare_newline;	/* a CR or LF not part of a CRLF */
	bool line_too_long;	/* a line over SMTP_DATA_LINE_MAX + CRLF */
	bool too_big;		/* size > max_size: out stopped growing */
	bool has_8bit;		/* an octet >= 0x80 */
	bool has_nul;		/* a NUL octet (stored) */
};

#define SMTP_DATA_LINE_MAX 998	/* RFC 5321 4.5.3.1.6, CRLF excluded */

void smtp_data_init(struct smtp_data *d, enum smtp_data_mode mode,
    bool normalize, uint64_t max_size);

/*
 * smtp_data_feed - scan in[0..len), appending content to out.
 *
 * PARSE_OK (DOT mode only): the terminator was found; *used_r counts the
 * bytes consumed up to and including its final LF.  The rest of in is the
 * next pipelined command and is not looked at.  Further calls return
 * PARSE_OK with *used_r 0.
 * PARSE_MORE: *used_r == len, or *used_r < len when out reached out->max
 * (the caller drains out and calls again with the rest).  out->max must be
 * 0 or at least 3.
 *
 * The bytes written to out over all calls are exactly the first
 * min(size, max_size) octets of the content: out never gets more than
 * max_size octets, whatever the caller drains.  The scan always goes on to
 * the real end so the session replies at the right moment.
 */
enum parse_res smtp_data_feed(struct smtp_data *d, const unsigned char *in,
    size_t len, struct buf *out, size_t *used_r);

/*
 * smtp_data_finish - end of the content in RAW mode (after BDAT LAST):
 * writes out a CR held back at the end of the last chunk (a bare CR).
 * -1 when out has no room for it (drain and call again); 0 otherwise.
 */
int smtp_data_finish(struct smtp_data *d, struct buf *out) WARN_UNUSED;

#endif
