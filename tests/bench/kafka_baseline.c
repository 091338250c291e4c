/*
 * kafka_baseline.c - the Kafka -> filter -> Kafka path written by hand with
 * librdkafka and jansson, as a user would without weir, and the probes
 * scripts/bench.sh uses to time weir on the same path
 * (docs/benchmarks.md).
 *
 *   kafka_baseline pipe BOOTSTRAP IN OUT N
 *       One thread: assign() every partition of IN from the beginning,
 *       decode each JSON order (jansson, as weir's source does), keep
 *       status == "PAID" && amount > 0, encode {order_id, product_id,
 *       customer_id, amount_eur, ts} as examples/bench/kafka-filter.yaml
 *       does, produce it to OUT (key order_id) with the settings of
 *       weir's at_least_once Kafka sink, until N records were consumed;
 *       flush. Consumer settings are weir's source's.
 *       Prints "consumed N produced M wall_s W cpu_s C maxrss_kb R".
 *   kafka_baseline bytes BOOTSTRAP IN OUT N
 *       The physical limit of the path: as pipe, but every message's key
 *       and value go to OUT unchanged (no decode, no filter, no encode):
 *       what librdkafka alone moves per CPU second. Prints as pipe.
 *   kafka_baseline wait BOOTSTRAP TOPIC N TIMEOUT_S
 *       Waits until TOPIC's partitions hold N records in all (the sum of
 *       their high watermarks). Prints "records N wall_s W"; exit 1 on
 *       timeout.
 *   kafka_baseline latency BOOTSTRAP IN OUT RATE SECONDS WARMUP_S
 *       Writes paid orders to IN at RATE a second for WARMUP_S + SECONDS,
 *       each carrying its send time (wall clock, microseconds) in its
 *       order_id, and reads OUT from its end: the latency of a record is
 *       its receive time minus that send time. Records sent in the warmup
 *       are not counted. Prints "records N p50_ms A p99_ms B max_ms C".
 *
 * CPU seconds are the process's user + system time (getrusage), so
 * librdkafka's threads count as weir's do. KAFKA_BASELINE_CONF, if set,
 * holds librdkafka properties ("key=value,key=value") applied to every
 * client after the settings above, with the role as a prefix for one
 * role only ("producer.linger.ms=0", "consumer.fetch.wait.max.ms=1"):
 * how docs/benchmarks.md's latency experiments vary the client settings.
 */
#include <librdkafka/rdkafka.h>

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define KB_BATCH       512   /* messages a consume call, as weir's source */
#define KB_POLL_MS     10    /* weir's source's poll timeout */
#define KB_STALL_MS    60000 /* pipe: give up after this long without data */
#define KB_FLUSH_MS    30000
#define KB_META_MS     5000
#define KB_OUT_BYTES   1024
#define KB_MAX_SAMPLES 2000000 /* latency records kept for percentiles */

static volatile sig_atomic_t kb_stop;

static void
kb_on_signal(int sig)
{
	(void)sig;
	kb_stop = 1;
}

static double
kb_now(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t
kb_wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static double
kb_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void
kb_die(const char *what, const char *why)
{
	fprintf(stderr, "kafka_baseline: %s: %s\n", what, why);
	exit(1);
}

static void
kb_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char err[256];
	if (rd_kafka_conf_set(conf, key, value, err, sizeof(err)) !=
	    RD_KAFKA_CONF_OK)
		kb_die(key, err);
}

/* Applies KAFKA_BASELINE_CONF's properties of role ("consumer" or
 * "producer") to conf. */
static void
kb_env_conf(rd_kafka_conf_t *conf, const char *role)
{
	const char *env = getenv("KAFKA_BASELINE_CONF");
	char buf[1024], *save = NULL;
	size_t rl = strlen(role);
	if (env == NULL)
		return;
	snprintf(buf, sizeof(buf), "%s", env);
	for (char *kv = strtok_r(buf, ",", &save); kv != NULL;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		if (eq == NULL)
			kb_die("KAFKA_BASELINE_CONF", kv);
		*eq = '\0';
		if (strncmp(kv, "consumer.", 9) == 0 ||
		    strncmp(kv, "producer.", 9) == 0) {
			if (strncmp(kv, role, rl) != 0 || kv[rl] != '.')
				continue;
			kv += rl + 1;
		}
		kb_set(conf, kv, eq + 1);
	}
}

/* A consumer with weir's source settings (common/net/kafka.c,
 * taskmanager/source_kafka.c); fetch_wait_ms as given. */
static rd_kafka_t *
kb_consumer(const char *bootstrap, const char *fetch_wait_ms)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	kb_set(conf, "bootstrap.servers", bootstrap);
	kb_set(conf, "group.id", "kafka_baseline");
	kb_set(conf, "fetch.wait.max.ms", fetch_wait_ms);
	kb_set(conf, "enable.auto.commit", "false");
	kb_set(conf, "enable.auto.offset.store", "false");
	kb_set(conf, "isolation.level", "read_committed");
	kb_set(conf, "enable.partition.eof", "false");
	kb_env_conf(conf, "consumer");
	rd_kafka_t *rk =
	    rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
	if (rk == NULL)
		kb_die("consumer", err);
	return rk;
}

static long kb_delivery_failures;

static void
kb_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR && kb_delivery_failures++ == 0)
		fprintf(stderr, "kafka_baseline: delivery: %s\n",
		        rd_kafka_err2str(m->err));
}

/* A producer with the settings of weir's at_least_once Kafka sink
 * (taskmanager/sinks.c) when sink is true, else a plain one (the latency
 * driver's). Both linger 5 ms: the mock broker serves one batch per
 * partition a fetch, and batches of one record (linger.ms=0) cap what
 * it delivers at a few thousand records a second, so the latency would
 * measure the mock; with 5 ms the send adds 0-5 ms to the latency. */
static rd_kafka_t *
kb_producer(const char *bootstrap, bool sink)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	char err[512];
	kb_set(conf, "bootstrap.servers", bootstrap);
	kb_set(conf, "linger.ms", "5");
	kb_set(conf, "acks", sink ? "all" : "1");
	kb_set(conf, "enable.idempotence", sink ? "true" : "false");
	kb_env_conf(conf, "producer");
	rd_kafka_conf_set_dr_msg_cb(conf, kb_dr);
	rd_kafka_t *rk =
	    rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (rk == NULL)
		kb_die("producer", err);
	return rk;
}

static int
kb_partitions(rd_kafka_t *rk, const char *topic)
{
	rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
	const struct rd_kafka_metadata *md = NULL;
	rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, KB_META_MS);
	int n = 0;
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		kb_die(topic, rd_kafka_err2str(e));
	if (md->topic_cnt == 1 &&
	    md->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
		n = md->topics[0].partition_cnt;
	rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	if (n <= 0)
		kb_die(topic, "no such topic");
	return n;
}

/* Assigns every partition of topic at offset. */
static void
kb_assign_all(rd_kafka_t *rk, const char *topic, int64_t offset)
{
	int n = kb_partitions(rk, topic);
	rd_kafka_topic_partition_list_t *tp =
	    rd_kafka_topic_partition_list_new(n);
	for (int p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(tp, topic, p)->offset =
		    offset;
	rd_kafka_resp_err_t e = rd_kafka_assign(rk, tp);
	rd_kafka_topic_partition_list_destroy(tp);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		kb_die("assign", rd_kafka_err2str(e));
}

/* ---- pipe: the hand-written job ---------------------------------------- */

typedef struct kb_out {
	char *p;
	size_t len;
	size_t cap;
} kb_out;

static void
kb_putn(kb_out *o, const char *s, size_t n)
{
	if (o->len + n <= o->cap) {
		memcpy(o->p + o->len, s, n);
		o->len += n;
	} else {
		o->len = o->cap + 1; /* overflowed: the caller drops it */
	}
}

static void
kb_puts(kb_out *o, const char *s)
{
	kb_putn(o, s, strlen(s));
}

/* A JSON string with quotes, backslashes and control bytes escaped. */
static void
kb_put_str(kb_out *o, const char *s, size_t n)
{
	kb_putn(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];
		if (c >= 0x20 && c != '"' && c != '\\') {
			kb_putn(o, s + i, 1);
			continue;
		}
		snprintf(esc, sizeof(esc), "\\u%04x", c);
		kb_putn(o, esc, 6);
	}
	kb_putn(o, "\"", 1);
}

/* The shortest of %.15g..%.17g that reads back, as weir writes doubles. */
static void
kb_put_double(kb_out *o, double d)
{
	char tmp[32];
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
		if (strtod(tmp, NULL) == d)
			break;
	}
	kb_puts(o, tmp);
}

/* Epoch ms as an ISO-8601 UTC string with milliseconds. */
static void
kb_put_ts(kb_out *o, int64_t ms)
{
	time_t s = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)s * 1000);
	struct tm tm;
	char tmp[40];
	gmtime_r(&s, &tm);
	snprintf(tmp, sizeof(tmp), "\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\"",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, frac);
	kb_puts(o, tmp);
}

static void
kb_put_field_str(kb_out *o, const char *name, json_t *v)
{
	kb_puts(o, name);
	if (json_is_string(v))
		kb_put_str(o, json_string_value(v), json_string_length(v));
	else
		kb_puts(o, "null");
}

/* The job's filter and select on one decoded order; false if filtered
 * out. The key points into root. */
static bool
kb_transform(json_t *root, kb_out *o, const char **key, size_t *keylen)
{
	json_t *status = json_object_get(root, "status");
	json_t *amount = json_object_get(root, "amount");
	if (!json_is_object(root) || !json_is_string(status) ||
	    strcmp(json_string_value(status), "PAID") != 0 ||
	    !json_is_number(amount) || !(json_number_value(amount) > 0))
		return false;
	json_t *id = json_object_get(root, "order_id");
	json_t *ts = json_object_get(root, "ts");
	o->len = 0;
	kb_put_field_str(o, "{\"order_id\":", id);
	kb_put_field_str(
	    o, ",\"product_id\":", json_object_get(root, "product_id"));
	kb_put_field_str(
	    o, ",\"customer_id\":", json_object_get(root, "customer_id"));
	kb_puts(o, ",\"amount_eur\":");
	kb_put_double(o, floor(json_number_value(amount) * 0.92 * 100) / 100);
	kb_puts(o, ",\"ts\":");
	if (json_is_integer(ts))
		kb_put_ts(o, (int64_t)json_integer_value(ts));
	else
		kb_puts(o, "null");
	kb_puts(o, "}");
	*key = json_is_string(id) ? json_string_value(id) : NULL;
	*keylen = json_is_string(id) ? json_string_length(id) : 0;
	return o->len <= o->cap;
}

static void
kb_produce(rd_kafka_t *p, const char *topic, const kb_out *o, const char *key,
           size_t keylen)
{
	rd_kafka_resp_err_t e;
	while ((e = rd_kafka_producev(
	            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_VALUE(o->p, o->len),
	            RD_KAFKA_V_KEY(key, keylen),
	            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
	            RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
		rd_kafka_poll(p, 10);
	if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
		kb_die("produce", rd_kafka_err2str(e));
}

/* One consumed message: decode, transform and produce; true if
 * produced. Not a JSON object or not an order: skipped. */
static bool
kb_pipe_one(rd_kafka_t *p, const char *out, const rd_kafka_message_t *m,
            kb_out *o)
{
	const char *key;
	size_t keylen;
	json_error_t e;
	json_t *root = json_loadb(m->payload ? m->payload : "", m->len,
	                          JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	bool keep = root != NULL && kb_transform(root, o, &key, &keylen);
	if (keep)
		kb_produce(p, out, o, key, keylen); /* copies key and value */
	json_decref(root);
	return keep;
}

/* bytes: one consumed message to OUT as it is; always produced. */
static bool
kb_pass_one(rd_kafka_t *p, const char *out, const rd_kafka_message_t *m)
{
	kb_out o = {.p = m->payload, .len = m->len, .cap = m->len};
	kb_produce(p, out, &o, m->key, m->key_len);
	return true;
}

static int
kb_pipe(const char *bootstrap, const char *in, const char *out, long n,
        bool decode)
{
	double w0 = kb_now(CLOCK_MONOTONIC), c0 = kb_cpu_s();
	rd_kafka_t *c = kb_consumer(bootstrap, "10");
	rd_kafka_t *p = kb_producer(bootstrap, true);
	rd_kafka_message_t *msgs[KB_BATCH];
	char buf[KB_OUT_BYTES];
	kb_out o = {.p = buf, .cap = sizeof(buf)};
	long consumed = 0, produced = 0;
	double last = w0;

	kb_assign_all(c, in, RD_KAFKA_OFFSET_BEGINNING);
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c);
	while (consumed < n && !kb_stop) {
		ssize_t got =
		    rd_kafka_consume_batch_queue(q, KB_POLL_MS, msgs, KB_BATCH);
		double now = kb_now(CLOCK_MONOTONIC);
		if (got > 0)
			last = now;
		else if ((now - last) * 1000 > KB_STALL_MS)
			kb_die(in, "no records for a minute");
		for (ssize_t i = 0; i < got; i++) {
			rd_kafka_message_t *m = msgs[i];
			if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR &&
			    consumed < n) {
				consumed++;
				produced += decode ? kb_pipe_one(p, out, m, &o)
				                   : kb_pass_one(p, out, m);
			} else if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
				fprintf(stderr, "kafka_baseline: %s\n",
				        rd_kafka_message_errstr(m));
			}
			rd_kafka_message_destroy(m);
		}
		rd_kafka_poll(p, 0);
	}
	rd_kafka_resp_err_t fe = rd_kafka_flush(p, KB_FLUSH_MS);
	double w1 = kb_now(CLOCK_MONOTONIC), c1 = kb_cpu_s();
	rd_kafka_queue_destroy(q);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	rd_kafka_destroy(p);
	if (fe != RD_KAFKA_RESP_ERR_NO_ERROR || kb_delivery_failures > 0)
		kb_die(out, "not every record was delivered");
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf(
	    "consumed %ld produced %ld wall_s %.3f cpu_s %.3f maxrss_kb %ld\n",
	    consumed, produced, w1 - w0, c1 - c0, ru.ru_maxrss);
	return 0;
}

/* ---- wait: until a topic holds N records ------------------------------- */

static int
kb_wait(const char *bootstrap, const char *topic, long n, double timeout_s)
{
	double w0 = kb_now(CLOCK_MONOTONIC);
	rd_kafka_t *rk = kb_consumer(bootstrap, "10");
	int parts = kb_partitions(rk, topic);
	long sum = 0;

	for (;;) {
		sum = 0;
		for (int p = 0; p < parts; p++) {
			int64_t lo, hi;
			rd_kafka_resp_err_t e =
			    rd_kafka_query_watermark_offsets(rk, topic, p, &lo,
			                                     &hi, KB_META_MS);
			if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
				kb_die(topic, rd_kafka_err2str(e));
			sum += (long)hi;
		}
		if (sum >= n || kb_stop ||
		    kb_now(CLOCK_MONOTONIC) - w0 > timeout_s)
			break;
		struct timespec d = {0, 20 * 1000000};
		nanosleep(&d, NULL);
	}
	rd_kafka_destroy(rk);
	printf("records %ld wall_s %.3f\n", sum, kb_now(CLOCK_MONOTONIC) - w0);
	return sum >= n ? 0 : 1;
}

/* ---- latency: a fixed rate in, receive times out ----------------------- */

typedef struct kb_lat {
	int64_t *us; /* latencies of counted records */
	long n;
	int64_t counted_from_us; /* send times before this are warmup */
} kb_lat;

/* Reads the send time out of a record of OUT: order_id "l-<us>". */
static void
kb_lat_record(kb_lat *l, const rd_kafka_message_t *m, int64_t now_us)
{
	static const char tag[] = "\"order_id\":\"l-";
	const char *s = m->payload;
	if (s == NULL || m->len == 0)
		return;
	const char *at = memmem(s, m->len, tag, sizeof(tag) - 1);
	if (at == NULL)
		return;
	int64_t sent = strtoll(at + sizeof(tag) - 1, NULL, 10);
	if (sent < l->counted_from_us || l->n == KB_MAX_SAMPLES)
		return;
	l->us[l->n++] = now_us - sent;
}

static int
kb_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static void
kb_lat_drain(kb_lat *l, rd_kafka_queue_t *q, int timeout_ms)
{
	rd_kafka_message_t *msgs[KB_BATCH];
	ssize_t got =
	    rd_kafka_consume_batch_queue(q, timeout_ms, msgs, KB_BATCH);
	int64_t now = kb_wall_us();
	for (ssize_t i = 0; i < got; i++) {
		if (msgs[i]->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			kb_lat_record(l, msgs[i], now);
		rd_kafka_message_destroy(msgs[i]);
	}
}

static int
kb_latency(const char *bootstrap, const char *in, const char *out, long rate,
           double seconds, double warmup_s)
{
	rd_kafka_t *c = kb_consumer(bootstrap, "1");
	rd_kafka_t *p = kb_producer(bootstrap, false);
	kb_lat l = {.us = calloc(KB_MAX_SAMPLES, sizeof(int64_t))};
	char key[32], val[256];
	long sent = 0;

	if (l.us == NULL)
		kb_die("latency", "out of memory");
	kb_assign_all(c, out, RD_KAFKA_OFFSET_END);
	rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(c);
	/* Let the consumer find the end offsets before the first send. */
	kb_lat_drain(&l, q, 1000);
	double t0 = kb_now(CLOCK_MONOTONIC);
	l.counted_from_us = kb_wall_us() + (int64_t)(warmup_s * 1e6);
	for (;;) {
		double el = kb_now(CLOCK_MONOTONIC) - t0;
		if (el >= warmup_s + seconds || kb_stop)
			break;
		/* Sends what is due, then reads for up to a millisecond. */
		while ((double)sent < el * (double)rate) {
			int64_t us = kb_wall_us();
			snprintf(key, sizeof(key), "l-%" PRId64, us);
			snprintf(
			    val, sizeof(val),
			    "{\"order_id\":\"%s\",\"product_id\":\"p-%03ld\","
			    "\"customer_id\":\"c-%05ld\",\"amount\":%.2f,"
			    "\"status\":\"PAID\",\"ts\":%" PRId64 "}",
			    key, sent % 100, sent % 100000,
			    10.0 + (double)(sent % 1000), us / 1000);
			rd_kafka_resp_err_t e;
			/* A full local queue (the broker behind): wait for
			 * room; the record's send time stays what it was. */
			while ((e = rd_kafka_producev(
			            p, RD_KAFKA_V_TOPIC(in),
			            RD_KAFKA_V_KEY(key, strlen(key)),
			            RD_KAFKA_V_VALUE(val, strlen(val)),
			            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
			            RD_KAFKA_V_END)) ==
			           RD_KAFKA_RESP_ERR__QUEUE_FULL &&
			       !kb_stop)
				rd_kafka_poll(p, 1);
			if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
				kb_die("latency", rd_kafka_err2str(e));
			sent++;
		}
		rd_kafka_poll(p, 0);
		kb_lat_drain(&l, q, 1);
	}
	/* The last records still on their way. */
	double end = kb_now(CLOCK_MONOTONIC) + 2.0;
	while (kb_now(CLOCK_MONOTONIC) < end && !kb_stop)
		kb_lat_drain(&l, q, 10);
	rd_kafka_flush(p, KB_FLUSH_MS);
	rd_kafka_queue_destroy(q);
	rd_kafka_consumer_close(c);
	rd_kafka_destroy(c);
	rd_kafka_destroy(p);
	if (l.n == 0) {
		free(l.us);
		kb_die(out, "no records came out");
	}
	qsort(l.us, (size_t)l.n, sizeof(int64_t), kb_cmp_i64);
	printf("records %ld p50_ms %.2f p99_ms %.2f max_ms %.2f\n", l.n,
	       (double)l.us[l.n / 2] / 1000,
	       (double)l.us[(l.n * 99) / 100] / 1000,
	       (double)l.us[l.n - 1] / 1000);
	free(l.us);
	return 0;
}

static long
kb_arg_long(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0)
		kb_die(what, "not a count");
	return v;
}

int
main(int argc, char **argv)
{
	struct sigaction sa = {0};
	sa.sa_handler = kb_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (argc == 6 &&
	    (strcmp(argv[1], "pipe") == 0 || strcmp(argv[1], "bytes") == 0))
		return kb_pipe(argv[2], argv[3], argv[4],
		               kb_arg_long(argv[5], "N"),
		               strcmp(argv[1], "pipe") == 0);
	if (argc == 6 && strcmp(argv[1], "wait") == 0)
		return kb_wait(argv[2], argv[3], kb_arg_long(argv[4], "N"),
		               (double)kb_arg_long(argv[5], "TIMEOUT_S"));
	if (argc == 8 && strcmp(argv[1], "latency") == 0)
		return kb_latency(argv[2], argv[3], argv[4],
		                  kb_arg_long(argv[5], "RATE"),
		                  (double)kb_arg_long(argv[6], "SECONDS"),
		                  (double)kb_arg_long(argv[7], "WARMUP_S"));
	fprintf(stderr,
	        "usage: kafka_baseline pipe|bytes BOOTSTRAP IN OUT N\n"
	        "       kafka_baseline wait BOOTSTRAP TOPIC N TIMEOUT_S\n"
	        "       kafka_baseline latency BOOTSTRAP IN OUT RATE SECONDS "
	        "WARMUP_S\n");
	return 2;
}
