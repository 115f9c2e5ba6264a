/*
 * xalloc.h - allocators that never return NULL.
 *
 * Running out of memory is not a peer's doing we can answer; these log one
 * line and abort.  Every peer-controlled size is bounded by a limit before
 * it reaches an allocator, so OOM here means a bug or a starved machine.
 */
#ifndef POSTERN_XALLOC_H
#define POSTERN_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
/* xreallocarray - overflow-checked nmemb * size */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
/* xmemdup0 - copy n bytes and add a NUL */
char *xmemdup0(const void *p, size_t n);

#endif
