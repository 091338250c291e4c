/*
 * jm_rest_test.c - the pure parts of the JobManager's Flink-shaped REST
 * paths: Flink's back-pressure levels at their thresholds, and the check
 * that refuses unknown query parameters with a JSON 400.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "jm_int.h"

#include "buf.h"
#include "http.h"

static void
test_backpressure_levels(void **state)
{
	(void)state;
	/* OK <= 0.10 < LOW <= 0.5 < HIGH */
	assert_string_equal(jm_backpressure_level(0.0), "ok");
	assert_string_equal(jm_backpressure_level(0.10), "ok");
	assert_string_equal(jm_backpressure_level(0.1001), "low");
	assert_string_equal(jm_backpressure_level(0.5), "low");
	assert_string_equal(jm_backpressure_level(0.5001), "high");
	assert_string_equal(jm_backpressure_level(1.0), "high");
}

/* jm_rest_query_only on query q: its answer, the status and body. */
static bool
query_only(const char *q, const char *const *allowed, wr_http_resp *resp)
{
	wr_http_req req = {.method = "GET",
	                   .path = "/x",
	                   .query = q,
	                   .body = "",
	                   .body_len = 0};
	resp->status = 200;
	wr_buf_init(&resp->body);
	return jm_rest_query_only(&req, allowed, resp);
}

static void
test_query_only(void **state)
{
	(void)state;
	static const char *const allowed[] = {"get", "maxExceptions", NULL};
	wr_http_resp resp;
	assert_true(query_only("", NULL, &resp));
	assert_int_equal(resp.status, 200);
	wr_buf_fini(&resp.body);
	assert_true(query_only("get=a,b&maxExceptions=3", allowed, &resp));
	wr_buf_fini(&resp.body);
	/* a key that is a prefix of an allowed one is not allowed */
	assert_false(query_only("ge=1", allowed, &resp));
	assert_int_equal(resp.status, 400);
	wr_buf_putc(&resp.body, '\0');
	assert_string_equal(resp.body.data,
	                    "{\"errors\":[\"unknown query parameter 'ge'\"]}");
	wr_buf_fini(&resp.body);
	assert_false(query_only("x", NULL, &resp));
	assert_int_equal(resp.status, 400);
	wr_buf_fini(&resp.body);
	assert_false(query_only("get=1&bogus=2", allowed, &resp));
	wr_buf_fini(&resp.body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_backpressure_levels),
	    cmocka_unit_test(test_query_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
