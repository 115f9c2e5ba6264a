/*
 * jmap_email_set.c - the Email methods that write or read a message that
 * is not (yet) an email: Email/set's create, update and destroy (RFC
 * 8621 4.6, through jmap_std_set), Email/import (4.8), Email/parse
 * (4.9) and Email/copy (4.7).
 *
 * Filing is delivery's path (store.h): store_msg_prepare, then in one
 * write transaction store_msg_add_txn into the first mailbox and
 * mail_email_copy_txn into the others, so the email has one id, one
 * blob reference and one set of FTS postings however many mailboxes
 * hold it.  The account's quota (directory) applies: overQuota.
 *
 * Email/set update changes keywords and mailboxIds only (the others are
 * immutable: invalidProperties).  Both go in one transaction; a
 * mailboxIds change adds the new memberships before it removes the old
 * ones, so the email is never destroyed by it (mailboxIds must keep one
 * mailbox).  After the commit, an email that entered a Junk-role
 * mailbox trains the classifier as spam, one that left Junk for a
 * mailbox other than Trash as ham: the hook IMAP MOVE calls
 * (store_set_junk_hook, store_msg_move's rule).
 *
 * Email/set create takes mailboxIds, keywords, receivedAt and either a
 * "blobId" naming a whole message (an upload or an email's "R" blob: an
 * extension, the RFC's create has no blobId) or the structured
 * properties a message is built from (jmap_email_build.c).
 *
 * Email/copy: RFC 8620 5.4 says fromAccountId MUST differ from
 * accountId, and an account sees only itself here, so every call is
 * invalidArguments (same account) or fromAccountNotFound.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"
#include "store/mime.h"

#define MBOX_MAX 256u		/* mailboxIds of one email */

/* ---- what create, import and update parse ---- */

struct email_in {
	uint32_t mboxes[MBOX_MAX];
	size_t nmbox;
	uint32_t flags;
	const char **kws;		/* borrowed from the JSON */
	size_t nkws;
	int64_t received_at;
};

static void
email_in_clear(struct email_in *in)
{
	free(in->kws);
	in->kws = NULL;
	in->nkws = 0;
}

/* parse_mailboxes - 0, or -1 with *seterr_r */
static int
parse_mailboxes(struct jmap_call *c, json_t *v, struct email_in *in,
    json_t **seterr_r, struct buf *err)
{
	const char *k;
	json_t *x;

	in->nmbox = 0;
	if (!json_is_object(v) || json_object_size(v) == 0) {
		*seterr_r = jmap_set_error_props("mailboxIds", "at least one "
		    "mailbox is required");
		return -1;
	}
	if (json_object_size(v) > MBOX_MAX) {
		*seterr_r = jmap_set_error("tooManyMailboxes", "at most %u "
		    "mailboxes", MBOX_MAX);
		return -1;
	}
	json_object_foreach(v, k, x) {
		struct mail_mailbox mb;
		uint32_t id;
		int r;

		if (!json_is_true(x) || jmap_id_resolve(c, 'M', k, &id) < 0) {
			*seterr_r = jmap_set_error_props("mailboxIds", "bad "
			    "mailbox id \"%.64s\"", k);
			return -1;
		}
		memset(&mb, 0, sizeof(mb));
		r = mail_mailbox_get(c->ctx->env->st->mail, c->acct, id, &mb,
		    err);
		mail_mailbox_clear(&mb);
		if (r < 0)
			return -2;
		if (r == 0) {
			*seterr_r = jmap_set_error_props("mailboxIds", "no "
			    "mailbox \"%.64s\"", k);
			return -1;
		}
		in->mboxes[in->nmbox++] = id;
	}
	return 0;
}

static int
parse_keywords(json_t *v, struct email_in *in, json_t **seterr_r)
{
	const char *k;
	json_t *x;

	in->flags = 0;
	free(in->kws);
	in->kws = NULL;
	in->nkws = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		*seterr_r = jmap_set_error_props("keywords", "must be an "
		    "object");
		return -1;
	}
	in->kws = xcalloc(json_object_size(v) + 1, sizeof(*in->kws));
	json_object_foreach(v, k, x) {
		uint32_t f = mail_keyword_flag(k);

		if (!json_is_true(x) || (f == 0 && !mail_keyword_is_valid(k))) {
			*seterr_r = jmap_set_error_props("keywords", "bad "
			    "keyword \"%.64s\"", k);
			return -1;
		}
		if (f != 0)
			in->flags |= f;
		else
			in->kws[in->nkws++] = k;
	}
	if (in->nkws > MAIL_KEYWORDS_MAX) {
		*seterr_r = jmap_set_error_props("keywords", "more than %u "
		    "keywords", MAIL_KEYWORDS_MAX);
		return -1;
	}
	return 0;
}

static int
parse_received(json_t *v, struct email_in *in, json_t **seterr_r)
{
	in->received_at = (int64_t)time(NULL);
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v) || jmap_date_parse(json_string_value(v),
	    &in->received_at) < 0) {
		*seterr_r = jmap_set_error_props("receivedAt", "must be a "
		    "UTCDate");
		return -1;
	}
	return 0;
}

/* ---- filing ---- */

struct file_op {
	struct store *st;
	struct store_msg *m;
	struct store_add add;
	const struct email_in *in;
	struct mail_added added;
	bool over_quota;
};

static int
file_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct file_op *op = arg;
	struct fts_batch *b = fts_batch_new(op->st->fts, t);
	int r;

	op->over_quota = false;
	r = store_msg_add_txn(op->st, t, b, op->m, &op->add, &op->added, err);
	if (r == STORE_OVER_QUOTA) {
		op->over_quota = true;
		fts_batch_free(&b);
		return 0;
	}
	for (size_t i = 1; r == 0 && i < op->in->nmbox; i++) {
		struct mail_added a;
		int cr = mail_email_copy_txn(t, op->add.acct, op->added.email,
		    op->in->mboxes[i], &a, err);

		r = cr == 1 ? 0 : cr == 0 ? -1 : cr;
	}
	if (r == 0)
		r = fts_batch_flush(b, err);
	fts_batch_free(&b);
	return r;
}

static void
junk_hook(struct jmap_call *c, const void *msg, size_t len, bool spam)
{
	struct store *st = c->ctx->env->st;

	if (st->junk_fn != NULL)
		st->junk_fn(st->junk_arg, c->acct, msg, len, spam);
}

static int
role_of(struct jmap_call *c, uint32_t mbox, enum mail_role *role_r,
    struct buf *err)
{
	struct mail_mailbox mb;
	int r;

	memset(&mb, 0, sizeof(mb));
	r = mail_mailbox_get(c->ctx->env->st->mail, c->acct, mbox, &mb, err);
	*role_r = r == 1 ? mb.role : MAIL_ROLE_NONE;
	mail_mailbox_clear(&mb);
	return r < 0 ? -1 : 0;
}

/*
 * file_message - data as a new email: 1 with *obj_r ({id, blobId,
 * threadId, size}), 0 with *seterr_r, -1
 */
static int
file_message(struct jmap_call *c, const void *data, size_t len,
    const struct email_in *in, uint32_t *id_r, json_t **obj_r,
    json_t **seterr_r, struct buf *err)
{
	struct store *st = c->ctx->env->st;
	struct dir_account acct;
	struct store_msg m;
	struct file_op op;
	char id[JMAP_ID_MAX], th[JMAP_ID_MAX], blob[JMAP_BLOB_ID_MAX];
	int r;

	memset(&acct, 0, sizeof(acct));
	if (dir_user_get_id(c->ctx->env->dir, c->acct, &acct, err) < 0) {
		dir_account_clear(&acct);
		return -1;
	}
	memset(&op, 0, sizeof(op));
	op.st = st;
	op.m = &m;
	op.in = in;
	op.add.acct = c->acct;
	op.add.mbox = in->mboxes[0];
	op.add.flags = in->flags;
	op.add.keywords = in->kws;
	op.add.nkeywords = in->nkws;
	op.add.received_at = in->received_at;
	op.add.quota = acct.quota;
	dir_account_clear(&acct);
	if (store_msg_prepare(st, data, len, &m, err) < 0)
		return -1;
	r = kv_run(st->kv, KV_WRITE, file_txn, &op, err);
	store_msg_release(st, &m);
	if (r < 0)
		return -1;
	if (op.over_quota) {
		*seterr_r = jmap_set_error("overQuota", "the account is over "
		    "its quota");
		return 0;
	}
	for (size_t i = 0; i < in->nmbox; i++) {
		enum mail_role role;

		if (role_of(c, in->mboxes[i], &role, err) == 0 &&
		    role == MAIL_ROLE_JUNK) {
			junk_hook(c, data, len, true);
			break;
		}
	}
	jmap_id_make('M', op.added.email, id);
	jmap_id_make('T', op.added.thread, th);
	jmap_blob_id_email(op.added.email, blob);
	*id_r = op.added.email;
	*obj_r = json_pack("{s:s,s:s,s:s,s:I}", "id", id, "blobId", blob,
	    "threadId", th, "size", (json_int_t)m.size);
	return 1;
}

/* load_blob - the content of blob id s: 1, 0 unknown, -1 */
static int
load_blob(struct jmap_call *c, const char *s, struct buf *out,
    struct buf *err)
{
	struct blob_id id;
	uint64_t size;
	int r = jmap_blob_find(c->ctx->env, c->acct, s, &id, err);

	if (r <= 0)
		return r;
	r = blob_size(c->ctx->env->st->blobs, &id, &size, err);
	if (r == 1)
		r = blob_get(c->ctx->env->st->blobs, &id, 0, size, out, err);
	return r < 0 ? -1 : r;
}

/* ---- Email/set ---- */

int
jmap_email_create(struct jmap_call *c, json_t *obj, uint32_t *id_r,
    json_t **created_r, json_t **seterr_r, struct buf *err)
{
	struct email_in in;
	struct buf msg = BUF_INIT(0);
	json_t *blob = json_object_get(obj, "blobId");
	int r;

	memset(&in, 0, sizeof(in));
	r = parse_mailboxes(c, json_object_get(obj, "mailboxIds"), &in,
	    seterr_r, err);
	if (r == -2)
		return -1;
	if (r < 0 || parse_keywords(json_object_get(obj, "keywords"), &in,
	    seterr_r) < 0 || parse_received(json_object_get(obj,
	    "receivedAt"), &in, seterr_r) < 0) {
		email_in_clear(&in);
		return 0;
	}
	if (blob != NULL) {
		const char *k;
		json_t *v;

		json_object_foreach(obj, k, v) {
			if (strcmp(k, "blobId") != 0 &&
			    strcmp(k, "mailboxIds") != 0 &&
			    strcmp(k, "keywords") != 0 &&
			    strcmp(k, "receivedAt") != 0) {
				*seterr_r = jmap_set_error_props(k, "not with "
				    "blobId");
				email_in_clear(&in);
				return 0;
			}
		}
		r = json_is_string(blob) ? load_blob(c,
		    json_string_value(blob), &msg, err) : 0;
		if (r == 0)
			*seterr_r = jmap_set_error("blobNotFound", "no blob "
			    "%.64s", json_string_value(blob));
	} else {
		r = jmap_email_build(c, obj, &msg, seterr_r, err);
	}
	if (r == 1)
		r = file_message(c, msg.data, msg.len, &in, id_r, created_r,
		    seterr_r, err);
	buf_free(&msg);
	email_in_clear(&in);
	return r;
}

struct update_op {
	uint32_t acct, email;
	const struct mail_flag_change *fc;	/* NULL: keywords unchanged */
	const uint32_t *add, *del;
	size_t nadd, ndel;
	struct store_reap *rp;
	bool gone;
};

static int
update_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct update_op *op = arg;
	int r;

	store_reap_attempt(op->rp);
	op->gone = false;
	if (op->fc != NULL) {
		r = mail_email_update_flags_txn(t, op->acct, op->email, op->fc,
		    NULL, err);
		if (r <= 0) {
			op->gone = r == 0;
			return r;
		}
	}
	for (size_t i = 0; i < op->nadd; i++) {
		struct mail_added a;

		r = mail_email_copy_txn(t, op->acct, op->email, op->add[i], &a,
		    err);
		if (r <= 0) {
			op->gone = r == 0;
			return r;
		}
	}
	for (size_t i = 0; i < op->ndel; i++) {
		struct mail_removed rm;

		memset(&rm, 0, sizeof(rm));
		r = mail_email_remove_txn(t, op->acct, op->email, op->del[i],
		    &rm, err);
		if (r < 0)
			return r;
		if (r == 1 && rm.destroyed &&
		    (r = store_removed_txn(op->rp, t, &rm, err)) != 0)
			return r;
	}
	return 0;
}

static bool
has_role(struct jmap_call *c, const uint32_t *v, size_t n,
    enum mail_role want, struct buf *err)
{
	for (size_t i = 0; i < n; i++) {
		enum mail_role r;

		if (role_of(c, v[i], &r, err) == 0 && r == want)
			return true;
	}
	return false;
}

/* only_trash - every mailbox of v is Trash (or there is none) */
static bool
only_not_ham(struct jmap_call *c, const uint32_t *v, size_t n,
    struct buf *err)
{
	for (size_t i = 0; i < n; i++) {
		enum mail_role r;

		if (role_of(c, v[i], &r, err) == 0 && r != MAIL_ROLE_TRASH &&
		    r != MAIL_ROLE_JUNK)
			return false;
	}
	return true;
}

int
jmap_email_update(struct jmap_call *c, uint32_t id, json_t *old_obj,
    json_t *new_obj, json_t **updated_r, json_t **seterr_r, struct buf *err)
{
	struct store *st = c->ctx->env->st;
	struct email_in in;
	struct mail_email em;
	struct mail_flag_change fc;
	struct store_reap rp;
	struct update_op op;
	uint32_t add[MBOX_MAX], del[MBOX_MAX], oldm[MBOX_MAX];
	size_t nold = 0;
	const char *k;
	json_t *v;
	bool kw_changed, mb_changed, was_junk, is_junk;
	int r;

	(void)updated_r;
	json_object_foreach(new_obj, k, v) {
		if (strcmp(k, "keywords") == 0 || strcmp(k, "mailboxIds") == 0)
			continue;
		if (!json_equal(v, json_object_get(old_obj, k))) {
			*seterr_r = jmap_set_error_props(k, "cannot be "
			    "changed");
			return 0;
		}
	}
	memset(&in, 0, sizeof(in));
	memset(&op, 0, sizeof(op));
	kw_changed = !json_equal(json_object_get(old_obj, "keywords"),
	    json_object_get(new_obj, "keywords"));
	mb_changed = !json_equal(json_object_get(old_obj, "mailboxIds"),
	    json_object_get(new_obj, "mailboxIds"));
	if (!kw_changed && !mb_changed)
		return 1;
	if (kw_changed && parse_keywords(json_object_get(new_obj, "keywords"),
	    &in, seterr_r) < 0) {
		email_in_clear(&in);
		return 0;
	}
	memset(&em, 0, sizeof(em));
	r = mail_email_get(st->mail, c->acct, id, &em, err);
	if (r <= 0) {
		email_in_clear(&in);
		if (r == 0)
			*seterr_r = jmap_set_error("notFound", "no such Email");
		return r;
	}
	for (size_t i = 0; i < em.nmembers && i < MBOX_MAX; i++)
		oldm[nold++] = em.members[i].mbox;
	if (mb_changed) {
		r = parse_mailboxes(c, json_object_get(new_obj, "mailboxIds"),
		    &in, seterr_r, err);
		if (r < 0) {
			mail_email_clear(&em);
			email_in_clear(&in);
			return r == -2 ? -1 : 0;
		}
		for (size_t i = 0; i < in.nmbox; i++) {
			bool there = false;

			for (size_t j = 0; j < nold; j++)
				there |= oldm[j] == in.mboxes[i];
			if (!there)
				add[op.nadd++] = in.mboxes[i];
		}
		for (size_t j = 0; j < nold; j++) {
			bool kept = false;

			for (size_t i = 0; i < in.nmbox; i++)
				kept |= oldm[j] == in.mboxes[i];
			if (!kept)
				del[op.ndel++] = oldm[j];
		}
	}
	if (kw_changed) {
		memset(&fc, 0, sizeof(fc));
		fc.replace = true;
		/* \Deleted has no keyword: a keywords change keeps it */
		fc.add = in.flags | (em.flags & MAIL_F_DELETED);
		fc.kw_add = in.kws;
		fc.nkw_add = in.nkws;
		op.fc = &fc;
	}
	op.acct = c->acct;
	op.email = id;
	op.add = add;
	op.del = del;
	store_reap_init(&rp, st, c->acct);
	op.rp = &rp;
	r = kv_run(st->kv, KV_WRITE, update_txn, &op, err);
	store_reap_finish(&rp, r == 0);
	if (r == 0 && op.gone) {
		*seterr_r = jmap_set_error("notFound", "no such Email");
		r = 0;
	} else if (r == 0) {
		r = 1;
	}
	was_junk = has_role(c, oldm, nold, MAIL_ROLE_JUNK, err);
	is_junk = mb_changed ? has_role(c, in.mboxes, in.nmbox, MAIL_ROLE_JUNK,
	    err) : was_junk;
	if (r == 1 && was_junk != is_junk && st->junk_fn != NULL &&
	    (is_junk || !only_not_ham(c, in.mboxes, in.nmbox, err))) {
		struct buf msg = BUF_INIT(0);

		if (blob_get(st->blobs, &em.blob, 0, em.size, &msg, err) == 1)
			junk_hook(c, msg.data, msg.len, is_junk);
		buf_free(&msg);
	}
	mail_email_clear(&em);
	email_in_clear(&in);
	return r;
}

struct destroy_op {
	uint32_t acct, email;
	struct store_reap *rp;
	int found;
};

static int
destroy_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct destroy_op *op = arg;
	struct mail_removed rm;
	int r;

	store_reap_attempt(op->rp);
	memset(&rm, 0, sizeof(rm));
	r = mail_email_destroy_txn(t, op->acct, op->email, &rm, err);
	op->found = r;
	if (r == 1 && rm.destroyed)
		return store_removed_txn(op->rp, t, &rm, err);
	return r < 0 ? r : 0;
}

int
jmap_email_destroy(struct jmap_call *c, uint32_t id, json_t **seterr_r,
    struct buf *err)
{
	struct store *st = c->ctx->env->st;
	struct store_reap rp;
	struct destroy_op op = { c->acct, id, &rp, 0 };
	int r;

	store_reap_init(&rp, st, c->acct);
	r = kv_run(st->kv, KV_WRITE, destroy_txn, &op, err);
	store_reap_finish(&rp, r == 0);
	if (r < 0)
		return -1;
	if (op.found == 0) {
		*seterr_r = jmap_set_error("notFound", "no such Email");
		return 0;
	}
	return 1;
}

/* ---- Email/import ---- */

static const struct jmap_arg import_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "ifInState", JMAP_ARG_STRING, JMAP_ARG_NULL },
	{ "emails", JMAP_ARG_OBJECT, JMAP_ARG_REQUIRED },
	{ NULL, 0, 0 },
};

static int
import_one(struct jmap_call *c, json_t *e, uint32_t *id_r, json_t **obj_r,
    json_t **seterr_r, struct buf *err)
{
	struct email_in in;
	struct buf msg = BUF_INIT(0);
	json_t *blob = json_object_get(e, "blobId");
	const char *k;
	json_t *v;
	int r;

	json_object_foreach(e, k, v) {
		if (strcmp(k, "blobId") != 0 && strcmp(k, "mailboxIds") != 0 &&
		    strcmp(k, "keywords") != 0 && strcmp(k, "receivedAt") != 0) {
			*seterr_r = jmap_set_error_props(k, "unknown property");
			return 0;
		}
	}
	if (!json_is_string(blob)) {
		*seterr_r = jmap_set_error_props("blobId", "required");
		return 0;
	}
	memset(&in, 0, sizeof(in));
	r = parse_mailboxes(c, json_object_get(e, "mailboxIds"), &in,
	    seterr_r, err);
	if (r == -2)
		return -1;
	if (r < 0 || parse_keywords(json_object_get(e, "keywords"), &in,
	    seterr_r) < 0 || parse_received(json_object_get(e, "receivedAt"),
	    &in, seterr_r) < 0) {
		email_in_clear(&in);
		return 0;
	}
	r = load_blob(c, json_string_value(blob), &msg, err);
	if (r == 0)
		*seterr_r = jmap_set_error("blobNotFound", "no blob %.64s",
		    json_string_value(blob));
	if (r == 1)
		r = file_message(c, msg.data, msg.len, &in, id_r, obj_r,
		    seterr_r, err);
	buf_free(&msg);
	email_in_clear(&in);
	return r;
}

int
jmap_email_import(struct jmap_call *c, struct buf *err)
{
	json_t *emails, *if_in, *created, *not_created, *e;
	const char *cid;
	char old_state[24], new_state[24];

	if (jmap_args_check(c, import_args, NULL) < 0)
		return 0;
	emails = jmap_arg_get(c, "emails");
	if_in = jmap_arg_get(c, "ifInState");
	if (json_object_size(emails) > c->ctx->env->lim.max_objects_in_set) {
		jmap_error(c, "requestTooLarge", "more than maxObjectsInSet");
		return 0;
	}
	if (jmap_std_state(c, &jmap_email_type, old_state, err) < 0)
		return -1;
	if (if_in != NULL && strcmp(json_string_value(if_in), old_state) != 0) {
		jmap_error(c, "stateMismatch", "the state is %s", old_state);
		return 0;
	}
	created = json_object();
	not_created = json_object();
	json_object_foreach(emails, cid, e) {
		json_t *obj = NULL, *seterr = NULL;
		char id[JMAP_ID_MAX];
		uint32_t n;
		int r;

		r = json_is_object(e) ? import_one(c, e, &n, &obj, &seterr,
		    err) : (seterr = jmap_set_error("invalidProperties", "not "
		    "an object"), 0);
		if (r < 0) {
			json_decref(created);
			json_decref(not_created);
			json_decref(seterr);
			return -1;
		}
		if (r == 0) {
			json_object_set_new(not_created, cid, seterr != NULL ?
			    seterr : jmap_set_error("invalidProperties",
			    "refused"));
			continue;
		}
		jmap_id_make('M', n, id);
		jmap_created_add(c, cid, id);
		json_object_set_new(created, cid, obj);
	}
	if (jmap_std_state(c, &jmap_email_type, new_state, err) < 0) {
		json_decref(created);
		json_decref(not_created);
		return -1;
	}
	jmap_reply(c, json_pack("{s:s,s:s,s:s,s:o,s:o}", "accountId",
	    c->ctx->account_id, "oldState", old_state, "newState", new_state,
	    "created", json_object_size(created) ? created :
	    (json_decref(created), json_null()), "notCreated",
	    json_object_size(not_created) ? not_created :
	    (json_decref(not_created), json_null())));
	return 0;
}

/* ---- Email/parse ---- */

static const struct jmap_arg parse_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "blobIds", JMAP_ARG_IDS, JMAP_ARG_REQUIRED },
	{ "properties", JMAP_ARG_STRINGS, JMAP_ARG_NULL },
	{ "bodyProperties", JMAP_ARG_STRINGS, JMAP_ARG_NULL },
	{ "fetchTextBodyValues", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ "fetchHTMLBodyValues", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ "fetchAllBodyValues", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ "maxBodyValueBytes", JMAP_ARG_UINT, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

int
jmap_email_parse(struct jmap_call *c, struct buf *err)
{
	struct jmap_email_opts o;
	json_t *ids, *want, *parsed, *not_parsable, *not_found, *v;
	size_t i;

	if (jmap_args_check(c, parse_args, NULL) < 0)
		return 0;
	ids = jmap_arg_get(c, "blobIds");
	if (json_array_size(ids) > c->ctx->env->lim.max_objects_in_get) {
		jmap_error(c, "requestTooLarge", "more than maxObjectsInGet");
		return 0;
	}
	if (jmap_email_get_opts(c, &want, &o) < 0)
		return 0;
	parsed = json_object();
	not_parsable = json_array();
	not_found = json_array();
	json_array_foreach(ids, i, v) {
		struct buf msg = BUF_INIT(0);
		struct mime_info *info = NULL;
		const char *s = json_string_value(v);
		int r = load_blob(c, s, &msg, err);

		if (r < 0) {
			buf_free(&msg);
			json_decref(want);
			json_decref(parsed);
			json_decref(not_parsable);
			json_decref(not_found);
			return -1;
		}
		if (r == 0)
			json_array_append(not_found, v);
		else if (mime_parse(msg.data, msg.len, NULL, &info, err) < 0 ||
		    (info->flags & MIME_FALLBACK) != 0)
			json_array_append(not_parsable, v);
		else
			json_object_set_new(parsed, s, jmap_email_json(NULL, s,
			    info, msg.data, msg.len, want, &o));
		mime_info_free(&info);
		buf_free(&msg);
	}
	json_decref(want);
	jmap_reply(c, json_pack("{s:s,s:o,s:o,s:o}", "accountId",
	    c->ctx->account_id, "parsed", json_object_size(parsed) ? parsed :
	    (json_decref(parsed), json_null()), "notParsable",
	    json_array_size(not_parsable) ? not_parsable :
	    (json_decref(not_parsable), json_null()), "notFound",
	    json_array_size(not_found) ? not_found :
	    (json_decref(not_found), json_null())));
	return 0;
}

/* ---- Email/copy ---- */

static const struct jmap_arg copy_args[] = {
	{ "fromAccountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "ifFromInState", JMAP_ARG_STRING, JMAP_ARG_NULL },
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "ifInState", JMAP_ARG_STRING, JMAP_ARG_NULL },
	{ "create", JMAP_ARG_OBJECT, JMAP_ARG_REQUIRED },
	{ "onSuccessDestroyOriginal", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ "destroyFromIfInState", JMAP_ARG_STRING, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

int
jmap_email_copy(struct jmap_call *c, struct buf *err)
{
	(void)err;
	if (jmap_args_check(c, copy_args, NULL) < 0)
		return 0;
	if (strcmp(json_string_value(jmap_arg_get(c, "fromAccountId")),
	    c->ctx->account_id) == 0) {
		jmap_error(c, "invalidArguments", "fromAccountId must differ "
		    "from accountId (RFC 8620 5.4); use Email/set mailboxIds "
		    "within one account");
		return 0;
	}
	jmap_error(c, "fromAccountNotFound", "no such account");
	return 0;
}
