/*
 * ckpt_json.c - a job's checkpoint history (a protobuf CheckpointList) as
 * JSON, for the REST API and `weir checkpoints -o json`; see ckpt_json.h.
 */
#include "ckpt_json.h"

#include "weir.pb-c.h"

#include <string.h>

static void
wr_ckpt_json_str_or_null(wr_json *j, const char *key, const char *s)
{
	wr_json_key(j, key);
	if (s != NULL && s[0] != '\0')
		wr_json_str(j, s);
	else
		wr_json_null(j);
}

static void
wr_ckpt_json_entry(wr_json *j, const Weir__CheckpointInfo *c)
{
	wr_json_obj_begin(j);
	wr_json_key(j, "id");
	wr_json_uint(j, c->id);
	wr_json_kv_str(j, "status", c->status);
	wr_json_kv_bool(j, "is_savepoint",
	                c->has_is_savepoint && c->is_savepoint);
	wr_json_key(j, "trigger_timestamp");
	wr_json_uint(j, c->trigger_time_ms);
	wr_json_key(j, "end_to_end_duration");
	wr_json_uint(j, c->duration_ms);
	wr_json_key(j, "state_size");
	wr_json_uint(j, c->size_bytes);
	wr_json_key(j, "alignment_duration");
	wr_json_uint(j, c->alignment_ms);
	wr_json_key(j, "sync_duration");
	wr_json_uint(j, c->sync_ms);
	wr_json_key(j, "async_duration");
	wr_json_uint(j, c->async_ms);
	wr_ckpt_json_str_or_null(j, "external_path", c->path);
	wr_ckpt_json_str_or_null(j, "failure_message", c->failure);
	wr_json_key(j, "num_acknowledged_subtasks");
	wr_json_uint(j, c->acks);
	wr_json_key(j, "num_subtasks");
	wr_json_uint(j, c->tasks);
	wr_json_obj_end(j);
}

static bool
wr_ckpt_json_completed(const Weir__CheckpointInfo *c, bool savepoint)
{
	return strcmp(c->status, "COMPLETED") == 0 &&
	       (c->has_is_savepoint && c->is_savepoint) == savepoint;
}

/* "latest": the newest completed checkpoint and savepoint (the history is
 * newest first), and what the job restored from. */
static void
wr_ckpt_json_latest(wr_json *j, const Weir__CheckpointList *l)
{
	static const char *const keys[] = {"completed", "savepoint"};

	wr_json_key(j, "latest");
	wr_json_obj_begin(j);
	for (int k = 0; k < 2; k++) {
		const Weir__CheckpointInfo *found = NULL;
		for (size_t i = 0; found == NULL && i < l->n_checkpoints; i++)
			if (wr_ckpt_json_completed(l->checkpoints[i], k == 1))
				found = l->checkpoints[i];
		wr_json_key(j, keys[k]);
		if (found != NULL)
			wr_ckpt_json_entry(j, found);
		else
			wr_json_null(j);
	}
	wr_json_key(j, "restored");
	if (l->restored_id > 0) {
		wr_json_obj_begin(j);
		wr_json_key(j, "id");
		wr_json_uint(j, l->restored_id);
		wr_ckpt_json_str_or_null(j, "external_path", l->restored_path);
		wr_json_obj_end(j);
	} else {
		wr_json_null(j);
	}
	wr_json_obj_end(j);
}

void
wr_ckpt_list_json(wr_json *j, const Weir__CheckpointList *l)
{
	wr_json_obj_begin(j);
	wr_json_key(j, "counts");
	wr_json_obj_begin(j);
	wr_json_key(j, "completed");
	wr_json_uint(j, l->completed);
	wr_json_key(j, "failed");
	wr_json_uint(j, l->failed);
	wr_json_key(j, "in_progress");
	wr_json_uint(j, l->in_progress);
	wr_json_kv_int(j, "restored", l->restored_id > 0 ? 1 : 0);
	wr_json_key(j, "total");
	wr_json_uint(j, l->completed + l->failed + l->in_progress);
	wr_json_obj_end(j);
	wr_ckpt_json_latest(j, l);
	wr_json_key(j, "restarts");
	wr_json_uint(j, l->restarts);
	wr_json_key(j, "history");
	wr_json_arr_begin(j);
	for (size_t i = 0; i < l->n_checkpoints; i++)
		wr_ckpt_json_entry(j, l->checkpoints[i]);
	wr_json_arr_end(j);
	wr_json_obj_end(j);
}
