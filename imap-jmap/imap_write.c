/*
 * imap_write.c - the server's side of the IMAP string grammar (RFC 9051
 * 4.3, 9): astrings, quoted strings, literals, mailbox names (mUTF-7 or
 * UTF-8), numbers and sequence sets.
 *
 * Choices: a string goes quoted when it can (no CR, LF or NUL, at most
 * IMAP_QUOTED_MAX octets, 7-bit unless the client takes UTF-8 and it is
 * valid UTF-8), else as a literal; an astring is an atom when all of it is
 * 7-bit ASTRING-CHAR and it is not "NIL" (which a client would read as
 * nothing where an nstring is allowed).
 */
#include <inttypes.h>
#include <string.h>

#include "common/buf.h"
#include "imap-jmap/imap_parse_priv.h"

static bool
can_quote(const char *s, size_t len, bool utf8)
{
	bool has8 = false;

	if (len > IMAP_QUOTED_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0' || c == '\r' || c == '\n')
			return false;
		has8 |= c >= 0x80;
	}
	return !has8 || (utf8 && imap_utf8_is_valid(s, len));
}

void
imap_write_literal(struct buf *out, const char *s, size_t len, bool binary)
{
	buf_addf(out, "%s{%zu}\r\n", binary ? "~" : "", len);
	buf_add(out, s, len);
}

void
imap_write_string(struct buf *out, const char *s, size_t len, bool utf8)
{
	size_t run = 0;

	if (!can_quote(s, len, utf8)) {
		imap_write_literal(out, s, len, false);
		return;
	}
	buf_add(out, "\"", 1);
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '"' && s[i] != '\\') {
			run++;
			continue;
		}
		buf_add(out, s + i - run, run);
		buf_add(out, "\\", 1);
		buf_add(out, s + i, 1);
		run = 0;
	}
	buf_add(out, s + len - run, run);
	buf_add(out, "\"", 1);
}

void
imap_write_nstring(struct buf *out, const char *s, size_t len, bool utf8)
{
	if (s == NULL)
		buf_add(out, "NIL", 3);
	else
		imap_write_string(out, s, len, utf8);
}

void
imap_write_astring(struct buf *out, const char *s, size_t len, bool utf8)
{
	bool atom = len > 0 && !ascii_eq_nocase(s, len, "NIL");

	for (size_t i = 0; atom && i < len; i++)
		atom = (unsigned char)s[i] < 0x80 &&
		    imap_is_astring_char((unsigned char)s[i]);
	if (atom)
		buf_add(out, s, len);
	else
		imap_write_string(out, s, len, utf8);
}

void
imap_write_mailbox(struct buf *out, const char *name, size_t len, bool utf8)
{
	struct buf m;

	if (utf8) {
		imap_write_astring(out, name, len, true);
		return;
	}
	buf_init(&m, 0);
	if (imap_mutf7_encode(name, len, &m) < 0)
		imap_write_astring(out, name, len, false);
	else
		imap_write_astring(out, (const char *)m.data, m.len, false);
	buf_free(&m);
}

void
imap_write_u64(struct buf *out, uint64_t v)
{
	buf_addf(out, "%" PRIu64, v);
}

static void
seq_number(struct buf *out, uint32_t v)
{
	if (v == IMAP_SEQ_STAR)
		buf_add(out, "*", 1);
	else
		buf_addf(out, "%" PRIu32, v);
}

void
imap_write_seqset(struct buf *out, const struct imap_seqset *set)
{
	if (set->saved) {
		buf_add(out, "$", 1);
		return;
	}
	for (size_t i = 0; i < set->n; i++) {
		if (i > 0)
			buf_add(out, ",", 1);
		seq_number(out, set->r[i].lo);
		if (set->r[i].hi != set->r[i].lo) {
			buf_add(out, ":", 1);
			seq_number(out, set->r[i].hi);
		}
	}
}

void
imap_write_uidset(struct buf *out, const uint32_t *v, size_t n)
{
	bool first = true;

	for (size_t i = 0; i < n;) {
		size_t j = i;

		/* v[j + 1] - 1 cannot wrap: v holds no 0 */
		while (j + 1 < n && v[j + 1] - 1 <= v[j])
			j++;
		if (v[j] == v[i])
			buf_addf(out, "%s%" PRIu32, first ? "" : ",", v[i]);
		else
			buf_addf(out, "%s%" PRIu32 ":%" PRIu32,
			    first ? "" : ",", v[i], v[j]);
		first = false;
		i = j + 1;
	}
}
