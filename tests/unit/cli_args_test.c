/*
 * cli_args_test.c - the CLI's verb pattern without a cluster: the shared
 * flag parser (every kind of flag, --help, usage errors and what each
 * prints), the verb table, dispatch of real verbs up to where they would
 * need a JobManager or Kafka, the mapping of RPC errors to exit codes and
 * messages, the global flags, --version, `weir help VERB`, Flink's flag
 * spellings and errors as JSON under -o json.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"
#include "err.h"
#include "jobspec.h"

/* ---- capturing what a verb prints -------------------------------------- */

typedef struct capture {
	FILE *out, *err;
	int saved_out, saved_err;
	char out_text[8192], err_text[8192];
} capture;

static void
capture_begin(capture *c)
{
	fflush(stdout);
	fflush(stderr);
	c->out = tmpfile();
	c->err = tmpfile();
	assert_non_null(c->out);
	assert_non_null(c->err);
	c->saved_out = dup(STDOUT_FILENO);
	c->saved_err = dup(STDERR_FILENO);
	dup2(fileno(c->out), STDOUT_FILENO);
	dup2(fileno(c->err), STDERR_FILENO);
}

static void
capture_read(FILE *f, char *text, size_t len)
{
	rewind(f);
	size_t n = fread(text, 1, len - 1, f);
	text[n] = '\0';
	fclose(f);
}

static void
capture_end(capture *c)
{
	fflush(stdout);
	fflush(stderr);
	dup2(c->saved_out, STDOUT_FILENO);
	dup2(c->saved_err, STDERR_FILENO);
	close(c->saved_out);
	close(c->saved_err);
	capture_read(c->out, c->out_text, sizeof(c->out_text));
	capture_read(c->err, c->err_text, sizeof(c->err_text));
}

/* ---- a verb with one flag of every kind -------------------------------- */

typedef struct test_opts {
	const char *first; /* cli_verb_arg_str */
	bool yes;
	const char *str;
	int64_t num, big;
	int fn_value;
} test_opts;

static int test_fn_calls;

/* --fn VALUE: "ok" or "usage" (which prints the usage itself); anything
 * else is refused with a message. */
static bool
test_fn(const cli_verb *v, const char *arg, void *field)
{
	test_fn_calls++;
	if (strcmp(arg, "ok") == 0) {
		*(int *)field = 7;
		return true;
	}
	if (strcmp(arg, "usage") == 0)
		v->usage(stderr);
	else
		fprintf(stderr, "weir %s: --fn refuses '%s'\n", v->name, arg);
	return false;
}

static void
test_usage(FILE *f)
{
	fprintf(f, "usage: weir t [flags] ARG...\n");
}

static const cli_flag test_flags[] = {
    CLI_FLAG("yes", 'y', CLI_FLAG_BOOL, test_opts, yes),
    CLI_FLAG("str", 's', CLI_FLAG_STR, test_opts, str),
    CLI_FLAG_RANGE("num", 'n', test_opts, num, 1, 10),
    CLI_FLAG_RANGE("big", 0, test_opts, big, -5, 5),
    CLI_FLAG_PARSE("fn", 0, test_opts, fn_value, test_fn),
    CLI_FLAGS_END,
};

static const cli_verb test_verb = {
    .name = "t",
    .usage = test_usage,
    .flags = test_flags,
    .min_args = 1,
    .max_args = 2,
    .opts_bytes = sizeof(test_opts),
    .args = cli_verb_arg_str,
};

/* Parses a NULL-terminated argument list into *o (zeroed first) and
 * captures what the parser printed. */
static int
parse(const cli_verb *v, test_opts *o, capture *c, ...)
{
	char *argv[32];
	int argc = 0;
	va_list ap;

	va_start(ap, c);
	for (char *a; (a = va_arg(ap, char *)) != NULL; argc++) {
		assert_true(argc < 31);
		argv[argc] = a;
	}
	va_end(ap);
	argv[argc] = NULL;
	memset(o, 0, sizeof(*o));
	capture_begin(c);
	int rc = cli_verb_parse(v, o, argc, argv);
	capture_end(c);
	return rc;
}

static void
test_parse_every_kind(void **state)
{
	test_opts o;
	capture c;

	(void)state;
	assert_int_equal(parse(&test_verb, &o, &c, "t", "-y", "--str", "hello",
	                       "-n", "3", "--big=-5", "--fn", "ok", "a", NULL),
	                 CLI_OK);
	assert_true(o.yes);
	assert_string_equal(o.str, "hello");
	assert_int_equal(o.num, 3);
	assert_int_equal(o.big, -5);
	assert_int_equal(o.fn_value, 7);
	assert_string_equal(o.first, "a");
	assert_string_equal(c.out_text, "");
	assert_string_equal(c.err_text, "");

	/* Short flags clustered and glued, long ones abbreviated, flags
	 * after the arguments (GNU permutation), "--" ending the flags. */
	assert_int_equal(parse(&test_verb, &o, &c, "t", "a", "-yn4", "--st",
	                       "x", "--", "-b", NULL),
	                 CLI_OK);
	assert_true(o.yes);
	assert_int_equal(o.num, 4);
	assert_string_equal(o.str, "x");
	assert_string_equal(o.first, "a");
}

static void
test_parse_help(void **state)
{
	test_opts o;
	capture c;

	(void)state;
	assert_int_equal(parse(&test_verb, &o, &c, "t", "--help", NULL),
	                 CLI_HELP);
	assert_string_equal(c.out_text, "usage: weir t [flags] ARG...\n");
	assert_string_equal(c.err_text, "");
	/* -h, and a unique prefix; --help wins over missing arguments but
	 * not over a bad flag before it. */
	assert_int_equal(parse(&test_verb, &o, &c, "t", "-h", NULL), CLI_HELP);
	assert_int_equal(parse(&test_verb, &o, &c, "t", "--he", NULL),
	                 CLI_HELP);
	assert_int_equal(
	    parse(&test_verb, &o, &c, "t", "--bogus", "--help", NULL),
	    CLI_USAGE);
	assert_string_equal(c.out_text, "");
}

static void
test_parse_usage_errors(void **state)
{
	test_opts o;
	capture c;

	(void)state;
	/* Unknown flag: getopt names it, then the usage. */
	assert_int_equal(parse(&test_verb, &o, &c, "t", "--bogus", "a", NULL),
	                 CLI_USAGE);
	assert_non_null(strstr(c.err_text, "unrecognized option '--bogus'"));
	assert_non_null(strstr(c.err_text, "usage: weir t"));
	/* A missing value. */
	assert_int_equal(parse(&test_verb, &o, &c, "t", "a", "-s", NULL),
	                 CLI_USAGE);
	assert_non_null(strstr(c.err_text, "requires an argument"));
	/* Too few and too many arguments: the usage alone. */
	assert_int_equal(parse(&test_verb, &o, &c, "t", NULL), CLI_USAGE);
	assert_string_equal(c.err_text, "usage: weir t [flags] ARG...\n");
	assert_int_equal(parse(&test_verb, &o, &c, "t", "a", "b", "c", NULL),
	                 CLI_USAGE);
	assert_string_equal(c.err_text, "usage: weir t [flags] ARG...\n");
}

static void
test_parse_bad_values(void **state)
{
	test_opts o;
	capture c;

	(void)state;
	/* A range names the flag by its short form where it has one, and
	 * does not print the usage. */
	assert_int_equal(parse(&test_verb, &o, &c, "t", "-n", "0", "a", NULL),
	                 CLI_USAGE);
	assert_string_equal(c.err_text, "weir t: -n takes 1 .. 10, not '0'\n");
	assert_int_equal(
	    parse(&test_verb, &o, &c, "t", "--big", "6", "a", NULL), CLI_USAGE);
	assert_string_equal(c.err_text,
	                    "weir t: --big takes -5 .. 5, not '6'\n");
	assert_int_equal(
	    parse(&test_verb, &o, &c, "t", "--num", "x", "a", NULL), CLI_USAGE);
	assert_string_equal(c.err_text, "weir t: -n takes 1 .. 10, not 'x'\n");
	/* A parse function says why itself; the first bad flag stops. */
	test_fn_calls = 0;
	assert_int_equal(parse(&test_verb, &o, &c, "t", "--fn", "no", "--fn",
	                       "no", "a", NULL),
	                 CLI_USAGE);
	assert_int_equal(test_fn_calls, 1);
	assert_string_equal(c.err_text, "weir t: --fn refuses 'no'\n");
	assert_int_equal(
	    parse(&test_verb, &o, &c, "t", "--fn", "usage", "a", NULL),
	    CLI_USAGE);
	assert_string_equal(c.err_text, "usage: weir t [flags] ARG...\n");
}

static void
test_parse_hint(void **state)
{
	cli_verb v = test_verb;
	test_opts o;
	capture c;

	(void)state;
	v.hint = "(see weir t --help)\n";
	/* A verb with a hint prints it after every usage error, in place
	 * of the usage. */
	assert_int_equal(parse(&v, &o, &c, "t", NULL), CLI_USAGE);
	assert_string_equal(c.err_text, "(see weir t --help)\n");
	assert_int_equal(parse(&v, &o, &c, "t", "-n", "0", "a", NULL),
	                 CLI_USAGE);
	assert_string_equal(c.err_text, "weir t: -n takes 1 .. 10, not '0'\n"
	                                "(see weir t --help)\n");
	assert_int_equal(parse(&v, &o, &c, "t", "--bogus", "a", NULL),
	                 CLI_USAGE);
	assert_null(strstr(c.err_text, "usage:"));
	assert_non_null(strstr(c.err_text, "(see weir t --help)\n"));
}

/* ---- the verb table and real verbs ------------------------------------- */

static const char *const all_verbs[] = {
    "local",     "run",  "list",        "info",     "cancel",
    "savepoint", "stop", "checkpoints", "cluster",  "produce",
    "consume",   "gen",  "topic",       "validate",
};

static void
test_table(void **state)
{
	capture c;

	(void)state;
	assert_null(cli_verb_find("nope"));
	capture_begin(&c);
	cli_verb_list_all(stdout);
	capture_end(&c);
	for (size_t i = 0; i < sizeof(all_verbs) / sizeof(all_verbs[0]); i++) {
		const cli_verb *v = cli_verb_find(all_verbs[i]);
		char line[64];
		assert_non_null(v);
		assert_string_equal(v->name, all_verbs[i]);
		assert_non_null(v->summary);
		/* A verb either reads its own argv or has a usage and a
		 * handler: run, or a JobManager request. */
		if (v->run_argv == NULL) {
			assert_non_null(v->usage);
			assert_true(v->run != NULL || v->request.call != NULL);
		}
		snprintf(line, sizeof(line), "  %-12s %s", v->name, v->summary);
		assert_non_null(strstr(c.out_text, line));
	}
}

/* Runs a real verb as `weir ARGS...` would, up to its exit code. */
static int
dispatch(capture *c, const char *jobmanager, ...)
{
	char *argv[32];
	char err[512];
	int argc = 0;
	cli_ctx ctx = {.jobmanager = jobmanager};
	va_list ap;

	va_start(ap, jobmanager);
	for (char *a; (a = va_arg(ap, char *)) != NULL; argc++)
		argv[argc] = a;
	va_end(ap);
	argv[argc] = NULL;
	assert_int_equal(
	    wr_cluster_config_load(&ctx.cfg, NULL, err, sizeof(err)), WR_OK);
	const cli_verb *v = cli_verb_find(argv[0]);
	assert_non_null(v);
	capture_begin(c);
	int rc = cli_verb_dispatch(&ctx, v, argc, argv);
	capture_end(c);
	assert_ptr_equal(ctx.verb, v);
	wr_cluster_config_free(&ctx.cfg);
	return rc;
}

#define U "0123456789ABCDEF0123456789abcdef"

static void
test_dispatch_real_verbs(void **state)
{
	char want[256];
	capture c;

	(void)state;
	assert_int_equal(dispatch(&c, NULL, "list", "--help", NULL), CLI_OK);
	assert_non_null(strstr(c.out_text, "usage: weir list"));
	assert_int_equal(dispatch(&c, NULL, "info", "xyz", NULL), CLI_USAGE);
	assert_string_equal(c.err_text,
	                    "weir info: 'xyz' is not a job id (32 hex "
	                    "characters, see weir list)\n");
	assert_int_equal(dispatch(&c, NULL, "cancel", NULL), CLI_USAGE);
	assert_non_null(strstr(c.err_text, "usage: weir cancel"));
	assert_int_equal(dispatch(&c, NULL, "run", "-p", "0", "x.yaml", NULL),
	                 CLI_USAGE);
	snprintf(want, sizeof(want), "weir run: -p takes 1 .. %d, not '0'\n",
	         WR_JOB_MAX_PARALLELISM);
	assert_string_equal(c.err_text, want);
	assert_int_equal(dispatch(&c, NULL, "gen", "orders", NULL), CLI_USAGE);
	assert_string_equal(c.err_text,
	                    "weir gen: --topic, --rate and --count are "
	                    "required\n(weir gen --help shows the usage)\n");
	assert_int_equal(dispatch(&c, NULL, "savepoint", U, "http://x", NULL),
	                 CLI_USAGE);
	assert_non_null(
	    strstr(c.err_text, "'http://x': a savepoint directory"));
	assert_int_equal(dispatch(&c, NULL, "stop", U, "/dir", NULL),
	                 CLI_USAGE);
	assert_int_equal(
	    dispatch(&c, NULL, "consume", "t", "--from", "middle", NULL),
	    CLI_USAGE);
	assert_non_null(strstr(c.err_text, "usage: weir consume"));
	assert_int_equal(dispatch(&c, NULL, "topic", "frob", "t", NULL),
	                 CLI_USAGE);
	assert_non_null(strstr(c.err_text, "unknown command 'frob'"));
	assert_int_equal(
	    dispatch(&c, NULL, "validate", "/nonexistent.yaml", NULL),
	    CLI_FAILED);
	assert_non_null(strstr(c.err_text, "/nonexistent.yaml"));
}

/* Port 1 on loopback: nothing listens there, the dial is refused. */
static void
test_dispatch_unreachable(void **state)
{
	capture c;

	(void)state;
	assert_int_equal(dispatch(&c, "tcp://127.0.0.1:1", "list", NULL),
	                 CLI_UNREACHABLE);
	assert_string_equal(c.err_text, "weir list: no JobManager answers at "
	                                "tcp://127.0.0.1:1 (connection "
	                                "refused)\n");
	assert_string_equal(c.out_text, "");
	assert_int_equal(dispatch(&c, "tcp://127.0.0.1:1", "info", U, NULL),
	                 CLI_UNREACHABLE);
	/* .invalid never resolves (RFC 6761) */
	assert_int_equal(
	    dispatch(&c, "tcp://no-such-host.invalid:6123", "list", NULL),
	    CLI_UNREACHABLE);
	assert_non_null(strstr(c.err_text, "weir list: cannot resolve host "
	                                   "no-such-host.invalid ("));
}

/* Runs `weir ARGS...` through cli_main (global flags and all), commit
 * "abc123"; what it printed in c. */
static int
run_main(capture *c, ...)
{
	char *argv[32] = {"weir"};
	int argc = 1;
	cli_ctx ctx = {.commit = "abc123"};
	va_list ap;

	va_start(ap, c);
	for (char *a; (a = va_arg(ap, char *)) != NULL; argc++)
		argv[argc] = a;
	va_end(ap);
	argv[argc] = NULL;
	capture_begin(c);
	int rc = cli_main(&ctx, argc, argv);
	capture_end(c);
	cli_json_errors = false; /* as a new process starts */
	return rc;
}

static void
test_global_flags(void **state)
{
	char *argv[] = {"weir",     "--jobmanager", "h1:1,tcp://h2:2",
	                "list",     "-a",           "--config=x.yaml",
	                "-o",       "json",         "--version",
	                "--output", "table",        NULL};
	cli_ctx ctx = {0};

	(void)state;
	assert_int_equal(cli_global_flags(&ctx, 11, argv), 3);
	assert_string_equal(argv[1], "list");
	assert_string_equal(argv[2], "-a");
	assert_null(argv[3]);
	assert_string_equal(ctx.jobmanager, "h1:1,tcp://h2:2");
	assert_string_equal(ctx.config, "x.yaml");
	assert_true(ctx.version);
	assert_false(ctx.json); /* the last -o wins */
	capture c;
	assert_int_equal(run_main(&c, "list", "-o", "yaml", NULL), CLI_USAGE);
	assert_string_equal(c.err_text,
	                    "weir: -o takes table or json, not 'yaml'\n");
	assert_int_equal(run_main(&c, "list", "--jobmanager", NULL), CLI_USAGE);
	assert_string_equal(c.err_text, "weir: --jobmanager needs a value\n");
}

/* --token-file (or =FILE) anywhere; a file that cannot be read is a usage
 * error naming it, before anything is dialled. */
static void
test_token_file_flag(void **state)
{
	char *argv[] = {"weir", "list", "--token-file", "/t/a", NULL};
	char *argv2[] = {"weir", "--token-file=/t/b", "list", NULL};
	cli_ctx ctx = {0};
	(void)state;
	assert_int_equal(cli_global_flags(&ctx, 4, argv), 2);
	assert_string_equal(ctx.token_file, "/t/a");
	assert_int_equal(cli_global_flags(&ctx, 3, argv2), 2);
	assert_string_equal(ctx.token_file, "/t/b");
	capture c;
	assert_int_equal(run_main(&c, "list", "--token-file",
	                          "/nonexistent/weir-token", NULL),
	                 CLI_USAGE);
	assert_string_equal(c.err_text, "weir: token file "
	                                "/nonexistent/weir-token: no such "
	                                "file\n");
}

/* host:port as Flink takes it, alone or in a list: dialled as tcp://. */
static void
test_jobmanager_host_port(void **state)
{
	capture c;

	(void)state;
	assert_int_equal(
	    run_main(&c, "--jobmanager", "127.0.0.1:1", "list", NULL),
	    CLI_UNREACHABLE);
	assert_non_null(strstr(c.err_text,
	                       "no JobManager answers at tcp://127.0.0.1:1 "
	                       "(connection refused)"));
	assert_int_equal(run_main(&c, "--jobmanager",
	                          "127.0.0.1:1, tcp://127.0.0.1:1", "list",
	                          NULL),
	                 CLI_UNREACHABLE);
	assert_non_null(strstr(c.err_text, "at tcp://127.0.0.1:1 (connection "
	                                   "refused)"));
}

static void
test_version_and_help(void **state)
{
	capture c;
	char want[128];

	(void)state;
	assert_int_equal(run_main(&c, "--version", NULL), CLI_OK);
	snprintf(want, sizeof(want), "weir %s (commit abc123)\n", WEIR_VERSION);
	assert_string_equal(c.out_text, want);
	assert_int_equal(run_main(&c, "-o", "json", "--version", NULL), CLI_OK);
	snprintf(want, sizeof(want),
	         "{\"version\":\"%s\",\"commit\":\"abc123\"}\n", WEIR_VERSION);
	assert_string_equal(c.out_text, want);
	/* weir help VERB is weir VERB --help, for every verb */
	for (const char *const *n =
	         (const char *const[]){"local", "run", "stop", "topic", NULL};
	     *n != NULL; n++) {
		char help[8192];
		assert_int_equal(run_main(&c, "help", *n, NULL), CLI_OK);
		snprintf(help, sizeof(help), "%s", c.out_text);
		assert_non_null(strstr(help, "usage: weir "));
		assert_int_equal(run_main(&c, *n, "--help", NULL), CLI_OK);
		assert_string_equal(c.out_text, help);
	}
	assert_int_equal(run_main(&c, "help", NULL), CLI_OK);
	assert_non_null(strstr(c.out_text, "weir help VERB"));
	assert_int_equal(run_main(&c, "help", "nope", NULL), CLI_USAGE);
	assert_string_equal(c.err_text,
	                    "weir: unknown verb 'nope' (see weir --help)\n");
}

/* Flink's spellings parse: the verbs get as far as the JobManager (or the
 * job file), not a usage error. */
static void
test_flink_aliases(void **state)
{
	capture c;

	(void)state;
	assert_int_equal(dispatch(&c, "tcp://127.0.0.1:1", "stop", U, "-p",
	                          "/sp", "-d", NULL),
	                 CLI_UNREACHABLE);
	assert_int_equal(dispatch(&c, "tcp://127.0.0.1:1", "stop", U,
	                          "--savepointPath", "/sp", "--drain", NULL),
	                 CLI_UNREACHABLE);
	assert_int_equal(dispatch(&c, NULL, "run", "-s", "/sp",
	                          "--fromSavepoint", "/sp",
	                          "--allowNonRestoredState", "-n",
	                          "/nonexistent.yaml", NULL),
	                 CLI_FAILED);
	assert_non_null(strstr(c.err_text, "/nonexistent.yaml"));
	assert_int_equal(dispatch(&c, NULL, "stop", U, "-p", NULL), CLI_USAGE);
}

/* -o json: every error is one {"error": ...} line on stderr, the exit
 * codes as without it. */
static void
test_json_errors(void **state)
{
	capture c;

	(void)state;
	assert_int_equal(run_main(&c, "-o", "json", "info", "xyz", NULL),
	                 CLI_USAGE);
	assert_string_equal(c.err_text,
	                    "{\"error\":\"'xyz' is not a job id (32 hex "
	                    "characters, see weir list)\"}\n");
	assert_int_equal(run_main(&c, "list", "--bogus", "-o", "json", NULL),
	                 CLI_USAGE);
	assert_string_equal(c.err_text, "{\"error\":\"unknown flag or "
	                                "missing value: --bogus (see weir "
	                                "list --help)\"}\n");
	assert_int_equal(run_main(&c, "-o", "json", "cancel", NULL), CLI_USAGE);
	assert_string_equal(c.err_text, "{\"error\":\"missing arguments (see "
	                                "weir cancel --help)\"}\n");
	assert_int_equal(run_main(&c, "-o", "json", "--jobmanager",
	                          "127.0.0.1:1", "list", NULL),
	                 CLI_UNREACHABLE);
	assert_string_equal(c.err_text, "{\"error\":\"no JobManager answers "
	                                "at tcp://127.0.0.1:1 (connection "
	                                "refused)\"}\n");
	assert_string_equal(c.out_text, "");
	assert_int_equal(run_main(&c, "-o", "json", "nope", NULL), CLI_USAGE);
	assert_string_equal(c.err_text, "{\"error\":\"unknown verb 'nope' "
	                                "(see weir --help)\"}\n");
}

static void
test_rpc_exit_codes(void **state)
{
	static const int silent[] = {WR_ETIMEDOUT, WR_ECLOSED, WR_EUNREACHABLE,
	                             WR_ECONNREFUSED};
	char want[256];
	capture c;

	(void)state;
	for (size_t i = 0; i < sizeof(silent) / sizeof(silent[0]); i++) {
		assert_true(cli_rpc_transient(silent[i]));
		capture_begin(&c);
		int rc = cli_rpc_failed("v", "tcp://jm", silent[i], "");
		capture_end(&c);
		assert_int_equal(rc, CLI_UNREACHABLE);
		snprintf(want, sizeof(want),
		         "weir v: the JobManager at tcp://jm did not answer: "
		         "%s\n",
		         wr_strerror(silent[i]));
		assert_string_equal(c.err_text, want);
	}
	assert_false(cli_rpc_transient(WR_ENOENT));
	capture_begin(&c);
	int rc = cli_rpc_failed("v", "tcp://jm", WR_ENOENT, "no job X");
	capture_end(&c);
	assert_int_equal(rc, CLI_FAILED);
	snprintf(want, sizeof(want), "weir v: %s: no job X\n",
	         wr_strerror(WR_ENOENT));
	assert_string_equal(c.err_text, want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_every_kind),
	    cmocka_unit_test(test_parse_help),
	    cmocka_unit_test(test_parse_usage_errors),
	    cmocka_unit_test(test_parse_bad_values),
	    cmocka_unit_test(test_parse_hint),
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_dispatch_real_verbs),
	    cmocka_unit_test(test_dispatch_unreachable),
	    cmocka_unit_test(test_rpc_exit_codes),
	    cmocka_unit_test(test_global_flags),
	    cmocka_unit_test(test_token_file_flag),
	    cmocka_unit_test(test_jobmanager_host_port),
	    cmocka_unit_test(test_version_and_help),
	    cmocka_unit_test(test_flink_aliases),
	    cmocka_unit_test(test_json_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
