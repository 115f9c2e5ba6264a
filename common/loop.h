/*
 * loop.h - I/O loops (one libevent base per thread) and the job pool.
 *
 * I/O threads accept, read, parse and write; they never block.  Anything
 * that blocks (disk, fsync, DNS, a store call, a filter) runs as a job on
 * a worker thread, and its completion is posted back to the loop that
 * submitted it, so session state is only ever touched by its own loop
 * thread.  See ARCHITECTURE.md, "Concurrency".
 */
#ifndef POSTERN_LOOP_H
#define POSTERN_LOOP_H

#include <event2/event.h>

#include "common.h"

struct loop;
struct loops;
struct jobs;

typedef void loop_fn(void *arg);
typedef void job_fn(void *ctx);
typedef void job_done_fn(void *ctx);

/* loops_new - n event bases (not yet running); n >= 1 */
struct loops *loops_new(unsigned n);
unsigned loops_count(const struct loops *ls);
struct loop *loops_get(struct loops *ls, unsigned i);
/* loops_start - one thread per base; 0 or -1 with *error_r */
int loops_start(struct loops *ls, const char **error_r) WARN_UNUSED;
/* loops_stop - break every loop and join its thread (call from outside) */
void loops_stop(struct loops *ls);
void loops_free(struct loops **ls);

struct event_base *loop_base(struct loop *l);
unsigned loop_index(const struct loop *l);
/*
 * loop_post - run fn(arg) on l's thread, soon.  Thread-safe; calls are run
 * in the order they were posted.  After loops_stop() posted calls are
 * dropped (their owner is being torn down too).
 */
void loop_post(struct loop *l, loop_fn *fn, void *arg);

/* jobs_new - a pool of n worker threads, started at once */
struct jobs *jobs_new(unsigned n);
/*
 * jobs_submit - run work(ctx) on a worker, then done(ctx) on origin's
 * thread (or on the worker when origin is NULL; done may be NULL when the
 * work arranges its own completion).  FIFO.
 */
void jobs_submit(struct jobs *j, struct loop *origin, job_fn *work,
    job_done_fn *done, void *ctx);
/* jobs_free - finish queued jobs, join the workers */
void jobs_free(struct jobs **j);

#endif
