/*
 * smtp_tlspolicy_ssl.c - a TLS policy result applied to one OpenSSL
 * client connection, and the handshake judged against it (contract in
 * smtp_tlspolicy.h).
 *
 * DANE is OpenSSL's (SSL_dane_enable and friends, OpenSSL 1.1+): the
 * usable TLSA records are handed over as they are, and OpenSSL matches
 * them during chain verification.  RFC 7672 3.1.1: a DANE-EE(3) match
 * authenticates the key alone, no name or validity check
 * (DANE_FLAG_NO_DANE_EE_NAMECHECKS); 3.2.2/3.2.3: with DANE-TA(2) the
 * leaf must name the TLSA base domain (the MX host, or its CNAME
 * expansion where the records were found: then the MX host's own name
 * is accepted too), no partial wildcards ("mx*.example.com"), an
 * ordinary wildcard allowed.  SNI is the TLSA base domain (8.1).
 * PKIX (verify, MTA-STS, RFC 8461 4.1) uses the policy's CA store
 * through SSL_set1_verify_cert_store, so the transport's SSL_CTX needs no
 * CA setup of its own, and SSL_set1_host for the MX host name (RFC 6125
 * rules: wildcard in the leftmost label only).
 *
 * The enforced modes set SSL_VERIFY_PEER: a certificate that does not
 * pass ends the handshake, so even a transport that forgot to call
 * smtp_tlspolicy_ssl_check could not talk to an impostor.  The check
 * after the handshake then says why, and is the one place that decides
 * "testing: deliver anyway".
 */
#include <string.h>

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "mta/smtp_tlspolicy.h"

int
smtp_tlspolicy_ctx_init(SSL_CTX *ctx, struct buf *err)
{
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		buf_addf(err, "SSL_CTX_dane_enable: %s",
		    ERR_reason_error_string(ERR_get_error()));
		return -1;
	}
	return 0;
}

/* host without its trailing dot, NUL-terminated, in out */
static int
host_name(const char *host, char out[DNS_NAME_MAX + 1], struct buf *err)
{
	size_t n = strlen(host);

	if (n > 1 && host[n - 1] == '.')
		n--;
	if (n == 0 || n > DNS_NAME_MAX) {
		buf_add_str(err, "TLS policy: bad host name");
		return -1;
	}
	memcpy(out, host, n);
	out[n] = '\0';
	return 0;
}

static bool
is_ip_literal(const char *s)
{
	unsigned char a[16];

	return s[0] == '[' || inet_pton(AF_INET, s, a) == 1 ||
	    inet_pton(AF_INET6, s, a) == 1;
}

static int
ssl_fail(struct buf *err, const char *what, const char *host)
{
	unsigned long e = ERR_get_error();

	buf_addf(err, "TLS policy for %s: %s%s%s", host, what,
	    e != 0 ? ": " : "", e != 0 ? ERR_reason_error_string(e) : "");
	ERR_clear_error();
	return -1;
}

static int
setup_dane(const struct smtp_tlspolicy_host *h, const char *name, SSL *ssl,
    struct buf *err)
{
	char base[DNS_NAME_MAX + 1];
	size_t usable = 0;

	if (h == NULL || h->ntlsa == 0)
		return ssl_fail(err, "no TLSA record to match", name);
	if (host_name(h->base != NULL ? h->base : name, base, err) < 0)
		return -1;
	/* SNI and the first reference identifier: the TLSA base domain */
	if (SSL_set_tlsext_host_name(ssl, base) != 1)
		return ssl_fail(err, "cannot set SNI", base);
	if (SSL_dane_enable(ssl, base) <= 0)
		return ssl_fail(err, "SSL_dane_enable failed", name);
	if (strcmp(base, name) != 0 && SSL_add1_host(ssl, name) != 1)
		return ssl_fail(err, "SSL_add1_host failed", name);
	(void)SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	for (size_t i = 0; i < h->ntlsa; i++) {
		const struct smtp_tlspolicy_tlsa *t = &h->tlsa[i];
		int rc = SSL_dane_tlsa_add(ssl, t->usage, t->selector,
		    t->mtype, t->data, t->len);

		if (rc < 0)
			return ssl_fail(err, "SSL_dane_tlsa_add failed", name);
		usable += rc > 0;
	}
	ERR_clear_error();	/* unusable records leave errors behind */
	if (usable == 0)
		return ssl_fail(err, "OpenSSL finds no TLSA record usable",
		    name);
	SSL_set_verify(ssl, SSL_VERIFY_PEER, NULL);
	return 0;
}

static int
setup_pkix(const struct smtp_tlspolicy_result *r, const char *name,
    SSL *ssl, bool enforce, struct buf *err)
{
	if (r->store == NULL || SSL_set1_verify_cert_store(ssl, r->store) != 1)
		return ssl_fail(err, "no CA store", name);
	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (SSL_set1_host(ssl, name) != 1)
		return ssl_fail(err, "SSL_set1_host failed", name);
	SSL_set_verify(ssl, enforce ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
	    NULL);
	return 0;
}

int
smtp_tlspolicy_ssl_setup(const struct smtp_tlspolicy_result *r,
    const char *host, SSL *ssl, struct buf *err)
{
	const struct smtp_tlspolicy_host *h = smtp_tlspolicy_host(r, host);
	enum smtp_tlspolicy_mode mode = smtp_tlspolicy_mode(r, host);
	char name[DNS_NAME_MAX + 1];

	if (!smtp_tlspolicy_mx_allowed(r, host, err))
		return -1;
	if (host_name(host, name, err) < 0)
		return -1;
	/* DANE may name another base domain: setup_dane sets it again */
	if (!is_ip_literal(name) && SSL_set_tlsext_host_name(ssl, name) != 1)
		return ssl_fail(err, "cannot set SNI", name);
	switch (mode) {
	case SMTP_TLSPOLICY_MODE_DANE:
		return setup_dane(h, name, ssl, err);
	case SMTP_TLSPOLICY_MODE_VERIFY:
		return setup_pkix(r, name, ssl, true, err);
	case SMTP_TLSPOLICY_MODE_TESTING:
		return setup_pkix(r, name, ssl, false, err);
	case SMTP_TLSPOLICY_MODE_NONE:
	case SMTP_TLSPOLICY_MODE_MAY:
	case SMTP_TLSPOLICY_MODE_ENCRYPT:
		break;
	}
	SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
	return 0;
}

/* why the peer's certificate did not pass, for err or note */
static void
verify_why(SSL *ssl, struct buf *out)
{
	long vr = SSL_get_verify_result(ssl);

	if (vr != X509_V_OK)
		buf_add_str(out, X509_verify_cert_error_string(vr));
	else if (!SSL_is_init_finished(ssl))
		buf_add_str(out, "the TLS handshake did not complete");
	else
		buf_add_str(out, "no server certificate");
}

static bool
pkix_ok(SSL *ssl)
{
	return SSL_is_init_finished(ssl) &&
	    SSL_get0_peer_certificate(ssl) != NULL &&
	    SSL_get_verify_result(ssl) == X509_V_OK;
}

static int
check_dane(const char *host, SSL *ssl, struct buf *note, struct buf *err)
{
	static const char *const usages[] = {
		"PKIX-TA(0)", "PKIX-EE(1)", "DANE-TA(2)", "DANE-EE(3)",
	};
	uint8_t usage = 0, selector = 0, mtype = 0;
	int depth;

	if (!pkix_ok(ssl) || (depth = SSL_get0_dane_authority(ssl, NULL,
	    NULL)) < 0) {
		buf_addf(err, "DANE authentication of %s failed: ", host);
		verify_why(ssl, err);
		return -1;
	}
	(void)SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, NULL, NULL);
	if (note != NULL)
		buf_addf(note, "dane: %s %u %u matched at depth %d\n",
		    usage < 4 ? usages[usage] : "?", selector, mtype, depth);
	return 0;
}

int
smtp_tlspolicy_ssl_check(const struct smtp_tlspolicy_result *r,
    const char *host, SSL *ssl, struct buf *note, struct buf *err)
{
	switch (smtp_tlspolicy_mode(r, host)) {
	case SMTP_TLSPOLICY_MODE_DANE:
		return check_dane(host, ssl, note, err);
	case SMTP_TLSPOLICY_MODE_VERIFY:
		if (!pkix_ok(ssl)) {
			buf_addf(err, "the certificate of %s is not verified "
			    "(%s): ", host, smtp_tlspolicy_source_name(
			    r->source));
			verify_why(ssl, err);
			return -1;
		}
		if (note != NULL)
			buf_addf(note, "%s: certificate verified for %s\n",
			    smtp_tlspolicy_source_name(r->source), host);
		return 0;
	case SMTP_TLSPOLICY_MODE_TESTING:
		if (note == NULL)
			return 0;
		if (pkix_ok(ssl)) {
			buf_addf(note, "mta-sts testing: certificate verified "
			    "for %s\n", host);
			return 0;
		}
		buf_addf(note, "mta-sts testing: the certificate of %s is not "
		    "verified (", host);
		verify_why(ssl, note);
		buf_add_str(note, "), delivering anyway\n");
		return 0;
	case SMTP_TLSPOLICY_MODE_ENCRYPT:
	case SMTP_TLSPOLICY_MODE_MAY:
	case SMTP_TLSPOLICY_MODE_NONE:
		break;
	}
	if (!SSL_is_init_finished(ssl) &&
	    smtp_tlspolicy_tls_required(r, host)) {
		buf_addf(err, "TLS with %s is required and the handshake did "
		    "not complete", host);
		return -1;
	}
	return 0;
}
