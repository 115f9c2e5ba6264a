/*
 * dkim_bench.c - `make bench`: DKIM signing (mta/dkim_sign.h) on one
 * thread, the rate one core gives.  Prints figures only; no timing is
 * ever asserted (exit 1 only when a call fails or a message is not
 * signed as expected).
 *
 * Keys: an RSA-2048 and an Ed25519 key made with OpenSSL at start, put
 * where `postern dkim keygen` puts them (<key_dir>/<domain>/<sel>.key,
 * mode 0600) for three domains: rsa.bench.test (the RSA key), ed.bench.
 * test (the Ed25519 key) and dual.bench.test (both: two signatures per
 * message, as RFC 8463 4 suggests), all loaded by one dkim_sign_new, as
 * the server does.
 *
 * Messages (built once, deterministic): a 4 KiB one, a reply as a mail
 * client writes it (a Received field from submission, From, To, Cc,
 * Subject, Date, Message-ID, In-Reply-To, References, MIME-Version, a
 * multipart/alternative body: text and HTML), and a 100 KiB one (the
 * same header, multipart/mixed: the text and a base64 attachment, 76
 * characters a line).  CRLF line ends, as the SMTP client signs them.
 *
 * For each domain and message: dkim_sign_message in a loop for
 * DKIM_BENCH_SECONDS (2) of this thread's CPU time after 20 untimed
 * calls; printed: messages and signatures per second of CPU, ms of CPU
 * per message, and the heap the loop kept (mallinfo2's in-use bytes
 * after minus before, per message: a leak shows as the same figure
 * above 0 in every row and for any DKIM_BENCH_SECONDS).  OpenSSL fills
 * caches of its own while libopendkim parses the RSA key for the first
 * 2,000 or so signatures (about 100 KB in all, then nothing; valgrind
 * finds every block freed at exit), which shows as a few bytes per
 * message in the first RSA rows only.
 *
 * Environment: DKIM_BENCH_SECONDS; BENCH_TMPDIR (or TMPDIR, else
 * /var/tmp) for the keys' temp dir, removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/config.h"
#include "mta/dkim_sign.h"

#define WARMUP 20
#define SMALL_SIZE (4u * 1024)
#define LARGE_SIZE (100u * 1024)

static const char *const words[] = {
	"the", "of", "and", "to", "a", "in", "is", "that", "for", "it",
	"as", "with", "was", "on", "be", "at", "by", "this", "we", "you",
	"from", "or", "have", "an", "they", "which", "one", "will", "all",
	"would", "there", "their", "what", "about", "out", "if", "up",
	"more", "when", "can", "said", "schedule", "migration", "invoice",
	"quarter", "figures", "meeting", "report", "server", "budget",
	"review", "customer", "delivery", "contract", "deadline", "team",
	"update", "attached", "thanks", "regards", "tomorrow", "project",
};

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- the messages ---- */

static void
header(struct buf *m, const char *domain, const char *type)
{
	buf_addf(m, "Received: from [192.0.2.10] (laptop.home.example "
	    "[192.0.2.10])\r\n\tby mx.%s with ESMTPSA id 4Xq9Lm2vKzz1\r\n"
	    "\tfor <sam.keller@example.net>; Tue, 1 Dec 2026 09:14:03 +0000"
	    "\r\n", domain);
	buf_addf(m, "From: Dana Whitfield <dana.whitfield@%s>\r\n", domain);
	buf_add_str(m, "To: Sam Keller <sam.keller@example.net>\r\n"
	    "Cc: Operations <ops@example.net>, Lee Park "
	    "<lee.park@example.net>\r\n"
	    "Subject: Re: quarterly figures and the migration schedule\r\n"
	    "Date: Tue, 1 Dec 2026 09:14:02 +0000\r\n");
	buf_addf(m, "Message-ID: <20261201091402.4f2a9c@%s>\r\n", domain);
	buf_add_str(m, "In-Reply-To: <CAF3x9q2mE7@mail.example.net>\r\n"
	    "References: <CAF3x9q1aB4@mail.example.net>\r\n"
	    " <CAF3x9q2mE7@mail.example.net>\r\n"
	    "MIME-Version: 1.0\r\n");
	buf_addf(m, "Content-Type: %s;\r\n boundary=\"=_bench_b1\"\r\n\r\n",
	    type);
}

/* text - lines of words up to total bytes in m */
static void
text(struct buf *m, struct rng *r, size_t total, bool html)
{
	size_t col = 0;

	while (m->len + 80 < total) {
		const char *w = words[rng_next(r) % ARRAY_SIZE(words)];

		if (col + strlen(w) + 1 > 72) {
			buf_add_str(m, html ? "<br>\r\n" : "\r\n");
			col = 0;
		}
		if (col > 0)
			buf_add_str(m, " ");
		buf_add_str(m, w);
		col += strlen(w) + 1;
	}
	buf_add_str(m, "\r\n");
}

static void
small_message(struct buf *m, const char *domain)
{
	struct rng r = { 1 };

	header(m, domain, "multipart/alternative");
	buf_add_str(m, "--=_bench_b1\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\n\r\nHi Sam,\r\n\r\n");
	text(m, &r, SMALL_SIZE / 2, false);
	buf_add_str(m, "--=_bench_b1\r\nContent-Type: text/html; "
	    "charset=utf-8\r\n\r\n<p>Hi Sam,</p>\r\n<p>");
	text(m, &r, SMALL_SIZE - 40, true);
	buf_add_str(m, "</p>\r\n--=_bench_b1--\r\n");
}

static void
large_message(struct buf *m, const char *domain)
{
	struct rng r = { 2 };
	unsigned char raw[57], line[80];

	header(m, domain, "multipart/mixed");
	buf_add_str(m, "--=_bench_b1\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\n\r\nHi Sam,\r\n\r\n");
	text(m, &r, 3000, false);
	buf_add_str(m, "--=_bench_b1\r\nContent-Type: application/pdf; "
	    "name=\"figures.pdf\"\r\nContent-Disposition: attachment; "
	    "filename=\"figures.pdf\"\r\nContent-Transfer-Encoding: base64"
	    "\r\n\r\n");
	while (m->len + 100 < LARGE_SIZE) {
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char)rng_next(&r);
		EVP_EncodeBlock(line, raw, sizeof(raw));	/* 76 chars */
		buf_add(m, line, 76);
		buf_add_str(m, "\r\n");
	}
	buf_add_str(m, "--=_bench_b1--\r\n");
}

/* ---- keys ---- */

static int
write_key(const char *dir, const char *domain, const char *sel,
    EVP_PKEY *pk)
{
	struct buf path = BUF_INIT(0);
	FILE *f = NULL;
	int fd, rc = -1;

	buf_addf(&path, "%s/%s", dir, domain);
	if (mkdir(buf_cstr(&path), 0700) < 0 && errno != EEXIST)
		goto out;
	buf_addf(&path, "/%s.key", sel);
	fd = open(buf_cstr(&path), O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
		goto out;
	if (PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1)
		rc = 0;
out:
	if (f != NULL && fclose(f) != 0)
		rc = -1;
	if (rc < 0)
		fprintf(stderr, "dkim bench: %s: %s\n", buf_cstr(&path),
		    strerror(errno));
	buf_free(&path);
	return rc;
}

static int
make_keys(const char *tmp)
{
	struct buf dir = BUF_INIT(0);
	EVP_PKEY *rsa = EVP_RSA_gen(2048);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	int rc = -1;

	buf_addf(&dir, "%s/dkim", tmp);
	if (rsa == NULL || ed == NULL || mkdir(buf_cstr(&dir), 0700) < 0)
		goto out;
	if (write_key(buf_cstr(&dir), "rsa.bench.test", "rsa", rsa) < 0 ||
	    write_key(buf_cstr(&dir), "ed.bench.test", "ed", ed) < 0 ||
	    write_key(buf_cstr(&dir), "dual.bench.test", "rsa", rsa) < 0 ||
	    write_key(buf_cstr(&dir), "dual.bench.test", "ed", ed) < 0)
		goto out;
	rc = 0;
out:
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ed);
	buf_free(&dir);
	return rc;
}

static struct dkim_signer *
signer(const char *tmp)
{
	struct buf path = BUF_INIT(0), text = BUF_INIT(0), err = BUF_INIT(0);
	struct config *cfg = NULL;
	struct dkim_signer *s = NULL;
	FILE *f;

	buf_addf(&path, "%s/bench.conf", tmp);
	buf_addf(&text, "server = { data_dir = \"%s/var\"; };\n"
	    "dkim_sign = { key_dir = \"%s/dkim\"; };\n", tmp, tmp);
	f = fopen(buf_cstr(&path), "w");
	if (f == NULL || fputs(buf_cstr(&text), f) < 0 || fclose(f) != 0) {
		fprintf(stderr, "dkim bench: %s: %s\n", buf_cstr(&path),
		    strerror(errno));
		goto out;
	}
	if (config_load(buf_cstr(&path), &cfg, &err) < 0 ||
	    dkim_sign_new(cfg, &s, &err) < 0)
		fprintf(stderr, "dkim bench: %s", buf_cstr(&err));
out:
	config_free(&cfg);
	buf_free(&path);
	buf_free(&text);
	buf_free(&err);
	return s;
}

/* ---- measuring ---- */

static double
thread_cpu(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
count_sigs(const struct buf *b)
{
	size_t n = 0;

	for (const char *p = buf_cstr(b); (p = strstr(p,
	    "DKIM-Signature: ")) != NULL; p++)
		n++;
	return n;
}

static int
run(const struct dkim_signer *s, const char *name, const char *domain,
    size_t nsigs, const char *size, const struct buf *msg, double secs)
{
	struct buf out = BUF_INIT(0), err = BUF_INIT(0);
	struct mallinfo2 m0, m1;
	double t0, t;
	unsigned long n = 0;
	int rc = -1;

	for (int i = 0; i < WARMUP; i++) {
		buf_reset(&out);
		buf_reset(&err);
		if (dkim_sign_message(s, domain, "BENCH", msg->data, msg->len,
		    &out, &err) != DKIM_SIGN_DONE || count_sigs(&out) !=
		    nsigs) {
			fprintf(stderr, "dkim bench: %s: not signed: %s\n",
			    name, buf_cstr(&err));
			goto out;
		}
	}
	m0 = mallinfo2();
	t0 = thread_cpu();
	do {
		for (int i = 0; i < 10; i++) {
			buf_reset(&out);
			if (dkim_sign_message(s, domain, "BENCH", msg->data,
			    msg->len, &out, &err) != DKIM_SIGN_DONE) {
				fprintf(stderr, "dkim bench: %s: %s\n", name,
				    buf_cstr(&err));
				goto out;
			}
			n++;
		}
		t = thread_cpu() - t0;
	} while (t < secs);
	m1 = mallinfo2();
	printf("%-10s %-8s %8.0f msg/s %8.0f sig/s %7.3f ms/msg %7.0f B/msg "
	    "kept\n", name, size, (double)n / t, (double)(n * nsigs) / t,
	    t * 1e3 / (double)n, ((double)m1.uordblks -
	    (double)m0.uordblks) / (double)n);
	rc = 0;
out:
	buf_free(&out);
	buf_free(&err);
	return rc;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int
main(void)
{
	static const struct {
		const char *name, *domain;
		size_t nsigs;
	} kinds[] = {
		{ "rsa-2048", "rsa.bench.test", 1 },
		{ "ed25519", "ed.bench.test", 1 },
		{ "dual", "dual.bench.test", 2 },
	};
	const char *base = getenv("BENCH_TMPDIR"), *v;
	struct buf tmp = BUF_INIT(0), small = BUF_INIT(0), large = BUF_INIT(0);
	struct dkim_signer *s = NULL;
	uint64_t secs = 2;
	int failed = 0;

	v = getenv("DKIM_BENCH_SECONDS");
	if (v != NULL && *v != '\0' && (parse_u64(v, strlen(v), 3600,
	    &secs) < 0 || secs == 0)) {
		fprintf(stderr, "dkim bench: DKIM_BENCH_SECONDS=%s: 1 to "
		    "3600\n", v);
		return 2;
	}
	if (base == NULL || *base == '\0')
		base = getenv("TMPDIR");
	if (base == NULL || *base == '\0')
		base = "/var/tmp";
	buf_addf(&tmp, "%s/postern-dkim-bench.XXXXXX", base);
	if (mkdtemp((char *)tmp.data) == NULL) {
		fprintf(stderr, "dkim bench: mkdtemp %s: %s\n", buf_cstr(&tmp),
		    strerror(errno));
		return 1;
	}
	if (make_keys(buf_cstr(&tmp)) < 0 ||
	    (s = signer(buf_cstr(&tmp))) == NULL) {
		failed = 1;
		goto out;
	}
	printf("dkim bench: one thread, %llu s of CPU per figure; "
	    "relaxed/relaxed; heap kept = mallinfo2 in-use bytes after - "
	    "before, per message\n", (unsigned long long)secs);
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++) {
		buf_reset(&small);
		buf_reset(&large);
		small_message(&small, kinds[k].domain);
		large_message(&large, kinds[k].domain);
		if (k == 0)
			printf("messages: %zu and %zu bytes\n", small.len,
			    large.len);
		if (run(s, kinds[k].name, kinds[k].domain, kinds[k].nsigs,
		    "4 KiB", &small, (double)secs) < 0 ||
		    run(s, kinds[k].name, kinds[k].domain, kinds[k].nsigs,
		    "100 KiB", &large, (double)secs) < 0)
			failed = 1;
	}
out:
	dkim_sign_free(&s);
	(void)nftw(buf_cstr(&tmp), rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	buf_free(&tmp);
	buf_free(&small);
	buf_free(&large);
	return failed;
}
