/*
 * milter_test.c - milter_reply_parse (filters/milter.c), the pure reader
 * of a milter's reply packets: one table of packets (command, data,
 * whether it answers the end of message) and what must come out - the
 * kind, the verdict, and for the changes the views into the packet
 * (header field, body part, envelope address and ESMTP parameters) - or
 * the refusal that makes the milter broken.  t/fuzz/milter_reply.c
 * checks the same contract on random packets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include <libmilter/mfdef.h>

#include "filters/milter.h"

#define D(s) s, sizeof(s) - 1	/* data with its NULs, without the C one */

static const struct pcase {
	const char *name;
	char cmd;
	const char *data;
	size_t len;
	bool eom;
	int rc;
	enum milter_reply_kind kind;
	enum filter_action action;
	const char *addr;		/* the address expected */
	const char *args;		/* expected args, NULL for none */
} cases[] = {
	/* verdicts, as before */
	{ "continue", SMFIR_CONTINUE, D(""), false, 0, MILTER_REPLY_FINAL,
	  FILTER_CONTINUE, NULL, NULL },
	{ "reject", SMFIR_REJECT, D(""), true, 0, MILTER_REPLY_FINAL,
	  FILTER_REJECT, NULL, NULL },
	{ "replycode", SMFIR_REPLYCODE, D("451 4.7.1 later\0"), false, 0,
	  MILTER_REPLY_FINAL, FILTER_TEMPFAIL, NULL, NULL },
	{ "progress", SMFIR_PROGRESS, D(""), false, 0, MILTER_REPLY_PROGRESS,
	  FILTER_CONTINUE, NULL, NULL },
	{ "header at eom", SMFIR_ADDHEADER, D("X-A\0v\0"), true, 0,
	  MILTER_REPLY_HEADER, FILTER_CONTINUE, NULL, NULL },
	{ "header early", SMFIR_ADDHEADER, D("X-A\0v\0"), false, -1, 0, 0,
	  NULL, NULL },
	{ "shutdown", SMFIR_SHUTDOWN, D(""), true, -1, 0, 0, NULL, NULL },
	{ "conn_fail", SMFIR_CONN_FAIL, D(""), true, -1, 0, 0, NULL, NULL },

	/* SMFIR_REPLBODY: any bytes, any length, end of message only */
	{ "body", SMFIR_REPLBODY, D("new\r\nbody\0with a NUL\n"), true, 0,
	  MILTER_REPLY_BODY, FILTER_CONTINUE, NULL, NULL },
	{ "body empty", SMFIR_REPLBODY, D(""), true, 0, MILTER_REPLY_BODY,
	  FILTER_CONTINUE, NULL, NULL },
	{ "body early", SMFIR_REPLBODY, D("x"), false, -1, 0, 0, NULL, NULL },

	/* SMFIR_ADDRCPT, SMFIR_DELRCPT: an address, brackets or not */
	{ "addrcpt", SMFIR_ADDRCPT, D("<bob@example.org>\0"), true, 0,
	  MILTER_REPLY_RCPT_ADD, FILTER_CONTINUE, "bob@example.org", NULL },
	{ "addrcpt bare", SMFIR_ADDRCPT, D("bob@example.org\0"), true, 0,
	  MILTER_REPLY_RCPT_ADD, FILTER_CONTINUE, "bob@example.org", NULL },
	{ "addrcpt postmaster", SMFIR_ADDRCPT, D("<PostMaster>\0"), true, 0,
	  MILTER_REPLY_RCPT_ADD, FILTER_CONTINUE, "PostMaster", NULL },
	{ "addrcpt utf8", SMFIR_ADDRCPT, D("j\xc3\xb8rn@example.org\0"), true,
	  0, MILTER_REPLY_RCPT_ADD, FILTER_CONTINUE, "j\xc3\xb8rn@example.org",
	  NULL },
	{ "addrcpt early", SMFIR_ADDRCPT, D("<b@example.org>\0"), false, -1,
	  0, 0, NULL, NULL },
	{ "addrcpt no NUL", SMFIR_ADDRCPT, D("<b@example.org>"), true, -1, 0,
	  0, NULL, NULL },
	{ "addrcpt empty", SMFIR_ADDRCPT, D("<>\0"), true, -1, 0, 0, NULL,
	  NULL },
	{ "addrcpt no domain", SMFIR_ADDRCPT, D("bob@\0"), true, -1, 0, 0,
	  NULL, NULL },
	{ "addrcpt no local", SMFIR_ADDRCPT, D("@example.org\0"), true, -1, 0,
	  0, NULL, NULL },
	{ "addrcpt no at", SMFIR_ADDRCPT, D("bob\0"), true, -1, 0, 0, NULL,
	  NULL },
	{ "addrcpt CRLF", SMFIR_ADDRCPT, D("b@x.org\r\nRCPT TO:<c@y>\0"), true,
	  -1, 0, 0, NULL, NULL },
	{ "addrcpt blank", SMFIR_ADDRCPT, D("b c@example.org\0"), true, -1, 0,
	  0, NULL, NULL },
	{ "addrcpt half bracket", SMFIR_ADDRCPT, D("<b@example.org\0"), true,
	  -1, 0, 0, NULL, NULL },
	{ "addrcpt two pairs", SMFIR_ADDRCPT, D("<<b@example.org>>\0"), true,
	  -1, 0, 0, NULL, NULL },
	{ "delrcpt", SMFIR_DELRCPT, D("<u@Test.Example>\0"), true, 0,
	  MILTER_REPLY_RCPT_DELETE, FILTER_CONTINUE, "u@Test.Example", NULL },
	{ "delrcpt early", SMFIR_DELRCPT, D("<u@test.example>\0"), false, -1,
	  0, 0, NULL, NULL },

	/* with ESMTP parameters */
	{ "addrcpt_par", SMFIR_ADDRCPT_PAR,
	  D("<b@example.org>\0NOTIFY=NEVER ORCPT=rfc822;b@example.org\0"),
	  true, 0, MILTER_REPLY_RCPT_ADD, FILTER_CONTINUE, "b@example.org",
	  "NOTIFY=NEVER ORCPT=rfc822;b@example.org" },
	{ "addrcpt_par none", SMFIR_ADDRCPT_PAR, D("<b@example.org>\0"), true,
	  0, MILTER_REPLY_RCPT_ADD, FILTER_CONTINUE, "b@example.org", NULL },
	{ "addrcpt_par empty", SMFIR_ADDRCPT_PAR, D("<b@example.org>\0\0"),
	  true, 0, MILTER_REPLY_RCPT_ADD, FILTER_CONTINUE, "b@example.org",
	  NULL },
	{ "addrcpt_par unended", SMFIR_ADDRCPT_PAR,
	  D("<b@example.org>\0NOTIFY=NEVER"), true, -1, 0, 0, NULL, NULL },
	{ "addrcpt_par control", SMFIR_ADDRCPT_PAR,
	  D("<b@example.org>\0A=1\r\nB=2\0"), true, -1, 0, 0, NULL, NULL },
	{ "chgfrom", SMFIR_CHGFROM, D("<new@example.org>\0"), true, 0,
	  MILTER_REPLY_SENDER, FILTER_CONTINUE, "new@example.org", NULL },
	{ "chgfrom args", SMFIR_CHGFROM, D("<n@example.org>\0BODY=8BITMIME\0"),
	  true, 0, MILTER_REPLY_SENDER, FILTER_CONTINUE, "n@example.org",
	  "BODY=8BITMIME" },
	{ "chgfrom null", SMFIR_CHGFROM, D("<>\0"), true, 0,
	  MILTER_REPLY_SENDER, FILTER_CONTINUE, "", NULL },
	{ "chgfrom postmaster", SMFIR_CHGFROM, D("<postmaster>\0"), true, -1,
	  0, 0, NULL, NULL },
	{ "chgfrom early", SMFIR_CHGFROM, D("<n@example.org>\0"), false, -1,
	  0, 0, NULL, NULL },
};

static void
test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];
		struct milter_reply mr;
		const char *why = NULL;
		int rc;

		print_message("%s\n", c->name);
		rc = milter_reply_parse(c->cmd, (const unsigned char *)c->data,
		    c->len, c->eom, &mr, &why);
		assert_int_equal(rc, c->rc);
		if (rc < 0) {
			assert_non_null(why);
			continue;
		}
		assert_int_equal(mr.kind, c->kind);
		if (c->kind == MILTER_REPLY_FINAL)
			assert_int_equal(mr.action, c->action);
		if (c->kind == MILTER_REPLY_BODY) {
			/* all of the data, in place */
			assert_int_equal(mr.body_len, c->len);
			assert_true(c->len == 0 ||
			    mr.body == (const unsigned char *)c->data);
		}
		if (c->kind >= MILTER_REPLY_RCPT_ADD) {
			assert_int_equal(mr.addr_len, strlen(c->addr));
			assert_memory_equal(mr.addr, c->addr, mr.addr_len);
			/* a view into the packet */
			assert_true(mr.addr >= c->data &&
			    mr.addr + mr.addr_len <= c->data + c->len);
			if (c->args == NULL)
				assert_null(mr.args);
			else
				assert_string_equal(mr.args, c->args);
		}
	}
}

/* the limits: an address of MILTER_ADDR_MAX bytes, not one more */
static void
test_limits(void **state)
{
	char pkt[MILTER_ADDR_MAX + 8];
	struct milter_reply mr;
	const char *why;
	size_t n;

	(void)state;
	for (size_t len = MILTER_ADDR_MAX; len <= MILTER_ADDR_MAX + 1;
	    len++) {
		memset(pkt, 'a', len);
		memcpy(pkt + len - 12, "@example.org", 12);
		pkt[len] = '\0';
		n = len + 1;
		assert_int_equal(milter_reply_parse(SMFIR_ADDRCPT,
		    (const unsigned char *)pkt, n, true, &mr, &why),
		    len <= MILTER_ADDR_MAX ? 0 : -1);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
