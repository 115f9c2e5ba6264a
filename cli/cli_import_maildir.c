/*
 * cli_import_maildir.c - `postern import maildir USER DIR`: a Dovecot or
 * Courier Maildir++ into an account's mailboxes.
 *
 * Layout: DIR/cur and DIR/new are INBOX; every DIR/.Name and
 * DIR/.Parent.Child holding cur/ or new/ is a folder, '.' separating the
 * levels, each level modified UTF-7 (decoded to UTF-8; a level that is
 * not valid modified UTF-7 is kept as it is, with a warning).  A
 * top-level folder with a well-known special-use name (Sent, Sent Items,
 * Drafts, Trash, Deleted Items, Junk, Spam, Archive, ...) goes into the
 * account's mailbox of that role, made by mail_ensure_defaults(); other
 * folders into the mailbox of that name, created with its parents as
 * needed.  Dovecot's LAYOUT=fs (DIR/Name/Sub) is not read.
 *
 * Messages: every regular file in cur/ and new/ whose name does not start
 * with a dot.  Flags come from the ":2," suffix (P forwarded, R answered,
 * S seen, T deleted, D draft, F flagged); lower-case letters are keywords
 * named by the folder's dovecot-keywords file ($Forwarded, $Junk and
 * $NotJunk/NonJunk become the matching flags).  Files in new/ are never
 * seen.  The internal date is the file's mtime, as Dovecot takes it.
 * Messages are added in the folder's dovecot-uidlist order (Courier's
 * courierimapuiddb when there is none), then the unlisted ones by name
 * (the delivery timestamp leads the name), so the new UIDs keep the
 * original order; the UID values themselves are new ones.
 *
 * Duplicates: a message whose content (after the CRLF fixing the store
 * does) is already in its target mailbox is skipped, so an import that
 * stopped half-way can simply be run again.
 *
 * Subscriptions: when DIR/subscriptions (Courier: courierimapsubscribed)
 * exists, the imported folders are subscribed exactly when they are
 * listed in it; other mailboxes keep theirs.
 *
 * Failures: a file that cannot be read, is not a regular file, is empty
 * or bigger than smtp.max_message_size is reported and skipped; the
 * import goes on and exits 1 at the end.  The quota is not enforced:
 * a migration should not lose mail (the usage is printed at the end).
 *
 * Runs as server.user like the other commands: the Maildir must be
 * readable by it (e.g. setfacl -R -m u:postern:rX DIR).
 *
 * XXX one transaction (and fsync) per message: batching a few hundred
 *     messages per transaction (store_msg_prepare + store_msg_add_txn)
 *     would make big imports several times faster.
 * XXX Courier's keywords (courierimapkeywords/) are not read, nor
 *     Dovecot's per-message GUIDs, modseqs and saved dates from
 *     dovecot.index*: those need Dovecot's index format.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/xalloc.h"
#include "directory/directory.h"
#include "store/store.h"

#define META_FILE_MAX (64u << 20)	/* dovecot-uidlist and friends */

struct msgfile {
	char *name;		/* in cur/ or new/ */
	bool is_new;
	uint32_t uid;		/* uidlist order; 0 = not listed */
};

struct uident {
	const char *base;	/* in the uidlist buffer, not terminated */
	size_t len;
	uint32_t uid;
};

struct folder {
	struct buf path;	/* DIR or DIR/.Name */
	char *label;		/* what the summary calls it */
	uint32_t mbox;
	char *keywords[CLI_MAILDIR_KEYWORDS];
	struct msgfile *msgs;
	size_t nmsgs;
	struct cli_idset have;	/* contents already in mbox */
};

struct imp {
	const struct config *cfg;
	struct store *st;
	uint32_t acct;
	const char *dir;
	struct buf subs;	/* subscribed names, tab-separated levels,
				   each followed by '\n' */
	bool has_subs;
	uint64_t imported, dups, failed, folders;
};

static const struct {
	const char *name;
	enum mail_role role;
} special[] = {
	{ "Sent", MAIL_ROLE_SENT }, { "Sent Items", MAIL_ROLE_SENT },
	{ "Sent Messages", MAIL_ROLE_SENT }, { "Sent Mail", MAIL_ROLE_SENT },
	{ "Drafts", MAIL_ROLE_DRAFTS }, { "Draft", MAIL_ROLE_DRAFTS },
	{ "Trash", MAIL_ROLE_TRASH }, { "Deleted Items", MAIL_ROLE_TRASH },
	{ "Deleted Messages", MAIL_ROLE_TRASH }, { "Junk", MAIL_ROLE_JUNK },
	{ "Spam", MAIL_ROLE_JUNK }, { "Junk E-mail", MAIL_ROLE_JUNK },
	{ "Junk Email", MAIL_ROLE_JUNK }, { "Archive", MAIL_ROLE_ARCHIVE },
	{ "Archives", MAIL_ROLE_ARCHIVE },
};

/*
 * read_small - a whole metadata file into out (max META_FILE_MAX): 1, 0
 * when it does not exist, -1 after a message.
 */
static int
read_small(const char *path, struct buf *out)
{
	char tmp[8192];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK);

	buf_reset(out);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		if ((size_t)n > META_FILE_MAX - out->len) {
			fprintf(stderr, "postern: %s: larger than %u bytes, "
			    "ignored\n", path, META_FILE_MAX);
			n = -2;
			break;
		} else {
			buf_add(out, tmp, (size_t)n);
		}
	if (n == -1)
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
	close(fd);
	if (n < 0)
		buf_reset(out);
	return n < 0 ? -1 : 1;
}

static void
read_keywords(struct folder *f)
{
	struct buf b = BUF_INIT(0), p = BUF_INIT(0);

	buf_addf(&p, "%s/dovecot-keywords", buf_cstr(&f->path));
	if (read_small(buf_cstr(&p), &b) > 0)
		cli_maildir_keywords(&b, f->keywords, buf_cstr(&p));
	buf_free(&b);
	buf_free(&p);
}

static int
uident_cmp(const void *a_, const void *b_)
{
	const struct uident *a = a_, *b = b_;
	int c = memcmp(a->base, b->base, a->len < b->len ? a->len : b->len);

	return c != 0 ? c : a->len < b->len ? -1 : a->len > b->len;
}

/* read_uidlist - each message's uid from dovecot-uidlist (or Courier's
 * courierimapuiddb, the same shape as uidlist version 1) */
static void
read_uidlist(struct folder *f)
{
	static const char *const names[] = { "dovecot-uidlist",
		"courierimapuiddb" };
	struct buf b = BUF_INIT(0), p = BUF_INIT(0);
	struct uident *v = NULL, key, *hit;
	size_t n = 0, cap = 0, pos = 0, len, off, blen;
	const char *line;
	int r = 0;

	for (size_t i = 0; i < ARRAY_SIZE(names) && r == 0; i++) {
		buf_reset(&p);
		buf_addf(&p, "%s/%s", buf_cstr(&f->path), names[i]);
		r = read_small(buf_cstr(&p), &b);
	}
	/* the first line is the header */
	if (r > 0 && cli_maildir_next_line(&b, &pos, &line, &len))
		while (cli_maildir_next_line(&b, &pos, &line, &len)) {
			if (cli_maildir_uidlist_line(line, len, &key.uid,
			    &off, &blen) < 0)
				continue;
			if (n == cap) {
				cap = cap == 0 ? 256 : cap * 2;
				v = xreallocarray(v, cap, sizeof(*v));
			}
			v[n].base = line + off;
			v[n].len = blen;
			v[n++].uid = key.uid;
		}
	if (n > 0) {
		qsort(v, n, sizeof(*v), uident_cmp);
		for (size_t i = 0; i < f->nmsgs; i++) {
			struct cli_maildir_info info;

			cli_maildir_info_parse(f->msgs[i].name, &info);
			key.base = f->msgs[i].name;
			key.len = info.base_len;
			hit = bsearch(&key, v, n, sizeof(*v), uident_cmp);
			if (hit != NULL)
				f->msgs[i].uid = hit->uid;
		}
	}
	free(v);
	buf_free(&b);
	buf_free(&p);
}

/* msg_cmp - uidlist order first, then by the leading timestamp, name */
static int
msg_cmp(const void *a_, const void *b_)
{
	const struct msgfile *a = a_, *b = b_;
	size_t da = strspn(a->name, "0123456789");
	size_t db = strspn(b->name, "0123456789");

	if ((a->uid != 0) != (b->uid != 0))
		return a->uid != 0 ? -1 : 1;
	if (a->uid != b->uid)
		return a->uid < b->uid ? -1 : 1;
	if (da != db)	/* shorter digit run: smaller number */
		return da < db ? -1 : 1;
	return strcmp(a->name, b->name);
}

static void
list_sub(struct folder *f, const char *sub, bool is_new, size_t *cap)
{
	struct buf p = BUF_INIT(0);
	struct dirent *de;
	DIR *dir;

	buf_addf(&p, "%s/%s", buf_cstr(&f->path), sub);
	if ((dir = opendir(buf_cstr(&p))) == NULL) {
		if (errno != ENOENT)
			fprintf(stderr, "postern: %s: %s\n", buf_cstr(&p),
			    strerror(errno));
		buf_free(&p);
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (f->nmsgs == *cap) {
			*cap = *cap == 0 ? 64 : *cap * 2;
			f->msgs = xreallocarray(f->msgs, *cap,
			    sizeof(*f->msgs));
		}
		f->msgs[f->nmsgs].name = xstrdup(de->d_name);
		f->msgs[f->nmsgs].is_new = is_new;
		f->msgs[f->nmsgs++].uid = 0;
	}
	closedir(dir);
	buf_free(&p);
}

/*
 * read_message - the file at path into out, bounded by max: 0, or -1
 * with *why (a static string or strerror)
 */
static int
read_message(const char *path, uint64_t max, struct buf *out,
    struct stat *st, const char **why)
{
	int fd = open(path, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);
	size_t want;
	ssize_t n;

	buf_reset(out);
	if (fd < 0 || fstat(fd, st) < 0) {
		*why = errno == ELOOP ? "a symbolic link" : strerror(errno);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*why = !S_ISREG(st->st_mode) ? "not a regular file" :
	    st->st_size == 0 ? "empty" : (uint64_t)st->st_size > max ?
	    "larger than smtp.max_message_size" : NULL;
	if (*why != NULL) {
		close(fd);
		return -1;
	}
	want = (size_t)st->st_size;
	if (buf_reserve(out, want + 1) < 0)
		PANIC("read_message: reserve");
	/* bounded: a file that grows meanwhile is cut at max */
	while (out->len <= max &&
	    (n = read(fd, out->data + out->len, out->cap - out->len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*why = strerror(errno);
			close(fd);
			return -1;
		}
		out->len += (size_t)n;
		if (out->len == out->cap && out->len <= max &&
		    buf_reserve(out, 65536) < 0)
			PANIC("read_message: reserve");
	}
	close(fd);
	out->data[out->len] = '\0';
	if (out->len > max || out->len == 0) {
		*why = out->len == 0 ? "empty" :
		    "larger than smtp.max_message_size";
		return -1;
	}
	return 0;
}

/*
 * content_id - the blob id the store will give data: SHA-256 after every
 * bare LF is made CRLF (store_msg_prepare does the same)
 */
static void
content_id(const struct buf *data, struct buf *tmp, struct blob_id *id)
{
	const unsigned char *p = data->data;
	size_t len = data->len;

	if (memchr(p, '\n', len) != NULL) {
		buf_reset(tmp);
		for (size_t i = 0; i < len; i++) {
			if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
				buf_add(tmp, "\r", 1);
			buf_add(tmp, &p[i], 1);
		}
		p = tmp->data;
		len = tmp->len;
	}
	blob_id_of(p, len, id);
}

static void
import_one(struct imp *im, struct folder *f, struct msgfile *m,
    struct buf *data, struct buf *tmp)
{
	const char *kw[CLI_MAILDIR_KEYWORDS], *why;
	struct cli_maildir_info info;
	struct buf path = BUF_INIT(0), err = BUF_INIT(0);
	struct store_add a;
	struct blob_id id;
	struct stat st;
	size_t nkw = 0;
	int r;

	buf_addf(&path, "%s/%s/%s", buf_cstr(&f->path), m->is_new ? "new" :
	    "cur", m->name);
	if (read_message(buf_cstr(&path), im->cfg->smtp.max_message_size,
	    data, &st, &why) < 0) {
		fprintf(stderr, "postern: %s: %s, skipped\n", buf_cstr(&path),
		    why);
		im->failed++;
		goto out;
	}
	content_id(data, tmp, &id);
	if (cli_idset_has(&f->have, &id)) {
		im->dups++;
		goto out;
	}
	cli_maildir_info_parse(m->name, &info);
	memset(&a, 0, sizeof(a));
	a.acct = im->acct;
	a.mbox = f->mbox;
	a.flags = info.flags;
	for (unsigned i = 0; i < CLI_MAILDIR_KEYWORDS; i++) {
		uint32_t fl;

		if ((info.keywords & (1u << i)) == 0 || f->keywords[i] == NULL)
			continue;
		if ((fl = cli_maildir_keyword_flag(f->keywords[i])) != 0)
			a.flags |= fl;
		else
			kw[nkw++] = f->keywords[i];
	}
	if (m->is_new)
		a.flags &= ~MAIL_F_SEEN;
	a.keywords = kw;
	a.nkeywords = nkw;
	a.received_at = st.st_mtime > 0 ? (int64_t)st.st_mtime : 0;
	r = store_append(im->st, &a, data->data, data->len, NULL, &err);
	if (r < 0) {
		fprintf(stderr, "postern: %s: %s, skipped\n", buf_cstr(&path),
		    r == STORE_OVER_QUOTA ? "over quota" : buf_cstr(&err));
		im->failed++;
		goto out;
	}
	/* a second copy in the same folder is a duplicate too */
	cli_idset_add(&f->have, &id);
	im->imported++;
out:
	buf_free(&path);
	buf_free(&err);
}

struct role_find {
	enum mail_role role;
	uint32_t id;
	char *name;
};

static int
role_cb(void *arg, const struct mail_mailbox *mb)
{
	struct role_find *rf = arg;

	if (mb->parent != 0 || mb->role != rf->role)
		return 0;
	rf->id = mb->id;
	rf->name = xstrdup(mb->name);
	return 1;
}

/* special_role - the role of a top-level folder name, or NONE */
static enum mail_role
special_role(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(special); i++)
		if (strcasecmp(name, special[i].name) == 0)
			return special[i].role;
	return MAIL_ROLE_NONE;
}

/*
 * decode_level - one level of a folder name as UTF-8 into out: modified
 * UTF-7 decoded, or kept as it is (with a warning) when it is not that
 */
static void
decode_level(const char *dirname, const char *lv, size_t len,
    struct buf *out)
{
	buf_reset(out);
	if (cli_maildir_mutf7_decode(lv, len, out) == 0)
		return;
	fprintf(stderr, "postern: folder %s: \"%.*s\" is not modified UTF-7, "
	    "name kept as it is\n", dirname, (int)len, lv);
	buf_add(out, lv, len);
}

/*
 * folder_mailbox - the mailbox of folder dirname ("" = INBOX, else
 * ".A.B"), found or created with its parents; f->label says which.  -1
 * after a message.
 */
static int
folder_mailbox(struct imp *im, const char *dirname, struct folder *f)
{
	struct buf label = BUF_INIT(0), level = BUF_INIT(0), err = BUF_INIT(0);
	struct role_find rf = { MAIL_ROLE_NONE, 0, NULL };
	const char *p = dirname + 1, *dot;
	uint32_t parent = 0, id = 0;
	int r = 0;

	if (dirname[0] == '\0') {
		f->label = xstrdup("INBOX");
		r = mail_mailbox_find(im->st->mail, im->acct, 0, "INBOX",
		    &f->mbox, &err);
		if (r == 0)
			buf_addf(&err, "no INBOX");
		goto out;
	}
	for (; r >= 0; p = dot + 1) {
		size_t len;

		dot = strchr(p, '.');
		len = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (len == 0) {
			buf_addf(&err, "empty level in the folder name");
			r = -1;
			break;
		}
		decode_level(dirname, p, len, &level);
		if (parent == 0 && dot == NULL &&
		    (rf.role = special_role(buf_cstr(&level))) !=
		    MAIL_ROLE_NONE &&
		    mail_mailbox_list(im->st->mail, im->acct, role_cb, &rf,
		    &err) == 0 && rf.id != 0) {
			buf_addf(&label, "%s (into %s)", buf_cstr(&level),
			    rf.name);
			id = rf.id;
			break;
		}
		if (err.len > 0) {
			r = -1;
			break;
		}
		if (label.len > 0)
			buf_add(&label, "/", 1);
		buf_add(&label, level.data, level.len);
		r = mail_mailbox_find(im->st->mail, im->acct, parent,
		    buf_cstr(&level), &id, &err);
		if (r == 0)
			r = mail_mailbox_create(im->st->mail, im->acct, parent,
			    buf_cstr(&level), MAIL_ROLE_NONE, &id, &err);
		parent = id;
		if (dot == NULL)
			break;
	}
	f->mbox = id;
	f->label = buf_steal(&label, NULL);
out:
	if (r < 0)
		fprintf(stderr, "postern: folder %s: %s, skipped\n",
		    dirname[0] != '\0' ? dirname : "INBOX", buf_cstr(&err));
	free(rf.name);
	buf_free(&label);
	buf_free(&level);
	buf_free(&err);
	return r < 0 ? -1 : 0;
}

/* ---- subscriptions ---- */

static void
read_subscriptions(struct imp *im)
{
	struct buf b = BUF_INIT(0), p = BUF_INIT(0);
	const char *line;
	size_t pos = 0, len;
	bool v2;

	buf_addf(&p, "%s/subscriptions", im->dir);
	if (read_small(buf_cstr(&p), &b) == 0) {
		buf_reset(&p);
		buf_addf(&p, "%s/courierimapsubscribed", im->dir);
		(void)read_small(buf_cstr(&p), &b);
	}
	if (b.len > 0) {
		im->has_subs = true;
		v2 = b.len >= 5 && memcmp(b.data, "V\t2\n\n", 5) == 0;
		pos = v2 ? 5 : 0;
		while (cli_maildir_next_line(&b, &pos, &line, &len))
			if (cli_maildir_subs_line(line, len, v2, &im->subs) ==
			    0)
				buf_add(&im->subs, "\n", 1);
	}
	buf_free(&b);
	buf_free(&p);
}

static bool
subs_has(const struct imp *im, const struct buf *name)
{
	const char *line;
	size_t pos = 0, len;

	while (cli_maildir_next_line(&im->subs, &pos, &line, &len))
		if (len == name->len && memcmp(line, name->data, len) == 0)
			return true;
	return false;
}

/* is_subscribed - dirname (".A.B" or "" for INBOX) listed, in its raw
 * (modified UTF-7) or decoded form */
static bool
is_subscribed(const struct imp *im, const char *dirname)
{
	struct buf raw = BUF_INIT(0), dec = BUF_INIT(0), lv = BUF_INIT(0);
	const char *p, *dot;
	bool yes;

	if (dirname[0] == '\0')
		buf_add_str(&raw, "INBOX");
	for (p = dirname + (dirname[0] != '\0'); dirname[0] != '\0';
	    p = dot + 1) {
		size_t len;

		dot = strchr(p, '.');
		len = dot != NULL ? (size_t)(dot - p) : strlen(p);
		if (raw.len > 0) {
			buf_add(&raw, "\t", 1);
			buf_add(&dec, "\t", 1);
		}
		buf_add(&raw, p, len);
		buf_reset(&lv);
		if (cli_maildir_mutf7_decode(p, len, &lv) < 0)
			buf_add(&lv, p, len);
		buf_add(&dec, lv.data, lv.len);
		if (dot == NULL)
			break;
	}
	yes = subs_has(im, &raw) || (dec.len > 0 && subs_has(im, &dec));
	buf_free(&raw);
	buf_free(&dec);
	buf_free(&lv);
	return yes;
}

/* ---- one folder ---- */

struct email_ids {
	uint32_t *v;
	size_t n;
};

static int
email_cb(void *arg, const struct mail_msg *msg)
{
	struct email_ids *ids = arg;

	ids->v = xreallocarray(ids->v, ids->n + 1, sizeof(*ids->v));
	ids->v[ids->n++] = msg->email;
	return 0;
}

/* load_have - the contents already in f's mailbox (the ids first: no
 * get while the scan runs) */
static int
load_have(struct imp *im, struct folder *f)
{
	struct buf err = BUF_INIT(0);
	struct email_ids ids = { NULL, 0 };
	struct mail_email em;
	int r = mail_msg_list(im->st->mail, im->acct, f->mbox, 1, email_cb,
	    &ids, &err);

	for (size_t i = 0; r >= 0 && i < ids.n; i++) {
		r = mail_email_get(im->st->mail, im->acct, ids.v[i], &em,
		    &err);
		if (r > 0)
			cli_idset_add(&f->have, &em.blob);
		mail_email_clear(&em);
	}
	if (r < 0)
		fprintf(stderr, "postern: %s: %s\n", f->label, buf_cstr(&err));
	free(ids.v);
	buf_free(&err);
	return r < 0 ? -1 : 0;
}

static void
folder_free(struct folder *f)
{
	buf_free(&f->path);
	free(f->label);
	for (size_t i = 0; i < CLI_MAILDIR_KEYWORDS; i++)
		free(f->keywords[i]);
	for (size_t i = 0; i < f->nmsgs; i++)
		free(f->msgs[i].name);
	free(f->msgs);
	cli_idset_free(&f->have);
}

static void
import_folder(struct imp *im, const char *dirname)
{
	struct buf data = BUF_INIT(0), tmp = BUF_INIT(0), err = BUF_INIT(0);
	uint64_t imported = im->imported, dups = im->dups;
	uint64_t failed = im->failed;
	struct folder f;
	size_t cap = 0;

	memset(&f, 0, sizeof(f));
	buf_add_str(&f.path, im->dir);
	if (dirname[0] != '\0')
		buf_addf(&f.path, "/%s", dirname);
	if (folder_mailbox(im, dirname, &f) < 0 || load_have(im, &f) < 0) {
		im->failed++;
		goto out;
	}
	read_keywords(&f);
	list_sub(&f, "cur", false, &cap);
	list_sub(&f, "new", true, &cap);
	read_uidlist(&f);
	if (f.nmsgs > 0)
		qsort(f.msgs, f.nmsgs, sizeof(*f.msgs), msg_cmp);
	for (size_t i = 0; i < f.nmsgs; i++)
		import_one(im, &f, &f.msgs[i], &data, &tmp);
	im->folders++;
	printf("%s: %llu imported", f.label,
	    (unsigned long long)(im->imported - imported));
	if (im->dups > dups)
		printf(", %llu already there", (unsigned long long)(im->dups -
		    dups));
	if (im->failed > failed)
		printf(", %llu failed", (unsigned long long)(im->failed -
		    failed));
	printf("\n");
	if (im->has_subs &&
	    mail_mailbox_subscribe(im->st->mail, im->acct, f.mbox,
	    is_subscribed(im, dirname), &err) < 0) {
		fprintf(stderr, "postern: %s: subscription: %s\n", f.label,
		    buf_cstr(&err));
		im->failed++;
	}
out:
	folder_free(&f);
	buf_free(&data);
	buf_free(&tmp);
	buf_free(&err);
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* is_folder - DIR/name is a directory holding cur/ or new/ */
static bool
is_folder(const char *dir, const char *name)
{
	struct buf p = BUF_INIT(0);
	struct stat sb;
	bool yes = false;

	for (size_t i = 0; i < 2 && !yes; i++) {
		buf_reset(&p);
		buf_addf(&p, "%s/%s/%s", dir, name, i == 0 ? "cur" : "new");
		yes = stat(buf_cstr(&p), &sb) == 0 && S_ISDIR(sb.st_mode);
	}
	buf_free(&p);
	return yes;
}

/* list_folders - the ".Name" folders of the Maildir, sorted (a parent
 * before its children); -1 after a message */
static int
list_folders(const char *dir, char ***names_r, size_t *n_r)
{
	struct dirent *de;
	char **v = NULL;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (d == NULL) {
		fprintf(stderr, "postern: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    !is_folder(dir, de->d_name))
			continue;
		v = xreallocarray(v, n + 1, sizeof(*v));
		v[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), name_cmp);
	*names_r = v;
	*n_r = n;
	return 0;
}

int
cli_import_maildir(const struct config *cfg, const char *user,
    const char *dir)
{
	struct buf err = BUF_INIT(0);
	struct directory *d = NULL;
	struct dir_account a;
	struct imp im;
	char **names = NULL;
	size_t n = 0;
	uint64_t used;
	int rc = 1;

	memset(&im, 0, sizeof(im));
	im.cfg = cfg;
	im.dir = dir;
	if (cli_store_open(cfg, &im.st) < 0)
		return 1;
	d = directory_new(im.st->kv, NULL);
	if (cli_account_id(d, user, &im.acct) < 0)
		goto out;
	/* checked as server.user: what it cannot read is reported here */
	if (!is_folder(dir, ".")) {
		fprintf(stderr, "postern: %s: not a Maildir (no cur/ or new/ "
		    "readable by user %s): %s\n", dir, cfg->server.user,
		    access(dir, R_OK | X_OK) < 0 ? strerror(errno) :
		    "no such subdirectory");
		goto out;
	}
	if (list_folders(dir, &names, &n) < 0)
		goto out;
	if (mail_ensure_defaults(im.st->mail, im.acct, &err) < 0) {
		fprintf(stderr, "postern: %s: %s\n", user, buf_cstr(&err));
		goto out;
	}
	read_subscriptions(&im);
	import_folder(&im, "");
	for (size_t i = 0; i < n; i++)
		import_folder(&im, names[i]);
	printf("total: %llu messages imported into %llu mailboxes, %llu "
	    "already there, %llu failed\n", (unsigned long long)im.imported,
	    (unsigned long long)im.folders, (unsigned long long)im.dups,
	    (unsigned long long)im.failed);
	if (dir_user_get(d, user, &a, &err) > 0) {
		if (a.quota > 0 &&
		    mail_quota_used(im.st->mail, im.acct, &used, &err) == 0 &&
		    used > a.quota)
			printf("warning: %s uses %llu bytes, over its quota of "
			    "%llu\n", a.name, (unsigned long long)used,
			    (unsigned long long)a.quota);
		dir_account_clear(&a);
	}
	rc = im.failed > 0 ? 1 : 0;
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	buf_free(&im.subs);
	buf_free(&err);
	directory_free(&d);
	store_close(&im.st);
	return rc;
}
