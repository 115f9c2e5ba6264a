/*
 * config_table.c - every configuration key, once: one table per subsystem
 * (key, type, default, range, field, choices, one line of documentation),
 * the checks of string values, the derived defaults and the rules that
 * tie keys together.  config.c walks these tables to load a file, print
 * the effective configuration and print the sample file, so a key added
 * here is parsed, shown, documented and checked with no other change.
 *
 * Defaults are those documented in config.h.  A "" or [] default with a
 * derive function means "computed after parsing": server.hostname from
 * gethostname(), smtp.local_domains from the hostname, queue.dir and
 * server.pid_file from server.data_dir.  tls.cert and tls.key stay "":
 * the TLS module makes a self-signed pair under <data_dir>/tls.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_priv.h"
#include "dns.h"
#include "netaddr.h"
#include "xalloc.h"

#define MINUTE 60u
#define HOUR (60u * MINUTE)
#define DAY (24u * HOUR)
#define KIB 1024u
#define GIB (1024ull * 1024 * 1024)

#define OFF(f) offsetof(struct config, f)
#define KEYS(t) (t), ARRAY_SIZE(t)

/* string checks */

const char *
config_check_domain(const char *s)
{
	size_t len = strlen(s), label = 0;
	bool all_digits = true;

	if (len == 0)
		return "empty domain";
	if (len > 253)
		return "domain longer than 253 characters";
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.' || c == '\0') {
			if (label == 0)
				return "empty label in domain";
			if (s[i - 1] == '-')
				return "domain label ends with '-'";
			label = 0;
			if (c == '\0')
				break;
			all_digits = true;
			continue;
		}
		if (!is_ascii_alnum(c) && c != '-')
			return "bad character in domain (letters, digits, '-' "
			    "and '.' only)";
		if (label == 0 && c == '-')
			return "domain label starts with '-'";
		if (++label > 63)
			return "domain label longer than 63 characters";
		if (!is_ascii_digit(c))
			all_digits = false;
	}
	/* no top-level domain is numeric: this is an address literal */
	if (all_digits)
		return "not a domain name (numeric last label)";
	return NULL;
}

static const char *
check_hostname(const char *s)
{
	return *s == '\0' ? NULL : config_check_domain(s);	/* "" derived */
}

static const char *
check_nonempty(const char *s)
{
	return *s == '\0' ? "must not be empty" : NULL;
}

/* text that ends up in a protocol line: printable ASCII, nothing that
 * could end the line early */
static const char *
check_printable(const char *s)
{
	if (*s == '\0')
		return "must not be empty";
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return "only printable ASCII allowed";
	return NULL;
}

static const char *
check_delimiter(const char *s)
{
	if (s[0] == '\0')
		return NULL;
	if (s[1] != '\0')
		return "one character, or \"\" for none";
	if ((unsigned char)s[0] <= 0x20 || (unsigned char)s[0] > 0x7e ||
	    s[0] == '@' || s[0] == '"' || s[0] == '\\')
		return "must be a printable ASCII character other than "
		    "@, \" and \\";
	return NULL;
}

static const char *
check_transport(const char *s)
{
	if (strcmp(s, "local") != 0 && strcmp(s, "smtp") != 0)
		return "unknown transport (\"local\" or \"smtp\")";
	return NULL;
}

static const char *
check_listen(const char *s)
{
	struct netaddr na;
	const char *error;

	if (netaddr_parse_listen(s, &na, &error) < 0)
		return error;
	return NULL;
}

/* derived defaults */

static void
derive_hostname(const struct config *cfg, void *field)
{
	char name[HOST_NAME_MAX + 1];

	(void)cfg;
	/*
	 * The kernel's name as is: fully qualified when it has a dot.  We
	 * do no DNS lookup for a canonical name at start-up; a name that is
	 * not a valid domain (or no name) falls back to "localhost", and
	 * the postmaster sets server.hostname.
	 */
	if (gethostname(name, sizeof(name)) < 0)
		name[0] = '\0';
	name[sizeof(name) - 1] = '\0';
	if (name[0] == '\0' || config_check_domain(name) != NULL)
		*(char **)field = xstrdup("localhost");
	else
		*(char **)field = xstrdup(name);
}

static void
derive_local_domains(const struct config *cfg, void *field)
{
	struct strlist *l = field;

	l->v = xcalloc(2, sizeof(*l->v));
	l->n = 0;
	l->v[l->n++] = xstrdup(cfg->server.hostname);
	if (strcmp(cfg->server.hostname, "localhost") != 0)
		l->v[l->n++] = xstrdup("localhost");
}

static char *
under_data_dir(const struct config *cfg, const char *name)
{
	struct buf b = BUF_INIT(0);
	const char *dir = cfg->server.data_dir;
	size_t n = strlen(dir);

	while (n > 0 && dir[n - 1] == '/')	/* "/" gives "/name" */
		n--;
	buf_addf(&b, "%.*s/%s", (int)n, dir, name);
	return buf_steal(&b, NULL);
}

static void
derive_pid_file(const struct config *cfg, void *field)
{
	*(char **)field = under_data_dir(cfg, "postern.pid");
}

static void
derive_queue_dir(const struct config *cfg, void *field)
{
	*(char **)field = under_data_dir(cfg, "queue");
}

static void
derive_store_path(const struct config *cfg, void *field)
{
	*(char **)field = under_data_dir(cfg, cfg->store.backend ==
	    STORE_ROCKSDB ? "rocksdb" : "store.sqlite");
}

static void
derive_blob_dir(const struct config *cfg, void *field)
{
	*(char **)field = under_data_dir(cfg, "blobs");
}

/* the tables */

static const char *const dest_names[] = { "stderr", "syslog", NULL };
static const char *const level_names[] = { "debug", "info", "warning",
	"error", NULL };
static const char *const facility_names[] = { "mail", "daemon", "user",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6",
	"local7", NULL };
static const char *const tls_versions[] = { "TLSv1.2", "TLSv1.3", NULL };
static const char *const bare_newline_names[] = { "reject", "normalize",
	NULL };

static const struct config_key server_keys[] = {
	{ "hostname", CONFIG_T_STRING, "", 0, 0, OFF(server.hostname), NULL,
	  check_hostname, derive_hostname,
	  "Name in the SMTP greeting and Received:; \"\" = the system's "
	  "name." },
	{ "data_dir", CONFIG_T_STRING, "./var", 0, 0, OFF(server.data_dir),
	  NULL, check_nonempty, NULL,
	  "Directory for the queue, TLS keys and the data store." },
	{ "user", CONFIG_T_STRING, "postern", 0, 0, OFF(server.user), NULL,
	  check_nonempty, NULL,
	  "User to switch to when started as root." },
	{ "io_threads", CONFIG_T_UINT, "0", 0, 1024, OFF(server.io_threads),
	  NULL, NULL, NULL,
	  "Network threads, one event loop each; 0 = one per core." },
	{ "job_threads", CONFIG_T_UINT, "0", 0, 4096,
	  OFF(server.job_threads), NULL, NULL, NULL,
	  "Threads for blocking work; 0 = 4 per core, at least 8." },
	{ "pid_file", CONFIG_T_STRING, "", 0, 0, OFF(server.pid_file), NULL,
	  NULL, derive_pid_file,
	  "PID file; \"\" = <data_dir>/postern.pid." },
};

static const struct config_key log_keys[] = {
	{ "dest", CONFIG_T_ENUM, "stderr", 0, 0, OFF(log.dest), dest_names,
	  NULL, NULL, "Where log lines go." },
	{ "level", CONFIG_T_ENUM, "info", 0, 0, OFF(log.level), level_names,
	  NULL, NULL, "Lowest level written." },
	{ "facility", CONFIG_T_STRING, "mail", 0, 0, OFF(log.facility),
	  facility_names, NULL, NULL,
	  "syslog facility, with dest = \"syslog\"." },
	{ "syslog_socket", CONFIG_T_STRING, "/dev/log", 0, 0,
	  OFF(log.syslog_socket), NULL, check_nonempty, NULL,
	  "Datagram socket of the syslog daemon, with dest = \"syslog\"." },
};

static const struct config_key tls_keys[] = {
	{ "cert", CONFIG_T_STRING, "", 0, 0, OFF(tls.cert), NULL, NULL, NULL,
	  "PEM certificate chain; \"\" = self-signed, made under "
	  "<data_dir>/tls." },
	{ "key", CONFIG_T_STRING, "", 0, 0, OFF(tls.key), NULL, NULL, NULL,
	  "PEM private key of cert; set both or neither." },
	{ "min_version", CONFIG_T_STRING, "TLSv1.2", 0, 0,
	  OFF(tls.min_version), tls_versions, NULL, NULL,
	  "Oldest TLS version accepted." },
	{ "ciphers", CONFIG_T_STRING, "HIGH:!aNULL:!MD5", 0, 0,
	  OFF(tls.ciphers), NULL, check_printable, NULL,
	  "OpenSSL cipher list for TLS 1.2 (1.3 uses OpenSSL's suites)." },
};

static const char *check_cidr(const char *s);

static const struct config_key smtp_keys[] = {
	{ "listen", CONFIG_T_STRLIST, "0.0.0.0:25 [::]:25", 0, 0,
	  OFF(smtp.listen), NULL, check_listen, NULL,
	  "Addresses to accept mail on: \"IPv4:port\", \"[IPv6]:port\" "
	  "or \"unix:/path\"." },
	{ "local_domains", CONFIG_T_STRLIST, "", 0, 0,
	  OFF(smtp.local_domains), NULL, config_check_domain,
	  derive_local_domains,
	  "Domains delivered here; [] = [ hostname, \"localhost\" ]." },
	{ "banner", CONFIG_T_STRING, "ESMTP Postern", 0, 0, OFF(smtp.banner),
	  NULL, check_printable, NULL,
	  "Greeting text after \"220 <hostname> \"." },
	{ "starttls", CONFIG_T_BOOL, "true", 0, 0, OFF(smtp.starttls), NULL,
	  NULL, NULL, "Offer STARTTLS." },
	{ "max_message_size", CONFIG_T_SIZE, "50M", KIB, 4 * GIB,
	  OFF(smtp.max_message_size), NULL, NULL, NULL,
	  "SIZE extension limit; bigger messages get 552 5.3.4." },
	{ "max_recipients", CONFIG_T_UINT, "1000", 1, 100000,
	  OFF(smtp.max_recipients), NULL, NULL, NULL,
	  "Recipients per transaction; more get 452 4.5.3." },
	{ "max_connections", CONFIG_T_UINT, "1000", 1, 1000000,
	  OFF(smtp.max_connections), NULL, NULL, NULL,
	  "Simultaneous SMTP connections in all; more get 421." },
	{ "max_connections_per_ip", CONFIG_T_UINT, "50", 1, 1000000,
	  OFF(smtp.max_connections_per_ip), NULL, NULL, NULL,
	  "Simultaneous SMTP connections from one IP address." },
	{ "command_timeout", CONFIG_T_DURATION, "5m", 1, DAY,
	  OFF(smtp.command_timeout), NULL, NULL, NULL,
	  "Idle time allowed while waiting for a command." },
	{ "data_timeout", CONFIG_T_DURATION, "10m", 1, DAY,
	  OFF(smtp.data_timeout), NULL, NULL, NULL,
	  "Idle time allowed between reads of the message data." },
	{ "max_errors", CONFIG_T_UINT, "20", 1, 1000, OFF(smtp.max_errors),
	  NULL, NULL, NULL,
	  "Protocol errors before the session ends with 421." },
	{ "bare_newline", CONFIG_T_ENUM, "reject", 0, 0,
	  OFF(smtp.bare_newline), bare_newline_names, NULL, NULL,
	  "Bare CR or LF in a message: reject (550) or normalize to CRLF." },
	{ "auth", CONFIG_T_BOOL, "false", 0, 0, OFF(smtp.auth), NULL, NULL,
	  NULL, "Offer AUTH on these listeners too, after STARTTLS "
	  "(submission always does)." },
	/* secure by default: no network relays until the postmaster says */
	{ "relay_networks", CONFIG_T_STRLIST, "", 0, 0,
	  OFF(smtp.relay_networks), NULL, check_cidr, NULL,
	  "Clients (CIDR) that may relay to any domain without AUTH, like "
	  "Postfix's mynetworks; [] = none (loopback too)." },
};

static const struct config_key submission_keys[] = {
	{ "listen", CONFIG_T_STRLIST, "0.0.0.0:587 [::]:587", 0, 0,
	  OFF(submission.listen), NULL, check_listen, NULL,
	  "Message submission (RFC 6409) with STARTTLS; AUTH is required "
	  "before MAIL; [] = off." },
	{ "listen_tls", CONFIG_T_STRLIST, "0.0.0.0:465 [::]:465", 0, 0,
	  OFF(submission.listen_tls), NULL, check_listen, NULL,
	  "Submission over implicit TLS (RFC 8314); [] = off." },
};

/* "@domain=account" or "address=account" */
static const char *
check_sender_wildcard(const char *s)
{
	const char *eq = strchr(s, '='), *at, *acct_at;

	if (eq == NULL || strchr(eq + 1, '=') != NULL)
		return "PATTERN=ACCOUNT: \"@domain=user@domain\" or "
		    "\"address=user@domain\"";
	at = memchr(s, '@', (size_t)(eq - s));
	acct_at = strchr(eq + 1, '@');
	if (at == NULL || at + 1 == eq || memchr(at + 1, '@',
	    (size_t)(eq - at - 1)) != NULL)
		return "the pattern is \"@domain\" or an address";
	if (acct_at == NULL || acct_at == eq + 1 || acct_at[1] == '\0' ||
	    strchr(acct_at + 1, '@') != NULL)
		return "the account is an address (user@domain)";
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return "no spaces or control characters";
	return NULL;
}

static const struct config_key auth_keys[] = {
	{ "plaintext_loopback", CONFIG_T_BOOL, "false", 0, 0,
	  OFF(auth.plaintext_loopback), NULL, NULL, NULL,
	  "Allow AUTH, IMAP LOGIN and JMAP logins without TLS from loopback "
	  "clients (tests only)." },
	{ "sender_wildcards", CONFIG_T_STRLIST, "", 0, 0,
	  OFF(auth.sender_wildcards), NULL, check_sender_wildcard, NULL,
	  "Senders an account may use beyond its addresses and aliases: "
	  "\"@domain=user@domain\" or \"address=user@domain\"." },
	{ "failure_free", CONFIG_T_UINT, "3", 0, 1000,
	  OFF(auth.failure_free), NULL, NULL, NULL,
	  "Failed logins per client IP or account answered without delay." },
	{ "failure_delay_ms", CONFIG_T_UINT, "1000", 0, 600000,
	  OFF(auth.failure_delay_ms), NULL, NULL, NULL,
	  "Delay of the next failure's reply (ms), doubled for each one "
	  "after." },
	{ "failure_delay_max_ms", CONFIG_T_UINT, "15000", 0, 600000,
	  OFF(auth.failure_delay_max_ms), NULL, NULL, NULL,
	  "The longest delay of a failure's reply (ms)." },
	{ "failure_window", CONFIG_T_DURATION, "15m", 1, 30 * DAY,
	  OFF(auth.failure_window), NULL, NULL, NULL,
	  "Failures are forgotten this long after the last one." },
	{ "max_failures_per_ip", CONFIG_T_UINT, "20", 0, 1000000,
	  OFF(auth.max_failures_per_ip), NULL, NULL, NULL,
	  "Failures that block a client IP from AUTH (421); 0 = never." },
	{ "block_time", CONFIG_T_DURATION, "15m", 1, 30 * DAY,
	  OFF(auth.block_time), NULL, NULL, NULL,
	  "How long a blocked client IP stays blocked." },
	/*
	 * An Argon2id check costs about 0.3 s and 64 MiB: on the shared job
	 * pool, 100 guessing clients held a port-25 message up for 57 s.
	 */
	{ "check_threads", CONFIG_T_UINT, "0", 0, 1024,
	  OFF(auth.check_threads), NULL, NULL, NULL,
	  "Threads that check passwords, apart from the job pool so that "
	  "guessing cannot hold up mail; 0 = half the cores, at least 1." },
	{ "max_checks", CONFIG_T_UINT, "1000", 0, 100000,
	  OFF(auth.max_checks), NULL, NULL, NULL,
	  "Password checks queued or running at once; more get 454 4.7.0 "
	  "(IMAP NO [UNAVAILABLE]) at once; 0 = no bound." },
	/*
	 * With Argon2id (0.3 s) and one check thread, 10 s is ~33 checks
	 * queued; with SHA512-crypt (~2 ms) a burst of 1,000 logins (every
	 * client after a restart) all wait their turn.
	 */
	{ "max_check_wait", CONFIG_T_DURATION, "10s", 0, 3600,
	  OFF(auth.max_check_wait), NULL, NULL, NULL,
	  "A password check that would wait longer than this behind the "
	  "others queued (their number, shared by the check threads, times "
	  "the average check) is not queued: the client is told to try "
	  "later at once; 0 = no bound (max_checks still holds)." },
};

static const struct config_key imap_keys[] = {
	{ "listen", CONFIG_T_STRLIST, "0.0.0.0:143 [::]:143", 0, 0,
	  OFF(imap.listen), NULL, check_listen, NULL,
	  "IMAP with STARTTLS; LOGIN and AUTHENTICATE wait for TLS "
	  "(auth.plaintext_loopback aside); [] = off." },
	{ "listen_tls", CONFIG_T_STRLIST, "0.0.0.0:993 [::]:993", 0, 0,
	  OFF(imap.listen_tls), NULL, check_listen, NULL,
	  "IMAP over implicit TLS (RFC 8314); [] = off." },
	{ "max_connections", CONFIG_T_UINT, "10000", 1, 1000000,
	  OFF(imap.max_connections), NULL, NULL, NULL,
	  "Simultaneous IMAP connections in all; more get BYE." },
	{ "max_connections_per_ip", CONFIG_T_UINT, "50", 1, 1000000,
	  OFF(imap.max_connections_per_ip), NULL, NULL, NULL,
	  "Simultaneous IMAP connections from one IP address." },
	{ "login_timeout", CONFIG_T_DURATION, "1m", 1, DAY,
	  OFF(imap.login_timeout), NULL, NULL, NULL,
	  "Idle time allowed before the client has logged in." },
	/* RFC 9051 5.4: an autologout timer of at least 30 minutes */
	{ "idle_timeout", CONFIG_T_DURATION, "30m", 1, DAY,
	  OFF(imap.idle_timeout), NULL, NULL, NULL,
	  "Idle time allowed after login, IDLE included (RFC 9051: at "
	  "least 30 minutes)." },
	{ "output_timeout", CONFIG_T_DURATION, "5m", 1, DAY,
	  OFF(imap.output_timeout), NULL, NULL, NULL,
	  "A client that takes none of our output for this long is "
	  "disconnected." },
	{ "max_output", CONFIG_T_SIZE, "1M", 64 * KIB, GIB,
	  OFF(imap.max_output), NULL, NULL, NULL,
	  "Output a client has not taken beyond which untagged updates "
	  "(IDLE) disconnect it." },
	{ "max_line", CONFIG_T_SIZE, "64K", 8 * KIB, 16 * KIB * KIB,
	  OFF(imap.max_line), NULL, NULL, NULL,
	  "A command's text after login, literals excluded." },
	{ "max_append_size", CONFIG_T_SIZE, "50M", KIB, 4 * GIB,
	  OFF(imap.max_append_size), NULL, NULL, NULL,
	  "One APPEND message (APPENDLIMIT); bigger get NO [TOOBIG]." },
	{ "max_bad_commands", CONFIG_T_UINT, "20", 1, 1000,
	  OFF(imap.max_bad_commands), NULL, NULL, NULL,
	  "BAD answers in a row before the session ends with BYE." },
	/* RFC 9738 3: SHOULD NOT be under 1000; tests go lower */
	{ "message_limit", CONFIG_T_UINT, "100000", 0, 1000000000,
	  OFF(imap.message_limit), NULL, NULL, NULL,
	  "Messages one FETCH, STORE, SEARCH, MOVE or UID EXPUNGE works "
	  "on (the rest is left for the next, MESSAGELIMIT); COPY, SORT "
	  "and THREAD of more are refused; 0 = no limit." },
	/* values go in one literal: at most the parser's 64 KiB */
	{ "metadata_max_size", CONFIG_T_SIZE, "16K", 1, 64 * KIB,
	  OFF(imap.metadata_max_size), NULL, NULL, NULL,
	  "One METADATA annotation value; bigger get NO [METADATA "
	  "MAXSIZE]." },
	{ "metadata_max_entries", CONFIG_T_UINT, "100", 1, 1000,
	  OFF(imap.metadata_max_entries), NULL, NULL, NULL,
	  "METADATA annotations of one mailbox, and of the server, per "
	  "account; more get NO [METADATA TOOMANY]." },
};

/* jmap.url: an absolute http(s) URL without a trailing slash */
static const char *
check_base_url(const char *s)
{
	size_t n = strlen(s);

	if (n == 0)
		return NULL;
	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0)
		return "must start with https:// (or http://)";
	if (s[n - 1] == '/')
		return "no trailing slash";
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s > 0x7e ||
		    *s == '"' || *s == '\\' || *s == '{' || *s == '}')
			return "printable ASCII without spaces, quotes, "
			    "backslashes or braces";
	return NULL;
}

static const struct config_key jmap_keys[] = {
	{ "listen_tls", CONFIG_T_STRLIST, "0.0.0.0:443 [::]:443", 0, 0,
	  OFF(jmap.listen_tls), NULL, check_listen, NULL,
	  "JMAP over HTTPS (RFC 8620); [] = off." },
	{ "listen", CONFIG_T_STRLIST, "", 0, 0,
	  OFF(jmap.listen), NULL, check_listen, NULL,
	  "JMAP over plain HTTP, for tests: logins only from loopback "
	  "clients with auth.plaintext_loopback; [] = off." },
	{ "url", CONFIG_T_STRING, "", 0, 0,
	  OFF(jmap.url), NULL, check_base_url, NULL,
	  "Base URL of the session's apiUrl and the others "
	  "(\"https://mail.example.com\"); \"\" = the scheme and Host of "
	  "each request." },
	{ "max_size_upload", CONFIG_T_SIZE, "50M", KIB, 4 * GIB,
	  OFF(jmap.max_size_upload), NULL, NULL, NULL,
	  "maxSizeUpload: the largest upload." },
	{ "max_concurrent_upload", CONFIG_T_UINT, "4", 1, 1000,
	  OFF(jmap.max_concurrent_upload), NULL, NULL, NULL,
	  "maxConcurrentUpload: uploads one account may run at once." },
	{ "max_size_request", CONFIG_T_SIZE, "10M", KIB, GIB,
	  OFF(jmap.max_size_request), NULL, NULL, NULL,
	  "maxSizeRequest: the largest API request." },
	{ "max_concurrent_requests", CONFIG_T_UINT, "4", 1, 1000,
	  OFF(jmap.max_concurrent_requests), NULL, NULL, NULL,
	  "maxConcurrentRequests: API requests and downloads one account "
	  "may run at once." },
	{ "max_calls_in_request", CONFIG_T_UINT, "16", 1, 1000,
	  OFF(jmap.max_calls_in_request), NULL, NULL, NULL,
	  "maxCallsInRequest: method calls in one API request." },
	{ "max_objects_in_get", CONFIG_T_UINT, "500", 1, 100000,
	  OFF(jmap.max_objects_in_get), NULL, NULL, NULL,
	  "maxObjectsInGet: ids one /get may ask for." },
	{ "max_objects_in_set", CONFIG_T_UINT, "500", 1, 100000,
	  OFF(jmap.max_objects_in_set), NULL, NULL, NULL,
	  "maxObjectsInSet: creates, updates and destroys in one /set." },
	{ "max_eventsource", CONFIG_T_UINT, "8", 1, 1000,
	  OFF(jmap.max_eventsource), NULL, NULL, NULL,
	  "EventSource (push) connections one account may hold open." },
	{ "upload_ttl", CONFIG_T_DURATION, "1d", MINUTE, 30 * DAY,
	  OFF(jmap.upload_ttl), NULL, NULL, NULL,
	  "An upload nothing has used is deleted after this long." },
	{ "idle_timeout", CONFIG_T_DURATION, "1m", 1, HOUR,
	  OFF(jmap.idle_timeout), NULL, NULL, NULL,
	  "Idle time allowed on an HTTP connection between requests." },
	{ "auth_cache_ttl", CONFIG_T_DURATION, "5m", 0, DAY,
	  OFF(jmap.auth_cache_ttl), NULL, NULL, NULL,
	  "A password checked once is trusted for this long on later "
	  "requests (a changed password too); 0 = check every request." },
	{ "submission", CONFIG_T_BOOL, "true", 0, 0,
	  OFF(jmap.submission), NULL, NULL, NULL,
	  "Let JMAP clients send mail (EmailSubmission, with SMTP "
	  "submission's sender rule and limits); false refuses it with "
	  "forbiddenToSend." },
};

/* the name in delivery status notifications: server.hostname's */
static void
derive_dsn_hostname(const struct config *cfg, void *field)
{
	*(char **)field = xstrdup(cfg->server.hostname);
}

static const struct config_key queue_keys[] = {
	{ "dir", CONFIG_T_STRING, "", 0, 0, OFF(queue.dir), NULL, NULL,
	  derive_queue_dir, "Spool directory; \"\" = <data_dir>/queue." },
	{ "min_backoff", CONFIG_T_DURATION, "5m", 1, 30 * DAY,
	  OFF(queue.min_backoff), NULL, NULL, NULL,
	  "First retry delay after a temporary failure." },
	{ "max_backoff", CONFIG_T_DURATION, "4000", 1, 30 * DAY,
	  OFF(queue.max_backoff), NULL, NULL, NULL,
	  "Longest retry delay; at least min_backoff." },
	{ "max_lifetime", CONFIG_T_DURATION, "5d", 1, 60 * DAY,
	  OFF(queue.max_lifetime), NULL, NULL, NULL,
	  "Time in the queue before a message bounces." },
	{ "scan_interval", CONFIG_T_DURATION, "1m", 1, DAY,
	  OFF(queue.scan_interval), NULL, NULL, NULL,
	  "Time between queue runs." },
	{ "max_deliveries", CONFIG_T_UINT, "20", 1, 10000,
	  OFF(queue.max_deliveries), NULL, NULL, NULL,
	  "Deliveries in progress at once." },
	{ "hold_transports", CONFIG_T_STRLIST, "", 0, 0,
	  OFF(queue.hold_transports), NULL, check_transport, NULL,
	  "Transports not started (\"local\", \"smtp\"): their mail stays "
	  "queued, deferred, until removed from here and restarted." },
	{ "bounce_size_limit", CONFIG_T_SIZE, "50K", 0, 64 * KIB * KIB,
	  OFF(queue.bounce_size_limit), NULL, NULL, NULL,
	  "Largest message a bounce returns whole; larger ones (and "
	  "RET=HDRS) get their header returned." },
	{ "delay_warning_time", CONFIG_T_DURATION, "4h", 0, 60 * DAY,
	  OFF(queue.delay_warning_time), NULL, NULL, NULL,
	  "Time in the queue after which the sender is told, once, that "
	  "delivery is delayed; 0 = never." },
	{ "dsn_hostname", CONFIG_T_STRING, "", 0, 0, OFF(queue.dsn_hostname),
	  NULL, check_hostname, derive_dsn_hostname,
	  "Name in delivery status notifications (MAILER-DAEMON@name, "
	  "Reporting-MTA); \"\" = server.hostname." },
};

static const char *const store_names[] = { "sqlite", "rocksdb", NULL };
static const char *const blob_names[] = { "fs", "kv", NULL };

static const struct config_key store_keys[] = {
	{ "backend", CONFIG_T_ENUM, "sqlite", 0, 0, OFF(store.backend),
	  store_names, NULL, NULL,
	  "Data store: accounts, mailboxes, message metadata, search." },
	{ "path", CONFIG_T_STRING, "", 0, 0, OFF(store.path), NULL, NULL,
	  derive_store_path,
	  "Its file (sqlite) or directory (rocksdb); \"\" = under data_dir." },
	{ "blob_backend", CONFIG_T_ENUM, "fs", 0, 0, OFF(store.blob_backend),
	  blob_names, NULL, NULL,
	  "Where raw messages live: files (fs) or the data store (kv)." },
	{ "blob_dir", CONFIG_T_STRING, "", 0, 0, OFF(store.blob_dir), NULL,
	  NULL, derive_blob_dir,
	  "Directory of the fs blob store; \"\" = <data_dir>/blobs." },
	{ "blob_inline_max", CONFIG_T_SIZE, "64K", 0, 16 * KIB * KIB,
	  OFF(store.blob_inline_max), NULL, NULL, NULL,
	  "fs: messages up to this size are kept in the data store (no "
	  "file, no fsync of their own); 0 = all in files." },
};

static const struct config_key delivery_keys[] = {
	{ "recipient_delimiter", CONFIG_T_STRING, "+", 0, 0,
	  OFF(delivery.recipient_delimiter), NULL, check_delimiter, NULL,
	  "Sub-address separator: user+tag@domain reaches user@domain; "
	  "\"\" = off." },
	{ "vacation_period", CONFIG_T_DURATION, "7d", 1, 365 * DAY,
	  OFF(delivery.vacation_period), NULL, NULL, NULL,
	  "A JMAP VacationResponse answers one sender at most once in "
	  "this long (RFC 3834); applies to responses set from then on." },
};

static const struct config_key lmtp_keys[] = {
	{ "listen", CONFIG_T_STRLIST, "", 0, 0, OFF(lmtp.listen), NULL,
	  check_listen, NULL,
	  "LMTP (RFC 2033) addresses: \"127.0.0.1:24\" or "
	  "\"unix:/path/lmtp\"; [] = off.  No authentication: loopback, "
	  "or a socket in a directory only the MTA can search." },
};

static const char *
check_cidr(const char *s)
{
	struct netaddr_cidr c;
	const char *error;

	return netaddr_cidr_parse(s, &c, &error) < 0 ? error : NULL;
}

static const char *
check_dns_server(const char *s)
{
	struct netaddr_cidr c;
	const char *error, *at = strchr(s, '@');
	char host[64];
	size_t n = at != NULL ? (size_t)(at - s) : strlen(s);

	if (n == 0 || n >= sizeof(host))
		return "expected an IP address, optionally with @port";
	memcpy(host, s, n);
	host[n] = '\0';
	if (strchr(host, '/') != NULL || netaddr_cidr_parse(host, &c,
	    &error) < 0)
		return "expected a numeric IP address, optionally with @port";
	if (at != NULL) {
		unsigned port = 0;
		const char *p = at + 1;

		if (*p == '\0')
			return "empty port after @";
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9' || port > 65535)
				return "bad port after @";
			port = port * 10 + (unsigned)(*p - '0');
		}
		if (port == 0 || port > 65535)
			return "port out of range (1..65535)";
	}
	return NULL;
}

static const char *const fail_names[] = { "accept", "tempfail", "reject",
	NULL };

static const char *
check_fail_action(const char *s)
{
	const char *eq = strchr(s, '=');

	if (eq == NULL || eq == s)
		return "expected STAGE=accept|tempfail|reject";
	for (size_t i = 0; fail_names[i] != NULL; i++)
		if (strcmp(eq + 1, fail_names[i]) == 0)
			return NULL;
	return "the action is accept, tempfail or reject";
}

static const struct config_key filters_keys[] = {
	/*
	 * The built-in stages that need no set-up of their own and judge
	 * nothing without evidence (README.md, "Anti-spam filters").
	 * Opt-in: dnsbl (needs zones), ratelimit (needs limits), milters,
	 * and reputation: it adds a sender's past average once per key (IP,
	 * network, sender domains): the steady SPF fail (3) of a forwarder
	 * without SRS reaches reject_score (15) within five messages.
	 */
	{ "stages", CONFIG_T_STRLIST, "iprev spf dkim dmarc greylist bayes",
	  0, 0, OFF(filters.stages), NULL, check_nonempty, NULL,
	  "Filter stages, run in this order for every inbound message; "
	  "[] = none." },
	{ "trusted_networks", CONFIG_T_STRLIST, "", 0, 0,
	  OFF(filters.trusted_networks), NULL, check_cidr, NULL,
	  "Clients (CIDR) whose mail skips the inbound spam checks." },
	{ "trust_loopback", CONFIG_T_BOOL, "true", 0, 0,
	  OFF(filters.trust_loopback), NULL, NULL, NULL,
	  "Treat 127.0.0.0/8 and ::1 as trusted networks." },
	{ "lmtp", CONFIG_T_BOOL, "false", 0, 0, OFF(filters.lmtp), NULL,
	  NULL, NULL,
	  "Run the stages on LMTP too (off: the MTA in front filtered)." },
	{ "max_scan_size", CONFIG_T_SIZE, "2M", 64 * KIB, 1024 * KIB * KIB,
	  OFF(filters.max_scan_size), NULL, NULL, NULL,
	  "Bigger messages are not scanned by the data step." },
	{ "stage_timeout", CONFIG_T_DURATION, "30s", 1, HOUR,
	  OFF(filters.stage_timeout), NULL, NULL, NULL,
	  "Time a stage may take for one step before it counts as failed." },
	{ "fail_before_data", CONFIG_T_ENUM, "tempfail", 0, 0,
	  OFF(filters.fail_before_data), fail_names, NULL, NULL,
	  "A stage that fails before DATA: tempfail (451), accept, reject." },
	{ "fail_at_data", CONFIG_T_ENUM, "accept", 0, 0,
	  OFF(filters.fail_at_data), fail_names, NULL, NULL,
	  "A stage that fails at DATA: accept (with a symbol), tempfail, "
	  "reject." },
	{ "fail_actions", CONFIG_T_STRLIST, "", 0, 0,
	  OFF(filters.fail_actions), NULL, check_fail_action, NULL,
	  "Per stage: what its failure means at every step, e.g. "
	  "\"greylist=accept\" (milters: fail= in milter.servers)." },
	{ "reject_score", CONFIG_T_SCORE, "15", 0, 1000,
	  OFF(filters.reject_score), NULL, NULL, NULL,
	  "Spam score from which a message is refused (550 5.7.1)." },
	{ "junk_score", CONFIG_T_SCORE, "6", 0, 1000,
	  OFF(filters.junk_score), NULL, NULL, NULL,
	  "Spam score from which a message is delivered into Junk." },
	{ "add_header_score", CONFIG_T_SCORE, "6", 0, 1000,
	  OFF(filters.add_header_score), NULL, NULL, NULL,
	  "Spam score from which a message gets X-Spam-Flag: YES." },
	{ "greylist_score", CONFIG_T_SCORE, "4", 0, 1000,
	  OFF(filters.greylist_score), NULL, NULL, NULL,
	  "Spam score from which the greylist stage greylists (on doubt)." },
};

#define SCORE(grp, key, def, doc) { key, CONFIG_T_SCORE, def, 0, 100,	\
	OFF(grp), NULL, NULL, NULL, doc }

static const struct config_key spf_keys[] = {
	SCORE(spf.fail, "fail", "3", "Score of an SPF fail (-all)."),
	SCORE(spf.softfail, "softfail", "1", "Score of an SPF softfail."),
	SCORE(spf.neutral, "neutral", "0", "Score of an SPF neutral."),
	SCORE(spf.none, "none", "0", "Score when the domain has no SPF."),
	SCORE(spf.permerror, "permerror", "0.5",
	    "Score of a broken SPF record."),
	{ "pass", CONFIG_T_SCORE, "0", 0, 0, OFF(spf.pass), NULL, NULL, NULL,
	  "Score of an SPF pass (0: a pass proves little by itself)." },
	{ "helo", CONFIG_T_BOOL, "true", 0, 0, OFF(spf.helo), NULL, NULL,
	  NULL, "Also check the HELO name (RFC 7208 2.3)." },
	{ "reject_fail", CONFIG_T_BOOL, "false", 0, 0, OFF(spf.reject_fail),
	  NULL, NULL, NULL,
	  "Refuse MAIL FROM on an SPF fail (550 5.7.23) instead of "
	  "scoring it." },
};

static const struct config_key dkim_keys[] = {
	SCORE(dkim.fail, "fail", "2", "Score of a signature that fails."),
	SCORE(dkim.none, "none", "0", "Score of an unsigned message."),
	{ "pass", CONFIG_T_SCORE, "0", 0, 0, OFF(dkim.pass), NULL, NULL, NULL,
	  "Score of a valid signature." },
};

/* dkim_sign: keys, selectors and header names */

/* a selector (RFC 6376 3.1): dot-separated labels of letters, digits,
 * '-' and '_', as any name under _domainkey */
static const char *
check_selector(const char *s)
{
	if (strlen(s) > 63 || !dns_is_host_name(s, strlen(s)))
		return "bad selector (labels of letters, digits, '-' and '_', "
		    "at most 63 characters)";
	return NULL;
}

static const char *
check_dkim_key(const char *s)
{
	const char *c1 = strchr(s, ':'), *c2, *why;
	struct buf part = BUF_INIT(0);

	c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
	if (c1 == NULL || c2 == NULL || c2[1] == '\0')
		return "expected \"domain:selector:/path/to/key\"";
	buf_add(&part, s, (size_t)(c1 - s));
	why = config_check_domain(buf_cstr(&part));
	buf_reset(&part);
	buf_add(&part, c1 + 1, (size_t)(c2 - c1 - 1));
	if (why == NULL)
		why = check_selector(buf_cstr(&part));
	buf_free(&part);
	return why;
}

/* a header field name as libopendkim takes it: letters, digits, '-' */
static const char *
check_header_name(const char *s)
{
	if (*s == '\0')
		return "empty header field name";
	if (strlen(s) > 64)
		return "header field name longer than 64 characters";
	for (; *s != '\0'; s++)
		if (!is_ascii_alnum((unsigned char)*s) && *s != '-')
			return "a header field name is letters, digits and '-'";
	return NULL;
}

static void
derive_dkim_key_dir(const struct config *cfg, void *field)
{
	*(char **)field = under_data_dir(cfg, "dkim");
}

static const struct config_key dkim_sign_keys[] = {
	{ "key_dir", CONFIG_T_STRING, "", 0, 0, OFF(dkim_sign.key_dir), NULL,
	  NULL, derive_dkim_key_dir,
	  "Keys found here as <domain>/<selector>.key are used (what "
	  "`postern dkim keygen` writes); \"\" = <data_dir>/dkim." },
	{ "keys", CONFIG_T_STRLIST, "", 0, 0, OFF(dkim_sign.keys), NULL,
	  check_dkim_key, NULL,
	  "More keys, kept elsewhere: \"example.org:sel1:/etc/dkim/"
	  "sel1.pem\" (PEM, RSA or Ed25519, mode 0600 or 0640)." },
	{ "headers", CONFIG_T_STRLIST,
	  "From Reply-To Subject Date Message-ID To Cc MIME-Version "
	  "Content-Type Content-Transfer-Encoding Content-ID "
	  "Content-Description In-Reply-To References Sender Resent-Date "
	  "Resent-From Resent-Sender Resent-To Resent-Cc Resent-Message-ID "
	  "List-Id List-Help List-Unsubscribe List-Unsubscribe-Post "
	  "List-Subscribe List-Post List-Owner List-Archive Autocrypt "
	  "OpenPGP", 0, 0, OFF(dkim_sign.headers), NULL, check_header_name,
	  NULL, "Header fields signed, each as often as it is present." },
	{ "oversign_headers", CONFIG_T_STRLIST,
	  "From Reply-To Subject Date To Cc MIME-Version Content-Type "
	  "Content-Transfer-Encoding", 0, 0, OFF(dkim_sign.oversign), NULL,
	  check_header_name, NULL,
	  "Also signed once more than present, so that none can be added "
	  "(RFC 6376 8.15); From always is." },
	{ "subdomains", CONFIG_T_BOOL, "true", 0, 0,
	  OFF(dkim_sign.subdomains), NULL, NULL, NULL,
	  "Sign mail from sub.example.org with example.org's keys (d= the "
	  "parent, no i=) when it has none of its own." },
};

/* smtp_client: the outbound transport */

static void
derive_helo_name(const struct config *cfg, void *field)
{
	*(char **)field = xstrdup(cfg->server.hostname);
}

/* a next hop as text: printable, no blanks; its syntax (brackets, port)
 * is checked by the SMTP client at start-up (smtp_route_nexthop_parse) */
static const char *
check_nexthop(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s > 0x7e ||
		    *s == ',' || *s == '=')
			return "a next hop is \"[host]:port\", \"host\" or "
			    "\"[192.0.2.1]\": printable, no blanks";
	return NULL;
}

static const char *const smtp_tls_names[] = { "none", "may", "encrypt",
	"verify", "auto", "dane", "dane-only", NULL };
static const char *const smtp_family_names[] = { "ipv6-first",
	"ipv4-first", "ipv6-only", "ipv4-only", NULL };

/* "example.com=[10.0.0.1]:2525,tls=encrypt": the option names and
 * values; the next hop as check_nexthop */
static const char *
check_smtp_domain(const char *s)
{
	const char *eq = strchr(s, '='), *p, *why;
	struct buf part = BUF_INIT(0);
	bool first = true;

	if (eq == NULL || eq == s)
		return "expected DOMAIN=[NEXTHOP][,tls=MODE][,port=N]";
	buf_add(&part, s[0] == '.' ? s + 1 : s, (size_t)(eq - s) -
	    (s[0] == '.' ? 1 : 0));
	why = config_check_domain(buf_cstr(&part));
	for (p = eq + 1; why == NULL; first = false) {
		size_t n = strcspn(p, ",");
		const char *v = memchr(p, '=', n);
		uint64_t port;

		buf_reset(&part);
		buf_add(&part, p, n);
		if (v == NULL) {
			why = !first ? "expected tls=MODE or port=N after "
			    "the next hop" : n > 0 ? check_nexthop(
			    buf_cstr(&part)) : NULL;
		} else if (strncmp(p, "tls=", 4) == 0) {
			why = "tls= is auto, none, may, encrypt, verify, "
			    "dane or dane-only";
			for (size_t i = 0; smtp_tls_names[i] != NULL; i++)
				if (n - 4 == strlen(smtp_tls_names[i]) &&
				    strncmp(p + 4, smtp_tls_names[i],
				    n - 4) == 0)
					why = NULL;
		} else if (strncmp(p, "port=", 5) == 0) {
			if (parse_u64(p + 5, n - 5, 65535, &port) < 0 ||
			    port == 0)
				why = "port= is 1..65535";
		} else {
			why = "unknown option (tls=, port=)";
		}
		if (p[n] == '\0')
			break;
		p += n + 1;
	}
	buf_free(&part);
	return why;
}

static const struct config_key smtp_client_keys[] = {
	{ "helo_name", CONFIG_T_STRING, "", 0, 0, OFF(smtp_client.helo_name),
	  NULL, check_hostname, derive_helo_name,
	  "Name in EHLO; \"\" = server.hostname." },
	{ "port", CONFIG_T_UINT, "25", 1, 65535, OFF(smtp_client.port), NULL,
	  NULL, NULL, "Port of MX hosts (and of a relay that names none)." },
	{ "relay", CONFIG_T_STRING, "", 0, 0, OFF(smtp_client.relay), NULL,
	  check_nexthop, NULL,
	  "Send everything through this host: \"[host]:port\" (its "
	  "addresses) or \"host\" (its MX); \"\" = by MX." },
	{ "relay_user", CONFIG_T_STRING, "", 0, 0,
	  OFF(smtp_client.relay_user), NULL, NULL, NULL,
	  "AUTH PLAIN as this user to the relay, over TLS only; \"\" = "
	  "none." },
	{ "relay_password_file", CONFIG_T_STRING, "", 0, 0,
	  OFF(smtp_client.relay_password_file), NULL, NULL, NULL,
	  "File whose first line is relay_user's password (readable by "
	  "server.user)." },
	{ "tls", CONFIG_T_ENUM, "auto", 0, 0, OFF(smtp_client.tls),
	  smtp_tls_names, NULL, NULL,
	  "STARTTLS: auto (DANE, else MTA-STS, else may: tls_policy), none, "
	  "may (when offered, unverified), encrypt (required), verify (a "
	  "verified certificate), dane (no MTA-STS), dane-only (DANE or "
	  "no delivery)." },
	{ "tls_ca_file", CONFIG_T_STRING, "", 0, 0,
	  OFF(smtp_client.tls_ca_file), NULL, NULL, NULL,
	  "CA certificates (PEM) for verify and MTA-STS (the policy fetch "
	  "too); \"\" = the system's." },
	{ "domains", CONFIG_T_STRLIST, "", 0, 0, OFF(smtp_client.domains),
	  NULL, check_smtp_domain, NULL,
	  "Per domain (\".example.com\": its subdomains): "
	  "\"example.com=[10.0.0.1]:2525,tls=encrypt\"; an empty next hop "
	  "is MX delivery, no next hop keeps relay." },
	{ "address_family", CONFIG_T_ENUM, "ipv6-first", 0, 0,
	  OFF(smtp_client.address_family), smtp_family_names, NULL, NULL,
	  "Addresses tried: ipv6-first, ipv4-first, ipv6-only, ipv4-only." },
	{ "connect_timeout", CONFIG_T_DURATION, "30s", 1, HOUR,
	  OFF(smtp_client.connect_timeout), NULL, NULL, NULL,
	  "Time a TCP connection may take." },
	{ "helo_timeout", CONFIG_T_DURATION, "5m", 1, HOUR,
	  OFF(smtp_client.helo_timeout), NULL, NULL, NULL,
	  "Time for the greeting, EHLO, STARTTLS and AUTH replies each." },
	{ "mail_timeout", CONFIG_T_DURATION, "5m", 1, HOUR,
	  OFF(smtp_client.mail_timeout), NULL, NULL, NULL,
	  "Time for each MAIL, RCPT and RSET reply." },
	{ "data_init_timeout", CONFIG_T_DURATION, "2m", 1, HOUR,
	  OFF(smtp_client.data_init_timeout), NULL, NULL, NULL,
	  "Time for the reply to DATA." },
	{ "data_xfer_timeout", CONFIG_T_DURATION, "3m", 1, HOUR,
	  OFF(smtp_client.data_xfer_timeout), NULL, NULL, NULL,
	  "Time to send each block of the message." },
	{ "data_done_timeout", CONFIG_T_DURATION, "10m", 1, HOUR,
	  OFF(smtp_client.data_done_timeout), NULL, NULL, NULL,
	  "Time for the reply after the end of the message." },
	{ "max_recipients", CONFIG_T_UINT, "50", 1, 100000,
	  OFF(smtp_client.max_recipients), NULL, NULL, NULL,
	  "Recipients per transaction; more go in further transactions." },
	{ "cache_idle_time", CONFIG_T_DURATION, "5s", 0, HOUR,
	  OFF(smtp_client.cache_idle_time), NULL, NULL, NULL,
	  "An idle connection is kept this long for the next message to "
	  "the same host; 0 = no reuse." },
	{ "cache_reuse_limit", CONFIG_T_UINT, "100", 1, 1000000,
	  OFF(smtp_client.cache_reuse_limit), NULL, NULL, NULL,
	  "Transactions over one connection before it is closed." },
	{ "max_connections", CONFIG_T_UINT, "100", 1, 100000,
	  OFF(smtp_client.max_connections), NULL, NULL, NULL,
	  "Connections open at once, idle ones included." },
	{ "destination_concurrency", CONFIG_T_UINT, "20", 1, 100000,
	  OFF(smtp_client.destination_concurrency), NULL, NULL, NULL,
	  "Deliveries at once to one domain (or to the relay)." },
};

static const struct config_key dmarc_keys[] = {
	SCORE(dmarc.fail, "fail", "3", "Score of a DMARC fail (no policy "
	    "applied)."),
	{ "pass", CONFIG_T_SCORE, "0", 0, 0, OFF(dmarc.pass), NULL, NULL,
	  NULL, "Score of a DMARC pass." },
	{ "reject", CONFIG_T_BOOL, "true", 0, 0, OFF(dmarc.reject), NULL,
	  NULL, NULL, "Honour p=reject: refuse the message (550 5.7.1)." },
	{ "quarantine", CONFIG_T_BOOL, "true", 0, 0, OFF(dmarc.quarantine),
	  NULL, NULL, NULL, "Honour p=quarantine: deliver into Junk." },
	{ "public_suffix_list", CONFIG_T_STRING,
	  "/usr/share/publicsuffix/public_suffix_list.dat", 0, 0,
	  OFF(dmarc.public_suffix_list), NULL, check_nonempty, NULL,
	  "The Public Suffix List, for organizational domains." },
};

static const struct config_key iprev_keys[] = {
	SCORE(iprev.fail, "fail", "1", "Score of a client without a "
	    "forward-confirmed reverse name."),
};

static const char *
check_dnsbl_zone(const char *s)
{
	const char *eq = strchr(s, '=');
	char *end;
	struct buf z = BUF_INIT(0);
	const char *why;

	if (eq == NULL)
		return "expected zone=score, e.g. \"zen.example.org=5\"";
	buf_add(&z, s, (size_t)(eq - s));
	why = config_check_domain(buf_cstr(&z));
	buf_free(&z);
	if (why != NULL)
		return why;
	(void)strtod(eq + 1, &end);
	if (end == eq + 1 || *end != '\0')
		return "the score after = is not a number";
	return NULL;
}

static const struct config_key dnsbl_keys[] = {
	{ "zones", CONFIG_T_STRLIST, "", 0, 0, OFF(dnsbl.zones), NULL,
	  check_dnsbl_zone, NULL,
	  "DNS lists to ask about the client: \"zone=score\" (a negative "
	  "score makes it a whitelist)." },
};

static const char *const greylist_names[] = { "doubt", "always", NULL };

static const struct config_key greylist_keys[] = {
	{ "mode", CONFIG_T_ENUM, "doubt", 0, 0, OFF(greylist.mode),
	  greylist_names, NULL, NULL,
	  "doubt: only messages over filters.greylist_score; always: every "
	  "new (client, sender, recipient) at RCPT." },
	{ "delay", CONFIG_T_DURATION, "5m", 1, DAY, OFF(greylist.delay),
	  NULL, NULL, NULL, "Time before a retry is let through." },
	{ "retry_window", CONFIG_T_DURATION, "1d", 1, 30 * DAY,
	  OFF(greylist.retry_window), NULL, NULL, NULL,
	  "A retry must come within this time, else it starts over." },
	{ "pass_ttl", CONFIG_T_DURATION, "30d", 1, 365 * DAY,
	  OFF(greylist.pass_ttl), NULL, NULL, NULL,
	  "How long a triplet that passed is remembered." },
	{ "whitelist_after", CONFIG_T_UINT, "5", 0, 1000000,
	  OFF(greylist.whitelist_after), NULL, NULL, NULL,
	  "Passed triplets after which a client is no longer greylisted "
	  "(0: never)." },
	{ "whitelist_ttl", CONFIG_T_DURATION, "30d", 1, 365 * DAY,
	  OFF(greylist.whitelist_ttl), NULL, NULL, NULL,
	  "How long a whitelisted client stays so without new mail." },
};

static const struct config_key reputation_keys[] = {
	SCORE(reputation.weight, "weight", "1",
	    "Score added per point of a sender's bad average."),
	{ "half_life", CONFIG_T_DURATION, "7d", HOUR, 365 * DAY,
	  OFF(reputation.half_life), NULL, NULL, NULL,
	  "Past verdicts count half after this time." },
	{ "min_samples", CONFIG_T_UINT, "3", 1, 100000,
	  OFF(reputation.min_samples), NULL, NULL, NULL,
	  "Messages seen before a reputation counts." },
};

static const struct config_key ratelimit_keys[] = {
	{ "per_ip", CONFIG_T_UINT, "0", 0, 100000000, OFF(ratelimit.per_ip),
	  NULL, NULL, NULL,
	  "Messages a client IP may send per window; 0 = no limit." },
	{ "per_sender", CONFIG_T_UINT, "0", 0, 100000000,
	  OFF(ratelimit.per_sender), NULL, NULL, NULL,
	  "Messages an authenticated sender may send per window; 0 = no "
	  "limit." },
	{ "window", CONFIG_T_DURATION, "1h", 1, 30 * DAY,
	  OFF(ratelimit.window), NULL, NULL, NULL, "The rate window." },
};

static const struct config_key bayes_keys[] = {
	SCORE(bayes.spam_score, "spam_score", "5",
	    "Score added at spam probability 1.0 (scaled down to 0.5)."),
	{ "ham_score", CONFIG_T_SCORE, "-2", 0, 0, OFF(bayes.ham_score), NULL,
	  NULL, NULL, "Score added at probability 0.0 (scaled up to 0.5)." },
	{ "min_learned", CONFIG_T_UINT, "200", 0, 100000000,
	  OFF(bayes.min_learned), NULL, NULL, NULL,
	  "Spam and ham messages each learned before it judges." },
	SCORE(bayes.autolearn_spam, "autolearn_spam", "12",
	    "Learn as spam a message scored this or more."),
	{ "autolearn_ham", CONFIG_T_SCORE, "-1", 0, 0,
	  OFF(bayes.autolearn_ham), NULL, NULL, NULL,
	  "Learn as ham a message scored this or less." },
	{ "per_user", CONFIG_T_BOOL, "false", 0, 0, OFF(bayes.per_user),
	  NULL, NULL, NULL,
	  "Also keep a token set per recipient, over the global one." },
};

static const char *
check_milter(const char *s)
{
	const char *eq = strchr(s, '=');

	if (eq == NULL || eq == s)
		return "expected NAME=SOCKET[,timeout=DURATION][,fail=ACTION]";
	for (const char *p = s; p < eq; p++)
		if (!is_ascii_alnum((unsigned char)*p) && *p != '-' &&
		    *p != '_')
			return "a milter name is letters, digits, '-' and '_'";
	if (strncmp(eq + 1, "inet:", 5) != 0 &&
	    strncmp(eq + 1, "inet6:", 6) != 0 &&
	    strncmp(eq + 1, "unix:", 5) != 0 &&
	    strncmp(eq + 1, "local:", 6) != 0)
		return "the socket is inet:PORT@IP, inet6:PORT@IP or "
		    "unix:/path";
	return NULL;
}

static const char *
check_milter_listen(const char *s)
{
	struct buf b = BUF_INIT(0);
	const char *why;

	buf_addf(&b, "x=%s", s);
	why = check_milter(buf_cstr(&b));
	buf_free(&b);
	return why;
}

static const struct config_key milter_keys[] = {
	{ "servers", CONFIG_T_STRLIST, "", 0, 0, OFF(milter.servers), NULL,
	  check_milter, NULL,
	  "External milters: \"NAME=inet:8891@127.0.0.1,timeout=30s,"
	  "fail=accept\"; list \"milter:NAME\" in filters.stages to run "
	  "one." },
	{ "listen", CONFIG_T_STRING, "inet:8890@127.0.0.1", 0, 0,
	  OFF(milter.listen), NULL, check_milter_listen, NULL,
	  "Where `postern milter` serves the pipeline to another MTA: "
	  "inet:PORT@IP, inet6:PORT@IP or unix:/path." },
};

static const char *const lookup_names[] = { "kv", "memory", "redis",
	NULL };

static const struct config_key lookup_keys[] = {
	{ "backend", CONFIG_T_ENUM, "kv", 0, 0, OFF(lookup.backend),
	  lookup_names, NULL, NULL,
	  "Filter state: kv (the data store), memory, or redis." },
	{ "memory_max", CONFIG_T_SIZE, "64M", 128 * KIB, 64 * GIB,
	  OFF(lookup.memory_max), NULL, NULL, NULL,
	  "memory: the most it may hold before evicting." },
	{ "redis_host", CONFIG_T_STRING, "127.0.0.1", 0, 0,
	  OFF(lookup.redis_host), NULL, check_nonempty, NULL,
	  "redis: the server's address." },
	{ "redis_port", CONFIG_T_UINT, "6379", 1, 65535,
	  OFF(lookup.redis_port), NULL, NULL, NULL, "redis: its port." },
	{ "redis_db", CONFIG_T_UINT, "0", 0, 65535, OFF(lookup.redis_db),
	  NULL, NULL, NULL, "redis: the database number (SELECT)." },
	{ "redis_password", CONFIG_T_STRING, "", 0, 0,
	  OFF(lookup.redis_password), NULL, NULL, NULL,
	  "redis: AUTH password; \"\" = none." },
	{ "redis_timeout", CONFIG_T_DURATION, "2s", 1, MINUTE,
	  OFF(lookup.redis_timeout), NULL, NULL, NULL,
	  "redis: connect and command timeout." },
};

static const struct config_key dns_keys[] = {
	{ "servers", CONFIG_T_STRLIST, "", 0, 0, OFF(dns.servers), NULL,
	  check_dns_server, NULL,
	  "Resolvers to ask (\"127.0.0.1\", \"::1@5353\"); [] = "
	  "/etc/resolv.conf." },
	{ "timeout", CONFIG_T_DURATION, "5s", 1, MINUTE, OFF(dns.timeout),
	  NULL, NULL, NULL, "Time one query may take." },
	{ "trust_anchor", CONFIG_T_STRING, "/usr/share/dns/root.key", 0, 0,
	  OFF(dns.trust_anchor), NULL, NULL, NULL,
	  "DNSSEC root trust anchor file (DANE; Debian's dns-root-data); "
	  "\"\" = no validation." },
	{ "forward_special_zones", CONFIG_T_BOOL, "false", 0, 0,
	  OFF(dns.forward_special_zones), NULL, NULL, NULL,
	  "Ask the servers about special-use names too (test., private "
	  "and documentation reverse zones): a resolver serving internal "
	  "zones." },
};

static const struct config_key tls_policy_keys[] = {
	{ "dane", CONFIG_T_BOOL, "true", 0, 0, OFF(tls_policy.dane), NULL,
	  NULL, NULL,
	  "DANE (RFC 7672) where TLSA records are published (needs "
	  "dns.trust_anchor)." },
	{ "mta_sts", CONFIG_T_BOOL, "true", 0, 0, OFF(tls_policy.mta_sts),
	  NULL, NULL, NULL,
	  "MTA-STS (RFC 8461) where a policy is published and no DANE." },
	{ "mta_sts_port", CONFIG_T_UINT, "443", 1, 65535,
	  OFF(tls_policy.mta_sts_port), NULL, NULL, NULL,
	  "Port of the MTA-STS policy fetch (443; another for tests only)." },
	{ "mta_sts_timeout", CONFIG_T_DURATION, "10s", 1, MINUTE,
	  OFF(tls_policy.mta_sts_timeout), NULL, NULL, NULL,
	  "Time one MTA-STS policy fetch may take." },
};

const struct config_group config_groups[] = {
	{ "server", KEYS(server_keys), "The process: names, paths, threads." },
	{ "log", KEYS(log_keys), "Logging." },
	{ "tls", KEYS(tls_keys), "TLS for STARTTLS (and implicit TLS)." },
	{ "smtp", KEYS(smtp_keys), "The SMTP server: listeners, limits, "
	  "timeouts." },
	{ "submission", KEYS(submission_keys), "Message submission for "
	  "users' mail programs (ports 587 and 465)." },
	{ "auth", KEYS(auth_keys), "Logins: SMTP AUTH (RFC 4954), IMAP "
	  "LOGIN and AUTHENTICATE, JMAP HTTP Basic: plaintext, senders, "
	  "failed-login throttling." },
	{ "imap", KEYS(imap_keys), "The IMAP server (ports 143 and 993): "
	  "listeners, limits, timeouts." },
	{ "jmap", KEYS(jmap_keys), "The JMAP server (HTTPS, port 443): "
	  "listeners, RFC 8620 limits, push, uploads." },
	{ "queue", KEYS(queue_keys), "The mail queue and its retry "
	  "schedule." },
	{ "store", KEYS(store_keys), "Where mail and accounts are kept." },
	{ "delivery", KEYS(delivery_keys), "Local delivery into mailboxes." },
	{ "lmtp", KEYS(lmtp_keys), "The LMTP server: another MTA hands "
	  "local mail straight to the mailboxes." },
	{ "filters", KEYS(filters_keys), "The anti-spam pipeline: stages, "
	  "trusted clients, score thresholds." },
	{ "spf", KEYS(spf_keys), "The spf stage (RFC 7208)." },
	{ "dkim", KEYS(dkim_keys), "The dkim stage: signature verification "
	  "(RFC 6376, 8463)." },
	{ "dkim_sign", KEYS(dkim_sign_keys), "DKIM signing of outgoing mail "
	  "(RFC 6376, rsa-sha256 and ed25519-sha256 of RFC 8463)." },
	{ "smtp_client", KEYS(smtp_client_keys), "The outbound SMTP client: "
	  "routes, TLS, timeouts, connection reuse, limits." },
	{ "dmarc", KEYS(dmarc_keys), "The dmarc stage (RFC 7489)." },
	{ "iprev", KEYS(iprev_keys), "The iprev stage: the client's "
	  "reverse DNS (RFC 8601 3)." },
	{ "dnsbl", KEYS(dnsbl_keys), "The dnsbl stage: DNS block and allow "
	  "lists." },
	{ "greylist", KEYS(greylist_keys), "The greylist stage." },
	{ "reputation", KEYS(reputation_keys), "The reputation stage: past "
	  "scores of the client, its network and the sender domains." },
	{ "ratelimit", KEYS(ratelimit_keys), "The ratelimit stage." },
	{ "bayes", KEYS(bayes_keys), "The bayes stage: the statistical "
	  "classifier." },
	{ "milter", KEYS(milter_keys), "External milters run as stages." },
	{ "lookup", KEYS(lookup_keys), "The lookup store: greylisting, "
	  "reputation, Bayes and rate-limit state." },
	{ "dns", KEYS(dns_keys), "The DNS resolver (SPF, DKIM, DMARC, "
	  "DNSBL, iprev)." },
	{ "tls_policy", KEYS(tls_policy_keys), "Outbound SMTP TLS policy: "
	  "DANE, MTA-STS." },
};
const size_t config_ngroups = ARRAY_SIZE(config_groups);

void
config_table_check(const struct config *cfg, struct config_errs *e)
{
	bool cert = cfg->tls.cert[0] != '\0', key = cfg->tls.key[0] != '\0';

	if (cert && !key)
		config_err_key(e, "tls", "cert",
		    "tls.cert is set but tls.key is not (set both or neither)");
	if (key && !cert)
		config_err_key(e, "tls", "key",
		    "tls.key is set but tls.cert is not (set both or neither)");
	if (cfg->queue.min_backoff > cfg->queue.max_backoff) {
		struct buf lo = BUF_INIT(0), hi = BUF_INIT(0);

		config_format_plain(&queue_keys[1], cfg->queue.min_backoff, &lo);
		config_format_plain(&queue_keys[2], cfg->queue.max_backoff, &hi);
		config_err_key(e, "queue",
		    config_is_set(e, "queue", "max_backoff") ? "max_backoff" :
		    "min_backoff",
		    "queue.min_backoff (%s) is greater than queue.max_backoff "
		    "(%s)", buf_cstr(&lo), buf_cstr(&hi));
		buf_free(&lo);
		buf_free(&hi);
	}
	if (cfg->smtp_client.relay_user[0] != '\0' &&
	    (cfg->smtp_client.relay[0] == '\0' ||
	    cfg->smtp_client.relay_password_file[0] == '\0'))
		config_err_key(e, "smtp_client", "relay_user",
		    "smtp_client.relay_user needs smtp_client.relay and "
		    "smtp_client.relay_password_file");
}
