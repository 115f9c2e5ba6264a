/*
 * cli_maildir.c - pure parsers for the files of a Dovecot/Courier
 * Maildir++, used by `postern import maildir` (cli_import_maildir.c),
 * and the set of message contents it uses to skip duplicates.  No file
 * I/O: bytes in, values out, every length checked.
 *
 *   message file names   "<unique>:2,<flags>" (the maildir spec, as
 *                        Dovecot writes it): upper-case letters are the
 *                        system flags P R S T D F, lower-case a..z are
 *                        indexes into the folder's dovecot-keywords file.
 *                        Anything but ":2," after the colon ("experimental
 *                        semantics") carries no flags.
 *   dovecot-keywords     lines "<index> <name>", index 0..25.
 *   dovecot-uidlist      a header line, then "<uid> [<ext> ...] :<base>"
 *                        (version 3) or "<uid> <base>" (version 1); the
 *                        base name is the file name before its ':'.
 *   subscriptions        optional "V\t2\n\n" header; then one mailbox a
 *                        line, levels separated by a tab and escaped with
 *                        \001 (version 2), or by '.' (version 1, and
 *                        Courier's courierimapsubscribed, where names
 *                        may start with "INBOX.").
 *   folder names         RFC 3501 5.1.3 modified UTF-7 ("&ZeVnLIqe-"),
 *                        decoded to UTF-8; a name that is not valid
 *                        modified UTF-7 (8-bit, a stray '&') is the
 *                        caller's to keep as it is, since Dovecot with
 *                        UTF-8 folder names writes those.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "common/xalloc.h"
#include "store/mail.h"

void
cli_maildir_info_parse(const char *name, struct cli_maildir_info *out)
{
	const char *colon = strchr(name, ':');

	memset(out, 0, sizeof(*out));
	out->base_len = colon != NULL ? (size_t)(colon - name) : strlen(name);
	if (colon == NULL || strncmp(colon, ":2,", 3) != 0)
		return;
	for (const char *p = colon + 3; *p != '\0'; p++) {
		switch (*p) {
		case 'P': out->flags |= MAIL_F_FORWARDED; break;
		case 'R': out->flags |= MAIL_F_ANSWERED; break;
		case 'S': out->flags |= MAIL_F_SEEN; break;
		case 'T': out->flags |= MAIL_F_DELETED; break;
		case 'D': out->flags |= MAIL_F_DRAFT; break;
		case 'F': out->flags |= MAIL_F_FLAGGED; break;
		default:
			if (*p >= 'a' && *p <= 'z')
				out->keywords |= 1u << (*p - 'a');
			break;	/* unknown upper-case letters: ignored */
		}
	}
}

/* ---- modified UTF-7 ---- */

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == ',')
		return 63;
	return -1;
}

static void
put_utf8(struct buf *out, uint32_t cp)
{
	unsigned char u[4];
	size_t n;

	n = utf8_encode(cp, u);
	buf_add(out, u, n);
}

/*
 * decode_b64_run - the UTF-16BE run in[0..len) (between '&' and '-')
 * appended as UTF-8; -1 on bad base64, left-over bits, a lone surrogate
 * or a character that had to be written directly (printable ASCII).
 */
static int
decode_b64_run(const unsigned char *in, size_t len, struct buf *out)
{
	uint32_t bits = 0, hi = 0;
	unsigned nbits = 0;

	for (size_t i = 0; i < len; i++) {
		int v = b64_value(in[i]);
		uint32_t u;

		if (v < 0)
			return -1;
		bits = (bits << 6) | (uint32_t)v;
		nbits += 6;
		if (nbits < 16)
			continue;
		nbits -= 16;
		u = (bits >> nbits) & 0xffff;
		bits &= (1u << nbits) - 1;
		if (hi != 0) {
			if (u < 0xdc00 || u > 0xdfff)
				return -1;
			put_utf8(out, 0x10000 + ((hi - 0xd800) << 10) +
			    (u - 0xdc00));
			hi = 0;
		} else if (u >= 0xd800 && u <= 0xdbff) {
			hi = u;
		} else if (u >= 0xdc00 && u <= 0xdfff) {
			return -1;
		} else if (u >= 0x20 && u <= 0x7e) {
			return -1;	/* must have been written directly */
		} else if (u < 0x20 || (u >= 0x7f && u < 0xa0)) {
			return -1;	/* no control character in a name */
		} else {
			put_utf8(out, u);
		}
	}
	/* at most 5 zero bits may be left over (RFC 2152 / 3501) */
	return hi != 0 || nbits >= 6 || bits != 0 ? -1 : 0;
}

int
cli_maildir_mutf7_decode(const char *in_, size_t len, struct buf *out)
{
	const unsigned char *in = (const unsigned char *)in_;
	size_t start = out->len;

	for (size_t i = 0; i < len; i++) {
		const unsigned char *end;

		if (in[i] < 0x20 || in[i] > 0x7e)
			goto bad;
		if (in[i] != '&') {
			buf_add(out, &in[i], 1);
			continue;
		}
		end = memchr(in + i + 1, '-', len - i - 1);
		if (end == NULL)
			goto bad;
		if (end == in + i + 1)
			buf_add(out, "&", 1);
		else if (decode_b64_run(in + i + 1,
		    (size_t)(end - in) - i - 1, out) < 0)
			goto bad;
		i = (size_t)(end - in);
	}
	return 0;
bad:
	buf_truncate(out, start);
	return -1;
}

/* ---- dovecot-keywords, dovecot-uidlist, subscriptions ---- */

int
cli_maildir_keyword_line(const char *line, size_t len, unsigned *idx_r,
    size_t *name_off_r, size_t *name_len_r)
{
	const char *sp = memchr(line, ' ', len);
	uint64_t idx;

	if (sp == NULL || sp == line ||
	    parse_u64(line, (size_t)(sp - line), CLI_MAILDIR_KEYWORDS - 1,
	    &idx) < 0)
		return -1;
	*idx_r = (unsigned)idx;
	*name_off_r = (size_t)(sp - line) + 1;
	*name_len_r = len - *name_off_r;
	return *name_len_r > 0 ? 0 : -1;
}

int
cli_maildir_uidlist_line(const char *line, size_t len, uint32_t *uid_r,
    size_t *base_off_r, size_t *base_len_r)
{
	const char *sp = memchr(line, ' ', len), *p, *end = line + len;
	uint64_t uid;

	if (sp == NULL || sp == line ||
	    parse_u64(line, (size_t)(sp - line), UINT32_MAX, &uid) < 0 ||
	    uid == 0)
		return -1;
	/* version 3: the name follows " :"; version 1: the last field */
	p = NULL;
	for (const char *q = sp; q + 1 < end; q++)
		if (q[0] == ' ' && q[1] == ':') {
			p = q + 2;
			break;
		}
	if (p == NULL) {
		p = end;
		while (p > sp + 1 && p[-1] != ' ')
			p--;
	}
	*uid_r = (uint32_t)uid;
	*base_off_r = (size_t)(p - line);
	/* a version 1 line may hold the whole file name: base only */
	*base_len_r = (size_t)(end - p);
	if ((sp = memchr(p, ':', *base_len_r)) != NULL)
		*base_len_r = (size_t)(sp - p);
	return *base_len_r > 0 ? 0 : -1;
}

/*
 * cli_maildir_subs_line - the levels of a subscriptions line, separated
 * by a tab in out.  An escaped character (\001 in version 2) can only be
 * a control character, which no mailbox name holds: -1.
 */
int
cli_maildir_subs_line(const char *line, size_t len, bool v2, struct buf *out)
{
	/* version 1 (and Courier's courierimapsubscribed) may name the
	 * folders under the "INBOX." namespace prefix */
	if (!v2 && len > 6 && memcmp(line, "INBOX.", 6) == 0) {
		line += 6;
		len -= 6;
	}
	if (len == 0 || memchr(line, v2 ? '\001' : '\t', len) != NULL)
		return -1;
	for (size_t i = 0; i < len; i++)
		buf_add(out, !v2 && line[i] == '.' ? "\t" : &line[i], 1);
	return 0;
}

/*
 * next_line - the next line of b from *pos (without its LF): false at
 * the end
 */
bool
cli_maildir_next_line(const struct buf *b, size_t *pos, const char **line,
    size_t *len)
{
	const unsigned char *lf;

	if (*pos >= b->len)
		return false;
	*line = (const char *)b->data + *pos;
	lf = memchr(b->data + *pos, '\n', b->len - *pos);
	*len = lf != NULL ? (size_t)(lf - b->data) - *pos : b->len - *pos;
	*pos += *len + 1;
	if (*len > 0 && (*line)[*len - 1] == '\r')
		(*len)--;
	return true;
}

void
cli_maildir_keywords(const struct buf *file, char *names[CLI_MAILDIR_KEYWORDS],
    const char *where)
{
	const char *line;
	size_t pos = 0, len, off, nlen;
	unsigned idx;

	while (cli_maildir_next_line(file, &pos, &line, &len)) {
		char *kw;

		if (cli_maildir_keyword_line(line, len, &idx, &off, &nlen) <
		    0 ||
		    names[idx] != NULL)
			continue;
		kw = xmemdup0(line + off, nlen);
		if (!mail_keyword_is_valid(kw) &&
		    cli_maildir_keyword_flag(kw) == 0) {
			fprintf(stderr, "postern: %s: keyword \"%s\" is not "
			    "a valid IMAP keyword, ignored\n", where, kw);
			free(kw);
			continue;
		}
		names[idx] = kw;
	}
}

uint32_t
cli_maildir_keyword_flag(const char *kw)
{
	/* Thunderbird's and older Dovecot's names next to RFC 5788's */
	if (strcasecmp(kw, "Junk") == 0)
		return MAIL_F_JUNK;
	if (strcasecmp(kw, "NonJunk") == 0 || strcasecmp(kw, "NotJunk") == 0)
		return MAIL_F_NOTJUNK;
	return mail_keyword_flag(kw);
}

/* ---- a set of blob ids: open addressing, the id's first bytes as hash */

static size_t
cli_idset_slot(const struct cli_idset *s, const struct blob_id *id)
{
	size_t h = 0, i;

	memcpy(&h, id->b, sizeof(h));
	for (i = h & (s->cap - 1); s->used[i] &&
	    memcmp(&s->v[i], id, sizeof(*id)) != 0; i = (i + 1) & (s->cap - 1))
		;
	return i;
}

bool
cli_idset_has(const struct cli_idset *s, const struct blob_id *id)
{
	return s->cap > 0 && s->used[cli_idset_slot(s, id)];
}

void
cli_idset_add(struct cli_idset *s, const struct blob_id *id)
{
	size_t i;

	if (s->n >= s->cap / 2) {
		struct cli_idset g = { NULL, NULL, 0, 0 };

		g.cap = s->cap == 0 ? 64 : s->cap * 2;

		g.v = xreallocarray(NULL, g.cap, sizeof(*g.v));
		g.used = xcalloc(g.cap, sizeof(*g.used));
		for (i = 0; i < s->cap; i++)
			if (s->used[i])
				cli_idset_add(&g, &s->v[i]);
		free(s->v);
		free(s->used);
		*s = g;
	}
	i = cli_idset_slot(s, id);
	if (!s->used[i]) {
		s->used[i] = true;
		s->v[i] = *id;
		s->n++;
	}
}

void
cli_idset_free(struct cli_idset *s)
{
	free(s->v);
	free(s->used);
	memset(s, 0, sizeof(*s));
}

