/*
 * mta_sts.h - SMTP MTA Strict Transport Security (RFC 8461): the pure
 * parsers (the _mta-sts TXT record, the policy file, MX patterns, our
 * cache record) and, over common/dns and libcurl, the policy of a domain
 * as RFC 8461 5.1 finds it: the TXT record, the cache, an HTTPS fetch.
 *
 * The parsers (mta_sts.c) are pure and bounded: text and limits in,
 * enum parse_res out; they may allocate what they return (released with
 * mta_sts_policy_free).  The fetch (mta_sts_fetch.c) blocks on DNS and
 * HTTPS: it belongs in a job, never on an I/O thread; any number of
 * threads may call it at once.  Most callers want smtp_tlspolicy.h,
 * which decides DANE or MTA-STS or neither for a destination.
 */
#ifndef POSTERN_MTA_STS_H
#define POSTERN_MTA_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/dns.h"

struct lookup;

#define MTA_STS_POLICY_MAX (64u * 1024)	/* bytes of a policy file */
#define MTA_STS_ID_MAX 32		/* characters of a TXT id */
#define MTA_STS_MAX_AGE_MAX 31557600u	/* seconds (RFC 8461 3.2) */
#define MTA_STS_MX_MAX 100		/* mx patterns of one policy */
#define MTA_STS_PORT 443
#define MTA_STS_TIMEOUT_DEFAULT_MS 10000u	/* the whole fetch */
#define MTA_STS_CACHE_PREFIX "mta-sts:"	/* + the domain, lower case */

enum mta_sts_mode {
	MTA_STS_MODE_NONE,	/* "none": the domain opted out */
	MTA_STS_MODE_TESTING,	/* "testing": deliver anyway, report */
	MTA_STS_MODE_ENFORCE,	/* "enforce": verified TLS to a listed MX */
};

/* "none", "testing", "enforce" */
const char *mta_sts_mode_name(enum mta_sts_mode m);

/* a parsed policy (RFC 8461 3.2) */
struct mta_sts_policy {
	enum mta_sts_mode mode;
	uint32_t max_age;	/* seconds, at most MTA_STS_MAX_AGE_MAX */
	/* the mx patterns in file order, lower case, no trailing dot:
	 * "mx.example.com" or "*.example.com"; at least one unless mode
	 * is none */
	char **mx;
	size_t nmx;
};

/* ---- pure ---- */

/*
 * mta_sts_txt_parse - one TXT record of _mta-sts.<domain> (RFC 8461
 * 3.1): "v=STSv1; id=<1..32 letters and digits>" with optional extension
 * fields ("name=value", ignored) and blanks around the ';'.  PARSE_OK
 * with the id in id_r (NUL-terminated), PARSE_BAD for anything else (a
 * second id too: which one would count is not said).  Case matters
 * ("v=STSv1", "id=").
 */
enum parse_res mta_sts_txt_parse(const char *text, size_t len,
    char id_r[MTA_STS_ID_MAX + 1]);
/* mta_sts_txt_is_sts - the record begins with "v=STSv1" followed by its
 * end, ';' or a blank: it counts in the "exactly one record" rule */
bool mta_sts_txt_is_sts(const char *text, size_t len);
/*
 * mta_sts_txt_select - the records of one TXT answer: those that are not
 * STSv1 (mta_sts_txt_is_sts) are dropped; exactly one must remain and
 * parse (RFC 8461 3.1), else PARSE_BAD: no policy.
 */
enum parse_res mta_sts_txt_select(const struct dns_txt *txt, size_t n,
    char id_r[MTA_STS_ID_MAX + 1]);

/*
 * mta_sts_policy_parse - a policy file (RFC 8461 3.2): lines "key: value"
 * ending in LF or CRLF (the last one may have neither; empty lines are
 * skipped).  version must be "STSv1"; mode "enforce", "testing" or
 * "none"; max_age 1..10 digits, a value over MTA_STS_MAX_AGE_MAX taken as
 * that maximum; mx a domain ("mx.example.com") or "*." and a domain,
 * repeated, at most MTA_STS_MX_MAX.  version, mode and max_age must each
 * appear exactly once, mx at least once unless mode is none.  Other keys
 * (extensions: a letter or digit and up to 31 of letters, digits, '_',
 * '-', '.') are ignored if their value is well formed.  A bare CR, a NUL
 * or any other byte outside the grammar is PARSE_BAD.
 *
 * PARSE_OK: *p filled (release with mta_sts_policy_free).  PARSE_BAD
 * (one line appended to err: "line 3: mode: unknown value") or
 * PARSE_TOO_LONG (len over MTA_STS_POLICY_MAX): *p is empty.
 */
enum parse_res mta_sts_policy_parse(const char *text, size_t len,
    struct mta_sts_policy *p, struct buf *err);
/* mta_sts_policy_free - release what the parse put in p; p zeroed, so
 * harmless twice */
void mta_sts_policy_free(struct mta_sts_policy *p);

/*
 * mta_sts_mx_match - RFC 8461 4.1: host (one trailing dot ignored) equals
 * pattern, without case; "*.example.com" stands for exactly one label
 * before example.com: "mx.example.com" matches, "example.com" and
 * "a.b.example.com" do not.
 */
bool mta_sts_mx_match(const char *pattern, const char *host);
/* mta_sts_policy_has_mx - host matches one of p's patterns */
bool mta_sts_policy_has_mx(const struct mta_sts_policy *p,
    const char *host);

/*
 * Our cache record, kept in the lookup store under MTA_STS_CACHE_PREFIX
 * and the domain: "STS1 <fetched> <expires> <id>\n" and the policy file
 * as it was fetched (unix seconds).  The store may be shared (Redis), so
 * what comes back is checked like peer input.
 */
struct mta_sts_record {
	int64_t fetched, expires;
	char id[MTA_STS_ID_MAX + 1];
	struct mta_sts_policy policy;
};
/* mta_sts_record_encode - append the record to out (our own data) */
void mta_sts_record_encode(int64_t fetched, int64_t expires,
    const char *id, const char *policy, size_t plen, struct buf *out);
/* mta_sts_record_decode - PARSE_OK with *rec filled (its policy
 * released with mta_sts_policy_free), else PARSE_BAD and *rec empty */
enum parse_res mta_sts_record_decode(const unsigned char *p, size_t len,
    struct mta_sts_record *rec);

/* ---- blocking: DNS, HTTPS, the cache ---- */

struct mta_sts_fetch_options {
	unsigned port;		/* 0: 443 (tests use another) */
	const char *ca_file;	/* NULL or "": the system's CA store */
	unsigned timeout_ms;	/* 0: MTA_STS_TIMEOUT_DEFAULT_MS */
};

/*
 * mta_sts_fetch - GET https://mta-sts.<domain>/.well-known/mta-sts.txt
 * (RFC 8461 3.3): the host's addresses from dns (no other resolver is
 * asked), HTTPS only (TLS 1.2 or later), the certificate verified for
 * that name against the system CA store or opt->ca_file, no redirect
 * followed (a 3xx is a failure), no proxy, status 200 with a text/plain
 * body of at most MTA_STS_POLICY_MAX bytes, within the timeout.
 * 0 with the body appended to body, or -1 with one line in err.
 * libcurl must have been initialised (curl_global_init, as
 * smtp_tlspolicy_new does).
 */
int mta_sts_fetch(struct dns *dns, const char *domain,
    const struct mta_sts_fetch_options *opt, struct buf *body,
    struct buf *err) WARN_UNUSED;

/* the policy of a domain, as mta_sts_fetch_policy found it */
struct mta_sts_state {
	bool found;		/* policy holds a policy (any mode) */
	bool from_cache;	/* not fetched by this call */
	bool fetched;		/* fetched (and cached) by this call */
	char id[MTA_STS_ID_MAX + 1];
	int64_t expires;	/* unix seconds */
	struct mta_sts_policy policy;
};

/*
 * mta_sts_fetch_policy - RFC 8461 5.1 for domain at time now: a cached
 * policy that has not expired is used as long as the TXT record's id is
 * the same, or the TXT record is gone, or DNS fails; a new id (or no
 * usable cached policy) means a fetch, whose policy replaces the cached
 * one for max_age seconds; a failed fetch keeps the cached policy.  No
 * TXT record and nothing cached, or a failed fetch with nothing cached:
 * no policy (found false).  cache may be NULL (nothing kept).  st is
 * filled always; release it with mta_sts_state_free.  What happened
 * that a postmaster would want in the log (a failed fetch or cache
 * write, a policy that does not parse) is appended to note, one line
 * each; the call itself cannot fail.
 */
void mta_sts_fetch_policy(struct dns *dns, struct lookup *cache,
    const char *domain, const struct mta_sts_fetch_options *opt,
    int64_t now, struct mta_sts_state *st, struct buf *note);
void mta_sts_state_free(struct mta_sts_state *st);

#endif
