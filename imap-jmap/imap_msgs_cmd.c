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
 */
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
