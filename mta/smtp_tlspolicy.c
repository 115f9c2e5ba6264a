/*
 * smtp_tlspolicy.c - which MX hosts of a route may be used and with what
 * TLS (contract and decisions in smtp_tlspolicy.h): RFC 7672 2.2 (DANE
 * applicability: secure MX and address answers, then the TLSA RRset of
 * each host), 3.1 (usable TLSA records), RFC 8461 4 and 5 (MTA-STS
 * policy application, through mta/mta_sts.h).
 *
 * Invariants: a result has one entry per route host, in route order;
 * a host in mode DANE has at least one usable TLSA record; a host the
 * lookup made unusable has skip set and a reason.  The lookup keeps no
 * state between calls besides the MTA-STS cache (in the lookup store);
 * everything of one delivery is in its result.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "common/config.h"
#include "common/netaddr.h"
#include "common/xalloc.h"
#include "lookup/lookup.h"
#include "mta/smtp_tlspolicy.h"

#define TP_MEM_CACHE (8u << 20)	/* the in-memory MTA-STS cache */

struct smtp_tlspolicy {
	struct dns *dns;
	struct lookup *cache;
	struct lookup *own_cache;	/* made here when none was given */
	bool no_dane, no_sts;
	char *ca_file;
	struct mta_sts_fetch_options fo;
	X509_STORE *store;
	smtp_tlspolicy_clock_fn *now;
	void *now_arg;
};

static const char *const level_names[] = {
	"auto", "none", "may", "encrypt", "dane", "dane-only", "verify",
};

int
smtp_tlspolicy_level_parse(const char *s, enum smtp_tlspolicy_level *l_r)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
		if (strcmp(s, level_names[i]) == 0) {
			*l_r = (enum smtp_tlspolicy_level)i;
			return 0;
		}
	return -1;
}

const char *
smtp_tlspolicy_level_name(enum smtp_tlspolicy_level l)
{
	return (size_t)l < ARRAY_SIZE(level_names) ? level_names[l] : "?";
}

const char *
smtp_tlspolicy_mode_name(enum smtp_tlspolicy_mode m)
{
	static const char *const names[] = {
		"none", "may", "testing", "encrypt", "dane", "verify",
	};

	return (size_t)m < ARRAY_SIZE(names) ? names[m] : "?";
}

const char *
smtp_tlspolicy_source_name(enum smtp_tlspolicy_source s)
{
	static const char *const names[] = {
		"none", "config", "dane", "mta-sts",
	};

	return (size_t)s < ARRAY_SIZE(names) ? names[s] : "?";
}

void
smtp_tlspolicy_config_options(const struct config *cfg,
    struct smtp_tlspolicy_options *o)
{
	memset(o, 0, sizeof(*o));
	o->no_dane = !cfg->tls_policy.dane;
	o->no_mta_sts = !cfg->tls_policy.mta_sts;
	o->sts_port = cfg->tls_policy.mta_sts_port;
	o->sts_timeout_ms = cfg->tls_policy.mta_sts_timeout * 1000u;
}

/* ---- the object ---- */

static int64_t
tp_now(const struct smtp_tlspolicy *tp)
{
	return tp->now != NULL ? tp->now(tp->now_arg) : (int64_t)time(NULL);
}

int
smtp_tlspolicy_new(const struct smtp_tlspolicy_options *opt,
    struct smtp_tlspolicy **tp_r, struct buf *err)
{
	struct smtp_tlspolicy *tp;
	bool ca = opt->ca_file != NULL && opt->ca_file[0] != '\0';

	*tp_r = NULL;
	if (opt->dns == NULL) {
		buf_add_str(err, "tls policy: no resolver");
		return -1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		buf_add_str(err, "tls policy: curl_global_init failed");
		return -1;
	}
	tp = xcalloc(1, sizeof(*tp));
	tp->dns = opt->dns;
	tp->no_dane = opt->no_dane;
	tp->no_sts = opt->no_mta_sts;
	tp->now = opt->now;
	tp->now_arg = opt->now_arg;
	tp->ca_file = ca ? xstrdup(opt->ca_file) : NULL;
	tp->fo.port = opt->sts_port;
	tp->fo.timeout_ms = opt->sts_timeout_ms;
	tp->fo.ca_file = tp->ca_file;
	tp->store = X509_STORE_new();
	if (tp->store == NULL ||
	    (ca ? X509_STORE_load_file(tp->store, tp->ca_file) :
	    X509_STORE_set_default_paths(tp->store)) != 1) {
		buf_addf(err, "tls policy: cannot load CA certificates%s%s",
		    ca ? " from " : "", ca ? tp->ca_file : "");
		goto fail;
	}
	tp->cache = opt->cache;
	if (tp->cache == NULL) {
		struct lookup_options lo;

		memset(&lo, 0, sizeof(lo));
		lo.backend = "memory";
		lo.mem_max_bytes = TP_MEM_CACHE;
		lo.now = opt->now;
		lo.now_arg = opt->now_arg;
		if (lookup_open(&lo, &tp->own_cache, err) < 0)
			goto fail;
		tp->cache = tp->own_cache;
	}
	*tp_r = tp;
	return 0;
fail:
	smtp_tlspolicy_free(&tp);
	return -1;
}

void
smtp_tlspolicy_free(struct smtp_tlspolicy **tpp)
{
	struct smtp_tlspolicy *tp = *tpp;

	if (tp == NULL)
		return;
	lookup_close(&tp->own_cache);
	X509_STORE_free(tp->store);
	free(tp->ca_file);
	free(tp);
	curl_global_cleanup();
	*tpp = NULL;
}

/* ---- DANE (RFC 7672 2.2, 3.1) ---- */

/* RFC 7672 3.1: DANE-TA(2) and DANE-EE(3) only; known selectors and
 * matching types, digests of their length */
static bool
tlsa_usable(const struct dns_tlsa *t)
{
	if ((t->usage != 2 && t->usage != 3) || t->selector > 1)
		return false;
	switch (t->mtype) {
	case 0:
		return true;
	case 1:
		return t->len == 32;
	case 2:
		return t->len == 64;
	}
	return false;
}

static void host_skip(struct smtp_tlspolicy_host *h, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

/* host_skip - h may not be used now, for the reason given */
static void
host_skip(struct smtp_tlspolicy_host *h, const char *fmt, ...)
{
	struct buf why = BUF_INIT(0);
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(&why, fmt, ap) < 0)
		PANIC("host_skip: buf_vprintf");
	va_end(ap);
	free(h->why);
	h->why = buf_steal(&why, NULL);
	h->skip = true;
}

enum tlsa_res {
	TLSA_NONE,	/* securely none, or an insecure answer */
	TLSA_FOUND,	/* a secure RRset: h has its records and mode */
	TLSA_FAILED,	/* the lookup failed: h skipped */
};

/* tlsa_at - the TLSA RRset at _port._tcp.base, into h */
static enum tlsa_res
tlsa_at(struct smtp_tlspolicy *tp, unsigned port, const char *base,
    struct smtp_tlspolicy_host *h, struct buf *note)
{
	struct buf name = BUF_INIT(0), derr = BUF_INIT(0);
	struct dns_result dr;
	enum tlsa_res res = TLSA_NONE;

	buf_addf(&name, "_%u._tcp.%s", port, base);
	if (dns_query(tp->dns, buf_cstr(&name), DNS_T_TLSA, &dr, &derr) < 0) {
		/* DNS_ERROR (a name too long to ask): no TLSA can be there */
		if (dns_status_is_temporary(dr.status)) {
			host_skip(h, "TLSA lookup of %s failed: %s",
			    buf_cstr(&name), buf_cstr(&derr));
			buf_addf(note, "%s\n", h->why);
			res = TLSA_FAILED;
		}
		goto out;
	}
	if (dr.status != DNS_OK || !dr.secure)
		goto out;	/* securely none, or insecure: not DANE */
	res = TLSA_FOUND;
	for (size_t i = 0; i < dr.nrr; i++) {
		struct smtp_tlspolicy_tlsa *t;
		struct dns_tlsa rec;

		if (dr.rr[i].type != DNS_T_TLSA ||
		    dns_rdata_tlsa(dr.rr[i].data, dr.rr[i].len, &rec) < 0 ||
		    !tlsa_usable(&rec) || h->ntlsa == SMTP_TLSPOLICY_TLSA_MAX)
			continue;
		h->tlsa = xreallocarray(h->tlsa, h->ntlsa + 1,
		    sizeof(*h->tlsa));
		t = &h->tlsa[h->ntlsa++];
		t->usage = rec.usage;
		t->selector = rec.selector;
		t->mtype = rec.mtype;
		t->data = (unsigned char *)xmemdup0(rec.data, rec.len);
		t->len = rec.len;
	}
	free(h->base);
	h->base = xstrdup(base);
	if (h->ntlsa > 0) {
		h->mode = SMTP_TLSPOLICY_MODE_DANE;
	} else {
		/* 2.2: published but unusable: encrypt, unauthenticated */
		h->mode = SMTP_TLSPOLICY_MODE_ENCRYPT;
		buf_addf(note, "no usable TLSA record at %s: TLS required, "
		    "not authenticated\n", buf_cstr(&name));
	}
out:
	dns_result_free(&dr);
	buf_free(&name);
	buf_free(&derr);
	return res;
}

/*
 * expansion - the fully CNAME-expanded name of host when its address
 * answer went through CNAMEs and was secure (RFC 7672 2.2.2), in
 * *name_r (NULL: none); -1 with h skipped when the lookup failed: an
 * attacker who could make it fail must not push us past the expanded
 * name's TLSA records
 */
static int
expansion(struct smtp_tlspolicy *tp, const char *host,
    struct smtp_tlspolicy_host *h, char **name_r, struct buf *note)
{
	struct buf derr = BUF_INIT(0);
	struct dns_result dr;
	int rc = 0;

	*name_r = NULL;
	if (dns_addrs(tp->dns, host, AF_UNSPEC, &dr, &derr) < 0) {
		if (dns_status_is_temporary(dr.status)) {
			host_skip(h, "address lookup of %s failed: %s", host,
			    buf_cstr(&derr));
			buf_addf(note, "%s\n", h->why);
			rc = -1;
		}
	} else if (dr.status == DNS_OK && dr.secure && dr.canonname != NULL &&
	    dns_is_host_name(dr.canonname, strlen(dr.canonname))) {
		*name_r = xstrdup(dr.canonname);
	}
	dns_result_free(&dr);
	buf_free(&derr);
	return rc;
}

/*
 * dane_host - the TLSA records of one route host, if DANE applies to it
 * (2.2): 1 when a secure TLSA RRset was found (mode DANE, or ENCRYPT if
 * none of it is usable; base set), 0 when DANE does not apply (mode
 * left as it is), 0 with skip set when a lookup failed.
 */
static int
dane_host(struct smtp_tlspolicy *tp, const struct smtp_route *route,
    unsigned flags, const struct smtp_route_host *rh,
    struct smtp_tlspolicy_host *h, struct buf *note)
{
	unsigned port = rh->naddr > 0 ?
	    netaddr_port((const struct sockaddr *)&rh->addr[0].ss) : 0;
	enum tlsa_res res;
	char *expanded;

	if (!rh->secure || !(route->mx_secure || rh->implicit ||
	    (flags & SMTP_TLSPOLICY_F_NO_MX) != 0))
		return 0;
	if (port == 0)
		port = SMTP_ROUTE_PORT;
	if (expansion(tp, rh->name, h, &expanded, note) < 0)
		return 0;
	if (expanded != NULL) {
		res = tlsa_at(tp, port, expanded, h, note);
		free(expanded);
		if (res != TLSA_NONE)
			return res == TLSA_FOUND;
	}
	return tlsa_at(tp, port, rh->name, h, note) == TLSA_FOUND;
}

/* ---- MTA-STS (RFC 8461 4, 5) ---- */

static void
sts_apply(struct smtp_tlspolicy *tp, const char *domain,
    struct smtp_tlspolicy_result *r)
{
	struct mta_sts_state st;

	mta_sts_fetch_policy(tp->dns, tp->cache, domain, &tp->fo,
	    tp_now(tp), &st, &r->note);
	if (!st.found)
		return;
	r->sts_found = true;
	r->sts_mode = st.policy.mode;
	memcpy(r->sts_id, st.id, sizeof(r->sts_id));
	r->sts_from_cache = st.from_cache;
	r->sts = st.policy;		/* taken over */
	memset(&st.policy, 0, sizeof(st.policy));
	mta_sts_state_free(&st);
	if (r->sts_mode == MTA_STS_MODE_NONE)
		return;
	r->source = SMTP_TLSPOLICY_SRC_MTA_STS;
	for (size_t i = 0; i < r->nhost; i++) {
		struct smtp_tlspolicy_host *h = &r->host[i];
		bool listed = mta_sts_policy_has_mx(&r->sts, h->name);

		if (h->skip)
			continue;
		if (r->sts_mode == MTA_STS_MODE_ENFORCE) {
			h->mode = SMTP_TLSPOLICY_MODE_VERIFY;
			if (!listed)
				host_skip(h, "%s is not an MX host of the "
				    "MTA-STS policy of %s", h->name, domain);
		} else {
			h->mode = SMTP_TLSPOLICY_MODE_TESTING;
			if (!listed) {
				buf_addf(&r->note, "MTA-STS %s (testing): %s "
				    "is not listed, used anyway\n", domain,
				    h->name);
			}
		}
	}
}

/* ---- the lookup ---- */

static enum smtp_tlspolicy_mode
level_mode(enum smtp_tlspolicy_level l)
{
	switch (l) {
	case SMTP_TLSPOLICY_LVL_NONE:
		return SMTP_TLSPOLICY_MODE_NONE;
	case SMTP_TLSPOLICY_LVL_ENCRYPT:
		return SMTP_TLSPOLICY_MODE_ENCRYPT;
	case SMTP_TLSPOLICY_LVL_VERIFY:
		return SMTP_TLSPOLICY_MODE_VERIFY;
	default:
		return SMTP_TLSPOLICY_MODE_MAY;
	}
}

int
smtp_tlspolicy_lookup(struct smtp_tlspolicy *tp, const char *domain,
    const struct smtp_route *route, enum smtp_tlspolicy_level level,
    unsigned flags, struct smtp_tlspolicy_result *r, struct buf *err)
{
	size_t usable = 0, ndane = 0;
	bool lookups = level == SMTP_TLSPOLICY_AUTO ||
	    level == SMTP_TLSPOLICY_LVL_DANE ||
	    level == SMTP_TLSPOLICY_LVL_DANE_ONLY;

	memset(r, 0, sizeof(*r));
	buf_init(&r->note, 0);
	r->level = level;
	r->source = lookups ? SMTP_TLSPOLICY_SRC_NONE :
	    SMTP_TLSPOLICY_SRC_CONFIG;
	if (X509_STORE_up_ref(tp->store) == 1)
		r->store = tp->store;
	r->host = xcalloc(route->nhost + 1, sizeof(*r->host));
	r->nhost = route->nhost;
	for (size_t i = 0; i < r->nhost; i++) {
		r->host[i].name = xstrdup(route->host[i].name);
		r->host[i].mode = level_mode(level);
	}
	if (lookups && (level != SMTP_TLSPOLICY_AUTO || !tp->no_dane))
		for (size_t i = 0; i < r->nhost; i++)
			ndane += (size_t)dane_host(tp, route, flags,
			    &route->host[i], &r->host[i], &r->note);
	if (ndane > 0)
		r->source = SMTP_TLSPOLICY_SRC_DANE;
	if (level == SMTP_TLSPOLICY_LVL_DANE_ONLY) {
		for (size_t i = 0; i < r->nhost; i++)
			if (!r->host[i].skip &&
			    r->host[i].mode != SMTP_TLSPOLICY_MODE_DANE)
				host_skip(&r->host[i], "%s: no usable TLSA "
				    "record (dane-only)", r->host[i].name);
	} else if (level == SMTP_TLSPOLICY_AUTO && ndane == 0 &&
	    !tp->no_sts && !route->relay && domain[0] != '[') {
		sts_apply(tp, domain, r);
	}
	for (size_t i = 0; i < r->nhost; i++)
		usable += !r->host[i].skip;
	if (usable > 0)
		return 0;
	if (r->source == SMTP_TLSPOLICY_SRC_NONE)
		buf_addf(err, "TLS policy of %s allows none of its MX hosts",
		    domain);
	else
		buf_addf(err, "TLS policy (%s) of %s allows none of its MX "
		    "hosts", smtp_tlspolicy_source_name(r->source), domain);
	for (size_t i = 0; i < r->nhost && i < 3; i++)
		if (r->host[i].why != NULL)
			buf_addf(err, "%s %s", i == 0 ? ":" : ";",
			    r->host[i].why);
	return -1;
}

void
smtp_tlspolicy_result_free(struct smtp_tlspolicy_result *r)
{
	for (size_t i = 0; i < r->nhost; i++) {
		struct smtp_tlspolicy_host *h = &r->host[i];

		for (size_t j = 0; j < h->ntlsa; j++)
			free(h->tlsa[j].data);
		free(h->tlsa);
		free(h->name);
		free(h->why);
		free(h->base);
	}
	free(r->host);
	mta_sts_policy_free(&r->sts);
	buf_free(&r->note);
	X509_STORE_free(r->store);
	memset(r, 0, sizeof(*r));
}

/* ---- per host ---- */

static bool
same_host(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 1 && a[la - 1] == '.')
		la--;
	if (lb > 1 && b[lb - 1] == '.')
		lb--;
	return la == lb && ascii_strncasecmp(a, b, la) == 0;
}

const struct smtp_tlspolicy_host *
smtp_tlspolicy_host(const struct smtp_tlspolicy_result *r, const char *host)
{
	for (size_t i = 0; i < r->nhost; i++)
		if (same_host(r->host[i].name, host))
			return &r->host[i];
	return NULL;
}

/* what a host the lookup did not see gets; false: not allowed */
static bool
unknown_host(const struct smtp_tlspolicy_result *r, const char *host,
    enum smtp_tlspolicy_mode *mode_r)
{
	switch (r->source) {
	case SMTP_TLSPOLICY_SRC_CONFIG:
		*mode_r = level_mode(r->level);
		return true;
	case SMTP_TLSPOLICY_SRC_MTA_STS:
		if (r->sts_mode == MTA_STS_MODE_TESTING) {
			*mode_r = SMTP_TLSPOLICY_MODE_TESTING;
			return true;
		}
		*mode_r = SMTP_TLSPOLICY_MODE_VERIFY;
		return mta_sts_policy_has_mx(&r->sts, host);
	case SMTP_TLSPOLICY_SRC_DANE:
		*mode_r = SMTP_TLSPOLICY_MODE_DANE;	/* with no record */
		return false;
	case SMTP_TLSPOLICY_SRC_NONE:
		break;
	}
	*mode_r = SMTP_TLSPOLICY_MODE_MAY;
	return r->level != SMTP_TLSPOLICY_LVL_DANE_ONLY;
}

bool
smtp_tlspolicy_mx_allowed(const struct smtp_tlspolicy_result *r,
    const char *host, struct buf *why)
{
	const struct smtp_tlspolicy_host *h = smtp_tlspolicy_host(r, host);
	enum smtp_tlspolicy_mode mode;

	if (h != NULL) {
		if (h->skip && why != NULL)
			buf_add_str(why, h->why);
		return !h->skip;
	}
	if (unknown_host(r, host, &mode))
		return true;
	if (why != NULL)
		buf_addf(why, "%s is not a host the TLS policy (%s) allows",
		    host, smtp_tlspolicy_source_name(r->source));
	return false;
}

enum smtp_tlspolicy_mode
smtp_tlspolicy_mode(const struct smtp_tlspolicy_result *r, const char *host)
{
	const struct smtp_tlspolicy_host *h = smtp_tlspolicy_host(r, host);
	enum smtp_tlspolicy_mode mode;

	if (h != NULL)
		return h->mode;
	(void)unknown_host(r, host, &mode);
	return mode;
}

bool
smtp_tlspolicy_tls_wanted(const struct smtp_tlspolicy_result *r,
    const char *host)
{
	return smtp_tlspolicy_mode(r, host) != SMTP_TLSPOLICY_MODE_NONE;
}

bool
smtp_tlspolicy_tls_required(const struct smtp_tlspolicy_result *r,
    const char *host)
{
	switch (smtp_tlspolicy_mode(r, host)) {
	case SMTP_TLSPOLICY_MODE_ENCRYPT:
	case SMTP_TLSPOLICY_MODE_DANE:
	case SMTP_TLSPOLICY_MODE_VERIFY:
		return true;
	default:
		return false;
	}
}

bool
smtp_tlspolicy_is_authenticated(const struct smtp_tlspolicy_result *r,
    const char *host)
{
	enum smtp_tlspolicy_mode m = smtp_tlspolicy_mode(r, host);

	return m == SMTP_TLSPOLICY_MODE_DANE || m == SMTP_TLSPOLICY_MODE_VERIFY;
}

void
smtp_tlspolicy_auth_key(const struct smtp_tlspolicy_result *r,
    const char *host, struct buf *out)
{
	const struct smtp_tlspolicy_host *h = smtp_tlspolicy_host(r, host);
	unsigned char md[SHA256_DIGEST_LENGTH];
	EVP_MD_CTX *ctx;

	switch (smtp_tlspolicy_mode(r, host)) {
	case SMTP_TLSPOLICY_MODE_VERIFY:
		buf_addf(out, "verify %s", host);
		return;
	case SMTP_TLSPOLICY_MODE_DANE:
		break;
	default:
		return;
	}
	if (h == NULL || h->ntlsa == 0)
		return;		/* nothing to match: nothing is authenticated */
	/* the records, each with its fields and length: no two sets of
	 * records give the same input */
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		PANIC("smtp_tlspolicy_auth_key: SHA-256");
	for (size_t i = 0; i < h->ntlsa; i++) {
		const struct smtp_tlspolicy_tlsa *t = &h->tlsa[i];
		unsigned char head[3 + sizeof(uint64_t)];
		uint64_t len = t->len;

		head[0] = t->usage;
		head[1] = t->selector;
		head[2] = t->mtype;
		memcpy(head + 3, &len, sizeof(len));
		if (EVP_DigestUpdate(ctx, head, sizeof(head)) != 1 ||
		    EVP_DigestUpdate(ctx, t->data, t->len) != 1)
			PANIC("smtp_tlspolicy_auth_key: SHA-256");
	}
	if (EVP_DigestFinal_ex(ctx, md, NULL) != 1)
		PANIC("smtp_tlspolicy_auth_key: SHA-256");
	EVP_MD_CTX_free(ctx);
	buf_addf(out, "dane %s %s ", h->base != NULL ? h->base : host, host);
	for (size_t i = 0; i < sizeof(md); i++)
		buf_addf(out, "%02x", md[i]);
}
