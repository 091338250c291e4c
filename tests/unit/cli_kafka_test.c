/*
 * cli_kafka_test.c - what `weir consume` and `weir produce` parse, without
 * Kafka: kcat's -f format strings (every specifier, escapes, errors),
 * a message as a JSON line, -H NAME=VALUE, -K SEP splitting, --offset
 * values, and the flags of the verbs up to where they would need a
 * broker (cli/kafka_fmt.c, cli/kafka_io.c, cli/topic.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "buf.h"
#include "cli.h"
#include "kafka_fmt.h"

/* Writes m by fmt into out (a string). */
static void
format(const char *fmt, const cli_kmsg *m, char *out, size_t outlen)
{
	cli_kfmt f;
	char err[256] = "";

	if (!cli_kfmt_parse(fmt, &f, err, sizeof(err)))
		fail_msg("'%s': %s", fmt, err);
	FILE *mem = fmemopen(out, outlen, "w");
	assert_non_null(mem);
	cli_kfmt_write(&f, m, mem);
	fclose(mem);
}

static const cli_kheader two_headers[] = {
    {.name = "reason", .value = "bad amount", .value_len = 10},
    {.name = "empty", .value = NULL},
};

static const cli_kmsg msg = {
    .topic = "orders",
    .partition = 3,
    .offset = 42,
    .timestamp_ms = 1700000000123,
    .key = "k-1xx", /* key_len 3: bytes past it are not the key's */
    .key_len = 3,
    .value = "{\"a\":1}",
    .value_len = 7,
    .headers = two_headers,
    .nheaders = 2,
};

static void
test_format_specifiers(void **state)
{
	char out[512];

	(void)state;
	format("%t/%p@%o %T %k=%s %K %S [%h]\\n", &msg, out, sizeof(out));
	assert_string_equal(out, "orders/3@42 1700000000123 k-1={\"a\":1} 3 7 "
	                         "[reason=bad amount,empty=]\n");
	format("100%% \\\\ \\t|\\r", &msg, out, sizeof(out));
	assert_string_equal(out, "100% \\ \t|\r");
	format("%s", &msg, out, sizeof(out)); /* no newline unless asked */
	assert_string_equal(out, "{\"a\":1}");

	/* Null key and value: nothing, lengths -1 (kcat's); no headers. */
	cli_kmsg null = {.topic = "t", .timestamp_ms = -1};
	format("<%k><%s>%K %S [%h]", &null, out, sizeof(out));
	assert_string_equal(out, "<><>-1 -1 []");
}

static void
test_format_errors(void **state)
{
	static const struct {
		const char *fmt, *why;
	} bad[] = {
	    {"%x", "unknown format specifier %x"},
	    {"value %", "format ends in a lone %"},
	    {"\\q", "unknown escape \\q"},
	    {"%s\\", "format ends in a lone \\"},
	    {"", "empty format"},
	};
	cli_kfmt f;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_false(cli_kfmt_parse(bad[i].fmt, &f, err, sizeof(err)));
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("'%s': '%s' lacks '%s'", bad[i].fmt, err,
			         bad[i].why);
	}
	/* The limits: parts and bytes. */
	char many[4 * CLI_KFMT_MAX_ITEMS + 1] = "";
	for (int i = 0; i <= CLI_KFMT_MAX_ITEMS / 2; i++)
		strcat(many, "%p,");
	assert_false(cli_kfmt_parse(many, &f, err, sizeof(err)));
	assert_non_null(strstr(err, "more than"));
	char *longer = malloc(CLI_KFMT_MAX_BYTES + 2);
	memset(longer, 'a', CLI_KFMT_MAX_BYTES + 1);
	longer[CLI_KFMT_MAX_BYTES + 1] = '\0';
	assert_false(cli_kfmt_parse(longer, &f, err, sizeof(err)));
	assert_non_null(strstr(err, "longer than"));
	longer[CLI_KFMT_MAX_BYTES] = '\0'; /* exactly the limit: fine */
	assert_true(cli_kfmt_parse(longer, &f, err, sizeof(err)));
	free(longer);
}

static void
test_json(void **state)
{
	wr_buf b;

	(void)state;
	wr_buf_init(&b);
	cli_kmsg_json(&msg, &b);
	assert_string_equal(
	    b.data, "{\"topic\":\"orders\",\"partition\":3,\"offset\":42,"
	            "\"timestamp\":1700000000123,\"key\":\"k-1\","
	            "\"value\":\"{\\\"a\\\":1}\",\"headers\":[{\"name\":"
	            "\"reason\",\"value\":\"bad amount\"},{\"name\":\"empty\","
	            "\"value\":null}]}");
	wr_buf_reset(&b);
	cli_kmsg null = {.topic = "t", .partition = 0, .timestamp_ms = -1};
	cli_kmsg_json(&null, &b);
	assert_string_equal(b.data,
	                    "{\"topic\":\"t\",\"partition\":0,\"offset\":0,"
	                    "\"timestamp\":null,\"key\":null,\"value\":null,"
	                    "\"headers\":[]}");
	wr_buf_fini(&b);
}

static void
test_header_and_key_split(void **state)
{
	size_t n, kl, vl;
	const char *v;

	(void)state;
	assert_true(cli_kheader_parse("reason=a=b", &n, &v));
	assert_int_equal(n, 6);
	assert_string_equal(v, "a=b"); /* split at the first '=' */
	assert_true(cli_kheader_parse("empty=", &n, &v));
	assert_string_equal(v, "");
	assert_false(cli_kheader_parse("novalue", &n, &v));
	assert_false(cli_kheader_parse("=x", &n, &v));

	const char *line = "k1::v:1::x";
	assert_true(cli_kline_split(line, strlen(line), "::", &kl, &v, &vl));
	assert_int_equal(kl, 2);
	assert_int_equal(vl, 6);
	assert_memory_equal(v, "v:1::x", 6);
	/* An empty key, an empty value, no separator, a separator past the
	 * line's length. */
	assert_true(cli_kline_split(":v", 2, ":", &kl, &v, &vl));
	assert_int_equal(kl, 0);
	assert_int_equal(vl, 1);
	assert_true(cli_kline_split("k:", 2, ":", &kl, &v, &vl));
	assert_int_equal(kl, 1);
	assert_int_equal(vl, 0);
	assert_false(cli_kline_split("kv", 2, ":", &kl, &v, &vl));
	assert_false(cli_kline_split("kv:x", 2, ":", &kl, &v, &vl));
}

static void
test_offsets(void **state)
{
	int64_t o;

	(void)state;
	assert_true(cli_koffset_parse("beginning", &o));
	assert_int_equal(o, RD_KAFKA_OFFSET_BEGINNING);
	assert_true(cli_koffset_parse("earliest", &o));
	assert_int_equal(o, RD_KAFKA_OFFSET_BEGINNING);
	assert_true(cli_koffset_parse("end", &o));
	assert_int_equal(o, RD_KAFKA_OFFSET_END);
	assert_true(cli_koffset_parse("stored", &o));
	assert_int_equal(o, RD_KAFKA_OFFSET_STORED);
	assert_true(cli_koffset_parse("17", &o));
	assert_int_equal(o, 17);
	assert_true(cli_koffset_parse("0", &o));
	assert_int_equal(o, 0);
	assert_true(cli_koffset_parse("-5", &o));
	assert_int_equal(o, RD_KAFKA_OFFSET_TAIL(5));
	assert_false(cli_koffset_parse("middle", &o));
	assert_false(cli_koffset_parse("5x", &o));
	assert_false(cli_koffset_parse("-9223372036854775807", &o));
}

/* Runs a verb and returns its exit code, stderr in err (flags only: each
 * of these fails before it would reach a broker). */
static int
dispatch(char *err, size_t errlen, const char *const *args)
{
	char *argv[16];
	int argc = 0;
	cli_ctx ctx = {0};

	while (args[argc] != NULL) {
		argv[argc] = (char *)args[argc];
		argc++;
	}
	argv[argc] = NULL;
	assert_int_equal(wr_cluster_config_load(&ctx.cfg, NULL, err, errlen),
	                 0);
	fflush(stderr);
	FILE *tmp = tmpfile();
	int saved = dup(fileno(stderr));
	dup2(fileno(tmp), fileno(stderr));
	int rc = cli_verb_dispatch(&ctx, cli_verb_find(argv[0]), argc, argv);
	fflush(stderr);
	dup2(saved, fileno(stderr));
	close(saved);
	rewind(tmp);
	size_t n = fread(err, 1, errlen - 1, tmp);
	err[n] = '\0';
	fclose(tmp);
	wr_cluster_config_free(&ctx.cfg);
	return rc;
}

static void
test_usage_errors(void **state)
{
	static const struct {
		const char *args[8];
		const char *why;
	} bad[] = {
	    {{"consume", "t", "-f", "%q"}, "-f '%q': unknown format"},
	    {{"consume", "t", "--offset", "later"},
	     "--offset takes beginning, end, stored, N or -N, not 'later'"},
	    {{"consume", "t", "--from-beginning", "--offset", "end"},
	     "--from-beginning and --offset/--from disagree"},
	    {{"produce", "t", "-H", "novalue"},
	     "-H wants NAME=VALUE, not 'novalue'"},
	    {{"produce", "t", "-K", ""}, "-K wants a separator"},
	    {{"produce", "t", "-p", "-1"}, "-p takes 0 .. 2147483647"},
	    {{"topic", "create", "x:0"},
	     "topic x: PARTITIONS must be 1 .. 10000, not '0'"},
	    {{"topic", "create", "x:many"}, "not 'many'"},
	    {{"topic", "create", ":3"}, "invalid topic name ''"},
	    {{"topic", "create", "a/b"}, "invalid topic name 'a/b'"},
	    {{"topic", "describe"}, "weir topic describe: which topic?"},
	    {{"topic", "delete", ".."}, "invalid topic name '..'"},
	    {{"topic", "list", "x"}, "weir topic list: takes no topic"},
	};
	char err[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = dispatch(err, sizeof(err), bad[i].args);
		if (rc != CLI_USAGE || strstr(err, bad[i].why) == NULL)
			fail_msg("%s %s: exit %d, '%s' lacks '%s'",
			         bad[i].args[0], bad[i].args[1], rc, err,
			         bad[i].why);
		/* What is wrong is said, not buried under the usage. */
		assert_null(strstr(err, "usage:"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_specifiers),
	    cmocka_unit_test(test_format_errors),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_header_and_key_split),
	    cmocka_unit_test(test_offsets),
	    cmocka_unit_test(test_usage_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
