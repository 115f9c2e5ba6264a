/*
 * delivery.h - the local delivery agent: files a message for local
 * recipients into their mailboxes.  It is the queue's "local" transport,
 * and LMTP hands messages straight to it.
 *
 * For each recipient address the directory says which accounts it
 * reaches (the account itself, user+tag sub-addressing, aliases,
 * catch-all).  The message is parsed once, stored once in the blob store
 * whatever the number of recipients, and filed for every account in ONE
 * data-store transaction together with an idempotency key per recipient
 * ('P' queue-id rcpt-index): a delivery retried after a crash between the
 * commit and the queue's own bookkeeping finds the key and reports
 * success without filing the message again.
 *
 * Outcomes per recipient: delivered (2.0.0); unknown (5.1.1, permanent);
 * over quota (4.2.2, temporary: the queue retries, then bounces); store
 * or directory error (4.3.0, temporary).
 *
 * Threads: delivery_message and delivery_rcpt_check block (disk): run them
 * on workers.  Any number may run at once.
 */
#ifndef POSTERN_DELIVERY_H
#define POSTERN_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "directory/directory.h"
#include "queue/transport.h"
#include "store/store.h"

struct delivery;

/* delivery_new - st and dir are borrowed and must outlive it */
struct delivery *delivery_new(struct store *st, struct directory *dir);
void delivery_free(struct delivery **d);

/*
 * Forwarding: an alias may name remote addresses.  Before the local part
 * of such a recipient is filed, the message is handed to forward (on the
 * worker) for those addresses, with the original envelope sender
 * (XXX no SRS yet, so SPF of the original domain fails at the next
 * hop) and the original MAIL parameters as stored (sender_params,
 * queue_envelope's: BODY=8BITMIME, SMTPUTF8, RET, ENVID; "" when none),
 * which the new message keeps: the content is the same, so is its body
 * type and its need of SMTPUTF8, and a bounce of the copy goes to the
 * same sender, who asked for that RET and ENVID.  It must return only
 * once the new message is durable (0), else -1 with err, and the
 * recipient is retried later.  A crash between the two may forward
 * twice, never lose one.  Without a forward function such recipients
 * are deferred.
 */
typedef int delivery_forward_fn(void *arg, const char *sender,
    const char *sender_params, const char *const *rcpts, size_t n,
    const void *msg, size_t len, struct buf *err);
void delivery_set_forward(struct delivery *d, delivery_forward_fn *fn,
    void *arg);

/*
 * Idempotency keys outlive their use: once the queue can no longer retry
 * a message (queue.max_lifetime), its keys are dead weight.
 * delivery_prune removes those older than max_age seconds: the number
 * removed, or -1 with err.  delivery_set_retention(d, max_age) makes the
 * delivery agent's background thread do it every hour (0 = never).
 */
long delivery_prune(struct delivery *d, uint64_t max_age, struct buf *err);
void delivery_set_retention(struct delivery *d, uint64_t max_age);

/* delivery_transport - the queue transport named "local" over d */
void delivery_transport(struct delivery *d, struct transport *t_r);

/* one recipient of delivery_message: addr in, the outcome out */
struct delivery_rcpt {
	const char *addr;		/* envelope recipient */
	uint32_t index;			/* its index in the queue envelope
					   (the idempotency key) */
	enum transport_status status;
	char dsn[16];			/* "2.0.0", "5.1.1", "4.2.2", ... */
	char text[200];			/* for the log and the SMTP reply */
};

/*
 * delivery_message - file msg (len bytes) for every rcpt; each gets its
 * own status.  sender ("" for <>) and sender_params (the MAIL
 * parameters as the queue stores them, "" for none) are the envelope's,
 * for forwards.  idem_id names the message for idempotency (the queue
 * ID); NULL when there is none (LMTP: the client retries what it did not
 * see acknowledged, as with any SMTP server).
 */
void delivery_message(struct delivery *d, const char *idem_id,
    const char *sender, const char *sender_params, const void *msg,
    size_t len, struct delivery_rcpt *rcpts, size_t n);

/* delivery_rcpt_check - what RCPT TO should answer */
enum delivery_check {
	DELIVERY_RCPT_OK,		/* 250 */
	DELIVERY_RCPT_UNKNOWN,		/* 550 5.1.1 */
	DELIVERY_RCPT_OVER_QUOTA,	/* 452 4.2.2 */
	DELIVERY_RCPT_ERROR,		/* 451 4.3.0, err says why */
};

/*
 * delivery_rcpt_check - whether addr reaches a local account or alias,
 * and whether every account it reaches has room for size more bytes
 * (size 0 when the client did not announce one).
 */
enum delivery_check delivery_rcpt_check(struct delivery *d, const char *addr,
    uint64_t size, struct buf *err);

#endif
