/*
 * cluster_config.c - the weir.yaml table. docs/configuration.md is generated
 * from it (weir-config-doc), so the doc strings here are the reference.
 */
#include "cluster_config.h"

#include "err.h"
#include "log.h"
#include "parse.h"
#include "wr_limits.h"

#include <stdarg.h>
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
_Static_assert(WR_LOG_TEXT == 0 && WR_LOG_JSON == 1, "log.format order");

static const wr_cfg_entry wr_cluster_config_entries[] = {
    {"jobmanager.rpc", WR_CFG_STRING, WR_CC(jm_rpc), 0, 0,
     "tcp://127.0.0.1:6123", NULL,
     "URL the JobManager listens on for RPC from TaskManagers and the CLI "
     "(loopback by default: tcp://0.0.0.0:6123 for other hosts)."},
    {"jobmanager.address", WR_CFG_STRING, WR_CC(jm_address), 0, 0,
     "tcp://127.0.0.1:6123", NULL,
     "URL TaskManagers and the CLI dial to reach the JobManager (with HA, "
     "every JobManager, comma-separated). Host names are resolved when "
     "dialing."},
    {"jobmanager.advertise", WR_CFG_STRING, WR_CC(jm_advertise), 0, 0, "", NULL,
     "This JobManager's RPC address as other hosts reach it: host, "
     "host:port or tcp://host:port (no port = the one jobmanager.rpc "
     "bound). With HA it is this JobManager's identity in the election and "
     "the leader address standbys hand out. Empty = jobmanager.address."},
    {"jobmanager.rest", WR_CFG_STRING, WR_CC(jm_rest), 0, 0, "127.0.0.1:8081",
     NULL,
     "host:port of the REST API and JobManager /metrics (loopback by "
     "default: 0.0.0.0:8081 for other hosts)."},
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
    {"taskmanager.rpc", WR_CFG_STRING, WR_CC(tm_rpc), 0, 0, "tcp://127.0.0.1:0",
     NULL,
     "URL the TaskManager listens on for RPC (port 0 = any free port; "
     "loopback by default: tcp://0.0.0.0:0 for other hosts)."},
    {"taskmanager.data", WR_CFG_STRING, WR_CC(tm_data), 0, 0,
     "tcp://127.0.0.1:0", NULL,
     "URL the TaskManager listens on for record batches from other "
     "TaskManagers (port 0 = any free port; loopback by default)."},
    {"taskmanager.metrics", WR_CFG_STRING, WR_CC(tm_metrics), 0, 0,
     "127.0.0.1:9249", NULL,
     "host:port serving /metrics, /healthz and /readyz (port 0 = any free "
     "port, as several TaskManagers on one host need)."},
    {"taskmanager.advertise", WR_CFG_STRING, WR_CC(tm_advertise), 0, 0, "",
     NULL,
     "Host name or IP other hosts reach this TaskManager at: its RPC, data "
     "and metrics addresses as given to the JobManager and its peers. "
     "Empty = the RPC listen host, or if that is a wildcard the local "
     "address that routes to the JobManager."},
    {"taskmanager.host", WR_CFG_STRING, WR_CC(tm_host), 0, 0, "", NULL,
     "Deprecated: the old name of taskmanager.advertise, used when that is "
     "empty."},
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
     "through etcd, or through a Kubernetes Lease (the job store then "
     "lives in checkpoints.storage; docs/operations.md, \"HA\")."},
    {"high_availability.cluster_id", WR_CFG_STRING, WR_CC(ha_cluster_id), 0, 0,
     "default", NULL,
     "Names this cluster in etcd: keys under /weir/<cluster_id>/. "
     "JobManagers with the same id elect one leader (mode kubernetes: "
     "those on the same Lease)."},
    {"high_availability.lease_duration", WR_CFG_DURATION, WR_CC(ha_lease_ms),
     1000, 10 * WR_MS_MINUTE, "3s", NULL,
     "How long a leadership lasts without renewal: a killed leader is "
     "replaced after at most this plus retry_period (etcd and the Lease's "
     "leaseDurationSeconds round it up to whole seconds)."},
    {"high_availability.renew_interval", WR_CFG_DURATION, WR_CC(ha_renew_ms),
     100, 5 * WR_MS_MINUTE, "1s", NULL,
     "How often the leader renews its lease; must be less than 2/3 of "
     "lease_duration (a leader steps down lease_duration - renew_interval/2 "
     "after its last confirmed renewal)."},
    {"high_availability.retry_period", WR_CFG_DURATION, WR_CC(ha_retry_ms), 100,
     5 * WR_MS_MINUTE, "250ms", NULL,
     "How often a standby campaigns: one cheap etcd transaction, or one "
     "read of the Lease (mode kubernetes); it adds at most this to a "
     "takeover."},
    {"high_availability.etcd.endpoints", WR_CFG_LIST, WR_CC(ha_etcd_endpoints),
     0, 0, "http://127.0.0.1:2379", NULL,
     "etcd client URLs (a list, or one comma-separated string), tried in "
     "order."},
    {"high_availability.kubernetes.namespace", WR_CFG_STRING,
     WR_CC(ha_k8s_namespace), 0, 0, "default", NULL, "Namespace of the Lease."},
    {"high_availability.kubernetes.lease", WR_CFG_STRING, WR_CC(ha_k8s_lease),
     0, 0, "weir-leader", NULL, "Name of the coordination.k8s.io/v1 Lease."},
    {"high_availability.kubernetes.api", WR_CFG_STRING, WR_CC(ha_k8s_api), 0, 0,
     "", NULL,
     "API server URL; empty = https://$KUBERNETES_SERVICE_HOST:"
     "$KUBERNETES_SERVICE_PORT (in a pod)."},
    {"high_availability.kubernetes.token_file", WR_CFG_STRING,
     WR_CC(ha_k8s_token_file), 0, 0,
     "/var/run/secrets/kubernetes.io/serviceaccount/token", NULL,
     "Bearer token of the pod's service account; empty = none."},
    {"high_availability.kubernetes.ca_file", WR_CFG_STRING,
     WR_CC(ha_k8s_ca_file), 0, 0,
     "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", NULL,
     "CA bundle the API server's certificate is checked against; empty = "
     "the system's CAs."},
    {"kafka.bootstrap", WR_CFG_STRING, WR_CC(kafka_bootstrap), 0, 0,
     "127.0.0.1:9092", NULL,
     "Kafka bootstrap servers (host:port, comma-separated): on a "
     "TaskManager, those of every job's Kafka source and sink that sets "
     "no bootstrap; for the CLI, those of gen, produce and consume."},
    {"kafka.fetch_wait", WR_CFG_DURATION, WR_CC(kafka_fetch_wait_ms), 0,
     WR_KAFKA_MAX_FETCH_WAIT_MS, "10ms", NULL,
     "How long the broker may hold a Kafka source's fetch while it has "
     "nothing new (librdkafka's fetch.wait.max.ms). The longest a record "
     "can sit in a broker unseen when a broker does not answer a held "
     "fetch on new data (the embedded Kafka); a real broker answers at "
     "once. See docs/benchmarks.md, \"Where the Kafka latency goes\"."},
    {"kafka.linger", WR_CFG_DURATION, WR_CC(kafka_linger_ms), 0,
     WR_KAFKA_MAX_LINGER_MS, "5ms", NULL,
     "How long a Kafka sink's producer waits to fill a batch "
     "(librdkafka's linger.ms): 0 sends at once, more makes fewer, "
     "bigger batches. See docs/benchmarks.md, \"Where the Kafka latency "
     "goes\"."},
    {"security.token_file", WR_CFG_STRING, WR_CC(token_file), 0, 0, "", NULL,
     "File holding the cluster token: every RPC, shuffle fetch and REST "
     "request (Authorization: Bearer) must carry it, but /healthz and "
     "/readyz; a missing or empty file stops the daemon. Empty = no "
     "authentication. See docs/security.md."},
    {"security.tls.cert", WR_CFG_STRING, WR_CC(tls_cert), 0, 0, "", NULL,
     "PEM certificate (chain) of this process. With it and key set, every "
     "listener serves TLS (RPC and shuffle as tls+tcp://, REST and "
     "/metrics as HTTPS) and every dialer uses TLS; addresses stay "
     "tcp://. Empty = no TLS. See docs/security.md."},
    {"security.tls.key", WR_CFG_STRING, WR_CC(tls_key), 0, 0, "", NULL,
     "PEM private key of security.tls.cert (unencrypted)."},
    {"security.tls.ca", WR_CFG_STRING, WR_CC(tls_ca), 0, 0, "", NULL,
     "PEM CA bundle peers' certificates are verified against: servers' "
     "by every dialer, clients' by RPC and shuffle listeners (mutual "
     "TLS). Empty = peers are not verified."},
    {"security.allowed_paths", WR_CFG_STRING, WR_CC(allowed_paths), 0, 0, "",
     NULL,
     "Directories (absolute paths or s3:// URLs, comma-separated) a job's "
     "file sinks and sources, savepoints and restores may use; checked at "
     "submit and at the savepoint request. Empty = anywhere. See "
     "docs/security.md."},
    {"security.allowed_kafka", WR_CFG_STRING, WR_CC(allowed_kafka), 0, 0, "",
     NULL,
     "Kafka servers a job may name as its own bootstrap (host, host:port or "
     "*.domain, comma-separated); the cluster's kafka.bootstrap is always "
     "allowed. Empty = any."},
    {"security.allowed_hosts", WR_CFG_STRING, WR_CC(allowed_hosts), 0, 0, "",
     NULL,
     "Database hosts a job's sinks may connect to (host or *.domain, "
     "comma-separated; a DSN naming none or a Unix socket is localhost). "
     "Empty = any."},
    {"log.level", WR_CFG_ENUM, WR_CC(log_level), 0, 0, "info",
     "debug|info|warn|error", "Lowest level of log lines written."},
    {"log.format", WR_CFG_ENUM, WR_CC(log_format), 0, 0, "text", "text|json",
     "Format of the log lines on stderr: text (time level component event "
     "message) or json (one object per line: time, level, event, "
     "component, job_id and task when the line is about one, message). "
     "See docs/operations.md."},
    {"metrics.ended_job_grace", WR_CFG_DURATION,
     WR_CC(metrics_ended_job_grace_ms), 0, WR_MS_HOUR, "60s", NULL,
     "How long the series of an ended job (or of a task that left a "
     "TaskManager) stay in /metrics after it ended, so that a last scrape "
     "sees their final values; then they disappear."},
};

const wr_cfg_table wr_cluster_config_table = {
    .title = "weir.yaml",
    .env_prefix = "WEIR_",
    .entries = wr_cluster_config_entries,
    .n = sizeof(wr_cluster_config_entries) /
         sizeof(wr_cluster_config_entries[0]),
};

/* "where: what" for a rule broken by key name (wr_cfg_where). */
static int __attribute__((format(printf, 5, 6)))
wr_cluster_config_fail(const char *path, const char *name, char *errbuf,
                       size_t errlen, const char *fmt, ...)
{
	char where[512], what[512];
	va_list ap;

	wr_cfg_where(&wr_cluster_config_table, path, name, where,
	             sizeof(where));
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(errbuf, errlen, "%s%s", where, what);
	return WR_EINVAL;
}

/* Rules across the high_availability keys. */
static int
wr_cluster_config_check_ha(const wr_cluster_config *cfg, const char *path,
                           char *errbuf, size_t errlen)
{
	char a[32], b[32];

	/* A leader steps down lease_duration - renew_interval/2 after its
	 * last renewal: the next one must come before, or leadership flaps
	 * (renew_interval < 2/3 lease_duration). */
	if (3 * cfg->ha_renew_ms >= 2 * cfg->ha_lease_ms) {
		wr_format_duration(cfg->ha_renew_ms, a, sizeof(a));
		wr_format_duration(cfg->ha_lease_ms, b, sizeof(b));
		return wr_cluster_config_fail(
		    path, "high_availability.renew_interval", errbuf, errlen,
		    "high_availability.renew_interval (%s) must be less than "
		    "2/3 of high_availability.lease_duration (%s): the leader "
		    "steps down lease_duration - renew_interval/2 after a "
		    "renewal, before the next one",
		    a, b);
	}
	if (cfg->ha_cluster_id[0] == '\0' ||
	    strpbrk(cfg->ha_cluster_id, "/ \t\n") != NULL)
		return wr_cluster_config_fail(
		    path, "high_availability.cluster_id", errbuf, errlen,
		    "high_availability.cluster_id '%s' must be non-empty, "
		    "without '/' or spaces (it is a key prefix)",
		    cfg->ha_cluster_id);
	if (cfg->ha_mode == WR_HA_ETCD && cfg->ha_etcd_endpoints[0] == '\0')
		return wr_cluster_config_fail(
		    path, "high_availability.etcd.endpoints", errbuf, errlen,
		    "high_availability.etcd.endpoints must list at least one "
		    "URL with mode etcd");
	return WR_OK;
}

/* Rules across keys, which the per-key table cannot express. */
static int
wr_cluster_config_check(const wr_cluster_config *cfg, const char *path,
                        char *errbuf, size_t errlen)
{
	char iv[32], to[32];

	/* A timeout no longer than the interval would declare a healthy
	 * TaskManager lost between two heartbeats. */
	if (cfg->jm_heartbeat_timeout_ms <= cfg->jm_heartbeat_interval_ms) {
		wr_format_duration(cfg->jm_heartbeat_interval_ms, iv,
		                   sizeof(iv));
		wr_format_duration(cfg->jm_heartbeat_timeout_ms, to,
		                   sizeof(to));
		return wr_cluster_config_fail(
		    path, "jobmanager.heartbeat_timeout", errbuf, errlen,
		    "jobmanager.heartbeat_timeout (%s) must be greater than "
		    "jobmanager.heartbeat_interval (%s)",
		    to, iv);
	}
	/* A grace no longer than the timeout would cancel the tasks of a
	 * TaskManager the JobManager still counts as alive. */
	if (cfg->tm_adoption_grace_ms <= cfg->jm_heartbeat_timeout_ms) {
		wr_format_duration(cfg->tm_adoption_grace_ms, iv, sizeof(iv));
		wr_format_duration(cfg->jm_heartbeat_timeout_ms, to,
		                   sizeof(to));
		return wr_cluster_config_fail(
		    path, "taskmanager.adoption_grace", errbuf, errlen,
		    "taskmanager.adoption_grace (%s) must be greater than "
		    "jobmanager.heartbeat_timeout (%s)",
		    iv, to);
	}
	return wr_cluster_config_check_ha(cfg, path, errbuf, errlen);
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
	return wr_cluster_config_check(cfg, path, errbuf, errlen);
}

void
wr_cluster_config_free(wr_cluster_config *cfg)
{
	wr_cfg_free(&wr_cluster_config_table, cfg);
}
