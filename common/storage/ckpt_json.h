/*
 * ckpt_json.h - a job's checkpoint history as JSON: the object of
 * GET /jobs/{id}/checkpoints (jobmanager/rest_jobs.c), which `weir
 * checkpoints -o json` prints too (cli/cli_rpc.c). One builder, so the two
 * cannot drift apart. Flink-shaped:
 *
 *   {"counts": {"completed", "failed", "in_progress", "restored" (0|1),
 *               "total"},
 *    "latest": {"completed": ENTRY|null,   newest completed checkpoint
 *               "savepoint": ENTRY|null,   newest completed savepoint
 *               "restored": {"id", "external_path"}|null},
 *    "restarts": N,
 *    "history": [ENTRY...]}                newest first
 *
 *   ENTRY = {"id", "status" (IN_PROGRESS|COMPLETED|FAILED), "is_savepoint",
 *            "trigger_timestamp" (epoch ms), "end_to_end_duration" (ms),
 *            "state_size" (bytes), "alignment_duration" (ms),
 *            "sync_duration", "async_duration" (ms: the longest part of a
 *            task's snapshot that held it, and that ran beside it),
 *            "external_path" (URL|null), "failure_message" (text|null),
 *            "num_acknowledged_subtasks", "num_subtasks"}
 */
#ifndef WR_CKPT_JSON_H
#define WR_CKPT_JSON_H

#include "json.h"

struct Weir__CheckpointList;

/* Writes l as one JSON value at j's current position. */
void wr_ckpt_list_json(wr_json *j, const struct Weir__CheckpointList *l);

#endif
