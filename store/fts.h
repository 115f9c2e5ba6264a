/*
 * fts.h - full-text search built into the data store (store/kv.h).
 *
 * Two layers:
 *   - the pure half (store/fts_token.c): tokenizer, folding, stemming and
 *     query trees; no I/O, no globals.  UTF-8 text in, folded tokens out,
 *     bounded.  The same pipeline runs on documents and on queries, so
 *     whatever a document yields a query of the same words yields too.
 *   - the index (store/fts.c): posting lists as Roaring bitmaps of
 *     document numbers, kept in kv under the 'F' subspace, written in
 *     the caller's transaction (the delivery's, so an email and its
 *     index entry commit together), with a deferred merge (below).
 *
 * Tokens (fts_tokenize):
 *   - Words are runs of letters, digits and combining marks of Latin,
 *     Greek, Cyrillic, Armenian, Georgian, Hebrew, Arabic, the Indic
 *     scripts, Thai and Hangul.  Everything else (punctuation, symbols,
 *     spaces, controls, unassigned and invalid UTF-8, one byte at a
 *     time) separates words.
 *   - Folding: lowercase, diacritics stripped (é -> e, ł -> l, ё -> е,
 *     ά -> α), final sigma -> σ, ligatures and sharp s expanded (ß -> ss,
 *     æ -> ae, œ -> oe, þ -> th), fullwidth ASCII and Arabic-Indic digits
 *     to ASCII.  Combining marks of Latin/Greek/Cyrillic, Hebrew points
 *     and Arabic harakat are dropped, so NFD text folds like NFC.  Cyrillic
 *     й, ї, ў stay distinct letters (in NFC; an NFD й folds to и).
 *   - CJK ideographs and kana are indexed one character per token
 *     (unigrams): cheap, finds every word, ranks nothing; a query of
 *     several characters is the AND of them, so it may also match where
 *     they are not adjacent.  Thai (no spaces) comes out as long runs cut
 *     at FTS_TOKEN_MAX: poor, but no worse than absent.
 *     XXX a dictionary segmenter (ICU) would fix both.
 *   - Joiners . - _ + @ ' (and U+2019) between two word characters tie
 *     words into one span; each word of a span is a token.  A span of the
 *     form local@domain (one '@', domain words joined by '.' or '-') is
 *     also one token as a whole: "Alice.B@Example.COM" yields "alice",
 *     "b", "example", "com" and "alice.b@example.com".  So a query for an
 *     address matches that address exactly, a query for "example.com"
 *     matches every address of the domain and its subdomains.
 *   - A token is at most FTS_TOKEN_MAX bytes: longer words are cut at a
 *     code point boundary (queries are cut the same way, so a long word
 *     still finds itself); a whole address longer than that is not
 *     emitted (its words still are).
 *
 * Stemming (fts_stem): Snowball (libstemmer), English by default, on the
 * subject, body and attachment fields; address fields (from, to, cc, bcc)
 * keep the folded words, since names and addresses do not inflect.
 * Tokens with a digit or an '@' are never stemmed.  Only one form is
 * indexed per field: "running" and "runs" both find "run".
 *
 * Key layout (subspace 'F', store/LAYOUT.md; acct and doc are u32 BE):
 *   'F' acct field term      -> posting list: Roaring bitmap (portable
 *                               serialization, run-optimised) of the
 *                               merged docs holding term in field (1..7 =
 *                               enum fts_field); term is the token's
 *                               bytes, 1..FTS_TOKEN_MAX, no terminator
 *                               (it ends the key; a prefix query scans
 *                               'F' acct field prefix).  An empty bitmap
 *                               is deleted, never stored.
 *   'F' acct 0xfd            -> bitmap of the pending docs: indexed, but
 *                               in no posting list yet (see "Deferred
 *                               merge"); absent when none
 *   'F' acct 0xfe            -> bitmap of every indexed doc of the
 *                               account, pending or merged (the universe
 *                               of NOT)
 *   'F' acct 0xff doc        -> the doc's term list: version byte 1, then
 *                               per (field, term) pair, sorted (key order)
 *                               and unique: field (1 byte), length (1
 *                               byte), term.  Removal takes a merged doc
 *                               out of exactly these bitmaps; a merge puts
 *                               a pending doc into them; a search bisects
 *                               the lists of the pending docs.  Present
 *                               iff the doc is indexed (an indexed doc
 *                               with no words has an empty list).
 * Document numbers are the mail model's per-account u32 email ids.
 *
 * Deferred merge: indexing one doc per transaction (every delivery) must
 * not read, change and write the posting list of each of its ~350 terms
 * (lists of common words are kilobytes: ~17 ms of CPU per message at
 * 20,000 messages).  So fts_batch_index writes only the doc's term list
 * and adds it to the small pending and all-docs bitmaps; a merge moves
 * all pending docs of an account into the posting lists at once, each
 * list written once for the whole group, which is what a batch of a
 * hundred docs costs per doc.  fts_search ORs each term's posting list
 * with the pending docs whose term lists hold it, so its results are
 * exact whether a doc is pending or merged.  Bounds:
 *   - fts_batch_flush merges an account itself when it leaves
 *     lim.pending_max (FTS_PENDING_MAX) docs or more pending, so after
 *     any flush an account has fewer than that: a search reads at most
 *     that many term lists (~3 KB each for an ordinary message), and no
 *     delivery pays more than one merge of that many docs.
 *   - Past lim.pending_due (FTS_PENDING_DUE) a flush reports the account
 *     in fts_batch_merge_due; the caller should then run fts_merge in a
 *     write transaction of its own after its commit (delivery: after the
 *     reply is sent), so no delivery waits for a merge and the inline
 *     merge at pending_max stays a safety net.  Measured at 20,000
 *     messages (t/bench/fts_bench.c, SQLite): a delivery's index work
 *     ~1 ms; a merge of 128 pending docs ~220 ms, once per 128
 *     deliveries; a search ~5 us more per pending doc (it reads their
 *     term lists in one range scan when they are the newest docs).
 *   - Removing or reindexing a merged doc changes its posting lists at
 *     the flush, as before (XXX deferring that too would need the old
 *     term list kept until the merge, and searches subtracting such
 *     docs from the posting lists).
 *
 * Concurrency: a struct fts is immutable after fts_new and shared by all
 * threads; each batch and each search makes its own Snowball stemmer
 * (they are not thread-safe; one costs under a microsecond).  A batch
 * belongs to one transaction and the thread using it.
 */
#ifndef POSTERN_FTS_H
#define POSTERN_FTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "common/buf.h"
#include "common/common.h"
#include "store/kv.h"

/* ---- tokenizer (fts_token.c) ---- */

#define FTS_TOKEN_MAX 64u		/* bytes in a token */

/*
 * fts_token_fn - called with each token: tok[len] is NUL, tok is valid
 * UTF-8 of 1..FTS_TOKEN_MAX bytes, valid only during the call.  Return 0
 * to go on, anything else to stop.
 */
typedef int fts_token_fn(void *ctx, const char *tok, size_t len);

/*
 * fts_tokenize - split len bytes of (possibly invalid) UTF-8 into folded
 * tokens, in text order (a span's whole address after its words).  Stops
 * after max_tokens tokens or when fn returns non-zero; returns the number
 * of tokens passed to fn.  Deterministic; allocates nothing proportional
 * to len; never fails.
 */
size_t fts_tokenize(const void *text, size_t len, size_t max_tokens,
    fts_token_fn *fn, void *ctx);

/*
 * fts_token_list - the tokens of text appended to out (unlimited), each
 * followed by a NUL; returns their number, at most max + 1 (more than max
 * means text holds more, for callers that refuse rather than cut)
 */
size_t fts_token_list(const void *text, size_t len, size_t max,
    struct buf *out);

/* fts_token_selfcheck - PANIC if the built-in tables are not sorted */
void fts_token_selfcheck(void);

struct fts_stemmer;

/*
 * fts_stemmer_new - a Snowball stemmer for language (a libstemmer name:
 * "english", "german", "porter", ...; NULL = "english"), or one that
 * stems nothing for "none".  -1 with err for an unknown language.  Not
 * thread-safe: one per thread at a time.
 */
int fts_stemmer_new(const char *language, struct fts_stemmer **st_r,
    struct buf *err) WARN_UNUSED;
void fts_stemmer_free(struct fts_stemmer **st);
/*
 * fts_stem - the stem of one token from fts_tokenize into out (replacing
 * its contents): 1..FTS_TOKEN_MAX bytes of valid UTF-8.  Tokens holding a
 * digit or '@' come back unchanged, as does a stem that would be empty or
 * too long.  out must be unlimited (max 0).
 */
void fts_stem(struct fts_stemmer *st, const char *tok, size_t len,
    struct buf *out);

/* ---- index (fts.c; query trees in fts_token.c) ---- */

/* fields: the values are stored in keys, never renumber */
enum fts_field {
	FTS_SUBJECT = 1,
	FTS_FROM = 2,
	FTS_TO = 3,
	FTS_CC = 4,
	FTS_BCC = 5,
	FTS_BODY = 6,
	FTS_ATTACHMENT = 7,	/* text extracted from attachments */
};
#define FTS_FIELD_MIN FTS_SUBJECT
#define FTS_FIELD_MAX FTS_ATTACHMENT
#define FTS_F(field) (1u << (field))
#define FTS_F_ANY (FTS_F(FTS_SUBJECT) | FTS_F(FTS_FROM) | FTS_F(FTS_TO) | \
	FTS_F(FTS_CC) | FTS_F(FTS_BCC) | FTS_F(FTS_BODY) | \
	FTS_F(FTS_ATTACHMENT))
/* the fields that are stemmed; the others hold folded words as written */
#define FTS_F_STEMMED (FTS_F(FTS_SUBJECT) | FTS_F(FTS_BODY) | \
	FTS_F(FTS_ATTACHMENT))

/*
 * Bounds of the index, passed to fts_new (a 0 field takes the default).
 * Text of a doc past doc_tokens tokens or doc_terms distinct (field,
 * term) pairs is not indexed; that is not an error (fts_batch_stats
 * counts such docs), so a 50 MB text attachment costs bounded work and
 * index, and its term list stays under ~64 bytes per term.  A prefix
 * query matching more than prefix_terms terms is refused.  pending_due
 * and pending_max bound the pending docs of an account (see "Deferred
 * merge" above; pending_max 1 merges at every flush, as an index without
 * deferral would).
 */
struct fts_limits {
	size_t doc_tokens;	/* default FTS_DOC_TOKENS_MAX */
	size_t doc_terms;	/* default FTS_DOC_TERMS_MAX */
	size_t prefix_terms;	/* default FTS_PREFIX_TERMS_MAX */
	size_t pending_due;	/* default FTS_PENDING_DUE (<= pending_max) */
	size_t pending_max;	/* default FTS_PENDING_MAX */
};
#define FTS_DOC_TOKENS_MAX 1000000u
#define FTS_DOC_TERMS_MAX 50000u
#define FTS_PREFIX_TERMS_MAX 10000u
#define FTS_PENDING_DUE 128u
#define FTS_PENDING_MAX 256u

/* one piece of a document's text; several parts may share a field */
struct fts_part {
	enum fts_field field;
	const void *text;	/* UTF-8 (invalid bytes separate words) */
	size_t len;
};

struct fts_doc {
	const struct fts_part *parts;
	size_t nparts;
};

struct fts;

/*
 * fts_new - the index front end for a stemming language (see
 * fts_stemmer_new; NULL = "english", "none" = no stemming) and limits
 * (NULL = the defaults).  Changing the language of an existing index
 * needs a reindex: queries are stemmed with the current one.  -1 with
 * err for an unknown language.
 */
int fts_new(const char *language, const struct fts_limits *limits,
    struct fts **fts_r, struct buf *err) WARN_UNUSED;
/* fts_free - accepts NULL, sets *fts to NULL */
void fts_free(struct fts **fts);

/*
 * A batch collects index changes of one write transaction and merges
 * them per posting list: each bitmap touched is read, changed and
 * written once, at fts_batch_flush.  Until then a search in the same
 * transaction does not see the batch's changes; a batch not flushed when
 * the transaction commits loses them (so flush, then commit).  On abort
 * or conflict, free the batch and start again in the new transaction.
 * Every call may return -1 or KV_CONFLICT from kv (pass it up to
 * kv_run); after a failure the batch is only good for fts_batch_free.
 */
struct fts_batch;

struct fts_stats {
	uint64_t docs_indexed;	/* fts_batch_index calls */
	uint64_t docs_removed;	/* fts_batch_remove calls finding the doc */
	uint64_t docs_truncated; /* docs cut at a doc_tokens/doc_terms bound */
	uint64_t tokens;	/* tokens read */
	uint64_t terms;		/* distinct (field, term) pairs */
	uint64_t lists_written;	/* bitmaps put or deleted by flushes */
	uint64_t merges;	/* merges run by flushes (pending_max) */
	uint64_t docs_merged;	/* pending docs they moved */
};

struct fts_batch *fts_batch_new(struct fts *fts, struct kv_txn *t);
/*
 * fts_batch_index - index doc (replacing what it had, if it was indexed
 * already: reindexing is idempotent)
 */
int fts_batch_index(struct fts_batch *b, uint32_t account, uint32_t doc,
    const struct fts_doc *d, struct buf *err) WARN_UNUSED;
/*
 * fts_terms - a document's sorted (field, term) list, made outside any
 * transaction: tokenizing and stemming are most of what indexing costs,
 * and a writer holds the data store's one write lock.  fts_terms_new
 * returns NULL with err for a bad part (as fts_batch_index would);
 * fts_batch_index_terms then indexes the list as doc of account, as
 * often as needed (a message filed for several users is tokenized once).
 */
struct fts_terms;
struct fts_terms *fts_terms_new(struct fts *fts, const struct fts_doc *d,
    struct buf *err);
/* fts_terms_free - accepts NULL, sets *tl to NULL */
void fts_terms_free(struct fts_terms **tl);
int fts_batch_index_terms(struct fts_batch *b, uint32_t account,
    uint32_t doc, const struct fts_terms *tl, struct buf *err) WARN_UNUSED;
/* fts_batch_remove - take doc out of the index; absent docs are no error */
int fts_batch_remove(struct fts_batch *b, uint32_t account, uint32_t doc,
    struct buf *err) WARN_UNUSED;
/* fts_batch_flush - write the merged changes; the batch stays usable */
int fts_batch_flush(struct fts_batch *b, struct buf *err) WARN_UNUSED;
/* fts_batch_stats - counters since fts_batch_new */
struct fts_stats fts_batch_stats(const struct fts_batch *b);
/*
 * fts_batch_merge_due - the accounts whose pending docs reached
 * pending_due at their last flush by this batch (and were not merged by
 * it): up to max of them into accounts; returns how many there are.
 * Call it after the last flush, before fts_batch_free; after the commit,
 * run fts_merge for each in a transaction of its own.
 */
size_t fts_batch_merge_due(const struct fts_batch *b, uint32_t *accounts,
    size_t max);
/* fts_batch_free - drops unflushed changes; accepts NULL */
void fts_batch_free(struct fts_batch **b);

/* fts_index, fts_remove - one document: a batch of one, flushed */
int fts_index(struct fts *fts, struct kv_txn *t, uint32_t account,
    uint32_t doc, const struct fts_doc *d, struct buf *err) WARN_UNUSED;
int fts_remove(struct fts *fts, struct kv_txn *t, uint32_t account,
    uint32_t doc, struct buf *err) WARN_UNUSED;

/*
 * fts_merge - move every pending doc of account into the posting lists
 * (fewer than pending_max after any flush: bounded work).  Idempotent;
 * nothing pending is a no-op.  A search sees the same docs before and
 * after.  Run it in a write transaction of its own (kv_run) when
 * fts_batch_merge_due says so; -1 or KV_CONFLICT from kv.
 */
int fts_merge(struct fts *fts, struct kv_txn *t, uint32_t account,
    struct buf *err) WARN_UNUSED;
/* fts_pending - the number of pending docs of account into *n_r */
int fts_pending(struct fts *fts, struct kv_txn *t, uint32_t account,
    uint64_t *n_r, struct buf *err) WARN_UNUSED;

/*
 * Queries: a tree built by the caller (IMAP SEARCH, JMAP filters), on
 * the stack or with the helpers below.
 *   FTS_Q_TERM: text is tokenized and stemmed like a document (per field:
 *     stemmed in FTS_F_STEMMED fields, as written in the others); the
 *     node matches the docs holding every token, each in any of fields
 *     (a mask of FTS_F() bits).  So "alice invoice" over FTS_F_ANY finds
 *     alice in From and invoice in the body; words are not a phrase.  A
 *     text without any token (empty, only punctuation) matches every doc.
 *     With prefix, the last token matches every indexed term it begins
 *     (unstemmed: "invoi" finds "invoic", the stem of "invoice", but
 *     "running" as a prefix does not find the stem "run").
 *   FTS_Q_AND, FTS_Q_OR: the children (the list through child/next); an
 *     AND of none is every doc, an OR of none is no doc.
 *   FTS_Q_NOT: every doc but those of its one child.
 * "Every doc" is the universe passed to fts_search, or the account's
 * indexed docs when that is NULL.
 */
enum fts_query_op { FTS_Q_TERM, FTS_Q_AND, FTS_Q_OR, FTS_Q_NOT };

struct fts_query {
	enum fts_query_op op;
	unsigned fields;	/* TERM: FTS_F() bits, non-zero */
	const char *text;	/* TERM: UTF-8, len bytes */
	size_t len;
	bool prefix;		/* TERM: last token is a prefix */
	struct fts_query *child;	/* AND/OR: first child; NOT: the one */
	struct fts_query *next;		/* next sibling */
};

/* limits on one search: a bigger query is an error, not a partial answer */
#define FTS_QUERY_DEPTH_MAX 32u		/* nesting of AND/OR/NOT */
#define FTS_QUERY_NODES_MAX 1000u
#define FTS_QUERY_TOKENS_MAX 64u	/* tokens in one TERM text */

/*
 * Helpers: allocate (abort on OOM), the text is copied.  fts_query_add
 * appends child to parent's children and returns parent.
 * fts_query_free frees a tree made of these; accepts NULL.
 */
struct fts_query *fts_query_term(unsigned fields, const char *text,
    size_t len, bool prefix);
struct fts_query *fts_query_op(enum fts_query_op op);
struct fts_query *fts_query_add(struct fts_query *parent,
    struct fts_query *child);
void fts_query_free(struct fts_query **q);
/*
 * fts_query_check - -1 with err when q is not a valid tree within the
 * limits (fts_search checks it too; this lets a protocol answer a bad
 * query before it opens a transaction)
 */
int fts_query_check(const struct fts_query *q, struct buf *err)
    WARN_UNUSED;

/*
 * fts_search - the docs of account matching q, as a new bitmap in
 * *result_r (the caller frees it with roaring_bitmap_free), always a
 * subset of the universe (NULL: the account's indexed docs).  -1 with err
 * for a query over the limits or a bad node (unknown op, a TERM without
 * fields), or a kv error (-1 or KV_CONFLICT); a corrupt posting list is an
 * error, never a crash.
 */
int fts_search(struct fts *fts, struct kv_txn *t, uint32_t account,
    const struct fts_query *q, const roaring_bitmap_t *universe,
    roaring_bitmap_t **result_r, struct buf *err) WARN_UNUSED;

#endif
