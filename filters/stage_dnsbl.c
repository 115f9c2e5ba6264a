/*
 * stage_dnsbl.c - the "dnsbl" stage: is the client's address on a DNS
 * list?  (RFC 5782: DNS blacklists and whitelists.)
 *
 * Configuration: dnsbl.zones, a list of "zone=score".  For each zone, in
 * order, the A records of the list's name for the client are asked
 * (common/dns: "4.3.2.1.<zone>" for 1.2.3.4, 32 reversed nibbles for an
 * IPv6 address, RFC 5782 section 2.1 and 2.4):
 *
 *   an answer in 127.0.0.0/8   listed: symbol DNSBL_<ZONE> (the zone in
 *                              capitals, '.' and '-' as '_') with the
 *                              zone's score; a negative score makes the
 *                              zone a whitelist (DNSWL)
 *   an answer in 127.255.255.0/24
 *                              the list's way of saying "error" (Spamhaus:
 *                              .252 typo in the zone, .254 query through a
 *                              public resolver, .255 too many queries):
 *                              not listed, logged as a warning
 *   any other address          not a DNSxL answer (a resolver that
 *                              rewrites NXDOMAIN): not listed, logged
 *   NXDOMAIN, NODATA           not listed
 *   SERVFAIL, timeout          symbol DNSBL_<ZONE>_TEMPFAIL at score 0:
 *                              nothing is scored on a guess
 *
 * Symbols are at most FILTER_SYMBOL_NAME_MAX - 1 characters: a long zone
 * is cut so that the _TEMPFAIL suffix survives.  The lists are asked one
 * after another at the data step (once per message; the resolver caches
 * the answers); when the stage's time runs out, the zones not yet asked
 * get the TEMPFAIL symbol.  No Authentication-Results clause: RFC 8601
 * registers no method for DNS lists.
 *
 * Inbound only: trusted and authenticated clients are not looked up.
 */
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "common/dns.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "filters/filters.h"

#define DNSBL_SVC "dnsbl"
#define DNSBL_TEMPFAIL_SUFFIX "_TEMPFAIL"

struct dnsbl_zone {
	char *zone;
	double score;
	char sym[FILTER_SYMBOL_NAME_MAX];	/* DNSBL_ZEN_EXAMPLE_ORG */
	char sym_fail[FILTER_SYMBOL_NAME_MAX];	/* ..._TEMPFAIL */
};

struct dnsbl_state {
	struct dns *dns;
	struct dnsbl_zone *z;
	size_t nz;
};

/* dnsbl_sym - "DNSBL_" zone (capitals, '_' for '.' and '-') suffix, the
 * zone part cut so that the whole fits */
static void
dnsbl_sym(char out[FILTER_SYMBOL_NAME_MAX], const char *zone,
    const char *suffix)
{
	static const char prefix[] = "DNSBL_";
	size_t room = FILTER_SYMBOL_NAME_MAX - 1 - (sizeof(prefix) - 1) -
	    strlen(suffix), n = 0;

	memcpy(out, prefix, sizeof(prefix) - 1);
	for (; zone[n] != '\0' && n < room; n++) {
		int c = (unsigned char)zone[n];

		out[sizeof(prefix) - 1 + n] = (char)(c == '.' || c == '-' ?
		    '_' : c >= 'a' && c <= 'z' ? c - 'a' + 'A' : c);
	}
	memcpy(out + sizeof(prefix) - 1 + n, suffix, strlen(suffix) + 1);
}

static void
dnsbl_free(void *state)
{
	struct dnsbl_state *st = state;

	if (st == NULL)
		return;
	for (size_t i = 0; i < st->nz; i++)
		free(st->z[i].zone);
	free(st->z);
	free(st);
}

static int
dnsbl_init(const struct filter_env *env, void **state_r, struct buf *err)
{
	const struct strlist *zl = &env->cfg->dnsbl.zones;
	struct dnsbl_state *st;
	struct sockaddr_in probe;

	st = xcalloc(1, sizeof(*st));
	st->dns = env->dns;
	st->z = xcalloc(zl->n + 1, sizeof(*st->z));
	memset(&probe, 0, sizeof(probe));
	probe.sin_family = AF_INET;
	probe.sin_addr.s_addr = htonl(0xc0000201);	/* 192.0.2.1 */
	for (size_t i = 0; i < zl->n; i++) {
		const char *s = zl->v[i], *eq = strrchr(s, '=');
		struct dnsbl_zone *z = &st->z[st->nz];
		struct buf name = BUF_INIT(0);
		char *end;

		if (eq == NULL || eq == s) {
			buf_addf(err, "dnsbl.zones: \"%s\": expected "
			    "zone=score", s);
			goto fail;
		}
		z->score = strtod(eq + 1, &end);
		if (end == eq + 1 || *end != '\0') {
			buf_addf(err, "dnsbl.zones: \"%s\": the score is not "
			    "a number", s);
			goto fail;
		}
		z->zone = xmalloc((size_t)(eq - s) + 1);
		memcpy(z->zone, s, (size_t)(eq - s));
		z->zone[eq - s] = '\0';
		st->nz++;
		/* a zone too long for even an IPv4 query is a config error */
		if (dns_dnsbl_name((const struct sockaddr *)&probe, z->zone,
		    &name, err) < 0) {
			buf_free(&name);
			buf_addf(err, " (dnsbl.zones \"%s\")", s);
			goto fail;
		}
		buf_free(&name);
		dnsbl_sym(z->sym, z->zone, "");
		dnsbl_sym(z->sym_fail, z->zone, DNSBL_TEMPFAIL_SUFFIX);
	}
	*state_r = st;
	return 0;
fail:
	dnsbl_free(st);
	return -1;
}

/*
 * dnsbl_ask - one zone: 1 listed (the answers in codes), 0 not listed,
 * -1 a temporary failure (why says what)
 */
static int
dnsbl_ask(const struct dnsbl_state *st, struct filter_msg *m,
    const struct dnsbl_zone *z, struct buf *codes, struct buf *why)
{
	const struct sockaddr *sa = (const struct sockaddr *)&m->conn->addr.ss;
	struct buf name = BUF_INIT(0);
	struct dns_result r;
	int listed = 0;

	if (dns_dnsbl_name(sa, z->zone, &name, why) < 0) {
		/* an IPv6 name over 253 characters, a UNIX-socket client:
		 * this list cannot be asked about it */
		log_warn(DNSBL_SVC, "%s: %s: %s",
		    m->qid[0] != '\0' ? m->qid : "NOQUEUE", m->conn->ip,
		    buf_cstr(why));
		buf_free(&name);
		return 0;
	}
	if (dns_addrs(st->dns, buf_cstr(&name), AF_INET, &r, why) < 0) {
		listed = dns_status_is_temporary(r.status) ? -1 : 0;
		if (listed == 0)
			log_warn(DNSBL_SVC, "%s: %s: %s", m->qid[0] != '\0' ?
			    m->qid : "NOQUEUE", m->conn->ip, buf_cstr(why));
		goto out;
	}
	for (size_t i = 0; i < r.naddr; i++) {
		const struct sockaddr_in *sin =
		    (const struct sockaddr_in *)&r.addr[i].ss;
		uint32_t a = ntohl(sin->sin_addr.s_addr);
		char ip[NETADDR_STRLEN];

		if (r.addr[i].ss.ss_family != AF_INET)
			continue;
		netaddr_ip((const struct sockaddr *)sin, ip);
		if ((a & 0xffffff00) == 0x7fffff00) {
			log_warn(DNSBL_SVC, "%s: %s answered %s for %s: an "
			    "error code of the list, not a listing",
			    m->qid[0] != '\0' ? m->qid : "NOQUEUE", z->zone,
			    ip, m->conn->ip);
		} else if ((a & 0xff000000) == 0x7f000000) {
			buf_addf(codes, "%s%s", codes->len > 0 ? "," : "", ip);
			listed = 1;
		} else {
			log_warn(DNSBL_SVC, "%s: %s answered %s for %s: not a "
			    "DNS list answer (ignored)", m->qid[0] != '\0' ?
			    m->qid : "NOQUEUE", z->zone, ip, m->conn->ip);
		}
	}
out:
	dns_result_free(&r);
	buf_free(&name);
	return listed;
}

static enum filter_action
dnsbl_data(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct dnsbl_state *st = state;

	(void)r;
	for (size_t i = 0; i < st->nz; i++) {
		const struct dnsbl_zone *z = &st->z[i];
		struct buf codes = BUF_INIT(0), why = BUF_INIT(0);
		int listed;

		if (filter_deadline_ms(m) <= 1) {
			buf_add_str(&why, "out of time");
			listed = -1;
		} else {
			listed = dnsbl_ask(st, m, z, &codes, &why);
		}
		if (listed > 0) {
			filter_symbol(m, z->sym, z->score);
			log_info(DNSBL_SVC, "%s: client=%s listed in %s (%s), "
			    "score=%.1f", m->qid[0] != '\0' ? m->qid :
			    "NOQUEUE", m->conn->ip, z->zone, buf_cstr(&codes),
			    z->score);
		} else if (listed < 0) {
			filter_symbol(m, z->sym_fail, 0.0);
			log_warn(DNSBL_SVC, "%s: client=%s not checked against "
			    "%s: %s", m->qid[0] != '\0' ? m->qid : "NOQUEUE",
			    m->conn->ip, z->zone, buf_cstr(&why));
		}
		buf_free(&codes);
		buf_free(&why);
	}
	return FILTER_CONTINUE;
}

const struct filter_stage_ops filter_stage_dnsbl = {
	.name = "dnsbl",
	.needs_dns = true,
	.inbound_only = true,
	.init = dnsbl_init,
	.free = dnsbl_free,
	.data = dnsbl_data,
};
