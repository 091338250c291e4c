/*
 * watermark_test.c - the combined watermark of source partitions and
 * input channels (taskmanager/watermark.c): minimum over active inputs,
 * idleness, and inputs that go idle within one poll.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "watermark.h"

enum { OOO = 100, IDLE = 1000 };
#define NONE INT64_C(-424242) /* poll_at: nothing emitted */

/* Polls at now (forced); returns the emitted watermark or NONE
 * when nothing was emitted. */
static int64_t
poll_at(tm_wm_tracker *w, int64_t now, bool *idle)
{
	int64_t wm;
	if (!tm_wm_poll(w, now, true, &wm, idle))
		return NONE;
	return wm;
}

static void
test_min_over_active(void **state)
{
	(void)state;
	tm_wm_tracker w;
	bool idle;
	tm_wm_init(&w, 2, OOO, IDLE, 0);
	tm_wm_record(&w, 0, 5000, 10);
	tm_wm_record(&w, 1, 3000, 10);
	assert_int_equal(poll_at(&w, 20, &idle), 3000 - OOO - 1);
	assert_false(idle);
	/* partition 1 silent past the timeout: 0 alone counts */
	tm_wm_record(&w, 0, 6000, 900);
	assert_int_equal(poll_at(&w, 1100, &idle), 6000 - OOO - 1);
	assert_false(idle);
	tm_wm_fini(&w);
}

/* A silent partition and one with data time out at the same poll: the
 * data's watermark is emitted, as if a poll had come between (the silent
 * one went idle first). Before the fix the poll emitted the old minimum
 * and the data's last windows never fired. */
static void
test_all_idle_at_once_emits_the_last(void **state)
{
	(void)state;
	tm_wm_tracker w;
	bool idle;
	tm_wm_init(&w, 2, OOO, IDLE, 0);
	tm_wm_record(&w, 0, 8000, 500); /* partition 1 never has a record */
	assert_int_equal(poll_at(&w, 600, &idle), NONE);
	/* both time out by 1600 (1 at 1000, 0 at 1500): one poll */
	assert_int_equal(poll_at(&w, 1600, &idle), 8000 - OOO - 1);
	assert_true(idle);
	/* nothing new: nothing emitted */
	assert_int_equal(poll_at(&w, 1800, &idle), NONE);
	tm_wm_fini(&w);
}

/* Inputs idle one at a time: the one left idle last does not move the
 * watermark past what the active minimum allowed. */
static void
test_idle_one_by_one_keeps_the_bound(void **state)
{
	(void)state;
	tm_wm_tracker w;
	bool idle;
	tm_wm_init(&w, 2, OOO, IDLE, 0);
	tm_wm_record(&w, 0, 9000, 100);
	tm_wm_record(&w, 1, 4000, 800);
	assert_int_equal(poll_at(&w, 900, &idle), 4000 - OOO - 1);
	/* 0 times out at 1100: 1 alone */
	assert_int_equal(poll_at(&w, 1200, &idle), NONE);
	/* 1 times out at 1800: all idle, the watermark stays at 1's */
	int64_t wm = poll_at(&w, 1900, &idle);
	assert_true(wm == NONE || wm == 4000 - OOO - 1);
	assert_int_equal(w.emitted, 4000 - OOO - 1);
	tm_wm_fini(&w);
}

/* Channels: an idle channel's watermark is still a bound; the last
 * channel to go idle leaves its watermark as the combined one. */
static void
test_channels_idle(void **state)
{
	(void)state;
	tm_wm_tracker w;
	bool idle;
	tm_wm_init(&w, 2, 0, 0, 0);
	tm_wm_channel(&w, 0, 700, false);
	tm_wm_channel(&w, 1, 500, false);
	assert_int_equal(poll_at(&w, 1, &idle), 500);
	tm_wm_channel(&w, 0, 900, true); /* 0 idle: 1 alone */
	assert_int_equal(poll_at(&w, 2, &idle), NONE);
	tm_wm_channel(&w, 1, 800, true); /* 1 idle last, at 800 */
	assert_int_equal(poll_at(&w, 3, &idle), 800);
	assert_true(idle);
	/* 0 back with records: active minimum again */
	tm_wm_channel(&w, 0, 1000, false);
	assert_int_equal(poll_at(&w, 4, &idle), 1000);
	assert_false(idle);
	tm_wm_fini(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_min_over_active),
	    cmocka_unit_test(test_all_idle_at_once_emits_the_last),
	    cmocka_unit_test(test_idle_one_by_one_keeps_the_bound),
	    cmocka_unit_test(test_channels_idle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
