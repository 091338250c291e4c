/*
 * objstore.c - checkpoint storage behind the calls of objstore.h: picks
 * the backend by the URL's scheme (objstore_file.c for file://,
 * objstore_s3.c for s3://), checks keys and prefixes, and sorts lists,
 * so that the backends see only valid keys. Also the local-file I/O both
 * backends use.
 */
#include "objstore.h"

#include "buf.h"
#include "err.h"
#include "mem.h"
#include "objstore_int.h"
#include "wr_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The backends, tried in order by their scheme. */
static const struct wr_os_ops *const wr_os_backends[] = {&wr_os_file_ops,
                                                         &wr_os_s3_ops};

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
int
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

int
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

/* local files ------------------------------------------------------ */

int
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
ssize_t
wr_os_read(int fd, void *buf, size_t len)
{
	ssize_t r;
	do
		r = read(fd, buf, len);
	while (r < 0 && errno == EINTR);
	return r;
}

int
wr_os_open_local(const char *path, char *errbuf, size_t errlen, int *fd)
{
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd >= 0)
		return WR_OK;
	int rv = errno == ENOENT ? WR_ENOENT : wr_err_from_errno(errno);
	snprintf(errbuf, errlen, "open %s: %s", path, strerror(errno));
	return rv;
}

/* Creates or truncates a local file for get_file. */
int
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
int
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

/* the API ---------------------------------------------------------- */

static const struct wr_os_ops *
wr_os_backend_of(const char *url)
{
	size_t n = sizeof(wr_os_backends) / sizeof(wr_os_backends[0]);
	for (size_t i = 0; i < n; i++) {
		const char *scheme = wr_os_backends[i]->scheme;
		if (strncmp(url, scheme, strlen(scheme)) == 0)
			return wr_os_backends[i];
	}
	return NULL;
}

int
wr_objstore_open(const char *url, wr_objstore **out, char *errbuf,
                 size_t errlen)
{
	*out = NULL;
	const struct wr_os_ops *ops = wr_os_backend_of(url);
	if (ops == NULL) {
		snprintf(errbuf, errlen,
		         "%s: unsupported storage URL (want file:///dir or "
		         "s3://bucket/prefix)",
		         url);
		return WR_EINVAL;
	}
	size_t scheme = strlen(ops->scheme), len = strlen(url);
	while (len > scheme + 1 && url[len - 1] == '/')
		len--;
	char *root = wr_xstrndup(url, len);
	wr_objstore *s = NULL;
	int rv = ops->open(url, root, &s, errbuf, errlen);
	if (rv != WR_OK) {
		free(root);
		return rv;
	}
	s->ops = ops;
	s->url = root;
	*out = s;
	return WR_OK;
}

void
wr_objstore_close(wr_objstore *s)
{
	if (s == NULL)
		return;
	char *url = s->url;
	s->ops->free(s);
	free(url);
}

int
wr_objstore_put(wr_objstore *s, const char *key, const void *data, size_t len,
                char *errbuf, size_t errlen)
{
	int rv = wr_os_key_check(key, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	return s->ops->put(s, key, data, len, errbuf, errlen);
}

int
wr_objstore_put_file(wr_objstore *s, const char *key, const char *path,
                     char *errbuf, size_t errlen)
{
	int rv = wr_os_key_check(key, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	return s->ops->put_file(s, key, path, errbuf, errlen);
}

int
wr_objstore_get(wr_objstore *s, const char *key, size_t max_bytes, wr_buf *out,
                char *errbuf, size_t errlen)
{
	int rv = wr_os_key_check(key, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	return s->ops->get(s, key, max_bytes, out, errbuf, errlen);
}

int
wr_objstore_get_file(wr_objstore *s, const char *key, const char *path,
                     char *errbuf, size_t errlen)
{
	int rv = wr_os_key_check(key, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	return s->ops->get_file(s, key, path, errbuf, errlen);
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
	struct wr_os_keys out = {0};
	if ((rv = s->ops->list(s, prefix, &out, errbuf, errlen)) != WR_OK) {
		wr_objstore_list_free(out.v, out.n);
		return rv;
	}
	if (out.n > 1)
		qsort(out.v, out.n, sizeof(*out.v), wr_os_strcmp_p);
	*keys = out.v;
	*n = out.n;
	return WR_OK;
}

int
wr_objstore_delete(wr_objstore *s, const char *key, char *errbuf, size_t errlen)
{
	int rv = wr_os_key_check(key, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	return s->ops->del(s, key, errbuf, errlen);
}

int
wr_objstore_delete_prefix(wr_objstore *s, const char *prefix, char *errbuf,
                          size_t errlen)
{
	int rv = wr_os_prefix_check(prefix, errbuf, errlen);
	if (rv != WR_OK)
		return rv;
	return s->ops->delete_prefix(s, prefix, errbuf, errlen);
}
