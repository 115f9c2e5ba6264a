/*
 * rec.c - record values and key building (see rec.h).
 */
#include <string.h>

#include "store/rec.h"

static void
put_be(unsigned char *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
}

uint32_t
get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

uint64_t
get_u64(const unsigned char *p)
{
	return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

void
rec_put_bytes(struct buf *b, uint8_t tag, const void *p, size_t n)
{
	unsigned char hdr[5];

	if (n > REC_FIELD_MAX)
		PANIC("rec_put_bytes: field of %zu bytes", n);
	hdr[0] = tag;
	put_be(hdr + 1, n, 4);
	buf_add(b, hdr, sizeof(hdr));
	buf_add(b, p, n);
}

void
rec_put_str(struct buf *b, uint8_t tag, const char *s)
{
	rec_put_bytes(b, tag, s, strlen(s));
}

void
rec_put_u64(struct buf *b, uint8_t tag, uint64_t v)
{
	unsigned char n[8];

	put_be(n, v, 8);
	rec_put_bytes(b, tag, n, sizeof(n));
}

void
rec_reader_init(struct rec_reader *r, const void *p, size_t len)
{
	r->p = p;
	r->len = len;
	r->off = 0;
}

int
rec_next(struct rec_reader *r, uint8_t *tag_r, const unsigned char **data_r,
    size_t *len_r)
{
	size_t n;

	if (r->off == r->len)
		return 0;
	if (r->len - r->off < 5)
		return -1;
	n = get_u32(r->p + r->off + 1);
	if (n > r->len - r->off - 5)	/* subtract, never add */
		return -1;
	*tag_r = r->p[r->off];
	*data_r = r->p + r->off + 5;
	*len_r = n;
	r->off += 5 + n;
	return 1;
}

bool
rec_u64(const unsigned char *p, size_t len, uint64_t *v_r)
{
	if (len != 8)
		return false;
	*v_r = get_u64(p);
	return true;
}

void
key_u8(struct buf *k, uint8_t v)
{
	buf_add(k, &v, 1);
}

void
key_u32(struct buf *k, uint32_t v)
{
	unsigned char n[4];

	put_be(n, v, 4);
	buf_add(k, n, sizeof(n));
}

void
key_u64(struct buf *k, uint64_t v)
{
	unsigned char n[8];

	put_be(n, v, 8);
	buf_add(k, n, sizeof(n));
}

void
key_str(struct buf *k, const char *s)
{
	buf_add(k, s, strlen(s) + 1);
}
