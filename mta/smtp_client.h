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
 * routing, the TLS policy, per-domain overrides), smtp_cache.c
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

#include <openssl/ssl.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/dns.h"
#include "common/netaddr.h"
#include "mta/smtp_route.h"
#include "queue/transport.h"

struct smtp_client;
struct dkim_signer;

/* ---- the TLS policy of a destination ---- */

#define SMTP_TLS_MATCH_MAX 16	/* names a certificate may match */

/*
 * struct smtp_tls_policy - how mail to one domain uses TLS.  The client
 * fills it from the configuration (smtp_client.tls, a domain's tls=)
 * and hands it to the policy hook, which may change anything (DANE,
 * MTA-STS).  Release with smtp_tls_policy_clear().
 *
 *   SMTP_TLS_NONE     no STARTTLS.
 *   SMTP_TLS_MAY      STARTTLS when offered, the certificate not
 *                     checked (its verification result is logged); a
 *                     failed handshake is retried once without TLS.
 *   SMTP_TLS_ENCRYPT  STARTTLS or that host is skipped (4.7.4 when
 *                     not offered, 4.7.5 when the handshake fails).
 *   SMTP_TLS_VERIFY   as encrypt, and the chain must verify (the CA
 *                     store of smtp_client.tls_ca_file) for one of
 *                     match[] (none: the MX host's name); else 4.7.5.
 *
 * A policy hook (DANE, MTA-STS) decides per host with the three
 * callbacks, all given prepare_arg:
 *   host_mode  the mode of one host of the route (replaces mode for
 *              it), or -1 with a line in why: the host may not be used
 *              now and is skipped (4.7.5).
 *   prepare    with the SSL before the handshake, SNI set (DANE:
 *              SSL_dane_enable, SSL_dane_tlsa_add; PKIX names).  0, or
 *              -1 with a line in err: that host failed (4.7.5).
 *   check      right after the handshake, instead of our own check of
 *              match[] under SMTP_TLS_VERIFY: 0 go on (a line appended
 *              to note is logged), -1 with err: the host failed (4.7.5).
 *              With a check hook the client sets no match names of its
 *              own: prepare does what the hook's check needs.
 * Any of them may be NULL.  A host whose mode is at least encrypt never
 * gets the mail in clear text, whatever fails.
 */
struct smtp_tls_policy {
	enum smtp_tls_mode mode;
	char *match[SMTP_TLS_MATCH_MAX];	/* owned; see the add helper */
	size_t nmatch;
	int (*host_mode)(void *arg, const struct smtp_route_host *h,
	    struct buf *why);
	int (*prepare)(void *arg, SSL *ssl, const struct smtp_route_host *h,
	    struct buf *err);
	int (*check)(void *arg, SSL *ssl, const struct smtp_route_host *h,
	    struct buf *note, struct buf *err);
	void *prepare_arg;	/* the callbacks' */
	/* releases prepare_arg (smtp_tls_policy_clear); NULL: nothing */
	void (*free_arg)(void *arg);
	const char *source;	/* static, for the log: "config", "dane" */
};

/* smtp_tls_policy_add_match - a copy of name in p->match; -1 when full */
int smtp_tls_policy_add_match(struct smtp_tls_policy *p, const char *name)
    WARN_UNUSED;
/* smtp_tls_policy_clear - free the names and prepare_arg; p zeroed */
void smtp_tls_policy_clear(struct smtp_tls_policy *p);
/* smtp_tls_mode_name - "none", "may", "encrypt", "verify" */
const char *smtp_tls_mode_name(enum smtp_tls_mode m);

/*
 * smtp_tls_policy_fn - the hook of smtp_client_set_tls_policy: the
 * policy for mail to domain (lower case) once its route is known (route:
 * the hosts in order, their names and DNSSEC flags).  *p holds the
 * configuration's policy; change it or leave it.  Runs on the delivery
 * thread and may block (DNS, HTTPS).  0, or -1 with a line in err: the
 * domain's recipients are deferred (4.7.5), nothing is sent.
 */
typedef int smtp_tls_policy_fn(void *arg, const char *domain,
    const struct smtp_route *route, struct smtp_tls_policy *p,
    struct buf *err);

/* ---- per-domain overrides (smtp_client.domains) ---- */

/*
 * "DOMAIN=[NEXTHOP][,tls=MODE][,port=N]": DOMAIN alone or, written
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
	int tls;		/* -1: not given; else an enum smtp_tls_mode */
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
 * signer: DKIM keys, or NULL (nothing signed).  self: our listening
 * addresses for loop detection (smtp_route.h; the port is ignored
 * there, so give only those that receive on the port we deliver to),
 * with server.hostname and helo_name as our names.  Reads
 * relay_password_file.  -1 with a line in err (a bad relay or domains
 * entry, an unreadable file, a TLS context that cannot be made).
 */
int smtp_client_new(const struct config *cfg, struct dns *dns,
    const struct dkim_signer *signer, const struct netaddr *self,
    size_t nself, struct smtp_client **c_r, struct buf *err) WARN_UNUSED;
/* smtp_client_set_tls_policy - before the first delivery */
void smtp_client_set_tls_policy(struct smtp_client *c,
    smtp_tls_policy_fn *fn, void *arg);
/* smtp_client_ssl_ctx - the client's TLS context (TLS 1.2+, no
 * verification during the handshake: the policy checks after it), for
 * a policy hook to set up before the first delivery */
SSL_CTX *smtp_client_ssl_ctx(struct smtp_client *c);
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
