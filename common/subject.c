/*
 * subject.c - the RFC 5256 2.1 base subject (subject.h).
 *
 * The steps of the RFC, on a subject already decoded to UTF-8: runs of
 * white space become one space; trailing "(fwd)" and blanks go (2);
 * leading blanks, "re:", "fw:", "fwd:" with optional [blob]s go (3), and
 * a leading [blob] when something follows it (4), repeated until neither
 * applies (5); a whole "[fwd: ... ]" is unwrapped and all is done again
 * (6).  Only ASCII letters are folded when matching the markers.
 */
#include <string.h>

#include "common/common.h"
#include "common/subject.h"

/* blob - end of "[" *BLOBCHAR "]" *WSP at s[i], or 0 */
static size_t
blob(const char *s, size_t i, size_t end)
{
	size_t j;

	if (i >= end || s[i] != '[')
		return 0;
	for (j = i + 1; j < end && s[j] != '[' && s[j] != ']'; j++)
		;
	if (j >= end || s[j] != ']')
		return 0;
	for (j++; j < end && s[j] == ' '; j++)
		;
	return j;
}

/* refwd - end of *subj-blob subj-refwd at s[i], or 0 */
static size_t
refwd(const char *s, size_t i, size_t end)
{
	static const char *const words[] = { "fwd", "fw", "re" };
	size_t k;

	while ((k = blob(s, i, end)) != 0)
		i = k;
	for (size_t w = 0; w < ARRAY_SIZE(words); w++) {
		size_t l = strlen(words[w]), j = i + l;

		if (end - i < l || ascii_strncasecmp(s + i, words[w], l) != 0)
			continue;
		while (j < end && s[j] == ' ')
			j++;
		if ((k = blob(s, j, end)) != 0)
			j = k;
		if (j < end && s[j] == ':')
			return j + 1;
	}
	return 0;
}

void
subject_base(const char *subject, size_t len, struct buf *out,
    bool *refwd_r)
{
	struct buf b = BUF_INIT(0);
	size_t start = 0, end;
	const char *s;

	*refwd_r = false;
	/* (1) white space to single spaces (the subject is decoded) */
	for (size_t i = 0; i < len && subject[i] != '\0'; i++) {
		char c = subject[i];
		bool ws = c == ' ' || c == '\t' || c == '\r' || c == '\n';

		if (!ws)
			buf_add(&b, &c, 1);
		else if (b.len == 0 || b.data[b.len - 1] != ' ')
			buf_add_str(&b, " ");
	}
	s = buf_cstr(&b);
	end = b.len;
	for (;;) {
		bool changed = true;

		/* (2) trailers: "(fwd)" and white space */
		for (;;) {
			if (end > start && s[end - 1] == ' ') {
				end--;
			} else if (end - start >= 5 && ascii_strncasecmp(
			    s + end - 5, "(fwd)", 5) == 0) {
				end -= 5;
				*refwd_r = true;
			} else {
				break;
			}
		}
		/* (3) leaders and (4) blobs, until neither applies (5) */
		while (changed) {
			size_t k;

			changed = false;
			for (;;) {
				if (start < end && s[start] == ' ') {
					start++;
				} else if ((k = refwd(s, start, end)) != 0) {
					start = k;
					*refwd_r = true;
				} else {
					break;
				}
				changed = true;
			}
			k = blob(s, start, end);
			if (k != 0 && k < end) {
				start = k;
				changed = true;
			}
		}
		/* (6) "[fwd:" subject "]" */
		if (end - start >= 6 && ascii_strncasecmp(s + start, "[fwd:",
		    5) == 0 && s[end - 1] == ']') {
			start += 5;
			end--;
			*refwd_r = true;
			continue;
		}
		break;
	}
	buf_add(out, s + start, end - start);
	buf_free(&b);
}
