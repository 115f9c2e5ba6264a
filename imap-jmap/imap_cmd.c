/*
 * imap_cmd.c - IMAP command dispatch (tag, name, "UID " prefix) and the
 * arguments of the core commands: AUTHENTICATE (SASL-IR, RFC 4959),
 * LOGIN, SELECT/EXAMINE with CONDSTORE/QRESYNC (RFC 7162 3.1.8, 3.2.5),
 * CREATE with USE (RFC 6154 3), DELETE, RENAME, (UN)SUBSCRIBE, STATUS
 * (RFC 9051 6.3.11 with SIZE, HIGHESTMODSEQ, MAILBOXID, APPENDLIMIT,
 * DELETED-STORAGE), APPEND (MULTIAPPEND RFC 3502, BINARY RFC 3516,
 * UTF8 RFC 6855 4), STORE (UNCHANGEDSINCE), COPY, MOVE, (UID) EXPUNGE,
 * GETQUOTAROOT, COMPRESS.  The other commands are in imap_cmd_ext.c,
 * imap_search.c and imap_fetch.c.
 */
#include <string.h>

#include "imap-jmap/imap_parse_priv.h"

typedef bool cmd_fn(struct imap_lex *lx, struct imap_cmd *cmd);

static const struct name_bit {
	const char *name;
	unsigned bit;
} flag_names[] = {
	{ "\\Answered", IMAP_FLAG_ANSWERED },
	{ "\\Flagged", IMAP_FLAG_FLAGGED },
	{ "\\Deleted", IMAP_FLAG_DELETED }, { "\\Seen", IMAP_FLAG_SEEN },
	{ "\\Draft", IMAP_FLAG_DRAFT },
}, use_names[] = {
	{ "\\All", IMAP_USE_ALL }, { "\\Archive", IMAP_USE_ARCHIVE },
	{ "\\Drafts", IMAP_USE_DRAFTS }, { "\\Flagged", IMAP_USE_FLAGGED },
	{ "\\Junk", IMAP_USE_JUNK }, { "\\Sent", IMAP_USE_SENT },
	{ "\\Trash", IMAP_USE_TRASH }, { "\\Important", IMAP_USE_IMPORTANT },
}, status_names[] = {
	{ "MESSAGES", IMAP_STATUS_MESSAGES }, { "RECENT", IMAP_STATUS_RECENT },
	{ "UIDNEXT", IMAP_STATUS_UIDNEXT },
	{ "UIDVALIDITY", IMAP_STATUS_UIDVALIDITY },
	{ "UNSEEN", IMAP_STATUS_UNSEEN }, { "DELETED", IMAP_STATUS_DELETED },
	{ "SIZE", IMAP_STATUS_SIZE },
	{ "HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ },
	{ "MAILBOXID", IMAP_STATUS_MAILBOXID },
	{ "APPENDLIMIT", IMAP_STATUS_APPENDLIMIT },
	{ "DELETED-STORAGE", IMAP_STATUS_DELETED_STORAGE },
};

static const char *
bit_name(const struct name_bit *t, size_t n, unsigned bit)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].bit == bit)
			return t[i].name;
	return NULL;
}

static unsigned
name_bit(const struct name_bit *t, size_t n, const char *p, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (lex_is(p, len, t[i].name))
			return t[i].bit;
	return 0;
}

const char *
imap_flag_name(unsigned bit)
{
	return bit_name(flag_names, ARRAY_SIZE(flag_names), bit);
}

const char *
imap_use_name(unsigned bit)
{
	return bit_name(use_names, ARRAY_SIZE(use_names), bit);
}

const char *
imap_status_att_name(unsigned bit)
{
	return bit_name(status_names, ARRAY_SIZE(status_names), bit);
}

/* backslash_word - "\" atom, as a view including the "\" */
static bool
backslash_word(struct imap_lex *lx, const char **p, size_t *len)
{
	size_t start = lx->pos;
	const char *w;
	size_t n;

	if (!lex_char(lx, '\\', "Expected a flag") || !lex_keyword(lx, &w, &n))
		return false;
	*p = lx->s + start;
	*len = n + 1;
	return true;
}

/* flag - a system flag into f->sys, or a keyword appended to kw */
static bool
flag(struct imap_lex *lx, struct imap_flags *f, struct lex_vec *kw)
{
	const char *p;
	size_t n;
	unsigned bit;
	struct imap_str *k;

	if (lex_peek(lx) != '\\') {
		if ((k = lex_vec_push(lx, kw)) == NULL)
			return false;
		return lex_atom(lx, k);
	}
	if (!backslash_word(lx, &p, &n))
		return false;
	if ((bit = name_bit(flag_names, ARRAY_SIZE(flag_names), p, n)) != 0) {
		f->sys |= bit;
		return true;
	}
	if (lex_is(p, n, "\\Recent"))
		return lex_fail(lx, "\\Recent cannot be set");
	return lex_fail(lx, "Invalid system flag");
}

/* flag_list - "(" [flag *(SP flag)] ")" */
static bool
flag_list(struct imap_lex *lx, struct imap_flags *f)
{
	struct lex_vec kw;

	lex_vec_init(&kw, sizeof(struct imap_str));
	if (!lex_open(lx))
		return false;
	for (bool first = true; !lex_at_close(lx); first = false)
		if ((!first && !lex_sp(lx)) || !flag(lx, f, &kw))
			return false;
	f->kw = kw.v;
	f->nkw = kw.n;
	return lex_close(lx);
}

/* AUTHENTICATE SP auth-type [SP (base64 / "=")] */
static bool
p_authenticate(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_auth *a = &cmd->u.auth;
	size_t start;

	if (!lex_sp(lx) || !lex_atom(lx, &a->mech))
		return false;
	if (lex_peek(lx) != ' ')
		return true;
	start = ++lx->pos;
	while (lx->pos < lx->len && (is_ascii_alnum(lx->s[lx->pos]) ||
	    lx->s[lx->pos] == '+' || lx->s[lx->pos] == '/' ||
	    lx->s[lx->pos] == '='))
		lx->pos++;
	a->has_ir = true;
	if (lx->pos - start == 1 && lx->s[start] == '=') {
		a->ir.p = imap_arena_strndup(lx->a, "", 0);
		return true;
	}
	if (lx->pos == start && !lex_need(lx))
		return false;
	if (lx->pos == start || !imap_is_base64(lx->s + start,
	    lx->pos - start))
		return lex_fail(lx, "Invalid base64 initial response");
	a->ir.len = lx->pos - start;
	a->ir.p = imap_arena_strndup(lx->a, lx->s + start, a->ir.len);
	return true;
}

/* LOGIN SP userid SP password */
static bool
p_login(struct imap_lex *lx, struct imap_cmd *cmd)
{
	return lex_sp(lx) && lex_astring(lx, &cmd->u.login.user) &&
	    lex_sp(lx) && lex_astring(lx, &cmd->u.login.pass);
}

/* "(" uidvalidity SP mod-sequence-value [SP known-uids]
 *     [SP "(" known-sequence-set SP known-uid-set ")"] ")" */
static bool
qresync(struct imap_lex *lx, struct imap_select *s)
{
	if (!lex_open(lx) || !lex_nz_u32(lx, &s->uidvalidity) ||
	    !lex_sp(lx) || !lex_number(lx, IMAP_NUMBER64_MAX, &s->modseq))
		return false;
	if (lex_peek(lx) == ' ') {
		lx->pos++;
		if (lex_peek(lx) != '(') {
			if (!lex_seqset(lx, &s->known_uids))
				return false;
			s->has_known_uids = true;
			if (lex_peek(lx) != ' ')
				return lex_close(lx);
			lx->pos++;
		}
		if (!lex_open(lx) || !lex_seqset(lx, &s->match_seq) ||
		    !lex_sp(lx) || !lex_seqset(lx, &s->match_uid) ||
		    !lex_close(lx))
			return false;
		s->has_seq_match = true;
	}
	return lex_close(lx);
}

/* SELECT/EXAMINE SP mailbox [SP "(" select-param *(SP select-param) ")"] */
static bool
p_select(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_select *s = &cmd->u.select;

	if (!lex_sp(lx) || !lex_mailbox(lx, &s->mbox))
		return false;
	if (lex_peek(lx) != ' ')
		return true;
	lx->pos++;
	if (!lex_open(lx))
		return false;
	s->has_params = true;
	for (bool first = true; !lex_at_close(lx); first = false) {
		const char *p;
		size_t n;

		if ((!first && !lex_sp(lx)) || !lex_keyword(lx, &p, &n))
			return false;
		if (lex_is(p, n, "CONDSTORE") && !s->condstore) {
			s->condstore = true;
		} else if (lex_is(p, n, "QRESYNC") && !s->qresync) {
			s->qresync = true;
			if (!lex_sp(lx) || !qresync(lx, s))
				return false;
		} else {
			return lex_fail(lx, "Unknown or repeated SELECT "
			    "parameter");
		}
	}
	return lex_close(lx);
}

/* CREATE SP mailbox [SP "(" "USE" SP "(" [use-attr *(SP use-attr)] ")" ")"] */
static bool
p_create(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_create *c = &cmd->u.create;
	const char *p;
	size_t n;

	if (!lex_sp(lx) || !lex_mailbox(lx, &c->mbox))
		return false;
	if (lex_peek(lx) != ' ')
		return true;
	lx->pos++;
	if (!lex_open(lx) || !lex_keyword(lx, &p, &n))
		return false;
	if (!lex_is(p, n, "USE"))
		return lex_fail(lx, "Unknown CREATE parameter");
	if (!lex_sp(lx) || !lex_open(lx))
		return false;
	c->has_use = true;
	for (bool first = true; !lex_at_close(lx); first = false) {
		unsigned bit;

		if ((!first && !lex_sp(lx)) || !backslash_word(lx, &p, &n))
			return false;
		bit = name_bit(use_names, ARRAY_SIZE(use_names), p, n);
		if (bit == 0)
			return lex_fail_code(lx,
			    "Unsupported special-use attribute", "USEATTR",
			    true);
		c->use |= bit;
	}
	return lex_close(lx) && lex_close(lx);
}

static bool
p_mailbox(struct imap_lex *lx, struct imap_cmd *cmd)
{
	return lex_sp(lx) && lex_mailbox(lx, &cmd->u.mbox);
}

static bool
p_getquotaroot(struct imap_lex *lx, struct imap_cmd *cmd)
{
	return lex_sp(lx) && lex_mailbox(lx, &cmd->u.quota.mbox);
}

static bool
p_rename(struct imap_lex *lx, struct imap_cmd *cmd)
{
	return lex_sp(lx) && lex_mailbox(lx, &cmd->u.rename.from) &&
	    lex_sp(lx) && lex_mailbox(lx, &cmd->u.rename.to);
}

bool
imap_parse_status_atts(struct imap_lex *lx, unsigned *items)
{
	if (!lex_open(lx))
		return false;
	for (bool first = true; first || !lex_at_close(lx); first = false) {
		const char *p;
		size_t n;
		unsigned bit;

		if ((!first && !lex_sp(lx)) || !lex_keyword(lx, &p, &n))
			return false;
		bit = name_bit(status_names, ARRAY_SIZE(status_names), p, n);
		if (bit == 0)
			return lex_fail(lx, "Unknown STATUS item");
		*items |= bit;
	}
	return lex_close(lx);
}

/* STATUS SP mailbox SP "(" status-att *(SP status-att) ")" */
static bool
p_status(struct imap_lex *lx, struct imap_cmd *cmd)
{
	return lex_sp(lx) && lex_mailbox(lx, &cmd->u.status.mbox) &&
	    lex_sp(lx) && imap_parse_status_atts(lx, &cmd->u.status.items);
}

/* APPEND SP mailbox 1*(SP [flag-list SP] [date-time SP] append-data) */
static bool
p_append(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_append *a = &cmd->u.append;
	struct lex_vec msgs;

	if (!lex_sp(lx) || !lex_mailbox(lx, &a->mbox))
		return false;
	lex_vec_init(&msgs, sizeof(struct imap_append_msg));
	do {
		struct imap_append_msg *m = lex_vec_push(lx, &msgs);
		unsigned flags = LEX_LIT8 | LEX_NUL | LEX_MESSAGE;

		if (m == NULL || !lex_sp(lx))
			return false;
		if (lex_peek(lx) == '(') {
			if (!flag_list(lx, &m->flags) || !lex_sp(lx))
				return false;
			m->has_flags = true;
		}
		if (lex_peek(lx) == '"') {
			if (!lex_datetime(lx, &m->date) || !lex_sp(lx))
				return false;
			m->has_date = true;
		}
		if (lex_peek_keyword(lx, "UTF8")) {
			lx->pos += 4;
			if (!lex_sp(lx) || !lex_open(lx) ||
			    !lex_literal(lx, flags, &m->data, &m->binary))
				return false;
			if (!m->binary)
				return lex_fail(lx,
				    "UTF8 data must be a literal8");
			m->utf8 = true;
			if (!lex_close(lx))
				return false;
		} else if (lex_at_literal(lx)) {
			if (!lex_literal(lx, flags, &m->data, &m->binary))
				return false;
		} else {
			if (!lex_need(lx))
				return false;
			return lex_fail(lx, "Expected a message literal");
		}
	} while (lex_peek(lx) == ' ');
	a->msg = msgs.v;
	a->nmsg = msgs.n;
	return true;
}

static const struct {
	const char *name;
	enum imap_store_op op;
	bool silent;
} store_ops[] = {
	{ "FLAGS", IMAP_STORE_SET, false },
	{ "FLAGS.SILENT", IMAP_STORE_SET, true },
	{ "+FLAGS", IMAP_STORE_ADD, false },
	{ "+FLAGS.SILENT", IMAP_STORE_ADD, true },
	{ "-FLAGS", IMAP_STORE_REMOVE, false },
	{ "-FLAGS.SILENT", IMAP_STORE_REMOVE, true },
};

/* STORE SP sequence-set [SP "(" UNCHANGEDSINCE SP modseq ")"] SP
 * ["+" / "-"] "FLAGS" [".SILENT"] SP (flag-list / flag *(SP flag)) */
static bool
p_store(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_store *st = &cmd->u.store;
	const char *p;
	size_t n, i;

	if (!lex_sp(lx) || !lex_seqset(lx, &st->set) || !lex_sp(lx))
		return false;
	if (lex_peek(lx) == '(') {
		if (!lex_open(lx))
			return false;
		for (bool first = true; first || !lex_at_close(lx);
		    first = false) {
			if ((!first && !lex_sp(lx)) ||
			    !lex_keyword(lx, &p, &n))
				return false;
			if (!lex_is(p, n, "UNCHANGEDSINCE") ||
			    st->has_unchangedsince)
				return lex_fail(lx, "Unknown or repeated "
				    "STORE modifier");
			st->has_unchangedsince = true;
			if (!lex_sp(lx) || !lex_number(lx, IMAP_NUMBER64_MAX,
			    &st->unchangedsince))
				return false;
		}
		if (!lex_close(lx) || !lex_sp(lx))
			return false;
	}
	if (!lex_keyword(lx, &p, &n))
		return false;
	for (i = 0; i < ARRAY_SIZE(store_ops); i++)
		if (lex_is(p, n, store_ops[i].name))
			break;
	if (i == ARRAY_SIZE(store_ops))
		return lex_fail(lx, "Invalid STORE data item");
	st->op = store_ops[i].op;
	st->silent = store_ops[i].silent;
	if (!lex_sp(lx))
		return false;
	if (lex_peek(lx) == '(') {
		st->paren = true;
		return flag_list(lx, &st->flags);
	} else {
		struct lex_vec kw;

		lex_vec_init(&kw, sizeof(struct imap_str));
		for (;;) {
			if (!flag(lx, &st->flags, &kw))
				return false;
			if (lex_peek(lx) != ' ')
				break;
			lx->pos++;
		}
		st->flags.kw = kw.v;
		st->flags.nkw = kw.n;
	}
	return true;
}

/* COPY/MOVE SP sequence-set SP mailbox */
static bool
p_copy(struct imap_lex *lx, struct imap_cmd *cmd)
{
	return lex_sp(lx) && lex_seqset(lx, &cmd->u.copy.set) &&
	    lex_sp(lx) && lex_mailbox(lx, &cmd->u.copy.mbox);
}

/* EXPUNGE; UID EXPUNGE SP sequence-set (RFC 4315 2.1) */
static bool
p_expunge(struct imap_lex *lx, struct imap_cmd *cmd)
{
	if (!cmd->uid)
		return true;
	return lex_sp(lx) && lex_seqset(lx, &cmd->u.copy.set);
}

static bool
p_compress(struct imap_lex *lx, struct imap_cmd *cmd)
{
	return lex_sp(lx) && lex_atom(lx, &cmd->u.compress);
}

static const struct cmd_def {
	const char *name;
	enum imap_cmd_kind kind;
	cmd_fn *parse;		/* NULL: no arguments */
	bool uid;		/* may follow "UID " */
} cmds[] = {
	{ "CAPABILITY", IMAP_CMD_CAPABILITY, NULL, false },
	{ "NOOP", IMAP_CMD_NOOP, NULL, false },
	{ "LOGOUT", IMAP_CMD_LOGOUT, NULL, false },
	{ "ID", IMAP_CMD_ID, imap_parse_id, false },
	{ "STARTTLS", IMAP_CMD_STARTTLS, NULL, false },
	{ "AUTHENTICATE", IMAP_CMD_AUTHENTICATE, p_authenticate, false },
	{ "LOGIN", IMAP_CMD_LOGIN, p_login, false },
	{ "ENABLE", IMAP_CMD_ENABLE, imap_parse_enable, false },
	{ "SELECT", IMAP_CMD_SELECT, p_select, false },
	{ "EXAMINE", IMAP_CMD_EXAMINE, p_select, false },
	{ "CREATE", IMAP_CMD_CREATE, p_create, false },
	{ "DELETE", IMAP_CMD_DELETE, p_mailbox, false },
	{ "RENAME", IMAP_CMD_RENAME, p_rename, false },
	{ "SUBSCRIBE", IMAP_CMD_SUBSCRIBE, p_mailbox, false },
	{ "UNSUBSCRIBE", IMAP_CMD_UNSUBSCRIBE, p_mailbox, false },
	{ "LIST", IMAP_CMD_LIST, imap_parse_list, false },
	{ "LSUB", IMAP_CMD_LSUB, imap_parse_lsub, false },
	{ "NAMESPACE", IMAP_CMD_NAMESPACE, NULL, false },
	{ "STATUS", IMAP_CMD_STATUS, p_status, false },
	{ "APPEND", IMAP_CMD_APPEND, p_append, false },
	{ "IDLE", IMAP_CMD_IDLE, NULL, false },
	{ "CHECK", IMAP_CMD_CHECK, NULL, false },
	{ "CLOSE", IMAP_CMD_CLOSE, NULL, false },
	{ "UNSELECT", IMAP_CMD_UNSELECT, NULL, false },
	{ "EXPUNGE", IMAP_CMD_EXPUNGE, p_expunge, true },
	{ "SEARCH", IMAP_CMD_SEARCH, imap_parse_search, true },
	{ "FETCH", IMAP_CMD_FETCH, imap_parse_fetch, true },
	{ "STORE", IMAP_CMD_STORE, p_store, true },
	{ "COPY", IMAP_CMD_COPY, p_copy, true },
	{ "MOVE", IMAP_CMD_MOVE, p_copy, true },
	{ "SORT", IMAP_CMD_SORT, imap_parse_sort, true },
	{ "THREAD", IMAP_CMD_THREAD, imap_parse_thread, true },
	{ "GETQUOTA", IMAP_CMD_GETQUOTA, imap_parse_getquota, false },
	{ "GETQUOTAROOT", IMAP_CMD_GETQUOTAROOT, p_getquotaroot, false },
	{ "SETQUOTA", IMAP_CMD_SETQUOTA, imap_parse_setquota, false },
	{ "COMPRESS", IMAP_CMD_COMPRESS, p_compress, false },
	{ "UNAUTHENTICATE", IMAP_CMD_UNAUTHENTICATE, NULL, false },
	{ "NOTIFY", IMAP_CMD_NOTIFY, imap_parse_notify, false },
	{ "GETMETADATA", IMAP_CMD_GETMETADATA, imap_parse_getmetadata,
	  false },
	{ "SETMETADATA", IMAP_CMD_SETMETADATA, imap_parse_setmetadata,
	  false },
};

const char *
imap_cmd_name(enum imap_cmd_kind kind)
{
	if (kind == IMAP_CMD_DONE)
		return "DONE";
	if (kind == IMAP_CMD_SASL)
		return "SASL";
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (cmds[i].kind == kind)
			return cmds[i].name;
	return "UNKNOWN";
}

static const struct cmd_def *
find_cmd(const char *p, size_t n)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		if (lex_is(p, n, cmds[i].name))
			return &cmds[i];
	return NULL;
}

bool
imap_cmd_parse(struct imap_lex *lx, struct imap_cmd *cmd)
{
	const struct cmd_def *def;
	const char *p;
	size_t n, start = lx->pos;

	while (lx->pos < lx->len &&
	    imap_is_tag_char((unsigned char)lx->s[lx->pos]))
		lx->pos++;
	if (lx->pos == start)
		return lex_fail(lx, "Invalid tag");
	if (lx->pos - start > IMAP_TAG_MAX)
		return lex_fail(lx, "Tag too long");
	cmd->tag.len = lx->pos - start;
	cmd->tag.p = imap_arena_strndup(lx->a, lx->s + start, cmd->tag.len);
	if (lx->pos == lx->len)
		return lex_fail(lx, "Missing command");
	if (!lex_sp(lx) || !lex_keyword(lx, &p, &n))
		return false;
	if (lex_is(p, n, "UID")) {
		if (!lex_sp(lx) || !lex_keyword(lx, &p, &n))
			return false;
		def = find_cmd(p, n);
		if (def == NULL || !def->uid)
			return lex_fail(lx, "Unknown UID command");
		cmd->uid = lx->uid = true;
	} else if ((def = find_cmd(p, n)) == NULL) {
		return lex_fail(lx, "Unknown command");
	}
	cmd->kind = def->kind;
	if (def->parse != NULL && !def->parse(lx, cmd))
		return false;
	return lex_end(lx);
}
