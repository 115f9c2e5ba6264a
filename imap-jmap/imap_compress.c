/*
 * imap_compress.c - COMPRESS=DEFLATE (RFC 4978): a libevent filter
 * bufferevent with zlib's raw DEFLATE (no zlib or gzip header) both
 * ways, stacked over the socket or the TLS filter.
 *
 * Output is sync-flushed each time the filter has taken everything we
 * wrote (Z_SYNC_FLUSH, RFC 4978 4), so a response is never held back
 * waiting for more.  The deflate side uses a 4 KiB window and memLevel
 * 7 (about 80 KiB, not zlib's default 256 KiB: RFC 4978 lets the
 * compressor choose; the client's inflater takes any window); the
 * inflate side must accept the 32 KiB window any client may use.
 * Input that does not inflate ends the session.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <zlib.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap-jmap/imap_priv.h"

#define CHUNK 16384

struct imap_zlib {
	z_stream in, out;
	bool in_ok, out_ok;
};

void
imap_compress_free(struct imap_zlib **zp)
{
	struct imap_zlib *z = *zp;

	if (z == NULL)
		return;
	if (z->in_ok)
		(void)inflateEnd(&z->in);
	if (z->out_ok)
		(void)deflateEnd(&z->out);
	free(z);
	*zp = NULL;
}

/* run - feed all of src through zs (inflate or deflate) into dst */
static enum bufferevent_filter_result
run(z_stream *zs, bool inflating, struct evbuffer *src, struct evbuffer *dst)
{
	struct evbuffer_iovec v[1];

	for (;;) {
		size_t avail = evbuffer_get_length(src);
		unsigned char *in = NULL;
		size_t took;
		int r, flush = Z_NO_FLUSH;

		if (avail > 0) {
			size_t n = avail < CHUNK ? avail : CHUNK;

			in = evbuffer_pullup(src, (ev_ssize_t)n);
			zs->next_in = in;
			zs->avail_in = (uInt)n;
		} else {
			zs->next_in = NULL;
			zs->avail_in = 0;
			if (inflating)
				return BEV_OK;
			flush = Z_SYNC_FLUSH;
		}
		if (evbuffer_reserve_space(dst, CHUNK, v, 1) < 1)
			return BEV_ERROR;
		zs->next_out = v[0].iov_base;
		zs->avail_out = (uInt)(v[0].iov_len < CHUNK * 4 ?
		    v[0].iov_len : CHUNK * 4);
		took = zs->avail_out;
		if (inflating) {
			/* a client never ends its stream: Z_STREAM_END too */
			r = inflate(zs, Z_SYNC_FLUSH);
			if (r != Z_OK && r != Z_BUF_ERROR)
				return BEV_ERROR;
		} else {
			r = deflate(zs, avail > CHUNK ? Z_NO_FLUSH :
			    avail > 0 ? Z_SYNC_FLUSH : flush);
			if (r != Z_OK && r != Z_BUF_ERROR)
				return BEV_ERROR;
		}
		v[0].iov_len = took - zs->avail_out;
		if (evbuffer_commit_space(dst, v, 1) < 0)
			return BEV_ERROR;
		if (in != NULL)
			evbuffer_drain(src, (size_t)(zs->next_in - in));
		/* done when nothing is left and the output was not full */
		if (evbuffer_get_length(src) == 0 && zs->avail_out > 0)
			return BEV_OK;
		/* no progress either way: wait for more input */
		if ((in == NULL || zs->next_in == in) &&
		    zs->avail_out == took)
			return BEV_OK;
	}
}

static enum bufferevent_filter_result
in_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *ctx)
{
	struct imap_zlib *z = ctx;

	(void)limit;
	(void)mode;
	return run(&z->in, true, src, dst);
}

static enum bufferevent_filter_result
out_filter(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *ctx)
{
	struct imap_zlib *z = ctx;

	(void)limit;
	(void)mode;
	if (evbuffer_get_length(src) == 0)
		return BEV_OK;
	return run(&z->out, false, src, dst);
}

int
imap_compress_start(struct imap_session *s)
{
	struct imap_zlib *z = xcalloc(1, sizeof(*z));
	struct bufferevent *f;
	struct bufferevent *under = s->bev;

	if (inflateInit2(&z->in, -15) != Z_OK)
		goto fail;
	z->in_ok = true;
	if (deflateInit2(&z->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -12, 7,
	    Z_DEFAULT_STRATEGY) != Z_OK)
		goto fail;
	z->out_ok = true;
	/* the session owns z (freed after the bufferevent): no free_ctx */
	f = bufferevent_filter_new(under, in_filter, out_filter,
	    BEV_OPT_CLOSE_ON_FREE, NULL, z);
	if (f == NULL)
		goto fail;
	s->z = z;
	s->bev = f;
	imap_setup_bev(s);
	/* bytes the client sent after COMPRESS are compressed already */
	if (evbuffer_get_length(bufferevent_get_input(under)) > 0)
		bufferevent_trigger(under, EV_READ, BEV_TRIG_IGNORE_WATERMARKS);
	return 0;
fail:
	imap_compress_free(&z);
	return -1;
}
