/*
 * k8s_lease.h - a client of one Kubernetes coordination.k8s.io/v1 Lease
 * through the API server's REST interface (libcurl, jansson): read,
 * create, and replace with optimistic concurrency on resourceVersion.
 * The elector (elector.c) builds leader election on it the way client-go's
 * leaderelection does; this file only speaks the API.
 *
 * Inside a pod: api_url is https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_
 * SERVICE_PORT, the bearer token and CA come from the service account's
 * files under /var/run/secrets/kubernetes.io/serviceaccount/. The token
 * is read again on every call (Kubernetes rotates it).
 */
#ifndef WR_K8S_LEASE_H
#define WR_K8S_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wr_k8s_lease wr_k8s_lease;

/* The fields of a Lease the election uses. */
typedef struct wr_k8s_lease_rec {
	char holder[256];    /* spec.holderIdentity, "" when released */
	int64_t duration_s;  /* spec.leaseDurationSeconds */
	int64_t transitions; /* spec.leaseTransitions: grows per new holder */
	char renew_time[40]; /* spec.renewTime (RFC 3339, microseconds) */
	char version[64];    /* metadata.resourceVersion */
} wr_k8s_lease_rec;

/*
 * A client of Lease name in namespace ns at api_url (http:// for tests,
 * https:// in a cluster). token_file and ca_file may be "" (no bearer
 * token; the system's CAs). timeout_ms bounds each request.
 */
int wr_k8s_lease_new(const char *api_url, const char *ns, const char *name,
                     const char *token_file, const char *ca_file,
                     int timeout_ms, wr_k8s_lease **out, char *err,
                     size_t errlen);
void wr_k8s_lease_free(wr_k8s_lease *l);

/*
 * The API server's URL: configured when not empty, else the in-cluster
 * one, https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT (an IPv6
 * host in brackets). WR_EINVAL with the reason in err when configured is
 * empty outside a pod.
 */
int wr_k8s_api_url(const char *configured, char *out, size_t len, char *err,
                   size_t errlen);

/* What went wrong last, for logs. */
const char *wr_k8s_lease_last_error(const wr_k8s_lease *l);

/* Reads the Lease. WR_ENOENT when it does not exist. */
int wr_k8s_lease_get(wr_k8s_lease *l, wr_k8s_lease_rec *out);

/*
 * Creates the Lease from rec (version ignored) or, when rec->version is
 * set, replaces it only if its resourceVersion is still rec->version. On
 * WR_OK rec->version is the new resourceVersion. WR_EEXIST: created
 * meanwhile by another; WR_EAGAIN: replaced meanwhile (409 Conflict).
 * WR_EUNREACHABLE: the API server could not be reached or answered 5xx.
 */
int wr_k8s_lease_write(wr_k8s_lease *l, wr_k8s_lease_rec *rec);

#endif
