/*
 * jmap_mailbox.c - Mailbox/get, /changes, /query, /queryChanges, /set
 * (RFC 8621 2) over the store's mailboxes (store/mail.h), through the
 * standard method shapes of jmap_std.c.
 *
 * Properties: id, name, parentId, role, sortOrder, the four counts from
 * the mailbox record (kept by every membership and flag change, so /get
 * reads one record per mailbox), myRights, isSubscribed.  Every mailbox
 * of the account is the user's own: every right is granted, but INBOX
 * may be neither renamed, moved nor destroyed (the store's rule, RFC 3501
 * 6.3.4) and its mayRename and mayDelete say so.
 *
 * Roles: the store knows inbox, sent, drafts, trash, junk and archive
 * (RFC 8457 names); another role is invalidProperties.  A role is held by
 * at most one mailbox of an account (RFC 8621 2); INBOX's role is fixed,
 * and no other mailbox may take it.
 *
 * Names: what the store allows (1..255 octets, no control character, a
 * top-level "inbox" only as INBOX), and no "/", the IMAP hierarchy
 * separator, so that IMAP and JMAP see the same tree.
 *
 * /set: each change in one transaction; the checks that give the client
 * a precise SetError (a name taken, a missing parent, a cycle, a child
 * or emails left) are made on a snapshot before it, so a race with
 * another session ends as the store's refusal, reported serverFail.
 * Destroying with onDestroyRemoveEmails expunges the memberships in the
 * same transaction and drops the blobs of emails left in no mailbox
 * (store_reap).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

static const char *const mailbox_props[] = {
	"id", "name", "parentId", "role", "sortOrder", "totalEmails",
	"unreadEmails", "totalThreads", "unreadThreads", "myRights",
	"isSubscribed", NULL,
};

static const char *const counts_props[] = {
	"totalEmails", "unreadEmails", "totalThreads", "unreadThreads", NULL,
};

/* the properties the server sets: unchanged in an update, absent in a
 * create */
static const char *const server_set[] = {
	"id", "totalEmails", "unreadEmails", "totalThreads", "unreadThreads",
	"myRights", NULL,
};

static const char *const rights[] = {
	"mayReadItems", "mayAddItems", "mayRemoveItems", "maySetSeen",
	"maySetKeywords", "mayCreateChild", "mayRename", "mayDelete",
	"maySubmit", NULL,
};

/* role_parse - a JMAP role of ours; -1 when we have no such role */
static int
role_parse(const char *s, enum mail_role *r)
{
	static const enum mail_role all[] = { MAIL_ROLE_INBOX, MAIL_ROLE_SENT,
	    MAIL_ROLE_DRAFTS, MAIL_ROLE_TRASH, MAIL_ROLE_JUNK,
	    MAIL_ROLE_ARCHIVE };

	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		if (strcmp(s, mail_role_name(all[i])) == 0) {
			*r = all[i];
			return 0;
		}
	return -1;
}

static json_t *
mailbox_json(const struct mail_mailbox *mb)
{
	json_t *o = json_object(), *r = json_object();
	char id[JMAP_ID_MAX];
	bool inbox = mb->role == MAIL_ROLE_INBOX;

	jmap_id_make('M', mb->id, id);
	json_object_set_new(o, "id", json_string(id));
	json_object_set_new(o, "name", json_string(mb->name));
	if (mb->parent != 0) {
		jmap_id_make('M', mb->parent, id);
		json_object_set_new(o, "parentId", json_string(id));
	} else {
		json_object_set_new(o, "parentId", json_null());
	}
	json_object_set_new(o, "role", mb->role == MAIL_ROLE_NONE ?
	    json_null() : json_string(mail_role_name(mb->role)));
	json_object_set_new(o, "sortOrder", json_integer(mb->sort_order));
	json_object_set_new(o, "totalEmails", json_integer(mb->total));
	json_object_set_new(o, "unreadEmails", json_integer(mb->unread));
	json_object_set_new(o, "totalThreads", json_integer(mb->threads));
	json_object_set_new(o, "unreadThreads",
	    json_integer(mb->unread_threads));
	for (size_t i = 0; rights[i] != NULL; i++)
		json_object_set_new(r, rights[i], json_boolean(!inbox ||
		    (strcmp(rights[i], "mayRename") != 0 &&
		    strcmp(rights[i], "mayDelete") != 0)));
	json_object_set_new(o, "myRights", r);
	json_object_set_new(o, "isSubscribed", json_boolean(mb->subscribed));
	return o;
}

/* ---- a snapshot of the account's mailboxes ---- */

struct mbox_list {
	struct mail_mailbox *v;	/* owned, id order */
	size_t n, cap;
};

static int
collect(void *arg, const struct mail_mailbox *mb)
{
	struct mbox_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n] = *mb;
	l->v[l->n].name = xstrdup(mb->name);
	l->n++;
	return 0;
}

static void
list_free(struct mbox_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		mail_mailbox_clear(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
list_load(struct jmap_call *c, struct mbox_list *l, struct buf *err)
{
	memset(l, 0, sizeof(*l));
	if (mail_mailbox_list(c->ctx->env->st->mail, c->acct, collect, l,
	    err) < 0) {
		list_free(l);
		return -1;
	}
	return 0;
}

static const struct mail_mailbox *
list_find(const struct mbox_list *l, uint32_t id)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].id == id)
			return &l->v[i];
	return NULL;
}

/* ---- get, list ---- */

static int
mbox_get(struct jmap_call *c, uint32_t id, const json_t *want, json_t **obj_r,
    struct buf *err)
{
	struct mail_mailbox mb;
	int r;

	(void)want;	/* every property is in the one record */
	r = mail_mailbox_get(c->ctx->env->st->mail, c->acct, id, &mb, err);
	if (r == 1) {
		*obj_r = mailbox_json(&mb);
		mail_mailbox_clear(&mb);
	}
	return r;
}

static int
mbox_ids(struct jmap_call *c, uint32_t **ids_r, size_t *n_r, struct buf *err)
{
	struct mbox_list l;

	if (list_load(c, &l, err) < 0)
		return -1;
	*ids_r = xcalloc(l.n + 1, sizeof(**ids_r));
	for (size_t i = 0; i < l.n; i++)
		(*ids_r)[i] = l.v[i].id;
	*n_r = l.n;
	list_free(&l);
	return 0;
}

/* ---- /set ---- */

/* name_error - why name cannot be a mailbox name under parent, or NULL */
static const char *
name_error(uint32_t parent, const char *name)
{
	size_t n = strlen(name);

	if (n == 0)
		return "the name is empty";
	if (n > MAIL_NAME_MAX)
		return "the name is longer than 255 octets";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch < 0x20 || ch == 0x7f)
			return "the name holds a control character";
		if (ch == '/')
			return "the name holds \"/\", the IMAP hierarchy "
			    "separator";
	}
	if (parent == 0 && strcasecmp(name, "INBOX") == 0)
		return "\"INBOX\" is taken";
	return NULL;
}

/* what a create or an update asks for, checked */
struct mbox_edit {
	uint32_t acct, id;
	uint32_t parent;
	const char *name;
	bool set_name;		/* name or parent changed (update) */
	enum mail_role role;
	bool set_role;
	bool subscribed;
	bool set_subscribed;
	uint32_t sort_order;
	bool set_sort;
	int found;
};

/* role_taken - another mailbox than self holds role */
static bool
role_taken(const struct mbox_list *l, enum mail_role role, uint32_t self)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].role == role && l->v[i].id != self)
			return true;
	return false;
}

/*
 * check_props - the client's values of obj into e (those present only,
 * unless create, which needs a name); NULL, or a SetError
 */
static json_t *
check_props(struct jmap_call *c, const struct mbox_list *l, json_t *obj,
    const struct mail_mailbox *old, struct mbox_edit *e)
{
	json_t *v;
	const char *why;

	if ((v = json_object_get(obj, "name")) != NULL) {
		if (!json_is_string(v))
			return jmap_set_error_props("name", "must be a String");
		e->name = json_string_value(v);
	} else if (old == NULL) {
		return jmap_set_error_props("name", "a name is required");
	}
	if ((v = json_object_get(obj, "parentId")) != NULL) {
		if (json_is_null(v))
			e->parent = 0;
		else if (!json_is_string(v) || jmap_id_resolve(c, 'M',
		    json_string_value(v), &e->parent) < 0 ||
		    list_find(l, e->parent) == NULL)
			return jmap_set_error_props("parentId", "no such "
			    "mailbox");
	}
	if (old != NULL)
		e->set_name = e->parent != old->parent ||
		    strcmp(e->name, old->name) != 0;
	if ((old == NULL || e->set_name) &&
	    (why = name_error(e->parent, e->name)) != NULL)
		return jmap_set_error_props("name", "%s", why);
	if ((v = json_object_get(obj, "role")) != NULL) {
		enum mail_role r = MAIL_ROLE_NONE;

		if (!json_is_null(v) && (!json_is_string(v) ||
		    role_parse(json_string_value(v), &r) < 0))
			return jmap_set_error_props("role", "not a role this "
			    "server supports");
		if (old == NULL || r != old->role) {
			if (r == MAIL_ROLE_INBOX || (old != NULL &&
			    old->role == MAIL_ROLE_INBOX))
				return jmap_set_error_props("role", "the inbox "
				    "role stays with INBOX");
			if (r != MAIL_ROLE_NONE && role_taken(l, r,
			    old != NULL ? old->id : 0))
				return jmap_set_error_props("role", "another "
				    "mailbox has that role");
			e->role = r;
			e->set_role = old != NULL;
		}
	}
	if ((v = json_object_get(obj, "sortOrder")) != NULL) {
		if (!jmap_value_is_uint(v) || json_integer_value(v) > UINT32_MAX)
			return jmap_set_error_props("sortOrder", "must be an "
			    "UnsignedInt below 2^32");
		e->sort_order = (uint32_t)json_integer_value(v);
		e->set_sort = true;
	}
	if ((v = json_object_get(obj, "isSubscribed")) != NULL) {
		if (!json_is_boolean(v))
			return jmap_set_error_props("isSubscribed", "must be a "
			    "Boolean");
		e->subscribed = json_is_true(v);
		e->set_subscribed = true;
	}
	return NULL;
}

static int
create_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct mbox_edit *e = arg;
	int r;

	if (mail_mailbox_create_txn(t, e->acct, e->parent, e->name, e->role,
	    &e->id, err) < 0)
		return -1;
	if (e->set_subscribed || e->set_sort) {
		r = mail_mailbox_update_txn(t, e->acct, e->id,
		    e->set_subscribed ? &e->subscribed : NULL,
		    e->set_sort ? &e->sort_order : NULL, err);
		if (r <= 0)
			return r < 0 ? r : -1;
	}
	return 0;
}

static int
mbox_create(struct jmap_call *c, json_t *obj, uint32_t *id_r,
    json_t **created_r, json_t **seterr_r, struct buf *err)
{
	struct mbox_list l;
	struct mbox_edit e;
	struct mail_mailbox mb;
	const char *k;
	json_t *v;
	uint32_t dup;
	int r;

	json_object_foreach(obj, k, v) {
		if (!jmap_in_list(mailbox_props, k) || jmap_in_list(server_set, k)) {
			*seterr_r = jmap_set_error_props(k, "%s",
			    jmap_in_list(mailbox_props, k) ? "set by the server" :
			    "unknown property");
			return 0;
		}
	}
	if (list_load(c, &l, err) < 0)
		return -1;
	memset(&e, 0, sizeof(e));
	e.acct = c->acct;
	*seterr_r = check_props(c, &l, obj, NULL, &e);
	list_free(&l);
	if (*seterr_r != NULL)
		return 0;
	r = mail_mailbox_find(c->ctx->env->st->mail, c->acct, e.parent,
	    e.name, &dup, err);
	if (r != 0) {
		if (r == 1)
			*seterr_r = jmap_set_error_props("name", "a mailbox of "
			    "that name exists there");
		return r < 0 ? -1 : 0;
	}
	if (kv_run(c->ctx->env->st->kv, KV_WRITE, create_txn, &e, err) < 0)
		return -1;
	*id_r = e.id;
	/* the server-set properties, as they are now */
	if (mail_mailbox_get(c->ctx->env->st->mail, c->acct, e.id, &mb,
	    err) == 1) {
		json_t *full = mailbox_json(&mb), *out = json_object();

		for (size_t i = 1; server_set[i] != NULL; i++)
			json_object_set(out, server_set[i],
			    json_object_get(full, server_set[i]));
		json_decref(full);
		mail_mailbox_clear(&mb);
		*created_r = out;
	}
	return 1;
}

static int
update_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct mbox_edit *e = arg;
	struct mail_mailbox mb;
	int r;

	e->found = 1;
	if (e->set_name) {
		r = mail_mailbox_rename_txn(t, e->acct, e->id, e->parent,
		    e->name, err);
		if (r <= 0)
			return (e->found = r) < 0 ? r : 0;
	}
	if (e->set_role) {
		r = mail_mailbox_get_txn(t, e->acct, e->id, &mb, err);
		if (r <= 0)
			return (e->found = r) < 0 ? r : 0;
		mb.role = e->role;
		r = mail_mailbox_put_txn(t, e->acct, &mb, err);
		mail_mailbox_clear(&mb);
		if (r < 0 || (r = mail_log_append_txn(t, e->acct,
		    MAIL_LOG_MAILBOX, MAIL_LOG_UPDATED, e->id, NULL, err)) < 0)
			return r;
	}
	if (e->set_subscribed || e->set_sort) {
		r = mail_mailbox_update_txn(t, e->acct, e->id,
		    e->set_subscribed ? &e->subscribed : NULL,
		    e->set_sort ? &e->sort_order : NULL, err);
		if (r <= 0)
			return (e->found = r) < 0 ? r : 0;
	}
	return 0;
}

/* is_below - mailbox id is anc or under it */
static bool
is_below(const struct mbox_list *l, uint32_t id, uint32_t anc)
{
	for (unsigned depth = 0; id != 0 && depth <= MAIL_DEPTH_MAX; depth++) {
		const struct mail_mailbox *mb;

		if (id == anc)
			return true;
		if ((mb = list_find(l, id)) == NULL)
			return false;
		id = mb->parent;
	}
	return false;
}

static int
mbox_update(struct jmap_call *c, uint32_t id, json_t *old_obj,
    json_t *new_obj, json_t **updated_r, json_t **seterr_r, struct buf *err)
{
	struct mbox_list l;
	struct mbox_edit e;
	const struct mail_mailbox *old;
	uint32_t dup;
	int r;

	(void)updated_r;
	for (size_t i = 0; server_set[i] != NULL; i++)
		if (!json_equal(json_object_get(old_obj, server_set[i]),
		    json_object_get(new_obj, server_set[i]))) {
			*seterr_r = jmap_set_error_props(server_set[i], "set "
			    "by the server");
			return 0;
		}
	if (list_load(c, &l, err) < 0)
		return -1;
	if ((old = list_find(&l, id)) == NULL) {
		list_free(&l);
		*seterr_r = jmap_set_error("notFound", "no such mailbox");
		return 0;
	}
	memset(&e, 0, sizeof(e));
	e.acct = c->acct;
	e.id = id;
	e.parent = old->parent;
	*seterr_r = check_props(c, &l, new_obj, old, &e);
	if (*seterr_r == NULL && e.set_name) {
		if (old->role == MAIL_ROLE_INBOX)
			*seterr_r = jmap_set_error("forbidden", "INBOX cannot "
			    "be renamed or moved");
		else if (e.parent != 0 && is_below(&l, e.parent, id))
			*seterr_r = jmap_set_error_props("parentId", "a "
			    "mailbox cannot move under itself");
	}
	list_free(&l);
	if (*seterr_r != NULL)
		return 0;
	if (e.set_name) {
		r = mail_mailbox_find(c->ctx->env->st->mail, c->acct, e.parent,
		    e.name, &dup, err);
		if (r < 0)
			return -1;
		if (r == 1 && dup != id) {
			*seterr_r = jmap_set_error_props("name", "a mailbox of "
			    "that name exists there");
			return 0;
		}
	}
	if (kv_run(c->ctx->env->st->kv, KV_WRITE, update_txn, &e, err) < 0)
		return -1;
	if (e.found == 0) {
		*seterr_r = jmap_set_error("notFound", "no such mailbox");
		return 0;
	}
	return 1;
}

struct destroy_op {
	uint32_t acct, id;
	bool remove_emails;
	struct store_reap *rp;
	int found;
};

static int
destroy_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct destroy_op *op = arg;

	store_reap_attempt(op->rp);
	op->found = mail_mailbox_delete_txn(t, op->acct, op->id,
	    op->remove_emails, store_removed_txn, op->rp, err);
	return op->found < 0 ? -1 : 0;
}

static int
mbox_destroy(struct jmap_call *c, uint32_t id, json_t **seterr_r,
    struct buf *err)
{
	struct store *st = c->ctx->env->st;
	struct mbox_list l;
	const struct mail_mailbox *mb;
	struct store_reap rp;
	struct destroy_op op;
	bool remove = json_is_true(jmap_arg_get(c, "onDestroyRemoveEmails"));
	int r;

	if (list_load(c, &l, err) < 0)
		return -1;
	if ((mb = list_find(&l, id)) == NULL)
		*seterr_r = jmap_set_error("notFound", "no such mailbox");
	else if (mb->role == MAIL_ROLE_INBOX)
		*seterr_r = jmap_set_error("forbidden", "INBOX cannot be "
		    "destroyed");
	else if (mb->total > 0 && !remove)
		*seterr_r = jmap_set_error("mailboxHasEmail", "the mailbox "
		    "holds %u emails", mb->total);
	for (size_t i = 0; *seterr_r == NULL && i < l.n; i++)
		if (l.v[i].parent == id)
			*seterr_r = jmap_set_error("mailboxHasChild", "the "
			    "mailbox has child mailboxes");
	list_free(&l);
	if (*seterr_r != NULL)
		return 0;
	store_reap_init(&rp, st, c->acct);
	op = (struct destroy_op){ c->acct, id, remove, &rp, 0 };
	r = kv_run(st->kv, KV_WRITE, destroy_txn, &op, err);
	store_reap_finish(&rp, r == 0);
	if (r < 0)
		return -1;
	if (op.found == 0) {
		*seterr_r = jmap_set_error("notFound", "no such mailbox");
		return 0;
	}
	return 1;
}

/* ---- /query ---- */

static const char *
cond_check(json_t *cond)
{
	const char *k;
	json_t *v;

	json_object_foreach(cond, k, v) {
		if (strcmp(k, "parentId") == 0) {
			if (!json_is_null(v) && !json_is_string(v))
				return "parentId must be an Id or null";
		} else if (strcmp(k, "name") == 0) {
			if (!json_is_string(v))
				return "name must be a String";
		} else if (strcmp(k, "role") == 0) {
			if (!json_is_null(v) && !json_is_string(v))
				return "role must be a String or null";
		} else if (strcmp(k, "hasAnyRole") == 0 ||
		    strcmp(k, "isSubscribed") == 0) {
			if (!json_is_boolean(v))
				return "hasAnyRole and isSubscribed are "
				    "Booleans";
		} else {
			return "unknown filter property";
		}
	}
	return NULL;
}

struct qctx {
	struct jmap_call *c;
	const struct mail_mailbox *mb;
	json_t *sort;
};

/* contains_nocase - needle in hay, ASCII case-insensitively */
static bool
contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle), h = strlen(hay);

	for (size_t i = 0; i + n <= h; i++)
		if (ascii_strncasecmp(hay + i, needle, n) == 0)
			return true;
	return false;
}

static bool
cond_match(void *arg, json_t *cond)
{
	struct qctx *q = arg;
	const struct mail_mailbox *mb = q->mb;
	const char *k;
	json_t *v;

	json_object_foreach(cond, k, v) {
		if (strcmp(k, "parentId") == 0) {
			uint32_t p = 0;

			if (!json_is_null(v) && jmap_id_resolve(q->c, 'M',
			    json_string_value(v), &p) < 0)
				return false;
			if (mb->parent != p)
				return false;
		} else if (strcmp(k, "name") == 0) {
			if (!contains_nocase(mb->name, json_string_value(v)))
				return false;
		} else if (strcmp(k, "role") == 0) {
			if (json_is_null(v) ? mb->role != MAIL_ROLE_NONE :
			    mb->role == MAIL_ROLE_NONE || strcmp(
			    mail_role_name(mb->role), json_string_value(v)) != 0)
				return false;
		} else if (strcmp(k, "hasAnyRole") == 0) {
			if ((mb->role != MAIL_ROLE_NONE) != json_is_true(v))
				return false;
		} else if (strcmp(k, "isSubscribed") == 0) {
			if (mb->subscribed != json_is_true(v))
				return false;
		}
	}
	return true;
}

static int
compare(const void *a, const void *b, void *arg)
{
	const struct mail_mailbox *x = *(const struct mail_mailbox *const *)a;
	const struct mail_mailbox *y = *(const struct mail_mailbox *const *)b;
	json_t *sort = arg, *cmp;
	size_t i;

	json_array_foreach(sort, i, cmp) {
		const char *p = json_string_value(json_object_get(cmp,
		    "property"));
		json_t *asc = json_object_get(cmp, "isAscending");
		json_t *col = json_object_get(cmp, "collation");
		int r;

		if (strcmp(p, "sortOrder") == 0)
			r = x->sort_order < y->sort_order ? -1 :
			    x->sort_order > y->sort_order;
		else if (col != NULL &&
		    strcmp(json_string_value(col), "i;octet") == 0)
			r = strcmp(x->name, y->name);
		else
			r = strcasecmp(x->name, y->name);
		if (r != 0)
			return asc == NULL || json_is_true(asc) ? r : -r;
	}
	return x->id < y->id ? -1 : x->id > y->id;
}

/* tree_walk - parent before its children, siblings in sort order */
static void
tree_walk(struct mail_mailbox **sorted, size_t n, uint32_t parent,
    const bool *in, uint32_t *out, size_t *nout, unsigned depth)
{
	if (depth > MAIL_DEPTH_MAX)
		return;
	for (size_t i = 0; i < n; i++) {
		if (sorted[i]->parent != parent)
			continue;
		if (in[i])
			out[(*nout)++] = sorted[i]->id;
		tree_walk(sorted, n, sorted[i]->id, in, out, nout, depth + 1);
	}
}

static const char *const sort_props[] = { "sortOrder", "name", NULL };

static int
mbox_query(struct jmap_call *c, json_t *filter, json_t *sort,
    uint32_t **ids_r, size_t *n_r, json_t **error_r, struct buf *err)
{
	bool as_tree = json_is_true(jmap_arg_get(c, "sortAsTree"));
	bool filter_tree = json_is_true(jmap_arg_get(c, "filterAsTree"));
	struct mbox_list l;
	struct mail_mailbox **sorted;
	struct qctx q = { c, NULL, sort };
	bool *in;
	size_t n = 0;

	if ((filter != NULL && jmap_filter_check(filter, cond_check,
	    error_r) < 0) ||
	    (sort != NULL && jmap_sort_check(sort, sort_props, error_r) < 0))
		return 0;
	if (list_load(c, &l, err) < 0)
		return -1;
	sorted = xcalloc(l.n + 1, sizeof(*sorted));
	in = xcalloc(l.n + 1, sizeof(*in));
	for (size_t i = 0; i < l.n; i++)
		sorted[i] = &l.v[i];
	if (sort != NULL)
		qsort_r(sorted, l.n, sizeof(*sorted), compare, sort);
	for (size_t i = 0; i < l.n; i++) {
		q.mb = sorted[i];
		in[i] = filter == NULL || jmap_filter_match(filter, cond_match,
		    &q);
	}
	if (filter_tree) {
		/* a mailbox whose ancestors do not all match is left out */
		for (size_t i = 0; i < l.n; i++) {
			uint32_t p = sorted[i]->parent;

			for (unsigned d = 0; in[i] && p != 0 &&
			    d <= MAIL_DEPTH_MAX; d++) {
				size_t k;

				for (k = 0; k < l.n && sorted[k]->id != p; k++)
					;
				if (k == l.n)
					break;
				q.mb = sorted[k];
				if (!jmap_filter_match(filter, cond_match, &q))
					in[i] = false;
				p = sorted[k]->parent;
			}
		}
	}
	*ids_r = xcalloc(l.n + 1, sizeof(**ids_r));
	if (as_tree) {
		tree_walk(sorted, l.n, 0, in, *ids_r, &n, 0);
	} else {
		for (size_t i = 0; i < l.n; i++)
			if (in[i])
				(*ids_r)[n++] = sorted[i]->id;
	}
	*n_r = n;
	free(sorted);
	free(in);
	list_free(&l);
	return 0;
}

/* ---- the type and its methods ---- */

static const struct jmap_arg set_extra[] = {
	{ "onDestroyRemoveEmails", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

static const struct jmap_arg query_extra[] = {
	{ "sortAsTree", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ "filterAsTree", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

const struct jmap_type jmap_mailbox_type = {
	.name = "Mailbox",
	.prefix = 'M',
	.log = MAIL_LOG_MAILBOX,
	.cap = JMAP_CAP_MAIL,
	.props = mailbox_props,
	.counts_props = counts_props,
	.get = mbox_get,
	.list = mbox_ids,
	.set_args = set_extra,
	.create = mbox_create,
	.update = mbox_update,
	.destroy = mbox_destroy,
	.query_args = query_extra,
	.query = mbox_query,
};

const struct jmap_method jmap_mailbox_methods[] = {
	JMAP_STD_METHOD("Mailbox/get", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    &jmap_mailbox_type, JMAP_STD_GET),
	JMAP_STD_METHOD("Mailbox/changes", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    &jmap_mailbox_type, JMAP_STD_CHANGES),
	JMAP_STD_METHOD("Mailbox/set", JMAP_CAP_MAIL,
	    JMAP_M_ACCOUNT | JMAP_M_WRITE, &jmap_mailbox_type, JMAP_STD_SET),
	JMAP_STD_METHOD("Mailbox/query", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    &jmap_mailbox_type, JMAP_STD_QUERY),
	JMAP_STD_METHOD("Mailbox/queryChanges", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    &jmap_mailbox_type, JMAP_STD_QUERY_CHANGES),
	{ NULL, 0, 0, NULL, NULL, 0 },
};
