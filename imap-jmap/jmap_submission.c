/*
 * jmap_submission.c - EmailSubmission/get, /changes, /query,
 * /queryChanges, /set (RFC 8621 7) and the submission capability;
 * create, which sends, is in jmap_submission_send.c.
 *
 * Records are the store's (store/mail_obj.c: 'J' acct 's' id, JSON text
 * of the properties plus "queueId"), with the change log of type 's'.
 *
 * deliveryStatus comes from the queue.  While the message is in it,
 * /get reads its queue file (queue_msg_load: the recipients' last
 * results): never tried or deferred is "queued" (smtpReply the last
 * reply), sent by the local transport "yes", sent to a next hop
 * "unknown" (relayed: RFC 8621 7 says so), failed "no", with the
 * transport's reply as smtpReply.  The queue removes a file once every
 * recipient is final and keeps nothing of the outcome; what /get had
 * not seen by then is read from the local delivery agent's idempotency
 * key ('P' queue-id rcpt-index, store/LAYOUT.md): there, the recipient
 * was filed ("yes"); else "unknown".  A change found is written back
 * and logged "updated", so EmailSubmission/changes and push report it
 * from the first /get that saw it.
 * XXX exact outcomes after the file is gone (a remote failure is
 * "unknown" here, though the sender gets the bounce) need the queue to
 * report final results (a hook in struct qmgr_hooks called before the
 * unlink), which it does not have; so does an update as it happens,
 * rather than at the next /get.
 *
 * undoStatus is "final" for every submission (see
 * jmap_submission_send.c): an update to "canceled" is cannotUnsend.
 * Destroying a submission removes the record only (RFC 8621 7.5).
 *
 * /set: onSuccessUpdateEmail and onSuccessDestroyEmail name submissions
 * by id or "#creationId"; for each one this call created, updated or
 * destroyed, the email it sent is patched or destroyed by one implicit
 * Email/set after the EmailSubmission/set response (RFC 8621 7.5), with
 * that method's own checks and response (and state: Email/changes sees
 * the move to Sent).  The email ids of submissions named by id are read
 * before the set, since a destroyed one has no record after it.
 *
 * XXX submissions are kept until destroyed; RFC 8621 7 lets the server
 * destroy old ones (a periodic job, with the change-log pruning).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"
#include "queue/queue.h"
#include "store/rec.h"

static const char *const sub_props[] = {
	"id", "identityId", "emailId", "threadId", "envelope", "sendAt",
	"undoStatus", "deliveryStatus", "dsnBlobIds", "mdnBlobIds", NULL,
};

static json_t *
parse_rec(const unsigned char *v, size_t len)
{
	json_t *o = json_loadb((const char *)v, len, 0, NULL);

	if (json_is_object(o))
		return o;
	json_decref(o);
	return NULL;
}

static int
load(struct jmap_call *c, uint32_t id, json_t **rec_r, struct buf *err)
{
	struct buf v = BUF_INIT(0);
	int r = mail_obj_get(c->ctx->env->st->mail, c->acct,
	    MAIL_LOG_SUBMISSION, id, &v, err);

	*rec_r = NULL;
	if (r == 1 && (*rec_r = parse_rec(v.data, v.len)) == NULL) {
		buf_addf(err, "submission %u: malformed record", id);
		r = -1;
	}
	buf_free(&v);
	return r;
}

/* ---- deliveryStatus from the queue ---- */

/* reply_of - smtpReply for a recipient's last result */
static void
reply_of(const struct queue_rcpt_state *st, struct buf *out)
{
	const char *t = st->text != NULL ? st->text : "";
	const char *code = st->status == QUEUE_RCPT_SENT ? "250" :
	    st->status == QUEUE_RCPT_FAILED ? "550" : "451";
	const char *dsn = st->dsn != NULL && st->dsn[0] != '\0' ? st->dsn :
	    code[0] == '2' ? "2.0.0" : code[0] == '5' ? "5.0.0" : "4.0.0";

	/* a next hop's reply is the SMTP reply itself */
	if ((st->flags & QUEUE_RCPT_F_REMOTE) != 0 && is_ascii_digit(t[0]) &&
	    is_ascii_digit(t[1]) && is_ascii_digit(t[2]) &&
	    (t[3] == ' ' || t[3] == '-' || t[3] == '\0')) {
		buf_add_str(out, t);
		return;
	}
	buf_addf(out, "%s %s %s", code, dsn, t);
	while (out->len > 0 && out->data[out->len - 1] == ' ')
		buf_truncate(out, out->len - 1);
}

static const char *
delivered_of(const struct queue_rcpt_state *st)
{
	switch (st->status) {
	case QUEUE_RCPT_SENT:
		return st->relay != NULL && strcmp(st->relay, "local") == 0 ?
		    "yes" : "unknown";
	case QUEUE_RCPT_FAILED:
		return "no";
	default:
		return "queued";
	}
}

struct filed_op {
	const char *qid;
	uint32_t index;
	int found;
};

static int
filed_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct filed_op *op = arg;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);

	key_u8(&k, 'P');
	key_str(&k, op->qid);
	key_u32(&k, op->index);
	op->found = kv_get(t, k.data, k.len, &v, err);
	buf_free(&k);
	buf_free(&v);
	return op->found < 0 ? -1 : 0;
}

/* set_status - entry of ds for email; true when it changed */
static bool
set_status(json_t *ds, const char *email, const char *reply,
    const char *delivered)
{
	json_t *e = json_object_get(ds, email);
	const char *r0 = json_string_value(json_object_get(e, "smtpReply"));
	const char *d0 = json_string_value(json_object_get(e, "delivered"));

	if (r0 != NULL && d0 != NULL && strcmp(r0, reply) == 0 &&
	    strcmp(d0, delivered) == 0)
		return false;
	json_object_set_new(ds, email, json_pack("{s:s,s:s,s:s}", "smtpReply",
	    reply, "delivered", delivered, "displayed", "unknown"));
	return true;
}

/*
 * refresh - deliveryStatus of rec brought up to what the queue knows;
 * written back (and logged) when it changed.  0, or -1.
 */
static int
refresh(struct jmap_call *c, uint32_t id, json_t *rec, struct buf *err)
{
	const struct jmap_env *env = c->ctx->env;
	json_t *ds = json_object_get(rec, "deliveryStatus");
	json_t *rcpts = json_object_get(json_object_get(rec, "envelope"),
	    "rcptTo"), *x;
	const char *qid = json_string_value(json_object_get(rec, "queueId"));
	struct queue_msg *m = NULL;
	struct buf lerr = BUF_INIT(0), reply = BUF_INIT(0);
	enum queue_load_res lr;
	bool queued = false, changed = false;
	size_t i;
	int r = 0;

	json_array_foreach(rcpts, i, x) {
		json_t *e = json_object_get(ds, json_string_value(
		    json_object_get(x, "email")));
		const char *d = json_string_value(json_object_get(e,
		    "delivered"));

		if (d != NULL && strcmp(d, "queued") == 0)
			queued = true;
	}
	if (!queued || env->spool == NULL || qid == NULL ||
	    !queue_id_is_valid(qid) || !json_is_object(ds))
		return 0;
	lr = queue_msg_load(spool_dir(env->spool), qid, &m, &lerr);
	json_array_foreach(rcpts, i, x) {
		const char *email = json_string_value(json_object_get(x,
		    "email"));
		json_t *e = json_object_get(ds, email);
		const char *d = json_string_value(json_object_get(e,
		    "delivered"));

		if (d == NULL || strcmp(d, "queued") != 0)
			continue;
		buf_reset(&reply);
		if (lr == QUEUE_LOAD_OK && i < m->env.nrcpt &&
		    m->state[i].status == QUEUE_RCPT_PENDING) {
			continue;	/* never tried: as it was queued */
		} else if (lr == QUEUE_LOAD_OK && i < m->env.nrcpt) {
			reply_of(&m->state[i], &reply);
			changed |= set_status(ds, email, buf_cstr(&reply),
			    delivered_of(&m->state[i]));
		} else if (lr == QUEUE_LOAD_GONE) {
			struct filed_op op = { qid, (uint32_t)i, 0 };

			if ((r = kv_run(env->st->kv, KV_READ, filed_txn, &op,
			    err)) < 0)
				break;
			if (op.found == 1)
				buf_add_str(&reply, "250 2.0.0 Delivered to the "
				    "mailbox");
			else
				buf_add_str(&reply, json_string_value(
				    json_object_get(e, "smtpReply")));
			changed |= set_status(ds, email, buf_cstr(&reply),
			    op.found == 1 ? "yes" : "unknown");
		}
	}
	queue_msg_free(&m);
	buf_free(&lerr);
	buf_free(&reply);
	if (r == 0 && changed) {
		char *text = json_dumps(rec, JSON_COMPACT);

		if (text == NULL)
			PANIC("json_dumps failed");
		r = mail_obj_put(env->st->mail, c->acct, MAIL_LOG_SUBMISSION,
		    id, text, strlen(text), MAIL_LOG_UPDATED, err);
		free(text);
		r = r < 0 ? -1 : 0;
	}
	return r;
}

/* ---- get, list ---- */

static json_t *
sub_json(uint32_t id, const json_t *rec)
{
	json_t *o = json_object();
	char sid[JMAP_ID_MAX];

	jmap_id_make('S', id, sid);
	json_object_set_new(o, "id", json_string(sid));
	for (size_t i = 1; sub_props[i] != NULL; i++) {
		json_t *v = json_object_get(rec, sub_props[i]);

		json_object_set(o, sub_props[i], v != NULL ? v : json_null());
	}
	return o;
}

static bool
wants(const json_t *want, const char *prop)
{
	size_t i;
	json_t *p;

	json_array_foreach(want, i, p) {
		if (strcmp(json_string_value(p), prop) == 0)
			return true;
	}
	return false;
}

static int
sub_get(struct jmap_call *c, uint32_t id, const json_t *want,
    json_t **obj_r, struct buf *err)
{
	json_t *rec;
	int r = load(c, id, &rec, err);

	if (r == 1 && wants(want, "deliveryStatus") &&
	    refresh(c, id, rec, err) < 0)
		r = -1;
	if (r == 1)
		*obj_r = sub_json(id, rec);
	json_decref(rec);
	return r;
}

struct sub_list {
	uint32_t *ids;
	json_t **recs;		/* NULL when only ids are wanted */
	size_t n;
};

static int
collect(void *arg, uint32_t id, const unsigned char *v, size_t len)
{
	struct sub_list *l = arg;

	l->ids = xreallocarray(l->ids, l->n + 1, sizeof(*l->ids));
	if (l->recs != NULL) {
		json_t *rec = parse_rec(v, len);

		if (rec == NULL)
			return -1;
		l->recs = xreallocarray(l->recs, l->n + 1, sizeof(*l->recs));
		l->recs[l->n] = rec;
	}
	l->ids[l->n++] = id;
	return 0;
}

static void
sub_list_free(struct sub_list *l)
{
	for (size_t i = 0; l->recs != NULL && i < l->n; i++)
		json_decref(l->recs[i]);
	free(l->recs);
	free(l->ids);
	memset(l, 0, sizeof(*l));
}

static int
sub_ids(struct jmap_call *c, uint32_t **ids_r, size_t *n_r, struct buf *err)
{
	struct sub_list l;

	memset(&l, 0, sizeof(l));
	if (mail_obj_list(c->ctx->env->st->mail, c->acct, MAIL_LOG_SUBMISSION,
	    collect, &l, err) < 0) {
		sub_list_free(&l);
		return -1;
	}
	*ids_r = l.ids != NULL ? l.ids : xcalloc(1, sizeof(**ids_r));
	*n_r = l.n;
	l.ids = NULL;
	sub_list_free(&l);
	return 0;
}

/* ---- update, destroy ---- */

static int
sub_update(struct jmap_call *c, uint32_t id, json_t *old_obj,
    json_t *new_obj, json_t **updated_r, json_t **seterr_r, struct buf *err)
{
	const char *u;

	(void)c;
	(void)id;
	(void)err;
	(void)updated_r;
	for (size_t i = 0; sub_props[i] != NULL; i++) {
		if (strcmp(sub_props[i], "undoStatus") == 0 ||
		    json_equal(json_object_get(old_obj, sub_props[i]),
		    json_object_get(new_obj, sub_props[i])))
			continue;
		*seterr_r = jmap_set_error_props(sub_props[i], "only "
		    "undoStatus may change");
		return 0;
	}
	u = json_string_value(json_object_get(new_obj, "undoStatus"));
	if (u != NULL && strcmp(u, "final") == 0)
		return 1;
	if (u != NULL && strcmp(u, "canceled") == 0) {
		*seterr_r = jmap_set_error("cannotUnsend", "the message is in "
		    "the queue already (undoStatus is final)");
		return 0;
	}
	*seterr_r = jmap_set_error_props("undoStatus", "may only become "
	    "\"canceled\"");
	return 0;
}

static int
sub_destroy(struct jmap_call *c, uint32_t id, json_t **seterr_r,
    struct buf *err)
{
	int r = mail_obj_destroy(c->ctx->env->st->mail, c->acct,
	    MAIL_LOG_SUBMISSION, id, err);

	if (r == 0)
		*seterr_r = jmap_set_error("notFound", "no such "
		    "EmailSubmission");
	return r;
}

/* ---- /query ---- */

static bool
is_id_list(json_t *v)
{
	size_t i;
	json_t *x;

	if (!json_is_array(v))
		return false;
	json_array_foreach(v, i, x) {
		if (!jmap_value_is_id(x))
			return false;
	}
	return true;
}

static const char *
cond_check(json_t *cond)
{
	const char *k;
	json_t *v;
	int64_t t;

	json_object_foreach(cond, k, v) {
		if (strcmp(k, "identityIds") == 0 ||
		    strcmp(k, "emailIds") == 0 || strcmp(k, "threadIds") == 0) {
			if (!is_id_list(v))
				return "identityIds, emailIds and threadIds are "
				    "Id[]";
		} else if (strcmp(k, "undoStatus") == 0) {
			if (!json_is_string(v))
				return "undoStatus is a String";
		} else if (strcmp(k, "before") == 0 ||
		    strcmp(k, "after") == 0) {
			if (!json_is_string(v) || jmap_date_parse(
			    json_string_value(v), &t) < 0)
				return "before and after are UTCDates";
		} else {
			return "unknown filter property";
		}
	}
	return NULL;
}

static bool
listed(json_t *list, const json_t *id)
{
	size_t i;
	json_t *x;

	json_array_foreach(list, i, x) {
		if (json_equal(x, id))
			return true;
	}
	return false;
}

static int64_t
send_time(const json_t *rec)
{
	const char *s = json_string_value(json_object_get(rec, "sendAt"));
	int64_t t;

	return s != NULL && jmap_date_parse(s, &t) == 0 ? t : 0;
}

static bool
cond_match(void *arg, json_t *cond)
{
	const json_t *rec = arg;
	const char *k;
	json_t *v;
	int64_t t;

	json_object_foreach(cond, k, v) {
		if (strcmp(k, "identityIds") == 0) {
			if (!listed(v, json_object_get(rec, "identityId")))
				return false;
		} else if (strcmp(k, "emailIds") == 0) {
			if (!listed(v, json_object_get(rec, "emailId")))
				return false;
		} else if (strcmp(k, "threadIds") == 0) {
			if (!listed(v, json_object_get(rec, "threadId")))
				return false;
		} else if (strcmp(k, "undoStatus") == 0) {
			if (!json_equal(v, json_object_get(rec, "undoStatus")))
				return false;
		} else if (jmap_date_parse(json_string_value(v), &t) == 0) {
			/* before: sendAt < t; after: sendAt >= t */
			if ((k[0] == 'b') != (send_time(rec) < t))
				return false;
		}
	}
	return true;
}

struct sorted {
	uint32_t id;
	const json_t *rec;
};

/* id_num - the number of an "M7" / "T9" id, 0 when none */
static uint32_t
id_num(const json_t *v)
{
	const char *s = json_string_value(v);
	uint32_t n;

	if (s == NULL || s[0] == '\0' || jmap_id_parse(s[0], s, &n) < 0)
		return 0;
	return n;
}

static int
compare(const void *a, const void *b, void *arg)
{
	const struct sorted *x = a, *y = b;
	json_t *sort = arg, *cmp;
	size_t i;

	json_array_foreach(sort, i, cmp) {
		const char *p = json_string_value(json_object_get(cmp,
		    "property"));
		json_t *asc = json_object_get(cmp, "isAscending");
		int64_t l, r;

		if (strcmp(p, "sentAt") == 0) {
			l = send_time(x->rec);
			r = send_time(y->rec);
		} else {
			l = id_num(json_object_get(x->rec, p));
			r = id_num(json_object_get(y->rec, p));
		}
		if (l != r)
			return (l < r ? -1 : 1) * (asc == NULL ||
			    json_is_true(asc) ? 1 : -1);
	}
	return x->id < y->id ? -1 : x->id > y->id;
}

static const char *const sort_props[] = {
	"emailId", "threadId", "sentAt", NULL,
};

static int
sub_query(struct jmap_call *c, json_t *filter, json_t *sort,
    uint32_t **ids_r, size_t *n_r, json_t **error_r, struct buf *err)
{
	struct sub_list l;
	struct sorted *v;
	size_t n = 0;

	if ((filter != NULL && jmap_filter_check(filter, cond_check,
	    error_r) < 0) ||
	    (sort != NULL && jmap_sort_check(sort, sort_props, error_r) < 0))
		return 0;
	memset(&l, 0, sizeof(l));
	l.recs = xcalloc(1, sizeof(*l.recs));
	if (mail_obj_list(c->ctx->env->st->mail, c->acct, MAIL_LOG_SUBMISSION,
	    collect, &l, err) < 0) {
		sub_list_free(&l);
		return -1;
	}
	v = xcalloc(l.n + 1, sizeof(*v));
	for (size_t i = 0; i < l.n; i++)
		if (filter == NULL || jmap_filter_match(filter, cond_match,
		    l.recs[i]))
			v[n++] = (struct sorted){ l.ids[i], l.recs[i] };
	if (sort != NULL)
		qsort_r(v, n, sizeof(*v), compare, sort);
	*ids_r = xcalloc(n + 1, sizeof(**ids_r));
	for (size_t i = 0; i < n; i++)
		(*ids_r)[i] = v[i].id;
	*n_r = n;
	free(v);
	sub_list_free(&l);
	return 0;
}

/* ---- /set and its implicit Email/set ---- */

static const struct jmap_arg set_extra[] = {
	{ "onSuccessUpdateEmail", JMAP_ARG_OBJECT, JMAP_ARG_NULL },
	{ "onSuccessDestroyEmail", JMAP_ARG_STRINGS, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

/* the email id of submission sid ("S7"), NULL when there is none */
static json_t *
email_of(struct jmap_call *c, const char *sid, struct buf *err, int *fail)
{
	json_t *rec, *e = NULL;
	uint32_t n;
	int r;

	if (jmap_id_parse('S', sid, &n) < 0)
		return NULL;
	if ((r = load(c, n, &rec, err)) < 0)
		*fail = -1;
	if (r == 1 && json_is_string(json_object_get(rec, "emailId")))
		e = json_incref(json_object_get(rec, "emailId"));
	json_decref(rec);
	return e;
}

/* remember - the email of a submission named by id, before the set */
static void
remember(struct jmap_call *c, const char *key, json_t *before,
    struct buf *err, int *fail)
{
	json_t *e;

	if (key[0] == '#' || json_object_get(before, key) != NULL)
		return;
	if ((e = email_of(c, key, err, fail)) != NULL)
		json_object_set_new(before, key, e);
}

static bool
has_str(json_t *list, const char *s)
{
	size_t i;
	json_t *x;

	json_array_foreach(list, i, x) {
		if (json_is_string(x) && strcmp(json_string_value(x), s) == 0)
			return true;
	}
	return false;
}

/* succeeded - the email of key's submission when the set changed it */
static json_t *
succeeded(struct jmap_call *c, json_t *res, json_t *before, const char *key,
    struct buf *err, int *fail)
{
	if (key[0] == '#') {
		json_t *cr = json_object_get(json_object_get(res, "created"),
		    key + 1);
		const char *id = json_string_value(json_object_get(cr, "id"));

		return id != NULL ? email_of(c, id, err, fail) : NULL;
	}
	if (json_object_get(before, key) == NULL ||
	    (json_object_get(json_object_get(res, "updated"), key) == NULL &&
	    !has_str(json_object_get(res, "destroyed"), key)))
		return NULL;
	return json_incref(json_object_get(before, key));
}

static const struct jmap_method implicit_email_set =
	JMAP_STD_METHOD("Email/set", JMAP_CAP_MAIL,
	JMAP_M_ACCOUNT | JMAP_M_WRITE, &jmap_email_type, JMAP_STD_SET);

static int
s_set(struct jmap_call *c, struct buf *err)
{
	json_t *upd = jmap_arg_get(c, "onSuccessUpdateEmail");
	json_t *des = jmap_arg_get(c, "onSuccessDestroyEmail");
	json_t *before = json_object(), *resp, *res, *eupd, *edes, *v, *args;
	size_t nresp = json_array_size(c->ctx->responses), i;
	struct jmap_call sub;
	const char *k;
	int fail = 0, rc;

	if (json_is_object(upd))
		json_object_foreach(upd, k, v)
			remember(c, k, before, err, &fail);
	if (json_is_array(des))
		json_array_foreach(des, i, v)
			if (json_is_string(v))
				remember(c, json_string_value(v), before, err,
				    &fail);
	if (fail < 0 || (rc = jmap_std_set(c, &jmap_submission_type,
	    err)) < 0) {
		json_decref(before);
		return -1;
	}
	resp = json_array_get(c->ctx->responses, nresp);
	if (resp == NULL || strcmp(json_string_value(json_array_get(resp, 0)),
	    "EmailSubmission/set") != 0 || (upd == NULL && des == NULL)) {
		json_decref(before);
		return 0;	/* a method error, or nothing more asked */
	}
	res = json_array_get(resp, 1);
	eupd = json_object();
	edes = json_array();
	if (json_is_object(upd))
		json_object_foreach(upd, k, v) {
			json_t *e = succeeded(c, res, before, k, err, &fail);

			if (e != NULL)
				json_object_set(eupd, json_string_value(e), v);
			json_decref(e);
		}
	if (json_is_array(des))
		json_array_foreach(des, i, v) {
			json_t *e = succeeded(c, res, before,
			    json_string_value(v), err, &fail);

			if (e != NULL && !listed(edes, e))
				json_array_append(edes, e);
			json_decref(e);
		}
	json_decref(before);
	rc = fail < 0 ? -1 : 0;
	if (rc == 0 && (json_object_size(eupd) > 0 ||
	    json_array_size(edes) > 0)) {
		args = json_pack("{s:s}", "accountId", c->ctx->account_id);
		if (json_object_size(eupd) > 0)
			json_object_set(args, "update", eupd);
		if (json_array_size(edes) > 0)
			json_object_set(args, "destroy", edes);
		sub = *c;
		sub.method = &implicit_email_set;
		sub.args = args;
		rc = jmap_std_set(&sub, &jmap_email_type, err);
		json_decref(args);
	}
	json_decref(eupd);
	json_decref(edes);
	return rc;
}

/* ---- the capability, the type and its methods ---- */

json_t *
jmap_submission_capability(const struct jmap_env *env)
{
	char size[24];

	(void)snprintf(size, sizeof(size), "%llu",
	    (unsigned long long)env->cfg->smtp.max_message_size);
	/* what the queue carries to the SMTP client (ehlo-name: args) */
	return json_pack("{s:i,s:{s:[],s:[s],s:[],s:[]}}", "maxDelayedSend", 0,
	    "submissionExtensions", "DSN", "SIZE", size, "8BITMIME",
	    "SMTPUTF8");
}

const struct jmap_type jmap_submission_type = {
	.name = "EmailSubmission",
	.prefix = 'S',
	.log = MAIL_LOG_SUBMISSION,
	.cap = JMAP_CAP_SUBMISSION,
	.props = sub_props,
	.get = sub_get,
	.list = sub_ids,
	.set_args = set_extra,
	.create = jmap_submission_create,
	.update = sub_update,
	.destroy = sub_destroy,
	.query = sub_query,
};

const struct jmap_method jmap_submission_methods[] = {
	JMAP_STD_METHOD("EmailSubmission/get", JMAP_CAP_SUBMISSION,
	    JMAP_M_ACCOUNT, &jmap_submission_type, JMAP_STD_GET),
	JMAP_STD_METHOD("EmailSubmission/changes", JMAP_CAP_SUBMISSION,
	    JMAP_M_ACCOUNT, &jmap_submission_type, JMAP_STD_CHANGES),
	JMAP_STD_METHOD("EmailSubmission/query", JMAP_CAP_SUBMISSION,
	    JMAP_M_ACCOUNT, &jmap_submission_type, JMAP_STD_QUERY),
	JMAP_STD_METHOD("EmailSubmission/queryChanges", JMAP_CAP_SUBMISSION,
	    JMAP_M_ACCOUNT, &jmap_submission_type, JMAP_STD_QUERY_CHANGES),
	{ "EmailSubmission/set", JMAP_CAP_SUBMISSION,
	  JMAP_M_ACCOUNT | JMAP_M_WRITE, s_set, NULL, 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};

/* jmap_server_set_queue (jmap.h): the server's env is filled by
 * jmap_server_start, which leaves these two alone */
void
jmap_server_set_queue(struct jmap_server *s, struct spool *sp,
    struct qmgr *qm)
{
	s->env.spool = sp;
	s->env.qm = qm;
}
