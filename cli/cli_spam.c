/*
 * cli_spam.c - `postern spam`: train, test and inspect the Bayes
 * classifier (filters/bayes.h) from the command line.
 *
 *   postern spam train [--user ADDR] (--spam PATH | --ham PATH)...
 *   postern spam forget [--user ADDR] (--spam PATH | --ham PATH)...
 *   postern spam classify [--user ADDR] [--top N] PATH...
 *   postern spam stats [--user ADDR]
 *
 * PATH is one message file, an mbox (a file starting with "From "; each
 * "From " line starts a message, ">From " lines lose one '>' as mboxrd
 * says), a Maildir (a directory with cur/ or new/: the files of both) or
 * a directory of message files (each may be an mbox; subdirectories
 * are not entered).  Files are taken in name order.  --user works on
 * that user's token set instead of the global one.
 *
 * train learns each message as the class given; one learned as the
 * other class before is moved (relearned), one learned so before is
 * counted as "already" and left: training twice is harmless.  forget
 * unlearns messages learned as the class given.  classify prints, per
 * message, the verdict, the probability, the score the bayes stage
 * would add and the top clues.  Progress goes to stderr every
 * SPAM_PROGRESS messages, the summary to stdout.
 *
 * Threads: the main thread reads the messages and hands them to a
 * worker per core plus one (at most SPAM_WORKERS_MAX), through a queue bounded
 * in messages and bytes; parsing the MIME and tokenizing are most of
 * the work.  train hands each message's tokens to one learner thread,
 * which learns them SPAM_BATCH at a time (bayes_learn_many: a few store
 * transactions per batch, not a few per message) while the workers
 * tokenize the next batch: the store's single writer and the cores'
 * tokenizing overlap, tokens shared by the workers' messages are
 * written once per batch, and the end waits for one partial batch, not
 * one per worker.  The order of learning does not change the counts,
 * and duplicates in the input meet at the message's marker.  classify's
 * results are printed in the input's order: each waits for the ones
 * before it, at most SPAM_WINDOW of them.  classify reads each token's
 * counts once and keeps them (bayes_options.snapshot): every message is
 * judged by the state as first read, which is what one command over a
 * folder wants, and the shared tokens cost no second read.
 *
 * The lookup store is the configured one (lookup group), opened with no
 * namespace prefix, as the server does: "kv" is the data store
 * (store.backend and store.path), "redis" the Redis server.  SQLite
 * and Redis are shared with a running server, and used directly
 * whether it runs or not.  RocksDB admits one process: classify and
 * stats open it read-only (which works next to a running server,
 * showing the state as of the start of the command); train and forget
 * need it for writing and, when it cannot be opened (the server holds
 * it), hand the command to the server.  "memory" lives in the server
 * process only: every command goes to the server.
 *
 * The server is reached through its control socket (cli_control.h,
 * <data_dir>/control.sock; as root the command becomes server.user
 * first).  The command reads the messages as it does locally and sends
 * them, pipelined, over as many connections as it would start workers
 * (the server tokenizes and learns each connection's messages on a
 * thread of its own, training in batches); a thread per connection
 * reads the replies, which come in the order of the requests.  The
 * output is the local one: the same progress lines, summary, classify
 * lines in the input's order (SPAM_WINDOW again) and stats.  classify
 * there reads the current counts for every message (the server keeps
 * no snapshot).  A server that cannot be reached (not running, no
 * socket, permission) is an error naming the socket: exit 1.
 *
 * The text of each message comes from store/mime.h as the server's
 * filter_env.text gives it (decoded, UTF-8, HTML stripped), so the CLI
 * and the bayes stage see the same tokens.  Exit status: 0, 1 when a
 * path or a message failed (the rest is still done; a lookup store error
 * stops at once), 2 for usage errors.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_control.h"
#include "common/xalloc.h"
#include "filters/bayes.h"
#include "lookup/lookup.h"
#include "store/kv.h"
#include "store/mime.h"

#define SPAM_PROGRESS 1000		/* messages between progress lines */
#define SPAM_MSG_MAX (64u << 20)	/* bigger messages are skipped */
#define SPAM_TOP_DEFAULT 10u
#define SPAM_QUEUE 64			/* messages read ahead */
#define SPAM_WAKE 4			/* queued before an idle worker wakes */
#define SPAM_QUEUE_BYTES (64u << 20)	/* bytes read ahead (one at least) */
#define SPAM_WORKERS_MAX 8
#define SPAM_BATCH 1024			/* messages learned together */
#define SPAM_LEARN_MIN SPAM_BATCH	/* an idle learner waits for these */
#define SPAM_WINDOW (SPAM_QUEUE + SPAM_WORKERS_MAX + 1)	/* out of order */
#define SPAM_PENDING 512		/* requests in flight, remote */

_Static_assert(SPAM_MSG_MAX <= CLI_CONTROL_MSG_MAX,
    "a message we read must fit a control request");

enum spam_cmd { CMD_TRAIN, CMD_FORGET, CMD_CLASSIFY, CMD_STATS };

struct spam_path {
	const char *path;
	enum bayes_class cls;
};

/* a message on its way from the reader to a worker */
struct spam_job {
	char *label;
	enum bayes_class cls;
	unsigned char *msg;
	size_t len;
	uint64_t seq;		/* its place in the input (classify output) */
};

struct spam;

/* a request sent to the server, waiting for its reply */
struct spam_pend {
	char *label;
	enum bayes_class cls;
	uint64_t seq;
};

/* a connection to the server and the thread reading its replies */
struct spam_conn {
	struct spam *s;
	struct cli_control_conn c;
	struct spam_pend pend[SPAM_PENDING];	/* under s->mu */
	size_t phead, plen;
	pthread_t thread;
	bool running;
};

/* messages tokenized, waiting to be learned together (the learner's) */
struct spam_batch {
	struct bayes_tokens tok[SPAM_BATCH];
	struct bayes_item item[SPAM_BATCH];
	size_t n;
};

/* what one thread needs to handle a message */
struct spam_worker {
	struct spam *s;
	struct bayes_tokens tok;
	struct bayes_tokens keys;	/* tok's keys, handed to the learner */
	struct buf text;
	/* train: messages tokenized, waiting to be learned together */
	struct bayes_tokens batch_tok[SPAM_BATCH];
	struct bayes_item batch[SPAM_BATCH];
	size_t nbatch;
	pthread_t thread;
};

struct spam {
	const struct config *cfg;
	enum spam_cmd cmd;
	const char *user;
	unsigned top;
	struct kv *kv;
	struct lookup *l;
	struct bayes *b;
	/* remote: the server does the work, over these connections */
	bool remote;
	struct spam_conn *conns;
	size_t nconns, next_conn;
	struct spam_worker main;	/* without threads */
	atomic_bool fatal;	/* the lookup store failed: stop */
	/* the reader hands the messages to the workers */
	struct spam_worker *workers;
	size_t nworkers;
	struct spam_job queue[SPAM_QUEUE];
	size_t qhead, qlen, qbytes;
	bool closed;
	pthread_cond_t not_empty, not_full;
	/* who waits: a signal only then (a wake-up per message cost more
	 * than the queue work itself) */
	unsigned idle_workers;
	bool reader_waits;
	/* train: the learner thread, fed by the workers (under mu) */
	struct spam_batch *fill, *spare;	/* filling; learnt, empty */
	pthread_cond_t learn_work, learn_room;
	pthread_t learner;
	bool learner_running, learning, workers_done;
	/* under mu: the queue and everything below */
	pthread_mutex_t mu;
	/* classify: results waiting for the ones before them */
	struct buf out[SPAM_WINDOW];
	bool out_ready[SPAM_WINDOW];
	uint64_t seq_next, seq_printed;
	bool failed;		/* a path or a message failed */
	bool given[2];		/* classes named by --spam, --ham */
	uint64_t done[2][BAYES_NOT_LEARNED + 1];	/* [class][outcome] */
	uint64_t nmsg, verdicts[BAYES_VERDICT_SPAM + 1];
	uint64_t t0;
};

static int
usage(void)
{
	fprintf(stderr, "usage: postern spam train [--user ADDR] "
	    "(--spam PATH | --ham PATH)...\n"
	    "       postern spam forget [--user ADDR] "
	    "(--spam PATH | --ham PATH)...\n"
	    "       postern spam classify [--user ADDR] [--top N] PATH...\n"
	    "       postern spam stats [--user ADDR]\n"
	    "PATH: a message file, an mbox, a Maildir (cur/, new/) or a "
	    "directory of message files\n");
	return 2;
}

/* ---- the lookup store ---- */

/* remote_open - the first connection to the running server, which does
 * the command from now on; -1 with err */
static int
remote_open(struct spam *s, struct buf *err)
{
	s->conns = xcalloc(SPAM_WORKERS_MAX, sizeof(*s->conns));
	if (cli_control_connect(s->cfg, &s->conns[0].c, err) < 0) {
		free(s->conns);
		s->conns = NULL;
		return -1;
	}
	s->conns[0].s = s;
	s->nconns = 1;
	s->remote = true;
	return 0;
}

static int
open_lookup(struct spam *s)
{
	const struct config *cfg = s->cfg;
	const struct config_lookup *lc = &cfg->lookup;
	struct lookup_options lo;
	struct buf err = BUF_INIT(0);
	bool rocks = cfg->store.backend == STORE_ROCKSDB;
	bool write = s->cmd == CMD_TRAIN || s->cmd == CMD_FORGET;

	memset(&lo, 0, sizeof(lo));
	switch (lc->backend) {
	case LOOKUP_MEMORY:
		cli_become_user(cfg, false);
		if (remote_open(s, &err) == 0)
			return 0;
		fprintf(stderr, "postern: lookup.backend is \"memory\": the "
		    "Bayes state lives inside the running server, which "
		    "cannot be reached: %s\n", buf_cstr(&err));
		buf_free(&err);
		return -1;
	case LOOKUP_REDIS:
		lo.backend = "redis";
		lo.redis_host = lc->redis_host;
		lo.redis_port = (uint16_t)lc->redis_port;
		lo.redis_db = lc->redis_db;
		lo.redis_password = lc->redis_password[0] != '\0' ?
		    lc->redis_password : NULL;
		lo.redis_timeout_ms = lc->redis_timeout * 1000;
		break;
	case LOOKUP_KV: {
		struct kv_options ko = { rocks ? "rocksdb" : "sqlite",
		    cfg->store.path, rocks && !write };

		if (ko.read_only)
			cli_become_user(cfg, false);
		else if (cli_data_dir(cfg) < 0)
			return -1;
		if (kv_open(&ko, &s->kv, &err) < 0) {
			struct buf cerr = BUF_INIT(0);

			/* RocksDB held by the server: ask the server */
			if (rocks && write && remote_open(s, &cerr) == 0) {
				buf_free(&err);
				return 0;
			}
			fprintf(stderr, "postern: data store %s: %s\n",
			    cfg->store.path, buf_cstr(&err));
			if (rocks && write)
				fprintf(stderr, "postern: RocksDB admits one "
				    "process, and the server that may hold it "
				    "cannot be reached: %s\n", buf_cstr(&cerr));
			buf_free(&cerr);
			buf_free(&err);
			return -1;
		}
		lo.backend = "kv";
		lo.kv = s->kv;
		break;
	}
	}
	if (lookup_open(&lo, &s->l, &err) < 0) {
		fprintf(stderr, "postern: lookup store: %s\n", buf_cstr(&err));
		buf_free(&err);
		kv_close(&s->kv);
		return -1;
	}
	buf_free(&err);
	return 0;
}

/* ---- one message ---- */

/* progress - after a message learned or forgotten; under mu */
static void
progress(struct spam *s)
{
	double secs;

	if (++s->nmsg % SPAM_PROGRESS != 0)
		return;
	secs = (double)(clock_mono_us() - s->t0) / 1e6;
	fprintf(stderr, "postern spam %s: %llu messages, %.0f/s\n",
	    s->cmd == CMD_TRAIN ? "train" : "forget",
	    (unsigned long long)s->nmsg, secs > 0 ? (double)s->nmsg / secs :
	    0.0);
}

static void
set_failed(struct spam *s)
{
	pthread_mutex_lock(&s->mu);
	s->failed = true;
	pthread_mutex_unlock(&s->mu);
}

/* format_result - classify's lines for one message */
static void
format_result(struct spam *s, const char *label,
    const struct bayes_result *r, struct buf *o)
{
	const struct config_bayes *bc = &s->cfg->bayes;
	double score = r->prob > 0.5 ? bc->spam_score * (r->prob - 0.5) * 2 :
	    bc->ham_score * (0.5 - r->prob) * 2;

	if (r->verdict == BAYES_VERDICT_NONE) {
		buf_addf(o, "%s: untrained prob=0.500000 (learned %lld spam, "
		    "%lld ham; %u of each needed)\n", label,
		    (long long)(r->nspam + r->user_nspam),
		    (long long)(r->nham + r->user_nham), bc->min_learned);
		return;
	}
	buf_addf(o, "%s: %s prob=%.6f score=%.2f clues=%zu tokens=%zu%s\n",
	    label, bayes_verdict_name(r->verdict), r->prob, score, r->nclues,
	    r->ntokens, r->user_used ? " user" : "");
	for (size_t i = 0; i < r->ntop && i < s->top; i++)
		buf_addf(o, "  %.4f spam=%lld ham=%lld %s\n", r->top[i].prob,
		    (long long)r->top[i].spam, (long long)r->top[i].ham,
		    r->top[i].token);
}

/* fatal - the lookup store failed: say it once, stop everything; under
 * mu */
static void
fatal(struct spam *s, const char *what, const struct buf *err)
{
	if (!atomic_exchange(&s->fatal, true))
		fprintf(stderr, "postern: %s: %s\n", what, buf_cstr(err));
	s->failed = true;
	pthread_cond_broadcast(&s->not_full);
	pthread_cond_broadcast(&s->learn_work);
	pthread_cond_broadcast(&s->learn_room);
}

/*
 * deliver - classify's output of message seq (o taken; empty after an
 * error): printed once every message before it is, so the output keeps
 * the input's order
 */
static void
deliver(struct spam *s, uint64_t seq, struct buf *o)
{
	size_t slot = seq % SPAM_WINDOW;

	pthread_mutex_lock(&s->mu);
	ASSERT(!s->out_ready[slot]);
	buf_free(&s->out[slot]);
	s->out[slot] = *o;
	buf_init(o, 0);
	s->out_ready[slot] = true;
	while (s->out_ready[slot = s->seq_printed % SPAM_WINDOW]) {
		fwrite(s->out[slot].data, 1, s->out[slot].len, stdout);
		buf_reset(&s->out[slot]);
		s->out_ready[slot] = false;
		s->seq_printed++;
	}
	if (s->reader_waits)
		pthread_cond_broadcast(&s->not_full);
	pthread_mutex_unlock(&s->mu);
}

/* learn_items - learn v[0..n) at once and count the outcomes; mu not
 * held */
static void
learn_items(struct spam *s, struct bayes_item *v, size_t n)
{
	struct buf err = BUF_INIT(0);
	int rc = 0;

	if (n > 0 && !atomic_load(&s->fatal))
		rc = bayes_learn_many(s->b, v, n, s->user, true, 0, &err);
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n && !atomic_load(&s->fatal); i++)
		if (v[i].done) {
			s->done[v[i].c][v[i].out]++;
			progress(s);
		}
	if (rc < 0)
		fatal(s, "learning", &err);
	pthread_mutex_unlock(&s->mu);
	buf_free(&err);
}

/* flush - learn the batch of a thread without the learner */
static void
flush(struct spam_worker *w)
{
	learn_items(w->s, w->batch, w->nbatch);
	w->nbatch = 0;
}

/* learn_put - the worker's message (its tokens in w->tok) for the
 * learner: into the filling batch, waiting while it is full */
static void
learn_put(struct spam_worker *w, enum bayes_class c)
{
	struct spam *s = w->s;
	struct bayes_tokens t;
	size_t i;

	bayes_tokens_keys(&w->keys, &w->tok);
	pthread_mutex_lock(&s->mu);
	while (s->fill->n == SPAM_BATCH && !atomic_load(&s->fatal))
		pthread_cond_wait(&s->learn_room, &s->mu);
	if (!atomic_load(&s->fatal)) {
		/* the slot's old tokens come back, freed at the next keys */
		i = s->fill->n++;
		t = s->fill->tok[i];
		s->fill->tok[i] = w->keys;
		w->keys = t;
		s->fill->item[i].t = &s->fill->tok[i];
		s->fill->item[i].c = c;
		if (!s->learning && s->fill->n >= SPAM_LEARN_MIN)
			pthread_cond_signal(&s->learn_work);
	}
	pthread_mutex_unlock(&s->mu);
}

/*
 * learner - learns the filling batch whenever it is idle and the batch
 * holds SPAM_LEARN_MIN messages (any, once the workers are done), while
 * the workers fill the other one
 */
static void *
learner(void *arg)
{
	struct spam *s = arg;

	pthread_mutex_lock(&s->mu);
	for (;;) {
		struct spam_batch *b;

		while (!atomic_load(&s->fatal) && s->fill->n <
		    (s->workers_done ? 1 : SPAM_LEARN_MIN) &&
		    !(s->workers_done && s->fill->n == 0))
			pthread_cond_wait(&s->learn_work, &s->mu);
		if (atomic_load(&s->fatal) || s->fill->n == 0)
			break;
		b = s->fill;
		s->fill = s->spare;
		s->spare = b;
		s->learning = true;
		pthread_cond_broadcast(&s->learn_room);
		pthread_mutex_unlock(&s->mu);
		learn_items(s, b->item, b->n);
		pthread_mutex_lock(&s->mu);
		b->n = 0;
		s->learning = false;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static void
batch_free(struct spam_batch *b)
{
	if (b == NULL)
		return;
	for (size_t i = 0; i < SPAM_BATCH; i++)
		bayes_tokens_free(&b->tok[i]);
	free(b);
}

/* process - one message on the worker's thread */
static void
process(struct spam_worker *w, const struct spam_job *j)
{
	struct spam *s = w->s;
	struct buf err = BUF_INIT(0), o = BUF_INIT(0);
	struct bayes_result res;
	enum bayes_outcome out = BAYES_LEARNED;
	bool has_text;
	int rc = 0;

	if (!atomic_load(&s->fatal)) {
		buf_reset(&w->text);
		has_text = cli_message_text(NULL, j->msg, j->len,
		    &w->text) == 0;
		bayes_tokenize(&w->tok, j->msg, j->len, has_text ?
		    buf_cstr(&w->text) : NULL, has_text ? w->text.len : 0);
	}
	switch (s->cmd) {
	case CMD_TRAIN:
		if (atomic_load(&s->fatal))
			break;
		if (s->learner_running) {
			learn_put(w, j->cls);
			break;
		}
		bayes_tokens_keys(&w->batch_tok[w->nbatch], &w->tok);
		w->batch[w->nbatch].t = &w->batch_tok[w->nbatch];
		w->batch[w->nbatch].c = j->cls;
		if (++w->nbatch == SPAM_BATCH)
			flush(w);
		break;
	case CMD_FORGET:
		if (atomic_load(&s->fatal))
			break;
		rc = bayes_forget(s->b, &w->tok, s->user, j->cls, &out, &err);
		pthread_mutex_lock(&s->mu);
		if (rc < 0) {
			fatal(s, j->label, &err);
		} else {
			s->done[j->cls][out]++;
			progress(s);
		}
		pthread_mutex_unlock(&s->mu);
		break;
	case CMD_CLASSIFY:
		if (!atomic_load(&s->fatal))
			rc = bayes_classify(s->b, &w->tok, s->user, &res,
			    &err);
		pthread_mutex_lock(&s->mu);
		if (rc < 0) {
			fatal(s, j->label, &err);
		} else if (!atomic_load(&s->fatal)) {
			format_result(s, j->label, &res, &o);
			s->verdicts[res.verdict]++;
			s->nmsg++;
		}
		pthread_mutex_unlock(&s->mu);
		deliver(s, j->seq, &o);
		break;
	case CMD_STATS:
		break;
	}
	buf_free(&err);
	buf_free(&o);
}

static void *
worker(void *arg)
{
	struct spam_worker *w = arg;
	struct spam *s = w->s;

	for (;;) {
		struct spam_job j;

		pthread_mutex_lock(&s->mu);
		while (s->qlen == 0 && !s->closed) {
			s->idle_workers++;
			pthread_cond_wait(&s->not_empty, &s->mu);
			s->idle_workers--;
		}
		if (s->qlen == 0) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		j = s->queue[s->qhead];
		s->qhead = (s->qhead + 1) % SPAM_QUEUE;
		s->qlen--;
		s->qbytes -= j.len;
		/* the reader refills half a queue at a time */
		if (s->reader_waits && s->qlen <= SPAM_QUEUE / 2)
			pthread_cond_signal(&s->not_full);
		pthread_mutex_unlock(&s->mu);
		process(w, &j);
		free(j.label);
		free(j.msg);
	}
	flush(w);
	return NULL;
}

/* ---- remote: the server does the work ---- */

/* remote_fatal - fatal(), and every connection shut so that its reader
 * and a blocked send wake up; under mu */
static void
remote_fatal(struct spam *s, const char *what, const struct buf *err)
{
	fatal(s, what, err);
	for (size_t i = 0; i < s->nconns; i++)
		cli_control_shutdown(&s->conns[i].c, true);
}

/* reply - one reply, to the oldest request of sc; under mu (o: the
 * classify output, delivered by the caller) */
static void
reply(struct spam_conn *sc, const struct spam_pend *p,
    const struct cli_control_reply *r, struct buf *o)
{
	struct spam *s = sc->s;
	struct buf err = BUF_INIT(0);
	bool ok = !atomic_load(&s->fatal);

	if (r->type == CLI_CONTROL_ERROR) {
		buf_add_str(&err, r->error);
		remote_fatal(s, p->label, &err);
	} else if (r->type == CLI_CONTROL_OUTCOME && s->cmd != CMD_CLASSIFY) {
		if (ok) {
			s->done[p->cls][r->outcome]++;
			progress(s);
		}
	} else if (r->type == CLI_CONTROL_RESULT && s->cmd == CMD_CLASSIFY) {
		if (ok) {
			format_result(s, p->label, &r->result, o);
			s->verdicts[r->result.verdict]++;
			s->nmsg++;
		}
	} else {
		buf_addf(&err, "control socket: an unexpected reply '%c'",
		    r->type);
		remote_fatal(s, p->label, &err);
	}
	buf_free(&err);
}

/* receiver - a connection's replies, in the order of its requests */
static void *
receiver(void *arg)
{
	struct spam_conn *sc = arg;
	struct spam *s = sc->s;
	struct cli_control_reply *r = xmalloc(sizeof(*r));
	struct buf err = BUF_INIT(0), o = BUF_INIT(0);

	for (;;) {
		struct spam_pend p;
		int rc = cli_control_recv(&sc->c, r, &err);

		pthread_mutex_lock(&s->mu);
		if (rc <= 0 || sc->plen == 0) {
			if (rc == 0 && sc->plen > 0)
				buf_addf(&err, "the server closed the "
				    "connection, %zu requests unanswered",
				    sc->plen);
			else if (rc > 0)
				buf_addf(&err, "a reply to no request");
			if (err.len > 0)
				remote_fatal(s, "control socket", &err);
			pthread_mutex_unlock(&s->mu);
			break;
		}
		p = sc->pend[sc->phead];
		sc->phead = (sc->phead + 1) % SPAM_PENDING;
		sc->plen--;
		pthread_cond_broadcast(&s->not_full);
		reply(sc, &p, r, &o);
		pthread_mutex_unlock(&s->mu);
		if (s->cmd == CMD_CLASSIFY)
			deliver(s, p.seq, &o);
		free(p.label);
	}
	free(r);
	buf_free(&err);
	buf_free(&o);
	return NULL;
}

/* remote_send - msg as a request on the next connection, in turn */
static void
remote_send(struct spam *s, const char *label, enum bayes_class cls,
    const struct buf *msg)
{
	static const unsigned char cmds[] = { CLI_CONTROL_TRAIN,
		CLI_CONTROL_FORGET, CLI_CONTROL_CLASSIFY };
	struct spam_conn *sc;
	struct spam_pend *p;
	struct buf err = BUF_INIT(0);

	pthread_mutex_lock(&s->mu);
	sc = &s->conns[s->next_conn++ % s->nconns];
	while (!atomic_load(&s->fatal) && (sc->plen == SPAM_PENDING ||
	    (s->cmd == CMD_CLASSIFY && s->seq_next - s->seq_printed >=
	    SPAM_WINDOW)))
		pthread_cond_wait(&s->not_full, &s->mu);
	if (atomic_load(&s->fatal)) {
		pthread_mutex_unlock(&s->mu);
		return;
	}
	p = &sc->pend[(sc->phead + sc->plen++) % SPAM_PENDING];
	p->label = xstrdup(label);
	p->cls = cls;
	p->seq = s->seq_next++;
	pthread_mutex_unlock(&s->mu);
	if (cli_control_send(&sc->c, cmds[s->cmd], cls, s->user, msg->data,
	    msg->len, &err) < 0) {
		pthread_mutex_lock(&s->mu);
		remote_fatal(s, "control socket", &err);
		pthread_mutex_unlock(&s->mu);
	}
	buf_free(&err);
}

/* remote_start - as many connections as local workers (the server
 * works each on a thread of its own), each with a reader */
static void
remote_start(struct spam *s)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN) + 1;
	struct buf err = BUF_INIT(0);

	n = n < 2 ? 2 : n > SPAM_WORKERS_MAX ? SPAM_WORKERS_MAX : n;
	while (s->nconns < (size_t)n) {
		buf_reset(&err);
		if (cli_control_connect(s->cfg, &s->conns[s->nconns].c,
		    &err) < 0)
			break;		/* the server is busy: fewer will do */
		s->conns[s->nconns++].s = s;
	}
	for (size_t i = 0; i < s->nconns; i++) {
		if (pthread_create(&s->conns[i].thread, NULL, receiver,
		    &s->conns[i]) == 0) {
			s->conns[i].running = true;
			continue;
		}
		/* no reader: the connections from here on go unused */
		for (size_t j = i; j < s->nconns; j++)
			cli_control_close(&s->conns[j].c);
		s->nconns = i;
	}
	if (s->nconns == 0) {
		buf_reset(&err);
		buf_add_str(&err, "cannot start a thread");
		pthread_mutex_lock(&s->mu);
		fatal(s, "control socket", &err);
		pthread_mutex_unlock(&s->mu);
	}
	buf_free(&err);
}

/* remote_stop - no more requests: the readers end with the replies (at
 * once after a failure); accepts a second call */
static void
remote_stop(struct spam *s)
{
	for (size_t i = 0; i < s->nconns; i++)
		cli_control_shutdown(&s->conns[i].c, atomic_load(&s->fatal));
	for (size_t i = 0; i < s->nconns; i++) {
		struct spam_conn *sc = &s->conns[i];

		if (sc->running)
			pthread_join(sc->thread, NULL);
		for (; sc->plen > 0; sc->plen--) {
			free(sc->pend[sc->phead].label);
			sc->phead = (sc->phead + 1) % SPAM_PENDING;
		}
		cli_control_close(&sc->c);
	}
	free(s->conns);
	s->conns = NULL;
	s->nconns = 0;
}

/* one_message - hand msg (its data taken, but for the server's) to the
 * workers or the server */
static void
one_message(struct spam *s, const char *label, enum bayes_class cls,
    struct buf *msg)
{
	struct spam_job j;

	if (atomic_load(&s->fatal))
		return;
	if (s->remote) {
		remote_send(s, label, cls, msg);
		return;
	}
	j.label = xstrdup(label);
	j.cls = cls;
	j.msg = (unsigned char *)buf_steal(msg, &j.len);
	if (s->nworkers == 0) {
		j.seq = s->seq_next++;
		process(&s->main, &j);
		free(j.label);
		free(j.msg);
		return;
	}
	pthread_mutex_lock(&s->mu);
	/* room in the queue, and classify's window of results not full */
	while (!atomic_load(&s->fatal) && (s->qlen == SPAM_QUEUE ||
	    (s->qlen > 0 && j.len > SPAM_QUEUE_BYTES - s->qbytes) ||
	    (s->cmd == CMD_CLASSIFY && s->seq_next - s->seq_printed >=
	    SPAM_WINDOW))) {
		s->reader_waits = true;
		if (s->qlen > 0 && s->idle_workers > 0)	/* nothing held back */
			pthread_cond_broadcast(&s->not_empty);
		pthread_cond_wait(&s->not_full, &s->mu);
		s->reader_waits = false;
	}
	if (atomic_load(&s->fatal)) {
		pthread_mutex_unlock(&s->mu);
		free(j.label);
		free(j.msg);
		return;
	}
	j.seq = s->seq_next++;
	s->queue[(s->qhead + s->qlen) % SPAM_QUEUE] = j;
	s->qlen++;
	s->qbytes += j.len;
	/* an idle worker is woken for a few messages, not for each */
	if (s->idle_workers > 0 && s->qlen >= SPAM_WAKE)
		pthread_cond_signal(&s->not_empty);
	pthread_mutex_unlock(&s->mu);
}

/* workers_start - a thread per core and one more: parsing the MIME and
 * tokenizing are most of the work, and the one more keeps the cores
 * busy while a worker waits on the store (a batch's commits) */
static void
workers_start(struct spam *s)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN) + 1;

	n = n < 2 ? 2 : n > SPAM_WORKERS_MAX ? SPAM_WORKERS_MAX : n;
	if (s->cmd == CMD_TRAIN) {
		s->fill = xcalloc(1, sizeof(*s->fill));
		s->spare = xcalloc(1, sizeof(*s->spare));
		s->learner_running = pthread_create(&s->learner, NULL,
		    learner, s) == 0;
	}
	s->workers = xcalloc((size_t)n, sizeof(*s->workers));
	for (long i = 0; i < n; i++) {
		s->workers[i].s = s;
		buf_init(&s->workers[i].text, 0);
		if (pthread_create(&s->workers[i].thread, NULL, worker,
		    &s->workers[i]) != 0)
			break;
		s->nworkers++;
	}
}

static void
worker_free(struct spam_worker *w)
{
	bayes_tokens_free(&w->tok);
	bayes_tokens_free(&w->keys);
	buf_free(&w->text);
	for (size_t i = 0; i < SPAM_BATCH; i++)
		bayes_tokens_free(&w->batch_tok[i]);
}

static void
workers_stop(struct spam *s)
{
	pthread_mutex_lock(&s->mu);
	s->closed = true;
	pthread_cond_broadcast(&s->not_empty);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < s->nworkers; i++)
		pthread_join(s->workers[i].thread, NULL);
	if (s->learner_running) {
		pthread_mutex_lock(&s->mu);
		s->workers_done = true;
		pthread_cond_signal(&s->learn_work);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->learner, NULL);
		s->learner_running = false;
	}
	batch_free(s->fill);
	batch_free(s->spare);
	s->fill = s->spare = NULL;
	for (size_t i = 0; s->workers != NULL && i < s->nworkers; i++)
		worker_free(&s->workers[i]);
	free(s->workers);
	s->workers = NULL;
	s->nworkers = 0;
	flush(&s->main);
}

/* ---- sources: files, mboxes, directories ---- */

/* mbox_flush - the message collected so far, its last blank line off */
static void
mbox_flush(struct spam *s, const char *path, enum bayes_class cls,
    struct buf *msg, unsigned *nr, bool skip)
{
	struct buf label = BUF_INIT(0);

	if (msg->len > 0 && msg->data[msg->len - 1] == '\n')
		msg->len--;
	if (msg->len > 0 && msg->data[msg->len - 1] == '\r')
		msg->len--;
	if (!skip && msg->len > 0) {
		buf_addf(&label, "%s:%u", path, ++*nr);
		one_message(s, buf_cstr(&label), cls, msg);
	} else if (skip) {
		fprintf(stderr, "postern: %s: message %u over %u MiB: "
		    "skipped\n", path, ++*nr, SPAM_MSG_MAX >> 20);
		set_failed(s);
	}
	buf_reset(msg);
	buf_free(&label);
}

/* mbox - each "From " line starts a message; mboxrd unquoting */
static void
mbox(struct spam *s, const char *path, FILE *f, enum bayes_class cls)
{
	struct buf msg = BUF_INIT(0);
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	unsigned nr = 0;
	bool started = false, skip = false;

	while (!atomic_load(&s->fatal) &&
	    (got = getline(&line, &cap, f)) > 0) {
		size_t len = (size_t)got, q = 0;
		const char *p = line;

		if (len >= 5 && memcmp(p, "From ", 5) == 0) {
			if (started)
				mbox_flush(s, path, cls, &msg, &nr, skip);
			started = true;
			skip = false;
			continue;
		}
		if (!started || skip)
			continue;
		while (q < len && p[q] == '>')
			q++;
		/* ">From " and ">>From " lose one '>' (mboxrd) */
		if (q > 0 && len - q >= 5 && memcmp(p + q, "From ", 5) == 0) {
			p++;
			len--;
		}
		if (len > SPAM_MSG_MAX - msg.len) {
			skip = true;
			continue;
		}
		buf_add(&msg, p, len);
	}
	if (ferror(f)) {
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
		set_failed(s);
	} else if (started && !atomic_load(&s->fatal)) {
		mbox_flush(s, path, cls, &msg, &nr, skip);
	}
	free(line);
	buf_free(&msg);
}

/*
 * file - one message, or an mbox.  A message file is read with open,
 * fstat and one read of its size (and one more to see the end): the
 * stdio path cost three stats and three reads a message, which made the
 * reader the slow end of training.
 */
static void
file(struct spam *s, const char *path, enum bayes_class cls)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct buf msg = BUF_INIT(0);
	struct stat st;
	ssize_t got = 0;
	size_t want;
	FILE *f;

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
		set_failed(s);
		if (fd >= 0)
			close(fd);
		return;
	}
	/* up to the size (capped) + 1, so a file that grew still shows */
	want = (uint64_t)st.st_size >= SPAM_MSG_MAX ? SPAM_MSG_MAX + 1 :
	    (size_t)st.st_size + 1;
	if (buf_reserve(&msg, want) < 0)
		PANIC("spam: %zu bytes", want);
	while (msg.len < want && (got = read(fd, msg.data + msg.len,
	    want - msg.len)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			break;
		msg.len += (size_t)got;
	}
	if (got < 0) {
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
		set_failed(s);
	} else if (msg.len >= 5 && memcmp(msg.data, "From ", 5) == 0) {
		/* an mbox: read as a stream, from the start */
		if (lseek(fd, 0, SEEK_SET) == 0 && (f = fdopen(fd, "rb")) !=
		    NULL) {
			fd = -1;
			mbox(s, path, f, cls);
			fclose(f);
		} else {
			fprintf(stderr, "postern: %s: %s\n", path,
			    strerror(errno));
			set_failed(s);
		}
	} else if (msg.len > SPAM_MSG_MAX) {
		fprintf(stderr, "postern: %s: over %u MiB: skipped\n", path,
		    SPAM_MSG_MAX >> 20);
		set_failed(s);
	} else if (msg.len > 0) {
		one_message(s, path, cls, &msg);
	}
	if (fd >= 0)
		close(fd);
	buf_free(&msg);
}

/* a directory entry: its name, and whether readdir said a regular file */
struct entry {
	char *name;
	bool reg;		/* DT_REG: no stat needed */
};

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name,
	    ((const struct entry *)b)->name);
}

/* directory - every regular file in dir, in name order */
static void
directory(struct spam *s, const char *dir, enum bayes_class cls, bool quiet)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct entry *ents = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL) {
		if (!quiet || errno != ENOENT) {
			fprintf(stderr, "postern: %s: %s\n", dir,
			    strerror(errno));
			set_failed(s);
		}
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || (e->d_type != DT_REG &&
		    e->d_type != DT_LNK && e->d_type != DT_UNKNOWN))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			ents = xreallocarray(ents, cap, sizeof(*ents));
		}
		ents[n].name = xstrdup(e->d_name);
		ents[n++].reg = e->d_type == DT_REG;
	}
	closedir(d);
	qsort(ents, n, sizeof(*ents), name_cmp);
	for (size_t i = 0; i < n; i++) {
		struct buf p = BUF_INIT(0);
		struct stat st;

		buf_addf(&p, "%s/%s", dir, ents[i].name);
		if (!atomic_load(&s->fatal) && (ents[i].reg ||
		    (stat(buf_cstr(&p), &st) == 0 && S_ISREG(st.st_mode))))
			file(s, buf_cstr(&p), cls);
		buf_free(&p);
		free(ents[i].name);
	}
	free(ents);
}

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* source - whatever PATH is */
static void
source(struct spam *s, const char *path, enum bayes_class cls)
{
	struct buf cur = BUF_INIT(0), nw = BUF_INIT(0);
	struct stat st;

	if (stat(path, &st) < 0) {
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
		set_failed(s);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		file(s, path, cls);
		return;
	}
	buf_addf(&cur, "%s/cur", path);
	buf_addf(&nw, "%s/new", path);
	if (is_dir(buf_cstr(&cur)) || is_dir(buf_cstr(&nw))) {
		directory(s, buf_cstr(&cur), cls, true);
		directory(s, buf_cstr(&nw), cls, true);
	} else {
		directory(s, path, cls, false);
	}
	buf_free(&cur);
	buf_free(&nw);
}

/* ---- the subcommands ---- */

static void
summary(struct spam *s)
{
	double secs = (double)(clock_mono_us() - s->t0) / 1e6;
	const char *cls[2] = { "ham", "spam" };

	if (s->cmd == CMD_CLASSIFY) {
		printf("classified %llu messages: %llu spam, %llu ham, "
		    "%llu unsure, %llu untrained in %.2f s (%.0f/s)\n",
		    (unsigned long long)s->nmsg,
		    (unsigned long long)s->verdicts[BAYES_VERDICT_SPAM],
		    (unsigned long long)s->verdicts[BAYES_VERDICT_HAM],
		    (unsigned long long)s->verdicts[BAYES_VERDICT_UNSURE],
		    (unsigned long long)s->verdicts[BAYES_VERDICT_NONE], secs,
		    secs > 0 ? (double)s->nmsg / secs : 0.0);
		return;
	}
	for (int c = 1; c >= 0; c--) {
		const uint64_t *d = s->done[c];

		if (!s->given[c])
			continue;
		if (s->cmd == CMD_TRAIN)
			printf("%s: %llu learned, %llu relearned, %llu "
			    "already learned, %llu learned as %s before: "
			    "left\n",
			    cls[c], (unsigned long long)d[BAYES_LEARNED],
			    (unsigned long long)d[BAYES_RELEARNED],
			    (unsigned long long)d[BAYES_ALREADY],
			    (unsigned long long)d[BAYES_OTHER], cls[1 - c]);
		else
			printf("%s: %llu forgotten, %llu not learned, %llu "
			    "learned as %s\n", cls[c],
			    (unsigned long long)d[BAYES_LEARNED],
			    (unsigned long long)d[BAYES_NOT_LEARNED],
			    (unsigned long long)d[BAYES_OTHER], cls[1 - c]);
	}
	printf("%llu messages in %.2f s (%.0f/s)\n",
	    (unsigned long long)s->nmsg, secs, secs > 0 ?
	    (double)s->nmsg / secs : 0.0);
}

static void
print_stats(struct spam *s, const char *user, const struct bayes_stats *st)
{
	unsigned min = s->cfg->bayes.min_learned;

	printf("%s%s%s\n  spam learned: %lld\n  ham learned:  %lld\n"
	    "  tokens:       %lld\n  judging:      %s (min_learned "
	    "%u)\n", user == NULL ? "global" : "user ",
	    user == NULL ? "" : user, ":", (long long)st->nspam,
	    (long long)st->nham, (long long)(st->ntokens > 0 ?
	    st->ntokens : 0), st->nspam >= (min > 0 ? min : 1) &&
	    st->nham >= (min > 0 ? min : 1) ? "yes" : "no", min);
}

static int
stats(struct spam *s)
{
	struct bayes_stats st;
	struct buf err = BUF_INIT(0);
	int rc = 0;

	for (int pass = 0; pass < (s->user != NULL ? 2 : 1); pass++) {
		const char *user = pass == 0 ? NULL : s->user;

		if (bayes_stats(s->b, user, &st, &err) < 0) {
			fprintf(stderr, "postern: %s\n", buf_cstr(&err));
			rc = 1;
			break;
		}
		print_stats(s, user, &st);
	}
	buf_free(&err);
	return rc;
}

/* remote_stats - stats from the server: the global set and the user's
 * ("" is the global set again, as locally) */
static int
remote_stats(struct spam *s)
{
	struct cli_control_conn *c = &s->conns[0].c;
	struct cli_control_reply *r = xmalloc(sizeof(*r));
	struct buf err = BUF_INIT(0);
	size_t want = s->user != NULL && s->user[0] != '\0' ? 2 : 1;
	int rc = 1, got = -1;

	if (cli_control_send(c, CLI_CONTROL_STATS, BAYES_HAM, s->user, NULL,
	    0, &err) == 0 && (got = cli_control_recv(c, r, &err)) == 0)
		buf_add_str(&err, "the server closed the connection");
	if (got <= 0)
		fprintf(stderr, "postern: control socket: %s\n",
		    buf_cstr(&err));
	else if (r->type == CLI_CONTROL_ERROR)
		fprintf(stderr, "postern: %s\n", r->error);
	else if (r->type != CLI_CONTROL_SETS || r->nsets != want)
		fprintf(stderr, "postern: control socket: an unexpected "
		    "reply '%c'\n", r->type);
	else
		rc = 0;
	for (int pass = 0; rc == 0 && pass < (s->user != NULL ? 2 : 1);
	    pass++)
		print_stats(s, pass == 0 ? NULL : s->user,
		    &r->sets[pass < (int)want ? pass : 0]);
	free(r);
	buf_free(&err);
	return rc;
}

/* parse - the options and paths after the subcommand */
static int
parse(struct spam *s, int argc, char **argv, struct spam_path **paths_r,
    size_t *n_r)
{
	struct spam_path *p = xcalloc((size_t)argc + 1, sizeof(*p));
	size_t n = 0;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--user") == 0 && i + 1 < argc) {
			s->user = argv[++i];
		} else if (strcmp(a, "--top") == 0 && i + 1 < argc &&
		    s->cmd == CMD_CLASSIFY) {
			uint64_t v;

			if (parse_u64(argv[i + 1], strlen(argv[i + 1]),
			    BAYES_TOP_MAX, &v) < 0) {
				fprintf(stderr, "postern: --top: 0 to %u\n",
				    BAYES_TOP_MAX);
				goto bad;
			}
			s->top = (unsigned)v;
			i++;
		} else if ((strcmp(a, "--spam") == 0 || strcmp(a, "--ham") ==
		    0) && i + 1 < argc && (s->cmd == CMD_TRAIN ||
		    s->cmd == CMD_FORGET)) {
			p[n].cls = a[2] == 's' ? BAYES_SPAM : BAYES_HAM;
			s->given[p[n].cls] = true;
			p[n++].path = argv[++i];
		} else if (a[0] != '-' && s->cmd == CMD_CLASSIFY) {
			p[n++].path = a;
		} else {
			goto bad;
		}
	}
	if ((n == 0) != (s->cmd == CMD_STATS))
		goto bad;
	*paths_r = p;
	*n_r = n;
	return 0;
bad:
	free(p);
	return -1;
}

int
cli_spam(const struct config *cfg, int argc, char **argv)
{
	static const char *const cmds[] = { "train", "forget", "classify",
		"stats" };
	struct spam s;
	struct spam_path *paths = NULL;
	struct bayes_options bo;
	size_t n = 0;
	int rc;

	memset(&s, 0, sizeof(s));
	s.cfg = cfg;
	s.top = SPAM_TOP_DEFAULT;
	s.main.s = &s;
	atomic_init(&s.fatal, false);
	if (argc < 2)
		return usage();
	for (s.cmd = CMD_TRAIN; s.cmd <= CMD_STATS; s.cmd++)
		if (strcmp(argv[1], cmds[s.cmd]) == 0)
			break;
	if (s.cmd > CMD_STATS || parse(&s, argc, argv, &paths, &n) < 0)
		return usage();
	if (open_lookup(&s) < 0) {
		free(paths);
		return 1;
	}
	if (!s.remote) {
		memset(&bo, 0, sizeof(bo));
		bo.lookup = s.l;
		bo.min_learned = cfg->bayes.min_learned;
		bo.per_user = cfg->bayes.per_user;
		bo.snapshot = s.cmd == CMD_CLASSIFY;
		s.b = bayes_new(&bo);
	}
	buf_init(&s.main.text, 0);
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.not_empty, NULL);
	pthread_cond_init(&s.not_full, NULL);
	pthread_cond_init(&s.learn_work, NULL);
	pthread_cond_init(&s.learn_room, NULL);
	s.t0 = clock_mono_us();
	if (s.cmd == CMD_STATS) {
		rc = s.remote ? remote_stats(&s) : stats(&s);
	} else {
		if (s.remote)
			remote_start(&s);
		else
			workers_start(&s);
		for (size_t i = 0; i < n && !atomic_load(&s.fatal); i++)
			source(&s, paths[i].path, paths[i].cls);
		if (s.remote)
			remote_stop(&s);
		else
			workers_stop(&s);
		if (!atomic_load(&s.fatal))
			summary(&s);
		rc = s.failed ? 1 : 0;
	}
	fflush(stdout);
	remote_stop(&s);
	pthread_cond_destroy(&s.not_empty);
	pthread_cond_destroy(&s.not_full);
	pthread_cond_destroy(&s.learn_work);
	pthread_cond_destroy(&s.learn_room);
	pthread_mutex_destroy(&s.mu);
	worker_free(&s.main);
	for (size_t i = 0; i < SPAM_WINDOW; i++)
		buf_free(&s.out[i]);
	bayes_free(&s.b);
	lookup_close(&s.l);
	kv_close(&s.kv);
	free(paths);
	return rc;
}
