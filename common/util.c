/*
 * util.c - panic, wire-number parsing, locale-free ASCII helpers,
 * constant-time comparison and clocks (see common.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common.h"
#include "log.h"
#include "xalloc.h"

void
panic_at(const char *file, int line, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_msg(LOG_LVL_ERROR, "panic", "%s:%d: %s", file, line, text);
	abort();
}

int
parse_u64(const char *s, size_t len, uint64_t max, uint64_t *val_r)
{
	uint64_t v = 0;

	if (len == 0 || len > 20)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (!is_ascii_digit((unsigned char)s[i]))
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v > max)
		return -1;
	*val_r = v;
	return 0;
}

int
ascii_strncasecmp(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ca = ascii_tolower((unsigned char)a[i]);
		int cb = ascii_tolower((unsigned char)b[i]);

		if (ca != cb)
			return ca - cb;
		if (ca == 0)
			return 0;
	}
	return 0;
}

bool
ascii_eq_nocase(const char *a, size_t alen, const char *lit)
{
	size_t i;

	for (i = 0; i < alen; i++) {
		if (lit[i] == '\0' ||
		    ascii_tolower((unsigned char)a[i]) !=
		    ascii_tolower((unsigned char)lit[i]))
			return false;
	}
	return lit[i] == '\0';
}

bool
ct_equal(const void *a, const void *b, size_t n)
{
	const volatile unsigned char *pa = a, *pb = b;
	unsigned char diff = 0;

	for (size_t i = 0; i < n; i++)
		diff |= pa[i] ^ pb[i];
	return diff == 0;
}

uint64_t
clock_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t
clock_wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int
mkdir_p(const char *path, unsigned mode)
{
	char *p = xstrdup(path);
	int ret = 0, saved;

	for (char *s = p + 1;; s++) {
		bool last = *s == '\0';

		if (*s != '/' && !last)
			continue;
		*s = '\0';
		if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
			ret = -1;
			break;
		}
		if (last)
			break;
		*s = '/';
	}
	saved = errno;
	free(p);
	errno = saved;
	return ret;
}

size_t
utf8_encode(uint32_t cp, unsigned char u[4])
{
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | (cp >> 6));
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | (cp >> 12));
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	u[0] = (unsigned char)(0xf0 | (cp >> 18));
	u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	u[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}
