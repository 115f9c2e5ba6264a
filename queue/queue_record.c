/*
 * queue_record.c - the record framing of queue files and the payload of
 * result records: pure functions, no I/O.
 *
 * A record is "<type letter><decimal length>:<payload>\n".  The length has
 * 1..10 digits and no leading zero, so every record has one spelling; the
 * payload is any bytes.  The trailing "\n" is checked by the reader: it is
 * what tells a complete record from one torn by a crash mid-append.
 *
 * A result payload is "<idx> <status> <attempts> <last_try_us>
 * <next_try_us> <dsn> <relay> <text>": single spaces, decimal numbers,
 * status one of deferred/sent/failed, text to the end (may be empty).
 * The status may carry the result's flags, each as ",remote" (the text
 * is the next hop's reply) or ",dsn" (the next hop took the DSN request
 * on).  They came after version 1 shipped, and are written only when
 * set: a reader that does not know them skips such a record as bad.
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "queue/queue_priv.h"

static const char *const status_names[] = {
	[QUEUE_RCPT_PENDING] = "pending",
	[QUEUE_RCPT_DEFERRED] = "deferred",
	[QUEUE_RCPT_SENT] = "sent",
	[QUEUE_RCPT_FAILED] = "failed",
};

const char *
queue_rcpt_status_name(enum queue_rcpt_status st)
{
	if ((size_t)st >= ARRAY_SIZE(status_names))
		PANIC("queue_rcpt_status_name: %d", (int)st);
	return status_names[st];
}

enum parse_res
queue_record_header(const unsigned char *in, size_t len, int *type_r,
    uint64_t *plen_r, size_t *hlen_r)
{
	size_t i;
	uint64_t v;

	if (len == 0)
		return PARSE_MORE;
	if (!is_ascii_alpha(in[0]))
		return PARSE_BAD;
	for (i = 1;; i++) {
		if (i >= len)
			return PARSE_MORE;
		if (in[i] == ':')
			break;
		if (!is_ascii_digit(in[i]))
			return PARSE_BAD;
		if (i > QUEUE_REC_DIGITS_MAX)
			return PARSE_TOO_LONG;
	}
	if (i == 1 || (in[1] == '0' && i > 2))
		return PARSE_BAD;
	if (parse_u64((const char *)in + 1, i - 1, UINT64_MAX, &v) < 0)
		return PARSE_BAD;	/* cannot happen with <= 10 digits */
	*type_r = in[0];
	*plen_r = v;
	*hlen_r = i + 1;
	return PARSE_OK;
}

void
queue_record_add(struct buf *b, int type, const void *p, size_t n)
{
	buf_addf(b, "%c%zu:", type, n);
	buf_add(b, p, n);
	buf_add(b, "\n", 1);
}

void
queue_record_add_str(struct buf *b, int type, const char *s)
{
	queue_record_add(b, type, s, strlen(s));
}

void
queue_result_add(struct buf *b, const struct queue_result *r)
{
	struct buf p = BUF_INIT(0);

	ASSERT(r->status != QUEUE_RCPT_PENDING);
	buf_addf(&p, "%zu %s%s%s %u %llu %llu %s %s ", r->idx,
	    queue_rcpt_status_name(r->status),
	    (r->flags & QUEUE_RCPT_F_REMOTE) != 0 ? ",remote" : "",
	    (r->flags & QUEUE_RCPT_F_DSN_PASSED) != 0 ? ",dsn" : "",
	    r->attempts,
	    (unsigned long long)r->last_try_us,
	    (unsigned long long)r->next_try_us, r->dsn, r->relay);
	buf_add_str(&p, r->text);
	queue_record_add(b, REC_RESULT, p.data, p.len);
	buf_free(&p);
}

bool
queue_dsn_is_valid(const char *s, size_t n)
{
	size_t i = 2, start;

	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	for (int part = 0; part < 2; part++) {
		start = i;
		while (i < n && is_ascii_digit((unsigned char)s[i]) &&
		    i - start < 3)
			i++;
		if (i == start)
			return false;
		if (part == 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == n;
}

void
queue_text_clean(struct buf *b, const char *s, size_t n, size_t max,
    bool no_space)
{
	if (n > max)
		n = max;
	/* trailing CR LF and blanks are noise in a log line */
	while (n > 0 && ((unsigned char)s[n - 1] <= ' ' ||
	    s[n - 1] == 0x7f))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			c = no_space ? '_' : ' ';
		else if (c == ' ' && no_space)
			c = '_';
		buf_add(b, &c, 1);
	}
}

/* next_token - the bytes up to the next space (or the end), which is
 * consumed; false when there is no non-empty token */
static bool
next_token(const unsigned char *p, size_t n, size_t *pos, const char **tok,
    size_t *len)
{
	const unsigned char *sp;

	if (*pos >= n)
		return false;
	*tok = (const char *)p + *pos;
	sp = memchr(p + *pos, ' ', n - *pos);
	*len = sp != NULL ? (size_t)(sp - (p + *pos)) : n - *pos;
	*pos += *len + (sp != NULL ? 1 : 0);
	return *len > 0;
}

static bool
token_u64(const unsigned char *p, size_t n, size_t *pos, uint64_t max,
    uint64_t *v)
{
	const char *tok;
	size_t len;

	return next_token(p, n, pos, &tok, &len) &&
	    parse_u64(tok, len, max, v) == 0;
}

int
queue_result_apply(const unsigned char *p, size_t n,
    struct queue_rcpt_state *st, size_t nrcpt)
{
	uint64_t idx, attempts, last, next;
	const char *stat, *dsn, *relay;
	size_t pos = 0, stat_len, dsn_len, relay_len;
	enum queue_rcpt_status status;
	struct queue_rcpt_state *s;
	struct buf clean;
	unsigned flags = 0;
	const char *comma;

	if (memchr(p, '\0', n) != NULL)
		return -1;
	if (!token_u64(p, n, &pos, nrcpt > 0 ? nrcpt - 1 : 0, &idx) ||
	    nrcpt == 0 ||
	    !next_token(p, n, &pos, &stat, &stat_len) ||
	    !token_u64(p, n, &pos, UINT32_MAX, &attempts) ||
	    !token_u64(p, n, &pos, UINT64_MAX, &last) ||
	    !token_u64(p, n, &pos, UINT64_MAX, &next) ||
	    !next_token(p, n, &pos, &dsn, &dsn_len) ||
	    !next_token(p, n, &pos, &relay, &relay_len))
		return -1;
	/* "sent,remote,dsn": the flags after the status word */
	while ((comma = memrchr(stat, ',', stat_len)) != NULL) {
		size_t flen = stat_len - (size_t)(comma - stat) - 1;

		if (ascii_eq_nocase(comma + 1, flen, "remote"))
			flags |= QUEUE_RCPT_F_REMOTE;
		else if (ascii_eq_nocase(comma + 1, flen, "dsn"))
			flags |= QUEUE_RCPT_F_DSN_PASSED;
		else
			return -1;
		stat_len = (size_t)(comma - stat);
	}
	if (ascii_eq_nocase(stat, stat_len, "deferred"))
		status = QUEUE_RCPT_DEFERRED;
	else if (ascii_eq_nocase(stat, stat_len, "sent"))
		status = QUEUE_RCPT_SENT;
	else if (ascii_eq_nocase(stat, stat_len, "failed"))
		status = QUEUE_RCPT_FAILED;
	else
		return -1;
	if (!queue_dsn_is_valid(dsn, dsn_len))
		return -1;
	s = &st[idx];
	s->status = status;
	s->flags = flags;
	s->attempts = (unsigned)attempts;
	s->last_try_us = last;
	s->next_try_us = next;
	free(s->dsn);
	s->dsn = xmemdup0(dsn, dsn_len);
	/* cleaned as when written: a damaged or edited file must not feed
	 * control characters to the CLI, the log or a bounce */
	free(s->relay);
	buf_init(&clean, 0);
	queue_text_clean(&clean, relay, relay_len, 256, true);
	s->relay = buf_steal(&clean, NULL);
	free(s->text);
	queue_text_clean(&clean, (const char *)p + pos, n - pos,
	    QUEUE_TEXT_MAX, false);
	s->text = buf_steal(&clean, NULL);
	return 0;
}
