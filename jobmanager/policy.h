/*
 * policy.h - what a job may touch: the directories its file sinks and
 * savepoints may write (security.allowed_paths), the Kafka clusters it may
 * read and write (security.allowed_kafka) and the database hosts its sinks
 * may connect to (security.allowed_hosts), checked when a job is submitted
 * and a savepoint is asked for. An empty list allows everything (weir
 * local, and clusters that keep REST and RPC to their operators).
 */
#ifndef JM_POLICY_H
#define JM_POLICY_H

#include <stddef.h>

#include "wr_limits.h"

struct wr_jobspec;

typedef struct jm_policy {
	char (*paths)[WR_URL_BYTES]; /* normalized: /abs/dir or s3://b/p */
	size_t npaths;
	char (*kafka)[WR_ADDR_BYTES]; /* host, host:port or *.domain */
	size_t nkafka;
	char (*hosts)[WR_ADDR_BYTES]; /* host or *.domain */
	size_t nhosts;
	/* the lists as configured, for messages */
	char *paths_text, *kafka_text, *hosts_text;
} jm_policy;

/* Parses the three comma-separated lists. WR_EINVAL with a message: an
 * allowed path that is not absolute (or an s3:// URL), an empty item. */
int jm_policy_init(jm_policy *p, const char *paths, const char *kafka,
                   const char *hosts, char *errbuf, size_t errlen);
void jm_policy_fini(jm_policy *p);

/* Whether a savepoint or restore location (a path or a file:// or s3://
 * URL) lies in an allowed path. WR_EPERM with a message naming what. */
int jm_policy_check_url(const jm_policy *p, const char *what, const char *url,
                        char *errbuf, size_t errlen);

/* Whether every source and sink of spec stays within the lists: file sink
 * directories, Kafka bootstrap servers (a job's own; the cluster's
 * default is the operator's choice), PostgreSQL and ClickHouse hosts. WR_EPERM
 * with file:line:column and what is not allowed. */
int jm_policy_check_job(const jm_policy *p, const struct wr_jobspec *spec,
                        char *errbuf, size_t errlen);

/* The host of an http:// or https:// URL (a ClickHouse sink's url) into
 * out: "" when it names none. */
void jm_policy_url_host(const char *url, char *out, size_t len);

/* The hosts a libpq connection string names (URI or keyword form), each
 * into out (at most max); a string naming none, or a Unix socket
 * directory, gives "localhost". Returns how many. */
size_t jm_policy_pg_hosts(const char *dsn, char (*out)[WR_ADDR_BYTES],
                          size_t max);

#endif
