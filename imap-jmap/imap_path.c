/*
 * imap_path.c - mailbox paths as IMAP sees them, over the store's tree
 * of one-level names (RFC 9051 5.1, 6.3.9): splitting a path into
 * levels, LIST patterns, and the account's mailbox tree with full paths,
 * children and special-use attributes.  Pure: no I/O.
 *
 * Decisions:
 *   - The hierarchy separator is "/" (IMAP_DELIM).  A store name that
 *     holds it (JMAP allows any name) cannot be named over IMAP: that
 *     mailbox and its descendants are left out of LIST (XXX an escape,
 *     as Dovecot's "mailbox name escape char", would show them).
 *   - INBOX is the top-level "INBOX", in any case, also as the first
 *     level of a longer path ("inbox/x" is "INBOX/x").
 *   - LIST order: INBOX first, then the other paths in byte order (a
 *     parent before its children), which clients display as is.
 *   - Pattern matching is a dynamic program over pattern x name,
 *     O(len(pat) * len(name)) time and O(len(name)) memory: no
 *     backtracking blow-up whatever the wildcards.
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

void
imap_levels_free(struct imap_levels *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->lv[i]);
	free(l->lv);
	l->lv = NULL;
	l->n = 0;
}

static bool
is_inbox(const char *p, size_t len)
{
	return ascii_eq_nocase(p, len, "INBOX");
}

int
imap_path_split(const char *path, size_t len, bool trailing_ok,
    struct imap_levels *out, const char **why_r)
{
	size_t start = 0, cap = 0;

	memset(out, 0, sizeof(*out));
	if (trailing_ok && len > 1 && path[len - 1] == IMAP_DELIM)
		len--;
	if (len == 0) {
		*why_r = "Empty mailbox name";
		return -1;
	}
	if (len > IMAP_PATH_MAX) {
		*why_r = "Mailbox name too long";
		return -1;
	}
	for (size_t i = 0; i <= len; i++) {
		size_t n;

		if (i < len && path[i] != IMAP_DELIM) {
			unsigned char c = (unsigned char)path[i];

			if (c < 0x20 || c == 0x7f) {
				*why_r = "Control character in mailbox name";
				goto bad;
			}
			if (c == '*' || c == '%') {
				*why_r = "Wildcard in mailbox name";
				goto bad;
			}
			continue;
		}
		n = i - start;
		if (n == 0) {
			*why_r = "Empty level in mailbox name";
			goto bad;
		}
		if (n > MAIL_NAME_MAX) {
			*why_r = "Mailbox name level too long";
			goto bad;
		}
		if (out->n == MAIL_DEPTH_MAX) {
			*why_r = "Mailbox hierarchy too deep";
			goto bad;
		}
		if (out->n == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			out->lv = xreallocarray(out->lv, cap, sizeof(*out->lv));
		}
		out->lv[out->n] = out->n == 0 && is_inbox(path, n) ?
		    xstrdup("INBOX") : xmemdup0(path + start, n);
		out->n++;
		start = i + 1;
	}
	return 0;
bad:
	imap_levels_free(out);
	return -1;
}

void
imap_list_pattern(const char *ref, size_t rlen, const char *pat,
    size_t plen, struct buf *out)
{
	if (plen > 0 && pat[0] == IMAP_DELIM) {
		/* an absolute pattern: our one namespace has no prefix */
		buf_add(out, pat + 1, plen - 1);
		return;
	}
	buf_add(out, ref, rlen);
	buf_add(out, pat, plen);
}

/* inbox_prefix - the length of a leading INBOX level of s (any case), 0 */
static size_t
inbox_prefix(const char *s, size_t len)
{
	if (len >= 5 && is_inbox(s, 5) && (len == 5 || s[5] == IMAP_DELIM))
		return 5;
	return 0;
}

bool
imap_list_match(const char *pat, size_t plen, const char *name, size_t nlen)
{
	/* m[j]: pat[0..i) matches name[0..j), row by row over i */
	bool *m = xcalloc(nlen + 1, sizeof(*m));
	const char *sep = memchr(pat, IMAP_DELIM, plen);
	/* the pattern's first level meets INBOX in any case ("inb*") */
	size_t pin = sep != NULL ? (size_t)(sep - pat) : plen;
	size_t nin = inbox_prefix(name, nlen);
	bool ok;

	m[0] = true;
	for (size_t i = 0; i < plen; i++) {
		char c = pat[i];

		if (c == '*' || c == '%') {
			/* m[j] |= m[j - 1] while the name char may be eaten */
			for (size_t j = 1; j <= nlen; j++)
				if (!m[j] && m[j - 1] &&
				    (c == '*' || name[j - 1] != IMAP_DELIM))
					m[j] = true;
			continue;
		}
		for (size_t j = nlen; j > 0; j--) {
			char d = name[j - 1];
			/* INBOX's letters match in any case */
			bool same = c == d || (i < pin && j - 1 < nin &&
			    ascii_tolower((unsigned char)c) ==
			    ascii_tolower((unsigned char)d));

			m[j] = m[j - 1] && same;
		}
		m[0] = false;
	}
	ok = m[nlen];
	free(m);
	return ok;
}

/* ---- the tree ---- */

const char *
imap_role_attr(enum mail_role role)
{
	switch (role) {
	case MAIL_ROLE_SENT:
		return "\\Sent";
	case MAIL_ROLE_DRAFTS:
		return "\\Drafts";
	case MAIL_ROLE_TRASH:
		return "\\Trash";
	case MAIL_ROLE_JUNK:
		return "\\Junk";
	case MAIL_ROLE_ARCHIVE:
		return "\\Archive";
	case MAIL_ROLE_NONE:
	case MAIL_ROLE_INBOX:
		break;
	}
	return NULL;
}

int
imap_use_role(unsigned use_bit)
{
	switch (use_bit) {
	case IMAP_USE_SENT:
		return MAIL_ROLE_SENT;
	case IMAP_USE_DRAFTS:
		return MAIL_ROLE_DRAFTS;
	case IMAP_USE_TRASH:
		return MAIL_ROLE_TRASH;
	case IMAP_USE_JUNK:
		return MAIL_ROLE_JUNK;
	case IMAP_USE_ARCHIVE:
		return MAIL_ROLE_ARCHIVE;
	default:
		return -1;	/* \All, \Flagged, \Important: virtual */
	}
}

void
imap_tree_add(struct imap_tree *t, const struct mail_mailbox *mb)
{
	struct imap_node *n;

	if (t->n == t->cap) {
		t->cap = t->cap == 0 ? 16 : t->cap * 2;
		t->v = xreallocarray(t->v, t->cap, sizeof(*t->v));
	}
	n = &t->v[t->n++];
	memset(n, 0, sizeof(*n));
	n->mb = *mb;
	n->mb.name = xstrdup(mb->name);
}

static int
cmp_id(const void *a, const void *b)
{
	uint32_t x = ((const struct imap_node *)a)->mb.id;
	uint32_t y = ((const struct imap_node *)b)->mb.id;

	return x < y ? -1 : x > y;
}

static struct imap_node *
by_id(struct imap_tree *t, uint32_t id)
{
	struct imap_node key;

	if (t->n == 0)
		return NULL;
	key.mb.id = id;
	return bsearch(&key, t->v, t->n, sizeof(*t->v), cmp_id);
}

/*
 * make_path - the node's full path, from its parent's (made first); a
 * depth guard keeps a corrupt parent cycle from recursing for ever
 */
static const char *
make_path(struct imap_tree *t, struct imap_node *n, unsigned depth,
    bool *done)
{
	struct imap_node *p;
	const char *pp;
	struct buf b = BUF_INIT(0);
	size_t i = (size_t)(n - t->v);

	if (done[i])
		return n->path;
	done[i] = true;
	if (strchr(n->mb.name, IMAP_DELIM) != NULL || depth > MAIL_DEPTH_MAX)
		return NULL;
	if (n->mb.parent == 0) {
		n->path = xstrdup(n->mb.name);
		return n->path;
	}
	p = by_id(t, n->mb.parent);
	if (p == NULL || (pp = make_path(t, p, depth + 1, done)) == NULL)
		return NULL;
	buf_addf(&b, "%s%c%s", pp, IMAP_DELIM, n->mb.name);
	if (b.len > IMAP_PATH_MAX) {
		buf_free(&b);
		return NULL;
	}
	n->path = buf_steal(&b, NULL);
	return n->path;
}

static int
cmp_path(const void *a, const void *b)
{
	const struct imap_node *x = a, *y = b;
	bool xi, yi;

	/* unreachable ones last (they are not listed) */
	if (x->path == NULL || y->path == NULL)
		return (x->path == NULL) - (y->path == NULL);
	xi = strcmp(x->path, "INBOX") == 0;
	yi = strcmp(y->path, "INBOX") == 0;
	if (xi || yi)
		return yi - xi;
	return strcmp(x->path, y->path);
}

void
imap_tree_finish(struct imap_tree *t)
{
	bool *done;

	if (t->n == 0)
		return;
	done = xcalloc(t->n, sizeof(*done));
	qsort(t->v, t->n, sizeof(*t->v), cmp_id);
	for (size_t i = 0; i < t->n; i++)
		(void)make_path(t, &t->v[i], 0, done);
	for (size_t i = 0; i < t->n; i++) {
		struct imap_node *n = &t->v[i], *p;
		unsigned depth = 0;

		if (n->path == NULL)
			continue;
		if ((p = by_id(t, n->mb.parent)) != NULL)
			p->has_children = true;
		/* every ancestor learns of a subscribed descendant */
		for (p = by_id(t, n->mb.parent); n->mb.subscribed && p != NULL &&
		    depth++ <= MAIL_DEPTH_MAX; p = by_id(t, p->mb.parent))
			p->sub_below = true;
	}
	free(done);
	qsort(t->v, t->n, sizeof(*t->v), cmp_path);
	/* no bsearch by id from here: the order is by path */
}

void
imap_tree_free(struct imap_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		mail_mailbox_clear(&t->v[i].mb);
		free(t->v[i].path);
	}
	free(t->v);
	memset(t, 0, sizeof(*t));
}

const struct imap_node *
imap_tree_find(const struct imap_tree *t, const char *path)
{
	size_t len = strlen(path), in = inbox_prefix(path, len);

	for (size_t i = 0; i < t->n; i++) {
		const char *p = t->v[i].path;

		if (p == NULL || strlen(p) != len)
			continue;
		if (in > 0 ? (strncmp(p, "INBOX", 5) == 0 &&
		    strcmp(p + 5, path + 5) == 0) : strcmp(p, path) == 0)
			return &t->v[i];
	}
	return NULL;
}
