/*
 * objstore.c - checkpoint storage on a shared directory (file://) or on
 * S3 (s3://), behind the calls of objstore.h.
 *
 * file://: a key is a file under the root. A put writes a temporary file
 * next to its target (".NAME.PID.SEQ.tmp": a dot-file, which list()
 * never shows, and which no key can name), fsyncs it, renames it over the
 * target and fsyncs the directory.
 *
 * s3://: one libcurl easy handle per store, kept between requests so that
 * the connection is reused. libcurl signs with SigV4 itself; the payload
 * is sent as UNSIGNED-PAYLOAD (libcurl 7.88 cannot hash a streamed body,
 * and TLS protects it on AWS). ListObjectsV2 replies are scanned for the
 * few elements we need rather than parsed as XML.
 */
#include "objstore.h"

#include "buf.h"
#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "wr_limits.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum wr_os_kind { WR_OS_FILE, WR_OS_S3 };

struct wr_objstore {
	enum wr_os_kind kind;
	char *url; /* as given, without a trailing '/' */
	/* file:// */
	char *dir; /* root directory, without a trailing '/' ("" for /) */
	/* s3:// */
	char *bucket;
	char *prefix;   /* "" or "a/b" (no trailing '/') */
	char *base_url; /* "http://host:port/bucket" or "https://b.s3.r..." */
	char *userpwd;  /* "key:secret" */
	char *sigv4;    /* "aws:amz:REGION:s3" */
	char *token;    /* "x-amz-security-token: ..." or NULL */
	long list_max_keys; /* 0: the server's default (1,000) */
	CURL *curl;         /* created on the first request */
};

static _Atomic unsigned long wr_os_tmp_seq;

static pthread_once_t wr_s3_once = PTHREAD_ONCE_INIT;
static CURLcode wr_s3_global_rv;

/* keys and URLs ---------------------------------------------------- */

/*
 * Checks one '/'-separated part of a key or prefix: not empty, not "." or
 * "..", and not starting with '.' at all (dot-files are the file
 * backend's temporary files).
 */
static bool
wr_os_part_ok(const char *p, size_t n)
{
	return n > 0 && p[0] != '.';
}

/* A key: relative, no empty, dot or dot-dot parts, not too long. */
static int
wr_os_key_check(const char *key, char *errbuf, size_t errlen)
{
	size_t len = key != NULL ? strlen(key) : 0;
	const char *why = NULL;
	if (len == 0)
		why = "empty";
	else if (len > WR_OBJSTORE_MAX_KEY_BYTES)
		why = "longer than 1024 bytes";
	else if (key[0] == '/')
		why = "starts with '/'";
	int parts = 0;
	for (const char *p = key; why == NULL;) {
		const char *e = strchr(p, '/');
		size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
		if (!wr_os_part_ok(p, n))
			why = "has an empty part or one starting with '.'";
		else if (++parts > WR_OBJSTORE_MAX_KEY_PARTS)
			why = "more than 32 parts";
		if (e == NULL)
			break;
		p = e + 1;
	}
	if (why == NULL)
		return WR_OK;
	snprintf(errbuf, errlen, "bad object key \"%.200s\": %s",
	         key != NULL ? key : "", why);
	return WR_EINVAL;
}

/* A prefix: like a key, but may be empty, and its last part (the one
 * after the last '/') may be empty or anything: it is only compared. */
static int
wr_os_prefix_check(const char *prefix, char *errbuf, size_t errlen)
{
	const char *why = NULL;
	if (strlen(prefix) > WR_OBJSTORE_MAX_KEY_BYTES)
		why = "longer than 1024 bytes";
	else if (prefix[0] == '/')
		why = "starts with '/'";
	int parts = 0;
	for (const char *p = prefix; why == NULL;) {
		const char *e = strchr(p, '/');
		if (e == NULL)
			break;
		if (!wr_os_part_ok(p, (size_t)(e - p)))
			why = "has an empty part or one starting with '.'";
		else if (++parts >= WR_OBJSTORE_MAX_KEY_PARTS)
			why = "more than 32 parts";
		p = e + 1;
	}
	if (why == NULL)
		return WR_OK;
	snprintf(errbuf, errlen, "bad object prefix \"%.200s\": %s", prefix,
	         why);
	return WR_EINVAL;
}

int
wr_objstore_url_join(const char *root, const char *rel, char *out,
                     size_t outlen)
{
	size_t rlen = strlen(root);
	while (rlen > 0 && root[rlen - 1] == '/')
		rlen--;
	while (*rel == '/')
		rel++;
	int n = *rel != '\0'
	            ? snprintf(out, outlen, "%.*s/%s", (int)rlen, root, rel)
	            : snprintf(out, outlen, "%.*s", (int)rlen, root);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		return WR_ETOOBIG;
	}
	return WR_OK;
}

const char *
wr_objstore_url(const wr_objstore *s)
{
	return s->url;
}

void
wr_objstore_list_free(char **keys, size_t n)
{
	if (keys == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
}

static int
wr_os_strcmp_p(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A growing array of heap strings, bounded by WR_OBJSTORE_MAX_LIST_KEYS. */
struct wr_os_keys {
	char **v;
	size_t n, cap;
};

static int
wr_os_keys_add(struct wr_os_keys *k, char *key)
{
	if (k->n >= WR_OBJSTORE_MAX_LIST_KEYS) {
		free(key);
		return WR_ETOOBIG;
	}
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 64;
		k->v = wr_xrealloc(k->v, k->cap * sizeof(*k->v));
	}
	k->v[k->n++] = key;
	return WR_OK;
}

/* file:// backend -------------------------------------------------- */

static int
wr_os_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return wr_err_from_errno(errno);
		p += w;
		len -= (size_t)w;
	}
	return WR_OK;
}

/* read(2) that retries on EINTR; returns bytes read, 0 at EOF, -1. */
static ssize_t
wr_os_read(int fd, void *buf, size_t len)
{
	ssize_t r;
	do
		r = read(fd, buf, len);
	while (r < 0 && errno == EINTR);
	return r;
}

static int
wr_os_fsync_dir(const char *dir)
{
	int fd = open(dir[0] != '\0' ? dir : "/",
	              O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return wr_err_from_errno(errno);
	int rv = fsync(fd) == 0 ? WR_OK : wr_err_from_errno(errno);
	close(fd);
	return rv;
}

/* A file being written under a temporary name. */
struct wr_os_tmp {
	char path[PATH_MAX]; /* the target */
	char tmp[PATH_MAX];
	size_t dirlen; /* path[0..dirlen) is its directory */
	int fd;
};

static int
wr_os_file_path(const wr_objstore *s, const char *key, char *out, size_t outlen,
                char *errbuf, size_t errlen)
{
	int n = snprintf(out, outlen, "%s/%s", s->dir, key);
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(errbuf, errlen, "%s/%.200s: path too long", s->url,
		         key);
		return WR_EINVAL;
	}
	return WR_OK;
}

static int
wr_os_tmp_open(const wr_objstore *s, const char *key, struct wr_os_tmp *t,
               char *errbuf, size_t errlen)
{
	int rv =
	    wr_os_file_path(s, key, t->path, sizeof(t->path), errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	const char *slash = strrchr(t->path, '/');
	t->dirlen = (size_t)(slash - t->path);
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%.*s", (int)t->dirlen, t->path);
	if (dir[0] != '\0' && (rv = wr_mkdirs(dir, 0755)) != WR_OK) {
		snprintf(errbuf, errlen, "mkdir %s: %s", dir, wr_strerror(rv));
		return rv;
	}
	unsigned long seq = atomic_fetch_add(&wr_os_tmp_seq, 1);
	int n = snprintf(t->tmp, sizeof(t->tmp), "%s/.%.100s.%d.%lu.tmp", dir,
	                 slash + 1, (int)getpid(), seq);
	if (n < 0 || (size_t)n >= sizeof(t->tmp)) {
		snprintf(errbuf, errlen, "%s: path too long", t->path);
		return WR_EINVAL;
	}
	t->fd = open(t->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (t->fd < 0) {
		rv = wr_err_from_errno(errno);
		snprintf(errbuf, errlen, "create %s: %s", t->tmp,
		         wr_strerror(rv));
		return rv;
	}
	return WR_OK;
}

/* Makes the temporary file the target (rv == WR_OK) or removes it. */
static int
wr_os_tmp_finish(struct wr_os_tmp *t, int rv, char *errbuf, size_t errlen)
{
	const char *what = "write";
	if (rv == WR_OK && fsync(t->fd) != 0) {
		rv = wr_err_from_errno(errno);
		what = "fsync";
	}
	if (close(t->fd) != 0 && rv == WR_OK) {
		rv = wr_err_from_errno(errno);
		what = "close";
	}
	if (rv == WR_OK && rename(t->tmp, t->path) != 0) {
		rv = wr_err_from_errno(errno);
		what = "rename to";
	}
	if (rv != WR_OK) {
		snprintf(errbuf, errlen, "%s %s: %s", what, t->path,
		         wr_strerror(rv));
		unlink(t->tmp);
		return rv;
	}
	t->path[t->dirlen] = '\0';
	if ((rv = wr_os_fsync_dir(t->path)) != WR_OK)
		snprintf(errbuf, errlen, "fsync %s: %s", t->path,
		         wr_strerror(rv));
	return rv;
}

static int
wr_os_file_put(wr_objstore *s, const char *key, const void *data, size_t len,
               char *errbuf, size_t errlen)
{
	struct wr_os_tmp t;
	int rv = wr_os_tmp_open(s, key, &t, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	rv = wr_os_write_all(t.fd, data, len);
	return wr_os_tmp_finish(&t, rv, errbuf, errlen);
}

/* Copies from fd to fd in chunks; *failed_read tells which side failed. */
static int
wr_os_copy_fd(int from, int to, bool *failed_read)
{
	char *buf = wr_xmalloc(WR_OBJSTORE_COPY_BYTES);
	int rv = WR_OK;
	*failed_read = false;
	for (;;) {
		ssize_t r = wr_os_read(from, buf, WR_OBJSTORE_COPY_BYTES);
		if (r < 0) {
			rv = wr_err_from_errno(errno);
			*failed_read = true;
			break;
		}
		if (r == 0 || (rv = wr_os_write_all(to, buf, (size_t)r)) != 0)
			break;
	}
	free(buf);
	return rv;
}

static int
wr_os_open_local(const char *path, char *errbuf, size_t errlen, int *fd)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd >= 0)
		return WR_OK;
	int rv = errno == ENOENT ? WR_ENOENT : wr_err_from_errno(errno);
	snprintf(errbuf, errlen, "open %s: %s", path, strerror(errno));
	return rv;
}

/* On the same filesystem a hard link stores the file without copying a
 * byte (a snapshot of 1 GB costs a rename instead of a 1 GB copy); the
 * caller does not modify path afterwards (objstore.h). WR_EAGAIN: not
 * possible here, copy instead. */
static int
wr_os_file_link(wr_objstore *s, const char *key, const char *path, int src,
                char *errbuf, size_t errlen)
{
	struct wr_os_tmp t;
	int rv = wr_os_tmp_open(s, key, &t, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	close(t.fd);
	unlink(t.tmp);
	if (link(path, t.tmp) != 0)
		return WR_EAGAIN;
	/* the tmp name is the same inode: fsync through src */
	if ((t.fd = dup(src)) < 0) {
		unlink(t.tmp);
		return WR_EAGAIN;
	}
	return wr_os_tmp_finish(&t, WR_OK, errbuf, errlen);
}

static int
wr_os_file_put_file(wr_objstore *s, const char *key, const char *path,
                    char *errbuf, size_t errlen)
{
	int src;
	int rv = wr_os_open_local(path, errbuf, errlen, &src);
	if (rv != WR_OK)
		return rv;
	if ((rv = wr_os_file_link(s, key, path, src, errbuf, errlen)) !=
	    WR_EAGAIN)
		goto close_src;
	struct wr_os_tmp t;
	if ((rv = wr_os_tmp_open(s, key, &t, errbuf, errlen)) != WR_OK)
		goto close_src;
	bool failed_read;
	rv = wr_os_copy_fd(src, t.fd, &failed_read);
	if (rv != WR_OK && failed_read) {
		snprintf(errbuf, errlen, "read %s: %s", path, wr_strerror(rv));
		wr_os_tmp_finish(&t, rv, errbuf, 0);
		goto close_src;
	}
	rv = wr_os_tmp_finish(&t, rv, errbuf, errlen);
close_src:
	close(src);
	return rv;
}

/* Opens the object's file for reading; WR_ENOENT if it is not a file. */
static int
wr_os_file_open_obj(wr_objstore *s, const char *key, int *fd, struct stat *st,
                    char *errbuf, size_t errlen)
{
	char path[PATH_MAX];
	int rv = wr_os_file_path(s, key, path, sizeof(path), errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		rv = WR_ENOENT;
	else if (*fd < 0 || fstat(*fd, st) != 0)
		rv = wr_err_from_errno(errno);
	else if (!S_ISREG(st->st_mode))
		rv = WR_ENOENT;
	if (rv == WR_OK)
		return WR_OK;
	snprintf(errbuf, errlen, "%s: %s", path,
	         rv == WR_ENOENT ? "no such object" : wr_strerror(rv));
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	return rv;
}

static int
wr_os_file_get(wr_objstore *s, const char *key, size_t max_bytes, wr_buf *out,
               char *errbuf, size_t errlen)
{
	int fd;
	struct stat st;
	int rv = wr_os_file_open_obj(s, key, &fd, &st, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	size_t start = out->len, got = 0;
	if ((uint64_t)st.st_size > max_bytes)
		rv = WR_ETOOBIG;
	else
		wr_buf_reserve(out, (size_t)st.st_size + 1);
	while (rv == WR_OK) {
		if (got > max_bytes) {
			rv = WR_ETOOBIG; /* grew while we read */
			break;
		}
		wr_buf_reserve(out, 64 * 1024);
		ssize_t r = wr_os_read(fd, out->data + out->len,
		                       out->cap - out->len - 1);
		if (r < 0)
			rv = wr_err_from_errno(errno);
		if (r <= 0)
			break;
		out->len += (size_t)r;
		got += (size_t)r;
	}
	close(fd);
	if (rv != WR_OK) {
		out->len = start;
		snprintf(errbuf, errlen, "%s/%s: %s", s->url, key,
		         rv == WR_ETOOBIG ? "object larger than the limit"
		                          : wr_strerror(rv));
	}
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return rv;
}

/* Creates or truncates a local file for get_file. */
static int
wr_os_create_local(const char *path, int *fd, char *errbuf, size_t errlen)
{
	*fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (*fd >= 0)
		return WR_OK;
	int rv = wr_err_from_errno(errno);
	snprintf(errbuf, errlen, "create %s: %s", path, wr_strerror(rv));
	return rv;
}

/* fsync and close of a file written by get_file. */
static int
wr_os_close_local(const char *path, int fd, int rv, char *errbuf, size_t errlen)
{
	if (rv == WR_OK && fsync(fd) != 0) {
		rv = wr_err_from_errno(errno);
		snprintf(errbuf, errlen, "fsync %s: %s", path, wr_strerror(rv));
	}
	if (close(fd) != 0 && rv == WR_OK) {
		rv = wr_err_from_errno(errno);
		snprintf(errbuf, errlen, "close %s: %s", path, wr_strerror(rv));
	}
	return rv;
}

static int
wr_os_file_get_file(wr_objstore *s, const char *key, const char *path,
                    char *errbuf, size_t errlen)
{
	int src, dst;
	struct stat st;
	int rv = wr_os_file_open_obj(s, key, &src, &st, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	if ((rv = wr_os_create_local(path, &dst, errbuf, errlen)) != WR_OK)
		goto close_src;
	bool failed_read;
	if ((rv = wr_os_copy_fd(src, dst, &failed_read)) != WR_OK)
		snprintf(errbuf, errlen, "%s %s: %s",
		         failed_read ? "read object for" : "write", path,
		         wr_strerror(rv));
	if ((rv = wr_os_close_local(path, dst, rv, errbuf, errlen)) != WR_OK)
		unlink(path); /* a partial copy */
close_src:
	close(src);
	return rv;
}

/* What a walk of the file tree does with what matches. */
struct wr_os_walk {
	const char *prefix;
	size_t plen;
	bool del;              /* delete_prefix rather than list */
	struct wr_os_keys out; /* list: the matching keys */
	int rv;                /* first error */
	char errmsg[256];
};

static void
wr_os_walk_fail(struct wr_os_walk *w, int rv, const char *what,
                const char *path)
{
	if (w->rv != WR_OK)
		return;
	w->rv = rv;
	snprintf(w->errmsg, sizeof(w->errmsg), "%s %s: %s", what, path,
	         wr_strerror(rv));
}

/* Whether a is a prefix of b or b of a (so a directory may hold
 * matches). */
static bool
wr_os_prefix_compat(const char *a, size_t alen, const char *b, size_t blen)
{
	return strncmp(a, b, alen < blen ? alen : blen) == 0;
}

/* A temporary file left by a put (".NAME.PID.SEQ.tmp"). */
static bool
wr_os_is_tmp(const char *name)
{
	size_t n = strlen(name);
	return name[0] == '.' && n > 4 && strcmp(name + n - 4, ".tmp") == 0;
}

/*
 * Visits the directory abs (key rel, "" or ending in '/') depth first.
 * A list collects matching files; a delete removes them, the temporary
 * files of directories wholly under the prefix, and the directories under
 * the prefix that it leaves empty. depth is the number of parts of rel;
 * the walk goes no deeper than a key can.
 */
static void
wr_os_walk_dir(struct wr_os_walk *w, char *abs, size_t alen, char *rel,
               size_t rlen, int depth)
{
	DIR *d = opendir(alen > 0 ? abs : "/");
	if (d == NULL) {
		if (errno != ENOENT && errno != ENOTDIR)
			wr_os_walk_fail(w, wr_err_from_errno(errno), "opendir",
			                abs);
		return;
	}
	bool dir_in_prefix = rlen >= w->plen;
	struct dirent *e = NULL;
	while (w->rv == WR_OK && (errno = 0, e = readdir(d)) != NULL) {
		const char *name = e->d_name;
		if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
			continue;
		size_t nlen = strlen(name);
		if (alen + 1 + nlen + 1 >= PATH_MAX ||
		    rlen + nlen + 2 >= PATH_MAX)
			continue; /* cannot be a key */
		snprintf(abs + alen, PATH_MAX - alen, "/%s", name);
		struct stat st;
		if (lstat(abs, &st) != 0) {
			if (errno != ENOENT) /* gone meanwhile: fine */
				wr_os_walk_fail(w, wr_err_from_errno(errno),
				                "stat", abs);
			continue;
		}
		if (name[0] == '.') {
			if (w->del && dir_in_prefix && S_ISREG(st.st_mode) &&
			    wr_os_is_tmp(name) && unlink(abs) != 0 &&
			    errno != ENOENT)
				wr_os_walk_fail(w, wr_err_from_errno(errno),
				                "unlink", abs);
			continue;
		}
		memcpy(rel + rlen, name, nlen + 1);
		if (S_ISDIR(st.st_mode)) {
			memcpy(rel + rlen + nlen, "/", 2);
			if (depth + 2 > WR_OBJSTORE_MAX_KEY_PARTS ||
			    !wr_os_prefix_compat(rel, rlen + nlen + 1,
			                         w->prefix, w->plen))
				continue;
			wr_os_walk_dir(w, abs, alen + 1 + nlen, rel,
			               rlen + nlen + 1, depth + 1);
			abs[alen + 1 + nlen] = '\0';
			if (w->del && rlen + nlen + 1 >= w->plen &&
			    rmdir(abs) != 0 && errno != ENOTEMPTY &&
			    errno != EEXIST && errno != ENOENT)
				wr_os_walk_fail(w, wr_err_from_errno(errno),
				                "rmdir", abs);
		} else if (S_ISREG(st.st_mode) &&
		           strncmp(rel, w->prefix, w->plen) == 0) {
			if (!w->del)
				w->rv =
				    wr_os_keys_add(&w->out, wr_xstrdup(rel));
			else if (unlink(abs) != 0 && errno != ENOENT)
				wr_os_walk_fail(w, wr_err_from_errno(errno),
				                "unlink", abs);
		}
	}
	abs[alen] = '\0';
	if (e == NULL && errno != 0)
		wr_os_walk_fail(w, wr_err_from_errno(errno), "readdir", abs);
	closedir(d);
}

/* Walks from the deepest directory the prefix names. */
static int
wr_os_file_walk(wr_objstore *s, struct wr_os_walk *w, char *errbuf,
                size_t errlen)
{
	char abs[PATH_MAX], rel[PATH_MAX];
	const char *slash = strrchr(w->prefix, '/');
	size_t rlen = slash != NULL ? (size_t)(slash - w->prefix) + 1 : 0;
	int n =
	    snprintf(abs, sizeof(abs), "%s/%.*s", s->dir, (int)rlen, w->prefix);
	if (n < 0 || (size_t)n >= sizeof(abs)) {
		snprintf(errbuf, errlen, "%s/%s: path too long", s->url,
		         w->prefix);
		return WR_EINVAL;
	}
	size_t alen = (size_t)n;
	while (alen > 0 && abs[alen - 1] == '/')
		abs[--alen] = '\0';
	memcpy(rel, w->prefix, rlen);
	rel[rlen] = '\0';
	int depth = 0;
	for (size_t i = 0; i < rlen; i++)
		depth += rel[i] == '/';
	wr_os_walk_dir(w, abs, alen, rel, rlen, depth);
	/* "job/chk-7/": the directory the walk started in goes too. */
	if (w->rv == WR_OK && w->del && rlen > 0 && rlen == w->plen &&
	    rmdir(abs) != 0 && errno != ENOTEMPTY && errno != EEXIST &&
	    errno != ENOENT && errno != ENOTDIR)
		wr_os_walk_fail(w, wr_err_from_errno(errno), "rmdir", abs);
	if (w->rv != WR_OK)
		snprintf(errbuf, errlen, "%s",
		         w->errmsg[0] != '\0' ? w->errmsg : "too many objects");
	return w->rv;
}

/* s3:// backend ---------------------------------------------------- */

static void
wr_s3_global_init(void)
{
	wr_s3_global_rv = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static const char *
wr_os_getenv(const char *a, const char *b)
{
	const char *v = getenv(a);
	if ((v == NULL || v[0] == '\0') && b != NULL)
		v = getenv(b);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Percent-encodes s as SigV4 wants it: unreserved characters stay, '/'
 * stays if keep_slash, the rest becomes %XX (upper case). */
static void
wr_s3_enc(wr_buf *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~' || (c == '/' && keep_slash)) {
			wr_buf_putc(b, (char)c);
		} else {
			char e[3] = {'%', hex[c >> 4], hex[c & 15]};
			wr_buf_append(b, e, 3);
		}
	}
}

static int
wr_s3_open(wr_objstore *s, const char *rest, char *errbuf, size_t errlen)
{
	const char *slash = strchr(rest, '/');
	size_t blen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	s->bucket = wr_xstrndup(rest, blen);
	s->prefix = wr_xstrdup(slash != NULL ? slash + 1 : "");
	size_t plen = strlen(s->prefix);
	while (plen > 0 && s->prefix[plen - 1] == '/')
		s->prefix[--plen] = '\0';
	if (blen == 0 || strspn(s->bucket, "abcdefghijklmnopqrstuvwxyz"
	                                   "0123456789.-") != blen) {
		snprintf(errbuf, errlen, "%s: bad bucket name", s->url);
		return WR_EINVAL;
	}
	if (plen > 0 && wr_os_key_check(s->prefix, errbuf, errlen) != WR_OK)
		return WR_EINVAL;
	const char *id = wr_os_getenv("AWS_ACCESS_KEY_ID", NULL);
	const char *secret = wr_os_getenv("AWS_SECRET_ACCESS_KEY", NULL);
	if (id == NULL || secret == NULL) {
		snprintf(
		    errbuf, errlen,
		    "%s: S3 credentials missing: set AWS_ACCESS_KEY_ID and "
		    "AWS_SECRET_ACCESS_KEY",
		    s->url);
		return WR_EINVAL;
	}
	const char *region = wr_os_getenv("AWS_REGION", "AWS_DEFAULT_REGION");
	if (region == NULL)
		region = "us-east-1";
	const char *ep =
	    wr_os_getenv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL");
	size_t eplen = ep != NULL ? strlen(ep) : 0;
	while (eplen > 0 && ep[eplen - 1] == '/')
		eplen--;
	if (ep != NULL)
		s->base_url =
		    wr_xasprintf("%.*s/%s", (int)eplen, ep, s->bucket);
	else
		s->base_url = wr_xasprintf("https://%s.s3.%s.amazonaws.com",
		                           s->bucket, region);
	s->userpwd = wr_xasprintf("%s:%s", id, secret);
	s->sigv4 = wr_xasprintf("aws:amz:%s:s3", region);
	const char *token = wr_os_getenv("AWS_SESSION_TOKEN", NULL);
	if (token != NULL)
		s->token = wr_xasprintf("x-amz-security-token: %s", token);
	/* Tests make lists page with a handful of keys. */
	const char *mk = getenv("WEIR_S3_LIST_MAX_KEYS");
	if (mk != NULL)
		s->list_max_keys = strtol(mk, NULL, 10);
	if (s->list_max_keys < 1 || s->list_max_keys > 1000)
		s->list_max_keys = 0;
	pthread_once(&wr_s3_once, wr_s3_global_init);
	if (wr_s3_global_rv != CURLE_OK) {
		snprintf(errbuf, errlen, "curl_global_init: %s",
		         curl_easy_strerror(wr_s3_global_rv));
		return WR_EINTERNAL;
	}
	return WR_OK;
}

/* One S3 request: its body source and the sink of its reply. */
struct wr_s3_req {
	wr_objstore *s;
	const char *method; /* "GET", "PUT", "DELETE" */
	const char *verb;   /* for messages: the method, or "LIST" */
	const char *what;   /* the key or prefix, for messages */
	bool streamed;      /* a file transfer: stall detection */
	/* PUT body: memory or a file */
	const char *src;
	size_t src_len, src_off;
	int src_fd;
	curl_off_t upload_len;
	/* reply body (2xx): memory (bounded) or a file (opened lazily, so
	 * that a 404 leaves the local file alone) */
	wr_buf *out;
	size_t out_start, max_bytes;
	const char *dst_path;
	int dst_fd;
	wr_buf errbody; /* reply body of a failed request (bounded) */
	int cb_rv;      /* error raised in a callback */
	char cb_msg[256];
	long status;
};

static size_t
wr_s3_read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct wr_s3_req *r = arg;
	size_t want = size * nitems;
	if (r->src_fd < 0) {
		size_t n = r->src_len - r->src_off;
		n = n < want ? n : want;
		if (n > 0)
			memcpy(buf, r->src + r->src_off, n);
		r->src_off += n;
		return n;
	}
	ssize_t got = wr_os_read(r->src_fd, buf, want);
	if (got >= 0)
		return (size_t)got;
	r->cb_rv = wr_err_from_errno(errno);
	snprintf(r->cb_msg, sizeof(r->cb_msg), "read: %s",
	         wr_strerror(r->cb_rv));
	return CURL_READFUNC_ABORT;
}

static size_t
wr_s3_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
	struct wr_s3_req *r = arg;
	size_t n = size * nmemb;
	long code = 0;
	curl_easy_getinfo(r->s->curl, CURLINFO_RESPONSE_CODE, &code);
	if (code < 200 || code > 299) {
		size_t room = WR_S3_MAX_ERROR_BODY_BYTES - r->errbody.len;
		wr_buf_append(&r->errbody, data, n < room ? n : room);
		return n;
	}
	if (r->out != NULL) {
		if (r->out->len - r->out_start + n > r->max_bytes) {
			r->cb_rv = WR_ETOOBIG;
			snprintf(r->cb_msg, sizeof(r->cb_msg),
			         "object larger than %zu bytes", r->max_bytes);
			return 0;
		}
		wr_buf_append(r->out, data, n);
		return n;
	}
	if (r->dst_path == NULL)
		return n;
	if (r->dst_fd < 0 &&
	    (r->cb_rv = wr_os_create_local(r->dst_path, &r->dst_fd, r->cb_msg,
	                                   sizeof(r->cb_msg))) != WR_OK)
		return 0;
	if ((r->cb_rv = wr_os_write_all(r->dst_fd, data, n)) != WR_OK) {
		snprintf(r->cb_msg, sizeof(r->cb_msg), "write %s: %s",
		         r->dst_path, wr_strerror(r->cb_rv));
		return 0;
	}
	return n;
}

/* Scans body[0..len) for the text of the first <tag>...</tag> at or after
 * *pos; advances *pos past it. The text is not unescaped. */
static bool
wr_xml_next(const char *body, size_t len, size_t *pos, const char *tag,
            const char **text, size_t *tlen)
{
	char open[40], close[41];
	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close, sizeof(close), "</%s>", tag);
	size_t olen = strlen(open), clen = strlen(close);
	for (size_t i = *pos; i + olen <= len; i++) {
		if (memcmp(body + i, open, olen) != 0)
			continue;
		size_t b = i + olen;
		for (size_t j = b; j + clen <= len; j++) {
			if (memcmp(body + j, close, clen) == 0) {
				*text = body + b;
				*tlen = j - b;
				*pos = j + clen;
				return true;
			}
		}
		return false;
	}
	return false;
}

/* Appends a code point as UTF-8. */
static void
wr_xml_put_utf8(wr_buf *b, unsigned long c)
{
	static const unsigned char lead[] = {0, 0, 0xC0, 0xE0, 0xF0};
	char u[4];
	int n = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
	for (int i = n - 1; i > 0; i--, c >>= 6)
		u[i] = (char)(0x80 | (c & 0x3F));
	u[0] = (char)(lead[n] | c);
	wr_buf_append(b, u, (size_t)n);
}

/* Appends XML text with the predefined and numeric entities replaced;
 * anything else is copied as it is. */
static void
wr_xml_unescape(wr_buf *b, const char *s, size_t n)
{
	static const struct {
		const char *ent;
		char c;
	} ents[] = {{"&amp;", '&'},
	            {"&lt;", '<'},
	            {"&gt;", '>'},
	            {"&quot;", '"'},
	            {"&apos;", '\''}};
	for (size_t i = 0; i < n;) {
		const char *semi =
		    s[i] == '&' ? memchr(s + i, ';', n - i) : NULL;
		size_t elen = semi != NULL ? (size_t)(semi - (s + i)) + 1 : 0;
		bool done = false;
		for (size_t k = 0; semi && !done && k < 5; k++) {
			if (elen == strlen(ents[k].ent) &&
			    memcmp(s + i, ents[k].ent, elen) == 0) {
				wr_buf_putc(b, ents[k].c);
				done = true;
			}
		}
		if (semi != NULL && !done && elen > 3 && elen < 12 &&
		    s[i + 1] == '#') {
			bool hex = s[i + 2] == 'x' || s[i + 2] == 'X';
			char num[12];
			memcpy(num, s + i + 2 + hex, elen - 3 - hex);
			num[elen - 3 - hex] = '\0';
			char *end;
			unsigned long c = strtoul(num, &end, hex ? 16 : 10);
			if (*end == '\0' && num[0] != '\0' && c > 0 &&
			    c <= 0x10FFFF) {
				wr_xml_put_utf8(b, c);
				done = true;
			}
		}
		if (done) {
			i += elen;
		} else {
			wr_buf_putc(b, s[i]);
			i++;
		}
	}
}

/* Maps an HTTP error status (and S3 error code) to a weir code. */
static int
wr_s3_status_err(long status, const char *code)
{
	if (strcmp(code, "NoSuchBucket") == 0)
		return WR_EINVAL; /* a configuration error, not a missing key */
	switch (status) {
	case 404:
		return WR_ENOENT;
	case 401:
	case 403:
		return WR_EPERM;
	case 413:
		return WR_ETOOBIG;
	case 408:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return WR_EAGAIN;
	default:
		return WR_EPROTO;
	}
}

/* "s3 PUT key: HTTP 403: SignatureDoesNotMatch: The request ..." */
static int
wr_s3_http_fail(struct wr_s3_req *r, char *errbuf, size_t errlen)
{
	const char *t;
	size_t tl, pos = 0;
	wr_buf code, msg;
	wr_buf_init(&code);
	wr_buf_init(&msg);
	wr_buf_putc(&r->errbody, '\0');
	if (wr_xml_next(r->errbody.data, r->errbody.len, &pos, "Code", &t, &tl))
		wr_xml_unescape(&code, t, tl);
	pos = 0;
	if (wr_xml_next(r->errbody.data, r->errbody.len, &pos, "Message", &t,
	                &tl))
		wr_xml_unescape(&msg, t, tl);
	if (code.len == 0 && msg.len == 0) /* not S3's XML: the raw body */
		wr_buf_append(&msg, r->errbody.data,
		              r->errbody.len > 200 ? 200 : r->errbody.len - 1);
	for (size_t i = 0; i < msg.len; i++)
		if ((unsigned char)msg.data[i] < 0x20)
			msg.data[i] = ' ';
	int rv = wr_s3_status_err(r->status, code.len ? code.data : "");
	snprintf(errbuf, errlen, "s3 %s %s: HTTP %ld: %s%s%.300s", r->verb,
	         r->what, r->status, code.len ? code.data : "",
	         code.len && msg.len ? ": " : "", msg.len ? msg.data : "");
	wr_buf_fini(&code);
	wr_buf_fini(&msg);
	return rv;
}

static void
wr_s3_setopts(struct wr_s3_req *r, const char *url, struct curl_slist *hdrs,
              char *curl_err)
{
	CURL *c = r->s->curl;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, r->s->sigv4);
	curl_easy_setopt(c, CURLOPT_USERPWD, r->s->userpwd);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	                 (long)WR_S3_CONNECT_TIMEOUT_MS);
	if (r->streamed) {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, WR_S3_XFER_TIMEOUT_MS);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT,
		                 (long)WR_S3_STALL_BYTES_PER_S);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
		                 (long)WR_S3_STALL_TIME_S);
	} else {
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
		                 (long)WR_S3_REQUEST_TIMEOUT_MS);
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wr_s3_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	if (strcmp(r->method, "PUT") == 0) {
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, wr_s3_read_cb);
		curl_easy_setopt(c, CURLOPT_READDATA, r);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, r->upload_len);
	} else if (strcmp(r->method, "DELETE") == 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
	}
}

/*
 * Runs one request against url. Errors (message in errbuf): WR_ENOENT
 * (404), WR_EPERM (401/403), WR_EAGAIN (throttled, 5xx), WR_EPROTO (other
 * HTTP errors), WR_ETIMEDOUT, WR_EUNREACHABLE (network), or what a
 * callback raised (WR_ETOOBIG, local file errors).
 */
static int
wr_s3_perform(struct wr_s3_req *r, const char *url, char *errbuf, size_t errlen)
{
	if (r->s->curl == NULL && (r->s->curl = curl_easy_init()) == NULL) {
		snprintf(errbuf, errlen, "curl_easy_init failed");
		return WR_ENOMEM;
	}
	struct curl_slist *h = NULL, *h2;
	const char *hdr[] = {"x-amz-content-sha256: UNSIGNED-PAYLOAD",
	                     "Expect:", r->s->token};
	for (size_t i = 0; i < 3 && hdr[i] != NULL; i++) {
		if ((h2 = curl_slist_append(h, hdr[i])) == NULL) {
			curl_slist_free_all(h);
			snprintf(errbuf, errlen, "out of memory");
			return WR_ENOMEM;
		}
		h = h2;
	}
	char curl_err[CURL_ERROR_SIZE] = "";
	wr_s3_setopts(r, url, h, curl_err);
	CURLcode cc = curl_easy_perform(r->s->curl);
	curl_slist_free_all(h);
	curl_easy_getinfo(r->s->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (cc != CURLE_OK && r->cb_rv != WR_OK) {
		snprintf(errbuf, errlen, "s3 %s %s: %s", r->verb, r->what,
		         r->cb_msg);
		return r->cb_rv;
	}
	if (cc != CURLE_OK) {
		snprintf(errbuf, errlen, "s3 %s %s: %s", r->verb, r->what,
		         curl_err[0] ? curl_err : curl_easy_strerror(cc));
		return cc == CURLE_OPERATION_TIMEDOUT ? WR_ETIMEDOUT
		                                      : WR_EUNREACHABLE;
	}
	if (r->status >= 200 && r->status <= 299)
		return WR_OK;
	return wr_s3_http_fail(r, errbuf, errlen);
}

static void
wr_s3_req_init(struct wr_s3_req *r, wr_objstore *s, const char *method,
               const char *what)
{
	memset(r, 0, sizeof(*r));
	r->s = s;
	r->method = method;
	r->verb = method;
	r->what = what;
	r->src_fd = -1;
	r->dst_fd = -1;
	wr_buf_init(&r->errbody);
}

/* The URL of an object: base + "/" + store prefix + "/" + key. */
static char *
wr_s3_obj_url(const wr_objstore *s, const char *key)
{
	wr_buf b;
	wr_buf_init(&b);
	wr_buf_puts(&b, s->base_url);
	wr_buf_putc(&b, '/');
	if (s->prefix[0] != '\0') {
		wr_s3_enc(&b, s->prefix, true);
		wr_buf_putc(&b, '/');
	}
	wr_s3_enc(&b, key, true);
	return wr_buf_steal(&b);
}

/* Runs the request r on the object key. */
static int
wr_s3_obj_req(wr_objstore *s, struct wr_s3_req *r, const char *key,
              char *errbuf, size_t errlen)
{
	char *url = wr_s3_obj_url(s, key);
	int rv = wr_s3_perform(r, url, errbuf, errlen);
	free(url);
	wr_buf_fini(&r->errbody);
	return rv;
}

static int
wr_s3_put(wr_objstore *s, const char *key, const void *data, size_t len,
          char *errbuf, size_t errlen)
{
	struct wr_s3_req r;
	wr_s3_req_init(&r, s, "PUT", key);
	r.src = data;
	r.src_len = len;
	r.upload_len = (curl_off_t)len;
	return wr_s3_obj_req(s, &r, key, errbuf, errlen);
}

static int
wr_s3_put_file(wr_objstore *s, const char *key, const char *path, char *errbuf,
               size_t errlen)
{
	struct wr_s3_req r;
	wr_s3_req_init(&r, s, "PUT", key);
	int rv = wr_os_open_local(path, errbuf, errlen, &r.src_fd);
	if (rv != WR_OK)
		return rv;
	struct stat st;
	if (fstat(r.src_fd, &st) != 0)
		rv = wr_err_from_errno(errno);
	else if (!S_ISREG(st.st_mode))
		rv = WR_EINVAL; /* its size is needed up front */
	if (rv != WR_OK) {
		snprintf(errbuf, errlen, "%s: not a regular file", path);
		close(r.src_fd);
		return rv;
	}
	r.upload_len = (curl_off_t)st.st_size;
	r.streamed = true;
	rv = wr_s3_obj_req(s, &r, key, errbuf, errlen);
	close(r.src_fd);
	return rv;
}

static int
wr_s3_get(wr_objstore *s, const char *key, size_t max_bytes, wr_buf *out,
          char *errbuf, size_t errlen)
{
	struct wr_s3_req r;
	wr_s3_req_init(&r, s, "GET", key);
	r.out = out;
	r.out_start = out->len;
	r.max_bytes = max_bytes;
	int rv = wr_s3_obj_req(s, &r, key, errbuf, errlen);
	if (rv != WR_OK)
		out->len = r.out_start;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return rv;
}

static int
wr_s3_get_file(wr_objstore *s, const char *key, const char *path, char *errbuf,
               size_t errlen)
{
	struct wr_s3_req r;
	wr_s3_req_init(&r, s, "GET", key);
	r.dst_path = path;
	r.streamed = true;
	int rv = wr_s3_obj_req(s, &r, key, errbuf, errlen);
	if (rv == WR_OK && r.dst_fd < 0) /* an empty object */
		rv = wr_os_create_local(path, &r.dst_fd, errbuf, errlen);
	if (r.dst_fd >= 0)
		rv = wr_os_close_local(path, r.dst_fd, rv, errbuf, errlen);
	if (rv != WR_OK && r.dst_fd >= 0)
		unlink(path); /* a partial download */
	return rv;
}

static int
wr_s3_delete(wr_objstore *s, const char *key, char *errbuf, size_t errlen)
{
	struct wr_s3_req r;
	wr_s3_req_init(&r, s, "DELETE", key);
	int rv = wr_s3_obj_req(s, &r, key, errbuf, errlen);
	if (rv == WR_ENOENT) /* S3 says 204 here; others may say 404 */
		rv = WR_OK;
	return rv;
}

/* The URL of one ListObjectsV2 page. SigV4 wants the query parameters
 * sorted by name and encoded; libcurl 7.88 signs the query as given. */
static char *
wr_s3_list_url(const wr_objstore *s, const char *full_prefix, const char *token)
{
	wr_buf b;
	wr_buf_init(&b);
	wr_buf_puts(&b, s->base_url);
	wr_buf_puts(&b, "?");
	if (token != NULL) {
		wr_buf_puts(&b, "continuation-token=");
		wr_s3_enc(&b, token, false);
		wr_buf_putc(&b, '&');
	}
	wr_buf_puts(&b, "list-type=2");
	if (s->list_max_keys > 0)
		wr_buf_printf(&b, "&max-keys=%ld", s->list_max_keys);
	wr_buf_puts(&b, "&prefix=");
	wr_s3_enc(&b, full_prefix, false);
	return wr_buf_steal(&b);
}

/* Adds the keys of one ListObjectsV2 reply; sets *token to the next
 * continuation token (heap) or NULL on the last page. */
static int
wr_s3_list_parse(const wr_objstore *s, const wr_buf *body,
                 struct wr_os_keys *out, char **token, char *errbuf,
                 size_t errlen)
{
	size_t pos = 0, tl, plen = strlen(s->prefix),
	       skip = plen ? plen + 1 : 0;
	const char *t;
	int rv = WR_OK;
	wr_buf k;
	wr_buf_init(&k);
	while (rv == WR_OK &&
	       wr_xml_next(body->data, body->len, &pos, "Key", &t, &tl)) {
		wr_buf_reset(&k);
		wr_xml_unescape(&k, t, tl);
		bool ours =
		    k.len > skip &&
		    (skip == 0 || (strncmp(k.data, s->prefix, plen) == 0 &&
		                   k.data[plen] == '/'));
		if (ours)
			rv = wr_os_keys_add(out, wr_xstrdup(k.data + skip));
	}
	wr_buf_fini(&k);
	if (rv != WR_OK) {
		snprintf(errbuf, errlen, "s3 list %s: more than %d objects",
		         s->url, WR_OBJSTORE_MAX_LIST_KEYS);
		return rv;
	}
	*token = NULL;
	pos = 0;
	if (!wr_xml_next(body->data, body->len, &pos, "IsTruncated", &t, &tl) ||
	    tl != 4 || memcmp(t, "true", 4) != 0)
		return WR_OK;
	pos = 0;
	if (!wr_xml_next(body->data, body->len, &pos, "NextContinuationToken",
	                 &t, &tl) ||
	    tl == 0) {
		snprintf(errbuf, errlen,
		         "s3 list %s: truncated reply without a continuation "
		         "token",
		         s->url);
		return WR_EPROTO;
	}
	wr_buf_init(&k);
	wr_xml_unescape(&k, t, tl);
	*token = wr_buf_steal(&k);
	return WR_OK;
}

static int
wr_s3_list(wr_objstore *s, const char *prefix, struct wr_os_keys *out,
           char *errbuf, size_t errlen)
{
	char *full = s->prefix[0] != '\0'
	                 ? wr_xasprintf("%s/%s", s->prefix, prefix)
	                 : wr_xstrdup(prefix);
	char *token = NULL;
	int rv = WR_OK;
	wr_buf body;
	wr_buf_init(&body);
	/* A page adds keys (bounded in all), ends the list, or is one of
	 * a few empty ones S3 may send. */
	for (int empty = 0; rv == WR_OK;) {
		size_t before = out->n;
		struct wr_s3_req r;
		wr_s3_req_init(&r, s, "GET", prefix);
		r.verb = "LIST";
		r.out = &body;
		r.max_bytes = WR_S3_MAX_LIST_REPLY_BYTES;
		wr_buf_reset(&body);
		char *url = wr_s3_list_url(s, full, token);
		rv = wr_s3_perform(&r, url, errbuf, errlen);
		free(url);
		wr_buf_fini(&r.errbody);
		free(token);
		token = NULL;
		if (rv == WR_OK)
			rv = wr_s3_list_parse(s, &body, out, &token, errbuf,
			                      errlen);
		if (rv != WR_OK || token == NULL)
			break;
		if (out->n == before && ++empty > WR_S3_MAX_EMPTY_PAGES) {
			snprintf(errbuf, errlen,
			         "s3 list %s: empty truncated pages", s->url);
			rv = WR_EPROTO;
		}
	}
	free(token);
	wr_buf_fini(&body);
	free(full);
	return rv;
}

/* the API ---------------------------------------------------------- */

int
wr_objstore_open(const char *url, wr_objstore **out, char *errbuf,
                 size_t errlen)
{
	*out = NULL;
	wr_objstore *s = wr_xcalloc(1, sizeof(*s));
	bool file = strncmp(url, "file://", 7) == 0;
	size_t scheme = file ? 7 : strncmp(url, "s3://", 5) == 0 ? 5 : 0;
	size_t len = strlen(url);
	while (len > scheme + 1 && url[len - 1] == '/')
		len--;
	s->url = wr_xstrndup(url, len);
	int rv = WR_OK;
	if (file) {
		s->kind = WR_OS_FILE;
		s->dir = wr_xstrdup(s->url + 7);
		if (strcmp(s->dir, "/") == 0)
			s->dir[0] = '\0';
		if (url[7] != '/') {
			snprintf(errbuf, errlen,
			         "%s: a file:// URL needs an absolute path "
			         "(file:///dir)",
			         url);
			rv = WR_EINVAL;
		}
	} else if (scheme == 5) {
		s->kind = WR_OS_S3;
		rv = wr_s3_open(s, s->url + 5, errbuf, errlen);
	} else {
		snprintf(errbuf, errlen,
		         "%s: unsupported storage URL (want file:///dir or "
		         "s3://bucket/prefix)",
		         url);
		rv = WR_EINVAL;
	}
	if (rv != WR_OK) {
		wr_objstore_close(s);
		return rv;
	}
	*out = s;
	return WR_OK;
}

void
wr_objstore_close(wr_objstore *s)
{
	if (s == NULL)
		return;
	if (s->curl != NULL)
		curl_easy_cleanup(s->curl);
	free(s->url);
	free(s->dir);
	free(s->bucket);
	free(s->prefix);
	free(s->base_url);
	free(s->userpwd);
	free(s->sigv4);
	free(s->token);
	free(s);
}

int
wr_objstore_put(wr_objstore *s, const char *key, const void *data, size_t len,
                char *errbuf, size_t errlen)
{
	int rv = wr_os_key_check(key, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	return s->kind == WR_OS_FILE
	           ? wr_os_file_put(s, key, data, len, errbuf, errlen)
	           : wr_s3_put(s, key, data, len, errbuf, errlen);
}

int
wr_objstore_put_file(wr_objstore *s, const char *key, const char *path,
                     char *errbuf, size_t errlen)
{
	int rv = wr_os_key_check(key, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	return s->kind == WR_OS_FILE
	           ? wr_os_file_put_file(s, key, path, errbuf, errlen)
	           : wr_s3_put_file(s, key, path, errbuf, errlen);
}

int
wr_objstore_get(wr_objstore *s, const char *key, size_t max_bytes, wr_buf *out,
                char *errbuf, size_t errlen)
{
	int rv = wr_os_key_check(key, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	return s->kind == WR_OS_FILE
	           ? wr_os_file_get(s, key, max_bytes, out, errbuf, errlen)
	           : wr_s3_get(s, key, max_bytes, out, errbuf, errlen);
}

int
wr_objstore_get_file(wr_objstore *s, const char *key, const char *path,
                     char *errbuf, size_t errlen)
{
	int rv = wr_os_key_check(key, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	return s->kind == WR_OS_FILE
	           ? wr_os_file_get_file(s, key, path, errbuf, errlen)
	           : wr_s3_get_file(s, key, path, errbuf, errlen);
}

int
wr_objstore_list(wr_objstore *s, const char *prefix, char ***keys, size_t *n,
                 char *errbuf, size_t errlen)
{
	*keys = NULL;
	*n = 0;
	int rv = wr_os_prefix_check(prefix, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	struct wr_os_walk w = {.prefix = prefix, .plen = strlen(prefix)};
	if (s->kind == WR_OS_FILE)
		rv = wr_os_file_walk(s, &w, errbuf, errlen);
	else
		rv = wr_s3_list(s, prefix, &w.out, errbuf, errlen);
	if (rv != WR_OK) {
		wr_objstore_list_free(w.out.v, w.out.n);
		return rv;
	}
	if (w.out.n > 1)
		qsort(w.out.v, w.out.n, sizeof(*w.out.v), wr_os_strcmp_p);
	*keys = w.out.v;
	*n = w.out.n;
	return WR_OK;
}

int
wr_objstore_delete(wr_objstore *s, const char *key, char *errbuf, size_t errlen)
{
	int rv = wr_os_key_check(key, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	if (s->kind == WR_OS_S3)
		return wr_s3_delete(s, key, errbuf, errlen);
	char path[PATH_MAX];
	if ((rv = wr_os_file_path(s, key, path, sizeof(path), errbuf,
	                          errlen)) != WR_OK)
		return rv;
	if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR &&
	    errno != EISDIR) { /* a directory is no object */
		rv = wr_err_from_errno(errno);
		snprintf(errbuf, errlen, "unlink %s: %s", path,
		         wr_strerror(rv));
	}
	return rv;
}

int
wr_objstore_delete_prefix(wr_objstore *s, const char *prefix, char *errbuf,
                          size_t errlen)
{
	int rv = wr_os_prefix_check(prefix, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	if (s->kind == WR_OS_FILE) {
		struct wr_os_walk w = {
		    .prefix = prefix, .plen = strlen(prefix), .del = true};
		return wr_os_file_walk(s, &w, errbuf, errlen);
	}
	char **keys;
	size_t n;
	if ((rv = wr_objstore_list(s, prefix, &keys, &n, errbuf, errlen)) !=
	    WR_OK)
		return rv;
	for (size_t i = 0; i < n && rv == WR_OK; i++)
		rv = wr_s3_delete(s, keys[i], errbuf, errlen);
	wr_objstore_list_free(keys, n);
	return rv;
}
