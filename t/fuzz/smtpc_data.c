/*
 * smtpc_data.c - libFuzzer target for mta/smtpc_data.c: the message as
 * the SMTP client sends it (line ends, dot-stuffing, the end of DATA)
 * and the content scan.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: mta/smtpc_data.c
 *
 * Invariants checked, beyond "no crash":
 *   - the normalised output has CR only before LF and LF only after CR,
 *     ends with CRLF unless empty, and holds every other byte of the
 *     input in order;
 *   - normalising it again changes nothing (idempotent);
 *   - the DATA output has no line that is a lone "." but the last, and
 *     un-stuffed (a leading dot dropped, the final ".\r\n" removed) is
 *     exactly the normalised output: no dot-smuggling either way;
 *   - the same bytes split anywhere (cuts from a hash of the input)
 *     give the same output;
 *   - the scan of the normalised output counts its bytes, and finds an
 *     8-bit or NUL byte exactly when there is one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "mta/smtpc_data.h"

static bool
same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len && (a->len == 0 ||
	    memcmp(a->data, b->data, a->len) == 0);
}

static void
transform(const uint8_t *in, size_t len, bool stuff, const size_t *cuts,
    size_t ncuts, struct buf *out)
{
	struct smtpc_data d;
	size_t at = 0;

	smtpc_data_init(&d, stuff);
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		if (end > at)
			smtpc_data_feed(&d, in + at, end - at, out);
		at = end;
	}
	smtpc_data_end(&d, out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf lines = BUF_INIT(0), again = BUF_INIT(0);
	struct buf dot = BUF_INIT(0), un = BUF_INIT(0), split = BUF_INIT(0);
	struct smtpc_scan sc;
	size_t cuts[4], ncuts = 0, j = 0;
	uint32_t h = 2166136261u;
	bool hi = false, nul = false;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	for (size_t i = 0; i < 4 && size > 0; i++) {
		size_t c = (h >> (i * 8)) % (size + 1);

		if (ncuts == 0 || c >= cuts[ncuts - 1])
			cuts[ncuts++] = c;
	}
	transform(data, size, false, NULL, 0, &lines);
	transform(data, size, false, cuts, ncuts, &split);
	ASSERT(same(&split, &lines));
	/* CR LF only as a pair; the non-line-end bytes kept in order */
	for (size_t i = 0; i < lines.len; i++) {
		unsigned char c = lines.data[i];

		if (c == '\r')
			ASSERT(i + 1 < lines.len && lines.data[i + 1] == '\n');
		else if (c == '\n')
			ASSERT(i > 0 && lines.data[i - 1] == '\r');
		else {
			while (j < size && (data[j] == '\r' ||
			    data[j] == '\n'))
				j++;
			ASSERT(j < size && data[j] == c);
			j++;
			hi = hi || c >= 0x80;
			nul = nul || c == 0;
		}
	}
	while (j < size && (data[j] == '\r' || data[j] == '\n'))
		j++;
	ASSERT(j == size);
	ASSERT(lines.len == 0 || (lines.len >= 2 &&
	    lines.data[lines.len - 1] == '\n'));
	transform(lines.data, lines.len, false, NULL, 0, &again);
	ASSERT(same(&again, &lines));
	/* DATA: un-stuffed, it is the message; one lone dot, at the end */
	transform(data, size, true, cuts, ncuts, &dot);
	for (size_t p = 0; p < dot.len;) {
		const unsigned char *nl = memchr(dot.data + p, '\n',
		    dot.len - p);
		size_t n;

		ASSERT(nl != NULL);
		n = (size_t)(nl - (dot.data + p)) + 1;
		if (n == 3 && dot.data[p] == '.') {
			ASSERT(p + n == dot.len);
			break;
		}
		if (dot.data[p] == '.')
			buf_add(&un, dot.data + p + 1, n - 1);
		else
			buf_add(&un, dot.data + p, n);
		p += n;
	}
	ASSERT(same(&un, &lines));
	smtpc_scan_init(&sc);
	smtpc_scan_feed(&sc, lines.data, lines.len);
	ASSERT(sc.size == lines.len);
	ASSERT(((sc.flags & (SMTPC_SCAN_8BIT_HEADER |
	    SMTPC_SCAN_8BIT_BODY)) != 0) == hi);
	ASSERT(((sc.flags & SMTPC_SCAN_NUL) != 0) == nul);
	buf_free(&lines);
	buf_free(&again);
	buf_free(&dot);
	buf_free(&un);
	buf_free(&split);
	return 0;
}
