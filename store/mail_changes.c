/*
 * mail_changes.c - the change log (see mail.h): one record per change of
 * a mailbox, email or thread, JMAP's /changes over it (RFC 8620 5.2),
 * the current state of each type, and pruning with a horizon.
 *
 * Keys (store/LAYOUT.md):
 *   'C' acct "state" 0x00       -> last state handed out (kv_add); states
 *                                  are shared by the types of an account
 *   'C' acct "horizon-" type    -> the last state pruned of that type
 *                                  (u64; absent = 0, nothing pruned)
 *   'L' acct type(u8) state     -> LOG_ID (u64: the mailbox, email or
 *                                  thread id), LOG_OP (1 byte:
 *                                  enum mail_log_op)
 *
 * A type's state (Foo/get "state") is the state of its last record, so
 * it changes only when something of that type changed.  /changes folds
 * the records after since per id: the first and last op decide (created
 * wins over later updates; created then destroyed is left out; anything
 * then destroyed is destroyed; else updated).  Paging: ids are taken in
 * state order until max_changes distinct ids are held, and the state of
 * the last record taken becomes new_state; every record up to it is in
 * the answer, so the next call from it is exact.
 *
 * Pruning deletes records up to a state and remembers per type the last
 * one pruned (the horizon).  A since >= horizon still sees every record
 * after since, so the answer stays exact; an older since is
 * cannot_calculate (the client resyncs).
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/mail_priv.h"

enum {	/* change record */
	LOG_ID = 1, LOG_OP,
};

static const enum mail_log_type log_types[] = {
	MAIL_LOG_MAILBOX, MAIL_LOG_EMAIL, MAIL_LOG_THREAD, MAIL_LOG_IDENTITY,
	MAIL_LOG_SUBMISSION, MAIL_LOG_VACATION,
};

int
mail_log_append_txn(struct kv_txn *t, uint32_t acct, enum mail_log_type type,
    enum mail_log_op op, uint32_t id, uint64_t *state_r, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	unsigned char opc = (unsigned char)op;
	int64_t state;
	int r;

	mail_key_counter(&k, acct, "state");
	r = kv_add(t, k.data, k.len, 1, &state, err);
	if (r == 0) {
		mail_key_acct(&k, 'L', acct);
		key_u8(&k, (uint8_t)type);
		key_u64(&k, (uint64_t)state);
		rec_put_u64(&v, LOG_ID, id);
		rec_put_bytes(&v, LOG_OP, &opc, 1);
		r = kv_put(t, k.data, k.len, v.data, v.len, err);
	}
	/* once t commits, the store's change hooks hear of acct (IDLE) */
	if (r == 0)
		kv_txn_note(t, acct);
	if (r == 0 && state_r != NULL)
		*state_r = (uint64_t)state;
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* log_decode - one record's state, op and id */
static int
log_decode(const unsigned char *k, size_t kl, const unsigned char *v,
    size_t vl, uint64_t *state_r, int *op_r, uint32_t *id_r,
    struct buf *err)
{
	struct rec_reader rr;
	const unsigned char *d;
	size_t n;
	uint8_t tag;
	uint64_t id = UINT64_MAX;
	int op = -1, r;

	if (kl != 14)
		goto bad;
	rec_reader_init(&rr, v, vl);
	while ((r = rec_next(&rr, &tag, &d, &n)) == 1) {
		if (tag == LOG_ID && !rec_u64(d, n, &id))
			goto bad;
		if (tag == LOG_OP && n == 1)
			op = d[0];
	}
	if (r < 0 || id > UINT32_MAX || op < 0)
		goto bad;
	*state_r = get_u64(k + 6);
	*op_r = op;
	*id_r = (uint32_t)id;
	return 0;
bad:
	buf_addf(err, "malformed change record");
	return -1;
}

/* ---- mail_log_scan ---- */

struct log_cb {
	mail_log_fn *fn;
	void *arg;
};

static int
log_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct log_cb *c = arg;
	uint64_t state;
	uint32_t id;
	int op, r;

	if (log_decode(k, kl, v, vl, &state, &op, &id, err) < 0)
		return -1;
	r = c->fn(c->arg, state, (enum mail_log_op)op, id);
	if (r < 0)
		buf_addf(err, "callback failed");
	return r < 0 ? -1 : r > 0 ? 1 : 0;
}

static void
key_log(struct buf *k, uint32_t acct, enum mail_log_type type,
    uint64_t state)
{
	mail_key_acct(k, 'L', acct);
	key_u8(k, (uint8_t)type);
	key_u64(k, state);
}

int
mail_log_scan(struct mail *m, uint32_t acct, enum mail_log_type type,
    uint64_t since, mail_log_fn *fn, void *arg, struct buf *err)
{
	struct buf prefix = BUF_INIT(0), start = BUF_INIT(0);
	struct log_cb c = { fn, arg };
	int r;

	if (since == UINT64_MAX)
		return 0;
	mail_key_acct(&prefix, 'L', acct);
	key_u8(&prefix, (uint8_t)type);
	key_log(&start, acct, type, since + 1);
	r = kv_scan(mail_kv(m), start.data, start.len, prefix.data,
	    prefix.len, log_row, &c, err);
	buf_free(&prefix);
	buf_free(&start);
	return r;
}

/* ---- states ---- */

/* get_u64_key - an 8-byte value, 0 when absent */
static int
get_u64_key(struct kv_txn *t, const struct buf *k, uint64_t *v_r,
    struct buf *err)
{
	struct buf v = BUF_INIT(0);
	int r;

	*v_r = 0;
	r = kv_get(t, k->data, k->len, &v, err);
	if (r == 1 && v.len != 8) {
		buf_addf(err, "malformed counter");
		r = -1;
	} else if (r == 1)
		*v_r = get_u64(v.data);
	buf_free(&v);
	return r < 0 ? r : 0;
}

static void
key_horizon(struct buf *k, uint32_t acct, enum mail_log_type type)
{
	char name[] = "horizon-?";

	name[sizeof(name) - 2] = (char)type;
	mail_key_counter(k, acct, name);
}

/* last_state - the state of the last record of type below end (0 none) */
static int
last_state(struct kv_txn *t, uint32_t acct, enum mail_log_type type,
    uint64_t below, uint64_t *state_r, struct buf *err)
{
	struct buf start = BUF_INIT(0), end = BUF_INIT(0);
	struct kv_iter *it;
	const void *kp, *vp;
	size_t kl, vl;
	int r;

	*state_r = 0;
	key_log(&start, acct, type, 0);
	key_log(&end, acct, type, below);
	r = kv_iter_new(t, start.data, start.len, end.data, end.len, true,
	    &it, err);
	if (r == 0) {
		r = kv_iter_next(it, &kp, &kl, &vp, &vl, err);
		if (r == 1 && kl != 14) {
			buf_addf(err, "malformed change key");
			r = -1;
		} else if (r == 1)
			*state_r = get_u64((const unsigned char *)kp + 6);
		kv_iter_free(&it);
	}
	buf_free(&start);
	buf_free(&end);
	return r < 0 ? r : 0;
}

/* type_state - Foo/get's state: last record, else horizon, else 0 */
static int
type_state(struct kv_txn *t, uint32_t acct, enum mail_log_type type,
    uint64_t *state_r, uint64_t *horizon_r, struct buf *err)
{
	struct buf k = BUF_INIT(0);
	uint64_t last;
	int r;

	key_horizon(&k, acct, type);
	if ((r = get_u64_key(t, &k, horizon_r, err)) == 0 &&
	    (r = last_state(t, acct, type, UINT64_MAX, &last, err)) == 0)
		*state_r = last > *horizon_r ? last : *horizon_r;
	buf_free(&k);
	return r;
}

struct state_op {
	uint32_t acct;
	enum mail_log_type type;
	uint64_t state;
};

static int
state_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct state_op *op = arg;
	struct buf k = BUF_INIT(0);
	uint64_t horizon;
	int r;

	if (op->type == 0) {
		mail_key_counter(&k, op->acct, "state");
		r = get_u64_key(t, &k, &op->state, err);
		buf_free(&k);
		return r;
	}
	return type_state(t, op->acct, op->type, &op->state, &horizon, err);
}

int
mail_current_state(struct mail *m, uint32_t acct, enum mail_log_type type,
    uint64_t *state_r, struct buf *err)
{
	struct state_op op = { acct, type, 0 };

	if (kv_run(mail_kv(m), KV_READ, state_txn, &op, err) < 0)
		return -1;
	*state_r = op.state;
	return 0;
}

/* ---- /changes ---- */

struct chg {
	uint32_t id;
	uint8_t first, last;
	bool more_than_counts;
};

struct changes_op {
	uint32_t acct;
	enum mail_log_type type;
	uint64_t since;
	size_t max;
	struct mail_changes *ch;
	/* the ids seen, in first-seen order, and an open-addressing index */
	struct chg *v;
	size_t n;
	uint32_t *slot;		/* index + 1; 0 = empty */
	size_t nslot;		/* a power of two, > 2n */
	uint64_t taken;		/* state of the last record taken */
};

static size_t
slot_of(const struct changes_op *op, uint32_t id)
{
	size_t i = (id * UINT32_C(2654435761)) & (op->nslot - 1);

	while (op->slot[i] != 0 && op->v[op->slot[i] - 1].id != id)
		i = (i + 1) & (op->nslot - 1);
	return i;
}

static void
grow(struct changes_op *op)
{
	size_t old = op->nslot;
	uint32_t *s = op->slot;

	op->nslot = old == 0 ? 64 : old * 2;
	op->slot = xcalloc(op->nslot, sizeof(*op->slot));
	for (size_t i = 0; i < old; i++)
		if (s[i] != 0)
			op->slot[slot_of(op, op->v[s[i] - 1].id)] = s[i];
	free(s);
}

static int
change_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct changes_op *op = arg;
	struct chg *c;
	uint64_t state;
	uint32_t id;
	size_t i;
	int o;

	if (log_decode(k, kl, v, vl, &state, &o, &id, err) < 0)
		return -1;
	if (op->nslot == 0 || op->n >= op->nslot / 2)
		grow(op);
	i = slot_of(op, id);
	if (op->slot[i] == 0) {
		if (op->n == op->max) {
			op->ch->has_more = true;
			return 1;
		}
		op->v = xreallocarray(op->v, op->n + 1, sizeof(*op->v));
		c = &op->v[op->n++];
		op->slot[i] = (uint32_t)op->n;
		c->id = id;
		c->first = (uint8_t)o;
		c->more_than_counts = false;
	} else
		c = &op->v[op->slot[i] - 1];
	c->last = (uint8_t)o;
	if (o != MAIL_LOG_COUNTS)
		c->more_than_counts = true;
	op->taken = state;
	return 0;
}

static void
push(uint32_t **v, size_t *n, uint32_t id)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = id;
}

/* fold - each id's answer (see the top) */
static void
fold(struct changes_op *op)
{
	struct mail_changes *ch = op->ch;
	bool counts_only = true;

	for (size_t i = 0; i < op->n; i++) {
		const struct chg *c = &op->v[i];

		if (c->first == MAIL_LOG_CREATED) {
			if (c->last != MAIL_LOG_DESTROYED)
				push(&ch->created, &ch->ncreated, c->id);
		} else if (c->last == MAIL_LOG_DESTROYED) {
			push(&ch->destroyed, &ch->ndestroyed, c->id);
		} else {
			push(&ch->updated, &ch->nupdated, c->id);
			if (c->more_than_counts)
				counts_only = false;
		}
	}
	ch->counts_only = ch->nupdated > 0 && counts_only;
}

static int
changes_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct changes_op *op = arg;
	struct buf k = BUF_INIT(0), prefix = BUF_INIT(0);
	uint64_t last, current, horizon;
	int r;

	/* a retried attempt starts again */
	mail_changes_clear(op->ch);
	free(op->v);
	free(op->slot);
	op->v = NULL;
	op->slot = NULL;
	op->n = op->nslot = 0;
	op->taken = 0;
	mail_key_counter(&k, op->acct, "state");
	if ((r = get_u64_key(t, &k, &last, err)) < 0 ||
	    (r = type_state(t, op->acct, op->type, &current, &horizon,
	    err)) < 0)
		goto out;
	if (op->since < horizon || op->since > last) {
		op->ch->cannot_calculate = true;
		goto out;
	}
	mail_key_acct(&prefix, 'L', op->acct);
	key_u8(&prefix, (uint8_t)op->type);
	key_log(&k, op->acct, op->type, op->since + 1);
	if (op->since == UINT64_MAX ||
	    (r = kv_scan_txn(t, k.data, k.len, prefix.data, prefix.len,
	    change_row, op, err)) < 0)
		goto out;
	fold(op);
	op->ch->new_state = op->ch->has_more ? op->taken : current;
out:
	buf_free(&k);
	buf_free(&prefix);
	return r;
}

void
mail_changes_clear(struct mail_changes *ch)
{
	free(ch->created);
	free(ch->updated);
	free(ch->destroyed);
	memset(ch, 0, sizeof(*ch));
}

int
mail_changes(struct mail *m, uint32_t acct, enum mail_log_type type,
    uint64_t since, size_t max_changes, struct mail_changes *ch,
    struct buf *err)
{
	struct changes_op op;
	int r;

	memset(ch, 0, sizeof(*ch));
	memset(&op, 0, sizeof(op));
	op.acct = acct;
	op.type = type;
	op.since = since;
	op.max = max_changes == 0 || max_changes > MAIL_CHANGES_MAX ?
	    MAIL_CHANGES_MAX : max_changes;
	op.ch = ch;
	r = kv_run(mail_kv(m), KV_READ, changes_txn, &op, err);
	free(op.v);
	free(op.slot);
	if (r < 0)
		mail_changes_clear(ch);
	return r;
}

/* ---- pruning ---- */

struct prune_op {
	uint32_t acct;
	uint64_t keep_after;
};

static int
prune_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct prune_op *op = arg;
	struct buf k = BUF_INIT(0), start = BUF_INIT(0), end = BUF_INIT(0);
	struct buf v = BUF_INIT(0);
	uint64_t keep = op->keep_after, last, pruned, horizon;
	int r;

	mail_key_counter(&k, op->acct, "state");
	if ((r = get_u64_key(t, &k, &last, err)) < 0)
		goto out;
	if (keep > last)
		keep = last;
	for (size_t i = 0; i < ARRAY_SIZE(log_types); i++) {
		enum mail_log_type type = log_types[i];

		if ((r = last_state(t, op->acct, type, keep + 1, &pruned,
		    err)) < 0)
			break;
		if (pruned == 0)
			continue;	/* nothing of this type to prune */
		key_horizon(&k, op->acct, type);
		if ((r = get_u64_key(t, &k, &horizon, err)) < 0)
			break;
		if (pruned > horizon) {
			buf_reset(&v);
			key_u64(&v, pruned);
			if ((r = kv_put(t, k.data, k.len, v.data, v.len,
			    err)) < 0)
				break;
		}
		key_log(&start, op->acct, type, 0);
		key_log(&end, op->acct, type, keep + 1);
		if ((r = kv_delete_range(t, start.data, start.len, end.data,
		    end.len, err)) < 0)
			break;
	}
out:
	buf_free(&k);
	buf_free(&start);
	buf_free(&end);
	buf_free(&v);
	return r;
}

int
mail_log_prune(struct mail *m, uint32_t acct, uint64_t keep_after,
    struct buf *err)
{
	struct prune_op op = { acct, keep_after };

	return kv_run(mail_kv(m), KV_WRITE, prune_txn, &op, err);
}
