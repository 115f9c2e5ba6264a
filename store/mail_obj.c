/*
 * mail_obj.c - objects that only the JMAP server reads, kept next to the
 * mail model so that they share its transactions and its change log:
 * Identity and EmailSubmission records (RFC 8621 6, 7), and the
 * per-account count of submissions in a rate window (see mail.h).
 *
 * Keys (store/LAYOUT.md):
 *   'J' acct kind(u8) id(u32)  -> the object's bytes, opaque here (the
 *                                 JMAP layer keeps JSON text); kind is
 *                                 the change-log type: 'i' identity,
 *                                 's' submission
 *   'C' acct "identity" 0x00   -> last identity id (kv_add)
 *   'C' acct "submission" 0x00 -> last submission id (kv_add)
 *   'J' acct 'r' window(u64)   -> submissions counted in that window
 *                                 (kv_add); older windows deleted by the
 *                                 next count
 * ('J' acct 'u' ... are the JMAP uploads of imap-jmap/jmap_blob.c: the
 * third byte keeps the kinds apart.)
 *
 * Every create, logged write and destroy appends its change record ('L'
 * acct kind state) in the same transaction, so Foo/changes, the
 * queryChanges superset and push work as for mailboxes and emails.  Ids
 * come from counters and are never reused.
 */
#include <string.h>

#include "store/mail_priv.h"

static const char *
counter_name(enum mail_log_type kind)
{
	switch (kind) {
	case MAIL_LOG_IDENTITY:
		return "identity";
	case MAIL_LOG_SUBMISSION:
		return "submission";
	default:
		break;
	}
	PANIC("mail_obj: kind '%c' is no object kind", (char)kind);
}

static void
key_obj(struct buf *k, uint32_t acct, enum mail_log_type kind, uint32_t id)
{
	(void)counter_name(kind);	/* a wrong kind is our bug */
	mail_key_acct(k, 'J', acct);
	key_u8(k, (uint8_t)kind);
	key_u32(k, id);
}

int
mail_obj_create_txn(struct kv_txn *t, uint32_t acct, enum mail_log_type kind,
    const void *v, size_t len, uint32_t *id_r, struct buf *err)
{
	struct buf k = BUF_INIT(0);
	uint32_t id;
	int r;

	if ((r = mail_counter_next_txn(t, acct, counter_name(kind), &id,
	    err)) < 0)
		return r;
	key_obj(&k, acct, kind, id);
	r = kv_put(t, k.data, k.len, v, len, err);
	buf_free(&k);
	if (r == 0)
		r = mail_log_append_txn(t, acct, kind, MAIL_LOG_CREATED, id,
		    NULL, err);
	if (r == 0)
		*id_r = id;
	return r;
}

int
mail_obj_get_txn(struct kv_txn *t, uint32_t acct, enum mail_log_type kind,
    uint32_t id, struct buf *v, struct buf *err)
{
	struct buf k = BUF_INIT(0);
	int r;

	key_obj(&k, acct, kind, id);
	r = kv_get(t, k.data, k.len, v, err);
	buf_free(&k);
	return r;
}

int
mail_obj_put_txn(struct kv_txn *t, uint32_t acct, enum mail_log_type kind,
    uint32_t id, const void *v, size_t len, enum mail_log_op op,
    struct buf *err)
{
	struct buf k = BUF_INIT(0), old = BUF_INIT(0);
	int r;

	key_obj(&k, acct, kind, id);
	r = kv_get(t, k.data, k.len, &old, err);
	if (r == 1)
		r = kv_put(t, k.data, k.len, v, len, err);
	else if (r == 0)
		goto out;	/* never written, or destroyed: unknown */
	if (r == 0 && op != 0)
		r = mail_log_append_txn(t, acct, kind, op, id, NULL, err);
	if (r == 0)
		r = 1;
out:
	buf_free(&k);
	buf_free(&old);
	return r;
}

int
mail_obj_destroy_txn(struct kv_txn *t, uint32_t acct, enum mail_log_type kind,
    uint32_t id, struct buf *err)
{
	struct buf k = BUF_INIT(0), old = BUF_INIT(0);
	int r;

	key_obj(&k, acct, kind, id);
	r = kv_get(t, k.data, k.len, &old, err);
	if (r == 1 && (r = kv_delete(t, k.data, k.len, err)) == 0 &&
	    (r = mail_log_append_txn(t, acct, kind, MAIL_LOG_DESTROYED, id,
	    NULL, err)) == 0)
		r = 1;
	buf_free(&k);
	buf_free(&old);
	return r;
}

struct list_cb {
	mail_obj_fn *fn;
	void *arg;
};

static int
list_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct list_cb *c = arg;
	int r;

	if (kl != 10) {
		buf_addf(err, "malformed object key");
		return -1;
	}
	r = c->fn(c->arg, get_u32(k + 6), v, vl);
	if (r < 0)
		buf_addf(err, "callback failed");
	return r < 0 ? -1 : r > 0 ? 1 : 0;
}

int
mail_obj_list_txn(struct kv_txn *t, uint32_t acct, enum mail_log_type kind,
    mail_obj_fn *fn, void *arg, struct buf *err)
{
	struct buf prefix = BUF_INIT(0);
	struct list_cb c = { fn, arg };
	int r;

	(void)counter_name(kind);
	mail_key_acct(&prefix, 'J', acct);
	key_u8(&prefix, (uint8_t)kind);
	r = kv_scan_txn(t, prefix.data, prefix.len, prefix.data, prefix.len,
	    list_row, &c, err);
	buf_free(&prefix);
	return r;
}

/* ---- the same, each in a transaction of its own ---- */

struct obj_op {
	uint32_t acct;
	enum mail_log_type kind;
	uint32_t id;
	const void *v;
	size_t len;
	enum mail_log_op op;
	struct buf *out;
	size_t mark;		/* out's length before the first attempt */
	uint64_t window;
	int64_t count;
	int res;
};

static int
create_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct obj_op *o = arg;

	return mail_obj_create_txn(t, o->acct, o->kind, o->v, o->len, &o->id,
	    err);
}

int
mail_obj_create(struct mail *m, uint32_t acct, enum mail_log_type kind,
    const void *v, size_t len, uint32_t *id_r, struct buf *err)
{
	struct obj_op o = { .acct = acct, .kind = kind, .v = v, .len = len };

	if (kv_run(mail_kv(m), KV_WRITE, create_txn, &o, err) < 0)
		return -1;
	*id_r = o.id;
	return 0;
}

static int
get_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct obj_op *o = arg;

	/* a retried attempt starts again */
	buf_truncate(o->out, o->mark);
	o->res = mail_obj_get_txn(t, o->acct, o->kind, o->id, o->out, err);
	return o->res < 0 ? o->res : 0;
}

int
mail_obj_get(struct mail *m, uint32_t acct, enum mail_log_type kind,
    uint32_t id, struct buf *v, struct buf *err)
{
	struct obj_op o = { .acct = acct, .kind = kind, .id = id, .out = v,
	    .mark = v->len };

	if (kv_run(mail_kv(m), KV_READ, get_txn, &o, err) < 0)
		return -1;
	return o.res;
}

static int
put_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct obj_op *o = arg;

	o->res = mail_obj_put_txn(t, o->acct, o->kind, o->id, o->v, o->len,
	    o->op, err);
	return o->res < 0 ? o->res : 0;
}

int
mail_obj_put(struct mail *m, uint32_t acct, enum mail_log_type kind,
    uint32_t id, const void *v, size_t len, enum mail_log_op op,
    struct buf *err)
{
	struct obj_op o = { .acct = acct, .kind = kind, .id = id, .v = v,
	    .len = len, .op = op };

	if (kv_run(mail_kv(m), KV_WRITE, put_txn, &o, err) < 0)
		return -1;
	return o.res;
}

static int
destroy_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct obj_op *o = arg;

	o->res = mail_obj_destroy_txn(t, o->acct, o->kind, o->id, err);
	return o->res < 0 ? o->res : 0;
}

int
mail_obj_destroy(struct mail *m, uint32_t acct, enum mail_log_type kind,
    uint32_t id, struct buf *err)
{
	struct obj_op o = { .acct = acct, .kind = kind, .id = id };

	if (kv_run(mail_kv(m), KV_WRITE, destroy_txn, &o, err) < 0)
		return -1;
	return o.res;
}

int
mail_obj_list(struct mail *m, uint32_t acct, enum mail_log_type kind,
    mail_obj_fn *fn, void *arg, struct buf *err)
{
	struct buf prefix = BUF_INIT(0);
	struct list_cb c = { fn, arg };
	int r;

	(void)counter_name(kind);
	mail_key_acct(&prefix, 'J', acct);
	key_u8(&prefix, (uint8_t)kind);
	r = kv_scan(mail_kv(m), prefix.data, prefix.len, prefix.data,
	    prefix.len, list_row, &c, err);
	buf_free(&prefix);
	return r;
}

/* ---- the submission rate ---- */

static int
rate_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct obj_op *o = arg;
	struct buf k = BUF_INIT(0), start = BUF_INIT(0);
	int r;

	mail_key_acct(&k, 'J', o->acct);
	key_u8(&k, 'r');
	buf_add(&start, k.data, k.len);
	key_u64(&start, 0);
	key_u64(&k, o->window);
	/* the windows before this one are over: their counts go */
	r = kv_delete_range(t, start.data, start.len, k.data, k.len, err);
	if (r == 0)
		r = kv_add(t, k.data, k.len, 1, &o->count, err);
	buf_free(&k);
	buf_free(&start);
	return r;
}

int
mail_obj_rate_add(struct mail *m, uint32_t acct, uint64_t window,
    uint64_t *count_r, struct buf *err)
{
	struct obj_op o = { .acct = acct, .window = window };

	if (kv_run(mail_kv(m), KV_WRITE, rate_txn, &o, err) < 0)
		return -1;
	*count_r = o.count < 0 ? 0 : (uint64_t)o.count;
	return 0;
}
