/*
 * buf.c - growable byte buffer with a hard limit (see buf.h).
 *
 * Invariant: data == NULL && cap == 0 && len == 0, or data has cap + 1
 * bytes with data[len] == '\0' and len <= cap, and (max == 0 || len <= max).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "xalloc.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

int
buf_reserve(struct buf *b, size_t n)
{
	size_t want;

	if (b->data != NULL && n <= b->cap - b->len)
		return 0;
	if (b->max != 0 && n > b->max - b->len)	/* subtract, never add */
		return -1;
	if (n > SIZE_MAX / 2 - b->len)
		PANIC("buf_reserve: size overflow (%zu + %zu)", b->len, n);
	want = b->len + n;
	if (want < b->cap * 2)
		want = b->cap * 2;
	if (want < 64)
		want = 64;
	if (b->max != 0 && want > b->max)
		want = b->max;
	b->data = xrealloc(b->data, want + 1);
	b->cap = want;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_append_byte(struct buf *b, unsigned char c)
{
	return buf_append(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		PANIC("buf_vprintf: bad format \"%s\"", fmt);
	if (buf_reserve(b, (size_t)n + 1) < 0) {
		/* the +1 is the NUL vsnprintf writes; allow exactly max */
		if (b->max == 0 || (size_t)n > b->max - b->len ||
		    buf_reserve(b, (size_t)n) < 0)
			return -1;
	}
	if (vsnprintf((char *)b->data + b->len, b->cap - b->len + 1, fmt,
	    ap) != n)
		PANIC("buf_vprintf: vsnprintf changed its mind");
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return r;
}

void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (buf_append(b, p, n) < 0)
		PANIC("buf_add: over max %zu", b->max);
}

void
buf_add_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(b, fmt, ap);
	va_end(ap);
	if (r < 0)
		PANIC("buf_addf: over max %zu", b->max);
}

void
buf_consume(struct buf *b, size_t n)
{
	ASSERT(n <= b->len);
	if (n == 0)
		return;
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void
buf_truncate(struct buf *b, size_t n)
{
	ASSERT(n <= b->len);
	b->len = n;
	if (b->data != NULL)
		b->data[n] = '\0';
}

const char *
buf_cstr(const struct buf *b)
{
	return b->data != NULL ? (const char *)b->data : "";
}

char *
buf_steal(struct buf *b, size_t *len_r)
{
	char *p;

	if (b->data == NULL)
		b->data = xcalloc(1, 1);
	p = (char *)b->data;
	if (len_r != NULL)
		*len_r = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
