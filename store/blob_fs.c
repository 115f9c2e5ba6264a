/*
 * blob_fs.c - the filesystem blob backend: one file per blob,
 * <root>/ab/<64 hex>, reference counts in the data store (blob.h).
 *
 * Layout: a file being written is unnamed (O_TMPFILE in <root>/tmp/,
 * given its name by linkat) where the filesystem allows, else named
 * "<pid>.<sequence>" in <root>/tmp/ and unlinked there once linked (the
 * unnamed file saves that entry and its removal, and a crash leaves
 * nothing behind; measured on ext4: about 5-10% of a put).  The 256
 * shards <root>/00 .. <root>/ff are created (and the root fsync'ed) at
 * open.  One level, not two: a second level of 65,536 directories made
 * on first use cost a mkdir and two directory fsyncs on nearly every put
 * of a young store (measured: a third of a delivery's time), and ext4's
 * hashed directories keep lookups fast with millions of files in one
 * shard.  Files and directories are 0600/0700.
 *
 * Invariants:
 *   - A file under its id's name is complete and fsync'ed: it is
 *     written, fsync'ed, then linked under its name (link never
 *     replaces; the one exception replaces a file whose size proves it
 *     damaged).
 *   - Its directory entry is durable before its count is committed: the
 *     shard directory is fsync'ed after the link (or when the file is
 *     found), and the shard's own entry in <root>/ab once per process
 *     and shard (the "durable" bits), so a directory made by another
 *     thread that has not synced it yet is never trusted.
 *   - A count exists only while the file does: a put links (or finds)
 *     the file before count + 1; an unref commits the count's deletion
 *     before it unlinks.  Both hold an exclusive flock on the shard
 *     directory across their two steps, so a put can never count a file
 *     that an unref is about to remove.  A crash between two steps leaves
 *     an orphan file (no count), never a count without a file.
 *   - A pin (blob_put_pinned) holds a SHARED flock on the shard from
 *     before its link (or find) until blob_pin_release, which comes after
 *     the caller's transaction that counts it has committed.  Unref and
 *     reap decide to unlink only under the exclusive lock, so after every
 *     pin of the shard is gone, and by reading the committed count: a
 *     count taken from zero under a pin is seen, and the file stays.
 *     Pins share the lock with each other, so a thread may hold several
 *     (a group commit) and pins never wait for one another; Linux flock
 *     grants a shared lock while an exclusive one waits, so a second pin
 *     on the shard of a pin the same thread holds does not wait behind
 *     an unref that waits for the first (no self-deadlock).
 *   - When a commit fails its outcome is unknown (it may be durable), so
 *     a linked file is never removed after one.
 *
 * Lock order - the shard flock S and the data store's writer W (the
 * kv_wlock ticket lock, or SQLite's/RocksDB's own between processes):
 * S is always taken before W and never while W is held.  blob_put and
 * blob_unref take S (exclusive), then W for their count commit; reap
 * takes S, then only a read transaction; a pinned caller takes S
 * (shared) in blob_put_pinned, outside any transaction, then W for its
 * transaction, in which blob_ref_pinned_txn takes no lock.  A holder of
 * W therefore never waits for S, so there is no cycle: an unref holding
 * S exclusively waits for W, whose holder (maybe a group commit running
 * the transactions of pinned callers) finishes without S; a reap or an
 * unref waiting for S waits for pins whose owners wait only for W or for
 * their own transaction.  What would break it is a call that takes S
 * inside a write transaction, or while holding a pin on the same shard
 * (blob_put, blob_unref, blob_reap from a thread holding a pin), which
 * blob.h forbids.  XXX shared locks can starve an exclusive one: a shard
 * kept pinned without a break by a stream of deliveries delays reaps
 * and unrefs there; more shards, or a fair lock, would bound that.
 *
 * The read check: a file is written with the XXH3-64 of its content in
 * the extended attribute user.postern.xxh3 (8 bytes, big-endian), set
 * before the file's fsync, and a whole read checks that (blob.c) rather
 * than the SHA-256 of the id.  A file without it (written before it was
 * kept, on a filesystem without user xattrs, or copied without them)
 * is checked against its id as before.
 *
 * Stray temporary files (a crash mid-put with named files) are removed
 * at open when older than an hour, which no put in progress in another
 * process can be.  XXX blob_put costs three fsyncs (file, directory,
 * data store); a pinned put two, its count riding on the caller's
 * commit.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "store/blob.h"
#include "store/store_priv.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "store/kv.h"

#define SHARDS 256u		/* directories <root>/00 .. ff */
#define CHECK_XATTR "user.postern.xxh3"	/* the content's XXH3-64 */
#define STALE_TMP_SECS 3600

/* how a file being written gets its name (probed at open) */
enum fs_link {
	LINK_NAMED,		/* a named file in tmp/, linked, then unlinked */
	LINK_EMPTY_PATH,	/* O_TMPFILE, linkat(AT_EMPTY_PATH) */
	LINK_PROC,		/* O_TMPFILE, linkat of /proc/self/fd/N */
};

struct blob_fs {
	char *root;
	int rootfd;
	int tmpfd;
	enum fs_link link;
	uint64_t inline_max;		/* blob_options.inline_max */
	atomic_uint_fast64_t seq;	/* temporary file names */
	_Atomic uint64_t durable[SHARDS / 64];
};

struct fs_writer {
	int fd;
	bool anon;		/* O_TMPFILE: no name yet */
	char name[48];		/* in tmp/, unless anon */
	XXH3_state_t *xxh;	/* the content so far; NULL: none kept */
};

struct fs_reader {
	int fd;
};

static void probe_link(struct blob_store *bs);

/* clean_tmp - remove what a crash left in tmp/; errors only logged */
static void
clean_tmp(struct blob_fs *fs)
{
	int fd = dup(fs->tmpfd);
	time_t limit = time(NULL) - STALE_TMP_SECS;
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		log_warn("blob", "%s/tmp: cannot list: %s", fs->root,
		    strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (fstatat(fs->tmpfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) || st.st_mtime >= limit)
			continue;
		if (unlinkat(fs->tmpfd, de->d_name, 0) < 0)
			log_warn("blob", "%s/tmp/%s: unlink: %s", fs->root,
			    de->d_name, strerror(errno));
	}
	closedir(d);
}

static void
fs_close(struct blob_store *bs)
{
	struct blob_fs *fs = bs->be;

	if (fs == NULL)
		return;
	if (fs->rootfd >= 0)
		close(fs->rootfd);
	if (fs->tmpfd >= 0)
		close(fs->tmpfd);
	free(fs->root);
	free(fs);
	bs->be = NULL;
}

static int
fs_open(struct blob_store *bs, const struct blob_options *opt,
    struct buf *err)
{
	struct blob_fs *fs = xcalloc(1, sizeof(*fs));
	const char *what = "mkdir";
	char l1[3];

	bs->be = fs;
	fs->rootfd = fs->tmpfd = -1;
	if (opt->path == NULL || opt->path[0] == '\0') {
		buf_addf(err, "blob store: no directory given");
		goto fail_quiet;
	}
	fs->root = xstrdup(opt->path);
	fs->inline_max = opt->inline_max;
	if (mkdir_p(fs->root, 0700) < 0)
		goto fail;
	what = "open";
	fs->rootfd = open(fs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->rootfd < 0)
		goto fail;
	what = "create tmp/ in";
	if (mkdirat(fs->rootfd, "tmp", 0700) < 0 && errno != EEXIST)
		goto fail;
	fs->tmpfd = openat(fs->rootfd, "tmp", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC);
	if (fs->tmpfd < 0)
		goto fail;
	what = "create shard directories in";
	for (unsigned i = 0; i < 256; i++) {
		if (snprintf(l1, sizeof(l1), "%02x", i) != 2)
			PANIC("shard name");
		if (mkdirat(fs->rootfd, l1, 0700) < 0 && errno != EEXIST)
			goto fail;
	}
	what = "fsync";
	if (fsync(fs->rootfd) < 0)
		goto fail;
	for (unsigned i = 0; i < SHARDS / 64; i++)
		atomic_store(&fs->durable[i], UINT64_MAX);
	clean_tmp(fs);
	probe_link(bs);
	return 0;
fail:
	buf_addf(err, "blob store: %s %s: %s", what, opt->path,
	    strerror(errno));
fail_quiet:
	fs_close(bs);
	return -1;
}

/* failed - the injected errno of step, or 0; errno set for the caller */
static int
failed(struct blob_store *bs, const char *step)
{
	int e = blob_fault(bs, step);

	if (e != 0)
		errno = e;
	return e;
}

static void
file_name(const struct blob_id *id, char hex[BLOB_HEX_SIZE], char path[6])
{
	blob_id_hex(id, hex);
	memcpy(path, hex, 2);
	path[2] = '\0';
}

/*
 * shard_lock - the shard directory of id, made if needed and its entry
 * known durable, opened and flock'ed (how: LOCK_EX or LOCK_SH; closing
 * it unlocks)
 */
static int
shard_lock(struct blob_store *bs, const struct blob_id *id, int how,
    int *fd_r, struct buf *err)
{
	struct blob_fs *fs = bs->be;
	unsigned idx = id->b[0];
	uint64_t bit = UINT64_C(1) << (idx % 64);
	char hex[BLOB_HEX_SIZE], path[6];
	const char *what = "open";
	int fd;

	file_name(id, hex, path);
	fd = openat(fs->rootfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* made at open, but removed since: make it durable again */
		what = "mkdir";
		if (mkdirat(fs->rootfd, path, 0700) < 0 && errno != EEXIST)
			goto fail;
		atomic_fetch_and(&fs->durable[idx / 64], ~bit);
		what = "open";
		fd = openat(fs->rootfd, path, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
	}
	if (fd < 0)
		goto fail;
	if ((atomic_load(&fs->durable[idx / 64]) & bit) == 0) {
		what = "fsync";
		if (fsync(fs->rootfd) < 0) {
			int e = errno;

			close(fd);
			errno = e;
			goto fail;
		}
		atomic_fetch_or(&fs->durable[idx / 64], bit);
	}
	what = "flock";
	while (flock(fd, how) < 0) {
		if (errno != EINTR) {
			int e = errno;

			close(fd);
			errno = e;
			goto fail;
		}
	}
	*fd_r = fd;
	return 0;
fail:
	buf_addf(err, "blob store: %s %s/%s: %s", what, fs->root, path,
	    strerror(errno));
	return -1;
}

/* ---- writing ---- */

/* tmp_name - a fresh name for a file in tmp/ */
static void
tmp_name(struct blob_fs *fs, char name[48])
{
	unsigned long long seq = atomic_fetch_add(&fs->seq, 1);
	int n = snprintf(name, 48, "%ld.%llu", (long)getpid(), seq);

	if (n < 0 || n >= 48)
		PANIC("temporary name too long");
}

/*
 * link_tmp - give the file being written the name dir/name; link(2)
 * semantics: EEXIST when taken, never replaces
 */
static int
link_tmp(struct blob_fs *fs, const struct fs_writer *fw, int dirfd,
    const char *name)
{
	char proc[32];
	int ret;

	if (!fw->anon)
		return linkat(fs->tmpfd, fw->name, dirfd, name, 0);
	if (fs->link == LINK_EMPTY_PATH) {
		ret = linkat(fw->fd, "", dirfd, name, AT_EMPTY_PATH);
		/* ENOENT/EPERM: the capability it wants was dropped since
		 * the probe (the server drops privileges before it opens
		 * the store, a program using it might not): /proc then */
		if (ret == 0 || (errno != ENOENT && errno != EPERM))
			return ret;
	}
	if (snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fw->fd) >=
	    (int)sizeof(proc))
		PANIC("/proc path too long");
	return linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
}

/*
 * probe_link - can an O_TMPFILE file be given a name here, and how?
 * linkat(AT_EMPTY_PATH) wants CAP_DAC_READ_SEARCH, /proc a mounted
 * /proc; without either (or without O_TMPFILE: tmpfs before 3.11, NFS,
 * ...) files are written under a name in tmp/.
 */
static void
probe_link(struct blob_store *bs)
{
	struct blob_fs *fs = bs->be;
	static const enum fs_link ways[] = { LINK_EMPTY_PATH, LINK_PROC };
	struct fs_writer fw = { -1, true, "", NULL };
	char name[48];

	fs->link = LINK_NAMED;
	if (failed(bs, "tmpfile") != 0)
		return;
	fw.fd = openat(fs->tmpfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC,
	    0600);
	if (fw.fd < 0)
		return;
	tmp_name(fs, name);
	for (size_t i = 0; i < ARRAY_SIZE(ways); i++) {
		fs->link = ways[i];
		if (link_tmp(fs, &fw, fs->tmpfd, name) == 0) {
			unlinkat(fs->tmpfd, name, 0);
			close(fw.fd);
			return;
		}
	}
	fs->link = LINK_NAMED;
	close(fw.fd);
}

static int
fs_w_begin(struct blob_writer *w, struct buf *err)
{
	struct blob_fs *fs = w->bs->be;
	struct fs_writer *fw = xcalloc(1, sizeof(*fw));

	fw->fd = -1;
	if (fs->link != LINK_NAMED) {
		/* unnamed until linked: nothing to unlink, nothing left by
		 * a crash */
		fw->anon = true;
		if (failed(w->bs, "create") == 0)
			fw->fd = openat(fs->tmpfd, ".", O_TMPFILE | O_WRONLY |
			    O_CLOEXEC, 0600);
		if (fw->fd < 0)
			snprintf(fw->name, sizeof(fw->name), "(unnamed)");
	} else {
		for (int tries = 0; tries < 10; tries++) {
			tmp_name(fs, fw->name);
			if (failed(w->bs, "create") != 0)
				break;
			fw->fd = openat(fs->tmpfd, fw->name, O_WRONLY |
			    O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			/* EEXIST: left by an earlier process with our pid */
			if (fw->fd >= 0 || errno != EEXIST)
				break;
		}
	}
	if (fw->fd < 0) {
		buf_addf(err, "blob store: create %s/tmp/%s: %s", fs->root,
		    fw->name, strerror(errno));
		free(fw);
		return -1;
	}
	/* no state: the file is written without its checksum */
	if ((fw->xxh = XXH3_createState()) != NULL &&
	    XXH3_64bits_reset(fw->xxh) != XXH_OK) {
		XXH3_freeState(fw->xxh);
		fw->xxh = NULL;
	}
	w->be = fw;
	return 0;
}

static int
fs_w_append(struct blob_writer *w, const void *p, size_t n, struct buf *err)
{
	struct blob_fs *fs = w->bs->be;
	struct fs_writer *fw = w->be;
	const unsigned char *s = p;

	if (fw->xxh != NULL && XXH3_64bits_update(fw->xxh, p, n) != XXH_OK) {
		XXH3_freeState(fw->xxh);
		fw->xxh = NULL;
	}
	while (n > 0) {
		ssize_t k;

		if (failed(w->bs, "write") != 0)
			k = -1;
		else
			k = write(fw->fd, s, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			buf_addf(err, "blob store: write %s/tmp/%s: %s",
			    fs->root, fw->anon ? "(unnamed)" : fw->name,
			    k < 0 ? strerror(errno) : "no progress");
			return -1;
		}
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

/*
 * link_into - put the written file under its name in the locked shard
 * directory: *fresh when there was no entry before (so nothing counts it)
 */
static int
link_into(struct blob_writer *w, int dirfd, const char *hex, bool *fresh,
    struct buf *err)
{
	struct blob_fs *fs = w->bs->be;
	struct fs_writer *fw = w->be;
	struct stat st;

	*fresh = false;
	if (failed(w->bs, "link") == 0 && link_tmp(fs, fw, dirfd, hex) == 0) {
		*fresh = true;
		return 0;
	}
	if (errno != EEXIST)
		goto fail;
	if (fstatat(dirfd, hex, &st, AT_SYMLINK_NOFOLLOW) < 0)
		goto fail;
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size == w->size)
		return 0;	/* already stored */
	/* a file of the wrong size under this name is damaged, whatever
	 * counts it: the complete one replaces it (rename needs a name:
	 * an unnamed file gets one in tmp/ first) */
	log_warn("blob", "%s: stored file has %lld bytes, not %llu: replaced",
	    hex, (long long)st.st_size, (unsigned long long)w->size);
	if (fw->anon) {
		tmp_name(fs, fw->name);
		if (link_tmp(fs, fw, fs->tmpfd, fw->name) < 0)
			goto fail;
		fw->anon = false;	/* fs_w_end unlinks the name */
	}
	if (renameat(fs->tmpfd, fw->name, dirfd, hex) < 0)
		goto fail;
	return 0;
fail:
	buf_addf(err, "blob %s: link into %s: %s", hex, fs->root,
	    strerror(errno));
	return -1;
}

/*
 * set_check - the content's XXH3-64 onto the file, before its fsync; a
 * filesystem that keeps no user xattrs only costs reads their SHA-256
 */
static void
set_check(struct fs_writer *fw, const char *hex)
{
	unsigned char v[8];
	uint64_t h;

	if (fw->xxh == NULL)
		return;
	h = XXH3_64bits_digest(fw->xxh);
	for (int i = 7; i >= 0; i--, h >>= 8)
		v[i] = (unsigned char)h;
	if (fsetxattr(fw->fd, CHECK_XATTR, v, sizeof(v), 0) < 0 &&
	    errno != ENOTSUP)
		log_warn("blob", "%s: " CHECK_XATTR ": %s (its reads check "
		    "the SHA-256)", hex, strerror(errno));
}

/*
 * place - make the written content durable under its id in its shard,
 * locked how (LOCK_EX, LOCK_SH): 0 with the locked directory in *dirfd_r
 * (the caller closes it), -1.
 *
 * The directory is synced whether this call made the entry or found it:
 * under LOCK_SH other pins of the shard may be between their link and
 * their sync, and a pin whose sync failed leaves its entry (below), so
 * "found" does not mean "durable".  Syncing what is already durable
 * costs a cache flush, not a journal commit; only duplicates pay it.
 *
 * A fresh entry whose sync failed is nobody's: under LOCK_EX it is taken
 * back; under LOCK_SH it stays (another pin may have found it and be
 * about to count it after its own, successful, sync), an orphan that no
 * put counts without syncing it first.
 */
static int
place(struct blob_writer *w, const struct blob_id *id, int how,
    int *dirfd_r, struct buf *err)
{
	struct fs_writer *fw = w->be;
	char hex[BLOB_HEX_SIZE], path[6];
	bool fresh;
	int dirfd;

	file_name(id, hex, path);
	set_check(fw, hex);
	if (failed(w->bs, "fsync") != 0 || fsync(fw->fd) < 0) {
		blob_err(err, id, "fsync", errno);
		return -1;
	}
	if (shard_lock(w->bs, id, how, &dirfd, err) < 0)
		return -1;
	if (link_into(w, dirfd, hex, &fresh, err) < 0) {
		close(dirfd);
		return -1;
	}
	if (failed(w->bs, "fsync_dir") != 0 || fsync(dirfd) < 0) {
		blob_err(err, id, "fsync directory", errno);
		if (fresh && how == LOCK_EX && unlinkat(dirfd, hex, 0) < 0)
			log_warn("blob", "%s: unlink after failed fsync: %s",
			    hex, strerror(errno));
		close(dirfd);
		return -1;
	}
	*dirfd_r = dirfd;
	return 0;
}

static int
fs_w_commit(struct blob_writer *w, const struct blob_id *id, struct buf *err)
{
	int dirfd, ret;

	if (place(w, id, LOCK_EX, &dirfd, err) < 0)
		return -1;
	ret = blob_count_run(w->bs, id, 1, false, NULL, err);
	close(dirfd);
	return ret < 0 ? -1 : 0;
}

static void
fs_w_end(struct blob_writer *w)
{
	struct blob_fs *fs = w->bs->be;
	struct fs_writer *fw = w->be;

	if (fw == NULL)
		return;
	XXH3_freeState(fw->xxh);
	close(fw->fd);
	/* after a link the temporary name is a second one; after a rename
	 * it is gone (ENOENT); an unnamed file goes with its last fd */
	if (!fw->anon && unlinkat(fs->tmpfd, fw->name, 0) < 0 &&
	    errno != ENOENT)
		log_warn("blob", "%s/tmp/%s: unlink: %s", fs->root, fw->name,
		    strerror(errno));
	free(fw);
	w->be = NULL;
}

/* ---- pinned puts ---- */

static int
fs_pin_put(struct blob_store *bs, struct blob_pin *pin, const void *data,
    struct buf *err)
{
	struct blob_fs *fs = bs->be;
	struct blob_writer w;
	int ret = -1;

	if (fs->inline_max > 0 && pin->size <= fs->inline_max) {
		pin->in_kv = true;
		return blob_kv_ops.pin_put(bs, pin, data, err);
	}
	memset(&w, 0, sizeof(w));
	w.bs = bs;
	w.size = pin->size;
	if (fs_w_begin(&w, err) < 0)
		return -1;
	if ((pin->size == 0 || fs_w_append(&w, data, pin->size, err) == 0) &&
	    place(&w, &pin->id, LOCK_SH, &pin->fd, err) == 0)
		ret = 0;
	fs_w_end(&w);
	return ret;
}

static int
fs_pin_ref(struct blob_store *bs, struct kv_txn *t, struct blob_pin *pin,
    struct buf *err)
{
	if (pin->in_kv)
		return blob_kv_ops.pin_ref(bs, t, pin, err);
	return blob_count_add(t, &pin->id, 1, NULL, err);
}

static void
fs_pin_release(struct blob_pin *pin)
{
	if (pin->in_kv) {
		blob_kv_ops.pin_release(pin);
		return;
	}
	if (pin->fd >= 0)
		close(pin->fd);
	pin->fd = -1;
}

/* ---- reading ---- */

/* get_check - the file's XXH3-64 (set_check) for the read's check */
static void
get_check(struct blob_reader *r, int fd)
{
	unsigned char v[8];

	if (fgetxattr(fd, CHECK_XATTR, v, sizeof(v)) != (ssize_t)sizeof(v))
		return;		/* none: the SHA-256 of the id */
	r->check = 0;
	for (size_t i = 0; i < sizeof(v); i++)
		r->check = r->check << 8 | v[i];
	r->has_check = true;
}

static int
fs_r_open(struct blob_reader *r, struct buf *err)
{
	struct blob_fs *fs = r->bs->be;
	char hex[BLOB_HEX_SIZE], path[6 + BLOB_HEX_SIZE];
	struct fs_reader *fr;
	struct stat st;
	int fd, ret;

	/* inline content first: it exists only when put that way */
	if (fs->inline_max > 0 &&
	    (ret = blob_kv_ops.r_open(r, err)) != 0) {
		r->in_kv = ret == 1;
		return ret;
	}
	file_name(&r->id, hex, path);
	path[2] = '/';
	memcpy(path + 3, hex, BLOB_HEX_SIZE);
	fd = openat(fs->rootfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		blob_err(err, &r->id, "open", errno);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		blob_err(err, &r->id, "not a regular file", 0);
		close(fd);
		return -1;
	}
	fr = xmalloc(sizeof(*fr));
	fr->fd = fd;
	r->be = fr;
	r->size = (uint64_t)st.st_size;
	get_check(r, fd);
	return 1;
}

static int
fs_r_pread(struct blob_reader *r, void *p, size_t n, uint64_t off,
    struct buf *err)
{
	struct fs_reader *fr = r->be;
	unsigned char *d = p;

	if (r->in_kv)
		return blob_kv_ops.r_pread(r, p, n, off, err);

	while (n > 0) {
		ssize_t k = pread(fr->fd, d, n, (off_t)off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			blob_err(err, &r->id, "read", errno);
			return -1;
		}
		if (k == 0) {
			blob_err(err, &r->id, "file shorter than its size", 0);
			return BLOB_CORRUPT;
		}
		d += k;
		off += (uint64_t)k;
		n -= (size_t)k;
	}
	return 0;
}

static void
fs_r_close(struct blob_reader *r)
{
	struct fs_reader *fr = r->be;

	if (r->in_kv) {
		blob_kv_ops.r_close(r);
		return;
	}
	if (fr == NULL)
		return;
	close(fr->fd);
	free(fr);
	r->be = NULL;
}

/* ---- deleting ---- */

/* remove_locked - unlink id's file in its locked shard, sync the shard */
static int
remove_locked(struct blob_store *bs, int dirfd, const struct blob_id *id,
    struct buf *err)
{
	char hex[BLOB_HEX_SIZE];

	blob_id_hex(id, hex);
	if (failed(bs, "unlink") != 0 ||
	    (unlinkat(dirfd, hex, 0) < 0 && errno != ENOENT)) {
		blob_err(err, id, "unlink", errno);
		return -1;
	}
	if (failed(bs, "fsync_dir") != 0 || fsync(dirfd) < 0) {
		blob_err(err, id, "fsync directory after unlink", errno);
		return -1;
	}
	return 0;
}

static int
fs_unref(struct blob_store *bs, const struct blob_id *id, struct buf *err)
{
	struct buf why = BUF_INIT(0);
	bool zero = false;
	int dirfd, ret;

	if (shard_lock(bs, id, LOCK_EX, &dirfd, err) < 0)
		return -1;
	ret = blob_count_run(bs, id, -1, true, &zero, err);
	/* the reference is gone for good now: a failure to remove the file
	 * leaves an orphan, and must not make the caller unref again */
	if (ret == 1 && zero && remove_locked(bs, dirfd, id, &why) < 0)
		log_warn("blob", "%s (an orphan remains)", buf_cstr(&why));
	close(dirfd);
	buf_free(&why);
	return ret;
}

static int
fs_reap(struct blob_store *bs, const struct blob_id *id, struct buf *err)
{
	uint64_t n;
	int dirfd, ret;

	if (shard_lock(bs, id, LOCK_EX, &dirfd, err) < 0)
		return -1;
	ret = blob_refcount(bs, id, &n, err);
	if (ret == 0)
		ret = remove_locked(bs, dirfd, id, err);
	close(dirfd);
	return ret < 0 ? -1 : 0;
}

static int
fs_drop_txn(struct blob_store *bs, struct kv_txn *t, const struct blob_id *id,
    struct buf *err)
{
	struct blob_fs *fs = bs->be;

	if (fs->inline_max == 0)
		return 0;
	return blob_kv_ops.drop_txn(bs, t, id, err);
}

const struct blob_ops blob_fs_ops = {
	.name = "fs",
	.open = fs_open,
	.close = fs_close,
	.w_begin = fs_w_begin,
	.w_append = fs_w_append,
	.w_commit = fs_w_commit,
	.w_end = fs_w_end,
	.put_mem = NULL,
	.r_open = fs_r_open,
	.r_pread = fs_r_pread,
	.r_close = fs_r_close,
	.unref = fs_unref,
	/* inline content goes with the count, in its transaction */
	.drop_txn = fs_drop_txn,
	.reap = fs_reap,
	.pin_put = fs_pin_put,
	.pin_ref = fs_pin_ref,
	.pin_release = fs_pin_release,
};
