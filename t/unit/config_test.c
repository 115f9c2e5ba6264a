/*
 * config_test.c - the configuration loader, driven by tables: every value
 * type and its errors (with the exact "FILE:LINE: message" text), unknown
 * groups and keys, several errors in one pass, syntax errors, @include,
 * the defaults and derived defaults, the show round trip, the default
 * filters.stages and [] for none, and the sample == contrib/postern.conf.
 * `postern config` itself: cli_config_test.c.
 *
 * The tests run in a fresh temporary directory (so messages name "t.conf"
 * and not a random path); the sample test reads contrib/postern.conf from
 * the directory the test was started in, the repo root.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t/unit/unit_tmpdir.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/config_priv.h"


static void
write_file(const char *name, const char *text)
{
	FILE *fp = fopen(name, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* read_file_at - a whole file relative to dirfd; NULL when missing */
static char *
read_file_at(int dirfd, const char *name)
{
	struct buf b = BUF_INIT(0);
	char chunk[4096];
	ssize_t n;
	int fd = openat(dirfd, name, O_RDONLY);

	if (fd < 0)
		return NULL;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(&b, chunk, (size_t)n);
	close(fd);
	return buf_steal(&b, NULL);
}

/* load - text as t.conf; 0 with *cfg_r, or -1 with the errors */
static int
load(const char *text, struct config **cfg_r, struct buf *errors)
{
	write_file("t.conf", text);
	return config_load("t.conf", cfg_r, errors);
}

/* assert_strlist - l is exactly the NULL-ended list of strings */
static void
assert_strlist(const struct strlist *l, ...)
{
	va_list ap;
	size_t n = 0;
	const char *want;

	va_start(ap, l);
	while ((want = va_arg(ap, const char *)) != NULL) {
		assert_true(n < l->n);
		assert_string_equal(l->v[n++], want);
	}
	va_end(ap);
	assert_int_equal(l->n, n);
}

static struct config *
load_ok(const char *text)
{
	struct config *cfg = NULL;
	struct buf errors = BUF_INIT(0);

	if (load(text, &cfg, &errors) < 0)
		fail_msg("unexpected errors:\n%s", buf_cstr(&errors));
	buf_free(&errors);
	assert_non_null(cfg);
	return cfg;
}

#define SIZE_HINT "a size: bytes, or a string like \"10k\", \"50M\", \"1G\""
#define DURATION_HINT \
	"a duration: seconds, or a string like \"30s\", \"5m\", \"4h\", \"5d\""

/* one setting in one group on line 1, and the one error it gives */
static const struct {
	const char *group, *setting, *error;
} value_errors[] = {
	{ "smtp", "starttls = { a = 1; };",
	  "smtp.starttls: expected true or false" },
	{ "smtp", "starttls = \"yes\";", "smtp.starttls: expected true or false" },
	{ "smtp", "starttls = 1;", "smtp.starttls: expected true or false" },
	{ "smtp", "max_recipients = \"10\";",
	  "smtp.max_recipients: expected an integer" },
	{ "smtp", "max_recipients = 1.5;",
	  "smtp.max_recipients: expected an integer" },
	{ "smtp", "max_recipients = 0;",
	  "smtp.max_recipients: 0 is out of range (1..100000)" },
	{ "smtp", "max_recipients = 100001;",
	  "smtp.max_recipients: 100001 is out of range (1..100000)" },
	{ "smtp", "max_errors = -1;", "smtp.max_errors: -1 is negative" },
	/* libconfig would have read 1: see config.c */
	{ "smtp", "max_connections = 4294967297;",
	  "smtp.max_connections: 4294967297 is out of range" },
	{ "smtp", "max_connections = 4294967297L;",
	  "smtp.max_connections: 4294967297 is out of range (1..1000000)" },
	{ "smtp", "max_message_size = \"50X\";",
	  "smtp.max_message_size: bad size \"50X\" (expected " SIZE_HINT ")" },
	{ "smtp", "max_message_size = \"18014398509481984k\";",
	  "smtp.max_message_size: bad size \"18014398509481984k\" (expected "
	  SIZE_HINT ")" },
	{ "smtp", "max_message_size = 100;",
	  "smtp.max_message_size: 100 is out of range (1k..4G)" },
	{ "smtp", "max_message_size = \"5G\";",
	  "smtp.max_message_size: 5G is out of range (1k..4G)" },
	{ "smtp", "max_message_size = true;",
	  "smtp.max_message_size: expected " SIZE_HINT },
	{ "smtp", "max_recipients = 10; max_message_size = 5000000000;",
	  "smtp.max_message_size: 5000000000 does not fit in 32 bits; write "
	  "it as a string with a unit, or add L (5000000000L)" },
	{ "smtp", "data_timeout = \"5x\";",
	  "smtp.data_timeout: bad duration \"5x\" (expected " DURATION_HINT ")" },
	{ "smtp", "data_timeout = \"1.5h\";",
	  "smtp.data_timeout: bad duration \"1.5h\" (expected " DURATION_HINT
	  ")" },
	{ "smtp", "data_timeout = \"m\";",
	  "smtp.data_timeout: bad duration \"m\" (expected " DURATION_HINT ")" },
	{ "queue", "max_lifetime = 1.5;",
	  "queue.max_lifetime: expected " DURATION_HINT },
	{ "smtp", "command_timeout = \"2d\";",
	  "smtp.command_timeout: 2d is out of range (1s..1d)" },
	{ "smtp", "command_timeout = 0;",
	  "smtp.command_timeout: 0 is out of range (1s..1d)" },
	{ "smtp", "command_timeout = 86401;",
	  "smtp.command_timeout: 86401s is out of range (1s..1d)" },
	{ "log", "level = \"loud\";",
	  "log.level: \"loud\" is not one of debug|info|warning|error" },
	{ "smtp", "bare_newline = \"Reject\";",
	  "smtp.bare_newline: \"Reject\" is not one of reject|normalize" },
	{ "log", "dest = 1;", "log.dest: expected a string, one of stderr|syslog" },
	{ "tls", "min_version = \"TLSv1.1\";",
	  "tls.min_version: \"TLSv1.1\" is not one of TLSv1.2|TLSv1.3" },
	{ "log", "facility = \"local9\";",
	  "log.facility: \"local9\" is not one of mail|daemon|user|local0|"
	  "local1|local2|local3|local4|local5|local6|local7" },
	{ "server", "user = 0;",
	  "server.user: expected a string in double quotes" },
	{ "server", "data_dir = \"\";",
	  "server.data_dir: \"\": must not be empty" },
	{ "smtp", "banner = \"a\\r\\nb\";",
	  "smtp.banner: \"a\\x0d\\nb\": only printable ASCII allowed" },
	{ "server", "hostname = \"bad_host\";",
	  "server.hostname: \"bad_host\": bad character in domain (letters, "
	  "digits, '-' and '.' only)" },
	{ "server", "hostname = \"192.0.2.1\";",
	  "server.hostname: \"192.0.2.1\": not a domain name (numeric last "
	  "label)" },
	{ "smtp", "local_domains = \"example.com\";",
	  "smtp.local_domains: expected a list of strings, like [ \"a\", "
	  "\"b\" ]" },
	{ "tls", "cert = \"/etc/ssl/mx.pem\";",
	  "tls.cert is set but tls.key is not (set both or neither)" },
	{ "tls", "key = \"/etc/ssl/mx.key\";",
	  "tls.key is set but tls.cert is not (set both or neither)" },
	{ "queue", "min_backoff = \"2h\";",
	  "queue.min_backoff (2h) is greater than queue.max_backoff (4000s)" },
	{ "auth", "sender_wildcards = [ \"@a.example=b@a.example\", "
	  "\"nope\" ];", "auth.sender_wildcards[1]: \"nope\": PATTERN=ACCOUNT: "
	  "\"@domain=user@domain\" or \"address=user@domain\"" },
	{ "auth", "sender_wildcards = [ \"@a.example=nobody\" ];",
	  "auth.sender_wildcards[0]: \"@a.example=nobody\": the account is "
	  "an address (user@domain)" },
	{ "submission", "listen_tls = [ \"465\" ];",
	  "submission.listen_tls[0]: \"465\": missing port (\"IPv4:port\" "
	  "or \"[IPv6]:port\")" },
	{ "smtp_client", "tls = \"danish\";",
	  "smtp_client.tls: \"danish\" is not one of "
	  "none|may|encrypt|verify|auto|dane|dane-only" },
	{ "smtp_client", "domains = [ \"example.com=[10.0.0.1],tls=maybe\" ];",
	  "smtp_client.domains[0]: \"example.com=[10.0.0.1],tls=maybe\": "
	  "tls= is auto, none, may, encrypt, verify, dane or dane-only" },
	{ "smtp_client", "domains = [ \"example.com\" ];",
	  "smtp_client.domains[0]: \"example.com\": expected "
	  "DOMAIN=[NEXTHOP][,tls=MODE][,port=N]" },
	{ "smtp_client", "domains = [ \"bad_dom=x\" ];",
	  "smtp_client.domains[0]: \"bad_dom=x\": bad character in domain "
	  "(letters, digits, '-' and '.' only)" },
	{ "smtp_client", "domains = [ \"a.example=port=0\" ];",
	  "smtp_client.domains[0]: \"a.example=port=0\": port= is 1..65535" },
	{ "smtp_client", "relay = \"relay example\";",
	  "smtp_client.relay: \"relay example\": a next hop is \"[host]:port\", "
	  "\"host\" or \"[192.0.2.1]\": printable, no blanks" },
	{ "smtp_client", "relay_user = \"u\";",
	  "smtp_client.relay_user needs smtp_client.relay and "
	  "smtp_client.relay_password_file" },
	{ "smtp_client", "port = 0;",
	  "smtp_client.port: 0 is out of range (1..65535)" },
};

/* whole files, for line numbers and everything outside one value */
static const struct {
	const char *name, *text, *errors;
} file_errors[] = {
	{ "unknown group", "server = {};\nbogus = { a = 1; };\n",
	  "t.conf:2: unknown group \"bogus\" (groups: server, log, tls, smtp, "
	  "queue)\n" },
	{ "unknown key", "smtp = {\n\tlisten = [];\n\tnope = 1;\n};\n",
	  "t.conf:3: unknown key smtp.nope\n" },
	{ "group is a scalar", "server = 1;\n",
	  "t.conf:1: server must be a group: server = { ... };\n" },
	{ "value on line 2", "smtp = {\n max_errors = -1; };\n",
	  "t.conf:2: smtp.max_errors: -1 is negative\n" },
	/* libconfig dates an element when it sees the token after it: a last
	 * element with ")" on the next line gets that line */
	{ "list element types",
	  "smtp = {\n\tlocal_domains = (\n\t\t\"example.com\",\n\t\t5,\n"
	  "\t\t\"\" );\n};\n",
	  "t.conf:4: smtp.local_domains[1]: expected a string\n"
	  "t.conf:5: smtp.local_domains[2]: \"\": empty domain\n" },
	{ "listen entries",
	  "smtp = {\n\tlisten = [ \"1.2.3.4\", \"[::1]:0\",\n"
	  "\t\t\"::1:25\", \"127.0.0.1:65536\", \"0.0.0.0:25\" ];\n};\n",
	  "t.conf:2: smtp.listen[0]: \"1.2.3.4\": missing port (\"IPv4:port\" "
	  "or \"[IPv6]:port\")\n"
	  "t.conf:2: smtp.listen[1]: \"[::1]:0\": bad port (expected a number "
	  "1..65535)\n"
	  "t.conf:3: smtp.listen[2]: \"::1:25\": IPv6 addresses need "
	  "brackets: \"[IPv6]:port\"\n"
	  "t.conf:3: smtp.listen[3]: \"127.0.0.1:65536\": bad port (expected "
	  "a number 1..65535)\n" },
	{ "cross-key error at the later key",
	  "queue = {\n\tmin_backoff = \"2h\";\n\tmax_backoff = \"1h\";\n};\n",
	  "t.conf:3: queue.min_backoff (2h) is greater than "
	  "queue.max_backoff (1h)\n" },
	{ "syntax error", "smtp = {\n\tlisten = ;\n};\n",
	  "t.conf:2: syntax error\n" },
	{ "brace-only group is not libconfig 1.5", "server {\n};\n",
	  "t.conf:1: syntax error\n" },
	{ "duplicate key", "smtp = {\n\tstarttls = true;\n"
	  "\tstarttls = false;\n};\n",
	  "t.conf:3: duplicate setting name\n" },
	{ "missing include", "server = {};\n@include \"nope.conf\"\n",
	  "t.conf:2: cannot open include file\n" },
	{ "many errors in one pass",
	  "server = {\n"
	  "\thostname = \"bad_host\";\n"
	  "\tio_threads = 5000;\n"
	  "\tnope = 1;\n"
	  "};\n"
	  "log = { level = \"loud\"; dest = 1; };\n"
	  "tls = { cert = \"/x.pem\"; };\n"
	  "smtp = {\n"
	  "\tstarttls = \"yes\";\n"
	  "\tmax_message_size = \"1Q\";\n"
	  "};\n"
	  "whatever = 3;\n",
	  "t.conf:2: server.hostname: \"bad_host\": bad character in domain "
	  "(letters, digits, '-' and '.' only)\n"
	  "t.conf:3: server.io_threads: 5000 is out of range (0..1024)\n"
	  "t.conf:4: unknown key server.nope\n"
	  "t.conf:6: log.level: \"loud\" is not one of "
	  "debug|info|warning|error\n"
	  "t.conf:6: log.dest: expected a string, one of stderr|syslog\n"
	  "t.conf:9: smtp.starttls: expected true or false\n"
	  "t.conf:10: smtp.max_message_size: bad size \"1Q\" (expected "
	  SIZE_HINT ")\n"
	  "t.conf:12: unknown group \"whatever\" (groups: server, log, tls, "
	  "smtp, queue)\n"
	  "t.conf:7: tls.cert is set but tls.key is not (set both or "
	  "neither)\n" },
};

static void
expect_errors(const char *name, const char *text, const char *want)
{
	struct config *cfg = (struct config *)1;
	struct buf errors = BUF_INIT(0);
	int r = load(text, &cfg, &errors);

	if (r != -1 || strcmp(buf_cstr(&errors), want) != 0)
		fail_msg("%s: got %d\n%s\nwant\n%s", name, r,
		    buf_cstr(&errors), want);
	assert_null(cfg);
	buf_free(&errors);
}

static void
test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(value_errors); i++) {
		struct buf text = BUF_INIT(0), want = BUF_INIT(0);

		buf_addf(&text, "%s = { %s };\n", value_errors[i].group,
		    value_errors[i].setting);
		buf_addf(&want, "t.conf:1: %s\n", value_errors[i].error);
		expect_errors(value_errors[i].setting, buf_cstr(&text),
		    buf_cstr(&want));
		buf_free(&text);
		buf_free(&want);
	}
	for (size_t i = 0; i < ARRAY_SIZE(file_errors); i++)
		expect_errors(file_errors[i].name, file_errors[i].text,
		    file_errors[i].errors);
}

static void
test_domains(void **state)
{
	static const struct {
		const char *in, *error;
	} cases[] = {
		{ "example.com", NULL },
		{ "localhost", NULL },
		{ "MX-1.Example.COM", NULL },
		{ "1.example", NULL },
		{ "xn--bcher-kva.example", NULL },
		{ "", "empty domain" },
		{ "a..b", "empty label in domain" },
		{ "a.b.", "empty label in domain" },
		{ ".a", "empty label in domain" },
		{ "-a.example", "domain label starts with '-'" },
		{ "a-.example", "domain label ends with '-'" },
		{ "a_b.example", "bad character in domain (letters, digits, '-' "
		  "and '.' only)" },
		{ "a b", "bad character in domain (letters, digits, '-' and '.' "
		  "only)" },
		{ "caf\xc3\xa9.example", "bad character in domain (letters, "
		  "digits, '-' and '.' only)" },
		{ "192.0.2.1", "not a domain name (numeric last label)" },
		{ "a.123", "not a domain name (numeric last label)" },
	};
	char label[80], name[300];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *r = config_check_domain(cases[i].in);

		if (cases[i].error == NULL ? r != NULL :
		    r == NULL || strcmp(r, cases[i].error) != 0)
			fail_msg("\"%s\": %s", cases[i].in, r ? r : "ok");
	}
	/* limits: a label of 63 and a name of 253 pass, one more fails */
	memset(label, 'a', 64);
	label[63] = '\0';
	assert_null(config_check_domain(label));
	label[63] = 'a';
	label[64] = '\0';
	assert_string_equal(config_check_domain(label),
	    "domain label longer than 63 characters");
	memset(name, 'a', 253);
	for (size_t i = 50; i < 253; i += 50)
		name[i] = '.';
	name[253] = '\0';
	assert_null(config_check_domain(name));
	name[253] = 'a';
	name[254] = '\0';
	assert_string_equal(config_check_domain(name),
	    "domain longer than 253 characters");
}

static void
test_values(void **state)
{
	struct config *cfg = load_ok(
	    "# every type in its forms\n"
	    "server = { hostname = \"MX1.Example.COM\"; data_dir = \"/srv/p/\";"
	    " io_threads = 4; job_threads = 0x10; user = \"mail\"; };\n"
	    "log = { dest = \"syslog\"; level = \"debug\"; "
	    "facility = \"local3\"; };\n"
	    "tls = { cert = \"c.pem\"; key = \"k.pem\"; "
	    "min_version = \"TLSv1.3\"; ciphers = \"ECDHE+AESGCM\"; };\n"
	    "smtp = {\n"
	    "\tlisten = ( \"127.0.0.1:2525\", \"[::1]:2525\" );\n"
	    "\tlocal_domains = [ \"example.com\", \"example.org\" ];\n"
	    "\tbanner = \"ready\";\n"
	    "\tstarttls = false;\n"
	    "\tmax_message_size = 3000000001L;\n"
	    "\tmax_recipients = 1;\n"
	    "\tmax_connections = 1000000;\n"
	    "\tmax_connections_per_ip = 7;\n"
	    "\tcommand_timeout = \"30s\";\n"
	    "\tdata_timeout = \"1h\";\n"
	    "\tmax_errors = 1000;\n"
	    "\tbare_newline = \"normalize\";\n"
	    "};\n"
	    "queue = { dir = \"/spool\"; min_backoff = 1; max_backoff = \"1d\"; "
	    "max_lifetime = \"60d\"; scan_interval = \"2m\"; "
	    "max_deliveries = 3; };\n");

	(void)state;
	assert_string_equal(cfg->path, "t.conf");
	assert_string_equal(cfg->server.hostname, "MX1.Example.COM");
	assert_string_equal(cfg->server.data_dir, "/srv/p/");
	assert_string_equal(cfg->server.user, "mail");
	assert_int_equal(cfg->server.io_threads, 4);
	assert_int_equal(cfg->server.job_threads, 16);
	assert_string_equal(cfg->server.pid_file, "/srv/p/postern.pid");
	assert_int_equal(cfg->log.dest, LOG_DEST_SYSLOG);
	assert_int_equal(cfg->log.level, LOG_LVL_DEBUG);
	assert_string_equal(cfg->log.facility, "local3");
	assert_string_equal(cfg->tls.cert, "c.pem");
	assert_string_equal(cfg->tls.key, "k.pem");
	assert_string_equal(cfg->tls.min_version, "TLSv1.3");
	assert_string_equal(cfg->tls.ciphers, "ECDHE+AESGCM");
	assert_strlist(&cfg->smtp.listen, "127.0.0.1:2525", "[::1]:2525", NULL);
	assert_strlist(&cfg->smtp.local_domains, "example.com", "example.org",
	    NULL);
	assert_string_equal(cfg->smtp.banner, "ready");
	assert_false(cfg->smtp.starttls);
	assert_true(cfg->smtp.max_message_size == 3000000001ull);
	assert_int_equal(cfg->smtp.max_recipients, 1);
	assert_int_equal(cfg->smtp.max_connections, 1000000);
	assert_int_equal(cfg->smtp.max_connections_per_ip, 7);
	assert_int_equal(cfg->smtp.command_timeout, 30);
	assert_int_equal(cfg->smtp.data_timeout, 3600);
	assert_int_equal(cfg->smtp.max_errors, 1000);
	assert_int_equal(cfg->smtp.bare_newline, BARE_NEWLINE_NORMALIZE);
	assert_string_equal(cfg->queue.dir, "/spool");
	assert_int_equal(cfg->queue.min_backoff, 1);
	assert_int_equal(cfg->queue.max_backoff, 86400);
	assert_int_equal(cfg->queue.max_lifetime, 60 * 86400);
	assert_int_equal(cfg->queue.scan_interval, 120);
	assert_int_equal(cfg->queue.max_deliveries, 3);
	config_free(&cfg);
	assert_null(cfg);
	config_free(&cfg);	/* NULL is fine */
}

static void
test_parse_units(void **state)
{
	static const struct {
		const char *in;
		int size_ok;
		uint64_t size;
		int dur_ok;
		uint64_t dur;
	} cases[] = {
		{ "0", 1, 0, 1, 0 },
		{ "1024", 1, 1024, 1, 1024 },
		{ "10k", 1, 10240, 0, 0 },
		{ "50M", 1, 50ull << 20, 0, 0 },
		{ "50m", 1, 50ull << 20, 1, 50 * 60 },	/* "m" vs "M" */
		{ "1G", 1, 1ull << 30, 0, 0 },
		{ "2T", 1, 2ull << 40, 0, 0 },
		{ "30s", 0, 0, 1, 30 },
		{ "4h", 0, 0, 1, 4 * 3600 },
		{ "5d", 0, 0, 1, 5 * 86400 },
		{ "18446744073709551615", 1, UINT64_MAX, 1, UINT64_MAX },
		{ "18446744073709551616", 0, 0, 0, 0 },
		{ "16777215T", 1, 16777215ull << 40, 0, 0 },
		{ "16777216T", 0, 0, 0, 0 },
		{ "213503982334601d", 0, 0, 1, 213503982334601ull * 86400 },
		{ "213503982334602d", 0, 0, 0, 0 },
		{ "", 0, 0, 0, 0 },
		{ "k", 0, 0, 0, 0 },
		{ "-1", 0, 0, 0, 0 },
		{ "+1", 0, 0, 0, 0 },
		{ " 1", 0, 0, 0, 0 },
		{ "1 ", 0, 0, 0, 0 },
		{ "1kk", 0, 0, 0, 0 },
		{ "1.5k", 0, 0, 0, 0 },
		{ "1KB", 0, 0, 0, 0 },
		{ "0x10", 0, 0, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint64_t v = 12345;
		int r = config_parse_size(cases[i].in, &v);

		if ((r == 0) != cases[i].size_ok ||
		    (r == 0 && v != cases[i].size))
			fail_msg("size \"%s\": %d %llu", cases[i].in, r,
			    (unsigned long long)v);
		r = config_parse_duration(cases[i].in, &v);
		if ((r == 0) != cases[i].dur_ok ||
		    (r == 0 && v != cases[i].dur))
			fail_msg("duration \"%s\": %d %llu", cases[i].in, r,
			    (unsigned long long)v);
	}
}

/* the expected fallback of server.hostname, as config_table.c makes it */
static void
system_hostname(char *out, size_t len)
{
	assert_int_equal(gethostname(out, len), 0);
	out[len - 1] = '\0';
	if (out[0] == '\0' || config_check_domain(out) != NULL)
		snprintf(out, len, "localhost");
}

static void
test_defaults(void **state)
{
	struct config *cfg;
	struct buf errors = BUF_INIT(0);
	char host[HOST_NAME_MAX + 1];

	(void)state;
	system_hostname(host, sizeof(host));
	assert_int_equal(config_load(NULL, &cfg, &errors), 0);
	assert_int_equal(errors.len, 0);
	assert_null(cfg->path);
	assert_string_equal(cfg->server.hostname, host);
	assert_string_equal(cfg->server.data_dir, "./var");
	assert_string_equal(cfg->server.user, "postern");
	assert_int_equal(cfg->server.io_threads, 0);
	assert_int_equal(cfg->server.job_threads, 0);
	assert_string_equal(cfg->server.pid_file, "./var/postern.pid");
	assert_int_equal(cfg->log.dest, LOG_DEST_STDERR);
	assert_int_equal(cfg->log.level, LOG_LVL_INFO);
	assert_string_equal(cfg->log.facility, "mail");
	assert_string_equal(cfg->tls.cert, "");
	assert_string_equal(cfg->tls.key, "");
	assert_string_equal(cfg->tls.min_version, "TLSv1.2");
	assert_string_equal(cfg->tls.ciphers, "HIGH:!aNULL:!MD5");
	assert_strlist(&cfg->smtp.listen, "0.0.0.0:25", "[::]:25", NULL);
	assert_strlist(&cfg->smtp.local_domains, host,
	    strcmp(host, "localhost") != 0 ? "localhost" : NULL, NULL);
	assert_string_equal(cfg->smtp.banner, "ESMTP Postern");
	assert_true(cfg->smtp.starttls);
	assert_true(cfg->smtp.max_message_size == 50ull * 1024 * 1024);
	assert_int_equal(cfg->smtp.max_recipients, 1000);
	assert_int_equal(cfg->smtp.max_connections, 1000);
	assert_int_equal(cfg->smtp.max_connections_per_ip, 50);
	assert_int_equal(cfg->smtp.command_timeout, 300);
	assert_int_equal(cfg->smtp.data_timeout, 600);
	assert_int_equal(cfg->smtp.max_errors, 20);
	assert_int_equal(cfg->smtp.bare_newline, BARE_NEWLINE_REJECT);
	assert_string_equal(cfg->queue.dir, "./var/queue");
	assert_int_equal(cfg->queue.min_backoff, 300);
	assert_int_equal(cfg->queue.max_backoff, 4000);
	assert_int_equal(cfg->queue.max_lifetime, 5 * 86400);
	assert_int_equal(cfg->queue.scan_interval, 60);
	assert_int_equal(cfg->queue.max_deliveries, 20);
	config_free(&cfg);

	/* an empty file, and empty groups, are the defaults too */
	cfg = load_ok("# nothing\n");
	assert_string_equal(cfg->server.hostname, host);
	config_free(&cfg);
	cfg = load_ok("server = {};\nlog = {};\ntls = {};\nsmtp = {};\n"
	    "queue = {};\n");
	assert_int_equal(cfg->smtp.max_recipients, 1000);
	config_free(&cfg);
}

static void
test_derived(void **state)
{
	static const struct {
		const char *text, *hostname, *pid_file, *queue_dir;
		const char *domains[3];
	} cases[] = {
		{ "server = { hostname = \"mx.example.com\"; data_dir = \"/d\"; };",
		  "mx.example.com", "/d/postern.pid", "/d/queue",
		  { "mx.example.com", "localhost" } },
		{ "server = { hostname = \"localhost\"; data_dir = \"/d//\"; };",
		  "localhost", "/d/postern.pid", "/d/queue", { "localhost" } },
		{ "server = { hostname = \"a.example\"; data_dir = \"/\"; };\n"
		  "smtp = { local_domains = []; };",
		  "a.example", "/postern.pid", "/queue",
		  { "a.example", "localhost" } },
		{ "server = { hostname = \"a.example\"; pid_file = \"/run/p\"; };\n"
		  "smtp = { local_domains = [ \"b.example\" ]; };\n"
		  "queue = { dir = \"q\"; };",
		  "a.example", "/run/p", "q", { "b.example" } },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct config *cfg = load_ok(cases[i].text);

		assert_string_equal(cfg->server.hostname, cases[i].hostname);
		assert_string_equal(cfg->server.pid_file, cases[i].pid_file);
		assert_string_equal(cfg->queue.dir, cases[i].queue_dir);
		assert_strlist(&cfg->smtp.local_domains, cases[i].domains[0],
		    cases[i].domains[1], cases[i].domains[2], NULL);
		config_free(&cfg);
	}
}

static void
test_include(void **state)
{
	struct config *cfg = NULL;
	struct buf errors = BUF_INIT(0);

	(void)state;
	/* relative to the including file's directory, not to the cwd */
	assert_int_equal(config_load("nonexistent.conf", &cfg, &errors), -1);
	assert_null(cfg);
	assert_string_equal(buf_cstr(&errors),
	    "nonexistent.conf: cannot read: No such file or directory\n");
	buf_reset(&errors);
	assert_int_equal(mkdir("etc", 0700), 0);
	write_file("etc/main.conf", "server = { data_dir = \"/d\"; };\n"
	    "@include \"smtp.conf\"\n");
	write_file("etc/smtp.conf", "# included\n"
	    "smtp = { max_recipients = 7; };\n");
	assert_int_equal(config_load("etc/main.conf", &cfg, &errors), 0);
	assert_string_equal(cfg->server.data_dir, "/d");
	assert_int_equal(cfg->smtp.max_recipients, 7);
	config_free(&cfg);

	/* errors in an included file name that file and its line */
	write_file("etc/smtp.conf", "smtp = {\n\tmax_recipients = 0;\n"
	    "\tnope = 1;\n\tmax_message_size = 5000000000;\n};\n");
	assert_int_equal(config_load("etc/main.conf", &cfg, &errors), -1);
	assert_string_equal(buf_cstr(&errors),
	    "etc/smtp.conf:2: smtp.max_recipients: 0 is out of range "
	    "(1..100000)\n"
	    "etc/smtp.conf:3: unknown key smtp.nope\n"
	    "etc/smtp.conf:4: smtp.max_message_size: 5000000000 does not fit "
	    "in 32 bits; write it as a string with a unit, or add L "
	    "(5000000000L)\n");
	buf_reset(&errors);
	write_file("etc/smtp.conf", "smtp = {\n\tlisten = [ 1, \n};\n");
	assert_int_equal(config_load("etc/main.conf", &cfg, &errors), -1);
	assert_string_equal(buf_cstr(&errors),
	    "etc/smtp.conf:3: syntax error\n");
	buf_free(&errors);
}

/* show_text - config_show of cfg as a new string */
static char *
show_text(const struct config *cfg, bool changed_only)
{
	struct buf out = BUF_INIT(0);

	config_show(cfg, changed_only, &out);
	return buf_steal(&out, NULL);
}

static void
test_show_round_trip(void **state)
{
	struct config *cfg = load_ok(
	    "server = { hostname = \"mx.example.com\";\n"
	    "\tdata_dir = \"/srv/\\\"odd\\\\ \\t\\x01\\x7f\xc3\xa9/\"; };\n"
	    "log = { level = \"warning\"; };\n"
	    "tls = { cert = \"c\"; key = \"k\"; };\n"
	    "smtp = { listen = [ \"127.0.0.1:2525\" ];\n"
	    "\tbanner = \"say \\\"hi\\\"\";\n"
	    "\tmax_message_size = 3000000001L; data_timeout = 4000;\n"
	    "\tcommand_timeout = \"1d\"; starttls = false; };\n"
	    "queue = { max_backoff = \"2h\"; };\n");
	struct config *again, *defaults;
	struct buf errors = BUF_INIT(0);
	char *full = show_text(cfg, false), *changed = show_text(cfg, true);
	char *full2, *changed2;

	(void)state;
	/* everything, read back, prints the same */
	again = load_ok(full);
	full2 = show_text(again, false);
	assert_string_equal(full, full2);
	config_free(&again);
	free(full2);

	/* only the changes, read back, give the same effective config */
	again = load_ok(changed);
	full2 = show_text(again, false);
	changed2 = show_text(again, true);
	assert_string_equal(full, full2);
	assert_string_equal(changed, changed2);
	config_free(&again);
	free(full2);
	free(changed2);

	/* derived keys follow data_dir, so they are not "changed" */
	assert_string_equal(changed,
	    "server = {\n"
	    "\thostname = \"mx.example.com\";\n"
	    "\tdata_dir = \"/srv/\\\"odd\\\\ \\t\\x01\\x7f\xc3\xa9/\";\n"
	    "};\n"
	    "\n"
	    "log = {\n"
	    "\tlevel = \"warning\";\n"
	    "};\n"
	    "\n"
	    "tls = {\n"
	    "\tcert = \"c\";\n"
	    "\tkey = \"k\";\n"
	    "};\n"
	    "\n"
	    "smtp = {\n"
	    "\tlisten = [ \"127.0.0.1:2525\" ];\n"
	    "\tbanner = \"say \\\"hi\\\"\";\n"
	    "\tstarttls = false;\n"
	    "\tmax_message_size = 3000000001L;\n"
	    "\tcommand_timeout = \"1d\";\n"
	    "\tdata_timeout = 4000;\n"
	    "};\n"
	    "\n"
	    "queue = {\n"
	    "\tmax_backoff = \"2h\";\n"
	    "};\n");
	config_free(&cfg);
	free(full);
	free(changed);

	/* the defaults have no changes; their full text reads back */
	assert_int_equal(config_load(NULL, &defaults, &errors), 0);
	changed = show_text(defaults, true);
	assert_string_equal(changed, "");
	full = show_text(defaults, false);
	again = load_ok(full);
	full2 = show_text(again, false);
	assert_string_equal(full, full2);
	config_free(&again);
	config_free(&defaults);
	free(changed);
	free(full);
	free(full2);
	buf_free(&errors);
}

/* filters.stages: the default pipeline, and [] for none */
static void
test_filters_stages(void **state)
{
	static const char *const none[] = {
		"filters = { stages = []; };\n",
		"filters = { stages = ( ); };\n",
		"filters = {\n\tstages = [ ];\n};\n",
	};
	struct config *cfg, *again;
	struct buf errors = BUF_INIT(0);
	char *changed;

	(void)state;
	/* a fresh install: the built-in stages that need no set-up, spf
	 * and dkim before dmarc (it reads their results) */
	assert_int_equal(config_load(NULL, &cfg, &errors), 0);
	assert_strlist(&cfg->filters.stages, "iprev", "spf", "dkim", "dmarc",
	    "greylist", "bayes", NULL);
	config_free(&cfg);
	cfg = load_ok("filters = { trust_loopback = false; };\n");
	assert_int_equal(cfg->filters.stages.n, 6);
	config_free(&cfg);

	/* an empty list is accepted and means no stages: shown as a change,
	 * it reads back as none (stages has no derived default) */
	for (size_t i = 0; i < ARRAY_SIZE(none); i++) {
		cfg = load_ok(none[i]);
		assert_int_equal(cfg->filters.stages.n, 0);
		changed = show_text(cfg, true);
		assert_string_equal(changed,
		    "filters = {\n\tstages = [ ];\n};\n");
		again = load_ok(changed);
		assert_int_equal(again->filters.stages.n, 0);
		config_free(&again);
		config_free(&cfg);
		free(changed);
	}

	/* a list replaces the default, it does not add to it */
	cfg = load_ok("filters = { stages = [ \"bayes\" ]; };\n");
	assert_strlist(&cfg->filters.stages, "bayes", NULL);
	config_free(&cfg);

	/* an empty name is still refused */
	expect_errors("empty stage", "filters = { stages = [ \"\" ]; };\n",
	    "t.conf:1: filters.stages[0]: \"\": must not be empty\n");
	buf_free(&errors);
}

static void
test_sample(void **state)
{
	struct buf out = BUF_INIT(0);
	char *file = read_file_at(unit_start_dir, "contrib/postern.conf");
	struct config *cfg, *defaults;
	struct buf errors = BUF_INIT(0);
	char *a, *b;

	(void)state;
	config_sample(&out);
	if (file == NULL || strcmp(file, buf_cstr(&out)) != 0)
		fail_msg("contrib/postern.conf is missing or out of date; "
		    "regenerate it: build/postern config sample > "
		    "contrib/postern.conf");
	/* every key and its doc line are there */
	for (size_t gi = 0; gi < config_ngroups; gi++)
		for (size_t ki = 0; ki < config_groups[gi].nkeys; ki++) {
			const struct config_key *k = &config_groups[gi].keys[ki];
			struct buf want = BUF_INIT(0);

			buf_addf(&want, "\t# %s\n\t# %s = ", k->doc, k->name);
			if (k->choices == NULL)
				assert_non_null(strstr(file, buf_cstr(&want)));
			buf_free(&want);
		}
	assert_non_null(strstr(file, "\t# SIZE extension limit; bigger "
	    "messages get 552 5.3.4.\n\t# max_message_size = \"50M\";\n"));

	/* the sample loads, and is the defaults */
	write_file("sample.conf", buf_cstr(&out));
	assert_int_equal(config_load("sample.conf", &cfg, &errors), 0);
	assert_int_equal(config_load(NULL, &defaults, &errors), 0);
	a = show_text(cfg, false);
	b = show_text(defaults, false);
	assert_string_equal(a, b);
	config_free(&cfg);
	config_free(&defaults);
	free(a);
	free(b);
	free(file);
	buf_free(&out);
	buf_free(&errors);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_parse_units),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_derived),
		cmocka_unit_test(test_include),
		cmocka_unit_test(test_show_round_trip),
		cmocka_unit_test(test_filters_stages),
		cmocka_unit_test(test_sample),
	};

	return cmocka_run_group_tests(tests, unit_tmpdir_setup,
	    unit_tmpdir_teardown);
}
