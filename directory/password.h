/*
 * password.h - verify and create stored password hashes.
 *
 * Stored form: Dovecot's "{SCHEME}hash", so a passwd-file exported from
 * Dovecot imports unchanged.  Scheme names are case-insensitive, as in
 * Dovecot.  Accepted:
 *
 *   {ARGON2ID}$argon2id$v=19$m=..,t=..,p=..$salt$hash   libargon2
 *   {ARGON2I}$argon2i$...                              libargon2
 *   {SHA512-CRYPT}$6$...  {SHA256-CRYPT}$5$...         libxcrypt
 *   {BLF-CRYPT}$2y$...  ($2a$, $2b$ too)               libxcrypt
 *   {MD5-CRYPT}$1$...  {DES-CRYPT}xxxxxxxxxxxxx         libxcrypt
 *   {CRYPT} + any of the crypt(3) hashes above, or yescrypt $y$,
 *       gost-yescrypt $gy$, scrypt $7$                 libxcrypt
 *
 * and, without a prefix, a bare "$argon2id$", "$argon2i$", "$y$", "$gy$",
 * "$7$", "$6$", "$5$", "$2a$"/"$2b$"/"$2y$" or "$1$" hash.  A bare DES
 * hash is not accepted: 13 letters could as well be a plaintext password.
 * The plaintext schemes ({PLAIN}, {CLEAR}, {CLEARTEXT}, {PLAIN-TRUNC})
 * are refused with an error naming the scheme: a server that keeps
 * plaintext passwords loses all of them to one read of its data.  Other
 * Dovecot schemes (salted SHA, PBKDF2, SCRAM, ...) are errors too; their
 * users need a new password.  XXX {SSHA512}/{PBKDF2} would let more
 * imports keep their passwords; add them with OpenSSL if users ask.
 *
 * Bounded work: a hash from an import file must not let one login attempt
 * take the server down, so cost parameters are checked before any work
 * (struct password_limits; defaults below, about 4 s of one core at worst).
 *
 * New hashes: PASSWORD_SCHEME_ARGON2ID by default,
 *   "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$<16-byte salt>$<32-byte hash>"
 * (64 MiB, 3 passes, 1 lane: RFC 9106's second recommended option with
 * one lane, above OWASP's minimum of 19 MiB/2 passes; about 0.2 s).
 * Argon2id over yescrypt because Dovecot, libsodium and most languages
 * verify it, so our hashes export as easily as Dovecot's import.
 * PASSWORD_SCHEME_YESCRYPT gives "{CRYPT}$y$j9T$<salt>$<hash>"
 * (libxcrypt's default cost: 16 MiB): always with the {CRYPT} prefix, the
 * form Dovecot reads back.
 *
 * Passwords are bytes (UTF-8 in practice, not normalised); pwlen bytes at
 * most PASSWORD_LEN_MAX, and no NUL byte (crypt(3) would stop there).
 * Comparisons are constant-time.  All calls are thread-safe and block for
 * the time of one hash: workers only, never an I/O thread.
 *
 * Errors: *error_r is static text, or text in a per-thread buffer valid
 * until the next password_* call in the same thread.  It never quotes the
 * stored hash beyond a sanitised scheme name, nor the password.
 */
#ifndef POSTERN_PASSWORD_H
#define POSTERN_PASSWORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

#define PASSWORD_LEN_MAX 1024		/* bytes of a password */
#define PASSWORD_STORED_MAX 512		/* bytes of a stored hash */

/* what password_hash() makes */
#define PASSWORD_ARGON2_M_KIB 65536	/* memory, KiB (64 MiB) */
#define PASSWORD_ARGON2_T 3		/* passes */
#define PASSWORD_ARGON2_P 1		/* lanes (and threads) */
#define PASSWORD_ARGON2_SALT_LEN 16	/* bytes, from RAND_bytes */
#define PASSWORD_ARGON2_HASH_LEN 32	/* bytes */
#define PASSWORD_YESCRYPT_COST 5	/* crypt_gensalt count: "j9T" 16 MiB */

enum password_scheme {
	PASSWORD_SCHEME_ARGON2ID,
	PASSWORD_SCHEME_YESCRYPT,
};
#define PASSWORD_SCHEME_DEFAULT PASSWORD_SCHEME_ARGON2ID

/*
 * Work limits for a stored hash, checked before hashing; a hash over them
 * is an error, not a mismatch.  "Memory" is what one attempt allocates;
 * "work" is memory times passes, a stand-in for time.
 */
struct password_limits {
	uint64_t sha_rounds_max;	/* $5$/$6$ rounds= (5000 if absent) */
	unsigned bcrypt_cost_max;	/* $2?$ log2 of the rounds */
	uint64_t mem_max;		/* bytes: argon2 1 KiB x m, yescrypt
					 * 128 r max(N, p) */
	uint64_t work_max;		/* bytes x passes */
	uint32_t passes_max;		/* argon2 t, yescrypt t + 1 */
	uint32_t lanes_max;		/* argon2 p (threads), yescrypt p */
};

/*
 * The defaults: sha rounds 10,000,000 (about 3.5 s; passlib's 656,000 and
 * Dovecot's 5,000 well inside); bcrypt cost 16 (about 4 s); memory 1 GiB
 * (libsodium's SENSITIVE, libxcrypt's largest yescrypt cost); work
 * 4 GiB x pass (1 GiB x 4 passes, about 5 s); 100 passes; 16 lanes.
 */
extern const struct password_limits password_limits_default;

/*
 * password_is_valid - pwlen <= PASSWORD_LEN_MAX and no NUL byte: what
 * password_verify() and password_hash() accept.  A caller checks a
 * client's password with it first, so that a bad one is a failed login
 * rather than an error about the stored hash.
 */
bool password_is_valid(const char *password, size_t pwlen);

/*
 * password_verify - does password match the stored hash?  0 with *ok_r
 * true or false; -1 with *ok_r false and *error_r when the stored hash is
 * unusable (unknown or plaintext scheme, malformed, over the limits) or
 * the password is (NUL byte, over PASSWORD_LEN_MAX), or on a library
 * failure.  Never "ok" on any error.
 */
int password_verify(const char *stored, const char *password, size_t pwlen,
    bool *ok_r, const char **error_r) WARN_UNUSED;
/* password_verify_limits - the same with the caller's work limits */
int password_verify_limits(const char *stored, const char *password,
    size_t pwlen, const struct password_limits *lim, bool *ok_r,
    const char **error_r) WARN_UNUSED;

/*
 * password_hash - append a new stored hash of password (fresh salt) to
 * out.  -1 with *error_r (out unchanged) for a password with a NUL byte,
 * an empty one or one over PASSWORD_LEN_MAX, when out's max would be
 * passed, or on a library failure.
 */
int password_hash(enum password_scheme scheme, const char *password,
    size_t pwlen, struct buf *out, const char **error_r) WARN_UNUSED;

/*
 * password_needs_rehash - true unless stored is argon2id with at least
 * our parameters, or yescrypt ($y$) with at least libxcrypt's default
 * memory: call after a successful login and store password_hash() of the
 * password just verified.  True for anything it cannot parse.
 */
bool password_needs_rehash(const char *stored);

#endif
