/*
 * mail_meta.c - annotations: the entries of IMAP METADATA (RFC 5464) of
 * an account, on the server (mailbox MAIL_META_SERVER, 0: no mailbox
 * has that id) or on one of its mailboxes.  The contract is mail.h's
 * "annotations" block; this is how.
 *
 * Keys (store/LAYOUT.md): 'N' acct mbox lower(entry name) 0x00 -> the
 * value, opaque bytes (a literal8 may hold NUL).  The name is the whole
 * entry path, "/private/..." or "/shared/...", so:
 *   - an entry is one get, and the entries below one (GETMETADATA DEPTH
 *     1 and infinity) are one prefix scan of name + "/", in name order;
 *   - RFC 5464 3.2 makes names case-insensitive: they are folded to
 *     lowercase here, once, and come back lowercase (as Dovecot does);
 *   - a mailbox's entries are the prefix 'N' acct mbox, which
 *     mail_mailbox_delete_txn deletes with the mailbox's other keys;
 *     RENAME keeps them, mailboxes being named by id, and an id is
 *     never reused, so a new mailbox of an old name starts empty.
 *
 * /private and /shared are both kept per account: with no mailbox
 * shared between accounts yet, a mailbox's /shared entries are seen by
 * its one user, which is what RFC 5464 3.2 says of /shared for a
 * mailbox only its owner can read; server entries are per account too,
 * as Dovecot keeps them (an account cannot write what others read).
 *
 * Every write notes the account (kv_txn_note), so the store's change
 * hooks hear of it after the commit.  The IMAP layer applies the value
 * size limit and answers the special entries (/private/specialuse, RFC
 * 6154 4) itself; the entry count limit is applied here, inside the
 * transaction that adds the entry, so two sessions cannot pass it
 * together.
 */
#include <string.h>

#include "store/mail_priv.h"

#define META_SPACE 'N'

/* name_ok - a full entry name (top false) or also the bare "/private"
 * and "/shared" (top true: only below them can entries be) */
static bool
name_ok(const char *name, bool top)
{
	size_t n = strlen(name), skip;

	if (n == 0 || n > MAIL_META_NAME_MAX || name[n - 1] == '/')
		return false;
	if (ascii_strncasecmp(name, "/private", 8) == 0 &&
	    (name[8] == '\0' || name[8] == '/'))
		skip = 8;
	else if (ascii_strncasecmp(name, "/shared", 7) == 0 &&
	    (name[7] == '\0' || name[7] == '/'))
		skip = 7;
	else
		return false;
	if (name[skip] == '\0')
		return top;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f || c == '*' || c == '%' ||
		    (c == '/' && name[i + 1] == '/'))
			return false;
	}
	return true;
}

bool
mail_meta_name_is_valid(const char *name)
{
	return name_ok(name, false);
}

/* meta_key - 'N' acct mbox lower(name), then 0x00 when term */
static void
meta_key(struct buf *k, uint32_t acct, uint32_t mbox, const char *name,
    bool term)
{
	mail_key_id(k, META_SPACE, acct, mbox);
	for (const char *p = name; *p != '\0'; p++)
		key_u8(k, (uint8_t)ascii_tolower((unsigned char)*p));
	if (term)
		key_u8(k, 0);
}

int
mail_meta_get_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const char *name, struct buf *val, struct buf *err)
{
	struct buf k = BUF_INIT(0);
	int r;

	if (!name_ok(name, false))
		return 0;		/* no such entry can exist */
	meta_key(&k, acct, mbox, name, true);
	r = kv_get(t, k.data, k.len, val, err);
	buf_free(&k);
	return r;
}

struct scan {
	size_t plen;		/* the prefix scanned */
	bool children;		/* one level below only */
	mail_meta_fn *fn;
	void *arg;
};

static int
scan_row(void *arg, const unsigned char *key, size_t klen,
    const unsigned char *val, size_t vlen, struct buf *err)
{
	struct scan *sc = arg;
	const size_t head = 1 + 4 + 4;	/* 'N' acct mbox */
	int r;

	/* ours end in 0x00 after a name; anything else is corrupt */
	if (klen <= head + 1 || key[klen - 1] != 0 ||
	    memchr(key + head, 0, klen - head - 1) != NULL) {
		buf_addf(err, "annotation key of %zu bytes is malformed", klen);
		return -1;
	}
	if (sc->children && memchr(key + sc->plen, '/',
	    klen - 1 - sc->plen) != NULL)
		return 0;		/* a grandchild: DEPTH 1 skips it */
	r = sc->fn(sc->arg, (const char *)key + head, val, vlen);
	if (r < 0 && err->len == 0)
		buf_addf(err, "annotation scan stopped");
	return r < 0 ? -1 : r > 0 ? 1 : 0;
}

int
mail_meta_scan_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const char *below, bool children_only, mail_meta_fn *fn, void *arg,
    struct buf *err)
{
	struct buf k = BUF_INIT(0);
	struct scan sc = { 0, children_only, fn, arg };
	int r;

	if (below[0] != '\0' && !name_ok(below, true))
		return 0;
	meta_key(&k, acct, mbox, below, false);
	if (below[0] != '\0')
		key_u8(&k, '/');
	sc.plen = k.len;
	r = kv_scan_txn(t, k.data, k.len, k.data, k.len, scan_row, &sc, err);
	buf_free(&k);
	return r;
}

static int
count_row(void *arg, const unsigned char *key, size_t klen,
    const unsigned char *val, size_t vlen, struct buf *err)
{
	size_t *n = arg;

	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	(void)err;
	(*n)++;
	return 0;
}

int
mail_meta_count_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    size_t *n_r, struct buf *err)
{
	struct buf k = BUF_INIT(0);
	int r;

	*n_r = 0;
	mail_key_id(&k, META_SPACE, acct, mbox);
	r = kv_scan_txn(t, k.data, k.len, k.data, k.len, count_row, n_r, err);
	buf_free(&k);
	return r;
}

int
mail_meta_set_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    const char *name, const void *value, size_t len, size_t max_entries,
    struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	size_t n;
	int r;

	if (!name_ok(name, false)) {
		buf_addf(err, "invalid annotation name");
		return -1;
	}
	if (value != NULL && len > KV_VALUE_MAX) {
		buf_addf(err, "annotation value of %zu bytes", len);
		return -1;
	}
	if (mbox != MAIL_META_SERVER) {
		/* in this transaction: a mailbox deleted meanwhile gets no
		 * entry left behind */
		mail_key_id(&k, 'M', acct, mbox);
		if ((r = kv_get(t, k.data, k.len, &v, err)) <= 0)
			goto out;
	}
	meta_key(&k, acct, mbox, name, true);
	if (value == NULL) {
		r = kv_delete(t, k.data, k.len, err);
		goto done;
	}
	buf_reset(&v);
	r = 0;
	if (max_entries > 0 && (r = kv_get(t, k.data, k.len, &v, err)) == 0) {
		/* a new entry: the count limit (RFC 5464 4.3 TOOMANY) */
		if ((r = mail_meta_count_txn(t, acct, mbox, &n, err)) < 0)
			goto out;
		if (n >= max_entries) {
			r = MAIL_META_TOOMANY;
			goto out;
		}
	}
	if (r < 0)
		goto out;
	r = kv_put(t, k.data, k.len, value, len, err);
done:
	if (r == 0) {
		kv_txn_note(t, acct);
		r = 1;
	}
out:
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* ---- in a transaction of their own ---- */

struct get_op {
	uint32_t acct, mbox;
	const char *name;
	struct buf *val;
	size_t len0;
	int r;
};

static int
get_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct get_op *op = arg;

	buf_truncate(op->val, op->len0);	/* a retried attempt */
	op->r = mail_meta_get_txn(t, op->acct, op->mbox, op->name, op->val,
	    err);
	return op->r < 0 ? op->r : 0;
}

int
mail_meta_get(struct mail *m, uint32_t acct, uint32_t mbox, const char *name,
    struct buf *val, struct buf *err)
{
	struct get_op op = { acct, mbox, name, val, val->len, 0 };

	if (kv_run(mail_kv(m), KV_READ, get_txn, &op, err) < 0)
		return -1;
	return op.r;
}

struct set_op {
	uint32_t acct, mbox;
	const char *name;
	const void *value;
	size_t len, max_entries;
	int r;
};

static int
set_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct set_op *op = arg;

	op->r = mail_meta_set_txn(t, op->acct, op->mbox, op->name, op->value,
	    op->len, op->max_entries, err);
	if (op->r == MAIL_META_TOOMANY)
		return -1;	/* nothing to commit */
	return op->r < 0 ? op->r : 0;
}

int
mail_meta_set(struct mail *m, uint32_t acct, uint32_t mbox, const char *name,
    const void *value, size_t len, size_t max_entries, struct buf *err)
{
	struct set_op op = { acct, mbox, name, value, len, max_entries, 0 };

	if (kv_run(mail_kv(m), KV_WRITE, set_txn, &op, err) < 0)
		return op.r == MAIL_META_TOOMANY ? op.r : -1;
	return op.r;
}
