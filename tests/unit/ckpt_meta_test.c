/*
 * ckpt_meta_test.c - a checkpoint's _metadata: round trip, and every
 * truncation or damaged byte refused instead of restoring part of a
 * checkpoint.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "buf.h"
#include "ckpt_meta.h"
#include "err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static wr_ckpt_meta *
sample(void)
{
	wr_ckpt_meta *m =
	    wr_ckpt_meta_new("0123456789abcdef0123456789abcdef", "orders", 7,
	                     1700000000000, true, 128);
	wr_ckpt_meta_add_op(m, "orders", 4);
	wr_ckpt_meta_add_op(m, "per_product", 2);
	wr_ckpt_meta_add_op(m, "per_product", 9); /* ignored: known */
	wr_ckpt_handle h = {.uid = "per_product",
	                    .subtask = 1,
	                    .kind = WR_CKPT_KEYED,
	                    .path = "per_product-1.mdb",
	                    .size = 12345,
	                    .kg_first = 64,
	                    .kg_last = 127};
	wr_ckpt_meta_add_handle(m, &h);
	uint8_t blob[3] = {1, 0, 255};
	wr_ckpt_handle in = {.uid = "out",
	                     .subtask = 0,
	                     .kind = WR_CKPT_INLINE,
	                     .data = blob,
	                     .len = sizeof(blob)};
	wr_ckpt_meta_add_handle(m, &in);
	wr_ckpt_offset o = {.uid = "orders",
	                    .subtask = 3,
	                    .topic = "orders",
	                    .partition = 3,
	                    .offset = 4242};
	wr_ckpt_meta_add_offset(m, &o);
	return m;
}

static void
test_round_trip(void **state)
{
	(void)state;
	wr_ckpt_meta *m = sample(), *d = NULL;
	wr_buf b;
	wr_buf_init(&b);
	wr_ckpt_meta_encode(m, &b);
	char err[256];
	assert_int_equal(
	    wr_ckpt_meta_decode(b.data, b.len, &d, err, sizeof(err)), WR_OK);
	assert_string_equal(d->job_id, m->job_id);
	assert_string_equal(d->job_name, "orders");
	assert_int_equal(d->id, 7);
	assert_true(d->savepoint);
	assert_int_equal(d->max_parallelism, 128);
	assert_int_equal(d->nops, 2);
	assert_int_equal(wr_ckpt_meta_parallelism(d, "orders"), 4);
	assert_int_equal(wr_ckpt_meta_parallelism(d, "per_product"), 2);
	assert_int_equal(wr_ckpt_meta_parallelism(d, "nope"), 0);
	assert_int_equal(d->nhandles, 2);
	assert_string_equal(d->handles[0].path, "per_product-1.mdb");
	assert_int_equal(d->handles[0].kg_first, 64);
	assert_int_equal(d->handles[0].kg_last, 127);
	assert_int_equal(d->handles[0].size, 12345);
	assert_int_equal(d->handles[1].kind, WR_CKPT_INLINE);
	assert_int_equal(d->handles[1].len, 3);
	assert_memory_equal(d->handles[1].data, "\x01\x00\xff", 3);
	assert_int_equal(d->noffsets, 1);
	assert_string_equal(d->offsets[0].topic, "orders");
	assert_int_equal(d->offsets[0].offset, 4242);
	assert_int_equal(d->offsets[0].subtask, 3);
	wr_ckpt_meta_free(d);
	wr_ckpt_meta_free(m);
	wr_buf_fini(&b);
}

static void
test_truncated_and_damaged(void **state)
{
	(void)state;
	wr_ckpt_meta *m = sample(), *d = NULL;
	wr_buf b;
	wr_buf_init(&b);
	wr_ckpt_meta_encode(m, &b);
	char err[256];
	for (size_t n = 0; n < b.len; n++) {
		d = NULL;
		assert_int_equal(
		    wr_ckpt_meta_decode(b.data, n, &d, err, sizeof(err)),
		    WR_ECORRUPT);
		assert_null(d);
	}
	for (size_t i = 0; i < b.len; i++) {
		b.data[i] ^= 0x20;
		d = NULL;
		int rv =
		    wr_ckpt_meta_decode(b.data, b.len, &d, err, sizeof(err));
		assert_int_equal(rv, WR_ECORRUPT);
		b.data[i] ^= 0x20;
	}
	assert_int_equal(
	    wr_ckpt_meta_decode(b.data, b.len, &d, err, sizeof(err)), WR_OK);
	wr_ckpt_meta_free(d);
	/* another format version is refused by name */
	b.data[7] = 9;
	assert_int_equal(
	    wr_ckpt_meta_decode(b.data, b.len, &d, err, sizeof(err)),
	    WR_ECORRUPT);
	assert_non_null(strstr(err, "version 9"));
	wr_ckpt_meta_free(m);
	wr_buf_fini(&b);
}

/* Incremental handles: the shared pieces survive the round trip, name
 * the oldest directory the checkpoint needs, and a piece outside the
 * job's directory is refused. */
static void
test_shared_pieces(void **state)
{
	(void)state;
	wr_ckpt_meta *m = wr_ckpt_meta_new("0123456789abcdef0123456789abcdef",
	                                   "orders", 12, 1, false, 128);
	char *pieces[] = {"chk-9/agg-0.mdb", "chk-10/agg-0.delta",
	                  "chk-12/agg-0.delta"};
	wr_ckpt_handle h = {.uid = "agg",
	                    .kind = WR_CKPT_KEYED,
	                    .path = "",
	                    .kg_first = 0,
	                    .kg_last = 127,
	                    .shared = pieces,
	                    .nshared = 3};
	wr_ckpt_meta_add_handle(m, &h);
	assert_int_equal(wr_ckpt_meta_oldest(m), 9);
	wr_buf b;
	wr_buf_init(&b);
	wr_ckpt_meta_encode(m, &b);
	wr_ckpt_meta *d = NULL;
	char err[256];
	assert_int_equal(
	    wr_ckpt_meta_decode(b.data, b.len, &d, err, sizeof(err)), WR_OK);
	assert_int_equal(d->handles[0].nshared, 3);
	assert_string_equal(d->handles[0].shared[1], "chk-10/agg-0.delta");
	assert_int_equal(wr_ckpt_meta_oldest(d), 9);
	wr_ckpt_meta_free(d);
	const char *bad[] = {"../chk-9/x", "chk-9/../../etc",
	                     "chk-/x",     "chk-9",
	                     "chk-9/",     "chk-9/a/b",
	                     "/chk-9/x",   "chk-99999999999999999999/x"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t id;
		assert_false(wr_ckpt_shared_id(bad[i], &id));
		free(m->handles[0].shared[2]);
		m->handles[0].shared[2] = strdup(bad[i]);
		wr_buf_reset(&b);
		wr_ckpt_meta_encode(m, &b);
		assert_int_equal(
		    wr_ckpt_meta_decode(b.data, b.len, &d, err, sizeof(err)),
		    WR_ECORRUPT);
	}
	/* without shared pieces, the checkpoint needs only itself */
	wr_ckpt_meta_free(m);
	m = sample();
	assert_int_equal(wr_ckpt_meta_oldest(m), 7);
	wr_ckpt_meta_free(m);
	wr_buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_truncated_and_damaged),
	    cmocka_unit_test(test_shared_pieces),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
