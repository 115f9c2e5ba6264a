/*
 * jmap_blob.c - binary data (RFC 8620 6): upload into the blob store,
 * download, and Blob/copy.
 *
 * Blob ids (jmap_priv.h) name their owner so that the account check is
 * one key lookup:
 *   "B" + hex SHA-256   an upload of this account: valid while its
 *                       upload record lives (below);
 *   "R" + email number  the raw message of an email of this account.
 * Content is shared between accounts by the blob store, ids are not: an
 * account reaches a blob only through its own uploads and its own
 * emails, whatever content another account holds.
 *
 * Upload records, in the data store next to the mail model (key
 * subspace 'J', free in store/LAYOUT.md):
 *   'J' acct(u32) 'u' sha256(32) -> expires(u64, unix seconds)
 *                                   size(u64) media type (the rest)
 * Each record holds one reference to its blob (blob.h), taken by the
 * blob_put of the first upload of that content and dropped, with the
 * record, in the transaction that removes it.  Uploading the same
 * content again renews the record and gives back the new reference.  A
 * record expires jmap.upload_ttl after its last upload (RFC 8620 6.1:
 * at least an hour); each upload removes up to SWEEP_MAX expired records
 * of its account, and an expired record is never served.
 * XXX an account that never uploads again keeps its expired records
 * (and their blobs) until it does: a periodic sweep of 'J' should run
 * from cli/serve with the change-log pruning (mail.h).
 * XXX Email/import will take its own reference to an uploaded blob; the
 * upload's reference then goes with the record, as here.
 *
 * Downloads are read whole into memory, up to the blob's size, in the
 * request's job.  XXX stream with blob_reader and evhttp chunks for big
 * messages.  The media type comes from ?type= when it is a plausible
 * one, else application/octet-stream; the name goes into
 * Content-Disposition (RFC 6266: an ASCII filename and filename*).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"

#define SWEEP_MAX 64		/* expired uploads removed per upload */
#define TYPE_MAX 255		/* octets of a media type we keep */
#define DEFAULT_TYPE "application/octet-stream"

void
jmap_blob_id_email(uint32_t email, char out[JMAP_BLOB_ID_MAX])
{
	(void)snprintf(out, JMAP_BLOB_ID_MAX, "R%u", email);
}

static void
key_upload(struct buf *k, uint32_t acct, const struct blob_id *id)
{
	unsigned char a[4] = { (unsigned char)(acct >> 24),
	    (unsigned char)(acct >> 16), (unsigned char)(acct >> 8),
	    (unsigned char)acct };

	buf_reset(k);
	buf_add(k, "J", 1);
	buf_add(k, a, 4);
	buf_add(k, "u", 1);
	if (id != NULL)
		buf_add(k, id->b, BLOB_ID_SIZE);
}

static void
put_u64(struct buf *b, uint64_t v)
{
	unsigned char x[8];

	for (int i = 7; i >= 0; i--, v >>= 8)
		x[i] = (unsigned char)v;
	buf_add(b, x, 8);
}

static uint64_t
get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint64_t
now_s(void)
{
	return clock_wall_us() / 1000000;
}

/* type_ok - a media type we echo in headers and JSON: printable ASCII
 * with a '/', no quote or backslash */
static bool
type_ok(const char *t)
{
	size_t n = 0;
	bool slash = false;

	if (t == NULL)
		return false;
	for (; t[n] != '\0'; n++) {
		unsigned char c = (unsigned char)t[n];

		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			return false;
		slash |= c == '/';
	}
	return slash && n <= TYPE_MAX && t[0] != '/';
}

/* ---- finding a blob of an account ---- */

struct upload_rec {
	bool found;
	uint64_t expires, size;
	char type[TYPE_MAX + 1];
};

static int
upload_get_txn(struct kv_txn *t, uint32_t acct, const struct blob_id *id,
    struct upload_rec *u, struct buf *err)
{
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	int r;

	memset(u, 0, sizeof(*u));
	key_upload(&k, acct, id);
	r = kv_get(t, k.data, k.len, &v, err);
	if (r == 1 && v.len >= 16 && v.len - 16 <= TYPE_MAX) {
		u->found = true;
		u->expires = get_u64(v.data);
		u->size = get_u64(v.data + 8);
		memcpy(u->type, v.data + 16, v.len - 16);
		u->type[v.len - 16] = '\0';
	} else if (r == 1) {
		buf_addf(err, "malformed upload record");
		r = -1;
	}
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

struct lookup_op {
	uint32_t acct;
	struct blob_id id;
	struct upload_rec rec;
};

static int
lookup_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct lookup_op *op = arg;

	return upload_get_txn(t, op->acct, &op->id, &op->rec, err);
}

/*
 * blob_find - the content blob_id of blob id s for account acct: 1, 0
 * when the account has no such blob, -1
 */
static int
blob_find(const struct jmap_env *env, uint32_t acct, const char *s,
    struct blob_id *id_r, struct buf *err)
{
	if (s[0] == 'B') {
		struct lookup_op op;

		if (blob_id_parse(s + 1, strlen(s + 1), &op.id) < 0)
			return 0;
		op.acct = acct;
		if (kv_run(env->st->kv, KV_READ, lookup_txn, &op, err) < 0)
			return -1;
		if (!op.rec.found || op.rec.expires <= now_s())
			return 0;
		*id_r = op.id;
		return 1;
	}
	if (s[0] == 'R') {
		struct mail_email em;
		uint32_t n;
		int r;

		if (jmap_id_parse('R', s, &n) < 0)
			return 0;
		memset(&em, 0, sizeof(em));
		r = mail_email_get(env->st->mail, acct, n, &em, err);
		if (r == 1)
			*id_r = em.blob;
		mail_email_clear(&em);
		return r;
	}
	return 0;
}

int
jmap_blob_find(const struct jmap_env *env, uint32_t acct, const char *s,
    struct blob_id *id_r, struct buf *err)
{
	return blob_find(env, acct, s, id_r, err);
}

/* ---- upload ---- */

struct upload_op {
	uint32_t acct;
	struct blob_id id;
	uint64_t size, expires;
	const char *type;
	bool existed;
	struct blob_id *reap;	/* expired uploads whose count hit 0 */
	size_t nreap;
	struct blob_id *expired;	/* scratch: expired records found */
	size_t nexpired;
	struct blob_store *bs;
};

static int
find_expired(void *arg, const unsigned char *k, size_t kl,
    const unsigned char *v, size_t vl, struct buf *err)
{
	struct upload_op *op = arg;

	(void)err;
	if (kl != 6 + BLOB_ID_SIZE || vl < 16)
		return 0;	/* not ours to judge: left alone */
	if (get_u64(v) > now_s())
		return 0;
	memcpy(op->expired[op->nexpired].b, k + 6, BLOB_ID_SIZE);
	return ++op->nexpired == SWEEP_MAX ? 1 : 0;
}

static int
upload_txn(struct kv_txn *t, void *arg, struct buf *err)
{
	struct upload_op *op = arg;
	struct buf k = BUF_INIT(0), v = BUF_INIT(0);
	struct upload_rec old;
	int r;

	op->nreap = op->nexpired = 0;
	if ((r = upload_get_txn(t, op->acct, &op->id, &old, err)) < 0)
		goto out;
	op->existed = old.found;
	/* this account's expired uploads go, their references with them */
	key_upload(&k, op->acct, NULL);
	if ((r = kv_scan_txn(t, k.data, k.len, k.data, k.len, find_expired,
	    op, err)) < 0)
		goto out;
	for (size_t i = 0; i < op->nexpired; i++) {
		bool reap = false;

		if (memcmp(op->expired[i].b, op->id.b, BLOB_ID_SIZE) == 0)
			continue;	/* renewed below, reference kept */
		key_upload(&k, op->acct, &op->expired[i]);
		if ((r = kv_delete(t, k.data, k.len, err)) < 0 ||
		    (r = blob_unref_txn(op->bs, t, &op->expired[i], &reap,
		    err)) < 0)
			goto out;
		if (reap)
			op->reap[op->nreap++] = op->expired[i];
	}
	key_upload(&k, op->acct, &op->id);
	put_u64(&v, op->expires);
	put_u64(&v, op->size);
	buf_add_str(&v, op->type);
	r = kv_put(t, k.data, k.len, v.data, v.len, err);
out:
	buf_free(&k);
	buf_free(&v);
	return r < 0 ? r : 0;
}

static void
upload_work(void *arg)
{
	struct jmap_req *r = arg;
	const struct jmap_env *env = &r->srv->env;
	struct blob_store *bs = env->st->blobs;
	struct buf err = BUF_INIT(0);
	struct upload_op op;
	size_t len = evbuffer_get_length(r->in);
	const unsigned char *data = evbuffer_pullup(r->in, -1);
	char hex[BLOB_HEX_SIZE], id[JMAP_BLOB_ID_MAX];
	json_t *res;
	char *s;

	memset(&op, 0, sizeof(op));
	if (blob_put(bs, data != NULL ? data : (const unsigned char *)"", len,
	    &op.id, &err) < 0)
		goto fail;
	op.acct = r->acct;
	op.size = len;
	op.expires = now_s() + r->srv->cfg->jmap.upload_ttl;
	op.type = r->content_type;
	op.bs = bs;
	op.reap = xcalloc(SWEEP_MAX, sizeof(*op.reap));
	op.expired = xcalloc(SWEEP_MAX, sizeof(*op.expired));
	if (kv_run(env->st->kv, KV_WRITE, upload_txn, &op, &err) < 0) {
		struct buf e2 = BUF_INIT(0);

		if (blob_unref(bs, &op.id, &e2) < 0)
			log_error(JMAP_SVC, "%s: upload: giving back a blob "
			    "reference: %s", r->id, buf_cstr(&e2));
		buf_free(&e2);
		goto fail;
	}
	/* the record held a reference already: ours goes back */
	if (op.existed && blob_unref(bs, &op.id, &err) < 0)
		log_error(JMAP_SVC, "%s: upload: %s", r->id, buf_cstr(&err));
	for (size_t i = 0; i < op.nreap; i++) {
		buf_reset(&err);
		if (blob_reap(bs, &op.reap[i], &err) < 0)
			log_warn(JMAP_SVC, "%s: expired upload: %s", r->id,
			    buf_cstr(&err));
	}
	blob_id_hex(&op.id, hex);
	(void)snprintf(id, sizeof(id), "B%s", hex);
	res = json_object();
	json_object_set_new(res, "accountId", json_string(r->account_id));
	json_object_set_new(res, "blobId", json_string(id));
	json_object_set_new(res, "type", json_string(r->content_type));
	json_object_set_new(res, "size", json_integer((json_int_t)len));
	s = json_dumps(res, JSON_COMPACT);
	if (s == NULL)
		PANIC("json_dumps failed");
	buf_add_str(&r->out, s);
	free(s);
	json_decref(res);
	r->status = 201;
	free(op.reap);
	free(op.expired);
	buf_free(&err);
	return;
fail:
	log_error(JMAP_SVC, "%s: upload: %s", r->id, buf_cstr(&err));
	free(op.reap);
	free(op.expired);
	buf_free(&err);
	r->status = 500;
}

static void
upload_done(void *arg)
{
	struct jmap_req *r = arg;

	if (r->status != 201) {
		jmap_reply_error(r, r->status, "The upload failed; try again "
		    "later");
		return;
	}
	jmap_reply_buf(r, 201, "application/json", &r->out);
}

/* own_account - the path names the authenticated account */
static bool
own_account(struct jmap_req *r)
{
	if (r->path_account != NULL &&
	    strcmp(r->path_account, r->account_id) == 0)
		return true;
	jmap_reply_error(r, 404, "No such account");
	return false;
}

void
jmap_upload(struct jmap_req *r)
{
	struct jmap_server *s = r->srv;
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	const char *ct = evhttp_find_header(
	    evhttp_request_get_input_headers(r->req), "Content-Type");
	struct jmap_problem p;

	if (!own_account(r))
		return;
	if (evbuffer_get_length(in) > s->env.lim.max_size_upload) {
		jmap_problem_set(&p, 413, JMAP_ERR_URN "limit",
		    "maxSizeUpload", "The upload is larger than %llu octets",
		    (unsigned long long)s->env.lim.max_size_upload);
		jmap_reply_problem(r, &p);
		return;
	}
	if (!jmap_use_enter(s, r->acct, JMAP_USE_UPLOAD,
	    s->env.lim.max_concurrent_upload)) {
		jmap_problem_set(&p, 429, JMAP_ERR_URN "limit",
		    "maxConcurrentUpload", "More than %u uploads at once",
		    s->env.lim.max_concurrent_upload);
		jmap_reply_problem(r, &p);
		return;
	}
	r->held |= 1u << JMAP_USE_UPLOAD;
	r->content_type = xstrdup(type_ok(ct) ? ct : DEFAULT_TYPE);
	r->in = evbuffer_new();
	evbuffer_add_buffer(r->in, in);
	jmap_run_job(r, s->jobs, upload_work, upload_done);
}

/* ---- download ---- */

/* disposition - RFC 6266: attachment; filename="ascii"; filename*=... */
static char *
disposition(const char *name)
{
	static const char hexd[] = "0123456789ABCDEF";
	struct buf b = BUF_INIT(0);

	buf_add_str(&b, "attachment; filename=\"");
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0';
	    p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\' &&
		    *p != '/')
			buf_add(&b, p, 1);
		else
			buf_add_str(&b, "_");
	}
	buf_add_str(&b, "\"; filename*=UTF-8''");
	for (const unsigned char *p = (const unsigned char *)name; *p != '\0';
	    p++) {
		if (is_ascii_alnum(*p) || strchr("!#$&+-.^_`|~", *p) != NULL) {
			buf_add(&b, p, 1);
		} else {
			char e[3] = { '%', hexd[*p >> 4], hexd[*p & 15] };

			buf_add(&b, e, 3);
		}
	}
	return buf_steal(&b, NULL);
}

static void
download_work(void *arg)
{
	struct jmap_req *r = arg;
	const struct jmap_env *env = &r->srv->env;
	struct buf err = BUF_INIT(0);
	struct blob_id id;
	uint64_t size;
	int rc;

	if (r->path_blob[0] == 'P')	/* a body part: jmap_email.c */
		rc = jmap_email_part_content(env, r->acct, r->path_blob,
		    &r->out, &err);
	else
		rc = blob_find(env, r->acct, r->path_blob, &id, &err);
	if (rc == 1 && r->path_blob[0] != 'P')
		rc = blob_size(env->st->blobs, &id, &size, &err);
	if (rc == 1 && r->path_blob[0] != 'P') {
		r->out.max = size > 0 ? size : 1;
		rc = blob_get(env->st->blobs, &id, 0, BLOB_TO_END, &r->out,
		    &err);
	}
	if (rc == 1) {
		r->status = 200;
		r->disposition = disposition(r->path_name);
	} else if (rc == 0) {
		r->status = 404;
	} else {
		log_error(JMAP_SVC, "%s: download %s: %s", r->id, r->path_blob,
		    rc == BLOB_CORRUPT ? "content does not match its id" :
		    buf_cstr(&err));
		r->status = 500;
	}
	buf_free(&err);
}

static void
download_done(void *arg)
{
	struct jmap_req *r = arg;
	struct evkeyvalq *h;

	if (r->status == 404) {
		jmap_reply_error(r, 404, "No such blob");
		return;
	}
	if (r->status != 200) {
		jmap_reply_error(r, r->status, "The download failed; try again "
		    "later");
		return;
	}
	h = evhttp_request_get_output_headers(r->req);
	evhttp_add_header(h, "Content-Disposition", r->disposition);
	evhttp_add_header(h, "Cache-Control", "private, immutable, "
	    "max-age=604800");
	r->out.max = 0;
	jmap_reply_buf(r, 200, type_ok(r->query_type) ? r->query_type :
	    DEFAULT_TYPE, &r->out);
}

void
jmap_download(struct jmap_req *r)
{
	struct jmap_server *s = r->srv;
	struct jmap_problem p;

	if (!own_account(r))
		return;
	if (!jmap_use_enter(s, r->acct, JMAP_USE_REQUEST,
	    s->env.lim.max_concurrent_requests)) {
		jmap_problem_set(&p, 429, JMAP_ERR_URN "limit",
		    "maxConcurrentRequests", "More than %u requests at once",
		    s->env.lim.max_concurrent_requests);
		jmap_reply_problem(r, &p);
		return;
	}
	r->held |= 1u << JMAP_USE_REQUEST;
	jmap_run_job(r, s->jobs, download_work, download_done);
}

/* ---- Blob/copy (RFC 8620 6.3) ---- */

static const struct jmap_arg copy_args[] = {
	{ "fromAccountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "blobIds", JMAP_ARG_IDS, JMAP_ARG_REQUIRED },
	{ NULL, 0, 0 },
};

/*
 * One account per user: copying is within it, and a blob it can reach
 * is already its own, under the same id.  Another fromAccountId is
 * fromAccountNotFound: no user reaches another's blobs.
 */
static int
blob_copy(struct jmap_call *c, struct buf *err)
{
	json_t *from, *ids, *v, *copied, *not_copied, *res;
	struct blob_id id;
	size_t i;

	if (jmap_args_check(c, copy_args, NULL) < 0)
		return 0;
	from = json_object_get(c->args, "fromAccountId");
	if (strcmp(json_string_value(from), c->ctx->account_id) != 0) {
		jmap_error(c, "fromAccountNotFound", "no account \"%s\" for "
		    "this user", json_string_value(from));
		return 0;
	}
	ids = json_object_get(c->args, "blobIds");
	copied = json_object();
	not_copied = json_object();
	json_array_foreach(ids, i, v) {
		int r = blob_find(c->ctx->env, c->acct, json_string_value(v),
		    &id, err);

		if (r < 0) {
			json_decref(copied);
			json_decref(not_copied);
			return -1;
		}
		if (r == 1)
			json_object_set(copied, json_string_value(v), v);
		else
			json_object_set_new(not_copied, json_string_value(v),
			    jmap_set_error("notFound", "no such blob"));
	}
	res = json_object();
	json_object_set(res, "fromAccountId", from);
	json_object_set_new(res, "accountId", json_string(c->ctx->account_id));
	json_object_set_new(res, "copied", json_object_size(copied) > 0 ?
	    copied : (json_decref(copied), json_null()));
	json_object_set_new(res, "notCopied", json_object_size(not_copied) >
	    0 ? not_copied : (json_decref(not_copied), json_null()));
	jmap_reply(c, res);
	return 0;
}

const struct jmap_method jmap_blob_methods[] = {
	{ "Blob/copy", JMAP_CAP_CORE, JMAP_M_ACCOUNT | JMAP_M_WRITE,
	  blob_copy, NULL, 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};
