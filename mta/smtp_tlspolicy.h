/*
 * smtp_tlspolicy.h - the TLS policy of outbound SMTP: for a recipient
 * domain and its route (mta/smtp_route.h), which MX hosts may be used
 * and what TLS each needs: DANE (RFC 7672: TLSA records in DNSSEC-secure
 * answers), else MTA-STS (RFC 8461, mta/mta_sts.h), else opportunistic
 * TLS; or what the postmaster configured for the domain.  Then applying
 * that to an OpenSSL connection and judging the handshake.
 *
 * How the transport uses it, per delivery to one domain (the SMTP
 * client does exactly this: smtp_client.c, smtp_cache.c, smtp_session.c):
 *
 *   smtp_tlspolicy_lookup(tp, domain, &route, level, flags, &pol, err)
 *     (job) -1: no MX host may be used now: defer (4.7.5, err says why).
 *   for each host of the route, in order:
 *     smtp_tlspolicy_mx_allowed(&pol, host, why)   false: skip it, log
 *     connect, EHLO;
 *     STARTTLS not offered, refused, or the handshake fails:
 *       smtp_tlspolicy_tls_required(&pol, host)? -> QUIT, this host
 *       failed temporarily (4.7.x), try the next; NEVER go on in
 *       cleartext.  Otherwise cleartext is fine.
 *     smtp_tlspolicy_tls_wanted(&pol, host) false: do not STARTTLS.
 *     SSL_new(ctx), smtp_tlspolicy_ssl_setup(&pol, host, ssl, err)
 *       (-1: as a failed handshake), SSL_connect,
 *     smtp_tlspolicy_ssl_check(&pol, host, ssl, note, err) right after
 *       the handshake, before EHLO: -1: QUIT, host failed temporarily;
 *       0: go on (note, if not empty, is worth a log line).
 *     A connection kept for reuse carries mail of a later delivery only
 *       if smtp_tlspolicy_auth_key of that delivery's policy for the host
 *       is the key it was authenticated under.
 *   smtp_tlspolicy_result_free(&pol).
 * The SSL_CTX must have been through smtp_tlspolicy_ctx_init() once.
 *
 * Decisions (RFC 7672 2.2, 3; RFC 8461 4, 5), by level (the per-domain
 * setting, "tls=" of the transport's configuration):
 *   auto (default): DANE for an MX host when the MX answer (or, without
 *     MX, the domain's own address answer) and the host's addresses were
 *     DNSSEC-secure and a secure answer has TLSA records at
 *     _<port>._tcp.<base> (the TLSA base domain, below): with usable
 *     records (DANE-TA(2), DANE-EE(3); PKIX-TA/PKIX-EE are unusable for
 *     SMTP) the certificate must match one; with none usable, TLS is
 *     required but not authenticated.  A TLSA lookup that fails
 *     (SERVFAIL, bogus, timeout) on such a host makes that host unusable
 *     now (2.2: it may be an attack).  A host without TLSA (securely
 *     denied, or insecure) gets opportunistic TLS.
 *     If no host has DANE, MTA-STS: with a policy in enforce mode a host
 *     must match an mx pattern (else it is skipped) and present a
 *     certificate that verifies (PKIX: the system CAs or ca_file, the MX
 *     host name); testing mode delivers as without a policy but the
 *     failures are noted; mode none is no policy.  Neither: "may".
 *     MTA-STS is not applied through a relay (it is the recipient
 *     domain's policy for its own MX hosts).  A relay named by its
 *     address lookup alone ("[host]": flag SMTP_TLSPOLICY_F_NO_MX) gets
 *     DANE when that lookup was secure, as a destination without MX
 *     does (2.2.3: the host is its own TLSA base domain); a relay named
 *     by its MX ("host") gets it as any domain (a secure MX answer).
 *   dane: the same without MTA-STS.  dane-only: DANE or nothing (a host
 *     without usable TLSA is skipped).
 *   none: no STARTTLS.  may: opportunistic, no lookups.  encrypt: TLS
 *     required, any certificate.  verify: TLS required, PKIX with the MX
 *     host name.
 * The TLSA base domain (RFC 7672 2.2.2): when the host's address answer
 * came through CNAMEs, secure all the way, TLSA records are looked up
 * first at the fully expanded name and, if that name securely has none
 * (or an insecure answer), at the host name.  The first secure TLSA
 * RRset decides; a lookup that fails on the way (the expansion's own, a
 * TLSA lookup) makes the host unusable now, never a step down to the
 * next name.
 * XXX libunbound has one "secure" for a whole answer: a CNAME chain that
 * leaves the signed zones makes the host insecure, no DANE, where 2.2.2
 * would still look at the unexpanded name when its first link is signed.
 * Asking for the CNAME of each link on its own (dns_query DNS_T_CNAME,
 * its own secure flag) would fix it.
 * DANE names (RFC 7672 3.2.2): DANE-EE matches the key alone, no name
 * check; DANE-TA checks the TLSA base domain, and the host name too when
 * the base is its expansion, with no partial wildcards.  SNI (8.1): the
 * TLSA base domain under DANE, else the host name.
 *
 * Threads: one struct smtp_tlspolicy, made at start-up (it calls
 * curl_global_init: before other threads use libcurl), shared by every
 * job; lookups block on DNS and HTTPS (jobs only) and run at once on any
 * number of threads.  A result belongs to one delivery.
 */
#ifndef POSTERN_SMTP_TLSPOLICY_H
#define POSTERN_SMTP_TLSPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/dns.h"
#include "mta/mta_sts.h"
#include "mta/smtp_route.h"

struct config;
struct lookup;

#define SMTP_TLSPOLICY_DSN "4.7.5"	/* RFC 3463: cryptographic failure */
#define SMTP_TLSPOLICY_TLSA_MAX 32	/* TLSA records kept per host */

/* the per-domain setting */
enum smtp_tlspolicy_level {
	SMTP_TLSPOLICY_AUTO = 0,	/* "auto": DANE, MTA-STS, else may */
	SMTP_TLSPOLICY_LVL_NONE,	/* "none" */
	SMTP_TLSPOLICY_LVL_MAY,		/* "may" */
	SMTP_TLSPOLICY_LVL_ENCRYPT,	/* "encrypt" */
	SMTP_TLSPOLICY_LVL_DANE,	/* "dane" */
	SMTP_TLSPOLICY_LVL_DANE_ONLY,	/* "dane-only" */
	SMTP_TLSPOLICY_LVL_VERIFY,	/* "verify" */
};

/* smtp_tlspolicy_level_parse - the names above; -1 if unknown */
int smtp_tlspolicy_level_parse(const char *s,
    enum smtp_tlspolicy_level *l_r) WARN_UNUSED;
const char *smtp_tlspolicy_level_name(enum smtp_tlspolicy_level l);

/* what one MX host gets */
enum smtp_tlspolicy_mode {
	SMTP_TLSPOLICY_MODE_NONE,	/* no STARTTLS */
	SMTP_TLSPOLICY_MODE_MAY,	/* TLS if offered, any certificate,
					 * cleartext if not */
	SMTP_TLSPOLICY_MODE_TESTING,	/* MTA-STS testing: as may, and
					 * verification failures noted */
	SMTP_TLSPOLICY_MODE_ENCRYPT,	/* TLS required, not authenticated */
	SMTP_TLSPOLICY_MODE_DANE,	/* TLS required, a TLSA must match */
	SMTP_TLSPOLICY_MODE_VERIFY,	/* TLS required, PKIX + host name */
};
/* "none", "may", "testing", "encrypt", "dane", "verify" */
const char *smtp_tlspolicy_mode_name(enum smtp_tlspolicy_mode m);

/* where the policy of a result came from */
enum smtp_tlspolicy_source {
	SMTP_TLSPOLICY_SRC_NONE,	/* nothing published: may */
	SMTP_TLSPOLICY_SRC_CONFIG,	/* the level asked for, as it is */
	SMTP_TLSPOLICY_SRC_DANE,
	SMTP_TLSPOLICY_SRC_MTA_STS,
};
/* "none", "config", "dane", "mta-sts" */
const char *smtp_tlspolicy_source_name(enum smtp_tlspolicy_source s);

struct smtp_tlspolicy_tlsa {
	uint8_t usage, selector, mtype;
	unsigned char *data;
	size_t len;
};

struct smtp_tlspolicy_host {
	char *name;		/* as in the route */
	enum smtp_tlspolicy_mode mode;
	bool skip;		/* may not be used now; why says why */
	char *why;		/* NULL, or one line for the log */
	/* DANE: the usable records (at least one) */
	struct smtp_tlspolicy_tlsa *tlsa;
	size_t ntlsa;
	/* where the secure TLSA RRset was found (mode DANE, or ENCRYPT
	 * for one with no usable record): the TLSA base domain, name or
	 * its CNAME expansion; NULL without DANE */
	char *base;
};

struct smtp_tlspolicy_result {
	enum smtp_tlspolicy_level level;	/* as asked */
	enum smtp_tlspolicy_source source;
	/* MTA-STS (source MTA_STS, or a policy of mode none found) */
	bool sts_found;
	enum mta_sts_mode sts_mode;
	char sts_id[MTA_STS_ID_MAX + 1];
	bool sts_from_cache;
	struct mta_sts_policy sts;	/* its mx patterns */
	/* one per route host, in route order */
	struct smtp_tlspolicy_host *host;
	size_t nhost;
	/* what happened that is worth logging (a failed fetch, a TLSA
	 * lookup that failed): lines ending in '\n', maybe empty */
	struct buf note;
	X509_STORE *store;	/* PKIX trust for VERIFY/TESTING (a
				 * reference of the policy's) */
};

/* the clock for MTA-STS expiry: unix seconds */
typedef int64_t smtp_tlspolicy_clock_fn(void *arg);

/* A zeroed struct (with dns set) gives the defaults. */
struct smtp_tlspolicy_options {
	struct dns *dns;	/* required; a trust anchor for DANE */
	/* MTA-STS policies are cached here (MTA_STS_CACHE_PREFIX keys);
	 * NULL: an in-memory store of this object.  Owned by the caller,
	 * it must outlive the policy. */
	struct lookup *cache;
	bool no_dane;		/* auto: no DANE (dane levels still do) */
	bool no_mta_sts;	/* auto: no MTA-STS */
	unsigned sts_port;	/* 0: 443; the test's HTTPS server */
	unsigned sts_timeout_ms;	/* 0: MTA_STS_TIMEOUT_DEFAULT_MS */
	/* PEM CA certificates for the MTA-STS fetch and for verifying MX
	 * certificates (verify, MTA-STS); NULL or "": the system store */
	const char *ca_file;
	smtp_tlspolicy_clock_fn *now;	/* NULL: time() */
	void *now_arg;
};

struct smtp_tlspolicy;

/*
 * smtp_tlspolicy_config_options - the options from the tls_policy group
 * of cfg; dns, cache and ca_file are left NULL, the caller's to set
 * (ca_file: the CA file of the transport's own verification, so that one
 * setting says which CAs outbound TLS trusts)
 */
void smtp_tlspolicy_config_options(const struct config *cfg,
    struct smtp_tlspolicy_options *o);

/*
 * smtp_tlspolicy_new - a policy object: loads the CA store (an
 * unreadable ca_file is an error), initialises libcurl.  -1 with err.
 */
int smtp_tlspolicy_new(const struct smtp_tlspolicy_options *opt,
    struct smtp_tlspolicy **tp_r, struct buf *err) WARN_UNUSED;
/* smtp_tlspolicy_free - no lookup may be running; accepts NULL, sets
 * *tp NULL; results made from it may outlive it */
void smtp_tlspolicy_free(struct smtp_tlspolicy **tp);

/* flags of smtp_tlspolicy_lookup: the route is a next hop named by its
 * address lookup alone ("[host]"): DANE as for a domain without MX */
#define SMTP_TLSPOLICY_F_NO_MX	0x1u

/*
 * smtp_tlspolicy_lookup - the policy for mail to domain over route (its
 * hosts, MX and address security; status OK), at level, with flags
 * (above, or 0).  Blocks on DNS (TLSA, TXT, addresses) and maybe one
 * HTTPS fetch.  Fills *r always (release with smtp_tlspolicy_result_free
 * whatever the return).  0: at least one host may be used.  -1: none
 * may (every host skipped: TLSA lookups failed, not in the MTA-STS
 * policy, dane-only without DANE): defer the mail with
 * SMTP_TLSPOLICY_DSN; one line in err.
 */
int smtp_tlspolicy_lookup(struct smtp_tlspolicy *tp, const char *domain,
    const struct smtp_route *route, enum smtp_tlspolicy_level level,
    unsigned flags, struct smtp_tlspolicy_result *r, struct buf *err)
    WARN_UNUSED;
/* smtp_tlspolicy_result_free - r zeroed; harmless twice */
void smtp_tlspolicy_result_free(struct smtp_tlspolicy_result *r);

/*
 * smtp_tlspolicy_host - the entry of host (case-insensitive, trailing dot
 * ignored), or NULL when the route did not have it
 */
const struct smtp_tlspolicy_host *smtp_tlspolicy_host(
    const struct smtp_tlspolicy_result *r, const char *host);
/*
 * smtp_tlspolicy_mx_allowed - host may be used for this delivery; if
 * not, the reason is appended to why (may be NULL).  A host the lookup
 * did not see is allowed only where the policy does not restrict hosts
 * (not with MTA-STS enforce, DANE or dane-only).
 */
bool smtp_tlspolicy_mx_allowed(const struct smtp_tlspolicy_result *r,
    const char *host, struct buf *why);
/* smtp_tlspolicy_tls_wanted - try STARTTLS with host at all */
bool smtp_tlspolicy_tls_wanted(const struct smtp_tlspolicy_result *r,
    const char *host);
/* smtp_tlspolicy_tls_required - no cleartext with host: without a
 * successful, accepted handshake the host has failed (temporarily) */
bool smtp_tlspolicy_tls_required(const struct smtp_tlspolicy_result *r,
    const char *host);
/* smtp_tlspolicy_mode - the mode of host; for a host the lookup did not
 * see, what the policy gives any host: the configured level's mode,
 * MTA-STS verify or testing, DANE (which mx_allowed refuses), else may */
enum smtp_tlspolicy_mode smtp_tlspolicy_mode(
    const struct smtp_tlspolicy_result *r, const char *host);
/* smtp_tlspolicy_is_authenticated - host's mode needs a certificate that
 * passes (dane, verify): a session with it proves whom it talks to */
bool smtp_tlspolicy_is_authenticated(const struct smtp_tlspolicy_result *r,
    const char *host);
/*
 * smtp_tlspolicy_auth_key - what a session with host is authenticated
 * against under r, appended to out: "verify NAME" (PKIX, the name
 * checked), "dane BASE NAME HEX" (HEX: SHA-256 over the usable records);
 * nothing when the mode authenticates nothing.  A connection
 * authenticated under one key may carry the mail of a policy with the
 * same key, and no other.
 */
void smtp_tlspolicy_auth_key(const struct smtp_tlspolicy_result *r,
    const char *host, struct buf *out);

/* ---- OpenSSL (smtp_tlspolicy_ssl.c) ---- */

/*
 * smtp_tlspolicy_ctx_init - make a client SSL_CTX ready for DANE
 * (SSL_CTX_dane_enable); once, before SSL_new, idempotent.  -1 with err.
 */
int smtp_tlspolicy_ctx_init(SSL_CTX *ctx, struct buf *err) WARN_UNUSED;
/*
 * smtp_tlspolicy_ssl_setup - before the handshake with host: SNI, and
 * for DANE the TLSA records (SSL_dane_enable for the TLSA base domain,
 * SSL_dane_tlsa_add), for
 * verify/MTA-STS the CA store and the host name (SSL_set1_host); the
 * enforced modes (dane, verify) set SSL_VERIFY_PEER, so a certificate
 * that does not pass ends the handshake; the others SSL_VERIFY_NONE.
 * -1 with err if the policy cannot be applied (treat as a failed
 * handshake: tls_required decides).
 */
int smtp_tlspolicy_ssl_setup(const struct smtp_tlspolicy_result *r,
    const char *host, SSL *ssl, struct buf *err) WARN_UNUSED;
/*
 * smtp_tlspolicy_ssl_check - after the handshake (also after a failed
 * one, to explain it): 0 to go on, with what was verified or (testing)
 * what failed appended to note (may be NULL): "dane: DANE-EE(3) 1 1
 * matched at depth 0", "mta-sts testing: the certificate of ... is not
 * verified (...), delivering anyway".  -1 (one line in err) when the
 * policy is not met: end the session, the host failed temporarily
 * (SMTP_TLSPOLICY_DSN).
 */
int smtp_tlspolicy_ssl_check(const struct smtp_tlspolicy_result *r,
    const char *host, SSL *ssl, struct buf *note, struct buf *err)
    WARN_UNUSED;

#endif
