/*
 * unit_tmpdir.h - a scratch directory for a cmocka group: the group setup
 * creates it and chdirs into it, the teardown goes back to the directory
 * the test started in (the repo root) and removes it.  Header-only, since
 * each unit test is its own program.
 */
#ifndef POSTERN_UNIT_TMPDIR_H
#define POSTERN_UNIT_TMPDIR_H

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char unit_tmpdir[] = "/tmp/postern-unit.XXXXXX";
static int unit_start_dir = -1;	/* where the test started: the repo root */

static int
unit_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline int
unit_tmpdir_setup(void **state)
{
	(void)state;
	unit_start_dir = open(".", O_RDONLY | O_DIRECTORY);
	if (unit_start_dir < 0 || mkdtemp(unit_tmpdir) == NULL ||
	    chdir(unit_tmpdir) < 0)
		return -1;
	return 0;
}

static inline int
unit_tmpdir_teardown(void **state)
{
	(void)state;
	if (fchdir(unit_start_dir) < 0)
		return -1;
	close(unit_start_dir);
	return nftw(unit_tmpdir, unit_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

#endif
