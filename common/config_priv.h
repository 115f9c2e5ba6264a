/*
 * config_priv.h - the key tables behind config.h, shared by config.c (the
 * engine: load, show, sample) and config_table.c (the tables, value
 * checks and derived defaults).  Only those two files and the unit test
 * include this header.
 */
#ifndef POSTERN_CONFIG_PRIV_H
#define POSTERN_CONFIG_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum config_type {
	CONFIG_T_STRING,	/* char * */
	CONFIG_T_BOOL,		/* bool */
	CONFIG_T_UINT,		/* unsigned */
	CONFIG_T_SIZE,		/* uint64_t, bytes */
	CONFIG_T_DURATION,	/* unsigned, seconds */
	CONFIG_T_ENUM,		/* an enum (int-sized): index into choices */
	CONFIG_T_STRLIST,	/* struct strlist */
	CONFIG_T_SCORE,		/* double: a spam score, in +-CONFIG_SCORE_MAX
				   (min and max unused) */
};

#define CONFIG_SCORE_MAX 1000.0

/* config_check_fn - extra test of a string or list element; NULL when
 * fine, else a static text that ends the message "group.key: ..." */
typedef const char *config_check_fn(const char *value);
/* config_derive_fn - fill the empty field (its "" or [] default) from the
 * rest of cfg, which has every earlier key in table order final */
typedef void config_derive_fn(const struct config *cfg, void *field);

struct config_key {
	const char *name;
	enum config_type type;
	/* the default as text: "50M", "5m", "true"; a list is its elements
	 * separated by single spaces */
	const char *def;
	uint64_t min, max;	/* UINT, SIZE, DURATION: inclusive range */
	size_t off;		/* offset of the field in struct config */
	/* ENUM: names, index = value; STRING: the allowed values; NULL-ended */
	const char *const *choices;
	config_check_fn *check;	/* STRING and STRLIST elements, or NULL */
	config_derive_fn *derive;	/* "" / [] is replaced by this, or NULL */
	const char *doc;	/* one line for the sample file */
};

struct config_group {
	const char *name;
	const struct config_key *keys;
	size_t nkeys;
	const char *doc;
};

extern const struct config_group config_groups[];
extern const size_t config_ngroups;

/* config_field - the field k sets in cfg */
static inline void *
config_field(const struct config *cfg, const struct config_key *k)
{
	return (char *)cfg + k->off;
}

/* in config.c */
/* config_defaults_new - a config with the table defaults, not derived */
struct config *config_defaults_new(void);
/* config_value_free - free a STRING or STRLIST field, leave it empty */
void config_value_free(const struct config_key *k, void *field);

/* in config_show.c */
/* config_format_value - the field in libconfig syntax, as show prints it */
void config_format_value(const struct config_key *k, const void *field,
    struct buf *out);
/* config_format_string - s in double quotes, escaped as libconfig reads
 * it back (also how messages show a value: no raw control bytes) */
void config_format_string(const char *s, struct buf *out);
/* config_format_plain - a number as a message shows it: "50M", "4000s" */
void config_format_plain(const struct config_key *k, uint64_t v,
    struct buf *out);

/* the parse state of config_load, for config_table_check's messages */
struct config_errs;
/* config_err_key - one "FILE:LINE: message" at group.key's setting (or the
 * file's first line when the key was not set) */
void config_err_key(struct config_errs *e, const char *group,
    const char *key, const char *fmt, ...) PRINTF_LIKE(4, 5);
/* config_is_set - whether the file set group.key */
bool config_is_set(struct config_errs *e, const char *group, const char *key);

/* config_table_check - rules between keys (cert needs key, backoff order) */
void config_table_check(const struct config *cfg, struct config_errs *e);

/* config_check_domain - LDH labels of 1..63, at most 253 in all */
const char *config_check_domain(const char *s);

#endif
