/*
 * imap_parse_priv.h - internals of the IMAP command parser shared by its
 * files (no other folder includes this):
 *
 *   imap_arena.c	the per-command arena
 *   imap_parser.c	the framer: lines, literals, limits, resync, errors
 *   imap_lex.c		tokens: atoms, strings, literals, numbers, sets, dates
 *   imap_cmd.c		command dispatch and most commands
 *   imap_cmd_ext.c	LIST/LSUB, ID, ENABLE, NOTIFY, METADATA, QUOTA
 *   imap_search.c	SEARCH, SORT, THREAD: keys as a tree
 *   imap_fetch.c	FETCH attributes, sections, modifiers
 *   imap_mutf7.c	modified UTF-7 and UTF-8 checks
 *   imap_write.c	response-side writers
 *   imap_unparse.c	imap_cmd_write: a command back to text
 */
#ifndef POSTERN_IMAP_PARSE_PRIV_H
#define POSTERN_IMAP_PARSE_PRIV_H

#include "imap-jmap/imap_parse.h"

/* ---- arena: alloc-only, freed at once ---- */

struct imap_arena *imap_arena_new(void);
void imap_arena_free(struct imap_arena **a);
/* imap_arena_alloc - n zeroed bytes, aligned for any type */
void *imap_arena_alloc(struct imap_arena *a, size_t n);
void *imap_arena_array(struct imap_arena *a, size_t nmemb, size_t size);
/* imap_arena_strndup - n bytes (NULs kept) and a NUL */
char *imap_arena_strndup(struct imap_arena *a, const void *p, size_t n);
/* imap_arena_adopt - free(p) when the arena goes */
void imap_arena_adopt(struct imap_arena *a, void *p);

/* ---- lexer over one complete (or prefix of a) command ---- */

/* a literal of the command: its data follows the text up to end */
struct imap_lit {
	size_t end;		/* offset in the text just past its "}" */
	const char *data;	/* NUL-terminated */
	size_t len;
	bool lit8;		/* "~{n}" */
	bool has_nul;
};

struct imap_lex {
	const char *s;		/* the command's text, literal data left out */
	size_t len, pos;
	const struct imap_lit *lit;
	size_t nlit, next_lit;
	struct imap_arena *a;
	const struct imap_limits *lim;
	unsigned depth;
	bool utf8;		/* mailbox names are UTF-8 */
	bool uid;		/* the command has the UID prefix */
	/*
	 * prefix: s ends with the marker of a literal whose data has not
	 * come: reaching it is "so far so good" (hit_end), not an error;
	 * pending_message says it is an APPEND message.
	 */
	bool prefix, hit_end, pending_message;
	const char *err, *code;
	bool err_no;
};

/* lex_fail - record the first error; always false */
bool lex_fail(struct imap_lex *lx, const char *text);
bool lex_fail_code(struct imap_lex *lx, const char *text, const char *code,
    bool is_no);
/* lex_need - a byte is there; else fail (or hit_end in a prefix) */
bool lex_need(struct imap_lex *lx);
/* lex_peek - the next byte, -1 at the end */
int lex_peek(const struct imap_lex *lx);
/* lex_end - the command ends here */
bool lex_end(struct imap_lex *lx);
/* lex_sp - exactly one SP */
bool lex_sp(struct imap_lex *lx);
bool lex_char(struct imap_lex *lx, char c, const char *what);
/* lex_open / lex_close - "(" and ")", counting depth */
bool lex_open(struct imap_lex *lx);
bool lex_close(struct imap_lex *lx);
/* lex_at_close - the next byte is ")" */
bool lex_at_close(const struct imap_lex *lx);

/*
 * lex_keyword - a run of ATOM-CHARs other than "[" as a view into the
 * text (not copied); at least one.  lex_is - case-insensitive match.
 */
bool lex_keyword(struct imap_lex *lx, const char **p, size_t *len);
bool lex_is(const char *p, size_t len, const char *lit);
/* lex_peek_keyword - the keyword at pos matches lit (not consumed) */
bool lex_peek_keyword(const struct imap_lex *lx, const char *lit);

/* strings: copies into the arena */
bool lex_atom(struct imap_lex *lx, struct imap_str *out);
bool lex_astring(struct imap_lex *lx, struct imap_str *out);
bool lex_string(struct imap_lex *lx, struct imap_str *out);
/* lex_nstring - NIL gives out->p == NULL */
bool lex_nstring(struct imap_lex *lx, struct imap_str *out);

#define LEX_LIT8	0x1	/* "~{n}" allowed */
#define LEX_NUL		0x2	/* NUL octets allowed */
#define LEX_MESSAGE	0x4	/* an APPEND message (limit max_append) */
/* lex_literal - a literal (no quoted string); *binary_r: it was "~{" */
bool lex_literal(struct imap_lex *lx, unsigned flags, struct imap_str *out,
    bool *binary_r);
/* lex_at_literal - the next bytes start a literal or literal8 */
bool lex_at_literal(const struct imap_lex *lx);

/* numbers: digits only; nz forbids 0 and leading zeros */
bool lex_number(struct imap_lex *lx, uint64_t max, uint64_t *v);
bool lex_nz_number(struct imap_lex *lx, uint64_t max, uint64_t *v);
bool lex_u32(struct imap_lex *lx, uint32_t *v);		/* number */
bool lex_nz_u32(struct imap_lex *lx, uint32_t *v);	/* nz-number */

#define IMAP_NUMBER64_MAX	((uint64_t)INT64_MAX)	/* number64, modseq */

bool lex_seqset(struct imap_lex *lx, struct imap_seqset *out);
bool lex_date(struct imap_lex *lx, struct imap_date *out);
bool lex_datetime(struct imap_lex *lx, struct imap_datetime *out);
bool lex_mailbox(struct imap_lex *lx, struct imap_mailbox *out);
/* lex_list_mailbox - list-mailbox: wildcards and "]" in atoms */
bool lex_list_mailbox(struct imap_lex *lx, struct imap_mailbox *out);
/* lex_partial_range - PARTIAL's "lo:hi" / "-lo:-hi" (RFC 9394) */
bool lex_partial_range(struct imap_lex *lx, struct imap_partial *out);

/* a growable array in the arena, bounded by max_items */
struct lex_vec {
	void *v;
	size_t n, cap, size;
};
void lex_vec_init(struct lex_vec *vec, size_t size);
/* lex_vec_push - a zeroed new element, NULL (and fail) past max_items */
void *lex_vec_push(struct imap_lex *lx, struct lex_vec *vec);

/* character classes */
bool imap_is_atom_char(unsigned char c);
bool imap_is_astring_char(unsigned char c);	/* + "]" and 8-bit */
bool imap_is_tag_char(unsigned char c);
/* imap_is_base64 - RFC 4648 base64 with padding ("" is) */
bool imap_is_base64(const char *s, size_t len);

/* ---- command grammar ---- */

/* imap_cmd_parse - tag SP command [args], to the end of lx */
bool imap_cmd_parse(struct imap_lex *lx, struct imap_cmd *cmd);

/* argument parsers, called after the command name; each starts with
 * the SP that precedes its first argument */
bool imap_parse_list(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_lsub(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_id(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_enable(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_notify(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_getmetadata(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_setmetadata(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_getquota(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_setquota(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_search(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_sort(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_thread(struct imap_lex *lx, struct imap_cmd *cmd);
bool imap_parse_fetch(struct imap_lex *lx, struct imap_cmd *cmd);
/* imap_parse_status_atts - "(" status-att *(SP status-att) ")" */
bool imap_parse_status_atts(struct imap_lex *lx, unsigned *items);
/* imap_parse_fetch_atts - "(" fetch-att *(SP fetch-att) ")" */
bool imap_parse_fetch_atts(struct imap_lex *lx,
    const struct imap_fetch_att **att, size_t *n);

/* names for the writer: the table entries of the parsers */
const char *imap_status_att_name(unsigned bit);
const char *imap_skey_name(enum imap_skey_kind kind);
const char *imap_sort_key_name(enum imap_sort_key key);
const char *imap_entry_type_name(enum imap_entry_type t);
const char *imap_fetch_name(const struct imap_fetch_att *att);
const char *imap_flag_name(unsigned bit);
const char *imap_use_name(unsigned bit);
const char *imap_notify_event_name(unsigned bit);
const char *imap_notify_filter_name(enum imap_notify_filter f);
extern const char *const imap_month_name[12];

#endif
