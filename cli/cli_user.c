/*
 * cli_user.c - becoming the unprivileged user (server.user).
 *
 * `postern serve` started as root binds its ports and reads its keys,
 * then hands data_dir to the user and becomes it; the other commands,
 * run as root, become the user before touching the data store, so they
 * never leave root-owned files the server cannot write.
 */
#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/log.h"

#define SVC "master"

static uid_t chown_uid;
static gid_t chown_gid;

static int
chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (lchown(path, chown_uid, chown_gid) < 0)
		log_warn(SVC, "chown %s: %s", path, strerror(errno));
	return 0;
}

/* cli_become_user - as root: (hand data_dir to the user and) become it */
void
cli_become_user(const struct config *cfg, bool chown_data)
{
	struct passwd *pw;

	if (getuid() != 0 && geteuid() != 0)
		return;
	pw = getpwnam(cfg->server.user);
	if (pw == NULL)
		log_fatal(SVC, "server.user \"%s\" does not exist: create it "
		    "(useradd --system %s) or set server.user",
		    cfg->server.user, cfg->server.user);
	if (pw->pw_uid == 0)
		log_fatal(SVC, "server.user \"%s\" is root; refusing to run "
		    "as root", cfg->server.user);
	chown_uid = pw->pw_uid;
	chown_gid = pw->pw_gid;
	/* single-threaded here: nftw's callback may use the statics */
	if (chown_data &&
	    nftw(cfg->server.data_dir, chown_one, 16, FTW_PHYS) < 0)
		log_fatal(SVC, "chown %s: %s", cfg->server.data_dir,
		    strerror(errno));
	/* a command run before the first start: make data_dir the user's */
	if (!chown_data && mkdir(cfg->server.data_dir, 0750) == 0 &&
	    chown(cfg->server.data_dir, pw->pw_uid, pw->pw_gid) < 0)
		log_fatal(SVC, "chown %s: %s", cfg->server.data_dir,
		    strerror(errno));
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0)
		log_fatal(SVC, "dropping privileges to %s: %s",
		    cfg->server.user, strerror(errno));
	if (setuid(0) == 0)
		log_fatal(SVC, "privileges could not be dropped");
	if (chown_data)
		log_info(SVC, "running as user %s (uid %u)", cfg->server.user,
		    (unsigned)pw->pw_uid);
}


int
cli_data_dir(const struct config *cfg)
{
	cli_become_user(cfg, false);
	if (mkdir(cfg->server.data_dir, 0750) < 0 && errno != EEXIST) {
		fprintf(stderr, "postern: data_dir %s: %s\n",
		    cfg->server.data_dir, strerror(errno));
		return -1;
	}
	return 0;
}
