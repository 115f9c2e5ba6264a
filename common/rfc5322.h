/*
 * rfc5322.h - RFC 5322 message syntax, once for every module: the header
 * section of a raw message and its fields (2.2, 4.5.3), the addresses of
 * an address list (3.4, 4.4), and the domain of a From field (the
 * RFC5322.From domain of DMARC, RFC 7489 3.1, which the dmarc stage
 * checks and the SMTP client signs with DKIM).  The submission server
 * (mta/smtpd_submit.c) reads the From addresses it checks and the fields
 * it adds with the same functions.
 *
 * Lines end at LF (CRLF in practice; a bare LF ends a line too, so a
 * normalised or refused message reads the same).
 *
 * Pure: no I/O, no globals, no allocation beyond the caller's buffers.
 */
#ifndef POSTERN_RFC5322_H
#define POSTERN_RFC5322_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "common.h"
#include "dns.h"

/* room for a domain and its NUL */
#define RFC5322_DOMAIN_SIZE (DNS_NAME_MAX + 1)

/*
 * rfc5322_header_len - the length of the header section of msg[0..len)
 * up to and including the empty line that ends it; *complete_r false
 * (and len returned) when no empty line is there: the message may be
 * all header, or only its start is there.
 */
size_t rfc5322_header_len(const unsigned char *msg, size_t len,
    bool *complete_r);

/*
 * One header field: name (before the colon, blanks before the colon
 * dropped, RFC 5322 4.5.3), value (after the colon up to the final line
 * end, folded lines and their line ends included).  Both point into the
 * message.
 */
struct rfc5322_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/*
 * rfc5322_header_next - the field at *off in msg[0..len) (a header
 * section from rfc5322_header_len, or a whole message: the walk ends at
 * the first empty line), and *off past it; false at the end.  A line
 * starting with a space or tab continues the field before it; a line
 * whose first line has no colon, or that continues no field, is no field
 * and is skipped (as the DKIM signer and the filters split them).
 */
bool rfc5322_header_next(const unsigned char *msg, size_t len, size_t *off,
    struct rfc5322_field *f);

/*
 * rfc5322_header_find - the header fields called name (any case) in
 * msg[0..len), walked as rfc5322_header_next does.  Returns how many
 * there are; the value of the first (as struct rfc5322_field's) is
 * appended to value, which may be NULL.
 */
size_t rfc5322_header_find(const unsigned char *msg, size_t len,
    const char *name, struct buf *value);

/*
 * rfc5322_addresses - the addr-specs of an address-list value (RFC 5322
 * 3.4: mailboxes with or without a display name, groups, the obsolete
 * forms' empty members, CFWS around "." and "@", and routes), each
 * appended to out followed by a NUL, comments and folding white space
 * removed, a quoted local part kept as written; *n_r is how many.  -1
 * when the value is no address list: a member without exactly one "@"
 * (outside quotes) with something on both sides, unbalanced quotes,
 * comments or angle brackets, a group inside a group, a control
 * character or NUL, out->max passed.  out may hold part of the list
 * then.  Strict on purpose: what is not understood is not guessed at,
 * so a caller that vouches for the addresses (the submission server's
 * sender check) can refuse it.  Encoded words are display text here.
 */
int rfc5322_addresses(const char *value, size_t len, struct buf *out,
    size_t *n_r) WARN_UNUSED;

/*
 * rfc5322_from_domain - the domain of the one address of a From field's
 * value (folded or not), lower case, without a trailing dot, into out.
 * -1 with *why_r (static text: "no From address", "several From
 * addresses", "no usable From domain") when there is not exactly one
 * address or its domain is not a host name (a domain literal, a U-label:
 * XXX IDNA would turn those into A-labels).
 *
 * A value that rfc5322_addresses reads is read by it, so the submission
 * check, DMARC and DKIM signing agree on every well-formed From.  One it
 * refuses is still salvaged (comments dropped, a group's display name
 * and an obs-route skipped, the address inside <> or else the whole
 * mailbox): mail programs display such a From, and a receiver that gave
 * up on it would let a malformed forged From skip the domain's DMARC
 * policy (RFC 7489 6.6.1).
 */
int rfc5322_from_domain(const char *value, char out[RFC5322_DOMAIN_SIZE],
    const char **why_r) WARN_UNUSED;

#endif
