/*
 * topic.c - `weir topic list|describe|create|delete`: list and describe
 * read any Kafka's metadata (as `kcat -L` does); create and delete go to
 * the embedded Kafka of a running `weir local`.
 */
#include "cli.h"
#include "cli_rpc.h"
#include "local.h"

#include "buf.h"
#include "err.h"
#include "json.h"
#include "kafka.h"
#include "parse.h"
#include "rpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool
cli_topic_name_ok(const char *name, char *errbuf, size_t errlen)
{
	size_t n = strlen(name);
	bool ok = n > 0 && n <= WR_JOB_MAX_TOPIC_LEN &&
	          strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
	          strspn(name, "abcdefghijklmnopqrstuvwxyz"
	                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
	if (!ok)
		snprintf(errbuf, errlen,
		         "invalid topic name '%s': 1 .. %d of [A-Za-z0-9._-], "
		         "not . or ..",
		         name, WR_JOB_MAX_TOPIC_LEN);
	return ok;
}

/* NAME[:PARTITIONS]: false with what is wrong in errbuf. */
static bool
cli_topic_parse(const char *spec, char *name, size_t namelen, int *partitions,
                char *errbuf, size_t errlen)
{
	const char *colon = strrchr(spec, ':');
	size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
	int64_t p = 1;

	if (n >= namelen)
		n = namelen - 1; /* too long for a name: said below */
	memcpy(name, spec, n);
	name[n] = '\0';
	if (!cli_topic_name_ok(name, errbuf, errlen))
		return false;
	if (colon && (wr_parse_int64(colon + 1, &p) != WR_OK || p < 1 ||
	              p > CLI_TOPIC_MAX_PARTITIONS)) {
		snprintf(errbuf, errlen,
		         "topic %s: PARTITIONS must be 1 .. %d, not '%s'", name,
		         CLI_TOPIC_MAX_PARTITIONS, colon + 1);
		return false;
	}
	*partitions = (int)p;
	return true;
}

int
cli_topic_spec(const char *spec, char *name, unsigned namelen, int *partitions)
{
	char err[256];
	return cli_topic_parse(spec, name, namelen, partitions, err,
	                       sizeof(err))
	           ? 0
	           : -1;
}

static void
cli_topic_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: weir topic list [--bootstrap HOST:PORT]\n"
	    "       weir topic describe NAME [--bootstrap HOST:PORT]\n"
	    "       weir topic create NAME[:PARTITIONS] [--dir DIR | "
	    "--admin ADDR]\n"
	    "       weir topic delete NAME [--dir DIR | --admin ADDR] "
	    "[--bootstrap HOST:PORT]\n\n"
	    "list: every topic and its partition count; describe: a "
	    "topic's partitions,\n"
	    "their leaders, replicas and in-sync replicas (broker ids, as "
	    "kcat -L shows).\n"
	    "Both read the metadata of any Kafka; the bootstrap defaults "
	    "to kafka.bootstrap\n"
	    "(env WEIR_KAFKA_BOOTSTRAP).\n\n"
	    "create (default 1 partition, at most %d) and delete work on "
	    "the embedded\n"
	    "Kafka of a running `weir local`, found through DIR/%s\n"
	    "(default DIR %s) or --admin / env WEIR_LOCAL_ADMIN;\n"
	    "against a real Kafka use its own tools. The embedded Kafka "
	    "keeps a deleted\n"
	    "topic's name: it cannot be created again until weir local "
	    "restarts.\n\n"
	    "-o json: list {\"topics\": [{\"name\", \"partition_count\"}]}, "
	    "describe {\"name\",\n"
	    "\"partition_count\", \"partitions\": [{\"partition\", "
	    "\"leader\", \"replicas\", \"isr\"}]},\n"
	    "create {\"name\", \"partition_count\"}, delete {\"name\"}.\n",
	    CLI_TOPIC_MAX_PARTITIONS, CLI_LOCAL_ADMIN_FILE,
	    cli_local_default_dir());
}

typedef enum cli_topic_cmd {
	CLI_TOPIC_LIST,
	CLI_TOPIC_DESCRIBE,
	CLI_TOPIC_CREATE,
	CLI_TOPIC_DELETE,
} cli_topic_cmd;

static const char *const cli_topic_cmds[] = {"list", "describe", "create",
                                             "delete"};

typedef struct cli_topic_opts {
	const char *dir;   /* --dir; NULL = cli_local_default_dir() */
	const char *admin; /* --admin; NULL = env WEIR_LOCAL_ADMIN */
	const char *bootstrap;
	cli_topic_cmd cmd;
	char name[WR_JOB_MAX_TOPIC_LEN + 2];
	int partitions;
} cli_topic_opts;

static const cli_flag cli_topic_flags[] = {
    CLI_FLAG("dir", 0, CLI_FLAG_STR, cli_topic_opts, dir),
    CLI_FLAG("admin", 0, CLI_FLAG_STR, cli_topic_opts, admin),
    CLI_FLAG("bootstrap", 'b', CLI_FLAG_STR, cli_topic_opts, bootstrap),
    CLI_FLAGS_END,
};

/* list | describe NAME | create NAME[:PARTITIONS] | delete NAME */
static bool
cli_topic_args(const cli_verb *v, void *opts, int argc, char **argv)
{
	cli_topic_opts *o = opts;
	char err[512];
	int c = 0;

	(void)v;
	while (c < 4 && strcmp(argv[0], cli_topic_cmds[c]) != 0)
		c++;
	if (c == 4) {
		fprintf(stderr,
		        "weir topic: unknown command '%s' (list, describe, "
		        "create, delete; see weir topic --help)\n",
		        argv[0]);
		return false;
	}
	o->cmd = (cli_topic_cmd)c;
	int want = o->cmd == CLI_TOPIC_LIST ? 1 : 2;
	if (argc != want) {
		fprintf(stderr, "weir topic %s: %s\n", argv[0],
		        want == 1 ? "takes no topic" : "which topic? (NAME)");
		return false;
	}
	if (want == 1)
		return true;
	bool ok =
	    o->cmd == CLI_TOPIC_CREATE
	        ? cli_topic_parse(argv[1], o->name, sizeof(o->name),
	                          &o->partitions, err, sizeof(err))
	        : cli_topic_name_ok(argv[1], err, sizeof(err)) &&
	              snprintf(o->name, sizeof(o->name), "%s", argv[1]) > 0;
	if (!ok)
		fprintf(stderr, "weir topic %s: %s\n", argv[0], err);
	return ok;
}

/* ---- list and describe: the metadata of any Kafka ---- */

/* Every topic's metadata (one request for all, so that asking never
 * creates a topic on a broker that creates them on demand); the caller
 * destroys *md. */
static int
cli_topic_metadata(cli_ctx *ctx, const cli_topic_opts *o, rd_kafka_t **rk,
                   const struct rd_kafka_metadata **md)
{
	char err[512];
	const char *bootstrap = cli_bootstrap(ctx, o->bootstrap);
	rd_kafka_conf_t *conf = wr_kafka_conf_new(bootstrap);
	if (wr_kafka_conf_set(conf, "allow.auto.create.topics", "false", err,
	                      sizeof(err)) != WR_OK ||
	    (*rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) ==
	        NULL) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "weir topic: %s\n", err);
		return CLI_FAILED;
	}
	rd_kafka_resp_err_t e =
	    rd_kafka_metadata(*rk, 1, NULL, md, CLI_TOPIC_METADATA_MS);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "weir topic: Kafka at %s: %s\n", bootstrap,
		        rd_kafka_err2str(e));
		rd_kafka_destroy(*rk);
		*rk = NULL;
		return CLI_FAILED;
	}
	return CLI_OK;
}

/* Whether a topic of the metadata is one: Kafka answers for a deleted
 * topic (the embedded one for ever) with UNKNOWN_TOPIC_OR_PART. */
static bool
cli_topic_exists(const rd_kafka_metadata_topic_t *t)
{
	return t->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
}

static void
cli_topic_list_print(cli_ctx *ctx, const struct rd_kafka_metadata *md)
{
	wr_buf b;
	wr_json j;

	if (ctx->json) {
		cli_json_begin(&b, &j);
		wr_json_obj_begin(&j);
		wr_json_key(&j, "topics");
		wr_json_arr_begin(&j);
	} else {
		printf("%-40s %s\n", "TOPIC", "PARTITIONS");
	}
	for (int i = 0; i < md->topic_cnt; i++) {
		const rd_kafka_metadata_topic_t *t = &md->topics[i];
		if (!cli_topic_exists(t))
			continue;
		if (ctx->json) {
			wr_json_obj_begin(&j);
			wr_json_kv_str(&j, "name", t->topic);
			wr_json_kv_int(&j, "partition_count", t->partition_cnt);
			wr_json_obj_end(&j);
		} else {
			printf("%-40s %d%s%s\n", t->topic, t->partition_cnt,
			       t->err ? "  " : "",
			       t->err ? rd_kafka_err2str(t->err) : "");
		}
	}
	if (ctx->json) {
		wr_json_arr_end(&j);
		wr_json_obj_end(&j);
		cli_json_end(&b);
	}
}

/* Broker ids as a JSON array, or "1,2,3" in a table column of width
 * (0: the last column). */
static void
cli_topic_ids(wr_json *j, const int32_t *ids, int n, int width)
{
	if (j != NULL) {
		wr_json_arr_begin(j);
		for (int i = 0; i < n; i++)
			wr_json_int(j, ids[i]);
		wr_json_arr_end(j);
		return;
	}
	char line[256] = "";
	size_t used = 0;
	for (int i = 0; i < n && used < sizeof(line); i++)
		used += (size_t)snprintf(line + used, sizeof(line) - used,
		                         "%s%d", i ? "," : "", (int)ids[i]);
	printf("  %-*s", width, line);
}

static void
cli_topic_describe_print(cli_ctx *ctx, const rd_kafka_metadata_topic_t *t)
{
	wr_buf b;
	wr_json j, *jp = ctx->json ? &j : NULL;

	if (jp) {
		cli_json_begin(&b, jp);
		wr_json_obj_begin(jp);
		wr_json_kv_str(jp, "name", t->topic);
		wr_json_kv_int(jp, "partition_count", t->partition_cnt);
		wr_json_key(jp, "partitions");
		wr_json_arr_begin(jp);
	} else {
		printf("topic %s: %d partition%s\n", t->topic, t->partition_cnt,
		       t->partition_cnt == 1 ? "" : "s");
		printf("%-10s %-8s  %-10s  %s\n", "PARTITION", "LEADER",
		       "REPLICAS", "ISR");
	}
	for (int i = 0; i < t->partition_cnt; i++) {
		const rd_kafka_metadata_partition_t *p = &t->partitions[i];
		if (jp) {
			wr_json_obj_begin(jp);
			wr_json_kv_int(jp, "partition", p->id);
			wr_json_kv_int(jp, "leader", p->leader);
			wr_json_key(jp, "replicas");
		} else {
			printf("%-10d %-8d", (int)p->id, (int)p->leader);
		}
		cli_topic_ids(jp, p->replicas, p->replica_cnt, 10);
		if (jp)
			wr_json_key(jp, "isr");
		cli_topic_ids(jp, p->isrs, p->isr_cnt, 0);
		if (jp)
			wr_json_obj_end(jp);
		else
			printf("\n");
	}
	if (jp) {
		wr_json_arr_end(jp);
		wr_json_obj_end(jp);
		cli_json_end(&b);
	}
}

static int
cli_topic_read(cli_ctx *ctx, const cli_topic_opts *o)
{
	rd_kafka_t *rk;
	const struct rd_kafka_metadata *md;
	int rc = cli_topic_metadata(ctx, o, &rk, &md);
	if (rc != CLI_OK)
		return rc;
	if (o->cmd == CLI_TOPIC_LIST) {
		cli_topic_list_print(ctx, md);
	} else {
		const rd_kafka_metadata_topic_t *t = NULL;
		for (int i = 0; i < md->topic_cnt && t == NULL; i++)
			if (strcmp(md->topics[i].topic, o->name) == 0 &&
			    cli_topic_exists(&md->topics[i]))
				t = &md->topics[i];
		if (t != NULL) {
			cli_topic_describe_print(ctx, t);
		} else {
			fprintf(stderr, "weir topic: topic %s does not exist\n",
			        o->name);
			rc = CLI_FAILED;
		}
	}
	rd_kafka_metadata_destroy(md);
	rd_kafka_destroy(rk);
	return rc;
}

/* ---- create and delete: the embedded Kafka of weir local ---- */

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

/* Delete only what exists: the embedded Kafka would make the topic to
 * mark it deleted. */
static int
cli_topic_check_exists(cli_ctx *ctx, const cli_topic_opts *o)
{
	rd_kafka_t *rk;
	const struct rd_kafka_metadata *md;
	int rc = cli_topic_metadata(ctx, o, &rk, &md);
	if (rc != CLI_OK)
		return rc;
	rc = CLI_FAILED;
	for (int i = 0; i < md->topic_cnt; i++)
		if (strcmp(md->topics[i].topic, o->name) == 0 &&
		    cli_topic_exists(&md->topics[i]))
			rc = CLI_OK;
	if (rc != CLI_OK)
		fprintf(stderr, "weir topic: topic %s does not exist\n",
		        o->name);
	rd_kafka_metadata_destroy(md);
	rd_kafka_destroy(rk);
	return rc;
}

static void
cli_topic_changed(cli_ctx *ctx, const cli_topic_opts *o)
{
	bool create = o->cmd == CLI_TOPIC_CREATE;
	if (!ctx->json) {
		if (create)
			printf("created topic %s with %d partition%s\n",
			       o->name, o->partitions,
			       o->partitions == 1 ? "" : "s");
		else
			printf("deleted topic %s\n", o->name);
		return;
	}
	wr_buf b;
	wr_json j;
	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "name", o->name);
	if (create)
		wr_json_kv_int(&j, "partition_count", o->partitions);
	wr_json_obj_end(&j);
	cli_json_end(&b);
}

static int
cli_topic_change(cli_ctx *ctx, const cli_topic_opts *o)
{
	const char *admin = o->admin ? o->admin : getenv("WEIR_LOCAL_ADMIN");
	const char *dir = o->dir ? o->dir : cli_local_default_dir();
	char addr[512];
	int rc;

	if (admin != NULL)
		snprintf(addr, sizeof(addr), "%s", admin);
	else if ((rc = cli_topic_admin(dir, addr, sizeof(addr))) != CLI_OK)
		return rc;
	if (o->cmd == CLI_TOPIC_DELETE &&
	    (rc = cli_topic_check_exists(ctx, o)) != CLI_OK)
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
	rv = o->cmd == CLI_TOPIC_CREATE
	         ? cli_rpc_create_topic(cli, CLI_TOPIC_RPC_MS, o->name,
	                                o->partitions, err, sizeof(err))
	         : cli_rpc_delete_topic(cli, CLI_TOPIC_RPC_MS, o->name, err,
	                                sizeof(err));
	wr_rpc_client_free(cli);
	if (rv != WR_OK) {
		fprintf(stderr, "weir topic: %s\n",
		        err[0] ? err : wr_strerror(rv));
		return CLI_FAILED;
	}
	cli_topic_changed(ctx, o);
	return CLI_OK;
}

static int
cli_topic(cli_ctx *ctx, void *opts)
{
	const cli_topic_opts *o = opts;
	if (o->cmd == CLI_TOPIC_LIST || o->cmd == CLI_TOPIC_DESCRIBE)
		return cli_topic_read(ctx, o);
	return cli_topic_change(ctx, o);
}

const cli_verb cli_topic_verb = {
    .name = "topic",
    .summary = "list, describe, create and delete Kafka topics",
    .usage = cli_topic_usage,
    .flags = cli_topic_flags,
    .min_args = 1,
    .max_args = 2,
    .opts_bytes = sizeof(cli_topic_opts),
    .args = cli_topic_args,
    .run = cli_topic,
};
