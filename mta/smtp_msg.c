/*
 * smtp_msg.c - the message as the SMTP client sends it: read from the
 * queue through struct transport_content, line ends made CRLF
 * (smtpc_data.h), and DKIM-signed (RFC 6376) when the domain of its From
 * address has keys.
 *
 * Signing: the From field is looked for in the first SMTP_MSG_HEADER_MAX
 * bytes of the header (common/rfc5322.h: exactly one From field with
 * exactly one address, the rules DMARC aligns with); when its domain (or
 * a parent, dkim_sign.subdomains) has keys, the whole message is read
 * into memory, normalised, signed with dkim_sign_message and sent from
 * memory with the DKIM-Signature fields in front; the signature covers
 * exactly the bytes sent.  XXX a message of up to smtp.max_message_size
 * (50 MB) is held in memory per delivery while it is signed and sent; a
 * streaming signer (dkim_sign_begin/feed/end over libopendkim's
 * dkim_header/dkim_body) would hold only its header.  A library failure
 * to sign defers the message (sending it unsigned could turn a DMARC
 * p=reject of the receiver into a bounce); no key, no From or several:
 * sent unsigned.
 *
 * Unsigned messages are streamed from the queue file, normalised on the
 * fly, in as many passes as the client needs: the scan (exact size,
 * 8-bit content) and the transmission of each transaction.  The scan
 * comes first, before any connection: it reads the content to its end,
 * where the queue checks its SHA-256, so a damaged queue file is found
 * before anything is sent.  XXX the scan pass could go if the spool
 * recorded the normalised size and the 8-bit flag when it accepted the
 * message (the checksum is checked again at the end of every pass).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/rfc5322.h"
#include "common/xalloc.h"
#include "mta/dkim_sign.h"
#include "mta/smtp_client_priv.h"

#define SMTP_MSG_CHUNK (64u * 1024)	/* bytes read from the queue */
#define SMTP_MSG_HEADER_MAX (256u * 1024)	/* looked at for From */

void
smtp_msg_init(struct smtp_msg *m, struct transport_content *c,
    const char *qid)
{
	memset(m, 0, sizeof(*m));
	m->c = c;
	m->qid = qid;
	buf_init(&m->mem, 0);
	smtpc_data_init(&m->norm, false);
}

void
smtp_msg_free(struct smtp_msg *m)
{
	free(m->raw);
	m->raw = NULL;
	buf_free(&m->mem);
}

/* raw_read - the next bytes of the queue file's content, normalised,
 * appended to out; *eof_r at its end (the last line end added) */
static int
raw_read(struct smtp_msg *m, struct buf *out, bool *eof_r, struct buf *err)
{
	struct buf why = BUF_INIT(0);
	size_t n = 0;

	if (m->raw == NULL)
		m->raw = xmalloc(SMTP_MSG_CHUNK);
	if (transport_content_read(m->c, m->raw, SMTP_MSG_CHUNK, &n,
	    &why) < 0) {
		buf_addf(err, "error reading queue file: %s", buf_cstr(&why));
		buf_free(&why);
		return -1;
	}
	buf_free(&why);
	if (n == 0) {
		smtpc_data_end(&m->norm, out);
		*eof_r = true;
	} else {
		smtpc_data_feed(&m->norm, m->raw, n, out);
		*eof_r = false;
	}
	return 0;
}

/* from_domain - the domain that signs: "" when the message is not to be
 * signed (logged at debug level, why) */
static void
from_domain(struct smtp_msg *m, const struct dkim_signer *s, size_t hlen,
    char dom[RFC5322_DOMAIN_SIZE])
{
	struct buf value = BUF_INIT(0);
	const char *why = NULL;
	size_t nfrom;

	dom[0] = '\0';
	nfrom = rfc5322_header_find(m->mem.data, hlen, "From", &value);
	if (nfrom != 1)
		why = nfrom == 0 ? "no From field" : "several From fields";
	else if (rfc5322_from_domain(buf_cstr(&value), dom, &why) < 0)
		dom[0] = '\0';
	else if (dkim_sign_domain(s, dom) == NULL) {
		why = "no key for the From domain";
		dom[0] = '\0';
	}
	if (why != NULL)
		log_debug(SMTPC_SVC, "%s: not DKIM-signed: %s", m->qid, why);
	buf_free(&value);
}

int
smtp_msg_prepare(struct smtp_msg *m, const struct dkim_signer *s,
    struct buf *err)
{
	struct buf sig = BUF_INIT(0), why = BUF_INIT(0);
	char dom[RFC5322_DOMAIN_SIZE];
	bool eof = false, complete = false;
	size_t hlen = 0;
	int rc = -1;

	if (s == NULL || dkim_sign_nkeys(s) == 0)
		return 0;
	if (smtp_msg_rewind(m, err) < 0)
		return -1;
	while (!eof && !complete && m->mem.len < SMTP_MSG_HEADER_MAX) {
		if (raw_read(m, &m->mem, &eof, err) < 0)
			goto out;
		hlen = rfc5322_header_len(m->mem.data, m->mem.len,
		    &complete);
	}
	from_domain(m, s, hlen, dom);
	if (dom[0] == '\0') {
		rc = 0;
		goto out;
	}
	while (!eof)
		if (raw_read(m, &m->mem, &eof, err) < 0)
			goto out;
	switch (dkim_sign_message(s, dom, m->qid, m->mem.data, m->mem.len,
	    &sig, &why)) {
	case DKIM_SIGN_DONE:
		(void)snprintf(m->dkim_domain, sizeof(m->dkim_domain), "%s",
		    dkim_sign_domain(s, dom));
		log_debug(SMTPC_SVC, "%s: DKIM-signed, d=%s", m->qid,
		    m->dkim_domain);
		buf_add(&sig, m->mem.data, m->mem.len);
		buf_free(&m->mem);
		m->mem = sig;
		buf_init(&sig, 0);
		break;
	case DKIM_SIGN_SKIPPED:
		log_debug(SMTPC_SVC, "%s: not DKIM-signed: %s", m->qid,
		    buf_cstr(&why));
		break;
	case DKIM_SIGN_ERROR:
		buf_addf(err, "DKIM signing failed: %s", buf_cstr(&why));
		goto out;
	}
	/* read whole: sent from memory, signed or not */
	m->in_mem = true;
	rc = 0;
out:
	if (!m->in_mem)
		buf_free(&m->mem);
	buf_free(&sig);
	buf_free(&why);
	return rc;
}

int
smtp_msg_rewind(struct smtp_msg *m, struct buf *err)
{
	struct buf why = BUF_INIT(0);
	int rc = 0;

	if (m->in_mem) {
		m->mem_off = 0;
		return 0;
	}
	smtpc_data_init(&m->norm, false);
	m->eof = false;
	if (transport_content_rewind(m->c, &why) < 0) {
		buf_addf(err, "error reading queue file: %s", buf_cstr(&why));
		rc = -1;
	}
	buf_free(&why);
	return rc;
}

int
smtp_msg_read(struct smtp_msg *m, struct buf *out, size_t want,
    bool *eof_r, struct buf *err)
{
	size_t start = out->len;

	if (m->in_mem) {
		size_t n = m->mem.len - m->mem_off;

		if (n > want)
			n = want;
		buf_add(out, m->mem.data + m->mem_off, n);
		m->mem_off += n;
		*eof_r = m->mem_off == m->mem.len;
		return 0;
	}
	while (!m->eof && out->len - start < want)
		if (raw_read(m, out, &m->eof, err) < 0)
			return -1;
	*eof_r = m->eof;
	return 0;
}

int
smtp_msg_scan(struct smtp_msg *m, struct buf *err)
{
	struct buf chunk = BUF_INIT(0);
	bool eof = false;

	if (m->scanned)
		return 0;
	smtpc_scan_init(&m->scan);
	if (smtp_msg_rewind(m, err) < 0)
		return -1;
	while (!eof) {
		buf_reset(&chunk);
		if (smtp_msg_read(m, &chunk, SMTP_MSG_CHUNK, &eof, err) < 0) {
			buf_free(&chunk);
			return -1;
		}
		smtpc_scan_feed(&m->scan, chunk.data, chunk.len);
	}
	buf_free(&chunk);
	m->scanned = true;
	return 0;
}
