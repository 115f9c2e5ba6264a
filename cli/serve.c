/*
 * serve.c - `postern serve`: wire the parts together and run.
 *
 * Order matters: log, TLS keys and listening sockets first (they may need
 * root: privileged ports, key files), then drop to server.user, then open
 * the spool (recovering what a crash left), start the queue manager, the
 * I/O loops and the job pool, and, once the classifier exists, the
 * control socket through which `postern spam` reaches it (cli_control.h).
 * Signals are handled synchronously by the main thread with sigwait():
 * SIGTERM/SIGINT stop, SIGUSR1 flushes the queue (`postern queue
 * flush`), SIGHUP is logged and ignored (no reload yet).
 *
 * Shutdown: close the control socket (its threads use the classifier),
 * stop accepting and stop the loops, finish the jobs in flight (SMTP
 * deliveries are interrupted and deferred, cli_outbound_stop), drain
 * the group committer (a message whose commit completes is in the
 * queue even if its client never saw the 250), stop the queue manager.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_control.h"
#include "common/auth_throttle.h"
#include "common/listen.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/netaddr.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "delivery/delivery.h"
#include "directory/directory.h"
#include "filters/bayes.h"
#include "filters/filters.h"
#include "imap-jmap/imap.h"
#include "imap-jmap/jmap.h"
#include "mta/smtpd.h"
#include "queue/queue.h"
#include "store/store.h"

#define SVC "master"

static SSL_CTX *
load_tls(const struct config *cfg)
{
	const char *error;
	char *cert = NULL, *key = NULL;
	SSL_CTX *ctx;

	if (cfg->tls.cert[0] != '\0') {
		cert = xstrdup(cfg->tls.cert);
		key = xstrdup(cfg->tls.key);
	} else {
		struct buf dir = BUF_INIT(0);

		buf_addf(&dir, "%s/tls", cfg->server.data_dir);
		if (tls_selfsigned_ensure(buf_cstr(&dir),
		    cfg->server.hostname, &cert, &key, &error) < 0)
			log_fatal(SVC, "self-signed certificate: %s", error);
		log_info(SVC, "no tls.cert configured: using the self-signed "
		    "certificate %s", cert);
		buf_free(&dir);
	}
	ctx = tls_server_ctx_new(cert, key, cfg->tls.min_version,
	    cfg->tls.ciphers, &error);
	if (ctx == NULL)
		log_fatal(SVC, "TLS: %s", error);
	free(cert);
	free(key);
	return ctx;
}

static void
write_pid_file(const char *path)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || write(fd, line, (size_t)n) != n)
		log_fatal(SVC, "pid file %s: %s", path, strerror(errno));
	close(fd);
}

static unsigned
ncores(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : (unsigned)n;
}

/* auth_check_threads - the password checks' pool: auth.check_threads */
static unsigned
auth_check_threads(const struct config *cfg)
{
	if (cfg->auth.check_threads != 0)
		return cfg->auth.check_threads;
	return ncores() < 2 ? 1 : ncores() / 2;
}

static void
on_queued(void *arg, const char *qid)
{
	qmgr_enqueue(arg, qid);
}

/* what the routing, RCPT and forwarding hooks need */
struct serve_ctx {
	const struct config *cfg;
	struct directory *dir;
	struct delivery *delivery;
	struct spool *spool;
	struct qmgr *qm;
	struct jobs *auth_jobs;	/* password checks (smtpd_set_auth) */
};

/* a forward's commit, waited for on the delivery worker */
struct fwd_wait {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool done;
	int status;
	char error[200];
};

static void
fwd_committed(void *arg, int status, const char *error)
{
	struct fwd_wait *w = arg;

	pthread_mutex_lock(&w->mu);
	w->status = status;
	if (error != NULL)
		(void)snprintf(w->error, sizeof(w->error), "%s", error);
	w->done = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->mu);
}

/*
 * forward - a new queue message for an alias's remote addresses, with
 * the original sender and MAIL parameters (BODY=8BITMIME and SMTPUTF8
 * describe the same content; RET and ENVID are the same sender's wish
 * for its bounces; delivery.h); returns once it is durable.  The new
 * recipients get no NOTIFY or ORCPT: the original's were for the alias.
 */
static int
forward(void *arg, const char *sender, const char *sender_params,
    const char *const *rcpts, size_t n, const void *msg, size_t len,
    struct buf *err)
{
	struct serve_ctx *sc = arg;
	struct queue_envelope env;
	struct queue_rcpt *qr = xcalloc(n, sizeof(*qr));
	struct spool_file *f;
	struct fwd_wait w;
	const char *error = NULL;
	char qid[QUEUE_ID_SIZE];

	memset(&env, 0, sizeof(env));
	env.client_ip = "127.0.0.1";
	env.client_name = "localhost";
	env.helo = sc->cfg->server.hostname;
	env.protocol = "local";
	env.sender = sender;
	env.sender_params = sender_params;
	for (size_t i = 0; i < n; i++) {
		qr[i].addr = rcpts[i];
		qr[i].params = "";
	}
	env.rcpts = qr;
	env.nrcpt = n;
	f = spool_create(sc->spool, &env, &error);
	free(qr);
	if (f == NULL || spool_append(f, msg, len, &error) < 0) {
		buf_addf(err, "queue file: %s", error);
		spool_abort(&f);
		return -1;
	}
	(void)snprintf(qid, sizeof(qid), "%s", spool_file_id(f));
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.mu, NULL);
	pthread_cond_init(&w.cond, NULL);
	spool_commit(f, fwd_committed, &w);
	pthread_mutex_lock(&w.mu);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.mu);
	pthread_mutex_unlock(&w.mu);
	pthread_mutex_destroy(&w.mu);
	pthread_cond_destroy(&w.cond);
	if (w.status != 0) {
		buf_addf(err, "queue commit: %s", w.error);
		return -1;
	}
	log_info(SVC, "%s: from=<%s>, size=%zu, nrcpt=%zu (forwarded by an "
	    "alias)", qid, sender, len, n);
	qmgr_enqueue(sc->qm, qid);
	return 0;
}

/*
 * is_local_domain - smtp.local_domains or a domain of the directory; a
 * directory error counts as local so that the caller defers rather than
 * relays (-1 when the error must be reported)
 */
static int
is_local_domain(struct serve_ctx *sc, const char *domain)
{
	const struct config *cfg = sc->cfg;
	struct buf err = BUF_INIT(0);
	int r;

	for (size_t i = 0; i < cfg->smtp.local_domains.n; i++)
		if (ascii_eq_nocase(domain, strlen(domain),
		    cfg->smtp.local_domains.v[i]))
			return 1;
	r = dir_domain_exists(sc->dir, domain, &err);
	if (r < 0)
		log_error(SVC, "directory: %s", buf_cstr(&err));
	buf_free(&err);
	return r;
}

/* route - local domains to the local transport, the rest to smtp */
static const char *
route(void *arg, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');

	if (at == NULL)		/* <Postmaster> */
		return "local";
	return is_local_domain(arg, at + 1) != 0 ? "local" : "smtp";
}

/* rcpt_check - RCPT TO on a worker: ours, known, and room for it? */
static enum smtpd_verdict
rcpt_check(void *arg, const char *addr, uint64_t size)
{
	struct serve_ctx *sc = arg;
	const char *at = strrchr(addr, '@');
	struct buf err = BUF_INIT(0);
	enum smtpd_verdict v = SMTPD_RCPT_OK;
	int r;

	r = at != NULL ? is_local_domain(sc, at + 1) : 0;
	if (r < 0)
		return SMTPD_RCPT_TEMPFAIL;
	if (r == 0)
		return SMTPD_RCPT_RELAY_DENIED;
	switch (delivery_rcpt_check(sc->delivery, addr, size, &err)) {
	case DELIVERY_RCPT_OK:
		break;
	case DELIVERY_RCPT_UNKNOWN:
		v = SMTPD_RCPT_UNKNOWN;
		break;
	case DELIVERY_RCPT_OVER_QUOTA:
		v = SMTPD_RCPT_OVER_QUOTA;
		break;
	case DELIVERY_RCPT_ERROR:
		log_error(SVC, "recipient check <%s>: %s", addr,
		    buf_cstr(&err));
		v = SMTPD_RCPT_TEMPFAIL;
		break;
	}
	buf_free(&err);
	return v;
}

/*
 * deliver_now - a message straight into the mailboxes of its local
 * recipients (LMTP; SMTP direct delivery, where only_local leaves the
 * others untouched, to be queued).  No idempotency key: nothing retries
 * this delivery under the same ID - what is not answered 250 is queued
 * (SMTP) or retried by the client (LMTP) as a new transaction.
 */
static void
deliver_now(struct serve_ctx *sc, const char *qid, const char *sender,
    const char *sender_params, const void *msg, size_t len,
    struct smtpd_lmtp_rcpt *rcpts, size_t n, bool only_local)
{
	struct delivery_rcpt *dr = xcalloc(n, sizeof(*dr));
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (only_local && strcmp(route(sc, rcpts[i].addr), "local") != 0)
			continue;	/* for the queue */
		dr[m].addr = rcpts[i].addr;
		dr[m++].index = (uint32_t)i;	/* back to rcpts[] */
	}
	if (m > 0)
		delivery_message(sc->delivery, NULL, sender, sender_params,
		    msg, len, dr, m);
	for (size_t i = 0; i < m; i++) {
		struct smtpd_lmtp_rcpt *r = &rcpts[dr[i].index];

		if (only_local && dr[i].status != TRANSPORT_OK)
			continue;	/* queued, and logged, by the queue */
		if (only_local)
			log_info("local", "%s: to=<%s>, relay=local, dsn=%s, "
			    "status=sent (%s)", qid, r->addr, dr[i].dsn,
			    dr[i].text);
		switch (dr[i].status) {
		case TRANSPORT_OK:
			r->code = 250;
			break;
		case TRANSPORT_PERMFAIL:
			r->code = 550;
			break;
		default:
			r->code = strcmp(dr[i].dsn, "4.2.2") == 0 ? 452 : 451;
			break;
		}
		(void)snprintf(r->ecode, sizeof(r->ecode), "%s", dr[i].dsn);
		(void)snprintf(r->text, sizeof(r->text), "%s", dr[i].text);
	}
	free(dr);
}

/* lmtp_deliver - an LMTP transaction's message, straight to mailboxes */
static void
lmtp_deliver(void *arg, const char *qid, const char *sender,
    const char *sender_params, const void *msg, size_t len,
    struct smtpd_lmtp_rcpt *rcpts, size_t n)
{
	deliver_now(arg, qid, sender, sender_params, msg, len, rcpts, n,
	    false);
}

/* direct_deliver - SMTP: local recipients first, the rest queued */
static void
direct_deliver(void *arg, const char *qid, const char *sender,
    const char *sender_params, const void *msg, size_t len,
    struct smtpd_lmtp_rcpt *rcpts, size_t n)
{
	deliver_now(arg, qid, sender, sender_params, msg, len, rcpts, n,
	    true);
}

static bool
is_held(const struct config *cfg, const char *transport)
{
	for (size_t i = 0; i < cfg->queue.hold_transports.n; i++)
		if (strcmp(cfg->queue.hold_transports.v[i], transport) == 0)
			return true;
	return false;
}

static void
delivery_work(void *arg)
{
	qmgr_job_run(arg);
}

static void
dispatch(void *arg, struct qmgr_job *job)
{
	jobs_submit(arg, NULL, delivery_work, NULL, job);
}

struct junk_ctx {
	struct directory *dir;
	struct bayes *bayes;
};

/*
 * junk_train - store_junk_fn: a message moved into or out of Junk
 * trains the classifier, globally and (bayes.per_user) for the account
 */
static void
junk_train(void *arg, uint32_t acct, const void *msg, size_t len, bool spam)
{
	struct junk_ctx *jc = arg;
	struct dir_account a;
	struct buf err = BUF_INIT(0);

	memset(&a, 0, sizeof(a));
	if (dir_user_get_id(jc->dir, acct, &a, &err) != 1 ||
	    bayes_train_message(jc->bayes, a.name, msg, len, spam, true,
	    &err) < 0)
		log_warn(SVC, "training on a move %s Junk: %s", spam ? "into" :
		    "out of", err.len > 0 ? buf_cstr(&err) : "no account");
	dir_account_clear(&a);
	buf_free(&err);
}

/* listeners_open - bind every address of list (key names it in errors) */
static struct listener **
listeners_open(struct loops *loops, const struct strlist *list,
    const char *key)
{
	struct listener **ls = xcalloc(list->n + 1, sizeof(*ls));
	const char *error;

	for (size_t i = 0; i < list->n; i++) {
		struct netaddr a;

		if (netaddr_parse_listen(list->v[i], &a, &error) < 0)
			log_fatal(SVC, "%s %s: %s", key, list->v[i], error);
		ls[i] = listener_open(loops, &a, &error);
		if (ls[i] == NULL)
			log_fatal(SVC, "%s %s: %s", key, list->v[i], error);
	}
	return ls;
}

static void
listeners_free(struct listener ***lsp, size_t n)
{
	for (size_t i = 0; i < n; i++)
		listener_free(&(*lsp)[i]);
	free(*lsp);
	*lsp = NULL;
}

/*
 * submission_start - a submission server (587 STARTTLS, or 465 implicit
 * TLS): AUTH against the directory, the same recipient check, pipeline
 * (as listener "submission": an authenticated client skips the inbound
 * checks) and direct delivery as port 25
 */
static struct smtpd *
submission_start(struct serve_ctx *sc, struct jobs *jobs, SSL_CTX *tls,
    struct filters *filters, struct auth_throttle *th, bool direct,
    bool implicit_tls, struct listener **ls, size_t n)
{
	struct smtpd *d = smtpd_new(sc->cfg, jobs, tls, sc->spool, on_queued,
	    sc->qm);

	smtpd_set_rcpt_check(d, rcpt_check, sc);
	smtpd_set_auth(d, sc->dir, th, sc->auth_jobs);
	smtpd_set_submission(d, implicit_tls);
	if (filters_stage_count(filters) > 0)
		smtpd_set_filters(d, filters, "submission");
	if (direct)
		smtpd_set_direct(d, direct_deliver, sc);
	for (size_t i = 0; i < n; i++) {
		listener_start(ls[i], smtpd_accept, d);
		log_info(SVC, "submission%s listening on %s", implicit_tls ?
		    " (implicit TLS)" : "", listener_name(ls[i]));
	}
	return d;
}

int
cli_serve(const struct config *cfg, int argc, char **argv)
{
	unsigned nio = cfg->server.io_threads, njobs = cfg->server.job_threads;
	struct listener **listeners, **lmtp_listeners, **sub_listeners,
	    **subs_listeners, **imap_listeners, **imaps_listeners;
	struct imap_server *imap;
	struct jmap_server *jmap;
	struct auth_throttle *throttle;
	struct auth_throttle_conf tc;
	struct smtpd *submission, *submissions;
	struct spool_recover_stats rst;
	struct qmgr_hooks hooks;
	struct buf err = BUF_INIT(0);
	struct loops *loops;
	struct jobs *jobs, *deliveries;
	struct spool *spool;
	struct qmgr *qm;
	struct smtpd *smtpd, *lmtpd;
	struct store *store;
	struct directory *dir;
	struct dir_options dopt;
	struct delivery *delivery;
	struct transport local;
	struct cli_outbound outbound;
	struct serve_ctx sc;
	struct cli_filters cf;
	struct junk_ctx jc;
	struct cli_control *control;
	struct filters *filters;
	SSL_CTX *tls = NULL;
	const char *error;
	sigset_t sigs;
	int sig;

	if (argc > 1) {
		fprintf(stderr, "usage: postern [-c FILE] serve\n");
		return 2;
	}
	(void)argv;
	log_open(cfg->log.dest, cfg->log.level, cfg->log.facility,
	    cfg->log.syslog_socket);
	if (nio == 0)
		nio = ncores();
	if (njobs == 0)
		njobs = ncores() * 4 < 8 ? 8 : ncores() * 4;

	/* the signals we handle are blocked in every thread we start */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (mkdir(cfg->server.data_dir, 0750) < 0 && errno != EEXIST)
		log_fatal(SVC, "data_dir %s: %s", cfg->server.data_dir,
		    strerror(errno));
	if (cfg->smtp.starttls || cfg->submission.listen.n > 0 ||
	    cfg->submission.listen_tls.n > 0 || cfg->imap.listen.n > 0 ||
	    cfg->imap.listen_tls.n > 0 || cfg->jmap.listen_tls.n > 0)
		tls = load_tls(cfg);

	/* bind every address now, while we may still be root */
	loops = loops_new(nio);
	listeners = xcalloc(cfg->smtp.listen.n, sizeof(*listeners));
	for (size_t i = 0; i < cfg->smtp.listen.n; i++) {
		struct netaddr a;

		if (netaddr_parse_listen(cfg->smtp.listen.v[i], &a, &error) < 0)
			log_fatal(SVC, "smtp.listen %s: %s",
			    cfg->smtp.listen.v[i], error);
		listeners[i] = listener_open(loops, &a, &error);
		if (listeners[i] == NULL)
			log_fatal(SVC, "smtp.listen %s: %s",
			    cfg->smtp.listen.v[i], error);
	}
	lmtp_listeners = xcalloc(cfg->lmtp.listen.n + 1,
	    sizeof(*lmtp_listeners));
	for (size_t i = 0; i < cfg->lmtp.listen.n; i++) {
		struct netaddr a;

		if (netaddr_parse_listen(cfg->lmtp.listen.v[i], &a, &error) < 0)
			log_fatal(SVC, "lmtp.listen %s: %s",
			    cfg->lmtp.listen.v[i], error);
		lmtp_listeners[i] = listener_open(loops, &a, &error);
		if (lmtp_listeners[i] == NULL)
			log_fatal(SVC, "lmtp.listen %s: %s",
			    cfg->lmtp.listen.v[i], error);
	}
	sub_listeners = listeners_open(loops, &cfg->submission.listen,
	    "submission.listen");
	subs_listeners = listeners_open(loops, &cfg->submission.listen_tls,
	    "submission.listen_tls");
	imap_listeners = listeners_open(loops, &cfg->imap.listen,
	    "imap.listen");
	imaps_listeners = listeners_open(loops, &cfg->imap.listen_tls,
	    "imap.listen_tls");
	/* JMAP binds its own sockets: evhttp takes listening ones */
	if ((jmap = jmap_server_new(cfg, loops, tls, &error)) == NULL)
		log_fatal(SVC, "%s", error);
	cli_become_user(cfg, true);

	spool = spool_open(cfg->queue.dir, &error);
	if (spool == NULL)
		log_fatal(SVC, "queue %s: %s", cfg->queue.dir, error);
	if (spool_recover(spool, &rst, &err) < 0)
		log_fatal(SVC, "queue recovery: %s", buf_cstr(&err));
	log_info(SVC, "queue %s: %u messages, %u unfinished removed, "
	    "%u corrupt set aside, %u torn tails cut", cfg->queue.dir, rst.ok,
	    rst.tmp_removed, rst.corrupt, rst.truncated);
	if (store_open(cfg, &store, &err) < 0)
		log_fatal(SVC, "mailbox store: %s", buf_cstr(&err));
	log_info(SVC, "mailbox store: %s data store %s, %s blobs",
	    kv_backend_name(store->kv), cfg->store.path,
	    blob_backend_name(store->blobs));
	memset(&dopt, 0, sizeof(dopt));
	dopt.subaddress_sep = cfg->delivery.recipient_delimiter[0];
	dir = directory_new(store->kv, &dopt);
	/* before anything shares the store: its change hooks are fixed */
	imap = imap_server_new(cfg, store, dir, tls);
	store_add_change_hook(store, imap_server_changed, imap);
	store_add_change_hook(store, jmap_server_changed, jmap);
	delivery = delivery_new(store, dir);
	sc = (struct serve_ctx){ cfg, dir, delivery, spool, NULL, NULL };
	delivery_set_forward(delivery, forward, &sc);
	/* no queue message is retried past max_lifetime: a day of margin */
	delivery_set_retention(delivery,
	    (uint64_t)cfg->queue.max_lifetime + 86400);

	jobs = jobs_new(njobs);
	/*
	 * Deliveries get a pool of their own, one thread per allowed
	 * delivery: a slow remote server must never hold up the spool
	 * writes that SMTP sessions wait on before their 250.
	 */
	deliveries = jobs_new(cfg->queue.max_deliveries);
	/* and password checks one: a slow hash must not hold them up either
	 * (mta/smtpd_auth.c) */
	sc.auth_jobs = jobs_new(auth_check_threads(cfg));
	memset(&hooks, 0, sizeof(hooks));
	hooks.route = route;
	hooks.route_arg = &sc;
	hooks.dispatch = dispatch;
	hooks.dispatch_arg = deliveries;
	qm = qmgr_new(&cfg->queue, &hooks);
	sc.qm = qm;
	delivery_transport(delivery, &local);
	if (is_held(cfg, local.name))
		log_info(SVC, "transport %s held (queue.hold_transports): its "
		    "mail stays queued", local.name);
	else
		qmgr_register_transport(qm, &local);
	/* the lookup store first: MTA-STS policies are cached there too */
	if (cli_filters_open(cfg, store->kv, &cf, &err) < 0)
		log_fatal(SVC, "filters: %s", buf_cstr(&err));
	/* the outbound SMTP transport (cli_outbound.c, mta/smtp_client.h) */
	memset(&outbound, 0, sizeof(outbound));
	if (is_held(cfg, "smtp"))
		log_info(SVC, "transport smtp held (queue.hold_transports): "
		    "its mail stays queued");
	else if (cli_outbound_open(cfg, cf.lookup, &outbound, &err) < 0)
		log_fatal(SVC, "outbound SMTP: %s", buf_cstr(&err));
	else
		qmgr_register_transport(qm, &outbound.t);
	if (qmgr_load(qm, &err) < 0)
		log_fatal(SVC, "queue load: %s", buf_cstr(&err));
	if (qmgr_start(qm, &error) < 0)
		log_fatal(SVC, "queue manager: %s", error);

	filters = cf.filters;
	jc = (struct junk_ctx){ dir, cf.bayes };
	store_set_junk_hook(store, junk_train, &jc);
	if (cfg->filters.stages.n > 0)
		log_info(SVC, "filters: %zu stages", filters_stage_count(
		    filters));
	/* `postern spam` asks us when it cannot open the lookup store */
	if (cli_control_start(cfg, cf.bayes, &control, &err) < 0) {
		log_error(SVC, "control socket: %s; `postern spam` cannot "
		    "reach this server", buf_cstr(&err));
		buf_reset(&err);
	}

	/* failed AUTH is counted across every listener (auth_throttle.h),
	 * in at most 100,000 records (about 40 MB with the longest names) */
	tc = (struct auth_throttle_conf){ cfg->auth.failure_free,
	    cfg->auth.failure_delay_ms, cfg->auth.failure_delay_max_ms,
	    cfg->auth.failure_window, cfg->auth.max_failures_per_ip,
	    cfg->auth.block_time, 100000, cfg->auth.max_checks,
	    auth_check_threads(cfg),
	    (uint64_t)cfg->auth.max_check_wait * 1000000 };
	throttle = auth_throttle_new(&tc);
	submission = cfg->submission.listen.n == 0 ? NULL :
	    submission_start(&sc, jobs, tls, filters, throttle,
	    !is_held(cfg, local.name), false, sub_listeners,
	    cfg->submission.listen.n);
	submissions = cfg->submission.listen_tls.n == 0 ? NULL :
	    submission_start(&sc, jobs, tls, filters, throttle,
	    !is_held(cfg, local.name), true, subs_listeners,
	    cfg->submission.listen_tls.n);
	smtpd = smtpd_new(cfg, jobs, tls, spool, on_queued, qm);
	smtpd_set_rcpt_check(smtpd, rcpt_check, &sc);
	if (cfg->smtp.auth)
		smtpd_set_auth(smtpd, dir, throttle, sc.auth_jobs);
	/* no stage: no pipeline, and messages pass untouched */
	if (filters_stage_count(filters) > 0)
		smtpd_set_filters(smtpd, filters, "smtp");
	if (!is_held(cfg, local.name))
		smtpd_set_direct(smtpd, direct_deliver, &sc);
	for (size_t i = 0; i < cfg->smtp.listen.n; i++) {
		listener_start(listeners[i], smtpd_accept, smtpd);
		log_info(SVC, "smtp listening on %s",
		    listener_name(listeners[i]));
	}
	lmtpd = smtpd_new(cfg, jobs, tls, spool, NULL, NULL);
	smtpd_set_rcpt_check(lmtpd, rcpt_check, &sc);
	smtpd_set_lmtp(lmtpd, lmtp_deliver, &sc);
	if (cfg->filters.lmtp && filters_stage_count(filters) > 0)
		smtpd_set_filters(lmtpd, filters, "lmtp");
	for (size_t i = 0; i < cfg->lmtp.listen.n; i++) {
		listener_start(lmtp_listeners[i], smtpd_accept, lmtpd);
		log_info(SVC, "lmtp listening on %s",
		    listener_name(lmtp_listeners[i]));
	}
	/* IMAP: store work on the job pool, logins on the checks' pool */
	imap_server_set_jobs(imap, jobs, sc.auth_jobs, throttle);
	for (size_t i = 0; i < cfg->imap.listen.n; i++) {
		listener_start(imap_listeners[i], imap_accept, imap);
		log_info(SVC, "imap listening on %s",
		    listener_name(imap_listeners[i]));
	}
	for (size_t i = 0; i < cfg->imap.listen_tls.n; i++) {
		listener_start(imaps_listeners[i], imap_accept_tls, imap);
		log_info(SVC, "imap (implicit TLS) listening on %s",
		    listener_name(imaps_listeners[i]));
	}
	/* JMAP: the same pools and login accounting as IMAP; EmailSubmission
	 * queues through the spool and qmgr the SMTP servers use */
	jmap_server_set_queue(jmap, spool, qm);
	jmap_server_start(jmap, store, dir, jobs, sc.auth_jobs, throttle);
	if (loops_start(loops, &error) < 0)
		log_fatal(SVC, "starting I/O threads: %s", error);
	write_pid_file(cfg->server.pid_file);
	log_info(SVC, "daemon started -- %u I/O threads, %u job threads, "
	    "configuration %s", nio, njobs,
	    cfg->path != NULL ? cfg->path : "(defaults)");

	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGUSR1) {
			log_info(SVC, "queue flush requested");
			qmgr_flush(qm);
		} else if (sig == SIGHUP) {
			log_info(SVC, "SIGHUP: configuration reload is not "
			    "supported yet; restart to apply changes");
		} else {
			break;
		}
	}
	log_info(SVC, "terminating on signal %d", sig);
	cli_control_stop(&control);	/* before the classifier goes */
	loops_stop(loops);
	qmgr_stop(qm);
	jobs_free(&jobs);	/* spool writes finish */
	jobs_free(&sc.auth_jobs);	/* before the sessions go */
	cli_outbound_stop(&outbound);	/* SMTP deliveries stop waiting */
	jobs_free(&deliveries);	/* deliveries finish */
	spool_close(&spool);	/* pending commits finish */
	qmgr_free(&qm);
	cli_outbound_close(&outbound);
	for (size_t i = 0; i < cfg->smtp.listen.n; i++)
		listener_free(&listeners[i]);
	free(listeners);
	for (size_t i = 0; i < cfg->lmtp.listen.n; i++)
		listener_free(&lmtp_listeners[i]);
	free(lmtp_listeners);
	listeners_free(&sub_listeners, cfg->submission.listen.n);
	listeners_free(&subs_listeners, cfg->submission.listen_tls.n);
	listeners_free(&imap_listeners, cfg->imap.listen.n);
	listeners_free(&imaps_listeners, cfg->imap.listen_tls.n);
	smtpd_free(&smtpd);
	smtpd_free(&lmtpd);
	smtpd_free(&submission);
	smtpd_free(&submissions);
	imap_server_free(&imap);	/* every pool is drained: no hook runs */
	jmap_server_free(&jmap);
	auth_throttle_free(&throttle);
	cli_filters_close(&cf);
	delivery_free(&delivery);
	directory_free(&dir);
	store_close(&store);
	loops_free(&loops);
	SSL_CTX_free(tls);
	(void)unlink(cfg->server.pid_file);
	buf_free(&err);
	log_info(SVC, "stopped");
	return 0;
}
