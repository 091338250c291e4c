/*
 * rest.c - the JobManager's REST API (Flink-shaped JSON) and the health and
 * metrics endpoints. Handlers run on nng's HTTP threads and read the
 * registry through its snapshots.
 */
#include "ha.h"
#include "jm_int.h"
#include "snapshot.h"
#include "web.h"

#include "clock.h"
#include "config.h"
#include "err.h"
#include "http.h"
#include "json.h"
#include "mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void
jm_rest_overview(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	jm_server *jm = arg;
	if (!jm_rest_query_only(req, NULL, resp))
		return;
	jm_tmreg_totals t = jm_tmreg_get_totals(jm->tms);
	wr_json j;
	wr_json_init(&j, &resp->body);
	wr_json_obj_begin(&j);
	wr_json_kv_int(&j, "taskmanagers", t.alive);
	wr_json_kv_int(&j, "taskmanagers-lost", t.lost);
	wr_json_kv_int(&j, "slots-total", t.slots_total);
	wr_json_kv_int(&j, "slots-available", t.slots_free);
	wr_json_kv_str(&j, "weir-version", WEIR_VERSION);
	char leader[WR_ADDR_BYTES];
	jm_ha_leader(jm, leader, sizeof(leader));
	wr_json_kv_str(&j, "leader", leader);
	wr_json_kv_str(&j, "role", jm_ha_leading(jm) ? "leader" : "standby");
	wr_json_kv_str(&j, "jm-instance", jm->instance);
	wr_json_kv_int(&j, "start-time", jm->start_wall_ms);
	/* Flink's job counts; "running" counts every job not ended */
	int c[JM_JOB_FINISHED + 1];
	jm_snap_counts(jm->snap, c);
	wr_json_kv_int(&j, "jobs-running",
	               c[JM_JOB_CREATED] + c[JM_JOB_RUNNING] +
	                   c[JM_JOB_FAILING] + c[JM_JOB_CANCELLING] +
	                   c[JM_JOB_RESTARTING]);
	wr_json_kv_int(&j, "jobs-finished", c[JM_JOB_FINISHED]);
	wr_json_kv_int(&j, "jobs-cancelled", c[JM_JOB_CANCELED]);
	wr_json_kv_int(&j, "jobs-failed", c[JM_JOB_FAILED]);
	wr_json_obj_end(&j);
}

/* One TaskManager: weir's keys and Flink's (path, dataPort,
 * timeSinceLastHeartbeat, slotsNumber, freeSlots). */
static void
jm_rest_tm_json(wr_json *j, const jm_tm *tm, int64_t now)
{
	wr_json_obj_begin(j);
	wr_json_kv_str(j, "id", tm->id);
	wr_json_kv_str(j, "address", tm->rpc_address);
	wr_json_kv_str(j, "state", tm->alive ? "alive" : "lost");
	wr_json_kv_int(j, "slots_total", tm->slots_total);
	wr_json_kv_int(j, "slots_free", tm->alive ? tm->slots_free : 0);
	wr_json_kv_str(j, "data_address", tm->data_address);
	wr_json_kv_str(j, "metrics_address", tm->metrics_address);
	wr_json_kv_int(j, "time_since_last_heartbeat_ms",
	               now - tm->last_heartbeat_ms);
	wr_json_kv_int(j, "registered", tm->registered_wall_ms);
	wr_json_kv_str(j, "path", tm->rpc_address);
	const char *colon = strrchr(tm->data_address, ':');
	wr_json_kv_int(j, "dataPort", colon ? atoi(colon + 1) : -1);
	/* Flink's is the wall time of the last heartbeat */
	wr_json_kv_int(j, "timeSinceLastHeartbeat",
	               wr_wall_ms() - (now - tm->last_heartbeat_ms));
	wr_json_kv_int(j, "slotsNumber", tm->slots_total);
	wr_json_kv_int(j, "freeSlots", tm->alive ? tm->slots_free : 0);
	wr_json_obj_end(j);
}

/* The registry's TaskManagers (free with free()); *n of them. */
static jm_tm *
jm_rest_tms(jm_server *jm, size_t *n)
{
	jm_tm *snap = wr_xcalloc(WR_MAX_TASKMANAGERS, sizeof(*snap));
	*n = jm_tmreg_snapshot(jm->tms, snap, WR_MAX_TASKMANAGERS);
	return snap;
}

static void
jm_rest_taskmanagers(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	jm_server *jm = arg;
	if (!jm_rest_query_only(req, NULL, resp))
		return;
	size_t n;
	jm_tm *snap = jm_rest_tms(jm, &n);
	int64_t now = wr_mono_ms();
	wr_json j;
	wr_json_init(&j, &resp->body);
	wr_json_obj_begin(&j);
	wr_json_key(&j, "taskmanagers");
	wr_json_arr_begin(&j);
	for (size_t i = 0; i < n; i++)
		jm_rest_tm_json(&j, &snap[i], now);
	wr_json_arr_end(&j);
	wr_json_obj_end(&j);
	free(snap);
}

/* The metrics /taskmanagers/{id}/metrics knows: what the JobManager
 * sees of a TaskManager (its own /metrics has the rest). */
static const char *const jm_rest_tm_metrics[] = {
    "Status.Slots.Total", "Status.Slots.Free", "Status.Tasks.Running",
    "numRecordsIn",       "numRecordsOut",     "timeSinceLastHeartbeatMs",
};
#define JM_REST_NTM_METRICS                                                    \
	(sizeof(jm_rest_tm_metrics) / sizeof(*jm_rest_tm_metrics))

static int64_t
jm_rest_tm_metric(const jm_tm *tm, size_t i, int64_t now)
{
	int64_t v[JM_REST_NTM_METRICS] = {
	    tm->slots_total,
	    tm->alive ? tm->slots_free : 0,
	    tm->tasks,
	    (int64_t)tm->records_in,
	    (int64_t)tm->records_out,
	    now - tm->last_heartbeat_ms,
	};
	return v[i];
}

/* GET /taskmanagers/{id}/metrics[?get=a,b]: Flink's shape, [{"id"}]
 * without get, [{"id", "value"}] with it (values as strings); an
 * unknown name is a 400. */
static void
jm_rest_tm_metrics_get(const jm_tm *tm, const wr_http_req *req,
                       wr_http_resp *resp)
{
	static const char *const allowed[] = {"get", NULL};
	char get[512] = "";
	if (!jm_rest_query_only(req, allowed, resp))
		return;
	bool values = jm_rest_query(req->query, "get", get, sizeof(get));
	int64_t now = wr_mono_ms();
	wr_json j;
	wr_buf out;
	wr_buf_init(&out);
	wr_json_init(&j, &out);
	wr_json_arr_begin(&j);
	for (char *save = NULL,
	          *name = values ? strtok_r(get, ",", &save) : NULL;
	     values && name; name = strtok_r(NULL, ",", &save)) {
		size_t i = 0;
		while (i < JM_REST_NTM_METRICS &&
		       strcmp(jm_rest_tm_metrics[i], name) != 0)
			i++;
		if (i == JM_REST_NTM_METRICS) {
			char msg[160];
			snprintf(msg, sizeof(msg), "unknown metric '%.64s'",
			         name);
			jm_rest_error(resp, 400, msg);
			wr_buf_fini(&out);
			return;
		}
		char v[32];
		snprintf(v, sizeof(v), "%lld",
		         (long long)jm_rest_tm_metric(tm, i, now));
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "id", name);
		wr_json_kv_str(&j, "value", v);
		wr_json_obj_end(&j);
	}
	for (size_t i = 0; !values && i < JM_REST_NTM_METRICS; i++) {
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "id", jm_rest_tm_metrics[i]);
		wr_json_obj_end(&j);
	}
	wr_json_arr_end(&j);
	wr_buf_append(&resp->body, out.data, out.len);
	wr_buf_fini(&out);
}

/* /taskmanagers, /taskmanagers/{id} and /taskmanagers/{id}/metrics. */
static void
jm_rest_taskmanager(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	jm_server *jm = arg;
	const char *id = req->path + strlen("/taskmanagers");
	if (strcmp(id, "") == 0 || strcmp(id, "/") == 0) {
		if (strcmp(req->method, "GET") != 0)
			jm_rest_error(resp, 405, "method not allowed");
		else
			jm_rest_taskmanagers(jm, req, resp);
		return;
	}
	id++; /* the '/' (nng routes only "/taskmanagers" and below) */
	const char *slash = strchr(id, '/');
	size_t idlen = slash ? (size_t)(slash - id) : strlen(id);
	bool metrics = slash && strcmp(slash, "/metrics") == 0;
	if (idlen == 0 || (slash && !metrics)) {
		jm_rest_error(resp, 404, "no such resource");
		return;
	}
	if (strcmp(req->method, "GET") != 0) {
		jm_rest_error(resp, 405, "method not allowed");
		return;
	}
	size_t n;
	jm_tm *snap = jm_rest_tms(jm, &n), *tm = NULL;
	for (size_t i = 0; i < n && tm == NULL; i++)
		if (strlen(snap[i].id) == idlen &&
		    strncmp(snap[i].id, id, idlen) == 0)
			tm = &snap[i];
	if (tm == NULL) {
		char msg[WR_ADDR_BYTES + 32];
		snprintf(msg, sizeof(msg), "no TaskManager %.*s",
		         (int)(idlen < WR_ADDR_BYTES ? idlen : WR_ADDR_BYTES),
		         id);
		jm_rest_error(resp, 404, msg);
	} else if (metrics) {
		jm_rest_tm_metrics_get(tm, req, resp);
	} else if (jm_rest_query_only(req, NULL, resp)) {
		wr_json j;
		wr_json_init(&j, &resp->body);
		jm_rest_tm_json(&j, tm, wr_mono_ms());
	}
	free(snap);
}

/* GET /config: Flink's dashboard configuration. */
static void
jm_rest_config(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	(void)arg;
	if (!jm_rest_query_only(req, NULL, resp))
		return;
	time_t now = time(NULL);
	struct tm lt;
	localtime_r(&now, &lt);
	char version[64];
	snprintf(version, sizeof(version), "weir-%s", WEIR_VERSION);
	wr_json j;
	wr_json_init(&j, &resp->body);
	wr_json_obj_begin(&j);
	wr_json_kv_int(&j, "refresh-interval", 3000);
	wr_json_kv_str(&j, "timezone-name", lt.tm_zone ? lt.tm_zone : "UTC");
	wr_json_kv_int(&j, "timezone-offset", (int64_t)lt.tm_gmtoff * 1000);
	wr_json_kv_str(&j, "flink-version", version);
	wr_json_kv_str(&j, "flink-revision", "");
	wr_json_kv_str(&j, "weir-version", WEIR_VERSION);
	wr_json_key(&j, "features");
	wr_json_obj_begin(&j);
	wr_json_kv_bool(&j, "web-submit", false);
	wr_json_kv_bool(&j, "web-cancel", true);
	wr_json_kv_bool(&j, "web-rescale", false);
	wr_json_kv_bool(&j, "web-history", false);
	wr_json_obj_end(&j);
	wr_json_obj_end(&j);
}

/* Whether a key's value is hidden, as Flink hides them. */
static bool
jm_rest_secret_key(const char *key)
{
	static const char *const words[] = {"password", "secret", "token",
	                                    "apikey", "auth"};
	for (size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
		if (strstr(key, words[i]) != NULL)
			return true;
	return false;
}

/* GET /jobmanager/config: [{"key", "value"}] of the cluster config in
 * effect (file, environment, defaults), secrets hidden. */
static void
jm_rest_jm_config(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	jm_server *jm = arg;
	if (!jm_rest_query_only(req, NULL, resp))
		return;
	const wr_cfg_table *t = &wr_cluster_config_table;
	wr_json j;
	wr_buf v;
	wr_buf_init(&v);
	wr_json_init(&j, &resp->body);
	wr_json_arr_begin(&j);
	for (size_t i = 0; i < t->n; i++) {
		wr_buf_reset(&v);
		wr_cfg_value_text(&t->entries[i], &jm->cfg, &v);
		wr_buf_putc(&v, '\0');
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "key", t->entries[i].name);
		wr_json_kv_str(&j, "value",
		               jm_rest_secret_key(t->entries[i].name) &&
		                       v.data[0] != '\0'
		                   ? "******"
		                   : v.data);
		wr_json_obj_end(&j);
	}
	wr_json_arr_end(&j);
	wr_buf_fini(&v);
}

/* /readyz: only the leader is ready, so a Kubernetes Service routes to it
 * (/healthz stays healthy on a standby). */
static bool
jm_rest_ready(void *arg)
{
	return jm_ha_leading(arg);
}

int
jm_rest_init(jm_server *jm)
{
	int rv;
	if ((rv = wr_http_server_handle(jm->http, "GET", "/overview", false,
	                                jm_rest_overview, jm)) != WR_OK ||
	    (rv = wr_http_server_handle(jm->http, NULL, "/taskmanagers", true,
	                                jm_rest_taskmanager, jm)) != WR_OK ||
	    (rv = wr_http_server_handle(jm->http, "GET", "/config", false,
	                                jm_rest_config, jm)) != WR_OK ||
	    (rv = wr_http_server_handle(jm->http, "GET", "/jobmanager/config",
	                                false, jm_rest_jm_config, jm)) !=
	        WR_OK ||
	    (rv = wr_http_serve_metrics(jm->http, jm->metrics)) != WR_OK ||
	    (rv = wr_http_serve_health(jm->http, jm_rest_ready, jm)) != WR_OK ||
	    (rv = jm_rest_jobs_init(jm)) != WR_OK ||
	    (rv = jm_web_init(jm->http)) != WR_OK)
		return rv;
	return WR_OK;
}
