/*
 * cli_control.c - the control socket (cli_control.h): the server's side,
 * which `postern serve` starts, and the client's, which `postern spam`
 * uses when it cannot open the lookup store itself.
 *
 * The server: <data_dir>/control.sock, created after the privilege drop
 * (so owned by server.user) with mode 0600 set between bind() and
 * listen(), when nobody can connect yet; data_dir is 0750.  A stale
 * socket (nobody answers) is removed at start; one that answers belongs
 * to another server and is left, and this one runs without.  At stop the
 * socket is unlinked if it is still the one we bound.  Peers other than
 * root and our own uid (SO_PEERCRED) are refused, as a safety net under
 * the file mode.
 *
 * Threads: an acceptor polls the socket and a wake-up pipe; each
 * connection (at most CLI_CONTROL_CONN_MAX, more are refused with an
 * error frame) gets a thread of its own that reads, parses, tokenizes
 * and calls the classifier: all of it blocks (the lookup store), none of
 * it runs on an I/O loop.  A client wanting parallelism opens several
 * connections.  Requests are handled in order as they arrive; training
 * messages are tokenized and held, then learned together
 * (bayes_learn_many) when CONTROL_BATCH are held, when a request of
 * another kind or user comes, or when no more input is waiting, so a
 * pipelining client trains in batches while one that waits for each
 * reply is not kept waiting.  Replies are written when the thread is
 * about to wait for input or when CONTROL_OUT_FLUSH bytes are waiting.
 * A bad frame or request gets an error frame, then the connection is
 * closed; a client that goes away mid-request only ends its connection
 * (one log line).  A connection silent for CONTROL_IDLE_S is closed.
 * The text of each message is cli_message_text's, as `postern spam`
 * computes it locally, so both make the same tokens.
 *
 * Stop: the acceptor is woken and joined, every connection is shut down
 * (which wakes a thread blocked reading or writing; one inside the
 * classifier finishes that call first), and stop returns when all
 * connection threads are done, so the struct bayes may go after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_control.h"
#include "common/log.h"
#include "common/xalloc.h"

#define SVC "control"
#define CONTROL_BATCH 256		/* training messages learned together */
#define CONTROL_CHUNK 65536		/* bytes read at once */
#define CONTROL_OUT_FLUSH 65536		/* replies waiting: write them */
#define CONTROL_IDLE_S 300		/* a silent connection is closed */
#define CONTROL_KEEP (1u << 20)		/* a read buffer bigger is freed */
#define CONTROL_IN_MAX (CLI_CONTROL_HDR + CLI_CONTROL_REQ_MAX + CONTROL_CHUNK)

struct control_conn {
	struct cli_control *cc;
	struct control_conn *next;	/* under cc->mu */
	int fd;
	unsigned uid;			/* the peer's */
	struct buf in, out, text, err;
	struct bayes_tokens tok;
	/* training messages held, all for batch_user */
	struct bayes_tokens batch_tok[CONTROL_BATCH];
	struct bayes_item batch[CONTROL_BATCH];
	size_t nbatch;
	char batch_user[BAYES_USER_MAX + 1];
	unsigned long long nreq;
};

struct cli_control {
	const struct config *cfg;
	struct bayes *bayes;
	struct buf path;
	int fd;				/* listening, or -1 */
	int wake[2];			/* the acceptor's stop */
	bool bound, started;
	dev_t dev;			/* the socket we bound */
	ino_t ino;
	pthread_t acceptor;
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* nconn went down */
	struct control_conn *conns;	/* under mu */
	unsigned nconn;			/* under mu: threads not done */
};

/* sock_addr - the socket's path and address for cfg */
static int
sock_addr(const struct config *cfg, struct buf *path, struct sockaddr_un *sun,
    struct buf *err)
{
	buf_addf(path, "%s/%s", cfg->server.data_dir, CLI_CONTROL_SOCK);
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (path->len >= sizeof(sun->sun_path)) {
		buf_addf(err, "%s: over %zu bytes, too long for a Unix "
		    "socket (shorten server.data_dir)", buf_cstr(path),
		    sizeof(sun->sun_path) - 1);
		return -1;
	}
	memcpy(sun->sun_path, path->data, path->len);
	return 0;
}

/* ---- the server: one connection ---- */

static int
conn_write(struct control_conn *c)
{
	size_t off = 0;

	while (off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + off, c->out.len - off,
		    MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			buf_reset(&c->out);
			return -1;
		}
		off += (size_t)n;
	}
	buf_reset(&c->out);
	return 0;
}

/* conn_read - more input: > 0, 0 at the end of stream, -1 on error */
static ssize_t
conn_read(struct control_conn *c)
{
	unsigned char chunk[CONTROL_CHUNK];
	ssize_t n;

	do
		n = recv(c->fd, chunk, sizeof(chunk), 0);
	while (n < 0 && errno == EINTR);
	/* cannot pass max: a frame over the limit ends the connection */
	if (n > 0 && buf_append(&c->in, chunk, (size_t)n) < 0)
		return -1;
	return n;
}

static bool
is_readable(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, 0) > 0;
}

/* conn_learn - the training messages held, learned together */
static void
conn_learn(struct control_conn *c)
{
	int rc;

	if (c->nbatch == 0)
		return;
	buf_reset(&c->err);
	rc = bayes_learn_many(c->cc->bayes, c->batch, c->nbatch,
	    c->batch_user[0] != '\0' ? c->batch_user : NULL, true, 0,
	    &c->err);
	for (size_t i = 0; i < c->nbatch; i++)
		if (c->batch[i].done)
			cli_control_put_outcome(&c->out, c->batch[i].out);
		else
			cli_control_put_error(&c->out, buf_cstr(&c->err));
	if (rc < 0)
		log_warn(SVC, "uid=%u: learning: %s", c->uid,
		    buf_cstr(&c->err));
	c->nbatch = 0;
}

static void
conn_stats(struct control_conn *c, const struct cli_control_req *rq)
{
	struct bayes_stats st[2];
	size_t n = rq->user[0] != '\0' ? 2 : 1;

	buf_reset(&c->err);
	memset(st, 0, sizeof(st));
	if (bayes_stats(c->cc->bayes, NULL, &st[0], &c->err) < 0 ||
	    (n == 2 && bayes_stats(c->cc->bayes, rq->user, &st[1],
	    &c->err) < 0))
		cli_control_put_error(&c->out, buf_cstr(&c->err));
	else
		cli_control_put_sets(&c->out, st, n);
}

/* conn_request - one request; -1 (err set) when it is refused */
static int
conn_request(struct control_conn *c, unsigned char type,
    const unsigned char *body, size_t len)
{
	struct cli_control_req rq;
	struct bayes_result res;
	enum bayes_outcome out;
	const char *user;
	bool has_text;

	buf_reset(&c->err);
	if (cli_control_req_parse(type, body, len, &rq, &c->err) < 0)
		return -1;
	c->nreq++;
	user = rq.user[0] != '\0' ? rq.user : NULL;
	/* the replies keep the requests' order */
	if (rq.cmd != CLI_CONTROL_TRAIN || strcmp(rq.user, c->batch_user) != 0)
		conn_learn(c);
	if (rq.cmd == CLI_CONTROL_STATS) {
		conn_stats(c, &rq);
		return 0;
	}
	buf_reset(&c->text);
	has_text = cli_message_text(NULL, rq.msg, rq.msg_len, &c->text) == 0;
	bayes_tokenize(&c->tok, rq.msg, rq.msg_len, has_text ?
	    buf_cstr(&c->text) : NULL, has_text ? c->text.len : 0);
	buf_reset(&c->err);
	switch (rq.cmd) {
	case CLI_CONTROL_TRAIN:
		memcpy(c->batch_user, rq.user, sizeof(c->batch_user));
		bayes_tokens_keys(&c->batch_tok[c->nbatch], &c->tok);
		c->batch[c->nbatch].t = &c->batch_tok[c->nbatch];
		c->batch[c->nbatch].c = rq.cls;
		if (++c->nbatch == CONTROL_BATCH)
			conn_learn(c);
		break;
	case CLI_CONTROL_FORGET:
		if (bayes_forget(c->cc->bayes, &c->tok, user, rq.cls, &out,
		    &c->err) < 0)
			cli_control_put_error(&c->out, buf_cstr(&c->err));
		else
			cli_control_put_outcome(&c->out, out);
		break;
	default:
		if (bayes_classify(c->cc->bayes, &c->tok, user, &res,
		    &c->err) < 0)
			cli_control_put_error(&c->out, buf_cstr(&c->err));
		else
			cli_control_put_result(&c->out, &res);
		break;
	}
	return 0;
}

/* conn_input - the complete requests read; -1 when the connection ends
 * (an error frame queued when a request is refused) */
static int
conn_input(struct control_conn *c)
{
	struct buf why = BUF_INIT(0);
	size_t off = 0, blen, used;
	unsigned char type;
	enum parse_res pr;

	for (;;) {
		if (off == c->in.len) {
			pr = PARSE_MORE;
			break;
		}
		pr = cli_control_frame(c->in.data + off, c->in.len - off,
		    CLI_CONTROL_REQ_MAX, CLI_CONTROL_REQUESTS, &type, &blen,
		    &used);
		if (pr != PARSE_OK)
			break;
		if (conn_request(c, type, c->in.data + off + CLI_CONTROL_HDR,
		    blen) < 0) {
			buf_add(&why, c->err.data, c->err.len);
			break;
		}
		off += used;
		if (c->out.len >= CONTROL_OUT_FLUSH && conn_write(c) < 0)
			return -1;
	}
	if (pr != PARSE_MORE) {
		if (pr == PARSE_BAD)
			buf_addf(&why, "bad frame: unknown request type "
			    "0x%02x", c->in.data[off]);
		else if (pr == PARSE_TOO_LONG)
			buf_addf(&why, "request over the limit of %u bytes",
			    CLI_CONTROL_REQ_MAX);
		conn_learn(c);		/* the replies before the refusal */
		log_warn(SVC, "uid=%u: %s: connection closed", c->uid,
		    buf_cstr(&why));
		cli_control_put_error(&c->out, buf_cstr(&why));
		buf_free(&why);
		return -1;
	}
	buf_consume(&c->in, off);
	if (c->in.len == 0 && c->in.cap > CONTROL_KEEP)
		buf_free(&c->in);	/* after a big message */
	return 0;
}

static void
conn_free(struct control_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->text);
	buf_free(&c->err);
	bayes_tokens_free(&c->tok);
	for (size_t i = 0; i < CONTROL_BATCH; i++)
		bayes_tokens_free(&c->batch_tok[i]);
	free(c);
}

/* conn_done - off the list, freed; stop may return once nconn is 0 */
static void
conn_done(struct control_conn *c)
{
	struct cli_control *cc = c->cc;
	struct control_conn **pp;

	pthread_mutex_lock(&cc->mu);
	for (pp = &cc->conns; *pp != NULL; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	pthread_mutex_unlock(&cc->mu);
	conn_free(c);		/* closes the fd, no longer on the list */
	pthread_mutex_lock(&cc->mu);
	cc->nconn--;
	pthread_cond_broadcast(&cc->cv);
	pthread_mutex_unlock(&cc->mu);
}

static void *
conn_run(void *arg)
{
	struct control_conn *c = arg;
	const char *how = "done";
	ssize_t n;

	cli_control_put_greeting(&c->out);
	if (conn_write(c) < 0)
		goto out;
	for (;;) {
		if (conn_input(c) < 0) {
			(void)conn_write(c);
			how = "refused";
			break;
		}
		/* nothing more waiting: answer what we have */
		if (!is_readable(c->fd)) {
			conn_learn(c);
			if (conn_write(c) < 0) {
				how = "write error";
				break;
			}
		}
		n = conn_read(c);
		if (n == 0) {
			if (c->in.len > 0) {
				log_warn(SVC, "uid=%u: the client left in the "
				    "middle of a request (%zu bytes)", c->uid,
				    c->in.len);
				how = "cut";
			}
			conn_learn(c);
			(void)conn_write(c);	/* it may read still */
			break;
		}
		if (n < 0) {
			how = errno == EAGAIN || errno == EWOULDBLOCK ?
			    "idle timeout" : "read error";
			break;
		}
	}
out:
	log_msg(c->nreq > 0 || strcmp(how, "done") != 0 ? LOG_LVL_INFO :
	    LOG_LVL_DEBUG, SVC, "uid=%u, requests=%llu, status=%s", c->uid,
	    c->nreq, how);
	conn_done(c);
	return NULL;
}

/* refuse - an error frame (best effort) and close */
static void
refuse(int fd, const char *why)
{
	struct buf b = BUF_INIT(0);

	cli_control_put_error(&b, why);
	(void)send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	buf_free(&b);
	close(fd);
}

static void
conn_start(struct cli_control *cc, int fd)
{
	struct control_conn *c;
	struct ucred cr = { 0, (uid_t)-1, (gid_t)-1 };
	socklen_t crlen = sizeof(cr);
	struct timeval tv = { CONTROL_IDLE_S, 0 };
	pthread_attr_t attr;
	pthread_t t;
	int rc;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		log_warn(SVC, "uid=%d: not root nor us: refused",
		    (int)cr.uid);
		refuse(fd, "permission denied: run as root or as server.user");
		return;
	}
	pthread_mutex_lock(&cc->mu);
	if (cc->nconn >= CLI_CONTROL_CONN_MAX) {
		pthread_mutex_unlock(&cc->mu);
		log_warn(SVC, "uid=%u: over %u connections: refused",
		    (unsigned)cr.uid, CLI_CONTROL_CONN_MAX);
		refuse(fd, "busy: too many control connections at once");
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->cc = cc;
	c->fd = fd;
	c->uid = (unsigned)cr.uid;
	buf_init(&c->in, CONTROL_IN_MAX);
	c->next = cc->conns;
	cc->conns = c;
	cc->nconn++;
	pthread_mutex_unlock(&cc->mu);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		log_warn(SVC, "socket timeouts: %s", strerror(errno));
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &attr, conn_run, c);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		log_error(SVC, "cannot start a connection thread: %s",
		    strerror(rc));
		conn_done(c);
	}
}

static void *
acceptor(void *arg)
{
	struct cli_control *cc = arg;

	for (;;) {
		struct pollfd p[2] = { { cc->fd, POLLIN, 0 },
			{ cc->wake[0], POLLIN, 0 } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error(SVC, "poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents != 0)
			break;
		if (p[0].revents == 0)
			continue;
		fd = accept4(cc->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0) {
			conn_start(cc, fd);
		} else if (errno != EINTR && errno != ECONNABORTED &&
		    errno != EAGAIN) {
			/* out of descriptors or memory: do not spin */
			log_warn(SVC, "accept: %s", strerror(errno));
			(void)poll(&p[1], 1, 100);
		}
	}
	return NULL;
}

/* ---- the server ---- */

/* is_answering - a server listens on sun (else the socket is stale) */
static bool
is_answering(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0);
	bool yes;

	if (fd < 0)
		return false;
	yes = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ||
	    errno == EAGAIN;
	close(fd);
	return yes;
}

int
cli_control_start(const struct config *cfg, struct bayes *b,
    struct cli_control **cc_r, struct buf *err)
{
	struct cli_control *cc = xcalloc(1, sizeof(*cc));
	struct sockaddr_un sun;
	struct stat st;
	const char *path;
	int rc;

	cc->cfg = cfg;
	cc->bayes = b;
	cc->fd = cc->wake[0] = cc->wake[1] = -1;
	buf_init(&cc->path, 0);
	pthread_mutex_init(&cc->mu, NULL);
	pthread_cond_init(&cc->cv, NULL);
	*cc_r = NULL;
	if (sock_addr(cfg, &cc->path, &sun, err) < 0)
		goto fail;
	path = buf_cstr(&cc->path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			buf_addf(err, "%s: exists and is not a socket", path);
			goto fail;
		}
		if (is_answering(&sun)) {
			buf_addf(err, "%s: another server answers on it", path);
			goto fail;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			buf_addf(err, "%s: stale, cannot remove: %s", path,
			    strerror(errno));
			goto fail;
		}
	}
	cc->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cc->fd < 0 || bind(cc->fd, (const struct sockaddr *)&sun,
	    sizeof(sun)) < 0) {
		buf_addf(err, "%s: %s", path, strerror(errno));
		goto fail;
	}
	cc->bound = true;
	/* nobody can connect before listen(): the mode is set first */
	if (chmod(path, 0600) < 0 || lstat(path, &st) < 0 ||
	    listen(cc->fd, CLI_CONTROL_CONN_MAX) < 0) {
		buf_addf(err, "%s: %s", path, strerror(errno));
		goto fail;
	}
	cc->dev = st.st_dev;
	cc->ino = st.st_ino;
	if (pipe2(cc->wake, O_CLOEXEC) < 0) {
		buf_addf(err, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((rc = pthread_create(&cc->acceptor, NULL, acceptor, cc)) != 0) {
		buf_addf(err, "thread: %s", strerror(rc));
		goto fail;
	}
	cc->started = true;
	*cc_r = cc;
	return 0;
fail:
	cli_control_stop(&cc);
	return -1;
}

void
cli_control_stop(struct cli_control **ccp)
{
	struct cli_control *cc = *ccp;
	struct stat st;

	if (cc == NULL)
		return;
	if (cc->started) {
		if (write(cc->wake[1], "x", 1) != 1)
			PANIC("control: cannot wake the acceptor: %s",
			    strerror(errno));
		pthread_join(cc->acceptor, NULL);
	}
	if (cc->fd >= 0)
		close(cc->fd);
	if (cc->bound && lstat(buf_cstr(&cc->path), &st) == 0 &&
	    st.st_dev == cc->dev && st.st_ino == cc->ino)
		(void)unlink(buf_cstr(&cc->path));
	pthread_mutex_lock(&cc->mu);
	for (struct control_conn *c = cc->conns; c != NULL; c = c->next)
		(void)shutdown(c->fd, SHUT_RDWR);
	while (cc->nconn > 0)
		pthread_cond_wait(&cc->cv, &cc->mu);
	pthread_mutex_unlock(&cc->mu);
	for (int i = 0; i < 2; i++)
		if (cc->wake[i] >= 0)
			close(cc->wake[i]);
	pthread_cond_destroy(&cc->cv);
	pthread_mutex_destroy(&cc->mu);
	buf_free(&cc->path);
	free(cc);
	*ccp = NULL;
}

/* ---- the client ---- */

int
cli_control_connect(const struct config *cfg, struct cli_control_conn *c,
    struct buf *err)
{
	struct buf path = BUF_INIT(0);
	struct sockaddr_un sun;
	struct cli_control_reply *r = xmalloc(sizeof(*r));
	int rc = -1, e;

	c->fd = -1;
	buf_init(&c->in, CLI_CONTROL_HDR + CLI_CONTROL_REPLY_MAX +
	    CONTROL_CHUNK);
	if (sock_addr(cfg, &path, &sun, err) < 0)
		goto out;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)&sun,
	    sizeof(sun)) < 0) {
		e = errno;
		buf_addf(err, "cannot connect to %s: %s", buf_cstr(&path),
		    strerror(e));
		if (e == ENOENT || e == ECONNREFUSED)
			buf_addf(err, " (is `postern serve` running?)");
		else if (e == EACCES || e == EPERM)
			buf_addf(err, " (run as root or as server.user %s)",
			    cfg->server.user);
		goto out;
	}
	switch (cli_control_recv(c, r, err)) {
	case 1:
		if (r->type == CLI_CONTROL_ERROR)
			buf_addf(err, "%s: the server says: %s",
			    buf_cstr(&path), r->error);
		else if (r->type != CLI_CONTROL_GREETING)
			buf_addf(err, "%s: no greeting", buf_cstr(&path));
		else if (r->version != CLI_CONTROL_VERSION)
			buf_addf(err, "%s: the server speaks version %u, this "
			    "command %u: restart it after an upgrade",
			    buf_cstr(&path), r->version, CLI_CONTROL_VERSION);
		else
			rc = 0;
		break;
	case 0:
		buf_addf(err, "%s: the server closed the connection",
		    buf_cstr(&path));
		break;
	default:
		break;
	}
out:
	if (rc < 0)
		cli_control_close(c);
	buf_free(&path);
	free(r);
	return rc;
}

int
cli_control_send(struct cli_control_conn *c, unsigned char cmd,
    enum bayes_class cls, const char *user, const unsigned char *msg,
    size_t len, struct buf *err)
{
	struct buf head = BUF_INIT(0);
	struct iovec iov[2];
	struct msghdr mh;
	int rc = 0;

	if (user != NULL && strlen(user) > BAYES_USER_MAX) {
		buf_addf(err, "a user name over %u bytes", BAYES_USER_MAX);
		return -1;
	}
	if (len > CLI_CONTROL_MSG_MAX) {
		buf_addf(err, "a message over %u MiB",
		    CLI_CONTROL_MSG_MAX >> 20);
		return -1;
	}
	cli_control_req_head(&head, cmd, cls, user, len);
	iov[0].iov_base = head.data;
	iov[0].iov_len = head.len;
	iov[1].iov_base = (void *)msg;
	iov[1].iov_len = len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	while (mh.msg_iovlen > 0) {
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		size_t k;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			buf_addf(err, "writing to the server: %s",
			    errno == EPIPE ? "it closed the connection" :
			    strerror(errno));
			rc = -1;
			break;
		}
		for (k = (size_t)n; mh.msg_iovlen > 0 &&
		    k >= mh.msg_iov->iov_len; mh.msg_iovlen--, mh.msg_iov++)
			k -= mh.msg_iov->iov_len;
		if (mh.msg_iovlen > 0) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + k;
			mh.msg_iov->iov_len -= k;
		}
	}
	buf_free(&head);
	return rc;
}

int
cli_control_recv(struct cli_control_conn *c, struct cli_control_reply *r,
    struct buf *err)
{
	for (;;) {
		unsigned char type, chunk[16384];
		size_t blen, used;
		enum parse_res pr;
		ssize_t n;
		int rc;

		pr = cli_control_frame(c->in.data, c->in.len,
		    CLI_CONTROL_REPLY_MAX, CLI_CONTROL_REPLIES, &type, &blen,
		    &used);
		if (pr == PARSE_OK) {
			rc = cli_control_reply_parse(type, c->in.data +
			    CLI_CONTROL_HDR, blen, r, err);
			buf_consume(&c->in, used);
			return rc < 0 ? -1 : 1;
		}
		if (pr != PARSE_MORE) {
			buf_addf(err, "a bad reply from the server (%s)",
			    pr == PARSE_BAD ? "unknown type" : "too long");
			return -1;
		}
		n = recv(c->fd, chunk, sizeof(chunk), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 && c->in.len == 0)
			return 0;
		if (n <= 0) {
			buf_addf(err, "reading from the server: %s", n == 0 ?
			    "it closed the connection in a reply" :
			    strerror(errno));
			return -1;
		}
		if (buf_append(&c->in, chunk, (size_t)n) < 0) {
			/* cannot happen: the frame's limit is checked */
			buf_addf(err, "a reply over the limit");
			return -1;
		}
	}
}

void
cli_control_shutdown(struct cli_control_conn *c, bool both)
{
	if (c->fd >= 0)
		(void)shutdown(c->fd, both ? SHUT_RDWR : SHUT_WR);
}

void
cli_control_close(struct cli_control_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	buf_free(&c->in);
}
