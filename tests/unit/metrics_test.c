/*
 * metrics_test.c - the registry and its Prometheus text exposition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "buf.h"
#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	const char *const rec_l[] = {"job",     "j1", "vertex", "src",
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
	                   "weir_records_in_total{job=\"j1\",vertex=\"src\","
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
	    cmocka_unit_test(test_on_collect),
	    cmocka_unit_test(test_format_self_check),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
