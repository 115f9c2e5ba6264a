/*
 * mail.c - the mail model over the data store (see mail.h): the email
 * record and its codec, delivery of a new email, the counters and the
 * change-log writer shared by every file, and quota usage.  Mailboxes
 * are in mail_mailbox.c, memberships (expunge, copy, move, counts) in
 * mail_member.c, flags and keywords in mail_flags.c, threads in
 * mail_thread.c, IMAP's listings in mail_msg.c, /changes in
 * mail_changes.c.
 *
 * Keys (store/LAYOUT.md; acct, mbox, email, thread and uid u32, modseq
 * and state u64, all big-endian):
 *   'C' acct name 0x00          -> counter (kv_add): "mailbox", "email",
 *                                  "thread", "state"; "uidvalidity" and
 *                                  "horizon-<type>" hold a last value
 *                                  (same 8-byte format)
 *   'E' acct email              -> email record (EM_* fields)
 *   'I' acct email              -> mime_info_encode() bytes, as given
 *   'U' acct mbox uid           -> email(u32) flags(u32) modseq(u64)
 *                                  keywords (space-separated, may be
 *                                  empty)
 *   'S' acct mbox modseq        -> uid (u32)
 *   'L' acct type(u8) state     -> change record (mail_changes.c)
 *   'Q' acct                    -> bytes used (kv_add)
 *
 * 'U' and 'S' values are fixed-width rather than tagged records since
 * they are read once per message on every IMAP SELECT/FETCH; readers
 * accept longer values so fields can be appended.  The custom keywords
 * are in both 'E' and 'U' so FETCH FLAGS needs no second get (the cost:
 * they are written once per membership; at most MAIL_KEYWORDS_MAX).
 * Every change is one write transaction, so the invariants in mail.h
 * hold under concurrent deliveries: two transactions that read the same
 * uidnext cannot both commit (kv.h: writes are serialisable).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xalloc.h"
#include "store/mail_priv.h"

struct mail {
	struct kv *kv;
};

enum {	/* email record */
	EM_BLOB = 1, EM_SIZE, EM_RECEIVED, EM_FLAGS, EM_MEMBER, EM_CREATED,
	EM_THREAD, EM_KEYWORD,
};

#define MAIL_UVAL_LEN 16	/* 'U' value: email, flags, modseq */
#define MAIL_MEMBER_LEN 16	/* EM_MEMBER: mbox, uid, modseq */

struct mail *
mail_new(struct kv *kv)
{
	struct mail *m = xcalloc(1, sizeof(*m));

	m->kv = kv;
	return m;
}

void
mail_free(struct mail **mp)
{
	if (*mp == NULL)
		return;
	free(*mp);
	*mp = NULL;
}

const char *
mail_role_name(enum mail_role role)
{
	switch (role) {
	case MAIL_ROLE_NONE:	return "";
	case MAIL_ROLE_INBOX:	return "inbox";
	case MAIL_ROLE_SENT:	return "sent";
	case MAIL_ROLE_DRAFTS:	return "drafts";
	case MAIL_ROLE_TRASH:	return "trash";
	case MAIL_ROLE_JUNK:	return "junk";
	case MAIL_ROLE_ARCHIVE:	return "archive";
	}
	return "";
}

void
mail_mailbox_clear(struct mail_mailbox *mb)
{
	free(mb->name);
	memset(mb, 0, sizeof(*mb));
}

void
mail_email_clear(struct mail_email *em)
{
	for (size_t i = 0; i < em->nkeywords; i++)
		free(em->keywords[i]);
	free(em->keywords);
	free(em->members);
	memset(em, 0, sizeof(*em));
}

struct kv *
mail_kv(struct mail *m)
{
	return m->kv;
}

static void
write_u32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static void
write_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

/* ---- small helpers ---- */

int
mail_counter_next_txn(struct kv_txn *t, uint32_t acct, const char *name,
    uint32_t *id_r, struct buf *err)
{
	struct buf k = BUF_INIT(0);
	int64_t v;
	int r;

	mail_key_counter(&k, acct, name);
	r = kv_add(t, k.data, k.len, 1, &v, err);
	buf_free(&k);
	if (r < 0)
		return r;
	if (v <= 0 || v > UINT32_MAX) {
		buf_addf(err, "account %u: %s ids exhausted", acct, name);
		return -1;
	}
	*id_r = (uint32_t)v;
	return 0;
}

int
mail_first_key(struct kv_txn *t, const struct buf *prefix, struct buf *key_r,
    struct buf *err)
{
	unsigned char end[KV_KEY_MAX];
	size_t elen = kv_prefix_end(prefix->data, prefix->len, end);
	struct kv_iter *it;
	const void *kp, *vp;
	size_t kl, vl;
	int r;

	r = kv_iter_new(t, prefix->data, prefix->len, elen > 0 ? end : NULL,
	    elen, false, &it, err);
	if (r < 0)
		return r;
	r = kv_iter_next(it, &kp, &kl, &vp, &vl, err);
	if (r == 1 && key_r != NULL) {
		buf_reset(key_r);
		buf_add(key_r, kp, kl);
	}
	kv_iter_free(&it);
	return r;
}

int
mail_delete_prefix(struct kv_txn *t, const struct buf *prefix,
    struct buf *err)
{
	unsigned char end[KV_KEY_MAX];
	size_t elen = kv_prefix_end(prefix->data, prefix->len, end);

	return kv_delete_range(t, prefix->data, prefix->len,
	    elen > 0 ? end : NULL, elen, err);
}

/* ---- the email record ---- */

static void
email_encode(const struct mail_email *em, struct buf *v)
{
	unsigned char member[MAIL_MEMBER_LEN];

	buf_reset(v);
	rec_put_bytes(v, EM_BLOB, em->blob.b, sizeof(em->blob.b));
	rec_put_u64(v, EM_SIZE, em->size);
	rec_put_u64(v, EM_RECEIVED, (uint64_t)em->received_at);
	rec_put_u64(v, EM_FLAGS, em->flags);
	for (size_t i = 0; i < em->nmembers; i++) {
		write_u32(member, em->members[i].mbox);
		write_u32(member + 4, em->members[i].uid);
		write_u64(member + 8, em->members[i].modseq);
		rec_put_bytes(v, EM_MEMBER, member, sizeof(member));
	}
	rec_put_u64(v, EM_CREATED, (uint64_t)em->created);
	rec_put_u64(v, EM_THREAD, em->thread);
	for (size_t i = 0; i < em->nkeywords; i++)
		rec_put_str(v, EM_KEYWORD, em->keywords[i]);
}

static int
email_decode(uint32_t id, const void *p, size_t len, struct mail_email *em,
    struct buf *err)
{
	struct rec_reader rr;
	const unsigned char *d;
	size_t n, cap_m = 0, cap_k = 0;
	uint8_t tag;
	uint64_t u;
	bool has_blob = false;
	int r;

	memset(em, 0, sizeof(*em));
	em->id = id;
	rec_reader_init(&rr, p, len);
	while ((r = rec_next(&rr, &tag, &d, &n)) == 1) {
		switch (tag) {
		case EM_BLOB:
			if (n != sizeof(em->blob.b))
				goto bad;
			memcpy(em->blob.b, d, n);
			has_blob = true;
			break;
		case EM_MEMBER:
			if (n < MAIL_MEMBER_LEN)
				goto bad;
			if (em->nmembers == cap_m) {
				cap_m = cap_m == 0 ? 4 : cap_m * 2;
				em->members = xreallocarray(em->members,
				    cap_m, sizeof(*em->members));
			}
			em->members[em->nmembers].mbox = get_u32(d);
			em->members[em->nmembers].uid = get_u32(d + 4);
			em->members[em->nmembers++].modseq = get_u64(d + 8);
			break;
		case EM_KEYWORD:
			if (n == 0 || n > MAIL_KEYWORD_MAX ||
			    memchr(d, '\0', n) != NULL)
				goto bad;
			if (em->nkeywords == cap_k) {
				cap_k = cap_k == 0 ? 4 : cap_k * 2;
				em->keywords = xreallocarray(em->keywords,
				    cap_k, sizeof(*em->keywords));
			}
			em->keywords[em->nkeywords++] = xmemdup0(d, n);
			break;
		case EM_SIZE: case EM_RECEIVED: case EM_FLAGS:
		case EM_CREATED: case EM_THREAD:
			if (!rec_u64(d, n, &u))
				goto bad;
			if (tag == EM_SIZE)
				em->size = u;
			else if (tag == EM_RECEIVED)
				em->received_at = (int64_t)u;
			else if (tag == EM_FLAGS)
				em->flags = (uint32_t)u;
			else if (tag == EM_CREATED)
				em->created = (int64_t)u;
			else
				em->thread = (uint32_t)u;
			break;
		default:
			break;	/* a field of a later version */
		}
	}
	if (r == 0 && has_blob)
		return 0;
bad:
	mail_email_clear(em);
	buf_addf(err, "email %u: malformed record", id);
	return -1;
}

int
mail_email_put(struct kv_txn *t, uint32_t acct, const struct mail_email *em,
    struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	mail_key_id(&k, 'E', acct, em->id);
	email_encode(em, &v);
	r = kv_put(t, k.data, k.len, v.data, v.len, err);
	buf_free(&k);
	buf_free(&v);
	return r;
}

int
mail_email_get_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    struct mail_email *em, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	memset(em, 0, sizeof(*em));
	mail_key_id(&k, 'E', acct, email);
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && email_decode(email, v.data, v.len, em, err) < 0)
		r = -1;
	buf_free(&k);
	buf_free(&v);
	return r;
}

struct email_get_op {
	uint32_t acct, email;
	struct mail_email *em;
	int found;
};

static int
email_get_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct email_get_op *op = arg;

	mail_email_clear(op->em);
	op->found = mail_email_get_txn(t, op->acct, op->email, op->em, err);
	return op->found < 0 ? op->found : 0;
}

int
mail_email_get(struct mail *m, uint32_t acct, uint32_t email,
    struct mail_email *em, struct buf *err)
{
	struct email_get_op op = { acct, email, em, 0 };

	memset(em, 0, sizeof(*em));
	if (kv_run(m->kv, KV_READ, email_get_txn, &op, err) < 0)
		return -1;
	return op.found;
}

struct mime_op {
	uint32_t acct, email;
	struct buf v;
	int found;
};

static int
mime_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct mime_op *op = arg;
	struct buf k = BUF_INIT(0);
	int r;

	mail_key_id(&k, 'I', op->acct, op->email);
	buf_reset(&op->v);
	r = kv_get(t, k.data, k.len, &op->v, err);
	buf_free(&k);
	if (r < 0)
		return r;
	op->found = r;
	return 0;
}

int
mail_email_mime_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    struct mime_info **info_r, struct buf *err)
{
	return mail_email_mime_some_txn(t, acct, email, MIME_DEC_ALL, info_r,
	    err);
}

int
mail_email_mime_some_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    unsigned want, struct mime_info **info_r, struct buf *err)
{
	struct mime_op op = { acct, email, BUF_INIT(0), 0 };
	int r;

	*info_r = NULL;
	r = mime_txn(t, &op, err);
	if (r == 0 && op.found == 1 && mime_info_decode_some(op.v.data,
	    op.v.len, want, info_r, err) < 0)
		r = -1;
	buf_free(&op.v);
	return r < 0 ? r : op.found;
}

int
mail_email_mime(struct mail *m, uint32_t acct, uint32_t email,
    struct mime_info **info_r, struct buf *err)
{
	struct mime_op op = { acct, email, BUF_INIT(0), 0 };
	int ret = op.found;

	*info_r = NULL;
	if (kv_run(m->kv, KV_READ, mime_txn, &op, err) < 0)
		ret = -1;
	else if (op.found == 1 && mime_info_decode(op.v.data, op.v.len, info_r,
	    err) < 0)
		ret = -1;
	else
		ret = op.found;
	buf_free(&op.v);
	return ret;
}

bool
mail_member_find(const struct mail_email *em, uint32_t mbox, size_t *i_r)
{
	for (size_t i = 0; i < em->nmembers; i++) {
		if (em->members[i].mbox == mbox) {
			*i_r = i;
			return true;
		}
	}
	return false;
}

/* ---- the 'U' value ---- */

void
mail_uval_encode(struct buf *v, const struct mail_email *em, uint64_t modseq)
{
	buf_reset(v);
	key_u32(v, em->id);
	key_u32(v, em->flags);
	key_u64(v, modseq);
	for (size_t i = 0; i < em->nkeywords; i++) {
		if (i > 0)
			buf_add(v, " ", 1);
		buf_add_str(v, em->keywords[i]);
	}
}

int
mail_msg_get_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox, uint32_t uid,
    struct mail_msg *msg, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	memset(msg, 0, sizeof(*msg));
	mail_key_msg(&k, acct, mbox, uid);
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && v.len < MAIL_UVAL_LEN) {
		buf_addf(err, "uid %u: malformed value", uid);
		r = -1;
	} else if (r == 1) {
		msg->uid = uid;
		msg->email = get_u32(v.data);
		msg->flags = get_u32(v.data + 4);
		msg->modseq = get_u64(v.data + 8);
	}
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* ---- emails ---- */

int
mail_email_add_txn(struct mail *m, struct kv_txn *t, uint32_t acct,
    const struct mail_new_email *e, struct mail_added *added_r,
    struct buf *err)
{
	struct mail_flag_change c;
	struct mail_email em;
	struct mail_member mem;
	struct mail_added a;
	struct buf k = BUF_INIT(0);
	int r;

	(void)m;
	memset(&a, 0, sizeof(a));
	memset(&em, 0, sizeof(em));
	if (e->size > INT64_MAX) {
		buf_addf(err, "email size %llu out of range",
		    (unsigned long long)e->size);
		return -1;
	}
	memset(&c, 0, sizeof(c));
	c.replace = true;
	c.add = e->flags;
	c.kw_add = e->keywords;
	c.nkw_add = e->nkeywords;
	if (mail_keywords_apply(&em, &c, err) < 0)
		return -1;
	em.blob = e->blob;
	em.size = e->size;
	em.received_at = e->received_at;
	em.created = (int64_t)time(NULL);

	/* the email id first: the thread's 'T' key holds it */
	if ((r = mail_counter_next_txn(t, acct, "email", &em.id, err)) < 0 ||
	    (r = mail_thread_assign(t, acct, e->info, em.id, em.received_at,
	    &em.thread, err)) < 0 ||
	    (r = mail_member_add(t, acct, &em, e->mbox, &mem, err)) < 0 ||
	    (r = mail_email_put(t, acct, &em, err)) < 0)
		goto out;
	if (e->mime != NULL) {
		mail_key_id(&k, 'I', acct, em.id);
		if ((r = kv_put(t, k.data, k.len, e->mime, e->mime_len,
		    err)) < 0)
			goto out;
	}
	mail_key_acct(&k, 'Q', acct);
	if ((r = kv_add(t, k.data, k.len, (int64_t)e->size, NULL, err)) < 0)
		goto out;
	a.email = em.id;
	a.uid = mem.uid;
	a.modseq = mem.modseq;
	a.thread = em.thread;
	r = mail_log_append_txn(t, acct, MAIL_LOG_EMAIL, MAIL_LOG_CREATED,
	    em.id, &a.state, err);
out:
	if (r == 0 && added_r != NULL)
		*added_r = a;
	mail_email_clear(&em);
	buf_free(&k);
	return r;
}

struct add_op {
	struct mail *m;
	uint32_t acct;
	const struct mail_new_email *e;
	struct mail_added a;
};

static int
add_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct add_op *op = arg;

	return mail_email_add_txn(op->m, t, op->acct, op->e, &op->a, err);
}

int
mail_email_add(struct mail *m, uint32_t acct, const struct mail_new_email *e,
    struct mail_added *added_r, struct buf *err)
{
	struct add_op op;

	memset(&op, 0, sizeof(op));
	op.m = m;
	op.acct = acct;
	op.e = e;
	if (kv_run(mail_kv(m), KV_WRITE, add_txn, &op, err) < 0)
		return -1;
	if (added_r != NULL)
		*added_r = op.a;
	return 0;
}

/* ---- quota ---- */

int
mail_quota_used_txn(struct kv_txn *t, uint32_t acct, uint64_t *used_r,
    struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	mail_key_acct(&k, 'Q', acct);
	*used_r = 0;
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && (v.len != 8 || (int64_t)get_u64(v.data) < 0)) {
		buf_addf(err, "account %u: malformed quota", acct);
		r = -1;
	} else if (r == 1)
		*used_r = get_u64(v.data);
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

struct quota_op {
	uint32_t acct;
	uint64_t used;
};

static int
quota_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct quota_op *op = arg;

	return mail_quota_used_txn(t, op->acct, &op->used, err);
}

int
mail_quota_used(struct mail *m, uint32_t acct, uint64_t *used_r,
    struct buf *err)
{
	struct quota_op op = { acct, 0 };

	if (kv_run(mail_kv(m), KV_READ, quota_txn, &op, err) < 0)
		return -1;
	*used_r = op.used;
	return 0;
}
