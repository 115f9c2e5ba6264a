/*
 * queue_spool.c - writing queue files: the spool directory, creating a
 * message file in tmp/, streaming its content, aborting it.  The commit
 * (rename into msg/ plus the group fsync) is in queue_commit.c, reading in
 * queue_msg.c, the framing in queue_record.c.
 *
 * File format (version 1).  A sequence of records
 *
 *     <type letter><decimal length, no leading zero>:<payload>\n
 *
 * binary-safe, each length checked by the reader against the file size
 * and a per-type limit.  In order:
 *
 *   V  "POSTERN-QUEUE 1"                    always first
 *   I  queue ID (matches the file name)
 *   T  arrival time, decimal microseconds since the epoch
 *   A H E P L U   client IP, client hostname, HELO, protocol, TLS
 *                 summary, AUTH user: each optional, at most once
 *   S  sender ("" = <>), s  its raw ESMTP parameters (optional; RET
 *      and ENVID of RFC 3461 among them)
 *   R  recipient, r  its raw ESMTP parameters (optional, right after R;
 *      NOTIFY and ORCPT among them)
 *   C  content, in chunks of at most 64 KiB as they arrive (any number,
 *      total size unknown in advance)
 *   X  end: "<content bytes> <SHA-256 of the content, 64 lowercase hex>"
 *   -- committed here; everything after is appended and fsync'ed --
 *   D  result: "<rcpt index> deferred|sent|failed[,remote][,dsn]
 *      <attempts> <last try us> <next try us> <dsn> <relay> <text>"; per
 *      recipient the last D wins (the flags: queue_record.c)
 *   F  flush: "<time us>": deferred recipients before it are due now
 *   W  "<time us>": the delay notification was sent then (not again).
 *      Added after version 1 shipped, without changing the version: a
 *      reader that does not know W counts it as a bad record and skips
 *      it, which only means a second warning
 *
 * Invariants: a file in msg/ is complete up to X (it was renamed there
 * only after X was written, and acknowledged only after the batch fsync);
 * after X the file only grows by whole records, so a crash leaves at most
 * one torn record at the tail, which the reader ignores and recovery cuts.
 * The session's thread is the only writer of a tmp/ file; after
 * spool_commit the committer thread owns it.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "queue/queue_priv.h"

static int
open_subdir(struct spool *sp, const char *name, int *fd_r)
{
	if (mkdirat(sp->dirfd, name, 0700) < 0 && errno != EEXIST)
		return -1;
	if (fd_r == NULL)
		return 0;
	*fd_r = openat(sp->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return *fd_r < 0 ? -1 : 0;
}

struct spool *
spool_open(const char *dir, const char **error_r)
{
	struct spool *sp = xcalloc(1, sizeof(*sp));
	const char *what = "mkdir";

	sp->dir = xstrdup(dir);
	sp->dirfd = sp->tmpfd = sp->msgfd = -1;
	sp->sync_mode = SPOOL_SYNC_SYNCFS;
	pthread_mutex_init(&sp->lock, NULL);
	pthread_cond_init(&sp->cond, NULL);
	sp->pending_tail = &sp->pending;
	if (dir[0] == '\0' || mkdir_p(dir, 0700) < 0)
		goto fail;
	what = "open";
	sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dirfd < 0)
		goto fail;
	what = "create tmp/, msg/, corrupt/ in";
	if (open_subdir(sp, "tmp", &sp->tmpfd) < 0 ||
	    open_subdir(sp, "msg", &sp->msgfd) < 0 ||
	    open_subdir(sp, "corrupt", NULL) < 0)
		goto fail;
	if (spool_committer_start(sp, error_r) < 0) {
		spool_close(&sp);
		return NULL;
	}
	return sp;
fail:
	log_error("queue", "spool: %s %s: %s", what, dir, strerror(errno));
	*error_r = "cannot open the queue directory";
	spool_close(&sp);
	return NULL;
}

void
spool_close(struct spool **spp)
{
	struct spool *sp = *spp;

	if (sp == NULL)
		return;
	spool_committer_stop(sp);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	if (sp->tmpfd >= 0)
		close(sp->tmpfd);
	if (sp->msgfd >= 0)
		close(sp->msgfd);
	pthread_mutex_destroy(&sp->lock);
	pthread_cond_destroy(&sp->cond);
	free(sp->dir);
	free(sp);
	*spp = NULL;
}

void
spool_set_sync_mode(struct spool *sp, enum spool_sync_mode mode)
{
	pthread_mutex_lock(&sp->lock);
	sp->sync_mode = mode;
	pthread_mutex_unlock(&sp->lock);
}

void
spool_get_stats(struct spool *sp, struct spool_stats *st_r)
{
	pthread_mutex_lock(&sp->lock);
	*st_r = sp->stats;
	pthread_mutex_unlock(&sp->lock);
}

const char *
spool_dir(const struct spool *sp)
{
	return sp->dir;
}

static bool
opt(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* envelope_check - the limits the reader enforces, enforced on writing */
static const char *
envelope_check(const struct queue_envelope *env)
{
	const char *f[] = { env->client_ip, env->client_name, env->helo,
		env->protocol, env->tls_info, env->auth_user, env->sender,
		env->sender_params };
	size_t total = 0, n;

	if (env->sender == NULL || env->nrcpt == 0 || env->rcpts == NULL)
		return "no sender or no recipient";
	if (env->nrcpt > QUEUE_RCPTS_MAX)
		return "too many recipients";
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		n = f[i] != NULL ? strlen(f[i]) : 0;
		if (n > QUEUE_FIELD_MAX)
			return "envelope field too long";
		total += n;
	}
	for (size_t i = 0; i < env->nrcpt; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		if (r->addr == NULL)
			return "recipient without address";
		n = strlen(r->addr);
		if (n > QUEUE_FIELD_MAX)
			return "envelope field too long";
		total += n;
		n = r->params != NULL ? strlen(r->params) : 0;
		if (n > QUEUE_FIELD_MAX)
			return "envelope field too long";
		total += n;
		if (total > QUEUE_ENVELOPE_MAX)
			return "envelope too large";
	}
	if (total > QUEUE_ENVELOPE_MAX)
		return "envelope too large";
	return NULL;
}

static void
envelope_records(struct buf *b, const struct queue_envelope *env,
    const char *qid)
{
	static const int types[] = { REC_CLIENT_IP, REC_CLIENT_NAME, REC_HELO,
		REC_PROTOCOL, REC_TLS, REC_AUTH };
	const char *vals[] = { env->client_ip, env->client_name, env->helo,
		env->protocol, env->tls_info, env->auth_user };
	uint64_t arrival = env->arrival_us != 0 ? env->arrival_us :
	    clock_wall_us();
	char num[24];
	int n;

	queue_record_add_str(b, REC_VERSION, QUEUE_MAGIC);
	queue_record_add_str(b, REC_QID, qid);
	n = snprintf(num, sizeof(num), "%llu", (unsigned long long)arrival);
	ASSERT(n > 0 && (size_t)n < sizeof(num));
	queue_record_add(b, REC_ARRIVAL, num, (size_t)n);
	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (opt(vals[i]))
			queue_record_add_str(b, types[i], vals[i]);
	queue_record_add_str(b, REC_SENDER, env->sender);
	if (opt(env->sender_params))
		queue_record_add_str(b, REC_SENDER_PARAMS, env->sender_params);
	for (size_t i = 0; i < env->nrcpt; i++) {
		queue_record_add_str(b, REC_RCPT, env->rcpts[i].addr);
		if (opt(env->rcpts[i].params))
			queue_record_add_str(b, REC_RCPT_PARAMS,
			    env->rcpts[i].params);
	}
}

/* create_tmp - tmp/QID, exclusively, for an ID that is not in msg/ */
static int
create_tmp(struct spool *sp, char qid[QUEUE_ID_SIZE], bool chosen,
    const char **error_r)
{
	struct stat st;

	for (int tries = 0; tries < 8; tries++) {
		int fd;

		if (!chosen)
			queue_id_new(qid);
		if (fstatat(sp->msgfd, qid, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			errno = EEXIST;
		} else if (errno != ENOENT) {
			*error_r = strerror(errno);
			return -1;
		} else {
			fd = openat(sp->tmpfd, qid, O_WRONLY | O_CREAT |
			    O_EXCL | O_CLOEXEC, 0600);
			if (fd >= 0)
				return fd;
			if (errno != EEXIST) {
				*error_r = strerror(errno);
				return -1;
			}
		}
		if (chosen)
			break;
	}
	*error_r = "queue ID already in use";
	return -1;
}

struct spool_file *
spool_create(struct spool *sp, const struct queue_envelope *env,
    const char **error_r)
{
	struct spool_file *f;
	struct buf rec = BUF_INIT(0);
	const char *bad = envelope_check(env);
	bool chosen = env->qid[0] != '\0';
	int fd;

	if (bad == NULL && chosen && !queue_id_is_valid(env->qid))
		bad = "invalid queue ID";
	if (bad != NULL) {
		*error_r = bad;
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->sp = sp;
	memcpy(f->qid, env->qid, sizeof(f->qid));
	fd = create_tmp(sp, f->qid, chosen, error_r);
	if (fd < 0) {
		free(f);
		return NULL;
	}
	f->fd = fd;
	buf_init(&f->error, 0);
	envelope_records(&rec, env, f->qid);
	if (queue_write_full(fd, rec.data, rec.len) < 0) {
		*error_r = strerror(errno);
		buf_free(&rec);
		spool_abort(&f);
		return NULL;
	}
	buf_free(&rec);
	f->chunk = xmalloc(QUEUE_REC_HDR_MAX + QUEUE_CHUNK_SIZE + 1);
	f->md = EVP_MD_CTX_new();
	if (f->md == NULL ||
	    EVP_DigestInit_ex(f->md, EVP_sha256(), NULL) != 1)
		PANIC("spool_create: SHA-256 init failed");
	return f;
}

const char *
spool_file_id(const struct spool_file *f)
{
	return f->qid;
}

void
spool_file_fail(struct spool_file *f, const char *what, int errnum)
{
	if (f->failed)
		return;		/* keep the first cause */
	f->failed = true;
	buf_reset(&f->error);
	buf_addf(&f->error, "%s %s: %s", what, f->qid, strerror(errnum));
}

/* flush_chunk - buffered content out as one C record, with one write */
static int
flush_chunk(struct spool_file *f)
{
	char hdr[QUEUE_REC_HDR_MAX + 1];
	unsigned char *start;
	int n;

	if (f->chunk_len == 0)
		return 0;
	n = snprintf(hdr, sizeof(hdr), "%c%zu:", REC_CONTENT, f->chunk_len);
	ASSERT(n > 0 && (size_t)n <= QUEUE_REC_HDR_MAX);
	start = f->chunk + QUEUE_REC_HDR_MAX - (size_t)n;
	memcpy(start, hdr, (size_t)n);
	f->chunk[QUEUE_REC_HDR_MAX + f->chunk_len] = '\n';
	if (queue_write_full(f->fd, start, (size_t)n + f->chunk_len + 1) <
	    0) {
		spool_file_fail(f, "write", errno);
		return -1;
	}
	f->content_size += f->chunk_len;
	f->chunk_len = 0;
	return 0;
}

int
spool_append(struct spool_file *f, const void *data, size_t len,
    const char **error_r)
{
	const unsigned char *p = data;

	if (!f->failed && EVP_DigestUpdate(f->md, data, len) != 1)
		spool_file_fail(f, "SHA-256", EINVAL);
	while (!f->failed && len > 0) {
		size_t n = QUEUE_CHUNK_SIZE - f->chunk_len;

		if (n > len)
			n = len;
		memcpy(f->chunk + QUEUE_REC_HDR_MAX + f->chunk_len, p, n);
		f->chunk_len += n;
		p += n;
		len -= n;
		if (f->chunk_len == QUEUE_CHUNK_SIZE)
			(void)flush_chunk(f);
	}
	if (f->failed) {
		*error_r = buf_cstr(&f->error);
		return -1;
	}
	return 0;
}

int
spool_file_finish(struct spool_file *f)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;
	struct buf end = BUF_INIT(0), rec = BUF_INIT(0);
	int ret = -1;

	if (f->failed || flush_chunk(f) < 0)
		return -1;
	if (EVP_DigestFinal_ex(f->md, md, &mdlen) != 1 || mdlen != 32) {
		spool_file_fail(f, "SHA-256", EINVAL);
		return -1;
	}
	buf_addf(&end, "%llu ", (unsigned long long)f->content_size);
	for (unsigned i = 0; i < mdlen; i++) {
		char h[2] = { hex[md[i] >> 4], hex[md[i] & 15] };

		buf_add(&end, h, 2);
	}
	queue_record_add(&rec, REC_END, end.data, end.len);
	if (queue_write_full(f->fd, rec.data, rec.len) < 0)
		spool_file_fail(f, "write", errno);
	else
		ret = 0;
	buf_free(&end);
	buf_free(&rec);
	return ret;
}

void
spool_file_free(struct spool_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->chunk);
	EVP_MD_CTX_free(f->md);
	buf_free(&f->error);
	free(f);
}

void
spool_abort(struct spool_file **fp)
{
	struct spool_file *f = *fp;

	if (f == NULL)
		return;
	if (unlinkat(f->sp->tmpfd, f->qid, 0) < 0 && errno != ENOENT)
		log_warn("queue", "%s: unlink tmp/%s: %s", f->qid, f->qid,
		    strerror(errno));
	spool_file_free(f);
	*fp = NULL;
}
