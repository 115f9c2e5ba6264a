/*
 * queue_dsn.c - libFuzzer target for the RFC 3464 report builder,
 * queue_dsn_build() in queue/queue_dsn.c.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: queue/queue_dsn.c
 *
 * The input is a control byte, then NUL-separated fields: sender,
 * recipient, ORCPT address, diagnostic, remote MTA, ENVID, status, and
 * the rest is the original message.  The control byte picks the action,
 * RET, whether the original can be read, the size of the reader's
 * chunks and whether it fits the limit.  Invariants, beyond "no crash":
 *   - the build succeeds and is deterministic;
 *   - CRLF only: no bare CR or LF anywhere, the original's included;
 *   - every line before the original's part is at most 998 bytes;
 *   - the boundary given in the header starts exactly the delimiter
 *     lines: one per part (3, or 2 without the original) and the close
 *     delimiter, last: whatever the fields and the original hold, no
 *     other line starts with "--" and the boundary;
 *   - the flags: FULL exactly when a failure report may return the whole
 *     original (RET not HDRS, within the limit, readable); 8BIT exactly
 *     when the output has a byte over 0x7f.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "queue/queue_dsn.h"

struct src {
	const uint8_t *data;
	size_t len, off, chunk;
};

static int
src_read(void *ctx, void *buf, size_t size, size_t *n_r, struct buf *err)
{
	struct src *s = ctx;
	size_t n = s->len - s->off;

	(void)err;
	if (n > size)
		n = size;
	if (n > s->chunk)
		n = s->chunk;
	memcpy(buf, s->data + s->off, n);
	s->off += n;
	*n_r = n;
	return 0;
}

/* field - the next NUL-terminated field, as a C string */
static char *
field(const uint8_t **p, size_t *left)
{
	const uint8_t *nul = memchr(*p, '\0', *left);
	size_t n = nul != NULL ? (size_t)(nul - *p) : *left;
	char *s = xmemdup0(*p, n);

	*p += n + (nul != NULL);
	*left -= n + (nul != NULL);
	return s;
}

static bool
starts(const uint8_t *line, size_t n, const struct buf *prefix)
{
	return n >= prefix->len && memcmp(line, prefix->data, prefix->len) ==
	    0;
}

static void
check(const struct buf *m, unsigned flags, bool has_original)
{
	/* at the start of a line: no field's folded value can fake it */
	const char *ct = strstr(buf_cstr(m), "\r\nContent-Type: "
	    "multipart/report;"), *b, *q;
	struct buf delim = BUF_INIT(0), close = BUF_INIT(0);
	size_t ndelim = 0, nclose = 0, off = 0;
	bool eight = false, in_original = false;

	ASSERT(ct != NULL);
	b = strstr(ct, "boundary=\"");
	ASSERT(b != NULL);
	b += strlen("boundary=\"");
	q = strchr(b, '"');
	ASSERT(q != NULL && q > b && q - b <= 70);
	buf_addf(&delim, "--%.*s", (int)(q - b), b);
	buf_addf(&close, "--%.*s--", (int)(q - b), b);
	while (off < m->len) {
		const uint8_t *line = m->data + off;
		const uint8_t *lf = memchr(line, '\n', m->len - off);
		size_t n;

		ASSERT(lf != NULL);	/* the output ends with CRLF */
		n = (size_t)(lf - line);
		ASSERT(n >= 1 && line[n - 1] == '\r');
		n--;
		ASSERT(memchr(line, '\r', n) == NULL);	/* no bare CR */
		for (size_t i = 0; i < n; i++)
			eight |= line[i] >= 0x80;
		if (!in_original)
			ASSERT(n <= 998);
		if (starts(line, n, &delim)) {
			if (n == close.len &&
			    memcmp(line, close.data, n) == 0) {
				nclose++;
				ASSERT(lf + 1 == m->data + m->len);
			} else {
				ASSERT(n == delim.len);
				ndelim++;
				in_original = ndelim == 3;
			}
		}
		off = (size_t)(lf - m->data) + 1;
	}
	ASSERT(nclose == 1 && ndelim == (has_original ? 3u : 2u));
	ASSERT(eight == ((flags & QUEUE_DSN_OUT_8BIT) != 0));
	buf_free(&delim);
	buf_free(&close);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf out = BUF_INIT(0), again = BUF_INIT(0), err = BUF_INIT(0);
	char *f[7];
	struct queue_dsn_rcpt rc;
	struct queue_dsn_report r;
	struct src s;
	unsigned ctl, flags, flags2;
	bool readable, full;
	size_t left;

	if (size == 0)
		return 0;
	ctl = data[0];
	data++;
	left = size - 1;
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		f[i] = field(&data, &left);
	s = (struct src){ data, left, 0, 1 + (ctl >> 5) * 900 };
	rc = (struct queue_dsn_rcpt){
		.final_rcpt = f[1],
		.orcpt_type = f[2][0] != '\0' ? "rfc822" : NULL,
		.orcpt = f[2],
		.action = (enum queue_dsn_action)(ctl % 5),
		.status = f[6],
		.remote_mta = f[4],
		.diag = f[3],
		.last_attempt_us = 1700000000000000ull,
		.retry_until_us = 1700000000000000ull + 86400000000ull,
	};
	readable = (ctl & 0x08) == 0;
	r = (struct queue_dsn_report){
		.hostname = "mx.test.example",
		.qid = "65F0A1B2C3D4E5",
		.sender = f[0],
		.envid = f[5],
		.ret = (enum queue_dsn_ret)((ctl >> 3) % 3),
		.arrival_us = 1700000000000000ull,
		.client_name = "client.example",
		.client_ip = "192.0.2.1",
		.now_us = 1700000300000000ull,
		.rcpts = &rc,
		.nrcpt = 1,
		.content_size = left,
		.full_max = (ctl & 0x10) ? left : left / 2,
		.read = readable ? src_read : NULL,
		.read_ctx = &s,
	};
	ASSERT(queue_dsn_build(&r, &out, &flags, &err) == 0 && err.len == 0);
	s.off = 0;
	ASSERT(queue_dsn_build(&r, &again, &flags2, &err) == 0);
	ASSERT(flags == flags2 && again.len == out.len &&
	    memcmp(again.data, out.data, out.len) == 0);
	full = readable && rc.action == QUEUE_DSN_FAILED &&
	    r.ret != QUEUE_DSN_RET_HDRS && left <= r.full_max;
	ASSERT(((flags & QUEUE_DSN_OUT_FULL) != 0) == full);
	check(&out, flags, readable);
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		free(f[i]);
	buf_free(&out);
	buf_free(&again);
	buf_free(&err);
	return 0;
}
