/*
 * smtpc_data.h - the message as the SMTP client sends it: line ends made
 * CRLF, dot-stuffing for DATA (RFC 5321 4.5.2), the terminating
 * "<CRLF>.<CRLF>", and a scan of what the content needs of the next hop
 * (8BITMIME, RFC 6152; SMTPUTF8, RFC 6531; its exact size for BDAT,
 * RFC 3030, and SIZE, RFC 1870).
 *
 * Pure and streaming: bytes in, bytes appended to a struct buf; the
 * state carries what a chunk boundary may split (a CR waiting for its
 * LF, whether the next byte starts a line), so feeding the same bytes in
 * pieces of any size gives the same output.
 *
 * Decisions:
 *   - A bare LF and a bare CR each become CRLF ("a\rb" is two lines).
 *     RFC 5321 2.3.8 forbids them in SMTP; receivers differ in what they
 *     make of them (the "SMTP smuggling" of 2023 lives in that gap), so
 *     we never send one.  The DKIM signature is made over the normalised
 *     message, so it still verifies.
 *   - A message that does not end with a line end gets CRLF added: DATA
 *     needs it before the final dot, and BDAT sends the same bytes.
 *   - An empty message stays empty (DATA then sends ".\r\n" alone).
 *   - Normalising is idempotent: output fed again comes out unchanged
 *     (dot-stuffing aside), which is how the client dot-stuffs bytes it
 *     already normalised.
 */
#ifndef POSTERN_SMTPC_DATA_H
#define POSTERN_SMTPC_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct smtpc_data {
	bool stuff;		/* DATA: dot-stuff, end with ".\r\n" */
	bool bol;		/* the next byte starts a line */
	bool cr;		/* a CR was seen, its LF may come next */
	bool any;		/* a byte was fed */
};

/* smtpc_data_init - stuff: for DATA; false: line ends only (BDAT, DKIM) */
void smtpc_data_init(struct smtpc_data *d, bool stuff);
/* smtpc_data_feed - in[0..len) transformed, appended to out (no max) */
void smtpc_data_feed(struct smtpc_data *d, const unsigned char *in,
    size_t len, struct buf *out);
/* smtpc_data_end - the last line's end if missing, then (stuff) ".\r\n";
 * d may be fed again only after smtpc_data_init */
void smtpc_data_end(struct smtpc_data *d, struct buf *out);

/* what smtpc_scan found */
#define SMTPC_SCAN_8BIT_HEADER	0x1u	/* a byte >= 0x80 in the header */
#define SMTPC_SCAN_8BIT_BODY	0x2u	/* ... in the body */
#define SMTPC_SCAN_NUL		0x4u	/* a NUL byte (binary) */

struct smtpc_scan {
	unsigned flags;		/* SMTPC_SCAN_* */
	uint64_t size;		/* bytes fed */
	bool in_body;		/* the empty line was seen */
	bool bol;		/* the next byte starts a line */
	bool cr;		/* the last byte was a CR */
};

/* smtpc_scan_init / smtpc_scan_feed - over bytes already normalised by
 * smtpc_data (CRLF line ends): the header ends at the first empty line */
void smtpc_scan_init(struct smtpc_scan *s);
void smtpc_scan_feed(struct smtpc_scan *s, const unsigned char *in,
    size_t len);

#endif
