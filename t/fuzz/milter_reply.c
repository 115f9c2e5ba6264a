/*
 * milter_reply.c - libFuzzer target for milter_reply_parse
 * (filters/milter.c): how the milter client reads a milter's reply packet.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: common/netaddr.c common/config.c common/config_table.c
 * fuzz-sources: common/config_show.c filters/filters.c filters/milter.c
 * fuzz-sources: common/dns_rr.c
 *
 * Input: byte 0 picks the reply command (one of the milter protocol's,
 * or any byte), byte 1 bit 0 says whether the reply answers the end of
 * message, the rest is the packet data: read in place, at the very end
 * of libFuzzer's buffer, so reading one byte past it is an ASan report.
 *
 * Invariants, checked against a reading of the protocol written here:
 *   - the commands we apply are exactly continue, accept, reject,
 *     tempfail, discard, replycode, quarantine, progress, skip, the
 *     three header edits, replbody, addrcpt, addrcpt_par, delrcpt and
 *     chgfrom; anything else is -1 with a reason;
 *   - the answer does not depend on eom, except that header, body and
 *     envelope changes are refused before the end of message;
 *   - SMFIR_REPLYCODE: accepted exactly for "4xx"/"5xx" and at least four
 *     bytes; 5xx rejects, 4xx tempfails; the enhanced code is the
 *     milter's only when it is RFC 3463 ("d.ddd.ddd") of the same class,
 *     else 5.7.1 / 4.7.1; the text is the rest up to the first NUL (or
 *     the end), cut to the reply's size, control characters as spaces,
 *     NUL-terminated;
 *   - header edits: accepted exactly when the data is [index] name NUL
 *     value NUL with a name of 1..200 printable ASCII characters other
 *     than ':' and a value of at most 16384 bytes whose every CR is
 *     followed by LF and every LF by a space or a tab; name and value
 *     point into the data, NUL-terminated there; the index is the
 *     big-endian first four bytes;
 *   - quarantine: the reason is the data up to its first NUL;
 *   - replbody: any data, all of it, in place (the body part);
 *   - envelope changes: accepted exactly when the data starts with a
 *     NUL-terminated address that, one pair of angle brackets around it
 *     dropped, has at most 256 bytes, none of them a control character,
 *     blank, DEL or angle bracket, and is local@domain (last '@', both
 *     sides non-empty), or "postmaster" in any case for a recipient, or
 *     empty for chgfrom; for addrcpt_par and chgfrom, bytes after it must
 *     be a NUL-terminated string of at most 1000 bytes without control
 *     characters (args: NULL when absent or empty); the address view
 *     points into the data, its length exact.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libmilter/mfdef.h>

#include "common/buf.h"
#include "common/common.h"
#include "filters/milter.h"

static const char cmds[] = {
	SMFIR_CONTINUE, SMFIR_ACCEPT, SMFIR_REJECT, SMFIR_TEMPFAIL,
	SMFIR_DISCARD, SMFIR_REPLYCODE, SMFIR_QUARANTINE, SMFIR_PROGRESS,
	SMFIR_SKIP, SMFIR_ADDHEADER, SMFIR_INSHEADER, SMFIR_CHGHEADER,
	/* (the seeds index this table: add at the end only) */
	SMFIR_ADDRCPT, SMFIR_DELRCPT, SMFIR_ADDRCPT_PAR, SMFIR_SHUTDOWN,
	SMFIR_REPLBODY, SMFIR_CHGFROM, SMFIR_CONN_FAIL, SMFIR_SETSYMLIST,
	/* the replies again, so that they are picked more often */
	SMFIR_REPLYCODE, SMFIR_REPLYCODE, SMFIR_CHGHEADER, SMFIR_ADDHEADER,
	SMFIR_ADDRCPT_PAR, SMFIR_CHGFROM, SMFIR_ADDRCPT,
};

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ref_ecode - RFC 3463 2: class "." subject "." detail, 1-3 digits each */
static bool
ref_ecode(const char *s, size_t n, char cls)
{
	size_t i = 0, field = 0, digits = 0;

	if (n == 0 || s[0] != cls || (cls != '4' && cls != '5'))
		return false;
	for (i = 1; i < n; i++) {
		if (s[i] == '.') {
			if ((field > 0 && (digits == 0 || digits > 3)) ||
			    ++field > 2)
				return false;
			digits = 0;
		} else if (is_digit(s[i]) && field > 0) {
			digits++;
		} else {
			return false;
		}
	}
	return field == 2 && digits >= 1 && digits <= 3;
}

static void
check_replycode(const char *d, size_t len, int rc,
    const struct milter_reply *mr)
{
	const char *end, *t, *sp, *text;
	char want[sizeof(mr->reply.text)];
	size_t n;
	int code;

	if (len < 4 || (d[0] != '4' && d[0] != '5') || !is_digit(d[1]) ||
	    !is_digit(d[2])) {
		ASSERT(rc == -1);
		return;
	}
	ASSERT(rc == 0);
	code = (d[0] - '0') * 100 + (d[1] - '0') * 10 + (d[2] - '0');
	ASSERT(mr->kind == MILTER_REPLY_FINAL);
	ASSERT(mr->reply.code == code);
	ASSERT(code >= 400 && code <= 599);
	ASSERT(mr->action == (code >= 500 ? FILTER_REJECT : FILTER_TEMPFAIL));

	/* the ecode: the milter's when it is one, else ours */
	end = memchr(d, '\0', len);
	if (end == NULL)
		end = d + len;
	for (t = d + 3; t < end && (*t == ' ' || *t == '-'); t++)
		;
	sp = memchr(t, ' ', (size_t)(end - t));
	if (sp != NULL && ref_ecode(t, (size_t)(sp - t), d[0])) {
		ASSERT(strlen(mr->reply.ecode) == (size_t)(sp - t));
		ASSERT(memcmp(mr->reply.ecode, t, (size_t)(sp - t)) == 0);
		text = sp + 1;
	} else {
		ASSERT(strcmp(mr->reply.ecode, code >= 500 ? "5.7.1" :
		    "4.7.1") == 0);
		text = t;
	}
	ASSERT(ref_ecode(mr->reply.ecode, strlen(mr->reply.ecode), d[0]));

	/* the text: cut, control characters as spaces */
	n = (size_t)(end - text);
	if (n > sizeof(want) - 1)
		n = sizeof(want) - 1;
	for (size_t i = 0; i < n; i++)
		want[i] = (unsigned char)text[i] < 0x20 || text[i] == 0x7f ?
		    ' ' : text[i];
	want[n] = '\0';
	ASSERT(memchr(mr->reply.text, '\0', sizeof(mr->reply.text)) != NULL);
	ASSERT(strcmp(mr->reply.text, want) == 0);
}

/* ref_value_ok - what the message may hold as a folded field value */
static bool
ref_value_ok(const char *v, size_t n)
{
	if (n > MILTER_HEADER_VALUE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char next = i + 1 < n ? v[i + 1] : '\0';

		if (v[i] == '\r' && next != '\n')
			return false;
		if (v[i] == '\n' && next != ' ' && next != '\t')
			return false;
	}
	return true;
}

static bool
ref_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > MILTER_HEADER_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e ||
		    s[i] == ':')
			return false;
	return true;
}

static void
check_header(char cmd, const char *d, size_t len, bool eom, int rc,
    const char *why, const struct milter_reply *mr)
{
	size_t off = cmd == SMFIR_ADDHEADER ? 0 : 4, nl, vl;
	const char *name, *value, *z;

	if (!eom) {
		ASSERT(rc == -1);
		ASSERT(strstr(why, "before the end of message") != NULL);
		return;
	}
	if (len < off) {
		ASSERT(rc == -1);
		return;
	}
	name = d + off;
	z = memchr(name, '\0', len - off);
	if (z == NULL) {
		ASSERT(rc == -1);
		return;
	}
	nl = (size_t)(z - name);
	value = z + 1;
	z = memchr(value, '\0', (size_t)(d + len - value));
	if (z == NULL) {
		ASSERT(rc == -1);
		return;
	}
	vl = (size_t)(z - value);
	if (!ref_name_ok(name, nl) || !ref_value_ok(value, vl)) {
		ASSERT(rc == -1);
		return;
	}
	ASSERT(rc == 0);
	ASSERT(mr->kind == MILTER_REPLY_HEADER);
	ASSERT(mr->op == (cmd == SMFIR_ADDHEADER ? MILTER_HEADER_ADD :
	    cmd == SMFIR_INSHEADER ? MILTER_HEADER_INSERT :
	    MILTER_HEADER_CHANGE));
	ASSERT(mr->name == name && mr->value == value);
	ASSERT(strlen(mr->name) == nl && strlen(mr->value) == vl);
	ASSERT(mr->index == (off == 0 ? 0 : (uint32_t)(unsigned char)d[0] <<
	    24 | (uint32_t)(unsigned char)d[1] << 16 |
	    (uint32_t)(unsigned char)d[2] << 8 | (unsigned char)d[3]));
}

/* ref_addr_ok - the address rules of the contract, written again */
static bool
ref_addr_ok(const char *a, size_t n, bool sender)
{
	size_t at = n;

	if (n > 256)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)a[i];

		if (c < 0x21 || c == 0x7f || c == '<' || c == '>')
			return false;
		if (c == '@')
			at = i;
	}
	if (n == 0)
		return sender;
	if (at == n)
		return !sender && n == 10 && strncasecmp(a, "postmaster", 10) ==
		    0;
	return at > 0 && at + 1 < n;
}

static void
check_envelope(char cmd, const char *d, size_t len, bool eom, int rc,
    const char *why, const struct milter_reply *mr)
{
	bool sender = cmd == SMFIR_CHGFROM;
	const char *z, *a = d, *args = NULL;
	size_t n;

	if (!eom) {
		ASSERT(rc == -1);
		ASSERT(strstr(why, "before the end of message") != NULL);
		return;
	}
	if ((z = memchr(d, '\0', len)) == NULL) {
		ASSERT(rc == -1);
		return;
	}
	n = (size_t)(z - d);
	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		a++;
		n -= 2;
	}
	if (!ref_addr_ok(a, n, sender)) {
		ASSERT(rc == -1);
		return;
	}
	if ((cmd == SMFIR_ADDRCPT_PAR || sender) && (size_t)(z + 1 - d) <
	    len) {
		const char *az = memchr(z + 1, '\0', (size_t)(d + len - z - 1));

		if (az == NULL || az - z - 1 > 1000) {
			ASSERT(rc == -1);
			return;
		}
		for (const char *p = z + 1; p < az; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f) {
				ASSERT(rc == -1);
				return;
			}
		args = az > z + 1 ? z + 1 : NULL;
	}
	ASSERT(rc == 0);
	ASSERT(mr->kind == (sender ? MILTER_REPLY_SENDER :
	    cmd == SMFIR_DELRCPT ? MILTER_REPLY_RCPT_DELETE :
	    MILTER_REPLY_RCPT_ADD));
	ASSERT(mr->addr == a && mr->addr_len == n);
	ASSERT(mr->args == args);
	if (args != NULL)
		ASSERT(strlen(mr->args) <= 1000);
}

static void
check_one(char cmd, const char *d, size_t len, bool eom)
{
	struct milter_reply mr;
	const char *why = NULL;
	int rc = milter_reply_parse(cmd, (const unsigned char *)d, len, eom,
	    &mr, &why);

	ASSERT(rc == 0 || rc == -1);
	if (rc < 0)
		ASSERT(why != NULL && why[0] != '\0');
	if (rc == 0 && mr.kind == MILTER_REPLY_FINAL) {
		ASSERT(mr.action == FILTER_CONTINUE ||
		    mr.action == FILTER_ACCEPT || mr.action == FILTER_REJECT ||
		    mr.action == FILTER_TEMPFAIL ||
		    mr.action == FILTER_DISCARD ||
		    mr.action == FILTER_QUARANTINE);
		ASSERT(mr.skip_body == (cmd == SMFIR_SKIP));
		ASSERT(mr.reply.code == 0 || cmd == SMFIR_REPLYCODE);
	}
	switch (cmd) {
	case SMFIR_CONTINUE:
	case SMFIR_SKIP:
		ASSERT(rc == 0 && mr.action == FILTER_CONTINUE);
		break;
	case SMFIR_ACCEPT:
		ASSERT(rc == 0 && mr.action == FILTER_ACCEPT);
		break;
	case SMFIR_REJECT:
		ASSERT(rc == 0 && mr.action == FILTER_REJECT);
		break;
	case SMFIR_TEMPFAIL:
		ASSERT(rc == 0 && mr.action == FILTER_TEMPFAIL);
		break;
	case SMFIR_DISCARD:
		ASSERT(rc == 0 && mr.action == FILTER_DISCARD);
		break;
	case SMFIR_PROGRESS:
		ASSERT(rc == 0 && mr.kind == MILTER_REPLY_PROGRESS);
		break;
	case SMFIR_QUARANTINE: {
		const char *z = memchr(d, '\0', len);

		ASSERT(rc == 0 && mr.action == FILTER_QUARANTINE);
		ASSERT(mr.reason_len == (z != NULL ? (size_t)(z - d) : len));
		ASSERT(mr.reason_len == 0 || mr.reason == d);
		break;
	}
	case SMFIR_REPLYCODE:
		check_replycode(d, len, rc, &mr);
		break;
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		check_header(cmd, d, len, eom, rc, why, &mr);
		break;
	case SMFIR_REPLBODY:
		if (!eom) {
			ASSERT(rc == -1);
			break;
		}
		ASSERT(rc == 0 && mr.kind == MILTER_REPLY_BODY);
		ASSERT(mr.body_len == len);
		ASSERT(len == 0 || mr.body == (const unsigned char *)d);
		break;
	case SMFIR_ADDRCPT:
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_DELRCPT:
	case SMFIR_CHGFROM:
		check_envelope(cmd, d, len, eom, rc, why, &mr);
		break;
	default:
		ASSERT(rc == -1);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char cmd;
	const char *d;
	size_t len;

	if (size < 2)
		return 0;
	cmd = data[0] < 0x80 ? cmds[data[0] % sizeof(cmds)] :
	    (char)(data[0] & 0x7f);
	d = (const char *)data + 2;
	len = size - 2;
	check_one(cmd, d, len, (data[1] & 1) != 0);
	check_one(cmd, d, len, (data[1] & 1) == 0);
	/* a shorter packet of the same bytes: the end moves */
	if (len > 0)
		check_one(cmd, d, len - 1, true);
	return 0;
}
