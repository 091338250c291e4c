/*
 * objstore_int.h - what objstore.c shares with its backends: the backend
 * vtable, the part every store has, key checks and the local-file I/O
 * both backends use. Not for callers of objstore.h.
 *
 * A backend (objstore_file.c, objstore_s3.c) embeds struct wr_objstore as
 * the first member of its own store and casts between the two. objstore.c
 * checks keys and prefixes before it calls a backend, so a backend sees
 * only valid ones.
 */
#ifndef WR_OBJSTORE_INT_H
#define WR_OBJSTORE_INT_H

#include "objstore.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct wr_buf;

/* A growing array of heap strings, bounded by WR_OBJSTORE_MAX_LIST_KEYS. */
struct wr_os_keys {
	char **v;
	size_t n, cap;
};

/*
 * One backend. The calls have the contracts of the objstore.h calls of
 * the same name, with key or prefix already checked. list adds the
 * matching keys to out in any order (objstore.c sorts them; on an error
 * it frees what was added).
 */
struct wr_os_ops {
	const char *scheme; /* "file://": the URLs this backend opens */
	/* url as given (for messages); root: url without a trailing '/'.
	 * Sets *out to a new store whose ops and url objstore.c fills in. */
	int (*open)(const char *url, const char *root, wr_objstore **out,
	            char *errbuf, size_t errlen);
	/* Frees what open allocated; not the url. */
	void (*free)(wr_objstore *s);
	int (*put)(wr_objstore *s, const char *key, const void *data,
	           size_t len, char *errbuf, size_t errlen);
	int (*put_file)(wr_objstore *s, const char *key, const char *path,
	                char *errbuf, size_t errlen);
	int (*get)(wr_objstore *s, const char *key, size_t max_bytes,
	           struct wr_buf *out, char *errbuf, size_t errlen);
	int (*get_file)(wr_objstore *s, const char *key, const char *path,
	                char *errbuf, size_t errlen);
	int (*list)(wr_objstore *s, const char *prefix, struct wr_os_keys *out,
	            char *errbuf, size_t errlen);
	int (*del)(wr_objstore *s, const char *key, char *errbuf,
	           size_t errlen);
	int (*delete_prefix)(wr_objstore *s, const char *prefix, char *errbuf,
	                     size_t errlen);
};

/* The part of a store every backend has (its first member). */
struct wr_objstore {
	const struct wr_os_ops *ops;
	char *url; /* as given, without a trailing '/' */
};

extern const struct wr_os_ops wr_os_file_ops; /* objstore_file.c */
extern const struct wr_os_ops wr_os_s3_ops;   /* objstore_s3.c */

/* A key as objstore.h describes it, else WR_EINVAL (message in errbuf). */
int wr_os_key_check(const char *key, char *errbuf, size_t errlen);

/* Adds key (heap; owned by k from now on, freed if refused). WR_ETOOBIG
 * past WR_OBJSTORE_MAX_LIST_KEYS. */
int wr_os_keys_add(struct wr_os_keys *k, char *key);

/* Local files -------------------------------------------------------- */

/* write(2) of all len bytes, retrying on EINTR. */
int wr_os_write_all(int fd, const void *data, size_t len);
/* read(2) that retries on EINTR; returns bytes read, 0 at EOF, -1. */
ssize_t wr_os_read(int fd, void *buf, size_t len);
/* Opens path for reading. WR_ENOENT when it does not exist. */
int wr_os_open_local(const char *path, char *errbuf, size_t errlen, int *fd);
/* Creates or truncates a local file for get_file. */
int wr_os_create_local(const char *path, int *fd, char *errbuf, size_t errlen);
/* fsync and close of a file written by get_file; returns rv, or the
 * first error of the two if rv is WR_OK. */
int wr_os_close_local(const char *path, int fd, int rv, char *errbuf,
                      size_t errlen);

#endif
