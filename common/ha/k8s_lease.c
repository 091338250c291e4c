/*
 * k8s_lease.c - the Kubernetes Lease client of k8s_lease.h.
 */
#include "k8s_lease.h"

#include "buf.h"
#include "ha_http.h"
#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "wr_limits.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct wr_k8s_lease {
	pthread_mutex_t mu; /* serialises calls: one curl handle */
	wr_ha_http http;
	char *url;      /* .../namespaces/NS/leases/NAME */
	char *list_url; /* .../namespaces/NS/leases */
	char *ns, *name;
	char *token_file, *ca_file;
	int timeout_ms;
	char last_err[256];
};

int
wr_k8s_lease_new(const char *api_url, const char *ns, const char *name,
                 const char *token_file, const char *ca_file, int timeout_ms,
                 wr_k8s_lease **out, char *err, size_t errlen)
{
	if (strncmp(api_url, "http://", 7) != 0 &&
	    strncmp(api_url, "https://", 8) != 0) {
		snprintf(err, errlen,
		         "kubernetes API '%s': must start with http:// or "
		         "https://",
		         api_url);
		return WR_EINVAL;
	}
	if (ns[0] == '\0' || name[0] == '\0' || strchr(ns, '/') != NULL ||
	    strchr(name, '/') != NULL) {
		snprintf(err, errlen,
		         "kubernetes lease: namespace and lease name must be "
		         "non-empty names without '/'");
		return WR_EINVAL;
	}
	wr_k8s_lease *l = wr_xcalloc(1, sizeof(*l));
	if (wr_ha_http_init(&l->http, WR_K8S_MAX_RESPONSE_BYTES) != WR_OK) {
		free(l);
		snprintf(err, errlen, "curl_easy_init failed");
		return WR_ENOMEM;
	}
	size_t n = strlen(api_url);
	while (n > 0 && api_url[n - 1] == '/')
		n--;
	l->list_url = wr_xasprintf(
	    "%.*s/apis/coordination.k8s.io/v1/namespaces/%s/leases", (int)n,
	    api_url, ns);
	l->url = wr_xasprintf("%s/%s", l->list_url, name);
	l->ns = wr_xstrdup(ns);
	l->name = wr_xstrdup(name);
	l->token_file = wr_xstrdup(token_file ? token_file : "");
	l->ca_file = wr_xstrdup(ca_file ? ca_file : "");
	l->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	pthread_mutex_init(&l->mu, NULL);
	*out = l;
	return WR_OK;
}

void
wr_k8s_lease_free(wr_k8s_lease *l)
{
	if (l == NULL)
		return;
	wr_ha_http_fini(&l->http);
	free(l->url);
	free(l->list_url);
	free(l->ns);
	free(l->name);
	free(l->token_file);
	free(l->ca_file);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

int
wr_k8s_api_url(const char *configured, char *out, size_t len, char *err,
               size_t errlen)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	int n;
	if (configured != NULL && configured[0] != '\0')
		n = snprintf(out, len, "%s", configured);
	else if (host != NULL && host[0] != '\0')
		n = snprintf(out, len,
		             strchr(host, ':') != NULL ? "https://[%s]:%s"
		                                       : "https://%s:%s",
		             host,
		             port != NULL && port[0] != '\0' ? port : "443");
	else {
		snprintf(err, errlen,
		         "no API server: high_availability.kubernetes.api is "
		         "empty and KUBERNETES_SERVICE_HOST is not set (not in "
		         "a pod)");
		return WR_EINVAL;
	}
	if (n < 0 || (size_t)n >= len) {
		snprintf(err, errlen, "kubernetes API URL too long");
		return WR_EINVAL;
	}
	return WR_OK;
}

const char *
wr_k8s_lease_last_error(const wr_k8s_lease *l)
{
	return l->last_err;
}

/* "Authorization: Bearer TOKEN" from the token file, re-read each call. */
static struct curl_slist *
wr_k8s_auth_header(wr_k8s_lease *l, struct curl_slist *hdrs, int *rv)
{
	if (l->token_file[0] == '\0')
		return hdrs;
	char *tok = NULL;
	size_t n = 0;
	*rv = wr_read_file(l->token_file, WR_K8S_MAX_TOKEN_BYTES, &tok, &n);
	if (*rv != WR_OK) {
		snprintf(l->last_err, sizeof(l->last_err),
		         "kubernetes token file %s: %s", l->token_file,
		         wr_strerror(*rv));
		return hdrs;
	}
	while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r'))
		tok[--n] = '\0';
	char *h = wr_xasprintf("Authorization: Bearer %s", tok);
	hdrs = curl_slist_append(hdrs, h);
	free(h);
	free(tok);
	return hdrs;
}

/*
 * One request: method on url with body (NULL for none). *status is the
 * HTTP status; the answer is in l->http.resp. WR_EUNREACHABLE when no answer.
 */
static int
wr_k8s_request(wr_k8s_lease *l, const char *method, const char *url,
               const char *body, long *status)
{
	int rv = WR_OK;
	struct curl_slist *auth = wr_k8s_auth_header(l, NULL, &rv);
	if (rv == WR_OK)
		rv = wr_ha_http_request(&l->http, method, url, body, auth,
		                        l->ca_file, l->timeout_ms, status,
		                        l->last_err, sizeof(l->last_err));
	curl_slist_free_all(auth);
	if (rv == WR_OK && *status >= 500) {
		snprintf(l->last_err, sizeof(l->last_err), "%s %s: HTTP %ld",
		         method, url, *status);
		return WR_EUNREACHABLE;
	}
	return rv;
}

static void
wr_k8s_copy_str(char *dst, size_t len, json_t *v)
{
	const char *s = json_string_value(v);
	snprintf(dst, len, "%s", s != NULL ? s : "");
}

/* Reads a Lease object from l->http.resp into rec. */
static int
wr_k8s_parse(wr_k8s_lease *l, wr_k8s_lease_rec *rec)
{
	json_error_t jerr;
	json_t *j = json_loadb(l->http.resp.data, l->http.resp.len, 0, &jerr);
	json_t *spec = json_object_get(j, "spec");
	json_t *meta = json_object_get(j, "metadata");
	if (!json_is_object(spec) || !json_is_object(meta)) {
		json_decref(j);
		snprintf(l->last_err, sizeof(l->last_err),
		         "lease %s: the answer is not a Lease", l->url);
		return WR_EPROTO;
	}
	memset(rec, 0, sizeof(*rec));
	wr_k8s_copy_str(rec->holder, sizeof(rec->holder),
	                json_object_get(spec, "holderIdentity"));
	wr_k8s_copy_str(rec->renew_time, sizeof(rec->renew_time),
	                json_object_get(spec, "renewTime"));
	wr_k8s_copy_str(rec->version, sizeof(rec->version),
	                json_object_get(meta, "resourceVersion"));
	rec->duration_s =
	    json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
	rec->transitions =
	    json_integer_value(json_object_get(spec, "leaseTransitions"));
	json_decref(j);
	return WR_OK;
}

int
wr_k8s_lease_get(wr_k8s_lease *l, wr_k8s_lease_rec *out)
{
	long status = 0;
	pthread_mutex_lock(&l->mu);
	int rv = wr_k8s_request(l, "GET", l->url, NULL, &status);
	if (rv == WR_OK && status == 404)
		rv = WR_ENOENT;
	else if (rv == WR_OK && status != 200) {
		snprintf(l->last_err, sizeof(l->last_err), "GET %s: HTTP %ld",
		         l->url, status);
		rv = WR_EPROTO;
	} else if (rv == WR_OK)
		rv = wr_k8s_parse(l, out);
	pthread_mutex_unlock(&l->mu);
	return rv;
}

/* RFC 3339 with microseconds, UTC: Kubernetes' MicroTime. */
static void
wr_k8s_now(char *out, size_t len)
{
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	char s[32];
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, len, "%s.%06ldZ", s, (long)tv.tv_usec);
}

static char *
wr_k8s_body(const wr_k8s_lease *l, const wr_k8s_lease_rec *rec)
{
	json_t *meta =
	    json_pack("{s:s,s:s}", "name", l->name, "namespace", l->ns);
	if (rec->version[0] != '\0')
		json_object_set_new(meta, "resourceVersion",
		                    json_string(rec->version));
	json_t *spec = json_pack(
	    "{s:I,s:I,s:s}", "leaseDurationSeconds",
	    (json_int_t)rec->duration_s, "leaseTransitions",
	    (json_int_t)rec->transitions, "renewTime", rec->renew_time);
	if (rec->holder[0] != '\0')
		json_object_set_new(spec, "holderIdentity",
		                    json_string(rec->holder));
	json_t *j = json_pack("{s:s,s:s,s:o,s:o}", "apiVersion",
	                      "coordination.k8s.io/v1", "kind", "Lease",
	                      "metadata", meta, "spec", spec);
	char *text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return text;
}

int
wr_k8s_lease_write(wr_k8s_lease *l, wr_k8s_lease_rec *rec)
{
	bool create = rec->version[0] == '\0';
	wr_k8s_now(rec->renew_time, sizeof(rec->renew_time));
	char *body = wr_k8s_body(l, rec);
	long status = 0;
	pthread_mutex_lock(&l->mu);
	int rv = wr_k8s_request(l, create ? "POST" : "PUT",
	                        create ? l->list_url : l->url, body, &status);
	if (rv == WR_OK && status == 409)
		rv = create ? WR_EEXIST : WR_EAGAIN;
	else if (rv == WR_OK && status != 200 && status != 201) {
		snprintf(l->last_err, sizeof(l->last_err), "%s %s: HTTP %ld",
		         create ? "POST" : "PUT", l->url, status);
		rv = status == 404 ? WR_ENOENT : WR_EPROTO;
	} else if (rv == WR_OK) {
		wr_k8s_lease_rec now;
		rv = wr_k8s_parse(l, &now);
		if (rv == WR_OK)
			snprintf(rec->version, sizeof(rec->version), "%s",
			         now.version);
	}
	if (rv == WR_EEXIST || rv == WR_EAGAIN)
		snprintf(l->last_err, sizeof(l->last_err),
		         "lease %s changed meanwhile (409 Conflict)", l->url);
	pthread_mutex_unlock(&l->mu);
	free(body);
	return rv;
}
