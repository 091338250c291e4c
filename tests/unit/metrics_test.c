/*
 * metrics_test.c - the registry and its Prometheus text exposition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "err.h"
#include "metrics.h"
#include "procstat.h"

#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *
render(wr_metrics *reg)
{
	wr_buf b;
	wr_buf_init(&b);
	wr_metrics_render(reg, &b);
	return wr_buf_steal(&b);
}

static void
assert_render(wr_metrics *reg, const char *want)
{
	char *got = render(reg);
	assert_string_equal(got, want);
	free(got);
}

static void
test_counter_no_labels(void **state)
{
	(void)state;
	wr_metrics *reg = wr_metrics_new();
	wr_metric *m =
	    wr_metrics_get(reg, WR_METRIC_COUNTER, "weir_job_restarts_total",
	                   "Restarts of jobs.", NULL);
	wr_metric_inc(m);
	wr_metric_inc(m);
	wr_metric_add(m, 40);
	assert_true(wr_metric_value(m) == 42.0);
	assert_render(reg, "# HELP weir_job_restarts_total Restarts of jobs.\n"
	                   "# TYPE weir_job_restarts_total counter\n"
	                   "weir_job_restarts_total 42\n");
	wr_metrics_free(reg);
}

static void
test_gauges_with_labels(void **state)
{
	(void)state;
	wr_metrics *reg = wr_metrics_new();
	const char *const free_l[] = {"state", "free", NULL};
	const char *const used_l[] = {"state", "used", NULL};
	const char *const rec_l[] = {"job_id",  "j1", "vertex", "src",
	                             "subtask", "0",  NULL};
	wr_metric *f = wr_metrics_get(
	    reg, WR_METRIC_GAUGE, "weir_taskmanager_slots", "Slots.", free_l);
	wr_metric *u = wr_metrics_get(
	    reg, WR_METRIC_GAUGE, "weir_taskmanager_slots", "ignored", used_l);
	wr_metric *r =
	    wr_metrics_get(reg, WR_METRIC_COUNTER, "weir_records_in_total",
	                   "Records in.", rec_l);
	/* The same series again is the same pointer. */
	assert_ptr_equal(f, wr_metrics_get(reg, WR_METRIC_GAUGE,
	                                   "weir_taskmanager_slots", NULL,
	                                   free_l));
	assert_ptr_not_equal(f, u);
	wr_metric_set(f, 3);
	wr_metric_set(u, 1.5);
	wr_metric_set(f, 2);
	wr_metric_add(r, 1000000);
	assert_render(reg, "# HELP weir_taskmanager_slots Slots.\n"
	                   "# TYPE weir_taskmanager_slots gauge\n"
	                   "weir_taskmanager_slots{state=\"free\"} 2\n"
	                   "weir_taskmanager_slots{state=\"used\"} 1.5\n"
	                   "# HELP weir_records_in_total Records in.\n"
	                   "# TYPE weir_records_in_total counter\n"
	                   "weir_records_in_total{job_id=\"j1\",vertex=\"src\","
	                   "subtask=\"0\"} 1000000\n");
	wr_metrics_free(reg);
}

static void
test_escaping(void **state)
{
	(void)state;
	wr_metrics *reg = wr_metrics_new();
	const char *const l[] = {"path", "a\\b\"c\nd", NULL};
	wr_metric *m = wr_metrics_get(reg, WR_METRIC_GAUGE, "weir_x",
	                              "Help with \\ and\nnewline \"q\".", l);
	wr_metric_set(m, -7);
	assert_render(reg, "# HELP weir_x Help with \\\\ and\\nnewline \"q\".\n"
	                   "# TYPE weir_x gauge\n"
	                   "weir_x{path=\"a\\\\b\\\"c\\nd\"} -7\n");
	wr_metrics_free(reg);
}

static void
test_values(void **state)
{
	(void)state;
	static const struct {
		double v;
		const char *text;
	} cases[] = {
	    {0, "0"},
	    {-0.0, "0"},
	    {1, "1"},
	    {-3, "-3"},
	    {0.1, "0.1"},
	    {0.25, "0.25"},
	    {1e20, "1e+20"},
	    {1e-7, "1e-07"},
	    {123456789, "123456789"},
	    {NAN, "NaN"},
	    {INFINITY, "+Inf"},
	    {-INFINITY, "-Inf"},
	    {1.0 / 3, "0.3333333333333333"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wr_metrics *reg = wr_metrics_new();
		wr_metric_set(
		    wr_metrics_get(reg, WR_METRIC_GAUGE, "g", "h", NULL),
		    cases[i].v);
		char want[128];
		snprintf(want, sizeof(want),
		         "# HELP g h\n# TYPE g gauge\ng %s\n", cases[i].text);
		assert_render(reg, want);
		wr_metrics_free(reg);
	}
}

#define THREADS 4
#define INCS    100000

struct race {
	wr_metrics *reg;
	wr_metric *m;
	atomic_int bad; /* cmocka's asserts are for the main thread only */
};

static void *
race_main(void *arg)
{
	struct race *r = arg;
	for (int i = 0; i < INCS; i++) {
		wr_metric_inc(r->m);
		/* Lookups and renders race with the updates too. */
		if (i % 10000 == 0) {
			wr_metric *again =
			    wr_metrics_get(r->reg, WR_METRIC_COUNTER,
			                   "weir_race_total", "Race.", NULL);
			if (again != r->m)
				atomic_fetch_add(&r->bad, 1);
			free(render(r->reg));
		}
	}
	return NULL;
}

static void
test_concurrent_increments(void **state)
{
	(void)state;
	struct race r;
	atomic_init(&r.bad, 0);
	r.reg = wr_metrics_new();
	r.m = wr_metrics_get(r.reg, WR_METRIC_COUNTER, "weir_race_total",
	                     "Race.", NULL);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race_main, &r), 0);
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(atomic_load(&r.bad), 0);
	assert_true(wr_metric_value(r.m) == (double)THREADS * INCS);
	assert_render(r.reg, "# HELP weir_race_total Race.\n"
	                     "# TYPE weir_race_total counter\n"
	                     "weir_race_total 400000\n");
	wr_metrics_free(r.reg);
}

static void
test_remove(void **state)
{
	(void)state;
	wr_metrics *reg = wr_metrics_new();
	const char *const a[] = {"tm", "a", NULL};
	const char *const b[] = {"tm", "b", NULL};
	const char *const c[] = {"tm", "c", NULL};
	wr_metric *ma = wr_metrics_get(reg, WR_METRIC_GAUGE, "s", "S.", a);
	wr_metric *mb = wr_metrics_get(reg, WR_METRIC_GAUGE, "s", "S.", b);
	wr_metric *mc = wr_metrics_get(reg, WR_METRIC_GAUGE, "s", "S.", c);
	wr_metric_set(ma, 1);
	wr_metric_set(mb, 2);
	wr_metric_set(mc, 3);
	wr_metrics_remove(reg, mc); /* the tail: later series append */
	wr_metric *md = wr_metrics_get(reg, WR_METRIC_GAUGE, "s", "S.", c);
	wr_metric_set(md, 4);
	wr_metrics_remove(reg, ma); /* the head */
	assert_render(reg, "# HELP s S.\n# TYPE s gauge\n"
	                   "s{tm=\"b\"} 2\ns{tm=\"c\"} 4\n");
	wr_metrics_remove(reg, mb);
	wr_metrics_remove(reg, md);
	/* A family without series says nothing. */
	assert_render(reg, "");
	wr_metrics_remove(reg, NULL);
	ma = wr_metrics_get(reg, WR_METRIC_GAUGE, "s", "S.", a);
	assert_true(wr_metric_value(ma) == 0);
	assert_render(reg, "# HELP s S.\n# TYPE s gauge\ns{tm=\"a\"} 0\n");
	wr_metrics_free(reg);
}

/* A released series stays for its grace period (a last scrape), then
 * goes; every holder must release it first; a get in between keeps it. */
static void
test_release(void **state)
{
	(void)state;
	wr_metrics *reg = wr_metrics_new();
	const char *const a[] = {"job_id", "a", NULL};
	const char *const b[] = {"job_id", "b", NULL};
	wr_metric *ma = wr_metrics_get(reg, WR_METRIC_COUNTER, "c", "C.", a);
	wr_metric *mb = wr_metrics_get(reg, WR_METRIC_COUNTER, "c", "C.", b);
	wr_metric_add(ma, 5);
	wr_metric_add(mb, 7);
	/* Two holders (an old and a new attempt of one subtask). */
	assert_ptr_equal(ma,
	                 wr_metrics_get(reg, WR_METRIC_COUNTER, "c", "C.", a));
	wr_metrics_release(reg, ma, 0);
	assert_render(reg, "# HELP c C.\n# TYPE c counter\n"
	                   "c{job_id=\"a\"} 5\nc{job_id=\"b\"} 7\n");
	wr_metrics_release(reg, ma, 0); /* the last holder: gone */
	assert_render(reg,
	              "# HELP c C.\n# TYPE c counter\nc{job_id=\"b\"} 7\n");
	/* An hour's grace: still there for the scrape. */
	wr_metrics_release(reg, mb, 3600 * 1000);
	assert_render(reg,
	              "# HELP c C.\n# TYPE c counter\nc{job_id=\"b\"} 7\n");
	/* Held again before it went: the same series, its value kept. */
	wr_metric *mb2 = wr_metrics_get(reg, WR_METRIC_COUNTER, "c", "C.", b);
	assert_ptr_equal(mb, mb2);
	assert_true(wr_metric_value(mb2) == 7);
	wr_metrics_release(reg, mb2, 0);
	assert_render(reg, ""); /* no series left: nor HELP nor TYPE */
	/* The same labels later are a new series from 0. */
	ma = wr_metrics_get(reg, WR_METRIC_COUNTER, "c", "C.", a);
	assert_true(wr_metric_value(ma) == 0);
	wr_metrics_release(reg, NULL, 0);
	wr_metrics_free(reg);
}

/* No value where there is none: an empty series is not rendered until
 * its first update; updates of a released (NULL) series do nothing. */
static void
test_empty(void **state)
{
	(void)state;
	wr_metrics *reg = wr_metrics_new();
	const char *const a[] = {"job_id", "a", NULL};
	const char *const b[] = {"job_id", "b", NULL};
	wr_metric *wa =
	    wr_metrics_get_empty(reg, WR_METRIC_GAUGE, "wm", "W.", a);
	assert_render(reg, "");
	assert_true(isnan(wr_metric_value(wa)));
	wr_metric *wb =
	    wr_metrics_get_empty(reg, WR_METRIC_GAUGE, "wm", "W.", b);
	wr_metric_set(wb, 0);
	assert_render(reg,
	              "# HELP wm W.\n# TYPE wm gauge\nwm{job_id=\"b\"} 0\n");
	wr_metric_set(wa, NAN); /* a NaN set is a value */
	assert_render(reg, "# HELP wm W.\n# TYPE wm gauge\n"
	                   "wm{job_id=\"a\"} NaN\nwm{job_id=\"b\"} 0\n");
	/* A counter's first add counts from 0. */
	wr_metric *c =
	    wr_metrics_get_empty(reg, WR_METRIC_COUNTER, "n", "N.", a);
	wr_metric_add(c, 2);
	assert_true(wr_metric_value(c) == 2);
	/* An existing series is found, value kept. */
	assert_ptr_equal(
	    wb, wr_metrics_get_empty(reg, WR_METRIC_GAUGE, "wm", "W.", b));
	assert_true(wr_metric_value(wb) == 0);
	wr_metric_set(NULL, 1);
	wr_metric_inc(NULL);
	wr_metric_add(NULL, 1);
	wr_metrics_free(reg);
}

struct churn {
	wr_metrics *reg;
	atomic_bool stop;
};

/* Tasks come and go: each holds its series, updates, releases. */
static void *
churn_thread(void *arg)
{
	struct churn *c = arg;
	char id[16];
	for (int i = 0; i < 2000; i++) {
		snprintf(id, sizeof(id), "%d", i % 7);
		const char *const l[] = {"job_id", id, NULL};
		wr_metric *m =
		    wr_metrics_get(c->reg, WR_METRIC_COUNTER, "x", "X.", l);
		wr_metric *w =
		    wr_metrics_get_empty(c->reg, WR_METRIC_GAUGE, "w", "W.", l);
		wr_metric_inc(m);
		wr_metric_set(w, i);
		wr_metrics_release(c->reg, m, 0);
		wr_metrics_release(c->reg, w, i % 2);
	}
	return NULL;
}

static void *
render_thread(void *arg)
{
	struct churn *c = arg;
	while (!atomic_load(&c->stop))
		free(render(c->reg));
	return NULL;
}

/* Renders (the /metrics thread) while series are released and freed:
 * under ASan a use after free fails here. */
static void
test_release_concurrent(void **state)
{
	(void)state;
	struct churn c = {wr_metrics_new(), false};
	pthread_t w[2], r;
	assert_int_equal(pthread_create(&r, NULL, render_thread, &c), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&w[i], NULL, churn_thread, &c),
		                 0);
	for (int i = 0; i < 2; i++)
		pthread_join(w[i], NULL);
	atomic_store(&c.stop, true);
	pthread_join(r, NULL);
	/* Every hold was released and the grace periods (<= 1 ms) end. */
	char *text = render(c.reg);
	for (int i = 0; i < 100 && text[0] != '\0'; i++) {
		free(text);
		struct timespec ts = {0, 2 * 1000 * 1000};
		nanosleep(&ts, NULL);
		text = render(c.reg);
	}
	assert_string_equal(text, "");
	free(text);
	wr_metrics_free(c.reg);
}

struct collect {
	wr_metrics *reg;
	int calls;
};

static void
collect_cb(void *arg)
{
	struct collect *c = arg;
	c->calls++;
	/* Called without the lock: looking a series up must not deadlock. */
	wr_metric *m = wr_metrics_get(
	    c->reg, WR_METRIC_GAUGE, "weir_jobmanager_leader", "Leader.", NULL);
	wr_metric_set(m, c->calls);
}

static void
test_on_collect(void **state)
{
	(void)state;
	struct collect c = {wr_metrics_new(), 0};
	wr_metrics_on_collect(c.reg, collect_cb, &c);
	assert_render(c.reg, "# HELP weir_jobmanager_leader Leader.\n"
	                     "# TYPE weir_jobmanager_leader gauge\n"
	                     "weir_jobmanager_leader 1\n");
	assert_render(c.reg, "# HELP weir_jobmanager_leader Leader.\n"
	                     "# TYPE weir_jobmanager_leader gauge\n"
	                     "weir_jobmanager_leader 2\n");
	wr_metrics_on_collect(c.reg, NULL, NULL);
	free(render(c.reg));
	assert_int_equal(c.calls, 2);
	wr_metrics_free(c.reg);
}

/*
 * The format self-check: every sample line is name{labels} value, every
 * comment is a HELP or TYPE, and each family's HELP and TYPE come once,
 * before its samples.
 */
#define NAME   "[a-zA-Z_:][a-zA-Z0-9_:]*"
#define LNAME  "[a-zA-Z_][a-zA-Z0-9_]*"
#define LVALUE "\"([^\"\\\\]|\\\\[\\\\\"n])*\""
#define LABEL  LNAME "=" LVALUE
#define VALUE  "(NaN|[+-]Inf|-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?)"
static const char sample_re[] =
    "^(" NAME ")(\\{" LABEL "(," LABEL ")*\\})? " VALUE "$";
static const char help_re[] = "^# HELP (" NAME ")( .*)?$";
static const char type_re[] = "^# TYPE (" NAME ") (counter|gauge)$";

static void
check_exposition(char *text)
{
	regex_t sample, help, type;
	regmatch_t mt[2];
	char seen[64][64]; /* families whose TYPE has been read */
	int nseen = 0;
	assert_int_equal(regcomp(&sample, sample_re, REG_EXTENDED), 0);
	assert_int_equal(regcomp(&help, help_re, REG_EXTENDED), 0);
	assert_int_equal(regcomp(&type, type_re, REG_EXTENDED), 0);
	assert_true(text[0] == '\0' || text[strlen(text) - 1] == '\n');
	for (char *save, *line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (regexec(&help, line, 0, NULL, 0) == 0)
			continue;
		if (regexec(&type, line, 2, mt, 0) == 0) {
			int n = (int)(mt[1].rm_eo - mt[1].rm_so);
			for (int i = 0; i < nseen; i++)
				assert_false(strlen(seen[i]) == (size_t)n &&
				             strncmp(seen[i],
				                     line + mt[1].rm_so,
				                     (size_t)n) == 0);
			assert_true(nseen < 64 && n < 64);
			snprintf(seen[nseen++], 64, "%.*s", n,
			         line + mt[1].rm_so);
			continue;
		}
		if (regexec(&sample, line, 2, mt, 0) != 0)
			fail_msg("not an exposition line: '%s'", line);
		int n = (int)(mt[1].rm_eo - mt[1].rm_so);
		assert_true(nseen > 0);
		assert_int_equal(strlen(seen[nseen - 1]), n);
		assert_memory_equal(seen[nseen - 1], line + mt[1].rm_so, n);
	}
	regfree(&sample);
	regfree(&help);
	regfree(&type);
}

static void
test_format_self_check(void **state)
{
	(void)state;
	wr_metrics *reg = wr_metrics_new();
	const char *const odd[] = {"a",   "x\\\"\n\ty", "b", "",
	                           "c_2", "{}=,",       NULL};
	const char *const st[] = {"status", "completed", NULL};
	const double vals[] = {0,        1.5,       -2,
	                       1e300,    5e-324,    NAN,
	                       INFINITY, -INFINITY, 12345678901234567890.0};
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "weir:g_%zu", i);
		wr_metric_set(wr_metrics_get(reg, WR_METRIC_GAUGE, name,
		                             "A\\b\nc", i % 2 ? odd : NULL),
		              vals[i]);
	}
	wr_metric_inc(wr_metrics_get(reg, WR_METRIC_COUNTER,
	                             "weir_checkpoints_total", "", st));
	wr_metrics_get(reg, WR_METRIC_GAUGE, "weir_empty", "", NULL);
	char *text = render(reg);
	check_exposition(text);
	free(text);

	/* The checker itself rejects broken lines. */
	regex_t re;
	assert_int_equal(regcomp(&re, sample_re, REG_EXTENDED), 0);
	assert_int_equal(regexec(&re, "x{a=\"b\"} 1", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "x{a=\"b\\\"} 1", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "x{a=b} 1", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "1x 1", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "x 1.", 0, NULL, 0), 0);
	assert_int_not_equal(regexec(&re, "x inf", 0, NULL, 0), 0);
	regfree(&re);
	wr_metrics_free(reg);
}

/* /proc/PID/stat: a command name with spaces and parentheses, fields
 * counted after its last ')'; negative fields (priority) are numbers too. */
static void
test_proc_stat_parse(void **state)
{
	(void)state;
	const char *line =
	    "4242 (weir (tm) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 "
	    "250 75 0 0 20 0 9 0 123456 987654321 2048 18446744073709551615 "
	    "1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
	wr_proc_stat st;
	assert_int_equal(wr_proc_stat_parse(line, &st), WR_OK);
	assert_int_equal(st.utime_ticks, 250);
	assert_int_equal(st.stime_ticks, 75);
	assert_int_equal(st.threads, 9);
	assert_int_equal(st.vsize_bytes, 987654321);
	assert_int_equal(st.rss_pages, 2048);
	/* cut before rss, no ')' at all, a letter where a number goes */
	assert_int_equal(
	    wr_proc_stat_parse("1 (a) S 1 1 1 0 -1 0 0 0 0 0 5 5 0 0 20 0 "
	                       "1 0 1 100",
	                       &st),
	    WR_EINVAL);
	assert_int_equal(wr_proc_stat_parse("1 a S 1", &st), WR_EINVAL);
	assert_int_equal(
	    wr_proc_stat_parse("1 (a) S 1 1 1 0 -1 0 0 0 0 0 x 5 0 0 20 0 "
	                       "1 0 1 100 7",
	                       &st),
	    WR_EINVAL);
	/* this process: at least this thread, some memory */
	char text[1024];
	FILE *f = fopen("/proc/self/stat", "r");
	assert_non_null(f);
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	assert_int_equal(wr_proc_stat_parse(text, &st), WR_OK);
	assert_true(st.threads >= 1);
	assert_true(st.rss_pages > 0);
}

/* The installed collector renders every process_* family and build info,
 * with values read at the render. */
static void
test_proc_metrics(void **state)
{
	(void)state;
	wr_metrics *reg = wr_metrics_new();
	wr_proc_metrics_install(reg);
	char *text = render(reg);
	const char *want[] = {"# TYPE process_cpu_seconds_total counter\n",
	                      "\nprocess_resident_memory_bytes ",
	                      "\nprocess_virtual_memory_bytes ",
	                      "\nprocess_open_fds ",
	                      "\nprocess_max_fds ",
	                      "\nprocess_threads ",
	                      "\nprocess_start_time_seconds ",
	                      "\nweir_build_info{version=\"" WEIR_VERSION
	                      "\",commit=\""};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (strstr(text, want[i]) == NULL)
			fail_msg("no %s in:\n%s", want[i], text);
	/* this test's one thread, and a sanitizer's own (TSan runs a
	 * background thread) */
	long threads =
	    strtol(strstr(text, "\nprocess_threads ") + 17, NULL, 10);
	assert_true(threads >= 1 && threads <= 2);
	free(text);
	wr_metrics_free(reg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_counter_no_labels),
	    cmocka_unit_test(test_gauges_with_labels),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_concurrent_increments),
	    cmocka_unit_test(test_remove),
	    cmocka_unit_test(test_release),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_release_concurrent),
	    cmocka_unit_test(test_on_collect),
	    cmocka_unit_test(test_format_self_check),
	    cmocka_unit_test(test_proc_stat_parse),
	    cmocka_unit_test(test_proc_metrics),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
