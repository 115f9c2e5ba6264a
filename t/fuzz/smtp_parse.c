/*
 * smtp_parse.c - libFuzzer target for mta/smtp_parse.c.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: mta/smtp_parse.c mta/smtp_sasl.c common/sasl.c
 *
 * The input is a client's byte stream: split into lines (over-long and
 * bare-LF lines skipped as the session does), each line parsed; the whole
 * input is also parsed as one line.  Invariants checked, beyond "no
 * crash": split bounds; every view inside the line; RFC length limits; a
 * parsed line holds no control octet; reply hints are well-formed;
 * mailbox = local "@" domain; has_utf8 matches the bytes; the verb is
 * case-insensitive; a parsed MAIL/RCPT re-serialized without source
 * route parses to the same mailbox and parameters.  AUTH lines, and
 * every line as a SASL response (mta/smtp_sasl.c): the argument's views
 * stay in the line, base64 that decodes encodes back to itself (only
 * canonical base64 is taken) and never grows, and a PLAIN message's
 * parts are in bounds and hold no NUL.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "mta/smtp_parse.h"
#include "mta/smtp_sasl.h"

static const char *g_line;
static size_t g_len;

static bool
in_line(struct smtp_str s)
{
	return s.p >= g_line && s.len <= g_len &&
	    (size_t)(s.p - g_line) <= g_len - s.len;
}

static bool
same(struct smtp_str a, struct smtp_str b)
{
	return a.len == b.len && memcmp(a.p, b.p, a.len) == 0;
}

static void
check_hint(const struct smtp_reply_hint *h)
{
	static const unsigned codes[] = { 500, 501, 502, 504, 553, 555 };
	bool ok = false;

	for (size_t i = 0; i < ARRAY_SIZE(codes); i++)
		ok |= h->code == codes[i];
	ASSERT(ok);
	ASSERT(h->enh != NULL && h->enh[0] == '5' && strlen(h->enh) == 5);
	ASSERT(h->text != NULL && h->text[0] != '\0');
	ASSERT(strpbrk(h->text, "\r\n") == NULL);
}

static void
check_path(const struct smtp_cmd *cmd)
{
	const struct smtp_path *p = &cmd->path;
	bool non_ascii = false;

	ASSERT(in_line(p->mailbox) && in_line(p->local) && in_line(p->domain));
	ASSERT(p->local.len <= SMTP_LOCAL_MAX);
	ASSERT(p->domain.len <= SMTP_DOMAIN_MAX);
	ASSERT(p->mailbox.len + 2 <= SMTP_PATH_MAX);
	if (p->is_null) {
		ASSERT(cmd->verb == SMTP_VERB_MAIL && p->mailbox.len == 0);
	} else if (p->is_postmaster) {
		ASSERT(cmd->verb == SMTP_VERB_RCPT);
		ASSERT(ascii_eq_nocase(p->mailbox.p, p->mailbox.len,
		    "postmaster"));
	} else {
		ASSERT(p->local.len > 0 && p->domain.len > 0);
		ASSERT(p->mailbox.p == p->local.p);
		ASSERT(p->local.p[p->local.len] == '@');
		ASSERT(p->domain.p == p->local.p + p->local.len + 1);
		ASSERT(p->mailbox.len == p->local.len + 1 + p->domain.len);
		ASSERT(p->is_literal == (p->domain.p[0] == '['));
		if (p->is_literal)
			ASSERT(smtp_domain_is_valid(p->domain.p,
			    p->domain.len));
	}
	for (size_t i = 0; i < p->mailbox.len; i++)
		non_ascii |= (unsigned char)p->mailbox.p[i] >= 0x80;
	ASSERT(p->has_utf8 == non_ascii);
	ASSERT(cmd->nparams <= SMTP_PARAMS_MAX);
	for (size_t i = 0; i < cmd->nparams; i++) {
		const struct smtp_param *pa = &cmd->params[i];

		ASSERT(in_line(pa->key) && pa->key.len > 0);
		ASSERT(in_line(pa->value));
		ASSERT(pa->has_value == (pa->value.len > 0));
		ASSERT(memchr(pa->key.p, '=', pa->key.len) == NULL);
		ASSERT(memchr(pa->value.p, ' ', pa->value.len) == NULL);
	}
}

/* reparse "MAIL FROM:<mailbox> params" and compare */
static void
check_reserialized(const struct smtp_cmd *cmd)
{
	const char *line = g_line;
	size_t len = g_len;
	struct smtp_reply_hint h;
	struct smtp_cmd again;
	struct buf b = BUF_INIT(0);

	buf_add_str(&b, cmd->verb == SMTP_VERB_MAIL ? "mail from:<" :
	    "RCPT to:<");
	buf_add(&b, cmd->path.mailbox.p, cmd->path.mailbox.len);
	buf_add_str(&b, ">");
	for (size_t i = 0; i < cmd->nparams; i++) {
		buf_add_str(&b, " ");
		buf_add(&b, cmd->params[i].key.p, cmd->params[i].key.len);
		if (cmd->params[i].has_value) {
			buf_add_str(&b, "=");
			buf_add(&b, cmd->params[i].value.p,
			    cmd->params[i].value.len);
		}
	}
	g_line = (const char *)b.data;
	g_len = b.len;
	ASSERT(smtp_cmd_parse(g_line, g_len, &again, &h) == PARSE_OK);
	ASSERT(again.verb == cmd->verb);
	ASSERT(same(again.path.mailbox, cmd->path.mailbox));
	ASSERT(again.path.has_utf8 == cmd->path.has_utf8);
	ASSERT(again.path.is_null == cmd->path.is_null);
	ASSERT(again.nparams == cmd->nparams);
	for (size_t i = 0; i < cmd->nparams; i++)
		ASSERT(same(again.params[i].key, cmd->params[i].key) &&
		    same(again.params[i].value, cmd->params[i].value));
	buf_free(&b);
	g_line = line;
	g_len = len;
}

static void
check_params(const struct smtp_cmd *cmd)
{
	struct smtp_reply_hint h;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	struct buf dec = BUF_INIT(0);

	if (cmd->verb == SMTP_VERB_MAIL) {
		for (unsigned e = 0; e < 2; e++) {
			unsigned ext = e ? SMTP_EXT_ALL : 0;

			if (smtp_mail_params_parse(cmd, ext, &mp, &h) !=
			    PARSE_OK) {
				check_hint(&h);
				continue;
			}
			ASSERT(ext != 0 || cmd->nparams == 0);
			ASSERT(!cmd->path.has_utf8 || mp.smtputf8);
			ASSERT(!mp.has_envid || (in_line(mp.envid) &&
			    mp.envid.len <= SMTP_ENVID_MAX));
			ASSERT(!mp.has_auth || in_line(mp.auth));
			if (mp.has_envid) {
				ASSERT(smtp_xtext_decode(mp.envid.p,
				    mp.envid.len, &dec) == 0);
				ASSERT(dec.len <= mp.envid.len);
			}
		}
	} else {
		for (int u = 0; u < 2; u++) {
			if (smtp_rcpt_params_parse(cmd, SMTP_EXT_ALL, u, &rp,
			    &h) != PARSE_OK) {
				check_hint(&h);
				continue;
			}
			ASSERT(u || !cmd->path.has_utf8);
			ASSERT(!(rp.notify & SMTP_NOTIFY_NEVER) ||
			    rp.notify == SMTP_NOTIFY_NEVER);
			ASSERT(!rp.has_orcpt || (in_line(rp.orcpt_type) &&
			    in_line(rp.orcpt_addr) && rp.orcpt_type.len > 0 &&
			    rp.orcpt_addr.len > 0 && rp.orcpt_type.len + 1 +
			    rp.orcpt_addr.len <= SMTP_ORCPT_MAX));
		}
	}
	buf_free(&dec);
}

static void
check_sasl_response(const char *p, size_t len)
{
	struct buf dec = BUF_INIT(SMTP_SASL_LINE_MAX), enc = BUF_INIT(0);
	struct smtp_sasl_plain pl;

	if (smtp_sasl_b64_decode(p, len, &dec) < 0) {
		ASSERT(dec.len == 0);
		goto out;
	}
	ASSERT(dec.len <= len / 4 * 3);
	smtp_sasl_b64_encode(dec.data, dec.len, &enc);
	ASSERT(enc.len == len && (len == 0 || memcmp(enc.data, p, len) == 0));
	if (smtp_sasl_plain_parse(dec.data, dec.len, &pl) == PARSE_OK) {
		const char *lo = (const char *)dec.data;

		ASSERT(pl.authcid.len > 0 && pl.passwd.len > 0);
		ASSERT(pl.authzid.len <= SMTP_SASL_USER_MAX &&
		    pl.authcid.len <= SMTP_SASL_USER_MAX &&
		    pl.passwd.len <= SMTP_SASL_PASS_MAX);
		ASSERT(pl.authzid.p == lo);
		ASSERT(pl.authzid.len + pl.authcid.len + pl.passwd.len + 2 ==
		    dec.len);
		ASSERT(memchr(pl.authcid.p, '\0', pl.authcid.len) == NULL);
		ASSERT(memchr(pl.passwd.p, '\0', pl.passwd.len) == NULL);
		ASSERT(memchr(pl.authzid.p, '\0', pl.authzid.len) == NULL);
	}
out:
	buf_free(&dec);
	buf_free(&enc);
}

static void
check_auth(const struct smtp_cmd *cmd)
{
	struct smtp_sasl_start st;
	struct smtp_reply_hint h;

	if (smtp_sasl_start_parse(cmd->arg.p, cmd->arg.len, &st, &h) !=
	    PARSE_OK) {
		check_hint(&h);
		ASSERT(h.code == 501 || h.code == 504);
		return;
	}
	ASSERT(st.mech == SMTP_SASL_PLAIN || st.mech == SMTP_SASL_LOGIN);
	if (!st.has_ir)
		return;
	ASSERT(in_line(st.ir));
	ASSERT(memchr(st.ir.p, ' ', st.ir.len) == NULL);
	check_sasl_response(st.ir.p, st.ir.len);
}

static void
check_line(const char *line, size_t len, bool recurse)
{
	struct smtp_reply_hint h = { 0, NULL, NULL };
	struct smtp_cmd cmd;
	enum parse_res r;

	g_line = line;
	g_len = len;
	check_sasl_response(line, len);	/* what a 334 reply would read */
	r = smtp_cmd_parse(line, len, &cmd, &h);
	if (r != PARSE_OK) {
		ASSERT(r == PARSE_BAD);
		check_hint(&h);
		return;
	}
	for (size_t i = 0; i < len; i++)
		ASSERT((unsigned char)line[i] >= 0x20 &&
		    (unsigned char)line[i] != 0x7f);
	ASSERT(cmd.verb != SMTP_VERB_UNKNOWN && in_line(cmd.arg));
	switch (cmd.verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		ASSERT(in_line(cmd.domain) && cmd.domain.len > 0);
		ASSERT(cmd.domain.len <= SMTP_DOMAIN_MAX);
		ASSERT(smtp_domain_is_valid(cmd.domain.p, cmd.domain.len));
		break;
	case SMTP_VERB_MAIL:
	case SMTP_VERB_RCPT:
		check_path(&cmd);
		check_params(&cmd);
		if (recurse)
			check_reserialized(&cmd);
		break;
	case SMTP_VERB_DATA:
	case SMTP_VERB_RSET:
	case SMTP_VERB_QUIT:
	case SMTP_VERB_STARTTLS:
		ASSERT(cmd.arg.len == 0);
		break;
	case SMTP_VERB_VRFY:
	case SMTP_VERB_EXPN:
		ASSERT(cmd.arg.len > 0);
		break;
	case SMTP_VERB_AUTH:
		ASSERT(cmd.arg.len > 0);
		check_auth(&cmd);
		break;
	default:
		break;
	}
	if (recurse && len <= 4096) {
		/* verbs are case-insensitive: swap the case of the verb */
		char copy[4096];
		struct smtp_cmd c2;

		memcpy(copy, line, len);
		for (size_t i = 0; i < len && copy[i] != ' '; i++)
			if (is_ascii_alpha((unsigned char)copy[i]))
				copy[i] ^= 0x20;
		g_line = copy;
		ASSERT(smtp_cmd_parse(copy, len, &c2, &h) == PARSE_OK);
		ASSERT(c2.verb == cmd.verb && c2.nparams == cmd.nparams);
		ASSERT(c2.arg.len == cmd.arg.len);
		g_line = line;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		size_t ll = 0, used = 0, skip;
		enum parse_res r = smtp_line_split(data + off, size - off,
		    SMTP_CMD_LINE_MAX, &ll, &used);

		if (r == PARSE_MORE) {
			ASSERT(size - off < SMTP_CMD_LINE_MAX + 2);
			ASSERT(memchr(data + off, '\n', size - off) == NULL);
			break;
		}
		if (r == PARSE_OK) {
			ASSERT(ll <= SMTP_CMD_LINE_MAX && used == ll + 2);
			ASSERT(used <= size - off);
			ASSERT(data[off + ll] == '\r' &&
			    data[off + ll + 1] == '\n');
			ASSERT(memchr(data + off, '\n', ll) == NULL);
			check_line((const char *)data + off, ll, true);
			off += used;
			continue;
		}
		/* PARSE_BAD (bare LF) or PARSE_TOO_LONG: skip the line */
		ASSERT(r == PARSE_BAD || r == PARSE_TOO_LONG);
		skip = smtp_line_skip(data + off, size - off);
		ASSERT(skip > 0 && skip <= size - off);
		ASSERT(skip == size - off || data[off + skip - 1] == '\n');
		ASSERT(memchr(data + off, '\n', skip - 1) == NULL);
		off += skip;
	}
	check_line((const char *)data, size, size <= 1024);
	return 0;
}
