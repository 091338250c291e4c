/*
 * cluster_config.c - the weir.yaml table. docs/configuration.md is generated
 * from it (weir-config-doc), so the doc strings here are the reference.
 */
#include "cluster_config.h"

#include "err.h"
#include "log.h"
#include "parse.h"
#include "wr_limits.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define WR_MS_SECOND ((int64_t)1000)
#define WR_MS_MINUTE (60 * WR_MS_SECOND)
#define WR_MS_HOUR   (60 * WR_MS_MINUTE)

#define WR_CC(field) offsetof(wr_cluster_config, field)

/* The enum tables below index these lists. */
_Static_assert(WR_HA_NONE == 0 && WR_HA_ETCD == 1 && WR_HA_KUBERNETES == 2,
               "high_availability.mode order");
_Static_assert(WR_LOG_DEBUG == 0 && WR_LOG_INFO == 1 && WR_LOG_WARN == 2 &&
                   WR_LOG_ERROR == 3,
               "log.level order");

static const wr_cfg_entry wr_cluster_config_entries[] = {
    {"jobmanager.rpc", WR_CFG_STRING, WR_CC(jm_rpc), 0, 0, "tcp://0.0.0.0:6123",
     NULL,
     "URL the JobManager listens on for RPC from TaskManagers and the CLI."},
    {"jobmanager.address", WR_CFG_STRING, WR_CC(jm_address), 0, 0,
     "tcp://127.0.0.1:6123", NULL,
     "URL TaskManagers and the CLI dial to reach the JobManager."},
    {"jobmanager.rest", WR_CFG_STRING, WR_CC(jm_rest), 0, 0, "0.0.0.0:8081",
     NULL, "host:port of the REST API and JobManager /metrics."},
    {"jobmanager.heartbeat_interval", WR_CFG_DURATION,
     WR_CC(jm_heartbeat_interval_ms), 100, WR_MS_HOUR, "1s", NULL,
     "How often TaskManagers send heartbeats."},
    {"jobmanager.heartbeat_timeout", WR_CFG_DURATION,
     WR_CC(jm_heartbeat_timeout_ms), 200, WR_MS_HOUR, "5s", NULL,
     "Silence after which a TaskManager is declared lost; must exceed "
     "heartbeat_interval."},
    {"jobmanager.rpc_timeout", WR_CFG_DURATION, WR_CC(jm_rpc_timeout_ms), 100,
     10 * WR_MS_MINUTE, "10s", NULL,
     "Time limit of one control RPC before it fails."},
    {"taskmanager.rpc", WR_CFG_STRING, WR_CC(tm_rpc), 0, 0, "tcp://0.0.0.0:0",
     NULL, "URL the TaskManager listens on for RPC (port 0 = any free port)."},
    {"taskmanager.data", WR_CFG_STRING, WR_CC(tm_data), 0, 0, "tcp://0.0.0.0:0",
     NULL,
     "URL the TaskManager listens on for record batches from other "
     "TaskManagers (port 0 = any free port)."},
    {"taskmanager.host", WR_CFG_STRING, WR_CC(tm_host), 0, 0, "", NULL,
     "Host name or address advertised to the JobManager and peers; empty = "
     "detect."},
    {"taskmanager.metrics", WR_CFG_STRING, WR_CC(tm_metrics), 0, 0, "0.0.0.0:0",
     NULL,
     "host:port serving /metrics, /healthz and /readyz (port 0 = any free "
     "port)."},
    {"taskmanager.slots", WR_CFG_INT, WR_CC(tm_slots), 1, WR_MAX_SLOTS_PER_TM,
     "2", NULL, "Task slots this TaskManager offers."},
    {"taskmanager.state_dir", WR_CFG_STRING, WR_CC(tm_state_dir), 0, 0,
     "/var/lib/weir/state", NULL,
     "Directory of the local keyed state (LMDB) of this TaskManager."},
    {"taskmanager.adoption_grace", WR_CFG_DURATION, WR_CC(tm_adoption_grace_ms),
     1000, WR_MS_HOUR, "30s", NULL,
     "How long a TaskManager that no JobManager confirms keeps its tasks "
     "for a JobManager to adopt them (their sinks write nothing once "
     "heartbeat_timeout passed); then it cancels them. Must exceed "
     "jobmanager.heartbeat_timeout. 30s outlasts a JobManager restart or a "
     "leader takeover and stays below Kafka's transaction timeouts."},
    {"checkpoints.storage", WR_CFG_STRING, WR_CC(ckpt_storage), 0, 0,
     "file:///var/lib/weir/checkpoints", NULL,
     "Where checkpoints are written: file:///path or s3://bucket/prefix."},
    {"high_availability.mode", WR_CFG_ENUM, WR_CC(ha_mode), 0, 0, "none",
     "none|etcd|kubernetes",
     "Leader election for JobManager failover: none (a single JobManager), "
     "through etcd, or through a Kubernetes Lease. Only none runs today: "
     "a JobManager refuses to start with another mode rather than ignore "
     "it (docs/status.md)."},
    {"kafka.bootstrap", WR_CFG_STRING, WR_CC(kafka_bootstrap), 0, 0,
     "127.0.0.1:9092", NULL,
     "Kafka bootstrap servers (host:port, comma-separated)."},
    {"security.token_file", WR_CFG_STRING, WR_CC(token_file), 0, 0, "", NULL,
     "File holding the shared secret for RPC and REST; empty = no "
     "authentication."},
    {"log.level", WR_CFG_ENUM, WR_CC(log_level), 0, 0, "info",
     "debug|info|warn|error", "Lowest level of log lines written."},
};

const wr_cfg_table wr_cluster_config_table = {
    .title = "weir.yaml",
    .env_prefix = "WEIR_",
    .entries = wr_cluster_config_entries,
    .n = sizeof(wr_cluster_config_entries) /
         sizeof(wr_cluster_config_entries[0]),
};

/* Rules across keys, which the per-key table cannot express. */
static int
wr_cluster_config_check(const wr_cluster_config *cfg, char *errbuf,
                        size_t errlen)
{
	char iv[32], to[32];

	/* A timeout no longer than the interval would declare a healthy
	 * TaskManager lost between two heartbeats. */
	if (cfg->jm_heartbeat_timeout_ms <= cfg->jm_heartbeat_interval_ms) {
		wr_format_duration(cfg->jm_heartbeat_interval_ms, iv,
		                   sizeof(iv));
		wr_format_duration(cfg->jm_heartbeat_timeout_ms, to,
		                   sizeof(to));
		snprintf(
		    errbuf, errlen,
		    "jobmanager.heartbeat_timeout (%s) must be greater than "
		    "jobmanager.heartbeat_interval (%s)",
		    to, iv);
		return WR_EINVAL;
	}
	/* A grace no longer than the timeout would cancel the tasks of a
	 * TaskManager the JobManager still counts as alive. */
	if (cfg->tm_adoption_grace_ms <= cfg->jm_heartbeat_timeout_ms) {
		wr_format_duration(cfg->tm_adoption_grace_ms, iv, sizeof(iv));
		wr_format_duration(cfg->jm_heartbeat_timeout_ms, to,
		                   sizeof(to));
		snprintf(errbuf, errlen,
		         "taskmanager.adoption_grace (%s) must be greater than "
		         "jobmanager.heartbeat_timeout (%s)",
		         iv, to);
		return WR_EINVAL;
	}
	return WR_OK;
}

int
wr_cluster_config_load(wr_cluster_config *cfg, const char *path, char *errbuf,
                       size_t errlen)
{
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	wr_cfg_defaults(&wr_cluster_config_table, cfg);
	if (path != NULL) {
		rc = wr_cfg_load_file(&wr_cluster_config_table, cfg, path,
		                      errbuf, errlen);
		if (rc != WR_OK)
			return rc;
	}
	rc = wr_cfg_apply_env(&wr_cluster_config_table, cfg, errbuf, errlen);
	if (rc != WR_OK)
		return rc;
	return wr_cluster_config_check(cfg, errbuf, errlen);
}

void
wr_cluster_config_free(wr_cluster_config *cfg)
{
	wr_cfg_free(&wr_cluster_config_table, cfg);
}
