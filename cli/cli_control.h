/*
 * cli_control.h - the control socket: `postern spam` hands its work to
 * the running server when it cannot open the lookup store itself
 * (lookup.backend "memory", or RocksDB held by the server).
 *
 * The socket is <server.data_dir>/CLI_CONTROL_SOCK, a Unix-domain stream
 * socket of mode 0600 owned by server.user; the server also refuses a
 * peer whose uid is neither root nor its own (SO_PEERCRED).
 *
 * Frames, both ways: type (1 byte), body length (4 bytes, big-endian),
 * body.  Integers are big-endian, doubles their IEEE-754 bits as a
 * 64-bit integer.  The server speaks first (a greeting); then every
 * request gets exactly one reply, in order, and a client may send many
 * requests before it reads a reply (pipelining).  Requests, the body of
 * each: class (1 byte: 0 ham, 1 spam; 0 for classify and stats), user
 * length (2 bytes, at most BAYES_USER_MAX, "" = the global set), the
 * user, then the message (1 to CLI_CONTROL_MSG_MAX bytes; none for
 * stats):
 *
 *   'T' train      reply 'o': the outcome (1 byte, enum bayes_outcome)
 *   'F' forget     reply 'o'
 *   'C' classify   reply 'r': verdict (1), prob (8), nspam, nham,
 *                  user_nspam, user_nham (8 each), user_used (1),
 *                  ntokens, nclues (4 each), ntop (1, at most
 *                  BAYES_TOP_MAX), then per clue prob (8), spam, ham
 *                  (8 each), text length (1, below BAYES_CLUE_TEXT_MAX)
 *                  and text
 *   'S' stats      reply 's': sets (1: 1 global, 2 and the user's), per
 *                  set nspam, nham, ntokens (8 each)
 *
 *   'g' greeting   the protocol version (4 bytes, CLI_CONTROL_VERSION)
 *   'e' error      text (at most CLI_CONTROL_ERROR_MAX bytes): the
 *                  request failed (a lookup store error), or, as the
 *                  last frame before the server closes, the request or
 *                  the connection was refused (bad frame, over a limit,
 *                  too many connections, not allowed)
 *
 * The parsers are pure and bounded (cli_control_proto.c); the server
 * and the client are in cli_control.c.
 */
#ifndef POSTERN_CLI_CONTROL_H
#define POSTERN_CLI_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/config.h"
#include "filters/bayes.h"

#define CLI_CONTROL_SOCK "control.sock"
#define CLI_CONTROL_VERSION 1u
#define CLI_CONTROL_HDR 5u			/* type and length */
#define CLI_CONTROL_MSG_MAX (64u << 20)		/* bytes of a message */
#define CLI_CONTROL_REQ_MAX (3u + BAYES_USER_MAX + CLI_CONTROL_MSG_MAX)
#define CLI_CONTROL_ERROR_MAX 1024u		/* bytes of an error's text */
#define CLI_CONTROL_REPLY_MAX 8192u		/* a reply's body */
#define CLI_CONTROL_CONN_MAX 16u		/* connections at once */

/* the frame types */
#define CLI_CONTROL_TRAIN 'T'
#define CLI_CONTROL_FORGET 'F'
#define CLI_CONTROL_CLASSIFY 'C'
#define CLI_CONTROL_STATS 'S'
#define CLI_CONTROL_GREETING 'g'
#define CLI_CONTROL_OUTCOME 'o'
#define CLI_CONTROL_RESULT 'r'
#define CLI_CONTROL_SETS 's'
#define CLI_CONTROL_ERROR 'e'
#define CLI_CONTROL_REQUESTS "TFCS"	/* what a server accepts */
#define CLI_CONTROL_REPLIES "gorse"	/* what a client accepts */

/* ---- the codec (pure; cli_control_proto.c) ---- */

/*
 * cli_control_frame - one frame at in: its type (one of types, else
 * PARSE_BAD), its body at in + CLI_CONTROL_HDR of *body_len_r bytes,
 * *used_r bytes in all.  PARSE_TOO_LONG as soon as the header says
 * more than max, PARSE_MORE until the whole frame is there.
 */
enum parse_res cli_control_frame(const unsigned char *in, size_t len,
    size_t max, const char *types, unsigned char *type_r,
    size_t *body_len_r, size_t *used_r);

struct cli_control_req {
	unsigned char cmd;		/* CLI_CONTROL_TRAIN ... */
	enum bayes_class cls;
	char user[BAYES_USER_MAX + 1];	/* "" = the global set */
	const unsigned char *msg;	/* in the body parsed */
	size_t msg_len;
};

/* cli_control_req_parse - a request's body; -1 with err (one line) */
int cli_control_req_parse(unsigned char cmd, const unsigned char *body,
    size_t len, struct cli_control_req *r, struct buf *err) WARN_UNUSED;
/*
 * cli_control_req_head - a request's header and the body up to its
 * message, whose msg_len bytes the caller sends after it.  user may be
 * NULL; PANIC past BAYES_USER_MAX or CLI_CONTROL_MSG_MAX (checked by the
 * caller).
 */
void cli_control_req_head(struct buf *out, unsigned char cmd,
    enum bayes_class cls, const char *user, size_t msg_len);

struct cli_control_reply {
	unsigned char type;		/* CLI_CONTROL_GREETING ... */
	uint32_t version;		/* greeting */
	enum bayes_outcome outcome;	/* outcome */
	struct bayes_result result;	/* result */
	struct bayes_stats sets[2];	/* sets: global, the user's */
	size_t nsets;
	char error[CLI_CONTROL_ERROR_MAX + 1];	/* error, NUL-terminated */
};

/* cli_control_reply_parse - a reply's body; -1 with err (one line) */
int cli_control_reply_parse(unsigned char type, const unsigned char *body,
    size_t len, struct cli_control_reply *r, struct buf *err) WARN_UNUSED;
/* the replies, appended to out as whole frames */
void cli_control_put_greeting(struct buf *out);
void cli_control_put_outcome(struct buf *out, enum bayes_outcome o);
void cli_control_put_result(struct buf *out, const struct bayes_result *r);
void cli_control_put_sets(struct buf *out, const struct bayes_stats *v,
    size_t n);
/* cli_control_put_error - text cut to CLI_CONTROL_ERROR_MAX bytes */
void cli_control_put_error(struct buf *out, const char *text);

/* ---- the server (cli_control.c) ---- */

struct cli_control;

/*
 * cli_control_start - listen on the socket in cfg's data_dir (a stale
 * one removed; -1 when another server answers on it) and serve it from
 * a thread of its own, one more per connection: requests block on the
 * lookup store through b, never on an I/O loop.  Called as server.user.
 * cfg and b outlive the struct.
 */
int cli_control_start(const struct config *cfg, struct bayes *b,
    struct cli_control **cc_r, struct buf *err) WARN_UNUSED;
/* cli_control_stop - close every connection, unlink the socket, wait for
 * the threads; accepts NULL, sets *cc to NULL */
void cli_control_stop(struct cli_control **cc);

/* ---- the client (cli_control.c) ---- */

struct cli_control_conn {
	int fd;
	struct buf in;			/* replies read ahead */
};

/*
 * cli_control_connect - connect to the server of cfg and read its
 * greeting; -1 with err saying why (no server, permission, refused)
 */
int cli_control_connect(const struct config *cfg, struct cli_control_conn *c,
    struct buf *err) WARN_UNUSED;
/* cli_control_send - one request; blocks while the server is behind */
int cli_control_send(struct cli_control_conn *c, unsigned char cmd,
    enum bayes_class cls, const char *user, const unsigned char *msg,
    size_t len, struct buf *err) WARN_UNUSED;
/* cli_control_recv - the next reply: 1, 0 at the server's end of stream,
 * -1 with err */
int cli_control_recv(struct cli_control_conn *c, struct cli_control_reply *r,
    struct buf *err) WARN_UNUSED;
/* cli_control_shutdown - no more requests (the server answers what it
 * has, then closes); both: stop reading too, which wakes a reader */
void cli_control_shutdown(struct cli_control_conn *c, bool both);
/* cli_control_close - accepts one never connected (fd -1) */
void cli_control_close(struct cli_control_conn *c);

#endif
