/*
 * rest_flink.c - the REST paths under /jobs/{id}/ that Flink has and weir
 * added with Flink's shapes and names: plan, exceptions, vertices/{vid}
 * (with backpressure and watermarks), checkpoints/config,
 * checkpoints/details/{n} and savepoints/{trigger-id}. Like every GET they
 * read what the loop published (snapshot.h, snapshot_flink.c) and never
 * wait for it: the handlers only slice those bodies (jansson).
 */
#include "jm_int.h"
#include "snapshot.h"

#include "err.h"
#include "http.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *
jm_backpressure_level(double ratio)
{
	/* Flink's thresholds: OK <= 0.10 < LOW <= 0.5 < HIGH */
	if (ratio <= 0.10)
		return "ok";
	if (ratio <= 0.5)
		return "low";
	return "high";
}

/* Whether every key of the query string is one of allowed (NULL ended);
 * false with a 400 in resp. */
bool
jm_rest_query_only(const wr_http_req *req, const char *const *allowed,
                   wr_http_resp *resp)
{
	for (const char *p = req->query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		const char *eq = memchr(p, '=', n);
		size_t kl = eq ? (size_t)(eq - p) : n;
		bool ok = false;
		for (size_t i = 0; allowed && allowed[i] && !ok; i++)
			ok = strlen(allowed[i]) == kl &&
			     strncmp(allowed[i], p, kl) == 0;
		if (!ok && n > 0) {
			char msg[160];
			snprintf(msg, sizeof(msg),
			         "unknown query parameter '%.*s'",
			         (int)(kl > 64 ? 64 : kl), p);
			jm_rest_error(resp, 400, msg);
			return false;
		}
		p = amp ? amp + 1 : NULL;
	}
	return true;
}

/* Sends root as the body and drops it. */
static void
jm_rest_send(wr_http_resp *resp, json_t *root)
{
	char *s = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	if (s == NULL) {
		jm_rest_error(resp, 500, "out of memory");
		return;
	}
	wr_buf_puts(&resp->body, s);
	free(s);
}

/* A published body of the job, parsed; NULL with a 404 in resp. */
static json_t *
jm_rest_body(jm_server *jm, const char *id, enum jm_snap_body which,
             wr_http_resp *resp)
{
	char err[128];
	wr_buf b;
	wr_buf_init(&b);
	json_t *root = NULL;
	if (jm_snap_body(jm->snap, id, which, &b, err, sizeof(err)) != WR_OK)
		jm_rest_error(resp, 404, err);
	else if ((root = json_loadb(b.data, b.len, 0, NULL)) == NULL)
		jm_rest_error(resp, 500, "cannot read the published job");
	wr_buf_fini(&b);
	return root;
}

/* The job's info and vertex vid in it (*root to decref); NULL with a
 * 404 in resp. */
static json_t *
jm_rest_vertex(jm_server *jm, const char *id, const char *vid, json_t **root,
               wr_http_resp *resp)
{
	*root = jm_rest_body(jm, id, JM_SNAP_INFO, resp);
	if (*root == NULL)
		return NULL;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(*root, "vertices"), i, v)
	{
		const char *vi = json_string_value(json_object_get(v, "id"));
		if (vi != NULL && strcmp(vi, vid) == 0)
			return v;
	}
	char msg[160];
	snprintf(msg, sizeof(msg), "no vertex %.64s in job %s", vid, id);
	jm_rest_error(resp, 404, msg);
	json_decref(*root);
	*root = NULL;
	return NULL;
}

/* GET /jobs/{id}/vertices/{vid}: the vertex with its subtasks, each with
 * the TaskManager it runs on. */
static void
jm_rest_vertex_get(jm_server *jm, const char *id, const char *vid,
                   wr_http_resp *resp)
{
	json_t *root, *v = jm_rest_vertex(jm, id, vid, &root, resp);
	if (v == NULL)
		return;
	json_t *out = json_object();
	static const char *const keys[] = {"id", "name", "parallelism",
	                                   "maxParallelism", "subtasks"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++)
		json_object_set(out, keys[i], json_object_get(v, keys[i]));
	json_object_set(out, "now", json_object_get(root, "now"));
	json_decref(root);
	jm_rest_send(resp, out);
}

/* A subtask's metric in ms per second as a ratio; -1 when not reported. */
static double
jm_rest_ratio(json_t *st, const char *metric)
{
	json_t *m = json_object_get(json_object_get(st, "metrics"), metric);
	return json_is_number(m) ? json_number_value(m) / 1000.0 : -1.0;
}

/* GET /jobs/{id}/vertices/{vid}/backpressure, from the back-pressured,
 * idle and busy time TaskManagers report in heartbeats. "status" is
 * "deprecated" (Flink's "not there yet") until every subtask reported. */
static void
jm_rest_backpressure(jm_server *jm, const char *id, const char *vid,
                     wr_http_resp *resp)
{
	json_t *root, *v = jm_rest_vertex(jm, id, vid, &root, resp);
	if (v == NULL)
		return;
	json_t *out = json_object(), *subs = json_array();
	double worst = 0.0;
	bool all = true;
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(v, "subtasks"), i, st)
	{
		double r = jm_rest_ratio(st, "backPressuredTimeMsPerSecond");
		if (r < 0) {
			all = false;
			continue;
		}
		json_t *o = json_object();
		json_object_set(o, "subtask", json_object_get(st, "subtask"));
		json_object_set(o, "attempt-number",
		                json_object_get(st, "attempt"));
		json_object_set_new(o, "backpressure-level",
		                    json_string(jm_backpressure_level(r)));
		json_object_set_new(o, "ratio", json_real(r));
		json_object_set_new(
		    o, "idleRatio",
		    json_real(jm_rest_ratio(st, "idleTimeMsPerSecond")));
		json_object_set_new(
		    o, "busyRatio",
		    json_real(jm_rest_ratio(st, "busyTimeMsPerSecond")));
		json_array_append_new(subs, o);
		worst = r > worst ? r : worst;
	}
	json_object_set_new(out, "status",
	                    json_string(all ? "ok" : "deprecated"));
	json_object_set_new(out, "backpressure-level",
	                    json_string(jm_backpressure_level(worst)));
	json_object_set(out, "end-timestamp", json_object_get(root, "now"));
	json_object_set_new(out, "subtasks", subs);
	json_decref(root);
	jm_rest_send(resp, out);
}

/* GET /jobs/{id}/vertices/{vid}/watermarks: Flink's metric list, one
 * "<subtask>.currentInputWatermark" per subtask that has one. */
static void
jm_rest_watermarks(jm_server *jm, const char *id, const char *vid,
                   wr_http_resp *resp)
{
	json_t *root, *v = jm_rest_vertex(jm, id, vid, &root, resp);
	if (v == NULL)
		return;
	json_t *out = json_array();
	size_t i;
	json_t *st;
	json_array_foreach(json_object_get(v, "subtasks"), i, st)
	{
		json_t *wm = json_object_get(json_object_get(st, "metrics"),
		                             "currentInputWatermark");
		if (!json_is_integer(wm))
			continue;
		char key[48], val[32];
		snprintf(key, sizeof(key), "%lld.currentInputWatermark",
		         (long long)json_integer_value(
		             json_object_get(st, "subtask")));
		snprintf(val, sizeof(val), "%lld",
		         (long long)json_integer_value(wm));
		json_t *o = json_object();
		json_object_set_new(o, "id", json_string(key));
		json_object_set_new(o, "value", json_string(val));
		json_array_append_new(out, o);
	}
	json_decref(root);
	jm_rest_send(resp, out);
}

/* A checkpoint id from a path segment; false with a 400 in resp. */
static bool
jm_rest_ckpt_id(const char *s, long long *out, wr_http_resp *resp)
{
	char *end;
	*out = strtoll(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || *out < 0) {
		jm_rest_error(resp, 400,
		              "a checkpoint or trigger id is a "
		              "non-negative integer");
		return false;
	}
	return true;
}

/* Entry n of the job's checkpoint history (*root to decref); NULL with
 * a 404 in resp. */
static json_t *
jm_rest_ckpt(jm_server *jm, const char *id, long long n, json_t **root,
             wr_http_resp *resp)
{
	*root = jm_rest_body(jm, id, JM_SNAP_CKPTS, resp);
	if (*root == NULL)
		return NULL;
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(*root, "history"), i, c)
	{
		if (json_integer_value(json_object_get(c, "id")) == n)
			return c;
	}
	char msg[160];
	snprintf(msg, sizeof(msg),
	         "no checkpoint %lld in job %s's history (it keeps the newest "
	         "ones)",
	         n, id);
	jm_rest_error(resp, 404, msg);
	json_decref(*root);
	*root = NULL;
	return NULL;
}

/* GET /jobs/{id}/checkpoints/details/{n}. weir has no per-task
 * breakdown: "tasks" is empty. */
static void
jm_rest_ckpt_details(jm_server *jm, const char *id, const char *ns,
                     wr_http_resp *resp)
{
	long long n;
	json_t *root, *c;
	if (!jm_rest_ckpt_id(ns, &n, resp) ||
	    (c = jm_rest_ckpt(jm, id, n, &root, resp)) == NULL)
		return;
	json_t *out = json_deep_copy(c);
	const char *status = json_string_value(json_object_get(c, "status"));
	bool sp = json_is_true(json_object_get(c, "is_savepoint"));
	bool done = status && strcmp(status, "COMPLETED") == 0;
	json_object_set_new(
	    out, "className",
	    json_string(done ? "completed"
	                : status && strcmp(status, "FAILED") == 0
	                    ? "failed"
	                    : "in_progress"));
	json_object_set_new(out, "checkpoint_type",
	                    json_string(sp ? "SAVEPOINT" : "CHECKPOINT"));
	json_object_set(out, "checkpointed_size",
	                json_object_get(c, "state_size"));
	json_int_t trig =
	    json_integer_value(json_object_get(c, "trigger_timestamp"));
	json_int_t dur =
	    json_integer_value(json_object_get(c, "end_to_end_duration"));
	json_object_set_new(out, "latest_ack_timestamp",
	                    done ? json_integer(trig + dur) : json_null());
	json_object_set_new(out, "discarded", json_false());
	json_object_set_new(out, "tasks", json_object());
	json_decref(root);
	jm_rest_send(resp, out);
}

/* GET /jobs/{id}/savepoints/{trigger-id}: Flink's asynchronous operation
 * status; the trigger id is the savepoint's checkpoint id. */
static void
jm_rest_savepoint_status(jm_server *jm, const char *id, const char *trig,
                         wr_http_resp *resp)
{
	long long n;
	json_t *root, *c;
	if (!jm_rest_ckpt_id(trig, &n, resp))
		return;
	if (n > 0 && jm_snap_queued_savepoint(jm->snap, id) == (uint64_t)n) {
		/* triggered once the checkpoint in progress ends */
		jm_rest_send(resp, json_pack("{s:{s:s},s:n}", "status", "id",
		                             "IN_PROGRESS", "operation"));
		return;
	}
	if ((c = jm_rest_ckpt(jm, id, n, &root, resp)) == NULL)
		return;
	const char *status = json_string_value(json_object_get(c, "status"));
	json_t *out = json_object(), *op = json_null();
	bool pending = status && strcmp(status, "IN_PROGRESS") == 0;
	if (!pending && status && strcmp(status, "COMPLETED") == 0) {
		op = json_object();
		json_object_set(op, "location",
		                json_object_get(c, "external_path"));
	} else if (!pending) {
		json_t *cause = json_object();
		json_object_set_new(cause, "class",
		                    json_string("weir.SavepointFailure"));
		json_object_set(cause, "stack-trace",
		                json_object_get(c, "failure_message"));
		json_object_set_new(cause, "serialized-throwable", json_null());
		op = json_object();
		json_object_set_new(op, "failure-cause", cause);
	}
	json_t *st = json_object();
	json_object_set_new(st, "id",
	                    json_string(pending ? "IN_PROGRESS" : "COMPLETED"));
	json_object_set_new(out, "status", st);
	json_object_set_new(out, "operation", op);
	json_decref(root);
	jm_rest_send(resp, out);
}

/* GET /jobs/{id}/exceptions?maxExceptions=N: the newest N entries. */
static void
jm_rest_exceptions(jm_server *jm, const char *id, const wr_http_req *req,
                   wr_http_resp *resp)
{
	static const char *const allowed[] = {"maxExceptions", NULL};
	char v[24];
	long max = -1;
	if (!jm_rest_query_only(req, allowed, resp))
		return;
	if (jm_rest_query(req->query, "maxExceptions", v, sizeof(v))) {
		char *end;
		max = strtol(v, &end, 10);
		if (v[0] < '0' || v[0] > '9' || *end != '\0' || max < 1) {
			jm_rest_error(
			    resp, 400,
			    "maxExceptions must be a positive integer");
			return;
		}
	}
	json_t *root = jm_rest_body(jm, id, JM_SNAP_EXCEPTIONS, resp);
	if (root == NULL)
		return;
	json_t *hist = json_object_get(root, "exceptionHistory");
	json_t *lists[] = {json_object_get(root, "all-exceptions"),
	                   json_object_get(hist, "entries")};
	for (size_t i = 0; i < 2 && max > 0; i++) {
		if (json_array_size(lists[i]) <= (size_t)max)
			continue;
		while (json_array_size(lists[i]) > (size_t)max)
			json_array_remove(lists[i],
			                  json_array_size(lists[i]) - 1);
		json_object_set_new(i == 0 ? root : hist, "truncated",
		                    json_true());
	}
	jm_rest_send(resp, root);
}

/* GET /jobs/{id}/plan: {"plan": ...} of GET /jobs/{id}. */
static void
jm_rest_plan(jm_server *jm, const char *id, wr_http_resp *resp)
{
	json_t *root = jm_rest_body(jm, id, JM_SNAP_INFO, resp);
	if (root == NULL)
		return;
	json_t *out = json_object();
	json_object_set(out, "plan", json_object_get(root, "plan"));
	json_decref(root);
	jm_rest_send(resp, out);
}

/* The paths under /jobs/{id}/vertices/{vid}. */
static bool
jm_rest_flink_vertex(jm_server *jm, const char *id, const char *rest,
                     const wr_http_req *req, wr_http_resp *resp)
{
	char vid[32];
	const char *slash = strchr(rest, '/');
	size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
	if (n == 0 || n >= sizeof(vid))
		return false;
	snprintf(vid, sizeof(vid), "%.*s", (int)n, rest);
	const char *what = slash ? slash + 1 : "";
	if (strcmp(what, "") != 0 && strcmp(what, "backpressure") != 0 &&
	    strcmp(what, "watermarks") != 0)
		return false;
	if (strcmp(req->method, "GET") != 0)
		jm_rest_error(resp, 405, "method not allowed");
	else if (!jm_rest_query_only(req, NULL, resp))
		return true;
	else if (what[0] == '\0')
		jm_rest_vertex_get(jm, id, vid, resp);
	else if (what[0] == 'b')
		jm_rest_backpressure(jm, id, vid, resp);
	else
		jm_rest_watermarks(jm, id, vid, resp);
	return true;
}

bool
jm_rest_flink_job(jm_server *jm, const char *id, const char *sub,
                  const wr_http_req *req, wr_http_resp *resp)
{
	bool get = strcmp(req->method, "GET") == 0;
	bool exc = strcmp(sub, "exceptions") == 0;
	bool plan = strcmp(sub, "plan") == 0;
	bool cfg = strcmp(sub, "checkpoints/config") == 0;
	const char *details =
	    strncmp(sub, "checkpoints/details/", 20) == 0 ? sub + 20 : NULL;
	const char *trig =
	    strncmp(sub, "savepoints/", 11) == 0 ? sub + 11 : NULL;
	const char *vertex = strncmp(sub, "vertices/", 9) == 0 ? sub + 9 : NULL;
	if ((details && (!*details || strchr(details, '/'))) ||
	    (trig && (!*trig || strchr(trig, '/'))))
		return false;
	if (!exc && !plan && !cfg && !details && !trig && !vertex)
		return false;
	if (vertex)
		return jm_rest_flink_vertex(jm, id, vertex, req, resp);
	if (!get) {
		jm_rest_error(resp, 405, "method not allowed");
		return true;
	}
	if (exc) {
		jm_rest_exceptions(jm, id, req, resp);
		return true;
	}
	if (!jm_rest_query_only(req, NULL, resp))
		return true;
	if (plan) {
		jm_rest_plan(jm, id, resp);
	} else if (cfg) {
		char err[128];
		if (jm_snap_body(jm->snap, id, JM_SNAP_CKCFG, &resp->body, err,
		                 sizeof(err)) != WR_OK)
			jm_rest_error(resp, 404, err);
	} else if (details) {
		jm_rest_ckpt_details(jm, id, details, resp);
	} else {
		jm_rest_savepoint_status(jm, id, trig, resp);
	}
	return true;
}
