/*
 * stage_reputation.c - sender reputation (the "reputation" stage, inbound
 * only): running averages of the final spam scores of past messages, per
 * client IP, client network (IPv4 /24, IPv6 /64), envelope-from domain,
 * RFC 5322 From domain and the d= domain of a DKIM signature that
 * verified, with exponential decay (reputation.half_life: a message
 * counts half as much after that time).
 *
 * At the data step, each of those keys with at least
 * reputation.min_samples of decayed weight adds REPUTATION_<KIND> (IP,
 * NET, MAILFROM, FROM, DKIM) = reputation.weight x the average, clamped
 * to [-5, +10]: good senders get negative scores.  In the verdict hook,
 * every key learns the message's final score, without this stage's own
 * symbols (else a bad reputation would feed itself for ever), clamped to
 * [-100, +100].  Not learnt: a deferred message (it comes back and is
 * learnt then), one a stage accepted or discarded (its score was cut
 * short), one a stage refused under filters.reject_score (likewise).
 *
 * Decay without read-modify-write: "forward decay".  A message of score s
 * at time t adds s x 2^((t - L) / h) to a sum and 2^((t - L) / h) to a
 * weight, L the start of the current epoch (REP_EPOCH half-lives long);
 * at time now, sum and weight times 2^(-(now - L) / h) are the decayed
 * sum and weight, and their quotient the average.  So learning is a pure
 * addition: one lookup_incr_many of every key's two counters, atomic and
 * all or nothing on every backend (Redis INCRBY), and concurrent verdicts
 * never lose an update, whatever the interleaving.  Each epoch has its
 * own counters, so the factor stays below 2^REP_EPOCH; a read adds the
 * current and the previous epoch (older ones have decayed below
 * 2^-REP_EPOCH, about 3%, and are dropped).  Counters are fixed point,
 * REP_SCALE per unit, canonical decimal (lookup.h counters):
 *
 *   rep:<kind>:<epoch>:s:<subject>   sum of score x factor x REP_SCALE
 *   rep:<kind>:<epoch>:w:<subject>   sum of factor x REP_SCALE
 *
 * kind ip | net | mailfrom | from | dkim; epoch = floor(now / (REP_EPOCH
 * x half_life)); subject "192.0.2.1", "192.0.2.0/24", "2001:db8::/64" or
 * a lowercased domain.  TTL (set when a counter is created): two epochs
 * and an hour, i.e. about ten half-lives, after which it is unread.
 *
 * DKIM: the d= of the first signature that passed, from the dkim stage
 * (stage_dkim_results), which must come first in filters.stages; without
 * it there is no DKIM key.  Domains are checked (letters, digits,
 * '-', '_', dots, two labels at least, 253 bytes at most); anything else,
 * a null sender or an unparsable From field is skipped, not guessed.
 * A lookup-store failure at the data step is FILTER_ERROR (the failure
 * policy applies); in the verdict hook it is logged and the message is
 * not learnt.  No libm: the test programs do not link it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "filters/filters.h"
#include "filters/stage_dkim.h"
#include "lookup/lookup.h"

#define REP_SVC "reputation"
#define REP_EPOCH 5		/* half-lives in an epoch */
#define REP_SCALE 1000000.0	/* fixed point of the counters */
#define REP_SAMPLE_MAX 100.0	/* a learnt score is clamped to +-this */
#define REP_AVG_MIN (-5.0)
#define REP_AVG_MAX 10.0
#define REP_FROM_MAX 4096	/* bytes of a From field we look at */
#define REP_COMMENT_DEPTH 16
#define REP_DOMAIN_MAX 253
#define REP_SYM_PREFIX "REPUTATION_"

enum rep_kind { REP_IP, REP_NET, REP_MAILFROM, REP_FROM, REP_DKIM,
	REP_NKINDS };

static const struct {
	const char *key, *sym;
} rep_kinds[REP_NKINDS] = {
	{ "ip", REP_SYM_PREFIX "IP" },
	{ "net", REP_SYM_PREFIX "NET" },
	{ "mailfrom", REP_SYM_PREFIX "MAILFROM" },
	{ "from", REP_SYM_PREFIX "FROM" },
	{ "dkim", REP_SYM_PREFIX "DKIM" },
};

/* the subjects of one message: have[k] when kind k applies */
struct subjects {
	struct buf s[REP_NKINDS];
	bool have[REP_NKINDS];
};

/* ---- arithmetic (no libm) ---- */

/* pow2 - 2^x, to double precision for |x| up to 1000 */
static double
pow2(double x)
{
	double r = 1.0, term = 1.0, y, scale = 1.0;
	long i;

	if (x > 1000.0)
		x = 1000.0;
	if (x < -1000.0)
		x = -1000.0;
	i = (long)x;
	if ((double)i > x)
		i--;			/* floor */
	y = (x - (double)i) * 0.69314718055994530942;	/* [0, ln 2) */
	for (int k = 1; k < 20; k++) {
		term *= y / k;
		r += term;
	}
	for (; i > 0; i--)
		scale *= 2.0;
	for (; i < 0; i++)
		scale *= 0.5;
	return r * scale;
}

/* fixed - v rounded to the nearest int64 (v is bounded by the caller) */
static int64_t
fixed(double v)
{
	return (int64_t)(v >= 0 ? v + 0.5 : v - 0.5);
}

static double
clamp(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* floor_div - floor(a / b), b > 0 */
static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* ---- subjects ---- */

/*
 * domain_add - the domain at d (n bytes, a trailing dot allowed),
 * lowercased into out; -1 (out untouched) unless it looks like a domain
 * name: LDH and '_' labels of 1..63, two labels at least
 */
static int
domain_add(const char *d, size_t n, struct buf *out)
{
	size_t label = 0, dots = 0;

	if (n > 0 && d[n - 1] == '.')
		n--;
	if (n == 0 || n > REP_DOMAIN_MAX)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)d[i];

		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
			dots++;
		} else if (is_ascii_alnum(c) || c == '-' || c == '_') {
			if (++label > 63)
				return -1;
		} else {
			return -1;
		}
	}
	if (label == 0 || dots == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char c = (char)ascii_tolower((unsigned char)d[i]);

		buf_add(out, &c, 1);
	}
	return 0;
}

/*
 * from_skeleton - the From field value with each run of white space and
 * comments (CFWS) made one space, and each quoted string one 'q' (so
 * that what it holds counts for nothing: '@', ',', '<'); -1 when
 * unbalanced, too nested, too long or holding control characters
 */
static int
from_skeleton(const char *v, struct buf *sk)
{
	size_t len = strnlen(v, REP_FROM_MAX + 1);
	unsigned depth = 0;
	bool inq = false, space = false;

	if (len > REP_FROM_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '\\' && (inq || depth > 0)) {	/* quoted-pair */
			if (++i >= len)
				return -1;
			continue;
		}
		if (inq) {
			if (c == '"')
				inq = false;
			continue;
		}
		if (depth > 0) {
			if (c == '(' && ++depth > REP_COMMENT_DEPTH)
				return -1;
			if (c == ')')
				depth--;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		    c == '(') {
			if (c == '(')
				depth = 1;
			space = sk->len > 0;
			continue;
		}
		if (c == ')' || c < 0x20 || c == 0x7f)
			return -1;
		if (space)
			buf_add_str(sk, " ");
		space = false;
		if (c == '"') {
			inq = true;
			buf_add_str(sk, "q");
		} else {
			buf_add(sk, &c, 1);
		}
	}
	return inq || depth > 0 ? -1 : 0;
}

/*
 * from_domain - the domain of the one mailbox of a From field (RFC 5322
 * section 3.4: [display-name] <addr-spec>, or addr-spec), lowercased into
 * out; -1 for anything else: several mailboxes, groups, obsolete routes,
 * domain literals, no '@' or two, a display name with specials, white
 * space inside an atom of the address
 */
static int
from_domain(const char *v, struct buf *out)
{
	struct buf sk = BUF_INIT(0), dom = BUF_INIT(0);
	const char *s, *end, *a, *ae, *at = NULL;
	int rc = -1;

	if (from_skeleton(v, &sk) < 0)
		goto out;
	s = buf_cstr(&sk);
	end = s + sk.len;
	a = memchr(s, '<', sk.len);
	if (a != NULL) {
		/* the display name holds no specials; nothing follows '>' */
		if (s + strcspn(s, "@,:;<>[]") != a)
			goto out;
		a++;
		ae = memchr(a, '>', (size_t)(end - a));
		if (ae == NULL || (ae + 1 != end && !(ae + 2 == end &&
		    ae[1] == ' ')))
			goto out;
	} else {
		a = s;
		ae = end;
	}
	while (a < ae && *a == ' ')
		a++;
	while (ae > a && ae[-1] == ' ')
		ae--;
	for (const char *p = a; p < ae; p++) {
		if (strchr(",:;<>[]", *p) != NULL)
			goto out;
		if (*p == ' ') {
			/* CFWS only next to '@' or '.' (obsolete syntax) */
			if (strchr("@.", p[-1]) == NULL &&
			    strchr("@.", p[1]) == NULL)
				goto out;
			continue;
		}
		if (*p == '@') {
			if (at != NULL)
				goto out;	/* a second unquoted '@' */
			at = p;
		} else if (at != NULL) {
			buf_add(&dom, p, 1);
		}
	}
	if (at == NULL || at == a)
		goto out;
	rc = domain_add((const char *)dom.data, dom.len, out);
out:
	buf_free(&sk);
	buf_free(&dom);
	return rc;
}

/*
 * dkim_domain - the d= domain of the first DKIM signature that verified
 * (the dkim stage's results, stage_dkim.h), into out; -1 when there is
 * none.  The dkim stage must come before this one in filters.stages:
 * after it, the data step sees no results and only the verdict learns.
 */
static int
dkim_domain(const struct filter_msg *m, struct buf *out)
{
	const struct stage_dkim_results *res = stage_dkim_results(m);

	for (size_t i = 0; res != NULL && i < res->nsigs; i++)
		if (res->sigs[i].result == STAGE_DKIM_PASS &&
		    res->sigs[i].domain != NULL)
			return domain_add(res->sigs[i].domain,
			    strlen(res->sigs[i].domain), out);
	return -1;
}

/* client_net - "192.0.2.0/24", "2001:db8::/64"; -1 for a non-IP peer */
static int
client_net(const struct filter_conn *c, struct buf *out)
{
	unsigned char a[16];
	char txt[INET6_ADDRSTRLEN];
	size_t n = netaddr_ip_bytes((const struct sockaddr *)&c->addr.ss, a);

	if (n == 4) {
		a[3] = 0;
		if (inet_ntop(AF_INET, a, txt, sizeof(txt)) == NULL)
			return -1;
		buf_addf(out, "%s/24", txt);
		return 0;
	}
	if (n == 16) {
		memset(a + 8, 0, 8);
		if (inet_ntop(AF_INET6, a, txt, sizeof(txt)) == NULL)
			return -1;
		buf_addf(out, "%s/64", txt);
		return 0;
	}
	return -1;
}

static void
subjects_get(const struct filter_msg *m, struct subjects *sj)
{
	const struct filter_header *from = NULL;
	const char *at;
	size_t nfrom = 0;

	memset(sj, 0, sizeof(*sj));
	if (client_net(m->conn, &sj->s[REP_NET]) == 0) {
		sj->have[REP_NET] = true;
		buf_add_str(&sj->s[REP_IP], m->conn->ip);
		sj->have[REP_IP] = true;
	}
	if (m->sender != NULL && (at = strrchr(m->sender, '@')) != NULL)
		sj->have[REP_MAILFROM] = domain_add(at + 1, strlen(at + 1),
		    &sj->s[REP_MAILFROM]) == 0;
	/* several From fields: which one would the reader see?  None. */
	for (size_t i = 0; i < m->nhdrs; i++)
		if (strcasecmp(m->hdrs[i].name, "From") == 0 && nfrom++ == 0)
			from = &m->hdrs[i];
	if (nfrom == 1)
		sj->have[REP_FROM] = from_domain(from->value,
		    &sj->s[REP_FROM]) == 0;
	sj->have[REP_DKIM] = dkim_domain(m, &sj->s[REP_DKIM]) == 0;
}

static void
subjects_free(struct subjects *sj)
{
	for (size_t k = 0; k < REP_NKINDS; k++)
		buf_free(&sj->s[k]);
}

/* ---- the store ---- */

static int64_t
epoch_span(const struct filter_env *rp)
{
	return (int64_t)REP_EPOCH * rp->cfg->reputation.half_life;
}

/* rep_key - rep:<kind>:<epoch>:<s|w>:<subject> */
static void
rep_key(struct buf *b, enum rep_kind k, int64_t epoch, char which,
    const struct buf *subject)
{
	buf_addf(b, "rep:%s:%lld:%c:", rep_kinds[k].key, (long long)epoch,
	    which);
	buf_add(b, subject->data, subject->len);
}

/*
 * read_averages - for each kind that applies, the decayed weight and
 * average at now (weight[k] < 0: the kind does not apply)
 */
static int
read_averages(const struct filter_env *rp, const struct subjects *sj,
    int64_t now, double *weight, double *avg, struct buf *err)
{
	int64_t span = epoch_span(rp), epoch = floor_div(now, span);
	double h = rp->cfg->reputation.half_life;
	struct buf kb[REP_NKINDS * 4], vals[REP_NKINDS * 4];
	struct lookup_key keys[REP_NKINDS * 4];
	bool found[REP_NKINDS * 4];
	size_t n = 0;
	int rc = -1;

	memset(kb, 0, sizeof(kb));
	memset(vals, 0, sizeof(vals));
	for (size_t k = 0; k < REP_NKINDS; k++) {
		weight[k] = -1;
		if (!sj->have[k])
			continue;
		for (int e = 0; e < 2; e++) {
			rep_key(&kb[n], k, epoch - e, 's', &sj->s[k]);
			rep_key(&kb[n + 1], k, epoch - e, 'w', &sj->s[k]);
			n += 2;
		}
	}
	for (size_t i = 0; i < n; i++) {
		keys[i].key = kb[i].data;
		keys[i].len = kb[i].len;
	}
	if (n > 0 && lookup_get_many(rp->lookup, keys, n, vals, found,
	    err) < 0)
		goto out;
	n = 0;
	for (size_t k = 0; k < REP_NKINDS; k++) {
		double sum = 0, w = 0;

		if (!sj->have[k])
			continue;
		for (int e = 0; e < 2; e++, n += 2) {
			double decay = pow2(-(double)(now - (epoch - e) *
			    span) / h);
			int64_t cs = 0, cw = 0;

			/* a value that is no counter (a foreign writer) is
			 * taken as absent, not as an error */
			if (found[n] && found[n + 1] &&
			    lookup_parse_counter(vals[n].data, vals[n].len,
			    &cs) == 0 && lookup_parse_counter(vals[n + 1].data,
			    vals[n + 1].len, &cw) == 0 && cw > 0) {
				sum += (double)cs * decay / REP_SCALE;
				w += (double)cw * decay / REP_SCALE;
			}
		}
		weight[k] = w;
		avg[k] = w > 0 ? sum / w : 0;
	}
	rc = 0;
out:
	for (size_t i = 0; i < REP_NKINDS * 4; i++) {
		buf_free(&kb[i]);
		buf_free(&vals[i]);
	}
	return rc;
}

/* learn - add a message of score at now to every applicable key */
static int
learn(const struct filter_env *rp, const struct subjects *sj, int64_t now,
    double score, struct buf *err)
{
	int64_t span = epoch_span(rp), epoch = floor_div(now, span);
	double f = pow2((double)(now - epoch * span) /
	    rp->cfg->reputation.half_life);
	uint64_t ttl = 2 * (uint64_t)span + 3600;
	struct buf kb[REP_NKINDS * 2];
	struct lookup_key keys[REP_NKINDS * 2];
	int64_t deltas[REP_NKINDS * 2];
	size_t n = 0;
	int rc;

	memset(kb, 0, sizeof(kb));
	score = clamp(score, -REP_SAMPLE_MAX, REP_SAMPLE_MAX);
	for (size_t k = 0; k < REP_NKINDS; k++) {
		if (!sj->have[k])
			continue;
		rep_key(&kb[n], k, epoch, 's', &sj->s[k]);
		deltas[n] = fixed(score * f * REP_SCALE);
		rep_key(&kb[n + 1], k, epoch, 'w', &sj->s[k]);
		deltas[n + 1] = fixed(f * REP_SCALE);
		n += 2;
	}
	for (size_t i = 0; i < n; i++) {
		keys[i].key = kb[i].data;
		keys[i].len = kb[i].len;
	}
	rc = n == 0 ? 0 : lookup_incr_many(rp->lookup, keys, n, deltas,
	    ttl > UINT32_MAX ? UINT32_MAX : (uint32_t)ttl, NULL, err);
	for (size_t i = 0; i < n; i++)
		buf_free(&kb[i]);
	return rc;
}

/* own - what this stage added to m->score (its symbols) */
static double
own(const struct filter_msg *m)
{
	double s = 0;

	for (size_t i = 0; i < m->nsyms; i++)
		if (strncmp(m->syms[i].name, REP_SYM_PREFIX,
		    sizeof(REP_SYM_PREFIX) - 1) == 0)
			s += m->syms[i].score;
	return s;
}

static const char *
qid_of(const struct filter_msg *m)
{
	return m->qid != NULL && m->qid[0] != '\0' ? m->qid : "NOQUEUE";
}

/* ---- the stage ---- */

static enum filter_action
reputation_data(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct filter_env *rp = state;
	const struct config_reputation *rc = &rp->cfg->reputation;
	struct subjects sj;
	struct buf err = BUF_INIT(0);
	double weight[REP_NKINDS], avg[REP_NKINDS];
	enum filter_action a = FILTER_CONTINUE;

	(void)r;
	subjects_get(m, &sj);
	if (read_averages(rp, &sj, filter_now(m), weight, avg, &err) < 0) {
		log_warn(REP_SVC, "%s: client=%s: lookup store: %s",
		    qid_of(m), m->conn->ip, buf_cstr(&err));
		a = FILTER_ERROR;
		goto out;
	}
	for (size_t k = 0; k < REP_NKINDS; k++) {
		/* the fixed point rounds each sample by 1e-6 at most */
		if (weight[k] < 0 || weight[k] < rc->min_samples *
		    (1.0 - 1e-5))
			continue;
		filter_symbol(m, rep_kinds[k].sym, rc->weight *
		    clamp(avg[k], REP_AVG_MIN, REP_AVG_MAX));
		log_debug(REP_SVC, "%s: %s=%s, average=%.2f, weight=%.2f",
		    qid_of(m), rep_kinds[k].key, buf_cstr(&sj.s[k]), avg[k],
		    weight[k]);
	}
out:
	subjects_free(&sj);
	buf_free(&err);
	return a;
}

static void
reputation_verdict(void *state, struct filter_msg *m,
    enum filter_action final)
{
	const struct filter_env *rp = state;
	struct subjects sj;
	struct buf err = BUF_INIT(0);

	if (final == FILTER_TEMPFAIL || m->accepted || (final ==
	    FILTER_REJECT && m->score < rp->cfg->filters.reject_score))
		return;
	subjects_get(m, &sj);
	if (learn(rp, &sj, filter_now(m), m->score - own(m), &err) < 0)
		log_warn(REP_SVC, "%s: client=%s: not learnt: lookup store: "
		    "%s", qid_of(m), m->conn->ip, buf_cstr(&err));
	subjects_free(&sj);
	buf_free(&err);
}

const struct filter_stage_ops filter_stage_reputation = {
	.name = "reputation",
	.inbound_only = true,
	.needs_lookup = true,
	.data = reputation_data,
	.verdict = reputation_verdict,
};
