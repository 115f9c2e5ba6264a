/*
 * cli_outbound.c - the outbound SMTP transport as `postern serve` builds
 * it (mta/smtp_client.h): a resolver of its own over cfg->dns (its
 * lifetime is the transport's, independent of the filters'), the DKIM
 * signer of cfg->dkim_sign (keys read as the user we run as: build it
 * after privileges are dropped), the TLS policy every delivery goes
 * through (mta/smtp_tlspolicy.h: the tls_policy group, DANE over this
 * resolver, MTA-STS policies cached in the lookup store, PKIX with the
 * CAs of smtp_client.tls_ca_file, so one setting says which CAs
 * outbound TLS trusts), and who we are for loop detection.
 *
 * "Us" for loops: the addresses of smtp.listen whose port is the one we
 * deliver to (smtp_client.port): a server of ours on another port of
 * the same address is another host as far as mail routing goes (tests,
 * a second instance, a content filter), which is why the port matters
 * here although smtp_route compares addresses only.  A wildcard listener
 * (0.0.0.0, ::) stands for every address of the machine's interfaces
 * (getifaddrs).
 */
#include <ifaddrs.h>
#include <netinet/in.h>
#include <string.h>

#include "cli/cli.h"
#include "common/dns.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/xalloc.h"
#include "mta/dkim_sign.h"
#include "mta/smtp_client.h"
#include "mta/smtp_tlspolicy.h"

#define SVC "master"

struct addrs {
	struct netaddr *v;
	size_t n, cap;
};

static void
addrs_add(struct addrs *a, const struct sockaddr *sa, socklen_t len)
{
	if (a->n == a->cap) {
		a->cap = a->cap == 0 ? 8 : a->cap * 2;
		a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	memset(&a->v[a->n], 0, sizeof(a->v[a->n]));
	memcpy(&a->v[a->n].ss, sa, len);
	a->v[a->n++].len = len;
}

static bool
is_wildcard(const struct netaddr *na)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (na->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&na->ss)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	return na->ss.ss_family == AF_INET6 && memcmp(
	    &((const struct sockaddr_in6 *)&na->ss)->sin6_addr, &any6,
	    sizeof(any6)) == 0;
}

static void
interfaces(struct addrs *a)
{
	struct ifaddrs *ifs, *i;

	if (getifaddrs(&ifs) < 0) {
		log_warn(SVC, "getifaddrs: cannot list our addresses for mail "
		    "loop detection");
		return;
	}
	for (i = ifs; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL)
			continue;
		if (i->ifa_addr->sa_family == AF_INET)
			addrs_add(a, i->ifa_addr, sizeof(struct sockaddr_in));
		else if (i->ifa_addr->sa_family == AF_INET6)
			addrs_add(a, i->ifa_addr, sizeof(struct sockaddr_in6));
	}
	freeifaddrs(ifs);
}

/* self - our addresses that receive mail on the port we deliver to */
static void
self(const struct config *cfg, struct addrs *a)
{
	bool wild = false;

	for (size_t i = 0; i < cfg->smtp.listen.n; i++) {
		struct netaddr na;
		const char *error;

		if (netaddr_parse_listen(cfg->smtp.listen.v[i], &na,
		    &error) < 0 || (na.ss.ss_family != AF_INET &&
		    na.ss.ss_family != AF_INET6) || netaddr_port(
		    (const struct sockaddr *)&na.ss) != cfg->smtp_client.port)
			continue;
		if (is_wildcard(&na))
			wild = true;
		else
			addrs_add(a, (const struct sockaddr *)&na.ss, na.len);
	}
	if (wild)
		interfaces(a);
}

int
cli_outbound_open(const struct config *cfg, struct lookup *sts_cache,
    struct cli_outbound *ob, struct buf *err)
{
	struct dns_options dopt;
	struct smtp_tlspolicy_options topt;
	struct addrs a = { NULL, 0, 0 };
	int rc = -1;

	memset(ob, 0, sizeof(*ob));
	memset(&dopt, 0, sizeof(dopt));
	dopt.forwarders = (const char *const *)cfg->dns.servers.v;
	dopt.nforwarders = cfg->dns.servers.n;
	dopt.timeout_ms = cfg->dns.timeout * 1000;
	dopt.trust_anchor_file = cfg->dns.trust_anchor[0] != '\0' ?
	    cfg->dns.trust_anchor : NULL;
	dopt.forward_special_zones = cfg->dns.forward_special_zones;
	if (dns_new(&dopt, &ob->dns, err) < 0) {
		buf_add_str(err, " (dns)");
		goto out;
	}
	if (dkim_sign_new(cfg, &ob->signer, err) < 0) {
		buf_add_str(err, " (dkim_sign)");
		goto out;
	}
	smtp_tlspolicy_config_options(cfg, &topt);
	topt.dns = ob->dns;
	topt.cache = sts_cache;
	topt.ca_file = cfg->smtp_client.tls_ca_file;
	if (smtp_tlspolicy_new(&topt, &ob->tlspolicy, err) < 0) {
		buf_add_str(err, " (tls_policy)");
		goto out;
	}
	if (cfg->dns.trust_anchor[0] == '\0' && cfg->tls_policy.dane)
		log_warn(SVC, "outbound mail: no dns.trust_anchor, so no "
		    "DNSSEC and no DANE");
	self(cfg, &a);
	if (smtp_client_new(cfg, ob->dns, ob->signer, ob->tlspolicy, a.v, a.n,
	    &ob->client, err) < 0)
		goto out;
	smtp_client_transport(ob->client, &ob->t);
	if (dkim_sign_nkeys(ob->signer) > 0)
		log_info(SVC, "outbound mail: %zu DKIM key%s", dkim_sign_nkeys(
		    ob->signer), dkim_sign_nkeys(ob->signer) == 1 ? "" : "s");
	rc = 0;
out:
	free(a.v);
	if (rc < 0)
		cli_outbound_close(ob);
	return rc;
}

void
cli_outbound_stop(struct cli_outbound *ob)
{
	if (ob->client != NULL)
		smtp_client_stop(ob->client);
}

void
cli_outbound_close(struct cli_outbound *ob)
{
	smtp_client_free(&ob->client);
	smtp_tlspolicy_free(&ob->tlspolicy);
	dkim_sign_free(&ob->signer);
	dns_free(&ob->dns);
}
