/*
 * rfc5322.c - header fields of a raw message and the domain of a From
 * field (contract in rfc5322.h), RFC 5322 2.2 (fields, folding), 3.4
 * (addresses), 3.6.2 (From) and 4.5.3 (obsolete blanks before the
 * colon).
 *
 * The From parser was the dmarc stage's (RFC 7489 6.6.1: exactly one
 * address, its domain a host name); it moved here unchanged so that the
 * SMTP client picks the DKIM signing domain by the same rules DMARC
 * checks alignment with.  It is tolerant on purpose: comments are
 * dropped, a group's display name and an obs-route are skipped, an
 * address is what is inside <> or else the whole mailbox.
 *
 * Invariants: nothing reads past the given length (a message) or the
 * NUL (a value); the output domain is at most DNS_NAME_MAX characters.
 */
#include <string.h>

#include "rfc5322.h"

/* strip - value unfolded, comments removed (quoted strings kept) */
static void
strip(const char *v, struct buf *out)
{
	int depth = 0;
	bool quoted = false;

	for (; *v != '\0'; v++) {
		if (*v == '\r' || *v == '\n')
			continue;
		if (*v == '\\' && (quoted || depth > 0) && v[1] != '\0') {
			if (depth == 0)
				buf_add(out, v, 2);
			v++;
			continue;
		}
		if (depth == 0 && *v == '"')
			quoted = !quoted;
		else if (!quoted && *v == '(') {
			depth++;
			continue;
		} else if (!quoted && *v == ')' && depth > 0) {
			depth--;
			if (depth == 0)
				buf_add(out, " ", 1);
			continue;
		}
		if (depth == 0)
			buf_add(out, v, 1);
	}
}

/* mailbox - the addr-spec of one mailbox (s, n) into addr (inside <>
 * when there are brackets); false when the mailbox is empty */
static bool
mailbox(const char *s, size_t n, struct buf *addr)
{
	const char *lt = NULL, *gt, *end = s + n;
	bool quoted = false;

	for (const char *p = s; p < end && lt == NULL; p++) {
		if (*p == '\\' && quoted && p + 1 < end)
			p++;
		else if (*p == '"')
			quoted = !quoted;
		else if (*p == '<' && !quoted)
			lt = p;
	}
	if (lt != NULL) {
		gt = memchr(lt, '>', (size_t)(end - lt));
		s = lt + 1;
		end = gt != NULL ? gt : end;
		/* obs-route: "<@a,@b:user@example.org>" */
		for (const char *p = s; p < end; p++)
			if (*p == ':')
				s = p + 1;
	}
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	buf_reset(addr);
	buf_add(addr, s, (size_t)(end - s));
	return addr->len > 0;
}

int
rfc5322_from_domain(const char *value, char out[RFC5322_DOMAIN_SIZE],
    const char **why_r)
{
	struct buf v = BUF_INIT(0), addr = BUF_INIT(0), dom = BUF_INIT(0);
	size_t naddr = 0, start = 0;
	bool quoted = false, angle = false;
	const char *s, *at;
	int rc = -1;

	strip(value, &v);
	s = buf_cstr(&v);
	/* split at ',' (and group syntax's ':' and ';') at the top level */
	for (size_t i = 0; i <= v.len; i++) {
		char c = i < v.len ? s[i] : ',';

		if (c == '\\' && quoted && i + 1 < v.len) {
			i++;
			continue;
		}
		if (c == '"' && !angle)
			quoted = !quoted;
		else if (!quoted && c == '<')
			angle = true;
		else if (!quoted && c == '>')
			angle = false;
		else if (!quoted && !angle && c == ':') {
			start = i + 1;	/* a group's display name */
		} else if (!quoted && !angle && (c == ',' || c == ';')) {
			if (mailbox(s + start, i - start, &addr)) {
				naddr++;
				buf_reset(&dom);
				at = strrchr(buf_cstr(&addr), '@');
				if (at != NULL)
					buf_add_str(&dom, at + 1);
			}
			start = i + 1;
		}
	}
	if (naddr != 1) {
		*why_r = naddr == 0 ? "no From address" :
		    "several From addresses";
		goto out;
	}
	while (dom.len > 0 && (dom.data[dom.len - 1] == ' ' ||
	    dom.data[dom.len - 1] == '.'))
		buf_truncate(&dom, dom.len - 1);
	if (dom.len == 0 || dom.len > DNS_NAME_MAX ||
	    !dns_is_host_name(buf_cstr(&dom), dom.len)) {
		*why_r = "no usable From domain";
		goto out;
	}
	for (size_t i = 0; i < dom.len; i++)
		out[i] = (char)ascii_tolower(dom.data[i]);
	out[dom.len] = '\0';
	rc = 0;
out:
	buf_free(&v);
	buf_free(&addr);
	buf_free(&dom);
	return rc;
}

/* line_end - just past the LF of the line at p, or end */
static const unsigned char *
line_end(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl != NULL ? nl + 1 : end;
}

static bool
is_blank_line(const unsigned char *p, const unsigned char *end)
{
	return *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'));
}

size_t
rfc5322_header_find(const unsigned char *msg, size_t len, const char *name,
    struct buf *value)
{
	const unsigned char *p = msg, *end = msg + len;
	size_t n = 0, nlen = strlen(name);

	while (p < end && !is_blank_line(p, end)) {
		const unsigned char *fe = line_end(p, end), *colon, *ve;
		size_t k;

		while (fe < end && (*fe == ' ' || *fe == '\t'))
			fe = line_end(fe, end);
		colon = memchr(p, ':', (size_t)(fe - p));
		if (colon == NULL || *p == ' ' || *p == '\t') {
			p = fe;	/* no field, or a leading continuation */
			continue;
		}
		k = (size_t)(colon - p);
		while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'))
			k--;
		if (k == nlen && ascii_strncasecmp((const char *)p, name,
		    nlen) == 0) {
			if (n++ == 0 && value != NULL) {
				ve = fe;
				if (ve > colon + 1 && ve[-1] == '\n')
					ve--;
				if (ve > colon + 1 && ve[-1] == '\r')
					ve--;
				buf_add(value, colon + 1,
				    (size_t)(ve - colon - 1));
			}
		}
		p = fe;
	}
	return n;
}

size_t
rfc5322_header_len(const unsigned char *msg, size_t len, bool *complete_r)
{
	const unsigned char *p = msg, *end = msg + len;

	while (p < end) {
		if (is_blank_line(p, end)) {
			if (*p == '\r' && p + 1 == end)
				break;	/* the LF may come next */
			*complete_r = true;
			return (size_t)(line_end(p, end) - msg);
		}
		p = line_end(p, end);
		if (p[-1] != '\n')
			break;		/* a partial line */
	}
	*complete_r = false;
	return len;
}
