/*
 * password_test.c - directory/password.h: known-answer vectors for every
 * scheme (right and wrong password, prefix and bare forms, scheme-name
 * case), refusals (unknown and plaintext schemes, malformed hashes, cost
 * over the limits, bad passwords), hash -> verify round trips, salts, and
 * password_needs_rehash.  No timing assertions: the constant-time compare
 * is a property of the code, not something a unit test can measure.
 *
 * Provenance of the vectors (made once, at test-writing time, with tools
 * independent of this module; none of them is needed to run the test):
 *   DOVECOT  Dovecot 2.3.19.1 (Debian 12), `doveadm pw -s SCHEME -p secret`
 *            (-r ROUNDS where noted): what a passwd-file import holds.
 *   OPENSSL  OpenSSL 3.0 `openssl passwd -6|-5|-1 -salt saltsalt secret`,
 *            OpenSSL's own SHA-crypt / MD5-crypt code.
 *   HTPASSWD Apache 2.4 `htpasswd -bnBC COST "" PASSWORD`, APR's bcrypt.
 *   MKPASSWD whois 5.5.17 `mkpasswd -m METHOD [-R N] [-S SALT] secret`
 *            (libxcrypt 4.4.33, the library under test: used only for
 *            methods no other tool here makes: DES, $2a$/$2b$, yescrypt,
 *            gost-yescrypt, scrypt).
 *   YESCRYPT the yescrypt reference implementation's TESTS-OK (openwall),
 *            password "pleaseletmein".
 *   ARGON2   the argon2 reference CLI (Debian package argon2 0~20171227)
 *            `echo -n PASSWORD | argon2 SALT -id|-i -t T -m LOG2M -p P -e`;
 *            README vector: password "password", salt "somesalt".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "directory/password.h"

/* DOVECOT */
#define DC_SHA512 "{SHA512-CRYPT}$6$fPbVo.x2CgoWMcIW$evNV7pcVSKFGIqPRCg7KtL" \
	"GXfPuSgBiFamqaz7.KCgAPSyEb335YSdaz2mF4Xe69KQ6icd7rBmmr4mAW35QNT/"
#define DC_SHA512_R "{SHA512-CRYPT}$6$rounds=10000$33MZZsfW7th8tDeW$yVfQ9W" \
	"QszFpyPovIXMzcJpJ5cWiSfAhW0/ij1fpjzzBQf4dxfwRaJL5yldEqQSUfkMjuBy/Zy" \
	"fiMnN.s7cnQp1"
/* password "pässwörd €" in UTF-8 */
#define DC_SHA512_UTF8 "{SHA512-CRYPT}$6$XH9mzkztMp9SiCel$gHmEsiR3SwM/JtNGW" \
	"nMwR4w0zRJV7hzIwF.2UQnPP94PbsCIfvTGQpG0VXQAJ646M7f7aYzJflvy.UWmCyEQu/"
#define PW_UTF8 "p\xc3\xa4ssw\xc3\xb6rd \xe2\x82\xac"
#define DC_SHA256 "{SHA256-CRYPT}$5$uZs.3doCFX9LT.Vx$nLDkZTxVtFK7ZwKXbZaWZo" \
	"neyHzUuH3IOm5NQ5d6ps."
#define DC_MD5 "{MD5-CRYPT}$1$lcdmsbn3$5iaj0ydLIPeA9DEo2PBra1"
#define DC_BLF5 "{BLF-CRYPT}$2y$05$pHCNPhoUjFCwx4Lu6RMb6eRQczuG7gR4WSWQb3v0" \
	"4CnBF4BnxGPXK"
#define DC_BLF4 "{BLF-CRYPT}$2y$04$.IXC1KFrRMnrPEZebVNlTurZ6cRNCf5djxNUuR5u" \
	"dqoFmOWn3Qr1u"
#define DC_CRYPT "{CRYPT}$2y$05$X0B04L1it2sMZ8rHzoqICOA1SdEgnnxMBZsTdJf1BW4" \
	"WIL87.bTyO"
#define DC_ARGON2ID "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$1bD0ASVnqosZd" \
	"2jqb5Ca9Q$oWQ3yYacj3DAKAdnTXUn7L19P5ZAyx4kSR1JeI3oaQo"
#define DC_ARGON2I "{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$MCEwlNUVP9MLCzYz" \
	"GwBQpA$bZY7mfTyQyKGYmdivpqAc32ReJoaoOAhVaq2V8G71Ww"

/* OPENSSL */
#define OS_SHA512 "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U" \
	"0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91p5hVO1"
#define OS_SHA256 "$5$saltsalt$0IyaXrmV7.sGNS6tirgqHLqX/G.FBvgkYA.lpPdS5sA"
#define OS_MD5 "$1$saltsalt$9xy1btjgzLYfb7hivXtC//"

/* HTPASSWD: -C 4 "secret", and -C 5 "pässwörd"; the $2a$/$2b$ forms are
 * the same hash under the other prefixes (equal for ASCII passwords) */
#define HT_BODY "$04$IjzL2FUHN359IbsoPVqLV.TLhB3LDll.9a96XUZBSCQP0t77Qp/KW"
#define HT_BLF_UTF8 "$2y$05$BdqsNnvfp27P2vbAnhj79uqcVmXYT0N2xVy1Qu/k2r61PcC5" \
	"GN1X6"

/* MKPASSWD */
#define MK_BCRYPT_B "$2b$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4" \
	"Hjl0a"
#define MK_BCRYPT_A "$2a$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4" \
	"Hjl0a"
#define MK_DES "abNANd1rDfiNc"
#define MK_SHA512_R1000 "$6$rounds=1000$saltsalt$LAV5VE5Y7w1d73x1mFNspYWUpaz" \
	"fmwv2SoepNXNKJ/otop/Zok96Hr8Q13LEv0DRY/x8v0/crpIjl8NJSAqXV/"
#define MK_YESCRYPT "$y$j9T$FP7bFRnEeXOT1ljOBxF4y1$gKO4kG50lrn1gXAs6MGnau/6k" \
	"8OCKCp2p.5JHZaWTbD"
/* -R 1: N 1024, r 8 (1 MiB); -R 3: 4 MiB */
#define MK_YESCRYPT_R1 "$y$j75$5s.3tBLGR56WcVHDvTGTX.$DyegkHwKCdJXGvbodN2kov" \
	"SKI8F.e694Dbz5sA0/O72"
#define MK_YESCRYPT_R3 "$y$j7T$zQh8PbIPsmCFj3NqSKwrV.$hGiMFdMoyLUexmx2GJvaxw" \
	"bEDMIcKTPRCwRpg8REYjC"
#define MK_GOST "$gy$j9T$t.QNSO0WeaQzTlGOHHTzq.$TJGlcdqfXXGOhLFgl0HklP44Idpz" \
	"eXYC/Z9q4WTIrTB"
#define MK_SCRYPT "$7$CU..../....SB/w5fEpjYiF6HqScEgwU1$gaC2ff/gQsG1pCdw/ZP" \
	"rCD7X6FbKF/6v5aiKOgAKoW5"

/* YESCRYPT: N 65536, r 8, p 11; and classic scrypt N 16384, r 8, p 1 */
#define YE_JD57 "$y$jD5.7$LdJMENpBABJJ3hIHjB1Bi.$HboGM6qPrsK.StKYGt6KErmUYt" \
	"ioHreJd98oIugoNB6"
#define YE_SCRYPT "$7$C6..../....SodiumChloride$kBGj9fHznVYFQMEn/qDCfrDevf9" \
	"YDtcDdKvEqHJLV8D"

/* ARGON2 */
#define A2_README "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub" \
	"+b+dWRWJTmaaJObG"
#define A2_ID "$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$LcBKbTcQtxTjD" \
	"10CS0pJKNMjiKPLwxdtPSUUFItPFIg"
#define A2_ID_SMALL "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$WHwbVkQ5XzA" \
	"Maltcqwxy+X9v0VxYTVTjS9BRTrowawM"
#define A2_I_4096 "$argon2i$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$qOCkx9nMeFl" \
	"aGOO4DUmPDgrlUbgMMuO9T1+vQCFuyzw"

struct vcase {
	const char *name, *stored, *password;
	int rc;			/* 0 or -1 */
	bool ok;		/* when rc == 0 */
	const char *err;	/* substring of the error, rc == -1 */
};

static void
run_cases(const struct vcase *c, size_t n, const struct password_limits *lim)
{
	for (size_t i = 0; i < n; i++) {
		const char *error = NULL;
		bool ok = true;
		int rc;

		rc = lim == NULL ?
		    password_verify(c[i].stored, c[i].password,
		    strlen(c[i].password), &ok, &error) :
		    password_verify_limits(c[i].stored, c[i].password,
		    strlen(c[i].password), lim, &ok, &error);
		if (rc != c[i].rc || (rc == 0 && ok != c[i].ok) ||
		    (rc < 0 && (ok || error == NULL ||
		    strstr(error, c[i].err) == NULL))) {
			print_error("case \"%s\": rc %d ok %d error \"%s\"\n",
			    c[i].name, rc, ok, error != NULL ? error : "");
			fail();
		}
	}
}

static void
test_vectors(void **state)
{
	static const struct vcase cases[] = {
		{ "dovecot sha512", DC_SHA512, "secret", 0, true, NULL },
		{ "dovecot sha512 wrong", DC_SHA512, "Secret", 0, false, NULL },
		{ "dovecot sha512 empty pw", DC_SHA512, "", 0, false, NULL },
		{ "dovecot sha512 rounds", DC_SHA512_R, "secret", 0, true,
		    NULL },
		{ "dovecot sha512 rounds wrong", DC_SHA512_R, "secreT", 0,
		    false, NULL },
		{ "dovecot sha512 utf-8", DC_SHA512_UTF8, PW_UTF8, 0, true,
		    NULL },
		{ "dovecot sha512 utf-8 nfd", DC_SHA512_UTF8,
		    "pa\xcc\x88ssw\xc3\xb6rd \xe2\x82\xac", 0, false, NULL },
		{ "dovecot sha256", DC_SHA256, "secret", 0, true, NULL },
		{ "dovecot sha256 wrong", DC_SHA256, "secret2", 0, false,
		    NULL },
		{ "dovecot md5", DC_MD5, "secret", 0, true, NULL },
		{ "dovecot md5 wrong", DC_MD5, "secre", 0, false, NULL },
		{ "dovecot blf 5", DC_BLF5, "secret", 0, true, NULL },
		{ "dovecot blf 5 wrong", DC_BLF5, "secret ", 0, false, NULL },
		{ "dovecot blf 4", DC_BLF4, "secret", 0, true, NULL },
		{ "dovecot crypt", DC_CRYPT, "secret", 0, true, NULL },
		{ "dovecot crypt wrong", DC_CRYPT, "x", 0, false, NULL },
		{ "dovecot argon2id", DC_ARGON2ID, "secret", 0, true, NULL },
		{ "dovecot argon2id wrong", DC_ARGON2ID, "secrets", 0, false,
		    NULL },
		{ "dovecot argon2i", DC_ARGON2I, "secret", 0, true, NULL },
		{ "dovecot argon2i wrong", DC_ARGON2I, "", 0, false, NULL },

		{ "openssl sha512 bare", OS_SHA512, "secret", 0, true, NULL },
		{ "openssl sha512 crypt", "{CRYPT}" OS_SHA512, "secret", 0,
		    true, NULL },
		{ "openssl sha512 wrong", OS_SHA512, "secret\n", 0, false,
		    NULL },
		{ "openssl sha256 bare", OS_SHA256, "secret", 0, true, NULL },
		{ "openssl sha256 prefix", "{SHA256-CRYPT}" OS_SHA256,
		    "secret", 0, true, NULL },
		{ "openssl md5 bare", OS_MD5, "secret", 0, true, NULL },
		{ "openssl md5 wrong", "{MD5-CRYPT}" OS_MD5, "SECRET", 0,
		    false, NULL },

		{ "htpasswd 2y", "$2y" HT_BODY, "secret", 0, true, NULL },
		{ "htpasswd 2b", "$2b" HT_BODY, "secret", 0, true, NULL },
		{ "htpasswd 2a", "{BLF-CRYPT}$2a" HT_BODY, "secret", 0, true,
		    NULL },
		{ "htpasswd 2b wrong", "{CRYPT}$2b" HT_BODY, "secret!", 0,
		    false, NULL },
		{ "htpasswd utf-8", HT_BLF_UTF8, "p\xc3\xa4ssw\xc3\xb6rd", 0,
		    true, NULL },
		{ "htpasswd utf-8 latin-1", HT_BLF_UTF8, "p\xe4ssw\xf6rd", 0,
		    false, NULL },

		{ "mkpasswd 2b", MK_BCRYPT_B, "secret", 0, true, NULL },
		{ "mkpasswd 2a", "{BLF-CRYPT}" MK_BCRYPT_A, "secret", 0, true,
		    NULL },
		{ "mkpasswd des crypt", "{CRYPT}" MK_DES, "secret", 0, true,
		    NULL },
		{ "mkpasswd des des-crypt", "{DES-CRYPT}" MK_DES, "secret", 0,
		    true, NULL },
		{ "mkpasswd des wrong", "{CRYPT}" MK_DES, "secreT", 0, false,
		    NULL },
		{ "mkpasswd sha512 r1000", MK_SHA512_R1000, "secret", 0, true,
		    NULL },
		{ "mkpasswd yescrypt bare", MK_YESCRYPT, "secret", 0, true,
		    NULL },
		{ "mkpasswd yescrypt crypt", "{CRYPT}" MK_YESCRYPT, "secret",
		    0, true, NULL },
		{ "mkpasswd yescrypt wrong", "{CRYPT}" MK_YESCRYPT, "secret1",
		    0, false, NULL },
		{ "mkpasswd yescrypt R1", MK_YESCRYPT_R1, "secret", 0, true,
		    NULL },
		{ "mkpasswd gost-yescrypt", "{CRYPT}" MK_GOST, "secret", 0,
		    true, NULL },
		{ "mkpasswd gost-yescrypt wrong", MK_GOST, "secreu", 0, false,
		    NULL },
		{ "mkpasswd scrypt", MK_SCRYPT, "secret", 0, true, NULL },
		{ "mkpasswd scrypt wrong", "{CRYPT}" MK_SCRYPT, "", 0, false,
		    NULL },

		{ "yescrypt ref p=11", YE_JD57, "pleaseletmein", 0, true,
		    NULL },
		{ "yescrypt ref p=11 wrong", YE_JD57, "pleaseletmeout", 0,
		    false, NULL },
		{ "yescrypt ref scrypt", "{CRYPT}" YE_SCRYPT, "pleaseletmein",
		    0, true, NULL },

		{ "argon2 readme", A2_README, "password", 0, true, NULL },
		{ "argon2 readme prefix", "{ARGON2I}" A2_README, "password",
		    0, true, NULL },
		{ "argon2 readme wrong", A2_README, "passwore", 0, false,
		    NULL },
		{ "argon2id cli", A2_ID, "secret", 0, true, NULL },
		{ "argon2id cli prefix", "{ARGON2ID}" A2_ID, "secret", 0, true,
		    NULL },
		{ "argon2id cli wrong", A2_ID, "secret\t", 0, false, NULL },
		{ "argon2id small", A2_ID_SMALL, "secret", 0, true, NULL },
		{ "argon2i 4096", A2_I_4096, "secret", 0, true, NULL },
	};

	run_cases(cases, ARRAY_SIZE(cases), NULL);
}

/* scheme names are case-insensitive, as in Dovecot */
static void
test_scheme_case(void **state)
{
	static const struct vcase cases[] = {
		{ "lower", "{sha512-crypt}" OS_SHA512, "secret", 0, true,
		    NULL },
		{ "mixed", "{Sha512-Crypt}" OS_SHA512, "secret", 0, true,
		    NULL },
		{ "blf lower", "{blf-crypt}$2y" HT_BODY, "secret", 0, true,
		    NULL },
		{ "crypt lower", "{crypt}" MK_YESCRYPT, "secret", 0, true,
		    NULL },
		{ "argon2id lower", "{argon2id}" A2_ID_SMALL, "secret", 0,
		    true, NULL },
		{ "plain lower", "{plain}secret", "secret", -1, false,
		    "plaintext password scheme PLAIN refused" },
	};

	run_cases(cases, ARRAY_SIZE(cases), NULL);
}

static void
test_refused(void **state)
{
	static const struct vcase cases[] = {
		{ "unknown", "{FOO}$6$x", "secret", -1, false,
		    "unknown password scheme FOO" },
		{ "unknown junk name", "{F\x01O O}x", "secret", -1, false,
		    "unknown password scheme F?O?O" },
		{ "unknown long name",
		    "{AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA}x", "x", -1,
		    false, "unknown password scheme AAAAAAAAAAAAAAAAAAAAAAAAAA"
		    "AAAAAA..." },
		{ "plain", "{PLAIN}secret", "secret", -1, false,
		    "plaintext password scheme PLAIN refused" },
		{ "cleartext", "{CLEARTEXT}secret", "secret", -1, false,
		    "plaintext password scheme CLEARTEXT refused" },
		{ "clear", "{CLEAR}secret", "secret", -1, false,
		    "plaintext password scheme CLEAR refused" },
		{ "plain-trunc", "{PLAIN-TRUNC}6-secret", "secret", -1, false,
		    "plaintext password scheme PLAIN-TRUNC refused" },
		{ "ssha512", "{SSHA512}aGFzaA==", "secret", -1, false,
		    "unsupported password scheme SSHA512 refused" },
		{ "bare plaintext", "secret", "secret", -1, false,
		    "unknown password scheme (no {SCHEME} prefix)" },
		{ "bare des", MK_DES, "secret", -1, false,
		    "no {SCHEME} prefix" },
		{ "bare $2x$", "$2x$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixK"
		    "mWdcYUh4Hjl0a", "secret", -1, false, "no {SCHEME}" },
		{ "crypt $2x$", "{CRYPT}$2x$05$abcdefghijklmnopqrstuuOQiyCxlgf"
		    "/oeuTqixKmWdcYUh4Hjl0a", "secret", -1, false,
		    "not a valid CRYPT hash" },
		{ "crypt sunmd5", "{CRYPT}$md5,rounds=4294967295$abc$",
		    "secret", -1, false, "not a valid CRYPT hash" },
		{ "crypt bsdi", "{CRYPT}_zzzzsaltHASHHASHHAS", "secret", -1,
		    false, "not a valid CRYPT hash" },
		{ "crypt nt", "{CRYPT}$3$$8846f7eaee8fb117ad06bdd830b7586c",
		    "password", -1, false, "not a valid CRYPT hash" },
		{ "scheme/hash mismatch", "{SHA512-CRYPT}" OS_SHA256, "secret",
		    -1, false, "not a valid SHA512-CRYPT hash" },
		{ "blf holding sha512", "{BLF-CRYPT}" OS_SHA512, "secret", -1,
		    false, "not a valid BLF-CRYPT hash" },
		{ "argon2i holding argon2id", "{ARGON2I}" A2_ID_SMALL,
		    "secret", -1, false, "not a valid ARGON2I hash" },
		{ "argon2id holding argon2i", "{ARGON2ID}" A2_I_4096,
		    "secret", -1, false, "not a valid ARGON2ID hash" },
		{ "des-crypt holding md5", "{DES-CRYPT}" OS_MD5, "secret", -1,
		    false, "not a valid DES-CRYPT hash" },
		{ "argon2d", "$argon2d$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$WHwbV"
		    "kQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM", "secret", -1,
		    false, "no {SCHEME}" },
	};

	run_cases(cases, ARRAY_SIZE(cases), NULL);
}

static void
test_malformed(void **state)
{
	static char longest[PASSWORD_STORED_MAX + 2];
	static const struct vcase cases[] = {
		{ "empty", "", "secret", -1, false, "empty stored hash" },
		{ "prefix only", "{SHA512-CRYPT}", "secret", -1, false,
		    "not a valid SHA512-CRYPT hash" },
		{ "unterminated prefix", "{SHA512-CRYPT$6$abc", "secret", -1,
		    false, "malformed {SCHEME} prefix" },
		{ "empty prefix", "{}" OS_SHA512, "secret", -1, false,
		    "malformed {SCHEME} prefix" },
		{ "sha512 truncated", "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRst",
		    "secret", -1, false, "wrong length" },
		{ "sha512 setting only", "$6$saltsalt$", "secret", -1, false,
		    "wrong length" },
		{ "sha512 bare id", "$6$", "secret", -1, false,
		    "wrong length" },
		{ "sha512 extra byte", OS_SHA512 "x", "secret", -1, false,
		    "wrong length" },
		{ "sha512 salt too long (libxcrypt cuts it at 16)",
		    "$6$saltsaltsaltsaltXX$ph0yGsyjzqdeFaon7.gJZo8eAG5/rj9/JdzO"
		    "u1Rl7dKzBYg3xgvl7T2VQ2Rt81bc5AXkdA54r0p8QvC1omD6R1",
		    "secret", -1, false, "wrong length" },
		{ "sha512 one char off", "$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6g"
		    "RstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT0Y77vwPZN.Pq.H91"
		    "p5hVO2", "secret", 0, false, NULL },
		{ "sha512 rounds junk", "$6$rounds=1x00$saltsalt$abc", "secret",
		    -1, false, "malformed rounds=" },
		{ "sha512 rounds leading zero", "$6$rounds=01000$saltsalt$abc",
		    "secret", -1, false, "malformed rounds=" },
		{ "sha512 rounds empty", "$6$rounds=$saltsalt$abc", "secret",
		    -1, false, "malformed rounds=" },
		{ "sha512 rounds under 1000", "$6$rounds=999$saltsalt$LAV5VE5Y"
		    "7w1d73x1mFNspYWUpazfmwv2SoepNXNKJ/otop/Zok96Hr8Q13LEv0DRY/"
		    "x8v0/crpIjl8NJSAqXV/", "secret", -1, false,
		    "refused by crypt" },
		{ "bcrypt setting only", "$2b$05$abcdefghijklmnopqrstuu",
		    "secret", -1, false, "wrong length" },
		{ "bcrypt short", "$2b$05$abc", "secret", -1, false,
		    "refused by crypt" },
		{ "bcrypt one-digit cost", "$2b$5$abcdefghijklmnopqrstuuOQiyC"
		    "xlgf/oeuTqixKmWdcYUh4Hjl0a", "secret", -1, false,
		    "malformed bcrypt cost" },
		{ "bcrypt bare id", "$2b$", "secret", -1, false,
		    "malformed bcrypt cost" },
		{ "bcrypt cost 03", "$2b$03$abcdefghijklmnopqrstuuOQiyCxlgf/oe"
		    "uTqixKmWdcYUh4Hjl0a", "secret", -1, false,
		    "refused by crypt" },
		{ "md5 truncated", "$1$saltsalt$9xy1btjgzLYfb7h", "secret", -1,
		    false, "wrong length" },
		{ "des too short", "{CRYPT}abNANd1rDfiN", "secret", -1, false,
		    "not a valid CRYPT hash" },
		{ "des bad char", "{DES-CRYPT}abNANd1rDfi!c", "secret", -1,
		    false, "not a valid DES-CRYPT hash" },
		{ "yescrypt bare id", "$y$", "secret", -1, false,
		    "malformed yescrypt parameters" },
		{ "yescrypt no salt", "$y$j9T", "secret", -1, false,
		    "malformed yescrypt parameters" },
		{ "yescrypt bad param char", "$y$j9!$abc$def", "secret", -1,
		    false, "malformed yescrypt parameters" },
		{ "yescrypt bad flavor", "$y$zzzzzz9T$abc$def", "secret", -1,
		    false, "malformed yescrypt parameters" },
		{ "yescrypt setting only", "$y$j9T$FP7bFRnEeXOT1ljOBxF4y1",
		    "secret", -1, false, "wrong length" },
		{ "yescrypt truncated", "$y$j9T$FP7bFRnEeXOT1ljOBxF4y1$gKO4kG",
		    "secret", -1, false, "wrong length" },
		{ "yescrypt upgrades", "$y$j9T1.$saltsalt$abc", "secret", -1,
		    false, "ROM or upgrades" },
		{ "yescrypt rom", "$y$j9T5.$saltsalt$abc", "secret", -1,
		    false, "ROM or upgrades" },
		{ "scrypt short", "$7$C6../", "secret", -1, false,
		    "malformed yescrypt parameters" },
		{ "scrypt N_log2 0", "$7$.6..../....salt$abc", "secret", -1,
		    false, "malformed yescrypt parameters" },
		{ "argon2 no params", "$argon2id$", "secret", -1, false,
		    "malformed argon2 parameters" },
		{ "argon2 junk", "$argon2id$garbage", "secret", -1, false,
		    "malformed argon2 parameters" },
		{ "argon2 leading zero", "$argon2id$v=19$m=08,t=1,p=1$c2FsdHNh"
		    "bHRzYWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM",
		    "secret", -1, false, "malformed argon2 parameters" },
		{ "argon2 m over u32", "$argon2id$v=19$m=4294967296,t=1,p=1$c2F"
		    "sdHNhbHRzYWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM",
		    "secret", -1, false, "malformed argon2 parameters" },
		{ "argon2 no hash", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHRzYW"
		    "x0", "secret", -1, false, "argon2: " },
		/* argon2's output length is the stored one: 31 bytes here,
		 * a different hash, so a mismatch */
		{ "argon2 truncated hash", "$argon2id$v=19$m=8,t=1,p=1$c2FsdHN"
		    "hbHRzYWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowaw",
		    "secret", 0, false, NULL },
		{ "argon2 salt too short", "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$"
		    "WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM", "secret", -1,
		    false, "argon2: " },
		{ "argon2 t=0", "$argon2id$v=19$m=8,t=0,p=1$c2FsdHNhbHRzYWx0$W"
		    "HwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM", "secret", -1,
		    false, "argon2: " },
		{ "argon2 m under 8p", "$argon2id$v=19$m=8,t=1,p=2$c2FsdHNhbHRz"
		    "YWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM", "secret",
		    -1, false, "argon2: " },
		{ "argon2 version 17", "$argon2id$v=17$m=8,t=1,p=1$c2FsdHNhbHRz"
		    "YWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM", "secret",
		    -1, false, "malformed argon2 parameters" },
		{ "argon2 trailing junk", A2_ID_SMALL "$x", "secret", -1, false,
		    "argon2: " },
		{ "argon2 one char off (mismatch, not error)", "$argon2id$v=19"
		    "$m=8,t=1,p=1$c2FsdHNhbHRzYWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxY"
		    "TVTjS9BRTrowawA", "secret", 0, false, NULL },
		{ "too long", longest, "secret", -1, false,
		    "longer than 512 bytes" },
	};

	memset(longest, 'x', sizeof(longest) - 1);
	memcpy(longest, "$6$", 3);
	run_cases(cases, ARRAY_SIZE(cases), NULL);
}

/* cost parameters over the defaults: refused before any work */
static void
test_limits_default(void **state)
{
	static const struct vcase cases[] = {
		{ "bcrypt 17", "$2b$17$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixK"
		    "mWdcYUh4Hjl0a", "secret", -1, false, "bcrypt cost" },
		{ "bcrypt 31", "{BLF-CRYPT}$2y$31$abcdefghijklmnopqrstuuOQiyCx"
		    "lgf/oeuTqixKmWdcYUh4Hjl0a", "secret", -1, false,
		    "bcrypt cost" },
		{ "sha512 rounds 10000001", "$6$rounds=10000001$saltsalt$x",
		    "secret", -1, false, "more rounds than allowed" },
		{ "sha512 rounds 999999999", "{SHA512-CRYPT}$6$rounds=99999999"
		    "9$saltsalt$x", "secret", -1, false, "more rounds" },
		{ "sha256 rounds huge", "$5$rounds=18446744073709551615$s$x",
		    "secret", -1, false, "more rounds" },
		{ "sha256 rounds overflow", "$5$rounds=18446744073709551616$s$x",
		    "secret", -1, false, "malformed rounds=" },
		{ "argon2 m 1 GiB + 1 KiB", "$argon2id$v=19$m=1048577,t=1,p=1$"
		    "c2FsdHNhbHRzYWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowa"
		    "wM", "secret", -1, false, "more memory" },
		{ "argon2 m u32 max", "$argon2id$v=19$m=4294967295,t=1,p=1$c2Fs"
		    "dHNhbHRzYWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM",
		    "secret", -1, false, "more memory" },
		{ "argon2 t 101", "$argon2id$v=19$m=8,t=101,p=1$c2FsdHNhbHRzYW"
		    "x0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM", "secret",
		    -1, false, "more passes" },
		{ "argon2 p 17", "$argon2id$v=19$m=1024,t=1,p=17$c2FsdHNhbHRzY"
		    "Wx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM", "secret",
		    -1, false, "more lanes" },
		{ "argon2 1 GiB x 5 passes", "$argon2i$v=19$m=1048576,t=5,p=1$"
		    "c2FsdHNhbHRzYWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowa"
		    "wM", "secret", -1, false, "more work" },
		{ "argon2 64 MiB x 65 passes", "$argon2id$v=19$m=65536,t=65,p="
		    "1$c2FsdHNhbHRzYWx0$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTro"
		    "wawM", "secret", -1, false, "more work" },
		{ "yescrypt 2 GiB", "$y$jGT$saltsalt$wt1xT4rkhzFqXxdC1thkZZyhD"
		    "kGLs46o6b6ap9zBCzC", "secret", -1, false, "more memory" },
		{ "yescrypt N 2^63", "$y$jzzzzzzT$saltsalt$x", "secret", -1,
		    false, "malformed yescrypt" },
		{ "yescrypt huge r", "$y$j/zzzzzz$saltsalt$x", "secret", -1,
		    false, "more memory" },
		{ "yescrypt p 100", "$y$jD5.km$saltsalt$x", "secret", -1,
		    false, "more lanes" },
		{ "yescrypt t 200", "$y$j9T/mL$saltsalt$x", "secret", -1,
		    false, "more passes" },
		{ "gost-yescrypt 2 GiB", "{CRYPT}$gy$jGT$saltsalt$x", "secret",
		    -1, false, "more memory" },
		{ "scrypt 2^40", "$7$c6..../....salt$x", "secret", -1, false,
		    "more memory" },
		{ "scrypt p 2^30-1", "$7$C6....zzzzzsalt$x", "secret", -1,
		    false, "more memory" },
		{ "scrypt p 17", "$7$C6....F....salt$x", "secret", -1, false,
		    "more lanes" },
		{ "scrypt 1 GiB x 16 lanes", "$7$I6....E....salt$x", "secret",
		    -1, false, "more work" },
	};

	run_cases(cases, ARRAY_SIZE(cases), NULL);
}

/* caller's limits: exactly at the limit passes, one over is refused */
static void
test_limits_custom(void **state)
{
	static const struct password_limits lim = {
		.sha_rounds_max = 1000,
		.bcrypt_cost_max = 4,
		.mem_max = 4096 * 1024,		/* 4 MiB */
		.work_max = 8192 * 1024,
		.passes_max = 3,
		.lanes_max = 1,
	};
	static const struct vcase cases[] = {
		{ "sha512 rounds=1000", MK_SHA512_R1000, "secret", 0, true,
		    NULL },
		{ "sha512 default 5000", OS_SHA512, "secret", -1, false,
		    "more rounds" },
		{ "sha256 default 5000", OS_SHA256, "secret", -1, false,
		    "more rounds" },
		{ "md5 (fixed cost)", OS_MD5, "secret", 0, true, NULL },
		{ "bcrypt 04", DC_BLF4, "secret", 0, true, NULL },
		{ "bcrypt 05", DC_BLF5, "secret", -1, false, "bcrypt cost" },
		{ "argon2i 4 MiB x 3", A2_I_4096, "secret", -1, false,
		    "more work" },
		{ "argon2id 8 KiB", A2_ID_SMALL, "secret", 0, true, NULL },
		{ "argon2id 64 MiB", A2_ID, "secret", -1, false,
		    "more memory" },
		{ "argon2i p=4", "$argon2i$v=19$m=64,t=2,p=4$c29tZXNhbHQ$Rdes"
		    "cudvJCsgt3ub+b+dWRWJTmaaJObG", "password", -1, false,
		    "more lanes" },
		{ "argon2id t=4", "$argon2id$v=19$m=8,t=4,p=1$c2FsdHNhbHRzYWx0"
		    "$WHwbVkQ5XzAMaltcqwxy+X9v0VxYTVTjS9BRTrowawM", "secret",
		    -1, false, "more passes" },
		{ "yescrypt 1 MiB", MK_YESCRYPT_R1, "secret", 0, true, NULL },
		{ "yescrypt 4 MiB (+ B)", MK_YESCRYPT_R3, "secret", 0, true,
		    NULL },
		{ "yescrypt 16 MiB", MK_YESCRYPT, "secret", -1, false,
		    "more memory" },
		{ "yescrypt 4 MiB x 3 passes", "$y$j7T//$salt$x", "secret", -1,
		    false, "more work" },
		{ "yescrypt t=3: 4 passes", "$y$j75/0$salt$x", "secret", -1,
		    false, "more passes" },
		{ "yescrypt p=11", YE_JD57, "pleaseletmein", -1, false,
		    "more" },
	};

	run_cases(cases, ARRAY_SIZE(cases), &lim);
}

static void
test_bad_passwords(void **state)
{
	static char big[PASSWORD_LEN_MAX + 1];
	const char *error = NULL;
	bool ok = true;

	memset(big, 'a', sizeof(big));
	assert_true(password_is_valid("secret", 6));
	assert_true(password_is_valid("", 0));
	assert_true(password_is_valid(big, PASSWORD_LEN_MAX));
	assert_false(password_is_valid(big, PASSWORD_LEN_MAX + 1));
	assert_false(password_is_valid("secret\0x", 8));
	assert_false(password_is_valid("\0", 1));
	/* NUL inside: crypt(3) would stop there, so "se" would match */
	assert_int_equal(password_verify(OS_SHA512, "secret\0x", 8, &ok,
	    &error), -1);
	assert_false(ok);
	assert_non_null(strstr(error, "NUL"));
	ok = true;
	assert_int_equal(password_verify(A2_ID_SMALL, "secret\0", 7, &ok,
	    &error), -1);
	assert_false(ok);
	ok = true;
	assert_int_equal(password_verify(OS_SHA512, big, sizeof(big), &ok,
	    &error), -1);
	assert_false(ok);
	assert_non_null(strstr(error, "longer than 1024"));
	/* exactly 1024: argon2 hashes it; crypt(3) never could: no match */
	assert_int_equal(password_verify(A2_ID_SMALL, big, PASSWORD_LEN_MAX,
	    &ok, &error), 0);
	assert_false(ok);
	assert_int_equal(password_verify(OS_SHA512, big, PASSWORD_LEN_MAX,
	    &ok, &error), 0);
	assert_false(ok);
	/* the password's own length counts, not strlen */
	assert_int_equal(password_verify(OS_SHA512, "secretXYZ", 6, &ok,
	    &error), 0);
	assert_true(ok);
	assert_int_equal(password_verify(A2_ID_SMALL, "secretXYZ", 6, &ok,
	    &error), 0);
	assert_true(ok);
	/* NULL with length 0 is the empty password */
	ok = true;
	assert_int_equal(password_verify(OS_SHA512, NULL, 0, &ok, &error), 0);
	assert_false(ok);
}

static bool
has_prefix(const struct buf *b, const char *p)
{
	return b->len >= strlen(p) && memcmp(b->data, p, strlen(p)) == 0;
}

static void
test_round_trip(void **state)
{
	static const struct {
		enum password_scheme scheme;
		const char *prefix;
		size_t len;	/* of the whole stored string */
	} schemes[] = {
		/* 16-byte salt = 22 base64 chars, 32-byte hash = 43 */
		{ PASSWORD_SCHEME_ARGON2ID,
		    "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$", 41 + 22 + 1 +
		    43 },
		{ PASSWORD_SCHEME_YESCRYPT, "{CRYPT}$y$j9T$", 14 + 22 + 1 +
		    43 },
	};
	static const char *pws[] = { "secret", PW_UTF8 "\t\r\n" };

	for (size_t i = 0; i < ARRAY_SIZE(schemes); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(pws); j++) {
			struct buf a = BUF_INIT(0), b = BUF_INIT(0);
			const char *error = NULL;
			bool ok = false;

			assert_int_equal(password_hash(schemes[i].scheme,
			    pws[j], strlen(pws[j]), &a, &error), 0);
			assert_int_equal(password_hash(schemes[i].scheme,
			    pws[j], strlen(pws[j]), &b, &error), 0);
			assert_true(has_prefix(&a, schemes[i].prefix));
			assert_int_equal(a.len, schemes[i].len);
			assert_int_equal(strlen(buf_cstr(&a)), a.len);
			/* fresh salt each time */
			assert_string_not_equal(buf_cstr(&a), buf_cstr(&b));
			assert_int_equal(password_verify(buf_cstr(&a), pws[j],
			    strlen(pws[j]), &ok, &error), 0);
			assert_true(ok);
			assert_int_equal(password_verify(buf_cstr(&b), pws[j],
			    strlen(pws[j]), &ok, &error), 0);
			assert_true(ok);
			assert_int_equal(password_verify(buf_cstr(&a), pws[j],
			    strlen(pws[j]) - 1, &ok, &error), 0);
			assert_false(ok);
			assert_int_equal(password_verify(buf_cstr(&a), "Secret",
			    6, &ok, &error), 0);
			assert_false(ok);
			assert_false(password_needs_rehash(buf_cstr(&a)));
			buf_free(&a);
			buf_free(&b);
		}
	}
}

static void
test_hash_edges(void **state)
{
	static char big[PASSWORD_LEN_MAX + 1];
	struct buf out = BUF_INIT(0), small = BUF_INIT(40);
	const char *error = NULL;
	bool ok = false;

	memset(big, 'p', sizeof(big));
	buf_add_str(&out, "keep:");
	assert_int_equal(password_hash(PASSWORD_SCHEME_ARGON2ID, "", 0, &out,
	    &error), -1);
	assert_string_equal(error, "empty password");
	assert_int_equal(password_hash(PASSWORD_SCHEME_YESCRYPT, "a\0b", 3,
	    &out, &error), -1);
	assert_non_null(strstr(error, "NUL"));
	assert_int_equal(password_hash(PASSWORD_SCHEME_ARGON2ID, big,
	    sizeof(big), &out, &error), -1);
	assert_non_null(strstr(error, "longer than 1024"));
	/* yescrypt goes through crypt(3): 511 bytes at most */
	assert_int_equal(password_hash(PASSWORD_SCHEME_YESCRYPT, big, 512,
	    &out, &error), -1);
	assert_non_null(strstr(error, "too long for yescrypt"));
	assert_string_equal(buf_cstr(&out), "keep:");
	/* appends; 1024 bytes is fine for argon2id, 511 for yescrypt */
	assert_int_equal(password_hash(PASSWORD_SCHEME_ARGON2ID, big,
	    PASSWORD_LEN_MAX, &out, &error), 0);
	assert_true(has_prefix(&out, "keep:{ARGON2ID}$argon2id$"));
	assert_int_equal(password_verify(buf_cstr(&out) + 5, big,
	    PASSWORD_LEN_MAX, &ok, &error), 0);
	assert_true(ok);
	buf_reset(&out);
	assert_int_equal(password_hash(PASSWORD_SCHEME_YESCRYPT, big, 511,
	    &out, &error), 0);
	assert_int_equal(password_verify(buf_cstr(&out), big, 511, &ok,
	    &error), 0);
	assert_true(ok);
	assert_int_equal(password_verify(buf_cstr(&out), big, 510, &ok,
	    &error), 0);
	assert_false(ok);
	/* a buffer too small: error, contents as before */
	buf_add_str(&small, "abc");
	for (int s = 0; s < 2; s++) {
		assert_int_equal(password_hash(s ? PASSWORD_SCHEME_YESCRYPT :
		    PASSWORD_SCHEME_ARGON2ID, "secret", 6, &small, &error), -1);
		assert_non_null(strstr(error, "does not fit"));
		assert_string_equal(buf_cstr(&small), "abc");
	}
	buf_free(&out);
	buf_free(&small);
}

static void
test_needs_rehash(void **state)
{
	static const struct {
		const char *stored;
		bool want;
	} cases[] = {
		{ DC_ARGON2ID, false },
		{ A2_ID, false },
		{ "{argon2id}" A2_ID, false },
		{ "$argon2id$v=19$m=131072,t=4,p=2$c2FsdHNhbHRzYWx0$x", false },
		{ "$argon2id$v=19$m=65536,t=2,p=1$c2FsdHNhbHRzYWx0$x", true },
		{ "$argon2id$v=19$m=32768,t=3,p=1$c2FsdHNhbHRzYWx0$x", true },
		{ "$argon2id$v=16$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$x", true },
		{ "$argon2id$m=65536,t=3,p=1$c2FsdHNhbHRzYWx0$x", true },
		{ A2_ID_SMALL, true },
		{ DC_ARGON2I, true },
		{ A2_README, true },
		{ MK_YESCRYPT, false },
		{ "{CRYPT}" MK_YESCRYPT, false },
		{ YE_JD57, false },		/* 64 MiB */
		{ MK_YESCRYPT_R3, true },	/* 4 MiB */
		{ MK_YESCRYPT_R1, true },
		{ MK_GOST, true },
		{ MK_SCRYPT, true },
		{ DC_SHA512, true },
		{ DC_SHA512_R, true },
		{ OS_SHA256, true },
		{ DC_MD5, true },
		{ DC_BLF5, true },
		{ DC_CRYPT, true },
		{ "{CRYPT}" MK_DES, true },
		{ "{PLAIN}secret", true },
		{ "{FOO}x", true },
		{ "secret", true },
		{ "", true },
		{ "$argon2id$junk", true },
		{ "$y$", true },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		if (password_needs_rehash(cases[i].stored) != cases[i].want) {
			print_error("case %zu \"%s\": want %d\n", i,
			    cases[i].stored, cases[i].want);
			fail();
		}
	}
}

/* the error of one call does not leak into the text of a later one */
static void
test_error_text(void **state)
{
	const char *e1 = NULL, *e2 = NULL;
	char copy[160];
	bool ok;

	assert_int_equal(password_verify("{FOO}x", "a", 1, &ok, &e1), -1);
	assert_int_equal(snprintf(copy, sizeof(copy), "%s", e1),
	    (int)strlen("unknown password scheme FOO"));
	assert_int_equal(password_verify("{PLAIN}x", "a", 1, &ok, &e2), -1);
	assert_string_equal(copy, "unknown password scheme FOO");
	assert_string_equal(e2, "plaintext password scheme PLAIN refused");
	/* the stored "hash" (maybe a plaintext password) is never quoted */
	assert_int_equal(password_verify("hunter2", "a", 1, &ok, &e1), -1);
	assert_null(strstr(e1, "hunter2"));
	assert_int_equal(password_verify("{SHA512-CRYPT}hunter2", "a", 1, &ok,
	    &e1), -1);
	assert_null(strstr(e1, "hunter2"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_scheme_case),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits_default),
		cmocka_unit_test(test_limits_custom),
		cmocka_unit_test(test_bad_passwords),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_hash_edges),
		cmocka_unit_test(test_needs_rehash),
		cmocka_unit_test(test_error_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
