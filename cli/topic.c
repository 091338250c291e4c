/* topic.c - `weir topic create NAME[:PARTITIONS]` against weir local. */
#include "cli.h"
#include "cli_rpc.h"
#include "local.h"

#include "err.h"
#include "parse.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cli_topic_spec(const char *spec, char *name, unsigned namelen, int *partitions)
{
	const char *colon = strrchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	int64_t p = 1;
	if (n == 0 || n >= namelen ||
	    (colon && wr_parse_int64(colon + 1, &p)) || p < 1 || p > 10000)
		return -1;
	memcpy(name, spec, n);
	name[n] = '\0';
	*partitions = (int)p;
	return 0;
}

static void
cli_topic_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir topic create NAME[:PARTITIONS] [--dir DIR | "
	        "--admin ADDR]\n\n"
	        "Creates a topic in the embedded Kafka of a running `weir "
	        "local` (default 1\npartition). The local cluster is found "
	        "through DIR/%s (default DIR\n%s) or --admin / env "
	        "WEIR_LOCAL_ADMIN. Against a real Kafka, create topics with\n"
	        "its own tools.\n",
	        CLI_LOCAL_ADMIN_FILE, cli_local_default_dir());
}

/* Reads the admin address of the local cluster in dir. */
static int
cli_topic_admin(const char *dir, char *out, size_t outlen)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, CLI_LOCAL_ADMIN_FILE);
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr,
		        "weir topic: no local cluster in %s (%s missing): is "
		        "`weir local` running?\n",
		        dir, path);
		return CLI_UNREACHABLE;
	}
	if (fgets(out, (int)outlen, f) == NULL)
		out[0] = '\0';
	fclose(f);
	out[strcspn(out, "\r\n")] = '\0';
	return CLI_OK;
}

typedef struct cli_topic_opts {
	const char *dir;   /* --dir; NULL = cli_local_default_dir() */
	const char *admin; /* --admin; NULL = env WEIR_LOCAL_ADMIN */
	char name[256];
	int partitions;
} cli_topic_opts;

static const cli_flag cli_topic_flags[] = {
    CLI_FLAG("dir", 0, CLI_FLAG_STR, cli_topic_opts, dir),
    CLI_FLAG("admin", 0, CLI_FLAG_STR, cli_topic_opts, admin),
    CLI_FLAGS_END,
};

/* create NAME[:PARTITIONS] */
static bool
cli_topic_args(const cli_verb *v, void *opts, int argc, char **argv)
{
	cli_topic_opts *o = opts;

	(void)argc;
	if (strcmp(argv[0], "create") != 0 ||
	    cli_topic_spec(argv[1], o->name, sizeof(o->name), &o->partitions) !=
	        0) {
		v->usage(stderr);
		return false;
	}
	return true;
}

static int
cli_topic(cli_ctx *ctx, void *opts)
{
	cli_topic_opts *o = opts;
	const char *admin = o->admin ? o->admin : getenv("WEIR_LOCAL_ADMIN");
	const char *dir = o->dir ? o->dir : cli_local_default_dir();
	char addr[512];
	int rc;

	(void)ctx;
	if (admin != NULL)
		snprintf(addr, sizeof(addr), "%s", admin);
	else if ((rc = cli_topic_admin(dir, addr, sizeof(addr))) != CLI_OK)
		return rc;
	wr_rpc_client *cli;
	int rv = wr_rpc_client_new(addr, WR_RPC_DIAL_SYNC, &cli);
	if (rv != WR_OK) {
		fprintf(stderr,
		        "weir topic: cannot reach weir local at %s: %s\n", addr,
		        wr_strerror(rv));
		return CLI_UNREACHABLE;
	}
	char err[512] = "";
	rv = cli_rpc_create_topic(cli, 5000, o->name, o->partitions, err,
	                          sizeof(err));
	wr_rpc_client_free(cli);
	if (rv != WR_OK) {
		fprintf(stderr, "weir topic: %s\n",
		        err[0] ? err : wr_strerror(rv));
		return CLI_FAILED;
	}
	printf("created topic %s with %d partition%s\n", o->name, o->partitions,
	       o->partitions == 1 ? "" : "s");
	return CLI_OK;
}

const cli_verb cli_topic_verb = {
    .name = "topic",
    .summary = "create a topic in the embedded Kafka of weir local",
    .usage = cli_topic_usage,
    .flags = cli_topic_flags,
    .min_args = 2,
    .max_args = 2,
    .opts_bytes = sizeof(cli_topic_opts),
    .args = cli_topic_args,
    .run = cli_topic,
};
