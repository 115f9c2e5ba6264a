/*
 * imap_search_cmd.c - SEARCH, SORT, THREAD and their UID forms (RFC 9051
 * 6.4.4, RFC 5256), with ESEARCH (RFC 4731: RETURN MIN MAX ALL COUNT),
 * ESORT (RFC 5267), SEARCHRES (RFC 5182: SAVE and "$"), CHARSET
 * ([BADCHARSET]), and the full-text index.  The evaluation, sorting,
 * threading and the answers are imap_search_eval.h and
 * imap_sortthread.h; this file gives them the mailbox.
 *
 * One read transaction per command: the memberships of every message
 * the client knows are read first (flags, keywords, MODSEQ: what most
 * keys need), and the rest is loaded lazily, message by message, as a
 * key reaches it (imap_search_eval.h): the email record (size, dates,
 * thread), the header summary stored at delivery (mail_email_mime), the
 * raw header block (a range read of the blob: the stored MIME info says
 * where it ends), and the body text - the blob parsed by mime_parse_text,
 * the same function the indexer's text comes from (store_msg_prepare),
 * so the index's narrowing holds.  What a message loaded is freed as
 * soon as the evaluator is done with it.  BODY and TEXT go to the index
 * (store/fts.h) in the same transaction; OBJECTID keys read the ids
 * FETCH writes (imap_fetch_out_objectid).
 *
 * A message the client knows but the store no longer holds (expunged
 * elsewhere, not yet announced) keeps its number and matches only keys
 * on its number, UID and (empty) flags.
 *
 * Answers: ESEARCH when RETURN is given or IMAP4rev2 is enabled (RFC
 * 9051 7.3.4 has no SEARCH response), else SEARCH; SORT answers SORT, or
 * ESEARCH with RETURN (ESORT).  SAVE replaces "$" with the result (or
 * with nothing when the command fails, RFC 5182 2.1).  A SEARCH with
 * MODSEQ enables CONDSTORE (RFC 7162 3.1).
 *
 * MESSAGELIMIT (RFC 9738 3.1): what counts is the messages a command
 * looks at - those its top-level sequence set and UID keys allow, not
 * those that match.  A SEARCH over more looks at the limit with the
 * highest UIDs (a UID key ANDed to the program, so the evaluator skips
 * the rest at once) and says "MESSAGELIMIT limit uid", uid the lowest
 * looked at; "$" then holds only what was found.  SORT and THREAD over
 * more are refused NO [MESSAGELIMIT limit]: an order of part of the
 * messages would look like an order of them all.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_fetch_out.h"
#include "imap-jmap/imap_priv.h"
#include "imap-jmap/imap_search_eval.h"
#include "imap-jmap/imap_sortthread.h"

/* what load() made for one message, freed by release() */
struct search_slot {
	struct mime_info *mime;		/* header summary, offsets */
	struct mime_info *text;		/* mime_parse_text's */
	struct buf raw;			/* the header block or the message */
	bool full;			/* raw is the whole message */
	bool has_blob;
	struct blob_id blob;
};

struct search_ctx {
	struct imap_session *s;
	struct kv_txn *t;
	struct imap_search_env env;
	struct search_slot *slot;	/* per message, as env.msgs */
	struct buf kw;			/* the keywords of every message */
	size_t *kwoff;
	size_t pos;			/* reading the memberships */
};

/* ---- the messages ---- */

static int
member_row(void *arg, const struct mail_msg *msg)
{
	struct search_ctx *c = arg;
	struct imap_search_msg *m;

	while (c->pos < c->env.n && c->env.msgs[c->pos].uid < msg->uid)
		c->pos++;
	if (c->pos == c->env.n || c->env.msgs[c->pos].uid != msg->uid)
		return 0;
	m = &c->env.msgs[c->pos];
	m->email = msg->email;
	m->flags = msg->flags;
	m->modseq = msg->modseq;
	c->kwoff[c->pos] = c->kw.len;
	buf_add(&c->kw, msg->keywords, strlen(msg->keywords) + 1);
	c->pos++;
	return 0;
}

/* load_members - env.msgs for every message of the model; -1 (err) */
static int
load_members(struct search_ctx *c, struct buf *err)
{
	const struct imap_msnmap *map = &c->s->sel->map;

	c->env.n = map->n;
	c->env.msgs = xcalloc(map->n + 1, sizeof(*c->env.msgs));
	c->slot = xcalloc(map->n + 1, sizeof(*c->slot));
	c->kwoff = xcalloc(map->n + 1, sizeof(*c->kwoff));
	buf_add(&c->kw, "", 1);		/* offset 0: no keywords */
	for (size_t i = 0; i < map->n; i++)
		c->env.msgs[i].uid = map->uid[i];
	if (imap_msgs_scan(c->t, c->s, map->uid, map->n, member_row, c,
	    err) < 0)
		return -1;
	/* the buffer has stopped moving: pointers now */
	for (size_t i = 0; i < map->n; i++)
		c->env.msgs[i].keywords = (const char *)c->kw.data +
		    c->kwoff[i];
	return 0;
}

static int
slot_email(struct search_ctx *c, struct imap_search_msg *m,
    struct search_slot *sl, struct buf *err)
{
	struct mail_email em;
	int r;

	memset(&em, 0, sizeof(em));
	r = mail_email_get_txn(c->t, c->s->acct, m->email, &em, err);
	if (r == 1) {
		m->size = em.size;
		m->internal_date = em.received_at;
		m->internal_tz = 0;
		m->has_save_date = true;
		m->save_date = em.created;
		m->thread = em.thread;
		sl->blob = em.blob;
		sl->has_blob = true;
	}
	mail_email_clear(&em);
	return r < 0 ? -1 : 0;
}

/* slot_blob - [0, len) of the message (BLOB_TO_END: all) into sl->raw */
static int
slot_blob(struct search_ctx *c, struct imap_search_msg *m,
    struct search_slot *sl, uint64_t len, struct buf *err)
{
	int r;

	if (!sl->has_blob && slot_email(c, m, sl, err) < 0)
		return -1;
	buf_reset(&sl->raw);
	if (!sl->has_blob)
		return 0;		/* destroyed meanwhile: empty */
	r = blob_get(c->s->srv->st->blobs, &sl->blob, 0, len, &sl->raw, err);
	if (r == 0)
		buf_addf(err, "email %u: the blob is missing", m->email);
	return r == 1 ? 0 : -1;
}

static int
load(void *ctx, struct imap_search_msg *m, unsigned need, struct buf *err)
{
	struct search_ctx *c = ctx;
	struct search_slot *sl = &c->slot[m - c->env.msgs];
	int r;

	if (m->email == 0) {		/* gone: every field empty */
		m->hdr = NULL;
		m->raw_hdr = m->text = "";
		m->raw_hdr_len = m->text_len = 0;
		return 0;
	}
	if ((need & IMAP_SEARCH_NEED_EMAIL) && slot_email(c, m, sl, err) < 0)
		return -1;
	if ((need & (IMAP_SEARCH_NEED_HDR | IMAP_SEARCH_NEED_RAWHDR)) &&
	    sl->mime == NULL) {
		/* the header summary and its end: not the part tree */
		r = mail_email_mime_some_txn(c->t, c->s->acct, m->email,
		    MIME_DEC_HDR, &sl->mime, err);
		if (r < 0)
			return -1;
	}
	if (need & IMAP_SEARCH_NEED_HDR)
		m->hdr = sl->mime != NULL ? &sl->mime->hdr : NULL;
	if (need & IMAP_SEARCH_NEED_TEXT) {
		/* the raw header, if loaded, is a prefix of what comes */
		if (slot_blob(c, m, sl, BLOB_TO_END, err) < 0)
			return -1;
		sl->full = true;
		if (m->loaded & IMAP_SEARCH_NEED_RAWHDR)
			m->raw_hdr = buf_cstr(&sl->raw);
		if (sl->raw.len > 0 && mime_parse_text(sl->raw.data,
		    sl->raw.len, NULL, &sl->text, err) < 0)
			return -1;
		m->text = sl->text != NULL && sl->text->text != NULL ?
		    sl->text->text : "";
		m->text_len = sl->text != NULL ? sl->text->text_len : 0;
	}
	if (need & IMAP_SEARCH_NEED_RAWHDR) {
		/* the top-level header block, its empty line included */
		uint64_t len = sl->mime != NULL ? sl->mime->header_end :
		    BLOB_TO_END;
		const unsigned char *end;

		if (!sl->full && slot_blob(c, m, sl, len, err) < 0)
			return -1;
		end = sl->mime == NULL && sl->raw.len > 0 ?
		    memmem(sl->raw.data, sl->raw.len, "\r\n\r\n", 4) : NULL;
		m->raw_hdr = buf_cstr(&sl->raw);
		m->raw_hdr_len = end != NULL ? (size_t)(end - sl->raw.data) + 4 :
		    sl->raw.len < len ? sl->raw.len : (size_t)len;
	}
	return 0;
}

static void
release(void *ctx, struct imap_search_msg *m)
{
	struct search_ctx *c = ctx;
	struct search_slot *sl = &c->slot[m - c->env.msgs];

	mime_info_free(&sl->mime);
	mime_info_free(&sl->text);
	buf_free(&sl->raw);
	sl->has_blob = sl->full = false;
	m->hdr = NULL;
	m->raw_hdr = m->text = NULL;
	m->raw_hdr_len = m->text_len = 0;
}

static int
fts(void *ctx, const struct fts_query *q, roaring_bitmap_t **result_r,
    struct buf *err)
{
	struct search_ctx *c = ctx;

	return fts_search(c->s->srv->st->fts, c->t, c->s->acct, q, NULL,
	    result_r, err) < 0 ? -1 : 0;
}

static bool
objectid(void *ctx, bool thread, const char *s, size_t len, uint32_t *id_r)
{
	(void)ctx;
	return imap_fetch_out_objectid_parse(s, len, thread ? 'T' : 'M', id_r);
}

/* ---- MESSAGELIMIT (RFC 9738 3.1) ---- */

/*
 * narrow - clear cand[i] for each message the set keys (message
 * numbers, UID, "$") at the top of the program k rule out: what a
 * SEARCH looks at, which is what the limit counts.  The sets are
 * resolved as the message commands resolve theirs (O(messages +
 * ranges)); one that does not resolve narrows nothing.
 */
static void
narrow(struct imap_session *s, const struct imap_skey *k,
    const struct imap_search_env *env, unsigned char *cand)
{
	const struct imap_msnmap *map = &s->sel->map;

	for (const struct imap_skey *c = k->kids; c != NULL; c = c->next) {
		unsigned char *in;
		uint32_t *msns = NULL;
		long n;

		if (c->kind == IMAP_SK_AND) {
			narrow(s, c, env, cand);
			continue;
		}
		if (c->kind != IMAP_SK_SEQSET && c->kind != IMAP_SK_UID)
			continue;
		in = xcalloc(env->n + 1, 1);
		if (c->set.saved) {
			for (size_t i = 0; i < env->nsaved; i++) {
				uint32_t msn = imap_msnmap_msn(map,
				    env->saved[i]);

				if (msn != 0)
					in[msn - 1] = 1;
			}
		} else if ((n = imap_msnmap_resolve(map, &c->set,
		    c->kind == IMAP_SK_UID, &msns)) >= 0) {
			for (long i = 0; i < n; i++)
				in[msns[i] - 1] = 1;
		} else {
			memset(in, 1, env->n);
		}
		for (size_t i = 0; i < env->n; i++)
			cand[i] &= in[i];
		free(msns);
		free(in);
	}
}

/*
 * limit_scope - the lowest UID a SEARCH may look at when it would look
 * at more messages than the limit (the limit with the highest UIDs),
 * else 0
 */
static uint32_t
limit_scope(struct imap_session *s, const struct imap_search *p,
    const struct imap_search_env *env)
{
	size_t limit = s->cfg->imap.message_limit, n = 0, seen = 0;
	unsigned char *cand;
	uint32_t cut = 0;

	if (limit == 0 || env->n <= limit)
		return 0;
	cand = xmalloc(env->n);
	memset(cand, 1, env->n);
	narrow(s, p->key, env, cand);
	for (size_t i = 0; i < env->n; i++)
		n += cand[i];
	for (size_t i = 0; n > limit && i < env->n; i++) {
		if (cand[i] && ++seen == n - limit + 1) {
			cut = env->msgs[i].uid;
			break;
		}
	}
	free(cand);
	return cut;
}

/* ---- the command ---- */

static void
save_result(struct imap_session *s, const struct imap_search_result *res)
{
	const struct imap_search_ret *ret = &s->cmd->u.search.ret;
	uint32_t *v = NULL;
	size_t n = 0;

	if (!(ret->opts & IMAP_SRET_SAVE))
		return;
	if (res != NULL)
		imap_search_save(ret, res, &v, &n);
	free(s->sel->saved);
	s->sel->saved = v;
	s->sel->nsaved = n;
}

/* answer - the untagged response of a successful command; -1 (err) */
static int
answer(struct imap_session *s, struct search_ctx *c,
    struct imap_search_result *res, struct buf *err)
{
	const struct imap_search *p = &s->cmd->u.search;
	const struct imap_str *tag = &s->cmd->tag;
	struct imap_thread *th = NULL;
	bool uid = s->cmd->uid;

	switch (s->cmd->kind) {
	case IMAP_CMD_SORT:
		if (imap_sort_run(&c->env, p->crit, p->ncrit, res, err) < 0)
			return -1;
		if (p->ret.present)
			imap_search_write_esearch(&s->out, tag->p, tag->len,
			    uid, &p->ret, res);
		else
			imap_search_write(&s->out, res, uid);
		break;
	case IMAP_CMD_THREAD:
		if (imap_thread_run(&c->env, p->alg, res, &th, err) < 0)
			return -1;
		imap_thread_write(&s->out, th, uid);
		imap_thread_free(&th);
		break;
	default:
		if (p->ret.present || s->rev2)
			imap_search_write_esearch(&s->out, tag->p, tag->len,
			    uid, &p->ret, res);
		else
			imap_search_write(&s->out, res, uid);
		break;
	}
	return 0;
}

static void
search_work(struct imap_session *s)
{
	const struct imap_search *p = &s->cmd->u.search;
	const char *name = imap_cmd_name(s->cmd->kind);
	struct search_ctx c;
	struct imap_search_result res;
	enum imap_search_status st;
	struct buf err = BUF_INIT(0), code = BUF_INIT(0);
	/* MESSAGELIMIT: the program narrowed to UIDs from cut on */
	struct imap_search limited;
	struct imap_skey top, scope, prog;
	struct imap_seq_range scope_range;
	uint32_t cut = 0;

	memset(&c, 0, sizeof(c));
	memset(&res, 0, sizeof(res));
	buf_init(&c.kw, 0);
	c.s = s;
	c.env.saved = s->sel->saved;
	c.env.nsaved = s->sel->nsaved;
	c.env.now = (int64_t)time(NULL);
	c.env.save_date_supported = true;
	c.env.text_mode = IMAP_SEARCH_TEXT_INDEX;
	c.env.load = load;
	c.env.release = release;
	c.env.fts = s->srv->st->fts != NULL ? fts : NULL;
	c.env.objectid = objectid;
	c.env.ctx = &c;
	if (kv_begin(mail_kv(s->srv->st->mail), KV_READ, &c.t, &err) < 0 ||
	    load_members(&c, &err) < 0) {
		save_result(s, NULL);
		imap_store_error(s, name, &err);
		goto out;
	}
	if ((cut = limit_scope(s, p, &c.env)) != 0) {
		if (s->cmd->kind != IMAP_CMD_SEARCH) {
			/* an order of part of the set would mislead */
			save_result(s, NULL);
			imap_tagged(s, "NO", "[MESSAGELIMIT %u] %s of more than "
			    "%u messages; narrow it with UID ranges",
			    s->cfg->imap.message_limit, name,
			    s->cfg->imap.message_limit);
			goto out;
		}
		/* the program, and a UID key for the messages looked at */
		prog = *p->key;
		prog.next = NULL;
		memset(&scope, 0, sizeof(scope));
		scope.kind = IMAP_SK_UID;
		scope.set.r = &scope_range;
		scope.set.n = 1;
		scope.next = &prog;
		scope_range.lo = cut;
		scope_range.hi = UINT32_MAX;
		memset(&top, 0, sizeof(top));
		top.kind = IMAP_SK_AND;
		top.kids = &scope;
		top.nkids = 2;
		limited = *p;
		limited.key = &top;
		p = &limited;
	}
	st = imap_search_eval(p, &c.env, &res, &err);
	if (st == IMAP_SEARCH_OK && res.has_modseq)
		s->condstore = true;	/* RFC 7162 3.1 */
	if (st == IMAP_SEARCH_OK && answer(s, &c, &res, &err) < 0)
		st = IMAP_SEARCH_FAILED;
	save_result(s, st == IMAP_SEARCH_OK ? &res : NULL);
	switch (st) {
	case IMAP_SEARCH_OK:
		kv_abort(&c.t);
		if (imap_refresh(s, s->cmd->uid) < 0 && !s->want_close)
			imap_tagged(s, "NO", "[SERVERBUG] Internal error; see "
			    "the server log");
		else if (!s->want_close) {
			imap_limit_code(s, cut, false, &code);
			imap_tagged(s, "OK", "%s%s%s completed",
			    buf_cstr(&code), s->cmd->uid ? "UID " : "", name);
		}
		break;
	case IMAP_SEARCH_BADCHARSET:
		imap_tagged(s, "NO", "[BADCHARSET (US-ASCII UTF-8)] The "
		    "charset is not supported");
		break;
	case IMAP_SEARCH_BAD:
		imap_bad(s, "%s", buf_cstr(&err));
		break;
	case IMAP_SEARCH_FAILED:
		imap_store_error(s, name, &err);
		break;
	}
out:
	kv_abort(&c.t);
	imap_search_result_free(&res);
	for (size_t i = 0; c.slot != NULL && i < c.env.n; i++)
		release(&c, &c.env.msgs[i]);
	free(c.slot);
	free(c.env.msgs);
	free(c.kwoff);
	buf_free(&c.kw);
	buf_free(&code);
	buf_free(&err);
}

void
imap_cmd_search(struct imap_session *s)
{
	const struct imap_search *p = &s->cmd->u.search;

	if (s->cmd->kind == IMAP_CMD_THREAD &&
	    p->alg == IMAP_THREAD_OTHER) {
		imap_bad(s, "Unknown threading algorithm");
		return;
	}
	imap_run_job(s, s->srv->jobs, search_work, NULL);
}
