/*
 * queue_recover.c - start-up repair of the spool, before any session can
 * create files and before the queue manager loads msg/.
 *
 *   tmp/QID   never acknowledged (a 250 needs the rename into msg/): removed.
 *   msg/X     X not a queue ID: moved to corrupt/ (we never write it).
 *   msg/QID   without a valid end record: moved to corrupt/.  Cannot follow
 *             from our write order unless the crash hit between rename and
 *             syncfs, in which case it was not acknowledged either; kept
 *             in corrupt/ for the postmaster rather than deleted.
 *   msg/QID   with a torn result record at the tail: cut back to the last
 *             complete record, so later appends are not hidden behind it.
 *
 * One log line per action.  A file that cannot be read now (EIO, EMFILE)
 * is left alone and logged: it is not known to be corrupt.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "queue/queue_priv.h"

/* open_dir - a DIR over a duplicate of dirfd (closedir closes the dup) */
static DIR *
open_dir(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d;

	if (fd < 0)
		return NULL;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return NULL;
	}
	rewinddir(d);
	return d;
}

static bool
is_dot(const char *name)
{
	return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

static void
clean_tmp(struct spool *sp, DIR *d, struct spool_recover_stats *st)
{
	struct dirent *de;

	while ((de = readdir(d)) != NULL) {
		if (is_dot(de->d_name))
			continue;
		if (unlinkat(sp->tmpfd, de->d_name, 0) < 0) {
			log_warn("queue", "recover: unlink tmp/%s: %s",
			    de->d_name, strerror(errno));
			continue;
		}
		log_info("queue", "%s: recover: removed unfinished tmp/%s "
		    "(never acknowledged)", de->d_name, de->d_name);
		st->tmp_removed++;
	}
	if (st->tmp_removed > 0 && fsync(sp->tmpfd) < 0)
		log_warn("queue", "recover: fsync tmp/: %s", strerror(errno));
}

static void
move_aside(struct spool *sp, const char *name, const char *why,
    struct spool_recover_stats *st)
{
	struct buf err = BUF_INIT(0);

	if (queue_msg_move_corrupt(sp->dir, name, &err) < 0) {
		log_error("queue", "%s: recover: %s; %s", name, why,
		    buf_cstr(&err));
	} else {
		log_warn("queue", "%s: recover: %s; moved to corrupt/", name,
		    why);
		st->corrupt++;
	}
	buf_free(&err);
}

static void
check_msg(struct spool *sp, const char *name, struct spool_recover_stats *st)
{
	struct buf err = BUF_INIT(0);
	struct queue_msg *m = NULL;

	if (!queue_id_is_valid(name)) {
		move_aside(sp, name, "not a queue ID", st);
		return;
	}
	switch (queue_msg_load(sp->dir, name, &m, &err)) {
	case QUEUE_LOAD_OK:
		break;
	case QUEUE_LOAD_GONE:
		goto out;
	case QUEUE_LOAD_CORRUPT:
		move_aside(sp, name, buf_cstr(&err), st);
		goto out;
	case QUEUE_LOAD_IOERR:
		log_error("queue", "%s: recover: %s; left in place", name,
		    buf_cstr(&err));
		goto out;
	}
	if (m->bad_records > 0)
		log_warn("queue", "%s: recover: %u invalid result records "
		    "ignored", name, m->bad_records);
	if (m->valid_size < m->file_size) {
		if (queue_msg_truncate_tail(sp->dir, m, &err) < 0) {
			log_error("queue", "%s: recover: %s", name,
			    buf_cstr(&err));
		} else {
			log_warn("queue", "%s: recover: torn record at the "
			    "tail cut (%llu bytes)", name,
			    (unsigned long long)(m->file_size - m->valid_size));
			st->truncated++;
		}
	}
	st->ok++;
out:
	queue_msg_free(&m);
	buf_free(&err);
}

int
spool_recover(struct spool *sp, struct spool_recover_stats *st_r,
    struct buf *err)
{
	struct spool_recover_stats dummy, *st = st_r != NULL ? st_r : &dummy;
	struct dirent *de;
	DIR *d;

	memset(st, 0, sizeof(*st));
	d = open_dir(sp->tmpfd);
	if (d == NULL) {
		buf_addf(err, "read %s/tmp: %s", sp->dir, strerror(errno));
		return -1;
	}
	clean_tmp(sp, d, st);
	closedir(d);
	d = open_dir(sp->msgfd);
	if (d == NULL) {
		buf_addf(err, "read %s/msg: %s", sp->dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL)
		if (!is_dot(de->d_name))
			check_msg(sp, de->d_name, st);
	closedir(d);
	if (st->corrupt > 0 && fsync(sp->msgfd) < 0)
		log_warn("queue", "recover: fsync msg/: %s", strerror(errno));
	log_info("queue", "recover: %u messages, %u unfinished removed, "
	    "%u corrupt, %u tails cut", st->ok, st->tmp_removed, st->corrupt,
	    st->truncated);
	return 0;
}
