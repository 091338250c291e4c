/* local.h - pieces of `weir local` shared between its files. */
#ifndef CLI_LOCAL_H
#define CLI_LOCAL_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "wr_limits.h"

struct cli_lkafka;
struct wr_rpc_req;

/* Answers one admin request (topic creation or deletion).
 * @thread local main */
void cli_local_dispatch(struct cli_lkafka *k, struct wr_rpc_req *req);

/* Parses "NAME:PARTITIONS" (":PARTITIONS" optional, default 1) into name
 * (namelen bytes) and *partitions. Returns 0 or -1. */
int cli_topic_spec(const char *spec, char *name, unsigned namelen,
                   int *partitions);

/* Kafka's rule for a topic name: 1..249 of [A-Za-z0-9._-], not . or ..;
 * false with why in errbuf. */
bool cli_topic_name_ok(const char *name, char *errbuf, size_t errlen);

/* The admin address file inside a local cluster's directory. */
#define CLI_LOCAL_ADMIN_FILE "admin.address"
/* The shell file that points weir at a local cluster (`. DIR/weir.env`). */
#define CLI_LOCAL_ENV_FILE "weir.env"

/* A process `weir local` started: pid 0 once it has been reaped. */
typedef struct cli_child {
	pid_t pid;
	char name[32];
	char log[PATH_MAX];
} cli_child;

/* Starts argv (argv[0] a path, or a name looked up in PATH) as c, named
 * name, its output appended to DIR/log/NAME.log, in its own process group
 * and dying with this process (PR_SET_PDEATHSIG). Returns 0 or -1. */
int cli_local_spawn_argv(const char *dir, cli_child *c, const char *name,
                         char *const argv[]);

/* Loopback ports a local cluster has taken or picked (so that two picks
 * never collide). */
typedef struct cli_local_ports {
	int v[CLI_LOCAL_MAX_PORTS];
	int n;
} cli_local_ports;

/* A loopback TCP port free now, added to p: below the kernel's ephemeral
 * range, where no outgoing connection can take it before the listener
 * binds it. -1 when none is found. */
int cli_local_free_port(cli_local_ports *p);

/*
 * Starts the embedded single-member etcd of `weir local --jobmanagers N`:
 * Debian's etcd-server, data in DIR/etcd, client and peer URLs on free
 * loopback ports (from p), log in DIR/log/etcd.log; waits (bounded) until
 * it answers. url (urllen bytes) gets its client URL. stop ends the wait
 * early (a signal). Returns CLI_OK, or CLI_FAILED with the reason printed
 * (no etcd installed: the package to install).
 */
int cli_local_etcd_start(const char *dir, cli_local_ports *p, cli_child *c,
                         char *url, size_t urllen, volatile sig_atomic_t *stop);

/* Writes DIR/weir.env: shell exports of the JobManagers (comma-separated
 * list), the Kafka bootstrap, the REST URLs, every daemon's /metrics URL
 * (WEIR_METRICS), the admin endpoint and, when
 * etcd_url is not NULL, etcd, and when token_file is not NULL,
 * WEIR_TOKEN_FILE. Returns 0 or -1. */
int cli_local_write_env(const char *dir, const char *jobmanagers,
                        const char *kafka, const char *rest,
                        const char *metrics, const char *admin,
                        const char *etcd_url, const char *token_file);

#endif
