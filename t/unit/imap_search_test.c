/*
 * imap_search_test.c - SEARCH evaluation (imap-jmap/imap_search_eval.h)
 * over a six-message mailbox parsed by store/mime.h, with the keys parsed
 * by the real command parser, and a real full-text index (SQLite) for the
 * index paths.  Every expectation below was worked out by hand from the
 * fixture:
 *
 *   MSN UID  flags         internal date (zone)    Date header (own zone)
 *   1   1    Seen          2024-01-02 04:35Z       2024-01-01 23:30 -0500
 *   2   3    Seen Answered 2024-01-01 23:20Z (+1h) 2024-01-02 00:15 +0100
 *   3   4    Flagged $Fwd  2024-01-03 10:00Z       none
 *   4   7    Deleted Draft 2024-01-05 12:00Z       2024-01-05 12:00 +0000
 *   5   8    (recent)      2024-01-01 23:59:59Z    2023-12-31 23:59:59 -1200
 *   6   9    Seen          2024-01-05 18:00Z       2024-01-05 18:00 +0000
 *
 * What is proved: each key's semantics (flags, keywords as flags,
 * sequence sets with "*" past the end and "$", dates on the date part in
 * the message's own zone across midnight, sizes, WITHIN as a partition,
 * MODSEQ, OBJECTID, SAVEDATE), NOT/OR nesting, case-insensitive
 * substring search with Unicode folding (Straße/STRASSE, MÜLLER), address
 * and header fields, HTML-stripped bodies; the charset answer and BAD
 * strings; the index's two roles (word answers in the index mode, with
 * unindexed messages searched exactly; narrowing by interior words that
 * spares loads yet never loses a match); laziness (what is loaded, and
 * that every load is released); failures of load and of the index; the
 * empty mailbox; the SEARCH/ESEARCH writers (MIN MAX ALL COUNT PARTIAL
 * MODSEQ, SAVE alone) and SEARCHRES's saved set.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/buf.h"
#include "imap-jmap/imap_parse.h"
#include "imap-jmap/imap_search_eval.h"
#include "imap-jmap/imap_sortthread.h"
#include "store/fts.h"
#include "store/kv.h"
#include "store/mail.h"
#include "store/mime.h"
#include "t/unit/unit_tmpdir.h"

#define NMSG 6

static int64_t
ts(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	    .tm_hour = h, .tm_min = mi, .tm_sec = s };

	return (int64_t)timegm(&tm);
}

static const struct {
	const char *raw;
	uint32_t uid, email, thread, flags;
	const char *keywords;
	uint64_t modseq, size;
	int y, mo, d, h, mi, s, tz;
	int64_t save;		/* 0: none */
	bool recent, indexed;
} spec[NMSG] = {
	{ "From: \"Alice Smith\" <alice@example.com>\r\n"
	  "To: bob@example.org\r\n"
	  "Subject: Quarterly invoice report\r\n"
	  "Date: Mon, 1 Jan 2024 23:30:00 -0500\r\n"
	  "Message-ID: <m1@example.com>\r\n"
	  "\r\n"
	  "Please find the invoice attached. Total: 42 EUR.\r\n",
	  1, 101, 1, MAIL_F_SEEN, "$label1", 10, 100,
	  2024, 1, 2, 4, 35, 0, 0, 0, false, true },
	{ "From: Bob <bob@example.org>\r\n"
	  "To: Alice <alice@example.com>\r\n"
	  "Cc: Carol <carol@example.net>\r\n"
	  "Subject: Re: Quarterly invoice report\r\n"
	  "Date: Tue, 2 Jan 2024 00:15:00 +0100\r\n"
	  "Message-ID: <m2@example.org>\r\n"
	  "In-Reply-To: <m1@example.com>\r\n"
	  "\r\n"
	  "Thanks, the invoices look right.\r\n",
	  3, 102, 1, MAIL_F_SEEN | MAIL_F_ANSWERED, "", 20, 200,
	  2024, 1, 1, 23, 20, 0, 60, 0, false, true },
	{ "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\r\n"
	  "To: team@example.de\r\n"
	  "Subject: =?UTF-8?Q?Stra=C3=9Fe_gesperrt?=\r\n"
	  "Message-ID: <m3@example.de>\r\n"
	  "Content-Type: text/plain; charset=utf-8\r\n"
	  "\r\n"
	  "Die STRASSE ist ab Montag gesperrt.\r\n",
	  4, 103, 2, MAIL_F_FLAGGED | MAIL_F_FORWARDED, "project-x", 30, 300,
	  2024, 1, 3, 10, 0, 0, 0, 1704355200 /* 2024-01-04 08:00Z */,
	  false, true },
	{ "From: carol@example.net\r\n"
	  "To: Undisclosed recipients:;\r\n"
	  "Bcc: dave@example.com\r\n"
	  "Subject: [list] Fwd: Re: lunch?\r\n"
	  "Date: Fri, 5 Jan 2024 12:00:00 +0000\r\n"
	  "X-Mailer: FooMail 3.1\r\n"
	  "Content-Type: text/html; charset=us-ascii\r\n"
	  "\r\n"
	  "<p>See you at <b>noon</b></p>\r\n",
	  7, 104, 3, MAIL_F_DELETED | MAIL_F_DRAFT, "", 40, 400,
	  2024, 1, 5, 12, 0, 0, 0, 1704459600 /* 2024-01-05 13:00Z */,
	  false, true },
	{ "From: dave@example.com\r\n"
	  "Date: Sun, 31 Dec 2023 23:59:59 -1200\r\n"
	  "\r\n"
	  "aaa invoicing bbb\r\n",
	  8, 105, 4, 0, "", 50, 500,
	  2024, 1, 1, 23, 59, 59, 0, 0, true, true },
	{ "From: erin@example.com\r\n"
	  "Subject: misc\r\n"
	  "Date: Fri, 5 Jan 2024 18:00:00 +0000\r\n"
	  "\r\n"
	  "an invoice, unindexed\r\n",
	  9, 106, 4, MAIL_F_SEEN, "", 60, 600,
	  2024, 1, 5, 18, 0, 0, 0, 0, false, false },
};

/* 2024-01-06 00:00Z */
#define NOW 1704499200

struct fx {
	struct buf raw[NMSG];
	struct mime_info *info[NMSG];
	struct imap_search_msg full[NMSG];	/* every field */
	struct imap_search_msg msgs[NMSG];	/* what the evaluator sees */
	struct imap_search_env env;
	unsigned loads[4];		/* per NEED bit */
	unsigned load_calls, releases;
	bool fail_load, fail_fts;
	unsigned fts_calls;
	struct kv *kv;
	struct fts *fts;
	uint32_t saved[2];
};

static struct fx *fxp;

static int
fx_load(void *ctx, struct imap_search_msg *m, unsigned need, struct buf *err)
{
	struct fx *fx = ctx;
	const struct imap_search_msg *f = &fx->full[m - fx->msgs];

	assert_true(m >= fx->msgs && m < fx->msgs + NMSG);
	assert_int_equal(need & m->loaded, 0);
	fx->load_calls++;
	if (fx->fail_load) {
		buf_add_str(err, "load failed on purpose");
		return -1;
	}
	for (unsigned b = 0; b < 4; b++)
		if ((need & (1u << b)) != 0)
			fx->loads[b]++;
	if ((need & IMAP_SEARCH_NEED_EMAIL) != 0) {
		m->size = f->size;
		m->internal_date = f->internal_date;
		m->internal_tz = f->internal_tz;
		m->has_save_date = f->has_save_date;
		m->save_date = f->save_date;
		m->thread = f->thread;
	}
	if ((need & IMAP_SEARCH_NEED_HDR) != 0)
		m->hdr = f->hdr;
	if ((need & IMAP_SEARCH_NEED_RAWHDR) != 0) {
		m->raw_hdr = f->raw_hdr;
		m->raw_hdr_len = f->raw_hdr_len;
	}
	if ((need & IMAP_SEARCH_NEED_TEXT) != 0) {
		m->text = f->text;
		m->text_len = f->text_len;
	}
	return 0;
}

static void
fx_release(void *ctx, struct imap_search_msg *m)
{
	struct fx *fx = ctx;

	fx->releases++;
	m->hdr = NULL;
	m->raw_hdr = m->text = NULL;
	m->raw_hdr_len = m->text_len = 0;
	m->size = 0;
	m->internal_date = 0;
}

struct fts_arg {
	struct fx *fx;
	const struct fts_query *q;
	roaring_bitmap_t *r;
};

static int
fts_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct fts_arg *a = arg;

	return fts_search(a->fx->fts, t, 1, a->q, NULL, &a->r, err);
}

static int
fx_fts(void *ctx, const struct fts_query *q, roaring_bitmap_t **r,
    struct buf *err)
{
	struct fx *fx = ctx;
	struct fts_arg a = { fx, q, NULL };

	fx->fts_calls++;
	if (fx->fail_fts) {
		buf_add_str(err, "index failed on purpose");
		return -1;
	}
	if (kv_run(fx->kv, KV_READ, fts_txn, &a, err) < 0)
		return -1;
	*r = a.r;
	return 0;
}

static bool
fx_objectid(void *ctx, bool thread, const char *s, size_t len,
    uint32_t *id_r)
{
	uint64_t v;

	(void)ctx;
	if (len < 2 || s[0] != (thread ? 'T' : 'M') ||
	    parse_u64(s + 1, len - 1, UINT32_MAX, &v) < 0)
		return false;
	*id_r = (uint32_t)v;
	return true;
}

/* addrs - "Name local@domain " of a list, as store.c indexes it */
static void
addrs(struct buf *out, const struct mime_addr_list *l)
{
	for (uint32_t i = 0; i < l->n; i++) {
		if (l->v[i].kind == MIME_ADDR_GROUP_END)
			continue;
		if (l->v[i].name != NULL)
			buf_addf(out, "%s ", l->v[i].name);
		if (l->v[i].kind == MIME_ADDR_MAILBOX)
			buf_addf(out, "%s@%s ", l->v[i].local, l->v[i].domain);
	}
}

static int
index_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct fx *fx = arg;

	for (size_t i = 0; i < NMSG; i++) {
		const struct mime_headers *h = &fx->info[i]->hdr;
		struct buf a[4] = { BUF_INIT(0), BUF_INIT(0), BUF_INIT(0),
		    BUF_INIT(0) };
		static const enum fts_field fld[] = { FTS_FROM, FTS_TO,
			FTS_CC, FTS_BCC };
		const struct mime_addr_list *l[] = { &h->from, &h->to, &h->cc,
			&h->bcc };
		struct fts_part parts[8];
		size_t np = 0;
		int rc;

		if (!spec[i].indexed)
			continue;
		if (h->subject != NULL)
			parts[np++] = (struct fts_part){ FTS_SUBJECT,
			    h->subject, strlen(h->subject) };
		for (size_t k = 0; k < 4; k++) {
			addrs(&a[k], l[k]);
			if (a[k].len > 0)
				parts[np++] = (struct fts_part){ fld[k],
				    a[k].data, a[k].len };
		}
		parts[np++] = (struct fts_part){ FTS_BODY, fx->info[i]->text,
		    fx->info[i]->text_len };
		rc = fts_index(fx->fts, t, 1, spec[i].email,
		    &(struct fts_doc){ parts, np }, err);
		for (size_t k = 0; k < 4; k++)
			buf_free(&a[k]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
group_setup(void **state)
{
	struct fx *fx;
	struct buf err = BUF_INIT(0);
	struct kv_options opt = { .backend = "sqlite", .path = "fts.db" };

	if (unit_tmpdir_setup(state) < 0)
		return -1;
	fx = calloc(1, sizeof(*fx));
	for (size_t i = 0; i < NMSG; i++) {
		struct imap_search_msg *f = &fx->full[i];
		uint64_t start, len;

		buf_init(&fx->raw[i], 0);
		buf_add_str(&fx->raw[i], spec[i].raw);
		if (mime_parse(fx->raw[i].data, fx->raw[i].len, NULL,
		    &fx->info[i], &err) < 0)
			return -1;
		if (mime_section(fx->info[i], "HEADER", 6, &start, &len,
		    NULL) < 0)
			return -1;
		f->uid = spec[i].uid;
		f->email = spec[i].email;
		f->flags = spec[i].flags;
		f->keywords = spec[i].keywords;
		f->modseq = spec[i].modseq;
		f->recent = spec[i].recent;
		f->size = spec[i].size;
		f->internal_date = ts(spec[i].y, spec[i].mo, spec[i].d,
		    spec[i].h, spec[i].mi, spec[i].s);
		f->internal_tz = (int16_t)spec[i].tz;
		f->has_save_date = spec[i].save != 0;
		f->save_date = spec[i].save;
		f->thread = spec[i].thread;
		f->hdr = &fx->info[i]->hdr;
		f->raw_hdr = (const char *)fx->raw[i].data + start;
		f->raw_hdr_len = len;
		f->text = fx->info[i]->text;
		f->text_len = fx->info[i]->text_len;
	}
	if (kv_open(&opt, &fx->kv, &err) < 0 ||
	    fts_new(NULL, NULL, &fx->fts, &err) < 0 ||
	    kv_run(fx->kv, KV_WRITE, index_txn, fx, &err) < 0) {
		fprintf(stderr, "setup: %s\n", buf_cstr(&err));
		return -1;
	}
	buf_free(&err);
	fxp = fx;
	*state = fx;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fx *fx = fxp;

	for (size_t i = 0; i < NMSG; i++) {
		mime_info_free(&fx->info[i]);
		buf_free(&fx->raw[i]);
	}
	fts_free(&fx->fts);
	kv_close(&fx->kv);
	free(fx);
	return unit_tmpdir_teardown(state);
}

/* reset - the membership fields only; counters zero; env for mode */
static void
reset(struct fx *fx, bool index, enum imap_search_text_mode mode)
{
	for (size_t i = 0; i < NMSG; i++) {
		const struct imap_search_msg *f = &fx->full[i];

		memset(&fx->msgs[i], 0, sizeof(fx->msgs[i]));
		fx->msgs[i].uid = f->uid;
		fx->msgs[i].email = f->email;
		fx->msgs[i].flags = f->flags;
		fx->msgs[i].keywords = f->keywords;
		fx->msgs[i].modseq = f->modseq;
		fx->msgs[i].recent = f->recent;
	}
	memset(fx->loads, 0, sizeof(fx->loads));
	fx->load_calls = fx->releases = fx->fts_calls = 0;
	fx->fail_load = fx->fail_fts = false;
	fx->saved[0] = 3;
	fx->saved[1] = 8;
	fx->env = (struct imap_search_env){
		.msgs = fx->msgs, .n = NMSG, .saved = fx->saved, .nsaved = 2,
		.now = NOW, .save_date_supported = true, .text_mode = mode,
		.load = fx_load, .release = fx_release,
		.fts = index ? fx_fts : NULL, .objectid = fx_objectid,
		.ctx = fx,
	};
}

/* parse_search - the SEARCH (or SORT, THREAD) command line */
static struct imap_cmd *
parse_search(const char *line)
{
	struct imap_limits lim;
	struct imap_parser *p;
	struct imap_cmd *cmd = NULL;
	struct imap_parse_error perr;
	struct buf in = BUF_INIT(0);
	size_t used;
	enum imap_parse_ev ev;

	imap_limits_default(&lim, true);
	p = imap_parser_new(&lim);
	imap_parser_set_utf8(p, true);
	buf_addf(&in, "%s\r\n", line);
	ev = imap_parser_feed(p, in.data, in.len, &used, &cmd, &perr);
	if (ev != IMAP_PARSE_CMD)
		fail_msg("%s: parse: %s", line, ev == IMAP_PARSE_BAD ?
		    perr.text : "no command");
	imap_parser_free(&p);
	buf_free(&in);
	return cmd;
}

/* run - the MSNs matching keys, "1 2 3", or "BADCHARSET"/"BAD"/"NO" */
static const char *
run(struct fx *fx, const char *keys)
{
	static struct buf out;
	struct buf line = BUF_INIT(0), err = BUF_INIT(0);
	struct imap_cmd *cmd;
	struct imap_search_result res;
	enum imap_search_status st;

	buf_addf(&line, "A1 SEARCH %s", keys);
	cmd = parse_search(buf_cstr(&line));
	st = imap_search_eval(&cmd->u.search, &fx->env, &res, &err);
	buf_reset(&out);
	if (st != IMAP_SEARCH_OK) {
		assert_int_equal(res.n, 0);
		assert_true(err.len > 0);
		buf_add_str(&out, st == IMAP_SEARCH_BADCHARSET ? "BADCHARSET" :
		    st == IMAP_SEARCH_BAD ? "BAD" : "NO");
	}
	for (size_t i = 0; i < res.n; i++) {
		assert_int_equal(res.seq[i], res.idx[i] + 1);
		assert_int_equal(res.uid[i], fx->msgs[res.idx[i]].uid);
		buf_addf(&out, "%s%u", i > 0 ? " " : "", res.seq[i]);
	}
	/* whatever was loaded was given back */
	for (size_t i = 0; i < NMSG; i++)
		assert_int_equal(fx->msgs[i].loaded, 0);
	assert_true(fx->releases <= fx->load_calls);
	imap_search_result_free(&res);
	imap_cmd_free(&cmd);
	buf_free(&line);
	buf_free(&err);
	return buf_cstr(&out);
}

struct tcase {
	const char *keys, *want;
};

static void
table(struct fx *fx, bool index, enum imap_search_text_mode mode,
    const struct tcase *c, size_t n)
{
	int bad = 0;

	for (size_t i = 0; i < n; i++) {
		const char *got;

		reset(fx, index, mode);
		got = run(fx, c[i].keys);
		if (strcmp(got, c[i].want) != 0) {
			print_error("SEARCH %s: want \"%s\", got \"%s\"\n",
			    c[i].keys, c[i].want, got);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static const struct tcase membership[] = {
	{ "ALL", "1 2 3 4 5 6" },
	{ "SEEN", "1 2 6" },
	{ "UNSEEN", "3 4 5" },
	{ "ANSWERED", "2" },
	{ "UNANSWERED", "1 3 4 5 6" },
	{ "FLAGGED", "3" },
	{ "UNFLAGGED", "1 2 4 5 6" },
	{ "DELETED", "4" },
	{ "UNDELETED", "1 2 3 5 6" },
	{ "DRAFT", "4" },
	{ "UNDRAFT", "1 2 3 5 6" },
	{ "RECENT", "5" },
	{ "NEW", "5" },
	{ "OLD", "1 2 3 4 6" },
	{ "KEYWORD $Label1", "1" },
	{ "KEYWORD $Forwarded", "3" },	/* a flag bit in the store */
	{ "KEYWORD $seen", "1 2 6" },
	{ "KEYWORD nothere", "" },
	{ "UNKEYWORD project-x", "1 2 4 5 6" },
	{ "UNKEYWORD $forwarded", "1 2 4 5 6" },
	{ "MODSEQ 30", "3 4 5 6" },
	{ "MODSEQ \"/flags/\\\\seen\" all 61", "" },
	{ "1:3", "1 2 3" },
	{ "*", "6" },
	{ "4:*", "4 5 6" },
	{ "*:4", "4 5 6" },
	{ "100:*", "6" },		/* n:* always holds the last */
	{ "2,4,6", "2 4 6" },
	{ "7", "" },
	{ "3:1,2:5", "1 2 3 4 5" },	/* overlapping, reversed ranges */
	{ "UID 3:7", "2 3 4" },
	{ "UID *", "6" },
	{ "UID 100:*", "6" },
	{ "UID 2", "" },
	{ "UID 1,8:9", "1 5 6" },
	{ "$", "2 5" },
	{ "UID $", "2 5" },
	{ "NOT $", "1 3 4 6" },
	{ "NOT 1:*", "" },
	{ "NOT ALL", "" },
	{ "NOT NOT SEEN", "1 2 6" },
	{ "OR SEEN FLAGGED", "1 2 3 6" },
	{ "OR OR SEEN FLAGGED DELETED", "1 2 3 4 6" },
	{ "OR (SEEN UNANSWERED) NOT OR 1 2", "1 3 4 5 6" },
	{ "(OR 1 2) (OR 2 3)", "2" },
	{ "OR NOT SEEN NOT 1:5", "3 4 5 6" },
	{ "SEEN (UNANSWERED (NOT 6))", "1" },
	{ "EMAILID M103", "3" },
	{ "EMAILID X1", "" },
	{ "THREADID T1", "1 2" },
	{ "THREADID T4", "5 6" },
	{ "SAVEDATESUPPORTED", "1 2 3 4 5 6" },
};

static void
test_membership(void **state)
{
	table(*state, false, IMAP_SEARCH_TEXT_EXACT, membership,
	    ARRAY_SIZE(membership));
}

static const struct tcase dates[] = {
	/* internal date, date part in its own zone: MSN 2 is 23:20Z on
	 * the 1st, but 00:20 on the 2nd in +0100 */
	{ "ON 2-Jan-2024", "1 2" },
	{ "BEFORE 2-Jan-2024", "5" },
	{ "SINCE 3-Jan-2024", "3 4 6" },
	{ "SINCE 2-Jan-2024 BEFORE 3-Jan-2024", "1 2" },
	/* Date header in its own zone: 23:30 -0500 is the 1st (04:30Z on
	 * the 2nd); 00:15 +0100 is the 2nd (23:15Z on the 1st) */
	{ "SENTON 1-Jan-2024", "1" },
	{ "SENTON 2-Jan-2024", "2" },
	{ "SENTON 31-Dec-2023", "5" },
	{ "SENTBEFORE 2-Jan-2024", "1 5" },
	{ "SENTSINCE 2-Jan-2024", "2 4 6" },
	{ "NOT SENTSINCE 2-Jan-2024", "1 3 5" },	/* 3 has no Date */
	{ "SAVEDON 5-Jan-2024", "4" },
	{ "SAVEDBEFORE 5-Jan-2024", "3" },
	{ "SAVEDSINCE 1-Jan-2000", "3 4" },
	/* WITHIN, now 2024-01-06 00:00Z: MSN 4 is exactly 43200 s old */
	{ "YOUNGER 43200", "4 6" },
	{ "OLDER 43200", "1 2 3 5" },
	{ "OLDER 1", "1 2 3 4 5 6" },
	{ "LARGER 300", "4 5 6" },
	{ "SMALLER 300", "1 2" },
	{ "LARGER 600", "" },
	{ "LARGER 9223372036854775807", "" },
};

static void
test_dates_sizes(void **state)
{
	table(*state, false, IMAP_SEARCH_TEXT_EXACT, dates,
	    ARRAY_SIZE(dates));
}

static const struct tcase strings[] = {
	{ "SUBJECT invoice", "1 2" },
	{ "SUBJECT INVOICE", "1 2" },
	{ "SUBJECT \"re: quarterly\"", "2" },
	{ "SUBJECT STRASSE", "3" },		/* Straße, case-folded */
	{ "SUBJECT \"stra\xc3\x9f" "e\"", "3" },
	{ "SUBJECT \"\"", "1 2 3 4 5 6" },
	{ "SUBJECT lunch", "4" },
	{ "SUBJECT \"[list] fwd:\"", "4" },
	{ "FROM alice", "1" },
	{ "TO alice", "2" },
	{ "FROM \"m\xc3\xbcller\"", "3" },
	{ "FROM \"M\xc3\x9cLLER\"", "3" },
	{ "FROM \"<jm@example.de>\"", "3" },
	{ "FROM \"Bob <bob@\"", "2" },
	{ "CC carol", "2" },
	{ "BCC dave", "4" },
	{ "TO undisclosed", "4" },		/* a group's name */
	{ "FROM nobody", "" },
	{ "HEADER X-Mailer foomail", "4" },
	{ "HEADER x-mailer \"\"", "4" },	/* presence */
	{ "HEADER Message-ID example.org", "2" },
	{ "HEADER In-Reply-To \"\"", "2" },
	{ "HEADER Subject \"=?UTF-8?Q?Stra\"", "3" },	/* raw */
	{ "HEADER X-None \"\"", "" },
	{ "BODY invoice", "1 2 6" },	/* not "invoicing" */
	{ "BODY noon", "4" },
	{ "BODY \"<b>\"", "" },		/* markup is stripped */
	{ "BODY strasse", "3" },
	{ "BODY \"ist ab montag\"", "3" },
	{ "BODY \"montag ist\"", "" },	/* a substring, not words */
	{ "BODY \"\"", "1 2 3 4 5 6" },
	{ "TEXT foomail", "4" },		/* the raw header */
	{ "TEXT alice", "1 2" },
	{ "TEXT \"42 EUR\"", "1" },
	{ "TEXT \"M\xc3\xbcller\"", "3" },	/* decoded From */
	{ "CHARSET UTF-8 SUBJECT \"stra\xc3\x9f" "e\"", "3" },
	{ "CHARSET us-ascii SEEN", "1 2 6" },
	{ "CHARSET ISO-8859-1 ALL", "BADCHARSET" },
	{ "SUBJECT \"\xff\"", "BAD" },
	{ "NOT SUBJECT \"\xc3\"", "BAD" },
};

static void
test_strings_exact(void **state)
{
	table(*state, false, IMAP_SEARCH_TEXT_EXACT, strings,
	    ARRAY_SIZE(strings));
}

/* the same answers when the index narrows (interior words) */
static void
test_strings_narrowed(void **state)
{
	table(*state, true, IMAP_SEARCH_TEXT_EXACT, strings,
	    ARRAY_SIZE(strings));
}

static const struct tcase index_mode[] = {
	/* stems: invoice, invoices, invoicing; 6 is unindexed and has
	 * "invoice" */
	{ "BODY invoice", "1 2 5 6" },
	{ "BODY invoi", "1 2 5 6" },		/* a prefix */
	{ "BODY inv", "6" },	/* under IMAP_SEARCH_PREFIX_MIN: whole word
				   only, and 6 by substring */
	{ "BODY \"montag ist\"", "3" },	/* words, not a substring */
	{ "BODY \"!!!\"", "" },			/* no word: exact */
	{ "BODY \"an invoice,\"", "6" },	/* 6: exact; no indexed doc
						   has "an" */
	{ "TEXT alice", "1 2" },
	{ "TEXT noon", "4" },
	{ "NOT BODY invoice", "3 4" },
	{ "SUBJECT invoice", "1 2" },	/* header keys stay exact */
	{ "SUBJECT \"quarterly invoice report\"", "1 2" },
	{ "OR BODY noon SUBJECT misc", "4 6" },
};

static void
test_index_mode(void **state)
{
	table(*state, true, IMAP_SEARCH_TEXT_INDEX, index_mode,
	    ARRAY_SIZE(index_mode));
}

static void
test_lazy(void **state)
{
	struct fx *fx = *state;

	/* membership keys load nothing */
	reset(fx, false, IMAP_SEARCH_TEXT_EXACT);
	assert_string_equal(run(fx, "UNSEEN OR 1 FLAGGED"), "3");
	assert_int_equal(fx->load_calls, 0);
	/* the cheap key first: headers of the seen messages only */
	reset(fx, false, IMAP_SEARCH_TEXT_EXACT);
	assert_string_equal(run(fx, "SUBJECT invoice SEEN"), "1 2");
	assert_int_equal(fx->loads[1], 3);
	assert_int_equal(fx->loads[0] + fx->loads[2] + fx->loads[3], 0);
	assert_int_equal(fx->releases, 3);
	/* narrowed by "invoice": 1 and 2, and 6 (unindexed) only */
	reset(fx, true, IMAP_SEARCH_TEXT_EXACT);
	assert_string_equal(run(fx, "SUBJECT \"quarterly invoice report\""),
	    "1 2");
	assert_int_equal(fx->loads[1], 3);
	/* no interior word: every header */
	reset(fx, true, IMAP_SEARCH_TEXT_EXACT);
	assert_string_equal(run(fx, "SUBJECT invoice"), "1 2");
	assert_int_equal(fx->loads[1], 6);
	assert_int_equal(fx->fts_calls, 0);
	/* the index answers BODY: only the unindexed 6 is read */
	reset(fx, true, IMAP_SEARCH_TEXT_INDEX);
	assert_string_equal(run(fx, "BODY invoice"), "1 2 5 6");
	assert_int_equal(fx->loads[3], 1);
	assert_int_equal(fx->fts_calls, 2);	/* the query, "indexed" */
	/* exact BODY narrowed by "ab": only 3 (and 6) are read */
	reset(fx, true, IMAP_SEARCH_TEXT_EXACT);
	assert_string_equal(run(fx, "BODY \"ist ab montag\""), "3");
	assert_int_equal(fx->loads[3], 2);
	/* exact TEXT reads every raw header (the index lacks them), and
	 * the bodies of the candidates */
	reset(fx, true, IMAP_SEARCH_TEXT_EXACT);
	assert_string_equal(run(fx, "TEXT \"ist ab montag\""), "3");
	assert_int_equal(fx->loads[2], 6);
	assert_int_equal(fx->loads[3], 2);
	/* dates load the email record, once per message */
	reset(fx, false, IMAP_SEARCH_TEXT_EXACT);
	assert_string_equal(run(fx, "SINCE 1-Jan-2024 LARGER 100 SMALLER 600"),
	    "2 3 4 5");
	assert_int_equal(fx->loads[0], 6);
	assert_int_equal(fx->load_calls, 6);
	/* a message loaded by the caller beforehand is not loaded again */
	reset(fx, false, IMAP_SEARCH_TEXT_EXACT);
	for (size_t i = 0; i < NMSG; i++) {
		fx->msgs[i].hdr = fx->full[i].hdr;
		fx->msgs[i].loaded = IMAP_SEARCH_NEED_HDR;
	}
	{
		struct imap_cmd *cmd = parse_search("A1 SEARCH FROM alice");
		struct imap_search_result res;
		struct buf err = BUF_INIT(0);

		assert_int_equal(imap_search_eval(&cmd->u.search, &fx->env,
		    &res, &err), IMAP_SEARCH_OK);
		assert_int_equal(res.n, 1);
		assert_int_equal(fx->load_calls, 0);
		for (size_t i = 0; i < NMSG; i++)
			assert_int_equal(fx->msgs[i].loaded,
			    IMAP_SEARCH_NEED_HDR);
		imap_search_result_free(&res);
		imap_cmd_free(&cmd);
		buf_free(&err);
	}
}

static void
test_needs(void **state)
{
	struct fx *fx = *state;
	struct imap_cmd *cmd;

	reset(fx, false, IMAP_SEARCH_TEXT_EXACT);
	cmd = parse_search("A1 SEARCH SEEN 1:* UID 3 KEYWORD x MODSEQ 2");
	assert_int_equal(imap_search_needs(&cmd->u.search, &fx->env), 0);
	imap_cmd_free(&cmd);
	cmd = parse_search("A1 SEARCH OR FROM x NOT SENTON 1-Jan-2020 "
	    "HEADER a b");
	assert_int_equal(imap_search_needs(&cmd->u.search, &fx->env),
	    IMAP_SEARCH_NEED_HDR | IMAP_SEARCH_NEED_RAWHDR);
	imap_cmd_free(&cmd);
	cmd = parse_search("A1 SEARCH (BEFORE 1-Jan-2020) BODY x");
	assert_int_equal(imap_search_needs(&cmd->u.search, &fx->env),
	    IMAP_SEARCH_NEED_EMAIL | IMAP_SEARCH_NEED_TEXT);
	imap_cmd_free(&cmd);
}

static void
test_failures(void **state)
{
	struct fx *fx = *state;

	reset(fx, false, IMAP_SEARCH_TEXT_EXACT);
	fx->fail_load = true;
	assert_string_equal(run(fx, "SEEN SUBJECT x"), "NO");
	assert_int_equal(fx->load_calls, 1);	/* stops at the first */
	reset(fx, false, IMAP_SEARCH_TEXT_EXACT);
	fx->fail_load = true;
	assert_string_equal(run(fx, "SEEN"), "1 2 6");	/* no load needed */
	reset(fx, true, IMAP_SEARCH_TEXT_INDEX);
	fx->fail_fts = true;
	assert_string_equal(run(fx, "BODY invoice"), "NO");
	reset(fx, true, IMAP_SEARCH_TEXT_INDEX);
	fx->fail_fts = true;
	assert_string_equal(run(fx, "BODY \"!!\""), "");	/* no query */
}

static void
test_empty_mailbox(void **state)
{
	static const struct tcase c[] = {
		{ "ALL", "" }, { "*", "" }, { "UID *", "" }, { "NOT *", "" },
		{ "1:*", "" }, { "$", "" }, { "NOT ALL", "" },
		{ "OR * NOT *", "" }, { "BODY x", "" },
	};
	struct fx *fx = *state;

	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		reset(fx, true, IMAP_SEARCH_TEXT_INDEX);
		fx->env.n = 0;
		fx->env.nsaved = 0;
		assert_string_equal(run(fx, c[i].keys), c[i].want);
		assert_int_equal(fx->load_calls, 0);
	}
}

/* result - a result by hand: MSNs seq, UIDs 10 * seq, MODSEQ 100 + seq */
static void
result(struct imap_search_result *r, const uint32_t *seq, size_t n,
    bool modseq, bool sorted)
{
	memset(r, 0, sizeof(*r));
	r->n = n;
	r->idx = calloc(n + 1, sizeof(uint32_t));
	r->seq = calloc(n + 1, sizeof(uint32_t));
	r->uid = calloc(n + 1, sizeof(uint32_t));
	r->has_modseq = modseq;
	r->sorted = sorted;
	if (modseq)
		r->modseq = calloc(n + 1, sizeof(uint64_t));
	for (size_t i = 0; i < n; i++) {
		r->idx[i] = seq[i] - 1;
		r->seq[i] = seq[i];
		r->uid[i] = 10 * seq[i];
		if (modseq)
			r->modseq[i] = 100 + seq[i];
	}
}

static const char *
esearch(const struct imap_search_result *r, bool uid, unsigned opts,
    const struct imap_partial *partial)
{
	static struct buf out;
	struct imap_search_ret ret = { .present = true, .opts = opts };

	if (partial != NULL)
		ret.partial = *partial;
	buf_reset(&out);
	imap_search_write_esearch(&out, "A1", 2, uid, &ret, r);
	return buf_cstr(&out);
}

static void
test_writers(void **state)
{
	static const uint32_t s4[] = { 1, 2, 3, 5 }, sorted[] = { 5, 1, 2, 3,
		9, 8 };
	struct imap_search_result r;
	struct imap_partial p;
	struct buf out = BUF_INIT(0);

	(void)state;
	result(&r, s4, 4, false, false);
	imap_search_write(&out, &r, false);
	assert_string_equal(buf_cstr(&out), "* SEARCH 1 2 3 5\r\n");
	buf_reset(&out);
	imap_search_write(&out, &r, true);
	assert_string_equal(buf_cstr(&out), "* SEARCH 10 20 30 50\r\n");
	assert_string_equal(esearch(&r, false, IMAP_SRET_MIN | IMAP_SRET_MAX |
	    IMAP_SRET_COUNT | IMAP_SRET_ALL, NULL),
	    "* ESEARCH (TAG \"A1\") MIN 1 MAX 5 ALL 1:3,5 COUNT 4\r\n");
	assert_string_equal(esearch(&r, true, 0, NULL),
	    "* ESEARCH (TAG \"A1\") UID ALL 10,20,30,50\r\n");
	assert_string_equal(esearch(&r, false, IMAP_SRET_SAVE, NULL), "");
	assert_string_equal(esearch(&r, false, IMAP_SRET_SAVE |
	    IMAP_SRET_COUNT, NULL), "* ESEARCH (TAG \"A1\") COUNT 4\r\n");
	p = (struct imap_partial){ false, 2, 3 };
	assert_string_equal(esearch(&r, false, IMAP_SRET_PARTIAL, &p),
	    "* ESEARCH (TAG \"A1\") PARTIAL (2:3 2:3)\r\n");
	p = (struct imap_partial){ true, 1, 2 };
	assert_string_equal(esearch(&r, true, IMAP_SRET_PARTIAL, &p),
	    "* ESEARCH (TAG \"A1\") UID PARTIAL (-1:-2 30,50)\r\n");
	p = (struct imap_partial){ true, 3, 100 };
	assert_string_equal(esearch(&r, false, IMAP_SRET_PARTIAL, &p),
	    "* ESEARCH (TAG \"A1\") PARTIAL (-3:-100 1:2)\r\n");
	p = (struct imap_partial){ false, 10, 20 };
	assert_string_equal(esearch(&r, false, IMAP_SRET_PARTIAL |
	    IMAP_SRET_COUNT, &p),
	    "* ESEARCH (TAG \"A1\") PARTIAL (10:20 NIL) COUNT 4\r\n");
	imap_search_result_free(&r);

	/* nothing matched: no MIN, MAX, ALL, MODSEQ */
	result(&r, s4, 0, true, false);
	buf_reset(&out);
	imap_search_write(&out, &r, false);
	assert_string_equal(buf_cstr(&out), "* SEARCH\r\n");
	assert_string_equal(esearch(&r, true, IMAP_SRET_MIN | IMAP_SRET_MAX |
	    IMAP_SRET_ALL | IMAP_SRET_COUNT, NULL),
	    "* ESEARCH (TAG \"A1\") UID COUNT 0\r\n");
	assert_string_equal(esearch(&r, false, 0, NULL),
	    "* ESEARCH (TAG \"A1\")\r\n");
	imap_search_result_free(&r);

	/* MODSEQ: of all, or of MIN/MAX alone (RFC 7162 3.1.5) */
	result(&r, s4, 4, true, false);
	buf_reset(&out);
	imap_search_write(&out, &r, false);
	assert_string_equal(buf_cstr(&out),
	    "* SEARCH 1 2 3 5 (MODSEQ 105)\r\n");
	assert_string_equal(esearch(&r, false, IMAP_SRET_MIN, NULL),
	    "* ESEARCH (TAG \"A1\") MIN 1 MODSEQ 101\r\n");
	assert_string_equal(esearch(&r, false, IMAP_SRET_MIN |
	    IMAP_SRET_COUNT, NULL),
	    "* ESEARCH (TAG \"A1\") MIN 1 COUNT 4 MODSEQ 105\r\n");
	imap_search_result_free(&r);

	/* a SORT result: its own order, ascending runs as ranges (ESORT) */
	result(&r, sorted, 6, false, true);
	buf_reset(&out);
	imap_search_write(&out, &r, false);
	assert_string_equal(buf_cstr(&out), "* SORT 5 1 2 3 9 8\r\n");
	assert_string_equal(esearch(&r, false, IMAP_SRET_MIN | IMAP_SRET_MAX |
	    IMAP_SRET_ALL, NULL),
	    "* ESEARCH (TAG \"A1\") MIN 5 MAX 8 ALL 5,1:3,9,8\r\n");
	p = (struct imap_partial){ false, 2, 4 };
	assert_string_equal(esearch(&r, true, IMAP_SRET_PARTIAL, &p),
	    "* ESEARCH (TAG \"A1\") UID PARTIAL (2:4 10,20,30)\r\n");
	imap_search_result_free(&r);

	/* a tag that needs quoting */
	result(&r, s4, 1, false, false);
	buf_reset(&out);
	imap_search_write_esearch(&out, "a\"b", 3, false,
	    &(struct imap_search_ret){ true, IMAP_SRET_COUNT, { 0 } }, &r);
	assert_string_equal(buf_cstr(&out),
	    "* ESEARCH (TAG \"a\\\"b\") COUNT 1\r\n");
	imap_search_result_free(&r);
	buf_free(&out);
}

static const char *
saved(const struct imap_search_result *r, unsigned opts)
{
	static struct buf out;
	struct imap_search_ret ret = { .present = true,
	    .opts = opts | IMAP_SRET_SAVE };
	uint32_t *v;
	size_t n;

	imap_search_save(&ret, r, &v, &n);
	buf_reset(&out);
	for (size_t i = 0; i < n; i++)
		buf_addf(&out, "%s%u", i > 0 ? " " : "", v[i]);
	free(v);
	return buf_cstr(&out);
}

static void
test_searchres(void **state)
{
	static const uint32_t s4[] = { 1, 2, 3, 5 }, sorted[] = { 5, 1, 2, 3,
		9, 8 };
	struct imap_search_result r;

	(void)state;
	result(&r, s4, 4, false, false);
	assert_string_equal(saved(&r, 0), "10 20 30 50");
	assert_string_equal(saved(&r, IMAP_SRET_MIN), "10");
	assert_string_equal(saved(&r, IMAP_SRET_MAX), "50");
	assert_string_equal(saved(&r, IMAP_SRET_MIN | IMAP_SRET_MAX),
	    "10 50");
	assert_string_equal(saved(&r, IMAP_SRET_MIN | IMAP_SRET_COUNT),
	    "10 20 30 50");
	assert_string_equal(saved(&r, IMAP_SRET_ALL | IMAP_SRET_MAX),
	    "10 20 30 50");
	imap_search_result_free(&r);
	/* SORT: MIN/MAX are the ends of the sort order; saved ascending */
	result(&r, sorted, 6, false, true);
	assert_string_equal(saved(&r, IMAP_SRET_MIN | IMAP_SRET_MAX),
	    "50 80");
	assert_string_equal(saved(&r, IMAP_SRET_ALL),
	    "10 20 30 50 80 90");
	imap_search_result_free(&r);
	result(&r, s4, 0, false, false);
	assert_string_equal(saved(&r, IMAP_SRET_MIN), "");
	imap_search_result_free(&r);
}

/* the "$" of a search is the set another one saved */
static void
test_saved_roundtrip(void **state)
{
	struct fx *fx = *state;
	struct imap_cmd *cmd;
	struct imap_search_result res;
	struct buf err = BUF_INIT(0);
	uint32_t *v;
	size_t n;

	reset(fx, false, IMAP_SEARCH_TEXT_EXACT);
	cmd = parse_search("A1 UID SEARCH RETURN (SAVE MAX) UNSEEN");
	assert_int_equal(imap_search_eval(&cmd->u.search, &fx->env, &res,
	    &err), IMAP_SEARCH_OK);
	imap_search_save(&cmd->u.search.ret, &res, &v, &n);
	assert_int_equal(n, 1);
	assert_int_equal(v[0], 8);
	imap_search_result_free(&res);
	imap_cmd_free(&cmd);
	fx->env.saved = v;
	fx->env.nsaved = n;
	assert_string_equal(run(fx, "OR $ 1"), "1 5");
	free(v);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_membership),
		cmocka_unit_test(test_dates_sizes),
		cmocka_unit_test(test_strings_exact),
		cmocka_unit_test(test_strings_narrowed),
		cmocka_unit_test(test_index_mode),
		cmocka_unit_test(test_lazy),
		cmocka_unit_test(test_needs),
		cmocka_unit_test(test_failures),
		cmocka_unit_test(test_empty_mailbox),
		cmocka_unit_test(test_writers),
		cmocka_unit_test(test_searchres),
		cmocka_unit_test(test_saved_roundtrip),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
