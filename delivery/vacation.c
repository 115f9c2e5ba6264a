/*
 * vacation.c - auto-replies for a JMAP VacationResponse (see vacation.h):
 * the RFC 3834 decision and the hook the delivery agent calls after its
 * commit; the reply message is vacation_msg.c's.
 *
 * Decisions (RFC 3834 leaves them to the implementer):
 *   - The reply goes to the envelope sender, the Return-Path (RFC 3834
 *     4), never to From or Reply-To, with an empty envelope sender of
 *     its own (3.3): no bounce or other auto-reply can come back to it.
 *   - The user must be named in To, Cc, Resent-To or Resent-Cc (2): an
 *     address is the user's when the directory says the account owns it
 *     (dir_owns: the account's address, with a sub-address, or an alias
 *     of it; never a catch-all).  Bcc-only, list and catch-all mail gets
 *     no reply.
 *   - System senders, besides RFC 3834's list: those of RFC 5230 4.6
 *     (owner-*, *-request, MAILER-DAEMON, LISTSERV, majordomo), plus
 *     *-owner, *-bounces (Mailman's envelope) and no-reply addresses,
 *     whose mail nobody reads.  A "+detail" is ignored for the suffixes
 *     (VERP envelopes).
 *   - X-Auto-Response-Suppress (Exchange) with OOF or All is honoured.
 *   - One reply per sender per period: the claim is written before the
 *     reply is queued and taken back when queueing fails, so a failure
 *     costs the sender the reply at worst, and two deliveries at once
 *     send one.  A crash between the two loses that reply; a retried
 *     delivery (already filed) sends none, since the delivery agent
 *     calls us only for a fresh filing.
 *   - Subject: the response's; when it is null or "", "Auto: " and the
 *     original's (3.1.5), its encoded words kept as they are.
 *   - Body: textBody and/or htmlBody; only htmlBody: a text part made
 *     from it (RFC 8621 8: the server SHOULD generate one), so every
 *     reply has a text/plain part; neither: a short default text.
 *
 * XXX a sender that is not plain ASCII (SMTPUTF8) gets no reply: the
 * reply would need SMTPUTF8 itself (sender_params "SMTPUTF8") and an
 * RFC 6532 To field.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "common/log.h"
#include "common/rfc5322.h"
#include "common/xalloc.h"
#include "delivery/vacation.h"
#include "store/mime.h"

#define SVC "vacation"
#define ADDRS_BYTES (64u * 1024)	/* addresses of one To/Cc field */
#define TOKEN_MAX 32u			/* a keyword we compare */

static const char default_text[] =
    "I am away and will read your message when I return.\n"
    "This is an automatic reply; you will not get another one for a "
    "while.\n";

static const char *const verdict_names[] = {
	[VACATION_REPLY] = "reply",
	[VACATION_NULL_SENDER] = "null sender",
	[VACATION_BAD_SENDER] = "unusable sender address",
	[VACATION_SPAM] = "spam",
	[VACATION_AUTO_SUBMITTED] = "Auto-Submitted",
	[VACATION_PRECEDENCE] = "Precedence bulk, list or junk",
	[VACATION_LIST] = "mailing list (List-*)",
	[VACATION_SUPPRESSED] = "X-Auto-Response-Suppress",
	[VACATION_SYSTEM_SENDER] = "system or list sender",
	[VACATION_OWN_SENDER] = "the user's own message",
	[VACATION_NOT_ADDRESSED] = "the user is not in To or Cc",
};

const char *
vacation_verdict_str(enum vacation_verdict v)
{
	if ((size_t)v >= ARRAY_SIZE(verdict_names))
		PANIC("vacation_verdict_str: %d", (int)v);
	return verdict_names[v];
}

/* ---- the decision ---- */

static bool
name_is(const struct rfc5322_field *f, const char *name)
{
	return ascii_eq_nocase(f->name, f->name_len, name);
}

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * next_token - the next word of a structured value from *off (comments
 * and white space skipped, ',' and ';' end it), lower case, into tok;
 * false at the end.  A word over TOKEN_MAX is cut (it then matches no
 * keyword).
 */
static bool
next_token(const char *v, size_t n, size_t *off, char tok[TOKEN_MAX + 1])
{
	size_t i = *off, len = 0;
	int depth = 0;

	while (i < n) {
		if (depth > 0) {
			if (v[i] == '\\' && i + 1 < n)
				i++;
			else if (v[i] == '(')
				depth++;
			else if (v[i] == ')')
				depth--;
			i++;
		} else if (v[i] == '(') {
			depth = 1;
			i++;
		} else if (is_wsp(v[i]) || v[i] == ',' || v[i] == ';') {
			i++;
		} else {
			break;
		}
	}
	if (i >= n) {
		*off = n;
		return false;
	}
	while (i < n && !is_wsp(v[i]) && v[i] != ',' && v[i] != ';' &&
	    v[i] != '(') {
		if (len < TOKEN_MAX)
			tok[len++] = (char)ascii_tolower(v[i]);
		i++;
	}
	tok[len] = '\0';
	*off = i;
	return true;
}

/* first_token - the value's first word ("" when none) */
static void
first_token(const struct rfc5322_field *f, char tok[TOKEN_MAX + 1])
{
	size_t off = 0;

	if (!next_token(f->value, f->value_len, &off, tok))
		tok[0] = '\0';
}

static bool
suppresses_oof(const struct rfc5322_field *f)
{
	char tok[TOKEN_MAX + 1];
	size_t off = 0;

	while (next_token(f->value, f->value_len, &off, tok))
		if (strcmp(tok, "oof") == 0 || strcmp(tok, "all") == 0)
			return true;
	return false;
}

/* is_plain_addr - printable ASCII, no space or <>, one "@" inside */
static bool
is_plain_addr(const char *s)
{
	const char *at = strrchr(s, '@');
	size_t n = strlen(s);

	if (at == NULL || at == s || at[1] == '\0' || n > 254)
		return false;
	for (; *s != '\0'; s++)
		if (*s <= ' ' || *s >= 0x7f || *s == '<' || *s == '>' ||
		    *s == ',')
			return false;
	return true;
}

static bool
has_suffix(const char *s, size_t n, const char *suf)
{
	size_t sl = strlen(suf);

	return n >= sl && ascii_strncasecmp(s + n - sl, suf, sl) == 0;
}

/* is_system_sender - a list, a daemon or a no-reply address */
static bool
is_system_sender(const char *sender)
{
	static const char *const exact[] = {
		"mailer-daemon", "listserv", "majordomo", "listproc",
		"noreply", "no-reply", "no_reply", "donotreply",
		"do-not-reply", "do_not_reply",
	};
	static const char *const suffixes[] = {
		"-request", "-owner", "-bounces", "-bounce",
	};
	const char *at = strrchr(sender, '@');
	size_t n = (size_t)(at - sender);
	const char *plus = memchr(sender, '+', n);
	size_t base = plus != NULL ? (size_t)(plus - sender) : n;

	if (n >= 6 && ascii_strncasecmp(sender, "owner-", 6) == 0)
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++)
		if ((ascii_eq_nocase(sender, n, exact[i]) ||
		    ascii_eq_nocase(sender, base, exact[i])))
			return true;
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++)
		if (has_suffix(sender, n, suffixes[i]) ||
		    has_suffix(sender, base, suffixes[i]))
			return true;
	return false;
}

/* addressed - one of the first *budget addresses of f is the user's */
static bool
addressed(const struct vacation_subject *s, const struct rfc5322_field *f,
    size_t *budget)
{
	struct buf out = BUF_INIT(ADDRS_BYTES);
	const char *p;
	size_t n = 0;
	bool yes = false;

	/* a list we cannot read names nobody we could vouch for */
	if (rfc5322_addresses(f->value, f->value_len, &out, &n) < 0)
		n = 0;
	p = (const char *)out.data;
	for (size_t i = 0; i < n && *budget > 0 && !yes; i++) {
		(*budget)--;
		yes = s->is_own(s->own_arg, p);
		p += strlen(p) + 1;
	}
	buf_free(&out);
	return yes;
}

enum vacation_verdict
vacation_decide(const struct vacation_subject *s)
{
	struct rfc5322_field f;
	char tok[TOKEN_MAX + 1];
	size_t off = 0, budget = VACATION_ADDRS_MAX;
	bool named = false;

	if (s->sender[0] == '\0')
		return VACATION_NULL_SENDER;
	if (!is_plain_addr(s->sender))
		return VACATION_BAD_SENDER;
	if (s->junk)
		return VACATION_SPAM;
	while (rfc5322_header_next(s->msg, s->len, &off, &f)) {
		if (name_is(&f, "Auto-Submitted")) {
			first_token(&f, tok);
			if (strcmp(tok, "no") != 0)
				return VACATION_AUTO_SUBMITTED;
		} else if (name_is(&f, "Precedence")) {
			first_token(&f, tok);
			if (strcmp(tok, "bulk") == 0 ||
			    strcmp(tok, "list") == 0 ||
			    strcmp(tok, "junk") == 0)
				return VACATION_PRECEDENCE;
		} else if (f.name_len > 5 &&
		    ascii_strncasecmp(f.name, "List-", 5) == 0) {
			return VACATION_LIST;
		} else if (name_is(&f, "X-Auto-Response-Suppress")) {
			if (suppresses_oof(&f))
				return VACATION_SUPPRESSED;
		}
	}
	if (is_system_sender(s->sender))
		return VACATION_SYSTEM_SENDER;
	if (s->is_own(s->own_arg, s->sender))
		return VACATION_OWN_SENDER;
	off = 0;
	while (!named && budget > 0 &&
	    rfc5322_header_next(s->msg, s->len, &off, &f))
		if (name_is(&f, "To") || name_is(&f, "Cc") ||
		    name_is(&f, "Resent-To") || name_is(&f, "Resent-Cc"))
			named = addressed(s, &f, &budget);
	return named ? VACATION_REPLY : VACATION_NOT_ADDRESSED;
}

bool
vacation_is_active(const struct mail_vacation *v, int64_t now)
{
	return v->enabled && (!v->has_from || now >= v->from) &&
	    (!v->has_to || now < v->to);
}

/* ---- at delivery ---- */

struct own_ctx {
	struct directory *dir;
	uint32_t acct;
	const char *qid;
};

static bool
own(void *arg, const char *addr)
{
	struct own_ctx *o = arg;
	struct buf err = BUF_INIT(0);
	int r = dir_owns(o->dir, o->acct, addr, &err);

	if (r < 0)	/* counted as not the user's: no reply, no harm */
		log_warn(SVC, "%s: directory: %s", o->qid, buf_cstr(&err));
	buf_free(&err);
	return r == 1;
}

/* html_text - the text of html, stripped as the index strips it */
static char *
html_text(const char *html, struct buf *err)
{
	struct buf m = BUF_INIT(0), out = BUF_INIT(0);
	struct mime_info *info = NULL;
	char *s = NULL;

	buf_add_str(&m, "Content-Type: text/html; charset=utf-8\r\n\r\n");
	buf_add_str(&m, html);
	if (mime_parse(m.data, m.len, NULL, &info, err) == 0) {
		(void)mime_part_text(info, 0, m.data, m.len, true,
		    MAIL_VACATION_BODY_MAX, &out);
		s = xmemdup0(out.data != NULL ? (const char *)out.data : "",
		    out.len);
	}
	mime_info_free(&info);
	buf_free(&m);
	buf_free(&out);
	return s;
}

/* message_id - 96 random bits, the time, the user's domain */
static void
message_id(const char *addr, int64_t now, char *out, size_t size)
{
	unsigned char rnd[12];
	char hex[sizeof(rnd) * 2 + 1];
	const char *at = strrchr(addr, '@');

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		PANIC("RAND_bytes failed");
	for (size_t i = 0; i < sizeof(rnd); i++)
		(void)snprintf(hex + 2 * i, 3, "%02x", rnd[i]);
	(void)snprintf(out, size, "vacation.%lld.%s@%s", (long long)now, hex,
	    at != NULL && at[1] != '\0' ? at + 1 : "localhost");
}

void
vacation_after_delivery(const struct vacation_delivery *vd, uint32_t acct,
    const char *rcpt)
{
	const char *qid = vd->queue_id != NULL ? vd->queue_id : "NOQUEUE";
	struct own_ctx oc = { vd->dir, acct, qid };
	struct vacation_subject s = { vd->sender, vd->msg, vd->len, vd->junk,
		own, &oc };
	struct mail_vacation v;
	struct dir_account a;
	struct vacation_reply r;
	struct buf err = BUF_INIT(0), out = BUF_INIT(0);
	enum vacation_verdict verdict;
	int64_t now = (int64_t)time(NULL);
	char *text = NULL, mid[128];
	const char *to[1] = { vd->sender };
	int found;

	memset(&a, 0, sizeof(a));
	found = mail_vacation_get(vd->st->mail, acct, &v, &err);
	if (found < 0) {
		log_error(SVC, "%s: to=<%s>, reading the vacation response: "
		    "%s", qid, rcpt, buf_cstr(&err));
		goto out;
	}
	if (found == 0)
		goto out;
	if (!vacation_is_active(&v, now)) {
		log_debug(SVC, "%s: to=<%s>, from=<%s>, no auto-reply: the "
		    "response is off or outside its dates", qid, rcpt,
		    vd->sender);
		goto out;
	}
	verdict = vacation_decide(&s);
	if (verdict != VACATION_REPLY) {
		log_info(SVC, "%s: to=<%s>, from=<%s>, no auto-reply: %s", qid,
		    rcpt, vd->sender, vacation_verdict_str(verdict));
		goto out;
	}
	if (vd->send == NULL) {
		log_warn(SVC, "%s: to=<%s>, no auto-reply: no way to queue "
		    "mail here", qid, rcpt);
		goto out;
	}
	if ((found = dir_user_get_id(vd->dir, acct, &a, &err)) <= 0) {
		if (found < 0)
			log_error(SVC, "%s: to=<%s>, no auto-reply: directory: "
			    "%s", qid, rcpt, buf_cstr(&err));
		goto out;
	}
	found = mail_vacation_claim(vd->st->mail, acct, vd->sender, now,
	    v.period != 0 ? v.period : VACATION_PERIOD_DEFAULT, &err);
	if (found <= 0) {
		if (found < 0)
			log_error(SVC, "%s: to=<%s>, no auto-reply: store: %s",
			    qid, rcpt, buf_cstr(&err));
		else
			log_info(SVC, "%s: to=<%s>, from=<%s>, no auto-reply: "
			    "one was sent within the period", qid, rcpt,
			    vd->sender);
		goto out;
	}
	if (v.text == NULL && v.html != NULL &&
	    (text = html_text(v.html, &err)) == NULL)
		log_warn(SVC, "%s: the text of the html body: %s", qid,
		    buf_cstr(&err));
	memset(&r, 0, sizeof(r));
	r.from_addr = a.name;
	r.from_name = a.display_name;
	r.to = vd->sender;
	r.orig = vd->msg;
	r.orig_len = vd->len;
	r.subject = v.subject;
	r.text = v.text != NULL ? v.text : text;
	r.html = v.html;
	if (r.text == NULL && r.html == NULL)
		r.text = default_text;
	r.date = now;
	message_id(a.name, now, mid, sizeof(mid));
	r.message_id = mid;
	vacation_build(&r, &out);
	buf_reset(&err);
	if (vd->send(vd->send_arg, "", "", to, 1, out.data, out.len,
	    &err) < 0) {
		log_error(SVC, "%s: to=<%s>, auto-reply to <%s> not queued: "
		    "%s", qid, rcpt, vd->sender, buf_cstr(&err));
		buf_reset(&err);
		if (mail_vacation_unclaim(vd->st->mail, acct, vd->sender,
		    &err) < 0)
			log_error(SVC, "%s: forgetting the claim of <%s>: %s "
			    "(no reply to it this period)", qid, vd->sender,
			    buf_cstr(&err));
		goto out;
	}
	log_info(SVC, "%s: to=<%s>, from=<%s>, auto-reply queued, "
	    "message-id=<%s>", qid, rcpt, vd->sender, mid);
out:
	free(text);
	mail_vacation_clear(&v);
	dir_account_clear(&a);
	buf_free(&err);
	buf_free(&out);
}
