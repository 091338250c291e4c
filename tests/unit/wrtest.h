/*
 * wrtest.h - fixtures the unit tests share: a replayable random sequence,
 * value constructors, temporary directories and files, job specs parsed
 * from YAML strings, one operator driven directly, loopback sockets,
 * bounded waits and a real etcd.
 *
 * Include after <cmocka.h>: the helpers fail the running test through
 * cmocka, except those a test may call from its own threads (they return
 * an error instead, see each one).
 */
#ifndef WRTEST_H
#define WRTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "jobspec.h"
#include "record.h"
#include "task.h"
#include "task_int.h"
#include "tm_int.h"

/* A check in a test's own threads, where cmocka's longjmp must not be
 * used: prints where and aborts. */
#define WRT_CHECK(cond)                                                        \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, \
			        __LINE__, #cond);                              \
			abort();                                               \
		}                                                              \
	} while (0)

/* ---- random ---- */

/* xorshift64*: the same sequence on every machine, so a failure can be
 * replayed from its seed. *s must not be 0. */
uint64_t wrt_rng(uint64_t *s);

/* A draw below n (0 when n is 0, without drawing). */
uint64_t wrt_rng_below(uint64_t *s, uint64_t n);

/* ---- values ---- */

wr_value wrt_vnull(void);
wr_value wrt_vlong(int64_t i);
wr_value wrt_vts(int64_t ms);
wr_value wrt_vdouble(double d);
wr_value wrt_vbool(bool b);
/* A string value pointing at s (not copied). */
wr_value wrt_vstr(const char *s);
wr_value wrt_vstrn(const char *p, size_t len);

/* The order min and max aggregates keep, written out for reference
 * results: doubles as Java's Double.compare (NaN above everything, -0.0
 * below 0.0), strings bytewise then by length; a and b have one type.
 * Returns -1, 0 or 1. */
int wrt_value_cmp(const wr_value *a, const wr_value *b);

/* ---- files ---- */

/* Creates /tmp/weir-<what>-test-XXXXXX into out (remove it with
 * wr_rmtree). Returns 0, or -1 (for a cmocka setup to return). */
int wrt_tmpdir(char *out, size_t len, const char *what);

/* A cmocka setup/teardown pair: a fresh /tmp/weir-unit-test-<random> per
 * test, its path (char *, WRT_TMPDIR_LEN bytes) in *state; the teardown
 * removes it. */
#define WRT_TMPDIR_LEN 256
int wrt_setup_tmpdir(void **state);
int wrt_teardown_tmpdir(void **state);
#define WRT_TEST_TMPDIR(fn)                                                    \
	cmocka_unit_test_setup_teardown(fn, wrt_setup_tmpdir,                  \
	                                wrt_teardown_tmpdir)

/* Writes text to a new temporary file whose name goes to path (at least
 * WRT_TMPFILE_LEN bytes); fails the test when it cannot. */
#define WRT_TMPFILE_LEN 64
void wrt_tmpfile(char *path, const char *what, const char *text);

/* ---- jobs ---- */

/* The file name job specs parsed from strings carry in their errors. */
#define WRT_JOB_FILE "t.yaml"

/* Parses yaml (override: the -p parallelism, 0 for none); fails the test
 * with the parser's message when it does not parse. */
wr_jobspec *wrt_job(const char *yaml, int override);

/* Expects yaml to be refused with WR_EINVAL and a message that starts with
 * prefix and contains what. */
void wrt_job_bad(const char *yaml, const char *prefix, const char *what);

/* One operator of a job driven directly: its task, the task's spec and a
 * TaskManager with a zeroed configuration; op is its context (op.h), and
 * op.vt and op.self are set once it is open. */
typedef struct wrt_op {
	wr_jobspec *job;
	tm_task_spec spec;
	tm_task task;
	tm_ctx op;
	tm_server tm;
} wrt_op;

/* Parses yaml and points op at node `node`, as subtask `subtask` of vertex
 * `vertex` of job job_id; the test opens the operator (wrt_op_open). */
void wrt_op_init(wrt_op *h, const char *yaml, const char *node,
                 const char *job_id, int vertex, int subtask);

/* Opens the operator vt on the node, with the task's configuration as
 * the spec says now. Returns what vt->open does (errbuf: why). */
int wrt_op_open(wrt_op *h, const tm_op_vt *vt, char *errbuf, size_t errlen);

/* A crash: the operator goes away without finishing. */
void wrt_op_destroy(wrt_op *h);

/* wrt_op_destroy, then the job. */
void wrt_op_free(wrt_op *h);

/* Each fails the test with the task's failure message on an error. */
void wrt_op_push(wrt_op *h, const wr_row *r);
void wrt_op_snapshot(wrt_op *h, uint64_t ckpt, wr_buf *state);
void wrt_op_commit(wrt_op *h, uint64_t ckpt);
void wrt_op_finish(wrt_op *h);

/* ---- sockets and waiting (safe from any thread) ---- */

/* A TCP connection to a loopback port, or -1. */
int wrt_tcp_connect(int port);

/* A loopback port nothing listens on: bound (the fd goes to *fd, the
 * caller closes it; the port refuses connections while it stays open) or
 * -1. */
int wrt_bound_port(int *fd);

/* Polls cond every 2 ms until it holds (true) or timeout_ms passed
 * (false). */
bool wrt_wait(bool (*cond)(void *), void *arg, int timeout_ms);

/* A free loopback TCP port (bound, read and closed), or -1. */
int wrt_free_port(void);

/* ---- etcd ---- */

/* A single-member etcd (Debian's etcd-server) in a temporary directory
 * (its log in dir/etcd.log), on free loopback ports. */
typedef struct wrt_etcd {
	int pid;
	char dir[64];
	char url[64]; /* the client URL */
} wrt_etcd;

/* Starts it and polls (bounded, 15 s) until it grants a lease. Returns 0,
 * or -1 (for a cmocka setup to return). */
int wrt_etcd_start(wrt_etcd *e);

/* Kills it and removes its directory. */
void wrt_etcd_stop(wrt_etcd *e);

#endif
