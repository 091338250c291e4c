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

#include "cluster_config.h"

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
int cli_gen(cli_ctx *ctx, int argc, char **argv);
int cli_validate(cli_ctx *ctx, int argc, char **argv);

/* Default directory of `weir local` (and where `weir topic` looks for it). */
const char *cli_local_default_dir(void);

#endif
