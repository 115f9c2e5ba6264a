/*
 * smtp_sasl.h - sans-IO pieces of SMTP AUTH (RFC 4954) with the PLAIN
 * (RFC 4616) and LOGIN mechanisms: the AUTH command's argument, base64
 * (RFC 4648 section 4) and the PLAIN message.  Pure functions: no I/O,
 * no allocation beyond the caller's struct buf, no policy.
 *
 * Views (struct smtp_str) point into the caller's input and are valid as
 * long as it is; they are not NUL-terminated.  Errors fill a struct
 * smtp_reply_hint with static strings, as smtp_parse.h does.
 */
#ifndef POSTERN_SMTP_SASL_H
#define POSTERN_SMTP_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/sasl.h"
#include "mta/smtp_parse.h"

/*
 * The longest SASL response line we read, CRLF excluded: RFC 4954 4 asks
 * servers to take 12288 octets.  The AUTH command line itself keeps the
 * SMTP limit (SMTP_CMD_LINE_MAX); a longer initial response must be sent
 * after a 334, as the RFC says.
 */
#define SMTP_SASL_LINE_MAX	12288
#define SMTP_SASL_USER_MAX	SASL_USER_MAX	/* authcid, authzid, LOGIN
						 * user (common/sasl.h) */
#define SMTP_SASL_PASS_MAX	SASL_PASS_MAX	/* a password */

enum smtp_sasl_mech {
	SMTP_SASL_PLAIN,
	SMTP_SASL_LOGIN,
};

struct smtp_sasl_start {
	enum smtp_sasl_mech mech;
	struct smtp_str ir;	/* initial response, base64 as sent; len 0
				 * for "=" (the empty response) */
	bool has_ir;
};

/*
 * smtp_sasl_start_parse - AUTH's argument (struct smtp_cmd arg):
 * mechanism [SP initial-response].  The mechanism is case-insensitive.
 *
 * PARSE_OK with *r; PARSE_BAD with *err_r:
 *   504 5.5.4  a mechanism other than PLAIN and LOGIN
 *   501 5.5.4  more than two words, an empty or over-long mechanism
 * The initial response is one word; the caller decodes it (501 5.5.2
 * when it is not base64, smtp_sasl_b64_decode).
 */
enum parse_res smtp_sasl_start_parse(const char *arg, size_t len,
    struct smtp_sasl_start *r, struct smtp_reply_hint *err_r);

/* smtp_sasl_mech_name - "PLAIN", "LOGIN" */
const char *smtp_sasl_mech_name(enum smtp_sasl_mech m);

/* smtp_sasl_is_cancel - the client's "*": cancel the exchange (501) */
bool smtp_sasl_is_cancel(const char *s, size_t len);

/*
 * smtp_sasl_b64_decode - append the base64 text in[0..len) decoded to
 * out.  Canonical base64 only: the RFC 4648 alphabet, padded to a
 * multiple of 4, "=" only as padding, unused bits zero, no white space
 * (an empty input is the empty string).  -1 when it is not, or when
 * out->max would be passed; out is then unchanged.
 */
int smtp_sasl_b64_decode(const char *in, size_t len, struct buf *out)
    WARN_UNUSED;

/* smtp_sasl_b64_encode - append base64 of in[0..len) to out (our data) */
void smtp_sasl_b64_encode(const void *in, size_t len, struct buf *out);

/*
 * RFC 4616: message = [authzid] NUL authcid NUL passwd.  authzid at most
 * SMTP_SASL_USER_MAX octets (may be empty), authcid 1..SMTP_SASL_USER_MAX,
 * passwd 1..SMTP_SASL_PASS_MAX; none holds a NUL.  The names are not
 * checked further here (smtp_sasl_user_is_valid).
 */
struct smtp_sasl_plain {
	struct smtp_str authzid;
	struct smtp_str authcid;
	struct smtp_str passwd;
};

/* smtp_sasl_plain_parse - PARSE_OK with *r, or PARSE_BAD */
enum parse_res smtp_sasl_plain_parse(const unsigned char *msg, size_t len,
    struct smtp_sasl_plain *r);

/*
 * smtp_sasl_user_is_valid - a name worth looking up: 1..SMTP_SASL_USER_MAX
 * octets, no control character, space or DEL (NUL included)
 */
bool smtp_sasl_user_is_valid(const char *s, size_t len);

#endif
