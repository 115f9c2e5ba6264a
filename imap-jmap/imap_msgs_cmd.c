/*
 * imap_msgs_cmd.c - what the message commands (FETCH, STORE, SEARCH,
 * COPY, MOVE) share: reading the memberships of a list of UIDs of the
 * selected mailbox inside the command's own transaction.
 *
 * The UIDs a client names are mostly runs (1:*, 40:60), so they are read
 * run by run: one range scan from the first UID of a run, stopped past
 * its last.  Two UIDs adjacent in the model (consecutive MSNs) have no
 * other membership between them in the store - UIDs only grow, and the
 * model appends every new one - so a run's scan reads the rows asked for
 * and nothing else; a sparse set costs one short scan per message.
 *
 * MESSAGELIMIT (RFC 9738 3.1) is applied here, where a set becomes the
 * messages it names, once for every command: of more than
 * imap.message_limit messages only the limit with the highest UIDs are
 * kept, and the command's reply carries "MESSAGELIMIT limit uid", uid
 * the lowest one kept, so that the client goes on with the UIDs below
 * it (RFC 9738 has the server work from the highest UID down; the
 * messages kept are those, answered in ascending order as usual).
 * FETCH, STORE, MOVE work on the messages kept; COPY, which must copy
 * all or nothing, is refused (NO with the code); SEARCH counts the
 * messages it looks at (imap_search_cmd.c), UID EXPUNGE the \Deleted
 * ones of its set (imap_select.c).  EXPUNGE and CLOSE are never cut.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "imap-jmap/imap_priv.h"

struct run_scan {
	const uint32_t *uids;	/* the run */
	size_t n, pos;
	mail_msg_fn *fn;
	void *arg;
};

static int
run_row(void *arg, const struct mail_msg *msg)
{
	struct run_scan *r = arg;

	while (r->pos < r->n && r->uids[r->pos] < msg->uid)
		r->pos++;	/* expunged meanwhile: not in the store */
	if (r->pos == r->n)
		return 1;	/* past the run */
	if (r->uids[r->pos] != msg->uid)
		return 0;
	r->pos++;
	return r->fn(r->arg, msg);
}

int
imap_msgs_scan(struct kv_txn *t, struct imap_session *s,
    const uint32_t *uids, size_t n, mail_msg_fn *fn, void *arg,
    struct buf *err)
{
	const struct imap_msnmap *map = &s->sel->map;
	size_t i = 0;

	while (i < n) {
		struct run_scan r = { uids + i, 1, 0, fn, arg };
		uint32_t msn = imap_msnmap_msn(map, uids[i]);
		int ret;

		while (msn != 0 && i + r.n < n &&
		    imap_msnmap_uid(map, msn + (uint32_t)r.n) == uids[i + r.n])
			r.n++;
		ret = mail_msg_list_txn(t, s->acct, s->sel->mbox, uids[i],
		    run_row, &r, err);
		if (ret < 0)
			return ret;
		i += r.n;
	}
	return 0;
}

/* ---- MESSAGELIMIT (RFC 9738) ---- */

size_t
imap_limit_cut(const struct imap_session *s, uint32_t *v, size_t *n_r)
{
	size_t limit = s->cfg->imap.message_limit, drop;

	if (limit == 0 || *n_r <= limit)
		return 0;
	drop = *n_r - limit;
	memmove(v, v + drop, limit * sizeof(*v));
	*n_r = limit;
	return drop;
}

long
imap_set_msns_limit(struct imap_session *s, const struct imap_seqset *set,
    bool uid, uint32_t **msns_r, uint32_t *cut_r)
{
	long n = imap_set_msns(s, set, uid, msns_r);
	size_t kept = n > 0 ? (size_t)n : 0;

	*cut_r = 0;
	if (n > 0 && imap_limit_cut(s, *msns_r, &kept) > 0) {
		*cut_r = imap_msnmap_uid(&s->sel->map, (*msns_r)[0]);
		n = (long)kept;
	}
	return n;
}

void
imap_limit_code(struct imap_session *s, uint32_t cut, bool own_code,
    struct buf *code)
{
	unsigned limit = s->cfg->imap.message_limit;

	if (cut == 0)
		return;
	if (!own_code) {
		buf_addf(code, "[MESSAGELIMIT %u %" PRIu32 "] ", limit, cut);
		return;
	}
	/* RFC 9738 3.1: the tagged reply's code is taken, say it apart */
	imap_untagged(s, "NO [MESSAGELIMIT %u %" PRIu32 "] Only the last %u "
	    "messages were processed", limit, cut, limit);
}
