/*
 * milter.h - external milters as pipeline stages (milter.c explains the
 * protocol side).  filters_new makes one stage per "milter:NAME" entry of
 * filters.stages, from the milter.servers entry "NAME=SOCKET[,options]".
 */
#ifndef POSTERN_FILTER_MILTER_H
#define POSTERN_FILTER_MILTER_H

#include "filters/filter.h"

struct milter_conf;

/* milter_conf_parse - "NAME=SOCKET[,timeout=DURATION][,fail=ACTION]" */
int milter_conf_parse(const char *spec, const struct config *cfg,
    struct milter_conf **mc_r, struct buf *err) WARN_UNUSED;
void milter_conf_free(struct milter_conf **mc);
/* milter_conf_name - "milter:NAME" */
const char *milter_conf_name(const struct milter_conf *mc);
/* milter_conf_fail - its fail= (enum filter_fail), or -1: the default */
int milter_conf_fail(const struct milter_conf *mc);

/* the stage; its state is a struct milter_conf */
extern const struct filter_stage_ops filter_stage_milter;

/* ---- a milter's replies (pure; fuzzed by t/fuzz/milter_reply.c) ---- */

#define MILTER_HEADER_NAME_MAX 200	/* a field name we accept */
#define MILTER_HEADER_VALUE_MAX 16384	/* a field value we accept */
#define MILTER_ADDR_MAX 256		/* an envelope address (RFC 5321
					   4.5.3.1.3: a path), no brackets */
#define MILTER_ARGS_MAX 1000		/* ESMTP parameters of an address */

enum milter_reply_kind {
	MILTER_REPLY_FINAL,	/* the answer to the command: action */
	MILTER_REPLY_PROGRESS,	/* SMFIR_PROGRESS: keep waiting */
	MILTER_REPLY_HEADER,	/* a header edit (end of message): apply it,
				   keep reading */
	/* the same for the body and the envelope (end of message only) */
	MILTER_REPLY_BODY,	/* SMFIR_REPLBODY: the next part of the new
				   body (they add up) */
	MILTER_REPLY_RCPT_ADD,	/* SMFIR_ADDRCPT, SMFIR_ADDRCPT_PAR */
	MILTER_REPLY_RCPT_DELETE, /* SMFIR_DELRCPT */
	MILTER_REPLY_SENDER,	/* SMFIR_CHGFROM */
};

enum milter_header_op {
	MILTER_HEADER_ADD,	/* SMFIR_ADDHEADER */
	MILTER_HEADER_INSERT,	/* SMFIR_INSHEADER (applied as an add) */
	MILTER_HEADER_CHANGE,	/* SMFIR_CHGHEADER; value "" deletes */
};

/*
 * struct milter_reply - one reply packet, interpreted.  The views point
 * into the packet data given to milter_reply_parse and live as long as it.
 */
struct milter_reply {
	enum milter_reply_kind kind;
	/* FINAL: continue, accept, reject, tempfail, discard, quarantine */
	enum filter_action action;
	/* REJECT/TEMPFAIL from SMFIR_REPLYCODE: code 4xx (tempfail) or 5xx
	 * (reject), an RFC 3463 ecode of the same class, the text without
	 * control characters; code 0 (SMFIR_REJECT, SMFIR_TEMPFAIL): the
	 * caller's default reply */
	struct filter_reply reply;
	bool skip_body;			/* SMFIR_SKIP (action CONTINUE) */
	/* QUARANTINE: the reason, up to the first NUL (not terminated) */
	const char *reason;
	size_t reason_len;
	/* HEADER: name and value NUL-terminated inside the data; the name
	 * 1..MILTER_HEADER_NAME_MAX printable ASCII characters without ':',
	 * the value at most MILTER_HEADER_VALUE_MAX bytes, every line break
	 * (LF or CRLF, as milters fold) followed by a space or a tab */
	enum milter_header_op op;
	uint32_t index;			/* CHANGE: 1-based occurrence */
	const char *name;
	const char *value;
	/* BODY: the part, all of the packet's data (any bytes, maybe none) */
	const unsigned char *body;
	size_t body_len;
	/* RCPT_ADD, RCPT_DELETE, SENDER: the address of the first
	 * NUL-terminated string, one pair of angle brackets around it
	 * dropped (so not terminated itself): at most MILTER_ADDR_MAX bytes
	 * without controls, blanks, '<' or '>', "local@domain" with both
	 * parts non-empty, or "postmaster" (any case) for a recipient, or
	 * empty for the null sender; args (ADDRCPT_PAR, CHGFROM): a second
	 * NUL-terminated string of at most MILTER_ARGS_MAX bytes without
	 * controls when the packet has one and it is not empty, else NULL */
	const char *addr;
	size_t addr_len;
	const char *args;
};

/*
 * milter_reply_parse - the reply packet cmd with len bytes of data (read
 * within len only: no terminating NUL needed) into *out.  eom: the reply
 * is to SMFIC_BODYEOB, the only time header, body and envelope changes
 * are allowed.  Whether the milter negotiated a change is the caller's
 * business (it knows what was offered).  -1 with a
 * reason for the log in *why_r ("sent a bad reply code") when the milter
 * said something we cannot apply: the caller treats the milter as broken.
 */
int milter_reply_parse(char cmd, const unsigned char *data, size_t len,
    bool eom, struct milter_reply *out, const char **why_r) WARN_UNUSED;

#endif
