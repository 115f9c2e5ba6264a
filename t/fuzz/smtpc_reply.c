/*
 * smtpc_reply.c - libFuzzer target for mta/smtpc_parse.c: the replies an
 * SMTP server sends to our client.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: mta/smtpc_parse.c
 *
 * The input is a server's byte stream, parsed with the default limits
 * and with small ones (40-byte lines, 5 lines, 128 bytes per reply).
 * Invariants checked, beyond "no crash":
 *   - a ready reply's code is 200..599; its enhanced code, when taken, is
 *     of the reply's class, prints as its three numbers and starts the
 *     text; nlines is within the limit and one more than the LFs of the
 *     text; every line within line_max; the text within reply_max;
 *   - a reply ends exactly at an LF of the input; PARSE_MORE consumed
 *     everything; a dead parser says why, and says it again;
 *   - the same bytes split anywhere (cuts taken from a hash of the
 *     input, and one byte at a time for short inputs) give the same
 *     replies and the same final answer;
 *   - a reply written back as "ddd-text" CRLF ... "ddd text" CRLF parses
 *     to the same code, enhanced code and text;
 *   - smtpc_reply_format starts with the code and is no longer than the
 *     code, the text and one space per line; the EHLO capabilities of a
 *     250 stay within their limits and any other code is refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "mta/smtpc_parse.h"

struct outcome {
	struct buf desc;	/* every reply, serialised */
	enum parse_res final;
	const char *why;
};

static void
check_reply(const struct smtpc_reply *r, const struct smtpc_limits *lim)
{
	const unsigned char *t = r->text.data;
	size_t nl = 0, linelen = 0;

	ASSERT(r->code >= 200 && r->code <= 599);
	ASSERT(r->nlines >= 1 && r->nlines <= lim->lines_max);
	ASSERT(r->text.len <= lim->reply_max);
	for (size_t i = 0; i < r->text.len; i++) {
		if (t[i] == '\n') {
			nl++;
			linelen = 0;
			continue;
		}
		ASSERT(++linelen + 4 <= lim->line_max);
	}
	ASSERT(nl + 1 == r->nlines);
	if (!r->has_enh) {
		ASSERT(r->enh[0] == '\0');
		return;
	}
	ASSERT(r->enh_class == r->code / 100);
	ASSERT(r->enh_class == 2 || r->enh_class == 4 || r->enh_class == 5);
	ASSERT(r->enh_subject <= 999 && r->enh_detail <= 999);
	/* "c.s.d" with 1..3 digits each (leading zeros allowed) */
	{
		unsigned v[3] = { 0, 0, 0 }, part = 0, digits = 0;

		for (const char *e = r->enh; *e != '\0'; e++) {
			if (*e == '.') {
				ASSERT(digits > 0 && ++part < 3);
				digits = 0;
				continue;
			}
			ASSERT(is_ascii_digit((unsigned char)*e));
			ASSERT(++digits <= 3);
			v[part] = v[part] * 10 + (unsigned)(*e - '0');
		}
		ASSERT(part == 2 && digits > 0);
		ASSERT(v[0] == r->enh_class && v[1] == r->enh_subject &&
		    v[2] == r->enh_detail);
	}
	ASSERT(r->text.len >= strlen(r->enh));
	ASSERT(memcmp(r->text.data, r->enh, strlen(r->enh)) == 0);
	ASSERT(r->text.len == strlen(r->enh) ||
	    r->text.data[strlen(r->enh)] == ' ' ||
	    r->text.data[strlen(r->enh)] == '\n');
}

static void
check_format_and_ehlo(const struct smtpc_reply *r)
{
	struct buf out = BUF_INIT(0);
	struct smtpc_ehlo caps;
	char code[4];

	ASSERT(smtpc_reply_format(r, &out) == 0);
	snprintf(code, sizeof(code), "%03u", r->code);
	ASSERT(out.len >= 3 && memcmp(out.data, code, 3) == 0);
	ASSERT(out.len <= 3 + r->text.len + r->nlines);
	buf_free(&out);

	if (smtpc_ehlo_parse(r, &caps) != PARSE_OK) {
		ASSERT(r->code != 250);
		ASSERT(caps.ext == 0 && caps.auth == 0 && caps.size == 0);
		return;
	}
	ASSERT(r->code == 250);
	ASSERT(caps.nkeywords <= SMTPC_EHLO_LINES_MAX);
	ASSERT(caps.nkeywords <= r->nlines - 1);
	ASSERT(caps.truncated || caps.nkeywords == r->nlines - 1);
	ASSERT(caps.size == 0 || (caps.ext & SMTPC_EXT_SIZE));
	ASSERT(caps.auth == 0 || (caps.ext & SMTPC_EXT_AUTH));
}

/* write r back in canonical form, parse it again: the same reply */
static void
check_reparse(const struct smtpc_reply *r, const struct smtpc_limits *lim)
{
	struct smtpc_limits big = { lim->line_max, lim->lines_max,
		SMTPC_LIMIT_MAX };
	struct buf wire = BUF_INIT(0);
	struct smtpc_parser p;
	struct smtpc_reply again;
	const unsigned char *t = r->text.data;
	size_t start = 0, used;

	for (size_t i = 0; i <= r->text.len; i++) {
		if (i < r->text.len && t[i] != '\n')
			continue;
		buf_addf(&wire, "%03u%c", r->code,
		    i == r->text.len ? ' ' : '-');
		buf_add(&wire, t + start, i - start);
		buf_add_str(&wire, "\r\n");
		start = i + 1;
	}
	memset(&again, 0, sizeof(again));
	smtpc_parser_init(&p, &big);
	ASSERT(smtpc_parse(&p, wire.data, wire.len, &used, &again, NULL) ==
	    PARSE_OK);
	ASSERT(used == wire.len);
	ASSERT(again.code == r->code && again.nlines == r->nlines);
	ASSERT(again.has_enh == r->has_enh);
	ASSERT(strcmp(again.enh, r->enh) == 0);
	ASSERT(again.text.len == r->text.len);
	ASSERT(r->text.len == 0 ||
	    memcmp(again.text.data, r->text.data, r->text.len) == 0);
	smtpc_reply_free(&again);
	smtpc_parser_free(&p);
	buf_free(&wire);
}

static void
describe(struct buf *d, const struct smtpc_reply *r)
{
	buf_addf(d, "%u/%s/%zu/%zu:", r->code, r->enh, r->nlines,
	    r->text.len);
	buf_add(d, r->text.data, r->text.len);
	buf_add_str(d, "\n");
}

/* feed data cut at cuts[0..ncuts) (ascending), record the outcome */
static void
run(const uint8_t *data, size_t size, const struct smtpc_limits *lim,
    const size_t *cuts, size_t ncuts, bool deep, struct outcome *o)
{
	struct smtpc_parser p;
	struct smtpc_reply r;
	size_t start = 0;

	memset(&r, 0, sizeof(r));
	buf_init(&o->desc, 0);
	o->final = PARSE_MORE;
	o->why = NULL;
	smtpc_parser_init(&p, lim);
	for (size_t c = 0; c <= ncuts && o->final == PARSE_MORE; c++) {
		size_t end = c < ncuts ? cuts[c] : size, off = start;

		while (o->final == PARSE_MORE) {
			size_t used;
			enum parse_res res = smtpc_parse(&p, data + off,
			    end - off, &used, &r, &o->why);

			ASSERT(used <= end - off);
			off += used;
			if (res == PARSE_OK) {
				ASSERT(used > 0 && data[off - 1] == '\n');
				check_reply(&r, &p.lim);
				if (deep) {
					check_format_and_ehlo(&r);
					check_reparse(&r, &p.lim);
				}
				describe(&o->desc, &r);
				continue;
			}
			if (res == PARSE_MORE) {
				ASSERT(off == end);
				break;
			}
			ASSERT(res == PARSE_BAD || res == PARSE_TOO_LONG);
			ASSERT(o->why != NULL && o->why[0] != '\0');
			o->final = res;
		}
		start = end;
	}
	if (o->final != PARSE_MORE) {
		size_t used = 1;
		const char *why = NULL;

		ASSERT(smtpc_parse(&p, data, size, &used, &r, &why) ==
		    o->final);
		ASSERT(used == 0 && why == o->why);
	}
	smtpc_reply_free(&r);
	smtpc_parser_free(&p);
}

static void
same(const struct outcome *a, const struct outcome *b)
{
	ASSERT(a->final == b->final);
	ASSERT(a->desc.len == b->desc.len);
	ASSERT(a->desc.len == 0 ||
	    memcmp(a->desc.data, b->desc.data, a->desc.len) == 0);
	ASSERT(a->why == b->why ||
	    (a->why != NULL && b->why != NULL && strcmp(a->why, b->why) == 0));
}

static void
fuzz_with(const uint8_t *data, size_t size, const struct smtpc_limits *lim)
{
	struct outcome whole, split;
	size_t cuts[16], ncuts = 0, *every;
	uint32_t h = 2166136261u;

	run(data, size, lim, NULL, 0, true, &whole);

	/* cuts from an FNV-1a hash of the input, ascending */
	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 16777619u;
	for (size_t i = 0; size > 0 && i < ARRAY_SIZE(cuts); i++) {
		size_t at = (h >> (i % 24)) % (size + 1);

		h = h * 1103515245u + 12345u;
		if (ncuts == 0 || at >= cuts[ncuts - 1])
			cuts[ncuts++] = at;
	}
	run(data, size, lim, cuts, ncuts, false, &split);
	same(&whole, &split);
	buf_free(&split.desc);

	if (size <= 4096) {
		every = malloc((size + 1) * sizeof(*every));
		ASSERT(every != NULL);
		for (size_t i = 0; i < size; i++)
			every[i] = i + 1;
		run(data, size, lim, every, size, false, &split);
		same(&whole, &split);
		buf_free(&split.desc);
		free(every);
	}
	buf_free(&whole.desc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct smtpc_limits small = { 40, 5, 128 };

	fuzz_with(data, size, NULL);
	fuzz_with(data, size, &small);
	return 0;
}
