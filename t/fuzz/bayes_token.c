/*
 * bayes_token.c - libFuzzer target for the Bayes tokenizer
 * (filters/bayes_token.c).
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: filters/bayes_token.c
 *
 * The input is a message (header and body, any line ends); when the
 * first byte is odd, the bytes after the first NUL are given as the
 * text as well.  Invariants checked, beyond "no crash": at most
 * BAYES_TOKENS_MAX tokens, each 1..BAYES_TOKEN_TEXT_MAX bytes with a
 * NUL after it and none inside, no two alike, each hash the start of
 * SHA-256 of the text; tokenizing again into the used struct gives the
 * same tokens and the same message identity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/buf.h"
#include "common/common.h"
#include "filters/bayes.h"

static const struct bayes_tokens *g_t;

static int
cmp(const void *a, const void *b)
{
	const struct bayes_token *x = &g_t->v[*(const size_t *)a];
	const struct bayes_token *y = &g_t->v[*(const size_t *)b];
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(g_t->text.data + x->off, g_t->text.data + y->off, n);

	return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static void
check(const struct bayes_tokens *t)
{
	size_t *ix = calloc(t->n + 1, sizeof(*ix));

	ASSERT(ix != NULL);
	ASSERT(t->n <= BAYES_TOKENS_MAX);
	for (size_t i = 0; i < t->n; i++) {
		const struct bayes_token *k = &t->v[i];
		const char *s = bayes_token_text(t, i);
		unsigned char md[32];
		unsigned int mdlen = 0;

		ASSERT(k->len >= 1 && k->len <= BAYES_TOKEN_TEXT_MAX);
		ASSERT(k->off + k->len < t->text.len);
		ASSERT(s[k->len] == '\0' && memchr(s, '\0', k->len) == NULL);
		ASSERT(EVP_Digest(s, k->len, md, &mdlen, EVP_sha256(), NULL) ==
		    1 && mdlen == 32);
		ASSERT(memcmp(md, k->hash, BAYES_HASH_LEN) == 0);
		ix[i] = i;
	}
	g_t = t;
	qsort(ix, t->n, sizeof(*ix), cmp);
	for (size_t i = 1; i < t->n; i++)
		ASSERT(cmp(&ix[i - 1], &ix[i]) != 0);
	free(ix);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bayes_tokens t, u;
	const char *text = NULL;
	size_t len = size, tlen = 0;

	memset(&t, 0, sizeof(t));
	memset(&u, 0, sizeof(u));
	if (size > 0 && (data[0] & 1)) {
		const uint8_t *nul = memchr(data, '\0', size);

		if (nul != NULL) {
			len = (size_t)(nul - data);
			text = (const char *)nul + 1;
			tlen = size - len - 1;
		}
	}
	bayes_tokenize(&t, data, len, text, tlen);
	check(&t);
	/* again, into a used struct and a fresh one: the same result */
	bayes_tokenize(&u, (const uint8_t *)"x: y\r\n\r\nwarm up\r\n", 18,
	    NULL, 0);
	bayes_tokenize(&u, data, len, text, tlen);
	ASSERT(u.n == t.n && u.truncated == t.truncated);
	ASSERT(memcmp(u.id, t.id, sizeof(t.id)) == 0);
	for (size_t i = 0; i < t.n; i++)
		ASSERT(memcmp(u.v[i].hash, t.v[i].hash, BAYES_HASH_LEN) == 0);
	bayes_tokens_free(&t);
	bayes_tokens_free(&u);
	return 0;
}
