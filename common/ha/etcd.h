/*
 * etcd.h - a client of etcd's v3 API through its JSON gateway (HTTP POST
 * under /v3/, keys and values base64 in JSON), for high availability:
 * leases, a campaign for a leader key, writes fenced by the leader key's
 * create revision, reads by key and by prefix.
 *
 * Why the gateway and not gRPC: libcurl and jansson are already weir's
 * dependencies, the gateway ships with every etcd 3.4 server, and the
 * calls HA needs are all unary (a lease keep-alive is one POST that
 * renews once).
 *
 * Endpoints are tried in order; a call that cannot reach one (connection
 * refused, timeout, a 5xx answer) goes on to the next and the client
 * remembers the one that answered. Calls are serialised by a mutex, so a
 * client may be shared between threads; every call is bounded by the
 * timeout given at creation (per endpoint tried).
 *
 * Fencing: the leader key's create_revision only grows across elections
 * (a new key after the old one's lease expired is created at a later
 * revision), so it is the leadership's epoch. wr_etcd_put_fenced() writes
 * only while the leader key still has the writer's create revision, in one
 * etcd transaction: a deposed leader's writes fail with WR_EPERM.
 */
#ifndef WR_ETCD_H
#define WR_ETCD_H

#include <stddef.h>
#include <stdint.h>

typedef struct wr_etcd wr_etcd;

/* One key-value as etcd stores it. Owned by the caller after a call that
 * fills it; released with wr_etcd_kv_fini. value is NUL-terminated too
 * (value_len excludes the NUL). */
typedef struct wr_etcd_kv {
	char *key;
	uint8_t *value;
	size_t value_len;
	int64_t create_rev;
	int64_t mod_rev;
	int64_t lease;
} wr_etcd_kv;

/*
 * A client of the comma-separated http(s) endpoints (at most
 * WR_ETCD_MAX_ENDPOINTS, each an http:// or https:// URL without a path).
 * timeout_ms bounds each request to one endpoint. Returns WR_OK, or
 * WR_EINVAL with the reason in err.
 */
int wr_etcd_new(const char *endpoints, int timeout_ms, wr_etcd **out, char *err,
                size_t errlen);
void wr_etcd_free(wr_etcd *e);

/* The endpoint that answered last (for logs). */
const char *wr_etcd_endpoint(const wr_etcd *e);

/* The text of the last error of e (which endpoint, what failed), for logs
 * and error messages. Valid until the next call on e. */
const char *wr_etcd_last_error(const wr_etcd *e);

/* A new lease of ttl_s seconds. */
int wr_etcd_lease_grant(wr_etcd *e, int64_t ttl_s, int64_t *lease_id);

/* Renews lease_id once; *ttl_s is its new time to live. WR_ENOENT: the
 * lease has expired (or was revoked). */
int wr_etcd_lease_keepalive(wr_etcd *e, int64_t lease_id, int64_t *ttl_s);

/* Revokes lease_id, deleting every key attached to it (a leader stepping
 * down frees the leader key at once). Revoking an expired lease is OK. */
int wr_etcd_lease_revoke(wr_etcd *e, int64_t lease_id);

/*
 * Campaigns for key: creates it with value and lease_id if it does not
 * exist, in one transaction. Either way *holder is the key as it is after
 * the transaction: the caller won if holder->lease == lease_id. WR_OK
 * whether or not it won; an error only when etcd could not answer.
 */
int wr_etcd_campaign(wr_etcd *e, const char *key, const char *value,
                     int64_t lease_id, wr_etcd_kv *holder);

/* Reads key. WR_ENOENT when it does not exist. */
int wr_etcd_get(wr_etcd *e, const char *key, wr_etcd_kv *out);

/*
 * Every key starting with prefix, in key order, at most max (WR_ETOOBIG
 * when there are more). *out is an array of *n entries the caller frees
 * with wr_etcd_kvs_free.
 */
int wr_etcd_get_prefix(wr_etcd *e, const char *prefix, size_t max,
                       wr_etcd_kv **out, size_t *n);

/*
 * Puts key = value (len bytes, at most WR_ETCD_MAX_VALUE_BYTES) only if
 * guard_key exists with create revision guard_rev: WR_EPERM when it does
 * not (the writer is no longer the leader of that epoch).
 */
int wr_etcd_put_fenced(wr_etcd *e, const char *key, const void *value,
                       size_t len, const char *guard_key, int64_t guard_rev);

/* Deletes key under the same guard as wr_etcd_put_fenced. Deleting a key
 * that does not exist is OK. */
int wr_etcd_delete_fenced(wr_etcd *e, const char *key, const char *guard_key,
                          int64_t guard_rev);

void wr_etcd_kv_fini(wr_etcd_kv *kv);
void wr_etcd_kvs_free(wr_etcd_kv *kvs, size_t n);

#endif
