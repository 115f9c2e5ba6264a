/*
 * imap_metadata.c - GETMETADATA and SETMETADATA (RFC 5464): server
 * annotations (mailbox "") and mailbox annotations, /private and
 * /shared, kept by the store (store/mail.h "annotations", mail_meta.c).
 * Each command is one job with one transaction.  The parser has checked
 * the entry names (RFC 5464 3.2) and read the values, binary ones
 * (literal8, NUL allowed) included.
 *
 * GETMETADATA (RFC 5464 4.2): one METADATA response with every entry
 * found, none when there is none.  Names are case-insensitive and come
 * back lowercase.  A named entry that does not exist is answered NIL
 * (as Dovecot does: the client learns it asked about nothing); with
 * DEPTH 1 or infinity the entries below it follow, found ones only.
 * MAXSIZE leaves out values longer than it and the tagged OK says the
 * longest left out, [METADATA LONGENTRIES n] (4.2.1).  A value holding
 * NUL goes out as a literal8, others quoted or as a literal.  An answer
 * over META_OUT_MAX (possible only with the limits raised) is NO [LIMIT].
 *
 * SETMETADATA (RFC 5464 4.3): every entry of the command in one write
 * transaction, so all are set (NIL: removed) or none.  Limits, from the
 * configuration: a value over imap.metadata_max_size is NO [METADATA
 * MAXSIZE n]; an entry that would make a mailbox (or the server) hold
 * more than imap.metadata_max_entries is NO [METADATA TOOMANY], decided
 * in the transaction.  Private annotations are supported, so NOPRIVATE
 * is never said.  A name that cannot be a key (over MAIL_META_NAME_MAX
 * bytes) is NO [LIMIT]; "/private" or "/shared" alone is not an entry:
 * BAD, as the parser answers other bad names.
 *
 * /private/specialuse (RFC 6154 4) of a mailbox is its special-use
 * attribute, read from the mailbox's role, not stored; setting it is
 * refused NO [USEATTR] unless it says what is there already (roles are
 * given with CREATE (USE ...): the store has no role change yet).  On the
 * server it is an entry like any other.
 *
 * Who hears of a change: the store notes the account in the commit, so
 * the sessions in IDLE are woken (store change hook), and each entry
 * set is told to NOTIFY (imap_notify_metadata_changed) for the sessions
 * that asked for MailboxMetadataChange / ServerMetadataChange.
 *
 * Decisions (RFC 5464 leaves room): annotations of every kind are per
 * account (see mail_meta.c); RENAME keeps a mailbox's annotations,
 * DELETE removes them; GETMETADATA on a mailbox pattern (Dovecot's
 * extension of an older draft) is not offered: the name must exist.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

#define SPECIALUSE "/private/specialuse"
/* one METADATA response at most (a mailbox may hold up to 1000 entries
 * of 64 KiB, as configured): past it the command is NO [LIMIT] */
#define META_OUT_MAX (16u << 20)

/* lower - a lowercase copy of an entry name (RFC 5464 3.2) */
static char *
lower(const struct imap_str *name)
{
	char *s = xmemdup0(name->p, name->len);

	for (char *p = s; *p != '\0'; p++)
		*p = (char)ascii_tolower((unsigned char)*p);
	return s;
}

/* target - the mailbox of the command: 1 with *mbox_r (MAIL_META_SERVER
 * for "") and *role_r, 0 when answered (NO written) */
static int
target(struct imap_session *s, uint32_t *mbox_r, enum mail_role *role_r)
{
	const struct imap_mailbox *mbx = &s->cmd->u.meta.mbox;
	struct mail_mailbox mb;
	struct buf err = BUF_INIT(0);
	int r;

	*mbox_r = MAIL_META_SERVER;
	*role_r = MAIL_ROLE_NONE;
	if (mbx->name.len == 0)
		return 1;
	if (imap_resolve(s, mbx->name.p, mbx->name.len, mbox_r, true) != 1)
		return 0;
	memset(&mb, 0, sizeof(mb));
	r = mail_mailbox_get(s->srv->st->mail, s->acct, *mbox_r, &mb, &err);
	if (r < 0)
		imap_store_error(s, imap_cmd_name(s->cmd->kind), &err);
	else if (r == 0)
		imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
	else
		*role_r = mb.role;
	mail_mailbox_clear(&mb);
	buf_free(&err);
	return r == 1;
}

/* ---- GETMETADATA ---- */

struct get_ctx {
	struct imap_session *s;
	bool has_maxsize;
	uint32_t maxsize;
	struct buf list;	/* "entry value" pairs, space-separated */
	size_t n;
	uint64_t longest;	/* the longest value left out (MAXSIZE) */
	bool too_big;		/* past META_OUT_MAX */
};

/* put - one entry into the list (value NULL: NIL), or leave it out for
 * MAXSIZE */
static void
put(struct get_ctx *c, const char *name, const void *value, size_t len)
{
	if (value != NULL && c->has_maxsize && len > c->maxsize) {
		if (len > c->longest)
			c->longest = len;
		return;
	}
	if (c->list.len > META_OUT_MAX) {
		c->too_big = true;
		return;
	}
	if (c->n++ > 0)
		buf_add_str(&c->list, " ");
	imap_write_astring(&c->list, name, strlen(name), false);
	buf_add_str(&c->list, " ");
	if (value == NULL)
		buf_add_str(&c->list, "NIL");
	else if (memchr(value, '\0', len) != NULL)
		imap_write_literal(&c->list, value, len, true);
	else
		imap_write_string(&c->list, value, len, c->s->utf8);
}

static int
put_row(void *arg, const char *name, const void *value, size_t len)
{
	put(arg, name, value, len);
	return 0;
}

/* get_entry - name and, with depth, what is below it */
static int
get_entry(struct get_ctx *c, struct kv_txn *t, uint32_t mbox,
    enum mail_role role, const char *name, enum imap_meta_depth depth,
    struct buf *err)
{
	struct imap_session *s = c->s;
	const char *use = imap_role_attr(role);
	struct buf v = BUF_INIT(0);
	int r = 0;

	if (mbox != MAIL_META_SERVER && strcmp(name, SPECIALUSE) == 0) {
		put(c, name, use, use != NULL ? strlen(use) : 0);
		return 0;
	}
	r = mail_meta_get_txn(t, s->acct, mbox, name, &v, err);
	if (r >= 0)
		put(c, name, r == 1 ? (const void *)v.data : NULL, v.len);
	buf_free(&v);
	if (r < 0 || depth == IMAP_META_DEPTH_0)
		return r < 0 ? -1 : 0;
	if (mail_meta_scan_txn(t, s->acct, mbox, name,
	    depth == IMAP_META_DEPTH_1, put_row, c, err) < 0)
		return -1;
	/* the special-use entry is one level below /private */
	if (mbox != MAIL_META_SERVER && use != NULL &&
	    strcmp(name, "/private") == 0)
		put(c, SPECIALUSE, use, strlen(use));
	return 0;
}

static void
getmetadata_work(struct imap_session *s)
{
	const struct imap_metadata *m = &s->cmd->u.meta;
	struct get_ctx c;
	struct kv_txn *t = NULL;
	struct buf err = BUF_INIT(0);
	enum imap_meta_depth depth = m->has_depth ? m->depth :
	    IMAP_META_DEPTH_0;
	enum mail_role role;
	uint32_t mbox;

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.has_maxsize = m->has_maxsize;
	c.maxsize = m->maxsize;
	buf_init(&c.list, 0);
	if (target(s, &mbox, &role) != 1)
		goto out;
	if (kv_begin(mail_kv(s->srv->st->mail), KV_READ, &t, &err) < 0)
		goto fail;
	for (size_t i = 0; i < m->nentry; i++) {
		char *name = lower(&m->entry[i].name);
		int r = get_entry(&c, t, mbox, role, name, depth, &err);

		free(name);
		if (r < 0)
			goto fail;
	}
	kv_abort(&t);
	if (c.too_big) {
		imap_tagged(s, "NO", "[LIMIT] Too much to answer at once; ask "
		    "for fewer entries");
		goto out;
	}
	if (c.n > 0) {
		buf_add_str(&s->out, "* METADATA ");
		imap_write_mailbox(&s->out, m->mbox.name.p, m->mbox.name.len,
		    s->utf8);
		buf_add_str(&s->out, " (");
		buf_add(&s->out, c.list.data, c.list.len);
		buf_add_str(&s->out, ")\r\n");
	}
	(void)imap_refresh(s, true);
	if (s->want_close)
		goto out;
	if (c.longest > 0)
		imap_tagged(s, "OK", "[METADATA LONGENTRIES %" PRIu64 "] "
		    "GETMETADATA completed", c.longest);
	else
		imap_tagged(s, "OK", "GETMETADATA completed");
	goto out;
fail:
	imap_store_error(s, "GETMETADATA", &err);
out:
	kv_abort(&t);
	buf_free(&c.list);
	buf_free(&err);
}

void
imap_cmd_getmetadata(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, getmetadata_work, NULL);
}

/* ---- SETMETADATA ---- */

struct set_op {
	struct imap_session *s;
	uint32_t mbox;
	char **names;		/* lowercase; NULL: not stored */
	size_t n;
	int result;		/* 1 set, 0 mailbox gone, TOOMANY */
};

static int
set_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct set_op *op = arg;
	const struct imap_metadata *m = &op->s->cmd->u.meta;

	op->result = 1;
	for (size_t i = 0; i < op->n; i++) {
		const struct imap_meta_entry *e = &m->entry[i];
		int r;

		if (op->names[i] == NULL)
			continue;
		r = mail_meta_set_txn(t, op->s->acct, op->mbox, op->names[i],
		    e->value.p, e->value.len,
		    op->s->cfg->imap.metadata_max_entries, err);
		if (r == 1)
			continue;
		op->result = r;
		/* nothing of the command is kept (RFC 5464 4.3) */
		return r < 0 && r != MAIL_META_TOOMANY ? r : -1;
	}
	return 0;
}

/*
 * check - the entries before any is written: 1 good, 0 answered.
 * names[i] stays NULL for an entry the store does not keep.
 */
static int
check(struct imap_session *s, uint32_t mbox, enum mail_role role,
    char **names)
{
	const struct imap_metadata *m = &s->cmd->u.meta;
	uint64_t max = s->cfg->imap.metadata_max_size;
	const char *use = imap_role_attr(role);

	for (size_t i = 0; i < m->nentry; i++) {
		const struct imap_meta_entry *e = &m->entry[i];
		char *name = lower(&e->name);

		if (strcmp(name, "/private") == 0 ||
		    strcmp(name, "/shared") == 0) {
			free(name);
			imap_bad(s, "Invalid metadata entry name");
			return 0;
		}
		if (e->name.len > MAIL_META_NAME_MAX) {
			free(name);
			imap_tagged(s, "NO", "[LIMIT] The entry name is too "
			    "long");
			return 0;
		}
		if (e->value.p != NULL && e->value.len > max) {
			free(name);
			imap_tagged(s, "NO", "[METADATA MAXSIZE %" PRIu64 "] "
			    "The value is too big", max);
			return 0;
		}
		if (mbox != MAIL_META_SERVER && strcmp(name, SPECIALUSE) == 0) {
			bool same = e->value.p == NULL ? use == NULL :
			    use != NULL && ascii_eq_nocase(e->value.p,
			    e->value.len, use);

			free(name);
			if (!same) {
				imap_tagged(s, "NO", "[USEATTR] The special "
				    "use of a mailbox is given with CREATE");
				return 0;
			}
			continue;	/* already so: nothing to write */
		}
		names[i] = name;
	}
	return 1;
}

static void
setmetadata_work(struct imap_session *s)
{
	const struct imap_metadata *m = &s->cmd->u.meta;
	struct set_op op;
	struct buf err = BUF_INIT(0);
	enum mail_role role;
	uint32_t mbox;
	int r;

	memset(&op, 0, sizeof(op));
	if (target(s, &mbox, &role) != 1)
		goto out;
	op.s = s;
	op.mbox = mbox;
	op.n = m->nentry;
	op.names = xcalloc(op.n + 1, sizeof(*op.names));
	if (check(s, mbox, role, op.names) != 1)
		goto out;
	r = kv_run(mail_kv(s->srv->st->mail), KV_WRITE, set_txn, &op, &err);
	if (r < 0 && op.result == MAIL_META_TOOMANY) {
		imap_tagged(s, "NO", "[METADATA TOOMANY] Too many annotations "
		    "(at most %u)", s->cfg->imap.metadata_max_entries);
		goto out;
	}
	if (r < 0 && op.result == 0) {
		imap_tagged(s, "NO", "[NONEXISTENT] No such mailbox");
		goto out;
	}
	if (r < 0) {
		imap_store_error(s, "SETMETADATA", &err);
		goto out;
	}
	for (size_t i = 0; i < op.n; i++)
		if (op.names[i] != NULL)
			imap_notify_metadata_changed(s, mbox, op.names[i]);
	(void)imap_refresh(s, true);
	if (!s->want_close)
		imap_tagged(s, "OK", "SETMETADATA completed");
out:
	for (size_t i = 0; i < op.n; i++)
		free(op.names[i]);
	free(op.names);
	buf_free(&err);
}

void
imap_cmd_setmetadata(struct imap_session *s)
{
	imap_run_job(s, s->srv->jobs, setmetadata_work, NULL);
}
