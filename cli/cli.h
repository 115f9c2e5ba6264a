/*
 * cli.h - the `postern` command's subcommands.
 *
 *   postern [-c FILE] serve
 *   postern [-c FILE] queue list | show ID | delete ID... | flush
 *   postern [-c FILE] config check [FILE] | show [--defaults|--changed] | sample
 *   postern [-c FILE] domain ... | user ... | alias ...   (cli_dir.c)
 *
 * main() parses the global options and dispatches; argv[0] of each
 * handler is the subcommand's name.  Handlers return the process exit
 * status (0 ok, 1 failure, 2 usage error) and print errors on stderr.
 */
#ifndef POSTERN_CLI_H
#define POSTERN_CLI_H

#include "common/config.h"

/* config_path: the -c argument or NULL (embedded defaults) */
int cli_config(const char *config_path, int argc, char **argv);
int cli_queue(const struct config *cfg, int argc, char **argv);
int cli_serve(const struct config *cfg, int argc, char **argv);
/* domain, user, alias */
int cli_dir(const struct config *cfg, int argc, char **argv);

/*
 * cli_become_user - when running as root, switch to server.user (exit 1
 * if it does not exist or is root); chown_data first hands data_dir to
 * it.  A no-op for other users.
 */
void cli_become_user(const struct config *cfg, bool chown_data);

#endif
