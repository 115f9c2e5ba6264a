/*
 * sender_wildcard.c - auth.sender_wildcards (see sender_wildcard.h).
 *
 * A "@domain" pattern matches an address whose part from its last "@"
 * is the pattern, so "@example.org" grants "a@example.org" but neither
 * "a@sub.example.org" nor "a@example.org.evil": subdomains need entries
 * of their own.
 */
#include <string.h>

#include "common/sender_wildcard.h"

bool
sender_wildcard_grants(const char *w, const char *account, size_t *plen_r)
{
	const char *eq = strchr(w, '=');

	if (eq == NULL || eq == w ||
	    !ascii_eq_nocase(account, strlen(account), eq + 1))
		return false;
	*plen_r = (size_t)(eq - w);
	return true;
}

bool
sender_wildcard_match(const struct strlist *wl, const char *account,
    const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t plen;

	if (at == NULL)
		return false;
	for (size_t i = 0; i < wl->n; i++) {
		const char *w = wl->v[i];

		if (!sender_wildcard_grants(w, account, &plen))
			continue;
		if (w[0] == '@' ? strlen(at) == plen &&
		    ascii_strncasecmp(at, w, plen) == 0 :
		    strlen(addr) == plen && ascii_strncasecmp(addr, w,
		    plen) == 0)
			return true;
	}
	return false;
}
