/*
 * fsutil.h - files that must survive a crash: directories created with
 * their parents, files written atomically (temporary name, fsync, rename,
 * fsync of the directory), so a reader sees the old or the new content,
 * never a torn one.
 */
#ifndef WR_FSUTIL_H
#define WR_FSUTIL_H

#include <stddef.h>

/* mkdir -p. Returns WR_OK or WR_ESYSERR|errno. */
int wr_mkdirs(const char *path, unsigned mode);

/* Writes len bytes to path atomically and durably. */
int wr_write_file_atomic(const char *path, const void *data, size_t len);

/* Reads a whole file (at most max_bytes) into a NUL-terminated heap
 * buffer. Errors: WR_ENOENT, WR_ETOOBIG, WR_ESYSERR|errno. */
int wr_read_file(const char *path, size_t max_bytes, char **out,
                 size_t *outlen);

/* Appends a whole text file (at most max_bytes) to buf, for parsers of
 * user files: errors come with "path: why" in errbuf; a file over the
 * limit is WR_EINVAL ("larger than N bytes"). */
struct wr_buf;
int wr_read_text_file(const char *path, size_t max_bytes, struct wr_buf *buf,
                      char *errbuf, size_t errlen);

/* rm -rf path (a missing path is fine). Does not follow symlinks. */
int wr_rmtree(const char *path);

/* "file:///var/lib/weir" -> "/var/lib/weir"; NULL for other schemes. */
const char *wr_file_url_path(const char *url);

#endif
