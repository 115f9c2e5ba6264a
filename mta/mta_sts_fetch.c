/*
 * mta_sts_fetch.c - the blocking half of MTA-STS (contract in mta_sts.h):
 * the policy fetch over HTTPS with libcurl (RFC 8461 3.3) and the
 * application control flow of 5.1 over the cache in the lookup store.
 *
 * The fetch.  The host mta-sts.<domain> is resolved through common/dns
 * and handed to libcurl with CURLOPT_RESOLVE, so libcurl never resolves a
 * name itself: every lookup stays bounded by our timeout and goes to the
 * resolver the postmaster configured (in tests, the test's DNS server).
 * Only https is allowed, redirects are not followed (3.3: "MUST NOT"),
 * proxies from the environment are ignored, the body is cut off (and the
 * fetch failed) past MTA_STS_POLICY_MAX bytes whatever Content-Length
 * says, and the response must be 200 with media type text/plain (3.2).
 * libcurl's own signal use is off (CURLOPT_NOSIGNAL): we run in threads.
 *
 * The cache.  One record per domain (MTA_STS_CACHE_PREFIX + domain in
 * lower case) holding the id, the fetch time, the expiry (fetch time +
 * max_age) and the policy text, with the lookup store's TTL set to
 * max_age too, so a store that expires keys drops it on time.  Per 5.1:
 * a cached, unexpired policy survives a TXT record that disappears, a
 * DNS failure and a failed refresh; it is replaced only by a fetched
 * policy that parses.  A record that does not decode (a foreign writer
 * of a shared Redis) is ignored and noted.
 *
 * XXX 5.1 also suggests refreshing a policy shortly before it expires
 * and, in enforce mode, refetching before refusing an MX the cached
 * policy does not list; neither is done: a policy is refetched when the
 * id changes or once it has expired.  A periodic job walking the cache
 * would fix the first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/netaddr.h"
#include "common/xalloc.h"
#include "lookup/lookup.h"
#include "mta/mta_sts.h"

#define STS_HOST_PREFIX "mta-sts."
#define STS_TXT_PREFIX "_mta-sts."
#define STS_PATH "/.well-known/mta-sts.txt"
#define STS_ADDRS_MAX 8		/* addresses handed to libcurl */

struct sts_body {
	struct buf buf;		/* max MTA_STS_POLICY_MAX */
	bool over;
};

static size_t
sts_write(char *p, size_t size, size_t n, void *arg)
{
	struct sts_body *b = arg;

	if (size != 0 && n > SIZE_MAX / size)
		return 0;
	if (buf_append(&b->buf, p, size * n) < 0) {
		b->over = true;
		return 0;	/* libcurl stops: CURLE_WRITE_ERROR */
	}
	return size * n;
}

/* "mta-sts.example.com:443:192.0.2.1,[2001:db8::1]" from dns */
static int
sts_resolve(struct dns *dns, const char *host, unsigned port,
    struct buf *entry, struct buf *err)
{
	struct buf derr = BUF_INIT(0);
	struct dns_result r;
	size_t n = 0;

	if (dns_addrs(dns, host, AF_UNSPEC, &r, &derr) < 0 ||
	    r.status != DNS_OK || r.naddr == 0) {
		buf_addf(err, "%s: %s", host, derr.len > 0 ? buf_cstr(&derr) :
		    dns_status_name(r.status));
		dns_result_free(&r);
		buf_free(&derr);
		return -1;
	}
	buf_free(&derr);
	buf_addf(entry, "%s:%u:", host, port);
	for (size_t i = 0; i < r.naddr && n < STS_ADDRS_MAX; i++) {
		char ip[NETADDR_STRLEN];
		bool v6 = r.addr[i].ss.ss_family == AF_INET6;

		netaddr_ip((const struct sockaddr *)&r.addr[i].ss, ip);
		buf_addf(entry, "%s%s%s%s", n > 0 ? "," : "", v6 ? "[" : "",
		    ip, v6 ? "]" : "");
		n++;
	}
	dns_result_free(&r);
	return 0;
}

/* text/plain, with or without parameters */
static bool
sts_is_text_plain(const char *ct)
{
	size_t n = strlen("text/plain");

	return ct != NULL && ascii_strncasecmp(ct, "text/plain", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int
mta_sts_fetch(struct dns *dns, const char *domain,
    const struct mta_sts_fetch_options *opt, struct buf *body,
    struct buf *err)
{
	static const struct mta_sts_fetch_options defaults;
	unsigned port, timeout;
	struct buf host = BUF_INIT(0), url = BUF_INIT(0), res = BUF_INIT(0);
	struct sts_body b = { BUF_INIT(MTA_STS_POLICY_MAX), false };
	struct curl_slist *resolve = NULL;
	char errbuf[CURL_ERROR_SIZE];
	CURLcode cc = CURLE_OK;
	long status = 0;
	char *ctype = NULL;
	CURL *c = NULL;
	int rc = -1;

	if (opt == NULL)
		opt = &defaults;
	port = opt->port != 0 ? opt->port : MTA_STS_PORT;
	timeout = opt->timeout_ms != 0 ? opt->timeout_ms :
	    MTA_STS_TIMEOUT_DEFAULT_MS;
	if (!dns_is_host_name(domain, strlen(domain)) ||
	    strlen(domain) > DNS_NAME_MAX - strlen(STS_HOST_PREFIX)) {
		buf_add_str(err, "MTA-STS: not a domain name");
		return -1;
	}
	buf_addf(&host, STS_HOST_PREFIX "%s", domain);
	buf_addf(&url, "https://%s:%u" STS_PATH, buf_cstr(&host), port);
	if (sts_resolve(dns, buf_cstr(&host), port, &res, err) < 0)
		goto out;
	resolve = curl_slist_append(NULL, buf_cstr(&res));
	c = curl_easy_init();
	if (resolve == NULL || c == NULL) {
		buf_add_str(err, "MTA-STS: cannot set up libcurl");
		goto out;
	}
	errbuf[0] = '\0';
#define SET(opt_, val_) \
	if (cc == CURLE_OK) \
		cc = curl_easy_setopt(c, opt_, val_)
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_URL, buf_cstr(&url));
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_RESOLVE, resolve);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_TIMEOUT_MS, (long)timeout);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (opt->ca_file != NULL && opt->ca_file[0] != '\0')
		SET(CURLOPT_CAINFO, opt->ca_file);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MTA_STS_POLICY_MAX);
	SET(CURLOPT_WRITEFUNCTION, sts_write);
	SET(CURLOPT_WRITEDATA, &b);
	SET(CURLOPT_USERAGENT, "postern (MTA-STS)");
#undef SET
	if (cc != CURLE_OK) {
		buf_addf(err, "MTA-STS: libcurl option: %s",
		    curl_easy_strerror(cc));
		goto out;
	}
	cc = curl_easy_perform(c);
	if (b.over || cc == CURLE_FILESIZE_EXCEEDED) {
		buf_addf(err, "%s: policy larger than %u bytes",
		    buf_cstr(&url), MTA_STS_POLICY_MAX);
		goto out;
	}
	if (cc != CURLE_OK) {
		buf_addf(err, "%s: %s", buf_cstr(&url), errbuf[0] != '\0' ?
		    errbuf : curl_easy_strerror(cc));
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK || status != 200) {
		buf_addf(err, "%s: HTTP status %ld", buf_cstr(&url), status);
		goto out;
	}
	if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype) != CURLE_OK ||
	    !sts_is_text_plain(ctype)) {
		buf_addf(err, "%s: media type is not text/plain",
		    buf_cstr(&url));
		goto out;
	}
	buf_add(body, b.buf.data, b.buf.len);
	rc = 0;
out:
	if (c != NULL)
		curl_easy_cleanup(c);
	curl_slist_free_all(resolve);
	buf_free(&b.buf);
	buf_free(&host);
	buf_free(&url);
	buf_free(&res);
	return rc;
}

/* ---- RFC 8461 5.1 over the cache ---- */

/* the cached, unexpired policy of key into *rec; false if none */
static bool
sts_cache_get(struct lookup *cache, const struct buf *key, int64_t now,
    const char *domain, struct mta_sts_record *rec, struct buf *note)
{
	struct buf val = BUF_INIT(LOOKUP_VALUE_MAX), err = BUF_INIT(0);
	int found;

	memset(rec, 0, sizeof(*rec));
	if (cache == NULL)
		return false;
	found = lookup_get(cache, key->data, key->len, &val, &err);
	if (found < 0)
		buf_addf(note, "MTA-STS %s: cache read failed: %s\n", domain,
		    buf_cstr(&err));
	if (found == 1 && mta_sts_record_decode(val.data, val.len, rec) !=
	    PARSE_OK) {
		buf_addf(note, "MTA-STS %s: cached record unreadable, "
		    "ignored\n", domain);
		found = 0;
	}
	if (found == 1 && rec->expires <= now) {
		mta_sts_policy_free(&rec->policy);
		found = 0;
	}
	buf_free(&val);
	buf_free(&err);
	return found == 1;
}

static void
sts_cache_put(struct lookup *cache, const struct buf *key, int64_t now,
    const char *domain, const char *id, const struct buf *body,
    uint32_t max_age, struct buf *note)
{
	struct buf val = BUF_INIT(0), err = BUF_INIT(0);
	int rc;

	if (cache == NULL)
		return;
	if (max_age == 0) {	/* valid for no time: keep nothing */
		rc = lookup_delete(cache, key->data, key->len, &err);
	} else {
		mta_sts_record_encode(now, now + max_age, id,
		    (const char *)body->data, body->len, &val);
		rc = lookup_set(cache, key->data, key->len, val.data, val.len,
		    max_age, &err);
	}
	if (rc < 0)
		buf_addf(note, "MTA-STS %s: cache write failed: %s\n", domain,
		    buf_cstr(&err));
	buf_free(&val);
	buf_free(&err);
}

/* fetch and parse; 0 with st filled and the policy cached */
static int
sts_refresh(struct dns *dns, struct lookup *cache, const struct buf *key,
    const char *domain, const char *id,
    const struct mta_sts_fetch_options *opt, int64_t now,
    struct mta_sts_state *st, struct buf *note)
{
	struct buf body = BUF_INIT(0), err = BUF_INIT(0);
	struct mta_sts_policy p;
	int rc = -1;

	if (mta_sts_fetch(dns, domain, opt, &body, &err) < 0) {
		buf_addf(note, "MTA-STS %s: policy fetch failed: %s\n",
		    domain, buf_cstr(&err));
	} else if (mta_sts_policy_parse((const char *)body.data, body.len,
	    &p, &err) != PARSE_OK) {
		buf_addf(note, "MTA-STS %s: bad policy: %s\n", domain,
		    buf_cstr(&err));
	} else {
		sts_cache_put(cache, key, now, domain, id, &body, p.max_age,
		    note);
		st->found = true;
		st->fetched = true;
		snprintf(st->id, sizeof(st->id), "%s", id);
		st->expires = now + p.max_age;
		st->policy = p;
		rc = 0;
	}
	buf_free(&body);
	buf_free(&err);
	return rc;
}

void
mta_sts_fetch_policy(struct dns *dns, struct lookup *cache,
    const char *domain, const struct mta_sts_fetch_options *opt,
    int64_t now, struct mta_sts_state *st, struct buf *note)
{
	struct buf key = BUF_INIT(0), name = BUF_INIT(0), derr = BUF_INIT(0);
	struct mta_sts_record rec;
	struct dns_result r;
	char id[MTA_STS_ID_MAX + 1];
	bool cached, have_id = false;
	size_t dlen = strlen(domain);

	memset(st, 0, sizeof(*st));
	if (dlen > 1 && domain[dlen - 1] == '.')
		dlen--;
	buf_add_str(&key, MTA_STS_CACHE_PREFIX);
	for (size_t i = 0; i < dlen; i++) {
		char ch = (char)ascii_tolower((unsigned char)domain[i]);

		buf_add(&key, &ch, 1);
	}
	domain = buf_cstr(&key) + strlen(MTA_STS_CACHE_PREFIX);
	cached = sts_cache_get(cache, &key, now, domain, &rec, note);

	buf_addf(&name, STS_TXT_PREFIX "%s", domain);
	if (dns_txt(dns, buf_cstr(&name), &r, &derr) == 0 &&
	    r.status == DNS_OK)
		have_id = mta_sts_txt_select(r.txt, r.ntxt, id) == PARSE_OK;
	else if (dns_status_is_temporary(r.status))
		buf_addf(note, "MTA-STS %s: TXT lookup failed: %s\n", domain,
		    buf_cstr(&derr));
	dns_result_free(&r);

	if (have_id && (!cached || strcmp(rec.id, id) != 0) &&
	    sts_refresh(dns, cache, &key, domain, id, opt, now, st,
	    note) == 0) {
		if (cached)
			mta_sts_policy_free(&rec.policy);
	} else if (cached) {
		/* same id, no TXT record, DNS failure or failed refresh */
		st->found = true;
		st->from_cache = true;
		memcpy(st->id, rec.id, sizeof(st->id));
		st->expires = rec.expires;
		st->policy = rec.policy;
	}
	buf_free(&key);
	buf_free(&name);
	buf_free(&derr);
}

void
mta_sts_state_free(struct mta_sts_state *st)
{
	mta_sts_policy_free(&st->policy);
	memset(st, 0, sizeof(*st));
}
