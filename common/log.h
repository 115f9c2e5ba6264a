/*
 * log.h - one line per event, syslog-style.
 *
 * Every line is "postern/<service>[pid]: <text>"; lines about a message
 * start their text with the queue ID ("3F2A9C41B0: from=<a@b>, ..."),
 * lines about a session with the session ID, so one grep follows either.
 * Postfix's field names where the meaning is the same.
 *
 * log_open() is called once at start-up, before any thread starts; after
 * that the logger is read-only and safe from every thread (each line is
 * one write(2) to stderr, or one syslog(3) call).
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include <stdarg.h>
#include <stdbool.h>

#include "common.h"

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

enum log_dest { LOG_DEST_STDERR, LOG_DEST_SYSLOG };

/*
 * log_open - choose the destination and the lowest level written.
 * facility is a syslog facility name ("mail", "local0".."local7", "daemon",
 * "user"); unknown names fall back to "mail".  syslog_socket is the
 * daemon's datagram socket (NULL: "/dev/log"); when it cannot be reached
 * lines go to stderr instead, so none is lost.
 */
void log_open(enum log_dest dest, enum log_level min, const char *facility,
    const char *syslog_socket);
/* log_parse_level - "debug"/"info"/"warning"/"error"; -1 when unknown */
int log_parse_level(const char *s);

void log_msg(enum log_level lvl, const char *service, const char *fmt, ...)
    PRINTF_LIKE(3, 4);
void log_vmsg(enum log_level lvl, const char *service, const char *fmt,
    va_list ap) PRINTF_LIKE(3, 0);
bool log_enabled(enum log_level lvl);

#define log_debug(svc, ...) log_msg(LOG_LVL_DEBUG, (svc), __VA_ARGS__)
#define log_info(svc, ...) log_msg(LOG_LVL_INFO, (svc), __VA_ARGS__)
#define log_warn(svc, ...) log_msg(LOG_LVL_WARN, (svc), __VA_ARGS__)
#define log_error(svc, ...) log_msg(LOG_LVL_ERROR, (svc), __VA_ARGS__)
/* log_fatal - configuration/environment errors at start-up: log, exit(1) */
NORETURN void log_fatal(const char *svc, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

#endif
