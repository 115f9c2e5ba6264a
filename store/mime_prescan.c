/*
 * mime_prescan.c - how much of a message GMime may see.
 *
 * GMime allocates about 1.3 KiB per MIME part and 0.5 KiB per header
 * field it parses (a 2 MB message of empty parts took 400 MB), and it
 * parses all of a message.  So mime_parse() shows it only the prefix that
 * ends before the line where an upper bound of what GMime would build
 * passes a limit: lines starting with "--" (every part follows one) past
 * 2 * max_parts + 64, header fields past max_fields, or one header block
 * past max_header bytes.  Legitimate messages within max_parts parts are
 * never cut (their boundary lines number at most twice their parts).
 * mime_layout_extend() then lets the parts still open at the cut run to
 * the end of the message: nothing is lost from BODY[], only structure.
 *
 * The bound follows GMime's reading of header blocks (RFC 5322 2.2, RFC
 * 2046 5.1): the top one; one after every line starting with "--" (a
 * superset of the boundary lines); and one right after a block that may
 * announce an encapsulated message (RFC 2046 5.2.1): a message/ or
 * unreadable Content-Type, or none at all after a "--" line, which is a
 * multipart/digest part (RFC 2046 5.1.5).  In a block, a field is a line
 * GMime's field-name check accepts; a block's bytes are those of its
 * fields and their continuation lines.
 */
#include <string.h>

#include "store/mime_priv.h"

static bool
is_blank(unsigned char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool
is_lwsp(unsigned char ch)
{
	return is_blank(ch) || ch == '\r' || ch == '\n';
}

static size_t
line_end(const unsigned char *m, size_t len, size_t p)
{
	const unsigned char *nl = memchr(m + p, '\n', len - p);

	return nl == NULL ? len : (size_t)(nl - m);
}

/* ct_not_message - a Content-Type value that is surely not message/ */
static bool
ct_not_message(const unsigned char *v, size_t n)
{
	size_t i = 0, t;

	while (i < n && is_blank(v[i]))
		i++;
	t = i;
	while (i < n && v[i] != '/' && v[i] != ';' && !is_lwsp(v[i]))
		i++;
	if (i == t || i == n || v[i] != '/')
		return false;
	return !(i - t == 7 && g_ascii_strncasecmp((const char *)v + t,
	    "message", 7) == 0);
}

/* mime_prescan - the length of the prefix; see the top of this file */
size_t
mime_prescan(const unsigned char *m, size_t len,
    const struct mime_limits *lim, uint32_t *flags)
{
	uint64_t dash_max = (uint64_t)lim->max_parts * 2 + 64;
	uint64_t dashes = 0, fields = 0, block = 0;
	bool hdr = true, from_dash = false, ct_seen = false, ct_other = false;
	bool in_field = false;
	size_t p = 0;

	while (p < len) {
		size_t e = line_end(m, len, p), n = e - p;

		if (n >= 2 && m[p] == '-' && m[p + 1] == '-') {
			if (++dashes > dash_max) {
				*flags |= MIME_TRUNC_PARTS;
				return p;
			}
			hdr = from_dash = true;
			ct_seen = ct_other = in_field = false;
			block = 0;
		} else if (hdr && (n == 0 || (n == 1 && m[p] == '\r'))) {
			hdr = ct_seen ? !ct_other : from_dash;
			from_dash = ct_seen = ct_other = in_field = false;
			block = 0;
		} else if (hdr) {
			bool field = !is_blank(m[p]) &&
			    mime_scan_name(m + p, n, true) == NAME_VALID;

			in_field = field || (in_field && is_blank(m[p]));
			if (in_field) {
				block += e - p + 1;
				if (block > lim->max_header) {
					*flags |= MIME_TRUNC_HEADER;
					return p;
				}
			}
			if (field && ++fields > lim->max_fields) {
				*flags |= MIME_TRUNC_HEADER;
				return p;
			}
			if (field && !ct_seen && n >= 13 &&
			    g_ascii_strncasecmp((const char *)m + p,
			    "content-type", 12) == 0 &&
			    (m[p + 12] == ':' || is_blank(m[p + 12]))) {
				const unsigned char *colon = memchr(m + p, ':',
				    n);

				ct_seen = true;
				ct_other = ct_not_message(colon + 1,
				    (size_t)(m + e - colon - 1));
			}
		}
		p = e + 1;
	}
	return len;
}
