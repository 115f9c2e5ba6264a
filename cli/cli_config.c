/*
 * cli_config.c - `postern config`: check a file, show the effective
 * configuration, print the sample (see cli.h).
 *
 *   config check [FILE]             FILE, else the -c file: "FILE: ok" on
 *                                   stdout and 0, or every error line on
 *                                   stderr and 1
 *   config show [--defaults|--changed]
 *                                   every key of the -c file (the
 *                                   embedded defaults without -c), only
 *                                   the embedded defaults, or only the
 *                                   keys that differ from them
 *   config sample                   the commented sample file, the same
 *                                   text as contrib/postern.conf
 *
 * Usage errors print the usage line on stderr and return 2.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/config.h"

static const char config_usage[] =
    "usage: postern [-c FILE] config check [FILE] | "
    "show [--defaults|--changed] | sample\n";

static int
usage(void)
{
	fputs(config_usage, stderr);
	return 2;
}

/* put - write our output; a full disk or a closed pipe is a failure */
static int
put(const struct buf *b)
{
	if (b->len > 0 && fwrite(b->data, 1, b->len, stdout) != b->len)
		return 1;
	return fflush(stdout) == 0 ? 0 : 1;
}

static int
config_check(const char *file)
{
	struct config *cfg;
	struct buf errors = BUF_INIT(0);
	int status = 0;

	if (config_load(file, &cfg, &errors) < 0) {
		fputs(buf_cstr(&errors), stderr);
		status = 1;
	} else {
		printf("%s: ok\n", file);
		if (fflush(stdout) != 0)
			status = 1;
	}
	config_free(&cfg);
	buf_free(&errors);
	return status;
}

static int
config_show_cmd(const char *file, bool changed_only)
{
	struct config *cfg;
	struct buf errors = BUF_INIT(0), out = BUF_INIT(0);
	int status;

	if (config_load(file, &cfg, &errors) < 0) {
		fputs(buf_cstr(&errors), stderr);
		buf_free(&errors);
		return 1;
	}
	config_show(cfg, changed_only, &out);
	status = put(&out);
	config_free(&cfg);
	buf_free(&errors);
	buf_free(&out);
	return status;
}

int
cli_config(const char *config_path, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (sub == NULL)
		return usage();
	if (strcmp(sub, "check") == 0) {
		const char *file = argc > 2 ? argv[2] : config_path;

		if (argc > 3)
			return usage();
		if (file == NULL) {
			fputs("postern config check: no file; give FILE or "
			    "-c FILE\n", stderr);
			return usage();
		}
		return config_check(file);
	}
	if (strcmp(sub, "show") == 0) {
		if (argc == 2)
			return config_show_cmd(config_path, false);
		if (argc != 3)
			return usage();
		if (strcmp(argv[2], "--defaults") == 0)
			return config_show_cmd(NULL, false);
		if (strcmp(argv[2], "--changed") == 0)
			return config_show_cmd(config_path, true);
		return usage();
	}
	if (strcmp(sub, "sample") == 0) {
		struct buf out = BUF_INIT(0);
		int status;

		if (argc != 2)
			return usage();
		config_sample(&out);
		status = put(&out);
		buf_free(&out);
		return status;
	}
	return usage();
}
