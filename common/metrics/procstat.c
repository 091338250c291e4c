/*
 * procstat.c - process_* metrics from /proc/self and weir_build_info
 * (procstat.h).
 */
#include "procstat.h"

#include "clock.h"
#include "err.h"
#include "metrics.h"
#include "weir_commit.h" /* made by the build */

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Read at every render: one registry per process, so one static set. */
static struct {
	struct wr_metric *cpu, *rss, *vsize, *fds, *max_fds, *threads;
} wr_proc_m;

int
wr_proc_stat_parse(const char *text, wr_proc_stat *out)
{
	const char *p = strrchr(text, ')');
	if (p == NULL)
		return WR_EINVAL;
	/* After "pid (comm)": field 3 (state, a letter) onwards. We want
	 * 14 utime, 15 stime, 20 num_threads, 23 vsize, 24 rss. */
	long long v[25] = {0};
	p++;
	for (int field = 3; field <= 24; field++) {
		while (*p == ' ')
			p++;
		char *end = (char *)p;
		if (field == 3)
			end += *p != '\0' && *p != '\n';
		else
			v[field] = strtoll(p, &end, 10);
		if (end == p)
			return WR_EINVAL; /* truncated, or not a number */
		p = end;
	}
	out->utime_ticks = (uint64_t)v[14];
	out->stime_ticks = (uint64_t)v[15];
	out->threads = (int64_t)v[20];
	out->vsize_bytes = (uint64_t)v[23];
	out->rss_pages = (int64_t)v[24];
	return WR_OK;
}

/* Entries of /proc/self/fd, less the one opendir holds. */
static int
wr_proc_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void
wr_proc_collect(void *arg)
{
	(void)arg;
	char text[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	size_t n = 0;
	if (f != NULL) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	wr_proc_stat st;
	if (n > 0 && wr_proc_stat_parse(text, &st) == WR_OK) {
		double tick = (double)sysconf(_SC_CLK_TCK);
		wr_metric_set(wr_proc_m.cpu,
		              (double)(st.utime_ticks + st.stime_ticks) / tick);
		wr_metric_set(wr_proc_m.rss, (double)st.rss_pages *
		                                 (double)sysconf(_SC_PAGESIZE));
		wr_metric_set(wr_proc_m.vsize, (double)st.vsize_bytes);
		wr_metric_set(wr_proc_m.threads, (double)st.threads);
	}
	int fds = wr_proc_open_fds();
	if (fds >= 0)
		wr_metric_set(wr_proc_m.fds, fds);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		wr_metric_set(wr_proc_m.max_fds, (double)rl.rlim_cur);
}

void
wr_proc_metrics_install(wr_metrics *reg)
{
	/* A counter set to the kernel's total at each render (it only
	 * grows), rather than added to from a previous reading. */
	wr_proc_m.cpu = wr_metrics_get_empty(
	    reg, WR_METRIC_COUNTER, "process_cpu_seconds_total",
	    "Total user and system CPU time spent in seconds", NULL);
	wr_proc_m.rss = wr_metrics_get_empty(
	    reg, WR_METRIC_GAUGE, "process_resident_memory_bytes",
	    "Resident memory size in bytes", NULL);
	wr_proc_m.vsize = wr_metrics_get_empty(
	    reg, WR_METRIC_GAUGE, "process_virtual_memory_bytes",
	    "Virtual memory size in bytes", NULL);
	wr_proc_m.fds =
	    wr_metrics_get_empty(reg, WR_METRIC_GAUGE, "process_open_fds",
	                         "Number of open file descriptors", NULL);
	wr_proc_m.max_fds = wr_metrics_get_empty(
	    reg, WR_METRIC_GAUGE, "process_max_fds",
	    "Maximum number of open file descriptors", NULL);
	wr_proc_m.threads =
	    wr_metrics_get_empty(reg, WR_METRIC_GAUGE, "process_threads",
	                         "Number of OS threads", NULL);
	wr_metric_set(wr_metrics_get(reg, WR_METRIC_GAUGE,
	                             "process_start_time_seconds",
	                             "Start time of the process since unix "
	                             "epoch in seconds",
	                             NULL),
	              (double)(wr_wall_ms() / 1000));
	const char *const build[] = {"version", WEIR_VERSION, "commit",
	                             WEIR_COMMIT, NULL};
	wr_metric_set(wr_metrics_get(reg, WR_METRIC_GAUGE, "weir_build_info",
	                             "1, labelled with weir's version and "
	                             "the commit it was built from",
	                             build),
	              1);
	wr_metrics_on_collect(reg, wr_proc_collect, NULL);
}
