/*
 * imap_parse_test.c - table-driven tests of the IMAP command parser
 * (imap-jmap/imap_parse.h): every command written back canonically and
 * parsed again to the same text, every literal form, sequence sets, search
 * trees, the limits, malformed input with the error each gets and the
 * resync after it, byte-at-a-time feeding, the DONE/SASL modes, modified
 * UTF-7 and the response writers.
 *
 * Most cases are transcripts: the events of feeding an input, one per
 * line: a command as imap_cmd_write() writes it (without CRLF), "+" for a
 * continuation request, "BAD <tag> [CODE] text" / "NO <tag> ..." for an
 * error ("*" when untagged), "BYE text" for a fatal one.
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
#include "imap-jmap/imap_parse.h"

/* ---- driver ---- */

/* MISMATCH - report a failed table case, go on with the others */
#define MISMATCH(n, ...) \
	do { \
		(n)++; \
		print_error(__VA_ARGS__); \
	} while (0)

static void
event_error(struct buf *t, const struct imap_parse_error *e)
{
	if (e->fatal)
		buf_addf(t, "BYE %s", e->text);
	else
		buf_addf(t, "%s %s %s%s%s%s", e->is_no ? "NO" : "BAD",
		    e->has_tag ? e->tag : "*", e->code ? "[" : "",
		    e->code ? e->code : "", e->code ? "] " : "", e->text);
	buf_add_str(t, "\n");
}

/*
 * transcript - feed in[0..len) chunk octets at a time (0: all at once) to
 * a parser with lim (NULL: authenticated defaults) and utf8; the events
 */
static char *
transcript_lim(const char *in, size_t len, size_t chunk,
    const struct imap_limits *lim, bool utf8)
{
	struct imap_limits def;
	struct imap_parser *p;
	struct buf t = BUF_INIT(0), pend = BUF_INIT(0);
	size_t off = 0;
	bool dead = false;

	if (lim == NULL) {
		imap_limits_default(&def, true);
		lim = &def;
	}
	p = imap_parser_new(lim);
	imap_parser_set_utf8(p, utf8);
	while (off < len && !dead) {
		size_t n = chunk == 0 || chunk > len - off ? len - off : chunk;

		buf_add(&pend, in + off, n);
		off += n;
		for (;;) {
			struct imap_cmd *cmd;
			struct imap_parse_error err;
			size_t used;
			enum imap_parse_ev ev = imap_parser_feed(p, pend.data,
			    pend.len, &used, &cmd, &err);

			assert_true(used <= pend.len);
			buf_consume(&pend, used);
			if (ev == IMAP_PARSE_MORE) {
				assert_int_equal(pend.len, 0);
				break;
			}
			if (ev == IMAP_PARSE_CONTINUE) {
				buf_add_str(&t, "+\n");
			} else if (ev == IMAP_PARSE_CMD) {
				struct buf w = BUF_INIT(0);

				imap_cmd_write(&w, cmd);
				assert_true(w.len >= 2);
				buf_add(&t, w.data, w.len - 2);
				buf_add_str(&t, "\n");
				buf_free(&w);
				if (cmd->kind == IMAP_CMD_IDLE)
					imap_parser_expect(p,
					    IMAP_EXPECT_DONE);
				if (cmd->kind == IMAP_CMD_AUTHENTICATE &&
				    !cmd->u.auth.has_ir)
					imap_parser_expect(p,
					    IMAP_EXPECT_SASL);
				imap_cmd_free(&cmd);
				assert_null(cmd);
			} else {
				event_error(&t, &err);
				if (err.fatal) {
					dead = true;
					break;
				}
			}
		}
	}
	buf_free(&pend);
	imap_parser_free(&p);
	assert_null(p);
	return buf_steal(&t, NULL);
}

/* parse1 - the one command in in (continuations answered) */
static struct imap_cmd *
parse1_len(const char *in, size_t len, bool utf8)
{
	struct imap_limits lim;
	struct imap_parser *p;
	struct imap_cmd *cmd = NULL;
	size_t off = 0;

	imap_limits_default(&lim, true);
	p = imap_parser_new(&lim);
	imap_parser_set_utf8(p, utf8);
	while (cmd == NULL) {
		struct imap_parse_error err;
		size_t used;
		enum imap_parse_ev ev = imap_parser_feed(p,
		    (const unsigned char *)in + off, len - off, &used, &cmd,
		    &err);

		off += used;
		if (ev == IMAP_PARSE_BAD)
			fail_msg("%s: %s", in, err.text);
		if (ev == IMAP_PARSE_MORE)
			fail_msg("%s: incomplete", in);
	}
	assert_int_equal(off, len);
	assert_true(imap_parser_is_idle(p));
	imap_parser_free(&p);
	return cmd;
}

static struct imap_cmd *
parse1(const char *in)
{
	return parse1_len(in, strlen(in), false);
}

/* PARSE1 - parse1 of a literal string that may hold NULs */
#define PARSE1(s)	parse1_len(s, sizeof(s) - 1, false)

/* ---- every command, written back canonically ---- */

#define C(in)		{ in, sizeof(in) - 1, NULL, 0 }
#define W(in, want)	{ in, sizeof(in) - 1, want, sizeof(want) - 1 }

static const struct {
	const char *in;
	size_t in_len;
	const char *want;	/* NULL: in, less its CRLF */
	size_t want_len;
} canon[] = {
	/* any state */
	C("a CAPABILITY\r\n"),
	W("a noop\r\n", "a NOOP"),
	C("a LOGOUT\r\n"),
	C("a ID NIL\r\n"),
	C("a ID (\"name\" \"mutt\" \"version\" NIL)\r\n"),
	C("a ID ()\r\n"),
	/* not authenticated */
	C("a STARTTLS\r\n"),
	C("a AUTHENTICATE PLAIN\r\n"),
	C("a AUTHENTICATE PLAIN =\r\n"),
	C("a AUTHENTICATE PLAIN AGpvZQBzZWNyZXQ=\r\n"),
	C("a LOGIN joe secret\r\n"),
	W("a LOGIN \"joe\" \"se\\\\c\\\"ret\"\r\n",
	    "a LOGIN joe \"se\\\\c\\\"ret\""),
	W("a LOGIN {3}\r\njoe {0}\r\n\r\n", "a LOGIN joe \"\""),
	W("a LOGIN NIL \"NIL\"\r\n", "a LOGIN \"NIL\" \"NIL\""),
	C("a UNAUTHENTICATE\r\n"),
	/* authenticated */
	C("a ENABLE CONDSTORE QRESYNC UTF8=ACCEPT IMAP4rev2\r\n"),
	C("a SELECT INBOX\r\n"),
	W("a select inbox\r\n", "a SELECT inbox"),
	C("a EXAMINE Archive/2020\r\n"),
	C("a SELECT INBOX ()\r\n"),
	C("a SELECT INBOX (CONDSTORE)\r\n"),
	C("a SELECT INBOX (QRESYNC (67890007 20050715194045000))\r\n"),
	C("a SELECT INBOX (QRESYNC (67890007 90060115194045000 "
	    "41,43:211,214:541))\r\n"),
	C("a SELECT INBOX (QRESYNC (67890007 90060115194045000 41:211,214:541 "
	    "(1:5 2:8)))\r\n"),
	C("a SELECT INBOX (QRESYNC (1 1 (1,3 5,7)))\r\n"),
	C("a SELECT INBOX (CONDSTORE QRESYNC (1 0))\r\n"),
	C("a CREATE Lists/imap\r\n"),
	C("a CREATE Spam (USE (\\Junk))\r\n"),
	W("a CREATE Mix (USE (\\Sent \\All \\important))\r\n",
	    "a CREATE Mix (USE (\\All \\Sent \\Important))"),
	C("a CREATE X (USE ())\r\n"),
	C("a DELETE foo\r\n"),
	C("a RENAME foo \"bar baz\"\r\n"),
	W("a SUBSCRIBE \"a&AOk-b\"\r\n", "a SUBSCRIBE a&AOk-b"),
	C("a UNSUBSCRIBE a\r\n"),
	C("a LIST \"\" \"\"\r\n"),
	W("a LIST \"\" *\r\n", "a LIST \"\" \"*\""),
	W("a LIST \"~/Mail/\" %\r\n", "a LIST ~/Mail/ \"%\""),
	C("a LIST \"\" foo]bar\r\n"),
	W("a LIST (SUBSCRIBED) \"\" *\r\n", "a LIST (SUBSCRIBED) \"\" \"*\""),
	W("a LIST (SUBSCRIBED RECURSIVEMATCH REMOTE) \"\" (\"%\" INBOX)\r\n",
	    "a LIST (SUBSCRIBED REMOTE RECURSIVEMATCH) \"\" (\"%\" INBOX)"),
	C("a LIST () \"\" \"*\"\r\n"),
	C("a LIST \"\" \"*\" RETURN ()\r\n"),
	W("a LIST \"\" \"*\" RETURN (CHILDREN SUBSCRIBED)\r\n",
	    "a LIST \"\" \"*\" RETURN (SUBSCRIBED CHILDREN)"),
	C("a LIST (SPECIAL-USE) \"\" \"*\" RETURN (SPECIAL-USE)\r\n"),
	C("a LIST \"\" \"%\" RETURN (STATUS (MESSAGES UNSEEN SIZE))\r\n"),
	C("a LSUB \"\" \"*\"\r\n"),
	C("a NAMESPACE\r\n"),
	C("a STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN DELETED "
	    "SIZE HIGHESTMODSEQ MAILBOXID APPENDLIMIT DELETED-STORAGE)\r\n"),
	W("a STATUS INBOX (UNSEEN MESSAGES)\r\n",
	    "a STATUS INBOX (MESSAGES UNSEEN)"),
	W("a APPEND INBOX {5}\r\nhello\r\n", "a APPEND INBOX {5}\r\nhello"),
	W("a APPEND INBOX (\\Seen $Forwarded) \" 7-Feb-1994 21:52:25 "
	    "-0800\" {5+}\r\nhello\r\n",
	    "a APPEND INBOX (\\Seen $Forwarded) \"07-Feb-1994 21:52:25 -0800\" "
	    "{5}\r\nhello"),
	W("a APPEND INBOX () {0+}\r\n\r\n", "a APPEND INBOX () {0}\r\n"),
	W("a APPEND Drafts ~{3+}\r\na\0b\r\n", "a APPEND Drafts ~{3}\r\na\0b"),
	W("a APPEND INBOX UTF8 (~{2+}\r\nhi)\r\n",
	    "a APPEND INBOX UTF8 (~{2}\r\nhi)"),
	W("a APPEND INBOX {1+}\r\nx (\\Draft) {1+}\r\ny \"01-Jan-2000 00:00:00 "
	    "+0000\" {1+}\r\nz\r\n",
	    "a APPEND INBOX {1}\r\nx (\\Draft) {1}\r\ny \"01-Jan-2000 00:00:00 "
	    "+0000\" {1}\r\nz"),
	C("a GETQUOTA \"\"\r\n"),
	C("a GETQUOTAROOT INBOX\r\n"),
	C("a SETQUOTA \"\" (STORAGE 512)\r\n"),
	C("a SETQUOTA x (STORAGE 512 MESSAGE 1000 MAILBOX 9)\r\n"),
	C("a SETQUOTA x ()\r\n"),
	C("a COMPRESS DEFLATE\r\n"),
	C("a NOTIFY NONE\r\n"),
	W("a NOTIFY SET (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS "
	    "(From Subject)]) MessageExpunge)) (subtree INBOX (MessageNew "
	    "MessageExpunge FlagChange)) (mailboxes (a b) (MailboxName)) "
	    "(personal NONE)\r\n",
	    "a NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER.FIELDS "
	    "(From Subject)]) MessageExpunge)) (SUBTREE INBOX (MessageNew "
	    "MessageExpunge FlagChange)) (MAILBOXES (a b) (MailboxName)) "
	    "(PERSONAL NONE)"),
	W("a NOTIFY SET STATUS (inboxes (MessageNew MessageExpunge)) "
	    "(selected-delayed (MessageNew MessageExpunge AnnotationChange)) "
	    "(subscribed (SubscriptionChange MailboxMetadataChange "
	    "ServerMetadataChange QuotaChange XFuture))\r\n",
	    "a NOTIFY SET STATUS (INBOXES (MessageNew MessageExpunge)) "
	    "(SELECTED-DELAYED (MessageNew MessageExpunge AnnotationChange)) "
	    "(SUBSCRIBED (SubscriptionChange MailboxMetadataChange "
	    "ServerMetadataChange QuotaChange XFuture))"),
	C("a GETMETADATA INBOX /private/comment\r\n"),
	C("a GETMETADATA \"\" (/shared/comment /shared/admin)\r\n"),
	C("a GETMETADATA (MAXSIZE 1024) INBOX /private/x\r\n"),
	W("a GETMETADATA (DEPTH infinity MAXSIZE 5) INBOX /shared\r\n",
	    "a GETMETADATA (MAXSIZE 5 DEPTH infinity) INBOX /shared"),
	C("a SETMETADATA INBOX (/private/comment \"My comment\")\r\n"),
	W("a SETMETADATA INBOX (/private/comment NIL /shared/x {2+}\r\nhi)\r\n",
	    "a SETMETADATA INBOX (/private/comment NIL /shared/x \"hi\")"),
	W("a SETMETADATA \"\" (/shared/vendor/x ~{3+}\r\n\0\1\2)\r\n",
	    "a SETMETADATA \"\" (/shared/vendor/x ~{3}\r\n\0\1\2)"),
	/* selected */
	C("a CHECK\r\n"),
	C("a CLOSE\r\n"),
	C("a UNSELECT\r\n"),
	C("a EXPUNGE\r\n"),
	C("a UID EXPUNGE 3000:3002,4000\r\n"),
	C("a COPY 2:4 MEETING\r\n"),
	C("a MOVE 1:* Trash\r\n"),
	C("a UID COPY $ Archive\r\n"),
	C("a UID MOVE 1,3:5 \"Other Users/x\"\r\n"),
	C("a STORE 2:4 +FLAGS (\\Deleted)\r\n"),
	C("a STORE 1 FLAGS ()\r\n"),
	W("a STORE 1 -flags.silent \\Seen \\Flagged $Junk\r\n",
	    "a STORE 1 -FLAGS.SILENT \\Flagged \\Seen $Junk"),
	C("a UID STORE 1:* (UNCHANGEDSINCE 320162338) FLAGS.SILENT (\\Answered "
	    "\\Draft foo)\r\n"),
	W("a FETCH 1 ALL\r\n",
	    "a FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"),
	W("a FETCH 1 fast\r\n", "a FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE)"),
	W("a FETCH 1 FULL\r\n",
	    "a FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY)"),
	C("a FETCH 2:4 FLAGS\r\n"),
	C("a FETCH 1:* (UID FLAGS RFC822.SIZE ENVELOPE)\r\n"),
	C("a FETCH 1 (BODY BODYSTRUCTURE INTERNALDATE RFC822 RFC822.HEADER "
	    "RFC822.TEXT MODSEQ EMAILID THREADID SAVEDATE PREVIEW)\r\n"),
	W("a FETCH 1 body[]\r\n", "a FETCH 1 BODY[]"),
	C("a FETCH 1 (BODY[] BODY.PEEK[TEXT] BODY[HEADER] BODY[1] BODY[1.2.3] "
	    "BODY[2.MIME] BODY[3.HEADER] BODY[4.TEXT])\r\n"),
	C("a FETCH 1 BODY[HEADER.FIELDS (DATE FROM)]\r\n"),
	C("a FETCH 1 BODY.PEEK[1.HEADER.FIELDS.NOT (Received "
	    "X-Spam)]<0.2048>\r\n"),
	C("a FETCH 1 (BODY[]<0.1> BODY[TEXT]<10.5>)\r\n"),
	C("a FETCH 1 (BINARY[] BINARY.PEEK[1.2]<0.10> BINARY.SIZE[3])\r\n"),
	C("a FETCH 1 (PREVIEW (LAZY))\r\n"),
	C("a FETCH 1 PREVIEW (LAZY)\r\n"),
	C("a FETCH 1 PREVIEW (CHANGEDSINCE 7)\r\n"),
	C("a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n"),
	C("a UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n"),
	C("a UID FETCH 1:* (FLAGS) (PARTIAL -1:-100)\r\n"),
	C("a FETCH $ (UID)\r\n"),
	C("a SEARCH ALL\r\n"),
	W("a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
	    "a SEARCH FLAGGED SINCE 01-Feb-1994 NOT FROM Smith"),
	W("a SEARCH CHARSET UTF-8 TEXT {5+}\r\n\xc3\xa9t\xc3\xa9\r\n",
	    "a SEARCH CHARSET UTF-8 TEXT \"\xc3\xa9t\xc3\xa9\""),
	C("a SEARCH OR (FROM a TO b) NOT (SUBJECT c)\r\n"),
	C("a SEARCH ANSWERED DELETED DRAFT FLAGGED NEW OLD RECENT SEEN "
	    "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN "
	    "SAVEDATESUPPORTED\r\n"),
	C("a SEARCH BCC a BODY b CC c FROM d SUBJECT e TEXT f TO g\r\n"),
	C("a SEARCH KEYWORD $Junk UNKEYWORD foo\r\n"),
	W("a SEARCH HEADER Message-ID \"<x@y>\"\r\n",
	    "a SEARCH HEADER Message-ID <x@y>"),
	C("a SEARCH HEADER X-Foo \"\"\r\n"),
	W("a SEARCH BEFORE 29-Feb-2000 ON \"1-Jan-1990\" SINCE 31-dec-2021 "
	    "SENTBEFORE 1-Jan-2020 SENTON 1-Jan-2020 SENTSINCE 1-Jan-2020\r\n",
	    "a SEARCH BEFORE 29-Feb-2000 ON 01-Jan-1990 SINCE 31-Dec-2021 "
	    "SENTBEFORE 01-Jan-2020 SENTON 01-Jan-2020 SENTSINCE 01-Jan-2020"),
	C("a SEARCH SAVEDBEFORE 01-Jan-2020 SAVEDON 01-Jan-2020 SAVEDSINCE "
	    "01-Jan-2020\r\n"),
	C("a SEARCH LARGER 1000 SMALLER 9223372036854775807\r\n"),
	C("a SEARCH OLDER 3600 YOUNGER 60\r\n"),
	C("a SEARCH MODSEQ 620162338\r\n"),
	C("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n"),
	C("a SEARCH MODSEQ \"/flags/$Junk\" priv 0\r\n"),
	C("a SEARCH EMAILID M6d99ac3275bb4e THREADID T64b478a75b7ea9\r\n"),
	C("a SEARCH 1:5,7 UID 10:* $ UID $\r\n"),
	C("a SEARCH RETURN () ALL\r\n"),
	C("a SEARCH RETURN (MIN MAX) ALL\r\n"),
	W("a SEARCH RETURN (SAVE COUNT ALL MAX MIN) UNSEEN\r\n",
	    "a SEARCH RETURN (MIN MAX ALL COUNT SAVE) UNSEEN"),
	C("a SEARCH RETURN (PARTIAL 1:100) UNDELETED\r\n"),
	C("a UID SEARCH RETURN (COUNT PARTIAL -1:-50) CHARSET US-ASCII "
	    "ALL\r\n"),
	C("a SEARCH ((ALL) (NOT (OR SEEN (DELETED DRAFT))))\r\n"),
	C("a SORT (DATE) UTF-8 ALL\r\n"),
	W("a UID SORT (REVERSE ARRIVAL CC FROM SIZE SUBJECT TO DISPLAYFROM "
	    "REVERSE DISPLAYTO) US-ASCII SINCE 1-Feb-1994\r\n",
	    "a UID SORT (REVERSE ARRIVAL CC FROM SIZE SUBJECT TO DISPLAYFROM "
	    "REVERSE DISPLAYTO) US-ASCII SINCE 01-Feb-1994"),
	C("a SORT RETURN (MIN COUNT) (DATE) UTF-8 UNSEEN\r\n"),
	W("a THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n",
	    "a THREAD ORDEREDSUBJECT UTF-8 SINCE 05-Mar-2000"),
	W("a UID THREAD REFERENCES US-ASCII TEXT \"gewp\"\r\n",
	    "a UID THREAD REFERENCES US-ASCII TEXT gewp"),
	W("a THREAD X-SOMETHING \"UTF-8\" ALL\r\n",
	    "a THREAD X-SOMETHING UTF-8 ALL"),
	/* tags */
	C("A00000001 NOOP\r\n"),
	C("a]b NOOP\r\n"),
	/* a bare LF, an empty line between commands */
	W("a NOOP\n", "a NOOP"),
	W("\r\n\r\na NOOP\r\n", "a NOOP"),
};

static void
test_canonical(void **state)
{
	bool seen[IMAP_CMD_SASL + 1] = { false };
	int nfail = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(canon); i++) {
		const char *in = canon[i].in;
		size_t len = canon[i].in_len;
		const char *want = canon[i].want != NULL ? canon[i].want : in;
		size_t want_len = canon[i].want != NULL ? canon[i].want_len :
		    len - 2;
		struct imap_cmd *cmd = parse1_len(in, len, false), *cmd2;
		struct buf w = BUF_INIT(0), w2 = BUF_INIT(0);
		char *t0, *t1;

		imap_cmd_write(&w, cmd);
		if (w.len != want_len + 2 || memcmp(w.data, want,
		    want_len) != 0 || memcmp(w.data + want_len, "\r\n", 2))
			MISMATCH(nfail, "case %zu:\n  input %s\n  want  %.*s\n"
			    "  got   %s", i, in, (int)want_len, want,
			    (const char *)w.data);
		/* the canonical text parses to itself */
		cmd2 = parse1_len((const char *)w.data, w.len, false);
		imap_cmd_write(&w2, cmd2);
		if (w2.len != w.len || memcmp(w.data, w2.data, w.len) != 0)
			MISMATCH(nfail, "case %zu: not a fixed point: %s", i,
			    (const char *)w2.data);
		assert_int_equal(cmd->kind, cmd2->kind);
		seen[cmd->kind] = true;
		assert_int_equal(cmd->size, len - (in[0] == '\r' ? 4 : 0));
		/* fed one octet at a time: the same events */
		t0 = transcript_lim(in, len, 0, NULL, false);
		t1 = transcript_lim(in, len, 1, NULL, false);
		assert_string_equal(t0, t1);
		free(t0);
		free(t1);
		imap_cmd_free(&cmd);
		imap_cmd_free(&cmd2);
		buf_free(&w);
		buf_free(&w2);
	}
	/* every command is in the table (IDLE, DONE, SASL: test_streams) */
	for (int k = IMAP_CMD_CAPABILITY; k <= IMAP_CMD_SETMETADATA; k++)
		if (!seen[k] && k != IMAP_CMD_IDLE)
			MISMATCH(nfail, "no case for %s", imap_cmd_name(k));
	if (nfail > 0)
		fail_msg("%d case(s) failed", nfail);
}

/* ---- the AST itself, beyond what the writer shows ---- */

static void
test_ast_fetch(void **state)
{
	struct imap_cmd *c = parse1("t1 UID FETCH 1:*,7 (FLAGS "
	    "body.peek[1.2.header.fields.not (From \"X-Y\")]<5.10> "
	    "BINARY[3] PREVIEW (LAZY)) (CHANGEDSINCE 9 VANISHED)\r\n");
	const struct imap_fetch *f = &c->u.fetch;
	const struct imap_fetch_att *a;

	(void)state;
	assert_int_equal(c->kind, IMAP_CMD_FETCH);
	assert_true(c->uid);
	assert_string_equal(c->tag.p, "t1");
	assert_int_equal(f->set.n, 2);
	assert_int_equal(f->set.r[0].lo, 1);
	assert_int_equal(f->set.r[0].hi, IMAP_SEQ_STAR);
	assert_int_equal(f->set.r[1].lo, 7);
	assert_int_equal(f->set.r[1].hi, 7);
	assert_int_equal(f->natt, 4);
	a = &f->att[1];
	assert_int_equal(a->kind, IMAP_FETCH_BODY_SECTION);
	assert_true(a->peek);
	assert_int_equal(a->section.npart, 2);
	assert_int_equal(a->section.part[0], 1);
	assert_int_equal(a->section.part[1], 2);
	assert_int_equal(a->section.text, IMAP_SECTION_HEADER_FIELDS_NOT);
	assert_int_equal(a->section.nfield, 2);
	assert_string_equal(a->section.field[0].p, "From");
	assert_string_equal(a->section.field[1].p, "X-Y");
	assert_string_equal(a->section.spec.p, "1.2.HEADER.FIELDS.NOT");
	assert_true(a->has_partial);
	assert_int_equal(a->partial_off, 5);
	assert_int_equal(a->partial_len, 10);
	assert_int_equal(f->att[2].kind, IMAP_FETCH_BINARY);
	assert_false(f->att[2].peek);
	assert_string_equal(f->att[2].section.spec.p, "3");
	assert_int_equal(f->att[3].kind, IMAP_FETCH_PREVIEW);
	assert_true(f->att[3].lazy);
	assert_true(f->has_changedsince);
	assert_int_equal(f->changedsince, 9);
	assert_true(f->vanished);
	assert_false(imap_cmd_uses_msn(c));
	imap_cmd_free(&c);

	c = parse1("t2 FETCH 1 (BODY[] BODY)\r\n");
	assert_int_equal(c->u.fetch.att[0].kind, IMAP_FETCH_BODY_SECTION);
	assert_string_equal(c->u.fetch.att[0].section.spec.p, "");
	assert_int_equal(c->u.fetch.att[0].section.text, IMAP_SECTION_NONE);
	assert_int_equal(c->u.fetch.att[1].kind, IMAP_FETCH_BODY);
	assert_true(imap_cmd_uses_msn(c));
	imap_cmd_free(&c);
}

static void
test_ast_search(void **state)
{
	struct imap_cmd *c = parse1("s SEARCH CHARSET utf-8 OR FROM {3+}\r\n"
	    "bob NOT (SEEN 2:4) UID $ HEADER Subject \"\"\r\n");
	const struct imap_skey *root = c->u.search.key, *k, *or1, *not1;

	(void)state;
	assert_true(c->u.search.has_charset);
	assert_string_equal(c->u.search.charset.p, "utf-8");
	assert_false(c->u.search.ret.present);
	assert_int_equal(root->kind, IMAP_SK_AND);
	assert_int_equal(root->nkids, 3);
	k = root->kids;
	assert_int_equal(k->kind, IMAP_SK_OR);
	assert_int_equal(k->nkids, 2);
	or1 = k->kids;
	assert_int_equal(or1->kind, IMAP_SK_FROM);
	assert_string_equal(or1->str.p, "bob");
	not1 = or1->next;
	assert_int_equal(not1->kind, IMAP_SK_NOT);
	assert_null(not1->next);
	assert_int_equal(not1->kids->kind, IMAP_SK_AND);
	assert_int_equal(not1->kids->nkids, 2);
	assert_int_equal(not1->kids->kids->kind, IMAP_SK_SEEN);
	assert_int_equal(not1->kids->kids->next->kind, IMAP_SK_SEQSET);
	assert_int_equal(not1->kids->kids->next->set.r[0].lo, 2);
	assert_int_equal(not1->kids->kids->next->set.r[0].hi, 4);
	k = k->next;
	assert_int_equal(k->kind, IMAP_SK_UID);
	assert_true(k->set.saved);
	k = k->next;
	assert_int_equal(k->kind, IMAP_SK_HEADER);
	assert_string_equal(k->str.p, "Subject");
	assert_int_equal(k->str2.len, 0);
	assert_null(k->next);
	assert_true(imap_cmd_uses_msn(c));
	imap_cmd_free(&c);

	/* a sequence-set key makes even UID SEARCH use message numbers */
	c = parse1("s UID SEARCH OR SEEN (DELETED 5)\r\n");
	assert_true(imap_cmd_uses_msn(c));
	imap_cmd_free(&c);
	c = parse1("s UID SEARCH RETURN (SAVE) UID 5 MODSEQ "
	    "\"/flags/\\\\Seen\" "
	    "shared 7 SINCE 29-Feb-2024 OLDER 60\r\n");
	assert_false(imap_cmd_uses_msn(c));
	assert_true(c->u.search.ret.present);
	assert_int_equal(c->u.search.ret.opts, IMAP_SRET_SAVE);
	k = c->u.search.key->kids->next;
	assert_int_equal(k->kind, IMAP_SK_MODSEQ);
	assert_true(k->has_entry);
	assert_string_equal(k->str.p, "\\Seen");
	assert_int_equal(k->entry_type, IMAP_ENTRY_SHARED);
	assert_int_equal(k->num, 7);
	k = k->next;
	assert_int_equal(k->date.year, 2024);
	assert_int_equal(k->date.month, 2);
	assert_int_equal(k->date.day, 29);
	assert_int_equal(k->next->num, 60);
	imap_cmd_free(&c);

	c = parse1("s SORT RETURN (PARTIAL -1:-10) (REVERSE DATE) UTF-8 "
	    "ALL\r\n");
	assert_int_equal(c->u.search.ncrit, 1);
	assert_true(c->u.search.crit[0].reverse);
	assert_int_equal(c->u.search.crit[0].key, IMAP_SORT_DATE);
	assert_true(c->u.search.ret.partial.from_end);
	assert_int_equal(c->u.search.ret.partial.lo, 1);
	assert_int_equal(c->u.search.ret.partial.hi, 10);
	imap_cmd_free(&c);
	c = parse1("s THREAD references UTF-8 ALL\r\n");
	assert_int_equal(c->u.search.alg, IMAP_THREAD_REFERENCES);
	imap_cmd_free(&c);
}

static void
test_ast_misc(void **state)
{
	struct imap_cmd *c;
	const struct imap_append_msg *m;

	(void)state;
	c = PARSE1("a APPEND inbox (\\Seen \\Draft kw) \"31-Dec-1999 23:59:59 "
	    "-0130\" {3+}\r\nab\0 ~{2+}\r\n\0\0\r\n");
	assert_string_equal(c->u.append.mbox.raw.p, "inbox");
	assert_string_equal(c->u.append.mbox.name.p, "INBOX");
	assert_int_equal(c->u.append.nmsg, 2);
	m = &c->u.append.msg[0];
	assert_true(m->has_flags);
	assert_int_equal(m->flags.sys, IMAP_FLAG_SEEN | IMAP_FLAG_DRAFT);
	assert_int_equal(m->flags.nkw, 1);
	assert_string_equal(m->flags.kw[0].p, "kw");
	assert_true(m->has_date);
	assert_int_equal(m->date.zone, -90);
	/* 2000-01-01 01:29:59 UTC */
	assert_int_equal(imap_datetime_to_unix(&m->date), 946690199);
	assert_int_equal(m->data.len, 3);
	assert_memory_equal(m->data.p, "ab\0", 3);
	assert_false(m->binary);
	m = &c->u.append.msg[1];
	assert_false(m->has_flags);
	assert_true(m->binary);
	assert_int_equal(m->data.len, 2);
	imap_cmd_free(&c);

	c = parse1("a SELECT INBOX (QRESYNC (9 8 1:5 (1,2 3,4)))\r\n");
	assert_true(c->u.select.qresync);
	assert_int_equal(c->u.select.uidvalidity, 9);
	assert_int_equal(c->u.select.modseq, 8);
	assert_true(c->u.select.has_known_uids);
	assert_true(c->u.select.has_seq_match);
	assert_int_equal(c->u.select.match_uid.r[1].lo, 4);
	assert_true(imap_cmd_uses_msn(c));
	imap_cmd_free(&c);

	c = parse1("a LIST (SPECIAL-USE) \"\" * RETURN (STATUS (SIZE))\r\n");
	assert_true(c->u.list.extended);
	assert_int_equal(c->u.list.sel, IMAP_LSEL_SPECIAL_USE);
	assert_int_equal(c->u.list.ret, IMAP_LRET_STATUS);
	assert_int_equal(c->u.list.status, IMAP_STATUS_SIZE);
	assert_int_equal(c->u.list.npat, 1);
	assert_string_equal(c->u.list.pat[0].name.p, "*");
	imap_cmd_free(&c);
	c = parse1("a LIST \"\" %\r\n");
	assert_false(c->u.list.extended);
	imap_cmd_free(&c);

	c = parse1("a STATUS \"&ZeVnLIqe-\" (UIDNEXT MESSAGES)\r\n");
	assert_string_equal(c->u.status.mbox.name.p,
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e");
	assert_int_equal(c->u.status.items, IMAP_STATUS_UIDNEXT |
	    IMAP_STATUS_MESSAGES);
	imap_cmd_free(&c);

	c = parse1("a NOTIFY SET (selected (MessageNew MessageExpunge "
	    "XOther)) (mailboxes x NONE)\r\n");
	assert_int_equal(c->u.notify.ngroup, 2);
	assert_int_equal(c->u.notify.group[0].events,
	    IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE);
	assert_int_equal(c->u.notify.group[0].unknown.n, 1);
	assert_string_equal(c->u.notify.group[0].unknown.v[0].p, "XOther");
	assert_int_equal(c->u.notify.group[1].filter,
	    IMAP_NOTIFY_MAILBOXES);
	assert_true(c->u.notify.group[1].none);
	imap_cmd_free(&c);

	c = PARSE1("a SETMETADATA INBOX (/private/a ~{2+}\r\n\0x /shared/b "
	    "NIL)\r\n");
	assert_int_equal(c->u.meta.nentry, 2);
	assert_true(c->u.meta.entry[0].binary);
	assert_int_equal(c->u.meta.entry[0].value.len, 2);
	assert_null(c->u.meta.entry[1].value.p);
	imap_cmd_free(&c);

	c = parse1("a ID (\"name\" NIL)\r\n");
	assert_int_equal(c->u.id.n, 1);
	assert_null(c->u.id.val[0].p);
	imap_cmd_free(&c);

	c = parse1("a AUTHENTICATE plain =\r\n");
	assert_true(c->u.auth.has_ir);
	assert_int_equal(c->u.auth.ir.len, 0);
	imap_cmd_free(&c);

	c = parse1("a STORE 1 FLAGS.SILENT \\Deleted\r\n");
	assert_int_equal(c->u.store.op, IMAP_STORE_SET);
	assert_true(c->u.store.silent);
	assert_false(c->u.store.paren);
	assert_int_equal(c->u.store.flags.sys, IMAP_FLAG_DELETED);
	imap_cmd_free(&c);

	/* UTF-8 mode: "&" is just "&" */
	c = parse1_len("a SELECT a&AOk-\r\n", 17, true);
	assert_string_equal(c->u.select.mbox.name.p, "a&AOk-");
	imap_cmd_free(&c);
	c = parse1_len("a SELECT \"caf\xc3\xa9\"\r\n", 18, false);
	assert_string_equal(c->u.select.mbox.name.p, "caf\xc3\xa9");
	imap_cmd_free(&c);
	imap_cmd_free(&c);	/* NULL is fine */
}

/* ---- literals, continuations, resync: transcripts ---- */

#define S(name, in, want)	{ name, in, sizeof(in) - 1, want }

static const struct {
	const char *name, *in;
	size_t len;
	const char *want;
} streams[] = {
	S("sync literal: + after the marker",
	    "a LOGIN {3}\r\njoe {6}\r\nsecret\r\n",
	    "+\n+\na LOGIN joe secret\n"),
	S("non-sync literal: no +",
	    "a LOGIN {3+}\r\njoe {6+}\r\nsecret\r\nb NOOP\r\n",
	    "a LOGIN joe secret\nb NOOP\n"),
	S("literal8 in APPEND",
	    "a APPEND x ~{2}\r\nhi\r\n",
	    "+\na APPEND x ~{2}\r\nhi\n"),
	S("zero-length sync literal",
	    "a SELECT {0}\r\n\r\n",
	    "+\na SELECT \"\"\n"),
	S("literal bytes are not parsed",
	    "a LOGIN {8+}\r\nb NOOP\r\n {1+}\r\n\n\r\n",
	    "a LOGIN {8}\r\nb NOOP\r\n {1}\r\n\n\n"),
	S("marker inside a quoted string is not a literal",
	    "a LOGIN x \"{3}\"\r\nb NOOP\r\n",
	    "a LOGIN x \"{3}\"\nb NOOP\n"),
	S("unterminated quote ending in a marker",
	    "a LOGIN \"x {3}\r\nb NOOP\r\n",
	    "BAD a Unterminated quoted string\nb NOOP\n"),
	S("escaped quote then a marker",
	    "a LOGIN \"x\\\" {3}\r\nb NOOP\r\n",
	    "BAD a Unterminated quoted string\nb NOOP\n"),
	S("bad command before a sync literal: no +, no data expected",
	    "a FOO {5}\r\nb NOOP\r\n",
	    "BAD a Unknown command\nb NOOP\n"),
	S("literal where none may be: rejected before +",
	    "a SELECT INBOX {5}\r\nb NOOP\r\n",
	    "BAD a Expected \"(\"\nb NOOP\n"),
	S("literal8 where only literal may be: rejected before +",
	    "a LOGIN ~{3}\r\nb NOOP\r\n",
	    "BAD a literal8 not allowed here\nb NOOP\n"),
	S("bad command with a non-sync literal: data skipped",
	    "a FOO {5+}\r\nb NOOP\r\nc NOOP\r\n",
	    "BAD a Unknown command\nc NOOP\n"),
	S("NUL in a string literal",
	    "a LOGIN {3+}\r\na\0b x\r\nb NOOP\r\n",
	    "BAD a NUL octet in a literal\nb NOOP\n"),
	S("literal marker mid-line",
	    "a LOGIN {3} x\r\nb NOOP\r\n",
	    "BAD a A literal must end the line\nb NOOP\n"),
	S("literal number overflow, sync",
	    "a LOGIN {99999999999999999999}\r\nb NOOP\r\n",
	    "BAD a Invalid literal size\nb NOOP\n"),
	S("literal number overflow, non-sync: cannot resync",
	    "a LOGIN {99999999999999999999+}\r\nb NOOP\r\n",
	    "BYE Invalid literal size\n"),
	S("IDLE and DONE",
	    "a IDLE\r\ndone\r\nb NOOP\r\n",
	    "a IDLE\nDONE\nb NOOP\n"),
	S("IDLE and something else",
	    "a IDLE\r\nb NOOP\r\nc NOOP\r\n",
	    "a IDLE\nBAD * Expected DONE\nc NOOP\n"),
	S("AUTHENTICATE and its SASL lines",
	    "a AUTHENTICATE PLAIN\r\nAGpvZQBzZWNyZXQ=\r\nb AUTHENTICATE "
	    "LOGIN\r\n*\r\nc AUTHENTICATE X\r\n\r\nd AUTHENTICATE Y\r\nnot "
	    "base64\r\ne NOOP\r\n",
	    "a AUTHENTICATE PLAIN\nAGpvZQBzZWNyZXQ=\nb AUTHENTICATE "
	    "LOGIN\n*\nc AUTHENTICATE X\n\nd AUTHENTICATE Y\nBAD * Invalid "
	    "base64\ne NOOP\n"),
	S("pipelined commands",
	    "a NOOP\r\nb CAPABILITY\r\nc LOGOUT\r\n",
	    "a NOOP\nb CAPABILITY\nc LOGOUT\n"),
};

static void
test_streams(void **state)
{
	int nfail = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(streams); i++) {
		size_t len = streams[i].len;

		{
			char *t0 = transcript_lim(streams[i].in, len, 0, NULL,
			    false);
			char *t1 = transcript_lim(streams[i].in, len, 1, NULL,
			    false);

			if (strcmp(t0, streams[i].want) != 0)
				MISMATCH(nfail, "%s:\n  want %s\n  got  %s",
				    streams[i].name, streams[i].want, t0);
			if (strcmp(t1, streams[i].want) != 0)
				MISMATCH(nfail, "%s, 1 octet at a time:\n"
				    "  want %s\n  got  %s", streams[i].name,
				    streams[i].want, t1);
			free(t0);
			free(t1);
		}
	}
	if (nfail > 0)
		fail_msg("%d case(s) failed", nfail);
}

/* ---- malformed input: the error, then the next command works ---- */

#define E(in, err)	{ in, sizeof(in) - 1, err }

static const struct {
	const char *in;
	size_t len;
	const char *err;	/* the whole error line */
} bad[] = {
	E("*x NOOP", "BAD * Invalid tag"),
	E("+ NOOP", "BAD * Invalid tag"),
	E("(a NOOP", "BAD * Invalid tag"),
	E(" NOOP", "BAD * Invalid tag"),
	E("a", "BAD a Missing command"),
	E("a ", "BAD a Missing argument"),
	E("a  NOOP", "BAD a Expected a keyword"),
	E("a FROB", "BAD a Unknown command"),
	E("a UID NOOP", "BAD a Unknown UID command"),
	E("a UID", "BAD a Missing argument"),
	E("a NOOP x", "BAD a Unexpected extra argument"),
	E("a NOOP ", "BAD a Unexpected extra argument"),
	E("a LOGIN joe", "BAD a Missing argument"),
	E("a LOGIN joe ", "BAD a Missing argument"),
	E("a LOGIN \"joe", "BAD a Unterminated quoted string"),
	E("a LOGIN \"j\\oe\" x", "BAD a Invalid escape in quoted string"),
	E("a LOGIN (joe) x", "BAD a Expected a string"),
	E("a SELECT", "BAD a Missing argument"),
	E("a SELECT INBOX (FOO)", "BAD a Unknown or repeated SELECT parameter"),
	E("a SELECT INBOX (CONDSTORE CONDSTORE)",
	    "BAD a Unknown or repeated SELECT parameter"),
	E("a SELECT INBOX (QRESYNC (0 1))", "BAD a Expected a non-zero number"),
	E("a SELECT INBOX (QRESYNC (1 1 1:2 3))", "BAD a Expected \"(\""),
	E("a SELECT &Jjo", "BAD a Mailbox name is not valid modified UTF-7"),
	E("a SELECT &AGE-", "BAD a Mailbox name is not valid modified UTF-7"),
	E("a SELECT \"\xff\"", "BAD a Mailbox name is not valid UTF-8"),
	E("a CREATE x (USE (\\Bogus))",
	    "NO a [USEATTR] Unsupported special-use attribute"),
	E("a CREATE x (FOO)", "BAD a Unknown CREATE parameter"),
	E("a STATUS INBOX ()", "BAD a Expected a keyword"),
	E("a STATUS INBOX (FOO)", "BAD a Unknown STATUS item"),
	E("a STATUS INBOX MESSAGES", "BAD a Expected \"(\""),
	E("a LIST (RECURSIVEMATCH) \"\" *",
	    "BAD a RECURSIVEMATCH needs another selection option"),
	E("a LIST (FOO) \"\" *", "BAD a Unknown LIST option"),
	E("a LIST \"\" * RETURN (FOO)", "BAD a Unknown LIST option"),
	E("a LIST \"\" * FOO ()", "BAD a Expected RETURN"),
	E("a LIST \"\" ()", "BAD a Expected a mailbox pattern"),
	E("a APPEND INBOX", "BAD a Missing argument"),
	E("a APPEND INBOX (\\Seen)", "BAD a Missing argument"),
	E("a APPEND INBOX \"x\" {1+}\r\nx", "BAD a Invalid date"),
	E("a APPEND INBOX \"30-Feb-2020 00:00:00 +0000\" {1+}\r\nx",
	    "BAD a Invalid day in date"),
	E("a APPEND INBOX \"01-Feb-2020 24:00:00 +0000\" {1+}\r\nx",
	    "BAD a Invalid time"),
	E("a APPEND INBOX \"01-Foo-2020 00:00:00 +0000\" {1+}\r\nx",
	    "BAD a Invalid month in date"),
	E("a APPEND INBOX (\\Recent) {1+}\r\nx",
	    "BAD a \\Recent cannot be set"),
	E("a APPEND INBOX (\\Foo) {1+}\r\nx", "BAD a Invalid system flag"),
	E("a APPEND INBOX UTF8 ({1+}\r\nx)",
	    "BAD a UTF8 data must be a literal8"),
	E("a APPEND INBOX hello", "BAD a Expected a message literal"),
	E("a STORE 1 FLAGS", "BAD a Missing argument"),
	E("a STORE 1 +FLAGS.LOUD \\Seen", "BAD a Invalid STORE data item"),
	E("a STORE 1 (FOO 1) FLAGS \\Seen",
	    "BAD a Unknown or repeated STORE modifier"),
	E("a STORE 0 FLAGS \\Seen", "BAD a Expected a non-zero number"),
	E("a STORE 01 FLAGS \\Seen", "BAD a Expected a non-zero number"),
	E("a STORE 4294967296 FLAGS \\Seen", "BAD a Number out of range"),
	E("a STORE 1: FLAGS \\Seen", "BAD a Expected a number"),
	E("a STORE 1,,2 FLAGS \\Seen", "BAD a Expected a number"),
	E("a STORE $,1 FLAGS \\Seen", "BAD a Expected a space"),
	E("a COPY 1", "BAD a Missing argument"),
	E("a FETCH 1", "BAD a Missing argument"),
	E("a FETCH 1 ()", "BAD a Expected a keyword"),
	E("a FETCH 1 FOO", "BAD a Invalid fetch attribute"),
	E("a FETCH 1 (ALL)", "BAD a Invalid fetch attribute"),
	E("a FETCH 1 BODY[", "BAD a Missing argument"),
	E("a FETCH 1 BODY[1.]", "BAD a Expected a keyword"),
	E("a FETCH 1 BODY[0]", "BAD a Expected a non-zero number"),
	E("a FETCH 1 BODY[MIME]", "BAD a Invalid section"),
	E("a FETCH 1 BODY[1X]", "BAD a Invalid section"),
	E("a FETCH 1 BODY[HEADER.FIELDS]", "BAD a Expected a space"),
	E("a FETCH 1 BODY[HEADER.FIELDS ()]", "BAD a Expected a string"),
	E("a FETCH 1 BODY[HEADER.FIELDS (a:b)]",
	    "BAD a Invalid header field name"),
	E("a FETCH 1 BINARY[HEADER]", "BAD a Invalid section"),
	E("a FETCH 1 BINARY.SIZE", "BAD a Missing argument"),
	E("a FETCH 1 BODY.PEEK", "BAD a Missing argument"),
	E("a FETCH 1 BODY[]<1>", "BAD a Invalid partial"),
	E("a FETCH 1 BODY[]<1.0>", "BAD a Expected a non-zero number"),
	E("a FETCH 1 FLAGS (VANISHED)",
	    "BAD a VANISHED needs UID FETCH and CHANGEDSINCE"),
	E("a UID FETCH 1 FLAGS (VANISHED)",
	    "BAD a VANISHED needs UID FETCH and CHANGEDSINCE"),
	E("a FETCH 1 FLAGS (CHANGEDSINCE 0)", "BAD a CHANGEDSINCE 0"),
	E("a FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)",
	    "BAD a Unknown or repeated FETCH modifier"),
	E("a FETCH 1 FLAGS (PARTIAL 1:-2)", "BAD a Expected a number"),
	E("a FETCH 1 PREVIEW (FOO)",
	    "BAD a Unknown or repeated FETCH modifier"),
	E("a SEARCH", "BAD a Missing argument"),
	E("a SEARCH ", "BAD a Missing argument"),
	E("a SEARCH FOO", "BAD a Unknown search key"),
	E("a SEARCH ()", "BAD a Expected a keyword"),
	E("a SEARCH (ALL", "BAD a Missing argument"),
	E("a SEARCH ALL)", "BAD a Unexpected character"),
	E("a SEARCH NOT", "BAD a Missing argument"),
	E("a SEARCH OR ALL", "BAD a Missing argument"),
	E("a SEARCH SINCE 32-Jan-2020", "BAD a Invalid day in date"),
	E("a SEARCH SINCE 1-Jan-20", "BAD a Missing argument"),
	E("a SEARCH LARGER x", "BAD a Expected a number"),
	E("a SEARCH LARGER 9223372036854775808", "BAD a Number out of range"),
	E("a SEARCH OLDER 0", "BAD a Expected a non-zero number"),
	E("a SEARCH KEYWORD \\Seen", "BAD a Expected an atom"),
	E("a SEARCH EMAILID a.b", "BAD a Invalid object id"),
	E("a SEARCH MODSEQ \"/x\" all 1", "BAD a Invalid MODSEQ entry name"),
	E("a SEARCH MODSEQ \"/flags/x\" every 1",
	    "BAD a Invalid MODSEQ entry type"),
	E("a SEARCH RETURN (FOO) ALL", "BAD a Unknown RETURN option"),
	E("a SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL",
	    "BAD a Repeated PARTIAL"),
	E("a SEARCH CHARSET", "BAD a Missing argument"),
	E("a SORT (DATE) ALL", "BAD a Missing argument"),
	E("a SORT () UTF-8 ALL", "BAD a Expected a keyword"),
	E("a SORT (NAME) UTF-8 ALL", "BAD a Unknown sort criterion"),
	E("a THREAD REFERENCES ALL", "BAD a Missing argument"),
	E("a ID (\"a\")", "BAD a Expected a space"),
	E("a ID (a b)", "BAD a Expected a string"),
	E("a ID (\"0123456789012345678901234567890\" NIL)",
	    "BAD a ID: more than 30 fields, or a field or value too long"),
	E("a ENABLE", "BAD a Missing argument"),
	E("a AUTHENTICATE PLAIN AGpvZQ",
	    "BAD a Invalid base64 initial response"),
	E("a AUTHENTICATE PLAIN ==", "BAD a Invalid base64 initial response"),
	E("a NOTIFY SET", "BAD a Missing argument"),
	E("a NOTIFY GET", "BAD a Expected NOTIFY SET or NONE"),
	E("a NOTIFY SET (nowhere NONE)", "BAD a Unknown NOTIFY mailbox filter"),
	E("a NOTIFY SET (selected (MessageNew))",
	    "BAD a MessageNew and MessageExpunge go together"),
	E("a NOTIFY SET (selected (FlagChange))",
	    "BAD a FlagChange and AnnotationChange need MessageNew and "
	    "MessageExpunge"),
	E("a NOTIFY SET (subtree NONE)", "BAD a Expected a space"),
	E("a GETMETADATA INBOX private", "BAD a Invalid metadata entry name"),
	E("a GETMETADATA INBOX /other/x", "BAD a Invalid metadata entry name"),
	E("a GETMETADATA INBOX /shared//x",
	    "BAD a Invalid metadata entry name"),
	E("a GETMETADATA INBOX /shared/", "BAD a Invalid metadata entry name"),
	E("a GETMETADATA (DEPTH 2) INBOX /shared", "BAD a Invalid DEPTH"),
	E("a GETMETADATA (MAXSIZE 1 MAXSIZE 1) INBOX /shared",
	    "BAD a Unknown or repeated GETMETADATA option"),
	E("a SETMETADATA INBOX (/shared/x)", "BAD a Expected a space"),
	E("a SETMETADATA INBOX (/shared/x {2+}\r\n\0x)",
	    "BAD a NUL octet in a literal"),
	E("a SETQUOTA x (STORAGE)", "BAD a Expected a space"),
	E("a SETQUOTA x (STORAGE -1)", "BAD a Expected a number"),
	E("a COMPRESS", "BAD a Missing argument"),
	E("a EXPUNGE 1", "BAD a Unexpected extra argument"),
	E("a UID EXPUNGE", "BAD a Missing argument"),
	E("a LOGIN a\tb c", "BAD a Expected a space"),
	E("a LOGIN a\rb c", "BAD a Expected a space"),
};

static void
test_bad(void **state)
{
	int nfail = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct buf in = BUF_INIT(0), want = BUF_INIT(0);
		char *t0, *t1;

		buf_add(&in, bad[i].in, bad[i].len);
		buf_add_str(&in, "\r\nz NOOP\r\n");
		buf_addf(&want, "%s\nz NOOP\n", bad[i].err);
		t0 = transcript_lim((const char *)in.data, in.len, 0, NULL,
		    false);
		t1 = transcript_lim((const char *)in.data, in.len, 1, NULL,
		    false);
		if (strcmp(t0, (const char *)want.data) != 0)
			MISMATCH(nfail, "case %zu: %s\n  want %s  got  %s", i,
			    bad[i].in, (const char *)want.data, t0);
		assert_string_equal(t0, t1);
		free(t0);
		free(t1);
		buf_free(&in);
		buf_free(&want);
	}
	if (nfail > 0)
		fail_msg("%d case(s) failed", nfail);
}

/* ---- limits ---- */

struct limit_case {
	const char *name;
	const char *in;
	size_t len;
	const char *want;
	/* overrides of the authenticated defaults; 0 keeps the default */
	size_t max_line;
	uint64_t max_literal, max_append, max_command, max_skip;
	unsigned max_depth, max_items, max_literals;
	bool literal_minus;
};

#define L(name, in, want, ...) \
	{ name, in, sizeof(in) - 1, want, __VA_ARGS__ }

static const struct limit_case limit_cases[] = {
	L("line at max_line", "a SELECT abcdefghi\r\nb NOOP\r\n",
	    "a SELECT abcdefghi\nb NOOP\n", .max_line = 18),
	L("line one over max_line", "a SELECT abcdefghij\r\nb NOOP\r\n",
	    "BAD a Line too long\nb NOOP\n", .max_line = 18),
	L("line at max_line, CR pending", "a SELECT abcdefghi\r",
	    "", .max_line = 18),
	L("line at max_line, bare LF", "a SELECT abcdefghi\n",
	    "a SELECT abcdefghi\n", .max_line = 18),
	L("long line, no LF yet", "a LOGIN abcdefghijklmnopqrstuvwxyz",
	    "BAD a Line too long\n", .max_line = 18),
	L("long line, then the next command",
	    "a LOGIN abcdefghijklmnopqrstuvwxyz 1 2 3\r\nb NOOP\r\n",
	    "BAD a Line too long\nb NOOP\n", .max_line = 18),
	L("long line: untagged when the tag is not whole",
	    "abcdefghijklmnopqrstuvwxyz NOOP\r\nb NOOP\r\n",
	    "BAD * Line too long\nb NOOP\n", .max_line = 18),
	L("long line ending in {n+}: its data skipped too",
	    "a LOGIN abcdefghijklmnopqrstuvwxyz {5+}\r\nb NOP c {3+}\r\n"
	    "d N\r\ne NOOP\r\n",
	    "BAD a Line too long\ne NOOP\n", .max_line = 18),
	L("long line ending in {n}: no data comes",
	    "a LOGIN abcdefghijklmnopqrstuvwxyz {5}\r\nb NOOP\r\n",
	    "BAD a Line too long\nb NOOP\n", .max_line = 18),
	L("long line with {n+} in a quoted string",
	    "a LOGIN \"abcdefghijklmnopqrstuvwxyz {5+}\r\nb NOOP\r\n",
	    "BAD a Line too long\nb NOOP\n", .max_line = 18),
	L("max_line counts all lines of a command",
	    "a LOGIN {5+}\r\nhello abcdefghijklmnop\r\nb NOOP\r\n",
	    "BAD a Line too long\nb NOOP\n", .max_line = 18),
	L("literal at max_literal", "a LOGIN {4}\r\nabcd x\r\n",
	    "+\na LOGIN abcd x\n", .max_literal = 4),
	L("sync literal over max_literal: no +, no data",
	    "a LOGIN {5}\r\nb NOOP\r\n",
	    "BAD a [TOOBIG] Literal too big\nb NOOP\n", .max_literal = 4),
	L("non-sync literal over max_literal: data skipped",
	    "a LOGIN {5+}\r\nb NOP x {1+}\r\ny\r\nc NOOP\r\n",
	    "BAD a [TOOBIG] Literal too big\nc NOOP\n", .max_literal = 4),
	L("APPEND message may pass max_literal",
	    "a APPEND INBOX {10+}\r\n0123456789\r\n",
	    "a APPEND INBOX {10}\r\n0123456789\n", .max_literal = 4,
	    .max_append = 10),
	L("APPEND mailbox may not",
	    "a APPEND {10+}\r\n0123456789 {1+}\r\nx\r\nb NOOP\r\n",
	    "BAD a [TOOBIG] Literal too big\nb NOOP\n", .max_literal = 4,
	    .max_append = 10),
	L("APPEND message over max_append: NO [TOOBIG]",
	    "a APPEND INBOX {11}\r\nb NOOP\r\n",
	    "NO a [TOOBIG] Message too big\nb NOOP\n", .max_literal = 4,
	    .max_append = 10),
	L("second APPEND message over max_append, non-sync",
	    "a APPEND INBOX {1+}\r\nx {11+}\r\n01234567890\r\nb NOOP\r\n",
	    "NO a [TOOBIG] Message too big\nb NOOP\n", .max_literal = 4,
	    .max_append = 10),
	L("APPEND message after a bad date: BAD before +",
	    "a APPEND INBOX \"x\" {11}\r\nb NOOP\r\n",
	    "BAD a Invalid date\nb NOOP\n", .max_literal = 4,
	    .max_append = 10),
	L("LITERAL-: {4096+} is fine",
	    "a LOGIN x {4096+}\r\n", "", .literal_minus = true),
	L("LITERAL-: {4097+} is BAD [TOOBIG], skipped",
	    "a APPEND INBOX {4097+}\r\n", "BAD a [TOOBIG] Non-synchronizing "
	    "literal over 4096 octets\n", .literal_minus = true),
	L("LITERAL-: {4097} is fine",
	    "a APPEND INBOX {4097}\r\n", "+\n", .literal_minus = true),
	L("max_literals",
	    "a SETMETADATA x (/shared/a {1+}\r\na /shared/b {1+}\r\nb "
	    "/shared/c {1+}\r\nc)\r\nb NOOP\r\n",
	    "BAD a Too many literals\nb NOOP\n", .max_literals = 2),
	L("max_literals, sync",
	    "a SETMETADATA x (/shared/a {1}\r\na /shared/b {1}\r\nb "
	    "/shared/c {1}\r\nb NOOP\r\n",
	    "+\n+\nBAD a Too many literals\nb NOOP\n", .max_literals = 2),
	L("max_command",
	    "a LOGIN {90}\r\nb NOOP\r\n",
	    "BAD a [TOOBIG] Command too big\nb NOOP\n", .max_command = 100),
	L("max_depth: parentheses",
	    "a SEARCH (((ALL)))\r\nb SEARCH ((((ALL))))\r\n",
	    "a SEARCH (((ALL)))\nBAD b Too deeply nested\n", .max_depth = 3),
	L("max_depth: NOT and OR",
	    "a SEARCH NOT NOT NOT ALL\r\nb SEARCH OR OR OR OR ALL ALL ALL "
	    "ALL ALL\r\n",
	    "a SEARCH NOT NOT NOT ALL\nBAD b Too deeply nested\n",
	    .max_depth = 3),
	L("max_items: sequence set",
	    "a FETCH 1,2,3 UID\r\nb FETCH 1,2,3,4 UID\r\n",
	    "a FETCH 1,2,3 UID\nBAD b Too many items in a list\n",
	    .max_items = 3),
	L("max_items: search keys",
	    "a SEARCH ALL ALL ALL\r\nb SEARCH ALL (ALL ALL ALL ALL)\r\n",
	    "a SEARCH ALL ALL ALL\nBAD b Too many search keys\n",
	    .max_items = 3),
	L("max_items: fetch attributes",
	    "a FETCH 1 (UID UID UID UID)\r\n",
	    "BAD a Too many items in a list\n", .max_items = 3),
	L("max_skip: a literal too big to skip",
	    "a LOGIN {100+}\r\nb NOOP\r\n", "BYE Literal too big to skip\n",
	    .max_literal = 4, .max_skip = 50),
	L("max_skip: a line too long to skip",
	    "a LOGIN abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
	    "abcdefghijklmnopqrstuvwxyz\r\nb NOOP\r\n",
	    "BAD a Line too long\nBYE Too much invalid input\n",
	    .max_line = 18, .max_skip = 50),
	L("max_skip: the dropped bytes add up",
	    "a LOGIN {30+}\r\n012345678901234567890123456789 {30+}\r\n"
	    "012345678901234567890123456789\r\nb NOOP\r\n",
	    "BAD a [TOOBIG] Literal too big\nBYE Literal too big to skip\n",
	    .max_literal = 4, .max_skip = 50),
};

static void
test_limits(void **state)
{
	int nfail = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(limit_cases); i++) {
		const struct limit_case *c = &limit_cases[i];
		struct imap_limits lim;
		char *t0, *t1;

		imap_limits_default(&lim, true);
		if (c->max_line)
			lim.max_line = c->max_line;
		if (c->max_literal)
			lim.max_literal = c->max_literal;
		if (c->max_append)
			lim.max_append = c->max_append;
		if (c->max_command)
			lim.max_command = c->max_command;
		if (c->max_skip)
			lim.max_skip = c->max_skip;
		if (c->max_depth)
			lim.max_depth = c->max_depth;
		if (c->max_items)
			lim.max_items = c->max_items;
		if (c->max_literals)
			lim.max_literals = c->max_literals;
		lim.literal_minus = c->literal_minus;
		t0 = transcript_lim(c->in, c->len, 0, &lim, false);
		t1 = transcript_lim(c->in, c->len, 1, &lim, false);
		if (strcmp(t0, c->want) != 0)
			MISMATCH(nfail, "%s:\n  want %s\n  got  %s", c->name,
			    c->want, t0);
		if (strcmp(t1, c->want) != 0)
			MISMATCH(nfail, "%s, 1 octet at a time:\n  want %s\n"
			    "  got  %s", c->name, c->want, t1);
		free(t0);
		free(t1);
	}
	if (nfail > 0)
		fail_msg("%d case(s) failed", nfail);
}

static void
test_literal_minus_skip(void **state)
{
	struct imap_limits lim;
	struct buf in = BUF_INIT(0);
	char *t;

	(void)state;
	imap_limits_default(&lim, true);
	lim.literal_minus = true;
	buf_add_str(&in, "a APPEND INBOX {4097+}\r\n");
	for (int i = 0; i < 4097; i++)
		buf_add(&in, "\n", 1);	/* LFs inside a literal mean nothing */
	buf_add_str(&in, " {2+}\r\nxy\r\nb NOOP\r\nc APPEND INBOX {4096+}\r\n");
	for (int i = 0; i < 4096; i++)
		buf_add(&in, "x", 1);
	buf_add_str(&in, "\r\n");
	for (size_t chunk = 0; chunk < 2000; chunk += 999) {
		static const char want[] = "BAD a [TOOBIG] Non-synchronizing "
		    "literal over 4096 octets\nb NOOP\nc APPEND INBOX {4096}"
		    "\r\nxxx";

		t = transcript_lim((const char *)in.data, in.len, chunk, &lim,
		    false);
		assert_int_equal(strncmp(t, want, sizeof(want) - 1), 0);
		assert_int_equal(strlen(t), sizeof(want) - 1 - 3 + 4096 + 1);
		free(t);
	}
	buf_free(&in);
}

static void
test_preauth_defaults(void **state)
{
	struct imap_limits lim;
	char *t;

	(void)state;
	imap_limits_default(&lim, false);
	assert_int_equal(lim.max_append, 0);
	assert_true(lim.max_line < 65536);
	t = transcript_lim("a APPEND INBOX {1}\r\nb LOGIN {9000}\r\n", 37, 0,
	    &lim, false);
	assert_string_equal(t, "NO a [TOOBIG] Message too big\n"
	    "BAD b [TOOBIG] Literal too big\n");
	free(t);
}

static void
test_fatal_sticks(void **state)
{
	struct imap_parser *p = imap_parser_new(NULL);
	struct imap_parse_error err;
	struct imap_cmd *cmd;
	size_t used;
	const char *in = "a LOGIN {99999999999999999999+}\r\n";

	(void)state;
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)in,
	    strlen(in), &used, &cmd, &err), IMAP_PARSE_BAD);
	assert_true(err.fatal);
	assert_null(cmd);
	assert_int_equal(imap_parser_feed(p,
	    (const unsigned char *)"b NOOP\r\n", 8, &used, &cmd, &err),
	    IMAP_PARSE_BAD);
	assert_true(err.fatal);
	assert_int_equal(used, 0);
	imap_parser_free(&p);
	imap_parser_free(&p);	/* NULL is fine */
}

static void
test_idle_state(void **state)
{
	struct imap_limits lim;
	struct imap_parser *p;
	struct imap_parse_error err;
	struct imap_cmd *cmd;
	size_t used;

	(void)state;
	imap_limits_default(&lim, false);
	p = imap_parser_new(&lim);
	assert_true(imap_parser_is_idle(p));
	assert_int_equal(imap_parser_feed(p, (const unsigned char *)"a NO", 4,
	    &used, &cmd, &err), IMAP_PARSE_MORE);
	assert_int_equal(used, 4);
	assert_false(imap_parser_is_idle(p));
	/* the parser stops at the end of a command, not past it */
	assert_int_equal(imap_parser_feed(p,
	    (const unsigned char *)"OP\r\nb NOOP\r\n", 12, &used, &cmd, &err),
	    IMAP_PARSE_CMD);
	assert_int_equal(used, 4);
	assert_int_equal(cmd->size, 8);
	assert_true(imap_parser_is_idle(p));
	imap_cmd_free(&cmd);
	/* raised limits from the next command on */
	imap_limits_default(&lim, true);
	imap_parser_set_limits(p, &lim);
	assert_int_equal(imap_parser_feed(p,
	    (const unsigned char *)"c APPEND x {9+}\r\n123456789\r\n", 28,
	    &used, &cmd, &err), IMAP_PARSE_CMD);
	assert_int_equal(cmd->u.append.msg[0].data.len, 9);
	imap_cmd_free(&cmd);
	imap_parser_free(&p);
}

/* ---- modified UTF-7 ---- */

static const struct {
	const char *mutf7, *utf8;
} mutf7_ok[] = {
	{ "", "" },
	{ "INBOX", "INBOX" },
	{ "&-", "&" },
	{ "a&-b&-", "a&b&" },
	{ "&AOk-", "\xc3\xa9" },
	{ "caf&AOk-", "caf\xc3\xa9" },
	{ "&AOkA6Q-", "\xc3\xa9\xc3\xa9" },
	{ "&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-",
	  "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
	  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ "&2D3eAA-", "\xf0\x9f\x98\x80" },
	{ "&AAk-", "\t" },
	{ "&-&AOk-", "&\xc3\xa9" },
	{ "&AOk-&-", "\xc3\xa9&" },
};

static const char *const mutf7_bad[] = {
	"&", "&AOk", "&AOk-&AOk-", "&AGE-", "&ACY-", "&AAA-", "&2D0-",
	"&3gA-", "&2D3YPQ-", "&A-", "&AOl-", "&AOkA-", "&Jjo!-", "\x01",
	"\xc3\xa9", "a\tb", "&AOk/-", "\x7f",
};

static void
test_mutf7(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(mutf7_ok); i++) {
		struct buf d = BUF_INIT(0), e = BUF_INIT(0);
		const char *m = mutf7_ok[i].mutf7, *u = mutf7_ok[i].utf8;

		if (imap_mutf7_decode(m, strlen(m), &d) < 0)
			fail_msg("decode %s failed", m);
		assert_int_equal(d.len, strlen(u));
		assert_memory_equal(buf_cstr(&d), u, d.len);
		assert_int_equal(imap_mutf7_encode(u, strlen(u), &e), 0);
		assert_string_equal(buf_cstr(&e), m);
		buf_free(&d);
		buf_free(&e);
	}
	for (size_t i = 0; i < ARRAY_SIZE(mutf7_bad); i++) {
		struct buf d = BUF_INIT(0);

		buf_add_str(&d, "keep");
		if (imap_mutf7_decode(mutf7_bad[i], strlen(mutf7_bad[i]),
		    &d) == 0)
			fail_msg("decode %s: should fail, gave %s",
			    mutf7_bad[i], buf_cstr(&d));
		assert_string_equal(buf_cstr(&d), "keep");
		buf_free(&d);
	}
	{
		struct buf e = BUF_INIT(0), small = BUF_INIT(3);

		/* fuzz crasher: an empty name with no buffer behind it */
		assert_int_equal(imap_mutf7_encode(NULL, 0, &e), 0);
		assert_int_equal(imap_mutf7_decode(NULL, 0, &e), 0);
		assert_int_equal(imap_mutf7_encode("\xff", 1, &e), -1);
		assert_int_equal(imap_mutf7_encode("a\0b", 3, &e), -1);
		assert_int_equal(imap_mutf7_encode("\xc3\xa9", 2, &small), -1);
		assert_int_equal(small.len, 0);
		assert_int_equal(imap_mutf7_decode("abcd", 4, &small), -1);
		assert_int_equal(small.len, 0);
		assert_int_equal(e.len, 0);
		buf_free(&e);
		buf_free(&small);
	}
	assert_true(imap_utf8_is_valid("\xf0\x9f\x98\x80", 4));
	assert_false(imap_utf8_is_valid("\xed\xa0\x80", 3));	/* surrogate */
	assert_false(imap_utf8_is_valid("\xc0\x80", 2));	/* overlong */
	assert_false(imap_utf8_is_valid("\xf4\x90\x80\x80", 4));
	assert_false(imap_utf8_is_valid("\xe2\x82", 2));
}

/* ---- response writers ---- */

static void
test_writers(void **state)
{
#define WR(in, utf8, astring, string) { in, sizeof(in) - 1, utf8, astring, \
	sizeof(astring) - 1, string, sizeof(string) - 1 }
	static const struct {
		const char *in;
		size_t len;
		bool utf8;
		const char *astring;
		size_t alen;
		const char *string;
		size_t slen;
	} w[] = {
		WR("abc", false, "abc", "\"abc\""),
		WR("", false, "\"\"", "\"\""),
		WR("NIL", false, "\"NIL\"", "\"NIL\""),
		WR("nil", false, "\"nil\"", "\"nil\""),
		WR("a b", false, "\"a b\"", "\"a b\""),
		WR("a\"b\\", false, "\"a\\\"b\\\\\"", "\"a\\\"b\\\\\""),
		WR("]x", false, "]x", "\"]x\""),
		WR("%*", false, "\"%*\"", "\"%*\""),
		WR("{3}", false, "\"{3}\"", "\"{3}\""),
		WR("a\r\nb", false, "{4}\r\na\r\nb", "{4}\r\na\r\nb"),
		WR("a\0b", false, "{3}\r\na\0b", "{3}\r\na\0b"),
		WR("\xc3\xa9", false, "{2}\r\n\xc3\xa9", "{2}\r\n\xc3\xa9"),
		WR("\xc3\xa9", true, "\"\xc3\xa9\"", "\"\xc3\xa9\""),
		WR("\xff", true, "{1}\r\n\xff", "{1}\r\n\xff"),
	};
	struct buf b = BUF_INIT(0);
	char big[IMAP_QUOTED_MAX + 1];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(w); i++) {
		buf_reset(&b);
		imap_write_astring(&b, w[i].in, w[i].len, w[i].utf8);
		assert_int_equal(b.len, w[i].alen);
		assert_memory_equal(b.data, w[i].astring, b.len);
		buf_reset(&b);
		imap_write_string(&b, w[i].in, w[i].len, w[i].utf8);
		assert_int_equal(b.len, w[i].slen);
		assert_memory_equal(b.data, w[i].string, b.len);
	}
	buf_reset(&b);
	imap_write_nstring(&b, NULL, 0, false);
	imap_write_nstring(&b, "x", 1, false);
	assert_string_equal(buf_cstr(&b), "NIL\"x\"");
	buf_reset(&b);
	imap_write_literal(&b, "ab", 2, true);
	assert_string_equal(buf_cstr(&b), "~{2}\r\nab");
	memset(big, 'a', sizeof(big));
	buf_reset(&b);
	imap_write_string(&b, big, IMAP_QUOTED_MAX, false);
	assert_int_equal(b.data[0], '"');
	buf_reset(&b);
	imap_write_string(&b, big, sizeof(big), false);
	assert_int_equal(strncmp(buf_cstr(&b), "{1025}\r\n", 8), 0);

	buf_reset(&b);
	imap_write_mailbox(&b, "INBOX", 5, false);
	buf_add_str(&b, " ");
	imap_write_mailbox(&b, "caf\xc3\xa9", 5, false);
	buf_add_str(&b, " ");
	imap_write_mailbox(&b, "caf\xc3\xa9", 5, true);
	buf_add_str(&b, " ");
	imap_write_mailbox(&b, "a b&", 4, false);
	buf_add_str(&b, " ");
	imap_write_mailbox(&b, "\xff", 1, false);
	assert_string_equal(buf_cstr(&b), "INBOX caf&AOk- \"caf\xc3\xa9\" "
	    "\"a b&-\" {1}\r\n\xff");

	buf_reset(&b);
	imap_write_u64(&b, UINT64_MAX);
	assert_string_equal(buf_cstr(&b), "18446744073709551615");

	{
		static const uint32_t v1[] = { 1, 2, 3, 5, 7, 8, 9 };
		static const uint32_t v2[] = { 4 };
		static const uint32_t v3[] = { 1, 1, 2, 4, 4 };
		static const uint32_t v4[] = { 4294967294u, 4294967295u };

		buf_reset(&b);
		imap_write_uidset(&b, v1, ARRAY_SIZE(v1));
		buf_add_str(&b, " ");
		imap_write_uidset(&b, v2, ARRAY_SIZE(v2));
		buf_add_str(&b, " ");
		imap_write_uidset(&b, v3, ARRAY_SIZE(v3));
		buf_add_str(&b, " ");
		imap_write_uidset(&b, v4, ARRAY_SIZE(v4));
		buf_add_str(&b, " ");
		imap_write_uidset(&b, v1, 0);
		assert_string_equal(buf_cstr(&b),
		    "1:3,5,7:9 4 1:2,4 4294967294:4294967295 ");
	}
	{
		struct imap_cmd *c = parse1("a FETCH 1,*:4,4294967295,2:2 "
		    "UID\r\n");

		buf_reset(&b);
		imap_write_seqset(&b, &c->u.fetch.set);
		assert_string_equal(buf_cstr(&b), "1,*:4,4294967295,2");
		imap_cmd_free(&c);
		c = parse1("a FETCH $ UID\r\n");
		buf_reset(&b);
		imap_write_seqset(&b, &c->u.fetch.set);
		assert_string_equal(buf_cstr(&b), "$");
		assert_true(c->u.fetch.set.saved);
		assert_int_equal(c->u.fetch.set.n, 0);
		imap_cmd_free(&c);
	}
	buf_free(&b);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(imap_cmd_name(IMAP_CMD_FETCH), "FETCH");
	assert_string_equal(imap_cmd_name(IMAP_CMD_GETMETADATA),
	    "GETMETADATA");
	assert_string_equal(imap_cmd_name(IMAP_CMD_DONE), "DONE");
	assert_string_equal(imap_cmd_name(IMAP_CMD_SASL), "SASL");
	for (int k = IMAP_CMD_CAPABILITY; k <= IMAP_CMD_SETMETADATA; k++)
		assert_string_not_equal(imap_cmd_name(k), "UNKNOWN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_ast_fetch),
		cmocka_unit_test(test_ast_search),
		cmocka_unit_test(test_ast_misc),
		cmocka_unit_test(test_streams),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_literal_minus_skip),
		cmocka_unit_test(test_preauth_defaults),
		cmocka_unit_test(test_fatal_sticks),
		cmocka_unit_test(test_idle_state),
		cmocka_unit_test(test_mutf7),
		cmocka_unit_test(test_writers),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
