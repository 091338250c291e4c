/*
 * gen.c - `weir gen orders|clicks|payments|catalog|readings`: writes
 * realistic events into Kafka for demos, tests and benchmarks, at a
 * steady rate.
 *
 * The events follow the shapes real pipelines see, so that windows, keys,
 * joins, patterns and watermarks meet what they meet in production
 * (gen_data.c makes them; docs/operations.md describes each). Everything
 * but the wall-clock base of `ts` follows from --seed.
 */
#include "cli.h"
#include "gen.h"

#include "buf.h"
#include "clock.h"
#include "err.h"
#include "id.h"
#include "json.h"
#include "kafka.h"
#include "mem.h"
#include "wr_limits.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>

#define CLI_GEN_DEFAULT_PRODUCTS 100
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Progress: how often the line is refreshed (a terminal's), at most one
 * plain line a second, the rate over about a second. */
#define CLI_GEN_SHOW_MS        100
#define CLI_GEN_PLAIN_MS       1000
#define CLI_GEN_RATE_WINDOW_MS 1000
/* Waiting for the broker's first answer (the topic's partitions): in
 * slices of ASK_MS, so that a signal ends it at once, for WAIT_MS in all. */
#define CLI_GEN_TOPIC_ASK_MS  250
#define CLI_GEN_TOPIC_WAIT_MS 5000
/* After SIGTERM or SIGINT: how long what was queued may still take to be
 * acknowledged before it is given up (gen exits within a second of the
 * signal even with its broker gone). */
#define CLI_GEN_STOP_FLUSH_MS 500

static volatile sig_atomic_t cli_gen_stop;

static void
cli_gen_on_signal(int sig)
{
	(void)sig;
	cli_gen_stop = 1;
}

static void
cli_gen_usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: weir gen orders|clicks|payments|catalog|readings --rate R "
	    "--count N\n"
	    "                --topic T [--bootstrap HOST:PORT] [--seed S] "
	    "[--products P]\n"
	    "                [--keys K] [--time-step MS] [--late-fraction F] "
	    "[-o table|json]\n\n"
	    "Writes N events as JSON to topic T at about R events/s (message "
	    "key first):\n"
	    "  orders    order_id: {order_id, product_id, customer_id, "
	    "amount, status, ts}\n"
	    "            Zipf-hot products, amounts log-normal around 60, "
	    "PAID 80%%,\n"
	    "            ts up to 2 s behind the clock\n"
	    "  clicks    user_id: {user_id, page, ts}: sessions of 1-30 "
	    "clicks 1-20 s\n"
	    "            apart, 60-600 s idle between a user's sessions\n"
	    "  payments  card_id: {card_id, customer_id, kind, status, "
	    "amount, ts}: planted\n"
	    "            decline bursts (3 DECLINED then APPROVED) and "
	    "takeovers (a\n"
	    "            password_change, then a purchase of 15-25x the "
	    "customer's usual)\n"
	    "  catalog   product_id: {product_id, category, price, ts}: "
	    "every product,\n"
	    "            then price updates and tombstones (null values)\n"
	    "  readings  sensor_id: {sensor_id, temperature, ts}, about 1/s "
	    "per sensor,\n"
	    "            with planted spikes of 8-15 degrees\n"
	    "docs/operations.md has the exact shapes. The report (stderr, or "
	    "-o json)\ncounts what was planted. Ctrl-C or SIGTERM stops it "
	    "within a second; exit 1\nwhen an event was not delivered or "
	    "gen stopped short of --count.\n\n"
	    "  --rate R           events per second; 0 = as fast as possible\n"
	    "  --count N          events to write; 0 = until Ctrl-C (needs "
	    "--rate > 0)\n"
	    "  --topic T          the topic to write to\n"
	    "  --bootstrap        Kafka bootstrap (default kafka.bootstrap, "
	    "env\n"
	    "                     WEIR_KAFKA_BOOTSTRAP)\n"
	    "  --seed S           makes the events reproducible (default: "
	    "random, printed)\n"
	    "  --products P       orders, clicks, catalog: number of products "
	    "(default %d,\n"
	    "                     at most %d)\n"
	    "  --keys K           clicks: users (1000), payments: cards "
	    "(1000), readings:\n"
	    "                     sensors (100); at most %d\n"
	    "  --time-step MS     orders, catalog: replay: event times advance "
	    "MS per event\n"
	    "                     and end now (needs --count > 0)\n"
	    "  --late-fraction F  orders: share of events 10-60 s late (0 .. "
	    "1, default 0)\n",
	    CLI_GEN_DEFAULT_PRODUCTS, CLI_GEN_MAX_PRODUCTS, CLI_GEN_MAX_KEYS);
}

typedef struct cli_gen_opts {
	const char *topic;
	const char *bootstrap;
	int64_t rate;     /* -1 = not given; 0 = unthrottled */
	int64_t count;    /* -1 = not given; 0 = until Ctrl-C */
	int64_t seed_arg; /* --seed; -1 = not given */
	uint64_t seed;    /* --seed, or a random one */
	int64_t products;
	int64_t keys; /* 0: the generator's default */
	double late_fraction;
	int64_t time_step_ms; /* > 0: replay: event time steps this much */
	const cli_gen_kind *kind;
} cli_gen_opts;

static const cli_gen_opts cli_gen_defaults = {
    .rate = -1,
    .count = -1,
    .seed_arg = -1,
    .products = CLI_GEN_DEFAULT_PRODUCTS,
};

/* --late-fraction: a fraction in [0, 1], the whole string. */
static bool
cli_gen_fraction(const cli_verb *v, const char *arg, void *field)
{
	char *end;
	errno = 0;
	double f = strtod(arg, &end);
	if (errno != 0 || end == arg || *end != '\0' ||
	    !(f >= 0.0 && f <= 1.0)) {
		cli_error(v->name, "--late-fraction takes 0 .. 1, not '%s'",
		          arg);
		return false;
	}
	*(double *)field = f;
	return true;
}

static const cli_flag cli_gen_flags[] = {
    CLI_FLAG_RANGE("rate", 0, cli_gen_opts, rate, 0, CLI_GEN_MAX_RATE),
    CLI_FLAG_RANGE("count", 0, cli_gen_opts, count, 0, INT64_MAX),
    CLI_FLAG("topic", 0, CLI_FLAG_STR, cli_gen_opts, topic),
    CLI_FLAG("bootstrap", 0, CLI_FLAG_STR, cli_gen_opts, bootstrap),
    CLI_FLAG_RANGE("seed", 0, cli_gen_opts, seed_arg, 0, INT64_MAX),
    CLI_FLAG_RANGE("products", 0, cli_gen_opts, products, 1,
                   CLI_GEN_MAX_PRODUCTS),
    CLI_FLAG_RANGE("keys", 0, cli_gen_opts, keys, 1, CLI_GEN_MAX_KEYS),
    CLI_FLAG_PARSE("late-fraction", 0, cli_gen_opts, late_fraction,
                   cli_gen_fraction),
    CLI_FLAG_RANGE("time-step", 0, cli_gen_opts, time_step_ms, 1, 3600000),
    CLI_FLAGS_END,
};

/* Flags that do not apply to the generator are refused (a --keys given
 * to orders would silently do nothing). */
static bool
cli_gen_flags_apply(const cli_gen_opts *o)
{
	const cli_gen_kind *k = o->kind;
	const char *no =
	    k->keys_what == NULL && o->keys > 0 ? "--keys"
	    : !k->products && o->products != CLI_GEN_DEFAULT_PRODUCTS
	        ? "--products"
	    : !k->clock && o->time_step_ms > 0 ? "--time-step"
	    : !k->late && o->late_fraction > 0 ? "--late-fraction"
	                                       : NULL;
	if (no != NULL)
		cli_error("gen", "%s does not apply to %s", no, k->name);
	return no == NULL;
}

/* The generator's name, and what the flags must say together; prints why
 * not. */
static bool
cli_gen_args(const cli_verb *v, void *opts, int argc, char **argv)
{
	cli_gen_opts *o = opts;

	(void)v;
	if (argc != 1) {
		cli_error("gen", "name one generator (%s)",
		          cli_gen_kind_names());
		return false;
	}
	if ((o->kind = cli_gen_kind_find(argv[0])) == NULL) {
		cli_error("gen", "unknown generator '%s' (known: %s)", argv[0],
		          cli_gen_kind_names());
		return false;
	}
	if (!cli_gen_flags_apply(o))
		return false;
	if (o->topic == NULL || o->rate < 0 || o->count < 0) {
		cli_error("gen", "--topic, --rate and --count are required");
		return false;
	}
	if (o->rate == 0 && o->count == 0) {
		cli_error("gen", "--count 0 (no end) needs a --rate above 0");
		return false;
	}
	if (o->time_step_ms > 0 && o->count == 0) {
		cli_error("gen", "--time-step needs a --count");
		return false;
	}
	return true;
}

/* ---- into Kafka -------------------------------------------------------- */

/* A run of the generator: what it queued, what Kafka acknowledged, and
 * its progress line. */
typedef struct cli_gen_run {
	cli_ctx *ctx;
	const cli_gen_opts *o;
	rd_kafka_t *rk;
	uint64_t sent;      /* queued */
	uint64_t delivered; /* acknowledged by Kafka */
	uint64_t failed;
	char first_error[256];
	cli_progress prog;
	/* The rate: delivered a second over the last window (< 0: no
	 * window yet), the window's start and count then. */
	double rate;
	int64_t win_ms;
	uint64_t win_mark;
	uint64_t shown; /* sent + delivered of the last line */
	/* Milliseconds from produce() (the record's CreateTime) to Kafka's
	 * acknowledgement, per delivered record: what the record waited in
	 * the producer's queue and the broker before it was appended (the
	 * seeds' latency table counts from CreateTime). Bounded by
	 * message.timeout.ms = CLI_GEN_FLUSH_MS. */
	uint64_t *ack_ms;
} cli_gen_run;

static void
cli_gen_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	cli_gen_run *r = opaque;
	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		int64_t us = rd_kafka_message_latency(m);
		int64_t ms = us < 0 ? 0 : us / 1000;
		r->ack_ms[ms < CLI_GEN_FLUSH_MS ? ms : CLI_GEN_FLUSH_MS]++;
		r->delivered++;
		return;
	}
	if (r->failed++ == 0)
		snprintf(r->first_error, sizeof(r->first_error), "%s",
		         rd_kafka_err2str(m->err));
}

/* The rate shown: over the last CLI_GEN_RATE_WINDOW_MS, or since the
 * start while there is no such window yet. */
static double
cli_gen_rate(cli_gen_run *r, int64_t now)
{
	int64_t win = now - r->win_ms;
	int64_t all = now - r->prog.start_ms;

	if (win >= CLI_GEN_RATE_WINDOW_MS) {
		r->rate =
		    (double)(r->delivered - r->win_mark) * 1000.0 / (double)win;
		r->win_ms = now;
		r->win_mark = r->delivered;
	}
	if (r->rate >= 0)
		return r->rate;
	return all > 0 ? (double)r->delivered * 1000.0 / (double)all : 0.0;
}

/* The progress line: events delivered (of --count), those queued but not
 * acknowledged yet, the rate, the ETA at that rate, the time so far. */
static void
cli_gen_show(cli_gen_run *r, bool force)
{
	int64_t now = wr_mono_ms();
	double rate = cli_gen_rate(r, now);
	char of[48] = "", waiting[48] = "", eta[48] = "", el[32], t[32];

	if (r->o->count > 0)
		snprintf(of, sizeof(of), " of %" PRId64, r->o->count);
	if (r->sent > r->delivered + r->failed)
		snprintf(waiting, sizeof(waiting), ", %" PRIu64 " waiting",
		         r->sent - r->delivered - r->failed);
	if (r->o->count > 0 && rate >= 1.0 &&
	    r->delivered < (uint64_t)r->o->count) {
		double left = (double)((uint64_t)r->o->count - r->delivered);
		cli_format_elapsed((int64_t)(left / rate * 1000.0), t,
		                   sizeof(t));
		snprintf(eta, sizeof(eta), ", ETA %s", t);
	}
	cli_format_elapsed(now - r->prog.start_ms, el, sizeof(el));
	cli_progress_show(&r->prog, r->sent + r->delivered != r->shown, force,
	                  "weir gen: %" PRIu64 "%s %s delivered%s, "
	                  "%.0f/s%s, %s",
	                  r->delivered, of, r->o->kind->noun, waiting, rate,
	                  eta, el);
	r->shown = r->sent + r->delivered;
}

/* A token bucket: `rate` tokens a second, at most a tenth of a second's
 * worth saved up, so a stall is not followed by a long burst. */
typedef struct cli_gen_bucket {
	double tokens;
	double burst;
	double per_ms;
	int64_t last_ms;
} cli_gen_bucket;

static void
cli_gen_bucket_init(cli_gen_bucket *b, int64_t rate)
{
	b->per_ms = (double)rate / 1000.0;
	b->burst = (double)rate / 10.0 < 1.0 ? 1.0 : (double)rate / 10.0;
	b->tokens = 1.0;
	b->last_ms = wr_mono_ms();
}

/* Takes a token; returns 0, or how many ms to wait for one. */
static int
cli_gen_bucket_take(cli_gen_bucket *b)
{
	int64_t now = wr_mono_ms();
	b->tokens += (double)(now - b->last_ms) * b->per_ms;
	b->tokens = b->tokens > b->burst ? b->burst : b->tokens;
	b->last_ms = now;
	if (b->tokens >= 1.0) {
		b->tokens -= 1.0;
		return 0;
	}
	double wait = ceil((1.0 - b->tokens) / b->per_ms);
	return wait < 1.0 ? 1 : wait > 100.0 ? 100 : (int)wait;
}

/* Queues one message (a tombstone: a null value), waiting while
 * librdkafka's queue is full. */
static int
cli_gen_produce(cli_gen_run *r, const cli_gen_msg *m)
{
	const char *val = m->tombstone ? NULL : m->val;
	rd_kafka_resp_err_t err;
	while ((err = rd_kafka_producev(
	            r->rk, RD_KAFKA_V_TOPIC(r->o->topic),
	            RD_KAFKA_V_KEY(m->key, strlen(m->key)),
	            RD_KAFKA_V_VALUE((void *)val, val ? strlen(val) : 0),
	            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	            RD_KAFKA_V_TIMESTAMP(m->ts), RD_KAFKA_V_END)) ==
	           RD_KAFKA_RESP_ERR__QUEUE_FULL &&
	       !cli_gen_stop) {
		rd_kafka_poll(r->rk, 50);
		cli_gen_show(r, false);
	}
	if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		return CLI_OK; /* stopped while the queue was full */
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		cli_error("gen", "%s", rd_kafka_err2str(err));
		return CLI_FAILED;
	}
	r->sent++;
	return CLI_OK;
}

/* Generates until --count or a signal. */
static int
cli_gen_loop(cli_gen_run *r, cli_gen_src *g)
{
	const cli_gen_opts *o = r->o;
	cli_gen_msg m;
	int64_t show = 0;
	cli_gen_bucket b;
	int rc = CLI_OK;

	/* Replay (--time-step): the events' times run up to now, as if the
	 * last count x step of history were being sent at once. */
	int64_t replay_base = wr_wall_ms() - o->count * o->time_step_ms;
	cli_gen_bucket_init(&b, o->rate);
	while (rc == CLI_OK && !cli_gen_stop &&
	       (o->count == 0 || r->sent < (uint64_t)o->count)) {
		if (wr_mono_ms() >= show) {
			cli_gen_show(r, false);
			show = wr_mono_ms() + CLI_GEN_SHOW_MS;
		}
		int wait = o->rate > 0 ? cli_gen_bucket_take(&b) : 0;
		if (wait > 0) {
			rd_kafka_poll(r->rk, wait);
			continue;
		}
		int64_t now =
		    o->time_step_ms > 0
		        ? replay_base + (int64_t)r->sent * o->time_step_ms
		        : wr_wall_ms();
		cli_gen_src_next(g, r->sent, now, &m);
		rc = cli_gen_produce(r, &m);
		rd_kafka_poll(r->rk, 0);
	}
	return rc;
}

/* A producer whose delivery reports count in r. */
static rd_kafka_t *
cli_gen_producer(cli_gen_run *r)
{
	char err[512], timeout[32];
	rd_kafka_conf_t *conf =
	    wr_kafka_conf_new(cli_bootstrap(r->ctx, r->o->bootstrap));
	rd_kafka_t *rk = NULL;

	snprintf(timeout, sizeof(timeout), "%d", CLI_GEN_FLUSH_MS);
	rd_kafka_conf_set_dr_msg_cb(conf, cli_gen_dr);
	rd_kafka_conf_set_opaque(conf, r);
	if (wr_kafka_conf_set(conf, "linger.ms", "5", err, sizeof(err)) ||
	    wr_kafka_conf_set(conf, "message.timeout.ms", timeout, err,
	                      sizeof(err)) ||
	    (rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err))) ==
	        NULL) {
		rd_kafka_conf_destroy(conf);
		cli_error("gen", "%s", err);
	}
	return rk;
}

/* Whether the answer about the topic may change by asking again: the
 * broker did not answer in time, or is not reachable (yet: connecting
 * and the version handshake take a while). */
static bool
cli_gen_topic_retry(int n)
{
	return n == -WR_ETIMEDOUT || n == -WR_EUNREACHABLE;
}

/* Fails early on a missing topic, rather than every message after
 * message.timeout.ms (a broker that creates topics on demand, as the
 * embedded Kafka does, creates it here), and on a broker that does not
 * answer within CLI_GEN_TOPIC_WAIT_MS. Asks in short slices, so that a
 * signal ends the wait at once (then CLI_OK: nothing was sent, and the
 * report says so). */
static int
cli_gen_check_topic(cli_gen_run *r)
{
	int64_t until = wr_mono_ms() + CLI_GEN_TOPIC_WAIT_MS;
	const char *bootstrap = cli_bootstrap(r->ctx, r->o->bootstrap);
	int n = -WR_ETIMEDOUT;
	char el[32];

	while (cli_gen_topic_retry(n) && !cli_gen_stop &&
	       wr_mono_ms() < until) {
		n = wr_kafka_partition_count(r->rk, r->o->topic,
		                             CLI_GEN_TOPIC_ASK_MS);
		cli_format_elapsed(cli_progress_elapsed_ms(&r->prog), el,
		                   sizeof(el));
		if (cli_gen_topic_retry(n))
			cli_progress_show(
			    &r->prog, false, false,
			    "weir gen: waiting for Kafka at %s, %s", bootstrap,
			    el);
	}
	if (n > 0 || (cli_gen_topic_retry(n) && cli_gen_stop))
		return CLI_OK;
	char bs[512];
	cli_error("gen", "topic %s: %s (brokers %s)", r->o->topic,
	          n == -WR_ENOENT ? "does not exist" : wr_strerror(-n),
	          wr_kafka_brokers(r->rk, bs, sizeof(bs)));
	return CLI_FAILED;
}

/* The p-th percentile (0-100) of the acknowledgement times, ms. */
static int64_t
cli_gen_ack_pct(const cli_gen_run *r, int p)
{
	uint64_t seen = 0, rank = r->delivered * (uint64_t)p / 100;
	for (int64_t ms = 0; ms <= CLI_GEN_FLUSH_MS; ms++) {
		seen += r->ack_ms[ms];
		if (seen > rank)
			return ms;
	}
	return CLI_GEN_FLUSH_MS;
}

/* The report: delivered, seed, and what the generator planted
 * ("planted": {"decline_bursts": 3, ...} in JSON). */
static void
cli_gen_report(cli_gen_run *r, const cli_gen_src *g, int64_t ms)
{
	const cli_gen_opts *o = r->o;
	const char *const *names = o->kind->planted;
	uint64_t planted[CLI_GEN_PLANTED_KINDS];

	cli_gen_src_planted(g, planted);
	if (!r->ctx->json) {
		fprintf(stderr,
		        "weir gen: %" PRIu64 " %s to %s in %.1fs (seed "
		        "%" PRIu64,
		        r->delivered, o->kind->noun, o->topic,
		        (double)ms / 1000.0, o->seed);
		for (int i = 0; names[i] != NULL; i++)
			fprintf(stderr, "%s%" PRIu64 " %s", i ? ", " : "; ",
			        planted[i], names[i]);
		fprintf(stderr, ")\n");
		return;
	}
	wr_buf b;
	wr_json j;
	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "topic", o->topic);
	wr_json_kv_int(&j, "count", (int64_t)r->delivered);
	wr_json_key(&j, "seed");
	wr_json_uint(&j, o->seed);
	wr_json_kv_int(&j, "duration_ms", ms);
	wr_json_kv_str(&j, "generator", o->kind->name);
	if (r->delivered > 0) {
		wr_json_key(&j, "ack_ms");
		wr_json_obj_begin(&j);
		wr_json_kv_int(&j, "p50", cli_gen_ack_pct(r, 50));
		wr_json_kv_int(&j, "p99", cli_gen_ack_pct(r, 99));
		wr_json_obj_end(&j);
	}
	if (names[0] != NULL) {
		wr_json_key(&j, "planted");
		wr_json_obj_begin(&j);
		for (int i = 0; names[i] != NULL; i++) {
			wr_json_key(&j, names[i]);
			wr_json_uint(&j, planted[i]);
		}
		wr_json_obj_end(&j);
	}
	wr_json_obj_end(&j);
	cli_json_end(&b);
}

/*
 * Waits for Kafka to acknowledge what was queued: up to CLI_GEN_FLUSH_MS,
 * but only CLI_GEN_STOP_FLUSH_MS once a signal asked to stop, so a broker
 * that is gone cannot hold an interrupted gen. What is still queued then
 * is purged (its delivery reports count it as failed). False when
 * something was purged.
 */
static bool
cli_gen_drain(cli_gen_run *r)
{
	int64_t until = wr_mono_ms() + CLI_GEN_FLUSH_MS, stop_by = 0;

	while (rd_kafka_outq_len(r->rk) > 0) {
		int64_t now = wr_mono_ms();
		if (cli_gen_stop && stop_by == 0)
			stop_by = now + CLI_GEN_STOP_FLUSH_MS;
		int64_t end = stop_by > 0 && stop_by < until ? stop_by : until;
		if (now >= end)
			break;
		rd_kafka_flush(r->rk, end - now < CLI_GEN_SHOW_MS
		                          ? (int)(end - now)
		                          : CLI_GEN_SHOW_MS);
		cli_gen_show(r, false);
	}
	if (rd_kafka_outq_len(r->rk) == 0)
		return true;
	rd_kafka_purge(r->rk,
	               RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	/* The purged messages' delivery reports, served at once. */
	rd_kafka_flush(r->rk, CLI_GEN_SHOW_MS);
	return false;
}

/* Waits for the deliveries, reports, and gives the exit code. */
static int
cli_gen_finish(cli_gen_run *r, const cli_gen_src *g)
{
	const cli_gen_opts *o = r->o;
	bool drained = cli_gen_drain(r);
	int64_t ms = cli_progress_elapsed_ms(&r->prog);
	uint64_t lost = r->sent - r->delivered;
	/* Stopped short of --count: what was sent is delivered, but a
	 * script waiting for N events did not get them. */
	bool cut = o->count > 0 && r->sent < (uint64_t)o->count;

	cli_gen_show(r, true);
	cli_progress_done(&r->prog);
	cli_gen_report(r, g, ms);
	if (lost > 0) {
		cli_error("gen",
		          "%" PRIu64 " of %" PRIu64 " %s not delivered: %s%s",
		          lost, r->sent, o->kind->noun,
		          r->failed > 0 ? r->first_error : "not acknowledged",
		          drained ? "" : " (gave up waiting for Kafka)");
		return CLI_FAILED;
	}
	if (cut)
		cli_error("gen",
		          "interrupted after %" PRIu64 " of %" PRId64 " %s",
		          r->sent, o->count, o->kind->noun);
	return cut ? CLI_FAILED : CLI_OK;
}

static int
cli_gen(cli_ctx *ctx, void *opts)
{
	cli_gen_opts *o = opts;
	cli_gen_run r = {.ctx = ctx, .o = o, .rate = -1.0};
	struct sigaction sa = {0};
	cli_gen_src *g;
	int rc;

	/* A small default seed keeps order ids short and distinct between
	 * runs; the report prints it so a run can be repeated. */
	o->seed = o->seed_arg >= 0 ? (uint64_t)o->seed_arg
	                           : wr_random_u64() % 1000000;
	cli_progress_init(&r.prog, ctx, CLI_GEN_PLAIN_MS);
	r.win_ms = r.prog.start_ms;
	if ((r.rk = cli_gen_producer(&r)) == NULL)
		return CLI_FAILED;
	r.ack_ms = wr_xcalloc(CLI_GEN_FLUSH_MS + 1, sizeof(*r.ack_ms));
	sa.sa_handler = cli_gen_on_signal; /* no SA_RESTART: stop waits */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = cli_gen_check_topic(&r);
	if (rc == CLI_OK) {
		cli_gen_params p = {.seed = o->seed,
		                    .products = o->products,
		                    .keys = o->keys,
		                    .late_fraction = o->late_fraction,
		                    .count = o->count,
		                    .start_ms = wr_wall_ms()};
		g = cli_gen_src_new(o->kind, &p);
		rc = cli_gen_loop(&r, g);
		int frc = cli_gen_finish(&r, g);
		rc = rc == CLI_OK ? frc : rc;
		cli_gen_src_free(g);
	}
	rd_kafka_destroy(r.rk);
	free(r.ack_ms);
	return rc;
}

const cli_verb cli_gen_verb = {
    .name = "gen",
    .summary = "generate test events (orders, clicks, payments, ...) "
               "into a Kafka topic",
    .usage = cli_gen_usage,
    .hint = "(weir gen --help shows the usage)\n",
    .flags = cli_gen_flags,
    .max_args = CLI_ARGS_ANY,
    .opts_bytes = sizeof(cli_gen_opts),
    .defaults = &cli_gen_defaults,
    .args = cli_gen_args,
    .run = cli_gen,
};
