/*
 * dkim_sign_test.c - the DKIM signer (mta/dkim_sign.c): keys made at test
 * time (an RSA key by opendkim-genkey, whose own TXT record is the one
 * verified against, and an Ed25519 key by OpenSSL) put where `postern
 * dkim keygen` puts them, signatures checked by libopendkim's verifier
 * and, when python3-dkim is installed, by that independent one.
 * Covered: dual signing (RSA first, both pass, relaxed/relaxed, d=, no
 * i=), h= (present fields only, the over-signed names once more, From
 * twice), a changed header, a changed body, an added From and an added
 * Reply-To failing, the signing domain (exact, parent with subdomains,
 * none without), no key, no From and two From (skipped, output left
 * alone), key checks (mode 0644 and 0660 refused, 0640 taken, garbage,
 * encrypted, RSA-512, a P-256 key, a bad selector file name), listed
 * keys and duplicates, no key_dir at all, the record format (p= as
 * opendkim-genkey's, strings of at most 255 bytes, Ed25519's raw key),
 * CRLF-only output, and four threads signing at once.
 *
 * The Ed25519 signatures are our own (mta/dkim_sign_ed25519.c), so they
 * are held to two implementations that share no code with it: for a
 * table of awkward headers and bodies (empty body, no body, trailing
 * empty and white-space lines, runs of spaces and tabs, folded fields,
 * white space before a colon, empty values, upper-case names, lines
 * longer than the hash buffer), libopendkim's verifier passes both
 * signatures, the RSA one's bh= (libopendkim's body canonicalization)
 * equals ours and both carry the same h=, and python3-dkim passes them
 * too.  Also: repeated fields signed bottom-up (a Received added on top
 * by a relay keeps both signatures, one changed or reordered breaks
 * them), an Ed25519-only domain with a 63-character selector (every line
 * of the field within 78 columns), and no heap kept per signature
 * (mallinfo2; under the sanitizer build LeakSanitizer checks the same at
 * exit, with no suppression).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>

#include "common/config.h"
#include "mta/dkim_sign.h"
#include "t/unit/dkim_fx.h"
#include "t/unit/unit_tmpdir.h"

#define PY "/usr/bin/python3"
#define NTHREADS 4
#define PER_THREAD 10
/* 63 characters: the longest label, so the longest selector */
#define LONGSEL "a-selector-of-sixty-three-characters-to-see-how-the-field-folds"

static const char message[] =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "Subject: DKIM signing test\r\n"
    "Date: Mon, 30 Nov 2026 00:00:00 +0000\r\n"
    "Message-ID: <1@example.org>\r\n"
    "X-Unsigned: not in the list\r\n"
    "\r\n"
    "Hello,\r\n"
    "this is the body.\r\n";

static struct {
	char dir[512];
	struct dkimfx_key rsa, ed;
	DKIM_LIB *verifier;
} g;

/* ---- fixtures ---- */

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* conf - a config whose dkim_sign group is extra */
static struct config *
conf(const char *extra)
{
	struct buf text = BUF_INIT(0), err = BUF_INIT(0);
	struct config *cfg = NULL;

	buf_addf(&text, "server = { data_dir = \"%s/var\"; };\n"
	    "dkim_sign = { ", g.dir);
	if (strstr(extra, "key_dir") == NULL)
		buf_addf(&text, "key_dir = \"%s/dkim\"; ", g.dir);
	buf_addf(&text, "%s };\n", extra);
	write_file("t.conf", buf_cstr(&text), 0600);
	if (config_load("t.conf", &cfg, &err) < 0)
		fail_msg("config: %s", buf_cstr(&err));
	buf_free(&text);
	buf_free(&err);
	return cfg;
}

/* signer_of - dkim_sign_new of extra, expected to work */
static struct dkim_signer *
signer_of(const char *extra)
{
	struct config *cfg = conf(extra);
	struct dkim_signer *s = NULL;
	struct buf err = BUF_INIT(0);

	if (dkim_sign_new(cfg, &s, &err) < 0)
		fail_msg("dkim_sign_new: %s", buf_cstr(&err));
	config_free(&cfg);
	buf_free(&err);
	return s;
}

/* signer_fails - dkim_sign_new of extra fails; its message into err */
static void
signer_fails(const char *extra, struct buf *err)
{
	struct config *cfg = conf(extra);
	struct dkim_signer *s = NULL;

	buf_reset(err);
	assert_int_equal(dkim_sign_new(cfg, &s, err), -1);
	assert_null(s);
	config_free(&cfg);
}

/* ---- verification with libopendkim, keys from our table ---- */

static const char *
record_of(const char *name)
{
	if (strcmp(name, "rsa1._domainkey.example.org") == 0)
		return buf_cstr(&g.rsa.record);
	if (strcmp(name, "ed1._domainkey.example.org") == 0 ||
	    strcmp(name, LONGSEL "._domainkey.example.net") == 0)
		return buf_cstr(&g.ed.record);
	return NULL;
}

static DKIM_CBSTAT
lookup_cb(DKIM *dkim, DKIM_SIGINFO *sig, unsigned char *buf, size_t buflen)
{
	struct buf name = BUF_INIT(0);
	const char *r;

	(void)dkim;
	buf_addf(&name, "%s._domainkey.%s",
	    (const char *)dkim_sig_getselector(sig),
	    (const char *)dkim_sig_getdomain(sig));
	r = record_of(buf_cstr(&name));
	buf_free(&name);
	if (r == NULL)
		return DKIM_CBSTAT_NOTFOUND;
	if (strlen(r) >= buflen)
		return DKIM_CBSTAT_ERROR;
	memcpy(buf, r, strlen(r) + 1);
	return DKIM_CBSTAT_CONTINUE;
}

/* verify - signatures in msg that pass; *nsigs_r how many there are */
static int
verify(const struct buf *msg, int *nsigs_r)
{
	DKIM_SIGINFO **sigs = NULL;
	DKIM_STAT st;
	DKIM *d;
	int nsigs = 0, pass = 0;

	d = dkim_verify(g.verifier, (const unsigned char *)"t", NULL, &st);
	assert_non_null(d);
	assert_int_equal(dkim_chunk(d, msg->data, msg->len), DKIM_STAT_OK);
	assert_int_equal(dkim_chunk(d, NULL, 0), DKIM_STAT_OK);
	(void)dkim_eom(d, NULL);
	if (dkim_getsiglist(d, &sigs, &nsigs) != DKIM_STAT_OK)
		nsigs = 0;
	for (int i = 0; i < nsigs; i++)
		if ((dkim_sig_getflags(sigs[i]) & DKIM_SIGFLAG_PASSED) != 0 &&
		    dkim_sig_getbh(sigs[i]) == DKIM_SIGBH_MATCH)
			pass++;
	dkim_free(d);
	if (nsigs_r != NULL)
		*nsigs_r = nsigs;
	return pass;
}

/* sign - the signed message (signature fields, then msg) into out */
static enum dkim_sign_res
sign(const struct dkim_signer *s, const char *domain, const char *msg,
    struct buf *out, struct buf *why)
{
	enum dkim_sign_res r;

	buf_reset(out);
	buf_reset(why);
	r = dkim_sign_message(s, domain, "TESTQID", (const unsigned char *)msg,
	    strlen(msg), out, why);
	if (r == DKIM_SIGN_DONE)
		buf_add_str(out, msg);
	return r;
}

/* tag - the value of tag t= of the n-th DKIM-Signature in msg, white
 * space removed */
static void
tag(const char *msg, int n, const char *t, struct buf *out)
{
	const char *p = msg, *end;
	size_t tl = strlen(t);

	buf_reset(out);
	for (int i = 0; i <= n; i++) {
		p = strstr(p, "DKIM-Signature:");
		assert_non_null(p);
		p += 15;
	}
	end = strstr(p, "\r\n");
	while (end != NULL && (end[2] == ' ' || end[2] == '\t'))
		end = strstr(end + 2, "\r\n");
	assert_non_null(end);
	for (const char *q = p; q + tl < end; q++) {
		if ((q[-1] == ';' || q[-1] == ' ' || q[-1] == '\t' ||
		    q[-1] == ':') && strncmp(q, t, tl) == 0 && q[tl] == '=') {
			for (q += tl + 1; q < end && *q != ';'; q++)
				if (*q != ' ' && *q != '\t' && *q != '\r' &&
				    *q != '\n')
					buf_add(out, q, 1);
			return;
		}
	}
}

static int
count_names(const char *h, const char *name)
{
	int n = 0;
	size_t len = strlen(name);

	for (const char *p = h; *p != '\0';) {
		const char *c = strchr(p, ':');
		size_t l = c != NULL ? (size_t)(c - p) : strlen(p);

		if (l == len && strncasecmp(p, name, len) == 0)
			n++;
		p += l + (c != NULL);
	}
	return n;
}

static int
group_setup(void **state)
{
	if (unit_tmpdir_setup(state) < 0 ||
	    getcwd(g.dir, sizeof(g.dir)) == NULL)
		return -1;
	if (mkdir("gen", 0700) < 0 || mkdir("dkim", 0700) < 0 ||
	    mkdir("dkim/example.org", 0700) < 0 || mkdir("other", 0700) < 0 ||
	    mkdir("dkim/lost+found", 0700) < 0)	/* not a domain: ignored */
		return -1;
	if (dkimfx_genkey_rsa("gen", "example.org", "rsa1", 2048,
	    &g.rsa) < 0 || dkimfx_genkey_ed25519(&g.ed) < 0)
		return -1;
	write_file("dkim/example.org/rsa1.key", buf_cstr(&g.rsa.priv), 0600);
	write_file("dkim/example.org/ed1.key", buf_cstr(&g.ed.priv), 0640);
	/* not a key: ignored */
	write_file("dkim/example.org/rsa1.txt", buf_cstr(&g.rsa.record),
	    0644);
	g.verifier = dkim_init(NULL, NULL);
	if (g.verifier == NULL ||
	    dkim_set_key_lookup(g.verifier, lookup_cb) != DKIM_STAT_OK)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	dkim_close(g.verifier);
	dkimfx_key_free(&g.rsa);
	dkimfx_key_free(&g.ed);
	return unit_tmpdir_teardown(state);
}

/* ---- tests ---- */

static void
test_dual_signature(void **state)
{
	struct dkim_signer *s = signer_of("");
	struct buf out = BUF_INIT(0), why = BUF_INIT(0), t = BUF_INIT(0);
	int nsigs;

	(void)state;
	assert_int_equal(dkim_sign_nkeys(s), 2);
	assert_string_equal(dkim_sign_key(s, 0)->a, "rsa-sha256");
	assert_string_equal(dkim_sign_key(s, 1)->a, "ed25519-sha256");
	assert_int_equal(sign(s, "example.org", message, &out, &why),
	    DKIM_SIGN_DONE);
	assert_int_equal(verify(&out, &nsigs), 2);
	assert_int_equal(nsigs, 2);
	/* RSA first, the tags we promise */
	tag(buf_cstr(&out), 0, "a", &t);
	assert_string_equal(buf_cstr(&t), "rsa-sha256");
	tag(buf_cstr(&out), 0, "s", &t);
	assert_string_equal(buf_cstr(&t), "rsa1");
	tag(buf_cstr(&out), 1, "a", &t);
	assert_string_equal(buf_cstr(&t), "ed25519-sha256");
	for (int i = 0; i < 2; i++) {
		tag(buf_cstr(&out), i, "c", &t);
		assert_string_equal(buf_cstr(&t), "relaxed/relaxed");
		tag(buf_cstr(&out), i, "d", &t);
		assert_string_equal(buf_cstr(&t), "example.org");
		tag(buf_cstr(&out), i, "i", &t);
		assert_int_equal(t.len, 0);
		tag(buf_cstr(&out), i, "l", &t);
		assert_int_equal(t.len, 0);
	}
	/* upper-case domain, trailing dot: the same */
	assert_int_equal(sign(s, "Example.ORG.", message, &out, &why),
	    DKIM_SIGN_DONE);
	assert_int_equal(verify(&out, NULL), 2);
	dkim_sign_free(&s);
	assert_null(s);
	dkim_sign_free(&s);	/* NULL is fine */
	buf_free(&out);
	buf_free(&why);
	buf_free(&t);
}

static void
test_header_list(void **state)
{
	struct dkim_signer *s = signer_of("");
	struct buf out = BUF_INIT(0), why = BUF_INIT(0), h = BUF_INIT(0);
	static const char *const oversigned[] = { "From", "Reply-To",
		"Subject", "Date", "To", "Cc", "MIME-Version", "Content-Type",
		"Content-Transfer-Encoding" };

	(void)state;
	assert_int_equal(sign(s, "example.org", message, &out, &why),
	    DKIM_SIGN_DONE);
	tag(buf_cstr(&out), 0, "h", &h);
	/* present and listed: once, plus once more when over-signed */
	assert_int_equal(count_names(buf_cstr(&h), "From"), 2);
	assert_int_equal(count_names(buf_cstr(&h), "Subject"), 2);
	assert_int_equal(count_names(buf_cstr(&h), "To"), 2);
	assert_int_equal(count_names(buf_cstr(&h), "Message-ID"), 1);
	/* absent but over-signed: once, so that none may be added */
	assert_int_equal(count_names(buf_cstr(&h), "Reply-To"), 1);
	assert_int_equal(count_names(buf_cstr(&h), "Cc"), 1);
	/* absent and not over-signed, or not listed: never */
	assert_int_equal(count_names(buf_cstr(&h), "References"), 0);
	assert_int_equal(count_names(buf_cstr(&h), "X-Unsigned"), 0);
	for (size_t i = 0; i < ARRAY_SIZE(oversigned); i++)
		assert_true(count_names(buf_cstr(&h), oversigned[i]) >= 1);
	/* the fields end in CRLF and hold no bare LF */
	for (size_t i = 0; i < out.len; i++)
		if (out.data[i] == '\n')
			assert_int_equal(i > 0 && out.data[i - 1] == '\r', 1);
	assert_non_null(strstr(buf_cstr(&out), "\r\nDKIM-Signature: "));
	assert_memory_equal(out.data, "DKIM-Signature: ", 16);
	dkim_sign_free(&s);

	/* a configured list: only it, From always, over-signed too */
	s = signer_of("headers = [ \"Subject\" ]; oversign_headers = [ ];");
	assert_int_equal(sign(s, "example.org", message, &out, &why),
	    DKIM_SIGN_DONE);
	tag(buf_cstr(&out), 0, "h", &h);
	assert_int_equal(count_names(buf_cstr(&h), "From"), 2);
	assert_int_equal(count_names(buf_cstr(&h), "Subject"), 1);
	assert_int_equal(count_names(buf_cstr(&h), "To"), 0);
	assert_int_equal(verify(&out, NULL), 2);
	dkim_sign_free(&s);

	/* more names than libopendkim's pattern buffer takes: an error at
	 * start, not a signer that signs less than configured */
	buf_reset(&h);
	buf_add_str(&h, "headers = [ \"From\"");
	for (int i = 0; i < 40; i++)
		buf_addf(&h, ", \"X-A-Rather-Long-Header-Name-%02d\"", i);
	buf_add_str(&h, " ];");
	signer_fails(buf_cstr(&h), &why);
	assert_non_null(strstr(buf_cstr(&why), "dkim_sign.headers"));
	buf_free(&out);
	buf_free(&why);
	buf_free(&h);
}

static void
test_tampering(void **state)
{
	struct dkim_signer *s = signer_of("");
	struct buf out = BUF_INIT(0), why = BUF_INIT(0), bad = BUF_INIT(0);
	int nsigs;

	(void)state;
	assert_int_equal(sign(s, "example.org", message, &out, &why),
	    DKIM_SIGN_DONE);
	/* relaxed: white space and case in the header do not matter */
	dkimfx_replace(buf_cstr(&out), "Subject: DKIM signing test",
	    "SUBJECT:   DKIM  signing test ", &bad);
	assert_int_equal(verify(&bad, NULL), 2);
	dkimfx_replace(buf_cstr(&out), "Subject: DKIM signing test",
	    "Subject: DKIM signing tests", &bad);
	assert_int_equal(verify(&bad, &nsigs), 0);
	assert_int_equal(nsigs, 2);
	dkimfx_replace(buf_cstr(&out), "this is the body.",
	    "this is not the body.", &bad);
	assert_int_equal(verify(&bad, NULL), 0);
	/* over-signing: a second From, a Reply-To where there was none */
	dkimfx_replace(buf_cstr(&out), "To: bob@example.net\r\n",
	    "To: bob@example.net\r\nFrom: Mallory <m@example.org>\r\n", &bad);
	assert_int_equal(verify(&bad, NULL), 0);
	dkimfx_replace(buf_cstr(&out), "To: bob@example.net\r\n",
	    "To: bob@example.net\r\nReply-To: m@evil.example\r\n", &bad);
	assert_int_equal(verify(&bad, NULL), 0);
	/* a field that is not signed may be added */
	dkimfx_replace(buf_cstr(&out), "To: bob@example.net\r\n",
	    "To: bob@example.net\r\nX-Added: yes\r\n", &bad);
	assert_int_equal(verify(&bad, NULL), 2);
	dkim_sign_free(&s);
	buf_free(&out);
	buf_free(&why);
	buf_free(&bad);
}

static void
test_domains(void **state)
{
	struct dkim_signer *s = signer_of("");
	struct buf out = BUF_INIT(0), why = BUF_INIT(0), t = BUF_INIT(0);
	static const char sub_msg[] =
	    "From: list@lists.example.org\r\n"
	    "Subject: from a subdomain\r\n"
	    "\r\n"
	    "body\r\n";

	(void)state;
	assert_string_equal(dkim_sign_domain(s, "example.org"),
	    "example.org");
	assert_string_equal(dkim_sign_domain(s, "a.b.Example.org"),
	    "example.org");
	assert_null(dkim_sign_domain(s, "example.net"));
	assert_null(dkim_sign_domain(s, "org"));
	assert_null(dkim_sign_domain(s, "notexample.org"));
	assert_null(dkim_sign_domain(s, "bad..example.org"));
	assert_null(dkim_sign_domain(s, ""));
	assert_int_equal(sign(s, "lists.example.org", sub_msg, &out, &why),
	    DKIM_SIGN_DONE);
	tag(buf_cstr(&out), 0, "d", &t);
	assert_string_equal(buf_cstr(&t), "example.org");
	tag(buf_cstr(&out), 0, "i", &t);
	assert_int_equal(t.len, 0);
	assert_int_equal(verify(&out, NULL), 2);
	/* no key: skipped, nothing written */
	buf_reset(&out);
	buf_add_str(&out, "kept");
	buf_reset(&why);
	assert_int_equal(dkim_sign_message(s, "example.net", NULL,
	    (const unsigned char *)message, strlen(message), &out, &why),
	    DKIM_SIGN_SKIPPED);
	assert_string_equal(buf_cstr(&out), "kept");
	assert_string_equal(buf_cstr(&why), "no DKIM key for example.net");
	dkim_sign_free(&s);

	s = signer_of("subdomains = false;");
	assert_null(dkim_sign_domain(s, "lists.example.org"));
	assert_int_equal(sign(s, "lists.example.org", sub_msg, &out, &why),
	    DKIM_SIGN_SKIPPED);
	assert_int_equal(sign(s, "example.org", message, &out, &why),
	    DKIM_SIGN_DONE);
	dkim_sign_free(&s);
	buf_free(&out);
	buf_free(&why);
	buf_free(&t);
}

static void
test_bad_from(void **state)
{
	struct dkim_signer *s = signer_of("");
	struct buf out = BUF_INIT(0), why = BUF_INIT(0), bad = BUF_INIT(0);
	static const struct {
		const char *msg, *why;
	} cases[] = {
		{ "To: b@example.net\r\nSubject: x\r\n\r\nbody\r\n",
		  "no From field" },
		{ "From: a@example.org\r\nTo: b@example.net\r\n"
		  "FROM : c@example.org\r\n\r\nbody\r\n",
		  "several From fields" },
		/* a From in the body is not a field */
		{ "To: b@example.net\r\n\r\nFrom: a@example.org\r\n",
		  "no From field" },
		/* libopendkim refuses such a field: sent unsigned, not held */
		{ "From: a@example.org\r\nSubject : x\r\n\r\nbody\r\n",
		  "a field has white space before its colon" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		assert_int_equal(sign(s, "example.org", cases[i].msg, &out,
		    &why), DKIM_SIGN_SKIPPED);
		assert_int_equal(out.len, 0);
		assert_string_equal(buf_cstr(&why), cases[i].why);
	}
	/* folded From, no body, a header line without a colon: not given
	 * to the library, so not signed (the verifier refuses it: checked
	 * without it) */
	assert_int_equal(sign(s, "example.org", "From: Alice\r\n"
	    " <alice@example.org>\r\nnot a field\r\nSubject: x\r\n", &out,
	    &why), DKIM_SIGN_DONE);
	dkimfx_replace(buf_cstr(&out), "not a field\r\n", "", &bad);
	assert_int_equal(verify(&bad, NULL), 2);
	dkim_sign_free(&s);
	buf_free(&out);
	buf_free(&why);
	buf_free(&bad);
}

static void
test_key_checks(void **state)
{
	struct buf err = BUF_INIT(0);
	struct dkim_signer *s;
	EVP_PKEY *pk = NULL;
	BIO *bio;
	char pem[4096];
	int n;

	(void)state;
	/* readable by others, writable by the group: refused */
	chmod("dkim/example.org/rsa1.key", 0644);
	signer_fails("", &err);
	assert_non_null(strstr(buf_cstr(&err), "rsa1.key: mode 0644"));
	chmod("dkim/example.org/rsa1.key", 0660);
	signer_fails("", &err);
	assert_non_null(strstr(buf_cstr(&err), "mode 0660"));
	chmod("dkim/example.org/rsa1.key", 0600);

	/* other keys, listed (the key_dir ones still load) */
	write_file("other/garbage.pem", "not a key\n", 0600);
	signer_fails("keys = [ \"example.net:g:other/garbage.pem\" ];", &err);
	assert_non_null(strstr(buf_cstr(&err),
	    "garbage.pem: not a PEM private key"));
	signer_fails("keys = [ \"example.net:g:other/missing.pem\" ];", &err);
	assert_non_null(strstr(buf_cstr(&err), "No such file"));
	write_file("other/enc.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
	    "MIIB\n-----END ENCRYPTED PRIVATE KEY-----\n", 0600);
	signer_fails("keys = [ \"example.net:e:other/enc.pem\" ];", &err);
	assert_non_null(strstr(buf_cstr(&err), "an encrypted key"));

	/* RSA-512 and a P-256 key: not for DKIM */
	pk = EVP_RSA_gen(512);
	assert_non_null(pk);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0,
	    NULL, NULL), 1);
	n = BIO_read(bio, pem, sizeof(pem) - 1);
	assert_true(n > 0);
	pem[n] = '\0';
	BIO_free(bio);
	EVP_PKEY_free(pk);
	write_file("other/small.pem", pem, 0600);
	signer_fails("keys = [ \"example.net:s:other/small.pem\" ];", &err);
	assert_non_null(strstr(buf_cstr(&err), "RSA key of 512 bits"));
	pk = EVP_EC_gen("P-256");
	assert_non_null(pk);
	bio = BIO_new(BIO_s_mem());
	assert_int_equal(PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0,
	    NULL, NULL), 1);
	n = BIO_read(bio, pem, sizeof(pem) - 1);
	pem[n > 0 ? n : 0] = '\0';
	BIO_free(bio);
	EVP_PKEY_free(pk);
	write_file("other/ec.pem", pem, 0600);
	signer_fails("keys = [ \"example.net:ec:other/ec.pem\" ];", &err);
	assert_non_null(strstr(buf_cstr(&err), "RSA or Ed25519"));

	/* a file named like a key but not a selector */
	write_file("dkim/example.org/bad sel.key", buf_cstr(&g.ed.priv),
	    0600);
	signer_fails("", &err);
	assert_non_null(strstr(buf_cstr(&err), "is not a selector"));
	unlink("dkim/example.org/bad sel.key");

	/* a key listed for another domain; the same file found and listed
	 * counts once; another file for a selector in use is an error */
	s = signer_of("keys = [ \"Example.NET:ed9:dkim/example.org/ed1.key\", "
	    "\"example.org:ed1:dkim/example.org/ed1.key\" ];");
	assert_int_equal(dkim_sign_nkeys(s), 3);
	assert_string_equal(dkim_sign_key(s, 0)->domain, "example.net");
	assert_string_equal(dkim_sign_domain(s, "example.net"),
	    "example.net");
	dkim_sign_free(&s);
	write_file("other/ed1-copy.key", buf_cstr(&g.ed.priv), 0600);
	signer_fails("keys = [ \"example.org:ed1:other/ed1-copy.key\" ];",
	    &err);
	assert_non_null(strstr(buf_cstr(&err), "two keys for selector ed1 "
	    "of example.org"));

	/* no key_dir: no keys, nothing signed */
	s = signer_of("key_dir = \"nonexistent\";");
	assert_int_equal(dkim_sign_nkeys(s), 0);
	assert_null(dkim_sign_domain(s, "example.org"));
	dkim_sign_free(&s);
	buf_free(&err);
}

static void
test_records(void **state)
{
	struct dkim_signer *s = signer_of("");
	const struct dkim_sign_keyinfo *rsa, *ed;
	struct buf rec = BUF_INIT(0), joined = BUF_INIT(0);
	unsigned char raw[64];
	const char *p;
	size_t nstr = 0;

	(void)state;
	rsa = dkim_sign_key(s, 0);
	ed = dkim_sign_key(s, 1);
	assert_string_equal(rsa->k, "rsa");
	assert_int_equal(rsa->bits, 2048);
	assert_string_equal(ed->k, "ed25519");
	p = strstr(rsa->path, "/dkim/example.org/rsa1.key");
	assert_non_null(p);
	assert_int_equal(p[strlen("/dkim/example.org/rsa1.key")], '\0');
	/* opendkim-genkey's record has the same p= */
	assert_non_null(strstr(buf_cstr(&g.rsa.record), rsa->p));
	assert_non_null(strstr(buf_cstr(&g.ed.record), ed->p));
	/* the Ed25519 p= is the raw 32-byte key, not an SPKI */
	assert_int_equal(EVP_DecodeBlock(raw, (const unsigned char *)ed->p,
	    (int)strlen(ed->p)), 33);	/* 44 base64 chars: 32 + 1 pad */
	dkim_sign_record(rsa->selector, rsa->domain, rsa->k, rsa->p, &rec);
	assert_memory_equal(rec.data, "rsa1._domainkey.example.org. IN TXT "
	    "\"v=DKIM1; k=rsa; p=", 55);
	assert_int_equal(rec.data[rec.len - 1], '\n');
	for (p = buf_cstr(&rec); (p = strchr(p, '"')) != NULL;) {
		const char *q = strchr(p + 1, '"');

		assert_non_null(q);
		assert_true(q - p - 1 <= 255);
		buf_add(&joined, p + 1, (size_t)(q - p - 1));
		nstr++;
		p = q + 1;
	}
	assert_int_equal(nstr, 2);	/* RSA-2048: about 410 characters */
	buf_reset(&rec);
	buf_addf(&rec, "v=DKIM1; k=rsa; p=%s", rsa->p);
	assert_string_equal(buf_cstr(&joined), buf_cstr(&rec));
	buf_reset(&rec);
	dkim_sign_record(ed->selector, ed->domain, ed->k, ed->p, &rec);
	buf_reset(&joined);
	buf_addf(&joined, "ed1._domainkey.example.org. IN TXT \"v=DKIM1; "
	    "k=ed25519; p=%s\"\n", ed->p);
	assert_string_equal(buf_cstr(&rec), buf_cstr(&joined));
	dkim_sign_free(&s);
	buf_free(&rec);
	buf_free(&joined);
}

struct worker {
	const struct dkim_signer *s;
	int passed;
};

static void *
worker(void *arg)
{
	struct worker *w = arg;
	struct buf out = BUF_INIT(0), why = BUF_INIT(0), msg = BUF_INIT(0);

	for (int i = 0; i < PER_THREAD; i++) {
		buf_reset(&msg);
		buf_addf(&msg, "From: a@example.org\r\nSubject: %p %d\r\n\r\n"
		    "body %d\r\n", (void *)w, i, i);
		if (sign(w->s, "example.org", buf_cstr(&msg), &out, &why) ==
		    DKIM_SIGN_DONE && verify(&out, NULL) == 2)
			w->passed++;
	}
	buf_free(&out);
	buf_free(&why);
	buf_free(&msg);
	return NULL;
}

static void
test_threads(void **state)
{
	struct dkim_signer *s = signer_of("");
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];

	(void)state;
	for (int i = 0; i < NTHREADS; i++) {
		w[i].s = s;
		w[i].passed = 0;
		assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]),
		    0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].passed, PER_THREAD);
	}
	dkim_sign_free(&s);
}

/* ---- python3-dkim: an implementation that shares no code with ours ---- */

static bool
has_python_dkim(void)
{
	return access(PY, X_OK) == 0 &&
	    system(PY " -c 'import dkim, nacl' 2>/dev/null") == 0;
}

/* save - msg into the file name */
static void
save(const char *name, const struct buf *msg)
{
	FILE *f = fopen(name, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(msg->data, 1, msg->len, f), msg->len);
	assert_int_equal(fclose(f), 0);
}

/*
 * py_verify - python3-dkim on args ("FILE:N ..."): 0 when each FILE has
 * N DKIM-Signature fields and python3-dkim passes every one, with our
 * records served by its dnsfunc
 */
static int
py_verify(const char *args)
{
	struct buf py = BUF_INIT(0), cmd = BUF_INIT(0);
	int rc;

	buf_addf(&py, "import dkim, sys\n"
	    "recs = { b'rsa1._domainkey.example.org.': b'%s',\n"
	    "  b'ed1._domainkey.example.org.': b'%s',\n"
	    "  b'%s._domainkey.example.net.': b'%s' }\n"
	    "def dns(name, timeout=5):\n"
	    "    return recs.get(name.rstrip(b'.') + b'.')\n"
	    "bad = 0\n"
	    "for a in sys.argv[1:]:\n"
	    "    fn, n = a.rsplit(':', 1)\n"
	    "    m = open(fn, 'rb').read()\n"
	    "    hs = dkim.rfc822_parse(m)[0]\n"
	    "    sigs = [k for k, v in hs if k.lower() == b'dkim-signature']\n"
	    "    d = dkim.DKIM(m)\n"
	    "    ok = [d.verify(idx=i, dnsfunc=dns) for i in "
	    "range(len(sigs))]\n"
	    "    if len(sigs) != int(n) or not all(ok):\n"
	    "        print(fn, ok, file=sys.stderr)\n"
	    "        bad += 1\n"
	    "sys.exit(1 if bad else 0)\n",
	    buf_cstr(&g.rsa.record), buf_cstr(&g.ed.record), LONGSEL,
	    buf_cstr(&g.ed.record));
	write_file("verify.py", buf_cstr(&py), 0600);
	buf_addf(&cmd, PY " verify.py %s", args);
	rc = system(buf_cstr(&cmd));
	buf_free(&py);
	buf_free(&cmd);
	return rc;
}

static void
test_python_dkim(void **state)
{
	struct dkim_signer *s = signer_of("");
	struct buf out = BUF_INIT(0), why = BUF_INIT(0), bad = BUF_INIT(0);

	(void)state;
	if (!has_python_dkim()) {
		dkim_sign_free(&s);
		skip();
	}
	assert_int_equal(sign(s, "example.org", message, &out, &why),
	    DKIM_SIGN_DONE);
	save("signed.eml", &out);
	assert_int_equal(py_verify("signed.eml:2"), 0);
	dkimfx_replace(buf_cstr(&out), "this is the body.", "tampered",
	    &bad);
	save("bad.eml", &bad);
	assert_int_not_equal(py_verify("bad.eml:2 2>/dev/null"), 0);
	dkim_sign_free(&s);
	buf_free(&out);
	buf_free(&why);
	buf_free(&bad);
}

/* ---- our Ed25519 canonicalization against two others ---- */

static void
test_canonicalization(void **state)
{
	static const char *const cases[] = {
		/* bodies */
		"From: a@example.org\r\nSubject: empty body\r\n\r\n",
		"From: a@example.org\r\nSubject: no body at all\r\n",
		"From: a@example.org\r\n\r\n\r\n\r\n",
		"From: a@example.org\r\n\r\ntext\r\n\r\n\r\n\r\n",
		"From: a@example.org\r\n\r\na  b\t c \t\r\n \r\n\t\r\n",
		"From: a@example.org\r\n\r\nx \r\n\r\n \r\ny\r\n\r\n",
		"From: a@example.org\r\n\r\n  indented\r\n\tby a tab\r\n",
		"From: a@example.org\r\n\r\n\r\nafter an empty line\r\n",
		/* header fields */
		"From: a@example.org\r\nSUBJECT:   Mixed   case \t value "
		"\t \r\n\r\nbody\r\n",
		"From: Alice\r\n <a@example.org>\r\nTo: b@example.net,\r\n"
		"\tc@example.net ,\r\n   d@example.net\r\n\r\nbody\r\n",
		"From: a@example.org\r\nSubject:\r\nCc: \t \r\nTo:\r\n "
		"\r\n\r\nbody\r\n",
		"from:a@example.org\r\nsubject:no space\r\ndate:Mon, 30 "
		"Nov 2026 00:00:00 +0000\r\n\r\nbody\r\n",
	};
	struct dkim_signer *s = signer_of("");
	struct buf out = BUF_INIT(0), why = BUF_INIT(0), msg = BUF_INIT(0);
	struct buf t0 = BUF_INIT(0), t1 = BUF_INIT(0), args = BUF_INIT(0);
	size_t ncases = ARRAY_SIZE(cases);
	int nsigs;

	(void)state;
	for (size_t i = 0; i < ncases + 2; i++) {
		buf_reset(&msg);
		if (i < ncases) {
			buf_add_str(&msg, cases[i]);
		} else {
			/* lines longer than the 4 KiB hash buffer: one
			 * without spaces, then many runs to collapse */
			buf_add_str(&msg, "From: a@example.org\r\n"
			    "Subject: long lines\r\n\r\n");
			for (size_t j = 0; j < 10000; j++)
				buf_add_str(&msg, i == ncases ? "x" :
				    j % 3 == 0 ? "ab \t " : "c");
			buf_add_str(&msg, "\r\nend  \r\n");
		}
		if (sign(s, "example.org", buf_cstr(&msg), &out, &why) !=
		    DKIM_SIGN_DONE)
			fail_msg("case %zu: not signed: %s", i, buf_cstr(&why));
		if (verify(&out, &nsigs) != 2 || nsigs != 2)
			fail_msg("case %zu: libopendkim: %d signatures, not "
			    "both pass:\n%s", i, nsigs, buf_cstr(&out));
		tag(buf_cstr(&out), 0, "bh", &t0);
		tag(buf_cstr(&out), 1, "bh", &t1);
		assert_string_equal(buf_cstr(&t0), buf_cstr(&t1));
		tag(buf_cstr(&out), 0, "h", &t0);
		tag(buf_cstr(&out), 1, "h", &t1);
		assert_string_equal(buf_cstr(&t0), buf_cstr(&t1));
		tag(buf_cstr(&out), 1, "a", &t1);
		assert_string_equal(buf_cstr(&t1), "ed25519-sha256");
		buf_reset(&t0);
		buf_addf(&t0, "canon%zu.eml", i);
		save(buf_cstr(&t0), &out);
		buf_addf(&args, " %s:2", buf_cstr(&t0));
	}
	if (has_python_dkim())
		assert_int_equal(py_verify(buf_cstr(&args)), 0);
	dkim_sign_free(&s);
	buf_free(&out);
	buf_free(&why);
	buf_free(&msg);
	buf_free(&t0);
	buf_free(&t1);
	buf_free(&args);
}

/* repeated fields: h= names each instance, hashed bottom-up (RFC 6376
 * 5.4.2), so a relay's Received on top keeps the signatures */
static void
test_repeated_fields(void **state)
{
	static const char msg[] =
	    "Received: from top.example.net by mx.example.org\r\n"
	    "Received: from bottom.example.net by top.example.net\r\n"
	    "From: a@example.org\r\n"
	    "Subject: twice received\r\n"
	    "\r\n"
	    "body\r\n";
	struct dkim_signer *s = signer_of("headers = [ \"Subject\", "
	    "\"Received\" ];");
	struct buf out = BUF_INIT(0), why = BUF_INIT(0), bad = BUF_INIT(0);
	struct buf h = BUF_INIT(0);

	(void)state;
	assert_int_equal(sign(s, "example.org", msg, &out, &why),
	    DKIM_SIGN_DONE);
	for (int i = 0; i < 2; i++) {
		tag(buf_cstr(&out), i, "h", &h);
		assert_int_equal(count_names(buf_cstr(&h), "Received"), 2);
	}
	assert_int_equal(verify(&out, NULL), 2);
	save("received.eml", &out);
	dkimfx_replace(buf_cstr(&out), "Received: from top",
	    "Received: from new.example.org by top.example.net\r\n"
	    "Received: from top", &bad);
	assert_int_equal(verify(&bad, NULL), 2);
	save("relayed.eml", &bad);
	dkimfx_replace(buf_cstr(&out), "from top.example.net",
	    "from evil.example.net", &bad);
	assert_int_equal(verify(&bad, NULL), 0);
	dkimfx_replace(buf_cstr(&out),
	    "Received: from top.example.net by mx.example.org\r\n"
	    "Received: from bottom.example.net by top.example.net\r\n",
	    "Received: from bottom.example.net by top.example.net\r\n"
	    "Received: from top.example.net by mx.example.org\r\n", &bad);
	assert_int_equal(verify(&bad, NULL), 0);
	save("swapped.eml", &bad);
	if (has_python_dkim()) {
		assert_int_equal(py_verify("received.eml:2 relayed.eml:2"), 0);
		assert_int_not_equal(py_verify("swapped.eml:2 2>/dev/null"),
		    0);
	}
	dkim_sign_free(&s);
	buf_free(&out);
	buf_free(&why);
	buf_free(&bad);
	buf_free(&h);
}

/* an Ed25519 key alone, a selector of 63 characters; the heap kept */
static void
test_ed25519_only(void **state)
{
	struct dkim_signer *s = signer_of("keys = [ \"example.net:" LONGSEL
	    ":dkim/example.org/ed1.key\" ];");
	struct buf out = BUF_INIT(0), why = BUF_INIT(0), t = BUF_INIT(0);
	struct mallinfo2 m0, m1;
	const char *p;
	int nsigs;

	(void)state;
	assert_int_equal(sign(s, "example.net", message, &out, &why),
	    DKIM_SIGN_DONE);
	assert_int_equal(verify(&out, &nsigs), 1);
	assert_int_equal(nsigs, 1);
	tag(buf_cstr(&out), 0, "s", &t);
	assert_string_equal(buf_cstr(&t), LONGSEL);
	tag(buf_cstr(&out), 0, "d", &t);
	assert_string_equal(buf_cstr(&t), "example.net");
	/* the field: CRLF TAB folds, lines of 78 columns at most (TAB 8) */
	p = buf_cstr(&out);
	for (const char *e; (e = strstr(p, "\r\n")) != NULL;) {
		size_t cols = 0;

		for (const char *c = p; c < e; c++)
			cols += *c == '\t' ? 8 : 1;
		assert_true(cols <= 78);
		p = e + 2;
		if (*p != '\t')
			break;		/* the end of the field */
	}
	assert_memory_equal(p, "From: ", 6);
	save("ed-only.eml", &out);
	if (has_python_dkim())
		assert_int_equal(py_verify("ed-only.eml:1"), 0);
	/* no heap kept per signature (libopendkim's Ed25519 signer kept
	 * about 550 bytes); a sanitizer build reports zeros here, and
	 * LeakSanitizer does the check */
	for (int i = 0; i < 20; i++)
		assert_int_equal(sign(s, "example.net", message, &out, &why),
		    DKIM_SIGN_DONE);
	m0 = mallinfo2();
	for (int i = 0; i < 500; i++)
		assert_int_equal(sign(s, "example.net", message, &out, &why),
		    DKIM_SIGN_DONE);
	m1 = mallinfo2();
	assert_true(m1.uordblks < m0.uordblks + 500 * 8);
	dkim_sign_free(&s);
	buf_free(&out);
	buf_free(&why);
	buf_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dual_signature),
		cmocka_unit_test(test_header_list),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_domains),
		cmocka_unit_test(test_bad_from),
		cmocka_unit_test(test_key_checks),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_python_dkim),
		cmocka_unit_test(test_canonicalization),
		cmocka_unit_test(test_repeated_fields),
		cmocka_unit_test(test_ed25519_only),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
