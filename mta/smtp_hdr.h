/*
 * smtp_hdr.h - sans-IO reading of a submitted message's header section
 * (RFC 5322 2.2, 3.4, 3.6): where it ends, its fields, and the addresses
 * of an address field (From:).  What the submission server needs to
 * check the From: addresses and to add Date: and Message-ID: (RFC 6409
 * 8); pure functions, no allocation beyond the caller's struct buf.
 *
 * The message is as the SMTP server stores it: CRLF line ends (a bare LF
 * also ends a line, so a normalised or refused message reads the same).
 */
#ifndef POSTERN_SMTP_HDR_H
#define POSTERN_SMTP_HDR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/common.h"
#include "mta/smtp_parse.h"

/*
 * smtp_hdr_len - the length of the header section of msg[0..len): up to
 * and including the empty line that ends it.  *complete_r false (and len
 * returned) when there is no empty line: the message may be all header,
 * or only its start is there.
 */
size_t smtp_hdr_len(const unsigned char *msg, size_t len, bool *complete_r);

/*
 * One header field: name (before the colon, blanks before it dropped,
 * RFC 5322 4.5.3), value (after the colon up to the final line end,
 * folded lines and their line ends included).
 */
struct smtp_hdr_field {
	struct smtp_str name;
	struct smtp_str value;
};

/*
 * smtp_hdr_next - the field at *off in the header hdr[0..hlen) (from
 * smtp_hdr_len), and *off past it; false at the end.  A line without a
 * colon (or one starting with a blank where no field is open) is skipped,
 * not a field.
 */
bool smtp_hdr_next(const unsigned char *hdr, size_t hlen, size_t *off,
    struct smtp_hdr_field *f);

/* smtp_hdr_count - the fields called name (any case) in hdr[0..hlen) */
size_t smtp_hdr_count(const unsigned char *hdr, size_t hlen,
    const char *name);

/*
 * smtp_hdr_addresses - the addr-specs of an address-list value (RFC 5322
 * 3.4: mailboxes with or without a display name, groups, the obsolete
 * forms' empty members and routes), each appended to out followed by a
 * NUL, comments and folding white space removed, a quoted local part
 * kept as written; *n_r is how many.  -1 when the value is no address
 * list: a member without "@", unbalanced quotes, comments or angle
 * brackets, a group inside a group, out->max passed.  out may hold part
 * of the list then.  Encoded words are only display text here.
 */
int smtp_hdr_addresses(const char *value, size_t len, struct buf *out,
    size_t *n_r) WARN_UNUSED;

#endif
