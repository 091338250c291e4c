/*
 * state_delta_test.c - incremental checkpoints of the keyed state: a full
 * snapshot plus the deltas of the following views restore exactly the
 * state of the last view (also split by key group, also with a delta
 * skipped when the next one covers its keys); writes after a view are not
 * in its delta; a damaged delta is refused before anything is applied.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wrtest.h"

#include "err.h"
#include "fsutil.h"
#include "state.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS   4000
#define NKG     128
#define NROUNDS 6
#define BIG     6000 /* over the small cache's bypass: a direct put */

typedef struct ref {
	int round[NKEYS]; /* the round of the key's value; -1: absent */
} ref;

/* A small cache: entries reach LMDB by eviction as well as by flushes. */
static wr_state *
open_st(const char *dir)
{
	wr_state_opts o = {.cache_bytes = 64 << 10};
	wr_state *st = NULL;

	assert_int_equal(wr_state_open(dir, &o, &st), WR_OK);
	return st;
}

static uint16_t
kg_of(int i)
{
	return (uint16_t)(i % NKG);
}

static void
key_of(int i, char *k, size_t n)
{
	snprintf(k, n, "k%05d", i);
}

/* The value of key i written in round r: every 97th one is big. */
static size_t
val_of(int i, int r, char *v, size_t n)
{
	size_t len = i % 97 == 0 ? BIG : (size_t)(8 + (i * 7 + r) % 40);
	assert_true(len < n);
	memset(v, 'a' + (i + r) % 26, len);
	snprintf(v, n > 24 ? 24 : n, "%d/%d/", i, r);
	v[strlen(v)] = '.';
	return len;
}

static void
put_key(wr_state *st, ref *rf, int i, int r)
{
	char k[16], v[BIG + 1];
	key_of(i, k, sizeof(k));
	size_t n = val_of(i, r, v, sizeof(v));
	assert_int_equal(wr_state_put(st, kg_of(i), 1, k, strlen(k), v, n),
	                 WR_OK);
	rf->round[i] = r;
}

static void
del_key(wr_state *st, ref *rf, int i)
{
	char k[16];
	key_of(i, k, sizeof(k));
	assert_int_equal(wr_state_del(st, kg_of(i), 1, k, strlen(k)), WR_OK);
	rf->round[i] = -1;
}

/* Round r > 0 changes about a tenth of the keys (puts and deletes). */
static void
round_writes(wr_state *st, ref *rf, int r, unsigned *seed)
{
	for (int n = 0; n < NKEYS / 10; n++) {
		int i = rand_r(seed) % NKEYS;
		if (rand_r(seed) % 5 == 0)
			del_key(st, rf, i);
		else
			put_key(st, rf, i, r);
	}
}

/* st holds exactly rf's keys of key groups [first, last]. */
static void
check_state(wr_state *st, const ref *rf, int first, int last)
{
	for (int i = 0; i < NKEYS; i++) {
		char k[16], v[BIG + 1];
		const void *got;
		size_t glen;
		key_of(i, k, sizeof(k));
		int rv =
		    wr_state_get(st, kg_of(i), 1, k, strlen(k), &got, &glen);
		bool want =
		    rf->round[i] >= 0 && kg_of(i) >= first && kg_of(i) <= last;
		if (!want) {
			assert_int_equal(rv, WR_ENOENT);
			continue;
		}
		assert_int_equal(rv, WR_OK);
		size_t n = val_of(i, rf->round[i], v, sizeof(v));
		assert_int_equal(glen, n);
		assert_memory_equal(got, v, n);
	}
}

/* Opens a view, writes a full snapshot (base) or the delta of its
 * changes into dir/name, and returns the changes (owned). */
static wr_state_changes *
checkpoint(wr_state *st, const char *dir, const char *name, bool base,
           const wr_state_changes *extra)
{
	char path[512];
	wr_state_view *v = NULL;
	assert_int_equal(wr_state_view_open(st, &v), WR_OK);
	wr_state_changes *ch = wr_state_view_take_changes(v);
	assert_non_null(ch);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (base) {
		assert_int_equal(wr_state_view_write(v, path, NULL, NULL),
		                 WR_OK);
	} else {
		uint64_t bytes = 0;
		if (extra != NULL)
			wr_state_changes_merge(ch, extra);
		assert_false(wr_state_changes_overflowed(ch));
		assert_int_equal(wr_state_view_write_delta(v, ch, path, &bytes),
		                 WR_OK);
		assert_true(bytes > 0);
	}
	wr_state_view_close(v);
	return ch;
}

/* Restores base + deltas[0..n) into a fresh backend at dir/sub, key
 * groups [first, last]. */
static wr_state *
restore(const char *dir, const char *sub, int first, int last,
        const char *const *deltas, int n)
{
	char path[512], base[512];
	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	snprintf(base, sizeof(base), "%s/base", dir);
	wr_state *st = open_st(path);
	assert_int_equal(
	    wr_state_import(st, base, (uint16_t)first, (uint16_t)last, NULL),
	    WR_OK);
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, deltas[i]);
		assert_int_equal(wr_state_apply_delta(st, path, (uint16_t)first,
		                                      (uint16_t)last, NULL),
		                 WR_OK);
	}
	return st;
}

static void
test_base_and_deltas_restore_exactly(void **state)
{
	const char *dir = *state;
	char sdir[512];
	static ref rf;
	unsigned seed = 7;
	snprintf(sdir, sizeof(sdir), "%s/st", dir);
	wr_state *st = open_st(sdir);
	wr_state_track_changes(st);
	for (int i = 0; i < NKEYS; i++)
		put_key(st, &rf, i, 0);
	wr_state_changes_free(checkpoint(st, dir, "base", true, NULL));
	const char *names[NROUNDS] = {"d1", "d2", "d3", "d4", "d5", "d6"};
	for (int r = 1; r <= NROUNDS; r++) {
		round_writes(st, &rf, r, &seed);
		wr_state_changes *ch =
		    checkpoint(st, dir, names[r - 1], false, NULL);
		/* a tenth of the keys written, some twice: fewer recorded */
		assert_true(wr_state_changes_count(ch) > 0);
		assert_true(wr_state_changes_count(ch) <= NKEYS / 10);
		wr_state_changes_free(ch);
	}
	/* whole, and split in two by key group (rescaling) */
	wr_state *a = restore(dir, "r-all", 0, NKG - 1, names, NROUNDS);
	check_state(a, &rf, 0, NKG - 1);
	wr_state_close(a);
	wr_state *lo = restore(dir, "r-lo", 0, 63, names, NROUNDS);
	wr_state *hi = restore(dir, "r-hi", 64, NKG - 1, names, NROUNDS);
	check_state(lo, &rf, 0, 63);
	check_state(hi, &rf, 64, NKG - 1);
	wr_state_close(lo);
	wr_state_close(hi);
	wr_state_close(st);
}

/* Checkpoint 2 did not complete: checkpoint 3's delta carries its keys
 * too (merged), and base + d1 + d3 restores checkpoint 3's state. */
static void
test_delta_covers_a_skipped_one(void **state)
{
	const char *dir = *state;
	char sdir[512];
	static ref rf;
	unsigned seed = 11;
	snprintf(sdir, sizeof(sdir), "%s/st", dir);
	wr_state *st = open_st(sdir);
	wr_state_track_changes(st);
	for (int i = 0; i < NKEYS; i++)
		put_key(st, &rf, i, 0);
	wr_state_changes_free(checkpoint(st, dir, "base", true, NULL));
	round_writes(st, &rf, 1, &seed);
	wr_state_changes_free(checkpoint(st, dir, "d1", false, NULL));
	round_writes(st, &rf, 2, &seed);
	wr_state_changes *lost = checkpoint(st, dir, "d2", false, NULL);
	round_writes(st, &rf, 3, &seed);
	wr_state_changes_free(checkpoint(st, dir, "d3", false, lost));
	wr_state_changes_free(lost);
	const char *names[] = {"d1", "d3"};
	wr_state *a = restore(dir, "r", 0, NKG - 1, names, 2);
	check_state(a, &rf, 0, NKG - 1);
	wr_state_close(a);
	wr_state_close(st);
}

/* The delta holds the view's values: writes made after the view opened
 * (while the delta is written) are not in it. */
static void
test_delta_is_the_views(void **state)
{
	const char *dir = *state;
	char sdir[512], path[512];
	static ref rf, at_view;
	snprintf(sdir, sizeof(sdir), "%s/st", dir);
	wr_state *st = open_st(sdir);
	wr_state_track_changes(st);
	for (int i = 0; i < NKEYS; i++)
		put_key(st, &rf, i, 0);
	wr_state_changes_free(checkpoint(st, dir, "base", true, NULL));
	for (int i = 0; i < NKEYS; i += 3)
		put_key(st, &rf, i, 1);
	at_view = rf;
	wr_state_view *v = NULL;
	assert_int_equal(wr_state_view_open(st, &v), WR_OK);
	wr_state_changes *ch = wr_state_view_take_changes(v);
	assert_int_equal(wr_state_changes_count(ch), (NKEYS + 2) / 3);
	for (int i = 0; i < NKEYS; i += 3) /* after the barrier */
		i % 2 ? put_key(st, &rf, i, 2) : del_key(st, &rf, i);
	assert_int_equal(wr_state_flush(st), WR_OK);
	snprintf(path, sizeof(path), "%s/d1", dir);
	assert_int_equal(wr_state_view_write_delta(v, ch, path, NULL), WR_OK);
	wr_state_view_close(v);
	wr_state_changes_free(ch);
	const char *names[] = {"d1"};
	wr_state *a = restore(dir, "r", 0, NKG - 1, names, 1);
	check_state(a, &at_view, 0, NKG - 1);
	wr_state_close(a);
	/* the writes after the barrier are the next view's changes */
	assert_int_equal(wr_state_view_open(st, &v), WR_OK);
	ch = wr_state_view_take_changes(v);
	assert_int_equal(wr_state_changes_count(ch), (NKEYS + 2) / 3);
	wr_state_changes_free(ch);
	wr_state_view_close(v);
	wr_state_close(st);
}

/* A truncated or flipped delta: WR_ECORRUPT, and nothing applied. */
static void
test_damaged_delta_refused(void **state)
{
	const char *dir = *state;
	char sdir[512], path[512];
	static ref rf;
	snprintf(sdir, sizeof(sdir), "%s/st", dir);
	wr_state *st = open_st(sdir);
	wr_state_track_changes(st);
	for (int i = 0; i < 200; i++)
		put_key(st, &rf, i, 0);
	wr_state_changes_free(checkpoint(st, dir, "d1", false, NULL));
	snprintf(path, sizeof(path), "%s/d1", dir);
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	static unsigned char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 100 && n < sizeof(buf));
	char bad[512];
	snprintf(bad, sizeof(bad), "%s/bad", dir);
	size_t cuts[] = {0, 7, n / 2, n - 1};
	for (int c = 0; c < 5; c++) {
		f = fopen(bad, "wb");
		assert_non_null(f);
		if (c < 4) {
			fwrite(buf, 1, cuts[c], f);
		} else {
			buf[n / 3] ^= 0x20;
			fwrite(buf, 1, n, f);
		}
		fclose(f);
		char rdir[512];
		snprintf(rdir, sizeof(rdir), "%s/r%d", dir, c);
		wr_state *r = open_st(rdir);
		uint64_t applied = 99;
		assert_int_equal(
		    wr_state_apply_delta(r, bad, 0, NKG - 1, &applied),
		    WR_ECORRUPT);
		assert_int_equal(applied, 0);
		wr_state_close(r);
	}
	/* a backend that does not track has no changes to hand over */
	wr_state_view *v = NULL;
	char odir[512];
	snprintf(odir, sizeof(odir), "%s/untracked", dir);
	wr_state *u = open_st(odir);
	assert_int_equal(wr_state_view_open(u, &v), WR_OK);
	wr_state_changes *ch = wr_state_view_take_changes(v);
	assert_null(ch);
	assert_true(wr_state_changes_overflowed(ch));
	wr_state_view_close(v);
	wr_state_close(u);
	wr_state_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    WRT_TEST_TMPDIR(test_base_and_deltas_restore_exactly),
	    WRT_TEST_TMPDIR(test_delta_covers_a_skipped_one),
	    WRT_TEST_TMPDIR(test_delta_is_the_views),
	    WRT_TEST_TMPDIR(test_damaged_delta_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
