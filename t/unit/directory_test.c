/*
 * directory_test.c - the internal directory over a real SQLite data
 * store: domains, accounts, aliases (one-to-many, catch-all, loops),
 * sub-addressing, authentication, sender ownership (dir_owns), and the
 * errors for duplicates and unknown names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "directory/directory.h"
#include "directory/password.h"
#include "t/unit/unit_tmpdir.h"

struct fx {
	struct kv *kv;
	struct directory *d;
	struct buf err;
};

static struct fx *
fx_new(void)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct kv_options o = { "sqlite", "dir.sqlite", false };

	assert_non_null(fx);
	buf_init(&fx->err, 0);
	unlink("dir.sqlite");
	assert_int_equal(kv_open(&o, &fx->kv, &fx->err), 0);
	fx->d = directory_new(fx->kv, NULL);
	return fx;
}

static void
fx_free(struct fx *fx)
{
	directory_free(&fx->d);
	kv_close(&fx->kv);
	buf_free(&fx->err);
	free(fx);
}

/* expect_err - the call failed and its error text holds want */
#define expect_err(fx, call, want)                                        \
	do {                                                              \
		buf_reset(&(fx)->err);                                    \
		assert_int_equal((call), -1);                             \
		if (strstr(buf_cstr(&(fx)->err), (want)) == NULL)         \
			fail_msg("error \"%s\" lacks \"%s\"",             \
			    buf_cstr(&(fx)->err), (want));                \
	} while (0)

static int
count_name(void *arg, const char *name)
{
	(void)name;
	(*(int *)arg)++;
	return 0;
}

static void
test_domains(void **state)
{
	struct fx *fx = fx_new();
	int n = 0;

	(void)state;
	assert_int_equal(dir_domain_add(fx->d, "Example.COM", &fx->err), 0);
	assert_int_equal(dir_domain_add(fx->d, "example.org", &fx->err), 0);
	expect_err(fx, dir_domain_add(fx->d, "example.com", &fx->err),
	    "already exists");
	assert_int_equal(dir_domain_exists(fx->d, "EXAMPLE.com", &fx->err), 1);
	assert_int_equal(dir_domain_exists(fx->d, "nope.example", &fx->err),
	    0);
	assert_int_equal(dir_domain_list(fx->d, count_name, &n, &fx->err), 0);
	assert_int_equal(n, 2);
	expect_err(fx, dir_domain_del(fx->d, "nope.example", &fx->err),
	    "unknown domain");
	expect_err(fx, dir_domain_add(fx->d, "a@b", &fx->err), "no '@'");
	expect_err(fx, dir_domain_add(fx->d, "", &fx->err), "empty");
	assert_int_equal(dir_user_add(fx->d, "u@example.org", NULL, 0, NULL,
	    NULL, &fx->err), 0);
	expect_err(fx, dir_domain_del(fx->d, "example.org", &fx->err),
	    "still has 1 accounts");
	assert_int_equal(dir_user_del(fx->d, "u@example.org", &fx->err), 0);
	assert_int_equal(dir_domain_del(fx->d, "example.org", &fx->err), 0);
	assert_int_equal(dir_domain_exists(fx->d, "example.org", &fx->err), 0);
	fx_free(fx);
}

static void
test_users(void **state)
{
	struct fx *fx = fx_new();
	struct dir_account a;
	uint32_t id1, id2, id;

	(void)state;
	expect_err(fx, dir_user_add(fx->d, "u@example.com", "pw", 0, NULL,
	    NULL, &fx->err), "unknown domain");
	assert_int_equal(dir_domain_add(fx->d, "example.com", &fx->err), 0);
	assert_int_equal(dir_user_add(fx->d, "Alice@Example.com", "s3cret",
	    1000000, "Alice A.", &id1, &fx->err), 0);
	assert_int_equal(dir_user_add(fx->d, "bob@example.com", NULL, 0, NULL,
	    &id2, &fx->err), 0);
	assert_true(id2 > id1);
	expect_err(fx, dir_user_add(fx->d, "alice@example.com", "x", 0, NULL,
	    NULL, &fx->err), "already exists");
	expect_err(fx, dir_user_add(fx->d, "not-an-address", "x", 0, NULL,
	    NULL, &fx->err), "not an address");
	assert_int_equal(dir_user_get(fx->d, "ALICE@example.com", &a,
	    &fx->err), 1);
	assert_int_equal(a.id, id1);
	assert_string_equal(a.name, "alice@example.com");
	assert_string_equal(a.display_name, "Alice A.");
	assert_int_equal(a.quota, 1000000);
	assert_true(a.password[0] != '\0');
	assert_null(strstr(a.password, "s3cret"));	/* hashed */
	dir_account_clear(&a);

	assert_int_equal(dir_authenticate(fx->d, "alice@example.com", "s3cret",
	    6, &id, &fx->err), 1);
	assert_int_equal(id, id1);
	assert_int_equal(dir_authenticate(fx->d, "alice@example.com", "wrong",
	    5, &id, &fx->err), 0);
	assert_int_equal(dir_authenticate(fx->d, "bob@example.com", "", 0,
	    &id, &fx->err), 0);	/* no password: no login */
	assert_int_equal(dir_authenticate(fx->d, "ghost@example.com", "x", 1,
	    &id, &fx->err), 0);
	/* a name that is no address is an unknown user, not an error */
	assert_int_equal(dir_authenticate(fx->d, "not-an-address", "x", 1,
	    &id, &fx->err), 0);
	assert_int_equal(dir_authenticate(fx->d, "", "x", 1, &id, &fx->err),
	    0);
	assert_int_equal(dir_user_passwd(fx->d, "bob@example.com", "new",
	    &fx->err), 0);
	assert_int_equal(dir_authenticate(fx->d, "bob@example.com", "new", 3,
	    &id, &fx->err), 1);
	assert_int_equal(id, id2);
	expect_err(fx, dir_user_passwd(fx->d, "ghost@example.com", "x",
	    &fx->err), "unknown account");
	assert_int_equal(dir_user_set_quota(fx->d, "bob@example.com", 42,
	    &fx->err), 0);
	assert_int_equal(dir_user_get_id(fx->d, id2, &a, &fx->err), 1);
	assert_int_equal(a.quota, 42);
	dir_account_clear(&a);

	/* a Dovecot hash imports unchanged */
	assert_int_equal(dir_user_set_hash(fx->d, "bob@example.com",
	    /* python3 crypt.crypt("secret", "$6$saltsalt$") */
	    "{SHA512-CRYPT}$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc"
	    "1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1", &fx->err), 0);
	assert_int_equal(dir_authenticate(fx->d, "bob@example.com", "secret",
	    6, &id, &fx->err), 1);

	assert_int_equal(dir_user_del(fx->d, "bob@example.com", &fx->err), 0);
	assert_int_equal(dir_user_get(fx->d, "bob@example.com", &a, &fx->err),
	    0);
	expect_err(fx, dir_user_del(fx->d, "bob@example.com", &fx->err),
	    "unknown account");
	/* ids are not reused */
	assert_int_equal(dir_user_add(fx->d, "bob@example.com", NULL, 0, NULL,
	    &id, &fx->err), 0);
	assert_true(id > id2);
	fx_free(fx);
}

static bool
has_account(const struct dir_rcpt *r, uint32_t id)
{
	for (size_t i = 0; i < r->naccounts; i++)
		if (r->accounts[i] == id)
			return true;
	return false;
}

static bool
has_forward(const struct dir_rcpt *r, const char *addr)
{
	for (size_t i = 0; i < r->nforwards; i++)
		if (strcmp(r->forwards[i], addr) == 0)
			return true;
	return false;
}

static void
test_resolve(void **state)
{
	struct fx *fx = fx_new();
	struct dir_rcpt r;
	uint32_t alice, bob;

	(void)state;
	assert_int_equal(dir_domain_add(fx->d, "example.com", &fx->err), 0);
	assert_int_equal(dir_domain_add(fx->d, "other.example", &fx->err), 0);
	assert_int_equal(dir_user_add(fx->d, "alice@example.com", NULL, 0,
	    NULL, &alice, &fx->err), 0);
	assert_int_equal(dir_user_add(fx->d, "bob@example.com", NULL, 0, NULL,
	    &bob, &fx->err), 0);

	/* the account itself, and a sub-address of it */
	assert_int_equal(dir_resolve(fx->d, "Alice@example.com", &r, &fx->err),
	    1);
	assert_int_equal(r.naccounts, 1);
	assert_true(has_account(&r, alice));
	dir_rcpt_clear(&r);
	assert_int_equal(dir_resolve(fx->d, "alice+lists@example.com", &r,
	    &fx->err), 1);
	assert_true(has_account(&r, alice));
	dir_rcpt_clear(&r);
	assert_int_equal(dir_resolve(fx->d, "carol@example.com", &r,
	    &fx->err), 0);

	/* one-to-many alias, with a remote target and a nested alias */
	assert_int_equal(dir_alias_add(fx->d, "team@example.com",
	    "alice@example.com", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "team@example.com",
	    "bob@example.com", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "team@example.com",
	    "partner@remote.example", &fx->err), 0);
	expect_err(fx, dir_alias_add(fx->d, "team@example.com",
	    "bob@example.com", &fx->err), "already exists");
	assert_int_equal(dir_alias_add(fx->d, "all@example.com",
	    "team@example.com", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "all@example.com",
	    "alice@example.com", &fx->err), 0);
	assert_int_equal(dir_resolve(fx->d, "all@example.com", &r, &fx->err),
	    1);
	assert_int_equal(r.naccounts, 2);	/* alice once */
	assert_true(has_account(&r, alice) && has_account(&r, bob));
	assert_int_equal(r.nforwards, 1);
	assert_true(has_forward(&r, "partner@remote.example"));
	dir_rcpt_clear(&r);

	/* a loop ends */
	assert_int_equal(dir_alias_add(fx->d, "a@example.com", "b@example.com",
	    &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "b@example.com", "a@example.com",
	    &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "b@example.com",
	    "bob@example.com", &fx->err), 0);
	assert_int_equal(dir_resolve(fx->d, "a@example.com", &r, &fx->err), 1);
	assert_true(has_account(&r, bob));
	dir_rcpt_clear(&r);

	/* catch-all, only for its domain, after accounts and aliases */
	assert_int_equal(dir_alias_add(fx->d, "@example.com",
	    "alice@example.com", &fx->err), 0);
	assert_int_equal(dir_resolve(fx->d, "anything@example.com", &r,
	    &fx->err), 1);
	assert_true(has_account(&r, alice));
	dir_rcpt_clear(&r);
	assert_int_equal(dir_resolve(fx->d, "bob@example.com", &r, &fx->err),
	    1);
	assert_false(has_account(&r, alice));
	dir_rcpt_clear(&r);
	assert_int_equal(dir_resolve(fx->d, "x@other.example", &r, &fx->err),
	    0);

	/* delete one target, then the whole alias */
	assert_int_equal(dir_alias_del(fx->d, "team@example.com",
	    "partner@remote.example", &fx->err), 0);
	assert_int_equal(dir_alias_del(fx->d, "team@example.com", NULL,
	    &fx->err), 0);
	expect_err(fx, dir_alias_del(fx->d, "team@example.com", NULL,
	    &fx->err), "unknown alias");
	expect_err(fx, dir_alias_add(fx->d, "x@nope.example",
	    "alice@example.com", &fx->err), "unknown domain");
	fx_free(fx);
}

/* what an account may use as its sender (submission's sender rule) */
static void
test_owns(void **state)
{
	struct fx *fx = fx_new();
	uint32_t alice, bob;
	static const struct {
		const char *addr;
		int alice, bob;
	} cases[] = {
		{ "alice@example.com", 1, 0 },
		{ "ALICE@Example.COM", 1, 0 },
		{ "alice+lists@example.com", 1, 0 },	/* sub-address */
		{ "sales@example.com", 1, 0 },		/* alias */
		{ "sales+x@example.com", 1, 0 },	/* ... sub-addressed */
		{ "boss@example.com", 1, 0 },		/* alias of an alias */
		{ "team@example.com", 1, 1 },		/* a list: both */
		{ "fwd@example.com", 0, 0 },		/* only remote */
		{ "nobody@example.com", 0, 0 },		/* catch-all only */
		{ "bob@example.com", 0, 1 },
		{ "alice@other.example", 0, 0 },
		{ "not-an-address", 0, 0 },
		{ "", 0, 0 },
	};

	(void)state;
	assert_int_equal(dir_domain_add(fx->d, "example.com", &fx->err), 0);
	assert_int_equal(dir_domain_add(fx->d, "other.example", &fx->err), 0);
	assert_int_equal(dir_user_add(fx->d, "alice@example.com", NULL, 0,
	    NULL, &alice, &fx->err), 0);
	assert_int_equal(dir_user_add(fx->d, "bob@example.com", NULL, 0, NULL,
	    &bob, &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "sales@example.com",
	    "alice@example.com", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "boss@example.com",
	    "sales@example.com", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "team@example.com",
	    "alice@example.com", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "team@example.com",
	    "bob@example.com", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "fwd@example.com",
	    "someone@remote.example", &fx->err), 0);
	assert_int_equal(dir_alias_add(fx->d, "@example.com",
	    "alice@example.com", &fx->err), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&fx->err);
		if (dir_owns(fx->d, alice, cases[i].addr, &fx->err) !=
		    cases[i].alice || dir_owns(fx->d, bob, cases[i].addr,
		    &fx->err) != cases[i].bob)
			fail_msg("%s: %s", cases[i].addr, buf_cstr(&fx->err));
	}
	/* the catch-all still delivers: ownership is not resolution */
	{
		struct dir_rcpt r;

		assert_int_equal(dir_resolve(fx->d, "nobody@example.com", &r,
		    &fx->err), 1);
		dir_rcpt_clear(&r);
	}
	fx_free(fx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_owns),
	};

	log_open(LOG_DEST_STDERR, LOG_LVL_ERROR, NULL, NULL);
	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
