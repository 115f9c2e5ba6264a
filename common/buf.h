/*
 * buf.h - growable, binary-safe byte buffer with an optional hard limit.
 *
 * The one type for text that crosses a boundary.  data is always followed
 * by a NUL byte (not counted in len) so it can be handed to C string APIs
 * when it holds no NUL of its own.  max != 0 is a hard limit for anything a
 * peer controls: going over it is an error return (-1) that the caller
 * turns into a protocol reply, never a silent truncation.  Size checks
 * subtract from a known-good value, never add.
 *
 * Ownership: a struct buf owns data; buf_free() releases it and leaves an
 * empty buffer that may be reused.
 */
#ifndef POSTERN_BUF_H
#define POSTERN_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "common.h"

struct buf {
	unsigned char *data;
	size_t len;	/* bytes in use */
	size_t cap;	/* bytes allocated, excluding the safety NUL */
	size_t max;	/* hard limit on len; 0 = none (our own data only) */
};

#define BUF_INIT(max_) { NULL, 0, 0, (max_) }

void buf_init(struct buf *b, size_t max);
void buf_free(struct buf *b);
/* buf_reset - len = 0, keeps the allocation */
void buf_reset(struct buf *b);

/* buf_reserve - room for n more bytes; -1 if that would pass max */
int buf_reserve(struct buf *b, size_t n) WARN_UNUSED;
int buf_append(struct buf *b, const void *p, size_t n) WARN_UNUSED;
int buf_append_str(struct buf *b, const char *s) WARN_UNUSED;
int buf_append_byte(struct buf *b, unsigned char c) WARN_UNUSED;
/* buf_printf - append formatted text; -1 (buffer unchanged) past max */
int buf_printf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3)
    WARN_UNUSED;
int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
    PRINTF_LIKE(2, 0) WARN_UNUSED;

/*
 * The same for our own text (max == 0, so they cannot fail): PANIC if
 * called on a limited buffer that is full, since that is a bug.
 */
void buf_add(struct buf *b, const void *p, size_t n);
void buf_add_str(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* buf_consume - drop the first n bytes (n <= len) */
void buf_consume(struct buf *b, size_t n);
/* buf_truncate - keep the first n bytes (n <= len) */
void buf_truncate(struct buf *b, size_t n);
/* buf_cstr - data as a C string ("" when empty and unallocated) */
const char *buf_cstr(const struct buf *b);
/* buf_steal - hand data (NUL-terminated, never NULL) to the caller */
char *buf_steal(struct buf *b, size_t *len_r);

#endif
