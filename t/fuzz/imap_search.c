/*
 * imap_search.c - libFuzzer target for THREAD and SORT
 * (imap-jmap/imap_sortthread.h) over a handful of messages whose
 * Message-ID, In-Reply-To, References, Subject and Date come from the
 * input and go through store/mime.h's mime_parse.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: store/mime.c store/mime_addr.c store/mime_codec.c
 * fuzz-sources: store/mime_fields.c store/mime_html.c store/mime_imap.c
 * fuzz-sources: store/mime_jmap.c store/mime_layout.c store/mime_prescan.c
 * fuzz-sources: store/mime_text.c store/mime_simple.c common/subject.c
 * fuzz-sources: imap-jmap/imap_sort.c imap-jmap/imap_thread.c
 *
 * Input: byte 0 picks the number of messages (1..8) and the sort keys,
 * byte 1 which messages take part; then per message a flags byte (which
 * fields exist, whether References is raw text), a Message-ID and an
 * In-Reply-To from a pool of 12 ids (so duplicates, loops and
 * self-references are common), a References list (ids from the pool, or
 * raw bytes), a subject (raw bytes), a Date minute and a size.  Missing
 * input reads as zeros.  Invariants checked, beyond "no crash":
 *   - THREAD REFERENCES and ORDEREDSUBJECT terminate (libFuzzer's
 *     timeout catches a loop), and their answers are well-formed RFC 5256
 *     thread lists ("(" members [nested] ")", nested = two or more
 *     lists) in which every message taking part appears exactly once;
 *   - the answers are the same when the fields are loaded lazily (with
 *     release) as when they are there from the start;
 *   - SORT returns a permutation of its input, ordered by its first key
 *     (checked independently for SIZE, ARRIVAL, DATE and SUBJECT), with
 *     the arrays moved together.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "imap-jmap/imap_sortthread.h"
#include "store/mime.h"

#define MAXMSG 8

struct rd {
	const uint8_t *p;
	size_t n;
};

static uint8_t
get(struct rd *r)
{
	uint8_t c;

	if (r->n == 0)
		return 0;
	c = *r->p++;
	r->n--;
	return c;
}

/* text - len bytes as header text: no CR, LF or NUL */
static void
text(struct buf *h, struct rd *r, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t c = get(r);

		if (c == '\r' || c == '\n' || c == '\0')
			c = ' ';
		buf_add(h, &c, 1);
	}
}

struct box {
	size_t n;
	struct buf raw[MAXMSG];
	struct mime_info *info[MAXMSG];
	struct imap_search_msg msgs[MAXMSG];
	int64_t internal[MAXMSG];
	uint64_t size[MAXMSG];
	unsigned loads, releases;
};

static int
lazy_load(void *ctx, struct imap_search_msg *m, unsigned need,
    struct buf *err)
{
	struct box *b = ctx;
	size_t i = (size_t)(m - b->msgs);

	(void)err;
	ASSERT(i < b->n && (need & m->loaded) == 0);
	b->loads++;
	if ((need & IMAP_SEARCH_NEED_HDR) != 0)
		m->hdr = &b->info[i]->hdr;
	if ((need & IMAP_SEARCH_NEED_EMAIL) != 0) {
		m->internal_date = b->internal[i];
		m->size = b->size[i];
	}
	return 0;
}

static void
lazy_release(void *ctx, struct imap_search_msg *m)
{
	struct box *b = ctx;

	b->releases++;
	m->hdr = NULL;
	m->internal_date = -1;
	m->size = 0;
}

static void
env_of(struct box *b, struct imap_search_env *env, bool lazy)
{
	for (size_t i = 0; i < b->n; i++) {
		struct imap_search_msg *m = &b->msgs[i];

		memset(m, 0, sizeof(*m));
		m->uid = (uint32_t)(3 * i + 1);
		m->email = (uint32_t)i + 1;
		m->keywords = "";
		if (!lazy) {
			m->hdr = &b->info[i]->hdr;
			m->internal_date = b->internal[i];
			m->size = b->size[i];
			m->loaded = IMAP_SEARCH_NEED_HDR |
			    IMAP_SEARCH_NEED_EMAIL;
		}
	}
	*env = (struct imap_search_env){ .msgs = b->msgs, .n = b->n,
	    .load = lazy ? lazy_load : NULL,
	    .release = lazy ? lazy_release : NULL, .ctx = b };
}

static void
result_of(struct box *b, uint8_t mask, struct imap_search_result *res)
{
	memset(res, 0, sizeof(*res));
	res->idx = calloc(MAXMSG, sizeof(uint32_t));
	res->seq = calloc(MAXMSG, sizeof(uint32_t));
	res->uid = calloc(MAXMSG, sizeof(uint32_t));
	res->modseq = calloc(MAXMSG, sizeof(uint64_t));
	res->has_modseq = true;
	for (size_t i = 0; i < b->n; i++) {
		if ((mask & (1u << i)) == 0)
			continue;
		res->idx[res->n] = (uint32_t)i;
		res->seq[res->n] = (uint32_t)i + 1;
		res->uid[res->n] = (uint32_t)(3 * i + 1);
		res->modseq[res->n] = 100 + i;
		res->n++;
	}
}

/* result_free - imap_search_eval.c is not linked here */
static void
result_free(struct imap_search_result *res)
{
	free(res->idx);
	free(res->seq);
	free(res->uid);
	free(res->modseq);
	memset(res, 0, sizeof(*res));
}

/* ---- a checker for the THREAD answer (RFC 5256 4) ---- */

struct tp {
	const char *s;
	size_t i, len;
	unsigned seen[MAXMSG + 1];
	size_t count;
	bool uid;
};

static bool thread_list(struct tp *p, unsigned depth);

static bool
number(struct tp *p)
{
	unsigned v = 0;
	size_t start = p->i;

	while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9')
		v = v * 10 + (unsigned)(p->s[p->i++] - '0');
	if (p->i == start || p->s[start] == '0')
		return false;
	if (p->uid) {
		if (v % 3 != 1)
			return false;
		v = v / 3 + 1;
	}
	if (v == 0 || v > MAXMSG || p->seen[v]++ != 0)
		return false;
	p->count++;
	return true;
}

/* nested - 2*thread-list */
static bool
nested(struct tp *p, unsigned depth)
{
	unsigned k = 0;

	while (p->i < p->len && p->s[p->i] == '(') {
		if (!thread_list(p, depth + 1))
			return false;
		k++;
	}
	return k >= 2;
}

/* thread_list - "(" (members [SP nested] / nested) ")" */
static bool
thread_list(struct tp *p, unsigned depth)
{
	if (depth > 2 * MAXMSG || p->i >= p->len || p->s[p->i++] != '(')
		return false;
	if (p->i < p->len && p->s[p->i] == '(') {
		if (!nested(p, depth))
			return false;
	} else {
		if (!number(p))
			return false;
		while (p->i < p->len && p->s[p->i] == ' ') {
			p->i++;
			if (p->i < p->len && p->s[p->i] == '(') {
				if (!nested(p, depth))
					return false;
				break;
			}
			if (!number(p))
				return false;
		}
	}
	return p->i < p->len && p->s[p->i++] == ')';
}

static void
check_thread(const struct buf *out, size_t n, bool uid)
{
	struct tp p = { (const char *)out->data, 0, out->len, { 0 }, 0, uid };
	const char *head = "* THREAD";

	ASSERT(out->len >= 10 && memcmp(out->data, head, 8) == 0);
	ASSERT(memcmp(out->data + out->len - 2, "\r\n", 2) == 0);
	p.len -= 2;
	p.i = 8;
	if (n == 0) {
		ASSERT(p.i == p.len);
		return;
	}
	ASSERT(p.s[p.i++] == ' ');
	while (p.i < p.len)
		if (!thread_list(&p, 0))
			PANIC("bad THREAD answer: %s", buf_cstr(out));
	ASSERT(p.count == n);
}

static void
run_thread(struct box *b, enum imap_thread_alg alg, uint8_t mask,
    bool uid, struct buf *out)
{
	struct imap_search_env env;
	struct imap_search_result res;
	struct imap_thread *t;
	struct buf err = BUF_INIT(0), lazy = BUF_INIT(0);

	env_of(b, &env, false);
	result_of(b, mask, &res);
	buf_reset(out);
	ASSERT(imap_thread_run(&env, alg, &res, &t, &err) == 0);
	imap_thread_write(out, t, uid);
	imap_thread_free(&t);
	check_thread(out, res.n, uid);

	env_of(b, &env, true);
	b->loads = b->releases = 0;
	ASSERT(imap_thread_run(&env, alg, &res, &t, &err) == 0);
	imap_thread_write(&lazy, t, uid);
	imap_thread_free(&t);
	ASSERT(lazy.len == out->len && memcmp(lazy.data, out->data,
	    out->len) == 0);
	ASSERT(b->releases == res.n);
	for (size_t i = 0; i < b->n; i++)
		ASSERT(b->msgs[i].loaded == 0);
	result_free(&res);
	buf_free(&lazy);
	buf_free(&err);
}

/* ---- SORT ---- */

static int64_t
sent(const struct box *b, size_t i)
{
	const struct mime_headers *h = &b->info[i]->hdr;

	return h->has_date ? h->date : b->internal[i];
}

static void
run_sort(struct box *b, uint8_t sel, uint8_t mask)
{
	static const enum imap_sort_key keys[] = { IMAP_SORT_ARRIVAL,
		IMAP_SORT_CC, IMAP_SORT_DATE, IMAP_SORT_FROM, IMAP_SORT_SIZE,
		IMAP_SORT_SUBJECT, IMAP_SORT_TO, IMAP_SORT_DISPLAYFROM,
		IMAP_SORT_DISPLAYTO };
	struct imap_sort_crit crit[3];
	size_t ncrit = 1 + sel % 3;
	struct imap_search_env env;
	struct imap_search_result res;
	struct buf err = BUF_INIT(0);
	bool used[MAXMSG] = { false };

	for (size_t c = 0; c < ncrit; c++) {
		crit[c].key = keys[(sel / 3 + 5 * c) % ARRAY_SIZE(keys)];
		crit[c].reverse = ((sel >> (5 + c)) & 1) != 0;
	}
	env_of(b, &env, (sel & 0x80) != 0);
	result_of(b, mask, &res);
	ASSERT(imap_sort_run(&env, crit, ncrit, &res, &err) == 0);
	ASSERT(res.sorted);
	for (size_t k = 0; k < res.n; k++) {
		uint32_t i = res.idx[k];

		ASSERT(i < b->n && (mask & (1u << i)) != 0 && !used[i]);
		used[i] = true;
		ASSERT(res.seq[k] == i + 1 && res.uid[k] == 3 * i + 1 &&
		    res.modseq[k] == 100 + i);
		if (k == 0)
			continue;
		{
			uint32_t j = res.idx[k - 1];
			int c = 0;
			const char *sa, *sb;

			switch (crit[0].key) {
			case IMAP_SORT_SIZE:
				c = b->size[j] < b->size[i] ? -1 :
				    b->size[j] > b->size[i];
				break;
			case IMAP_SORT_ARRIVAL:
				c = b->internal[j] < b->internal[i] ? -1 :
				    b->internal[j] > b->internal[i];
				break;
			case IMAP_SORT_DATE:
				c = sent(b, j) < sent(b, i) ? -1 :
				    sent(b, j) > sent(b, i);
				break;
			case IMAP_SORT_SUBJECT:
				sa = b->info[j]->hdr.base_subject;
				sb = b->info[i]->hdr.base_subject;
				c = imap_sort_casemap_cmp(sa, strlen(sa), sb,
				    strlen(sb));
				break;
			default:
				break;
			}
			ASSERT(crit[0].reverse ? c >= 0 : c <= 0);
		}
	}
	for (size_t i = 0; i < b->n; i++)
		ASSERT(b->msgs[i].loaded == ((sel & 0x80) != 0 ? 0 :
		    (IMAP_SEARCH_NEED_HDR | IMAP_SEARCH_NEED_EMAIL)));
	result_free(&res);
	buf_free(&err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rd r = { data, size };
	struct box b;
	struct buf err = BUF_INIT(0), h = BUF_INIT(0), out = BUF_INIT(0);
	uint8_t b0 = get(&r), mask = get(&r);

	memset(&b, 0, sizeof(b));
	b.n = 1 + b0 % MAXMSG;
	for (size_t i = 0; i < b.n; i++) {
		uint8_t f = get(&r), mid = get(&r) % 12, irt = get(&r) % 12;
		size_t nref = get(&r) % 10, slen = get(&r) % 48;

		buf_reset(&h);
		if (f & 1)
			buf_addf(&h, "Message-ID: <m%u@f>\r\n", mid);
		if (f & 2)
			buf_addf(&h, "In-Reply-To: <m%u@f>\r\n", irt);
		if (f & 4) {
			buf_add_str(&h, "References:");
			if (f & 8) {
				buf_add_str(&h, " ");
				text(&h, &r, nref * 4);
			} else {
				for (size_t k = 0; k < nref; k++)
					buf_addf(&h, " <m%u@f>",
					    get(&r) % 12);
			}
			buf_add_str(&h, "\r\n");
		}
		if (f & 16) {
			buf_add_str(&h, "Subject: ");
			text(&h, &r, slen);
			buf_add_str(&h, "\r\n");
		}
		if (f & 32) {
			uint8_t m = get(&r);

			buf_addf(&h, "Date: Mon, 1 Jan 2024 %02u:%02u:00 %s\r\n",
			    m / 60u % 24u, m % 60u, f & 64 ? "+0130" : "-0000");
		}
		b.internal[i] = 1704067200 + 60 * (int64_t)get(&r);
		b.size[i] = get(&r);
		buf_add_str(&h, "\r\nx\r\n");
		buf_init(&b.raw[i], 0);
		buf_add(&b.raw[i], h.data, h.len);
		if (mime_parse(b.raw[i].data, b.raw[i].len, NULL, &b.info[i],
		    &err) < 0)
			PANIC("mime_parse: %s", buf_cstr(&err));
	}
	run_thread(&b, IMAP_THREAD_REFERENCES, mask, (b0 & 8) != 0, &out);
	run_thread(&b, IMAP_THREAD_ORDEREDSUBJECT, mask, (b0 & 16) != 0, &out);
	run_sort(&b, (uint8_t)(b0 ^ mask), mask);
	run_sort(&b, (uint8_t)~b0, 0xff);
	for (size_t i = 0; i < b.n; i++) {
		mime_info_free(&b.info[i]);
		buf_free(&b.raw[i]);
	}
	buf_free(&h);
	buf_free(&out);
	buf_free(&err);
	return 0;
}
