/*
 * stage_iprev.c - the "iprev" stage: is the client's address
 * forward-confirmed?  (RFC 8601 section 3, "iprev"; the result names of
 * section 2.7.3.)
 *
 * The check: the PTR names of the client's address (common/dns), then the
 * addresses of each name, of the client's family only (A for an IPv4
 * client, AAAA for IPv6), until one of them is the client's address.  At
 * most IPREV_NAMES_MAX names are tried (a PTR set can be long, and each
 * name costs a lookup).  Results:
 *
 *   pass       a name resolves back: conn->ptr is set to it (owned by the
 *              session, which frees it), no score
 *   fail       no PTR record, or no name resolves back to the address:
 *              symbol IPREV_FAIL with iprev.fail
 *   temperror  the PTR lookup failed temporarily (SERVFAIL, timeout), or
 *              it did not confirm and a forward lookup failed temporarily,
 *              or the stage's time ran out: IPREV_TEMPERROR, score 0
 *   permerror  the question could not be asked (a client without an IP
 *              address): IPREV_PERMERROR, score 0
 *
 * When.  The lookups run at the connect step, so that conn->ptr is there
 * for every later step and stage; the result is kept in this stage's
 * stage_data until the end of the first transaction.  The score and the
 * Authentication-Results clause are added at the data step, to each
 * message:
 *
 *   iprev=pass policy.iprev=192.0.2.1 (mx.example.org)
 *   iprev=fail policy.iprev="2001:db8::1"
 *
 * (an IPv6 address is quoted: ':' is not allowed in an RFC 2045 token).
 * A later transaction of the same connection finds no stage_data: a
 * confirmed name is taken from conn->ptr without a lookup, anything else
 * is asked again (the resolver's cache makes that cheap, and a temperror
 * gets a second chance).
 *
 * Inbound only: trusted and authenticated clients are not checked.
 */
#include <stdlib.h>
#include <string.h>

#include "common/dns.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "filters/filters.h"

#define IPREV_SVC "iprev"
#define IPREV_NAMES_MAX 10	/* PTR names whose addresses we ask for */

enum iprev_res { IPREV_PASS, IPREV_FAIL, IPREV_TEMPERROR, IPREV_PERMERROR };

static const char *const iprev_res_names[] = { "pass", "fail", "temperror",
	"permerror" };

struct iprev_state {
	const struct config_iprev *cfg;
	struct dns *dns;
};

/* the connect step's result, for the data step (stage_data) */
struct iprev_txn {
	enum iprev_res res;
};

extern const struct filter_stage_ops filter_stage_iprev;

static int
iprev_init(const struct filter_env *env, void **state_r, struct buf *err)
{
	struct iprev_state *st;

	st = xcalloc(1, sizeof(*st));
	st->cfg = &env->cfg->iprev;
	st->dns = env->dns;
	*state_r = st;
	return 0;
}

static void
iprev_free(void *state)
{
	free(state);
}

/* iprev_confirms - whether name has an address of family that is ip */
static bool
iprev_confirms(struct dns *dns, const char *name, const unsigned char *ip,
    size_t iplen, bool *temp_r, struct buf *why)
{
	struct dns_result r;
	struct buf err = BUF_INIT(0);
	bool found = false;

	if (dns_addrs(dns, name, iplen == 4 ? AF_INET : AF_INET6, &r,
	    &err) < 0) {
		if (dns_status_is_temporary(r.status))
			*temp_r = true;
		buf_addf(why, "%s%s", why->len > 0 ? "; " : "",
		    buf_cstr(&err));
	}
	for (size_t i = 0; i < r.naddr && !found; i++) {
		unsigned char a[16];

		found = netaddr_ip_bytes((const struct sockaddr *)
		    &r.addr[i].ss, a) == iplen && memcmp(a, ip, iplen) == 0;
	}
	dns_result_free(&r);
	buf_free(&err);
	return found;
}

/*
 * iprev_check - the PTR names of the client and their forward
 * confirmation; a confirmed name in *name_r (the caller's), the reason
 * of anything else in why
 */
static enum iprev_res
iprev_check(const struct iprev_state *st, struct filter_msg *m,
    char **name_r, struct buf *why)
{
	const struct sockaddr *sa = (const struct sockaddr *)&m->conn->addr.ss;
	unsigned char ip[16];
	size_t iplen = netaddr_ip_bytes(sa, ip), i;
	struct dns_result r;
	bool temp = false;
	enum iprev_res res = IPREV_FAIL;

	*name_r = NULL;
	if (iplen == 0) {
		buf_add_str(why, "the client has no IP address");
		return IPREV_PERMERROR;
	}
	if (dns_ptr(st->dns, sa, &r, why) < 0) {
		res = dns_status_is_temporary(r.status) ? IPREV_TEMPERROR :
		    IPREV_PERMERROR;
		goto out;
	}
	if (r.status != DNS_OK) {
		buf_addf(why, "no PTR record (%s)", dns_status_name(r.status));
		goto out;
	}
	for (i = 0; i < r.nname && i < IPREV_NAMES_MAX; i++) {
		if (filter_deadline_ms(m) <= 1) {
			buf_addf(why, "%sout of time", why->len > 0 ? "; " :
			    "");
			temp = true;
			break;
		}
		if (iprev_confirms(st->dns, r.name[i], ip, iplen, &temp,
		    why)) {
			*name_r = xstrdup(r.name[i]);
			res = IPREV_PASS;
			goto out;
		}
	}
	if (temp)
		res = IPREV_TEMPERROR;
	else if (r.nname > i)
		buf_addf(why, "%snone of the first %zu of %zu PTR names "
		    "resolves back", why->len > 0 ? "; " : "", i, r.nname);
	else
		buf_addf(why, "%sno PTR name resolves back (%zu tried)",
		    why->len > 0 ? "; " : "", i);
out:
	dns_result_free(&r);
	return res;
}

/* iprev_run - check the client, set conn->ptr on a pass, log the rest */
static enum iprev_res
iprev_run(const struct iprev_state *st, struct filter_msg *m)
{
	struct buf why = BUF_INIT(0);
	char *name;
	enum iprev_res res;

	res = iprev_check(st, m, &name, &why);
	if (res == IPREV_PASS) {
		free(m->conn->ptr);
		m->conn->ptr = name;
		log_debug(IPREV_SVC, "%s: iprev=pass client=%s name=%s",
		    m->qid[0] != '\0' ? m->qid : "NOQUEUE", m->conn->ip, name);
	} else {
		log_info(IPREV_SVC, "%s: iprev=%s client=%s: %s",
		    m->qid[0] != '\0' ? m->qid : "NOQUEUE",
		    iprev_res_names[res], m->conn->ip, buf_cstr(&why));
	}
	buf_free(&why);
	return res;
}

/*
 * iprev_connect - the check, once per connection: its result is kept
 * with the connection (filter_conn_data), so the transactions after it
 * (EHLO resets the first) reuse it; only a temporary error is asked again
 * at the data step
 */
static enum filter_action
iprev_connect(void *state, struct filter_msg *m, struct filter_reply *r)
{
	struct iprev_txn *t = filter_conn_data_get(m);

	(void)r;
	if (t == NULL) {
		t = xcalloc(1, sizeof(*t));
		filter_conn_data_set(m, t);
	}
	t->res = iprev_run(state, m);
	return FILTER_CONTINUE;
}

static enum filter_action
iprev_data(void *state, struct filter_msg *m, struct filter_reply *r)
{
	const struct iprev_state *st = state;
	struct iprev_txn *t = filter_conn_data_get(m);
	enum iprev_res res;
	const char *q;

	(void)r;
	if (t != NULL && t->res != IPREV_TEMPERROR) {
		res = t->res;
	} else if (m->conn->ptr != NULL) {	/* confirmed earlier on */
		res = IPREV_PASS;
	} else {
		res = iprev_run(st, m);
		if (t == NULL) {
			t = xcalloc(1, sizeof(*t));
			filter_conn_data_set(m, t);
		}
		t->res = res;
	}
	q = strchr(m->conn->ip, ':') != NULL ? "\"" : "";
	switch (res) {
	case IPREV_PASS:
		filter_ar(m, "iprev=pass policy.iprev=%s%s%s (%s)", q,
		    m->conn->ip, q, m->conn->ptr);
		return FILTER_CONTINUE;
	case IPREV_FAIL:
		filter_symbol(m, "IPREV_FAIL", st->cfg->fail);
		break;
	case IPREV_TEMPERROR:
		filter_symbol(m, "IPREV_TEMPERROR", 0.0);
		break;
	case IPREV_PERMERROR:
		filter_symbol(m, "IPREV_PERMERROR", 0.0);
		break;
	}
	filter_ar(m, "iprev=%s policy.iprev=%s%s%s", iprev_res_names[res], q,
	    m->conn->ip, q);
	return FILTER_CONTINUE;
}

static void
iprev_conn_end(void *state, struct filter_conn *c, void *data)
{
	(void)state;
	(void)c;
	free(data);
}

const struct filter_stage_ops filter_stage_iprev = {
	.name = "iprev",
	.needs_dns = true,
	.inbound_only = true,
	.init = iprev_init,
	.free = iprev_free,
	.connect = iprev_connect,
	.data = iprev_data,
	.conn_end = iprev_conn_end,
};
