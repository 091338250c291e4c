/*
 * cluster_config.h - weir.yaml, the configuration every daemon and the CLI
 * read. Keys and defaults follow ../SPEC.md; the table in cluster_config.c
 * is the single source (docs/configuration.md is generated from it).
 */
#ifndef WR_CLUSTER_CONFIG_H
#define WR_CLUSTER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum wr_ha_mode { WR_HA_NONE = 0, WR_HA_ETCD = 1, WR_HA_KUBERNETES = 2 };

typedef struct wr_cluster_config {
	/* jobmanager */
	char *jm_rpc;       /* listen URL */
	char *jm_address;   /* URL TaskManagers and the CLI dial */
	char *jm_advertise; /* own RPC URL for others; "" = jm_address */
	char *jm_rest;      /* host:port of REST/metrics */
	int64_t jm_heartbeat_interval_ms;
	int64_t jm_heartbeat_timeout_ms;
	int64_t jm_rpc_timeout_ms;
	/* taskmanager */
	char *tm_rpc;
	char *tm_data;
	char *tm_metrics;   /* host:port for /metrics; port 0 = any */
	char *tm_advertise; /* advertised host; "" = detect */
	char *tm_host;      /* deprecated alias of tm_advertise */
	int64_t tm_slots;
	char *tm_state_dir;
	int64_t tm_adoption_grace_ms; /* unadopted tasks end after it */
	/* checkpoints */
	char *ckpt_storage;
	/* high_availability */
	int ha_mode;
	char *ha_cluster_id;
	int64_t ha_lease_ms;
	int64_t ha_renew_ms;
	int64_t ha_retry_ms;
	char *ha_etcd_endpoints; /* comma-separated URLs */
	char *ha_k8s_namespace;
	char *ha_k8s_lease;
	char *ha_k8s_api; /* "" = https://$KUBERNETES_SERVICE_HOST:PORT */
	char *ha_k8s_token_file;
	char *ha_k8s_ca_file;
	/* kafka */
	char *kafka_bootstrap;
	int64_t kafka_fetch_wait_ms; /* sources' fetch.wait.max.ms */
	int64_t kafka_linger_ms;     /* sinks' linger.ms */
	/* security */
	char *token_file;
	char *tls_cert; /* security.tls: PEM files (tls.h) */
	char *tls_key;
	char *tls_ca;
	char *allowed_paths; /* security: what a job may touch (policy.h) */
	char *allowed_kafka;
	char *allowed_hosts;
	/* log */
	int log_level;
	int log_format; /* enum wr_log_format */
	/* metrics */
	int64_t metrics_ended_job_grace_ms; /* an ended job's series go */
} wr_cluster_config;

extern const wr_cfg_table wr_cluster_config_table;

/*
 * Loads the cluster config: defaults, then path (if not NULL), then the
 * environment. On error, errbuf holds "file:line:col: ..." and *cfg must
 * still be released with wr_cluster_config_free.
 */
int wr_cluster_config_load(wr_cluster_config *cfg, const char *path,
                           char *errbuf, size_t errlen);
void wr_cluster_config_free(wr_cluster_config *cfg);

#endif
