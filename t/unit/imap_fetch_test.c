/*
 * imap_fetch_test.c - the FETCH renderer (imap-jmap/imap_fetch_out.h).
 *
 * Real messages (a plain one with a folded field, multipart/alternative,
 * multipart/mixed with quoted-printable, base64 and unknown-encoding
 * parts, a message/rfc822 inside a multipart, 8-bit headers, raw NULs)
 * are parsed with mime_parse(); real commands are parsed with the IMAP
 * parser; the renderer's output is compared byte for byte with
 * expectations worked out by hand (literal lengths counted from the
 * messages below, which are written with LF and sent with CRLF).
 * ENVELOPE, BODY and BODYSTRUCTURE are compared with the strings the
 * store made (store/mime_imap.c has their own tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "imap-jmap/imap_fetch_out.h"
#include "store/mail.h"
#include "store/mime.h"

/* ---- messages ---- */

static const char msg_simple[] =
    "From: Alice <alice@example.com>\n"
    "To: bob@example.com\n"
    "Subject: Hello\n"
    " world\n"
    "Date: Mon, 01 Jan 2024 10:00:00 +0000\n"
    "Message-ID: <1@example.com>\n"
    "x-extra: one\n"
    "\ttwo\n"
    "\n"
    "Hello Bob.\n"
    "Second line.\n";

static const char msg_alt[] =
    "From: a@example.com\n"
    "Subject: alt\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/alternative; boundary=\"b1\"\n"
    "\n"
    "preamble\n"
    "--b1\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    "\n"
    "plain text\n"
    "--b1\n"
    "Content-Type: text/html; charset=us-ascii\n"
    "\n"
    "<p>html</p>\n"
    "--b1--\n";

static const char msg_mixed[] =
    "From: a@example.com\n"
    "Subject: mixed\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\n"
    "\n"
    "--XX\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "caf=C3=A9 =3D ok=\n"
    " soft\n"
    "--XX\n"
    "Content-Type: application/octet-stream; name=\"a.bin\"\n"
    "Content-Disposition: attachment; filename=\"a.bin\"\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "SGVsbG8sIHdvcmxkIQ==\n"
    "--XX\n"
    "Content-Type: application/octet-stream\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "AAECQUIA\n"
    "--XX\n"
    "Content-Type: application/x-thing\n"
    "Content-Transfer-Encoding: x-foo\n"
    "\n"
    "zzz\n"
    "--XX--\n";

static const char msg_nested[] =
    "From: outer@example.com\n"
    "Subject: outer\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=\"OUT\"\n"
    "\n"
    "--OUT\n"
    "Content-Type: text/plain\n"
    "\n"
    "see attached\n"
    "--OUT\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "From: inner@example.com\n"
    "Subject: inner\n"
    "Content-Type: text/plain\n"
    "\n"
    "inner body\n"
    "--OUT--\n";

static const char msg_8bit[] =
    "From: Jos\xc3\xa9 <jose@example.com>\n"
    "Subject: Gr\xc3\xbc\xc3\x9f" "e\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n"
    "\n"
    "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln\n";

/* a raw NUL in a 7bit body (sizeof - 1: the literal holds a NUL) */
static const char msg_nul[] = "Subject: n\r\n\r\na\0b\r\n";

/* ---- fixture ---- */

struct fx {
	struct buf raw;
	struct mime_info *info;
	int blob_calls;
	bool blob_fail;
	struct imap_fetch_out_msg msg;
};

static int
fx_blob(void *arg, const unsigned char **data_r, size_t *len_r,
    struct buf *err)
{
	struct fx *f = arg;

	f->blob_calls++;
	if (f->blob_fail) {
		buf_add_str(err, "blob: injected failure");
		return -1;
	}
	*data_r = f->raw.data;
	*len_r = f->raw.len;
	return 0;
}

/* fx_init_raw - the message raw[0..n) as stored, with default metadata */
static void
fx_init_raw(struct fx *f, const char *raw, size_t n)
{
	struct buf err = BUF_INIT(0);

	memset(f, 0, sizeof(*f));
	buf_init(&f->raw, 0);
	buf_add(&f->raw, raw, n);
	if (mime_parse(f->raw.data, f->raw.len, NULL, &f->info, &err) != 0)
		fail_msg("mime_parse: %s", buf_cstr(&err));
	buf_free(&err);
	f->msg.msn = 3;
	f->msg.uid = 17;
	f->msg.modseq = 42;
	f->msg.internal_date = 1704103200;	/* 2024-01-01 10:00:00 UTC */
	f->msg.size = f->raw.len;
	f->msg.email_id = 5;
	f->msg.thread_id = 9;
	f->msg.has_savedate = true;
	f->msg.savedate = 1704103260;
	f->msg.keywords = "";
	f->msg.mime = f->info;
	f->msg.blob = fx_blob;
	f->msg.blob_arg = f;
}

/* fx_init - the LF-written message lf, stored with CRLF */
static void
fx_init(struct fx *f, const char *lf)
{
	struct buf b = BUF_INIT(0);

	for (const char *p = lf; *p != '\0'; p++) {
		if (*p == '\n')
			buf_add_str(&b, "\r");
		buf_add(&b, p, 1);
	}
	fx_init_raw(f, (const char *)b.data, b.len);
	buf_free(&b);
}

static void
fx_free(struct fx *f)
{
	mime_info_free(&f->info);
	buf_free(&f->raw);
}

/* parse - one command line (without CRLF) with the real parser */
static struct imap_cmd *
parse(const char *line)
{
	struct imap_limits lim;
	struct imap_parser *p;
	struct imap_cmd *cmd = NULL;
	struct imap_parse_error e;
	struct buf in = BUF_INIT(0);
	size_t used;
	enum imap_parse_ev ev;

	imap_limits_default(&lim, true);
	p = imap_parser_new(&lim);
	buf_addf(&in, "%s\r\n", line);
	ev = imap_parser_feed(p, in.data, in.len, &used, &cmd, &e);
	if (ev != IMAP_PARSE_CMD)
		fail_msg("cannot parse \"%s\": %s", line,
		    ev == IMAP_PARSE_BAD ? e.text : "no command");
	imap_parser_free(&p);
	buf_free(&in);
	return cmd;
}

static void
escaped(struct buf *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r')
			buf_add_str(out, "\\r");
		else if (p[i] == '\n')
			buf_add_str(out, "\\n");
		else if (p[i] < 0x20 || p[i] >= 0x7f)
			buf_addf(out, "\\x%02x", p[i]);
		else
			buf_add(out, &p[i], 1);
	}
}

/*
 * run - render cmd for f's message with session flags; the result must be
 * want.  out starts with a sentinel so appending (and, on failure,
 * leaving out as it was) is checked too.  Returns the rendered bytes.
 */
static void
run(struct fx *f, const char *line, unsigned session, uint64_t max,
    enum imap_fetch_out_res want, struct buf *got, bool *set_seen_r)
{
	struct imap_cmd *cmd = parse(line);
	struct imap_fetch_out_opts o;
	struct buf out = BUF_INIT(0), err = BUF_INIT(0);
	enum imap_fetch_out_res res;
	bool set_seen = false;

	imap_fetch_out_opts_init(&o, cmd, session);
	o.max_response = max;
	buf_add_str(&out, "PRE");
	res = imap_fetch_out_render(&out, &o, &f->msg, &set_seen, &err);
	if (res != want)
		fail_msg("%s: result %d, want %d (%s)", line, res, want,
		    buf_cstr(&err));
	if (res != IMAP_FETCH_OUT_OK && (out.len != 3 || err.len == 0))
		fail_msg("%s: failed render left output or gave no error",
		    line);
	assert_memory_equal(out.data, "PRE", 3);
	buf_reset(got);
	buf_add(got, out.data + 3, out.len - 3);
	if (set_seen_r != NULL)
		*set_seen_r = set_seen;
	buf_free(&out);
	buf_free(&err);
	imap_cmd_free(&cmd);
}

static void
expect_n(struct fx *f, const char *line, unsigned session, const char *want,
    size_t want_len)
{
	struct buf got = BUF_INIT(0);

	run(f, line, session, 0, IMAP_FETCH_OUT_OK, &got, NULL);
	if (got.len != want_len || memcmp(got.data, want, want_len) != 0) {
		struct buf a = BUF_INIT(0), b = BUF_INIT(0);

		escaped(&a, got.data, got.len);
		escaped(&b, (const unsigned char *)want, want_len);
		fail_msg("%s\n got: %s\nwant: %s", line, buf_cstr(&a),
		    buf_cstr(&b));
	}
	buf_free(&got);
}

/* EXPECT - want is a string literal (it may hold NULs) */
#define EXPECT(f, line, session, want) \
	expect_n((f), (line), (session), (want), sizeof(want) - 1)

#define REV2 IMAP_FETCH_OUT_REV2
#define UTF8 IMAP_FETCH_OUT_UTF8

/* ---- tests ---- */

/* simple items: request order, UID FETCH, no blob read, duplicates */
static void
test_simple_items(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_simple);
	EXPECT(&f, "a FETCH 3 (RFC822.SIZE UID INTERNALDATE MODSEQ EMAILID "
	    "THREADID SAVEDATE)", REV2,
	    "* 3 FETCH (RFC822.SIZE 194 UID 17 INTERNALDATE "
	    "\"01-Jan-2024 10:00:00 +0000\" MODSEQ (42) EMAILID (M5) "
	    "THREADID (T9) SAVEDATE \"01-Jan-2024 10:01:00 +0000\")\r\n");
	EXPECT(&f, "a FETCH 3 FLAGS", REV2, "* 3 FETCH (FLAGS ())\r\n");
	/* UID FETCH: UID first unless asked for, then where asked */
	EXPECT(&f, "a UID FETCH 17 FLAGS", REV2,
	    "* 3 FETCH (UID 17 FLAGS ())\r\n");
	EXPECT(&f, "a UID FETCH 17 (FLAGS UID)", REV2,
	    "* 3 FETCH (FLAGS () UID 17)\r\n");
	/* a repeated item goes out once */
	EXPECT(&f, "a FETCH 3 (FLAGS UID FLAGS UID)", REV2,
	    "* 3 FETCH (FLAGS () UID 17)\r\n");
	/* NIL object id and save date; the zone of INTERNALDATE */
	f.msg.thread_id = 0;
	f.msg.has_savedate = false;
	f.msg.tz = -330;
	EXPECT(&f, "a FETCH 3 (THREADID SAVEDATE INTERNALDATE)", REV2,
	    "* 3 FETCH (THREADID NIL SAVEDATE NIL INTERNALDATE "
	    "\"01-Jan-2024 04:30:00 -0530\")\r\n");
	assert_int_equal(f.blob_calls, 0);
	fx_free(&f);
}

/* ENVELOPE, BODY, BODYSTRUCTURE are the stored strings, no blob read */
static void
test_stored_strings(void **state)
{
	const char *msgs[] = { msg_simple, msg_alt, msg_mixed, msg_nested };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(msgs); i++) {
		struct fx f;
		struct buf want = BUF_INIT(0);

		fx_init(&f, msgs[i]);
		buf_addf(&want, "* 3 FETCH (ENVELOPE %s BODYSTRUCTURE %s "
		    "BODY %s)\r\n", f.info->envelope, f.info->bodystructure,
		    f.info->body);
		expect_n(&f, "a FETCH 3 (ENVELOPE BODYSTRUCTURE BODY)", REV2,
		    (const char *)want.data, want.len);
		assert_int_equal(f.blob_calls, 0);
		buf_free(&want);
		fx_free(&f);
	}
}

/* the macros (the parser expands them) keep their order */
static void
test_macros(void **state)
{
	struct fx f;
	struct buf want = BUF_INIT(0);

	(void)state;
	fx_init(&f, msg_simple);
	f.msg.flags = MAIL_F_SEEN;
	EXPECT(&f, "a FETCH 3 FAST", REV2,
	    "* 3 FETCH (FLAGS (\\Seen) INTERNALDATE "
	    "\"01-Jan-2024 10:00:00 +0000\" RFC822.SIZE 194)\r\n");
	buf_addf(&want, "* 3 FETCH (FLAGS (\\Seen) INTERNALDATE "
	    "\"01-Jan-2024 10:00:00 +0000\" RFC822.SIZE 194 ENVELOPE %s)\r\n",
	    f.info->envelope);
	expect_n(&f, "a FETCH 3 ALL", REV2, (const char *)want.data,
	    want.len);
	buf_reset(&want);
	buf_addf(&want, "* 3 FETCH (FLAGS (\\Seen) INTERNALDATE "
	    "\"01-Jan-2024 10:00:00 +0000\" RFC822.SIZE 194 ENVELOPE %s "
	    "BODY %s)\r\n", f.info->envelope, f.info->body);
	expect_n(&f, "a FETCH 3 FULL", REV2, (const char *)want.data,
	    want.len);
	buf_free(&want);
	fx_free(&f);
}

/* FLAGS: system flags, keywords as atoms, \Recent only for IMAP4rev1 */
static void
test_flags(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_simple);
	f.msg.flags = MAIL_F_ALL;
	/* stored keywords; a bad one (it cannot come from the store) and a
	 * doubled space are skipped */
	f.msg.keywords = "project-x  $label1 bad(kw";
	f.msg.recent = true;
	EXPECT(&f, "a FETCH 3 FLAGS", 0,
	    "* 3 FETCH (FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
	    "\\Draft $Forwarded $Junk $NotJunk project-x $label1 "
	    "\\Recent))\r\n");
	EXPECT(&f, "a FETCH 3 FLAGS", REV2,
	    "* 3 FETCH (FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
	    "\\Draft $Forwarded $Junk $NotJunk project-x $label1))\r\n");
	f.msg.flags = 0;
	f.msg.keywords = NULL;
	EXPECT(&f, "a FETCH 3 FLAGS", 0, "* 3 FETCH (FLAGS (\\Recent))\r\n");
	f.msg.recent = false;
	EXPECT(&f, "a FETCH 3 FLAGS", 0, "* 3 FETCH (FLAGS ())\r\n");
	f.msg.flags = MAIL_F_DRAFT | MAIL_F_JUNK;
	f.msg.keywords = "todo";
	EXPECT(&f, "a FETCH 3 FLAGS", 0,
	    "* 3 FETCH (FLAGS (\\Draft $Junk todo))\r\n");
	fx_free(&f);
}

/* whole message, header, text, part 1 of a single part, missing parts */
static void
test_body_sections(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_simple);
	EXPECT(&f, "a FETCH 3 BODY.PEEK[TEXT]", REV2,
	    "* 3 FETCH (BODY[TEXT] {26}\r\nHello Bob.\r\nSecond line.\r\n)"
	    "\r\n");
	/* the only part of a single-part message is its body */
	EXPECT(&f, "a FETCH 3 BODY.PEEK[1]", REV2,
	    "* 3 FETCH (BODY[1] {26}\r\nHello Bob.\r\nSecond line.\r\n)"
	    "\r\n");
	EXPECT(&f, "a FETCH 3 BODY.PEEK[HEADER]", REV2,
	    "* 3 FETCH (BODY[HEADER] {168}\r\n"
	    "From: Alice <alice@example.com>\r\n"
	    "To: bob@example.com\r\n"
	    "Subject: Hello\r\n"
	    " world\r\n"
	    "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
	    "Message-ID: <1@example.com>\r\n"
	    "x-extra: one\r\n"
	    "\ttwo\r\n"
	    "\r\n)\r\n");
	EXPECT(&f, "a FETCH 3 BODY.PEEK[]", REV2,
	    "* 3 FETCH (BODY[] {194}\r\n"
	    "From: Alice <alice@example.com>\r\n"
	    "To: bob@example.com\r\n"
	    "Subject: Hello\r\n"
	    " world\r\n"
	    "Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
	    "Message-ID: <1@example.com>\r\n"
	    "x-extra: one\r\n"
	    "\ttwo\r\n"
	    "\r\n"
	    "Hello Bob.\r\n"
	    "Second line.\r\n)\r\n");
	/* no such part, and TEXT of a part that is not a message: NIL */
	EXPECT(&f, "a FETCH 3 (BODY.PEEK[2] BODY.PEEK[1.TEXT] "
	    "BODY.PEEK[2.HEADER.FIELDS (A)]<0.1> BINARY.PEEK[2] "
	    "BINARY.SIZE[2])", REV2,
	    "* 3 FETCH (BODY[2] NIL BODY[1.TEXT] NIL "
	    "BODY[2.HEADER.FIELDS (A)]<0> NIL BINARY[2] NIL "
	    "BINARY.SIZE[2] 0)\r\n");
	assert_int_equal(f.blob_calls, 5);	/* once per render */
	fx_free(&f);
}

/* <origin.count>: inside, at the end, past the end, count too large */
static void
test_partial(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_simple);
	EXPECT(&f, "a FETCH 3 BODY.PEEK[]<0.4>", REV2,
	    "* 3 FETCH (BODY[]<0> {4}\r\nFrom)\r\n");
	EXPECT(&f, "a FETCH 3 BODY.PEEK[]<193.1>", REV2,
	    "* 3 FETCH (BODY[]<193> {1}\r\n\n)\r\n");
	/* "Hello Bob.\r\nSecond line.\r\n": octet 20 is the "i" of "line" */
	EXPECT(&f, "a FETCH 3 BODY.PEEK[TEXT]<20.100>", REV2,
	    "* 3 FETCH (BODY[TEXT]<20> {6}\r\nine.\r\n)\r\n");
	EXPECT(&f, "a FETCH 3 BODY.PEEK[TEXT]<26.5>", REV2,
	    "* 3 FETCH (BODY[TEXT]<26> \"\")\r\n");
	EXPECT(&f, "a FETCH 3 BODY.PEEK[TEXT]<1000.5>", REV2,
	    "* 3 FETCH (BODY[TEXT]<1000> \"\")\r\n");
	EXPECT(&f, "a FETCH 3 BODY.PEEK[TEXT]<9223372036854775807.1>", REV2,
	    "* 3 FETCH (BODY[TEXT]<9223372036854775807> \"\")\r\n");
	EXPECT(&f, "a FETCH 3 BODY.PEEK[TEXT]<0.9223372036854775807>", REV2,
	    "* 3 FETCH (BODY[TEXT]<0> {26}\r\n"
	    "Hello Bob.\r\nSecond line.\r\n)\r\n");
	/* partial of a filtered header */
	EXPECT(&f, "a FETCH 3 BODY.PEEK[HEADER.FIELDS (To)]<4.3>", REV2,
	    "* 3 FETCH (BODY[HEADER.FIELDS (To)]<4> {3}\r\nbob)\r\n");
	fx_free(&f);
}

/* HEADER.FIELDS[.NOT]: case, continuation lines, order, the empty line */
static void
test_header_fields(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_simple);
	/* names as sent, in any case; fields in message order, folded */
	EXPECT(&f, "a FETCH 3 BODY.PEEK[HEADER.FIELDS (x-EXTRA subject)]",
	    REV2,
	    "* 3 FETCH (BODY[HEADER.FIELDS (x-EXTRA subject)] {46}\r\n"
	    "Subject: Hello\r\n world\r\n"
	    "x-extra: one\r\n\ttwo\r\n"
	    "\r\n)\r\n");
	EXPECT(&f, "a FETCH 3 BODY.PEEK[HEADER.FIELDS.NOT (Subject X-Extra "
	    "DATE message-id)]", REV2,
	    "* 3 FETCH (BODY[HEADER.FIELDS.NOT (Subject X-Extra DATE "
	    "message-id)] {56}\r\n"
	    "From: Alice <alice@example.com>\r\n"
	    "To: bob@example.com\r\n"
	    "\r\n)\r\n");
	/* no field matches: the empty line alone; a quoted name */
	EXPECT(&f, "a FETCH 3 BODY.PEEK[HEADER.FIELDS (\"Nothing\" x)]",
	    REV2,
	    "* 3 FETCH (BODY[HEADER.FIELDS (Nothing x)] {2}\r\n\r\n)\r\n");
	/* a prefix of a name is not the name */
	EXPECT(&f, "a FETCH 3 BODY.PEEK[HEADER.FIELDS (Subj Fro)]", REV2,
	    "* 3 FETCH (BODY[HEADER.FIELDS (Subj Fro)] {2}\r\n\r\n)\r\n");
	fx_free(&f);

	/* a header without the empty line (nothing after it) */
	fx_init(&f, "Subject: a\nX-B: b");
	EXPECT(&f, "a FETCH 3 BODY.PEEK[HEADER.FIELDS (x-b subject)]", REV2,
	    "* 3 FETCH (BODY[HEADER.FIELDS (x-b subject)] {18}\r\n"
	    "Subject: a\r\nX-B: b)\r\n");
	fx_free(&f);
}

/* multipart/alternative: parts, their MIME headers, the whole text */
static void
test_alternative(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_alt);
	EXPECT(&f, "a FETCH 3 (BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[1.MIME])",
	    REV2,
	    "* 3 FETCH (BODY[1] {10}\r\nplain text BODY[2] {11}\r\n"
	    "<p>html</p> BODY[1.MIME] {46}\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n)\r\n");
	EXPECT(&f, "a FETCH 3 (BODY.PEEK[TEXT]<0.10> BODY.PEEK[3] "
	    "BINARY.SIZE[1] BINARY.SIZE[2])", REV2,
	    "* 3 FETCH (BODY[TEXT]<0> {10}\r\npreamble\r\n BODY[3] NIL "
	    "BINARY.SIZE[1] 10 BINARY.SIZE[2] 11)\r\n");
	fx_free(&f);
}

/* multipart/mixed: BINARY decodes quoted-printable and base64 */
static void
test_binary(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_mixed);
	EXPECT(&f, "a FETCH 3 (BINARY.PEEK[1] BINARY.SIZE[1])", REV2,
	    "* 3 FETCH (BINARY[1] {15}\r\ncaf\xc3\xa9 = ok soft "
	    "BINARY.SIZE[1] 15)\r\n");
	EXPECT(&f, "a FETCH 3 (BODY.PEEK[1])", REV2,
	    "* 3 FETCH (BODY[1] {24}\r\ncaf=C3=A9 =3D ok=\r\n soft)\r\n");
	EXPECT(&f, "a FETCH 3 (BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[2])",
	    REV2,
	    "* 3 FETCH (BINARY[2] {13}\r\nHello, world! BINARY.SIZE[2] 13 "
	    "BODY[2] {20}\r\nSGVsbG8sIHdvcmxkIQ==)\r\n");
	/* partial of the decoded content */
	EXPECT(&f, "a FETCH 3 BINARY.PEEK[2]<7.100>", REV2,
	    "* 3 FETCH (BINARY[2]<7> {6}\r\nworld!)\r\n");
	EXPECT(&f, "a FETCH 3 BINARY.PEEK[2]<13.1>", REV2,
	    "* 3 FETCH (BINARY[2]<13> \"\")\r\n");
	/* NULs after decoding: literal8, bytes as they are */
	EXPECT(&f, "a FETCH 3 (BINARY.PEEK[3] BINARY.SIZE[3])", REV2,
	    "* 3 FETCH (BINARY[3] ~{6}\r\n\0\1\2AB\0 BINARY.SIZE[3] 6)\r\n");
	/* a slice without the NULs is a plain literal */
	EXPECT(&f, "a FETCH 3 BINARY.PEEK[3]<3.2>", REV2,
	    "* 3 FETCH (BINARY[3]<3> {2}\r\nAB)\r\n");
	fx_free(&f);
}

/* an encoding we cannot decode fails the message: NO [UNKNOWN-CTE] */
static void
test_unknown_cte(void **state)
{
	struct fx f;
	struct buf got = BUF_INIT(0);

	(void)state;
	fx_init(&f, msg_mixed);
	run(&f, "a FETCH 3 (FLAGS BINARY.PEEK[4])", REV2, 0,
	    IMAP_FETCH_OUT_UNKNOWN_CTE, &got, NULL);
	run(&f, "a FETCH 3 (BINARY.SIZE[4])", REV2, 0,
	    IMAP_FETCH_OUT_UNKNOWN_CTE, &got, NULL);
	/* BODY sends it as stored */
	EXPECT(&f, "a FETCH 3 BODY.PEEK[4]", REV2,
	    "* 3 FETCH (BODY[4] {3}\r\nzzz)\r\n");
	buf_free(&got);
	fx_free(&f);
}

/* message/rfc822 inside: its header, text, parts; BINARY as stored */
static void
test_nested_message(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_nested);
	EXPECT(&f, "a FETCH 3 (BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] "
	    "BODY.PEEK[2.1] BODY.PEEK[2.MIME])", REV2,
	    "* 3 FETCH (BODY[2.HEADER] {69}\r\n"
	    "From: inner@example.com\r\n"
	    "Subject: inner\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    " BODY[2.TEXT] {10}\r\ninner body"
	    " BODY[2.1] {10}\r\ninner body"
	    " BODY[2.MIME] {32}\r\nContent-Type: message/rfc822\r\n\r\n)\r\n");
	EXPECT(&f, "a FETCH 3 (BODY.PEEK[2.HEADER.FIELDS (SUBJECT)] "
	    "BODY.PEEK[1.TEXT] BODY.PEEK[2.2] BINARY.PEEK[2] "
	    "BINARY.SIZE[2] BINARY.PEEK[2.1])", REV2,
	    "* 3 FETCH (BODY[2.HEADER.FIELDS (SUBJECT)] {18}\r\n"
	    "Subject: inner\r\n\r\n"
	    " BODY[1.TEXT] NIL BODY[2.2] NIL"
	    " BINARY[2] {79}\r\n"
	    "From: inner@example.com\r\n"
	    "Subject: inner\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "inner body"
	    " BINARY.SIZE[2] 79 BINARY[2.1] {10}\r\ninner body)\r\n");
	fx_free(&f);
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: IMAP4rev1 names, same content */
static void
test_rfc822_items(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_alt);
	EXPECT(&f, "a FETCH 3 (RFC822.HEADER)", 0,
	    "* 3 FETCH (RFC822.HEADER {108}\r\n"
	    "From: a@example.com\r\n"
	    "Subject: alt\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: multipart/alternative; boundary=\"b1\"\r\n"
	    "\r\n)\r\n");
	EXPECT(&f, "a FETCH 3 (RFC822.TEXT)", 0,
	    "* 3 FETCH (RFC822.TEXT {146}\r\n"
	    "preamble\r\n"
	    "--b1\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n"
	    "\r\n"
	    "plain text\r\n"
	    "--b1\r\n"
	    "Content-Type: text/html; charset=us-ascii\r\n"
	    "\r\n"
	    "<p>html</p>\r\n"
	    "--b1--\r\n)\r\n");
	fx_free(&f);

	fx_init(&f, "A: b\n\nc\n");
	EXPECT(&f, "a FETCH 3 (RFC822 RFC822.SIZE)", 0,
	    "* 3 FETCH (RFC822 {11}\r\nA: b\r\n\r\nc\r\n RFC822.SIZE 11)\r\n");
	fx_free(&f);
}

/* raw NULs: 0x80 in a literal, literal8 in BINARY */
static void
test_nul(void **state)
{
	struct fx f;

	(void)state;
	fx_init_raw(&f, msg_nul, sizeof(msg_nul) - 1);
	EXPECT(&f, "a FETCH 3 (BODY.PEEK[TEXT] BINARY.PEEK[1] "
	    "BINARY.SIZE[1] RFC822.SIZE)", REV2,
	    "* 3 FETCH (BODY[TEXT] {5}\r\na\x80" "b\r\n "
	    "BINARY[1] ~{5}\r\na\0b\r\n BINARY.SIZE[1] 5 RFC822.SIZE 19)\r\n");
	EXPECT(&f, "a FETCH 3 BINARY.PEEK[]", REV2,
	    "* 3 FETCH (BINARY[] ~{19}\r\nSubject: n\r\n\r\na\0b\r\n)\r\n");
	fx_free(&f);
}

/* 8-bit header bytes go out exactly; PREVIEW quoted only in UTF-8 mode */
static void
test_8bit(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_8bit);
	EXPECT(&f, "a FETCH 3 BODY.PEEK[HEADER.FIELDS (Subject)]", 0,
	    "* 3 FETCH (BODY[HEADER.FIELDS (Subject)] {20}\r\n"
	    "Subject: Gr\xc3\xbc\xc3\x9f" "e\r\n\r\n)\r\n");
	EXPECT(&f, "a FETCH 3 PREVIEW", UTF8,
	    "* 3 FETCH (PREVIEW \"Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln\")"
	    "\r\n");
	EXPECT(&f, "a FETCH 3 (PREVIEW (LAZY))", 0,
	    "* 3 FETCH (PREVIEW {17}\r\nGr\xc3\xbc\xc3\x9f"
	    "e aus K\xc3\xb6ln)\r\n");
	assert_int_equal(f.blob_calls, 1);	/* the header fields only */
	fx_free(&f);

	fx_init(&f, msg_alt);
	EXPECT(&f, "a FETCH 3 PREVIEW", REV2,
	    "* 3 FETCH (PREVIEW \"plain text\")\r\n");
	fx_free(&f);
}

/* \Seen: who sets it, FLAGS and MODSEQ in the response */
static void
test_seen(void **state)
{
	static const struct {
		const char *cmd;
		unsigned session;
		bool sets;
	} cases[] = {
		{ "a FETCH 1 BODY[]", 0, true },
		{ "a FETCH 1 BODY[1.MIME]", 0, true },
		{ "a FETCH 1 BINARY[1]", 0, true },
		{ "a FETCH 1 RFC822", 0, true },
		{ "a FETCH 1 RFC822.TEXT", 0, true },
		{ "a FETCH 1 (FLAGS BODY.PEEK[] BODY[TEXT])", 0, true },
		{ "a FETCH 1 BODY.PEEK[]", 0, false },
		{ "a FETCH 1 BINARY.PEEK[1]", 0, false },
		{ "a FETCH 1 (BINARY.SIZE[1] RFC822.HEADER BODY ENVELOPE)", 0,
		    false },
		{ "a FETCH 1 BODY[]", IMAP_FETCH_OUT_READ_ONLY, false },
	};
	struct fx f;
	struct buf got = BUF_INIT(0);
	bool set_seen;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct imap_cmd *cmd = parse(cases[i].cmd);
		struct imap_fetch_out_opts o;

		imap_fetch_out_opts_init(&o, cmd, cases[i].session);
		if (imap_fetch_out_sets_seen(&o) != cases[i].sets)
			fail_msg("%s: sets_seen %d", cases[i].cmd,
			    !cases[i].sets);
		imap_cmd_free(&cmd);
	}

	fx_init(&f, "A: b\n\nc\n");
	/* rendered before \Seen was set: the caller is told to set it */
	run(&f, "a FETCH 3 BODY[TEXT]", REV2, 0, IMAP_FETCH_OUT_OK, &got,
	    &set_seen);
	assert_true(set_seen);
	assert_string_equal(buf_cstr(&got),
	    "* 3 FETCH (BODY[TEXT] {3}\r\nc\r\n)\r\n");
	run(&f, "a FETCH 3 BODY[TEXT]", REV2 | IMAP_FETCH_OUT_READ_ONLY, 0,
	    IMAP_FETCH_OUT_OK, &got, &set_seen);
	assert_false(set_seen);
	run(&f, "a FETCH 3 BODY.PEEK[TEXT]", REV2, 0, IMAP_FETCH_OUT_OK,
	    &got, &set_seen);
	assert_false(set_seen);
	/* the caller set it first: FLAGS joins, MODSEQ too with CONDSTORE */
	f.msg.flags = MAIL_F_SEEN;
	f.msg.flags_changed = true;
	f.msg.modseq = 43;
	run(&f, "a FETCH 3 BODY[TEXT]", REV2, 0, IMAP_FETCH_OUT_OK, &got,
	    &set_seen);
	assert_false(set_seen);
	EXPECT(&f, "a FETCH 3 BODY[TEXT]", REV2,
	    "* 3 FETCH (BODY[TEXT] {3}\r\nc\r\n FLAGS (\\Seen))\r\n");
	EXPECT(&f, "a FETCH 3 BODY[TEXT]", REV2 | IMAP_FETCH_OUT_CONDSTORE,
	    "* 3 FETCH (BODY[TEXT] {3}\r\nc\r\n FLAGS (\\Seen) "
	    "MODSEQ (43))\r\n");
	/* asked for already: not twice */
	EXPECT(&f, "a FETCH 3 (MODSEQ BODY[TEXT] FLAGS)",
	    REV2 | IMAP_FETCH_OUT_CONDSTORE,
	    "* 3 FETCH (MODSEQ (43) BODY[TEXT] {3}\r\nc\r\n "
	    "FLAGS (\\Seen))\r\n");
	buf_free(&got);
	fx_free(&f);
}

/* CHANGEDSINCE adds MODSEQ; UIDONLY answers UIDFETCH without UID */
static void
test_condstore_uidonly(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f, msg_simple);
	EXPECT(&f, "a FETCH 1:* (FLAGS) (CHANGEDSINCE 12)",
	    REV2 | IMAP_FETCH_OUT_CONDSTORE,
	    "* 3 FETCH (FLAGS () MODSEQ (42))\r\n");
	EXPECT(&f, "a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12 VANISHED)",
	    REV2 | IMAP_FETCH_OUT_CONDSTORE,
	    "* 3 FETCH (UID 17 FLAGS () MODSEQ (42))\r\n");
	EXPECT(&f, "a UID FETCH 1:* (FLAGS)", REV2 | IMAP_FETCH_OUT_UIDONLY,
	    "* 17 UIDFETCH (FLAGS ())\r\n");
	EXPECT(&f, "a UID FETCH 1:* (UID FLAGS)",
	    REV2 | IMAP_FETCH_OUT_UIDONLY,
	    "* 17 UIDFETCH (UID 17 FLAGS ())\r\n");
	EXPECT(&f, "a UID FETCH 1:* (BODY.PEEK[TEXT]<0.5>) (CHANGEDSINCE 1)",
	    REV2 | IMAP_FETCH_OUT_UIDONLY | IMAP_FETCH_OUT_CONDSTORE,
	    "* 17 UIDFETCH (BODY[TEXT]<0> {5}\r\nHello MODSEQ (42))\r\n");
	fx_free(&f);
}

/* the STORE reply's line */
static void
test_store_reply(void **state)
{
	struct fx f;
	struct buf out = BUF_INIT(0);

	(void)state;
	fx_init(&f, msg_simple);
	f.msg.flags = MAIL_F_SEEN | MAIL_F_FLAGGED;
	f.msg.keywords = "work";
	f.msg.recent = true;
	imap_fetch_out_store(&out, 0, &f.msg, IMAP_FETCH_OUT_ST_FLAGS);
	imap_fetch_out_store(&out, REV2, &f.msg, IMAP_FETCH_OUT_ST_FLAGS |
	    IMAP_FETCH_OUT_ST_UID | IMAP_FETCH_OUT_ST_MODSEQ);
	/* .SILENT with UNCHANGEDSINCE (RFC 7162 3.1.3 example 3) */
	imap_fetch_out_store(&out, REV2, &f.msg, IMAP_FETCH_OUT_ST_UID |
	    IMAP_FETCH_OUT_ST_MODSEQ);
	imap_fetch_out_store(&out, REV2 | IMAP_FETCH_OUT_UIDONLY, &f.msg,
	    IMAP_FETCH_OUT_ST_FLAGS | IMAP_FETCH_OUT_ST_UID);
	/* nothing left to say: nothing written */
	imap_fetch_out_store(&out, REV2 | IMAP_FETCH_OUT_UIDONLY, &f.msg,
	    IMAP_FETCH_OUT_ST_UID);
	imap_fetch_out_store(&out, REV2, &f.msg, 0);
	assert_string_equal(buf_cstr(&out),
	    "* 3 FETCH (FLAGS (\\Flagged \\Seen work \\Recent))\r\n"
	    "* 3 FETCH (UID 17 FLAGS (\\Flagged \\Seen work) MODSEQ (42))\r\n"
	    "* 3 FETCH (UID 17 MODSEQ (42))\r\n"
	    "* 17 UIDFETCH (FLAGS (\\Flagged \\Seen work))\r\n");
	buf_free(&out);
	fx_free(&f);
}

/* failures leave out as it was: blob errors, size mismatch, too big */
static void
test_failures(void **state)
{
	struct fx f;
	struct buf got = BUF_INIT(0);

	(void)state;
	fx_init(&f, msg_simple);
	f.blob_fail = true;
	run(&f, "a FETCH 3 (FLAGS BODY.PEEK[])", REV2, 0,
	    IMAP_FETCH_OUT_ERROR, &got, NULL);
	/* FLAGS alone never reads the blob */
	run(&f, "a FETCH 3 (FLAGS ENVELOPE)", REV2, 0, IMAP_FETCH_OUT_OK,
	    &got, NULL);
	f.blob_fail = false;
	f.msg.blob = NULL;
	run(&f, "a FETCH 3 BODY.PEEK[TEXT]", REV2, 0, IMAP_FETCH_OUT_ERROR,
	    &got, NULL);
	f.msg.blob = fx_blob;
	/* the MIME info does not describe these bytes */
	buf_add_str(&f.raw, "x");
	run(&f, "a FETCH 3 BODY.PEEK[TEXT]", REV2, 0, IMAP_FETCH_OUT_ERROR,
	    &got, NULL);
	buf_truncate(&f.raw, f.raw.len - 1);
	/* max_response: the literal would pass it */
	run(&f, "a FETCH 3 BODY.PEEK[]", REV2, 100, IMAP_FETCH_OUT_TOO_BIG,
	    &got, NULL);
	run(&f, "a FETCH 3 (BODY.PEEK[TEXT] BODY.PEEK[TEXT] BODY.PEEK[TEXT] "
	    "BODY.PEEK[TEXT])", REV2, 150, IMAP_FETCH_OUT_TOO_BIG, &got,
	    NULL);
	run(&f, "a FETCH 3 (BODY.PEEK[TEXT] BODY.PEEK[TEXT])", REV2, 150,
	    IMAP_FETCH_OUT_OK, &got, NULL);
	run(&f, "a FETCH 3 BODY.PEEK[]<0.10>", REV2, 100, IMAP_FETCH_OUT_OK,
	    &got, NULL);
	buf_free(&got);
	fx_free(&f);
}

/*
 * the work bound: 4 * max_response octets filtered; each item filters the
 * 168-octet header and sends little (the origin is past the end)
 */
static void
test_work_bound(void **state)
{
	struct fx f;
	struct buf cmd = BUF_INIT(0), got = BUF_INIT(0);

	(void)state;
	fx_init(&f, msg_simple);
	for (int n = 23; n <= 24; n++) {
		buf_reset(&cmd);
		buf_add_str(&cmd, "a FETCH 3 (");
		for (int i = 0; i < n; i++)
			buf_addf(&cmd, "%sBODY.PEEK[HEADER.FIELDS (A)]<999.1>",
			    i > 0 ? " " : "");
		buf_add_str(&cmd, ")");
		/* 23 * 168 = 3864 <= 4000 < 24 * 168 = 4032 */
		run(&f, buf_cstr(&cmd), REV2, 1000, n == 23 ?
		    IMAP_FETCH_OUT_OK : IMAP_FETCH_OUT_TOO_BIG, &got, NULL);
		if (n == 23)
			assert_true(got.len < 1000);
	}
	buf_free(&cmd);
	buf_free(&got);
	fx_free(&f);
}

/* no stored MIME info: parsed from the blob, the same answer */
static void
test_mime_fallback(void **state)
{
	const char *cmd = "a FETCH 3 (ENVELOPE BODYSTRUCTURE "
	    "BODY.PEEK[2.HEADER.FIELDS (subject)] BINARY.PEEK[1] PREVIEW)";
	struct fx f;
	struct buf a = BUF_INIT(0), b = BUF_INIT(0);

	(void)state;
	fx_init(&f, msg_nested);
	run(&f, cmd, REV2, 0, IMAP_FETCH_OUT_OK, &a, NULL);
	f.msg.mime = NULL;
	run(&f, cmd, REV2, 0, IMAP_FETCH_OUT_OK, &b, NULL);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	assert_int_equal(f.blob_calls, 2);
	buf_free(&a);
	buf_free(&b);
	fx_free(&f);
}

/* what a list needs read */
static void
test_needs(void **state)
{
	static const struct {
		const char *cmd;
		unsigned need;
	} cases[] = {
		{ "a FETCH 1 (FLAGS UID INTERNALDATE RFC822.SIZE MODSEQ "
		    "EMAILID THREADID SAVEDATE BINARY.SIZE[])", 0 },
		{ "a FETCH 1 ALL", IMAP_FETCH_OUT_NEED_MIME },
		{ "a FETCH 1 (BODYSTRUCTURE PREVIEW)",
		    IMAP_FETCH_OUT_NEED_MIME },
		{ "a FETCH 1 (BODYSTRUCTURE PREVIEW BINARY.SIZE[1])",
		    IMAP_FETCH_OUT_NEED_MIME | IMAP_FETCH_OUT_NEED_PARTS },
		{ "a FETCH 1 BODY.PEEK[]", IMAP_FETCH_OUT_NEED_BLOB },
		{ "a FETCH 1 (RFC822 BINARY[]<0.5>)",
		    IMAP_FETCH_OUT_NEED_BLOB },
		{ "a FETCH 1 BODY.PEEK[HEADER]", IMAP_FETCH_OUT_NEED_MIME |
		    IMAP_FETCH_OUT_NEED_PARTS | IMAP_FETCH_OUT_NEED_BLOB },
		{ "a FETCH 1 RFC822.HEADER", IMAP_FETCH_OUT_NEED_MIME |
		    IMAP_FETCH_OUT_NEED_PARTS | IMAP_FETCH_OUT_NEED_BLOB },
		{ "a FETCH 1 BINARY[1.2]", IMAP_FETCH_OUT_NEED_MIME |
		    IMAP_FETCH_OUT_NEED_PARTS | IMAP_FETCH_OUT_NEED_BLOB },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct imap_cmd *cmd = parse(cases[i].cmd);
		struct imap_fetch_out_opts o;
		unsigned need;

		imap_fetch_out_opts_init(&o, cmd, 0);
		need = imap_fetch_out_needs(&o);
		if (need != cases[i].need)
			fail_msg("%s: needs %u, want %u", cases[i].cmd, need,
			    cases[i].need);
		imap_cmd_free(&cmd);
	}
}

static void
test_datetime(void **state)
{
	static const struct {
		int64_t t;
		int tz;
		const char *want;
	} cases[] = {
		{ 0, 0, "\"01-Jan-1970 00:00:00 +0000\"" },
		{ 1704103200, 60, "\"01-Jan-2024 11:00:00 +0100\"" },
		{ 1704103200, -600, "\"01-Jan-2024 00:00:00 -1000\"" },
		{ 1704103200, -601, "\"31-Dec-2023 23:59:00 -1001\"" },
		{ 951782400, 0, "\"29-Feb-2000 00:00:00 +0000\"" },
		{ 1704103200, 5000, "\"02-Jan-2024 09:59:00 +2359\"" },
		{ INT64_MAX, 0, "\"31-Dec-9999 23:59:59 +0000\"" },
		{ INT64_MAX, 60, "\"31-Dec-9999 23:59:59 +0100\"" },
		{ INT64_MIN, 0, "\"01-Jan-0000 00:00:00 +0000\"" },
		{ -1, 0, "\"31-Dec-1969 23:59:59 +0000\"" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct buf b = BUF_INIT(0);

		imap_fetch_out_datetime(&b, cases[i].t, cases[i].tz);
		assert_string_equal(buf_cstr(&b), cases[i].want);
		buf_free(&b);
	}
}

static void
test_objectid(void **state)
{
	static const struct {
		const char *s;
		char prefix;
		bool ok;
		uint32_t id;
	} cases[] = {
		{ "M1", 'M', true, 1 },
		{ "T4294967295", 'T', true, UINT32_MAX },
		{ "M4294967296", 'M', false, 0 },
		{ "M0", 'M', false, 0 },
		{ "M01", 'M', false, 0 },
		{ "M", 'M', false, 0 },
		{ "T12", 'M', false, 0 },
		{ "m12", 'M', false, 0 },
		{ "M12x", 'M', false, 0 },
		{ "M-1", 'M', false, 0 },
	};
	struct buf b = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t id = 0;
		bool ok = imap_fetch_out_objectid_parse(cases[i].s,
		    strlen(cases[i].s), cases[i].prefix, &id);

		if (ok != cases[i].ok || (ok && id != cases[i].id))
			fail_msg("%s: %d %u", cases[i].s, ok, id);
	}
	imap_fetch_out_objectid(&b, 'M', 42);
	imap_fetch_out_objectid(&b, 'T', UINT32_MAX);
	assert_string_equal(buf_cstr(&b), "M42T4294967295");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_items),
		cmocka_unit_test(test_stored_strings),
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_body_sections),
		cmocka_unit_test(test_partial),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_alternative),
		cmocka_unit_test(test_binary),
		cmocka_unit_test(test_unknown_cte),
		cmocka_unit_test(test_nested_message),
		cmocka_unit_test(test_rfc822_items),
		cmocka_unit_test(test_nul),
		cmocka_unit_test(test_8bit),
		cmocka_unit_test(test_seen),
		cmocka_unit_test(test_condstore_uidonly),
		cmocka_unit_test(test_store_reply),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_work_bound),
		cmocka_unit_test(test_mime_fallback),
		cmocka_unit_test(test_needs),
		cmocka_unit_test(test_datetime),
		cmocka_unit_test(test_objectid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
