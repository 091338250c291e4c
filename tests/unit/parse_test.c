/*
 * parse_test.c - durations, sizes, integers and booleans as users write
 * them: good spellings, bad spellings, and values past int64.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "parse.h"

static int64_t
duration_ok(const char *s)
{
	int64_t v = -1;
	assert_int_equal(wr_parse_duration_ms(s, &v), WR_OK);
	return v;
}

static int64_t
size_ok(const char *s)
{
	int64_t v = -1;
	assert_int_equal(wr_parse_size_bytes(s, &v), WR_OK);
	return v;
}

static void
test_duration_good(void **state)
{
	(void)state;
	assert_int_equal(duration_ok("500ms"), 500);
	assert_int_equal(duration_ok("10s"), 10000);
	assert_int_equal(duration_ok("5m"), 300000);
	assert_int_equal(duration_ok("1h"), 3600000);
	assert_int_equal(duration_ok("2d"), 2 * 86400000LL);
	assert_int_equal(duration_ok("0"), 0);
	assert_int_equal(duration_ok("0s"), 0);
	assert_int_equal(duration_ok("10S"), 10000);
	assert_int_equal(duration_ok("007ms"), 7);
}

static void
test_duration_bad(void **state)
{
	static const char *const bad[] = {
	    "",     "s",    "10",    "1",     "10 s",  " 10s",
	    "10s ", "-5s",  "+5s",   "1.5s",  "10sec", "10msx",
	    "5min", "ms10", "0x10s", "1h30m", "1e3ms",
	};
	int64_t v = 42;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("bad duration '%s'\n", bad[i]);
		assert_int_equal(wr_parse_duration_ms(bad[i], &v), WR_EINVAL);
	}
	assert_int_equal(wr_parse_duration_ms(NULL, &v), WR_EINVAL);
	assert_int_equal(v, 42); /* untouched on error */
}

static void
test_duration_overflow(void **state)
{
	int64_t v = 0;

	(void)state;
	assert_int_equal(duration_ok("9223372036854775807ms"), INT64_MAX);
	assert_int_equal(wr_parse_duration_ms("9223372036854775808ms", &v),
	                 WR_ETOOBIG);
	/* INT64_MAX / 86400000 = 106751991167.3 */
	assert_int_equal(duration_ok("106751991167d"),
	                 106751991167LL * 86400000);
	assert_int_equal(wr_parse_duration_ms("106751991168d", &v), WR_ETOOBIG);
	assert_int_equal(wr_parse_duration_ms("99999999999999999999999s", &v),
	                 WR_ETOOBIG);
}

static void
test_size_good(void **state)
{
	(void)state;
	assert_int_equal(size_ok("512"), 512);
	assert_int_equal(size_ok("512b"), 512);
	assert_int_equal(size_ok("0"), 0);
	assert_int_equal(size_ok("64kb"), 64 * 1024);
	assert_int_equal(size_ok("64KiB"), 64 * 1024);
	assert_int_equal(size_ok("64k"), 64 * 1024);
	assert_int_equal(size_ok("16mb"), 16 * 1024 * 1024);
	assert_int_equal(size_ok("16MiB"), 16 * 1024 * 1024);
	assert_int_equal(size_ok("1gb"), 1024 * 1024 * 1024);
	assert_int_equal(size_ok("1G"), 1024 * 1024 * 1024);
	assert_int_equal(size_ok("2tb"), 2LL << 40);
}

static void
test_size_bad(void **state)
{
	static const char *const bad[] = {
	    "",    "mb",   "1.5mb", "-1", "+1",  "1 kb",
	    "1xb", "1kbb", "kb1",   " 1", "1pb",
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("bad size '%s'\n", bad[i]);
		assert_int_equal(wr_parse_size_bytes(bad[i], &v), WR_EINVAL);
	}
	/* 2^33 GiB is 2^63 bytes: one past INT64_MAX. */
	assert_int_equal(size_ok("8589934591gb"), 8589934591LL << 30);
	assert_int_equal(wr_parse_size_bytes("8589934592gb", &v), WR_ETOOBIG);
	assert_int_equal(wr_parse_size_bytes("9223372036854775808", &v),
	                 WR_ETOOBIG);
}

static void
test_int64(void **state)
{
	static const char *const bad[] = {"",   "-",    "+",   "12a", " 1",
	                                  "1 ", "0x10", "--1", "1e3", "1.0"};
	int64_t v;

	(void)state;
	assert_int_equal(wr_parse_int64("0", &v), WR_OK);
	assert_int_equal(v, 0);
	assert_int_equal(wr_parse_int64("-0", &v), WR_OK);
	assert_int_equal(v, 0);
	assert_int_equal(wr_parse_int64("+5", &v), WR_OK);
	assert_int_equal(v, 5);
	assert_int_equal(wr_parse_int64("-17", &v), WR_OK);
	assert_int_equal(v, -17);
	assert_int_equal(wr_parse_int64("9223372036854775807", &v), WR_OK);
	assert_true(v == INT64_MAX);
	assert_int_equal(wr_parse_int64("-9223372036854775808", &v), WR_OK);
	assert_true(v == INT64_MIN);
	assert_int_equal(wr_parse_int64("9223372036854775808", &v), WR_ETOOBIG);
	assert_int_equal(wr_parse_int64("-9223372036854775809", &v),
	                 WR_ETOOBIG);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("bad int '%s'\n", bad[i]);
		assert_int_equal(wr_parse_int64(bad[i], &v), WR_EINVAL);
	}
	assert_int_equal(wr_parse_int64(NULL, &v), WR_EINVAL);
}

static void
test_bool(void **state)
{
	static const char *const yes[] = {"true", "TRUE", "Yes", "on", "ON"};
	static const char *const no[] = {"false", "False", "no", "NO", "off"};
	static const char *const bad[] = {"",  "1",     "0",     "y",
	                                  "n", "truee", " true", "enabled"};
	bool b;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_int_equal(wr_parse_bool(yes[i], &b), WR_OK);
		assert_true(b);
		assert_int_equal(wr_parse_bool(no[i], &b), WR_OK);
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(wr_parse_bool(bad[i], &b), WR_EINVAL);
}

static void
test_format_duration(void **state)
{
	static const struct {
		int64_t ms;
		const char *s;
	} cases[] = {
	    {0, "0"},
	    {500, "500ms"},
	    {1000, "1s"},
	    {90000, "90s"},
	    {1500, "1500ms"},
	    {300000, "5m"},
	    {3600000, "1h"},
	    {5400000, "90m"},
	    {172800000, "2d"},
	    {-1000, "-1s"},
	    {INT64_MIN, "-9223372036854775808ms"},
	};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wr_format_duration(cases[i].ms, out, sizeof(out));
		assert_string_equal(out, cases[i].s);
	}
	/* Truncated, still terminated. */
	wr_format_duration(1500, out, 4);
	assert_string_equal(out, "150");
}

static void
test_format_parse_roundtrip(void **state)
{
	static const int64_t v[] = {
	    0, 1, 999, 1000, 61000, 3600001, 86400000, 123456789, INT64_MAX};
	char out[64];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		wr_format_duration(v[i], out, sizeof(out));
		assert_true(duration_ok(out) == v[i]);
	}
}

static void
test_quote_for_msg(void **state)
{
	char out[8];

	(void)state;
	wr_quote_for_msg("a\nb\x7f", 4, out, sizeof(out));
	assert_string_equal(out, "a?b?");
	wr_quote_for_msg("abcdefghijkl", 12, out, sizeof(out));
	assert_string_equal(out, "abcd...");
	wr_quote_for_msg("abcdefg", 7, out, sizeof(out));
	assert_string_equal(out, "abcdefg");
	/* An embedded NUL does not end the copy early. */
	wr_quote_for_msg("a\0b", 3, out, sizeof(out));
	assert_memory_equal(out, "a?b", 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_duration_good),
	    cmocka_unit_test(test_duration_bad),
	    cmocka_unit_test(test_duration_overflow),
	    cmocka_unit_test(test_size_good),
	    cmocka_unit_test(test_size_bad),
	    cmocka_unit_test(test_int64),
	    cmocka_unit_test(test_bool),
	    cmocka_unit_test(test_format_duration),
	    cmocka_unit_test(test_format_parse_roundtrip),
	    cmocka_unit_test(test_quote_for_msg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
