/*
 * config.h - the immutable configuration, loaded from one libconfig file.
 *
 * Every key has a default that works on one machine; config_load(NULL)
 * gives the embedded defaults.  Keys are declared once, in per-subsystem
 * tables in config_table.c (key, type, default, min, max, field, one line of
 * documentation); the sample file contrib/postern.conf, `postern config
 * check` and `postern config show` are all driven by those tables, so they
 * cannot drift.
 *
 * Durations are written as an integer number of seconds or a string with
 * a unit ("30s", "5m", "4h", "5d"); sizes as an integer number of bytes or
 * a string with a unit ("10k", "50M", "1G", powers of 1024).
 *
 * A loaded struct config is never changed; it is shared read-only by all
 * threads and freed with config_free() at exit.
 */
#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "common.h"
#include "log.h"

struct strlist {
	char **v;
	size_t n;
};

enum bare_newline_policy {
	BARE_NEWLINE_REJECT,	/* "reject": 550 after the message ends */
	BARE_NEWLINE_NORMALIZE,	/* "normalize": bare CR/LF stored as CRLF */
};

struct config_server {
	char *hostname;		/* default: gethostname() */
	char *data_dir;		/* default "./var" */
	char *user;		/* default "postern"; used only when root */
	unsigned io_threads;	/* 0 = one per core */
	unsigned job_threads;	/* 0 = 4 per core, at least 8 */
	char *pid_file;		/* "" = <data_dir>/postern.pid */
};

struct config_log {
	enum log_dest dest;	/* "stderr" | "syslog" */
	enum log_level level;	/* "debug" | "info" | "warning" | "error" */
	char *facility;		/* syslog facility, default "mail" */
	char *syslog_socket;	/* default "/dev/log" */
};

struct config_tls {
	char *cert;		/* PEM chain; "" = self-signed under data_dir/tls */
	char *key;		/* PEM private key; "" = as above */
	char *min_version;	/* "TLSv1.2" (default) | "TLSv1.3" */
	char *ciphers;		/* OpenSSL cipher list for TLS 1.2 */
};

struct config_smtp {
	struct strlist listen;	/* default ["0.0.0.0:25", "[::]:25"] */
	struct strlist local_domains;	/* default [hostname, "localhost"] */
	char *banner;		/* text after "220 <hostname> " */
	bool starttls;		/* advertise STARTTLS (default true) */
	uint64_t max_message_size;	/* SIZE, default 50M */
	unsigned max_recipients;	/* per transaction, default 1000 */
	unsigned max_connections;	/* overall, default 1000 */
	unsigned max_connections_per_ip;	/* default 50 */
	unsigned command_timeout;	/* seconds, default 300 */
	unsigned data_timeout;	/* seconds between data reads, default 600 */
	unsigned max_errors;	/* protocol errors before 421, default 20 */
	enum bare_newline_policy bare_newline;	/* default reject */
	bool auth;		/* AUTH here too, after STARTTLS (false) */
	struct strlist relay_networks;	/* CIDRs that may relay, like
					   Postfix's mynetworks; default [] */
};

/* message submission (RFC 6409, RFC 8314): AUTH required for MAIL */
struct config_submission {
	struct strlist listen;	/* STARTTLS: ["0.0.0.0:587", "[::]:587"] */
	struct strlist listen_tls;	/* implicit TLS: 465 likewise */
};

/* SMTP AUTH (RFC 4954), IMAP LOGIN, JMAP Basic: where, and failed-login
 * throttling */
struct config_auth {
	bool plaintext_loopback;	/* AUTH/LOGIN/JMAP without TLS from
					   loopback clients (tests only;
					   false) */
	struct strlist sender_wildcards;	/* "@domain=account" or
						   "address=account" */
	unsigned failure_free;	/* failures answered at once, 3 */
	unsigned failure_delay_ms;	/* first delay, 1000 */
	unsigned failure_delay_max_ms;	/* longest delay, 15000 */
	unsigned failure_window;	/* seconds a count lasts, 15m */
	unsigned max_failures_per_ip;	/* then blocked, 20; 0 = never */
	unsigned block_time;	/* seconds an IP stays blocked, 15m */
	unsigned check_threads;	/* password checks' own pool; 0 = half
				   the cores, at least 1 */
	unsigned max_checks;	/* checks queued or running, 1000; 0 = no
				   bound */
	unsigned max_check_wait;	/* seconds a new check may wait, 10;
					   0 = no bound */
};

/* the IMAP server (imap-jmap/imap.h) */
struct config_imap {
	struct strlist listen;	/* STARTTLS: ["0.0.0.0:143", "[::]:143"] */
	struct strlist listen_tls;	/* implicit TLS: 993 likewise */
	unsigned max_connections;	/* overall, 10000 */
	unsigned max_connections_per_ip;	/* 50 */
	unsigned login_timeout;	/* seconds idle before login, 1m */
	unsigned idle_timeout;	/* after login, 30m (RFC 9051 5.4) */
	unsigned output_timeout;	/* output not taken, 5m */
	uint64_t max_output;	/* untagged output queued, 1M */
	uint64_t max_line;	/* command text after login, 64K */
	uint64_t max_append_size;	/* one APPEND message, 50M */
	unsigned max_bad_commands;	/* BADs in a row, 20 */
	unsigned message_limit;	/* MESSAGELIMIT (RFC 9738), 100000; 0 =
				   none */
	uint64_t metadata_max_size;	/* one METADATA value, 16K */
	unsigned metadata_max_entries;	/* per mailbox / server, 100 */
};

/* the JMAP server (imap-jmap/jmap.h), RFC 8620 limits included */
struct config_jmap {
	struct strlist listen_tls;	/* HTTPS: ["0.0.0.0:443", "[::]:443"] */
	struct strlist listen;	/* plain HTTP (loopback tests), [] */
	char *url;		/* base URL in the session; "" = per request */
	uint64_t max_size_upload;	/* 50M */
	unsigned max_concurrent_upload;	/* per account, 4 */
	uint64_t max_size_request;	/* 10M */
	unsigned max_concurrent_requests;	/* per account, 4 */
	unsigned max_calls_in_request;	/* 16 */
	unsigned max_objects_in_get;	/* 500 */
	unsigned max_objects_in_set;	/* 500 */
	unsigned max_eventsource;	/* push connections per account, 8 */
	unsigned upload_ttl;	/* seconds an unused upload is kept, 1d */
	unsigned idle_timeout;	/* seconds between requests, 1m */
	unsigned auth_cache_ttl;	/* seconds a checked password is
					   trusted, 5m; 0 = none */
	bool submission;	/* EmailSubmission may send (true) */
};

struct config_queue {
	char *dir;		/* "" = <data_dir>/queue */
	unsigned min_backoff;	/* seconds, default 300 */
	unsigned max_backoff;	/* seconds, default 4000 */
	unsigned max_lifetime;	/* seconds, default 5d */
	unsigned scan_interval;	/* seconds between queue runs, default 60 */
	unsigned max_deliveries;	/* concurrent deliveries, default 20 */
	struct strlist hold_transports;	/* not started: mail stays queued */
	uint64_t bounce_size_limit;	/* returned whole up to this, 50K */
	unsigned delay_warning_time;	/* seconds, default 4h; 0 = off */
	char *dsn_hostname;	/* "" = server.hostname */
};

enum store_backend { STORE_SQLITE, STORE_ROCKSDB };
enum blob_backend { BLOB_FS, BLOB_KV };

struct config_store {
	enum store_backend backend;	/* "sqlite" (default) | "rocksdb" */
	char *path;		/* "" = <data_dir>/store.sqlite or /rocksdb */
	enum blob_backend blob_backend;	/* "fs" (default) | "kv" */
	char *blob_dir;		/* "" = <data_dir>/blobs */
	uint64_t blob_inline_max;	/* fs: smaller messages in the data
					   store; default 64K, 0 = none */
};

struct config_delivery {
	char *recipient_delimiter;	/* "+" (default); "" = none */
	unsigned vacation_period;	/* seconds between two auto-replies
					   to one sender, 7d */
};

struct config_lmtp {
	struct strlist listen;	/* default none: LMTP off */
};

enum filter_fail { FILTER_FAIL_ACCEPT, FILTER_FAIL_TEMPFAIL,
	FILTER_FAIL_REJECT };

struct config_filters {
	/* in order; default iprev spf dkim dmarc greylist bayes, [] none */
	struct strlist stages;
	struct strlist trusted_networks;	/* CIDRs: inbound checks skipped */
	bool trust_loopback;	/* default true */
	bool lmtp;		/* run on LMTP too (default false) */
	uint64_t max_scan_size;	/* default 2M: bigger: header only */
	unsigned stage_timeout;	/* seconds per stage per step, 30 */
	enum filter_fail fail_before_data;	/* default tempfail */
	enum filter_fail fail_at_data;		/* default accept */
	struct strlist fail_actions;	/* "STAGE=accept|tempfail|reject":
					   that stage's own, at every step */
	double reject_score;	/* 15 */
	double junk_score;	/* 6 */
	double add_header_score;	/* 6: X-Spam-Flag: YES */
	double greylist_score;	/* 4: greylisting on doubt */
};

/* scores of the built-in stages: added to the message's spam score */
struct config_spf {
	double fail, softfail, neutral, none, pass, permerror;
	bool helo;		/* also check the HELO identity */
	bool reject_fail;	/* -all fail: 550 5.7.23 at MAIL */
};

struct config_dkim {
	double fail;		/* a signature that does not verify */
	double pass;		/* a valid signature (usually < 0) */
	double none;		/* no signature */
};

/*
 * DKIM signing of outgoing mail (mta/dkim_sign.h).  Keys are found by
 * convention in <key_dir>/<domain>/<selector>.key (what `postern dkim
 * keygen` writes), plus the ones listed in keys.
 */
struct config_dkim_sign {
	char *key_dir;		/* "" = <data_dir>/dkim */
	struct strlist keys;	/* "domain:selector:/path/key.pem" */
	struct strlist headers;	/* signed when present */
	struct strlist oversign;	/* listed once more than present */
	bool subdomains;	/* sub.example.org signed d=example.org */
};

/*
 * The outbound SMTP client (mta/smtp_client.h), the queue's "smtp"
 * transport.  Timeouts in seconds, each for one step of the conversation.
 */
enum smtp_tls_mode {
	SMTP_TLS_NONE,		/* "none": never STARTTLS */
	SMTP_TLS_MAY,		/* "may": STARTTLS when offered, unverified */
	SMTP_TLS_ENCRYPT,	/* "encrypt": TLS or no delivery */
	SMTP_TLS_VERIFY,	/* "verify": TLS with a verified certificate */
	/* the levels of mta/smtp_tlspolicy.h that look things up */
	SMTP_TLS_AUTO,		/* "auto": DANE, else MTA-STS, else may */
	SMTP_TLS_DANE,		/* "dane": DANE where published, else may */
	SMTP_TLS_DANE_ONLY,	/* "dane-only": DANE or no delivery */
};

/* the order of enum smtp_route_family (mta/smtp_route.h) */
enum smtp_client_family { SMTP_CLIENT_IPV6_FIRST, SMTP_CLIENT_IPV4_FIRST,
	SMTP_CLIENT_IPV6_ONLY, SMTP_CLIENT_IPV4_ONLY };

struct config_smtp_client {
	char *helo_name;	/* "" = server.hostname */
	unsigned port;		/* of MX hosts, default 25 */
	char *relay;		/* "[host]:port", "host"; "" = MX delivery */
	char *relay_user;	/* AUTH PLAIN to the relay; "" = none */
	char *relay_password_file;	/* its password, first line */
	enum smtp_tls_mode tls;	/* default auto */
	char *tls_ca_file;	/* "" = the system's CA store */
	struct strlist domains;	/* "example.com=[host]:port,tls=verify" */
	enum smtp_client_family address_family;	/* ipv6-first */
	unsigned connect_timeout;	/* 30s */
	unsigned helo_timeout;	/* greeting, EHLO, STARTTLS, AUTH: 5m */
	unsigned mail_timeout;	/* MAIL, RCPT, RSET: 5m */
	unsigned data_init_timeout;	/* DATA, BDAT: 2m */
	unsigned data_xfer_timeout;	/* each block of the message: 3m */
	unsigned data_done_timeout;	/* the reply after the end: 10m */
	unsigned max_recipients;	/* per transaction, 50 */
	unsigned cache_idle_time;	/* seconds kept open idle, 5; 0 off */
	unsigned cache_reuse_limit;	/* transactions per connection, 100 */
	unsigned max_connections;	/* open at once, 100 */
	unsigned destination_concurrency;	/* per domain or relay, 20 */
};

struct config_dmarc {
	double fail, pass;
	bool reject;		/* honour p=reject: 550 5.7.1 */
	bool quarantine;	/* honour p=quarantine: into Junk */
	char *public_suffix_list;	/* for organizational domains */
};

struct config_iprev {
	double fail;		/* no PTR, or it does not confirm */
};

struct config_dnsbl {
	struct strlist zones;	/* "zone=score" (negative: a DNSWL) */
};

enum greylist_mode { GREYLIST_DOUBT, GREYLIST_ALWAYS };

struct config_greylist {
	enum greylist_mode mode;	/* "doubt" (default) | "always" */
	unsigned delay;		/* seconds before a retry passes, 5m */
	unsigned retry_window;	/* a retry must come within, 1d */
	unsigned pass_ttl;	/* a passed triplet is remembered, 30d */
	unsigned whitelist_after;	/* passes that whitelist a client, 5 */
	unsigned whitelist_ttl;	/* seconds, 30d */
};

struct config_reputation {
	double weight;		/* score added per point of bad average */
	unsigned half_life;	/* seconds of decay, 7d */
	unsigned min_samples;	/* before it counts, 3 */
};

struct config_ratelimit {
	unsigned per_ip;	/* messages per client IP per window; 0 off */
	unsigned per_sender;	/* per authenticated sender; 0 off */
	unsigned window;	/* seconds, 1h */
};

struct config_bayes {
	double spam_score;	/* added at probability 1.0, scaled */
	double ham_score;	/* added at probability 0.0 (negative) */
	unsigned min_learned;	/* spam and ham each, before it judges */
	double autolearn_spam;	/* learn as spam at this score or more */
	double autolearn_ham;	/* learn as ham at this score or less */
	bool per_user;		/* also a token set per recipient */
};

struct config_milter {
	/* "NAME=SOCKET[,timeout=30s][,fail=accept|tempfail|reject]", each
	   run where filters.stages says "milter:NAME" */
	struct strlist servers;
	char *listen;		/* `postern milter`: "inet:8890@127.0.0.1" */
};

enum lookup_backend_kind { LOOKUP_KV, LOOKUP_MEMORY, LOOKUP_REDIS };

struct config_lookup {
	enum lookup_backend_kind backend;	/* "kv" (default) */
	uint64_t memory_max;	/* memory backend budget, 64M */
	char *redis_host;	/* "127.0.0.1" */
	unsigned redis_port;	/* 6379 */
	unsigned redis_db;	/* 0 */
	char *redis_password;	/* "" = none */
	unsigned redis_timeout;	/* seconds, 2 */
};

struct config_dns {
	struct strlist servers;	/* "127.0.0.1@5353"; [] = resolv.conf */
	unsigned timeout;	/* seconds per query, 5 */
	char *trust_anchor;	/* DNSSEC root key file, default
				   /usr/share/dns/root.key; "" = none */
	bool forward_special_zones;	/* ask servers about test., private
					   reverse zones, ... (default off) */
};

/* outbound TLS policy: DANE and MTA-STS (mta/smtp_tlspolicy.h) */
struct config_tls_policy {
	bool dane;		/* DANE where published (default true) */
	bool mta_sts;		/* MTA-STS where published (default true) */
	unsigned mta_sts_port;	/* 443; another only for tests */
	unsigned mta_sts_timeout;	/* seconds per policy fetch, 10 */
};

struct config {
	char *path;		/* file it came from; NULL for defaults */
	struct config_server server;
	struct config_log log;
	struct config_tls tls;
	struct config_smtp smtp;
	struct config_submission submission;
	struct config_auth auth;
	struct config_imap imap;
	struct config_jmap jmap;
	struct config_queue queue;
	struct config_store store;
	struct config_delivery delivery;
	struct config_lmtp lmtp;
	struct config_filters filters;
	struct config_spf spf;
	struct config_dkim dkim;
	struct config_dkim_sign dkim_sign;
	struct config_smtp_client smtp_client;
	struct config_dmarc dmarc;
	struct config_iprev iprev;
	struct config_dnsbl dnsbl;
	struct config_greylist greylist;
	struct config_reputation reputation;
	struct config_ratelimit ratelimit;
	struct config_bayes bayes;
	struct config_milter milter;
	struct config_lookup lookup;
	struct config_dns dns;
	struct config_tls_policy tls_policy;
};

/*
 * config_load - defaults, then the file at path (NULL: defaults only).
 * On error returns -1 and appends one line per problem to errors, each
 * "FILE:LINE: message" (unknown key, wrong type, out of range, bad value,
 * syntax error); *cfg_r is left NULL.  Derived defaults (hostname,
 * local_domains, queue.dir, pid_file) are filled in after parsing.
 */
int config_load(const char *path, struct config **cfg_r, struct buf *errors)
    WARN_UNUSED;
void config_free(struct config **cfg);

/*
 * config_show - the effective configuration in libconfig syntax.
 * changed_only: only keys whose value differs from the default
 * (like `postconf -n`); otherwise every key (`postconf -d` when cfg is the
 * defaults).
 */
void config_show(const struct config *cfg, bool changed_only, struct buf *out);

/*
 * Sizes: digits with an optional k, M, G or T (any case, powers of 1024).
 * Durations: digits with an optional s, m, h or d.  0 / -1 (no junk, no
 * overflow of uint64_t).  The CLI takes the same forms (--quota 2G).
 */
int config_parse_size(const char *s, uint64_t *r) WARN_UNUSED;
int config_parse_duration(const char *s, uint64_t *r) WARN_UNUSED;

/* config_sample - the commented sample file, every key with its doc line */
void config_sample(struct buf *out);

#endif
