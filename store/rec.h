/*
 * rec.h - the value encoding of records kept in the data store.
 *
 * A record is a sequence of fields, each a 1-byte tag, a 4-byte
 * big-endian length and that many bytes; numbers are fields of 8
 * big-endian bytes.  Readers skip tags they do not know, so a record can
 * gain fields without a migration; every length is checked against the
 * bytes left, so a corrupt value is an error, never an overread.
 *
 * Key helpers build keys of fixed-width big-endian integers, which sort
 * numerically under the store's memcmp order (store/LAYOUT.md).
 */
#ifndef POSTERN_REC_H
#define POSTERN_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"

#define REC_FIELD_MAX (16u << 20)

/* writing: to a struct buf of our own (max 0) */
void rec_put_bytes(struct buf *b, uint8_t tag, const void *p, size_t n);
void rec_put_str(struct buf *b, uint8_t tag, const char *s);
void rec_put_u64(struct buf *b, uint8_t tag, uint64_t v);

/* reading: a cursor over one value */
struct rec_reader {
	const unsigned char *p;
	size_t len, off;
};

void rec_reader_init(struct rec_reader *r, const void *p, size_t len);
/*
 * rec_next - the next field: 1 with *tag_r, *data_r, *len_r; 0 at the
 * end; -1 when the value is malformed (a length past the end).
 */
int rec_next(struct rec_reader *r, uint8_t *tag_r, const unsigned char **data_r,
    size_t *len_r) WARN_UNUSED;
/* rec_u64 - an 8-byte field's value; false when the length is not 8 */
bool rec_u64(const unsigned char *p, size_t len, uint64_t *v_r);

/* keys */
void key_u8(struct buf *k, uint8_t v);
void key_u32(struct buf *k, uint32_t v);
void key_u64(struct buf *k, uint64_t v);
/* key_str - the string and a 0x00 terminator (names never hold NUL) */
void key_str(struct buf *k, const char *s);
uint32_t get_u32(const unsigned char *p);
uint64_t get_u64(const unsigned char *p);

#endif
