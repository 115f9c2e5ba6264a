/*
 * queue_transport.c - helpers transports use to fill a struct
 * transport_result (see transport.h).  The text is cut at
 * TRANSPORT_TEXT_MAX with a visible "..." (it is a diagnostic for logs and
 * bounces, not data we must keep whole); the qmgr cleans control
 * characters when it records it.
 */
#include <stdarg.h>
#include <string.h>

#include "queue/transport.h"

static void
set_text(struct buf *b, const char *fmt, va_list ap)
{
	struct buf tmp = BUF_INIT(0);

	buf_reset(b);
	if (buf_vprintf(&tmp, fmt, ap) < 0)
		PANIC("transport_result: format failed");
	if (tmp.len > TRANSPORT_TEXT_MAX) {
		buf_add(b, tmp.data, TRANSPORT_TEXT_MAX - 3);
		buf_add_str(b, "...");
	} else {
		buf_add(b, tmp.data, tmp.len);
	}
	buf_free(&tmp);
}

void
transport_result_set(struct transport_result *r, enum transport_status st,
    const char *dsn, const char *fmt, ...)
{
	va_list ap;

	r->status = st;
	r->flags = 0;
	r->dsn[0] = '\0';
	if (dsn != NULL && strlen(dsn) < sizeof(r->dsn))
		memcpy(r->dsn, dsn, strlen(dsn) + 1);
	va_start(ap, fmt);
	set_text(&r->text, fmt, ap);
	va_end(ap);
}

void
transport_result_relay(struct transport_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	set_text(&r->relay, fmt, ap);
	va_end(ap);
}
