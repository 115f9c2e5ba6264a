/*
 * jmap_email.c - the Email object (RFC 8621 4.1) and Email/get (4.2),
 * Email/changes (4.3), the method table of every Email method.
 *
 * An Email is built from what delivery stored (store/mime.h: the header
 * summary, preview, hasAttachment and the textBody/htmlBody/attachments
 * lists, the parts with their offsets) and from the email record
 * (mailboxIds, keywords, size, receivedAt, thread).  The raw message is
 * read from the blob store only when a property needs its bytes:
 * headers, header:..., bodyValues, and body parts' headers.
 *
 * Ids: an email is "M" + its number and a thread "T" + its number, the
 * EMAILID and THREADID IMAP sends (RFC 8474 5.1 wants them equal), so
 * Email ids share the letter of Mailbox ids: ids are only unique per
 * type (RFC 8620 1.2).  blobId is "R" + the email number (jmap_blob.c).
 *
 * Body parts: partId is the part's index in the stored pre-order part
 * array (mime.h), so bodyValues and textBody agree without a table; a
 * leaf's blobId is "P" + email + "." + partId, downloaded
 * transfer-decoded (jmap_email_part_content, called by jmap_blob.c).
 *
 * Keywords: the system flags map to $seen, $answered, $flagged, $draft,
 * $forwarded, $junk, $notjunk; IMAP's \Deleted has no keyword and is
 * not shown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"
#include "store/mime.h"

#define BODY_VALUE_MAX (16u * 1024 * 1024)	/* bytes of one bodyValue */

static const char *const email_props[] = {
	"id", "blobId", "threadId", "mailboxIds", "keywords", "size",
	"receivedAt", "messageId", "inReplyTo", "references", "sender",
	"from", "to", "cc", "bcc", "replyTo", "subject", "sentAt",
	"hasAttachment", "preview", "bodyValues", "textBody", "htmlBody",
	"attachments", "headers", "bodyStructure", NULL,
};

/* the default properties of Email/get (4.2) */
static const char *const default_props[] = {
	"id", "blobId", "threadId", "mailboxIds", "keywords", "size",
	"receivedAt", "messageId", "inReplyTo", "references", "sender",
	"from", "to", "cc", "bcc", "replyTo", "subject", "sentAt",
	"hasAttachment", "preview", "bodyValues", "textBody", "htmlBody",
	"attachments", NULL,
};

static const char *const body_props_all[] = {
	"partId", "blobId", "size", "headers", "name", "type", "charset",
	"disposition", "cid", "language", "location", "subParts", NULL,
};

static const char *const body_props_default[] = {
	"partId", "blobId", "size", "name", "type", "charset",
	"disposition", "cid", "language", "location", NULL,
};

static const struct {
	uint32_t flag;
	const char *kw;
} sys_kw[] = {
	{ MAIL_F_SEEN, "$seen" }, { MAIL_F_ANSWERED, "$answered" },
	{ MAIL_F_FLAGGED, "$flagged" }, { MAIL_F_DRAFT, "$draft" },
	{ MAIL_F_FORWARDED, "$forwarded" }, { MAIL_F_JUNK, "$junk" },
	{ MAIL_F_NOTJUNK, "$notjunk" },
};

static bool
want_has(const json_t *want, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(want, i, v)
		if (strcmp(json_string_value(v), name) == 0)
			return true;
	return false;
}

json_t *
jmap_email_keywords_json(uint32_t flags, char *const *kw, size_t n)
{
	json_t *o = json_object();

	for (size_t i = 0; i < sizeof(sys_kw) / sizeof(sys_kw[0]); i++)
		if (flags & sys_kw[i].flag)
			json_object_set_new(o, sys_kw[i].kw, json_true());
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, kw[i], json_true());
	return o;
}

bool
jmap_email_needs_raw(const json_t *want, const struct jmap_email_opts *o)
{
	size_t i;
	json_t *v;
	bool part_hdrs = false;

	if (o->body_props != NULL) {
		json_array_foreach(o->body_props, i, v)
			if (strcmp(json_string_value(v), "headers") == 0 ||
			    strncmp(json_string_value(v), "header:", 7) == 0)
				part_hdrs = true;
	}
	json_array_foreach(want, i, v) {
		const char *s = json_string_value(v);

		if (strcmp(s, "headers") == 0 || strncmp(s, "header:", 7) == 0)
			return true;
		if (strcmp(s, "bodyValues") == 0 &&
		    (o->fetch_text || o->fetch_html || o->fetch_all))
			return true;
		if (part_hdrs && (strcmp(s, "bodyStructure") == 0 ||
		    strcmp(s, "textBody") == 0 || strcmp(s, "htmlBody") == 0 ||
		    strcmp(s, "attachments") == 0))
			return true;
	}
	return false;
}

/* ---- body parts (4.1.4) ---- */

struct build {
	const struct mail_email *em;
	const struct mime_info *info;
	const unsigned char *msg;
	size_t len;
	const json_t *body_props;	/* NULL: the default */
};

static bool
bp_wants(const struct build *b, const char *name)
{
	if (b->body_props == NULL)
		return jmap_in_list(body_props_default, name);
	return want_has(b->body_props, name);
}

/* part_hdr - the header block of part i in the raw message */
static bool
part_hdr(const struct build *b, uint32_t i, const unsigned char **h_r,
    size_t *len_r)
{
	const struct mime_part *p = &b->info->parts[i];

	if (b->msg == NULL || p->body_start > b->len ||
	    p->hdr_start > p->body_start)
		return false;
	*h_r = b->msg + p->hdr_start;
	*len_r = (size_t)(p->body_start - p->hdr_start);
	return true;
}

static json_t *
languages(const char *raw)
{
	json_t *a;
	const char *p = raw;

	if (raw == NULL)
		return json_null();
	a = json_array();
	while (*p != '\0') {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, " \t,");
		if (n > 0)
			json_array_append_new(a, json_stringn(p, n));
		p += n;
	}
	return a;
}

static json_t *
part_json(const struct build *b, uint32_t i)
{
	const struct mime_part *p = &b->info->parts[i];
	json_t *o = json_object(), *v;
	bool multi = p->kind == MIME_MULTIPART;
	char s[64];
	const unsigned char *h;
	size_t hl;

	if (bp_wants(b, "partId"))
		json_object_set_new(o, "partId", multi ? json_null() :
		    json_sprintf("%u", i));
	if (bp_wants(b, "blobId")) {
		if (multi || b->em == NULL)
			v = json_null();
		else {
			(void)snprintf(s, sizeof(s), "P%u.%u", b->em->id, i);
			v = json_string(s);
		}
		json_object_set_new(o, "blobId", v);
	}
	if (bp_wants(b, "size"))
		json_object_set_new(o, "size", json_integer(multi ? 0 :
		    (json_int_t)p->decoded_size));
	if (bp_wants(b, "headers"))
		json_object_set_new(o, "headers", part_hdr(b, i, &h, &hl) ?
		    jmap_headers_json(h, hl) : json_array());
	if (b->body_props != NULL) {
		size_t k;
		json_t *bp;

		json_array_foreach(b->body_props, k, bp) {
			struct jmap_hprop hp;
			const char *name = json_string_value(bp);

			if (jmap_hprop_parse(name, strlen(name), &hp) < 0)
				continue;
			json_object_set_new(o, name, part_hdr(b, i, &h, &hl) ?
			    jmap_header_prop(&hp, h, hl) : json_null());
		}
	}
	if (bp_wants(b, "name"))
		json_object_set_new(o, "name", p->name != NULL ?
		    json_string(p->name) : json_null());
	if (bp_wants(b, "type"))
		json_object_set_new(o, "type", json_sprintf("%s/%s", p->type,
		    p->subtype));
	if (bp_wants(b, "charset")) {
		if (p->charset != NULL)
			v = json_string(p->charset);
		else if (strcmp(p->type, "text") == 0)
			v = json_string("us-ascii");	/* RFC 2046 4.1.2 */
		else
			v = json_null();
		json_object_set_new(o, "charset", v);
	}
	if (bp_wants(b, "disposition"))
		json_object_set_new(o, "disposition", p->disposition != NULL ?
		    json_string(p->disposition) : json_null());
	if (bp_wants(b, "cid"))
		json_object_set_new(o, "cid", p->cid != NULL ?
		    json_string(p->cid) : json_null());
	if (bp_wants(b, "language"))
		json_object_set_new(o, "language", languages(p->language));
	if (bp_wants(b, "location"))
		json_object_set_new(o, "location", p->location != NULL ?
		    json_string(p->location) : json_null());
	if (bp_wants(b, "subParts")) {
		if (!multi)
			v = json_null();
		else {
			v = json_array();
			for (uint32_t c = i + 1; c < p->next &&
			    c < b->info->nparts; c = b->info->parts[c].next)
				json_array_append_new(v, part_json(b, c));
		}
		json_object_set_new(o, "subParts", v);
	}
	return o;
}

static json_t *
part_list(const struct build *b, const struct mime_partlist *l)
{
	json_t *a = json_array();

	for (uint32_t k = 0; k < l->n; k++)
		if (l->v[k] < b->info->nparts)
			json_array_append_new(a, part_json(b, l->v[k]));
	return a;
}

static void
body_value(const struct build *b, uint32_t i, size_t max, json_t *values)
{
	struct buf out = BUF_INIT(0);
	char key[16];
	int cut;

	(void)snprintf(key, sizeof(key), "%u", i);
	if (json_object_get(values, key) != NULL || b->msg == NULL)
		return;
	cut = mime_part_text(b->info, i, b->msg, b->len, false,
	    max == 0 || max > BODY_VALUE_MAX ? BODY_VALUE_MAX : max, &out);
	json_object_set_new(values, key, json_pack("{s:s%,s:b,s:b}",
	    "value", out.data != NULL ? (const char *)out.data : "", out.len,
	    "isEncodingProblem", 0, "isTruncated", cut == 1));
	buf_free(&out);
}

static json_t *
body_values(const struct build *b, const struct jmap_email_opts *o)
{
	json_t *v = json_object();
	const struct mime_info *info = b->info;

	if (o->fetch_all || o->fetch_text)
		for (uint32_t k = 0; k < info->text_body.n; k++)
			if (strcmp(info->parts[info->text_body.v[k]].type,
			    "text") == 0)
				body_value(b, info->text_body.v[k],
				    o->max_value, v);
	if (o->fetch_all || o->fetch_html)
		for (uint32_t k = 0; k < info->html_body.n; k++)
			if (strcmp(info->parts[info->html_body.v[k]].type,
			    "text") == 0)
				body_value(b, info->html_body.v[k],
				    o->max_value, v);
	if (o->fetch_all)
		for (uint32_t k = 0; k < info->attachments.n; k++)
			if (strcmp(info->parts[info->attachments.v[k]].type,
			    "text") == 0)
				body_value(b, info->attachments.v[k],
				    o->max_value, v);
	return v;
}

/* ---- the Email object ---- */

static json_t *
mailbox_ids(const struct mail_email *em)
{
	json_t *o = json_object();
	char id[JMAP_ID_MAX];

	for (size_t i = 0; i < em->nmembers; i++) {
		jmap_id_make('M', em->members[i].mbox, id);
		json_object_set_new(o, id, json_true());
	}
	return o;
}

json_t *
jmap_email_json(const struct mail_email *em, const char *blob_id,
    const struct mime_info *info, const unsigned char *msg, size_t len,
    const json_t *want, const struct jmap_email_opts *o)
{
	const struct mime_headers *hd = &info->hdr;
	struct build b = { em, info, msg, len, o->body_props };
	json_t *obj = json_object(), *v;
	char s[JMAP_DATE_MAX > JMAP_ID_MAX ? JMAP_DATE_MAX : JMAP_ID_MAX];
	const unsigned char *h;
	size_t hl, i;

	json_array_foreach(want, i, v) {
		const char *p = json_string_value(v);
		json_t *x = NULL;

		if (strcmp(p, "id") == 0) {
			if (em != NULL)
				jmap_id_make('M', em->id, s);
			x = em != NULL ? json_string(s) : json_null();
		} else if (strcmp(p, "blobId") == 0) {
			x = json_string(blob_id);
		} else if (strcmp(p, "threadId") == 0) {
			if (em != NULL)
				jmap_id_make('T', em->thread, s);
			x = em != NULL ? json_string(s) : json_null();
		} else if (strcmp(p, "mailboxIds") == 0) {
			x = em != NULL ? mailbox_ids(em) : json_null();
		} else if (strcmp(p, "keywords") == 0) {
			/* null for Email/parse (4.9) */
			x = em != NULL ? jmap_email_keywords_json(em->flags,
			    em->keywords, em->nkeywords) : json_null();
		} else if (strcmp(p, "size") == 0) {
			x = json_integer((json_int_t)(em != NULL ? em->size :
			    (uint64_t)len));
		} else if (strcmp(p, "receivedAt") == 0) {
			if (em != NULL)
				jmap_date_utc(em->received_at, s);
			x = em != NULL ? json_string(s) : json_null();
		} else if (strcmp(p, "messageId") == 0) {
			x = jmap_msgids_json(&hd->message_id);
		} else if (strcmp(p, "inReplyTo") == 0) {
			x = jmap_msgids_json(&hd->in_reply_to);
		} else if (strcmp(p, "references") == 0) {
			x = jmap_msgids_json(&hd->references);
		} else if (strcmp(p, "sender") == 0 || strcmp(p, "from") == 0 ||
		    strcmp(p, "to") == 0 || strcmp(p, "cc") == 0 ||
		    strcmp(p, "bcc") == 0 || strcmp(p, "replyTo") == 0) {
			const struct mime_addr_list *l =
			    p[0] == 's' ? &hd->sender : p[0] == 'f' ?
			    &hd->from : p[0] == 't' ? &hd->to : p[0] == 'c' ?
			    &hd->cc : p[0] == 'b' ? &hd->bcc : &hd->reply_to;
			/* null when the field is absent (4.1.3) */
			x = l->n > 0 ? jmap_addrs_json(l, false) : json_null();
		} else if (strcmp(p, "subject") == 0) {
			x = hd->subject != NULL ? json_string(hd->subject) :
			    json_null();
		} else if (strcmp(p, "sentAt") == 0) {
			if (hd->has_date)
				jmap_date_local(hd->date, hd->date_tz, s);
			x = hd->has_date ? json_string(s) : json_null();
		} else if (strcmp(p, "hasAttachment") == 0) {
			x = json_boolean(info->has_attachment);
		} else if (strcmp(p, "preview") == 0) {
			x = json_string(info->preview != NULL ? info->preview :
			    "");
		} else if (strcmp(p, "bodyStructure") == 0) {
			x = part_json(&b, 0);
		} else if (strcmp(p, "textBody") == 0) {
			x = part_list(&b, &info->text_body);
		} else if (strcmp(p, "htmlBody") == 0) {
			x = part_list(&b, &info->html_body);
		} else if (strcmp(p, "attachments") == 0) {
			x = part_list(&b, &info->attachments);
		} else if (strcmp(p, "bodyValues") == 0) {
			x = body_values(&b, o);
		} else if (strcmp(p, "headers") == 0) {
			x = part_hdr(&b, 0, &h, &hl) ? jmap_headers_json(h, hl) :
			    json_array();
		} else if (strncmp(p, "header:", 7) == 0) {
			struct jmap_hprop hp;

			if (jmap_hprop_parse(p, strlen(p), &hp) == 0 &&
			    part_hdr(&b, 0, &h, &hl))
				x = jmap_header_prop(&hp, h, hl);
		}
		json_object_set_new(obj, p, x != NULL ? x : json_null());
	}
	return obj;
}

int
jmap_email_part_content(const struct jmap_env *env, uint32_t acct,
    const char *s, struct buf *out, struct buf *err)
{
	struct store *st = env->st;
	struct mail_email em;
	struct mime_info *info = NULL;
	struct buf raw = BUF_INIT(0), num = BUF_INIT(0);
	const char *dot = strchr(s, '.');
	uint32_t email, part;
	char idx[JMAP_ID_MAX];
	int r;

	if (dot == NULL || (size_t)(dot - s) >= JMAP_ID_MAX ||
	    strlen(dot + 1) + 2 > sizeof(idx))
		return 0;
	buf_add(&num, s, (size_t)(dot - s));
	(void)snprintf(idx, sizeof(idx), "P%s", dot + 1);
	r = jmap_id_parse('P', buf_cstr(&num), &email) == 0 &&
	    (strcmp(idx, "P0") == 0 ? (part = 0, 1) :
	    jmap_id_parse('P', idx, &part) == 0);
	buf_free(&num);
	if (!r)
		return 0;
	memset(&em, 0, sizeof(em));
	r = mail_email_get(st->mail, acct, email, &em, err);
	if (r == 1)
		r = mail_email_mime(st->mail, acct, email, &info, err);
	if (r == 1 && (part >= info->nparts ||
	    info->parts[part].kind == MIME_MULTIPART))
		r = 0;
	if (r == 1)
		r = blob_get(st->blobs, &em.blob, 0, em.size, &raw, err) == 1 ?
		    1 : -1;
	if (r == 1) {
		out->max = raw.len + 1;
		if (mime_part_decode(info, part, raw.data, raw.len, out) < 0) {
			buf_addf(err, "part %u of email %u: too big", part,
			    email);
			r = -1;
		}
	}
	mime_info_free(&info);
	mail_email_clear(&em);
	buf_free(&raw);
	return r;
}

/* ---- listing ---- */

struct list_acc {
	uint32_t *v;
	size_t n, cap;
};

static int
list_msg(void *arg, const struct mail_msg *m)
{
	struct list_acc *a = arg;

	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 256;
		a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	a->v[a->n++] = m->email;
	return 0;
}

struct mb_acc {
	uint32_t *v;
	size_t n, cap;
};

static int
list_mb(void *arg, const struct mail_mailbox *mb)
{
	struct mb_acc *a = arg;

	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xreallocarray(a->v, a->cap, sizeof(*a->v));
	}
	a->v[a->n++] = mb->id;
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
jmap_email_list(struct jmap_call *c, uint32_t **ids_r, size_t *n_r,
    struct buf *err)
{
	struct mail *m = c->ctx->env->st->mail;
	struct mb_acc mbs = { NULL, 0, 0 };
	struct list_acc a = { NULL, 0, 0 };
	size_t k = 0;

	if (mail_mailbox_list(m, c->acct, list_mb, &mbs, err) < 0) {
		free(mbs.v);
		return -1;
	}
	for (size_t i = 0; i < mbs.n; i++) {
		if (mail_msg_list(m, c->acct, mbs.v[i], 1, list_msg, &a,
		    err) < 0) {
			free(mbs.v);
			free(a.v);
			return -1;
		}
	}
	free(mbs.v);
	if (a.n > 0) {
		qsort(a.v, a.n, sizeof(*a.v), cmp_u32);
		for (size_t i = 0; i < a.n; i++)
			if (k == 0 || a.v[k - 1] != a.v[i])
				a.v[k++] = a.v[i];
	}
	*ids_r = a.v;
	*n_r = k;
	return 0;
}

/* ---- Email/get ---- */

static const struct jmap_arg get_args[] = {
	{ "accountId", JMAP_ARG_ID, JMAP_ARG_REQUIRED },
	{ "ids", JMAP_ARG_IDS, JMAP_ARG_NULL },
	{ "properties", JMAP_ARG_STRINGS, JMAP_ARG_NULL },
	{ "bodyProperties", JMAP_ARG_STRINGS, JMAP_ARG_NULL },
	{ "fetchTextBodyValues", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ "fetchHTMLBodyValues", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ "fetchAllBodyValues", JMAP_ARG_BOOL, JMAP_ARG_NULL },
	{ "maxBodyValueBytes", JMAP_ARG_UINT, JMAP_ARG_NULL },
	{ NULL, 0, 0 },
};

/* prop_ok - a property Email/get may return; with header: forms checked */
static int
prop_ok(const char *p, const char *const *std)
{
	struct jmap_hprop hp;

	if (jmap_in_list(std, p))
		return 1;
	if (strncmp(p, "header:", 7) != 0)
		return 0;
	if (jmap_hprop_parse(p, strlen(p), &hp) < 0 || !jmap_hprop_form_ok(&hp))
		return 0;
	return 1;
}

static bool
arg_true(struct jmap_call *c, const char *name)
{
	json_t *v = jmap_arg_get(c, name);

	return v != NULL && json_is_true(v);
}

/*
 * jmap_email_get_opts - want and o from the /get or /parse arguments;
 * -1 answered (invalidArguments).  want is a new array, "id" first.
 */
int
jmap_email_get_opts(struct jmap_call *c, json_t **want_r,
    struct jmap_email_opts *o)
{
	json_t *props = jmap_arg_get(c, "properties");
	json_t *bprops = jmap_arg_get(c, "bodyProperties");
	json_t *want = json_array(), *v, *mx;
	size_t i;

	memset(o, 0, sizeof(*o));
	if (props == NULL) {
		for (const char *const *n = default_props; *n != NULL; n++)
			json_array_append_new(want, json_string(*n));
	} else {
		json_array_append_new(want, json_string("id"));
		json_array_foreach(props, i, v) {
			const char *s = json_string_value(v);

			if (!prop_ok(s, email_props)) {
				jmap_error(c, "invalidArguments", "unknown or "
				    "invalid property \"%.64s\"", s);
				json_decref(want);
				return -1;
			}
			if (!want_has(want, s))
				json_array_append(want, v);
		}
	}
	if (bprops != NULL) {
		json_array_foreach(bprops, i, v) {
			const char *s = json_string_value(v);

			if (!prop_ok(s, body_props_all)) {
				jmap_error(c, "invalidArguments", "unknown or "
				    "invalid body property \"%.64s\"", s);
				json_decref(want);
				return -1;
			}
		}
		o->body_props = bprops;
	}
	o->fetch_text = arg_true(c, "fetchTextBodyValues");
	o->fetch_html = arg_true(c, "fetchHTMLBodyValues");
	o->fetch_all = arg_true(c, "fetchAllBodyValues");
	mx = jmap_arg_get(c, "maxBodyValueBytes");
	if (mx != NULL) {
		if (json_integer_value(mx) == 0) {
			jmap_error(c, "invalidArguments", "maxBodyValueBytes "
			    "must be positive");
			json_decref(want);
			return -1;
		}
		o->max_value = (size_t)json_integer_value(mx);
	}
	*want_r = want;
	return 0;
}

/* one_email - 1 with *obj_r, 0 unknown, -1 */
static int
one_email(struct jmap_call *c, uint32_t id, const json_t *want,
    const struct jmap_email_opts *o, json_t **obj_r, struct buf *err)
{
	struct store *st = c->ctx->env->st;
	struct mail_email em;
	struct mime_info *info = NULL;
	struct buf raw = BUF_INIT(0);
	char blob[JMAP_BLOB_ID_MAX];
	int r;

	memset(&em, 0, sizeof(em));
	r = mail_email_get(st->mail, c->acct, id, &em, err);
	if (r == 1)
		r = mail_email_mime(st->mail, c->acct, id, &info, err);
	if (r == 0 && em.id != 0) {
		/* stored without MIME info: describe it now */
		if (blob_get(st->blobs, &em.blob, 0, em.size, &raw, err) == 1 &&
		    mime_parse(raw.data, raw.len, NULL, &info, err) == 0)
			r = 1;
		else
			r = -1;
	}
	if (r == 1 && raw.data == NULL && jmap_email_needs_raw(want, o) &&
	    blob_get(st->blobs, &em.blob, 0, em.size, &raw, err) != 1)
		r = -1;
	if (r == 1) {
		jmap_blob_id_email(id, blob);
		*obj_r = jmap_email_json(&em, blob, info, raw.data, raw.len,
		    want, o);
	}
	mime_info_free(&info);
	mail_email_clear(&em);
	buf_free(&raw);
	return r;
}

static int
email_get_method(struct jmap_call *c, struct buf *err)
{
	unsigned max = c->ctx->env->lim.max_objects_in_get;
	struct jmap_email_opts o;
	json_t *ids, *want, *list, *nf, *seen, *v, *obj;
	uint32_t *all = NULL, n;
	size_t nall = 0, cnt;
	char state[24], id[JMAP_ID_MAX];
	int rc = 0;

	if (jmap_args_check(c, get_args, NULL) < 0)
		return 0;
	ids = jmap_arg_get(c, "ids");
	if (jmap_email_get_opts(c, &want, &o) < 0)
		return 0;
	if (jmap_std_state(c, &jmap_email_type, state, err) < 0 ||
	    (ids == NULL && jmap_email_list(c, &all, &nall, err) < 0)) {
		json_decref(want);
		return -1;
	}
	cnt = ids != NULL ? json_array_size(ids) : nall;
	if (cnt > max) {
		jmap_error(c, "requestTooLarge", "more than maxObjectsInGet "
		    "(%u) ids", max);
		free(all);
		json_decref(want);
		return 0;
	}
	list = json_array();
	nf = json_array();
	seen = json_object();
	for (size_t i = 0; i < cnt; i++) {
		const char *s;

		if (ids != NULL) {
			v = json_array_get(ids, i);
			s = json_string_value(v);
			if (json_object_get(seen, s) != NULL)
				continue;
			json_object_set_new(seen, s, json_true());
			if (jmap_id_resolve(c, 'M', s, &n) < 0) {
				json_array_append(nf, v);
				continue;
			}
		} else {
			n = all[i];
			jmap_id_make('M', n, id);
			s = id;
		}
		obj = NULL;
		rc = one_email(c, n, want, &o, &obj, err);
		if (rc < 0)
			break;
		if (rc == 0)
			json_array_append_new(nf, json_string(s));
		else
			json_array_append_new(list, obj);
	}
	free(all);
	json_decref(want);
	json_decref(seen);
	if (rc < 0) {
		json_decref(list);
		json_decref(nf);
		return -1;
	}
	jmap_reply(c, json_pack("{s:s,s:s,s:o,s:o}", "accountId",
	    c->ctx->account_id, "state", state, "list", list, "notFound", nf));
	return 0;
}

/* the std get (used by /set for the old object): every property */
static int
email_get(struct jmap_call *c, uint32_t id, const json_t *want,
    json_t **obj_r, struct buf *err)
{
	struct jmap_email_opts o;

	memset(&o, 0, sizeof(o));
	return one_email(c, id, want, &o, obj_r, err);
}

static int
email_list(struct jmap_call *c, uint32_t **ids_r, size_t *n_r,
    struct buf *err)
{
	return jmap_email_list(c, ids_r, n_r, err);
}

/* only the properties /set may change and the ones it compares */
static const char *const set_props[] = {
	"id", "blobId", "threadId", "mailboxIds", "keywords", "size",
	"receivedAt", NULL,
};

const struct jmap_type jmap_email_type = {
	.name = "Email",
	.prefix = 'M',
	.log = MAIL_LOG_EMAIL,
	.cap = JMAP_CAP_MAIL,
	.props = set_props,
	.get = email_get,
	.list = email_list,
	.set_args = NULL,
	.create = jmap_email_create,
	.update = jmap_email_update,
	.destroy = jmap_email_destroy,
	.query_args = jmap_email_query_args,
	.query = jmap_email_query,
};

const struct jmap_method jmap_email_methods[] = {
	{ "Email/get", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    email_get_method, NULL, 0 },
	JMAP_STD_METHOD("Email/changes", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    &jmap_email_type, JMAP_STD_CHANGES),
	JMAP_STD_METHOD("Email/query", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    &jmap_email_type, JMAP_STD_QUERY),
	JMAP_STD_METHOD("Email/queryChanges", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    &jmap_email_type, JMAP_STD_QUERY_CHANGES),
	JMAP_STD_METHOD("Email/set", JMAP_CAP_MAIL,
	    JMAP_M_ACCOUNT | JMAP_M_WRITE, &jmap_email_type, JMAP_STD_SET),
	{ "Email/import", JMAP_CAP_MAIL, JMAP_M_ACCOUNT | JMAP_M_WRITE,
	    jmap_email_import, NULL, 0 },
	{ "Email/parse", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    jmap_email_parse, NULL, 0 },
	{ "Email/copy", JMAP_CAP_MAIL, JMAP_M_ACCOUNT | JMAP_M_WRITE,
	    jmap_email_copy, NULL, 0 },
	{ "SearchSnippet/get", JMAP_CAP_MAIL, JMAP_M_ACCOUNT,
	    jmap_snippet_get, NULL, 0 },
	{ NULL, 0, 0, NULL, NULL, 0 },
};
