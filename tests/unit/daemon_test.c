/*
 * daemon_test.c - the daemon skeleton (common/daemon/daemon.c) in-process:
 * exit codes of the command line, flags and their environment variables
 * applied over the config, a failed start stopped, and a run that serves
 * until SIGTERM.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "daemon.h"
#include "err.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fake {
	wr_cluster_config cfg;
	wr_rpc_server *rpc;
	int start_rv;
	int starts, ticks, stops;
	bool stopped_started;
	/* the config as start saw it */
	char jm_address[128], tm_rpc[128];
	int64_t slots;
} fake;

static int
fake_start(void *arg)
{
	fake *f = arg;
	f->starts++;
	snprintf(f->jm_address, sizeof(f->jm_address), "%s", f->cfg.jm_address);
	snprintf(f->tm_rpc, sizeof(f->tm_rpc), "%s", f->cfg.tm_rpc);
	f->slots = f->cfg.tm_slots;
	if (f->start_rv != WR_OK)
		return f->start_rv;
	return wr_daemon_listen_rpc("tcp://127.0.0.1:0", "Test", "T-RPC-LISTEN",
	                            &f->rpc);
}

static void
fake_dispatch(void *arg, wr_rpc_req *req)
{
	(void)arg;
	wr_rpc_req_reply_ack(req);
}

/* The third tick asks for a shutdown the way an operator does. */
static void
fake_tick(void *arg)
{
	fake *f = arg;
	if (++f->ticks == 3)
		raise(SIGTERM);
}

static void
fake_stop(void *arg, bool started)
{
	fake *f = arg;
	f->stops++;
	f->stopped_started = started;
	wr_rpc_server_free(f->rpc);
	f->rpc = NULL;
}

static const wr_daemon_flag fake_flags[] = {
    {"jobmanager", "jobmanager.address", "WR_DAEMON_TEST_JM"},
    {"slots", "taskmanager.slots", NULL},
    {"rpc", "taskmanager.rpc", NULL},
    {NULL, NULL, NULL},
};

/* Runs the skeleton on f with the given arguments (NULL-terminated). */
static int
run(fake *f, ...)
{
	char *argv[16] = {"weir-test"};
	int argc = 1;
	va_list ap;
	va_start(ap, f);
	for (char *a; (a = va_arg(ap, char *)) != NULL;)
		argv[argc++] = a;
	va_end(ap);
	const wr_daemon d = {.prog = "weir-test",
	                     .role = "test",
	                     .usage = "usage: weir-test\n",
	                     .flags = fake_flags,
	                     .cfg = &f->cfg,
	                     .arg = f,
	                     .start = fake_start,
	                     .rpc = &f->rpc,
	                     .dispatch = fake_dispatch,
	                     .tick_ms = 10,
	                     .tick = fake_tick,
	                     .stop = fake_stop};
	memset(&f->cfg, 0, sizeof(f->cfg)); /* the last run freed it */
	optind = 0;                         /* glibc: start getopt afresh */
	return wr_daemon_main(&d, argc, argv);
}

static void
test_command_line(void **state)
{
	(void)state;
	fake f = {0};
	assert_int_equal(run(&f, "--help", NULL), 0);
	assert_int_equal(run(&f, "--bogus", NULL), 2);
	assert_int_equal(run(&f, "--slots", NULL), 2);
	assert_int_equal(run(&f, "stray", NULL), 2);
	assert_int_equal(run(&f, "--config", "/nonexistent/weir.yaml", NULL),
	                 1);
	assert_int_equal(run(&f, "--slots", "many", NULL), 1);
	/* None of these started the daemon. */
	assert_int_equal(f.starts, 0);
	assert_int_equal(f.stops, 0);
}

static void
test_start_fails(void **state)
{
	(void)state;
	fake f = {.start_rv = WR_EINVAL};
	setenv("WR_DAEMON_TEST_JM", "tcp://env:1", 1);
	assert_int_equal(run(&f, "--slots", "3", "--rpc=tcp://0.0.0.0:9", NULL),
	                 1);
	unsetenv("WR_DAEMON_TEST_JM");
	assert_int_equal(f.starts, 1);
	assert_string_equal(f.jm_address, "tcp://env:1");
	assert_string_equal(f.tm_rpc, "tcp://0.0.0.0:9");
	assert_int_equal(f.slots, 3);
	/* stop runs after a failed start, told so. */
	assert_int_equal(f.stops, 1);
	assert_false(f.stopped_started);
}

static void
test_serves_until_sigterm(void **state)
{
	(void)state;
	fake f = {0};
	setenv("WR_DAEMON_TEST_JM", "tcp://env:1", 1);
	assert_int_equal(run(&f, "--jobmanager", "tcp://flag:2", NULL), 0);
	unsetenv("WR_DAEMON_TEST_JM");
	/* The flag wins over its environment variable. */
	assert_string_equal(f.jm_address, "tcp://flag:2");
	assert_int_equal(f.ticks, 3);
	assert_int_equal(f.stops, 1);
	assert_true(f.stopped_started);
}

/* The start-up warnings: a listener beyond loopback without a token;
 * an advertised host others are told while the listeners are on
 * loopback. */
static void
test_listener_warnings(void **state)
{
	(void)state;
	wr_cluster_config cfg = {0};
	char err[256];
	assert_int_equal(wr_cluster_config_load(&cfg, NULL, err, sizeof(err)),
	                 WR_OK);
	const wr_daemon_listener local[] = {
	    {"taskmanager.rpc", "tcp://127.0.0.1:0"},
	    {"taskmanager.metrics", "localhost:9249"},
	};
	const wr_daemon_listener open[] = {
	    {"jobmanager.rpc", "tcp://127.0.0.1:6123"},
	    {"jobmanager.rest", "0.0.0.0:8081"},
	};
	assert_false(wr_daemon_warn_exposed(&cfg, local, 2));
	assert_true(wr_daemon_warn_exposed(&cfg, open, 2));
	free(cfg.token_file);
	cfg.token_file = strdup("/etc/weir/token");
	assert_false(wr_daemon_warn_exposed(&cfg, open, 2));
	wr_cluster_config_free(&cfg);

	assert_false(
	    wr_daemon_warn_unreachable("taskmanager.advertise", "", local, 2));
	assert_false(wr_daemon_warn_unreachable("taskmanager.advertise",
	                                        "localhost", local, 2));
	assert_true(wr_daemon_warn_unreachable("taskmanager.advertise",
	                                       "tm-1.example", local, 2));
	assert_true(wr_daemon_warn_unreachable("jobmanager.advertise", "jm-a",
	                                       open, 2));
	assert_false(wr_daemon_warn_unreachable("jobmanager.advertise", "jm-a",
	                                        open + 1, 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_command_line),
	    cmocka_unit_test(test_start_fails),
	    cmocka_unit_test(test_serves_until_sigterm),
	    cmocka_unit_test(test_listener_warnings),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
