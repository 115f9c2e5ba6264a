/*
 * stage_dkim.h - the dkim stage (stage_dkim.c): verification of every
 * DKIM signature of an inbound message (RFC 6376, RSA-SHA256 and
 * Ed25519-SHA256 per RFC 8463) with libopendkim, keys fetched through
 * our resolver.  Configuration group `dkim` (scores); symbols DKIM_PASS,
 * DKIM_FAIL, DKIM_NONE, DKIM_TEMPERROR, DKIM_PERMERROR; one
 * Authentication-Results clause per signature (RFC 8601 2.7.1).
 *
 * The results stay with the transaction for later stages: the dmarc
 * stage reads them with stage_dkim_results(), so it must come after
 * "dkim" in filters.stages.
 */
#ifndef POSTERN_STAGE_DKIM_H
#define POSTERN_STAGE_DKIM_H

#include <stddef.h>

#include "filters/filter.h"

extern const struct filter_stage_ops filter_stage_dkim;

/* signatures verified per message; those after the first this many are
 * ignored (each costs a DNS lookup), and counted in nignored */
#define STAGE_DKIM_SIGS_MAX 8

/* the result of one signature, RFC 8601 2.7.1 */
enum stage_dkim_result {
	STAGE_DKIM_PASS,
	STAGE_DKIM_FAIL,	/* bad signature, body hash mismatch */
	STAGE_DKIM_NEUTRAL,	/* could not be processed */
	STAGE_DKIM_POLICY,	/* valid but not acceptable (rsa-sha1, a
				   key under 1024 bits, expired) */
	STAGE_DKIM_TEMPERROR,	/* the key lookup failed for now */
	STAGE_DKIM_PERMERROR,	/* no key, a bad key record, a signature
				   that does not parse */
};

struct stage_dkim_sig {
	enum stage_dkim_result result;
	/* the tags as they were in the signature (d= in lower case);
	 * NULL when absent; at most 255 bytes each */
	const char *domain;		/* d= */
	const char *selector;		/* s= */
	const char *algorithm;		/* a= */
	char b[9];			/* the first 8 characters of b=
					   (RFC 6008), "" when absent */
	const char *reason;		/* why it did not pass; NULL on pass */
};

struct stage_dkim_results {
	struct stage_dkim_sig *sigs;	/* in the order of the header */
	size_t nsigs;			/* 0: the message is unsigned */
	size_t nignored;		/* past STAGE_DKIM_SIGS_MAX */
};

/*
 * stage_dkim_results - what the dkim stage found in this transaction's
 * message; NULL when the stage is not in the pipeline, did not run (a
 * trusted client, a message too large to scan), failed (libopendkim
 * itself did) or runs later.  Valid until filters_txn_end.
 */
const struct stage_dkim_results *stage_dkim_results(
    const struct filter_msg *m);

/* stage_dkim_result_name - "pass", "fail", "neutral", "policy",
 * "temperror", "permerror" */
const char *stage_dkim_result_name(enum stage_dkim_result r);

#endif
