/*
 * mime_test.c - store/mime.h.
 *
 * Golden files: each t/unit/mime/<name>.eml (kept with LF, fed with CRLF
 * as SMTP delivers, unless the name ends in "-lf") and the inputs made
 * here (100 KiB of header, 1200 parts, deep nesting, ...) are parsed and
 * dumped (flags, ENVELOPE, BODY, BODYSTRUCTURE, header summary, preview,
 * hasAttachment, JMAP lists, parts and offsets, search text) and compared
 * with t/unit/mime/<name>.ref; MIME_REGEN=1 rewrites the .ref files.
 * Each parse is also checked for the invariants and must survive encode
 * -> decode -> encode unchanged.  Then tables: sections, base subjects,
 * ENVELOPE addresses, HTML to text, decoding, header walking, every
 * truncation and byte flip of an encoding, parses on four threads.
 * LeakSanitizer needs no suppression: GLib's type data stays reachable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "common/buf.h"
#include "common/common.h"
#include "store/mime.h"

#define DIR "t/unit/mime/"

static void
load(const char *path, bool crlf, struct buf *out)
{
	gchar *data;
	gsize n;

	if (!g_file_get_contents(path, &data, &n, NULL))
		fail_msg("cannot read %s", path);
	for (gsize i = 0; i < n; i++) {
		if (crlf && data[i] == '\n' && (i == 0 || data[i - 1] != '\r'))
			buf_add_str(out, "\r");
		buf_add(out, &data[i], 1);
	}
	g_free(data);
}

/* generate - the inputs made here rather than kept in files */
static void
generate(const char *name, struct buf *b)
{
	int levels = strstr(name, "very") ? 1100 : 60;

	if (strcmp(name, "empty") == 0)
		return;
	if (strcmp(name, "eof-in-name") == 0) {
		buf_add_str(b, "Subject: the last line\r\nX-Unfinished");
	} else if (strncmp(name, "huge-header", 11) == 0) {
		buf_add_str(b, "From: big@example.com\r\nSubject: big\r\n");
		for (int i = 0; b->len < 100 * 1024; i++)
			buf_addf(b, "Received: from relay%d.example.net (relay%d "
			    "[192.0.2.%d]) by mx.example.com with ESMTPS id "
			    "%08d; Tue, 2 Jan 2024 10:00:00 +0000\r\n", i, i,
			    i % 256, i);
		buf_add_str(b, "To: late@example.com\r\n\r\nbody\r\n");
	} else if (strncmp(name, "many-parts", 10) == 0) {
		buf_add_str(b, "Subject: 1200 parts\r\nContent-Type: "
		    "multipart/mixed; boundary=\"p\"\r\n\r\n");
		for (int i = 1; i <= 1200; i++)
			buf_addf(b, "--p\r\nContent-Type: text/plain\r\n\r\n"
			    "part %d\r\n", i);
		buf_add_str(b, "--p--\r\n");
	} else if (strcmp(name, "deep-rfc822") == 0) {
		for (int i = 0; i < 60; i++)
			buf_addf(b, "From: level%d@example.com\r\nSubject: level "
			    "%d\r\nContent-Type: message/rfc822\r\n\r\n", i, i);
		buf_add_str(b, "Subject: bottom\r\n\r\nthe bottom\r\n");
	} else {	/* deep, very-deep: past GMime's own level 1024 */
		buf_addf(b, "Subject: %d levels\r\n", levels);
		for (int i = 0; i < levels; i++)
			buf_addf(b, "Content-Type: multipart/mixed; boundary="
			    "\"n%d\"\r\n\r\n--n%d\r\n", i, i);
		buf_add_str(b, "Content-Type: text/plain\r\n\r\nthe bottom\r\n");
		for (int i = levels - 1; i >= 0; i--)
			buf_addf(b, "--n%d--\r\n", i);
	}
}

/* the .eml files, parsed with the default limits */
static const char *const emls[] = {
	"simple", "nested", "rfc822", "bad-charset", "truncated",
	"no-boundary", "8bit-headers", "rfc2047", "rfc2231", "no-separator",
	"bare-lf", "digest", "html-only", "groups", "related", "signed",
	"garbage", "encoded-rfc822",
};

struct golden {
	const char *name;	/* of the .ref */
	const char *file;	/* the .eml, or NULL: made by generate() */
	struct mime_limits lim;
};

static const struct golden goldens[] = {
	{ "nested-small", "nested", { 4, 2, 0, 0, 40, 12 } },
	{ "rfc822-depth", "rfc822", { 0, 1, 0, 0, 0, 0 } },
	{ "huge-header", NULL, { 0 } },
	{ "huge-header-limit", NULL, { 0, 0, 16384, 0, 0, 0 } },
	{ "many-parts", NULL, { 0 } },
	{ "many-parts-prescan", NULL, { 100, 0, 0, 0, 0, 0 } },
	{ "deep", NULL, { 0 } },
	{ "very-deep", NULL, { 5000, 0, 0, 0, 0, 0 } },
	{ "deep-rfc822", NULL, { 0 } },
	{ "empty", NULL, { 0 } },
	{ "eof-in-name", NULL, { 0 } },
};

static void
golden_input(const struct golden *g, struct buf *msg)
{
	struct buf path = BUF_INIT(0);

	if (g->file == NULL) {
		generate(g->name, msg);
		return;
	}
	buf_addf(&path, DIR "%s.eml", g->file);
	load(buf_cstr(&path), strstr(g->file, "-lf") == NULL, msg);
	buf_free(&path);
}

/* esc - quoted; quotes, backslashes and controls escaped, valid UTF-8
 * kept, other bytes \xHH; a long string cut in the middle (its SHA-1
 * still covers all of it) */
static void
esc(struct buf *out, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (s == NULL) {
		buf_add_str(out, "NULL");
		return;
	}
	buf_add_str(out, "\"");
	for (size_t i = 0; i < n; i++) {
		unsigned char ch;
		gunichar u;

		if (n > 1600 && i == 1000) {
			char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA1,
			    s, (gssize)n);

			buf_addf(out, "...[%zu bytes, sha1 %.16s]...", n, sum);
			g_free(sum);
			i = n - 300;
		}
		ch = (unsigned char)s[i];
		u = g_utf8_get_char_validated(s + i, (gssize)(n - i));
		if (ch >= 0x80 && u != (gunichar)-1 && u != (gunichar)-2) {
			buf_add(out, s + i, (size_t)g_utf8_skip[ch]);
			i += (size_t)g_utf8_skip[ch] - 1;
		} else if (ch == '"' || ch == '\\') {
			buf_addf(out, "\\%c", ch);
		} else if (ch == '\r' || ch == '\n' || ch == '\t') {
			buf_addf(out, "\\%c", ch == '\r' ? 'r' : ch == '\n' ?
			    'n' : 't');
		} else if (ch < 0x20 || ch >= 0x7f) {
			buf_addf(out, "\\x%02x", ch);
		} else {
			buf_add(out, &ch, 1);
		}
	}
	buf_add_str(out, "\"");
}

static void
field(struct buf *out, const char *label, const char *s)
{
	buf_add_str(out, label);
	esc(out, s);
}

static void
dump_line(struct buf *out, const char *label, const char *s)
{
	field(out, label, s);
	buf_add_str(out, "\n");
}

/* dump_addrs - two address lists */
static void
dump_addrs(struct buf *out, const char *l1, const struct mime_addr_list *a1,
    const char *l2, const struct mime_addr_list *a2)
{
	static const char *kinds[] = { "mailbox", "group", "end" };

	for (int k = 0; k < 2; k++) {
		const struct mime_addr_list *l = k ? a2 : a1;

		buf_addf(out, "%s %u\n", k ? l2 : l1, l->n);
		for (uint32_t i = 0; i < l->n; i++) {
			buf_addf(out, "  %s", kinds[l->v[i].kind]);
			field(out, " name=", l->v[i].name);
			field(out, " raw=", l->v[i].raw_name);
			field(out, " route=", l->v[i].route);
			field(out, " local=", l->v[i].local);
			dump_line(out, " domain=", l->v[i].domain);
		}
	}
}

static void
dump_ids(struct buf *out, const char *label, const struct mime_idlist *l)
{
	buf_addf(out, "%s", label);
	for (uint32_t i = 0; i < l->n; i++) {
		buf_add_str(out, " ");
		esc(out, l->v[i]);
	}
	buf_add_str(out, "\n");
}

static void
dump_list(struct buf *out, const char *label, const struct mime_partlist *l)
{
	buf_addf(out, "%s", label);
	for (uint32_t i = 0; i < l->n; i++)
		buf_addf(out, " %u", l->v[i]);
	buf_add_str(out, "\n");
}

static void
dump_flags(struct buf *out, uint32_t f)
{
	static const char *names[] = { "fallback", "trunc-parts",
	    "trunc-depth", "trunc-header", "trunc-text", "bare-lf",
	    "8bit-header", "malformed", "no-separator", "layout-failed" };

	buf_add_str(out, "flags");
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (f & (1u << i))
			buf_addf(out, " %s", names[i]);
	buf_add_str(out, "\n");
}

static void
opt(struct buf *out, const char *label, const char *s)
{
	if (s != NULL)
		field(out, label, s);
}

static void
dump_part(struct buf *out, const struct mime_part *p, uint32_t i)
{
	static const char *kinds[] = { "leaf", "multipart", "message" };

	buf_addf(out, "part %u id=\"%s\" parent=%d next=%u depth=%u %s%s%s "
	    "%s/%s enc=%s", i, p->part_id, p->parent == MIME_NONE ? -1 :
	    (int)p->parent, p->next, p->depth, kinds[p->kind],
	    p->flags & MIME_PART_MESSAGE ? " msg" : "",
	    p->flags & MIME_PART_TRUNCATED ? " truncated" : "", p->type,
	    p->subtype, p->encoding);
	opt(out, " charset=", p->charset);
	opt(out, " dsp=", p->disposition);
	opt(out, " name=", p->name);
	opt(out, " cid=", p->cid);
	opt(out, " lang=", p->language);
	opt(out, " loc=", p->location);
	opt(out, " desc=", p->description);
	for (uint32_t k = 0; k < p->nparams; k++) {
		buf_addf(out, " p.%s=", p->params[k].name);
		esc(out, p->params[k].value);
	}
	buf_addf(out, " hdr=%llu+%llu body=%llu+%llu lines=%llu "
	    "decoded=%llu\n", (unsigned long long)p->hdr_start,
	    (unsigned long long)(p->body_start - p->hdr_start),
	    (unsigned long long)p->body_start,
	    (unsigned long long)(p->body_end - p->body_start),
	    (unsigned long long)p->lines, (unsigned long long)p->decoded_size);
}

static void
dump(const struct mime_info *info, struct buf *out, bool with_text)
{
	const struct mime_headers *h = &info->hdr;

	buf_addf(out, "size %llu\n", (unsigned long long)info->size);
	dump_flags(out, info->flags);
	dump_line(out, "envelope ", info->envelope);
	dump_line(out, "body ", info->body);
	dump_line(out, "bodystructure ", info->bodystructure);
	if (h->has_date)
		buf_addf(out, "date %lld %+d\n", (long long)h->date,
		    h->date_tz);
	else
		buf_add_str(out, "date none\n");
	dump_line(out, "date_raw ", h->date_raw);
	dump_line(out, "subject_raw ", h->subject_raw);
	dump_line(out, "subject ", h->subject);
	dump_line(out, "base_subject ", h->base_subject);
	dump_addrs(out, "from", &h->from, "sender", &h->sender);
	dump_addrs(out, "reply_to", &h->reply_to, "to", &h->to);
	dump_addrs(out, "cc", &h->cc, "bcc", &h->bcc);
	dump_ids(out, "message_id", &h->message_id);
	dump_ids(out, "in_reply_to", &h->in_reply_to);
	dump_ids(out, "references", &h->references);
	dump_line(out, "preview ", info->preview);
	buf_addf(out, "has_attachment %s\n", info->has_attachment ? "yes" :
	    "no");
	dump_list(out, "text_body", &info->text_body);
	dump_list(out, "html_body", &info->html_body);
	dump_list(out, "attachments", &info->attachments);
	buf_addf(out, "parts %u\n", info->nparts);
	for (uint32_t i = 0; i < info->nparts; i++) {
		if (info->nparts > 40 && i == 20) {
			buf_add_str(out, "...\n");
			i = info->nparts - 5;
		}
		dump_part(out, &info->parts[i], i);
	}
	if (with_text) {
		buf_addf(out, "text %zu", info->text_len);
		dump_line(out, " ", info->text);
	}
}

/* check - what mime.h promises about any parse, and the round trip */
static void
check(const struct mime_info *info, size_t len, const struct mime_limits *l)
{
	struct buf e1 = BUF_INIT(0), e2 = BUF_INIT(0), err = BUF_INIT(0);
	struct buf d1 = BUF_INIT(0), d2 = BUF_INIT(0);
	struct mime_info *back = NULL;
	uint32_t max_text = l->max_text ? l->max_text : MIME_DEFAULT_MAX_TEXT;
	uint32_t max_preview = l->max_preview ? l->max_preview :
	    MIME_DEFAULT_MAX_PREVIEW;

	assert_true(info->size == len && info->nparts >= 1 && info->nparts <=
	    (l->max_parts ? l->max_parts : MIME_DEFAULT_MAX_PARTS));
	assert_true(info->text_len <= max_text &&
	    strlen(info->text) == info->text_len);
	assert_true(g_utf8_validate(info->text, -1, NULL));
	assert_true(g_utf8_validate(info->preview, -1, NULL) &&
	    g_utf8_strlen(info->preview, -1) <= max_preview);
	for (uint32_t i = 0; i < info->nparts; i++) {
		const struct mime_part *p = &info->parts[i];
		struct buf id = BUF_INIT(0);
		uint64_t start, n;
		uint32_t part;

		/* a message shares its part number with its message/rfc822 */
		if (p->part_id[0] == '\0' || (p->flags & MIME_PART_MESSAGE))
			continue;
		assert_int_equal(mime_section(info, p->part_id,
		    strlen(p->part_id), &start, &n, &part), 0);
		assert_true(part == i && start == p->body_start &&
		    n == p->body_end - p->body_start);
		buf_addf(&id, "%s.mime", p->part_id);
		assert_int_equal(mime_section(info, buf_cstr(&id), id.len,
		    &start, &n, &part), 0);
		assert_true(part == i && start == p->hdr_start &&
		    n == p->body_start - p->hdr_start);
		buf_free(&id);
	}
	assert_int_equal(mime_info_encode(info, &e1), 0);
	if (mime_info_decode(e1.data, e1.len, &back, &err) != 0)
		fail_msg("decode: %s", buf_cstr(&err));
	assert_null(back->text);
	assert_int_equal(mime_info_encode(back, &e2), 0);
	assert_true(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0);
	dump(info, &d1, false);
	dump(back, &d2, false);
	assert_string_equal(buf_cstr(&d1), buf_cstr(&d2));
	mime_info_free(&back);
	assert_null(back);
	buf_free(&e1);
	buf_free(&e2);
	buf_free(&err);
	buf_free(&d1);
	buf_free(&d2);
}

static void
run_golden(const struct golden *g, bool regen)
{
	struct buf msg = BUF_INIT(0), out = BUF_INIT(0), ref = BUF_INIT(0);
	struct buf err = BUF_INIT(0), path = BUF_INIT(0);
	struct mime_info *info = NULL;

	golden_input(g, &msg);
	if (mime_parse(msg.data, msg.len, &g->lim, &info, &err) != 0)
		fail_msg("%s: %s", g->name, buf_cstr(&err));
	check(info, msg.len, &g->lim);
	buf_addf(&out, "# %s\n", g->name);
	dump(info, &out, true);
	buf_addf(&path, DIR "%s.ref", g->name);
	if (regen)
		assert_true(g_file_set_contents(buf_cstr(&path),
		    (const char *)out.data, (gssize)out.len, NULL));
	else
		load(buf_cstr(&path), false, &ref);
	if (!regen && strcmp(buf_cstr(&ref), buf_cstr(&out)) != 0)
		fail_msg("%s: dump differs from %s; got:\n%s", g->name,
		    buf_cstr(&path), buf_cstr(&out));
	mime_info_free(&info);
	buf_free(&msg);
	buf_free(&out);
	buf_free(&ref);
	buf_free(&err);
	buf_free(&path);
}

static void
test_golden(void **state)
{
	bool regen = getenv("MIME_REGEN") != NULL;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(emls); i++) {
		struct golden g = { emls[i], emls[i], { 0 } };

		run_golden(&g, regen);
	}
	for (size_t i = 0; i < ARRAY_SIZE(goldens); i++)
		run_golden(&goldens[i], regen);
}

/* plain one-part messages (mime_simple.c's fast path) and near misses */
static const char *const plain_msgs[] = {
	"Subject: hello\r\n\r\nbody line\r\n",
	"Subject: folded\r\n  over two\r\nTo: x@y\r\n\r\ntext\r\n",
	"Content-Type: text/plain; charset=\"UTF-8\"\r\n"
	"Content-Transfer-Encoding: 8bit\r\nSubject: caf\xc3\xa9\r\n\r\n"
	"caf\xc3\xa9 \xe2\x82\xac\r\n",
	"Content-Type: TEXT/PLAIN;charset=us-ascii\r\n"
	"Subject:  spaced\t \r\n\r\ntab\there\x01ctl\r\r\n",
	"Subject: =?utf-8?q?caf=C3=A9?=\r\n\r\nencoded subject\r\n",
	"Content-Type: text/plain; format=flowed\r\n\r\nflowed \r\n",
	"Content-Type: text/plain; charset=iso-8859-1\r\n\r\ncaf\xe9\r\n",
	"Subject: no body\r\n\r\n",
	"Subject: a\r\nSubject: b\r\n\r\ntwo subjects\r\n",
	"Subject: bare\nlf\r\n\r\nbody\r\n",
	"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8K\r\n",
	"Subject: invalid\r\n\r\n\xff\xfe bytes\r\n",
	/* the multipart shapes mime_simple.c reads, and ones it leaves */
	"Subject: alt\nContent-Type: multipart/alternative; boundary=\"b1\"\n"
	"\npreamble\n--b1\nContent-Type: text/plain; charset=utf-8\n"
	"Content-Transfer-Encoding: quoted-printable\n\ncaf=C3=A9 plain\n"
	"--b1\nContent-Type: text/html; charset=iso-8859-1\n\n"
	"<p>caf\xe9 <b>html</b></p>\n--b1--\nepilogue\n",
	"From: Jos\xc3\xa9 <j@example.org>\r\nContent-Type: multipart/mixed;"
	"\r\n boundary=outer\r\n\r\n--outer\r\nContent-Type: multipart/"
	"alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: "
	"text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
	"aGVsbG8gd29ybGQK\r\n--inner\r\nContent-Type: text/html\r\n\r\n"
	"<i>hi</i>\r\n--inner--\r\n\r\n--outer\r\nContent-Type: "
	"application/pdf; name=\"a.pdf\"\r\nContent-Description: r\xe9"
	"sum\xe9\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n"
	"--outer--\r\n",
	"Content-Type: multipart/mixed; boundary=x\n\n--x \nContent-Type: "
	"text/plain\n\nboundary with a blank after it\n--x--\n",
	"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: "
	"text/plain\n\nno final boundary\n",
	"Content-Type: multipart/mixed; boundary=x\n\n--x\n\nno part "
	"header\n--x--\n",
	"Content-Type: multipart/mixed; boundary=ab\n\n--ab\nContent-Type: "
	"multipart/alternative; boundary=abc\n\n--abc\nContent-Type: "
	"text/plain\n\nprefix boundaries\n--abc--\n--ab--\n",
	"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: "
	"text/plain\n\n--xy not a boundary\n--x--\n",
	"Content-Type: multipart/alternative; boundary=\"q\"\r\n\r\n"
	"--q\r\nContent-Type: text/plain; charset*=utf-8''x\r\n\r\n2231"
	"\r\n--q--\r\n",
	"Content-Type: TEXT/HTML; CHARSET=\"UTF-8\"\n\n<p>upper case</p>\n",
	"Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: in\n"
	"\ndigest\n--d--\n",
};

/* mime_parse_text: what it fills is what mime_parse gives */
static void
test_text_only(void **state)
{
	struct buf msg = BUF_INIT(0), err = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(emls) + ARRAY_SIZE(plain_msgs);
	    i++) {
		struct golden g = { NULL, NULL, { 0 } };
		struct mime_info *a = NULL, *b = NULL;

		buf_reset(&msg);
		if (i < ARRAY_SIZE(emls)) {
			g.name = g.file = emls[i];
			golden_input(&g, &msg);
		} else {
			buf_add_str(&msg, plain_msgs[i - ARRAY_SIZE(emls)]);
		}
		assert_int_equal(mime_parse(msg.data, msg.len, NULL, &a, &err),
		    0);
		assert_int_equal(mime_parse_text(msg.data, msg.len, NULL, &b,
		    &err), 0);
		assert_int_equal(a->text_len, b->text_len);
		assert_memory_equal(a->text, b->text, a->text_len);
		assert_int_equal(a->flags, b->flags);
		if (a->hdr.subject == NULL)
			assert_null(b->hdr.subject);
		else
			assert_string_equal(a->hdr.subject, b->hdr.subject);
		assert_string_equal(a->hdr.base_subject, b->hdr.base_subject);
		assert_string_equal(b->envelope, "");
		assert_string_equal(b->preview, "");
		assert_null(b->hdr.from.v);
		mime_info_free(&a);
		mime_info_free(&b);
	}
	buf_free(&msg);
	buf_free(&err);
}

/* parse_golden - the .eml file parsed with the default limits */
static struct mime_info *
parse_golden(const char *file, struct buf *msg)
{
	struct golden g = { file, file, { 0 } };
	struct mime_info *info = NULL;
	struct buf err = BUF_INIT(0);

	buf_reset(msg);
	golden_input(&g, msg);
	assert_int_equal(mime_parse(msg->data, msg->len, NULL, &info, &err), 0);
	buf_free(&err);
	return info;
}


static struct mime_info *
parse_str(const char *msg, struct buf *keep)
{
	struct mime_info *info = NULL;
	struct buf err = BUF_INIT(0);

	buf_reset(keep);
	buf_add_str(keep, msg);
	if (mime_parse(keep->data, keep->len, NULL, &info, &err) != 0)
		fail_msg("mime_parse: %s", buf_cstr(&err));
	buf_free(&err);
	return info;
}

/* what check() cannot derive from the parts: HEADER, TEXT, misses */
static const struct {
	const char *file, *spec;
	const char *start, *end;	/* NULL start: no such section */
} sections[] = {
	{ "nested", "", "From: \"Alice", "epilogue text\r\n" },
	{ "nested", "HEADER", "From: \"Alice", "\"outer\"\r\n\r\n" },
	{ "nested", "header.fields (From To)", "From: \"Alice", "\r\n\r\n" },
	{ "nested", "TEXT", "This is a multi", "epilogue text\r\n" },
	{ "nested", "1", "--inner\r\n", "--inner--\r\n" },
	{ "rfc822", "2", "From: Original", "--b2--" },
	{ "rfc822", "2.HEADER", "From: Original", "\"b2\"\r\n\r\n" },
	{ "rfc822", "2.TEXT", "--b2\r\n", "--b2--" },
	{ "simple", "1", "Hello Joe", "tomorrow?\r\n" },
	{ "simple", "1.MIME", "Date: Wed", "US-ASCII\r\n\r\n" },
	{ "digest", "1.HEADER", "From: one", "first\r\n\r\n" },
	{ "digest", "2.TEXT", "second body", "second body" },
};

static const char *const misses[] = {
	"3", "2.HEADER", "1.TEXT", "1.1.1", "0", "01", "1.", "MIME", "1.BOGUS",
	"99999999999999999999", "2.3",
};

static void
test_sections(void **state)
{
	struct buf msg = BUF_INIT(0);
	struct mime_info *info;
	uint64_t start = 0, len = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(sections); i++) {
		const char *sp = sections[i].spec;
		size_t a = strlen(sections[i].start), b = strlen(sections[i].end);

		info = parse_golden(sections[i].file, &msg);
		if (mime_section(info, sp, strlen(sp), &start, &len, NULL) != 0)
			fail_msg("%s %s: not found", sections[i].file, sp);
		assert_true(start + len <= msg.len && len >= a && len >= b);
		if (memcmp(msg.data + start, sections[i].start, a) != 0 ||
		    memcmp(msg.data + start + len - b, sections[i].end, b) != 0)
			fail_msg("%s %s: got \"%.*s\"", sections[i].file, sp,
			    (int)len, msg.data + start);
		mime_info_free(&info);
	}
	info = parse_golden("nested", &msg);
	for (size_t i = 0; i < ARRAY_SIZE(misses); i++)
		if (mime_section(info, misses[i], strlen(misses[i]), &start,
		    &len, NULL) != -1)
			fail_msg("nested %s: found", misses[i]);
	mime_info_free(&info);
	buf_free(&msg);
}

/* a message made from a template, and a field of its parse */
enum field { F_BASE_SUBJECT, F_FROM, F_HTML_TEXT };

static const char *const templates[][2] = {
	{ "Subject: ", "\r\n\r\nx\r\n" },
	{ "From: ", "\r\nSubject: s\r\n\r\nx\r\n" },
	{ "Content-Type: text/html; charset=utf-8\r\n\r\n", "" },
};

static const struct {
	enum field f;
	const char *in, *want;
} fields[] = {
	/* RFC 5256 2.1 */
	{ F_BASE_SUBJECT, "Re: hello", "hello" },
	{ F_BASE_SUBJECT, "RE:  Re: re: hello", "hello" },
	{ F_BASE_SUBJECT, "Fwd: [list] Re: hello (fwd)", "hello" },
	{ F_BASE_SUBJECT, "[list] hello", "hello" },
	{ F_BASE_SUBJECT, "[list]", "[list]" },
	{ F_BASE_SUBJECT, "[fwd: hello]", "hello" },
	{ F_BASE_SUBJECT, "[Fwd: Re: hello (fwd)]", "hello" },
	{ F_BASE_SUBJECT, "Re [x]: hello", "hello" },
	{ F_BASE_SUBJECT, "Fw: hello", "hello" },
	{ F_BASE_SUBJECT, "Re: ", "" },
	{ F_BASE_SUBJECT, "hello (fwd) (FWD)", "hello" },
	{ F_BASE_SUBJECT, "=?utf-8?q?Re=3A_caf=C3=A9?=", "café" },
	{ F_BASE_SUBJECT, "Ref: hello", "Ref: hello" },
	{ F_BASE_SUBJECT, "\tRe:\tfoo  bar ", "foo bar" },
	{ F_BASE_SUBJECT, "[a][b] Re: [c] x", "x" },
	{ F_BASE_SUBJECT, "Re: [Fwd: hi]", "hi" },
	/* ENVELOPE from: RFC 5322 A.1, A.5 and oddities */
	{ F_FROM, "John Doe <jdoe@machine.example>",
	    "((\"John Doe\" NIL \"jdoe\" \"machine.example\"))" },
	{ F_FROM, "\"Joe Q. Public\" <john.q.public@example.com>",
	    "((\"Joe Q. Public\" NIL \"john.q.public\" \"example.com\"))" },
	{ F_FROM, "Pete(A nice \\) chap) <pete(his account)@silly.test(his "
	    "host)>", "((\"Pete\" NIL \"pete\" \"silly.test\"))" },
	{ F_FROM, "A Group(Some people):Chris Jones <c@(Chris's host.)public."
	    "example>, joe@example.org, John <jdoe@one.test> (my dad);",
	    "((NIL NIL \"A Group\" NIL)(\"Chris Jones\" NIL \"c\" "
	    "\"public.example\")(NIL NIL \"joe\" \"example.org\")(\"John\" NIL "
	    "\"jdoe\" \"one.test\")(NIL NIL NIL NIL))" },
	{ F_FROM, "<>", "((NIL NIL \"\" \"\"))" },
	{ F_FROM, "foo", "((NIL NIL \"foo\" \"MISSING_DOMAIN\"))" },
	{ F_FROM, "@example.com",
	    "((NIL NIL \"MISSING_MAILBOX\" \"example.com\"))" },
	{ F_FROM, "a@b (Comment Name)", "((\"Comment Name\" NIL \"a\" \"b\"))" },
	{ F_FROM, "\"a\\\\b\" <x@y>", "((\"a\\\\b\" NIL \"x\" \"y\"))" },
	{ F_FROM, "=?utf-8?q?J=C3=BCrgen?= <j@x>",
	    "((\"=?utf-8?q?J=C3=BCrgen?=\" NIL \"j\" \"x\"))" },
	{ F_FROM, "J\xc3\xbcrgen <j@x>",
	    "(({7}\r\nJ\xc3\xbcrgen NIL \"j\" \"x\"))" },
	{ F_FROM, "a@[192.0.2.1]", "((NIL NIL \"a\" \"[192.0.2.1]\"))" },
	{ F_FROM, "\"open quote <x@y>",
	    "((NIL NIL \"open quote <x@y>\" \"MISSING_DOMAIN\"))" },
	{ F_FROM, "(only a comment", "NIL" },
	{ F_FROM, ",,, ,", "NIL" },
	/* text/html to text */
	{ F_HTML_TEXT, "<p>a</p><p>b</p>", "a\n\nb" },
	{ F_HTML_TEXT, "a<br>b<BR/>c", "a\nb\nc" },
	{ F_HTML_TEXT, "x &amp; y &lt;z&gt; &#65;&#x42; &bogus; & &euro;",
	    "x & y <z> AB &bogus; & €" },
	{ F_HTML_TEXT, "<script>alert('<b>')</script>ok", "ok" },
	{ F_HTML_TEXT, "<style>p{}</style><!-- <p>c</p> -->t", "t" },
	{ F_HTML_TEXT, "a   \r\n\t b", "a b" },
	{ F_HTML_TEXT, "<a href=\"x>y\">link</a>", "link" },
	{ F_HTML_TEXT, "1 < 2 <", "1 < 2 <" },
	{ F_HTML_TEXT, "<table><tr><td>a</td><td>b</td></tr></table>", "a b" },
	{ F_HTML_TEXT, "&#0;&#xD800;&#1114112;!",
	    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!" },
	{ F_HTML_TEXT, "<head><title>t</title></head><body>b</body>", "b" },
	{ F_HTML_TEXT, "<script>never closed", "" },
	{ F_HTML_TEXT, "<![CDATA[x]]>y<?php z ?>", "y" },
};

static void
test_fields(void **state)
{
	struct buf m = BUF_INIT(0), keep = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		struct mime_info *info;
		const char *want = fields[i].want, *got;
		size_t n = strlen(want) + 1;

		buf_reset(&m);
		buf_add_str(&m, templates[fields[i].f][0]);
		buf_add_str(&m, fields[i].in);
		buf_add_str(&m, templates[fields[i].f][1]);
		info = parse_str(buf_cstr(&m), &keep);
		if (fields[i].f == F_BASE_SUBJECT)
			got = info->hdr.base_subject;
		else if (fields[i].f == F_HTML_TEXT)
			got = info->text;
		else	/* the third member of the envelope, then a space */
			got = info->envelope + strlen("(NIL \"s\" ");
		if (fields[i].f == F_FROM ? strncmp(got, want, n - 1) != 0 ||
		    got[n - 1] != ' ' : strcmp(got, want) != 0)
			fail_msg("%s: \"%s\"", fields[i].in, got);
		mime_info_free(&info);
	}
	buf_free(&m);
	buf_free(&keep);
}

static void
test_decode(void **state)
{
	struct buf msg = BUF_INIT(0), out = BUF_INIT(0);
	struct buf small = BUF_INIT(4), keep = BUF_INIT(0);
	struct mime_info *info;
	struct mime_limits lim;

	(void)state;
	mime_limits_default(&lim);
	assert_true(lim.max_parts == 1000 && lim.max_preview == 256);
	info = parse_golden("nested", &msg);
	assert_int_equal(mime_part_decode(info, 4, msg.data, msg.len, &out),
	    0);
	assert_int_equal(out.len, info->parts[4].decoded_size);
	assert_memory_equal(out.data, "%PDF-1.4", 8);
	assert_int_equal(mime_part_decode(info, 4, msg.data, msg.len, &small),
	    -1);
	assert_int_equal(mime_part_decode(info, 99, msg.data, msg.len, &out),
	    -1);
	buf_reset(&out);
	assert_int_equal(mime_part_text(info, 2, msg.data, msg.len, true, 1000,
	    &out), 0);
	assert_string_equal(buf_cstr(&out),
	    "Hi Bob,\n\nThe numbers are attached. Café at 10?");
	buf_reset(&out);
	assert_int_equal(mime_part_text(info, 2, msg.data, msg.len, true, 39,
	    &out), 1);
	assert_string_equal(buf_cstr(&out), "Hi Bob,\n\nThe numbers are "
	    "attached. Caf");
	buf_reset(&out);
	assert_int_equal(mime_part_text(info, 3, msg.data, msg.len, false, 6,
	    &out), 1);
	assert_string_equal(buf_cstr(&out), "<html>");
	mime_info_free(&info);

	info = parse_str("Content-Type: text/plain\r\nContent-Transfer-"
	    "Encoding: x-uuencode\r\n\r\nbegin 644 a.txt\r\n#86)C\r\n`\r\n"
	    "end\r\n", &keep);
	assert_int_equal(info->parts[0].decoded_size, 3);
	assert_string_equal(info->text, "abc");
	mime_info_free(&info);
	info = parse_str("Content-Type: text/plain; charset=iso-2022-jp\r\n"
	    "\r\n\x1b$B$3$s$K$A$O\x1b(B\r\n", &keep);
	assert_string_equal(info->text, "こんにちは\n");
	mime_info_free(&info);
	buf_free(&msg);
	buf_free(&out);
	buf_free(&small);
	buf_free(&keep);
}

static void
test_header_next(void **state)
{
	static const char hdr[] = "A: 1\r\nB: 2\r\n x\r\nnot a field\r\n"
	    ": empty\r\nC:3\nD :\r\n\r\nE: body";
	static const char *want[][2] = { { "A", " 1" }, { "B", " 2\r\n x" },
	    { "", " empty" }, { "C", "3" }, { "D", "" } };
	const unsigned char *h = (const unsigned char *)hdr;
	size_t pos = 0, no, nl, vo, vl, k = 0;

	(void)state;
	while (mime_header_next(h, sizeof(hdr) - 1, &pos, &no, &nl, &vo,
	    &vl)) {
		assert_true(k < ARRAY_SIZE(want));
		assert_int_equal(nl, strlen(want[k][0]));
		assert_memory_equal(hdr + no, want[k][0], nl);
		assert_int_equal(vl, strlen(want[k][1]));
		assert_memory_equal(hdr + vo, want[k][1], vl);
		k++;
	}
	assert_int_equal(k, ARRAY_SIZE(want));
}

static void
test_codec_corrupt(void **state)
{
	struct buf msg = BUF_INIT(0), enc = BUF_INIT(0), err = BUF_INIT(0);
	struct buf again = BUF_INIT(0), tiny = BUF_INIT(8);
	struct mime_info *info = parse_golden("rfc822", &msg), *back = NULL;

	(void)state;
	assert_int_equal(mime_info_encode(info, &enc), 0);
	for (size_t k = 0; k < enc.len; k++) {
		buf_reset(&err);
		assert_int_equal(mime_info_decode(enc.data, k, &back, &err), -1);
		assert_null(back);
		assert_true(err.len > 0 && memchr(err.data, '\n', err.len) ==
		    NULL);
	}
	/* a flipped byte is refused, or decodes to something that encodes and
	 * decodes again */
	for (size_t k = 0; k < enc.len * 4; k++) {
		enc.data[k / 4] ^= (unsigned char)(0x01 << (k % 4 * 2));
		buf_reset(&again);
		if (mime_info_decode(enc.data, enc.len, &back, &err) == 0) {
			assert_int_equal(mime_info_encode(back, &again), 0);
			mime_info_free(&back);
			assert_int_equal(mime_info_decode(again.data, again.len,
			    &back, &err), 0);
			mime_info_free(&back);
		}
		enc.data[k / 4] ^= (unsigned char)(0x01 << (k % 4 * 2));
	}
	assert_int_equal(mime_info_decode("PMI\x02", 4, &back, &err), -1);
	assert_int_equal(mime_info_encode(info, &tiny), -1);
	assert_int_equal(tiny.len, 0);
	buf_free(&tiny);
	mime_info_free(&info);
	buf_free(&msg);
	buf_free(&enc);
	buf_free(&err);
	buf_free(&again);
}

static struct buf thread_msg, thread_want;	/* read-only in threads */

static void *
parse_thread(void *arg)
{
	intptr_t bad = 0;

	(void)arg;
	for (int i = 0; i < 100; i++) {
		struct mime_info *info = NULL;
		struct buf err = BUF_INIT(0), enc = BUF_INIT(0);

		bad += mime_parse(thread_msg.data, thread_msg.len, NULL, &info,
		    &err) != 0 || mime_info_encode(info, &enc) != 0 ||
		    enc.len != thread_want.len ||
		    memcmp(enc.data, thread_want.data, enc.len) != 0;
		mime_info_free(&info);
		buf_free(&err);
		buf_free(&enc);
	}
	return (void *)bad;
}

static void
test_threads(void **state)
{
	struct mime_info *info = parse_golden("rfc822", &thread_msg);
	pthread_t th[4];
	void *bad;

	(void)state;
	assert_int_equal(mime_info_encode(info, &thread_want), 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, parse_thread,
		    NULL), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], &bad), 0);
		assert_null(bad);
	}
	mime_info_free(&info);
	buf_free(&thread_msg);
	buf_free(&thread_want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_text_only),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_header_next),
		cmocka_unit_test(test_codec_corrupt),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
