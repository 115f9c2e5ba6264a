/*
 * mime_addr.c - address-list header fields (RFC 5322 3.4, with the
 * obsolete forms of 4.4), kept both raw, as IMAP's ENVELOPE sends them
 * (RFC 3501 7.4.2: display names as written, encoded words and all), and
 * decoded, as JMAP's EmailAddress wants them (RFC 8621 4.1.2.3).
 *
 * GMime's InternetAddressList decodes display names and keeps no raw
 * form, so the structure is parsed here; GMime decodes each name
 * (RFC 2047, 8-bit as UTF-8 or else Latin-1).  The parser is lenient the
 * way mail readers are: CR/LF are white space, comments nest and may stay
 * open, quoted strings may stay open, an address without "@" is a local
 * part without a domain ("undisclosed-recipients"), "<>" is an empty
 * address, stray specials are skipped, a group left open is closed at the
 * end.  A comment names a mailbox that has no display name
 * ("u@example.com (User)").  Local parts and domains are made valid UTF-8
 * (SMTPUTF8 addresses are UTF-8); raw names are kept as bytes.
 */
#include <string.h>

#include "common/xalloc.h"
#include "store/mime_priv.h"

enum tok_kind { T_END, T_WORD, T_QSTR, T_DLIT, T_SPECIAL };

struct lex {
	const char *s;
	size_t n, pos;
	struct buf comment;	/* last comment, unescaped */
};

struct tok {
	enum tok_kind kind;
	char ch;		/* T_SPECIAL */
	struct buf text;	/* T_WORD, T_QSTR (unescaped), T_DLIT */
};

static bool
is_ws(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static bool
is_special(char ch)
{
	return strchr("()<>[]:;@\\,\"", ch) != NULL;
}

/* skip_cfws - white space and comments; the last comment is kept */
static void
skip_cfws(struct lex *l)
{
	while (l->pos < l->n) {
		int depth = 0;

		if (is_ws(l->s[l->pos])) {
			l->pos++;
			continue;
		}
		if (l->s[l->pos] != '(')
			return;
		buf_reset(&l->comment);
		do {
			char ch = l->s[l->pos++];

			if (ch == '\\' && l->pos < l->n)
				ch = l->s[l->pos++];
			else if (ch == '(')
				depth++;
			else if (ch == ')')
				depth--;
			if ((depth > 1 || (depth == 1 && ch != '(')) &&
			    ch != '\r' && ch != '\n')
				buf_add(&l->comment, &ch, 1);
		} while (depth > 0 && l->pos < l->n);
	}
}

static void
next(struct lex *l, struct tok *t)
{
	char ch;

	buf_reset(&t->text);
	skip_cfws(l);
	if (l->pos >= l->n) {
		t->kind = T_END;
		return;
	}
	ch = l->s[l->pos];
	if (ch == '"') {
		t->kind = T_QSTR;
		for (l->pos++; l->pos < l->n && l->s[l->pos] != '"';) {
			ch = l->s[l->pos++];
			if (ch == '\\' && l->pos < l->n)
				ch = l->s[l->pos++];
			if (ch != '\r' && ch != '\n')
				buf_add(&t->text, &ch, 1);
		}
		if (l->pos < l->n)
			l->pos++;
	} else if (ch == '[') {
		t->kind = T_DLIT;
		while (l->pos < l->n) {
			ch = l->s[l->pos++];
			if (!is_ws(ch))
				buf_add(&t->text, &ch, 1);
			if (ch == ']')
				break;
		}
	} else if (is_special(ch) && ch != '\\') {
		t->kind = T_SPECIAL;
		t->ch = ch;
		l->pos++;
	} else {
		t->kind = T_WORD;
		while (l->pos < l->n && !is_ws(l->s[l->pos]) &&
		    (!is_special(l->s[l->pos]) || l->s[l->pos] == '\\')) {
			buf_add(&t->text, &l->s[l->pos], 1);
			l->pos++;
		}
	}
}

static bool
is_sp(const struct tok *t, char ch)
{
	return t->kind == T_SPECIAL && t->ch == ch;
}

struct out {
	struct mime_arena *a;
	GMimeParserOptions *opt;
	struct mime_addr *v;
	uint32_t n, cap;
};

static const char *
clean(struct mime_arena *a, const struct buf *b)
{
	struct buf u = BUF_INIT(0);
	const char *s;

	mime_utf8_append(&u, b->data, b->len);
	s = mime_arena_strndup(a, u.data ? u.data :
	    (const unsigned char *)"", u.len);
	buf_free(&u);
	return s;
}

static void
emit(struct out *o, enum mime_addr_kind kind, const struct buf *name,
    const struct buf *route, const struct buf *local,
    const struct buf *domain)
{
	struct mime_addr *ad;

	if (o->n == o->cap) {
		o->cap = o->cap ? o->cap * 2 : 8;
		o->v = xreallocarray(o->v, o->cap, sizeof(*o->v));
	}
	ad = &o->v[o->n++];
	memset(ad, 0, sizeof(*ad));
	ad->kind = (uint8_t)kind;
	if (name != NULL && name->len > 0) {
		char *dec;

		ad->raw_name = mime_arena_strndup(o->a, name->data, name->len);
		dec = g_mime_utils_header_decode_text(o->opt, ad->raw_name);
		if (dec != NULL) {
			struct buf t = BUF_INIT(0);

			buf_add_str(&t, dec);
			ad->name = clean(o->a, &t);
			buf_free(&t);
			g_free(dec);
		} else {
			ad->name = clean(o->a, name);
		}
	}
	if (route != NULL && route->len > 0)
		ad->route = clean(o->a, route);
	if (kind == MIME_ADDR_MAILBOX) {
		ad->local = clean(o->a, local);
		ad->domain = clean(o->a, domain);
	}
}

/* phrase_add - a word of a display name, words one space apart */
static void
phrase_add(struct buf *phrase, const struct tok *t)
{
	if (phrase->len > 0)
		buf_add_str(phrase, " ");
	buf_add(phrase, t->text.data, t->text.len);
}

/* read_domain - dot-atoms and literals up to a stop special or the end */
static void
read_domain(struct lex *l, struct tok *t, struct buf *domain,
    const char *stops)
{
	while (t->kind != T_END &&
	    !(t->kind == T_SPECIAL && strchr(stops, t->ch) != NULL)) {
		if (t->kind == T_SPECIAL)
			buf_add(domain, &t->ch, 1);
		else
			buf_add(domain, t->text.data, t->text.len);
		next(l, t);
	}
}

/*
 * angle - after '<': [route ":"] local ["@" domain] ">".  Leaves t at
 * the token after '>'.
 */
static void
angle(struct lex *l, struct tok *t, struct buf *route, struct buf *local,
    struct buf *domain)
{
	next(l, t);
	if (is_sp(t, '@')) {
		/* obs-route: "@a,@b:" */
		struct buf r = BUF_INIT(0);
		size_t save = l->pos;

		while (t->kind != T_END && !is_sp(t, ':') && !is_sp(t, '>')) {
			if (t->kind == T_SPECIAL)
				buf_add(&r, &t->ch, 1);
			else
				buf_add(&r, t->text.data, t->text.len);
			next(l, t);
		}
		if (is_sp(t, ':')) {
			buf_add(route, r.data, r.len);
			next(l, t);
		} else {
			l->pos = save;	/* "<@x>": not a route after all */
			buf_reset(route);
			t->kind = T_SPECIAL;
			t->ch = '@';
		}
		buf_free(&r);
	}
	while (t->kind != T_END && !is_sp(t, '@') && !is_sp(t, '>') &&
	    !is_sp(t, ',')) {
		if (t->kind == T_SPECIAL)
			buf_add(local, &t->ch, 1);
		else
			buf_add(local, t->text.data, t->text.len);
		next(l, t);
	}
	if (is_sp(t, '@')) {
		next(l, t);
		read_domain(l, t, domain, ">,");
	}
	if (is_sp(t, '>'))
		next(l, t);
}

void
mime_addr_parse(struct mime_arena *a, GMimeParserOptions *opt,
    const char *raw, struct mime_addr_list *list)
{
	struct lex l = { raw, strlen(raw), 0, BUF_INIT(0) };
	struct out o = { a, opt, NULL, 0, 0 };
	struct tok t = { T_END, 0, BUF_INIT(0) };
	struct buf phrase = BUF_INIT(0), route = BUF_INIT(0);
	struct buf local = BUF_INIT(0), domain = BUF_INIT(0);
	bool in_group = false;

	next(&l, &t);
	while (t.kind != T_END) {
		bool words = false, mailbox = false;

		buf_reset(&phrase);
		buf_reset(&route);
		buf_reset(&local);
		buf_reset(&domain);
		buf_reset(&l.comment);
		if (is_sp(&t, ',')) {
			next(&l, &t);
			continue;
		}
		if (is_sp(&t, ';')) {
			if (in_group)
				emit(&o, MIME_ADDR_GROUP_END, NULL, NULL, NULL,
				    NULL);
			in_group = false;
			next(&l, &t);
			continue;
		}
		/* a display name, or the local part of an addr-spec */
		while (t.kind == T_WORD || t.kind == T_QSTR ||
		    t.kind == T_DLIT) {
			buf_add(&local, t.text.data, t.text.len);
			phrase_add(&phrase, &t);
			words = true;
			next(&l, &t);
		}
		if (is_sp(&t, '<')) {
			buf_reset(&local);
			angle(&l, &t, &route, &local, &domain);
			mailbox = true;
		} else if (is_sp(&t, ':') && !in_group) {
			emit(&o, MIME_ADDR_GROUP, &phrase, NULL, NULL, NULL);
			in_group = true;
			next(&l, &t);
			continue;
		} else if (is_sp(&t, '@')) {
			buf_reset(&phrase);
			next(&l, &t);
			read_domain(&l, &t, &domain, ",;<>:");
			mailbox = true;
		} else if (words) {
			/* no "@": the words are a local part without domain */
			buf_reset(&local);
			buf_add(&local, phrase.data, phrase.len);
			buf_reset(&phrase);
			mailbox = true;
		}
		if (mailbox) {
			/* a comment names a mailbox without a display name */
			emit(&o, MIME_ADDR_MAILBOX, phrase.len ? &phrase :
			    &l.comment, &route, &local, &domain);
		}
		/* skip to the next address */
		while (t.kind != T_END && !is_sp(&t, ',') && !is_sp(&t, ';'))
			next(&l, &t);
	}
	if (in_group)
		emit(&o, MIME_ADDR_GROUP_END, NULL, NULL, NULL, NULL);
	if (o.n > 0) {
		list->v = mime_arena_array(a, o.n, sizeof(*list->v));
		memcpy(list->v, o.v, o.n * sizeof(*list->v));
		list->n = o.n;
	}
	free(o.v);
	buf_free(&t.text);
	buf_free(&l.comment);
	buf_free(&phrase);
	buf_free(&route);
	buf_free(&local);
	buf_free(&domain);
}
