/*
 * delivery.c - the local delivery agent (see delivery.h).
 *
 * One delivery: resolve every recipient in the directory (outside the
 * transaction: the directory has its own reads), parse and store the
 * message once (store_msg_prepare), then one write transaction that, for
 * each recipient not already delivered ('P' key), checks every account it
 * reaches against its quota, makes the default mailboxes, files the
 * message in INBOX, indexes it and writes the 'P' key.  A recipient is
 * all or nothing: if one account it reaches is over quota, none of them
 * gets it this time (the queue retries the recipient as a whole), so a
 * retry never files a second copy for the accounts that had room.
 *
 * The filing transactions of concurrent deliveries are group-committed
 * (kv_group_run): one data-store sync for all of them.
 *
 * 'P' keys ('P' queue-id 0x00 rcpt-index(u32) -> u64 time, u32 email
 * ids) make a delivery retried after a crash (mailbox committed, queue
 * not yet told) a no-op.  They are pruned once older than the queue can
 * retry anything (delivery_set_retention).
 *
 * Forwarding: an alias may name remote addresses (dir_rcpt.forwards).
 * Those are handed to the forward hook (a new queue message, with the
 * original sender and MAIL parameters: body type, SMTPUTF8, RET, ENVID)
 * before the transaction that files the local copies and writes the 'P'
 * key: a crash in between forwards twice rather than never.
 *
 * Auto-replies: once the transaction committed, each account that got
 * the message in it is handed to delivery/vacation.c (a JMAP
 * VacationResponse, RFC 3834), which queues its reply through the same
 * forward hook; its failures are logged and change no outcome here.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "delivery/delivery.h"
#include "delivery/vacation.h"
#include "store/rec.h"

#define SVC "local"

#define MERGE_QUEUE 64	/* accounts waiting for an index merge */

struct delivery {
	struct store *st;
	struct directory *dir;
	struct kv_group *group;	/* concurrent deliveries share commits */
	/* the merger thread: full-text index merges after the commits */
	pthread_t merger;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	uint32_t merge_q[MERGE_QUEUE];
	size_t nmerge;
	bool stopping;
	uint64_t retention;	/* seconds; 0 = keys are never pruned */
	delivery_forward_fn *forward;
	void *forward_arg;
};

static int
merge_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct delivery *d = ((void **)arg)[0];
	uint32_t acct = *(uint32_t *)((void **)arg)[1];

	return fts_merge(d->st->fts, t, acct, err);
}

#define PRUNE_EVERY 3600		/* seconds between prunes */
#define PRUNE_BATCH 1000		/* keys per write transaction */

struct prune_scan {
	uint64_t before;		/* unix seconds */
	struct buf keys;		/* u16 length + key, PRUNE_BATCH at most */
	size_t n;
	bool more;
};

static int
prune_row(void *arg, const unsigned char *key, size_t klen,
    const unsigned char *val, size_t vlen, struct buf *err)
{
	struct prune_scan *ps = arg;
	unsigned char l[2] = { (unsigned char)(klen >> 8),
		(unsigned char)klen };

	(void)err;
	if (vlen < 8 || get_u64(val) >= ps->before)
		return 0;	/* young (or not ours to judge): kept */
	if (ps->n == PRUNE_BATCH) {
		ps->more = true;
		return 1;
	}
	buf_add(&ps->keys, l, 2);
	buf_add(&ps->keys, key, klen);
	ps->n++;
	return 0;
}

static int
prune_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct prune_scan *ps = arg;
	const unsigned char *p = ps->keys.data, *end = p + ps->keys.len;
	int r;

	while (p < end) {
		size_t kl = (size_t)p[0] << 8 | p[1];

		if ((r = kv_delete(t, p + 2, kl, err)) < 0)
			return r;
		p += 2 + kl;
	}
	return 0;
}

long
delivery_prune(struct delivery *d, uint64_t max_age, struct buf *err)
{
	struct prune_scan ps;
	uint64_t now = (uint64_t)time(NULL);
	long removed = 0;

	memset(&ps, 0, sizeof(ps));
	buf_init(&ps.keys, 0);
	ps.before = now > max_age ? now - max_age : 0;
	do {
		buf_reset(&ps.keys);
		ps.n = 0;
		ps.more = false;
		if (kv_scan(d->st->kv, "P", 1, "P", 1, prune_row, &ps, err) < 0 ||
		    kv_run(d->st->kv, KV_WRITE, prune_txn, &ps, err) < 0) {
			removed = -1;
			break;
		}
		removed += (long)ps.n;
	} while (ps.more);
	buf_free(&ps.keys);
	return removed;
}

void
delivery_set_retention(struct delivery *d, uint64_t max_age)
{
	pthread_mutex_lock(&d->mu);
	d->retention = max_age;
	pthread_mutex_unlock(&d->mu);
}

/*
 * merger - runs the index merges deliveries report as due, one account
 * at a time, so no delivery (and no queue result) waits for one; a
 * merge that fails is only logged: search stays exact without it, and
 * the index merges inline at its safety limit
 */
static void *
merger(void *arg)
{
	struct delivery *d = arg;
	struct buf err = BUF_INIT(0);
	time_t next_prune = time(NULL) + PRUNE_EVERY;

	pthread_mutex_lock(&d->mu);
	for (;;) {
		uint32_t acct;
		void *margs[2];

		while (d->nmerge == 0 && !d->stopping) {
			struct timespec ts = { next_prune, 0 };
			uint64_t keep = d->retention;
			long n;

			if (pthread_cond_timedwait(&d->cond, &d->mu, &ts) !=
			    ETIMEDOUT)
				continue;
			next_prune = time(NULL) + PRUNE_EVERY;
			if (keep == 0)
				continue;
			pthread_mutex_unlock(&d->mu);
			buf_reset(&err);
			n = delivery_prune(d, keep, &err);
			if (n < 0)
				log_error(SVC, "pruning delivery keys: %s",
				    buf_cstr(&err));
			else if (n > 0)
				log_info(SVC, "pruned %ld delivery keys older "
				    "than %llu s", n, (unsigned long long)keep);
			pthread_mutex_lock(&d->mu);
		}
		if (d->nmerge == 0)
			break;
		acct = d->merge_q[0];
		memmove(d->merge_q, d->merge_q + 1,
		    (d->nmerge - 1) * sizeof(d->merge_q[0]));
		d->nmerge--;
		pthread_mutex_unlock(&d->mu);
		margs[0] = d;
		margs[1] = &acct;
		buf_reset(&err);
		if (kv_run(d->st->kv, KV_WRITE, merge_txn, margs, &err) < 0)
			log_error(SVC, "full-text index merge of account %u: %s",
			    acct, buf_cstr(&err));
		pthread_mutex_lock(&d->mu);
	}
	pthread_mutex_unlock(&d->mu);
	buf_free(&err);
	return NULL;
}

/* merge_later - queue acct for the merger (once; dropped when full) */
static void
merge_later(struct delivery *d, uint32_t acct)
{
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < d->nmerge; i++)
		if (d->merge_q[i] == acct)
			goto out;
	if (d->nmerge < MERGE_QUEUE) {
		d->merge_q[d->nmerge++] = acct;
		pthread_cond_signal(&d->cond);
	}
out:
	pthread_mutex_unlock(&d->mu);
}

struct delivery *
delivery_new(struct store *st, struct directory *dir)
{
	struct delivery *d = xcalloc(1, sizeof(*d));

	d->st = st;
	d->dir = dir;
	d->group = kv_group_new(st->kv, 0);
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cond, NULL);
	if (pthread_create(&d->merger, NULL, merger, d) != 0)
		PANIC("delivery: cannot start the index merger thread");
	return d;
}

void
delivery_set_forward(struct delivery *d, delivery_forward_fn *fn, void *arg)
{
	d->forward = fn;
	d->forward_arg = arg;
}

void
delivery_free(struct delivery **dp)
{
	struct delivery *d = *dp;

	if (d == NULL)
		return;
	pthread_mutex_lock(&d->mu);
	d->stopping = true;	/* the merges queued still run */
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->mu);
	pthread_join(d->merger, NULL);
	pthread_mutex_destroy(&d->mu);
	pthread_cond_destroy(&d->cond);
	kv_group_free(&(*dp)->group);
	free(*dp);
	*dp = NULL;
}

static void
rcpt_set(struct delivery_rcpt *r, enum transport_status st, const char *dsn,
    const char *fmt, ...) PRINTF_LIKE(4, 5);

static void
rcpt_set(struct delivery_rcpt *r, enum transport_status st, const char *dsn,
    const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	(void)snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
	va_start(ap, fmt);
	(void)vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* an account a recipient reaches */
struct target {
	uint32_t acct;
	uint64_t quota;
};

/* what one recipient resolved to */
struct resolved {
	struct target *t;
	size_t n;
	char **forwards;	/* remote addresses (an alias's) */
	size_t nforwards;
	bool todo;		/* still to be filed in this transaction */
	uint32_t *emails;	/* filed in the attempt: email ids */
	size_t nemails;
};

static void
resolved_clear(struct resolved *res)
{
	for (size_t i = 0; i < res->nforwards; i++)
		free(res->forwards[i]);
	free(res->forwards);
	free(res->t);
	free(res->emails);
	memset(res, 0, sizeof(*res));
}

/* resolve - the accounts rcpt reaches, or its final status */
static void
resolve(struct delivery *d, struct delivery_rcpt *rc, struct resolved *res)
{
	struct dir_rcpt dr;
	struct dir_account a;
	struct buf err = BUF_INIT(0);
	int r;

	memset(res, 0, sizeof(*res));
	memset(&dr, 0, sizeof(dr));
	r = dir_resolve(d->dir, rc->addr, &dr, &err);
	if (r < 0) {
		rcpt_set(rc, TRANSPORT_TEMPFAIL, "4.3.0", "directory lookup "
		    "failed: %s", buf_cstr(&err));
		goto out;
	}
	if (r == 0) {
		rcpt_set(rc, TRANSPORT_PERMFAIL, "5.1.1", "user unknown");
		goto out;
	}
	if (dr.nforwards > 0 && d->forward == NULL) {
		rcpt_set(rc, TRANSPORT_TEMPFAIL, "4.3.0", "alias to remote "
		    "address %s: no way to forward it", dr.forwards[0]);
		goto out;
	}
	/* the forwards are taken over */
	res->forwards = dr.forwards;
	res->nforwards = dr.nforwards;
	dr.forwards = NULL;
	dr.nforwards = 0;
	res->t = xcalloc(dr.naccounts, sizeof(*res->t));
	for (size_t i = 0; i < dr.naccounts; i++) {
		memset(&a, 0, sizeof(a));
		r = dir_user_get_id(d->dir, dr.accounts[i], &a, &err);
		if (r < 0) {
			rcpt_set(rc, TRANSPORT_TEMPFAIL, "4.3.0", "directory "
			    "lookup failed: %s", buf_cstr(&err));
			goto out;
		}
		if (r == 0)	/* deleted meanwhile */
			continue;
		res->t[res->n].acct = a.id;
		res->t[res->n].quota = a.quota;
		res->n++;
		dir_account_clear(&a);
	}
	if (res->n == 0 && res->nforwards == 0) {
		rcpt_set(rc, TRANSPORT_PERMFAIL, "5.1.1", "user unknown");
		goto out;
	}
	res->todo = true;
	res->emails = xcalloc(res->n + 1, sizeof(*res->emails));
out:
	if (!res->todo)
		resolved_clear(res);
	dir_rcpt_clear(&dr);
	buf_free(&err);
}

static void
idem_key(struct buf *k, const char *id, uint32_t index)
{
	buf_reset(k);
	key_u8(k, 'P');
	key_str(k, id);
	key_u32(k, index);
}

struct deliver_op {
	struct delivery *d;
	const char *idem_id;
	struct store_msg *m;
	bool junk;		/* marked by the filters: into Junk */
	struct delivery_rcpt *rcpts;
	struct resolved *res;
	size_t n;
	/* per attempt */
	bool *done_before;	/* 'P' key found */
	bool *over_quota;
	uint32_t merge_due[8];	/* accounts whose index wants a merge */
	size_t nmerge_due;
};

/*
 * marked_junk - the message header holds the filters' junk mark
 * (FILTERS_JUNK_FIELD: "X-Postern-Spam: junk"); the SMTP server removes
 * the field from what clients send before it adds its own
 */
static bool
marked_junk(const void *msg, size_t len)
{
	static const char name[] = "x-postern-spam:";
	const char *p = msg, *end = p + len;

	while (p < end && *p != '\r' && *p != '\n') {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl != NULL ? nl : end;

		if ((size_t)(le - p) > sizeof(name) - 1 &&
		    strncasecmp(p, name, sizeof(name) - 1) == 0) {
			const char *v = p + sizeof(name) - 1;

			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			if (le - v >= 4 && strncasecmp(v, "junk", 4) == 0)
				return true;
		}
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	return false;
}

/* file_rcpt - every account of recipient i, or STORE_OVER_QUOTA */
static int
file_rcpt(struct deliver_op *op, struct kv_txn *t, struct fts_batch *b,
    size_t i, struct buf *err)
{
	struct resolved *res = &op->res[i];
	struct store_add a;
	struct mail_added added;
	uint64_t used;
	uint32_t inbox;
	int r;

	/* quota first, for every account, so a refusal writes nothing */
	for (size_t j = 0; j < res->n; j++) {
		if (res->t[j].quota == 0)
			continue;
		if ((r = mail_quota_used_txn(t, res->t[j].acct, &used,
		    err)) < 0)
			return r;
		if (used > res->t[j].quota ||
		    op->m->size > res->t[j].quota - used)
			return STORE_OVER_QUOTA;
	}
	for (size_t j = 0; j < res->n; j++) {
		if ((r = mail_ensure_defaults_txn(t, res->t[j].acct,
		    err)) < 0)
			return r;
		r = mail_mailbox_find_txn(t, res->t[j].acct, 0, op->junk ?
		    "Junk" : "INBOX", &inbox, err);
		if (r == 0) {
			buf_addf(err, "account %u has no %s", res->t[j].acct,
			    op->junk ? "Junk" : "INBOX");
			r = -1;
		}
		if (r < 0)
			return r;
		memset(&a, 0, sizeof(a));
		a.acct = res->t[j].acct;
		a.mbox = inbox;
		/* checked above, with the other accounts */
		a.quota = 0;
		if ((r = store_msg_add_txn(op->d->st, t, b, op->m, &a,
		    &added, err)) < 0)
			return r;
		res->emails[j] = added.email;
	}
	res->nemails = res->n;
	return 0;
}

static int
deliver_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct deliver_op *op = arg;
	struct fts_batch *b = fts_batch_new(op->d->st->fts, t);
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r = 0;

	for (size_t i = 0; i < op->n && r >= 0; i++) {
		struct resolved *res = &op->res[i];

		op->done_before[i] = op->over_quota[i] = false;
		res->nemails = 0;
		if (!res->todo)
			continue;
		if (op->idem_id != NULL) {
			idem_key(&k, op->idem_id, op->rcpts[i].index);
			if ((r = kv_get(t, k.data, k.len, &v, err)) < 0)
				break;
			if (r == 1) {
				op->done_before[i] = true;
				r = 0;
				continue;
			}
		}
		r = file_rcpt(op, t, b, i, err);
		if (r == STORE_OVER_QUOTA) {
			/* earlier accounts of this rcpt wrote nothing */
			op->over_quota[i] = true;
			r = 0;
			continue;
		}
		if (r < 0 || op->idem_id == NULL)
			continue;
		buf_reset(&v);
		key_u64(&v, (uint64_t)time(NULL));
		for (size_t j = 0; j < res->nemails; j++)
			key_u32(&v, res->emails[j]);
		r = kv_put(t, k.data, k.len, v.data, v.len, err);
	}
	if (r >= 0)
		r = fts_batch_flush(b, err);
	op->nmerge_due = 0;
	if (r >= 0)
		op->nmerge_due = fts_batch_merge_due(b, op->merge_due,
		    ARRAY_SIZE(op->merge_due));
	if (op->nmerge_due > ARRAY_SIZE(op->merge_due))
		op->nmerge_due = ARRAY_SIZE(op->merge_due);
	fts_batch_free(&b);
	buf_free(&k);
	buf_free(&v);
	return r;
}

/* fwd_key - 'P' key of rcpt index + 'f': its forwards are queued */
static void
fwd_key(struct buf *k, const char *id, uint32_t index)
{
	idem_key(k, id, index);
	key_u8(k, 'f');
}

struct fwd_check {
	const char *id;
	uint32_t index;
	bool done;
	bool mark;		/* write the marker instead of reading */
};

static int
fwd_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct fwd_check *fc = arg;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	fwd_key(&k, fc->id, fc->index);
	if (fc->mark) {
		key_u64(&v, (uint64_t)time(NULL));
		r = kv_put(t, k.data, k.len, v.data, v.len, err);
	} else {
		r = kv_get(t, k.data, k.len, &v, err);
		if (r == 0) {	/* or delivered as a whole already */
			idem_key(&k, fc->id, fc->index);
			r = kv_get(t, k.data, k.len, &v, err);
		}
		fc->done = r == 1;
	}
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

/*
 * forward_all - hand each recipient's remote addresses to the forward
 * hook, once per (idem_id, index): a recipient whose forwards fail is
 * deferred as a whole and filed nowhere this time
 */
static void
forward_all(struct delivery *d, const char *idem_id, const char *sender,
    const char *sender_params, const void *msg, size_t len,
    struct delivery_rcpt *rcpts, struct resolved *res, size_t n)
{
	struct buf err = BUF_INIT(0);

	for (size_t i = 0; i < n; i++) {
		struct fwd_check fc = { idem_id, rcpts[i].index, false, false };

		if (!res[i].todo || res[i].nforwards == 0)
			continue;
		buf_reset(&err);
		if (idem_id != NULL && kv_run(d->st->kv, KV_READ, fwd_txn, &fc,
		    &err) < 0) {
			rcpt_set(&rcpts[i], TRANSPORT_TEMPFAIL, "4.3.0",
			    "mailbox store: %s", buf_cstr(&err));
			resolved_clear(&res[i]);
			continue;
		}
		if (fc.done)
			continue;
		if (d->forward(d->forward_arg, sender, sender_params,
		    (const char *const *)res[i].forwards, res[i].nforwards,
		    msg, len, &err) < 0) {
			rcpt_set(&rcpts[i], TRANSPORT_TEMPFAIL, "4.3.0",
			    "forwarding to <%s>: %s", res[i].forwards[0],
			    buf_cstr(&err));
			resolved_clear(&res[i]);
			continue;
		}
		log_info(SVC, "%s: to=<%s>, forwarded to %zu remote "
		    "address%s (first <%s>)", idem_id != NULL ? idem_id :
		    "NOQUEUE", rcpts[i].addr, res[i].nforwards,
		    res[i].nforwards == 1 ? "" : "es", res[i].forwards[0]);
		fc.mark = true;
		buf_reset(&err);
		if (idem_id != NULL && kv_run(d->st->kv, KV_WRITE, fwd_txn, &fc,
		    &err) < 0)
			log_error(SVC, "%s: recording the forward of <%s>: %s "
			    "(a retry would forward it again)", idem_id,
			    rcpts[i].addr, buf_cstr(&err));
	}
	buf_free(&err);
}

/*
 * vacations - the auto-replies (delivery/vacation.h) of the accounts
 * that got the message in this attempt, once it is committed: nothing
 * there can undo a filing, and a retry that finds it filed sends none
 */
static void
vacations(struct delivery *d, const struct deliver_op *op,
    const char *sender, const void *msg, size_t len)
{
	struct vacation_delivery vd = { d->st, d->dir, d->forward,
		d->forward_arg, op->idem_id, sender, msg, len, op->junk };

	for (size_t i = 0; i < op->n; i++) {
		if (!op->res[i].todo || op->over_quota[i] ||
		    op->done_before[i])
			continue;
		for (size_t j = 0; j < op->res[i].nemails; j++)
			vacation_after_delivery(&vd, op->res[i].t[j].acct,
			    op->rcpts[i].addr);
	}
}

void
delivery_message(struct delivery *d, const char *idem_id, const char *sender,
    const char *sender_params, const void *msg, size_t len,
    struct delivery_rcpt *rcpts, size_t n)
{
	struct resolved *res = xcalloc(n, sizeof(*res));
	bool *done_before = xcalloc(n, sizeof(bool));
	bool *over_quota = xcalloc(n, sizeof(bool));
	struct deliver_op op = { .d = d, .idem_id = idem_id, .rcpts = rcpts,
		.res = res, .n = n, .done_before = done_before,
		.over_quota = over_quota };
	struct store_msg m;
	struct buf err = BUF_INIT(0);
	size_t todo = 0;

	for (size_t i = 0; i < n; i++) {
		rcpts[i].status = TRANSPORT_NONE;
		resolve(d, &rcpts[i], &res[i]);
	}
	forward_all(d, idem_id, sender, sender_params, msg, len, rcpts, res,
	    n);
	for (size_t i = 0; i < n; i++)
		if (res[i].todo)
			todo++;
	if (todo == 0)
		goto out;
	if (store_msg_prepare(d->st, msg, len, &m, &err) < 0) {
		for (size_t i = 0; i < n; i++)
			if (res[i].todo)
				rcpt_set(&rcpts[i], TRANSPORT_TEMPFAIL, "4.3.0",
				    "mailbox store: %s", buf_cstr(&err));
		goto out;
	}
	op.m = &m;
	op.junk = marked_junk(msg, len);
	if (kv_group_run(d->group, deliver_txn, &op, &err) < 0) {
		for (size_t i = 0; i < n; i++)
			if (res[i].todo)
				rcpt_set(&rcpts[i], TRANSPORT_TEMPFAIL, "4.3.0",
				    "mailbox store: %s", buf_cstr(&err));
	} else {
		for (size_t i = 0; i < op.nmerge_due; i++)
			merge_later(d, op.merge_due[i]);
		for (size_t i = 0; i < n; i++) {
			if (!res[i].todo)
				continue;
			if (over_quota[i])
				rcpt_set(&rcpts[i], TRANSPORT_TEMPFAIL, "4.2.2",
				    "mailbox full: over quota");
			else if (done_before[i])
				rcpt_set(&rcpts[i], TRANSPORT_OK, "2.0.0",
				    "delivered to mailbox (already, by an "
				    "earlier attempt)");
			else if (res[i].nforwards > 0)
				rcpt_set(&rcpts[i], TRANSPORT_OK, "2.0.0",
				    "delivered to mailbox (%zu account%s), "
				    "forwarded to %zu address%s",
				    res[i].nemails, res[i].nemails == 1 ?
				    "" : "s", res[i].nforwards,
				    res[i].nforwards == 1 ? "" : "es");
			else
				rcpt_set(&rcpts[i], TRANSPORT_OK, "2.0.0",
				    "delivered to mailbox (%zu account%s)",
				    res[i].nemails, res[i].nemails == 1 ?
				    "" : "s");
		}
		vacations(d, &op, sender, msg, len);
	}
	store_msg_release(d->st, &m);
out:
	for (size_t i = 0; i < n; i++)
		resolved_clear(&res[i]);
	free(res);
	free(done_before);
	free(over_quota);
	buf_free(&err);
}

enum delivery_check
delivery_rcpt_check(struct delivery *d, const char *addr, uint64_t size,
    struct buf *err)
{
	struct delivery_rcpt rc;
	struct resolved res;
	enum delivery_check ret = DELIVERY_RCPT_OK;
	uint64_t used;

	memset(&rc, 0, sizeof(rc));
	rc.addr = addr;
	resolve(d, &rc, &res);
	if (!res.todo) {
		if (rc.status == TRANSPORT_PERMFAIL) {
			ret = DELIVERY_RCPT_UNKNOWN;
		} else {
			buf_addf(err, "%s", rc.text);
			ret = DELIVERY_RCPT_ERROR;
		}
		goto out;
	}
	if (size == 0)
		size = 1;	/* a full mailbox refuses even unknown sizes */
	for (size_t j = 0; j < res.n && ret == DELIVERY_RCPT_OK; j++) {
		if (res.t[j].quota == 0)
			continue;
		if (mail_quota_used(d->st->mail, res.t[j].acct, &used,
		    err) < 0)
			ret = DELIVERY_RCPT_ERROR;
		else if (used > res.t[j].quota ||
		    size > res.t[j].quota - used)
			ret = DELIVERY_RCPT_OVER_QUOTA;
	}
out:
	resolved_clear(&res);
	return ret;
}

/* ---- the queue transport ---- */

/* read_all - the whole content into out (bounded by its size) */
static int
read_all(struct transport_content *c, struct buf *out, struct buf *err)
{
	size_t n;

	if (transport_content_rewind(c, err) < 0)
		return -1;
	if (buf_reserve(out, c->size) < 0) {
		buf_addf(err, "message of %llu bytes: out of limits",
		    (unsigned long long)c->size);
		return -1;
	}
	for (;;) {
		unsigned char chunk[64 * 1024];

		if (transport_content_read(c, chunk, sizeof(chunk), &n,
		    err) < 0)
			return -1;
		if (n == 0)
			return 0;
		if (buf_append(out, chunk, n) < 0) {
			buf_addf(err, "message larger than announced");
			return -1;
		}
	}
}

static void
transport_deliver(void *ctx, const struct transport_request *req,
    struct transport_result *results)
{
	struct delivery *d = ctx;
	struct delivery_rcpt *rc = xcalloc(req->nrcpt, sizeof(*rc));
	struct buf msg = BUF_INIT(0), err = BUF_INIT(0);

	msg.max = req->content->size;
	if (read_all(req->content, &msg, &err) < 0) {
		/* the qmgr sees the damage itself: just do not file it */
		for (size_t i = 0; i < req->nrcpt; i++)
			transport_result_set(&results[i], TRANSPORT_TEMPFAIL,
			    "4.3.0", "reading the queue file: %s",
			    buf_cstr(&err));
		goto out;
	}
	for (size_t i = 0; i < req->nrcpt; i++) {
		rc[i].addr = req->env->rcpts[req->rcpt[i]].addr;
		rc[i].index = (uint32_t)req->rcpt[i];
	}
	delivery_message(d, req->queue_id, req->env->sender,
	    req->env->sender_params, msg.data, msg.len, rc, req->nrcpt);
	for (size_t i = 0; i < req->nrcpt; i++)
		transport_result_set(&results[i], rc[i].status, rc[i].dsn,
		    "%s", rc[i].text);
out:
	free(rc);
	buf_free(&msg);
	buf_free(&err);
}

void
delivery_transport(struct delivery *d, struct transport *t_r)
{
	memset(t_r, 0, sizeof(*t_r));
	t_r->name = "local";
	t_r->idempotent = true;		/* the 'P' keys */
	t_r->ctx = d;
	t_r->deliver = transport_deliver;
}
