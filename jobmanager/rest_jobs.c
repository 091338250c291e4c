/*
 * rest_jobs.c - the REST job endpoints (everything under /jobs). They run
 * on nng's HTTP threads and never wait on another process: GETs copy what
 * the loop published (snapshot.h), writes queue a command to the loop and
 * wait a bounded time for its answer (cmd.h; 503 at once when the queue is
 * full).
 *
 * The JSON of GET /jobs, GET /jobs/{id} and GET /jobs/{id}/checkpoints is
 * what `weir list -o json`, `weir info -o json` and `weir checkpoints -o
 * json` print.
 *
 * POST /jobs/{id}/upgrade is asynchronous as Flink's savepoint triggers
 * are: an upgrade takes a savepoint, a start and a checkpoint, far longer
 * than an HTTP handler may hold one of nng's threads. It answers 202 with
 * a request id; GET /jobs/{id}/upgrade/{request-id} tells IN_PROGRESS or
 * COMPLETED with {"jid", "savepoint", "rolled-back"} (and "errors" when
 * the new version does not run).
 */
#include "cmd.h"
#include "ha.h"
#include "jm_int.h"
#include "snapshot.h"
#include "upgrade.h"

#include "err.h"
#include "http.h"
#include "json.h"
#include "mem.h"
#include "wr_limits.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
jm_rest_status(int rv)
{
	switch (rv) {
	case WR_ENOENT:
		return 404;
	case WR_EINVAL:
		return 400;
	case WR_EPERM: /* outside security.allowed_* (policy.h) */
		return 403;
	case WR_ESTATE:
	case WR_EFULL:
		return 409;
	case WR_ETIMEDOUT:
		return 504;
	default:
		return 500;
	}
}

/* {"errors": [msg] with status, the object left open for more keys. */
static void
jm_rest_error_open(wr_http_resp *resp, int status, const char *msg, wr_json *j)
{
	resp->status = status;
	wr_buf_reset(&resp->body);
	wr_json_init(j, &resp->body);
	wr_json_obj_begin(j);
	wr_json_key(j, "errors");
	wr_json_arr_begin(j);
	wr_json_str(j, msg);
	wr_json_arr_end(j);
}

void
jm_rest_error(wr_http_resp *resp, int status, const char *msg)
{
	wr_json j;
	jm_rest_error_open(resp, status, msg, &j);
	wr_json_obj_end(&j);
}

/* 503 from a standby: the reason and the leader's address ("" when none
 * is known), so clients and load balancers go there. */
static void
jm_rest_not_leader(jm_server *jm, wr_http_resp *resp)
{
	char msg[WR_ADDR_BYTES + 64], leader[WR_ADDR_BYTES];
	wr_json j;
	jm_ha_not_leader(jm, msg, sizeof(msg));
	jm_ha_leader(jm, leader, sizeof(leader));
	jm_rest_error_open(resp, 503, msg, &j);
	wr_json_kv_str(&j, "leader", leader);
	wr_json_obj_end(&j);
}

/* Runs cmd on the loop; false (resp filled with the error) unless it ran
 * and succeeded. */
static bool
jm_rest_cmd(jm_server *jm, jm_cmd *cmd, wr_http_resp *resp)
{
	if (!jm_ha_leading(jm)) {
		jm_rest_not_leader(jm, resp);
		return false;
	}
	int rv = jm_cmdq_call(jm, cmd);
	if (rv == WR_EFULL || rv == WR_ECLOSED) {
		jm_rest_error(resp, 503,
		              rv == WR_EFULL ? "the JobManager is busy: too "
		                               "many requests wait, try again"
		                             : "the JobManager is stopping");
		return false;
	}
	if (rv != WR_OK) {
		jm_rest_error(resp, jm_rest_status(rv),
		              "the JobManager did not run the request in time "
		              "(it may still run)");
		return false;
	}
	if (cmd->rv != WR_OK) {
		jm_rest_error(resp, jm_rest_status(cmd->rv), cmd->err);
		return false;
	}
	return true;
}

/* GET /jobs/{id} and /jobs/{id}/checkpoints. */
static void
jm_rest_job_get(jm_server *jm, const char *id, bool checkpoints,
                const wr_http_req *req, wr_http_resp *resp)
{
	char err[128];
	if (!jm_rest_query_only(req, NULL, resp))
		return;
	if (jm_snap_job(jm->snap, id, checkpoints, &resp->body, err,
	                sizeof(err)) != WR_OK)
		jm_rest_error(resp, 404, err);
}

static int
jm_rest_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes the n bytes at s ('+' is a space) into out; false when
 * they do not decode (a bad escape, a NUL) or do not fit. */
static bool
jm_rest_unescape(const char *s, size_t n, char *out, size_t outlen)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			if (i + 2 >= n)
				return false;
			int hi = jm_rest_hex(s[i + 1]),
			    lo = jm_rest_hex(s[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (c == '\0' || k + 1 >= outlen)
			return false;
		out[k++] = c;
	}
	out[k] = '\0';
	return true;
}

/* Value of key in a query string "a=1&b=2" into out, percent-decoded;
 * false if absent. A value that does not decode or fit is "\x01" (never
 * valid: its check answers 400). */
bool
jm_rest_query(const char *query, const char *key, char *out, size_t outlen)
{
	size_t kl = strlen(key);
	for (const char *p = query; p && *p;) {
		const char *amp = strchr(p, '&');
		size_t n = amp ? (size_t)(amp - p) : strlen(p);
		if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			if (!jm_rest_unescape(p + kl + 1, n - kl - 1, out,
			                      outlen))
				snprintf(out, outlen, "\x01");
			return true;
		}
		p = amp ? amp + 1 : NULL;
	}
	return false;
}

/* Whether a target directory can mean the same on the JobManager as for
 * the client: an absolute path or a URL (file://, s3://). */
static bool
jm_rest_dir_ok(const char *dir)
{
	return dir[0] == '/' || strncmp(dir, "file://", 7) == 0 ||
	       strncmp(dir, "s3://", 5) == 0;
}

/* The start parameters POST /jobs and POST /jobs/{id}/upgrade share,
 * from the query string: Flink's savepointPath and allowNonRestoredState,
 * and file, parallelism, mode, savepointDir (upgrade). */
typedef struct jm_rest_start {
	char file[256], path[WR_URL_BYTES], dir[WR_URL_BYTES], mode[32];
	int parallelism;
	bool allow_non_restored;
	enum jm_upgrade_mode upgrade_mode;
} jm_rest_start;

/* A boolean query parameter: absent (false), "true" or "false". */
static bool
jm_rest_query_bool(const char *query, const char *key, bool *out, char *err,
                   size_t errlen)
{
	char v[16];
	*out = false;
	if (!jm_rest_query(query, key, v, sizeof(v)))
		return true;
	if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0) {
		*out = v[0] == 't';
		return true;
	}
	snprintf(err, errlen, "%s must be true or false, not '%.32s'", key, v);
	return false;
}

/* Reads and checks the start parameters; false with a 400 in resp. */
static bool
jm_rest_start_params(const wr_http_req *req, jm_rest_start *st,
                     wr_http_resp *resp)
{
	static const char *const known[] = {"file",
	                                    "parallelism",
	                                    "savepointPath",
	                                    "savepointDir",
	                                    "allowNonRestoredState",
	                                    "mode",
	                                    NULL};
	char par[16] = "0", err[WR_URL_BYTES + 128] = "";
	const char *q = req->query;
	if (!jm_rest_query_only(req, known, resp))
		return false;
	snprintf(st->file, sizeof(st->file), "job.yaml");
	jm_rest_query(q, "file", st->file, sizeof(st->file));
	jm_rest_query(q, "parallelism", par, sizeof(par));
	char *end;
	long p = strtol(par, &end, 10);
	if (par[0] < '0' || par[0] > '9' || *end != '\0' || p < 0 ||
	    p > WR_JOB_MAX_PARALLELISM)
		snprintf(err, sizeof(err),
		         "parallelism must be 1 .. %d, not '%.16s'",
		         WR_JOB_MAX_PARALLELISM, par);
	st->parallelism = (int)p;
	if (err[0] == '\0' &&
	    jm_rest_query(q, "savepointPath", st->path, sizeof(st->path)) &&
	    !jm_rest_dir_ok(st->path))
		snprintf(err, sizeof(err),
		         "savepointPath must be an absolute path or a file:// "
		         "or s3:// URL, not '%.256s'",
		         st->path);
	if (err[0] == '\0' &&
	    jm_rest_query(q, "savepointDir", st->dir, sizeof(st->dir)) &&
	    !jm_rest_dir_ok(st->dir))
		snprintf(err, sizeof(err),
		         "savepointDir must be an absolute path or a file:// "
		         "or s3:// URL, not '%.256s'",
		         st->dir);
	if (err[0] == '\0')
		jm_rest_query_bool(q, "allowNonRestoredState",
		                   &st->allow_non_restored, err, sizeof(err));
	if (err[0] == '\0' &&
	    jm_rest_query(q, "mode", st->mode, sizeof(st->mode)) &&
	    !jm_upgrade_mode_parse(st->mode, &st->upgrade_mode))
		snprintf(err, sizeof(err),
		         "mode must be savepoint, last-state or stateless, not "
		         "'%.32s'",
		         st->mode);
	if (err[0] == '\0' && req->body_len == 0)
		snprintf(err, sizeof(err), "the body must be the job's YAML");
	if (err[0] != '\0')
		jm_rest_error(resp, 400, err);
	return err[0] == '\0';
}

/* POST /jobs?file=&parallelism=&savepointPath=&allowNonRestoredState=
 * with the job's YAML as the body. */
static void
jm_rest_submit(jm_server *jm, const wr_http_req *req, wr_http_resp *resp)
{
	jm_rest_start st = {0};
	if (!jm_rest_start_params(req, &st, resp))
		return;
	jm_cmd cmd = {
	    .kind = JM_CMD_SUBMIT,
	    .file = st.file,
	    .yaml = req->body,
	    .parallelism = st.parallelism,
	    .from_savepoint = st.path[0] ? st.path : NULL,
	    .allow_non_restored = st.allow_non_restored,
	};
	if (!jm_rest_cmd(jm, &cmd, resp))
		return;
	wr_json j;
	wr_json_init(&j, &resp->body);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "job_id", cmd.new_job_id);
	wr_json_obj_end(&j);
}

/* POST /jobs/{id}/upgrade?mode=&parallelism=&allowNonRestoredState=
 * &savepointDir=&file= with the new version's YAML as the body: 202
 * {"request-id"}. */
static void
jm_rest_upgrade(jm_server *jm, const char *id, const wr_http_req *req,
                wr_http_resp *resp)
{
	jm_rest_start st = {0};
	if (!jm_rest_start_params(req, &st, resp))
		return;
	if (st.path[0] != '\0') {
		jm_rest_error(
		    resp, 400,
		    "an upgrade takes its own savepoint: savepointPath "
		    "is for POST /jobs");
		return;
	}
	jm_cmd cmd = {
	    .kind = JM_CMD_UPGRADE,
	    .job_id = id,
	    .file = st.file,
	    .yaml = req->body,
	    .parallelism = st.parallelism,
	    .allow_non_restored = st.allow_non_restored,
	    .mode = (int)st.upgrade_mode,
	    .target_dir = st.dir[0] ? st.dir : NULL,
	};
	if (!jm_rest_cmd(jm, &cmd, resp))
		return;
	char rid[24];
	snprintf(rid, sizeof(rid), "%llu", (unsigned long long)cmd.upgrade_id);
	resp->status = 202;
	wr_json j;
	wr_json_init(&j, &resp->body);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "request-id", rid);
	wr_json_obj_end(&j);
}

/* GET /jobs/{id}/upgrade/{request-id}: Flink's async-operation shape,
 * {"status": {"id": IN_PROGRESS|COMPLETED}, "jid", "savepoint",
 * "rolled-back"}, and "errors" when the new version does not run. */
static void
jm_rest_upgrade_status(jm_server *jm, const char *rid, wr_http_resp *resp)
{
	char *end;
	unsigned long long n = strtoull(rid, &end, 10);
	if (rid[0] < '0' || rid[0] > '9' || *end != '\0') {
		jm_rest_error(resp, 404, "no such upgrade");
		return;
	}
	jm_cmd cmd = {.kind = JM_CMD_UPGRADE_STATUS, .upgrade_id = n};
	if (!jm_rest_cmd(jm, &cmd, resp))
		return;
	wr_json j;
	wr_json_init(&j, &resp->body);
	wr_json_obj_begin(&j);
	wr_json_key(&j, "status");
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "id", cmd.done ? "COMPLETED" : "IN_PROGRESS");
	wr_json_obj_end(&j);
	wr_json_key(&j, "jid");
	if (cmd.new_job_id[0])
		wr_json_str(&j, cmd.new_job_id);
	else
		wr_json_null(&j);
	wr_json_key(&j, "savepoint");
	if (cmd.url[0])
		wr_json_str(&j, cmd.url);
	else
		wr_json_null(&j);
	wr_json_key(&j, "rolled-back");
	wr_json_bool(&j, cmd.rolled_back);
	if (cmd.done && !cmd.ok) {
		wr_json_key(&j, "errors");
		wr_json_arr_begin(&j);
		wr_json_str(&j, cmd.err);
		wr_json_arr_end(&j);
	}
	wr_json_obj_end(&j);
}

static void
jm_rest_cancel(jm_server *jm, const char *id, const wr_http_req *req,
               wr_http_resp *resp)
{
	static const char *const known[] = {"mode", NULL};
	char mode[32] = "";
	if (!jm_rest_query_only(req, known, resp))
		return;
	if (!jm_rest_query(req->query, "mode", mode, sizeof(mode)) ||
	    strcmp(mode, "cancel") != 0) {
		jm_rest_error(resp, 400, "PATCH /jobs/{id} needs ?mode=cancel");
		return;
	}
	jm_cmd cmd = {.kind = JM_CMD_CANCEL, .job_id = id};
	if (!jm_rest_cmd(jm, &cmd, resp))
		return;
	resp->status = 202;
	wr_buf_puts(&resp->body, "{}");
}

/* The body of POST /jobs/{id}/savepoints and /stop, Flink's names. */
typedef struct jm_rest_sp_body {
	const char *dir_key;  /* "target-directory" or "targetDirectory" */
	const char *bool_key; /* "cancel-job" or "drain" */
	char dir[WR_URL_BYTES];
	bool flag;
} jm_rest_sp_body;

/* Checks one member of the body; false with the error in errbuf. */
static bool
jm_rest_sp_member(jm_rest_sp_body *b, const char *key, json_t *v, char *errbuf,
                  size_t errlen)
{
	if (strcmp(key, b->dir_key) == 0) {
		if (json_is_null(v))
			return true;
		if (!json_is_string(v) ||
		    json_string_length(v) >= sizeof(b->dir) ||
		    (json_string_length(v) > 0 &&
		     !jm_rest_dir_ok(json_string_value(v)))) {
			snprintf(errbuf, errlen,
			         "\"%s\" must be an absolute path or a file:// "
			         "or s3:// URL",
			         b->dir_key);
			return false;
		}
		snprintf(b->dir, sizeof(b->dir), "%s", json_string_value(v));
		return true;
	}
	if (strcmp(key, b->bool_key) == 0) {
		if (!json_is_boolean(v)) {
			snprintf(errbuf, errlen, "\"%s\" must be true or false",
			         b->bool_key);
			return false;
		}
		b->flag = json_is_true(v);
		return true;
	}
	snprintf(errbuf, errlen,
	         "unknown key \"%.64s\" (known: \"%s\", \"%s\")", key,
	         b->dir_key, b->bool_key);
	return false;
}

/* Parses an optional JSON object body into b. false: 400 in resp.
 * (jansson allocates with plain malloc here: record.c's budget hook is
 * active only while a task decodes a record on its own thread.) */
static bool
jm_rest_sp_parse(const wr_http_req *req, jm_rest_sp_body *b, wr_http_resp *resp)
{
	char err[512] = "";
	json_error_t je;
	const char *key;
	json_t *v;

	size_t i = 0;
	while (i < req->body_len &&
	       (req->body[i] == ' ' || req->body[i] == '\t' ||
	        req->body[i] == '\r' || req->body[i] == '\n'))
		i++;
	if (i == req->body_len)
		return true; /* no body: every default */
	json_t *root =
	    json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		snprintf(err, sizeof(err), "malformed JSON body at byte %d: %s",
		         je.position, je.text);
	} else if (!json_is_object(root)) {
		snprintf(err, sizeof(err), "the body must be a JSON object");
	} else {
		json_object_foreach(root, key, v)
		{
			if (!jm_rest_sp_member(b, key, v, err, sizeof(err)))
				break;
		}
	}
	json_decref(root);
	if (err[0] != '\0')
		jm_rest_error(resp, 400, err);
	return err[0] == '\0';
}

/* POST /jobs/{id}/savepoints ({"target-directory", "cancel-job"}) and
 * POST /jobs/{id}/stop ({"targetDirectory", "drain"}): 202 with the
 * savepoint's checkpoint id as Flink's request id, and its path; follow it
 * in GET /jobs/{id}/checkpoints. */
static void
jm_rest_savepoint(jm_server *jm, const char *id, bool stop_route,
                  const wr_http_req *req, wr_http_resp *resp)
{
	jm_rest_sp_body b = {
	    .dir_key = stop_route ? "targetDirectory" : "target-directory",
	    .bool_key = stop_route ? "drain" : "cancel-job",
	};
	char rid[24];

	if (!jm_rest_query_only(req, NULL, resp) ||
	    !jm_rest_sp_parse(req, &b, resp))
		return;
	jm_cmd cmd = {
	    .kind = JM_CMD_SAVEPOINT,
	    .job_id = id,
	    .target_dir = b.dir[0] ? b.dir : NULL,
	    .stop = stop_route || b.flag,
	    .drain = stop_route && b.flag,
	};
	if (!jm_rest_cmd(jm, &cmd, resp))
		return;
	snprintf(rid, sizeof(rid), "%llu", (unsigned long long)cmd.ckpt_id);
	resp->status = 202;
	wr_json j;
	wr_json_init(&j, &resp->body);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "request-id", rid);
	wr_json_kv_str(&j, "path", cmd.url);
	wr_json_obj_end(&j);
}

/* Routes /jobs/{id}/{sub}. */
static void
jm_rest_job_sub(jm_server *jm, const char *id, const char *sub,
                const wr_http_req *req, wr_http_resp *resp)
{
	bool get = strcmp(req->method, "GET") == 0;
	bool post = strcmp(req->method, "POST") == 0;

	if (jm_rest_flink_job(jm, id, sub, req, resp))
		return;
	if (strcmp(sub, "checkpoints") == 0 && get)
		jm_rest_job_get(jm, id, true, req, resp);
	else if (strcmp(sub, "savepoints") == 0 && post)
		jm_rest_savepoint(jm, id, false, req, resp);
	else if (strcmp(sub, "stop") == 0 && post)
		jm_rest_savepoint(jm, id, true, req, resp);
	else if (strcmp(sub, "upgrade") == 0 && post)
		jm_rest_upgrade(jm, id, req, resp);
	else if (strncmp(sub, "upgrade/", 8) == 0 && get) {
		if (jm_rest_query_only(req, NULL, resp))
			jm_rest_upgrade_status(jm, sub + 8, resp);
	} else if (strcmp(sub, "checkpoints") == 0 ||
	           strcmp(sub, "savepoints") == 0 || strcmp(sub, "stop") == 0 ||
	           strncmp(sub, "upgrade", 7) == 0)
		jm_rest_error(resp, 405, "method not allowed");
	else
		jm_rest_error(resp, 404, "no such resource");
}

/* Routes everything under /jobs: /jobs, /jobs/{id}, /jobs/{id}/{sub}. */
static void
jm_rest_jobs(void *arg, const wr_http_req *req, wr_http_resp *resp)
{
	jm_server *jm = arg;
	const char *rest = req->path + strlen("/jobs");
	char id[64] = "", sub[128] = "";
	if (*rest == '/' && rest[1] != '\0') {
		const char *slash = strchr(rest + 1, '/');
		size_t idlen =
		    slash ? (size_t)(slash - rest - 1) : strlen(rest + 1);
		if (idlen == 0 || idlen >= sizeof(id) ||
		    (slash &&
		     (slash[1] == '\0' || strlen(slash + 1) >= sizeof(sub)))) {
			jm_rest_error(resp, 404, "no such resource");
			return;
		}
		snprintf(id, sizeof(id), "%.*s", (int)idlen, rest + 1);
		if (slash)
			snprintf(sub, sizeof(sub), "%s", slash + 1);
	}
	bool get = strcmp(req->method, "GET") == 0;
	/* Flink's /jobs/overview: the same list, whose entries have Flink's
	 * overview keys (a job id is never "overview") */
	bool list = id[0] == '\0' || (strcmp(id, "overview") == 0 && !sub[0]);
	if (sub[0] != '\0')
		jm_rest_job_sub(jm, id, sub, req, resp);
	else if (list && get) {
		if (jm_rest_query_only(req, NULL, resp))
			jm_snap_list(jm->snap, &resp->body);
	} else if (list && id[0] != '\0')
		jm_rest_error(resp, 405, "method not allowed");
	else if (id[0] == '\0' && strcmp(req->method, "POST") == 0)
		jm_rest_submit(jm, req, resp);
	else if (id[0] != '\0' && get)
		jm_rest_job_get(jm, id, false, req, resp);
	else if (id[0] != '\0' && strcmp(req->method, "PATCH") == 0)
		jm_rest_cancel(jm, id, req, resp);
	else
		jm_rest_error(resp, 405, "method not allowed");
}

int
jm_rest_jobs_init(jm_server *jm)
{
	int rv = wr_http_server_handle(jm->http, NULL, "/jobs", true,
	                               jm_rest_jobs, jm);
	if (rv == WR_OK)
		rv = wr_http_server_handle(jm->http, NULL, "/jobs/", true,
		                           jm_rest_jobs, jm);
	return rv;
}
