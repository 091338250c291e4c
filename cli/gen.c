/*
 * gen.c - `weir gen orders`: writes realistic order events into Kafka for
 * demos, tests and benchmarks, at a steady rate.
 *
 * The events follow the shapes real shops see, so that windows, keys and
 * watermarks meet what they meet in production: a few hot products (Zipf),
 * log-normal amounts, mostly paid orders, event times slightly behind the
 * wall clock and, on request, a fraction of late, out-of-order events.
 * Everything but the wall-clock base of `ts` follows from --seed.
 */
#include "cli.h"

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
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLI_GEN_DEFAULT_PRODUCTS 100
#define CLI_GEN_CUSTOMERS        100000
/* Zipf exponent of product popularity: with 1.0 the hottest of 100
 * products gets about 19% of the orders, the coldest 0.2%. */
#define CLI_GEN_ZIPF_S 1.0
/* Log-normal amounts: median e^mu = 50, mean e^(mu + sigma^2 / 2) = 60. */
#define CLI_GEN_AMOUNT_MU    3.912
#define CLI_GEN_AMOUNT_SIGMA 0.604
#define CLI_GEN_AMOUNT_MIN   1.0
#define CLI_GEN_AMOUNT_MAX   10000.0
/* Every event is up to this much behind the wall clock; late ones are
 * LATE_MIN .. LATE_MAX behind (past typical out-of-orderness bounds). */
#define CLI_GEN_DELAY_MAX_MS 2000
#define CLI_GEN_LATE_MIN_MS  10000
#define CLI_GEN_LATE_MAX_MS  60000
#define CLI_GEN_EVENT_BYTES  256
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
	    "usage: weir gen orders --rate R --count N --topic T "
	    "[--bootstrap HOST:PORT]\n"
	    "                [--seed S] [--products P] [--late-fraction F] "
	    "[-o table|json]\n\n"
	    "Writes N order events as JSON to topic T (key: order_id) at about "
	    "R events/s:\n"
	    "  {\"order_id\": \"o-S-n\", \"product_id\": \"p-042\", "
	    "\"customer_id\": \"c-01234\",\n"
	    "   \"amount\": 57.30, \"status\": \"PAID\", \"ts\": EPOCH_MS}\n"
	    "Products are Zipf-skewed (a few are hot), amounts log-normal "
	    "around 60,\nstatus PAID 80%% / PENDING 15%% / CANCELLED 5%%, "
	    "ts up to 2 s behind the clock.\n\n"
	    "While it runs, stderr shows the orders delivered, the rate and "
	    "the ETA (one\nline rewritten on a terminal, a line a second "
	    "otherwise, none with -o json);\nat the end, how many orders "
	    "Kafka acknowledged. SIGTERM or Ctrl-C stops it\nwithin a "
	    "second, even with the broker gone: what Kafka has not "
	    "acknowledged\nhalf a second later is given up. Exit 1 when an "
	    "order was not delivered or gen\nstopped short of --count.\n\n"
	    "  --rate R           events per second; 0 = as fast as possible\n"
	    "  --count N          events to write; 0 = until Ctrl-C (needs "
	    "--rate > 0)\n"
	    "  --topic T          the topic to write to\n"
	    "  --bootstrap        Kafka bootstrap (default kafka.bootstrap, "
	    "env\n"
	    "                     WEIR_KAFKA_BOOTSTRAP)\n"
	    "  --seed S           makes the events reproducible (default: "
	    "random, printed)\n"
	    "  --products P       number of products (default %d, at most "
	    "%d)\n"
	    "  --time-step MS     replay: event times advance MS per event and "
	    "end now\n"
	    "                     (needs --count > 0)\n"
	    "  --late-fraction F  share of events 10-60 s late (0 .. 1, "
	    "default 0)\n",
	    CLI_GEN_DEFAULT_PRODUCTS, CLI_GEN_MAX_PRODUCTS);
}

typedef struct cli_gen_opts {
	const char *topic;
	const char *bootstrap;
	int64_t rate;     /* -1 = not given; 0 = unthrottled */
	int64_t count;    /* -1 = not given; 0 = until Ctrl-C */
	int64_t seed_arg; /* --seed; -1 = not given */
	uint64_t seed;    /* --seed, or a random one */
	int64_t products;
	double late_fraction;
	int64_t time_step_ms; /* > 0: replay: event time steps this much */
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
    CLI_FLAG_PARSE("late-fraction", 0, cli_gen_opts, late_fraction,
                   cli_gen_fraction),
    CLI_FLAG_RANGE("time-step", 0, cli_gen_opts, time_step_ms, 1, 3600000),
    CLI_FLAGS_END,
};

/* The generator's name, and what the flags must say together; prints why
 * not. */
static bool
cli_gen_args(const cli_verb *v, void *opts, int argc, char **argv)
{
	const cli_gen_opts *o = opts;

	(void)v;
	if (argc != 1) {
		cli_error("gen", "name one generator (orders)");
		return false;
	}
	if (strcmp(argv[0], "orders") != 0) {
		cli_error("gen", "unknown generator '%s' (known: orders)",
		          argv[0]);
		return false;
	}
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

/* ---- the events -------------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: fast, and the same sequence on
 * every platform for a given seed. */
typedef struct cli_gen_rng {
	uint64_t s[4];
} cli_gen_rng;

static uint64_t
cli_gen_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static void
cli_gen_rng_seed(cli_gen_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
		r->s[i] = z ^ (z >> 31);
	}
}

static uint64_t
cli_gen_rng_next(cli_gen_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = cli_gen_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = cli_gen_rotl(s[3], 45);
	return out;
}

/* Uniform in [0, 1). */
static double
cli_gen_unit(cli_gen_rng *r)
{
	return (double)(cli_gen_rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n); the bias of the multiply is below 2^-53 * n. */
static uint64_t
cli_gen_below(cli_gen_rng *r, uint64_t n)
{
	return (uint64_t)(cli_gen_unit(r) * (double)n);
}

typedef struct cli_gen_src {
	cli_gen_rng rng;
	uint64_t seed;
	double late_fraction;
	int nproducts;
	int pwidth;      /* digits of a product number, at least 3 */
	double *cdf;     /* Zipf CDF by popularity rank */
	int *product_of; /* rank -> product number, shuffled by the seed */
} cli_gen_src;

static void
cli_gen_init(cli_gen_src *g, const cli_gen_opts *o)
{
	int n = (int)o->products;
	double sum = 0;

	memset(g, 0, sizeof(*g));
	g->seed = o->seed;
	g->late_fraction = o->late_fraction;
	g->nproducts = n;
	g->pwidth = snprintf(NULL, 0, "%d", n - 1);
	g->pwidth = g->pwidth < 3 ? 3 : g->pwidth;
	cli_gen_rng_seed(&g->rng, o->seed);
	g->cdf = wr_xcalloc((size_t)n, sizeof(double));
	g->product_of = wr_xcalloc((size_t)n, sizeof(int));
	for (int i = 0; i < n; i++) {
		sum += 1.0 / pow(i + 1, CLI_GEN_ZIPF_S);
		g->cdf[i] = sum;
		g->product_of[i] = i;
	}
	for (int i = 0; i < n; i++)
		g->cdf[i] /= sum;
	/* Which products are hot depends on the seed, not on their number. */
	for (int i = n - 1; i > 0; i--) {
		int j = (int)cli_gen_below(&g->rng, (uint64_t)i + 1);
		int t = g->product_of[i];
		g->product_of[i] = g->product_of[j];
		g->product_of[j] = t;
	}
}

static void
cli_gen_fini(cli_gen_src *g)
{
	free(g->cdf);
	free(g->product_of);
}

/* A product number drawn by popularity: the first rank whose CDF passes
 * a uniform draw (binary search). */
static int
cli_gen_product(cli_gen_src *g)
{
	double u = cli_gen_unit(&g->rng);
	int lo = 0, hi = g->nproducts - 1;
	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		if (g->cdf[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return g->product_of[lo];
}

/* Log-normal (Box-Muller), rounded to cents and kept within bounds. */
static double
cli_gen_amount(cli_gen_src *g)
{
	double u1 = 1.0 - cli_gen_unit(&g->rng); /* (0, 1]: log is finite */
	double u2 = cli_gen_unit(&g->rng);
	double z = sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
	double a = exp(CLI_GEN_AMOUNT_MU + CLI_GEN_AMOUNT_SIGMA * z);
	a = a < CLI_GEN_AMOUNT_MIN ? CLI_GEN_AMOUNT_MIN : a;
	a = a > CLI_GEN_AMOUNT_MAX ? CLI_GEN_AMOUNT_MAX : a;
	return floor(a * 100.0 + 0.5) / 100.0;
}

/*
 * Writes event n as JSON into val and its order id (the message key) into
 * key. Every event takes the same number of draws, so the same seed gives
 * the same orders whatever --late-fraction says.
 */
static void
cli_gen_order(cli_gen_src *g, uint64_t n, int64_t now_ms, char *key,
              size_t keylen, char *val, size_t vallen)
{
	int product = cli_gen_product(g);
	uint64_t customer = cli_gen_below(&g->rng, CLI_GEN_CUSTOMERS);
	double amount = cli_gen_amount(g);
	double st = cli_gen_unit(&g->rng);
	int64_t delay = (int64_t)cli_gen_below(&g->rng, CLI_GEN_DELAY_MAX_MS);
	bool late = cli_gen_unit(&g->rng) < g->late_fraction;
	int64_t late_delay =
	    CLI_GEN_LATE_MIN_MS +
	    (int64_t)cli_gen_below(&g->rng,
	                           CLI_GEN_LATE_MAX_MS - CLI_GEN_LATE_MIN_MS);
	const char *status = st < 0.80   ? "PAID"
	                     : st < 0.95 ? "PENDING"
	                                 : "CANCELLED";

	snprintf(key, keylen, "o-%" PRIu64 "-%" PRIu64, g->seed, n);
	snprintf(val, vallen,
	         "{\"order_id\":\"%s\",\"product_id\":\"p-%0*d\","
	         "\"customer_id\":\"c-%05" PRIu64 "\",\"amount\":%.2f,"
	         "\"status\":\"%s\",\"ts\":%" PRId64 "}",
	         key, g->pwidth, product, customer, amount, status,
	         now_ms - (late ? late_delay : delay));
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
} cli_gen_run;

static void
cli_gen_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	cli_gen_run *r = opaque;
	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
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

/* The progress line: orders delivered (of --count), those queued but not
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
	                  "weir gen: %" PRIu64 "%s orders delivered%s, "
	                  "%.0f/s%s, %s",
	                  r->delivered, of, waiting, rate, eta, el);
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

/* Queues one message, waiting while librdkafka's queue is full. */
static int
cli_gen_produce(cli_gen_run *r, const char *key, const char *val)
{
	rd_kafka_resp_err_t err;
	while ((err = rd_kafka_producev(
	            r->rk, RD_KAFKA_V_TOPIC(r->o->topic),
	            RD_KAFKA_V_KEY(key, strlen(key)),
	            RD_KAFKA_V_VALUE((void *)val, strlen(val)),
	            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	            RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL &&
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
	char key[64], val[CLI_GEN_EVENT_BYTES];
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
		cli_gen_order(g, r->sent, now, key, sizeof(key), val,
		              sizeof(val));
		rc = cli_gen_produce(r, key, val);
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

static void
cli_gen_report(cli_gen_run *r, int64_t ms)
{
	const cli_gen_opts *o = r->o;

	if (!r->ctx->json) {
		fprintf(stderr,
		        "weir gen: %" PRIu64 " orders to %s in %.1fs (seed "
		        "%" PRIu64 ")\n",
		        r->delivered, o->topic, (double)ms / 1000.0, o->seed);
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
cli_gen_finish(cli_gen_run *r)
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
	cli_gen_report(r, ms);
	if (lost > 0) {
		cli_error("gen",
		          "%" PRIu64 " of %" PRIu64
		          " orders not delivered: %s%s",
		          lost, r->sent,
		          r->failed > 0 ? r->first_error : "not acknowledged",
		          drained ? "" : " (gave up waiting for Kafka)");
		return CLI_FAILED;
	}
	if (cut)
		cli_error("gen",
		          "interrupted after %" PRIu64 " of %" PRId64 " orders",
		          r->sent, o->count);
	return cut ? CLI_FAILED : CLI_OK;
}

static int
cli_gen(cli_ctx *ctx, void *opts)
{
	cli_gen_opts *o = opts;
	cli_gen_run r = {.ctx = ctx, .o = o, .rate = -1.0};
	struct sigaction sa = {0};
	cli_gen_src g;
	int rc;

	/* A small default seed keeps order ids short and distinct between
	 * runs; the report prints it so a run can be repeated. */
	o->seed = o->seed_arg >= 0 ? (uint64_t)o->seed_arg
	                           : wr_random_u64() % 1000000;
	cli_progress_init(&r.prog, ctx, CLI_GEN_PLAIN_MS);
	r.win_ms = r.prog.start_ms;
	if ((r.rk = cli_gen_producer(&r)) == NULL)
		return CLI_FAILED;
	sa.sa_handler = cli_gen_on_signal; /* no SA_RESTART: stop waits */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = cli_gen_check_topic(&r);
	if (rc == CLI_OK) {
		cli_gen_init(&g, o);
		rc = cli_gen_loop(&r, &g);
		cli_gen_fini(&g);
		int frc = cli_gen_finish(&r);
		rc = rc == CLI_OK ? frc : rc;
	}
	rd_kafka_destroy(r.rk);
	return rc;
}

const cli_verb cli_gen_verb = {
    .name = "gen",
    .summary = "generate test events (orders) into a Kafka topic",
    .usage = cli_gen_usage,
    .hint = "(weir gen --help shows the usage)\n",
    .flags = cli_gen_flags,
    .max_args = CLI_ARGS_ANY,
    .opts_bytes = sizeof(cli_gen_opts),
    .defaults = &cli_gen_defaults,
    .args = cli_gen_args,
    .run = cli_gen,
};
