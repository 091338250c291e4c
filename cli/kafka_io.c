/*
 * kafka_io.c - `weir produce TOPIC` and `weir consume TOPIC`: small Kafka
 * helpers for demos and tests. One message per line, values only.
 */
#include "cli.h"

#include "clock.h"
#include "err.h"
#include "kafka.h"
#include "parse.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t cli_kafka_stop;

static void
cli_kafka_on_signal(int sig)
{
	(void)sig;
	cli_kafka_stop = 1;
}

const char *
cli_bootstrap(cli_ctx *ctx, const char *flag)
{
	return flag ? flag : ctx->cfg.kafka_bootstrap;
}

/* A client of type from conf (which it takes), or NULL with "weir VERB:
 * why" printed; conf_ok false: setting conf failed, err says why. */
static rd_kafka_t *
cli_kafka_new(const char *verb, rd_kafka_type_t type, rd_kafka_conf_t *conf,
              bool conf_ok, char *err, size_t errlen)
{
	rd_kafka_t *rk = conf_ok ? rd_kafka_new(type, conf, err, errlen) : NULL;

	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "weir %s: %s\n", verb, err);
	}
	return rk;
}

static void
cli_produce_usage(FILE *f)
{
	fprintf(f, "usage: weir produce TOPIC [--bootstrap HOST:PORT]\n\n"
	           "Reads lines (JSON records) from stdin and writes each as "
	           "one message to\nTOPIC. Empty lines are skipped. Exits 1 "
	           "if any message was not delivered.\nThe bootstrap defaults "
	           "to kafka.bootstrap (env WEIR_KAFKA_BOOTSTRAP).\n");
}

static void
cli_produce_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		long *failed = m->_private;
		(*failed)++;
	}
}

/* Writes stdin's lines to topic. Returns the number of lines queued, or -1
 * when the producer refuses one for good. */
static long
cli_produce_lines(rd_kafka_t *rk, const char *topic, long *failed)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long sent = 0;
	while (!cli_kafka_stop && (n = getline(&line, &cap, stdin)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		rd_kafka_resp_err_t err;
		while ((err = rd_kafka_producev(
		            rk, RD_KAFKA_V_TOPIC(topic),
		            RD_KAFKA_V_VALUE(line, (size_t)n),
		            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
		            RD_KAFKA_V_OPAQUE(failed), RD_KAFKA_V_END)) ==
		       RD_KAFKA_RESP_ERR__QUEUE_FULL)
			rd_kafka_poll(rk,
			              50); /* backpressure from librdkafka */
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "weir produce: %s\n",
			        rd_kafka_err2str(err));
			sent = -1;
			break;
		}
		sent++;
		rd_kafka_poll(rk, 0);
	}
	free(line);
	return sent;
}

typedef struct cli_produce_opts {
	const char *topic; /* first: cli_verb_arg_str */
	const char *bootstrap;
} cli_produce_opts;

static const cli_flag cli_produce_flags[] = {
    CLI_FLAG("bootstrap", 'b', CLI_FLAG_STR, cli_produce_opts, bootstrap),
    CLI_FLAGS_END,
};

static int
cli_produce(cli_ctx *ctx, void *opts)
{
	const cli_produce_opts *o = opts;
	const char *topic = o->topic;
	char err[512];
	long failed = 0;
	rd_kafka_conf_t *conf =
	    wr_kafka_conf_new(cli_bootstrap(ctx, o->bootstrap));
	rd_kafka_conf_set_dr_msg_cb(conf, cli_produce_dr);
	bool conf_ok =
	    wr_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err)) == 0;
	rd_kafka_t *rk = cli_kafka_new("produce", RD_KAFKA_PRODUCER, conf,
	                               conf_ok, err, sizeof(err));
	if (rk == NULL)
		return CLI_FAILED;
	signal(SIGINT, cli_kafka_on_signal);
	long sent = cli_produce_lines(rk, topic, &failed);
	rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 60000);
	rd_kafka_destroy(rk);
	if (ferr != RD_KAFKA_RESP_ERR_NO_ERROR)
		fprintf(stderr, "weir produce: flush: %s\n",
		        rd_kafka_err2str(ferr));
	if (sent < 0 || failed > 0 || ferr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr,
		        "weir produce: %ld of %ld messages not delivered\n",
		        failed, sent);
		return CLI_FAILED;
	}
	fprintf(stderr, "weir produce: %ld messages to %s\n", sent, topic);
	return CLI_OK;
}

const cli_verb cli_produce_verb = {
    .name = "produce",
    .summary = "write JSON lines from stdin to a Kafka topic",
    .usage = cli_produce_usage,
    .flags = cli_produce_flags,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_produce_opts),
    .args = cli_verb_arg_str,
    .run = cli_produce,
};

static void
cli_consume_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: weir consume TOPIC [--bootstrap HOST:PORT] "
	    "[--from earliest|latest]\n"
	    "                    [-n COUNT] [--exit] [--timeout DURATION]\n\n"
	    "Prints TOPIC's messages (values), one per line, from every "
	    "partition.\n"
	    "  --from      where to start (default earliest)\n"
	    "  -n COUNT    stop after COUNT messages\n"
	    "  --exit      stop when every partition has been read to its "
	    "end\n"
	    "  --timeout   stop after this long without a message (e.g. "
	    "5s)\n"
	    "Reads committed data only (isolation.level=read_committed).\n");
}

typedef struct cli_consume_opts {
	const char *topic; /* first: cli_verb_arg_str */
	const char *bootstrap;
	bool latest;
	long count; /* -1 = unlimited */
	bool exit_at_end;
	int64_t timeout_ms; /* -1 = none */
} cli_consume_opts;

static const cli_consume_opts cli_consume_defaults = {.count = -1,
                                                      .timeout_ms = -1};

/* A bad value of consume's flags shows the usage. */
static bool
cli_consume_bad(const cli_verb *v)
{
	v->usage(stderr);
	return false;
}

/* --from earliest|latest */
static bool
cli_consume_from(const cli_verb *v, const char *arg, void *field)
{
	if (strcmp(arg, "latest") != 0 && strcmp(arg, "earliest") != 0)
		return cli_consume_bad(v);
	*(bool *)field = strcmp(arg, "latest") == 0;
	return true;
}

/* -n COUNT: at least 1 */
static bool
cli_consume_count(const cli_verb *v, const char *arg, void *field)
{
	int64_t n;
	if (wr_parse_int64(arg, &n) || n < 1)
		return cli_consume_bad(v);
	*(long *)field = (long)n;
	return true;
}

/* --timeout DURATION */
static bool
cli_consume_timeout(const cli_verb *v, const char *arg, void *field)
{
	if (wr_parse_duration_ms(arg, field))
		return cli_consume_bad(v);
	return true;
}

static const cli_flag cli_consume_flags[] = {
    CLI_FLAG("bootstrap", 'b', CLI_FLAG_STR, cli_consume_opts, bootstrap),
    CLI_FLAG_PARSE("from", 0, cli_consume_opts, latest, cli_consume_from),
    CLI_FLAG_PARSE("count", 'n', cli_consume_opts, count, cli_consume_count),
    CLI_FLAG("exit", 'e', CLI_FLAG_BOOL, cli_consume_opts, exit_at_end),
    CLI_FLAG_PARSE("timeout", 0, cli_consume_opts, timeout_ms,
                   cli_consume_timeout),
    CLI_FLAGS_END,
};

/* Assigns every partition of the topic from the chosen end. */
static int
cli_consume_assign(rd_kafka_t *rk, const cli_consume_opts *o, int *nparts)
{
	int n = -WR_ETIMEDOUT;
	for (int i = 0; i < 10 && n == -WR_ETIMEDOUT; i++)
		n = wr_kafka_partition_count(rk, o->topic, 2000);
	if (n <= 0) {
		char bs[512];
		fprintf(stderr, "weir consume: topic %s: %s (brokers %s)\n",
		        o->topic,
		        n == -WR_ENOENT ? "does not exist" : wr_strerror(-n),
		        wr_kafka_brokers(rk, bs, sizeof(bs)));
		return CLI_FAILED;
	}
	rd_kafka_topic_partition_list_t *tp =
	    rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(tp, o->topic, p)->offset =
		    o->latest ? RD_KAFKA_OFFSET_END : RD_KAFKA_OFFSET_BEGINNING;
	rd_kafka_resp_err_t err = rd_kafka_assign(rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "weir consume: assign: %s\n",
		        rd_kafka_err2str(err));
		return CLI_FAILED;
	}
	*nparts = n;
	return CLI_OK;
}

static int
cli_consume_loop(rd_kafka_t *rk, const cli_consume_opts *o, int nparts)
{
	long got = 0;
	int at_end = 0;
	char *eof = calloc((size_t)nparts, 1);
	int64_t last = wr_mono_ms();
	int rc = CLI_OK;
	while (!cli_kafka_stop && (o->count < 0 || got < o->count)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (m == NULL) {
			if (o->timeout_ms >= 0 &&
			    wr_mono_ms() - last > o->timeout_ms)
				break;
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			if (m->partition >= 0 && m->partition < nparts &&
			    !eof[m->partition]) {
				eof[m->partition] = 1;
				at_end++;
			}
		} else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "weir consume: %s\n",
			        rd_kafka_message_errstr(m));
		} else {
			fwrite(m->payload, 1, m->len, stdout);
			fputc('\n', stdout);
			got++;
			last = wr_mono_ms();
			if (m->partition >= 0 && m->partition < nparts &&
			    eof[m->partition]) {
				eof[m->partition] = 0;
				at_end--;
			}
		}
		rd_kafka_message_destroy(m);
		if (o->exit_at_end && at_end == nparts)
			break;
	}
	free(eof);
	fflush(stdout);
	if (o->count > 0 && got < o->count) {
		fprintf(stderr, "weir consume: got %ld of %ld messages\n", got,
		        o->count);
		rc = CLI_FAILED;
	}
	return rc;
}

static int
cli_consume(cli_ctx *ctx, void *opts)
{
	const cli_consume_opts *o = opts;
	int rc;
	char err[512], group[64];
	snprintf(group, sizeof(group), "weir-consume-%lld",
	         (long long)wr_wall_ms());
	rd_kafka_conf_t *conf =
	    wr_kafka_conf_new(cli_bootstrap(ctx, o->bootstrap));
	bool conf_ok =
	    wr_kafka_conf_consumer_defaults(conf, err, sizeof(err)) == 0 &&
	    wr_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) == 0 &&
	    wr_kafka_conf_set(conf, "enable.partition.eof", "true", err,
	                      sizeof(err)) == 0;
	rd_kafka_t *rk = cli_kafka_new("consume", RD_KAFKA_CONSUMER, conf,
	                               conf_ok, err, sizeof(err));
	if (rk == NULL)
		return CLI_FAILED;
	signal(SIGINT, cli_kafka_on_signal);
	signal(SIGTERM, cli_kafka_on_signal);
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	int nparts = 0;
	rc = cli_consume_assign(rk, o, &nparts);
	if (rc == CLI_OK)
		rc = cli_consume_loop(rk, o, nparts);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return rc;
}

const cli_verb cli_consume_verb = {
    .name = "consume",
    .summary = "print a Kafka topic's messages as lines",
    .usage = cli_consume_usage,
    .flags = cli_consume_flags,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_consume_opts),
    .defaults = &cli_consume_defaults,
    .args = cli_verb_arg_str,
    .run = cli_consume,
};
