/*
 * imap_fetch_out.h - the FETCH response renderer: one message's data and
 * a parsed fetch-att list in, the untagged "* n FETCH (...)" line out.
 * Also the FETCH line of a STORE reply.  Pure: no I/O but the blob
 * callback the caller gives, no session state, no globals.
 *
 * RFC 9051 6.4.5 and 7.5.2, RFC 3501 6.4.5 and 7.4.2 (RFC822,
 * RFC822.HEADER, RFC822.TEXT, \Recent), RFC 3516 (BINARY, BINARY.SIZE,
 * literal8), RFC 7162 3.1.4 (MODSEQ, CHANGEDSINCE), RFC 8474 (EMAILID,
 * THREADID), RFC 8514 (SAVEDATE), RFC 8970 (PREVIEW), RFC 9586 (UIDONLY:
 * "* uid UIDFETCH (...)"), RFC 6855 (UTF8=ACCEPT: UTF-8 in quoted
 * strings).
 *
 * Decisions (the session may rely on them):
 *
 *   - Items come in the order of the request; a repeated simple item
 *     (FLAGS, UID, ...) is written once, repeated sections each time.
 *     Items the server adds come around them: UID first (UID FETCH,
 *     not under UIDONLY), then the request, then FLAGS (flags changed
 *     implicitly) and MODSEQ (CHANGEDSINCE given, or flags changed
 *     implicitly with CONDSTORE enabled), each unless requested.
 *   - Under UIDONLY the line is "* <uid> UIDFETCH (...)" and the UID item
 *     appears only when requested (the UID already leads the line).
 *   - FLAGS: \Answered \Flagged \Deleted \Seen \Draft, then $Forwarded
 *     $Junk $NotJunk, then the custom keywords as stored (atoms; one that
 *     is not a valid flag atom is left out), then \Recent for IMAP4rev1
 *     only (RFC 9051 removed it).
 *   - INTERNALDATE and SAVEDATE: "dd-Mon-yyyy hh:mm:ss +zzzz", the day
 *     with two digits, in the zone the caller gives (the store keeps UTC
 *     seconds); times outside years 0000-9999 are clamped.
 *   - OBJECTID (RFC 8474): EMAILID is "M" and THREADID "T" followed by
 *     the store's email / thread id in decimal without leading zeros
 *     ("M42", "T7"): unique per account, never reused (store/mail.h),
 *     and a valid objectid.  JMAP should use the same strings so a client
 *     can match both (RFC 8474 recommends it).  Id 0 is NIL.
 *   - Body content (BODY[...], RFC822*, BINARY without NUL) is always a
 *     literal, "" when empty.  A NUL octet of the stored message is sent
 *     as 0x80 in a literal (a literal may not hold NUL: CHAR8, RFC 9051
 *     9; Dovecot does the same), so sizes and partial offsets hold.
 *     BINARY content with a NUL is a literal8 "~{n}" (RFC 3516).
 *   - A section that does not exist (BODY[7] of a 2-part message,
 *     BODY[1.TEXT] of a non-message part) is NIL; its BINARY.SIZE is 0.
 *   - Partial "<origin.count>": the response names "<origin>"; origin at
 *     or past the end gives ""; count past the end gives what remains.
 *     For HEADER.FIELDS it applies to the filtered header, for BINARY to
 *     the decoded content.
 *   - HEADER.FIELDS[.NOT]: the fields whose names match (or do not),
 *     case-insensitively, with their exact bytes (continuation lines and
 *     line ends included), in message order, then the empty line that
 *     ends the header if it has one.  Lines that are not fields are left
 *     out.  The response repeats the field names as the client sent
 *     them.
 *   - BINARY: a leaf is decoded by its Content-Transfer-Encoding (7bit,
 *     8bit, binary as is; base64, quoted-printable, uuencode decoded);
 *     any other encoding fails the message with IMAP_FETCH_OUT_UNKNOWN_CTE
 *     (the caller answers NO [UNKNOWN-CTE]).  A multipart or message
 *     part, and BINARY[] (the whole message), are sent as stored: MIME
 *     allows them no encoding but identity (RFC 2045 6.4).  BINARY.SIZE
 *     is the stored decoded size (store/mime.h decoded_size), equal to
 *     the length BINARY sends.
 *   - PREVIEW [(LAZY)]: the preview stored at delivery (RFC 8970 allows
 *     any server-generated text of at most 256 characters), so LAZY
 *     changes nothing; NIL only if the MIME info holds none.
 *   - ENVELOPE, BODY, BODYSTRUCTURE: the strings stored at delivery.
 *
 * \Seen (RFC 9051 6.4.5): BODY[...], BINARY[...], RFC822 and RFC822.TEXT
 * without .PEEK set \Seen in a read-write mailbox, and the response then
 * includes FLAGS.  The renderer never writes to the store; the session:
 *   1. asks imap_fetch_out_sets_seen() once per command;
 *   2. per message without \Seen: sets \Seen in the store (its job),
 *      and renders with the new flags/modseq and .flags_changed = true,
 *      so FLAGS (and MODSEQ under CONDSTORE) join the response.
 * A session that renders first gets *set_seen_r = true and must set
 * \Seen afterwards and send the FLAGS itself (imap_fetch_out_store).
 *
 * Memory: output is appended to out, our own buffer (max 0: the writers
 * of imap_parse.h cannot fail).  opts.max_response bounds one message's
 * response: a larger one fails (IMAP_FETCH_OUT_TOO_BIG) before it is
 * built, so a FETCH of 1,000 BODY[] items does not hold 1,000 copies;
 * and the octets filtered (HEADER.FIELDS) or decoded (BINARY) for one
 * message may be at most 4 * max_response, so 1,000 small partials of
 * a big part do not decode it 1,000 times.
 * XXX big literals could be streamed from the blob by the session
 * instead of copied into out (a "literal by reference" item).
 *
 * Thread safety: every call works on its arguments only.  The blob
 * callback may block (it reads the blob store), so render in a job.
 */
#ifndef POSTERN_IMAP_FETCH_OUT_H
#define POSTERN_IMAP_FETCH_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "imap-jmap/imap_parse.h"
#include "store/mime.h"

/* struct imap_fetch_out_opts.session: what the session has enabled */
#define IMAP_FETCH_OUT_REV2		(1u << 0)	/* IMAP4rev2: no
							   \Recent */
#define IMAP_FETCH_OUT_UTF8		(1u << 1)	/* UTF8=ACCEPT or
							   rev2: UTF-8 in
							   quoted strings */
#define IMAP_FETCH_OUT_CONDSTORE	(1u << 2)	/* CONDSTORE enabled */
#define IMAP_FETCH_OUT_UIDONLY		(1u << 3)	/* RFC 9586 */
#define IMAP_FETCH_OUT_READ_ONLY	(1u << 4)	/* EXAMINE: no \Seen */

/* the command's side, the same for every message it renders */
struct imap_fetch_out_opts {
	const struct imap_fetch_att *att;	/* the parsed list (macros
						   expanded) */
	size_t natt;
	bool uid;		/* UID FETCH / UID STORE: UID in every line */
	bool changedsince;	/* CHANGEDSINCE given: MODSEQ in every line */
	unsigned session;	/* IMAP_FETCH_OUT_* */
	uint64_t max_response;	/* octets of one message's line; 0 = none */
};

/*
 * imap_fetch_out_opts_init - opts for a FETCH command: its attributes,
 * UID prefix and CHANGEDSINCE; max_response 0.  cmd must outlive opts.
 */
void imap_fetch_out_opts_init(struct imap_fetch_out_opts *opts,
    const struct imap_cmd *cmd, unsigned session);

/*
 * imap_fetch_blob_fn - the raw message: *data_r and *len_r, valid until the
 * render that asked returns (the caller keeps the buffer).  0, or -1 with
 * one line appended to err (the render then fails: IMAP_FETCH_OUT_ERROR).
 * Called at most once per render, and only when an item needs the bytes.
 */
typedef int imap_fetch_blob_fn(void *arg, const unsigned char **data_r,
    size_t *len_r, struct buf *err);

/* one message, as the session knows it (store/mail.h) */
struct imap_fetch_out_msg {
	uint32_t msn;		/* not used under UIDONLY */
	uint32_t uid;
	uint32_t flags;		/* MAIL_F_* of store/mail.h */
	const char *keywords;	/* custom keywords separated by one space,
				   as struct mail_msg has them; NULL or ""
				   for none */
	bool recent;		/* \Recent in this session (IMAP4rev1) */
	bool flags_changed;	/* changed by this command implicitly
				   (\Seen): FLAGS joins the response */
	uint64_t modseq;
	int64_t internal_date;	/* seconds since the epoch (receivedAt) */
	int16_t tz;		/* minutes east of UTC for INTERNALDATE and
				   SAVEDATE */
	uint64_t size;		/* RFC822.SIZE */
	uint32_t email_id;	/* EMAILID "M<id>"; 0: NIL */
	uint32_t thread_id;	/* THREADID "T<id>"; 0: NIL */
	bool has_savedate;	/* SAVEDATE; false: NIL */
	int64_t savedate;
	/*
	 * The MIME info stored at delivery (mime_info_decode()).  May be
	 * NULL when imap_fetch_out_needs() has no IMAP_FETCH_OUT_NEED_MIME;
	 * when it is NULL but needed, the message is parsed from the blob
	 * (slow: for messages stored without it).
	 */
	const struct mime_info *mime;
	imap_fetch_blob_fn *blob;	/* NULL: no bytes (render fails if
					   they are needed) */
	void *blob_arg;
};

/* imap_fetch_out_needs: what a render of these items reads */
#define IMAP_FETCH_OUT_NEED_MIME	(1u << 0)	/* struct mime_info */
#define IMAP_FETCH_OUT_NEED_BLOB	(1u << 1)	/* the raw message */
#define IMAP_FETCH_OUT_NEED_PARTS	(1u << 2)	/* with MIME: the part
							   tree, not only the
							   ready strings */

unsigned imap_fetch_out_needs(const struct imap_fetch_out_opts *opts);

/*
 * imap_fetch_out_sets_seen - the items set \Seen (a non-PEEK body item)
 * and the mailbox is read-write
 */
bool imap_fetch_out_sets_seen(const struct imap_fetch_out_opts *opts);

enum imap_fetch_out_res {
	IMAP_FETCH_OUT_OK = 0,
	IMAP_FETCH_OUT_UNKNOWN_CTE,	/* BINARY of an encoding we cannot
					   decode: NO [UNKNOWN-CTE] */
	IMAP_FETCH_OUT_TOO_BIG,		/* over opts.max_response, or over
					   the work it allows */
	IMAP_FETCH_OUT_ERROR,		/* the blob could not be read or does
					   not match the MIME info: one line
					   in err; NO [SERVERBUG] */
};

/*
 * imap_fetch_out_render - append the FETCH line(s) of one message to out
 * (max 0), CRLF included.  *set_seen_r (may be NULL): the session must
 * still set \Seen (see above).  On anything but IMAP_FETCH_OUT_OK, out
 * is as it was; an error also appends one line to err.
 */
enum imap_fetch_out_res imap_fetch_out_render(struct buf *out,
    const struct imap_fetch_out_opts *opts,
    const struct imap_fetch_out_msg *msg, bool *set_seen_r,
    struct buf *err) WARN_UNUSED;

/* imap_fetch_out_store: which items a STORE reply's line carries */
#define IMAP_FETCH_OUT_ST_FLAGS		(1u << 0)	/* not .SILENT */
#define IMAP_FETCH_OUT_ST_UID		(1u << 1)	/* UID STORE */
#define IMAP_FETCH_OUT_ST_MODSEQ	(1u << 2)	/* CONDSTORE enabled or
							   UNCHANGEDSINCE */

/*
 * imap_fetch_out_store - "* n FETCH (UID u FLAGS (...) MODSEQ (m))\r\n"
 * with the items asked for (RFC 9051 6.4.6, RFC 7162 3.1.3); UID is left
 * out under UIDONLY ("* u UIDFETCH (...)").  Nothing when no item is
 * left.  Also for unsolicited flag updates (FLAGS, with MODSEQ under
 * CONDSTORE, RFC 7162 3.2).  session: IMAP_FETCH_OUT_*.
 */
void imap_fetch_out_store(struct buf *out, unsigned session,
    const struct imap_fetch_out_msg *msg, unsigned items);

/*
 * imap_fetch_out_objectid - append the OBJECTID of id: prefix 'M'
 * (EMAILID), 'T' (THREADID) or any other letter, then id in decimal
 * imap_fetch_out_objectid_parse - the inverse, for SEARCH EMAILID /
 * THREADID: true and *id_r when s[0..len) is prefix followed by a
 * decimal u32 >= 1 without leading zeros
 */
void imap_fetch_out_objectid(struct buf *out, char prefix, uint32_t id);
bool imap_fetch_out_objectid_parse(const char *s, size_t len, char prefix,
    uint32_t *id_r);

/*
 * imap_fetch_out_datetime - append the quoted IMAP date-time of t
 * (seconds since the epoch) in zone tz (minutes east of UTC, clamped to
 * +-23:59): "\"05-Jan-2024 10:00:00 +0100\""
 */
void imap_fetch_out_datetime(struct buf *out, int64_t t, int tz);

#endif
