/*
 * config_show.c - the configuration as text: `postern config show`
 * (libconfig syntax that config_load reads back to an equal config) and
 * `postern config sample` (every key commented out with its doc line and
 * default: the text of contrib/postern.conf).  Both walk the tables of
 * config_table.c.
 *
 * Sizes and durations are printed in the largest unit that is exact
 * ("50M", "5m"), else as an integer; an integer past 32 bits gets
 * libconfig's L suffix, which config_load needs to read it back (config.c
 * explains why).  Strings are escaped the way libconfig reads them.
 */
#include <limits.h>
#include <string.h>

#include "config_priv.h"

static void
format_number(uint64_t v, const char *const *units, const uint64_t *mult,
    size_t nunits, bool quote, struct buf *out)
{
	for (size_t i = nunits; i-- > 0;) {
		if (v != 0 && v % mult[i] == 0) {
			buf_addf(out, quote ? "\"%llu%s\"" : "%llu%s",
			    (unsigned long long)(v / mult[i]), units[i]);
			return;
		}
	}
	/* libconfig needs the L suffix past 32 bits (see the top comment) */
	buf_addf(out, "%llu%s", (unsigned long long)v,
	    quote && v > INT_MAX ? "L" : "");
}

static void
format_size(uint64_t v, bool quote, struct buf *out)
{
	static const char *const units[] = { "k", "M", "G", "T" };
	static const uint64_t mult[] = { 1ull << 10, 1ull << 20, 1ull << 30,
		1ull << 40 };

	format_number(v, units, mult, ARRAY_SIZE(units), quote, out);
}

static void
format_duration(uint64_t v, bool quote, struct buf *out)
{
	static const char *const units[] = { "s", "m", "h", "d" };
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };

	/* "s" only in messages: a bare integer already means seconds */
	format_number(v, quote ? units + 1 : units,
	    quote ? mult + 1 : mult, quote ? 3 : 4, quote, out);
}

void
config_format_string(const char *s, struct buf *out)
{
	buf_add_str(out, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			buf_addf(out, "\\%c", c);
		else if (c == '\n')
			buf_add_str(out, "\\n");
		else if (c == '\t')
			buf_add_str(out, "\\t");
		else if (c < 0x20 || c == 0x7f)
			buf_addf(out, "\\x%02x", c);
		else
			buf_add(out, &c, 1);
	}
	buf_add_str(out, "\"");
}

void
config_format_value(const struct config_key *k, const void *f,
    struct buf *out)
{
	switch (k->type) {
	case CONFIG_T_STRING:
		config_format_string(*(char *const *)f, out);
		break;
	case CONFIG_T_BOOL:
		buf_add_str(out, *(const bool *)f ? "true" : "false");
		break;
	case CONFIG_T_UINT:
		buf_addf(out, "%u", *(const unsigned *)f);
		break;
	case CONFIG_T_SIZE:
		format_size(*(const uint64_t *)f, true, out);
		break;
	case CONFIG_T_DURATION:
		format_duration(*(const unsigned *)f, true, out);
		break;
	case CONFIG_T_ENUM:
		config_format_string(k->choices[*(const int *)f], out);
		break;
	case CONFIG_T_SCORE: {
		/* always with a point: libconfig reads 6 as an integer */
		double d = *(const double *)f;

		if (d == (double)(long long)d)
			buf_addf(out, "%.1f", d);
		else
			buf_addf(out, "%g", d);
		break;
	}
	case CONFIG_T_STRLIST: {
		const struct strlist *l = f;

		buf_add_str(out, "[");
		for (size_t i = 0; i < l->n; i++) {
			buf_add_str(out, i == 0 ? " " : ", ");
			config_format_string(l->v[i], out);
		}
		buf_add_str(out, " ]");
		break;
	}
	}
}

void
config_format_plain(const struct config_key *k, uint64_t v,
    struct buf *out)
{
	if (k->type == CONFIG_T_SIZE)
		format_size(v, false, out);
	else if (k->type == CONFIG_T_DURATION)
		format_duration(v, false, out);
	else
		buf_addf(out, "%llu", (unsigned long long)v);
}

void
config_show(const struct config *cfg, bool changed_only, struct buf *out)
{
	struct config *dflt = config_defaults_new();
	struct buf cur = BUF_INIT(0), def = BUF_INIT(0);
	size_t start = out->len;

	for (size_t gi = 0; gi < config_ngroups; gi++) {
		const struct config_group *g = &config_groups[gi];
		bool opened = false;

		for (size_t ki = 0; ki < g->nkeys; ki++) {
			const struct config_key *k = &g->keys[ki];
			void *df = config_field(dflt, k);

			buf_reset(&cur);
			config_format_value(k, config_field(cfg, k), &cur);
			if (changed_only) {
				/* a derived key is "changed" only when it
				 * differs from what this cfg derives */
				if (k->derive != NULL) {
					config_value_free(k, df);
					k->derive(cfg, df);
				}
				buf_reset(&def);
				config_format_value(k, df, &def);
				if (strcmp(buf_cstr(&cur), buf_cstr(&def)) == 0)
					continue;
			}
			if (!opened)
				buf_addf(out, "%s%s = {\n",
				    out->len > start ? "\n" : "", g->name);
			opened = true;
			buf_addf(out, "\t%s = %s;\n", k->name, buf_cstr(&cur));
		}
		if (opened)
			buf_add_str(out, "};\n");
	}
	buf_free(&cur);
	buf_free(&def);
	config_free(&dflt);
}

/* sample_choices - "# One of: ..." wrapped to fit 72 columns */
static void
sample_choices(const struct config_key *k, struct buf *out)
{
	size_t col = 8 + strlen("# One of:");

	buf_add_str(out, "\t# One of:");
	for (size_t i = 0; k->choices[i] != NULL; i++) {
		size_t w = strlen(k->choices[i]) + 4;	/* ' "x",' */

		if (col + w > 72) {
			buf_add_str(out, "\n\t#");
			col = 9;
		}
		buf_addf(out, " \"%s\"%s", k->choices[i],
		    k->choices[i + 1] != NULL ? "," : ".\n");
		col += w;
	}
}

void
config_sample(struct buf *out)
{
	struct config *dflt = config_defaults_new();

	buf_add_str(out,
	    "# Postern configuration, in libconfig syntax: groups in braces,\n"
	    "# \"key = value;\", strings in double quotes, lists in brackets.\n"
	    "#\n"
	    "# Every key is shown commented out with its default.  Durations "
	    "are\n"
	    "# seconds or a string with a unit: \"30s\", \"5m\", \"4h\", "
	    "\"5d\".  Sizes\n"
	    "# are bytes or a string with a unit: \"10k\", \"50M\", \"1G\" "
	    "(powers of\n"
	    "# 1024).  @include \"other.conf\" reads another file, relative "
	    "to this\n"
	    "# file's directory.  Check a file with `postern config check "
	    "FILE`.\n"
	    "#\n"
	    "# Generated from the key tables in common/config_table.c; do not "
	    "edit.\n"
	    "# Regenerate: build/postern config sample > "
	    "contrib/postern.conf\n");
	for (size_t gi = 0; gi < config_ngroups; gi++) {
		const struct config_group *g = &config_groups[gi];

		buf_addf(out, "\n# %s\n%s = {\n", g->doc, g->name);
		for (size_t ki = 0; ki < g->nkeys; ki++) {
			const struct config_key *k = &g->keys[ki];

			buf_addf(out, "%s\t# %s\n", ki == 0 ? "" : "\n", k->doc);
			if (k->choices != NULL)
				sample_choices(k, out);
			buf_addf(out, "\t# %s = ", k->name);
			config_format_value(k, config_field(dflt, k), out);
			buf_add_str(out, ";\n");
		}
		buf_add_str(out, "};\n");
	}
	config_free(&dflt);
}
