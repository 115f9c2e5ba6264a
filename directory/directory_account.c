/*
 * directory_account.c - accounts, aliases, address resolution and
 * authentication of the internal directory (see directory.h).
 *
 * Account record ('A' id): fields F_NAME, F_DISPLAY, F_PASSWORD (the
 * stored hash, "" = no login), F_QUOTA, F_CREATED, in store/rec.h's
 * encoding.  The name index 'a' name -> id makes lookups by address one
 * get; listing a domain's accounts is a scan of 'a' (a CLI operation).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xalloc.h"
#include "directory/directory_priv.h"
#include "directory/password.h"
#include "store/rec.h"

static void
account_encode(const struct dir_account *a, struct buf *v)
{
	buf_reset(v);
	rec_put_str(v, F_NAME, a->name);
	rec_put_str(v, F_DISPLAY, a->display_name != NULL ?
	    a->display_name : "");
	rec_put_str(v, F_PASSWORD, a->password != NULL ? a->password : "");
	rec_put_u64(v, F_QUOTA, a->quota);
	rec_put_u64(v, F_CREATED, a->created);
}

static int
account_decode(uint32_t id, const unsigned char *p, size_t len,
    struct dir_account *a, struct buf *err)
{
	struct rec_reader r;
	const unsigned char *f;
	uint8_t tag;
	size_t n;
	int rc;

	memset(a, 0, sizeof(*a));
	a->id = id;
	rec_reader_init(&r, p, len);
	while ((rc = rec_next(&r, &tag, &f, &n)) == 1) {
		switch (tag) {
		case F_NAME:
			free(a->name);
			a->name = xmemdup0(f, n);
			break;
		case F_DISPLAY:
			free(a->display_name);
			a->display_name = xmemdup0(f, n);
			break;
		case F_PASSWORD:
			free(a->password);
			a->password = xmemdup0(f, n);
			break;
		case F_QUOTA:
			(void)rec_u64(f, n, &a->quota);
			break;
		case F_CREATED:
			(void)rec_u64(f, n, &a->created);
			break;
		default:
			break;	/* a newer field: skip */
		}
	}
	if (rc < 0 || a->name == NULL) {
		buf_addf(err, "account %u: malformed record", id);
		dir_account_clear(a);
		return -1;
	}
	if (a->display_name == NULL)
		a->display_name = xstrdup("");
	if (a->password == NULL)
		a->password = xstrdup("");
	return 0;
}

/* lookup - the account named name in t: 1 (a filled), 0, -1 */
static int
lookup(struct kv_txn *t, const char *name, struct dir_account *a,
    struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	uint32_t id;
	int r;

	key_name(&k, name);
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && v.len != 4) {
		buf_addf(err, "%s: malformed name index", name);
		r = -1;
	}
	if (r == 1) {
		id = get_u32(v.data);
		key_account(&k, id);
		buf_reset(&v);
		r = kv_get(t, k.data, k.len, &v, err);
		if (r == 0) {
			buf_addf(err, "%s: index points at missing account %u",
			    name, id);
			r = -1;
		}
		if (r == 1 && account_decode(id, v.data, v.len, a, err) < 0)
			r = -1;
	}
	buf_free(&k);
	buf_free(&v);
	return r;
}

static int
lookup_id(struct kv_txn *t, uint32_t id, struct dir_account *a,
    struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	key_account(&k, id);
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && account_decode(id, v.data, v.len, a, err) < 0)
		r = -1;
	buf_free(&k);
	buf_free(&v);
	return r;
}

static int
store_account(struct kv_txn *t, const struct dir_account *a, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	key_account(&k, a->id);
	account_encode(a, &v);
	r = kv_put(t, k.data, k.len, v.data, v.len, err);
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* ---- add / change / delete ---- */

enum user_change { U_ADD, U_DEL, U_HASH, U_QUOTA };

struct user_op {
	enum user_change what;
	const char *name;	/* normalised */
	const char *hash;	/* U_ADD, U_HASH */
	const char *display;	/* U_ADD */
	uint64_t quota;		/* U_ADD, U_QUOTA */
	uint32_t id;		/* U_ADD: result */
};

static int
user_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct user_op *op = arg;
	struct dir_account a;
	struct buf k = BUF_INIT(0), ck = BUF_INIT(0);
	unsigned char idv[4];
	int64_t id;
	int r;

	r = lookup(t, op->name, &a, err);
	if (r < 0)
		return r;
	if (op->what == U_ADD) {
		if (r == 1) {
			dir_account_clear(&a);
			buf_addf(err, "account %s already exists", op->name);
			return -1;
		}
		key_u8(&ck, 'C');
		key_u32(&ck, 0);
		key_str(&ck, "account");
		r = kv_add(t, ck.data, ck.len, 1, &id, err);
		buf_free(&ck);
		if (r < 0)
			return r;
		if (id <= 0 || id > UINT32_MAX) {
			buf_addf(err, "account ids exhausted");
			return -1;
		}
		memset(&a, 0, sizeof(a));
		a.id = (uint32_t)id;
		a.name = (char *)op->name;
		a.display_name = (char *)op->display;
		a.password = (char *)op->hash;
		a.quota = op->quota;
		a.created = (uint64_t)time(NULL);
		op->id = a.id;
		key_name(&k, op->name);
		idv[0] = (unsigned char)(a.id >> 24);
		idv[1] = (unsigned char)(a.id >> 16);
		idv[2] = (unsigned char)(a.id >> 8);
		idv[3] = (unsigned char)a.id;
		r = kv_put(t, k.data, k.len, idv, sizeof(idv), err);
		if (r == 0)
			r = store_account(t, &a, err);
		buf_free(&k);
		return r;
	}
	if (r == 0) {
		buf_addf(err, "unknown account %s", op->name);
		return -1;
	}
	switch (op->what) {
	case U_DEL:
		key_name(&k, op->name);
		r = kv_delete(t, k.data, k.len, err);
		key_account(&k, a.id);
		if (r == 0)
			r = kv_delete(t, k.data, k.len, err);
		/* XXX the account's mailboxes and mail stay until the mail
		 * model's account removal exists (issue 3, store/) */
		break;
	case U_HASH:
		free(a.password);
		a.password = xstrdup(op->hash);
		r = store_account(t, &a, err);
		break;
	case U_QUOTA:
		a.quota = op->quota;
		r = store_account(t, &a, err);
		break;
	case U_ADD:
		break;
	}
	op->id = a.id;
	dir_account_clear(&a);
	buf_free(&k);
	return r;
}

static int
user_change(struct directory *d, struct user_op *op, const char *addr,
    struct buf *err)
{
	struct buf name = BUF_INIT(0);
	int r = -1;

	if (check_addr(addr, false, &name, err) == 0) {
		op->name = buf_cstr(&name);
		r = kv_run(d->kv, KV_WRITE, user_txn, op, err);
	}
	buf_free(&name);
	return r;
}

/* hash - a new stored hash of password in out ("" when none) */
static int
hash(const char *password, struct buf *out, struct buf *err)
{
	const char *error;

	buf_reset(out);
	if (password == NULL || password[0] == '\0') {
		buf_add_str(out, "");
		return 0;
	}
	if (password_hash(PASSWORD_SCHEME_DEFAULT, password, strlen(password), out,
	    &error) < 0) {
		buf_addf(err, "password: %s", error);
		return -1;
	}
	return 0;
}

int
dir_user_add(struct directory *d, const char *addr, const char *password,
    uint64_t quota, const char *display_name, uint32_t *id_r,
    struct buf *err)
{
	struct user_op op = { U_ADD, NULL, NULL, display_name != NULL ?
		display_name : "", quota, 0 };
	struct buf h = BUF_INIT(0), dom = BUF_INIT(0);
	int r;

	r = hash(password, &h, err);
	if (r == 0 && check_addr(addr, false, &dom, err) == 0) {
		r = dir_domain_exists(d, domain_of(buf_cstr(&dom)), err);
		if (r == 0) {
			buf_addf(err, "unknown domain %s: add it first "
			    "(postern domain add)", domain_of(buf_cstr(&dom)));
			r = -1;
		}
		if (r == 1) {
			op.hash = buf_cstr(&h);
			r = user_change(d, &op, addr, err);
		}
	} else {
		r = -1;
	}
	if (r == 0 && id_r != NULL)
		*id_r = op.id;
	buf_free(&h);
	buf_free(&dom);
	return r;
}

int
dir_user_del(struct directory *d, const char *addr, struct buf *err)
{
	struct user_op op = { U_DEL, NULL, NULL, NULL, 0, 0 };

	return user_change(d, &op, addr, err);
}

int
dir_user_passwd(struct directory *d, const char *addr, const char *password,
    struct buf *err)
{
	struct user_op op = { U_HASH, NULL, NULL, NULL, 0, 0 };
	struct buf h = BUF_INIT(0);
	int r = hash(password, &h, err);

	if (r == 0) {
		op.hash = buf_cstr(&h);
		r = user_change(d, &op, addr, err);
	}
	buf_free(&h);
	return r;
}

int
dir_user_set_hash(struct directory *d, const char *addr, const char *hash_,
    struct buf *err)
{
	struct user_op op = { U_HASH, NULL, hash_, NULL, 0, 0 };

	return user_change(d, &op, addr, err);
}

int
dir_user_set_quota(struct directory *d, const char *addr, uint64_t quota,
    struct buf *err)
{
	struct user_op op = { U_QUOTA, NULL, NULL, NULL, quota, 0 };

	return user_change(d, &op, addr, err);
}

struct get_user {
	const char *name;
	uint32_t id;
	struct dir_account *a;
	int found;
};

static int
get_user_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct get_user *g = arg;

	g->found = g->name != NULL ? lookup(t, g->name, g->a, err) :
	    lookup_id(t, g->id, g->a, err);
	return g->found < 0 ? -1 : 0;
}

int
dir_user_get(struct directory *d, const char *addr, struct dir_account *a,
    struct buf *err)
{
	struct buf name = BUF_INIT(0);
	struct get_user g = { NULL, 0, a, -1 };

	memset(a, 0, sizeof(*a));
	if (check_addr(addr, false, &name, err) == 0) {
		g.name = buf_cstr(&name);
		if (kv_run(d->kv, KV_READ, get_user_txn, &g, err) < 0)
			g.found = -1;
	}
	buf_free(&name);
	return g.found;
}

int
dir_user_get_id(struct directory *d, uint32_t id, struct dir_account *a,
    struct buf *err)
{
	struct get_user g = { NULL, id, a, -1 };

	memset(a, 0, sizeof(*a));
	if (kv_run(d->kv, KV_READ, get_user_txn, &g, err) < 0)
		return -1;
	return g.found;
}

struct list_users {
	const char *domain;
	dir_account_fn *fn;
	void *arg;
	struct directory *d;
	uint32_t *ids;
	size_t n, cap;
};

static int
user_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct list_users *l = arg;
	const char *name = (const char *)k + 1;
	const char *dom;

	if (kl < 2 || k[kl - 1] != '\0' || vl != 4) {
		buf_addf(err, "malformed name index key");
		return -1;
	}
	dom = domain_of(name);
	if (l->domain != NULL && (dom == NULL || strcmp(dom, l->domain) != 0))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 64 : l->cap * 2;
		l->ids = xreallocarray(l->ids, l->cap, sizeof(*l->ids));
	}
	l->ids[l->n++] = get_u32(v);
	return 0;
}

int
dir_user_list(struct directory *d, const char *domain, dir_account_fn *fn,
    void *arg, struct buf *err)
{
	struct list_users l = { NULL, fn, arg, d, NULL, 0, 0 };
	struct buf prefix = BUF_INIT(0), dom = BUF_INIT(0);
	int r = -1;

	if (domain != NULL) {
		if (dir_normalize(domain, &dom, err) < 0)
			goto out;
		l.domain = buf_cstr(&dom);
	}
	key_u8(&prefix, 'a');
	if (scan(d, &prefix, user_row, &l, err) < 0)
		goto out;
	/* the callback runs outside the scan's transaction */
	r = 0;
	for (size_t i = 0; i < l.n && r == 0; i++) {
		struct dir_account a;
		int f = dir_user_get_id(d, l.ids[i], &a, err);

		if (f < 0)
			r = -1;
		else if (f == 1 && fn(arg, &a) != 0)
			r = 1;
		if (f == 1)
			dir_account_clear(&a);
	}
	if (r > 0)
		r = 0;
out:
	free(l.ids);
	buf_free(&prefix);
	buf_free(&dom);
	return r;
}
