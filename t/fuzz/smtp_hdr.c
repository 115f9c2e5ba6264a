/*
 * smtp_hdr.c - libFuzzer target for mta/smtp_hdr.c.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: mta/smtp_hdr.c
 *
 * The input is a message.  Invariants, beyond "no crash": the header
 * length is within the input and ends in an empty line when complete;
 * every field's name and value lie inside the header, in order, and the
 * name holds no colon; the count of From fields matches the walk; an
 * address list that parses yields exactly n NUL-terminated addresses,
 * each with one unquoted "@" not at either end, no NUL, CR or LF, and
 * no more bytes than the value had.
 */
#include <stdint.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "mta/smtp_hdr.h"

static void
check_addresses(const char *v, size_t len)
{
	struct buf out = BUF_INIT(0);
	size_t n = 0, seen = 0, off = 0;

	if (smtp_hdr_addresses(v, len, &out, &n) < 0) {
		buf_free(&out);
		return;
	}
	ASSERT(out.len <= len + n);
	while (off < out.len) {
		const char *a = (const char *)out.data + off;
		size_t l = strnlen(a, out.len - off);
		bool quoted = false;
		size_t ats = 0, at = 0;

		ASSERT(l < out.len - off);	/* NUL-terminated */
		ASSERT(l > 0);
		for (size_t i = 0; i < l; i++) {
			ASSERT(a[i] != '\r' && a[i] != '\n');
			if (a[i] == '\\' && quoted) {
				i++;
				continue;
			}
			if (a[i] == '"')
				quoted = !quoted;
			else if (a[i] == '@' && !quoted) {
				ats++;
				at = i;
			}
		}
		ASSERT(ats == 1 && at > 0 && at + 1 < l);
		off += l + 1;
		seen++;
	}
	ASSERT(seen == n);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_hdr_field f;
	size_t off = 0, prev = 0, nfrom = 0, hlen;
	bool complete;

	hlen = smtp_hdr_len(data, size, &complete);
	ASSERT(hlen <= size);
	ASSERT(!complete || (hlen > 0 && data[hlen - 1] == '\n'));
	ASSERT(complete || hlen == size);
	while (smtp_hdr_next(data, hlen, &off, &f)) {
		const unsigned char *np = (const unsigned char *)f.name.p;
		const unsigned char *vp = (const unsigned char *)f.value.p;

		ASSERT(off <= hlen && off > prev);
		ASSERT(np >= data + prev && vp > np + f.name.len - 1);
		ASSERT(vp + f.value.len <= data + off);
		ASSERT(f.name.len > 0 && memchr(np, ':', f.name.len) == NULL);
		if (ascii_eq_nocase(f.name.p, f.name.len, "From"))
			nfrom++;
		check_addresses(f.value.p, f.value.len);
		prev = off;
	}
	ASSERT(smtp_hdr_count(data, hlen, "from") == nfrom);
	check_addresses((const char *)data, size);
	return 0;
}
