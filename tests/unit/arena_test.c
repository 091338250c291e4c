/*
 * arena_test.c - the bump allocator: its cap, reuse after reset, alignment,
 * large allocations, and that the memory it keeps stays bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "arena.h"

#include <string.h>

#define CHUNK (64u * 1024u) /* arena.c's chunk size */

static void
test_cap_enforced(void **state)
{
	wr_arena a;

	(void)state;
	wr_arena_init(&a, 1000);
	assert_non_null(wr_arena_alloc(&a, 1000));
	assert_int_equal(a.used, 1000);
	assert_null(wr_arena_alloc(&a, 1));
	/* A refused allocation costs nothing. */
	assert_int_equal(a.used, 1000);
	wr_arena_reset(&a);
	assert_int_equal(a.used, 0);
	assert_non_null(wr_arena_alloc(&a, 992));
	assert_non_null(wr_arena_alloc(&a, 8));
	assert_null(wr_arena_alloc(&a, 1));
	wr_arena_fini(&a);

	/* Rounding to 8 bytes counts against the cap. */
	wr_arena_init(&a, 10);
	assert_null(wr_arena_alloc(&a, 10));
	assert_non_null(wr_arena_alloc(&a, 8));
	assert_null(wr_arena_alloc(&a, 1));
	wr_arena_fini(&a);

	wr_arena_init(&a, 0);
	assert_null(wr_arena_alloc(&a, 1));
	assert_null(wr_arena_strndup(&a, "", 0));
	wr_arena_fini(&a);
}

/* Sizes near SIZE_MAX must neither wrap the arithmetic nor reach malloc
 * with a wrapped size. */
static void
test_huge_sizes(void **state)
{
	wr_arena a;

	(void)state;
	wr_arena_init(&a, SIZE_MAX);
	assert_null(wr_arena_alloc(&a, SIZE_MAX));
	assert_null(wr_arena_alloc(&a, SIZE_MAX - 3));
	assert_null(wr_arena_alloc(&a, SIZE_MAX - 8));
	assert_non_null(wr_arena_alloc(&a, 8));
	assert_null(wr_arena_alloc(&a, SIZE_MAX - 16));
	assert_null(wr_arena_strndup(&a, "x", SIZE_MAX));
	assert_int_equal(a.used, 8);
	wr_arena_fini(&a);
}

static void
test_alignment_and_contents(void **state)
{
	wr_arena a;
	unsigned char *p[500];
	size_t n[500];

	(void)state;
	wr_arena_init(&a, 1u << 22);
	for (int i = 0; i < 500; i++) {
		n[i] = (size_t)(i * 37 % 301) + 1;
		p[i] = wr_arena_alloc(&a, n[i]);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 8, 0);
		memset(p[i], i & 0xff, n[i]);
	}
	/* No allocation overlaps another. */
	for (int i = 0; i < 500; i++)
		for (size_t k = 0; k < n[i]; k++)
			assert_int_equal(p[i][k], i & 0xff);
	wr_arena_fini(&a);
}

static void
test_strndup(void **state)
{
	wr_arena a;
	char *s;

	(void)state;
	wr_arena_init(&a, 1024);
	s = wr_arena_strndup(&a, "hello, world", 5);
	assert_non_null(s);
	assert_string_equal(s, "hello");
	s = wr_arena_strndup(&a, "", 0);
	assert_non_null(s);
	assert_string_equal(s, "");
	wr_arena_fini(&a);
}

/* The same allocations after a reset get the same memory back and the
 * arena grows no further: a steady stream allocates nothing. */
static void
test_reset_reuses(void **state)
{
	wr_arena a;
	void *first[64];
	size_t held;

	(void)state;
	wr_arena_init(&a, 1u << 24);
	for (int i = 0; i < 64; i++)
		first[i] = wr_arena_alloc(&a, (size_t)(i % 7) * 1000 + 24);
	assert_non_null(wr_arena_alloc(&a, 3 * CHUNK));
	held = a.held;
	assert_true(held >= a.used);
	for (int cycle = 0; cycle < 100; cycle++) {
		wr_arena_reset(&a);
		assert_int_equal(a.used, 0);
		for (int i = 0; i < 64; i++)
			assert_ptr_equal(
			    wr_arena_alloc(&a, (size_t)(i % 7) * 1000 + 24),
			    first[i]);
		assert_non_null(wr_arena_alloc(&a, 3 * CHUNK));
		assert_int_equal(a.held, held);
	}
	wr_arena_fini(&a);
	assert_int_equal(a.held, 0);
}

static void
test_large_allocations(void **state)
{
	wr_arena a;
	unsigned char *big, *small, *big2;

	(void)state;
	wr_arena_init(&a, 8u << 20);
	small = wr_arena_alloc(&a, 16);
	big = wr_arena_alloc(&a, 2u << 20);
	assert_non_null(small);
	assert_non_null(big);
	assert_int_equal((uintptr_t)big % 8, 0);
	memset(big, 0xab, 2u << 20); /* all of it is ours (ASan checks) */
	memset(small, 0xcd, 16);
	assert_int_equal(big[0], 0xab);
	assert_int_equal(big[(2u << 20) - 1], 0xab);
	assert_int_equal(small[15], 0xcd);
	/* Small allocations still work after a large one. */
	assert_non_null(wr_arena_alloc(&a, 100));
	/* Allocations larger than a chunk: up to the cap and no further. */
	assert_non_null(wr_arena_alloc(&a, 5u << 20));
	assert_null(wr_arena_alloc(&a, 2u << 20));
	wr_arena_reset(&a);
	/* The large chunk is found again behind a smaller spare chunk (the
	 * 64 KiB one comes first in the spare list). */
	assert_ptr_equal(wr_arena_alloc(&a, 2u << 20), big);
	big2 = wr_arena_alloc(&a, 5u << 20);
	assert_non_null(big2);
	memset(big2, 0, 5u << 20);
	assert_int_equal(big[0], 0xab);
	wr_arena_fini(&a);
}

/*
 * Allocations that grow a little each cycle must not leave one chunk
 * behind per cycle: what the arena keeps across a reset stays within its
 * cap plus what the last cycle used.
 */
static void
test_held_bounded(void **state)
{
	const size_t cap = 1u << 20;
	wr_arena a;

	(void)state;
	wr_arena_init(&a, cap);
	for (size_t i = 0; i < 2000; i++) {
		size_t n = CHUNK + 8 * i;
		assert_non_null(wr_arena_alloc(&a, 10));
		assert_non_null(wr_arena_alloc(&a, n));
		wr_arena_reset(&a);
		if (a.held > cap + CHUNK + n)
			fail_msg("cycle %zu: arena keeps %zu bytes", i, a.held);
	}
	wr_arena_fini(&a);
}

static void
test_fini(void **state)
{
	wr_arena a;

	(void)state;
	wr_arena_fini(NULL);
	wr_arena_init(&a, 4096);
	wr_arena_fini(&a); /* never used */
	wr_arena_init(&a, 4096);
	assert_non_null(wr_arena_alloc(&a, 100));
	wr_arena_reset(&a);
	wr_arena_fini(&a);
	assert_null(a.head);
	assert_null(a.spare);
	/* Usable again after init. */
	wr_arena_init(&a, 4096);
	assert_non_null(wr_arena_alloc(&a, 4096));
	wr_arena_fini(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cap_enforced),
	    cmocka_unit_test(test_huge_sizes),
	    cmocka_unit_test(test_alignment_and_contents),
	    cmocka_unit_test(test_strndup),
	    cmocka_unit_test(test_reset_reuses),
	    cmocka_unit_test(test_large_allocations),
	    cmocka_unit_test(test_held_bounded),
	    cmocka_unit_test(test_fini),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
