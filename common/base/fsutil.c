/*
 * fsutil.c - files that survive a crash: directories with their parents,
 * atomic writes (fsutil.h).
 */
#include "fsutil.h"

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "wr_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int
wr_mkdirs_once(char *tmp, unsigned mode)
{
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int bad = mkdir(tmp, mode) != 0 && errno != EEXIST;
		*p = '/';
		if (bad)
			return errno;
	}
	if (mkdir(tmp, mode) != 0 && errno != EEXIST)
		return errno;
	return 0;
}

int
wr_mkdirs(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return WR_ESYSERR | ENAMETOOLONG;
	/* ENOENT: a parent made a moment ago was removed by whoever removes
	 * it once empty (a TaskManager drops a job's state directory when
	 * its last task ends, while a sibling task starts): make it again. */
	int e = 0;
	for (int i = 0; i < WR_MKDIRS_TRIES; i++)
		if ((e = wr_mkdirs_once(tmp, mode)) != ENOENT)
			break;
	return e == 0 ? WR_OK : wr_err_from_errno(e);
}

static int
wr_fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return wr_err_from_errno(errno);
	int rv = fsync(fd) == 0 ? WR_OK : wr_err_from_errno(errno);
	close(fd);
	return rv;
}

int
wr_write_file_atomic(const char *path, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp))
		return WR_ESYSERR | ENAMETOOLONG;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return wr_err_from_errno(errno);
	int rv = WR_OK;
	const char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			rv = wr_err_from_errno(errno);
			goto close_fd;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) != 0)
		rv = wr_err_from_errno(errno);
close_fd:
	if (close(fd) != 0 && rv == WR_OK)
		rv = wr_err_from_errno(errno);
	if (rv == WR_OK && rename(tmp, path) != 0)
		rv = wr_err_from_errno(errno);
	if (rv != WR_OK) {
		unlink(tmp);
		return rv;
	}
	return wr_fsync_dir_of(path);
}

int
wr_read_file(const char *path, size_t max_bytes, char **out, size_t *outlen)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return errno == ENOENT ? WR_ENOENT : wr_err_from_errno(errno);
	size_t cap = 4096, n = 0;
	char *buf = wr_xmalloc(cap + 1);
	int rv = WR_OK;
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n > max_bytes) {
			rv = WR_ETOOBIG;
			break;
		}
		if (got == 0) {
			if (ferror(f))
				rv = wr_err_from_errno(errno ? errno : EIO);
			break;
		}
		if (n == cap) {
			cap *= 2;
			buf = wr_xrealloc(buf, cap + 1);
		}
	}
	fclose(f);
	if (rv != WR_OK) {
		free(buf);
		return rv;
	}
	buf[n] = '\0';
	*out = buf;
	if (outlen != NULL)
		*outlen = n;
	return WR_OK;
}

const char *
wr_file_url_path(const char *url)
{
	if (strncmp(url, "file://", 7) == 0)
		return url + 7;
	return NULL;
}

static int
wr_rmtree_one(const char *path, const struct stat *sb, int flag,
              struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	return (flag == FTW_DP ? rmdir(path) : unlink(path)) == 0 ? 0 : -1;
}

int
wr_rmtree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? WR_OK : wr_err_from_errno(errno);
	if (nftw(path, wr_rmtree_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
		return wr_err_from_errno(errno);
	return WR_OK;
}

int
wr_read_text_file(const char *path, size_t max_bytes, wr_buf *buf, char *errbuf,
                  size_t errlen)
{
	char *data;
	size_t len;
	int rc = wr_read_file(path, max_bytes, &data, &len);
	if (rc == WR_ETOOBIG) {
		snprintf(errbuf, errlen, "%s: larger than %zu bytes", path,
		         max_bytes);
		return WR_EINVAL;
	}
	if (rc != WR_OK) {
		snprintf(errbuf, errlen, "%s: %s", path,
		         rc == WR_ENOENT ? strerror(ENOENT) : wr_strerror(rc));
		return rc;
	}
	wr_buf_append(buf, data, len);
	free(data);
	return WR_OK;
}
