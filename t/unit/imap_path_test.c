/*
 * imap_path_test.c - mailbox paths and LIST over the store's tree
 * (imap-jmap/imap_path.c): splitting with INBOX folding and the
 * refusals, LIST patterns (table-driven), the reference rule, and the
 * tree: full paths, children, subscribed descendants, INBOX first,
 * names that cannot be reached over IMAP, a parent cycle.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "imap-jmap/imap_priv.h"

static void
test_split(void **state)
{
	static const struct {
		const char *in;
		bool trailing_ok;
		int want;		/* levels, -1 refused */
		const char *first, *last;
	} cases[] = {
		{ "INBOX", false, 1, "INBOX", "INBOX" },
		{ "inbox", false, 1, "INBOX", "INBOX" },
		{ "iNbOx/Sub", false, 2, "INBOX", "Sub" },
		{ "Work/inbox", false, 2, "Work", "inbox" },	/* only first */
		{ "a/b/c", false, 3, "a", "c" },
		{ "a/", true, 1, "a", "a" },		/* CREATE "a/" */
		{ "a/", false, -1, NULL, NULL },
		{ "/a", false, -1, NULL, NULL },
		{ "a//b", false, -1, NULL, NULL },
		{ "", false, -1, NULL, NULL },
		{ "/", true, -1, NULL, NULL },
		{ "a*b", false, -1, NULL, NULL },
		{ "a%", false, -1, NULL, NULL },
		{ "a\tb", false, -1, NULL, NULL },
		{ "Entw\xc3\xbcrfe", false, 1, "Entw\xc3\xbcrfe", NULL },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct imap_levels l;
		const char *why = NULL;
		int r = imap_path_split(cases[i].in, strlen(cases[i].in),
		    cases[i].trailing_ok, &l, &why);

		if (cases[i].want < 0) {
			assert_int_equal(r, -1);
			assert_non_null(why);
			assert_int_equal(l.n, 0);
			continue;
		}
		assert_int_equal(r, 0);
		assert_int_equal(l.n, (size_t)cases[i].want);
		assert_string_equal(l.lv[0], cases[i].first);
		if (cases[i].last != NULL)
			assert_string_equal(l.lv[l.n - 1], cases[i].last);
		imap_levels_free(&l);
	}
}

static void
test_split_limits(void **state)
{
	struct imap_levels l;
	const char *why;
	char *deep = malloc(2 * (MAIL_DEPTH_MAX + 1) + 1);
	char name[MAIL_NAME_MAX + 2];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i <= MAIL_DEPTH_MAX; i++) {
		deep[n++] = 'x';
		deep[n++] = '/';
	}
	deep[n - 1] = '\0';	/* MAIL_DEPTH_MAX + 1 levels */
	assert_int_equal(imap_path_split(deep, strlen(deep), false, &l, &why),
	    -1);
	deep[2 * MAIL_DEPTH_MAX - 1] = '\0';	/* MAIL_DEPTH_MAX */
	assert_int_equal(imap_path_split(deep, strlen(deep), false, &l, &why),
	    0);
	assert_int_equal(l.n, MAIL_DEPTH_MAX);
	imap_levels_free(&l);
	free(deep);
	memset(name, 'n', sizeof(name));
	name[MAIL_NAME_MAX] = '\0';
	assert_int_equal(imap_path_split(name, MAIL_NAME_MAX, false, &l, &why),
	    0);
	imap_levels_free(&l);
	name[MAIL_NAME_MAX] = 'n';
	name[MAIL_NAME_MAX + 1] = '\0';
	assert_int_equal(imap_path_split(name, MAIL_NAME_MAX + 1, false, &l,
	    &why), -1);
}

static void
test_match(void **state)
{
	static const struct {
		const char *pat, *name;
		bool want;
	} cases[] = {
		{ "*", "INBOX", true },
		{ "*", "a/b/c", true },
		{ "%", "a", true },
		{ "%", "a/b", false },
		{ "a/%", "a/b", true },
		{ "a/%", "a/b/c", false },
		{ "a/*", "a/b/c", true },
		{ "a/*", "a", false },
		{ "a*", "a", true },
		{ "a%", "abc", true },
		{ "%/%", "a/b", true },
		{ "*/c", "a/b/c", true },
		{ "%/c", "a/b/c", false },
		{ "a%c", "abc", true },
		{ "a%c", "a/c", false },
		{ "a*c", "a/c", true },
		{ "inbox", "INBOX", true },		/* INBOX in any case */
		{ "InBoX/%", "INBOX/x", true },
		{ "inb*", "INBOX", true },
		{ "work", "Work", false },		/* others are exact */
		{ "Work", "Work", true },
		{ "", "", true },
		{ "x", "", false },
		{ "%%%%%%%%%%%%%%%%%%%%%%%%%%%%%%b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaa", false },	/* no blow-up */
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		bool got = imap_list_match(cases[i].pat, strlen(cases[i].pat),
		    cases[i].name, strlen(cases[i].name));

		if (got != cases[i].want)
			fail_msg("\"%s\" vs \"%s\": got %d", cases[i].pat,
			    cases[i].name, got);
	}
}

static void
test_pattern(void **state)
{
	struct buf b = BUF_INIT(0);

	(void)state;
	imap_list_pattern("", 0, "*", 1, &b);
	assert_string_equal(buf_cstr(&b), "*");
	buf_reset(&b);
	imap_list_pattern("Work/", 5, "%", 1, &b);
	assert_string_equal(buf_cstr(&b), "Work/%");
	buf_reset(&b);
	imap_list_pattern("Work/", 5, "/Other", 6, &b);
	assert_string_equal(buf_cstr(&b), "Other");
	buf_free(&b);
}

static void
add(struct imap_tree *t, uint32_t id, uint32_t parent, const char *name,
    enum mail_role role, bool sub)
{
	struct mail_mailbox mb;

	memset(&mb, 0, sizeof(mb));
	mb.id = id;
	mb.parent = parent;
	mb.name = (char *)name;
	mb.role = role;
	mb.subscribed = sub;
	imap_tree_add(t, &mb);
}

static void
test_tree(void **state)
{
	struct imap_tree t = { NULL, 0, 0 };
	const struct imap_node *n;

	(void)state;
	add(&t, 2, 0, "Archive", MAIL_ROLE_ARCHIVE, false);
	add(&t, 1, 0, "INBOX", MAIL_ROLE_INBOX, true);
	add(&t, 3, 2, "2024", MAIL_ROLE_NONE, false);
	add(&t, 4, 3, "Q1", MAIL_ROLE_NONE, true);
	add(&t, 5, 0, "a/b", MAIL_ROLE_NONE, true);	/* JMAP name */
	add(&t, 6, 5, "child", MAIL_ROLE_NONE, false);
	add(&t, 7, 99, "orphan", MAIL_ROLE_NONE, false);
	add(&t, 8, 9, "loop1", MAIL_ROLE_NONE, false);	/* a corrupt cycle */
	add(&t, 9, 8, "loop2", MAIL_ROLE_NONE, false);
	add(&t, 10, 1, "Lists", MAIL_ROLE_NONE, false);
	imap_tree_finish(&t);
	assert_int_equal(t.n, 10);
	assert_string_equal(t.v[0].path, "INBOX");	/* INBOX first */
	assert_string_equal(t.v[1].path, "Archive");
	assert_string_equal(t.v[2].path, "Archive/2024");
	assert_string_equal(t.v[3].path, "Archive/2024/Q1");
	assert_string_equal(t.v[4].path, "INBOX/Lists");
	for (size_t i = 5; i < t.n; i++)	/* unreachable ones last */
		assert_null(t.v[i].path);
	n = imap_tree_find(&t, "Archive/2024");
	assert_non_null(n);
	assert_int_equal(n->mb.id, 3);
	assert_true(n->has_children);
	assert_true(n->sub_below);
	assert_false(n->mb.subscribed);
	n = imap_tree_find(&t, "Archive");
	assert_true(n->sub_below);
	assert_string_equal(imap_role_attr(n->mb.role), "\\Archive");
	n = imap_tree_find(&t, "Archive/2024/Q1");
	assert_false(n->has_children);
	assert_false(n->sub_below);
	n = imap_tree_find(&t, "inbox");
	assert_non_null(n);
	assert_int_equal(n->mb.id, 1);
	assert_true(n->has_children);
	assert_null(imap_role_attr(n->mb.role));
	assert_non_null(imap_tree_find(&t, "inbox/Lists"));
	assert_null(imap_tree_find(&t, "a/b"));
	assert_null(imap_tree_find(&t, "archive"));	/* case matters */
	imap_tree_free(&t);
	assert_int_equal(t.n, 0);
}

static void
test_roles(void **state)
{
	(void)state;
	assert_int_equal(imap_use_role(IMAP_USE_SENT), MAIL_ROLE_SENT);
	assert_int_equal(imap_use_role(IMAP_USE_TRASH), MAIL_ROLE_TRASH);
	assert_int_equal(imap_use_role(IMAP_USE_JUNK), MAIL_ROLE_JUNK);
	assert_int_equal(imap_use_role(IMAP_USE_DRAFTS), MAIL_ROLE_DRAFTS);
	assert_int_equal(imap_use_role(IMAP_USE_ARCHIVE), MAIL_ROLE_ARCHIVE);
	assert_int_equal(imap_use_role(IMAP_USE_ALL), -1);
	assert_int_equal(imap_use_role(IMAP_USE_FLAGGED), -1);
	assert_int_equal(imap_use_role(IMAP_USE_SENT | IMAP_USE_TRASH), -1);
	assert_null(imap_role_attr(MAIL_ROLE_NONE));
	assert_string_equal(imap_role_attr(MAIL_ROLE_JUNK), "\\Junk");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_limits),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_pattern),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_roles),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
