/*
 * cli_dkim.c - `postern dkim`: DKIM signing keys (mta/dkim_sign.h).
 *
 *   postern dkim keygen DOMAIN [--selector S] [--algo rsa|ed25519]
 *                              [--bits N] [--force]
 *   postern dkim show [DOMAIN]
 *   postern dkim sign DOMAIN [FILE]
 *
 * keygen makes a key with OpenSSL (RSA of DKIM_SIGN_RSA_BITS by default,
 * --bits 1024..4096; or Ed25519, RFC 8463) and writes it, unencrypted
 * PKCS#8 PEM, mode 0600, where the signer looks for it:
 * <dkim_sign.key_dir>/<domain>/<selector>.key, directories made 0750;
 * as root the command first becomes server.user, so the file is the
 * server's.  The default selector is the month and the algorithm,
 * "202611-rsa" or "202611-ed25519": two keys of one domain (RSA and
 * Ed25519, for dual signing) never collide, and the next rotation gets a
 * new name.  An existing key is kept unless --force (its DNS record must
 * then be replaced too).  The file is written under a temporary name,
 * fsync'ed and linked into place, so a crash leaves the old key or the
 * new one, never half a key.  Standard output gets exactly the record to
 * publish (dkim_sign_record: one zone-file line, the value split into
 * strings of at most 255 bytes); what was done goes to standard error.
 * The server reads keys at start: the new one signs after a restart.
 *
 * show prints the record of every key the signer would use (of DOMAIN
 * only, when given), each after a zone-file comment naming its file,
 * algorithm and size.  sign signs one message (FILE, or standard input;
 * bare LF line ends are made CRLF first, as SMTP sends them) as mail
 * from DOMAIN and prints it with the DKIM-Signature fields in front:
 * a way for postmasters (and our tests) to check keys and records
 * before the transport signs on its own.  Both load every key as the
 * server does, so a key the server would refuse is an error here too.
 *
 * Exit status: 0, 1 on failure (a message on stderr; sign: also when the
 * message is not signed), 2 for usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "cli/cli.h"
#include "common/dns.h"
#include "common/xalloc.h"
#include "mta/dkim_sign.h"

#define DKIM_DIR_MODE 0750
#define DKIM_KEY_MODE 0600

static int
usage(void)
{
	fprintf(stderr, "usage: postern dkim keygen DOMAIN [--selector S] "
	    "[--algo rsa|ed25519] [--bits N] [--force]\n"
	    "       postern dkim show [DOMAIN]\n"
	    "       postern dkim sign DOMAIN [FILE]\n");
	return 2;
}

/* domain_arg - DOMAIN in lower case without a trailing dot; -1 after a
 * message when it is no domain name */
static int
domain_arg(const char *arg, struct buf *out)
{
	size_t n = strlen(arg);

	if (n > 0 && arg[n - 1] == '.')
		n--;
	if (!dns_is_host_name(arg, n) || memchr(arg, '.', n) == NULL) {
		fprintf(stderr, "postern: \"%s\" is not a domain name\n", arg);
		return -1;
	}
	buf_add(out, arg, n);
	for (size_t i = 0; i < out->len; i++)
		out->data[i] = (unsigned char)ascii_tolower(out->data[i]);
	return 0;
}

/* signer - every key of the configuration, as the server loads them */
static int
signer(const struct config *cfg, struct dkim_signer **s_r)
{
	struct buf err = BUF_INIT(0);

	cli_become_user(cfg, false);
	if (dkim_sign_new(cfg, s_r, &err) < 0) {
		fprintf(stderr, "postern: DKIM keys:\n%s", buf_cstr(&err));
		buf_free(&err);
		return -1;
	}
	buf_free(&err);
	return 0;
}

/* ---- keygen ---- */

struct keygen {
	const char *domain_arg;
	struct buf domain;
	const char *selector;
	bool ed25519, force;
	unsigned bits;		/* 0: the default */
};

/* keygen_args - DOMAIN and the options, in any order; -1: usage */
static int
keygen_args(int argc, char **argv, struct keygen *kg)
{
	uint64_t v;

	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (a[0] != '-') {
			if (kg->domain_arg != NULL)
				return -1;
			kg->domain_arg = a;
			continue;
		}
		if (strcmp(a, "--force") == 0) {
			kg->force = true;
			continue;
		}
		if (i + 1 >= argc)
			return -1;
		if (strcmp(a, "--selector") == 0) {
			kg->selector = argv[++i];
		} else if (strcmp(a, "--algo") == 0) {
			i++;
			if (strcmp(argv[i], "ed25519") == 0)
				kg->ed25519 = true;
			else if (strcmp(argv[i], "rsa") != 0)
				return -1;
		} else if (strcmp(a, "--bits") == 0) {
			i++;
			if (parse_u64(argv[i], strlen(argv[i]), 65536,
			    &v) < 0)
				return -1;
			kg->bits = (unsigned)v;
		} else {
			return -1;
		}
	}
	return kg->domain_arg != NULL ? 0 : -1;
}

/* generate - a fresh key, or NULL after a message */
static EVP_PKEY *
generate(const struct keygen *kg)
{
	EVP_PKEY_CTX *c;
	EVP_PKEY *pk = NULL;

	c = EVP_PKEY_CTX_new_from_name(NULL, kg->ed25519 ? "ED25519" : "RSA",
	    NULL);
	if (c == NULL || EVP_PKEY_keygen_init(c) != 1 ||
	    (!kg->ed25519 &&
	    EVP_PKEY_CTX_set_rsa_keygen_bits(c, (int)kg->bits) != 1) ||
	    EVP_PKEY_generate(c, &pk) != 1) {
		fprintf(stderr, "postern: key generation failed: %s\n",
		    ERR_reason_error_string(ERR_get_error()));
		EVP_PKEY_free(pk);
		pk = NULL;
	}
	EVP_PKEY_CTX_free(c);
	return pk;
}

static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/*
 * save - pk as PEM at path, mode 0600: written to a temporary file,
 * fsync'ed, then linked into place (renamed over the old key with
 * force); -1 after a message
 */
static int
save(EVP_PKEY *pk, const char *dir, const char *path, bool force)
{
	struct buf tmp = BUF_INIT(0);
	BIO *bio = BIO_new(BIO_s_secmem());
	char *pem;
	long n;
	int fd = -1, rc = -1;

	if (bio == NULL || PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0,
	    NULL, NULL) != 1 || (n = BIO_get_mem_data(bio, &pem)) <= 0) {
		fprintf(stderr, "postern: cannot write the key as PEM\n");
		goto out;
	}
	buf_addf(&tmp, "%s.tmp%ld", path, (long)getpid());
	fd = open(buf_cstr(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, DKIM_KEY_MODE);
	if (fd < 0) {
		fprintf(stderr, "postern: %s: %s\n", buf_cstr(&tmp),
		    strerror(errno));
		goto out;
	}
	/* the mode whatever the umask */
	if (fchmod(fd, DKIM_KEY_MODE) < 0 ||
	    write_all(fd, pem, (size_t)n) < 0 || fsync(fd) < 0) {
		fprintf(stderr, "postern: %s: %s\n", buf_cstr(&tmp),
		    strerror(errno));
		goto out;
	}
	if (force ? rename(buf_cstr(&tmp), path) :
	    link(buf_cstr(&tmp), path)) {
		fprintf(stderr, "postern: %s: %s%s\n", path, strerror(errno),
		    errno == EEXIST ? " (--force replaces it; publish the "
		    "new record then)" : "");
		goto out;
	}
	if (fsync_dir(dir) < 0) {
		fprintf(stderr, "postern: %s: %s\n", dir, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		(void)unlink(buf_cstr(&tmp));	/* gone after rename */
	}
	BIO_free(bio);		/* wipes the PEM (secure memory BIO) */
	buf_free(&tmp);
	return rc;
}

static int
keygen(const struct config *cfg, int argc, char **argv)
{
	struct keygen kg;
	struct buf sel = BUF_INIT(0), dir = BUF_INIT(0), path = BUF_INIT(0);
	struct buf p = BUF_INIT(0), rec = BUF_INIT(0), err = BUF_INIT(0);
	EVP_PKEY *pk = NULL;
	const char *k;
	struct tm tm;
	time_t now = time(NULL);
	int rc = 1;

	memset(&kg, 0, sizeof(kg));
	buf_init(&kg.domain, 0);
	if (keygen_args(argc, argv, &kg) < 0 ||
	    (kg.ed25519 && kg.bits != 0)) {
		buf_free(&kg.domain);
		return usage();
	}
	if (domain_arg(kg.domain_arg, &kg.domain) < 0)
		goto out;
	if (kg.bits == 0)
		kg.bits = DKIM_SIGN_RSA_BITS;
	if (!kg.ed25519 && (kg.bits < DKIM_SIGN_RSA_MIN_BITS ||
	    kg.bits > DKIM_SIGN_RSA_MAX_BITS)) {
		fprintf(stderr, "postern: --bits: %u to %u (RFC 8301 3.2)\n",
		    DKIM_SIGN_RSA_MIN_BITS, DKIM_SIGN_RSA_MAX_BITS);
		goto out;
	}
	if (kg.selector != NULL) {
		buf_add_str(&sel, kg.selector);
	} else {
		gmtime_r(&now, &tm);
		buf_addf(&sel, "%04d%02d-%s", tm.tm_year + 1900,
		    tm.tm_mon + 1, kg.ed25519 ? "ed25519" : "rsa");
	}
	if (sel.len > 63 || !dns_is_host_name(buf_cstr(&sel), sel.len)) {
		fprintf(stderr, "postern: \"%s\" is not a selector (letters, "
		    "digits, '-', '_' and '.', at most 63)\n",
		    buf_cstr(&sel));
		goto out;
	}
	if (cfg->dkim_sign.key_dir[0] == '\0') {
		fprintf(stderr, "postern: dkim_sign.key_dir is \"\"\n");
		goto out;
	}
	if (cli_data_dir(cfg) < 0)
		goto out;
	buf_addf(&dir, "%s/%s", cfg->dkim_sign.key_dir,
	    buf_cstr(&kg.domain));
	buf_addf(&path, "%s/%s.key", buf_cstr(&dir), buf_cstr(&sel));
	if (mkdir_p(buf_cstr(&dir), DKIM_DIR_MODE) < 0) {
		fprintf(stderr, "postern: %s: %s\n", buf_cstr(&dir),
		    strerror(errno));
		goto out;
	}
	if (!kg.force && access(buf_cstr(&path), F_OK) == 0) {
		fprintf(stderr, "postern: %s exists (--force replaces it; "
		    "publish the new record then)\n", buf_cstr(&path));
		goto out;
	}
	if ((pk = generate(&kg)) == NULL)
		goto out;
	if (dkim_sign_pubkey(pk, &p, &k, &err) < 0) {
		fprintf(stderr, "postern: %s\n", buf_cstr(&err));
		goto out;
	}
	if (save(pk, buf_cstr(&dir), buf_cstr(&path), kg.force) < 0)
		goto out;
	dkim_sign_record(buf_cstr(&sel), buf_cstr(&kg.domain), k,
	    buf_cstr(&p), &rec);
	fprintf(stderr, "postern: wrote %s (%s, %u bits); publish this "
	    "TXT record, then restart the server to sign with it:\n",
	    buf_cstr(&path), kg.ed25519 ? "ed25519" : "rsa",
	    kg.ed25519 ? 256 : kg.bits);
	fputs(buf_cstr(&rec), stdout);
	rc = 0;
out:
	EVP_PKEY_free(pk);
	buf_free(&kg.domain);
	buf_free(&sel);
	buf_free(&dir);
	buf_free(&path);
	buf_free(&p);
	buf_free(&rec);
	buf_free(&err);
	return rc;
}

/* ---- show, sign ---- */

static int
show(const struct config *cfg, int argc, char **argv)
{
	struct buf dom = BUF_INIT(0), out = BUF_INIT(0);
	struct dkim_signer *s = NULL;
	size_t shown = 0;
	int rc = 1;

	if (argc > 3)
		return usage();
	if (argc == 3 && domain_arg(argv[2], &dom) < 0)
		goto out;
	if (signer(cfg, &s) < 0)
		goto out;
	for (size_t i = 0; i < dkim_sign_nkeys(s); i++) {
		const struct dkim_sign_keyinfo *k = dkim_sign_key(s, i);

		if (dom.len > 0 && strcmp(k->domain, buf_cstr(&dom)) != 0)
			continue;
		buf_addf(&out, "; %s: %s, %u bits\n", k->path, k->a, k->bits);
		dkim_sign_record(k->selector, k->domain, k->k, k->p, &out);
		shown++;
	}
	if (shown == 0) {
		fprintf(stderr, "postern: no DKIM key%s%s (dkim_sign.key_dir "
		    "%s, dkim_sign.keys)\n", dom.len > 0 ? " for " : "",
		    buf_cstr(&dom), cfg->dkim_sign.key_dir);
		goto out;
	}
	fputs(buf_cstr(&out), stdout);
	rc = 0;
out:
	dkim_sign_free(&s);
	buf_free(&dom);
	buf_free(&out);
	return rc;
}

/* read_message - FILE or stdin, bare LF made CRLF; -1 after a message */
static int
read_message(const char *path, uint64_t max, struct buf *out)
{
	FILE *f = path != NULL ? fopen(path, "rb") : stdin;
	int c, prev = 0;

	if (f == NULL) {
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while ((c = getc(f)) != EOF) {
		unsigned char ch = (unsigned char)c;

		if (c == '\n' && prev != '\r')
			buf_add(out, "\r", 1);
		buf_add(out, &ch, 1);
		prev = c;
		if (out->len > max) {
			fprintf(stderr, "postern: the message is bigger than "
			    "smtp.max_message_size\n");
			if (f != stdin)
				fclose(f);
			return -1;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "postern: %s: read error\n",
		    path != NULL ? path : "stdin");
		if (f != stdin)
			fclose(f);
		return -1;
	}
	if (f != stdin)
		fclose(f);
	return 0;
}

static int
sign(const struct config *cfg, int argc, char **argv)
{
	struct buf dom = BUF_INIT(0), msg = BUF_INIT(0), hdrs = BUF_INIT(0);
	struct buf why = BUF_INIT(0);
	struct dkim_signer *s = NULL;
	int rc = 1;

	if (argc < 3 || argc > 4)
		return usage();
	if (domain_arg(argv[2], &dom) < 0 || signer(cfg, &s) < 0 ||
	    read_message(argc == 4 ? argv[3] : NULL,
	    cfg->smtp.max_message_size, &msg) < 0)
		goto out;
	switch (dkim_sign_message(s, buf_cstr(&dom), NULL, msg.data, msg.len,
	    &hdrs, &why)) {
	case DKIM_SIGN_DONE:
		if (fwrite(hdrs.data, 1, hdrs.len, stdout) != hdrs.len ||
		    fwrite(msg.data, 1, msg.len, stdout) != msg.len ||
		    fflush(stdout) != 0) {
			fprintf(stderr, "postern: write error\n");
			break;
		}
		rc = 0;
		break;
	case DKIM_SIGN_SKIPPED:
		fprintf(stderr, "postern: not signed: %s\n", buf_cstr(&why));
		break;
	case DKIM_SIGN_ERROR:
		fprintf(stderr, "postern: signing failed: %s\n",
		    buf_cstr(&why));
		break;
	}
out:
	dkim_sign_free(&s);
	buf_free(&dom);
	buf_free(&msg);
	buf_free(&hdrs);
	buf_free(&why);
	return rc;
}

int
cli_dkim(const struct config *cfg, int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (strcmp(argv[1], "keygen") == 0)
		return keygen(cfg, argc, argv);
	if (strcmp(argv[1], "show") == 0)
		return show(cfg, argc, argv);
	if (strcmp(argv[1], "sign") == 0)
		return sign(cfg, argc, argv);
	return usage();
}
