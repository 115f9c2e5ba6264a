/*
 * stage_bayes.c - the "bayes" stage: the statistical classifier
 * (bayes.h) at the data step, and autolearning from the pipeline's
 * verdict.  Configuration: the bayes group; state in the lookup store
 * (filter_env.lookup, required).  Inbound only: submission and trusted
 * networks are not classified and teach nothing.
 *
 * Data step: the message's text from filter_env.text (decoded, HTML
 * stripped), or its raw body when there is no text function or it
 * fails; then classify.  Symbols, scaled linearly from no score at
 * probability 0.5:
 *
 *   BAYES_SPAM  bayes.spam_score * (p - 0.5) / 0.5   for p > 0.5
 *   BAYES_HAM   bayes.ham_score * (0.5 - p) / 0.5    for p < 0.5
 *
 * Nothing while the classifier is untrained (fewer than
 * bayes.min_learned spam or ham learned), nothing for a message too big
 * to scan (the pipeline shows the stages only its header).  A lookup
 * error is FILTER_ERROR (the pipeline's failure policy applies).
 *
 * Per user (bayes.per_user): a message with exactly one recipient is
 * classified with that recipient's token set over the global one (the
 * global f(w) is the prior of the user's, see bayes.h); with several
 * recipients the global set alone, since one verdict serves them all.
 * The user is the envelope recipient, lower-cased, its subaddress (after
 * delivery.recipient_delimiter) removed; aliases are not expanded (the
 * filters do not see the directory).
 *
 * Autolearn (verdict hook): the score without our own symbol (so the
 * classifier does not teach itself) at or over bayes.autolearn_spam
 * learns the message as spam, at or under bayes.autolearn_ham as ham,
 * in the global set and, per user, the recipient's.  Ham only when the
 * message was delivered normally (final CONTINUE); spam also when it was
 * refused, discarded or quarantined; nothing on a tempfail (it comes
 * back), for a truncated message, or when our data step did not run.
 * Each learn claims the message's marker (Message-ID and body, TTL
 * BAYES_MARKER_TTL), so retries and duplicates are learned once.
 * Failures to learn are logged; they never change the outcome.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "filters/bayes.h"
#include "filters/filters.h"

#define SVC "bayes"

struct bstage {
	const struct filter_env *env;
	const struct config_bayes *cfg;
	const char *delims;		/* delivery.recipient_delimiter */
	struct bayes *b;
};

/* the transaction's: what the verdict hook learns from */
struct btxn {
	struct bayes_tokens tok;
	char *user;			/* per user: the recipient's set */
	double own;			/* our symbol's score */
};

static int
bayes_stage_init(const struct filter_env *env, void **state_r,
    struct buf *err)
{
	struct bstage *st;
	struct bayes_options o;

	st = xcalloc(1, sizeof(*st));
	st->env = env;
	st->cfg = &env->cfg->bayes;
	st->delims = env->cfg->delivery.recipient_delimiter != NULL ?
	    env->cfg->delivery.recipient_delimiter : "";
	memset(&o, 0, sizeof(o));
	o.lookup = env->lookup;
	o.min_learned = st->cfg->min_learned;
	o.per_user = st->cfg->per_user;
	o.text = env->text;
	o.text_arg = env->text_arg;
	st->b = bayes_new(&o);
	*state_r = st;
	return 0;
}

static void
bayes_stage_free(void *state)
{
	struct bstage *st = state;

	if (st == NULL)
		return;
	bayes_free(&st->b);
	free(st);
}

/* user_of - the set name of a recipient: lower-cased, no subaddress */
static char *
user_of(const struct bstage *st, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');
	size_t llen = at != NULL ? (size_t)(at - rcpt) : strlen(rcpt);
	struct buf u = BUF_INIT(0);

	for (size_t i = 0; i < llen; i++)
		if (strchr(st->delims, rcpt[i]) != NULL) {
			llen = i;	/* user+tag@domain is user@domain */
			break;
		}
	for (size_t i = 0; i < llen; i++)
		buf_add(&u, &(char){ (char)ascii_tolower(
		    (unsigned char)rcpt[i]) }, 1);
	for (const char *p = at; p != NULL && *p != '\0'; p++)
		buf_add(&u, &(char){ (char)ascii_tolower((unsigned char)*p) },
		    1);
	return buf_steal(&u, NULL);
}

static enum filter_action
bayes_stage_data(void *state, struct filter_msg *m, struct filter_reply *r)
{
	struct bstage *st = state;
	const struct filter_env *env = st->env;
	struct btxn *d;
	struct bayes_result res;
	struct buf text = BUF_INIT(0), err = BUF_INIT(0);
	bool has_text = false;
	double sc = 0;

	(void)r;
	if (m->truncated)
		return FILTER_CONTINUE;
	d = xcalloc(1, sizeof(*d));
	filter_data_set(m, d);
	if (env->text != NULL)
		has_text = env->text(env->text_arg, m->data, m->len, &text) ==
		    0;
	bayes_tokenize(&d->tok, m->data, m->len, has_text ? buf_cstr(&text) :
	    NULL, has_text ? text.len : 0);
	buf_free(&text);
	if (st->cfg->per_user && m->nrcpts == 1)
		d->user = user_of(st, m->rcpts[0]);
	if (bayes_classify(st->b, &d->tok, d->user, &res, &err) < 0) {
		log_warn(SVC, "%s: %s", m->qid[0] != '\0' ? m->qid : "NOQUEUE",
		    buf_cstr(&err));
		buf_free(&err);
		return FILTER_ERROR;
	}
	buf_free(&err);
	if (res.verdict == BAYES_VERDICT_NONE) {
		log_debug(SVC, "%s: untrained (spam %lld, ham %lld learned)",
		    m->qid, (long long)res.nspam, (long long)res.nham);
		return FILTER_CONTINUE;
	}
	if (res.prob > 0.5) {
		sc = st->cfg->spam_score * (res.prob - 0.5) * 2;
		filter_symbol(m, "BAYES_SPAM", sc);
	} else if (res.prob < 0.5) {
		sc = st->cfg->ham_score * (0.5 - res.prob) * 2;
		filter_symbol(m, "BAYES_HAM", sc);
	}
	d->own = sc;
	log_debug(SVC, "%s: prob=%.4f, verdict=%s, clues=%zu/%zu%s%s",
	    m->qid, res.prob, bayes_verdict_name(res.verdict), res.nclues,
	    res.ntokens, res.user_used ? ", user=" : "",
	    res.user_used ? d->user : "");
	return FILTER_CONTINUE;
}

static void
learn(struct bstage *st, struct filter_msg *m, struct btxn *d,
    enum bayes_class c)
{
	const char *cls = c == BAYES_SPAM ? "spam" : "ham";
	struct buf err = BUF_INIT(0);
	enum bayes_outcome out;

	for (int pass = 0; pass < (d->user != NULL ? 2 : 1); pass++) {
		const char *user = pass == 0 ? NULL : d->user;

		buf_reset(&err);
		if (bayes_learn(st->b, &d->tok, user, c, false,
		    BAYES_MARKER_TTL, &out, &err) < 0) {
			log_warn(SVC, "%s: autolearn as %s: %s", m->qid, cls,
			    buf_cstr(&err));
			break;
		}
		if (out == BAYES_LEARNED)
			log_info(SVC, "%s: autolearned as %s%s%s", m->qid, cls,
			    user != NULL ? " for " : "",
			    user != NULL ? user : "");
	}
	buf_free(&err);
}

static void
bayes_stage_verdict(void *state, struct filter_msg *m,
    enum filter_action final)
{
	struct bstage *st = state;
	struct btxn *d = filter_data_get(m);
	double score;

	if (d == NULL || m->truncated || final == FILTER_TEMPFAIL)
		return;
	score = m->score - d->own;
	if (score >= st->cfg->autolearn_spam)
		learn(st, m, d, BAYES_SPAM);
	else if (score <= st->cfg->autolearn_ham && final == FILTER_CONTINUE)
		learn(st, m, d, BAYES_HAM);
}

static void
bayes_stage_txn_end(void *state, struct filter_msg *m, void *data)
{
	struct btxn *d = data;

	(void)state;
	(void)m;
	bayes_tokens_free(&d->tok);
	free(d->user);
	free(d);
}

const struct filter_stage_ops filter_stage_bayes = {
	.name = "bayes",
	.needs_lookup = true,
	.inbound_only = true,
	.init = bayes_stage_init,
	.free = bayes_stage_free,
	.data = bayes_stage_data,
	.verdict = bayes_stage_verdict,
	.txn_end = bayes_stage_txn_end,
};
