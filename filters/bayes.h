/*
 * bayes.h - the statistical spam classifier: a tokenizer, token counts
 * in the lookup store, Robinson's f(w) per token and Fisher's
 * chi-square combining of the most significant ones (Gary Robinson, "A
 * Statistical Approach to the Spam Problem", 2003; as SpamBayes and
 * bogofilter do).  Independent of the pipeline: the bayes stage
 * (stage_bayes.c), `postern spam` and the Junk-move training hook share
 * it.
 *
 * Tokens (bayes_tokenize, bayes_token.c): from the header, "hn:<name>"
 * for every field name but the ones the path adds (Received,
 * Return-Path, Delivered-To, our X-Spam-* ...), and "h:<name>:<word>"
 * for the words of Subject, From, To, Cc, Reply-To, Sender, X-Mailer,
 * User-Agent, List-Id, Organization, Precedence, X-Priority and
 * Importance (addresses also as "h:<name>:<local@domain>",
 * "h:<name>:@<domain>" and "h:<name>:tld:<top-level domain>"),
 * Message-ID's domain, Content-Type's type and charset.  From the text
 * (the caller's: decoded, HTML stripped; else the raw body): words of
 * BAYES_WORD_MIN..BAYES_WORD_MAX bytes, ASCII case-folded, pure numbers
 * longer than BAYES_NUMBER_MAX digits skipped, longer words as
 * "skip:<first byte> <length/10*10>"; URLs as "url:<host>",
 * "url:d:<last two labels>", "url:tld:<last label>" and "url:<the URL>"
 * (its first BAYES_URL_MAX bytes), found in the text and also in the
 * raw body (the text has lost the href attributes of HTML).  Bounds:
 * BAYES_HEADER_MAX bytes of header, at most BAYES_HEADER_TOKENS of its
 * tokens, BAYES_TEXT_MAX bytes of text, BAYES_RAW_MAX bytes of raw body
 * scanned for URLs, and BAYES_TOKENS_MAX distinct tokens per message
 * (the first ones win).
 *
 * Key layout in the lookup store (keys are binary; H is the first
 * BAYES_HASH_LEN bytes of SHA-256 of the token text, ID the first
 * BAYES_ID_LEN bytes of SHA-256 of the Message-ID and the body without
 * CR, so retries and copies of a message have one ID):
 *
 *   P = "bayes:"              the global set
 *       "bayes:u:<user>:"     a user's set (user lower-cased)
 *   P "t" H                   the token's counts as one counter:
 *                             spam * 2^32 + ham
 *   P "nspam", P "nham"       messages learned as spam, as ham
 *   P "ntokens"               distinct tokens, a statistic: exact
 *                             when learning (told by the increments'
 *                             results), approximate when relearning or
 *                             forgetting runs in two processes at once,
 *                             and behind when its own update failed
 *   P "m" ID                  the learned-marker: 1 ham, 2 spam (absent
 *                             or 0: not learned); autolearn's expire
 *
 * The lookup store's own namespace prefix comes in front of all of it,
 * so the server and `postern spam` must open it with the same prefix.
 * Counters that forgetting brings to 0 stay (XXX: a periodic sweep of
 * zero counters needs a scan the lookup store does not offer).
 *
 * Probabilities: for a token seen s times in nspam spam and h times in
 * nham ham, p = (s/nspam) / (s/nspam + h/nham) and Robinson's
 * f = (S*X + n*p) / (S + n) with n = s + h, S = 1, X = 0.5.  Tokens
 * with |f - 0.5| > BAYES_MIN_DEV are clues; the BAYES_CLUES_MAX most
 * significant are combined: S' = 1 - Q(-2 sum ln(1-f), 2k),
 * H' = 1 - Q(-2 sum ln f, 2k), prob = (S' - H' + 1) / 2, Q the
 * chi-square survival function (bayes_chi2q).  A set judges once it
 * has learned at least max(1, min_learned) spam and as many ham;
 * before that classify says BAYES_VERDICT_NONE (no judgement).
 *
 * Per-user sets: classify with a user uses the user's counts with the
 * global f(w) as Robinson's prior X (strength S = 1): where the user
 * has seen a token his counts dominate, where not the global estimate
 * stands.  The user's set is used once it is trained itself; the global
 * set alone when not; the user's alone (prior 0.5) when the global one
 * is untrained.
 *
 * Learning (bayes_learn_many; bayes_learn is one message of it), per
 * group of messages: one lookup_incr_many claims the markers (two
 * learners of one message, a retry, parallel deliveries: one learns
 * it), then one lookup_incr_many writes every count change of the group
 * together with the markers' corrections, all or nothing.  Learning
 * only adds, so it writes without reading; relearning and forgetting
 * read the counts first (one lookup_get_many), so that a count never
 * goes below 0.  Classify is one lookup_get_many (global and user keys
 * together: 2 * BAYES_TOKENS_MAX + 4 <= LOOKUP_BATCH_MAX).
 *
 * Thread safety: every call may run on any thread at once; a struct
 * bayes holds only its options and a mutex that serialises the count
 * writes of learning and forgetting in this process (classify never
 * waits for it).  Every call blocks on the lookup store: workers and
 * the CLI only.  Errors: 0 or -1 with one line appended to err.
 */
#ifndef POSTERN_BAYES_H
#define POSTERN_BAYES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

struct lookup;

#define BAYES_TOKENS_MAX 3000u		/* distinct tokens per message */
#define BAYES_HEADER_TOKENS 600u	/* of them from the header */
#define BAYES_HEADER_MAX (32u << 10)	/* header bytes looked at */
#define BAYES_FIELD_MAX 1024u		/* bytes of one field's value */
#define BAYES_TEXT_MAX (64u << 10)	/* text bytes tokenized */
#define BAYES_RAW_MAX (256u << 10)	/* raw body bytes scanned for URLs */
#define BAYES_WORD_MIN 3u
#define BAYES_WORD_MAX 40u
#define BAYES_NUMBER_MAX 5u		/* longer pure numbers skipped */
#define BAYES_URL_MAX 200u		/* bytes of a URL kept in its token */
#define BAYES_TOKEN_TEXT_MAX 256u	/* a token's text, prefix included */
#define BAYES_HASH_LEN 12u
#define BAYES_ID_LEN 16u
#define BAYES_USER_MAX 320u		/* bytes of a user name */

#define BAYES_S 1.0			/* Robinson's strength of the prior */
#define BAYES_X 0.5			/* Robinson's prior */
#define BAYES_MIN_DEV 0.1		/* |f - 0.5| above this: a clue */
#define BAYES_CLUES_MAX 150u		/* clues combined */
#define BAYES_SPAM_CUTOFF 0.9		/* prob >= this: BAYES_VERDICT_SPAM */
#define BAYES_HAM_CUTOFF 0.2		/* prob <= this: BAYES_VERDICT_HAM */
#define BAYES_TOP_MAX 20u		/* clues reported by classify */
#define BAYES_CLUE_TEXT_MAX 80u		/* bytes of a reported clue's text */
#define BAYES_MARKER_TTL (30u * 86400)	/* autolearn markers: 30 days */
#define BAYES_SNAP_MAX (256u << 20)	/* bytes kept by a snapshot */

/* ---- tokens ---- */

struct bayes_token {
	unsigned char hash[BAYES_HASH_LEN];
	uint32_t off;			/* its text in bayes_tokens.text */
	uint32_t len;
};

/* the distinct tokens of one message; zero-initialised is empty */
struct bayes_tokens {
	struct bayes_token *v;
	size_t n;
	struct buf text;		/* the texts, each NUL-terminated */
	unsigned char id[BAYES_ID_LEN];	/* the message (markers) */
	bool truncated;			/* a bound dropped tokens or text */
	/* the tokenizer's: duplicate detection */
	uint32_t *slots;
	uint64_t *fnv;
};

/*
 * bayes_tokenize - the tokens of msg (header and body, CRLF or LF line
 * ends) into t, which is emptied first.  text: the message's readable
 * text (decoded, HTML stripped) or NULL to tokenize the raw body.
 * Never fails (bounded, allocation aborts on OOM).
 */
void bayes_tokenize(struct bayes_tokens *t, const unsigned char *msg,
    size_t len, const char *text, size_t text_len);
/*
 * bayes_tokens_keys - what learning and classifying need of src into
 * dst (emptied first): the hashes and the ID, without the tokenizer's
 * tables; every token's text reads "".  A tenth of the memory, for
 * callers that hold many messages' tokens.
 */
void bayes_tokens_keys(struct bayes_tokens *dst,
    const struct bayes_tokens *src);
/* bayes_tokens_free - accepts an empty one; t is empty after it */
void bayes_tokens_free(struct bayes_tokens *t);

static inline const char *
bayes_token_text(const struct bayes_tokens *t, size_t i)
{
	return (const char *)t->text.data + t->v[i].off;
}

/* ---- the classifier ---- */

/* text - the readable text of a message (filter_env.text's type) */
typedef int bayes_text_fn(void *arg, const unsigned char *msg, size_t len,
    struct buf *out);

struct bayes_options {
	struct lookup *lookup;	/* required; outlives the struct bayes */
	unsigned min_learned;	/* bayes.min_learned: spam and ham each */
	bool per_user;		/* bayes_train_message trains the user too */
	bayes_text_fn *text;	/* for bayes_train_message; NULL = raw body */
	void *text_arg;
	/*
	 * classify reads each key from the store once and keeps it (up to
	 * BAYES_SNAP_MAX bytes), judging every message by the state of
	 * the first read: for one command classifying many messages, never
	 * for the server, which must see what it learns
	 */
	bool snapshot;
};

struct bayes;

enum bayes_class { BAYES_HAM, BAYES_SPAM };

enum bayes_verdict {
	BAYES_VERDICT_NONE,	/* untrained: no judgement */
	BAYES_VERDICT_HAM,	/* prob <= BAYES_HAM_CUTOFF */
	BAYES_VERDICT_UNSURE,
	BAYES_VERDICT_SPAM,	/* prob >= BAYES_SPAM_CUTOFF */
};

struct bayes_clue {
	char token[BAYES_CLUE_TEXT_MAX];	/* NUL-terminated, maybe cut */
	double prob;			/* f(w) */
	int64_t spam, ham;		/* counts, global and user's added */
};

struct bayes_result {
	enum bayes_verdict verdict;
	double prob;			/* 0 ham .. 1 spam; 0.5 untrained */
	int64_t nspam, nham;		/* learned in the global set */
	int64_t user_nspam, user_nham;	/* in the user's (0 without) */
	bool user_used;			/* the user's set took part */
	size_t ntokens;			/* of the message */
	size_t nclues;			/* combined */
	struct bayes_clue top[BAYES_TOP_MAX];	/* most significant first */
	size_t ntop;
};

/* what a learn or forget did */
enum bayes_outcome {
	BAYES_LEARNED,		/* learned (forget: forgotten) */
	BAYES_RELEARNED,	/* was learned as the other class: moved */
	BAYES_ALREADY,		/* learned as this class before: nothing */
	BAYES_OTHER,		/* learned as the other class (no relearn;
				   forget: not as this class): nothing */
	BAYES_NOT_LEARNED,	/* forget: never learned: nothing */
};

struct bayes_stats {
	int64_t nspam, nham, ntokens;
};

/* bayes_new - o is copied; cannot fail */
struct bayes *bayes_new(const struct bayes_options *o);
/* bayes_free - accepts NULL, sets *b to NULL */
void bayes_free(struct bayes **b);

/*
 * bayes_classify - the probability that the message of t is spam, its
 * verdict and the clues, into r.  user: NULL or "" = the global set
 * only.  -1 with err on lookup errors, a bad user name, a value that
 * is not a counter.
 */
int bayes_classify(struct bayes *b, const struct bayes_tokens *t,
    const char *user, struct bayes_result *r, struct buf *err)
    WARN_UNUSED;
/*
 * bayes_learn - learn the message of t as class c in the global set
 * (user NULL or "") or the user's.  relearn: a message learned as the
 * other class is unlearned from it and learned as c (BAYES_RELEARNED);
 * else it is left (BAYES_OTHER).  ttl_s: the marker's time to live (0
 * = kept; autolearn gives BAYES_MARKER_TTL).  *out_r (may be NULL) says
 * what happened.
 */
int bayes_learn(struct bayes *b, const struct bayes_tokens *t,
    const char *user, enum bayes_class c, bool relearn, uint32_t ttl_s,
    enum bayes_outcome *out_r, struct buf *err) WARN_UNUSED;
/* one message of bayes_learn_many */
struct bayes_item {
	const struct bayes_tokens *t;	/* in: the message */
	enum bayes_class c;		/* in: learned as */
	enum bayes_outcome out;		/* out: what happened (when done) */
	bool done;			/* out: learned or decided */
};
/*
 * bayes_learn_many - bayes_learn of n messages into one set, in groups
 * of up to a few hundred messages (as many as one lookup batch holds):
 * per group one increment of the markers, one read and one write of
 * the counts, all or nothing per group.  On -1 the groups before the
 * failing one are learned (their items done), the rest not; a message
 * twice in v is learned once.
 */
int bayes_learn_many(struct bayes *b, struct bayes_item *v, size_t n,
    const char *user, bool relearn, uint32_t ttl_s, struct buf *err)
    WARN_UNUSED;
/*
 * bayes_forget - unlearn a message learned as class c (BAYES_LEARNED):
 * counts and marker removed.  Nothing for one never learned
 * (BAYES_NOT_LEARNED) or learned as the other class (BAYES_OTHER).  Not
 * atomic against a concurrent learn or forget of the same message.
 */
int bayes_forget(struct bayes *b, const struct bayes_tokens *t,
    const char *user, enum bayes_class c, enum bayes_outcome *out_r,
    struct buf *err) WARN_UNUSED;
/* bayes_stats - what a set has learned */
int bayes_stats(struct bayes *b, const char *user, struct bayes_stats *s,
    struct buf *err) WARN_UNUSED;

/*
 * bayes_train_message - the hook for "a message moved into Junk (spam)
 * or out of it (ham)", for the store layer's callback registry: learn
 * msg as spam or ham in the global set and, with per_user, in user's
 * (user may be NULL), relearning one learned as the other class when
 * unlearn_other.  Text through the options' text function.  A message
 * already learned so is not an error.
 */
int bayes_train_message(struct bayes *b, const char *user,
    const unsigned char *msg, size_t len, bool spam, bool unlearn_other,
    struct buf *err) WARN_UNUSED;

/*
 * filter_stage_bayes - the "bayes" stage (stage_bayes.c) for the
 * pipeline's registry (filters/stages.c)
 */
struct filter_stage_ops;
extern const struct filter_stage_ops filter_stage_bayes;

/* ---- the arithmetic, exposed for the tests ---- */

/* bayes_robinson - f(w) of a token (counts s, h; totals ns, nh >= 1) with
 * prior x */
double bayes_robinson(int64_t s, int64_t h, int64_t ns, int64_t nh,
    double x);
/* bayes_chi2q - P(chi-square with v (even) degrees of freedom >= x2) */
double bayes_chi2q(double x2, unsigned v);
/* bayes_fisher - the combined probability of n clues (0.5 when n = 0) */
double bayes_fisher(const double *f, size_t n);
/* bayes_ln, bayes_exp - natural log (x > 0) and exp (libm is not linked) */
double bayes_ln(double x);
double bayes_exp(double x);

/* bayes_verdict_name - "none", "ham", "unsure", "spam" */
const char *bayes_verdict_name(enum bayes_verdict v);

#endif
