/*
 * cli.h - the weir command-line client: the verb pattern and the pieces
 * the verbs share.
 *
 * Every verb is one cli_verb, defined next to its code: its name, its line
 * in `weir --help`, its usage (`weir VERB --help`), its flags and its
 * handler. verb.c lists them and parses every verb's flags the same way
 * (getopt_long, -h/--help, usage errors); call.c is the one path of a
 * JobManager request (connect, call, print as a table or as JSON, close)
 * and the one mapping of its errors to exit codes.
 *
 * Exit codes (SPEC): 0 ok, 1 operation failed, 2 usage error, 3 cannot reach
 * the JobManager.
 */
#ifndef CLI_H
#define CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cluster_config.h"
#include "wr_limits.h"

enum {
	CLI_OK = 0,
	CLI_FAILED = 1,
	CLI_USAGE = 2,
	CLI_UNREACHABLE = 3,
};

struct wr_buf;
struct wr_json;
struct wr_rpc_client;
typedef struct cli_verb cli_verb;

typedef struct cli_ctx {
	const char *jobmanager; /* --jobmanager, env WEIR_JOBMANAGER, default */
	const char *config;     /* --config FILE or NULL */
	const char *token_file; /* --token-file FILE or NULL */
	const char *tls_ca;     /* --tls-ca FILE or NULL (then the config's) */
	const char *tls_cert;   /* --tls-cert FILE or NULL */
	const char *tls_key;    /* --tls-key FILE or NULL */
	bool json;              /* -o json */
	bool version;           /* --version */
	const char *commit;     /* the git commit built from (main.c) */
	wr_cluster_config cfg;  /* loaded from --config (or defaults) + env */
	const cli_verb *verb;   /* the verb being run (its name in messages) */
} cli_ctx;

/* The JobManager the CLI asks when neither --jobmanager, WEIR_JOBMANAGER
 * nor --config names one (SPEC). */
#define CLI_DEFAULT_JOBMANAGER "tcp://127.0.0.1:6123"

/* ---- the program, before the verb (verb.c) ---- */

/*
 * weir: the global flags (before or after the verb), --version, `weir help
 * [VERB]` (= weir VERB --help), the cluster config and where the
 * JobManager is, then the verb. ctx holds commit and zeros. Returns the
 * exit code.
 */
int cli_main(cli_ctx *ctx, int argc, char **argv);

/*
 * Takes the global flags out of argv, wherever they stand: --jobmanager,
 * --config, --token-file, --tls-ca, --tls-cert, --tls-key, -o/--output
 * (each "FLAG V" or, but -o, "FLAG=V") and
 * --version, into ctx. Returns the new argc, or -1 after saying why (a
 * usage error).
 */
int cli_global_flags(cli_ctx *ctx, int argc, char **argv);

/*
 * The cluster token the CLI sends (docs/security.md): from --token-file,
 * else env WEIR_TOKEN_FILE, else the config's security.token_file; none
 * when all are empty. Returns CLI_OK or, after saying why (the file
 * missing, unreadable or empty), CLI_USAGE.
 */
int cli_load_token(const cli_ctx *ctx);

/*
 * The CLI's TLS (docs/security.md): --tls-ca, --tls-cert and --tls-key,
 * each else the config's security.tls.* (env WEIR_SECURITY_TLS_*). With
 * any set, the CLI dials tls+tcp:// (a tcp:// address is upgraded).
 * Returns CLI_OK or, after saying why, CLI_USAGE.
 */
int cli_load_tls(const cli_ctx *ctx);

/* The token file cli_load_token reads, "" for none. */
const char *cli_token_path(const cli_ctx *ctx);

/* `weir --help`. */
void cli_usage(FILE *f);

/* ---- flags and verbs (verb.c) ---- */

/* How the shared parser reads a flag into the verb's options. */
typedef enum cli_flag_kind {
	CLI_FLAG_BOOL, /* no value; sets a bool */
	CLI_FLAG_STR,  /* a const char *, borrowed from argv */
	CLI_FLAG_INT,  /* an int64_t in [min, max] */
	CLI_FLAG_FN,   /* read by the flag's parse function */
} cli_flag_kind;

typedef struct cli_flag {
	const char *name; /* --name (getopt_long: any unique prefix) */
	char short_name;  /* -c as well, or 0 */
	cli_flag_kind kind;
	size_t offset;    /* of its field in the verb's options */
	int64_t min, max; /* CLI_FLAG_INT */
	/* CLI_FLAG_FN: reads arg into field; false after saying why on
	 * stderr (a message, or the verb's usage): a usage error. */
	bool (*parse)(const cli_verb *v, const char *arg, void *field);
} cli_flag;

/*
 * Rows of a verb's flag table, which ends with CLI_FLAGS_END: CLI_FLAG for
 * a CLI_FLAG_BOOL or CLI_FLAG_STR, CLI_FLAG_RANGE for an integer in
 * [lo, hi] ("weir VERB: -p takes 1 .. 1024, not '0'"), CLI_FLAG_PARSE for
 * a value its function reads. c is the short form, or 0.
 */
/* clang-format off */
#define CLI_FLAG(name_, c, kind_, type, field)                                 \
	{.name = (name_), .short_name = (c), .kind = (kind_),                  \
	 .offset = offsetof(type, field)}
#define CLI_FLAG_RANGE(name_, c, type, field, lo, hi)                          \
	{.name = (name_), .short_name = (c), .kind = CLI_FLAG_INT,             \
	 .offset = offsetof(type, field), .min = (lo), .max = (hi)}
#define CLI_FLAG_PARSE(name_, c, type, field, fn)                              \
	{.name = (name_), .short_name = (c), .kind = CLI_FLAG_FN,              \
	 .offset = offsetof(type, field), .parse = (fn)}
#define CLI_FLAGS_END {.name = NULL}
/* clang-format on */

/*
 * One request to the JobManager and what to do with its reply: the
 * verb's part of cli_call (call.c). arg is the verb's: its request in, the
 * reply out.
 */
typedef struct cli_request {
	/* Makes the call: WR_OK, or the error of the RPC with the
	 * JobManager's message in errbuf. */
	int (*call)(struct wr_rpc_client *cli, int timeout_ms, void *arg,
	            char *errbuf, size_t errlen);
	/* Print the reply (stdout) as a table / as JSON (-o json); NULL:
	 * nothing to print. */
	void (*print_table)(const void *arg);
	void (*print_json)(const void *arg);
	/* After printing, on the same connection: the rest of the verb (run
	 * stays attached, savepoint waits); its exit code. NULL: none. */
	int (*then)(cli_ctx *ctx, struct wr_rpc_client *cli, void *arg);
	/* Frees the reply after a successful call; NULL: nothing to free. */
	void (*fini)(void *arg);
} cli_request;

/* A verb with any number of positional arguments (its args hook checks). */
#define CLI_ARGS_ANY (-1)

struct cli_verb {
	const char *name;
	const char *summary;    /* its line in `weir --help` */
	void (*usage)(FILE *f); /* `weir VERB --help` */
	/* Printed after every usage error instead of the usage; NULL: the
	 * usage is printed where nothing else said what was wrong. */
	const char *hint;
	const cli_flag *flags;  /* ends with CLI_FLAGS_END; NULL = none */
	int min_args, max_args; /* positional; max CLI_ARGS_ANY = unbounded */
	/* The verb's options, read from its flags and arguments (and what its
	 * run keeps with them, such as a request's reply); 0 = none. */
	size_t opts_bytes;
	const void *defaults; /* their values before the flags; NULL = 0s */
	/* Reads the positional arguments into opts; false after saying why
	 * (a usage error). NULL: the verb takes none of interest. */
	bool (*args)(const cli_verb *v, void *opts, int argc, char **argv);
	/* Runs the verb with its options; the exit code. */
	int (*run)(cli_ctx *ctx, void *opts);
	/* Or, without run, a verb that is one request to the JobManager:
	 * cli_call of it with the options as its arg. */
	cli_request request;
	/* Instead of all the above but name and summary: a verb that reads its
	 * own argv (argv[0] its name; weir local). */
	int (*run_argv)(cli_ctx *ctx, int argc, char **argv);
};

/* The verbs, each defined in its own file. */
extern const cli_verb cli_local_verb, cli_run_verb, cli_list_verb,
    cli_info_verb, cli_cancel_verb, cli_savepoint_verb, cli_stop_verb,
    cli_checkpoints_verb, cli_cluster_verb, cli_produce_verb, cli_consume_verb,
    cli_gen_verb, cli_topic_verb, cli_validate_verb, cli_upgrade_verb,
    cli_apply_verb;

/* The verb called name, or NULL. */
const cli_verb *cli_verb_find(const char *name);

/* Prints "  NAME  SUMMARY" for every verb, as `weir --help` lists them. */
void cli_verb_list_all(FILE *f);

/*
 * Runs a verb: argv[0] is its name, the rest its flags and arguments.
 * Parses them into the verb's options (--help prints the usage to stdout
 * and returns CLI_OK; a usage error is printed and returns CLI_USAGE),
 * then runs it. Sets ctx->verb. Returns the exit code.
 */
int cli_verb_dispatch(cli_ctx *ctx, const cli_verb *v, int argc, char **argv);

/* What cli_verb_parse says besides CLI_OK and CLI_USAGE. */
#define CLI_HELP (-1)

/*
 * The shared flag parser: reads argv (argv[0] the verb) into opts (which
 * holds the defaults) by v->flags, then checks and reads the positional
 * arguments. Returns CLI_OK, CLI_USAGE (why printed on stderr) or CLI_HELP
 * (the usage printed on stdout). Uses getopt_long's global state.
 */
int cli_verb_parse(const cli_verb *v, void *opts, int argc, char **argv);

/* ---- the JobManager (call.c) ---- */

/*
 * Connects to the JobManager, makes r's call, prints the reply as a table
 * or as JSON, runs r->then, closes. Returns CLI_OK or then's exit code;
 * CLI_UNREACHABLE or CLI_FAILED with the reason printed ("weir VERB: ...").
 */
int cli_call(cli_ctx *ctx, const cli_request *r, void *arg);

/* Connects to the JobManager (--jobmanager). Given several addresses
 * (A,B,C; a bare host:port means tcp://host:port) it asks each which one
 * leads and dials the leader: the one answering role leader, else the
 * leader a standby names. On failure prints why and returns
 * CLI_UNREACHABLE; *out is NULL then. */
int cli_connect(cli_ctx *ctx, struct wr_rpc_client **out);

/* A JobManager given to the CLI and the role it answered with
 * ("leader", "standby", "unreachable"; "" when it was not asked). */
typedef struct cli_jm {
	char address[WR_ADDR_BYTES];
	char role[16];
} cli_jm;

/* The JobManagers cli_connect saw, in the order given. */
size_t cli_jobmanagers(const cli_jm **v);

/* The exit code of a failed RPC, printing "weir VERB: ...": the JobManager
 * did not answer (CLI_UNREACHABLE) or refused (CLI_FAILED, its message). */
int cli_rpc_failed(const char *verb, const char *addr, int rv,
                   const char *errbuf);

/* Whether a failed RPC may be the JobManager being briefly busy or
 * reconnecting, worth asking again (timeouts, refused or lost
 * connections); these are the errors that exit CLI_UNREACHABLE. */
bool cli_rpc_transient(int rv);

/* -o json: errors are {"error": "..."} lines on stderr (set with the
 * flag by cli_global_flags). */
extern bool cli_json_errors;

/* An error on stderr: "weir VERB: MESSAGE" (verb NULL: "weir: MESSAGE"),
 * or under -o json {"error": "MESSAGE"}. The exit code is the caller's. */
void cli_error(const char *verb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An error that names its place itself (FILE:LINE:COL: ...): as it is,
 * or under -o json {"error": "..."}. */
void cli_error_bare(const char *msg);

/* Where a verb's progress messages go: stdout, or stderr under -o json so
 * that stdout holds only the JSON. */
FILE *cli_msg(const cli_ctx *ctx);

/* One line of JSON on stdout: cli_json_begin readies b and j for a value,
 * cli_json_end prints it with a newline and frees b. */
void cli_json_begin(struct wr_buf *b, struct wr_json *j);
void cli_json_end(struct wr_buf *b);

/* Prints {"key":"value"} as a line on stdout. */
void cli_json_print_str(const char *key, const char *value);

/* ---- progress of long verbs (progress.c) ---- */

/* Longest progress line, NUL included. */
#define CLI_PROGRESS_LINE_BYTES 256

/*
 * Progress on stderr while a verb works (savepoint, stop, gen). On a
 * terminal (stderr a tty) one line is rewritten in place (\r) five times
 * a second; otherwise plain lines: one when something changed (at most one
 * per plain_ms), and one every 10 s when nothing did. Under -o json
 * nothing: stdout holds the JSON and stderr only an error.
 */
typedef struct cli_progress {
	bool off;         /* -o json */
	bool tty;         /* stderr is a terminal */
	bool changed;     /* since the last line printed */
	int64_t start_ms; /* monotonic, at cli_progress_init */
	int64_t last_ms;  /* monotonic, the last line; 0 = none yet */
	int64_t plain_ms; /* the least time between two plain lines */
	size_t width;     /* of the terminal's line */
	uint64_t lines;   /* printed so far */
} cli_progress;

void cli_progress_init(cli_progress *p, const cli_ctx *ctx, int64_t plain_ms);

/* Shows the progress fmt says when it is due; changed: it differs from
 * what was last shown (plain lines only print a change, and the time
 * passing); force: now (the final state). */
void cli_progress_show(cli_progress *p, bool changed, bool force,
                       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Ends the terminal's line, before other output. */
void cli_progress_done(cli_progress *p);

/* Ends an open terminal line, if any (cli_error calls it: an error
 * starts on a line of its own). */
void cli_progress_break(void);

/* Since cli_progress_init. */
int64_t cli_progress_elapsed_ms(const cli_progress *p);

/* "4.2s", "3m05s", "2h10m". */
void cli_format_elapsed(int64_t ms, char *out, size_t outlen);

/* "512 B", "12.3 KiB", "4.0 MiB" ... */
void cli_format_bytes(uint64_t bytes, char *out, size_t outlen);

/* ---- pieces of several verbs ---- */

/* The Kafka bootstrap to use: --bootstrap, else kafka.bootstrap of the
 * config (env WEIR_KAFKA_BOOTSTRAP overrides it). */
const char *cli_bootstrap(cli_ctx *ctx, const char *flag);

/*
 * Copies a job id given on the command line into out (lowercase, as the
 * JobManager makes them). Returns false, with the reason printed as
 * "weir VERB: ...", when it is not 32 hex characters: no JobManager could
 * know it (a usage error).
 */
bool cli_job_id_arg(const char *verb, const char *arg, char out[WR_ID_BYTES]);

/* The options of the verbs that take one job id (info, cancel,
 * checkpoints), read by cli_job_id_args. */
typedef struct cli_job_opts {
	char id[WR_ID_BYTES];
} cli_job_opts;

/* The args hook of those verbs: opts is (or begins with) a cli_job_opts. */
bool cli_job_id_args(const cli_verb *v, void *opts, int argc, char **argv);

/* The args hook of a verb whose one argument is a string (a file, a
 * topic): opts begins with the const char * it goes into. */
bool cli_verb_arg_str(const cli_verb *v, void *opts, int argc, char **argv);

/* A savepoint directory (DIR, --savepoint-dir) as the JobManager should
 * see it: a file:// or s3:// URL as given, a local path made absolute.
 * false, with the reason printed, when it is neither (ckpt.c). */
bool cli_sp_dir(const char *verb, const char *arg, char *out, size_t outlen);

/* FINISHED, FAILED or CANCELED: the job will not change any more. */
bool cli_job_state_terminal(const char *state);

/* Default directory of `weir local` (and where `weir topic` looks for it). */
const char *cli_local_default_dir(void);

#endif
