/*
 * config_test.c - the table-driven config engine on a test table with every
 * type, and the weir.yaml table itself: defaults, ranges, unknown keys at
 * the right line:col, wrong kinds, environment, flags, dump -> load.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "wrtest.h"

#include "buf.h"
#include "cluster_config.h"
#include "config.h"
#include "err.h"

typedef struct tcfg {
	char *host;
	int64_t port;
	bool verbose;
	int64_t timeout_ms;
	char *path;
	int64_t cache_bytes;
	int mode;
	char *name;
} tcfg;

#define T(f) offsetof(tcfg, f)

static const wr_cfg_entry tentries[] = {
    {"server.host", WR_CFG_STRING, T(host), 0, 0, "localhost", NULL, "Host."},
    {"server.port", WR_CFG_INT, T(port), 1, 65535, "8080", NULL, "Port."},
    {"server.verbose", WR_CFG_BOOL, T(verbose), 0, 0, "false", NULL,
     "Verbose | chatty."},
    {"server.timeout", WR_CFG_DURATION, T(timeout_ms), 100, 3600000, "5s", NULL,
     "Timeout."},
    {"cache.path", WR_CFG_STRING, T(path), 0, 0, "", NULL, "Path."},
    {"cache.size", WR_CFG_SIZE, T(cache_bytes), 1024, 1024 * 1024 * 1024,
     "64mb", NULL, "Size."},
    {"cache.mode", WR_CFG_ENUM, T(mode), 0, 0, "lru", "lru|lfu|off", "Mode."},
    {"name", WR_CFG_STRING, T(name), 0, 0, "weir", NULL, "Name."},
};

static const wr_cfg_table ttable = {
    .title = "test.yaml",
    .env_prefix = "WRTEST_",
    .entries = tentries,
    .n = sizeof(tentries) / sizeof(tentries[0]),
};

static char errbuf[1024];

static int
setup(void **state)
{
	tcfg *c = calloc(1, sizeof(*c));
	wr_cfg_defaults(&ttable, c);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	wr_cfg_free(&ttable, *state);
	free(*state);
	return 0;
}

static int
load(tcfg *c, const char *text)
{
	errbuf[0] = '\0';
	int rc = wr_cfg_load_string(&ttable, c, "t.yaml", text, strlen(text),
	                            errbuf, sizeof(errbuf));
	print_message("load -> %d %s\n", rc, errbuf);
	return rc;
}

/* Expects WR_EINVAL and exactly the message want. */
static void
load_err(tcfg *c, const char *text, const char *want)
{
	assert_int_equal(load(c, text), WR_EINVAL);
	assert_string_equal(errbuf, want);
}

static void
test_defaults(void **state)
{
	tcfg *c = *state;

	assert_string_equal(c->host, "localhost");
	assert_int_equal(c->port, 8080);
	assert_false(c->verbose);
	assert_int_equal(c->timeout_ms, 5000);
	assert_string_equal(c->path, "");
	assert_int_equal(c->cache_bytes, 64 * 1024 * 1024);
	assert_int_equal(c->mode, 0);
	assert_string_equal(c->name, "weir");
}

static void
test_load_block_and_flow(void **state)
{
	tcfg *c = *state;

	assert_int_equal(load(c, "# comment\n"
	                         "server:\n"
	                         "  host: example.org\n"
	                         "  port: 9090\n"
	                         "  verbose: yes\n"
	                         "cache: {size: 1gb, mode: lfu, path: /tmp/c}\n"
	                         "name: other\n"),
	                 WR_OK);
	assert_string_equal(c->host, "example.org");
	assert_int_equal(c->port, 9090);
	assert_true(c->verbose);
	assert_int_equal(c->timeout_ms, 5000); /* untouched */
	assert_int_equal(c->cache_bytes, 1024 * 1024 * 1024);
	assert_int_equal(c->mode, 1);
	assert_string_equal(c->path, "/tmp/c");
	assert_string_equal(c->name, "other");
	/* Quoted numbers are read like env and flags; null strings empty. */
	assert_int_equal(load(c, "server: {port: \"7070\", host: ~}\n"
	                         "cache:\n"),
	                 WR_OK);
	assert_int_equal(c->port, 7070);
	assert_string_equal(c->host, "");
	/* Empty file: nothing changes. */
	assert_int_equal(load(c, ""), WR_OK);
	assert_int_equal(c->port, 7070);
}

static void
test_unknown_keys(void **state)
{
	tcfg *c = *state;

	load_err(c, "server:\n  host: x\n  prot: 80\n",
	         "t.yaml:3:3: unknown key 'prot' in 'server' "
	         "(known: host, port, verbose, timeout)");
	load_err(
	    c, "name: a\nservr:\n  port: 80\n",
	    "t.yaml:2:1: unknown key 'servr' (known: server, cache, name)");
	load_err(c, "cache: {size: 1mb, colour: red}\n",
	         "t.yaml:1:20: unknown key 'colour' in 'cache' "
	         "(known: path, size, mode)");
	/* A dotted key is not a shortcut for a section. */
	load_err(c, "server.port: 1\n",
	         "t.yaml:1:1: unknown key 'server.port' "
	         "(known: server, cache, name)");
	/* Control bytes in a key do not break the message's line. */
	load_err(c, "\"a\\nb\": 1\n",
	         "t.yaml:1:1: unknown key 'a?b' (known: server, cache, name)");
}

static void
test_ranges(void **state)
{
	tcfg *c = *state;

	load_err(c, "server: {port: 0}",
	         "t.yaml:1:16: server.port: 0 is below the minimum 1");
	load_err(c, "server:\n  port: 65536\n",
	         "t.yaml:2:9: server.port: 65536 is above the maximum 65535");
	load_err(
	    c, "server:\n  timeout: 50ms\n",
	    "t.yaml:2:12: server.timeout: 50ms is below the minimum 100ms");
	load_err(c, "server:\n  timeout: 2h\n",
	         "t.yaml:2:12: server.timeout: 2h is above the maximum 1h");
	load_err(c, "cache:\n  size: 512\n",
	         "t.yaml:2:9: cache.size: 512 is below the minimum 1kb");
	load_err(c, "cache:\n  size: 2gb\n",
	         "t.yaml:2:9: cache.size: 2gb is above the maximum 1gb");
	/* The limits themselves are accepted. */
	assert_int_equal(load(c, "server: {timeout: 100ms, port: 65535}\n"
	                         "cache: {size: 1kb}\n"),
	                 WR_OK);
	assert_int_equal(c->timeout_ms, 100);
	assert_int_equal(c->port, 65535);
	assert_int_equal(c->cache_bytes, 1024);
}

static void
test_bad_values(void **state)
{
	tcfg *c = *state;

	load_err(c, "server: {port: abc}",
	         "t.yaml:1:16: server.port: 'abc' is not an integer");
	load_err(
	    c, "server: {port: 99999999999999999999}",
	    "t.yaml:1:16: server.port: '99999999999999999999' is too large");
	load_err(c, "server: {verbose: maybe}",
	         "t.yaml:1:19: server.verbose: 'maybe' is not a boolean "
	         "(true/false, yes/no, on/off)");
	load_err(c, "server: {timeout: 5 sec}",
	         "t.yaml:1:19: server.timeout: '5 sec' is not a duration "
	         "(e.g. 500ms, 10s, 5m, 1h, 2d)");
	load_err(c, "cache: {size: 1.5mb}",
	         "t.yaml:1:15: cache.size: '1.5mb' is not a size "
	         "(e.g. 512, 64kb, 16mb, 1gb)");
	load_err(c, "cache: {mode: fifo}",
	         "t.yaml:1:15: cache.mode: 'fifo' is not one of lru, lfu, off");
	load_err(c, "server: {port: }",
	         "t.yaml:1:16: server.port: missing integer value");
	load_err(c, "server: {host: \"a\\0b\"}",
	         "t.yaml:1:16: server.host: the value contains a NUL byte");
	/* Nothing was stored by the failed loads. */
	assert_int_equal(c->port, 8080);
	assert_string_equal(c->host, "localhost");
}

static void
test_wrong_kinds(void **state)
{
	tcfg *c = *state;

	load_err(c, "server: 5\n",
	         "t.yaml:1:9: 'server' must be a map, not a "
	         "scalar");
	load_err(c, "server:\n  - port\n",
	         "t.yaml:2:3: 'server' must be a map, not a sequence");
	load_err(c, "server:\n  port: [1, 2]\n",
	         "t.yaml:2:9: server.port must be a scalar (integer), not a "
	         "sequence");
	load_err(c, "name: {a: 1}\n",
	         "t.yaml:1:7: name must be a scalar (string), not a map");
	load_err(c, "- a\n- b\n",
	         "t.yaml:1:1: the top level must be a map, not a sequence");
	load_err(c, "just text\n",
	         "t.yaml:1:1: the top level must be a map, not a scalar");
}

static void
test_malformed_file(void **state)
{
	tcfg *c = *state;
	char path[WRT_TMPFILE_LEN];
	char want[256];
	FILE *f;

	wrt_tmpfile(path, "config", "server:\n  port: 1\n   host: x\n");
	assert_int_equal(
	    wr_cfg_load_file(&ttable, c, path, errbuf, sizeof(errbuf)),
	    WR_EINVAL);
	snprintf(want, sizeof(want), "%s:3:8: ", path);
	print_message("%s\n", errbuf);
	assert_true(strncmp(errbuf, want, strlen(want)) == 0);

	f = fopen(path, "w");
	assert_non_null(f);
	fputs("server:\n  port: 1\n  port: 2\n", f);
	fclose(f);
	assert_int_equal(
	    wr_cfg_load_file(&ttable, c, path, errbuf, sizeof(errbuf)),
	    WR_EINVAL);
	snprintf(want, sizeof(want), "%s:3:3: duplicate key 'port'", path);
	assert_true(strncmp(errbuf, want, strlen(want)) == 0);
	unlink(path);

	assert_int_equal(
	    wr_cfg_load_file(&ttable, c, path, errbuf, sizeof(errbuf)),
	    WR_ENOENT);
	assert_true(strncmp(errbuf, path, strlen(path)) == 0);
	load_err(c, "a: *b\n", "t.yaml:1:4: aliases are not allowed (*b)");
}

static void
test_env_overrides(void **state)
{
	tcfg *c = *state;

	setenv("WRTEST_SERVER_PORT", "9000", 1);
	setenv("WRTEST_CACHE_MODE", "OFF", 1);
	setenv("WRTEST_NAME", "from env", 1);
	setenv("WRTEST_CACHE_PATH", "", 1);
	assert_int_equal(wr_cfg_apply_env(&ttable, c, errbuf, sizeof(errbuf)),
	                 WR_OK);
	assert_int_equal(c->port, 9000);
	assert_int_equal(c->mode, 2);
	assert_string_equal(c->name, "from env");
	assert_string_equal(c->path, "");

	setenv("WRTEST_SERVER_TIMEOUT", "1ms", 1);
	assert_int_equal(wr_cfg_apply_env(&ttable, c, errbuf, sizeof(errbuf)),
	                 WR_EINVAL);
	assert_string_equal(errbuf,
	                    "environment variable WRTEST_SERVER_TIMEOUT: "
	                    "server.timeout: 1ms is below the minimum "
	                    "100ms");
	setenv("WRTEST_SERVER_TIMEOUT", "", 1);
	assert_int_equal(wr_cfg_apply_env(&ttable, c, errbuf, sizeof(errbuf)),
	                 WR_EINVAL);
	assert_non_null(strstr(errbuf, "WRTEST_SERVER_TIMEOUT"));
	setenv("WRTEST_SERVER_TIMEOUT", "250ms", 1);
	setenv("WRTEST_SERVER_HOST", "bad \xff utf8", 1);
	assert_int_equal(wr_cfg_apply_env(&ttable, c, errbuf, sizeof(errbuf)),
	                 WR_EINVAL);
	assert_string_equal(errbuf,
	                    "environment variable WRTEST_SERVER_HOST: "
	                    "server.host: the value is not valid UTF-8");
	unsetenv("WRTEST_SERVER_HOST");
	assert_int_equal(wr_cfg_apply_env(&ttable, c, errbuf, sizeof(errbuf)),
	                 WR_OK);
	assert_int_equal(c->timeout_ms, 250);
	unsetenv("WRTEST_SERVER_TIMEOUT");
	unsetenv("WRTEST_SERVER_PORT");
	unsetenv("WRTEST_CACHE_MODE");
	unsetenv("WRTEST_NAME");
	unsetenv("WRTEST_CACHE_PATH");
}

static void
test_set(void **state)
{
	tcfg *c = *state;

	assert_int_equal(
	    wr_cfg_set(&ttable, c, "server.host", "h1", errbuf, sizeof(errbuf)),
	    WR_OK);
	assert_int_equal(
	    wr_cfg_set(&ttable, c, "server.host", "h2", errbuf, sizeof(errbuf)),
	    WR_OK);
	assert_string_equal(c->host, "h2");
	assert_int_equal(wr_cfg_set(&ttable, c, "server.timeout", "90s", errbuf,
	                            sizeof(errbuf)),
	                 WR_OK);
	assert_int_equal(c->timeout_ms, 90000);
	assert_int_equal(
	    wr_cfg_set(&ttable, c, "name", "n", errbuf, sizeof(errbuf)), WR_OK);
	assert_string_equal(c->name, "n");

	assert_int_equal(wr_cfg_set(&ttable, c, "server.timeout", "50ms",
	                            errbuf, sizeof(errbuf)),
	                 WR_EINVAL);
	assert_string_equal(errbuf,
	                    "server.timeout: 50ms is below the minimum 100ms");
	assert_int_equal(c->timeout_ms, 90000);
	assert_int_equal(wr_cfg_set(&ttable, c, "server.colour", "red", errbuf,
	                            sizeof(errbuf)),
	                 WR_ENOENT);
	assert_string_equal(errbuf, "unknown key 'colour' in 'server' (known: "
	                            "host, port, verbose, timeout)");
	assert_int_equal(
	    wr_cfg_set(&ttable, c, "nope.port", "1", errbuf, sizeof(errbuf)),
	    WR_ENOENT);
	assert_string_equal(errbuf, "unknown key 'nope.port' (known: server, "
	                            "cache, name)");
	assert_int_equal(
	    wr_cfg_set(&ttable, c, "server", "1", errbuf, sizeof(errbuf)),
	    WR_ENOENT);
	assert_int_equal(
	    wr_cfg_set(&ttable, c, "", "1", errbuf, sizeof(errbuf)), WR_ENOENT);
}

/* Every field of a and b equal. */
static void
assert_tcfg_equal(const tcfg *a, const tcfg *b)
{
	assert_string_equal(a->host, b->host);
	assert_int_equal(a->port, b->port);
	assert_int_equal(a->verbose, b->verbose);
	assert_int_equal(a->timeout_ms, b->timeout_ms);
	assert_string_equal(a->path, b->path);
	assert_int_equal(a->cache_bytes, b->cache_bytes);
	assert_int_equal(a->mode, b->mode);
	assert_string_equal(a->name, b->name);
}

static void
roundtrip(const tcfg *c)
{
	tcfg back;
	wr_buf d1, d2;

	wr_buf_init(&d1);
	wr_buf_init(&d2);
	wr_cfg_dump_yaml(&ttable, c, &d1);
	print_message("%s", d1.data);
	wr_cfg_defaults(&ttable, &back);
	assert_int_equal(wr_cfg_load_string(&ttable, &back, "dump", d1.data,
	                                    d1.len, errbuf, sizeof(errbuf)),
	                 WR_OK);
	assert_tcfg_equal(c, &back);
	wr_cfg_dump_yaml(&ttable, &back, &d2);
	assert_string_equal(d1.data, d2.data);
	wr_cfg_free(&ttable, &back);
	wr_buf_fini(&d1);
	wr_buf_fini(&d2);
}

static void
test_dump_roundtrip(void **state)
{
	static const char *const tricky[] = {
	    "",
	    "plain",
	    "with \"quotes\" and \\",
	    "line\nbreak",
	    "tab\there",
	    " lead",
	    "trail ",
	    "# not a comment",
	    "key: val",
	    "null",
	    "~",
	    "true",
	    "0x10",
	    "*alias",
	    "&anchor",
	    "!tag",
	    "{[,]}",
	    "-",
	    "? q",
	    "caf\xc3\xa9",
	    "\x01\x1f\x7f",
	    "\xc2\x85 nel",
	    "\xe2\x80\xa8 ls",
	    "\xef\xbb\xbf bom",
	    "\xef\xbf\xbe",
	    "\xf0\x9f\x98\x80 emoji",
	    "'single'",
	    "%percent",
	    "@at",
	    "`tick`",
	    "|",
	    ">",
	    "a\r\nb",
	};
	tcfg *c = *state;

	roundtrip(c); /* the defaults */
	c->port = 1;
	c->verbose = true;
	c->timeout_ms = 61001;
	c->cache_bytes = 3 * 1024 * 1024 + 1;
	c->mode = 2;
	for (size_t i = 0; i < sizeof(tricky) / sizeof(tricky[0]); i++) {
		print_message("string %zu\n", i);
		assert_int_equal(wr_cfg_set(&ttable, c, "server.host",
		                            tricky[i], errbuf, sizeof(errbuf)),
		                 WR_OK);
		assert_int_equal(wr_cfg_set(&ttable, c, "name", tricky[i],
		                            errbuf, sizeof(errbuf)),
		                 WR_OK);
		roundtrip(c);
	}
}

static void
test_doc_markdown(void **state)
{
	wr_buf b;

	(void)state;
	wr_buf_init(&b);
	wr_cfg_doc_markdown(&ttable, &b);
	print_message("%s", b.data);
	assert_true(strncmp(b.data, "# test.yaml", 11) == 0);
	assert_non_null(strstr(b.data,
	                       "\n## `server`\n\n| key | type | "
	                       "default | range/values | description |\n"
	                       "|---|---|---|---|---|\n"));
	assert_non_null(strstr(b.data, "| `timeout` | duration | `5s` | "
	                               "`100ms` .. `1h` | Timeout. |\n"));
	assert_non_null(strstr(b.data, "| `size` | size | `64mb` | `1kb` .. "
	                               "`1gb` | Size. |\n"));
	assert_non_null(strstr(b.data, "| `mode` | enum | `lru` | `lru`, "
	                               "`lfu`, `off` | Mode. |\n"));
	assert_non_null(strstr(b.data, "| `path` | string | `\"\"` |  | "
	                               "Path. |\n"));
	assert_non_null(strstr(b.data, "Verbose \\| chatty."));
	assert_non_null(strstr(b.data, "\n## Top level\n"));
	assert_non_null(strstr(b.data, "`WRTEST_SERVER_HOST`"));
	wr_buf_fini(&b);
}

static void
test_bad_default_aborts(void **state)
{
	static const wr_cfg_entry bad[] = {
	    {"a.port", WR_CFG_INT, 0, 1, 10, "11", NULL, "out of range"},
	};
	static const wr_cfg_table badt = {"bad.yaml", "X_", bad, 1};
	int status = 0;
	pid_t pid;

	(void)state;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int64_t v;
		wr_cfg_defaults(&badt, &v);
		_exit(0); /* not reached if the bug is caught */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
}

static void
test_cluster_defaults(void **state)
{
	wr_cluster_config cfg;

	(void)state;
	unsetenv("WEIR_TASKMANAGER_SLOTS");
	assert_int_equal(
	    wr_cluster_config_load(&cfg, NULL, errbuf, sizeof(errbuf)), WR_OK);
	/* listeners on loopback unless set (SPEC "Cluster config") */
	assert_string_equal(cfg.jm_rpc, "tcp://127.0.0.1:6123");
	assert_string_equal(cfg.jm_address, "tcp://127.0.0.1:6123");
	assert_string_equal(cfg.jm_advertise, "");
	assert_string_equal(cfg.jm_rest, "127.0.0.1:8081");
	assert_int_equal(cfg.jm_heartbeat_interval_ms, 1000);
	assert_int_equal(cfg.jm_heartbeat_timeout_ms, 5000);
	assert_int_equal(cfg.jm_rpc_timeout_ms, 10000);
	assert_string_equal(cfg.tm_rpc, "tcp://127.0.0.1:0");
	assert_string_equal(cfg.tm_data, "tcp://127.0.0.1:0");
	assert_string_equal(cfg.tm_advertise, "");
	assert_string_equal(cfg.tm_host, "");
	assert_string_equal(cfg.tm_metrics, "127.0.0.1:9249");
	assert_int_equal(cfg.tm_slots, 2);
	assert_string_equal(cfg.tm_state_dir, "/var/lib/weir/state");
	assert_string_equal(cfg.ckpt_storage,
	                    "file:///var/lib/weir/checkpoints");
	assert_int_equal(cfg.ha_mode, WR_HA_NONE);
	assert_string_equal(cfg.kafka_bootstrap, "127.0.0.1:9092");
	assert_int_equal(cfg.kafka_fetch_wait_ms, 10);
	assert_int_equal(cfg.kafka_linger_ms, 5);
	assert_string_equal(cfg.token_file, "");
	assert_int_equal(cfg.log_level, 1);
	wr_cluster_config_free(&cfg);
}

static void
test_cluster_load(void **state)
{
	char path[WRT_TMPFILE_LEN];
	wr_cluster_config cfg;
	char want[256];

	(void)state;
	wrt_tmpfile(path, "config",
	            "jobmanager: { rpc: \"tcp://0.0.0.0:7000\", "
	            "heartbeat_interval: 2s, heartbeat_timeout: 10s }\n"
	            "taskmanager: { slots: 8, state_dir: /data/state }\n"
	            "high_availability: { mode: etcd }\n"
	            "kafka: { fetch_wait: 1ms, linger: 0s }\n"
	            "security: { token_file: /etc/weir/token }\n"
	            "log: { level: debug }\n");
	setenv("WEIR_TASKMANAGER_SLOTS", "16", 1);
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)), WR_OK);
	assert_string_equal(cfg.jm_rpc, "tcp://0.0.0.0:7000");
	assert_int_equal(cfg.jm_heartbeat_timeout_ms, 10000);
	assert_int_equal(cfg.tm_slots, 16); /* env beats the file */
	assert_string_equal(cfg.tm_state_dir, "/data/state");
	assert_int_equal(cfg.ha_mode, WR_HA_ETCD);
	assert_int_equal(cfg.kafka_fetch_wait_ms, 1);
	assert_int_equal(cfg.kafka_linger_ms, 0);
	assert_string_equal(cfg.token_file, "/etc/weir/token");
	assert_int_equal(cfg.log_level, 0);
	wr_cluster_config_free(&cfg);

	/* The advertised addresses from a pod's environment (status.podIP
	 * through WEIR_*_ADVERTISE). */
	setenv("WEIR_TASKMANAGER_ADVERTISE", "10.1.2.3", 1);
	setenv("WEIR_JOBMANAGER_ADVERTISE", "jm-0.weir:6123", 1);
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)), WR_OK);
	assert_string_equal(cfg.tm_advertise, "10.1.2.3");
	assert_string_equal(cfg.jm_advertise, "jm-0.weir:6123");
	wr_cluster_config_free(&cfg);
	unsetenv("WEIR_TASKMANAGER_ADVERTISE");
	unsetenv("WEIR_JOBMANAGER_ADVERTISE");

	setenv("WEIR_TASKMANAGER_SLOTS", "300", 1);
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)),
	    WR_EINVAL);
	assert_string_equal(errbuf,
	                    "environment variable WEIR_TASKMANAGER_SLOTS: "
	                    "taskmanager.slots: 300 is above the maximum "
	                    "256");
	wr_cluster_config_free(&cfg);
	unsetenv("WEIR_TASKMANAGER_SLOTS");
	unlink(path);

	wrt_tmpfile(path, "config",
	            "jobmanager:\n  heartbeat_interval: 2s\n"
	            "  heartbeat_timeout: 2s\n");
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)),
	    WR_EINVAL);
	snprintf(want, sizeof(want),
	         "%s:3:22: jobmanager.heartbeat_timeout (2s) must be greater "
	         "than jobmanager.heartbeat_interval (2s)",
	         path);
	assert_string_equal(errbuf, want);
	wr_cluster_config_free(&cfg);
	unlink(path);

	/* Tasks of a TaskManager the JobManager still counts alive are
	 * never given up: the grace outlasts the heartbeat timeout. */
	wrt_tmpfile(path, "config",
	            "jobmanager:\n  heartbeat_timeout: 40s\n"
	            "taskmanager:\n  adoption_grace: 40s\n");
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)),
	    WR_EINVAL);
	snprintf(want, sizeof(want),
	         "%s:4:19: taskmanager.adoption_grace (40s) must be greater "
	         "than jobmanager.heartbeat_timeout (40s)",
	         path);
	assert_string_equal(errbuf, want);
	wr_cluster_config_free(&cfg);
	unlink(path);

	wrt_tmpfile(path, "config", "jobmanager:\n  heartbeat_timeout: 50ms\n");
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)),
	    WR_EINVAL);
	snprintf(want, sizeof(want),
	         "%s:2:22: jobmanager.heartbeat_timeout: 50ms is below the "
	         "minimum 200ms",
	         path);
	assert_string_equal(errbuf, want);
	wr_cluster_config_free(&cfg);
	unlink(path);

	wrt_tmpfile(path, "config", "jobmanager:\n  rpc: x\n  heartbeat: 1s\n");
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)),
	    WR_EINVAL);
	snprintf(
	    want, sizeof(want),
	    "%s:3:3: unknown key 'heartbeat' in 'jobmanager' (known: rpc, "
	    "address, advertise, rest, heartbeat_interval, heartbeat_timeout, "
	    "rpc_timeout)",
	    path);
	assert_string_equal(errbuf, want);
	wr_cluster_config_free(&cfg);
	unlink(path);
}

/* The high_availability keys: nested sections, a list given as a YAML
 * sequence or a comma string, and the rules across keys located at the
 * key that breaks them (file or environment variable). */
static void
test_cluster_ha(void **state)
{
	char path[WRT_TMPFILE_LEN];
	wr_cluster_config cfg;
	char want[256];

	(void)state;
	assert_int_equal(
	    wr_cluster_config_load(&cfg, NULL, errbuf, sizeof(errbuf)), WR_OK);
	assert_string_equal(cfg.ha_cluster_id, "default");
	assert_int_equal(cfg.ha_lease_ms, 3000);
	assert_int_equal(cfg.ha_renew_ms, 1000);
	assert_int_equal(cfg.ha_retry_ms, 250);
	assert_string_equal(cfg.ha_etcd_endpoints, "http://127.0.0.1:2379");
	assert_string_equal(cfg.ha_k8s_lease, "weir-leader");
	wr_cluster_config_free(&cfg);

	wrt_tmpfile(path, "config",
	            "high_availability:\n  mode: etcd\n  cluster_id: c1\n"
	            "  etcd:\n    endpoints: [\"http://a:1\", \"http://b:2\"]\n"
	            "  kubernetes: { namespace: ns, lease: l }\n");
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)), WR_OK);
	assert_string_equal(cfg.ha_etcd_endpoints, "http://a:1,http://b:2");
	assert_string_equal(cfg.ha_k8s_namespace, "ns");
	assert_string_equal(cfg.ha_cluster_id, "c1");
	wr_cluster_config_free(&cfg);
	unlink(path);

	wrt_tmpfile(path, "config",
	            "high_availability: { etcd: { endpoints: \"http://a:1,"
	            "http://b:2\" } }\n");
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)), WR_OK);
	assert_string_equal(cfg.ha_etcd_endpoints, "http://a:1,http://b:2");
	wr_cluster_config_free(&cfg);
	unlink(path);

	wrt_tmpfile(path, "config",
	            "high_availability:\n  etcd:\n    endpont: x\n");
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)),
	    WR_EINVAL);
	snprintf(want, sizeof(want),
	         "%s:3:5: unknown key 'endpont' in 'high_availability.etcd' "
	         "(known: endpoints)",
	         path);
	assert_string_equal(errbuf, want);
	wr_cluster_config_free(&cfg);
	unlink(path);

	wrt_tmpfile(path, "config",
	            "high_availability:\n  lease_duration: 2s\n"
	            "  renew_interval: 2s\n");
	assert_int_equal(
	    wr_cluster_config_load(&cfg, path, errbuf, sizeof(errbuf)),
	    WR_EINVAL);
	snprintf(want, sizeof(want),
	         "%s:3:19: high_availability.renew_interval (2s) must be less "
	         "than 2/3 of high_availability.lease_duration (2s): the "
	         "leader steps down lease_duration - renew_interval/2 after a "
	         "renewal, before the next one",
	         path);
	assert_string_equal(errbuf, want);
	wr_cluster_config_free(&cfg);

	setenv("WEIR_HIGH_AVAILABILITY_RENEW_INTERVAL", "5s", 1);
	assert_int_equal(
	    wr_cluster_config_load(&cfg, NULL, errbuf, sizeof(errbuf)),
	    WR_EINVAL);
	assert_string_equal(
	    errbuf, "WEIR_HIGH_AVAILABILITY_RENEW_INTERVAL: "
	            "high_availability.renew_interval (5s) must be less than "
	            "2/3 of high_availability.lease_duration (3s): the leader "
	            "steps down lease_duration - renew_interval/2 after a "
	            "renewal, before the next one");
	wr_cluster_config_free(&cfg);
	unsetenv("WEIR_HIGH_AVAILABILITY_RENEW_INTERVAL");
	unlink(path);
}

static void
test_cluster_dump_roundtrip(void **state)
{
	wr_cluster_config a, b;
	wr_buf d1, d2;

	(void)state;
	assert_int_equal(
	    wr_cluster_config_load(&a, NULL, errbuf, sizeof(errbuf)), WR_OK);
	assert_int_equal(wr_cfg_set(&wr_cluster_config_table, &a,
	                            "high_availability.mode", "kubernetes",
	                            errbuf, sizeof(errbuf)),
	                 WR_OK);
	wr_buf_init(&d1);
	wr_buf_init(&d2);
	wr_cfg_dump_yaml(&wr_cluster_config_table, &a, &d1);
	assert_int_equal(
	    wr_cluster_config_load(&b, NULL, errbuf, sizeof(errbuf)), WR_OK);
	assert_int_equal(wr_cfg_load_string(&wr_cluster_config_table, &b,
	                                    "dump", d1.data, d1.len, errbuf,
	                                    sizeof(errbuf)),
	                 WR_OK);
	assert_int_equal(b.ha_mode, WR_HA_KUBERNETES);
	wr_cfg_dump_yaml(&wr_cluster_config_table, &b, &d2);
	assert_string_equal(d1.data, d2.data);
	assert_non_null(strstr(d1.data, "jobmanager:\n  rpc: "
	                                "\"tcp://127.0.0.1:6123\"\n"));
	assert_non_null(strstr(d1.data, "  heartbeat_timeout: 5s\n"));
	wr_buf_fini(&d1);
	wr_buf_fini(&d2);
	wr_cluster_config_free(&a);
	wr_cluster_config_free(&b);
	wr_cluster_config_free(&b); /* idempotent: pointers were cleared */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_load_block_and_flow, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wrong_kinds, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_file, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_env_overrides, setup,
	                                    teardown),
	    cmocka_unit_test_setup_teardown(test_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_dump_roundtrip, setup,
	                                    teardown),
	    cmocka_unit_test(test_doc_markdown),
	    cmocka_unit_test(test_bad_default_aborts),
	    cmocka_unit_test(test_cluster_defaults),
	    cmocka_unit_test(test_cluster_load),
	    cmocka_unit_test(test_cluster_ha),
	    cmocka_unit_test(test_cluster_dump_roundtrip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
