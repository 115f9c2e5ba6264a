/*
 * jmap_email_names.c - the pure parts of the Email methods, fuzzed
 * (t/fuzz/jmap_request.c) and unit-tested (t/unit/jmap_email_test.c):
 * the "header:Name[:asForm][:all]" property names and which forms a
 * field allows (RFC 8621 4.1.2, 4.1.3), RFC 3339 dates as filters and
 * receivedAt take them (RFC 8620 1.4), and the <mark> highlighting of
 * SearchSnippet/get (RFC 8621 5).
 *
 * Decisions:
 *   - A form a field does not allow (4.1.2: e.g. header:From:asDate) is
 *     invalidArguments for the whole /get, as 4.1.3 requires.  Fields
 *     that RFC 5322 and RFC 2369 do not define allow every form.
 *   - The name keeps the client's spelling in the property (the key of
 *     the answer), at most JMAP_HNAME_MAX octets of printable ASCII
 *     without ":", and matches fields case-insensitively.
 *   - Dates: "YYYY-MM-DDTHH:MM:SS", optional fraction, then "Z" or
 *     +hh:mm/-hh:mm; nothing may follow.
 *   - Snippets mark every word that begins with a term (ASCII case
 *     folded), escape <, >, & and " everywhere, and give NULL when no
 *     word is marked (5.1: subject/preview null).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap-jmap/jmap_priv.h"

static const char *const form_names[JMAP_HF_COUNT] = {
	"asRaw", "asText", "asAddresses", "asGroupedAddresses",
	"asMessageIds", "asDate", "asURLs",
};

/* the fields of RFC 5322 and RFC 2369, with the forms each allows */
#define F_ALL_PARSED 0u
static const struct {
	const char *name;
	unsigned forms;		/* JMAP_HF_BIT()s besides asRaw */
} defined[] = {
	{ "Date", JMAP_HF_BIT(JMAP_HF_DATE) },
	{ "Resent-Date", JMAP_HF_BIT(JMAP_HF_DATE) },
	{ "From", JMAP_HF_ADDRS },
	{ "Sender", JMAP_HF_ADDRS },
	{ "Reply-To", JMAP_HF_ADDRS },
	{ "To", JMAP_HF_ADDRS },
	{ "Cc", JMAP_HF_ADDRS },
	{ "Bcc", JMAP_HF_ADDRS },
	{ "Resent-From", JMAP_HF_ADDRS },
	{ "Resent-Sender", JMAP_HF_ADDRS },
	{ "Resent-To", JMAP_HF_ADDRS },
	{ "Resent-Cc", JMAP_HF_ADDRS },
	{ "Resent-Bcc", JMAP_HF_ADDRS },
	{ "Message-ID", JMAP_HF_BIT(JMAP_HF_MSGIDS) },
	{ "In-Reply-To", JMAP_HF_BIT(JMAP_HF_MSGIDS) },
	{ "References", JMAP_HF_BIT(JMAP_HF_MSGIDS) },
	{ "Resent-Message-ID", JMAP_HF_BIT(JMAP_HF_MSGIDS) },
	{ "Subject", JMAP_HF_BIT(JMAP_HF_TEXT) },
	{ "Comments", JMAP_HF_BIT(JMAP_HF_TEXT) },
	{ "Keywords", JMAP_HF_BIT(JMAP_HF_TEXT) },
	{ "List-Id", JMAP_HF_BIT(JMAP_HF_TEXT) },
	{ "Return-Path", F_ALL_PARSED },
	{ "Received", F_ALL_PARSED },
	{ "List-Help", JMAP_HF_BIT(JMAP_HF_URLS) },
	{ "List-Unsubscribe", JMAP_HF_BIT(JMAP_HF_URLS) },
	{ "List-Subscribe", JMAP_HF_BIT(JMAP_HF_URLS) },
	{ "List-Post", JMAP_HF_BIT(JMAP_HF_URLS) },
	{ "List-Owner", JMAP_HF_BIT(JMAP_HF_URLS) },
	{ "List-Archive", JMAP_HF_BIT(JMAP_HF_URLS) },
};

static bool
is_ftext(unsigned char ch)
{
	return ch >= 33 && ch <= 126 && ch != ':';
}

int
jmap_hprop_parse(const char *prop, size_t len, struct jmap_hprop *h)
{
	const char *p, *end = prop + len, *colon;
	size_t n;

	memset(h, 0, sizeof(*h));
	if (len < 8 || memcmp(prop, "header:", 7) != 0)
		return -1;
	p = prop + 7;
	colon = memchr(p, ':', (size_t)(end - p));
	n = colon != NULL ? (size_t)(colon - p) : (size_t)(end - p);
	if (n == 0 || n > JMAP_HNAME_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!is_ftext((unsigned char)p[i]))
			return -1;
	memcpy(h->name, p, n);
	h->name[n] = '\0';
	h->form = JMAP_HF_RAW;
	if (colon == NULL)
		return 0;
	p = colon + 1;
	colon = memchr(p, ':', (size_t)(end - p));
	n = colon != NULL ? (size_t)(colon - p) : (size_t)(end - p);
	if (n == 3 && memcmp(p, "all", 3) == 0 && colon == NULL) {
		h->all = true;
		return 0;
	}
	for (int f = 0; f < JMAP_HF_COUNT; f++) {
		if (strlen(form_names[f]) == n &&
		    memcmp(form_names[f], p, n) == 0) {
			h->form = (enum jmap_hform)f;
			if (colon == NULL)
				return 0;
			p = colon + 1;
			if ((size_t)(end - p) == 3 && memcmp(p, "all", 3) == 0) {
				h->all = true;
				return 0;
			}
			return -1;
		}
	}
	return -1;
}

bool
jmap_hprop_form_ok(const struct jmap_hprop *h)
{
	if (h->form == JMAP_HF_RAW)
		return true;
	for (size_t i = 0; i < sizeof(defined) / sizeof(defined[0]); i++) {
		if (strcasecmp(defined[i].name, h->name) == 0)
			return (defined[i].forms & JMAP_HF_BIT(h->form)) != 0;
	}
	return true;
}

/* ---- dates ---- */

void
jmap_date_utc(int64_t t, char out[JMAP_DATE_MAX])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, JMAP_DATE_MAX, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(out, JMAP_DATE_MAX, "1970-01-01T00:00:00Z");
}

void
jmap_date_local(int64_t t, int tz_min, char out[JMAP_DATE_MAX])
{
	time_t tt = (time_t)(t + (int64_t)tz_min * 60);
	struct tm tm;
	char base[JMAP_DATE_MAX];
	int a = tz_min < 0 ? -tz_min : tz_min;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		jmap_date_utc(0, out);
		return;
	}
	if (tz_min == 0)
		(void)snprintf(out, JMAP_DATE_MAX, "%.19sZ", base);
	else
		(void)snprintf(out, JMAP_DATE_MAX, "%.19s%c%02d:%02d", base,
		    tz_min < 0 ? '-' : '+', a / 60 % 100, a % 60);
}

int
jmap_date_parse(const char *s, int64_t *t_r)
{
	struct tm tm;
	const char *e;
	int off = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	e = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (e == NULL)
		return -1;
	if (*e == '.') {
		e++;
		if (*e < '0' || *e > '9')
			return -1;
		while (*e >= '0' && *e <= '9')
			e++;
	}
	if (*e == 'Z' || *e == 'z') {
		e++;
	} else if ((*e == '+' || *e == '-') && strlen(e) == 6 &&
	    e[3] == ':') {
		int h = (e[1] - '0') * 10 + (e[2] - '0');
		int m = (e[4] - '0') * 10 + (e[5] - '0');

		for (int i = 1; i < 6; i++)
			if (i != 3 && (e[i] < '0' || e[i] > '9'))
				return -1;
		off = (h * 60 + m) * (*e == '-' ? -1 : 1);
		e += 6;
	} else {
		return -1;
	}
	if (*e != '\0')
		return -1;
	t = timegm(&tm);
	*t_r = (int64_t)t - (int64_t)off * 60;
	return 0;
}

/* ---- snippets ---- */

static void
esc(struct buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '<': buf_add_str(out, "&lt;"); break;
		case '>': buf_add_str(out, "&gt;"); break;
		case '&': buf_add_str(out, "&amp;"); break;
		case '"': buf_add_str(out, "&quot;"); break;
		default: buf_add(out, &s[i], 1); break;
		}
	}
}

/* jmap_snippet_mark - s escaped with words beginning with a term marked;
 * NULL when none is (exported for the unit test) */
char *
jmap_snippet_mark(const char *s, char *const *terms, size_t nterms)
{
	struct buf out = BUF_INIT(0);
	bool any = false;
	size_t i = 0, len = strlen(s);

	while (i < len) {
		size_t n = 0;
		bool hit = false;

		if (!isalnum((unsigned char)s[i]) && (unsigned char)s[i] <
		    0x80) {
			esc(&out, s + i, 1);
			i++;
			continue;
		}
		while (i + n < len && (isalnum((unsigned char)s[i + n]) ||
		    (unsigned char)s[i + n] >= 0x80))
			n++;
		for (size_t k = 0; k < nterms && !hit; k++) {
			size_t tl = strlen(terms[k]);

			hit = tl <= n && strncasecmp(s + i, terms[k], tl) == 0;
		}
		if (hit) {
			buf_add_str(&out, "<mark>");
			esc(&out, s + i, n);
			buf_add_str(&out, "</mark>");
			any = true;
		} else {
			esc(&out, s + i, n);
		}
		i += n;
	}
	if (!any) {
		buf_free(&out);
		return NULL;
	}
	return buf_steal(&out, NULL);
}
