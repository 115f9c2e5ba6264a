/*
 * subject.h - the RFC 5256 2.1 base subject, one algorithm for the store
 * (mime_headers.base_subject: JMAP threading, SORT SUBJECT) and IMAP
 * THREAD ORDEREDSUBJECT/REFERENCES, which also need whether a reply or
 * forward marker was removed.
 */
#ifndef POSTERN_SUBJECT_H
#define POSTERN_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/*
 * subject_base - the base subject of the decoded subject[0..len) (it
 * stops early at a NUL) appended to out, its case kept; *refwd_r tells
 * whether extraction removed "re:", "fwd:", "(fwd)" or "[fwd: ...]".
 */
void subject_base(const char *subject, size_t len, struct buf *out,
    bool *refwd_r);

#endif
