/*
 * imap_mutf7.c - modified UTF-7 mailbox names (RFC 3501 5.1.3) to UTF-8
 * and back, and a UTF-8 validity check (RFC 3629).
 *
 * mUTF-7: printable US-ASCII (0x20-0x7e) stands for itself except "&",
 * written "&-"; anything else is "&" + modified base64 (RFC 2152 with ","
 * for "/", no padding) of UTF-16BE + "-".  The decoder accepts only the
 * canonical form, which is what the encoder writes, so that
 * encode(decode(x)) == x: no printable ASCII in base64, no null shift
 * ("-&" inside base64, i.e. two adjacent runs; RFC 3501 forbids it), no
 * empty run ("&-" is "&"), pad bits zero and fewer than 6, surrogates
 * paired, no U+0000.
 */
#include <string.h>

#include "common/buf.h"
#include "imap-jmap/imap_parse_priv.h"

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

/* utf8_seq - length of the well-formed UTF-8 sequence at p, 0 if none */
static size_t
utf8_seq(const unsigned char *p, size_t len, uint32_t *cp)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;
	uint32_t v;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		v = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		v = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		v = c & 0x07;
	} else {
		return 0;		/* continuation, overlong C0/C1, F5.. */
	}
	if (c == 0xe0)
		lo = 0xa0;		/* overlong */
	else if (c == 0xed)
		hi = 0x9f;		/* surrogates */
	else if (c == 0xf0)
		lo = 0x90;		/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;		/* past U+10FFFF */
	if (len < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	*cp = v;
	return n;
}

bool
imap_utf8_is_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;

	for (size_t i = 0, n; i < len; i += n)
		if ((n = utf8_seq(p + i, len - i, &cp)) == 0)
			return false;
	return true;
}

static bool
is_direct(unsigned char c)
{
	return c >= 0x20 && c <= 0x7e;
}

int
imap_mutf7_decode(const char *in, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t start = out->len, i = 0;
	bool after_run = false;

	while (i < len) {
		uint32_t bits = 0, high = 0;
		unsigned nbits = 0;
		size_t units = 0;

		if (!is_direct(p[i]))
			goto bad;
		if (p[i] != '&') {
			if (buf_append_byte(out, p[i++]) < 0)
				goto bad;
			after_run = false;
			continue;
		}
		if (++i < len && p[i] == '-') {
			if (buf_append_byte(out, '&') < 0)
				goto bad;
			i++;
			after_run = false;
			continue;
		}
		if (after_run)
			goto bad;	/* "-&": a null shift */
		for (; i < len && p[i] != '-'; i++) {
			int v = b64_value(p[i]);
			unsigned char u8[4];
			uint32_t u, cp;

			if (v < 0)
				goto bad;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits < 16)
				continue;
			nbits -= 16;
			u = (bits >> nbits) & 0xffff;
			bits &= (1u << nbits) - 1;
			units++;
			if (high != 0) {
				if (u < 0xdc00 || u > 0xdfff)
					goto bad;
				cp = 0x10000 + ((high - 0xd800) << 10) +
				    (u - 0xdc00);
				high = 0;
			} else if (u >= 0xd800 && u <= 0xdbff) {
				high = u;
				continue;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				goto bad;
			} else if (u == 0 || (u >= 0x20 && u <= 0x7e)) {
				goto bad;	/* must not be encoded */
			} else {
				cp = u;
			}
			if (buf_append(out, u8, utf8_encode(cp, u8)) < 0)
				goto bad;
		}
		if (i >= len || units == 0 || high != 0 || nbits >= 6 ||
		    bits != 0)
			goto bad;
		i++;			/* the "-" */
		after_run = true;
	}
	return 0;
bad:
	buf_truncate(out, start);
	return -1;
}

/* encode_run - "&", the base64 of the non-direct run at *ip, "-" */
static int
encode_run(const unsigned char *p, size_t len, size_t *ip, struct buf *out)
{
	uint32_t bits = 0;
	unsigned nbits = 0;
	size_t i = *ip;

	if (buf_append_byte(out, '&') < 0)
		return -1;
	while (i < len && !is_direct(p[i])) {
		uint32_t cp, units[2];
		size_t n = utf8_seq(p + i, len - i, &cp), nu = 1;

		i += n;
		if (cp >= 0x10000) {
			cp -= 0x10000;
			units[0] = 0xd800 + (cp >> 10);
			units[1] = 0xdc00 + (cp & 0x3ff);
			nu = 2;
		} else {
			units[0] = cp;
		}
		for (size_t k = 0; k < nu; k++) {
			bits = (bits << 16) | units[k];
			nbits += 16;
			while (nbits >= 6) {
				nbits -= 6;
				if (buf_append_byte(out,
				    b64[(bits >> nbits) & 63]) < 0)
					return -1;
			}
			bits &= (1u << nbits) - 1;
		}
	}
	if (nbits > 0 &&
	    buf_append_byte(out, b64[(bits << (6 - nbits)) & 63]) < 0)
		return -1;
	*ip = i;
	return buf_append_byte(out, '-');
}

int
imap_mutf7_encode(const char *in, size_t len, struct buf *out)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t start = out->len, i = 0;

	if (len == 0)
		return 0;
	if (!imap_utf8_is_valid(in, len) || memchr(in, '\0', len) != NULL)
		return -1;
	while (i < len) {
		int r;

		if (is_direct(p[i])) {
			r = p[i] == '&' ? buf_append(out, "&-", 2) :
			    buf_append_byte(out, p[i]);
			i++;
		} else {
			r = encode_run(p, len, &i, out);
		}
		if (r < 0) {
			buf_truncate(out, start);
			return -1;
		}
	}
	return 0;
}
