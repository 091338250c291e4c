/*
 * objstore_test.c - checkpoint storage: the file:// backend end to end
 * in a temporary directory, key checks, URL handling, and the s3:// checks
 * that need no server (credentials, an unreachable endpoint). The S3
 * round trips run against s3rver in tests/integration/test_s3_store.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "wrtest.h"

#include "buf.h"
#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "objstore.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BIG_BYTES (5u * 1024u * 1024u + 123u)

struct fixture {
	char dir[64];   /* the test's temporary directory */
	char root[128]; /* the store's root directory, not created yet */
	char url[160];
	wr_objstore *s;
};

static int
setup(void **state)
{
	struct fixture *f = wr_xcalloc(1, sizeof(*f));
	if (wrt_tmpdir(f->dir, sizeof(f->dir), "objstore") != 0)
		return -1;
	snprintf(f->root, sizeof(f->root), "%s/store", f->dir);
	snprintf(f->url, sizeof(f->url), "file://%s/", f->root);
	char err[256] = "";
	if (wr_objstore_open(f->url, &f->s, err, sizeof(err)) != WR_OK)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	wr_objstore_close(f->s);
	wr_rmtree(f->dir);
	free(f);
	return 0;
}

static void
put_str(wr_objstore *s, const char *key, const char *val)
{
	char err[256] = "";
	int rv = wr_objstore_put(s, key, val, strlen(val), err, sizeof(err));
	if (rv != WR_OK)
		fail_msg("put %s: %s", key, err);
}

static bool
exists(const struct fixture *f, const char *rel)
{
	char p[512];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	return stat(p, &st) == 0;
}

/* Number of entries of a directory, "." and ".." aside. */
static int
count_dir(const char *p)
{
	DIR *d = opendir(p);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n +=
		    strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static int
count_entries(const struct fixture *f, const char *rel)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", f->root, rel);
	return count_dir(p);
}

/* Lists prefix and compares with want (a NULL-terminated list). */
static void
check_list(wr_objstore *s, const char *prefix, const char *const *want)
{
	char **keys, err[256] = "";
	size_t n;
	int rv = wr_objstore_list(s, prefix, &keys, &n, err, sizeof(err));
	if (rv != WR_OK)
		fail_msg("list %s: %s", prefix, err);
	size_t i = 0;
	for (; want[i] != NULL; i++) {
		if (i >= n)
			fail_msg("list %s: %zu keys, %s missing", prefix, n,
			         want[i]);
		assert_string_equal(keys[i], want[i]);
	}
	assert_int_equal(n, i);
	wr_objstore_list_free(keys, n);
}

static void
test_round_trip(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	unsigned char bin[600];
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7);
	wr_buf b;
	wr_buf_init(&b);

	/* The root does not exist yet: a put creates it. */
	assert_int_equal(wr_objstore_put(f->s, "job/chk-1/bin", bin,
	                                 sizeof(bin), err, sizeof(err)),
	                 WR_OK);
	assert_int_equal(wr_objstore_get(f->s, "job/chk-1/bin", 1 << 20, &b,
	                                 err, sizeof(err)),
	                 WR_OK);
	assert_int_equal(b.len, sizeof(bin));
	assert_memory_equal(b.data, bin, sizeof(bin));

	/* get appends; an empty object appends nothing. */
	put_str(f->s, "job/empty", "");
	wr_buf_reset(&b);
	wr_buf_puts(&b, "pre:");
	assert_int_equal(
	    wr_objstore_get(f->s, "job/empty", 10, &b, err, sizeof(err)),
	    WR_OK);
	assert_string_equal(b.data, "pre:");

	/* A put replaces; no temporary file is left beside it. */
	put_str(f->s, "job/chk-1/bin", "second");
	wr_buf_reset(&b);
	assert_int_equal(
	    wr_objstore_get(f->s, "job/chk-1/bin", 6, &b, err, sizeof(err)),
	    WR_OK);
	assert_string_equal(b.data, "second");
	assert_int_equal(count_entries(f, "job/chk-1"), 1);

	/* Over the limit: WR_ETOOBIG, the buffer as it was. */
	wr_buf_reset(&b);
	wr_buf_puts(&b, "keep");
	assert_int_equal(
	    wr_objstore_get(f->s, "job/chk-1/bin", 5, &b, err, sizeof(err)),
	    WR_ETOOBIG);
	assert_string_equal(b.data, "keep");
	char url[160];
	snprintf(url, sizeof(url), "file://%s", f->root);
	assert_string_equal(wr_objstore_url(f->s), url);
	wr_buf_fini(&b);
}

static void
test_missing(void **state)
{
	struct fixture *f = *state;
	char err[256] = "", out[256];
	wr_buf b;
	wr_buf_init(&b);
	assert_int_equal(
	    wr_objstore_get(f->s, "nope", 10, &b, err, sizeof(err)), WR_ENOENT);
	assert_non_null(strstr(err, "nope"));
	put_str(f->s, "dir/file", "x");
	/* A directory is not an object, nor is a path through a file. */
	assert_int_equal(wr_objstore_get(f->s, "dir", 10, &b, err, sizeof(err)),
	                 WR_ENOENT);
	assert_int_equal(
	    wr_objstore_get(f->s, "dir/file/x", 10, &b, err, sizeof(err)),
	    WR_ENOENT);
	snprintf(out, sizeof(out), "%s/out", f->dir);
	assert_int_equal(
	    wr_objstore_get_file(f->s, "nope", out, err, sizeof(err)),
	    WR_ENOENT);
	assert_int_equal(access(out, F_OK), -1);
	snprintf(out, sizeof(out), "%s/no-such-file", f->dir);
	assert_int_equal(wr_objstore_put_file(f->s, "k", out, err, sizeof(err)),
	                 WR_ENOENT);
	assert_false(exists(f, "k"));
	/* Deleting a missing object is fine. */
	assert_int_equal(wr_objstore_delete(f->s, "nope", err, sizeof(err)),
	                 WR_OK);
	assert_int_equal(b.len, 0);
	wr_buf_fini(&b);
}

static void
test_big_file(void **state)
{
	struct fixture *f = *state;
	char err[256] = "", in[256], out[256];
	snprintf(in, sizeof(in), "%s/big.in", f->dir);
	snprintf(out, sizeof(out), "%s/big.out", f->dir);
	unsigned char *data = wr_xmalloc(BIG_BYTES);
	uint32_t x = 12345;
	for (size_t i = 0; i < BIG_BYTES; i++) {
		x = x * 1103515245u + 12345u;
		data[i] = (unsigned char)(x >> 16);
	}
	assert_int_equal(wr_write_file_atomic(in, data, BIG_BYTES), WR_OK);

	assert_int_equal(wr_objstore_put_file(f->s, "job/chk-2/state.mdb", in,
	                                      err, sizeof(err)),
	                 WR_OK);
	/* get_file truncates what was there. */
	assert_int_equal(wr_write_file_atomic(out, "old old old old", 15),
	                 WR_OK);
	assert_int_equal(wr_objstore_get_file(f->s, "job/chk-2/state.mdb", out,
	                                      err, sizeof(err)),
	                 WR_OK);
	char *back;
	size_t len;
	assert_int_equal(wr_read_file(out, BIG_BYTES * 2, &back, &len), WR_OK);
	assert_int_equal(len, BIG_BYTES);
	assert_memory_equal(back, data, BIG_BYTES);
	free(back);

	wr_buf b;
	wr_buf_init(&b);
	assert_int_equal(wr_objstore_get(f->s, "job/chk-2/state.mdb", BIG_BYTES,
	                                 &b, err, sizeof(err)),
	                 WR_OK);
	assert_int_equal(b.len, BIG_BYTES);
	assert_memory_equal(b.data, data, BIG_BYTES);
	wr_buf_reset(&b);
	assert_int_equal(wr_objstore_get(f->s, "job/chk-2/state.mdb",
	                                 BIG_BYTES - 1, &b, err, sizeof(err)),
	                 WR_ETOOBIG);
	assert_int_equal(b.len, 0);
	assert_int_equal(count_entries(f, "job/chk-2"), 1);
	wr_buf_fini(&b);
	free(data);
}

static void
test_list(void **state)
{
	struct fixture *f = *state;
	char err[256] = "", p[512];
	/* Nothing stored yet, not even the root: an empty list. */
	check_list(f->s, "", (const char *const[]){NULL});
	const char *keys[] = {"job/chk-10/b", "job/chk-1/a",  "job/chk-1/sub/c",
	                      "job/chk-2/a",  "job/job.yaml", "jobx",
	                      "other"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		put_str(f->s, keys[i], keys[i]);
	/* A put in progress (or one a crash left) and dot-directories are
	 * not objects. */
	snprintf(p, sizeof(p), "%s/job/chk-1/.a.99.0.tmp", f->root);
	assert_int_equal(wr_write_file_atomic(p, "partial", 7), WR_OK);
	snprintf(p, sizeof(p), "%s/.hidden/x", f->root);
	assert_int_equal(wr_mkdirs(p, 0755), WR_OK);

	check_list(f->s, "",
	           (const char *const[]){
	               "job/chk-1/a", "job/chk-1/sub/c", "job/chk-10/b",
	               "job/chk-2/a", "job/job.yaml", "jobx", "other", NULL});
	/* A plain string prefix, not a directory. */
	check_list(f->s, "job/chk-1",
	           (const char *const[]){"job/chk-1/a", "job/chk-1/sub/c",
	                                 "job/chk-10/b", NULL});
	check_list(
	    f->s, "job/chk-1/",
	    (const char *const[]){"job/chk-1/a", "job/chk-1/sub/c", NULL});
	check_list(f->s, "job",
	           (const char *const[]){"job/chk-1/a", "job/chk-1/sub/c",
	                                 "job/chk-10/b", "job/chk-2/a",
	                                 "job/job.yaml", "jobx", NULL});
	check_list(f->s, "job/job.yaml",
	           (const char *const[]){"job/job.yaml", NULL});
	check_list(f->s, "job/chk-3/", (const char *const[]){NULL});
	check_list(f->s, "jobx/", (const char *const[]){NULL});

	char **out = (char **)1;
	size_t n = 1;
	assert_int_equal(
	    wr_objstore_list(f->s, "../", &out, &n, err, sizeof(err)),
	    WR_EINVAL);
	assert_null(out);
	assert_int_equal(n, 0);
}

static void
test_delete(void **state)
{
	struct fixture *f = *state;
	char err[256] = "", p[512];
	const char *keys[] = {"job/chk-1/a", "job/chk-1/sub/c", "job/chk-10/b",
	                      "job/chk-2/a", "job/job.yaml"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		put_str(f->s, keys[i], "v");

	assert_int_equal(
	    wr_objstore_delete(f->s, "job/chk-2/a", err, sizeof(err)), WR_OK);
	assert_false(exists(f, "job/chk-2/a"));

	/* A crashed put left a temporary file in chk-1: it goes with it. */
	snprintf(p, sizeof(p), "%s/job/chk-1/sub/.c.99.0.tmp", f->root);
	assert_int_equal(wr_write_file_atomic(p, "partial", 7), WR_OK);
	assert_int_equal(
	    wr_objstore_delete_prefix(f->s, "job/chk-1/", err, sizeof(err)),
	    WR_OK);
	assert_false(exists(f, "job/chk-1"));
	assert_true(exists(f, "job/chk-10/b"));

	/* A partial name: chk-10 and the empty chk-2 go, job/ stays. */
	assert_int_equal(
	    wr_objstore_delete_prefix(f->s, "job/chk-", err, sizeof(err)),
	    WR_OK);
	assert_false(exists(f, "job/chk-10"));
	assert_false(exists(f, "job/chk-2"));
	assert_true(exists(f, "job/job.yaml"));
	check_list(f->s, "", (const char *const[]){"job/job.yaml", NULL});

	/* Everything: the root itself stays. */
	assert_int_equal(wr_objstore_delete_prefix(f->s, "", err, sizeof(err)),
	                 WR_OK);
	assert_int_equal(count_entries(f, "."), 0);
	assert_true(exists(f, "."));
	/* A prefix with nothing under it (or no root at all) is fine. */
	assert_int_equal(
	    wr_objstore_delete_prefix(f->s, "none/", err, sizeof(err)), WR_OK);
}

static void
test_bad_keys(void **state)
{
	struct fixture *f = *state;
	char err[256] = "", long_key[1100], deep_key[80];
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';
	/* 33 parts: one more than a key may have. */
	for (int i = 0; i < 33; i++)
		snprintf(deep_key + 2 * i, sizeof(deep_key) - 2 * (size_t)i,
		         "%s", i < 32 ? "d/" : "d");
	const char *bad[] = {"",       "/abs",   "a//b",  "a/",  "..",
	                     "../x",   "a/../b", "./a",   "a/.", ".hidden",
	                     "a/.tmp", long_key, deep_key};
	wr_buf b;
	wr_buf_init(&b);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(
		    wr_objstore_put(f->s, bad[i], "x", 1, err, sizeof(err)),
		    WR_EINVAL);
		assert_non_null(strstr(err, "bad object key"));
		assert_int_equal(
		    wr_objstore_get(f->s, bad[i], 10, &b, err, sizeof(err)),
		    WR_EINVAL);
		assert_int_equal(wr_objstore_get_file(f->s, bad[i], "/dev/null",
		                                      err, sizeof(err)),
		                 WR_EINVAL);
		assert_int_equal(wr_objstore_put_file(f->s, bad[i], "/dev/null",
		                                      err, sizeof(err)),
		                 WR_EINVAL);
		assert_int_equal(
		    wr_objstore_delete(f->s, bad[i], err, sizeof(err)),
		    WR_EINVAL);
	}
	const char *bad_prefix[] = {"/x", "../", "a//", "a/../", ".x/y"};
	for (size_t i = 0; i < sizeof(bad_prefix) / sizeof(bad_prefix[0]); i++)
		assert_int_equal(wr_objstore_delete_prefix(f->s, bad_prefix[i],
		                                           err, sizeof(err)),
		                 WR_EINVAL);
	/* Nothing was written anywhere, inside the root or beside it. */
	assert_false(exists(f, "."));
	assert_int_equal(count_dir(f->dir), 0);
	wr_buf_fini(&b);
}

static void
test_url_join(void **state)
{
	(void)state;
	char out[32];
	assert_int_equal(
	    wr_objstore_url_join("s3://b/p", "x/y", out, sizeof(out)), WR_OK);
	assert_string_equal(out, "s3://b/p/x/y");
	assert_int_equal(
	    wr_objstore_url_join("file:///d/", "/x", out, sizeof(out)), WR_OK);
	assert_string_equal(out, "file:///d/x");
	assert_int_equal(
	    wr_objstore_url_join("s3://b/p/", "", out, sizeof(out)), WR_OK);
	assert_string_equal(out, "s3://b/p");
	assert_int_equal(wr_objstore_url_join("s3://bucket/prefix",
	                                      "job/chk-1234567", out,
	                                      sizeof(out)),
	                 WR_ETOOBIG);
	assert_string_equal(out, "");
	assert_int_equal(wr_objstore_url_join("s3://b", "k", out, 7),
	                 WR_ETOOBIG);
	assert_int_equal(wr_objstore_url_join("s3://b", "k", out, 9), WR_OK);
}

static void
set_s3_env(void)
{
	setenv("AWS_ACCESS_KEY_ID", "id", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secret", 1);
	unsetenv("AWS_ENDPOINT_URL_S3");
	unsetenv("AWS_ENDPOINT_URL");
}

static void
test_open(void **state)
{
	(void)state;
	char err[256] = "";
	wr_objstore *s = (wr_objstore *)1;
	const char *bad[] = {
	    "http://x", "/plain/path", "file://relative",   "file://",
	    "s3://",    "s3:///",      "s3://Bad_Bucket/p", "s3://b/a/../c"};
	set_s3_env();
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(wr_objstore_open(bad[i], &s, err, sizeof(err)),
		                 WR_EINVAL);
		assert_null(s);
		assert_true(err[0] != '\0');
	}
	assert_non_null(strstr(err, "bad object key"));

	/* s3 without credentials: refused at open, with the reason. */
	unsetenv("AWS_ACCESS_KEY_ID");
	assert_int_equal(
	    wr_objstore_open("s3://bucket/p", &s, err, sizeof(err)), WR_EINVAL);
	assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
	setenv("AWS_ACCESS_KEY_ID", "id", 1);
	unsetenv("AWS_SECRET_ACCESS_KEY");
	assert_int_equal(
	    wr_objstore_open("s3://bucket/p", &s, err, sizeof(err)), WR_EINVAL);
	assert_non_null(strstr(err, "credentials"));

	set_s3_env();
	assert_int_equal(
	    wr_objstore_open("s3://bucket/p/q//", &s, err, sizeof(err)), WR_OK);
	assert_string_equal(wr_objstore_url(s), "s3://bucket/p/q");
	wr_objstore_close(s);
	wr_objstore_close(NULL);
}

static void
test_s3_unreachable(void **state)
{
	(void)state;
	char err[512] = "", ep[64];
	int fd;
	snprintf(ep, sizeof(ep), "http://127.0.0.1:%d/", wrt_bound_port(&fd));
	set_s3_env();
	setenv("AWS_ENDPOINT_URL", ep, 1);
	wr_objstore *s;
	assert_int_equal(
	    wr_objstore_open("s3://bucket/p", &s, err, sizeof(err)), WR_OK);
	assert_int_equal(wr_objstore_put(s, "k/v", "x", 1, err, sizeof(err)),
	                 WR_EUNREACHABLE);
	assert_non_null(strstr(err, "s3 PUT k/v: "));
	wr_buf b;
	wr_buf_init(&b);
	assert_int_equal(wr_objstore_get(s, "k/v", 10, &b, err, sizeof(err)),
	                 WR_EUNREACHABLE);
	char **keys;
	size_t n;
	assert_int_equal(wr_objstore_list(s, "k/", &keys, &n, err, sizeof(err)),
	                 WR_EUNREACHABLE);
	/* Keys are checked before anything is sent. */
	assert_int_equal(wr_objstore_put(s, "../k", "x", 1, err, sizeof(err)),
	                 WR_EINVAL);
	wr_buf_fini(&b);
	wr_objstore_close(s);
	unsetenv("AWS_ENDPOINT_URL");
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_big_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
	    cmocka_unit_test(test_url_join),
	    cmocka_unit_test(test_open),
	    cmocka_unit_test(test_s3_unreachable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
