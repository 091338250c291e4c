/*
 * objstore_file.c - the file:// backend of objstore.h: a key is a file
 * under the root directory (shared by every daemon).
 *
 * A put writes a temporary file next to its target (".NAME.PID.SEQ.tmp":
 * a dot-file, which list() never shows, and which no key can name),
 * fsyncs it, renames it over the target and fsyncs the directory. A
 * put_file on the same filesystem hard-links instead of copying.
 */
#include "objstore.h"

#include "buf.h"
#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "objstore_int.h"
#include "wr_limits.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct wr_os_file {
	wr_objstore base; /* first: a wr_objstore * points at it */
	char *dir; /* root directory, without a trailing '/' ("" for /) */
};

static _Atomic unsigned long wr_os_tmp_seq;

static struct wr_os_file *
wr_os_file_of(wr_objstore *s)
{
	return (struct wr_os_file *)s;
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
wr_os_file_path(const struct wr_os_file *f, const char *key, char *out,
                size_t outlen, char *errbuf, size_t errlen)
{
	int n = snprintf(out, outlen, "%s/%s", f->dir, key);
	if (n < 0 || (size_t)n >= outlen) {
		snprintf(errbuf, errlen, "%s/%.200s: path too long",
		         f->base.url, key);
		return WR_EINVAL;
	}
	return WR_OK;
}

static int
wr_os_tmp_open(const struct wr_os_file *f, const char *key, struct wr_os_tmp *t,
               char *errbuf, size_t errlen)
{
	int rv =
	    wr_os_file_path(f, key, t->path, sizeof(t->path), errbuf, errlen);
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
	int rv = wr_os_tmp_open(wr_os_file_of(s), key, &t, errbuf, errlen);
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

/* On the same filesystem a hard link stores the file without copying a
 * byte (a snapshot of 1 GB costs a rename instead of a 1 GB copy); the
 * caller does not modify path afterwards (objstore.h). WR_EAGAIN: not
 * possible here, copy instead. */
static int
wr_os_file_link(const struct wr_os_file *f, const char *key, const char *path,
                int src, char *errbuf, size_t errlen)
{
	struct wr_os_tmp t;
	int rv = wr_os_tmp_open(f, key, &t, errbuf, errlen);
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
	const struct wr_os_file *f = wr_os_file_of(s);
	int src;
	int rv = wr_os_open_local(path, errbuf, errlen, &src);
	if (rv != WR_OK)
		return rv;
	if ((rv = wr_os_file_link(f, key, path, src, errbuf, errlen)) !=
	    WR_EAGAIN)
		goto close_src;
	struct wr_os_tmp t;
	if ((rv = wr_os_tmp_open(f, key, &t, errbuf, errlen)) != WR_OK)
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
	int rv = wr_os_file_path(wr_os_file_of(s), key, path, sizeof(path),
	                         errbuf, errlen);
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
	bool del;               /* delete_prefix rather than list */
	struct wr_os_keys *out; /* list: the matching keys */
	int rv;                 /* first error */
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

static void wr_os_walk_dir(struct wr_os_walk *w, char *abs, size_t alen,
                           char *rel, size_t rlen, int depth);

/*
 * The subdirectory abs (key rel, ending in '/', rlen bytes) of a walk at
 * depth: visited if a key under it may match, then removed by a delete
 * if it is under the prefix and left empty.
 */
static void
wr_os_walk_subdir(struct wr_os_walk *w, char *abs, size_t alen, char *rel,
                  size_t rlen, int depth)
{
	if (depth + 2 > WR_OBJSTORE_MAX_KEY_PARTS ||
	    !wr_os_prefix_compat(rel, rlen, w->prefix, w->plen))
		return;
	wr_os_walk_dir(w, abs, alen, rel, rlen, depth + 1);
	abs[alen] = '\0';
	if (w->del && rlen >= w->plen && rmdir(abs) != 0 &&
	    errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT)
		wr_os_walk_fail(w, wr_err_from_errno(errno), "rmdir", abs);
}

/*
 * One entry name of the directory abs (key rel) that wr_os_walk_dir
 * visits: appends name to abs and rel (wr_os_walk_dir restores abs) and
 * lists, deletes or descends.
 */
static void
wr_os_walk_entry(struct wr_os_walk *w, const char *name, char *abs, size_t alen,
                 char *rel, size_t rlen, int depth)
{
	size_t nlen = strlen(name);
	if (alen + 1 + nlen + 1 >= PATH_MAX || rlen + nlen + 2 >= PATH_MAX)
		return; /* cannot be a key */
	snprintf(abs + alen, PATH_MAX - alen, "/%s", name);
	struct stat st;
	if (lstat(abs, &st) != 0) {
		if (errno != ENOENT) /* gone meanwhile: fine */
			wr_os_walk_fail(w, wr_err_from_errno(errno), "stat",
			                abs);
		return;
	}
	if (name[0] == '.') {
		/* the temporary files of directories wholly under the
		 * prefix */
		if (w->del && rlen >= w->plen && S_ISREG(st.st_mode) &&
		    wr_os_is_tmp(name) && unlink(abs) != 0 && errno != ENOENT)
			wr_os_walk_fail(w, wr_err_from_errno(errno), "unlink",
			                abs);
		return;
	}
	memcpy(rel + rlen, name, nlen + 1);
	if (S_ISDIR(st.st_mode)) {
		memcpy(rel + rlen + nlen, "/", 2);
		wr_os_walk_subdir(w, abs, alen + 1 + nlen, rel, rlen + nlen + 1,
		                  depth);
	} else if (S_ISREG(st.st_mode) &&
	           strncmp(rel, w->prefix, w->plen) == 0) {
		if (!w->del)
			w->rv = wr_os_keys_add(w->out, wr_xstrdup(rel));
		else if (unlink(abs) != 0 && errno != ENOENT)
			wr_os_walk_fail(w, wr_err_from_errno(errno), "unlink",
			                abs);
	}
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
	struct dirent *e = NULL;
	while (w->rv == WR_OK && (errno = 0, e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			wr_os_walk_entry(w, e->d_name, abs, alen, rel, rlen,
			                 depth);
	}
	abs[alen] = '\0';
	if (e == NULL && errno != 0)
		wr_os_walk_fail(w, wr_err_from_errno(errno), "readdir", abs);
	closedir(d);
}

/* Walks from the deepest directory the prefix names. */
static int
wr_os_file_walk(const struct wr_os_file *f, struct wr_os_walk *w, char *errbuf,
                size_t errlen)
{
	char abs[PATH_MAX], rel[PATH_MAX];
	const char *slash = strrchr(w->prefix, '/');
	size_t rlen = slash != NULL ? (size_t)(slash - w->prefix) + 1 : 0;
	int n =
	    snprintf(abs, sizeof(abs), "%s/%.*s", f->dir, (int)rlen, w->prefix);
	if (n < 0 || (size_t)n >= sizeof(abs)) {
		snprintf(errbuf, errlen, "%s/%s: path too long", f->base.url,
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

static int
wr_os_file_list(wr_objstore *s, const char *prefix, struct wr_os_keys *out,
                char *errbuf, size_t errlen)
{
	struct wr_os_walk w = {
	    .prefix = prefix, .plen = strlen(prefix), .out = out};
	return wr_os_file_walk(wr_os_file_of(s), &w, errbuf, errlen);
}

static int
wr_os_file_delete(wr_objstore *s, const char *key, char *errbuf, size_t errlen)
{
	char path[PATH_MAX];
	int rv = wr_os_file_path(wr_os_file_of(s), key, path, sizeof(path),
	                         errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR &&
	    errno != EISDIR) { /* a directory is no object */
		rv = wr_err_from_errno(errno);
		snprintf(errbuf, errlen, "unlink %s: %s", path,
		         wr_strerror(rv));
	}
	return rv;
}

static int
wr_os_file_delete_prefix(wr_objstore *s, const char *prefix, char *errbuf,
                         size_t errlen)
{
	struct wr_os_walk w = {
	    .prefix = prefix, .plen = strlen(prefix), .del = true};
	return wr_os_file_walk(wr_os_file_of(s), &w, errbuf, errlen);
}

static int
wr_os_file_open(const char *url, const char *root, wr_objstore **out,
                char *errbuf, size_t errlen)
{
	size_t scheme = strlen(wr_os_file_ops.scheme);
	if (url[scheme] != '/') {
		snprintf(errbuf, errlen,
		         "%s: a file:// URL needs an absolute path "
		         "(file:///dir)",
		         url);
		return WR_EINVAL;
	}
	struct wr_os_file *f = wr_xcalloc(1, sizeof(*f));
	f->dir = wr_xstrdup(root + scheme);
	if (strcmp(f->dir, "/") == 0)
		f->dir[0] = '\0';
	*out = &f->base;
	return WR_OK;
}

static void
wr_os_file_free(wr_objstore *s)
{
	struct wr_os_file *f = wr_os_file_of(s);
	free(f->dir);
	free(f);
}

const struct wr_os_ops wr_os_file_ops = {
    .scheme = "file://",
    .open = wr_os_file_open,
    .free = wr_os_file_free,
    .put = wr_os_file_put,
    .put_file = wr_os_file_put_file,
    .get = wr_os_file_get,
    .get_file = wr_os_file_get_file,
    .list = wr_os_file_list,
    .del = wr_os_file_delete,
    .delete_prefix = wr_os_file_delete_prefix,
};
