/*
 * rpc_tool.c - sends one control-plane request with a chosen leader epoch,
 * as a JobManager of that epoch would, for integration tests of fencing
 * (tests/integration/test_adoption.py).
 *
 *   rpc_tool ping URL EPOCH     a Ping to a TaskManager's RPC address
 *
 * Exit status: 0 answered, 1 failed (the message on stderr), 2 usage,
 * 3 refused for its epoch (WR_EPERM; the TaskManager's message on
 * stderr).
 */
#include "err.h"
#include "rpc.h"
#include "weir.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOOL_EXIT_FAIL    1
#define TOOL_EXIT_USAGE   2
#define TOOL_EXIT_REFUSED 3
#define TOOL_TIMEOUT_MS   5000

int
main(int argc, char **argv)
{
	if (argc != 4 || strcmp(argv[1], "ping") != 0) {
		fprintf(stderr, "usage: rpc_tool ping URL EPOCH\n");
		return TOOL_EXIT_USAGE;
	}
	char *end;
	unsigned long long epoch = strtoull(argv[3], &end, 10);
	if (*argv[3] == '\0' || *end != '\0') {
		fprintf(stderr, "rpc_tool: bad epoch '%s'\n", argv[3]);
		return TOOL_EXIT_USAGE;
	}
	wr_rpc_client *cli;
	int rv = wr_rpc_client_new(argv[2], WR_RPC_DIAL_SYNC, &cli);
	if (rv != WR_OK) {
		fprintf(stderr, "rpc_tool: %s: %s\n", argv[2], wr_strerror(rv));
		return TOOL_EXIT_FAIL;
	}
	Weir__Envelope env = WEIR__ENVELOPE__INIT;
	Weir__Ping ping = WEIR__PING__INIT;
	ping.jm_instance = "rpc_tool";
	env.has_epoch = epoch != 0;
	env.epoch = epoch;
	env.body_case = WEIR__ENVELOPE__BODY_PING;
	env.ping = &ping;
	wr_msg *rep = NULL;
	char err[512] = "";
	rv = wr_rpc_call(cli, &env, TOOL_TIMEOUT_MS, &rep, err, sizeof(err));
	wr_msg_free(rep);
	wr_rpc_client_free(cli);
	if (rv != WR_OK) {
		fprintf(stderr, "rpc_tool: %s: %s\n", wr_strerror(rv), err);
		return rv == WR_EPERM ? TOOL_EXIT_REFUSED : TOOL_EXIT_FAIL;
	}
	printf("answered\n");
	return 0;
}
