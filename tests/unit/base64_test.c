/*
 * base64_test.c - base64 against RFC 4648's test vectors, round trips of
 * every length up to 64, and refusal of malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "base64.h"
#include "err.h"

#include <string.h>

static void
test_rfc_vectors(void **state)
{
	(void)state;
	const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *out[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                     "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		char enc[16];
		uint8_t dec[16];
		size_t n = 99;
		assert_int_equal(
		    wr_base64_encode(in[i], strlen(in[i]), enc, sizeof(enc)),
		    strlen(out[i]));
		assert_string_equal(enc, out[i]);
		assert_int_equal(wr_base64_decode(out[i], dec, sizeof(dec), &n),
		                 WR_OK);
		assert_int_equal(n, strlen(in[i]));
		assert_memory_equal(dec, in[i], n);
	}
}

static void
test_round_trip_binary(void **state)
{
	(void)state;
	uint8_t in[64], dec[64];
	char enc[100];
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 255);
	for (size_t len = 0; len <= sizeof(in); len++) {
		size_t n = 0;
		assert_int_equal(wr_base64_encode(in, len, enc, sizeof(enc)),
		                 wr_base64_len(len));
		assert_int_equal(wr_base64_decode(enc, dec, sizeof(dec), &n),
		                 WR_OK);
		assert_int_equal(n, len);
		assert_memory_equal(dec, in, len);
	}
}

static void
test_malformed(void **state)
{
	(void)state;
	uint8_t dec[16];
	size_t n;
	const char *bad[] = {
	    "Zg=", "Z===", "Zg=a", "Zm9v!A==", "=Zm9", "Zg==Zg==", "Zm 9v"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(wr_base64_decode(bad[i], dec, sizeof(dec), &n),
		                 WR_EINVAL);
	assert_int_equal(wr_base64_decode("Zm9vYmFy", dec, 5, &n), WR_ETOOBIG);
	char small[4];
	assert_int_equal(wr_base64_encode("foo", 3, small, sizeof(small)), 0);
	assert_string_equal(small, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc_vectors),
	    cmocka_unit_test(test_round_trip_binary),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
