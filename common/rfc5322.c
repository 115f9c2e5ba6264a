/*
 * rfc5322.c - RFC 5322 message syntax (contract in rfc5322.h): the
 * header section and its fields (2.2 fields and folding, 4.5.3 blanks
 * before the colon), address lists (3.4, with the leniency of the
 * obsolete forms of 4.4: empty list members, CFWS around "." and "@",
 * routes in angle brackets), and the domain of a From field (3.6.2).
 *
 * Two readings of an address list, on purpose.  rfc5322_addresses is
 * strict: a member that is neither "[display-name] <addr-spec>" nor a
 * bare addr-spec makes the whole value unreadable, and the submission
 * server refuses the message rather than check an address it did not
 * understand.  rfc5322_from_domain uses it first, and only for a value
 * it refuses falls back to salvage(), the dmarc stage's tolerant reader
 * (RFC 7489 6.6.1: exactly one address, its domain a host name; see
 * rfc5322.h for why a receiver must not give up), so that the SMTP
 * client picks the DKIM signing domain by the same rules DMARC checks
 * alignment with, and both agree with the submission check.
 *
 * Invariants: nothing reads past the given length (a message, a value)
 * or the NUL (rfc5322_from_domain's value); the output domain is at most
 * DNS_NAME_MAX characters; every address rfc5322_addresses writes has
 * one "@" outside quotes, something on both sides of it, and no NUL, CR
 * or LF (the fuzz target t/fuzz/smtp_hdr.c checks them).
 */
#include <string.h>

#include "rfc5322.h"

/* ---- the header section and its fields ---- */

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

size_t
rfc5322_header_len(const unsigned char *msg, size_t len, bool *complete_r)
{
	size_t off = 0;

	while (off < len) {
		size_t end = line_end(msg, len, off);

		if (msg[end - 1] != '\n')
			break;		/* a partial last line */
		if (content_len(msg, off, end) == 0) {
			*complete_r = true;
			return end;
		}
		off = end;
	}
	*complete_r = false;
	return len;
}

bool
rfc5322_header_next(const unsigned char *msg, size_t len, size_t *off,
    struct rfc5322_field *f)
{
	while (*off < len) {
		size_t start = *off, end = line_end(msg, len, start);
		size_t n = content_len(msg, start, end), nlen, vend;
		const unsigned char *colon;

		*off = end;
		if (n == 0)
			return false;		/* the empty line */
		if (msg[start] == ' ' || msg[start] == '\t')
			continue;		/* continues no field */
		colon = memchr(msg + start, ':', n);
		/* continuation lines belong to the field, or to the junk */
		vend = start + n;
		while (*off < len && (msg[*off] == ' ' || msg[*off] == '\t')) {
			size_t e = line_end(msg, len, *off);

			vend = *off + content_len(msg, *off, e);
			*off = e;
		}
		if (colon == NULL)
			continue;
		nlen = (size_t)(colon - msg) - start;
		while (nlen > 0 && (msg[start + nlen - 1] == ' ' ||
		    msg[start + nlen - 1] == '\t'))
			nlen--;
		if (nlen == 0)
			continue;
		f->name = (const char *)msg + start;
		f->name_len = nlen;
		f->value = (const char *)colon + 1;
		f->value_len = vend - (size_t)(colon + 1 - msg);
		return true;
	}
	return false;
}

size_t
rfc5322_header_find(const unsigned char *msg, size_t len, const char *name,
    struct buf *value)
{
	struct rfc5322_field f;
	size_t off = 0, n = 0;

	while (rfc5322_header_next(msg, len, &off, &f)) {
		if (!ascii_eq_nocase(f.name, f.name_len, name))
			continue;
		if (n++ == 0 && value != NULL)
			buf_add(value, f.value, f.value_len);
	}
	return n;
}

/* ---- address lists, strictly ---- */

/*
 * comment_step - s[*i] is inside a comment (*depth > 0): follow its
 * nesting, and step over a quoted-pair whole (RFC 5322 3.2.2)
 */
static void
comment_step(const char *s, size_t len, size_t *i, size_t *depth)
{
	if (s[*i] == '\\' && *i + 1 < len)
		(*i)++;
	else if (s[*i] == '(')
		(*depth)++;
	else if (s[*i] == ')')
		(*depth)--;
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
			comment_step(s, len, &i, &depth);
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
			comment_step(s, len, &i, &depth);
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
rfc5322_addresses(const char *value, size_t len, struct buf *out,
    size_t *n_r)
{
	size_t start = 0, lt = 0, gt = 0, depth = 0;
	bool quoted = false, in_angle = false, angle = false, group = false;

	*n_r = 0;
	for (size_t i = 0; i <= len; i++) {
		char c = i < len ? value[i] : ',';
		int r;

		if (i < len && depth > 0) {
			comment_step(value, len, &i, &depth);
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

/* ---- the From domain ---- */

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

/*
 * salvage - the tolerant reading of a From value that rfc5322_addresses
 * refused: how many mailboxes it holds, and what follows the last "@"
 * of the last one, into dom
 */
static size_t
salvage(const char *value, struct buf *dom)
{
	struct buf v = BUF_INIT(0), addr = BUF_INIT(0);
	size_t naddr = 0, start = 0;
	bool quoted = false, angle = false;
	const char *s, *at;

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
		} else if ((!quoted && !angle && (c == ',' || c == ';')) ||
		    i == v.len) {
			/* the end closes what is open: "<ceo@bank.example"
			 * is still a mailbox, not none */
			if (mailbox(s + start, i - start, &addr)) {
				naddr++;
				buf_reset(dom);
				at = strrchr(buf_cstr(&addr), '@');
				if (at != NULL)
					buf_add_str(dom, at + 1);
			}
			start = i + 1;
		}
	}
	buf_free(&v);
	buf_free(&addr);
	return naddr;
}

/* addr_domain - what follows the "@" outside quotes of a clean addr-spec
 * (as rfc5322_addresses writes them: there is one) */
static const char *
addr_domain(const char *a)
{
	bool quoted = false;

	for (; *a != '\0'; a++) {
		if (quoted && *a == '\\' && a[1] != '\0')
			a++;
		else if (*a == '"')
			quoted = !quoted;
		else if (!quoted && *a == '@')
			return a + 1;
	}
	return a;
}

int
rfc5322_from_domain(const char *value, char out[RFC5322_DOMAIN_SIZE],
    const char **why_r)
{
	struct buf addrs = BUF_INIT(0), dom = BUF_INIT(0);
	size_t naddr = 0;
	int rc = -1;

	if (rfc5322_addresses(value, strlen(value), &addrs, &naddr) == 0) {
		if (naddr == 1)
			buf_add_str(&dom, addr_domain(buf_cstr(&addrs)));
	} else {
		naddr = salvage(value, &dom);
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
	buf_free(&addrs);
	buf_free(&dom);
	return rc;
}
