/*
 * directory.h - who exists: domains, accounts, aliases, and their
 * passwords.  The internal directory keeps them in the data store
 * (store/LAYOUT.md: 'D', 'A', 'a'); LDAP and SQL directories come later
 * behind the same calls.
 *
 * Names: domains and addresses are stored lowercased (ASCII); an account
 * is named by its full address "user@domain".  An alias maps an address,
 * or "@domain" (catch-all), to one or more targets, each a local account,
 * another alias (followed up to DIR_ALIAS_DEPTH) or a remote address.
 *
 * All calls block on the data store: workers and the CLI only.  Errors
 * append one line to err; "exists"/"unknown" errors name the object.
 */
#ifndef POSTERN_DIRECTORY_H
#define POSTERN_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "store/kv.h"

#define DIR_ALIAS_DEPTH 8	/* alias -> alias -> ... hops */
#define DIR_RESOLVE_MAX 1000	/* accounts + forwards one address yields */
#define DIR_NAME_MAX 320	/* local@domain, RFC 5321 limits */

struct directory;

struct dir_options {
	char subaddress_sep;	/* '+' by default; 0 = no sub-addressing */
};

struct dir_account {
	uint32_t id;
	char *name;		/* "user@example.com" */
	char *display_name;	/* "" when unset */
	char *password;		/* stored hash, "" = login disabled */
	uint64_t quota;		/* bytes, 0 = unlimited */
	uint64_t created;	/* unix seconds */
};

void dir_account_clear(struct dir_account *a);

struct directory *directory_new(struct kv *kv, const struct dir_options *opt);
void directory_free(struct directory **d);

/* domains */
int dir_domain_add(struct directory *d, const char *domain, struct buf *err)
    WARN_UNUSED;
/* dir_domain_del - refused while accounts or aliases of it remain */
int dir_domain_del(struct directory *d, const char *domain, struct buf *err)
    WARN_UNUSED;
/* dir_domain_exists - 1 yes, 0 no, -1 error */
int dir_domain_exists(struct directory *d, const char *domain,
    struct buf *err) WARN_UNUSED;
typedef int dir_name_fn(void *arg, const char *name);
/* dir_domain_list - fn for each domain in order; fn != 0 stops */
int dir_domain_list(struct directory *d, dir_name_fn *fn, void *arg,
    struct buf *err) WARN_UNUSED;

/* accounts; password NULL or "" = no login until set */
int dir_user_add(struct directory *d, const char *addr, const char *password,
    uint64_t quota, const char *display_name, uint32_t *id_r,
    struct buf *err) WARN_UNUSED;
int dir_user_del(struct directory *d, const char *addr, struct buf *err)
    WARN_UNUSED;
int dir_user_passwd(struct directory *d, const char *addr,
    const char *password, struct buf *err) WARN_UNUSED;
/* dir_user_set_hash - store an existing hash as is (imports) */
int dir_user_set_hash(struct directory *d, const char *addr,
    const char *hash, struct buf *err) WARN_UNUSED;
int dir_user_set_quota(struct directory *d, const char *addr, uint64_t quota,
    struct buf *err) WARN_UNUSED;
/* dir_user_get - 1 found (a filled, caller clears), 0 unknown, -1 */
int dir_user_get(struct directory *d, const char *addr, struct dir_account *a,
    struct buf *err) WARN_UNUSED;
int dir_user_get_id(struct directory *d, uint32_t id, struct dir_account *a,
    struct buf *err) WARN_UNUSED;
typedef int dir_account_fn(void *arg, const struct dir_account *a);
/* dir_user_list - every account, or those of domain (non-NULL) */
int dir_user_list(struct directory *d, const char *domain, dir_account_fn *fn,
    void *arg, struct buf *err) WARN_UNUSED;

/* aliases: alias is "name@domain" or "@domain" (catch-all) */
int dir_alias_add(struct directory *d, const char *alias, const char *target,
    struct buf *err) WARN_UNUSED;
/* dir_alias_del - one target, or all of the alias's when target is NULL */
int dir_alias_del(struct directory *d, const char *alias, const char *target,
    struct buf *err) WARN_UNUSED;
typedef int dir_alias_fn(void *arg, const char *alias, const char *target);
int dir_alias_list(struct directory *d, dir_alias_fn *fn, void *arg,
    struct buf *err) WARN_UNUSED;

/* where mail for an address goes */
struct dir_rcpt {
	uint32_t *accounts;	/* local accounts, no duplicates */
	size_t naccounts;
	char **forwards;	/* remote addresses, no duplicates */
	size_t nforwards;
};

void dir_rcpt_clear(struct dir_rcpt *r);
/*
 * dir_resolve - 1 when addr reaches anyone (r filled), 0 when unknown
 * (550 5.1.1 at RCPT), -1 on error (451).  Order: the account itself; the
 * address without its sub-address ("user+tag@d" -> "user@d"); an alias
 * of either; the domain's catch-all.  Alias loops end at DIR_ALIAS_DEPTH.
 */
int dir_resolve(struct directory *d, const char *addr, struct dir_rcpt *r,
    struct buf *err) WARN_UNUSED;

/*
 * dir_owns - whether account id may use addr as its own (a sender
 * address): 1 when addr, normalised, is the account's address, or that
 * address with a sub-address, or an alias (with or without a
 * sub-address, through other aliases) that reaches the account, among
 * its targets; 0 when not: another account, an address only a domain's
 * catch-all takes (a catch-all is not ownership of the domain), a remote
 * or unknown address, or something that is no address at all; -1 on
 * error.
 */
int dir_owns(struct directory *d, uint32_t id, const char *addr,
    struct buf *err) WARN_UNUSED;

/*
 * dir_authenticate - 1 with *id_r when user (an account's address) and
 * password match, 0 when they do not (unknown user included: the same
 * work is done, so timing does not tell which), -1 on error.
 */
int dir_authenticate(struct directory *d, const char *user,
    const char *password, size_t pwlen, uint32_t *id_r, struct buf *err)
    WARN_UNUSED;

/* dir_normalize - lowercased copy of an address or domain into out;
 * -1 (err) when empty, too long or holding control characters */
int dir_normalize(const char *in, struct buf *out, struct buf *err)
    WARN_UNUSED;

#endif
