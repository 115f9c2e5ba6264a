/*
 * mail_vacation.c - an account's VacationResponse (RFC 8621 8) and the
 * record of the auto-replies sent for it (RFC 3834 2: at most one per
 * sender per period).  See mail.h for the contract.
 *
 * Keys (store/LAYOUT.md):
 *   'V' acct 'r'                 -> the response (VR_* fields; a string
 *                                   or date field absent = null)
 *   'V' acct 's' sha256(lower(sender))[0..16]
 *                                -> u64 unix seconds of the last reply
 *   'L' acct 'v' state           -> its change record (mail_changes.c)
 *
 * The JMAP state of the type is the state of its last change record; no
 * /changes exists for a singleton (RFC 8621 8), so a write drops the
 * older records of the type and the log holds one per account.
 *
 * Senders are hashed so that a key has a fixed length whatever the
 * address (a 16-byte prefix of SHA-256: a collision would only cost one
 * auto-reply).  Writing the response again deletes every sender key:
 * the record grows by the senders of one setting, never for ever.
 * XXX a response left enabled for months keeps one key per distinct
 * sender it answered; a prune of keys older than their period in the
 * delivery agent's hourly pass would bound it.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "common/xalloc.h"
#include "store/mail_priv.h"

enum {	/* the response record */
	VR_ENABLED = 1, VR_FROM, VR_TO, VR_SUBJECT, VR_TEXT, VR_HTML,
	VR_PERIOD,
};

#define SENDER_HASH 16u

void
mail_vacation_clear(struct mail_vacation *v)
{
	free(v->subject);
	free(v->text);
	free(v->html);
	memset(v, 0, sizeof(*v));
}

static void
key_record(struct buf *k, uint32_t acct)
{
	mail_key_acct(k, 'V', acct);
	key_u8(k, 'r');
}

/* key_sender - 'V' acct 's' and the hash of sender in lower case */
static void
key_sender(struct buf *k, uint32_t acct, const char *sender)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	struct buf low = BUF_INIT(0);

	for (const char *p = sender; *p != '\0'; p++) {
		unsigned char c = (unsigned char)ascii_tolower(*p);

		buf_add(&low, &c, 1);
	}
	SHA256(low.data != NULL ? low.data : (const unsigned char *)"",
	    low.len, md);
	buf_free(&low);
	mail_key_acct(k, 'V', acct);
	key_u8(k, 's');
	buf_add(k, md, SENDER_HASH);
}

static char *
dup_field(const unsigned char *d, size_t n)
{
	return xmemdup0(d, n);
}

static int
decode(const unsigned char *val, size_t len, struct mail_vacation *v,
    struct buf *err)
{
	struct rec_reader rr;
	const unsigned char *d;
	uint8_t tag;
	uint64_t u;
	size_t n;
	int r;

	rec_reader_init(&rr, val, len);
	while ((r = rec_next(&rr, &tag, &d, &n)) == 1) {
		switch (tag) {
		case VR_ENABLED:
			if (!rec_u64(d, n, &u))
				goto bad;
			v->enabled = u != 0;
			break;
		case VR_FROM:
		case VR_TO:
			if (!rec_u64(d, n, &u))
				goto bad;
			if (tag == VR_FROM) {
				v->has_from = true;
				v->from = (int64_t)u;
			} else {
				v->has_to = true;
				v->to = (int64_t)u;
			}
			break;
		case VR_SUBJECT:
			free(v->subject);
			v->subject = dup_field(d, n);
			break;
		case VR_TEXT:
			free(v->text);
			v->text = dup_field(d, n);
			break;
		case VR_HTML:
			free(v->html);
			v->html = dup_field(d, n);
			break;
		case VR_PERIOD:
			if (!rec_u64(d, n, &u) || u > UINT32_MAX)
				goto bad;
			v->period = (uint32_t)u;
			break;
		default:
			break;		/* a later field: skipped */
		}
	}
	if (r == 0)
		return 0;
bad:
	buf_addf(err, "corrupt vacation record");
	return -1;
}

struct get_op {
	uint32_t acct;
	struct mail_vacation *v;
	int found;
};

static int
get_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct get_op *op = arg;
	struct buf k = BUF_INIT(0), val = BUF_INIT(0);
	int r;

	mail_vacation_clear(op->v);
	key_record(&k, op->acct);
	r = kv_get(t, k.data, k.len, &val, err);
	op->found = r;
	if (r == 1 && decode(val.data, val.len, op->v, err) < 0)
		r = -1;
	buf_free(&k);
	buf_free(&val);
	return r < 0 ? r : 0;
}

int
mail_vacation_get(struct mail *m, uint32_t acct, struct mail_vacation *v,
    struct buf *err)
{
	struct get_op op = { acct, v, 0 };

	memset(v, 0, sizeof(*v));
	if (kv_run(mail_kv(m), KV_READ, get_txn, &op, err) < 0) {
		mail_vacation_clear(v);
		return -1;
	}
	return op.found;
}

struct put_op {
	uint32_t acct;
	const struct mail_vacation *v;
	uint64_t state;
};

/* drop_prefix - every key of k's prefix */
static int
drop_prefix(struct kv_txn *t, const struct buf *k, struct buf *err)
{
	unsigned char end[KV_KEY_MAX];
	size_t elen = kv_prefix_end(k->data, k->len, end);

	return kv_delete_range(t, k->data, k->len, end, elen, err);
}

static int
put_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct put_op *op = arg;
	const struct mail_vacation *v = op->v;
	struct buf k = BUF_INIT(0), val = BUF_INIT(0);
	int r;

	rec_put_u64(&val, VR_ENABLED, v->enabled ? 1 : 0);
	if (v->has_from)
		rec_put_u64(&val, VR_FROM, (uint64_t)v->from);
	if (v->has_to)
		rec_put_u64(&val, VR_TO, (uint64_t)v->to);
	if (v->subject != NULL)
		rec_put_str(&val, VR_SUBJECT, v->subject);
	if (v->text != NULL)
		rec_put_str(&val, VR_TEXT, v->text);
	if (v->html != NULL)
		rec_put_str(&val, VR_HTML, v->html);
	rec_put_u64(&val, VR_PERIOD, v->period);
	key_record(&k, op->acct);
	r = kv_put(t, k.data, k.len, val.data, val.len, err);
	/* the replies of the old setting are forgotten */
	if (r == 0) {
		mail_key_acct(&k, 'V', op->acct);
		key_u8(&k, 's');
		r = drop_prefix(t, &k, err);
	}
	/* one change record of the type is all a state needs */
	if (r == 0) {
		mail_key_acct(&k, 'L', op->acct);
		key_u8(&k, MAIL_LOG_VACATION);
		r = drop_prefix(t, &k, err);
	}
	if (r == 0)
		r = mail_log_append_txn(t, op->acct, MAIL_LOG_VACATION,
		    MAIL_LOG_UPDATED, 1, &op->state, err);
	buf_free(&k);
	buf_free(&val);
	return r;
}

int
mail_vacation_put(struct mail *m, uint32_t acct,
    const struct mail_vacation *v, uint64_t *state_r, struct buf *err)
{
	struct put_op op = { acct, v, 0 };

	if ((v->subject != NULL &&
	    strlen(v->subject) > MAIL_VACATION_SUBJECT_MAX) ||
	    (v->text != NULL && strlen(v->text) > MAIL_VACATION_BODY_MAX) ||
	    (v->html != NULL && strlen(v->html) > MAIL_VACATION_BODY_MAX)) {
		buf_addf(err, "vacation response over its limits");
		return -1;
	}
	if (kv_run(mail_kv(m), KV_WRITE, put_txn, &op, err) < 0)
		return -1;
	if (state_r != NULL)
		*state_r = op.state;
	return 0;
}

struct claim_op {
	uint32_t acct;
	const char *sender;
	int64_t now;
	uint32_t period;
	bool unclaim;
	int due;
};

static int
claim_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct claim_op *op = arg;
	struct buf k = BUF_INIT(0), val = BUF_INIT(0);
	int r;

	key_sender(&k, op->acct, op->sender);
	if (op->unclaim) {
		r = kv_delete(t, k.data, k.len, err);
		goto out;
	}
	r = kv_get(t, k.data, k.len, &val, err);
	if (r < 0)
		goto out;
	op->due = 1;
	/* a clock set back counts as "recently": never a reply storm */
	if (r == 1 && val.len == 8) {
		int64_t last = (int64_t)get_u64(val.data);

		if (last > op->now || op->now - last < (int64_t)op->period)
			op->due = 0;
	}
	r = 0;
	if (op->due) {
		buf_reset(&val);
		key_u64(&val, (uint64_t)op->now);
		r = kv_put(t, k.data, k.len, val.data, val.len, err);
	}
out:
	buf_free(&k);
	buf_free(&val);
	return r;
}

int
mail_vacation_claim(struct mail *m, uint32_t acct, const char *sender,
    int64_t now, uint32_t period, struct buf *err)
{
	struct claim_op op = { acct, sender, now, period, false, 0 };

	if (kv_run(mail_kv(m), KV_WRITE, claim_txn, &op, err) < 0)
		return -1;
	return op.due;
}

int
mail_vacation_unclaim(struct mail *m, uint32_t acct, const char *sender,
    struct buf *err)
{
	struct claim_op op = { acct, sender, 0, 0, true, 0 };

	return kv_run(mail_kv(m), KV_WRITE, claim_txn, &op, err);
}
