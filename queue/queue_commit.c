/*
 * queue_commit.c - the group commit: the durability point behind "250".
 *
 * spool_commit() writes the end record on the caller's (worker) thread and
 * queues the file.  One committer thread takes everything queued as one
 * batch and, for the batch:
 *
 *   1. renames each tmp/QID to msg/QID with RENAME_NOREPLACE (an existing
 *      msg/QID is never replaced: that file fails alone);
 *   2. calls syncfs(2) once on the spool directory;
 *   3. calls done(arg, 0, NULL) for each file, or done(arg, -1, text)
 *      after removing whatever entry the file had.
 *
 * While it syncs, new commits queue up for the next batch, so one flush
 * acknowledges every message that arrived during the previous one: with
 * N concurrent sessions the cost per message tends to 1/N of an fsync.
 *
 * Why this is correct.  A message is acknowledged only in step 3, after
 * syncfs() returned 0.  syncfs() writes back every dirty page and inode of
 * the filesystem and commits its journal, so at that point both the data
 * of every file in the batch (written with write(2) before the file was
 * queued; the queue's mutex orders those writes before the committer's
 * call) and the directory entries created by the renames, in msg/ and
 * removed from tmp/, are on stable storage.  Since Linux 5.8 syncfs()
 * also reports writeback errors that happened on the filesystem since the
 * directory was opened; on any error the whole batch is failed (and its
 * msg/ entries removed), which is conservative: a 451 makes the client
 * retry, a false 250 would lose mail.  A crash before syncfs() returns
 * leaves files no client was told about: in tmp/ (removed by recovery) or,
 * renamed but with data still missing, in msg/ without a valid end record
 * (moved to corrupt/ by recovery); a file that survived complete is
 * delivered, and the client's retry makes a duplicate, never a loss.
 * Content damage that keeps the framing intact is caught by the end
 * record's SHA-256 when a transport reads the content.
 *
 * syncfs() flushes the whole filesystem, other programs' writes too; where
 * that is expensive, or where syncfs() is missing (ENOSYS, then for good),
 * SPOOL_SYNC_FSYNC does it the classic way: fsync each file before its
 * rename (so msg/ never holds partial data), then fsync msg/ once for the
 * batch - still one directory flush per batch.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "queue/queue_priv.h"

void
spool_commit(struct spool_file *f, spool_commit_fn *done, void *arg)
{
	struct spool *sp = f->sp;

	f->done = done;
	f->done_arg = arg;
	if (spool_file_finish(f) < 0) {
		/* recorded in f: the committer reports it through done */
	}
	pthread_mutex_lock(&sp->lock);
	ASSERT(sp->running && !sp->stopping);
	f->next = NULL;
	*sp->pending_tail = f;
	sp->pending_tail = &f->next;
	pthread_cond_signal(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
}

static void
fail_text(struct spool_file *f, const char *text)
{
	f->failed = true;
	buf_reset(&f->error);
	buf_addf(&f->error, "%s: %s", f->qid, text);
}

/* sync_batch - make the renamed files durable; -1 with errno */
static int
sync_batch(struct spool *sp, struct spool_file *batch,
    enum spool_sync_mode mode, const char **what)
{
	if (mode == SPOOL_SYNC_SYNCFS) {
		*what = "syncfs";
		if (syncfs(sp->dirfd) == 0)
			return 0;
		if (errno != ENOSYS)
			return -1;
		log_warn("queue", "syncfs: %s; falling back to fsync",
		    strerror(errno));
		pthread_mutex_lock(&sp->lock);
		sp->sync_mode = SPOOL_SYNC_FSYNC;
		pthread_mutex_unlock(&sp->lock);
		*what = "fsync";
		for (struct spool_file *f = batch; f != NULL; f = f->next)
			if (f->renamed && fsync(f->fd) < 0)
				return -1;
	}
	*what = "fsync msg/";
	return fsync(sp->msgfd);
}

static void
commit_batch(struct spool *sp, struct spool_file *batch,
    enum spool_sync_mode mode)
{
	uint64_t n = 0, renamed = 0, ok = 0;
	const char *what;
	struct spool_file *f, *next;

	for (f = batch; f != NULL; f = f->next) {
		n++;
		if (!f->failed && mode == SPOOL_SYNC_FSYNC && fsync(f->fd) < 0)
			spool_file_fail(f, "fsync", errno);
	}
	for (f = batch; f != NULL; f = f->next) {
		if (f->failed)
			continue;
		if (queue_rename_noreplace(sp->tmpfd, f->qid, sp->msgfd,
		    f->qid) == 0) {
			f->renamed = true;
			renamed++;
		} else if (errno == EEXIST) {
			fail_text(f, "queue file already exists in msg/");
		} else {
			spool_file_fail(f, "rename", errno);
		}
	}
	if (renamed > 0 && sync_batch(sp, batch, mode, &what) < 0) {
		int e = errno;

		log_error("queue", "%s %s: %s; %llu messages not accepted",
		    what, sp->dir, strerror(e), (unsigned long long)renamed);
		for (f = batch; f != NULL; f = f->next) {
			if (!f->renamed)
				continue;
			/* not acknowledged: the client retries; keeping the
			 * file could deliver it twice */
			if (unlinkat(sp->msgfd, f->qid, 0) < 0)
				log_error("queue", "%s: unlink msg/%s: %s",
				    f->qid, f->qid, strerror(errno));
			f->renamed = false;
			spool_file_fail(f, what, e);
		}
	}
	for (f = batch; f != NULL; f = f->next)
		ok += !f->failed;
	/* stats first: a caller told "done" sees its commit counted */
	pthread_mutex_lock(&sp->lock);
	sp->stats.batches++;
	sp->stats.syncs += renamed > 0 ? 1 : 0;
	sp->stats.commits += ok;
	sp->stats.failures += n - ok;
	if (n > sp->stats.max_batch)
		sp->stats.max_batch = n;
	pthread_mutex_unlock(&sp->lock);
	for (f = batch; f != NULL; f = next) {
		next = f->next;
		if (f->failed) {
			if (!f->renamed && unlinkat(sp->tmpfd, f->qid, 0) < 0 &&
			    errno != ENOENT)
				log_warn("queue", "%s: unlink tmp/%s: %s",
				    f->qid, f->qid, strerror(errno));
			f->done(f->done_arg, -1, buf_cstr(&f->error));
		} else {
			f->done(f->done_arg, 0, NULL);
		}
		spool_file_free(f);
	}
}

static void *
committer_main(void *arg)
{
	struct spool *sp = arg;

	pthread_mutex_lock(&sp->lock);
	for (;;) {
		struct spool_file *batch;
		enum spool_sync_mode mode;

		while (sp->pending == NULL && !sp->stopping)
			pthread_cond_wait(&sp->cond, &sp->lock);
		if (sp->pending == NULL)
			break;	/* stopping, and drained */
		batch = sp->pending;
		sp->pending = NULL;
		sp->pending_tail = &sp->pending;
		mode = sp->sync_mode;
		pthread_mutex_unlock(&sp->lock);
		commit_batch(sp, batch, mode);
		pthread_mutex_lock(&sp->lock);
	}
	pthread_mutex_unlock(&sp->lock);
	return NULL;
}

int
spool_committer_start(struct spool *sp, const char **error_r)
{
	int e = pthread_create(&sp->thread, NULL, committer_main, sp);

	if (e != 0) {
		log_error("queue", "committer thread: %s", strerror(e));
		*error_r = "cannot start the queue committer thread";
		return -1;
	}
	sp->running = true;
	return 0;
}

void
spool_committer_stop(struct spool *sp)
{
	if (!sp->running)
		return;
	pthread_mutex_lock(&sp->lock);
	sp->stopping = true;
	pthread_cond_signal(&sp->cond);
	pthread_mutex_unlock(&sp->lock);
	pthread_join(sp->thread, NULL);
	sp->running = false;
}
