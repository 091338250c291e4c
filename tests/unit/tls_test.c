/*
 * tls_test.c - security.tls's rules without certificates: which url an
 * endpoint opens with TLS on and off, and the start-up errors that need
 * no PEM file to read (half a pair, a missing or non-PEM file). Handshakes
 * with real certificates: tests/integration/test_tls.py.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "err.h"
#include "tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
test_off_by_default(void **state)
{
	(void)state;
	char url[64], err[256] = "";
	wr_tls_reset();
	assert_int_equal(wr_tls_setup("", "", "", err, sizeof(err)), WR_OK);
	assert_false(wr_tls_on());
	assert_int_equal(wr_tls_url("tcp://h:1", url, sizeof(url)), WR_OK);
	assert_string_equal(url, "tcp://h:1");
	/* a tls+tcp:// address without certificates cannot be opened */
	assert_int_equal(wr_tls_url("tls+tcp://h:1", url, sizeof(url)),
	                 WR_EINVAL);
	assert_int_equal(wr_tls_url("inproc://x", url, sizeof(url)), WR_OK);
	assert_string_equal(url, "inproc://x");
	assert_int_equal(wr_tls_url("tcp://a-long-host:1", url, 8), WR_ETOOBIG);
}

static void
test_half_a_pair(void **state)
{
	(void)state;
	char err[512] = "";
	assert_int_equal(wr_tls_setup("/c.pem", "", "", err, sizeof(err)),
	                 WR_EINVAL);
	assert_non_null(strstr(err, "cert and key go together"));
	err[0] = '\0';
	assert_int_equal(
	    wr_tls_setup("", "/k.pem", "/ca.pem", err, sizeof(err)), WR_EINVAL);
	assert_non_null(strstr(err, "cert and key go together"));
	assert_false(wr_tls_on());
}

static void
test_missing_and_garbage_files(void **state)
{
	(void)state;
	char err[512] = "", path[] = "/tmp/weir-tls-test-XXXXXX";
	assert_int_not_equal(
	    wr_tls_setup("", "", "/nonexistent/ca.pem", err, sizeof(err)),
	    WR_OK);
	assert_non_null(strstr(err, "security.tls.ca: /nonexistent/ca.pem"));
	assert_false(wr_tls_on());
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not pem\n", 8), 8);
	close(fd);
	err[0] = '\0';
	assert_int_not_equal(wr_tls_setup(path, path, "", err, sizeof(err)),
	                     WR_OK);
	assert_non_null(strstr(err, "not a PEM certificate"));
	assert_non_null(strstr(err, path));
	assert_false(wr_tls_on());
	err[0] = '\0';
	assert_int_not_equal(wr_tls_setup("", "", path, err, sizeof(err)),
	                     WR_OK);
	assert_non_null(strstr(err, "not PEM CA certificates"));
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_off_by_default),
	    cmocka_unit_test(test_half_a_pair),
	    cmocka_unit_test(test_missing_and_garbage_files),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
