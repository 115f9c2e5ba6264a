/*
 * rfc5322.h - the few pieces of RFC 5322 message syntax that more than
 * one module needs: the header fields of a raw message, and the domain
 * of the one address of a From field (the RFC5322.From domain of DMARC,
 * RFC 7489 3.1, which the dmarc stage checks and the SMTP client signs
 * with DKIM).
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
 * rfc5322_from_domain - the domain of the one address of a From field's
 * value (folded or not; comments and quoted strings understood, group
 * syntax and obs-route tolerated), lower case, without a trailing dot,
 * into out.  -1 with *why_r (static text: "no From address", "several
 * From addresses", "no usable From domain") when there is not exactly
 * one address or its domain is not a host name (a domain literal, a
 * U-label: XXX IDNA would turn those into A-labels).
 */
int rfc5322_from_domain(const char *value, char out[RFC5322_DOMAIN_SIZE],
    const char **why_r) WARN_UNUSED;

/*
 * rfc5322_header_find - the header fields called name (any case,
 * blanks before the colon allowed, RFC 5322 4.5.3) in msg[0..len), which
 * is a whole message or the start of one: fields end at the first empty
 * line.  A line starting with a space or tab continues the field before
 * it; a line without a colon is no field (as the DKIM signer and the
 * filters split them).  Returns how many there are; the value of the
 * first (after the colon, continuation lines and their line ends
 * included, the final line end not) is appended to value, which may be
 * NULL.
 */
size_t rfc5322_header_find(const unsigned char *msg, size_t len,
    const char *name, struct buf *value);

/*
 * rfc5322_header_len - the length of the header section of msg[0..len)
 * up to and including the empty line that ends it; *complete_r false
 * (and len returned) when no empty line is there.
 */
size_t rfc5322_header_len(const unsigned char *msg, size_t len,
    bool *complete_r);

#endif
