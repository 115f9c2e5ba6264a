/*
 * imap_session.c - the session's state machine (RFC 9051 3): the
 * dispatch table, capabilities, replies, jobs, and the commands that
 * need no store: CAPABILITY, NOOP, CHECK, LOGOUT, ID (RFC 2971), ENABLE
 * (RFC 5161), STARTTLS, COMPRESS (RFC 4978), UNAUTHENTICATE (RFC 8437).
 *
 * Dispatch: cmd_table maps each command the parser knows to the states
 * where it is valid (a command in another state gets BAD) and to its
 * handler.  A handler answers at once (the reply goes to s->out and the
 * command is finished), or starts a job (imap_run_job: the command is
 * finished when the job is done), or leaves a continuation open (the
 * AUTHENTICATE exchange, IDLE): the next line from the parser goes to
 * it.  A command without a handler would get BAD as an unknown command
 * and the capabilities that depend on it (capa_table's needs) would not
 * be advertised.  The message commands are in imap_fetch_cmd.c,
 * imap_store_cmd.c, imap_search_cmd.c and imap_copy_cmd.c; NOTIFY in
 * imap_notify.c, GETMETADATA/SETMETADATA in imap_metadata.c.
 *
 * UIDONLY (RFC 9586): once enabled, a command that names messages by
 * number (imap_cmd_uses_msn) gets BAD [UIDREQUIRED] here, and every
 * response names them by UID (UIDFETCH, VANISHED).
 *
 * Capabilities: before login IMAP4rev2 IMAP4rev1, the literal and login
 * ones, STARTTLS where TLS can start, AUTH=PLAIN AUTH=LOGIN only where a
 * login is allowed (TLS, or auth.plaintext_loopback from loopback), else
 * LOGINDISABLED (RFC 9051 6.2.3); after it, every extension whose
 * commands are wired.  The greeting and the OK of a login carry them
 * (RFC 9051 7.1 CAPABILITY response code), so clients need not ask.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

typedef void imap_cmd_fn(struct imap_session *s);

#define S_ANY (IMAP_S_NOAUTH | IMAP_S_AUTH | IMAP_S_SELECTED)
#define S_IN (IMAP_S_AUTH | IMAP_S_SELECTED)
#define S_SEL IMAP_S_SELECTED

struct imap_cmd_def {
	unsigned states;	/* enum imap_state bits where it is valid */
	imap_cmd_fn *fn;	/* NULL: not served (yet) */
};

static imap_cmd_fn cmd_capability, cmd_noop, cmd_logout, cmd_id,
    cmd_starttls, cmd_enable, cmd_compress, cmd_unauthenticate,
    cmd_namespace;

static const struct imap_cmd_def cmd_table[] = {
	[IMAP_CMD_CAPABILITY] = { S_ANY, cmd_capability },
	[IMAP_CMD_NOOP] = { S_ANY, cmd_noop },
	[IMAP_CMD_LOGOUT] = { S_ANY, cmd_logout },
	[IMAP_CMD_ID] = { S_ANY, cmd_id },
	[IMAP_CMD_STARTTLS] = { IMAP_S_NOAUTH, cmd_starttls },
	[IMAP_CMD_AUTHENTICATE] = { IMAP_S_NOAUTH, imap_cmd_authenticate },
	[IMAP_CMD_LOGIN] = { IMAP_S_NOAUTH, imap_cmd_login },
	[IMAP_CMD_ENABLE] = { S_IN, cmd_enable },
	[IMAP_CMD_SELECT] = { S_IN, imap_cmd_select },
	[IMAP_CMD_EXAMINE] = { S_IN, imap_cmd_select },
	[IMAP_CMD_CREATE] = { S_IN, imap_cmd_create },
	[IMAP_CMD_DELETE] = { S_IN, imap_cmd_delete },
	[IMAP_CMD_RENAME] = { S_IN, imap_cmd_rename },
	[IMAP_CMD_SUBSCRIBE] = { S_IN, imap_cmd_subscribe },
	[IMAP_CMD_UNSUBSCRIBE] = { S_IN, imap_cmd_subscribe },
	[IMAP_CMD_LIST] = { S_IN, imap_cmd_list },
	[IMAP_CMD_LSUB] = { S_IN, imap_cmd_list },
	[IMAP_CMD_NAMESPACE] = { S_IN, cmd_namespace },
	[IMAP_CMD_STATUS] = { S_IN, imap_cmd_status },
	[IMAP_CMD_APPEND] = { S_IN, imap_cmd_append },
	[IMAP_CMD_IDLE] = { S_IN, imap_cmd_idle },
	[IMAP_CMD_CHECK] = { S_SEL, cmd_noop },
	[IMAP_CMD_CLOSE] = { S_SEL, imap_cmd_close },
	[IMAP_CMD_UNSELECT] = { S_SEL, imap_cmd_close },
	[IMAP_CMD_EXPUNGE] = { S_SEL, imap_cmd_expunge },
	[IMAP_CMD_GETQUOTA] = { S_IN, imap_cmd_getquota },
	[IMAP_CMD_GETQUOTAROOT] = { S_IN, imap_cmd_getquotaroot },
	[IMAP_CMD_SETQUOTA] = { S_IN, imap_cmd_setquota },
	[IMAP_CMD_COMPRESS] = { S_IN, cmd_compress },
	[IMAP_CMD_UNAUTHENTICATE] = { S_IN, cmd_unauthenticate },
	[IMAP_CMD_SEARCH] = { S_SEL, imap_cmd_search },
	[IMAP_CMD_FETCH] = { S_SEL, imap_cmd_fetch },
	[IMAP_CMD_STORE] = { S_SEL, imap_cmd_store },
	[IMAP_CMD_COPY] = { S_SEL, imap_cmd_copy },
	[IMAP_CMD_MOVE] = { S_SEL, imap_cmd_copy },
	[IMAP_CMD_SORT] = { S_SEL, imap_cmd_search },
	[IMAP_CMD_THREAD] = { S_SEL, imap_cmd_search },
	/* plugged in by their own groups (see the header comment) */
	[IMAP_CMD_NOTIFY] = { S_IN, imap_cmd_notify },
	[IMAP_CMD_GETMETADATA] = { S_IN, imap_cmd_getmetadata },
	[IMAP_CMD_SETMETADATA] = { S_IN, imap_cmd_setmetadata },
};

static imap_cmd_fn *
handler(enum imap_cmd_kind k)
{
	return (size_t)k < ARRAY_SIZE(cmd_table) ? cmd_table[k].fn : NULL;
}

static bool
is_wired(int k)
{
	return k < 0 || handler((enum imap_cmd_kind)k) != NULL;
}

/* ---- capabilities ---- */

#define CAPA_PRE	1u	/* before login */
#define CAPA_POST	2u	/* after */

static const struct capa {
	const char *name;
	unsigned when;
	int needs[3];		/* commands that must be wired; -1 ends */
} capa_table[] = {
	{ "IMAP4rev2", CAPA_PRE | CAPA_POST, { -1 } },
	{ "IMAP4rev1", CAPA_PRE | CAPA_POST, { -1 } },
	{ "LITERAL+", CAPA_PRE | CAPA_POST, { -1 } },
	{ "SASL-IR", CAPA_PRE, { -1 } },
	{ "ID", CAPA_PRE | CAPA_POST, { -1 } },
	{ "ENABLE", CAPA_PRE | CAPA_POST, { -1 } },
	{ "IDLE", CAPA_PRE | CAPA_POST, { -1 } },
	{ "NAMESPACE", CAPA_POST, { -1 } },
	{ "UNSELECT", CAPA_POST, { -1 } },
	{ "CHILDREN", CAPA_POST, { -1 } },
	{ "LIST-EXTENDED", CAPA_POST, { -1 } },
	{ "LIST-STATUS", CAPA_POST, { -1 } },
	{ "SPECIAL-USE", CAPA_POST, { -1 } },
	{ "CREATE-SPECIAL-USE", CAPA_POST, { -1 } },
	{ "UTF8=ACCEPT", CAPA_POST, { -1 } },
	{ "STATUS=SIZE", CAPA_POST, { -1 } },
	{ "QUOTA", CAPA_POST, { -1 } },
	{ "QUOTA=RES-STORAGE", CAPA_POST, { -1 } },
	{ "UNAUTHENTICATE", CAPA_POST, { -1 } },
	{ "MULTIAPPEND", CAPA_POST, { IMAP_CMD_APPEND, -1 } },
	/* COPYUID is part of UIDPLUS; MODSEQ items need FETCH and STORE */
	{ "UIDPLUS", CAPA_POST, { IMAP_CMD_APPEND, IMAP_CMD_COPY, -1 } },
	{ "CONDSTORE", CAPA_POST, { IMAP_CMD_FETCH, IMAP_CMD_STORE, -1 } },
	{ "QRESYNC", CAPA_POST, { IMAP_CMD_FETCH, IMAP_CMD_STORE, -1 } },
	{ "MOVE", CAPA_POST, { IMAP_CMD_MOVE, -1 } },
	{ "ESEARCH", CAPA_POST, { IMAP_CMD_SEARCH, -1 } },
	{ "SEARCHRES", CAPA_POST, { IMAP_CMD_SEARCH, -1 } },
	{ "WITHIN", CAPA_POST, { IMAP_CMD_SEARCH, -1 } },
	{ "SORT", CAPA_POST, { IMAP_CMD_SORT, -1 } },
	{ "SORT=DISPLAY", CAPA_POST, { IMAP_CMD_SORT, -1 } },
	{ "ESORT", CAPA_POST, { IMAP_CMD_SORT, -1 } },
	{ "THREAD=ORDEREDSUBJECT", CAPA_POST, { IMAP_CMD_THREAD, -1 } },
	{ "THREAD=REFERENCES", CAPA_POST, { IMAP_CMD_THREAD, -1 } },
	{ "BINARY", CAPA_POST, { IMAP_CMD_FETCH, -1 } },
	{ "OBJECTID", CAPA_POST, { IMAP_CMD_FETCH, -1 } },
	{ "PREVIEW", CAPA_POST, { IMAP_CMD_FETCH, -1 } },
	{ "SAVEDATE", CAPA_POST, { IMAP_CMD_FETCH, -1 } },
	{ "UIDONLY", CAPA_POST, { IMAP_CMD_FETCH, IMAP_CMD_STORE,
	    IMAP_CMD_SEARCH } },
	{ "NOTIFY", CAPA_POST, { IMAP_CMD_NOTIFY, -1 } },
	{ "METADATA", CAPA_POST, { IMAP_CMD_GETMETADATA,
	    IMAP_CMD_SETMETADATA, -1 } },
};

static bool
capa_on(const struct capa *c)
{
	for (size_t i = 0; i < ARRAY_SIZE(c->needs) && c->needs[i] >= 0; i++)
		if (!is_wired(c->needs[i]))
			return false;
	return true;
}

bool
imap_is_offered(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(capa_table); i++)
		if ((capa_table[i].when & CAPA_POST) &&
		    ascii_eq_nocase(name, len, capa_table[i].name))
			return capa_on(&capa_table[i]);
	return false;
}

void
imap_capabilities(const struct imap_session *s, struct buf *out)
{
	unsigned when = s->state == IMAP_S_NOAUTH ? CAPA_PRE : CAPA_POST;
	bool first = true;

	for (size_t i = 0; i < ARRAY_SIZE(capa_table); i++) {
		if (!(capa_table[i].when & when) || !capa_on(&capa_table[i]))
			continue;
		buf_addf(out, "%s%s", first ? "" : " ", capa_table[i].name);
		first = false;
	}
	if (s->state == IMAP_S_NOAUTH) {
		if (!s->tls && s->srv->tls != NULL)
			buf_add_str(out, " STARTTLS");
		if (imap_login_allowed(s))
			buf_add_str(out, " AUTH=PLAIN AUTH=LOGIN");
		else
			buf_add_str(out, " LOGINDISABLED");
	} else {
		if (!s->compress)
			buf_add_str(out, " COMPRESS=DEFLATE");
		if (is_wired(IMAP_CMD_APPEND))
			buf_addf(out, " APPENDLIMIT=%" PRIu64,
			    s->cfg->imap.max_append_size);
		if (s->cfg->imap.message_limit > 0)	/* RFC 9738 */
			buf_addf(out, " MESSAGELIMIT=%u",
			    s->cfg->imap.message_limit);
	}
}

void
imap_greet(struct imap_session *s)
{
	buf_add_str(&s->out, "* OK [CAPABILITY ");
	imap_capabilities(s, &s->out);
	buf_add_str(&s->out, "] Postern IMAP server ready\r\n");
}

/* ---- replies ---- */

static void
vline(struct imap_session *s, const char *tag, const char *status,
    const char *fmt, va_list ap)
{
	buf_addf(&s->out, "%s %s ", tag, status);
	if (buf_vprintf(&s->out, fmt, ap) < 0)
		PANIC("imap reply: cannot format");
	buf_add_str(&s->out, "\r\n");
}

void
imap_tagged(struct imap_session *s, const char *status, const char *fmt, ...)
{
	va_list ap;

	ASSERT(s->cmd != NULL);
	if (strcmp(status, "BAD") != 0)
		s->nbad = 0;
	va_start(ap, fmt);
	vline(s, s->cmd->tag.p, status, fmt, ap);
	va_end(ap);
}

void
imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	buf_add_str(&s->out, "* ");
	va_start(ap, fmt);
	if (buf_vprintf(&s->out, fmt, ap) < 0)
		PANIC("imap reply: cannot format");
	va_end(ap);
	buf_add_str(&s->out, "\r\n");
}

/* count_bad - one more BAD; the last one allowed ends the session */
static void
count_bad(struct imap_session *s)
{
	if (++s->nbad < s->cfg->imap.max_bad_commands || s->closing ||
	    s->want_close)
		return;
	log_warn(IMAP_SVC, "%s: [%s]: %u invalid commands in a row: "
	    "disconnecting", s->id, s->ip, s->nbad);
	imap_untagged(s, "BYE Too many invalid IMAP commands");
	s->want_close = true;
}

void
imap_bad(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vline(s, s->cmd->tag.p, "BAD", fmt, ap);
	va_end(ap);
	count_bad(s);
}

void
imap_parse_error(struct imap_session *s, const struct imap_parse_error *e)
{
	const char *tag = e->has_tag ? e->tag : "*";
	char code[64] = "";

	if (e->code != NULL)
		(void)snprintf(code, sizeof(code), "[%s] ", e->code);
	if (e->fatal) {
		log_info(IMAP_SVC, "%s: [%s]: %s: disconnecting", s->id, s->ip,
		    e->text);
		buf_addf(&s->out, "* BYE %s%s\r\n", code, e->text);
		imap_close(s);
		return;
	}
	/* an error inside a continuation ends the command it belongs to */
	if (s->cont == IMAP_CONT_IDLE) {
		imap_idle_done(s, false);
		return;
	}
	if (s->cont == IMAP_CONT_SASL) {
		imap_auth_abort(s, e->text);
		return;
	}
	buf_addf(&s->out, "%s %s %s%s\r\n", e->has_tag ? tag : "*",
	    e->is_no && e->has_tag ? "NO" : "BAD", code, e->text);
	if (!e->is_no)
		count_bad(s);
	if (s->want_close)
		imap_close(s);
}

/* ---- commands ---- */

void
imap_cmd_state_free(struct imap_session *s)
{
	if (s->cmd_state != NULL && s->cmd_state_free != NULL)
		s->cmd_state_free(s->cmd_state);
	s->cmd_state = NULL;
	s->cmd_state_free = NULL;
	s->more = NULL;
}

void
imap_cmd_finish(struct imap_session *s)
{
	imap_cmd_state_free(s);
	imap_cmd_free(&s->cmd);
	s->cont = IMAP_CONT_NONE;
	if (s->want_close && !s->closing)
		imap_close(s);
}

void
imap_command(struct imap_session *s, struct imap_cmd *cmd)
{
	const struct imap_cmd_def *def;
	imap_cmd_fn *fn;

	s->ncmds++;
	if (s->cont != IMAP_CONT_NONE) {
		/* a continuation line: SASL response or DONE */
		if (s->cont == IMAP_CONT_SASL && cmd->kind == IMAP_CMD_SASL)
			imap_auth_response(s, cmd);
		else if (s->cont == IMAP_CONT_IDLE &&
		    cmd->kind == IMAP_CMD_DONE)
			imap_idle_done(s, true);
		else
			PANIC("imap: %s line in continuation %d",
			    imap_cmd_name(cmd->kind), (int)s->cont);
		imap_cmd_free(&cmd);
		return;
	}
	ASSERT(s->cmd == NULL);
	s->cmd = cmd;
	fn = handler(cmd->kind);
	def = (size_t)cmd->kind < ARRAY_SIZE(cmd_table) ?
	    &cmd_table[cmd->kind] : NULL;
	if (fn == NULL || def == NULL || def->states == 0) {
		imap_bad(s, "Unknown command %s", imap_cmd_name(cmd->kind));
	} else if (!(def->states & s->state)) {
		imap_bad(s, "%s is not valid %s", imap_cmd_name(cmd->kind),
		    s->state == IMAP_S_NOAUTH ? "before login" :
		    s->state == IMAP_S_AUTH ? "without a selected mailbox" :
		    "after login");
	} else if (s->uidonly && imap_cmd_uses_msn(cmd)) {
		imap_bad(s, "[UIDREQUIRED] Message numbers are not used "
		    "under UIDONLY");
	} else {
		fn(s);
	}
	if (!s->busy && s->cont == IMAP_CONT_NONE && s->cmd == cmd)
		imap_cmd_finish(s);
}

/* ---- jobs ---- */

struct imap_job {
	struct imap_session *s;
	imap_work_fn *work, *done;
};

static void
job_work(void *arg)
{
	struct imap_job *j = arg;

	j->work(j->s);
}

static void
job_done(void *arg)
{
	struct imap_job *j = arg;
	struct imap_session *s = j->s;
	imap_work_fn *done = j->done;

	free(j);
	s->busy = false;
	if (s->dead) {
		imap_resume(s);		/* frees it */
		return;
	}
	if (done != NULL)
		done(s);
	if (s->busy)
		return;		/* done started another job */
	imap_flush(s);
	if (s->dead || s->closing)
		;
	else if (s->want_close)
		imap_close(s);
	else if (s->cont == IMAP_CONT_NONE && s->cmd != NULL)
		imap_cmd_finish(s);
	if (!s->dead)
		imap_resume(s);
}

void
imap_run_job(struct imap_session *s, struct jobs *pool, imap_work_fn *work,
    imap_work_fn *done)
{
	struct imap_job *j = xmalloc(sizeof(*j));

	ASSERT(!s->busy);
	imap_flush(s);	/* what came before goes now, not after the job */
	j->s = s;
	j->work = work;
	j->done = done;
	/*
	 * Reading goes on (bounded by IMAP_IN_HIGH) but nothing is parsed
	 * while busy: pipelined commands wait in order.
	 */
	s->busy = true;
	jobs_submit(pool, s->loop, job_work, job_done, j);
}

/* ---- the commands without store work ---- */

static void
cmd_capability(struct imap_session *s)
{
	buf_add_str(&s->out, "* CAPABILITY ");
	imap_capabilities(s, &s->out);
	buf_add_str(&s->out, "\r\n");
	imap_tagged(s, "OK", "CAPABILITY completed");
}

static void
noop_work(struct imap_session *s)
{
	s->job_r = imap_refresh(s, true);
}

static void
noop_done(struct imap_session *s)
{
	if (s->want_close)
		return;
	if (s->job_r < 0)
		imap_tagged(s, "NO", "[SERVERBUG] Internal error; see the "
		    "server log");
	else
		imap_tagged(s, "OK", "%s completed",
		    imap_cmd_name(s->cmd->kind));
}

/* NOOP and CHECK: a chance for updates (RFC 9051 6.1.2) */
static void
cmd_noop(struct imap_session *s)
{
	if (s->state == IMAP_S_SELECTED) {
		imap_run_job(s, s->srv->jobs, noop_work, noop_done);
		return;
	}
	imap_tagged(s, "OK", "%s completed", imap_cmd_name(s->cmd->kind));
}

static void
cmd_logout(struct imap_session *s)
{
	imap_untagged(s, "BYE Logging out");
	imap_tagged(s, "OK", "LOGOUT completed");
	s->state = IMAP_S_LOGOUT;
	s->want_close = true;
}

/* id_field - an ID value for the log: printable ASCII, at most 64 */
static void
id_field(struct buf *out, const struct imap_str *v)
{
	if (v->p == NULL) {
		buf_add_str(out, "NIL");
		return;
	}
	buf_add_str(out, "\"");
	for (size_t i = 0; i < v->len && i < 64; i++) {
		unsigned char c = (unsigned char)v->p[i];

		buf_addf(out, c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ?
		    "%c" : "\\x%02x", c);
	}
	buf_add_str(out, "\"");
}

static void
cmd_id(struct imap_session *s)
{
	const struct imap_id *id = &s->cmd->u.id;
	struct buf line = BUF_INIT(0);

	for (size_t i = 0; i < id->n && i < 30; i++) {
		id_field(&line, &id->key[i]);
		buf_add_str(&line, "=");
		id_field(&line, &id->val[i]);
		buf_add_str(&line, i + 1 < id->n ? ", " : "");
	}
	if (id->n > 0)
		log_info(IMAP_SVC, "%s: [%s]: ID %s", s->id, s->ip,
		    buf_cstr(&line));
	buf_free(&line);
	imap_untagged(s, "ID (\"name\" \"Postern\")");
	imap_tagged(s, "OK", "ID completed");
}

static void
cmd_starttls(struct imap_session *s)
{
	if (s->tls) {
		imap_bad(s, "TLS is already active");
		return;
	}
	if (s->srv->tls == NULL) {
		imap_bad(s, "STARTTLS is not available");
		return;
	}
	imap_tagged(s, "OK", "Begin TLS negotiation now");
	imap_flush(s);
	imap_starttls(s);
}

static void
cmd_compress(struct imap_session *s)
{
	const struct imap_str *alg = &s->cmd->u.compress;

	if (!ascii_eq_nocase(alg->p, alg->len, "DEFLATE")) {
		imap_bad(s, "Unknown compression algorithm");
		return;
	}
	if (s->compress) {
		imap_tagged(s, "NO", "[COMPRESSIONACTIVE] DEFLATE is already "
		    "active");
		return;
	}
	imap_tagged(s, "OK", "DEFLATE active");
	imap_flush(s);		/* the OK goes out uncompressed */
	if (imap_compress_start(s) < 0) {
		log_error(IMAP_SVC, "%s: [%s]: COMPRESS: cannot start zlib",
		    s->id, s->ip);
		imap_close(s);
		return;
	}
	s->compress = true;
}

static void
cmd_enable(struct imap_session *s)
{
	const struct imap_strlist *l = &s->cmd->u.enable;
	struct buf on = BUF_INIT(0);
	bool was_condstore = s->condstore;

	for (size_t i = 0; i < l->n; i++) {
		const char *c = l->v[i].p;
		size_t n = l->v[i].len;
		bool *flag = NULL;

		if (ascii_eq_nocase(c, n, "IMAP4rev2"))
			flag = &s->rev2;
		else if (ascii_eq_nocase(c, n, "UTF8=ACCEPT"))
			flag = &s->utf8;
		else if (ascii_eq_nocase(c, n, "CONDSTORE") &&
		    imap_is_offered(c, n))
			flag = &s->condstore;
		else if (ascii_eq_nocase(c, n, "QRESYNC") && imap_is_offered(c, n))
			flag = &s->qresync;
		else if (ascii_eq_nocase(c, n, "UIDONLY") && imap_is_offered(c, n))
			flag = &s->uidonly;
		if (flag == NULL || *flag)
			continue;	/* unknown, or on already: not listed */
		*flag = true;
		buf_addf(&on, " %s", flag == &s->rev2 ? "IMAP4rev2" :
		    flag == &s->utf8 ? "UTF8=ACCEPT" : flag == &s->condstore ?
		    "CONDSTORE" : flag == &s->qresync ? "QRESYNC" : "UIDONLY");
	}
	/* RFC 7162 3.2.3: QRESYNC implies CONDSTORE; IMAP4rev2: UTF-8 */
	if (s->qresync)
		s->condstore = true;
	if (s->rev2)
		s->utf8 = true;
	imap_parser_set_utf8(s->parser, s->utf8);
	imap_untagged(s, "ENABLED%s", buf_cstr(&on));
	if (!was_condstore && s->condstore && s->sel != NULL)
		imap_untagged(s, "OK [HIGHESTMODSEQ %" PRIu64 "] Highest",
		    s->sel->modseq);
	buf_free(&on);
	imap_tagged(s, "OK", "ENABLE completed");
}

static void
cmd_namespace(struct imap_session *s)
{
	/* one personal namespace, no prefix (RFC 2342) */
	imap_untagged(s, "NAMESPACE ((\"\" \"%c\")) NIL NIL", IMAP_DELIM);
	imap_tagged(s, "OK", "NAMESPACE completed");
}

void
imap_session_reset_login(struct imap_session *s)
{
	struct imap_limits lim;

	imap_unwatch(s);
	imap_notify_free(s);
	imap_sel_free(&s->sel);
	free(s->user);
	s->user = NULL;
	s->acct = 0;
	s->quota = 0;
	s->rev2 = s->utf8 = s->condstore = s->qresync = s->uidonly = false;
	s->state = IMAP_S_NOAUTH;
	imap_parser_set_utf8(s->parser, false);
	imap_limits_default(&lim, false);
	imap_parser_set_limits(s->parser, &lim);
}

/* UNAUTHENTICATE (RFC 8437): as if just connected, TLS and COMPRESS kept */
static void
cmd_unauthenticate(struct imap_session *s)
{
	log_info(IMAP_SVC, "%s: [%s]: logout: user=<%s> (UNAUTHENTICATE)",
	    s->id, s->ip, s->user);
	imap_session_reset_login(s);
	imap_tagged(s, "OK", "UNAUTHENTICATE completed");
	imap_set_timeouts(s);
}

void
imap_mailbox_id(uint32_t mbox, struct buf *out)
{
	/* RFC 8474 objectid: 1..255 of ALPHA / DIGIT / "_" / "-" */
	buf_addf(out, "M%08" PRIx32, mbox);
}
