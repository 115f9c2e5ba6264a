/*
 * filters_header.c - libFuzzer target for the pipeline's header handling
 * (filters/filters.c): the split of the header at the data step and
 * filters_apply, which inserts our fields after our Received field,
 * drops the client's forgeries of them and applies the stages' edits.
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: common/netaddr.c common/config.c common/config_table.c
 * fuzz-sources: common/config_show.c filters/filters.c filters/milter.c
 * fuzz-sources: common/dns_rr.c
 *
 * Input: byte 0 is a mode (bit 0: a pipeline with one stage that edits
 * the header, driven by a script at the end of the input; bit 1: the
 * message is "truncated"; bit 2: bare CR and LF made CRLF first, as
 * smtp.bare_newline = normalize does; bit 3: thresholds at 0, so that
 * X-Spam-Flag and the junk mark are added; bit 4: our Received field is
 * put before the message, as the SMTP server does).  With bit 0, byte 1
 * gives the script's length in edits of three bytes (add or change, a
 * name from the message or a list, an index, a value or a deletion).  The
 * rest is the message.  Without bit 4 our Received field is its first
 * line when it has a CRLF (at = the end of that line), else there is none
 * (at = 0); with it, at is the end of ours.  Per input:
 * a session, MAIL, RCPT, filters_data, filters_apply, filters_txn_end,
 * and the same transaction again, which must give the same bytes.
 *
 * Invariants, against a reference model written here from the contract:
 *   - the split: the header is the lines up to the first empty one (CR,
 *     LF or CRLF at the start of a line) or the end, in items of a line
 *     and its continuation lines; the first FILTER_HEADERS_MAX items with
 *     a colon are m->hdrs (name before the first colon, value after it
 *     without the final line break), items without a colon and those past
 *     FILTER_HEADERS_MAX are not; the body offset is after the empty line;
 *   - the insertion point at' is at, or, when the bytes at at (in the
 *     header) start with a space or tab, the end of the item they belong
 *     to (continuation lines stay with the field before them);
 *   - the output is exactly: the bytes before at', the stages' additions,
 *     one "Authentication-Results: <hostname>; none", one X-Spam-Status,
 *     X-Spam-Flag / X-Postern-Spam only over their thresholds, then the
 *     client's items from at' to the empty line (items without a colon
 *     verbatim, fields of ours dropped even when an edit names them, the
 *     index-th field of a name, counted from the top over every item of
 *     the header, changed or deleted by the last edit for it, the others
 *     verbatim), then the rest (empty line and body) unchanged;
 *   - a field is ours when its name (up to the first colon, trailing
 *     blanks ignored) is X-Spam-Status, X-Spam-Flag or X-Postern-Spam in
 *     any case, or Authentication-Results whose authserv-id (after white
 *     space, line breaks and nested comments, maybe quoted) is our
 *     hostname followed by ';', blank, CR, LF, '(' or the end (quoted: by
 *     the closing quote); filters_is_ours agrees for every stage field;
 *   - no forged field of ours survives in the header as a reader of the
 *     stored message sees it (up to the first empty line, lines without
 *     a colon skipped; mail store and delivery agent walk it that way),
 *     for messages SMTP can deliver (no bare CR/LF), and no client line
 *     continues a field of ours.
 *
 * The seeds forged-* and leading-space are the five forgeries filters.c
 * used to let through (after a line without a colon, after
 * FILTER_HEADERS_MAX fields, a blank before the colon, an authserv-id in
 * CFWS or quotes, a first client line starting with white space).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "filters/filters.h"

#define HOST "mx.fuzz.example"
#define SCRIPT_EDITS_MAX 21

enum {
	MODE_EDITS = 1,
	MODE_TRUNCATED = 2,
	MODE_NORMALIZE = 4,
	MODE_HOT = 8,
	MODE_RECEIVED = 16,
};

static struct config *cfgs[4];
static struct filters *pipes[4];

/* ---- the editing stage: what it asked for, for the oracle ---- */

struct req {
	bool add;
	char *name;
	unsigned index;
	char *value;		/* NULL: delete */
};

static const uint8_t *g_script;
static size_t g_nscript;
static struct req g_reqs[SCRIPT_EDITS_MAX];
static size_t g_nreqs;

static const char *const names[] = {
	"Subject", "X-Spam-Flag", "X-Spam-Status", "Authentication-Results",
	"Received", "From", "x-drop", "X-New", "X-Postern-Spam", "subject",
};

static const char *const values[] = {
	" changed", "new", "", " YES", "\r\n\tfolded value", " a\r\n b",
	" " HOST "; dkim=pass", " Yes, score=99",
};

/* what a milter may hand back as a name: RFC 5322 ftext */
static bool
name_ok(const char *s)
{
	if (*s == '\0' || strlen(s) > 200)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x21 || (unsigned char)*s > 0x7e ||
		    *s == ':')
			return false;
	return true;
}

/* a value as stored: CRLF folding only */
static bool
value_ok(const char *s)
{
	char prev = '\0';

	for (; *s != '\0'; prev = *s++)
		if ((s[0] == '\r' && s[1] != '\n') || (s[0] == '\n' &&
		    (prev != '\r' || (s[1] != ' ' && s[1] != '\t'))))
			return false;
	return true;
}

static enum filter_action
edit_data(void *state, struct filter_msg *m, struct filter_reply *r)
{
	(void)state;
	(void)r;
	for (size_t i = 0; i < g_nscript && g_nreqs < SCRIPT_EDITS_MAX; i++) {
		const uint8_t *e = g_script + 3 * i;
		const char *name = names[e[0] % ARRAY_SIZE(names)];
		const char *value = NULL;
		struct req *q = &g_reqs[g_nreqs];

		/* names and values of the message itself, when a milter
		 * could send them back */
		if ((e[0] & 0x40) && m->nhdrs > 0 &&
		    name_ok(m->hdrs[e[0] % m->nhdrs].name))
			name = m->hdrs[e[0] % m->nhdrs].name;
		if (e[2] >= 0x80 && m->nhdrs > 0 &&
		    value_ok(m->hdrs[e[2] % m->nhdrs].value))
			value = m->hdrs[e[2] % m->nhdrs].value;
		else if (e[2] % 16 != 0)
			value = values[e[2] % ARRAY_SIZE(values)];
		q->add = (e[0] & 0x80) != 0;
		q->name = xstrdup(name);
		q->index = q->add ? 0 : e[1] % 5;
		if (q->add && value == NULL)
			value = "";
		q->value = value != NULL ? xstrdup(value) : NULL;
		g_nreqs++;
		if (q->add)
			filter_header_add(m, name, value);
		else
			filter_header_change(m, name, q->index, value);
	}
	return FILTER_CONTINUE;
}

static const struct filter_stage_ops edit_stage = {
	.name = "fuzzedit",
	.data = edit_data,
};

static const struct filter_stage_ops *const registry[] = { &edit_stage };

static void
make_pipeline(int i)
{
	char path[] = "/tmp/postern-fuzz-XXXXXX";
	struct filter_env env;
	struct buf err = BUF_INIT(0);
	int fd = mkstemp(path);
	FILE *fp;

	if (fd < 0 || (fp = fdopen(fd, "w")) == NULL)
		PANIC("fuzz: cannot write a configuration file");
	fprintf(fp, "server = { hostname = \"" HOST "\"; };\n"
	    "filters = { trust_loopback = false; %s %s };\n",
	    (i & 1) ? "stages = [\"fuzzedit\"];" : "stages = [];",
	    (i & 2) ? "junk_score = 0; add_header_score = 0;" : "");
	fclose(fp);
	if (config_load(path, &cfgs[i], &err) < 0)
		PANIC("fuzz: config: %s", buf_cstr(&err));
	unlink(path);
	memset(&env, 0, sizeof(env));
	env.cfg = cfgs[i];
	if (filters_new(&env, registry, ARRAY_SIZE(registry), &pipes[i],
	    &err) < 0)
		PANIC("fuzz: filters_new: %s", buf_cstr(&err));
	ASSERT(filters_stage_count(pipes[i]) == (size_t)(i & 1));
	buf_free(&err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* filters_data logs a line per message */
	log_open(LOG_DEST_STDERR, LOG_LVL_ERROR, "mail", NULL);
	for (int i = 0; i < 4; i++)
		make_pipeline(i);
	return 0;
}

/* ---- the reference split ---- */

/* an item of the header: a line and its continuation lines */
struct item {
	size_t start, end;	/* end: after its last line break */
	size_t colon;		/* its first colon, or NOCOLON */
	bool stage;		/* one of the fields the stages get */
};

#define NOCOLON SIZE_MAX

struct split {
	struct item *it;
	size_t n;
	size_t nfields;		/* items with stage set */
	size_t body_off;
	size_t cut;		/* the empty line, or len */
};

/* the end of the line at p and its continuation lines */
static size_t
ref_field_end(const uint8_t *m, size_t len, size_t p)
{
	for (;;) {
		const uint8_t *nl = memchr(m + p, '\n', len - p);

		if (nl == NULL)
			return len;
		p = (size_t)(nl - m) + 1;
		if (p >= len || (m[p] != ' ' && m[p] != '\t'))
			return p;
	}
}

static void
ref_split(const uint8_t *m, size_t len, struct split *s)
{
	size_t p = 0;

	memset(s, 0, sizeof(*s));
	s->it = xcalloc(len / 2 + 2, sizeof(*s->it));
	while (p < len && m[p] != '\r' && m[p] != '\n') {
		struct item *it = &s->it[s->n++];
		const uint8_t *colon;

		it->start = p;
		it->end = ref_field_end(m, len, p);
		colon = memchr(m + p, ':', it->end - p);
		it->colon = colon != NULL ? (size_t)(colon - m) : NOCOLON;
		it->stage = colon != NULL && s->nfields < FILTER_HEADERS_MAX;
		s->nfields += it->stage;
		p = it->end;
	}
	s->cut = p;
	s->body_off = p;
	if (p < len)			/* the empty line: CRLF, CR or LF */
		s->body_off = p + (m[p] == '\r' && p + 1 < len &&
		    m[p + 1] == '\n' ? 2 : 1);
}

static void
check_split(const struct filter_msg *fm, const uint8_t *m, size_t len,
    const struct split *s)
{
	size_t i = 0;

	ASSERT(fm->body_off == s->body_off && fm->body_off <= len);
	ASSERT(fm->nhdrs == s->nfields && fm->nhdrs <= FILTER_HEADERS_MAX);
	for (size_t j = 0; j < s->n; j++) {
		const struct item *f = &s->it[j];
		size_t nl, ve = f->end, vo;

		if (!f->stage)
			continue;
		nl = f->colon - f->start;
		vo = f->colon + 1;
		/* names and values are C strings: up to a NUL of theirs */
		ASSERT(strlen(fm->hdrs[i].name) <= nl);
		ASSERT(strncmp(fm->hdrs[i].name, (const char *)m + f->start,
		    nl) == 0);
		if (ve > vo && m[ve - 1] == '\n')
			ve--;
		if (ve > vo && m[ve - 1] == '\r')
			ve--;
		ASSERT(strlen(fm->hdrs[i].value) <= ve - vo);
		ASSERT(strncmp(fm->hdrs[i].value, (const char *)m + vo,
		    ve - vo) == 0);
		i++;
	}
	ASSERT(i == fm->nhdrs);
}

/* ---- what belongs in the output ---- */

/* past white space, line breaks and (nested) comments, from i */
static size_t
skip_cfws(const uint8_t *p, size_t i, size_t n)
{
	int depth = 0;

	for (; i < n; i++) {
		if (p[i] == '(')
			depth++;
		else if (p[i] == ')' && depth > 0)
			depth--;
		else if (p[i] == '\\' && depth > 0 && i + 1 < n)
			i++;
		else if (depth == 0 && p[i] != ' ' && p[i] != '\t' &&
		    p[i] != '\r' && p[i] != '\n')
			break;
	}
	return i;
}

/* an Authentication-Results value whose authserv-id is ours (RFC 8601
 * 2.2: CFWS around it, a token or a quoted string) */
static bool
ar_is_ours(const uint8_t *v, size_t n)
{
	size_t hl = strlen(HOST), i = skip_cfws(v, 0, n);
	bool quoted = i < n && v[i] == '"';

	i += quoted;
	if (n - i < hl || strncasecmp((const char *)v + i, HOST, hl) != 0)
		return false;
	i += hl;
	if (quoted)
		return i < n && v[i] == '"';
	return i == n || v[i] == ';' || v[i] == ' ' || v[i] == '\t' ||
	    v[i] == '\r' || v[i] == '\n' || v[i] == '(';
}

static bool
name_eq(const uint8_t *p, size_t nl, const char *name)
{
	return nl == strlen(name) && strncasecmp((const char *)p, name, nl) ==
	    0;
}

/*
 * ref_ours - the field p[0..n) (with its line breaks) would pass for one
 * of ours: its name up to the first colon, trailing blanks ignored, is
 * one of our fields', any case (Authentication-Results: with our
 * authserv-id)
 */
static bool
ref_ours(const uint8_t *p, size_t n)
{
	const uint8_t *colon = memchr(p, ':', n);
	size_t nl;

	if (colon == NULL)
		return false;
	nl = (size_t)(colon - p);
	while (nl > 0 && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
		nl--;
	if (name_eq(p, nl, "X-Spam-Flag") || name_eq(p, nl, "X-Spam-Status") ||
	    name_eq(p, nl, FILTERS_JUNK_FIELD))
		return true;
	return name_eq(p, nl, "Authentication-Results") &&
	    ar_is_ours(colon + 1, (size_t)(p + n - colon - 1));
}

/* the fields inserted after at */
static void
want_inserted(const struct filter_msg *fm, bool hot, bool truncated,
    struct buf *out)
{
	for (size_t i = 0; i < fm->nedits; i++)
		if (fm->edits[i].kind == FILTER_EDIT_ADD)
			buf_addf(out, "%s:%s%s\r\n", fm->edits[i].name,
			    fm->edits[i].value[0] == ' ' ? "" : " ",
			    fm->edits[i].value);
	buf_add_str(out, "Authentication-Results: " HOST "; none\r\n");
	buf_addf(out, "X-Spam-Status: %s, score=0.0 required=%s tests=%s\r\n",
	    hot ? "Yes" : "No", hot ? "0.0" : "6.0",
	    truncated ? "TOO_LARGE_TO_SCAN=0.0" : "none");
	if (hot)
		buf_add_str(out, "X-Spam-Flag: YES\r\n"
		    FILTERS_JUNK_FIELD ": junk\r\n");
}

/* the stage's requests are the message's edits */
static void
check_edits(const struct filter_msg *fm)
{
	ASSERT(fm->nedits == g_nreqs);
	for (size_t i = 0; i < g_nreqs; i++) {
		const struct filter_edit *e = &fm->edits[i];

		ASSERT(e->kind == (g_reqs[i].add ? FILTER_EDIT_ADD :
		    FILTER_EDIT_CHANGE));
		ASSERT(strcmp(e->name, g_reqs[i].name) == 0);
		ASSERT(e->index == g_reqs[i].index);
		ASSERT((e->value == NULL) == (g_reqs[i].value == NULL));
		ASSERT(e->value == NULL || strcmp(e->value,
		    g_reqs[i].value) == 0);
	}
}

/* a range of the output we wrote: not the client's */
struct span {
	size_t start, end;
};

/*
 * want_fields - the client's items from item j0 on, as the contract says;
 * spans of ours (changed fields) recorded
 */
static void
want_fields(const struct filter_msg *fm, const uint8_t *m,
    const struct split *s, size_t j0, size_t base, struct buf *out,
    struct span *sp, size_t *nsp)
{
	for (size_t j = j0; j < s->n; j++) {
		const struct item *f = &s->it[j];
		const struct filter_edit *e = NULL;
		unsigned k = 0;
		size_t nl;

		if (f->colon == NOCOLON) {	/* not a field: as it is */
			buf_add(out, m + f->start, f->end - f->start);
			continue;
		}
		nl = f->colon - f->start;
		if (ref_ours(m + f->start, f->end - f->start))
			continue;	/* dropped, whatever the edits say */
		/* the k-th of its name from the top: every item counts,
		 * those before at, past FILTER_HEADERS_MAX, of ours */
		for (size_t i = 0; fm->nedits > 0 && i <= j; i++)
			if (s->it[i].colon != NOCOLON &&
			    s->it[i].colon - s->it[i].start == nl &&
			    strncasecmp((const char *)m + s->it[i].start,
			    (const char *)m + f->start, nl) == 0)
				k++;
		for (size_t i = 0; fm->nedits > 0 && i < fm->nedits; i++)
			if (fm->edits[i].kind == FILTER_EDIT_CHANGE &&
			    fm->edits[i].index == k &&
			    strlen(fm->edits[i].name) == nl &&
			    strncasecmp(fm->edits[i].name,
			    (const char *)m + f->start, nl) == 0)
				e = &fm->edits[i];
		if (e != NULL) {
			if (e->value == NULL)
				continue;
			sp[*nsp].start = base + out->len;
			/* the field keeps its name as the client wrote it */
			buf_add(out, m + f->start, nl);
			buf_addf(out, ":%s%s\r\n", e->value[0] == ' ' ? "" :
			    " ", e->value);
			sp[*nsp].end = base + out->len;
			(*nsp)++;
		} else {
			buf_add(out, m + f->start, f->end - f->start);
		}
	}
}

/* ---- the header as a reader of the stored message sees it ---- */

/*
 * check_forged - walk the header of out from at as the store does
 * (store/mime.c mime_header_next, delivery.c marked_junk: up to the
 * first empty line, lines without a colon skipped, white space before
 * the colon ignored); a field of ours that is not in a span of ours is
 * a forgery that got through
 */
static void
check_forged(const uint8_t *o, size_t n, size_t at, const struct span *sp,
    size_t nsp)
{
	size_t p = at;

	while (p < n && o[p] != '\n' && !(o[p] == '\r' && p + 1 < n &&
	    o[p + 1] == '\n')) {
		size_t e = ref_field_end(o, n, p);
		bool mine = false;

		if (o[p] == ' ' || o[p] == '\t' || memchr(o + p, ':',
		    e - p) == NULL) {
			p = e;
			continue;
		}
		for (size_t i = 0; i < nsp && !mine; i++)
			mine = p >= sp[i].start && p < sp[i].end;
		ASSERT(mine || !ref_ours(o + p, e - p));
		p = e;
	}
}

/* ---- one message ---- */

static bool
has_bare_newline(const uint8_t *m, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((m[i] == '\r' && (i + 1 == len || m[i + 1] != '\n')) ||
		    (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')))
			return true;
	return false;
}

static uint8_t *
normalize(const uint8_t *m, size_t len, size_t *len_r)
{
	struct buf b = BUF_INIT(0);

	for (size_t i = 0; i < len; i++) {
		if (m[i] == '\r' && i + 1 < len && m[i + 1] == '\n') {
			buf_add(&b, "\r\n", 2);
			i++;
		} else if (m[i] == '\r' || m[i] == '\n') {
			buf_add(&b, "\r\n", 2);
		} else {
			buf_add(&b, m + i, 1);
		}
	}
	return (uint8_t *)buf_steal(&b, len_r);
}

static void
deliver(struct filter_session *s, unsigned mode, const uint8_t *m,
    size_t len, size_t at, struct buf *out)
{
	struct filter_reply r;
	enum filter_action a;

	memset(&r, 0, sizeof(r));
	ASSERT(filters_mail(s, "FUZZQID", "s@example.net", &r) ==
	    FILTER_CONTINUE);
	ASSERT(filters_rcpt(s, "u@example.org", &r) == FILTER_CONTINUE);
	for (size_t i = 0; i < g_nreqs; i++) {
		free(g_reqs[i].name);
		free(g_reqs[i].value);
	}
	g_nreqs = 0;
	a = filters_data(s, m, len, (mode & MODE_TRUNCATED) != 0, &r);
	ASSERT(a == ((mode & MODE_HOT) ? FILTER_QUARANTINE : FILTER_CONTINUE));
	ASSERT(filters_junk(s) == ((mode & MODE_HOT) != 0));
	filters_apply(s, m, len, at, out);
}

/* our Received field, as mta/smtpd_data.c add_received writes it */
static const char received[] =
    "Received: from client.example (unknown [192.0.2.1])\r\n"
    "\tby " HOST " (Postern) with ESMTP id FUZZQID\r\n"
    "\tfor <u@example.org>; Mon, 30 Nov 2026 00:00:00 +0000\r\n";

/* the insertion point: after the continuation lines at at, if any */
static size_t
ref_at(const uint8_t *m, const struct split *sp, size_t at)
{
	for (size_t i = 0; i < sp->n; i++) {
		const struct item *it = &sp->it[i];

		if (at < it->start || at >= it->end)
			continue;
		if (m[at] == ' ' || m[at] == '\t')
			return it->end;
		/* at is where a line starts: inside an item, a
		 * continuation line */
		ASSERT(at == it->start);
	}
	return at;
}

/* the stage fields as filters_is_ours sees them (name:value) */
static void
check_is_ours(const struct filter_session *s, const struct filter_msg *fm)
{
	struct buf f = BUF_INIT(0);

	for (size_t i = 0; i < fm->nhdrs; i++) {
		buf_reset(&f);
		buf_addf(&f, "%s:%s", fm->hdrs[i].name, fm->hdrs[i].value);
		ASSERT(filters_is_ours(s, fm->hdrs[i].name,
		    fm->hdrs[i].value) == ref_ours(f.data, f.len));
	}
	buf_free(&f);
}

static void
check_message(unsigned mode, const uint8_t *m, size_t len)
{
	struct filters *f = pipes[((mode & MODE_HOT) ? 2 : 0) |
	    (mode & MODE_EDITS)];
	struct filter_session *s;
	struct sockaddr_in sin;
	struct filter_msg *fm;
	struct buf out = BUF_INIT(0), again = BUF_INIT(0),
	    ins = BUF_INIT(0), want = BUF_INIT(0);
	struct split sp;
	struct span spans[FILTER_EDITS_MAX + 1];
	size_t nspans = 0, at = 0, at2, j0, tail, from;
	const uint8_t *crlf = len >= 2 ? memmem(m, len, "\r\n", 2) : NULL;
	bool smtp;

	if (mode & MODE_RECEIVED)
		at = sizeof(received) - 1;
	else if (crlf != NULL)
		at = (size_t)(crlf - m) + 2;
	/* what SMTP can deliver: CRLF only, our Received field first */
	smtp = !has_bare_newline(m, len) && (at == 0 ||
	    memchr(m, ':', at) != NULL);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0xc0000201);	/* 192.0.2.1 */
	s = filters_session_new(f, (struct sockaddr *)&sin, sizeof(sin),
	    "smtp");
	deliver(s, mode, m, len, at, &out);
	fm = filters_msg(s);

	ref_split(m, len, &sp);
	check_split(fm, m, len, &sp);
	check_is_ours(s, fm);
	if (mode & MODE_EDITS)
		check_edits(fm);
	else
		ASSERT(fm->nedits == 0);
	at2 = ref_at(m, &sp, at);

	/* the bytes before at', our fields, ..., the body */
	want_inserted(fm, (mode & MODE_HOT) != 0,
	    (mode & MODE_TRUNCATED) != 0, &ins);
	ASSERT(out.len >= at2 + ins.len);
	ASSERT(memcmp(out.data, m, at2) == 0);
	ASSERT(memcmp(out.data + at2, ins.data, ins.len) == 0);
	tail = len - (sp.body_off > at2 ? sp.body_off : at2);
	ASSERT(out.len - at2 - ins.len >= tail);
	ASSERT(memcmp(out.data + out.len - tail, m + len - tail, tail) == 0);
	spans[nspans].start = at2;
	spans[nspans++].end = at2 + ins.len;

	/* the client's items from at' (an item's start, or past them) */
	for (j0 = 0; j0 < sp.n && sp.it[j0].start < at2; j0++)
		;
	ASSERT(j0 == sp.n || sp.it[j0].start == at2);
	from = at2 >= sp.cut ? at2 : sp.cut;
	buf_add(&want, m, at2);
	buf_add(&want, ins.data, ins.len);
	want_fields(fm, m, &sp, j0, 0, &want, spans, &nspans);
	buf_add(&want, m + from, len - from);
	ASSERT(want.len == out.len &&
	    memcmp(want.data, out.data, out.len) == 0);

	/* the header as readers of the stored message see it */
	if (smtp) {
		/* before at': our Received field (or the first line) */
		ASSERT(at2 == 0 || (sp.n > 0 && sp.it[0].end == at2));
		check_forged(out.data, out.len, at2, spans, nspans);
	}
	/* no client line continues a field of ours */
	if (at2 < sp.body_off)
		ASSERT(out.data[at2 + ins.len] != ' ' &&
		    out.data[at2 + ins.len] != '\t');

	/* a second transaction of the same session: the same bytes */
	filters_txn_end(s);
	deliver(s, mode, m, len, at, &again);
	ASSERT(again.len == out.len &&
	    memcmp(again.data, out.data, out.len) == 0);
	filters_session_free(&s);
	for (size_t i = 0; i < g_nreqs; i++) {
		free(g_reqs[i].name);
		free(g_reqs[i].value);
	}
	g_nreqs = 0;
	free(sp.it);
	buf_free(&out);
	buf_free(&again);
	buf_free(&ins);
	buf_free(&want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned mode;
	size_t len, nlen, pre;
	uint8_t *m, *norm;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	g_script = NULL;
	g_nscript = 0;
	if (mode & MODE_EDITS) {
		if (size < 1)
			return 0;
		g_nscript = data[0] % (SCRIPT_EDITS_MAX + 1);
		data++;
		size--;
		if (g_nscript * 3 > size)
			g_nscript = size / 3;
		size -= g_nscript * 3;
		g_script = data + size;
	}
	/* the message in a buffer of its own size: ASan sees past its end */
	if (mode & MODE_NORMALIZE) {
		norm = normalize(data, size, &nlen);
	} else {
		norm = xmalloc(size > 0 ? size : 1);
		memcpy(norm, data, size);
		nlen = size;
	}
	pre = (mode & MODE_RECEIVED) ? sizeof(received) - 1 : 0;
	len = pre + nlen;
	m = xmalloc(len > 0 ? len : 1);
	memcpy(m, received, pre);
	memcpy(m + pre, norm, nlen);
	free(norm);
	check_message(mode, m, len);
	free(m);
	return 0;
}
