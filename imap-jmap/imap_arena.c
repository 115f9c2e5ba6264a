/*
 * imap_arena.c - the arena that owns one parsed IMAP command: its struct,
 * strings, text and literal data.  Alloc-only; everything goes at once in
 * imap_arena_free().  Blocks start small (most commands are a few hundred
 * bytes) and double; large requests get a block of their own so a big
 * literal wastes nothing.  Buffers grown elsewhere (the command text, a
 * literal's data) are adopted rather than copied.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/imap_parse_priv.h"

#define FIRST_BLOCK	1024
#define MAX_BLOCK	(64 * 1024)

struct block {
	struct block *next;
	size_t used, size;
	max_align_t data[];
};

struct adopted {
	struct adopted *next;
	void *p;
};

struct imap_arena {
	struct block *head;
	struct adopted *adopted;
	size_t next_size;
};

struct imap_arena *
imap_arena_new(void)
{
	struct imap_arena *a = xcalloc(1, sizeof(*a));

	a->next_size = FIRST_BLOCK;
	return a;
}

void
imap_arena_free(struct imap_arena **ap)
{
	struct imap_arena *a = ap != NULL ? *ap : NULL;

	if (a == NULL)
		return;
	/* adopted nodes live in the blocks: free what they hold first */
	for (struct adopted *ad = a->adopted; ad != NULL; ad = ad->next)
		free(ad->p);
	while (a->head != NULL) {
		struct block *b = a->head;

		a->head = b->next;
		free(b);
	}
	free(a);
	*ap = NULL;
}

void *
imap_arena_alloc(struct imap_arena *a, size_t n)
{
	const size_t align = alignof(max_align_t);
	struct block *b = a->head;
	void *p;

	if (n > SIZE_MAX / 2)
		PANIC("imap_arena_alloc: %zu bytes", n);
	n = (n + align - 1) & ~(align - 1);
	if (n == 0)
		n = align;
	if (b == NULL || b->size - b->used < n) {
		if (n > a->next_size / 2) {
			/* its own block, behind the current one */
			struct block *big = xmalloc(sizeof(*big) + n);

			big->size = big->used = n;
			if (b == NULL) {
				big->next = NULL;
				a->head = big;
			} else {
				big->next = b->next;
				b->next = big;
			}
			memset(big->data, 0, n);
			return big->data;
		}
		b = xmalloc(sizeof(*b) + a->next_size);
		b->size = a->next_size;
		b->used = 0;
		b->next = a->head;
		a->head = b;
		if (a->next_size < MAX_BLOCK)
			a->next_size *= 2;
	}
	p = (unsigned char *)b->data + b->used;
	b->used += n;
	memset(p, 0, n);
	return p;
}

void *
imap_arena_array(struct imap_arena *a, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / 2 / size)
		PANIC("imap_arena_array: %zu * %zu", nmemb, size);
	return imap_arena_alloc(a, nmemb * size);
}

char *
imap_arena_strndup(struct imap_arena *a, const void *p, size_t n)
{
	char *s = imap_arena_alloc(a, n + 1);

	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

void
imap_arena_adopt(struct imap_arena *a, void *p)
{
	struct adopted *ad;

	if (p == NULL)
		return;
	ad = imap_arena_alloc(a, sizeof(*ad));
	ad->p = p;
	ad->next = a->adopted;
	a->adopted = ad;
}

void
imap_cmd_free(struct imap_cmd **cmd)
{
	struct imap_arena *a;

	if (cmd == NULL || *cmd == NULL)
		return;
	a = (*cmd)->arena;
	*cmd = NULL;
	imap_arena_free(&a);	/* the command itself lives in it */
}
