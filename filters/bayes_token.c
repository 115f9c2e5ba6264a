/*
 * bayes_token.c - the Bayes tokenizer (bayes.h says which tokens): a
 * bounded, allocation-light pass over the header, the text and the raw
 * body, deduplicating tokens as it goes, and the message's identity for
 * the learned-markers.
 *
 * Invariants: every byte read is inside msg[0..len) or text[0..text_len);
 * at most BAYES_TOKENS_MAX tokens are kept, each text at most
 * BAYES_TOKEN_TEXT_MAX bytes; duplicates are found by an FNV-1a hash of
 * the text and a compare, and only a new token costs a SHA-256.  No
 * parsing decision depends on the peer's line ends: CRLF and LF are
 * both line breaks, a lone CR is white space.
 *
 * Header values are not RFC 2047-decoded here (filters/ has no MIME
 * code): an encoded Subject gives raw tokens, and its decoded words come
 * with the text, which starts with the decoded Subject when the caller's
 * text function puts it there (cli/cli_filters.c's message_text does).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/xalloc.h"
#include "filters/bayes.h"
#include "filters/filters_priv.h"

#define SLOTS 8192u			/* a power of two, > 2 * TOKENS_MAX */
_Static_assert(SLOTS > 2 * BAYES_TOKENS_MAX, "dedup table too small");
#define NAME_MAX_LEN 64u

/* fields whose names are noise: the path adds them, or we do */
static const char *const skip_names[] = {
	"received", "return-path", "delivered-to", "x-original-to",
	"authentication-results", "arc-authentication-results",
	"arc-message-signature", "arc-seal", "received-spf", "x-spam-status",
	"x-spam-flag", "x-spam-level", "x-spam-score", "x-spam-checker-version",
	"x-postern-spam", "x-virus-scanned", "envelope-to",
};

enum field_kind { F_WORDS, F_ADDR, F_MSGID, F_CTYPE };

static const struct {
	const char *name;
	enum field_kind kind;
} value_fields[] = {
	{ "subject", F_WORDS }, { "from", F_ADDR }, { "to", F_ADDR },
	{ "cc", F_ADDR }, { "reply-to", F_ADDR }, { "sender", F_ADDR },
	{ "x-mailer", F_WORDS }, { "user-agent", F_WORDS },
	{ "list-id", F_WORDS }, { "organization", F_WORDS },
	{ "precedence", F_WORDS }, { "x-priority", F_WORDS },
	{ "importance", F_WORDS }, { "message-id", F_MSGID },
	{ "content-type", F_CTYPE },
};

struct tk {
	struct bayes_tokens *t;
	EVP_MD_CTX *md;
	size_t limit;			/* tokens allowed for now */
	char tmp[BAYES_TOKEN_TEXT_MAX];
};

/*
 * SHA-256 fetched once per process: EVP_sha256() makes every
 * EVP_DigestInit_ex look the algorithm up in the provider store again,
 * which cost more than the hashing of a short token.
 */
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256_md;	/* set once, then read only */

static void
sha256_fetch(void)
{
	if ((sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
		PANIC("bayes: SHA-256 not available");
}

static const EVP_MD *
sha256_alg(void)
{
	(void)pthread_once(&sha256_once, sha256_fetch);
	return sha256_md;
}

/*
 * token_hash - SHA-256 of a token's text, by OpenSSL's low-level
 * SHA256_Init/Update/Final (deprecated in 3.0, still there): for a
 * short token the EVP calls' provider dispatch cost more than the
 * hashing (the one-shot SHA256() is worse still: it fetches the
 * algorithm every time).  The digest is the same.
 */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static void
token_hash(const void *p, size_t n, unsigned char out[32])
{
	SHA256_CTX ctx;

	if (SHA256_Init(&ctx) != 1 || SHA256_Update(&ctx, p, n) != 1 ||
	    SHA256_Final(out, &ctx) != 1)
		PANIC("bayes: SHA-256 failed");
}
#pragma GCC diagnostic pop

/* emit - the token prefix + s[0..n) (ASCII lower-cased, cut to fit) */
static void
emit(struct tk *k, const char *prefix, const char *s, size_t n)
{
	struct bayes_tokens *t = k->t;
	size_t plen = strlen(prefix), len;
	uint64_t h;
	uint32_t slot;
	unsigned char md[32];

	if (n > sizeof(k->tmp) - plen)
		n = sizeof(k->tmp) - plen;
	memcpy(k->tmp, prefix, plen);
	for (size_t i = 0; i < n; i++)
		k->tmp[plen + i] = (char)ascii_tolower((unsigned char)s[i]);
	len = plen + n;
	h = bayes_fnv1a(k->tmp, len);
	for (slot = (uint32_t)h & (SLOTS - 1); t->slots[slot] != 0;
	    slot = (slot + 1) & (SLOTS - 1)) {
		const struct bayes_token *o = &t->v[t->slots[slot] - 1];

		if (t->fnv[t->slots[slot] - 1] == h && o->len == len &&
		    memcmp(t->text.data + o->off, k->tmp, len) == 0)
			return;		/* seen */
	}
	if (t->n >= k->limit) {
		t->truncated = true;
		return;
	}
	t->v[t->n].off = (uint32_t)t->text.len;
	t->v[t->n].len = (uint32_t)len;
	buf_add(&t->text, k->tmp, len);
	buf_add(&t->text, "", 1);
	token_hash(k->tmp, len, md);
	memcpy(t->v[t->n].hash, md, BAYES_HASH_LEN);
	t->fnv[t->n] = h;
	t->slots[slot] = (uint32_t)++t->n;
}

/* the ASCII bytes of a word: letters, digits and $'-_.! (a table: the
 * tokenizer asks for every byte) */
static const bool word_ascii[128] = {
	['0' ... '9'] = true, ['A' ... 'Z'] = true, ['a' ... 'z'] = true,
	['$'] = true, ['\''] = true, ['-'] = true, ['_'] = true, ['.'] = true,
	['!'] = true,
};

static inline bool
is_word_byte(unsigned char c)
{
	return c >= 0x80 || word_ascii[c];
}

static bool
is_word_start(unsigned char c)
{
	return is_ascii_alnum(c) || c >= 0x80 || c == '$';
}

/* word - one run of word bytes, trimmed, checked and emitted */
static void
word(struct tk *k, const char *prefix, const char *s, size_t n)
{
	bool number = true;
	char skip[32];

	while (n > 0 && !is_word_start((unsigned char)s[0])) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == '.' || s[n - 1] == '-' ||
	    s[n - 1] == '_' || s[n - 1] == '\''))
		n--;
	if (n < BAYES_WORD_MIN)
		return;
	if (n > BAYES_WORD_MAX) {
		/* SpamBayes' long-word token: base64 junk, URLs of trackers */
		int w = snprintf(skip, sizeof(skip), "skip:%c %zu",
		    is_ascii_alnum((unsigned char)s[0]) ?
		    ascii_tolower((unsigned char)s[0]) : '?', n / 10 * 10);

		if (w > 0 && (size_t)w < sizeof(skip))
			emit(k, prefix, skip, (size_t)w);
		return;
	}
	for (size_t i = 0; i < n && number; i++)
		number = is_ascii_digit((unsigned char)s[i]) || s[i] == '.' ||
		    s[i] == ',' || s[i] == '-';
	if (number && n > BAYES_NUMBER_MAX)
		return;
	emit(k, prefix, s, n);
}

static bool
starts_nocase(const char *s, size_t n, const char *lit)
{
	size_t l = strlen(lit);

	return n >= l && ascii_strncasecmp(s, lit, l) == 0;
}

static bool
is_url_byte(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '<' && c != '>' && c != '"' &&
	    c != '\'' && c != ')' && c != ']' && c != '}' && c != '|' &&
	    c != '\\' && c != '^' && c != '`' && c != '{' && c != '(' &&
	    c != '[';
}

/*
 * url - if s starts a URL (http://, https://, www.), emit its tokens and
 * return its length; 0 when it does not
 */
static size_t
url(struct tk *k, const char *s, size_t n)
{
	size_t skip, end, hs, he, dots = 0, d1 = 0, d2 = 0;
	bool ip = true;

	if (n == 0 || (s[0] != 'h' && s[0] != 'H' && s[0] != 'w' &&
	    s[0] != 'W'))
		return 0;	/* the common case, at every word */
	if (starts_nocase(s, n, "http://"))
		skip = 7;
	else if (starts_nocase(s, n, "https://"))
		skip = 8;
	else if (starts_nocase(s, n, "www."))
		skip = 0;
	else
		return 0;
	for (end = skip; end < n && is_url_byte((unsigned char)s[end]); end++)
		;
	while (end > skip && strchr(".,;:!?", s[end - 1]) != NULL)
		end--;
	/* the host: after any userinfo, before a port, path or query */
	hs = skip;
	for (size_t i = skip; i < end && s[i] != '/' && s[i] != '?' &&
	    s[i] != '#'; i++)
		if (s[i] == '@')
			hs = i + 1;
	for (he = hs; he < end && s[he] != '/' && s[he] != '?' &&
	    s[he] != '#' && s[he] != ':'; he++) {
		if (s[he] == '.') {
			dots++;
			d2 = d1;
			d1 = he;
		} else if (!is_ascii_digit((unsigned char)s[he])) {
			ip = false;
		}
	}
	if (he == hs || dots == 0)
		return end > skip ? end : skip;	/* "http://" alone */
	emit(k, "url:", s + hs, he - hs);
	if (dots >= 2 && !ip)
		emit(k, "url:d:", s + d2 + 1, he - d2 - 1);
	if (!ip)
		emit(k, "url:tld:", s + d1 + 1, he - d1 - 1);
	emit(k, "url:", s, end - 0 < BAYES_URL_MAX ? end : BAYES_URL_MAX);
	return end;
}

/* words - the words (and URLs, when urls) of s[0..n) */
static void
words(struct tk *k, const char *prefix, const char *s, size_t n, bool urls)
{
	size_t i = 0;

	while (i < n) {
		size_t st, u;

		while (i < n && !is_word_byte((unsigned char)s[i]))
			i++;
		if (i >= n)
			break;
		if (urls && (u = url(k, s + i, n - i)) > 0) {
			i += u;
			continue;
		}
		st = i;
		while (i < n && is_word_byte((unsigned char)s[i]))
			i++;
		word(k, prefix, s + st, i - st);
	}
}

/* urls_only - the URLs of a raw body: http:// and https:// only */
static void
urls_only(struct tk *k, const char *s, size_t n)
{
	for (size_t i = 0; i + 7 <= n;) {
		size_t u = 0;

		if ((s[i] == 'h' || s[i] == 'H') && (i == 0 ||
		    !is_ascii_alnum((unsigned char)s[i - 1])) &&
		    (starts_nocase(s + i, n - i, "http://") ||
		    starts_nocase(s + i, n - i, "https://")))
			u = url(k, s + i, n - i);
		i += u > 0 ? u : 1;
	}
}

/* addresses - "h:<name>:<addr>" and "h:<name>:@<domain>", then words */
static void
addresses(struct tk *k, const char *prefix, const char *v, size_t n)
{
	char dom[NAME_MAX_LEN + 8];

	for (size_t i = 0; i < n; i++) {
		size_t st = i, en = i;

		if (v[i] != '@')
			continue;
		while (st > 0 && v[st - 1] > 0x20 && strchr("<>,;:\"()",
		    v[st - 1]) == NULL)
			st--;
		while (en < n && v[en] > 0x20 && strchr("<>,;:\"()", v[en]) ==
		    NULL)
			en++;
		if (en - i < 2)
			continue;
		if (i > st && en - st <= BAYES_URL_MAX)
			emit(k, prefix, v + st, en - st);
		if (snprintf(dom, sizeof(dom), "%s@", prefix) <
		    (int)sizeof(dom))
			emit(k, dom, v + i + 1, en - i - 1);
		for (size_t d = en; d > i + 1; d--)
			if (v[d - 1] == '.') {
				if (d < en && snprintf(dom, sizeof(dom),
				    "%stld:", prefix) < (int)sizeof(dom))
					emit(k, dom, v + d, en - d);
				break;
			}
		i = en;
	}
	/* display names and the rest; addresses give their words too */
	words(k, prefix, v, n, false);
}

static void
content_type(struct tk *k, const char *prefix, const char *v, size_t n)
{
	size_t a = 0, e;
	const char *cs;

	while (a < n && (v[a] == ' ' || v[a] == '\t' || v[a] == '\r' ||
	    v[a] == '\n'))
		a++;
	for (e = a; e < n && v[e] != ';' && v[e] > 0x20; e++)
		;
	if (e > a)
		emit(k, prefix, v + a, e - a);
	for (cs = v; (size_t)(cs - v) + 8 <= n; cs++) {
		if (ascii_strncasecmp(cs, "charset=", 8) != 0)
			continue;
		a = (size_t)(cs - v) + 8;
		if (a < n && v[a] == '"')
			a++;
		for (e = a; e < n && v[e] != '"' && v[e] != ';' &&
		    v[e] > 0x20; e++)
			;
		if (e > a) {
			char p[NAME_MAX_LEN + 16];

			if (snprintf(p, sizeof(p), "%scharset=", prefix) <
			    (int)sizeof(p))
				emit(k, p, v + a, e - a);
		}
		break;
	}
}

/* field_end - past the field at p and its continuation lines */
static const char *
field_end(const char *p, const char *end)
{
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			return end;
		p = nl + 1;
		if (p >= end || (*p != ' ' && *p != '\t'))
			return p;
	}
	return end;
}

static void
field(struct tk *k, const char *name, size_t nlen, const char *v, size_t n,
    const char **msgid, size_t *msgid_len)
{
	char lname[NAME_MAX_LEN], prefix[NAME_MAX_LEN + 8];

	if (nlen == 0 || nlen >= sizeof(lname))
		return;
	for (size_t i = 0; i < nlen; i++) {
		unsigned char c = (unsigned char)name[i];

		if (c <= 0x20 || c >= 0x7f)
			return;		/* not a field name */
		lname[i] = (char)ascii_tolower(c);
	}
	lname[nlen] = '\0';
	if (strcmp(lname, "message-id") == 0) {
		*msgid = v;
		*msgid_len = n;
	}
	for (size_t i = 0; i < ARRAY_SIZE(skip_names); i++)
		if (strcmp(lname, skip_names[i]) == 0 ||
		    strncmp(lname, "x-spam-", 7) == 0)
			return;
	emit(k, "hn:", lname, nlen);
	if (n > BAYES_FIELD_MAX)
		n = BAYES_FIELD_MAX;
	(void)snprintf(prefix, sizeof(prefix), "h:%s:", lname);
	for (size_t i = 0; i < ARRAY_SIZE(value_fields); i++) {
		if (strcmp(lname, value_fields[i].name) != 0)
			continue;
		switch (value_fields[i].kind) {
		case F_WORDS:
			words(k, prefix, v, n, true);
			break;
		case F_ADDR:
			addresses(k, prefix, v, n);
			break;
		case F_MSGID: {
			const char *at = memchr(v, '@', n);
			size_t e;

			if (at == NULL)
				break;
			at++;
			for (e = 0; at + e < v + n && at[e] != '>' &&
			    (unsigned char)at[e] > 0x20; e++)
				;
			if (e > 0)
				emit(k, "h:message-id:@", at, e);
			break;
		}
		case F_CTYPE:
			content_type(k, prefix, v, n);
			break;
		}
		break;
	}
}

/* header - the fields' tokens; the offset of the body */
static size_t
header(struct tk *k, const char *msg, size_t len, const char **msgid,
    size_t *msgid_len)
{
	const char *p = msg, *end = msg + len;
	const char *stop = msg + (len < BAYES_HEADER_MAX ? len :
	    BAYES_HEADER_MAX);

	while (p < end) {
		const char *fe, *colon;

		if (*p == '\n')
			return (size_t)(p + 1 - msg);
		if (*p == '\r' && p + 1 < end && p[1] == '\n')
			return (size_t)(p + 2 - msg);
		fe = field_end(p, end);
		colon = memchr(p, ':', (size_t)(fe - p));
		if (colon == NULL)	/* not a field: the body starts */
			return (size_t)(p - msg);
		if (p < stop)
			field(k, p, (size_t)(colon - p), colon + 1,
			    (size_t)(fe - colon - 1), msgid, msgid_len);
		else
			k->t->truncated = true;
		p = fe;
	}
	return len;
}

/* identity - SHA-256 of the Message-ID and the body without CR */
static void
identity(struct tk *k, const char *msgid, size_t mlen, const char *body,
    size_t blen)
{
	unsigned char md[32];
	unsigned int olen = 0;

	while (mlen > 0 && (msgid[0] == ' ' || msgid[0] == '\t' ||
	    msgid[0] == '\r' || msgid[0] == '\n')) {
		msgid++;
		mlen--;
	}
	while (mlen > 0 && (unsigned char)msgid[mlen - 1] <= 0x20)
		mlen--;
	/* a copy that gained or lost a final line break is the same */
	while (blen > 0 && (body[blen - 1] == '\n' || body[blen - 1] == '\r'))
		blen--;
	if (EVP_DigestInit_ex(k->md, sha256_alg(), NULL) != 1 ||
	    EVP_DigestUpdate(k->md, "mid:", 4) != 1 ||
	    EVP_DigestUpdate(k->md, msgid, mlen) != 1 ||
	    EVP_DigestUpdate(k->md, "\n", 1) != 1)
		PANIC("bayes: SHA-256 failed");
	while (blen > 0) {
		const char *cr = memchr(body, '\r', blen);
		size_t n = cr != NULL ? (size_t)(cr - body) : blen;

		if (EVP_DigestUpdate(k->md, body, n) != 1)
			PANIC("bayes: SHA-256 failed");
		if (cr == NULL)
			break;
		body += n + 1;
		blen -= n + 1;
	}
	if (EVP_DigestFinal_ex(k->md, md, &olen) != 1 || olen != 32)
		PANIC("bayes: SHA-256 failed");
	memcpy(k->t->id, md, BAYES_ID_LEN);
}

void
bayes_tokens_free(struct bayes_tokens *t)
{
	free(t->v);
	free(t->slots);
	free(t->fnv);
	buf_free(&t->text);
	memset(t, 0, sizeof(*t));
}

void
bayes_tokens_keys(struct bayes_tokens *dst, const struct bayes_tokens *src)
{
	bayes_tokens_free(dst);
	dst->v = xcalloc(src->n + 1, sizeof(*dst->v));
	for (size_t i = 0; i < src->n; i++)
		memcpy(dst->v[i].hash, src->v[i].hash, BAYES_HASH_LEN);
	dst->n = src->n;
	buf_init(&dst->text, 0);
	buf_add(&dst->text, "", 1);	/* every token's text: "" */
	memcpy(dst->id, src->id, BAYES_ID_LEN);
	dst->truncated = src->truncated;
}

void
bayes_tokenize(struct bayes_tokens *t, const unsigned char *msg, size_t len,
    const char *text, size_t text_len)
{
	struct tk k;
	const char *m = (const char *)msg, *msgid = "";
	size_t body, blen, msgid_len = 0;

	if (t->v == NULL) {
		t->v = xcalloc(BAYES_TOKENS_MAX, sizeof(*t->v));
		t->fnv = xcalloc(BAYES_TOKENS_MAX, sizeof(*t->fnv));
		t->slots = xcalloc(SLOTS, sizeof(*t->slots));
		buf_init(&t->text, 0);
	} else {
		memset(t->slots, 0, SLOTS * sizeof(*t->slots));
		buf_reset(&t->text);
	}
	t->n = 0;
	t->truncated = false;
	memset(&k, 0, sizeof(k));
	k.t = t;
	if ((k.md = EVP_MD_CTX_new()) == NULL)
		PANIC("bayes: EVP_MD_CTX_new failed");
	k.limit = BAYES_HEADER_TOKENS;
	body = header(&k, m, len, &msgid, &msgid_len);
	k.limit = BAYES_TOKENS_MAX;
	blen = len - body;
	if (text == NULL) {
		text = m + body;
		text_len = blen;
	}
	if (text_len > BAYES_TEXT_MAX) {
		text_len = BAYES_TEXT_MAX;
		t->truncated = true;
	}
	words(&k, "", text, text_len, true);
	if (text != m + body)
		urls_only(&k, m + body, blen < BAYES_RAW_MAX ? blen :
		    BAYES_RAW_MAX);
	identity(&k, msgid, msgid_len, m + body, blen);
	EVP_MD_CTX_free(k.md);
}
