/*
 * sender_wildcard.h - auth.sender_wildcards: senders an account may use
 * beyond its own address, sub-addresses and aliases (directory.h
 * dir_owns).  Each entry is "PATTERN=ACCOUNT" (checked when the
 * configuration loads, common/config_table.c): "@domain" grants every
 * address of the domain, an address grants that address.  Names compare
 * in ASCII case-insensitively.  One rule for every way to send:
 * SMTP submission's sender check and JMAP's Identity and EmailSubmission
 * (imap-jmap/jmap_identity.c).
 *
 * Pure: no I/O, no globals.
 */
#ifndef POSTERN_SENDER_WILDCARD_H
#define POSTERN_SENDER_WILDCARD_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"

/*
 * sender_wildcard_grants - whether entry w is for account; then the
 * length of its pattern (the part before "=", "@domain" or an address)
 * into *plen_r.  false for another account's entry and a malformed one.
 */
bool sender_wildcard_grants(const char *w, const char *account,
    size_t *plen_r);

/* sender_wildcard_match - some entry of wl lets account use addr */
bool sender_wildcard_match(const struct strlist *wl, const char *account,
    const char *addr);

#endif
