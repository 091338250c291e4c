/*
 * task_incr_test.c - the chain of incremental checkpoints a task keeps:
 * the first is whole, deltas build only on completed checkpoints and
 * carry the keys of every barrier since, a savepoint's keys go into the
 * next delta, chains fold, unknown keys force a full snapshot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "state.h"
#include "state_int.h"
#include "task_incr.h"
#include "wr_limits.h"

#include <stdio.h>
#include <string.h>

/* A change set of the keys "k<first>".."k<last>". */
static wr_state_changes *
keys(int first, int last)
{
	wr_state_changes *c = wr_state_changes_new();
	for (int i = first; i <= last; i++) {
		char k[16];
		int n = snprintf(k, sizeof(k), "k%d", i);
		wr_state_changes_add(c, (uint32_t)i * 2654435761u, k,
		                     (size_t)n);
	}
	return c;
}

static void
plan(tm_incr *in, uint64_t id, wr_state_changes *ch, tm_incr_piece *p)
{
	tm_incr_plan(in, id, ch, "agg-0", p);
}

static void
test_chain_builds_on_completed_only(void **state)
{
	(void)state;
	tm_incr *in = tm_incr_new();
	tm_incr_piece p;
	plan(in, 1, NULL, &p); /* not tracked before: whole */
	assert_true(p.full);
	assert_int_equal(p.nchain, 1);
	assert_string_equal(p.chain[0], "chk-1/agg-0.mdb");
	tm_incr_piece_fini(&p);
	plan(in, 2, keys(0, 9), &p); /* 1 not heard complete: whole */
	assert_true(p.full);
	tm_incr_piece_fini(&p);
	tm_incr_complete(in, 2);
	plan(in, 3, keys(5, 14), &p);
	assert_false(p.full);
	assert_int_equal(p.nchain, 2);
	assert_string_equal(p.chain[0], "chk-2/agg-0.mdb");
	assert_string_equal(p.chain[1], "chk-3/agg-0.delta");
	assert_int_equal(wr_state_changes_count(p.delta), 10);
	tm_incr_piece_fini(&p);
	/* 3 fails (never completes): 4 carries 3's keys too, on chk-2 */
	plan(in, 4, keys(20, 24), &p);
	assert_false(p.full);
	assert_int_equal(p.nchain, 2);
	assert_string_equal(p.chain[1], "chk-4/agg-0.delta");
	assert_int_equal(wr_state_changes_count(p.delta), 15);
	tm_incr_piece_fini(&p);
	tm_incr_complete(in, 4);
	/* a savepoint's keys go into the next delta */
	tm_incr_savepoint(in, 5, keys(30, 31));
	tm_incr_complete(in, 5); /* a savepoint is no base */
	plan(in, 6, keys(40, 40), &p);
	assert_false(p.full);
	assert_int_equal(p.nchain, 3);
	assert_string_equal(p.chain[1], "chk-4/agg-0.delta");
	assert_int_equal(wr_state_changes_count(p.delta), 3);
	tm_incr_piece_fini(&p);
	tm_incr_free(in);
}

static void
test_fold_and_unknown_keys(void **state)
{
	(void)state;
	tm_incr *in = tm_incr_new();
	tm_incr_piece p;
	uint64_t id = 1;
	plan(in, id, keys(0, 0), &p);
	tm_incr_piece_fini(&p);
	tm_incr_complete(in, id);
	for (int i = 0; i < WR_CKPT_FOLD_DELTAS; i++) {
		plan(in, ++id, keys(i, i), &p);
		assert_false(p.full);
		assert_int_equal(p.nchain, (size_t)i + 2);
		tm_incr_piece_fini(&p);
		tm_incr_complete(in, id);
	}
	plan(in, ++id, keys(0, 0), &p); /* folded */
	assert_true(p.full);
	assert_int_equal(p.nchain, 1);
	tm_incr_piece_fini(&p);
	tm_incr_complete(in, id);
	/* a set that lost its keys: whole */
	wr_state_changes *lost = wr_state_changes_new();
	wr_state_changes_merge(lost, NULL);
	assert_true(wr_state_changes_overflowed(lost));
	plan(in, ++id, lost, &p);
	assert_true(p.full);
	tm_incr_piece_fini(&p);
	tm_incr_free(in);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_builds_on_completed_only),
	    cmocka_unit_test(test_fold_and_unknown_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
