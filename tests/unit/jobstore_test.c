/*
 * jobstore_test.c - the job store (jobmanager/jobstore.h): entries written
 * and read back whole, removed, the epoch counter of the checkpoint-storage
 * backend (one more per start), unreadable entries reported with their
 * reason and id; the etcd backend against a real etcd (wrtest.h): epoch =
 * the leader key's create revision, writes and removals of a deposed
 * leader refused; the fenced checkpoint-storage backend (mode
 * kubernetes): the given epoch, not the counter, writes refused once the
 * writer no longer holds the Lease or when a newer epoch wrote the entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "wrtest.h"

#include "err.h"
#include "etcd.h"
#include "fsutil.h"
#include "jobstore.h"
#include "objstore.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define ID_A   "0123456789abcdef0123456789abcdef"
#define ID_B   "fedcba9876543210fedcba9876543210"
#define LEADER "/weir/t1/leader"

static wrt_etcd g_e;

static jm_jobstore_entry
entry(const char *id)
{
	static char *tms[] = {"tm-1", "tm-2"};
	jm_jobstore_entry e = {
	    .name = "orders",
	    .file = "orders.yaml",
	    .yaml = "name: orders\n# \"quoted\" \\ and\ttabs\n",
	    .parallelism_override = 3,
	    .from_savepoint = "file:///sp/savepoint-1",
	    .allow_non_restored = true,
	    .state = "RUNNING",
	    .attempt = 4,
	    .restarts = 2,
	    .start_ms = 1796000000123,
	    .failure = "task 0/1 failed",
	    .tms = tms,
	    .ntms = 2,
	    .checkpoint_id = 17,
	    .checkpoint_url = "file:///ck/x/chk-17",
	    .next_checkpoint_id = 81,
	};
	snprintf(e.id, sizeof(e.id), "%s", id);
	return e;
}

static void
check_entry(const jm_jobstore_entry *got, const char *id, uint64_t epoch)
{
	jm_jobstore_entry want = entry(id);
	assert_null(got->corrupt);
	assert_string_equal(got->id, id);
	assert_int_equal(got->epoch, epoch);
	assert_string_equal(got->name, want.name);
	assert_string_equal(got->file, want.file);
	assert_string_equal(got->yaml, want.yaml);
	assert_int_equal(got->parallelism_override, 3);
	assert_string_equal(got->from_savepoint, want.from_savepoint);
	assert_true(got->allow_non_restored);
	assert_string_equal(got->state, "RUNNING");
	assert_int_equal(got->attempt, 4);
	assert_int_equal(got->restarts, 2);
	assert_int_equal(got->start_ms, 1796000000123);
	assert_string_equal(got->failure, want.failure);
	assert_int_equal(got->ntms, 2);
	assert_string_equal(got->tms[1], "tm-2");
	assert_int_equal(got->checkpoint_id, 17);
	assert_string_equal(got->checkpoint_url, want.checkpoint_url);
	assert_int_equal(got->next_checkpoint_id, 81);
}

static jm_jobstore *
open_file(const char *dir)
{
	char url[128], err[256] = "";
	jm_jobstore *s = NULL;
	snprintf(url, sizeof(url), "file://%s", dir);
	assert_int_equal(jm_jobstore_open_objstore(url, &s, err, sizeof(err)),
	                 WR_OK);
	return s;
}

/* Put, read back, epochs across starts, remove. */
static void
test_file_roundtrip_and_epochs(void **state)
{
	(void)state;
	char dir[64], err[256] = "";
	assert_int_equal(wrt_tmpdir(dir, sizeof(dir), "jobstore"), 0);
	jm_jobstore *s = open_file(dir);
	uint64_t epoch = 0;
	assert_int_equal(jm_jobstore_begin(s, &epoch, err, sizeof(err)), WR_OK);
	assert_int_equal(epoch, 1);
	jm_jobstore_entry e = entry(ID_A);
	assert_int_equal(jm_jobstore_put(s, &e, err, sizeof(err)), WR_OK);
	jm_jobstore_entry *v = NULL;
	size_t n = 0;
	assert_int_equal(jm_jobstore_load(s, &v, &n, err, sizeof(err)), WR_OK);
	assert_int_equal(n, 1);
	check_entry(&v[0], ID_A, 1);
	jm_jobstore_entries_free(v, n);
	jm_jobstore_close(s);

	/* the next start: a higher epoch, stamped on what it writes */
	s = open_file(dir);
	assert_int_equal(jm_jobstore_begin(s, &epoch, err, sizeof(err)), WR_OK);
	assert_int_equal(epoch, 2);
	e = entry(ID_B);
	e.checkpoint_url = NULL;
	e.from_savepoint = NULL;
	assert_int_equal(jm_jobstore_put(s, &e, err, sizeof(err)), WR_OK);
	assert_int_equal(jm_jobstore_load(s, &v, &n, err, sizeof(err)), WR_OK);
	assert_int_equal(n, 2);
	check_entry(&v[0], ID_A, 1);
	assert_string_equal(v[1].id, ID_B);
	assert_int_equal(v[1].epoch, 2);
	assert_null(v[1].checkpoint_url);
	assert_int_equal(v[1].checkpoint_id, 0);
	assert_null(v[1].from_savepoint);
	jm_jobstore_entries_free(v, n);

	assert_int_equal(jm_jobstore_remove(s, ID_A, err, sizeof(err)), WR_OK);
	assert_int_equal(jm_jobstore_remove(s, ID_A, err, sizeof(err)), WR_OK);
	assert_int_equal(jm_jobstore_load(s, &v, &n, err, sizeof(err)), WR_OK);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, ID_B);
	jm_jobstore_entries_free(v, n);
	jm_jobstore_close(s);
	wr_rmtree(dir);
}

/* Garbage, another format and a missing field are reported with the
 * reason and the id of their key; the readable entry still loads. */
static void
test_file_corrupt_entries(void **state)
{
	(void)state;
	char dir[64], url[128], err[256] = "";
	assert_int_equal(wrt_tmpdir(dir, sizeof(dir), "jobstore"), 0);
	snprintf(url, sizeof(url), "file://%s", dir);
	wr_objstore *os = NULL;
	assert_int_equal(wr_objstore_open(url, &os, err, sizeof(err)), WR_OK);
	const char *bad[][2] = {
	    {"jobstore/jobs/" ID_A ".json", "{\"format\":1,\"id\":"},
	    {"jobstore/jobs/" ID_B ".json",
	     "{\"format\":99,\"id\":\"" ID_B "\"}"},
	    {"jobstore/jobs/11111111111111111111111111111111.json",
	     "{\"format\":1,\"epoch\":1}"},
	};
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(wr_objstore_put(os, bad[i][0], bad[i][1],
		                                 strlen(bad[i][1]), err,
		                                 sizeof(err)),
		                 WR_OK);
	assert_int_equal(
	    wr_objstore_put(os, "jobstore/epoch", "x\n", 2, err, sizeof(err)),
	    WR_OK);
	wr_objstore_close(os);
	jm_jobstore *s = open_file(dir);
	uint64_t epoch = 0;
	assert_int_equal(jm_jobstore_begin(s, &epoch, err, sizeof(err)),
	                 WR_ECORRUPT);
	jm_jobstore_entry e = entry("22222222222222222222222222222222");
	assert_int_equal(jm_jobstore_put(s, &e, err, sizeof(err)), WR_OK);
	jm_jobstore_entry *v = NULL;
	size_t n = 0;
	assert_int_equal(jm_jobstore_load(s, &v, &n, err, sizeof(err)), WR_OK);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].id, ID_A);
	assert_non_null(strstr(v[0].corrupt, "not JSON"));
	assert_string_equal(v[1].id, "11111111111111111111111111111111");
	assert_non_null(strstr(v[1].corrupt, "id"));
	assert_null(v[2].corrupt);
	assert_string_equal(v[3].id, ID_B);
	assert_non_null(strstr(v[3].corrupt, "format 99"));
	jm_jobstore_entries_free(v, n);
	jm_jobstore_close(s);
	wr_rmtree(dir);
}

/* The Lease as the fenced store sees it: held at epoch g_held_epoch
 * while g_held. */
static bool g_held;
static uint64_t g_held_epoch;

static bool
holds(void *arg, uint64_t epoch)
{
	(void)arg;
	return g_held && epoch == g_held_epoch;
}

static jm_jobstore *
open_fenced(const char *dir, uint64_t epoch)
{
	char url[128], err[256] = "";
	jm_jobstore *s = NULL;
	snprintf(url, sizeof(url), "file://%s", dir);
	assert_int_equal(jm_jobstore_open_objstore_fenced(
	                     url, epoch, holds, NULL, &s, err, sizeof(err)),
	                 WR_OK);
	return s;
}

/* Mode kubernetes: the Lease's epoch, writes refused past the deadline
 * and over a newer leader's entry. */
static void
test_file_fenced(void **state)
{
	(void)state;
	char dir[64], err[256] = "";
	assert_int_equal(wrt_tmpdir(dir, sizeof(dir), "jobstore"), 0);
	jm_jobstore *old = open_fenced(dir, 4), *cur = NULL;
	uint64_t epoch = 0;
	assert_int_equal(jm_jobstore_begin(old, &epoch, err, sizeof(err)),
	                 WR_OK);
	assert_int_equal(epoch, 4); /* the Lease's, not the counter's */
	char path[128];
	snprintf(path, sizeof(path), "%s/jobstore/epoch", dir);
	assert_int_not_equal(access(path, F_OK), 0);
	g_held = true;
	g_held_epoch = 4;
	jm_jobstore_entry e = entry(ID_A), e2 = entry(ID_B);
	assert_int_equal(jm_jobstore_put(old, &e, err, sizeof(err)), WR_OK);
	assert_int_equal(jm_jobstore_put(old, &e2, err, sizeof(err)), WR_OK);
	/* its deadline passed: nothing more from epoch 4 */
	g_held = false;
	assert_int_equal(jm_jobstore_put(old, &e, err, sizeof(err)), WR_EPERM);
	assert_non_null(strstr(err, "no longer holds"));
	assert_int_equal(jm_jobstore_remove(old, ID_B, err, sizeof(err)),
	                 WR_EPERM);
	/* a newer leader writes A; the old one, believing it holds again,
	 * cannot replace it: the stored epoch is higher */
	cur = open_fenced(dir, 6);
	g_held = true;
	g_held_epoch = 6;
	assert_int_equal(jm_jobstore_put(cur, &e, err, sizeof(err)), WR_OK);
	g_held_epoch = 4;
	assert_int_equal(jm_jobstore_put(old, &e, err, sizeof(err)), WR_EPERM);
	assert_non_null(strstr(err, "epoch 6"));
	assert_int_equal(jm_jobstore_remove(old, ID_A, err, sizeof(err)),
	                 WR_EPERM);
	/* an entry of a lower epoch (B, 4) is the newer leader's to take */
	g_held_epoch = 6;
	assert_int_equal(jm_jobstore_put(cur, &e2, err, sizeof(err)), WR_OK);
	jm_jobstore_entry *v = NULL;
	size_t n = 0;
	assert_int_equal(jm_jobstore_load(cur, &v, &n, err, sizeof(err)),
	                 WR_OK);
	assert_int_equal(n, 2);
	check_entry(&v[0], ID_A, 6);
	check_entry(&v[1], ID_B, 6);
	jm_jobstore_entries_free(v, n);
	assert_int_equal(jm_jobstore_remove(cur, ID_A, err, sizeof(err)),
	                 WR_OK);
	jm_jobstore_close(old);
	jm_jobstore_close(cur);
	wr_rmtree(dir);
}

static int
setup_etcd(void **state)
{
	(void)state;
	return wrt_etcd_start(&g_e);
}

static int
teardown_etcd(void **state)
{
	(void)state;
	wrt_etcd_stop(&g_e);
	return 0;
}

/* A leader with lease *lease; returns the leader key's create revision. */
static int64_t
lead(wr_etcd *e, const char *who, int64_t *lease)
{
	wr_etcd_kv h = {0};
	assert_int_equal(wr_etcd_lease_grant(e, 30, lease), WR_OK);
	assert_int_equal(wr_etcd_campaign(e, LEADER, who, *lease, &h), WR_OK);
	assert_int_equal(h.lease, *lease);
	int64_t rev = h.create_rev;
	wr_etcd_kv_fini(&h);
	return rev;
}

/* Entries under /weir/<cluster>/jobs/, stamped with the leader's epoch;
 * once another leader took over, the deposed one writes nothing. */
static void
test_etcd_fenced(void **state)
{
	(void)state;
	char err[256] = "";
	wr_etcd *e = NULL;
	assert_int_equal(wr_etcd_new(g_e.url, 2000, &e, err, sizeof(err)),
	                 WR_OK);
	int64_t la = 0, lb = 0;
	int64_t rev_a = lead(e, "jm-a", &la);
	jm_jobstore *a = NULL, *b = NULL;
	assert_int_equal(jm_jobstore_open_etcd(e, "t1/x", LEADER, rev_a, &a,
	                                       err, sizeof(err)),
	                 WR_EINVAL);
	assert_int_equal(
	    jm_jobstore_open_etcd(e, "t1", LEADER, rev_a, &a, err, sizeof(err)),
	    WR_OK);
	uint64_t epoch = 0;
	assert_int_equal(jm_jobstore_begin(a, &epoch, err, sizeof(err)), WR_OK);
	assert_int_equal(epoch, (uint64_t)rev_a);
	jm_jobstore_entry ea = entry(ID_A), eb = entry(ID_B);
	assert_int_equal(jm_jobstore_put(a, &ea, err, sizeof(err)), WR_OK);
	assert_int_equal(jm_jobstore_put(a, &eb, err, sizeof(err)), WR_OK);
	wr_etcd_kv kv = {0};
	assert_int_equal(wr_etcd_get(e, "/weir/t1/jobs/" ID_A, &kv), WR_OK);
	wr_etcd_kv_fini(&kv);

	/* a takes leave; b leads at a higher epoch */
	assert_int_equal(wr_etcd_lease_revoke(e, la), WR_OK);
	int64_t rev_b = lead(e, "jm-b", &lb);
	assert_true(rev_b > rev_a);
	assert_int_equal(
	    jm_jobstore_open_etcd(e, "t1", LEADER, rev_b, &b, err, sizeof(err)),
	    WR_OK);
	jm_jobstore_entry *v = NULL;
	size_t n = 0;
	assert_int_equal(jm_jobstore_load(b, &v, &n, err, sizeof(err)), WR_OK);
	assert_int_equal(n, 2);
	check_entry(&v[0], ID_A, (uint64_t)rev_a);
	jm_jobstore_entries_free(v, n);
	assert_int_equal(jm_jobstore_put(a, &ea, err, sizeof(err)), WR_EPERM);
	assert_non_null(strstr(err, "fenced"));
	assert_int_equal(jm_jobstore_remove(a, ID_B, err, sizeof(err)),
	                 WR_EPERM);
	assert_int_equal(jm_jobstore_put(b, &ea, err, sizeof(err)), WR_OK);
	assert_int_equal(jm_jobstore_remove(b, ID_B, err, sizeof(err)), WR_OK);
	assert_int_equal(jm_jobstore_load(b, &v, &n, err, sizeof(err)), WR_OK);
	assert_int_equal(n, 1);
	check_entry(&v[0], ID_A, (uint64_t)rev_b);
	jm_jobstore_entries_free(v, n);
	assert_int_equal(wr_etcd_lease_revoke(e, lb), WR_OK);
	jm_jobstore_close(a);
	jm_jobstore_close(b);
	wr_etcd_free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_file_roundtrip_and_epochs),
	    cmocka_unit_test(test_file_corrupt_entries),
	    cmocka_unit_test(test_file_fenced),
	    cmocka_unit_test_setup_teardown(test_etcd_fenced, setup_etcd,
	                                    teardown_etcd),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
