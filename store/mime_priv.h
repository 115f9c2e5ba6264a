/*
 * mime_priv.h - what the store/mime*.c files share and nothing else
 * includes: the arena that owns a struct mime_info, the parse context,
 * and the entry points of each file.
 *
 *   mime.c		mime_parse() steps, GMime set-up, arena, fallback
 *   mime_prescan.c	how much of the message GMime is shown
 *   mime_layout.c	the offsets of every part
 *   mime_fields.c	part fields and the header summary from GMime
 *   mime_addr.c	RFC 5322 address lists, raw and decoded
 *   mime_imap.c	ENVELOPE, BODY, BODYSTRUCTURE, section ranges
 *   mime_text.c	transfer decoding, charsets, UTF-8, search text
 *   mime_html.c	text/html to text
 *   mime_jmap.c	textBody/htmlBody/attachments, preview, base subject
 *   mime_codec.c	encode/decode
 */
#ifndef POSTERN_MIME_PRIV_H
#define POSTERN_MIME_PRIV_H

#include <gmime/gmime.h>

#include "common/buf.h"
#include "store/mime.h"

/* GMime's parser gives up on nesting deeper than this (gmime-parser.c) */
#define MIME_GMIME_MAX_LEVEL 1024

/* --- arena: many small allocations, freed at once --- */
struct mime_arena *mime_arena_new(void);
void mime_arena_free(struct mime_arena **a);
/* zeroed, 8-byte aligned; never NULL */
void *mime_arena_alloc(struct mime_arena *a, size_t n);
void *mime_arena_array(struct mime_arena *a, size_t nmemb, size_t size);
/* mime_arena_strndup - copy without the NUL bytes of p, NUL-terminate */
char *mime_arena_strndup(struct mime_arena *a, const void *p, size_t n);
char *mime_arena_strdup(struct mime_arena *a, const char *s);

/* --- parse context --- */
struct mime_ctx {
	const unsigned char *msg;
	size_t len;		/* the whole message */
	size_t glen;		/* the prefix GMime is shown */
	struct mime_limits lim;
	GMimeParserOptions *opt;
	struct mime_info *info;
	struct mime_arena *a;
	uint32_t flags;		/* MIME_* found so far */
	/* parts under construction, and for each its GMime objects */
	struct mime_part *parts;
	GMimeObject **obj;	/* the entity (a message's MIME part) */
	GMimeMessage **gmsg;	/* MIME_PART_MESSAGE parts: the message */
	uint32_t nparts, cap;
	bool text_only;		/* mime_parse_text: text and subject only */
};

/* mime_ctx_add - append a zeroed part; its index */
uint32_t mime_ctx_add(struct mime_ctx *c);

/* --- mime_prescan.c --- */
/*
 * mime_prescan - the length of the prefix GMime may see so that the
 * limits bound its allocations; ORs MIME_TRUNC_* into *flags when shorter.
 */
size_t mime_prescan(const unsigned char *m, size_t len,
    const struct mime_limits *lim, uint32_t *flags);

/* --- mime_layout.c --- */
enum name_scan { NAME_VALID, NAME_INVALID, NAME_INCOMPLETE };
/*
 * mime_scan_name - GMime's check of a header field name on a line of n
 * bytes without its '\n'; a line that is not complete may still become a
 * field (NAME_INCOMPLETE)
 */
enum name_scan mime_scan_name(const unsigned char *p, size_t n,
    bool complete);
/*
 * mime_layout - the parts of msg (GMime's tree over c->msg[0..c->glen))
 * with their offsets, kinds, depths and part numbers; -1 (parts reset)
 * when the raw bytes and GMime's tree disagree.
 */
int mime_layout(struct mime_ctx *c, GMimeMessage *msg) WARN_UNUSED;
/* mime_layout_body_start - where GMime's rules end the top header block
 * of m[0..len) (0 when they fail) */
size_t mime_layout_body_start(const unsigned char *m, size_t len);
/* mime_layout_extend - parts that ran to the end of the prefix run to
 * the end of the message */
void mime_layout_extend(struct mime_ctx *c);
/* mime_layout_lines - lines of every text leaf and message part */
void mime_layout_lines(struct mime_ctx *c);

/* --- mime_fields.c --- */
void mime_fields_part(struct mime_ctx *c, uint32_t i);
void mime_fields_defaults(struct mime_ctx *c, uint32_t i);
/* mime_fields_headers - the summary of msg's header (decoded too when
 * full; the envelope needs only the raw fields and addresses) */
void mime_fields_headers(struct mime_ctx *c, GMimeMessage *msg,
    struct mime_headers *h, bool full);
/* mime_fields_subject - of the summary, only the subject (raw, decoded,
 * base) */
void mime_fields_subject(struct mime_ctx *c, GMimeMessage *msg,
    struct mime_headers *h);
/* mime_fields_subject_raw - the same from the raw Subject value (NULL:
 * none) */
void mime_fields_subject_raw(struct mime_ctx *c, const char *raw,
    struct mime_headers *h);
/* mime_simple (mime_simple.c) - the fast path of mime_parse_text: true
 * when the message has one of the plain shapes it reads, now described
 * (its parts and subject); false, and no part left, otherwise */
bool mime_simple(struct mime_ctx *c);
/* mime_unfold - header value without CR/LF/NUL, trimmed; arena copy */
char *mime_unfold(struct mime_arena *a, const char *v);
/* mime_raw_header - raw value of the first field name of o; NULL */
const char *mime_raw_header(GMimeObject *o, const char *name);
bool mime_is_type(const struct mime_part *p, const char *type,
    const char *subtype);

/* --- mime_addr.c --- */
void mime_addr_parse(struct mime_arena *a, GMimeParserOptions *opt,
    const char *raw, struct mime_addr_list *out);

/* --- mime_imap.c --- */
void mime_imap_envelope(struct buf *out, const struct mime_headers *h);
/* mime_imap_body - BODY (ext false) or BODYSTRUCTURE of the root */
void mime_imap_body(struct mime_ctx *c, struct buf *out, bool ext);
/* mime_imap_string - nstring: NIL, "quoted" or {n} literal */
void mime_imap_nstring(struct buf *out, const char *s);

/* --- mime_text.c --- */
/* mime_utf8_append - append s[0..n) as valid UTF-8 (bad bytes become
 * U+FFFD, NUL dropped) */
void mime_utf8_append(struct buf *out, const void *s, size_t n);
bool mime_utf8_valid(const void *s, size_t n);
/* mime_utf8_cut - the longest prefix of at most max bytes that does not
 * split a character of the valid UTF-8 s[0..n) */
size_t mime_utf8_cut(const void *s, size_t n, size_t max);
/* mime_decode_cte - transfer-decode in[0..n) by encoding token enc */
void mime_decode_cte(const char *enc, const void *in, size_t n,
    struct buf *out);
/* mime_to_utf8 - convert from charset (NULL: none declared) */
void mime_to_utf8(const char *charset, const void *in, size_t n,
    struct buf *out);
void mime_text_sizes(struct mime_ctx *c);
void mime_text_search(struct mime_ctx *c);

/* --- mime_html.c --- */
/* mime_html_strip - text of the UTF-8 html; at most max bytes out */
void mime_html_strip(const char *html, size_t n, size_t max,
    struct buf *out);

/* --- mime_jmap.c --- */
void mime_jmap_lists(struct mime_ctx *c);
void mime_jmap_preview(struct mime_ctx *c, const size_t *text_off,
    const size_t *text_len);
/* mime_base_subject - RFC 5256 2.1 base subject of the UTF-8 subject */
char *mime_base_subject(struct mime_arena *a, const char *subject);

#endif
