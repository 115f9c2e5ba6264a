/*
 * cli_mail.c - `postern mailbox|mail`: what an account's mailboxes hold,
 * for postmasters and for tests that check a delivery or an import.
 *
 *   postern mailbox list USER
 *   postern mail list USER [MAILBOX]
 *   postern mail show USER MAILBOX UID
 *
 * MAILBOX is the full name with '/' between the levels ("Work/Projects");
 * "INBOX" in any case is the inbox; without one, mail list shows INBOX.
 * Output is one line per mailbox or message under a header line, the
 * free-text column (name, subject) last so that scripts can split the
 * others on white space.  Text that comes from a message (From, Subject)
 * has its control characters replaced by '?' before it reaches the
 * terminal.  mail show writes the raw message (CRLF line ends) from the
 * blob store as it is.
 *
 * From and Subject come from the metadata stored at delivery
 * (mail_email_mime), not from the message.
 *
 * Read-only: the store is opened as for the other commands (SQLite may
 * be used next to a running server).  Exit status: 0, 1 (unknown
 * account, mailbox or UID, store error), 2 usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cli/cli.h"
#include "common/xalloc.h"
#include "directory/directory.h"
#include "store/store.h"


static int
usage(void)
{
	fprintf(stderr, "usage: postern mailbox list USER\n"
	    "       postern mail list USER [MAILBOX]\n"
	    "       postern mail show USER MAILBOX UID\n"
	    "MAILBOX: the full name, levels separated by '/' "
	    "(default INBOX)\n");
	return 2;
}

int
cli_store_open(const struct config *cfg, struct store **st_r)
{
	struct buf err = BUF_INIT(0);

	if (cli_data_dir(cfg) < 0)
		return -1;
	if (store_open(cfg, st_r, &err) < 0) {
		fprintf(stderr, "postern: %s\n", buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	buf_free(&err);
	return 0;
}

int
cli_account_id(struct directory *d, const char *addr, uint32_t *id_r)
{
	struct buf err = BUF_INIT(0);
	struct dir_account a;
	int r = dir_user_get(d, addr, &a, &err);

	if (r < 0)
		fprintf(stderr, "postern: %s\n", buf_cstr(&err));
	else if (r == 0)
		fprintf(stderr, "postern: unknown account %s\n", addr);
	else {
		*id_r = a.id;
		dir_account_clear(&a);
	}
	buf_free(&err);
	return r > 0 ? 0 : -1;
}

/* ---- the mailbox tree ---- */

struct mbox_row {
	struct mail_mailbox mb;	/* owns name */
	char *path;		/* "Work/Projects" */
};

struct mboxes {
	struct mbox_row *v;
	size_t n;
};

static int
collect_mbox(void *arg, const struct mail_mailbox *mb)
{
	struct mboxes *ms = arg;
	struct mbox_row *r;

	ms->v = xreallocarray(ms->v, ms->n + 1, sizeof(*ms->v));
	r = &ms->v[ms->n++];
	r->mb = *mb;
	r->mb.name = xstrdup(mb->name);
	r->path = NULL;
	return 0;
}

static struct mbox_row *
mbox_by_id(struct mboxes *ms, uint32_t id)
{
	for (size_t i = 0; i < ms->n; i++)
		if (ms->v[i].mb.id == id)
			return &ms->v[i];
	return NULL;
}

static void
mboxes_free(struct mboxes *ms)
{
	for (size_t i = 0; i < ms->n; i++) {
		mail_mailbox_clear(&ms->v[i].mb);
		free(ms->v[i].path);
	}
	free(ms->v);
	ms->v = NULL;
	ms->n = 0;
}

static int
path_cmp(const void *a_, const void *b_)
{
	const struct mbox_row *a = a_, *b = b_;

	/* INBOX first, the rest by name: a parent before its children */
	if ((a->mb.role == MAIL_ROLE_INBOX) != (b->mb.role == MAIL_ROLE_INBOX))
		return a->mb.role == MAIL_ROLE_INBOX ? -1 : 1;
	return strcmp(a->path, b->path);
}

/* load_mboxes - every mailbox of acct with its full path, sorted */
static int
load_mboxes(struct store *st, uint32_t acct, struct mboxes *ms)
{
	struct buf err = BUF_INIT(0), path = BUF_INIT(0);

	memset(ms, 0, sizeof(*ms));
	if (mail_mailbox_list(st->mail, acct, collect_mbox, ms, &err) < 0) {
		fprintf(stderr, "postern: %s\n", buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	for (size_t i = 0; i < ms->n; i++) {
		const struct mbox_row *r = &ms->v[i];
		char *tail = xstrdup(r->mb.name), *full;

		/* bounded: a parent loop cannot exist, but never spin */
		for (unsigned depth = 0; r->mb.parent != 0 &&
		    depth < MAIL_DEPTH_MAX; depth++) {
			if ((r = mbox_by_id(ms, r->mb.parent)) == NULL)
				break;
			buf_reset(&path);
			buf_addf(&path, "%s/%s", r->mb.name, tail);
			full = buf_steal(&path, NULL);
			free(tail);
			tail = full;
		}
		ms->v[i].path = tail;
	}
	if (ms->n > 0)
		qsort(ms->v, ms->n, sizeof(*ms->v), path_cmp);
	buf_free(&path);
	buf_free(&err);
	return 0;
}

static struct mbox_row *
find_path(struct mboxes *ms, const char *name)
{
	for (size_t i = 0; i < ms->n; i++)
		if (strcmp(ms->v[i].path, name) == 0 ||
		    (ms->v[i].mb.parent == 0 && strcasecmp(name, "INBOX") ==
		    0 && strcmp(ms->v[i].mb.name, "INBOX") == 0))
			return &ms->v[i];
	return NULL;
}

/* ---- messages ---- */

struct msg_row {
	uint32_t uid, email, flags;
	char *keywords;
};

struct msgs {
	struct msg_row *v;
	size_t n;
	uint32_t only_uid;	/* 0 = all */
};

static int
collect_msg(void *arg, const struct mail_msg *m)
{
	struct msgs *ms = arg;
	struct msg_row *r;

	if (ms->only_uid != 0 && m->uid != ms->only_uid)
		return 1;
	ms->v = xreallocarray(ms->v, ms->n + 1, sizeof(*ms->v));
	r = &ms->v[ms->n++];
	r->uid = m->uid;
	r->email = m->email;
	r->flags = m->flags;
	r->keywords = xstrdup(m->keywords != NULL ? m->keywords : "");
	return ms->only_uid != 0 ? 1 : 0;
}

static void
msgs_free(struct msgs *ms)
{
	for (size_t i = 0; i < ms->n; i++)
		free(ms->v[i].keywords);
	free(ms->v);
	memset(ms, 0, sizeof(*ms));
}

/* load_msgs - the memberships of mbox (or the one with uid) */
static int
load_msgs(struct store *st, uint32_t acct, uint32_t mbox, uint32_t uid,
    struct msgs *ms)
{
	struct buf err = BUF_INIT(0);
	int r;

	memset(ms, 0, sizeof(*ms));
	ms->only_uid = uid;
	r = mail_msg_list(st->mail, acct, mbox, uid != 0 ? uid : 1,
	    collect_msg, ms, &err);
	if (r < 0)
		fprintf(stderr, "postern: %s\n", buf_cstr(&err));
	buf_free(&err);
	return r;
}

/* email_get - the email record; -1 after a message */
static int
email_get(struct store *st, uint32_t acct, uint32_t email,
    struct mail_email *em)
{
	struct buf err = BUF_INIT(0);
	int r = mail_email_get(st->mail, acct, email, em, &err);

	if (r == 0)
		fprintf(stderr, "postern: email %u: no record\n", email);
	else if (r < 0)
		fprintf(stderr, "postern: email %u: %s\n", email,
		    buf_cstr(&err));
	buf_free(&err);
	return r > 0 ? 0 : -1;
}

/* put_safe - s with C0 and C1 control characters (UTF-8 U+0080..9F
 * too) as '?': message text never drives the terminal */
static void
put_safe(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == 0xc2 && (unsigned char)s[1] >= 0x80 &&
		    (unsigned char)s[1] <= 0x9f) {
			putchar('?');
			s++;
		} else {
			putchar(c < 0x20 || c == 0x7f ? '?' : c);
		}
	}
}

static const struct {
	uint32_t bit;
	const char *name;
} flag_names[] = {
	{ MAIL_F_SEEN, "\\Seen" }, { MAIL_F_ANSWERED, "\\Answered" },
	{ MAIL_F_FLAGGED, "\\Flagged" }, { MAIL_F_DELETED, "\\Deleted" },
	{ MAIL_F_DRAFT, "\\Draft" }, { MAIL_F_FORWARDED, "$Forwarded" },
	{ MAIL_F_JUNK, "$Junk" }, { MAIL_F_NOTJUNK, "$NotJunk" },
};

/* flags_text - "\Seen,\Flagged,kw" or "-": one word, no spaces */
static void
flags_text(uint32_t flags, const char *keywords, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < ARRAY_SIZE(flag_names); i++)
		if (flags & flag_names[i].bit)
			buf_addf(out, "%s%s", out->len > 0 ? "," : "",
			    flag_names[i].name);
	for (const char *p = keywords; *p != '\0'; p++) {
		if (p == keywords || p[-1] == ' ')
			if (out->len > 0)
				buf_add(out, ",", 1);
		if (*p != ' ')
			buf_add(out, p, 1);
	}
	if (out->len == 0)
		buf_add(out, "-", 1);
}

static void
print_msg(struct store *st, uint32_t acct, const struct msg_row *m,
    const struct mail_email *em, struct buf *tmp)
{
	struct mime_info *info = NULL;
	struct buf err = BUF_INIT(0);

	/* the metadata stored at delivery: no message read, no parse */
	if (mail_email_mime(st->mail, acct, em->id, &info, &err) < 0)
		fprintf(stderr, "postern: message %u: %s\n", m->uid,
		    buf_cstr(&err));
	buf_free(&err);
	time_t t = (time_t)em->received_at;
	struct tm tm;
	char date[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		memcpy(date, "-", 2);
	flags_text(m->flags, m->keywords, tmp);
	printf("%6u %-28s %9llu %s ", m->uid, buf_cstr(tmp),
	    (unsigned long long)em->size, date);
	buf_reset(tmp);
	if (info != NULL && info->hdr.from.n > 0 &&
	    info->hdr.from.v[0].kind == MIME_ADDR_MAILBOX)
		buf_addf(tmp, "%s@%s", info->hdr.from.v[0].local,
		    info->hdr.from.v[0].domain);
	for (size_t i = 0; i < tmp->len; i++)	/* one word */
		if (tmp->data[i] == ' ')
			tmp->data[i] = '_';
	put_safe(tmp->len > 1 ? buf_cstr(tmp) : "-");
	putchar(' ');
	put_safe(info != NULL && info->hdr.subject != NULL ?
	    info->hdr.subject : "");
	putchar('\n');
	mime_info_free(&info);
}

/* ---- the commands ---- */

static int
mailbox_list(struct store *st, uint32_t acct)
{
	struct mboxes ms;
	struct msgs msgs;
	int rc = 0;

	if (load_mboxes(st, acct, &ms) < 0)
		return 1;
	printf("%8s %8s %12s %11s %8s %-8s %-3s %s\n", "MESSAGES", "UNSEEN",
	    "SIZE", "UIDVALIDITY", "UIDNEXT", "ROLE", "SUB", "NAME");
	for (size_t i = 0; i < ms.n && rc == 0; i++) {
		const struct mail_mailbox *mb = &ms.v[i].mb;
		uint64_t size = 0;

		if (load_msgs(st, acct, mb->id, 0, &msgs) < 0) {
			rc = 1;
			break;
		}
		for (size_t j = 0; j < msgs.n && rc == 0; j++) {
			struct mail_email em;

			if (email_get(st, acct, msgs.v[j].email, &em) < 0)
				rc = 1;
			else
				size += em.size;
			mail_email_clear(&em);
		}
		msgs_free(&msgs);
		printf("%8u %8u %12llu %11u %8u %-8s %-3s ", mb->total,
		    mb->unseen, (unsigned long long)size, mb->uidvalidity,
		    mb->uidnext, mb->role != MAIL_ROLE_NONE ?
		    mail_role_name(mb->role) : "-", mb->subscribed ? "yes" :
		    "no");
		put_safe(ms.v[i].path);
		putchar('\n');
	}
	mboxes_free(&ms);
	return rc;
}

static int
mail_list(struct store *st, uint32_t acct, const char *name, uint32_t uid)
{
	struct buf tmp = BUF_INIT(0);
	struct mbox_row *row;
	struct mboxes ms;
	struct msgs msgs;
	int rc = 0;

	if (load_mboxes(st, acct, &ms) < 0)
		return 1;
	if ((row = find_path(&ms, name)) == NULL) {
		fprintf(stderr, "postern: unknown mailbox \"%s\"\n", name);
		mboxes_free(&ms);
		return 1;
	}
	if (load_msgs(st, acct, row->mb.id, uid, &msgs) < 0) {
		mboxes_free(&ms);
		return 1;
	}
	if (uid != 0 && msgs.n == 0) {
		fprintf(stderr, "postern: %s: no message with UID %u\n", name,
		    uid);
		rc = 1;
	}
	if (uid == 0)
		printf("%6s %-28s %9s %-20s %s %s\n", "UID", "FLAGS", "SIZE",
		    "RECEIVED", "FROM", "SUBJECT");
	for (size_t i = 0; i < msgs.n && rc == 0; i++) {
		struct mail_email em;
		struct blob_reader *r = NULL;
		struct buf err = BUF_INIT(0);
		unsigned char chunk[65536];
		size_t n;

		if (email_get(st, acct, msgs.v[i].email, &em) < 0) {
			rc = 1;
		} else if (uid == 0) {
			print_msg(st, acct, &msgs.v[i], &em, &tmp);
		} else if (blob_reader_open(st->blobs, &em.blob, 0,
		    BLOB_TO_END, &r, &err) <= 0) {
			fprintf(stderr, "postern: message content "
			    "missing%s%s\n", err.len > 0 ? ": " : "",
			    buf_cstr(&err));
			rc = 1;
		} else {
			/* stream: a message may be as big as the limit */
			while (rc == 0 && blob_reader_read(r, chunk,
			    sizeof(chunk), &n, &err) == 0 && n > 0)
				if (fwrite(chunk, 1, n, stdout) != n)
					rc = 1;
			if (err.len > 0) {
				fprintf(stderr, "postern: %s\n",
				    buf_cstr(&err));
				rc = 1;
			}
			blob_reader_close(&r);
		}
		mail_email_clear(&em);
		buf_free(&err);
	}
	if (fflush(stdout) != 0)
		rc = 1;
	msgs_free(&msgs);
	mboxes_free(&ms);
	buf_free(&tmp);
	return rc;
}

int
cli_mail(const struct config *cfg, int argc, char **argv)
{
	struct directory *d;
	struct store *st;
	uint32_t acct;
	uint64_t uid = 0;
	int rc = 1;

	if (strcmp(argv[0], "mailbox") == 0 ?
	    argc != 3 || strcmp(argv[1], "list") != 0 :
	    argc < 3 || !((strcmp(argv[1], "list") == 0 && argc <= 4) ||
	    (strcmp(argv[1], "show") == 0 && argc == 5)))
		return usage();
	if (argc == 5 && (parse_u64(argv[4], strlen(argv[4]), UINT32_MAX,
	    &uid) < 0 || uid == 0)) {
		fprintf(stderr, "postern: UID \"%s\": not a number from 1 to "
		    "%u\n", argv[4], UINT32_MAX);
		return 2;
	}
	if (cli_store_open(cfg, &st) < 0)
		return 1;
	d = directory_new(st->kv, NULL);
	if (cli_account_id(d, argv[2], &acct) == 0) {
		if (strcmp(argv[0], "mailbox") == 0)
			rc = mailbox_list(st, acct);
		else
			rc = mail_list(st, acct, argc >= 4 ? argv[3] : "INBOX",
			    (uint32_t)uid);
	}
	directory_free(&d);
	store_close(&st);
	return rc;
}
