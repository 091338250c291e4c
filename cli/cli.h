/*
 * cli.h - the weir command-line client: shared pieces of the verbs.
 *
 * Exit codes (SPEC): 0 ok, 1 operation failed, 2 usage error, 3 cannot reach
 * the JobManager.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "cluster_config.h"
#include "wr_limits.h"

enum {
	CLI_OK = 0,
	CLI_FAILED = 1,
	CLI_USAGE = 2,
	CLI_UNREACHABLE = 3,
};

struct wr_rpc_client;

typedef struct cli_ctx {
	const char *jobmanager; /* --jobmanager, env WEIR_JOBMANAGER, default */
	const char *config;     /* --config FILE or NULL */
	bool json;              /* -o json */
	wr_cluster_config cfg;  /* loaded from --config (or defaults) + env */
} cli_ctx;

typedef struct cli_verb {
	const char *name;
	int (*fn)(cli_ctx *ctx, int argc, char **argv);
	const char *summary;
} cli_verb;

/* Connects to the JobManager (--jobmanager). On failure prints why and
 * returns CLI_UNREACHABLE; *out is NULL then. */
int cli_connect(cli_ctx *ctx, struct wr_rpc_client **out);

/* Maps a failed RPC call to an exit code, printing "weir VERB: ..." */
int cli_rpc_failed(const char *verb, const char *addr, int rv,
                   const char *errbuf);

/* The Kafka bootstrap to use: --bootstrap, else kafka.bootstrap of the
 * config (env WEIR_KAFKA_BOOTSTRAP overrides it). */
const char *cli_bootstrap(cli_ctx *ctx, const char *flag);

/*
 * Copies a job id given on the command line into out (lowercase, as the
 * JobManager makes them). Returns false, with the reason printed as
 * "weir VERB: ...", when it is not 32 hex characters: no JobManager could
 * know it (a usage error).
 */
bool cli_job_id_arg(const char *verb, const char *arg, char out[WR_ID_BYTES]);

/*
 * Flags of the verbs that take one job id and nothing else (info, cancel,
 * checkpoints): --help prints usage to stdout. Returns CLI_OK with the id
 * in id, CLI_USAGE (usage printed to stderr), or -1 after --help.
 */
int cli_job_id_flags(const char *verb, void (*usage)(FILE *), int argc,
                     char **argv, char id[WR_ID_BYTES]);

/* Whether a failed poll may be the JobManager being briefly busy or
 * reconnecting, worth asking again (timeouts, refused or lost
 * connections). */
bool cli_rpc_transient(int rv);

/* FINISHED, FAILED or CANCELED: the job will not change any more. */
bool cli_job_state_terminal(const char *state);

/* The verbs. */
int cli_cluster(cli_ctx *ctx, int argc, char **argv);
int cli_local(cli_ctx *ctx, int argc, char **argv);
int cli_produce(cli_ctx *ctx, int argc, char **argv);
int cli_consume(cli_ctx *ctx, int argc, char **argv);
int cli_topic(cli_ctx *ctx, int argc, char **argv);
int cli_run(cli_ctx *ctx, int argc, char **argv);
int cli_list(cli_ctx *ctx, int argc, char **argv);
int cli_info(cli_ctx *ctx, int argc, char **argv);
int cli_cancel(cli_ctx *ctx, int argc, char **argv);
int cli_checkpoints(cli_ctx *ctx, int argc, char **argv);
int cli_savepoint(cli_ctx *ctx, int argc, char **argv);
int cli_stop(cli_ctx *ctx, int argc, char **argv);
int cli_gen(cli_ctx *ctx, int argc, char **argv);
int cli_validate(cli_ctx *ctx, int argc, char **argv);

/* Default directory of `weir local` (and where `weir topic` looks for it). */
const char *cli_local_default_dir(void);

#endif
