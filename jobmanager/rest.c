/*
 * rest.c - the JobManager's REST API (Flink-shaped JSON) and the health and
 * metrics endpoints. Handlers run on nng's HTTP threads and read the
 * registry through its snapshots.
 */
#include "ha.h"
#include "jm_int.h"

#include "clock.h"
#include "err.h"
#include "http.h"
#include "json.h"
#include "mem.h"

#include <stdlib.h>

static void
jm_rest_overview(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	jm_server *jm = arg;
	(void)req;
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
	wr_json_obj_end(&j);
}

static void
jm_rest_taskmanagers(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	jm_server *jm = arg;
	(void)req;
	jm_tm *snap = wr_xcalloc(WR_MAX_TASKMANAGERS, sizeof(*snap));
	size_t n = jm_tmreg_snapshot(jm->tms, snap, WR_MAX_TASKMANAGERS);
	int64_t now = wr_mono_ms();
	wr_json j;
	wr_json_init(&j, &resp->body);
	wr_json_obj_begin(&j);
	wr_json_key(&j, "taskmanagers");
	wr_json_arr_begin(&j);
	for (size_t i = 0; i < n; i++) {
		const jm_tm *tm = &snap[i];
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "id", tm->id);
		wr_json_kv_str(&j, "address", tm->rpc_address);
		wr_json_kv_str(&j, "state", tm->alive ? "alive" : "lost");
		wr_json_kv_int(&j, "slots_total", tm->slots_total);
		wr_json_kv_int(&j, "slots_free",
		               tm->alive ? tm->slots_free : 0);
		wr_json_kv_str(&j, "data_address", tm->data_address);
		wr_json_kv_str(&j, "metrics_address", tm->metrics_address);
		wr_json_kv_int(&j, "time_since_last_heartbeat_ms",
		               now - tm->last_heartbeat_ms);
		wr_json_kv_int(&j, "registered", tm->registered_wall_ms);
		wr_json_obj_end(&j);
	}
	wr_json_arr_end(&j);
	wr_json_obj_end(&j);
	free(snap);
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
	    (rv = wr_http_server_handle(jm->http, "GET", "/taskmanagers", false,
	                                jm_rest_taskmanagers, jm)) != WR_OK ||
	    (rv = wr_http_serve_metrics(jm->http, jm->metrics)) != WR_OK ||
	    (rv = wr_http_serve_health(jm->http, jm_rest_ready, jm)) != WR_OK ||
	    (rv = jm_rest_jobs_init(jm)) != WR_OK)
		return rv;
	return WR_OK;
}
