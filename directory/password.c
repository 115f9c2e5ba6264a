/*
 * password.c - stored password hashes: verify Dovecot-style
 * "{SCHEME}hash" strings with libxcrypt and libargon2, make new ones (see
 * password.h for the accepted forms and the reasons behind the defaults).
 *
 * Verification runs in three steps, and only the last one costs: identify
 * the scheme and the hash method (the prefix and the hash's own "$id$"
 * must agree: "{SHA512-CRYPT}$2b$..." is an error, not a bcrypt hash);
 * decode the method's cost parameters exactly as the library will and
 * refuse those over the limits; then hash.  A hash we cannot decode is
 * refused, so nothing unbounded ever reaches the library.
 *
 * Constant time: crypt(3) output is compared with CRYPTO_memcmp over the
 * full length; argon2_verify() compares in constant time itself.  The
 * length of a crypt(3) result depends on the stored setting only, never
 * on the password, so a length mismatch means a malformed stored hash and
 * is reported as such.  Every early exit depends on the stored hash or on
 * the password's length, never on its content.
 *
 * Secrets: the NUL-terminated copy of the password that crypt(3) needs
 * and libxcrypt's work area are wiped with explicit_bzero() on every
 * path.  Error text names the scheme (sanitised) but never quotes the
 * stored string: a "hash" without a prefix may be a plaintext password.
 */
#include <argon2.h>
#include <crypt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "directory/password.h"

const struct password_limits password_limits_default = {
	.sha_rounds_max = 10000000,
	.bcrypt_cost_max = 16,
	.mem_max = (uint64_t)1 << 30,
	.work_max = (uint64_t)4 << 30,
	.passes_max = 100,
	.lanes_max = 16,
};

#define SCHEME_NAME_MAX 32	/* longest "{...}" name we look up */
#define SHA_ROUNDS_DEFAULT 5000	/* $5$/$6$ without rounds= */
#define YESCRYPT_RW 2		/* flavors from 2 on are yescrypt proper */
#define YESCRYPT_FLAVOR_MAX (YESCRYPT_RW + 255)

/* hash methods, one bit each so a scheme can allow several */
enum {
	M_DES = 1 << 0,		/* 13 chars, traditional crypt(3) */
	M_MD5 = 1 << 1,		/* $1$ */
	M_SHA256 = 1 << 2,	/* $5$ */
	M_SHA512 = 1 << 3,	/* $6$ */
	M_BCRYPT = 1 << 4,	/* $2a$ $2b$ $2y$ */
	M_YESCRYPT = 1 << 5,	/* $y$ */
	M_GOST_YESCRYPT = 1 << 6, /* $gy$ */
	M_SCRYPT = 1 << 7,	/* $7$ */
	M_ARGON2I = 1 << 8,	/* $argon2i$ */
	M_ARGON2ID = 1 << 9,	/* $argon2id$ */
};
#define M_CRYPT (M_DES | M_MD5 | M_SHA256 | M_SHA512 | M_BCRYPT | \
	M_YESCRYPT | M_GOST_YESCRYPT | M_SCRYPT)
#define M_BARE ((M_CRYPT & ~M_DES) | M_ARGON2I | M_ARGON2ID)

/* methods 0: refused, with why */
static const struct scheme {
	const char *name;
	unsigned methods;
	const char *why;
} schemes[] = {
	{ "CRYPT", M_CRYPT, NULL },
	{ "DES-CRYPT", M_DES, NULL },
	{ "MD5-CRYPT", M_MD5, NULL },
	{ "SHA256-CRYPT", M_SHA256, NULL },
	{ "SHA512-CRYPT", M_SHA512, NULL },
	{ "BLF-CRYPT", M_BCRYPT, NULL },
	{ "ARGON2I", M_ARGON2I, NULL },
	{ "ARGON2ID", M_ARGON2ID, NULL },
	{ "PLAIN", 0, "plaintext" },
	{ "CLEAR", 0, "plaintext" },
	{ "CLEARTEXT", 0, "plaintext" },
	{ "PLAIN-TRUNC", 0, "plaintext" },
	/* Dovecot's other schemes: known, not supported (yet) */
	{ "SHA", 0, "unsupported" },
	{ "SHA1", 0, "unsupported" },
	{ "SHA256", 0, "unsupported" },
	{ "SHA512", 0, "unsupported" },
	{ "SSHA", 0, "unsupported" },
	{ "SSHA256", 0, "unsupported" },
	{ "SSHA512", 0, "unsupported" },
	{ "MD5", 0, "unsupported" },
	{ "SMD5", 0, "unsupported" },
	{ "PLAIN-MD4", 0, "unsupported" },
	{ "PLAIN-MD5", 0, "unsupported" },
	{ "LDAP-MD5", 0, "unsupported" },
	{ "HMAC-MD5", 0, "unsupported" },
	{ "CRAM-MD5", 0, "unsupported" },
	{ "DIGEST-MD5", 0, "unsupported" },
	{ "SCRAM-SHA-1", 0, "unsupported" },
	{ "SCRAM-SHA-256", 0, "unsupported" },
	{ "PBKDF2", 0, "unsupported" },
	{ "OTP", 0, "unsupported" },
};

/* "$id$" prefixes; DES has none and is recognised by its shape */
static const struct {
	const char *prefix;
	unsigned method;
} method_prefixes[] = {
	{ "$argon2id$", M_ARGON2ID },
	{ "$argon2i$", M_ARGON2I },
	{ "$y$", M_YESCRYPT },
	{ "$gy$", M_GOST_YESCRYPT },
	{ "$7$", M_SCRYPT },
	{ "$6$", M_SHA512 },
	{ "$5$", M_SHA256 },
	{ "$2a$", M_BCRYPT },
	{ "$2b$", M_BCRYPT },
	{ "$2y$", M_BCRYPT },
	{ "$1$", M_MD5 },
};

struct stored {
	const struct scheme *scheme;	/* NULL for a bare hash */
	unsigned method;
	const char *hash;		/* after the prefix, NUL-terminated */
	size_t len;
};

/* decoded cost of a memory-hard hash */
struct cost {
	uint64_t mem;		/* bytes one attempt allocates (about) */
	uint64_t passes;
	uint64_t lanes;
	uint64_t work;		/* mem x passes (x lanes when sequential) */
	uint64_t version;	/* argon2 only */
	bool rw;		/* yescrypt proper, not classic scrypt */
};

static const char ascii64[] =
    "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static _Thread_local char password_err[160];

static const char *
errf(const char *fmt, ...) PRINTF_LIKE(1, 2);

static const char *
errf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(password_err, sizeof(password_err), fmt, ap);
	va_end(ap);
	/* arguments are capped (scheme names, static text): cannot happen */
	if (n < 0 || (size_t)n >= sizeof(password_err))
		return "password error (message too long)";
	return password_err;
}

/* safe_name - a scheme name from a file, printable and capped, for logs */
static void
safe_name(const char *s, size_t len, char out[SCHEME_NAME_MAX + 4])
{
	size_t n = len < SCHEME_NAME_MAX ? len : SCHEME_NAME_MAX, i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		out[i] = c > 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (n < len) {
		memcpy(out + i, "...", 3);
		i += 3;
	}
	out[i] = '\0';
}

static uint64_t
mul_sat(uint64_t a, uint64_t b)
{
	if (a != 0 && b > UINT64_MAX / a)
		return UINT64_MAX;
	return a * b;
}

static unsigned
atoi64(char c)
{
	const char *p = c != '\0' ? strchr(ascii64, c) : NULL;

	return p != NULL ? (unsigned)(p - ascii64) : 64;
}

static int
check_password(const char *password, size_t pwlen, const char **error_r)
{
	if (pwlen > PASSWORD_LEN_MAX) {
		*error_r = "password longer than 1024 bytes";
		return -1;
	}
	if (pwlen > 0 && memchr(password, '\0', pwlen) != NULL) {
		*error_r = "password contains a NUL byte";
		return -1;
	}
	return 0;
}

bool
password_is_valid(const char *password, size_t pwlen)
{
	const char *error;

	return check_password(password, pwlen, &error) == 0;
}

static bool
is_des_shaped(const char *h, size_t len)
{
	if (len != 13)
		return false;
	for (size_t i = 0; i < len; i++)
		if (atoi64(h[i]) > 63)
			return false;
	return true;
}

/* identify - scheme and method of stored; no cost check yet */
static int
identify(const char *stored, struct stored *st, const char **error_r)
{
	size_t len = strnlen(stored, PASSWORD_STORED_MAX + 1);
	unsigned allowed = M_BARE;
	const char *h = stored;

	memset(st, 0, sizeof(*st));
	if (len == 0) {
		*error_r = "empty stored hash";
		return -1;
	}
	if (len > PASSWORD_STORED_MAX) {
		*error_r = "stored hash longer than 512 bytes";
		return -1;
	}
	if (stored[0] == '{') {
		const char *end = memchr(stored, '}', len);
		size_t nlen = end != NULL ? (size_t)(end - stored) - 1 : 0;
		char name[SCHEME_NAME_MAX + 4];

		if (end == NULL || nlen == 0) {
			*error_r = "malformed {SCHEME} prefix";
			return -1;
		}
		for (size_t i = 0; i < ARRAY_SIZE(schemes); i++)
			if (ascii_eq_nocase(stored + 1, nlen, schemes[i].name))
				st->scheme = &schemes[i];
		if (st->scheme == NULL) {
			safe_name(stored + 1, nlen, name);
			*error_r = errf("unknown password scheme %s", name);
			return -1;
		}
		if (st->scheme->methods == 0) {
			*error_r = errf("%s password scheme %s refused",
			    st->scheme->why, st->scheme->name);
			return -1;
		}
		allowed = st->scheme->methods;
		h = end + 1;
		len -= nlen + 2;
	}
	for (size_t i = 0; i < ARRAY_SIZE(method_prefixes); i++)
		if (strncmp(h, method_prefixes[i].prefix,
		    strlen(method_prefixes[i].prefix)) == 0) {
			st->method = method_prefixes[i].method;
			break;
		}
	if (st->method == 0 && is_des_shaped(h, len))
		st->method = M_DES;
	if ((st->method & allowed) == 0) {
		if (st->scheme == NULL)
			*error_r = "unknown password scheme "
			    "(no {SCHEME} prefix)";
		else
			*error_r = errf("stored hash is not a valid %s hash",
			    st->scheme->name);
		st->method = 0;
		return -1;
	}
	st->hash = h;
	st->len = len;
	return 0;
}

/* ydecode - yescrypt's variable-length number, as libxcrypt decodes it */
static const char *
ydecode(const char *s, uint32_t min, uint64_t *val_r)
{
	uint32_t start = 0, end = 47, chars = 1, bits = 0;
	unsigned c = atoi64(*s++);
	uint64_t v = min;

	if (c > 63)
		return NULL;
	while (c > end) {
		v += (uint64_t)(end + 1 - start) << bits;
		start = end + 1;
		end = start + (62 - end) / 2;
		chars++;
		bits += 6;
	}
	v += (uint64_t)(c - start) << bits;
	while (--chars > 0) {
		c = atoi64(*s++);	/* stops at the NUL: atoi64 = 64 */
		if (c > 63)
			return NULL;
		bits -= 6;
		v += (uint64_t)c << bits;
	}
	*val_r = v;
	return s;
}

/* ydecode_fixed - $7$'s 30-bit little-endian numbers (5 chars) */
static const char *
ydecode_fixed(const char *s, uint64_t *val_r)
{
	uint64_t v = 0;

	for (unsigned bits = 0; bits < 30; bits += 6) {
		unsigned c = atoi64(*s++);

		if (c > 63)
			return NULL;
		v |= (uint64_t)c << bits;
	}
	*val_r = v;
	return s;
}

static void
scrypt_cost(uint64_t n_log2, uint64_t r, uint64_t p, uint64_t t, bool rw,
    struct cost *c)
{
	uint64_t n = (uint64_t)1 << n_log2;	/* n_log2 <= 63 */

	/*
	 * V is 128 r N bytes, B 128 r p: count the larger, so that
	 * libxcrypt's largest cost (1 GiB of V) meets a 1 GiB limit.
	 */
	c->mem = mul_sat(mul_sat(128, r), n > p ? n : p);
	c->passes = t + 1;
	c->lanes = p;
	c->rw = rw;
	/* yescrypt proper splits V between lanes; classic scrypt does not */
	c->work = mul_sat(c->mem, rw ? c->passes : mul_sat(c->passes, p));
}

/* yescrypt_params - "$y$" / "$gy$" / "$7$" parameters; -1 malformed */
static int
yescrypt_params(const struct stored *st, struct cost *c, const char **error_r)
{
	uint64_t flavor, n_log2, r, p = 1, t = 0, g = 0, nrom = 0, have;
	const char *s = st->hash + (st->method == M_GOST_YESCRYPT ? 4 : 3);

	if (st->method == M_SCRYPT) {
		n_log2 = atoi64(*s);
		if (n_log2 < 1 || n_log2 > 63 ||
		    (s = ydecode_fixed(s + 1, &r)) == NULL ||
		    ydecode_fixed(s, &p) == NULL)
			goto bad;
		scrypt_cost(n_log2, r, p, 0, false, c);
		return 0;
	}
	if ((s = ydecode(s, 0, &flavor)) == NULL ||
	    flavor > YESCRYPT_FLAVOR_MAX ||
	    (s = ydecode(s, 1, &n_log2)) == NULL || n_log2 > 63 ||
	    (s = ydecode(s, 1, &r)) == NULL)
		goto bad;
	if (*s != '$') {
		if ((s = ydecode(s, 1, &have)) == NULL ||
		    ((have & 1) && (s = ydecode(s, 2, &p)) == NULL) ||
		    ((have & 2) && (s = ydecode(s, 1, &t)) == NULL) ||
		    ((have & 4) && (s = ydecode(s, 1, &g)) == NULL) ||
		    ((have & 8) && (s = ydecode(s, 1, &nrom)) == NULL))
			goto bad;
	}
	if (*s != '$')
		goto bad;
	if (g != 0 || nrom != 0) {
		/* libxcrypt has no ROM and no hash upgrades either */
		*error_r = "yescrypt hash uses a ROM or upgrades: unsupported";
		return -1;
	}
	scrypt_cost(n_log2, r, p, t, flavor >= YESCRYPT_RW, c);
	return 0;
bad:
	*error_r = "malformed yescrypt parameters";
	return -1;
}

/* a2num - decimal up to end, no leading zero (as libargon2 decodes) */
static const char *
a2num(const char *s, char end, uint64_t *val_r)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || s[n] != end || (s[0] == '0' && n > 1) ||
	    parse_u64(s, n, UINT32_MAX, val_r) < 0)
		return NULL;
	return s + n + 1;
}

/* argon2_params - "$argon2id$v=19$m=..,t=..,p=..$"; -1 malformed */
static int
argon2_params(const struct stored *st, struct cost *c, const char **error_r)
{
	const char *s = st->hash + (st->method == M_ARGON2ID ? 10 : 9);
	uint64_t m, t, p;

	c->version = 0x10;	/* no "v=": the first version */
	if (strncmp(s, "v=", 2) == 0 &&
	    ((s = a2num(s + 2, '$', &c->version)) == NULL ||
	    (c->version != 0x10 && c->version != ARGON2_VERSION_13)))
		goto bad;
	if (strncmp(s, "m=", 2) != 0 || (s = a2num(s + 2, ',', &m)) == NULL ||
	    strncmp(s, "t=", 2) != 0 || (s = a2num(s + 2, ',', &t)) == NULL ||
	    strncmp(s, "p=", 2) != 0 || a2num(s + 2, '$', &p) == NULL)
		goto bad;
	c->mem = mul_sat(m, 1024);
	c->passes = t;
	c->lanes = p;
	c->work = mul_sat(c->mem, t);
	return 0;
bad:
	*error_r = "malformed argon2 parameters";
	return -1;
}

static int
check_cost(const struct cost *c, const struct password_limits *lim,
    const char **error_r)
{
	if (c->mem > lim->mem_max)
		*error_r = "stored hash needs more memory than allowed";
	else if (c->passes > lim->passes_max)
		*error_r = "stored hash has more passes than allowed";
	else if (c->lanes > lim->lanes_max)
		*error_r = "stored hash has more lanes than allowed";
	else if (c->work > lim->work_max)
		*error_r = "stored hash needs more work than allowed";
	else
		return 0;
	return -1;
}

/* sha_rounds - rounds of "$5$"/"$6$", as libxcrypt reads them */
static int
sha_rounds(const struct stored *st, uint64_t *rounds_r, const char **error_r)
{
	const char *s = st->hash + 3, *end;

	*rounds_r = SHA_ROUNDS_DEFAULT;
	if (strncmp(s, "rounds=", 7) != 0)
		return 0;
	s += 7;
	end = strchr(s, '$');
	if (end == NULL || end == s || s[0] == '0' ||
	    parse_u64(s, (size_t)(end - s), UINT64_MAX, rounds_r) < 0) {
		*error_r = "malformed rounds= in stored hash";
		return -1;
	}
	return 0;
}

/* limit_check - decode the method's cost and hold it against lim */
static int
limit_check(const struct stored *st, const struct password_limits *lim,
    const char **error_r)
{
	struct cost c;
	uint64_t n;

	switch (st->method) {
	case M_SHA256:
	case M_SHA512:
		if (sha_rounds(st, &n, error_r) < 0)
			return -1;
		if (n > lim->sha_rounds_max) {
			*error_r = "stored hash has more rounds than allowed";
			return -1;
		}
		return 0;
	case M_BCRYPT:
		if (!is_ascii_digit((unsigned char)st->hash[4]) ||
		    !is_ascii_digit((unsigned char)st->hash[5]) ||
		    st->hash[6] != '$') {
			*error_r = "malformed bcrypt cost";
			return -1;
		}
		n = (uint64_t)(st->hash[4] - '0') * 10 +
		    (uint64_t)(st->hash[5] - '0');
		if (n > lim->bcrypt_cost_max) {
			*error_r = "stored hash has a bcrypt cost over the "
			    "limit";
			return -1;
		}
		return 0;
	case M_YESCRYPT:
	case M_GOST_YESCRYPT:
	case M_SCRYPT:
		if (yescrypt_params(st, &c, error_r) < 0)
			return -1;
		return check_cost(&c, lim, error_r);
	case M_ARGON2I:
	case M_ARGON2ID:
		if (argon2_params(st, &c, error_r) < 0)
			return -1;
		return check_cost(&c, lim, error_r);
	default:
		return 0;	/* DES, MD5: fixed cost */
	}
}

static int
verify_crypt(const struct stored *st, const char *password, size_t pwlen,
    bool *ok_r, const char **error_r)
{
	struct crypt_data cd;
	char pw[PASSWORD_LEN_MAX + 1];
	const char *out;
	size_t olen;
	int ret = -1;

	if (pwlen >= CRYPT_MAX_PASSPHRASE_SIZE) {
		/* libxcrypt never hashed one this long: cannot match */
		*ok_r = false;
		return 0;
	}
	memset(&cd, 0, sizeof(cd));
	memcpy(pw, password, pwlen);
	pw[pwlen] = '\0';
	out = crypt_rn(pw, st->hash, &cd, (int)sizeof(cd));
	if (out == NULL || out[0] == '*') {
		*error_r = "malformed stored hash (refused by crypt)";
		goto done;
	}
	olen = strlen(out);
	if (olen != st->len) {
		/* the length follows from the setting alone */
		*error_r = "malformed stored hash (wrong length)";
		goto done;
	}
	*ok_r = CRYPTO_memcmp(out, st->hash, olen) == 0;
	ret = 0;
done:
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(&cd, sizeof(cd));
	return ret;
}

static int
verify_argon2(const struct stored *st, const char *password, size_t pwlen,
    bool *ok_r, const char **error_r)
{
	int rc = argon2_verify(st->hash, password, pwlen,
	    st->method == M_ARGON2ID ? Argon2_id : Argon2_i);

	if (rc == ARGON2_OK) {
		*ok_r = true;
		return 0;
	}
	if (rc == ARGON2_VERIFY_MISMATCH)
		return 0;
	*error_r = errf("argon2: %s", argon2_error_message(rc));
	return -1;
}

int
password_verify_limits(const char *stored, const char *password,
    size_t pwlen, const struct password_limits *lim, bool *ok_r,
    const char **error_r)
{
	struct stored st;

	*ok_r = false;
	if (password == NULL && pwlen == 0)
		password = "";
	if (check_password(password, pwlen, error_r) < 0 ||
	    identify(stored, &st, error_r) < 0 ||
	    limit_check(&st, lim, error_r) < 0)
		return -1;
	if (st.method == M_ARGON2I || st.method == M_ARGON2ID)
		return verify_argon2(&st, password, pwlen, ok_r, error_r);
	return verify_crypt(&st, password, pwlen, ok_r, error_r);
}

int
password_verify(const char *stored, const char *password, size_t pwlen,
    bool *ok_r, const char **error_r)
{
	return password_verify_limits(stored, password, pwlen,
	    &password_limits_default, ok_r, error_r);
}

static int
hash_argon2id(const char *password, size_t pwlen, struct buf *out,
    const char **error_r)
{
	unsigned char salt[PASSWORD_ARGON2_SALT_LEN];
	char enc[160];
	int rc;

	if (argon2_encodedlen(PASSWORD_ARGON2_T, PASSWORD_ARGON2_M_KIB,
	    PASSWORD_ARGON2_P, sizeof(salt), PASSWORD_ARGON2_HASH_LEN,
	    Argon2_id) > sizeof(enc))
		PANIC("password: argon2 encoding does not fit");
	if (RAND_bytes(salt, sizeof(salt)) != 1) {
		*error_r = "RAND_bytes failed";
		return -1;
	}
	rc = argon2id_hash_encoded(PASSWORD_ARGON2_T, PASSWORD_ARGON2_M_KIB,
	    PASSWORD_ARGON2_P, password, pwlen, salt, sizeof(salt),
	    PASSWORD_ARGON2_HASH_LEN, enc, sizeof(enc));
	if (rc != ARGON2_OK) {
		*error_r = errf("argon2: %s", argon2_error_message(rc));
		return -1;
	}
	if (buf_append_str(out, "{ARGON2ID}") < 0 ||
	    buf_append_str(out, enc) < 0) {
		*error_r = "password hash does not fit the buffer";
		return -1;
	}
	return 0;
}

static int
hash_yescrypt(const char *password, size_t pwlen, struct buf *out,
    const char **error_r)
{
	unsigned char rnd[16];
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	char pw[PASSWORD_LEN_MAX + 1];
	struct crypt_data cd;
	const char *h;
	int ret = -1;

	if (pwlen >= CRYPT_MAX_PASSPHRASE_SIZE) {
		*error_r = "password too long for yescrypt (511 bytes at most)";
		return -1;
	}
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		*error_r = "RAND_bytes failed";
		return -1;
	}
	if (crypt_gensalt_rn("$y$", PASSWORD_YESCRYPT_COST, (const char *)rnd,
	    (int)sizeof(rnd), setting, (int)sizeof(setting)) == NULL) {
		*error_r = "crypt_gensalt_rn failed";
		return -1;
	}
	memset(&cd, 0, sizeof(cd));
	memcpy(pw, password, pwlen);
	pw[pwlen] = '\0';
	h = crypt_rn(pw, setting, &cd, (int)sizeof(cd));
	if (h == NULL || h[0] == '*')
		*error_r = "crypt_rn failed";
	else if (buf_append_str(out, "{CRYPT}") < 0 ||
	    buf_append_str(out, h) < 0)
		*error_r = "password hash does not fit the buffer";
	else
		ret = 0;
	explicit_bzero(pw, sizeof(pw));
	explicit_bzero(&cd, sizeof(cd));
	return ret;
}

int
password_hash(enum password_scheme scheme, const char *password,
    size_t pwlen, struct buf *out, const char **error_r)
{
	size_t keep = out->len;
	int ret;

	if (pwlen == 0) {
		*error_r = "empty password";
		return -1;
	}
	if (check_password(password, pwlen, error_r) < 0)
		return -1;
	switch (scheme) {
	case PASSWORD_SCHEME_ARGON2ID:
		ret = hash_argon2id(password, pwlen, out, error_r);
		break;
	case PASSWORD_SCHEME_YESCRYPT:
		ret = hash_yescrypt(password, pwlen, out, error_r);
		break;
	default:
		PANIC("password_hash: scheme %d", (int)scheme);
	}
	if (ret < 0)
		buf_truncate(out, keep);
	return ret;
}

bool
password_needs_rehash(const char *stored)
{
	struct stored st;
	struct cost c;
	const char *error;

	if (identify(stored, &st, &error) < 0)
		return true;
	switch (st.method) {
	case M_ARGON2ID:
		return argon2_params(&st, &c, &error) < 0 ||
		    c.version != ARGON2_VERSION_13 ||
		    c.mem < (uint64_t)PASSWORD_ARGON2_M_KIB * 1024 ||
		    c.passes < PASSWORD_ARGON2_T;
	case M_YESCRYPT:
		/* libxcrypt's default "j9T": 128 * 32 * 4096 = 16 MiB */
		return yescrypt_params(&st, &c, &error) < 0 || !c.rw ||
		    c.mem < ((uint64_t)16 << 20);
	default:
		return true;
	}
}
