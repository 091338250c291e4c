/*
 * verb.c - the verb table and the one way every verb reads its flags:
 * getopt_long over the verb's flag table, -h/--help, the usage on a usage
 * error, then the verb's handler with its options; before it, the global
 * flags, --version and `weir help VERB` (cli_main).
 */
#include "cli.h"

#include "auth.h"
#include "buf.h"
#include "err.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "parse.h"
#include "tls.h"
#include "wr_assert.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* The verbs in the order `weir --help` lists them. */
static const cli_verb *const cli_verbs[] = {
    &cli_local_verb,   &cli_run_verb,         &cli_list_verb,
    &cli_info_verb,    &cli_cancel_verb,      &cli_savepoint_verb,
    &cli_stop_verb,    &cli_checkpoints_verb, &cli_cluster_verb,
    &cli_produce_verb, &cli_consume_verb,     &cli_gen_verb,
    &cli_topic_verb,   &cli_validate_verb,    &cli_upgrade_verb,
    &cli_apply_verb,
};

/* getopt_long's value for a flag without a short name: above any char,
 * plus the flag's index. */
#define CLI_FLAG_LONG_ONLY 256

const cli_verb *
cli_verb_find(const char *name)
{
	for (size_t i = 0; i < sizeof(cli_verbs) / sizeof(cli_verbs[0]); i++)
		if (strcmp(name, cli_verbs[i]->name) == 0)
			return cli_verbs[i];
	return NULL;
}

void
cli_verb_list_all(FILE *f)
{
	for (size_t i = 0; i < sizeof(cli_verbs) / sizeof(cli_verbs[0]); i++)
		fprintf(f, "  %-12s %s\n", cli_verbs[i]->name,
		        cli_verbs[i]->summary);
}

/* getopt_long's tables for v: its flags in their order, then --help (the
 * order of the long options is the order getopt lists them in when a
 * prefix is ambiguous). */
static void
cli_verb_getopt(const cli_verb *v, struct option *lopts, char *shorts)
{
	int n = 0;

	*shorts++ = 'h';
	for (const cli_flag *f = v->flags; f != NULL && f->name != NULL;
	     f++, n++) {
		WR_ASSERT(n < CLI_VERB_MAX_FLAGS);
		int has_arg =
		    f->kind == CLI_FLAG_BOOL ? no_argument : required_argument;
		lopts[n] = (struct option){
		    f->name, has_arg, NULL,
		    f->short_name ? f->short_name : CLI_FLAG_LONG_ONLY + n};
		if (f->short_name) {
			*shorts++ = f->short_name;
			if (has_arg == required_argument)
				*shorts++ = ':';
		}
	}
	lopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	lopts[n] = (struct option){NULL, 0, NULL, 0};
	*shorts = '\0';
}

/* The flag getopt_long returned c for, or NULL ('?': not one of v's). */
static const cli_flag *
cli_verb_flag(const cli_verb *v, int c)
{
	if (c >= CLI_FLAG_LONG_ONLY)
		return &v->flags[c - CLI_FLAG_LONG_ONLY];
	for (const cli_flag *f = v->flags; f != NULL && f->name != NULL; f++)
		if (f->short_name == c)
			return f;
	return NULL;
}

/* A CLI_FLAG_INT value; the message names the flag as it is best known:
 * "-p", or "--rate" where there is no short form. */
static bool
cli_flag_int(const cli_verb *v, const cli_flag *f, const char *arg,
             int64_t *out)
{
	char flag[64];
	int64_t x;

	if (wr_parse_int64(arg, &x) == WR_OK && x >= f->min && x <= f->max) {
		*out = x;
		return true;
	}
	if (f->short_name)
		snprintf(flag, sizeof(flag), "-%c", f->short_name);
	else
		snprintf(flag, sizeof(flag), "--%s", f->name);
	cli_error(v->name, "%s takes %" PRId64 " .. %" PRId64 ", not '%s'",
	          flag, f->min, f->max, arg);
	return false;
}

/* Stores one flag's value into its field; false after saying why. */
static bool
cli_flag_set(const cli_verb *v, const cli_flag *f, const char *arg, void *field)
{
	switch (f->kind) {
	case CLI_FLAG_BOOL:
		*(bool *)field = true;
		return true;
	case CLI_FLAG_STR:
		*(const char **)field = arg;
		return true;
	case CLI_FLAG_INT:
		return cli_flag_int(v, f, arg, field);
	case CLI_FLAG_FN:
		return f->parse(v, arg, field);
	}
	return false;
}

/* A usage error: the verb's hint, else its usage where nothing else said
 * what was wrong (getopt's own message names a bad flag but not the
 * verb's usage). */
static int
cli_verb_usage_error(const cli_verb *v, bool show_usage)
{
	if (cli_json_errors) /* one JSON line, not a usage text */
		return CLI_USAGE;
	if (v->hint != NULL)
		fputs(v->hint, stderr);
	else if (show_usage)
		v->usage(stderr);
	return CLI_USAGE;
}

int
cli_verb_parse(const cli_verb *v, void *opts, int argc, char **argv)
{
	struct option lopts[CLI_VERB_MAX_FLAGS + 2];
	char shorts[2 * CLI_VERB_MAX_FLAGS + 2];
	int c;

	cli_verb_getopt(v, lopts, shorts);
	optind = 0; /* glibc: a fresh scan, whatever was parsed before */
	opterr = !cli_json_errors; /* getopt's own message is plain text */
	while ((c = getopt_long(argc, argv, shorts, lopts, NULL)) != -1) {
		if (c == 'h') {
			v->usage(stdout);
			return CLI_HELP;
		}
		const cli_flag *f = cli_verb_flag(v, c);
		if (f == NULL && cli_json_errors)
			cli_error(v->name,
			          "unknown flag or missing value: %s (see weir "
			          "%s --help)",
			          argv[optind - 1], v->name);
		if (f == NULL)
			return cli_verb_usage_error(v, true);
		if (!cli_flag_set(v, f, optarg, (char *)opts + f->offset))
			return cli_verb_usage_error(v, false);
	}
	int n = argc - optind;
	if (n < v->min_args ||
	    (v->max_args != CLI_ARGS_ANY && n > v->max_args)) {
		if (cli_json_errors)
			cli_error(v->name, "%s arguments (see weir %s --help)",
			          n < v->min_args ? "missing" : "too many",
			          v->name);
		return cli_verb_usage_error(v, true);
	}
	if (v->args != NULL && !v->args(v, opts, n, argv + optind))
		return cli_verb_usage_error(v, false);
	return CLI_OK;
}

bool
cli_verb_arg_str(const cli_verb *v, void *opts, int argc, char **argv)
{
	(void)v;
	(void)argc;
	*(const char **)opts = argv[0];
	return true;
}

int
cli_verb_dispatch(cli_ctx *ctx, const cli_verb *v, int argc, char **argv)
{
	ctx->verb = v;
	if (v->run_argv != NULL)
		return v->run_argv(ctx, argc, argv);
	void *opts = v->opts_bytes > 0 ? wr_xcalloc(1, v->opts_bytes) : NULL;
	if (v->defaults != NULL)
		memcpy(opts, v->defaults, v->opts_bytes);
	int rc = cli_verb_parse(v, opts, argc, argv);
	if (rc == CLI_OK)
		rc = v->run != NULL ? v->run(ctx, opts)
		                    : cli_call(ctx, &v->request, opts);
	free(opts);
	return rc == CLI_HELP ? CLI_OK : rc;
}

/* ---- before the verb: global flags, --version, help (cli_main) ---- */

void
cli_usage(FILE *f)
{
	fprintf(f, "usage: weir [--jobmanager ADDR[,ADDR...]] [--config FILE] "
	           "[--token-file FILE]\n"
	           "            [--tls-ca FILE] [--tls-cert FILE] "
	           "[--tls-key FILE]\n"
	           "            [-o table|json] VERB [ARGS]\n"
	           "       weir --version | help [VERB]\n\nverbs:\n");
	cli_verb_list_all(f);
	fprintf(f,
	        "\nglobal flags (before or after the verb):\n"
	        "  --jobmanager ADDR  JobManager RPC address, host:port or "
	        "tcp://host:port; a\n"
	        "                     comma list finds the leader (env "
	        "WEIR_JOBMANAGER,\n"
	        "                     default %s)\n"
	        "  --config FILE      cluster config (weir.yaml)\n"
	        "  --token-file FILE  the cluster token, when the cluster "
	        "has one (env\n"
	        "                     WEIR_TOKEN_FILE, else the config's "
	        "security.token_file)\n"
	        "  --tls-ca FILE      TLS: the CA the JobManager's "
	        "certificate is checked\n"
	        "                     against (else the config's "
	        "security.tls.ca)\n"
	        "  --tls-cert FILE    TLS: the CLI's certificate, for "
	        "clusters with mutual\n"
	        "                     TLS (else security.tls.cert)\n"
	        "  --tls-key FILE     its key (else security.tls.key)\n"
	        "  -o table|json      output format (default table); with "
	        "json, errors are\n"
	        "                     {\"error\": \"...\"} lines on stderr\n"
	        "  --version          the version and the commit it was "
	        "built from\n"
	        "\n'weir help VERB' or 'weir VERB --help' describes a verb. "
	        "Exit codes: 0 ok,\n1 failed, 2 usage, 3 JobManager "
	        "unreachable.\n",
	        CLI_DEFAULT_JOBMANAGER);
}

/* The value of a global flag at argv[*i] ("--flag V" or "--flag=V"), or
 * NULL when it is not one; *i moves past it. */
static const char *
cli_global_value(int argc, char **argv, int *i, const char *flag, bool *missing)
{
	const char *a = argv[*i];
	size_t n = strlen(flag);
	if (strncmp(a, flag, n) == 0 && a[n] == '=' && flag[1] == '-')
		return a + n + 1;
	if (strcmp(a, flag) != 0)
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

int
cli_global_flags(cli_ctx *ctx, int argc, char **argv)
{
	static const char *const names[] = {
	    "--jobmanager", "--config", "-o",         "--output",
	    "--token-file", "--tls-ca", "--tls-cert", "--tls-key"};
	const size_t nnames = sizeof(names) / sizeof(names[0]);
	int k = 1;
	for (int i = 1; i < argc; i++) {
		const char *val = NULL;
		bool missing = false;
		size_t w = 0;
		for (; w < nnames; w++) {
			val = cli_global_value(argc, argv, &i, names[w],
			                       &missing);
			if (val != NULL || missing)
				break;
		}
		if (missing) {
			cli_error(NULL, "%s needs a value", names[w]);
			return -1;
		}
		if (val == NULL && strcmp(argv[i], "--version") == 0) {
			ctx->version = true;
			continue;
		}
		if (val == NULL) {
			argv[k++] = argv[i];
			continue;
		}
		if (w == 0) {
			ctx->jobmanager = val;
		} else if (w == 4) {
			ctx->token_file = val;
		} else if (w == 5) {
			ctx->tls_ca = val;
		} else if (w == 6) {
			ctx->tls_cert = val;
		} else if (w == 7) {
			ctx->tls_key = val;
		} else if (w == 1) {
			ctx->config = val;
		} else if (strcmp(val, "json") == 0 ||
		           strcmp(val, "table") == 0) {
			ctx->json = strcmp(val, "json") == 0;
			cli_json_errors = ctx->json;
		} else {
			cli_error(NULL, "-o takes table or json, not '%s'",
			          val);
			return -1;
		}
	}
	argv[k] = NULL;
	return k;
}

const char *
cli_token_path(const cli_ctx *ctx)
{
	const char *path = ctx->token_file;
	if (path == NULL)
		path = getenv("WEIR_TOKEN_FILE");
	if (path == NULL || path[0] == '\0')
		path = ctx->cfg.token_file;
	return path;
}

int
cli_load_token(const cli_ctx *ctx)
{
	char tok[WR_AUTH_TOKEN_MAX_BYTES + 1], err[512];
	const char *path = cli_token_path(ctx);
	if (path[0] == '\0')
		return CLI_OK;
	if (wr_auth_load(path, tok, err, sizeof(err)) != WR_OK) {
		cli_error(NULL, "%s", err);
		return CLI_USAGE;
	}
	wr_auth_set_token(tok);
	return CLI_OK;
}

int
cli_load_tls(const cli_ctx *ctx)
{
	char err[512 + 3 * WR_ADDR_BYTES];
	const char *ca = ctx->tls_ca ? ctx->tls_ca : ctx->cfg.tls_ca;
	const char *cert = ctx->tls_cert ? ctx->tls_cert : ctx->cfg.tls_cert;
	const char *key = ctx->tls_key ? ctx->tls_key : ctx->cfg.tls_key;
	if (wr_tls_setup(cert, key, ca, err, sizeof(err)) != WR_OK) {
		cli_error(NULL, "%s", err);
		return CLI_USAGE;
	}
	return CLI_OK;
}

/* weir --version: "weir 0.1.0 (commit abc123)", or as JSON. */
static void
cli_version(const cli_ctx *ctx)
{
	const char *commit = ctx->commit ? ctx->commit : "unknown";
	if (!ctx->json) {
		printf("weir %s (commit %s)\n", WEIR_VERSION, commit);
		return;
	}
	wr_buf b;
	wr_json j;
	cli_json_begin(&b, &j);
	wr_json_obj_begin(&j);
	wr_json_kv_str(&j, "version", WEIR_VERSION);
	wr_json_kv_str(&j, "commit", commit);
	wr_json_obj_end(&j);
	cli_json_end(&b);
}

/* weir help [VERB]: the verb's usage, as VERB --help prints it. */
static int
cli_help(int argc, char **argv)
{
	if (argc < 3) {
		cli_usage(stdout);
		return CLI_OK;
	}
	const cli_verb *v = cli_verb_find(argv[2]);
	if (v == NULL) {
		cli_error(NULL, "unknown verb '%s' (see weir --help)", argv[2]);
		return CLI_USAGE;
	}
	v->usage(stdout);
	return CLI_OK;
}

int
cli_main(cli_ctx *ctx, int argc, char **argv)
{
	argc = cli_global_flags(ctx, argc, argv);
	if (argc < 0)
		return CLI_USAGE;
	if (ctx->version) {
		cli_version(ctx);
		return CLI_OK;
	}
	if (argc < 2) {
		cli_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0)
		return cli_help(argc, argv);
	const cli_verb *v = cli_verb_find(argv[1]);
	if (v == NULL) {
		cli_error(NULL, "unknown verb '%s' (see weir --help)", argv[1]);
		return CLI_USAGE;
	}
	char err[512];
	if (wr_cluster_config_load(&ctx->cfg, ctx->config, err, sizeof(err))) {
		cli_error(NULL, "%s", err);
		wr_cluster_config_free(&ctx->cfg);
		return CLI_USAGE;
	}
	if (cli_load_token(ctx) != CLI_OK || cli_load_tls(ctx) != CLI_OK) {
		wr_cluster_config_free(&ctx->cfg);
		return CLI_USAGE;
	}
	if (ctx->jobmanager == NULL)
		ctx->jobmanager = getenv("WEIR_JOBMANAGER");
	if (ctx->jobmanager == NULL)
		ctx->jobmanager =
		    ctx->config ? ctx->cfg.jm_address : CLI_DEFAULT_JOBMANAGER;
	int rc = cli_verb_dispatch(ctx, v, argc - 1, argv + 1);
	wr_cluster_config_free(&ctx->cfg);
	return rc;
}
