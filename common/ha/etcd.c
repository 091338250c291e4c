/*
 * etcd.c - the etcd v3 JSON-gateway client (etcd.h): requests built and
 * answers read with jansson, sent with libcurl, failing over between
 * endpoints.
 */
#include "etcd.h"

#include "base64.h"
#include "ha_http.h"
#include "buf.h"
#include "err.h"
#include "mem.h"
#include "wr_limits.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wr_etcd {
	pthread_mutex_t mu;
	wr_ha_http http;
	char *endpoints[WR_ETCD_MAX_ENDPOINTS];
	int n_endpoints;
	int cur; /* the endpoint that answered last */
	int timeout_ms;
	char last_err[256];
};

static int
wr_etcd_parse_endpoints(wr_etcd *e, const char *list, char *err, size_t errlen)
{
	char *copy = wr_xstrdup(list);
	char *save = NULL;
	int rv = WR_OK;
	for (char *t = strtok_r(copy, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t n = strlen(t);
		while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '/'))
			t[--n] = '\0';
		if (n == 0)
			continue;
		if (strncmp(t, "http://", 7) != 0 &&
		    strncmp(t, "https://", 8) != 0) {
			snprintf(
			    err, errlen,
			    "etcd endpoint '%s': must start with http:// or "
			    "https://",
			    t);
			rv = WR_EINVAL;
			break;
		}
		if (e->n_endpoints == WR_ETCD_MAX_ENDPOINTS) {
			snprintf(err, errlen, "more than %d etcd endpoints",
			         WR_ETCD_MAX_ENDPOINTS);
			rv = WR_EINVAL;
			break;
		}
		e->endpoints[e->n_endpoints++] = wr_xstrdup(t);
	}
	free(copy);
	if (rv == WR_OK && e->n_endpoints == 0) {
		snprintf(err, errlen, "no etcd endpoint given");
		rv = WR_EINVAL;
	}
	return rv;
}

int
wr_etcd_new(const char *endpoints, int timeout_ms, wr_etcd **out, char *err,
            size_t errlen)
{
	wr_etcd *e = wr_xcalloc(1, sizeof(*e));
	int rv =
	    wr_etcd_parse_endpoints(e, endpoints ? endpoints : "", err, errlen);
	if (rv != WR_OK)
		goto fail;
	if (wr_ha_http_init(&e->http, WR_ETCD_MAX_RESPONSE_BYTES) != WR_OK) {
		snprintf(err, errlen, "curl_easy_init failed");
		rv = WR_ENOMEM;
		goto fail;
	}
	e->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	pthread_mutex_init(&e->mu, NULL);
	*out = e;
	return WR_OK;
fail:
	for (int i = 0; i < e->n_endpoints; i++)
		free(e->endpoints[i]);
	free(e);
	return rv;
}

void
wr_etcd_free(wr_etcd *e)
{
	if (e == NULL)
		return;
	wr_ha_http_fini(&e->http);
	for (int i = 0; i < e->n_endpoints; i++)
		free(e->endpoints[i]);
	pthread_mutex_destroy(&e->mu);
	free(e);
}

const char *
wr_etcd_endpoint(const wr_etcd *e)
{
	return e->endpoints[e->cur];
}

const char *
wr_etcd_last_error(const wr_etcd *e)
{
	return e->last_err;
}

/* gRPC status codes the gateway puts in "code" (google.rpc.Code). */
enum { WR_GRPC_NOT_FOUND = 5, WR_GRPC_UNAVAILABLE = 14 };

/*
 * One POST of body to endpoint i. WR_OK with *answer when etcd answered
 * with JSON (an error object included: the caller reads "code");
 * WR_EUNREACHABLE when this endpoint could not answer (try another).
 */
static int
wr_etcd_post_one(wr_etcd *e, int i, const char *path, const char *body,
                 json_t **answer)
{
	char url[512];
	long status = 0;
	snprintf(url, sizeof(url), "%s%s", e->endpoints[i], path);
	int rv = wr_ha_http_request(&e->http, "POST", url, body, NULL, NULL,
	                            e->timeout_ms, &status, e->last_err,
	                            sizeof(e->last_err));
	if (rv != WR_OK)
		return rv;
	json_error_t jerr;
	json_t *j = json_loadb(e->http.resp.data, e->http.resp.len, 0, &jerr);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		snprintf(e->last_err, sizeof(e->last_err),
		         "etcd %s: HTTP %ld with an answer that is not a JSON "
		         "object",
		         url, status);
		return status >= 500 ? WR_EUNREACHABLE : WR_EPROTO;
	}
	json_t *code = json_object_get(j, "code");
	if (status >= 500 ||
	    (json_is_integer(code) &&
	     json_integer_value(code) == WR_GRPC_UNAVAILABLE)) {
		const char *msg =
		    json_string_value(json_object_get(j, "error"));
		snprintf(e->last_err, sizeof(e->last_err),
		         "etcd %s: HTTP %ld: %s", url, status,
		         msg ? msg : "unavailable");
		json_decref(j);
		return WR_EUNREACHABLE;
	}
	*answer = j;
	return WR_OK;
}

/*
 * POSTs body (consumed) to path on the endpoints, starting with the one
 * that answered last. On WR_OK *answer is etcd's answer without an error;
 * an error answer becomes WR_ENOENT (NotFound) or WR_EPROTO, its message
 * in last_err.
 */
static int
wr_etcd_call(wr_etcd *e, const char *path, json_t *body, json_t **answer)
{
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (text == NULL)
		return WR_ENOMEM;
	int rv = WR_EUNREACHABLE;
	json_t *j = NULL;
	pthread_mutex_lock(&e->mu);
	for (int k = 0; k < e->n_endpoints && rv == WR_EUNREACHABLE; k++) {
		int i = (e->cur + k) % e->n_endpoints;
		rv = wr_etcd_post_one(e, i, path, text, &j);
		if (rv == WR_OK)
			e->cur = i;
	}
	if (rv == WR_OK) {
		json_t *code = json_object_get(j, "code");
		if (json_is_integer(code) && json_integer_value(code) != 0) {
			const char *msg =
			    json_string_value(json_object_get(j, "error"));
			snprintf(e->last_err, sizeof(e->last_err),
			         "etcd %s%s: %s", e->endpoints[e->cur], path,
			         msg ? msg : "error");
			rv = json_integer_value(code) == WR_GRPC_NOT_FOUND
			         ? WR_ENOENT
			         : WR_EPROTO;
			json_decref(j);
			j = NULL;
		}
	}
	pthread_mutex_unlock(&e->mu);
	free(text);
	*answer = j;
	return rv;
}

/* etcd's int64s are JSON strings; absent means 0. */
static int64_t
wr_etcd_i64(json_t *obj, const char *name)
{
	json_t *v = json_object_get(obj, name);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	return 0;
}

static json_t *
wr_etcd_b64(const void *p, size_t n)
{
	size_t cap = wr_base64_len(n) + 1;
	char *s = wr_xmalloc(cap);
	wr_base64_encode(p, n, s, cap);
	json_t *j = json_string(s);
	free(s);
	return j;
}

static json_t *
wr_etcd_i64_json(int64_t v)
{
	char s[24];
	snprintf(s, sizeof(s), "%lld", (long long)v);
	return json_string(s);
}

/* Decodes base64 field name of obj into a fresh NUL-terminated buffer. */
static int
wr_etcd_unb64(json_t *obj, const char *name, uint8_t **out, size_t *len)
{
	const char *s = json_string_value(json_object_get(obj, name));
	if (s == NULL)
		s = ""; /* etcd omits empty values */
	size_t cap = strlen(s) / 4 * 3 + 1;
	uint8_t *p = wr_xmalloc(cap);
	int rv = wr_base64_decode(s, p, cap - 1, len);
	if (rv != WR_OK) {
		free(p);
		return WR_EPROTO;
	}
	p[*len] = '\0';
	*out = p;
	return WR_OK;
}

static int
wr_etcd_kv_from_json(json_t *j, wr_etcd_kv *kv)
{
	size_t klen = 0;
	memset(kv, 0, sizeof(*kv));
	if (wr_etcd_unb64(j, "key", (uint8_t **)&kv->key, &klen) != WR_OK ||
	    wr_etcd_unb64(j, "value", &kv->value, &kv->value_len) != WR_OK) {
		wr_etcd_kv_fini(kv);
		return WR_EPROTO;
	}
	kv->create_rev = wr_etcd_i64(j, "create_revision");
	kv->mod_rev = wr_etcd_i64(j, "mod_revision");
	kv->lease = wr_etcd_i64(j, "lease");
	return WR_OK;
}

void
wr_etcd_kv_fini(wr_etcd_kv *kv)
{
	if (kv == NULL)
		return;
	free(kv->key);
	free(kv->value);
	memset(kv, 0, sizeof(*kv));
}

void
wr_etcd_kvs_free(wr_etcd_kv *kvs, size_t n)
{
	for (size_t i = 0; kvs != NULL && i < n; i++)
		wr_etcd_kv_fini(&kvs[i]);
	free(kvs);
}

int
wr_etcd_lease_grant(wr_etcd *e, int64_t ttl_s, int64_t *lease_id)
{
	json_t *a = NULL;
	int rv = wr_etcd_call(
	    e, "/v3/lease/grant",
	    json_pack("{s:o}", "TTL", wr_etcd_i64_json(ttl_s)), &a);
	if (rv != WR_OK)
		return rv;
	*lease_id = wr_etcd_i64(a, "ID");
	json_decref(a);
	return *lease_id != 0 ? WR_OK : WR_EPROTO;
}

int
wr_etcd_lease_keepalive(wr_etcd *e, int64_t lease_id, int64_t *ttl_s)
{
	json_t *a = NULL;
	int rv = wr_etcd_call(
	    e, "/v3/lease/keepalive",
	    json_pack("{s:o}", "ID", wr_etcd_i64_json(lease_id)), &a);
	if (rv != WR_OK)
		return rv;
	/* A streaming call: the gateway wraps the one answer in "result". */
	json_t *r = json_object_get(a, "result");
	*ttl_s = wr_etcd_i64(r != NULL ? r : a, "TTL");
	json_decref(a);
	if (*ttl_s <= 0) {
		snprintf(e->last_err, sizeof(e->last_err),
		         "etcd lease %llx has expired",
		         (unsigned long long)lease_id);
		return WR_ENOENT;
	}
	return WR_OK;
}

int
wr_etcd_lease_revoke(wr_etcd *e, int64_t lease_id)
{
	json_t *a = NULL;
	int rv = wr_etcd_call(
	    e, "/v3/lease/revoke",
	    json_pack("{s:o}", "ID", wr_etcd_i64_json(lease_id)), &a);
	json_decref(a);
	return rv == WR_ENOENT ? WR_OK : rv;
}

static json_t *
wr_etcd_range_op(const char *key)
{
	return json_pack("{s:{s:o}}", "request_range", "key",
	                 wr_etcd_b64(key, strlen(key)));
}

static json_t *
wr_etcd_put_op(const char *key, const void *value, size_t len, int64_t lease)
{
	json_t *put =
	    json_pack("{s:o,s:o}", "key", wr_etcd_b64(key, strlen(key)),
	              "value", wr_etcd_b64(value, len));
	if (lease != 0)
		json_object_set_new(put, "lease", wr_etcd_i64_json(lease));
	return json_pack("{s:o}", "request_put", put);
}

static json_t *
wr_etcd_create_rev_cmp(const char *key, int64_t rev)
{
	return json_pack("{s:o,s:s,s:o,s:s}", "key",
	                 wr_etcd_b64(key, strlen(key)), "target", "CREATE",
	                 "create_revision", wr_etcd_i64_json(rev), "result",
	                 "EQUAL");
}

/* The first kv of the range answer among a txn's responses, if any. */
static int
wr_etcd_txn_first_kv(json_t *txn, wr_etcd_kv *out)
{
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(txn, "responses"), i, r)
	{
		json_t *range = json_object_get(r, "response_range");
		json_t *kvs = json_object_get(range, "kvs");
		if (json_array_size(kvs) > 0)
			return wr_etcd_kv_from_json(json_array_get(kvs, 0),
			                            out);
	}
	return WR_ENOENT;
}

int
wr_etcd_campaign(wr_etcd *e, const char *key, const char *value,
                 int64_t lease_id, wr_etcd_kv *holder)
{
	json_t *body = json_pack(
	    "{s:[o],s:[o,o],s:[o]}", "compare", wr_etcd_create_rev_cmp(key, 0),
	    "success", wr_etcd_put_op(key, value, strlen(value), lease_id),
	    wr_etcd_range_op(key), "failure", wr_etcd_range_op(key));
	json_t *a = NULL;
	int rv = wr_etcd_call(e, "/v3/kv/txn", body, &a);
	if (rv != WR_OK)
		return rv;
	rv = wr_etcd_txn_first_kv(a, holder);
	json_decref(a);
	/* The key vanished between the compare and the range: its lease
	 * expired just now. The caller campaigns again. */
	return rv == WR_ENOENT ? WR_EAGAIN : rv;
}

int
wr_etcd_get(wr_etcd *e, const char *key, wr_etcd_kv *out)
{
	json_t *a = NULL;
	int rv = wr_etcd_call(
	    e, "/v3/kv/range",
	    json_pack("{s:o}", "key", wr_etcd_b64(key, strlen(key))), &a);
	if (rv != WR_OK)
		return rv;
	json_t *kvs = json_object_get(a, "kvs");
	rv = json_array_size(kvs) > 0
	         ? wr_etcd_kv_from_json(json_array_get(kvs, 0), out)
	         : WR_ENOENT;
	json_decref(a);
	return rv;
}

int
wr_etcd_get_prefix(wr_etcd *e, const char *prefix, size_t max, wr_etcd_kv **out,
                   size_t *n)
{
	size_t plen = strlen(prefix);
	if (plen == 0 || (uint8_t)prefix[plen - 1] == 0xff)
		return WR_EINVAL;
	char *end = wr_xstrdup(prefix);
	end[plen - 1]++;
	json_t *body =
	    json_pack("{s:o,s:o,s:o}", "key", wr_etcd_b64(prefix, plen),
	              "range_end", wr_etcd_b64(end, plen), "limit",
	              wr_etcd_i64_json((int64_t)max + 1));
	free(end);
	json_t *a = NULL;
	int rv = wr_etcd_call(e, "/v3/kv/range", body, &a);
	if (rv != WR_OK)
		return rv;
	json_t *kvs = json_object_get(a, "kvs");
	size_t count = json_array_size(kvs);
	if (count > max) {
		json_decref(a);
		snprintf(e->last_err, sizeof(e->last_err),
		         "more than %zu keys under %s", max, prefix);
		return WR_ETOOBIG;
	}
	wr_etcd_kv *v = wr_xcalloc(count > 0 ? count : 1, sizeof(*v));
	for (size_t i = 0; i < count && rv == WR_OK; i++)
		rv = wr_etcd_kv_from_json(json_array_get(kvs, i), &v[i]);
	json_decref(a);
	if (rv != WR_OK) {
		wr_etcd_kvs_free(v, count);
		return rv;
	}
	*out = v;
	*n = count;
	return WR_OK;
}

/* Runs the fenced txn of op; WR_EPERM when the guard does not hold. */
static int
wr_etcd_fenced(wr_etcd *e, json_t *op, const char *guard_key, int64_t guard_rev)
{
	json_t *body = json_pack("{s:[o],s:[o]}", "compare",
	                         wr_etcd_create_rev_cmp(guard_key, guard_rev),
	                         "success", op);
	json_t *a = NULL;
	int rv = wr_etcd_call(e, "/v3/kv/txn", body, &a);
	if (rv != WR_OK)
		return rv;
	bool ok = json_is_true(json_object_get(a, "succeeded"));
	json_decref(a);
	if (!ok) {
		snprintf(e->last_err, sizeof(e->last_err),
		         "fenced: %s no longer has create revision %lld",
		         guard_key, (long long)guard_rev);
		return WR_EPERM;
	}
	return WR_OK;
}

int
wr_etcd_put_fenced(wr_etcd *e, const char *key, const void *value, size_t len,
                   const char *guard_key, int64_t guard_rev)
{
	if (len > WR_ETCD_MAX_VALUE_BYTES) {
		snprintf(e->last_err, sizeof(e->last_err),
		         "value of %zu bytes for %s is over the limit of %u",
		         len, key, (unsigned)WR_ETCD_MAX_VALUE_BYTES);
		return WR_ETOOBIG;
	}
	return wr_etcd_fenced(e, wr_etcd_put_op(key, value, len, 0), guard_key,
	                      guard_rev);
}

int
wr_etcd_delete_fenced(wr_etcd *e, const char *key, const char *guard_key,
                      int64_t guard_rev)
{
	json_t *op = json_pack("{s:{s:o}}", "request_delete_range", "key",
	                       wr_etcd_b64(key, strlen(key)));
	return wr_etcd_fenced(e, op, guard_key, guard_rev);
}
