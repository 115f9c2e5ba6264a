/*
 * sasl.c - base64 (RFC 4648 4), the PLAIN message (RFC 4616 2) and the
 * user name check shared by the protocol servers (see sasl.h).
 *
 * Base64 is decoded strictly: only the canonical encoding of some octets
 * is accepted (padding present, unused bits zero), so every accepted
 * input encodes back to itself - the smtp_parse fuzz target checks that.
 */
#include <stdio.h>
#include <string.h>

#include "sasl.h"

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

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
sasl_b64_decode(const char *in, size_t len, struct buf *out)
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
sasl_b64_encode(const void *in, size_t len, struct buf *out)
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
sasl_plain_parse(const unsigned char *msg, size_t len, struct sasl_plain *r)
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
	if (zlen > SASL_USER_MAX || clen == 0 || clen > SASL_USER_MAX ||
	    plen == 0 || plen > SASL_PASS_MAX ||
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
sasl_user_is_valid(const char *s, size_t len)
{
	if (len == 0 || len > SASL_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

void
sasl_wipe(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	buf_free(b);
}

void
sasl_printable(const struct buf *in, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < in->len && o + 5 < size; i++) {
		unsigned char c = in->data[i];

		if (c > 0x20 && c < 0x7f && c != '\\' && c != '>') {
			out[o++] = (char)c;
		} else {
			(void)snprintf(out + o, size - o, "\\x%02x", c);
			o += 4;
		}
	}
	out[o] = '\0';
}
