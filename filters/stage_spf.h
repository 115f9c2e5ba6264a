/*
 * stage_spf.h - what the "spf" stage (stage_spf.c) found, for the stages
 * after it (DMARC, RFC 7489 section 4.2: the SPF-authenticated
 * identifier).
 *
 * The result is per transaction: it is computed at MAIL FROM and lives
 * until filters_txn_end.  stage_spf_result() returns NULL when there is
 * none: the spf stage is not in the pipeline, it was skipped (a trusted
 * or authenticated client, a stage before it accepted), or MAIL has not
 * been seen yet.  The DMARC stage must come after "spf" in
 * filters.stages.
 */
#ifndef POSTERN_STAGE_SPF_H
#define POSTERN_STAGE_SPF_H

#include <stdbool.h>

#include "filters/filter.h"

/* the results of check_host(), RFC 7208 section 2.6 */
enum spf_res {
	SPF_RES_NONE,
	SPF_RES_NEUTRAL,
	SPF_RES_PASS,
	SPF_RES_FAIL,
	SPF_RES_SOFTFAIL,
	SPF_RES_TEMPERROR,
	SPF_RES_PERMERROR,
};

struct spf_result {
	/* the "MAIL FROM" identity (RFC 7208 2.4): for the null sender
	 * that is postmaster@<HELO name> */
	enum spf_res result;
	char domain[256];	/* the domain checked: the sender's, or the
				   HELO name for the null sender; "" when
				   there was none to check (result none) */
	bool null_sender;	/* domain is the HELO name */
	/* the "HELO" identity (RFC 7208 2.3), checked when spf.helo is on
	 * and the HELO name is a domain name */
	bool helo_checked;
	enum spf_res helo_result;
	char helo[256];
};

extern const struct filter_stage_ops filter_stage_spf;

/* stage_spf_result - the transaction's SPF result, or NULL (see above);
 * valid until filters_txn_end */
const struct spf_result *stage_spf_result(const struct filter_msg *m);

/* stage_spf_res_name - "pass", "fail", ... (the RFC 8601 result names) */
const char *stage_spf_res_name(enum spf_res res);

#endif
