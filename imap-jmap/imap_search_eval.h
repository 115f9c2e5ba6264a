/*
 * imap_search_eval.h - evaluate a parsed SEARCH key tree (imap_parse.h)
 * over the messages of the selected mailbox, and write the answers:
 * SEARCH, ESEARCH (RFC 4731, with PARTIAL of RFC 9394 and MODSEQ of RFC
 * 7162 3.1.5) and what SEARCHRES (RFC 5182) must remember.  SORT and
 * THREAD, which run on the matching set, are in imap_sortthread.h.
 *
 * Pure: no I/O of its own.  The caller (the IMAP session, inside a job)
 * describes each message with a struct imap_search_msg and gives
 * callbacks that load what a key needs, lazily: most keys are answered
 * from the membership (flags, UID, MODSEQ), some need the email record
 * (size, dates, thread), the stored header summary, the raw header or the
 * body text.  The evaluator asks for each only when a key reaches it, so
 * "UNSEEN SUBJECT x" loads no header of a seen message.  Keys of an AND
 * are tried cheapest first.
 *
 * Strings (RFC 9051 6.4.4): a key matches when its string is a substring
 * of the field, ignoring case.  Both sides are folded the same way:
 * ASCII letters to lower case, and for other text NFKD then the Unicode
 * case fold (GLib's g_utf8_normalize and g_utf8_casefold), which is the
 * spirit of i;unicode-casemap (RFC 5051) and makes "Strasse" find
 * "STRAßE".  Invalid UTF-8 in a field is replaced (U+FFFD) before
 * folding.  The search is linear in the field (memmem on the folded
 * text), whatever the peer's string.  CHARSET US-ASCII and UTF-8 are
 * accepted (a search string must then be valid UTF-8, else BAD);
 * anything else is IMAP_SEARCH_BADCHARSET.
 *
 * Fields: SUBJECT is the decoded Subject; FROM, TO, CC, BCC the decoded
 * address list written as 'Name <local@domain>, ...' (group names too);
 * HEADER the unfolded raw value of every field of that name (not
 * RFC 2047 decoded: XXX decoding would need GMime here); an empty HEADER
 * string matches the presence of the field.  BODY is the message's
 * search text (text parts decoded to UTF-8, HTML stripped: what the
 * indexer sees, mime.h "Search text").  TEXT is the raw header, SUBJECT,
 * the address lists and BODY.
 *
 * The full-text index (store/fts.h) and substring semantics.  The index
 * holds stemmed whole words; IMAP asks for substrings.  So:
 *   - A word of the string with a separator on both sides inside the
 *     string itself (an "interior" word: in "big red car", only "red") is
 *     a whole word in any field containing the string, so the index
 *     answer for all interior words is a superset of the matches: it
 *     narrows the candidates, and the field itself verifies each
 *     candidate.  The first and last words may be parts of longer words
 *     and are never asked of the index.  This is used for SUBJECT, FROM,
 *     TO, CC, BCC and BODY in every mode, and for TEXT in the exact mode
 *     (after the raw header, which the index does not hold, is checked).
 *   - IMAP_SEARCH_TEXT_INDEX (the default when an index is given): BODY
 *     and TEXT are answered by the index alone, with its word semantics:
 *     every word of the string must be in the message (stemmed: "invoices"
 *     finds "invoice"), the last word also as a prefix of an indexed word
 *     when it has at least IMAP_SEARCH_PREFIX_MIN bytes ("invoi" finds
 *     "invoice").  Words need not be adjacent.  This is what Dovecot with
 *     an FTS plugin, Gmail and Exchange do, and what makes SEARCH TEXT
 *     cost a few bitmap reads instead of a read of every message.  A
 *     string without a word (only punctuation) and a message the index
 *     does not hold fall back to the exact check.
 *   - IMAP_SEARCH_TEXT_EXACT: RFC substring semantics for BODY and TEXT,
 *     narrowed by interior words as above, each candidate's text loaded
 *     and searched.
 * A message the index does not hold (indexing failed or pending a
 * reindex) is never excluded by it: "indexed" is the answer of an empty
 * query (every indexed document), asked once per search.
 *
 * Dates (RFC 9051 6.4.4): BEFORE/ON/SINCE compare the date part of the
 * internal date in its own zone (internal_tz); SENTBEFORE/SENTON/
 * SENTSINCE the date part of the Date header in the header's zone, and a
 * message without a usable Date header does not match them (as Dovecot;
 * RFC 9051 says nothing); SAVEDBEFORE/SAVEDON/SAVEDSINCE (RFC 8514) the
 * save date in the internal date's zone, and match nothing for a message
 * without one.  OLDER n matches an internal date more than n seconds
 * before now, YOUNGER n one at most n seconds before (RFC 5032): they
 * partition the mailbox.  LARGER n is size > n, SMALLER n size < n.
 *
 * Flags: NEW is RECENT UNSEEN, OLD is NOT RECENT; \Recent is the
 * session's (IMAP4rev2 has none: leave recent false).  KEYWORD compares
 * ASCII case-insensitively; the keywords the store keeps as flag bits
 * ($Forwarded, $Junk, $NotJunk, $Seen, ...: mail_keyword_flag) are found
 * in flags.  MODSEQ n matches modseq >= n; its entry name is ignored (one
 * MODSEQ per message, RFC 7162 3.1.5 allows it).  EMAILID/THREADID
 * compare the ids the objectid callback decodes; an id it does not know
 * matches nothing.
 *
 * Sequence sets: "*" is the last message (its MSN or UID); n:* includes
 * the last message even if n is past it; numbers past the end match
 * nothing (no error: the session decides whether an MSN out of range is
 * BAD).  "$" is the saved result: env->saved, UIDs.
 *
 * Memory: the result belongs to the caller (imap_search_result_free).
 * Nothing of the env is kept after a call.  Thread safety: calls share
 * nothing; the callbacks run on the calling thread.
 */
#ifndef POSTERN_IMAP_SEARCH_EVAL_H
#define POSTERN_IMAP_SEARCH_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "imap-jmap/imap_parse.h"
#include "store/fts.h"
#include "store/mime.h"

/* what a message record must hold for a key: bits of load's need */
#define IMAP_SEARCH_NEED_EMAIL	(1u << 0)	/* size, internal date, save
						   date, thread */
#define IMAP_SEARCH_NEED_HDR	(1u << 1)	/* hdr */
#define IMAP_SEARCH_NEED_RAWHDR	(1u << 2)	/* raw_hdr */
#define IMAP_SEARCH_NEED_TEXT	(1u << 3)	/* text */

/* the last word of an index query is also a prefix from this length on */
#define IMAP_SEARCH_PREFIX_MIN	4u
/* at most this many interior words are asked of the index per key */
#define IMAP_SEARCH_FTS_WORDS	32u

/*
 * One message of the selected mailbox.  The caller fills the membership
 * fields of every message; the rest as load() is asked (or before, with
 * the bit set in loaded).  Pointers stay the caller's.
 */
struct imap_search_msg {
	/* always */
	uint32_t uid;
	uint32_t email;		/* the email id: the index's document */
	uint32_t flags;		/* MAIL_F_* */
	const char *keywords;	/* as struct mail_msg: lowercase, one space
				   apart, "" for none; never NULL */
	uint64_t modseq;
	bool recent;		/* \Recent in this session (IMAP4rev1) */
	/* IMAP_SEARCH_NEED_EMAIL */
	uint64_t size;
	int64_t internal_date;	/* seconds since the epoch, UTC */
	int16_t internal_tz;	/* its zone for INTERNALDATE, minutes east */
	bool has_save_date;
	int64_t save_date;	/* seconds since the epoch (RFC 8514) */
	uint32_t thread;	/* the thread id */
	/* IMAP_SEARCH_NEED_HDR: NULL when the email has no stored summary
	 * (then every header field is absent) */
	const struct mime_headers *hdr;
	/* IMAP_SEARCH_NEED_RAWHDR: the top-level header block */
	const char *raw_hdr;
	size_t raw_hdr_len;
	/* IMAP_SEARCH_NEED_TEXT: the search text, as mime_parse_text gives
	 * it (mime.h "Search text": what the indexer saw, which the index's
	 * narrowing relies on); invalid UTF-8 is tolerated */
	const char *text;
	size_t text_len;
	unsigned loaded;	/* IMAP_SEARCH_NEED_* bits present */
};

/*
 * load - fill the fields of need (bits not yet in m->loaded) for m.
 * 0, or -1 with one line in err (a store error: the search fails NO).
 * The evaluator sets the bits in m->loaded itself.
 */
typedef int imap_search_load_fn(void *ctx, struct imap_search_msg *m,
    unsigned need, struct buf *err);
/*
 * release - the evaluator is done with what it asked load() for m (it
 * restores m->loaded to what it was before); may be NULL when the caller
 * keeps what it loads
 */
typedef void imap_search_release_fn(void *ctx, struct imap_search_msg *m);
/*
 * fts - the documents of the account matching q (fts_search with a NULL
 * universe, in the caller's transaction): 0 with a new bitmap in
 * *result_r, or -1 with err
 */
typedef int imap_search_fts_fn(void *ctx, const struct fts_query *q,
    roaring_bitmap_t **result_r, struct buf *err);
/*
 * objectid - the email (thread false) or thread id that the OBJECTID
 * string s names, as the session writes them in FETCH EMAILID/THREADID;
 * false when s is no such id
 */
typedef bool imap_search_objectid_fn(void *ctx, bool thread, const char *s,
    size_t len, uint32_t *id_r);

enum imap_search_text_mode {
	IMAP_SEARCH_TEXT_INDEX,	/* BODY/TEXT answered by the index */
	IMAP_SEARCH_TEXT_EXACT,	/* substring, the index only narrows */
};

struct imap_search_env {
	/* the selected mailbox: msgs[i] is MSN i + 1; UIDs ascending */
	struct imap_search_msg *msgs;
	size_t n;
	/* "$": the saved result, UIDs ascending (NULL/0: empty) */
	const uint32_t *saved;
	size_t nsaved;
	int64_t now;			/* OLDER/YOUNGER, seconds */
	bool save_date_supported;	/* SAVEDATESUPPORTED */
	enum imap_search_text_mode text_mode;
	imap_search_load_fn *load;	/* may be NULL if all is loaded */
	imap_search_release_fn *release;	/* may be NULL */
	imap_search_fts_fn *fts;	/* NULL: no index, exact search */
	imap_search_objectid_fn *objectid;	/* NULL: ids match nothing */
	void *ctx;			/* for the callbacks */
};

enum imap_search_status {
	IMAP_SEARCH_OK = 0,
	IMAP_SEARCH_BADCHARSET,	/* NO [BADCHARSET (US-ASCII UTF-8)] */
	IMAP_SEARCH_BAD,	/* tagged BAD, err says why */
	IMAP_SEARCH_FAILED,	/* tagged NO: a callback failed, see err */
};

/*
 * The matching messages, as indexes into env->msgs: ascending (MSN
 * order) after imap_search_eval, in sort order after imap_sort_run.
 * seq[i] is the MSN, uid[i] the UID of the same message.
 */
struct imap_search_result {
	uint32_t *idx;
	uint32_t *seq;
	uint32_t *uid;
	uint64_t *modseq;	/* with has_modseq: each one's MODSEQ */
	size_t n;
	bool has_modseq;	/* the keys used MODSEQ (RFC 7162 3.1.5) */
	bool sorted;		/* set by imap_sort_run */
};

/* imap_search_charset_ok - CHARSET name acceptable (US-ASCII, UTF-8) */
bool imap_search_charset_ok(const char *name, size_t len);

/*
 * imap_search_needs - the NEED bits the keys of s may ask for in env's
 * mode (for a caller that prefetches in bulk)
 */
unsigned imap_search_needs(const struct imap_search *s,
    const struct imap_search_env *env);

/*
 * imap_search_eval - the messages of env matching s->key (with
 * s->charset checked) into res (cleared first; free it with
 * imap_search_result_free, on every return).  Not OK: err holds one
 * line, res is empty.  With RETURN (SAVE) the caller must then set "$"
 * to the empty set (RFC 5182 2.1).
 */
enum imap_search_status imap_search_eval(const struct imap_search *s,
    struct imap_search_env *env, struct imap_search_result *res,
    struct buf *err) WARN_UNUSED;

/* imap_search_result_free - free res's arrays and zero it */
void imap_search_result_free(struct imap_search_result *res);

/*
 * imap_search_save - what SEARCHRES must remember after a successful
 * SEARCH/SORT with RETURN (... SAVE ...) (RFC 5182 2.1): the UIDs,
 * ascending and unique, of all matches, or only of the MIN and/or MAX
 * ones when MIN or MAX was asked.  *uids_r is malloc'ed (free() it; NULL
 * when *n_r is 0).  The session keeps them, drops expunged UIDs, and
 * passes them as env->saved.
 */
void imap_search_save(const struct imap_search_ret *ret,
    const struct imap_search_result *res, uint32_t **uids_r, size_t *n_r);

/*
 * imap_search_write - "* SEARCH 2 5 9\r\n", or "* SORT ..." when
 * res->sorted; MSNs, or UIDs with uid; " (MODSEQ n)" before the CRLF when
 * the keys used MODSEQ and something matched (RFC 7162 3.1.5).  For
 * IMAP4rev1 clients without RETURN.
 */
void imap_search_write(struct buf *out, const struct imap_search_result *res,
    bool uid);

/*
 * imap_search_write_esearch - '* ESEARCH (TAG "t") UID MIN 1 MAX 9
 * COUNT 5 ALL 1:3,5 MODSEQ 7\r\n' for ret (opts 0: ALL, as RFC 4731 and
 * IMAP4rev2 without RETURN).  MIN, MAX and ALL are left out when nothing
 * matched; ALL is a compact set (ascending for SEARCH; for SORT the sort
 * order, runs of consecutive ascending numbers as ranges, ESORT RFC
 * 5267); MIN and MAX of a SORT are its first and last (as Dovecot);
 * PARTIAL (RFC 9394) answers its range of the result ("NIL" when
 * empty); MODSEQ is the highest of the messages returned (of MIN/MAX
 * alone when only they are).  SAVE alone writes nothing (RFC 5182 2.1).
 * tag is written as a string.
 */
void imap_search_write_esearch(struct buf *out, const char *tag,
    size_t tag_len, bool uid, const struct imap_search_ret *ret,
    const struct imap_search_result *res);

#endif
