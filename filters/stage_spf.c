/*
 * stage_spf.c - the "spf" stage: Sender Policy Framework (RFC 7208) with
 * libspf2, whose DNS goes through common/dns.
 *
 * When.  At MAIL FROM: first the "HELO" identity when spf.helo is on and
 * the HELO name is a domain name (RFC 7208 2.3; sender postmaster@<HELO>),
 * then the "MAIL FROM" identity (2.4; for the null sender that is
 * postmaster@<HELO name>, the same check, done once).  A domain that is
 * not a multi-label host name gives "none" without a lookup (4.3).  With
 * spf.reject_fail, a fail of either identity refuses MAIL with 550 5.7.23
 * (RFC 7372) and the explanation (the domain's exp= text, 6.2, or ours);
 * otherwise everything is scored at the data step, where the
 * Authentication-Results clauses are added (RFC 8601 2.7.2):
 *
 *   spf=pass smtp.mailfrom=user@example.org
 *   spf=none smtp.helo=mx.example.net           (when HELO was checked)
 *
 * Symbols: SPF_PASS, SPF_FAIL, SPF_SOFTFAIL, SPF_NEUTRAL, SPF_NONE,
 * SPF_PERMERROR with the spf.* scores, SPF_TEMPERROR at 0; the HELO
 * result as SPF_HELO_<RESULT> at 0: it is information (and a reason to
 * refuse), the MAIL FROM result is what scores.  The result is published
 * for the DMARC stage (stage_spf.h).
 *
 * libspf2 and our resolver.  Each check builds its own SPF_server_t whose
 * DNS layer (SPF_dns_server_t) is ours: lookup() answers A, AAAA, MX, PTR
 * and TXT from common/dns, get_spf() fetches and compiles the record
 * (TXT only: the SPF RR type is gone, RFC 7208 3.1), get_exp() fetches
 * and expands exp= (libspf2's own path leaks the answer).  A check's
 * context (the hook) holds the counters, so nothing is shared between
 * threads.  Our layer also enforces what libspf2 does not, or not fully
 * (RFC 7208 4.6.4): at most SPF_TERMS_MAX DNS-querying terms over the
 * whole evaluation, includes and redirects counted (libspf2 counts per
 * record), and at most SPF_VOID_MAX void lookups (NXDOMAIN or no
 * records); going over either stops the evaluation and the result is
 * permerror.  The address lookups that follow an "mx" or "ptr" term
 * (for the names it returned) belong to that term; at most
 * SPF_PTR_NAMES_MAX PTR names are handed to libspf2 (4.6.4: the rest are
 * ignored).  libspf2 itself limits MX names to 10 (permerror beyond).
 *
 * Time.  Every lookup is bounded by the resolver's timeout; before each
 * one the stage's budget (filter_deadline_ms) is checked, and a check out
 * of time ends as temperror.
 *
 * libspf2 passes loopback clients (127/8, ::1) without a lookup; they get
 * here only when filters.trust_loopback is off.
 */
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <spf2/spf.h>

#include "common/dns.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "filters/filters.h"
#include "filters/stage_spf.h"

#define SPF_SVC "spf"
#define SPF_TERMS_MAX 10	/* DNS-querying terms, RFC 7208 4.6.4 */
#define SPF_VOID_MAX 2		/* void lookups, RFC 7208 4.6.4 */
#define SPF_PTR_NAMES_MAX 10	/* PTR names looked at, RFC 7208 4.6.4 */
#define SPF_SUB_MAX 16		/* names of the last mx/ptr term kept */
/* our explanation when the domain gives none (RFC 7208 6.2) */
#define SPF_EXP_DEFAULT \
    "%{o}%_does%_not%_designate%_%{i}%_as%_a%_permitted%_sender"

static const char *const spf_res_names[] = { "none", "neutral", "pass",
	"fail", "softfail", "temperror", "permerror" };
static const char *const spf_syms[] = { "SPF_NONE", "SPF_NEUTRAL",
	"SPF_PASS", "SPF_FAIL", "SPF_SOFTFAIL", "SPF_TEMPERROR",
	"SPF_PERMERROR" };
static const char *const spf_helo_syms[] = { "SPF_HELO_NONE",
	"SPF_HELO_NEUTRAL", "SPF_HELO_PASS", "SPF_HELO_FAIL",
	"SPF_HELO_SOFTFAIL", "SPF_HELO_TEMPERROR", "SPF_HELO_PERMERROR" };

struct spf_state {
	const struct config_spf *cfg;
	const char *hostname;	/* the receiving host, %{r} */
	struct dns *dns;
};

/* one check_host() evaluation: the hook of our DNS layer */
struct spf_check {
	struct dns *dns;
	struct filter_msg *m;	/* the time budget */
	SPF_request_t *req;	/* for expanding exp= */
	bool want_exp;		/* fetch exp= (only to refuse) */
	bool fetched;		/* the first record was fetched: later
				   fetches are include/redirect */
	unsigned terms, voids;
	bool over_limit, out_of_time;
	char *sub[SPF_SUB_MAX];	/* names of the last mx/ptr term */
	size_t nsub;
	struct buf why;		/* what went wrong, for the log */
};

/* the transaction's state (stage_data); pub first */
struct spf_txn {
	struct spf_result pub;
	char *mailfrom;		/* the identity checked, for the log */
};

/* ---- libspf2's messages ---- */

static NORETURN void
spf_log_error(const char *file, int line, const char *msg)
{
	PANIC("libspf2 %s:%d: %s", file, line, msg);
}

static void
spf_log_warning(const char *file, int line, const char *msg)
{
	(void)file;
	(void)line;
	log_debug(SPF_SVC, "libspf2: %s", msg);
}

/* ---- the DNS layer ---- */

static void
spf_why(struct spf_check *c, const char *what)
{
	if (c->why.len > 0)
		buf_add_str(&c->why, "; ");
	buf_add_str(&c->why, what);
}

static void
spf_sub_clear(struct spf_check *c)
{
	for (size_t i = 0; i < c->nsub; i++)
		free(c->sub[i]);
	c->nsub = 0;
}

static void
spf_sub_add(struct spf_check *c, const char *name)
{
	if (c->nsub < SPF_SUB_MAX)
		c->sub[c->nsub++] = xstrdup(name);
}

/* spf_is_sub - an address lookup for a name the last mx/ptr term gave */
static bool
spf_is_sub(const struct spf_check *c, const char *name)
{
	size_t n = strlen(name);

	if (n > 0 && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < c->nsub; i++)
		if (strlen(c->sub[i]) == n &&
		    ascii_strncasecmp(c->sub[i], name, n) == 0)
			return true;
	return false;
}

/*
 * spf_may_ask - whether a lookup may go out: not once a limit was passed
 * or the time is up; a term over SPF_TERMS_MAX passes the limit.  A term
 * that may go is counted.
 */
static bool
spf_may_ask(struct spf_check *c, bool term, const char *name)
{
	if (c->over_limit || c->out_of_time)
		return false;
	if (filter_deadline_ms(c->m) <= 1) {
		c->out_of_time = true;
		spf_why(c, "out of time");
		return false;
	}
	if (!term)
		return true;
	if (c->terms >= SPF_TERMS_MAX) {
		c->over_limit = true;
		buf_addf(&c->why, "%smore than %d DNS-querying terms (at %s)",
		    c->why.len > 0 ? "; " : "", SPF_TERMS_MAX, name);
		return false;
	}
	c->terms++;
	spf_sub_clear(c);
	return true;
}

/* spf_void - count a void lookup of a term; false once over the limit */
static bool
spf_void(struct spf_check *c, const char *name)
{
	if (++c->voids <= SPF_VOID_MAX)
		return true;
	c->over_limit = true;
	buf_addf(&c->why, "%smore than %d void lookups (at %s)",
	    c->why.len > 0 ? "; " : "", SPF_VOID_MAX, name);
	return false;
}

static void
spf_rr_add(SPF_dns_rr_t *rr, const void *p, size_t len)
{
	if (SPF_dns_rr_buf_realloc(rr, rr->num_rr, len) != SPF_E_SUCCESS)
		PANIC("libspf2: out of memory");
	memcpy(rr->rr[rr->num_rr], p, len);
	rr->num_rr++;
}

static SPF_dns_rr_t *
spf_dns_lookup(SPF_dns_server_t *ds, const char *domain, ns_type type,
    int should_cache)
{
	struct spf_check *c = ds->hook;
	struct buf err = BUF_INIT(0);
	struct dns_result r;
	SPF_dns_rr_t *rr;
	bool term;
	int rc, herrno;

	(void)should_cache;
	rr = SPF_dns_rr_new_init(ds, domain, type, 0, TRY_AGAIN);
	if (rr == NULL)
		PANIC("libspf2: out of memory");
	if (type != ns_t_a && type != ns_t_aaaa && type != ns_t_mx &&
	    type != ns_t_ptr && type != ns_t_txt) {
		rr->herrno = NO_DATA;	/* the SPF type (99), ANY */
		return rr;
	}
	term = !((type == ns_t_a || type == ns_t_aaaa) &&
	    spf_is_sub(c, domain));
	if (!spf_may_ask(c, term, domain))
		return rr;		/* TRY_AGAIN: libspf2 stops */
	switch (type) {
	case ns_t_a:
	case ns_t_aaaa:
		rc = dns_addrs(c->dns, domain, type == ns_t_a ? AF_INET :
		    AF_INET6, &r, &err);
		for (size_t i = 0; rc == 0 && i < r.naddr; i++) {
			const struct sockaddr *sa =
			    (const struct sockaddr *)&r.addr[i].ss;

			if (type == ns_t_a && sa->sa_family == AF_INET)
				spf_rr_add(rr, &((const struct sockaddr_in *)
				    sa)->sin_addr, sizeof(struct in_addr));
			else if (type == ns_t_aaaa &&
			    sa->sa_family == AF_INET6)
				spf_rr_add(rr, &((const struct sockaddr_in6 *)
				    sa)->sin6_addr, sizeof(struct in6_addr));
		}
		break;
	case ns_t_mx:
		rc = dns_mx(c->dns, domain, &r, &err);
		for (size_t i = 0; rc == 0 && i < r.nmx; i++) {
			spf_rr_add(rr, r.mx[i].host, strlen(r.mx[i].host) + 1);
			spf_sub_add(c, r.mx[i].host);
		}
		break;
	case ns_t_ptr:
		rc = dns_query(c->dns, domain, DNS_T_PTR, &r, &err);
		if (rc == 0 && r.status == DNS_OK)
			(void)dns_parse_ptr(&r);
		for (size_t i = 0; rc == 0 && i < r.nname &&
		    i < SPF_PTR_NAMES_MAX; i++) {
			spf_rr_add(rr, r.name[i], strlen(r.name[i]) + 1);
			spf_sub_add(c, r.name[i]);
		}
		break;
	default:	/* ns_t_txt */
		rc = dns_txt(c->dns, domain, &r, &err);
		for (size_t i = 0; rc == 0 && i < r.ntxt; i++)
			if (memchr(r.txt[i].text, '\0', r.txt[i].len) == NULL)
				spf_rr_add(rr, r.txt[i].text, r.txt[i].len + 1);
		break;
	}
	if (rc < 0) {
		spf_why(c, buf_cstr(&err));
		/* a name that cannot be asked (a macro made it) is treated
		 * as one that does not exist */
		herrno = dns_status_is_temporary(r.status) ? TRY_AGAIN :
		    HOST_NOT_FOUND;
	} else if (r.status == DNS_NXDOMAIN) {
		herrno = HOST_NOT_FOUND;
	} else if (r.status == DNS_NODATA || rr->num_rr == 0) {
		herrno = NO_DATA;
	} else {
		herrno = NETDB_SUCCESS;
		rr->ttl = r.ttl;
	}
	if (term && (herrno == HOST_NOT_FOUND || herrno == NO_DATA) &&
	    !spf_void(c, domain))
		herrno = TRY_AGAIN;
	rr->herrno = herrno;
	dns_result_free(&r);
	buf_free(&err);
	return rr;
}

/* spf_is_record - "v=spf1" alone or followed by a space (RFC 7208 4.5) */
static bool
spf_is_record(const struct dns_txt *t)
{
	return t->len >= 6 && ascii_strncasecmp(t->text, "v=spf1", 6) == 0 &&
	    (t->len == 6 || t->text[6] == ' ');
}

/*
 * spf_get_spf - the record of req->cur_dom, compiled (RFC 7208 4.4,
 * 4.5).  Errors: SPF_E_DNS_ERROR is temporary (temperror; libspf2 maps it
 * so inside include and redirect), SPF_E_NOT_SPF is "no record" (none at
 * the top, permerror inside include), anything else permerror.
 */
static SPF_errcode_t
spf_get_spf(SPF_server_t *srv, SPF_request_t *req, SPF_response_t *resp,
    SPF_record_t **recp)
{
	struct spf_check *c = srv->resolver->hook;
	const char *domain = req->cur_dom;
	bool term = c->fetched;		/* include: or redirect= */
	struct buf err = BUF_INIT(0);
	struct dns_result r;
	const struct dns_txt *rec = NULL;
	SPF_errcode_t e;
	size_t n = 0;

	*recp = NULL;
	c->fetched = true;
	if (!spf_may_ask(c, term, domain))
		return SPF_response_add_error(resp, SPF_E_DNS_ERROR,
		    "evaluation stopped before '%s'", domain);
	if (dns_txt(c->dns, domain, &r, &err) < 0) {
		spf_why(c, buf_cstr(&err));
		buf_free(&err);
		e = dns_status_is_temporary(r.status) ? SPF_E_DNS_ERROR :
		    SPF_E_NOT_SPF;	/* a bad name: "none", RFC 7208 4.3 */
		dns_result_free(&r);
		return SPF_response_add_error(resp, e, "no record for '%s'",
		    domain);
	}
	buf_free(&err);
	if (r.status != DNS_OK) {
		dns_result_free(&r);
		if (term && !spf_void(c, domain))
			return SPF_response_add_error(resp, SPF_E_DNS_ERROR,
			    "too many void lookups");
		return SPF_response_add_error(resp, SPF_E_NOT_SPF,
		    "no record for '%s'", domain);
	}
	for (size_t i = 0; i < r.ntxt; i++)
		if (spf_is_record(&r.txt[i])) {
			rec = &r.txt[i];
			n++;
		}
	if (r.truncated && n <= 1) {
		/* the set we saw may not be the whole set: "exactly one"
		 * cannot be known, and asking again will not help */
		e = SPF_E_BIG_STRING;
		SPF_response_add_error(resp, e, "TXT records of '%s' over our "
		    "limits", domain);
	} else if (n == 0) {
		e = SPF_response_add_error(resp, SPF_E_NOT_SPF,
		    "no SPF record for '%s'", domain);
	} else if (n > 1) {
		e = SPF_response_add_error(resp, SPF_E_MULTIPLE_RECORDS,
		    "more than one SPF record for '%s'", domain);
	} else if (memchr(rec->text, '\0', rec->len) != NULL) {
		e = SPF_response_add_error(resp, SPF_E_INVALID_CHAR,
		    "NUL in the SPF record of '%s'", domain);
	} else {
		e = SPF_record_compile(srv, resp, recp, rec->text);
		if (e != SPF_E_SUCCESS) {
			buf_addf(&c->why, "%sthe record of %s: %s",
			    c->why.len > 0 ? "; " : "", domain,
			    SPF_strerror(e));
			if (*recp != NULL)
				SPF_record_free(*recp);
			*recp = NULL;
			/* keep the errors that libspf2 maps to "none" or
			 * temperror out of a syntax error's way */
			if (e == SPF_E_NOT_SPF || e == SPF_E_DNS_ERROR)
				e = SPF_E_SYNTAX;
		}
	}
	dns_result_free(&r);
	return e;
}

/*
 * spf_get_exp - the exp= explanation (RFC 7208 6.2): the TXT record at
 * domain, exactly one, macro-expanded into *bufp.  Any error: no
 * explanation (libspf2 then has none, and the reply says ours).
 */
static SPF_errcode_t
spf_get_exp(SPF_server_t *srv, const char *domain, char **bufp,
    size_t *buflenp)
{
	struct spf_check *c = srv->resolver->hook;
	struct buf err = BUF_INIT(0), text = BUF_INIT(0);
	struct dns_result r;
	SPF_response_t *scratch;
	SPF_macro_t *mac = NULL;
	SPF_errcode_t e = SPF_E_NOT_SPF;
	char *name;

	/* the result is known by now: running out of time here costs the
	 * explanation, not the result */
	if (!c->want_exp || c->over_limit || c->out_of_time ||
	    filter_deadline_ms(c->m) <= 1)
		return SPF_E_NOT_SPF;
	name = xstrdup(domain);		/* domain is *bufp */
	if (dns_txt(c->dns, name, &r, &err) == 0 && r.status == DNS_OK &&
	    r.ntxt == 1 && memchr(r.txt[0].text, '\0', r.txt[0].len) ==
	    NULL) {
		scratch = SPF_response_new(c->req);
		if (scratch == NULL)
			PANIC("libspf2: out of memory");
		/* libspf2's macro compiler mangles a literal space and
		 * what follows it: give it "%_", the macro of a space */
		for (size_t i = 0; i < r.txt[0].len; i++)
			if (r.txt[0].text[i] == ' ')
				buf_add_str(&text, "%_");
			else
				buf_add(&text, &r.txt[0].text[i], 1);
		e = SPF_record_compile_macro(srv, scratch, &mac,
		    buf_cstr(&text));
		if (e == SPF_E_SUCCESS)
			/* the data follows the header (spf_record.h) */
			e = SPF_record_expand_data(srv, c->req, scratch,
			    (SPF_data_t *)(void *)((char *)mac + sizeof(*mac)),
			    mac->macro_len, bufp, buflenp);
		if (mac != NULL)
			SPF_macro_free(mac);
		SPF_response_free(scratch);
	}
	dns_result_free(&r);
	buf_free(&err);
	buf_free(&text);
	free(name);
	return e;
}

/* ---- one check ---- */

/* spf_res_of - libspf2's result as ours (INVALID, unknown: permerror) */
static enum spf_res
spf_res_of(SPF_result_t r)
{
	static const enum spf_res of[] = {
		[SPF_RESULT_INVALID] = SPF_RES_PERMERROR,
		[SPF_RESULT_NEUTRAL] = SPF_RES_NEUTRAL,
		[SPF_RESULT_PASS] = SPF_RES_PASS,
		[SPF_RESULT_FAIL] = SPF_RES_FAIL,
		[SPF_RESULT_SOFTFAIL] = SPF_RES_SOFTFAIL,
		[SPF_RESULT_NONE] = SPF_RES_NONE,
		[SPF_RESULT_TEMPERROR] = SPF_RES_TEMPERROR,
		[SPF_RESULT_PERMERROR] = SPF_RES_PERMERROR,
	};

	return (unsigned)r < ARRAY_SIZE(of) ? of[r] : SPF_RES_PERMERROR;
}

/*
 * spf_eval - check_host() for the client of m, sender (a mailbox) and
 * helo; use_helo: the HELO identity.  On a fail the explanation goes to
 * exp when want_exp.
 */
static enum spf_res
spf_eval(const struct spf_state *st, struct filter_msg *m,
    const char *sender, const char *helo, bool use_helo, bool want_exp,
    struct buf *exp, struct buf *why)
{
	const struct sockaddr *sa = (const struct sockaddr *)&m->conn->addr.ss;
	struct spf_check c;
	SPF_dns_server_t layer;
	SPF_server_t *srv;
	SPF_request_t *req;
	SPF_response_t *resp = NULL;
	unsigned char ip[16];
	size_t iplen = netaddr_ip_bytes(sa, ip);
	SPF_errcode_t e;
	enum spf_res res;

	if (iplen == 0) {	/* a UNIX-socket client */
		buf_add_str(why, "the client has no IP address");
		return SPF_RES_NONE;
	}
	memset(&c, 0, sizeof(c));
	c.dns = st->dns;
	c.m = m;
	c.want_exp = want_exp;
	buf_init(&c.why, 0);
	/* destroy NULL: the layer is ours (on this stack), SPF_server_free
	 * leaves it alone */
	memset(&layer, 0, sizeof(layer));
	layer.lookup = spf_dns_lookup;
	layer.get_spf = spf_get_spf;
	layer.get_exp = spf_get_exp;
	layer.name = "postern";
	layer.hook = &c;
	srv = SPF_server_new_dns(&layer, 0);
	if (srv == NULL)
		PANIC("libspf2: out of memory");
	if (SPF_server_set_rec_dom(srv, st->hostname) != SPF_E_SUCCESS ||
	    SPF_server_set_explanation(srv, SPF_EXP_DEFAULT, &resp) !=
	    SPF_E_SUCCESS)
		PANIC("libspf2: cannot set up a server");
	SPF_response_free(resp);
	resp = NULL;
	(void)SPF_server_set_sanitize(srv, 1);
	(void)SPF_server_set_max_dns_mech(srv, SPF_TERMS_MAX);
	(void)SPF_server_set_max_dns_mx(srv, 10);
	(void)SPF_server_set_max_dns_ptr(srv, SPF_PTR_NAMES_MAX);
	req = SPF_request_new(srv);
	if (req == NULL)
		PANIC("libspf2: out of memory");
	c.req = req;
	if (iplen == 4) {
		struct in_addr a;

		memcpy(&a, ip, 4);
		(void)SPF_request_set_ipv4(req, a);
	} else {
		struct in6_addr a;

		memcpy(&a, ip, 16);
		(void)SPF_request_set_ipv6(req, a);
	}
	if (helo != NULL && SPF_request_set_helo_dom(req, helo) !=
	    SPF_E_SUCCESS)
		PANIC("libspf2: out of memory");
	if (use_helo)
		req->use_helo = 1;	/* no setter in libspf2 */
	else if (SPF_request_set_env_from(req, sender) != SPF_E_SUCCESS)
		PANIC("libspf2: out of memory");
	e = SPF_request_query_mailfrom(req, &resp);
	if (c.over_limit) {
		res = SPF_RES_PERMERROR;
	} else if (c.out_of_time) {
		res = SPF_RES_TEMPERROR;
	} else if (resp != NULL &&
	    SPF_response_result(resp) != SPF_RESULT_INVALID) {
		res = spf_res_of(SPF_response_result(resp));
	} else {
		/* the record was not had: our get_spf said why */
		res = e == SPF_E_DNS_ERROR ? SPF_RES_TEMPERROR :
		    e == SPF_E_NOT_SPF ? SPF_RES_NONE : SPF_RES_PERMERROR;
	}
	if ((res == SPF_RES_PERMERROR || res == SPF_RES_TEMPERROR) &&
	    e != SPF_E_SUCCESS && c.why.len == 0)
		spf_why(&c, SPF_strerror(e));
	if (res == SPF_RES_FAIL && want_exp && resp != NULL &&
	    SPF_response_get_explanation(resp) != NULL)
		buf_add_str(exp, SPF_response_get_explanation(resp));
	buf_add(why, c.why.data, c.why.len);
	if (resp != NULL)
		SPF_response_free(resp);
	SPF_request_free(req);
	SPF_server_free(srv);
	spf_sub_clear(&c);
	buf_free(&c.why);
	return res;
}

/* spf_is_domain - a domain SPF can check: a multi-label host name */
static bool
spf_is_domain(const char *d)
{
	return dns_is_host_name(d, strlen(d)) && strchr(d, '.') != NULL;
}

static void
spf_copy(char out[256], const char *s)
{
	size_t n = strlen(s);

	if (n > 255)
		n = 255;
	memcpy(out, s, n);
	out[n] = '\0';
}

/* spf_add_identity - an identity as an RFC 8601 pvalue: as it is when
 * it is made of atext, '.' and '@'; otherwise a quoted-string of its
 * printable ASCII */
static void
spf_add_identity(struct buf *out, const char *s)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~.@";
	bool plain = *s != '\0';

	for (const char *p = s; *p != '\0' && plain; p++)
		plain = is_ascii_alnum((unsigned char)*p) ||
		    strchr(atext, *p) != NULL;
	if (plain) {
		buf_add_str(out, s);
		return;
	}
	buf_add_str(out, "\"");
	for (const char *p = s; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			continue;
		if (*p == '"' || *p == '\\')
			buf_add_str(out, "\\");
		buf_add(out, p, 1);
	}
	buf_add_str(out, "\"");
}

static void
spf_log(struct filter_msg *m, const char *identity, const char *value,
    enum spf_res res, const struct buf *why)
{
	log_info(SPF_SVC, "%s: spf=%s %s=<%s> client=%s%s%s",
	    m->qid[0] != '\0' ? m->qid : "NOQUEUE", spf_res_names[res],
	    identity, value, m->conn->ip, why->len > 0 ? ": " : "",
	    buf_cstr(why));
}

/* ---- the stage ---- */

extern const struct filter_stage_ops filter_stage_spf;

static int
spf_init(const struct filter_env *env, void **state_r, struct buf *err)
{
	struct spf_state *st;

	/* libspf2's message hooks are process-wide; ours are the same for
	 * every pipeline, so setting them again is harmless */
	SPF_error_handler = spf_log_error;
	SPF_warning_handler = spf_log_warning;
	SPF_info_handler = spf_log_warning;
	SPF_debug_handler = NULL;
	st = xcalloc(1, sizeof(*st));
	st->cfg = &env->cfg->spf;
	st->hostname = env->cfg->server.hostname;
	st->dns = env->dns;
	*state_r = st;
	return 0;
}

static void
spf_free_state(void *state)
{
	free(state);
}

static void
spf_txn_free(struct spf_txn *t)
{
	if (t == NULL)
		return;
	free(t->mailfrom);
	free(t);
}

/* spf_refuse - the 550 5.7.23 of a fail (RFC 7372, RFC 7208 8.4) */
static enum filter_action
spf_refuse(struct filter_msg *m, struct filter_reply *r, const char *domain,
    const struct buf *exp)
{
	if (exp->len > 0)
		filter_reply_set(r, 550, "5.7.23", "SPF validation failed: %s",
		    buf_cstr(exp));
	else
		filter_reply_set(r, 550, "5.7.23", "SPF validation failed: "
		    "%s does not designate %s as a permitted sender", domain,
		    m->conn->ip);
	return FILTER_REJECT;
}

static enum filter_action
spf_mail(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct spf_state *st = state;
	void **slot = filters_stage_data(m, &filter_stage_spf);
	const char *helo = m->conn->helo;
	bool helo_ok = helo != NULL && spf_is_domain(helo);
	struct buf exp = BUF_INIT(0), why = BUF_INIT(0);
	struct spf_txn *t;
	const char *at, *domain;
	enum filter_action a = FILTER_CONTINUE;

	ASSERT(slot != NULL);
	spf_txn_free(*slot);
	*slot = t = xcalloc(1, sizeof(*t));
	t->pub.null_sender = m->sender[0] == '\0';

	/* HELO first (RFC 7208 2.3); for the null sender it is the MAIL
	 * FROM check itself, below */
	if (st->cfg->helo && helo_ok && !t->pub.null_sender) {
		t->pub.helo_checked = true;
		spf_copy(t->pub.helo, helo);
		t->pub.helo_result = spf_eval(st, m, NULL, helo, true,
		    st->cfg->reject_fail, &exp, &why);
		spf_log(m, "helo", helo, t->pub.helo_result, &why);
		if (t->pub.helo_result == SPF_RES_FAIL &&
		    st->cfg->reject_fail) {
			a = spf_refuse(m, r, helo, &exp);
			goto out;
		}
		buf_reset(&why);
	}

	if (t->pub.null_sender) {
		struct buf pm = BUF_INIT(0);

		buf_addf(&pm, "postmaster@%s", helo != NULL ? helo : "");
		t->mailfrom = buf_steal(&pm, NULL);
		domain = helo != NULL ? helo : "";
	} else {
		t->mailfrom = xstrdup(m->sender);
		at = strrchr(m->sender, '@');
		domain = at != NULL ? at + 1 : "";
	}
	if (spf_is_domain(domain)) {
		spf_copy(t->pub.domain, domain);
		t->pub.result = spf_eval(st, m, t->mailfrom, helo, false,
		    st->cfg->reject_fail, &exp, &why);
	} else {
		t->pub.result = SPF_RES_NONE;
		buf_add_str(&why, "not a domain name");
	}
	spf_log(m, "mailfrom", t->mailfrom, t->pub.result, &why);
	if (t->pub.null_sender && st->cfg->helo && helo_ok) {
		/* the same identity: one check, two clauses */
		t->pub.helo_checked = true;
		spf_copy(t->pub.helo, helo);
		t->pub.helo_result = t->pub.result;
	}
	if (t->pub.result == SPF_RES_FAIL && st->cfg->reject_fail)
		a = spf_refuse(m, r, domain, &exp);
out:
	buf_free(&exp);
	buf_free(&why);
	return a;
}

static enum filter_action
spf_data(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct spf_state *st = state;
	void **slot = filters_stage_data(m, &filter_stage_spf);
	const struct spf_txn *t;
	const double scores[] = { st->cfg->none, st->cfg->neutral,
		st->cfg->pass, st->cfg->fail, st->cfg->softfail, 0.0,
		st->cfg->permerror };
	struct buf v = BUF_INIT(0);

	(void)r;
	ASSERT(slot != NULL);
	if ((t = *slot) == NULL || t->mailfrom == NULL)
		return FILTER_CONTINUE;	/* MAIL was not checked */
	filter_symbol(m, spf_syms[t->pub.result], scores[t->pub.result]);
	spf_add_identity(&v, t->mailfrom);
	filter_ar(m, "spf=%s smtp.mailfrom=%s",
	    spf_res_names[t->pub.result], buf_cstr(&v));
	if (t->pub.helo_checked) {
		filter_symbol(m, spf_helo_syms[t->pub.helo_result], 0.0);
		filter_ar(m, "spf=%s smtp.helo=%s",
		    spf_res_names[t->pub.helo_result], t->pub.helo);
	}
	buf_free(&v);
	return FILTER_CONTINUE;
}

static void
spf_txn_end(void *state, struct filter_msg *m, void *data)
{
	(void)state;
	(void)m;
	spf_txn_free(data);
}

const struct filter_stage_ops filter_stage_spf = {
	.name = "spf",
	.needs_dns = true,
	.inbound_only = true,
	.init = spf_init,
	.free = spf_free_state,
	.mail = spf_mail,
	.data = spf_data,
	.txn_end = spf_txn_end,
};

const struct spf_result *
stage_spf_result(const struct filter_msg *m)
{
	void **slot = filters_stage_data(m, &filter_stage_spf);

	if (slot == NULL || *slot == NULL)
		return NULL;
	return &((const struct spf_txn *)*slot)->pub;
}

const char *
stage_spf_res_name(enum spf_res res)
{
	return (unsigned)res < ARRAY_SIZE(spf_res_names) ?
	    spf_res_names[res] : "?";
}
