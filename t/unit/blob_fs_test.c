/*
 * blob_fs_test.c - the fs blob backend: the conformance suite (counts in
 * SQLite, and in RocksDB), then what only files have: the layout, every
 * step of the write path failing (injected, and for real on a directory
 * made read-only), an unlink that fails after the count is gone, a failed
 * or ambiguous count commit (kv failinject), a damaged file replaced by a
 * put, stale temporary files removed at open; the same for pinned puts,
 * and a pin holding off an unref in another process.  The conformance
 * and fs tests run twice: with unnamed (O_TMPFILE) files and with named
 * temporary files, as on a filesystem that refuses O_TMPFILE.
 */
#include "t/unit/blob_conformance.c"

#include <dirent.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>

#include "store/store_priv.h"

#include <xxhash.h>

static size_t n_files;
static char tmp_dir[128];	/* <root>/tmp/, not counted */

static int
count_file(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	if (flag == FTW_F && strncmp(path, tmp_dir, strlen(tmp_dir)) != 0)
		n_files++;
	return 0;
}

static size_t
fs_count_objects(struct blob_env *e)
{
	n_files = 0;
	snprintf(tmp_dir, sizeof(tmp_dir), "%s/tmp/", e->blob_path);
	assert_int_equal(nftw(e->blob_path, count_file, 16, FTW_PHYS), 0);
	return n_files;
}

static void
fs_path(struct blob_env *e, const struct blob_id *id, char *out, size_t n)
{
	char hex[BLOB_HEX_SIZE];

	blob_id_hex(id, hex);
	snprintf(out, n, "%s/%.2s/%s", e->blob_path, hex, hex);
}

static void
fs_corrupt(struct blob_env *e, const struct blob_id *id)
{
	char path[256];
	unsigned char c;
	int fd;

	fs_path(e, id, path, sizeof(path));
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, 0), 1);
	c ^= 0x20;
	assert_int_equal(pwrite(fd, &c, 1, 0), 1);
	close(fd);
}

/* tmp_entries - files left in <root>/tmp */
static size_t
tmp_entries(struct blob_env *e)
{
	char path[128];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/tmp", e->blob_path);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* nothing_of - no content, count or temporary file of id */
static void
nothing_of(struct blob_env *e, const struct blob_id *id)
{
	expect_get(e, id, 0, BLOB_TO_END, 0, NULL, 0);
	assert_int_equal(refcount(e, id), 0);
	assert_int_equal(fs_count_objects(e), 0);
	assert_int_equal(tmp_entries(e), 0);
}

static void
test_fs_layout(void **state)
{
	struct blob_env *e = *state;
	char path[256];
	struct blob_id id;
	struct stat st;

	put_ok(e, "abc", 3, &id);
	snprintf(path, sizeof(path), "%s/ba/ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad", e->blob_path);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 3);
	snprintf(path, sizeof(path), "%s/ba", e->blob_path);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/ff", e->blob_path);
	assert_int_equal(stat(path, &st), 0);	/* made at open */
	put_ok(e, "abc", 3, &id);
	assert_int_equal(fs_count_objects(e), 1);
	assert_int_equal(tmp_entries(e), 0);
}

static void
test_fs_write_faults(void **state)
{
	static const char *const steps[] = {
		"create", "write", "fsync", "link", "fsync_dir",
	};
	struct blob_env *e = *state;
	const size_t n = 3 * BLOB_CHUNK + 10;
	unsigned char *p = pattern(n, 29);
	struct buf err = BUF_INIT(0);
	struct blob_writer *w;
	struct blob_id id, want;

	blob_id_of(p, n, &want);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		e->fail_step = steps[i];
		e->fail_errno = i % 2 == 0 ? EIO : ENOSPC;
		buf_reset(&err);
		assert_int_equal(blob_put(e->bs, p, n, &id, &err), -1);
		assert_non_null(strstr(buf_cstr(&err),
		    strerror(e->fail_errno)));
		nothing_of(e, &want);

		/* streamed: whichever call meets the failure reports it */
		if (blob_writer_new(e->bs, &w, &err) == 0) {
			int r = blob_writer_write(w, p, n, &err);

			assert_int_equal(blob_writer_finish(&w, &id, &err),
			    -1);
			assert_true(r == 0 || strcmp(steps[i], "write") == 0);
		} else {
			assert_string_equal(steps[i], "create");
		}
		nothing_of(e, &want);
		e->fail_step = NULL;
	}
	put_ok(e, p, n, &id);
	assert_int_equal(refcount(e, &id), 1);
	assert_int_equal(fs_count_objects(e), 1);
	free(p);
	buf_free(&err);
}

/*
 * set_readonly - make a directory refuse new entries, even to root (the
 * immutable attribute); -1 when this filesystem cannot
 */
static int
set_readonly(const char *path, bool on)
{
	int fd, flags, ret;

	if (geteuid() != 0)
		return chmod(path, on ? 0500 : 0700);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY)) < 0)
		return -1;
	ret = ioctl(fd, FS_IOC_GETFLAGS, &flags);
	if (ret == 0) {
		if (on)
			flags |= FS_IMMUTABLE_FL;
		else
			flags &= ~FS_IMMUTABLE_FL;
		ret = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	close(fd);
	return ret;
}

static void
test_fs_readonly(void **state)
{
	struct blob_env *e = *state;
	struct buf err = BUF_INIT(0);
	char dir[160], hex[BLOB_HEX_SIZE];
	struct blob_id id;
	int r1, r2;

	snprintf(dir, sizeof(dir), "%s/tmp", e->blob_path);
	if (set_readonly(dir, true) < 0) {
		buf_free(&err);
		skip();
	}
	r1 = blob_put(e->bs, "read-only", 9, &id, &err);
	assert_int_equal(set_readonly(dir, false), 0);
	assert_int_equal(r1, -1);
	blob_id_of("read-only", 9, &id);
	nothing_of(e, &id);

	/* the shard: the temporary file is written, the link refused */
	put_ok(e, "read-only", 9, &id);
	unref_ok(e, &id, 1);
	blob_id_hex(&id, hex);
	snprintf(dir, sizeof(dir), "%s/%.2s", e->blob_path, hex);
	assert_int_equal(set_readonly(dir, true), 0);
	buf_reset(&err);
	r1 = blob_put(e->bs, "read-only", 9, &id, &err);
	r2 = blob_put(e->bs, "read-only", 9, &id, &err);
	assert_int_equal(set_readonly(dir, false), 0);
	assert_int_equal(r1, -1);
	assert_int_equal(r2, -1);
	assert_non_null(strstr(buf_cstr(&err), "link"));
	nothing_of(e, &id);
	put_ok(e, "read-only", 9, &id);
	expect_get(e, &id, 0, BLOB_TO_END, 1, "read-only", 9);
	buf_free(&err);
}

static void
test_fs_unlink_fails(void **state)
{
	struct blob_env *e = *state;
	struct buf err = BUF_INIT(0);
	struct txn_arg a;
	struct blob_id id;
	uint64_t size;

	put_ok(e, "orphan", 6, &id);
	e->fail_step = "unlink";
	unref_ok(e, &id, 1);	/* the reference is gone: success */
	e->fail_step = NULL;
	assert_int_equal(refcount(e, &id), 0);
	assert_int_equal(fs_count_objects(e), 1);	/* an orphan */
	assert_int_equal(blob_size(e->bs, &id, &size, &err), 1);
	put_ok(e, "orphan", 6, &id);	/* adopted, not written twice */
	assert_int_equal(refcount(e, &id), 1);
	assert_int_equal(fs_count_objects(e), 1);

	/* the same through a caller's transaction and blob_reap */
	a = (struct txn_arg){ e->bs, &id, true, false, 0, false };
	assert_int_equal(kv_run(e->kv, KV_WRITE, txn_fn, &a, &err), 0);
	assert_int_equal(a.ret, 1);
	assert_true(a.reap);
	e->fail_step = "unlink";
	assert_int_equal(blob_reap(e->bs, &id, &err), -1);
	e->fail_step = NULL;
	assert_int_equal(fs_count_objects(e), 1);
	buf_reset(&err);
	assert_int_equal(blob_reap(e->bs, &id, &err), 0);
	nothing_of(e, &id);
	buf_free(&err);
}

/*
 * test_fs_count_commit - the data store fails the count's commit: before
 * it (the file stays as an orphan) and after it (the count is there, and
 * so must the file be: a failed commit may have happened)
 */
static void
test_fs_count_commit(void **state)
{
	struct blob_env *e = *state;
	struct buf err = BUF_INIT(0);
	struct blob_id id;

	kv_failinject_set(e->kv, KV_FI_COMMIT, 1, -1);
	assert_int_equal(blob_put(e->bs, "commit", 6, &id, &err), -1);
	assert_true(kv_failinject_fired(e->kv));
	assert_int_equal(refcount(e, &id), 0);
	assert_int_equal(fs_count_objects(e), 1);
	assert_int_equal(tmp_entries(e), 0);

	kv_failinject_set(e->kv, KV_FI_COMMIT_AFTER, 1, -1);
	assert_int_equal(blob_put(e->bs, "commit", 6, &id, &err), -1);
	assert_true(kv_failinject_fired(e->kv));
	assert_int_equal(refcount(e, &id), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, "commit", 6);

	/* an unref whose commit fails keeps both */
	kv_failinject_set(e->kv, KV_FI_COMMIT, 1, -1);
	assert_int_equal(blob_unref(e->bs, &id, &err), -1);
	assert_int_equal(refcount(e, &id), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, "commit", 6);
	kv_failinject_set(e->kv, 0, 0, -1);
	unref_ok(e, &id, 1);
	nothing_of(e, &id);
	buf_free(&err);
}

static void
test_fs_damaged_replaced(void **state)
{
	struct blob_env *e = *state;
	static const char real[] = "the real content";
	char path[256], hex[BLOB_HEX_SIZE];
	struct blob_id id;
	int fd;

	blob_id_of(real, sizeof(real) - 1, &id);
	blob_id_hex(&id, hex);
	fs_path(e, &id, path, sizeof(path));
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(write(fd, "trunc", 5), 5);
	close(fd);
	put_ok(e, real, sizeof(real) - 1, &id);
	expect_get(e, &id, 0, BLOB_TO_END, 1, real, sizeof(real) - 1);
	assert_int_equal(refcount(e, &id), 1);
	assert_int_equal(fs_count_objects(e), 1);
	assert_int_equal(tmp_entries(e), 0);
}

static void
test_fs_stale_tmp(void **state)
{
	struct blob_env *e = *state;
	struct timespec old[2] = { { time(NULL) - 7200, 0 },
	    { time(NULL) - 7200, 0 } };
	char path[160];
	int fd;

	snprintf(path, sizeof(path), "%s/tmp/1.1", e->blob_path);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	snprintf(path, sizeof(path), "%s/tmp/1.2", e->blob_path);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	env_close(e);
	env_open(e);
	assert_int_equal(tmp_entries(e), 1);	/* the recent one stays */
	assert_int_equal(access(path, F_OK), 0);
}

static void
test_fs_bad_options(void **state)
{
	struct blob_env *e = *state;
	struct blob_options o = { "fs", NULL, e->kv, NULL, NULL, 0 };
	struct buf err = BUF_INIT(0);
	struct blob_store *bs = NULL;

	assert_int_equal(blob_open(&o, &bs, &err), -1);
	o.path = "/proc/postern-no/such";
	assert_int_equal(blob_open(&o, &bs, &err), -1);
	o.path = e->blob_path;
	o.backend = "s3";
	assert_int_equal(blob_open(&o, &bs, &err), -1);
	o.backend = NULL;	/* fs */
	o.kv = NULL;
	assert_int_equal(blob_open(&o, &bs, &err), -1);
	assert_null(bs);
	assert_true(err.len > 0);
	buf_free(&err);
}

/*
 * test_fs_pin_faults - every step of a pinned put failing: nothing
 * pinned, no count, no temporary file; a failed directory sync leaves
 * the linked file (under a shared lock another pin may have found it),
 * which the next pin syncs and counts
 */
static void
test_fs_pin_faults(void **state)
{
	static const char *const steps[] = {
		"create", "write", "fsync", "link", "fsync_dir",
	};
	struct blob_env *e = *state;
	const size_t n = 2 * BLOB_CHUNK + 3;
	unsigned char *p = pattern(n, 61);
	struct buf err = BUF_INIT(0);
	struct blob_pin *pin = NULL;
	struct blob_id id, want;

	blob_id_of(p, n, &want);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		bool last = strcmp(steps[i], "fsync_dir") == 0;

		e->fail_step = steps[i];
		e->fail_errno = i % 2 == 0 ? EIO : ENOSPC;
		buf_reset(&err);
		assert_int_equal(blob_put_pinned(e->bs, p, n, &id, &pin,
		    &err), -1);
		e->fail_step = NULL;
		assert_null(pin);
		assert_non_null(strstr(buf_cstr(&err),
		    strerror(e->fail_errno)));
		assert_int_equal(refcount(e, &want), 0);
		assert_int_equal(tmp_entries(e), 0);
		assert_int_equal(fs_count_objects(e), last ? 1 : 0);
	}
	pin = pin_ok(e, p, n, &id);
	assert_int_equal(pin_commit(e, &pin, 1, 1, false), 0);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 1);
	assert_int_equal(fs_count_objects(e), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);

	/* a directory sync failing when the file is found: not pinned,
	 * and the referenced file stays */
	e->fail_step = "fsync_dir";
	assert_int_equal(blob_put_pinned(e->bs, p, n, &id, &pin, &err), -1);
	e->fail_step = NULL;
	assert_null(pin);
	assert_int_equal(refcount(e, &id), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	unref_ok(e, &id, 1);
	nothing_of(e, &id);
	free(p);
	buf_free(&err);
}

/* test_fs_pin_damaged - a pinned put replaces a file of the wrong size */
static void
test_fs_pin_damaged(void **state)
{
	struct blob_env *e = *state;
	static const char real[] = "the real pinned content";
	struct blob_pin *pin;
	struct blob_id id;
	char path[256];
	int fd;

	blob_id_of(real, sizeof(real) - 1, &id);
	fs_path(e, &id, path, sizeof(path));
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(write(fd, "trunc", 5), 5);
	close(fd);
	pin = pin_ok(e, real, sizeof(real) - 1, &id);
	expect_get(e, &id, 0, BLOB_TO_END, 1, real, sizeof(real) - 1);
	assert_int_equal(pin_commit(e, &pin, 1, 1, false), 0);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 1);
	assert_int_equal(fs_count_objects(e), 1);
	assert_int_equal(tmp_entries(e), 0);
}

/*
 * test_fs_pin_other_process - the shard lock is a flock: an unref in
 * another process (its own data store and blob store handles) waits for
 * this process's pin, then drops its reference without removing content
 * that the pinned transaction counted meanwhile
 */
static void
test_fs_pin_other_process(void **state)
{
	struct blob_env *e = *state;
	static const char data[] = "shared between processes";
	struct blob_pin *pin;
	struct blob_id id;
	int status;
	pid_t pid;

	put_ok(e, data, sizeof(data) - 1, &id);
	pin = pin_ok(e, data, sizeof(data) - 1, &id);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct kv_options ko = { suite->kv_backend, e->kv_path, false };
		struct blob_options bo = { "fs", e->blob_path, NULL, NULL,
		    NULL, 0 };
		struct buf err = BUF_INIT(0);
		struct blob_store *bs;
		struct kv *kv;

		/* a forked copy of the pin's descriptor shares its lock */
		close(pin->fd);
		if (kv_open(&ko, &kv, &err) < 0)
			_exit(2);
		bo.kv = kv;
		if (blob_open(&bo, &bs, &err) < 0)
			_exit(3);
		_exit(blob_unref(bs, &id, &err) == 1 ? 0 : 4);
	}
	usleep(200 * 1000);
	/* still waiting for the pin */
	assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
	assert_int_equal(pin_commit(e, &pin, 1, 1, false), 0);
	blob_pin_release(&pin);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(refcount(e, &id), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, data, sizeof(data) - 1);
}

/*
 * test_fs_pin_count_commit - the pinned transaction's commit fails
 * before (no count, the file an orphan) and after the inner commit (the
 * count is there, and so is the file)
 */
static void
test_fs_pin_count_commit(void **state)
{
	struct blob_env *e = *state;
	struct buf err = BUF_INIT(0);
	struct pin_txn a;
	struct blob_pin *pin;
	struct blob_id id;

	pin = pin_ok(e, "pinned commit", 13, &id);
	a = (struct pin_txn){ e->bs, { pin }, 1, 1, false, 0, 0 };
	kv_failinject_set(e->kv, KV_FI_COMMIT, 1, -1);
	assert_int_equal(kv_run(e->kv, KV_WRITE, pin_txn_fn, &a, &err), -1);
	assert_true(kv_failinject_fired(e->kv));
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 0);
	assert_int_equal(fs_count_objects(e), 1);
	assert_int_equal(tmp_entries(e), 0);

	pin = pin_ok(e, "pinned commit", 13, &id);
	a = (struct pin_txn){ e->bs, { pin }, 1, 1, false, 0, 0 };
	kv_failinject_set(e->kv, KV_FI_COMMIT_AFTER, 1, -1);
	assert_int_equal(kv_run(e->kv, KV_WRITE, pin_txn_fn, &a, &err), -1);
	assert_true(kv_failinject_fired(e->kv));
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 1);
	expect_get(e, &id, 0, BLOB_TO_END, 1, "pinned commit", 13);

	/* a count change failing inside the transaction */
	pin = pin_ok(e, "pinned commit", 13, &id);
	a = (struct pin_txn){ e->bs, { pin }, 1, 1, false, 0, 0 };
	kv_failinject_set(e->kv, KV_FI_PUT, 1, -1);
	assert_int_equal(kv_run(e->kv, KV_WRITE, pin_txn_fn, &a, &err), -1);
	assert_true(kv_failinject_fired(e->kv));
	kv_failinject_set(e->kv, 0, 0, -1);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &id), 1);
	unref_ok(e, &id, 1);
	nothing_of(e, &id);
	buf_free(&err);
}

static const struct blob_suite fs_sqlite = {
	"blob fs (counts in sqlite)", "fs", "sqlite", fs_count_objects,
	fs_corrupt, NULL,
};
static const struct blob_suite fs_rocksdb = {
	"blob fs (counts in rocksdb)", "fs", "rocksdb", fs_count_objects,
	fs_corrupt, NULL,
};
static const struct blob_suite fs_failinject = {
	"blob fs (counts in failinject:sqlite)", "fs", "failinject:sqlite",
	fs_count_objects, fs_corrupt, NULL,
};
/* without O_TMPFILE: files written under a name in tmp/ */
static const struct blob_suite fs_named = {
	"blob fs (named temporary files)", "fs", "sqlite", fs_count_objects,
	fs_corrupt, "tmpfile",
};

/* inline_max: small pinned puts live in the data store, big ones in files */
static void
test_fs_inline(void **state)
{
	struct blob_env *e = *state;
	struct blob_options bo = { "fs", e->blob_path, e->kv, NULL, NULL,
		4096 };
	struct buf err = BUF_INIT(0), out = BUF_INIT(0);
	unsigned char *small = pattern(1000, 7), *big = pattern(10000, 8);
	struct blob_pin *pin;
	struct blob_id sid, bid;
	struct kv_txn *t;
	bool reap = false;

	blob_close(&e->bs);
	if (blob_open(&bo, &e->bs, &err) < 0)
		fail_msg("blob_open: %s", buf_cstr(&err));

	/* small: counted and readable, no file */
	pin = pin_ok(e, small, 1000, &sid);
	assert_int_equal(pin_commit(e, &pin, 1, 2, false), 0);
	blob_pin_release(&pin);
	assert_int_equal(fs_count_objects(e), 0);
	assert_int_equal(refcount(e, &sid), 2);
	assert_int_equal(blob_get(e->bs, &sid, 0, BLOB_TO_END, &out, &err), 1);
	assert_int_equal(out.len, 1000);
	assert_memory_equal(out.data, small, 1000);
	buf_reset(&out);
	assert_int_equal(blob_get(e->bs, &sid, 10, 20, &out, &err), 1);
	assert_memory_equal(out.data, small + 10, 20);

	/* big: a file, as before */
	pin = pin_ok(e, big, 10000, &bid);
	assert_int_equal(pin_commit(e, &pin, 1, 1, false), 0);
	blob_pin_release(&pin);
	assert_int_equal(fs_count_objects(e), 1);

	/* the last reference takes the inline content with it: unref,
	 * then unref_txn + reap */
	unref_ok(e, &sid, 1);
	assert_int_equal(refcount(e, &sid), 1);
	assert_int_equal(kv_begin(e->kv, KV_WRITE, &t, &err), 0);
	assert_int_equal(blob_unref_txn(e->bs, t, &sid, &reap, &err), 1);
	assert_true(reap);
	assert_int_equal(kv_commit(&t, &err), 0);
	assert_int_equal(blob_reap(e->bs, &sid, &err), 0);
	buf_reset(&out);
	assert_int_equal(blob_get(e->bs, &sid, 0, BLOB_TO_END, &out, &err), 0);

	/* content in a file already (blob_put), then a small pinned put of
	 * it: one count for both copies, both gone at zero */
	put_ok(e, small, 1000, &sid);
	assert_int_equal(fs_count_objects(e), 2);
	pin = pin_ok(e, small, 1000, &sid);
	assert_int_equal(pin_commit(e, &pin, 1, 1, false), 0);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &sid), 2);
	unref_ok(e, &sid, 1);
	unref_ok(e, &sid, 1);
	assert_int_equal(refcount(e, &sid), 0);
	assert_int_equal(fs_count_objects(e), 1);	/* the big one */
	buf_reset(&out);
	assert_int_equal(blob_get(e->bs, &sid, 0, BLOB_TO_END, &out, &err), 0);
	unref_ok(e, &bid, 1);
	assert_int_equal(fs_count_objects(e), 0);

	/* an aborted filing leaves nothing at all behind */
	pin = pin_ok(e, small, 1000, &sid);
	assert_int_equal(pin_commit(e, &pin, 1, 1, true), -1);
	blob_pin_release(&pin);
	assert_int_equal(refcount(e, &sid), 0);
	buf_reset(&out);
	assert_int_equal(blob_get(e->bs, &sid, 0, BLOB_TO_END, &out, &err), 0);
	free(small);
	free(big);
	buf_free(&err);
	buf_free(&out);
}

/*
 * the read check: a file carries the XXH3-64 of its content in
 * user.postern.xxh3, and a whole read checks it; without the attribute
 * (an older file, a filesystem or copy without xattrs) the SHA-256 of
 * the id finds the same corruption
 */
static void
test_fs_checksum(void **state)
{
	struct blob_env *e = *state;
	const size_t n = 200000;
	unsigned char *p = pattern(n, 43), v[8];
	struct buf out = BUF_INIT(0), err = BUF_INIT(0);
	char path[256];
	struct blob_id id;
	uint64_t h = 0;

	put_ok(e, p, n, &id);
	fs_path(e, &id, path, sizeof(path));
	assert_int_equal(getxattr(path, "user.postern.xxh3", v, sizeof(v)),
	    8);
	for (int i = 0; i < 8; i++)
		h = h << 8 | v[i];
	assert_true(h == XXH3_64bits(p, n));
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	fs_corrupt(e, &id);
	assert_int_equal(blob_get(e->bs, &id, 0, BLOB_TO_END, &out, &err),
	    BLOB_CORRUPT);
	assert_non_null(strstr(buf_cstr(&err), "checksum"));

	assert_int_equal(removexattr(path, "user.postern.xxh3"), 0);
	buf_reset(&err);
	assert_int_equal(blob_get(e->bs, &id, 0, BLOB_TO_END, &out, &err),
	    BLOB_CORRUPT);
	assert_non_null(strstr(buf_cstr(&err), "does not match its id"));
	fs_corrupt(e, &id);		/* flipped back: reads again */
	expect_get(e, &id, 0, BLOB_TO_END, 1, p, n);
	assert_int_equal(out.len, 0);
	unref_ok(e, &id, 1);
	free(p);
	buf_free(&out);
	buf_free(&err);
}

int
main(void)
{
	static const struct CMUnitTest fs_tests[] = {
		BLOB_TEST(test_fs_checksum),
		BLOB_TEST(test_fs_layout),
		BLOB_TEST(test_fs_write_faults),
		BLOB_TEST(test_fs_readonly),
		BLOB_TEST(test_fs_unlink_fails),
		BLOB_TEST(test_fs_damaged_replaced),
		BLOB_TEST(test_fs_stale_tmp),
		BLOB_TEST(test_fs_bad_options),
		BLOB_TEST(test_fs_pin_faults),
		BLOB_TEST(test_fs_pin_damaged),
		BLOB_TEST(test_fs_pin_other_process),
		BLOB_TEST(test_fs_inline),
	};
	static const struct CMUnitTest fi_tests[] = {
		BLOB_TEST(test_fs_count_commit),
		BLOB_TEST(test_fs_pin_count_commit),
	};
	int failed = 0;

	failed += blob_suite_run(&fs_sqlite, fs_tests, ARRAY_SIZE(fs_tests));
	failed += blob_suite_run(&fs_named, fs_tests, ARRAY_SIZE(fs_tests));
	failed += blob_suite_run(&fs_rocksdb, NULL, 0);
	suite = &fs_failinject;
	failed += cmocka_run_group_tests_name(fs_failinject.name, fi_tests,
	    NULL, NULL);
	return failed;
}
