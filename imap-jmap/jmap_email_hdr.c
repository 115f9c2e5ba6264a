/*
 * jmap_email_hdr.c - the header side of a JMAP Email (RFC 8621 4.1.2,
 * 4.1.3): the parsed forms of a raw header field value, EmailAddress
 * and EmailAddressGroup objects, and the RFC 3339 dates of receivedAt
 * and sentAt.  The "header:..." property names are jmap_email_names.c's.
 *
 * The parsed forms reuse the delivery parser instead of a second one:
 * the value is put under a field of the kind the form wants ("To" for
 * asAddresses, "Subject" for asText, "References" for asMessageIds,
 * "Date" for asDate) in a header-only message, and mime_parse's header
 * summary is the answer.  So a field reads the same in
 * from/subject/sentAt and in header:From:asAddresses and the others.
 * asURLs is RFC 2369's list of <url>, read here.  asRaw keeps the
 * octets after the colon (leading space included, 4.1.2.1); invalid
 * UTF-8 in them becomes U+FFFD.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/xalloc.h"
#include "imap-jmap/jmap_priv.h"
#include "store/mime.h"

/* ---- values ---- */

static json_t *
str_or_null(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
one_addr(const struct mime_addr *a)
{
	json_t *o = json_object();
	struct buf e = BUF_INIT(0);

	buf_add_str(&e, a->local);
	if (a->domain[0] != '\0') {
		buf_add_str(&e, "@");
		buf_add_str(&e, a->domain);
	}
	json_object_set_new(o, "name", a->name != NULL && a->name[0] != '\0' ?
	    json_string(a->name) : json_null());
	json_object_set_new(o, "email", json_string(buf_cstr(&e)));
	buf_free(&e);
	return o;
}

json_t *
jmap_addrs_json(const struct mime_addr_list *l, bool grouped)
{
	json_t *out = json_array(), *grp = NULL, *cur = NULL;

	for (uint32_t i = 0; i < l->n; i++) {
		const struct mime_addr *a = &l->v[i];

		if (a->kind == MIME_ADDR_GROUP) {
			if (!grouped)
				continue;
			grp = json_object();
			json_object_set_new(grp, "name", str_or_null(a->name));
			cur = json_array();
			json_object_set_new(grp, "addresses", cur);
			json_array_append_new(out, grp);
			continue;
		}
		if (a->kind == MIME_ADDR_GROUP_END) {
			grp = NULL;
			cur = NULL;
			continue;
		}
		if (!grouped) {
			json_array_append_new(out, one_addr(a));
			continue;
		}
		if (cur == NULL) {
			/* mailboxes outside a group: a group of name null */
			size_t k = json_array_size(out);
			json_t *last = k > 0 ? json_array_get(out, k - 1) : NULL;

			if (last != NULL && json_is_null(json_object_get(last,
			    "name")) && json_object_get(last, "_open") != NULL)
				cur = json_object_get(last, "addresses");
			else {
				json_t *g = json_object();

				json_object_set_new(g, "name", json_null());
				json_object_set_new(g, "addresses",
				    json_array());
				json_object_set_new(g, "_open", json_true());
				json_array_append_new(out, g);
				cur = json_object_get(g, "addresses");
			}
			json_array_append_new(cur, one_addr(a));
			cur = NULL;
			continue;
		}
		json_array_append_new(cur, one_addr(a));
	}
	if (grouped) {
		size_t i;
		json_t *g;

		json_array_foreach(out, i, g)
			json_object_del(g, "_open");
	}
	return out;
}

json_t *
jmap_msgids_json(const struct mime_idlist *l)
{
	json_t *a;

	if (l->n == 0)
		return json_null();
	a = json_array();
	for (uint32_t i = 0; i < l->n; i++)
		json_array_append_new(a, json_string(l->v[i]));
	return a;
}

/* urls - RFC 2369: a list of <url>, commas between, comments ignored */
static json_t *
urls(const char *v, size_t len)
{
	json_t *a = json_array();
	size_t i = 0;

	while (i < len) {
		const char *lt = memchr(v + i, '<', len - i), *gt;

		if (lt == NULL)
			break;
		gt = memchr(lt, '>', len - (size_t)(lt - v));
		if (gt == NULL)
			break;
		{
			struct buf u = BUF_INIT(0);

			for (const char *p = lt + 1; p < gt; p++)
				if (*p != ' ' && *p != '\t' && *p != '\r' &&
				    *p != '\n')
					buf_add(&u, p, 1);
			json_array_append_new(a, json_string(buf_cstr(&u)));
			buf_free(&u);
		}
		i = (size_t)(gt - v) + 1;
	}
	if (json_array_size(a) == 0) {
		json_decref(a);
		return json_null();
	}
	return a;
}

/* raw_string - the raw octets as a JSON string (invalid UTF-8 replaced) */
static json_t *
raw_string(const char *v, size_t len)
{
	json_t *s = json_stringn(v, len);
	struct buf b = BUF_INIT(0);

	if (s != NULL)
		return s;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)v[i];

		if (ch < 0x80 && ch != 0)
			buf_add(&b, &v[i], 1);
		else
			buf_add_str(&b, "\xef\xbf\xbd");
	}
	s = json_string(buf_cstr(&b));
	buf_free(&b);
	return s;
}

/* parsed - the value parsed as the header field `as` by mime_parse */
static struct mime_info *
parsed(const char *as, const char *v, size_t len)
{
	struct buf m = BUF_INIT(0), err = BUF_INIT(0);
	struct mime_info *info = NULL;

	buf_add_str(&m, as);
	buf_add_str(&m, ":");
	for (size_t i = 0; i < len; i++)
		if (v[i] != '\0')
			buf_add(&m, &v[i], 1);
	buf_add_str(&m, "\r\n\r\n");
	if (mime_parse(m.data, m.len, NULL, &info, &err) < 0)
		info = NULL;
	buf_free(&m);
	buf_free(&err);
	return info;
}

json_t *
jmap_hvalue_json(enum jmap_hform form, const char *v, size_t len)
{
	struct mime_info *info = NULL;
	json_t *r = NULL;
	char d[JMAP_DATE_MAX];

	switch (form) {
	case JMAP_HF_RAW:
		return raw_string(v, len);
	case JMAP_HF_URLS:
		return urls(v, len);
	case JMAP_HF_TEXT:
		if ((info = parsed("Subject", v, len)) != NULL)
			r = json_string(info->hdr.subject != NULL ?
			    info->hdr.subject : "");
		break;
	case JMAP_HF_ADDRESSES:
	case JMAP_HF_GROUPED:
		if ((info = parsed("To", v, len)) != NULL)
			r = jmap_addrs_json(&info->hdr.to,
			    form == JMAP_HF_GROUPED);
		break;
	case JMAP_HF_MSGIDS:
		if ((info = parsed("References", v, len)) != NULL)
			r = jmap_msgids_json(&info->hdr.references);
		break;
	case JMAP_HF_DATE:
		if ((info = parsed("Date", v, len)) != NULL &&
		    info->hdr.has_date) {
			jmap_date_local(info->hdr.date, info->hdr.date_tz, d);
			r = json_string(d);
		}
		break;
	case JMAP_HF_COUNT:
		break;
	}
	mime_info_free(&info);
	return r != NULL ? r : json_null();
}

json_t *
jmap_header_prop(const struct jmap_hprop *h, const unsigned char *hdr,
    size_t len)
{
	size_t pos = 0, no, nl, vo, vl;
	json_t *all = json_array(), *last = NULL;

	while (mime_header_next(hdr, len, &pos, &no, &nl, &vo, &vl)) {
		if (nl != strlen(h->name) ||
		    strncasecmp((const char *)hdr + no, h->name, nl) != 0)
			continue;
		json_decref(last);
		last = jmap_hvalue_json(h->form, (const char *)hdr + vo, vl);
		if (h->all)
			json_array_append(all, last);
	}
	if (h->all) {
		json_decref(last);
		return all;
	}
	json_decref(all);
	return last != NULL ? last : json_null();
}

json_t *
jmap_headers_json(const unsigned char *hdr, size_t len)
{
	size_t pos = 0, no, nl, vo, vl;
	json_t *a = json_array();

	while (mime_header_next(hdr, len, &pos, &no, &nl, &vo, &vl)) {
		json_t *o = json_object();

		json_object_set_new(o, "name", raw_string((const char *)hdr +
		    no, nl));
		json_object_set_new(o, "value", raw_string((const char *)hdr +
		    vo, vl));
		json_array_append_new(a, o);
	}
	return a;
}
