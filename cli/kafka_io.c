/*
 * kafka_io.c - `weir produce TOPIC` and `weir consume TOPIC`: small Kafka
 * helpers for demos and tests. One message per line, values only.
 */
#include "cli.h"

#include "clock.h"
#include "err.h"
#include "kafka.h"
#include "parse.h"

#include <getopt.h>
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

int
cli_produce(cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"bootstrap", required_argument, NULL, 'b'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	const char *bootstrap = NULL;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hb:", opts, NULL)) != -1) {
		if (c == 'b') {
			bootstrap = optarg;
		} else if (c == 'h') {
			cli_produce_usage(stdout);
			return CLI_OK;
		} else {
			cli_produce_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (optind != argc - 1) {
		cli_produce_usage(stderr);
		return CLI_USAGE;
	}
	const char *topic = argv[optind];
	char err[512];
	long failed = 0;
	rd_kafka_conf_t *conf =
	    wr_kafka_conf_new(cli_bootstrap(ctx, bootstrap));
	rd_kafka_conf_set_dr_msg_cb(conf, cli_produce_dr);
	if (wr_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err))) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "weir produce: %s\n", err);
		return CLI_FAILED;
	}
	rd_kafka_t *rk =
	    rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "weir produce: %s\n", err);
		return CLI_FAILED;
	}
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
	const char *topic;
	const char *bootstrap;
	bool latest;
	long count; /* -1 = unlimited */
	bool exit_at_end;
	int64_t timeout_ms; /* -1 = none */
} cli_consume_opts;

static int
cli_consume_args(int argc, char **argv, cli_consume_opts *o)
{
	static const struct option opts[] = {
	    {"bootstrap", required_argument, NULL, 'b'},
	    {"from", required_argument, NULL, 'f'},
	    {"count", required_argument, NULL, 'n'},
	    {"exit", no_argument, NULL, 'e'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int64_t v;
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hb:n:e", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			o->bootstrap = optarg;
			break;
		case 'e':
			o->exit_at_end = true;
			break;
		case 'f':
			if (strcmp(optarg, "latest") != 0 &&
			    strcmp(optarg, "earliest") != 0)
				goto usage;
			o->latest = strcmp(optarg, "latest") == 0;
			break;
		case 'n':
			if (wr_parse_int64(optarg, &v) || v < 1)
				goto usage;
			o->count = (long)v;
			break;
		case 't':
			if (wr_parse_duration_ms(optarg, &o->timeout_ms))
				goto usage;
			break;
		case 'h':
			cli_consume_usage(stdout);
			return -1;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1)
		goto usage;
	o->topic = argv[optind];
	return CLI_OK;
usage:
	cli_consume_usage(stderr);
	return CLI_USAGE;
}

/* Assigns every partition of the topic from the chosen end. */
static int
cli_consume_assign(rd_kafka_t *rk, const cli_consume_opts *o, int *nparts)
{
	int n = -WR_ETIMEDOUT;
	for (int i = 0; i < 10 && n == -WR_ETIMEDOUT; i++)
		n = wr_kafka_partition_count(rk, o->topic, 2000);
	if (n <= 0) {
		fprintf(stderr, "weir consume: topic %s: %s\n", o->topic,
		        n == -WR_ENOENT ? "does not exist" : wr_strerror(-n));
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

int
cli_consume(cli_ctx *ctx, int argc, char **argv)
{
	cli_consume_opts o = {.count = -1, .timeout_ms = -1};
	int rc = cli_consume_args(argc, argv, &o);
	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	char err[512], group[64];
	snprintf(group, sizeof(group), "weir-consume-%lld",
	         (long long)wr_wall_ms());
	rd_kafka_conf_t *conf =
	    wr_kafka_conf_new(cli_bootstrap(ctx, o.bootstrap));
	if (wr_kafka_conf_consumer_defaults(conf, err, sizeof(err)) ||
	    wr_kafka_conf_set(conf, "group.id", group, err, sizeof(err)) ||
	    wr_kafka_conf_set(conf, "enable.partition.eof", "true", err,
	                      sizeof(err))) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "weir consume: %s\n", err);
		return CLI_FAILED;
	}
	rd_kafka_t *rk =
	    rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (rk == NULL) {
		rd_kafka_conf_destroy(conf);
		fprintf(stderr, "weir consume: %s\n", err);
		return CLI_FAILED;
	}
	signal(SIGINT, cli_kafka_on_signal);
	signal(SIGTERM, cli_kafka_on_signal);
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	int nparts = 0;
	rc = cli_consume_assign(rk, &o, &nparts);
	if (rc == CLI_OK)
		rc = cli_consume_loop(rk, &o, nparts);
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return rc;
}
