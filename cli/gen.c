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
#define CLI_GEN_PROGRESS_MS  5000
#define CLI_GEN_EVENT_BYTES  256

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

typedef struct cli_gen_stats {
	uint64_t delivered;
	uint64_t failed;
	char first_error[256];
} cli_gen_stats;

static void
cli_gen_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	cli_gen_stats *st = opaque;
	(void)rk;
	if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
		st->delivered++;
		return;
	}
	if (st->failed++ == 0)
		snprintf(st->first_error, sizeof(st->first_error), "%s",
		         rd_kafka_err2str(m->err));
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
cli_gen_produce(rd_kafka_t *rk, const char *topic, const char *key,
                const char *val)
{
	rd_kafka_resp_err_t err;
	while (
	    (err = rd_kafka_producev(
	         rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
	         RD_KAFKA_V_VALUE((void *)val, strlen(val)),
	         RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
	        RD_KAFKA_RESP_ERR__QUEUE_FULL &&
	    !cli_gen_stop)
		rd_kafka_poll(rk, 50);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
		cli_error("gen", "%s", rd_kafka_err2str(err));
		return CLI_FAILED;
	}
	return CLI_OK;
}

static void
cli_gen_progress(const cli_gen_opts *o, uint64_t sent, int64_t start_ms)
{
	double secs = (double)(wr_mono_ms() - start_ms) / 1000.0;
	if (o->count > 0)
		fprintf(stderr,
		        "weir gen: %" PRIu64 " of %" PRId64
		        " orders (%.0f/s)\n",
		        sent, o->count, secs > 0 ? (double)sent / secs : 0.0);
	else
		fprintf(stderr, "weir gen: %" PRIu64 " orders (%.0f/s)\n", sent,
		        secs > 0 ? (double)sent / secs : 0.0);
}

/* Generates until --count or Ctrl-C; *sent is how many were queued. */
static int
cli_gen_loop(rd_kafka_t *rk, const cli_gen_opts *o, cli_gen_src *g,
             uint64_t *sent)
{
	char key[64], val[CLI_GEN_EVENT_BYTES];
	int64_t start = wr_mono_ms(), progress = start + CLI_GEN_PROGRESS_MS;
	cli_gen_bucket b;
	int rc = CLI_OK;

	/* Replay (--time-step): the events' times run up to now, as if the
	 * last count x step of history were being sent at once. */
	int64_t replay_base = wr_wall_ms() - o->count * o->time_step_ms;
	cli_gen_bucket_init(&b, o->rate);
	while (rc == CLI_OK && !cli_gen_stop &&
	       (o->count == 0 || *sent < (uint64_t)o->count)) {
		int wait = o->rate > 0 ? cli_gen_bucket_take(&b) : 0;
		if (wait > 0) {
			rd_kafka_poll(rk, wait);
			continue;
		}
		int64_t now =
		    o->time_step_ms > 0
		        ? replay_base + (int64_t)*sent * o->time_step_ms
		        : wr_wall_ms();
		cli_gen_order(g, *sent, now, key, sizeof(key), val,
		              sizeof(val));
		rc = cli_gen_produce(rk, o->topic, key, val);
		if (rc != CLI_OK)
			break;
		(*sent)++;
		rd_kafka_poll(rk, 0);
		if (wr_mono_ms() >= progress) {
			cli_gen_progress(o, *sent, start);
			progress += CLI_GEN_PROGRESS_MS;
		}
	}
	return rc;
}

/* A producer for o, its delivery reports counted in st. */
static rd_kafka_t *
cli_gen_producer(cli_ctx *ctx, const cli_gen_opts *o, cli_gen_stats *st)
{
	char err[512], timeout[32];
	rd_kafka_conf_t *conf =
	    wr_kafka_conf_new(cli_bootstrap(ctx, o->bootstrap));
	rd_kafka_t *rk = NULL;

	snprintf(timeout, sizeof(timeout), "%d", CLI_GEN_FLUSH_MS);
	rd_kafka_conf_set_dr_msg_cb(conf, cli_gen_dr);
	rd_kafka_conf_set_opaque(conf, st);
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

/* Fails at once on a missing topic, rather than every message after
 * message.timeout.ms (a broker that creates topics on demand, as the
 * embedded Kafka does, creates it here). */
static int
cli_gen_check_topic(rd_kafka_t *rk, const char *topic)
{
	int n = -WR_ETIMEDOUT;
	for (int i = 0; i < 5 && n == -WR_ETIMEDOUT && !cli_gen_stop; i++)
		n = wr_kafka_partition_count(rk, topic, 2000);
	if (n > 0)
		return CLI_OK;
	char bs[512];
	cli_error("gen", "topic %s: %s (brokers %s)", topic,
	          n == -WR_ENOENT ? "does not exist" : wr_strerror(-n),
	          wr_kafka_brokers(rk, bs, sizeof(bs)));
	return CLI_FAILED;
}

static void
cli_gen_report(cli_ctx *ctx, const cli_gen_opts *o, uint64_t delivered,
               int64_t ms)
{
	if (!ctx->json) {
		fprintf(stderr,
		        "weir gen: %" PRIu64 " orders to %s in %.1fs (seed "
		        "%" PRIu64 ")\n",
		        delivered, o->topic, (double)ms / 1000.0, o->seed);
		return;
	}
	wr_buf b;
	wr_json j;
	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "topic", o->topic);
	wr_json_kv_int(&j, "count", (int64_t)delivered);
	wr_json_key(&j, "seed");
	wr_json_uint(&j, o->seed);
	wr_json_kv_int(&j, "duration_ms", ms);
	wr_json_obj_end(&j);
	cli_json_end(&b);
}

/* Flushes, reports, and gives the exit code. */
static int
cli_gen_finish(cli_ctx *ctx, const cli_gen_opts *o, rd_kafka_t *rk,
               const cli_gen_stats *st, uint64_t sent, int64_t start_ms)
{
	rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, CLI_GEN_FLUSH_MS);
	int64_t ms = wr_mono_ms() - start_ms;
	/* Stopped short of --count (Ctrl-C): what was sent is delivered,
	 * but a script waiting for N events did not get them. */
	bool cut = o->count > 0 && sent < (uint64_t)o->count;

	if (ferr != RD_KAFKA_RESP_ERR_NO_ERROR)
		cli_error("gen", "flush: %s", rd_kafka_err2str(ferr));
	if (st->failed > 0 || ferr != RD_KAFKA_RESP_ERR_NO_ERROR) {
		fprintf(stderr,
		        "weir gen: %" PRIu64 " of %" PRIu64
		        " orders not delivered%s%s\n",
		        sent - st->delivered, sent, st->failed ? ": " : "",
		        st->first_error);
		return CLI_FAILED;
	}
	cli_gen_report(ctx, o, st->delivered, ms);
	if (cut)
		fprintf(stderr,
		        "weir gen: interrupted after %" PRIu64 " of %" PRId64
		        " orders\n",
		        sent, o->count);
	return cut ? CLI_FAILED : CLI_OK;
}

static int
cli_gen(cli_ctx *ctx, void *opts)
{
	cli_gen_opts *o = opts;
	cli_gen_stats st = {0};
	struct sigaction sa = {0};
	uint64_t sent = 0;
	cli_gen_src g;
	int rc;

	/* A small default seed keeps order ids short and distinct between
	 * runs; the report prints it so a run can be repeated. */
	o->seed = o->seed_arg >= 0 ? (uint64_t)o->seed_arg
	                           : wr_random_u64() % 1000000;
	rd_kafka_t *rk = cli_gen_producer(ctx, o, &st);
	if (rk == NULL)
		return CLI_FAILED;
	sa.sa_handler = cli_gen_on_signal; /* no SA_RESTART: stop waits */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	int64_t start = wr_mono_ms();
	rc = cli_gen_check_topic(rk, o->topic);
	if (rc == CLI_OK) {
		cli_gen_init(&g, o);
		rc = cli_gen_loop(rk, o, &g, &sent);
		cli_gen_fini(&g);
		int frc = cli_gen_finish(ctx, o, rk, &st, sent, start);
		rc = rc == CLI_OK ? frc : rc;
	}
	rd_kafka_destroy(rk);
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
