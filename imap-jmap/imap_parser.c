/*
 * imap_parser.c - the framer of the IMAP command parser (see imap_parse.h
 * for the design): it cuts the client's byte stream into commands, reads
 * literals (RFC 9051 4.3, RFC 7888), enforces the limits as bytes arrive,
 * and after an error skips exactly what the client will still send of
 * the failed command, so that the next command is read from its start.
 *
 * States:
 *   LINE	collecting a line of the command into text (CRLF dropped)
 *   LITERAL	collecting lit_left more octets of literal data
 *   SKIP_LINE	dropping the rest of a failed command's line, watching its
 *		end for a "{n+}" whose data must be dropped too
 *   SKIP_LIT	dropping lit_left octets of such a literal
 *   DEAD	a fatal error was reported; every call repeats it
 *
 * Invariants: text.len <= max_line + 1 (the +1 is a CR waiting for its
 * LF); total counts every octet taken for the current command and stays
 * <= max_command; skipped <= max_skip.  Between commands nothing is
 * allocated.
 */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_parse_priv.h"

enum state { ST_LINE, ST_LITERAL, ST_SKIP_LINE, ST_SKIP_LIT, ST_DEAD };

/* "~{" + 20 digits + "+}" fits; a longer marker is not one we accept */
#define TAIL_MAX	32

struct imap_parser {
	struct imap_limits lim;
	bool utf8;
	enum imap_expect expect;
	enum state st;

	/* the command being read */
	struct buf text;	/* its lines without CRLF, literal data out */
	size_t frag;		/* start of the current line in text */
	struct imap_lit *lit;	/* its literals so far (lit_cap allocated) */
	size_t nlit, lit_cap;
	struct buf data;	/* the literal being read */
	bool data_lit8;
	struct imap_arena *arena;	/* owns the literal data read */
	uint64_t lit_left;	/* octets to read (LITERAL) or drop */
	uint64_t total;		/* octets of this command so far */

	/* skipping after an error */
	uint64_t skipped;
	bool skip_lits;		/* watch line ends for "{n+}" */
	bool q_in, q_esc;	/* quoted-string state of the skipped line */
	unsigned char tail[TAIL_MAX];
	size_t ntail;

	bool whole;		/* text holds the whole command */
	char tag[IMAP_TAG_MAX + 1];	/* the tag of the last error */
	struct imap_parse_error dead;	/* ST_DEAD's error */
};

void
imap_limits_default(struct imap_limits *lim, bool authenticated)
{
	memset(lim, 0, sizeof(*lim));
	if (authenticated) {
		lim->max_line = 64 * 1024;
		lim->max_literal = 64 * 1024;
		lim->max_append = 50 * 1024 * 1024;
		lim->max_command = 100 * 1024 * 1024;
		lim->max_skip = 100 * 1024 * 1024;
		lim->max_depth = 100;
		lim->max_items = 100000;
		lim->max_literals = 1000;
	} else {
		lim->max_line = 8 * 1024;
		lim->max_literal = 8 * 1024;
		lim->max_append = 0;
		lim->max_command = 64 * 1024;
		lim->max_skip = 64 * 1024;
		lim->max_depth = 16;
		lim->max_items = 100;
		lim->max_literals = 16;
	}
	lim->literal_minus = false;
}

struct imap_parser *
imap_parser_new(const struct imap_limits *lim)
{
	struct imap_parser *p = xcalloc(1, sizeof(*p));

	if (lim != NULL)
		p->lim = *lim;
	else
		imap_limits_default(&p->lim, false);
	buf_init(&p->text, 0);
	buf_init(&p->data, 0);
	p->st = ST_LINE;
	return p;
}

/* reset - forget the command being read; nothing stays allocated */
static void
reset(struct imap_parser *p)
{
	buf_free(&p->text);
	buf_free(&p->data);
	free(p->lit);
	p->lit = NULL;
	p->nlit = p->lit_cap = 0;
	imap_arena_free(&p->arena);
	p->frag = 0;
	p->lit_left = 0;
	p->total = 0;
	p->skipped = 0;
	p->whole = false;
	p->st = ST_LINE;
}

void
imap_parser_free(struct imap_parser **pp)
{
	if (pp == NULL || *pp == NULL)
		return;
	reset(*pp);
	free(*pp);
	*pp = NULL;
}

void
imap_parser_set_limits(struct imap_parser *p, const struct imap_limits *lim)
{
	p->lim = *lim;
}

void
imap_parser_set_utf8(struct imap_parser *p, bool on)
{
	p->utf8 = on;
}

void
imap_parser_expect(struct imap_parser *p, enum imap_expect e)
{
	p->expect = e;
}

bool
imap_parser_is_idle(const struct imap_parser *p)
{
	return p->st == ST_LINE && p->text.len == 0 && p->nlit == 0;
}

/* quote_step - follow quoted strings over c (RFC 9051 quoted) */
static void
quote_step(bool *in, bool *esc, unsigned char c)
{
	if (!*in)
		*in = c == '"';
	else if (*esc)
		*esc = false;
	else if (c == '\\')
		*esc = true;
	else if (c == '"')
		*in = false;
}

/*
 * marker - does s[0..len) end with a literal marker "{n}", "{n+}",
 * "~{n}" or "~{n+}"?  1 with its parts, 0 when not, -1 when it is one
 * whose number is out of range (over number64).
 */
static int
marker(const unsigned char *s, size_t len, uint64_t *n_r, bool *nonsync_r,
    bool *lit8_r)
{
	size_t end, i;

	if (len < 3 || s[len - 1] != '}')
		return 0;
	end = len - 1;
	*nonsync_r = s[end - 1] == '+';
	if (*nonsync_r)
		end--;
	for (i = end; i > 0 && is_ascii_digit(s[i - 1]); i--)
		;
	if (i == end || i == 0 || s[i - 1] != '{')
		return 0;
	*lit8_r = i >= 2 && s[i - 2] == '~';
	if (parse_u64((const char *)s + i, end - i, IMAP_NUMBER64_MAX,
	    n_r) < 0)
		return -1;
	return 1;
}

/* find_tag - the tag at the start of text, if a valid one is there */
static bool
find_tag(struct imap_parser *p, size_t *len_r)
{
	const unsigned char *s = p->text.data;
	size_t n = 0;

	while (n < p->text.len && imap_is_tag_char(s[n]))
		n++;
	/* a tag ends in SP, or the line if that is all of the command */
	if (n == 0 || n > IMAP_TAG_MAX ||
	    (n < p->text.len ? s[n] != ' ' : !p->whole))
		return false;
	*len_r = n;
	return true;
}

/* fail - fill *err for the current command; fatal ones stick */
static enum imap_parse_ev
fail(struct imap_parser *p, struct imap_parse_error *err, const char *text,
    const char *code, bool is_no, bool fatal)
{
	size_t n;

	memset(err, 0, sizeof(*err));
	err->text = text;
	err->code = code;
	err->fatal = fatal;
	err->tag = "";
	if (p->expect == IMAP_EXPECT_COMMAND && find_tag(p, &n)) {
		memcpy(p->tag, p->text.data, n);
		p->tag[n] = '\0';
		err->tag = p->tag;
		err->tag_len = n;
		err->has_tag = true;
		err->is_no = is_no;
	}
	if (fatal) {
		reset(p);
		p->dead = *err;
		p->st = ST_DEAD;
	}
	return IMAP_PARSE_BAD;
}

static enum imap_parse_ev skip_eol(struct imap_parser *p,
    struct imap_parse_error *err);

/* skip_line - drop the rest of the current line, then of the command */
static void
skip_line(struct imap_parser *p, bool watch_literals)
{
	const unsigned char *frag = p->text.data + p->frag;
	size_t n = p->text.len - p->frag;

	p->q_in = p->q_esc = false;
	for (size_t i = 0; i < n; i++)
		quote_step(&p->q_in, &p->q_esc, frag[i]);
	p->ntail = n < TAIL_MAX ? n : TAIL_MAX;
	memcpy(p->tail, frag + n - p->ntail, p->ntail);
	p->skip_lits = watch_literals;
	buf_free(&p->text);
	p->frag = 0;
	p->st = ST_SKIP_LINE;
}

/* skip_literal - drop n octets announced by "{n+}", or die */
static enum imap_parse_ev
skip_literal(struct imap_parser *p, uint64_t n, struct imap_parse_error *err)
{
	if (n > p->lim.max_skip - p->skipped)
		return fail(p, err, "Literal too big to skip", "TOOBIG",
		    false, true);
	p->lit_left = n;
	p->st = ST_SKIP_LIT;
	return IMAP_PARSE_MORE;
}

/*
 * prefix_parse - parse the command up to its pending literal.  0: fine so
 * far (*message_r: the literal is an APPEND message), -1: *lx_err set.
 */
static int
prefix_parse(struct imap_parser *p, bool *message_r, struct imap_lex *out)
{
	struct imap_arena *a = imap_arena_new();
	struct imap_cmd *cmd = imap_arena_alloc(a, sizeof(*cmd));
	struct imap_lex lx = {
		.s = (const char *)p->text.data, .len = p->text.len,
		.lit = p->lit, .nlit = p->nlit, .a = a, .lim = &p->lim,
		.utf8 = p->utf8, .prefix = true,
	};
	bool ok = imap_cmd_parse(&lx, cmd);

	imap_arena_free(&a);
	*message_r = lx.pending_message;
	*out = lx;
	return ok || lx.hit_end ? 0 : -1;
}

/* literal_start - a line ended in a literal marker */
static enum imap_parse_ev
literal_start(struct imap_parser *p, uint64_t n, bool nonsync, bool lit8,
    struct imap_parse_error *err)
{
	const char *why = NULL, *code = "TOOBIG";
	bool message = false, is_no = false;
	struct imap_lex lx;

	if (p->nlit >= p->lim.max_literals) {
		why = "Too many literals";
		code = NULL;
	} else if (nonsync && p->lim.literal_minus &&
	    n > IMAP_LITERAL_MINUS_MAX) {
		why = "Non-synchronizing literal over 4096 octets";
	} else if (!nonsync || n > p->lim.max_literal) {
		if (prefix_parse(p, &message, &lx) < 0) {
			why = lx.err != NULL ? lx.err : "Syntax error";
			code = lx.code;
			is_no = lx.err_no;
		}
	}
	if (why == NULL) {
		uint64_t max = message ? p->lim.max_append :
		    p->lim.max_literal;

		is_no = message;	/* RFC 7889: NO [TOOBIG] */
		if (n > max)
			why = message ? "Message too big" : "Literal too big";
		else if (p->total > p->lim.max_command ||
		    n > p->lim.max_command - p->total)
			why = "Command too big";
	}
	if (why != NULL) {
		enum imap_parse_ev ev = fail(p, err, why, code, is_no, false);

		if (!nonsync) {
			/* no "+": the client sends nothing more of it */
			reset(p);
			return ev;
		}
		/* the data comes anyway: drop it and the rest of the command */
		buf_free(&p->text);
		p->frag = 0;
		p->skip_lits = true;
		p->skipped = 0;
		(void)skip_literal(p, n, err);	/* a fatal error replaces err */
		return IMAP_PARSE_BAD;
	}
	if (p->nlit == p->lit_cap) {
		p->lit_cap = p->lit_cap == 0 ? 4 : p->lit_cap * 2;
		p->lit = xreallocarray(p->lit, p->lit_cap, sizeof(*p->lit));
	}
	buf_init(&p->data, n);
	p->data_lit8 = lit8;
	p->lit_left = n;
	p->st = ST_LITERAL;
	return nonsync ? IMAP_PARSE_MORE : IMAP_PARSE_CONTINUE;
}

/* literal_done - the data of the pending literal is all there */
static void
literal_done(struct imap_parser *p)
{
	struct imap_lit *l = &p->lit[p->nlit++];
	size_t len;
	char *d = buf_steal(&p->data, &len);

	if (p->arena == NULL)
		p->arena = imap_arena_new();
	imap_arena_adopt(p->arena, d);
	l->end = p->text.len;
	l->data = d;
	l->len = len;
	l->lit8 = p->data_lit8;
	l->has_nul = memchr(d, '\0', len) != NULL;
	p->frag = p->text.len;
	p->st = ST_LINE;
}

/* command_done - the last line of a command is in: parse it */
static enum imap_parse_ev
command_done(struct imap_parser *p, struct imap_cmd **cmd_r,
    struct imap_parse_error *err)
{
	struct imap_arena *a;
	struct imap_cmd *cmd;
	struct imap_lex lx;

	if (p->arena == NULL)
		p->arena = imap_arena_new();
	a = p->arena;
	cmd = imap_arena_alloc(a, sizeof(*cmd));
	lx = (struct imap_lex){
		.s = (const char *)p->text.data, .len = p->text.len,
		.lit = p->lit, .nlit = p->nlit, .a = a, .lim = &p->lim,
		.utf8 = p->utf8,
	};
	if (!imap_cmd_parse(&lx, cmd)) {
		enum imap_parse_ev ev;

		p->whole = true;
		ev = fail(p, err,
		    lx.err != NULL ? lx.err : "Syntax error", lx.code,
		    lx.err_no, false);

		reset(p);
		return ev;
	}
	/* nothing in the AST points into text: reset() frees it */
	cmd->arena = a;
	cmd->size = p->total;
	p->arena = NULL;
	reset(p);
	*cmd_r = cmd;
	return IMAP_PARSE_CMD;
}

/* expect_line - a DONE or SASL line */
static enum imap_parse_ev
expect_line(struct imap_parser *p, struct imap_cmd **cmd_r,
    struct imap_parse_error *err)
{
	enum imap_expect e = p->expect;
	const char *s = (const char *)p->text.data;
	size_t len = p->text.len;
	struct imap_arena *a;
	struct imap_cmd *cmd;
	enum imap_parse_ev ev;

	if (e == IMAP_EXPECT_DONE && !ascii_eq_nocase(s, len, "DONE")) {
		ev = fail(p, err, "Expected DONE", NULL, false, false);
		reset(p);
		p->expect = IMAP_EXPECT_COMMAND;
		return ev;
	}
	if (e == IMAP_EXPECT_SASL && !(len == 1 && s[0] == '*') &&
	    !imap_is_base64(s, len)) {
		ev = fail(p, err, "Invalid base64", NULL, false, false);
		reset(p);
		p->expect = IMAP_EXPECT_COMMAND;
		return ev;
	}
	a = imap_arena_new();
	cmd = imap_arena_alloc(a, sizeof(*cmd));
	cmd->arena = a;
	cmd->size = p->total;
	cmd->tag.p = "";
	if (e == IMAP_EXPECT_DONE) {
		cmd->kind = IMAP_CMD_DONE;
	} else {
		cmd->kind = IMAP_CMD_SASL;
		cmd->u.sasl.cancel = len == 1 && s[0] == '*';
		if (!cmd->u.sasl.cancel) {
			cmd->u.sasl.data.p = imap_arena_strndup(a, s, len);
			cmd->u.sasl.data.len = len;
		} else {
			cmd->u.sasl.data.p = "";
		}
	}
	reset(p);
	p->expect = IMAP_EXPECT_COMMAND;
	*cmd_r = cmd;
	return IMAP_PARSE_CMD;
}

/* line_done - a line (CRLF dropped) was added to text */
static enum imap_parse_ev
line_done(struct imap_parser *p, struct imap_cmd **cmd_r,
    struct imap_parse_error *err)
{
	const unsigned char *frag = p->text.data + p->frag;
	size_t n = p->text.len - p->frag;
	bool in = false, esc = false, nonsync, lit8;
	uint64_t size;
	int m;

	if (p->expect != IMAP_EXPECT_COMMAND)
		return expect_line(p, cmd_r, err);
	if (p->text.len == 0 && p->nlit == 0) {
		reset(p);		/* an empty line: ignored */
		return IMAP_PARSE_MORE;
	}
	for (size_t i = 0; i < n; i++)
		quote_step(&in, &esc, frag[i]);
	m = in ? 0 : marker(frag, n, &size, &nonsync, &lit8);
	if (m == 0)
		return command_done(p, cmd_r, err);
	if (m < 0) {
		enum imap_parse_ev ev;

		/* a "{n+}" we cannot size: no way to find the next command */
		if (nonsync)
			return fail(p, err, "Invalid literal size", NULL,
			    false, true);
		ev = fail(p, err, "Invalid literal size", NULL, false, false);
		reset(p);
		return ev;
	}
	return literal_start(p, size, nonsync, lit8, err);
}

/* too_long - the line passed max_line: report, then skip the rest */
static enum imap_parse_ev
too_long(struct imap_parser *p, bool line_over, struct imap_parse_error *err)
{
	enum imap_parse_ev ev = fail(p, err, "Line too long", NULL, false,
	    false);
	bool watch = p->expect == IMAP_EXPECT_COMMAND;

	p->expect = IMAP_EXPECT_COMMAND;
	skip_line(p, watch);
	p->skipped = 0;
	if (line_over)
		(void)skip_eol(p, err);	/* a fatal error replaces err */
	return ev;
}

/* feed_line - ST_LINE: up to and including an LF */
static enum imap_parse_ev
feed_line(struct imap_parser *p, const unsigned char *in, size_t len,
    size_t *used, struct imap_cmd **cmd_r, struct imap_parse_error *err)
{
	/* room for the rest of max_line and a CR; scan one more for an LF
	 * (none left if the limits were lowered under a started command) */
	size_t room = p->text.len <= p->lim.max_line ?
	    p->lim.max_line + 1 - p->text.len : 0;
	const unsigned char *lf = memchr(in, '\n',
	    len <= room ? len : room + 1);
	size_t n;

	if (lf == NULL) {
		n = len <= room ? len : room;
		buf_add(&p->text, in, n);
		*used = n;
		p->total += n;
		return len <= room ? IMAP_PARSE_MORE : too_long(p, false, err);
	}
	n = (size_t)(lf - in);
	buf_add(&p->text, in, n);
	*used = n + 1;
	p->total += n + 1;
	/* CRLF, or a bare LF (normalised, see imap_parse.h) */
	if (p->text.len > p->frag && p->text.data[p->text.len - 1] == '\r')
		buf_truncate(&p->text, p->text.len - 1);
	if (p->text.len > p->lim.max_line)
		return too_long(p, true, err);
	return line_done(p, cmd_r, err);
}

/* skip_eol - a skipped line ended: is a "{n+}" coming? */
static enum imap_parse_ev
skip_eol(struct imap_parser *p, struct imap_parse_error *err)
{
	uint64_t n;
	bool nonsync, lit8;
	size_t len = p->ntail;
	int m;

	if (len > 0 && p->tail[len - 1] == '\r')
		len--;
	m = p->skip_lits && !p->q_in ?
	    marker(p->tail, len, &n, &nonsync, &lit8) : 0;
	p->ntail = 0;
	p->q_in = p->q_esc = false;
	if (m != 0 && nonsync) {
		if (m < 0)
			return fail(p, err, "Invalid literal size", NULL,
			    false, true);
		return skip_literal(p, n, err);
	}
	/* done; a "{n}" gets no "+": the client gives up on it */
	reset(p);
	return IMAP_PARSE_MORE;
}

/* feed_skip_line - ST_SKIP_LINE */
static enum imap_parse_ev
feed_skip_line(struct imap_parser *p, const unsigned char *in, size_t len,
    size_t *used, struct imap_parse_error *err)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = in[i];

		if (p->skipped >= p->lim.max_skip) {
			*used = i;
			return fail(p, err, "Too much invalid input", NULL,
			    false, true);
		}
		p->skipped++;
		if (c == '\n') {
			*used = i + 1;
			return skip_eol(p, err);
		}
		quote_step(&p->q_in, &p->q_esc, c);
		if (p->ntail == TAIL_MAX) {
			memmove(p->tail, p->tail + TAIL_MAX / 2, TAIL_MAX / 2);
			p->ntail = TAIL_MAX / 2;
		}
		p->tail[p->ntail++] = c;
	}
	*used = len;
	return IMAP_PARSE_MORE;
}

enum imap_parse_ev
imap_parser_feed(struct imap_parser *p, const unsigned char *in, size_t len,
    size_t *used_r, struct imap_cmd **cmd_r, struct imap_parse_error *err_r)
{
	enum imap_parse_ev ev = IMAP_PARSE_MORE;
	size_t used = 0;

	*cmd_r = NULL;
	if (p->st == ST_DEAD) {
		*used_r = 0;
		*err_r = p->dead;
		return IMAP_PARSE_BAD;
	}
	for (;;) {
		size_t n = 0, left = len - used;
		uint64_t take;

		if (left == 0 && !((p->st == ST_LITERAL ||
		    p->st == ST_SKIP_LIT) && p->lit_left == 0))
			break;
		switch (p->st) {
		case ST_LINE:
			ev = feed_line(p, in + used, left, &n, cmd_r, err_r);
			break;
		case ST_LITERAL:
			take = p->lit_left < left ? p->lit_left : left;
			if (take > 0 && buf_append(&p->data, in + used,
			    (size_t)take) < 0)
				PANIC("imap literal: %zu + %zu > %zu",
				    p->data.len, (size_t)take, p->data.max);
			n = (size_t)take;
			p->lit_left -= take;
			p->total += take;
			if (p->lit_left == 0)
				literal_done(p);
			break;
		case ST_SKIP_LINE:
			ev = feed_skip_line(p, in + used, left, &n, err_r);
			break;
		case ST_SKIP_LIT:
			take = p->lit_left < left ? p->lit_left : left;
			n = (size_t)take;
			p->lit_left -= take;
			p->skipped += take;
			if (p->lit_left == 0) {
				p->st = ST_SKIP_LINE;
				p->ntail = 0;
				p->q_in = p->q_esc = false;
			}
			break;
		case ST_DEAD:
			*err_r = p->dead;
			ev = IMAP_PARSE_BAD;
			break;
		}
		used += n;
		if (ev != IMAP_PARSE_MORE)
			break;
	}
	*used_r = used;
	return ev;
}

/* skey_has_msn - a sequence-set key in k, its siblings or below */
static bool
skey_has_msn(const struct imap_skey *k)
{
	for (; k != NULL; k = k->next)
		if (k->kind == IMAP_SK_SEQSET ||
		    (k->kids != NULL && skey_has_msn(k->kids)))
			return true;
	return false;
}

bool
imap_cmd_uses_msn(const struct imap_cmd *cmd)
{
	switch (cmd->kind) {
	case IMAP_CMD_FETCH:
	case IMAP_CMD_STORE:
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		return !cmd->uid;
	case IMAP_CMD_SEARCH:
	case IMAP_CMD_SORT:
	case IMAP_CMD_THREAD:
		if (!cmd->uid)
			return true;
		break;
	case IMAP_CMD_SELECT:
	case IMAP_CMD_EXAMINE:
		return cmd->u.select.has_seq_match;
	default:
		return false;
	}
	return skey_has_msn(cmd->u.search.key);
}
