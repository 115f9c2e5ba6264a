/*
 * stage_greylist.c - greylisting (the "greylist" stage, inbound only):
 * a (client network, envelope sender, recipient) triplet seen for the
 * first time is deferred with 451 4.7.1; a retry after greylist.delay and
 * within greylist.retry_window of the first attempt passes, and the
 * triplet is then remembered as passed for greylist.pass_ttl after its
 * last use.  A retry too early is deferred again (the first-seen time
 * stays); one after the window starts over.  A client network with
 * greylist.whitelist_after passed triplets is no longer greylisted while
 * it keeps sending (auto-whitelist: greylist.whitelist_ttl after its last
 * message).  See RFC 6647 for the practice.
 *
 * The client network is the IPv4 /24 or the IPv6 /64 (v4-mapped peers
 * count as IPv4), since big senders retry from a neighbouring address;
 * the sender (the null sender as "<>") and the recipient are lowercased.
 *
 * Modes (greylist.mode): "always" judges each recipient at RCPT, its own
 * triplet, and refuses only that recipient; "doubt" (the default) waits
 * for the complete score (the scored hook) and greylists only a message
 * at or over filters.greylist_score: every recipient's triplet at once,
 * the whole message deferred when one is new or not ripe yet, and all of
 * them marked passed when it passes.
 *
 * State, in the lookup store (every key with a TTL, which only cleans up:
 * the decisions use the times in the values):
 *
 *   grey:t:<net> <sender> <rcpt>   "w <first>" waiting since first, TTL
 *                                  retry_window + 1h; "p <first> <last>"
 *                                  passed, last used at last, TTL
 *                                  pass_ttl + 1h.
 *   grey:a:<net>                   "<passes> <last>": triplets of the
 *                                  network that passed, last message
 *                                  that passed; TTL whitelist_ttl + 1h.
 *
 * <net> is "192.0.2.0/24", "2001:db8:1:2::/64" (or the peer's text for a
 * non-IP peer); sender and recipient bytes that are space, '%', control
 * or non-ASCII are written %XX, so the single spaces separate the parts;
 * when the key would be over LOOKUP_KEY_MAX, "<sender> <rcpt>" is
 * replaced by '#' and its SHA-256 in hex.  Times are unix seconds of
 * filter_now().  Refreshing a passed triplet or the whitelist entry is a
 * write, done at most every min(5 min, ttl / 8), so a busy client does
 * not write on every message.
 *
 * Concurrency: each key is read and written whole (no read-modify-write
 * transaction: the lookup store has none).  Two sessions racing on a new
 * triplet both record a first-seen time a moment apart (harmless); two
 * passes of one network at the same instant may count one pass instead
 * of two in grey:a: (the whitelist comes one pass later).
 *
 * Failures: a lookup-store error is FILTER_ERROR, so the pipeline applies
 * the failure policy (a tempfail at RCPT, "accept" with GREYLIST_FAIL at
 * the data step by default).  Symbol: GREYLIST_PASS (0) on a message
 * that was let through by the greylist (a ripe retry, a passed triplet,
 * a whitelisted network).  Each deferral is logged (action=defer).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "filters/filters.h"
#include "lookup/lookup.h"

#define GREY_SVC "greylist"
#define GREY_TTL_SLACK 3600u	/* the TTL outlives the logic by this */
#define GREY_REFRESH_MAX 300	/* seconds between refresh writes, most */
#define GREY_SYM "GREYLIST_PASS"

/* a triplet, as read from the store */
enum trip_state {
	TRIP_NEW,		/* absent, garbage, expired: starts over */
	TRIP_EARLY,		/* waiting, delay not over yet */
	TRIP_RIPE,		/* waiting, delay over, within the window */
	TRIP_PASSED,		/* passed, still remembered */
};

struct trip {
	enum trip_state state;
	int64_t first, last;
	bool dup;		/* the same key as an earlier recipient */
};

/* ---- keys and values ---- */

/* client_net - "192.0.2.0/24", "2001:db8::/64", or the peer's text */
static void
client_net(const struct filter_conn *c, struct buf *out)
{
	unsigned char a[16];
	char txt[INET6_ADDRSTRLEN];
	size_t n = netaddr_ip_bytes((const struct sockaddr *)&c->addr.ss, a);

	if (n == 4) {
		a[3] = 0;
		if (inet_ntop(AF_INET, a, txt, sizeof(txt)) != NULL) {
			buf_addf(out, "%s/24", txt);
			return;
		}
	} else if (n == 16) {
		memset(a + 8, 0, 8);
		if (inet_ntop(AF_INET6, a, txt, sizeof(txt)) != NULL) {
			buf_addf(out, "%s/64", txt);
			return;
		}
	}
	buf_add_str(out, c->ip[0] != '\0' ? c->ip : "unknown");
}

/* key_part - s lowercased, with space, '%', controls and 8-bit as %XX */
static void
key_part(struct buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		char lc;

		if (c <= 0x20 || c >= 0x7f || c == '%') {
			buf_addf(b, "%%%02X", c);
			continue;
		}
		lc = (char)ascii_tolower(c);
		buf_add(b, &lc, 1);
	}
}

static void
triplet_key(struct buf *b, const char *net, const char *sender,
    const char *rcpt)
{
	size_t mark;

	buf_addf(b, "grey:t:%s ", net);
	mark = b->len;
	if (*sender == '\0')
		buf_add_str(b, "<>");
	else
		key_part(b, sender);
	buf_add_str(b, " ");
	key_part(b, rcpt);
	if (b->len > LOOKUP_KEY_MAX) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned mdlen = 0;

		if (EVP_Digest(b->data + mark, b->len - mark, md, &mdlen,
		    EVP_sha256(), NULL) != 1)
			PANIC("greylist: SHA-256 failed");
		buf_truncate(b, mark);
		buf_add_str(b, "#");
		for (unsigned i = 0; i < mdlen; i++)
			buf_addf(b, "%02x", md[i]);
	}
}

/* parse_times - n space-separated unix times; 0, or -1 on anything else */
static int
parse_times(const char *p, size_t len, int64_t *v, size_t n)
{
	const char *end = p + len;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *fe = sp != NULL ? sp : end;
		uint64_t u;

		if (parse_u64(p, (size_t)(fe - p), INT64_MAX, &u) < 0)
			return -1;
		v[i] = (int64_t)u;
		if (i + 1 < n) {
			if (sp == NULL)
				return -1;
			p = sp + 1;
		} else if (sp != NULL) {
			return -1;
		}
	}
	return 0;
}

/* parse_trip - "w <first>" or "p <first> <last>" */
static int
parse_trip(const struct buf *v, char *kind_r, int64_t *first_r,
    int64_t *last_r)
{
	const char *s = (const char *)v->data;
	int64_t t[2];

	if (v->len < 3 || s[1] != ' ')
		return -1;
	if (s[0] == 'w' && parse_times(s + 2, v->len - 2, t, 1) == 0) {
		*first_r = *last_r = t[0];
	} else if (s[0] == 'p' && parse_times(s + 2, v->len - 2, t, 2) ==
	    0) {
		*first_r = t[0];
		*last_r = t[1];
	} else {
		return -1;
	}
	*kind_r = s[0];
	return 0;
}

/* due - whether an entry with this ttl, last written at last, wants a
 * refresh write now */
static bool
due(int64_t now, int64_t last, unsigned ttl)
{
	int64_t every = ttl / 8 < GREY_REFRESH_MAX ? ttl / 8 :
	    GREY_REFRESH_MAX;

	return now - last >= every;
}

static uint32_t
ttl_of(unsigned logical)
{
	return logical > UINT32_MAX - GREY_TTL_SLACK ? UINT32_MAX :
	    logical + GREY_TTL_SLACK;
}

static int
put(const struct filter_env *g, const struct buf *key, uint32_t ttl,
    struct buf *err, const char *fmt, ...) PRINTF_LIKE(5, 6);

static int
put(const struct filter_env *g, const struct buf *key, uint32_t ttl,
    struct buf *err, const char *fmt, ...)
{
	struct buf v = BUF_INIT(0);
	va_list ap;
	int rc;

	va_start(ap, fmt);
	if (buf_vprintf(&v, fmt, ap) < 0)
		PANIC("greylist: limited buffer");
	va_end(ap);
	rc = lookup_set(g->lookup, key->data, key->len, v.data, v.len, ttl,
	    err);
	buf_free(&v);
	return rc;
}

/* get_all - lookup_get_many of n keys, in batches the store accepts */
static int
get_all(struct lookup *l, const struct lookup_key *keys, size_t n,
    struct buf *vals, bool *found, struct buf *err)
{
	for (size_t off = 0; off < n; off += LOOKUP_BATCH_MAX) {
		size_t k = n - off < LOOKUP_BATCH_MAX ? n - off :
		    LOOKUP_BATCH_MAX;

		if (lookup_get_many(l, keys + off, k, vals + off, found + off,
		    err) < 0)
			return -1;
	}
	return 0;
}

static void
pass_symbol(struct filter_msg *m)
{
	for (size_t i = 0; i < m->nsyms; i++)
		if (strcmp(m->syms[i].name, GREY_SYM) == 0)
			return;
	filter_symbol(m, GREY_SYM, 0.0);
}

static const char *
qid_of(const struct filter_msg *m)
{
	return m->qid != NULL && m->qid[0] != '\0' ? m->qid : "NOQUEUE";
}

/* ---- the decision ---- */

static void
classify(const struct config_greylist *gc, int64_t now, const struct buf *v,
    bool found, struct trip *t)
{
	char kind;

	t->state = TRIP_NEW;
	if (!found || parse_trip(v, &kind, &t->first, &t->last) < 0)
		return;
	if (kind == 'p') {
		if (now - t->last <= (int64_t)gc->pass_ttl)
			t->state = TRIP_PASSED;
	} else if (now - t->first <= (int64_t)gc->retry_window) {
		t->state = now - t->first < (int64_t)gc->delay ? TRIP_EARLY :
		    TRIP_RIPE;
	}
}

/*
 * defer - record the new triplets and refuse; the wait is the longest of
 * the recipients' (a new one: the whole delay)
 */
static enum filter_action
defer(const struct filter_env *g, struct filter_msg *m, const char *net,
    char *const *rcpts, size_t n, const struct buf *kb, struct trip *t,
    int64_t now, struct filter_reply *r, struct buf *err)
{
	const struct config_greylist *gc = &g->cfg->greylist;
	int64_t wait = 0;
	size_t nnew = 0;
	const char *why = "early";

	for (size_t i = 0; i < n; i++) {
		int64_t w;

		if (t[i].dup)
			continue;
		if (t[i].state == TRIP_NEW) {
			if (put(g, &kb[i], ttl_of(gc->retry_window), err,
			    "w %lld", (long long)now) < 0)
				return FILTER_ERROR;
			nnew++;
			w = gc->delay;
		} else if (t[i].state == TRIP_EARLY) {
			w = t[i].first + gc->delay - now;
		} else {
			continue;
		}
		if (w > wait)
			wait = w;
	}
	if (nnew > 0)
		why = "new";
	if (wait < 1)
		wait = 1;
	log_info(GREY_SVC, "%s: action=defer, client=%s, net=%s, from=<%s>, "
	    "to=<%s>%s, reason=%s, retry_in=%llds", qid_of(m), m->conn->ip,
	    net, m->sender != NULL ? m->sender : "", rcpts[0],
	    n > 1 ? " (and others)" : "", why, (long long)wait);
	filter_reply_set(r, 451, "4.7.1", "Greylisted, please try again in "
	    "%lld seconds", (long long)wait);
	return FILTER_TEMPFAIL;
}

/*
 * judge - greylist the n recipients of m (one at RCPT, all of them in
 * the scored hook): CONTINUE, TEMPFAIL with r, or ERROR
 */
static enum filter_action
judge(const struct filter_env *g, struct filter_msg *m, char *const *rcpts,
    size_t n, struct filter_reply *r)
{
	const struct config_greylist *gc = &g->cfg->greylist;
	const char *sender = m->sender != NULL ? m->sender : "";
	int64_t now = filter_now(m), wl[2] = { 0, 0 }, delay = -1;
	size_t nk = n + 1, newly = 0;
	struct buf net = BUF_INIT(0), err = BUF_INIT(0);
	struct buf *kb = xcalloc(nk, sizeof(*kb));
	struct buf *vals = xcalloc(nk, sizeof(*vals));
	struct lookup_key *keys = xcalloc(nk, sizeof(*keys));
	bool *found = xcalloc(nk, sizeof(*found));
	struct trip *t = xcalloc(n, sizeof(*t));
	enum filter_action a = FILTER_ERROR;
	bool defer_it = false;

	/* [0] the network's whitelist entry, [1 + i] recipient i's triplet */
	client_net(m->conn, &net);
	buf_addf(&kb[0], "grey:a:%s", buf_cstr(&net));
	for (size_t i = 0; i < n; i++)
		triplet_key(&kb[i + 1], buf_cstr(&net), sender, rcpts[i]);
	for (size_t i = 0; i < nk; i++) {
		keys[i].key = kb[i].data;
		keys[i].len = kb[i].len;
	}
	if (get_all(g->lookup, keys, nk, vals, found, &err) < 0)
		goto fail;

	if (found[0] && (parse_times((const char *)vals[0].data, vals[0].len,
	    wl, 2) < 0 || now - wl[1] > (int64_t)gc->whitelist_ttl))
		wl[0] = wl[1] = 0;	/* garbage or idle too long */
	if (gc->whitelist_after > 0 && wl[0] >= gc->whitelist_after) {
		if (due(now, wl[1], gc->whitelist_ttl) && put(g, &kb[0],
		    ttl_of(gc->whitelist_ttl), &err, "%lld %lld",
		    (long long)wl[0], (long long)now) < 0)
			goto fail;
		log_debug(GREY_SVC, "%s: action=pass, client=%s, net=%s, "
		    "reason=whitelisted", qid_of(m), m->conn->ip,
		    buf_cstr(&net));
		pass_symbol(m);
		a = FILTER_CONTINUE;
		goto out;
	}

	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i && !t[i].dup; j++)
			t[i].dup = kb[j + 1].len == kb[i + 1].len &&
			    memcmp(kb[j + 1].data, kb[i + 1].data,
			    kb[i + 1].len) == 0;
		classify(gc, now, &vals[i + 1], found[i + 1], &t[i]);
		if (t[i].state == TRIP_NEW || t[i].state == TRIP_EARLY)
			defer_it = true;
	}
	if (defer_it) {
		a = defer(g, m, buf_cstr(&net), rcpts, n, kb + 1, t, now, r,
		    &err);
		if (a == FILTER_ERROR)
			goto fail;
		goto out;
	}

	for (size_t i = 0; i < n; i++) {
		if (t[i].dup)
			continue;
		if (t[i].state == TRIP_RIPE) {
			newly++;
			if (delay < 0)
				delay = now - t[i].first;
		} else if (!due(now, t[i].last, gc->pass_ttl)) {
			continue;
		}
		if (put(g, &kb[i + 1], ttl_of(gc->pass_ttl), &err,
		    "p %lld %lld", (long long)t[i].first, (long long)now) < 0)
			goto fail;
	}
	if (wl[0] + (int64_t)newly > 0 && (newly > 0 ||
	    due(now, wl[1], gc->whitelist_ttl)) && put(g, &kb[0],
	    ttl_of(gc->whitelist_ttl), &err, "%lld %lld",
	    (long long)(wl[0] + (int64_t)newly), (long long)now) < 0)
		goto fail;
	if (newly > 0)
		log_info(GREY_SVC, "%s: action=pass, client=%s, net=%s, "
		    "from=<%s>, to=<%s>%s, delay=%llds", qid_of(m),
		    m->conn->ip, buf_cstr(&net), sender, rcpts[0],
		    n > 1 ? " (and others)" : "", (long long)delay);
	pass_symbol(m);
	a = FILTER_CONTINUE;
	goto out;
fail:
	log_warn(GREY_SVC, "%s: client=%s: lookup store: %s", qid_of(m),
	    m->conn->ip, buf_cstr(&err));
	a = FILTER_ERROR;
out:
	for (size_t i = 0; i < nk; i++) {
		buf_free(&kb[i]);
		buf_free(&vals[i]);
	}
	free(kb);
	free(vals);
	free(keys);
	free(found);
	free(t);
	buf_free(&net);
	buf_free(&err);
	return a;
}

/* ---- the stage ---- */

static enum filter_action
greylist_rcpt(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct filter_env *g = state;

	if (g->cfg->greylist.mode != GREYLIST_ALWAYS || m->nrcpts == 0)
		return FILTER_CONTINUE;
	return judge(g, m, &m->rcpts[m->nrcpts - 1], 1, r);
}

static enum filter_action
greylist_scored(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct filter_env *g = state;

	if (g->cfg->greylist.mode != GREYLIST_DOUBT || m->nrcpts == 0 ||
	    m->score < g->cfg->filters.greylist_score)
		return FILTER_CONTINUE;
	return judge(g, m, m->rcpts, m->nrcpts, r);
}

const struct filter_stage_ops filter_stage_greylist = {
	.name = "greylist",
	.inbound_only = true,
	.needs_lookup = true,
	.rcpt = greylist_rcpt,
	.scored = greylist_scored,
};
