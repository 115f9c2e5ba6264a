/*
 * cli.h - the `postern` command's subcommands.
 *
 *   postern [-c FILE] serve
 *   postern [-c FILE] milter                              (cli_milter.c)
 *   postern [-c FILE] queue list | show ID | delete ID... | flush
 *   postern [-c FILE] config check [FILE] | show [--defaults|--changed] | sample
 *   postern [-c FILE] domain ... | user ... | alias ...   (cli_dir.c)
 *   postern [-c FILE] import passwd-file FILE | maildir USER DIR
 *                                                         (cli_import.c)
 *   postern [-c FILE] mailbox list USER | mail list USER [MAILBOX] |
 *                     mail show USER MAILBOX UID         (cli_mail.c)
 *   postern [-c FILE] spam train|forget|classify|stats      (cli_spam.c)
 *   postern [-c FILE] dkim keygen|show|sign                (cli_dkim.c)
 *
 * main() parses the global options and dispatches; argv[0] of each
 * handler is the subcommand's name.  Handlers return the process exit
 * status (0 ok, 1 failure, 2 usage error) and print errors on stderr.
 */
#ifndef POSTERN_CLI_H
#define POSTERN_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <pthread.h>

#include "common/buf.h"
#include "common/config.h"
#include "filters/filters.h"
#include "queue/transport.h"
#include "store/blob.h"

struct directory;
struct store;
struct kv;

/*
 * The anti-spam pipeline with what its stages use (cli_filters.c),
 * shared by serve and milter.  kv: the data store, for the lookup
 * store's kv backend; it must outlive cf.  -1 with err.
 */
struct cli_filters {
	struct lookup *lookup;
	struct dns *dns;
	struct filters *filters;
	struct filter_env env;
	struct bayes *bayes;		/* for the Junk training hook */
	/* the sweeper of expired lookup keys (kv backend) */
	pthread_t sweep;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool sweeping, stop;
};
/*
 * cli_message_text - filter_env.text and bayes_text_fn: the readable
 * text of a message for the content classifiers: the decoded subject,
 * then the body text (decoded, UTF-8, HTML stripped), as the mailbox
 * store decodes it (store/mime.h); -1 when it cannot be parsed
 */
int cli_message_text(void *arg, const unsigned char *msg, size_t len,
    struct buf *out);
int cli_filters_open(const struct config *cfg, struct kv *kv,
    struct cli_filters *cf, struct buf *err) WARN_UNUSED;
void cli_filters_close(struct cli_filters *cf);

/*
 * The outbound SMTP transport and what it uses (cli_outbound.c): a
 * resolver, the DKIM signer (keys read as the current user: open it
 * after dropping privileges), the TLS policy (DANE, MTA-STS; its
 * MTA-STS cache in sts_cache, the lookup store, which must outlive it;
 * NULL: in memory), our addresses for loop detection.  t is the
 * transport to register.  stop before the delivery threads are joined
 * (their waits end), close after.  -1 with err.
 */
struct cli_outbound {
	struct dns *dns;
	struct dkim_signer *signer;
	struct smtp_tlspolicy *tlspolicy;
	struct smtp_client *client;
	struct transport t;
};
int cli_outbound_open(const struct config *cfg, struct lookup *sts_cache,
    struct cli_outbound *ob, struct buf *err) WARN_UNUSED;
void cli_outbound_stop(struct cli_outbound *ob);
void cli_outbound_close(struct cli_outbound *ob);

/* config_path: the -c argument or NULL (embedded defaults) */
int cli_config(const char *config_path, int argc, char **argv);
int cli_queue(const struct config *cfg, int argc, char **argv);
int cli_serve(const struct config *cfg, int argc, char **argv);
/* milter: the pipeline served over the milter protocol */
int cli_milter(const struct config *cfg, int argc, char **argv);
/* domain, user, alias */
int cli_dir(const struct config *cfg, int argc, char **argv);

/* import passwd-file | maildir */
int cli_import(const struct config *cfg, int argc, char **argv);
/* mailbox list, mail list | show */
int cli_mail(const struct config *cfg, int argc, char **argv);
/* spam train | forget | classify | stats (cli_spam.c) */
int cli_spam(const struct config *cfg, int argc, char **argv);
/* dkim keygen | show | sign: DKIM signing keys (cli_dkim.c) */
int cli_dkim(const struct config *cfg, int argc, char **argv);

/*
 * cli_store_open - become server.user, make data_dir, open the store of
 * cfg; -1 after a message on stderr.  Shared by cli_mail.c and
 * cli_import.c.
 */
int cli_store_open(const struct config *cfg, struct store **st_r);
/*
 * cli_account_id - the id of the account addr: 0, or -1 after a message
 * on stderr ("unknown account" included).
 */
int cli_account_id(struct directory *d, const char *addr, uint32_t *id_r);

/*
 * cli_import_passwd - import one Dovecot passwd-file already open as f
 * (name for messages) into d; update: existing accounts get the file's
 * hash (and quota, when the line has a rule) instead of being skipped.  Messages on stderr,
 * the summary on stdout.  The exit status (0 all lines fine, 1 some
 * failed).  Exposed for the unit test, which checks that the imported
 * hashes authenticate.
 */
int cli_import_passwd(struct directory *d, FILE *f, const char *name,
    bool update);

/* cli_import_maildir - `postern import maildir USER DIR` */
int cli_import_maildir(const struct config *cfg, const char *user,
    const char *dir);

/*
 * Maildir++ parsers (cli_maildir.c), pure; exposed for the unit test.
 */
#define CLI_MAILDIR_KEYWORDS 26		/* 'a'..'z' */

struct cli_maildir_info {
	size_t base_len;	/* bytes of the name before its ':' */
	uint32_t flags;		/* MAIL_F_* from the ":2," letters */
	uint32_t keywords;	/* bit i: keyword letter 'a' + i */
};

/* cli_maildir_info_parse - base name, flags and keywords of a file name */
void cli_maildir_info_parse(const char *name, struct cli_maildir_info *out);
/*
 * cli_maildir_mutf7_decode - append the UTF-8 form of a modified UTF-7
 * name (RFC 3501 5.1.3) to out; -1 (out unchanged) when it is not one.
 */
int cli_maildir_mutf7_decode(const char *in, size_t len, struct buf *out)
    WARN_UNUSED;
/* cli_maildir_keyword_line - "<index> <name>" of dovecot-keywords */
int cli_maildir_keyword_line(const char *line, size_t len, unsigned *idx_r,
    size_t *name_off_r, size_t *name_len_r) WARN_UNUSED;
/* cli_maildir_uidlist_line - uid and base name of a dovecot-uidlist
 * line after the header; -1 for anything else */
int cli_maildir_uidlist_line(const char *line, size_t len, uint32_t *uid_r,
    size_t *base_off_r, size_t *base_len_r) WARN_UNUSED;
/* cli_maildir_next_line - the next line of b from *pos, without its
 * CR LF or LF; false at the end */
bool cli_maildir_next_line(const struct buf *b, size_t *pos,
    const char **line, size_t *len);
/* cli_maildir_keywords - the names of a dovecot-keywords file (owned by
 * the caller; invalid ones left NULL after a warning naming where) */
void cli_maildir_keywords(const struct buf *file,
    char *names[CLI_MAILDIR_KEYWORDS], const char *where);
/* cli_maildir_keyword_flag - the MAIL_F_ bit a Dovecot keyword stands for
 * ($Forwarded, $Junk, Junk, $NotJunk, NonJunk, ...), else 0 */
uint32_t cli_maildir_keyword_flag(const char *kw);
/* cli_maildir_subs_line - a subscriptions line's levels, tab-separated */
int cli_maildir_subs_line(const char *line, size_t len, bool v2,
    struct buf *out) WARN_UNUSED;

/* a set of blob ids (message contents); zero-initialised = empty */
struct cli_idset {
	struct blob_id *v;
	bool *used;
	size_t cap, n;		/* cap a power of two, n <= cap / 2 */
};

bool cli_idset_has(const struct cli_idset *s, const struct blob_id *id);
void cli_idset_add(struct cli_idset *s, const struct blob_id *id);
void cli_idset_free(struct cli_idset *s);

/*
 * cli_become_user - when running as root, switch to server.user (exit 1
 * if it does not exist or is root); chown_data first hands data_dir to
 * it.  A no-op for other users.
 */
void cli_become_user(const struct config *cfg, bool chown_data);
/* cli_data_dir - cli_become_user(cfg, false), then data_dir made if
 * missing; -1 after a message on stderr */
int cli_data_dir(const struct config *cfg);

#endif
