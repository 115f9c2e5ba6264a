/*
 * cli_control.c - libFuzzer target for the control socket's codec
 * (cli/cli_control_proto.c): what the server makes of a client's bytes
 * and the client of a server's.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: cli/cli_control_proto.c
 *
 * Input: byte 0 bit 0 picks the side (0: the server reading requests, 1:
 * the client reading replies), the rest is the stream, split into frames
 * in place as the two ends do.
 *
 * Invariants:
 *   - a frame is PARSE_OK only with a type of the side's set; it uses
 *     exactly the header and its body, never more than what is left,
 *     and the body is at most the side's limit;
 *   - an accepted request: its message lies inside the body, its user
 *     has no NUL and at most BAYES_USER_MAX bytes, stats carries no
 *     message and the others one of 1..CLI_CONTROL_MSG_MAX bytes, the
 *     class is ham but for train and forget;
 *   - an accepted reply, encoded again and parsed again, reads the same
 *     (the encoders write what the parser accepts), with every value in
 *     its range (verdict, outcome, prob in [0, 1], at most
 *     BAYES_TOP_MAX clues, one or two sets);
 *   - a refusal always says why (a non-empty error).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli_control.h"
#include "common/buf.h"
#include "common/common.h"

static void
check_req(unsigned char type, const unsigned char *body, size_t len)
{
	struct cli_control_req r;
	struct buf err = BUF_INIT(0);

	if (cli_control_req_parse(type, body, len, &r, &err) < 0) {
		ASSERT(err.len > 0);
		buf_free(&err);
		return;
	}
	ASSERT(r.msg >= body && r.msg_len <= len &&
	    (size_t)(r.msg - body) == len - r.msg_len);
	ASSERT(strlen(r.user) <= BAYES_USER_MAX);
	if (type == CLI_CONTROL_STATS)
		ASSERT(r.msg_len == 0);
	else
		ASSERT(r.msg_len >= 1 && r.msg_len <= CLI_CONTROL_MSG_MAX);
	if (type != CLI_CONTROL_TRAIN && type != CLI_CONTROL_FORGET)
		ASSERT(r.cls == BAYES_HAM);
	buf_free(&err);
}

static void
encode(const struct cli_control_reply *r, struct buf *b)
{
	switch (r->type) {
	case CLI_CONTROL_GREETING:
		/* the encoder writes our version only */
		break;
	case CLI_CONTROL_OUTCOME:
		cli_control_put_outcome(b, r->outcome);
		break;
	case CLI_CONTROL_RESULT:
		cli_control_put_result(b, &r->result);
		break;
	case CLI_CONTROL_SETS:
		cli_control_put_sets(b, r->sets, r->nsets);
		break;
	default:
		cli_control_put_error(b, r->error);
		break;
	}
}

static void
check_reply(unsigned char type, const unsigned char *body, size_t len)
{
	struct cli_control_reply *r = calloc(1, sizeof(*r));
	struct cli_control_reply *r2 = calloc(1, sizeof(*r2));
	struct buf err = BUF_INIT(0), b = BUF_INIT(0);
	unsigned char t2;
	size_t blen, used;

	if (cli_control_reply_parse(type, body, len, r, &err) < 0) {
		ASSERT(err.len > 0);
		goto out;
	}
	ASSERT(r->outcome <= BAYES_NOT_LEARNED);
	ASSERT(r->result.verdict <= BAYES_VERDICT_SPAM);
	ASSERT(r->result.prob >= 0.0 && r->result.prob <= 1.0);
	ASSERT(r->result.ntop <= BAYES_TOP_MAX);
	ASSERT(type != CLI_CONTROL_SETS || (r->nsets >= 1 && r->nsets <= 2));
	if (type == CLI_CONTROL_GREETING)
		goto out;
	encode(r, &b);
	ASSERT(cli_control_frame(b.data, b.len, CLI_CONTROL_REPLY_MAX,
	    CLI_CONTROL_REPLIES, &t2, &blen, &used) == PARSE_OK);
	ASSERT(t2 == type && used == b.len);
	ASSERT(cli_control_reply_parse(t2, b.data + CLI_CONTROL_HDR, blen, r2,
	    &err) == 0);
	ASSERT(memcmp(r, r2, sizeof(*r)) == 0);
out:
	buf_free(&err);
	buf_free(&b);
	free(r);
	free(r2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	bool client;
	size_t off = 1, max;
	const char *types;

	if (size < 1)
		return 0;
	client = data[0] & 1;
	max = client ? CLI_CONTROL_REPLY_MAX : CLI_CONTROL_REQ_MAX;
	types = client ? CLI_CONTROL_REPLIES : CLI_CONTROL_REQUESTS;
	while (off < size) {
		unsigned char type;
		size_t blen, used;
		enum parse_res pr = cli_control_frame(data + off, size - off,
		    max, types, &type, &blen, &used);

		if (pr != PARSE_OK)
			break;
		ASSERT(strchr(types, type) != NULL && type != '\0');
		ASSERT(blen <= max && used == CLI_CONTROL_HDR + blen &&
		    used <= size - off);
		if (client)
			check_reply(type, data + off + CLI_CONTROL_HDR, blen);
		else
			check_req(type, data + off + CLI_CONTROL_HDR, blen);
		off += used;
	}
	return 0;
}
