/*
 * mail_thread.c - threads (RFC 8621 3; see mail.h): which thread a new
 * email joins, the emails of a thread in receivedAt order, and the
 * thread change log (JMAP Thread/changes).
 *
 * Keys (store/LAYOUT.md):
 *   'C' acct "thread" 0x00            -> last thread id (kv_add)
 *   'T' acct thread received email    -> "" (one key per email of the
 *                                        thread; received is received_at
 *                                        as a u64 with the sign bit
 *                                        flipped, so the prefix scan of a
 *                                        thread is in receivedAt order,
 *                                        then email id: Thread/get's
 *                                        order, stable)
 *   'R' acct sha256(msg-id)[0..8]     -> up to MAIL_THREAD_REFS entries
 *                                        of subject(u64) thread(u32),
 *                                        oldest first (subject 0 = none)
 *
 * The rule.  An email's msg-ids are its Message-ID, its In-Reply-To and
 * its References (at most MAIL_THREAD_IDS of them: the nearest
 * references and the root).  It joins the thread of the first of them,
 * in that order (references nearest first; per id the oldest entry
 * first), that an earlier email of the account registered with a
 * matching base subject (RFC 5256 base subject, ASCII case folded,
 * hashed; an empty subject matches any), as Fastmail and Stalwart do:
 * a reply with a changed subject starts a new thread, and a bot's "Re:"
 * to an unrelated id does not hijack one.  No ids, or no parsed message
 * (info NULL): a thread of its own; a subject alone never joins.
 * Then every msg-id of the email is registered for its thread, so a
 * later reply finds it through its Message-ID, and a parent that
 * arrives after its reply finds the thread through its own Message-ID,
 * which the reply registered as a reference.
 *
 * Threads never merge: RFC 8621 3 makes an email's threadId immutable,
 * so when an email's ids point into two threads it joins the first (as
 * above) and the other thread stays as it is.  Entries of threads that
 * no longer exist are skipped (a 'T' prefix check).  A msg-id is hashed
 * to 64 bits: a collision could join two unrelated conversations of one
 * account only if their subjects also match.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/mail_priv.h"

#define REF_LEN 12	/* 'R' entry: subject hash, thread */

/* hash8 - the first 8 bytes of SHA-256 as a u64; ASCII folded if asked */
static uint64_t
hash8(const char *s, bool fold)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	struct buf b = BUF_INIT(0);
	uint64_t h;

	buf_add_str(&b, s);
	if (fold)
		for (size_t i = 0; i < b.len; i++)
			b.data[i] = (unsigned char)ascii_tolower(b.data[i]);
	if (EVP_Digest(b.data != NULL ? b.data : (unsigned char *)"", b.len,
	    md, &n, EVP_sha256(), NULL) != 1 || n < 8)
		PANIC("SHA-256 failed");
	buf_free(&b);
	h = get_u64(md);
	return h;
}

/* subject_hash - 0 for "no subject", which matches any */
static uint64_t
subject_hash(const char *base)
{
	uint64_t h;

	if (base == NULL || base[0] == '\0')
		return 0;
	h = hash8(base, true);
	return h == 0 ? 1 : h;
}

static bool
subject_match(uint64_t a, uint64_t b)
{
	return a == 0 || b == 0 || a == b;
}

static void
key_ref(struct buf *k, uint32_t acct, uint64_t id)
{
	mail_key_acct(k, 'R', acct);
	key_u64(k, id);
}

/* received_key - received_at in key order */
static uint64_t
received_key(int64_t received_at)
{
	return (uint64_t)received_at ^ (UINT64_C(1) << 63);
}

struct ids {
	uint64_t v[MAIL_THREAD_IDS];
	size_t n;
};

static void
ids_add(struct ids *s, const char *id)
{
	uint64_t h;

	if (s->n == ARRAY_SIZE(s->v) || id == NULL || id[0] == '\0')
		return;
	h = hash8(id, false);
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i] == h)
			return;
	s->v[s->n++] = h;
}

/* collect - the msg-ids to look up, in lookup order (see the top) */
static void
collect(const struct mime_info *info, struct ids *s)
{
	const struct mime_idlist *refs = &info->hdr.references;
	size_t room;

	for (uint32_t i = 0; i < info->hdr.message_id.n; i++)
		ids_add(s, info->hdr.message_id.v[i]);
	for (uint32_t i = 0; i < info->hdr.in_reply_to.n; i++)
		ids_add(s, info->hdr.in_reply_to.v[i]);
	if (refs->n == 0)
		return;
	room = ARRAY_SIZE(s->v) - s->n;
	if (refs->n <= room) {
		for (uint32_t i = refs->n; i-- > 0; )
			ids_add(s, refs->v[i]);
		return;
	}
	/* too many: the nearest ones and the root, which keeps a long
	 * conversation together even when the middle is lost */
	for (uint32_t i = refs->n; room > 1 && i-- > 1; room--)
		ids_add(s, refs->v[i]);
	ids_add(s, refs->v[0]);
}

/* thread_alive - 1 when thread has an email, 0 when not */
static int
thread_alive(struct kv_txn *t, uint32_t acct, uint32_t thread,
    struct buf *err)
{
	struct buf prefix = BUF_INIT(0);
	int r;

	mail_key_id(&prefix, 'T', acct, thread);
	r = mail_first_key(t, &prefix, NULL, err);
	buf_free(&prefix);
	return r;
}

static int
get_refs(struct kv_txn *t, uint32_t acct, uint64_t id, struct buf *k,
    struct buf *v, struct buf *err)
{
	int r;

	key_ref(k, acct, id);
	buf_reset(v);
	r = kv_get(t, k->data, k->len, v, err);
	if (r == 1 && v->len % REF_LEN != 0) {
		buf_addf(err, "account %u: malformed thread reference", acct);
		return -1;
	}
	return r;
}

/* lookup - the thread an email with these ids and subject joins, or 0 */
static int
lookup(struct kv_txn *t, uint32_t acct, const struct ids *s, uint64_t subj,
    uint32_t *thread_r, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r = 0;

	*thread_r = 0;
	for (size_t i = 0; r >= 0 && *thread_r == 0 && i < s->n; i++) {
		if ((r = get_refs(t, acct, s->v[i], &k, &v, err)) <= 0)
			continue;
		/* oldest entry first: the id's own thread (its first
		 * registrant) before later conversations that named it */
		for (size_t off = 0; off < v.len; off += REF_LEN) {
			const unsigned char *e = v.data + off;
			uint32_t th = get_u32(e + 8);

			if (!subject_match(get_u64(e), subj))
				continue;
			if ((r = thread_alive(t, acct, th, err)) < 0)
				break;
			if (r == 1) {
				*thread_r = th;
				break;
			}
		}
	}
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

/* reg - (subj, thread) onto each id's entries; when there are
 * MAIL_THREAD_REFS already the second oldest goes (the first is the id's
 * own thread as far as we know) */
static int
reg(struct kv_txn *t, uint32_t acct, const struct ids *s, uint64_t subj,
    uint32_t thread, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	unsigned char e[REF_LEN];
	bool have;
	int r = 0;

	for (size_t i = 0; r >= 0 && i < s->n; i++) {
		if ((r = get_refs(t, acct, s->v[i], &k, &v, err)) < 0)
			break;
		have = false;
		for (size_t off = 0; !have && off < v.len; off += REF_LEN)
			have = get_u64(v.data + off) == subj &&
			    get_u32(v.data + off + 8) == thread;
		if (have)
			continue;
		if (v.len >= MAIL_THREAD_REFS * REF_LEN) {
			/* full: keep the first entry, drop the next oldest */
			memmove(v.data + REF_LEN, v.data + 2 * REF_LEN,
			    v.len - 2 * REF_LEN);
			buf_truncate(&v, v.len - REF_LEN);
		}
		buf_reset(&k);
		key_ref(&k, acct, s->v[i]);
		memset(e, 0, sizeof(e));
		for (int j = 0; j < 8; j++)
			e[j] = (unsigned char)(subj >> (56 - 8 * j));
		for (int j = 0; j < 4; j++)
			e[8 + j] = (unsigned char)(thread >> (24 - 8 * j));
		buf_add(&v, e, sizeof(e));
		r = kv_put(t, k.data, k.len, v.data, v.len, err);
	}
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

int
mail_thread_assign(struct kv_txn *t, uint32_t acct,
    const struct mime_info *info, uint32_t email, int64_t received_at,
    uint32_t *thread_r, struct buf *err)
{
	struct ids *s = xcalloc(1, sizeof(*s));
	struct buf k = BUF_INIT(0);
	uint64_t subj = 0;
	uint32_t thread = 0;
	bool created = false;
	int r = 0;

	if (info != NULL) {
		collect(info, s);
		subj = subject_hash(info->hdr.base_subject);
		r = lookup(t, acct, s, subj, &thread, err);
	}
	if (r == 0 && thread == 0) {
		r = mail_counter_next_txn(t, acct, "thread", &thread, err);
		created = true;
	}
	if (r == 0)
		r = reg(t, acct, s, subj, thread, err);
	if (r == 0) {
		mail_key_id(&k, 'T', acct, thread);
		key_u64(&k, received_key(received_at));
		key_u32(&k, email);
		r = kv_put(t, k.data, k.len, "", 0, err);
	}
	if (r == 0)
		r = mail_log_append_txn(t, acct, MAIL_LOG_THREAD, created ?
		    MAIL_LOG_CREATED : MAIL_LOG_UPDATED, thread, NULL, err);
	if (r == 0)
		*thread_r = thread;
	buf_free(&k);
	free(s);
	return r;
}

int
mail_thread_remove(struct kv_txn *t, uint32_t acct, uint32_t thread,
    uint32_t email, int64_t received_at, struct buf *err)
{
	struct buf k = BUF_INIT(0);
	int r;

	mail_key_id(&k, 'T', acct, thread);
	key_u64(&k, received_key(received_at));
	key_u32(&k, email);
	if ((r = kv_delete(t, k.data, k.len, err)) == 0 &&
	    (r = thread_alive(t, acct, thread, err)) >= 0)
		r = mail_log_append_txn(t, acct, MAIL_LOG_THREAD, r == 1 ?
		    MAIL_LOG_UPDATED : MAIL_LOG_DESTROYED, thread, NULL, err);
	buf_free(&k);
	return r;
}

struct thread_ids {
	uint32_t *v;
	size_t n;
};

static int
thread_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct thread_ids *s = arg;

	(void)v;
	(void)vl;
	if (kl != 21) {
		buf_addf(err, "malformed thread key");
		return -1;
	}
	s->v = xreallocarray(s->v, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = get_u32(k + 17);
	return 0;
}

int
mail_thread_get_txn(struct kv_txn *t, uint32_t acct, uint32_t thread,
    uint32_t **ids_r, size_t *n_r, struct buf *err)
{
	struct thread_ids s = { NULL, 0 };
	struct buf prefix = BUF_INIT(0);
	int r;

	*ids_r = NULL;
	*n_r = 0;
	mail_key_id(&prefix, 'T', acct, thread);
	r = kv_scan_txn(t, prefix.data, prefix.len, prefix.data, prefix.len,
	    thread_row, &s, err);
	buf_free(&prefix);
	if (r < 0) {
		free(s.v);
		return r;
	}
	*ids_r = s.v;
	*n_r = s.n;
	return s.n > 0 ? 1 : 0;
}

struct thread_op {
	uint32_t acct, thread;
	uint32_t *ids;
	size_t n;
	int found;
};

static int
thread_get_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct thread_op *op = arg;

	free(op->ids);
	op->ids = NULL;
	op->found = mail_thread_get_txn(t, op->acct, op->thread, &op->ids,
	    &op->n, err);
	return op->found < 0 ? op->found : 0;
}

int
mail_thread_get(struct mail *m, uint32_t acct, uint32_t thread,
    uint32_t **ids_r, size_t *n_r, struct buf *err)
{
	struct thread_op op = { acct, thread, NULL, 0, 0 };

	if (kv_run(mail_kv(m), KV_READ, thread_get_txn, &op, err) < 0) {
		free(op.ids);
		*ids_r = NULL;
		*n_r = 0;
		return -1;
	}
	*ids_r = op.ids;
	*n_r = op.n;
	return op.found;
}
