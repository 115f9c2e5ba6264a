/*
 * milter.c - the milter protocol client (Sendmail milter protocol version
 * 6, as Postfix speaks it): each configured milter (milter.servers,
 * "NAME=SOCKET[,timeout=30s][,fail=tempfail]") becomes a stage named
 * "milter:NAME", so existing milters (OpenDKIM, rspamd, clamav-milter)
 * run in the pipeline in the configured order.
 *
 * One milter connection per SMTP connection, opened at the connect step
 * (SOCKET: "inet:PORT@HOST", "inet6:PORT@HOST", "unix:/path" or
 * "local:/path"; HOST numeric).  Option negotiation (SMFIC_OPTNEG) offers
 * every "do not send" and "no reply" protocol flag we can honour (all of
 * SMFI_CURR_PROT except SMFIP_RCPT_REJ) and the actions we apply: add,
 * insert and change header fields (SMFIF_ADDHDRS, SMFIF_CHGHDRS),
 * quarantine, and, when our caller can apply them (struct filter_conn
 * can: the SMTP server all, LMTP the body only, `postern milter` what
 * the MTA in front offered it), replace the body (SMFIF_CHGBODY), add
 * and delete recipients (SMFIF_ADDRCPT, SMFIF_ADDRCPT_PAR,
 * SMFIF_DELRCPT) and change the sender (SMFIF_CHGFROM).  What is not
 * offered a milter never believes it made: a change it did not
 * negotiate is a broken milter.  Then per step:
 * macros (SMFIC_MACRO: j, {daemon_name}, _ and {client_addr} at connect,
 * i and {auth_authen} at MAIL, {rcpt_addr} at RCPT), SMFIC_CONNECT,
 * SMFIC_HELO, SMFIC_MAIL, SMFIC_RCPT, and at the data step SMFIC_DATA,
 * every header field (SMFIC_HEADER), SMFIC_EOH, the body in chunks of at
 * most 65,535 bytes (SMFIC_BODY; SMFIR_SKIP honoured for the message)
 * and SMFIC_BODYEOB, whose answer may be preceded by changes:
 *
 *   - header fields (SMFIR_ADDHEADER, SMFIR_INSHEADER, SMFIR_CHGHEADER):
 *     filter_header_add / filter_header_change, as they come;
 *   - the body (SMFIR_REPLBODY, as many packets as the milter likes,
 *     concatenated): kept here, at most filter_body_max bytes (over it
 *     the milter is broken, with a log line), and handed to
 *     filter_replace_body with the milter's final answer unless that
 *     refuses or discards the message; the pipeline stores it with CRLF
 *     line ends, and later stages see it;
 *   - the envelope (SMFIR_ADDRCPT, SMFIR_ADDRCPT_PAR with its ESMTP
 *     parameters, SMFIR_DELRCPT, SMFIR_CHGFROM): filter_rcpt_add,
 *     filter_rcpt_delete, filter_sender_change, recorded for the
 *     caller, which applies its own policy (mta/smtpd_envelope.c);
 *     addresses with or without angle brackets, at most
 *     smtp.max_recipients changes of each kind per message.
 *
 * A transaction that ends before its end of message gets SMFIC_ABORT;
 * the end of the SMTP connection SMFIC_QUIT.
 *
 * Replies map onto filter verdicts: continue, accept, reject (550 5.7.1
 * unless SMFIR_REPLYCODE said otherwise), tempfail (451 4.7.1),
 * discard, quarantine (into Junk); SMFIR_PROGRESS extends the wait.
 * Reading a reply is pure (milter_reply_parse, fuzzed by
 * t/fuzz/milter_reply.c); apply_reply then acts on it.  A reply code's
 * enhanced code is taken only when it is RFC 3463 and of the code's
 * class: it goes into our SMTP reply as it is.
 *
 * Failures: a milter that cannot be reached, does not answer within its
 * timeout, closes the connection or says something we cannot parse (a
 * packet over MILTER_PACKET_MAX, an unknown reply, a reply it negotiated
 * away, a change it did not negotiate or that is over a limit) gives
 * FILTER_ERROR: the stage's fail action applies (per milter, default the
 * pipeline's policy; the pipeline undoes the milter's changes to that
 * message), one log line is written, and the connection to that milter
 * is dropped; it stays failed for the rest of the SMTP connection (a
 * milter's state cannot be replayed).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "filters/milter.h"

#define MILTER_SVC "milter"
#define MILTER_PACKET_MAX (1u << 20)	/* what we accept from a milter */
/* the protocol steps we can skip or not wait for: all but RCPT_REJ */
#define OUR_PROTOCOL (SMFI_CURR_PROT & ~(unsigned long)SMFIP_RCPT_REJ)
#define OUR_ACTIONS ((uint32_t)(SMFIF_ADDHDRS | SMFIF_CHGHDRS | \
    SMFIF_QUARANTINE | SMFIF_CHGBODY | SMFIF_ADDRCPT | SMFIF_ADDRCPT_PAR | \
    SMFIF_DELRCPT | SMFIF_CHGFROM))

struct milter_conf {
	char *name;		/* "milter:NAME" */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	unsigned timeout_ms;
	int fail;		/* -1: the pipeline's policy, else enum filter_fail */
	const struct config *cfg;
};

/* one SMTP connection's connection to the milter */
struct mconn {
	int fd;
	bool failed;		/* broken: FILTER_ERROR from now on */
	bool in_txn;		/* MAIL sent, end of message not yet */
	bool skip_body;		/* SMFIR_SKIP: for this message */
	bool replbody;		/* SMFIR_REPLBODY: body holds the new one */
	struct buf body;	/* ... at most filter_body_max bytes */
	uint32_t proto;		/* what the milter negotiated */
	uint32_t actions;	/* ... and of what we offered */
};

/* ---- configuration ---- */

static int
parse_socket(const char *s, struct milter_conf *mc, struct buf *err)
{
	const char *at;

	memset(&mc->addr, 0, sizeof(mc->addr));
	if (strncmp(s, "unix:", 5) == 0 || strncmp(s, "local:", 6) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&mc->addr;
		const char *path = strchr(s, ':') + 1;

		if (path[0] != '/' || strlen(path) >= sizeof(sun->sun_path)) {
			buf_addf(err, "milter socket %s: an absolute path "
			    "shorter than %zu bytes is needed", s,
			    sizeof(sun->sun_path));
			return -1;
		}
		sun->sun_family = AF_UNIX;
		memcpy(sun->sun_path, path, strlen(path) + 1);
		mc->addrlen = sizeof(*sun);
		return 0;
	}
	if ((strncmp(s, "inet:", 5) == 0 || strncmp(s, "inet6:", 6) == 0) &&
	    (at = strchr(s, '@')) != NULL) {
		const char *p = strchr(s, ':') + 1;
		unsigned port = 0;

		for (; p < at; p++) {
			if (*p < '0' || *p > '9' || port > 65535)
				break;
			port = port * 10 + (unsigned)(*p - '0');
		}
		if (p == at && port > 0 && port <= 65535) {
			struct sockaddr_in *sin = (struct sockaddr_in *)
			    &mc->addr;
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)
			    &mc->addr;

			if (inet_pton(AF_INET, at + 1, &sin->sin_addr) == 1) {
				sin->sin_family = AF_INET;
				sin->sin_port = htons((uint16_t)port);
				mc->addrlen = sizeof(*sin);
				return 0;
			}
			if (inet_pton(AF_INET6, at + 1, &sin6->sin6_addr) ==
			    1) {
				sin6->sin6_family = AF_INET6;
				sin6->sin6_port = htons((uint16_t)port);
				mc->addrlen = sizeof(*sin6);
				return 0;
			}
		}
	}
	buf_addf(err, "milter socket %s: expected inet:PORT@IP, inet6:PORT@IP "
	    "or unix:/path", s);
	return -1;
}

int
milter_conf_parse(const char *spec, const struct config *cfg,
    struct milter_conf **mc_r, struct buf *err)
{
	struct milter_conf *mc = xcalloc(1, sizeof(*mc));
	const char *eq = strchr(spec, '=');
	char *copy, *opt, *next;
	int r = -1;

	*mc_r = NULL;
	mc->cfg = cfg;
	mc->timeout_ms = 30000;
	mc->fail = -1;
	if (eq == NULL || eq == spec) {
		buf_addf(err, "milter \"%s\": expected NAME=SOCKET[,options]",
		    spec);
		free(mc);
		return -1;
	}
	mc->name = xmalloc((size_t)(eq - spec) + 8);
	memcpy(mc->name, "milter:", 7);
	memcpy(mc->name + 7, spec, (size_t)(eq - spec));
	mc->name[7 + (eq - spec)] = '\0';
	copy = xstrdup(eq + 1);
	if ((next = strchr(copy, ',')) != NULL)
		*next++ = '\0';
	if (parse_socket(copy, mc, err) < 0)
		goto out;
	for (opt = next; opt != NULL; opt = next) {
		uint64_t v;

		if ((next = strchr(opt, ',')) != NULL)
			*next++ = '\0';

		if (strncmp(opt, "timeout=", 8) == 0 &&
		    config_parse_duration(opt + 8, &v) == 0 && v > 0 &&
		    v <= 3600) {
			mc->timeout_ms = (unsigned)v * 1000;
		} else if (strcmp(opt, "fail=accept") == 0) {
			mc->fail = FILTER_FAIL_ACCEPT;
		} else if (strcmp(opt, "fail=tempfail") == 0) {
			mc->fail = FILTER_FAIL_TEMPFAIL;
		} else if (strcmp(opt, "fail=reject") == 0) {
			mc->fail = FILTER_FAIL_REJECT;
		} else {
			buf_addf(err, "milter %s: unknown option \"%s\" "
			    "(timeout=DURATION, fail=accept|tempfail|reject)",
			    mc->name + 7, opt);
			goto out;
		}
	}
	*mc_r = mc;
	mc = NULL;
	r = 0;
out:
	free(copy);
	milter_conf_free(&mc);
	return r;
}

void
milter_conf_free(struct milter_conf **mcp)
{
	if (*mcp == NULL)
		return;
	free((*mcp)->name);
	free(*mcp);
	*mcp = NULL;
}

const char *
milter_conf_name(const struct milter_conf *mc)
{
	return mc->name;
}

int
milter_conf_fail(const struct milter_conf *mc)
{
	return mc->fail;
}

/* ---- the wire ---- */

static unsigned
wait_ms(const struct milter_conf *mc, const struct filter_msg *m)
{
	unsigned left = filter_deadline_ms(m);

	return left < mc->timeout_ms ? left : mc->timeout_ms;
}

/* io - all of len bytes out (write) or in (read) within ms */
static int
io(int fd, bool write_, void *p, size_t len, unsigned ms, const char **why)
{
	unsigned char *b = p;
	uint64_t end = clock_mono_us() + (uint64_t)ms * 1000;

	while (len > 0) {
		struct pollfd pfd = { fd, write_ ? POLLOUT : POLLIN, 0 };
		uint64_t now = clock_mono_us();
		ssize_t n;
		int pr;

		if (now >= end) {
			*why = "timed out";
			return -1;
		}
		pr = poll(&pfd, 1, (int)((end - now + 999) / 1000));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			*why = pr == 0 ? "timed out" : strerror(errno);
			return -1;
		}
		n = write_ ? send(fd, b, len, MSG_NOSIGNAL) :
		    recv(fd, b, len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			*why = n == 0 ? "closed the connection" :
			    strerror(errno);
			return -1;
		}
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
put32(struct buf *b, uint32_t v)
{
	unsigned char x[4] = { (unsigned char)(v >> 24),
		(unsigned char)(v >> 16), (unsigned char)(v >> 8),
		(unsigned char)v };

	buf_add(b, x, 4);
}

static uint32_t
get32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

/* fail - the milter is broken for this connection */
static enum filter_action
fail(const struct milter_conf *mc, struct mconn *c, struct filter_msg *m,
    const char *what, const char *why)
{
	log_warn(MILTER_SVC, "%s: %s: %s %s", m->qid[0] != '\0' ? m->qid :
	    "NOQUEUE", mc->name, what, why);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->failed = true;
	return FILTER_ERROR;
}

static int
send_packet(const struct milter_conf *mc, struct mconn *c,
    const struct filter_msg *m, char cmd, const void *data, size_t len,
    const char **why)
{
	struct buf b = BUF_INIT(0);
	int r;

	put32(&b, (uint32_t)len + 1);
	buf_add(&b, &cmd, 1);
	buf_add(&b, data, len);
	r = io(c->fd, true, b.data, b.len, wait_ms(mc, m), why);
	buf_free(&b);
	return r;
}

/* read_packet - one packet: its command and data (in out) */
static int
read_packet(const struct milter_conf *mc, struct mconn *c,
    const struct filter_msg *m, char *cmd_r, struct buf *out,
    const char **why)
{
	unsigned char hdr[5];
	uint32_t len;

	buf_reset(out);
	if (io(c->fd, false, hdr, sizeof(hdr), wait_ms(mc, m), why) < 0)
		return -1;
	len = get32(hdr);
	if (len == 0 || len > MILTER_PACKET_MAX) {
		*why = "sent a packet of a bad length";
		return -1;
	}
	*cmd_r = (char)hdr[4];
	if (buf_reserve(out, len - 1) < 0)
		PANIC("milter: buffer");
	if (len > 1 && io(c->fd, false, out->data, len - 1, wait_ms(mc, m),
	    why) < 0)
		return -1;
	out->len = len - 1;
	out->data[out->len] = '\0';
	return 0;
}

/* nulstr - the NUL-terminated string at *off in d (len bytes), or NULL */
static const char *
nulstr(const char *d, size_t len, size_t *off)
{
	const char *s = d + *off;
	const void *z;

	if (*off >= len || (z = memchr(s, '\0', len - *off)) == NULL)
		return NULL;
	*off += (size_t)((const char *)z - s) + 1;
	return s;
}

/*
 * header_ok - a field name of printable ASCII without ':' (RFC 5322 2.2),
 * a value whose every line break is followed by white space (folding)
 */
static bool
header_ok(const char *name, const char *value)
{
	for (const char *p = name; *p != '\0'; p++)
		if (*p <= ' ' || *p > '~' || *p == ':')
			return false;
	for (const char *p = value; *p != '\0'; p++)
		if ((*p == '\n' && p[1] != ' ' && p[1] != '\t') ||
		    (*p == '\r' && p[1] != '\n'))
			return false;
	return strlen(name) <= MILTER_HEADER_NAME_MAX &&
	    strlen(value) <= MILTER_HEADER_VALUE_MAX;
}

/* crlf - milters fold with bare LF; the stored message has CRLF */
static void
crlf(const char *v, struct buf *out)
{
	for (; *v != '\0'; v++) {
		if (*v == '\n' && (out->len == 0 ||
		    out->data[out->len - 1] != '\r'))
			buf_add(out, "\r", 1);
		buf_add(out, v, 1);
	}
	buf_add(out, "", 0);
}

/*
 * is_ecode - n bytes at t are an RFC 3463 enhanced status code of class
 * cls ("5.7.1"): the ecode goes into the SMTP reply as it is, so nothing
 * else may pass (a CR LF in it would end the reply line)
 */
static bool
is_ecode(const char *t, size_t n, char cls)
{
	size_t i = 2;

	if (n < 5 || t[0] != cls || t[1] != '.')
		return false;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;

		for (; i < n && t[i] >= '0' && t[i] <= '9'; i++)
			digits++;
		if (digits < 1 || digits > 3)
			return false;
		if (part == 0 && (i >= n || t[i++] != '.'))
			return false;
	}
	return i == n;
}

/* replycode - SMFIR_REPLYCODE "550 5.7.1 text": the code decides reject
 * or tempfail */
static int
replycode(const char *d, size_t len, struct milter_reply *out,
    const char **why_r)
{
	const char *end, *t = d, *sp;
	int code;

	if (len < 4 || (t[0] != '4' && t[0] != '5') ||
	    t[1] < '0' || t[1] > '9' || t[2] < '0' || t[2] > '9') {
		*why_r = "sent a bad reply code";
		return -1;
	}
	/* the text ends at the first NUL, or with the packet */
	end = memchr(d, '\0', len);
	if (end == NULL)
		end = d + len;
	code = (t[0] - '0') * 100 + (t[1] - '0') * 10 + (t[2] - '0');
	t += 3;
	while (t < end && (*t == ' ' || *t == '-'))
		t++;
	sp = memchr(t, ' ', (size_t)(end - t));
	if (sp != NULL && is_ecode(t, (size_t)(sp - t), d[0])) {
		char ecode[16];

		memcpy(ecode, t, (size_t)(sp - t));
		ecode[sp - t] = '\0';
		filter_reply_set(&out->reply, code, ecode, "%.*s",
		    (int)(end - sp - 1), sp + 1);
	} else {
		filter_reply_set(&out->reply, code, code >= 500 ? "5.7.1" :
		    "4.7.1", "%.*s", (int)(end - t), t);
	}
	out->action = code >= 500 ? FILTER_REJECT : FILTER_TEMPFAIL;
	return 0;
}

/* header_edit - SMFIR_ADDHEADER "name\0value\0", SMFIR_INSHEADER and
 * SMFIR_CHGHEADER "index name\0value\0" */
static int
header_edit(char cmd, const char *d, size_t len, bool eom,
    struct milter_reply *out, const char **why_r)
{
	size_t off = 0;

	if (!eom) {
		*why_r = "changed a header before the end of message";
		return -1;
	}
	out->kind = MILTER_REPLY_HEADER;
	out->op = cmd == SMFIR_ADDHEADER ? MILTER_HEADER_ADD :
	    cmd == SMFIR_INSHEADER ? MILTER_HEADER_INSERT :
	    MILTER_HEADER_CHANGE;
	if (cmd != SMFIR_ADDHEADER) {
		if (len < 4) {
			*why_r = "sent a short header change";
			return -1;
		}
		out->index = get32((const unsigned char *)d);
		off = 4;
	}
	if ((out->name = nulstr(d, len, &off)) == NULL ||
	    (out->value = nulstr(d, len, &off)) == NULL ||
	    out->name[0] == '\0') {
		*why_r = "sent a malformed header change";
		return -1;
	}
	if (!header_ok(out->name, out->value)) {
		*why_r = "sent a header field we cannot store";
		return -1;
	}
	return 0;
}

/*
 * addr_ok - n bytes at a as an envelope address we can carry: no control
 * character, blank or angle bracket (it goes into log lines, the spool
 * and SMTP commands), local@domain, "postmaster" for a recipient, ""
 * for the null sender
 */
static bool
addr_ok(const char *a, size_t n, bool sender)
{
	const char *at = NULL;

	if (n > MILTER_ADDR_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a[i];

		if (ch <= ' ' || ch == 0x7f || ch == '<' || ch == '>')
			return false;
		if (ch == '@')
			at = a + i;
	}
	if (n == 0)
		return sender;
	if (at == NULL)
		return !sender && n == 10 && strncasecmp(a, "postmaster", 10) ==
		    0;
	return at > a && at < a + n - 1;
}

/* envelope - SMFIR_ADDRCPT, SMFIR_DELRCPT "rcpt\0"; SMFIR_ADDRCPT_PAR
 * "rcpt\0[args\0]"; SMFIR_CHGFROM "sender\0[args\0]" */
static int
envelope(char cmd, const char *d, size_t len, bool eom,
    struct milter_reply *out, const char **why_r)
{
	bool sender = cmd == SMFIR_CHGFROM;
	size_t off = 0, n;
	const char *a;

	if (!eom) {
		*why_r = "changed the envelope before the end of message";
		return -1;
	}
	out->kind = sender ? MILTER_REPLY_SENDER : cmd == SMFIR_DELRCPT ?
	    MILTER_REPLY_RCPT_DELETE : MILTER_REPLY_RCPT_ADD;
	if ((a = nulstr(d, len, &off)) == NULL) {
		*why_r = "sent a malformed envelope change";
		return -1;
	}
	n = off - 1;
	if (n >= 2 && a[0] == '<' && a[n - 1] == '>') {
		a++;
		n -= 2;
	}
	if (!addr_ok(a, n, sender)) {
		*why_r = "sent an envelope address we cannot use";
		return -1;
	}
	out->addr = a;
	out->addr_len = n;
	if ((cmd == SMFIR_ADDRCPT_PAR || sender) && off < len) {
		const char *args = nulstr(d, len, &off);

		if (args == NULL || strlen(args) > MILTER_ARGS_MAX) {
			*why_r = "sent malformed ESMTP parameters";
			return -1;
		}
		for (const char *p = args; *p != '\0'; p++)
			if ((unsigned char)*p < ' ' || *p == 0x7f) {
				*why_r = "sent malformed ESMTP parameters";
				return -1;
			}
		out->args = args[0] != '\0' ? args : NULL;
	}
	return 0;
}

int
milter_reply_parse(char cmd, const unsigned char *data, size_t len,
    bool eom, struct milter_reply *out, const char **why_r)
{
	const char *d = len > 0 ? (const char *)data : "";

	memset(out, 0, sizeof(*out));
	out->kind = MILTER_REPLY_FINAL;
	out->action = FILTER_CONTINUE;
	switch (cmd) {
	case SMFIR_CONTINUE:
		return 0;
	case SMFIR_ACCEPT:
		out->action = FILTER_ACCEPT;
		return 0;
	case SMFIR_REJECT:
		out->action = FILTER_REJECT;
		return 0;
	case SMFIR_TEMPFAIL:
		out->action = FILTER_TEMPFAIL;
		return 0;
	case SMFIR_DISCARD:
		out->action = FILTER_DISCARD;
		return 0;
	case SMFIR_REPLYCODE:
		return replycode(d, len, out, why_r);
	case SMFIR_QUARANTINE: {
		const char *z = memchr(d, '\0', len);

		out->action = FILTER_QUARANTINE;
		out->reason = d;
		out->reason_len = z != NULL ? (size_t)(z - d) : len;
		return 0;
	}
	case SMFIR_PROGRESS:
		out->kind = MILTER_REPLY_PROGRESS;
		return 0;
	case SMFIR_SKIP:
		out->skip_body = true;
		return 0;
	case SMFIR_ADDHEADER:
	case SMFIR_INSHEADER:
	case SMFIR_CHGHEADER:
		return header_edit(cmd, d, len, eom, out, why_r);
	case SMFIR_REPLBODY:
		if (!eom) {
			*why_r = "replaced the body before the end of message";
			return -1;
		}
		out->kind = MILTER_REPLY_BODY;
		out->body = (const unsigned char *)d;
		out->body_len = len;
		return 0;
	case SMFIR_ADDRCPT:
	case SMFIR_ADDRCPT_PAR:
	case SMFIR_DELRCPT:
	case SMFIR_CHGFROM:
		return envelope(cmd, d, len, eom, out, why_r);
	default:
		*why_r = "sent a reply we cannot apply";
		return -1;
	}
}

/* action_of - the SMFIF_ flag a change needs to have been negotiated */
static uint32_t
action_of(char cmd)
{
	switch (cmd) {
	case SMFIR_REPLBODY:
		return SMFIF_CHGBODY;
	case SMFIR_ADDRCPT:
		return SMFIF_ADDRCPT;
	case SMFIR_ADDRCPT_PAR:
		return SMFIF_ADDRCPT_PAR;
	case SMFIR_DELRCPT:
		return SMFIF_DELRCPT;
	case SMFIR_CHGFROM:
		return SMFIF_CHGFROM;
	default:
		return 0;
	}
}

/* body_part - one SMFIR_REPLBODY: the first starts the new body */
static int
body_part(const struct milter_conf *mc, struct mconn *c,
    const struct filter_msg *m, const struct milter_reply *mr,
    const char **why)
{
	if (!c->replbody) {
		c->replbody = true;
		buf_reset(&c->body);
		c->body.max = filter_body_max(m);
	}
	if (buf_append(&c->body, mr->body, mr->body_len) < 0) {
		log_warn(MILTER_SVC, "%s: %s: the new body is over %zu bytes "
		    "(filters.max_scan_size, smtp.max_message_size)",
		    m->qid[0] != '\0' ? m->qid : "NOQUEUE", mc->name,
		    c->body.max);
		*why = "sent too big a body";
		return -1;
	}
	return 0;
}

/* envelope_change - SMFIR_ADDRCPT[_PAR], SMFIR_DELRCPT, SMFIR_CHGFROM */
static int
envelope_change(struct filter_msg *m, const struct milter_reply *mr,
    const char **why)
{
	char *addr = xmemdup0(mr->addr, mr->addr_len);
	int r;

	if (mr->kind == MILTER_REPLY_RCPT_ADD)
		r = filter_rcpt_add(m, addr, mr->args);
	else if (mr->kind == MILTER_REPLY_RCPT_DELETE)
		r = filter_rcpt_delete(m, addr);
	else
		r = filter_sender_change(m, addr, mr->args);
	free(addr);
	if (r < 0)
		*why = "made more envelope changes than smtp.max_recipients";
	return r;
}

/*
 * apply_reply - a final reply (or a modification, at the end of message)
 * to a verdict; 1 when the caller must read on (progress, modification)
 */
static int
apply_reply(const struct milter_conf *mc, struct mconn *c,
    struct filter_msg *m, char cmd, const struct buf *d, bool eom,
    struct filter_reply *r, enum filter_action *a_r, const char **why)
{
	struct milter_reply mr;
	struct buf fixed = BUF_INIT(0);

	if (milter_reply_parse(cmd, d->data, d->len, eom, &mr, why) < 0)
		return -1;
	if ((action_of(cmd) & ~c->actions) != 0) {
		*why = "made a change it did not negotiate";
		return -1;
	}
	switch (mr.kind) {
	case MILTER_REPLY_PROGRESS:
		return 1;
	case MILTER_REPLY_HEADER:
		crlf(mr.value, &fixed);
		if (mr.op == MILTER_HEADER_CHANGE)
			filter_header_change(m, mr.name, mr.index,
			    mr.value[0] == '\0' ? NULL : buf_cstr(&fixed));
		else
			filter_header_add(m, mr.name, buf_cstr(&fixed));
		buf_free(&fixed);
		return 1;
	case MILTER_REPLY_BODY:
		return body_part(mc, c, m, &mr, why) < 0 ? -1 : 1;
	case MILTER_REPLY_RCPT_ADD:
	case MILTER_REPLY_RCPT_DELETE:
	case MILTER_REPLY_SENDER:
		return envelope_change(m, &mr, why) < 0 ? -1 : 1;
	case MILTER_REPLY_FINAL:
		break;
	}
	/* the new body goes with a verdict that keeps the message */
	if (c->replbody && (mr.action == FILTER_CONTINUE ||
	    mr.action == FILTER_ACCEPT || mr.action == FILTER_QUARANTINE) &&
	    filter_replace_body(m, c->body.data, c->body.len) < 0) {
		*why = m->truncated ? "replaced the body of a message too big "
		    "to scan" : "sent a body we cannot store";
		return -1;
	}
	c->replbody = false;
	buf_free(&c->body);
	if (mr.skip_body)
		c->skip_body = true;
	if (mr.reply.code != 0)
		*r = mr.reply;
	else if (mr.action == FILTER_REJECT)
		filter_reply_set(r, 550, "5.7.1", "Message refused by %s",
		    mc->name + 7);
	else if (mr.action == FILTER_TEMPFAIL)
		filter_reply_set(r, 451, "4.7.1", "Try again later (%s)",
		    mc->name + 7);
	if (mr.action == FILTER_QUARANTINE)
		log_info(MILTER_SVC, "%s: %s: quarantine: %.*s",
		    m->qid[0] != '\0' ? m->qid : "NOQUEUE", mc->name,
		    (int)(mr.reason_len < 200 ? mr.reason_len : 200),
		    mr.reason);
	*a_r = mr.action;
	return 0;
}

/*
 * exchange - send one command (with data) and, unless no reply is due,
 * read the milter's answer
 */
static enum filter_action
exchange(const struct milter_conf *mc, struct mconn *c, struct filter_msg *m,
    char cmd, const void *data, size_t len, bool reply, bool eom,
    struct filter_reply *r)
{
	struct buf d = BUF_INIT(0);
	const char *why = NULL;
	enum filter_action a = FILTER_CONTINUE;
	char rc;
	int x;

	if (send_packet(mc, c, m, cmd, data, len, &why) < 0) {
		buf_free(&d);
		return fail(mc, c, m, "sending:", why);
	}
	while (reply) {
		if (read_packet(mc, c, m, &rc, &d, &why) < 0 ||
		    (x = apply_reply(mc, c, m, rc, &d, eom, r, &a, &why)) < 0) {
			buf_free(&d);
			return fail(mc, c, m, "", why);
		}
		if (x == 0)
			break;
	}
	buf_free(&d);
	return a;
}

/* macros - SMFIC_MACRO for the command about to be sent */
static int
macros(const struct milter_conf *mc, struct mconn *c,
    const struct filter_msg *m, char cmd, const char *const *kv, size_t n)
{
	struct buf b = BUF_INIT(0);
	const char *why;
	int r;

	buf_add(&b, &cmd, 1);
	for (size_t i = 0; i + 1 < n; i += 2) {
		if (kv[i + 1] == NULL)
			continue;
		buf_add(&b, kv[i], strlen(kv[i]) + 1);
		buf_add(&b, kv[i + 1], strlen(kv[i + 1]) + 1);
	}
	r = send_packet(mc, c, m, SMFIC_MACRO, b.data, b.len, &why);
	buf_free(&b);
	return r;
}

/* ---- the stage ---- */

static int
m_init(const struct filter_env *env, void **state_r, struct buf *err)
{
	(void)env;
	(void)state_r;
	buf_addf(err, "the milter stage is made by milter_conf_parse");
	return -1;
}

static void
m_free(void *state)
{
	struct milter_conf *mc = state;

	milter_conf_free(&mc);
}

/* offered - the actions we offer: those our caller can apply */
static uint32_t
offered(const struct filter_msg *m)
{
	uint32_t a = OUR_ACTIONS;

	if ((m->conn->can & FILTER_CAN_BODY) == 0)
		a &= ~(uint32_t)SMFIF_CHGBODY;
	if ((m->conn->can & FILTER_CAN_RCPT) == 0)
		a &= ~(uint32_t)(SMFIF_ADDRCPT | SMFIF_ADDRCPT_PAR |
		    SMFIF_DELRCPT);
	if ((m->conn->can & FILTER_CAN_SENDER) == 0)
		a &= ~(uint32_t)SMFIF_CHGFROM;
	return a;
}

/* open_conn - connect and negotiate */
static enum filter_action
open_conn(const struct milter_conf *mc, struct filter_msg *m,
    struct mconn **c_r)
{
	struct mconn *c = xcalloc(1, sizeof(*c));
	struct buf b = BUF_INIT(0), d = BUF_INIT(0);
	const char *why = NULL;
	char rc;
	int fl;

	*c_r = c;
	filter_conn_data_set(m, c);
	c->fd = socket(mc->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return fail(mc, c, m, "socket:", strerror(errno));
	fl = fcntl(c->fd, F_GETFL);
	(void)fcntl(c->fd, F_SETFL, fl | O_NONBLOCK);
	if (connect(c->fd, (const struct sockaddr *)&mc->addr,
	    mc->addrlen) < 0 && errno != EINPROGRESS && errno != EAGAIN)
		return fail(mc, c, m, "connect:", strerror(errno));
	{
		/* done or in progress: writable once connected */
		struct pollfd pfd = { c->fd, POLLOUT, 0 };
		int soerr = 0;
		socklen_t sl = sizeof(soerr);

		if (poll(&pfd, 1, (int)wait_ms(mc, m)) <= 0)
			return fail(mc, c, m, "connect:", "timed out");
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 ||
		    soerr != 0)
			return fail(mc, c, m, "connect:",
			    strerror(soerr != 0 ? soerr : errno));
	}
	put32(&b, SMFI_PROT_VERSION);
	put32(&b, offered(m));
	put32(&b, (uint32_t)OUR_PROTOCOL);
	if (send_packet(mc, c, m, SMFIC_OPTNEG, b.data, b.len, &why) < 0 ||
	    read_packet(mc, c, m, &rc, &d, &why) < 0) {
		buf_free(&b);
		buf_free(&d);
		return fail(mc, c, m, "negotiation:", why);
	}
	buf_free(&b);
	if (rc != SMFIC_OPTNEG || d.len < 12 || get32(d.data) < 2) {
		buf_free(&d);
		return fail(mc, c, m, "negotiation:", "bad answer");
	}
	c->actions = get32(d.data + 4) & offered(m);
	c->proto = get32(d.data + 8);
	buf_free(&d);
	if ((c->proto & ~(uint32_t)OUR_PROTOCOL & SMFI_CURR_PROT) != 0)
		return fail(mc, c, m, "negotiation:", "it wants protocol "
		    "steps we do not offer");
	return FILTER_CONTINUE;
}

/* conn_of - the connection; FILTER_ERROR when it broke earlier */
static struct mconn *
conn_of(const struct filter_msg *m)
{
	struct mconn *c = filter_conn_data_get(m);

	return c != NULL && !c->failed ? c : NULL;
}

static enum filter_action
m_connect(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct milter_conf *mc = state;
	const struct filter_conn *fc = m->conn;
	struct mconn *c;
	struct buf b = BUF_INIT(0);
	const char *addr_macros[] = { "j", mc->cfg->server.hostname,
		"{daemon_name}", "postern", "{client_addr}", fc->ip,
		"_", fc->ip };
	enum filter_action a;
	char fam = SMFIA_UNKNOWN;
	unsigned port = netaddr_port((const struct sockaddr *)&fc->addr.ss);

	if (open_conn(mc, m, &c) == FILTER_ERROR)
		return FILTER_ERROR;
	if ((c->proto & SMFIP_NOCONNECT) != 0)
		return FILTER_CONTINUE;
	if (macros(mc, c, m, SMFIC_CONNECT, addr_macros,
	    ARRAY_SIZE(addr_macros)) < 0)
		return fail(mc, c, m, "sending:", "macros");
	buf_add(&b, fc->ptr != NULL ? fc->ptr : "unknown",
	    strlen(fc->ptr != NULL ? fc->ptr : "unknown") + 1);
	if (fc->addr.ss.ss_family == AF_INET)
		fam = SMFIA_INET;
	else if (fc->addr.ss.ss_family == AF_INET6)
		fam = SMFIA_INET6;
	else if (fc->addr.ss.ss_family == AF_UNIX)
		fam = SMFIA_UNIX;
	buf_add(&b, &fam, 1);
	if (fam != SMFIA_UNKNOWN) {
		unsigned char p[2] = { (unsigned char)(port >> 8),
			(unsigned char)port };

		buf_add(&b, p, 2);
		buf_add(&b, fc->ip, strlen(fc->ip) + 1);
	}
	a = exchange(mc, c, m, SMFIC_CONNECT, b.data, b.len,
	    (c->proto & SMFIP_NR_CONN) == 0, false, r);
	buf_free(&b);
	return a;
}

static enum filter_action
m_helo(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct milter_conf *mc = state;
	struct mconn *c = conn_of(m);
	const char *h = m->conn->helo != NULL ? m->conn->helo : "";

	if (c == NULL)
		return FILTER_ERROR;
	if ((c->proto & SMFIP_NOHELO) != 0)
		return FILTER_CONTINUE;
	return exchange(mc, c, m, SMFIC_HELO, h, strlen(h) + 1,
	    (c->proto & SMFIP_NR_HELO) == 0, false, r);
}

static enum filter_action
m_mail(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct milter_conf *mc = state;
	struct mconn *c = conn_of(m);
	const char *mm[] = { "i", m->qid, "{auth_authen}",
		m->conn->auth_user };
	struct buf b = BUF_INIT(0);
	enum filter_action a;

	if (c == NULL)
		return FILTER_ERROR;
	c->in_txn = true;
	if ((c->proto & SMFIP_NOMAIL) != 0)
		return FILTER_CONTINUE;
	if (macros(mc, c, m, SMFIC_MAIL, mm, ARRAY_SIZE(mm)) < 0)
		return fail(mc, c, m, "sending:", "macros");
	buf_addf(&b, "<%s>", m->sender != NULL ? m->sender : "");
	buf_add(&b, "", 1);
	a = exchange(mc, c, m, SMFIC_MAIL, b.data, b.len,
	    (c->proto & SMFIP_NR_MAIL) == 0, false, r);
	buf_free(&b);
	return a;
}

static enum filter_action
m_rcpt(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct milter_conf *mc = state;
	struct mconn *c = conn_of(m);
	const char *rcpt = m->rcpts[m->nrcpts - 1];
	const char *rm[] = { "{rcpt_addr}", rcpt };
	struct buf b = BUF_INIT(0);
	enum filter_action a;

	if (c == NULL)
		return FILTER_ERROR;
	if ((c->proto & SMFIP_NORCPT) != 0)
		return FILTER_CONTINUE;
	if (macros(mc, c, m, SMFIC_RCPT, rm, ARRAY_SIZE(rm)) < 0)
		return fail(mc, c, m, "sending:", "macros");
	buf_addf(&b, "<%s>", rcpt);
	buf_add(&b, "", 1);
	a = exchange(mc, c, m, SMFIC_RCPT, b.data, b.len,
	    (c->proto & SMFIP_NR_RCPT) == 0, false, r);
	buf_free(&b);
	return a;
}

/* header_value - as milters expect it: no leading blank unless asked,
 * line breaks of folded values as bare LF */
static void
header_value(const struct mconn *c, const char *v, struct buf *out)
{
	if ((c->proto & SMFIP_HDR_LEADSPC) == 0)
		while (*v == ' ' || *v == '\t')
			v++;
	for (; *v != '\0'; v++)
		if (!(v[0] == '\r' && v[1] == '\n'))
			buf_add(out, v, 1);
	buf_add(out, "", 1);
}

static enum filter_action
m_data(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct milter_conf *mc = state;
	struct mconn *c = conn_of(m);
	const char *im[] = { "i", m->qid };
	struct buf b = BUF_INIT(0);
	enum filter_action a = FILTER_CONTINUE;

	if (c == NULL)
		return FILTER_ERROR;
	c->skip_body = false;
	c->replbody = false;
	buf_free(&c->body);
	if ((c->proto & SMFIP_NODATA) == 0 &&
	    (a = exchange(mc, c, m, SMFIC_DATA, NULL, 0,
	    (c->proto & SMFIP_NR_DATA) == 0, false, r)) != FILTER_CONTINUE)
		goto out;
	for (size_t i = 0; (c->proto & SMFIP_NOHDRS) == 0 && i < m->nhdrs;
	    i++) {
		buf_reset(&b);
		buf_add(&b, m->hdrs[i].name, strlen(m->hdrs[i].name) + 1);
		header_value(c, m->hdrs[i].value, &b);
		if ((a = exchange(mc, c, m, SMFIC_HEADER, b.data, b.len,
		    (c->proto & SMFIP_NR_HDR) == 0, false, r)) !=
		    FILTER_CONTINUE)
			goto out;
	}
	if ((c->proto & SMFIP_NOEOH) == 0 && (a = exchange(mc, c, m,
	    SMFIC_EOH, NULL, 0, (c->proto & SMFIP_NR_EOH) == 0, false, r)) !=
	    FILTER_CONTINUE)
		goto out;
	for (size_t off = m->body_off; (c->proto & SMFIP_NOBODY) == 0 &&
	    !c->skip_body && off < m->len;) {
		size_t n = m->len - off;

		if (n > MILTER_CHUNK_SIZE)
			n = MILTER_CHUNK_SIZE;
		if ((a = exchange(mc, c, m, SMFIC_BODY, m->data + off, n,
		    (c->proto & SMFIP_NR_BODY) == 0, false, r)) !=
		    FILTER_CONTINUE)
			goto out;
		off += n;
	}
	if (macros(mc, c, m, SMFIC_BODYEOB, im, ARRAY_SIZE(im)) < 0) {
		a = fail(mc, c, m, "sending:", "macros");
		goto out;
	}
	a = exchange(mc, c, m, SMFIC_BODYEOB, NULL, 0, true, true, r);
	if (a != FILTER_ERROR)
		c->in_txn = false;
out:
	buf_free(&b);
	return a;
}

/* m_conn_end - abort an unfinished transaction, quit, close */
static void
m_conn_end(void *state, struct filter_conn *fc, void *data)
{
	struct mconn *c = data;
	unsigned char q[5] = { 0, 0, 0, 1, SMFIC_QUIT };

	(void)state;
	(void)fc;
	if (c->fd >= 0) {
		/* best effort, never waits: the milter may be gone */
		(void)!send(c->fd, q, sizeof(q), MSG_NOSIGNAL | MSG_DONTWAIT);
		close(c->fd);
	}
	buf_free(&c->body);
	free(c);
}

/*
 * m_mail_abort_first - a transaction that ended before its end of message
 * (RSET, a refusal) is aborted at the next MAIL so the milter starts
 * clean
 */
static enum filter_action
m_mail_abort_first(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct milter_conf *mc = state;
	struct mconn *c = conn_of(m);
	const char *why;

	if (c != NULL && c->in_txn) {
		if (send_packet(mc, c, m, SMFIC_ABORT, NULL, 0, &why) < 0)
			return fail(mc, c, m, "sending:", why);
		c->in_txn = false;
	}
	return m_mail(state, m, r);
}

const struct filter_stage_ops filter_stage_milter = {
	.name = "milter",
	.inbound_only = false,
	.init = m_init,
	.free = m_free,
	.connect = m_connect,
	.helo = m_helo,
	.mail = m_mail_abort_first,
	.rcpt = m_rcpt,
	.data = m_data,
	.conn_end = m_conn_end,
};
