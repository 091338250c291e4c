/*
 * procstat.h - the process's own metrics (Prometheus' standard process_*
 * names, read from /proc/self) and weir_build_info, for both daemons.
 */
#ifndef WR_PROCSTAT_H
#define WR_PROCSTAT_H

#include <stdint.h>

struct wr_metrics;

/* What /proc/self/stat says (proc(5)): CPU time in clock ticks, threads,
 * virtual size in bytes and resident set in pages. */
typedef struct wr_proc_stat {
	uint64_t utime_ticks, stime_ticks;
	int64_t threads;
	uint64_t vsize_bytes;
	int64_t rss_pages;
} wr_proc_stat;

/* Parses the text of /proc/PID/stat. The command name (field 2) may hold
 * spaces and parentheses: fields are counted after its last ')'.
 * WR_OK or WR_EINVAL. */
int wr_proc_stat_parse(const char *text, wr_proc_stat *out);

/*
 * Registers process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_threads, process_start_time_seconds and
 * weir_build_info{version,commit}, and refreshes them at every render
 * (it takes the registry's wr_metrics_on_collect). Once per registry.
 */
void wr_proc_metrics_install(struct wr_metrics *reg);

#endif
