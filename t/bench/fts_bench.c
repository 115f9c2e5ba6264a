/*
 * fts_bench.c - `make bench`: the full-text index (store/fts.h) over a
 * realistic synthetic mailbox, for the SQLite and RocksDB kv backends.
 * Prints figures only; no timing is ever asserted (exit 1 only when a
 * call fails).
 *
 * The corpus (generated once, in memory, before anything is timed, so
 * both backends index exactly the same bytes): FTS_BENCH_DOCS messages
 * (20,000) of one account, from a seeded PRNG (splitmix64), so every run
 * is the same.  Words come from a vocabulary of ~330 real English words
 * (function words and office vocabulary, in rough frequency order) padded
 * with pronounceable synthetic words to 4,000, drawn with a Zipf(1)
 * distribution; senders are 400 people at 30 domains, also Zipf (a few
 * correspondents write most mail).  Each message has a subject (3-9
 * words; Re:/Fwd: prefixes, ticket numbers), From, To (the owner, at
 * times more), Cc on a quarter of them, a body of 2-4 KB (greeting,
 * paragraphs, order numbers, URLs, a quoted reply on replies, a
 * signature) and, on 15%, a text attachment of 2-12 KB (a CSV export or
 * a log file, full of numbers: many distinct terms).  These go to the
 * index as fts_parts the way store.c hands a parsed message to it (the
 * attachment's text in the body field, as mime_info.text has it); MIME
 * parsing is not part of what is measured.
 *
 * What is measured, for each backend (FTS_BENCH_BACKENDS, default
 * "sqlite rocksdb"), in a new store under a temp dir on disk:
 *   - index rate, batched: the first DOCS - SINGLE messages in write
 *     transactions of FTS_BENCH_BATCH (100) messages, one fts batch each
 *     (fts_batch_index..., fts_batch_flush, kv_commit), as a bulk import
 *     or a reindex would;
 *   - index rate, one message per transaction: the last FTS_BENCH_SINGLE
 *     (300) messages, a batch of one (fts_batch_index, fts_batch_flush)
 *     then kv_commit (fsync) each, as one local delivery does (a
 *     delivery also writes the email's metadata in that transaction; not
 *     here); the latency of those transactions (median, p99, max); and,
 *     when a flush reports the account's merge due
 *     (fts_batch_merge_due), fts_merge in a transaction of its own after
 *     the commit, as a delivery would run it (FTS_BENCH_MERGE=due, the
 *     default; "inline" leaves merging to the flushes that reach
 *     pending_max), counted in the rate and timed apart;
 *   - index size on disk: blocks allocated under the store's directory
 *     after kv_close (SQLite: file + WAL; RocksDB: SSTs, WAL, manifest);
 *   - query latency: FTS_BENCH_QUERIES (50) queries of each kind, each in
 *     a read transaction of its own (kv_begin, fts_search, kv_commit), as
 *     one IMAP SEARCH or JMAP Email/query would (with the pending docs
 *     the single phase left, printed), after one untimed pass
 *     over the same queries (warm cache); median and p99 (nearest rank)
 *     per kind.  Kinds, all over every field unless named: one common
 *     word (ranks 10-80), one rare word (the vocabulary's second half:
 *     with only 4,000 words even these are in ~1% of the messages), an
 *     order number (in one or two messages), AND and OR of two words
 *     (ranks 40-1000), word AND NOT word (ranks 20-300), a 3-4 letter
 *     prefix, From: a last name or a whole address, Subject: one word.
 *     The same queries run on every backend.
 *
 * Environment: FTS_BENCH_DOCS, FTS_BENCH_BATCH, FTS_BENCH_SINGLE,
 * FTS_BENCH_MERGE, FTS_BENCH_PENDING_DUE and FTS_BENCH_PENDING_MAX (the
 * fts_limits; 0 = the defaults),
 * FTS_BENCH_QUERIES, FTS_BENCH_BACKENDS, FTS_BENCH_SEED; BENCH_TMPDIR (or
 * TMPDIR, else /var/tmp) for the temp dir; BENCH_KEEP=1 keeps it.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <roaring/roaring.h>

#include "common/buf.h"
#include "common/common.h"
#include "store/fts.h"
#include "store/kv.h"

#define ACCOUNT 1u
#define VOCAB 4000u
#define PEOPLE 400u
#define OWNER_NAME "Dana Whitfield"
#define OWNER_ADDR "dana.whitfield@bench.test"
#define TMPFS_MAGIC_ 0x01021994L

/* set by SIGINT/SIGTERM/SIGHUP/SIGPIPE: stop at the next message or query and
 * remove the temp dir */
static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* ---- deterministic generator ---- */

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* rng_below - uniform in [0, n), n > 0 */
static uint32_t
rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rng_next(r) % n);
}

/* rng_range - uniform in [lo, hi] */
static uint32_t
rng_range(struct rng *r, uint32_t lo, uint32_t hi)
{
	return lo + rng_below(r, hi - lo + 1);
}

static bool
rng_chance(struct rng *r, unsigned percent)
{
	return rng_below(r, 100) < percent;
}

static double
rng_unit(struct rng *r)
{
	return (double)(rng_next(r) >> 11) / 9007199254740992.0;
}

/* the most frequent words first; the synthetic ones follow */
static const char *const real_words[] = {
	"the", "of", "and", "to", "a", "in", "is", "it", "you", "that",
	"for", "on", "we", "with", "this", "be", "are", "as", "have", "at",
	"not", "will", "can", "or", "from", "by", "our", "your", "an", "if",
	"all", "but", "they", "so", "would", "there", "what", "about", "up",
	"please", "thanks", "out", "was", "do", "one", "when", "more", "me",
	"also", "new", "some", "time", "just", "know", "get", "like", "any",
	"next", "week", "team", "meeting", "project", "could", "should",
	"need", "which", "other", "let", "see", "has", "been", "make",
	"update", "report", "review", "today", "work", "into", "than",
	"them", "then", "now", "only", "us", "how", "first", "last", "back",
	"well", "good", "day", "look", "want", "may", "here", "call",
	"send", "attached", "find", "before", "after", "still", "over",
	"customer", "issue", "question", "plan", "budget", "deadline",
	"release", "server", "account", "contract", "order", "payment",
	"invoice", "shipment", "delivery", "schedule", "version", "draft",
	"changes", "feedback", "support", "ticket", "status", "data",
	"results", "number", "office", "monday", "tuesday", "wednesday",
	"thursday", "friday", "morning", "afternoon", "tomorrow", "month",
	"quarter", "year", "sales", "market", "product", "design", "price",
	"cost", "client", "service", "system", "test", "testing", "launch",
	"agenda", "notes", "minutes", "summary", "document", "file",
	"version", "approval", "approve", "confirm", "confirmed", "sign",
	"signed", "legal", "finance", "marketing", "engineering", "support",
	"hiring", "interview", "candidate", "offer", "travel", "flight",
	"hotel", "conference", "presentation", "slides", "demo", "trial",
	"license", "renewal", "discount", "quote", "proposal", "estimate",
	"forecast", "revenue", "expenses", "receipt", "refund", "shipping",
	"warehouse", "inventory", "supplier", "vendor", "partner",
	"agreement", "terms", "policy", "security", "password", "access",
	"login", "outage", "incident", "backup", "database", "network",
	"migration", "upgrade", "patch", "bug", "fix", "feature", "request",
	"priority", "urgent", "reminder", "follow", "discuss", "discussion",
	"decision", "option", "options", "problem", "solution", "process",
	"step", "steps", "details", "information", "address", "phone",
	"email", "message", "reply", "weekend", "holiday", "vacation",
	"lunch", "dinner", "coffee", "room", "building", "floor", "parking",
	"training", "course", "workshop", "session", "event", "party",
	"birthday", "welcome", "introduce", "introduction", "happy", "sorry",
	"late", "early", "soon", "quick", "small", "large", "great",
	"important", "possible", "available", "current", "previous",
	"final", "open", "closed", "pending", "complete", "completed",
	"started", "running", "waiting", "working", "planning", "checking",
	"sending", "asked", "said", "think", "believe", "hope", "sure",
	"agree", "understand", "remember", "mentioned", "suggest", "prefer",
	"happen", "happened", "change", "moved", "added", "removed",
	"fixed", "broken", "slow", "fast", "problems", "questions", "ideas",
	"people", "everyone", "someone", "anyone", "manager", "director",
	"board", "committee", "department", "group", "company", "business",
	"board", "strategy", "goals", "targets", "numbers", "figures",
	"spreadsheet", "calendar", "invite", "invitation", "deck", "memo",
};

static const char *const onsets[] = {
	"b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s",
	"t", "v", "w", "z", "br", "ch", "cl", "cr", "dr", "fl", "gr", "pl",
	"pr", "sh", "sl", "st", "str", "th", "tr",
};
static const char *const nuclei[] = {
	"a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou", "a", "e", "i",
	"o",
};
static const char *const codas[] = {
	"", "", "", "n", "r", "s", "t", "l", "m", "nd", "nt", "st", "ck",
	"ng", "rd", "sh",
};
static const char *const suffixes[] = {
	"", "", "", "", "", "ing", "ed", "er", "s", "tion", "ly", "ment",
	"able", "ness",
};

static const char *const first_names[] = {
	"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael",
	"Linda", "David", "Elizabeth", "William", "Barbara", "Richard",
	"Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
	"Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark",
	"Sandra", "Paul", "Ashley", "Steven", "Emily", "Andrew", "Donna",
	"Kenneth", "Michelle", "Joshua", "Carol", "Kevin", "Amanda", "Brian",
	"Melissa", "Olivia", "Noah", "Sophie", "Lucas", "Chloe", "Ethan",
};
static const char *const last_names[] = {
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller",
	"Davis", "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez",
	"Wilson", "Anderson", "Taylor", "Moore", "Jackson", "Martin", "Lee",
	"Perez", "Thompson", "White", "Harris", "Sanchez", "Clark",
	"Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King",
	"Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
	"Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
};
static const char *const domains[] = {
	"bench.test", "acme-corp.com", "globex.com", "initech.net",
	"umbrella.org", "hooli.io", "stark-industries.com", "wayne-ent.com",
	"cyberdyne.net", "soylent.co", "tyrell.com", "oscorp.org",
	"wonka.co.uk", "gringotts.de", "vandelay.com", "dundermifflin.com",
	"pied-piper.io", "prestige.fr", "monarch.es", "nakatomi.jp",
	"gmail.com", "outlook.com", "yahoo.com", "fastmail.fm", "proton.me",
	"example.org", "mailbox.org", "posteo.de", "web.de", "free.fr",
};
static const char *const levels[] = { "INFO", "INFO", "INFO", "WARN",
	"ERROR", "DEBUG" };
static const char *const statuses[] = { "shipped", "pending", "paid",
	"cancelled", "returned", "open" };

struct person {
	char name[64];
	char addr[96];
};

/* one message: the text of its fields back to back, NULs between */
enum { F_SUBJECT, F_FROM, F_TO, F_CC, F_BODY, F_ATTACH, F_COUNT };
/* attachment text under FTS_BODY, as store.c indexes mime_info.text
 * (every text part, attachments included) today */
static const enum fts_field field_of[F_COUNT] = {
	FTS_SUBJECT, FTS_FROM, FTS_TO, FTS_CC, FTS_BODY, FTS_BODY,
};

struct bmsg {
	char *text;
	uint32_t off[F_COUNT], len[F_COUNT];
};

struct corpus {
	char *words[VOCAB];
	double cum[VOCAB];		/* Zipf(1) cumulative weights */
	struct person people[PEOPLE];
	double pcum[PEOPLE];		/* Zipf(0.8) over correspondents */
	struct bmsg *msgs;
	uint32_t n;
	uint64_t bytes;			/* text bytes over all messages */
	uint32_t ids[1024];		/* some order numbers written */
	uint32_t nids;
	uint32_t with_attachment;
};

static uint32_t
zipf_pick(struct rng *r, const double *cum, uint32_t n)
{
	double x = rng_unit(r) * cum[n - 1];
	uint32_t lo = 0, hi = n - 1;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (cum[mid] < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static const char *
word(struct corpus *c, struct rng *r)
{
	return c->words[zipf_pick(r, c->cum, VOCAB)];
}

static const struct person *
person(struct corpus *c, struct rng *r)
{
	return &c->people[zipf_pick(r, c->pcum, PEOPLE)];
}

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* words_add - add w to the vocabulary unless present; true if added */
static bool
words_add(struct corpus *c, char **set, size_t nset, uint32_t *n,
    const char *w)
{
	size_t i = hash_str(w) & (nset - 1);

	for (; set[i] != NULL; i = (i + 1) & (nset - 1))
		if (strcmp(set[i], w) == 0)
			return false;
	set[i] = strdup(w);
	if (set[i] == NULL)
		abort();
	c->words[(*n)++] = set[i];
	return true;
}

static void
corpus_init(struct corpus *c, struct rng *r)
{
	size_t nset = 16384;
	char **set = calloc(nset, sizeof(*set));
	struct buf w = BUF_INIT(0);
	uint32_t n = 0;

	if (set == NULL)
		abort();
	for (size_t i = 0; i < ARRAY_SIZE(real_words); i++)
		(void)words_add(c, set, nset, &n, real_words[i]);
	while (n < VOCAB) {
		unsigned syl = rng_range(r, 2, 3);

		buf_reset(&w);
		for (unsigned k = 0; k < syl; k++) {
			buf_add_str(&w, onsets[rng_below(r, ARRAY_SIZE(onsets))]);
			buf_add_str(&w, nuclei[rng_below(r, ARRAY_SIZE(nuclei))]);
		}
		buf_add_str(&w, codas[rng_below(r, ARRAY_SIZE(codas))]);
		buf_add_str(&w, suffixes[rng_below(r, ARRAY_SIZE(suffixes))]);
		(void)words_add(c, set, nset, &n, buf_cstr(&w));
	}
	/* the set's strings live on in c->words */
	free(set);
	buf_free(&w);
	for (uint32_t i = 0; i < VOCAB; i++)
		c->cum[i] = (i ? c->cum[i - 1] : 0) + 1.0 / (double)(i + 1);

	for (uint32_t i = 0; i < PEOPLE; i++) {
		struct person *p = &c->people[i];
		const char *f = first_names[i % ARRAY_SIZE(first_names)];
		const char *l = last_names[(i / ARRAY_SIZE(first_names) +
		    i * 7) % ARRAY_SIZE(last_names)];
		const char *d = domains[1 + rng_below(r,
		    ARRAY_SIZE(domains) - 1)];
		char lf[32], ll[32];
		size_t k;

		for (k = 0; f[k] != '\0' && k < sizeof(lf) - 1; k++)
			lf[k] = (char)ascii_tolower(f[k]);
		lf[k] = '\0';
		for (k = 0; l[k] != '\0' && k < sizeof(ll) - 1; k++)
			ll[k] = (char)ascii_tolower(l[k]);
		ll[k] = '\0';
		snprintf(p->name, sizeof(p->name), "%s %s", f, l);
		switch (i % 3) {
		case 0:
			snprintf(p->addr, sizeof(p->addr), "%s.%s@%s", lf, ll,
			    d);
			break;
		case 1:
			snprintf(p->addr, sizeof(p->addr), "%c%s@%s", lf[0],
			    ll, d);
			break;
		default:
			snprintf(p->addr, sizeof(p->addr), "%s%u@%s", lf,
			    rng_below(r, 100), d);
			break;
		}
		c->pcum[i] = (i ? c->pcum[i - 1] : 0) +
		    1.0 / pow((double)(i + 1), 0.8);
	}
}

static void
add_addr(struct buf *b, const struct person *p)
{
	buf_addf(b, "%s <%s>", p->name, p->addr);
}

/* sentence - 4..16 Zipf words, capitalised, a comma at times */
static void
sentence(struct corpus *c, struct rng *r, struct buf *b)
{
	unsigned n = rng_range(r, 4, 16);

	for (unsigned i = 0; i < n; i++) {
		const char *w = word(c, r);

		if (i > 0)
			buf_add_str(b, i > 2 && rng_chance(r, 6) ? ", " : " ");
		if (i == 0)
			buf_addf(b, "%c%s", w[0] - 'a' + 'A', w + 1);
		else if (rng_chance(r, 1))
			buf_addf(b, "%u", rng_range(r, 2, 500));
		else
			buf_add_str(b, w);
	}
	buf_add_str(b, rng_chance(r, 10) ? "?" : ".");
}

static void
paragraph(struct corpus *c, struct rng *r, struct buf *b,
    const char *prefix)
{
	unsigned n = rng_range(r, 2, 5);

	buf_add_str(b, prefix);
	for (unsigned i = 0; i < n; i++) {
		if (i > 0)
			buf_add_str(b, " ");
		sentence(c, r, b);
	}
	if (rng_chance(r, 8))
		buf_addf(b, " See https://www.%s/%s/%s?id=%u for details.",
		    domains[rng_below(r, ARRAY_SIZE(domains))], word(c, r),
		    word(c, r), rng_range(r, 1000, 999999));
	if (rng_chance(r, 10)) {
		uint32_t id = rng_range(r, 100000, 999999);

		buf_addf(b, " Order %u ships on %u/%u.", id,
		    rng_range(r, 1, 12), rng_range(r, 1, 28));
		/* the first ones seen, for the "unique term" queries */
		if (c->nids < ARRAY_SIZE(c->ids))
			c->ids[c->nids++] = id;
	}
	buf_add_str(b, "\n\n");
}

/* subject - true when it is a reply */
static bool
subject(struct corpus *c, struct rng *r, struct buf *b)
{
	unsigned n = rng_range(r, 3, 9);
	unsigned k = rng_below(r, 100);

	if (k < 30)
		buf_add_str(b, "Re: ");
	else if (k < 35)
		buf_add_str(b, "Fwd: ");
	if (rng_chance(r, 10))
		buf_addf(b, "[#%u] ", rng_range(r, 10000, 99999));
	for (unsigned i = 0; i < n; i++) {
		const char *w = word(c, r);

		if (i == 0)
			buf_addf(b, "%c%s", w[0] - 'a' + 'A', w + 1);
		else
			buf_addf(b, " %s", w);
	}
	return k < 30;
}

static void
attachment(struct corpus *c, struct rng *r, struct buf *b)
{
	size_t start = b->len, target = rng_range(r, 2048, 12288);

	if (rng_chance(r, 50)) {
		buf_add_str(b, "date,customer,item,quantity,amount,status\n");
		while (b->len - start < target) {
			const struct person *p = person(c, r);

			buf_addf(b, "2024-%02u-%02u,%s,%s %s,%u,%u.%02u,%s\n",
			    rng_range(r, 1, 12), rng_range(r, 1, 28), p->name,
			    word(c, r), word(c, r), rng_range(r, 1, 50),
			    rng_range(r, 5, 9999), rng_below(r, 100),
			    statuses[rng_below(r, ARRAY_SIZE(statuses))]);
		}
	} else {
		while (b->len - start < target) {
			buf_addf(b, "2024-%02u-%02u %02u:%02u:%02u %s %s: ",
			    rng_range(r, 1, 12), rng_range(r, 1, 28),
			    rng_below(r, 24), rng_below(r, 60),
			    rng_below(r, 60),
			    levels[rng_below(r, ARRAY_SIZE(levels))],
			    word(c, r));
			for (unsigned i = rng_range(r, 3, 8); i > 0; i--)
				buf_addf(b, "%s ", word(c, r));
			buf_addf(b, "id=%u ms=%u\n",
			    rng_range(r, 1, 9999999), rng_below(r, 5000));
		}
	}
}

/* message - one message's fields into b, NUL after each */
static void
message(struct corpus *c, struct rng *r, struct bmsg *m, struct buf *b)
{
	const struct person *from = person(c, r);
	size_t body_target = rng_range(r, 2048, 4096), body_start;
	bool reply;

	buf_reset(b);
	m->off[F_SUBJECT] = (uint32_t)b->len;
	reply = subject(c, r, b);
	buf_add(b, "", 1);

	m->off[F_FROM] = (uint32_t)b->len;
	add_addr(b, from);
	buf_add(b, "", 1);

	m->off[F_TO] = (uint32_t)b->len;
	buf_addf(b, "%s <%s>", OWNER_NAME, OWNER_ADDR);
	if (rng_chance(r, 15))
		for (unsigned i = rng_range(r, 1, 4); i > 0; i--) {
			buf_add_str(b, ", ");
			add_addr(b, person(c, r));
		}
	buf_add(b, "", 1);

	m->off[F_CC] = (uint32_t)b->len;
	if (rng_chance(r, 25))
		for (unsigned i = rng_range(r, 1, 3); i > 0; i--) {
			if (b->len > m->off[F_CC])
				buf_add_str(b, ", ");
			add_addr(b, person(c, r));
		}
	buf_add(b, "", 1);

	m->off[F_BODY] = (uint32_t)b->len;
	body_start = b->len;
	buf_addf(b, "Hi %s,\n\n", rng_chance(r, 50) ? "Dana" : "all");
	while (b->len - body_start < (reply ? body_target / 2 :
	    body_target))
		paragraph(c, r, b, "");
	buf_addf(b, "Best regards,\n%s\n%s\n", from->name,
	    strchr(from->addr, '@') + 1);
	if (reply) {
		buf_addf(b, "\nOn %s, %s wrote:\n", rng_chance(r, 50) ?
		    "Monday" : "Thursday", OWNER_NAME);
		while (b->len - body_start < body_target)
			paragraph(c, r, b, "> ");
	}
	buf_add(b, "", 1);

	m->off[F_ATTACH] = (uint32_t)b->len;
	if (rng_chance(r, 15)) {
		attachment(c, r, b);
		c->with_attachment++;
	}
	buf_add(b, "", 1);

	for (int f = 0; f < F_COUNT; f++) {
		uint32_t end = f + 1 < F_COUNT ? m->off[f + 1] :
		    (uint32_t)b->len;

		m->len[f] = end - m->off[f] - 1;
		c->bytes += m->len[f];
	}
	m->text = malloc(b->len);
	if (m->text == NULL)
		abort();
	memcpy(m->text, b->data, b->len);
}

static void
corpus_make(struct corpus *c, uint32_t n, uint64_t seed)
{
	struct rng r = { seed };
	struct buf b = BUF_INIT(0);

	corpus_init(c, &r);
	c->n = n;
	c->msgs = calloc(n, sizeof(*c->msgs));
	if (c->msgs == NULL)
		abort();
	for (uint32_t i = 0; i < n; i++)
		message(c, &r, &c->msgs[i], &b);
	buf_free(&b);
}

static void
corpus_free(struct corpus *c)
{
	for (uint32_t i = 0; i < c->n; i++)
		free(c->msgs[i].text);
	free(c->msgs);
	for (uint32_t i = 0; i < VOCAB; i++)
		free(c->words[i]);
}

/* doc_of - the fts_doc of message i (parts must hold F_COUNT) */
static struct fts_doc
doc_of(const struct corpus *c, uint32_t i, struct fts_part *parts)
{
	const struct bmsg *m = &c->msgs[i];
	size_t n = 0;

	for (int f = 0; f < F_COUNT; f++)
		if (m->len[f] > 0)
			parts[n++] = (struct fts_part){ field_of[f],
			    m->text + m->off[f], m->len[f] };
	return (struct fts_doc){ parts, n };
}

/* ---- indexing ---- */

struct env {
	struct kv *kv;
	struct fts *fts;
	const struct corpus *c;
	struct buf err;
};

struct index_arg {
	struct env *e;
	uint32_t first, n;	/* messages [first, first + n), doc = i + 1 */
	struct fts_stats st;
	bool due;		/* index_one_fn: fts_batch_merge_due said so */
	uint64_t pending;	/* pending_fn */
};

static int
index_batch_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct index_arg *a = arg;
	struct fts_batch *b = fts_batch_new(a->e->fts, t);
	int rc = 0;

	for (uint32_t i = a->first; i < a->first + a->n && rc == 0; i++) {
		struct fts_part parts[F_COUNT];
		struct fts_doc d = doc_of(a->e->c, i, parts);

		rc = fts_batch_index(b, ACCOUNT, i + 1, &d, err);
	}
	if (rc == 0)
		rc = fts_batch_flush(b, err);
	if (rc == 0) {
		struct fts_stats s = fts_batch_stats(b);

		a->st.tokens += s.tokens;
		a->st.terms += s.terms;
		a->st.lists_written += s.lists_written;
		a->st.docs_truncated += s.docs_truncated;
	}
	fts_batch_free(&b);
	return rc;
}

/* index_one_fn - one message as a delivery indexes it: a batch of one,
 * flushed; notes whether the account's merge is due */
static int
index_one_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct index_arg *a = arg;
	struct fts_part parts[F_COUNT];
	struct fts_doc d = doc_of(a->e->c, a->first, parts);
	struct fts_batch *b = fts_batch_new(a->e->fts, t);
	uint32_t due;
	int rc;

	rc = fts_batch_index(b, ACCOUNT, a->first + 1, &d, err);
	if (rc == 0)
		rc = fts_batch_flush(b, err);
	if (rc == 0) {
		a->due = fts_batch_merge_due(b, &due, 1) > 0;
		a->st = fts_batch_stats(b);
	}
	fts_batch_free(&b);
	return rc;
}

static int
merge_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct index_arg *a = arg;

	return fts_merge(a->e->fts, t, ACCOUNT, err);
}

static int
pending_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct index_arg *a = arg;

	return fts_pending(a->e->fts, t, ACCOUNT, &a->pending, err);
}

/* ---- queries ---- */

enum qkind {
	Q_COMMON, Q_RARE, Q_UNIQUE, Q_AND, Q_OR, Q_NOT, Q_PREFIX, Q_FROM,
	Q_SUBJECT, Q_KINDS
};
static const char *const qkind_name[Q_KINDS] = {
	"single common word", "single rare word", "order number (unique)",
	"two-term AND", "two-term OR", "term AND NOT term",
	"prefix (3-4 letters)",
	"from: name or address", "subject: term",
};
static const char *const qkind_short[Q_KINDS] = {
	"common word", "rare word", "order number", "AND", "OR", "NOT",
	"prefix", "from:", "subject:",
};

struct bquery {
	enum qkind kind;
	struct fts_query *q;
};

/* rank_word - a vocabulary word of rank in [lo, hi] */
static const char *
rank_word(const struct corpus *c, struct rng *r, uint32_t lo, uint32_t hi)
{
	return c->words[rng_range(r, lo, hi)];
}

static struct fts_query *
term(unsigned fields, const char *text, bool prefix)
{
	return fts_query_term(fields, text, strlen(text), prefix);
}

static struct fts_query *
make_query(const struct corpus *c, struct rng *r, enum qkind k)
{
	struct fts_query *q;
	const char *w;
	char pre[8];
	size_t plen;

	switch (k) {
	case Q_COMMON:
		return term(FTS_F_ANY, rank_word(c, r, 10, 80), false);
	case Q_RARE:
		return term(FTS_F_ANY, rank_word(c, r, VOCAB / 2, VOCAB - 1),
		    false);
	case Q_UNIQUE: {
		char num[16];

		snprintf(num, sizeof(num), "%u", c->nids ?
		    c->ids[rng_below(r, c->nids)] : 123456u);
		return term(FTS_F_ANY, num, false);
	}
	case Q_AND:
	case Q_OR:
		q = fts_query_op(k == Q_AND ? FTS_Q_AND : FTS_Q_OR);
		fts_query_add(q, term(FTS_F_ANY, rank_word(c, r, 40, 1000),
		    false));
		return fts_query_add(q, term(FTS_F_ANY,
		    rank_word(c, r, 40, 1000), false));
	case Q_NOT:
		q = fts_query_op(FTS_Q_AND);
		fts_query_add(q, term(FTS_F_ANY, rank_word(c, r, 20, 300),
		    false));
		return fts_query_add(q, fts_query_add(fts_query_op(FTS_Q_NOT),
		    term(FTS_F_ANY, rank_word(c, r, 20, 300), false)));
	case Q_PREFIX:
		do
			w = rank_word(c, r, 60, VOCAB - 1);
		while (strlen(w) < 5);
		plen = strlen(w) >= 7 ? 4 : 3;
		memcpy(pre, w, plen);
		pre[plen] = '\0';
		return term(FTS_F_ANY, pre, true);
	case Q_FROM: {
		const struct person *p = &c->people[rng_below(r, PEOPLE)];
		const char *sp = strchr(p->name, ' ');

		/* a whole address, or a last name */
		return rng_chance(r, 50) ? term(FTS_F(FTS_FROM), p->addr,
		    false) : term(FTS_F(FTS_FROM), sp + 1, false);
	}
	case Q_SUBJECT:
		return term(FTS_F(FTS_SUBJECT), rank_word(c, r, 10, 400),
		    false);
	default:
		PANIC("query kind %d", (int)k);
	}
}

struct kind_stats {
	double *us;		/* latencies of the timed pass */
	size_t n;
	uint64_t hits;
	unsigned errors;
};

struct result {
	char backend[32];
	double batch_rate, single_rate, batch_secs, single_secs;
	double txn_median, txn_p99, txn_max;	/* 1 per txn, ms */
	double merge_median, merge_max;		/* merge txns, ms */
	unsigned merges, inline_merges;
	uint64_t pending;			/* at query time */
	uint64_t disk, apparent;
	double median[Q_KINDS], p99[Q_KINDS], hits[Q_KINDS];
	bool ok;
};

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* percentile - nearest rank of sorted v[n], p in (0, 100] */
static double
percentile(const double *v, size_t n, double p)
{
	size_t k;

	if (n == 0)
		return 0;
	k = (size_t)ceil(p / 100.0 * (double)n);
	return v[k > 0 ? k - 1 : 0];
}

/* run_query - one search in a read transaction of its own; us, hits */
static int
run_query(struct env *e, const struct fts_query *q, double *us_r,
    uint64_t *hits_r)
{
	struct kv_txn *t;
	roaring_bitmap_t *res = NULL;
	uint64_t t0 = clock_mono_us();
	int rc;

	if (kv_begin(e->kv, KV_READ, &t, &e->err) < 0)
		return -1;
	rc = fts_search(e->fts, t, ACCOUNT, q, NULL, &res, &e->err);
	if (rc < 0) {
		kv_abort(&t);
		return -1;
	}
	*hits_r = roaring_bitmap_get_cardinality(res);
	roaring_bitmap_free(res);
	if (kv_commit(&t, &e->err) < 0)
		return -1;
	*us_r = (double)(clock_mono_us() - t0);
	return 0;
}

/* cpu_secs - CPU time of the whole process (RocksDB's background
 * threads included), to tell CPU-bound phases from fsync-bound ones */
static double
cpu_secs(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- disk usage ---- */

static uint64_t du_blocks, du_bytes;

static int
du_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	if (flag == FTW_F) {
		du_blocks += (uint64_t)st->st_blocks * 512;
		du_bytes += (uint64_t)st->st_size;
	}
	return 0;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static double
mib(uint64_t b)
{
	return (double)b / (1024.0 * 1024.0);
}

static uint64_t env_u64(const char *name, uint64_t def, uint64_t max);

/* ---- one backend ---- */

static int
bench_backend(const char *backend, const char *tmp, const struct corpus *c,
    uint32_t batch, uint32_t single, const struct bquery *qs, size_t nq,
    struct result *res)
{
	struct env e = { .c = c };
	struct buf path = BUF_INIT(0), dir = BUF_INIT(0);
	struct kv_options opt = { .backend = backend };
	struct kind_stats ks[Q_KINDS];
	struct fts_stats st = { 0 };
	uint32_t nbatch = c->n - single;
	const char *mode = getenv("FTS_BENCH_MERGE");
	struct fts_limits lims = {
		.pending_due = env_u64("FTS_BENCH_PENDING_DUE", 0, 1000000),
		.pending_max = env_u64("FTS_BENCH_PENDING_MAX", 0, 1000000),
	}, *lim = &lims;
	bool merge_due = mode == NULL || strcmp(mode, "inline") != 0;
	double *txn_us = NULL, *merge_us = NULL;
	size_t ntxn = 0;
	uint64_t t0;
	double cpu0;
	int rc = -1;

	memset(ks, 0, sizeof(ks));
	snprintf(res->backend, sizeof(res->backend), "%s", backend);
	buf_init(&e.err, 0);
	buf_addf(&dir, "%s/%s", tmp, backend);
	if (mkdir(buf_cstr(&dir), 0700) < 0) {
		printf("fts bench: mkdir %s: %s\n", buf_cstr(&dir),
		    strerror(errno));
		goto out;
	}
	buf_addf(&path, "%s/%s", buf_cstr(&dir),
	    strcmp(backend, "sqlite") == 0 ? "store.sqlite" : "store.db");
	opt.path = buf_cstr(&path);
	if (kv_open(&opt, &e.kv, &e.err) < 0 ||
	    fts_new(NULL, lim, &e.fts, &e.err) < 0) {
		printf("fts bench: %s: %s\n", backend, buf_cstr(&e.err));
		goto out;
	}
	printf("\n[%s]\n", backend);
	fflush(stdout);

	/* batched: DOCS - SINGLE messages, BATCH per transaction */
	t0 = clock_mono_us();
	cpu0 = cpu_secs();
	for (uint32_t i = 0; i < nbatch && !interrupted; i += batch) {
		struct index_arg a = { .e = &e, .first = i,
		    .n = nbatch - i < batch ? nbatch - i : batch };

		if (kv_run(e.kv, KV_WRITE, index_batch_fn, &a, &e.err) < 0) {
			printf("fts bench: %s: index: %s\n", backend,
			    buf_cstr(&e.err));
			goto out;
		}
		st.tokens += a.st.tokens;
		st.terms += a.st.terms;
		st.lists_written += a.st.lists_written;
		st.docs_truncated += a.st.docs_truncated;
	}
	if (interrupted)
		goto out;
	res->batch_secs = (double)(clock_mono_us() - t0) / 1e6;
	res->batch_rate = nbatch / res->batch_secs;
	if (nbatch > 0)
		printf("  index, %u msgs/txn (fts_batch):   %6u msgs %7.2f s "
		    "(cpu %.1f s) %6.0f msg/s  (%.0f tokens, %.0f distinct "
		    "terms, %.0f posting lists written per msg%s)\n", batch,
		    nbatch, res->batch_secs, cpu_secs() - cpu0,
		    res->batch_rate,
		    (double)st.tokens / nbatch, (double)st.terms / nbatch,
		    (double)st.lists_written / nbatch,
		    st.docs_truncated ? "; SOME TRUNCATED" : "");
	fflush(stdout);

	/*
	 * one per transaction: the rest, into the index built above, as
	 * deliveries do; with FTS_BENCH_MERGE=due (the default) each
	 * delivery whose flush reports the account's merge due runs
	 * fts_merge in a transaction of its own after its commit (timed
	 * apart, counted in the rate), with "inline" only the flushes that
	 * reach pending_max merge
	 */
	t0 = clock_mono_us();
	cpu0 = cpu_secs();
	txn_us = calloc(single + 1, sizeof(*txn_us));
	merge_us = calloc(single + 1, sizeof(*merge_us));
	if (txn_us == NULL || merge_us == NULL)
		abort();
	for (uint32_t i = nbatch; i < c->n && !interrupted; i++) {
		struct index_arg a = { .e = &e, .first = i, .n = 1 };
		uint64_t t1 = clock_mono_us();

		if (kv_run(e.kv, KV_WRITE, index_one_fn, &a, &e.err) < 0) {
			printf("fts bench: %s: index: %s\n", backend,
			    buf_cstr(&e.err));
			goto out;
		}
		txn_us[ntxn++] = (double)(clock_mono_us() - t1);
		res->inline_merges += (unsigned)a.st.merges;
		if (a.due && merge_due) {
			t1 = clock_mono_us();
			if (kv_run(e.kv, KV_WRITE, merge_fn, &a, &e.err) < 0) {
				printf("fts bench: %s: merge: %s\n", backend,
				    buf_cstr(&e.err));
				goto out;
			}
			merge_us[res->merges++] = (double)(clock_mono_us() -
			    t1);
		}
	}
	if (interrupted)
		goto out;
	res->single_secs = (double)(clock_mono_us() - t0) / 1e6;
	res->single_rate = single / res->single_secs;
	qsort(txn_us, ntxn, sizeof(double), cmp_double);
	qsort(merge_us, res->merges, sizeof(double), cmp_double);
	res->txn_median = percentile(txn_us, ntxn, 50) / 1e3;
	res->txn_p99 = percentile(txn_us, ntxn, 99) / 1e3;
	res->txn_max = ntxn ? txn_us[ntxn - 1] / 1e3 : 0;
	res->merge_median = percentile(merge_us, res->merges, 50) / 1e3;
	res->merge_max = res->merges ? merge_us[res->merges - 1] / 1e3 : 0;
	if (single > 0) {
		printf("  index, 1 msg/txn (batch of 1+commit): %4u msgs "
		    "%7.2f s (cpu %.1f s) %6.0f msg/s  (into the index of %u "
		    "above; merges included)\n", single, res->single_secs,
		    cpu_secs() - cpu0, res->single_rate, nbatch);
		printf("    delivery txn: median %.2f ms, p99 %.2f ms, max "
		    "%.2f ms (%u merged inline at pending_max)\n",
		    res->txn_median, res->txn_p99, res->txn_max,
		    res->inline_merges);
		printf("    merge txns (when due, after the commit): %u, "
		    "median %.1f ms, max %.1f ms\n", res->merges,
		    res->merge_median, res->merge_max);
	}
	{
		struct index_arg a = { .e = &e };

		if (kv_run(e.kv, KV_READ, pending_fn, &a, &e.err) < 0) {
			printf("fts bench: %s: pending: %s\n", backend,
			    buf_cstr(&e.err));
			goto out;
		}
		res->pending = a.pending;
	}
	fflush(stdout);

	/* queries: one untimed pass (warm cache), then the timed one */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < nq && !interrupted; i++) {
			struct kind_stats *k = &ks[qs[i].kind];
			double us;
			uint64_t hits;

			buf_reset(&e.err);
			if (run_query(&e, qs[i].q, &us, &hits) < 0) {
				if (pass == 1) {
					if (k->errors++ == 0)
						printf("  query error (%s): "
						    "%s\n",
						    qkind_name[qs[i].kind],
						    buf_cstr(&e.err));
				}
				continue;
			}
			if (pass == 0)
				continue;
			if (k->us == NULL) {
				k->us = calloc(nq, sizeof(double));
				if (k->us == NULL)
					abort();
			}
			k->us[k->n++] = us;
			k->hits += hits;
		}
	if (interrupted)
		goto out;
	printf("  query latency, warm, one read txn each, %3llu docs "
	    "pending: %9s %9s %9s\n", (unsigned long long)res->pending,
	    "median", "p99", "avg hits");
	for (int k = 0; k < Q_KINDS; k++) {
		qsort(ks[k].us, ks[k].n, sizeof(double), cmp_double);
		res->median[k] = percentile(ks[k].us, ks[k].n, 50);
		res->p99[k] = percentile(ks[k].us, ks[k].n, 99);
		res->hits[k] = ks[k].n ? (double)ks[k].hits / ks[k].n : 0;
		printf("    %-24s x%-3zu %22s %6.3f ms %6.3f ms %9.0f%s\n",
		    qkind_name[k], ks[k].n, "", res->median[k] / 1e3,
		    res->p99[k] / 1e3, res->hits[k],
		    ks[k].errors ? "  (errors)" : "");
	}

	kv_close(&e.kv);
	du_blocks = du_bytes = 0;
	if (nftw(buf_cstr(&dir), du_entry, 16, FTW_PHYS) < 0) {
		printf("fts bench: size of %s: %s\n", buf_cstr(&dir),
		    strerror(errno));
		goto out;
	}
	res->disk = du_blocks;
	res->apparent = du_bytes;
	printf("  index size on disk (after close): %.1f MiB allocated, "
	    "%.1f MiB apparent; %.0f bytes/msg, %.2fx the indexed text\n",
	    mib(du_blocks), mib(du_bytes), (double)du_blocks / c->n,
	    (double)du_blocks / (double)c->bytes);
	res->ok = true;
	rc = 0;
out:
	for (int k = 0; k < Q_KINDS; k++)
		free(ks[k].us);
	free(txn_us);
	free(merge_us);
	kv_close(&e.kv);
	fts_free(&e.fts);
	buf_free(&e.err);
	buf_free(&path);
	buf_free(&dir);
	return rc;
}

/* summary_cell - one figure of the summary table, or "failed" */
static void
summary_cell(const struct result *r, int decimals, double v)
{
	if (!r->ok)
		printf(" %19s", "failed");
	else
		printf(" %19.*f", decimals, v);
}

/* summary - the figures of every backend side by side */
static void
summary(const struct result *res, size_t nres, uint32_t ndocs,
    uint32_t batch, uint32_t single)
{
	printf("\nfts bench summary (%u msgs; %u msgs/txn batched, then %u "
	    "one per txn; latency median / p99 in ms)\n", ndocs, batch,
	    single);
	printf("  %-28s", "");
	for (size_t i = 0; i < nres; i++)
		printf(" %19s", res[i].backend);
	printf("\n  %-28s", "index msg/s, batched");
	for (size_t i = 0; i < nres; i++)
		summary_cell(&res[i], 0, res[i].batch_rate);
	printf("\n  %-28s", "index msg/s, 1 per txn");
	for (size_t i = 0; i < nres; i++)
		summary_cell(&res[i], 0, res[i].single_rate);
	printf("\n  %-28s", "1 per txn: txn p50/p99 ms");
	for (size_t i = 0; i < nres; i++) {
		if (!res[i].ok) {
			printf(" %19s", "failed");
			continue;
		}
		printf("     %6.2f / %6.2f", res[i].txn_median,
		    res[i].txn_p99);
	}
	printf("\n  %-28s", "1 per txn: merges, max ms");
	for (size_t i = 0; i < nres; i++) {
		if (!res[i].ok) {
			printf(" %19s", "failed");
			continue;
		}
		printf("     %6u / %6.1f", res[i].merges + res[i].inline_merges,
		    res[i].merges ? res[i].merge_max : res[i].txn_max);
	}
	printf("\n  %-28s", "docs pending at query time");
	for (size_t i = 0; i < nres; i++)
		summary_cell(&res[i], 0, (double)res[i].pending);
	printf("\n  %-28s", "index size on disk, MiB");
	for (size_t i = 0; i < nres; i++)
		summary_cell(&res[i], 1, mib(res[i].disk));
	for (int k = 0; k < Q_KINDS; k++) {
		printf("\n  query %-22s", qkind_short[k]);
		for (size_t i = 0; i < nres; i++) {
			if (!res[i].ok) {
				printf(" %19s", "failed");
				continue;
			}
			printf("     %6.3f / %6.3f", res[i].median[k] / 1e3,
			    res[i].p99[k] / 1e3);
		}
	}
	printf("\n");
}

static uint64_t
env_u64(const char *name, uint64_t def, uint64_t max)
{
	const char *v = getenv(name);
	uint64_t n;

	if (v == NULL || *v == '\0')
		return def;
	if (parse_u64(v, strlen(v), max, &n) < 0) {
		fprintf(stderr, "fts bench: %s=%s is not a number up to %llu\n",
		    name, v, (unsigned long long)max);
		exit(2);
	}
	return n;
}

int
main(void)
{
	uint32_t ndocs = (uint32_t)env_u64("FTS_BENCH_DOCS", 20000, 10000000);
	uint32_t batch = (uint32_t)env_u64("FTS_BENCH_BATCH", 100, 1000000);
	uint32_t single = (uint32_t)env_u64("FTS_BENCH_SINGLE", 300,
	    10000000);
	uint32_t perkind = (uint32_t)env_u64("FTS_BENCH_QUERIES", 50, 100000);
	uint64_t seed = env_u64("FTS_BENCH_SEED", 1, UINT64_MAX);
	const char *backends = getenv("FTS_BENCH_BACKENDS");
	const char *base = getenv("BENCH_TMPDIR");
	bool keep = getenv("BENCH_KEEP") != NULL &&
	    strcmp(getenv("BENCH_KEEP"), "") != 0 &&
	    strcmp(getenv("BENCH_KEEP"), "0") != 0;
	struct corpus *c = calloc(1, sizeof(*c));
	struct result res[8];
	struct bquery *qs;
	struct buf tmp = BUF_INIT(0), list = BUF_INIT(0);
	struct statfs sfs;
	struct sigaction sa = { 0 };
	struct rng qr = { seed ^ 0x5eedull };
	size_t nq = (size_t)perkind * Q_KINDS, nres = 0;
	uint64_t t0;
	int failed = 0;

	if (c == NULL)
		abort();
	if (batch == 0)
		batch = 1;
	if (ndocs == 0)
		ndocs = 1;
	if (single >= ndocs)
		single = ndocs - 1;	/* at least one batched */
	if (base == NULL || *base == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/var/tmp";
	backends = backends != NULL && *backends != '\0' ? backends :
	    "sqlite rocksdb";

	buf_addf(&tmp, "%s/postern-fts-bench.XXXXXX", base);
	if (mkdtemp((char *)tmp.data) == NULL) {
		fprintf(stderr, "fts bench: mkdtemp %s: %s\n", buf_cstr(&tmp),
		    strerror(errno));
		return 1;
	}

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);	/* output cut short: clean up too */

	t0 = clock_mono_us();
	corpus_make(c, ndocs, seed);
	printf("fts bench: %u messages of one account, generated in %.1f s "
	    "(seed %llu): avg %.0f bytes of text each (subject, from, to, "
	    "cc, body 2-4 KB; %u with a text attachment of 2-12 KB); "
	    "vocabulary %u words, Zipf(1)\n", ndocs,
	    (double)(clock_mono_us() - t0) / 1e6, (unsigned long long)seed,
	    (double)c->bytes / ndocs, c->with_attachment, VOCAB);
	printf("fts bench: temp dir %s", buf_cstr(&tmp));
	if (statfs(buf_cstr(&tmp), &sfs) == 0 &&
	    (long)sfs.f_type == TMPFS_MAGIC_)
		printf(" (tmpfs: fsync costs nothing here; set "
		    "BENCH_TMPDIR to a disk)");
	printf("; %u queries of each kind per backend\n", perkind);

	qs = calloc(nq, sizeof(*qs));
	if (qs == NULL)
		abort();
	/* the same queries for every backend, kinds interleaved */
	for (size_t i = 0; i < nq; i++) {
		qs[i].kind = (enum qkind)(i % Q_KINDS);
		qs[i].q = make_query(c, &qr, qs[i].kind);
	}

	for (const char *p = backends; *p != '\0' && !interrupted &&
	    nres < ARRAY_SIZE(res);) {
		size_t len = strcspn(p, " ,");

		if (len > 0) {
			buf_reset(&list);
			buf_add(&list, p, len);
			memset(&res[nres], 0, sizeof(res[nres]));
			if (bench_backend(buf_cstr(&list), buf_cstr(&tmp), c,
			    batch, single, qs, nq, &res[nres]) < 0)
				failed = 1;
			nres++;
		}
		p += len + (p[len] != '\0');
	}

	if (!interrupted)
		summary(res, nres, ndocs, batch, single);

	for (size_t i = 0; i < nq; i++)
		fts_query_free(&qs[i].q);
	free(qs);
	corpus_free(c);
	free(c);
	if (interrupted) {
		fprintf(stderr, "fts bench: interrupted\n");
		failed = 1;
	}
	if (keep)
		printf("kept %s\n", buf_cstr(&tmp));
	else
		(void)nftw(buf_cstr(&tmp), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	buf_free(&tmp);
	buf_free(&list);
	return failed;
}
