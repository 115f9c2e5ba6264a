/*
 * mime_jmap.c - JMAP Mail's derived properties (RFC 8621 4.1.4): the
 * textBody, htmlBody and attachments lists, hasAttachment and preview;
 * and the RFC 5256 2.1 base subject that threading and ORDEREDSUBJECT
 * sort on.
 *
 * JMAP sees the tree down to message/rfc822 parts, which are leaves.
 * The lists follow the parseStructure() algorithm of RFC 8621 4.1.4 step
 * by step (including its local nulling of a list inside an alternative).
 *
 * hasAttachment: some leaf has Content-Disposition attachment, or is not
 * text, not an inline image/audio/video (one with disposition inline
 * or with a Content-ID: embedded in the HTML), and not the signature of
 * a multipart/signed (RFC 1847) part.
 *
 * preview: the text of the textBody parts (text/html stripped), white
 * space collapsed to single spaces, cut at max_preview characters
 * (Unicode code points) - RFC 8621 allows 256.
 *
 * The base subject is kept with its case (the comparator folds it).
 */
#include <string.h>

#include "common/subject.h"
#include "common/xalloc.h"
#include "store/mime_priv.h"

struct plist {
	uint32_t *v;
	uint32_t n, cap;
};

static void
plist_add(struct plist *l, uint32_t i)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = i;
}

static bool
is_inline_media(const struct mime_part *p)
{
	return strcmp(p->type, "image") == 0 || strcmp(p->type, "audio") == 0 ||
	    strcmp(p->type, "video") == 0;
}

static bool
is_attachment_dsp(const struct mime_part *p)
{
	return p->disposition != NULL &&
	    strcmp(p->disposition, "attachment") == 0;
}

/* parse - RFC 8621 4.1.4 parseStructure() over parts kids[0..n) */
static void
parse(struct mime_ctx *c, const uint32_t *kids, uint32_t n,
    const char *mtype, bool in_alt, struct plist *html, struct plist *text,
    struct plist *att)
{
	int64_t text_len = text ? (int64_t)text->n : -1;
	int64_t html_len = html ? (int64_t)html->n : -1;
	bool alt = strcmp(mtype, "alternative") == 0;

	for (uint32_t i = 0; i < n; i++) {
		const struct mime_part *p = &c->parts[kids[i]];
		bool plain = mime_is_type(p, "text", "plain");
		bool htm = mime_is_type(p, "text", "html");
		bool is_inline = !is_attachment_dsp(p) &&
		    (plain || htm || is_inline_media(p)) &&
		    (i == 0 || (strcmp(mtype, "related") != 0 &&
		    (is_inline_media(p) || p->name == NULL)));

		if (p->kind == MIME_MULTIPART) {
			struct plist sub = { NULL, 0, 0 };
			uint32_t k = kids[i];

			for (uint32_t j = k + 1; j < p->next;
			    j = c->parts[j].next)
				plist_add(&sub, j);
			parse(c, sub.v, sub.n, p->subtype, in_alt ||
			    strcmp(p->subtype, "alternative") == 0, html, text,
			    att);
			free(sub.v);
		} else if (is_inline) {
			if (alt) {
				struct plist *to = plain ? text : htm ? html :
				    att;

				/* the RFC's code would push to a list an
				 * enclosing alternative nulled; drop it */
				if (to != NULL)
					plist_add(to, kids[i]);
				continue;
			} else if (in_alt) {
				if (plain)
					html = NULL;
				if (htm)
					text = NULL;
			}
			if (text != NULL)
				plist_add(text, kids[i]);
			if (html != NULL)
				plist_add(html, kids[i]);
			if ((text == NULL || html == NULL) &&
			    is_inline_media(p))
				plist_add(att, kids[i]);
		} else {
			plist_add(att, kids[i]);
		}
	}
	if (alt && text != NULL && html != NULL) {
		/* only HTML found: it is the text too, and the other way */
		if (text_len == (int64_t)text->n &&
		    html_len != (int64_t)html->n) {
			for (uint32_t j = (uint32_t)html_len; j < html->n; j++)
				plist_add(text, html->v[j]);
		}
		if (html_len == (int64_t)html->n &&
		    text_len != (int64_t)text->n) {
			for (uint32_t j = (uint32_t)text_len; j < text->n; j++)
				plist_add(html, text->v[j]);
		}
	}
}

static void
to_info(struct mime_ctx *c, const struct plist *l, struct mime_partlist *o)
{
	o->n = l->n;
	o->v = mime_arena_array(c->a, l->n, sizeof(*o->v));
	if (l->n > 0)
		memcpy(o->v, l->v, l->n * sizeof(*o->v));
}

static bool
is_signature(const struct mime_ctx *c, const struct mime_part *p)
{
	const struct mime_part *parent;

	if (p->parent == MIME_NONE)
		return false;
	parent = &c->parts[p->parent];
	return mime_is_type(parent, "multipart", "signed") &&
	    strcmp(p->type, "application") == 0 &&
	    (strcmp(p->subtype, "pgp-signature") == 0 ||
	    strcmp(p->subtype, "pkcs7-signature") == 0 ||
	    strcmp(p->subtype, "x-pkcs7-signature") == 0);
}

static bool
counts_as_attachment(const struct mime_ctx *c, const struct mime_part *p)
{
	if (is_attachment_dsp(p))
		return true;
	if (strcmp(p->type, "text") == 0)
		return false;
	if (is_inline_media(p) && ((p->disposition != NULL &&
	    strcmp(p->disposition, "inline") == 0) || p->cid != NULL))
		return false;
	return !is_signature(c, p);
}

void
mime_jmap_lists(struct mime_ctx *c)
{
	struct plist html = { NULL, 0, 0 }, text = { NULL, 0, 0 };
	struct plist att = { NULL, 0, 0 };
	uint32_t root = 0;

	parse(c, &root, 1, "mixed", false, &html, &text, &att);
	to_info(c, &text, &c->info->text_body);
	to_info(c, &html, &c->info->html_body);
	to_info(c, &att, &c->info->attachments);
	free(html.v);
	free(text.v);
	free(att.v);
	for (uint32_t i = 0; i < c->nparts;) {
		const struct mime_part *p = &c->parts[i];

		if (p->kind != MIME_MULTIPART &&
		    counts_as_attachment(c, p)) {
			c->info->has_attachment = true;
			break;
		}
		/* JMAP does not look inside a message/rfc822 part */
		i = p->kind == MIME_MESSAGE ? p->next : i + 1;
	}
}

static bool
is_space_at(const unsigned char *s, size_t n, size_t *len_r)
{
	if (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r' ||
	    s[0] == '\f' || s[0] == '\v') {
		*len_r = 1;
		return true;
	}
	if (n >= 2 && s[0] == 0xc2 && s[1] == 0xa0) {	/* no-break space */
		*len_r = 2;
		return true;
	}
	return false;
}

void
mime_jmap_preview(struct mime_ctx *c, const size_t *text_off,
    const size_t *text_len)
{
	const unsigned char *t = (const unsigned char *)c->info->text;
	struct buf b = BUF_INIT(0);
	size_t chars = 0, max = c->lim.max_preview;
	bool pending = false;

	for (uint32_t k = 0; k < c->info->text_body.n && chars < max; k++) {
		uint32_t i = c->info->text_body.v[k];
		const unsigned char *s = t + text_off[i];
		size_t n = text_len[i];

		for (size_t j = 0; j < n && chars < max;) {
			size_t l = 1;

			if (is_space_at(s + j, n - j, &l)) {
				pending = b.len > 0;
				j += l;
				continue;
			}
			if (pending) {
				buf_add_str(&b, " ");
				pending = false;
				if (++chars >= max)
					break;
			}
			while (j + l < n && (s[j + l] & 0xc0) == 0x80)
				l++;
			buf_add(&b, s + j, l);
			chars++;
			j += l;
		}
		pending = b.len > 0;
	}
	while (b.len > 0 && b.data[b.len - 1] == ' ')
		buf_truncate(&b, b.len - 1);
	c->info->preview = mime_arena_strndup(c->a, b.data ? b.data :
	    (const unsigned char *)"", b.len);
	buf_free(&b);
}

char *
mime_base_subject(struct mime_arena *a, const char *subject)
{
	struct buf b = BUF_INIT(0);
	bool refwd;
	char *out;

	subject_base(subject, strlen(subject), &b, &refwd);
	out = mime_arena_strndup(a, b.data != NULL ? (const char *)b.data :
	    "", b.len);
	buf_free(&b);
	return out;
}
