/*
 * jmap_methods.c - every method the JMAP server answers, and the types
 * whose state push reports.
 *
 * Adding a type: write imap-jmap/jmap_<type>.c with its struct jmap_type
 * (the per-object functions of jmap_priv.h) and a method table whose
 * handlers call jmap_std_get/changes/set/query/queryChanges, declare the
 * two in jmap_priv.h, and list them below.  Its capability is then
 * advertised in the session (jmap_caps_advertised) and its state pushed
 * (jmap_push.c); the core needs no other change.
 */
#include <stddef.h>

#include "imap-jmap/jmap_priv.h"

const struct jmap_method *const jmap_method_tables[] = {
	jmap_core_methods,	/* Core/echo */
	jmap_blob_methods,	/* Blob/copy */
	jmap_mailbox_methods,
	jmap_thread_methods,
	jmap_email_methods,
	jmap_identity_methods,	/* RFC 8621 6 */
	jmap_submission_methods,	/* RFC 8621 7 */
	jmap_vacation_methods,	/* VacationResponse (singleton) */
	NULL,
};

const struct jmap_type *const jmap_std_types[] = {
	&jmap_mailbox_type,
	&jmap_thread_type,
	&jmap_email_type,
	&jmap_identity_type,
	&jmap_submission_type,
	&jmap_vacation_type,	/* push only: its methods are its own */
	NULL,
};
