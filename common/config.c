/*
 * config.c - load, check, print and document the configuration (see
 * config.h) by walking the key tables of config_table.c.
 *
 * Loading starts from the table defaults, reads the file with libconfig
 * (which handles @include, relative to the file's own directory), then
 * walks every setting: a known group, a known key, the right type, in
 * range.  Every problem is one "FILE:LINE: message" line and the walk goes
 * on, so one run of `postern config check` names every error; only a
 * syntax error stops it, because libconfig gives no tree after one.  Rules
 * between keys run next, then the derived defaults are filled in.
 *
 * libconfig 1.5 reads an integer literal that does not fit in 32 bits as
 * its low 32 bits, silently (5000000000 becomes 705032704).  We cannot see
 * the text through its API, so for every 32-bit integer we re-read the
 * literal from the source line and refuse one that libconfig truncated;
 * a big number is written "5G", or with libconfig's 64-bit L suffix.
 *
 * libconfig 1.5 joins the include directory to every @include name, so
 * an absolute @include path cannot be opened once we set the directory
 * (which we always do for a path with a '/'); includes are written
 * relative to the including file.  XXX libconfig 1.7's include function
 * hook would lift this.
 *
 * Printing (config_show, config_sample) is in config_show.c.
 */
#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_priv.h"
#include "xalloc.h"

/* a config file (and each include) is read again only to look at one
 * integer literal; anything bigger than this is not a config file */
#define CONFIG_SOURCE_MAX (16u * 1024 * 1024)

_Static_assert(sizeof(enum log_dest) == sizeof(int), "enum size");
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum bare_newline_policy) == sizeof(int),
    "enum size");

struct config_errs {
	struct buf *out;
	const char *path;	/* the main file */
	char *incdir;		/* its directory, or NULL for "." */
	config_t *lc;		/* the parsed tree; NULL before/without one */
	unsigned n;		/* errors so far */
	struct buf name;	/* scratch: a resolved file name */
	struct buf quoted;	/* scratch: a value for a message */
	char *src_name;		/* the file in src, for the integer re-read */
	struct buf src;
};

static void
strlist_free(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
config_value_free(const struct config_key *k, void *f)
{
	if (k->type == CONFIG_T_STRING) {
		free(*(char **)f);
		*(char **)f = NULL;
	} else if (k->type == CONFIG_T_STRLIST) {
		strlist_free(f);
	}
}

/* parsers of the string forms */

static int
parse_with_unit(const char *s, const char *units, const uint64_t *mult,
    uint64_t *r)
{
	size_t len = strlen(s);
	uint64_t m = 1, v;
	const char *u;

	if (len > 0 && !is_ascii_digit((unsigned char)s[len - 1])) {
		u = strchr(units, s[len - 1]);
		if (u == NULL)
			return -1;
		m = mult[u - units];
		len--;
	}
	if (parse_u64(s, len, UINT64_MAX / m, &v) < 0)
		return -1;
	*r = v * m;
	return 0;
}

int
config_parse_size(const char *s, uint64_t *r)
{
	static const uint64_t mult[] = { 1ull << 10, 1ull << 10, 1ull << 20,
		1ull << 20, 1ull << 30, 1ull << 30, 1ull << 40, 1ull << 40 };

	return parse_with_unit(s, "kKmMgGtT", mult, r);
}

int
config_parse_duration(const char *s, uint64_t *r)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };

	return parse_with_unit(s, "smhd", mult, r);
}

/* errors */

/* file_name - where a setting came from, as a path the user can open:
 * libconfig names an included file as written in the @include */
static const char *
file_name(struct config_errs *e, const char *src)
{
	if (src == NULL || strcmp(src, e->path) == 0)
		return e->path;
	if (src[0] == '/' || e->incdir == NULL)
		return src;
	buf_reset(&e->name);
	buf_addf(&e->name, "%s%s%s", e->incdir,
	    strcmp(e->incdir, "/") == 0 ? "" : "/", src);
	return buf_cstr(&e->name);
}

static void PRINTF_LIKE(4, 0)
err_vat(struct config_errs *e, const char *file, unsigned line,
    const char *fmt, va_list ap)
{
	struct buf msg = BUF_INIT(0);

	if (line > 0)
		buf_addf(&msg, "%s:%u: ", file, line);
	else
		buf_addf(&msg, "%s: ", file);
	if (buf_vprintf(&msg, fmt, ap) < 0)
		PANIC("config: buf_vprintf on an unlimited buffer");
	buf_add_str(&msg, "\n");
	/* a caller's limit on errors drops whole lines, never half of one;
	 * n still counts them, so the load fails all the same */
	if (e->out->max == 0 || msg.len <= e->out->max - e->out->len)
		buf_add(e->out, msg.data, msg.len);
	buf_free(&msg);
	e->n++;
}

static void PRINTF_LIKE(4, 5)
err_file(struct config_errs *e, const char *file, unsigned line,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vat(e, file, line, fmt, ap);
	va_end(ap);
}

static void PRINTF_LIKE(3, 4)
err_at(struct config_errs *e, const config_setting_t *s, const char *fmt,
    ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_vat(e, file_name(e, config_setting_source_file(s)),
	    config_setting_source_line(s), fmt, ap);
	va_end(ap);
}

/* quote - v escaped for a message; valid until the next call */
static const char *
quote(struct config_errs *e, const char *v)
{
	buf_reset(&e->quoted);
	config_format_string(v, &e->quoted);
	return buf_cstr(&e->quoted);
}

static config_setting_t *
lookup(struct config_errs *e, const char *group, const char *key)
{
	config_setting_t *g;

	if (e->lc == NULL)
		return NULL;
	g = config_setting_get_member(config_root_setting(e->lc), group);
	if (g == NULL || !config_setting_is_group(g))
		return NULL;
	return config_setting_get_member(g, key);
}

bool
config_is_set(struct config_errs *e, const char *group, const char *key)
{
	return lookup(e, group, key) != NULL;
}

void
config_err_key(struct config_errs *e, const char *group, const char *key,
    const char *fmt, ...)
{
	config_setting_t *s = lookup(e, group, key);
	va_list ap;

	va_start(ap, fmt);
	if (s != NULL)
		err_vat(e, file_name(e, config_setting_source_file(s)),
		    config_setting_source_line(s), fmt, ap);
	else
		err_vat(e, e->path != NULL ? e->path : "(defaults)", 0, fmt,
		    ap);
	va_end(ap);
}

/* the integer re-read (see the top comment) */

static const char *
source_line(struct config_errs *e, const char *file, unsigned line)
{
	const char *p, *end;
	FILE *fp;
	size_t n;
	char chunk[4096];

	if (e->src_name == NULL || strcmp(e->src_name, file) != 0) {
		free(e->src_name);
		e->src_name = xstrdup(file);
		buf_reset(&e->src);
		if ((fp = fopen(file, "r")) == NULL)
			return NULL;
		while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
			if (buf_append(&e->src, chunk, n) < 0)
				break;
		fclose(fp);
	}
	p = buf_cstr(&e->src);
	end = p + e->src.len;
	for (unsigned i = 1; i < line && p < end; i++) {
		p = memchr(p, '\n', (size_t)(end - p));
		if (p == NULL)
			return NULL;
		p++;
	}
	return p < end ? p : NULL;
}

static bool
is_name_char(int c)
{
	return is_ascii_alnum(c) || c == '_' || c == '-' || c == '*';
}

/* digit_value - c as a digit of base 10 or 16, or -1 */
static int
digit_value(char c, bool hex)
{
	int l = ascii_tolower((unsigned char)c);

	if (is_ascii_digit(l))
		return l - '0';
	if (hex && l >= 'a' && l <= 'f')
		return l - 'a' + 10;
	return -1;
}

/*
 * literal_fits - false when the integer literal of s, found after its name
 * on its source line, is outside int's range.  When the literal cannot be
 * found (a name on one line and the value on the next) we trust libconfig.
 */
static bool
literal_fits(struct config_errs *e, const config_setting_t *s,
    struct buf *text)
{
	const char *p = source_line(e, file_name(e,
	    config_setting_source_file(s)), config_setting_source_line(s));
	size_t nlen = strlen(s->name);
	uint64_t v = 0, limit;

	for (; p != NULL && *p != '\0' && *p != '\n'; p++) {
		const char *q = p + nlen, *start;
		bool neg = false, hex = false;
		unsigned base = 10;

		if (strncmp(p, s->name, nlen) != 0 || is_name_char((unsigned
		    char)q[0]) || (p != buf_cstr(&e->src) &&
		    is_name_char((unsigned char)p[-1])))
			continue;
		while (*q == ' ' || *q == '\t')
			q++;
		if (*q != '=' && *q != ':')
			continue;
		for (q++; *q == ' ' || *q == '\t'; q++)
			;
		start = q;
		if (*q == '-' || *q == '+')
			neg = *q++ == '-';
		if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X')) {
			hex = true;
			base = 16;
			q += 2;
		}
		limit = neg ? (uint64_t)INT_MAX + 1 : INT_MAX;
		for (int d; (d = digit_value(*q, hex)) >= 0; q++)
			if (v <= limit)	/* stop growing once too big */
				v = v * base + (unsigned)d;
		if (v <= limit)
			return true;
		buf_add(text, start, (size_t)(q - start));
		return false;
	}
	return true;
}

/* setting values */

static const char *
type_text(const struct config_key *k)
{
	switch (k->type) {
	case CONFIG_T_STRING:
		return "a string in double quotes";
	case CONFIG_T_BOOL:
		return "true or false";
	case CONFIG_T_UINT:
		return "an integer";
	case CONFIG_T_SIZE:
		return "a size: bytes, or a string like \"10k\", \"50M\", "
		    "\"1G\"";
	case CONFIG_T_DURATION:
		return "a duration: seconds, or a string like \"30s\", \"5m\", "
		    "\"4h\", \"5d\"";
	case CONFIG_T_ENUM:
		return "a string";	/* err_choices lists them */
	case CONFIG_T_STRLIST:
		return "a list of strings, like [ \"a\", \"b\" ]";
	case CONFIG_T_SCORE:
		return "a number, like 6 or 4.5";
	}
	return "?";
}

static int
choice_index(const struct config_key *k, const char *v)
{
	for (int i = 0; k->choices[i] != NULL; i++)
		if (strcmp(k->choices[i], v) == 0)
			return i;
	return -1;
}

/* err_choices - v is not a choice (or, v == NULL, not even a string) */
static void
err_choices(struct config_errs *e, const config_setting_t *s,
    const char *what, const struct config_key *k, const char *v)
{
	struct buf list = BUF_INIT(0);

	for (int i = 0; k->choices[i] != NULL; i++)
		buf_addf(&list, "%s%s", i == 0 ? "" : "|", k->choices[i]);
	if (v != NULL)
		err_at(e, s, "%s: %s is not one of %s", what, quote(e, v),
		    buf_cstr(&list));
	else
		err_at(e, s, "%s: expected a string, one of %s", what,
		    buf_cstr(&list));
	buf_free(&list);
}

/* set_number - UINT, SIZE and DURATION from an integer or a string */
static void
set_number(struct config_errs *e, const config_setting_t *s,
    const char *what, const struct config_key *k, void *f)
{
	struct buf text = BUF_INIT(0);
	long long ll;
	uint64_t v;
	int t = config_setting_type(s);

	if (t == CONFIG_TYPE_INT && !literal_fits(e, s, &text)) {
		if (k->type == CONFIG_T_UINT)
			err_at(e, s, "%s: %s is out of range", what,
			    buf_cstr(&text));
		else
			err_at(e, s, "%s: %s does not fit in 32 bits; write it "
			    "as a string with a unit, or add L (%sL)", what,
			    buf_cstr(&text), buf_cstr(&text));
		buf_free(&text);
		return;
	}
	if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64) {
		ll = t == CONFIG_TYPE_INT ? config_setting_get_int(s) :
		    config_setting_get_int64(s);
		if (ll < 0) {
			err_at(e, s, "%s: %lld is negative", what, ll);
			return;
		}
		v = (uint64_t)ll;
	} else if (t == CONFIG_TYPE_STRING && k->type != CONFIG_T_UINT) {
		const char *str = config_setting_get_string(s);
		int r = k->type == CONFIG_T_SIZE ?
		    config_parse_size(str, &v) : config_parse_duration(str, &v);

		if (r < 0) {
			err_at(e, s, "%s: bad %s %s (expected %s)", what,
			    k->type == CONFIG_T_SIZE ? "size" : "duration",
			    quote(e, str), type_text(k));
			return;
		}
	} else {
		err_at(e, s, "%s: expected %s", what, type_text(k));
		return;
	}
	if (v < k->min || v > k->max) {
		config_format_plain(k, v, &text);
		buf_add_str(&text, " is out of range (");
		config_format_plain(k, k->min, &text);
		buf_add_str(&text, "..");
		config_format_plain(k, k->max, &text);
		err_at(e, s, "%s: %s)", what, buf_cstr(&text));
		buf_free(&text);
		return;
	}
	if (k->type == CONFIG_T_SIZE)
		*(uint64_t *)f = v;
	else
		*(unsigned *)f = (unsigned)v;
}

static void
set_strlist(struct config_errs *e, const config_setting_t *s,
    const char *what, const struct config_key *k, void *f)
{
	struct strlist l = { NULL, 0 };
	unsigned errs = e->n;
	int n = config_setting_length(s);

	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		err_at(e, s, "%s: expected %s", what, type_text(k));
		return;
	}
	l.v = xcalloc((size_t)n + 1, sizeof(*l.v));
	for (int i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(s,
		    (unsigned)i);
		const char *v, *why;

		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			err_at(e, el, "%s[%d]: expected a string", what, i);
			continue;
		}
		v = config_setting_get_string(el);
		if (k->check != NULL && (why = k->check(v)) != NULL) {
			err_at(e, el, "%s[%d]: %s: %s", what, i, quote(e, v),
			    why);
			continue;
		}
		l.v[l.n++] = xstrdup(v);
	}
	if (e->n != errs) {
		strlist_free(&l);
		return;
	}
	config_value_free(k, f);
	*(struct strlist *)f = l;
}

static void
set_value(struct config_errs *e, const config_setting_t *s,
    const struct config_group *g, const struct config_key *k, void *f)
{
	char what[128];
	const char *v, *why;
	int t = config_setting_type(s), i = -1, n;

	n = snprintf(what, sizeof(what), "%s.%s", g->name, k->name);
	ASSERT(n > 0 && (size_t)n < sizeof(what));	/* our own names */
	switch (k->type) {
	case CONFIG_T_UINT:
	case CONFIG_T_SIZE:
	case CONFIG_T_DURATION:
		set_number(e, s, what, k, f);
		return;
	case CONFIG_T_STRLIST:
		set_strlist(e, s, what, k, f);
		return;
	case CONFIG_T_SCORE: {
		double d;

		if (t == CONFIG_TYPE_FLOAT)
			d = config_setting_get_float(s);
		else if (t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64)
			d = (double)config_setting_get_int64(s);
		else
			break;
		if (!(d >= -CONFIG_SCORE_MAX && d <= CONFIG_SCORE_MAX))
			err_at(e, s, "%s: %g is out of range (%g..%g)", what,
			    d, -CONFIG_SCORE_MAX, CONFIG_SCORE_MAX);
		else
			*(double *)f = d;
		return;
	}
	case CONFIG_T_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			break;
		*(bool *)f = config_setting_get_bool(s) != 0;
		return;
	case CONFIG_T_ENUM:
	case CONFIG_T_STRING:
		if (t != CONFIG_TYPE_STRING)
			break;
		v = config_setting_get_string(s);
		if (k->choices != NULL && (i = choice_index(k, v)) < 0) {
			err_choices(e, s, what, k, v);
		} else if (k->type == CONFIG_T_ENUM) {
			*(int *)f = i;
		} else if (k->check != NULL && (why = k->check(v)) != NULL) {
			err_at(e, s, "%s: %s: %s", what, quote(e, v), why);
		} else {
			config_value_free(k, f);
			*(char **)f = xstrdup(v);
		}
		return;
	}
	if (k->choices != NULL)
		err_choices(e, s, what, k, NULL);
	else
		err_at(e, s, "%s: expected %s", what, type_text(k));
}

/* set_text - a default from the table; failing is a bug in the table */
static void
set_text(const struct config_key *k, void *f)
{
	uint64_t v;
	const char *p, *sp;
	struct strlist *l;
	int i;

	switch (k->type) {
	case CONFIG_T_STRING:
		*(char **)f = xstrdup(k->def);
		return;
	case CONFIG_T_BOOL:
		ASSERT(strcmp(k->def, "true") == 0 ||
		    strcmp(k->def, "false") == 0);
		*(bool *)f = strcmp(k->def, "true") == 0;
		return;
	case CONFIG_T_UINT:
	case CONFIG_T_DURATION:
	case CONFIG_T_SIZE:
		if ((k->type == CONFIG_T_SIZE ? config_parse_size(k->def, &v) :
		    config_parse_duration(k->def, &v)) < 0 ||
		    v < k->min || v > k->max ||
		    (k->type != CONFIG_T_SIZE && k->max > UINT_MAX))
			PANIC("config: bad default \"%s\" for %s", k->def,
			    k->name);
		if (k->type == CONFIG_T_SIZE)
			*(uint64_t *)f = v;
		else
			*(unsigned *)f = (unsigned)v;
		return;
	case CONFIG_T_ENUM:
		i = choice_index(k, k->def);
		ASSERT(i >= 0);
		*(int *)f = i;
		return;
	case CONFIG_T_SCORE: {
		char *end;
		double d = strtod(k->def, &end);

		if (end == k->def || *end != '\0' || d < -CONFIG_SCORE_MAX ||
		    d > CONFIG_SCORE_MAX)
			PANIC("config: bad default \"%s\" for %s", k->def,
			    k->name);
		*(double *)f = d;
		return;
	}
	case CONFIG_T_STRLIST:
		l = f;
		l->v = xcalloc(strlen(k->def) / 2 + 2, sizeof(*l->v));
		l->n = 0;
		for (p = k->def; *p != '\0'; p = *sp == ' ' ? sp + 1 : sp) {
			sp = strchr(p, ' ');
			if (sp == NULL)
				sp = p + strlen(p);
			l->v[l->n++] = xmemdup0(p, (size_t)(sp - p));
		}
		return;
	}
}

struct config *
config_defaults_new(void)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));

	for (size_t gi = 0; gi < config_ngroups; gi++)
		for (size_t ki = 0; ki < config_groups[gi].nkeys; ki++) {
			const struct config_key *k = &config_groups[gi].keys[ki];

			set_text(k, config_field(cfg, k));
		}
	return cfg;
}

static bool
is_empty(const struct config_key *k, const void *f)
{
	if (k->type == CONFIG_T_STRING)
		return **(char *const *)f == '\0';
	if (k->type == CONFIG_T_STRLIST)
		return ((const struct strlist *)f)->n == 0;
	return false;
}

/* derive - fill in the derived defaults, in table order */
static void
derive(struct config *cfg)
{
	for (size_t gi = 0; gi < config_ngroups; gi++)
		for (size_t ki = 0; ki < config_groups[gi].nkeys; ki++) {
			const struct config_key *k = &config_groups[gi].keys[ki];
			void *f = config_field(cfg, k);

			if (k->derive != NULL && is_empty(k, f)) {
				config_value_free(k, f);
				k->derive(cfg, f);
			}
		}
}

static const struct config_group *
find_group(const char *name)
{
	for (size_t i = 0; i < config_ngroups; i++)
		if (strcmp(config_groups[i].name, name) == 0)
			return &config_groups[i];
	return NULL;
}

static const struct config_key *
find_key(const struct config_group *g, const char *name)
{
	for (size_t i = 0; i < g->nkeys; i++)
		if (strcmp(g->keys[i].name, name) == 0)
			return &g->keys[i];
	return NULL;
}

static void
walk(struct config_errs *e, struct config *cfg)
{
	const config_setting_t *root = config_root_setting(e->lc);

	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *s = config_setting_get_elem(root,
		    (unsigned)i);
		const struct config_group *g = find_group(s->name);

		if (g == NULL) {
			err_at(e, s, "unknown group \"%s\" (groups: server, "
			    "log, tls, smtp, queue)", s->name);
			continue;
		}
		if (!config_setting_is_group(s)) {
			err_at(e, s, "%s must be a group: %s = { ... };",
			    s->name, s->name);
			continue;
		}
		for (int j = 0; j < config_setting_length(s); j++) {
			const config_setting_t *m = config_setting_get_elem(s,
			    (unsigned)j);
			const struct config_key *k = find_key(g, m->name);

			if (k == NULL)
				err_at(e, m, "unknown key %s.%s", g->name,
				    m->name);
			else
				set_value(e, m, g, k, config_field(cfg, k));
		}
	}
}

static void
read_file(struct config_errs *e, struct config *cfg, config_t *lc)
{
	const char *slash = strrchr(e->path, '/');
	int saved;

	if (slash != NULL)
		e->incdir = xmemdup0(e->path,
		    slash == e->path ? 1 : (size_t)(slash - e->path));
	config_init(lc);
	if (e->incdir != NULL)	/* libconfig 1.5 cannot take NULL back */
		config_set_include_dir(lc, e->incdir);
	errno = 0;
	if (config_read_file(lc, e->path) == CONFIG_FALSE) {
		saved = errno;
		if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
			err_file(e, e->path, 0, "cannot read: %s",
			    saved != 0 ? strerror(saved) : "I/O error");
		else
			err_file(e, file_name(e, config_error_file(lc)),
			    (unsigned)config_error_line(lc), "%s",
			    config_error_text(lc));
		return;
	}
	e->lc = lc;
	walk(e, cfg);
	config_table_check(cfg, e);
}

int
config_load(const char *path, struct config **cfg_r, struct buf *errors)
{
	struct config_errs e = { .out = errors, .path = path };
	struct config *cfg = config_defaults_new();
	config_t lc;

	*cfg_r = NULL;
	buf_init(&e.name, 0);
	buf_init(&e.quoted, 0);
	buf_init(&e.src, CONFIG_SOURCE_MAX);
	if (path != NULL) {
		cfg->path = xstrdup(path);
		read_file(&e, cfg, &lc);
		config_destroy(&lc);
	}
	free(e.incdir);
	free(e.src_name);
	buf_free(&e.name);
	buf_free(&e.quoted);
	buf_free(&e.src);
	if (e.n > 0) {
		config_free(&cfg);
		return -1;
	}
	derive(cfg);
	*cfg_r = cfg;
	return 0;
}

void
config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;

	if (cfg == NULL)
		return;
	for (size_t gi = 0; gi < config_ngroups; gi++)
		for (size_t ki = 0; ki < config_groups[gi].nkeys; ki++)
			config_value_free(&config_groups[gi].keys[ki],
			    config_field(cfg, &config_groups[gi].keys[ki]));
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
}
