/*
 * smtpd_submit.c - the header of a message from an authenticated client
 * or on a submission listener, looked at once, before its first byte is
 * spooled or scanned (smtpd_data.c calls smtpd_submit_header on a worker,
 * at the first flush of a big message or at the end of a small one).
 *
 * From: (authenticated sessions, any listener): every address of every
 * From field must be the account's (smtpd_auth_owns, as MAIL FROM); a
 * field we cannot read as an address list, or one with no address (an
 * empty group), proves nothing and is refused too: 553 5.7.1 at the end
 * of the data.  A directory failure is 451 4.3.0.  Sender: is not
 * checked.
 *
 * RFC 6409 8 fixes (submission listeners only): Date: (8.2) and
 * Message-ID: (8.3, "<QID.microseconds@server.hostname>") are added when
 * the message has none, and From: when it has none (RFC 5322 3.6 wants
 * one; the envelope sender, which is the account's by then).  They go
 * right after our Received field, where the pipeline's fields go too.
 * The message grows by those few lines past the client's SIZE; fine.
 *
 * The header must be complete by the first flush (SMTPD_FLUSH_AT, 256 KiB
 * at least): a longer one is refused (554 5.6.0) on these sessions, as
 * nothing sane needs it and its From: would be out of reach.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/rfc5322.h"
#include "mta/mta_priv.h"

/* refuse - the message's answer; true for the caller to return */
static bool
refuse(struct smtpd_session *s, enum filter_action a, int code,
    const char *ecode, const char *text)
{
	struct smtpd_txn *t = &s->txn;

	t->faction = a;
	filter_reply_set(&t->freply, code, ecode, "%s", text);
	t->hdr_refused = true;
	return true;
}

/* check_from - every From address is the account's; true when refused */
static bool
check_from(struct smtpd_session *s, const unsigned char *hdr, size_t hlen,
    size_t *nfrom_r)
{
	struct rfc5322_field f;
	struct buf addrs = BUF_INIT(0), err = BUF_INIT(0);
	char text[256];
	size_t off = 0;
	bool refused = false;

	*nfrom_r = 0;
	while (!refused && rfc5322_header_next(hdr, hlen, &off, &f)) {
		size_t n = 0;
		const char *a;

		if (!ascii_eq_nocase(f.name, f.name_len, "From"))
			continue;
		(*nfrom_r)++;
		buf_reset(&addrs);
		if (rfc5322_addresses(f.value, f.value_len, &addrs,
		    &n) < 0 || n == 0) {
			refused = refuse(s, FILTER_REJECT, 553, "5.7.1",
			    "From: header not understood: its addresses "
			    "cannot be checked");
			break;
		}
		a = (const char *)addrs.data;
		for (size_t i = 0; i < n && !refused; i++, a += strlen(a) + 1) {
			int r = smtpd_auth_owns(s, a, &err);

			if (r < 0) {
				log_error(SMTPD_SVC, "%s: sender check "
				    "<%s>: %s", s->txn.qid, a, buf_cstr(&err));
				refused = refuse(s, FILTER_TEMPFAIL, 451,
				    "4.3.0", "Temporary lookup failure");
			} else if (r == 0) {
				(void)snprintf(text, sizeof(text), "From: "
				    "<%.100s> not owned by user %.100s", a,
				    s->auth_user);
				refused = refuse(s, FILTER_REJECT, 553,
				    "5.7.1", text);
			}
		}
	}
	buf_free(&addrs);
	buf_free(&err);
	return refused;
}

/* fixes - the fields RFC 6409 8 lets us add, into ins; their names
 * into names for the log */
static void
fixes(struct smtpd_session *s, const unsigned char *hdr, size_t hlen,
    size_t nfrom, struct buf *ins, struct buf *names)
{
	struct smtpd_txn *t = &s->txn;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	if (rfc5322_header_find(hdr, hlen, "Date", NULL) == 0) {
		localtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
		buf_addf(ins, "Date: %s\r\n", date);
		buf_add_str(names, " Date");
	}
	if (rfc5322_header_find(hdr, hlen, "Message-ID", NULL) == 0) {
		buf_addf(ins, "Message-ID: <%s.%llu@%s>\r\n", t->qid,
		    (unsigned long long)clock_wall_us(),
		    s->cfg->server.hostname);
		buf_add_str(names, " Message-ID");
	}
	if (nfrom == 0 && t->sender[0] != '\0') {
		buf_addf(ins, "From: <%s>\r\n", t->sender);
		buf_add_str(names, " From");
	}
}

bool
smtpd_submit_header(struct smtpd_session *s, bool at_end)
{
	struct smtpd_txn *t = &s->txn;
	const unsigned char *msg;
	struct buf ins = BUF_INIT(0), out = BUF_INIT(0), names = BUF_INIT(0);
	size_t mlen, hlen, nfrom = 0;
	bool complete;

	if (t->hdr_done)
		return t->hdr_refused;
	t->hdr_done = true;
	if (s->auth_user == NULL && !s->srv->submission)
		return false;
	msg = t->content.data + t->received_len;
	mlen = t->content.len - t->received_len;
	hlen = rfc5322_header_len(msg, mlen, &complete);
	if (!complete && !at_end)
		return refuse(s, FILTER_REJECT, 554, "5.6.0", "Message header "
		    "too long");
	if (s->auth_user != NULL && check_from(s, msg, hlen, &nfrom))
		return true;
	if (!s->srv->submission)
		return false;
	fixes(s, msg, hlen, nfrom, &ins, &names);
	if (ins.len == 0)
		return false;
	buf_add(&out, t->content.data, t->received_len);
	buf_add(&out, ins.data, ins.len);
	buf_add(&out, msg, mlen);
	buf_free(&t->content);
	t->content = out;
	log_info(SMTPD_SVC, "%s: header fields added:%s", t->qid,
	    buf_cstr(&names));
	buf_free(&ins);
	buf_free(&names);
	return false;
}
