/*
 * log_test.c - log lines in both formats: every JSON line parses (jansson)
 * whatever bytes the message holds (quotes, backslashes, control
 * characters, invalid UTF-8, random bytes), job_id and task come from the
 * message, a long message is cut into a line that still parses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "log.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define LINE_BYTES 4096

/* Formats msg as a JSON line, checks its shape and returns it parsed. */
static json_t *
json_line(const char *msg, size_t len)
{
	static char buf[LINE_BYTES];
	size_t n =
	    wr_log_format_line(buf, len, WR_LOG_JSON, WR_LOG_WARN, "EV-1", msg);
	assert_true(n < len);
	assert_int_equal(buf[n - 1], '\n');
	assert_null(memchr(buf, '\n', n - 1));
	json_error_t err;
	json_t *o = json_loadb(buf, n, 0, &err);
	if (o == NULL)
		fail_msg("not JSON (%s): %.*s", err.text, (int)n, buf);
	assert_true(json_is_object(o));
	const char *t = json_string_value(json_object_get(o, "time"));
	assert_non_null(t);
	assert_int_equal(strlen(t), 24); /* 2026-11-22T05:40:00.123Z */
	assert_int_equal(t[10], 'T');
	assert_int_equal(t[23], 'Z');
	assert_string_equal(json_string_value(json_object_get(o, "level")),
	                    "WARN");
	assert_string_equal(json_string_value(json_object_get(o, "event")),
	                    "EV-1");
	assert_string_equal(json_string_value(json_object_get(o, "component")),
	                    "logtest");
	assert_non_null(json_string_value(json_object_get(o, "message")));
	return o;
}

static void
test_nasty_bytes_round_trip(void **state)
{
	(void)state;
	/* valid UTF-8: the parsed message is the input, byte for byte */
	const char *same[] = {
	    "",
	    "plain",
	    "a \"quoted\" word and a back\\slash \\\\ \\u0041 \\n",
	    "tab\there, newline\nthere, cr\r, bell\a, esc\x1b[31m, del\x7f",
	    "\x01\x02\x03\x1f end",
	    "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
	    "}\"{,\":[]",
	};
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		json_t *o = json_line(same[i], LINE_BYTES);
		assert_string_equal(
		    json_string_value(json_object_get(o, "message")), same[i]);
		json_decref(o);
	}
	/* not UTF-8: each bad byte becomes U+FFFD, the rest is kept */
	const char *bad[][2] = {
	    {"a\xff"
	     "b",
	     "a\xef\xbf\xbd"
	     "b"},
	    {"\xc3", "\xef\xbf\xbd"},                 /* cut short */
	    {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong */
	    {"\xed\xa0\x80",
	     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* UTF-16
	                                                 surrogate */
	    {"\xf4\x90\x80\x80x",
	     "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbdx"}, /* > 10FFFF
	                                                            */
	    {"\xe2\x82\"", "\xef\xbf\xbd\xef\xbf\xbd\""},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *o = json_line(bad[i][0], LINE_BYTES);
		assert_string_equal(
		    json_string_value(json_object_get(o, "message")),
		    bad[i][1]);
		json_decref(o);
	}
}

static void
test_every_byte_and_random(void **state)
{
	(void)state;
	char msg[600];
	for (int i = 1; i < 256; i++)
		msg[i - 1] = (char)i;
	msg[255] = 0;
	json_decref(json_line(msg, LINE_BYTES));
	srand(12);
	for (int round = 0; round < 3000; round++) {
		size_t n = (size_t)(rand() % (int)(sizeof(msg) - 1));
		for (size_t i = 0; i < n; i++)
			msg[i] = (char)(1 + rand() % 255);
		msg[n] = 0;
		if (round % 3 == 0)
			memcpy(msg, "job=", n >= 4 ? 4 : 0);
		/* a small buffer too: the cut must keep the line whole */
		json_decref(json_line(msg, round % 2 ? LINE_BYTES : 2048));
	}
}

static void
test_long_message_is_cut(void **state)
{
	(void)state;
	static char msg[8000];
	memset(msg, '\x01', sizeof(msg) - 1); /* 6 bytes each, escaped */
	json_t *o = json_line(msg, 2048);
	size_t k = strlen(json_string_value(json_object_get(o, "message")));
	assert_true(k > 100 && k < 2048 / 6);
	json_decref(o);
	memset(msg, 'x', sizeof(msg) - 1);
	o = json_line(msg, LINE_BYTES);
	k = strlen(json_string_value(json_object_get(o, "message")));
	assert_true(k > LINE_BYTES - 200 && k < LINE_BYTES);
	json_decref(o);
}

static void
test_job_and_task_fields(void **state)
{
	(void)state;
	const char *job = "0123456789abcdef0123456789abcdef";
	char msg[256];
	snprintf(msg, sizeof(msg), "job=%s task=2/1 FINISHED", job);
	json_t *o = json_line(msg, LINE_BYTES);
	assert_string_equal(json_string_value(json_object_get(o, "job_id")),
	                    job);
	assert_string_equal(json_string_value(json_object_get(o, "task")),
	                    "2/1");
	json_decref(o);
	/* a trailing ':' or ',' is punctuation; "xjob=" is not the tag */
	o = json_line("checkpoint 3 job=abc: failed, task=1/0, retry", 4096);
	assert_string_equal(json_string_value(json_object_get(o, "job_id")),
	                    "abc");
	assert_string_equal(json_string_value(json_object_get(o, "task")),
	                    "1/0");
	json_decref(o);
	o = json_line("xjob=1 subtask=3 job= nothing", LINE_BYTES);
	assert_null(json_object_get(o, "job_id"));
	assert_null(json_object_get(o, "task"));
	json_decref(o);
	o = json_line("job=\"a\\\x01", LINE_BYTES);
	assert_string_equal(json_string_value(json_object_get(o, "job_id")),
	                    "\"a\\\x01");
	json_decref(o);
}

static void
test_text_format(void **state)
{
	(void)state;
	char buf[LINE_BYTES];
	size_t n = wr_log_format_line(buf, sizeof(buf), WR_LOG_TEXT,
	                              WR_LOG_INFO, "EV-2", "two\nlines\r");
	buf[n] = 0;
	assert_int_equal(buf[n - 1], '\n');
	assert_string_equal(buf + 24, " INFO logtest EV-2 two lines \n");
	assert_int_equal(buf[23], 'Z');
	assert_int_equal(wr_log_format_parse("json"), WR_LOG_JSON);
	assert_int_equal(wr_log_format_parse("TEXT"), WR_LOG_TEXT);
	assert_int_equal(wr_log_format_parse("xml"), -1);
}

int
main(void)
{
	wr_log_set_role("logtest");
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_nasty_bytes_round_trip),
	    cmocka_unit_test(test_every_byte_and_random),
	    cmocka_unit_test(test_long_message_is_cut),
	    cmocka_unit_test(test_job_and_task_fields),
	    cmocka_unit_test(test_text_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
