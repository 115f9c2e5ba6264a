/*
 * password.c - libFuzzer target for directory/password.c.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: directory/password.c
 *
 * The input is "stored hash" LF "password": the hash as an import file
 * would hold it, the password as a client would send it (any bytes, NUL
 * included).  Verification runs under tiny work limits (FUZZ_LIMITS), so
 * the fuzzer spends milliseconds, not seconds, per input and the limit
 * checks themselves are exercised at every boundary.
 *
 * Invariants, beyond "no crash": the answer is 0 or -1, -1 always with an
 * error text and never with ok; the same input gives the same answer; "ok"
 * only for a scheme and method we support (checked here independently of
 * password.c's tables), only for a password without NUL and within
 * PASSWORD_LEN_MAX, and never for the same hash under an unknown or a
 * plaintext scheme name; a password one bit off does not match; an "ok"
 * hash that is neither argon2id nor yescrypt needs a rehash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "directory/password.h"

/* cheap enough for ASan: ~1 ms per hash */
static const struct password_limits fuzz_limits = {
	.sha_rounds_max = 1000,
	.bcrypt_cost_max = 4,
	.mem_max = 64 * 1024,
	.work_max = 128 * 1024,
	.passes_max = 2,
	.lanes_max = 2,
};

static const char *const supported_schemes[] = {
	"CRYPT", "DES-CRYPT", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT",
	"BLF-CRYPT", "ARGON2I", "ARGON2ID",
};
static const char *const bare_prefixes[] = {
	"$argon2id$", "$argon2i$", "$y$", "$gy$", "$7$", "$6$", "$5$",
	"$2a$", "$2b$", "$2y$", "$1$",
};

static bool
has_prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* hash_part - the stored string after a supported prefix, else NULL */
static const char *
hash_part(const char *stored)
{
	if (stored[0] == '{') {
		const char *end = strchr(stored, '}');

		if (end == NULL)
			return NULL;
		for (size_t i = 0; i < ARRAY_SIZE(supported_schemes); i++)
			if (ascii_eq_nocase(stored + 1,
			    (size_t)(end - stored) - 1, supported_schemes[i]))
				return end + 1;
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(bare_prefixes); i++)
		if (has_prefix(stored, bare_prefixes[i]))
			return stored;
	return NULL;
}

static int
verify(const char *stored, const char *pw, size_t pwlen, bool *ok_r)
{
	const char *error = NULL;
	int rc = password_verify_limits(stored, pw, pwlen, &fuzz_limits, ok_r,
	    &error);

	ASSERT(rc == 0 || rc == -1);
	if (rc < 0) {
		ASSERT(!*ok_r);
		ASSERT(error != NULL && error[0] != '\0');
	}
	return rc;
}

static void
check(const char *stored, char *pw, size_t pwlen)
{
	const char *hash = hash_part(stored);
	bool ok = false, ok2 = true;
	int rc = verify(stored, pw, pwlen, &ok), rc2;
	bool rehash = password_needs_rehash(stored);

	rc2 = verify(stored, pw, pwlen, &ok2);
	ASSERT(rc == rc2 && ok == ok2);
	ASSERT(rehash == password_needs_rehash(stored));
	if (!ok)
		return;

	ASSERT(hash != NULL);
	ASSERT(pwlen <= PASSWORD_LEN_MAX && memchr(pw, '\0', pwlen) == NULL);
	if (!has_prefix(hash, "$argon2id$") && !has_prefix(hash, "$y$"))
		ASSERT(rehash);

	/* the same hash under another name: never ok */
	{
		static const char *const others[] = { "{XFUZZ}", "{PLAIN}",
		    "{CLEARTEXT}", "{SSHA512}" };
		size_t hl = strlen(hash);
		char *alt = malloc(hl + 16);

		ASSERT(alt != NULL);
		for (size_t i = 0; i < ARRAY_SIZE(others); i++) {
			size_t ol = strlen(others[i]);

			memcpy(alt, others[i], ol);
			memcpy(alt + ol, hash, hl + 1);
			ASSERT(verify(alt, pw, pwlen, &ok2) < 0 && !ok2);
		}
		free(alt);
	}

	/* one bit off (bit 0 is used by every method, DES included) */
	if (pwlen > 0 && pw[0] != 1) {
		pw[0] ^= 1;
		rc2 = verify(stored, pw, pwlen, &ok2);
		ASSERT(rc2 == 0 && !ok2);
		pw[0] ^= 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *lf = memchr(data, '\n', size);
	size_t slen = lf != NULL ? (size_t)(lf - data) : size;
	size_t pwlen = lf != NULL ? size - slen - 1 : 0;
	char *stored, *pw;

	if (slen > PASSWORD_STORED_MAX + 16 || pwlen > PASSWORD_LEN_MAX + 16)
		return 0;
	stored = malloc(slen + 1);
	pw = malloc(pwlen + 1);
	ASSERT(stored != NULL && pw != NULL);
	/* a NUL in the stored bytes just ends the C string, as in a file */
	memcpy(stored, data, slen);
	stored[slen] = '\0';
	if (pwlen > 0)
		memcpy(pw, lf + 1, pwlen);
	check(stored, pw, pwlen);
	free(stored);
	free(pw);
	return 0;
}
