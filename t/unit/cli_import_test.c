/*
 * cli_import_test.c - `postern import`: the Maildir++ parsers (file
 * names and flags, modified UTF-7, dovecot-keywords, dovecot-uidlist,
 * subscriptions, the duplicate set) table by table, and a passwd-file
 * import whose Dovecot hashes then authenticate through dir_authenticate
 * (no protocol reaches it yet, so this is where that is proven).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/log.h"
#include "directory/directory.h"
#include "directory/password.h"
#include "store/mail.h"
#include "t/unit/unit_tmpdir.h"

static void
test_info(void **state)
{
	static const struct {
		const char *name;
		size_t base_len;
		uint32_t flags, keywords;
	} cases[] = {
		{ "1.M1P1.host", 11, 0, 0 },
		{ "1.M1P1.host:2,", 11, 0, 0 },
		{ "1.M1P1.host,S=12:2,S", 16, MAIL_F_SEEN, 0 },
		{ "1.x:2,DFPRST", 3, MAIL_F_DRAFT | MAIL_F_FLAGGED |
		    MAIL_F_FORWARDED | MAIL_F_ANSWERED | MAIL_F_SEEN |
		    MAIL_F_DELETED, 0 },
		{ "1.x:2,Sacz", 3, MAIL_F_SEEN, 1u | 4u | (1u << 25) },
		{ "1.x:2,SQ9", 3, MAIL_F_SEEN, 0 },	/* unknown: ignored */
		{ "1.x:1,S", 3, 0, 0 },		/* experimental info */
		{ ":2,S", 0, MAIL_F_SEEN, 0 },
	};
	struct cli_maildir_info info;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		cli_maildir_info_parse(cases[i].name, &info);
		assert_int_equal(info.base_len, cases[i].base_len);
		assert_int_equal(info.flags, cases[i].flags);
		assert_int_equal(info.keywords, cases[i].keywords);
	}
}

static void
test_mutf7(void **state)
{
	static const struct {
		const char *in, *want;	/* want NULL: not modified UTF-7 */
	} cases[] = {
		{ "INBOX", "INBOX" },
		{ "", "" },
		{ "&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
		{ "Tom &- Jerry", "Tom & Jerry" },
		{ "Entw&APw-rfe", "Entw\xc3\xbcrfe" },
		{ "&2D3eAQ-", "\xf0\x9f\x98\x81" },	/* surrogate pair */
		{ "&AGE-", NULL },		/* 'a' must be written as is */
		{ "&ZeVnLIqe", NULL },		/* no '-' */
		{ "&2D0-", NULL },		/* lone high surrogate */
		{ "&3gE-", NULL },		/* lone low surrogate */
		{ "&Ze!-", NULL },		/* not base64 */
		{ "&AAA-", NULL },		/* NUL */
		{ "&AIU-", NULL },		/* U+0085, a C1 control */
		{ "&AOl-", NULL },		/* left-over bits not zero */
		{ "caf\xc3\xa9", NULL },	/* 8-bit: UTF-8 already */
		{ "tab\there", NULL },
	};
	struct buf out = BUF_INIT(0);

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		buf_reset(&out);
		buf_add_str(&out, "x");
		if (cases[i].want == NULL) {
			assert_int_equal(cli_maildir_mutf7_decode(cases[i].in,
			    strlen(cases[i].in), &out), -1);
			assert_string_equal(buf_cstr(&out), "x");
			continue;
		}
		assert_int_equal(cli_maildir_mutf7_decode(cases[i].in,
		    strlen(cases[i].in), &out), 0);
		assert_string_equal(buf_cstr(&out) + 1, cases[i].want);
	}
	buf_free(&out);
}

static void
test_keywords(void **state)
{
	const char *file = "0 $Forwarded\n1 work\r\n2 bad word\n26 toolate\n"
	    "x nonum\n1 again\n\n3 $label1\n4 NonJunk\n";
	struct buf b = BUF_INIT(0);
	char *names[CLI_MAILDIR_KEYWORDS] = { NULL };
	unsigned idx;
	size_t off, len;

	(void)state;
	assert_int_equal(cli_maildir_keyword_line("25 z", 4, &idx, &off,
	    &len), 0);
	assert_int_equal(idx, 25);
	assert_int_equal(cli_maildir_keyword_line("26 z", 4, &idx, &off,
	    &len), -1);
	assert_int_equal(cli_maildir_keyword_line("1 ", 2, &idx, &off,
	    &len), -1);
	buf_add_str(&b, file);
	cli_maildir_keywords(&b, names, "test");
	assert_string_equal(names[0], "$Forwarded");
	assert_string_equal(names[1], "work");
	assert_null(names[2]);		/* a space: not an IMAP atom */
	assert_string_equal(names[3], "$label1");
	assert_string_equal(names[4], "NonJunk");
	assert_int_equal(cli_maildir_keyword_flag(names[0]), MAIL_F_FORWARDED);
	assert_int_equal(cli_maildir_keyword_flag(names[4]), MAIL_F_NOTJUNK);
	assert_int_equal(cli_maildir_keyword_flag("junk"), MAIL_F_JUNK);
	assert_int_equal(cli_maildir_keyword_flag("work"), 0);
	for (size_t i = 0; i < CLI_MAILDIR_KEYWORDS; i++)
		free(names[i]);
	buf_free(&b);
}

static void
test_uidlist(void **state)
{
	static const struct {
		const char *line;
		int rc;
		uint32_t uid;
		const char *base;
	} cases[] = {
		{ "5 :1234.M1P2.host", 0, 5, "1234.M1P2.host" },
		{ "17 W1394 S1355 :1234.M1P2.host,S=1355,W=1394", 0, 17,
		  "1234.M1P2.host,S=1355,W=1394" },
		{ "3 1234.M1P2.host:2,S", 0, 3, "1234.M1P2.host" },	/* v1 */
		{ "3 0 1234.M1P2.host", 0, 3, "1234.M1P2.host" },
		{ "0 :name", -1, 0, NULL },
		{ "x :name", -1, 0, NULL },
		{ "4294967296 :name", -1, 0, NULL },
		{ "7", -1, 0, NULL },
		{ "7 :", -1, 0, NULL },
	};
	uint32_t uid;
	size_t off, len;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *l = cases[i].line;

		assert_int_equal(cli_maildir_uidlist_line(l, strlen(l), &uid,
		    &off, &len), cases[i].rc);
		if (cases[i].rc < 0)
			continue;
		assert_int_equal(uid, cases[i].uid);
		assert_int_equal(len, strlen(cases[i].base));
		assert_memory_equal(l + off, cases[i].base, len);
	}
}

static void
test_subs(void **state)
{
	struct buf out = BUF_INIT(0), file = BUF_INIT(0);
	const char *line;
	size_t pos = 0, len;

	(void)state;
	assert_int_equal(cli_maildir_subs_line("Work.Projects", 13, false,
	    &out), 0);
	assert_string_equal(buf_cstr(&out), "Work\tProjects");
	buf_reset(&out);
	assert_int_equal(cli_maildir_subs_line("INBOX.Work.P", 12, false,
	    &out), 0);
	assert_string_equal(buf_cstr(&out), "Work\tP");
	buf_reset(&out);
	assert_int_equal(cli_maildir_subs_line("INBOX", 5, false, &out), 0);
	assert_string_equal(buf_cstr(&out), "INBOX");
	buf_reset(&out);
	assert_int_equal(cli_maildir_subs_line("Work\tA.B", 8, true, &out), 0);
	assert_string_equal(buf_cstr(&out), "Work\tA.B");
	buf_reset(&out);
	assert_int_equal(cli_maildir_subs_line("A\001tB", 4, true, &out), -1);
	assert_int_equal(cli_maildir_subs_line("", 0, true, &out), -1);
	assert_int_equal(out.len, 0);

	buf_add_str(&file, "a\r\nb\n\nc");
	assert_true(cli_maildir_next_line(&file, &pos, &line, &len));
	assert_int_equal(len, 1);
	assert_true(cli_maildir_next_line(&file, &pos, &line, &len));
	assert_true(cli_maildir_next_line(&file, &pos, &line, &len));
	assert_int_equal(len, 0);
	assert_true(cli_maildir_next_line(&file, &pos, &line, &len));
	assert_memory_equal(line, "c", 1);
	assert_false(cli_maildir_next_line(&file, &pos, &line, &len));
	buf_free(&out);
	buf_free(&file);
}

static void
test_idset(void **state)
{
	struct cli_idset s;
	struct blob_id id;
	char text[32];

	(void)state;
	memset(&s, 0, sizeof(s));
	blob_id_of("x", 1, &id);
	assert_false(cli_idset_has(&s, &id));
	for (int i = 0; i < 1000; i++) {
		int n = snprintf(text, sizeof(text), "%d", i);

		blob_id_of(text, (size_t)n, &id);
		cli_idset_add(&s, &id);
		cli_idset_add(&s, &id);
	}
	assert_int_equal(s.n, 1000);
	for (int i = 0; i < 2000; i++) {
		int n = snprintf(text, sizeof(text), "%d", i);

		blob_id_of(text, (size_t)n, &id);
		assert_int_equal(cli_idset_has(&s, &id), i < 1000);
	}
	cli_idset_free(&s);
}

/* hashes of known passwords, made with openssl passwd -6, Python's crypt
 * (bcrypt), the argon2 CLI and mkpasswd -m yescrypt */
#define SHA512_HASH "$6$saltsalt$d574LmfMyQnEYNioegmwjPSZf7ow4NFX5FZoc2y2bcS4" \
	"0Ewc554K6V9ItMeLzi8a1/cxWnKeK1p9.I8yzxa2y0"
#define BLF_HASH "$2b$05$abcdefghijklmnopqrstuu3RHPf5aNcwPJX4mkqeBvXXURfbImCbm"
#define ARGON_HASH "$argon2id$v=19$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$" \
	"paTytiKx8QxI0DL3rvMIJWO5YodMUsmF9TFmCU4grC4"
#define Y_HASH "$y$j9T$abcdefghijklmnop$SbqqWJWF9.rlUERL1dXrQ6S18UckNDurtib0" \
	"PIxNnyA"

static const char passwd_file[] =
    "# Dovecot users\n"
    "\n"
    "sha@example.com:{SHA512-CRYPT}" SHA512_HASH "::::::"
    "userdb_quota_rule=*:storage=1G\n"
    "blf@example.com:{BLF-CRYPT}" BLF_HASH ":1000:1000:B L F,,,:/home/b:"
    "/bin/sh:quota_rule=*:bytes=5000\n"
    "argon@example.org:{ARGON2ID}" ARGON_HASH "\n"
    "y@example.org:{CRYPT}" Y_HASH ":::::: quota_rule=*:storage=100\n"
    "bare@example.org:" SHA512_HASH "\n"
    "plain@example.com:{PLAIN}secret\n"
    "nodomain:{SHA512-CRYPT}" SHA512_HASH "\n"
    "rel@example.com:" SHA512_HASH "::::::quota_rule=*:storage=+10M\n"
    "nologin@example.com:\n";

static int
import(struct directory *d, const char *text, bool update)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	int rc;

	assert_non_null(f);
	rc = cli_import_passwd(d, f, "users", update);
	fclose(f);
	return rc;
}

static void
expect_login(struct directory *d, const char *user, const char *pw,
    int want)
{
	struct buf err = BUF_INIT(0);
	uint32_t id;

	assert_int_equal(dir_authenticate(d, user, pw, strlen(pw), &id, &err),
	    want);
	buf_free(&err);
}

static uint64_t
quota_of(struct directory *d, const char *user)
{
	struct buf err = BUF_INIT(0);
	struct dir_account a;
	uint64_t q;

	assert_int_equal(dir_user_get(d, user, &a, &err), 1);
	q = a.quota;
	dir_account_clear(&a);
	buf_free(&err);
	return q;
}

static void
test_passwd(void **state)
{
	struct kv_options o = { "sqlite", "imp.sqlite", false };
	struct buf err = BUF_INIT(0);
	struct dir_account a;
	struct directory *d;
	struct kv *kv;

	(void)state;
	unlink("imp.sqlite");
	assert_int_equal(kv_open(&o, &kv, &err), 0);
	d = directory_new(kv, NULL);

	/* 3 lines refused (plaintext, no domain, relative quota) */
	assert_int_equal(import(d, passwd_file, false), 1);
	expect_login(d, "sha@example.com", "sha-secret", 1);
	expect_login(d, "sha@example.com", "wrong", 0);
	expect_login(d, "blf@example.com", "blf-secret", 1);
	expect_login(d, "argon@example.org", "argon-secret", 1);
	expect_login(d, "y@example.org", "y-secret", 1);
	expect_login(d, "bare@example.org", "sha-secret", 1);
	expect_login(d, "nologin@example.com", "", 0);
	assert_int_equal(dir_user_get(d, "plain@example.com", &a, &err), 0);
	assert_int_equal(dir_user_get(d, "rel@example.com", &a, &err), 0);
	assert_int_equal(quota_of(d, "sha@example.com"), 1073741824);
	assert_int_equal(quota_of(d, "blf@example.com"), 5000);
	assert_int_equal(quota_of(d, "y@example.org"), 100 * 1024);
	assert_int_equal(quota_of(d, "argon@example.org"), 0);
	assert_int_equal(dir_user_get(d, "blf@example.com", &a, &err), 1);
	assert_string_equal(a.display_name, "B L F");
	assert_string_equal(a.password, "{BLF-CRYPT}" BLF_HASH);
	dir_account_clear(&a);
	assert_int_equal(dir_domain_exists(d, "example.org", &err), 1);

	/* again: existing accounts are skipped, not changed */
	assert_int_equal(import(d, "sha@example.com:" BLF_HASH
	    "::::::quota_rule=*:storage=1M\n", false), 0);
	expect_login(d, "sha@example.com", "sha-secret", 1);
	assert_int_equal(quota_of(d, "sha@example.com"), 1073741824);
	/* --update: the file's hash and quota */
	assert_int_equal(import(d, "sha@example.com:" BLF_HASH
	    "::::::quota_rule=*:storage=1M\n", true), 0);
	expect_login(d, "sha@example.com", "blf-secret", 1);
	expect_login(d, "sha@example.com", "sha-secret", 0);
	assert_int_equal(quota_of(d, "sha@example.com"), 1048576);

	directory_free(&d);
	kv_close(&kv);
	buf_free(&err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_mutf7),
		cmocka_unit_test(test_keywords),
		cmocka_unit_test(test_uidlist),
		cmocka_unit_test(test_subs),
		cmocka_unit_test(test_idset),
		cmocka_unit_test(test_passwd),
	};

	log_open(LOG_DEST_STDERR, LOG_LVL_ERROR, NULL, NULL);
	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
