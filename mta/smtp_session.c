/*
 * smtp_session.c - opening an SMTP conversation of the client: the
 * greeting, EHLO (HELO when EHLO is refused), STARTTLS (RFC 3207) as the
 * host's TLS mode says, AUTH PLAIN to the relay (RFC 4954, RFC 4616);
 * and QUIT.  Transactions are smtp_txn.c's.
 *
 * Every reply goes through smtpc_parse (smtp_io_reply); every wait has
 * the deadline of its step (smtp_client.*_timeout).  What the peer says
 * becomes a failure to report or a host to skip, never a crash or an
 * endless wait.
 *
 * Decisions:
 *   - Greeting or EHLO refused (4xx, 5xx), a lost or malformed
 *     conversation before MAIL: the host is not usable, the caller tries
 *     the next one (smtp_cache.c); the host's reply is the result's text
 *     if none is left.  EHLO answered with 5xx (but 554): HELO, and no
 *     extensions.
 *   - STARTTLS as the host's TLS policy says (mta/smtp_tlspolicy.h,
 *     through struct smtp_host_tls).  Not required (may, MTA-STS
 *     testing): a refused STARTTLS goes on in plain text; a failed
 *     handshake leaves the connection unusable, the caller connects again
 *     without TLS (RFC 7435 opportunistic security).  Required (encrypt,
 *     verify, DANE, MTA-STS enforce, AUTH): a host without TLS is
 *     skipped, never used in clear text: 4.7.4 when STARTTLS is not
 *     offered, the reply when it is refused, 4.7.5 when the handshake or
 *     the certificate fails.  Bytes that arrive with the 220 to STARTTLS
 *     are refused (they would be read as if they came over TLS: the
 *     client side of CVE-2011-0411).  EHLO again after the handshake
 *     (RFC 3207 4.2), and never before the policy's check passed.
 *   - The certificate: the policy sets the SSL up
 *     (smtp_tlspolicy_ssl_setup: SNI, the DANE records or the PKIX store
 *     and name); where a certificate must pass (dane, verify) OpenSSL
 *     ends the handshake on one that does not, and the policy's check
 *     says why.  After the handshake the check decides
 *     (smtp_tlspolicy_ssl_check); OpenSSL's result is logged in
 *     Postfix's words ("Untrusted", "Trusted": the chain verifies to a CA
 *     of tls_ca_file or the system's, "Verified": the policy
 *     authenticated it, or in may mode the chain is for the host's name
 *     too), with what the policy noted ("dane: DANE-EE(3) 1 1 matched").
 *   - AUTH: PLAIN only, over TLS only; a relay that offers no AUTH gets
 *     the mail without (logged); the credentials are wiped from memory
 *     after use.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "common/log.h"
#include "common/tls.h"
#include "common/xalloc.h"
#include "mta/smtp_client_priv.h"

#define SMTPC_QUIT_TIMEOUT 10		/* seconds for QUIT's reply, at most */

/* cmd_reply - write a command, read its reply; -1 fills f */
int
smtp_session_cmd(struct smtp_conn *conn, const char *cmd, unsigned timeout,
    const char *phase, struct smtpc_reply *r, struct smtp_fail *f)
{
	struct buf why = BUF_INIT(0);
	int rc = 0;

	if (smtp_io_write(&conn->io, cmd, strlen(cmd), timeout, &why) < 0 ||
	    smtp_io_reply(&conn->io, r, timeout, &why) < 0) {
		smtp_fail_io(conn, f, phase, &why);
		rc = -1;
	}
	buf_free(&why);
	return rc;
}

/* ---- opening a session ---- */

static int
ehlo(struct smtp_client *c, struct smtp_conn *conn, struct smtp_fail *f)
{
	struct smtpc_reply r;
	struct buf cmd = BUF_INIT(0);
	unsigned t = c->cc->helo_timeout;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	memset(&conn->caps, 0, sizeof(conn->caps));
	buf_addf(&cmd, "EHLO %s\r\n", c->cc->helo_name);
	if (smtp_session_cmd(conn, buf_cstr(&cmd), t, "performing the EHLO "
	    "handshake", &r, f) < 0)
		goto out;
	if (r.code == 250) {
		(void)smtpc_ehlo_parse(&r, &conn->caps);
		conn->esmtp = true;
		rc = 0;
		goto out;
	}
	if (r.code >= 500 && r.code != 554) {
		/* no ESMTP: HELO, and no extension at all */
		buf_reset(&cmd);
		buf_addf(&cmd, "HELO %s\r\n", c->cc->helo_name);
		if (smtp_session_cmd(conn, buf_cstr(&cmd), t, "performing "
		    "the HELO handshake", &r, f) < 0)
			goto out;
		if (r.code == 250) {
			conn->esmtp = false;
			rc = 0;
			goto out;
		}
	}
	smtp_fail_reply(f, &r);
	f->st = TRANSPORT_TEMPFAIL;	/* the next host may take it */
out:
	smtpc_reply_free(&r);
	buf_free(&cmd);
	return rc;
}

static bool
is_host_name(const char *s)
{
	return s[0] != '[' && strchr(s, ':') == NULL &&
	    dns_is_host_name(s, strlen(s)) &&
	    strspn(s, "0123456789.") != strlen(s);
}

/* tls_setup - a new SSL for conn, set up by the policy for host h */
static SSL *
tls_setup(struct smtp_client *c, struct smtp_conn *conn,
    const struct smtp_route_host *h, const struct smtp_tlspolicy_result *pol,
    const struct smtp_host_tls *t, struct smtp_fail *f)
{
	struct buf why = BUF_INIT(0);
	SSL *ssl = SSL_new(c->ssl_ctx);

	if (ssl == NULL) {
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, SMTP_TLSPOLICY_DSN, 0,
		    "TLS with %s: cannot set up the session", conn->relay);
	} else if (smtp_tlspolicy_ssl_setup(pol, h->name, ssl, &why) < 0) {
		/* as a failed handshake: cleartext only where allowed */
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, SMTP_TLSPOLICY_DSN, 0,
		    "TLS with %s: %s", conn->relay, buf_cstr(&why));
		f->retry_plain = !t->required;
		SSL_free(ssl);
		ssl = NULL;
	}
	buf_free(&why);
	return ssl;
}

/* not_verified - f: the certificate of conn's peer did not pass pol */
static void
not_verified(const struct smtp_conn *conn,
    const struct smtp_tlspolicy_result *pol, const struct smtp_host_tls *t,
    const struct buf *why, struct smtp_fail *f)
{
	smtp_fail_set(f, TRANSPORT_TEMPFAIL, SMTP_TLSPOLICY_DSN, 0, "server "
	    "certificate not verified for %s (TLS policy %s, %s): %s",
	    conn->relay, smtp_tlspolicy_source_name(pol->source),
	    smtp_tlspolicy_mode_name(t->mode), buf_cstr(why));
}

/* tls_check - after the handshake: the policy's verdict, logged as
 * Postfix does ("Untrusted TLS connection established to ..."); -1 (f)
 * when the policy refuses the session */
static int
tls_check(struct smtp_conn *conn, const struct smtp_route_host *h,
    const struct smtp_tlspolicy_result *pol, const struct smtp_host_tls *t,
    const char *qid, struct smtp_fail *f)
{
	SSL *ssl = conn->io.ssl;
	X509 *peer = SSL_get1_peer_certificate(ssl);
	long vr = SSL_get_verify_result(ssl);
	bool trusted = peer != NULL && vr == X509_V_OK, anon = peer == NULL;
	bool named;
	struct buf note = BUF_INIT(0), err = BUF_INIT(0);
	char desc[160];
	int rc;

	conn->tls = true;
	rc = smtp_tlspolicy_ssl_check(pol, h->name, ssl, &note, &err);
	conn->verified = rc == 0 && t->authenticated;
	if (conn->verified) {
		struct buf key = BUF_INIT(0);

		smtp_tlspolicy_auth_key(pol, h->name, &key);
		free(conn->verified_for);
		conn->verified_for = buf_steal(&key, NULL);
	}
	/* "Verified" without a policy that asked: the chain is for the name */
	named = conn->verified || (trusted && is_host_name(h->name) &&
	    X509_check_host(peer, h->name, strlen(h->name),
	    X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1);
	X509_free(peer);
	tls_describe(ssl, desc, sizeof(desc));
	log_info(SMTPC_SVC, "%s: %s TLS connection established to %s: %s%s%s",
	    qid, named ? "Verified" : trusted ? "Trusted" :
	    anon ? "Anonymous" : "Untrusted", conn->relay, desc,
	    trusted ? "" : "; certificate: ",
	    trusted ? "" : X509_verify_cert_error_string(vr));
	if (note.len > 0 && note.data[note.len - 1] == '\n')
		note.data[--note.len] = '\0';
	if (note.len > 0)
		log_info(SMTPC_SVC, "%s: TLS with %s: %s", qid, conn->relay,
		    buf_cstr(&note));
	if (rc < 0) {
		not_verified(conn, pol, t, &err, f);
		log_info(SMTPC_SVC, "%s: %s", qid, buf_cstr(&f->text));
	}
	buf_free(&note);
	buf_free(&err);
	return rc;
}

/* starttls - 0: TLS on; 1: refused, plain text goes on (TLS not
 * required); -1 (f) */
static int
starttls(struct smtp_client *c, struct smtp_conn *conn,
    const struct smtp_route_host *h, const struct smtp_tlspolicy_result *pol,
    const struct smtp_host_tls *t, const char *qid, struct smtp_fail *f)
{
	struct smtpc_reply r;
	struct buf why = BUF_INIT(0);
	unsigned to = c->cc->helo_timeout;
	SSL *ssl;
	int rc = -1;

	memset(&r, 0, sizeof(r));
	if (smtp_session_cmd(conn, "STARTTLS\r\n", to, "sending STARTTLS", &r,
	    f) < 0)
		goto out;
	if (r.code != 220) {
		if (!t->required) {
			log_info(SMTPC_SVC, "%s: %s refused STARTTLS (%u); "
			    "going on without TLS", qid, conn->relay, r.code);
			rc = 1;
			goto out;
		}
		smtp_fail_reply(f, &r);
		f->st = TRANSPORT_TEMPFAIL;
		goto out;
	}
	if (smtp_io_has_unread(&conn->io)) {
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.7.5", 0, "%s sent data "
		    "after its reply to STARTTLS", conn->relay);
		goto out;
	}
	if ((ssl = tls_setup(c, conn, h, pol, t, f)) == NULL)
		goto out;
	if (smtp_io_starttls(&conn->io, ssl, to, &why) < 0) {
		struct buf err = BUF_INIT(0);

		smtp_fail_io(conn, f, "performing the TLS handshake", &why);
		/* a certificate that did not pass ended it: the policy says
		 * why (with SSL_VERIFY_PEER OpenSSL stops at the first
		 * error, and its own text is a bare "certificate verify
		 * failed") */
		if (conn->io.fail == SMTP_IO_TLS && t->authenticated &&
		    SSL_get_verify_result(conn->io.ssl) != X509_V_OK &&
		    smtp_tlspolicy_ssl_check(pol, h->name, conn->io.ssl, NULL,
		    &err) < 0)
			not_verified(conn, pol, t, &err, f);
		buf_free(&err);
		f->retry_plain = !t->required && conn->io.fail == SMTP_IO_TLS;
		goto out;
	}
	if (tls_check(conn, h, pol, t, qid, f) < 0)
		goto out;
	rc = ehlo(c, conn, f);
out:
	smtpc_reply_free(&r);
	buf_free(&why);
	return rc;
}

/* auth - AUTH PLAIN (RFC 4616) over TLS, when the relay offers AUTH */
static int
auth(struct smtp_client *c, struct smtp_conn *conn, const char *qid,
    struct smtp_fail *f)
{
	const char *user = c->cc->relay_user, *pass = c->relay_pass;
	size_t ulen = strlen(user), plen = strlen(pass), n = ulen + plen + 2;
	unsigned char *raw, *b64;
	struct buf cmd = BUF_INIT(0);
	struct smtpc_reply r;
	int rc = -1;

	if ((conn->caps.ext & SMTPC_EXT_AUTH) == 0) {
		log_warn(SMTPC_SVC, "%s: relay %s offers no AUTH; sending "
		    "without", qid, conn->relay);
		return 0;
	}
	if (!conn->tls) {
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.7.10", 0,
		    "no AUTH to %s without TLS", conn->relay);
		return -1;
	}
	if ((conn->caps.auth & SMTPC_AUTH_PLAIN) == 0) {
		smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.7.0", 0, "%s offers no "
		    "AUTH mechanism we use (PLAIN)", conn->relay);
		return -1;
	}
	memset(&r, 0, sizeof(r));
	raw = xmalloc(n);
	b64 = xmalloc(4 * (n / 3 + 1) + 1);
	raw[0] = '\0';
	memcpy(raw + 1, user, ulen);
	raw[1 + ulen] = '\0';
	memcpy(raw + 2 + ulen, pass, plen);
	(void)EVP_EncodeBlock(b64, raw, (int)n);
	buf_addf(&cmd, "AUTH PLAIN %s\r\n", (const char *)b64);
	if (smtp_session_cmd(conn, buf_cstr(&cmd), c->cc->helo_timeout,
	    "performing the AUTH handshake", &r, f) == 0) {
		if (r.code == 235) {
			conn->authed = true;
			rc = 0;
		} else {
			struct buf t = BUF_INIT(0);

			if (smtpc_reply_format(&r, &t) < 0)
				PANIC("auth: format");
			smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.7.0", 0,
			    "SASL authentication failed; server %s said: %s",
			    conn->relay, buf_cstr(&t));
			buf_free(&t);
		}
	}
	OPENSSL_cleanse(raw, n);
	OPENSSL_cleanse(b64, 4 * (n / 3 + 1) + 1);
	OPENSSL_cleanse(cmd.data, cmd.len);
	free(raw);
	free(b64);
	buf_free(&cmd);
	smtpc_reply_free(&r);
	return rc;
}

int
smtp_session_open(struct smtp_client *c, struct smtp_conn *conn,
    const struct smtp_route_host *h, const struct netaddr *a,
    const struct smtp_tlspolicy_result *pol, const struct smtp_host_tls *t,
    bool use_auth, const char *qid, struct smtp_fail *f)
{
	struct buf why = BUF_INIT(0);
	struct smtpc_reply r;
	char ip[NETADDR_STRLEN];
	int rc;

	memset(conn, 0, sizeof(*conn));
	memset(&r, 0, sizeof(r));
	smtp_io_init(&conn->io, c->stop_pipe[0]);
	conn->addr = *a;
	netaddr_ip((const struct sockaddr *)&a->ss, ip);
	(void)snprintf(conn->relay, sizeof(conn->relay), "%s[%s]:%u",
	    h->name, ip, netaddr_port((const struct sockaddr *)&a->ss));
	memcpy(f->relay, conn->relay, sizeof(f->relay));
	f->retry_plain = f->greeted = false;
	if (smtp_io_connect(&conn->io, a, c->cc->connect_timeout, &why) < 0 ||
	    smtp_io_reply(&conn->io, &r, c->cc->helo_timeout, &why) < 0) {
		smtp_fail_io(conn, f, "receiving the initial server greeting",
		    &why);
		goto fail;
	}
	f->greeted = true;
	if (r.code != 220) {
		smtp_fail_reply(f, &r);
		f->st = TRANSPORT_TEMPFAIL;
		goto fail;
	}
	if (ehlo(c, conn, f) < 0)
		goto fail;
	if (t->wanted) {
		if ((conn->caps.ext & SMTPC_EXT_STARTTLS) != 0) {
			if ((rc = starttls(c, conn, h, pol, t, qid, f)) < 0)
				goto fail;
		} else if (t->required) {
			/* never the mail in cleartext: this host failed */
			smtp_fail_set(f, TRANSPORT_TEMPFAIL, "4.7.4", 0,
			    "TLS is required, but was not offered by host %s",
			    conn->relay);
			goto fail;
		}
	}
	/* safety net: nothing past this point without TLS if required */
	ASSERT(conn->tls || !t->required);
	if (use_auth && auth(c, conn, qid, f) < 0)
		goto fail;
	log_debug(SMTPC_SVC, "%s: connected to %s%s%s", qid, conn->relay,
	    conn->tls ? " with TLS" : "", conn->esmtp ? "" : " (HELO)");
	smtpc_reply_free(&r);
	buf_free(&why);
	return 0;
fail:
	smtpc_reply_free(&r);
	buf_free(&why);
	smtp_io_close(&conn->io);
	free(conn->verified_for);
	conn->verified_for = NULL;
	return -1;
}

void
smtp_session_quit(struct smtp_client *c, struct smtp_conn **connp,
    bool polite)
{
	struct smtp_conn *conn = *connp;
	struct buf why = BUF_INIT(0);
	struct smtpc_reply r;
	unsigned t = c->cc->helo_timeout < SMTPC_QUIT_TIMEOUT ?
	    c->cc->helo_timeout : SMTPC_QUIT_TIMEOUT;

	if (conn == NULL)
		return;
	memset(&r, 0, sizeof(r));
	if (polite && conn->io.fd >= 0 && smtp_io_write(&conn->io,
	    "QUIT\r\n", 6, t, &why) == 0 &&
	    smtp_io_reply(&conn->io, &r, t, &why) < 0) {
		/* closed all the same: the mail is done */
	}
	smtpc_reply_free(&r);
	buf_free(&why);
	smtp_io_close(&conn->io);
	smtpc_parser_free(&conn->io.parser);
	free(conn->verified_for);
	free(conn);
	*connp = NULL;
}
