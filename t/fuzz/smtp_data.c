/*
 * smtp_data.c - libFuzzer target for mta/smtp_data.c.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: mta/smtp_data.c
 *
 * Input: byte 0 picks mode, normalize and max_size, byte 1 seeds the
 * splitting; the rest is content.  Invariants, beyond "no crash":
 *  - used <= len; RAW never ends; MORE consumes everything (unbounded out);
 *  - DOT ends exactly at the first "\r\n.\r\n" of "\r\n" + input (the
 *    smuggling property: no other sequence ends the data);
 *  - out is the first min(size, max_size) octets: never over max_size;
 *  - normalize, or no bare_newline: out holds no bare CR or LF;
 *  - flags agree with the octets written (when nothing was cut);
 *  - split into 2 pieces, into random pieces, and through an out buffer
 *    of max 3 drained after every call: same output, flags, size, end;
 *  - DOT round trip: re-stuffing out and adding ".\r\n" scans back to out.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "mta/smtp_data.h"

struct cfg {
	enum smtp_data_mode mode;
	bool normalize;
	uint64_t max;
};

struct result {
	enum parse_res r;
	size_t used;
	struct buf out;
	struct smtp_data d;
};

/* feed in pieces ending at cut[0..ncut), then the rest; out of outmax */
static void
feed(const struct cfg *c, const uint8_t *in, size_t len, const size_t *cut,
    size_t ncut, size_t outmax, struct result *res)
{
	struct buf out = BUF_INIT(outmax);
	size_t off = 0;

	buf_init(&res->out, 0);
	smtp_data_init(&res->d, c->mode, c->normalize, c->max);
	res->r = PARSE_MORE;
	for (size_t k = 0; k <= ncut && res->r == PARSE_MORE; k++) {
		size_t end = k < ncut ? cut[k] : len;

		while (off < end) {
			size_t used = SIZE_MAX;

			res->r = smtp_data_feed(&res->d, in + off, end - off,
			    &out, &used);
			ASSERT(used <= end - off);
			ASSERT(outmax == 0 || out.len <= outmax);
			off += used;
			buf_add(&res->out, out.data, out.len);
			buf_reset(&out);
			if (res->r == PARSE_OK)
				break;
			ASSERT(res->r == PARSE_MORE);
			ASSERT(outmax != 0 || off == end);
			ASSERT(used > 0 || outmax != 0);
		}
	}
	if (c->mode == SMTP_DATA_RAW) {
		ASSERT(res->r == PARSE_MORE);
		while (smtp_data_finish(&res->d, &out) < 0) {
			buf_add(&res->out, out.data, out.len);
			buf_reset(&out);
		}
		buf_add(&res->out, out.data, out.len);
	}
	res->used = off;
	buf_free(&out);
}

static void
check_same(const struct result *a, const struct result *b)
{
	ASSERT(a->r == b->r && a->used == b->used);
	ASSERT(a->out.len == b->out.len);
	ASSERT(a->out.len == 0 ||
	    memcmp(a->out.data, b->out.data, a->out.len) == 0);
	ASSERT(a->d.size == b->d.size && a->d.state == b->d.state);
	ASSERT(a->d.bare_newline == b->d.bare_newline);
	ASSERT(a->d.line_too_long == b->d.line_too_long);
	ASSERT(a->d.too_big == b->d.too_big);
	ASSERT(a->d.has_8bit == b->d.has_8bit);
	ASSERT(a->d.has_nul == b->d.has_nul);
}

/* end of the first "\r\n.\r\n" in "\r\n" + in, minus the 2; 0 if none */
static size_t
terminator_end(const uint8_t *in, size_t len)
{
	static const char pat[] = "\r\n.\r\n";
	struct buf v = BUF_INIT(0);
	size_t end = 0;

	buf_add(&v, "\r\n", 2);
	buf_add(&v, in, len);
	for (size_t i = 0; i + 5 <= v.len; i++) {
		if (memcmp(v.data + i, pat, 5) == 0) {
			end = i + 5 - 2;
			break;
		}
	}
	buf_free(&v);
	return end;
}

static void
check_whole(const struct cfg *c, const uint8_t *in, size_t len,
    const struct result *w)
{
	const struct smtp_data *d = &w->d;
	const unsigned char *o = w->out.data;
	size_t n = w->out.len, line = 0, maxline = 0;
	bool b8 = false, nul = false;

	if (c->mode == SMTP_DATA_RAW || w->r == PARSE_MORE)
		ASSERT(w->r == PARSE_MORE && w->used == len);
	if (c->mode == SMTP_DATA_DOT)
		ASSERT(terminator_end(in, len) ==
		    (w->r == PARSE_OK ? w->used : 0));
	if (c->max != 0) {
		ASSERT(n <= c->max);
		ASSERT(d->too_big == (d->size > c->max));
		ASSERT(n == (d->too_big ? c->max : d->size));
	} else {
		ASSERT(!d->too_big && n == d->size);
	}
	for (size_t i = 0; i < n; i++) {
		bool bare_cr = o[i] == '\r' && (i + 1 == n || o[i + 1] != '\n');
		bool bare_lf = o[i] == '\n' && (i == 0 || o[i - 1] != '\r');

		/* a cut by max_size may split a CRLF */
		if ((c->normalize || !d->bare_newline) &&
		    !(d->too_big && i + 1 == n))
			ASSERT(!bare_cr && !bare_lf);
		b8 |= o[i] >= 0x80;
		nul |= o[i] == 0;
		line = o[i] == '\r' || o[i] == '\n' ? 0 : line + 1;
		if (line > maxline)
			maxline = line;
	}
	if (!d->too_big) {
		ASSERT(d->has_8bit == b8 && d->has_nul == nul);
		ASSERT(d->line_too_long == (maxline > SMTP_DATA_LINE_MAX));
	} else {
		ASSERT(!b8 || d->has_8bit);
		ASSERT(!nul || d->has_nul);
	}
}

/* DOT, clean CRLF output: re-stuff, terminate, scan back to the same */
static void
check_roundtrip(const struct result *w)
{
	struct cfg c2 = { SMTP_DATA_DOT, false, 0 };
	struct buf s = BUF_INIT(0);
	struct result again;
	bool bol = true;

	for (size_t i = 0; i < w->out.len; i++) {
		if (bol && w->out.data[i] == '.')
			buf_add(&s, ".", 1);
		buf_add(&s, &w->out.data[i], 1);
		bol = w->out.data[i] == '\n';
	}
	buf_add(&s, ".\r\n", 3);
	feed(&c2, s.data, s.len, NULL, 0, 0, &again);
	ASSERT(again.r == PARSE_OK && again.used == s.len);
	ASSERT(!again.d.bare_newline);
	ASSERT(again.out.len == w->out.len);
	ASSERT(w->out.len == 0 ||
	    memcmp(again.out.data, w->out.data, w->out.len) == 0);
	buf_free(&again.out);
	buf_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t maxes[] = { 0, 1, 7, 64, 1000, 1 << 20 };
	struct result whole, other;
	struct cfg c;
	const uint8_t *in;
	size_t len, *cuts, ncut = 0, at;
	uint32_t seed;

	if (size < 2)
		return 0;
	c.mode = data[0] & 1 ? SMTP_DATA_RAW : SMTP_DATA_DOT;
	c.normalize = (data[0] & 2) != 0;
	c.max = maxes[(data[0] >> 2) % ARRAY_SIZE(maxes)];
	seed = data[1] | 0x100u;
	in = data + 2;
	len = size - 2;

	feed(&c, in, len, NULL, 0, 0, &whole);
	check_whole(&c, in, len, &whole);
	if (c.mode == SMTP_DATA_DOT && whole.r == PARSE_OK &&
	    !whole.d.too_big && (c.normalize || !whole.d.bare_newline))
		check_roundtrip(&whole);

	at = len == 0 ? 0 : (size_t)data[1] * len / 255;
	feed(&c, in, len, &at, 1, 0, &other);
	check_same(&whole, &other);
	buf_free(&other.out);

	cuts = xcalloc(len + 1, sizeof(*cuts));
	for (size_t off = 0; off < len; ) {
		seed ^= seed << 13;
		seed ^= seed >> 17;
		seed ^= seed << 5;
		off += 1 + seed % 7;
		if (off < len)
			cuts[ncut++] = off;
	}
	feed(&c, in, len, cuts, ncut, 0, &other);
	check_same(&whole, &other);
	buf_free(&other.out);
	feed(&c, in, len, cuts, ncut, 3, &other);
	check_same(&whole, &other);
	buf_free(&other.out);
	free(cuts);
	buf_free(&whole.out);
	return 0;
}
