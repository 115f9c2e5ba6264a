/*
 * store.c - the mailbox store opened as one object, and the shared path
 * that puts a raw message into a mailbox (see store.h).
 *
 * The blob is stored pinned (blob_put_pinned): durable content, no
 * reference count yet, and a pin that keeps a concurrent unref or reap of
 * the same content from removing it.  Every email filed takes its own
 * reference in the filing transaction (blob_ref_pinned_txn), so the
 * counts commit with the emails that hold them and a delivery costs one
 * data-store commit, which a group commit can share between deliveries.
 * store_msg_release() drops the pin only after that transaction has
 * committed or been given up.  A crash or an abort before the commit
 * leaves no reference, at worst content nothing counts (fs: an orphan
 * file; XXX a sweep of files without a count would reclaim them).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "store/store.h"

#define SVC "store"

/*
 * The key layout's version (store/LAYOUT.md, key 0x01 "version"): 2 has
 * blob headers with their XXH3 (1, never written, the layout before).
 * Written at open when absent or older (the changes of each version are
 * made by the code that reads them); a store of a newer version is not
 * opened, so a build never misreads a layout it does not know.
 */
#define STORE_LAYOUT 2
static const unsigned char layout_key[] = "\x01version";

struct layout_arg {
	uint32_t found;		/* 0: absent */
};

static int
layout_fn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct layout_arg *a = arg;
	struct buf v = BUF_INIT(0);
	unsigned char cur[4] = { 0, 0, 0, STORE_LAYOUT };
	int r;

	a->found = 0;
	r = kv_get(t, layout_key, sizeof(layout_key) - 1, &v, err);
	if (r == 1 && v.len != 4) {
		buf_addf(err, "store layout version: %zu bytes, not 4", v.len);
		r = -1;
	} else if (r == 1) {
		a->found = (uint32_t)v.data[0] << 24 | (uint32_t)v.data[1] << 16 |
		    (uint32_t)v.data[2] << 8 | v.data[3];
	}
	buf_free(&v);
	if (r < 0 || a->found >= STORE_LAYOUT)
		return r < 0 ? -1 : 0;
	return kv_put(t, layout_key, sizeof(layout_key) - 1, cur, sizeof(cur),
	    err);
}

/* layout_check - record our layout version; refuse a newer store's */
static int
layout_check(struct kv *kv, struct buf *err)
{
	struct layout_arg a = { 0 };

	if (kv_run(kv, KV_WRITE, layout_fn, &a, err) < 0)
		return -1;
	if (a.found > STORE_LAYOUT) {
		buf_addf(err, "store layout version %u is newer than this "
		    "build's (%d): run a newer postern", a.found, STORE_LAYOUT);
		return -1;
	}
	return 0;
}

/* store_committed - the kv commit hook: the notes are the accounts the
 * mail model changed (mail_log_append_txn) */
static void
store_committed(void *arg, const uint32_t *notes, size_t n)
{
	struct store *st = arg;

	for (size_t h = 0; h < st->nchange; h++)
		for (size_t i = 0; i < n; i++)
			st->change[h].fn(st->change[h].arg, notes[i]);
}

void
store_add_change_hook(struct store *st, store_change_fn *fn, void *arg)
{
	if (st->nchange == STORE_CHANGE_HOOKS)
		PANIC("store_add_change_hook: more than %d hooks",
		    STORE_CHANGE_HOOKS);
	st->change[st->nchange].fn = fn;
	st->change[st->nchange].arg = arg;
	st->nchange++;
}

int
store_open(const struct config *cfg, struct store **st_r, struct buf *err)
{
	const struct config_store *c = &cfg->store;
	struct kv_options ko = { c->backend == STORE_ROCKSDB ? "rocksdb" :
	    "sqlite", c->path, false };
	struct blob_options bo;
	struct store *st = xcalloc(1, sizeof(*st));

	*st_r = NULL;
	if (kv_open(&ko, &st->kv, err) < 0 || layout_check(st->kv, err) < 0) {
		buf_addf(err, " (data store %s)", c->path);
		goto fail;
	}
	memset(&bo, 0, sizeof(bo));
	bo.backend = c->blob_backend == BLOB_KV ? "kv" : "fs";
	bo.path = c->blob_backend == BLOB_KV ? NULL : c->blob_dir;
	bo.kv = st->kv;
	bo.inline_max = c->blob_inline_max;
	if (blob_open(&bo, &st->blobs, err) < 0) {
		buf_addf(err, " (blob store %s)", bo.backend);
		goto fail;
	}
	if (fts_new("english", NULL, &st->fts, err) < 0)
		goto fail;
	st->mail = mail_new(st->kv);
	kv_set_commit_hook(st->kv, store_committed, st);
	*st_r = st;
	return 0;
fail:
	store_close(&st);
	return -1;
}

void
store_close(struct store **stp)
{
	struct store *st = *stp;

	if (st == NULL)
		return;
	mail_free(&st->mail);
	fts_free(&st->fts);
	blob_close(&st->blobs);
	kv_close(&st->kv);
	free(st);
	*stp = NULL;
}

/*
 * crlf_copy - data with every bare LF made CRLF, or NULL when there is
 * none (the common case: SMTP refuses bare LF by default)
 */
static unsigned char *
crlf_copy(const unsigned char *p, size_t len, size_t *len_r)
{
	size_t bare = 0, j = 0;
	unsigned char *out;

	for (size_t i = 0; i < len; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			bare++;
	if (bare == 0)
		return NULL;
	out = xmalloc(len + bare);
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			out[j++] = '\r';
		out[j++] = p[i];
	}
	*len_r = j;
	return out;
}

/* add_addrs - "Name local@domain, ..." of a list, for the index */
static void
add_addrs(struct buf *out, const struct mime_addr_list *l)
{
	for (uint32_t i = 0; i < l->n; i++) {
		const struct mime_addr *a = &l->v[i];

		if (a->kind == MIME_ADDR_GROUP_END)
			continue;
		if (a->name != NULL)
			buf_addf(out, "%s ", a->name);
		if (a->kind == MIME_ADDR_MAILBOX)
			buf_addf(out, "%s@%s ", a->local, a->domain);
	}
}

/*
 * index_terms - m's term list for the index: subject, addresses, text;
 * built here, outside the filing transaction
 */
static int
index_terms(struct store *st, struct store_msg *m, struct buf *err)
{
	struct fts_part parts[8];
	size_t nparts = 0;
	struct buf addrs = BUF_INIT(0);	/* backing text of addresses */
	const struct mime_headers *h = &m->info->hdr;
	const struct mime_addr_list *lists[] = { &h->from, &h->to, &h->cc,
		&h->bcc };
	static const enum fts_field fields[] = { FTS_FROM, FTS_TO, FTS_CC,
		FTS_BCC };
	size_t off[4], end[4];

	if (h->subject != NULL)
		parts[nparts++] = (struct fts_part){ FTS_SUBJECT, h->subject,
			strlen(h->subject) };
	/* addresses first into one buffer, pointers taken once it is done */
	for (size_t i = 0; i < 4; i++) {
		off[i] = addrs.len;
		add_addrs(&addrs, lists[i]);
		end[i] = addrs.len;
	}
	for (size_t i = 0; i < 4; i++)
		if (end[i] > off[i])
			parts[nparts++] = (struct fts_part){ fields[i],
				addrs.data + off[i], end[i] - off[i] };
	if (m->info->text_len > 0)
		parts[nparts++] = (struct fts_part){ FTS_BODY, m->info->text,
			m->info->text_len };
	m->terms = fts_terms_new(st->fts, &(struct fts_doc){ parts, nparts },
	    err);
	buf_free(&addrs);
	return m->terms != NULL ? 0 : -1;
}

int
store_msg_prepare(struct store *st, const void *data, size_t len,
    struct store_msg *m, struct buf *err)
{
	size_t flen = 0;
	const unsigned char *p = data;
	int ret = -1;

	memset(m, 0, sizeof(*m));
	buf_init(&m->mime, 0);
	/* kept until the release: a kv pin reads the content at filing */
	m->fixed = crlf_copy(data, len, &flen);
	if (m->fixed != NULL) {
		p = m->fixed;
		len = flen;
	}
	m->size = len;
	if (mime_parse(p, len, NULL, &m->info, err) < 0 ||
	    mime_info_encode(m->info, &m->mime) < 0) {
		if (m->info != NULL)
			buf_addf(err, "message metadata too large to store");
		goto out;
	}
	if (index_terms(st, m, err) < 0)
		goto out;
	/* last: a failure after it would leave an orphan file */
	if (blob_put_pinned(st->blobs, p, len, &m->blob, &m->pin, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		store_msg_release(st, m);
	return ret;
}

int
store_msg_add_txn(struct store *st, struct kv_txn *t, struct fts_batch *fts,
    struct store_msg *m, const struct store_add *a,
    struct mail_added *added_r, struct buf *err)
{
	struct mail_new_email e;
	struct mail_added added;
	uint64_t used;
	int r;

	if (a->quota != 0) {
		if ((r = mail_quota_used_txn(t, a->acct, &used, err)) < 0)
			return r;
		if (used > a->quota || m->size > a->quota - used)
			return STORE_OVER_QUOTA;
	}
	memset(&e, 0, sizeof(e));
	e.mbox = a->mbox;
	e.blob = m->blob;
	e.size = m->size;
	e.received_at = a->received_at != 0 ? a->received_at :
	    (int64_t)time(NULL);
	e.flags = a->flags;
	e.mime = m->mime.data;
	e.mime_len = m->mime.len;
	e.info = m->info;
	e.keywords = a->keywords;
	e.nkeywords = a->nkeywords;
	if ((r = mail_email_add_txn(st->mail, t, a->acct, &e, &added,
	    err)) < 0)
		return r;
	if ((r = blob_ref_pinned_txn(st->blobs, t, m->pin, err)) < 0)
		return r;
	if (fts != NULL && (r = fts_batch_index_terms(fts, a->acct,
	    added.email, m->terms, err)) < 0)
		return r;
	if (added_r != NULL)
		*added_r = added;
	return 0;
}

void
store_msg_release(struct store *st, struct store_msg *m)
{
	(void)st;
	blob_pin_release(&m->pin);
	free(m->fixed);
	m->fixed = NULL;
	mime_info_free(&m->info);
	buf_free(&m->mime);
	fts_terms_free(&m->terms);
}

struct append_op {
	struct store *st;
	struct store_msg *m;
	const struct store_add *a;
	struct mail_added added;
	bool over_quota;
};

static int
append_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct append_op *op = arg;
	struct fts_batch *b = fts_batch_new(op->st->fts, t);
	int r;

	op->over_quota = false;
	r = store_msg_add_txn(op->st, t, b, op->m, op->a, &op->added, err);
	if (r == STORE_OVER_QUOTA) {
		op->over_quota = true;
		r = 0;
	} else if (r == 0) {
		r = fts_batch_flush(b, err);
	}
	fts_batch_free(&b);
	return r;
}

int
store_append(struct store *st, const struct store_add *a, const void *data,
    size_t len, struct mail_added *added_r, struct buf *err)
{
	struct store_msg m;
	struct append_op op = { st, &m, a, { 0 }, false };
	int ret = 0;

	if (store_msg_prepare(st, data, len, &m, err) < 0)
		return -1;
	if (kv_run(st->kv, KV_WRITE, append_txn, &op, err) < 0)
		ret = -1;
	else if (op.over_quota)
		ret = STORE_OVER_QUOTA;
	store_msg_release(st, &m);
	if (ret == 0 && added_r != NULL)
		*added_r = op.added;
	return ret;
}

/* ---- removing ---- */

void
store_reap_init(struct store_reap *rp, struct store *st, uint32_t acct)
{
	memset(rp, 0, sizeof(*rp));
	rp->st = st;
	rp->acct = acct;
}

void
store_reap_attempt(struct store_reap *rp)
{
	rp->n = 0;
}

int
store_removed_txn(void *arg, struct kv_txn *t, const struct mail_removed *r,
    struct buf *err)
{
	struct store_reap *rp = arg;
	bool reap = false;
	int ret;

	if (!r->destroyed)
		return 0;
	if ((ret = blob_unref_txn(rp->st->blobs, t, &r->blob, &reap,
	    err)) < 0)
		return ret;
	if ((ret = fts_remove(rp->st->fts, t, rp->acct, r->email, err)) < 0)
		return ret;
	if (reap) {
		if (rp->n == rp->cap) {
			rp->cap = rp->cap == 0 ? 4 : rp->cap * 2;
			rp->ids = xreallocarray(rp->ids, rp->cap,
			    sizeof(*rp->ids));
		}
		rp->ids[rp->n++] = r->blob;
	}
	return 0;
}

void
store_reap_finish(struct store_reap *rp, bool committed)
{
	struct buf err = BUF_INIT(0);

	for (size_t i = 0; committed && i < rp->n; i++) {
		buf_reset(&err);
		if (blob_reap(rp->st->blobs, &rp->ids[i], &err) < 0)
			log_error(SVC, "removing an unreferenced blob: %s",
			    buf_cstr(&err));
	}
	free(rp->ids);
	rp->ids = NULL;
	rp->n = rp->cap = 0;
	buf_free(&err);
}

struct expunge_op {
	struct store_reap *rp;
	uint32_t mbox, uid;
	int found;
};

static int
expunge_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct expunge_op *op = arg;
	struct mail_removed r;
	int ret;

	store_reap_attempt(op->rp);
	ret = mail_msg_expunge_txn(t, op->rp->acct, op->mbox, op->uid, &r,
	    err);
	if (ret < 0)
		return ret;
	op->found = ret;
	if (ret == 0)
		return 0;
	return store_removed_txn(op->rp, t, &r, err);
}

int
store_expunge(struct store *st, uint32_t acct, uint32_t mbox, uint32_t uid,
    struct buf *err)
{
	struct store_reap rp;
	struct expunge_op op = { &rp, mbox, uid, 0 };
	int ret;

	store_reap_init(&rp, st, acct);
	ret = kv_run(st->kv, KV_WRITE, expunge_txn, &op, err);
	store_reap_finish(&rp, ret == 0);
	return ret < 0 ? -1 : op.found;
}

/* ---- moves that train the spam classifier ---- */

void
store_set_junk_hook(struct store *st, store_junk_fn *fn, void *arg)
{
	st->junk_fn = fn;
	st->junk_arg = arg;
}

static enum mail_role
role_of(struct store *st, uint32_t acct, uint32_t mbox, struct buf *err)
{
	struct mail_mailbox mb;
	enum mail_role role = MAIL_ROLE_NONE;

	memset(&mb, 0, sizeof(mb));
	if (mail_mailbox_get(st->mail, acct, mbox, &mb, err) == 1)
		role = mb.role;
	mail_mailbox_clear(&mb);
	return role;
}

/* junk_train - tell the hook about a message that crossed Junk's border */
static void
junk_train(struct store *st, uint32_t acct, uint32_t email, bool spam)
{
	struct mail_email em;
	struct buf msg = BUF_INIT(0), err = BUF_INIT(0);

	memset(&em, 0, sizeof(em));
	if (mail_email_get(st->mail, acct, email, &em, &err) == 1 &&
	    blob_get(st->blobs, &em.blob, 0, em.size, &msg, &err) == 1)
		st->junk_fn(st->junk_arg, acct, msg.data, msg.len, spam);
	mail_email_clear(&em);
	buf_free(&msg);
	buf_free(&err);
}

static int
move_or_copy(struct store *st, bool move, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint32_t dst, struct mail_added *a, struct buf *err)
{
	struct mail_added added;
	enum mail_role from = MAIL_ROLE_NONE, to = MAIL_ROLE_NONE;
	int r;

	if (a == NULL)
		a = &added;
	if (st->junk_fn != NULL && mbox != dst) {
		from = role_of(st, acct, mbox, err);
		to = role_of(st, acct, dst, err);
	}
	r = move ? mail_msg_move(st->mail, acct, mbox, uid, dst, a, err) :
	    mail_msg_copy(st->mail, acct, mbox, uid, dst, a, err);
	if (r != 1 || a->existed || st->junk_fn == NULL)
		return r;
	/* out of Junk into Trash is throwing spam away, not "not spam" */
	if (to == MAIL_ROLE_JUNK && from != MAIL_ROLE_JUNK)
		junk_train(st, acct, a->email, true);
	else if (from == MAIL_ROLE_JUNK && to != MAIL_ROLE_JUNK &&
	    to != MAIL_ROLE_TRASH && move)
		junk_train(st, acct, a->email, false);
	return r;
}

int
store_msg_move(struct store *st, uint32_t acct, uint32_t mbox, uint32_t uid,
    uint32_t dst, struct mail_added *a, struct buf *err)
{
	return move_or_copy(st, true, acct, mbox, uid, dst, a, err);
}

int
store_msg_copy(struct store *st, uint32_t acct, uint32_t mbox, uint32_t uid,
    uint32_t dst, struct mail_added *a, struct buf *err)
{
	return move_or_copy(st, false, acct, mbox, uid, dst, a, err);
}
