/*
 * serve.c - `postern serve`: wire the parts together and run.
 *
 * Order matters: log, TLS keys and listening sockets first (they may need
 * root: privileged ports, key files), then drop to server.user, then open
 * the spool (recovering what a crash left), start the queue manager, the
 * I/O loops and the job pool.  Signals are handled synchronously by the
 * main thread with sigwait(): SIGTERM/SIGINT stop, SIGUSR1 flushes the
 * queue (`postern queue flush`), SIGHUP is logged and ignored (no reload
 * yet).
 *
 * Shutdown: stop accepting and stop the loops, finish the jobs in flight,
 * drain the group committer (a message whose commit completes is in the
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
#include "common/listen.h"
#include "common/log.h"
#include "common/loop.h"
#include "common/netaddr.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "mta/smtpd.h"
#include "queue/queue.h"

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

static void
on_queued(void *arg, const char *qid)
{
	qmgr_enqueue(arg, qid);
}

/* route - local domains to the local transport, the rest to smtp */
static const char *
route(void *arg, const char *rcpt)
{
	const struct config *cfg = arg;
	const char *at = strrchr(rcpt, '@');

	if (at == NULL)		/* <Postmaster> */
		return "local";
	for (size_t i = 0; i < cfg->smtp.local_domains.n; i++)
		if (ascii_eq_nocase(at + 1, strlen(at + 1),
		    cfg->smtp.local_domains.v[i]))
			return "local";
	return "smtp";
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

int
cli_serve(const struct config *cfg, int argc, char **argv)
{
	unsigned nio = cfg->server.io_threads, njobs = cfg->server.job_threads;
	struct listener **listeners;
	struct spool_recover_stats rst;
	struct qmgr_hooks hooks;
	struct buf err = BUF_INIT(0);
	struct loops *loops;
	struct jobs *jobs, *deliveries;
	struct spool *spool;
	struct qmgr *qm;
	struct smtpd *smtpd;
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
	if (cfg->smtp.starttls)
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
	cli_become_user(cfg, true);

	spool = spool_open(cfg->queue.dir, &error);
	if (spool == NULL)
		log_fatal(SVC, "queue %s: %s", cfg->queue.dir, error);
	if (spool_recover(spool, &rst, &err) < 0)
		log_fatal(SVC, "queue recovery: %s", buf_cstr(&err));
	log_info(SVC, "queue %s: %u messages, %u unfinished removed, "
	    "%u corrupt set aside, %u torn tails cut", cfg->queue.dir, rst.ok,
	    rst.tmp_removed, rst.corrupt, rst.truncated);
	jobs = jobs_new(njobs);
	/*
	 * Deliveries get a pool of their own, one thread per allowed
	 * delivery: a slow remote server must never hold up the spool
	 * writes that SMTP sessions wait on before their 250.
	 */
	deliveries = jobs_new(cfg->queue.max_deliveries);
	memset(&hooks, 0, sizeof(hooks));
	hooks.route = route;
	hooks.route_arg = (void *)cfg;
	hooks.dispatch = dispatch;
	hooks.dispatch_arg = deliveries;
	qm = qmgr_new(&cfg->queue, &hooks);
	if (qmgr_load(qm, &err) < 0)
		log_fatal(SVC, "queue load: %s", buf_cstr(&err));
	if (qmgr_start(qm, &error) < 0)
		log_fatal(SVC, "queue manager: %s", error);

	smtpd = smtpd_new(cfg, jobs, tls, spool, on_queued, qm);
	for (size_t i = 0; i < cfg->smtp.listen.n; i++) {
		listener_start(listeners[i], smtpd_accept, smtpd);
		log_info(SVC, "smtp listening on %s",
		    listener_name(listeners[i]));
	}
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
	loops_stop(loops);
	qmgr_stop(qm);
	jobs_free(&jobs);	/* spool writes finish */
	jobs_free(&deliveries);	/* deliveries finish */
	spool_close(&spool);	/* pending commits finish */
	qmgr_free(&qm);
	for (size_t i = 0; i < cfg->smtp.listen.n; i++)
		listener_free(&listeners[i]);
	free(listeners);
	smtpd_free(&smtpd);
	loops_free(&loops);
	SSL_CTX_free(tls);
	(void)unlink(cfg->server.pid_file);
	buf_free(&err);
	log_info(SVC, "stopped");
	return 0;
}
