/*
 * queue_priv.h - internals shared by the files of queue/: the record
 * format, the parser over an abstract source, the spool object.  Nothing
 * outside queue/ includes this, except the unit tests.
 */
#ifndef POSTERN_QUEUE_PRIV_H
#define POSTERN_QUEUE_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"
#include "queue/queue.h"

/* the first record of every file: V15:POSTERN-QUEUE 1 */
#define QUEUE_MAGIC "POSTERN-QUEUE 1"

/* record types; see queue_spool.c for the layout */
enum {
	REC_VERSION = 'V',
	REC_QID = 'I',
	REC_ARRIVAL = 'T',
	REC_CLIENT_IP = 'A',
	REC_CLIENT_NAME = 'H',
	REC_HELO = 'E',
	REC_PROTOCOL = 'P',
	REC_TLS = 'L',
	REC_AUTH = 'U',
	REC_SENDER = 'S',
	REC_SENDER_PARAMS = 's',
	REC_RCPT = 'R',
	REC_RCPT_PARAMS = 'r',
	REC_CONTENT = 'C',
	REC_END = 'X',
	REC_RESULT = 'D',
	REC_FLUSH = 'F',
	REC_WARNED = 'W',
};

#define QUEUE_REC_DIGITS_MAX 10	/* decimal length digits */
#define QUEUE_REC_HDR_MAX (1 + QUEUE_REC_DIGITS_MAX + 1)	/* T len : */
#define QUEUE_CHUNK_SIZE (64u << 10)	/* content bytes per record we write */
#define QUEUE_CHUNK_MAX (1u << 20)	/* ... and the most we accept */
#define QUEUE_RESULT_MAX (QUEUE_TEXT_MAX + 512u)	/* a result payload */

/* queue_record.c */
/*
 * queue_record_header - parse "<letter><1..10 digits>:" at in[0..len).
 * PARSE_MORE: len too short to tell; PARSE_BAD: not a header (or a length
 * with a leading zero); PARSE_TOO_LONG: more than 10 digits.
 */
enum parse_res queue_record_header(const unsigned char *in, size_t len,
    int *type_r, uint64_t *plen_r, size_t *hlen_r);
/* queue_record_add - append one complete record */
void queue_record_add(struct buf *b, int type, const void *p, size_t n);
void queue_record_add_str(struct buf *b, int type, const char *s);

struct queue_result {
	size_t idx;
	enum queue_rcpt_status status;	/* DEFERRED, SENT or FAILED */
	unsigned attempts;
	uint64_t last_try_us;
	uint64_t next_try_us;
	const char *dsn;	/* valid (queue_dsn_is_valid) */
	const char *relay;	/* no space or control character */
	const char *text;	/* no control character */
	unsigned flags;		/* QUEUE_RCPT_F_* */
};
/* queue_result_add - append a complete D record */
void queue_result_add(struct buf *b, const struct queue_result *r);
/* queue_result_apply - parse a D payload into st[idx] (idx < nrcpt);
 * -1 when malformed (st untouched) */
int queue_result_apply(const unsigned char *p, size_t n,
    struct queue_rcpt_state *st, size_t nrcpt) WARN_UNUSED;
/* queue_dsn_is_valid - "C.SSS.DDD" with C in 2, 4, 5 */
bool queue_dsn_is_valid(const char *s, size_t n);
/* queue_text_clean - copy at most max bytes of s into b without trailing
 * blanks, control characters as spaces (and spaces as '_' when no_space) */
void queue_text_clean(struct buf *b, const char *s, size_t n, size_t max,
    bool no_space);

/* queue_msg.c */
/* a byte source: the file, or memory for tests and fuzzing */
struct queue_src {
	/* exactly n bytes at off, or -1 (errno set; 0 = short file) */
	int (*pread)(void *ctx, void *buf, size_t n, uint64_t off);
	void *ctx;
	uint64_t size;
};
enum queue_load_res queue_msg_parse(const struct queue_src *src,
    const char *qid, struct queue_msg **msg_r, struct buf *err) WARN_UNUSED;
enum queue_load_res queue_msg_parse_mem(const void *data, size_t len,
    const char *qid, struct queue_msg **msg_r, struct buf *err) WARN_UNUSED;
/* queue_msg_truncate_tail - cut msg/QID to m->valid_size, fsync */
int queue_msg_truncate_tail(const char *dir, const struct queue_msg *m,
    struct buf *err) WARN_UNUSED;
void queue_path(struct buf *b, const char *dir, const char *sub,
    const char *name);
/* queue_rename_noreplace - renameat2(RENAME_NOREPLACE), or link+unlink
 * where the filesystem lacks it; -1 with errno (EEXIST: target exists) */
int queue_rename_noreplace(int olddfd, const char *old, int newdfd,
    const char *new_) WARN_UNUSED;
/* full read/write loops that retry EINTR and short counts */
int queue_pread_full(int fd, void *buf, size_t n, uint64_t off) WARN_UNUSED;
int queue_write_full(int fd, const void *buf, size_t n) WARN_UNUSED;

/* queue_content.c */
/* over an open file; own_fd: close it in queue_content_close */
struct queue_content *queue_content_new(int fd, bool own_fd,
    const struct queue_msg *m);
int queue_content_rewind(struct queue_content *c, struct buf *err)
    WARN_UNUSED;
/* is_corrupt - a framing, size or checksum error was seen (not EIO) */
bool queue_content_is_corrupt(const struct queue_content *c);

/* queue_spool.c / queue_commit.c */
struct spool {
	char *dir;
	int dirfd, tmpfd, msgfd;
	enum spool_sync_mode sync_mode;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct spool_file *pending;	/* FIFO of files waiting to commit */
	struct spool_file **pending_tail;
	bool stopping;
	bool running;		/* the committer thread exists */
	struct spool_stats stats;
};

struct spool_file {
	struct spool *sp;
	char qid[QUEUE_ID_SIZE];
	int fd;
	unsigned char *chunk;	/* [header room][payload][\n] */
	size_t chunk_len;	/* payload bytes buffered */
	uint64_t content_size;
	void *md;		/* EVP_MD_CTX * over the content */
	bool failed;		/* sticky */
	bool renamed;		/* in msg/ (committer) */
	struct buf error;
	spool_commit_fn *done;
	void *done_arg;
	struct spool_file *next;
};

/* spool_file_finish - flush content, write the end record (caller thread) */
int spool_file_finish(struct spool_file *f) WARN_UNUSED;
void spool_file_fail(struct spool_file *f, const char *what, int errnum);
void spool_file_free(struct spool_file *f);
int spool_committer_start(struct spool *sp, const char **error_r)
    WARN_UNUSED;
void spool_committer_stop(struct spool *sp);

/* queue_mgr.c / queue_job.c */
#include "queue/transport.h"

struct qmgr_msg {
	struct queue_msg *m;	/* env immutable; state[i] changed under
				 * qm->lock, by the job owning i (inflight) */
	bool *inflight;		/* per recipient: a job owns it */
	unsigned jobs;		/* running jobs */
	bool dead;		/* vanished or corrupt: drop when jobs == 0 */
	pthread_mutex_t append_lock;	/* one appender at a time */
	struct qmgr_msg *prev, *next;	/* every message, for flush and free */
	struct qmgr_msg *hnext;	/* hash chain (queue_sched.c) */
	size_t heap_idx;	/* position in the due heap, or SIZE_MAX */
	uint64_t due, seq;	/* heap key */
	bool finishing;		/* on the finish list */
	struct qmgr_msg *fnext;
	bool delay_warned;	/* sent, or being sent (under qm->lock) */
};

struct qmgr_job {
	struct qmgr *qm;
	struct qmgr_msg *qmsg;
	struct transport t;	/* a copy; t.deliver NULL: none registered */
	char *tname;		/* the route's answer */
	size_t *rcpt;
	unsigned *attempt;	/* this attempt's number, per rcpt */
	size_t n;
};

struct qmgr {
	char *dir;
	uint64_t min_backoff, max_backoff, max_lifetime, scan_interval; /* us */
	uint64_t delay_warning;	/* us; 0: no delay notifications */
	uint64_t bounce_size_limit;
	char *dsn_hostname;
	unsigned max_deliveries;
	struct qmgr_hooks hooks;
	pthread_mutex_t lock;
	pthread_cond_t cond;	/* kick the thread; a job finished */
	struct transport *transports;
	size_t ntransports;
	struct qmgr_msg *head, *tail;	/* every message in memory */
	size_t nmsgs;
	/* queue_sched.c: indexes over those messages */
	struct qmgr_msg **hash;
	size_t hash_n, hash_cap;
	struct qmgr_msg **heap;
	size_t heap_n, heap_cap;
	uint64_t seq;
	struct qmgr_msg *finish;	/* ready to leave the queue */
	char (*incoming)[QUEUE_ID_SIZE];
	size_t nincoming, incoming_cap;
	bool flush, kick, stop;
	unsigned active;
	struct qmgr_stats stats;
	pthread_t thread;
	bool running;
	/* queue_notify.c: the spool notifications are written to, the
	 * server's (qmgr_set_spool) or opened at the first one */
	pthread_mutex_t spool_lock;
	struct spool *spool;
	bool own_spool;
};

uint64_t qmgr_now(struct qmgr *qm);

/* queue_sched.c, all under qm->lock */
void qmgr_index_add(struct qmgr *qm, struct qmgr_msg *q);
void qmgr_index_remove(struct qmgr *qm, struct qmgr_msg *q);
struct qmgr_msg *qmgr_index_find(struct qmgr *qm, const char *qid);
/* qmgr_index_update - after q's states, jobs or dead flag changed: back
 * into the heap at its new due time, or onto the finish list */
void qmgr_index_update(struct qmgr *qm, struct qmgr_msg *q);
/* qmgr_index_due - take the first message due at now, or NULL */
struct qmgr_msg *qmgr_index_due(struct qmgr *qm, uint64_t now);
uint64_t qmgr_index_next_due(const struct qmgr *qm);
void qmgr_index_free(struct qmgr *qm);
/* qmgr_job_end - a job is over: install new states (may be NULL: the
 * recipients stay as they were), release the recipients, wake the thread;
 * frees job and states' strings it does not keep */
void qmgr_job_end(struct qmgr_job *job, struct queue_rcpt_state *states,
    bool dead);

/* queue_notify.c */
/*
 * qmgr_notify_final - m (off every index, no job) leaves the queue: send
 * the failure and success notifications its recipients' NOTIFY ask for,
 * as one report.  0: sent, or none due (null sender, NOTIFY=NEVER);
 * -1: it could not be written (logged), keep the file.  Blocks.
 */
int qmgr_notify_final(struct qmgr *qm, const struct queue_msg *m)
    WARN_UNUSED;
/*
 * qmgr_notify_delay - a job deferred some of qmsg's recipients and the
 * message is older than delay_warning: unless one was already sent, send
 * the delay notification for its deferred recipients (st: the job's new
 * states of rcpt[0..n), newer than qmsg's own).  fd: the open queue file.
 * true when one was sent now: the caller records it (W record).
 */
bool qmgr_notify_delay(struct qmgr *qm, struct qmgr_msg *qmsg,
    const size_t *rcpt, const struct queue_rcpt_state *st, size_t n,
    int fd);
/* qmgr_notify_free - close the notifications' spool */
void qmgr_notify_free(struct qmgr *qm);

#endif
