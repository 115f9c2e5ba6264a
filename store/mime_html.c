/*
 * mime_html.c - text/html to plain text for the search index and the
 * JMAP preview: a small bounded tag stripper, not an HTML parser.
 *
 * Tags are dropped (quoted attribute values may hold '>'); the content of
 * script, style, title and head-only elements is dropped; comments,
 * CDATA and <!...> / <?...> declarations are dropped; block elements (p,
 * div, br, li, tr, h1-h6, table, blockquote, hr, pre, ...) become line
 * breaks and table cells a space; runs of white space collapse to one
 * space (at most two line breaks in a row); character references are
 * decoded: decimal and hex, and the common named ones (a reference it
 * does not know stays as written).  A '<' not starting a tag is text.
 *
 * The input is valid UTF-8 and so is the output: it copies whole input
 * bytes and writes whole characters, never more than max bytes, one pass,
 * no recursion, no allocation but the output.
 */
#include <string.h>

#include "store/mime_priv.h"

struct out {
	struct buf *b;
	size_t start, max;	/* at most max bytes after start */
	bool full;
	char last;		/* ' ' or '\n' after white space, else 0 */
	int newlines;		/* line breaks in a row */
};

static void
put(struct out *o, const void *p, size_t n)
{
	if (o->full || n > o->max - (o->b->len - o->start)) {
		o->full = true;
		return;
	}
	buf_add(o->b, p, n);
	o->last = 0;
	o->newlines = 0;
}

static void
put_space(struct out *o)
{
	if (o->last != 0 || o->b->len == o->start)
		return;
	put(o, " ", 1);
	o->last = ' ';
}

static void
put_newline(struct out *o)
{
	int n = o->newlines;

	if (o->b->len == o->start || n >= 2)
		return;
	if (o->last == ' ')	/* a line does not end in a space */
		buf_truncate(o->b, o->b->len - 1);
	put(o, "\n", 1);
	if (!o->full) {
		o->last = '\n';
		o->newlines = n + 1;
	}
}

static void
put_cp(struct out *o, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		cp = 0xfffd;
	if (cp == 0xa0 || cp == '\t' || cp == '\n' || cp == '\r' ||
	    cp == ' ') {
		put_space(o);
		return;
	}
	if (cp < 0x20 || cp == 0x7f || cp == 0xad)
		return;		/* controls, soft hyphen */
	n = utf8_encode(cp, u);
	put(o, u, n);
}

static const struct {
	const char *name;
	uint32_t cp;
} entities[] = {
	{ "amp", '&' }, { "lt", '<' }, { "gt", '>' }, { "quot", '"' },
	{ "apos", '\'' }, { "nbsp", 0xa0 }, { "copy", 0xa9 }, { "reg", 0xae },
	{ "trade", 0x2122 }, { "hellip", 0x2026 }, { "mdash", 0x2014 },
	{ "ndash", 0x2013 }, { "lsquo", 0x2018 }, { "rsquo", 0x2019 },
	{ "ldquo", 0x201c }, { "rdquo", 0x201d }, { "laquo", 0xab },
	{ "raquo", 0xbb }, { "bull", 0x2022 }, { "middot", 0xb7 },
	{ "euro", 0x20ac }, { "pound", 0xa3 }, { "yen", 0xa5 },
	{ "cent", 0xa2 }, { "deg", 0xb0 }, { "times", 0xd7 },
	{ "divide", 0xf7 }, { "shy", 0xad }, { "zwnj", 0x200c },
	{ "zwj", 0x200d }, { "thinsp", 0x2009 }, { "ensp", 0x2002 },
	{ "emsp", 0x2003 }, { "iexcl", 0xa1 }, { "iquest", 0xbf },
	{ "sect", 0xa7 }, { "para", 0xb6 }, { "plusmn", 0xb1 },
	{ "auml", 0xe4 }, { "ouml", 0xf6 }, { "uuml", 0xfc },
	{ "Auml", 0xc4 }, { "Ouml", 0xd6 }, { "Uuml", 0xdc },
	{ "szlig", 0xdf }, { "eacute", 0xe9 }, { "egrave", 0xe8 },
	{ "agrave", 0xe0 }, { "aacute", 0xe1 }, { "ccedil", 0xe7 },
	{ "ntilde", 0xf1 }, { "oacute", 0xf3 }, { "iacute", 0xed },
	{ "uacute", 0xfa },
};

/* entity - decode the reference at h[i] ('&'); bytes used, 0 if none */
static size_t
entity(const char *h, size_t i, size_t n, struct out *o)
{
	size_t j = i + 1, end;
	uint32_t cp = 0;

	if (j < n && h[j] == '#') {
		bool hex = j + 1 < n && (h[j + 1] == 'x' || h[j + 1] == 'X');
		size_t digits = 0;

		for (j += hex ? 2 : 1; j < n && digits < 8; j++, digits++) {
			int d = g_ascii_xdigit_value(h[j]);

			if (d < 0 || (!hex && d > 9))
				break;
			cp = cp * (hex ? 16 : 10) + (uint32_t)d;
		}
		if (digits == 0)
			return 0;
		put_cp(o, cp);
		return (j < n && h[j] == ';' ? j + 1 : j) - i;
	}
	for (end = j; end < n && end - j < 8 && g_ascii_isalnum(h[end]); end++)
		;
	for (size_t k = 0; k < G_N_ELEMENTS(entities); k++) {
		size_t l = strlen(entities[k].name);

		if (l == end - j && memcmp(h + j, entities[k].name, l) == 0) {
			put_cp(o, entities[k].cp);
			return (end < n && h[end] == ';' ? end + 1 : end) - i;
		}
	}
	return 0;
}

static bool
name_is(const char *name, size_t len, const char *const *list)
{
	for (; *list; list++)
		if (strlen(*list) == len &&
		    g_ascii_strncasecmp(name, *list, len) == 0)
			return true;
	return false;
}

static const char *const block_tags[] = {
	"p", "div", "br", "li", "ul", "ol", "tr", "table", "blockquote",
	"hr", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "dl", "dt", "dd",
	"section", "article", "header", "footer", "address", "center",
	"form", "tbody", "thead", "tfoot", "caption", "body", "html", NULL,
};
static const char *const cell_tags[] = { "td", "th", NULL };
static const char *const skip_tags[] = {
	"script", "style", "title", "head", "template", "noscript", NULL,
};

/* skip_past - index just past the first s (case-insensitive) from i */
static size_t
skip_past(const char *h, size_t i, size_t n, const char *s)
{
	size_t l = strlen(s);

	for (; i + l <= n; i++)
		if (g_ascii_strncasecmp(h + i, s, l) == 0)
			return i + l;
	return n;
}

/* tag_end - index just past the '>' ending the tag that starts at i */
static size_t
tag_end(const char *h, size_t i, size_t n)
{
	char quote = 0;

	for (; i < n; i++) {
		if (quote != 0) {
			if (h[i] == quote)
				quote = 0;
		} else if (h[i] == '"' || h[i] == '\'') {
			quote = h[i];
		} else if (h[i] == '>') {
			return i + 1;
		}
	}
	return n;
}

/* tag - handle the markup at h[i] == '<'; bytes used, 0 when text */
static size_t
tag(const char *h, size_t i, size_t n, struct out *o)
{
	size_t j = i + 1, name, len;
	bool close = false;

	if (j >= n)
		return 0;
	if (n - j >= 3 && memcmp(h + j, "!--", 3) == 0)
		return skip_past(h, j + 3, n, "-->") - i;
	if (n - j >= 8 && memcmp(h + j, "![CDATA[", 8) == 0)
		return skip_past(h, j + 8, n, "]]>") - i;
	if (h[j] == '!' || h[j] == '?')
		return tag_end(h, j, n) - i;
	if (h[j] == '/') {
		close = true;
		j++;
	}
	if (j >= n || !g_ascii_isalpha(h[j]))
		return 0;
	for (name = j; j < n && (g_ascii_isalnum(h[j]) || h[j] == '-'); j++)
		;
	len = j - name;
	j = tag_end(h, j, n);
	if (!close && name_is(h + name, len, skip_tags)) {
		/* drop everything up to the closing tag */
		char endtag[16];

		if (len < sizeof(endtag) - 2) {
			endtag[0] = '<';
			endtag[1] = '/';
			memcpy(endtag + 2, h + name, len);
			endtag[len + 2] = '\0';
			j = skip_past(h, j, n, endtag);
			j = tag_end(h, j, n);
		}
		return j - i;
	}
	if (name_is(h + name, len, block_tags))
		put_newline(o);
	else if (name_is(h + name, len, cell_tags))
		put_space(o);
	return j - i;
}

void
mime_html_strip(const char *h, size_t n, size_t max, struct buf *out)
{
	struct out o = { out, out->len, max, false, 0, 0 };
	size_t i = 0;

	while (i < n && !o.full) {
		char ch = h[i];
		size_t used = 0, run;

		if (ch == '<')
			used = tag(h, i, n, &o);
		else if (ch == '&')
			used = entity(h, i, n, &o);
		else if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
		    ch == '\f') {
			put_space(&o);
			used = 1;
		}
		if (used > 0) {
			i += used;
			continue;
		}
		/* a run of plain text, whole characters */
		for (run = i + 1; run < n && h[run] != '<' && h[run] != '&' &&
		    h[run] != ' ' && h[run] != '\t' && h[run] != '\n' &&
		    h[run] != '\r' && h[run] != '\f'; run++)
			;
		if (run - i > max - (out->len - o.start))
			run = i + mime_utf8_cut(h + i, run - i,
			    max - (out->len - o.start));
		if (run == i)
			break;
		put(&o, h + i, run - i);
		i = run;
	}
	/* no trailing white space */
	while (out->len > o.start && (out->data[out->len - 1] == ' ' ||
	    out->data[out->len - 1] == '\n'))
		buf_truncate(out, out->len - 1);
}
