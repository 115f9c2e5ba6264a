/*
 * vacation_test.c - the VacationResponse auto-reply (delivery/vacation*.c,
 * store/mail_vacation.c): the RFC 3834 decision as a table (every rule,
 * its near misses, folded and bare-LF headers, the address budget), the
 * date window, the reply message (headers exactly, References trimmed,
 * encoded words, quoted-printable that decodes back, multipart when
 * both bodies, every line CRLF and within 998 octets, parsed back with
 * the MIME parser), the store (round trip, claims per period, a clock
 * set back, a write that forgets the claims, one change record), and
 * the delivery agent's hook end to end over a real store and directory,
 * with the queue's send function capturing what would be queued: one
 * reply per sender, none for a retried delivery, a failed send that
 * gives the claim back.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "common/rfc5322.h"
#include "common/xalloc.h"
#include "delivery/delivery.h"
#include "delivery/vacation.h"
#include "store/mime.h"
#include "t/unit/unit_tmpdir.h"

/* ---- vacation_decide ---- */

static bool
own_list(void *arg, const char *addr)
{
	static const char *const mine[] = { "u@test.example",
	    "u+tag@test.example", "alias@test.example" };
	(void)arg;

	for (size_t i = 0; i < ARRAY_SIZE(mine); i++)
		if (strcasecmp(addr, mine[i]) == 0)
			return true;
	return false;
}

#define B "\r\n\r\nbody\r\n"

static const struct {
	const char *name, *sender, *msg;
	bool junk;
	enum vacation_verdict want;
} decide_cases[] = {
	{ "to the user", "a@x.example", "To: u@test.example" B, false,
	  VACATION_REPLY },
	{ "display name and case", "a@x.example",
	  "To: \"U\" <U@Test.Example>" B, false, VACATION_REPLY },
	{ "cc only", "a@x.example", "To: b@x.example\r\nCc: u@test.example" B,
	  false, VACATION_REPLY },
	{ "resent-to", "a@x.example", "To: b@x.example\r\n"
	  "Resent-To: alias@test.example" B, false, VACATION_REPLY },
	{ "sub-address", "a@x.example", "To: u+tag@test.example" B, false,
	  VACATION_REPLY },
	{ "group", "a@x.example", "To: Team: b@x.example, u@test.example;" B,
	  false, VACATION_REPLY },
	{ "folded to", "a@x.example", "To: b@x.example,\r\n\tu@test.example"
	  B, false, VACATION_REPLY },
	{ "bare LF", "a@x.example", "Subject: hi\nTo: u@test.example\n\nx\n",
	  false, VACATION_REPLY },
	{ "null sender", "", "To: u@test.example" B, false,
	  VACATION_NULL_SENDER },
	{ "no @", "postmaster", "To: u@test.example" B, false,
	  VACATION_BAD_SENDER },
	{ "space in sender", "a b@x.example", "To: u@test.example" B, false,
	  VACATION_BAD_SENDER },
	{ "spam", "a@x.example", "To: u@test.example" B, true,
	  VACATION_SPAM },
	{ "auto-replied", "a@x.example", "Auto-Submitted: auto-replied\r\n"
	  "To: u@test.example" B, false, VACATION_AUTO_SUBMITTED },
	{ "auto-generated with comment", "a@x.example",
	  "To: u@test.example\r\nAuto-Submitted: (x) Auto-Generated; a=b" B,
	  false, VACATION_AUTO_SUBMITTED },
	{ "auto-submitted no", "a@x.example", "Auto-Submitted: No (human)\r\n"
	  "To: u@test.example" B, false, VACATION_REPLY },
	{ "precedence bulk", "a@x.example", "Precedence: bulk\r\n"
	  "To: u@test.example" B, false, VACATION_PRECEDENCE },
	{ "precedence list", "a@x.example", "Precedence:  LIST\r\n"
	  "To: u@test.example" B, false, VACATION_PRECEDENCE },
	{ "precedence junk", "a@x.example", "Precedence: junk\r\n"
	  "To: u@test.example" B, false, VACATION_PRECEDENCE },
	{ "precedence first-class", "a@x.example",
	  "Precedence: first-class\r\nTo: u@test.example" B, false,
	  VACATION_REPLY },
	{ "list-id", "a@x.example", "List-Id: <l.x.example>\r\n"
	  "To: u@test.example" B, false, VACATION_LIST },
	{ "list-unsubscribe", "a@x.example", "To: u@test.example\r\n"
	  "list-unsubscribe: <mailto:u@x.example>" B, false, VACATION_LIST },
	{ "list-id in the body", "a@x.example", "To: u@test.example\r\n\r\n"
	  "List-Id: <l.x.example>\r\n", false, VACATION_REPLY },
	{ "suppress oof", "a@x.example", "X-Auto-Response-Suppress: DR, OOF"
	  "\r\nTo: u@test.example" B, false, VACATION_SUPPRESSED },
	{ "suppress all", "a@x.example", "X-Auto-Response-Suppress: All\r\n"
	  "To: u@test.example" B, false, VACATION_SUPPRESSED },
	{ "suppress dr only", "a@x.example", "X-Auto-Response-Suppress: DR, "
	  "RN\r\nTo: u@test.example" B, false, VACATION_REPLY },
	{ "mailer-daemon", "MAILER-DAEMON@x.example", "To: u@test.example" B,
	  false, VACATION_SYSTEM_SENDER },
	{ "owner-", "owner-list@x.example", "To: u@test.example" B, false,
	  VACATION_SYSTEM_SENDER },
	{ "-request", "list-request@x.example", "To: u@test.example" B, false,
	  VACATION_SYSTEM_SENDER },
	{ "-bounces VERP", "list-bounces+u=test.example@x.example",
	  "To: u@test.example" B, false, VACATION_SYSTEM_SENDER },
	{ "no-reply", "No-Reply@x.example", "To: u@test.example" B, false,
	  VACATION_SYSTEM_SENDER },
	{ "majordomo", "majordomo@x.example", "To: u@test.example" B, false,
	  VACATION_SYSTEM_SENDER },
	{ "requester is a person", "requester@x.example",
	  "To: u@test.example" B, false, VACATION_REPLY },
	{ "own sender", "U@test.example", "To: u@test.example" B, false,
	  VACATION_OWN_SENDER },
	{ "bcc only", "a@x.example", "To: b@x.example\r\n"
	  "Bcc: u@test.example" B, false, VACATION_NOT_ADDRESSED },
	{ "no to", "a@x.example", "Subject: hi" B, false,
	  VACATION_NOT_ADDRESSED },
	{ "someone else", "a@x.example", "To: other@test.example" B, false,
	  VACATION_NOT_ADDRESSED },
	{ "in the body only", "a@x.example", "To: b@x.example\r\n\r\n"
	  "To: u@test.example\r\n", false, VACATION_NOT_ADDRESSED },
	{ "malformed to", "a@x.example", "To: u@test.example <<\r\n" B, false,
	  VACATION_NOT_ADDRESSED },
};

static void
test_decide(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(decide_cases); i++) {
		struct vacation_subject s = { decide_cases[i].sender,
			(const unsigned char *)decide_cases[i].msg,
			strlen(decide_cases[i].msg), decide_cases[i].junk,
			own_list, NULL };
		enum vacation_verdict v = vacation_decide(&s);

		if (v != decide_cases[i].want)
			fail_msg("%s: got \"%s\", want \"%s\"",
			    decide_cases[i].name, vacation_verdict_str(v),
			    vacation_verdict_str(decide_cases[i].want));
	}
}

/* counts the addresses it is asked about */
static bool
own_count(void *arg, const char *addr)
{
	(*(size_t *)arg)++;
	return strcmp(addr, "u@test.example") == 0;
}

/* the user named past VACATION_ADDRS_MAX addresses is not looked for */
static void
test_decide_budget(void **state)
{
	struct buf m = BUF_INIT(0);
	struct vacation_subject s;
	size_t asked = 0;

	(void)state;
	for (int pass = 0; pass < 2; pass++) {
		size_t before = pass == 0 ? VACATION_ADDRS_MAX - 2 :
		    VACATION_ADDRS_MAX + 5;

		buf_reset(&m);
		buf_add_str(&m, "To: a0@x.example");
		for (size_t i = 1; i < before; i++)
			buf_addf(&m, ",\r\n a%zu@x.example", i);
		buf_add_str(&m, ", u@test.example" B);
		asked = 0;
		s = (struct vacation_subject){ "s@x.example", m.data, m.len,
			false, own_count, &asked };
		assert_int_equal(vacation_decide(&s), pass == 0 ?
		    VACATION_REPLY : VACATION_NOT_ADDRESSED);
		/* the sender, then at most the budget */
		assert_true(asked <= VACATION_ADDRS_MAX + 1);
	}
	buf_free(&m);
}

static void
test_active(void **state)
{
	struct mail_vacation v;

	(void)state;
	memset(&v, 0, sizeof(v));
	assert_false(vacation_is_active(&v, 1000));
	v.enabled = true;
	assert_true(vacation_is_active(&v, 1000));
	v.has_from = true;
	v.from = 1000;
	assert_true(vacation_is_active(&v, 1000));
	assert_false(vacation_is_active(&v, 999));
	v.has_to = true;
	v.to = 2000;
	assert_true(vacation_is_active(&v, 1999));
	assert_false(vacation_is_active(&v, 2000));
	v.has_from = false;
	assert_true(vacation_is_active(&v, 5));
	v.enabled = false;
	assert_false(vacation_is_active(&v, 1500));
}

/* ---- vacation_build ---- */

static const char orig[] =
    "From: Alice <alice@x.example>\r\n"
    "To: u@test.example\r\n"
    "Subject: Quarterly\r\n"
    "  report\r\n"
    "Message-ID: <m1@x.example>\r\n"
    "References: <r1@x.example> <r2@x.example>\r\n"
    "In-Reply-To: <r2@x.example>\r\n"
    "\r\n"
    "Hello.\r\n";

/* field - the value of the first field called name of the built reply */
static char *
field(const struct buf *msg, const char *name)
{
	struct buf v = BUF_INIT(0);
	char *s;

	if (rfc5322_header_find(msg->data, msg->len, name, &v) == 0) {
		buf_free(&v);
		return NULL;
	}
	s = xmemdup0(v.data, v.len);
	buf_free(&v);
	return s;
}

static void
assert_field(const struct buf *msg, const char *name, const char *want)
{
	char *got = field(msg, name);

	if (want == NULL && got == NULL)
		return;
	if (got == NULL || want == NULL || strcmp(got, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", name,
		    got != NULL ? got : "(none)", want != NULL ? want :
		    "(none)");
	free(got);
}

/* every line ends in CRLF and is at most 998 octets */
static void
assert_lines(const struct buf *msg)
{
	size_t start = 0;

	for (size_t i = 0; i < msg->len; i++) {
		if (msg->data[i] == '\r') {
			assert_true(i + 1 < msg->len && msg->data[i + 1] == '\n');
		} else if (msg->data[i] == '\n') {
			assert_true(i > 0 && msg->data[i - 1] == '\r');
			assert_true(i - 1 - start <= 998);
			start = i + 1;
		}
	}
	assert_int_equal(start, msg->len);	/* ends with a line break */
}

/* text_of - the decoded text of the reply's first part of subtype */
static char *
text_of(const struct buf *msg, const char *subtype)
{
	struct mime_info *info = NULL;
	struct buf err = BUF_INIT(0), out = BUF_INIT(0);
	char *s = NULL;

	assert_int_equal(mime_parse(msg->data, msg->len, NULL, &info, &err),
	    0);
	for (uint32_t i = 0; i < info->nparts; i++) {
		if (strcmp(info->parts[i].type, "text") != 0 ||
		    strcmp(info->parts[i].subtype, subtype) != 0)
			continue;
		assert_string_equal(info->parts[i].charset, "utf-8");
		(void)mime_part_text(info, i, msg->data, msg->len, false,
		    1 << 20, &out);
		s = xmemdup0(out.data != NULL ? (const char *)out.data : "",
		    out.len);
		break;
	}
	mime_info_free(&info);
	buf_free(&err);
	buf_free(&out);
	return s;
}

static struct vacation_reply
reply_base(void)
{
	struct vacation_reply r;

	memset(&r, 0, sizeof(r));
	r.from_addr = "u@test.example";
	r.from_name = "U Ser";
	r.to = "alice-bounce@x.example";
	r.orig = (const unsigned char *)orig;
	r.orig_len = sizeof(orig) - 1;
	r.text = "Back on Monday.\n";
	r.date = 1767225600;	/* 2026-01-01 00:00:00 UTC, a Thursday */
	r.message_id = "vacation.1.abc@test.example";
	return r;
}

static void
test_build_headers(void **state)
{
	struct vacation_reply r = reply_base();
	struct buf out = BUF_INIT(0);
	char *t;

	(void)state;
	vacation_build(&r, &out);
	assert_lines(&out);
	assert_field(&out, "From", " \"U Ser\" <u@test.example>");
	assert_field(&out, "To", " <alice-bounce@x.example>");
	assert_field(&out, "Subject", " Auto: Quarterly  report");
	assert_field(&out, "Date", " Thu, 01 Jan 2026 00:00:00 +0000");
	assert_field(&out, "Message-ID", " <vacation.1.abc@test.example>");
	assert_field(&out, "In-Reply-To", " <m1@x.example>");
	assert_field(&out, "References", " <r1@x.example>\r\n <r2@x.example>"
	    "\r\n <m1@x.example>");
	assert_field(&out, "Auto-Submitted", " auto-replied");
	assert_field(&out, "MIME-Version", " 1.0");
	assert_field(&out, "Content-Type", " text/plain; charset=utf-8");
	assert_field(&out, "Content-Transfer-Encoding", " quoted-printable");
	t = text_of(&out, "plain");
	assert_non_null(t);
	assert_string_equal(t, "Back on Monday.\n");
	free(t);
	/* the response's own subject, and a name that needs quoting */
	buf_reset(&out);
	r.subject = "Away";
	r.from_name = "a \"b\" \\c";
	vacation_build(&r, &out);
	assert_field(&out, "Subject", " Away");
	assert_field(&out, "From", " \"a \\\"b\\\" \\\\c\" <u@test.example>");
	buf_free(&out);
}

/* In-Reply-To alone seeds References; no Message-ID: no threading */
static void
test_build_threading(void **state)
{
	static const char irt[] = "Message-ID: <m2@x.example>\r\n"
	    "In-Reply-To: <p@x.example>\r\n\r\nx\r\n";
	static const char two[] = "Message-ID: <m3@x.example>\r\n"
	    "In-Reply-To: <p@x.example> <q@x.example>\r\n\r\nx\r\n";
	static const char none[] = "Subject: x\r\nIn-Reply-To: <p@x.example>"
	    "\r\n\r\nx\r\n";
	struct vacation_reply r = reply_base();
	struct buf out = BUF_INIT(0), long_refs = BUF_INIT(0);
	char *refs;

	(void)state;
	r.orig = (const unsigned char *)irt;
	r.orig_len = sizeof(irt) - 1;
	vacation_build(&r, &out);
	assert_field(&out, "References", " <p@x.example>\r\n <m2@x.example>");
	assert_field(&out, "Subject", " Auto: (no subject)");
	buf_reset(&out);
	r.orig = (const unsigned char *)two;
	r.orig_len = sizeof(two) - 1;
	vacation_build(&r, &out);
	assert_field(&out, "References", " <m3@x.example>");
	buf_reset(&out);
	r.orig = (const unsigned char *)none;
	r.orig_len = sizeof(none) - 1;
	vacation_build(&r, &out);
	assert_field(&out, "In-Reply-To", NULL);
	assert_field(&out, "References", NULL);
	/* 30 references: the first and the last ones, 20 ids in all */
	buf_add_str(&long_refs, "Message-ID: <last@x.example>\r\n"
	    "References:");
	for (int i = 0; i < 30; i++)
		buf_addf(&long_refs, " <r%d@x.example>\r\n", i);
	buf_add_str(&long_refs, "\r\nx\r\n");
	buf_reset(&out);
	r.orig = long_refs.data;
	r.orig_len = long_refs.len;
	vacation_build(&r, &out);
	refs = field(&out, "References");
	assert_non_null(refs);
	assert_non_null(strstr(refs, " <r0@x.example>\r\n <r12@x.example>"));
	assert_null(strstr(refs, "<r11@"));
	assert_non_null(strstr(refs, "<r29@x.example>\r\n <last@x.example>"));
	free(refs);
	buf_free(&long_refs);
	buf_free(&out);
}

static void
test_build_encoding(void **state)
{
	struct vacation_reply r = reply_base();
	struct buf out = BUF_INIT(0), subj = BUF_INIT(0), text = BUF_INIT(0);
	char *t, *h;

	(void)state;
	r.subject = "Vacances d'\xc3\xa9t\xc3\xa9";
	r.from_name = "Ren\xc3\xa9";
	vacation_build(&r, &out);
	assert_lines(&out);
	assert_field(&out, "Subject", " =?UTF-8?B?VmFjYW5jZXMgZCfDqXTDqQ==?=");
	assert_field(&out, "From", " =?UTF-8?B?UmVuw6k=?= <u@test.example>");
	/* 300 two-octet characters: words that never split one */
	for (int i = 0; i < 300; i++)
		buf_add_str(&subj, "\xc3\xa9");
	r.subject = (const char *)subj.data;
	/* text that needs every quoted-printable rule */
	buf_add_str(&text, "a=b trailing space \nlong ");
	for (int i = 0; i < 200; i++)
		buf_add_str(&text, i % 7 == 0 ? "\xc3\xa9" : "x");
	buf_add_str(&text, "\r\n.dot\ttab\t\n\nlast");
	r.text = (const char *)text.data;
	r.html = "<p>Back on <b>Monday</b>.</p>";
	buf_reset(&out);
	vacation_build(&r, &out);
	assert_lines(&out);
	h = field(&out, "Subject");
	assert_non_null(h);
	for (char *w = strstr(h, "=?UTF-8?B?"); w != NULL;
	    w = strstr(w + 1, "=?UTF-8?B?")) {
		char *e = strstr(w, "?=\r\n");

		if (e == NULL)
			e = w + strlen(w) - 2;
		assert_true(e - w + 2 <= 75);	/* RFC 2047 2 */
	}
	free(h);
	assert_non_null(strstr((const char *)out.data,
	    "Content-Type: multipart/alternative; boundary=\"=_vacation_"
	    "vacation1abc\"\r\n"));
	t = text_of(&out, "plain");
	assert_non_null(t);
	/* lines end in LF once decoded; the last one gets one */
	assert_true(strncmp(t, "a=b trailing space \nlong \xc3\xa9xx",
	    29) == 0);
	assert_non_null(strstr(t, "\n.dot\ttab\t\n\nlast"));
	free(t);
	t = text_of(&out, "html");
	assert_non_null(t);
	assert_string_equal(t, "<p>Back on <b>Monday</b>.</p>");
	free(t);
	/* html only */
	r.text = NULL;
	buf_reset(&out);
	vacation_build(&r, &out);
	assert_field(&out, "Content-Type", " text/html; charset=utf-8");
	buf_free(&out);
	buf_free(&subj);
	buf_free(&text);
}

/* an 8-bit subject that is no UTF-8 loses those octets, not the reply */
static void
test_build_bad_subject(void **state)
{
	static const char bad[] = "Subject: caf\xe9 \x01ok\r\n\r\nx\r\n";
	static const char utf8[] = "Subject: caf\xc3\xa9\r\n\r\nx\r\n";
	struct vacation_reply r = reply_base();
	struct buf out = BUF_INIT(0);

	(void)state;
	r.orig = (const unsigned char *)bad;
	r.orig_len = sizeof(bad) - 1;
	vacation_build(&r, &out);
	assert_field(&out, "Subject", " Auto: caf?  ok");
	buf_reset(&out);
	r.orig = (const unsigned char *)utf8;
	r.orig_len = sizeof(utf8) - 1;
	vacation_build(&r, &out);
	assert_field(&out, "Subject", " =?UTF-8?B?QXV0bzogY2Fmw6k=?=");
	buf_free(&out);
}

/* ---- the store, and the hook over a real store and directory ---- */

struct fx {
	struct config *cfg;
	struct store *st;
	struct directory *dir;
	struct delivery *d;
	struct buf err;
	uint32_t u, v;
	/* what the send hook got */
	int sent;
	bool fail_send;
	char sender[64], rcpt[64];
	struct buf last;
};

static int
capture(void *arg, const char *sender, const char *sender_params,
    const char *const *rcpts, size_t n, const void *msg, size_t len,
    struct buf *err)
{
	struct fx *fx = arg;

	if (fx->fail_send) {
		buf_addf(err, "queue full (test)");
		return -1;
	}
	assert_int_equal(n, 1);
	assert_string_equal(sender_params, "");
	(void)snprintf(fx->sender, sizeof(fx->sender), "%s", sender);
	(void)snprintf(fx->rcpt, sizeof(fx->rcpt), "%s", rcpts[0]);
	buf_reset(&fx->last);
	buf_add(&fx->last, msg, len);
	fx->sent++;
	return 0;
}

static int
group_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	FILE *f;

	if (unit_tmpdir_setup(state) < 0 || fx == NULL)
		return -1;
	buf_init(&fx->err, 0);
	buf_init(&fx->last, 0);
	f = fopen("v.conf", "w");
	assert_non_null(f);
	fprintf(f, "server = { data_dir = \"%s/var\"; };\n", unit_tmpdir);
	fclose(f);
	if (config_load("v.conf", &fx->cfg, &fx->err) < 0)
		fail_msg("config: %s", buf_cstr(&fx->err));
	if (mkdir("var", 0700) < 0)
		fail_msg("mkdir var");
	if (store_open(fx->cfg, &fx->st, &fx->err) < 0)
		fail_msg("store_open: %s", buf_cstr(&fx->err));
	fx->dir = directory_new(fx->st->kv, NULL);
	fx->d = delivery_new(fx->st, fx->dir);
	delivery_set_forward(fx->d, capture, fx);
	assert_int_equal(dir_domain_add(fx->dir, "test.example", &fx->err), 0);
	assert_int_equal(dir_user_add(fx->dir, "u@test.example", NULL, 0,
	    "U Ser", &fx->u, &fx->err), 0);
	assert_int_equal(dir_user_add(fx->dir, "v@test.example", NULL, 0,
	    NULL, &fx->v, &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->dir, "@test.example",
	    "u@test.example", &fx->err), 0);
	*state = fx;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fx *fx = *state;

	delivery_free(&fx->d);
	directory_free(&fx->dir);
	store_close(&fx->st);
	config_free(&fx->cfg);
	buf_free(&fx->err);
	buf_free(&fx->last);
	free(fx);
	return unit_tmpdir_teardown(state);
}

static void
test_store(void **state)
{
	struct fx *fx = *state;
	struct mail *m = fx->st->mail;
	struct mail_vacation v, got;
	uint64_t s1, s2, st;
	char big[MAIL_VACATION_SUBJECT_MAX + 2];

	assert_int_equal(mail_vacation_get(m, fx->v, &got, &fx->err), 0);
	assert_false(got.enabled);
	assert_null(got.subject);
	memset(&v, 0, sizeof(v));
	v.enabled = true;
	v.has_to = true;
	v.to = -5;		/* before 1970 is a date too */
	v.subject = "s";
	v.html = "";
	v.period = 60;
	assert_int_equal(mail_vacation_put(m, fx->v, &v, &s1, &fx->err), 0);
	assert_int_equal(mail_vacation_get(m, fx->v, &got, &fx->err), 1);
	assert_true(got.enabled && got.has_to && !got.has_from);
	assert_int_equal(got.to, -5);
	assert_string_equal(got.subject, "s");
	assert_null(got.text);
	assert_string_equal(got.html, "");
	assert_int_equal(got.period, 60);
	mail_vacation_clear(&got);
	assert_int_equal(mail_current_state(m, fx->v, MAIL_LOG_VACATION, &st,
	    &fx->err), 0);
	assert_int_equal(st, s1);
	/* claims: once per period, a clock set back claims nothing */
	assert_int_equal(mail_vacation_claim(m, fx->v, "A@x.example", 1000,
	    60, &fx->err), 1);
	assert_int_equal(mail_vacation_claim(m, fx->v, "a@X.EXAMPLE", 1059,
	    60, &fx->err), 0);
	assert_int_equal(mail_vacation_claim(m, fx->v, "a@x.example", 900,
	    60, &fx->err), 0);
	assert_int_equal(mail_vacation_claim(m, fx->v, "b@x.example", 1001,
	    60, &fx->err), 1);
	assert_int_equal(mail_vacation_claim(m, fx->v, "a@x.example", 1060,
	    60, &fx->err), 1);
	assert_int_equal(mail_vacation_unclaim(m, fx->v, "a@x.example",
	    &fx->err), 0);
	assert_int_equal(mail_vacation_claim(m, fx->v, "a@x.example", 1061,
	    60, &fx->err), 1);
	/* another account's claims are its own */
	assert_int_equal(mail_vacation_claim(m, fx->u, "a@x.example", 1061,
	    60, &fx->err), 1);
	/* a new setting forgets the claims and moves the state */
	assert_int_equal(mail_vacation_put(m, fx->v, &v, &s2, &fx->err), 0);
	assert_true(s2 > s1);
	assert_int_equal(mail_vacation_claim(m, fx->v, "a@x.example", 1062,
	    60, &fx->err), 1);
	assert_int_equal(mail_vacation_claim(m, fx->u, "a@x.example", 1062,
	    60, &fx->err), 0);
	/* too long: refused, nothing written */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	v.subject = big;
	assert_int_equal(mail_vacation_put(m, fx->v, &v, NULL, &fx->err), -1);
	buf_reset(&fx->err);
	assert_int_equal(mail_current_state(m, fx->v, MAIL_LOG_VACATION, &st,
	    &fx->err), 0);
	assert_int_equal(st, s2);
	/* leave v disabled for the other tests */
	memset(&v, 0, sizeof(v));
	assert_int_equal(mail_vacation_put(m, fx->v, &v, NULL, &fx->err), 0);
	assert_int_equal(mail_vacation_put(m, fx->u, &v, NULL, &fx->err), 0);
}

static void
deliver(struct fx *fx, const char *qid, const char *sender,
    const char *rcpt, const char *msg)
{
	struct delivery_rcpt rc;

	memset(&rc, 0, sizeof(rc));
	rc.addr = rcpt;
	delivery_message(fx->d, qid, sender, "", msg, strlen(msg), &rc, 1);
	assert_int_equal(rc.status, TRANSPORT_OK);
}

static void
test_hook(void **state)
{
	static const char msg[] = "From: v@test.example\r\n"
	    "To: u@test.example\r\nSubject: lunch?\r\n"
	    "Message-ID: <lunch@test.example>\r\n\r\nAre you free?\r\n";
	static const char list[] = "From: v@test.example\r\n"
	    "To: u@test.example\r\nList-Id: <l.test.example>\r\n\r\nx\r\n";
	static const char catchall[] = "From: v@test.example\r\n"
	    "To: nobody@test.example\r\n\r\nx\r\n";
	struct fx *fx = *state;
	struct mail_vacation v;
	char *t;

	memset(&v, 0, sizeof(v));
	v.enabled = true;
	v.html = "<p>Away until <i>Monday</i>.</p>";
	v.period = 3600;
	fx->sent = 0;
	/* disabled: nothing */
	deliver(fx, "QV1", "v@test.example", "u@test.example", msg);
	assert_int_equal(fx->sent, 0);
	assert_int_equal(mail_vacation_put(fx->st->mail, fx->u, &v, NULL,
	    &fx->err), 0);
	deliver(fx, "QV2", "v@test.example", "u@test.example", msg);
	assert_int_equal(fx->sent, 1);
	assert_string_equal(fx->sender, "");
	assert_string_equal(fx->rcpt, "v@test.example");
	assert_field(&fx->last, "From", " \"U Ser\" <u@test.example>");
	assert_field(&fx->last, "To", " <v@test.example>");
	assert_field(&fx->last, "Subject", " Auto: lunch?");
	assert_field(&fx->last, "In-Reply-To", " <lunch@test.example>");
	assert_field(&fx->last, "Auto-Submitted", " auto-replied");
	t = field(&fx->last, "Message-ID");
	assert_non_null(t);
	assert_non_null(strstr(t, "@test.example>"));
	free(t);
	/* the text part was made from the html */
	t = text_of(&fx->last, "plain");
	assert_non_null(t);
	assert_non_null(strstr(t, "Away until Monday."));
	free(t);
	/* the same delivery retried (its 'P' key found): no second reply */
	buf_reset(&fx->last);
	deliver(fx, "QV2", "v@test.example", "u@test.example", msg);
	/* a new message within the period: none either */
	deliver(fx, "QV3", "v@test.example", "u@test.example", msg);
	assert_int_equal(fx->sent, 1);
	/* a list message from another sender, a catch-all address: none */
	deliver(fx, "QV4", "w@test.example", "u@test.example", list);
	deliver(fx, "QV5", "w@test.example", "nobody@test.example",
	    catchall);
	assert_int_equal(fx->sent, 1);
	/* a send that fails gives the claim back: the next one replies */
	fx->fail_send = true;
	deliver(fx, "QV6", "x@test.example", "u@test.example", msg);
	assert_int_equal(fx->sent, 1);
	fx->fail_send = false;
	deliver(fx, "QV7", "x@test.example", "u@test.example", msg);
	assert_int_equal(fx->sent, 2);
	assert_string_equal(fx->rcpt, "x@test.example");
	/* a window in the future: nothing */
	v.has_from = true;
	v.from = (int64_t)time(NULL) + 3600;
	assert_int_equal(mail_vacation_put(fx->st->mail, fx->u, &v, NULL,
	    &fx->err), 0);
	deliver(fx, "QV8", "y@test.example", "u@test.example", msg);
	assert_int_equal(fx->sent, 2);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_decide_budget),
		cmocka_unit_test(test_active),
		cmocka_unit_test(test_build_headers),
		cmocka_unit_test(test_build_threading),
		cmocka_unit_test(test_build_encoding),
		cmocka_unit_test(test_build_bad_subject),
	};
	const struct CMUnitTest stored[] = {
		cmocka_unit_test(test_store),
		cmocka_unit_test(test_hook),
	};
	int rc = cmocka_run_group_tests(pure, NULL, NULL);

	return rc | cmocka_run_group_tests(stored, group_setup, group_teardown);
}
