/*
 * imap_list.c - LIST (RFC 9051 6.3.9) with LIST-EXTENDED (RFC 5258:
 * selection options SUBSCRIBED, REMOTE, RECURSIVEMATCH, SPECIAL-USE;
 * return options SUBSCRIBED, CHILDREN, SPECIAL-USE), LIST-STATUS (RFC
 * 5819) and SPECIAL-USE (RFC 6154), and LSUB (RFC 3501 6.3.9).
 *
 * One job: the account's mailboxes are read once (mail_mailbox_list),
 * made a tree with full paths (imap_path.c), matched against every
 * pattern and listed in tree order (INBOX first), each once.
 *
 * Attributes: \HasChildren or \HasNoChildren always (RFC 9051 requires
 * them of IMAP4rev2 servers; the CHILDREN return option changes
 * nothing), the special-use attribute of the mailbox's role always
 * (clients look for it in a plain LIST), \Subscribed when asked for or
 * implied by the SUBSCRIBED selection.  Every store mailbox can be
 * selected, so \Noselect and \NonExistent appear only for LIST "" ""
 * (the separator) and LSUB's hidden parents; REMOTE changes nothing.
 * RECURSIVEMATCH adds a matching parent that has a subscribed mailbox
 * below it, with CHILDINFO ("SUBSCRIBED") (RFC 5258 3.5); LSUB with a
 * '%' that hides a subscribed mailbox lists its unsubscribed parent as
 * \Noselect (RFC 3501 6.3.9).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

static int
tree_row(void *arg, const struct mail_mailbox *mb)
{
	imap_tree_add(arg, mb);
	return 0;
}

struct patterns {
	struct buf *v;
	size_t n;
};

static bool
matches(const struct patterns *p, const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < p->n; i++)
		if (imap_list_match((const char *)p->v[i].data, p->v[i].len,
		    path, len))
			return true;
	return false;
}

/* hides_subscribed - a subscribed mailbox below n that no pattern
 * matches (LSUB lists n as \Noselect for it) */
static bool
hides_subscribed(const struct imap_tree *t, const struct imap_node *n,
    const struct patterns *p)
{
	size_t len = strlen(n->path);

	for (size_t i = 0; i < t->n; i++) {
		const struct imap_node *d = &t->v[i];

		if (d->path == NULL || !d->mb.subscribed ||
		    strncmp(d->path, n->path, len) != 0 ||
		    d->path[len] != IMAP_DELIM)
			continue;
		if (!matches(p, d->path))
			return true;
	}
	return false;
}

static void
list_line(struct imap_session *s, bool lsub, const struct imap_node *n,
    bool subscribed_attr, bool noselect, bool childinfo)
{
	const char *role = imap_role_attr(n->mb.role);
	const char *sp = "";

	buf_addf(&s->out, "* %s (", lsub ? "LSUB" : "LIST");
	if (noselect) {
		buf_add_str(&s->out, "\\Noselect");
		sp = " ";
	}
	if (!lsub) {
		buf_addf(&s->out, "%s%s", sp, n->has_children ?
		    "\\HasChildren" : "\\HasNoChildren");
		sp = " ";
	}
	if (subscribed_attr && n->mb.subscribed) {
		buf_addf(&s->out, "%s\\Subscribed", sp);
		sp = " ";
	}
	if (role != NULL && !lsub)
		buf_addf(&s->out, "%s%s", sp, role);
	buf_addf(&s->out, ") \"%c\" ", IMAP_DELIM);
	imap_write_mailbox(&s->out, n->path, strlen(n->path), s->utf8);
	if (childinfo)
		buf_add_str(&s->out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))");
	buf_add_str(&s->out, "\r\n");
}

static void
list_work(struct imap_session *s)
{
	const struct imap_list *l = &s->cmd->u.list;
	bool lsub = s->cmd->kind == IMAP_CMD_LSUB;
	bool sel_sub = lsub || (l->sel & IMAP_LSEL_SUBSCRIBED) != 0;
	bool recursive = (l->sel & IMAP_LSEL_RECURSIVEMATCH) != 0;
	bool sel_special = (l->sel & IMAP_LSEL_SPECIAL_USE) != 0;
	bool ret_sub = sel_sub || (l->ret & IMAP_LRET_SUBSCRIBED) != 0;
	bool ret_status = (l->ret & IMAP_LRET_STATUS) != 0;
	struct imap_tree t = { NULL, 0, 0 };
	struct patterns pats = { NULL, 0 };
	struct buf err = BUF_INIT(0);

	/* LIST ref "": the separator and the root (RFC 9051 6.3.9) */
	if (l->npat == 1 && l->pat[0].name.len == 0 && !l->extended) {
		if (!lsub)
			imap_untagged(s, "LIST (\\Noselect) \"%c\" \"\"",
			    IMAP_DELIM);
		imap_tagged(s, "OK", "%s completed", lsub ? "LSUB" : "LIST");
		return;
	}
	pats.v = xcalloc(l->npat, sizeof(*pats.v));
	for (size_t i = 0; i < l->npat; i++) {
		if (l->pat[i].name.len == 0)
			continue;	/* RFC 5258 3: an empty one matches none */
		imap_list_pattern(l->ref.name.p, l->ref.name.len,
		    l->pat[i].name.p, l->pat[i].name.len, &pats.v[pats.n++]);
	}
	if (mail_mailbox_list(s->srv->st->mail, s->acct, tree_row, &t,
	    &err) < 0) {
		imap_store_error(s, lsub ? "LSUB" : "LIST", &err);
		goto out;
	}
	imap_tree_finish(&t);
	for (size_t i = 0; i < t.n; i++) {
		const struct imap_node *n = &t.v[i];
		bool childinfo = false, noselect = false;

		if (n->path == NULL || !matches(&pats, n->path))
			continue;
		if (sel_special && imap_role_attr(n->mb.role) == NULL)
			continue;
		if (lsub && !n->mb.subscribed) {
			if (!n->sub_below || !hides_subscribed(&t, n, &pats))
				continue;
			noselect = true;
		} else if (sel_sub && !lsub) {
			childinfo = recursive && n->sub_below;
			if (!n->mb.subscribed && !childinfo)
				continue;
		}
		list_line(s, lsub, n, ret_sub && !lsub, noselect, childinfo);
		if (ret_status && !lsub && imap_status_items(s, &n->mb, n->path,
		    l->status, &err) < 0) {
			imap_store_error(s, "LIST STATUS", &err);
			goto out;
		}
	}
	imap_refresh(s, true);
	imap_tagged(s, "OK", "%s completed", lsub ? "LSUB" : "LIST");
out:
	for (size_t i = 0; i < pats.n; i++)
		buf_free(&pats.v[i]);
	free(pats.v);
	imap_tree_free(&t);
	buf_free(&err);
}

void
imap_cmd_list(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, list_work, NULL);
}
