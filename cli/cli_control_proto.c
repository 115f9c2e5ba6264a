/*
 * cli_control_proto.c - the control socket's frames (cli_control.h):
 * the frame splitter, the request and reply parsers and their encoders.
 *
 * Pure: bytes and limits in, a parse result or -1 with one line of error
 * out; no I/O.  Every length is checked against what is left before it
 * is used (subtracting, never adding), a body must be consumed exactly
 * (no trailing bytes), and what the other side prints or passes on as a
 * C string (a user, a clue, an error) may hold no NUL.  The client
 * trusts the server no more than the server the client: a reply with a
 * verdict, an outcome or a probability out of range is refused too.
 */
#include <string.h>

#include "cli/cli_control.h"

/* a cursor over a body: a read past its end sets bad, reads 0 */
struct rd {
	const unsigned char *p;
	size_t len, off;
	bool bad;
};

static const unsigned char *
rd_take(struct rd *r, size_t n)
{
	const unsigned char *p;

	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		return NULL;
	}
	p = r->p + r->off;
	r->off += n;
	return p;
}

static uint64_t
rd_uint(struct rd *r, size_t n)
{
	const unsigned char *p = rd_take(r, n);
	uint64_t v = 0;

	for (size_t i = 0; p != NULL && i < n; i++)
		v = v << 8 | p[i];
	return v;
}

static int64_t
rd_i64(struct rd *r)
{
	uint64_t v = rd_uint(r, 8);
	int64_t s;

	memcpy(&s, &v, sizeof(s));
	return s;
}

static double
rd_double(struct rd *r)
{
	uint64_t v = rd_uint(r, 8);
	double d;

	memcpy(&d, &v, sizeof(d));
	return d;
}

static void
put_uint(struct buf *b, uint64_t v, size_t n)
{
	unsigned char p[8];

	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	buf_add(b, p, n);
}

static void
put_i64(struct buf *b, int64_t v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	put_uint(b, u, 8);
}

static void
put_double(struct buf *b, double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	put_uint(b, u, 8);
}

/* put_head - a frame's header; the body of len bytes follows */
static void
put_head(struct buf *b, unsigned char type, size_t len)
{
	ASSERT(len <= UINT32_MAX);
	buf_add(b, &type, 1);
	put_uint(b, len, 4);
}

enum parse_res
cli_control_frame(const unsigned char *in, size_t len, size_t max,
    const char *types, unsigned char *type_r, size_t *body_len_r,
    size_t *used_r)
{
	size_t body;

	if (len == 0)
		return PARSE_MORE;
	if (in[0] == '\0' || strchr(types, in[0]) == NULL)
		return PARSE_BAD;
	if (len < CLI_CONTROL_HDR)
		return PARSE_MORE;
	body = (size_t)in[1] << 24 | (size_t)in[2] << 16 |
	    (size_t)in[3] << 8 | in[4];
	if (body > max)
		return PARSE_TOO_LONG;
	if (body > len - CLI_CONTROL_HDR)
		return PARSE_MORE;
	*type_r = in[0];
	*body_len_r = body;
	*used_r = CLI_CONTROL_HDR + body;
	return PARSE_OK;
}

/* ---- requests ---- */

int
cli_control_req_parse(unsigned char cmd, const unsigned char *body,
    size_t len, struct cli_control_req *r, struct buf *err)
{
	struct rd rd = { body, len, 0, false };
	const unsigned char *user;
	uint64_t cls, ulen;

	memset(r, 0, sizeof(*r));
	if (cmd == '\0' || strchr(CLI_CONTROL_REQUESTS, cmd) == NULL) {
		buf_addf(err, "unknown request type 0x%02x", cmd);
		return -1;
	}
	r->cmd = cmd;
	cls = rd_uint(&rd, 1);
	ulen = rd_uint(&rd, 2);
	if (rd.bad) {
		buf_addf(err, "request '%c': %zu bytes, shorter than its "
		    "header", cmd, len);
		return -1;
	}
	if (cls > BAYES_SPAM || (cls != 0 && cmd != CLI_CONTROL_TRAIN &&
	    cmd != CLI_CONTROL_FORGET)) {
		buf_addf(err, "request '%c': bad class %u", cmd,
		    (unsigned)cls);
		return -1;
	}
	r->cls = cls == 1 ? BAYES_SPAM : BAYES_HAM;
	if (ulen > BAYES_USER_MAX) {
		buf_addf(err, "request '%c': user of %u bytes, over %u", cmd,
		    (unsigned)ulen, BAYES_USER_MAX);
		return -1;
	}
	user = rd_take(&rd, (size_t)ulen);
	if (user == NULL) {
		buf_addf(err, "request '%c': the user runs past the end", cmd);
		return -1;
	}
	if (memchr(user, '\0', (size_t)ulen) != NULL) {
		buf_addf(err, "request '%c': a NUL in the user", cmd);
		return -1;
	}
	memcpy(r->user, user, (size_t)ulen);
	r->user[ulen] = '\0';
	r->msg = body + rd.off;
	r->msg_len = len - rd.off;
	if (cmd == CLI_CONTROL_STATS && r->msg_len != 0) {
		buf_addf(err, "request 'S': %zu bytes after the user",
		    r->msg_len);
		return -1;
	}
	if (cmd != CLI_CONTROL_STATS && (r->msg_len == 0 ||
	    r->msg_len > CLI_CONTROL_MSG_MAX)) {
		buf_addf(err, "request '%c': a message of %zu bytes (1 to %u)",
		    cmd, r->msg_len, CLI_CONTROL_MSG_MAX);
		return -1;
	}
	return 0;
}

void
cli_control_req_head(struct buf *out, unsigned char cmd,
    enum bayes_class cls, const char *user, size_t msg_len)
{
	size_t ulen = user != NULL ? strlen(user) : 0;

	ASSERT(ulen <= BAYES_USER_MAX && msg_len <= CLI_CONTROL_MSG_MAX);
	put_head(out, cmd, 3 + ulen + msg_len);
	put_uint(out, cls == BAYES_SPAM ? 1 : 0, 1);
	put_uint(out, ulen, 2);
	buf_add(out, user != NULL ? user : "", ulen);
}

/* ---- replies ---- */

static bool
is_prob(double p)
{
	return p >= 0.0 && p <= 1.0;	/* false for NaN */
}

static int
parse_result(struct rd *rd, struct bayes_result *r, struct buf *err)
{
	uint64_t v = rd_uint(rd, 1);

	r->verdict = (enum bayes_verdict)v;
	r->prob = rd_double(rd);
	r->nspam = rd_i64(rd);
	r->nham = rd_i64(rd);
	r->user_nspam = rd_i64(rd);
	r->user_nham = rd_i64(rd);
	r->user_used = rd_uint(rd, 1) != 0;
	r->ntokens = (size_t)rd_uint(rd, 4);
	r->nclues = (size_t)rd_uint(rd, 4);
	r->ntop = (size_t)rd_uint(rd, 1);
	if (!rd->bad && (v > BAYES_VERDICT_SPAM || !is_prob(r->prob) ||
	    r->ntop > BAYES_TOP_MAX)) {
		buf_addf(err, "reply 'r': verdict %u, prob %g, %zu clues: out "
		    "of range", (unsigned)v, r->prob, r->ntop);
		return -1;
	}
	for (size_t i = 0; !rd->bad && i < r->ntop; i++) {
		struct bayes_clue *c = &r->top[i];
		size_t tlen;
		const unsigned char *t;

		c->prob = rd_double(rd);
		c->spam = rd_i64(rd);
		c->ham = rd_i64(rd);
		tlen = (size_t)rd_uint(rd, 1);
		if (!rd->bad && (tlen >= BAYES_CLUE_TEXT_MAX ||
		    !is_prob(c->prob))) {
			buf_addf(err, "reply 'r': clue %zu: text of %zu "
			    "bytes, prob %g: out of range", i, tlen, c->prob);
			return -1;
		}
		t = rd_take(rd, tlen);
		if (t != NULL && memchr(t, '\0', tlen) != NULL) {
			buf_addf(err, "reply 'r': a NUL in clue %zu", i);
			return -1;
		}
		if (t != NULL)
			memcpy(c->token, t, tlen);
		c->token[tlen] = '\0';
	}
	return 0;
}

int
cli_control_reply_parse(unsigned char type, const unsigned char *body,
    size_t len, struct cli_control_reply *r, struct buf *err)
{
	struct rd rd = { body, len, 0, false };
	uint64_t v;

	memset(r, 0, sizeof(*r));
	r->type = type;
	switch (type) {
	case CLI_CONTROL_GREETING:
		r->version = (uint32_t)rd_uint(&rd, 4);
		break;
	case CLI_CONTROL_OUTCOME:
		v = rd_uint(&rd, 1);
		if (!rd.bad && v > BAYES_NOT_LEARNED) {
			buf_addf(err, "reply 'o': outcome %u out of range",
			    (unsigned)v);
			return -1;
		}
		r->outcome = (enum bayes_outcome)v;
		break;
	case CLI_CONTROL_RESULT:
		if (parse_result(&rd, &r->result, err) < 0)
			return -1;
		break;
	case CLI_CONTROL_SETS:
		r->nsets = (size_t)rd_uint(&rd, 1);
		if (!rd.bad && (r->nsets < 1 || r->nsets > 2)) {
			buf_addf(err, "reply 's': %zu sets (1 or 2)",
			    r->nsets);
			return -1;
		}
		for (size_t i = 0; !rd.bad && i < r->nsets; i++) {
			r->sets[i].nspam = rd_i64(&rd);
			r->sets[i].nham = rd_i64(&rd);
			r->sets[i].ntokens = rd_i64(&rd);
		}
		break;
	case CLI_CONTROL_ERROR:
		if (len > CLI_CONTROL_ERROR_MAX ||
		    memchr(body, '\0', len) != NULL) {
			buf_addf(err, "reply 'e': %zu bytes, or a NUL in them",
			    len);
			return -1;
		}
		memcpy(r->error, body, len);
		r->error[len] = '\0';
		rd.off = len;
		break;
	default:
		buf_addf(err, "unknown reply type 0x%02x", type);
		return -1;
	}
	if (rd.bad || rd.off != len) {
		buf_addf(err, "reply '%c': %zu bytes, %s", type, len,
		    rd.bad ? "cut short" : "with bytes left over");
		return -1;
	}
	return 0;
}

void
cli_control_put_greeting(struct buf *out)
{
	put_head(out, CLI_CONTROL_GREETING, 4);
	put_uint(out, CLI_CONTROL_VERSION, 4);
}

void
cli_control_put_outcome(struct buf *out, enum bayes_outcome o)
{
	put_head(out, CLI_CONTROL_OUTCOME, 1);
	put_uint(out, (uint64_t)o, 1);
}

void
cli_control_put_result(struct buf *out, const struct bayes_result *r)
{
	size_t ntop = r->ntop < BAYES_TOP_MAX ? r->ntop : BAYES_TOP_MAX;
	size_t at = out->len, blen;

	put_head(out, CLI_CONTROL_RESULT, 0);	/* length set below */
	put_uint(out, (uint64_t)r->verdict, 1);
	put_double(out, r->prob);
	put_i64(out, r->nspam);
	put_i64(out, r->nham);
	put_i64(out, r->user_nspam);
	put_i64(out, r->user_nham);
	put_uint(out, r->user_used ? 1 : 0, 1);
	put_uint(out, r->ntokens < UINT32_MAX ? r->ntokens : UINT32_MAX, 4);
	put_uint(out, r->nclues < UINT32_MAX ? r->nclues : UINT32_MAX, 4);
	put_uint(out, ntop, 1);
	for (size_t i = 0; i < ntop; i++) {
		const struct bayes_clue *c = &r->top[i];
		size_t tlen = strnlen(c->token, BAYES_CLUE_TEXT_MAX - 1);

		put_double(out, c->prob);
		put_i64(out, c->spam);
		put_i64(out, c->ham);
		put_uint(out, tlen, 1);
		buf_add(out, c->token, tlen);
	}
	blen = out->len - at - CLI_CONTROL_HDR;
	for (size_t i = 0; i < 4; i++)
		out->data[at + 1 + i] = (unsigned char)(blen >> (24 - 8 * i));
}

void
cli_control_put_sets(struct buf *out, const struct bayes_stats *v, size_t n)
{
	ASSERT(n >= 1 && n <= 2);
	put_head(out, CLI_CONTROL_SETS, 1 + 24 * n);
	put_uint(out, n, 1);
	for (size_t i = 0; i < n; i++) {
		put_i64(out, v[i].nspam);
		put_i64(out, v[i].nham);
		put_i64(out, v[i].ntokens);
	}
}

void
cli_control_put_error(struct buf *out, const char *text)
{
	size_t len = strnlen(text, CLI_CONTROL_ERROR_MAX);

	put_head(out, CLI_CONTROL_ERROR, len);
	buf_add(out, text, len);
}
