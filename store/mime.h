/*
 * mime.h - parse a raw message once, at delivery, into everything IMAP and
 * JMAP serve later without looking at the MIME structure again.
 *
 * mime_parse() runs GMime over the raw RFC 5322 message and returns a
 * plain C struct (no GMime type leaks out): the top-level header summary
 * (raw and decoded), the IMAP ENVELOPE, BODY and BODYSTRUCTURE strings
 * exactly as the server sends them, a tree of parts with the byte offsets
 * of every part's header and body in the raw message (so BODY[1.2.MIME],
 * BODY[1.2] and BINARY[1.2] are slices of the blob), the text for the
 * full-text index, the JMAP preview, hasAttachment and the
 * textBody/htmlBody/attachments lists, and the RFC 5256 base subject.
 * mime_info_encode()/mime_info_decode() turn it into a compact versioned
 * value for the kv store and back.
 *
 * Bad MIME is stored and served as-is, never rejected or crashed on:
 * mime_parse() fails only on internal errors.  A message GMime cannot make
 * sense of (no header at all, empty input) still yields one text/plain
 * part covering the body (MIME_FALLBACK).  Limits never fail the parse
 * either: what is over a limit is left undescribed and a MIME_TRUNC_* flag
 * says so.
 *
 * Offsets index the exact bytes given to mime_parse(); sizes in
 * BODYSTRUCTURE are raw byte counts.  A message with bare LF line ends
 * (MIME_BARE_LF) is described as it is: normalise it to CRLF before
 * storing and parsing if IMAP is to send it unchanged.
 *
 * Strings are NUL-terminated and never contain NUL (NUL bytes of the
 * message are dropped from extracted strings).  Fields documented as
 * UTF-8 are valid UTF-8; "raw" fields are the header bytes unfolded
 * (CR and LF removed) and trimmed, possibly 8-bit.  Everything belongs to
 * the struct mime_info and lives until mime_info_free().
 *
 * Thread safety: mime_parse() and the helpers may run on any number of
 * threads at once (GMime is initialised once per process, its parser
 * options are immutable after that).  They block on nothing but CPU.
 */
#ifndef POSTERN_MIME_H
#define POSTERN_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

#define MIME_NONE UINT32_MAX		/* "no part" index */

struct mime_arena;

/*
 * Limits.  A zero field takes the default.  max_parts and max_depth bound
 * what is described; max_parts, max_header and max_fields also bound what
 * GMime is shown, and so its memory (about 1.3 KiB per part and 0.5 KiB
 * per header field): see mime_prescan.c.  max_text bounds the work spent
 * on text (see mime_text.c).
 */
struct mime_limits {
	uint32_t max_parts;	/* parts described, root included (1000) */
	uint32_t max_depth;	/* nesting levels described (50) */
	uint32_t max_header;	/* bytes of one header block (256 KiB) */
	uint32_t max_fields;	/* header fields in the whole message (10000) */
	uint32_t max_text;	/* bytes of UTF-8 search text (1 MiB) */
	uint32_t max_preview;	/* characters of preview (256) */
};

#define MIME_DEFAULT_MAX_PARTS		1000u
#define MIME_DEFAULT_MAX_DEPTH		50u
#define MIME_DEFAULT_MAX_HEADER		(256u * 1024)
#define MIME_DEFAULT_MAX_FIELDS		10000u
#define MIME_DEFAULT_MAX_TEXT		(1024u * 1024)
#define MIME_DEFAULT_MAX_PREVIEW	256u

/* struct mime_info.flags */
enum {
	MIME_FALLBACK	    = 1u << 0,	/* not MIME GMime could read: one part */
	MIME_TRUNC_PARTS    = 1u << 1,	/* more parts than max_parts */
	MIME_TRUNC_DEPTH    = 1u << 2,	/* nested deeper than max_depth */
	MIME_TRUNC_HEADER   = 1u << 3,	/* a header block or the field count
					   over a limit: the rest is body */
	MIME_TRUNC_TEXT	    = 1u << 4,	/* search text cut at max_text */
	MIME_BARE_LF	    = 1u << 5,	/* some line ends in a bare LF */
	MIME_8BIT_HEADER    = 1u << 6,	/* unencoded 8-bit top-level header */
	MIME_MALFORMED	    = 1u << 7,	/* multipart without boundary or
					   final boundary, part without
					   header and content, ... */
	MIME_NO_SEPARATOR   = 1u << 8,	/* top-level header block not ended
					   by an empty line */
	MIME_LAYOUT_FAILED  = 1u << 9,	/* with MIME_FALLBACK: GMime's tree
					   could not be followed on the raw
					   bytes (lines over 4 KiB) */
};

/* struct mime_part.kind */
enum mime_kind {
	MIME_LEAF,		/* a body: text, image, application, ... */
	MIME_MULTIPART,		/* children are the body parts */
	MIME_MESSAGE,		/* message/rfc822 or message/global whose one
				   child is the encapsulated message */
};

/* struct mime_part.flags */
enum {
	MIME_PART_MESSAGE   = 1u << 0,	/* a message header block: the root,
					   or the child of a MIME_MESSAGE */
	MIME_PART_TRUNCATED = 1u << 1,	/* some children not described */
};

struct mime_param {
	const char *name;	/* lower-case */
	const char *value;	/* UTF-8, RFC 2231 / 2047 decoded */
};

/*
 * One MIME entity, in a flat pre-order array: parts[0] is the message;
 * the children of part i are i + 1, then each next child at the previous
 * child's `next`, while < parts[i].next.
 *
 * Offsets: the header block is [hdr_start, body_start) and includes the
 * empty line that ends it; the body is [body_start, body_end) and does
 * not include the line break before a boundary (RFC 2046 5.1.1).  A
 * child lies inside its parent's body; siblings do not overlap.
 */
struct mime_part {
	uint32_t parent;	/* MIME_NONE for the root */
	uint32_t next;		/* index just past this part's subtree */
	uint16_t depth;		/* 0 for the root */
	uint8_t kind;		/* enum mime_kind */
	uint8_t flags;		/* MIME_PART_* */
	const char *part_id;	/* IMAP part number ("1.2"); "" root */
	const char *type;	/* lower-case ASCII, never NULL: "text" */
	const char *subtype;	/* lower-case ASCII, never NULL: "plain" */
	const char *charset;	/* lower-case, NULL when none given */
	const char *encoding;	/* lower-case Content-Transfer-Encoding
				   token, "7bit" when absent */
	const char *disposition;/* lower-case, NULL when absent */
	const char *name;	/* UTF-8 file name: disposition filename,
				   else Content-Type name; NULL */
	const char *cid;	/* UTF-8 Content-ID without <>; NULL */
	const char *description;/* UTF-8 Content-Description; NULL */
	const char *language;	/* raw Content-Language; NULL */
	const char *location;	/* raw Content-Location; NULL */
	struct mime_param *params; /* Content-Type parameters, in order */
	uint32_t nparams;
	uint64_t hdr_start;
	uint64_t body_start;
	uint64_t body_end;
	uint64_t lines;		/* lines of the body (a last line without
				   a line break counts) */
	uint64_t decoded_size;	/* body octets after transfer decoding */
};

enum mime_addr_kind {
	MIME_ADDR_MAILBOX,
	MIME_ADDR_GROUP,	/* start of a group: name/raw_name are its
				   display name; members follow */
	MIME_ADDR_GROUP_END,
};

struct mime_addr {
	uint8_t kind;		/* enum mime_addr_kind */
	const char *name;	/* UTF-8 display name (RFC 2047 decoded), or
				   the comment when there is none; NULL */
	const char *raw_name;	/* the same as in the header: quotes and
				   comments removed, encoded words kept */
	const char *route;	/* obsolete source route "@a,@b"; NULL */
	const char *local;	/* local part, unquoted; "" when missing */
	const char *domain;	/* domain; "" when missing */
};

struct mime_addr_list {
	struct mime_addr *v;
	uint32_t n;
};

struct mime_idlist {		/* msg-ids without the angle brackets */
	const char **v;
	uint32_t n;
};

/* The header summary of the top-level message (first field of each). */
struct mime_headers {
	bool has_date;		/* Date present and parseable */
	int16_t date_tz;	/* its zone, minutes east of UTC */
	int64_t date;		/* UTC seconds since the epoch */
	const char *date_raw;	/* raw Date; NULL when absent */
	const char *subject_raw;
	const char *subject;	/* UTF-8, RFC 2047 decoded; NULL absent */
	const char *base_subject; /* UTF-8, RFC 5256 base subject; "" when
				   there is no subject */
	struct mime_addr_list from, sender, reply_to, to, cc, bcc;
	const char *message_id_raw;
	const char *in_reply_to_raw;
	const char *references_raw;
	struct mime_idlist message_id;
	struct mime_idlist in_reply_to;
	struct mime_idlist references;
};

struct mime_partlist {
	uint32_t *v;		/* indexes into parts */
	uint32_t n;
};

struct mime_info {
	uint32_t flags;		/* MIME_* */
	uint64_t size;		/* bytes of the message */
	/* parts[0] is the message: its header block is the top-level
	 * header (for header:Name:asRaw and BODY[HEADER]) */
	struct mime_part *parts;
	uint32_t nparts;	/* >= 1; 0 after a decode without parts */
	uint64_t header_end;	/* parts[0].body_start: the top-level header
				   block with its empty line, always set */
	struct mime_headers hdr;

	/* IMAP, RFC 3501 7.4.2 / RFC 9051 7.5.2, ready to send */
	const char *envelope;	/* "(date subject from ...)" */
	const char *body;	/* BODY: no extension data */
	const char *bodystructure;

	/* JMAP, RFC 8621 4.1 */
	const char *preview;	/* UTF-8, <= max_preview characters */
	bool has_attachment;
	struct mime_partlist text_body;
	struct mime_partlist html_body;
	struct mime_partlist attachments;

	/*
	 * Search text: the UTF-8 text of every text/plain part and of every
	 * text/html part stripped of markup, in tree order, separated by
	 * "\n"; at most max_text bytes.  For the indexer at delivery only:
	 * mime_info_encode() leaves it out, so it is NULL after a decode.
	 */
	const char *text;
	size_t text_len;

	struct mime_arena *arena;	/* owns everything above */
};

/* mime_limits_default - the defaults above */
void mime_limits_default(struct mime_limits *lim);

/*
 * mime_parse - parse msg[0..len) once.  lim NULL means the defaults.
 * On 0, *info_r is a new struct mime_info to free with mime_info_free().
 * -1 (one line appended to err, *info_r NULL) only on an internal error,
 * never because of the message.
 */
int mime_parse(const unsigned char *msg, size_t len,
    const struct mime_limits *lim, struct mime_info **info_r, struct buf *err)
    WARN_UNUSED;

/*
 * mime_parse_text - mime_parse for what the spam filters need, at a
 * fraction of the cost: text, text_len, flags and of the header summary
 * the subject (raw, decoded, base subject) are as mime_parse gives
 * them; the parts are described only as far as the text needed them (a
 * plain one-part message skips GMime: mime_simple.c); the rest is
 * empty ("" for the strings, NULL and 0 for lists, sizes and preview).
 * Not for storing.
 */
int mime_parse_text(const unsigned char *msg, size_t len,
    const struct mime_limits *lim, struct mime_info **info_r, struct buf *err)
    WARN_UNUSED;

/* mime_info_free - accepts NULL and *info NULL; sets *info to NULL */
void mime_info_free(struct mime_info **info);

/*
 * mime_info_encode - append the versioned binary form of info (all but
 * text) to out; -1 with nothing appended if out's max is too small.
 */
int mime_info_encode(const struct mime_info *info, struct buf *out)
    WARN_UNUSED;

/*
 * mime_info_decode - the inverse.  Safe on any input: every length and
 * index is checked, and the tree, offsets and UTF-8 fields are validated
 * as mime_parse() guarantees them.  -1 with one line in err when the data
 * is corrupt or of an unknown version.
 */
int mime_info_decode(const void *data, size_t len, struct mime_info **info_r,
    struct buf *err) WARN_UNUSED;

/*
 * mime_info_decode_some - the same, filling only the fields want names
 * (MIME_DEC_*); the others are checked for bounds only and left empty
 * ("" or NULL, lists of 0; without MIME_DEC_PARTS nparts is 0 and parts
 * NULL).  For a FETCH ENVELOPE or a SEARCH FROM,
 * which read one field of thousands of messages.
 */
#define MIME_DEC_PARTS		(1u << 0)	/* parts, text/html/attachments */
#define MIME_DEC_HDR		(1u << 1)	/* hdr */
#define MIME_DEC_IMAP		(1u << 2)	/* envelope, body, bodystructure */
#define MIME_DEC_PREVIEW	(1u << 3)
#define MIME_DEC_ALL		0xfu
int mime_info_decode_some(const void *data, size_t len, unsigned want,
    struct mime_info **info_r, struct buf *err);

/*
 * mime_section - the byte range of an IMAP section-spec (RFC 3501 6.4.5):
 * "" (the whole message), "HEADER", "TEXT", "1.2", "1.2.MIME",
 * "2.HEADER", "2.TEXT"; "...HEADER.FIELDS (...)" and ".NOT" give the
 * header block to filter.  Case-insensitive.  *part_r (may be NULL) is
 * the part whose header or body it is.  -1 when there is no such part
 * (or it was not described).
 */
int mime_section(const struct mime_info *info, const char *spec,
    size_t spec_len, uint64_t *start_r, uint64_t *len_r, uint32_t *part_r)
    WARN_UNUSED;

/*
 * mime_part_decode - append part's body, transfer-decoded (base64,
 * quoted-printable, uuencode; anything else as is), to out: the content of
 * IMAP BINARY[] and of a JMAP blob.  msg must be the parsed message.  -1
 * when out's max is reached (out then holds a prefix).
 */
int mime_part_decode(const struct mime_info *info, uint32_t part,
    const unsigned char *msg, size_t len, struct buf *out) WARN_UNUSED;

/*
 * mime_part_text - append part's text as UTF-8 (transfer-decoded, charset
 * converted as mime.c documents, CRLF turned into LF; text/html stripped
 * of markup when strip_html): JMAP bodyValues.  At most max bytes are
 * appended (cut on a character boundary); returns 1 when cut, else 0.
 */
int mime_part_text(const struct mime_info *info, uint32_t part,
    const unsigned char *msg, size_t len, bool strip_html, size_t max,
    struct buf *out);

/*
 * mime_header_next - walk the fields of a raw header block (from
 * mime_section "HEADER" or "1.MIME"): on each call, the next field's
 * name and raw value (folded, without the final line break) as offsets in
 * hdr.  *pos starts at 0.  false at the end.  Pure; no GMime.
 */
bool mime_header_next(const unsigned char *hdr, size_t len, size_t *pos,
    size_t *name_off, size_t *name_len, size_t *value_off,
    size_t *value_len);

#endif
