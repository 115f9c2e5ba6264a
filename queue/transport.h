/*
 * transport.h - the interface every way out of the queue implements (the
 * local delivery agent, the SMTP client, LMTP, test doubles).
 *
 * Contract of deliver():
 *   - it runs on a worker thread and may block for as long as it needs
 *     (DNS, connect, mailbox writes); the qmgr never calls it with a lock
 *     held, and runs at most queue.max_deliveries of them at once;
 *   - it may run concurrently with itself (other messages, other
 *     recipients of the same message): keep per-call state on the stack;
 *   - it must fill every one of req->nrcpt results (an unfilled result
 *     counts as a temporary failure and is logged as a transport bug);
 *   - it reads the content through req->content, in as many passes as it
 *     likes (rewind before each one), never all at once: messages are up
 *     to the configured size limit (50 MB by default);
 *   - a content read error (-1) means the queue file is damaged or
 *     unreadable: give up on the delivery without committing it (no final
 *     "." to a remote server, no mailbox write) and report TEMPFAIL; the
 *     qmgr sees the damage itself and moves the file aside;
 *   - req and everything it points to are valid only during the call.
 */
#ifndef POSTERN_TRANSPORT_H
#define POSTERN_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "queue/queue.h"

/* the message content, as a rewindable stream */
struct transport_content {
	uint64_t size;		/* total bytes */
	/* up to size (> 0) bytes; 0 with *n_r == 0 at the end, else -1 and
	 * a line of text appended to err (checksum verified at the end) */
	int (*read)(struct transport_content *c, void *buf, size_t size,
	    size_t *n_r, struct buf *err);
	/* back to the first byte; 0 or -1 */
	int (*rewind)(struct transport_content *c, struct buf *err);
	void *ctx;		/* the implementation's */
};

static inline int WARN_UNUSED
transport_content_read(struct transport_content *c, void *buf, size_t size,
    size_t *n_r, struct buf *err)
{
	return c->read(c, buf, size, n_r, err);
}

static inline int WARN_UNUSED
transport_content_rewind(struct transport_content *c, struct buf *err)
{
	return c->rewind(c, err);
}

struct transport_request {
	const char *queue_id;
	const struct queue_envelope *env;	/* sender, params, client */
	const size_t *rcpt;	/* indexes into env->rcpts to deliver */
	const unsigned *attempt;	/* per rcpt: 1 on the first try */
	size_t nrcpt;		/* >= 1 */
	struct transport_content *content;
};

enum transport_status {
	TRANSPORT_NONE = 0,	/* not filled in: a transport bug */
	TRANSPORT_OK,		/* delivered (or accepted by the next hop) */
	TRANSPORT_TEMPFAIL,	/* try again later (4xx, timeouts, no route) */
	TRANSPORT_PERMFAIL,	/* give up: bounce (5xx, no such user) */
};

/* what the qmgr keeps of a transport's text; longer is cut with "..." */
#define TRANSPORT_TEXT_MAX 512u

/* flags of a result (the queue keeps them with the recipient's state) */
#define TRANSPORT_F_REMOTE QUEUE_RCPT_F_REMOTE	/* text is the next
		 * hop's reply: a DSN names it Remote-MTA, Diagnostic-Code
		 * smtp (relay then holds "name[addr]:port") */
#define TRANSPORT_F_DSN_PASSED QUEUE_RCPT_F_DSN_PASSED	/* OK only: the
		 * next hop does DSN and got NOTIFY/ORCPT, so it reports
		 * success itself and we send no "relayed" (RFC 3461 5.2) */

struct transport_result {
	enum transport_status status;
	unsigned flags;		/* TRANSPORT_F_* */
	char dsn[16];		/* RFC 3463 "5.1.1"; "" = 2.0.0/4.0.0/5.0.0 */
	struct buf relay;	/* "mx.example.com[192.0.2.1]:25"; empty =
				 * the transport's name */
	struct buf text;	/* "250 2.0.0 Ok", "connect to ...: refused" */
};

/*
 * transport_result_set - fill r (flags cleared: set them afterwards);
 * dsn may be NULL (default of st).  The
 * text is ours to format (a remote reply is data: pass it as "%s"); it is
 * cut at TRANSPORT_TEXT_MAX and control characters are replaced later.
 */
void transport_result_set(struct transport_result *r,
    enum transport_status st, const char *dsn, const char *fmt, ...)
    PRINTF_LIKE(4, 5);
/* transport_result_relay - where it went, for the log's relay= field */
void transport_result_relay(struct transport_result *r, const char *fmt, ...)
    PRINTF_LIKE(2, 3);

struct transport {
	const char *name;	/* "local", "smtp": what the route returns */
	/*
	 * idempotent: running a delivery again that this transport already
	 * reported final is harmless (the local transport keeps a key per
	 * queue ID and recipient).  The qmgr then does not fsync final
	 * results before the queue file goes: a crash that loses them
	 * only repeats the delivery, which is then a no-op.  Never set it
	 * for a transport whose repeat would duplicate mail (SMTP).
	 */
	bool idempotent;
	void *ctx;
	void (*deliver)(void *ctx, const struct transport_request *req,
	    struct transport_result *results /* req->nrcpt of them, zeroed */);
	/*
	 * per_domain: every call gets recipients of one domain only (the
	 * part after the last '@', compared without case; an address
	 * without '@' is of the domain ""): one delivery goes to one
	 * destination, as for SMTP.  The qmgr splits a message's due
	 * recipients of this transport into one job per domain.
	 */
	bool per_domain;
};

#endif
