/*
 * directory_priv.h - internals shared by the files of directory/.
 */
#ifndef POSTERN_DIRECTORY_PRIV_H
#define POSTERN_DIRECTORY_PRIV_H

#include "directory/directory.h"

#include <pthread.h>

struct directory {
	struct kv *kv;
	struct dir_options opt;
	pthread_mutex_t mu;	/* guards dummy_hash */
	char *dummy_hash;	/* for unknown users' timing; made once */
};

/* record fields of an account ('A' id) */
enum {
	F_NAME = 1,
	F_DISPLAY = 2,
	F_PASSWORD = 3,
	F_QUOTA = 4,
	F_CREATED = 5,
};

const char *domain_of(const char *addr);
int check_addr(const char *in, bool catchall_ok, struct buf *out,
    struct buf *err) WARN_UNUSED;
void key_name(struct buf *k, const char *name);
void key_account(struct buf *k, uint32_t id);
void key_alias(struct buf *k, const char *alias, const char *target);
int exists(struct kv_txn *t, const struct buf *k, struct buf *err)
    WARN_UNUSED;
int has_prefix(struct kv_txn *t, const struct buf *k, struct buf *err)
    WARN_UNUSED;
/* scan - kv_scan over every key under prefix, in a read transaction */
int scan(struct directory *d, const struct buf *prefix, kv_row_fn *fn,
    void *arg, struct buf *err) WARN_UNUSED;

#endif
