/*
 * smtp_sasl.c - SMTP AUTH's pure parts (see smtp_sasl.h): the AUTH
 * argument (RFC 4954 4), base64 (RFC 4648 4) and the PLAIN message
 * (RFC 4616 2).
 *
 * Base64 is decoded strictly: only the canonical encoding of some octets
 * is accepted (padding present, unused bits zero), so every accepted
 * input encodes back to itself - the fuzz target checks that.  The
 * AUTH line has passed smtp_cmd_parse, which refused control characters
 * and malformed UTF-8, so the words here are printable.
 */
#include <string.h>

#include "mta/smtp_sasl.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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

static int
b64_value(unsigned char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = strchr(b64_alphabet, c);
	return p != NULL ? (int)(p - b64_alphabet) : -1;
}

int
smtp_sasl_b64_decode(const char *in, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t start = out->len, pad = 0;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && p[len - 1] == '=')
		pad = len > 1 && p[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		unsigned char o[3];
		size_t n = 3;

		for (size_t k = 0; k < 4; k++) {
			bool is_pad = i + 4 == len && k >= 4 - pad;

			v[k] = is_pad ? 0 : b64_value(p[i + k]);
			if (v[k] < 0)
				goto bad;
		}
		if (i + 4 == len) {
			n = 3 - pad;
			/* canonical: the bits a padded group drops are 0 */
			if ((pad == 1 && (v[2] & 0x3) != 0) ||
			    (pad == 2 && (v[1] & 0xf) != 0))
				goto bad;
		}
		o[0] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		o[1] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		o[2] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
		if (buf_append(out, o, n) < 0)
			goto bad;
	}
	return 0;
bad:
	buf_truncate(out, start);
	return -1;
}

void
smtp_sasl_b64_encode(const void *in, size_t len, struct buf *out)
{
	const unsigned char *p = in;

	for (size_t i = 0; i < len; i += 3) {
		size_t n = len - i < 3 ? len - i : 3;
		unsigned v = (unsigned)p[i] << 16;
		char o[4];

		if (n > 1)
			v |= (unsigned)p[i + 1] << 8;
		if (n > 2)
			v |= p[i + 2];
		o[0] = b64_alphabet[v >> 18 & 0x3f];
		o[1] = b64_alphabet[v >> 12 & 0x3f];
		o[2] = n > 1 ? b64_alphabet[v >> 6 & 0x3f] : '=';
		o[3] = n > 2 ? b64_alphabet[v & 0x3f] : '=';
		buf_add(out, o, 4);
	}
}

enum parse_res
smtp_sasl_plain_parse(const unsigned char *msg, size_t len,
    struct smtp_sasl_plain *r)
{
	const unsigned char *z1, *z2;
	size_t zlen, clen, plen;

	memset(r, 0, sizeof(*r));
	if (len == 0)
		return PARSE_BAD;
	z1 = memchr(msg, '\0', len);
	if (z1 == NULL)
		return PARSE_BAD;
	zlen = (size_t)(z1 - msg);
	z2 = memchr(z1 + 1, '\0', len - zlen - 1);
	if (z2 == NULL)
		return PARSE_BAD;
	clen = (size_t)(z2 - z1) - 1;
	plen = len - zlen - clen - 2;
	if (zlen > SMTP_SASL_USER_MAX || clen == 0 ||
	    clen > SMTP_SASL_USER_MAX || plen == 0 ||
	    plen > SMTP_SASL_PASS_MAX ||
	    memchr(z2 + 1, '\0', plen) != NULL)
		return PARSE_BAD;
	r->authzid.p = (const char *)msg;
	r->authzid.len = zlen;
	r->authcid.p = (const char *)z1 + 1;
	r->authcid.len = clen;
	r->passwd.p = (const char *)z2 + 1;
	r->passwd.len = plen;
	return PARSE_OK;
}

bool
smtp_sasl_user_is_valid(const char *s, size_t len)
{
	if (len == 0 || len > SMTP_SASL_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}
