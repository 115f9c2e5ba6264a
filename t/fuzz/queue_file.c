/*
 * queue_file.c - libFuzzer target for the queue file parser,
 * queue_msg_parse_mem() in queue/queue_msg.c.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: queue/queue_msg.c queue/queue_record.c queue/queue_id.c
 *
 * The input is a whole queue file.  Invariants checked, beyond "no
 * crash":
 *   - the answer is OK or CORRUPT (memory never fails to read); anything
 *     but OK appends one line of printable text to err and sets *msg_r
 *     to NULL; OK appends nothing;
 *   - parsing is deterministic, and passing the expected queue ID only
 *     ever turns an OK into CORRUPT when the ID differs;
 *   - on OK an independent walk of the records agrees with the answer:
 *     file_size is the input length, valid_size <= file_size is exactly
 *     where the first incomplete record after the end record starts,
 *     content_offset <= end_offset < valid_size are record starts of the
 *     right types, the content size and SHA-256 are the end record's,
 *     every envelope string is the payload of its record (so at most
 *     QUEUE_FIELD_MAX bytes and no NUL), recipients in order;
 *   - recipient states are in range and equal a replay of the result
 *     and flush records after the end, delay_warned_us the last valid
 *     W record's time; bad_records counts the rest;
 *   - cutting the torn tail (what recovery does) changes nothing but the
 *     sizes; truncating to any length never yields OK with a larger
 *     valid_size, and yields exactly the last whole record boundary;
 *   - appending a flush, a result, a delay-warning or a torn record to
 *     the valid prefix has exactly the documented effect.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "queue/queue_priv.h"

#define QID "65F0A1B2C3D4E5"
#define ERR_PREFIX "previous line\n"

/* ---- an independent record walker ---- */

struct rec {
	int type;
	size_t off;	/* of the header */
	size_t plen;
	const uint8_t *p;	/* payload */
	size_t end;	/* past the "\n" */
};

/* rec_at - the complete, terminated record at off; false if there is
 * none (bad or cut header, payload past the end, no "\n") */
static bool
rec_at(const uint8_t *d, size_t size, size_t off, struct rec *r)
{
	size_t i = off + 1, plen = 0;

	if (off >= size || !is_ascii_alpha(d[off]))
		return false;
	while (i < size && is_ascii_digit(d[i])) {
		if (i - off > 10)
			return false;
		plen = plen * 10 + (size_t)(d[i] - '0');
		i++;
	}
	if (i == off + 1 || i >= size || d[i] != ':' ||
	    (d[off + 1] == '0' && i > off + 2))
		return false;
	i++;
	if (plen >= size - i || d[i + plen] != '\n')
		return false;
	r->type = d[off];
	r->off = off;
	r->plen = plen;
	r->p = d + i;
	r->end = i + plen + 1;
	return true;
}

static bool
is_payload(const char *s, const struct rec *r)
{
	/* strlen == plen: the string holds no NUL and was not cut */
	return s != NULL && strlen(s) == r->plen &&
	    memcmp(s, r->p, r->plen) == 0;
}

static bool
same_str(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool
is_printable_line(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return false;
	return n > 0;
}

/* ---- comparing two answers ---- */

static bool
same_state(const struct queue_rcpt_state *a, const struct queue_rcpt_state *b)
{
	return a->status == b->status && a->attempts == b->attempts &&
	    a->last_try_us == b->last_try_us &&
	    a->next_try_us == b->next_try_us && same_str(a->dsn, b->dsn) &&
	    same_str(a->relay, b->relay) && same_str(a->text, b->text);
}

/* same_msg - equal but for valid_size and file_size */
static bool
same_msg(const struct queue_msg *a, const struct queue_msg *b)
{
	const struct queue_envelope *x = &a->env, *y = &b->env;

	if (strcmp(x->qid, y->qid) != 0 || x->arrival_us != y->arrival_us ||
	    !same_str(x->client_ip, y->client_ip) ||
	    !same_str(x->client_name, y->client_name) ||
	    !same_str(x->helo, y->helo) ||
	    !same_str(x->protocol, y->protocol) ||
	    !same_str(x->tls_info, y->tls_info) ||
	    !same_str(x->auth_user, y->auth_user) ||
	    !same_str(x->sender, y->sender) ||
	    !same_str(x->sender_params, y->sender_params) ||
	    x->nrcpt != y->nrcpt)
		return false;
	for (size_t i = 0; i < x->nrcpt; i++)
		if (!same_str(x->rcpts[i].addr, y->rcpts[i].addr) ||
		    !same_str(x->rcpts[i].params, y->rcpts[i].params) ||
		    !same_state(&a->state[i], &b->state[i]))
			return false;
	return a->content_size == b->content_size &&
	    a->delay_warned_us == b->delay_warned_us &&
	    memcmp(a->sha256, b->sha256, 32) == 0 &&
	    a->content_offset == b->content_offset &&
	    a->end_offset == b->end_offset &&
	    a->bad_records == b->bad_records;
}

/* parse - one call, with the contract on err and *msg_r checked */
static enum queue_load_res
parse(const uint8_t *d, size_t size, const char *qid, struct queue_msg **m)
{
	struct buf err = BUF_INIT(0);
	enum queue_load_res res;

	buf_add_str(&err, ERR_PREFIX);
	*m = (struct queue_msg *)(uintptr_t)1;	/* must be overwritten */
	res = queue_msg_parse_mem(d, size, qid, m, &err);
	ASSERT(res == QUEUE_LOAD_OK || res == QUEUE_LOAD_CORRUPT);
	ASSERT(err.len >= strlen(ERR_PREFIX) &&
	    memcmp(err.data, ERR_PREFIX, strlen(ERR_PREFIX)) == 0);
	if (res == QUEUE_LOAD_OK) {
		ASSERT(*m != NULL && *m != (struct queue_msg *)(uintptr_t)1);
		ASSERT(err.len == strlen(ERR_PREFIX));
		ASSERT((*m)->file_size == size);
	} else {
		ASSERT(*m == NULL);
		ASSERT(is_printable_line((const char *)err.data +
		    strlen(ERR_PREFIX), err.len - strlen(ERR_PREFIX)));
	}
	buf_free(&err);
	return res;
}

/* ---- the checks of an OK answer ---- */

static void
check_state_range(const struct queue_msg *m)
{
	for (size_t i = 0; i < m->env.nrcpt; i++) {
		const struct queue_rcpt_state *s = &m->state[i];

		ASSERT(s->dsn != NULL && s->relay != NULL && s->text != NULL);
		ASSERT(s->status == QUEUE_RCPT_PENDING ||
		    s->status == QUEUE_RCPT_DEFERRED ||
		    s->status == QUEUE_RCPT_SENT ||
		    s->status == QUEUE_RCPT_FAILED);
		ASSERT(strlen(s->text) <= QUEUE_RESULT_MAX);
		if (s->status == QUEUE_RCPT_PENDING) {
			/* no result yet: nothing but a flush touched it */
			ASSERT(s->attempts == 0 && s->last_try_us == 0 &&
			    s->next_try_us == 0);
			ASSERT(s->dsn[0] == '\0' && s->relay[0] == '\0' &&
			    s->text[0] == '\0');
			continue;
		}
		ASSERT(queue_dsn_is_valid(s->dsn, strlen(s->dsn)));
		ASSERT(s->relay[0] != '\0' && strchr(s->relay, ' ') == NULL);
		/* queue.h: texts are loaded with control characters removed */
		ASSERT(is_printable_line(s->text, strlen(s->text)) ||
		    s->text[0] == '\0');
	}
}

/*
 * check_walk - the records as the walker sees them agree with m; fills
 * bounds[] with the record ends from the end record on (bounds[0] is the
 * end of the end record) and returns how many
 */
static size_t
check_walk(const uint8_t *d, size_t size, const struct queue_msg *m,
    size_t *bounds, size_t bounds_max)
{
	static const struct {
		int type;
		size_t field;
	} single[] = {
		{ REC_CLIENT_IP, offsetof(struct queue_envelope, client_ip) },
		{ REC_CLIENT_NAME, offsetof(struct queue_envelope,
		    client_name) },
		{ REC_HELO, offsetof(struct queue_envelope, helo) },
		{ REC_PROTOCOL, offsetof(struct queue_envelope, protocol) },
		{ REC_TLS, offsetof(struct queue_envelope, tls_info) },
		{ REC_AUTH, offsetof(struct queue_envelope, auth_user) },
		{ REC_SENDER, offsetof(struct queue_envelope, sender) },
		{ REC_SENDER_PARAMS, offsetof(struct queue_envelope,
		    sender_params) },
	};
	const struct queue_envelope *env = &m->env;
	bool seen[ARRAY_SIZE(single)] = { false };
	struct queue_rcpt_state *replay;
	uint64_t content = 0, v, warned = 0;
	size_t off = 0, nrcpt = 0, nb = 0;
	unsigned bad = 0;
	int last = REC_VERSION;
	const uint8_t *sp;
	struct rec r;

	ASSERT(m->valid_size <= m->file_size && m->file_size == size);
	ASSERT(m->content_offset <= m->end_offset &&
	    m->end_offset < m->valid_size);
	ASSERT(env->nrcpt >= 1 && env->nrcpt <= QUEUE_RCPTS_MAX);
	ASSERT(env->rcpts != NULL && m->state != NULL);
	ASSERT(queue_id_is_valid(env->qid));

	/* the version record */
	ASSERT(rec_at(d, size, 0, &r) && r.type == REC_VERSION &&
	    r.plen == strlen(QUEUE_MAGIC) &&
	    memcmp(r.p, QUEUE_MAGIC, r.plen) == 0);
	off = r.end;
	/* the envelope, up to the first content or end record */
	while (off < m->content_offset) {
		ASSERT(rec_at(d, size, off, &r));
		ASSERT(r.end <= m->content_offset);
		ASSERT(r.plen <= QUEUE_FIELD_MAX);
		ASSERT(memchr(r.p, '\0', r.plen) == NULL);
		switch (r.type) {
		case REC_QID:
			ASSERT(r.plen == QUEUE_ID_LEN &&
			    memcmp(r.p, env->qid, QUEUE_ID_LEN) == 0);
			break;
		case REC_ARRIVAL:
			ASSERT(parse_u64((const char *)r.p, r.plen,
			    UINT64_MAX, &v) == 0 && v == env->arrival_us);
			break;
		case REC_RCPT:
			ASSERT(nrcpt < env->nrcpt);
			ASSERT(is_payload(env->rcpts[nrcpt].addr, &r));
			nrcpt++;
			/* without an r record right after it: "" */
			{
				struct rec nx;

				if (!rec_at(d, size, r.end, &nx) ||
				    nx.type != REC_RCPT_PARAMS)
					ASSERT(same_str(
					    env->rcpts[nrcpt - 1].params, ""));
			}
			break;
		case REC_RCPT_PARAMS:
			ASSERT(last == REC_RCPT);	/* right after its R */
			ASSERT(is_payload(env->rcpts[nrcpt - 1].params, &r));
			break;
		default: {
			size_t k;

			for (k = 0; k < ARRAY_SIZE(single); k++)
				if (single[k].type == r.type)
					break;
			ASSERT(k < ARRAY_SIZE(single) && !seen[k]);
			seen[k] = true;
			ASSERT(is_payload(*(const char *const *)(const void *)
			    ((const char *)env + single[k].field), &r));
			break;
		}
		}
		last = r.type;
		off = r.end;
	}
	ASSERT(off == m->content_offset);
	ASSERT(nrcpt == env->nrcpt);
	for (size_t k = 0; k < ARRAY_SIZE(single); k++) {
		ASSERT(seen[k] || single[k].type != REC_SENDER);
		if (!seen[k])
			ASSERT(same_str(*(const char *const *)(const void *)
			    ((const char *)env + single[k].field), ""));
	}
	/* the content: C records only */
	while (off < m->end_offset) {
		ASSERT(rec_at(d, size, off, &r) && r.type == REC_CONTENT);
		ASSERT(r.plen <= QUEUE_CHUNK_MAX);
		content += r.plen;
		off = r.end;
	}
	ASSERT(off == m->end_offset && content == m->content_size);
	/* the end record: "<size> <sha256, lowercase hex>" */
	ASSERT(rec_at(d, size, off, &r) && r.type == REC_END);
	sp = memchr(r.p, ' ', r.plen);
	ASSERT(sp != NULL && r.plen - (size_t)(sp - r.p) == 65);
	ASSERT(parse_u64((const char *)r.p, (size_t)(sp - r.p), UINT64_MAX,
	    &v) == 0 && v == m->content_size);
	for (int i = 0; i < 32; i++) {
		static const char hex[] = "0123456789abcdef";

		ASSERT(sp[1 + 2 * i] == hex[m->sha256[i] >> 4] &&
		    sp[2 + 2 * i] == hex[m->sha256[i] & 15]);
	}
	off = r.end;
	ASSERT(nb < bounds_max);
	bounds[nb++] = off;
	/* after it: whole records up to valid_size, then a torn one */
	replay = xcalloc(env->nrcpt, sizeof(*replay));
	for (size_t i = 0; i < env->nrcpt; i++) {
		replay[i].dsn = xstrdup("");
		replay[i].relay = xstrdup("");
		replay[i].text = xstrdup("");
	}
	while (off < m->valid_size) {
		ASSERT(rec_at(d, size, off, &r));
		if (r.type == REC_RESULT && r.plen <= QUEUE_RESULT_MAX) {
			if (queue_result_apply(r.p, r.plen, replay,
			    env->nrcpt) < 0)
				bad++;
		} else if (r.type == REC_FLUSH && r.plen <= 32) {
			for (size_t i = 0; i < env->nrcpt; i++)
				if (replay[i].status == QUEUE_RCPT_DEFERRED)
					replay[i].next_try_us = 0;
		} else if (r.type == REC_WARNED && r.plen <= 32 &&
		    parse_u64((const char *)r.p, r.plen, UINT64_MAX, &v) ==
		    0 && v != 0) {
			warned = v;
		} else {
			bad++;
		}
		off = r.end;
		ASSERT(nb < bounds_max);
		bounds[nb++] = off;
	}
	ASSERT(off == m->valid_size);
	ASSERT(off == size || !rec_at(d, size, off, &r));	/* torn tail */
	ASSERT(bad == m->bad_records);
	ASSERT(warned == m->delay_warned_us);
	for (size_t i = 0; i < env->nrcpt; i++) {
		ASSERT(same_state(&replay[i], &m->state[i]));
		free(replay[i].dsn);
		free(replay[i].relay);
		free(replay[i].text);
	}
	free(replay);
	return nb;
}

/* check_truncated - the prefix of length len: OK only from the end of the
 * end record on, valid_size the last whole record boundary <= len */
static void
check_truncated(const uint8_t *d, const struct queue_msg *m, size_t len,
    const size_t *bounds, size_t nb)
{
	struct queue_msg *t;
	enum queue_load_res res = parse(d, len, NULL, &t);
	size_t want = 0;

	if (len < bounds[0]) {
		ASSERT(res == QUEUE_LOAD_CORRUPT);
		return;
	}
	ASSERT(res == QUEUE_LOAD_OK);
	for (size_t i = 0; i < nb && bounds[i] <= len; i++)
		want = bounds[i];
	ASSERT(t->valid_size <= m->valid_size && t->valid_size <= len);
	ASSERT(t->valid_size == want);
	if (len >= m->valid_size)
		ASSERT(t->valid_size == m->valid_size && same_msg(t, m));
	queue_msg_free(&t);
}

/* check_append - rec appended to the valid prefix */
static void
check_append(const uint8_t *d, const struct queue_msg *m, const char *rec,
    size_t rlen, bool torn)
{
	size_t vs = (size_t)m->valid_size;
	uint8_t *img = xmalloc(vs + rlen);
	struct queue_msg *a;

	memcpy(img, d, vs);
	memcpy(img + vs, rec, rlen);
	ASSERT(parse(img, vs + rlen, NULL, &a) == QUEUE_LOAD_OK);
	ASSERT(a->valid_size == (torn ? vs : vs + rlen));
	ASSERT(a->content_offset == m->content_offset &&
	    a->end_offset == m->end_offset &&
	    a->bad_records == m->bad_records);
	if (torn) {
		ASSERT(same_msg(a, m));
	} else if (rec[0] == REC_WARNED) {
		/* "W3:456": sent then; the recipients do not change */
		ASSERT(a->delay_warned_us == 456);
		for (size_t i = 0; i < m->env.nrcpt; i++)
			ASSERT(same_state(&m->state[i], &a->state[i]));
	} else if (rec[0] == REC_FLUSH) {
		/* deferred recipients are due now, nothing else changes */
		for (size_t i = 0; i < m->env.nrcpt; i++) {
			struct queue_rcpt_state s = m->state[i];

			if (s.status == QUEUE_RCPT_DEFERRED)
				s.next_try_us = 0;
			ASSERT(same_state(&s, &a->state[i]));
		}
	} else {
		/* "D..:0 sent 3 100 0 2.0.0 relay.example ok": rcpt 0 */
		const struct queue_rcpt_state *s = &a->state[0];

		ASSERT(s->status == QUEUE_RCPT_SENT && s->attempts == 3 &&
		    s->last_try_us == 100 && s->next_try_us == 0);
		ASSERT(same_str(s->dsn, "2.0.0") &&
		    same_str(s->relay, "relay.example") &&
		    same_str(s->text, "all ok"));
		for (size_t i = 1; i < m->env.nrcpt; i++)
			ASSERT(same_state(&m->state[i], &a->state[i]));
	}
	queue_msg_free(&a);
	free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char flush[] = "F3:123\n";
	static const char result[] = "D41:0 sent 3 100 0 2.0.0 relay.example "
	    "all ok\n";
	static const char torn[] = "D41:0 sent 3 100";
	static const char warned[] = "W3:456\n";
	struct queue_msg *m, *again, *withqid;
	enum queue_load_res res, res2, res3;
	size_t *bounds, nb, cuts[10], ncut = 0;
	uint32_t h = 2166136261u;

	res = parse(data, size, NULL, &m);
	res2 = parse(data, size, NULL, &again);
	ASSERT(res == res2);
	res3 = parse(data, size, QID, &withqid);
	if (res != QUEUE_LOAD_OK) {
		ASSERT(res3 != QUEUE_LOAD_OK);
		return 0;
	}
	ASSERT(same_msg(m, again) && m->valid_size == again->valid_size);
	if (strcmp(m->env.qid, QID) == 0)
		ASSERT(res3 == QUEUE_LOAD_OK && same_msg(m, withqid) &&
		    withqid->valid_size == m->valid_size);
	else
		ASSERT(res3 == QUEUE_LOAD_CORRUPT);
	queue_msg_free(&again);
	queue_msg_free(&withqid);

	check_state_range(m);
	/* every record is at least 4 bytes ("F0:\n") */
	bounds = xcalloc(size / 4 + 1, sizeof(*bounds));
	nb = check_walk(data, size, m, bounds, size / 4 + 1);

	/* truncations: around the end record, the valid size, the end, and
	 * a few positions picked by a hash of the input */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	cuts[ncut++] = bounds[0] - 1;
	cuts[ncut++] = bounds[0];
	cuts[ncut++] = (size_t)m->valid_size;
	cuts[ncut++] = (size_t)m->valid_size - 1;
	cuts[ncut++] = size - 1;
	cuts[ncut++] = (size_t)m->end_offset;
	for (int k = 0; k < 4; k++) {
		cuts[ncut++] = h % size;
		h = h * 1103515245u + 12345u;
	}
	for (size_t i = 0; i < ncut; i++)
		check_truncated(data, m, cuts[i], bounds, nb);

	check_append(data, m, flush, sizeof(flush) - 1, false);
	check_append(data, m, result, sizeof(result) - 1, false);
	check_append(data, m, torn, sizeof(torn) - 1, true);
	check_append(data, m, warned, sizeof(warned) - 1, false);
	free(bounds);
	queue_msg_free(&m);
	return 0;
}
