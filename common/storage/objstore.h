/*
 * objstore.h - checkpoint storage: a flat namespace of objects under a
 * root URL, the same calls for a shared directory and for S3.
 *
 *   file:///var/lib/weir/checkpoints     a directory (shared by every
 *                                        daemon); the default
 *   s3://bucket/prefix                   S3 or an S3-compatible server,
 *                                        requests signed with SigV4 by
 *                                        libcurl (CURLOPT_AWS_SIGV4)
 *
 * Keys are relative paths ("3f2a.../chk-7/_metadata"): '/'-separated, no
 * leading '/', no "." or ".." parts, no empty parts, no part starting with
 * '.' (the file backend's temporary files are dot-files), at most 1024
 * bytes and 32 parts; other keys are WR_EINVAL. A put is atomic and
 * durable: a reader sees the whole object or none (file: temporary name,
 * fsync, rename, directory fsync; S3: a single PUT).
 *
 * S3 settings come from the environment, as AWS tools read them:
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (default
 * us-east-1), and AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL for a server
 * other than AWS (path-style addressing is used then:
 * http://host:port/bucket/key).
 *
 * @thread any: a wr_objstore handle belongs to one thread at a time;
 * separate handles may be used concurrently.
 */
#ifndef WR_OBJSTORE_H
#define WR_OBJSTORE_H

#include <stddef.h>

struct wr_buf;

typedef struct wr_objstore wr_objstore;

/*
 * Opens the store rooted at url. Nothing is created or contacted yet.
 * Errors (message in errbuf): WR_EINVAL (not a file:// or s3:// URL, s3
 * credentials missing).
 */
int wr_objstore_open(const char *url, wr_objstore **out, char *errbuf,
                     size_t errlen);
/* Accepts NULL. */
void wr_objstore_close(wr_objstore *s);

/* The root URL as given (without a trailing '/'). */
const char *wr_objstore_url(const wr_objstore *s);

/* Stores len bytes under key, replacing what was there. */
int wr_objstore_put(wr_objstore *s, const char *key, const void *data,
                    size_t len, char *errbuf, size_t errlen);
/* Stores the content of the local file path under key (streamed, not
 * read into memory; file:// on the same filesystem hard-links it, so the
 * caller must not modify path afterwards, only remove it). WR_ENOENT
 * when path does not exist. */
int wr_objstore_put_file(wr_objstore *s, const char *key, const char *path,
                         char *errbuf, size_t errlen);

/* Appends the object's bytes to out. WR_ENOENT when there is no such
 * object; WR_ETOOBIG past max_bytes. */
int wr_objstore_get(wr_objstore *s, const char *key, size_t max_bytes,
                    struct wr_buf *out, char *errbuf, size_t errlen);
/* Writes the object into the local file path (created or truncated,
 * fsynced). WR_ENOENT when there is no such object (path is left alone
 * then; a download that fails halfway removes it). */
int wr_objstore_get_file(wr_objstore *s, const char *key, const char *path,
                         char *errbuf, size_t errlen);

/*
 * Lists the keys that start with prefix (a plain string prefix, e.g.
 * "job/chk-"), sorted, into a heap array of heap strings (free with
 * wr_objstore_list_free). An empty result is WR_OK with *n == 0.
 */
int wr_objstore_list(wr_objstore *s, const char *prefix, char ***keys,
                     size_t *n, char *errbuf, size_t errlen);
void wr_objstore_list_free(char **keys, size_t n);

/* Deletes one object; a missing one is fine. */
int wr_objstore_delete(wr_objstore *s, const char *key, char *errbuf,
                       size_t errlen);
/* Deletes every object whose key starts with prefix (and, for file://,
 * the directories left empty). */
int wr_objstore_delete_prefix(wr_objstore *s, const char *prefix, char *errbuf,
                              size_t errlen);

/* Joins a root URL and a relative path: ("s3://b/p", "x/y") ->
 * "s3://b/p/x/y". Returns WR_ETOOBIG if it does not fit. */
int wr_objstore_url_join(const char *root, const char *rel, char *out,
                         size_t outlen);

#endif
