/*
 * stage_dmarc.c - the dmarc filter stage (RFC 7489): at the data step,
 * the domain of the RFC5322.From address, its DMARC policy record, and
 * whether an SPF or DKIM pass is aligned with it; the verdict becomes an
 * Authentication-Results clause, a symbol and, when the configuration
 * says so, the domain's requested action (p=reject: 550 5.7.1;
 * p=quarantine: into Junk).  Aggregate and failure reports (rua=, ruf=)
 * are not sent.
 *
 * RFC 7489 6.6.1, the From domain: the message must have exactly one
 * From field with exactly one address, whose domain is a host name;
 * anything else is permerror (and nothing is enforced).  Internationalised
 * (UTF-8) domains count as unusable: XXX convert U-labels to A-labels.
 *
 * RFC 7489 6.6.3, policy discovery, done by us through common/dns (never
 * by libopendmarc): TXT at _dmarc.<From domain>; records not starting
 * with "v=DMARC1" are dropped; none left: the same at
 * _dmarc.<organizational domain> (3.2: the Public Suffix List at
 * dmarc.public_suffix_list, read by libopendmarc; a domain under a
 * suffix the list does not know takes its last two labels, the list's
 * default rule); more than one left: no policy (none).  A temporary DNS
 * failure is temperror.
 *
 * The evaluation is libopendmarc's: the record is handed over with
 * opendmarc_policy_store_dmarc (a record it cannot parse: permerror), the
 * SPF result (stage_spf.h) with opendmarc_policy_store_spf, every DKIM
 * signature (stage_dkim.h) with opendmarc_policy_store_dkim, and
 * opendmarc_get_policy_to_enforce applies adkim=/aspf= and chooses p= or
 * sp= (sp= when the record came from the organizational domain, 6.6.3).
 * Alignment (3.1) is also checked here, and an SPF or DKIM pass that is
 * not aligned by our check reaches the library as a fail: libopendmarc
 * 1.4.2 counts d=sub.example.org as strictly aligned with From
 * example.org, and its relaxed check is unreliable for domains under a
 * suffix missing from the list.  A fail where an aligned identifier
 * could not be checked (DKIM or SPF temperror) is temperror: a retry may
 * pass.  pct= is applied here (libopendmarc leaves it to the caller), as
 * 6.6.4 says: a message not selected gets the next policy down (reject
 * becomes quarantine, quarantine becomes none).
 *
 * Outcomes: pass: DMARC_PASS (dmarc.pass); fail: DMARC_FAIL (dmarc.fail)
 * and, for p=reject with dmarc.reject, FILTER_REJECT 550 5.7.1 "Rejected
 * by DMARC policy for <domain>", for p=quarantine with dmarc.quarantine,
 * FILTER_QUARANTINE (into Junk); no record: DMARC_NONE (0); temperror,
 * permerror: DMARC_TEMPERROR, DMARC_PERMERROR (0).  Authentication-Results
 * (RFC 7489 11.2, RFC 8601): "dmarc=pass (p=reject dis=none)
 * header.from=example.org", where p= is the policy that applied (sp=
 * shown as well when the subdomain policy was used) and dis= what is
 * done to the message.
 *
 * Order: "spf" and "dkim" must come before "dmarc" in filters.stages.
 * Without one of them in the pipeline DMARC goes on with the other's
 * result only; with one that has no result for the message (the dkim
 * stage does not verify a message too large to scan, a stage failed, or
 * it comes after "dmarc"), a fail is not to be trusted: it becomes none
 * ("DKIM not verified"), and nothing is enforced.
 *
 * XXX libopendmarc keeps the Public Suffix List in a table of its own,
 * global to the process; the stage loads it in init (single-threaded
 * start-up) and the pipelines that use it count their references here,
 * the last one freeing it.  Lookups in it are locked by the library.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/rand.h>
#include <opendmarc/dmarc.h>

#include "common/dns.h"
#include "common/log.h"
#include "common/rfc5322.h"
#include "common/xalloc.h"
#include "filters/filters.h"
#include "filters/stage_dkim.h"
#include "filters/stage_spf.h"

/* exported by libopendmarc (its milter uses it), missing in dmarc.h:
 * the organizational domain of domain by the Public Suffix List, "" when
 * the list has no rule for it */
int opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len);

#define DMARC_SVC "dmarc"
#define DMARC_RECORD_MAX 4096		/* longer: permerror */
#define DMARC_MIN_BUDGET_MS 20		/* less left: no new lookup */

extern const struct filter_stage_ops filter_stage_dmarc;

struct dmarc_stage {
	const struct config *cfg;
	struct dns *dns;
};

enum dmarc_res { DMARC_RES_NONE, DMARC_RES_PASS, DMARC_RES_FAIL,
	DMARC_RES_TEMPERROR, DMARC_RES_PERMERROR };

/* one message's evaluation */
struct dmarc_eval {
	enum dmarc_res res;
	const char *why;		/* temperror/permerror/none: static */
	char from[DNS_NAME_MAX + 1];	/* lower case; "" when unknown */
	char org[DNS_NAME_MAX + 1];	/* its organizational domain */
	struct buf record;		/* the policy record */
	bool at_org;			/* found at the organizational domain */
	int p, sp, adkim, aspf, pct;	/* of the record (libopendmarc's) */
	bool used_sp;			/* the subdomain policy applied */
	int policy;			/* DMARC_RECORD_P_*: applies on fail */
	const char *dis;		/* "none", "quarantine", "reject" */
	const char *how;		/* the aligned pass: "dkim", "spf" */
};

static pthread_mutex_t psl_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned psl_users;

/* ---- domains ---- */

static void
lower(char *s)
{
	for (; *s != '\0'; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* org_domain - the organizational domain of domain (lower case, at most
 * DNS_NAME_MAX characters) into out[DNS_NAME_MAX + 1] */
static void
org_domain(const char *domain, char *out)
{
	u_char in[DNS_NAME_MAX + 1], tld[DMARC_MAXHOSTNAMELEN];
	const char *p, *last = NULL, *prev = NULL;

	snprintf((char *)in, sizeof(in), "%s", domain);
	lower((char *)in);
	memset(tld, 0, sizeof(tld));
	if (opendmarc_get_tld(in, tld, sizeof(tld)) == 0 && tld[0] != '\0' &&
	    strlen((char *)tld) <= DNS_NAME_MAX) {
		snprintf(out, DNS_NAME_MAX + 1, "%s", (char *)tld);
		return;
	}
	/* no rule: the list's default "*", the last two labels */
	for (p = (const char *)in; (p = strchr(p, '.')) != NULL; p++) {
		prev = last;
		last = p;
	}
	snprintf(out, DNS_NAME_MAX + 1, "%s", prev != NULL ? prev + 1 :
	    (const char *)in);
}

/* is_aligned - RFC 7489 3.1: identifier d against the From domain */
static bool
is_aligned(const struct dmarc_eval *ev, const char *d, int mode)
{
	char dorg[DNS_NAME_MAX + 1];

	if (strcasecmp(ev->from, d) == 0)
		return true;
	if (mode == DMARC_RECORD_A_STRICT || strlen(d) > DNS_NAME_MAX)
		return false;
	org_domain(d, dorg);
	return strcmp(dorg, ev->org) == 0;
}

/* ---- the From address, RFC 5322 3.4 and 3.6.2 ---- */

static bool
is_from_field(const char *name)
{
	size_t n = strlen(name);

	while (n > 0 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
		n--;
	return n == 4 && strncasecmp(name, "From", 4) == 0;
}

/* from_domain - the domain of the one address of the one From field
 * into ev->from (common/rfc5322.h, shared with the SMTP client's DKIM
 * signing); -1 with ev->why */
static int
from_domain(const struct filter_msg *m, struct dmarc_eval *ev)
{
	const struct filter_header *from = NULL;
	size_t nfrom = 0;

	for (size_t i = 0; i < m->nhdrs; i++)
		if (is_from_field(m->hdrs[i].name)) {
			from = &m->hdrs[i];
			nfrom++;
		}
	if (nfrom != 1) {
		ev->why = nfrom == 0 ? "no From field" : "several From fields";
		return -1;
	}
	return rfc5322_from_domain(from->value, ev->from, &ev->why);
}

/* ---- policy discovery ---- */

enum fetch_res { FETCH_FOUND, FETCH_NONE, FETCH_MANY, FETCH_TEMP };

/* is_dmarc1 - a record that starts with v=DMARC1 (RFC 7489 6.4) */
static bool
is_dmarc1(const char *t, size_t len)
{
	const char *end = t + len;

	while (t < end && (*t == ' ' || *t == '\t'))
		t++;
	if (t >= end || *t++ != 'v')
		return false;
	while (t < end && (*t == ' ' || *t == '\t'))
		t++;
	if (t >= end || *t++ != '=')
		return false;
	while (t < end && (*t == ' ' || *t == '\t'))
		t++;
	if ((size_t)(end - t) < 6 || strncmp(t, "DMARC1", 6) != 0)
		return false;
	t += 6;
	return t == end || *t == ';' || *t == ' ' || *t == '\t';
}

/* fetch - the one DMARC record at _dmarc.<domain> into ev->record */
static enum fetch_res
fetch(struct dmarc_stage *st, const struct filter_msg *m,
    struct dmarc_eval *ev, const char *domain)
{
	struct buf name = BUF_INIT(0), err = BUF_INIT(0);
	struct dns_result r;
	enum fetch_res res = FETCH_NONE;
	size_t found = 0;

	if (filter_deadline_ms(m) < DMARC_MIN_BUDGET_MS)
		return FETCH_TEMP;
	buf_addf(&name, "_dmarc.%s", domain);
	memset(&r, 0, sizeof(r));
	if (dns_txt(st->dns, buf_cstr(&name), &r, &err) < 0) {
		log_info(DMARC_SVC, "%s: TXT %s: %s", m->qid[0] != '\0' ?
		    m->qid : "NOQUEUE", buf_cstr(&name), buf_cstr(&err));
		if (dns_status_is_temporary(r.status))
			res = FETCH_TEMP;
		goto out;
	}
	for (size_t i = 0; r.status == DNS_OK && i < r.ntxt; i++) {
		if (!is_dmarc1(r.txt[i].text, r.txt[i].len))
			continue;
		if (found++ == 0) {
			buf_reset(&ev->record);
			buf_add(&ev->record, r.txt[i].text, r.txt[i].len);
		}
	}
	res = found == 0 ? FETCH_NONE : found == 1 ? FETCH_FOUND : FETCH_MANY;
out:
	dns_result_free(&r);
	buf_free(&name);
	buf_free(&err);
	return res;
}

/* discover - RFC 7489 6.6.3; 0 with a record in ev->record, -1 with
 * ev->res and ev->why set */
static int
discover(struct dmarc_stage *st, const struct filter_msg *m,
    struct dmarc_eval *ev)
{
	enum fetch_res f = fetch(st, m, ev, ev->from);

	if (f == FETCH_NONE && strcmp(ev->org, ev->from) != 0) {
		f = fetch(st, m, ev, ev->org);
		ev->at_org = true;
	}
	switch (f) {
	case FETCH_FOUND:
		return 0;
	case FETCH_NONE:
		ev->res = DMARC_RES_NONE;
		ev->why = NULL;
		break;
	case FETCH_MANY:
		ev->res = DMARC_RES_NONE;
		ev->why = "several DMARC records";
		break;
	case FETCH_TEMP:
		ev->res = DMARC_RES_TEMPERROR;
		ev->why = "policy lookup failed";
		break;
	}
	return -1;
}

/* ---- evaluation ---- */

/* store_results - the DKIM and SPF results for libopendmarc; *temp_r
 * when an aligned identifier could not be checked */
static void
store_results(DMARC_POLICY_T *pctx, const struct filter_msg *m,
    struct dmarc_eval *ev, bool *temp_r)
{
	const struct stage_dkim_results *dk = stage_dkim_results(m);
	const struct spf_result *spf = stage_spf_result(m);
	int out;

	*temp_r = false;
	for (size_t i = 0; dk != NULL && i < dk->nsigs; i++) {
		const struct stage_dkim_sig *s = &dk->sigs[i];
		bool al;

		if (s->domain == NULL || s->domain[0] == '\0')
			continue;
		al = is_aligned(ev, s->domain, ev->adkim);
		if (s->result == STAGE_DKIM_PASS)
			out = al ? DMARC_POLICY_DKIM_OUTCOME_PASS :
			    DMARC_POLICY_DKIM_OUTCOME_FAIL;
		else if (s->result == STAGE_DKIM_TEMPERROR)
			out = DMARC_POLICY_DKIM_OUTCOME_TMPFAIL;
		else
			out = DMARC_POLICY_DKIM_OUTCOME_FAIL;
		if (al && out == DMARC_POLICY_DKIM_OUTCOME_TMPFAIL)
			*temp_r = true;
		(void)opendmarc_policy_store_dkim(pctx, (u_char *)s->domain,
		    (u_char *)(s->selector != NULL ? s->selector : ""), out,
		    (u_char *)stage_dkim_result_name(s->result));
	}
	if (spf != NULL && spf->domain[0] != '\0') {
		char d[sizeof(spf->domain)];
		bool al;

		snprintf(d, sizeof(d), "%s", spf->domain);
		lower(d);
		al = is_aligned(ev, d, ev->aspf);
		switch (spf->result) {
		case SPF_RES_PASS:
			out = al ? DMARC_POLICY_SPF_OUTCOME_PASS :
			    DMARC_POLICY_SPF_OUTCOME_FAIL;
			break;
		case SPF_RES_NONE:
			out = DMARC_POLICY_SPF_OUTCOME_NONE;
			break;
		case SPF_RES_TEMPERROR:
			out = DMARC_POLICY_SPF_OUTCOME_TMPFAIL;
			*temp_r = *temp_r || al;
			break;
		default:
			out = DMARC_POLICY_SPF_OUTCOME_FAIL;
			break;
		}
		(void)opendmarc_policy_store_spf(pctx, (u_char *)d, out,
		    spf->null_sender ? DMARC_POLICY_SPF_ORIGIN_HELO :
		    DMARC_POLICY_SPF_ORIGIN_MAILFROM,
		    (u_char *)stage_spf_res_name(spf->result));
	}
}

/* selected - RFC 7489 6.6.4: is this message among the pct percent */
static bool
selected(int pct)
{
	unsigned char b[2];

	if (pct >= 100)
		return true;
	if (pct <= 0)
		return false;
	if (RAND_bytes(b, sizeof(b)) != 1)
		return true;
	return ((unsigned)b[0] << 8 | b[1]) % 100 < (unsigned)pct;
}

/* unverified - a stage of the pipeline that should have judged the
 * message has no result for it (see the top of the file) */
static const char *
unverified(const struct filter_msg *m)
{
	if (filters_stage_data(m, &filter_stage_dkim) != NULL &&
	    stage_dkim_results(m) == NULL)
		return "DKIM not verified";
	if (filters_stage_data(m, &filter_stage_spf) != NULL &&
	    stage_spf_result(m) == NULL)
		return "SPF not verified";
	return NULL;
}

/* evaluate - with a record in ev->record: ev->res, ev->policy */
static void
evaluate(const struct filter_msg *m, struct dmarc_eval *ev)
{
	DMARC_POLICY_T *pctx;
	const char *ip = m->conn->ip;
	int status, dkim_al = 0, spf_al = 0;
	bool temp;

	if (ev->record.len > DMARC_RECORD_MAX ||
	    memchr(ev->record.data, '\0', ev->record.len) != NULL) {
		ev->res = DMARC_RES_PERMERROR;
		ev->why = "bad DMARC record";
		return;
	}
	pctx = opendmarc_policy_connect_init((u_char *)ip,
	    strchr(ip, ':') != NULL);
	if (pctx == NULL) {
		ev->res = DMARC_RES_TEMPERROR;
		ev->why = "out of memory";
		return;
	}
	if (opendmarc_policy_store_from_domain(pctx, (u_char *)ev->from) !=
	    DMARC_PARSE_OKAY || (status = opendmarc_policy_store_dmarc(pctx,
	    ev->record.data, (u_char *)ev->from, ev->at_org ?
	    (u_char *)ev->org : NULL)) != DMARC_PARSE_OKAY) {
		ev->res = DMARC_RES_PERMERROR;
		ev->why = "bad DMARC record";
		goto out;
	}
	(void)opendmarc_policy_fetch_p(pctx, &ev->p);
	(void)opendmarc_policy_fetch_sp(pctx, &ev->sp);
	(void)opendmarc_policy_fetch_adkim(pctx, &ev->adkim);
	(void)opendmarc_policy_fetch_aspf(pctx, &ev->aspf);
	(void)opendmarc_policy_fetch_pct(pctx, &ev->pct);
	store_results(pctx, m, ev, &temp);
	status = opendmarc_get_policy_to_enforce(pctx);
	ev->used_sp = opendmarc_get_policy_token_used(pctx) ==
	    DMARC_USED_POLICY_IS_SP;
	(void)opendmarc_policy_fetch_alignment(pctx, &dkim_al, &spf_al);
	switch (status) {
	case DMARC_POLICY_PASS:
		ev->res = DMARC_RES_PASS;
		ev->how = dkim_al == DMARC_POLICY_DKIM_ALIGNMENT_PASS ? "dkim" :
		    "spf";
		break;
	case DMARC_POLICY_REJECT:
	case DMARC_POLICY_QUARANTINE:
	case DMARC_POLICY_NONE:
		ev->res = temp ? DMARC_RES_TEMPERROR : DMARC_RES_FAIL;
		ev->why = temp ? "aligned identifier not checked" : NULL;
		if (!temp && (ev->why = unverified(m)) != NULL)
			ev->res = DMARC_RES_NONE;
		ev->policy = status == DMARC_POLICY_REJECT ?
		    DMARC_RECORD_P_REJECT : status == DMARC_POLICY_QUARANTINE ?
		    DMARC_RECORD_P_QUARANTINE : DMARC_RECORD_P_NONE;
		break;
	default:
		ev->res = DMARC_RES_PERMERROR;
		ev->why = opendmarc_policy_status_to_str(status);
		break;
	}
out:
	(void)opendmarc_policy_connect_shutdown(pctx);
}

static const char *
policy_name(int p)
{
	return p == DMARC_RECORD_P_REJECT ? "reject" :
	    p == DMARC_RECORD_P_QUARANTINE ? "quarantine" : "none";
}

/* act - the symbol, the clause, the log line and the action */
static enum filter_action
act(struct dmarc_stage *st, struct filter_msg *m, struct dmarc_eval *ev,
    struct filter_reply *r)
{
	const struct config_dmarc *c = &st->cfg->dmarc;
	static const char *const names[] = { "none", "pass", "fail",
		"temperror", "permerror" };
	static const char *const syms[] = { "DMARC_NONE", "DMARC_PASS",
		"DMARC_FAIL", "DMARC_TEMPERROR", "DMARC_PERMERROR" };
	enum filter_action a = FILTER_CONTINUE;
	int policy = ev->policy;
	struct buf cl = BUF_INIT(0);

	ev->dis = "none";
	if (ev->res == DMARC_RES_FAIL && policy != DMARC_RECORD_P_NONE &&
	    !selected(ev->pct))
		policy = policy == DMARC_RECORD_P_REJECT ?
		    DMARC_RECORD_P_QUARANTINE : DMARC_RECORD_P_NONE;
	if (ev->res == DMARC_RES_FAIL && policy == DMARC_RECORD_P_REJECT &&
	    c->reject) {
		ev->dis = "reject";
		filter_reply_set(r, 550, "5.7.1",
		    "Rejected by DMARC policy for %s", ev->from);
		a = FILTER_REJECT;
	} else if (ev->res == DMARC_RES_FAIL &&
	    policy == DMARC_RECORD_P_QUARANTINE && c->quarantine) {
		ev->dis = "quarantine";
		a = FILTER_QUARANTINE;
	}
	filter_symbol(m, syms[ev->res], ev->res == DMARC_RES_PASS ? c->pass :
	    ev->res == DMARC_RES_FAIL ? c->fail : 0.0);
	buf_addf(&cl, "dmarc=%s", names[ev->res]);
	if (ev->res == DMARC_RES_PASS || ev->res == DMARC_RES_FAIL) {
		buf_addf(&cl, " (p=%s", policy_name(ev->p));
		if (ev->used_sp)
			buf_addf(&cl, " sp=%s", policy_name(ev->sp));
		buf_addf(&cl, " dis=%s)", ev->dis);
	} else if (ev->why != NULL) {
		buf_addf(&cl, " reason=\"%s\"", ev->why);
	}
	if (ev->from[0] != '\0')
		buf_addf(&cl, " header.from=%s", ev->from);
	filter_ar(m, "%s", buf_cstr(&cl));
	log_info(DMARC_SVC, "%s: dmarc=%s, from=%s%s%s%s%s, dis=%s%s%s",
	    m->qid[0] != '\0' ? m->qid : "NOQUEUE", names[ev->res],
	    ev->from[0] != '\0' ? ev->from : "-",
	    ev->res == DMARC_RES_FAIL ? ", policy=" : "",
	    ev->res == DMARC_RES_FAIL ? policy_name(ev->policy) : "",
	    ev->how != NULL ? ", aligned=" : "",
	    ev->how != NULL ? ev->how : "", ev->dis,
	    ev->why != NULL ? ", reason=" : "", ev->why != NULL ? ev->why : "");
	buf_free(&cl);
	return a;
}

static enum filter_action
dmarc_data(void *state, struct filter_msg *m, struct filter_reply *r)
{
	struct dmarc_stage *st = state;
	struct dmarc_eval ev;
	enum filter_action a;

	memset(&ev, 0, sizeof(ev));
	buf_init(&ev.record, 0);
	ev.pct = 100;
	ev.policy = DMARC_RECORD_P_NONE;
	if (from_domain(m, &ev) < 0)
		ev.res = DMARC_RES_PERMERROR;
	else {
		org_domain(ev.from, ev.org);
		if (discover(st, m, &ev) == 0)
			evaluate(m, &ev);
	}
	a = act(st, m, &ev, r);
	buf_free(&ev.record);
	return a;
}

/* ---- the stage ---- */

static int
dmarc_init(const struct filter_env *env, void **state_r, struct buf *err)
{
	const char *psl = env->cfg->dmarc.public_suffix_list;
	OPENDMARC_LIB_T lib;
	struct dmarc_stage *st;
	FILE *f;
	int rc;

	if (strlen(psl) >= sizeof(lib.tld_source_file) ||
	    (f = fopen(psl, "r")) == NULL) {
		buf_addf(err, "dmarc.public_suffix_list: cannot read %s", psl);
		return -1;
	}
	fclose(f);
	memset(&lib, 0, sizeof(lib));
	lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
	snprintf((char *)lib.tld_source_file, sizeof(lib.tld_source_file),
	    "%s", psl);
	pthread_mutex_lock(&psl_lock);
	rc = opendmarc_policy_library_init(&lib);
	if (rc == DMARC_PARSE_OKAY)
		psl_users++;
	pthread_mutex_unlock(&psl_lock);
	if (rc != DMARC_PARSE_OKAY) {
		buf_addf(err, "dmarc.public_suffix_list: %s: cannot load it "
		    "(%d)", psl, rc);
		return -1;
	}
	st = xcalloc(1, sizeof(*st));
	st->cfg = env->cfg;
	st->dns = env->dns;
	*state_r = st;
	return 0;
}

static void
dmarc_free(void *state)
{
	OPENDMARC_LIB_T lib;

	if (state == NULL)
		return;
	free(state);
	memset(&lib, 0, sizeof(lib));
	pthread_mutex_lock(&psl_lock);
	if (psl_users > 0 && --psl_users == 0)
		(void)opendmarc_policy_library_shutdown(&lib);
	pthread_mutex_unlock(&psl_lock);
}

const struct filter_stage_ops filter_stage_dmarc = {
	.name = "dmarc",
	.inbound_only = true,
	.needs_dns = true,
	.init = dmarc_init,
	.free = dmarc_free,
	.data = dmarc_data,
};
