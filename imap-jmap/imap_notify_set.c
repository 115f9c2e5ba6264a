/*
 * imap_notify_set.c - the pure half of NOTIFY (RFC 5465): checking a
 * parsed NOTIFY SET and keeping it past its command, which events a
 * mailbox gets, and the account's mailboxes as the session last heard
 * of them (the view), from which a new picture of the store turns into
 * the LIST and STATUS notifications.  No I/O: imap_notify.c reads the
 * store and hands the records in; t/unit/imap_notifyset_test.c drives
 * this file with tables.
 *
 * Decisions, where the RFC leaves room:
 *   - A mailbox other than the selected one gets the events of the most
 *     specific group that matches it: MAILBOXES, then SUBTREE (the
 *     longest root), SUBSCRIBED, then INBOXES and PERSONAL; the first
 *     given among equals.  So "(personal (...)) (mailboxes Junk NONE)"
 *     leaves Junk out whatever the order.
 *   - INBOXES is PERSONAL: delivery rules may file into any mailbox, so
 *     the set cannot be computed (RFC 5465 6.3 then requires this).
 *   - MAILBOXES names are resolved to mailbox ids when NOTIFY SET runs,
 *     so a watched mailbox stays watched when renamed; SUBTREE roots
 *     match by path at event time.  Names of no mailbox are ignored
 *     (RFC 5465 3.1).
 *   - STATUS carries MESSAGES UIDNEXT UIDVALIDITY UNSEEN, and
 *     HIGHESTMODSEQ when CONDSTORE is enabled or the group has
 *     FlagChange (RFC 5465 3.1, 5.1: the server supports CONDSTORE).
 *     It is sent when the message count, UIDNEXT or UIDVALIDITY changed
 *     (MessageNew/MessageExpunge) or, with FlagChange, UNSEEN or
 *     HIGHESTMODSEQ did; never for the selected mailbox (SELECTED's
 *     business) nor for one just created (its LIST says it).
 *   - LIST responses carry what LIST would say (\HasChildren or
 *     \HasNoChildren, \Subscribed, the special-use attribute); a
 *     deleted mailbox is "(\NonExistent)"; a rename names the new path
 *     with ("OLDNAME" (old)), for every descendant too (their paths
 *     changed with it).
 *   - What the session did itself (echo entries: CREATE, DELETE,
 *     RENAME, SUBSCRIBE) is not told back (RFC 5465 5 SHOULD).
 *   - AnnotationChange and QuotaChange are not served: no ANNOTATE, no
 *     quota events.  The metadata events are, when METADATA is offered.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

/* the events served, in BADEVENT's order (RFC 5465 8 spelling) */
static const struct {
	unsigned bit;
	const char *name;
} served[] = {
	{ IMAP_NEV_MESSAGE_NEW, "MessageNew" },
	{ IMAP_NEV_MESSAGE_EXPUNGE, "MessageExpunge" },
	{ IMAP_NEV_FLAG_CHANGE, "FlagChange" },
	{ IMAP_NEV_MAILBOX_NAME, "MailboxName" },
	{ IMAP_NEV_SUBSCRIPTION_CHANGE, "SubscriptionChange" },
	{ IMAP_NEV_MAILBOX_METADATA, "MailboxMetadataChange" },
	{ IMAP_NEV_SERVER_METADATA, "ServerMetadataChange" },
};

#define MESSAGE_EVENTS (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE | \
	IMAP_NEV_FLAG_CHANGE | IMAP_NEV_ANNOTATION_CHANGE)
#define METADATA_EVENTS (IMAP_NEV_MAILBOX_METADATA | IMAP_NEV_SERVER_METADATA)

static unsigned
served_mask(bool metadata)
{
	unsigned m = 0;

	for (size_t i = 0; i < ARRAY_SIZE(served); i++)
		m |= served[i].bit;
	return metadata ? m : m & ~METADATA_EVENTS;
}

void
imap_notify_supported(struct buf *out, bool metadata)
{
	unsigned m = served_mask(metadata);
	const char *sp = "";

	for (size_t i = 0; i < ARRAY_SIZE(served); i++) {
		if (!(m & served[i].bit))
			continue;
		buf_addf(out, "%s%s", sp, served[i].name);
		sp = " ";
	}
}

char *
imap_notify_path_fold(const char *path, size_t len)
{
	char *p;

	if (len > 1 && path[len - 1] == IMAP_DELIM)
		len--;
	p = xmemdup0(path, len);
	if (len >= 5 && ascii_eq_nocase(p, 5, "INBOX") &&
	    (len == 5 || p[5] == IMAP_DELIM))
		memcpy(p, "INBOX", 5);
	return p;
}

/* ---- the set ---- */

static void
att_copy(struct imap_fetch_att *d, const struct imap_fetch_att *a)
{
	struct imap_section *sec = &d->section;
	struct imap_str *f;

	*d = *a;
	if (a->section.npart > 0) {
		uint32_t *p = xcalloc(a->section.npart, sizeof(*p));

		memcpy(p, a->section.part, a->section.npart * sizeof(*p));
		sec->part = p;
	} else {
		sec->part = NULL;
	}
	f = a->section.nfield > 0 ? xcalloc(a->section.nfield, sizeof(*f)) :
	    NULL;
	for (size_t i = 0; i < a->section.nfield; i++) {
		f[i].p = xmemdup0(a->section.field[i].p,
		    a->section.field[i].len);
		f[i].len = a->section.field[i].len;
	}
	sec->field = f;
	sec->spec.p = a->section.spec.p != NULL ?
	    xmemdup0(a->section.spec.p, a->section.spec.len) : NULL;
}

static void
att_free(struct imap_fetch_att *a)
{
	free((void *)a->section.part);
	for (size_t i = 0; i < a->section.nfield; i++)
		free((void *)a->section.field[i].p);
	free((void *)a->section.field);
	free((void *)a->section.spec.p);
}

void
imap_notify_set_free(struct imap_notify_set **nsp)
{
	struct imap_notify_set *ns = *nsp;

	if (ns == NULL)
		return;
	for (size_t i = 0; i < ns->nfetch; i++)
		att_free(&ns->fetch[i]);
	free(ns->fetch);
	for (size_t i = 0; i < ns->ngrp; i++) {
		for (size_t j = 0; j < ns->grp[i].npath; j++)
			free(ns->grp[i].path[j]);
		free(ns->grp[i].path);
		free(ns->grp[i].id);
	}
	free(ns->grp);
	free(ns);
	*nsp = NULL;
}

/* check - the session's rules over what the parser took (RFC 5465 5,
 * 6.1, 8): IMAP_NOTIFY_OK or the first error */
static enum imap_notify_res
check(const struct imap_notify *cmd, bool metadata, const char **why_r)
{
	unsigned ok = served_mask(metadata);
	bool selected = false, badevent = false;
	size_t names = 0;

	for (size_t i = 0; i < cmd->ngroup; i++) {
		const struct imap_notify_group *g = &cmd->group[i];
		bool sel = g->filter == IMAP_NOTIFY_SELECTED ||
		    g->filter == IMAP_NOTIFY_SELECTED_DELAYED;

		if (sel && selected) {
			*why_r = "Only one of SELECTED and SELECTED-DELAYED "
			    "may be given";
			return IMAP_NOTIFY_BAD;
		}
		selected |= sel;
		if (sel && (g->events & ~MESSAGE_EVENTS) != 0) {
			*why_r = "Only message events go with SELECTED";
			return IMAP_NOTIFY_BAD;
		}
		if (!sel && g->nfetch > 0) {
			*why_r = "MessageNew fetch attributes go with "
			    "SELECTED only";
			return IMAP_NOTIFY_BAD;
		}
		if (g->unknown.n > 0 || (g->events & ~ok) != 0)
			badevent = true;
		names += g->nmbox;
	}
	if (badevent)
		return IMAP_NOTIFY_BADEVENT;
	if (names > IMAP_NOTIFY_NAMES_MAX)
		return IMAP_NOTIFY_TOO_MANY;
	return IMAP_NOTIFY_OK;
}

enum imap_notify_res
imap_notify_set_new(const struct imap_notify *cmd, bool metadata,
    struct imap_notify_set **ns_r, const char **why_r)
{
	struct imap_notify_set *ns;
	enum imap_notify_res r;

	*ns_r = NULL;
	*why_r = NULL;
	if (!cmd->none && (r = check(cmd, metadata, why_r)) != IMAP_NOTIFY_OK)
		return r;
	ns = xcalloc(1, sizeof(*ns));
	ns->none = cmd->none;
	ns->status = cmd->status;
	ns->grp = cmd->ngroup > 0 ? xcalloc(cmd->ngroup, sizeof(*ns->grp)) :
	    NULL;
	for (size_t i = 0; !ns->none && i < cmd->ngroup; i++) {
		const struct imap_notify_group *g = &cmd->group[i];
		struct imap_notify_grp *d;
		unsigned ev = g->none ? 0 : g->events;

		if (g->filter == IMAP_NOTIFY_SELECTED ||
		    g->filter == IMAP_NOTIFY_SELECTED_DELAYED) {
			ns->sel_delayed =
			    g->filter == IMAP_NOTIFY_SELECTED_DELAYED;
			ns->sel_events = ev;
			if (g->nfetch > 0)
				ns->fetch = xcalloc(g->nfetch,
				    sizeof(*ns->fetch));
			for (size_t j = 0; j < g->nfetch; j++)
				att_copy(&ns->fetch[j], &g->fetch[j]);
			ns->nfetch = g->nfetch;
			continue;
		}
		d = &ns->grp[ns->ngrp++];
		d->filter = g->filter;
		d->events = ev;
		ns->events |= ev;
		if (g->nmbox > 0)
			d->path = xcalloc(g->nmbox, sizeof(*d->path));
		for (size_t j = 0; j < g->nmbox; j++)
			d->path[d->npath++] = imap_notify_path_fold(
			    g->mbox[j].name.p, g->mbox[j].name.len);
	}
	*ns_r = ns;
	return IMAP_NOTIFY_OK;
}

/* is_under - path is root or below it */
static bool
is_under(const char *path, const char *root)
{
	size_t rl = strlen(root);

	return strncmp(path, root, rl) == 0 &&
	    (path[rl] == '\0' || path[rl] == IMAP_DELIM);
}

unsigned
imap_notify_events(const struct imap_notify_set *ns, const char *path,
    uint32_t id, bool subscribed)
{
	const struct imap_notify_grp *best = NULL;
	size_t best_len = 0;
	int best_rank = 0;

	if (ns == NULL || ns->none || path == NULL)
		return 0;
	for (size_t i = 0; i < ns->ngrp; i++) {
		const struct imap_notify_grp *g = &ns->grp[i];
		size_t len = 0;
		int rank = 0;

		switch (g->filter) {
		case IMAP_NOTIFY_MAILBOXES:
			for (size_t j = 0; j < g->nid && rank == 0; j++)
				if (g->id[j] == id)
					rank = 4;
			break;
		case IMAP_NOTIFY_SUBTREE:
			for (size_t j = 0; j < g->npath; j++) {
				if (!is_under(path, g->path[j]) ||
				    strlen(g->path[j]) < len)
					continue;
				rank = 3;
				len = strlen(g->path[j]);
			}
			break;
		case IMAP_NOTIFY_SUBSCRIBED:
			rank = subscribed ? 2 : 0;
			break;
		case IMAP_NOTIFY_INBOXES:
		case IMAP_NOTIFY_PERSONAL:
			rank = 1;
			break;
		case IMAP_NOTIFY_SELECTED:
		case IMAP_NOTIFY_SELECTED_DELAYED:
			break;
		}
		if (rank > best_rank || (rank == 3 && best_rank == 3 &&
		    len > best_len)) {
			best = g;
			best_rank = rank;
			best_len = len;
		}
	}
	return best != NULL ? best->events : 0;
}

/* ---- the view ---- */

struct id_ix {
	uint32_t id, ix;
};

static int
cmp_id_ix(const void *a, const void *b)
{
	uint32_t x = ((const struct id_ix *)a)->id;
	uint32_t y = ((const struct id_ix *)b)->id;

	return x < y ? -1 : x > y;
}

void
imap_notify_view_build(struct imap_notify_view *v,
    const struct mail_mailbox *const *mb, size_t n)
{
	struct id_ix *p;

	memset(v, 0, sizeof(*v));
	for (size_t i = 0; i < n; i++)
		imap_tree_add(&v->t, mb[i]);
	imap_tree_finish(&v->t);
	if (v->t.n == 0)
		return;
	/* the tree is in path order (LIST's); lookups go by id */
	p = xcalloc(v->t.n, sizeof(*p));
	for (size_t i = 0; i < v->t.n; i++)
		p[i] = (struct id_ix){ v->t.v[i].mb.id, (uint32_t)i };
	qsort(p, v->t.n, sizeof(*p), cmp_id_ix);
	v->ix = xcalloc(v->t.n, sizeof(*v->ix));
	for (size_t i = 0; i < v->t.n; i++)
		v->ix[i] = p[i].ix;
	free(p);
}

void
imap_notify_view_free(struct imap_notify_view *v)
{
	imap_tree_free(&v->t);
	free(v->ix);
	v->ix = NULL;
}

static struct imap_node *
find_mut(const struct imap_notify_view *v, uint32_t id)
{
	size_t lo = 0, hi = v->t.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t m = v->t.v[v->ix[mid]].mb.id;

		if (m == id)
			return &v->t.v[v->ix[mid]];
		if (m < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct imap_node *
imap_notify_view_find(const struct imap_notify_view *v, uint32_t id)
{
	return find_mut(v, id);
}

void
imap_notify_set_resolve(struct imap_notify_set *ns,
    const struct imap_notify_view *v)
{
	for (size_t i = 0; i < ns->ngrp; i++) {
		struct imap_notify_grp *g = &ns->grp[i];
		size_t w = 0;

		if (g->filter == IMAP_NOTIFY_MAILBOXES) {
			free(g->id);
			g->id = g->npath > 0 ?
			    xcalloc(g->npath, sizeof(*g->id)) : NULL;
			g->nid = 0;
			for (size_t j = 0; j < g->npath; j++) {
				const struct imap_node *n =
				    imap_tree_find(&v->t, g->path[j]);

				if (n != NULL)
					g->id[g->nid++] = n->mb.id;
			}
			continue;
		}
		if (g->filter != IMAP_NOTIFY_SUBTREE)
			continue;
		for (size_t j = 0; j < g->npath; j++) {
			if (imap_tree_find(&v->t, g->path[j]) == NULL) {
				free(g->path[j]);
				continue;
			}
			g->path[w++] = g->path[j];
		}
		g->npath = w;
	}
}

/* ---- writing ---- */

void
imap_notify_status_line(struct buf *out, const char *path,
    const struct mail_mailbox *mb, bool highestmodseq, bool utf8)
{
	buf_add_str(out, "* STATUS ");
	imap_write_mailbox(out, path, strlen(path), utf8);
	buf_addf(out, " (MESSAGES %" PRIu32 " UIDNEXT %" PRIu32
	    " UIDVALIDITY %" PRIu32 " UNSEEN %" PRIu32, mb->total,
	    mb->uidnext, mb->uidvalidity, mb->unseen);
	/* RFC 7162 3.1.2.1: never 0 */
	if (highestmodseq)
		buf_addf(out, " HIGHESTMODSEQ %" PRIu64,
		    mb->highestmodseq > 0 ? mb->highestmodseq : 1);
	buf_add_str(out, ")\r\n");
}

/* list_line - a LIST notification for n; oldpath: a rename */
static void
list_line(struct imap_notify_out *o, const struct imap_node *n,
    const char *oldpath, struct buf *out)
{
	const char *role = imap_role_attr(n->mb.role);

	buf_addf(out, "* LIST (%s", n->has_children ? "\\HasChildren" :
	    "\\HasNoChildren");
	if (n->mb.subscribed)
		buf_add_str(out, " \\Subscribed");
	if (role != NULL)
		buf_addf(out, " %s", role);
	buf_addf(out, ") \"%c\" ", IMAP_DELIM);
	imap_write_mailbox(out, n->path, strlen(n->path), o->utf8);
	if (oldpath != NULL) {
		buf_add_str(out, " (\"OLDNAME\" (");
		imap_write_mailbox(out, oldpath, strlen(oldpath), o->utf8);
		buf_add_str(out, "))");
	}
	buf_add_str(out, "\r\n");
	o->count++;
}

static void
gone_line(struct imap_notify_out *o, const char *path, struct buf *out)
{
	buf_addf(out, "* LIST (\\NonExistent) \"%c\" ", IMAP_DELIM);
	imap_write_mailbox(out, path, strlen(path), o->utf8);
	buf_add_str(out, "\r\n");
	o->count++;
}

/* is_superior - path is a proper superior of below */
static bool
is_superior(const char *path, const char *below)
{
	size_t l = strlen(path);

	return strncmp(below, path, l) == 0 && below[l] == IMAP_DELIM;
}

/* echoed - the session caused this change itself */
static bool
echoed(const struct imap_notify_out *o, enum imap_notify_echo_kind kind,
    const char *path)
{
	for (size_t i = 0; i < o->necho; i++) {
		const struct imap_notify_echo *e = &o->echo[i];

		switch (kind) {
		case IMAP_ECHO_CREATE:
			/* CREATE makes superiors; RENAME makes the new
			 * name and its superiors */
			if ((e->kind == IMAP_ECHO_CREATE &&
			    (strcmp(path, e->path) == 0 ||
			    is_superior(path, e->path))) ||
			    (e->kind == IMAP_ECHO_RENAME &&
			    (strcmp(path, e->to) == 0 ||
			    is_superior(path, e->to))))
				return true;
			break;
		case IMAP_ECHO_DELETE:
		case IMAP_ECHO_SUB:
			if (e->kind == kind && strcmp(path, e->path) == 0)
				return true;
			break;
		case IMAP_ECHO_RENAME:
			if (e->kind == IMAP_ECHO_RENAME &&
			    is_under(path, e->path))
				return true;
			break;
		}
	}
	return false;
}

static bool
wants_hms(const struct imap_notify_out *o, unsigned ev)
{
	return o->condstore || (ev & IMAP_NEV_FLAG_CHANGE) != 0;
}

/* status_diff - STATUS for a mailbox whose counts went from old to now */
static void
status_diff(const struct imap_notify_set *ns, struct imap_notify_out *o,
    const struct mail_mailbox *old, const struct mail_mailbox *now,
    const char *path, struct buf *out)
{
	unsigned ev;
	bool counts, flags;

	if (path == NULL || now->id == o->selected)
		return;
	ev = imap_notify_events(ns, path, now->id, now->subscribed);
	counts = (ev & (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE)) &&
	    (old->total != now->total || old->uidnext != now->uidnext ||
	    old->uidvalidity != now->uidvalidity);
	flags = (ev & IMAP_NEV_FLAG_CHANGE) && (old->unseen != now->unseen ||
	    old->highestmodseq != now->highestmodseq);
	if (!counts && !flags)
		return;
	imap_notify_status_line(out, path, now, wants_hms(o, ev), o->utf8);
	o->count++;
}

/* shape_differs - a change that moves, names, (un)subscribes or
 * re-roles the mailbox: the view is rebuilt */
static bool
shape_differs(const struct mail_mailbox *a, const struct mail_mailbox *b)
{
	return a->parent != b->parent || a->subscribed != b->subscribed ||
	    a->role != b->role || strcmp(a->name, b->name) != 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static bool
has_id(const uint32_t *v, size_t n, uint32_t id)
{
	return n > 0 && bsearch(&id, v, n, sizeof(*v), cmp_u32) != NULL;
}

void
imap_notify_apply(struct imap_notify_view *v,
    const struct imap_notify_set *ns, const struct mail_mailbox *recs,
    size_t nrecs, const uint32_t *gone, size_t ngone, bool full,
    struct imap_notify_out *o, struct buf *out)
{
	struct imap_notify_view nv;
	const struct mail_mailbox **all;
	uint32_t *ids, *dead;
	size_t nall = 0, ndead = 0;
	bool shape = false;

	/* the ids of recs, sorted, and those gone */
	ids = xcalloc(nrecs + 1, sizeof(*ids));
	for (size_t i = 0; i < nrecs; i++)
		ids[i] = recs[i].id;
	qsort(ids, nrecs, sizeof(*ids), cmp_u32);
	dead = xcalloc(ngone + v->t.n + 1, sizeof(*dead));
	for (size_t i = 0; i < ngone; i++)
		if (imap_notify_view_find(v, gone[i]) != NULL)
			dead[ndead++] = gone[i];
	for (size_t i = 0; full && i < v->t.n; i++)
		if (!has_id(ids, nrecs, v->t.v[i].mb.id))
			dead[ndead++] = v->t.v[i].mb.id;
	qsort(dead, ndead, sizeof(*dead), cmp_u32);
	shape = ndead > 0;
	for (size_t i = 0; i < nrecs && !shape; i++) {
		const struct imap_node *old = imap_notify_view_find(v,
		    recs[i].id);

		shape = old == NULL || shape_differs(&old->mb, &recs[i]);
	}
	if (!shape) {
		/* counts only: told and taken in place */
		for (size_t i = 0; i < nrecs; i++) {
			struct imap_node *old = find_mut(v, recs[i].id);
			char *name = old->mb.name;

			status_diff(ns, o, &old->mb, &recs[i], old->path, out);
			old->mb = recs[i];
			old->mb.name = name;
		}
		goto out;
	}

	/* the new picture: what did not change, then what did */
	all = xcalloc(v->t.n + nrecs + 1, sizeof(*all));
	for (size_t i = 0; i < v->t.n; i++) {
		uint32_t id = v->t.v[i].mb.id;

		if (!has_id(dead, ndead, id) && !has_id(ids, nrecs, id))
			all[nall++] = &v->t.v[i].mb;
	}
	for (size_t i = 0; i < nrecs; i++)
		all[nall++] = &recs[i];
	imap_notify_view_build(&nv, all, nall);
	free(all);

	/* gone (or no longer reachable over IMAP) */
	for (size_t i = 0; i < v->t.n; i++) {
		const struct imap_node *old = &v->t.v[i], *now;

		if (old->path == NULL)
			continue;
		now = imap_notify_view_find(&nv, old->mb.id);
		if (now != NULL && now->path != NULL)
			continue;
		if ((imap_notify_events(ns, old->path, old->mb.id,
		    old->mb.subscribed) & IMAP_NEV_MAILBOX_NAME) &&
		    !echoed(o, IMAP_ECHO_DELETE, old->path))
			gone_line(o, old->path, out);
	}
	/* created, renamed (descendants too), (un)subscribed */
	for (size_t i = 0; i < nv.t.n; i++) {
		const struct imap_node *now = &nv.t.v[i], *old;
		unsigned ev;

		if (now->path == NULL)
			continue;
		old = imap_notify_view_find(v, now->mb.id);
		if (old != NULL && old->path == NULL)
			old = NULL;
		ev = imap_notify_events(ns, now->path, now->mb.id,
		    now->mb.subscribed);
		if (old == NULL) {
			if ((ev & IMAP_NEV_MAILBOX_NAME) &&
			    !echoed(o, IMAP_ECHO_CREATE, now->path))
				list_line(o, now, NULL, out);
			continue;
		}
		if (strcmp(old->path, now->path) != 0 &&
		    ((ev | imap_notify_events(ns, old->path, old->mb.id,
		    old->mb.subscribed)) & IMAP_NEV_MAILBOX_NAME) &&
		    !echoed(o, IMAP_ECHO_RENAME, old->path))
			list_line(o, now, old->path, out);
		if (old->mb.subscribed != now->mb.subscribed &&
		    ((ev | imap_notify_events(ns, old->path, old->mb.id,
		    old->mb.subscribed)) & IMAP_NEV_SUBSCRIPTION_CHANGE) &&
		    !echoed(o, IMAP_ECHO_SUB, now->path))
			list_line(o, now, NULL, out);
	}
	/* the counts of those that were there before */
	for (size_t i = 0; i < nrecs; i++) {
		const struct imap_node *old = imap_notify_view_find(v,
		    recs[i].id);
		const struct imap_node *now = imap_notify_view_find(&nv,
		    recs[i].id);

		if (old != NULL && old->path != NULL && now != NULL)
			status_diff(ns, o, &old->mb, &now->mb, now->path, out);
	}
	imap_notify_view_free(v);
	*v = nv;
out:
	free(ids);
	free(dead);
}

void
imap_notify_status_all(const struct imap_notify_view *v,
    const struct imap_notify_set *ns, struct imap_notify_out *o,
    struct buf *out)
{
	for (size_t i = 0; i < v->t.n; i++) {
		const struct imap_node *n = &v->t.v[i];
		unsigned ev;

		if (n->path == NULL || n->mb.id == o->selected)
			continue;
		ev = imap_notify_events(ns, n->path, n->mb.id,
		    n->mb.subscribed);
		if (!(ev & (IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE |
		    IMAP_NEV_FLAG_CHANGE)))
			continue;
		imap_notify_status_line(out, n->path, &n->mb,
		    wants_hms(o, ev), o->utf8);
		o->count++;
	}
}
