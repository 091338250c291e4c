/*
 * state_view_test.c - checkpoint views of the keyed state: a view opened
 * at the barrier and copied on another thread holds exactly the state at
 * the barrier while the task goes on overwriting, deleting and adding;
 * one view at a time; closing the backend waits for the view.
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

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NKEYS 50000 /* a file of several of the copy's 4 MiB chunks */
#define NKG   64

/* A small cache (flushes all the time) and a map trimmed at every check,
 * so the copy reads pages the task's thread unmaps under it. The map is
 * big enough for the rounds written while a copy is paused: one that had
 * to grow would wait for the copy (state.h). */
static wr_state *
open_st(const char *dir)
{
	wr_state_opts o = {.cache_bytes = 64 << 10,
	                   .initial_map_bytes = (size_t)1 << 30,
	                   .map_resident_bytes = 1};
	wr_state *st = NULL;

	assert_int_equal(wr_state_open(dir, &o, &st), WR_OK);
	return st;
}

static void
key_of(int i, char *k, size_t n)
{
	snprintf(k, n, "key-%06d", i);
}

/* The value of key i in round r, of a length that changes with r. */
static void
val_of(int i, int r, char *v, size_t n)
{
	snprintf(
	    v, n, "r%d-%d-%.*s", r, i, (r * 37 + i) % 60,
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
}

static void
put_i(wr_state *st, int i, int r)
{
	char k[32], v[96];

	key_of(i, k, sizeof(k));
	val_of(i, r, v, sizeof(v));
	assert_int_equal(wr_state_put(st, (uint16_t)(i % NKG), 1, k, strlen(k),
	                              v, strlen(v)),
	                 WR_OK);
}

static void
del_i(wr_state *st, int i)
{
	char k[32];

	key_of(i, k, sizeof(k));
	assert_int_equal(wr_state_del(st, (uint16_t)(i % NKG), 1, k, strlen(k)),
	                 WR_OK);
}

/* Expects key i to hold its value of round r (r < 0: absent). */
static void
expect_i(wr_state *st, int i, int r)
{
	char k[32], v[96];
	const void *got;
	size_t glen;

	key_of(i, k, sizeof(k));
	int rv =
	    wr_state_get(st, (uint16_t)(i % NKG), 1, k, strlen(k), &got, &glen);
	if (r < 0) {
		assert_int_equal(rv, WR_ENOENT);
		return;
	}
	assert_int_equal(rv, WR_OK);
	val_of(i, r, v, sizeof(v));
	assert_int_equal(glen, strlen(v));
	assert_memory_equal(got, v, glen);
}

/* ---- the copy's thread, paused between two batches ---- */

typedef struct copier {
	wr_state_view *v;
	const char *dir;
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool paused, go;
	uint64_t at_pause; /* bytes copied when it paused */
	int rv;
} copier;

static int
copier_tick(void *arg, uint64_t copied)
{
	copier *c = arg;

	pthread_mutex_lock(&c->mu);
	if (!c->paused) {
		c->paused = true;
		c->at_pause = copied;
		pthread_cond_broadcast(&c->cv);
		while (!c->go)
			pthread_cond_wait(&c->cv, &c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

static void *
copier_main(void *arg)
{
	copier *c = arg;

	c->rv = wr_state_view_write(c->v, c->dir, copier_tick, c);
	wr_state_view_close(c->v);
	return NULL;
}

static bool
copier_paused(void *arg)
{
	copier *c = arg;

	pthread_mutex_lock(&c->mu);
	bool p = c->paused;
	pthread_mutex_unlock(&c->mu);
	return p;
}

static void
copier_start(copier *c, wr_state_view *v, const char *dir)
{
	memset(c, 0, sizeof(*c));
	c->v = v;
	c->dir = dir;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	assert_int_equal(pthread_create(&c->th, NULL, copier_main, c), 0);
	assert_true(wrt_wait(copier_paused, c, 30000));
}

static void
copier_finish(copier *c)
{
	pthread_mutex_lock(&c->mu);
	c->go = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
	assert_int_equal(pthread_join(c->th, NULL), 0);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
}

/* ---- tests ---- */

/* Round of each key at the barrier: i % 7 == 0 deleted, the rest round 0
 * or (i % 3 == 0) round 1. */
static int
round_at_barrier(int i)
{
	if (i % 7 == 0)
		return -1;
	return i % 3 == 0 ? 1 : 0;
}

/* Every key of the snapshot in snap holds its round at the barrier,
 * and nothing else is there. */
static void
expect_barrier_state(const char *snap, const char *scratch)
{
	wr_state *r = open_st(scratch);
	uint64_t n = 0, want = 0;

	assert_int_equal(wr_state_import(r, snap, 0, NKG - 1, &n), WR_OK);
	for (int i = 0; i < NKEYS; i++) {
		expect_i(r, i, round_at_barrier(i));
		want += round_at_barrier(i) >= 0;
	}
	assert_int_equal(n, want); /* no key written after the barrier */
	wr_state_close(r);
}

/* Round r after the barrier: every key overwritten but a fifth deleted
 * (some deleted at the barrier come back), 2000 new keys; flushed. */
static void
after_barrier(wr_state *st, int r)
{
	for (int i = 0; i < NKEYS; i++)
		if (i % 5 == r % 5)
			del_i(st, i);
		else
			put_i(st, i, r);
	for (int i = NKEYS; i < NKEYS + 2000; i++)
		put_i(st, i, r);
	assert_int_equal(wr_state_flush(st), WR_OK);
}

/* The view is the barrier's: the task writes a round before the copy
 * starts (a view that began with the copy would hold it), and the copy,
 * paused after its first chunk, resumes after three more rounds (each
 * flushed, so LMDB reuses every page no view pins, and the file grows
 * past the view's end); it holds none of them. */
static void
test_view_is_the_barriers(void **state)
{
	char a[512], snap[512], b[512];
	snprintf(a, sizeof(a), "%s/a", (char *)*state);
	snprintf(snap, sizeof(snap), "%s/snap", (char *)*state);
	snprintf(b, sizeof(b), "%s/b", (char *)*state);
	wr_state *st = open_st(a);
	for (int i = 0; i < NKEYS; i++)
		put_i(st, i, 0);
	assert_int_equal(wr_state_flush(st), WR_OK);
	for (int i = 0; i < NKEYS; i += 3)
		put_i(st, i, 1);
	for (int i = 0; i < NKEYS; i += 7)
		del_i(st, i); /* dirty in the cache at the barrier */

	wr_state_view *v = NULL;
	assert_int_equal(wr_state_view_open(st, &v), WR_OK);
	/* the task goes on before the copy starts, and while it runs */
	after_barrier(st, 2);
	copier c;
	copier_start(&c, v, snap);
	assert_true(c.at_pause > 0); /* and more to copy: called between */
	for (int r = 3; r < 6; r++)
		after_barrier(st, r);
	copier_finish(&c);
	assert_int_equal(c.rv, WR_OK);

	/* the task's state is the newest round */
	for (int i = 0; i < NKEYS + 2000; i++)
		expect_i(st, i, i < NKEYS && i % 5 == 0 ? -1 : 5);
	wr_state_close(st);
	expect_barrier_state(snap, b);
}

/* One view at a time; a closed one makes room for the next, and
 * wr_state_snapshot copies the state as it is. */
static void
test_one_view(void **state)
{
	char a[512], s1[512], s2[512], b[512];
	snprintf(a, sizeof(a), "%s/a", (char *)*state);
	snprintf(s1, sizeof(s1), "%s/s1", (char *)*state);
	snprintf(s2, sizeof(s2), "%s/s2", (char *)*state);
	snprintf(b, sizeof(b), "%s/b", (char *)*state);
	wr_state *st = open_st(a);
	for (int i = 0; i < NKEYS; i++)
		put_i(st, i, round_at_barrier(i) < 0 ? 0 : round_at_barrier(i));
	for (int i = 0; i < NKEYS; i += 7)
		del_i(st, i);
	wr_state_view *v = NULL, *w = NULL;
	assert_int_equal(wr_state_view_open(st, &v), WR_OK);
	assert_int_equal(wr_state_view_open(st, &w), WR_ESTATE);
	assert_null(w);
	assert_int_equal(wr_state_snapshot(st, s1), WR_ESTATE);
	assert_int_equal(wr_state_view_write(v, s1, NULL, NULL), WR_OK);
	wr_state_view_close(v);
	assert_int_equal(wr_state_snapshot(st, s2), WR_OK);
	put_i(st, NKEYS, 0); /* after both: in neither */
	wr_state_close(st);
	expect_barrier_state(s1, b);
	wr_rmtree(b);
	expect_barrier_state(s2, b);
}

typedef struct closer {
	wr_state *st;
	pthread_t th;
	atomic_bool done;
} closer;

static void *
closer_main(void *arg)
{
	closer *c = arg;

	wr_state_close(c->st);
	atomic_store(&c->done, true);
	return NULL;
}

static bool
closer_done(void *arg)
{
	return atomic_load(&((closer *)arg)->done);
}

/* Closing the backend while its view is copied stops the copy and waits
 * for the view's close (the environment must outlive it). */
static void
test_close_waits_for_view(void **state)
{
	char a[512], snap[512];
	snprintf(a, sizeof(a), "%s/a", (char *)*state);
	snprintf(snap, sizeof(snap), "%s/snap", (char *)*state);
	wr_state *st = open_st(a);
	for (int i = 0; i < NKEYS; i++)
		put_i(st, i, 0);
	wr_state_view *v = NULL;
	assert_int_equal(wr_state_view_open(st, &v), WR_OK);
	copier c;
	copier_start(&c, v, snap);
	closer cl = {.st = st};
	assert_int_equal(pthread_create(&cl.th, NULL, closer_main, &cl), 0);
	/* the copy is paused with its view open: the close cannot end */
	assert_false(wrt_wait(closer_done, &cl, 300));
	copier_finish(&c);
	assert_true(c.rv == WR_OK || c.rv == WR_ECLOSED);
	assert_int_equal(pthread_join(cl.th, NULL), 0);
	assert_true(atomic_load(&cl.done));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    WRT_TEST_TMPDIR(test_view_is_the_barriers),
	    WRT_TEST_TMPDIR(test_one_view),
	    WRT_TEST_TMPDIR(test_close_waits_for_view),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
