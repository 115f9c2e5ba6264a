/*
 * imap_thread_test.c - SORT and THREAD (imap-jmap/imap_sortthread.h)
 * over mailboxes whose messages go through store/mime.h's mime_parse,
 * with keys parsed by the real command parser.  Expectations are worked
 * out by hand (the comments say how).
 *
 * What is proved: RFC 5256 2.1 base subjects with the reply/forward
 * verdict ("Re: [list] Fwd:" chains, blobs, "(fwd)", "[fwd: ...]"), and
 * that they agree with the store's; the i;ascii-casemap order (upper
 * case, so "_" sorts after letters); every SORT key with REVERSE, multi
 * keys and MSN ties, Date in UTC with the internal date when there is
 * none, SORT=DISPLAY's name-or-address; RFC 5256's own THREAD example
 * "(2)(3 6 (4 23)(44 7 96))" rebuilt; ORDEREDSUBJECT; REFERENCES' dummy
 * pruning (kept under the root with two children, promoted with one,
 * spliced below), subject gathering in all four merge cases, duplicate
 * Message-IDs, reference loops and self-references (no loop, every
 * message once), step 1.B re-parenting, In-Reply-To only without
 * References; 20,000-deep threads both ways (no recursion); the empty
 * result; UIDs; and load failures.
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
#include "common/subject.h"
#include "imap-jmap/imap_parse.h"
#include "imap-jmap/imap_search_eval.h"
#include "imap-jmap/imap_sortthread.h"
#include "store/mail.h"
#include "store/mime.h"

/* ---- a mailbox of parsed messages ---- */

struct mbx {
	size_t n, cap;
	struct buf *raw;
	struct mime_info **info;
	struct imap_search_msg *msgs;
	int64_t *internal;
	uint64_t *size;
	struct imap_search_env env;
	unsigned loads, releases;
	bool fail;
};

static int
mbx_load(void *ctx, struct imap_search_msg *m, unsigned need, struct buf *err)
{
	struct mbx *b = ctx;
	size_t i = (size_t)(m - b->msgs);

	assert_true(i < b->n);
	b->loads++;
	if (b->fail) {
		buf_add_str(err, "load failed on purpose");
		return -1;
	}
	if ((need & IMAP_SEARCH_NEED_HDR) != 0)
		m->hdr = &b->info[i]->hdr;
	if ((need & IMAP_SEARCH_NEED_EMAIL) != 0) {
		m->internal_date = b->internal[i];
		m->size = b->size[i];
	}
	return 0;
}

static void
mbx_release(void *ctx, struct imap_search_msg *m)
{
	struct mbx *b = ctx;

	b->releases++;
	m->hdr = NULL;
	m->internal_date = 0;
	m->size = 0;
}

/* mbx_add - one message: its header lines (CRLF added), a body */
static void
mbx_add(struct mbx *b, const char *hdr, int64_t internal, uint64_t size)
{
	struct buf err = BUF_INIT(0);
	size_t i = b->n++;
	const char *p;

	if (b->n > b->cap) {
		b->cap = b->cap == 0 ? 16 : 2 * b->cap;
		b->raw = realloc(b->raw, b->cap * sizeof(*b->raw));
		b->info = realloc(b->info, b->cap * sizeof(*b->info));
		b->msgs = realloc(b->msgs, b->cap * sizeof(*b->msgs));
		b->internal = realloc(b->internal,
		    b->cap * sizeof(*b->internal));
		b->size = realloc(b->size, b->cap * sizeof(*b->size));
	}
	buf_init(&b->raw[i], 0);
	for (p = hdr; *p != '\0';) {
		size_t l = strcspn(p, "\n");

		buf_add(&b->raw[i], p, l);
		buf_add_str(&b->raw[i], "\r\n");
		p += l + (p[l] == '\n');
	}
	buf_add_str(&b->raw[i], "\r\nbody\r\n");
	if (mime_parse(b->raw[i].data, b->raw[i].len, NULL, &b->info[i],
	    &err) < 0)
		fail_msg("mime_parse: %s", buf_cstr(&err));
	memset(&b->msgs[i], 0, sizeof(b->msgs[i]));
	b->msgs[i].uid = (uint32_t)(10 * (i + 1));
	b->msgs[i].email = (uint32_t)(i + 1);
	b->msgs[i].keywords = "";
	b->msgs[i].modseq = 1000 + i;
	b->internal[i] = internal;
	b->size[i] = size;
	buf_free(&err);
}

static void
mbx_env(struct mbx *b)
{
	b->env = (struct imap_search_env){ .msgs = b->msgs, .n = b->n,
	    .now = 1800000000, .load = mbx_load, .release = mbx_release,
	    .ctx = b };
}

static void
mbx_free(struct mbx *b)
{
	for (size_t i = 0; i < b->n; i++) {
		mime_info_free(&b->info[i]);
		buf_free(&b->raw[i]);
	}
	free(b->raw);
	free(b->info);
	free(b->msgs);
	free(b->internal);
	free(b->size);
	memset(b, 0, sizeof(*b));
}

static struct imap_cmd *
parse_cmd(const char *line)
{
	struct imap_limits lim;
	struct imap_parser *p;
	struct imap_cmd *cmd = NULL;
	struct imap_parse_error perr;
	struct buf in = BUF_INIT(0);
	size_t used;

	imap_limits_default(&lim, true);
	p = imap_parser_new(&lim);
	buf_addf(&in, "%s\r\n", line);
	if (imap_parser_feed(p, in.data, in.len, &used, &cmd, &perr) !=
	    IMAP_PARSE_CMD)
		fail_msg("%s: does not parse", line);
	imap_parser_free(&p);
	buf_free(&in);
	return cmd;
}

/* sort - "A1 [UID ]SORT <args>" answered as "* SORT ...\r\n" */
static const char *
sort(struct mbx *b, const char *args, bool uid)
{
	static struct buf out;
	struct buf line = BUF_INIT(0), err = BUF_INIT(0);
	struct imap_cmd *cmd;
	struct imap_search_result res;

	buf_addf(&line, "A1 %sSORT %s", uid ? "UID " : "", args);
	cmd = parse_cmd(buf_cstr(&line));
	mbx_env(b);
	assert_int_equal(imap_search_eval(&cmd->u.search, &b->env, &res,
	    &err), IMAP_SEARCH_OK);
	buf_reset(&out);
	if (imap_sort_run(&b->env, cmd->u.search.crit, cmd->u.search.ncrit,
	    &res, &err) < 0) {
		buf_addf(&out, "ERR %s", buf_cstr(&err));
	} else {
		assert_true(res.sorted);
		for (size_t i = 0; i < res.n; i++) {
			/* the arrays moved together */
			assert_int_equal(res.seq[i], res.idx[i] + 1);
			assert_int_equal(res.uid[i], b->msgs[res.idx[i]].uid);
			if (res.has_modseq)
				assert_int_equal(res.modseq[i],
				    b->msgs[res.idx[i]].modseq);
		}
		imap_search_write(&out, &res, uid);
	}
	for (size_t i = 0; i < b->n; i++)
		assert_int_equal(b->msgs[i].loaded, 0);
	imap_search_result_free(&res);
	imap_cmd_free(&cmd);
	buf_free(&line);
	buf_free(&err);
	return buf_cstr(&out);
}

static int
cmp_ul(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a;
	unsigned long y = *(const unsigned long *)b;

	return x < y ? -1 : x > y;
}

/* once - every number of the answer appears once, and n of them */
static void
once(const char *answer, size_t n)
{
	size_t count = 0, cap = 0;
	unsigned long *seen = NULL;

	for (const char *p = answer; *p != '\0';) {
		if (*p >= '0' && *p <= '9') {
			char *e;

			if (count == cap) {
				cap = cap == 0 ? 64 : cap * 2;
				seen = realloc(seen, cap * sizeof(*seen));
			}
			seen[count++] = strtoul(p, &e, 10);
			p = e;
		} else {
			p++;
		}
	}
	if (count > 1)
		qsort(seen, count, sizeof(*seen), cmp_ul);
	for (size_t i = 1; i < count; i++)
		assert_true(seen[i - 1] != seen[i]);
	free(seen);
	assert_int_equal(count, n);
}

/* thread - "A1 [UID ]THREAD <args>" answered as "* THREAD ...\r\n" */
static const char *
thread(struct mbx *b, const char *args, bool uid)
{
	static struct buf out;
	struct buf line = BUF_INIT(0), err = BUF_INIT(0);
	struct imap_cmd *cmd;
	struct imap_search_result res;
	struct imap_thread *t;
	int depth = 0;

	buf_addf(&line, "A1 %sTHREAD %s", uid ? "UID " : "", args);
	cmd = parse_cmd(buf_cstr(&line));
	mbx_env(b);
	assert_int_equal(imap_search_eval(&cmd->u.search, &b->env, &res,
	    &err), IMAP_SEARCH_OK);
	buf_reset(&out);
	if (imap_thread_run(&b->env, cmd->u.search.alg, &res, &t, &err) < 0) {
		assert_null(t);
		buf_addf(&out, "ERR %s", buf_cstr(&err));
	} else {
		imap_thread_write(&out, t, uid);
		imap_thread_free(&t);
		assert_null(t);
		once(buf_cstr(&out), res.n);
		/* balanced, and no "()" */
		for (size_t i = 0; i < out.len; i++) {
			depth += out.data[i] == '(';
			depth -= out.data[i] == ')';
			assert_true(depth >= 0);
			assert_false(out.data[i] == '(' && i + 1 < out.len &&
			    out.data[i + 1] == ')');
		}
		assert_int_equal(depth, 0);
	}
	for (size_t i = 0; i < b->n; i++)
		assert_int_equal(b->msgs[i].loaded, 0);
	imap_search_result_free(&res);
	imap_cmd_free(&cmd);
	buf_free(&line);
	buf_free(&err);
	return buf_cstr(&out);
}

/* ---- base subject and collation ---- */

static const struct {
	const char *in, *want;
	bool refwd;
} subjects[] = {
	{ "hello", "hello", false },
	{ "Re: hello", "hello", true },
	{ "RE: Re: re:hello", "hello", true },
	{ "Re: [list] Fwd: hello", "hello", true },
	{ "[list] Re: [other] Fwd:  hello  world ", "hello world", true },
	{ "[list] hello", "hello", false },	/* a blob alone: no reply */
	{ "Re[2]: hi", "hi", true },
	{ "Re [2] : hi", "hi", true },
	{ "Fw: hi", "hi", true },
	{ "hello (fwd)", "hello", true },
	{ "hello (FWD) (fwd)  ", "hello", true },
	{ "[fwd: hello]", "hello", true },
	{ "[Fwd: Re: [list] hello (fwd)]", "hello", true },
	{ "[x]", "[x]", false },	/* the last blob is the subject */
	{ "[x] [y]", "[y]", false },
	{ "  Re:   ", "", true },
	{ "", "", false },
	{ "Réponse: x", "Réponse: x", false },
	{ "Ref: x", "Ref: x", false },
	{ "Re:x\tand\t\ty", "x and y", true },
	{ "fwd hello", "fwd hello", false },
};

static void
test_base_subject(void **state)
{
	struct buf out = BUF_INIT(0), msg = BUF_INIT(0), err = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(subjects); i++) {
		struct mime_info *info;
		bool refwd;

		buf_reset(&out);
		subject_base(subjects[i].in, strlen(subjects[i].in),
		    &out, &refwd);
		if (strcmp(buf_cstr(&out), subjects[i].want) != 0 ||
		    refwd != subjects[i].refwd)
			fail_msg("\"%s\": \"%s\" %d", subjects[i].in,
			    buf_cstr(&out), refwd);
		/* the store computes the same */
		buf_reset(&msg);
		buf_addf(&msg, "Subject: %s\r\n\r\nx\r\n", subjects[i].in);
		assert_int_equal(mime_parse(msg.data, msg.len, NULL, &info,
		    &err), 0);
		if (subjects[i].in[0] != '\0')
			assert_string_equal(info->hdr.base_subject,
			    subjects[i].want);
		mime_info_free(&info);
	}
	buf_free(&out);
	buf_free(&msg);
	buf_free(&err);
}

static void
test_casemap(void **state)
{
	(void)state;
	assert_true(imap_sort_casemap_cmp("a", 1, "B", 1) < 0);
	assert_true(imap_sort_casemap_cmp("abc", 3, "ABC", 3) == 0);
	assert_true(imap_sort_casemap_cmp("ab", 2, "abc", 3) < 0);
	assert_true(imap_sort_casemap_cmp("", 0, "a", 1) < 0);
	/* upper case mapping: '_' (0x5f) is after 'Z', 'z' maps to 'Z' */
	assert_true(imap_sort_casemap_cmp("_", 1, "z", 1) > 0);
	assert_true(imap_sort_casemap_cmp("\xc3\xa9", 2, "z", 1) > 0);
	assert_true(imap_sort_casemap_cmp("\xc3\xa9", 2, "\xc3\x89", 2) != 0);
}

/* ---- SORT ---- */

#define T0 1704067200	/* 2024-01-01 00:00Z */
#define H 3600

static void
sort_box(struct mbx *b)
{
	memset(b, 0, sizeof(*b));
	/* MSN 1: Date 01-03 10:00Z */
	mbx_add(b, "From: \"Zed\" <zed@x.org>\nTo: carl@x\n"
	    "Subject: Re: beta\nDate: Wed, 3 Jan 2024 10:00:00 +0000",
	    T0 + 9 * 24 * H, 300);
	/* 2: Date 10:00 +0500 is 05:00Z on the 2nd */
	mbx_add(b, "From: \"adam\" <Bob@x.org>\nTo: \"Yvonne\" <amy@x>\n"
	    "Subject: alpha\nDate: Tue, 2 Jan 2024 10:00:00 +0500",
	    T0 + 7 * 24 * H, 100);
	/* 3: no Date: the internal date, 06:00Z on the 2nd */
	mbx_add(b, "From: <_under@x.org>\nTo: bert@x\nCc: \"Cc1\" <cc@x>\n"
	    "Subject: [list] Alpha",
	    T0 + 24 * H + 6 * H, 200);
	/* 4: 06:00 -0100 is 07:00Z on the 2nd */
	mbx_add(b, "From: \"Mary\" <Mary@x.org>\n"
	    "Subject: Fwd: Beta (fwd)\nDate: Tue, 2 Jan 2024 06:00:00 -0100",
	    T0 + 8 * 24 * H, 100);
	/* 5: no subject; a display name that is empty */
	mbx_add(b, "From: =?UTF-8?Q?=C3=89mile?= <emile@x.org>\n"
	    "To: \"\" <dan@x>\nDate: Mon, 1 Jan 2024 00:00:00 +0000",
	    T0 + 7 * 24 * H, 500);
	b->msgs[1].flags = b->msgs[3].flags = MAIL_F_SEEN;
}

static const struct {
	const char *args, *want;
} sorts[] = {
	/* base subjects: BETA, ALPHA, ALPHA, BETA, "" */
	{ "(SUBJECT) UTF-8 ALL", "5 2 3 1 4" },
	{ "(REVERSE SUBJECT) UTF-8 ALL", "1 4 2 3 5" },
	/* dates (UTC): 1 01-03 10:00, 2 01-02 05:00, 3 01-02 06:00
	 * (internal), 4 01-02 07:00, 5 01-01 00:00 */
	{ "(DATE) UTF-8 ALL", "5 2 3 4 1" },
	{ "(REVERSE DATE) UTF-8 ALL", "1 4 3 2 5" },
	{ "(SUBJECT REVERSE DATE) UTF-8 ALL", "5 3 2 1 4" },
	/* internal: 3 01-02, 2 01-08, 5 01-08 (tie: MSN), 4 01-09, 1 01-10 */
	{ "(ARRIVAL) UTF-8 ALL", "3 2 5 4 1" },
	{ "(REVERSE ARRIVAL) UTF-8 ALL", "1 4 2 5 3" },
	/* sizes 300 100 200 100 500; ties stay in MSN order */
	{ "(SIZE) UTF-8 ALL", "2 4 3 1 5" },
	{ "(REVERSE SIZE) UTF-8 ALL", "5 1 3 2 4" },
	/* local parts ZED BOB _UNDER MARY EMILE: "_" after the letters */
	{ "(FROM) UTF-8 ALL", "2 5 4 1 3" },
	/* display: ZED ADAM _UNDER@X.ORG MARY \xc3\x89MILE */
	{ "(DISPLAYFROM) UTF-8 ALL", "2 4 1 3 5" },
	/* to: CARL AMY BERT "" DAN */
	{ "(TO) UTF-8 ALL", "4 2 3 1 5" },
	/* display to: CARL@X YVONNE BERT@X "" DAN@X (empty name) */
	{ "(DISPLAYTO) UTF-8 ALL", "4 3 1 5 2" },
	{ "(CC) UTF-8 ALL", "1 2 4 5 3" },
	{ "(CC REVERSE SIZE) UTF-8 ALL", "5 1 2 4 3" },
	{ "(SIZE SUBJECT) UTF-8 ALL", "2 4 3 1 5" },
	{ "(DATE) UTF-8 UNSEEN", "5 3 1" },
	{ "(SUBJECT) UTF-8 SUBJECT nothing", "" },
	{ "(SIZE) US-ASCII MODSEQ 1002", "4 3 5" },
};

static void
test_sort(void **state)
{
	struct mbx b;
	int bad = 0;

	(void)state;
	sort_box(&b);
	for (size_t i = 0; i < ARRAY_SIZE(sorts); i++) {
		struct buf want = BUF_INIT(0);
		const char *got = sort(&b, sorts[i].args, false);

		buf_addf(&want, "* SORT%s%s%s\r\n", sorts[i].want[0] ? " " : "",
		    sorts[i].want, strstr(sorts[i].args, "MODSEQ") != NULL ?
		    " (MODSEQ 1004)" : "");
		if (strcmp(got, buf_cstr(&want)) != 0) {
			print_error("SORT %s: want %s got %s", sorts[i].args,
			    buf_cstr(&want), got);
			bad++;
		}
		buf_free(&want);
	}
	assert_int_equal(bad, 0);
	assert_string_equal(sort(&b, "(SIZE) UTF-8 ALL", true),
	    "* SORT 20 40 30 10 50\r\n");
	/* each message loaded once per SORT, all released */
	b.loads = b.releases = 0;
	(void)sort(&b, "(SUBJECT DATE SIZE) UTF-8 ALL", false);
	assert_int_equal(b.releases, 5);
	b.fail = true;
	assert_string_equal(sort(&b, "(SUBJECT) UTF-8 ALL", false),
	    "ERR load failed on purpose");
	mbx_free(&b);
}

/* ---- THREAD ---- */

/*
 * tadd - a message of header lines: Message-ID, In-Reply-To, References
 * (ids without "@t" and brackets, space separated; NULL: no field),
 * Subject, Date's minute (-1: no Date)
 */
static void
tadd(struct mbx *b, const char *id, const char *irt, const char *refs,
    const char *subject, int minute)
{
	struct buf h = BUF_INIT(0);

	if (id != NULL)
		buf_addf(&h, "Message-ID: <%s@t>\n", id);
	if (irt != NULL)
		buf_addf(&h, "In-Reply-To: <%s@t>\n", irt);
	if (refs != NULL) {
		buf_add_str(&h, "References:");
		for (const char *p = refs; *p != '\0';) {
			size_t l = strcspn(p, " ");

			buf_addf(&h, " <%.*s@t>", (int)l, p);
			p += l + (p[l] == ' ');
		}
		buf_add_str(&h, "\n");
	}
	if (subject != NULL)
		buf_addf(&h, "Subject: %s\n", subject);
	if (minute >= 0)
		buf_addf(&h, "Date: Mon, 1 Jan 2024 %02d:%02d:00 +0000",
		    minute / 60 % 24, minute % 60);
	else
		buf_add_str(&h, "X-No-Date: yes");
	mbx_add(b, buf_cstr(&h), T0 + 100 * 24 * H, 100);
	buf_free(&h);
}

/*
 * RFC 5256 4's example, "(2)(3 6 (4 23)(44 7 96))": 96 messages, the
 * search picks the eight; 3 is the root, 6 answers 3, 4 and 44 answer
 * 6, 23 answers 4, 7 answers 44 (and comes before it), 96 answers 7.
 * Dates follow the MSNs, so 4 sorts before 44.
 */
static void
test_rfc_example(void **state)
{
	struct mbx b;

	(void)state;
	memset(&b, 0, sizeof(b));
	for (int i = 1; i <= 96; i++) {
		char id[16], subj[32];

		snprintf(id, sizeof(id), "a%d", i);
		snprintf(subj, sizeof(subj), "filler %d", i);
		switch (i) {
		case 2:
			tadd(&b, id, NULL, NULL, "other", i);
			break;
		case 3:
			tadd(&b, id, NULL, NULL, "topic", i);
			break;
		case 6:
			tadd(&b, id, "a3", "a3", "Re: topic", i);
			break;
		case 4:
			tadd(&b, id, "a6", "a3 a6", "Re: topic", i);
			break;
		case 23:
			tadd(&b, id, "a4", "a3 a6 a4", "Re: topic", i);
			break;
		case 44:
			tadd(&b, id, "a6", "a3 a6", "Re: topic", i);
			break;
		case 7:
			tadd(&b, id, "a44", "a3 a6 a44", "Re: topic", i);
			break;
		case 96:
			tadd(&b, id, "a7", "a3 a6 a44 a7", "Re: topic", i);
			break;
		default:
			tadd(&b, id, NULL, NULL, subj, i);
			break;
		}
	}
	assert_string_equal(thread(&b, "REFERENCES UTF-8 2,3,4,6,7,23,44,96",
	    false), "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n");
	assert_string_equal(thread(&b, "REFERENCES UTF-8 2,3,4,6,7,23,44,96",
	    true), "* THREAD (20)(30 60 (40 230)(440 70 960))\r\n");
	/* without 6 the replies hang from a dummy under 3: spliced */
	assert_string_equal(thread(&b, "REFERENCES UTF-8 3,4,7,23,44,96",
	    false), "* THREAD (3 (4 23)(44 7 96))\r\n");
	/* an empty result */
	assert_string_equal(thread(&b, "REFERENCES UTF-8 SUBJECT nothing",
	    false), "* THREAD\r\n");
	assert_string_equal(thread(&b, "ORDEREDSUBJECT UTF-8 SUBJECT nothing",
	    false), "* THREAD\r\n");
	mbx_free(&b);
}

static void
test_orderedsubject(void **state)
{
	struct mbx b;

	(void)state;
	memset(&b, 0, sizeof(b));
	tadd(&b, "o1", NULL, NULL, "b", 5);
	tadd(&b, "o2", NULL, NULL, "Re: a", 2);
	tadd(&b, "o3", NULL, NULL, "a", 3);
	tadd(&b, "o4", NULL, NULL, "B", 1);
	tadd(&b, "o5", NULL, NULL, "c", 4);
	tadd(&b, "o6", "o3", "o3", "[x] a", 6);
	tadd(&b, "o7", NULL, NULL, NULL, 7);
	tadd(&b, "o8", NULL, NULL, "", 0);
	/* A: 2 3 6; B: 4 1; C: 5; "": 8 7; by the first's date: 8 (0),
	 * 4 (1), 2 (2), 5 (4) */
	assert_string_equal(thread(&b, "ORDEREDSUBJECT UTF-8 ALL", false),
	    "* THREAD (8 7)(4 1)(2 (3)(6))(5)\r\n");
	assert_string_equal(thread(&b, "ORDEREDSUBJECT UTF-8 1:6", false),
	    "* THREAD (4 1)(2 (3)(6))(5)\r\n");
	mbx_free(&b);
}

struct tcase {
	const char *what;
	struct {
		const char *id, *irt, *refs, *subject;
		int minute;
	} m[6];
	const char *want;
};

static const struct tcase refcases[] = {
	{ "a missing parent of two: a dummy kept under the root",
	  { { "r1", NULL, "gone", "Re: x", 1 },
	    { "r2", NULL, "gone", "Re: y", 2 } },
	  "((1)(2))" },
	{ "a missing parent of one: promoted",
	  { { "r1", NULL, "gone", "Re: x", 1 } },
	  "(1)" },
	{ "dummies below a dummy are spliced",
	  { { "r1", NULL, "p q", "one", 1 },
	    { "r2", NULL, "p r", "two", 2 } },
	  "((1)(2))" },
	{ "a reply's subject joins the original's thread",
	  { { "s1", NULL, NULL, "lunch", 1 },
	    { "s2", NULL, NULL, "Re: lunch", 2 } },
	  "(1 2)" },
	{ "the original comes second: still the parent",
	  { { "s1", NULL, NULL, "Re: lunch", 1 },
	    { "s2", NULL, NULL, "lunch", 2 } },
	  "(2 1)" },
	{ "two originals: siblings under a dummy (case-insensitive)",
	  { { "s1", NULL, NULL, "Lunch", 1 },
	    { "s2", NULL, NULL, "lunch", 2 } },
	  "((1)(2))" },
	{ "two replies: siblings under a dummy",
	  { { "s1", NULL, NULL, "Re: lunch", 1 },
	    { "s2", NULL, NULL, "Fwd: lunch", 2 } },
	  "((1)(2))" },
	{ "a message joins a dummy of the same subject",
	  { { "s1", NULL, "m", "Re: lunch", 1 },
	    { "s2", NULL, "m", "Re: lunch", 2 },
	    { "s3", NULL, NULL, "lunch", 3 } },
	  "((1)(2)(3))" },
	{ "two dummies of one subject merge",
	  { { "s1", NULL, "m1", "Re: x", 1 },
	    { "s2", NULL, "m1", "Re: x", 2 },
	    { "s3", NULL, "m2", "Re: x", 3 },
	    { "s4", NULL, "m2", "Re: x", 4 } },
	  "((1)(2)(3)(4))" },
	{ "empty subjects are not gathered",
	  { { "e1", NULL, NULL, "", 1 },
	    { "e2", NULL, NULL, "Re:", 2 } },
	  "(1)(2)" },
	{ "a duplicate Message-ID: the first keeps it",
	  { { "a", NULL, NULL, "one", 1 },
	    { "a", NULL, NULL, "two", 2 },
	    { "c", "a", NULL, "three", 3 } },
	  "(1 3)(2)" },
	{ "a loop of two",
	  { { "a", NULL, "b", "one", 1 },
	    { "b", NULL, "a", "two", 2 } },
	  "(2 1)" },
	{ "a loop of three",
	  { { "a", NULL, "c b", "one", 1 },
	    { "b", NULL, "a c", "two", 2 },
	    { "c", NULL, "b a", "three", 3 } },
	  "(3 2 1)" },
	{ "a message referencing itself",
	  { { "a", "a", "a", "one", 1 },
	    { "b", "b", NULL, "two", 2 } },
	  "(1)(2)" },
	{ "a duplicate referencing the id it shares: the first holder",
	  { { "a", NULL, NULL, "one", 1 },
	    { "a", NULL, "a", "two", 2 } },
	  "(1 2)" },
	{ "only itself in References: In-Reply-To",
	  { { "p", NULL, NULL, "one", 1 },
	    { "a", "p", "a", "two", 2 } },
	  "(1 2)" },
	{ "itself in the middle of its references",
	  { { "p", NULL, NULL, "one", 1 },
	    { "a", NULL, "p a", "two", 2 } },
	  "(1 2)" },
	{ "step 1.B breaks the link a truncated References made",
	  { { "x1", NULL, "r1 m2", "one", 1 },
	    { "x2", NULL, "r1 m3", "two", 2 },
	    { "m2", NULL, "m9", "three", 3 } },
	  "(2)(3 1)" },
	{ "In-Reply-To when there are no References",
	  { { "a", NULL, NULL, "one", 1 },
	    { "b", "a", NULL, "two", 2 },
	    { "c", "a", "zz", "three", 3 } },
	  "(1 2)(3)" },
	{ "a reply before its parent",
	  { { "b", "a", "a", "two", 2 },
	    { "a", NULL, NULL, "one", 1 } },
	  "(2 1)" },
	{ "siblings and threads by date, not MSN; no Date: internal",
	  { { "c", "a", NULL, "one", 30 },
	    { "b", "a", NULL, "one", 20 },
	    { "a", NULL, NULL, "one", 10 },
	    { "z", NULL, NULL, "zeta", 5 },
	    { "y", NULL, NULL, "eta", -1 } },
	  "(4)(3 (2)(1))(5)" },
	{ "no ids at all",
	  { { NULL, NULL, NULL, "one", 2 },
	    { NULL, NULL, NULL, "two", 1 } },
	  "(2)(1)" },
};

static void
test_references(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(refcases); i++) {
		const struct tcase *c = &refcases[i];
		struct buf want = BUF_INIT(0);
		struct mbx b;
		const char *got;

		memset(&b, 0, sizeof(b));
		for (size_t k = 0; k < 6 && c->m[k].subject != NULL; k++)
			tadd(&b, c->m[k].id, c->m[k].irt, c->m[k].refs,
			    c->m[k].subject, c->m[k].minute);
		buf_addf(&want, "* THREAD %s\r\n", c->want);
		got = thread(&b, "REFERENCES UTF-8 ALL", false);
		if (strcmp(got, buf_cstr(&want)) != 0) {
			print_error("%s: want %s got %s", c->what,
			    buf_cstr(&want), got);
			bad++;
		}
		buf_free(&want);
		mbx_free(&b);
	}
	assert_int_equal(bad, 0);
}

/* deep threads: no recursion, no quadratic walk */
static void
test_deep(void **state)
{
	enum { N = 20000 };
	struct mbx b;
	struct buf want = BUF_INIT(0);
	char id[16], parent[16];

	(void)state;
	/* each answers the one before it */
	memset(&b, 0, sizeof(b));
	for (int i = 1; i <= N; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		snprintf(parent, sizeof(parent), "d%d", i - 1);
		tadd(&b, id, i > 1 ? parent : NULL, NULL,
		    i > 1 ? "Re: deep" : "deep", i);
	}
	buf_add_str(&want, "* THREAD (");
	for (int i = 1; i <= N; i++)
		buf_addf(&want, "%s%d", i > 1 ? " " : "", i);
	buf_add_str(&want, ")\r\n");
	assert_string_equal(thread(&b, "REFERENCES UTF-8 ALL", false),
	    buf_cstr(&want));
	mbx_free(&b);

	/* each is answered by the one before it: parents come last */
	memset(&b, 0, sizeof(b));
	for (int i = 1; i <= N; i++) {
		snprintf(id, sizeof(id), "d%d", i);
		snprintf(parent, sizeof(parent), "d%d", i + 1);
		tadd(&b, id, i < N ? parent : NULL, NULL, "deep", N - i);
	}
	buf_reset(&want);
	buf_add_str(&want, "* THREAD (");
	for (int i = N; i >= 1; i--)
		buf_addf(&want, "%d%s", i, i > 1 ? " " : "");
	buf_add_str(&want, ")\r\n");
	assert_string_equal(thread(&b, "REFERENCES UTF-8 ALL", false),
	    buf_cstr(&want));
	mbx_free(&b);

	/* full References chains, cut at IMAP_THREAD_REFS_MAX */
	memset(&b, 0, sizeof(b));
	{
		struct buf refs = BUF_INIT(0);

		for (int i = 1; i <= 300; i++) {
			snprintf(id, sizeof(id), "f%d", i);
			tadd(&b, id, NULL, refs.len > 0 ? buf_cstr(&refs) :
			    NULL, "full", i);
			buf_addf(&refs, "%s%s", refs.len > 0 ? " " : "", id);
		}
		buf_free(&refs);
	}
	buf_reset(&want);
	buf_add_str(&want, "* THREAD (");
	for (int i = 1; i <= 300; i++)
		buf_addf(&want, "%s%d", i > 1 ? " " : "", i);
	buf_add_str(&want, ")\r\n");
	assert_string_equal(thread(&b, "REFERENCES UTF-8 ALL", false),
	    buf_cstr(&want));
	assert_string_equal(thread(&b, "ORDEREDSUBJECT UTF-8 1:3", false),
	    "* THREAD (1 (2)(3))\r\n");
	mbx_free(&b);

	/*
	 * References built to force long loop checks: a chain of 3000, then
	 * 1000 messages whose 100 references alternate the chain's root and
	 * its leaf (each leaf -> root link is a loop found 3000 steps up).
	 * The walk budget bounds the work; the answer is unchanged: each
	 * answers the leaf.
	 */
	memset(&b, 0, sizeof(b));
	for (int i = 1; i <= 3000; i++) {
		snprintf(id, sizeof(id), "c%d", i);
		snprintf(parent, sizeof(parent), "c%d", i - 1);
		tadd(&b, id, i > 1 ? parent : NULL, NULL, "chain", i);
	}
	{
		struct buf refs = BUF_INIT(0);

		for (int k = 0; k < 50; k++)
			buf_addf(&refs, "%sc1 c3000", k > 0 ? " " : "");
		for (int i = 1; i <= 1000; i++) {
			snprintf(id, sizeof(id), "x%d", i);
			tadd(&b, id, NULL, buf_cstr(&refs), "Re: chain",
			    3000 + i);
		}
		buf_free(&refs);
	}
	buf_reset(&want);
	buf_add_str(&want, "* THREAD (");
	for (int i = 1; i <= 3000; i++)
		buf_addf(&want, "%s%d", i > 1 ? " " : "", i);
	buf_add_str(&want, " ");
	for (int i = 3001; i <= 4000; i++)
		buf_addf(&want, "(%d)", i);
	buf_add_str(&want, ")\r\n");
	assert_string_equal(thread(&b, "REFERENCES UTF-8 ALL", false),
	    buf_cstr(&want));
	mbx_free(&b);
	buf_free(&want);
}

static void
test_thread_fail(void **state)
{
	struct mbx b;

	(void)state;
	memset(&b, 0, sizeof(b));
	tadd(&b, "a", NULL, NULL, "x", 1);
	tadd(&b, "b", "a", NULL, "x", 2);
	b.fail = true;
	assert_string_equal(thread(&b, "REFERENCES UTF-8 ALL", false),
	    "ERR load failed on purpose");
	b.fail = false;
	b.releases = 0;
	assert_string_equal(thread(&b, "REFERENCES UTF-8 ALL", false),
	    "* THREAD (1 2)\r\n");
	assert_int_equal(b.releases, 2);
	mbx_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_casemap),
		cmocka_unit_test(test_sort),
		cmocka_unit_test(test_rfc_example),
		cmocka_unit_test(test_orderedsubject),
		cmocka_unit_test(test_references),
		cmocka_unit_test(test_deep),
		cmocka_unit_test(test_thread_fail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
