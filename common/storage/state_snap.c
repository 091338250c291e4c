/*
 * state_snap.c - the copy of a keyed state view: the view's pages copied
 * out of data.mdb behind the meta pages captured at the barrier.
 *
 * This is what LMDB's own backup (mdb_env_copy2 without MDB_CP_COMPACT)
 * does, from a view fixed earlier: mdb_env_copy2 opens its own read
 * transaction whenever its thread gets to it, so it cannot copy the view
 * the task opened at the barrier. wr_state_view_open captures, on the
 * task's thread and before any later write can commit, the two meta
 * pages (the newer is the view's) and the view's last page. Every page
 * the view reaches lies below that and is not rewritten while the view
 * is open (LMDB does not reuse a page a reader may see); pages free in
 * the view may be rewritten meanwhile, and their bytes do not matter.
 * So the file's bytes up to the view's last page, behind those metas, are
 * an LMDB environment holding exactly the view: wr_state_import (and a
 * restore that takes the file as is) opens it as any other. A copy of
 * pages costs the kernel's copy of the file (copy_file_range), not a
 * walk of every entry: a cursor walk appending into a fresh environment
 * (which compacts) took ~10x the CPU on the 1 GiB bench state.
 */
#include "state_int.h"

#include "err.h"
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Bytes copied between two calls of the caller's stop function (which
 * also is when a closing backend stops the copy). */
#define WR_STATE_COPY_CHUNK ((size_t)4 << 20)
/* The read/write fallback's buffer (a filesystem without
 * copy_file_range between these two files). */
#define WR_STATE_COPY_BUF ((size_t)256 << 10)

static int
wr_state_write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) { /* bounded: each turn writes at least one byte */
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return wr_err_from_errno(w < 0 ? errno : EIO);
		c += w;
		n -= (size_t)w;
	}
	return WR_OK;
}

/* Copies n bytes at *off of src to dst's position, by read and write. */
static int
wr_state_copy_rw(int src, int dst, off_t *off, size_t n, char *buf)
{
	while (n > 0) {
		size_t want = n < WR_STATE_COPY_BUF ? n : WR_STATE_COPY_BUF;
		ssize_t r = pread(src, buf, want, *off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) /* the file is never shorter than the view */
			return wr_err_from_errno(r < 0 ? errno : EIO);
		int rv = wr_state_write_all(dst, buf, (size_t)r);
		if (rv != WR_OK)
			return rv;
		*off += r;
		n -= (size_t)r;
	}
	return WR_OK;
}

/* One chunk: copy_file_range while the kernel can, else read/write. */
static int
wr_state_copy_chunk(int src, int dst, off_t *off, size_t n, char **buf)
{
	while (n > 0 && *buf == NULL) {
		ssize_t c = copy_file_range(src, off, dst, NULL, n, 0);

		if (c > 0) {
			n -= (size_t)c;
			continue;
		}
		if (c < 0 && errno == EINTR)
			continue;
		if (c == 0 || (errno != EXDEV && errno != ENOSYS &&
		               errno != EINVAL && errno != EOPNOTSUPP))
			return wr_err_from_errno(c < 0 ? errno : EIO);
		if ((*buf = malloc(WR_STATE_COPY_BUF)) == NULL)
			return WR_ENOMEM;
	}
	return n > 0 ? wr_state_copy_rw(src, dst, off, n, *buf) : WR_OK;
}

static int
wr_state_copy_body(int src, int dst, const void *metas, size_t meta_bytes,
                   uint64_t end, int (*stop)(void *, uint64_t), void *arg)
{
	off_t off = (off_t)meta_bytes;
	char *buf = NULL;
	int rv = wr_state_write_all(dst, metas, meta_bytes);

	/* Bounded: each turn copies a chunk. */
	while (rv == WR_OK && (uint64_t)off < end) {
		uint64_t left = end - (uint64_t)off;
		size_t n = left < WR_STATE_COPY_CHUNK ? (size_t)left
		                                      : WR_STATE_COPY_CHUNK;

		rv = wr_state_copy_chunk(src, dst, &off, n, &buf);
		if (rv == WR_OK && (uint64_t)off < end && stop != NULL)
			rv = stop(arg, (uint64_t)off);
	}
	free(buf);
	return rv;
}

int
wr_state_copy_pages(int src_fd, const void *metas, size_t meta_bytes,
                    uint64_t end, const char *dir,
                    int (*stop)(void *, uint64_t), void *arg)
{
	char path[PATH_MAX];
	int rv, fd;

	if ((rv = wr_mkdirs(dir, 0755)) != WR_OK)
		return rv;
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return wr_err_from_errno(errno);
	rv = wr_state_copy_body(src_fd, fd, metas, meta_bytes, end, stop, arg);
	/* Written without syncing: once, here. */
	if (rv == WR_OK && fsync(fd) != 0)
		rv = wr_err_from_errno(errno);
	close(fd);
	return rv;
}
