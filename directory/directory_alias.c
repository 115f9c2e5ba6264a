/*
 * directory_alias.c - aliases, address resolution and authentication of
 * the internal directory (see directory.h).
 *
 * An alias is one key per (alias, target): 'D' 'l' alias 0x00 target 0x00,
 * so one-to-many needs no read-modify-write and listing an alias is a
 * prefix scan.  Resolution is breadth-first with a depth limit and a
 * visited set, so alias loops (a -> b -> a) end instead of spinning.
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "directory/directory_priv.h"
#include "directory/password.h"
#include "store/rec.h"

struct alias_op {
	const char *alias, *target;	/* normalised; target NULL: all */
	bool add;
	unsigned removed;
};

static int
alias_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct alias_op *op = arg;
	struct buf k = BUF_INIT(0);
	unsigned char end[KV_KEY_MAX];
	size_t elen;
	int r;

	op->removed = 0;
	key_alias(&k, op->alias, op->target);
	if (op->add) {
		r = exists(t, &k, err);
		if (r == 1) {
			buf_addf(err, "alias %s -> %s already exists",
			    op->alias, op->target);
			r = -1;
		}
		if (r == 0)
			r = kv_put(t, k.data, k.len, "", 0, err);
	} else if (op->target != NULL) {
		r = exists(t, &k, err);
		if (r == 0) {
			buf_addf(err, "unknown alias %s -> %s", op->alias,
			    op->target);
			r = -1;
		}
		if (r == 1) {
			op->removed = 1;
			r = kv_delete(t, k.data, k.len, err);
		}
	} else {
		r = has_prefix(t, &k, err);
		if (r == 0) {
			buf_addf(err, "unknown alias %s", op->alias);
			r = -1;
		}
		if (r == 1) {
			op->removed = 1;
			elen = kv_prefix_end(k.data, k.len, end);
			r = kv_delete_range(t, k.data, k.len, end, elen, err);
		}
	}
	buf_free(&k);
	return r;
}

static int
alias_change(struct directory *d, const char *alias, const char *target,
    bool add, struct buf *err)
{
	struct buf a = BUF_INIT(0), tg = BUF_INIT(0);
	struct alias_op op = { NULL, NULL, add, 0 };
	int r = -1;

	if (check_addr(alias, true, &a, err) < 0)
		goto out;
	if (target != NULL && check_addr(target, false, &tg, err) < 0)
		goto out;
	if (add) {
		r = dir_domain_exists(d, domain_of(buf_cstr(&a)), err);
		if (r == 0)
			buf_addf(err, "unknown domain %s: add it first",
			    domain_of(buf_cstr(&a)));
		if (r != 1) {
			r = -1;
			goto out;
		}
	}
	op.alias = buf_cstr(&a);
	op.target = target != NULL ? buf_cstr(&tg) : NULL;
	r = kv_run(d->kv, KV_WRITE, alias_txn, &op, err);
out:
	buf_free(&a);
	buf_free(&tg);
	return r;
}

int
dir_alias_add(struct directory *d, const char *alias, const char *target,
    struct buf *err)
{
	if (target == NULL) {
		buf_addf(err, "an alias needs a target");
		return -1;
	}
	return alias_change(d, alias, target, true, err);
}

int
dir_alias_del(struct directory *d, const char *alias, const char *target,
    struct buf *err)
{
	return alias_change(d, alias, target, false, err);
}

struct alias_list {
	dir_alias_fn *fn;
	void *arg;
};

/* split_alias_key - 'D' 'l' alias 0x00 target 0x00 */
static bool
split_alias_key(const unsigned char *k, size_t kl, const char **alias,
    const char **target)
{
	const unsigned char *z;

	if (kl < 4 || k[kl - 1] != '\0')
		return false;
	z = memchr(k + 2, '\0', kl - 2);
	if (z == NULL || z == k + kl - 1)
		return false;
	*alias = (const char *)k + 2;
	*target = (const char *)z + 1;
	return true;
}

static int
alias_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct alias_list *l = arg;
	const char *alias, *target;

	(void)v;
	(void)vl;
	if (!split_alias_key(k, kl, &alias, &target)) {
		buf_addf(err, "malformed alias key");
		return -1;
	}
	return l->fn(l->arg, alias, target) != 0 ? 1 : 0;
}

int
dir_alias_list(struct directory *d, dir_alias_fn *fn, void *arg,
    struct buf *err)
{
	struct buf prefix = BUF_INIT(0);
	struct alias_list l = { fn, arg };
	int r;

	key_u8(&prefix, 'D');
	key_u8(&prefix, 'l');
	r = scan(d, &prefix, alias_row, &l, err);
	buf_free(&prefix);
	return r;
}

/* ---- resolution ---- */

struct names {
	char **v;
	size_t n, cap;
};

static bool
names_has(const struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

static void
names_add(struct names *s, const char *name)
{
	if (s->n == s->cap) {
		s->cap = s->cap == 0 ? 8 : s->cap * 2;
		s->v = xreallocarray(s->v, s->cap, sizeof(*s->v));
	}
	s->v[s->n++] = xstrdup(name);
}

static void
names_free(struct names *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

struct resolve {
	struct directory *d;
	struct dir_rcpt *r;
	struct names seen;
	size_t total;
};

static void
add_account(struct dir_rcpt *r, uint32_t id)
{
	for (size_t i = 0; i < r->naccounts; i++)
		if (r->accounts[i] == id)
			return;
	r->accounts = xreallocarray(r->accounts, r->naccounts + 1,
	    sizeof(*r->accounts));
	r->accounts[r->naccounts++] = id;
}

static void
add_forward(struct dir_rcpt *r, const char *addr)
{
	for (size_t i = 0; i < r->nforwards; i++)
		if (strcmp(r->forwards[i], addr) == 0)
			return;
	r->forwards = xreallocarray(r->forwards, r->nforwards + 1,
	    sizeof(*r->forwards));
	r->forwards[r->nforwards++] = xstrdup(addr);
}

static int
target_row(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	const char *a, *tg;

	(void)v;
	(void)vl;
	if (!split_alias_key(k, kl, &a, &tg)) {
		buf_addf(err, "malformed alias key");
		return -1;
	}
	names_add(arg, tg);
	return 0;
}

/* targets - the alias's targets into out, in t: how many, or -1 */
static int
targets(struct kv_txn *t, const char *alias, struct names *out,
    struct buf *err)
{
	struct buf k = BUF_INIT(0);
	size_t before = out->n;
	int r;

	key_alias(&k, alias, NULL);
	r = kv_scan_txn(t, k.data, k.len, k.data, k.len, target_row, out,
	    err);
	buf_free(&k);
	return r < 0 ? -1 : (int)(out->n - before);
}

/* account_id - 1 with *id when name is an account, 0, -1 */
static int
account_id(struct kv_txn *t, const char *name, uint32_t *id,
    struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	key_name(&k, name);
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && v.len == 4)
		*id = get_u32(v.data);
	else if (r == 1)
		r = -1;
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* expand - resolve one name at depth; 1 if it reached anyone */
static int
expand(struct kv_txn *t, struct resolve *rs, const char *name,
    unsigned depth, struct buf *err)
{
	struct names tg = { NULL, 0, 0 };
	uint32_t id;
	int r, reached = 0;

	if (names_has(&rs->seen, name))
		return 1;	/* a loop, or already counted */
	names_add(&rs->seen, name);
	r = account_id(t, name, &id, err);
	if (r < 0)
		return -1;
	if (r == 1) {
		add_account(rs->r, id);
		return 1;
	}
	r = targets(t, name, &tg, err);
	if (r <= 0) {
		names_free(&tg);
		return r;
	}
	for (size_t i = 0; i < tg.n; i++) {
		if (++rs->total > DIR_RESOLVE_MAX) {
			buf_addf(err, "%s expands to more than %d addresses",
			    name, DIR_RESOLVE_MAX);
			names_free(&tg);
			return -1;
		}
		r = depth + 1 < DIR_ALIAS_DEPTH ?
		    expand(t, rs, tg.v[i], depth + 1, err) : 0;
		if (r < 0) {
			names_free(&tg);
			return -1;
		}
		if (r == 0) {
			/* not an account nor an alias: a remote address (or
			 * the depth limit) - forward to it as written */
			add_forward(rs->r, tg.v[i]);
		}
		reached = 1;
	}
	names_free(&tg);
	return reached;
}

struct resolve_op {
	struct resolve *rs;
	const char *name;	/* normalised */
	char sep;
	bool catchall;		/* try the domain's catch-all last */
	int found;
};

static int
resolve_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct resolve_op *op = arg;
	struct resolve *rs = op->rs;
	const char *at = strrchr(op->name, '@');
	struct buf base = BUF_INIT(0);
	const char *plus;
	int r;

	dir_rcpt_clear(rs->r);
	names_free(&rs->seen);
	rs->total = 0;
	r = expand(t, rs, op->name, 0, err);
	if (r == 0 && op->sep != '\0' && at != NULL &&
	    (plus = memchr(op->name, op->sep, (size_t)(at - op->name))) !=
	    NULL && plus != op->name) {
		buf_add(&base, op->name, (size_t)(plus - op->name));
		buf_add_str(&base, at);
		r = expand(t, rs, buf_cstr(&base), 0, err);
	}
	if (r == 0 && at != NULL && op->catchall)
		r = expand(t, rs, at, 0, err);	/* "@domain": catch-all */
	buf_free(&base);
	op->found = r;
	return r < 0 ? -1 : 0;
}

int
dir_resolve(struct directory *d, const char *addr, struct dir_rcpt *r,
    struct buf *err)
{
	struct resolve rs = { d, r, { NULL, 0, 0 }, 0 };
	struct buf name = BUF_INIT(0);
	struct resolve_op op = { &rs, NULL, d->opt.subaddress_sep, true, -1 };

	memset(r, 0, sizeof(*r));
	if (check_addr(addr, false, &name, err) == 0) {
		op.name = buf_cstr(&name);
		if (kv_run(d->kv, KV_READ, resolve_txn, &op, err) < 0)
			op.found = -1;
	}
	names_free(&rs.seen);
	buf_free(&name);
	if (op.found != 1)
		dir_rcpt_clear(r);
	return op.found;
}

/*
 * dir_owns - resolution as dir_resolve without the catch-all: a domain's
 * catch-all delivers to someone every address nobody else has, which
 * makes none of them that account's to send as (see directory.h)
 */
int
dir_owns(struct directory *d, uint32_t id, const char *addr, struct buf *err)
{
	struct dir_rcpt r;
	struct resolve rs = { d, &r, { NULL, 0, 0 }, 0 };
	struct buf name = BUF_INIT(0), why = BUF_INIT(0);
	struct resolve_op op = { &rs, NULL, d->opt.subaddress_sep, false, -1 };
	int owned = 0;

	memset(&r, 0, sizeof(r));
	if (check_addr(addr, false, &name, &why) < 0) {
		/* not an address we could hold: nobody's */
		buf_free(&name);
		buf_free(&why);
		return 0;
	}
	op.name = buf_cstr(&name);
	if (kv_run(d->kv, KV_READ, resolve_txn, &op, err) < 0)
		op.found = -1;
	for (size_t i = 0; op.found == 1 && i < r.naccounts; i++)
		if (r.accounts[i] == id)
			owned = 1;
	names_free(&rs.seen);
	buf_free(&name);
	dir_rcpt_clear(&r);
	return op.found < 0 ? -1 : owned;
}

/* ---- authentication ---- */

/*
 * A hash of a password nobody knows, verified when the user is unknown
 * or has no password, so that the reply takes about as long as for a
 * real account.
 */
#define DUMMY_PASSWORD "postern-dummy-password-for-timing"

/* dummy_hash - made on first use and kept: one hash per directory */
static const char *
dummy_hash(struct directory *d)
{
	struct buf h = BUF_INIT(0);
	const char *error;

	pthread_mutex_lock(&d->mu);
	if (d->dummy_hash == NULL && password_hash(PASSWORD_SCHEME_DEFAULT,
	    DUMMY_PASSWORD, strlen(DUMMY_PASSWORD), &h, &error) == 0)
		d->dummy_hash = buf_steal(&h, NULL);
	pthread_mutex_unlock(&d->mu);
	buf_free(&h);
	return d->dummy_hash;
}

int
dir_authenticate(struct directory *d, const char *user, const char *password,
    size_t pwlen, uint32_t *id_r, struct buf *err)
{
	struct dir_account a;
	struct buf name = BUF_INIT(0), why = BUF_INIT(0);
	const char *error, *dummy;
	bool ok = false;
	int f;

	/* a client's malformed password (NUL, over-long) is a failed
	 * login, not a server error */
	if (!password_is_valid(password, pwlen))
		return 0;
	/* a name that is no address is an unknown user, not an error */
	if (check_addr(user, false, &name, &why) == 0)
		f = dir_user_get(d, user, &a, err);
	else
		f = 0;
	buf_free(&name);
	buf_free(&why);
	if (f < 0)
		return -1;
	if (f == 1 && a.password[0] != '\0') {
		if (password_verify(a.password, password, pwlen, &ok,
		    &error) < 0) {
			buf_addf(err, "%s: stored password: %s", a.name,
			    error);
			dir_account_clear(&a);
			return -1;
		}
	} else if ((dummy = dummy_hash(d)) != NULL) {
		/* the same cost as a real check; the answer is no */
		if (password_verify(dummy, password, pwlen, &ok, &error) < 0)
			ok = false;
		ok = false;
	}
	if (ok && id_r != NULL)
		*id_r = a.id;
	if (f == 1)
		dir_account_clear(&a);
	return ok ? 1 : 0;
}
