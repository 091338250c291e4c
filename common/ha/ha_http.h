/*
 * ha_http.h - one JSON request over HTTP(S) through libcurl with a bounded
 * answer and a bounded time, for the coordination clients (etcd.c,
 * k8s_lease.c). Not thread-safe: each client serialises its calls.
 */
#ifndef WR_HA_HTTP_H
#define WR_HA_HTTP_H

#include "buf.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct wr_ha_http {
	CURL *curl;
	wr_buf resp;      /* the last answer's body, NUL-terminated */
	size_t max_bytes; /* answers over this fail with WR_ETOOBIG */
	bool too_big;
} wr_ha_http;

/* WR_OK, or WR_ENOMEM when curl cannot make a handle. */
int wr_ha_http_init(wr_ha_http *h, size_t max_bytes);
void wr_ha_http_fini(wr_ha_http *h);

/*
 * method (GET, POST, PUT) on url with body (NULL: none) as JSON, the
 * headers in extra added (may be NULL; not freed here), the CA file
 * ca_file ("" or NULL: the system's), timeout_ms for connecting and for
 * the whole request. WR_OK when an answer came, whatever its status
 * (*status; the body in h->resp); WR_EUNREACHABLE when none came,
 * WR_ETOOBIG when it was over the limit - the reason in err either way.
 */
int wr_ha_http_request(wr_ha_http *h, const char *method, const char *url,
                       const char *body, struct curl_slist *extra,
                       const char *ca_file, int timeout_ms, long *status,
                       char *err, size_t errlen);

#endif
