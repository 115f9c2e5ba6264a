/*
 * imap_cmd_ext.c - arguments of the extension commands: LIST with
 * LIST-EXTENDED selection and return options (RFC 5258 3, 6), STATUS
 * (RFC 5819) and SPECIAL-USE (RFC 6154 5), LSUB, ID (RFC 2971 3.3 limits),
 * ENABLE (RFC 5161), NOTIFY (RFC 5465 8), GETMETADATA/SETMETADATA
 * (RFC 5464 4.2, 4.3, entry names 3.2), GETQUOTA/SETQUOTA (RFC 9208 4).
 */
#include <string.h>

#include "imap-jmap/imap_parse_priv.h"

static const struct name_bit {
	const char *name;
	unsigned bit;
} lsel_names[] = {
	{ "SUBSCRIBED", IMAP_LSEL_SUBSCRIBED },
	{ "REMOTE", IMAP_LSEL_REMOTE },
	{ "RECURSIVEMATCH", IMAP_LSEL_RECURSIVEMATCH },
	{ "SPECIAL-USE", IMAP_LSEL_SPECIAL_USE },
}, lret_names[] = {
	{ "SUBSCRIBED", IMAP_LRET_SUBSCRIBED },
	{ "CHILDREN", IMAP_LRET_CHILDREN },
	{ "SPECIAL-USE", IMAP_LRET_SPECIAL_USE },
	{ "STATUS", IMAP_LRET_STATUS },
}, event_names[] = {
	{ "MessageNew", IMAP_NEV_MESSAGE_NEW },
	{ "MessageExpunge", IMAP_NEV_MESSAGE_EXPUNGE },
	{ "FlagChange", IMAP_NEV_FLAG_CHANGE },
	{ "AnnotationChange", IMAP_NEV_ANNOTATION_CHANGE },
	{ "MailboxName", IMAP_NEV_MAILBOX_NAME },
	{ "SubscriptionChange", IMAP_NEV_SUBSCRIPTION_CHANGE },
	{ "MailboxMetadataChange", IMAP_NEV_MAILBOX_METADATA },
	{ "ServerMetadataChange", IMAP_NEV_SERVER_METADATA },
	{ "QuotaChange", IMAP_NEV_QUOTA_CHANGE },
};

static const char *const filter_names[] = {
	[IMAP_NOTIFY_SELECTED] = "SELECTED",
	[IMAP_NOTIFY_SELECTED_DELAYED] = "SELECTED-DELAYED",
	[IMAP_NOTIFY_INBOXES] = "INBOXES",
	[IMAP_NOTIFY_PERSONAL] = "PERSONAL",
	[IMAP_NOTIFY_SUBSCRIBED] = "SUBSCRIBED",
	[IMAP_NOTIFY_SUBTREE] = "SUBTREE",
	[IMAP_NOTIFY_MAILBOXES] = "MAILBOXES",
};

static unsigned
name_bit(const struct name_bit *t, size_t n, const char *p, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (lex_is(p, len, t[i].name))
			return t[i].bit;
	return 0;
}

const char *
imap_notify_event_name(unsigned bit)
{
	for (size_t i = 0; i < ARRAY_SIZE(event_names); i++)
		if (event_names[i].bit == bit)
			return event_names[i].name;
	return NULL;
}

const char *
imap_notify_filter_name(enum imap_notify_filter f)
{
	return filter_names[f];
}

/* options - "(" [name *(SP name)] ")" of names in t; STATUS (...) too */
static bool
options(struct imap_lex *lx, const struct name_bit *t, size_t nt,
    unsigned *bits, unsigned *status)
{
	if (!lex_open(lx))
		return false;
	for (bool first = true; !lex_at_close(lx); first = false) {
		const char *p;
		size_t n;
		unsigned bit;

		if ((!first && !lex_sp(lx)) || !lex_keyword(lx, &p, &n))
			return false;
		if ((bit = name_bit(t, nt, p, n)) == 0)
			return lex_fail(lx, "Unknown LIST option");
		*bits |= bit;
		if (status != NULL && bit == IMAP_LRET_STATUS &&
		    (!lex_sp(lx) || !imap_parse_status_atts(lx, status)))
			return false;
	}
	return lex_close(lx);
}

/*
 * LIST [SP list-select-opts] SP mailbox SP mbox-or-pat
 *     [SP "RETURN" SP list-return-opts]
 */
bool
imap_parse_list(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_list *l = &cmd->u.list;
	struct lex_vec pat;
	const char *p;
	size_t n;

	if (!lex_sp(lx))
		return false;
	if (lex_peek(lx) == '(') {
		l->has_sel = true;
		if (!options(lx, lsel_names, ARRAY_SIZE(lsel_names), &l->sel,
		    NULL) || !lex_sp(lx))
			return false;
	}
	if (!lex_mailbox(lx, &l->ref) || !lex_sp(lx))
		return false;
	lex_vec_init(&pat, sizeof(struct imap_mailbox));
	if (lex_peek(lx) == '(') {
		l->pat_list = true;
		if (!lex_open(lx))
			return false;
		for (bool first = true; first || !lex_at_close(lx);
		    first = false) {
			struct imap_mailbox *m = lex_vec_push(lx, &pat);

			if (m == NULL || (!first && !lex_sp(lx)) ||
			    !lex_list_mailbox(lx, m))
				return false;
		}
		if (!lex_close(lx))
			return false;
	} else {
		struct imap_mailbox *m = lex_vec_push(lx, &pat);

		if (m == NULL || !lex_list_mailbox(lx, m))
			return false;
	}
	l->pat = pat.v;
	l->npat = pat.n;
	if (lex_peek(lx) == ' ') {
		lx->pos++;
		if (!lex_keyword(lx, &p, &n))
			return false;
		if (!lex_is(p, n, "RETURN"))
			return lex_fail(lx, "Expected RETURN");
		l->has_ret = true;
		if (!lex_sp(lx) || !options(lx, lret_names,
		    ARRAY_SIZE(lret_names), &l->ret, &l->status))
			return false;
	}
	/* RFC 5258 3.1: RECURSIVEMATCH needs a real selection option */
	if ((l->sel & IMAP_LSEL_RECURSIVEMATCH) &&
	    !(l->sel & (IMAP_LSEL_SUBSCRIBED | IMAP_LSEL_SPECIAL_USE)))
		return lex_fail(lx, "RECURSIVEMATCH needs another selection "
		    "option");
	l->extended = l->has_sel || l->pat_list || l->has_ret;
	return true;
}

/* LSUB SP mailbox SP list-mailbox */
bool
imap_parse_lsub(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_list *l = &cmd->u.list;
	struct imap_mailbox *m = imap_arena_alloc(lx->a, sizeof(*m));

	if (!lex_sp(lx) || !lex_mailbox(lx, &l->ref) || !lex_sp(lx) ||
	    !lex_list_mailbox(lx, m))
		return false;
	l->pat = m;
	l->npat = 1;
	return true;
}

/* ID SP ("(" [string SP nstring *(SP string SP nstring)] ")" / "NIL") */
bool
imap_parse_id(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_id *id = &cmd->u.id;
	struct lex_vec keys, vals;

	if (!lex_sp(lx))
		return false;
	if (lex_peek_keyword(lx, "NIL")) {
		lx->pos += 3;
		id->nil = true;
		return true;
	}
	lex_vec_init(&keys, sizeof(struct imap_str));
	lex_vec_init(&vals, sizeof(struct imap_str));
	if (!lex_open(lx))
		return false;
	for (bool first = true; !lex_at_close(lx); first = false) {
		struct imap_str *k = lex_vec_push(lx, &keys);
		struct imap_str *v = lex_vec_push(lx, &vals);

		if (k == NULL || v == NULL || (!first && !lex_sp(lx)) ||
		    !lex_string(lx, k) || !lex_sp(lx) || !lex_nstring(lx, v))
			return false;
		/* RFC 2971 3.3 */
		if (keys.n > 30 || k->len > 30 || v->len > 1024)
			return lex_fail(lx, "ID: more than 30 fields, or a "
			    "field or value too long");
	}
	id->key = keys.v;
	id->val = vals.v;
	id->n = keys.n;
	return lex_close(lx);
}

/* ENABLE 1*(SP capability) */
bool
imap_parse_enable(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct lex_vec caps;

	lex_vec_init(&caps, sizeof(struct imap_str));
	do {
		struct imap_str *c = lex_vec_push(lx, &caps);

		if (c == NULL || !lex_sp(lx) || !lex_atom(lx, c))
			return false;
	} while (lex_peek(lx) == ' ');
	cmd->u.enable.v = caps.v;
	cmd->u.enable.n = caps.n;
	return true;
}

/* GETQUOTA SP quota-root-name */
bool
imap_parse_getquota(struct imap_lex *lx, struct imap_cmd *cmd)
{
	return lex_sp(lx) && lex_astring(lx, &cmd->u.quota.root);
}

/* SETQUOTA SP quota-root-name SP "(" [resource SP limit *(SP ...)] ")" */
bool
imap_parse_setquota(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_quota *q = &cmd->u.quota;
	struct lex_vec res;

	if (!lex_sp(lx) || !lex_astring(lx, &q->root) || !lex_sp(lx) ||
	    !lex_open(lx))
		return false;
	lex_vec_init(&res, sizeof(struct imap_quota_res));
	for (bool first = true; !lex_at_close(lx); first = false) {
		struct imap_quota_res *r = lex_vec_push(lx, &res);

		if (r == NULL || (!first && !lex_sp(lx)) ||
		    !lex_atom(lx, &r->name) || !lex_sp(lx) ||
		    !lex_number(lx, IMAP_NUMBER64_MAX, &r->limit))
			return false;
	}
	q->res = res.v;
	q->nres = res.n;
	return lex_close(lx);
}

/* one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")" */
static bool
notify_mailboxes(struct imap_lex *lx, struct imap_notify_group *g)
{
	struct lex_vec mb;

	lex_vec_init(&mb, sizeof(struct imap_mailbox));
	if (lex_peek(lx) != '(') {
		struct imap_mailbox *m = lex_vec_push(lx, &mb);

		if (m == NULL || !lex_mailbox(lx, m))
			return false;
	} else {
		g->mbox_list = true;
		if (!lex_open(lx))
			return false;
		for (bool first = true; first || !lex_at_close(lx);
		    first = false) {
			struct imap_mailbox *m = lex_vec_push(lx, &mb);

			if (m == NULL || (!first && !lex_sp(lx)) ||
			    !lex_mailbox(lx, m))
				return false;
		}
		if (!lex_close(lx))
			return false;
	}
	g->mbox = mb.v;
	g->nmbox = mb.n;
	return true;
}

/* events = ( "(" event *(SP event) ")" ) / "NONE" */
static bool
notify_events(struct imap_lex *lx, struct imap_notify_group *g)
{
	struct lex_vec unknown;
	const unsigned msg = IMAP_NEV_MESSAGE_NEW | IMAP_NEV_MESSAGE_EXPUNGE;

	if (lex_peek_keyword(lx, "NONE")) {
		lx->pos += 4;
		g->none = true;
		return true;
	}
	lex_vec_init(&unknown, sizeof(struct imap_str));
	if (!lex_open(lx))
		return false;
	for (bool first = true; first || !lex_at_close(lx); first = false) {
		size_t start;
		const char *p;
		size_t n;
		unsigned bit;

		if (!first && !lex_sp(lx))
			return false;
		start = lx->pos;
		if (!lex_keyword(lx, &p, &n))
			return false;
		bit = name_bit(event_names, ARRAY_SIZE(event_names), p, n);
		if (bit == 0) {
			struct imap_str *u = lex_vec_push(lx, &unknown);

			lx->pos = start;
			if (u == NULL || !lex_atom(lx, u))
				return false;
			continue;
		}
		g->events |= bit;
		if (bit == IMAP_NEV_MESSAGE_NEW && lex_peek(lx) == ' ' &&
		    lx->pos + 1 < lx->len && lx->s[lx->pos + 1] == '(') {
			lx->pos++;
			if (!imap_parse_fetch_atts(lx, &g->fetch, &g->nfetch))
				return false;
		}
	}
	g->unknown.v = unknown.v;
	g->unknown.n = unknown.n;
	/* RFC 5465 5.1-5.3: the message events go together */
	if ((g->events & msg) != 0 && (g->events & msg) != msg)
		return lex_fail(lx, "MessageNew and MessageExpunge go "
		    "together");
	if ((g->events & (IMAP_NEV_FLAG_CHANGE |
	    IMAP_NEV_ANNOTATION_CHANGE)) && (g->events & msg) != msg)
		return lex_fail(lx, "FlagChange and AnnotationChange need "
		    "MessageNew and MessageExpunge");
	return lex_close(lx);
}

/* event-group = "(" filter-mailboxes SP events ")" */
static bool
notify_group(struct imap_lex *lx, struct imap_notify_group *g)
{
	const char *p;
	size_t n, f;

	if (!lex_open(lx) || !lex_keyword(lx, &p, &n))
		return false;
	for (f = 0; f < ARRAY_SIZE(filter_names); f++)
		if (lex_is(p, n, filter_names[f]))
			break;
	if (f == ARRAY_SIZE(filter_names))
		return lex_fail(lx, "Unknown NOTIFY mailbox filter");
	g->filter = (enum imap_notify_filter)f;
	if ((g->filter == IMAP_NOTIFY_SUBTREE ||
	    g->filter == IMAP_NOTIFY_MAILBOXES) &&
	    (!lex_sp(lx) || !notify_mailboxes(lx, g)))
		return false;
	return lex_sp(lx) && notify_events(lx, g) && lex_close(lx);
}

/* NOTIFY SP ("NONE" / "SET" [SP "STATUS"] 1*(SP event-group)) */
bool
imap_parse_notify(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_notify *nt = &cmd->u.notify;
	struct lex_vec groups;
	const char *p;
	size_t n;

	if (!lex_sp(lx) || !lex_keyword(lx, &p, &n))
		return false;
	if (lex_is(p, n, "NONE")) {
		nt->none = true;
		return true;
	}
	if (!lex_is(p, n, "SET"))
		return lex_fail(lx, "Expected NOTIFY SET or NONE");
	if (lex_peek(lx) == ' ' && lx->pos + 1 < lx->len &&
	    lx->s[lx->pos + 1] != '(') {
		lx->pos++;
		if (!lex_keyword(lx, &p, &n))
			return false;
		if (!lex_is(p, n, "STATUS"))
			return lex_fail(lx, "Expected STATUS");
		nt->status = true;
	}
	lex_vec_init(&groups, sizeof(struct imap_notify_group));
	do {
		struct imap_notify_group *g = lex_vec_push(lx, &groups);

		if (g == NULL || !lex_sp(lx) || !notify_group(lx, g))
			return false;
	} while (lex_peek(lx) == ' ');
	nt->group = groups.v;
	nt->ngroup = groups.n;
	return true;
}

/*
 * check_entry - RFC 5464 3.2: "/" then slash-separated components, the
 * first "private" or "shared"; no "*", "%", "//", trailing "/", controls.
 */
static bool
check_entry(struct imap_lex *lx, const struct imap_str *e)
{
	const char *s = e->p;
	size_t n = e->len;

	if (n < 2 || s[0] != '/' || s[n - 1] == '/')
		goto bad;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c >= 0x7f || c == '*' || c == '%' ||
		    (c == '/' && i + 1 < n && s[i + 1] == '/'))
			goto bad;
	}
	if ((n >= 8 && ascii_strncasecmp(s, "/private", 8) == 0 &&
	    (n == 8 || s[8] == '/')) ||
	    (n >= 7 && ascii_strncasecmp(s, "/shared", 7) == 0 &&
	    (n == 7 || s[7] == '/')))
		return true;
bad:
	return lex_fail(lx, "Invalid metadata entry name");
}

/*
 * GETMETADATA [SP "(" option *(SP option) ")"] SP mailbox SP
 *     (entry / "(" entry *(SP entry) ")")
 * option = "MAXSIZE" SP number / "DEPTH" SP ("0" / "1" / "infinity")
 */
bool
imap_parse_getmetadata(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_metadata *m = &cmd->u.meta;
	struct lex_vec ents;
	const char *p;
	size_t n;

	if (!lex_sp(lx))
		return false;
	if (lex_peek(lx) == '(') {
		if (!lex_open(lx))
			return false;
		for (bool first = true; first || !lex_at_close(lx);
		    first = false) {
			if ((!first && !lex_sp(lx)) ||
			    !lex_keyword(lx, &p, &n))
				return false;
			if (lex_is(p, n, "MAXSIZE") && !m->has_maxsize) {
				m->has_maxsize = true;
				if (!lex_sp(lx) || !lex_u32(lx, &m->maxsize))
					return false;
			} else if (lex_is(p, n, "DEPTH") && !m->has_depth) {
				m->has_depth = true;
				if (!lex_sp(lx) || !lex_keyword(lx, &p, &n))
					return false;
				if (lex_is(p, n, "0"))
					m->depth = IMAP_META_DEPTH_0;
				else if (lex_is(p, n, "1"))
					m->depth = IMAP_META_DEPTH_1;
				else if (lex_is(p, n, "infinity"))
					m->depth = IMAP_META_DEPTH_INFINITY;
				else
					return lex_fail(lx, "Invalid DEPTH");
			} else {
				return lex_fail(lx, "Unknown or repeated "
				    "GETMETADATA option");
			}
		}
		if (!lex_close(lx) || !lex_sp(lx))
			return false;
	}
	if (!lex_mailbox(lx, &m->mbox) || !lex_sp(lx))
		return false;
	lex_vec_init(&ents, sizeof(struct imap_meta_entry));
	m->entry_list = lex_peek(lx) == '(';
	if (m->entry_list && !lex_open(lx))
		return false;
	do {
		struct imap_meta_entry *e = lex_vec_push(lx, &ents);

		if (e == NULL || (ents.n > 1 && !lex_sp(lx)) ||
		    !lex_astring(lx, &e->name) || !check_entry(lx, &e->name))
			return false;
	} while (m->entry_list && !lex_at_close(lx));
	m->entry = ents.v;
	m->nentry = ents.n;
	return !m->entry_list || lex_close(lx);
}

/* SETMETADATA SP mailbox SP "(" entry SP value *(SP entry SP value) ")"
 * value = nstring / literal8 */
bool
imap_parse_setmetadata(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_metadata *m = &cmd->u.meta;
	struct lex_vec ents;

	if (!lex_sp(lx) || !lex_mailbox(lx, &m->mbox) || !lex_sp(lx) ||
	    !lex_open(lx))
		return false;
	lex_vec_init(&ents, sizeof(struct imap_meta_entry));
	for (bool first = true; first || !lex_at_close(lx); first = false) {
		struct imap_meta_entry *e = lex_vec_push(lx, &ents);

		if (e == NULL || (!first && !lex_sp(lx)) ||
		    !lex_astring(lx, &e->name) || !check_entry(lx, &e->name) ||
		    !lex_sp(lx))
			return false;
		if (lex_at_literal(lx)) {
			if (!lex_literal(lx, LEX_LIT8 | LEX_NUL, &e->value,
			    &e->binary))
				return false;
			if (!e->binary && memchr(e->value.p, '\0',
			    e->value.len) != NULL)
				return lex_fail(lx, "NUL octet in a literal");
		} else if (!lex_nstring(lx, &e->value)) {
			return false;
		}
	}
	m->entry = ents.v;
	m->nentry = ents.n;
	return lex_close(lx);
}
