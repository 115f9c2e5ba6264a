/*
 * smtp_data.c - DATA/BDAT content scanner (see smtp_data.h).
 *
 * A byte-at-a-time state machine with a fast path for the runs of text
 * between line breaks.  No byte is ever held back except a CR (waiting to
 * see whether an LF follows) and a "." at the start of a line (waiting to
 * see whether it is the terminator); both live in the state, never in a
 * buffer, so the scan is independent of how the input is split.
 *
 * RFC 5321 4.1.1.4 and 4.5.2 (DATA, transparency), 4.5.3.1.6 (text line
 * length), 2.3.8 (CR and LF only as CRLF), RFC 3030 (BDAT).  The smuggling
 * defence (CVE-2023-51764) is the structure itself: S_END is reachable
 * only through BOL "." CR LF, and BOL only through a real CR LF.
 *
 * Invariant: over the whole scan, out receives exactly the first
 * min(size, max_size) content octets (max_size 0 = no limit).
 */
#include <string.h>

#include "mta/smtp_data.h"

void
smtp_data_init(struct smtp_data *d, enum smtp_data_mode mode,
    bool normalize, uint64_t max_size)
{
	memset(d, 0, sizeof(*d));
	d->mode = mode;
	d->normalize = normalize;
	d->max_size = max_size;
	d->state = mode == SMTP_DATA_DOT ? SMTP_DATA_S_BOL : SMTP_DATA_S_TEXT;
}

/*
 * room - content octets we may count before out would pass out->max.
 * Octets past max_size are counted but never written, so they need none.
 */
static size_t
room(const struct smtp_data *d, const struct buf *out)
{
	size_t free_;

	if (out->max == 0)
		return SIZE_MAX;
	free_ = out->max - out->len;
	if (d->max_size != 0 &&
	    (d->size >= d->max_size || d->max_size - d->size <= free_))
		return SIZE_MAX;
	return free_;
}

/* emit - count n content octets and write those max_size allows */
static void
emit(struct smtp_data *d, struct buf *out, const void *p, size_t n)
{
	size_t keep = n;

	if (d->max_size != 0) {
		uint64_t left = d->size >= d->max_size ? 0 :
		    d->max_size - d->size;

		if (keep > left) {
			keep = (size_t)left;
			d->too_big = true;
		}
	}
	d->size = n > UINT64_MAX - d->size ? UINT64_MAX : d->size + n;
	if (keep > 0 && buf_append(out, p, keep) < 0)
		PANIC("smtp_data: out full despite room check");
}

/* text - n octets inside a line */
static void
text(struct smtp_data *d, struct buf *out, const unsigned char *p, size_t n)
{
	if (n > SMTP_DATA_LINE_MAX - d->line_len) {
		d->line_too_long = true;
		d->line_len = SMTP_DATA_LINE_MAX;	/* capped */
	} else {
		d->line_len += n;
	}
	emit(d, out, p, n);
}

/* line_end - a CRLF, or a bare CR or LF (raw is that byte) */
static void
line_end(struct smtp_data *d, struct buf *out, bool bare, const char *raw)
{
	d->line_len = 0;
	if (!bare) {
		emit(d, out, "\r\n", 2);
		return;
	}
	d->bare_newline = true;
	if (d->normalize)
		emit(d, out, "\r\n", 2);
	else
		emit(d, out, raw, 1);
}

/* text_run - octets up to the next CR or LF, at most lim */
static size_t
text_run(struct smtp_data *d, const unsigned char *p, size_t lim)
{
	size_t n;

	for (n = 0; n < lim && p[n] != '\r' && p[n] != '\n'; n++) {
		if (p[n] >= 0x80)
			d->has_8bit = true;
		else if (p[n] == '\0')
			d->has_nul = true;
	}
	return n;
}

enum parse_res
smtp_data_feed(struct smtp_data *d, const unsigned char *in, size_t len,
    struct buf *out, size_t *used_r)
{
	enum smtp_data_state bol = d->mode == SMTP_DATA_DOT ?
	    SMTP_DATA_S_BOL : SMTP_DATA_S_TEXT;
	size_t i = 0;

	ASSERT(out->max == 0 || out->max >= 3);
	*used_r = 0;
	if (d->state == SMTP_DATA_S_END)
		return PARSE_OK;
	while (i < len) {
		size_t cap = room(d, out), n;
		unsigned char c = in[i];

		if (cap < 3)		/* one step writes at most 3 octets */
			break;
		switch (d->state) {
		case SMTP_DATA_S_BOL:
			if (c == '.') {
				d->state = SMTP_DATA_S_DOT;
				i++;
				break;
			}
			d->state = SMTP_DATA_S_TEXT;
			break;
		case SMTP_DATA_S_TEXT:
			if (c == '\r') {
				d->state = SMTP_DATA_S_CR;
				i++;
			} else if (c == '\n') {
				line_end(d, out, true, "\n");
				i++;
			} else {
				n = text_run(d, in + i,
				    len - i < cap ? len - i : cap);
				text(d, out, in + i, n);
				i += n;
			}
			break;
		case SMTP_DATA_S_CR:
			if (c == '\n') {
				line_end(d, out, false, NULL);
				d->state = bol;
				i++;
			} else {
				/* bare CR; c starts the next line */
				line_end(d, out, true, "\r");
				d->state = SMTP_DATA_S_TEXT;
			}
			break;
		case SMTP_DATA_S_DOT:
			/* "." then anything but CR: the dot was stuffing */
			if (c == '\r') {
				d->state = SMTP_DATA_S_DOT_CR;
				i++;
			} else {
				d->state = SMTP_DATA_S_TEXT;
			}
			break;
		case SMTP_DATA_S_DOT_CR:
			if (c == '\n') {
				d->state = SMTP_DATA_S_END;
				*used_r = i + 1;
				return PARSE_OK;
			}
			/* "." bare CR: stuffing, then a bare CR */
			line_end(d, out, true, "\r");
			d->state = SMTP_DATA_S_TEXT;
			break;
		case SMTP_DATA_S_END:
			PANIC("smtp_data_feed: input after the end");
		}
	}
	*used_r = i;
	return PARSE_MORE;
}

int
smtp_data_finish(struct smtp_data *d, struct buf *out)
{
	ASSERT(d->mode == SMTP_DATA_RAW);
	if (d->state != SMTP_DATA_S_CR)
		return 0;
	if (room(d, out) < 2)
		return -1;
	line_end(d, out, true, "\r");
	d->state = SMTP_DATA_S_TEXT;
	return 0;
}
