/*
 * dns.h - the one DNS resolver of Postern (libunbound underneath).
 *
 * Every lookup of the server goes through here: TXT for SPF/DKIM/DMARC,
 * A/AAAA and MX for delivery, PTR for iprev, DNSBL names, TLSA (raw rdata)
 * for DANE.  One struct dns is made at start-up and shared by every job
 * thread; its calls block (they belong in jobs, never on an I/O thread),
 * any number of threads may call them at once, and each returns within
 * the configured timeout whatever the network does.  The resolver runs a
 * libunbound thread of its own: make it after any fork (daemonising), and
 * free it only when no lookup is running.  Caching is libunbound's,
 * shared by all threads; answers are validated when a trust anchor is set.
 *
 * Results.  A lookup fills a caller-owned struct dns_result, always (also
 * when it fails before asking anything); the caller releases it with
 * dns_result_free() whatever the call returned.  Every lookup returns
 *    0   a definitive answer: status DNS_OK, DNS_NXDOMAIN or DNS_NODATA;
 *   -1   no definitive answer: DNS_SERVFAIL or DNS_TIMEOUT (temporary:
 *        defer, 4xx, SPF temperror) or DNS_ERROR (the question itself
 *        was bad, e.g. an empty label: permanent for that name); one line
 *        of text is appended to err ("mx.example/MX: timed out after
 *        5000 ms").
 * dns_status_is_temporary() says which failures are worth retrying.
 *
 * DNSSEC.  With a trust anchor file, answers are validated: secure says
 * the answer (or the proof of non-existence) was signed all the way down;
 * an answer that fails validation is never handed out: it becomes
 * DNS_SERVFAIL with bogus set and the validator's reason in why_bogus.
 * Without a trust anchor, secure and bogus are always false.
 *
 * Limits, deliberate: a query name of at most DNS_NAME_MAX characters
 * with labels of 1..63 is sent, anything else refused (DNS_ERROR).  Of an
 * answer, at most opt->max_records records are kept (the rest dropped,
 * truncated set), and at most opt->txt_max bytes of TXT text (a record
 * that would pass it is dropped whole, never cut: truncated set).
 * Callers that need the complete set (SPF: "exactly one v=spf1 record")
 * must treat truncated as an error of their own.  Malformed records (bad
 * rdata, MX/PTR names that are not host names) are skipped and counted in
 * malformed.  If no record of an answer is usable (malformed or over a
 * limit) the answer becomes DNS_SERVFAIL ("no usable record"), a
 * temporary failure, as Postfix treats a malformed reply.
 */
#ifndef POSTERN_DNS_H
#define POSTERN_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "common.h"
#include "netaddr.h"

/* RR types we name (host order) */
enum {
	DNS_T_A = 1,
	DNS_T_NS = 2,
	DNS_T_CNAME = 5,
	DNS_T_SOA = 6,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
	DNS_T_SRV = 33,
	DNS_T_DS = 43,
	DNS_T_RRSIG = 46,
	DNS_T_DNSKEY = 48,
	DNS_T_TLSA = 52,
};

#define DNS_NAME_MAX 253		/* text, without the trailing dot */
#define DNS_LABEL_MAX 63
#define DNS_TIMEOUT_DEFAULT_MS 5000
#define DNS_TIMEOUT_MAX_MS 600000
#define DNS_MAX_RECORDS_DEFAULT 100
#define DNS_MAX_RECORDS_LIMIT 4096
#define DNS_TXT_MAX_DEFAULT 16384
#define DNS_TXT_MAX_LIMIT 65535	/* no DNS message holds more */

/*
 * A zero-initialised struct gives the defaults: servers from
 * /etc/resolv.conf, 5 s timeout, no DNSSEC, caching on.
 */
struct dns_options {
	/* "IP" or "IP@port" ("127.0.0.1@5353", "::1@53"); tried in turn.
	 * nforwarders == 0: the nameservers of resolv_conf. */
	const char *const *forwarders;
	size_t nforwarders;
	const char *resolv_conf;	/* NULL: /etc/resolv.conf */
	unsigned timeout_ms;		/* per lookup; 0: the default */
	/* DS or DNSKEY records in zone-file format, read once (not kept up
	 * to date as RFC 5011 would; unbound-anchor's root.key works);
	 * NULL: no validation */
	const char *trust_anchor_file;
	bool no_cache;		/* never answer from cache (tests) */
	/*
	 * Ask the forwarders about the special-use names libunbound
	 * otherwise answers itself with NXDOMAIN: test., invalid.,
	 * home.arpa. and the reverse zones of private, shared and
	 * documentation addresses (10/8, 172.16/12, 192.168/16, 100.64/10,
	 * 169.254/16, 192.0.2/24, fc00::/7, fe80::/10, 2001:db8::/32, ...),
	 * treated as unsigned.  Off by default (RFC 6761 6.2); on for tests
	 * against a local server, and for sites whose resolver serves
	 * private reverse zones (iprev of internal clients).  localhost,
	 * loopback reverse names and onion. stay local.
	 */
	bool forward_special_zones;
	unsigned max_records;	/* 0: DNS_MAX_RECORDS_DEFAULT */
	size_t txt_max;		/* 0: DNS_TXT_MAX_DEFAULT */
};

enum dns_status {
	DNS_OK,		/* at least one usable record */
	DNS_NXDOMAIN,	/* the name does not exist: permanent */
	DNS_NODATA,	/* the name exists, no record of that type: permanent */
	DNS_SERVFAIL,	/* server failure, bogus DNSSEC, malformed reply or
			 * a local resolver failure: temporary */
	DNS_TIMEOUT,	/* no answer within the timeout: temporary */
	DNS_ERROR,	/* the question was refused before it was sent */
};

/* "OK", "NXDOMAIN", "NODATA", "SERVFAIL", "TIMEOUT", "ERROR" */
const char *dns_status_name(enum dns_status s);

static inline bool
dns_status_is_temporary(enum dns_status s)
{
	return s == DNS_SERVFAIL || s == DNS_TIMEOUT;
}

/* DNS_TYPE_NAME_MAX: room for "TYPE65535" and its NUL */
#define DNS_TYPE_NAME_MAX 10
/* dns_type_name - "MX", "TLSA", ... or "TYPE<n>"; returns out */
const char *dns_type_name(uint16_t type, char out[DNS_TYPE_NAME_MAX]);

/* one record's rdata in wire format, names uncompressed */
struct dns_rr {
	uint16_t type;
	uint16_t len;
	unsigned char *data;
};

/* one TXT record: its character-strings concatenated, NUL-terminated
 * for convenience but binary-safe (len counts the bytes) */
struct dns_txt {
	char *text;
	size_t len;
};

struct dns_mx {
	unsigned pref;
	char *host;		/* host name, no trailing dot */
};

struct dns_result {
	enum dns_status status;
	int rcode;		/* RCODE of the answer; -1 if there was none */
	bool secure;		/* DNSSEC-validated (trust anchor set) */
	bool bogus;		/* DNSSEC validation failed: status SERVFAIL */
	bool truncated;		/* records dropped over max_records/txt_max */
	bool null_mx;		/* dns_mx: a null MX (RFC 7505), nmx == 0 */
	unsigned malformed;	/* records skipped as malformed */
	uint32_t ttl;		/* seconds, as libunbound reports it (counts
				 * down in the cache; 0 with no_cache); the
				 * lowest of the answers */
	char *canonname;	/* the name after CNAMEs, when it differs */
	char *why_bogus;	/* the validator's reason, when bogus */

	/* raw records of the answer, every lookup (dns_addrs: A, then
	 * AAAA); the accessor for types without a typed array here
	 * (TLSA: dns_rdata_tlsa on each) */
	struct dns_rr *rr;
	size_t nrr;
	/* dns_txt */
	struct dns_txt *txt;
	size_t ntxt;
	/* dns_addrs: IPv4 first, then IPv6, answer order, port 0 */
	struct netaddr *addr;
	size_t naddr;
	/* dns_mx: sorted by preference, answer order among equals (RFC
	 * 5321 5.1 randomisation is the caller's) */
	struct dns_mx *mx;
	size_t nmx;
	/* dns_ptr: host names, no trailing dot */
	char **name;
	size_t nname;
};

struct dns;

/*
 * dns_new - a resolver with these options (copied; opt may be freed).
 * No network traffic yet; a bad forwarder, an unreadable resolv.conf or
 * trust anchor file, or a limit out of range is an error.
 */
int dns_new(const struct dns_options *opt, struct dns **d_r,
    struct buf *err) WARN_UNUSED;
/* dns_free - no lookup may be running; accepts NULL, sets *d to NULL */
void dns_free(struct dns **d);
/*
 * dns_flush - forget every cached answer (a new libunbound context).
 * Waits for running lookups to finish and holds new ones meanwhile (their
 * timeout runs).  -1 (the old context kept) if a new one cannot be made.
 * Also the cure after a libunbound failure ("resolver failure: error in
 * pipe communication"), which otherwise fails every lookup.
 */
int dns_flush(struct dns *d, struct buf *err) WARN_UNUSED;

/*
 * dns_query - records of type rrtype (class IN) at name ("example.com" or
 * "example.com."), CNAMEs followed.  r->rr holds the raw rdata.  Safe
 * from any number of threads at once; returns within the timeout.
 */
int dns_query(struct dns *d, const char *name, uint16_t rrtype,
    struct dns_result *r, struct buf *err) WARN_UNUSED;
/* dns_txt - TXT records, r->txt: each record's strings concatenated */
int dns_txt(struct dns *d, const char *name, struct dns_result *r,
    struct buf *err) WARN_UNUSED;
/*
 * dns_addrs - family AF_INET (A), AF_INET6 (AAAA) or AF_UNSPEC (both,
 * asked at once, within one timeout): r->addr.  For AF_UNSPEC the status
 * is OK if either family has records; otherwise a temporary failure of
 * either wins over NODATA, and NXDOMAIN needs both to say so.
 */
int dns_addrs(struct dns *d, const char *name, int family,
    struct dns_result *r, struct buf *err) WARN_UNUSED;
/*
 * dns_mx - MX records, r->mx.  A null MX (a single MX "0 .", RFC 7505)
 * is status OK with null_mx set and nmx == 0: the domain accepts no mail
 * (5.1.10).  A "." among other MX records is dropped as malformed.  No
 * MX records is DNS_NODATA: the implicit MX (RFC 5321 5.1, the domain's
 * own A/AAAA) is the caller's decision.
 */
int dns_mx(struct dns *d, const char *name, struct dns_result *r,
    struct buf *err) WARN_UNUSED;
/* dns_ptr - PTR names of an IPv4/IPv6 address (v4-mapped IPv6 as IPv4):
 * r->name */
int dns_ptr(struct dns *d, const struct sockaddr *sa, struct dns_result *r,
    struct buf *err) WARN_UNUSED;
/* dns_result_free - release what a lookup put in r; r is zeroed, so
 * calling it twice is harmless */
void dns_result_free(struct dns_result *r);

/* ---- names (pure) ---- */

/*
 * dns_name_check - a query name: 1..DNS_NAME_MAX characters (one
 * trailing dot allowed on top), labels of 1..63 printable ASCII
 * characters other than '\' (SPF macros may put '+' or '=' in a name;
 * escapes are refused so that text and wire form agree), or "." alone.
 * -1 with one line in err.
 */
int dns_name_check(const char *name, struct buf *err) WARN_UNUSED;
/* dns_is_host_name - letters, digits, '-' and '_' in labels of 1..63,
 * at most DNS_NAME_MAX, no trailing dot: the names answers may give */
bool dns_is_host_name(const char *name, size_t len);
/*
 * dns_reverse_name - append the PTR name of an IPv4 or IPv6 address
 * (v4-mapped IPv6 as IPv4) to out: "4.3.2.1.in-addr.arpa",
 * "b.a.9.8. ... .8.b.d.0.1.0.0.2.ip6.arpa".  -1 for other families.
 */
int dns_reverse_name(const struct sockaddr *sa, struct buf *out,
    struct buf *err) WARN_UNUSED;
/*
 * dns_dnsbl_name - append the DNSBL query name of an address in zone:
 * "4.3.2.1.zen.example.org", IPv6 as 32 reversed nibbles.  -1 if zone is
 * not a good name or the result would pass DNS_NAME_MAX.
 */
int dns_dnsbl_name(const struct sockaddr *sa, const char *zone,
    struct buf *out, struct buf *err) WARN_UNUSED;

/* ---- rdata parsers (pure, bounded; for fuzzing too) ---- */

/*
 * dns_rdata_name - the uncompressed wire name at p (len bytes available)
 * as text appended to out, no trailing dot ("." for the root); *used_r
 * the bytes it took.  -1 on a compression pointer, a label running past
 * len, a name over 255 octets or a name that is not a host name
 * (dns_is_host_name).
 */
int dns_rdata_name(const unsigned char *p, size_t len, size_t *used_r,
    struct buf *out) WARN_UNUSED;
/* dns_rdata_txt - the character-strings of one TXT rdata concatenated
 * onto out; -1 if a string runs past len or out->max would be passed */
int dns_rdata_txt(const unsigned char *p, size_t len, struct buf *out)
    WARN_UNUSED;
/* dns_rdata_mx - preference and exchange of one MX rdata (the exchange
 * "." for a null MX); -1 if malformed or trailing bytes follow */
int dns_rdata_mx(const unsigned char *p, size_t len, unsigned *pref_r,
    struct buf *host) WARN_UNUSED;

/* one TLSA record (RFC 6698 2.1); data points into the rdata parsed */
struct dns_tlsa {
	uint8_t usage;		/* 0 PKIX-TA .. 3 DANE-EE (RFC 7218) */
	uint8_t selector;	/* 0 Cert, 1 SPKI */
	uint8_t mtype;		/* 0 Full, 1 SHA2-256, 2 SHA2-512 */
	const unsigned char *data;	/* certificate association data */
	size_t len;		/* >= 1 */
};
/*
 * dns_rdata_tlsa - the fields of one TLSA rdata: three octets and at
 * least one octet of association data; -1 if shorter.  Any field value
 * is returned as it is: whether a record is usable (RFC 7672 3.1) is the
 * caller's policy.
 */
int dns_rdata_tlsa(const unsigned char *p, size_t len, struct dns_tlsa *t)
    WARN_UNUSED;

/*
 * dns_parse_txt/_mx/_ptr/_addrs - fill the typed array of r from the raw
 * records of r->rr of the matching type (what the lookups above do after
 * dns_query); records that do not parse are counted in r->malformed.
 * dns_parse_txt drops a record whose text would take the TXT text of r
 * past txt_max bytes (truncated set).  dns_parse_mx sets null_mx for a
 * "0 ." with no other usable MX.  Each returns the entries now in its
 * array.
 */
size_t dns_parse_txt(struct dns_result *r, size_t txt_max);
size_t dns_parse_mx(struct dns_result *r);
size_t dns_parse_ptr(struct dns_result *r);
size_t dns_parse_addrs(struct dns_result *r);

#endif
