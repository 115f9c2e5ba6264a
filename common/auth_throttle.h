/*
 * auth_throttle.h - failed-authentication accounting for the protocol
 * servers (SMTP AUTH now; IMAP and JMAP can share the same object), per
 * client IP and per account name, in memory, shared by every thread of
 * the process.  Nothing here sleeps: the caller is told how long to hold
 * its reply and waits on a timer of its own loop.
 *
 * Policy (Dovecot's auth_failure_delay made to grow, fail2ban's ban):
 *   - a failure counts against the client's IP and against the account
 *     name tried (as the caller normalised it; unknown names too, so that
 *     guessing does not tell which names exist);
 *   - a count is forgotten `window` seconds after its last failure;
 *   - once either count is over `free`, the reply to each further failure
 *     is delayed delay_ms * 2^(n - free - 1) (n the larger count), at
 *     most delay_max_ms;
 *   - an IP whose count reaches ip_limit is blocked for `block` seconds:
 *     every authentication attempt from it is refused without a password
 *     check, for every account (a client that guesses passwords is not
 *     trusted to log anyone in; users behind the same NAT wait too);
 *   - accounts are never blocked, or anyone could lock a user out: an
 *     attack on one account from many addresses is slowed by the delays,
 *     and a correct password from an address that is not blocked always
 *     succeeds at once (successes are never delayed);
 *   - a success forgets the account's failures but not the IP's (else a
 *     client holding one valid account could reset its address's count
 *     between guesses at another);
 *   - password checks queued or running at once are bounded (across
 *     every server sharing the object) by the wait a new one would have:
 *     the checks ahead of it, shared by the check threads, times the
 *     average check (a moving average of the last ones); over max_wait
 *     the attempt is answered "try later" at once, and neither counted
 *     nor checked.  So a deliberately slow hash (Argon2id, about 0.3 s
 *     and 64 MiB here) cannot let a crowd of guessers queue minutes of
 *     work, while a burst of logins with a fast one (a server restart:
 *     every client at once) all wait their turn; max_checks is a hard
 *     bound on top, for the memory of the queue.
 * Memory: at most max_entries records (IPs and accounts together); when
 * full, the least recently used one is dropped.
 *
 * Times are CLOCK_MONOTONIC microseconds (clock_mono_us), passed in so
 * that the unit test owns the clock.  Thread-safe.
 */
#ifndef POSTERN_AUTH_THROTTLE_H
#define POSTERN_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define AUTH_THROTTLE_KEY_MAX 320	/* longer names are cut (still
					 * distinct enough to count) */

struct auth_throttle_conf {
	unsigned free;		/* failures answered at once */
	unsigned delay_ms;	/* the first delay */
	unsigned delay_max_ms;	/* the longest */
	unsigned window;	/* seconds a count is kept after its last */
	unsigned ip_limit;	/* failures that block an IP; 0 = never */
	unsigned block;		/* seconds an IP stays blocked */
	size_t max_entries;	/* records kept, >= 1 */
	unsigned max_checks;	/* password checks at once; 0 = no bound */
	unsigned threads;	/* the threads running checks, >= 1 */
	uint64_t max_wait_us;	/* a new check's wait; 0 = no bound */
};

/* what one failure led to */
struct auth_throttle_verdict {
	unsigned ip_failures;		/* counts including this one */
	unsigned account_failures;
	unsigned delay_ms;		/* hold the reply this long */
	bool blocked;			/* this failure blocked the IP */
};

struct auth_throttle;

struct auth_throttle *auth_throttle_new(const struct auth_throttle_conf *c);
void auth_throttle_free(struct auth_throttle **t);

/* auth_throttle_blocked - seconds left of ip's block (rounded up), 0 */
unsigned auth_throttle_blocked(struct auth_throttle *t, const char *ip,
    uint64_t now_us);
/* auth_throttle_fail - count a failed attempt for account from ip */
void auth_throttle_fail(struct auth_throttle *t, const char *ip,
    const char *account, uint64_t now_us, struct auth_throttle_verdict *v);
/* auth_throttle_success - account logged in: forget its failures */
void auth_throttle_success(struct auth_throttle *t, const char *account,
    uint64_t now_us);
/*
 * auth_throttle_check_begin - a password check is about to be queued:
 * true and counted, or false when max_checks are queued or running
 * already or it would wait over max_wait.  Each true is followed by one
 * auth_throttle_check_end once the check is done (from any thread),
 * with the microseconds the check itself took.
 */
bool auth_throttle_check_begin(struct auth_throttle *t);
void auth_throttle_check_end(struct auth_throttle *t, uint64_t took_us);
/* auth_throttle_check_wait - the wait a check queued now would have, us */
uint64_t auth_throttle_check_wait(struct auth_throttle *t);
/* auth_throttle_entries - records held now (tests) */
size_t auth_throttle_entries(struct auth_throttle *t);

#endif
