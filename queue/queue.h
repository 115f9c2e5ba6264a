/*
 * queue.h - the durable mail queue: queue IDs, the spool (write with group
 * commit, read, recover) and the queue manager that schedules deliveries.
 *
 * Spool layout under the queue directory (config queue.dir):
 *
 *   tmp/QID      being written; never acknowledged; removed by recovery
 *   msg/QID      committed: durable before the client saw 250
 *   corrupt/QID  unreadable files moved aside by recovery or the qmgr
 *
 * One file per message, append-only, made of binary-safe records (the
 * format is described in queue_spool.c).  The envelope and content are
 * written once, before the commit; after it only per-recipient result
 * records are appended, and the last one per recipient wins.
 *
 * Errors: the write path (used by SMTP sessions on worker threads) fills
 * const char **error_r with text that stays valid as documented per
 * function; the read, recovery and CLI paths append a line of text to a
 * caller's struct buf, since their messages carry offsets and names.
 */
#ifndef POSTERN_QUEUE_H
#define POSTERN_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/config.h"

/* ---- queue IDs ---- */

/* 32 bits of seconds then 24 random bits, in uppercase hex: sorts by age */
#define QUEUE_ID_LEN 14
#define QUEUE_ID_SIZE (QUEUE_ID_LEN + 1)

void queue_id_new(char out[QUEUE_ID_SIZE]);
/* queue_id_is_valid - exactly QUEUE_ID_LEN of [0-9A-F]; also what makes a
 * user-supplied ID safe to put in a path */
bool queue_id_is_valid(const char *s);

/* ---- the envelope ---- */

/*
 * The DSN parameters (RFC 3461) are kept where they arrived, in the raw
 * ESMTP parameters: NOTIFY and ORCPT in a recipient's params, RET and
 * ENVID in sender_params.  The session checks them with
 * queue_dsn_params_parse() (queue/queue_dsn.h) before it accepts them;
 * the queue parses them again when a notification is due, and treats a
 * string that does not parse as "no DSN parameters".
 */
struct queue_rcpt {
	const char *addr;	/* without <>; never NULL */
	/* raw ESMTP params ("NOTIFY=FAILURE ORCPT=..."), or "" */
	const char *params;
};

/*
 * What the session knows about a message.  Filled by the session for
 * spool_create (it keeps ownership of every string; "" or NULL = absent
 * for the optional ones); owned by struct queue_msg when loaded (never
 * NULL there: absent fields are "").  Strings hold no NUL and at most
 * QUEUE_FIELD_MAX bytes.
 */
struct queue_envelope {
	char qid[QUEUE_ID_SIZE];	/* "" = spool_create picks one */
	uint64_t arrival_us;	/* wall clock; 0 = now */
	const char *client_ip;
	const char *client_name;
	const char *helo;
	const char *protocol;	/* "ESMTP", "ESMTPS", "UTF8SMTPSA", ... */
	const char *tls_info;	/* "TLSv1.3 TLS_AES_256_GCM_SHA384", ... */
	const char *auth_user;
	const char *sender;	/* "" = null sender <> */
	/* raw ESMTP params: "BODY=8BITMIME SMTPUTF8 ENVID=x RET=HDRS" */
	const char *sender_params;
	const struct queue_rcpt *rcpts;
	size_t nrcpt;		/* 1 .. QUEUE_RCPTS_MAX */
};

#define QUEUE_FIELD_MAX 8192u		/* any one envelope string */
#define QUEUE_RCPTS_MAX 100000u		/* recipients per message */
#define QUEUE_ENVELOPE_MAX (16u << 20)	/* all envelope strings together */
#define QUEUE_TEXT_MAX 1024u		/* a stored diagnostic text */

/* ---- writing: the spool and its group commit ---- */

struct spool;
struct spool_file;

/*
 * spool_commit_fn - the outcome of spool_commit, called exactly once on
 * the committer thread (post back to your own loop from there).  status 0:
 * the file and its directory entry are durable, send 250.  status -1:
 * nothing was kept (tmp and msg entries removed), error is valid only
 * during the call; answer 451.
 */
typedef void spool_commit_fn(void *arg, int status, const char *error);

enum spool_sync_mode {
	SPOOL_SYNC_SYNCFS,	/* default: one syncfs(2) per batch */
	SPOOL_SYNC_FSYNC,	/* fsync each file, then msg/ once per batch */
};

struct spool_stats {
	uint64_t commits;	/* files made durable */
	uint64_t failures;	/* commits reported with -1 */
	uint64_t batches;	/* batches processed */
	uint64_t syncs;		/* syncfs (or fsync-batch) rounds */
	uint64_t max_batch;	/* largest batch seen */
};

/*
 * spool_open - create dir and tmp/ msg/ corrupt/ as needed (mode 0700) and
 * start the committer thread.  NULL with *error_r (static text) on error.
 * Does NOT recover: call spool_recover() once at start-up, before any
 * session can create files.
 */
struct spool *spool_open(const char *dir, const char **error_r) WARN_UNUSED;
/* spool_close - finish every pending commit (callbacks run), join the
 * committer; no spool_create/spool_commit may be running or follow */
void spool_close(struct spool **sp);
/* spool_set_sync_mode - before the first commit (tests, odd filesystems) */
void spool_set_sync_mode(struct spool *sp, enum spool_sync_mode mode);
void spool_get_stats(struct spool *sp, struct spool_stats *st_r);
const char *spool_dir(const struct spool *sp);

/*
 * spool_create - tmp/QID created exclusively (O_EXCL) and the envelope
 * written.  env->qid, when set, must be valid and unused: a file of that
 * ID in tmp/ or msg/ is an error ("queue ID already in use"), nothing is
 * overwritten.  Without one a fresh ID is picked.  Blocks (disk): call it
 * from a worker.  NULL with *error_r (static text) on error.
 */
struct spool_file *spool_create(struct spool *sp,
    const struct queue_envelope *env, const char **error_r) WARN_UNUSED;
const char *spool_file_id(const struct spool_file *f);
/*
 * spool_append - the next bytes of content, any size, any bytes.  Chunks
 * are buffered and written as records of at most 64 KiB.  -1 with
 * *error_r, valid until the next call on f; errors are sticky.
 */
int spool_append(struct spool_file *f, const void *data, size_t len,
    const char **error_r) WARN_UNUSED;
/* spool_abort - unlink the tmp file and free f; *f = NULL; accepts NULL */
void spool_abort(struct spool_file **f);
/*
 * spool_commit - the content is complete: write the end record and hand f
 * to the committer, which owns it from now on.  done(arg, ...) is called
 * once, on the committer thread, after the batch holding f is durable
 * (or failed).  Blocks for the final write only; never calls done itself.
 */
void spool_commit(struct spool_file *f, spool_commit_fn *done, void *arg);

/*
 * spool_recover - start-up repair: remove tmp/ (never acknowledged), move
 * msg/ files that do not parse to corrupt/, truncate torn result tails.
 * One log line per action.  -1 (text in err) only if a directory cannot
 * be read; single bad files are handled and counted.
 */
struct spool_recover_stats {
	unsigned tmp_removed;
	unsigned corrupt;
	unsigned truncated;
	unsigned ok;
};
int spool_recover(struct spool *sp, struct spool_recover_stats *st_r,
    struct buf *err) WARN_UNUSED;

/* ---- reading ---- */

enum queue_rcpt_status {
	QUEUE_RCPT_PENDING,	/* never tried */
	QUEUE_RCPT_DEFERRED,	/* tried, temporary failure; see next_try_us */
	QUEUE_RCPT_SENT,	/* final */
	QUEUE_RCPT_FAILED,	/* final: bounced (permanent error, expired) */
};

/* "pending", "deferred", "sent", "failed" */
const char *queue_rcpt_status_name(enum queue_rcpt_status st);
static inline bool
queue_rcpt_is_final(enum queue_rcpt_status st)
{
	return st == QUEUE_RCPT_SENT || st == QUEUE_RCPT_FAILED;
}

/* what the transport said about its result (struct queue_rcpt_state's
 * flags; the transport's own are the same bits, transport.h) */
#define QUEUE_RCPT_F_REMOTE	0x1u	/* text is the next hop's reply */
#define QUEUE_RCPT_F_DSN_PASSED	0x2u	/* sent: the next hop took the
					 * DSN request on (RFC 3461 5.2) */

/* the last result of one recipient; strings are "" before any attempt */
struct queue_rcpt_state {
	enum queue_rcpt_status status;
	unsigned flags;		/* QUEUE_RCPT_F_* */
	unsigned attempts;
	uint64_t last_try_us;
	uint64_t next_try_us;	/* deferred: due at; 0 = now (flushed) */
	char *dsn;		/* "4.4.1" */
	char *relay;		/* "local", "mx.example.com[192.0.2.1]:25" */
	char *text;		/* diagnostic, control characters removed */
};

struct queue_msg {
	struct queue_envelope env;	/* owns its strings and rcpts */
	struct queue_rcpt_state *state;	/* env.nrcpt of them */
	uint64_t content_size;
	unsigned char sha256[32];	/* of the content */
	uint64_t content_offset;	/* first content (or the end) record */
	uint64_t end_offset;		/* the end record */
	uint64_t valid_size;		/* past the last good record */
	uint64_t file_size;		/* > valid_size: a torn tail */
	unsigned bad_records;		/* well-framed, invalid, ignored */
	uint64_t delay_warned_us;	/* when the delay notification went
					 * out (a W record); 0: not yet */
};

enum queue_load_res {
	QUEUE_LOAD_OK,
	QUEUE_LOAD_GONE,	/* no such file (delivered or deleted) */
	QUEUE_LOAD_CORRUPT,	/* not a complete queue file: move it aside */
	QUEUE_LOAD_IOERR,	/* could not read it now; try again later */
};

/*
 * queue_msg_load - envelope and recipient states of msg/QID, never the
 * content.  Every length is checked against the file size and the limits
 * above.  On anything but OK, one line of text is appended to err.
 */
enum queue_load_res queue_msg_load(const char *dir, const char *qid,
    struct queue_msg **msg_r, struct buf *err) WARN_UNUSED;
void queue_msg_free(struct queue_msg **m);
/* queue_msg_move_corrupt - msg/QID to corrupt/QID (never overwrites) */
int queue_msg_move_corrupt(const char *dir, const char *qid,
    struct buf *err) WARN_UNUSED;
/*
 * queue_msg_append_flush - make the deferred recipients of msg/QID due now,
 * durably (a flush record).  repair: first cut a torn tail; only when no
 * server is running.  0 also when nothing was deferred or the file is
 * gone (*flushed_r false).
 */
int queue_msg_append_flush(const char *dir, const char *qid, bool repair,
    bool *flushed_r, struct buf *err) WARN_UNUSED;

/* sequential reader of a message's content (the CLI; transports get the
 * same through struct transport_content) */
struct queue_content;
struct queue_content *queue_content_open(const char *dir,
    const struct queue_msg *m, struct buf *err) WARN_UNUSED;
/*
 * queue_content_read - up to size (> 0) bytes; *n_r == 0 at the end.  At
 * the end the size and SHA-256 are checked: -1 when they do not match,
 * as for any framing error or I/O error.
 */
int queue_content_read(struct queue_content *c, void *buf, size_t size,
    size_t *n_r, struct buf *err) WARN_UNUSED;
void queue_content_close(struct queue_content **c);

/* ---- the queue manager ---- */

struct qmgr;
struct qmgr_job;
struct transport;

/* qmgr_route_fn - the transport name for a recipient ("local", "smtp"),
 * a string that outlives the qmgr (static, or owned by the config).
 * Called with the qmgr lock held: be quick, never call into the qmgr. */
typedef const char *qmgr_route_fn(void *arg, const char *rcpt_addr);
/* qmgr_dispatch_fn - arrange for qmgr_job_run(job) to be called once, on
 * any thread (the server submits it to the job pool; tests may run it at
 * once, or later).  Called without the qmgr lock. */
typedef void qmgr_dispatch_fn(void *arg, struct qmgr_job *job);
/* qmgr_clock_fn - wall clock in microseconds */
typedef uint64_t qmgr_clock_fn(void *arg);
/*
 * qmgr_bounce_fn - replaces the built-in notifications at the end of a
 * message (tests, another implementation): called with the failed
 * recipients of a message whose recipients are all final, just before
 * its file is removed, on the thread running qmgr_tick.  Return 0 to let
 * the file go; -1 keeps the file on disk (dropped from memory, so a
 * restart calls the hook again).
 *
 * NULL (the server): the queue sends the RFC 3464 notifications itself
 * (queue_notify.c): failures (and successes asked for with NOTIFY=
 * SUCCESS) as one report to the envelope sender, from <>, written to the
 * spool as a new message; the file goes only once that one is durable,
 * and is kept (as above) when it cannot be written.  Never to a null
 * sender.  Delay warnings (queue.delay_warning_time) are sent by the
 * delivery jobs whatever the hook.
 */
typedef int qmgr_bounce_fn(void *arg, const struct queue_msg *m,
    const size_t *failed, size_t nfailed);

struct qmgr_hooks {
	qmgr_route_fn *route;	/* NULL: every recipient goes to "smtp" */
	void *route_arg;
	qmgr_dispatch_fn *dispatch;	/* NULL: run jobs inline in qmgr_tick */
	void *dispatch_arg;
	qmgr_clock_fn *now;	/* NULL: clock_wall_us() */
	void *now_arg;
	qmgr_bounce_fn *bounce;
	void *bounce_arg;
};

struct qmgr_stats {
	size_t messages;	/* in memory */
	unsigned active;	/* deliveries running */
	unsigned max_active;	/* highest seen */
	uint64_t jobs;		/* dispatched */
	uint64_t sent, deferred, bounced;	/* recipient results */
};

/*
 * qmgr_new - cfg->dir is the spool directory (already recovered); cfg and
 * hooks are copied.  Nothing is loaded until qmgr_load()/qmgr_enqueue().
 */
struct qmgr *qmgr_new(const struct config_queue *cfg,
    const struct qmgr_hooks *hooks);
/* qmgr_free - stops the thread, waits for running jobs (so the pool that
 * runs them must still be alive), frees everything; accepts NULL */
void qmgr_free(struct qmgr **qm);
/* qmgr_register_transport - *t (and its name) must outlive qm; a later
 * registration of the same name replaces the earlier one */
void qmgr_register_transport(struct qmgr *qm, const struct transport *t);
/*
 * qmgr_set_spool - write the notifications (queue_notify.c) through sp,
 * sharing its group commit, instead of a spool the qmgr opens on the
 * first one.  Before qmgr_start; sp must outlive the last delivery job
 * (qmgr_stop, then the jobs' pool, then spool_close).
 */
void qmgr_set_spool(struct qmgr *qm, struct spool *sp);
/* qmgr_load - enqueue every file in msg/ (start-up); -1 if unreadable */
int qmgr_load(struct qmgr *qm, struct buf *err) WARN_UNUSED;

/* thread-safe, never block on I/O: */
/* qmgr_enqueue - a message was committed; loaded by the next tick */
void qmgr_enqueue(struct qmgr *qm, const char *qid);
/* qmgr_flush - every deferred recipient is due now (SIGUSR1) */
void qmgr_flush(struct qmgr *qm);
void qmgr_get_stats(struct qmgr *qm, struct qmgr_stats *st_r);

/*
 * qmgr_tick - one deterministic scheduling round: load enqueued files,
 * apply a flush, dispatch every due (message, transport) group while fewer
 * than max_deliveries run, and remove messages whose recipients are all
 * final.  Blocks on disk.  Returns when the next recipient falls due
 * (UINT64_MAX: nothing scheduled); now() or less means "call me again".
 */
uint64_t qmgr_tick(struct qmgr *qm);
/* qmgr_job_run - deliver one job (blocking), record and log its results,
 * free it.  Exactly once per dispatched job. */
void qmgr_job_run(struct qmgr_job *job);

/* qmgr_start - run qmgr_tick on a thread of its own that sleeps until an
 * enqueue, a flush, a finished job, the next due time or scan_interval;
 * -1 with *error_r (static) if the thread cannot start */
int qmgr_start(struct qmgr *qm, const char **error_r) WARN_UNUSED;
/* qmgr_stop - join that thread (running jobs go on; qmgr_free waits) */
void qmgr_stop(struct qmgr *qm);

#endif
