/*
 * smtp_sasl.c - SMTP AUTH's pure parts (see smtp_sasl.h): the AUTH
 * argument (RFC 4954 4), base64 (RFC 4648 4) and the PLAIN message
 * (RFC 4616 2).
 *
 * Base64, the PLAIN message and the user name check live in
 * common/sasl.c (IMAP shares them); the wrappers keep this API.  The
 * AUTH line has passed smtp_cmd_parse, which refused control characters
 * and malformed UTF-8, so the words here are printable.
 */
#include <string.h>

#include "mta/smtp_sasl.h"

static enum parse_res
bad(struct smtp_reply_hint *err_r, unsigned code, const char *enh,
    const char *text)
{
	if (err_r != NULL) {
		err_r->code = code;
		err_r->enh = enh;
		err_r->text = text;
	}
	return PARSE_BAD;
}

const char *
smtp_sasl_mech_name(enum smtp_sasl_mech m)
{
	return m == SMTP_SASL_PLAIN ? "PLAIN" : "LOGIN";
}

enum parse_res
smtp_sasl_start_parse(const char *arg, size_t len, struct smtp_sasl_start *r,
    struct smtp_reply_hint *err_r)
{
	const char *sp = memchr(arg, ' ', len);
	size_t mlen = sp != NULL ? (size_t)(sp - arg) : len, i = mlen;

	memset(r, 0, sizeof(*r));
	/* RFC 4422 3.1: a mechanism name is 1 to 20 characters */
	if (mlen == 0 || mlen > 20)
		return bad(err_r, 501, "5.5.4", "Syntax: AUTH mechanism "
		    "[initial-response]");
	if (ascii_eq_nocase(arg, mlen, "PLAIN"))
		r->mech = SMTP_SASL_PLAIN;
	else if (ascii_eq_nocase(arg, mlen, "LOGIN"))
		r->mech = SMTP_SASL_LOGIN;
	else
		return bad(err_r, 504, "5.5.4", "Unrecognized authentication "
		    "type");
	while (i < len && arg[i] == ' ')
		i++;
	if (i == len)
		return PARSE_OK;
	if (memchr(arg + i, ' ', len - i) != NULL)
		return bad(err_r, 501, "5.5.4", "Syntax: AUTH mechanism "
		    "[initial-response]");
	r->has_ir = true;
	r->ir.p = arg + i;
	/* RFC 4954 4: "=" is a zero-length initial response */
	r->ir.len = len - i == 1 && arg[i] == '=' ? 0 : len - i;
	return PARSE_OK;
}

bool
smtp_sasl_is_cancel(const char *s, size_t len)
{
	return len == 1 && s[0] == '*';
}

/* base64, PLAIN and the name check are common/sasl.c's, shared with IMAP */
int
smtp_sasl_b64_decode(const char *in, size_t len, struct buf *out)
{
	return sasl_b64_decode(in, len, out);
}

void
smtp_sasl_b64_encode(const void *in, size_t len, struct buf *out)
{
	sasl_b64_encode(in, len, out);
}

enum parse_res
smtp_sasl_plain_parse(const unsigned char *msg, size_t len,
    struct smtp_sasl_plain *r)
{
	struct sasl_plain pl;
	enum parse_res res = sasl_plain_parse(msg, len, &pl);

	memset(r, 0, sizeof(*r));
	if (res != PARSE_OK)
		return res;
	r->authzid = (struct smtp_str){ pl.authzid.p, pl.authzid.len };
	r->authcid = (struct smtp_str){ pl.authcid.p, pl.authcid.len };
	r->passwd = (struct smtp_str){ pl.passwd.p, pl.passwd.len };
	return PARSE_OK;
}

bool
smtp_sasl_user_is_valid(const char *s, size_t len)
{
	return sasl_user_is_valid(s, len);
}
