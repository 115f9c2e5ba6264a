/*
 * mta_sts.c - the pure half of MTA-STS (contract in mta_sts.h): the
 * _mta-sts TXT record (RFC 8461 3.1), the policy file (3.2), MX pattern
 * matching (4.1) and the record we keep in the cache.
 *
 * Decisions, and why:
 *   - The grammar of 3.1 and 3.2 is followed byte by byte: a policy that
 *     is not well formed is no policy (3.3: "MUST NOT" use it), which
 *     leaves the sender as without MTA-STS, so being lenient would only
 *     make us apply what the domain did not quite say.  Two exceptions,
 *     both harmless: empty lines are skipped, and an mx pattern may end
 *     in one dot (some publishers write FQDNs that way; dropping the
 *     policy for it would downgrade the domain).
 *   - version, mode and max_age given twice make the policy invalid
 *     (which one counts is not said anywhere); so does a TXT record with
 *     two ids.
 *   - max_age over 31557600 (the maximum of 3.2) is taken as 31557600
 *     rather than refused: it says "keep this long", and a year is the
 *     longest we keep anything.
 *   - mx patterns are domains (RFC 5321 Domain: letters, digits and
 *     inner hyphens in labels of 1..63, 253 characters in all), stored
 *     in lower case; matching ignores case (4.1).
 * No I/O, no globals: each function is table-tested in
 * t/unit/mta_sts_test.c and fuzzed by t/fuzz/mta_sts.c.
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "mta/mta_sts.h"

#define STS_KEY_MAX 32		/* an extension name: 1 + *31 */
#define STS_DOMAIN_MAX 253

const char *
mta_sts_mode_name(enum mta_sts_mode m)
{
	switch (m) {
	case MTA_STS_MODE_NONE:
		return "none";
	case MTA_STS_MODE_TESTING:
		return "testing";
	case MTA_STS_MODE_ENFORCE:
		return "enforce";
	}
	return "?";
}

static bool
is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static bool
is_ext_name(const char *s, size_t n)
{
	if (n == 0 || n > STS_KEY_MAX || !is_ascii_alnum((unsigned char)s[0]))
		return false;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!is_ascii_alnum(c) && c != '_' && c != '-' && c != '.')
			return false;
	}
	return true;
}

/* ---- the TXT record (3.1) ---- */

bool
mta_sts_txt_is_sts(const char *text, size_t len)
{
	return len >= 7 && memcmp(text, "v=STSv1", 7) == 0 &&
	    (len == 7 || text[7] == ';' || is_wsp((unsigned char)text[7]));
}

/* sts-ext-value = 1*(%x21-3A / %x3C / %x3E-7E) */
static bool
is_txt_ext_char(unsigned char c)
{
	return c >= 0x21 && c <= 0x7e && c != ';' && c != '=';
}

enum parse_res
mta_sts_txt_parse(const char *text, size_t len,
    char id_r[MTA_STS_ID_MAX + 1])
{
	size_t pos = 7, nfields = 0;
	bool have_id = false;

	if (!mta_sts_txt_is_sts(text, len))
		return PARSE_BAD;
	while (pos < len) {
		size_t name, nlen, val, vlen;

		/* sts-sep = *WSP ";" *WSP */
		while (pos < len && is_wsp((unsigned char)text[pos]))
			pos++;
		if (pos == len || text[pos] != ';')
			return PARSE_BAD;
		pos++;
		while (pos < len && is_wsp((unsigned char)text[pos]))
			pos++;
		if (pos == len)
			break;		/* a trailing separator */
		name = pos;
		while (pos < len && text[pos] != '=' && text[pos] != ';' &&
		    !is_wsp((unsigned char)text[pos]))
			pos++;
		nlen = pos - name;
		if (pos == len || text[pos] != '=' ||
		    !is_ext_name(text + name, nlen))
			return PARSE_BAD;
		val = ++pos;
		while (pos < len && is_txt_ext_char((unsigned char)text[pos]))
			pos++;
		vlen = pos - val;
		if (vlen == 0 || (pos < len && text[pos] != ';' &&
		    !is_wsp((unsigned char)text[pos])))
			return PARSE_BAD;
		nfields++;
		if (nlen == 2 && memcmp(text + name, "id", 2) == 0) {
			if (have_id || vlen > MTA_STS_ID_MAX)
				return PARSE_BAD;
			for (size_t i = 0; i < vlen; i++)
				if (!is_ascii_alnum((unsigned char)text[val +
				    i]))
					return PARSE_BAD;
			memcpy(id_r, text + val, vlen);
			id_r[vlen] = '\0';
			have_id = true;
		}
	}
	return nfields > 0 && have_id ? PARSE_OK : PARSE_BAD;
}

enum parse_res
mta_sts_txt_select(const struct dns_txt *txt, size_t n,
    char id_r[MTA_STS_ID_MAX + 1])
{
	size_t found = 0, which = 0;

	for (size_t i = 0; i < n; i++)
		if (mta_sts_txt_is_sts(txt[i].text, txt[i].len)) {
			found++;
			which = i;
		}
	if (found != 1)
		return PARSE_BAD;
	return mta_sts_txt_parse(txt[which].text, txt[which].len, id_r);
}

/* ---- the policy file (3.2) ---- */

/*
 * mx_pattern - ["*."] Domain, one trailing dot allowed (see above);
 * the lower-case copy, or NULL
 */
static char *
mx_pattern(const char *s, size_t n)
{
	size_t start = 0, label = 0;
	char *out;

	if (n >= 2 && s[0] == '*' && s[1] == '.')
		start = 2;
	if (n > start + 1 && s[n - 1] == '.')
		n--;
	if (n == start || n - start > STS_DOMAIN_MAX)
		return NULL;
	for (size_t i = start; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return NULL;
			label = 0;
		} else if (is_ascii_alnum(c) || (c == '-' && label > 0)) {
			if (++label > DNS_LABEL_MAX)
				return NULL;
		} else {
			return NULL;
		}
	}
	if (label == 0 || s[n - 1] == '-')
		return NULL;
	out = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++)
		out[i] = (char)ascii_tolower((unsigned char)s[i]);
	out[n] = '\0';
	return out;
}

/* sts-policy-ext-value: visible characters (and UTF-8), inner spaces */
static bool
is_ext_value(const char *s, size_t n)
{
	if (n == 0 || s[0] == ' ' || s[n - 1] == ' ')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c != ' ' && (c < 0x21 || c == 0x7f))
			return false;
	}
	return true;
}

struct pol_seen {
	bool version, mode, max_age;
};

/* one "key: value" line (no terminator); -1 with a reason in err */
static int
policy_line(const char *s, size_t n, unsigned lineno,
    struct mta_sts_policy *p, struct pol_seen *seen, struct buf *err)
{
	const char *colon = memchr(s, ':', n), *v;
	size_t klen, vlen;
	uint64_t age;

	if (colon == NULL || !is_ext_name(s, (size_t)(colon - s))) {
		buf_addf(err, "line %u: not \"key: value\"", lineno);
		return -1;
	}
	klen = (size_t)(colon - s);
	v = colon + 1;
	vlen = n - klen - 1;
	while (vlen > 0 && is_wsp((unsigned char)v[0])) {
		v++;
		vlen--;
	}
	while (vlen > 0 && is_wsp((unsigned char)v[vlen - 1]))
		vlen--;
#define KEY_IS(lit) (klen == sizeof(lit) - 1 && memcmp(s, lit, klen) == 0)
#define VAL_IS(lit) (vlen == sizeof(lit) - 1 && memcmp(v, lit, vlen) == 0)
	if (KEY_IS("version")) {
		if (seen->version || !VAL_IS("STSv1"))
			goto bad;
		seen->version = true;
	} else if (KEY_IS("mode")) {
		if (seen->mode)
			goto bad;
		if (VAL_IS("enforce"))
			p->mode = MTA_STS_MODE_ENFORCE;
		else if (VAL_IS("testing"))
			p->mode = MTA_STS_MODE_TESTING;
		else if (VAL_IS("none"))
			p->mode = MTA_STS_MODE_NONE;
		else
			goto bad;
		seen->mode = true;
	} else if (KEY_IS("max_age")) {
		if (seen->max_age || vlen == 0 || vlen > 10 ||
		    parse_u64(v, vlen, UINT64_MAX, &age) < 0)
			goto bad;
		p->max_age = age > MTA_STS_MAX_AGE_MAX ? MTA_STS_MAX_AGE_MAX :
		    (uint32_t)age;
		seen->max_age = true;
	} else if (KEY_IS("mx")) {
		char *pat = mx_pattern(v, vlen);

		if (pat == NULL)
			goto bad;
		if (p->nmx == MTA_STS_MX_MAX) {
			free(pat);
			buf_addf(err, "line %u: more than %u mx patterns",
			    lineno, MTA_STS_MX_MAX);
			return -1;
		}
		p->mx = xreallocarray(p->mx, p->nmx + 1, sizeof(*p->mx));
		p->mx[p->nmx++] = pat;
	} else if (!is_ext_value(v, vlen)) {
		goto bad;
	}
	return 0;
#undef KEY_IS
#undef VAL_IS
bad:
	buf_addf(err, "line %u: %.*s: bad or repeated value", lineno,
	    (int)klen, s);
	return -1;
}

enum parse_res
mta_sts_policy_parse(const char *text, size_t len, struct mta_sts_policy *p,
    struct buf *err)
{
	struct pol_seen seen = { false, false, false };
	size_t pos = 0;
	unsigned lineno = 0;

	memset(p, 0, sizeof(*p));
	if (len > MTA_STS_POLICY_MAX) {
		buf_addf(err, "policy of %zu bytes, over %u", len,
		    MTA_STS_POLICY_MAX);
		return PARSE_TOO_LONG;
	}
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl != NULL ? (size_t)(nl - text) : len;
		size_t n = end - pos;

		lineno++;
		if (nl != NULL && n > 0 && text[end - 1] == '\r')
			n--;		/* CRLF */
		if (memchr(text + pos, '\r', n) != NULL ||
		    memchr(text + pos, '\0', n) != NULL) {
			buf_addf(err, "line %u: bare CR or NUL", lineno);
			goto bad;
		}
		if (n > 0 && policy_line(text + pos, n, lineno, p, &seen,
		    err) < 0)
			goto bad;
		pos = nl != NULL ? end + 1 : len;
	}
	if (!seen.version || !seen.mode || !seen.max_age) {
		buf_addf(err, "no %s", !seen.version ? "version" : !seen.mode ?
		    "mode" : "max_age");
		goto bad;
	}
	if (p->nmx == 0 && p->mode != MTA_STS_MODE_NONE) {
		buf_add_str(err, "no mx pattern");
		goto bad;
	}
	return PARSE_OK;
bad:
	mta_sts_policy_free(p);
	return PARSE_BAD;
}

void
mta_sts_policy_free(struct mta_sts_policy *p)
{
	for (size_t i = 0; i < p->nmx; i++)
		free(p->mx[i]);
	free(p->mx);
	memset(p, 0, sizeof(*p));
}

/* ---- matching (4.1) ---- */

bool
mta_sts_mx_match(const char *pattern, const char *host)
{
	size_t plen = strlen(pattern), hlen = strlen(host);
	const char *dot;

	if (hlen > 1 && host[hlen - 1] == '.')
		hlen--;
	if (hlen == 0)
		return false;
	if (plen < 2 || pattern[0] != '*' || pattern[1] != '.')
		return plen == hlen && ascii_strncasecmp(pattern, host,
		    hlen) == 0;
	/* "*.": one whole label, then the rest of the pattern */
	dot = memchr(host, '.', hlen);
	if (dot == NULL || dot == host)
		return false;
	return hlen - (size_t)(dot - host) == plen - 1 &&
	    ascii_strncasecmp(pattern + 1, dot, plen - 1) == 0;
}

bool
mta_sts_policy_has_mx(const struct mta_sts_policy *p, const char *host)
{
	for (size_t i = 0; i < p->nmx; i++)
		if (mta_sts_mx_match(p->mx[i], host))
			return true;
	return false;
}

/* ---- the cache record ---- */

void
mta_sts_record_encode(int64_t fetched, int64_t expires, const char *id,
    const char *policy, size_t plen, struct buf *out)
{
	buf_addf(out, "STS1 %lld %lld %s\n", (long long)fetched,
	    (long long)expires, id);
	buf_add(out, policy, plen);
}

/* decimal digits up to the next space, at most INT64_MAX / 2 */
static int
record_int(const unsigned char *p, size_t len, size_t *pos, int64_t *v_r)
{
	const unsigned char *sp = memchr(p + *pos, ' ', len - *pos);
	uint64_t v;

	if (sp == NULL || parse_u64((const char *)p + *pos,
	    (size_t)(sp - p) - *pos, INT64_MAX / 2, &v) < 0)
		return -1;
	*v_r = (int64_t)v;
	*pos = (size_t)(sp - p) + 1;
	return 0;
}

enum parse_res
mta_sts_record_decode(const unsigned char *p, size_t len,
    struct mta_sts_record *rec)
{
	struct buf err = BUF_INIT(0);
	const unsigned char *nl;
	size_t pos = 5, idlen;
	enum parse_res res;

	memset(rec, 0, sizeof(*rec));
	if (len < 5 || memcmp(p, "STS1 ", 5) != 0 ||
	    record_int(p, len, &pos, &rec->fetched) < 0 ||
	    record_int(p, len, &pos, &rec->expires) < 0 ||
	    (nl = memchr(p + pos, '\n', len - pos)) == NULL)
		return PARSE_BAD;
	idlen = (size_t)(nl - p) - pos;
	if (idlen == 0 || idlen > MTA_STS_ID_MAX)
		return PARSE_BAD;
	for (size_t i = 0; i < idlen; i++)
		if (!is_ascii_alnum(p[pos + i]))
			return PARSE_BAD;
	memcpy(rec->id, p + pos, idlen);
	rec->id[idlen] = '\0';
	pos += idlen + 1;
	res = mta_sts_policy_parse((const char *)p + pos, len - pos,
	    &rec->policy, &err);
	buf_free(&err);
	if (res != PARSE_OK) {
		memset(rec, 0, sizeof(*rec));
		return PARSE_BAD;
	}
	return PARSE_OK;
}
