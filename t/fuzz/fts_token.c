/*
 * fts_token.c - libFuzzer target for the full-text tokenizer and stemmer
 * (store/fts_token.c).
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: store/fts_token.c
 *
 * The input is any bytes of document or query text.  Invariants checked,
 * beyond "no crash": every token is 1..FTS_TOKEN_MAX bytes of valid UTF-8
 * with no NUL and a NUL after it; there are no more tokens than input
 * bytes, and never more than the limit asked for; tokenizing is
 * deterministic and a lower limit gives a prefix of the same list;
 * folding is idempotent (a token tokenizes to itself, an address to its
 * words and then itself); a stem is 1..FTS_TOKEN_MAX bytes of valid
 * UTF-8.  The first input byte also picks a token limit.
 */
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "store/fts.h"

static struct fts_stemmer *g_stem;

/* is_utf8 - strict: no overlongs, surrogates or values past U+10FFFF */
static bool
is_utf8(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned char c = p[i];
		size_t n = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 :
		    c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
		unsigned char lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
		unsigned char hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;

		if (n == 0 || n > len - i)
			return false;
		for (size_t k = 1; k < n; k++)
			if (p[i + k] < (k == 1 ? lo : 0x80) ||
			    p[i + k] > (k == 1 ? hi : 0xBF))
				return false;
		i += n;
	}
	return true;
}

struct check {
	size_t n;
};

static int
check_token(void *ctx, const char *tok, size_t len)
{
	struct check *c = ctx;

	c->n++;
	ASSERT(len >= 1 && len <= FTS_TOKEN_MAX);
	ASSERT(tok[len] == '\0' && memchr(tok, '\0', len) == NULL);
	ASSERT(is_utf8((const unsigned char *)tok, len));
	return 0;
}

/*
 * retokenize - tok's own tokens are itself, or for an address its words
 * and then itself
 */
static void
retokenize(const char *tok, size_t len, struct buf *scratch)
{
	size_t n, off = 0;
	const char *last = NULL;

	buf_reset(scratch);
	n = fts_token_list(tok, len, FTS_TOKEN_MAX, scratch);
	ASSERT(n >= 1 && n <= len);
	for (size_t i = 0; i < n; i++) {
		last = (const char *)scratch->data + off;
		off += strlen(last) + 1;
	}
	ASSERT(strlen(last) == len && memcmp(last, tok, len) == 0);
	ASSERT(n == 1 || memchr(tok, '@', len) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a = BUF_INIT(0), b = BUF_INIT(0), scratch = BUF_INIT(0);
	struct buf stem = BUF_INIT(0), err = BUF_INIT(0);
	struct check c = { 0 };
	size_t max = size > 0 ? 1 + data[0] % 32 : 1, na, nb, off = 0;

	if (g_stem == NULL && fts_stemmer_new("english", &g_stem, &err) < 0)
		PANIC("%s", buf_cstr(&err));

	/* unlimited: count and per-token checks */
	na = fts_tokenize(data, size, SIZE_MAX, check_token, &c);
	ASSERT(na == c.n && na <= size);

	/* deterministic, and a limit gives a prefix of the same list */
	na = fts_token_list(data, size, SIZE_MAX - 1, &a);
	nb = fts_token_list(data, size, SIZE_MAX - 1, &b);
	ASSERT(na == c.n && nb == na && a.len == b.len);
	ASSERT(a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
	buf_reset(&b);
	nb = fts_token_list(data, size, max, &b);
	ASSERT(nb == (na > max ? max + 1 : na));
	ASSERT(b.len <= a.len);
	ASSERT(b.len == 0 || memcmp(a.data, b.data, b.len) == 0);

	for (size_t i = 0; i < na; i++) {
		const char *tok = (const char *)a.data + off;
		size_t len = strlen(tok);

		retokenize(tok, len, &scratch);
		fts_stem(g_stem, tok, len, &stem);
		ASSERT(stem.len >= 1 && stem.len <= FTS_TOKEN_MAX);
		ASSERT(is_utf8(stem.data, stem.len));
		off += len + 1;
	}
	ASSERT(off == a.len);
	buf_free(&a);
	buf_free(&b);
	buf_free(&scratch);
	buf_free(&stem);
	buf_free(&err);
	return 0;
}
