/*
 * smtp_hdr.c - a submitted message's header section (see smtp_hdr.h).
 *
 * Lines end at LF (CRLF in practice); the header ends at the first empty
 * line.  Addresses are read with the RFC 5322 3.4 grammar and the
 * leniency of its obsolete forms (4.4: empty list members, CFWS around
 * "." and "@", routes in angle brackets), but never guessed at: a member
 * that is neither "[display-name] <addr-spec>" nor a bare addr-spec makes
 * the whole value unreadable, and the caller refuses the message rather
 * than check an address it did not understand.
 */
#include <string.h>

#include "mta/smtp_hdr.h"

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* line_end - the index after the LF of the line at off, or len */
static size_t
line_end(const unsigned char *msg, size_t len, size_t off)
{
	const unsigned char *lf = memchr(msg + off, '\n', len - off);

	return lf != NULL ? (size_t)(lf - msg) + 1 : len;
}

/* is_empty_line - msg[off..end) is "\r\n" or "\n" */
static bool
is_empty_line(const unsigned char *msg, size_t off, size_t end)
{
	return (end - off == 1 && msg[off] == '\n') ||
	    (end - off == 2 && msg[off] == '\r' && msg[off + 1] == '\n');
}

size_t
smtp_hdr_len(const unsigned char *msg, size_t len, bool *complete_r)
{
	size_t off = 0;

	while (off < len) {
		size_t end = line_end(msg, len, off);

		if (end == len && msg[end - 1] != '\n')
			break;		/* a partial last line */
		if (is_empty_line(msg, off, end)) {
			*complete_r = true;
			return end;
		}
		off = end;
	}
	*complete_r = false;
	return len;
}

/* content_len - the line msg[off..end) without its CR LF */
static size_t
content_len(const unsigned char *msg, size_t off, size_t end)
{
	size_t n = end - off;

	if (n > 0 && msg[off + n - 1] == '\n')
		n--;
	if (n > 0 && msg[off + n - 1] == '\r')
		n--;
	return n;
}

bool
smtp_hdr_next(const unsigned char *hdr, size_t hlen, size_t *off,
    struct smtp_hdr_field *f)
{
	while (*off < hlen) {
		size_t start = *off, end = line_end(hdr, hlen, start);
		size_t n = content_len(hdr, start, end), nlen, vend;
		const unsigned char *colon;

		*off = end;
		if (n == 0)
			return false;		/* the empty line */
		if (hdr[start] == ' ' || hdr[start] == '\t')
			continue;		/* continues no field */
		colon = memchr(hdr + start, ':', n);
		if (colon == NULL)
			continue;
		nlen = (size_t)(colon - hdr) - start;
		while (nlen > 0 && (hdr[start + nlen - 1] == ' ' ||
		    hdr[start + nlen - 1] == '\t'))
			nlen--;
		vend = start + n;
		/* continuation lines belong to the field */
		while (*off < hlen && (hdr[*off] == ' ' || hdr[*off] == '\t')) {
			size_t e = line_end(hdr, hlen, *off);

			vend = *off + content_len(hdr, *off, e);
			*off = e;
		}
		if (nlen == 0)
			continue;
		f->name.p = (const char *)hdr + start;
		f->name.len = nlen;
		f->value.p = (const char *)colon + 1;
		f->value.len = vend - (size_t)(colon + 1 - hdr);
		return true;
	}
	return false;
}

size_t
smtp_hdr_count(const unsigned char *hdr, size_t hlen, const char *name)
{
	struct smtp_hdr_field f;
	size_t off = 0, n = 0;

	while (smtp_hdr_next(hdr, hlen, &off, &f))
		if (ascii_eq_nocase(f.name.p, f.name.len, name))
			n++;
	return n;
}

/*
 * addr_spec - s[0..len), an addr-spec with CFWS, into out cleaned; 0
 * when s is only CFWS (nothing added), 1 when added, -1 when it is no
 * addr-spec
 */
static int
addr_spec(const char *s, size_t len, struct buf *out)
{
	size_t start = out->len, ats = 0, depth = 0, i = 0;
	bool gap = false, quoted = false, any = false;

	for (; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (depth > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (c == '\0')
			goto bad;	/* never inside what the caller reads */
		if (quoted) {
			if (c == '\r' || c == '\n')
				continue;	/* folding: unfolded */
			if ((c < 0x20 && c != '\t') || c == 0x7f)
				goto bad;
			if (c == '\\' && i + 1 < len) {
				if ((unsigned char)s[i + 1] < 0x20 ||
				    buf_append(out, s + i, 2) < 0)
					goto bad;
				i++;
				continue;
			}
			if (buf_append_byte(out, c) < 0)
				goto bad;
			if (c == '"')
				quoted = false;
			continue;
		}
		if (is_wsp(c) || c == '(') {
			depth = c == '(';
			gap = true;
			continue;
		}
		if (c == ')' || c == '<' || c == '>' || c == ',' ||
		    c == ';' || c == ':' || c == '\\' || c < 0x20 || c == 0x7f)
			goto bad;
		/* white space only next to "." and "@" (RFC 5322 4.4) */
		if (gap && out->len > start && strchr(".@",
		    out->data[out->len - 1]) == NULL && c != '.' && c != '@')
			goto bad;
		gap = false;
		if (c == '"')
			quoted = true;
		if (c == '@')
			ats++;
		if (buf_append_byte(out, c) < 0)
			goto bad;
		any = true;
	}
	if (!any)
		return 0;
	if (quoted || depth > 0 || ats != 1 || out->data[start] == '@' ||
	    out->data[out->len - 1] == '@')
		goto bad;
	if (buf_append_byte(out, '\0') < 0)
		goto bad;
	return 1;
bad:
	buf_truncate(out, start);
	return -1;
}

/* only_cfws - s[0..len) is white space and comments */
static bool
only_cfws(const char *s, size_t len)
{
	size_t depth = 0;

	for (size_t i = 0; i < len; i++) {
		if (depth > 0) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '(')
				depth++;
			else if (s[i] == ')')
				depth--;
		} else if (s[i] == '(') {
			depth = 1;
		} else if (!is_wsp((unsigned char)s[i])) {
			return false;
		}
	}
	return depth == 0;
}

/*
 * member - one mailbox of the list, s[0..len): "[phrase] <addr>" or a bare
 * addr-spec; a route before the addr-spec in angle brackets is dropped
 */
static int
member(const char *s, size_t len, size_t lt, size_t gt, bool angle,
    struct buf *out)
{
	const char *a = s, *colon;
	size_t alen = len;
	int r;

	if (angle) {
		a = s + lt + 1;
		alen = gt - lt - 1;
		/* the phrase before "<" is display text; nothing after ">"
		 * but CFWS */
		if (!only_cfws(s + gt + 1, len - gt - 1))
			return -1;
		while (alen > 0 && is_wsp((unsigned char)a[0])) {
			a++;
			alen--;
		}
		if (alen > 0 && a[0] == '@') {		/* obs-route */
			colon = memchr(a, ':', alen);
			if (colon == NULL)
				return -1;
			alen -= (size_t)(colon + 1 - a);
			a = colon + 1;
		}
	}
	r = addr_spec(a, alen, out);
	if (angle && r == 0)
		return -1;	/* "<>" is no mailbox */
	return r;
}

int
smtp_hdr_addresses(const char *value, size_t len, struct buf *out,
    size_t *n_r)
{
	size_t start = 0, lt = 0, gt = 0, depth = 0;
	bool quoted = false, in_angle = false, angle = false, group = false;

	*n_r = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? value[i] : ',';
		int r;

		if (i < len && depth > 0) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			continue;
		}
		if (i < len && quoted) {
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '"')
				quoted = false;
			continue;
		}
		if (i < len && in_angle) {
			if (c == '"')
				quoted = true;
			else if (c == '(')
				depth = 1;
			else if (c == '<')
				return -1;
			else if (c == '>') {
				in_angle = false;
				gt = i - start;
			}
			continue;
		}
		switch (c) {
		case '"':
			quoted = true;
			continue;
		case '(':
			depth = 1;
			continue;
		case ')':
		case '>':
			return -1;
		case '<':
			if (angle)
				return -1;
			angle = in_angle = true;
			lt = i - start;
			continue;
		case ':':
			/* a group's display name; no group in a group */
			if (group || angle)
				return -1;
			group = true;
			start = i + 1;
			continue;
		case ',':
		case ';':
			if (c == ';' && !group)
				return -1;
			if (i == len && (quoted || depth > 0 || in_angle ||
			    group))
				return -1;
			r = member(value + start, i - start, lt, gt, angle,
			    out);
			if (r < 0)
				return -1;
			*n_r += (size_t)r;
			if (c == ';')
				group = false;
			start = i + 1;
			angle = false;
			continue;
		default:
			continue;
		}
	}
	return 0;
}
