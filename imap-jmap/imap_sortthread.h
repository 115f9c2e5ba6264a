/*
 * imap_sortthread.h - SORT (RFC 5256 3, SORT=DISPLAY RFC 5957) and
 * THREAD=ORDEREDSUBJECT / THREAD=REFERENCES (RFC 5256 3, 4) over the
 * result of imap_search_eval (imap_search_eval.h), with the same message
 * records and lazy loading.
 *
 * SORT keys (RFC 5256 3, 2.2; RFC 5957):
 *   ARRIVAL      internal date and time
 *   CC, FROM, TO the local part (IMAP addr-mailbox) of the first mailbox
 *                of the list (group markers are skipped); "" when none
 *   DATE         the Date header's instant (UTC), else the internal date
 *   SIZE         the size
 *   SUBJECT      the base subject (RFC 5256 2.1) the store keeps
 *                (mime_headers.base_subject)
 *   DISPLAYFROM, DISPLAYTO  the decoded display name of the first mailbox
 *                when it has a non-empty one, else its local@domain
 * Strings compare with i;ascii-casemap (RFC 4790: ASCII letters mapped to
 * upper case, then octets).  REVERSE reverses its key only; messages
 * equal on every key stay in MSN order (RFC 5256 3).
 *
 * THREAD: the sent date is DATE's; ties are broken by MSN.  Subjects
 * compare by base subject with i;ascii-casemap (XXX non-ASCII letters
 * compare by octets, as SORT does).  REFERENCES follows RFC 5256 4 step
 * by step; choices where it is silent or unbounded:
 *   - a message's references are its References msg-ids, or the first
 *     In-Reply-To msg-id when it has none; only the last
 *     IMAP_THREAD_REFS_MAX of them are used, so a peer's 10,000-id header
 *     costs bounded work (the nearest ancestors are the ones kept); a
 *     reference to the message itself is dropped (taken literally, step
 *     1.B would cut the message from its real parent), and References
 *     naming only the message itself count as none;
 *   - loop checks share a step budget per command: past it a link is
 *     refused (never a loop made), so crafted References cannot make
 *     THREAD quadratic;
 *   - a duplicate Message-ID goes to the lowest MSN, later holders get a
 *     unique id (RFC 5256 4 step 1); Message-IDs compare case-sensitively;
 *   - a link that would make a loop (a message referencing itself, or
 *     References that contradict each other) is not made: every walk is
 *     over a forest, and every traversal is iterative, so no depth of
 *     thread can overflow the stack;
 *   - a message is a reply or forward when base subject extraction
 *     removes a subj-refwd, a "(fwd)" trailer or a "[fwd: ...]" wrapper
 *     from its subject (RFC 5256 2.1, for step 5).
 * ORDEREDSUBJECT: sorted by base subject then sent date; each subject is
 * a thread whose first message is the root and the others its children;
 * threads ordered by the sent date of their first message.
 *
 * The answer: "* THREAD (2)(3 6 (4 23)(44 7 96))\r\n" (RFC 5256 4):
 * a chain of only children is one list, two or more children are nested
 * lists, a dummy root (REFERENCES step 5) is a list of lists.
 */
#ifndef POSTERN_IMAP_SORTTHREAD_H
#define POSTERN_IMAP_SORTTHREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "imap-jmap/imap_parse.h"
#include "imap-jmap/imap_search_eval.h"

#define IMAP_THREAD_REFS_MAX	100u	/* references used per message */

/*
 * imap_sort_run - sort res (from imap_search_eval over env) by crit[0..n)
 * in place (idx, seq, uid, modseq together) and set res->sorted.  Loads
 * NEED_EMAIL and/or NEED_HDR as the keys need them, one message at a
 * time (released at once: the keys are copied).  0, or -1 with err when
 * a load failed (res unchanged).
 */
int imap_sort_run(struct imap_search_env *env, const struct imap_sort_crit *crit,
    size_t ncrit, struct imap_search_result *res, struct buf *err)
    WARN_UNUSED;

/*
 * imap_sort_casemap_cmp - i;ascii-casemap ordering of two strings:
 * <0, 0, >0
 */
int imap_sort_casemap_cmp(const char *a, size_t alen, const char *b,
    size_t blen);

/* the threads of one THREAD command, opaque */
struct imap_thread;

/*
 * imap_thread_run - thread the messages of res (from imap_search_eval)
 * with alg (ORDEREDSUBJECT or REFERENCES; anything else is a bug: the
 * session answers BAD first).  Loads NEED_HDR and NEED_EMAIL per message
 * (released at once).  0 with *t_r (free with imap_thread_free), or -1
 * with err when a load failed.
 */
int imap_thread_run(struct imap_search_env *env, enum imap_thread_alg alg,
    const struct imap_search_result *res, struct imap_thread **t_r,
    struct buf *err) WARN_UNUSED;

/* imap_thread_write - "* THREAD ...\r\n" with MSNs, or UIDs with uid */
void imap_thread_write(struct buf *out, const struct imap_thread *t,
    bool uid);

/* imap_thread_free - accepts NULL and *t NULL; sets *t to NULL */
void imap_thread_free(struct imap_thread **t);

#endif
