/*
 * main.c - the `postern` command: global options, then a subcommand.
 *
 *   postern [-c FILE] serve | queue ... | config ... | domain ... |
 *                     user ... | alias ... | import ... | mailbox ... |
 *                     mail ... | spam ... | dkim ...
 *
 * Without -c the embedded defaults apply (ARCHITECTURE.md,
 * "Configuration"): data under ./var, SMTP on port 25.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/config.h"

static void
usage(FILE *f)
{
	fputs("usage: postern [-c FILE] COMMAND [ARGS]\n"
	    "commands:\n"
	    "  serve                         run the server\n"
	    "  milter                        serve the filters to another MTA "
	    "(milter)\n"
	    "  queue list                    list queued messages\n"
	    "  queue show ID                 envelope, status and content\n"
	    "  queue delete ID...            remove messages from the queue\n"
	    "  queue flush                   retry deferred mail now\n"
	    "  config check [FILE]           validate a configuration file\n"
	    "  config show [--defaults|--changed]\n"
	    "                                print the effective configuration\n"
	    "  config sample                 print the commented sample file\n"
	    "  domain add|del DOMAIN, domain list\n"
	    "  user add ADDR [--quota SIZE] [--name TEXT] [--no-password]\n"
	    "  user del|passwd|show ADDR, user list [DOMAIN]\n"
	    "                                accounts (passwords from stdin)\n"
	    "  alias add ALIAS TARGET..., alias del ALIAS [TARGET], alias list\n"
	    "  import passwd-file [--update] FILE\n"
	    "                                accounts from a Dovecot "
	    "passwd-file\n"
	    "  import maildir USER DIR       a Maildir++ into USER's "
	    "mailboxes\n"
	    "                                (what is there already is "
	    "skipped)\n"
	    "  mailbox list USER             mailboxes and their counts\n"
	    "  mail list USER [MAILBOX]      UID, flags, size, date, From, "
	    "Subject\n"
	    "  mail show USER MAILBOX UID    the raw message\n"
	    "  spam train [--user ADDR] (--spam PATH | --ham PATH)...\n"
	    "  spam forget [--user ADDR] (--spam PATH | --ham PATH)...\n"
	    "                                teach or unteach the Bayes "
	    "classifier\n"
	    "                                (PATH: message, mbox, Maildir "
	    "or directory)\n"
	    "  spam classify [--user ADDR] [--top N] PATH...\n"
	    "                                verdict, probability, top "
	    "tokens\n"
	    "  spam stats [--user ADDR]      messages learned, tokens\n"
	    "  dkim keygen DOMAIN [--selector S] [--algo rsa|ed25519] "
	    "[--bits N] [--force]\n"
	    "                                make a signing key, print its "
	    "DNS record\n"
	    "  dkim show [DOMAIN]            the DNS records of the keys\n"
	    "  dkim sign DOMAIN [FILE]       sign a message (a test)\n",
	    f);
}

static bool
is_mail_command(const char *cmd)
{
	return strcmp(cmd, "mailbox") == 0 || strcmp(cmd, "mail") == 0;
}

static bool
is_dir_command(const char *cmd)
{
	return strcmp(cmd, "domain") == 0 || strcmp(cmd, "user") == 0 ||
	    strcmp(cmd, "alias") == 0;
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	struct config *cfg = NULL;
	struct buf errors = BUF_INIT(0);
	int opt, rc;

	while ((opt = getopt(argc, argv, "+c:h")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[0], "config") == 0)
		return cli_config(path, argc, argv);
	if (strcmp(argv[0], "serve") != 0 && strcmp(argv[0], "queue") != 0 &&
	    strcmp(argv[0], "milter") != 0 &&
	    !is_dir_command(argv[0]) && strcmp(argv[0], "import") != 0 &&
	    !is_mail_command(argv[0]) && strcmp(argv[0], "spam") != 0 &&
	    strcmp(argv[0], "dkim") != 0) {
		fprintf(stderr, "postern: unknown command \"%s\"\n", argv[0]);
		usage(stderr);
		return 2;
	}
	if (config_load(path, &cfg, &errors) < 0) {
		fprintf(stderr, "%s", buf_cstr(&errors));
		buf_free(&errors);
		return 1;
	}
	buf_free(&errors);
	if (strcmp(argv[0], "serve") == 0)
		rc = cli_serve(cfg, argc, argv);
	else if (strcmp(argv[0], "milter") == 0)
		rc = cli_milter(cfg, argc, argv);
	else if (is_dir_command(argv[0]))
		rc = cli_dir(cfg, argc, argv);
	else if (strcmp(argv[0], "import") == 0)
		rc = cli_import(cfg, argc, argv);
	else if (is_mail_command(argv[0]))
		rc = cli_mail(cfg, argc, argv);
	else if (strcmp(argv[0], "spam") == 0)
		rc = cli_spam(cfg, argc, argv);
	else if (strcmp(argv[0], "dkim") == 0)
		rc = cli_dkim(cfg, argc, argv);
	else
		rc = cli_queue(cfg, argc, argv);
	config_free(&cfg);
	return rc;
}
