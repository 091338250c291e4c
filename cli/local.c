/*
 * local.c - `weir local`: a whole cluster on this machine, in the
 * foreground. The embedded Kafka runs in this process; the JobManager (or,
 * with --jobmanagers N, N JobManagers electing a leader through an embedded
 * etcd, local_ha.c) and the TaskManagers are child processes (their logs in
 * DIR/log). Ctrl-C or SIGTERM stops the TaskManagers, then the
 * JobManagers, then etcd, and waits for them. Children ask the kernel for
 * SIGTERM when this process dies (PR_SET_PDEATHSIG), so even a SIGKILL of
 * `weir local` leaves no orphans.
 */
#include "cli.h"
#include "cli_rpc.h"
#include "local.h"
#include "local_kafka.h"

#include "addr.h"
#include "auth.h"
#include "buf.h"
#include "clock.h"
#include "err.h"
#include "fsutil.h"
#include "id.h"
#include "log.h"
#include "mem.h"
#include "parse.h"
#include "rpc.h"
#include "wr_limits.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct cli_local_cluster {
	int taskmanagers, jobmanagers, slots, kafka_port, rest_port, brokers;
	const char *dir;
	bool token; /* --token: a fresh DIR/token for every process */
	/* The token file every process uses (DIR/token, or the one the
	 * CLI was given); "" = none. */
	char token_path[PATH_MAX];
	const char *topics[CLI_LOCAL_MAX_TOPICS];
	int ntopics;
	char config_path[PATH_MAX];
	cli_lkafka *kafka;
	wr_rpc_server *admin;
	/* Each JobManager's RPC address and REST port; jm_list joins the
	 * addresses with commas (what TaskManagers and the CLI are given). */
	char jm_addrs[WR_MAX_JOBMANAGERS][WR_ADDR_BYTES];
	int rest_ports[WR_MAX_JOBMANAGERS];
	/* Each TaskManager's metrics port (a free one: 9249 fits one) */
	int metrics_ports[CLI_LOCAL_MAX_TMS];
	char jm_list[WR_MAX_JOBMANAGERS * (WR_ADDR_BYTES + 1)];
	char etcd_url[64]; /* empty without --jobmanagers N >= 2 */
	cli_local_ports ports;
	cli_child etcd;
	cli_child jms[WR_MAX_JOBMANAGERS];
	cli_child tms[CLI_LOCAL_MAX_TMS];
} cli_local_cluster;

static volatile sig_atomic_t cli_local_stop;

static void
cli_local_on_signal(int sig)
{
	(void)sig;
	cli_local_stop = 1;
}

const char *
cli_local_default_dir(void)
{
	static char dir[PATH_MAX];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/weir-local", tmp && *tmp ? tmp : "/tmp");
	return dir;
}

static void
cli_local_usage(FILE *f)
{
	fprintf(f,
	        "usage: weir local [--taskmanagers N] [--jobmanagers M] "
	        "[--slots S]\n"
	        "                  [--kafka-port 9092] [--rest-port 8081]\n"
	        "                  [--topic NAME:PARTITIONS]... [--dir DIR]\n\n"
	        "Starts a whole cluster on this machine in the foreground: an "
	        "embedded Kafka\n(librdkafka's mock cluster, the real Kafka "
	        "protocol on TCP), one JobManager\nlistening on --jobmanager "
	        "(default tcp://127.0.0.1:6123) and N TaskManagers.\n"
	        "With --jobmanagers M >= 2: M JobManagers electing a leader "
	        "through an embedded\netcd (Debian's etcd-server, data in "
	        "DIR/etcd), the first on --jobmanager and\n--rest-port, the "
	        "others on free ports. Writes DIR/weir.env: `. DIR/weir.env`\n"
	        "points weir at the cluster (WEIR_JOBMANAGER lists every "
	        "JobManager,\nWEIR_METRICS every /metrics URL: each "
	        "TaskManager's on a free port).\n"
	        "Everything listens on loopback. Ctrl-C stops it all.\n\n"
	        "  --taskmanagers N  TaskManager processes (default 1)\n"
	        "  --jobmanagers M   JobManager processes (default 1; 2..%d: "
	        "HA through etcd)\n"
	        "  --slots S         slots per TaskManager (default 2)\n"
	        "  --kafka-port P    Kafka bootstrap port (default 9092; also "
	        "in DIR/kafka.bootstrap)\n"
	        "  --rest-port P     JobManager REST port (default 8081)\n"
	        "  --topic NAME:N    create a topic with N partitions "
	        "(repeatable)\n"
	        "  --brokers B       mock Kafka brokers (default 3)\n"
	        "  --token           require a cluster token: writes a random "
	        "one to DIR/token\n"
	        "                    (mode 0600), used by every process "
	        "started here;\n"
	        "                    DIR/weir.env exports WEIR_TOKEN_FILE\n"
	        "  --dir DIR         config, logs, state, checkpoints (default "
	        "%s)\n",
	        WR_MAX_JOBMANAGERS, cli_local_default_dir());
}

static int
cli_local_int(const char *flag, const char *s, int min, int max, int *out)
{
	int64_t v;
	if (wr_parse_int64(s, &v) != WR_OK || v < min || v > max) {
		fprintf(stderr, "weir local: %s must be %d..%d, not '%s'\n",
		        flag, min, max, s);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int
cli_local_args(cli_local_cluster *l, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"taskmanagers", required_argument, NULL, 'n'},
	    {"jobmanagers", required_argument, NULL, 'j'},
	    {"slots", required_argument, NULL, 's'},
	    {"kafka-port", required_argument, NULL, 'k'},
	    {"rest-port", required_argument, NULL, 'r'},
	    {"topic", required_argument, NULL, 't'},
	    {"brokers", required_argument, NULL, 'b'},
	    {"dir", required_argument, NULL, 'd'},
	    {"token", no_argument, NULL, 'T'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int c, bad = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			bad |=
			    cli_local_int("--taskmanagers", optarg, 0,
			                  CLI_LOCAL_MAX_TMS, &l->taskmanagers);
			break;
		case 'j':
			bad |=
			    cli_local_int("--jobmanagers", optarg, 1,
			                  WR_MAX_JOBMANAGERS, &l->jobmanagers);
			break;
		case 's':
			bad |=
			    cli_local_int("--slots", optarg, 1, 256, &l->slots);
			break;
		case 'k':
			bad |= cli_local_int("--kafka-port", optarg, 0, 65535,
			                     &l->kafka_port);
			break;
		case 'r':
			bad |= cli_local_int("--rest-port", optarg, 0, 65535,
			                     &l->rest_port);
			break;
		case 'b':
			bad |= cli_local_int("--brokers", optarg, 1, 9,
			                     &l->brokers);
			break;
		case 'd':
			l->dir = optarg;
			break;
		case 'T':
			l->token = true;
			break;
		case 't':
			if (l->ntopics == CLI_LOCAL_MAX_TOPICS) {
				fprintf(stderr,
				        "weir local: at most %d --topic\n",
				        CLI_LOCAL_MAX_TOPICS);
				return CLI_USAGE;
			}
			l->topics[l->ntopics++] = optarg;
			break;
		case 'h':
			cli_local_usage(stdout);
			return -1;
		default:
			cli_local_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (bad || optind < argc) {
		if (optind < argc)
			fprintf(stderr,
			        "weir local: unexpected argument '%s'\n",
			        argv[optind]);
		return CLI_USAGE;
	}
	return CLI_OK;
}

/* Writes DIR/NAME atomically (readers never see half a file). */
static int
cli_write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return wr_write_file_atomic(path, text, strlen(text)) == WR_OK ? 0 : -1;
}

/* The children read weir.yaml, then the environment: a WEIR_* variable
 * of a key weir local sets (a WEIR_KAFKA_BOOTSTRAP from another cluster's
 * weir.env, say) must not override the value it chose. */
static void
cli_local_unsetenv(const char *key)
{
	char var[128];
	snprintf(var, sizeof(var), "WEIR_%s", key);
	for (char *p = var; *p != '\0'; p++)
		*p = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	unsetenv(var);
}

/* The value weir local sets for key into v (len bytes); false when it
 * leaves the key as the base config has it. */
static bool
cli_local_value(const cli_ctx *ctx, const cli_local_cluster *l, const char *key,
                char *v, size_t len)
{
	bool ha = l->etcd_url[0] != '\0';
	if (strcmp(key, "jobmanager.rpc") == 0)
		snprintf(v, len, "%s", l->jm_addrs[0]);
	else if (strcmp(key, "jobmanager.address") == 0)
		/* A TaskManager started by hand on this file finds the
		 * leader among all of them. */
		snprintf(v, len, "%s", l->jm_list);
	else if (strcmp(key, "jobmanager.rest") == 0)
		snprintf(v, len, "127.0.0.1:%d", l->rest_port);
	else if (strcmp(key, "taskmanager.rpc") == 0 ||
	         strcmp(key, "taskmanager.data") == 0)
		snprintf(v, len, "tcp://127.0.0.1:0");
	else if (strcmp(key, "taskmanager.metrics") == 0)
		snprintf(v, len, "127.0.0.1:0");
	else if (strcmp(key, "taskmanager.slots") == 0)
		snprintf(v, len, "%d", l->slots);
	else if (strcmp(key, "taskmanager.state_dir") == 0)
		snprintf(v, len, "%s/state", l->dir);
	else if (strcmp(key, "checkpoints.storage") == 0) {
		/* Storage set in the config (an s3:// bucket, say) stays;
		 * the default moves under DIR. */
		if (strcmp(ctx->cfg.ckpt_storage,
		           "file:///var/lib/weir/checkpoints") != 0)
			return false;
		snprintf(v, len, "file://%s/checkpoints", l->dir);
	} else if (strcmp(key, "kafka.bootstrap") == 0)
		snprintf(v, len, "%s", cli_lkafka_bootstrap(l->kafka));
	else if (strcmp(key, "security.token_file") == 0)
		snprintf(v, len, "%s", l->token_path);
	else if (strcmp(key, "high_availability.mode") == 0 && ha)
		snprintf(v, len, "etcd");
	else if (strcmp(key, "high_availability.etcd.endpoints") == 0 && ha)
		snprintf(v, len, "%s", l->etcd_url);
	else
		return false;
	return true;
}

/* Writes DIR/weir.yaml for the children: the base config (--config and
 * env) with every listener on loopback and state under DIR; with several
 * JobManagers, HA through the embedded etcd. */
static int
cli_local_config(cli_ctx *ctx, cli_local_cluster *l)
{
	char v[sizeof(l->jm_list) + PATH_MAX], err[512];
	wr_cluster_config *cfg = &ctx->cfg;
	const wr_cfg_table *t = &wr_cluster_config_table;
	static const char *const keys[] = {
	    "jobmanager.rpc",         "jobmanager.address",
	    "jobmanager.rest",        "taskmanager.rpc",
	    "taskmanager.data",       "taskmanager.metrics",
	    "taskmanager.slots",      "taskmanager.state_dir",
	    "checkpoints.storage",    "kafka.bootstrap",
	    "high_availability.mode", "high_availability.etcd.endpoints",
	    "security.token_file"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (!cli_local_value(ctx, l, keys[i], v, sizeof(v)))
			continue;
		if (wr_cfg_set(t, cfg, keys[i], v, err, sizeof(err)) != WR_OK) {
			fprintf(stderr, "weir local: %s\n", err);
			return CLI_USAGE;
		}
		cli_local_unsetenv(keys[i]);
	}
	wr_buf b;
	wr_buf_init(&b);
	wr_buf_puts(&b,
	            "# written by `weir local`; regenerated at every start\n");
	wr_cfg_dump_yaml(t, cfg, &b);
	int rv = cli_write_file(l->dir, "weir.yaml", b.data);
	wr_buf_fini(&b);
	snprintf(l->config_path, sizeof(l->config_path), "%s/weir.yaml",
	         l->dir);
	if (rv != 0) {
		fprintf(stderr, "weir local: cannot write %s: %s\n",
		        l->config_path, strerror(errno));
		return CLI_FAILED;
	}
	return CLI_OK;
}

/* Path of a sibling binary (installed or built next to `weir`), else the
 * bare name for PATH lookup. */
static void
cli_local_binary(const char *name, char *out, size_t outlen)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(out, outlen, "%s/%s", self, name);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, outlen, "%s", name);
}

int
cli_local_spawn_argv(const char *dir, cli_child *c, const char *name,
                     char *const argv[])
{
	snprintf(c->name, sizeof(c->name), "%s", name);
	snprintf(c->log, sizeof(c->log), "%s/log/%s.log", dir, name);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* Own process group: the terminal's Ctrl-C reaches only
		 * `weir local`, which then stops the children in order. */
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		int fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
			close(fd);
		}
		execvp(argv[0], argv);
		fprintf(stderr, "weir local: cannot run %s: %s\n", argv[0],
		        strerror(errno));
		_exit(127);
	}
	c->pid = pid;
	return 0;
}

/* Starts a weir daemon on DIR/weir.yaml with the flags in extra
 * (NULL-terminated, at most 6). */
static int
cli_local_spawn(cli_local_cluster *l, cli_child *c, const char *bin,
                const char *name, const char *const *extra)
{
	char path[PATH_MAX];
	char *argv[10] = {path, "--config", l->config_path};
	int n = 3;
	cli_local_binary(bin, path, sizeof(path));
	for (; extra != NULL && *extra != NULL && n < 9; extra++)
		argv[n++] = (char *)*extra;
	argv[n] = NULL;
	return cli_local_spawn_argv(l->dir, c, name, argv);
}

/* The child of pid, or NULL. */
static cli_child *
cli_local_child(cli_local_cluster *l, pid_t pid)
{
	if (l->etcd.pid == pid)
		return &l->etcd;
	for (int i = 0; i < l->jobmanagers; i++)
		if (l->jms[i].pid == pid)
			return &l->jms[i];
	for (int i = 0; i < l->taskmanagers; i++)
		if (l->tms[i].pid == pid)
			return &l->tms[i];
	return NULL;
}

/* Reaps exited children without blocking and reports them. */
static void
cli_local_reap(cli_local_cluster *l)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		cli_child *c = cli_local_child(l, pid);
		if (c == NULL)
			continue;
		c->pid = 0;
		if (WIFSIGNALED(status))
			printf("weir local: %s exited on signal %d (log: %s)\n",
			       c->name, WTERMSIG(status), c->log);
		else
			printf(
			    "weir local: %s exited with status %d (log: %s)\n",
			    c->name, WEXITSTATUS(status), c->log);
		fflush(stdout);
	}
}

/* True when every JobManager answers, one leads (a lone one always does)
 * and the leader sees `want` TaskManagers alive. */
static bool
cli_local_ready_once(cli_local_cluster *l, wr_rpc_client **cli, int want)
{
	int answered = 0, leaders = 0;
	bool enough = false;
	for (int i = 0; i < l->jobmanagers; i++) {
		cli_cluster_info ci;
		char err[256];
		if (cli_rpc_cluster_info(cli[i], 500, &ci, err, sizeof(err)) !=
		    WR_OK)
			continue;
		answered++;
		if (l->jobmanagers == 1 || strcmp(ci.role, "leader") == 0) {
			int alive = 0;
			for (size_t k = 0; k < ci.n; k++)
				alive += strcmp(ci.tms[k].state, "alive") == 0;
			leaders++;
			enough = alive >= want;
		}
		cli_cluster_info_fini(&ci);
	}
	return answered == l->jobmanagers && leaders == 1 && enough;
}

/* Waits until the JobManagers answer, one leads, and `want` TaskManagers
 * are alive. */
static int
cli_local_wait_ready(cli_local_cluster *l, int want)
{
	wr_rpc_client *cli[WR_MAX_JOBMANAGERS] = {0};
	int64_t deadline = wr_mono_ms() + CLI_LOCAL_STARTUP_MS;
	int rc = CLI_FAILED;
	for (int i = 0; i < l->jobmanagers; i++)
		if (wr_rpc_client_new(l->jm_addrs[i], 0, &cli[i]) != WR_OK)
			goto free_clients;
	while (wr_mono_ms() < deadline && !cli_local_stop) {
		cli_local_reap(l);
		int dead = 0;
		for (int i = 0; i < l->jobmanagers; i++)
			dead += l->jms[i].pid == 0;
		if (dead > 0)
			break;
		if (cli_local_ready_once(l, cli, want)) {
			rc = CLI_OK;
			break;
		}
		wr_sleep_ms(50);
	}
free_clients:
	for (int i = 0; i < l->jobmanagers; i++)
		wr_rpc_client_free(cli[i]);
	return rc;
}

/* The children stopped in one phase: the TaskManagers, then the
 * JobManagers (a leader resigns through etcd), then etcd. */
static int
cli_local_phase(cli_local_cluster *l, int phase, cli_child **out)
{
	int n = 0;
	if (phase == 0)
		for (int i = 0; i < l->taskmanagers; i++)
			out[n++] = &l->tms[i];
	else if (phase == 1)
		for (int i = 0; i < l->jobmanagers; i++)
			out[n++] = &l->jms[i];
	else
		out[n++] = &l->etcd;
	return n;
}

/* SIGTERM to each child (SIGCONT too: a paused one must see it), phase
 * by phase, then waits up to the deadline; SIGKILL after. */
static void
cli_local_stop_children(cli_local_cluster *l)
{
	cli_child *kids[CLI_LOCAL_MAX_TMS + WR_MAX_JOBMANAGERS];
	for (int phase = 0; phase < 3; phase++) {
		int n = cli_local_phase(l, phase, kids);
		for (int i = 0; i < n; i++)
			if (kids[i]->pid > 0) {
				kill(kids[i]->pid, SIGTERM);
				kill(kids[i]->pid, SIGCONT);
			}
		int64_t deadline = wr_mono_ms() + CLI_LOCAL_STOP_MS;
		for (;;) {
			cli_local_reap(l);
			int left = 0;
			for (int i = 0; i < n; i++)
				left += kids[i]->pid > 0;
			if (left == 0)
				break;
			if (wr_mono_ms() > deadline)
				for (int i = 0; i < n; i++)
					if (kids[i]->pid > 0)
						kill(kids[i]->pid, SIGKILL);
			wr_sleep_ms(20);
		}
	}
}

/* Every JobManager's RPC address and REST port: the first on
 * --jobmanager (the first of a list) and --rest-port, the others on free
 * loopback ports; jm_list joins the addresses. */
static int
cli_local_addresses(cli_ctx *ctx, cli_local_cluster *l)
{
	char host[256];
	int port;
	if (wr_addr_list_split(ctx->jobmanager, l->jm_addrs, 1) == 0) {
		fprintf(stderr, "weir local: no JobManager address in '%s'\n",
		        ctx->jobmanager);
		return CLI_USAGE;
	}
	if (wr_addr_split(l->jm_addrs[0], host, sizeof(host), &port) == WR_OK)
		l->ports.v[l->ports.n++] = port;
	l->ports.v[l->ports.n++] = l->rest_port;
	l->ports.v[l->ports.n++] = l->kafka_port;
	l->rest_ports[0] = l->rest_port;
	snprintf(l->jm_list, sizeof(l->jm_list), "%s", l->jm_addrs[0]);
	for (int i = 1; i < l->jobmanagers; i++) {
		int rpc = cli_local_free_port(&l->ports);
		l->rest_ports[i] = cli_local_free_port(&l->ports);
		if (rpc < 0 || l->rest_ports[i] < 0) {
			fprintf(stderr,
			        "weir local: no free loopback port for "
			        "JobManager %d\n",
			        i + 1);
			return CLI_FAILED;
		}
		snprintf(l->jm_addrs[i], sizeof(l->jm_addrs[i]),
		         "tcp://127.0.0.1:%d", rpc);
		size_t len = strlen(l->jm_list);
		snprintf(l->jm_list + len, sizeof(l->jm_list) - len, ",%s",
		         l->jm_addrs[i]);
	}
	return CLI_OK;
}

static int
cli_local_start_kafka(cli_local_cluster *l)
{
	char err[512];
	if (cli_lkafka_start(l->kafka_port, l->brokers, &l->kafka, err,
	                     sizeof(err)) != WR_OK) {
		fprintf(stderr, "weir local: embedded Kafka: %s\n", err);
		return CLI_FAILED;
	}
	for (int i = 0; i < l->ntopics; i++) {
		char name[256];
		int parts;
		if (cli_topic_spec(l->topics[i], name, sizeof(name), &parts) !=
		    0) {
			fprintf(stderr,
			        "weir local: --topic wants NAME:PARTITIONS, "
			        "not '%s'\n",
			        l->topics[i]);
			return CLI_USAGE;
		}
		if (cli_lkafka_create_topic(l->kafka, name, parts, err,
		                            sizeof(err)) != WR_OK) {
			fprintf(stderr, "weir local: %s\n", err);
			return CLI_USAGE;
		}
	}
	char line[128];
	snprintf(line, sizeof(line), "%s\n", cli_lkafka_bootstrap(l->kafka));
	if (cli_write_file(l->dir, "kafka.bootstrap", line) != 0)
		return CLI_FAILED;
	if (wr_rpc_server_new("tcp://127.0.0.1:0", "weir local", &l->admin))
		return CLI_FAILED;
	snprintf(line, sizeof(line), "tcp://127.0.0.1:%d\n",
	         wr_rpc_server_port(l->admin));
	return cli_write_file(l->dir, CLI_LOCAL_ADMIN_FILE, line) ? CLI_FAILED
	                                                          : CLI_OK;
}

static int
cli_local_start_daemons(cli_local_cluster *l)
{
	for (int i = 0; i < l->jobmanagers; i++) {
		char name[32], rest[32];
		const char *ha[] = {
		    "--rpc",  l->jm_addrs[i], "--address", l->jm_addrs[i],
		    "--rest", rest,           NULL};
		snprintf(rest, sizeof(rest), "127.0.0.1:%d", l->rest_ports[i]);
		if (l->jobmanagers == 1)
			snprintf(name, sizeof(name), "jobmanager");
		else
			snprintf(name, sizeof(name), "jobmanager-%d", i + 1);
		if (cli_local_spawn(l, &l->jms[i], "weir-jobmanager", name,
		                    l->jobmanagers > 1 ? ha : NULL) != 0)
			return CLI_FAILED;
	}
	for (int i = 0; i < l->taskmanagers; i++) {
		char name[32], metrics[32];
		const char *tm_flags[] = {"--jobmanager", l->jm_list,
		                          "--metrics", metrics, NULL};
		if ((l->metrics_ports[i] = cli_local_free_port(&l->ports)) <
		    0) {
			fprintf(stderr, "weir local: no free loopback port for "
			                "a TaskManager's metrics\n");
			return CLI_FAILED;
		}
		snprintf(metrics, sizeof(metrics), "127.0.0.1:%d",
		         l->metrics_ports[i]);
		snprintf(name, sizeof(name), "taskmanager-%d", i + 1);
		if (cli_local_spawn(l, &l->tms[i], "weir-taskmanager", name,
		                    tm_flags) != 0)
			return CLI_FAILED;
	}
	if (cli_local_wait_ready(l, l->taskmanagers) != CLI_OK) {
		fprintf(stderr,
		        "weir local: the cluster did not come up within %d s; "
		        "see the logs in %s/log\n",
		        CLI_LOCAL_STARTUP_MS / 1000, l->dir);
		return CLI_FAILED;
	}
	return CLI_OK;
}

/* DIR/weir.env: the JobManagers, Kafka, REST and every /metrics for
 * `. DIR/weir.env`. */
static int
cli_local_env(cli_local_cluster *l)
{
	char rest[WR_MAX_JOBMANAGERS * 32] = "", admin[64];
	char metrics[(WR_MAX_JOBMANAGERS + CLI_LOCAL_MAX_TMS) * 40] = "";
	size_t len = 0, mlen = 0;
	for (int i = 0; i < l->jobmanagers; i++) {
		len += (size_t)snprintf(rest + len, sizeof(rest) - len,
		                        "%shttp://127.0.0.1:%d", i ? "," : "",
		                        l->rest_ports[i]);
		mlen += (size_t)snprintf(metrics + mlen, sizeof(metrics) - mlen,
		                         "%shttp://127.0.0.1:%d/metrics",
		                         i ? "," : "", l->rest_ports[i]);
	}
	for (int i = 0; i < l->taskmanagers; i++)
		mlen += (size_t)snprintf(metrics + mlen, sizeof(metrics) - mlen,
		                         ",http://127.0.0.1:%d/metrics",
		                         l->metrics_ports[i]);
	snprintf(admin, sizeof(admin), "tcp://127.0.0.1:%d",
	         wr_rpc_server_port(l->admin));
	if (cli_local_write_env(l->dir, l->jm_list,
	                        cli_lkafka_bootstrap(l->kafka), rest, metrics,
	                        admin, l->etcd_url[0] ? l->etcd_url : NULL,
	                        l->token_path[0] ? l->token_path : NULL) != 0) {
		fprintf(stderr, "weir local: cannot write %s/%s: %s\n", l->dir,
		        CLI_LOCAL_ENV_FILE, strerror(errno));
		return CLI_FAILED;
	}
	return CLI_OK;
}

static void
cli_local_banner(const cli_local_cluster *l)
{
	printf("weir local cluster is up\n");
	for (int i = 0; i < l->jobmanagers; i++)
		printf("  %-13s %s   REST http://127.0.0.1:%d\n",
		       i == 0
		           ? (l->jobmanagers > 1 ? "JobManagers" : "JobManager")
		           : "",
		       l->jm_addrs[i], l->rest_ports[i]);
	/* any JobManager serves it; a standby's shows the leader */
	printf("  Dashboard     http://127.0.0.1:%d/\n", l->rest_ports[0]);
	if (l->etcd_url[0] != '\0')
		printf("  etcd          %s   (leader election, job store)\n",
		       l->etcd_url);
	for (int i = 0; i < l->taskmanagers; i++)
		printf(
		    "  taskmanager-%-2d metrics http://127.0.0.1:%d/metrics\n",
		    i + 1, l->metrics_ports[i]);
	printf("  TaskManagers  %d x %d slots\n"
	       "  Kafka         %s   (brokers %s)\n"
	       "  Directory     %s   (logs in %s/log)\n"
	       "From another shell: . %s/%s   (then weir cluster, weir run "
	       "JOB.yaml, ...)\n",
	       l->taskmanagers, l->slots, cli_lkafka_bootstrap(l->kafka),
	       cli_lkafka_brokers(l->kafka), l->dir, l->dir, l->dir,
	       CLI_LOCAL_ENV_FILE);
	if (l->token_path[0] != '\0')
		printf("  Token         %s   (RPC and REST need it: "
		       "Authorization: Bearer)\n",
		       l->token_path);
	printf("Press Ctrl-C to stop.\n");
	fflush(stdout);
}

static void
cli_local_serve(cli_local_cluster *l)
{
	while (!cli_local_stop) {
		wr_rpc_req *req;
		if (wr_rpc_server_next(l->admin, 100, &req) == WR_OK)
			cli_local_dispatch(l->kafka, req);
		cli_lkafka_poll(l->kafka);
		cli_local_reap(l);
	}
}

/* Removes a file this run wrote into DIR (stale once it stops). */
static void
cli_local_unlink(const cli_local_cluster *l, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", l->dir, name);
	unlink(path);
}

/* Writes a fresh random token to DIR/token, readable by its owner only,
 * and makes it this process's. */
static int
cli_local_new_token(cli_local_cluster *l)
{
	char tok[65];
	wr_id_hex(tok, sizeof(tok), 32);
	snprintf(l->token_path, sizeof(l->token_path), "%s/token", l->dir);
	int fd =
	    open(l->token_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	/* An older file keeps its mode through O_CREAT: set it. */
	bool ok = fd >= 0 && fchmod(fd, 0600) == 0 &&
	          write(fd, tok, 64) == 64 && write(fd, "\n", 1) == 1;
	if (fd >= 0 && close(fd) != 0)
		ok = false;
	if (!ok) {
		fprintf(stderr, "weir local: cannot write %s: %s\n",
		        l->token_path, strerror(errno));
		return CLI_FAILED;
	}
	wr_auth_set_token(tok);
	return CLI_OK;
}

/* The token every process uses: a new DIR/token with --token, else the
 * file the CLI read (--token-file, WEIR_TOKEN_FILE, the config's), made
 * absolute for weir.env's readers in other directories. */
static int
cli_local_token(const cli_ctx *ctx, cli_local_cluster *l)
{
	if (l->token)
		return cli_local_new_token(l);
	const char *path = cli_token_path(ctx);
	if (path[0] == '\0')
		return CLI_OK;
	if (realpath(path, l->token_path) == NULL)
		snprintf(l->token_path, sizeof(l->token_path), "%s", path);
	return CLI_OK;
}

/* Starts everything in order: the token, the addresses, Kafka, etcd (HA),
 * the config, the daemons. */
static int
cli_local_start(cli_ctx *ctx, cli_local_cluster *l)
{
	int rc;
	if ((rc = cli_local_token(ctx, l)) != CLI_OK ||
	    (rc = cli_local_addresses(ctx, l)) != CLI_OK ||
	    (rc = cli_local_start_kafka(l)) != CLI_OK)
		return rc;
	if (l->jobmanagers > 1 &&
	    (rc = cli_local_etcd_start(l->dir, &l->ports, &l->etcd, l->etcd_url,
	                               sizeof(l->etcd_url), &cli_local_stop)) !=
	        CLI_OK)
		return rc;
	if ((rc = cli_local_config(ctx, l)) != CLI_OK ||
	    (rc = cli_local_start_daemons(l)) != CLI_OK)
		return rc;
	return cli_local_env(l);
}

static int
cli_local(cli_ctx *ctx, int argc, char **argv)
{
	static cli_local_cluster l;
	wr_log_set_role("local"); /* its own lines, not the CLI's */
	l.taskmanagers = 1;
	l.jobmanagers = 1;
	l.slots = 2;
	l.kafka_port = 9092;
	l.rest_port = 8081;
	l.brokers = 3;
	l.dir = cli_local_default_dir();
	int rc = cli_local_args(&l, argc, argv);
	if (rc != CLI_OK)
		return rc < 0 ? CLI_OK : rc;
	char logdir[PATH_MAX];
	snprintf(logdir, sizeof(logdir), "%s/log", l.dir);
	if (wr_mkdirs(logdir, 0755) != WR_OK) {
		fprintf(stderr, "weir local: cannot create %s: %s\n", logdir,
		        strerror(errno));
		return CLI_FAILED;
	}
	struct sigaction sa = {.sa_handler = cli_local_on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((rc = cli_local_start(ctx, &l)) == CLI_OK) {
		cli_local_banner(&l);
		cli_local_serve(&l);
		printf("weir local: stopping\n");
		fflush(stdout);
	}
	cli_local_stop_children(&l);
	wr_rpc_server_free(l.admin);
	cli_local_unlink(&l, CLI_LOCAL_ADMIN_FILE);
	cli_local_unlink(&l, CLI_LOCAL_ENV_FILE);
	cli_lkafka_stop(l.kafka);
	return rc;
}

/* weir local reads its own flags (--topic repeats; every bad number is
 * reported before it gives up). */
const cli_verb cli_local_verb = {
    .name = "local",
    .summary = "start a whole cluster on this machine (embedded Kafka)",
    .usage = cli_local_usage, /* weir help local */
    .run_argv = cli_local,
};
