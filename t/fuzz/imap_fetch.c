/*
 * imap_fetch.c - libFuzzer target for the FETCH renderer
 * (imap-jmap/imap_fetch_out.h) over messages parsed by mime_parse().
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: imap-jmap/imap_arena.c imap-jmap/imap_cmd.c
 * fuzz-sources: imap-jmap/imap_cmd_ext.c imap-jmap/imap_fetch.c
 * fuzz-sources: imap-jmap/imap_lex.c imap-jmap/imap_mutf7.c
 * fuzz-sources: imap-jmap/imap_parser.c imap-jmap/imap_search.c
 * fuzz-sources: imap-jmap/imap_unparse.c imap-jmap/imap_write.c
 * fuzz-sources: imap-jmap/imap_fetch_out.c
 * fuzz-sources: store/mime.c store/mime_addr.c store/mime_codec.c
 * fuzz-sources: store/mime_fields.c store/mime_html.c store/mime_imap.c
 * fuzz-sources: store/mime_jmap.c store/mime_layout.c store/mime_prescan.c
 * fuzz-sources: store/mime_text.c store/mime_simple.c common/subject.c
 *
 * The first octet picks the session (IMAP4rev2, UTF8=ACCEPT, CONDSTORE,
 * UIDONLY, read-only) and the flags; the rest is a raw message, parsed
 * with small limits.  A fixed rich FETCH (every item kind, sections,
 * partials, HEADER.FIELDS[.NOT], missing parts) and BINARY/BINARY.SIZE
 * of several parts are rendered.  Invariants, beyond "no crash":
 *   - the rich FETCH always succeeds; BINARY succeeds or fails with
 *     UNKNOWN-CTE and then leaves the output as it was;
 *   - every line is well-formed IMAP: "* n FETCH (" or "* uid UIDFETCH
 *     (", items "name value" separated by one SP, balanced parentheses
 *     (lists separated by one SP but the bodies of a multipart),
 *     quoted strings with only \" and \\ escaped, no CR, LF or NUL, 8-bit
 *     only in UTF-8 mode; literals of exactly the announced length, no
 *     NUL in a "{n}" literal; ")" CRLF and nothing after;
 *   - the item names are those of the request, in its order (UID first
 *     for UID FETCH, not under UIDONLY);
 *   - RFC822.SIZE is the message size; BODY[]<0.100> is the message's
 *     first octets with NUL as 0x80;
 *   - BINARY's literal is literal8 exactly when it holds a NUL, and its
 *     length is what BINARY.SIZE says;
 *   - rendering from the MIME info encoded and decoded again (what the
 *     store keeps) gives the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "imap-jmap/imap_fetch_out.h"
#include "imap-jmap/imap_parse.h"
#include "store/mail.h"
#include "store/mime.h"

static const struct mime_limits lim = {
	.max_parts = 48,
	.max_depth = 6,
	.max_header = 2048,
	.max_fields = 128,
	.max_text = 2048,
	.max_preview = 40,
};

static const char rich_cmd[] =
    "a UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY "
    "BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (From Subject)] "
    "BODY.PEEK[HEADER.FIELDS.NOT (Received subject)]<2.40> "
    "BODY.PEEK[TEXT]<3.50> BODY.PEEK[1] BODY.PEEK[1.MIME] "
    "BODY.PEEK[2.1.HEADER] BODY.PEEK[2.TEXT] RFC822.HEADER MODSEQ EMAILID "
    "THREADID SAVEDATE PREVIEW BODY.PEEK[]<0.100> RFC822.TEXT "
    "BINARY.SIZE[] BODY[1.2.3] FLAGS) (CHANGEDSINCE 1)\r\n";

/* the names of the rich FETCH's items, UID first (see check_names) */
static const char *const rich_names[] = {
	"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY",
	"BODYSTRUCTURE", "BODY[HEADER.FIELDS (From Subject)]",
	"BODY[HEADER.FIELDS.NOT (Received subject)]<2>", "BODY[TEXT]<3>",
	"BODY[1]", "BODY[1.MIME]", "BODY[2.1.HEADER]", "BODY[2.TEXT]",
	"RFC822.HEADER", "MODSEQ", "EMAILID", "THREADID", "SAVEDATE",
	"PREVIEW", "BODY[]<0>", "RFC822.TEXT", "BINARY.SIZE[]",
	"BODY[1.2.3]",
};

static const char *const binary_sections[] = {
	"1", "2", "3", "1.1", "1.2", "2.1", "2.2", "1.1.1", "2.1.1",
};

static struct imap_cmd *rich;
static struct imap_cmd *binary[ARRAY_SIZE(binary_sections)];

static struct imap_cmd *
parse(const char *line)
{
	struct imap_limits l;
	struct imap_parser *p;
	struct imap_cmd *cmd = NULL;
	struct imap_parse_error e;
	size_t used;

	imap_limits_default(&l, true);
	p = imap_parser_new(&l);
	if (imap_parser_feed(p, (const unsigned char *)line, strlen(line),
	    &used, &cmd, &e) != IMAP_PARSE_CMD)
		PANIC("cannot parse %s", line);
	imap_parser_free(&p);
	return cmd;
}

static void
init(void)
{
	struct buf b = BUF_INIT(0);

	rich = parse(rich_cmd);
	for (size_t i = 0; i < ARRAY_SIZE(binary_sections); i++) {
		buf_reset(&b);
		buf_addf(&b, "a FETCH 1 (BINARY.PEEK[%s] BINARY.SIZE[%s])\r\n",
		    binary_sections[i], binary_sections[i]);
		binary[i] = parse(buf_cstr(&b));
	}
	buf_free(&b);
}

/* ---- a checker for the server's side of the grammar ---- */

struct lit {
	size_t off, len;	/* content in the line */
	bool lit8;
};

struct chk {
	const unsigned char *s;
	size_t len, pos;
	bool utf8;
	/* per item: name and the last literal or number of its value */
	char names[64][96];
	size_t nnames;
	struct lit lit[64];
	uint64_t num[64];
	bool has_lit[64], has_num[64];
};

static int
peek(const struct chk *c)
{
	return c->pos < c->len ? c->s[c->pos] : -1;
}

static void
expect(struct chk *c, const char *lit)
{
	size_t n = strlen(lit);

	ASSERT(n <= c->len - c->pos && memcmp(c->s + c->pos, lit, n) == 0);
	c->pos += n;
}

static uint64_t
number(struct chk *c)
{
	uint64_t v = 0;
	size_t start = c->pos;

	while (peek(c) >= '0' && peek(c) <= '9') {
		ASSERT(v <= (UINT64_MAX - 9) / 10);
		v = v * 10 + (uint64_t)(c->s[c->pos++] - '0');
	}
	ASSERT(c->pos > start);
	return v;
}

static bool
utf8_ok(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t k = p[i] < 0x80 ? 1 : p[i] >= 0xc2 && p[i] < 0xe0 ? 2 :
		    p[i] >= 0xe0 && p[i] < 0xf0 ? 3 : p[i] >= 0xf0 &&
		    p[i] < 0xf5 ? 4 : 0;

		if (k == 0 || k > n - i)
			return false;
		for (size_t j = 1; j < k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
		i += k;
	}
	return true;
}

static void
quoted(struct chk *c)
{
	size_t start;

	expect(c, "\"");
	start = c->pos;
	for (;;) {
		int ch = peek(c);

		ASSERT(ch != -1 && ch != '\r' && ch != '\n' && ch != 0);
		c->pos++;
		if (ch == '"')
			break;
		if (ch == '\\') {
			ch = peek(c);
			ASSERT(ch == '"' || ch == '\\');
			c->pos++;
		}
	}
	if (!c->utf8)
		for (size_t i = start; i < c->pos; i++)
			ASSERT(c->s[i] < 0x80);
	else
		ASSERT(utf8_ok(c->s + start, c->pos - 1 - start));
}

static void
literal(struct chk *c, struct lit *l)
{
	uint64_t n;

	l->lit8 = peek(c) == '~';
	if (l->lit8)
		c->pos++;
	expect(c, "{");
	n = number(c);
	expect(c, "}\r\n");
	ASSERT(n <= c->len - c->pos);
	l->off = c->pos;
	l->len = (size_t)n;
	if (!l->lit8)
		ASSERT(memchr(c->s + c->pos, '\0', l->len) == NULL);
	c->pos += l->len;
}

static bool
is_atom_char(int ch)
{
	return ch > 0x20 && ch < 0x7f && strchr("(){%*\"]", ch) == NULL;
}

/* value - an IMAP value; the item's literal or number is remembered */
static void
value(struct chk *c, size_t item, unsigned depth)
{
	int ch = peek(c);

	ASSERT(depth < 200);
	if (ch == '(') {
		c->pos++;
		for (bool first = true; peek(c) != ')'; first = false) {
			/* body-type-mpart = 1*body SP media-subtype: the
			 * bodies of a multipart follow each other with no SP */
			if (!first && !(peek(c) == '(' &&
			    c->s[c->pos - 1] == ')'))
				expect(c, " ");
			value(c, item, depth + 1);
		}
		c->pos++;
	} else if (ch == '"') {
		quoted(c);
	} else if (ch == '{' || ch == '~') {
		literal(c, &c->lit[item]);
		c->has_lit[item] = depth == 0;
	} else if (ch >= '0' && ch <= '9') {
		c->num[item] = number(c);
		c->has_num[item] = depth == 0;
	} else {
		size_t start = c->pos;

		/* NIL, a flag ("\Seen", keywords) */
		if (ch == '\\')
			c->pos++;
		while (is_atom_char(peek(c)) && peek(c) != '\\')
			c->pos++;
		ASSERT(c->pos > start + (ch == '\\'));
	}
}

/* name - ATOM ["[" ... "]" ["<" number ">"]] */
static void
name(struct chk *c, size_t item)
{
	size_t start = c->pos, n;

	while ((peek(c) >= 'A' && peek(c) <= 'Z') || peek(c) == '.' ||
	    (peek(c) >= '0' && peek(c) <= '9'))
		c->pos++;
	ASSERT(c->pos > start);
	if (peek(c) == '[') {
		const unsigned char *e = memchr(c->s + c->pos, ']',
		    c->len - c->pos);

		ASSERT(e != NULL);
		c->pos = (size_t)(e - c->s) + 1;
		if (peek(c) == '<') {
			c->pos++;
			(void)number(c);
			expect(c, ">");
		}
	}
	n = c->pos - start;
	ASSERT(n < sizeof(c->names[0]));
	memcpy(c->names[item], c->s + start, n);
	c->names[item][n] = '\0';
}

/* check_line - out[0..len) is one FETCH line (UIDFETCH when uidonly) */
static void
check_line(struct chk *c, const unsigned char *out, size_t len, bool utf8,
    bool uidonly, uint32_t id)
{
	memset(c, 0, sizeof(*c));
	c->s = out;
	c->len = len;
	c->utf8 = utf8;
	expect(c, "* ");
	ASSERT(number(c) == id);
	expect(c, uidonly ? " UIDFETCH (" : " FETCH (");
	for (bool first = true; peek(c) != ')'; first = false) {
		if (!first)
			expect(c, " ");
		ASSERT(c->nnames < ARRAY_SIZE(c->names));
		name(c, c->nnames);
		expect(c, " ");
		value(c, c->nnames, 0);
		c->nnames++;
	}
	expect(c, ")\r\n");
	ASSERT(c->pos == c->len);
}

static size_t
find(const struct chk *c, const char *n)
{
	for (size_t i = 0; i < c->nnames; i++)
		if (strcmp(c->names[i], n) == 0)
			return i;
	PANIC("no item %s", n);
}

static int
blob_fn(void *arg, const unsigned char **data_r, size_t *len_r,
    struct buf *err)
{
	const struct buf *b = arg;

	*data_r = b->data;
	*len_r = b->len;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct chk c;
	struct mime_info *info = NULL, *info2 = NULL;
	struct buf msg = BUF_INIT(0), out = BUF_INIT(0), out2 = BUF_INIT(0);
	struct buf err = BUF_INIT(0), enc = BUF_INIT(0);
	struct imap_fetch_out_opts o;
	struct imap_fetch_out_msg m;
	unsigned session;
	bool uidonly;
	size_t k;

	if (rich == NULL)
		init();
	if (size < 1)
		return 0;
	session = data[0] & 0x1f;
	uidonly = (session & IMAP_FETCH_OUT_UIDONLY) != 0;
	buf_add(&msg, data + 1, size - 1);
	if (mime_parse(msg.data, msg.len, &lim, &info, &err) != 0)
		PANIC("mime_parse: %s", buf_cstr(&err));

	memset(&m, 0, sizeof(m));
	m.msn = 7;
	m.uid = 4242;
	m.flags = data[0] & 0xe0 ? MAIL_F_SEEN | MAIL_F_JUNK : 0;
	m.keywords = "work $label";
	m.recent = (data[0] & 0x40) != 0;
	m.modseq = 99;
	m.internal_date = (int64_t)size * 86400 * 97;
	m.tz = (int16_t)((int)data[0] * 11 - 1400);
	m.size = msg.len;
	m.email_id = 12;
	m.thread_id = data[0] & 0x20 ? 0 : 3;
	m.has_savedate = (data[0] & 0x80) != 0;
	m.savedate = -(int64_t)size * 1000003;
	m.mime = info;
	m.blob = blob_fn;
	m.blob_arg = &msg;

	/* the rich FETCH */
	imap_fetch_out_opts_init(&o, rich, session);
	if (imap_fetch_out_render(&out, &o, &m, NULL, &err) !=
	    IMAP_FETCH_OUT_OK)
		PANIC("rich FETCH failed: %s", buf_cstr(&err));
	check_line(&c, out.data, out.len,
	    (session & IMAP_FETCH_OUT_UTF8) != 0, uidonly,
	    uidonly ? m.uid : m.msn);
	k = uidonly ? 1 : 0;
	ASSERT(c.nnames == ARRAY_SIZE(rich_names) - k);
	for (size_t i = 0; i < c.nnames; i++)
		ASSERT(strcmp(c.names[i], rich_names[i + k]) == 0);
	k = find(&c, "RFC822.SIZE");
	ASSERT(c.has_num[k] && c.num[k] == msg.len);
	k = find(&c, "BINARY.SIZE[]");
	ASSERT(c.has_num[k] && c.num[k] == msg.len);
	k = find(&c, "BODY[]<0>");
	ASSERT(c.has_lit[k] || msg.len == 0);
	if (c.has_lit[k]) {
		ASSERT(c.lit[k].len == (msg.len < 100 ? msg.len : 100));
		for (size_t i = 0; i < c.lit[k].len; i++)
			ASSERT(out.data[c.lit[k].off + i] ==
			    (msg.data[i] ? msg.data[i] : 0x80));
	}

	/* the same from the MIME info as the store keeps it */
	if (mime_info_encode(info, &enc) != 0 ||
	    mime_info_decode(enc.data, enc.len, &info2, &err) != 0)
		PANIC("mime_info encode/decode: %s", buf_cstr(&err));
	m.mime = info2;
	if (imap_fetch_out_render(&out2, &o, &m, NULL, &err) !=
	    IMAP_FETCH_OUT_OK)
		PANIC("rich FETCH from decoded info failed");
	ASSERT(out2.len == out.len && memcmp(out.data, out2.data,
	    out.len) == 0);
	m.mime = info;

	/* BINARY and BINARY.SIZE of parts */
	for (size_t i = 0; i < ARRAY_SIZE(binary_sections); i++) {
		enum imap_fetch_out_res res;
		size_t lb, ls;

		buf_reset(&out);
		buf_add_str(&out, "x");
		imap_fetch_out_opts_init(&o, binary[i], session);
		res = imap_fetch_out_render(&out, &o, &m, NULL, &err);
		if (res == IMAP_FETCH_OUT_UNKNOWN_CTE) {
			ASSERT(out.len == 1);
			continue;
		}
		ASSERT(res == IMAP_FETCH_OUT_OK);
		check_line(&c, out.data + 1, out.len - 1,
		    (session & IMAP_FETCH_OUT_UTF8) != 0, uidonly,
		    uidonly ? m.uid : m.msn);
		ASSERT(c.nnames == 2);
		lb = 0;
		ls = 1;
		ASSERT(c.has_num[ls]);
		if (!c.has_lit[lb]) {
			/* NIL (no such part, size 0) or "" */
			ASSERT(c.num[ls] == 0);
			continue;
		}
		ASSERT(c.lit[lb].len == c.num[ls]);
		ASSERT(c.lit[lb].lit8 == (memchr(out.data + 1 + c.lit[lb].off,
		    '\0', c.lit[lb].len) != NULL));
	}

	mime_info_free(&info);
	mime_info_free(&info2);
	buf_free(&msg);
	buf_free(&out);
	buf_free(&out2);
	buf_free(&err);
	buf_free(&enc);
	return 0;
}
