/*
 * mime.c - libFuzzer target for mime_parse() and the struct mime_info it
 * builds (store/mime*.c).
 *
 * fuzz-sources: common/buf.c common/log.c common/util.c common/xalloc.c
 * fuzz-sources: store/mime.c store/mime_addr.c store/mime_codec.c
 * fuzz-sources: store/mime_fields.c store/mime_html.c store/mime_imap.c
 * fuzz-sources: store/mime_jmap.c store/mime_layout.c store/mime_prescan.c
 * fuzz-sources: store/mime_text.c store/mime_simple.c common/subject.c
 *
 * The input is a raw message, parsed with small limits so that every
 * limit is reached often and a run stays fast.  Invariants checked,
 * beyond "no crash":
 *   - mime_parse() never fails and writes no error;
 *   - the part tree is pre-order with each part's header before its body,
 *     children inside their parent's body and in order, everything inside
 *     the message; the limits on parts, depth, text and preview hold;
 *   - GMime's tree is always followed (MIME_LAYOUT_FAILED) unless the
 *     input has a line longer than 1 KiB (GMime reads in 4 KiB blocks);
 *   - ENVELOPE, BODY and BODYSTRUCTURE are well-formed IMAP: balanced
 *     parentheses, quoted strings 7-bit with only \" and \\ escaped,
 *     literals of the length they announce, nothing after the end;
 *   - the search text and preview are valid UTF-8;
 *   - mime_section() finds every described part by its part number, and
 *     its MIME header;
 *   - decoding every leaf, its text, and walking its header fields stays
 *     inside the buffers;
 *   - encode -> decode succeeds (the decoder's own checks hold) and
 *     encodes to the same bytes;
 *   - mime_parse_text() gives the same text, subject and flags (its
 *     fast path for plain single-part messages included).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/common.h"
#include "store/mime.h"

static const struct mime_limits lim = {
	.max_parts = 48,
	.max_depth = 6,
	.max_header = 2048,
	.max_fields = 128,
	.max_text = 2048,
	.max_preview = 40,
};

static bool
utf8_ok(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = p[i] < 0x80 ? 1 : p[i] >= 0xc2 && p[i] < 0xe0 ? 2 :
		    p[i] >= 0xe0 && p[i] < 0xf0 ? 3 : p[i] >= 0xf0 &&
		    p[i] < 0xf5 ? 4 : 0;

		if (k == 0 || k > n - i)
			return false;
		for (size_t j = 1; j < k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
		i += k;
	}
	return true;
}

/* imap_ok - one parenthesised IMAP list and nothing after it */
static bool
imap_ok(const char *s)
{
	size_t n = strlen(s), i = 0;
	int depth = 0;

	if (n == 0 || s[0] != '(')
		return false;
	while (i < n) {
		char c = s[i];

		if (c == '(') {
			depth++;
			i++;
		} else if (c == ')') {
			i++;
			if (--depth < 0)
				return false;
			if (depth == 0)
				return i == n;
		} else if (c == ' ') {
			i++;
		} else if (c == '"') {
			for (i++; i < n && s[i] != '"'; i++) {
				unsigned char ch = (unsigned char)s[i];

				if (ch == '\\' && (i + 1 >= n ||
				    (s[i + 1] != '"' && s[i + 1] != '\\')))
					return false;
				if (ch == '\\')
					i++;
				else if (ch >= 0x80 || ch == '\r' || ch == '\n')
					return false;
			}
			if (i >= n)
				return false;
			i++;
		} else if (c == '{') {
			size_t len = 0;

			for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
				len = len * 10 + (size_t)(s[i] - '0');
			if (i + 3 > n || memcmp(s + i, "}\r\n", 3) != 0 ||
			    len > n - i - 3)
				return false;
			i += 3 + len;
		} else if (n - i >= 3 && memcmp(s + i, "NIL", 3) == 0) {
			i += 3;
		} else if (c >= '0' && c <= '9') {
			while (i < n && s[i] >= '0' && s[i] <= '9')
				i++;
		} else {
			return false;
		}
	}
	return false;
}

static bool
long_line(const uint8_t *data, size_t size)
{
	size_t run = 0;

	for (size_t i = 0; i < size; i++) {
		run = data[i] == '\n' ? 0 : run + 1;
		if (run > 1024)
			return true;
	}
	return false;
}

static void
check_parts(const struct mime_info *info, const uint8_t *data, size_t size)
{
	for (uint32_t i = 0; i < info->nparts; i++) {
		const struct mime_part *p = &info->parts[i];
		uint64_t start, len, after = p->body_start;
		uint32_t part;
		struct buf out = BUF_INIT(1 << 16), id = BUF_INIT(0);
		size_t pos = 0, no, nl, vo, vl;
		size_t hl = p->body_start - p->hdr_start;

		ASSERT(p->hdr_start <= p->body_start);
		ASSERT(p->body_start <= p->body_end && p->body_end <= size);
		ASSERT(p->next > i && p->next <= info->nparts);
		ASSERT(p->depth <= lim.max_depth);
		ASSERT(i == 0 || (p->parent < i && info->parts[p->parent].next >=
		    p->next));
		for (uint32_t j = i + 1; j < p->next; j = info->parts[j].next) {
			ASSERT(info->parts[j].parent == i);
			ASSERT(info->parts[j].hdr_start >= after);
			ASSERT(info->parts[j].body_end <= p->body_end);
			after = info->parts[j].body_end;
		}
		/* its part number finds it, unless it is the message of a
		 * message/rfc822 part, which shares its parent's number */
		if (p->part_id[0] != '\0' && !(p->flags & MIME_PART_MESSAGE)) {
			ASSERT(mime_section(info, p->part_id, strlen(p->part_id),
			    &start, &len, &part) == 0);
			ASSERT(part == i && start == p->body_start &&
			    len == p->body_end - p->body_start);
			buf_addf(&id, "%s.MIME", p->part_id);
			ASSERT(mime_section(info, buf_cstr(&id), id.len, &start,
			    &len, &part) == 0);
			ASSERT(part == i && start == p->hdr_start);
		}
		while (mime_header_next(data + p->hdr_start, hl, &pos, &no, &nl,
		    &vo, &vl))
			ASSERT(no + nl < vo && vo + vl <= hl && pos <= hl);
		if (p->kind == MIME_LEAF) {
			int rc = mime_part_decode(info, i, data, size, &out);

			ASSERT(rc != 0 || out.len == p->decoded_size);
			buf_reset(&out);
			(void)mime_part_text(info, i, data, size, true, 300,
			    &out);
			ASSERT(out.len <= 300 && utf8_ok((char *)out.data,
			    out.len));
		}
		buf_free(&out);
		buf_free(&id);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_info *info = NULL, *back = NULL;
	struct buf err = BUF_INIT(0), e1 = BUF_INIT(0), e2 = BUF_INIT(0);
	size_t chars = 0;

	ASSERT(mime_parse(data, size, &lim, &info, &err) == 0);
	ASSERT(err.len == 0 && info != NULL);
	ASSERT(info->size == size && info->nparts >= 1);
	ASSERT(info->nparts <= lim.max_parts);
	ASSERT(!(info->flags & MIME_LAYOUT_FAILED) || long_line(data, size));
	ASSERT(imap_ok(info->envelope));
	ASSERT(imap_ok(info->body));
	ASSERT(imap_ok(info->bodystructure));
	ASSERT(info->text_len <= lim.max_text);
	ASSERT(strlen(info->text) == info->text_len);
	ASSERT(utf8_ok(info->text, info->text_len));
	ASSERT(utf8_ok(info->preview, strlen(info->preview)));
	for (const char *p = info->preview; *p; p++)
		chars += ((unsigned char)*p & 0xc0) != 0x80;
	ASSERT(chars <= lim.max_preview);
	check_parts(info, data, size);

	ASSERT(mime_info_encode(info, &e1) == 0);
	ASSERT(mime_info_decode(e1.data, e1.len, &back, &err) == 0);
	ASSERT(mime_info_encode(back, &e2) == 0);
	ASSERT(e1.len == e2.len && memcmp(e1.data, e2.data, e1.len) == 0);
	mime_info_free(&back);
	/* a partial decode: the fields asked for, as the full one has them */
	for (unsigned want = 0; want <= MIME_DEC_ALL; want++) {
		ASSERT(mime_info_decode_some(e1.data, e1.len, want, &back,
		    &err) == 0);
		ASSERT(back->header_end == info->header_end);
		ASSERT(back->size == info->size);
		ASSERT(back->nparts == ((want & MIME_DEC_PARTS) ?
		    info->nparts : 0));
		ASSERT(back->hdr.from.n == ((want & MIME_DEC_HDR) ?
		    info->hdr.from.n : 0));
		if (want & MIME_DEC_HDR)
			ASSERT(strcmp(back->hdr.base_subject,
			    info->hdr.base_subject) == 0);
		ASSERT(strcmp(back->envelope, (want & MIME_DEC_IMAP) ?
		    info->envelope : "") == 0);
		ASSERT(strcmp(back->preview, (want & MIME_DEC_PREVIEW) ?
		    info->preview : "") == 0);
		mime_info_free(&back);
	}
	/* any bytes: decoded or refused, never a crash */
	for (unsigned want = 0; want <= MIME_DEC_ALL; want += 5) {
		if (mime_info_decode_some(data, size, want, &back, &err) == 0)
			mime_info_free(&back);
		buf_reset(&err);
	}

	/* the text-only parse: the same text, subject, flags and parts */
	ASSERT(mime_parse_text(data, size, &lim, &back, &err) == 0);
	ASSERT(back->text_len == info->text_len &&
	    memcmp(back->text, info->text, info->text_len) == 0);
	ASSERT(back->flags == info->flags);
	ASSERT((back->hdr.subject == NULL) == (info->hdr.subject == NULL));
	ASSERT(back->hdr.subject == NULL ||
	    strcmp(back->hdr.subject, info->hdr.subject) == 0);
	ASSERT(strcmp(back->hdr.base_subject, info->hdr.base_subject) == 0);
	mime_info_free(&back);
	mime_info_free(&info);
	buf_free(&err);
	buf_free(&e1);
	buf_free(&e2);
	return 0;
}
