/*
 * unit_dies.h - "this must PANIC": run fn(arg) in a child process and
 * report whether it died of SIGABRT (PANIC/ASSERT abort).  The child's
 * stderr goes to /dev/null so the expected panic line does not clutter
 * the test output.  Header-only, since each unit test is its own program.
 */
#ifndef POSTERN_UNIT_DIES_H
#define POSTERN_UNIT_DIES_H

#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

static inline bool
unit_dies(void (*fn)(void *), void *arg)
{
	pid_t pid;
	int st;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			(void)dup2(fd, STDERR_FILENO);	/* the panic line */
		fn(arg);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		return false;
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
}

#endif
