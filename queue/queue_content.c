/*
 * queue_content.c - the content of a queue file as a sequential,
 * rewindable byte stream, without loading it: the CLI's `queue show` and,
 * wrapped in a struct transport_content, every transport.
 *
 * The content is the payloads of the C records between content_offset and
 * the end record.  The reader walks them with pread(2) (so several readers
 * may share one descriptor), checks each header and terminator again (the
 * file is trusted no more than at load time), hashes what it hands out,
 * and at the end compares size and SHA-256 with the end record.  Any
 * mismatch is reported as an error and remembered (is_corrupt), so the
 * qmgr can move the file aside; a damaged message is never "delivered"
 * by a transport that honours the read error (see transport.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "queue/queue_priv.h"

struct queue_content {
	int fd;
	bool own_fd;
	uint64_t start;		/* first content record */
	uint64_t end;		/* the end record */
	uint64_t size;
	unsigned char sha256[32];
	uint64_t off;		/* next header, or inside a payload */
	uint64_t left;		/* payload bytes left at off */
	uint64_t pos;		/* content bytes handed out */
	EVP_MD_CTX *md;
	bool done;
	bool corrupt;
};

struct queue_content *
queue_content_new(int fd, bool own_fd, const struct queue_msg *m)
{
	struct queue_content *c = xcalloc(1, sizeof(*c));

	c->fd = fd;
	c->own_fd = own_fd;
	c->start = m->content_offset;
	c->end = m->end_offset;
	c->size = m->content_size;
	memcpy(c->sha256, m->sha256, sizeof(c->sha256));
	c->md = EVP_MD_CTX_new();
	if (c->md == NULL)
		PANIC("EVP_MD_CTX_new failed");
	if (queue_content_rewind(c, NULL) < 0)
		PANIC("queue_content_new: digest init failed");
	return c;
}

struct queue_content *
queue_content_open(const char *dir, const struct queue_msg *m,
    struct buf *err)
{
	struct buf path = BUF_INIT(0);
	int fd;

	queue_path(&path, dir, "msg", m->env.qid);
	fd = open(buf_cstr(&path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		buf_addf(err, "open %s: %s", buf_cstr(&path), strerror(errno));
		buf_free(&path);
		return NULL;
	}
	buf_free(&path);
	return queue_content_new(fd, true, m);
}

int
queue_content_rewind(struct queue_content *c, struct buf *err)
{
	c->off = c->start;
	c->left = 0;
	c->pos = 0;
	c->done = false;
	if (EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1) {
		if (err != NULL)
			buf_addf(err, "SHA-256 init failed");
		return -1;
	}
	return 0;
}

bool
queue_content_is_corrupt(const struct queue_content *c)
{
	return c->corrupt;
}

static int
corrupt(struct queue_content *c, struct buf *err, const char *what)
{
	c->corrupt = true;
	buf_addf(err, "queue file content at offset %llu: %s",
	    (unsigned long long)c->off, what);
	return -1;
}

static int
ioerr(struct buf *err)
{
	buf_addf(err, "read queue file: %s", errno != 0 ? strerror(errno) :
	    "file shrank while being read");
	return -1;
}

/* finish - at the end record: compare size and digest */
static int
finish(struct queue_content *c, struct buf *err)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (c->pos != c->size)
		return corrupt(c, err, "size differs from the end record");
	if (EVP_DigestFinal_ex(c->md, md, &mdlen) != 1 || mdlen != 32) {
		buf_addf(err, "SHA-256 final failed");
		return -1;
	}
	if (memcmp(md, c->sha256, 32) != 0)
		return corrupt(c, err, "SHA-256 differs from the end record");
	c->done = true;
	return 0;
}

/* next_chunk - step over the next C header (and its terminator check) */
static int
next_chunk(struct queue_content *c, struct buf *err)
{
	unsigned char hdr[QUEUE_REC_HDR_MAX], term;
	size_t hn = sizeof(hdr), hlen;
	uint64_t plen;
	int type;

	if (c->off >= c->end || c->end - c->off < 2)
		return corrupt(c, err, "content runs past the end record");
	if (c->end - c->off < hn)
		hn = (size_t)(c->end - c->off);
	if (queue_pread_full(c->fd, hdr, hn, c->off) < 0)
		return ioerr(err);
	if (queue_record_header(hdr, hn, &type, &plen, &hlen) != PARSE_OK ||
	    type != REC_CONTENT)
		return corrupt(c, err, "not a content record");
	if (plen > QUEUE_CHUNK_MAX || plen >= c->end - c->off - hlen)
		return corrupt(c, err, "bad content record length");
	if (queue_pread_full(c->fd, &term, 1, c->off + hlen + plen) < 0)
		return ioerr(err);
	if (term != '\n')
		return corrupt(c, err, "content record not terminated");
	c->off += hlen;
	c->left = plen;
	if (plen == 0)
		c->off++;
	return 0;
}

int
queue_content_read(struct queue_content *c, void *buf, size_t size,
    size_t *n_r, struct buf *err)
{
	size_t n;

	ASSERT(size > 0);
	*n_r = 0;
	if (c->corrupt) {
		buf_addf(err, "queue file content is corrupt");
		return -1;
	}
	while (c->left == 0) {
		if (c->done)
			return 0;
		if (c->off == c->end)
			return finish(c, err);
		if (next_chunk(c, err) < 0)
			return -1;
	}
	n = c->left < size ? (size_t)c->left : size;
	if (queue_pread_full(c->fd, buf, n, c->off) < 0)
		return ioerr(err);
	if (EVP_DigestUpdate(c->md, buf, n) != 1) {
		buf_addf(err, "SHA-256 update failed");
		return -1;
	}
	c->off += n;
	c->left -= n;
	c->pos += n;
	if (c->left == 0)
		c->off++;	/* the terminator, checked in next_chunk */
	*n_r = n;
	return 0;
}

void
queue_content_close(struct queue_content **cp)
{
	struct queue_content *c = *cp;

	if (c == NULL)
		return;
	if (c->own_fd)
		close(c->fd);
	EVP_MD_CTX_free(c->md);
	free(c);
	*cp = NULL;
}
