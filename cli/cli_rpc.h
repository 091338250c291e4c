/* cli_rpc.h - the CLI's requests, translated from/to protobuf in cli_rpc.c. */
#ifndef CLI_RPC_H
#define CLI_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "wr_limits.h"

struct wr_rpc_client;

typedef struct cli_tm {
	char id[WR_ADDR_BYTES];
	char address[WR_ADDR_BYTES];
	char state[16];
	uint32_t slots_total, slots_free;
	uint64_t last_heartbeat_ms_ago;
} cli_tm;

typedef struct cli_cluster_info {
	char leader[WR_ADDR_BYTES];
	size_t n;
	cli_tm *tms; /* heap; cli_cluster_info_fini */
} cli_cluster_info;

int cli_rpc_cluster_info(struct wr_rpc_client *cli, int timeout_ms,
                         cli_cluster_info *out, char *errbuf, size_t errlen);
void cli_cluster_info_fini(cli_cluster_info *ci);

/* Asks the `weir local` admin endpoint to create a topic. */
int cli_rpc_create_topic(struct wr_rpc_client *cli, int timeout_ms,
                         const char *name, int partitions, char *errbuf,
                         size_t errlen);

#endif
