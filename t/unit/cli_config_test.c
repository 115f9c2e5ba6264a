/*
 * cli_config_test.c - `postern config check | show | sample`: what each
 * prints, on which stream, and the exit codes (0 ok, 1 failure, 2 usage).
 * The parsing behind it is tested in config_test.c.
 *
 * Runs in a fresh temporary directory; stdout and stderr of each call
 * are captured in a file there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "t/unit/unit_tmpdir.h"
#include "common/buf.h"
#include "common/config.h"


static void
write_file(const char *name, const char *text)
{
	FILE *fp = fopen(name, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static char *
read_file(const char *name)
{
	struct buf b = BUF_INIT(0);
	char chunk[4096];
	ssize_t n;
	int fd = open(name, O_RDONLY);

	if (fd < 0)
		return NULL;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	return buf_steal(&b, NULL);
}

/* redirect - point fd at a new file name; the old fd, to restore */
static int
redirect(int fd, const char *name)
{
	int saved = dup(fd), f = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(saved >= 0 && f >= 0);
	assert_true(dup2(f, fd) == fd);
	close(f);
	return saved;
}

static void
restore(int fd, int saved)
{
	assert_true(dup2(saved, fd) == fd);
	close(saved);
}

#define USAGE "usage: postern [-c FILE] config check [FILE] | " \
	"show [--defaults|--changed] | sample\n"

static const struct {
	const char *config_path;	/* -c */
	const char *argv[5];
	int status;
	const char *out;	/* stdout, exactly; NULL: not checked */
	const char *err;	/* found in stderr; "" for an empty stderr */
} cases[] = {
	{ NULL, { "config", "check", "good.conf" }, 0, "good.conf: ok\n", "" },
	{ "good.conf", { "config", "check" }, 0, "good.conf: ok\n", "" },
	{ "good.conf", { "config", "check", "bad.conf" }, 1, "",
	  "bad.conf:2: smtp.max_recipients: 0 is out of range (1..100000)\n"
	  "bad.conf:3: unknown key smtp.nope\n" },
	{ NULL, { "config", "check", "missing.conf" }, 1, "",
	  "missing.conf: cannot read: No such file or directory\n" },
	{ "good.conf", { "config", "show", "--changed" }, 0,
	  "smtp = {\n\tmax_recipients = 5;\n};\n", "" },
	{ NULL, { "config", "show", "--changed" }, 0, "", "" },
	{ "good.conf", { "config", "show" }, 0, NULL, "" },
	{ "good.conf", { "config", "show", "--defaults" }, 0, NULL, "" },
	{ "bad.conf", { "config", "show" }, 1, "",
	  "bad.conf:3: unknown key smtp.nope\n" },
	{ NULL, { "config", "sample" }, 0, NULL, "" },
	{ NULL, { "config" }, 2, "", USAGE },
	{ NULL, { "config", "bogus" }, 2, "", USAGE },
	{ NULL, { "config", "check" }, 2, "",
	  "postern config check: no file; give FILE or -c FILE\n" USAGE },
	{ NULL, { "config", "check", "a", "b" }, 2, "", USAGE },
	{ NULL, { "config", "show", "--bogus" }, 2, "", USAGE },
	{ NULL, { "config", "show", "--changed", "--defaults" }, 2, "", USAGE },
	{ NULL, { "config", "sample", "x" }, 2, "", USAGE },
};

static void
test_cli(void **state)
{
	(void)state;
	write_file("good.conf", "smtp = { max_recipients = 5; };\n");
	write_file("bad.conf", "smtp = {\n\tmax_recipients = 0;\n"
	    "\tnope = 1;\n};\n");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[5] = { NULL }, *out, *err;
		int argc = 0, status, saved_out, saved_err;

		while (argc < 4 && cases[i].argv[argc] != NULL) {
			argv[argc] = (char *)cases[i].argv[argc];
			argc++;
		}
		fflush(stdout);
		fflush(stderr);
		saved_out = redirect(1, "out");
		saved_err = redirect(2, "err");
		status = cli_config(cases[i].config_path, argc, argv);
		fflush(stdout);
		fflush(stderr);
		restore(1, saved_out);
		restore(2, saved_err);
		out = read_file("out");
		err = read_file("err");
		assert_true(out != NULL && err != NULL);
		if (status != cases[i].status ||
		    (cases[i].out != NULL && strcmp(out, cases[i].out) != 0) ||
		    (*cases[i].err == '\0' ? *err != '\0' :
		    strstr(err, cases[i].err) == NULL))
			fail_msg("case %zu (%s %s): status %d\nstdout:\n%s\n"
			    "stderr:\n%s", i, argv[0], argc > 1 ? argv[1] : "",
			    status, out, err);
		free(out);
		free(err);
	}
}

/* the outputs that are not fixed text */
static void
test_cli_outputs(void **state)
{
	struct buf sample = BUF_INIT(0);
	char *argv[] = { "config", "sample", NULL };
	char *out;
	int saved;

	(void)state;
	config_sample(&sample);
	saved = redirect(1, "out");
	assert_int_equal(cli_config(NULL, 2, argv), 0);
	fflush(stdout);
	restore(1, saved);
	out = read_file("out");
	assert_string_equal(out, buf_cstr(&sample));
	free(out);
	buf_free(&sample);

	write_file("good.conf", "smtp = { max_recipients = 5; };\n");
	argv[1] = "show";
	saved = redirect(1, "out");
	assert_int_equal(cli_config("good.conf", 2, argv), 0);
	fflush(stdout);
	restore(1, saved);
	out = read_file("out");
	assert_non_null(strstr(out, "\tmax_recipients = 5;\n"));
	assert_non_null(strstr(out, "\tmax_connections = 1000;\n"));
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli),
		cmocka_unit_test(test_cli_outputs),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
