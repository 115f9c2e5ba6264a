/*
 * imap_notifyset_test.c - the pure half of NOTIFY (imap-jmap/
 * imap_notify_set.c): the checks of NOTIFY SET over commands the real
 * parser makes (BAD, BADEVENT, too many names), which group a mailbox's
 * events come from, and the notifications a change of the mailbox tree
 * turns into (create, rename with descendants, delete, subscription,
 * counts), with the session's own changes left out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap-jmap/imap_priv.h"

/* parse - one command through the real parser (authenticated limits) */
static struct imap_cmd *
parse(const char *text)
{
	struct imap_limits lim;
	struct imap_parser *p;
	struct imap_parse_error err;
	struct imap_cmd *cmd = NULL;
	struct buf line = BUF_INIT(0);
	size_t used = 0;

	imap_limits_default(&lim, true);
	p = imap_parser_new(&lim);
	buf_addf(&line, "t1 %s\r\n", text);
	if (imap_parser_feed(p, line.data, line.len, &used, &cmd, &err) !=
	    IMAP_PARSE_CMD)
		cmd = NULL;
	imap_parser_free(&p);
	buf_free(&line);
	return cmd;
}

static void
test_checks(void **state)
{
	static const struct {
		const char *cmd;
		bool metadata;
		enum imap_notify_res want;
	} cases[] = {
		{ "NOTIFY NONE", false, IMAP_NOTIFY_OK },
		{ "NOTIFY SET (SELECTED (MessageNew (UID FLAGS) MessageExpunge "
		  "FlagChange)) (PERSONAL (MessageNew MessageExpunge "
		  "MailboxName SubscriptionChange))", false, IMAP_NOTIFY_OK },
		{ "NOTIFY SET STATUS (INBOXES (MessageNew MessageExpunge)) "
		  "(MAILBOXES Junk NONE)", false, IMAP_NOTIFY_OK },
		{ "NOTIFY SET (SELECTED NONE)", false, IMAP_NOTIFY_OK },
		/* 6.1: one selected filter, message events only */
		{ "NOTIFY SET (SELECTED (MessageNew MessageExpunge)) "
		  "(SELECTED-DELAYED (MessageNew MessageExpunge))", false,
		  IMAP_NOTIFY_BAD },
		{ "NOTIFY SET (SELECTED (MailboxName))", false,
		  IMAP_NOTIFY_BAD },
		/* 8: fetch attributes go with SELECTED only */
		{ "NOTIFY SET (PERSONAL (MessageNew (UID) MessageExpunge))",
		  false, IMAP_NOTIFY_BAD },
		/* 3.1: NO [BADEVENT] for what is not served */
		{ "NOTIFY SET (PERSONAL (MessageNew MessageExpunge "
		  "AnnotationChange))", false, IMAP_NOTIFY_BADEVENT },
		{ "NOTIFY SET (PERSONAL (QuotaChange))", false,
		  IMAP_NOTIFY_BADEVENT },
		{ "NOTIFY SET (PERSONAL (Whatever))", false,
		  IMAP_NOTIFY_BADEVENT },
		{ "NOTIFY SET (PERSONAL (MailboxMetadataChange))", false,
		  IMAP_NOTIFY_BADEVENT },
		{ "NOTIFY SET (PERSONAL (MailboxMetadataChange "
		  "ServerMetadataChange))", true, IMAP_NOTIFY_OK },
		/* a BAD wins over a BADEVENT in the same command */
		{ "NOTIFY SET (PERSONAL (Whatever)) (SELECTED (MailboxName))",
		  false, IMAP_NOTIFY_BAD },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct imap_cmd *cmd = parse(cases[i].cmd);
		struct imap_notify_set *ns = NULL;
		const char *why = NULL;
		enum imap_notify_res r;

		assert_non_null(cmd);
		r = imap_notify_set_new(&cmd->u.notify, cases[i].metadata, &ns,
		    &why);
		if (r != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].cmd, r,
			    cases[i].want);
		assert_true((r == IMAP_NOTIFY_OK) == (ns != NULL));
		assert_true((r == IMAP_NOTIFY_BAD) == (why != NULL));
		imap_notify_set_free(&ns);
		assert_null(ns);
		imap_cmd_free(&cmd);
	}
}

static void
test_copy_outlives_command(void **state)
{
	struct imap_cmd *cmd = parse("NOTIFY SET (SELECTED-DELAYED "
	    "(MessageNew (UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] "
	    "BODY.PEEK[1.2]<0.10>) MessageExpunge)) (SUBTREE (inbox/Lists "
	    "Work/) (MessageNew MessageExpunge FlagChange))");
	struct imap_notify_set *ns = NULL;
	const char *why;

	(void)state;
	assert_non_null(cmd);
	assert_int_equal(imap_notify_set_new(&cmd->u.notify, false, &ns,
	    &why), IMAP_NOTIFY_OK);
	imap_cmd_free(&cmd);		/* the set owns its copy */
	assert_true(ns->sel_delayed);
	assert_int_equal(ns->sel_events, IMAP_NEV_MESSAGE_NEW |
	    IMAP_NEV_MESSAGE_EXPUNGE);
	assert_int_equal(ns->nfetch, 3);
	assert_int_equal(ns->fetch[1].section.nfield, 2);
	assert_string_equal(ns->fetch[1].section.field[1].p, "SUBJECT");
	assert_int_equal(ns->fetch[2].section.npart, 2);
	assert_int_equal(ns->fetch[2].section.part[1], 2);
	assert_true(ns->fetch[2].has_partial);
	assert_int_equal(ns->ngrp, 1);
	assert_int_equal(ns->grp[0].npath, 2);
	/* INBOX folded, the trailing separator dropped */
	assert_string_equal(ns->grp[0].path[0], "INBOX/Lists");
	assert_string_equal(ns->grp[0].path[1], "Work");
	assert_int_equal(ns->events, IMAP_NEV_MESSAGE_NEW |
	    IMAP_NEV_MESSAGE_EXPUNGE | IMAP_NEV_FLAG_CHANGE);
	imap_notify_set_free(&ns);
}

static void
test_supported(void **state)
{
	struct buf b = BUF_INIT(0);

	(void)state;
	imap_notify_supported(&b, false);
	assert_string_equal(buf_cstr(&b), "MessageNew MessageExpunge "
	    "FlagChange MailboxName SubscriptionChange");
	buf_reset(&b);
	imap_notify_supported(&b, true);
	assert_string_equal(buf_cstr(&b), "MessageNew MessageExpunge "
	    "FlagChange MailboxName SubscriptionChange MailboxMetadataChange "
	    "ServerMetadataChange");
	buf_free(&b);
}

/* ---- a mailbox tree ---- */

#define MB(id_, parent_, name_, sub_) \
	{ .id = (id_), .parent = (parent_), .name = (char *)(name_), \
	  .subscribed = (sub_), .uidvalidity = 100 + (id_), .uidnext = 1 }

static void
view_of(struct imap_notify_view *v, const struct mail_mailbox *mb, size_t n)
{
	const struct mail_mailbox *p[16];

	assert_true(n <= ARRAY_SIZE(p));
	for (size_t i = 0; i < n; i++)
		p[i] = &mb[i];
	imap_notify_view_build(v, p, n);
}

static struct imap_notify_set *
set_of(const char *text, const struct imap_notify_view *v)
{
	struct imap_cmd *cmd = parse(text);
	struct imap_notify_set *ns = NULL;
	const char *why;

	assert_non_null(cmd);
	assert_int_equal(imap_notify_set_new(&cmd->u.notify, false, &ns,
	    &why), IMAP_NOTIFY_OK);
	imap_cmd_free(&cmd);
	imap_notify_set_resolve(ns, v);
	return ns;
}

static const struct mail_mailbox base[] = {
	MB(1, 0, "INBOX", true), MB(2, 0, "Lists", false),
	MB(3, 2, "ietf", true), MB(4, 0, "Junk", false),
	MB(5, 2, "debian", false),
};

static void
test_events(void **state)
{
	struct imap_notify_view v;
	struct imap_notify_set *ns;
	const unsigned msg = IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE;

	(void)state;
	view_of(&v, base, ARRAY_SIZE(base));
	/* the most specific group decides, whatever the order */
	ns = set_of("NOTIFY SET (PERSONAL (MailboxName)) (MAILBOXES "
	    "(Junk Nowhere) NONE) (SUBTREE Lists (MessageNew MessageExpunge)) "
	    "(SUBTREE Lists/ietf (MessageNew MessageExpunge FlagChange)) "
	    "(SUBSCRIBED (SubscriptionChange))", &v);
	assert_int_equal(ns->grp[1].nid, 1);	/* Nowhere ignored */
	assert_int_equal(imap_notify_events(ns, "INBOX", 1, true),
	    IMAP_NEV_SUBSCRIPTION_CHANGE);
	assert_int_equal(imap_notify_events(ns, "Junk", 4, false), 0);
	assert_int_equal(imap_notify_events(ns, "Lists", 2, false), msg);
	assert_int_equal(imap_notify_events(ns, "Lists/debian", 5, false),
	    msg);
	assert_int_equal(imap_notify_events(ns, "Lists/ietf", 3, true),
	    msg | IMAP_NEV_FLAG_CHANGE);
	assert_int_equal(imap_notify_events(ns, "Listsx", 9, false),
	    IMAP_NEV_MAILBOX_NAME);
	assert_int_equal(imap_notify_events(ns, "Archive", 6, false),
	    IMAP_NEV_MAILBOX_NAME);
	/* MAILBOXES goes by id: Junk renamed is still Junk's group */
	assert_int_equal(imap_notify_events(ns, "Spam", 4, false), 0);
	imap_notify_set_free(&ns);
	/* a SUBTREE root that does not exist is ignored (3.1) */
	ns = set_of("NOTIFY SET (SUBTREE (Nowhere Lists) (MailboxName))",
	    &v);
	assert_int_equal(ns->grp[0].npath, 1);
	assert_int_equal(imap_notify_events(ns, "Nowhere/x", 8, false), 0);
	imap_notify_set_free(&ns);
	imap_notify_view_free(&v);
}

/* apply - recs against a view of base; the lines written */
static char *
apply(const char *set, const struct mail_mailbox *recs, size_t nrecs,
    const uint32_t *gone, size_t ngone, bool full,
    const struct imap_notify_echo *echo, size_t necho, size_t *count_r)
{
	struct imap_notify_view v;
	struct imap_notify_set *ns;
	struct imap_notify_out o;
	struct buf out = BUF_INIT(0);

	view_of(&v, base, ARRAY_SIZE(base));
	ns = set_of(set, &v);
	memset(&o, 0, sizeof(o));
	o.selected = 1;
	o.echo = echo;
	o.necho = necho;
	imap_notify_apply(&v, ns, recs, nrecs, gone, ngone, full, &o, &out);
	/* applying the same picture again says nothing: idempotent */
	{
		struct imap_notify_out o2 = o;
		struct buf again = BUF_INIT(0);

		o2.count = 0;
		imap_notify_apply(&v, ns, recs, nrecs, gone, ngone, full, &o2,
		    &again);
		assert_int_equal(again.len, 0);
		buf_free(&again);
	}
	if (count_r != NULL)
		*count_r = o.count;
	imap_notify_set_free(&ns);
	imap_notify_view_free(&v);
	return buf_steal(&out, NULL);
}

static const char ALL_NAMES[] = "NOTIFY SET (PERSONAL (MessageNew "
    "MessageExpunge MailboxName SubscriptionChange))";

static void
test_apply_names(void **state)
{
	struct mail_mailbox r[2];
	uint32_t gone[] = { 5 };
	size_t count;
	char *s;

	(void)state;
	/* created */
	r[0] = (struct mail_mailbox)MB(7, 2, "new", false);
	s = apply(ALL_NAMES, r, 1, NULL, 0, false, NULL, 0, &count);
	assert_string_equal(s, "* LIST (\\HasNoChildren) \"/\" Lists/new\r\n");
	assert_int_equal(count, 1);
	free(s);
	/* renamed: its descendants' paths changed too */
	r[0] = (struct mail_mailbox)MB(2, 0, "Mail Lists", false);
	s = apply(ALL_NAMES, r, 1, NULL, 0, false, NULL, 0, NULL);
	assert_string_equal(s,
	    "* LIST (\\HasChildren) \"/\" \"Mail Lists\" (\"OLDNAME\" "
	    "(Lists))\r\n"
	    "* LIST (\\HasNoChildren) \"/\" \"Mail Lists/debian\" "
	    "(\"OLDNAME\" (Lists/debian))\r\n"
	    "* LIST (\\HasNoChildren \\Subscribed) \"/\" \"Mail Lists/ietf\" "
	    "(\"OLDNAME\" (Lists/ietf))\r\n");
	free(s);
	/* deleted */
	s = apply(ALL_NAMES, NULL, 0, gone, 1, false, NULL, 0, NULL);
	assert_string_equal(s,
	    "* LIST (\\NonExistent) \"/\" Lists/debian\r\n");
	free(s);
	/* ... or missing from a full listing */
	s = apply(ALL_NAMES, base, 4, NULL, 0, true, NULL, 0, NULL);
	assert_string_equal(s,
	    "* LIST (\\NonExistent) \"/\" Lists/debian\r\n");
	free(s);
	/* (un)subscribed, with the special-use attribute */
	r[0] = (struct mail_mailbox)MB(4, 0, "Junk", true);
	r[0].role = MAIL_ROLE_JUNK;
	s = apply(ALL_NAMES, r, 1, NULL, 0, false, NULL, 0, NULL);
	assert_string_equal(s,
	    "* LIST (\\HasNoChildren \\Subscribed \\Junk) \"/\" Junk\r\n");
	free(s);
	/* not asked for: nothing */
	r[0] = (struct mail_mailbox)MB(7, 0, "new", true);
	s = apply("NOTIFY SET (PERSONAL (MessageNew MessageExpunge))", r, 1,
	    NULL, 0, false, NULL, 0, NULL);
	assert_string_equal(s, "");
	free(s);
}

static void
test_apply_echo(void **state)
{
	struct mail_mailbox r[2];
	struct imap_notify_echo echo[] = {
		{ IMAP_ECHO_CREATE, (char *)"Work/Sub", NULL },
		{ IMAP_ECHO_RENAME, (char *)"Lists", (char *)"Old" },
		{ IMAP_ECHO_SUB, (char *)"Junk", NULL },
	};
	char *s;

	(void)state;
	/* CREATE Work/Sub made Work too: neither is told back */
	r[0] = (struct mail_mailbox)MB(7, 0, "Work", false);
	r[1] = (struct mail_mailbox)MB(8, 7, "Sub", false);
	s = apply(ALL_NAMES, r, 2, NULL, 0, false, echo, 1, NULL);
	assert_string_equal(s, "");
	free(s);
	/* another session's mailbox of another name is */
	r[1] = (struct mail_mailbox)MB(8, 7, "Other", false);
	s = apply(ALL_NAMES, r, 2, NULL, 0, false, echo, 1, NULL);
	assert_string_equal(s,
	    "* LIST (\\HasNoChildren) \"/\" Work/Other\r\n");
	free(s);
	/* RENAME Lists Old: the mailbox and its children; SUBSCRIBE Junk */
	r[0] = (struct mail_mailbox)MB(2, 0, "Old", false);
	r[1] = (struct mail_mailbox)MB(4, 0, "Junk", true);
	s = apply(ALL_NAMES, r, 2, NULL, 0, false, echo, 3, NULL);
	assert_string_equal(s, "");
	free(s);
}

static void
test_apply_status(void **state)
{
	struct mail_mailbox r[2];
	size_t count;
	char *s;

	(void)state;
	/* a new message in Lists/ietf; a flag change in Junk */
	r[0] = (struct mail_mailbox)MB(3, 2, "ietf", true);
	r[0].total = 1;
	r[0].unseen = 1;
	r[0].uidnext = 2;
	r[0].highestmodseq = 1;
	r[1] = (struct mail_mailbox)MB(4, 0, "Junk", false);
	r[1].highestmodseq = 9;
	s = apply(ALL_NAMES, r, 2, NULL, 0, false, NULL, 0, &count);
	assert_string_equal(s, "* STATUS Lists/ietf (MESSAGES 1 UIDNEXT 2 "
	    "UIDVALIDITY 103 UNSEEN 1)\r\n");
	assert_int_equal(count, 1);
	free(s);
	/* with FlagChange: both, with HIGHESTMODSEQ */
	s = apply("NOTIFY SET (PERSONAL (MessageNew MessageExpunge "
	    "FlagChange))", r, 2, NULL, 0, false, NULL, 0, NULL);
	assert_string_equal(s, "* STATUS Lists/ietf (MESSAGES 1 UIDNEXT 2 "
	    "UIDVALIDITY 103 UNSEEN 1 HIGHESTMODSEQ 1)\r\n"
	    "* STATUS Junk (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 104 UNSEEN 0 "
	    "HIGHESTMODSEQ 9)\r\n");
	free(s);
	/* the selected mailbox (1 here) is SELECTED's business */
	r[0] = (struct mail_mailbox)MB(1, 0, "INBOX", true);
	r[0].total = 5;
	s = apply(ALL_NAMES, r, 1, NULL, 0, false, NULL, 0, NULL);
	assert_string_equal(s, "");
	free(s);
	/* counts and a rename in one go: LIST, then STATUS of the new name */
	r[0] = (struct mail_mailbox)MB(4, 0, "Spam", false);
	r[0].total = 2;
	r[0].uidnext = 3;
	s = apply(ALL_NAMES, r, 1, NULL, 0, false, NULL, 0, &count);
	assert_string_equal(s, "* LIST (\\HasNoChildren) \"/\" Spam "
	    "(\"OLDNAME\" (Junk))\r\n"
	    "* STATUS Spam (MESSAGES 2 UIDNEXT 3 UIDVALIDITY 104 UNSEEN 0)"
	    "\r\n");
	assert_int_equal(count, 2);
	free(s);
}

static void
test_status_all(void **state)
{
	struct imap_notify_view v;
	struct imap_notify_set *ns;
	struct imap_notify_out o;
	struct buf out = BUF_INIT(0);

	(void)state;
	view_of(&v, base, ARRAY_SIZE(base));
	ns = set_of("NOTIFY SET STATUS (SUBTREE Lists (MessageNew "
	    "MessageExpunge)) (MAILBOXES INBOX (MessageNew MessageExpunge)) "
	    "(PERSONAL (MailboxName))", &v);
	memset(&o, 0, sizeof(o));
	o.selected = 1;
	o.condstore = true;
	imap_notify_status_all(&v, ns, &o, &out);
	assert_string_equal(buf_cstr(&out),
	    "* STATUS Lists (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 102 UNSEEN 0 "
	    "HIGHESTMODSEQ 1)\r\n"
	    "* STATUS Lists/debian (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 105 "
	    "UNSEEN 0 HIGHESTMODSEQ 1)\r\n"
	    "* STATUS Lists/ietf (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 103 "
	    "UNSEEN 0 HIGHESTMODSEQ 1)\r\n");
	buf_free(&out);
	imap_notify_set_free(&ns);
	imap_notify_view_free(&v);
}

static void
test_path_fold(void **state)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "inbox", "INBOX" }, { "Inbox/x", "INBOX/x" },
		{ "INBOXes", "INBOXes" }, { "a/", "a" }, { "/", "/" },
		{ "Work/inbox", "Work/inbox" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *p = imap_notify_path_fold(cases[i].in,
		    strlen(cases[i].in));

		assert_string_equal(p, cases[i].want);
		free(p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checks),
		cmocka_unit_test(test_copy_outlives_command),
		cmocka_unit_test(test_supported),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_apply_names),
		cmocka_unit_test(test_apply_echo),
		cmocka_unit_test(test_apply_status),
		cmocka_unit_test(test_status_all),
		cmocka_unit_test(test_path_fold),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
