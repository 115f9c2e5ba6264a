/*
 * smtp_client.h - the outbound SMTP client: the queue's "smtp" transport
 * (queue/transport.h).  It routes each recipient domain (mta/
 * smtp_route.h: MX hosts by preference, A/AAAA, a relay, per-domain
 * overrides), talks ESMTP to the first host that takes the mail
 * (STARTTLS, PIPELINING, SIZE, 8BITMIME, SMTPUTF8, CHUNKING, DSN, AUTH
 * PLAIN to a relay), signs with DKIM (mta/dkim_sign.h), keeps the
 * connection for the next message to the same host, and reports one
 * result per recipient.
 *
 * The files: smtp_client.c (this interface, the transport's deliver(),
 * routing, the TLS policy lookup, per-domain overrides), smtp_cache.c
 * (connection and destination limits, the connection cache, opening a
 * connection host after host), smtp_session.c (a conversation's start:
 * greeting, EHLO, STARTTLS, AUTH; QUIT), smtp_txn.c (one transaction:
 * MAIL, RCPT, DATA or BDAT), smtp_fail.c (replies and failures as
 * results), smtp_io.c (socket and TLS I/O, every wait under a
 * deadline), smtp_msg.c (the message as sent: read from the queue,
 * normalised, DKIM-signed) and smtpc_data.c (the pure transformations).
 *
 * Threads: deliver() runs on the queue's delivery threads, any number
 * at once, and blocks (DNS, connects, the conversation); each call keeps
 * its state on its stack.  The shared parts (the connection cache, the
 * concurrency counters) are under one mutex, never held across I/O.  A
 * reaper thread closes connections idle past smtp_client.cache_idle_time.
 *
 * TLS: as the destination's policy says (mta/smtp_tlspolicy.h: DANE,
 * MTA-STS, the configured level); below.
 *
 * Results (one per recipient, logged by the qmgr): relay
 * "mx.example.com[192.0.2.1]:25"; a reply of the next hop as its text,
 * flagged TRANSPORT_F_REMOTE; otherwise our own diagnostic ("connect to
 * ...: Connection refused", "conversation with ... timed out while
 * sending the message body").  2xx: OK; 4xx, any failure to connect or
 * converse, a DNS failure: TEMPFAIL; 5xx, NXDOMAIN, a null MX, a message
 * the next hop cannot take (SIZE, 8BITMIME, SMTPUTF8): PERMFAIL.  The
 * design decisions, and why, are in smtp_client.c's header comment.
 */
#ifndef POSTERN_SMTP_CLIENT_H
#define POSTERN_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/dns.h"
#include "common/netaddr.h"
#include "mta/smtp_route.h"
#include "mta/smtp_tlspolicy.h"
#include "queue/transport.h"

struct smtp_client;
struct dkim_signer;

/* ---- the TLS policy ---- */

/*
 * Every delivery goes through mta/smtp_tlspolicy.h: the level of the
 * destination (smtp_client.tls, or a domain's tls=) becomes a policy
 * lookup (DANE, MTA-STS) over the route, and each host is used, with
 * STARTTLS and the certificate checked, as that policy says (the
 * sequence of smtp_tlspolicy.h's header comment).  Where the policy
 * requires TLS a host without it (not offered 4.7.4; refused, a failed
 * handshake, a certificate that does not pass 4.7.5) is skipped, never
 * used in cleartext; when no host is left the mail is deferred.
 */

/* smtp_tls_mode_name - the configuration's names: "none", "may",
 * "encrypt", "verify", "auto", "dane", "dane-only" */
const char *smtp_tls_mode_name(enum smtp_tls_mode m);
/* smtp_client_tls_level - the policy level of a configuration value */
enum smtp_tlspolicy_level smtp_client_tls_level(enum smtp_tls_mode m);

/* ---- per-domain overrides (smtp_client.domains) ---- */

/*
 * "DOMAIN=[NEXTHOP][,tls=LEVEL][,port=N]": DOMAIN alone or, written
 * ".example.com", every domain under example.com (not example.com
 * itself).  NEXTHOP in the syntax of smtp_route_nexthop_parse: the
 * domain's mail goes there instead of its MX or the relay; an empty one
 * ("example.com=,tls=verify") means its MX even when smtp_client.relay
 * is set; none at all ("example.com=tls=verify") keeps the relay.
 * port= is the port of the domain's MX hosts (a NEXTHOP names its own).
 */
struct smtp_client_override {
	char domain[DNS_NAME_MAX + 2];	/* lower case, leading '.' kept */
	bool has_nexthop;
	char nexthop[DNS_NAME_MAX + 24];	/* "" = MX delivery */
	int tls;		/* -1: not given; else an enum smtp_tls_mode
				 * (the level, smtp_client_tls_level) */
	unsigned port;		/* 0: not given */
};

/* smtp_client_override_parse - pure; -1 with one line in err */
int smtp_client_override_parse(const char *spec,
    struct smtp_client_override *o, struct buf *err) WARN_UNUSED;
/*
 * smtp_client_override_find - the override that applies to domain (lower
 * case): an exact one first, else the longest ".parent" one; NULL: none
 */
const struct smtp_client_override *smtp_client_override_find(
    const struct smtp_client_override *v, size_t n, const char *domain);

/* ---- the client ---- */

/*
 * smtp_client_new - a client for cfg's smtp_client group (cfg must
 * outlive it).  dns: the resolver for routes (shared, outlives it);
 * signer: DKIM keys, or NULL (nothing signed); tp: the TLS policy every
 * delivery goes through (shared, outlives it; smtp_tlspolicy_new with
 * the same resolver).  self: our listening addresses for loop detection
 * (smtp_route.h; the port is ignored there, so give only those that
 * receive on the port we deliver to), with server.hostname and
 * helo_name as our names.  Reads relay_password_file.  -1 with a line
 * in err (a bad relay or domains entry, an unreadable file, a TLS
 * context that cannot be made).
 */
int smtp_client_new(const struct config *cfg, struct dns *dns,
    const struct dkim_signer *signer, struct smtp_tlspolicy *tp,
    const struct netaddr *self, size_t nself, struct smtp_client **c_r,
    struct buf *err) WARN_UNUSED;
/* smtp_client_transport - *t: name "smtp", not idempotent, per_domain
 * unless smtp_client.relay is set */
void smtp_client_transport(struct smtp_client *c, struct transport *t);
/*
 * smtp_client_stop - shutting down: every wait of every delivery ends
 * now (its recipients deferred: "delivery interrupted"), and no new
 * connection is made.  Call it before joining the delivery threads.
 */
void smtp_client_stop(struct smtp_client *c);
/* smtp_client_free - no delivery may be running; closes the cached
 * connections; accepts NULL, sets *c to NULL */
void smtp_client_free(struct smtp_client **c);

#endif
