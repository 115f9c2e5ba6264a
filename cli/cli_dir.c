/*
 * cli_dir.c - `postern domain|user|alias`: the internal directory from
 * the command line.
 *
 *   postern domain add DOMAIN | del DOMAIN | list
 *   postern user add ADDR [--quota SIZE] [--name TEXT] [--no-password]
 *   postern user del ADDR | passwd ADDR | list [DOMAIN] | show ADDR
 *       (show: the account, its quota and the bytes its mail uses)
 *   postern alias add ALIAS TARGET... | del ALIAS [TARGET] | list
 *
 * Passwords are never taken from the command line (ps would show them):
 * `user add` and `user passwd` read one line from standard input, with
 * echo off when it is a terminal.  The data store is opened directly;
 * SQLite allows that next to a running server (WAL), RocksDB does not
 * (one process at a time) - then stop the server first.
 *
 * Exit status: 0 ok, 1 failure (duplicate, unknown name, store error),
 * 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "directory/directory.h"
#include "store/kv.h"
#include "store/mail.h"

static int
usage(const char *what)
{
	if (strcmp(what, "domain") == 0)
		fprintf(stderr, "usage: postern domain add DOMAIN | del DOMAIN "
		    "| list\n");
	else if (strcmp(what, "user") == 0)
		fprintf(stderr, "usage: postern user add ADDR [--quota SIZE] "
		    "[--name TEXT] [--no-password]\n"
		    "       postern user del ADDR | passwd ADDR | "
		    "list [DOMAIN] | show ADDR\n"
		    "(passwords are read from standard input)\n");
	else
		fprintf(stderr, "usage: postern alias add ALIAS TARGET... | "
		    "del ALIAS [TARGET] | list\n");
	return 2;
}

/* cli_open_directory - the configured data store and a directory on it */
static int
open_directory(const struct config *cfg, struct kv **kv,
    struct directory **d)
{
	struct kv_options o = { cfg->store.backend == STORE_ROCKSDB ?
		"rocksdb" : "sqlite", cfg->store.path, false };
	struct buf err = BUF_INIT(0);

	if (cli_data_dir(cfg) < 0)
		return -1;
	if (kv_open(&o, kv, &err) < 0) {
		fprintf(stderr, "postern: data store %s: %s\n", cfg->store.path,
		    buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	*d = directory_new(*kv, NULL);
	buf_free(&err);
	return 0;
}

/* read_password - one line from stdin, echo off on a terminal */
static int
read_password(struct buf *pw)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO) == 1;
	int c;

	if (tty) {
		fprintf(stderr, "Password: ");
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	buf_reset(pw);
	while ((c = getchar()) != EOF && c != '\n') {
		if (buf_append_byte(pw, (unsigned char)c) < 0)
			break;
	}
	if (pw->len > 0 && pw->data[pw->len - 1] == '\r')
		buf_truncate(pw, pw->len - 1);
	if (tty) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if (pw->len == 0) {
		fprintf(stderr, "postern: empty password (use --no-password "
		    "for an account without login)\n");
		return -1;
	}
	return 0;
}

static int
fail(struct buf *err)
{
	fprintf(stderr, "postern: %s\n", buf_cstr(err));
	return 1;
}

static int
print_name(void *arg, const char *name)
{
	(void)arg;
	printf("%s\n", name);
	return 0;
}

static int
print_account(void *arg, const struct dir_account *a)
{
	(void)arg;
	printf("%s\n", a->name);
	return 0;
}

static int
print_alias(void *arg, const char *alias, const char *target)
{
	(void)arg;
	printf("%s -> %s\n", alias, target);
	return 0;
}

static int
domain_cmd(struct directory *d, int argc, char **argv, struct buf *err)
{
	if (argc == 3 && strcmp(argv[1], "add") == 0)
		return dir_domain_add(d, argv[2], err) < 0 ? fail(err) : 0;
	if (argc == 3 && strcmp(argv[1], "del") == 0)
		return dir_domain_del(d, argv[2], err) < 0 ? fail(err) : 0;
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return dir_domain_list(d, print_name, NULL, err) < 0 ?
		    fail(err) : 0;
	return usage("domain");
}

static int
user_add(struct directory *d, int argc, char **argv, struct buf *err)
{
	struct buf pw = BUF_INIT(1024);
	const char *name = NULL;
	uint64_t quota = 0;
	bool nopw = false;
	int rc;

	for (int i = 3; i < argc; i++) {
		if (strcmp(argv[i], "--quota") == 0 && i + 1 < argc) {
			if (config_parse_size(argv[++i], &quota) < 0) {
				fprintf(stderr, "postern: --quota %s: not a "
				    "size (bytes, or 10k, 50M, 2G)\n", argv[i]);
				return 2;
			}
		} else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(argv[i], "--no-password") == 0) {
			nopw = true;
		} else {
			return usage("user");
		}
	}
	if (!nopw && read_password(&pw) < 0) {
		buf_free(&pw);
		return 1;
	}
	rc = dir_user_add(d, argv[2], nopw ? NULL : buf_cstr(&pw), quota,
	    name, NULL, err) < 0 ? fail(err) : 0;
	if (pw.data != NULL)
		explicit_bzero(pw.data, pw.len);
	buf_free(&pw);
	return rc;
}

static int
user_show(struct kv *kv, struct directory *d, const char *addr,
    struct buf *err)
{
	struct dir_account a;
	struct mail *m;
	uint64_t used = 0;
	int f = dir_user_get(d, addr, &a, err);

	if (f < 0)
		return fail(err);
	if (f == 0) {
		fprintf(stderr, "postern: unknown account %s\n", addr);
		return 1;
	}
	printf("name: %s\nid: %u\ndisplay name: %s\nlogin: %s\n", a.name,
	    a.id, a.display_name, a.password[0] != '\0' ? "enabled" :
	    "disabled (no password)");
	if (a.quota > 0)
		printf("quota: %llu bytes\n", (unsigned long long)a.quota);
	else
		printf("quota: none\n");
	m = mail_new(kv);
	f = mail_quota_used(m, a.id, &used, err);
	mail_free(&m);
	if (f == 0 && a.quota > 0)
		printf("quota used: %llu bytes (%llu%%)\n",
		    (unsigned long long)used, (unsigned long long)
		    ((unsigned __int128)used * 100 / a.quota));
	else if (f == 0)
		printf("quota used: %llu bytes\n", (unsigned long long)used);
	dir_account_clear(&a);
	return f < 0 ? fail(err) : 0;
}

static int
user_cmd(struct kv *kv, struct directory *d, int argc, char **argv,
    struct buf *err)
{
	if (argc >= 3 && strcmp(argv[1], "add") == 0)
		return user_add(d, argc, argv, err);
	if (argc == 3 && strcmp(argv[1], "del") == 0)
		return dir_user_del(d, argv[2], err) < 0 ? fail(err) : 0;
	if (argc == 3 && strcmp(argv[1], "passwd") == 0) {
		struct buf pw = BUF_INIT(1024);
		int rc = 1;

		if (read_password(&pw) == 0)
			rc = dir_user_passwd(d, argv[2], buf_cstr(&pw), err) <
			    0 ? fail(err) : 0;
		if (pw.data != NULL)
			explicit_bzero(pw.data, pw.len);
		buf_free(&pw);
		return rc;
	}
	if ((argc == 2 || argc == 3) && strcmp(argv[1], "list") == 0)
		return dir_user_list(d, argc == 3 ? argv[2] : NULL,
		    print_account, NULL, err) < 0 ? fail(err) : 0;
	if (argc == 3 && strcmp(argv[1], "show") == 0)
		return user_show(kv, d, argv[2], err);
	return usage("user");
}

static int
alias_cmd(struct directory *d, int argc, char **argv, struct buf *err)
{
	if (argc >= 4 && strcmp(argv[1], "add") == 0) {
		for (int i = 3; i < argc; i++)
			if (dir_alias_add(d, argv[2], argv[i], err) < 0)
				return fail(err);
		return 0;
	}
	if ((argc == 3 || argc == 4) && strcmp(argv[1], "del") == 0)
		return dir_alias_del(d, argv[2], argc == 4 ? argv[3] : NULL,
		    err) < 0 ? fail(err) : 0;
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return dir_alias_list(d, print_alias, NULL, err) < 0 ?
		    fail(err) : 0;
	return usage("alias");
}

/* the shapes of the commands, checked before the store is opened */
static const struct {
	const char *cmd, *sub;
	int min, max;	/* argc, command and subcommand included */
} shapes[] = {
	{ "domain", "add", 3, 3 }, { "domain", "del", 3, 3 },
	{ "domain", "list", 2, 2 },
	{ "user", "add", 3, 9 }, { "user", "del", 3, 3 },
	{ "user", "passwd", 3, 3 }, { "user", "list", 2, 3 },
	{ "user", "show", 3, 3 },
	{ "alias", "add", 4, 1000 }, { "alias", "del", 3, 4 },
	{ "alias", "list", 2, 2 },
};

static bool
shape_ok(int argc, char **argv)
{
	for (size_t i = 0; argc >= 2 && i < ARRAY_SIZE(shapes); i++)
		if (strcmp(argv[0], shapes[i].cmd) == 0 &&
		    strcmp(argv[1], shapes[i].sub) == 0)
			return argc >= shapes[i].min && argc <= shapes[i].max;
	return false;
}

int
cli_dir(const struct config *cfg, int argc, char **argv)
{
	struct buf err = BUF_INIT(0);
	struct directory *d;
	struct kv *kv;
	int rc;

	if (!shape_ok(argc, argv))
		return usage(argv[0]);
	if (open_directory(cfg, &kv, &d) < 0)
		return 1;
	if (strcmp(argv[0], "domain") == 0)
		rc = domain_cmd(d, argc, argv, &err);
	else if (strcmp(argv[0], "user") == 0)
		rc = user_cmd(kv, d, argc, argv, &err);
	else
		rc = alias_cmd(d, argc, argv, &err);
	directory_free(&d);
	kv_close(&kv);
	buf_free(&err);
	return rc;
}
