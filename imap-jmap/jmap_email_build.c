/*
 * jmap_email_build.c - a message made from an Email object's structured
 * properties (Email/set create, RFC 8621 4.6), and SearchSnippet/get
 * (RFC 8621 5).
 *
 * The builder covers what mail clients send: from, sender, to, cc, bcc,
 * replyTo, subject, sentAt, messageId, inReplyTo, references,
 * header:Name (asRaw / asText), and a body given as textBody and/or
 * htmlBody of one part each whose partId names a bodyValues entry:
 * text/plain, text/html, or multipart/alternative of both; attachments
 * and bodyStructure are refused (invalidProperties).  Text is UTF-8,
 * sent quoted-printable; header text with 8-bit characters is an RFC
 * 2047 B encoded word; lines are CRLF.
 * XXX attachments (blobId parts) and bodyStructure would need a
 * multipart/mixed writer over the blob store.
 *
 * Snippets: the terms of the filter's text, subject and body conditions
 * (split on white space and punctuation) are marked case-insensitively
 * in the subject and the preview, each <mark>ed occurrence a word that
 * begins with a term, the rest HTML-escaped; subject or preview is null
 * when no term occurs in it (5.1).  Stemming is the index's, not this:
 * a stemmed match may leave the snippet unmarked.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"
#include "store/mime.h"

#define TERMS_MAX 32u

static bool
is_8bit(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80 || *s == '\r' || *s == '\n')
			return true;
	return false;
}

/* hdr_text - unstructured text: as is, or one RFC 2047 B word */
static void
hdr_text(struct buf *out, const char *s)
{
	size_t n = strlen(s);
	unsigned char *b;
	int bl;

	if (!is_8bit(s)) {
		buf_add_str(out, s);
		return;
	}
	b = xmalloc(4 * ((n + 2) / 3) + 1);
	bl = EVP_EncodeBlock(b, (const unsigned char *)s, (int)n);
	buf_add_str(out, "=?UTF-8?B?");
	buf_add(out, b, (size_t)bl);
	buf_add_str(out, "?=");
	free(b);
}

static bool
addr_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= ' ' || *s == '<' || *s == '>' ||
		    *s == ',' || *s == '"' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* addrs - an EmailAddress[] as an address-list; -1 when malformed */
static int
addrs(struct buf *out, json_t *a)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return -1;
	json_array_foreach(a, i, v) {
		json_t *name = json_object_get(v, "name");
		const char *email = json_string_value(json_object_get(v,
		    "email"));

		if (email == NULL || !addr_ok(email) ||
		    (name != NULL && !json_is_null(name) &&
		    !json_is_string(name)))
			return -1;
		if (i > 0)
			buf_add_str(out, ",\r\n ");
		if (json_is_string(name) && json_string_length(name) > 0) {
			const char *n = json_string_value(name);

			if (is_8bit(n))
				hdr_text(out, n);
			else {
				buf_add_str(out, "\"");
				for (; *n != '\0'; n++) {
					if (*n == '"' || *n == '\\')
						buf_add_str(out, "\\");
					buf_add(out, n, 1);
				}
				buf_add_str(out, "\"");
			}
			buf_add_str(out, " ");
		}
		buf_add_str(out, "<");
		buf_add_str(out, email);
		buf_add_str(out, ">");
	}
	return 0;
}

static int
msgids(struct buf *out, json_t *a)
{
	size_t i;
	json_t *v;

	if (!json_is_array(a))
		return -1;
	json_array_foreach(a, i, v) {
		if (!json_is_string(v) || !addr_ok(json_string_value(v)))
			return -1;
		buf_add_str(out, i > 0 ? " <" : "<");
		buf_add_str(out, json_string_value(v));
		buf_add_str(out, ">");
	}
	return 0;
}

/* qp - quoted-printable (RFC 2045 6.7) of UTF-8 text, LF -> CRLF */
static void
qp(struct buf *out, const char *s, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		char e[4];

		if (ch == '\r')
			continue;
		if (ch == '\n') {
			buf_add_str(out, "\r\n");
			col = 0;
			continue;
		}
		if (col >= 72) {
			buf_add_str(out, "=\r\n");
			col = 0;
		}
		if ((ch >= 33 && ch <= 126 && ch != '=') || ((ch == ' ' ||
		    ch == '\t') && i + 1 < n && s[i + 1] != '\n' &&
		    s[i + 1] != '\r')) {
			buf_add(out, &s[i], 1);
			col++;
		} else {
			(void)snprintf(e, sizeof(e), "=%02X", ch);
			buf_add_str(out, e);
			col += 3;
		}
	}
	buf_add_str(out, "\r\n");
}

/* one_part - the bodyValues text of a one-part list, or NULL */
static const char *
one_part(json_t *obj, const char *list, json_t **seterr_r)
{
	json_t *l = json_object_get(obj, list), *p, *bv, *val;
	const char *pid;

	if (l == NULL)
		return "";
	if (!json_is_array(l) || json_array_size(l) != 1) {
		*seterr_r = jmap_set_error_props(list, "one part only");
		return NULL;
	}
	p = json_array_get(l, 0);
	pid = json_string_value(json_object_get(p, "partId"));
	bv = json_object_get(json_object_get(obj, "bodyValues"), pid != NULL ?
	    pid : "");
	val = json_object_get(bv, "value");
	if (!json_is_string(val)) {
		*seterr_r = jmap_set_error_props(list, "partId must name a "
		    "bodyValues entry");
		return NULL;
	}
	return json_string_value(val);
}

static void
boundary(char out[40])
{
	unsigned char r[12];

	if (RAND_bytes(r, sizeof(r)) != 1)
		memset(r, 0x5a, sizeof(r));
	(void)snprintf(out, 40, "=_%02x%02x%02x%02x%02x%02x%02x%02x%02x%02x"
	    "%02x%02x", r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
	    r[9], r[10], r[11]);
}

static const struct {
	const char *prop, *field;
	int kind;	/* 0 addresses, 1 text, 2 msgids, 3 date */
} fields[] = {
	{ "from", "From", 0 }, { "sender", "Sender", 0 },
	{ "replyTo", "Reply-To", 0 }, { "to", "To", 0 }, { "cc", "Cc", 0 },
	{ "bcc", "Bcc", 0 }, { "subject", "Subject", 1 },
	{ "messageId", "Message-ID", 2 }, { "inReplyTo", "In-Reply-To", 2 },
	{ "references", "References", 2 }, { "sentAt", "Date", 3 },
};

static const char *const ok_props[] = { "mailboxIds", "keywords",
	"receivedAt", "textBody", "htmlBody", "bodyValues", NULL };

int
jmap_email_build(struct jmap_call *c, json_t *obj, struct buf *out,
    json_t **seterr_r, struct buf *err)
{
	const char *text, *html, *k;
	json_t *v;
	char b[40], d[64];
	bool has_date = false;

	(void)c;
	(void)err;
	json_object_foreach(obj, k, v) {
		bool known = false;

		for (size_t i = 0; ok_props[i] != NULL; i++)
			known |= strcmp(ok_props[i], k) == 0;
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			known |= strcmp(fields[i].prop, k) == 0;
		if (strncmp(k, "header:", 7) == 0) {
			struct jmap_hprop hp;

			known = jmap_hprop_parse(k, strlen(k), &hp) == 0 &&
			    !hp.all && (hp.form == JMAP_HF_RAW ||
			    hp.form == JMAP_HF_TEXT) && json_is_string(v) &&
			    strcasecmp(hp.name, "Content-Type") != 0 &&
			    strcasecmp(hp.name, "Content-Transfer-Encoding") !=
			    0 && strcasecmp(hp.name, "MIME-Version") != 0;
		}
		if (!known) {
			*seterr_r = jmap_set_error_props(k, "cannot be set on "
			    "create here");
			return 0;
		}
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		int bad = 0;

		v = json_object_get(obj, fields[i].prop);
		if (v == NULL || json_is_null(v))
			continue;
		buf_add_str(out, fields[i].field);
		buf_add_str(out, ": ");
		switch (fields[i].kind) {
		case 0:
			bad = addrs(out, v);
			break;
		case 1:
			bad = json_is_string(v) ? (hdr_text(out,
			    json_string_value(v)), 0) : -1;
			break;
		case 2:
			bad = msgids(out, v);
			break;
		default: {
			int64_t t;
			char loc[JMAP_DATE_MAX];
			struct tm tm;
			time_t tt;

			bad = json_is_string(v) ? jmap_date_parse(
			    json_string_value(v), &t) : -1;
			if (bad == 0) {
				tt = (time_t)t;
				(void)gmtime_r(&tt, &tm);
				(void)strftime(d, sizeof(d),
				    "%a, %d %b %Y %H:%M:%S +0000", &tm);
				buf_add_str(out, d);
				has_date = true;
			}
			(void)loc;
			break;
		}
		}
		if (bad) {
			*seterr_r = jmap_set_error_props(fields[i].prop,
			    "malformed");
			return 0;
		}
		buf_add_str(out, "\r\n");
	}
	json_object_foreach(obj, k, v) {
		struct jmap_hprop hp;

		if (strncmp(k, "header:", 7) != 0 ||
		    jmap_hprop_parse(k, strlen(k), &hp) < 0)
			continue;
		if (strchr(json_string_value(v), '\n') != NULL &&
		    hp.form != JMAP_HF_RAW) {
			*seterr_r = jmap_set_error_props(k, "malformed");
			return 0;
		}
		buf_add_str(out, hp.name);
		buf_add_str(out, ":");
		if (hp.form == JMAP_HF_TEXT) {
			buf_add_str(out, " ");
			hdr_text(out, json_string_value(v));
		} else {
			buf_add_str(out, json_string_value(v));
		}
		buf_add_str(out, "\r\n");
	}
	if (!has_date) {
		time_t now = time(NULL);
		struct tm tm;

		(void)gmtime_r(&now, &tm);
		(void)strftime(d, sizeof(d), "Date: %a, %d %b %Y %H:%M:%S "
		    "+0000\r\n", &tm);
		buf_add_str(out, d);
	}
	buf_add_str(out, "MIME-Version: 1.0\r\n");
	if ((text = one_part(obj, "textBody", seterr_r)) == NULL ||
	    (html = one_part(obj, "htmlBody", seterr_r)) == NULL)
		return 0;
	if (json_object_get(obj, "htmlBody") == NULL) {
		buf_add_str(out, "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		qp(out, text, strlen(text));
		return 1;
	}
	if (json_object_get(obj, "textBody") == NULL) {
		buf_add_str(out, "Content-Type: text/html; charset=utf-8\r\n"
		    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
		qp(out, html, strlen(html));
		return 1;
	}
	boundary(b);
	buf_addf(out, "Content-Type: multipart/alternative; boundary=\"%s\""
	    "\r\n\r\n--%s\r\nContent-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", b, b);
	qp(out, text, strlen(text));
	buf_addf(out, "--%s\r\nContent-Type: text/html; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n", b);
	qp(out, html, strlen(html));
	buf_addf(out, "--%s--\r\n", b);
	return 1;
}

/* ---- SearchSnippet/get ---- */

struct terms {
	char *v[TERMS_MAX];
	size_t n;
};

static void
terms_add_text(struct terms *t, const char *s)
{
	while (*s != '\0' && t->n < TERMS_MAX) {
		size_t n = 0;

		while (*s != '\0' && !isalnum((unsigned char)*s) &&
		    (unsigned char)*s < 0x80)
			s++;
		while (s[n] != '\0' && (isalnum((unsigned char)s[n]) ||
		    (unsigned char)s[n] >= 0x80))
			n++;
		if (n > 0) {
			struct buf b = BUF_INIT(0);

			buf_add(&b, s, n);
			t->v[t->n++] = buf_steal(&b, NULL);
		}
		s += n;
	}
}

static void
terms_collect(struct terms *t, json_t *f)
{
	static const char *const keys[] = { "text", "subject", "body", NULL };
	json_t *conds, *v;
	size_t i;

	if (!json_is_object(f))
		return;
	if (json_object_get(f, "operator") != NULL) {
		const char *op = json_string_value(json_object_get(f,
		    "operator"));

		if (op != NULL && strcmp(op, "NOT") == 0)
			return;		/* terms that must not occur */
		conds = json_object_get(f, "conditions");
		json_array_foreach(conds, i, v)
			terms_collect(t, v);
		return;
	}
	for (i = 0; keys[i] != NULL; i++)
		if (json_is_string(v = json_object_get(f, keys[i])))
			terms_add_text(t, json_string_value(v));
}

static const struct jmap_arg snippet_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "filter", JMAP_ARG_OBJECT, JMAP_ARG_NULL },
	{ "emailIds", JMAP_ARG_IDS, JMAP_ARG_REQUIRED },
	{ NULL, 0, 0 },
};

int
jmap_snippet_get(struct jmap_call *c, struct buf *err)
{
	struct mail *m = c->ctx->env->st->mail;
	struct terms t;
	json_t *ids, *list, *nf, *v;
	size_t i;
	int ret = 0;

	if (jmap_args_check(c, snippet_args, NULL) < 0)
		return 0;
	ids = jmap_arg_get(c, "emailIds");
	if (json_array_size(ids) > c->ctx->env->lim.max_objects_in_get) {
		jmap_error(c, "requestTooLarge", "more than maxObjectsInGet");
		return 0;
	}
	memset(&t, 0, sizeof(t));
	terms_collect(&t, jmap_arg_get(c, "filter"));
	list = json_array();
	nf = json_array();
	json_array_foreach(ids, i, v) {
		struct mime_info *info = NULL;
		uint32_t n;
		int r = 0;
		char *subj, *prev;

		if (jmap_id_resolve(c, 'M', json_string_value(v), &n) == 0)
			r = mail_email_mime(m, c->acct, n, &info, err);
		if (r < 0) {
			ret = -1;
			break;
		}
		if (r == 0) {
			json_array_append(nf, v);
			continue;
		}
		subj = jmap_snippet_mark(info->hdr.subject != NULL ?
		    info->hdr.subject : "", t.v, t.n);
		prev = jmap_snippet_mark(info->preview != NULL ? info->preview :
		    "", t.v, t.n);
		json_array_append_new(list, json_pack("{s:O,s:s?,s:s?}",
		    "emailId", v, "subject", subj, "preview", prev));
		free(subj);
		free(prev);
		mime_info_free(&info);
	}
	for (i = 0; i < t.n; i++)
		free(t.v[i]);
	if (ret < 0) {
		json_decref(list);
		json_decref(nf);
		return -1;
	}
	jmap_reply(c, json_pack("{s:s,s:o,s:o}", "accountId",
	    c->ctx->account_id, "list", list, "notFound",
	    json_array_size(nf) ? nf : (json_decref(nf), json_null())));
	return 0;
}
