/*
 * jmap_identity.c - Identity/get, /changes, /set (RFC 8621 6) and the
 * sender rule the EmailSubmission checks share (jmap_may_send_as).
 *
 * Who may send as what is SMTP submission's rule, not a JMAP one: the
 * account's address, its sub-addresses and the aliases that reach it
 * (dir_owns; a domain's catch-all is not ownership), and the entries of
 * auth.sender_wildcards for the account (common/sender_wildcard.h).  An
 * address the SMTP submission server refuses with 553 5.7.1 is refused
 * here too (forbiddenFrom, forbiddenMailFrom).
 *
 * Identities are records of the store (store/mail_obj.c: 'J' acct 'i'
 * id, JSON text of the properties below plus "origin" and "hidden"),
 * with the change log of type 'i', so Identity/changes and push work as
 * for mailboxes.  Before every Identity method the account's derived
 * identities are brought in line with the directory (sync):
 *   - "primary": the account's own address, named with its display
 *     name; mayDelete is false and destroy is forbidden;
 *   - "alias": each alias address that reaches the account;
 *   - "wildcard": each auth.sender_wildcards entry for the account, an
 *     address or "*@domain" (RFC 8621 6: the client may use any address
 *     of the domain).
 * A derived identity missing from the store is created; one whose
 * address the user no longer owns is destroyed (kept as a hidden
 * tombstone); one the user destroyed stays a hidden tombstone, so it is
 * not derived again.  Identities the user creates ("user") are kept
 * as they are; sending from an address no longer owned is refused when
 * it is tried.  create accepts any address the rule allows, and
 * "*@domain" only when a wildcard entry grants the whole domain.
 *
 * Limits: name 256 octets, a signature 64 KiB, replyTo and bcc 100
 * addresses each.
 *
 * XXX sync lists every alias of the directory (dir_alias_list) and
 * resolves each: fine for thousands, slow for a million; a reverse
 * index (target -> aliases) in the directory would make it one scan of
 * the account's own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rfc5322.h"
#include "common/sender_wildcard.h"
#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

#define IDENT_NAME_MAX 256u
#define IDENT_SIG_MAX (64u * 1024)
#define IDENT_ADDRS_MAX 100u
#define IDENT_DERIVED_MAX 1000u	/* derived identities of one account */

static const char *const ident_props[] = {
	"id", "name", "email", "replyTo", "bcc", "textSignature",
	"htmlSignature", "mayDelete", NULL,
};

/* ---- the sender rule ---- */

int
jmap_may_send_as(struct jmap_call *c, const char *addr, struct buf *err)
{
	if (sender_wildcard_match(&c->ctx->env->cfg->auth.sender_wildcards,
	    c->ctx->username, addr))
		return 1;
	return dir_owns(c->ctx->env->dir, c->acct, addr, err);
}

bool
jmap_is_addr(const char *s)
{
	struct buf out = BUF_INIT(DIR_NAME_MAX + 2);
	size_t n = strlen(s), got = 0;
	bool ok;

	if (n < 3 || n > DIR_NAME_MAX)
		return false;
	ok = rfc5322_addresses(s, n, &out, &got) == 0 && got == 1 &&
	    strcmp(buf_cstr(&out), s) == 0;
	buf_free(&out);
	return ok;
}

/* wildcard_domain_granted - "*@domain" and an "@domain" entry for us */
static bool
wildcard_domain_granted(struct jmap_call *c, const char *email)
{
	const struct strlist *wl = &c->ctx->env->cfg->auth.sender_wildcards;
	size_t plen;

	for (size_t i = 0; i < wl->n; i++)
		if (sender_wildcard_grants(wl->v[i], c->ctx->username, &plen) &&
		    wl->v[i][0] == '@' && strlen(email + 1) == plen &&
		    ascii_strncasecmp(wl->v[i], email + 1, plen) == 0)
			return true;
	return false;
}

/* ---- records ---- */

struct ident_rec {
	uint32_t id;
	json_t *v;		/* the stored object */
};

struct ident_list {
	struct ident_rec *v;
	size_t n;
};

static void
ident_list_free(struct ident_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->v[i].v);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
collect(void *arg, uint32_t id, const unsigned char *v, size_t len)
{
	struct ident_list *l = arg;
	json_t *o = json_loadb((const char *)v, len, 0, NULL);

	if (!json_is_object(o)) {
		json_decref(o);
		return -1;
	}
	l->v = xreallocarray(l->v, l->n + 1, sizeof(*l->v));
	l->v[l->n].id = id;
	l->v[l->n].v = o;
	l->n++;
	return 0;
}

static bool
is_hidden(const json_t *v)
{
	return json_is_true(json_object_get(v, "hidden"));
}

static const char *
str_of(const json_t *v, const char *k)
{
	const char *s = json_string_value(json_object_get(v, k));

	return s != NULL ? s : "";
}

static bool
same_addr(const char *a, const char *b)
{
	return strlen(a) == strlen(b) && ascii_strncasecmp(a, b,
	    strlen(a)) == 0;
}

/* dump - the stored form of o (JSON text) */
static char *
dump(const json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	if (s == NULL)
		PANIC("json_dumps failed");
	return s;
}

static int
load(struct jmap_call *c, uint32_t id, json_t **v_r, struct buf *err)
{
	struct buf v = BUF_INIT(0);
	int r = mail_obj_get(c->ctx->env->st->mail, c->acct,
	    MAIL_LOG_IDENTITY, id, &v, err);

	*v_r = NULL;
	if (r == 1) {
		*v_r = json_loadb((const char *)v.data, v.len, 0, NULL);
		if (!json_is_object(*v_r)) {
			json_decref(*v_r);
			*v_r = NULL;
			buf_addf(err, "identity %u: malformed record", id);
			r = -1;
		}
	}
	buf_free(&v);
	return r;
}

/* ---- sync with the directory ---- */

struct derived {
	char *email;		/* owned */
	const char *origin;	/* static */
	char *name;		/* owned */
};

struct derived_set {
	struct derived *v;
	size_t n;
	struct jmap_call *c;
	char last[DIR_NAME_MAX + 1];	/* the alias seen last */
	int fail;
	struct buf err;
};

static void
derived_add(struct derived_set *d, const char *email, const char *origin,
    const char *name)
{
	for (size_t i = 0; i < d->n; i++)
		if (same_addr(d->v[i].email, email))
			return;
	if (d->n >= IDENT_DERIVED_MAX)
		return;
	d->v = xreallocarray(d->v, d->n + 1, sizeof(*d->v));
	d->v[d->n].email = xstrdup(email);
	d->v[d->n].origin = origin;
	d->v[d->n].name = xstrdup(name);
	d->n++;
}

static void
derived_free(struct derived_set *d)
{
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].email);
		free(d->v[i].name);
	}
	free(d->v);
	buf_free(&d->err);
}

static int
alias_seen(void *arg, const char *alias, const char *target)
{
	struct derived_set *d = arg;
	int r;

	(void)target;
	/* one callback per target: each alias once */
	if (alias[0] == '@' || strcmp(alias, d->last) == 0 ||
	    strlen(alias) > DIR_NAME_MAX)
		return 0;
	(void)snprintf(d->last, sizeof(d->last), "%s", alias);
	r = dir_owns(d->c->ctx->env->dir, d->c->acct, alias, &d->err);
	if (r < 0) {
		d->fail = -1;
		return 1;
	}
	if (r == 1)
		derived_add(d, alias, "alias", "");
	return 0;
}

/* derive - every identity the directory and the configuration give */
static int
derive(struct jmap_call *c, struct derived_set *d, struct buf *err)
{
	const struct strlist *wl = &c->ctx->env->cfg->auth.sender_wildcards;
	struct dir_account a;
	int r;

	memset(&a, 0, sizeof(a));
	r = dir_user_get_id(c->ctx->env->dir, c->acct, &a, err);
	if (r <= 0) {
		if (r == 0)
			buf_addf(err, "account %u is not in the directory",
			    c->acct);
		dir_account_clear(&a);
		return -1;
	}
	derived_add(d, a.name, "primary", a.display_name);
	dir_account_clear(&a);
	d->c = c;
	if (dir_alias_list(c->ctx->env->dir, alias_seen, d, err) < 0)
		return -1;
	if (d->fail < 0) {
		buf_add_str(err, buf_cstr(&d->err));
		return -1;
	}
	for (size_t i = 0; i < wl->n; i++) {
		struct buf e = BUF_INIT(0);
		size_t plen;

		if (!sender_wildcard_grants(wl->v[i], c->ctx->username, &plen))
			continue;
		if (wl->v[i][0] == '@')
			buf_add_str(&e, "*");
		buf_add(&e, wl->v[i], plen);
		for (size_t k = 0; k < e.len; k++)
			e.data[k] = (unsigned char)ascii_tolower(e.data[k]);
		derived_add(d, buf_cstr(&e), "wildcard", "");
		buf_free(&e);
	}
	return 0;
}

struct sync_op {
	uint32_t acct;
	const struct derived_set *d;
	bool write;
	bool needed;		/* the read pass found work */
};

/* sync_txn - the store's identities against d: a read pass only
 * notes whether there is work, the write pass does it */
static int
sync_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct sync_op *op = arg;
	struct ident_list l;
	int r;

	memset(&l, 0, sizeof(l));
	op->needed = false;
	if ((r = mail_obj_list_txn(t, op->acct, MAIL_LOG_IDENTITY, collect,
	    &l, err)) < 0)
		goto out;
	for (size_t i = 0; i < op->d->n && r == 0; i++) {
		const struct derived *dv = &op->d->v[i];
		bool have = false;
		json_t *o;
		char *s;
		uint32_t id;

		for (size_t k = 0; k < l.n && !have; k++)
			have = same_addr(str_of(l.v[k].v, "email"), dv->email);
		if (have)
			continue;
		op->needed = true;
		if (!op->write)
			break;
		o = json_pack("{s:s,s:s,s:n,s:n,s:s,s:s,s:s}", "email",
		    dv->email, "name", dv->name, "replyTo", "bcc",
		    "textSignature", "", "htmlSignature", "", "origin",
		    dv->origin);
		s = dump(o);
		r = mail_obj_create_txn(t, op->acct, MAIL_LOG_IDENTITY, s,
		    strlen(s), &id, err);
		free(s);
		json_decref(o);
	}
	for (size_t k = 0; k < l.n && r == 0; k++) {
		json_t *v = l.v[k].v;
		const char *origin = str_of(v, "origin");
		bool kept = false;
		char *s;

		if (is_hidden(v) || (strcmp(origin, "alias") != 0 &&
		    strcmp(origin, "wildcard") != 0))
			continue;
		for (size_t i = 0; i < op->d->n && !kept; i++)
			kept = same_addr(str_of(v, "email"), op->d->v[i].email);
		if (kept)
			continue;
		op->needed = true;
		if (!op->write)
			break;
		json_object_set_new(v, "hidden", json_true());
		s = dump(v);
		r = mail_obj_put_txn(t, op->acct, MAIL_LOG_IDENTITY, l.v[k].id,
		    s, strlen(s), MAIL_LOG_DESTROYED, err);
		free(s);
		if (r == 1)
			r = 0;
	}
out:
	ident_list_free(&l);
	return r < 0 ? r : 0;
}

static int
sync(struct jmap_call *c, struct buf *err)
{
	struct derived_set d;
	struct sync_op op;
	int r;

	memset(&d, 0, sizeof(d));
	r = derive(c, &d, err);
	op = (struct sync_op){ c->acct, &d, false, false };
	if (r == 0)
		r = kv_run(c->ctx->env->st->kv, KV_READ, sync_txn, &op, err);
	if (r == 0 && op.needed) {
		op.write = true;
		r = kv_run(c->ctx->env->st->kv, KV_WRITE, sync_txn, &op, err);
	}
	derived_free(&d);
	return r;
}

/* ---- get, list ---- */

static json_t *
ident_json(uint32_t id, const json_t *v)
{
	json_t *o = json_object();
	char sid[JMAP_ID_MAX];
	static const char *const copied[] = { "name", "email", "replyTo",
	    "bcc", "textSignature", "htmlSignature" };

	jmap_id_make('I', id, sid);
	json_object_set_new(o, "id", json_string(sid));
	for (size_t i = 0; i < ARRAY_SIZE(copied); i++) {
		json_t *x = json_object_get(v, copied[i]);

		json_object_set(o, copied[i], x != NULL ? x : json_null());
	}
	json_object_set_new(o, "mayDelete", json_boolean(strcmp(str_of(v,
	    "origin"), "primary") != 0));
	return o;
}

int
jmap_identity_load(struct jmap_call *c, uint32_t id, json_t **obj_r,
    struct buf *err)
{
	json_t *v;
	int r = load(c, id, &v, err);

	if (r == 1 && is_hidden(v))
		r = 0;
	if (r == 1)
		*obj_r = ident_json(id, v);
	json_decref(v);
	return r;
}

static int
ident_get(struct jmap_call *c, uint32_t id, const json_t *want,
    json_t **obj_r, struct buf *err)
{
	(void)want;
	return jmap_identity_load(c, id, obj_r, err);
}

static int
ident_ids(struct jmap_call *c, uint32_t **ids_r, size_t *n_r,
    struct buf *err)
{
	struct ident_list l;

	memset(&l, 0, sizeof(l));
	if (mail_obj_list(c->ctx->env->st->mail, c->acct, MAIL_LOG_IDENTITY,
	    collect, &l, err) < 0) {
		ident_list_free(&l);
		return -1;
	}
	*ids_r = xcalloc(l.n + 1, sizeof(**ids_r));
	*n_r = 0;
	for (size_t i = 0; i < l.n; i++)
		if (!is_hidden(l.v[i].v))
			(*ids_r)[(*n_r)++] = l.v[i].id;
	ident_list_free(&l);
	return 0;
}

/* ---- /set ---- */

/* check_addrs - replyTo / bcc: null or EmailAddress[]; normalised into
 * *out_r ({name, email} each); NULL or a SetError */
static json_t *
check_addrs(const char *prop, json_t *v, json_t **out_r)
{
	json_t *a, *x;
	size_t i;

	*out_r = NULL;
	if (v == NULL || json_is_null(v)) {
		*out_r = json_null();
		return NULL;
	}
	if (!json_is_array(v) || json_array_size(v) > IDENT_ADDRS_MAX)
		return jmap_set_error_props(prop, "must be null or at most %u "
		    "EmailAddress objects", IDENT_ADDRS_MAX);
	a = json_array();
	json_array_foreach(v, i, x) {
		json_t *name = json_object_get(x, "name");
		json_t *email = json_object_get(x, "email");

		if (!json_is_object(x) || !json_is_string(email) ||
		    !jmap_is_addr(json_string_value(email)) ||
		    (name != NULL && !json_is_null(name) &&
		    (!json_is_string(name) ||
		    strlen(json_string_value(name)) > IDENT_NAME_MAX))) {
			json_decref(a);
			return jmap_set_error_props(prop, "item %zu is not an "
			    "EmailAddress {name, email}", i);
		}
		json_array_append_new(a, json_pack("{s:O,s:O}", "name",
		    name != NULL ? name : json_null(), "email", email));
	}
	*out_r = a;
	return NULL;
}

/* check_str - an optional String of at most max octets */
static json_t *
check_str(const char *prop, json_t *v, size_t max)
{
	if (v == NULL)
		return NULL;
	if (!json_is_string(v))
		return jmap_set_error_props(prop, "must be a String");
	if (strlen(json_string_value(v)) > max)
		return jmap_set_error_props(prop, "longer than %zu octets",
		    max);
	return NULL;
}

/*
 * apply - the settable properties of obj into rec (those present),
 * checked; NULL or a SetError
 */
static json_t *
apply(json_t *obj, json_t *rec)
{
	static const struct { const char *name; size_t max; } strs[] = {
		{ "name", IDENT_NAME_MAX }, { "textSignature", IDENT_SIG_MAX },
		{ "htmlSignature", IDENT_SIG_MAX },
	};
	static const char *const lists[] = { "replyTo", "bcc" };
	json_t *e, *v, *norm;

	for (size_t i = 0; i < ARRAY_SIZE(strs); i++) {
		v = json_object_get(obj, strs[i].name);
		if ((e = check_str(strs[i].name, v, strs[i].max)) != NULL)
			return e;
		if (v != NULL)
			json_object_set(rec, strs[i].name, v);
	}
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++) {
		if (json_object_get(obj, lists[i]) == NULL)
			continue;
		if ((e = check_addrs(lists[i], json_object_get(obj, lists[i]),
		    &norm)) != NULL)
			return e;
		json_object_set_new(rec, lists[i], norm);
	}
	return NULL;
}

static int
ident_create(struct jmap_call *c, json_t *obj, uint32_t *id_r,
    json_t **created_r, json_t **seterr_r, struct buf *err)
{
	json_t *email = json_object_get(obj, "email"), *rec, *full;
	const char *k, *s;
	json_t *v;
	char *text;
	int r;

	json_object_foreach(obj, k, v) {
		if (!jmap_in_list(ident_props, k)) {
			*seterr_r = jmap_set_error_props(k, "unknown property");
			return 0;
		}
		if (strcmp(k, "id") == 0 || strcmp(k, "mayDelete") == 0) {
			*seterr_r = jmap_set_error_props(k, "set by the server");
			return 0;
		}
	}
	if (!json_is_string(email)) {
		*seterr_r = jmap_set_error_props("email", "an email address is "
		    "required");
		return 0;
	}
	s = json_string_value(email);
	if (strncmp(s, "*@", 2) == 0) {
		struct buf probe = BUF_INIT(0);
		bool ok;

		/* any address of the domain: its domain must be one */
		buf_addf(&probe, "x%s", s + 1);
		ok = jmap_is_addr(buf_cstr(&probe));
		buf_free(&probe);
		if (!ok) {
			*seterr_r = jmap_set_error_props("email", "not an "
			    "address or \"*@domain\"");
			return 0;
		}
		r = wildcard_domain_granted(c, s) ? 1 : 0;
	} else if (!jmap_is_addr(s)) {
		*seterr_r = jmap_set_error_props("email", "not an address");
		return 0;
	} else if ((r = jmap_may_send_as(c, s, err)) < 0) {
		return -1;
	}
	if (r == 0) {
		*seterr_r = jmap_set_error("forbiddenFrom", "%.200s may not "
		    "send as %.200s", c->ctx->username, s);
		return 0;
	}
	rec = json_pack("{s:O,s:s,s:n,s:n,s:s,s:s,s:s}", "email", email,
	    "name", "", "replyTo", "bcc", "textSignature", "", "htmlSignature",
	    "", "origin", "user");
	if ((*seterr_r = apply(obj, rec)) != NULL) {
		json_decref(rec);
		return 0;
	}
	text = dump(rec);
	r = mail_obj_create(c->ctx->env->st->mail, c->acct, MAIL_LOG_IDENTITY,
	    text, strlen(text), id_r, err);
	free(text);
	if (r < 0) {
		json_decref(rec);
		return -1;
	}
	/* the server-set property, and every default the client left out */
	full = ident_json(*id_r, rec);
	json_decref(rec);
	*created_r = json_object();
	json_object_foreach(full, k, v) {
		if (strcmp(k, "id") != 0 && json_object_get(obj, k) == NULL)
			json_object_set(*created_r, k, v);
	}
	json_decref(full);
	return 1;
}

static int
ident_update(struct jmap_call *c, uint32_t id, json_t *old_obj,
    json_t *new_obj, json_t **updated_r, json_t **seterr_r, struct buf *err)
{
	static const char *const fixed[] = { "id", "email", "mayDelete" };
	json_t *rec;
	char *text;
	int r;

	(void)updated_r;
	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
		if (!json_equal(json_object_get(old_obj, fixed[i]),
		    json_object_get(new_obj, fixed[i]))) {
			*seterr_r = jmap_set_error_props(fixed[i], "%s",
			    strcmp(fixed[i], "email") == 0 ? "immutable" :
			    "set by the server");
			return 0;
		}
	if ((r = load(c, id, &rec, err)) <= 0 || is_hidden(rec)) {
		json_decref(rec);
		if (r == 0 || r == 1)
			*seterr_r = jmap_set_error("notFound", "no such "
			    "Identity");
		return r < 0 ? -1 : 0;
	}
	if ((*seterr_r = apply(new_obj, rec)) != NULL) {
		json_decref(rec);
		return 0;
	}
	text = dump(rec);
	json_decref(rec);
	r = mail_obj_put(c->ctx->env->st->mail, c->acct, MAIL_LOG_IDENTITY, id,
	    text, strlen(text), MAIL_LOG_UPDATED, err);
	free(text);
	if (r == 0)
		*seterr_r = jmap_set_error("notFound", "no such Identity");
	return r;
}

static int
ident_destroy(struct jmap_call *c, uint32_t id, json_t **seterr_r,
    struct buf *err)
{
	const char *origin;
	json_t *rec;
	char *text;
	int r;

	if ((r = load(c, id, &rec, err)) <= 0 || is_hidden(rec)) {
		json_decref(rec);
		if (r >= 0)
			*seterr_r = jmap_set_error("notFound", "no such "
			    "Identity");
		return r < 0 ? -1 : 0;
	}
	origin = str_of(rec, "origin");
	if (strcmp(origin, "primary") == 0) {
		json_decref(rec);
		*seterr_r = jmap_set_error("forbidden", "the account's own "
		    "address stays an identity (mayDelete is false)");
		return 0;
	}
	if (strcmp(origin, "user") == 0) {
		json_decref(rec);
		r = mail_obj_destroy(c->ctx->env->st->mail, c->acct,
		    MAIL_LOG_IDENTITY, id, err);
	} else {
		/* derived: a tombstone, or the next sync brings it back */
		json_object_set_new(rec, "hidden", json_true());
		text = dump(rec);
		json_decref(rec);
		r = mail_obj_put(c->ctx->env->st->mail, c->acct,
		    MAIL_LOG_IDENTITY, id, text, strlen(text),
		    MAIL_LOG_DESTROYED, err);
		free(text);
	}
	if (r == 0)
		*seterr_r = jmap_set_error("notFound", "no such Identity");
	return r;
}

/* ---- the type and its methods ---- */

const struct jmap_type jmap_identity_type = {
	.name = "Identity",
	.prefix = 'I',
	.log = MAIL_LOG_IDENTITY,
	.cap = JMAP_CAP_SUBMISSION,
	.props = ident_props,
	.get = ident_get,
	.list = ident_ids,
	.create = ident_create,
	.update = ident_update,
	.destroy = ident_destroy,
};

/* i_std - the standard method of the entry, on identities brought in
 * line with the directory first */
static int
i_std(struct jmap_call *c, struct buf *err)
{
	if (sync(c, err) < 0)
		return -1;
	return jmap_std_run(c, c->method, err);
}

const struct jmap_method jmap_identity_methods[] = {
	{ "Identity/get", JMAP_CAP_SUBMISSION, JMAP_M_ACCOUNT, i_std,
	  &jmap_identity_type, JMAP_STD_GET },
	{ "Identity/changes", JMAP_CAP_SUBMISSION, JMAP_M_ACCOUNT, i_std,
	  &jmap_identity_type, JMAP_STD_CHANGES },
	{ "Identity/set", JMAP_CAP_SUBMISSION, JMAP_M_ACCOUNT | JMAP_M_WRITE,
	  i_std, &jmap_identity_type, JMAP_STD_SET },
	{ NULL, 0, 0, NULL, NULL, 0 },
};
