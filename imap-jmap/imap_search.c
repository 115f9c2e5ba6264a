/*
 * imap_search.c - SEARCH (RFC 9051 6.4.4, every key of RFC 9051 and
 * RFC 3501), with ESEARCH return options (RFC 4731, SAVE from RFC 5182,
 * PARTIAL from RFC 9394), MODSEQ (RFC 7162 3.1.5), OLDER/YOUNGER (RFC
 * 5032), SAVEDBEFORE/ON/SINCE/SAVEDATESUPPORTED (RFC 8514), EMAILID and
 * THREADID (RFC 8474), "$" (RFC 5182); SORT (RFC 5256 3, ESORT RFC 5267,
 * DISPLAYFROM/DISPLAYTO RFC 5957) and THREAD (RFC 5256 3).
 *
 * The keys become a tree: the program and every parenthesised list are
 * IMAP_SK_AND nodes, OR has two children, NOT one.  NOT and OR count
 * towards max_depth like parentheses, so the recursion is bounded.
 */
#include <string.h>

#include "imap-jmap/imap_parse_priv.h"

enum arg {
	A_NONE,
	A_ASTRING,
	A_KEYWORD,
	A_OBJECTID,
	A_HEADER,
	A_DATE,
	A_NUM64,
	A_SECONDS,
	A_MODSEQ,
	A_SEQSET,
	A_NOT,
	A_OR,
};

static const struct {
	const char *name;
	enum imap_skey_kind kind;
	enum arg arg;
} skeys[] = {
	{ "ALL", IMAP_SK_ALL, A_NONE },
	{ "ANSWERED", IMAP_SK_ANSWERED, A_NONE },
	{ "DELETED", IMAP_SK_DELETED, A_NONE },
	{ "DRAFT", IMAP_SK_DRAFT, A_NONE },
	{ "FLAGGED", IMAP_SK_FLAGGED, A_NONE },
	{ "NEW", IMAP_SK_NEW, A_NONE },
	{ "OLD", IMAP_SK_OLD, A_NONE },
	{ "RECENT", IMAP_SK_RECENT, A_NONE },
	{ "SEEN", IMAP_SK_SEEN, A_NONE },
	{ "UNANSWERED", IMAP_SK_UNANSWERED, A_NONE },
	{ "UNDELETED", IMAP_SK_UNDELETED, A_NONE },
	{ "UNDRAFT", IMAP_SK_UNDRAFT, A_NONE },
	{ "UNFLAGGED", IMAP_SK_UNFLAGGED, A_NONE },
	{ "UNSEEN", IMAP_SK_UNSEEN, A_NONE },
	{ "SAVEDATESUPPORTED", IMAP_SK_SAVEDATESUPPORTED, A_NONE },
	{ "BCC", IMAP_SK_BCC, A_ASTRING },
	{ "BODY", IMAP_SK_BODY, A_ASTRING },
	{ "CC", IMAP_SK_CC, A_ASTRING },
	{ "FROM", IMAP_SK_FROM, A_ASTRING },
	{ "SUBJECT", IMAP_SK_SUBJECT, A_ASTRING },
	{ "TEXT", IMAP_SK_TEXT, A_ASTRING },
	{ "TO", IMAP_SK_TO, A_ASTRING },
	{ "KEYWORD", IMAP_SK_KEYWORD, A_KEYWORD },
	{ "UNKEYWORD", IMAP_SK_UNKEYWORD, A_KEYWORD },
	{ "EMAILID", IMAP_SK_EMAILID, A_OBJECTID },
	{ "THREADID", IMAP_SK_THREADID, A_OBJECTID },
	{ "HEADER", IMAP_SK_HEADER, A_HEADER },
	{ "BEFORE", IMAP_SK_BEFORE, A_DATE },
	{ "ON", IMAP_SK_ON, A_DATE },
	{ "SINCE", IMAP_SK_SINCE, A_DATE },
	{ "SENTBEFORE", IMAP_SK_SENTBEFORE, A_DATE },
	{ "SENTON", IMAP_SK_SENTON, A_DATE },
	{ "SENTSINCE", IMAP_SK_SENTSINCE, A_DATE },
	{ "SAVEDBEFORE", IMAP_SK_SAVEDBEFORE, A_DATE },
	{ "SAVEDON", IMAP_SK_SAVEDON, A_DATE },
	{ "SAVEDSINCE", IMAP_SK_SAVEDSINCE, A_DATE },
	{ "LARGER", IMAP_SK_LARGER, A_NUM64 },
	{ "SMALLER", IMAP_SK_SMALLER, A_NUM64 },
	{ "OLDER", IMAP_SK_OLDER, A_SECONDS },
	{ "YOUNGER", IMAP_SK_YOUNGER, A_SECONDS },
	{ "MODSEQ", IMAP_SK_MODSEQ, A_MODSEQ },
	{ "UID", IMAP_SK_UID, A_SEQSET },
	{ "NOT", IMAP_SK_NOT, A_NOT },
	{ "OR", IMAP_SK_OR, A_OR },
};

static const char *const sort_names[] = {
	[IMAP_SORT_ARRIVAL] = "ARRIVAL", [IMAP_SORT_CC] = "CC",
	[IMAP_SORT_DATE] = "DATE", [IMAP_SORT_FROM] = "FROM",
	[IMAP_SORT_SIZE] = "SIZE", [IMAP_SORT_SUBJECT] = "SUBJECT",
	[IMAP_SORT_TO] = "TO", [IMAP_SORT_DISPLAYFROM] = "DISPLAYFROM",
	[IMAP_SORT_DISPLAYTO] = "DISPLAYTO",
};

static const char *const entry_types[] = {
	[IMAP_ENTRY_PRIV] = "priv", [IMAP_ENTRY_SHARED] = "shared",
	[IMAP_ENTRY_ALL] = "all",
};

const char *
imap_skey_name(enum imap_skey_kind kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(skeys); i++)
		if (skeys[i].kind == kind)
			return skeys[i].name;
	return NULL;
}

const char *
imap_sort_key_name(enum imap_sort_key key)
{
	return sort_names[key];
}

static bool key(struct imap_lex *lx, struct imap_skey *k);

/* keys - key *(SP key) as the children of and, up to ")" or the end */
static bool
keys(struct imap_lex *lx, struct imap_skey *and)
{
	struct imap_skey *last = NULL;

	and->kind = IMAP_SK_AND;
	for (;;) {
		struct imap_skey *k = imap_arena_alloc(lx->a, sizeof(*k));

		if (and->nkids >= lx->lim->max_items)
			return lex_fail(lx, "Too many search keys");
		if (!key(lx, k))
			return false;
		if (last == NULL)
			and->kids = k;
		else
			last->next = k;
		last = k;
		and->nkids++;
		if (lex_peek(lx) != ' ')
			break;
		lx->pos++;
	}
	return true;
}

/* sub - a key below NOT or OR, counted as a nesting level */
static bool
sub(struct imap_lex *lx, struct imap_skey *parent, struct imap_skey **k)
{
	if (++lx->depth > lx->lim->max_depth)
		return lex_fail(lx, "Too deeply nested");
	*k = imap_arena_alloc(lx->a, sizeof(**k));
	if (!lex_sp(lx) || !key(lx, *k))
		return false;
	lx->depth--;
	parent->nkids++;
	return true;
}

/* objectid = 1*255(ALPHA / DIGIT / "_" / "-") (RFC 8474 7) */
static bool
objectid(struct imap_lex *lx, struct imap_str *out)
{
	size_t start = lx->pos;

	while (lx->pos < lx->len && (is_ascii_alnum(lx->s[lx->pos]) ||
	    lx->s[lx->pos] == '_' || lx->s[lx->pos] == '-'))
		lx->pos++;
	if (lx->pos == start) {
		if (!lex_need(lx))
			return false;
		return lex_fail(lx, "Expected an object id");
	}
	if (lx->pos - start > 255 || (lx->pos < lx->len &&
	    imap_is_atom_char((unsigned char)lx->s[lx->pos])))
		return lex_fail(lx, "Invalid object id");
	out->len = lx->pos - start;
	out->p = imap_arena_strndup(lx->a, lx->s + start, out->len);
	return true;
}

/* MODSEQ [SP entry-name SP entry-type-req] SP mod-sequence-valzer */
static bool
modseq(struct imap_lex *lx, struct imap_skey *k)
{
	if (!lex_sp(lx))
		return false;
	if (lex_peek(lx) == '"' || lex_at_literal(lx)) {
		struct imap_str e;
		const char *p;
		size_t n, t;

		if (!lex_string(lx, &e))
			return false;
		if (e.len <= 7 || ascii_strncasecmp(e.p, "/flags/", 7) != 0)
			return lex_fail(lx, "Invalid MODSEQ entry name");
		k->str.p = e.p + 7;
		k->str.len = e.len - 7;
		k->has_entry = true;
		if (!lex_sp(lx) || !lex_keyword(lx, &p, &n))
			return false;
		for (t = 0; t < ARRAY_SIZE(entry_types); t++)
			if (lex_is(p, n, entry_types[t]))
				break;
		if (t == ARRAY_SIZE(entry_types))
			return lex_fail(lx, "Invalid MODSEQ entry type");
		k->entry_type = (enum imap_entry_type)t;
		if (!lex_sp(lx))
			return false;
	}
	return lex_number(lx, IMAP_NUMBER64_MAX, &k->num);
}

static bool
key(struct imap_lex *lx, struct imap_skey *k)
{
	struct imap_skey *a, *b;
	const char *p;
	size_t n, i;
	int c;

	if (!lex_need(lx))
		return false;
	c = lex_peek(lx);
	if (c == '(') {
		return lex_open(lx) && keys(lx, k) && lex_close(lx);
	}
	if (is_ascii_digit(c) || c == '*' || c == '$') {
		k->kind = IMAP_SK_SEQSET;
		return lex_seqset(lx, &k->set);
	}
	if (!lex_keyword(lx, &p, &n))
		return false;
	for (i = 0; i < ARRAY_SIZE(skeys); i++)
		if (lex_is(p, n, skeys[i].name))
			break;
	if (i == ARRAY_SIZE(skeys))
		return lex_fail(lx, "Unknown search key");
	k->kind = skeys[i].kind;
	switch (skeys[i].arg) {
	case A_NONE:
		return true;
	case A_ASTRING:
		return lex_sp(lx) && lex_astring(lx, &k->str);
	case A_KEYWORD:
		return lex_sp(lx) && lex_atom(lx, &k->str);
	case A_OBJECTID:
		return lex_sp(lx) && objectid(lx, &k->str);
	case A_HEADER:
		return lex_sp(lx) && lex_astring(lx, &k->str) && lex_sp(lx) &&
		    lex_astring(lx, &k->str2);
	case A_DATE:
		return lex_sp(lx) && lex_date(lx, &k->date);
	case A_NUM64:
		return lex_sp(lx) && lex_number(lx, IMAP_NUMBER64_MAX,
		    &k->num);
	case A_SECONDS:
		return lex_sp(lx) && lex_nz_number(lx, UINT32_MAX, &k->num);
	case A_MODSEQ:
		return modseq(lx, k);
	case A_SEQSET:
		return lex_sp(lx) && lex_seqset(lx, &k->set);
	case A_NOT:
		if (!sub(lx, k, &a))
			return false;
		k->kids = a;
		return true;
	case A_OR:
		if (!sub(lx, k, &a) || !sub(lx, k, &b))
			return false;
		a->next = b;
		k->kids = a;
		return true;
	}
	return lex_fail(lx, "Unknown search key");
}

/* RETURN SP "(" [opt *(SP opt)] ")"; RETURN already read */
static bool
return_opts(struct imap_lex *lx, struct imap_search_ret *r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {
		{ "MIN", IMAP_SRET_MIN }, { "MAX", IMAP_SRET_MAX },
		{ "ALL", IMAP_SRET_ALL }, { "COUNT", IMAP_SRET_COUNT },
		{ "SAVE", IMAP_SRET_SAVE }, { "PARTIAL", IMAP_SRET_PARTIAL },
	};

	r->present = true;
	if (!lex_sp(lx) || !lex_open(lx))
		return false;
	for (bool first = true; !lex_at_close(lx); first = false) {
		const char *p;
		size_t n, i;

		if ((!first && !lex_sp(lx)) || !lex_keyword(lx, &p, &n))
			return false;
		for (i = 0; i < ARRAY_SIZE(opts); i++)
			if (lex_is(p, n, opts[i].name))
				break;
		if (i == ARRAY_SIZE(opts))
			return lex_fail(lx, "Unknown RETURN option");
		if (opts[i].bit == IMAP_SRET_PARTIAL) {
			if (r->opts & IMAP_SRET_PARTIAL)
				return lex_fail(lx, "Repeated PARTIAL");
			if (!lex_sp(lx) || !lex_partial_range(lx, &r->partial))
				return false;
		}
		r->opts |= opts[i].bit;
	}
	return lex_close(lx);
}

/* [SP "RETURN" ...] at the start of the arguments, then SP */
static bool
maybe_return(struct imap_lex *lx, struct imap_search_ret *r)
{
	if (!lex_sp(lx))
		return false;
	if (!lex_peek_keyword(lx, "RETURN"))
		return true;
	lx->pos += 6;
	return return_opts(lx, r) && lex_sp(lx);
}

/* charset = atom / quoted (a literal is taken too) */
static bool
charset(struct imap_lex *lx, struct imap_search *s)
{
	s->has_charset = true;
	return lex_astring(lx, &s->charset);
}

static bool
program(struct imap_lex *lx, struct imap_search *s)
{
	struct imap_skey *root = imap_arena_alloc(lx->a, sizeof(*root));

	s->key = root;
	return keys(lx, root);
}

/* SEARCH [search-return-opts] SP ["CHARSET" SP charset SP] 1*key */
bool
imap_parse_search(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_search *s = &cmd->u.search;

	if (!maybe_return(lx, &s->ret))
		return false;
	if (lex_peek_keyword(lx, "CHARSET")) {
		lx->pos += 7;
		if (!lex_sp(lx) || !charset(lx, s) || !lex_sp(lx))
			return false;
	}
	return program(lx, s);
}

/* SORT [search-return-opts] SP "(" [REVERSE SP] key *(...) ")" SP
 *     charset 1*(SP search-key) */
bool
imap_parse_sort(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_search *s = &cmd->u.search;
	struct lex_vec crit;

	if (!maybe_return(lx, &s->ret) || !lex_open(lx))
		return false;
	lex_vec_init(&crit, sizeof(struct imap_sort_crit));
	for (bool first = true; first || !lex_at_close(lx); first = false) {
		struct imap_sort_crit *c = lex_vec_push(lx, &crit);
		const char *p;
		size_t n, i;

		if (c == NULL || (!first && !lex_sp(lx)) ||
		    !lex_keyword(lx, &p, &n))
			return false;
		if (lex_is(p, n, "REVERSE")) {
			c->reverse = true;
			if (!lex_sp(lx) || !lex_keyword(lx, &p, &n))
				return false;
		}
		for (i = 0; i < ARRAY_SIZE(sort_names); i++)
			if (lex_is(p, n, sort_names[i]))
				break;
		if (i == ARRAY_SIZE(sort_names))
			return lex_fail(lx, "Unknown sort criterion");
		c->key = (enum imap_sort_key)i;
	}
	s->crit = crit.v;
	s->ncrit = crit.n;
	return lex_close(lx) && lex_sp(lx) && charset(lx, s) && lex_sp(lx) &&
	    program(lx, s);
}

/* THREAD SP thread-alg SP charset 1*(SP search-key) */
bool
imap_parse_thread(struct imap_lex *lx, struct imap_cmd *cmd)
{
	struct imap_search *s = &cmd->u.search;

	if (!lex_sp(lx) || !lex_atom(lx, &s->alg_name))
		return false;
	if (lex_is(s->alg_name.p, s->alg_name.len, "ORDEREDSUBJECT"))
		s->alg = IMAP_THREAD_ORDEREDSUBJECT;
	else if (lex_is(s->alg_name.p, s->alg_name.len, "REFERENCES"))
		s->alg = IMAP_THREAD_REFERENCES;
	else
		s->alg = IMAP_THREAD_OTHER;
	return lex_sp(lx) && charset(lx, s) && lex_sp(lx) && program(lx, s);
}

const char *
imap_entry_type_name(enum imap_entry_type t)
{
	return entry_types[t];
}
