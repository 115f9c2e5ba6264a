/*
 * queue_msg.c - reading queue files: the bounded parser, loading msg/QID,
 * and the few in-place changes made to committed files (truncating a torn
 * tail, appending a flush record, moving a file aside).
 *
 * The parser reads through a struct queue_src (the file, or memory for
 * tests and fuzzing) and never trusts a length: each one is checked
 * against the bytes left in the file and against a per-type limit before
 * anything is read or allocated, so a corrupt or hostile file costs at
 * most QUEUE_ENVELOPE_MAX of memory and one pass over its record headers.
 * Content payloads are never read here; only their framing.
 *
 * Before the end record any defect makes the file CORRUPT: it was never
 * completely written, hence never acknowledged.  After it, the region is
 * append-only results: the first record that is not complete and
 * terminated is a torn tail (a crash mid-append) and ends the parse,
 * valid_size telling where; well-framed records that make no sense are
 * counted in bad_records and skipped, so one bad result never takes a
 * deliverable message out of the queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "queue/queue_priv.h"

enum phase { PH_START, PH_ENV, PH_CONTENT, PH_DONE };

struct parse {
	struct queue_msg *m;
	struct queue_rcpt *rcpts;	/* m->env.rcpts, writable */
	size_t rcpt_cap;
	uint64_t env_bytes;
	int last_type;
	unsigned seen;		/* bit per single-occurrence record type */
	enum phase ph;
	const char *qid;	/* expected, or NULL */
};

/* single-occurrence envelope strings: type, bit, field */
static const struct {
	int type;
	size_t field;
} env_strings[] = {
	{ REC_CLIENT_IP, offsetof(struct queue_envelope, client_ip) },
	{ REC_CLIENT_NAME, offsetof(struct queue_envelope, client_name) },
	{ REC_HELO, offsetof(struct queue_envelope, helo) },
	{ REC_PROTOCOL, offsetof(struct queue_envelope, protocol) },
	{ REC_TLS, offsetof(struct queue_envelope, tls_info) },
	{ REC_AUTH, offsetof(struct queue_envelope, auth_user) },
	{ REC_SENDER, offsetof(struct queue_envelope, sender) },
	{ REC_SENDER_PARAMS, offsetof(struct queue_envelope, sender_params) },
};
#define SEEN_QID (1u << 10)
#define SEEN_ARRIVAL (1u << 11)

static const char **
env_field(struct queue_envelope *env, size_t i)
{
	return (const char **)(void *)((char *)env + env_strings[i].field);
}

/* rec_limit - the longest payload we read for type in phase ph; 0 for a
 * type that is skipped unread (content, unknown after the end) */
static uint64_t
rec_limit(int type, enum phase ph)
{
	if (ph == PH_DONE)
		switch (type) {
		case REC_RESULT:
			return QUEUE_RESULT_MAX;
		case REC_FLUSH:
		case REC_WARNED:
			return 32;
		default:
			return 0;
		}
	switch (type) {
	case REC_VERSION:
		return 64;
	case REC_QID:
		return QUEUE_ID_LEN;
	case REC_ARRIVAL:
		return 20;
	case REC_END:
		return 128;
	case REC_CONTENT:
		return 0;
	default:
		return QUEUE_FIELD_MAX;
	}
}

static int
hex_decode(const unsigned char *p, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i++) {
		int v[2];

		for (int k = 0; k < 2; k++) {
			unsigned char c = p[2 * i + (size_t)k];

			if (is_ascii_digit(c))
				v[k] = c - '0';
			else if (c >= 'a' && c <= 'f')
				v[k] = c - 'a' + 10;
			else
				return -1;
		}
		out[i] = (unsigned char)(v[0] << 4 | v[1]);
	}
	return 0;
}

/* envelope_done - the first content or end record: is it complete? */
static int
envelope_done(struct parse *p, struct buf *err)
{
	struct queue_envelope *env = &p->m->env;

	if (!(p->seen & SEEN_QID) || !(p->seen & SEEN_ARRIVAL) ||
	    env->sender == NULL || env->nrcpt == 0) {
		buf_addf(err, "incomplete envelope");
		return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(env_strings); i++)
		if (*env_field(env, i) == NULL)
			*env_field(env, i) = xstrdup("");
	for (size_t i = 0; i < env->nrcpt; i++)
		if (p->rcpts[i].params == NULL)
			p->rcpts[i].params = xstrdup("");
	p->m->state = xcalloc(env->nrcpt, sizeof(*p->m->state));
	for (size_t i = 0; i < env->nrcpt; i++) {
		p->m->state[i].dsn = xstrdup("");
		p->m->state[i].relay = xstrdup("");
		p->m->state[i].text = xstrdup("");
	}
	return 0;
}

static int
apply_envelope(struct parse *p, int type, const unsigned char *d, size_t n,
    struct buf *err)
{
	struct queue_envelope *env = &p->m->env;
	uint64_t v;

	if (memchr(d, '\0', n) != NULL) {
		buf_addf(err, "NUL byte in %c record", type);
		return -1;
	}
	if (n > QUEUE_ENVELOPE_MAX - p->env_bytes) {
		buf_addf(err, "envelope larger than %u bytes",
		    QUEUE_ENVELOPE_MAX);
		return -1;
	}
	p->env_bytes += n;
	switch (type) {
	case REC_QID:
		if (p->seen & SEEN_QID)
			goto dup;
		p->seen |= SEEN_QID;
		if (n != QUEUE_ID_LEN)
			goto bad;
		memcpy(env->qid, d, n);
		env->qid[n] = '\0';
		if (!queue_id_is_valid(env->qid) ||
		    (p->qid != NULL && strcmp(p->qid, env->qid) != 0)) {
			buf_addf(err, "queue ID record does not match");
			return -1;
		}
		return 0;
	case REC_ARRIVAL:
		if (p->seen & SEEN_ARRIVAL)
			goto dup;
		p->seen |= SEEN_ARRIVAL;
		if (parse_u64((const char *)d, n, UINT64_MAX, &v) < 0)
			goto bad;
		env->arrival_us = v;
		return 0;
	case REC_RCPT:
		if (env->nrcpt == QUEUE_RCPTS_MAX) {
			buf_addf(err, "more than %u recipients",
			    QUEUE_RCPTS_MAX);
			return -1;
		}
		if (env->nrcpt == p->rcpt_cap) {
			p->rcpt_cap = p->rcpt_cap == 0 ? 4 : p->rcpt_cap * 2;
			p->rcpts = xreallocarray(p->rcpts, p->rcpt_cap,
			    sizeof(*p->rcpts));
			env->rcpts = p->rcpts;
		}
		p->rcpts[env->nrcpt].addr = xmemdup0(d, n);
		p->rcpts[env->nrcpt].params = NULL;
		env->nrcpt++;
		return 0;
	case REC_RCPT_PARAMS:
		if (p->last_type != REC_RCPT)
			goto bad;
		p->rcpts[env->nrcpt - 1].params = xmemdup0(d, n);
		return 0;
	default:
		break;
	}
	for (size_t i = 0; i < ARRAY_SIZE(env_strings); i++) {
		if (env_strings[i].type != type)
			continue;
		if (p->seen & (1u << i))
			goto dup;
		p->seen |= 1u << i;
		*env_field(env, i) = xmemdup0(d, n);
		return 0;
	}
	buf_addf(err, "unknown record type %c in the envelope", type);
	return -1;
dup:
	buf_addf(err, "duplicate %c record", type);
	return -1;
bad:
	buf_addf(err, "malformed %c record", type);
	return -1;
}

/* apply - one complete record; -1 with text in err when corrupt */
static int
apply(struct parse *p, int type, uint64_t off, uint64_t plen,
    const unsigned char *d, struct buf *err)
{
	struct queue_msg *m = p->m;
	const unsigned char *sp;
	uint64_t size;

	switch (p->ph) {
	case PH_START:
		if (type != REC_VERSION || plen != strlen(QUEUE_MAGIC) ||
		    memcmp(d, QUEUE_MAGIC, plen) != 0) {
			buf_addf(err, "not a queue file (bad version record)");
			return -1;
		}
		p->ph = PH_ENV;
		return 0;
	case PH_ENV:
		if (type != REC_CONTENT && type != REC_END)
			return apply_envelope(p, type, d, plen, err);
		if (envelope_done(p, err) < 0)
			return -1;
		m->content_offset = off;
		p->ph = PH_CONTENT;
		/* FALLTHROUGH */
	case PH_CONTENT:
		if (type == REC_CONTENT) {
			m->content_size += plen;
			return 0;
		}
		if (type != REC_END) {
			buf_addf(err, "%c record among the content", type);
			return -1;
		}
		sp = memchr(d, ' ', plen);
		if (sp == NULL || plen - (size_t)(sp - d) - 1 != 64 ||
		    parse_u64((const char *)d, (size_t)(sp - d), UINT64_MAX,
		    &size) < 0 || hex_decode(sp + 1, 32, m->sha256) < 0) {
			buf_addf(err, "malformed end record");
			return -1;
		}
		if (size != m->content_size) {
			buf_addf(err, "content is %llu bytes, end record says "
			    "%llu", (unsigned long long)m->content_size,
			    (unsigned long long)size);
			return -1;
		}
		m->end_offset = off;
		p->ph = PH_DONE;
		return 0;
	case PH_DONE:
		if (type == REC_RESULT) {
			if (queue_result_apply(d, plen, m->state,
			    m->env.nrcpt) < 0)
				m->bad_records++;
		} else if (type == REC_FLUSH) {
			for (size_t i = 0; i < m->env.nrcpt; i++)
				if (m->state[i].status == QUEUE_RCPT_DEFERRED)
					m->state[i].next_try_us = 0;
		} else if (type == REC_WARNED) {
			uint64_t v;

			if (parse_u64((const char *)d, (size_t)plen, UINT64_MAX,
			    &v) < 0 || v == 0)
				m->bad_records++;
			else
				m->delay_warned_us = v;
		} else {
			m->bad_records++;
		}
		return 0;
	}
	PANIC("queue_msg apply: phase %d", (int)p->ph);
}

enum queue_load_res
queue_msg_parse(const struct queue_src *src, const char *qid,
    struct queue_msg **msg_r, struct buf *err)
{
	struct parse p = { .ph = PH_START, .qid = qid };
	struct buf pl = BUF_INIT(0);
	enum queue_load_res res = QUEUE_LOAD_CORRUPT;
	uint64_t off = 0;

	*msg_r = NULL;
	p.m = xcalloc(1, sizeof(*p.m));
	p.m->file_size = src->size;
	while (off < src->size) {
		unsigned char hdr[QUEUE_REC_HDR_MAX];
		size_t hn = sizeof(hdr), hlen;
		uint64_t plen, room, limit;
		bool read_payload;
		enum parse_res pr;
		unsigned char term;
		int type;

		if (src->size - off < hn)
			hn = (size_t)(src->size - off);
		if (src->pread(src->ctx, hdr, hn, off) < 0)
			goto ioerr;
		pr = queue_record_header(hdr, hn, &type, &plen, &hlen);
		if (pr != PARSE_OK) {
			if (p.ph == PH_DONE)
				break;	/* torn tail */
			buf_addf(err, "offset %llu: %s",
			    (unsigned long long)off,
			    pr == PARSE_MORE ? "truncated record header" :
			    "malformed record header");
			goto out;
		}
		room = src->size - off - hlen;
		if (plen >= room) {	/* payload + "\n" do not fit */
			if (p.ph == PH_DONE)
				break;
			buf_addf(err, "offset %llu: %c record of %llu bytes "
			    "runs past the end of the file",
			    (unsigned long long)off, type,
			    (unsigned long long)plen);
			goto out;
		}
		limit = rec_limit(type, p.ph);
		read_payload = limit != 0 && plen <= limit;
		if (!read_payload && p.ph != PH_DONE &&
		    (type != REC_CONTENT || plen > QUEUE_CHUNK_MAX)) {
			buf_addf(err, "offset %llu: %c record of %llu bytes is "
			    "too long", (unsigned long long)off, type,
			    (unsigned long long)plen);
			goto out;
		}
		if (read_payload) {
			buf_reset(&pl);
			if (buf_reserve(&pl, (size_t)plen + 1) < 0)
				PANIC("queue_msg_parse: buf_reserve");
			if (src->pread(src->ctx, pl.data, (size_t)plen + 1,
			    off + hlen) < 0)
				goto ioerr;
			term = pl.data[plen];
		} else if (src->pread(src->ctx, &term, 1, off + hlen + plen) <
		    0) {
			goto ioerr;
		}
		if (term != '\n') {
			if (p.ph == PH_DONE)
				break;	/* torn tail */
			buf_addf(err, "offset %llu: %c record is not "
			    "terminated", (unsigned long long)off, type);
			goto out;
		}
		if (read_payload || p.ph != PH_DONE) {
			if (apply(&p, type, off, plen, pl.data, err) < 0) {
				buf_addf(err, " at offset %llu",
				    (unsigned long long)off);
				goto out;
			}
		} else {
			p.m->bad_records++;	/* unknown or over-long */
		}
		p.last_type = type;
		off += hlen + plen + 1;
		if (p.ph == PH_DONE)
			p.m->valid_size = off;
	}
	if (p.ph != PH_DONE) {
		buf_addf(err, "no end record (incomplete file of %llu bytes)",
		    (unsigned long long)src->size);
		goto out;
	}
	*msg_r = p.m;
	p.m = NULL;
	res = QUEUE_LOAD_OK;
	goto out;
ioerr:
	buf_addf(err, "read: %s", errno != 0 ? strerror(errno) :
	    "file shrank while being read");
	res = QUEUE_LOAD_IOERR;
out:
	buf_free(&pl);
	if (p.m != NULL) {
		p.m->env.rcpts = p.rcpts;
		queue_msg_free(&p.m);
	}
	return res;
}

struct mem_src {
	const unsigned char *data;
};

static int
mem_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
	struct mem_src *ms = ctx;

	memcpy(buf, ms->data + off, n);	/* the parser checked the bounds */
	return 0;
}

enum queue_load_res
queue_msg_parse_mem(const void *data, size_t len, const char *qid,
    struct queue_msg **msg_r, struct buf *err)
{
	struct mem_src ms = { data };
	struct queue_src src = { mem_pread, &ms, len };

	return queue_msg_parse(&src, qid, msg_r, err);
}

/*
 * A file source with a read-ahead window: the parser asks for many small
 * pieces (a header, a payload, one terminator byte), and one 64 KiB pread
 * answers all of them for a typical message instead of ~15 syscalls.
 */
#define FD_SRC_WINDOW (64u << 10)

struct fd_src {
	int fd;
	uint64_t size;		/* the file's size when opened */
	uint64_t win_off;	/* file offset of win[0] */
	size_t win_len;
	unsigned char win[FD_SRC_WINDOW];
};

static int
fd_pread(void *ctx, void *buf, size_t n, uint64_t off)
{
	struct fd_src *fs = ctx;
	size_t want;

	if (off >= fs->win_off && off - fs->win_off <= fs->win_len &&
	    n <= fs->win_len - (off - fs->win_off)) {
		memcpy(buf, fs->win + (off - fs->win_off), n);
		return 0;
	}
	if (n > FD_SRC_WINDOW || off >= fs->size)
		return queue_pread_full(fs->fd, buf, n, off);
	want = fs->size - off < FD_SRC_WINDOW ? (size_t)(fs->size - off) :
	    FD_SRC_WINDOW;
	if (want < n)
		return queue_pread_full(fs->fd, buf, n, off);	/* short file */
	fs->win_len = 0;
	if (queue_pread_full(fs->fd, fs->win, want, off) < 0)
		return -1;
	fs->win_off = off;
	fs->win_len = want;
	memcpy(buf, fs->win, n);
	return 0;
}

int
queue_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
	unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = pread(fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = 0;
			return -1;
		}
		p += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int
queue_write_full(int fd, const void *buf, size_t n)
{
	const unsigned char *p = buf;

	while (n > 0) {
		ssize_t r = write(fd, p, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

void
queue_path(struct buf *b, const char *dir, const char *sub, const char *name)
{
	buf_reset(b);
	buf_addf(b, "%s/%s", dir, sub);
	if (name != NULL)
		buf_addf(b, "/%s", name);
}

enum queue_load_res
queue_msg_load(const char *dir, const char *qid, struct queue_msg **msg_r,
    struct buf *err)
{
	struct buf path = BUF_INIT(0);
	enum queue_load_res res;
	struct queue_src src;
	struct fd_src *fs;
	struct stat st;
	int fd;

	*msg_r = NULL;
	if (!queue_id_is_valid(qid)) {
		buf_addf(err, "not a queue ID");
		return QUEUE_LOAD_GONE;
	}
	queue_path(&path, dir, "msg", qid);
	fd = open(buf_cstr(&path), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		res = errno == ENOENT ? QUEUE_LOAD_GONE : QUEUE_LOAD_IOERR;
		buf_addf(err, "open %s: %s", buf_cstr(&path), strerror(errno));
		buf_free(&path);
		return res;
	}
	if (fstat(fd, &st) < 0) {
		buf_addf(err, "fstat %s: %s", buf_cstr(&path), strerror(errno));
		res = QUEUE_LOAD_IOERR;
	} else if (!S_ISREG(st.st_mode)) {
		buf_addf(err, "%s: not a regular file", buf_cstr(&path));
		res = QUEUE_LOAD_CORRUPT;
	} else {
		fs = xmalloc(sizeof(*fs));
		fs->fd = fd;
		fs->size = (uint64_t)st.st_size;
		fs->win_off = 0;
		fs->win_len = 0;
		src = (struct queue_src){ fd_pread, fs, fs->size };
		res = queue_msg_parse(&src, qid, msg_r, err);
		free(fs);
	}
	close(fd);
	buf_free(&path);
	return res;
}

void
queue_msg_free(struct queue_msg **mp)
{
	struct queue_msg *m = *mp;
	struct queue_envelope *env;

	if (m == NULL)
		return;
	env = &m->env;
	for (size_t i = 0; i < ARRAY_SIZE(env_strings); i++)
		free((void *)*env_field(env, i));
	for (size_t i = 0; i < env->nrcpt; i++) {
		free((void *)env->rcpts[i].addr);
		free((void *)env->rcpts[i].params);
		if (m->state != NULL) {
			free(m->state[i].dsn);
			free(m->state[i].relay);
			free(m->state[i].text);
		}
	}
	free((void *)env->rcpts);
	free(m->state);
	free(m);
	*mp = NULL;
}

int
queue_rename_noreplace(int olddfd, const char *old, int newdfd,
    const char *new_)
{
	if (renameat2(olddfd, old, newdfd, new_, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* a filesystem without RENAME_NOREPLACE: link() never replaces */
	if (linkat(olddfd, old, newdfd, new_, 0) < 0)
		return -1;
	if (unlinkat(olddfd, old, 0) < 0) {
		int e = errno;

		(void)unlinkat(newdfd, new_, 0);
		errno = e;
		return -1;
	}
	return 0;
}

int
queue_msg_move_corrupt(const char *dir, const char *qid, struct buf *err)
{
	struct buf from = BUF_INIT(0), to = BUF_INIT(0);
	int ret = -1;

	queue_path(&from, dir, "msg", qid);
	for (unsigned i = 0; i < 100; i++) {
		queue_path(&to, dir, "corrupt", qid);
		if (i > 0)
			buf_addf(&to, ".%u", i);
		ret = queue_rename_noreplace(AT_FDCWD, buf_cstr(&from),
		    AT_FDCWD, buf_cstr(&to));
		if (ret == 0 || errno != EEXIST)
			break;
	}
	if (ret < 0)
		buf_addf(err, "rename %s to %s: %s", buf_cstr(&from),
		    buf_cstr(&to), strerror(errno));
	buf_free(&from);
	buf_free(&to);
	return ret;
}

int
queue_msg_truncate_tail(const char *dir, const struct queue_msg *m,
    struct buf *err)
{
	struct buf path = BUF_INIT(0);
	int fd, ret = -1;

	queue_path(&path, dir, "msg", m->env.qid);
	fd = open(buf_cstr(&path), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || ftruncate(fd, (off_t)m->valid_size) < 0 ||
	    fsync(fd) < 0)
		buf_addf(err, "truncate %s: %s", buf_cstr(&path),
		    strerror(errno));
	else
		ret = 0;
	if (fd >= 0)
		close(fd);
	buf_free(&path);
	return ret;
}

int
queue_msg_append_flush(const char *dir, const char *qid, bool repair,
    bool *flushed_r, struct buf *err)
{
	struct buf path = BUF_INIT(0), rec = BUF_INIT(0);
	struct queue_msg *m;
	bool deferred = false;
	int fd = -1, ret = -1;

	*flushed_r = false;
	switch (queue_msg_load(dir, qid, &m, err)) {
	case QUEUE_LOAD_OK:
		break;
	case QUEUE_LOAD_GONE:
		return 0;
	default:
		return -1;
	}
	for (size_t i = 0; i < m->env.nrcpt; i++)
		deferred |= m->state[i].status == QUEUE_RCPT_DEFERRED;
	if (!deferred) {
		ret = 0;
		goto out;
	}
	/* appended after a torn tail, the record would be lost with it */
	if (m->valid_size < m->file_size && repair &&
	    queue_msg_truncate_tail(dir, m, err) < 0)
		goto out;
	queue_path(&path, dir, "msg", qid);
	{
		char ts[24];
		int n = snprintf(ts, sizeof(ts), "%llu",
		    (unsigned long long)clock_wall_us());

		ASSERT(n > 0 && (size_t)n < sizeof(ts));
		queue_record_add(&rec, REC_FLUSH, ts, (size_t)n);
	}
	fd = open(buf_cstr(&path), O_WRONLY | O_APPEND | O_CLOEXEC |
	    O_NOFOLLOW);
	if (fd < 0 || queue_write_full(fd, rec.data, rec.len) < 0 ||
	    fsync(fd) < 0) {
		buf_addf(err, "append to %s: %s", buf_cstr(&path),
		    strerror(errno));
		goto out;
	}
	*flushed_r = true;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	queue_msg_free(&m);
	buf_free(&path);
	buf_free(&rec);
	return ret;
}
