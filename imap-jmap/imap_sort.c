/*
 * imap_sort.c - SORT (RFC 5256 3, ESORT's order RFC 5267, SORT=DISPLAY
 * RFC 5957) and the i;ascii-casemap collation (RFC 4790 9.2).
 *
 * Each message's keys are taken once (one load and release per message,
 * strings casemapped and copied into one buffer), then the positions are
 * sorted with qsort_r: O(n log n) comparisons of ready keys, the last
 * tie broken by MSN so the order is total and the answer deterministic.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_sortthread.h"

/* ---- i;ascii-casemap ---- */

static int
casemap(int c)
{
	return c >= 'a' && c <= 'z' ? c - ('a' - 'A') : c;
}

int
imap_sort_casemap_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++) {
		int x = casemap((unsigned char)a[i]);
		int y = casemap((unsigned char)b[i]);

		if (x != y)
			return x - y;
	}
	return alen < blen ? -1 : alen > blen;
}

/* ---- keys ---- */

struct skey {
	int64_t num;		/* dates, sizes (sizes fit: < 2^63) */
	size_t off, len;	/* strings: casemapped, in the key buffer */
};

struct sorter {
	const struct imap_sort_crit *crit;
	size_t ncrit;
	const struct skey *keys;	/* n * ncrit */
	const unsigned char *str;	/* the key buffer */
	const uint32_t *seq;
};

static bool
is_string_key(enum imap_sort_key k)
{
	return k != IMAP_SORT_ARRIVAL && k != IMAP_SORT_DATE &&
	    k != IMAP_SORT_SIZE;
}

/* first_mailbox - the first address of l that is a mailbox, or NULL */
static const struct mime_addr *
first_mailbox(const struct mime_addr_list *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (l->v[i].kind == MIME_ADDR_MAILBOX)
			return &l->v[i];
	return NULL;
}

/* map_from - casemap the key buffer from off on: k's string */
static void
map_from(struct buf *b, struct skey *k, size_t off)
{
	k->off = off;
	k->len = b->len - off;
	for (size_t i = off; i < b->len; i++)
		b->data[i] = (unsigned char)casemap(b->data[i]);
}

static void
string_key(struct buf *b, struct skey *k, enum imap_sort_key key,
    const struct mime_headers *h)
{
	const struct mime_addr *a = NULL;
	size_t off = b->len;
	bool display = key == IMAP_SORT_DISPLAYFROM ||
	    key == IMAP_SORT_DISPLAYTO;

	k->off = off;
	k->len = 0;
	if (h == NULL)
		return;
	switch (key) {
	case IMAP_SORT_SUBJECT:
		if (h->base_subject != NULL)
			buf_add_str(b, h->base_subject);
		map_from(b, k, off);
		return;
	case IMAP_SORT_FROM:
	case IMAP_SORT_DISPLAYFROM:
		a = first_mailbox(&h->from);
		break;
	case IMAP_SORT_TO:
	case IMAP_SORT_DISPLAYTO:
		a = first_mailbox(&h->to);
		break;
	default:	/* CC */
		a = first_mailbox(&h->cc);
		break;
	}
	if (a == NULL)
		return;
	if (display && a->name != NULL && a->name[0] != '\0')
		buf_add_str(b, a->name);
	else if (display)	/* RFC 5957: no display name, the addr-spec */
		buf_addf(b, "%s@%s", a->local, a->domain);
	else
		buf_add_str(b, a->local);
	map_from(b, k, off);
}

static int
load(struct imap_search_env *env, struct imap_search_msg *m, unsigned bits,
    struct buf *err)
{
	unsigned miss = bits & ~m->loaded;

	if (miss == 0)
		return 0;
	if (env->load == NULL)
		PANIC("imap_sort: fields 0x%x not loaded and no load()", miss);
	if (env->load(env->ctx, m, miss, err) < 0) {
		if (err->len == 0)
			buf_add_str(err, "cannot load the message");
		return -1;
	}
	m->loaded |= miss;
	return 0;
}

/* keys_of - the keys of message m for every criterion */
static int
keys_of(struct imap_search_env *env, struct imap_search_msg *m,
    const struct imap_sort_crit *crit, size_t ncrit, struct skey *k,
    struct buf *str, struct buf *err)
{
	for (size_t c = 0; c < ncrit; c++) {
		enum imap_sort_key key = crit[c].key;

		memset(&k[c], 0, sizeof(k[c]));
		if (is_string_key(key)) {
			if (load(env, m, IMAP_SEARCH_NEED_HDR, err) < 0)
				return -1;
			string_key(str, &k[c], key, m->hdr);
			continue;
		}
		if (key == IMAP_SORT_DATE) {
			if (load(env, m, IMAP_SEARCH_NEED_HDR, err) < 0)
				return -1;
			if (m->hdr != NULL && m->hdr->has_date) {
				k[c].num = m->hdr->date;
				continue;
			}
		}
		if (load(env, m, IMAP_SEARCH_NEED_EMAIL, err) < 0)
			return -1;
		if (key == IMAP_SORT_SIZE)
			k[c].num = m->size > INT64_MAX ? INT64_MAX :
			    (int64_t)m->size;
		else
			k[c].num = m->internal_date;
	}
	return 0;
}

static int
cmp_pos(const void *a, const void *b, void *arg)
{
	const struct sorter *s = arg;
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	for (size_t c = 0; c < s->ncrit; c++) {
		const struct skey *kx = &s->keys[x * s->ncrit + c];
		const struct skey *ky = &s->keys[y * s->ncrit + c];
		int r;

		if (is_string_key(s->crit[c].key)) {
			size_t n = kx->len < ky->len ? kx->len : ky->len;

			r = n == 0 ? 0 : memcmp(s->str + kx->off,
			    s->str + ky->off, n);
			if (r == 0)
				r = kx->len < ky->len ? -1 : kx->len > ky->len;
		} else {
			r = kx->num < ky->num ? -1 : kx->num > ky->num;
		}
		if (r != 0)
			return s->crit[c].reverse ? -r : r;
	}
	return s->seq[x] < s->seq[y] ? -1 : s->seq[x] > s->seq[y];
}

/* permute - a[i] = old a[pos[i]] for one of res's arrays */
static void
permute(void *a, size_t size, const size_t *pos, size_t n)
{
	unsigned char *old;

	if (a == NULL || n == 0)
		return;
	old = xreallocarray(NULL, n, size);
	memcpy(old, a, n * size);
	for (size_t i = 0; i < n; i++)
		memcpy((unsigned char *)a + i * size, old + pos[i] * size,
		    size);
	free(old);
}

int
imap_sort_run(struct imap_search_env *env, const struct imap_sort_crit *crit,
    size_t ncrit, struct imap_search_result *res, struct buf *err)
{
	struct buf str = BUF_INIT(0);
	struct skey *keys = NULL;
	size_t *pos = NULL;
	struct sorter s;
	int rc = 0;

	ASSERT(ncrit > 0);
	if (res->n > 0) {
		keys = xreallocarray(NULL, res->n,
		    ncrit * sizeof(*keys));
		pos = xreallocarray(NULL, res->n, sizeof(*pos));
	}
	for (size_t i = 0; i < res->n && rc == 0; i++) {
		struct imap_search_msg *m = &env->msgs[res->idx[i]];
		unsigned had = m->loaded;

		pos[i] = i;
		rc = keys_of(env, m, crit, ncrit, &keys[i * ncrit], &str, err);
		if (m->loaded != had && env->release != NULL) {
			env->release(env->ctx, m);
			m->loaded = had;
		}
	}
	if (rc == 0) {
		s = (struct sorter){ crit, ncrit, keys, str.data, res->seq };
		if (res->n > 1)
			qsort_r(pos, res->n, sizeof(*pos), cmp_pos, &s);
		permute(res->idx, sizeof(*res->idx), pos, res->n);
		permute(res->seq, sizeof(*res->seq), pos, res->n);
		permute(res->uid, sizeof(*res->uid), pos, res->n);
		if (res->has_modseq)
			permute(res->modseq, sizeof(*res->modseq), pos,
			    res->n);
		res->sorted = true;
	}
	free(keys);
	free(pos);
	buf_free(&str);
	return rc;
}
