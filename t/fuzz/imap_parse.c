/*
 * imap_parse.c - libFuzzer target for the IMAP command parser
 * (imap-jmap/imap_parse.h).
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: imap-jmap/imap_arena.c imap-jmap/imap_cmd.c
 * fuzz-sources: imap-jmap/imap_cmd_ext.c imap-jmap/imap_fetch.c
 * fuzz-sources: imap-jmap/imap_lex.c imap-jmap/imap_mutf7.c
 * fuzz-sources: imap-jmap/imap_parser.c imap-jmap/imap_search.c
 * fuzz-sources: imap-jmap/imap_unparse.c imap-jmap/imap_write.c
 *
 * The first octet picks the parser's set-up (UTF-8 mode, LITERAL-, small
 * or default limits), the second how the rest is cut into reads; the rest
 * is a client's byte stream.  Invariants checked, beyond "no crash":
 *   - the parser never takes more than it is given, and MORE means it
 *     took everything;
 *   - the events are the same whether the stream comes at once or cut
 *     into reads of any size (the framer's state is complete);
 *   - a command written back (imap_cmd_write) parses, with a fresh
 *     parser, to a command that writes the same text;
 *   - a command's size is at most the octets fed; its tag is a tag;
 *     mailbox names are valid UTF-8, and without UTF-8 mode a 7-bit
 *     name is the canonical mUTF-7 of its decoded form;
 *   - errors have a text without CR/LF, a tag only when a valid one,
 *     NO only with a tag; a fatal error sticks and takes no more input;
 *   - modified UTF-7: what decodes encodes back to the same octets, and
 *     what encodes decodes back; an astring written by imap_write_astring
 *     parses back to the same octets as a LOGIN user name.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "imap-jmap/imap_parse.h"

static void
check_tag(const char *t, size_t len)
{
	ASSERT(len > 0 && len <= IMAP_TAG_MAX && strlen(t) == len);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)t[i];

		ASSERT(c > 0x20 && c < 0x7f && strchr("(){%*\"\\+", c) == NULL);
	}
}

static void
check_mailbox(const struct imap_mailbox *m, bool utf8)
{
	bool has8 = false;

	ASSERT(m->raw.p != NULL && m->name.p != NULL);
	ASSERT(m->name.p[m->name.len] == '\0');
	ASSERT(imap_utf8_is_valid(m->name.p, m->name.len));
	ASSERT(memchr(m->name.p, '\0', m->name.len) == NULL);
	for (size_t i = 0; i < m->raw.len; i++)
		has8 |= (unsigned char)m->raw.p[i] >= 0x80;
	if (!utf8 && !has8 && !ascii_eq_nocase(m->raw.p, m->raw.len,
	    "INBOX")) {
		struct buf e = BUF_INIT(0);

		ASSERT(imap_mutf7_encode(m->name.p, m->name.len, &e) == 0);
		ASSERT(e.len == m->raw.len && (e.len == 0 ||
		    memcmp(e.data, m->raw.p, e.len) == 0));
		buf_free(&e);
	}
}

static void
check_mailboxes(const struct imap_cmd *c, bool utf8)
{
	switch (c->kind) {
	case IMAP_CMD_SELECT:
	case IMAP_CMD_EXAMINE:
		check_mailbox(&c->u.select.mbox, utf8);
		break;
	case IMAP_CMD_CREATE:
		check_mailbox(&c->u.create.mbox, utf8);
		break;
	case IMAP_CMD_DELETE:
	case IMAP_CMD_SUBSCRIBE:
	case IMAP_CMD_UNSUBSCRIBE:
		check_mailbox(&c->u.mbox, utf8);
		break;
	case IMAP_CMD_RENAME:
		check_mailbox(&c->u.rename.from, utf8);
		check_mailbox(&c->u.rename.to, utf8);
		break;
	case IMAP_CMD_LIST:
	case IMAP_CMD_LSUB:
		check_mailbox(&c->u.list.ref, utf8);
		ASSERT(c->u.list.npat >= 1);
		for (size_t i = 0; i < c->u.list.npat; i++)
			check_mailbox(&c->u.list.pat[i], utf8);
		break;
	case IMAP_CMD_STATUS:
		check_mailbox(&c->u.status.mbox, utf8);
		ASSERT(c->u.status.items != 0);
		break;
	case IMAP_CMD_APPEND:
		check_mailbox(&c->u.append.mbox, utf8);
		ASSERT(c->u.append.nmsg >= 1);
		break;
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		check_mailbox(&c->u.copy.mbox, utf8);
		break;
	default:
		break;
	}
}

/* reparse - text (one command) through a fresh parser; its writing */
static void
reparse(const struct buf *text, bool utf8, struct buf *out)
{
	struct imap_limits lim;
	struct imap_parser *p;
	struct imap_cmd *cmd = NULL;
	size_t off = 0;

	imap_limits_default(&lim, true);
	lim.max_line = 4 * 1024 * 1024;
	lim.max_depth = 10000;
	lim.max_items = 1000000;
	lim.max_literals = 100000;
	p = imap_parser_new(&lim);
	imap_parser_set_utf8(p, utf8);
	while (cmd == NULL) {
		struct imap_parse_error err;
		size_t used;
		enum imap_parse_ev ev = imap_parser_feed(p, text->data + off,
		    text->len - off, &used, &cmd, &err);

		off += used;
		if (ev == IMAP_PARSE_BAD) {
			fprintf(stderr, "reparse: %s\n%.*s\n", err.text,
			    (int)text->len, (const char *)text->data);
			PANIC("written command does not parse");
		}
		ASSERT(ev != IMAP_PARSE_MORE);
	}
	ASSERT(off == text->len);
	imap_cmd_write(out, cmd);
	imap_cmd_free(&cmd);
	imap_parser_free(&p);
}

static void
check_cmd(const struct imap_cmd *cmd, bool utf8, uint64_t fed,
    struct buf *log)
{
	struct buf w = BUF_INIT(0), w2 = BUF_INIT(0);

	ASSERT(cmd->size <= fed);
	if (cmd->kind != IMAP_CMD_DONE && cmd->kind != IMAP_CMD_SASL)
		check_tag(cmd->tag.p, cmd->tag.len);
	check_mailboxes(cmd, utf8);
	imap_cmd_write(&w, cmd);
	ASSERT(w.len >= 2 && w.data[w.len - 1] == '\n');
	buf_add(log, w.data, w.len);
	if (cmd->kind != IMAP_CMD_DONE && cmd->kind != IMAP_CMD_SASL) {
		reparse(&w, utf8, &w2);
		if (w.len != w2.len || memcmp(w.data, w2.data, w.len) != 0) {
			fprintf(stderr, "first:  %.*s\nsecond: %.*s\n",
			    (int)w.len, (const char *)w.data, (int)w2.len,
			    (const char *)w2.data);
			PANIC("write/parse/write is not a fixed point");
		}
	}
	buf_free(&w);
	buf_free(&w2);
}

static void
check_error(const struct imap_parse_error *e, struct buf *log)
{
	ASSERT(e->text != NULL && e->text[0] != '\0');
	ASSERT(strpbrk(e->text, "\r\n") == NULL);
	ASSERT(!e->is_no || e->has_tag);
	if (e->has_tag)
		check_tag(e->tag, e->tag_len);
	buf_addf(log, "%s %s %s %s\n", e->fatal ? "BYE" : e->is_no ? "NO" :
	    "BAD", e->has_tag ? e->tag : "*", e->code ? e->code : "-",
	    e->text);
}

/* run - feed in[0..len) chunk octets at a time; the events into log */
static void
run(const uint8_t *in, size_t len, size_t chunk,
    const struct imap_limits *lim, bool utf8, struct buf *log)
{
	struct imap_parser *p = imap_parser_new(lim);
	size_t off = 0, have = 0;
	uint64_t fed = 0;

	imap_parser_set_utf8(p, utf8);
	while (have < len) {
		size_t n = chunk == 0 || chunk > len - have ? len - have :
		    chunk;

		have += n;
		fed += n;
		for (;;) {
			struct imap_cmd *cmd;
			struct imap_parse_error err;
			size_t used;
			enum imap_parse_ev ev = imap_parser_feed(p, in + off,
			    have - off, &used, &cmd, &err);

			ASSERT(used <= have - off);
			off += used;
			if (ev == IMAP_PARSE_MORE) {
				ASSERT(off == have);
				ASSERT(cmd == NULL);
				break;
			}
			if (ev == IMAP_PARSE_CONTINUE) {
				buf_add_str(log, "+\n");
				continue;
			}
			if (ev == IMAP_PARSE_CMD) {
				ASSERT(cmd != NULL);
				check_cmd(cmd, utf8, fed, log);
				if (cmd->kind == IMAP_CMD_IDLE)
					imap_parser_expect(p,
					    IMAP_EXPECT_DONE);
				else if (cmd->kind == IMAP_CMD_AUTHENTICATE &&
				    !cmd->u.auth.has_ir)
					imap_parser_expect(p,
					    IMAP_EXPECT_SASL);
				imap_cmd_free(&cmd);
				continue;
			}
			check_error(&err, log);
			if (err.fatal) {
				ASSERT(imap_parser_feed(p, in + off,
				    have - off, &used, &cmd, &err) ==
				    IMAP_PARSE_BAD);
				ASSERT(used == 0 && err.fatal && cmd == NULL);
				imap_parser_free(&p);
				return;
			}
		}
	}
	imap_parser_free(&p);
}

static void
check_mutf7(const uint8_t *in, size_t len)
{
	struct buf d = BUF_INIT(0), e = BUF_INIT(0), d2 = BUF_INIT(0);

	if (imap_mutf7_decode((const char *)in, len, &d) == 0) {
		ASSERT(imap_mutf7_encode((const char *)d.data, d.len, &e) ==
		    0);
		ASSERT(e.len == len && (len == 0 ||
		    memcmp(e.data, in, len) == 0));
	}
	buf_reset(&e);
	if (imap_mutf7_encode((const char *)in, len, &e) == 0) {
		ASSERT(imap_mutf7_decode((const char *)e.data, e.len, &d2) ==
		    0);
		ASSERT(d2.len == len && (len == 0 ||
		    memcmp(d2.data, in, len) == 0));
	}
	buf_free(&d);
	buf_free(&e);
	buf_free(&d2);
}

static void
check_astring(const uint8_t *in, size_t len)
{
	struct buf line = BUF_INIT(0);
	struct imap_parser *p;
	struct imap_cmd *cmd = NULL;
	struct imap_parse_error err;
	size_t off = 0, used;

	if (memchr(in, '\0', len) != NULL || len > 60000)
		return;
	buf_add_str(&line, "t LOGIN ");
	imap_write_astring(&line, (const char *)in, len, len % 2 == 0);
	buf_add_str(&line, " x\r\n");
	p = imap_parser_new(NULL);
	while (cmd == NULL) {
		enum imap_parse_ev ev = imap_parser_feed(p, line.data + off,
		    line.len - off, &used, &cmd, &err);

		off += used;
		if (ev == IMAP_PARSE_BAD && strcmp(err.text,
		    "Line too long") != 0 && strcmp(err.text,
		    "Literal too big") != 0)
			PANIC("astring does not parse: %s", err.text);
		if (ev == IMAP_PARSE_BAD || ev == IMAP_PARSE_MORE)
			break;
	}
	if (cmd != NULL) {
		ASSERT(cmd->u.login.user.len == len);
		ASSERT(memcmp(cmd->u.login.user.p, in, len) == 0);
		imap_cmd_free(&cmd);
	}
	imap_parser_free(&p);
	buf_free(&line);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[] = { 1, 2, 3, 5, 7, 13, 64, 4096 };
	struct imap_limits lim;
	struct buf all = BUF_INIT(0), cut = BUF_INIT(0);
	bool utf8;
	size_t chunk;

	if (size < 2)
		return 0;
	utf8 = data[0] & 1;
	imap_limits_default(&lim, !(data[0] & 2));
	lim.literal_minus = data[0] & 4;
	if (data[0] & 8) {
		/* small limits, so that the fuzzer reaches them */
		lim.max_line = 64;
		lim.max_literal = 16;
		lim.max_append = 40;
		lim.max_command = 200;
		lim.max_skip = 300;
		lim.max_depth = 4;
		lim.max_items = 5;
		lim.max_literals = 3;
	}
	chunk = chunks[data[1] % ARRAY_SIZE(chunks)];
	data += 2;
	size -= 2;

	run(data, size, 0, &lim, utf8, &all);
	run(data, size, chunk, &lim, utf8, &cut);
	if (all.len != cut.len ||
	    (all.len > 0 && memcmp(all.data, cut.data, all.len) != 0)) {
		fprintf(stderr, "at once:\n%.*s\nin %zu-octet reads:\n%.*s\n",
		    (int)all.len, (const char *)all.data, chunk, (int)cut.len,
		    (const char *)cut.data);
		PANIC("the events depend on how the input is cut");
	}
	buf_free(&all);
	buf_free(&cut);
	check_mutf7(data, size);
	check_astring(data, size);
	return 0;
}
