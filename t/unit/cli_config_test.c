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
#include "common/buf.h"
#include "common/config.h"

static char tmpdir[] = "/tmp/postern-cli-config-test.XXXXXX";
static int start_dir = -1;

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

/* run_cli - cli_config with stdout and stderr captured into *out_r */
static int
run_cli(const char *config_path, char **out_r, int argc, ...)
{
	char *argv[8];
	va_list ap;
	int saved_out = dup(1), saved_err = dup(2), fd, status;

	assert_true(argc < 8);
	va_start(ap, argc);
	for (int i = 0; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	argv[argc] = NULL;
	fflush(stdout);
	fflush(stderr);
	fd = open("cli.out", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
	status = cli_config(config_path, argc, argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	*out_r = read_file("cli.out");
	assert_non_null(*out_r);
	return status;
}

static void
test_cli(void **state)
{
	static const char usage[] = "usage: postern [-c FILE] config check "
	    "[FILE] | show [--defaults|--changed] | sample\n";
	struct buf sample = BUF_INIT(0);
	char *out;

	(void)state;
	write_file("good.conf", "smtp = { max_recipients = 5; };\n");
	write_file("bad.conf", "smtp = {\n\tmax_recipients = 0;\n"
	    "\tnope = 1;\n};\n");

	assert_int_equal(run_cli(NULL, &out, 3, "config", "check",
	    "good.conf"), 0);
	assert_string_equal(out, "good.conf: ok\n");
	free(out);
	assert_int_equal(run_cli("good.conf", &out, 2, "config", "check"), 0);
	assert_string_equal(out, "good.conf: ok\n");
	free(out);
	assert_int_equal(run_cli("good.conf", &out, 3, "config", "check",
	    "bad.conf"), 1);
	assert_string_equal(out, "bad.conf:2: smtp.max_recipients: 0 is out "
	    "of range (1..100000)\nbad.conf:3: unknown key smtp.nope\n");
	free(out);

	assert_int_equal(run_cli("good.conf", &out, 3, "config", "show",
	    "--changed"), 0);
	assert_string_equal(out, "smtp = {\n\tmax_recipients = 5;\n};\n");
	free(out);
	assert_int_equal(run_cli("good.conf", &out, 2, "config", "show"), 0);
	assert_non_null(strstr(out, "\tmax_recipients = 5;\n"));
	free(out);
	assert_int_equal(run_cli("good.conf", &out, 3, "config", "show",
	    "--defaults"), 0);
	assert_non_null(strstr(out, "\tmax_recipients = 1000;\n"));
	free(out);
	assert_int_equal(run_cli("bad.conf", &out, 2, "config", "show"), 1);
	assert_non_null(strstr(out, "bad.conf:3: unknown key smtp.nope\n"));
	free(out);

	config_sample(&sample);
	assert_int_equal(run_cli(NULL, &out, 2, "config", "sample"), 0);
	assert_string_equal(out, buf_cstr(&sample));
	free(out);
	buf_free(&sample);

	/* usage errors */
	static const char *const bad[][4] = {
		{ "config" },
		{ "config", "bogus" },
		{ "config", "check" },	/* no FILE and no -c */
		{ "config", "check", "a", "b" },
		{ "config", "show", "--bogus" },
		{ "config", "show", "--changed", "--defaults" },
		{ "config", "sample", "x" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int argc = 0;

		while (argc < 4 && bad[i][argc] != NULL)
			argc++;
		assert_int_equal(run_cli(NULL, &out, argc, bad[i][0], bad[i][1],
		    bad[i][2], bad[i][3]), 2);
		assert_non_null(strstr(out, usage));
		free(out);
	}
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	(void)state;
	start_dir = open(".", O_RDONLY | O_DIRECTORY);
	if (start_dir < 0 || mkdtemp(tmpdir) == NULL || chdir(tmpdir) < 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	if (fchdir(start_dir) < 0)
		return -1;
	close(start_dir);
	return nftw(tmpdir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cli),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
