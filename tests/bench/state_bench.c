/*
 * state_bench.c - the state backend at window-state scale: N distinct
 * 16-byte keys with 32-byte values put through the cache, flushed, then
 * all read back in another order and checked. Prints puts/s, gets/s, peak
 * RSS (VmHWM), the resident anonymous and file-mapped memory at the end of
 * each phase, and the data file's size; the median of the runs last.
 *
 * Each run is a child process, so VmHWM is that run's own peak.
 *
 *   state_bench [-n keys] [-c cache_bytes] [-m map_resident_bytes]
 *               [-r runs] [-d parent_dir] [-k]
 *
 * -m bounds the LMDB pages kept mapped (default: no bound, the backend's
 * default); -k keeps each run's directory (and prints it).
 *
 * tests/bench/state_scale.sh runs it and checks the peak against a bound.
 */
#include "err.h"
#include "state.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BENCH_MAX_RUNS  9
#define BENCH_KEY_BYTES 16
#define BENCH_VAL_BYTES 32
/* Key groups of a job with max parallelism 128 (Flink's default). */
#define BENCH_KEY_GROUPS 128

typedef struct bench_result {
	double puts_per_s, gets_per_s;
	double put_s, flush_s, get_s;
	double put_cpu_s, get_cpu_s; /* user + system CPU of the phase */
	long hwm_kib;                /* VmHWM at the end */
	long anon_peak_kib; /* highest RssAnon sampled (every 64 K ops) */
	long anon_put_kib, file_put_kib; /* RssAnon, RssFile after puts */
	long anon_get_kib, file_get_kib; /* and after gets */
	long long data_bytes, data_alloc_bytes;
	unsigned long long map_bytes, entries, hits, misses, trims;
	int ok;
} bench_result;

static uint64_t
mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15u;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* Key i: mix64 is a bijection, so the first 8 bytes alone are distinct. */
static uint16_t
bench_key(uint64_t i, unsigned char *k)
{
	uint64_t a = mix64(i), b = mix64(i ^ 0x5555555555555555u);

	memcpy(k, &a, 8);
	memcpy(k + 8, &b, 8);
	return (uint16_t)((a >> 48) % BENCH_KEY_GROUPS);
}

static void
bench_val(uint64_t i, unsigned char *v)
{
	for (unsigned w = 0; w < BENCH_VAL_BYTES / 8; w++) {
		uint64_t x = mix64(i * 4 + w + 0x1234);

		memcpy(v + 8 * w, &x, 8);
	}
}

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

/* CPU time: on a shared machine the wall-clock rates swing with the
 * load; the CPU seconds a phase took do much less. */
static double
cpu_s(void)
{
	return clock_s(CLOCK_PROCESS_CPUTIME_ID);
}

/* A "Name:   123 kB" line of /proc/self/status, in KiB; -1 if absent. */
static long
status_kib(const char *name)
{
	char line[256];
	size_t n = strlen(name);
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, name, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* RssAnon has no high-water mark of its own: sample it. */
static void
bench_sample_anon(uint64_t i, bench_result *r)
{
	long kib;

	if (i % 65536 != 0)
		return;
	kib = status_kib("RssAnon");
	if (kib > r->anon_peak_kib)
		r->anon_peak_kib = kib;
}

static int
bench_puts(wr_state *st, uint64_t n, bench_result *r)
{
	unsigned char k[BENCH_KEY_BYTES], v[BENCH_VAL_BYTES];
	double t0 = now_s(), c0 = cpu_s(), t1;
	int rv;

	for (uint64_t i = 0; i < n; i++) {
		uint16_t kg = bench_key(i, k);

		bench_val(i, v);
		bench_sample_anon(i, r);
		rv = wr_state_put(st, kg, 1, k, sizeof(k), v, sizeof(v));
		if (rv != WR_OK) {
			fprintf(stderr, "put %" PRIu64 ": %s\n", i,
			        wr_strerror(rv));
			return rv;
		}
	}
	t1 = now_s();
	rv = wr_state_flush(st);
	if (rv != WR_OK) {
		fprintf(stderr, "flush: %s\n", wr_strerror(rv));
		return rv;
	}
	r->put_s = now_s() - t0;
	r->put_cpu_s = cpu_s() - c0;
	r->flush_s = now_s() - t1;
	r->puts_per_s = (double)n / r->put_s;
	r->anon_put_kib = status_kib("RssAnon");
	r->file_put_kib = status_kib("RssFile");
	bench_sample_anon(0, r);
	return WR_OK;
}

/* Reads every key back in a stride order (a prime stride coprime to n
 * visits each index once), so reads do not follow the insertion order. */
static int
bench_gets(wr_state *st, uint64_t n, bench_result *r)
{
	const uint64_t stride = 1000003; /* prime */
	unsigned char k[BENCH_KEY_BYTES], want[BENCH_VAL_BYTES];
	double t0 = now_s(), c0 = cpu_s();
	uint64_t i = 0;

	if (n % stride == 0)
		return WR_EINVAL;
	for (uint64_t c = 0; c < n; c++, i = (i + stride) % n) {
		uint16_t kg = bench_key(i, k);
		const void *got;
		size_t glen;
		int rv = wr_state_get(st, kg, 1, k, sizeof(k), &got, &glen);

		bench_val(i, want);
		bench_sample_anon(c, r);
		if (rv != WR_OK || glen != sizeof(want) ||
		    memcmp(got, want, glen) != 0) {
			fprintf(stderr, "get %" PRIu64 ": %s, %zu bytes\n", i,
			        wr_strerror(rv), glen);
			return rv != WR_OK ? rv : WR_ECORRUPT;
		}
	}
	r->get_s = now_s() - t0;
	r->get_cpu_s = cpu_s() - c0;
	r->gets_per_s = (double)n / r->get_s;
	r->anon_get_kib = status_kib("RssAnon");
	r->file_get_kib = status_kib("RssFile");
	bench_sample_anon(0, r);
	return WR_OK;
}

static void
bench_file_size(const char *dir, bench_result *r)
{
	char path[4096];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (stat(path, &sb) == 0) {
		r->data_bytes = (long long)sb.st_size;
		r->data_alloc_bytes = (long long)sb.st_blocks * 512;
	}
}

static int
bench_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int bench_keep;        /* -k */
static size_t bench_resident; /* -m; 0: no bound */

/* One run, in the child. */
static void
bench_run(const char *parent, uint64_t n, size_t cache, bench_result *r)
{
	char dir[4096];
	wr_state_opts o = {.cache_bytes = cache,
	                   .map_resident_bytes = bench_resident};
	wr_state_stats s;
	wr_state *st;
	int rv;

	memset(r, 0, sizeof(*r));
	snprintf(dir, sizeof(dir), "%s/weir-state-bench-XXXXXX", parent);
	if (mkdtemp(dir) == NULL) {
		fprintf(stderr, "mkdtemp %s: %s\n", dir, strerror(errno));
		return;
	}
	rv = wr_state_open(dir, &o, &st);
	if (rv != WR_OK) {
		fprintf(stderr, "open %s: %s\n", dir, wr_strerror(rv));
		goto remove_dir;
	}
	if (bench_puts(st, n, r) == WR_OK && bench_gets(st, n, r) == WR_OK)
		r->ok = 1;
	wr_state_get_stats(st, &s);
	r->map_bytes = s.map_bytes;
	r->entries = s.entries;
	r->hits = s.cache_hits;
	r->misses = s.cache_misses;
	r->trims = s.map_trims;
	r->hwm_kib = status_kib("VmHWM");
	bench_file_size(dir, r);
	wr_state_close(st);
remove_dir:
	if (bench_keep)
		printf("kept %s\n", dir);
	else
		nftw(dir, bench_rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Forks a child for one run; its result comes back through a pipe. */
static int
bench_fork(const char *parent, uint64_t n, size_t cache, bench_result *r)
{
	int fds[2], status;
	pid_t pid;
	ssize_t got;

	if (pipe(fds) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		close(fds[0]);
		bench_run(parent, n, cache, r);
		_exit(write(fds[1], r, sizeof(*r)) == (ssize_t)sizeof(*r) ? 0
		                                                          : 1);
	}
	close(fds[1]);
	got = read(fds[0], r, sizeof(*r));
	close(fds[0]);
	waitpid(pid, &status, 0);
	if (got != (ssize_t)sizeof(*r) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || !r->ok)
		return -1;
	return 0;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
print_run(int i, const bench_result *r)
{
	printf("run %d: puts/s %.0f (%.1f s, %.1f s CPU, final flush %.2f s)  "
	       "gets/s %.0f (%.1f s, %.1f s CPU)  VmHWM %.1f MiB  RssAnon peak "
	       "%.1f MiB  after puts: "
	       "anon %.1f file %.1f MiB  after gets: anon %.1f file %.1f MiB  "
	       "data %.1f MiB (allocated %.1f)  map %.0f MiB  entries %llu  "
	       "hits %llu misses %llu  map trims %llu\n",
	       i, r->puts_per_s, r->put_s, r->put_cpu_s, r->flush_s,
	       r->gets_per_s, r->get_s, r->get_cpu_s, r->hwm_kib / 1024.0,
	       r->anon_peak_kib / 1024.0, r->anon_put_kib / 1024.0,
	       r->file_put_kib / 1024.0, r->anon_get_kib / 1024.0,
	       r->file_get_kib / 1024.0, r->data_bytes / 1048576.0,
	       r->data_alloc_bytes / 1048576.0, r->map_bytes / 1048576.0,
	       r->entries, r->hits, r->misses, r->trims);
}

typedef struct bench_args {
	uint64_t n;
	size_t cache;
	int runs;
	const char *parent;
} bench_args;

/* 0 on success, else the exit status. */
static int
bench_parse(int argc, char **argv, bench_args *a)
{
	int opt;

	while ((opt = getopt(argc, argv, "n:c:m:r:d:k")) != -1) {
		switch (opt) {
		case 'n':
			a->n = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			a->cache = strtoull(optarg, NULL, 10);
			break;
		case 'm':
			bench_resident = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			a->runs = atoi(optarg);
			break;
		case 'd':
			a->parent = optarg;
			break;
		case 'k':
			bench_keep = 1;
			break;
		default:
			fprintf(stderr,
			        "usage: %s [-n keys] [-c cache_bytes] "
			        "[-m map_resident_bytes] [-r runs] [-d dir] "
			        "[-k]\n",
			        argv[0]);
			return 2;
		}
	}
	if (a->runs < 1 || a->runs > BENCH_MAX_RUNS || a->n == 0) {
		fprintf(stderr, "runs must be 1..%d, keys > 0\n",
		        BENCH_MAX_RUNS);
		return 2;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	bench_args a = {.n = 5000000, .cache = (size_t)16 << 20, .runs = 3};
	double put_rate[BENCH_MAX_RUNS], get_rate[BENCH_MAX_RUNS],
	    hwm[BENCH_MAX_RUNS], data[BENCH_MAX_RUNS], hwm_max = 0,
	                                               anon_max = 0;
	bench_result r;
	int rv;

	a.parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	if ((rv = bench_parse(argc, argv, &a)) != 0)
		return rv;
	printf("state_bench: %" PRIu64 " keys of %d bytes, values of %d "
	       "bytes, cache %zu bytes, map resident bound %zu bytes (0: "
	       "none), %d runs\n",
	       a.n, BENCH_KEY_BYTES, BENCH_VAL_BYTES, a.cache, bench_resident,
	       a.runs);
	for (int i = 0; i < a.runs; i++) {
		if (bench_fork(a.parent, a.n, a.cache, &r) != 0) {
			fprintf(stderr, "run %d failed\n", i);
			return 1;
		}
		print_run(i, &r);
		fflush(stdout);
		put_rate[i] = r.puts_per_s;
		get_rate[i] = r.gets_per_s;
		hwm[i] = r.hwm_kib / 1024.0;
		hwm_max = hwm[i] > hwm_max ? hwm[i] : hwm_max;
		if (r.anon_peak_kib / 1024.0 > anon_max)
			anon_max = r.anon_peak_kib / 1024.0;
		data[i] = r.data_bytes / 1048576.0;
	}
	printf("median puts_per_s=%.0f gets_per_s=%.0f peak_rss_mib=%.1f "
	       "data_mib=%.1f max_peak_rss_mib=%.1f max_peak_anon_mib=%.1f\n",
	       median(put_rate, a.runs), median(get_rate, a.runs),
	       median(hwm, a.runs), median(data, a.runs), hwm_max, anon_max);
	return 0;
}
