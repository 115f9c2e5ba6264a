/*
 * queue_id.c - queue IDs: 32 bits of wall-clock seconds followed by 24
 * bits from getrandom(2), as 14 uppercase hex digits.
 *
 * The time prefix makes IDs sort by arrival and confines collisions to
 * messages created in the same second (1 in 2^24 per pair).  Uniqueness is
 * not assumed: the spool creates tmp/QID with O_EXCL, refuses an ID that
 * exists in msg/, and publishes with RENAME_NOREPLACE, so a collision is a
 * 451 for one message, never an overwritten one.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "queue/queue.h"

void
queue_id_new(char out[QUEUE_ID_SIZE])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char rnd[3];
	size_t got = 0;
	uint64_t v;

	while (got < sizeof(rnd)) {
		ssize_t n = getrandom(rnd + got, sizeof(rnd) - got, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			PANIC("getrandom: %s", strerror(errno));
		got += (size_t)n;
	}
	v = (clock_wall_us() / 1000000u) & 0xffffffffu;
	v = v << 24 | (uint64_t)rnd[0] << 16 | (uint64_t)rnd[1] << 8 | rnd[2];
	for (size_t i = QUEUE_ID_LEN; i > 0; i--) {
		out[i - 1] = hex[v & 15];
		v >>= 4;
	}
	out[QUEUE_ID_LEN] = '\0';
}

bool
queue_id_is_valid(const char *s)
{
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++)
		if (!is_ascii_digit((unsigned char)s[i]) &&
		    !(s[i] >= 'A' && s[i] <= 'F'))
			return false;
	return s[i] == '\0';
}
