/*
 * common.h - macros and small types every Postern module shares.
 *
 * PANIC/ASSERT are always on: they mark our own bugs, never peer input.
 * enum parse_res is the answer of every sans-IO parser (STYLE.md).
 */
#ifndef POSTERN_COMMON_H
#define POSTERN_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WARN_UNUSED __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN __attribute__((noreturn))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum parse_res {
	PARSE_MORE,	/* need more input */
	PARSE_OK,
	PARSE_BAD,
	PARSE_TOO_LONG,
};

NORETURN void panic_at(const char *file, int line, const char *fmt, ...)
    PRINTF_LIKE(3, 4);

#define PANIC(...) panic_at(__FILE__, __LINE__, __VA_ARGS__)
#define ASSERT(cond)                                                      \
	do {                                                              \
		if (!(cond))                                              \
			PANIC("assertion failed: %s", #cond);             \
	} while (0)

/* parse_u64 - decimal digits only, no sign, no junk, no overflow; 0/-1 */
int parse_u64(const char *s, size_t len, uint64_t max, uint64_t *val_r)
    WARN_UNUSED;

/* ascii helpers that ignore the locale; inline: tokenizers call them per
 * byte */
static inline bool
is_ascii_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
is_ascii_digit(int c)
{
	return c >= '0' && c <= '9';
}

static inline bool
is_ascii_alnum(int c)
{
	return is_ascii_alpha(c) || is_ascii_digit(c);
}

static inline int
ascii_tolower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}
/* case-insensitive compare of n bytes; 0 when equal */
int ascii_strncasecmp(const char *a, const char *b, size_t n);
/* case-insensitive equality of a length-carrying string and a C string */
bool ascii_eq_nocase(const char *a, size_t alen, const char *lit);

/* utf8_encode - cp (<= 0x10ffff, not a surrogate) as UTF-8 into out;
 * the number of bytes, 1..4 */
size_t utf8_encode(uint32_t cp, unsigned char out[4]);

/* constant-time comparison of two byte strings of equal length */
bool ct_equal(const void *a, const void *b, size_t n);

/* mkdir_p - mkdir -p: every missing directory of path made with mode;
 * 0, or -1 with errno */
int mkdir_p(const char *path, unsigned mode) WARN_UNUSED;

/* monotonic and wall clock, in microseconds */
uint64_t clock_mono_us(void);
uint64_t clock_wall_us(void);

#endif
