/*
 * stage_dkim.c - the dkim filter stage: verifies every DKIM signature of
 * an inbound message with libopendkim (RFC 6376; RSA-SHA256, and
 * Ed25519-SHA256 per RFC 8463), records a result per signature for the
 * dmarc stage (stage_dkim.h), adds the symbols DKIM_PASS / DKIM_FAIL /
 * DKIM_NONE / DKIM_TEMPERROR / DKIM_PERMERROR and one
 * Authentication-Results clause per signature (RFC 8601 2.7.1, header.b
 * per RFC 6008).
 *
 * Keys come from our resolver, never from libopendkim's own DNS code:
 * the library's key-lookup hook (dkim_set_key_lookup) asks us, and we
 * query TXT "<s>._domainkey.<d>" with dns_txt and copy the record into
 * the library's buffer (RFC 6376 3.6.2).  Each distinct name is asked
 * once per message.  The outcome of each lookup is kept, because the
 * library reports a callback failure only as "not verified": a
 * temporary DNS failure (SERVFAIL, timeout) is the signature's
 * temperror, NXDOMAIN/NODATA its permerror "no key" (RFC 6376 6.1.2:
 * PERMFAIL, no key for signature), a record we cannot hand over (a
 * NUL in it, longer than the library takes) a permerror too.
 *
 * The library is driven with the whole message at the data step
 * (dkim_header per field, dkim_eoh, dkim_body, dkim_eom), with
 * DKIM_LIBFLAGS_BADSIGHANDLES, so that a signature that does not parse
 * still gets a handle and an error instead of vanishing, and
 * DKIM_LIBFLAGS_DELAYSIGPROC, so that every signature is processed at
 * dkim_eom, where a failed key lookup for one does not stop the others
 * (at dkim_eoh the first one would).  At most STAGE_DKIM_SIGS_MAX
 * signatures are verified (a prescreen callback ignores the rest); a
 * DKIM-Signature field the library kept no handle for counts as a
 * permerror, so that no broken signature goes unreported.
 *
 * Mapping of the library's verdicts (RFC 8601 2.7.1):
 *   pass       signature and body hash verify
 *   fail       the signature does not verify, or the body hash differs
 *   policy     verifies, but rsa-sha1 (RFC 8301 3.1: not valid), a key
 *              under 1024 bits (RFC 8301 3.2), expired or dated in the
 *              future (x=, t=), or ignored as one too many
 *   temperror  the key lookup failed temporarily
 *   permerror  no key record, a key record that is bad (syntax, type,
 *              revoked, cannot be decoded), a signature that is
 *              malformed (tags missing or empty, unknown algorithm or
 *              canonicalization, b= or bh= not base64, i= outside d=)
 *   neutral    anything else that could not be processed
 * Symbols, once per message: DKIM_PASS (dkim.pass) when any signature
 * passes; otherwise DKIM_NONE (dkim.none) for an unsigned message, and
 * for each kind present DKIM_FAIL (dkim.fail), DKIM_TEMPERROR (0),
 * DKIM_PERMERROR (0, also for neutral and policy).  A passing signature
 * next to broken ones (a mailing list's) gives only DKIM_PASS.
 *
 * Not verified: a message bigger than filters.max_scan_size (only its
 * header would be here; every signature would look like a body hash
 * mismatch): no result, no symbol, stage_dkim_results() is NULL.
 *
 * Threads: one DKIM_LIB per stage, configured in init and read-only
 * afterwards; libopendkim keeps all per-message state in the DKIM handle
 * (one per message, used by one thread), and the lookup callback reaches
 * our per-message state through the handle's user context.
 *
 * XXX signature expiry is judged by libopendkim against time(NULL), not
 * filter_now(); the resolver has no per-call deadline, so a lookup is
 * bounded by dns.timeout, not by what is left of the stage's budget
 * (only a budget already spent skips the lookup, as a temperror).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <opendkim/dkim.h>

#include "common/dns.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "filters/filters.h"
#include "filters/stage_dkim.h"

#define DKIM_SVC "dkim"
#define DKIM_TAG_MAX 255	/* bytes kept of d=, s=, a= */
#define DKIM_MIN_BUDGET_MS 20	/* less left: no new key lookup */

struct dkim_stage {
	const struct config *cfg;
	struct dns *dns;
	DKIM_LIB *lib;
};

enum key_status { KEY_OK, KEY_NONE, KEY_TEMP, KEY_BAD };

/* one key lookup: TXT at "<s>._domainkey.<d>" */
struct key_lookup {
	char *name;
	enum key_status status;
	char *text;		/* KEY_OK: the record */
	size_t len;
	const char *why;	/* static text, when not KEY_OK */
};

/* the transaction's data (filter_data_set) */
struct dkim_msg {
	struct dkim_stage *st;
	struct filter_msg *m;
	struct stage_dkim_results res;
	struct key_lookup keys[STAGE_DKIM_SIGS_MAX];
	size_t nkeys;
};

const char *
stage_dkim_result_name(enum stage_dkim_result r)
{
	static const char *const names[] = { "pass", "fail", "neutral",
		"policy", "temperror", "permerror" };

	return (unsigned)r < ARRAY_SIZE(names) ? names[r] : "neutral";
}

const struct stage_dkim_results *
stage_dkim_results(const struct filter_msg *m)
{
	const struct dkim_msg *dm = filter_stage_data(m, &filter_stage_dkim);

	return dm != NULL ? &dm->res : NULL;
}

/* ---- key lookups ---- */

static struct key_lookup *
key_find(struct dkim_msg *dm, const char *name)
{
	for (size_t i = 0; i < dm->nkeys; i++)
		if (strcasecmp(dm->keys[i].name, name) == 0)
			return &dm->keys[i];
	return NULL;
}

/* key_name - "<s>._domainkey.<d>" into out */
static void
key_name(const char *selector, const char *domain, struct buf *out)
{
	buf_reset(out);
	buf_addf(out, "%s._domainkey.%s", selector, domain);
}

/* pick - the record to use among several (RFC 6376 6.1.2 lets the
 * verifier choose): the first that says v=DKIM1, else the first */
static const struct dns_txt *
pick(const struct dns_result *r)
{
	for (size_t i = 0; i < r->ntxt; i++) {
		const char *t = r->txt[i].text;

		while (*t == ' ' || *t == '\t')
			t++;
		if (strncmp(t, "v=DKIM1", 7) == 0)
			return &r->txt[i];
	}
	return &r->txt[0];
}

/* key_fetch - the lookup of name, asked once per message */
static struct key_lookup *
key_fetch(struct dkim_msg *dm, const char *name)
{
	struct key_lookup *k = key_find(dm, name);
	struct dns_result r;
	struct buf err = BUF_INIT(0);
	const struct dns_txt *t;

	if (k != NULL)
		return k;
	if (dm->nkeys == ARRAY_SIZE(dm->keys))
		return NULL;	/* not reached: as many names as signatures */
	k = &dm->keys[dm->nkeys++];
	memset(k, 0, sizeof(*k));
	k->name = xstrdup(name);
	if (dns_name_check(name, &err) < 0) {
		k->status = KEY_BAD;
		k->why = "bad key name";
		goto out;
	}
	if (filter_deadline_ms(dm->m) < DKIM_MIN_BUDGET_MS) {
		k->status = KEY_TEMP;
		k->why = "time budget spent";
		goto out;
	}
	memset(&r, 0, sizeof(r));
	if (dns_txt(dm->st->dns, name, &r, &err) < 0) {
		k->status = dns_status_is_temporary(r.status) ? KEY_TEMP :
		    KEY_BAD;
		k->why = k->status == KEY_TEMP ? "key lookup failed" :
		    "bad key name";
		log_info(DKIM_SVC, "%s: TXT %s: %s",
		    dm->m->qid[0] != '\0' ? dm->m->qid : "NOQUEUE", name,
		    buf_cstr(&err));
	} else if (r.status != DNS_OK || r.ntxt == 0) {
		k->status = KEY_NONE;
		k->why = "no key";
	} else {
		t = pick(&r);
		if (memchr(t->text, '\0', t->len) != NULL) {
			k->status = KEY_BAD;
			k->why = "bad key record";
		} else {
			k->status = KEY_OK;
			k->text = xmemdup0(t->text, t->len);
			k->len = t->len;
		}
	}
	dns_result_free(&r);
out:
	buf_free(&err);
	return k;
}

/*
 * lookup_cb - libopendkim's key lookup: the record of the signature's
 * selector and domain, NUL-terminated, into buf
 */
static DKIM_CBSTAT
lookup_cb(DKIM *dkim, DKIM_SIGINFO *sig, unsigned char *buf, size_t buflen)
{
	struct dkim_msg *dm = dkim_get_user_context(dkim);
	const char *d = (const char *)dkim_sig_getdomain(sig);
	const char *s = (const char *)dkim_sig_getselector(sig);
	struct buf name = BUF_INIT(0);
	struct key_lookup *k;

	if (dm == NULL || d == NULL || s == NULL)
		return DKIM_CBSTAT_ERROR;
	key_name(s, d, &name);
	k = key_fetch(dm, buf_cstr(&name));
	buf_free(&name);
	if (k == NULL)
		return DKIM_CBSTAT_ERROR;
	switch (k->status) {
	case KEY_OK:
		if (k->len >= buflen) {
			k->status = KEY_BAD;
			k->why = "key record too long";
			return DKIM_CBSTAT_ERROR;
		}
		memcpy(buf, k->text, k->len + 1);
		return DKIM_CBSTAT_CONTINUE;
	case KEY_NONE:
		return DKIM_CBSTAT_NOTFOUND;
	case KEY_TEMP:
		return DKIM_CBSTAT_TRYAGAIN;
	case KEY_BAD:
		break;
	}
	return DKIM_CBSTAT_ERROR;
}

/* prescreen_cb - only the first STAGE_DKIM_SIGS_MAX signatures count */
static DKIM_CBSTAT
prescreen_cb(DKIM *dkim, DKIM_SIGINFO **sigs, int nsigs)
{
	(void)dkim;
	for (int i = STAGE_DKIM_SIGS_MAX; i < nsigs; i++)
		dkim_sig_ignore(sigs[i]);
	return DKIM_CBSTAT_CONTINUE;
}

/* ---- results ---- */

/* classify - the result of one signature after dkim_eom */
static enum stage_dkim_result
classify(struct dkim_msg *dm, DKIM_SIGINFO *sig, const char **reason_r)
{
	unsigned flags = dkim_sig_getflags(sig);
	int err = dkim_sig_geterror(sig), bh = dkim_sig_getbh(sig);
	const char *d = (const char *)dkim_sig_getdomain(sig);
	const char *s = (const char *)dkim_sig_getselector(sig);
	const struct key_lookup *k = NULL;
	dkim_alg_t alg = DKIM_SIGN_UNKNOWN;

	*reason_r = NULL;
	if (d != NULL && s != NULL) {
		struct buf name = BUF_INIT(0);

		key_name(s, d, &name);
		k = key_find(dm, buf_cstr(&name));
		buf_free(&name);
	}
	if ((flags & DKIM_SIGFLAG_PASSED) != 0 && bh == DKIM_SIGBH_MATCH &&
	    (err == DKIM_SIGERROR_OK || err == DKIM_SIGERROR_UNKNOWN)) {
		if (dkim_sig_getsignalg(sig, &alg) == DKIM_STAT_OK &&
		    alg == DKIM_SIGN_RSASHA1) {
			*reason_r = "rsa-sha1 not accepted";
			return STAGE_DKIM_POLICY;
		}
		return STAGE_DKIM_PASS;
	}
	if ((flags & DKIM_SIGFLAG_PASSED) != 0 && bh == DKIM_SIGBH_MISMATCH) {
		*reason_r = "body hash mismatch";
		return STAGE_DKIM_FAIL;
	}
	if (k != NULL && k->status != KEY_OK && k->status != KEY_NONE) {
		*reason_r = k->why;
		return k->status == KEY_TEMP ? STAGE_DKIM_TEMPERROR :
		    STAGE_DKIM_PERMERROR;
	}
	switch (err) {
	case DKIM_SIGERROR_BADSIG:
		*reason_r = "signature verification failed";
		return STAGE_DKIM_FAIL;
	case DKIM_SIGERROR_KEYFAIL:
		*reason_r = "key lookup failed";
		return STAGE_DKIM_TEMPERROR;
	case DKIM_SIGERROR_NOKEY:
		*reason_r = "no key";
		return STAGE_DKIM_PERMERROR;
	case DKIM_SIGERROR_KEYREVOKED:
		*reason_r = "key revoked";
		return STAGE_DKIM_PERMERROR;
	case DKIM_SIGERROR_EXPIRED:
	case DKIM_SIGERROR_FUTURE:
	case DKIM_SIGERROR_KEYTOOSMALL:
	case DKIM_SIGERROR_MBSFAILED:
		*reason_r = dkim_sig_geterrorstr(err);
		return STAGE_DKIM_POLICY;
	case DKIM_SIGERROR_UNKNOWN:
	case DKIM_SIGERROR_OK:
	case DKIM_SIGERROR_CONDITIONAL:
	case DKIM_SIGERROR_CONDLOOP:
		*reason_r = "not verified";
		return STAGE_DKIM_NEUTRAL;
	default:
		*reason_r = dkim_sig_geterrorstr(err);
		if (*reason_r == NULL)
			*reason_r = "bad signature";
		return STAGE_DKIM_PERMERROR;
	}
}

/* tag_copy - at most DKIM_TAG_MAX bytes of a tag value; NULL stays NULL */
static char *
tag_copy(const unsigned char *v, bool lower)
{
	size_t n;
	char *c;

	if (v == NULL)
		return NULL;
	n = strnlen((const char *)v, DKIM_TAG_MAX);
	c = xmemdup0(v, n);
	for (size_t i = 0; lower && i < n; i++)
		c[i] = (char)tolower((unsigned char)c[i]);
	return c;
}

static void
record(struct dkim_msg *dm, DKIM_SIGINFO *sig)
{
	struct stage_dkim_sig *s = &dm->res.sigs[dm->res.nsigs++];
	const unsigned char *b;
	size_t n = 0;

	s->result = classify(dm, sig, &s->reason);
	s->domain = tag_copy(dkim_sig_gettagvalue(sig, false,
	    (unsigned char *)"d"), true);
	s->selector = tag_copy(dkim_sig_gettagvalue(sig, false,
	    (unsigned char *)"s"), false);
	s->algorithm = tag_copy(dkim_sig_gettagvalue(sig, false,
	    (unsigned char *)"a"), false);
	b = dkim_sig_gettagvalue(sig, false, (unsigned char *)"b");
	for (; b != NULL && *b != '\0' && n < sizeof(s->b) - 1; b++)
		if (*b != ' ' && *b != '\t' && *b != '\r' && *b != '\n')
			s->b[n++] = (char)*b;
	s->b[n] = '\0';
}

/* is_token - an RFC 2045 token: printable ASCII but tspecials */
static bool
is_token(const char *v)
{
	if (*v == '\0')
		return false;
	for (; *v != '\0'; v++)
		if ((unsigned char)*v <= ' ' || (unsigned char)*v >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?=", *v) != NULL)
			return false;
	return true;
}

/* add_value - " key=value", a quoted-string when not a token; bytes that
 * do not belong in a header field become '?' */
static void
add_value(struct buf *b, const char *key, const char *v)
{
	buf_addf(b, " %s=", key);
	if (is_token(v)) {
		buf_add_str(b, v);
		return;
	}
	buf_add_str(b, "\"");
	for (; *v != '\0'; v++) {
		unsigned char c = (unsigned char)*v;

		if (c == '"' || c == '\\')
			buf_add(b, "\\", 1);
		if (c < ' ' || c >= 0x7f)
			c = '?';
		buf_add(b, &c, 1);
	}
	buf_add_str(b, "\"");
}

static void
add_ar(struct filter_msg *m, const struct stage_dkim_sig *s)
{
	struct buf b = BUF_INIT(0);

	buf_addf(&b, "dkim=%s", stage_dkim_result_name(s->result));
	if (s->reason != NULL)
		add_value(&b, "reason", s->reason);
	if (s->domain != NULL)
		add_value(&b, "header.d", s->domain);
	if (s->selector != NULL)
		add_value(&b, "header.s", s->selector);
	if (s->algorithm != NULL)
		add_value(&b, "header.a", s->algorithm);
	if (s->b[0] != '\0')
		add_value(&b, "header.b", s->b);
	filter_ar(m, "%s", buf_cstr(&b));
	buf_free(&b);
}

/* conclude - symbols, Authentication-Results and the log line */
static void
conclude(struct dkim_msg *dm)
{
	const struct config_dkim *c = &dm->st->cfg->dkim;
	struct filter_msg *m = dm->m;
	bool seen[STAGE_DKIM_PERMERROR + 1] = { false };
	struct buf line = BUF_INIT(0);

	for (size_t i = 0; i < dm->res.nsigs; i++) {
		const struct stage_dkim_sig *s = &dm->res.sigs[i];

		seen[s->result] = true;
		add_ar(m, s);
		buf_addf(&line, "%sd=%s s=%s %s%s%s%s", i == 0 ? "" : ", ",
		    s->domain != NULL ? s->domain : "-",
		    s->selector != NULL ? s->selector : "-",
		    stage_dkim_result_name(s->result),
		    s->reason != NULL ? " (" : "",
		    s->reason != NULL ? s->reason : "",
		    s->reason != NULL ? ")" : "");
	}
	if (dm->res.nsigs == 0) {
		filter_ar(m, "dkim=none");
		filter_symbol(m, "DKIM_NONE", c->none);
		buf_add_str(&line, "none");
	} else if (seen[STAGE_DKIM_PASS]) {
		filter_symbol(m, "DKIM_PASS", c->pass);
	} else {
		if (seen[STAGE_DKIM_FAIL])
			filter_symbol(m, "DKIM_FAIL", c->fail);
		if (seen[STAGE_DKIM_TEMPERROR])
			filter_symbol(m, "DKIM_TEMPERROR", 0.0);
		if (seen[STAGE_DKIM_PERMERROR] || seen[STAGE_DKIM_NEUTRAL] ||
		    seen[STAGE_DKIM_POLICY])
			filter_symbol(m, "DKIM_PERMERROR", 0.0);
	}
	if (dm->res.nignored > 0)
		buf_addf(&line, ", %zu more ignored", dm->res.nignored);
	log_info(DKIM_SVC, "%s: dkim: %s", m->qid[0] != '\0' ? m->qid :
	    "NOQUEUE", buf_cstr(&line));
	buf_free(&line);
}

/* ---- the stage ---- */

static bool
is_sig_field(const char *name)
{
	return strcasecmp(name, "DKIM-Signature") == 0;
}

/* verify - run the message through libopendkim and record each
 * signature; -1 when the library itself failed */
static int
verify(struct dkim_msg *dm, const char *id)
{
	struct filter_msg *m = dm->m;
	struct buf field = BUF_INIT(0);
	DKIM_SIGINFO **sigs = NULL;
	DKIM_STAT stat;
	DKIM *dkim;
	size_t nfields = 0;
	int nsigs = 0, rc = -1;

	dkim = dkim_verify(dm->st->lib, (const unsigned char *)id, NULL,
	    &stat);
	if (dkim == NULL) {
		log_warn(DKIM_SVC, "%s: dkim_verify: %s", id,
		    dkim_getresultstr(stat));
		return -1;
	}
	(void)dkim_set_user_context(dkim, dm);
	for (size_t i = 0; i < m->nhdrs; i++) {
		buf_reset(&field);
		buf_addf(&field, "%s:%s", m->hdrs[i].name, m->hdrs[i].value);
		if (is_sig_field(m->hdrs[i].name))
			nfields++;
		/* a field the library refuses (a bad name, a signature
		 * that does not parse) is its business, not an error */
		stat = dkim_header(dkim, field.data, field.len);
		if (stat != DKIM_STAT_OK && stat != DKIM_STAT_SYNTAX) {
			log_warn(DKIM_SVC, "%s: dkim_header: %s", id,
			    dkim_getresultstr(stat));
			goto out;
		}
	}
	stat = dkim_eoh(dkim);
	if (stat == DKIM_STAT_OK) {
		if (m->len > m->body_off &&
		    (stat = dkim_body(dkim, (unsigned char *)m->data +
		    m->body_off, m->len - m->body_off)) != DKIM_STAT_OK) {
			log_warn(DKIM_SVC, "%s: dkim_body: %s", id,
			    dkim_getresultstr(stat));
			goto out;
		}
		/* its verdict is about one signature; ours are below */
		stat = dkim_eom(dkim, NULL);
		if (stat == DKIM_STAT_NORESOURCE ||
		    stat == DKIM_STAT_INTERNAL) {
			log_warn(DKIM_SVC, "%s: dkim_eom: %s", id,
			    dkim_getresultstr(stat));
			goto out;
		}
	} else if (stat != DKIM_STAT_NOSIG) {
		log_info(DKIM_SVC, "%s: dkim_eoh: %s: %s", id,
		    dkim_getresultstr(stat), dkim_geterror(dkim) != NULL ?
		    dkim_geterror(dkim) : "-");
	}
	if (dkim_getsiglist(dkim, &sigs, &nsigs) != DKIM_STAT_OK)
		nsigs = 0;
	dm->res.sigs = xcalloc(nfields + (size_t)nsigs + 1,
	    sizeof(*dm->res.sigs));
	for (int i = 0; i < nsigs; i++) {
		if (i >= STAGE_DKIM_SIGS_MAX) {
			dm->res.nignored++;
			continue;
		}
		record(dm, sigs[i]);
	}
	/* fields the library kept no handle for: still broken signatures */
	for (size_t i = (size_t)nsigs; i < nfields; i++) {
		if (dm->res.nsigs >= STAGE_DKIM_SIGS_MAX) {
			dm->res.nignored++;
			continue;
		}
		dm->res.sigs[dm->res.nsigs].result = STAGE_DKIM_PERMERROR;
		dm->res.sigs[dm->res.nsigs++].reason = "signature not parsed";
	}
	rc = 0;
out:
	buf_free(&field);
	(void)dkim_free(dkim);
	return rc;
}

static void
dkim_txn_end(void *state, struct filter_msg *m, void *data)
{
	struct dkim_msg *dm = data;

	(void)state;
	(void)m;
	for (size_t i = 0; i < dm->res.nsigs; i++) {
		free((char *)dm->res.sigs[i].domain);
		free((char *)dm->res.sigs[i].selector);
		free((char *)dm->res.sigs[i].algorithm);
	}
	free(dm->res.sigs);
	for (size_t i = 0; i < dm->nkeys; i++) {
		free(dm->keys[i].name);
		free(dm->keys[i].text);
	}
	free(dm);
}

static enum filter_action
dkim_data(void *state, struct filter_msg *m, struct filter_reply *r)
{
	struct dkim_stage *st = state;
	struct dkim_msg *dm;
	const char *id = m->qid[0] != '\0' ? m->qid : "NOQUEUE";

	(void)r;
	if (m->truncated) {
		log_info(DKIM_SVC, "%s: dkim: not verified: message too large "
		    "to scan", id);
		return FILTER_CONTINUE;
	}
	dm = xcalloc(1, sizeof(*dm));
	dm->st = st;
	dm->m = m;
	if (verify(dm, id) < 0) {
		dkim_txn_end(st, m, dm);	/* no results: none to read */
		return FILTER_ERROR;
	}
	filter_data_set(m, dm);
	conclude(dm);
	return FILTER_CONTINUE;
}

static int
dkim_stage_init(const struct filter_env *env, void **state_r,
    struct buf *err)
{
	struct dkim_stage *st;
	unsigned int flags = DKIM_LIBFLAGS_BADSIGHANDLES |
	    DKIM_LIBFLAGS_DELAYSIGPROC;

	st = xcalloc(1, sizeof(*st));
	st->cfg = env->cfg;
	st->dns = env->dns;
	st->lib = dkim_init(NULL, NULL);
	if (st->lib == NULL) {
		buf_add_str(err, "dkim_init failed");
		free(st);
		return -1;
	}
	if (dkim_options(st->lib, DKIM_OP_SETOPT, DKIM_OPTS_FLAGS, &flags,
	    sizeof(flags)) != DKIM_STAT_OK ||
	    dkim_set_key_lookup(st->lib, lookup_cb) != DKIM_STAT_OK ||
	    dkim_set_prescreen(st->lib, prescreen_cb) != DKIM_STAT_OK) {
		buf_add_str(err, "cannot configure libopendkim");
		dkim_close(st->lib);
		free(st);
		return -1;
	}
	*state_r = st;
	return 0;
}

static void
dkim_stage_free(void *state)
{
	struct dkim_stage *st = state;

	if (st == NULL)
		return;
	dkim_close(st->lib);
	free(st);
}

const struct filter_stage_ops filter_stage_dkim = {
	.name = "dkim",
	.inbound_only = true,
	.needs_dns = true,
	.init = dkim_stage_init,
	.free = dkim_stage_free,
	.data = dkim_data,
	.txn_end = dkim_txn_end,
};
