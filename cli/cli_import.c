/*
 * cli_import.c - `postern import`: accounts from a Dovecot passwd-file,
 * mail from a Dovecot/Courier Maildir++ (cli_import_maildir.c).
 *
 *   postern import passwd-file [--update] FILE
 *   postern import maildir USER DIR
 *
 * passwd-file: lines "user:password:uid:gid:gecos:home:shell:extra" as
 * Dovecot reads them (fields after the password may be missing; '#'
 * starts a comment line).  user must be user@domain; missing domains are
 * created.  The password is a Dovecot "{SCHEME}hash" or a bare crypt
 * hash, stored unchanged after password_verify() said it can be used
 * (one hash computation per line: a hash with a plaintext or unknown
 * scheme, malformed or over the work limits is refused here rather than
 * at every login).  An empty password makes an account without login.
 * gecos becomes the display name; uid, gid, home and shell mean nothing
 * to Postern and are ignored.  Of the extra fields, "userdb_quota_rule"
 * or "quota_rule" with the mailbox "*" sets the quota: storage=N (KiB
 * without a suffix, as in Dovecot; b/k/M/G/T suffixes) or bytes=N;
 * relative, per-mailbox and message-count rules are ignored with a
 * warning.
 *
 * An account that exists already is left alone and reported ("exists"):
 * so a file can be imported again after fixing its bad lines.  With
 * --update such an account gets the file's hash instead, and its quota
 * when the line has a quota rule (the display name is kept: the
 * directory has no call to change it).
 * Bad lines are reported with their number and skipped; the exit status
 * is 1 when any line failed, after the summary line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "directory/directory.h"
#include "directory/password.h"
#include "common/xalloc.h"
#include "store/store.h"

#define PASSWD_LINE_MAX 16384	/* bytes of one passwd-file line */
#define PASSWD_FIELDS 7		/* before the extra fields */

static int
usage(void)
{
	fprintf(stderr, "usage: postern import passwd-file [--update] FILE\n"
	    "       postern import maildir USER DIR\n"
	    "passwd-file: Dovecot's user:password:uid:gid:gecos:home:"
	    "shell:extra lines;\n"
	    "  existing accounts are skipped (--update: given the file's "
	    "hash and quota)\n"
	    "maildir: a Maildir++ (cur/, new/, .Folder.Sub/) into USER's "
	    "mailboxes;\n"
	    "  messages already there (same content, same mailbox) are "
	    "skipped: a re-run is safe\n");
	return 2;
}

/*
 * read_line - the next line of f without its line end into line: 1, 0
 * at the end of the file; *too_long when it had more than line->max
 * bytes (the rest is read and dropped).
 */
static int
read_line(FILE *f, struct buf *line, bool *too_long)
{
	int c;

	buf_reset(line);
	*too_long = false;
	while ((c = getc(f)) != EOF && c != '\n')
		if (!*too_long && buf_append_byte(line, (unsigned char)c) < 0)
			*too_long = true;
	if (c == EOF && line->len == 0 && !*too_long)
		return 0;
	if (line->len > 0 && line->data[line->len - 1] == '\r')
		buf_truncate(line, line->len - 1);
	return 1;
}

/*
 * quota_value - a Dovecot quota limit: storage (KiB without a suffix)
 * or bytes; a suffix b, k, M, G or T (any case) gives the unit.  -1
 * when it is not a plain size (relative "+10M", "10%").
 */
static int
quota_value(const char *v, bool kib, uint64_t *r)
{
	size_t n = strlen(v);
	uint64_t x;

	if (n == 0)
		return -1;
	if (v[n - 1] == 'b' || v[n - 1] == 'B')
		return parse_u64(v, n - 1, UINT64_MAX, r);
	if (is_ascii_digit((unsigned char)v[n - 1])) {
		if (parse_u64(v, n, UINT64_MAX, &x) < 0 ||
		    (kib && x > UINT64_MAX / 1024))
			return -1;
		*r = kib ? x * 1024 : x;
		return 0;
	}
	return config_parse_size(v, r);
}

/*
 * quota_rule - "*:storage=1G" (or bytes=): 1 with *quota_r, 0 for a
 * rule that says nothing about the account's storage, -1 for one we do
 * not take (a message on stderr).
 */
static int
quota_rule(const char *where, const char *rule, uint64_t *quota_r)
{
	char *copy, *p, *lim, *save = NULL;
	int r = 0;

	if (strncmp(rule, "*:", 2) != 0) {
		fprintf(stderr, "postern: %s: quota rule \"%s\" ignored "
		    "(only \"*\", the whole account, is imported)\n", where,
		    rule);
		return 0;
	}
	copy = xstrdup(rule + 2);
	for (p = copy; r >= 0 && (lim = strtok_r(p, ":", &save)) != NULL;
	    p = NULL) {
		bool kib = strncmp(lim, "storage=", 8) == 0;

		if (strcmp(lim, "ignore") == 0 || strcmp(lim, "noenforcing") ==
		    0) {
			*quota_r = 0;
			r = 1;
		} else if (kib || strncmp(lim, "bytes=", 6) == 0) {
			if (quota_value(lim + (kib ? 8 : 6), kib, quota_r) <
			    0) {
				fprintf(stderr, "postern: %s: quota limit "
				    "\"%s\" not imported (only absolute "
				    "sizes)\n", where, lim);
				r = -1;
			} else {
				r = 1;
			}
		} else {
			fprintf(stderr, "postern: %s: quota limit \"%s\" "
			    "ignored (only storage is limited)\n", where, lim);
		}
	}
	free(copy);
	return r;
}

/* split_fields - the 7 ':' fields (missing ones "") and the rest */
static void
split_fields(char *line, char *field[PASSWD_FIELDS], char **extra)
{
	char *p = line;

	*extra = NULL;
	for (int i = 0; i < PASSWD_FIELDS; i++) {
		char *colon;

		field[i] = p != NULL ? p : (char *)"";
		if (p == NULL)
			continue;
		colon = strchr(p, ':');
		if (colon != NULL)
			*colon = '\0';
		p = colon != NULL ? colon + 1 : NULL;
	}
	*extra = p;
}

struct passwd_counts {
	unsigned imported, updated, exists, failed, domains;
};

static int
ensure_domain(struct directory *d, const char *addr,
    struct passwd_counts *c, struct buf *err)
{
	const char *domain = strrchr(addr, '@') + 1;
	int r = dir_domain_exists(d, domain, err);

	if (r == 0 && (r = dir_domain_add(d, domain, err)) == 0) {
		printf("%s: domain created\n", domain);
		c->domains++;
	}
	return r < 0 ? -1 : 0;
}

/* passwd_line - one account line; 0, or -1 after a message on stderr */
static int
passwd_line(struct directory *d, char *line, const char *where, bool update,
    struct passwd_counts *c)
{
	char *field[PASSWD_FIELDS], *extra, *tok, *save = NULL;
	const char *user, *hash, *error, *at;
	struct buf err = BUF_INIT(0);
	struct dir_account a;
	uint64_t quota = 0;
	bool ok, has_quota = false;
	int r;

	split_fields(line, field, &extra);
	/* gecos: "Full Name,room,phone,...": the name only */
	if ((tok = strchr(field[4], ',')) != NULL)
		*tok = '\0';
	user = field[0];
	hash = field[1];
	at = strrchr(user, '@');
	if (at == NULL || at == user || at[1] == '\0') {
		fprintf(stderr, "postern: %s: user \"%s\" has no domain "
		    "(user@domain expected)\n", where, user);
		return -1;
	}
	for (tok = extra != NULL ? strtok_r(extra, " \t", &save) : NULL;
	    tok != NULL; tok = strtok_r(NULL, " \t", &save)) {
		const char *v = NULL;

		if (strncmp(tok, "userdb_quota_rule=", 18) == 0)
			v = tok + 18;
		else if (strncmp(tok, "quota_rule=", 11) == 0)
			v = tok + 11;
		if (v == NULL)
			continue;
		if ((r = quota_rule(where, v, &quota)) < 0)
			return -1;
		has_quota = has_quota || r > 0;
	}
	if (hash[0] != '\0' &&
	    password_verify(hash, "x", 1, &ok, &error) < 0) {
		bool plain = strstr(error, "plaintext") != NULL;

		fprintf(stderr, "postern: %s: %s: password not imported: "
		    "%s%s\n", where, user, error, plain ? " (hash it first, "
		    "e.g. doveadm pw -s ARGON2ID, or set one with `postern "
		    "user passwd`)" : "");
		return -1;
	}

	r = dir_user_get(d, user, &a, &err);
	if (r > 0) {
		dir_account_clear(&a);
		if (!update) {
			printf("%s: exists, skipped\n", user);
			c->exists++;
			buf_free(&err);
			return 0;
		}
		if (dir_user_set_hash(d, user, hash, &err) < 0 ||
		    (has_quota && dir_user_set_quota(d, user, quota, &err) <
		    0))
			r = -1;
		else {
			printf("%s: updated\n", user);
			c->updated++;
		}
	} else if (r == 0) {
		if (ensure_domain(d, user, c, &err) < 0 ||
		    dir_user_add(d, user, NULL, quota, field[4], NULL,
		    &err) < 0 ||
		    (hash[0] != '\0' &&
		    dir_user_set_hash(d, user, hash, &err) < 0))
			r = -1;
		else {
			printf("%s: imported%s\n", user, hash[0] == '\0' ?
			    " (no password: login disabled)" : "");
			c->imported++;
		}
	}
	if (r < 0)
		fprintf(stderr, "postern: %s: %s\n", where, buf_cstr(&err));
	buf_free(&err);
	return r < 0 ? -1 : 0;
}

int
cli_import_passwd(struct directory *d, FILE *f, const char *name,
    bool update)
{
	struct buf line = BUF_INIT(PASSWD_LINE_MAX), where = BUF_INIT(0);
	struct passwd_counts c = { 0, 0, 0, 0, 0 };
	unsigned long lineno = 0;
	bool too_long;

	while (read_line(f, &line, &too_long) > 0) {
		const char *p = buf_cstr(&line);

		lineno++;
		buf_reset(&where);
		buf_addf(&where, "%s:%lu", name, lineno);
		if (too_long) {
			fprintf(stderr, "postern: %s: line longer than %u "
			    "bytes\n", buf_cstr(&where), PASSWD_LINE_MAX);
			c.failed++;
			continue;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || *p == '#')
			continue;
		if (memchr(line.data, '\0', line.len) != NULL) {
			fprintf(stderr, "postern: %s: NUL byte\n",
			    buf_cstr(&where));
			c.failed++;
			continue;
		}
		if (passwd_line(d, (char *)line.data, buf_cstr(&where), update,
		    &c) < 0)
			c.failed++;
		explicit_bzero(line.data, line.len);
	}
	if (ferror(f)) {
		fprintf(stderr, "postern: %s: read error\n", name);
		c.failed++;
	}
	printf("passwd-file %s: %u imported, %u updated, %u skipped (exist), "
	    "%u failed; %u domains created\n", name, c.imported, c.updated,
	    c.exists, c.failed, c.domains);
	buf_free(&line);
	buf_free(&where);
	return c.failed > 0 ? 1 : 0;
}

static int
import_passwd_file(const struct config *cfg, const char *path, bool update)
{
	struct store *st;
	struct directory *d;
	FILE *f;
	int rc;

	/* opened before the privileges are dropped: /etc/dovecot/users is
	 * often root's only */
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (cli_store_open(cfg, &st) < 0) {
		fclose(f);
		return 1;
	}
	d = directory_new(st->kv, NULL);
	rc = cli_import_passwd(d, f, path, update);
	directory_free(&d);
	store_close(&st);
	fclose(f);
	return rc;
}

int
cli_import(const struct config *cfg, int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "passwd-file") == 0) {
		bool update = argc == 4 && strcmp(argv[2], "--update") == 0;

		if (argc != 3 + (update ? 1 : 0) || argv[argc - 1][0] == '-')
			return usage();
		return import_passwd_file(cfg, argv[argc - 1], update);
	}
	if (argc == 4 && strcmp(argv[1], "maildir") == 0)
		return cli_import_maildir(cfg, argv[2], argv[3]);
	return usage();
}
