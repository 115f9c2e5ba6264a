/*
 * cli_filters.c - the anti-spam pipeline as `postern serve` and `postern
 * milter` build it: the lookup store of cfg->lookup (the data store for
 * "kv", which the caller opened), the resolver of cfg->dns, the text
 * extractor (store/mime.h, the same decoding the mailbox store uses),
 * the pipeline of cfg->filters.stages over the built-in stages, the
 * Bayes classifier for training by moves into and out of Junk, and a
 * sweeper thread that deletes expired lookup keys of the kv backend once
 * a minute (Redis and the memory backend expire by themselves).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "common/dns.h"
#include "common/log.h"
#include "filters/bayes.h"
#include "filters/stages.h"
#include "lookup/lookup.h"
#include "store/mime.h"

#define SVC "filters"
#define SWEEP_SECONDS 60
#define SWEEP_BATCH 1000

int
cli_message_text(void *arg, const unsigned char *msg, size_t len,
    struct buf *out)
{
	struct mime_info *info = NULL;
	struct buf err = BUF_INIT(0);

	(void)arg;
	if (mime_parse_text(msg, len, NULL, &info, &err) < 0) {
		buf_free(&err);
		return -1;
	}
	if (info->hdr.subject != NULL)
		buf_addf(out, "%s\n", info->hdr.subject);
	buf_add(out, info->text, info->text_len);
	mime_info_free(&info);
	buf_free(&err);
	return 0;
}

static void *
sweeper(void *arg)
{
	struct cli_filters *cf = arg;
	struct buf err = BUF_INIT(0);

	pthread_mutex_lock(&cf->mu);
	while (!cf->stop) {
		struct timespec ts;
		size_t n = 0;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += SWEEP_SECONDS;
		(void)pthread_cond_timedwait(&cf->cv, &cf->mu, &ts);
		if (cf->stop)
			break;
		pthread_mutex_unlock(&cf->mu);
		do {
			buf_reset(&err);
			if (lookup_expire(cf->lookup, SWEEP_BATCH, &n,
			    &err) < 0) {
				log_warn(SVC, "lookup store: expiring keys: %s",
				    buf_cstr(&err));
				break;
			}
		} while (n == SWEEP_BATCH && !cf->stop);
		pthread_mutex_lock(&cf->mu);
	}
	pthread_mutex_unlock(&cf->mu);
	buf_free(&err);
	return NULL;
}

int
cli_filters_open(const struct config *cfg, struct kv *kv,
    struct cli_filters *cf, struct buf *err)
{
	static const char *const backends[] = { "kv", "memory", "redis" };
	struct lookup_options lo;
	struct dns_options dopt;

	memset(cf, 0, sizeof(*cf));
	pthread_mutex_init(&cf->mu, NULL);
	pthread_cond_init(&cf->cv, NULL);
	memset(&lo, 0, sizeof(lo));
	lo.backend = backends[cfg->lookup.backend];
	lo.kv = kv;
	lo.mem_max_bytes = (size_t)cfg->lookup.memory_max;
	lo.redis_host = cfg->lookup.redis_host;
	lo.redis_port = (uint16_t)cfg->lookup.redis_port;
	lo.redis_db = cfg->lookup.redis_db;
	lo.redis_password = cfg->lookup.redis_password[0] != '\0' ?
	    cfg->lookup.redis_password : NULL;
	lo.redis_timeout_ms = cfg->lookup.redis_timeout * 1000;
	if (lookup_open(&lo, &cf->lookup, err) < 0) {
		buf_addf(err, " (lookup store)");
		goto fail;
	}
	memset(&dopt, 0, sizeof(dopt));
	dopt.forwarders = (const char *const *)cfg->dns.servers.v;
	dopt.nforwarders = cfg->dns.servers.n;
	dopt.timeout_ms = cfg->dns.timeout * 1000;
	dopt.trust_anchor_file = cfg->dns.trust_anchor[0] != '\0' ?
	    cfg->dns.trust_anchor : NULL;
	dopt.forward_special_zones = cfg->dns.forward_special_zones;
	if (dns_new(&dopt, &cf->dns, err) < 0) {
		buf_addf(err, " (dns)");
		goto fail;
	}
	memset(&cf->env, 0, sizeof(cf->env));
	cf->env.cfg = cfg;
	cf->env.lookup = cf->lookup;
	cf->env.dns = cf->dns;
	cf->env.text = cli_message_text;
	if (filters_new(&cf->env, filters_builtin, filters_nbuiltin,
	    &cf->filters, err) < 0)
		goto fail;
	{
		struct bayes_options bo;

		memset(&bo, 0, sizeof(bo));
		bo.lookup = cf->lookup;
		bo.min_learned = cfg->bayes.min_learned;
		bo.per_user = cfg->bayes.per_user;
		bo.text = cli_message_text;
		cf->bayes = bayes_new(&bo);
	}
	if (cfg->lookup.backend == LOOKUP_KV) {
		if (pthread_create(&cf->sweep, NULL, sweeper, cf) != 0) {
			buf_addf(err, "filters: cannot start the sweeper "
			    "thread");
			goto fail;
		}
		cf->sweeping = true;
	}
	return 0;
fail:
	cli_filters_close(cf);
	return -1;
}

void
cli_filters_close(struct cli_filters *cf)
{
	if (cf->sweeping) {
		pthread_mutex_lock(&cf->mu);
		cf->stop = true;
		pthread_cond_signal(&cf->cv);
		pthread_mutex_unlock(&cf->mu);
		pthread_join(cf->sweep, NULL);
		cf->sweeping = false;
	}
	bayes_free(&cf->bayes);
	filters_free(&cf->filters);
	dns_free(&cf->dns);
	lookup_close(&cf->lookup);
	pthread_cond_destroy(&cf->cv);
	pthread_mutex_destroy(&cf->mu);
}
