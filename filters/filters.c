/*
 * filters.c - the pipeline: stages in configured order, their time
 * budgets and failure policy, the score thresholds, and the header
 * fields the pipeline adds (filter.h and filters.h are the contract).
 *
 * A step walks the stages in order and stops at the first verdict that is
 * not CONTINUE.  ACCEPT from a stage marks the transaction accepted: the
 * later stages are skipped until filters_txn_end.  A stage that returns
 * FILTER_ERROR, or that took longer than its budget (filters.stage_timeout
 * per call; the stage must bound its own waits by filter_deadline_ms, the
 * pipeline cannot interrupt it), gets the failure policy: before DATA
 * filters.fail_before_data (tempfail by default: 451 4.7.1), at DATA
 * filters.fail_at_data (accept by default, with the symbol <STAGE>_ERROR
 * at score 0, so that a broken filter costs no mail).
 *
 * The data step: the header is split into fields (at most
 * FILTER_HEADERS_MAX; the rest count as body for the stages), then each
 * stage gets either data() or the milter sequence header()... eoh()
 * body()... eom().  Then, unless a stage accepted or discarded, the score
 * is compared with the thresholds: reject_score refuses (550 5.7.1),
 * every stage's scored() runs (greylisting on doubt), junk_score sets
 * the junk flag; finally every stage's verdict() learns the outcome.
 *
 * Headers (filters_apply): the fields the stages added, then
 * Authentication-Results (RFC 8601: our hostname as authserv-id, the
 * stages' method clauses or "none"), X-Spam-Status (score, the
 * add_header threshold, the symbols) and, over add_header_score,
 * X-Spam-Flag: YES, inserted after our Received field.  Fields a client
 * sent that would pass for ours are removed: Authentication-Results with
 * our authserv-id (RFC 8601 section 5), X-Spam-Status, X-Spam-Flag and
 * X-Postern-Spam.  A message over junk_score gets "X-Postern-Spam: junk",
 * which the delivery agent honours by filing it into Junk.
 *
 * Body and envelope changes (milters): filter_replace_body keeps the
 * header as received and the new body (CRLF line ends) in the session's
 * newmsg, which m->data then points to, so later stages and
 * filters_apply see it; envelope changes are only recorded, the caller
 * applies them.  A stage that fails at a step loses its changes of that
 * step (header edits, envelope changes, the body: the previous body is
 * kept in prevmsg while the stage runs), so a broken milter's half-done
 * edits never reach a message that its fail action lets through.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "filters/filters.h"
#include "filters/milter.h"

#define FILTERS_SVC "filter"
#define FOLD_AT 76		/* X-Spam-Status continuation lines */

struct stage {
	const struct filter_stage_ops *ops;
	void *state;
	const char *name;	/* ops->name, or "milter:NAME" */
	int fail;		/* its own fail action, or -1 */
};

struct filters {
	struct filter_env env;
	const struct config_filters *fc;
	struct stage stages[FILTER_STAGES_MAX];
	size_t nstages;
	struct netaddr_cidr *trusted;
	size_t ntrusted;
};

struct filter_session {
	struct filters *f;
	struct filter_conn conn;
	struct filter_msg m;
	size_t rcpt_cap;
	struct buf hdrtext;	/* NUL-separated copies behind m.hdrs */
	bool scanned;		/* filters_data ran for this transaction */
	size_t hdr_end;		/* the header's end in the caller's msg */
	bool blank_line;	/* ... which ended with the blank line */
	struct buf newmsg;	/* header + replaced body: m.data */
	struct buf prevmsg;	/* the body before the running stage's */
	bool body_saved;	/* prevmsg holds it (until the stage ends) */
};

/* ---- helpers for stages ---- */

void
filter_symbol(struct filter_msg *m, const char *name, double score)
{
	m->score += score;
	if (m->nsyms >= FILTER_SYMBOLS_MAX)
		return;
	snprintf(m->syms[m->nsyms].name, sizeof(m->syms[0].name), "%s",
	    name);
	m->syms[m->nsyms].score = score;
	m->nsyms++;
}

void
filter_ar(struct filter_msg *m, const char *fmt, ...)
{
	va_list ap;

	if (m->ar.len > 0)
		buf_add_str(&m->ar, ";\r\n\t");
	va_start(ap, fmt);
	if (buf_vprintf(&m->ar, fmt, ap) < 0)
		PANIC("filter_ar: limited buffer");
	va_end(ap);
}

static void
add_edit(struct filter_msg *m, enum filter_edit_kind kind, const char *name,
    unsigned index, const char *value)
{
	struct filter_edit *e;

	if (m->nedits >= FILTER_EDITS_MAX) {
		log_warn(FILTERS_SVC, "%s: more than %u header edits: "
		    "ignoring %s", m->qid, FILTER_EDITS_MAX, name);
		return;
	}
	m->edits = xreallocarray(m->edits, m->nedits + 1, sizeof(*m->edits));
	e = &m->edits[m->nedits++];
	e->kind = kind;
	e->name = xstrdup(name);
	e->index = index;
	e->value = value != NULL ? xstrdup(value) : NULL;
}

void
filter_header_add(struct filter_msg *m, const char *name, const char *value)
{
	add_edit(m, FILTER_EDIT_ADD, name, 0, value);
}

void
filter_header_change(struct filter_msg *m, const char *name, unsigned index,
    const char *value)
{
	add_edit(m, FILTER_EDIT_CHANGE, name, index, value);
}

size_t
filter_body_max(const struct filter_msg *m)
{
	const struct config *cfg = m->session->f->env.cfg;
	uint64_t max = cfg->filters.max_scan_size;

	if (cfg->smtp.max_message_size < max)
		max = cfg->smtp.max_message_size;
	return max < SIZE_MAX / 4 ? (size_t)max : SIZE_MAX / 4;
}

/*
 * crlf_body - d as stored (a bare CR or LF becomes CRLF, a last line
 * gets its CRLF) appended to out when out is not NULL; its length
 */
static size_t
crlf_body(const unsigned char *d, size_t len, struct buf *out)
{
	size_t n = 0, run = 0;

	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		bool cr = d[i] == '\r', lf = d[i] == '\n';

		if (!cr && !lf) {
			run++;
			continue;
		}
		if (cr && i + 1 < len && d[i + 1] == '\n') {
			run += 2;
			i++;
			continue;
		}
		if (out != NULL) {	/* a bare one: the run, then CRLF */
			buf_add(out, d + i - run, run);
			buf_add(out, "\r\n", 2);
		}
		n += run + 2;
		run = 0;
	}
	if (out != NULL)
		buf_add(out, d + len - run, run);
	n += run;
	if (len > 0 && d[len - 1] != '\n' && d[len - 1] != '\r') {
		if (out != NULL)
			buf_add(out, "\r\n", 2);
		n += 2;
	}
	return n;
}

int
filter_replace_body(struct filter_msg *m, const void *data, size_t len)
{
	struct filter_session *s = m->session;
	size_t max = filter_body_max(m), n;
	struct buf b = BUF_INIT(0);

	if ((m->conn->can & FILTER_CAN_BODY) == 0 || !s->scanned ||
	    m->truncated || len > max || (n = crlf_body(data, len, NULL)) >
	    max)
		return -1;
	if (buf_reserve(&b, s->hdr_end + 4 + n) < 0)
		PANIC("filter_replace_body: an unlimited buffer");
	buf_add(&b, m->data, s->hdr_end);	/* the header as received */
	if (!s->blank_line && s->hdr_end > 0 && m->data[s->hdr_end - 1] !=
	    '\n')
		buf_add(&b, "\r\n", 2);	/* its last line unended */
	if (!s->blank_line)
		buf_add(&b, "\r\n", 2);
	m->body_off = b.len;
	(void)crlf_body(data, len, &b);
	/* the body the running stage started with stays until it is done */
	if (!s->body_saved) {
		buf_free(&s->prevmsg);
		s->prevmsg = s->newmsg;
		s->body_saved = true;
	} else {
		buf_free(&s->newmsg);
	}
	s->newmsg = b;
	m->data = s->newmsg.data;
	m->len = s->newmsg.len;
	m->body_replaced = true;
	log_info(FILTERS_SVC, "%s: %s replaced the body (%zu bytes)",
	    m->qid[0] != '\0' ? m->qid : "NOQUEUE", s->f->stages[m->cur].name,
	    n);
	return 0;
}

static int
add_envelope(struct filter_msg *m, enum filter_envelope_op op,
    const char *addr, const char *args, unsigned can)
{
	const struct filters *f = m->session->f;
	unsigned max = f->env.cfg->smtp.max_recipients;
	struct filter_envelope_edit *e;
	size_t n = 0;

	if ((m->conn->can & can) == 0)
		return -1;
	for (size_t i = 0; i < m->nenvelope; i++)
		n += m->envelope[i].op == op;
	if (n >= max) {
		log_warn(FILTERS_SVC, "%s: %s: more than %u envelope changes "
		    "of a kind (smtp.max_recipients)", m->qid,
		    f->stages[m->cur].name, max);
		return -1;
	}
	m->envelope = xreallocarray(m->envelope, m->nenvelope + 1,
	    sizeof(*m->envelope));
	e = &m->envelope[m->nenvelope++];
	e->op = op;
	e->addr = xstrdup(addr);
	e->args = xstrdup(args != NULL ? args : "");
	e->stage = f->stages[m->cur].name;
	return 0;
}

int
filter_rcpt_add(struct filter_msg *m, const char *addr, const char *args)
{
	return add_envelope(m, FILTER_RCPT_ADD, addr, args, FILTER_CAN_RCPT);
}

int
filter_rcpt_delete(struct filter_msg *m, const char *addr)
{
	return add_envelope(m, FILTER_RCPT_DELETE, addr, NULL,
	    FILTER_CAN_RCPT);
}

int
filter_sender_change(struct filter_msg *m, const char *addr,
    const char *args)
{
	return add_envelope(m, FILTER_SENDER_CHANGE, addr, args,
	    FILTER_CAN_SENDER);
}

/* undo_edits - the changes after the first nedits / nenv (a stage failed) */
static void
undo_edits(struct filter_msg *m, size_t nedits, size_t nenv)
{
	for (; m->nedits > nedits; m->nedits--) {
		free(m->edits[m->nedits - 1].name);
		free(m->edits[m->nedits - 1].value);
	}
	for (; m->nenvelope > nenv; m->nenvelope--) {
		free(m->envelope[m->nenvelope - 1].addr);
		free(m->envelope[m->nenvelope - 1].args);
	}
}

void *
filter_stage_data(const struct filter_msg *m,
    const struct filter_stage_ops *ops)
{
	const struct filters *f = m->session->f;

	for (size_t i = 0; i < f->nstages; i++)
		if (f->stages[i].ops == ops)
			return m->stage_data[i];
	return NULL;
}

const struct filter_header *
filter_header_get(const struct filter_msg *m, const char *name)
{
	for (size_t i = 0; i < m->nhdrs; i++)
		if (strcasecmp(m->hdrs[i].name, name) == 0)
			return &m->hdrs[i];
	return NULL;
}

void
filter_reply_set(struct filter_reply *r, int code, const char *ecode,
    const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	snprintf(r->ecode, sizeof(r->ecode), "%s", ecode);
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
	/* a reply line must not break the protocol */
	for (char *p = r->text; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

unsigned
filter_deadline_ms(const struct filter_msg *m)
{
	uint64_t now = clock_mono_us();

	if (m->deadline_us <= now + 1000)
		return 1;
	return (unsigned)((m->deadline_us - now) / 1000);
}

int64_t
filter_now(const struct filter_msg *m)
{
	const struct filter_env *env = &m->session->f->env;

	return env->now != NULL ? env->now(env->now_arg) :
	    (int64_t)time(NULL);
}

const char *
filter_action_name(enum filter_action a)
{
	static const char *const names[] = { "continue", "accept", "reject",
		"tempfail", "discard", "quarantine", "error" };

	return (unsigned)a < ARRAY_SIZE(names) ? names[a] : "?";
}

/* ---- the pipeline ---- */

/* milter_stage - the stage of "milter:NAME" from milter.servers */
static int
milter_stage(const struct config *cfg, const char *name, struct stage *st,
    struct buf *err)
{
	const struct strlist *l = &cfg->milter.servers;
	size_t nl = strlen(name + 7);
	struct milter_conf *mc;

	for (size_t i = 0; i < l->n; i++) {
		if (strncmp(l->v[i], name + 7, nl) != 0 || l->v[i][nl] != '=')
			continue;
		if (milter_conf_parse(l->v[i], cfg, &mc, err) < 0)
			return -1;
		st->ops = &filter_stage_milter;
		st->state = mc;
		st->name = milter_conf_name(mc);
		st->fail = milter_conf_fail(mc);
		return 0;
	}
	buf_addf(err, "filters.stages: %s: no such milter in milter.servers",
	    name);
	return -1;
}

int
filters_new(const struct filter_env *env,
    const struct filter_stage_ops *const *registry, size_t n,
    struct filters **f_r, struct buf *err)
{
	const struct config_filters *fc = &env->cfg->filters;
	struct filters *f = xcalloc(1, sizeof(*f));

	*f_r = NULL;
	f->env = *env;
	f->fc = fc;
	if (fc->stages.n > FILTER_STAGES_MAX) {
		buf_addf(err, "filters.stages: more than %d stages",
		    FILTER_STAGES_MAX);
		goto fail;
	}
	f->trusted = xcalloc(fc->trusted_networks.n + 1, sizeof(*f->trusted));
	for (size_t i = 0; i < fc->trusted_networks.n; i++) {
		const char *error;

		if (netaddr_cidr_parse(fc->trusted_networks.v[i],
		    &f->trusted[i], &error) < 0) {
			buf_addf(err, "filters.trusted_networks: %s: %s",
			    fc->trusted_networks.v[i], error);
			goto fail;
		}
		f->ntrusted++;
	}
	for (size_t i = 0; i < fc->stages.n; i++) {
		const char *name = fc->stages.v[i];
		const struct filter_stage_ops *ops = NULL;
		struct stage *st = &f->stages[f->nstages];

		for (size_t j = 0; j < f->nstages; j++)
			if (strcmp(f->stages[j].name, name) == 0) {
				buf_addf(err, "filters.stages: \"%s\" listed "
				    "twice", name);
				goto fail;
			}
		if (strncmp(name, "milter:", 7) == 0) {
			if (milter_stage(env->cfg, name, st, err) < 0)
				goto fail;
			f->nstages++;
			continue;
		}
		for (size_t j = 0; j < n && ops == NULL; j++)
			if (strcmp(registry[j]->name, name) == 0)
				ops = registry[j];
		if (ops == NULL) {
			buf_addf(err, "filters.stages: unknown stage \"%s\"",
			    name);
			goto fail;
		}
		if ((ops->needs_lookup && env->lookup == NULL) ||
		    (ops->needs_dns && env->dns == NULL)) {
			buf_addf(err, "%s: no %s", name, ops->needs_dns &&
			    env->dns == NULL ? "DNS resolver" : "lookup store");
			goto fail;
		}
		if (ops->init == NULL) {
			st->state = &f->env;	/* const: see filter.h */
		} else if (ops->init(&f->env, &st->state, err) < 0) {
			buf_addf(err, " (stage %s)", name);
			goto fail;
		}
		st->ops = ops;
		st->name = ops->name;
		st->fail = -1;
		f->nstages++;
	}
	/* per-stage failure actions (filters.fail_actions) */
	for (size_t i = 0; i < fc->fail_actions.n; i++) {
		const char *v = fc->fail_actions.v[i], *eq = strchr(v, '=');
		static const char *const acts[] = { "accept", "tempfail",
			"reject" };
		size_t j, k;

		if (eq == NULL)
			continue;		/* the config check refused it */
		for (j = 0; j < f->nstages; j++)
			if (strlen(f->stages[j].name) == (size_t)(eq - v) &&
			    strncmp(f->stages[j].name, v, (size_t)(eq - v)) ==
			    0)
				break;
		if (j == f->nstages) {
			buf_addf(err, "filters.fail_actions: %s: no such stage "
			    "in filters.stages", v);
			goto fail;
		}
		for (k = 0; k < ARRAY_SIZE(acts); k++)
			if (strcmp(eq + 1, acts[k]) == 0)
				f->stages[j].fail = (int)k;
	}
	*f_r = f;
	return 0;
fail:
	filters_free(&f);
	return -1;
}

void
filters_free(struct filters **fp)
{
	struct filters *f = *fp;

	if (f == NULL)
		return;
	for (size_t i = f->nstages; i-- > 0;)
		if (f->stages[i].ops->free != NULL)
			f->stages[i].ops->free(f->stages[i].state);
	free(f->trusted);
	free(f);
	*fp = NULL;
}

size_t
filters_stage_count(const struct filters *f)
{
	return f->nstages;
}

bool
filters_wants(const struct filters *f, enum filter_step step)
{
	for (size_t i = 0; i < f->nstages; i++) {
		const struct filter_stage_ops *ops = f->stages[i].ops;

		switch (step) {
		case FILTER_STEP_CONNECT:
			if (ops->connect != NULL)
				return true;
			break;
		case FILTER_STEP_HELO:
			if (ops->helo != NULL)
				return true;
			break;
		case FILTER_STEP_MAIL:
			if (ops->mail != NULL)
				return true;
			break;
		case FILTER_STEP_RCPT:
			if (ops->rcpt != NULL)
				return true;
			break;
		case FILTER_STEP_DATA:
			return true;
		}
	}
	return step == FILTER_STEP_DATA;
}

bool
filters_session_has_work(const struct filter_session *s)
{
	if (!s->conn.trusted)
		return true;	/* the data step at least: the header fields */
	for (size_t i = 0; i < s->f->nstages; i++)
		if (!s->f->stages[i].ops->inbound_only)
			return true;
	return false;
}

uint64_t
filters_max_scan(const struct filters *f)
{
	return f->fc->max_scan_size;
}

/* ---- sessions ---- */

static void
msg_init(struct filter_session *s)
{
	struct filter_msg *m = &s->m;

	memset(m, 0, sizeof(*m));
	m->conn = &s->conn;
	m->qid = "";
	m->session = s;
	buf_init(&m->ar, 0);
}

struct filter_session *
filters_session_new(struct filters *f, const struct sockaddr *peer,
    socklen_t peerlen, const char *listener)
{
	struct filter_session *s = xcalloc(1, sizeof(*s));
	struct filter_conn *c = &s->conn;

	s->f = f;
	if (peerlen > sizeof(c->addr.ss))
		peerlen = sizeof(c->addr.ss);
	memcpy(&c->addr.ss, peer, peerlen);
	c->addr.len = peerlen;
	netaddr_ip(peer, c->ip);
	c->listener = listener;
	c->loopback = netaddr_is_loopback(peer);
	c->trusted = c->loopback && f->fc->trust_loopback;
	for (size_t i = 0; i < f->ntrusted && !c->trusted; i++)
		c->trusted = netaddr_cidr_match(&f->trusted[i], peer);
	buf_init(&s->hdrtext, 0);
	buf_init(&s->newmsg, 0);
	buf_init(&s->prevmsg, 0);
	msg_init(s);
	return s;
}

void
filters_session_free(struct filter_session **sp)
{
	struct filter_session *s = *sp;

	if (s == NULL)
		return;
	filters_txn_end(s);
	for (size_t i = 0; i < s->f->nstages; i++) {
		const struct filter_stage_ops *ops = s->f->stages[i].ops;

		if (s->conn.stage_conn[i] != NULL && ops->conn_end != NULL)
			ops->conn_end(s->f->stages[i].state, &s->conn,
			    s->conn.stage_conn[i]);
	}
	buf_free(&s->m.ar);
	free(s->conn.helo);
	free(s->conn.ptr);
	free(s->conn.auth_user);
	buf_free(&s->hdrtext);
	free(s);
	*sp = NULL;
}

void
filters_session_can(struct filter_session *s, unsigned can)
{
	s->conn.can = can & FILTER_CAN_ALL;
}

void
filters_session_tls(struct filter_session *s, bool on)
{
	s->conn.tls = on;
}

void
filters_session_auth(struct filter_session *s, const char *user)
{
	free(s->conn.auth_user);
	s->conn.auth_user = user != NULL ? xstrdup(user) : NULL;
	if (user != NULL)
		s->conn.trusted = true;
}

struct filter_conn *
filters_session_conn(struct filter_session *s)
{
	return &s->conn;
}

struct filter_msg *
filters_msg(struct filter_session *s)
{
	return &s->m;
}

void **
filters_stage_data(const struct filter_msg *m,
    const struct filter_stage_ops *ops)
{
	const struct filters *f = m->session->f;

	for (size_t i = 0; i < f->nstages; i++)
		if (f->stages[i].ops == ops)	/* stage_data is m's own */
			return (void **)&m->stage_data[i];
	return NULL;
}

bool
filters_junk(const struct filter_session *s)
{
	return s->m.junk;
}

void
filters_txn_end(struct filter_session *s)
{
	struct filter_msg *m = &s->m;
	struct buf ar = m->ar;

	for (size_t i = 0; i < s->f->nstages; i++) {
		const struct filter_stage_ops *ops = s->f->stages[i].ops;

		if (m->stage_data[i] != NULL && ops->txn_end != NULL) {
			m->cur = i;
			ops->txn_end(s->f->stages[i].state, m,
			    m->stage_data[i]);
		}
	}
	free(m->sender);
	for (size_t i = 0; i < m->nrcpts; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	undo_edits(m, 0, 0);
	free(m->edits);
	free(m->envelope);
	free(m->hdrs);
	buf_reset(&s->hdrtext);
	buf_free(&s->newmsg);
	buf_free(&s->prevmsg);
	s->body_saved = false;
	s->rcpt_cap = 0;
	s->scanned = false;
	buf_reset(&ar);		/* keep the allocation */
	msg_init(s);
	buf_free(&m->ar);
	m->ar = ar;
}

/* ---- running the stages ---- */

/* the policy for a failed stage at this step */
static enum filter_action
failure(struct filter_session *s, size_t i, enum filter_step step,
    const char *why, struct filter_reply *r)
{
	const struct config_filters *fc = s->f->fc;
	const char *name = s->f->stages[i].name;
	enum filter_fail policy = s->f->stages[i].fail >= 0 ?
	    (enum filter_fail)s->f->stages[i].fail :
	    step == FILTER_STEP_DATA ? fc->fail_at_data :
	    fc->fail_before_data;
	char sym[FILTER_SYMBOL_NAME_MAX];
	size_t k;

	log_warn(FILTERS_SVC, "%s: stage %s failed (%s) from %s: %s",
	    s->m.qid[0] != '\0' ? s->m.qid : "NOQUEUE", name, why,
	    s->conn.ip, policy == FILTER_FAIL_ACCEPT ? "going on" :
	    policy == FILTER_FAIL_TEMPFAIL ? "tempfail" : "reject");
	switch (policy) {
	case FILTER_FAIL_ACCEPT:
		for (k = 0; name[k] != '\0' && k < sizeof(sym) - 7; k++)
			sym[k] = (char)(name[k] >= 'a' && name[k] <= 'z' ?
			    name[k] - 'a' + 'A' : name[k] == '-' ||
			    name[k] == ':' ? '_' : name[k]);
		/* not _FAIL: DKIM_FAIL and others are real results */
		memcpy(sym + k, "_ERROR", 7);
		filter_symbol(&s->m, sym, 0.0);
		return FILTER_CONTINUE;
	case FILTER_FAIL_TEMPFAIL:
		filter_reply_set(r, 451, "4.7.1", "Temporary filter failure; "
		    "try again later");
		return FILTER_TEMPFAIL;
	case FILTER_FAIL_REJECT:
		filter_reply_set(r, 550, "5.7.1", "Message refused by the "
		    "filter policy");
		return FILTER_REJECT;
	}
	return FILTER_CONTINUE;
}

/* milter - the header/eoh/body/eom sequence of one stage */
static enum filter_action
milter(const struct filter_stage_ops *ops, void *state, struct filter_msg *m,
    struct filter_reply *r)
{
	enum filter_action a = FILTER_CONTINUE;

	for (size_t i = 0; ops->header != NULL && i < m->nhdrs; i++)
		if ((a = ops->header(state, m, &m->hdrs[i], r)) !=
		    FILTER_CONTINUE)
			return a;
	if (ops->eoh != NULL && (a = ops->eoh(state, m, r)) != FILTER_CONTINUE)
		return a;
	for (size_t off = m->body_off; ops->body != NULL && off < m->len;) {
		size_t n = m->len - off;

		if (n > FILTER_BODY_CHUNK)
			n = FILTER_BODY_CHUNK;
		if ((a = ops->body(state, m, m->data + off, n, r)) !=
		    FILTER_CONTINUE)
			return a;
		off += n;
	}
	if (ops->eom != NULL)
		a = ops->eom(state, m, r);
	return a;
}

static enum filter_action
call(struct filter_session *s, size_t i, enum filter_step step,
    struct filter_reply *r)
{
	const struct filter_stage_ops *ops = s->f->stages[i].ops;
	void *st = s->f->stages[i].state;
	struct filter_msg *m = &s->m;

	switch (step) {
	case FILTER_STEP_CONNECT:
		return ops->connect != NULL ? ops->connect(st, m, r) :
		    FILTER_CONTINUE;
	case FILTER_STEP_HELO:
		return ops->helo != NULL ? ops->helo(st, m, r) :
		    FILTER_CONTINUE;
	case FILTER_STEP_MAIL:
		return ops->mail != NULL ? ops->mail(st, m, r) :
		    FILTER_CONTINUE;
	case FILTER_STEP_RCPT:
		return ops->rcpt != NULL ? ops->rcpt(st, m, r) :
		    FILTER_CONTINUE;
	case FILTER_STEP_DATA:
		if (ops->data != NULL)
			return ops->data(st, m, r);
		return milter(ops, st, m, r);
	}
	return FILTER_CONTINUE;
}

static void
log_refusal(const struct filter_session *s, size_t i, enum filter_step step,
    const char *what, const struct filter_reply *r)
{
	log_info(FILTERS_SVC, "%s: %s %s by %s from %s: %d %s %s",
	    s->m.qid[0] != '\0' ? s->m.qid : "NOQUEUE",
	    step == FILTER_STEP_DATA ? "message" :
	    step == FILTER_STEP_RCPT ? "recipient" : "client", what,
	    s->f->stages[i].name, s->conn.ip, r->code, r->ecode, r->text);
}

/* run - step through the stages; the first verdict that is not CONTINUE */
static enum filter_action
run(struct filter_session *s, enum filter_step step, struct filter_reply *r)
{
	struct filter_msg *m = &s->m;
	uint64_t budget = (uint64_t)s->f->fc->stage_timeout * 1000000;

	for (size_t i = 0; i < s->f->nstages && !m->accepted; i++) {
		const struct filter_stage_ops *ops = s->f->stages[i].ops;
		uint64_t t0, took;
		enum filter_action a;
		/* what a failing stage's changes are undone to */
		size_t nedits = m->nedits, nenv = m->nenvelope;
		const unsigned char *data = m->data;
		size_t len = m->len, body_off = m->body_off;
		bool replaced = m->body_replaced;

		if (ops->inbound_only && s->conn.trusted)
			continue;
		memset(r, 0, sizeof(*r));
		t0 = clock_mono_us();
		m->deadline_us = t0 + budget;
		m->cur = i;
		s->body_saved = false;
		a = call(s, i, step, r);
		took = clock_mono_us() - t0;
		if (a == FILTER_ERROR || took > budget) {
			undo_edits(m, nedits, nenv);
			if (s->body_saved) {
				buf_free(&s->newmsg);
				s->newmsg = s->prevmsg;
				buf_init(&s->prevmsg, 0);
				m->data = data;
				m->len = len;
				m->body_off = body_off;
				m->body_replaced = replaced;
			}
		} else if (s->body_saved) {
			buf_free(&s->prevmsg);
		}
		s->body_saved = false;
		if (a != FILTER_ERROR && took > budget) {
			char why[64];

			snprintf(why, sizeof(why), "took %llu ms",
			    (unsigned long long)(took / 1000));
			a = failure(s, i, step, why, r);
		} else if (a == FILTER_ERROR) {
			a = failure(s, i, step, "error", r);
		}
		switch (a) {
		case FILTER_CONTINUE:
		case FILTER_ERROR:	/* not returned by failure() */
			continue;
		case FILTER_ACCEPT:
			m->accepted = true;
			return FILTER_ACCEPT;
		case FILTER_REJECT:
			if (r->code < 500 || r->code > 599)
				filter_reply_set(r, 550, "5.7.1",
				    "Message refused by policy");
			log_refusal(s, i, step, "refused", r);
			return a;
		case FILTER_TEMPFAIL:
			if (r->code < 400 || r->code > 499)
				filter_reply_set(r, 451, "4.7.1",
				    "Try again later");
			log_refusal(s, i, step, "deferred", r);
			return a;
		case FILTER_DISCARD:
			m->discard = true;
			m->accepted = true;
			log_info(FILTERS_SVC, "%s: discarded by %s",
			    m->qid[0] != '\0' ? m->qid : "NOQUEUE",
			    s->f->stages[i].name);
			return FILTER_ACCEPT;
		case FILTER_QUARANTINE:
			m->junk = true;
			continue;
		}
	}
	return m->accepted ? FILTER_ACCEPT : FILTER_CONTINUE;
}

enum filter_action
filters_connect(struct filter_session *s, struct filter_reply *r)
{
	return run(s, FILTER_STEP_CONNECT, r);
}

enum filter_action
filters_helo(struct filter_session *s, const char *helo,
    struct filter_reply *r)
{
	free(s->conn.helo);
	s->conn.helo = xstrdup(helo);
	return run(s, FILTER_STEP_HELO, r);
}

enum filter_action
filters_mail(struct filter_session *s, const char *qid, const char *sender,
    struct filter_reply *r)
{
	struct filter_msg *m = &s->m;

	free(m->sender);
	m->sender = xstrdup(sender);
	m->qid = qid != NULL ? qid : "";
	return run(s, FILTER_STEP_MAIL, r);
}

enum filter_action
filters_rcpt(struct filter_session *s, const char *rcpt,
    struct filter_reply *r)
{
	struct filter_msg *m = &s->m;
	enum filter_action a;

	if (m->nrcpts == s->rcpt_cap) {
		s->rcpt_cap = s->rcpt_cap == 0 ? 8 : s->rcpt_cap * 2;
		m->rcpts = xreallocarray(m->rcpts, s->rcpt_cap,
		    sizeof(*m->rcpts));
	}
	m->rcpts[m->nrcpts++] = xstrdup(rcpt);
	a = run(s, FILTER_STEP_RCPT, r);
	if (a == FILTER_REJECT || a == FILTER_TEMPFAIL)
		free(m->rcpts[--m->nrcpts]);
	return a;
}

/* field_end - the end of the header field starting at p (after its CRLF
 * and continuation lines), or NULL when the header ends before it */
static const unsigned char *
field_end(const unsigned char *p, const unsigned char *end)
{
	while (p < end) {
		const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));

		if (nl == NULL)
			return end;
		p = nl + 1;
		if (p >= end || (*p != ' ' && *p != '\t'))
			return p;
	}
	return end;
}

/* parse_header - m->hdrs and m->body_off from m->data */
static void
parse_header(struct filter_session *s)
{
	struct filter_msg *m = &s->m;
	const unsigned char *p = m->data, *end = m->data + m->len;
	size_t cap = 0;
	struct { size_t name, value; } *offs = NULL;

	buf_reset(&s->hdrtext);
	s->blank_line = false;
	/*
	 * The header ends at the blank line, as the store and the delivery
	 * agent read it: a line without a colon, or fields past the
	 * FILTER_HEADERS_MAX the stages get, do not end it early (else a
	 * forged field after them would escape filters_apply).
	 */
	while (p < end) {
		const unsigned char *colon, *fe, *ve;

		if (*p == '\r' || *p == '\n') {		/* the blank line */
			s->blank_line = true;
			p += (*p == '\r' && p + 1 < end && p[1] == '\n') ? 2 :
			    1;
			break;
		}
		fe = field_end(p, end);
		colon = memchr(p, ':', (size_t)(fe - p));
		if (colon == NULL || m->nhdrs >= FILTER_HEADERS_MAX) {
			p = fe;		/* not given to the stages */
			continue;
		}
		ve = fe;
		if (ve > colon + 1 && ve[-1] == '\n')
			ve--;
		if (ve > colon + 1 && ve[-1] == '\r')
			ve--;
		if (m->nhdrs == cap) {
			cap = cap == 0 ? 32 : cap * 2;
			offs = xreallocarray(offs, cap, sizeof(*offs));
		}
		offs[m->nhdrs].name = s->hdrtext.len;
		buf_add(&s->hdrtext, p, (size_t)(colon - p));
		buf_add(&s->hdrtext, "", 1);
		offs[m->nhdrs].value = s->hdrtext.len;
		buf_add(&s->hdrtext, colon + 1, (size_t)(ve - colon - 1));
		buf_add(&s->hdrtext, "", 1);
		m->nhdrs++;
		p = fe;
	}
	m->body_off = (size_t)(p - m->data);
	s->hdr_end = m->body_off;
	/* pointers only now: the buffer has stopped moving */
	m->hdrs = xcalloc(m->nhdrs + 1, sizeof(*m->hdrs));
	for (size_t i = 0; i < m->nhdrs; i++) {
		m->hdrs[i].name = (const char *)s->hdrtext.data + offs[i].name;
		m->hdrs[i].value = (const char *)s->hdrtext.data +
		    offs[i].value;
	}
	free(offs);
}

static void
log_result(struct filter_session *s, enum filter_action a)
{
	struct filter_msg *m = &s->m;
	struct buf syms = BUF_INIT(0);

	for (size_t i = 0; i < m->nsyms; i++)
		buf_addf(&syms, "%s%s=%.1f", i == 0 ? "" : ",",
		    m->syms[i].name, m->syms[i].score);
	log_info(FILTERS_SVC, "%s: from=<%s>, client=%s, score=%.2f, "
	    "action=%s%s, symbols=%s", m->qid[0] != '\0' ? m->qid : "NOQUEUE",
	    m->sender != NULL ? m->sender : "", s->conn.ip, m->score,
	    m->discard ? "discard" : filter_action_name(a),
	    m->junk ? " (junk)" : "", syms.len > 0 ? buf_cstr(&syms) : "-");
	buf_free(&syms);
}

enum filter_action
filters_data(struct filter_session *s, const unsigned char *msg, size_t len,
    bool truncated, struct filter_reply *r)
{
	struct filter_msg *m = &s->m;
	const struct config_filters *fc = s->f->fc;
	enum filter_action a;
	uint64_t budget = (uint64_t)fc->stage_timeout * 1000000;

	m->data = msg;
	m->len = len;
	m->truncated = truncated;
	parse_header(s);
	s->scanned = true;
	if (truncated) {
		/* the stages would judge half a message: only the header */
		m->len = m->body_off;
		filter_symbol(m, "TOO_LARGE_TO_SCAN", 0.0);
	}
	a = run(s, FILTER_STEP_DATA, r);
	if (a == FILTER_REJECT || a == FILTER_TEMPFAIL)
		goto out;
	if (!m->accepted && m->score >= fc->reject_score) {
		filter_reply_set(r, 550, "5.7.1", "Message refused as spam "
		    "(score %.1f)", m->score);
		a = FILTER_REJECT;
		goto out;
	}
	for (size_t i = 0; i < s->f->nstages && !m->accepted; i++) {
		const struct filter_stage_ops *ops = s->f->stages[i].ops;

		if (ops->scored == NULL || (ops->inbound_only &&
		    s->conn.trusted))
			continue;
		memset(r, 0, sizeof(*r));
		m->deadline_us = clock_mono_us() + budget;
		m->cur = i;
		a = ops->scored(s->f->stages[i].state, m, r);
		if (a == FILTER_ERROR)
			a = failure(s, i, FILTER_STEP_DATA, "error", r);
		if (a == FILTER_REJECT || a == FILTER_TEMPFAIL) {
			if (r->code == 0)
				filter_reply_set(r, a == FILTER_REJECT ? 550 :
				    451, a == FILTER_REJECT ? "5.7.1" : "4.7.1",
				    "Try again later");
			goto out;
		}
	}
	if (!m->accepted && m->score >= fc->junk_score)
		m->junk = true;
	a = m->discard ? FILTER_DISCARD : m->junk ? FILTER_QUARANTINE :
	    FILTER_CONTINUE;
out:
	m->spam = a == FILTER_REJECT ? m->score >= fc->reject_score :
	    m->score >= fc->junk_score;
	log_result(s, a);
	for (size_t i = 0; i < s->f->nstages; i++) {
		const struct filter_stage_ops *ops = s->f->stages[i].ops;

		if (ops->verdict != NULL && !(ops->inbound_only &&
		    s->conn.trusted)) {
			m->cur = i;
			ops->verdict(s->f->stages[i].state, m, a);
		}
	}
	return a;
}

/* ---- the header fields ---- */

/* fold - name: value with continuation lines at about FOLD_AT columns,
 * breaking only at the spaces given as break points in value */
static void
add_field(struct buf *out, const char *name, const char *value)
{
	size_t col = strlen(name) + 2;
	const char *p = value;

	buf_addf(out, "%s:", name);
	while (*p != '\0') {
		const char *sp = strchr(p + 1, ' ');
		size_t n = sp != NULL ? (size_t)(sp - p) : strlen(p);

		if (col + n > FOLD_AT && col > strlen(name) + 2 && *p == ' ') {
			buf_add_str(out, "\r\n\t");
			p++;
			n--;
			col = 8;
		}
		buf_add(out, p, n);
		col += n;
		p += n;
	}
	buf_add_str(out, "\r\n");
}

void
filters_headers(struct filter_session *s, struct buf *out)
{
	struct filter_msg *m = &s->m;
	const struct config_filters *fc = s->f->fc;
	const char *host = s->f->env.cfg->server.hostname;
	struct buf v = BUF_INIT(0);
	bool spam = m->score >= fc->add_header_score;

	for (size_t i = 0; i < m->nedits; i++)
		if (m->edits[i].kind == FILTER_EDIT_ADD &&
		    m->edits[i].value != NULL)
			buf_addf(out, "%s:%s%s\r\n", m->edits[i].name,
			    m->edits[i].value[0] == ' ' ? "" : " ",
			    m->edits[i].value);
	buf_addf(out, "Authentication-Results: %s;", host);
	if (m->ar.len > 0)
		buf_addf(out, "\r\n\t%s\r\n", buf_cstr(&m->ar));
	else
		buf_add_str(out, " none\r\n");
	buf_addf(&v, " %s, score=%.1f required=%.1f tests=", spam ? "Yes" :
	    "No", m->score, fc->add_header_score);
	if (m->nsyms == 0)
		buf_add_str(&v, "none");
	for (size_t i = 0; i < m->nsyms; i++)
		buf_addf(&v, "%s%s=%.1f", i == 0 ? "" : ", ", m->syms[i].name,
		    m->syms[i].score);
	add_field(out, "X-Spam-Status", buf_cstr(&v));
	if (spam)
		buf_add_str(out, "X-Spam-Flag: YES\r\n");
	if (m->junk)
		buf_add_str(out, FILTERS_JUNK_FIELD ": junk\r\n");
	buf_free(&v);
}

/* ours - a field a client sent that would pass for one of ours */
static bool
ours(const struct filter_session *s, const unsigned char *p, size_t n);

bool
filters_is_ours(const struct filter_session *s, const char *name,
    const char *value)
{
	struct buf f = BUF_INIT(0);
	bool r;

	buf_addf(&f, "%s:%s", name, value);
	r = ours(s, f.data, f.len);
	buf_free(&f);
	return r;
}

/* name_is - the field's name (up to ':', trailing blanks ignored) */
static bool
name_is(const unsigned char *p, size_t n, const char *name)
{
	const unsigned char *colon = memchr(p, ':', n);
	size_t len;

	if (colon == NULL)
		return false;
	len = (size_t)(colon - p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	return len == strlen(name) && strncasecmp((const char *)p, name,
	    len) == 0;
}

/* skip_cfws - past white space, line breaks and (nested) comments */
static size_t
skip_cfws(const unsigned char *p, size_t n, size_t i)
{
	unsigned depth = 0;

	for (; i < n; i++) {
		if (depth > 0 && p[i] == '\\' && i + 1 < n)
			i++;
		else if (p[i] == '(')
			depth++;
		else if (p[i] == ')' && depth > 0)
			depth--;
		else if (depth == 0 && p[i] != ' ' && p[i] != '\t' &&
		    p[i] != '\r' && p[i] != '\n')
			break;
	}
	return i;
}

static bool
ours(const struct filter_session *s, const unsigned char *p, size_t n)
{
	const char *host = s->f->env.cfg->server.hostname;
	size_t hl = strlen(host), i;
	bool quoted;

	if (name_is(p, n, "x-spam-status") || name_is(p, n, "x-spam-flag") ||
	    name_is(p, n, FILTERS_JUNK_FIELD))
		return true;
	if (!name_is(p, n, "authentication-results"))
		return false;
	/* the authserv-id (RFC 8601 2.2: a value, maybe quoted, after CFWS) */
	i = skip_cfws(p, n, (size_t)((const unsigned char *)memchr(p, ':', n) -
	    p) + 1);
	quoted = i < n && p[i] == '"';
	i += quoted;
	if (n - i < hl || strncasecmp((const char *)p + i, host, hl) != 0)
		return false;
	i += hl;
	if (quoted)
		return i < n && p[i] == '"';
	return i >= n || p[i] == ';' || p[i] == ' ' || p[i] == '\t' ||
	    p[i] == '\r' || p[i] == '\n' || p[i] == '(';
}

/*
 * count_field - one more field called p[0..namelen) (an occurrence,
 * counted from the top of the header, in seen[i] for each CHANGE edit
 * i of that name); the edit for this occurrence, the last one wins.
 * Linear in the fields times the edits (at most FILTER_EDITS_MAX).
 */
static const struct filter_edit *
count_field(const struct filter_msg *m, unsigned *seen,
    const unsigned char *p, size_t namelen)
{
	const struct filter_edit *e = NULL;

	for (size_t i = 0; i < m->nedits; i++) {
		const struct filter_edit *x = &m->edits[i];

		if (x->kind != FILTER_EDIT_CHANGE || strlen(x->name) !=
		    namelen || strncasecmp(x->name, (const char *)p,
		    namelen) != 0)
			continue;
		if (++seen[i] == x->index)
			e = x;
	}
	return e;
}

void
filters_apply(struct filter_session *s, const unsigned char *msg, size_t len,
    size_t at, struct buf *out)
{
	struct filter_msg *m = &s->m;
	const unsigned char *p = msg, *end = msg + len;
	size_t hdr_end = s->scanned ? s->hdr_end : 0;
	unsigned *seen;

	ASSERT(at <= len);
	/* continuation lines after our Received belong to it, not to ours */
	while (at < hdr_end && (msg[at] == ' ' || msg[at] == '\t'))
		at = (size_t)(field_end(msg + at, end) - msg);
	/* the edits count occurrences from the top: the fields before at */
	seen = m->nedits > 0 ? xcalloc(m->nedits, sizeof(*seen)) : NULL;
	for (const unsigned char *q = msg; seen != NULL && q < msg + at;) {
		const unsigned char *qe = field_end(q, msg + at);
		const unsigned char *c = memchr(q, ':', (size_t)(qe - q));

		if (c != NULL)
			(void)count_field(m, seen, q, (size_t)(c - q));
		q = qe;
	}
	buf_add(out, msg, at);
	filters_headers(s, out);
	p = msg + at;
	/* the client's fields: ours removed, the stages' changes applied */
	while (p < msg + hdr_end && p < end && *p != '\r' && *p != '\n') {
		const unsigned char *fe = field_end(p, end);
		const unsigned char *colon = memchr(p, ':', (size_t)(fe - p));
		size_t namelen = colon != NULL ? (size_t)(colon - p) : 0;
		const struct filter_edit *e = NULL;

		if (colon == NULL) {		/* not a field: kept as it is */
			buf_add(out, p, (size_t)(fe - p));
			p = fe;
			continue;
		}
		if (m->nedits > 0)
			e = count_field(m, seen, p, namelen);
		if (ours(s, p, (size_t)(fe - p))) {	/* edits or not */
			p = fe;
			continue;
		}
		if (e != NULL) {
			if (e->value != NULL)
				buf_addf(out, "%.*s:%s%s\r\n", (int)namelen,
				    (const char *)p, e->value[0] == ' ' ? "" :
				    " ", e->value);
		} else {
			buf_add(out, p, (size_t)(fe - p));
		}
		p = fe;
	}
	if (m->body_replaced && s->scanned) {
		/* the rest of the header, then the separator and new body */
		if (p < msg + hdr_end)
			buf_add(out, p, (size_t)(msg + hdr_end - p));
		buf_add(out, m->data + s->hdr_end, m->len - s->hdr_end);
	} else {
		buf_add(out, p, (size_t)(end - p));
	}
	free(seen);
}
