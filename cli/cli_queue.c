/*
 * cli_queue.c - `postern queue list | show ID | delete ID... | flush`.
 *
 * Works on the spool directory directly, whether a server runs or not:
 * it only reads queue files, unlinks them (delete; a running qmgr drops a
 * vanished file from memory) or appends flush records (flush; safe next
 * to the qmgr's own appends, which are whole O_APPEND writes).  It never
 * repairs or moves files while a server may be using them.
 *
 *   list    like Postfix's mailq: ID, size, arrival, sender, then each
 *           recipient under a "(status ...)" line; "-- N Kbytes in M
 *           Requests." at the end.
 *   show    the envelope, every recipient's state, then the raw content.
 *   delete  unlink msg/ID for each ID.
 *   flush   append a flush record to every message with deferred
 *           recipients (a later start delivers them at once) and, if the
 *           pid file names a live server, send it SIGUSR1.
 *
 * Envelope text is printed with control characters escaped (it came from
 * peers and goes to a terminal); `show` prints the content raw.  Exit: 0
 * ok, 1 an ID is unknown or an operation failed, 2 usage.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "common/xalloc.h"
#include "queue/queue.h"

#define INDENT 47	/* where the sender/recipient column starts */

static int
usage(void)
{
	fprintf(stderr, "usage: postern queue list | show ID | "
	    "delete ID... | flush\n");
	return 2;
}

/* dir_or - set, or data_dir/name when config left the derived default "" */
static char *
dir_or(const char *set, const char *data_dir, const char *name)
{
	struct buf b = BUF_INIT(0);

	if (set != NULL && set[0] != '\0')
		return xstrdup(set);
	buf_addf(&b, "%s/%s", data_dir != NULL && data_dir[0] != '\0' ?
	    data_dir : "./var", name);
	return buf_steal(&b, NULL);
}

/* put_clean - s with control characters and backslashes escaped */
static void
put_clean(const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '\\')
			printf("\\x%02x", c);
		else
			putchar(c);
	}
}

static void
fmt_time(char *out, size_t size, uint64_t us)
{
	time_t t = (time_t)(us / 1000000u);
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(out, size, "%a %b %e %H:%M:%S", &tm) == 0)
		(void)snprintf(out, size, "%llu", (unsigned long long)t);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_ids - the queue IDs in msg/, oldest first; -1 if unreadable */
static int
list_ids(const char *dir, char ***ids_r, size_t *n_r)
{
	struct buf path = BUF_INIT(0);
	char **ids = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	*ids_r = NULL;
	*n_r = 0;
	buf_addf(&path, "%s/msg", dir);
	d = opendir(buf_cstr(&path));
	if (d == NULL) {
		int e = errno;

		if (e == ENOENT) {	/* never started: an empty queue */
			buf_free(&path);
			return 0;
		}
		fprintf(stderr, "postern: queue: %s: %s\n", buf_cstr(&path),
		    strerror(e));
		buf_free(&path);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_is_valid(de->d_name))
			continue;
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			ids = xreallocarray(ids, cap, sizeof(*ids));
		}
		ids[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	buf_free(&path);
	if (n > 0)
		qsort(ids, n, sizeof(*ids), cmp_str);
	*ids_r = ids;
	*n_r = n;
	return 0;
}

static void
free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

/* load - msg/ID, with the error printed; GONE is reported by caller */
static enum queue_load_res
load(const char *dir, const char *id, struct queue_msg **m)
{
	struct buf err = BUF_INIT(0);
	enum queue_load_res res = queue_msg_load(dir, id, m, &err);

	if (res != QUEUE_LOAD_OK && res != QUEUE_LOAD_GONE)
		fprintf(stderr, "postern: queue: %s: %s\n", id, buf_cstr(&err));
	buf_free(&err);
	return res;
}

static void
print_status(const struct queue_rcpt_state *st)
{
	char when[64];

	printf("(%s", queue_rcpt_status_name(st->status));
	if (st->attempts > 0)
		printf(", %u %s", st->attempts,
		    st->attempts == 1 ? "try" : "tries");
	if (st->status == QUEUE_RCPT_DEFERRED) {
		if (st->next_try_us == 0) {
			printf(", due now");
		} else {
			fmt_time(when, sizeof(when), st->next_try_us);
			printf(", next %s", when);
		}
	}
	if (st->attempts > 0) {
		printf(": %s ", st->dsn);
		put_clean(st->text);
	}
	printf(")\n");
}

static int
cmd_list(const char *dir)
{
	uint64_t total = 0;
	size_t n, count = 0;
	char **ids, when[64];
	int rc = 0;

	if (list_ids(dir, &ids, &n) < 0)
		return 1;
	for (size_t i = 0; i < n; i++) {
		struct queue_msg *m;

		switch (load(dir, ids[i], &m)) {
		case QUEUE_LOAD_OK:
			break;
		case QUEUE_LOAD_GONE:
			continue;	/* delivered meanwhile */
		default:
			rc = 1;
			continue;
		}
		if (count == 0)
			printf("%-14s %8s %-20s  %s\n", "-Queue ID-",
			    "--Size--", "----Arrival Time----",
			    "-Sender/Recipient-------");
		fmt_time(when, sizeof(when), m->env.arrival_us);
		printf("%-14s %8llu %-20s  ", m->env.qid,
		    (unsigned long long)m->content_size, when);
		put_clean(m->env.sender[0] != '\0' ? m->env.sender :
		    "MAILER-DAEMON");
		putchar('\n');
		for (size_t r = 0; r < m->env.nrcpt; r++) {
			print_status(&m->state[r]);
			printf("%*s", INDENT, "");
			put_clean(m->env.rcpts[r].addr);
			putchar('\n');
		}
		putchar('\n');
		total += m->content_size;
		count++;
		queue_msg_free(&m);
	}
	free_ids(ids, n);
	if (count == 0)
		printf("Mail queue is empty\n");
	else
		printf("-- %llu Kbytes in %zu Request%s.\n",
		    (unsigned long long)((total + 1023) / 1024), count,
		    count == 1 ? "" : "s");
	return rc;
}

static void
field(const char *name, const char *value)
{
	printf("%s: ", name);
	put_clean(value);
	putchar('\n');
}

static int
show_content(const char *dir, const struct queue_msg *m)
{
	struct buf err = BUF_INIT(0);
	struct queue_content *c = queue_content_open(dir, m, &err);
	unsigned char data[65536];
	size_t n;
	int rc = 0;

	fflush(stdout);
	while (c != NULL) {
		if (queue_content_read(c, data, sizeof(data), &n, &err) < 0) {
			rc = 1;
			break;
		}
		if (n == 0)
			break;
		if (fwrite(data, 1, n, stdout) != n) {
			buf_addf(&err, "write: %s", strerror(errno));
			rc = 1;
			break;
		}
	}
	if (c == NULL)
		rc = 1;
	if (rc != 0)
		fprintf(stderr, "postern: queue: %s: %s\n", m->env.qid,
		    buf_cstr(&err));
	queue_content_close(&c);
	buf_free(&err);
	return rc;
}

static int
cmd_show(const char *dir, const char *id)
{
	struct queue_msg *m;
	char when[64];
	int rc;

	if (!queue_id_is_valid(id)) {
		fprintf(stderr, "postern: queue: %s: not a queue ID\n", id);
		return 1;
	}
	switch (load(dir, id, &m)) {
	case QUEUE_LOAD_OK:
		break;
	case QUEUE_LOAD_GONE:
		fprintf(stderr, "postern: queue: %s: no such message\n", id);
		return 1;
	default:
		return 1;
	}
	fmt_time(when, sizeof(when), m->env.arrival_us);
	printf("queue_id: %s\narrival: %s (%llu)\n", m->env.qid, when,
	    (unsigned long long)m->env.arrival_us);
	field("client_name", m->env.client_name);
	field("client_ip", m->env.client_ip);
	field("helo", m->env.helo);
	field("protocol", m->env.protocol);
	field("tls", m->env.tls_info);
	field("auth_user", m->env.auth_user);
	field("sender", m->env.sender);
	field("sender_params", m->env.sender_params);
	printf("size: %llu\n", (unsigned long long)m->content_size);
	for (size_t r = 0; r < m->env.nrcpt; r++) {
		const struct queue_rcpt_state *st = &m->state[r];

		field("recipient", m->env.rcpts[r].addr);
		if (m->env.rcpts[r].params[0] != '\0')
			field("  params", m->env.rcpts[r].params);
		printf("  status: ");
		print_status(st);
		if (st->attempts > 0) {
			fmt_time(when, sizeof(when), st->last_try_us);
			printf("  last_try: %s\n", when);
			field("  relay", st->relay);
		}
	}
	putchar('\n');
	rc = show_content(dir, m);
	queue_msg_free(&m);
	return rc;
}

static int
cmd_delete(const char *dir, int argc, char **argv)
{
	struct buf path = BUF_INIT(0);
	int rc = 0;

	for (int i = 0; i < argc; i++) {
		if (!queue_id_is_valid(argv[i])) {
			fprintf(stderr, "postern: queue: %s: not a queue ID\n",
			    argv[i]);
			rc = 1;
			continue;
		}
		buf_reset(&path);
		buf_addf(&path, "%s/msg/%s", dir, argv[i]);
		if (unlink(buf_cstr(&path)) < 0) {
			fprintf(stderr, "postern: queue: %s: %s\n", argv[i],
			    errno == ENOENT ? "no such message" :
			    strerror(errno));
			rc = 1;
			continue;
		}
		printf("%s: removed\n", argv[i]);
	}
	buf_free(&path);
	return rc;
}

/* server_pid - the pid in the pid file if that process exists, else 0 */
static pid_t
server_pid(const char *pid_file)
{
	char text[32];
	uint64_t pid;
	ssize_t n;
	int fd = open(pid_file, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ' ||
	    text[n - 1] == '\r'))
		n--;
	if (parse_u64(text, (size_t)n, 0x7fffffff, &pid) < 0 || pid < 2)
		return 0;
	if (kill((pid_t)pid, 0) < 0 && errno != EPERM)
		return 0;	/* stale pid file */
	return (pid_t)pid;
}

static int
cmd_flush(const struct config *cfg, const char *dir)
{
	char *pid_file = dir_or(cfg->server.pid_file, cfg->server.data_dir,
	    "postern.pid");
	pid_t pid = server_pid(pid_file);
	struct buf err = BUF_INIT(0);
	size_t n, flushed = 0;
	char **ids;
	int rc = 0;

	if (list_ids(dir, &ids, &n) < 0) {
		free(pid_file);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		bool did;

		buf_reset(&err);
		/* with a server running, leave torn tails to its recovery */
		if (queue_msg_append_flush(dir, ids[i], pid == 0, &did,
		    &err) < 0) {
			fprintf(stderr, "postern: queue: %s: %s\n", ids[i],
			    buf_cstr(&err));
			rc = 1;
		}
		flushed += did;
	}
	free_ids(ids, n);
	if (pid != 0 && kill(pid, SIGUSR1) < 0) {
		fprintf(stderr, "postern: queue: flush: signal pid %ld: %s\n",
		    (long)pid, strerror(errno));
		rc = 1;
	} else if (pid != 0) {
		printf("flush: %zu messages with deferred recipients; server "
		    "pid %ld signalled\n", flushed, (long)pid);
	} else {
		printf("flush: %zu messages with deferred recipients; no "
		    "server running, they go at the next start\n", flushed);
	}
	buf_free(&err);
	free(pid_file);
	return rc;
}

int
cli_queue(const struct config *cfg, int argc, char **argv)
{
	char *dir;
	int rc;

	if (argc < 2)
		return usage();
	dir = dir_or(cfg->queue.dir, cfg->server.data_dir, "queue");
	if (strcmp(argv[1], "list") == 0 && argc == 2)
		rc = cmd_list(dir);
	else if (strcmp(argv[1], "show") == 0 && argc == 3)
		rc = cmd_show(dir, argv[2]);
	else if (strcmp(argv[1], "delete") == 0 && argc >= 3)
		rc = cmd_delete(dir, argc - 2, argv + 2);
	else if (strcmp(argv[1], "flush") == 0 && argc == 2)
		rc = cmd_flush(cfg, dir);
	else
		rc = usage();
	free(dir);
	fflush(stdout);
	return rc;
}
