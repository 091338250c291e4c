/*
 * daemon.h - a weir daemon's start-up and life, shared by the JobManager
 * and the TaskManager: the command line (--config, --help and the
 * daemon's own flags), weir.yaml, logging, SIGTERM/SIGINT as a clean
 * shutdown, the RPC serve loop and the exit codes; and the two listeners
 * every daemon opens (RPC, HTTP) with their failure logged alike.
 *
 * A daemon's main() fills a wr_daemon and returns wr_daemon_main():
 *
 *   parse the command line, load the config   (usage: exit 2, config: 1)
 *   log level from the config unless WEIR_LOG_LEVEL says otherwise
 *   start(arg)                                (failure: stop, exit 1)
 *   until a signal: wait up to tick_ms for a request on *rpc,
 *                   dispatch it, tick
 *   stop(arg, true), free the config          (exit 0)
 */
#ifndef WR_DAEMON_H
#define WR_DAEMON_H

#include <stdbool.h>

#include "cluster_config.h"
#include "http.h"
#include "rpc.h"

/* A flag beyond --config and --help: --NAME VALUE sets config key `key`
 * (after weir.yaml and the WEIR_* environment were applied). */
typedef struct wr_daemon_flag {
	const char *name; /* "rpc" for --rpc */
	const char *key;  /* "jobmanager.rpc" */
	/* An environment variable whose value sets key when the flag is
	 * not given; NULL = none. */
	const char *env;
} wr_daemon_flag;

typedef struct wr_daemon {
	const char *prog;  /* "weir-jobmanager": the prefix of messages */
	const char *role;  /* "jobmanager": every log line's role (static) */
	const char *usage; /* --help text (stdout; stderr after a bad flag) */
	const wr_daemon_flag *flags; /* ended by one with a NULL name */
	/* Where the config is loaded; freed after stop. */
	wr_cluster_config *cfg;
	void *arg; /* every callback's argument */
	/* Opens listeners and starts threads once config, log level and
	 * signals are set. WR_OK to serve; otherwise it has logged why. */
	int (*start)(void *arg);
	/* Where start leaves the RPC server the loop serves. */
	wr_rpc_server *const *rpc;
	/* Answers one request (the callee owns req). */
	void (*dispatch)(void *arg, wr_rpc_req *req);
	int tick_ms; /* longest wait for a request before a tick */
	/* After every request and every tick_ms without one. */
	void (*tick)(void *arg);
	/* Ends what start began, also after a failed start (started false):
	 * start may have stopped anywhere. The config is freed after. */
	void (*stop)(void *arg, bool started);
} wr_daemon;

/* Runs the daemon described by d on the main thread until SIGTERM or
 * SIGINT (or a failed RPC server) and returns the process exit code: 0
 * after a clean shutdown or --help, 1 when the config or start failed,
 * 2 for a bad command line. Installs the signal handlers (SIGPIPE is
 * ignored). Call once. */
int wr_daemon_main(const wr_daemon *d, int argc, char **argv);

/* Listens for RPC on url (wr_rpc_server_new, name for the logs); on
 * failure logs `event` "cannot listen on URL: reason" and returns the
 * error. */
int wr_daemon_listen_rpc(const char *url, const char *name, const char *event,
                         wr_rpc_server **out);

/* Serves HTTP on addr: creates the server into *out, lets routes(arg,
 * *out) add its handlers, starts it. On failure logs `event` "cannot
 * serve WHAT on ADDR: reason" and returns the error; *out, once set,
 * is the caller's to free either way. */
int wr_daemon_serve_http(const char *addr, const char *what, const char *event,
                         int (*routes)(void *arg, wr_http_server *srv),
                         void *arg, wr_http_server **out);

/* One listener of a daemon: the key that sets it and what it binds. */
typedef struct wr_daemon_listener {
	const char *key;  /* "jobmanager.rpc" */
	const char *addr; /* "tcp://127.0.0.1:6123", "0.0.0.0:8081" */
} wr_daemon_listener;

/*
 * Logs one WARN (DAEMON-EXPOSED) naming the listeners that bind beyond
 * loopback when security.token_file is empty: whoever reaches them may
 * run jobs. Returns true when it warned.
 */
bool wr_daemon_warn_exposed(const wr_cluster_config *cfg,
                            const wr_daemon_listener *l, size_t n);

/*
 * Logs one WARN (DAEMON-ADVERTISE) naming the listeners bound to loopback
 * only while the advertised host adv (set by key adv_key) is not
 * loopback: other hosts are told addresses they cannot reach. Returns
 * true when it warned.
 */
bool wr_daemon_warn_unreachable(const char *adv_key, const char *adv,
                                const wr_daemon_listener *l, size_t n);

#endif
