/*
 * mail_flags.c - flags and keywords of an email (see mail.h): keyword
 * validation, IMAP STORE (with CONDSTORE's UNCHANGEDSINCE, RFC 7162
 * 3.1.3) and JMAP Email/set keywords (RFC 8621 4.1.1).
 *
 * Flags and keywords are the email's (JMAP semantics): the email record
 * ('E') holds them, and each 'U' value repeats them so that FETCH FLAGS
 * reads one key.  A change therefore rewrites every membership: each
 * one's 'S' key moves to a new MODSEQ of its mailbox and its 'U' value is
 * written again.  A change that changes nothing writes nothing and takes
 * no MODSEQ (RFC 7162 3.1.3 lets a no-op STORE keep the MODSEQ).
 *
 * Keywords are kept in lowercase (JMAP compares them case-insensitively
 * and returns them in lowercase; IMAP flag keywords are case-insensitive
 * too), sorted and unique, at most MAIL_KEYWORDS_MAX per email.
 */
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/mail_priv.h"

static const struct {
	const char *kw;
	uint32_t flag;
} system_keywords[] = {
	{ "$seen", MAIL_F_SEEN },
	{ "$answered", MAIL_F_ANSWERED },
	{ "$flagged", MAIL_F_FLAGGED },
	{ "$draft", MAIL_F_DRAFT },
	{ "$forwarded", MAIL_F_FORWARDED },
	{ "$junk", MAIL_F_JUNK },
	{ "$notjunk", MAIL_F_NOTJUNK },
};

bool
mail_keyword_is_valid(const char *kw)
{
	size_t n = strlen(kw);

	if (n == 0 || n > MAIL_KEYWORD_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)kw[i];

		if (c < 0x21 || c > 0x7e || strchr("(){]%*\"\\", c) != NULL)
			return false;
	}
	return true;
}

uint32_t
mail_keyword_flag(const char *kw)
{
	for (size_t i = 0; i < ARRAY_SIZE(system_keywords); i++)
		if (ascii_eq_nocase(kw, strlen(kw), system_keywords[i].kw))
			return system_keywords[i].flag;
	return 0;
}

static char *
lower_dup(const char *s)
{
	char *d = xstrdup(s);

	for (char *p = d; *p != '\0'; p++)
		*p = (char)ascii_tolower((unsigned char)*p);
	return d;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

struct kwset {
	char **v;
	size_t n, cap;
};

static ssize_t
kwset_find(const struct kwset *s, const char *kw)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], kw) == 0)
			return (ssize_t)i;
	return -1;
}

static void
kwset_free(struct kwset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}

/* check - every keyword of list valid; -1 with err when one is not */
static int
check(const char *const *list, size_t n, struct buf *err)
{
	for (size_t i = 0; i < n; i++) {
		if (!mail_keyword_is_valid(list[i])) {
			buf_addf(err, "invalid keyword \"%.64s\"", list[i]);
			return -1;
		}
	}
	return 0;
}

int
mail_keywords_apply(struct mail_email *em, const struct mail_flag_change *c,
    struct buf *err)
{
	struct kwset s = { NULL, 0, 0 };
	uint32_t flags, bit;
	ssize_t at;
	bool changed;

	if (check(c->kw_add, c->nkw_add, err) < 0 ||
	    check(c->kw_remove, c->nkw_remove, err) < 0)
		return -1;
	flags = c->replace ? c->add : em->flags | c->add;
	if (!c->replace)
		for (size_t i = 0; i < em->nkeywords; i++) {
			s.v = xreallocarray(s.v, s.n + 1, sizeof(*s.v));
			s.v[s.n++] = xstrdup(em->keywords[i]);
		}
	for (size_t i = 0; i < c->nkw_add; i++) {
		char *kw = lower_dup(c->kw_add[i]);

		if ((bit = mail_keyword_flag(kw)) != 0 ||
		    kwset_find(&s, kw) >= 0) {
			flags |= bit;
			free(kw);
			continue;
		}
		s.v = xreallocarray(s.v, s.n + 1, sizeof(*s.v));
		s.v[s.n++] = kw;
	}
	if (!c->replace) {
		flags &= ~c->remove;
		for (size_t i = 0; i < c->nkw_remove; i++) {
			char *kw = lower_dup(c->kw_remove[i]);

			flags &= ~mail_keyword_flag(kw);
			if ((at = kwset_find(&s, kw)) >= 0) {
				free(s.v[at]);
				s.v[at] = s.v[--s.n];
			}
			free(kw);
		}
	}
	flags &= MAIL_F_ALL;
	if (s.n > MAIL_KEYWORDS_MAX) {
		buf_addf(err, "more than %u keywords", MAIL_KEYWORDS_MAX);
		kwset_free(&s);
		return -1;
	}
	if (s.n > 0)
		qsort(s.v, s.n, sizeof(*s.v), cmp_str);
	changed = flags != em->flags || s.n != em->nkeywords;
	for (size_t i = 0; !changed && i < s.n; i++)
		changed = strcmp(s.v[i], em->keywords[i]) != 0;
	for (size_t i = 0; i < em->nkeywords; i++)
		free(em->keywords[i]);
	free(em->keywords);
	em->keywords = s.v;
	em->nkeywords = s.n;
	em->flags = flags;
	return changed ? 1 : 0;
}

/* ---- STORE / Email/set ---- */

/* update - c applied to em, every membership rewritten */
static int
update(struct kv_txn *t, uint32_t acct, struct mail_email *em,
    const struct mail_flag_change *c, struct mail_flag_result *res,
    struct buf *err)
{
	struct mail_mailbox mb;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	uint32_t old = em->flags;
	bool recount;
	int r;

	if ((r = mail_keywords_apply(em, c, err)) < 0)
		return r;
	res->flags = em->flags;
	if (r == 0)
		return 0;
	recount = mail_is_unseen(old) != mail_is_unseen(em->flags) ||
	    mail_is_unread(old) != mail_is_unread(em->flags);
	memset(&mb, 0, sizeof(mb));
	for (size_t i = 0; i < em->nmembers; i++) {
		struct mail_member *mem = &em->members[i];

		mail_mailbox_clear(&mb);
		if ((r = mail_mailbox_get_txn(t, acct, mem->mbox, &mb,
		    err)) <= 0) {
			if (r == 0)
				buf_addf(err, "no mailbox %u", mem->mbox);
			r = r < 0 ? r : -1;
			goto out;
		}
		if (mb.highestmodseq == UINT64_MAX) {
			buf_addf(err, "mailbox %u: MODSEQs exhausted",
			    mem->mbox);
			r = -1;
			goto out;
		}
		mail_key_modseq(&k, 'S', acct, mem->mbox, mem->modseq);
		if ((r = kv_delete(t, k.data, k.len, err)) < 0)
			goto out;
		mem->modseq = ++mb.highestmodseq;
		if (recount &&
		    ((r = mail_counts_adjust(t, acct, &mb, em->thread, old, -1,
		    err)) < 0 ||
		    (r = mail_counts_adjust(t, acct, &mb, em->thread,
		    em->flags, 1, err)) < 0 ||
		    (r = mail_log_append_txn(t, acct, MAIL_LOG_MAILBOX,
		    MAIL_LOG_COUNTS, mb.id, NULL, err)) < 0))
			goto out;
		if ((r = mail_mailbox_put_txn(t, acct, &mb, err)) < 0)
			goto out;
		mail_key_modseq(&k, 'S', acct, mem->mbox, mem->modseq);
		buf_reset(&v);
		key_u32(&v, mem->uid);
		if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) < 0)
			goto out;
		mail_key_msg(&k, acct, mem->mbox, mem->uid);
		mail_uval_encode(&v, em, mem->modseq);
		if ((r = kv_put(t, k.data, k.len, v.data, v.len, err)) < 0)
			goto out;
	}
	if ((r = mail_email_put(t, acct, em, err)) < 0 ||
	    (r = mail_log_append_txn(t, acct, MAIL_LOG_EMAIL,
	    MAIL_LOG_UPDATED, em->id, &res->state, err)) < 0)
		goto out;
	res->changed = true;
out:
	mail_mailbox_clear(&mb);
	buf_free(&k);
	buf_free(&v);
	return r;
}

int
mail_email_update_flags_txn(struct kv_txn *t, uint32_t acct, uint32_t email,
    const struct mail_flag_change *c, struct mail_flag_result *res,
    struct buf *err)
{
	struct mail_flag_result dummy;
	struct mail_email em;
	int r;

	if (res == NULL)
		res = &dummy;
	memset(res, 0, sizeof(*res));
	if ((r = mail_email_get_txn(t, acct, email, &em, err)) == 1 &&
	    (r = update(t, acct, &em, c, res, err)) == 0)
		r = 1;
	mail_email_clear(&em);
	return r;
}

int
mail_msg_update_flags_txn(struct kv_txn *t, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint64_t unchangedsince, const struct mail_flag_change *c,
    struct mail_flag_result *res, struct buf *err)
{
	struct mail_email em;
	size_t i;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = mail_msg_email(t, acct, mbox, uid, &em, &i, err)) <= 0)
		goto out;
	res->flags = em.flags;
	res->modseq = em.members[i].modseq;
	if (unchangedsince != 0 && em.members[i].modseq > unchangedsince) {
		res->modified = true;
		r = 1;
		goto out;
	}
	if ((r = update(t, acct, &em, c, res, err)) < 0)
		goto out;
	res->modseq = em.members[i].modseq;
	r = 1;
out:
	mail_email_clear(&em);
	return r;
}

struct flags_op {
	uint32_t acct, email, mbox, uid;
	uint64_t unchangedsince;
	const struct mail_flag_change *c;
	struct mail_flag_result res;
	int found;
};

static int
flags_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct flags_op *op = arg;

	op->found = op->mbox == 0 ?
	    mail_email_update_flags_txn(t, op->acct, op->email, op->c,
	    &op->res, err) :
	    mail_msg_update_flags_txn(t, op->acct, op->mbox, op->uid,
	    op->unchangedsince, op->c, &op->res, err);
	return op->found < 0 ? op->found : 0;
}

static int
flags_run(struct mail *m, struct flags_op *op, struct mail_flag_result *res,
    struct buf *err)
{
	if (kv_run(mail_kv(m), KV_WRITE, flags_txn, op, err) < 0)
		return -1;
	if (res != NULL)
		*res = op->res;
	return op->found;
}

int
mail_email_update_flags(struct mail *m, uint32_t acct, uint32_t email,
    const struct mail_flag_change *c, struct mail_flag_result *res,
    struct buf *err)
{
	struct flags_op op;

	memset(&op, 0, sizeof(op));
	op.acct = acct;
	op.email = email;
	op.c = c;
	return flags_run(m, &op, res, err);
}

int
mail_msg_update_flags(struct mail *m, uint32_t acct, uint32_t mbox,
    uint32_t uid, uint64_t unchangedsince, const struct mail_flag_change *c,
    struct mail_flag_result *res, struct buf *err)
{
	struct flags_op op;

	if (mbox == 0) {
		buf_addf(err, "no mailbox 0");
		return -1;
	}
	memset(&op, 0, sizeof(op));
	op.acct = acct;
	op.mbox = mbox;
	op.uid = uid;
	op.unchangedsince = unchangedsince;
	op.c = c;
	return flags_run(m, &op, res, err);
}
