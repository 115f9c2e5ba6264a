/*
 * smtp_client_priv.h - what the files of the SMTP client share
 * (smtp_client.c, smtp_session.c, smtp_io.c, smtp_msg.c).  Nothing else
 * includes it; mta_priv.h is the inbound server's.
 */
#ifndef POSTERN_SMTP_CLIENT_PRIV_H
#define POSTERN_SMTP_CLIENT_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "common/buf.h"
#include "common/config.h"
#include "mta/smtp_client.h"
#include "mta/smtp_route.h"
#include "mta/smtp_tlspolicy.h"
#include "mta/smtpc_data.h"
#include "mta/smtpc_parse.h"
#include "queue/queue.h"
#include "queue/transport.h"

#define SMTPC_SVC "smtp"
/* room for "name[2001:db8::1]:65535" */
#define SMTPC_RELAY_MAX (DNS_NAME_MAX + NETADDR_STRLEN + 8)

/* ---- smtp_io.c: a socket and its TLS, every wait under a deadline ---- */

#define SMTP_IO_RBUF 16384

/* why the last call of a struct smtp_io failed */
enum smtp_io_fail {
	SMTP_IO_OK,
	SMTP_IO_CONNECT,	/* the TCP connection could not be made */
	SMTP_IO_TIMEOUT,	/* the deadline passed */
	SMTP_IO_LOST,		/* EOF, reset, a write that failed */
	SMTP_IO_PROTO,		/* a reply the parser refused */
	SMTP_IO_TLS,		/* the handshake or a TLS record failed */
	SMTP_IO_STOPPED,	/* smtp_client_stop */
};

struct smtp_io {
	int fd;			/* -1: closed */
	SSL *ssl;		/* after STARTTLS */
	int stop_fd;		/* readable: end every wait; -1: none */
	struct smtpc_parser parser;
	unsigned char rbuf[SMTP_IO_RBUF];
	size_t roff, rlen;	/* received, not yet parsed: rbuf[roff..rlen) */
	enum smtp_io_fail fail;
};

void smtp_io_init(struct smtp_io *io, int stop_fd);
/* smtp_io_connect - non-blocking connect within timeout seconds */
int smtp_io_connect(struct smtp_io *io, const struct netaddr *a,
    unsigned timeout, struct buf *err) WARN_UNUSED;
/* smtp_io_write - all n bytes within timeout seconds */
int smtp_io_write(struct smtp_io *io, const void *p, size_t n,
    unsigned timeout, struct buf *err) WARN_UNUSED;
/* smtp_io_reply - the next complete reply within timeout seconds */
int smtp_io_reply(struct smtp_io *io, struct smtpc_reply *r,
    unsigned timeout, struct buf *err) WARN_UNUSED;
/* smtp_io_has_unread - bytes received past the last reply */
bool smtp_io_has_unread(const struct smtp_io *io);
/* smtp_io_starttls - the client handshake over ssl (owned by io from now
 * on, whatever the outcome) within timeout seconds */
int smtp_io_starttls(struct smtp_io *io, SSL *ssl, unsigned timeout,
    struct buf *err) WARN_UNUSED;
/* smtp_io_is_idle - nothing received and the peer has not closed: fit
 * for another transaction (never blocks) */
bool smtp_io_is_idle(struct smtp_io *io);
/* smtp_io_close - TLS close_notify attempted once, socket closed */
void smtp_io_close(struct smtp_io *io);

/* ---- smtp_msg.c: the message as the client sends it ---- */

struct smtp_msg {
	struct transport_content *c;
	const char *qid;
	unsigned char *raw;	/* read buffer */
	bool in_mem;		/* signed: mem holds the whole message */
	struct buf mem;		/* DKIM-Signature fields + the message */
	size_t mem_off;
	struct smtpc_data norm;	/* line ends, streaming from c */
	bool eof;		/* c read to its end in this pass */
	bool scanned;
	struct smtpc_scan scan;	/* of the message as sent */
	char dkim_domain[DNS_NAME_MAX + 1];	/* d= when signed */
};

void smtp_msg_init(struct smtp_msg *m, struct transport_content *c,
    const char *qid);
void smtp_msg_free(struct smtp_msg *m);
/*
 * smtp_msg_prepare - once per delivery: when the From domain has DKIM
 * keys, read and normalise the whole message into memory and put the
 * signature in front.  -1 (err) only for a content read error.
 */
int smtp_msg_prepare(struct smtp_msg *m, const struct dkim_signer *s,
    struct buf *err) WARN_UNUSED;
/* smtp_msg_scan - m->scan filled (one pass, done once) */
int smtp_msg_scan(struct smtp_msg *m, struct buf *err) WARN_UNUSED;
/* smtp_msg_rewind - start a pass over the message as sent */
int smtp_msg_rewind(struct smtp_msg *m, struct buf *err) WARN_UNUSED;
/* smtp_msg_read - append the next bytes of the pass (about want) to out;
 * *eof_r once none are left */
int smtp_msg_read(struct smtp_msg *m, struct buf *out, size_t want,
    bool *eof_r, struct buf *err) WARN_UNUSED;

/* ---- smtp_session.c: one conversation ---- */

struct smtp_conn {
	struct smtp_io io;
	struct netaddr addr;	/* with its port */
	char relay[SMTPC_RELAY_MAX];	/* "name[addr]:port" */
	struct smtpc_ehlo caps;
	bool esmtp;		/* EHLO worked (else HELO) */
	bool tls;		/* STARTTLS done */
	bool verified;		/* authenticated as the policy wanted */
	char *verified_for;	/* then: smtp_tlspolicy_auth_key (cache) */
	bool authed;		/* AUTH done (relay) */
	unsigned ntxn;		/* transactions begun on it */
	uint64_t idle_since;	/* cached: monotonic us */
	struct smtp_conn *next;	/* in the cache */
};

/* why no session could be had, or what a whole transaction got */
struct smtp_fail {
	enum transport_status st;	/* TEMPFAIL or PERMFAIL */
	char dsn[16];
	unsigned flags;		/* TRANSPORT_F_REMOTE */
	char relay[SMTPC_RELAY_MAX];	/* "" = none reached */
	struct buf text;
	bool retry_plain;	/* TLS not required and the handshake (or its
				 * set-up) failed: try again without */
	bool greeted;		/* the server had answered: a session try */
};

/* smtp_fail.c */
void smtp_fail_init(struct smtp_fail *f);
void smtp_fail_free(struct smtp_fail *f);
/* smtp_fail_set - st, dsn, flags and the text (ours: no reply) */
void smtp_fail_set(struct smtp_fail *f, enum transport_status st,
    const char *dsn, unsigned flags, const char *fmt, ...) PRINTF_LIKE(5, 6);
/* smtp_fail_reply - a reply of the peer: its text, TRANSPORT_F_REMOTE */
void smtp_fail_reply(struct smtp_fail *f, const struct smtpc_reply *r);
/* smtp_fail_io - what conn's I/O said (why), while doing phase
 * ("receiving the initial server greeting") */
void smtp_fail_io(const struct smtp_conn *conn, struct smtp_fail *f,
    const char *phase, const struct buf *why);
/* smtp_fail_apply - f as the result of res */
void smtp_fail_apply(const struct smtp_fail *f, struct transport_result *res);
/* smtp_fail_result - res from a reply of conn's peer to one recipient */
void smtp_fail_result(const struct smtp_conn *conn,
    const struct smtpc_reply *r, struct transport_result *res);

struct smtp_client;

/* smtp_session_cmd - write cmd, read its reply; -1 fills f (phase) */
int smtp_session_cmd(struct smtp_conn *conn, const char *cmd,
    unsigned timeout, const char *phase, struct smtpc_reply *r,
    struct smtp_fail *f) WARN_UNUSED;

/* the TLS one host of a delivery is given (smtp_host_tls) */
struct smtp_host_tls {
	enum smtp_tlspolicy_mode mode;	/* the policy's for the host */
	bool wanted;		/* STARTTLS when offered */
	bool required;		/* no cleartext: the host fails without */
	bool authenticated;	/* the certificate must pass (DANE, verify) */
};

/*
 * smtp_session_open - connect to a (of host h), read the greeting, EHLO,
 * STARTTLS as t says, the handshake set up and judged by pol
 * (smtp_tlspolicy_ssl_setup, _ssl_check), AUTH when auth.  0: conn
 * ready for a transaction; -1: f says why (f->retry_plain: TLS was not
 * required and its handshake failed), conn closed.
 */
int smtp_session_open(struct smtp_client *c, struct smtp_conn *conn,
    const struct smtp_route_host *h, const struct netaddr *a,
    const struct smtp_tlspolicy_result *pol, const struct smtp_host_tls *t,
    bool auth, const char *qid, struct smtp_fail *f) WARN_UNUSED;

struct smtp_txn_rcpt {
	const char *addr;
	const char *params;	/* as stored: NOTIFY=, ORCPT= */
	struct transport_result *res;
	bool accepted;		/* 2xx to RCPT */
};

struct smtp_txn {
	const char *qid;
	const struct queue_envelope *env;
	struct smtp_msg *msg;
	struct smtp_txn_rcpt *rcpt;
	size_t n;
};

enum smtp_txn_end {
	SMTP_TXN_CLEAN,		/* every result filled; conn fit for more */
	SMTP_TXN_BROKEN,	/* every result filled; close conn */
	SMTP_TXN_RETRY,		/* a reused conn was dead before any reply:
				 * nothing filled, try a fresh one */
};

/* smtp_txn_run - one transaction of t's recipients over conn
 * (smtp_txn.c) */
enum smtp_txn_end smtp_txn_run(struct smtp_client *c,
    struct smtp_conn *conn, struct smtp_txn *t);
/* smtp_session_quit - polite: QUIT (a short wait for its reply); then
 * close and free.  Not polite: a broken conversation, just closed */
void smtp_session_quit(struct smtp_client *c, struct smtp_conn **conn,
    bool polite);

/* ---- smtp_cache.c: connections, slots, the cache ---- */

struct smtp_client;
struct smtp_dest;

/* smtp_cache_reaper - the thread closing idle cached connections */
void *smtp_cache_reaper(void *arg);
/* smtp_cache_dest_acquire - a delivery slot for key (a domain, the
 * relay); *ok_r false when none came in time or we stop: release it
 * all the same */
struct smtp_dest *smtp_cache_dest_acquire(struct smtp_client *c,
    const char *key, bool *ok_r);
/* smtp_cache_dest_release - held: *ok_r was true */
void smtp_cache_dest_release(struct smtp_client *c, struct smtp_dest *d,
    bool held);
/* smtp_cache_take - an idle cached connection to one of the route's
 * addresses that suits pol and use_auth, checked alive; NULL: none */
struct smtp_conn *smtp_cache_take(struct smtp_client *c,
    const struct smtp_route *rt, const struct smtp_tlspolicy_result *pol,
    bool use_auth, const char *qid);
/* smtp_cache_open - a new session with the route's hosts in order, those
 * pol allows; NULL with f telling what went wrong last */
struct smtp_conn *smtp_cache_open(struct smtp_client *c,
    const struct smtp_route *rt, const struct smtp_tlspolicy_result *pol,
    bool use_auth, const char *qid, struct smtp_fail *f);
/* smtp_cache_put - keep conn (after a clean transaction) or close it */
void smtp_cache_put(struct smtp_client *c, struct smtp_conn *conn);
/* smtp_cache_close - QUIT when polite, close, free, its slot given back */
void smtp_cache_close(struct smtp_client *c, struct smtp_conn **conn,
    bool polite);

/* ---- smtp_client.c: what the others read of the client ---- */

/* smtp_host_tls - *t for host under pol: the policy's mode, STARTTLS
 * wanted and required as it says, and always both with AUTH (no
 * password in the clear) */
void smtp_host_tls(const struct smtp_tlspolicy_result *pol,
    const char *host, bool use_auth, struct smtp_host_tls *t);

struct smtp_client {
	const struct config *cfg;
	const struct config_smtp_client *cc;
	struct dns *dns;
	const struct dkim_signer *signer;
	SSL_CTX *ssl_ctx;
	char *relay_pass;	/* NULL: no AUTH */
	struct smtp_client_override *ovr;
	size_t novr;
	const char *self_names[2];
	struct netaddr *self_addrs;
	size_t nself_addrs;
	struct smtp_tlspolicy *tp;	/* shared, not ours */
	int stop_pipe[2];	/* [0] readable once stopping */
	pthread_mutex_t mu;	/* what follows */
	pthread_cond_t cv;	/* a connection or destination slot freed,
				 * the cache changed, stopping */
	bool stopping;
	unsigned nconn;		/* open connections, cached ones included */
	struct smtp_conn *cache;	/* idle connections, newest first */
	struct smtp_dest *dests;	/* destinations with deliveries */
	pthread_t reaper;
	bool reaper_running;
};

#endif
