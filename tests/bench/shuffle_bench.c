/*
 * shuffle_bench.c - throughput of the data plane (taskmanager/shuffle.h):
 * 100-byte records from producer threads through local channels (one
 * shuffle) and remote channels (two shuffles over loopback TCP), 1 x 1 and
 * 4 x 4 producers x consumers. Prints records/s and MB/s of record bytes
 * (the median of 3 runs) as a table.
 *
 * Usage: shuffle_bench [RECORDS_PER_RUN]   (default 10000000)
 *
 * Every run checks what it measured: each consumer counts records and
 * bytes and checks per-channel order (a sequence number in each record),
 * so a broken path cannot post a figure. The clock runs from the first
 * append to the last consumer's end of stream, including the producers'
 * drain.
 */
#include "err.h"
#include "shuffle.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_RUNS      3
#define BENCH_REC_BYTES 100
#define BENCH_MAX_SIDE  4
#define BENCH_JOB       "shuffle-bench"

#define BENCH_CHECK(cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			exit(1);                                               \
		}                                                              \
	} while (0)

typedef struct bench_prod {
	tm_output *o;
	int nchan;
	uint64_t per_chan;
	pthread_t th;
} bench_prod;

typedef struct bench_cons {
	tm_input *in;
	int nchan;
	uint64_t next[BENCH_MAX_SIDE];
	uint64_t records;
	uint64_t bytes;
	int cur;
	pthread_t th;
} bench_cons;

static double
bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
bench_prod_main(void *arg)
{
	bench_prod *p = arg;
	uint8_t rec[BENCH_REC_BYTES];
	memset(rec, 'r', sizeof(rec));
	for (uint64_t i = 0; i < p->per_chan; i++)
		for (int ch = 0; ch < p->nchan; ch++) {
			memcpy(rec, &i, sizeof(i));
			BENCH_CHECK(tm_output_append(p->o, ch, rec,
			                             sizeof(rec)) == WR_OK);
		}
	BENCH_CHECK(tm_output_event(p->o, TM_BATCH_EOS, NULL, 0) == WR_OK);
	BENCH_CHECK(tm_output_drain(p->o, 60000) == WR_OK);
	return NULL;
}

static int
bench_rec(void *arg, const uint8_t *rec, size_t len)
{
	bench_cons *c = arg;
	uint64_t seq;
	BENCH_CHECK(len == BENCH_REC_BYTES);
	memcpy(&seq, rec, sizeof(seq));
	BENCH_CHECK(seq == c->next[c->cur]);
	c->next[c->cur]++;
	c->records++;
	c->bytes += len;
	return 0;
}

static void *
bench_cons_main(void *arg)
{
	bench_cons *c = arg;
	for (;;) {
		tm_batch *b;
		int ch;
		int rv = tm_input_next(c->in, 30000, &b, &ch);
		if (rv == WR_ENOENT)
			break;
		BENCH_CHECK(rv == WR_OK);
		if (b->kind == TM_BATCH_DATA) {
			c->cur = ch;
			BENCH_CHECK(tm_batch_foreach(b, bench_rec, c) == WR_OK);
		}
		tm_input_release(c->in, b);
	}
	return NULL;
}

static void
bench_key(tm_chan_key *k, int edge, int from, int to)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->job_id, sizeof(k->job_id), "%s", BENCH_JOB);
	k->attempt = 1;
	k->edge = (uint16_t)edge;
	k->from_subtask = (uint16_t)from;
	k->to_subtask = (uint16_t)to;
}

/* Gates of n consumers, each reading one channel of every producer. */
static void
bench_inputs(tm_shuffle *cons, const char *addr, int edge, int n, bench_cons *c)
{
	for (int k = 0; k < n; k++) {
		tm_input_chan chans[BENCH_MAX_SIDE];
		memset(chans, 0, sizeof(chans));
		for (int j = 0; j < n; j++) {
			bench_key(&chans[j].key, edge, j, k);
			chans[j].local = addr == NULL;
			if (addr != NULL)
				snprintf(chans[j].address,
				         sizeof(chans[j].address), "%s", addr);
		}
		memset(&c[k], 0, sizeof(c[k]));
		c[k].nchan = n;
		BENCH_CHECK(tm_input_new(cons, chans, n, &c[k].in) == WR_OK);
	}
}

/* One run: n producers x n consumers, records in all. Returns seconds. */
static double
bench_run(tm_shuffle *prod, tm_shuffle *cons, const char *addr, int n,
          uint64_t records, int edge)
{
	bench_prod p[BENCH_MAX_SIDE];
	bench_cons c[BENCH_MAX_SIDE];
	uint64_t per_chan = records / (uint64_t)(n * n);
	bench_inputs(cons, addr, edge, n, c);
	for (int j = 0; j < n; j++) {
		tm_chan_key key;
		bench_key(&key, edge, j, 0);
		p[j] = (bench_prod){.nchan = n, .per_chan = per_chan};
		BENCH_CHECK(tm_output_new(prod, &key, n, &p[j].o) == WR_OK);
	}
	double t0 = bench_now();
	for (int k = 0; k < n; k++)
		pthread_create(&c[k].th, NULL, bench_cons_main, &c[k]);
	for (int j = 0; j < n; j++)
		pthread_create(&p[j].th, NULL, bench_prod_main, &p[j]);
	for (int k = 0; k < n; k++)
		pthread_join(c[k].th, NULL);
	double secs = bench_now() - t0;
	for (int j = 0; j < n; j++) {
		pthread_join(p[j].th, NULL);
		tm_output_free(p[j].o);
	}
	for (int k = 0; k < n; k++) {
		BENCH_CHECK(c[k].records == per_chan * (uint64_t)n);
		tm_input_free(c[k].in);
	}
	return secs;
}

static int
bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void
bench_case(const char *name, bool remote, int n, uint64_t records, int *edge)
{
	tm_shuffle *prod = NULL, *cons = NULL;
	char url[64];
	double secs[BENCH_RUNS];
	BENCH_CHECK(tm_shuffle_new("tcp://127.0.0.1:0", &prod) == WR_OK);
	cons = prod;
	if (remote)
		BENCH_CHECK(tm_shuffle_new("tcp://127.0.0.1:0", &cons) ==
		            WR_OK);
	snprintf(url, sizeof(url), "tcp://127.0.0.1:%d", tm_shuffle_port(prod));
	uint64_t total = records / (uint64_t)(n * n) * (uint64_t)(n * n);
	for (int r = 0; r < BENCH_RUNS; r++)
		secs[r] = bench_run(prod, cons, remote ? url : NULL, n, records,
		                    (*edge)++);
	qsort(secs, BENCH_RUNS, sizeof(secs[0]), bench_cmp);
	double med = secs[BENCH_RUNS / 2];
	printf("%-22s %10llu %8.3f %12.0f %9.1f\n", name,
	       (unsigned long long)total, med, (double)total / med,
	       (double)total * BENCH_REC_BYTES / med / 1e6);
	if (remote)
		tm_shuffle_free(cons);
	tm_shuffle_free(prod);
}

int
main(int argc, char **argv)
{
	uint64_t records = 10000000;
	int edge = 0;
	if (argc > 1 && (records = strtoull(argv[1], NULL, 10)) < 16) {
		fprintf(stderr,
		        "usage: shuffle_bench [RECORDS_PER_RUN >= 16]\n");
		return 2;
	}
	printf("%-22s %10s %8s %12s %9s\n", "case (100 B records)", "records",
	       "s", "records/s", "MB/s");
	bench_case("local  1 x 1", false, 1, records, &edge);
	bench_case("local  4 x 4", false, 4, records, &edge);
	bench_case("remote 1 x 1", true, 1, records, &edge);
	bench_case("remote 4 x 4", true, 4, records, &edge);
	return 0;
}
