/*
 * mail_mailbox.c - mailboxes (see mail.h): records, names unique per
 * parent, roles, UIDVALIDITY, the default set created on first delivery
 * or login, rename/move without cycles, delete, subscription and sort
 * order.  The counts in the record are kept by mail_member.c and
 * mail_flags.c.
 *
 * Keys (store/LAYOUT.md, and mail.c for the rest of the model):
 *   'M' acct mbox               -> mailbox record (MB_* fields)
 *   'm' acct parent name 0x00   -> mbox (u32)
 *   'C' acct "mailbox" 0x00     -> last mailbox id (kv_add)
 *   'C' acct "uidvalidity" 0x00 -> last UIDVALIDITY handed out
 *
 * A create or rename checks the name index and writes the record, the
 * index and a change record in one write transaction, so two concurrent
 * ones of one name cannot both succeed (kv.h: writes are serialisable);
 * the same holds for the cycle check of a move (two crossed moves cannot
 * both commit).  Children name their parent by id, so a rename or move
 * touches one record and one index key, never the subtree.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/xalloc.h"
#include "store/mail_priv.h"

enum {	/* mailbox record */
	MB_NAME = 1, MB_PARENT, MB_ROLE, MB_UIDVALIDITY, MB_UIDNEXT,
	MB_HIGHESTMODSEQ, MB_SUBSCRIBED, MB_SORT, MB_TOTAL, MB_UNSEEN,
	MB_UNREAD, MB_THREADS, MB_UNREAD_THREADS,
};

static void
key_mbox(struct buf *k, uint32_t acct, uint32_t mbox)
{
	mail_key_id(k, 'M', acct, mbox);
}

static void
key_mname(struct buf *k, uint32_t acct, uint32_t parent, const char *name)
{
	mail_key_id(k, 'm', acct, parent);
	key_str(k, name);
}

/* next_uidvalidity - now, or last + 1 when now is not greater */
static int
next_uidvalidity(struct kv_txn *t, uint32_t acct, uint32_t *uv_r,
    struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	uint64_t last = 0, now = (uint64_t)time(NULL), uv;
	int r;

	mail_key_counter(&k, acct, "uidvalidity");
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && v.len == 8)
		last = get_u64(v.data);
	else if (r == 1) {
		buf_addf(err, "account %u: malformed uidvalidity counter",
		    acct);
		r = -1;
	}
	if (r >= 0) {
		uv = now > last ? now : last + 1;
		if (uv == 0 || uv > UINT32_MAX) {
			buf_addf(err, "account %u: UIDVALIDITY exhausted",
			    acct);
			r = -1;
		} else {
			buf_reset(&v);
			key_u64(&v, uv);
			r = kv_put(t, k.data, k.len, v.data, v.len, err);
			*uv_r = (uint32_t)uv;
		}
	}
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

/* ---- mailbox records ---- */

static void
mailbox_encode(const struct mail_mailbox *mb, struct buf *v)
{
	buf_reset(v);
	rec_put_str(v, MB_NAME, mb->name);
	rec_put_u64(v, MB_PARENT, mb->parent);
	rec_put_u64(v, MB_ROLE, (uint64_t)mb->role);
	rec_put_u64(v, MB_UIDVALIDITY, mb->uidvalidity);
	rec_put_u64(v, MB_UIDNEXT, mb->uidnext);
	rec_put_u64(v, MB_HIGHESTMODSEQ, mb->highestmodseq);
	rec_put_u64(v, MB_SUBSCRIBED, mb->subscribed ? 1 : 0);
	rec_put_u64(v, MB_SORT, mb->sort_order);
	rec_put_u64(v, MB_TOTAL, mb->total);
	rec_put_u64(v, MB_UNSEEN, mb->unseen);
	rec_put_u64(v, MB_UNREAD, mb->unread);
	rec_put_u64(v, MB_THREADS, mb->threads);
	rec_put_u64(v, MB_UNREAD_THREADS, mb->unread_threads);
}

static int
mailbox_decode(uint32_t id, const void *p, size_t len,
    struct mail_mailbox *mb, struct buf *err)
{
	struct rec_reader rr;
	const unsigned char *d;
	size_t n;
	uint8_t tag;
	uint64_t u;
	int r;

	memset(mb, 0, sizeof(*mb));
	mb->id = id;
	rec_reader_init(&rr, p, len);
	while ((r = rec_next(&rr, &tag, &d, &n)) == 1) {
		if (tag == MB_NAME) {
			if (memchr(d, '\0', n) != NULL)
				goto bad;
			free(mb->name);
			mb->name = xmemdup0(d, n);
			continue;
		}
		if (tag < MB_PARENT || tag > MB_UNREAD_THREADS)
			continue;	/* a field of a later version */
		if (!rec_u64(d, n, &u))
			goto bad;
		switch (tag) {
		case MB_PARENT:		mb->parent = (uint32_t)u; break;
		case MB_ROLE:		mb->role = (enum mail_role)u; break;
		case MB_UIDVALIDITY:	mb->uidvalidity = (uint32_t)u; break;
		case MB_UIDNEXT:	mb->uidnext = (uint32_t)u; break;
		case MB_HIGHESTMODSEQ:	mb->highestmodseq = u; break;
		case MB_SUBSCRIBED:	mb->subscribed = u != 0; break;
		case MB_SORT:		mb->sort_order = (uint32_t)u; break;
		case MB_TOTAL:		mb->total = (uint32_t)u; break;
		case MB_UNSEEN:		mb->unseen = (uint32_t)u; break;
		case MB_UNREAD:		mb->unread = (uint32_t)u; break;
		case MB_THREADS:	mb->threads = (uint32_t)u; break;
		case MB_UNREAD_THREADS:	mb->unread_threads = (uint32_t)u; break;
		default:		break;
		}
	}
	if (r == 0 && mb->name != NULL && mb->uidnext != 0)
		return 0;
bad:
	mail_mailbox_clear(mb);
	buf_addf(err, "mailbox %u: malformed record", id);
	return -1;
}

int
mail_mailbox_get_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    struct mail_mailbox *mb, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	memset(mb, 0, sizeof(*mb));
	key_mbox(&k, acct, mbox);
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && mailbox_decode(mbox, v.data, v.len, mb, err) < 0)
		r = -1;
	buf_free(&k);
	buf_free(&v);
	return r;
}

int
mail_mailbox_put_txn(struct kv_txn *t, uint32_t acct,
    const struct mail_mailbox *mb, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	key_mbox(&k, acct, mb->id);
	mailbox_encode(mb, &v);
	r = kv_put(t, k.data, k.len, v.data, v.len, err);
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* check_name - the rules of a name under parent (see mail.h) */
static int
check_name(uint32_t parent, const char *name, struct buf *err)
{
	size_t n = strlen(name);

	if (n == 0 || n > MAIL_NAME_MAX) {
		buf_addf(err, "mailbox name %s", n == 0 ? "empty" :
		    "too long");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c < 0x20 || c == 0x7f) {
			buf_addf(err, "mailbox name \"%.64s\": control "
			    "character", name);
			return -1;
		}
	}
	/* RFC 3501 5.1: INBOX is case-insensitive, its spelling is ours */
	if (parent == 0 && strcasecmp(name, "INBOX") == 0 &&
	    strcmp(name, "INBOX") != 0) {
		buf_addf(err, "mailbox \"%s\": reserved name (INBOX)", name);
		return -1;
	}
	return 0;
}

int
mail_mailbox_find_txn(struct kv_txn *t, uint32_t acct, uint32_t parent,
    const char *name, uint32_t *id_r, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	key_mname(&k, acct, parent, name);
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && v.len != 4) {
		buf_addf(err, "mailbox name \"%.64s\": malformed index", name);
		r = -1;
	}
	if (r == 1)
		*id_r = get_u32(v.data);
	buf_free(&k);
	buf_free(&v);
	return r;
}

int
mail_mailbox_create_txn(struct kv_txn *t, uint32_t acct, uint32_t parent,
    const char *name, enum mail_role role, uint32_t *id_r, struct buf *err)
{
	struct mail_mailbox mb;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	uint32_t id;
	int r;

	if (check_name(parent, name, err) < 0)
		return -1;
	if (parent != 0) {
		r = mail_mailbox_get_txn(t, acct, parent, &mb, err);
		mail_mailbox_clear(&mb);
		if (r == 0)
			buf_addf(err, "no parent mailbox %u", parent);
		if (r <= 0)
			return r < 0 ? r : -1;
	}
	r = mail_mailbox_find_txn(t, acct, parent, name, &id, err);
	if (r == 1)
		buf_addf(err, "mailbox \"%.64s\" already exists", name);
	if (r != 0)
		return r < 0 ? r : -1;
	memset(&mb, 0, sizeof(mb));
	mb.parent = parent;
	mb.name = (char *)name;	/* not freed: mb is not cleared */
	mb.role = role;
	mb.uidnext = 1;
	mb.subscribed = true;
	if ((r = mail_counter_next_txn(t, acct, "mailbox", &mb.id, err)) < 0 ||
	    (r = next_uidvalidity(t, acct, &mb.uidvalidity, err)) < 0 ||
	    (r = mail_mailbox_put_txn(t, acct, &mb, err)) < 0)
		return r;
	key_mname(&k, acct, parent, name);
	key_u32(&v, mb.id);
	r = kv_put(t, k.data, k.len, v.data, v.len, err);
	buf_free(&k);
	buf_free(&v);
	if (r == 0)
		r = mail_log_append_txn(t, acct, MAIL_LOG_MAILBOX,
		    MAIL_LOG_CREATED, mb.id, NULL, err);
	if (r == 0 && id_r != NULL)
		*id_r = mb.id;
	return r;
}

struct create_op {
	uint32_t acct, parent, id;
	const char *name;
	enum mail_role role;
};

static int
create_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct create_op *op = arg;

	return mail_mailbox_create_txn(t, op->acct, op->parent, op->name,
	    op->role, &op->id, err);
}

int
mail_mailbox_create(struct mail *m, uint32_t acct, uint32_t parent,
    const char *name, enum mail_role role, uint32_t *id_r, struct buf *err)
{
	struct create_op op = { acct, parent, 0, name, role };

	if (kv_run(mail_kv(m), KV_WRITE, create_txn, &op, err) < 0)
		return -1;
	if (id_r != NULL)
		*id_r = op.id;
	return 0;
}

struct get_op {
	uint32_t acct, mbox, parent, id;
	const char *name;
	struct mail_mailbox *mb;
	int found;
};

static int
get_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct get_op *op = arg;

	mail_mailbox_clear(op->mb);
	op->found = mail_mailbox_get_txn(t, op->acct, op->mbox, op->mb, err);
	return op->found < 0 ? op->found : 0;
}

int
mail_mailbox_get(struct mail *m, uint32_t acct, uint32_t mbox,
    struct mail_mailbox *mb, struct buf *err)
{
	struct get_op op = { acct, mbox, 0, 0, NULL, mb, 0 };

	memset(mb, 0, sizeof(*mb));
	if (kv_run(mail_kv(m), KV_READ, get_txn, &op, err) < 0)
		return -1;
	return op.found;
}

static int
find_op_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct get_op *op = arg;

	op->found = mail_mailbox_find_txn(t, op->acct, op->parent, op->name,
	    &op->id, err);
	return op->found < 0 ? op->found : 0;
}

int
mail_mailbox_find(struct mail *m, uint32_t acct, uint32_t parent,
    const char *name, uint32_t *id_r, struct buf *err)
{
	struct get_op op = { acct, 0, parent, 0, name, NULL, 0 };

	if (kv_run(mail_kv(m), KV_READ, find_op_txn, &op, err) < 0)
		return -1;
	if (op.found == 1)
		*id_r = op.id;
	return op.found;
}

struct list_op {
	uint32_t acct;
	mail_mailbox_fn *fn;
	void *arg;
};

static int
list_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct list_op *op = arg;
	struct buf prefix = BUF_INIT(0);
	unsigned char end[KV_KEY_MAX];
	size_t elen;
	struct kv_iter *it;
	struct mail_mailbox mb;
	const void *kp, *vp;
	size_t kl, vl;
	int r;

	mail_key_acct(&prefix, 'M', op->acct);
	elen = kv_prefix_end(prefix.data, prefix.len, end);
	r = kv_iter_new(t, prefix.data, prefix.len, elen > 0 ? end : NULL,
	    elen, false, &it, err);
	buf_free(&prefix);
	if (r < 0)
		return r;
	while ((r = kv_iter_next(it, &kp, &kl, &vp, &vl, err)) == 1) {
		if (kl != 9) {
			buf_addf(err, "malformed mailbox key");
			r = -1;
			break;
		}
		r = mailbox_decode(get_u32((const unsigned char *)kp + 5), vp,
		    vl, &mb, err);
		if (r < 0)
			break;
		r = op->fn(op->arg, &mb);
		mail_mailbox_clear(&mb);
		if (r < 0) {
			buf_addf(err, "callback failed");
			r = -1;
		}
		if (r != 0)
			break;
	}
	kv_iter_free(&it);
	return r < 0 ? r : 0;
}

int
mail_mailbox_list(struct mail *m, uint32_t acct, mail_mailbox_fn *fn,
    void *arg, struct buf *err)
{
	struct list_op op = { acct, fn, arg };

	return kv_run(mail_kv(m), KV_READ, list_txn, &op, err);
}

static const struct {
	const char *name;
	enum mail_role role;
} mail_defaults[] = {
	{ "INBOX", MAIL_ROLE_INBOX },
	{ "Sent", MAIL_ROLE_SENT },
	{ "Drafts", MAIL_ROLE_DRAFTS },
	{ "Trash", MAIL_ROLE_TRASH },
	{ "Junk", MAIL_ROLE_JUNK },
	{ "Archive", MAIL_ROLE_ARCHIVE },
};

int
mail_ensure_defaults_txn(struct kv_txn *t, uint32_t acct, struct buf *err)
{
	uint32_t id;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(mail_defaults); i++) {
		r = mail_mailbox_find_txn(t, acct, 0, mail_defaults[i].name,
		    &id, err);
		if (r == 0)
			r = mail_mailbox_create_txn(t, acct, 0,
			    mail_defaults[i].name, mail_defaults[i].role,
			    NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int
defaults_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	return mail_ensure_defaults_txn(t, *(uint32_t *)arg, err);
}

int
mail_ensure_defaults(struct mail *m, uint32_t acct, struct buf *err)
{
	return kv_run(mail_kv(m), KV_WRITE, defaults_txn, &acct, err);
}

/* ---- rename, delete, update ---- */

int
mail_mailbox_rename_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t new_parent, const char *new_name, struct buf *err)
{
	struct mail_mailbox mb, p;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	uint32_t cur, id;
	int r;

	if (check_name(new_parent, new_name, err) < 0)
		return -1;
	if ((r = mail_mailbox_get_txn(t, acct, mbox, &mb, err)) <= 0)
		return r;
	r = -1;
	if (mb.role == MAIL_ROLE_INBOX) {
		buf_addf(err, "mailbox %u: INBOX cannot be renamed or moved",
		    mbox);
		goto out;
	}
	/* no cycles: mbox must not be the new parent or above it */
	cur = new_parent;
	for (unsigned depth = 0; cur != 0; depth++) {
		if (cur == mbox) {
			buf_addf(err, "mailbox %u: cannot move under itself",
			    mbox);
			goto out;
		}
		if (depth == MAIL_DEPTH_MAX) {
			buf_addf(err, "mailbox %u: more than %u levels", mbox,
			    MAIL_DEPTH_MAX);
			goto out;
		}
		if ((r = mail_mailbox_get_txn(t, acct, cur, &p, err)) <= 0) {
			if (r == 0)
				buf_addf(err, "no parent mailbox %u", cur);
			r = r < 0 ? r : -1;
			goto out;
		}
		cur = p.parent;
		mail_mailbox_clear(&p);
		r = -1;
	}
	if (new_parent == mb.parent && strcmp(new_name, mb.name) == 0) {
		r = 1;
		goto out;
	}
	if ((r = mail_mailbox_find_txn(t, acct, new_parent, new_name, &id,
	    err)) != 0) {
		if (r == 1)
			buf_addf(err, "mailbox \"%.64s\" already exists",
			    new_name);
		r = r < 0 ? r : -1;
		goto out;
	}
	key_mname(&k, acct, mb.parent, mb.name);
	if ((r = kv_delete(t, k.data, k.len, err)) < 0)
		goto out;
	key_mname(&k, acct, new_parent, new_name);
	key_u32(&v, mbox);
	if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) < 0)
		goto out;
	mb.parent = new_parent;
	free(mb.name);
	mb.name = xstrdup(new_name);
	if ((r = mail_mailbox_put_txn(t, acct, &mb, err)) < 0 ||
	    (r = mail_log_append_txn(t, acct, MAIL_LOG_MAILBOX,
	    MAIL_LOG_UPDATED, mbox, NULL, err)) < 0)
		goto out;
	r = 1;
out:
	mail_mailbox_clear(&mb);
	buf_free(&k);
	buf_free(&v);
	return r;
}

static int
collect_uid(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	(void)v;
	(void)vl;
	if (kl != 13) {
		buf_addf(err, "malformed uid key");
		return -1;
	}
	buf_add(arg, k + 9, 4);
	return 0;
}

int
mail_mailbox_delete_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    bool remove_emails, mail_removed_fn *fn, void *arg, struct buf *err)
{
	/* 'N': its annotations (mail_meta.c) */
	static const uint8_t spaces[] = { 'U', 'S', 'X', 'H', 'N' };
	struct mail_mailbox mb;
	struct mail_removed rm;
	struct buf k = BUF_INIT(0), uids = BUF_INIT(0);
	int r;

	if ((r = mail_mailbox_get_txn(t, acct, mbox, &mb, err)) <= 0)
		return r;
	r = -1;
	if (mb.role == MAIL_ROLE_INBOX) {
		buf_addf(err, "mailbox %u: INBOX cannot be deleted", mbox);
		goto out;
	}
	mail_key_id(&k, 'm', acct, mbox);
	if ((r = mail_first_key(t, &k, NULL, err)) != 0) {
		if (r == 1)
			buf_addf(err, "mailbox %u has child mailboxes", mbox);
		r = r < 0 ? r : -1;
		goto out;
	}
	mail_key_id(&k, 'U', acct, mbox);
	if ((r = kv_scan_txn(t, k.data, k.len, k.data, k.len, collect_uid,
	    &uids, err)) < 0)
		goto out;
	if (uids.len > 0 && !remove_emails) {
		buf_addf(err, "mailbox %u is not empty", mbox);
		r = -1;
		goto out;
	}
	for (size_t i = 0; i < uids.len; i += 4) {
		if ((r = mail_msg_expunge_txn(t, acct, mbox,
		    get_u32(uids.data + i), &rm, err)) < 0)
			goto out;
		if (r == 1 && rm.destroyed && fn != NULL &&
		    (r = fn(arg, t, &rm, err)) < 0)
			goto out;
	}
	for (size_t i = 0; i < ARRAY_SIZE(spaces); i++) {
		mail_key_id(&k, spaces[i], acct, mbox);
		if ((r = mail_delete_prefix(t, &k, err)) < 0)
			goto out;
	}
	key_mbox(&k, acct, mbox);
	if ((r = kv_delete(t, k.data, k.len, err)) < 0)
		goto out;
	key_mname(&k, acct, mb.parent, mb.name);
	if ((r = kv_delete(t, k.data, k.len, err)) < 0 ||
	    (r = mail_log_append_txn(t, acct, MAIL_LOG_MAILBOX,
	    MAIL_LOG_DESTROYED, mbox, NULL, err)) < 0)
		goto out;
	r = 1;
out:
	mail_mailbox_clear(&mb);
	buf_free(&k);
	buf_free(&uids);
	return r;
}

int
mail_mailbox_update_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const bool *subscribed, const uint32_t *sort_order, struct buf *err)
{
	struct mail_mailbox mb;
	bool changed = false;
	int r;

	if ((r = mail_mailbox_get_txn(t, acct, mbox, &mb, err)) <= 0)
		return r;
	if (subscribed != NULL && *subscribed != mb.subscribed) {
		mb.subscribed = *subscribed;
		changed = true;
	}
	if (sort_order != NULL && *sort_order != mb.sort_order) {
		mb.sort_order = *sort_order;
		changed = true;
	}
	if (changed &&
	    ((r = mail_mailbox_put_txn(t, acct, &mb, err)) < 0 ||
	    (r = mail_log_append_txn(t, acct, MAIL_LOG_MAILBOX,
	    MAIL_LOG_UPDATED, mbox, NULL, err)) < 0)) {
		mail_mailbox_clear(&mb);
		return r;
	}
	mail_mailbox_clear(&mb);
	return 1;
}

struct edit_op {
	enum { EDIT_RENAME, EDIT_DELETE, EDIT_UPDATE } what;
	uint32_t acct, mbox, parent;
	const char *name;
	const bool *subscribed;
	const uint32_t *sort_order;
	int found;
};

static int
edit_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct edit_op *op = arg;

	switch (op->what) {
	case EDIT_RENAME:
		op->found = mail_mailbox_rename_txn(t, op->acct, op->mbox,
		    op->parent, op->name, err);
		break;
	case EDIT_DELETE:
		op->found = mail_mailbox_delete_txn(t, op->acct, op->mbox,
		    false, NULL, NULL, err);
		break;
	case EDIT_UPDATE:
		op->found = mail_mailbox_update_txn(t, op->acct, op->mbox,
		    op->subscribed, op->sort_order, err);
		break;
	}
	return op->found < 0 ? op->found : 0;
}

static int
edit_run(struct mail *m, struct edit_op *op, struct buf *err)
{
	if (kv_run(mail_kv(m), KV_WRITE, edit_txn, op, err) < 0)
		return -1;
	return op->found;
}

int
mail_mailbox_rename(struct mail *m, uint32_t acct, uint32_t mbox,
    uint32_t new_parent, const char *new_name, struct buf *err)
{
	struct edit_op op = { EDIT_RENAME, acct, mbox, new_parent, new_name,
	    NULL, NULL, 0 };

	return edit_run(m, &op, err);
}

int
mail_mailbox_delete(struct mail *m, uint32_t acct, uint32_t mbox,
    struct buf *err)
{
	struct edit_op op = { EDIT_DELETE, acct, mbox, 0, NULL, NULL, NULL,
	    0 };

	return edit_run(m, &op, err);
}

int
mail_mailbox_subscribe(struct mail *m, uint32_t acct, uint32_t mbox,
    bool subscribed, struct buf *err)
{
	struct edit_op op = { EDIT_UPDATE, acct, mbox, 0, NULL, &subscribed,
	    NULL, 0 };

	return edit_run(m, &op, err);
}

int
mail_mailbox_set_sort_order(struct mail *m, uint32_t acct, uint32_t mbox,
    uint32_t sort_order, struct buf *err)
{
	struct edit_op op = { EDIT_UPDATE, acct, mbox, 0, NULL, NULL,
	    &sort_order, 0 };

	return edit_run(m, &op, err);
}
