/*
 * ha_http.c - the bounded JSON-over-HTTP request of ha_http.h.
 */
#include "ha_http.h"

#include "err.h"

#include <stdio.h>

int
wr_ha_http_init(wr_ha_http *h, size_t max_bytes)
{
	if ((h->curl = curl_easy_init()) == NULL)
		return WR_ENOMEM;
	wr_buf_init(&h->resp);
	h->max_bytes = max_bytes;
	h->too_big = false;
	return WR_OK;
}

void
wr_ha_http_fini(wr_ha_http *h)
{
	curl_easy_cleanup(h->curl);
	wr_buf_fini(&h->resp);
}

static size_t
wr_ha_http_write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
	wr_ha_http *h = arg;
	size_t n = size * nmemb;
	if (h->resp.len + n > h->max_bytes) {
		h->too_big = true;
		return 0; /* curl fails the transfer */
	}
	wr_buf_append(&h->resp, p, n);
	return n;
}

int
wr_ha_http_request(wr_ha_http *h, const char *method, const char *url,
                   const char *body, struct curl_slist *extra,
                   const char *ca_file, int timeout_ms, long *status, char *err,
                   size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs =
	    curl_slist_append(NULL, "Content-Type: application/json");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	for (struct curl_slist *e = extra; e != NULL; e = e->next)
		hdrs = curl_slist_append(hdrs, e->data);
	CURL *c = h->curl;
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	if (ca_file != NULL && ca_file[0] != '\0')
		curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, wr_ha_http_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
	wr_buf_reset(&h->resp);
	h->too_big = false;
	CURLcode cc = curl_easy_perform(c);
	curl_slist_free_all(hdrs);
	*status = 0;
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (cc == CURLE_OK)
		return WR_OK;
	const char *why = curl_err[0] ? curl_err : curl_easy_strerror(cc);
	if (h->too_big)
		why = "answer over the size limit";
	snprintf(err, errlen, "%s %s: %s", method, url, why);
	return h->too_big ? WR_ETOOBIG : WR_EUNREACHABLE;
}
