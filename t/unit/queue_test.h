/*
 * queue_test.h - helpers shared by the queue unit tests: scratch spool
 * directories, waiting for a commit, whole-file reads and writes.
 * Included by t/unit/queue_*_test.c only; every function is static
 * inline, so a test that does not use one is not warned about it.
 */
#ifndef POSTERN_QUEUE_TEST_H
#define POSTERN_QUEUE_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "queue/queue.h"

static inline char *
tdir_new(void)
{
	char tmpl[] = "/tmp/postern-qtest.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	return xstrdup(tmpl);
}

static inline int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void
tdir_rm(char **dir)
{
	if (*dir == NULL)
		return;
	assert_int_equal(nftw(*dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
	free(*dir);
	*dir = NULL;
}

static inline void
tpath(struct buf *b, const char *dir, const char *sub, const char *name)
{
	buf_reset(b);
	buf_addf(b, "%s/%s/%s", dir, sub, name);
}

static inline size_t
count_files(const char *dir, const char *sub)
{
	struct buf p = BUF_INIT(0);
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	buf_addf(&p, "%s/%s", dir, sub);
	d = opendir(buf_cstr(&p));
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	buf_free(&p);
	return n;
}

static inline bool
file_exists(const char *dir, const char *sub, const char *name)
{
	struct buf p = BUF_INIT(0);
	struct stat st;
	bool ok;

	tpath(&p, dir, sub, name);
	ok = stat(buf_cstr(&p), &st) == 0;
	buf_free(&p);
	return ok;
}

static inline void
read_whole(const char *path, struct buf *out)
{
	unsigned char tmp[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	buf_reset(out);
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_add(out, tmp, (size_t)n);
	assert_true(n == 0);
	close(fd);
}

static inline void
write_whole(const char *path, const void *data, size_t len, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool done;
	int status;
	char error[256];
};

static inline void
waiter_done(void *arg, int status, const char *error)
{
	struct waiter *w = arg;

	pthread_mutex_lock(&w->lock);
	w->done = true;
	w->status = status;
	(void)snprintf(w->error, sizeof(w->error), "%s",
	    error != NULL ? error : "");
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* commit_wait - spool_commit f and wait for its outcome */
static inline int
commit_wait(struct spool_file *f, char *error, size_t size)
{
	struct waiter w = { PTHREAD_MUTEX_INITIALIZER,
		PTHREAD_COND_INITIALIZER, false, 0, "" };

	spool_commit(f, waiter_done, &w);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	if (error != NULL)
		(void)snprintf(error, size, "%s", w.error);
	return w.status;
}

/* put_msg - a committed message with the given recipients and content */
static inline void
put_msg(struct spool *sp, uint64_t arrival, const char *sender,
    const char *const *rcpts, size_t nrcpt, const void *content, size_t len,
    char qid[QUEUE_ID_SIZE])
{
	struct queue_rcpt r[16];
	struct queue_envelope env;
	struct spool_file *f;
	const char *error = NULL;

	assert_true(nrcpt <= 16);
	memset(&env, 0, sizeof(env));
	for (size_t i = 0; i < nrcpt; i++) {
		r[i].addr = rcpts[i];
		r[i].params = "";
	}
	env.arrival_us = arrival;
	env.sender = sender;
	env.rcpts = r;
	env.nrcpt = nrcpt;
	f = spool_create(sp, &env, &error);
	assert_non_null(f);
	memcpy(qid, spool_file_id(f), QUEUE_ID_SIZE);
	if (len > 0)
		assert_int_equal(spool_append(f, content, len, &error), 0);
	assert_int_equal(commit_wait(f, NULL, 0), 0);
}

#endif
