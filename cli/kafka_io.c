/*
 * kafka_io.c - `weir produce TOPIC` and `weir consume TOPIC`: Kafka
 * helpers for demos and tests, with kcat's habits: keys (-K), headers
 * (-H), partitions, format strings (-f) and one JSON object a message
 * (-o json). What they read from the command line is parsed in
 * kafka_fmt.c.
 */
#include "cli.h"
#include "kafka_fmt.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "json.h"
#include "kafka.h"
#include "mem.h"
#include "parse.h"
#include "wr_assert.h"

#include <signal.h>
#include <stdint.h>
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

/* SIGINT and SIGTERM stop the verb at its next step. Without SA_RESTART,
 * so that produce's read of a terminal returns at Ctrl-C instead of
 * waiting for the next line. */
static void
cli_kafka_signals(void)
{
	struct sigaction sa = {.sa_handler = cli_kafka_on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
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

/* ---- weir produce ------------------------------------------------------ */

static void
cli_produce_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir produce TOPIC [-b HOST:PORT] [-K SEP] "
	        "[-p PARTITION]\n"
	        "                    [-H NAME=VALUE]...\n\n"
	        "Reads lines from stdin and writes each as one message to "
	        "TOPIC.\n"
	        "  -b, --bootstrap  Kafka (default kafka.bootstrap, env "
	        "WEIR_KAFKA_BOOTSTRAP)\n"
	        "  -K SEP        each line is KEY SEP VALUE, split at the "
	        "first SEP (kcat's -K);\n"
	        "                a line without SEP is reported and skipped\n"
	        "  -p, --partition N  write to partition N (default: by key, "
	        "else spread)\n"
	        "  -H, --header NAME=VALUE  a header on every message "
	        "(repeatable, up to %d)\n"
	        "Empty lines are ignored. A line longer than %d bytes is "
	        "reported with its\n"
	        "line number and skipped; the rest are still sent. At the end "
	        "it prints\n"
	        "\"N delivered, M failed, K skipped\" on stderr (-o json: "
	        "{\"topic\", \"delivered\",\n"
	        "\"failed\", \"skipped\"} on stdout) and exits 1 if any line "
	        "failed or was skipped.\n",
	        CLI_PRODUCE_MAX_HEADERS, CLI_PRODUCE_MAX_LINE_BYTES);
}

/* -H flags, in order. */
typedef struct cli_produce_headers {
	int n;
	const char *arg[CLI_PRODUCE_MAX_HEADERS];
} cli_produce_headers;

typedef struct cli_produce_opts {
	const char *topic; /* first: cli_verb_arg_str */
	const char *bootstrap;
	const char *key_sep; /* -K; NULL: no keys */
	int64_t partition;   /* -1: librdkafka's partitioner */
	cli_produce_headers headers;
} cli_produce_opts;

static const cli_produce_opts cli_produce_defaults = {.partition = -1};

/* -H NAME=VALUE */
static bool
cli_produce_header(const cli_verb *v, const char *arg, void *field)
{
	cli_produce_headers *h = field;
	size_t name_len;
	const char *value;

	if (!cli_kheader_parse(arg, &name_len, &value)) {
		fprintf(stderr, "weir %s: -H wants NAME=VALUE, not '%s'\n",
		        v->name, arg);
		return false;
	}
	if (h->n == CLI_PRODUCE_MAX_HEADERS) {
		fprintf(stderr, "weir %s: at most %d -H\n", v->name,
		        CLI_PRODUCE_MAX_HEADERS);
		return false;
	}
	h->arg[h->n++] = arg;
	return true;
}

/* -K SEP: not empty */
static bool
cli_produce_key_sep(const cli_verb *v, const char *arg, void *field)
{
	if (arg[0] == '\0') {
		fprintf(stderr, "weir %s: -K wants a separator, not ''\n",
		        v->name);
		return false;
	}
	*(const char **)field = arg;
	return true;
}

static const cli_flag cli_produce_flags[] = {
    CLI_FLAG("bootstrap", 'b', CLI_FLAG_STR, cli_produce_opts, bootstrap),
    CLI_FLAG_PARSE("key-delimiter", 'K', cli_produce_opts, key_sep,
                   cli_produce_key_sep),
    CLI_FLAG_RANGE("partition", 'p', cli_produce_opts, partition, 0, INT32_MAX),
    CLI_FLAG_PARSE("header", 'H', cli_produce_opts, headers,
                   cli_produce_header),
    CLI_FLAGS_END,
};

/* What a run of produce counts; the delivery callback's opaque. */
typedef struct cli_produce_state {
	long queued, delivered, failed, skipped;
	long settled; /* queued messages with a delivery report */
	long reports; /* per-line problems printed so far */
} cli_produce_state;

/* Prints "weir produce: line N: why" for the first few problems (one
 * unreachable broker would otherwise print a line per message). */
static void
cli_produce_report(cli_produce_state *s, long lineno, const char *why)
{
	if (s->reports < CLI_PRODUCE_MAX_REPORTS)
		fprintf(stderr, "weir produce: line %ld: %s\n", lineno, why);
	else if (s->reports == CLI_PRODUCE_MAX_REPORTS)
		fprintf(stderr, "weir produce: (further problems are only "
		                "counted)\n");
	s->reports++;
}

static void
cli_produce_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	cli_produce_state *s = opaque;

	(void)rk;
	s->settled++;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		s->delivered++;
		return;
	}
	s->failed++;
	cli_produce_report(s, (long)(intptr_t)m->_private,
	                   rd_kafka_err2str(m->err));
}

/*
 * Reads one line of in into buf (cap bytes), without its newline (and a
 * '\r' before it). Returns its length, or -1 at the end of input; a line
 * longer than cap is read to its end and dropped (only its length is
 * returned: the report names it).
 */
static ssize_t
cli_produce_read(FILE *in, char *buf, size_t cap)
{
	size_t n = 0;
	int c;
	bool any = false;

	while ((c = getc_unlocked(in)) != EOF && c != '\n') {
		any = true;
		if (n < cap)
			buf[n] = (char)c;
		n++;
	}
	if (!any && c == EOF)
		return -1;
	if (n <= cap && n > 0 && buf[n - 1] == '\r')
		n--;
	return (ssize_t)n;
}

/* The parts of every message: topic, partition, flags, headers. Returns
 * how many of v it filled; the line's own parts come after them. */
static size_t
cli_produce_common(const cli_produce_opts *o, rd_kafka_vu_t *v)
{
	size_t n = 0;

	v[n].vtype = RD_KAFKA_VTYPE_TOPIC;
	v[n++].u.cstr = o->topic;
	v[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
	v[n++].u.i = RD_KAFKA_MSG_F_COPY;
	if (o->partition >= 0) {
		v[n].vtype = RD_KAFKA_VTYPE_PARTITION;
		v[n++].u.i32 = (int32_t)o->partition;
	}
	for (int i = 0; i < o->headers.n; i++) {
		const char *arg = o->headers.arg[i], *value;
		size_t name_len;
		cli_kheader_parse(arg, &name_len, &value); /* checked at -H */
		v[n].vtype = RD_KAFKA_VTYPE_HEADER;
		v[n].u.header.name = wr_xstrndup(arg, name_len);
		v[n].u.header.val = value;
		v[n++].u.header.size = (ssize_t)strlen(value);
	}
	return n;
}

/* Frees the header names cli_produce_common copied. */
static void
cli_produce_common_free(rd_kafka_vu_t *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].vtype == RD_KAFKA_VTYPE_HEADER)
			free((char *)v[i].u.header.name);
}

/* Queues one line (len bytes; key split off with -K) as message lineno;
 * waits while librdkafka's queue is full. A line that cannot be queued
 * is counted as failed, one without the separator as skipped. */
static void
cli_produce_line(rd_kafka_t *rk, const cli_produce_opts *o, rd_kafka_vu_t *v,
                 size_t nv, char *line, size_t len, long lineno,
                 cli_produce_state *s)
{
	const char *value = line;
	size_t value_len = len, key_len = 0;

	if (o->key_sep != NULL &&
	    !cli_kline_split(line, len, o->key_sep, &key_len, &value,
	                     &value_len)) {
		s->skipped++;
		cli_produce_report(s, lineno, "no key separator (-K); skipped");
		return;
	}
	v[nv].vtype = RD_KAFKA_VTYPE_VALUE;
	v[nv].u.mem.ptr = (void *)value;
	v[nv++].u.mem.size = value_len;
	v[nv].vtype = RD_KAFKA_VTYPE_OPAQUE;
	v[nv++].u.ptr = (void *)(intptr_t)lineno;
	if (o->key_sep != NULL) {
		v[nv].vtype = RD_KAFKA_VTYPE_KEY;
		v[nv].u.mem.ptr = line;
		v[nv++].u.mem.size = key_len;
	}
	rd_kafka_error_t *e;
	while ((e = rd_kafka_produceva(rk, v, nv)) != NULL &&
	       rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		rd_kafka_error_destroy(e);
		rd_kafka_poll(rk, 50); /* backpressure from librdkafka */
	}
	if (e != NULL) {
		s->failed++;
		cli_produce_report(s, lineno, rd_kafka_error_string(e));
		rd_kafka_error_destroy(e);
		return;
	}
	s->queued++;
	rd_kafka_poll(rk, 0);
}

/* Writes stdin's lines to the topic until the end of input or a signal. */
static void
cli_produce_lines(rd_kafka_t *rk, const cli_produce_opts *o,
                  cli_produce_state *s)
{
	char *line = wr_xmalloc(CLI_PRODUCE_MAX_LINE_BYTES);
	rd_kafka_vu_t v[CLI_PRODUCE_MAX_HEADERS + 8];
	size_t nv = cli_produce_common(o, v);
	ssize_t n;
	char why[128];

	for (long lineno = 1; !cli_kafka_stop; lineno++) {
		n = cli_produce_read(stdin, line, CLI_PRODUCE_MAX_LINE_BYTES);
		if (n < 0)
			break;
		if (n == 0)
			continue;
		if (n > CLI_PRODUCE_MAX_LINE_BYTES) {
			s->skipped++;
			snprintf(why, sizeof(why),
			         "%zd bytes, over the limit of %d; skipped", n,
			         CLI_PRODUCE_MAX_LINE_BYTES);
			cli_produce_report(s, lineno, why);
			continue;
		}
		cli_produce_line(rk, o, v, nv, line, (size_t)n, lineno, s);
	}
	cli_produce_common_free(v, nv);
	free(line);
}

/* Prints the summary (stderr, or JSON on stdout); the exit code. */
static int
cli_produce_summary(cli_ctx *ctx, const char *topic, const char *bootstrap,
                    const cli_produce_state *s)
{
	if (ctx->json) {
		wr_buf b;
		wr_json j;
		cli_json_begin(&b, &j);
		wr_json_obj_begin(&j);
		wr_json_kv_str(&j, "topic", topic);
		wr_json_kv_int(&j, "delivered", s->delivered);
		wr_json_kv_int(&j, "failed", s->failed);
		wr_json_kv_int(&j, "skipped", s->skipped);
		wr_json_obj_end(&j);
		cli_json_end(&b);
	}
	fprintf(stderr,
	        "weir produce: %ld delivered, %ld failed, %ld skipped "
	        "(topic %s at %s)\n",
	        s->delivered, s->failed, s->skipped, topic, bootstrap);
	return s->failed == 0 && s->skipped == 0 ? CLI_OK : CLI_FAILED;
}

static int
cli_produce(cli_ctx *ctx, void *opts)
{
	const cli_produce_opts *o = opts;
	char err[512];
	cli_produce_state s = {0};
	const char *bootstrap = cli_bootstrap(ctx, o->bootstrap);
	rd_kafka_conf_t *conf = wr_kafka_conf_new(bootstrap);
	rd_kafka_conf_set_dr_msg_cb(conf, cli_produce_dr);
	rd_kafka_conf_set_opaque(conf, &s);
	bool conf_ok =
	    wr_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err)) == 0 &&
	    wr_kafka_conf_set(conf, "message.max.bytes", CLI_PRODUCE_MSG_BYTES,
	                      err, sizeof(err)) == 0;
	rd_kafka_t *rk = cli_kafka_new("produce", RD_KAFKA_PRODUCER, conf,
	                               conf_ok, err, sizeof(err));
	if (rk == NULL)
		return CLI_FAILED;
	cli_kafka_signals();
	cli_produce_lines(rk, o, &s);
	rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, CLI_PRODUCE_FLUSH_MS);
	if (ferr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr,
		        "weir produce: %ld messages not acknowledged within "
		        "%d s\n",
		        s.queued - s.settled, CLI_PRODUCE_FLUSH_MS / 1000);
		/* They fail now, through the delivery callback: the summary
		 * counts every line. */
		rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE |
		                       RD_KAFKA_PURGE_F_INFLIGHT);
		for (int i = 0; i < 100 && s.settled < s.queued; i++)
			rd_kafka_poll(rk, 100);
	}
	rd_kafka_destroy(rk);
	return cli_produce_summary(ctx, o->topic, bootstrap, &s);
}

const cli_verb cli_produce_verb = {
    .name = "produce",
    .summary = "write stdin's lines to a Kafka topic (keys, headers)",
    .usage = cli_produce_usage,
    .flags = cli_produce_flags,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_produce_opts),
    .defaults = &cli_produce_defaults,
    .args = cli_verb_arg_str,
    .run = cli_produce,
};

/* ---- weir consume ------------------------------------------------------ */

static void
cli_consume_usage(FILE *f)
{
	fputs(
	    "usage: weir consume TOPIC [-b HOST:PORT] [--offset OFFSET | "
	    "--from-beginning]\n"
	    "                    [-G GROUP] [-f FORMAT] [-n COUNT] [-e] "
	    "[--timeout DURATION]\n\n"
	    "Prints TOPIC's messages from every partition, by default their "
	    "values,\none a line.\n"
	    "  -b, --bootstrap   Kafka (default kafka.bootstrap, env "
	    "WEIR_KAFKA_BOOTSTRAP)\n"
	    "  --offset OFFSET   where each partition starts: beginning "
	    "(default), end,\n"
	    "                    N (that offset), -N (N before the end), "
	    "stored (the\n"
	    "                    group's committed offset)\n"
	    "  --from-beginning  --offset beginning (kafka-console-consumer's "
	    "flag);\n"
	    "                    --from earliest|latest also works\n"
	    "  -G, --group GROUP consume as a member of consumer group GROUP: "
	    "partitions are\n"
	    "                    shared with its other members and what was "
	    "printed is\n"
	    "                    committed; without --offset it resumes at "
	    "the group's\n"
	    "                    committed offsets (beginning when it has "
	    "none)\n"
	    "  -f FORMAT         kcat's format: %s value, %k key, %t topic, "
	    "%p partition,\n"
	    "                    %o offset, %T timestamp (ms), %h headers "
	    "(name=value,...),\n"
	    "                    %S / %K value / key length (-1 for null), %% "
	    "a percent;\n"
	    "                    \\n \\r \\t \\\\ (default '%s\\n')\n"
	    "  -o json           one JSON object a message: {\"topic\", "
	    "\"partition\",\n"
	    "                    \"offset\", \"timestamp\", \"key\", "
	    "\"value\", \"headers\":\n"
	    "                    [{\"name\", \"value\"}]} (null key or "
	    "value: null)\n"
	    "  -n, --count COUNT stop after COUNT messages (exit 1 if fewer "
	    "came)\n"
	    "  -e, --exit        stop when every partition has been read to "
	    "its end\n"
	    "  --timeout DURATION  stop after this long without a message "
	    "(e.g. 5s; with\n"
	    "                    -G, counted from when the group assigns the "
	    "partitions)\n"
	    "Reads committed data only (isolation.level=read_committed).\n",
	    f);
}

/* A group member's session: Kafka's shortest (group.min.session.timeout.ms)
 * rather than librdkafka's 45 s, because a coordinator (the embedded one
 * at least) may wait nearly that long for a member that left to come
 * back before the next `weir consume --group` gets its partitions. */
#define CLI_CONSUME_SESSION_MS "6000"

/* --offset not given: beginning, or the group's committed offsets. */
#define CLI_CONSUME_OFFSET_UNSET INT64_MIN

typedef struct cli_consume_opts {
	const char *topic; /* first: cli_verb_arg_str */
	const char *bootstrap;
	int64_t offset; /* librdkafka's, or CLI_CONSUME_OFFSET_UNSET */
	bool from_beginning;
	const char *group; /* NULL: no group, every partition assigned */
	long count;        /* -1 = unlimited */
	bool exit_at_end;
	int64_t timeout_ms; /* -1 = none */
	cli_kfmt format;    /* -f, parsed; no items: not given */
} cli_consume_opts;

static const cli_consume_opts cli_consume_defaults = {
    .offset = CLI_CONSUME_OFFSET_UNSET, .count = -1, .timeout_ms = -1};

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
	*(int64_t *)field = strcmp(arg, "latest") == 0
	                        ? RD_KAFKA_OFFSET_END
	                        : RD_KAFKA_OFFSET_BEGINNING;
	return true;
}

/* --offset OFFSET */
static bool
cli_consume_offset(const cli_verb *v, const char *arg, void *field)
{
	if (cli_koffset_parse(arg, field))
		return true;
	fprintf(stderr,
	        "weir %s: --offset takes beginning, end, stored, N or -N, "
	        "not '%s'\n",
	        v->name, arg);
	return false;
}

/* -f FORMAT */
static bool
cli_consume_format(const cli_verb *v, const char *arg, void *field)
{
	char err[256];
	cli_kfmt *f = field;

	if (cli_kfmt_parse(arg, f, err, sizeof(err)))
		return true;
	fprintf(stderr, "weir %s: -f '%s': %s\n", v->name, arg, err);
	return false;
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
    CLI_FLAG_PARSE("offset", 0, cli_consume_opts, offset, cli_consume_offset),
    CLI_FLAG("from-beginning", 0, CLI_FLAG_BOOL, cli_consume_opts,
             from_beginning),
    CLI_FLAG_PARSE("from", 0, cli_consume_opts, offset, cli_consume_from),
    CLI_FLAG("group", 'G', CLI_FLAG_STR, cli_consume_opts, group),
    CLI_FLAG_PARSE("format", 'f', cli_consume_opts, format, cli_consume_format),
    CLI_FLAG_PARSE("count", 'n', cli_consume_opts, count, cli_consume_count),
    CLI_FLAG("exit", 'e', CLI_FLAG_BOOL, cli_consume_opts, exit_at_end),
    CLI_FLAG_PARSE("timeout", 0, cli_consume_opts, timeout_ms,
                   cli_consume_timeout),
    CLI_FLAGS_END,
};

/* Where a consume run is; the rebalance callback's opaque. */
typedef struct cli_consume_state {
	const cli_consume_opts *o;
	const char *bootstrap;
	int nparts;      /* the topic's partitions */
	char *eof;       /* [nparts]: read to its end */
	int at_end;      /* partitions read to their end */
	int assigned;    /* partitions this consumer reads */
	int64_t last_ms; /* last message, or the last assignment */
	long got;        /* messages printed */
	wr_buf json;     /* -o json: the line being made */
	const cli_kfmt *fmt;
} cli_consume_state;

/* Starts reading the partitions in tp (every one, or those the group
 * gave this member) at --offset when one was given. */
static rd_kafka_resp_err_t
cli_consume_start(rd_kafka_t *rk, cli_consume_state *st,
                  rd_kafka_topic_partition_list_t *tp)
{
	for (int i = 0; i < tp->cnt; i++)
		if (st->o->offset != CLI_CONSUME_OFFSET_UNSET)
			tp->elems[i].offset = st->o->offset;
	memset(st->eof, 0, (size_t)st->nparts);
	st->at_end = 0;
	st->assigned = tp->cnt;
	st->last_ms = wr_mono_ms();
	return rd_kafka_assign(rk, tp);
}

/* --group: partitions given and taken by the group coordinator. */
static void
cli_consume_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *tp, void *opaque)
{
	cli_consume_state *st = opaque;

	if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
		err = cli_consume_start(rk, st, tp);
	} else {
		st->assigned = 0;
		err = rd_kafka_assign(rk, NULL);
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
		fprintf(stderr, "weir consume: assign: %s\n",
		        rd_kafka_err2str(err));
}

/* Looks the topic up; without a group assigns all its partitions, with
 * one joins the group. */
static int
cli_consume_assign(rd_kafka_t *rk, cli_consume_state *st)
{
	const cli_consume_opts *o = st->o;
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
	st->nparts = n;
	st->eof = wr_xcalloc((size_t)n, 1);
	rd_kafka_topic_partition_list_t *tp =
	    rd_kafka_topic_partition_list_new(n);
	rd_kafka_resp_err_t err;
	if (o->group != NULL) {
		rd_kafka_topic_partition_list_add(tp, o->topic,
		                                  RD_KAFKA_PARTITION_UA);
		err = rd_kafka_subscribe(rk, tp);
	} else {
		for (int p = 0; p < n; p++)
			rd_kafka_topic_partition_list_add(tp, o->topic, p)
			    ->offset = RD_KAFKA_OFFSET_BEGINNING;
		err = cli_consume_start(rk, st, tp);
	}
	rd_kafka_topic_partition_list_destroy(tp);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr, "weir consume: %s: %s\n",
		        o->group ? "subscribe" : "assign",
		        rd_kafka_err2str(err));
		return CLI_FAILED;
	}
	return CLI_OK;
}

/* Prints one message by -f (or '%s\n'), or as JSON. */
static void
cli_consume_print(cli_consume_state *st, const rd_kafka_message_t *m)
{
	rd_kafka_headers_t *hdrs = NULL;
	size_t nh = 0;
	rd_kafka_timestamp_type_t tstype;

	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
		nh = rd_kafka_header_cnt(hdrs);
	cli_kheader *h = nh ? wr_xcalloc(nh, sizeof(*h)) : NULL;
	for (size_t i = 0; i < nh; i++)
		rd_kafka_header_get_all(hdrs, i, &h[i].name, &h[i].value,
		                        &h[i].value_len);
	cli_kmsg km = {
	    .topic = rd_kafka_topic_name(m->rkt),
	    .partition = m->partition,
	    .offset = m->offset,
	    .timestamp_ms = rd_kafka_message_timestamp(m, &tstype),
	    .key = m->key,
	    .key_len = m->key_len,
	    .value = m->payload,
	    .value_len = m->len,
	    .headers = h,
	    .nheaders = nh,
	};
	if (st->fmt == NULL) {
		wr_buf_reset(&st->json);
		cli_kmsg_json(&km, &st->json);
		wr_buf_putc(&st->json, '\n');
		fwrite(st->json.data, 1, st->json.len, stdout);
	} else {
		cli_kfmt_write(st->fmt, &km, stdout);
	}
	free(h);
}

/* Counts a partition reaching its end (on = true) or moving past it. */
static void
cli_consume_eof(cli_consume_state *st, int32_t partition, bool on)
{
	if (partition < 0 || partition >= st->nparts ||
	    st->eof[partition] == on)
		return;
	st->eof[partition] = on;
	st->at_end += on ? 1 : -1;
}

/* How long the run may go without a message: --timeout, but a member
 * of a group waits for its partitions at least CLI_CONSUME_JOIN_MS. */
static int64_t
cli_consume_idle_ms(const cli_consume_state *st)
{
	int64_t t = st->o->timeout_ms;
	if (t >= 0 && st->o->group != NULL && st->assigned == 0 &&
	    t < CLI_CONSUME_JOIN_MS)
		t = CLI_CONSUME_JOIN_MS;
	return t;
}

static int
cli_consume_loop(rd_kafka_t *rk, cli_consume_state *st)
{
	const cli_consume_opts *o = st->o;
	while (!cli_kafka_stop && (o->count < 0 || st->got < o->count)) {
		rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
		if (m == NULL) {
			int64_t idle = cli_consume_idle_ms(st);
			if (idle >= 0 && wr_mono_ms() - st->last_ms > idle)
				break;
			continue;
		}
		if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
			cli_consume_eof(st, m->partition, true);
		} else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
			fprintf(stderr, "weir consume: %s\n",
			        rd_kafka_message_errstr(m));
		} else {
			cli_consume_print(st, m);
			st->got++;
			st->last_ms = wr_mono_ms();
			cli_consume_eof(st, m->partition, false);
		}
		rd_kafka_message_destroy(m);
		if (o->exit_at_end && st->assigned > 0 &&
		    st->at_end == st->assigned)
			break;
	}
	fflush(stdout);
	if (o->count > 0 && st->got < o->count) {
		fprintf(stderr, "weir consume: got %ld of %ld messages\n",
		        st->got, o->count);
		return CLI_FAILED;
	}
	return CLI_OK;
}

/* The consumer's settings: a throwaway group without --group (nothing is
 * committed), else GROUP with what was printed committed. */
static rd_kafka_t *
cli_consume_client(cli_consume_state *st)
{
	const cli_consume_opts *o = st->o;
	char err[512], group[64];
	snprintf(group, sizeof(group), "weir-consume-%lld",
	         (long long)wr_wall_ms());
	rd_kafka_conf_t *conf = wr_kafka_conf_new(st->bootstrap);
	bool ok =
	    wr_kafka_conf_consumer_defaults(conf, err, sizeof(err)) == 0 &&
	    wr_kafka_conf_set(conf, "group.id", o->group ? o->group : group,
	                      err, sizeof(err)) == 0 &&
	    wr_kafka_conf_set(conf, "enable.partition.eof", "true", err,
	                      sizeof(err)) == 0 &&
	    wr_kafka_conf_set(conf, "auto.offset.reset",
	                      o->offset == RD_KAFKA_OFFSET_END ? "latest"
	                                                       : "earliest",
	                      err, sizeof(err)) == 0;
	if (ok && o->group != NULL) {
		ok = wr_kafka_conf_set(conf, "enable.auto.commit", "true", err,
		                       sizeof(err)) == 0 &&
		     wr_kafka_conf_set(conf, "enable.auto.offset.store", "true",
		                       err, sizeof(err)) == 0 &&
		     wr_kafka_conf_set(conf, "session.timeout.ms",
		                       CLI_CONSUME_SESSION_MS, err,
		                       sizeof(err)) == 0 &&
		     wr_kafka_conf_set(conf, "heartbeat.interval.ms", "2000",
		                       err, sizeof(err)) == 0;
		rd_kafka_conf_set_rebalance_cb(conf, cli_consume_rebalance);
		rd_kafka_conf_set_opaque(conf, st);
	}
	return cli_kafka_new("consume", RD_KAFKA_CONSUMER, conf, ok, err,
	                     sizeof(err));
}

/* Flags that make sense alone but not together. */
static bool
cli_consume_check(cli_ctx *ctx, cli_consume_opts *o)
{
	if (o->from_beginning) {
		if (o->offset != CLI_CONSUME_OFFSET_UNSET &&
		    o->offset != RD_KAFKA_OFFSET_BEGINNING) {
			fprintf(stderr, "weir consume: --from-beginning and "
			                "--offset/--from disagree\n");
			return false;
		}
		o->offset = RD_KAFKA_OFFSET_BEGINNING;
	}
	if (ctx->json && o->format.nitems > 0) { /* before the default */
		fprintf(stderr, "weir consume: -f and -o json exclude each "
		                "other\n");
		return false;
	}
	return true;
}

static int
cli_consume(cli_ctx *ctx, void *opts)
{
	cli_consume_opts *o = opts;
	char why[128];
	if (!cli_consume_check(ctx, o))
		return CLI_USAGE;
	if (o->format.nitems == 0) { /* values, one a line */
		bool ok = cli_kfmt_parse("%s\\n", &o->format, why, sizeof(why));
		WR_ASSERT(ok);
	}
	cli_consume_state st = {.o = o,
	                        .bootstrap = cli_bootstrap(ctx, o->bootstrap),
	                        .last_ms = wr_mono_ms()};
	st.fmt = ctx->json ? NULL : &o->format;
	rd_kafka_t *rk = cli_consume_client(&st);
	if (rk == NULL)
		return CLI_FAILED;
	wr_buf_init(&st.json);
	cli_kafka_signals();
	static char outbuf[1 << 16];
	setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	int rc = cli_consume_assign(rk, &st);
	if (rc == CLI_OK)
		rc = cli_consume_loop(rk, &st);
	if (o->group != NULL && st.got > 0) {
		rd_kafka_resp_err_t err = rd_kafka_commit(rk, NULL, 0);
		/* _NO_OFFSET: nothing stored since the last commit - the
		 * periodic auto-commit already took every offset read. */
		if (err != RD_KAFKA_RESP_ERR_NO_ERROR &&
		    err != RD_KAFKA_RESP_ERR__NO_OFFSET) {
			fprintf(stderr, "weir consume: commit: %s\n",
			        rd_kafka_err2str(err));
			rc = CLI_FAILED;
		}
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	free(st.eof);
	wr_buf_fini(&st.json);
	return rc;
}

const cli_verb cli_consume_verb = {
    .name = "consume",
    .summary = "print a Kafka topic's messages (-f format, -o json)",
    .usage = cli_consume_usage,
    .flags = cli_consume_flags,
    .min_args = 1,
    .max_args = 1,
    .opts_bytes = sizeof(cli_consume_opts),
    .defaults = &cli_consume_defaults,
    .args = cli_verb_arg_str,
    .run = cli_consume,
};
