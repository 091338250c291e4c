/*
 * main.c - weir, the command-line client: logging, the commit it was built
 * from (weir_commit.h, made by the build), then cli_main (verb.c).
 */
#include "cli.h"

#include "log.h"
#include "weir_commit.h"

int
main(int argc, char **argv)
{
	cli_ctx ctx = {.commit = WEIR_COMMIT};
	wr_log_set_role("cli");
	wr_log_set_level(WR_LOG_WARN);
	wr_log_init_from_env();
	return cli_main(&ctx, argc, argv);
}
