/*
 * directory.c - the internal directory over the data store (see
 * directory.h).
 *
 * Keys (store/LAYOUT.md):
 *   'D' 'd' domain 0x00              -> { created }
 *   'D' 'l' alias 0x00 target 0x00   -> ""   (one key per target)
 *   'a' name 0x00                    -> account id (u32)
 *   'A' id(u32)                      -> account record
 *   'C' 0(u32) "account" 0x00        -> last account id (kv_add)
 *
 * Every change is one kv_run transaction, so a concurrent "user add" of
 * the same name cannot create two accounts: the second sees the first's
 * 'a' key (writes are serialisable).  Account ids are never reused.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xalloc.h"
#include "directory/directory.h"
#include "directory/password.h"
#include "directory/directory_priv.h"
#include "store/rec.h"

struct directory *
directory_new(struct kv *kv, const struct dir_options *opt)
{
	struct directory *d = xcalloc(1, sizeof(*d));

	d->kv = kv;
	d->opt.subaddress_sep = '+';
	if (opt != NULL)
		d->opt = *opt;
	pthread_mutex_init(&d->mu, NULL);
	return d;
}

void
directory_free(struct directory **dp)
{
	struct directory *d = *dp;

	if (d == NULL)
		return;
	pthread_mutex_destroy(&d->mu);
	free(d->dummy_hash);
	free(d);
	*dp = NULL;
}

void
dir_account_clear(struct dir_account *a)
{
	free(a->name);
	free(a->display_name);
	if (a->password != NULL)
		explicit_bzero(a->password, strlen(a->password));
	free(a->password);
	memset(a, 0, sizeof(*a));
}

void
dir_rcpt_clear(struct dir_rcpt *r)
{
	for (size_t i = 0; i < r->nforwards; i++)
		free(r->forwards[i]);
	free(r->forwards);
	free(r->accounts);
	memset(r, 0, sizeof(*r));
}

int
dir_normalize(const char *in, struct buf *out, struct buf *err)
{
	size_t n = strlen(in);

	buf_reset(out);
	if (n == 0 || n > DIR_NAME_MAX) {
		buf_addf(err, "\"%.64s\": %s", in, n == 0 ? "empty name" :
		    "name too long");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x21 || c == 0x7f) {
			buf_addf(err, "\"%.64s\": control character or space "
			    "in name", in);
			return -1;
		}
		buf_add(out, &(char){ (char)ascii_tolower(c) }, 1);
	}
	return 0;
}

/* domain_of - the part after the last '@', or NULL */
const char *
domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : NULL;
}

/* check_addr - normalised "local@domain" (or "@domain" if catchall_ok) */
int
check_addr(const char *in, bool catchall_ok, struct buf *out,
    struct buf *err)
{
	const char *at;

	if (dir_normalize(in, out, err) < 0)
		return -1;
	at = strrchr(buf_cstr(out), '@');
	if (at == NULL || at[1] == '\0' ||
	    (at == buf_cstr(out) && !catchall_ok)) {
		buf_addf(err, "\"%s\": not an address (local@domain)%s", in,
		    catchall_ok ? " or catch-all (@domain)" : "");
		return -1;
	}
	return 0;
}

static void
key_domain(struct buf *k, const char *domain)
{
	buf_reset(k);
	key_u8(k, 'D');
	key_u8(k, 'd');
	key_str(k, domain);
}

void
key_name(struct buf *k, const char *name)
{
	buf_reset(k);
	key_u8(k, 'a');
	key_str(k, name);
}

void
key_account(struct buf *k, uint32_t id)
{
	buf_reset(k);
	key_u8(k, 'A');
	key_u32(k, id);
}

void
key_alias(struct buf *k, const char *alias, const char *target)
{
	buf_reset(k);
	key_u8(k, 'D');
	key_u8(k, 'l');
	key_str(k, alias);
	if (target != NULL)
		key_str(k, target);
}

/* exists - 1/0/-1 for one key */
int
exists(struct kv_txn *t, const struct buf *k, struct buf *err)
{
	struct buf v = BUF_INIT(0);
	int r = kv_get(t, k->data, k->len, &v, err);

	buf_free(&v);
	return r;
}

/* has_prefix - 1 when any key starts with k, 0 none, -1 */
int
has_prefix(struct kv_txn *t, const struct buf *k, struct buf *err)
{
	unsigned char end[KV_KEY_MAX];
	size_t elen = kv_prefix_end(k->data, k->len, end);
	struct kv_iter *it;
	const void *kp, *vp;
	size_t kl, vl;
	int r;

	if (kv_iter_new(t, k->data, k->len, elen > 0 ? end : NULL, elen, false,
	    &it, err) < 0)
		return -1;
	r = kv_iter_next(it, &kp, &kl, &vp, &vl, err);
	kv_iter_free(&it);
	return r;
}

/* ---- domains ---- */

struct domain_op {
	struct buf name, key;
	bool add;
};

static int
domain_op_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct domain_op *op = arg;
	struct buf v = BUF_INIT(0);
	int r;

	key_domain(&op->key, buf_cstr(&op->name));
	r = exists(t, &op->key, err);
	if (r < 0)
		return r;
	if (op->add) {
		if (r == 1) {
			buf_addf(err, "domain %s already exists",
			    buf_cstr(&op->name));
			return -1;
		}
		rec_put_u64(&v, F_CREATED, (uint64_t)time(NULL));
		r = kv_put(t, op->key.data, op->key.len, v.data, v.len, err);
		buf_free(&v);
		return r;
	}
	if (r == 0) {
		buf_addf(err, "unknown domain %s", buf_cstr(&op->name));
		return -1;
	}
	return kv_delete(t, op->key.data, op->key.len, err);
}

static int
domain_users(void *arg, const struct dir_account *a)
{
	(void)a;
	(*(size_t *)arg)++;
	return 0;
}

static int
domain_aliases(void *arg, const char *alias, const char *target)
{
	struct { const char *domain; size_t n; } *c = arg;
	const char *dom = domain_of(alias);

	(void)target;
	if (dom != NULL && strcmp(dom, c->domain) == 0)
		c->n++;
	return 0;
}

static int
domain_change(struct directory *d, const char *domain, bool add,
    struct buf *err)
{
	struct domain_op op = { BUF_INIT(0), BUF_INIT(0), add };
	int r = -1;

	if (dir_normalize(domain, &op.name, err) < 0)
		goto out;
	if (strchr(buf_cstr(&op.name), '@') != NULL) {
		buf_addf(err, "\"%s\": a domain has no '@'", domain);
		goto out;
	}
	if (!add) {
		/* checked before the delete, not in its transaction: a CLI
		 * race at worst leaves an account of a deleted domain */
		size_t users = 0;
		struct { const char *domain; size_t n; } al = {
			buf_cstr(&op.name), 0 };

		if (dir_user_list(d, buf_cstr(&op.name), domain_users, &users,
		    err) < 0 || dir_alias_list(d, domain_aliases, &al, err) < 0)
			goto out;
		if (users > 0 || al.n > 0) {
			buf_addf(err, "domain %s still has %zu accounts and "
			    "%zu aliases; delete them first",
			    buf_cstr(&op.name), users, al.n);
			goto out;
		}
	}
	r = kv_run(d->kv, KV_WRITE, domain_op_txn, &op, err);
out:
	buf_free(&op.name);
	buf_free(&op.key);
	return r;
}

int
dir_domain_add(struct directory *d, const char *domain, struct buf *err)
{
	return domain_change(d, domain, true, err);
}

int
dir_domain_del(struct directory *d, const char *domain, struct buf *err)
{
	return domain_change(d, domain, false, err);
}

struct get_op {
	struct buf key, val;
	int found;
};

static int
get_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct get_op *op = arg;

	buf_reset(&op->val);
	op->found = kv_get(t, op->key.data, op->key.len, &op->val, err);
	return op->found < 0 ? op->found : 0;
}

int
dir_domain_exists(struct directory *d, const char *domain, struct buf *err)
{
	struct get_op op = { BUF_INIT(0), BUF_INIT(0), 0 };
	struct buf name = BUF_INIT(0);
	int r = -1;

	if (dir_normalize(domain, &name, err) == 0) {
		key_domain(&op.key, buf_cstr(&name));
		r = kv_run(d->kv, KV_READ, get_txn, &op, err);
	}
	buf_free(&name);
	buf_free(&op.key);
	buf_free(&op.val);
	return r < 0 ? -1 : op.found;
}

int
scan(struct directory *d, const struct buf *prefix, kv_row_fn *fn, void *arg,
    struct buf *err)
{
	return kv_scan(d->kv, prefix->data, prefix->len, prefix->data,
	    prefix->len, fn, arg, err);
}

struct name_cb {
	dir_name_fn *fn;
	void *arg;
};

static int
domain_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct name_cb *c = arg;
	char *name;
	int r;

	(void)v;
	(void)vl;
	if (kl < 3 || k[kl - 1] != '\0') {
		buf_addf(err, "malformed domain key");
		return -1;
	}
	name = xmemdup0(k + 2, kl - 3);
	r = c->fn(c->arg, name);
	free(name);
	return r > 0 ? 1 : 0;
}

int
dir_domain_list(struct directory *d, dir_name_fn *fn, void *arg,
    struct buf *err)
{
	struct buf prefix = BUF_INIT(0);
	struct name_cb c = { fn, arg };
	int r;

	key_u8(&prefix, 'D');
	key_u8(&prefix, 'd');
	r = scan(d, &prefix, domain_row, &c, err);
	buf_free(&prefix);
	return r;
}
