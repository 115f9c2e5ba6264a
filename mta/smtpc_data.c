/*
 * smtpc_data.c - line ends, dot-stuffing and the content scan of the SMTP
 * client (contract and decisions in smtpc_data.h; RFC 5321 2.3.8 and
 * 4.5.2, RFC 3030, RFC 6152, RFC 6531).
 *
 * Invariants of struct smtpc_data between calls: cr means the last byte
 * fed was a CR whose CRLF has not been written yet; bol means the output
 * so far ends with CRLF (or is empty), so the next byte starts a line;
 * never both.  Runs of ordinary bytes are copied with one buf_add.
 */
#include <string.h>

#include "mta/smtpc_data.h"

void
smtpc_data_init(struct smtpc_data *d, bool stuff)
{
	memset(d, 0, sizeof(*d));
	d->stuff = stuff;
	d->bol = true;
}

void
smtpc_data_feed(struct smtpc_data *d, const unsigned char *in, size_t len,
    struct buf *out)
{
	size_t i = 0;

	if (len > 0)
		d->any = true;
	while (i < len) {
		size_t run;

		if (d->cr) {
			/* CR LF, or a bare CR: a line end either way */
			buf_add(out, "\r\n", 2);
			d->cr = false;
			d->bol = true;
			if (in[i] == '\n')
				i++;
			continue;
		}
		if (in[i] == '\r') {
			d->cr = true;
			d->bol = false;
			i++;
			continue;
		}
		if (in[i] == '\n') {
			buf_add(out, "\r\n", 2);	/* a bare LF */
			d->bol = true;
			i++;
			continue;
		}
		if (d->bol && d->stuff && in[i] == '.')
			buf_add(out, ".", 1);
		d->bol = false;
		for (run = i; run < len && in[run] != '\r' && in[run] != '\n';
		    run++)
			;
		buf_add(out, in + i, run - i);
		i = run;
	}
}

void
smtpc_data_end(struct smtpc_data *d, struct buf *out)
{
	if (d->cr || (d->any && !d->bol))
		buf_add(out, "\r\n", 2);
	d->cr = false;
	d->bol = true;
	if (d->stuff)
		buf_add(out, ".\r\n", 3);
}

void
smtpc_scan_init(struct smtpc_scan *s)
{
	memset(s, 0, sizeof(*s));
	s->bol = true;
}

void
smtpc_scan_feed(struct smtpc_scan *s, const unsigned char *in, size_t len)
{
	s->size += len;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = in[i];

		if (c == '\n') {
			/* "\r\n" at the start of a line: the empty line */
			if (s->cr && s->bol)
				s->in_body = true;
			s->bol = true;
			s->cr = false;
			continue;
		}
		if (c == '\r') {
			s->cr = true;
			continue;
		}
		s->cr = false;
		s->bol = false;
		if (c >= 0x80)
			s->flags |= s->in_body ? SMTPC_SCAN_8BIT_BODY :
			    SMTPC_SCAN_8BIT_HEADER;
		else if (c == 0)
			s->flags |= SMTPC_SCAN_NUL;
	}
}
