/*
 * sasl.h - the pure pieces of SASL that every protocol server shares:
 * base64 as SASL exchanges carry it (RFC 4648 section 4, canonical
 * only), the PLAIN message (RFC 4616) and the sanity check of a user
 * name.  SMTP AUTH (mta/smtp_sasl.h) and IMAP AUTHENTICATE
 * (imap-jmap/imap_auth.c) both use them.  No I/O, no allocation beyond
 * the caller's struct buf, no policy.
 *
 * Views (struct sasl_str) point into the caller's input and are valid as
 * long as it is; they are not NUL-terminated.
 */
#ifndef POSTERN_SASL_H
#define POSTERN_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "common.h"

#define SASL_USER_MAX	320	/* octets of authcid, authzid, a LOGIN user:
				 * an address, RFC 5321 limits */
#define SASL_PASS_MAX	1024	/* octets of a password */

struct sasl_str {
	const char *p;
	size_t len;
};

/*
 * sasl_b64_decode - append the base64 text in[0..len) decoded to out.
 * Canonical base64 only: the RFC 4648 alphabet, padded to a multiple of
 * 4, "=" only as padding, unused bits zero, no white space (an empty
 * input is the empty string).  -1 when it is not, or when out->max would
 * be passed; out is then unchanged.
 */
int sasl_b64_decode(const char *in, size_t len, struct buf *out)
    WARN_UNUSED;

/* sasl_b64_encode - append base64 of in[0..len) to out (our data) */
void sasl_b64_encode(const void *in, size_t len, struct buf *out);

/*
 * RFC 4616: message = [authzid] NUL authcid NUL passwd.  authzid at most
 * SASL_USER_MAX octets (may be empty), authcid 1..SASL_USER_MAX, passwd
 * 1..SASL_PASS_MAX; none holds a NUL.  The names are not checked further
 * here (sasl_user_is_valid).
 */
struct sasl_plain {
	struct sasl_str authzid;
	struct sasl_str authcid;
	struct sasl_str passwd;
};

/* sasl_plain_parse - PARSE_OK with *r, or PARSE_BAD */
enum parse_res sasl_plain_parse(const unsigned char *msg, size_t len,
    struct sasl_plain *r);

/*
 * sasl_user_is_valid - a name worth looking up: 1..SASL_USER_MAX octets,
 * no control character, space or DEL (NUL included)
 */
bool sasl_user_is_valid(const char *s, size_t len);

/* sasl_wipe - zero b's whole allocation (a secret's copies), then free */
void sasl_wipe(struct buf *b);

/*
 * sasl_printable - a client-given name for a log line, in out[0..size):
 * printable ASCII but '\\' and '>' kept, every other byte "\xNN"; cut
 * to fit; always NUL-terminated (size >= 1)
 */
void sasl_printable(const struct buf *in, char *out, size_t size);

#endif
