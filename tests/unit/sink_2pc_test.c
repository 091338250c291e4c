/*
 * sink_2pc_test.c - the two-phase-commit sink skeleton
 * (taskmanager/sink_2pc.c) over a fake backend that records every step
 * it is asked for: leftovers aborted on a start, a transaction begun
 * before the first record, pre-committed on the barrier and listed in the
 * snapshot, committed oldest first on completion, recovered on restore,
 * aborted and dropped on close, and failures that stick.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sink_2pc.h"
#include "task_int.h"

#include "err.h"
#include "varint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAKE_V1 7

/* The fake backend: transactions are numbers, every step is logged as
 * "step arg;" in log. */
typedef struct fake {
	tm_2pc *x;
	char log[2048];
	int next_txn;           /* the number of the open transaction */
	bool fail_commit;       /* commit fails the task */
	bool precommit_timeout; /* precommit declines once, not failing */
} fake;

static void fake_log(fake *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fake_log(fake *f, const char *fmt, ...)
{
	size_t n = strlen(f->log);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->log + n, sizeof(f->log) - n, fmt, ap);
	va_end(ap);
}

static int
fake_begin(void *b)
{
	fake *f = b;
	fake_log(f, "begin %d;", ++f->next_txn);
	return WR_OK;
}

static int
fake_write(void *b, const wr_row *r)
{
	fake_log(b, "write %lld;", (long long)r->v[0].u.i);
	return WR_OK;
}

static int
fake_precommit(void *b, uint64_t ckpt, bool *made, void **h)
{
	fake *f = b;
	if (f->precommit_timeout) {
		f->precommit_timeout = false;
		fake_log(f, "precommit timeout;");
		return WR_ETIMEDOUT;
	}
	fake_log(f, "precommit %d@%llu;", f->next_txn,
	         (unsigned long long)ckpt);
	*made = true;
	*h = (void *)(uintptr_t)f->next_txn;
	return WR_OK;
}

static int
fake_commit(void *b, const tm_2pc_txn *txn)
{
	fake *f = b;
	if (f->fail_commit)
		return tm_2pc_fail(f->x, WR_EUNREACHABLE, "commit of %d failed",
		                   (int)(uintptr_t)txn->h);
	fake_log(f, "commit %d@%llu;", (int)(uintptr_t)txn->h,
	         (unsigned long long)txn->ckpt);
	return WR_OK;
}

static int
fake_commit_open(void *b)
{
	fake *f = b;
	fake_log(f, "commit_open %d;", f->next_txn);
	return WR_OK;
}

static void
fake_abort(void *b)
{
	fake *f = b;
	fake_log(f, "abort %d;", f->next_txn);
}

static void
fake_drop(void *b, const tm_2pc_txn *txn)
{
	fake_log(b, "drop %d;", (int)(uintptr_t)txn->h);
}

/* version, the shared head, then the pending transactions' numbers */
static void
fake_encode(void *b, const tm_2pc_head *self, const tm_2pc_txn *pending,
            int npending, wr_buf *out)
{
	(void)b;
	wr_buf_putc(out, FAKE_V1);
	tm_2pc_head_put(out, self);
	wr_varint_put(out, (uint64_t)npending);
	for (int i = 0; i < npending; i++)
		wr_varint_put(out, (uint64_t)(uintptr_t)pending[i].h);
}

static int
fake_decode(void *b, const uint8_t *p, size_t len, tm_2pc_head *h)
{
	(void)b;
	size_t pos = 1;
	uint64_t n, id;
	if (len < 1 || p[0] != FAKE_V1 ||
	    tm_2pc_head_get(p, len, &pos, h, "_", 64) != WR_OK ||
	    wr_varint_get(p, len, &pos, &n) != WR_OK || n > 8)
		return WR_ECORRUPT;
	for (uint64_t i = 0; i < n; i++)
		if (wr_varint_get(p, len, &pos, &id) != WR_OK)
			return WR_ECORRUPT;
	h->npending = (int)n;
	snprintf(h->name, sizeof(h->name), "%s/%s/%d/", h->job_id, h->node,
	         h->subtask);
	return pos == len ? WR_OK : WR_ECORRUPT;
}

static int
fake_recover(void *b, const tm_2pc_head *old, bool same_target)
{
	fake_log(b, "recover %s@%llu %d%s;", old->name,
	         (unsigned long long)old->ckpt, old->npending,
	         same_target ? "" : " other");
	return WR_OK;
}

static int
fake_abort_leftovers(void *b)
{
	fake_log(b, "leftovers;");
	return WR_OK;
}

static int
fake_tick(void *b, int64_t now_ms)
{
	(void)now_ms;
	fake_log(b, "tick;");
	return WR_OK;
}

static void
fake_free(void *b)
{
	fake_log(b, "free;");
}

static const tm_2pc_ops fake_ops = {
    .begin = fake_begin,
    .write = fake_write,
    .precommit = fake_precommit,
    .commit = fake_commit,
    .commit_open = fake_commit_open,
    .abort = fake_abort,
    .drop = fake_drop,
    .encode = fake_encode,
    .decode = fake_decode,
    .recover = fake_recover,
    .abort_leftovers = fake_abort_leftovers,
    .tick = fake_tick,
    .free = fake_free,
};

/* ---- harness --------------------------------------------------------- */

typedef struct harness {
	tm_task_spec spec;
	tm_task task;
	wr_node_spec node;
	tm_ctx op;
	fake f;
} harness;

static void
h_init(harness *h, const char *job_id, int subtask)
{
	char name[TM_2PC_NAME_BYTES];
	memset(h, 0, sizeof(*h));
	snprintf(h->spec.job_id, sizeof(h->spec.job_id), "%s", job_id);
	h->spec.subtask = subtask;
	h->task.spec = &h->spec;
	h->task.conf.job_id = h->spec.job_id;
	h->task.conf.subtask = subtask;
	h->node.id = "out";
	h->op.node = &h->node;
	h->op.task = &h->task;
	snprintf(name, sizeof(name), "%s/out/%d/", job_id, subtask);
	h->f.x = tm_2pc_new(&h->op, &h->node, &fake_ops, &h->f, "fake sink",
	                    name, "t1");
}

/* The steps logged since the last call. */
static void
assert_log(harness *h, const char *want)
{
	if (strcmp(h->f.log, want) != 0)
		fail_msg("steps:\n got: %s\nwant: %s", h->f.log, want);
	h->f.log[0] = '\0';
}

static void
push(harness *h, int64_t v)
{
	wr_row r = {.n = 1};
	r.v[0] = (wr_value){.type = WR_T_LONG, .u.i = v};
	assert_int_equal(tm_2pc_process(h->f.x, 0, &r), WR_OK);
}

static void
snapshot(harness *h, uint64_t ckpt, wr_buf *out)
{
	wr_buf_reset(out);
	int rv = tm_2pc_snapshot(h->f.x, ckpt, out);
	if (rv != WR_OK)
		fail_msg("snapshot %llu: %s", (unsigned long long)ckpt,
		         wr_strerror(rv));
}

static void
destroy(harness *h)
{
	tm_2pc_close(h->f.x);
	h->f.x = NULL;
}

/* ---- tests ----------------------------------------------------------- */

/* A start without restore aborts leftovers first; a transaction begins
 * before its first record, is pre-committed at the barrier and listed in
 * the snapshot; completions commit oldest first, each once. */
static void
test_barrier_and_completion(void **state)
{
	(void)state;
	harness h;
	wr_buf st;
	tm_2pc_head got;
	wr_buf_init(&st);
	h_init(&h, "job", 2);
	assert_int_equal(tm_2pc_tick(h.f.x, 0), WR_OK); /* not started */
	assert_log(&h, "");
	push(&h, 1);
	push(&h, 2);
	assert_log(&h, "leftovers;begin 1;write 1;write 2;");
	assert_int_equal(tm_2pc_tick(h.f.x, 0), WR_OK);
	assert_log(&h, "tick;");
	snapshot(&h, 5, &st);
	assert_log(&h, "precommit 1@5;");
	push(&h, 3);
	snapshot(&h, 6, &st); /* the completion of 5 comes late */
	assert_log(&h, "begin 2;write 3;precommit 2@6;");
	assert_int_equal(tm_2pc_npending(h.f.x), 2);
	memset(&got, 0, sizeof(got));
	assert_int_equal(
	    fake_decode(NULL, (const uint8_t *)st.data, st.len, &got), WR_OK);
	assert_int_equal(got.npending, 2);
	assert_int_equal(got.ckpt, 6);
	assert_int_equal(got.subtask, 2);
	assert_string_equal(got.job_id, "job");
	assert_string_equal(got.node, "out");
	assert_string_equal(got.target, "t1");
	snapshot(&h, 7, &st); /* nothing since 6: nothing pre-committed */
	assert_log(&h, "");
	push(&h, 4);
	snapshot(&h, 8, &st);
	assert_log(&h, "begin 3;write 4;precommit 3@8;");
	assert_int_equal(tm_2pc_notify_complete(h.f.x, 7),
	                 WR_OK); /* covers 5 and 6 */
	assert_log(&h, "commit 1@5;commit 2@6;");
	assert_int_equal(tm_2pc_notify_complete(h.f.x, 7), WR_OK);
	assert_log(&h, "");
	assert_int_equal(tm_2pc_notify_complete(h.f.x, 8), WR_OK);
	assert_log(&h, "commit 3@8;");
	assert_int_equal(tm_2pc_npending(h.f.x), 0);
	destroy(&h);
	assert_log(&h, "free;");
	wr_buf_fini(&st);
}

/* A pre-commit that declines (a flush that timed out) leaves the
 * transaction open for the next barrier; it does not fail the task. */
static void
test_precommit_declined(void **state)
{
	(void)state;
	harness h;
	wr_buf st;
	wr_buf_init(&st);
	h_init(&h, "job", 0);
	push(&h, 1);
	h.f.precommit_timeout = true;
	assert_int_equal(tm_2pc_snapshot(h.f.x, 1, &st), WR_ETIMEDOUT);
	push(&h, 2);
	snapshot(&h, 2, &st);
	assert_log(&h, "leftovers;begin 1;write 1;precommit timeout;write 2;"
	               "precommit 1@2;");
	assert_string_equal(h.task.failure, "");
	destroy(&h);
	wr_buf_fini(&st);
}

/* A sink with transactions 1 and 2 pending (checkpoints 1 and 2) and 3
 * open; the log starts empty. */
static void
h_init_busy(harness *h)
{
	wr_buf st;
	wr_buf_init(&st);
	h_init(h, "job", 0);
	for (int i = 1; i <= 2; i++) {
		push(h, i);
		snapshot(h, (uint64_t)i, &st);
	}
	push(h, 3);
	h->f.log[0] = '\0';
	wr_buf_fini(&st);
}

/* End of input commits the pending transactions, oldest first, then the
 * open one; a close without finish aborts the open one and drops the
 * pending ones. */
static void
test_finish_and_close(void **state)
{
	(void)state;
	harness h;
	h_init_busy(&h);
	assert_int_equal(tm_2pc_finish(h.f.x), WR_OK);
	assert_log(&h, "commit 1@1;commit 2@2;commit_open 3;");
	destroy(&h);
	assert_log(&h, "free;");

	h_init_busy(&h);
	destroy(&h); /* a cancel: nothing commits */
	assert_log(&h, "abort 3;drop 1;drop 2;free;");
}

/* A restore recovers every old subtask's snapshot (another target is
 * said so), and aborts this subtask's leftovers only when it was not
 * among them; it must come before the first record. */
static void
test_restore(void **state)
{
	(void)state;
	harness a, b, c;
	wr_buf sa, sb;
	wr_buf_init(&sa);
	wr_buf_init(&sb);
	h_init(&a, "old", 0);
	push(&a, 1);
	snapshot(&a, 4, &sa);
	h_init(&b, "old", 1);
	snapshot(&b, 4, &sb);
	sb.data[sb.len - 2] = 'x'; /* the target: "tx" */
	destroy(&a);
	destroy(&b);

	tm_op_state st[2] = {{0}, {.subtask = 1}};
	st[0].data = (uint8_t *)sa.data;
	st[0].len = sa.len;
	st[1].data = (uint8_t *)sb.data;
	st[1].len = sb.len;
	h_init(&c, "new", 0);
	assert_int_equal(tm_2pc_restore(c.f.x, st, 2), WR_OK);
	assert_log(&c, "recover old/out/0/@4 1;recover old/out/1/@4 0 other;"
	               "leftovers;");
	push(&c, 9);
	assert_log(&c, "begin 1;write 9;"); /* no second abort */
	assert_int_equal(tm_2pc_restore(c.f.x, st, 2), WR_ESTATE);
	assert_non_null(strstr(c.task.failure,
	                       "fake sink: restore after the first record"));
	assert_int_equal(tm_2pc_tick(c.f.x, 0), WR_ESTATE); /* sticks */
	destroy(&c);

	h_init(&c, "old", 0); /* this very subtask: no leftovers to abort */
	assert_int_equal(tm_2pc_restore(c.f.x, st, 1), WR_OK);
	assert_log(&c, "recover old/out/0/@4 1;");
	destroy(&c);

	h_init(&c, "old", 0);
	st[0].len--;
	assert_int_equal(tm_2pc_restore(c.f.x, st, 1), WR_ECORRUPT);
	print_message("%s\n", c.task.failure);
	assert_non_null(strstr(c.task.failure, "old subtask 0"));
	destroy(&c);
	wr_buf_fini(&sa);
	wr_buf_fini(&sb);
}

/* A commit that fails the task keeps its transaction pending, and every
 * later call returns the failure. */
static void
test_failure_sticks(void **state)
{
	(void)state;
	harness h;
	wr_buf st;
	wr_buf_init(&st);
	h_init_busy(&h);
	h.f.fail_commit = true;
	assert_int_equal(tm_2pc_notify_complete(h.f.x, 1), WR_EUNREACHABLE);
	assert_string_equal(h.task.failure, "fake sink: commit of 1 failed");
	assert_int_equal(tm_2pc_npending(h.f.x), 2);
	assert_int_equal(tm_2pc_notify_complete(h.f.x, 1), WR_EUNREACHABLE);
	assert_int_equal(tm_2pc_tick(h.f.x, 0), WR_EUNREACHABLE);
	assert_int_equal(tm_2pc_snapshot(h.f.x, 2, &st), WR_EUNREACHABLE);
	wr_row r = {.n = 1};
	assert_int_equal(tm_2pc_process(h.f.x, 0, &r), WR_EUNREACHABLE);
	h.f.log[0] = '\0';
	destroy(&h);
	assert_log(&h, "abort 3;drop 1;drop 2;free;");
	wr_buf_fini(&st);
}

/* The shared head: names outside their alphabet are corrupt. */
static void
test_head(void **state)
{
	(void)state;
	tm_2pc_head h = {.subtask = 3, .ckpt = 300}, got;
	wr_buf b;
	size_t pos = 0;
	wr_buf_init(&b);
	snprintf(h.job_id, sizeof(h.job_id), "%s", "j-1");
	snprintf(h.node, sizeof(h.node), "%s", "n_2");
	snprintf(h.target, sizeof(h.target), "%s", "a.b");
	tm_2pc_head_put(&b, &h);
	const uint8_t *p = (const uint8_t *)b.data;
	memset(&got, 0, sizeof(got));
	assert_int_equal(tm_2pc_head_get(p, b.len, &pos, &got, ".", 4), WR_OK);
	assert_int_equal(pos, b.len);
	assert_string_equal(got.target, "a.b");
	pos = 0;
	assert_int_equal(tm_2pc_head_get(p, b.len, &pos, &got, "", 4),
	                 WR_ECORRUPT); /* '.' not allowed */
	pos = 0;
	assert_int_equal(tm_2pc_head_get(p, b.len, &pos, &got, ".", 3),
	                 WR_ECORRUPT); /* too long */
	for (size_t n = 0; n < b.len; n++) {
		pos = 0;
		assert_int_equal(tm_2pc_head_get(p, n, &pos, &got, ".", 4),
		                 WR_ECORRUPT);
	}
	wr_buf_fini(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_barrier_and_completion),
	    cmocka_unit_test(test_precommit_declined),
	    cmocka_unit_test(test_finish_and_close),
	    cmocka_unit_test(test_restore),
	    cmocka_unit_test(test_failure_sticks),
	    cmocka_unit_test(test_head),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
