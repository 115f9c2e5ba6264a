/*
 * imap_unparse.c - imap_cmd_write(): a parsed command back to the text a
 * client would send.  Canonical: keywords upper case, one form per value
 * (numbers without leading zeros, dates with two-digit days, "+0000" for
 * UTC, macros expanded), strings through imap_write_astring() and
 * friends (atom, quoted or "{n}" literal).  Every field of the AST is
 * written, so parse(write(cmd)) writes the same text: the round trip the
 * unit tests and the fuzz target hold the parser to.
 */
#include <inttypes.h>
#include <string.h>

#include "common/buf.h"
#include "imap-jmap/imap_parse_priv.h"

static void
str(struct buf *out, const struct imap_str *s)
{
	imap_write_string(out, s->p, s->len, true);
}

static void
astr(struct buf *out, const struct imap_str *s)
{
	imap_write_astring(out, s->p, s->len, true);
}

static void
raw(struct buf *out, const struct imap_str *s)
{
	buf_add(out, s->p, s->len);
}

static void
mailbox(struct buf *out, const struct imap_mailbox *m)
{
	astr(out, &m->raw);
}

static void
date(struct buf *out, const struct imap_date *d)
{
	buf_addf(out, "%02u-%s-%04u", d->day, imap_month_name[d->month - 1],
	    d->year);
}

static void
datetime(struct buf *out, const struct imap_datetime *dt)
{
	int z = dt->zone < 0 ? -dt->zone : dt->zone;

	buf_add(out, "\"", 1);
	date(out, &dt->date);
	buf_addf(out, " %02u:%02u:%02u %c%02d%02d\"", dt->hour, dt->min,
	    dt->sec, dt->zone < 0 ? '-' : '+', z / 60, z % 60);
}

static void
partial_range(struct buf *out, const struct imap_partial *p)
{
	const char *m = p->from_end ? "-" : "";

	buf_addf(out, "%s%" PRIu32 ":%s%" PRIu32, m, p->lo, m, p->hi);
}

static void
flags(struct buf *out, const struct imap_flags *f, bool paren)
{
	bool first = true;

	if (paren)
		buf_add(out, "(", 1);
	for (unsigned bit = 1; bit <= IMAP_FLAG_DRAFT; bit <<= 1) {
		if (!(f->sys & bit))
			continue;
		buf_addf(out, "%s%s", first ? "" : " ", imap_flag_name(bit));
		first = false;
	}
	for (size_t i = 0; i < f->nkw; i++) {
		buf_add(out, first ? "" : " ", first ? 0 : 1);
		raw(out, &f->kw[i]);
		first = false;
	}
	if (paren)
		buf_add(out, ")", 1);
}

static void
status_atts(struct buf *out, unsigned items)
{
	bool first = true;

	buf_add(out, "(", 1);
	for (unsigned bit = 1; bit <= IMAP_STATUS_DELETED_STORAGE; bit <<= 1)
		if (items & bit) {
			buf_addf(out, "%s%s", first ? "" : " ",
			    imap_status_att_name(bit));
			first = false;
		}
	buf_add(out, ")", 1);
}

static void
section(struct buf *out, const struct imap_section *sec)
{
	buf_add(out, "[", 1);
	raw(out, &sec->spec);
	if (sec->nfield > 0) {
		buf_add(out, " (", 2);
		for (size_t i = 0; i < sec->nfield; i++) {
			if (i > 0)
				buf_add(out, " ", 1);
			astr(out, &sec->field[i]);
		}
		buf_add(out, ")", 1);
	}
	buf_add(out, "]", 1);
}

static void
fetch_att(struct buf *out, const struct imap_fetch_att *a)
{
	buf_add_str(out, imap_fetch_name(a));
	switch (a->kind) {
	case IMAP_FETCH_BODY_SECTION:
	case IMAP_FETCH_BINARY:
	case IMAP_FETCH_BINARY_SIZE:
		section(out, &a->section);
		break;
	case IMAP_FETCH_PREVIEW:
		if (a->lazy)
			buf_add_str(out, " (LAZY)");
		break;
	default:
		break;
	}
	if (a->has_partial)
		buf_addf(out, "<%" PRIu64 ".%" PRIu64 ">", a->partial_off,
		    a->partial_len);
}

static void
fetch_atts(struct buf *out, const struct imap_fetch_att *a, size_t n,
    bool paren)
{
	if (paren || n != 1)
		buf_add(out, "(", 1);
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_add(out, " ", 1);
		fetch_att(out, &a[i]);
	}
	if (paren || n != 1)
		buf_add(out, ")", 1);
}

static void
skey(struct buf *out, const struct imap_skey *k, bool top)
{
	const char *name = imap_skey_name(k->kind);

	switch (k->kind) {
	case IMAP_SK_AND:
		if (!top)
			buf_add(out, "(", 1);
		for (const struct imap_skey *c = k->kids; c; c = c->next) {
			if (c != k->kids)
				buf_add(out, " ", 1);
			skey(out, c, false);
		}
		if (!top)
			buf_add(out, ")", 1);
		return;
	case IMAP_SK_OR:
	case IMAP_SK_NOT:
		buf_add_str(out, name);
		for (const struct imap_skey *c = k->kids; c; c = c->next) {
			buf_add(out, " ", 1);
			skey(out, c, false);
		}
		return;
	case IMAP_SK_SEQSET:
		imap_write_seqset(out, &k->set);
		return;
	default:
		break;
	}
	buf_add_str(out, name);
	switch (k->kind) {
	case IMAP_SK_BCC: case IMAP_SK_BODY: case IMAP_SK_CC:
	case IMAP_SK_FROM: case IMAP_SK_SUBJECT: case IMAP_SK_TEXT:
	case IMAP_SK_TO:
		buf_add(out, " ", 1);
		astr(out, &k->str);
		break;
	case IMAP_SK_KEYWORD: case IMAP_SK_UNKEYWORD:
	case IMAP_SK_EMAILID: case IMAP_SK_THREADID:
		buf_add(out, " ", 1);
		raw(out, &k->str);
		break;
	case IMAP_SK_HEADER:
		buf_add(out, " ", 1);
		astr(out, &k->str);
		buf_add(out, " ", 1);
		astr(out, &k->str2);
		break;
	case IMAP_SK_BEFORE: case IMAP_SK_ON: case IMAP_SK_SINCE:
	case IMAP_SK_SENTBEFORE: case IMAP_SK_SENTON: case IMAP_SK_SENTSINCE:
	case IMAP_SK_SAVEDBEFORE: case IMAP_SK_SAVEDON:
	case IMAP_SK_SAVEDSINCE:
		buf_add(out, " ", 1);
		date(out, &k->date);
		break;
	case IMAP_SK_LARGER: case IMAP_SK_SMALLER: case IMAP_SK_OLDER:
	case IMAP_SK_YOUNGER:
		buf_addf(out, " %" PRIu64, k->num);
		break;
	case IMAP_SK_MODSEQ:
		if (k->has_entry) {
			struct buf e;

			buf_init(&e, 0);
			buf_add_str(&e, "/flags/");
			buf_add(&e, k->str.p, k->str.len);
			buf_add(out, " ", 1);
			imap_write_string(out, (const char *)e.data, e.len,
			    true);
			buf_addf(out, " %s", imap_entry_type_name(
			    k->entry_type));
			buf_free(&e);
		}
		buf_addf(out, " %" PRIu64, k->num);
		break;
	case IMAP_SK_UID:
		buf_add(out, " ", 1);
		imap_write_seqset(out, &k->set);
		break;
	default:
		break;
	}
}

static void
search_ret(struct buf *out, const struct imap_search_ret *r)
{
	static const char *const names[] = {
		"MIN", "MAX", "ALL", "COUNT", "SAVE", "PARTIAL",
	};
	bool first = true;

	buf_add_str(out, "RETURN (");
	for (unsigned i = 0; i < ARRAY_SIZE(names); i++) {
		if (!(r->opts & (1u << i)))
			continue;
		buf_addf(out, "%s%s", first ? "" : " ", names[i]);
		if ((1u << i) == IMAP_SRET_PARTIAL) {
			buf_add(out, " ", 1);
			partial_range(out, &r->partial);
		}
		first = false;
	}
	buf_add(out, ")", 1);
}

static void
search(struct buf *out, const struct imap_cmd *cmd)
{
	const struct imap_search *s = &cmd->u.search;
	const char *sp = "";

	if (cmd->kind == IMAP_CMD_THREAD) {
		raw(out, &s->alg_name);
		sp = " ";
	} else if (s->ret.present) {
		search_ret(out, &s->ret);
		sp = " ";
	}
	if (cmd->kind == IMAP_CMD_SORT) {
		buf_addf(out, "%s(", sp);
		for (size_t i = 0; i < s->ncrit; i++)
			buf_addf(out, "%s%s%s", i > 0 ? " " : "",
			    s->crit[i].reverse ? "REVERSE " : "",
			    imap_sort_key_name(s->crit[i].key));
		buf_add(out, ")", 1);
		sp = " ";
	}
	if (s->has_charset) {
		buf_addf(out, "%s%s", sp,
		    cmd->kind == IMAP_CMD_SEARCH ? "CHARSET " : "");
		astr(out, &s->charset);
		sp = " ";
	}
	buf_add_str(out, sp);
	skey(out, s->key, true);
}

static void
select_args(struct buf *out, const struct imap_select *s)
{
	mailbox(out, &s->mbox);
	if (!s->has_params)
		return;
	buf_add(out, " (", 2);
	if (s->condstore)
		buf_add_str(out, s->qresync ? "CONDSTORE " : "CONDSTORE");
	if (s->qresync) {
		buf_addf(out, "QRESYNC (%" PRIu32 " %" PRIu64, s->uidvalidity,
		    s->modseq);
		if (s->has_known_uids) {
			buf_add(out, " ", 1);
			imap_write_seqset(out, &s->known_uids);
		}
		if (s->has_seq_match) {
			buf_add(out, " (", 2);
			imap_write_seqset(out, &s->match_seq);
			buf_add(out, " ", 1);
			imap_write_seqset(out, &s->match_uid);
			buf_add(out, ")", 1);
		}
		buf_add(out, ")", 1);
	}
	buf_add(out, ")", 1);
}

static void
list_args(struct buf *out, const struct imap_cmd *cmd)
{
	static const char *const sel[] = {
		"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE",
	};
	static const char *const ret[] = {
		"SUBSCRIBED", "CHILDREN", "SPECIAL-USE", "STATUS",
	};
	const struct imap_list *l = &cmd->u.list;
	bool first = true;

	if (l->has_sel) {
		buf_add(out, "(", 1);
		for (unsigned i = 0; i < ARRAY_SIZE(sel); i++)
			if (l->sel & (1u << i)) {
				buf_addf(out, "%s%s", first ? "" : " ",
				    sel[i]);
				first = false;
			}
		buf_add(out, ") ", 2);
	}
	mailbox(out, &l->ref);
	buf_add_str(out, l->pat_list ? " (" : " ");
	for (size_t i = 0; i < l->npat; i++) {
		if (i > 0)
			buf_add(out, " ", 1);
		mailbox(out, &l->pat[i]);
	}
	if (l->pat_list)
		buf_add(out, ")", 1);
	if (!l->has_ret)
		return;
	buf_add_str(out, " RETURN (");
	first = true;
	for (unsigned i = 0; i < ARRAY_SIZE(ret); i++) {
		if (!(l->ret & (1u << i)))
			continue;
		buf_addf(out, "%s%s", first ? "" : " ", ret[i]);
		if ((1u << i) == IMAP_LRET_STATUS) {
			buf_add(out, " ", 1);
			status_atts(out, l->status);
		}
		first = false;
	}
	buf_add(out, ")", 1);
}

static void
append_args(struct buf *out, const struct imap_append *a)
{
	mailbox(out, &a->mbox);
	for (size_t i = 0; i < a->nmsg; i++) {
		const struct imap_append_msg *m = &a->msg[i];

		if (m->has_flags) {
			buf_add(out, " ", 1);
			flags(out, &m->flags, true);
		}
		if (m->has_date) {
			buf_add(out, " ", 1);
			datetime(out, &m->date);
		}
		buf_add_str(out, m->utf8 ? " UTF8 (" : " ");
		imap_write_literal(out, m->data.p, m->data.len, m->binary);
		if (m->utf8)
			buf_add(out, ")", 1);
	}
}

static void
notify_args(struct buf *out, const struct imap_notify *n)
{
	if (n->none) {
		buf_add_str(out, "NONE");
		return;
	}
	buf_add_str(out, n->status ? "SET STATUS" : "SET");
	for (size_t i = 0; i < n->ngroup; i++) {
		const struct imap_notify_group *g = &n->group[i];
		bool first = true;

		buf_addf(out, " (%s", imap_notify_filter_name(g->filter));
		if (g->filter == IMAP_NOTIFY_SUBTREE ||
		    g->filter == IMAP_NOTIFY_MAILBOXES) {
			buf_add_str(out, g->mbox_list ? " (" : " ");
			for (size_t j = 0; j < g->nmbox; j++) {
				if (j > 0)
					buf_add(out, " ", 1);
				mailbox(out, &g->mbox[j]);
			}
			if (g->mbox_list)
				buf_add(out, ")", 1);
		}
		if (g->none) {
			buf_add_str(out, " NONE)");
			continue;
		}
		buf_add_str(out, " (");
		for (unsigned bit = 1; bit <= IMAP_NEV_QUOTA_CHANGE;
		    bit <<= 1) {
			if (!(g->events & bit))
				continue;
			buf_addf(out, "%s%s", first ? "" : " ",
			    imap_notify_event_name(bit));
			first = false;
			if (bit == IMAP_NEV_MESSAGE_NEW && g->nfetch > 0) {
				buf_add(out, " ", 1);
				fetch_atts(out, g->fetch, g->nfetch, true);
			}
		}
		for (size_t j = 0; j < g->unknown.n; j++) {
			buf_add_str(out, first ? "" : " ");
			raw(out, &g->unknown.v[j]);
			first = false;
		}
		buf_add_str(out, "))");
	}
}

static void
metadata_args(struct buf *out, const struct imap_cmd *cmd)
{
	static const char *const depth[] = { "0", "1", "infinity" };
	const struct imap_metadata *m = &cmd->u.meta;
	bool set = cmd->kind == IMAP_CMD_SETMETADATA;

	if (m->has_maxsize || m->has_depth) {
		buf_add(out, "(", 1);
		if (m->has_maxsize)
			buf_addf(out, "MAXSIZE %" PRIu32, m->maxsize);
		if (m->has_depth)
			buf_addf(out, "%sDEPTH %s", m->has_maxsize ? " " : "",
			    depth[m->depth]);
		buf_add(out, ") ", 2);
	}
	mailbox(out, &m->mbox);
	buf_add_str(out, set || m->entry_list ? " (" : " ");
	for (size_t i = 0; i < m->nentry; i++) {
		const struct imap_meta_entry *e = &m->entry[i];

		if (i > 0)
			buf_add(out, " ", 1);
		astr(out, &e->name);
		if (!set)
			continue;
		buf_add(out, " ", 1);
		if (e->binary)
			imap_write_literal(out, e->value.p, e->value.len, true);
		else
			imap_write_nstring(out, e->value.p, e->value.len, true);
	}
	if (set || m->entry_list)
		buf_add(out, ")", 1);
}

static void
args(struct buf *out, const struct imap_cmd *cmd)
{
	const struct imap_fetch *f = &cmd->u.fetch;
	const struct imap_store *st = &cmd->u.store;

	switch (cmd->kind) {
	case IMAP_CMD_AUTHENTICATE:
		raw(out, &cmd->u.auth.mech);
		if (cmd->u.auth.has_ir) {
			buf_add(out, " ", 1);
			if (cmd->u.auth.ir.len == 0)
				buf_add(out, "=", 1);
			raw(out, &cmd->u.auth.ir);
		}
		break;
	case IMAP_CMD_LOGIN:
		astr(out, &cmd->u.login.user);
		buf_add(out, " ", 1);
		astr(out, &cmd->u.login.pass);
		break;
	case IMAP_CMD_ENABLE:
		for (size_t i = 0; i < cmd->u.enable.n; i++) {
			if (i > 0)
				buf_add(out, " ", 1);
			raw(out, &cmd->u.enable.v[i]);
		}
		break;
	case IMAP_CMD_ID:
		if (cmd->u.id.nil) {
			buf_add_str(out, "NIL");
			break;
		}
		buf_add(out, "(", 1);
		for (size_t i = 0; i < cmd->u.id.n; i++) {
			if (i > 0)
				buf_add(out, " ", 1);
			str(out, &cmd->u.id.key[i]);
			buf_add(out, " ", 1);
			imap_write_nstring(out, cmd->u.id.val[i].p,
			    cmd->u.id.val[i].len, true);
		}
		buf_add(out, ")", 1);
		break;
	case IMAP_CMD_SELECT:
	case IMAP_CMD_EXAMINE:
		select_args(out, &cmd->u.select);
		break;
	case IMAP_CMD_CREATE:
		mailbox(out, &cmd->u.create.mbox);
		if (cmd->u.create.has_use) {
			bool first = true;

			buf_add_str(out, " (USE (");
			for (unsigned bit = 1; bit <= IMAP_USE_IMPORTANT;
			    bit <<= 1)
				if (cmd->u.create.use & bit) {
					buf_addf(out, "%s%s", first ? "" : " ",
					    imap_use_name(bit));
					first = false;
				}
			buf_add(out, "))", 2);
		}
		break;
	case IMAP_CMD_DELETE:
	case IMAP_CMD_SUBSCRIBE:
	case IMAP_CMD_UNSUBSCRIBE:
		mailbox(out, &cmd->u.mbox);
		break;
	case IMAP_CMD_RENAME:
		mailbox(out, &cmd->u.rename.from);
		buf_add(out, " ", 1);
		mailbox(out, &cmd->u.rename.to);
		break;
	case IMAP_CMD_LIST:
		list_args(out, cmd);
		break;
	case IMAP_CMD_LSUB:
		mailbox(out, &cmd->u.list.ref);
		buf_add(out, " ", 1);
		mailbox(out, &cmd->u.list.pat[0]);
		break;
	case IMAP_CMD_STATUS:
		mailbox(out, &cmd->u.status.mbox);
		buf_add(out, " ", 1);
		status_atts(out, cmd->u.status.items);
		break;
	case IMAP_CMD_APPEND:
		append_args(out, &cmd->u.append);
		break;
	case IMAP_CMD_EXPUNGE:
		imap_write_seqset(out, &cmd->u.copy.set);
		break;
	case IMAP_CMD_SEARCH:
	case IMAP_CMD_SORT:
	case IMAP_CMD_THREAD:
		search(out, cmd);
		break;
	case IMAP_CMD_FETCH:
		imap_write_seqset(out, &f->set);
		buf_add(out, " ", 1);
		fetch_atts(out, f->att, f->natt, f->paren);
		if (!f->has_changedsince && !f->vanished && !f->has_partial)
			break;
		buf_add_str(out, " (");
		if (f->has_changedsince)
			buf_addf(out, "CHANGEDSINCE %" PRIu64, f->changedsince);
		if (f->vanished)
			buf_add_str(out, f->has_changedsince ? " VANISHED" :
			    "VANISHED");
		if (f->has_partial) {
			buf_add_str(out, f->has_changedsince || f->vanished ?
			    " PARTIAL " : "PARTIAL ");
			partial_range(out, &f->partial);
		}
		buf_add(out, ")", 1);
		break;
	case IMAP_CMD_STORE:
		imap_write_seqset(out, &st->set);
		if (st->has_unchangedsince)
			buf_addf(out, " (UNCHANGEDSINCE %" PRIu64 ")",
			    st->unchangedsince);
		buf_addf(out, " %sFLAGS%s ", st->op == IMAP_STORE_ADD ? "+" :
		    st->op == IMAP_STORE_REMOVE ? "-" : "",
		    st->silent ? ".SILENT" : "");
		flags(out, &st->flags, st->paren);
		break;
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		imap_write_seqset(out, &cmd->u.copy.set);
		buf_add(out, " ", 1);
		mailbox(out, &cmd->u.copy.mbox);
		break;
	case IMAP_CMD_GETQUOTA:
		astr(out, &cmd->u.quota.root);
		break;
	case IMAP_CMD_GETQUOTAROOT:
		mailbox(out, &cmd->u.quota.mbox);
		break;
	case IMAP_CMD_SETQUOTA:
		astr(out, &cmd->u.quota.root);
		buf_add(out, " (", 2);
		for (size_t i = 0; i < cmd->u.quota.nres; i++) {
			buf_add_str(out, i > 0 ? " " : "");
			raw(out, &cmd->u.quota.res[i].name);
			buf_addf(out, " %" PRIu64, cmd->u.quota.res[i].limit);
		}
		buf_add(out, ")", 1);
		break;
	case IMAP_CMD_COMPRESS:
		raw(out, &cmd->u.compress);
		break;
	case IMAP_CMD_NOTIFY:
		notify_args(out, &cmd->u.notify);
		break;
	case IMAP_CMD_GETMETADATA:
	case IMAP_CMD_SETMETADATA:
		metadata_args(out, cmd);
		break;
	default:
		break;
	}
}

static bool
has_args(const struct imap_cmd *cmd)
{
	switch (cmd->kind) {
	case IMAP_CMD_CAPABILITY: case IMAP_CMD_NOOP: case IMAP_CMD_LOGOUT:
	case IMAP_CMD_STARTTLS: case IMAP_CMD_NAMESPACE: case IMAP_CMD_IDLE:
	case IMAP_CMD_CHECK: case IMAP_CMD_CLOSE: case IMAP_CMD_UNSELECT:
	case IMAP_CMD_UNAUTHENTICATE:
		return false;
	case IMAP_CMD_EXPUNGE:
		return cmd->uid;
	default:
		return true;
	}
}

void
imap_cmd_write(struct buf *out, const struct imap_cmd *cmd)
{
	if (cmd->kind == IMAP_CMD_DONE) {
		buf_add_str(out, "DONE\r\n");
		return;
	}
	if (cmd->kind == IMAP_CMD_SASL) {
		if (cmd->u.sasl.cancel)
			buf_add(out, "*", 1);
		else
			raw(out, &cmd->u.sasl.data);
		buf_add_str(out, "\r\n");
		return;
	}
	raw(out, &cmd->tag);
	buf_addf(out, " %s%s", cmd->uid ? "UID " : "",
	    imap_cmd_name(cmd->kind));
	if (has_args(cmd)) {
		buf_add(out, " ", 1);
		args(out, cmd);
	}
	buf_add_str(out, "\r\n");
}
