/*
 * queue_dsn.c - the delivery status notification a sender gets back: a
 * pure builder of the report message, from the original's envelope, one
 * field group per recipient and a bounded read of the original.
 *
 * RFC 3464 (3462's multipart/report, now RFC 6522): three parts, a human
 * readable explanation, message/delivery-status (2.2 per-message fields:
 * Reporting-MTA, Original-Envelope-Id, Received-From-MTA, Arrival-Date;
 * 2.3 per-recipient: Final-Recipient, Original-Recipient, Action, Status,
 * Remote-MTA, Diagnostic-Code, Last-Attempt-Date, Will-Retry-Until; our
 * extension fields X-Postern-Queue-ID and X-Postern-Sender), and the
 * original, whole (message/rfc822) or its header (text/rfc822-headers).
 * RFC 3461 6.3: Original-Envelope-Id is the ENVID decoded, Original-
 * Recipient appears exactly when an ORCPT was given, decoded; 4.3: RET=
 * HDRS returns the header only.  RFC 3834 5: Auto-Submitted: auto-
 * replied.  RFC 6533: when an address is not ASCII, the report is
 * message/global-delivery-status ("utf-8;" addresses, report-type=
 * global-delivery-status) and the explanation is UTF-8; when the
 * original's header is not ASCII it is returned as message/global or
 * message/global-headers.  Any 8-bit byte makes the parts 8bit, and the
 * caller sends the result with BODY=8BITMIME (and SMTPUTF8 for RFC 6533).
 *
 * Decisions.  The whole original is returned only in a report with a
 * failed recipient (delay and success reports carry the header, as
 * Postfix's do), and only up to full_max bytes (queue.bounce_size_limit:
 * a large message is not sent back whole).  Text from the original's
 * envelope and from transports is cleaned (controls, and in diagnostics
 * any non-ASCII byte, become '?'); fields are folded at spaces to 78
 * columns where possible and always within 998 bytes, a word longer
 * than that being broken with a space (only malformed input has one).
 * Dates are UTC.  The boundary is derived from the queue ID and the time,
 * then lengthened until it occurs in no part, so the output depends on
 * the input alone (golden tests) and the original cannot end a part.
 * The original's own lines are copied as they are, except that a bare
 * CR or LF becomes CRLF.
 */
#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "queue/queue_dsn.h"

#define WIDTH 78		/* where we fold when we can */
#define LINE_MAX_ 998		/* RFC 5322 2.1.1: never longer */

static const char *const action_names[] = {
	[QUEUE_DSN_FAILED] = "failed",
	[QUEUE_DSN_DELAYED] = "delayed",
	[QUEUE_DSN_DELIVERED] = "delivered",
	[QUEUE_DSN_RELAYED] = "relayed",
	[QUEUE_DSN_EXPANDED] = "expanded",
};

const char *
queue_dsn_action_name(enum queue_dsn_action a)
{
	if ((size_t)a >= ARRAY_SIZE(action_names))
		PANIC("queue_dsn_action_name: %d", (int)a);
	return action_names[a];
}

static bool
has(const char *s)
{
	return s != NULL && s[0] != '\0';
}

static bool
is_8bit(const void *p, size_t n)
{
	const unsigned char *u = p;

	for (size_t i = 0; i < n; i++)
		if (u[i] >= 0x80)
			return true;
	return false;
}

/* clean - s without control characters (and non-ASCII unless keep8),
 * each replaced by '?', trailing blanks dropped */
static void
clean(struct buf *b, const char *s, bool keep8)
{
	size_t n = s != NULL ? strlen(s) : 0;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\t')
			c = ' ';
		else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !keep8))
			c = '?';
		buf_add(b, &c, 1);
	}
}

/*
 * fold - one logical line of n bytes, then CRLF.  Breaks before a space
 * once a line would pass WIDTH; in a header field (indent NULL) the
 * space stays and starts the continuation, so unfolding gives the value
 * back; in body text the spaces are replaced by indent.  A word that
 * does not fit in LINE_MAX_ is cut, the rest on a continuation line.
 */
static void
fold(struct buf *out, const char *s, size_t n, const char *indent)
{
	bool header = indent == NULL;
	const char *cont = header ? " " : indent;
	size_t col = 0, i = 0;

	while (i < n) {
		size_t j = i;

		while (j < n && s[j] == ' ')
			j++;
		while (j < n && s[j] != ' ')
			j++;
		if (col > 0 && s[i] == ' ' && col + (j - i) > WIDTH) {
			buf_add_str(out, "\r\n");
			col = 0;
			if (!header) {
				while (i < j && s[i] == ' ')
					i++;
				buf_add_str(out, cont);
				col = strlen(cont);
			}
		}
		while (i < j) {
			size_t k = j - i;

			if (col >= LINE_MAX_) {
				buf_add_str(out, "\r\n");
				buf_add_str(out, cont);
				col = strlen(cont);
			}
			if (k > LINE_MAX_ - col)
				k = LINE_MAX_ - col;
			buf_add(out, s + i, k);
			col += k;
			i += k;
		}
	}
	buf_add_str(out, "\r\n");
}

/* field - "name: value" folded; value already clean */
static void
field(struct buf *out, const char *name, const struct buf *value)
{
	struct buf line = BUF_INIT(0);

	buf_addf(&line, "%s: ", name);
	buf_add(&line, value->data, value->len);
	fold(out, (const char *)line.data, line.len, NULL);
	buf_free(&line);
}

/* fieldf - a field whose value is our own text */
static void PRINTF_LIKE(3, 4)
fieldf(struct buf *out, const char *name, const char *fmt, ...)
{
	struct buf v = BUF_INIT(0);
	va_list ap;

	va_start(ap, fmt);
	if (buf_vprintf(&v, fmt, ap) < 0)
		PANIC("queue_dsn: format");
	va_end(ap);
	field(out, name, &v);
	buf_free(&v);
}

/* date - RFC 5322 3.3 date-time in UTC, locale-free */
static void
date(struct buf *b, uint64_t us)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed",
		"Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
		"May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	buf_addf(b, "%s, %d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static void
date_field(struct buf *out, const char *name, uint64_t us)
{
	struct buf v = BUF_INIT(0);

	date(&v, us);
	field(out, name, &v);
	buf_free(&v);
}

/* status_ok - RFC 3463 "C.SSS.DDD" with C in 2, 4, 5 */
static bool
status_ok(const char *s)
{
	size_t i = 2;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	for (int part = 0; part < 2; part++) {
		size_t start = i;

		while (is_ascii_digit((unsigned char)s[i]) && i - start < 3)
			i++;
		if (i == start || (part == 0 && s[i++] != '.'))
			return false;
	}
	return s[i] == '\0';
}

static const char *
status_of(const struct queue_dsn_rcpt *rc)
{
	if (status_ok(rc->status))
		return rc->status;
	return rc->action == QUEUE_DSN_FAILED ? "5.0.0" :
	    rc->action == QUEUE_DSN_DELAYED ? "4.0.0" : "2.0.0";
}

/* what the report holds */
struct facts {
	bool failed, delayed, done;	/* actions present */
	bool utf8_addr;		/* an address is not ASCII */
	uint64_t retry_until;	/* latest Will-Retry-Until */
};

static void
facts(const struct queue_dsn_report *r, struct facts *f)
{
	memset(f, 0, sizeof(*f));
	f->utf8_addr = is_8bit(r->sender, strlen(r->sender));
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct queue_dsn_rcpt *rc = &r->rcpts[i];

		if (rc->action == QUEUE_DSN_FAILED)
			f->failed = true;
		else if (rc->action == QUEUE_DSN_DELAYED)
			f->delayed = true;
		else
			f->done = true;
		if (is_8bit(rc->final_rcpt, strlen(rc->final_rcpt)) ||
		    (has(rc->orcpt_type) && has(rc->orcpt) &&
		    (is_8bit(rc->orcpt, strlen(rc->orcpt)) ||
		    ascii_eq_nocase(rc->orcpt_type, strlen(rc->orcpt_type),
		    "utf-8"))))
			f->utf8_addr = true;
		if (rc->action == QUEUE_DSN_DELAYED &&
		    rc->retry_until_us > f->retry_until)
			f->retry_until = rc->retry_until_us;
	}
}

/* ---- the original ---- */

/* header_end - length of the header section of o (its lines, without
 * the empty line); *complete_r false when no empty line was seen */
static size_t
header_end(const struct buf *o, bool *complete_r)
{
	const unsigned char *d = o->data;
	size_t last_lf = 0;

	*complete_r = true;
	for (size_t i = 0; i < o->len; i++) {
		size_t start = i;

		/* at the start of a line: is it empty? */
		if (d[i] == '\n' || (d[i] == '\r' && i + 1 < o->len &&
		    d[i + 1] == '\n'))
			return start;
		while (i < o->len && d[i] != '\n')
			i++;
		if (i < o->len)
			last_lf = i + 1;
	}
	*complete_r = false;
	return last_lf;
}

/*
 * read_original - what is returned: the whole content (*full_r) or its
 * header section; -1 when read fails
 */
static int
read_original(const struct queue_dsn_report *r, bool want_full,
    struct buf *o, bool *full_r, struct buf *err)
{
	unsigned char chunk[8192];
	uint64_t cap = want_full ? r->content_size : QUEUE_DSN_HEADERS_MAX;
	bool complete = false, eof = false;
	size_t n, end;

	*full_r = want_full;
	for (;;) {
		if (r->read(r->read_ctx, chunk, sizeof(chunk), &n, err) < 0)
			return -1;
		if (n == 0) {
			eof = true;	/* the end: checked by the reader */
			break;
		}
		if (o->len >= cap)
			break;	/* more than announced: stop */
		if (n > cap - o->len)
			n = (size_t)(cap - o->len);
		buf_add(o, chunk, n);
		if (!want_full) {
			(void)header_end(o, &complete);
			if (complete || o->len >= cap)
				break;
		}
	}
	if (!want_full) {
		/* a message that is all header ends at its end; one cut at
		 * the limit, after its last whole line */
		end = header_end(o, &complete);
		buf_truncate(o, complete || !eof ? end : o->len);
	}
	return 0;
}

/* copy_crlf - data with bare CR or LF made CRLF, ending in CRLF */
static void
copy_crlf(struct buf *out, const unsigned char *d, size_t n)
{
	size_t start = 0;

	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (d[i] == '\r' && i + 1 < n && d[i + 1] == '\n') {
			i++;
			continue;
		}
		if (d[i] != '\r' && d[i] != '\n')
			continue;
		buf_add(out, d + start, i - start);
		buf_add_str(out, "\r\n");
		start = i + 1;
	}
	buf_add(out, d + start, n - start);
	if (out->len > 0 && (out->len < 2 ||
	    memcmp(out->data + out->len - 2, "\r\n", 2) != 0))
		buf_add_str(out, "\r\n");
}

/* ---- the parts ---- */

static void
text_rcpt(struct buf *t, const struct queue_dsn_rcpt *rc, bool keep8)
{
	struct buf line = BUF_INIT(0);

	buf_add_str(&line, "<");
	clean(&line, rc->final_rcpt, keep8);
	buf_add_str(&line, ">: ");
	if (has(rc->remote_mta)) {
		buf_add_str(&line, "host ");
		clean(&line, rc->remote_mta, false);
		buf_add_str(&line, " said: ");
	}
	if (has(rc->diag))
		clean(&line, rc->diag, false);
	else
		buf_add_str(&line, queue_dsn_action_name(rc->action));
	buf_addf(&line, " (%s)", status_of(rc));
	fold(t, (const char *)line.data, line.len, "    ");
	buf_free(&line);
}

static void
text_group(struct buf *t, const struct queue_dsn_report *r,
    const char *intro, bool (*in)(enum queue_dsn_action), bool keep8)
{
	fold(t, intro, strlen(intro), "");
	buf_add_str(t, "\r\n");
	for (size_t i = 0; i < r->nrcpt; i++)
		if (in(r->rcpts[i].action))
			text_rcpt(t, &r->rcpts[i], keep8);
	buf_add_str(t, "\r\n");
}

static bool
is_failed(enum queue_dsn_action a)
{
	return a == QUEUE_DSN_FAILED;
}

static bool
is_delayed(enum queue_dsn_action a)
{
	return a == QUEUE_DSN_DELAYED;
}

static bool
is_done(enum queue_dsn_action a)
{
	return a != QUEUE_DSN_FAILED && a != QUEUE_DSN_DELAYED;
}

/* text_part - the explanation for people */
static void
text_part(struct buf *t, const struct queue_dsn_report *r,
    const struct facts *f, const char *returned)
{
	struct buf s = BUF_INIT(0);

	buf_addf(t, "This is the mail system at host %s.\r\n\r\n", r->hostname);
	if (f->failed)
		text_group(t, r, "Your message could not be delivered to the "
		    "following recipients, and the mail system has given up:",
		    is_failed, f->utf8_addr);
	if (f->delayed) {
		buf_add_str(t, "This is a warning only: you do not need to "
		    "send your message again.\r\n\r\n");
		buf_add_str(&s, "Your message could not be delivered yet to "
		    "the following recipients.  The mail system will keep "
		    "trying");
		if (f->retry_until != 0) {
			buf_add_str(&s, " until ");
			date(&s, f->retry_until);
		}
		buf_add_str(&s, ", and will tell you if it gives up:");
		text_group(t, r, buf_cstr(&s), is_delayed, f->utf8_addr);
	}
	if (f->done)
		text_group(t, r, "Your message was delivered to the following "
		    "recipients, as you asked:", is_done, f->utf8_addr);
	fold(t, returned, strlen(returned), "");
	buf_addf(t, "\r\nFor help, write to <postmaster@%s> and include this "
	    "report.\r\n\r\n                   The mail system\r\n",
	    r->hostname);
	buf_free(&s);
}

/* addr_field - "Final-Recipient: rfc822; a" ("utf-8;" when not ASCII) */
static void
addr_field(struct buf *out, const char *name, const char *addr, bool keep8)
{
	struct buf v = BUF_INIT(0);

	buf_add_str(&v, is_8bit(addr, strlen(addr)) ? "utf-8; " : "rfc822; ");
	clean(&v, addr, keep8);
	field(out, name, &v);
	buf_free(&v);
}

/* status_part - message/delivery-status: per-message fields, then a
 * group per recipient, each group after an empty line */
static void
status_part(struct buf *d, const struct queue_dsn_report *r,
    const struct facts *f)
{
	struct buf v = BUF_INIT(0);

	fieldf(d, "Reporting-MTA", "dns; %s", r->hostname);
	if (has(r->envid)) {
		clean(&v, r->envid, false);
		field(d, "Original-Envelope-Id", &v);
		buf_reset(&v);
	}
	if (has(r->client_name) && strcmp(r->client_name, "unknown") != 0) {
		buf_add_str(&v, "dns; ");
		clean(&v, r->client_name, false);
		if (has(r->client_ip)) {
			buf_add_str(&v, " ([");
			clean(&v, r->client_ip, false);
			buf_add_str(&v, "])");
		}
		field(d, "Received-From-MTA", &v);
		buf_reset(&v);
	}
	clean(&v, r->qid, false);
	field(d, "X-Postern-Queue-ID", &v);
	buf_reset(&v);
	addr_field(d, "X-Postern-Sender", r->sender, f->utf8_addr);
	date_field(d, "Arrival-Date", r->arrival_us);
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct queue_dsn_rcpt *rc = &r->rcpts[i];

		buf_add_str(d, "\r\n");
		addr_field(d, "Final-Recipient", rc->final_rcpt,
		    f->utf8_addr);
		if (has(rc->orcpt_type) && has(rc->orcpt)) {
			buf_reset(&v);
			/* a UTF-8 address is of type utf-8 (RFC 6533 3),
			 * whatever type the client gave it */
			clean(&v, is_8bit(rc->orcpt, strlen(rc->orcpt)) ?
			    "utf-8" : rc->orcpt_type, false);
			buf_add_str(&v, ";");
			clean(&v, rc->orcpt, f->utf8_addr);
			field(d, "Original-Recipient", &v);
		}
		fieldf(d, "Action", "%s", queue_dsn_action_name(rc->action));
		fieldf(d, "Status", "%s", status_of(rc));
		buf_reset(&v);
		if (has(rc->remote_mta)) {
			buf_add_str(&v, "dns; ");
			clean(&v, rc->remote_mta, false);
			field(d, "Remote-MTA", &v);
			buf_reset(&v);
		}
		if (has(rc->diag)) {
			buf_add_str(&v, has(rc->remote_mta) ? "smtp; " :
			    "X-Postern; ");
			clean(&v, rc->diag, false);
			field(d, "Diagnostic-Code", &v);
			buf_reset(&v);
		}
		if (rc->last_attempt_us != 0)
			date_field(d, "Last-Attempt-Date", rc->last_attempt_us);
		if (rc->action == QUEUE_DSN_DELAYED && rc->retry_until_us != 0)
			date_field(d, "Will-Retry-Until", rc->retry_until_us);
	}
	buf_free(&v);
}

/* ---- assembly ---- */

static bool
contains(const struct buf *b, const struct buf *needle)
{
	return b->len >= needle->len && memmem(b->data, b->len, needle->data,
	    needle->len) != NULL;
}

/* boundary - "=_QID.TIME" lengthened until no part holds "--" + it */
static void
boundary(struct buf *bd, const struct queue_dsn_report *r,
    const struct buf *const *parts, size_t nparts)
{
	struct buf dash = BUF_INIT(0);

	for (unsigned k = 0;; k++) {
		bool found = false;

		ASSERT(k < 1000);
		buf_reset(bd);
		buf_addf(bd, "=_%.20s.%llu", r->qid,
		    (unsigned long long)r->now_us);
		if (k > 0)
			buf_addf(bd, "/%u", k);
		buf_reset(&dash);
		buf_addf(&dash, "--%s", buf_cstr(bd));
		for (size_t i = 0; i < nparts && !found; i++)
			found = contains(parts[i], &dash);
		if (!found)
			break;
	}
	buf_free(&dash);
}

static void
part_header(struct buf *out, const char *bd, const char *desc,
    const char *type, bool eight)
{
	buf_addf(out, "\r\n--%s\r\n", bd);
	fieldf(out, "Content-Description", "%s", desc);
	fieldf(out, "Content-Type", "%s", type);
	if (eight)
		fieldf(out, "Content-Transfer-Encoding", "8bit");
	buf_add_str(out, "\r\n");
}

int
queue_dsn_build(const struct queue_dsn_report *r, struct buf *out,
    unsigned *flags_r, struct buf *err)
{
	struct buf text = BUF_INIT(0), status = BUF_INIT(0);
	struct buf orig = BUF_INIT(0), part3 = BUF_INIT(0), bd = BUF_INIT(0);
	struct buf v = BUF_INIT(0);
	const struct buf *parts[] = { &text, &status, &part3 };
	const char *returned, *type3 = NULL, *desc3 = NULL, *subject;
	bool full = false, utf8_hdr = false, eight;
	struct facts f;
	char kind;
	size_t hlen;

	ASSERT(r->nrcpt > 0 && r->sender != NULL && r->hostname != NULL);
	*flags_r = 0;
	facts(r, &f);
	if (r->read != NULL) {
		bool want_full = f.failed && r->ret != QUEUE_DSN_RET_HDRS &&
		    r->content_size <= r->full_max;
		bool complete = true;

		if (read_original(r, want_full, &orig, &full, err) < 0) {
			buf_free(&orig);
			return -1;
		}
		hlen = full ? header_end(&orig, &complete) : orig.len;
		if (!complete)
			hlen = orig.len;
		utf8_hdr = is_8bit(orig.data, hlen);
		copy_crlf(&part3, orig.data, orig.len);
		if (full)
			type3 = utf8_hdr ? "message/global" : "message/rfc822";
		else
			type3 = utf8_hdr ? "message/global-headers" :
			    "text/rfc822-headers";
		desc3 = f.failed ? (full ? "Undelivered Message" :
		    "Undelivered Message Headers") : full ? "Message" :
		    "Message Headers";
		returned = full ? "Your message is attached." : "The header of "
		    "your message is attached.";
	} else {
		returned = "Your message could not be read back from the "
		    "queue, so it is not attached.";
	}
	text_part(&text, r, &f, returned);
	status_part(&status, r, &f);
	boundary(&bd, r, parts, ARRAY_SIZE(parts));
	eight = is_8bit(text.data, text.len) || is_8bit(status.data,
	    status.len) || is_8bit(part3.data, part3.len);

	/* the header */
	kind = f.failed ? 'F' : f.delayed ? 'D' : 'S';
	subject = f.failed ? "Undelivered Mail Returned to Sender" :
	    f.delayed ? "Delayed Mail (still being retried)" :
	    "Successful Mail Delivery Report";
	fieldf(out, "From", "Mail Delivery System <MAILER-DAEMON@%s>",
	    r->hostname);
	buf_add_str(&v, "<");
	clean(&v, r->sender, true);
	buf_add_str(&v, ">");
	field(out, "To", &v);
	fieldf(out, "Subject", "%s", subject);
	date_field(out, "Date", r->now_us);
	{
		time_t t = (time_t)(r->now_us / 1000000u);
		struct tm tm;

		if (gmtime_r(&t, &tm) == NULL)
			memset(&tm, 0, sizeof(tm));
		buf_reset(&v);
		buf_addf(&v, "<%04d%02d%02d%02d%02d%02d.%c.", tm.tm_year + 1900,
		    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		    tm.tm_sec, kind);
		clean(&v, r->qid, false);
		buf_addf(&v, "@%s>", r->hostname);
		field(out, "Message-ID", &v);
	}
	fieldf(out, "Auto-Submitted", "auto-replied");
	fieldf(out, "MIME-Version", "1.0");
	fieldf(out, "Content-Type", "multipart/report; report-type=%s; "
	    "boundary=\"%s\"", f.utf8_addr ? "global-delivery-status" :
	    "delivery-status", buf_cstr(&bd));
	if (eight)
		fieldf(out, "Content-Transfer-Encoding", "8bit");
	buf_add_str(out, "\r\nThis is a MIME-encapsulated message.\r\n");

	part_header(out, buf_cstr(&bd), "Notification", f.utf8_addr ?
	    "text/plain; charset=utf-8" : "text/plain; charset=us-ascii",
	    is_8bit(text.data, text.len));
	buf_add(out, text.data, text.len);
	part_header(out, buf_cstr(&bd), "Delivery report", f.utf8_addr ?
	    "message/global-delivery-status" : "message/delivery-status",
	    is_8bit(status.data, status.len));
	buf_add(out, status.data, status.len);
	if (type3 != NULL) {
		part_header(out, buf_cstr(&bd), desc3, type3,
		    is_8bit(part3.data, part3.len));
		buf_add(out, part3.data, part3.len);
	}
	buf_addf(out, "\r\n--%s--\r\n", buf_cstr(&bd));

	if (eight)
		*flags_r |= QUEUE_DSN_OUT_8BIT;
	if (f.utf8_addr || utf8_hdr)
		*flags_r |= QUEUE_DSN_OUT_UTF8;
	if (full)
		*flags_r |= QUEUE_DSN_OUT_FULL;
	buf_free(&text);
	buf_free(&status);
	buf_free(&orig);
	buf_free(&part3);
	buf_free(&bd);
	buf_free(&v);
	return 0;
}
