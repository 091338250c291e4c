/*
 * sink_2pc.c - the two-phase-commit sink skeleton (sink_2pc.h): the
 * operator callbacks of an exactly-once sink, its pending transactions,
 * its restore, and the snapshot head the backends share.
 *
 * A backend only supplies steps; the order is here, once: a start aborts
 * leftovers before anything else, a barrier pre-commits, a completion
 * commits oldest first, a restore settles every old subtask and then this
 * one's leftovers. Transactions stay pending in snapshot order, which is
 * checkpoint order.
 */
#include "sink_2pc.h"

#include "err.h"
#include "mem.h"
#include "varint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tm_2pc {
	tm_ctx *ctx;
	const wr_node_spec *node;
	const tm_2pc_ops *ops;
	void *b;
	char what[160];
	char name[TM_2PC_NAME_BYTES];
	char target[TM_2PC_TARGET_BYTES];
	bool started; /* leftovers settled: by a restore or the first call */
	bool open;    /* a transaction holds records since the last barrier */
	int failed;   /* sticky: the task must fail */
	tm_2pc_txn *pending; /* pre-committed, oldest first */
	int npending, cap_pending;
};

int
tm_2pc_fail(tm_2pc *x, int rv, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tm_fail(x->ctx, "%s: %s", x->what, msg);
	x->failed = rv;
	return rv;
}

void *
tm_2pc_backend(const tm_2pc *x)
{
	return x->b;
}

int
tm_2pc_npending(const tm_2pc *x)
{
	return x->npending;
}

/* A start without restore: nothing this subtask left is part of a
 * completed checkpoint. */
static int
tm_2pc_ready(tm_2pc *x)
{
	if (x->failed != WR_OK)
		return x->failed;
	if (x->started)
		return WR_OK;
	x->started = true;
	return x->ops->abort_leftovers(x->b);
}

/* Commits the pending transactions of ckpt and earlier, oldest first. A
 * failure keeps the one that failed and the rest pending. */
static int
tm_2pc_commit_upto(tm_2pc *x, uint64_t ckpt)
{
	int j = 0, rv = WR_OK;
	for (int i = 0; i < x->npending; i++) {
		if (rv == WR_OK && x->pending[i].ckpt <= ckpt) {
			rv = x->ops->commit(x->b, &x->pending[i]);
			if (rv == WR_OK)
				continue;
		}
		x->pending[j++] = x->pending[i];
	}
	x->npending = j;
	return rv;
}

static void
tm_2pc_add_pending(tm_2pc *x, uint64_t ckpt, void *h)
{
	if (x->npending == x->cap_pending) {
		x->cap_pending = x->cap_pending ? x->cap_pending * 2 : 4;
		x->pending = wr_xrealloc(x->pending, (size_t)x->cap_pending *
		                                         sizeof(*x->pending));
	}
	x->pending[x->npending++] = (tm_2pc_txn){.ckpt = ckpt, .h = h};
}

/* ---- the operator ---------------------------------------------------- */

int
tm_2pc_process(void *self, int input, const wr_row *r)
{
	tm_2pc *x = self;
	int rv;
	(void)input;
	if ((rv = tm_2pc_ready(x)) != WR_OK)
		return rv;
	if (!x->open) {
		if (x->ops->begin != NULL &&
		    (rv = x->ops->begin(x->b)) != WR_OK)
			return rv;
		x->open = true;
	}
	if ((rv = x->ops->write(x->b, r)) != WR_OK)
		return rv;
	tm_count(x->ctx, TM_COUNT_OUT, 1);
	return WR_OK;
}

int
tm_2pc_tick(void *self, int64_t now_ms)
{
	tm_2pc *x = self;
	if (x->failed != WR_OK)
		return x->failed;
	if (!x->started || x->ops->tick == NULL)
		return WR_OK;
	return x->ops->tick(x->b, now_ms);
}

/* The barrier of ckpt: what the open transaction holds is pre-committed
 * and recorded, with every transaction still pending, in the snapshot. */
int
tm_2pc_snapshot(void *p, uint64_t ckpt, wr_buf *out)
{
	tm_2pc *x = p;
	const tm_op_conf *cf = tm_conf(x->ctx);
	tm_2pc_head self = {.subtask = cf->subtask, .ckpt = ckpt};
	int rv;
	if ((rv = tm_2pc_ready(x)) != WR_OK)
		return rv;
	if (x->open) {
		bool made = false;
		void *h = NULL;
		if ((rv = x->ops->precommit(x->b, ckpt, &made, &h)) != WR_OK)
			return rv; /* still open: the next barrier tries again
			            */
		x->open = false;
		if (made)
			tm_2pc_add_pending(x, ckpt, h);
	}
	snprintf(self.job_id, sizeof(self.job_id), "%s", cf->job_id);
	snprintf(self.node, sizeof(self.node), "%s", x->node->id);
	snprintf(self.target, sizeof(self.target), "%s", x->target);
	snprintf(self.name, sizeof(self.name), "%s", x->name);
	self.npending = x->npending;
	x->ops->encode(x->b, &self, x->pending, x->npending, out);
	return WR_OK;
}

int
tm_2pc_notify_complete(void *self, uint64_t ckpt)
{
	tm_2pc *x = self;
	if (x->failed != WR_OK)
		return x->failed;
	return tm_2pc_commit_upto(x, ckpt);
}

/* Settles every old subtask taken over; then, unless this subtask was one
 * of them, what it left itself (its transactions came after the restored
 * checkpoint: a job restored from a savepoint, or a subtask that did not
 * exist then). */
int
tm_2pc_restore(void *self, const tm_op_state *states, int n)
{
	tm_2pc *x = self;
	bool own = false;
	int rv = WR_OK;
	if (x->started)
		return tm_2pc_fail(x, WR_ESTATE,
		                   "restore after the first record");
	x->started = true;
	for (int i = 0; i < n && rv == WR_OK; i++) {
		tm_2pc_head old;
		memset(&old, 0, sizeof(old));
		if (x->ops->decode(x->b, states[i].data, states[i].len, &old) !=
		    WR_OK)
			return tm_2pc_fail(x, WR_ECORRUPT,
			                   "snapshot of old subtask %d (%zu "
			                   "bytes) is not a version-1 snapshot "
			                   "of this sink",
			                   states[i].subtask, states[i].len);
		own |= strcmp(old.name, x->name) == 0;
		rv = x->ops->recover(x->b, &old,
		                     strcmp(old.target, x->target) == 0);
	}
	if (rv == WR_OK && !own)
		rv = x->ops->abort_leftovers(x->b);
	return rv;
}

/* End of bounded input: pending ones first (the open transaction may
 * touch their rows), then the open one. */
int
tm_2pc_finish(void *self)
{
	tm_2pc *x = self;
	int rv;
	if ((rv = tm_2pc_ready(x)) != WR_OK ||
	    (rv = tm_2pc_commit_upto(x, UINT64_MAX)) != WR_OK)
		return rv;
	if (x->open && (rv = x->ops->commit_open(x->b)) != WR_OK)
		return rv;
	x->open = false;
	return WR_OK;
}

/* Without finish (cancel, failure) nothing is committed: the open
 * transaction is aborted, the pending ones dropped (sink_2pc.h). */
void
tm_2pc_close(void *self)
{
	tm_2pc *x = self;
	if (x == NULL)
		return;
	if (x->open && x->ops->abort != NULL)
		x->ops->abort(x->b);
	for (int i = 0; i < x->npending && x->ops->drop != NULL; i++)
		x->ops->drop(x->b, &x->pending[i]);
	x->ops->free(x->b);
	free(x->pending);
	free(x);
}

tm_2pc *
tm_2pc_new(tm_ctx *ctx, const wr_node_spec *node, const tm_2pc_ops *ops,
           void *b, const char *what, const char *name, const char *target)
{
	tm_2pc *x = wr_xcalloc(1, sizeof(*x));
	x->ctx = ctx;
	x->node = node;
	x->ops = ops;
	x->b = b;
	snprintf(x->what, sizeof(x->what), "%s", what);
	snprintf(x->name, sizeof(x->name), "%s", name);
	snprintf(x->target, sizeof(x->target), "%s", target);
	return x;
}

/* ---- the shared snapshot head ---------------------------------------- */

static bool
tm_2pc_name_ok(const uint8_t *p, size_t len, size_t max, const char *extra)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') ||
		      (p[i] != '\0' && strchr(extra, p[i]) != NULL)))
			return false;
	return true;
}

int
tm_2pc_name_get(const uint8_t *p, size_t len, size_t *pos, char *out,
                size_t cap, const char *extra)
{
	uint64_t n;
	if (wr_varint_get(p, len, pos, &n) != WR_OK || n > len - *pos ||
	    !tm_2pc_name_ok(p + *pos, (size_t)n, cap - 1, extra))
		return WR_ECORRUPT;
	memcpy(out, p + *pos, (size_t)n);
	out[n] = '\0';
	*pos += (size_t)n;
	return WR_OK;
}

static void
tm_2pc_str_put(wr_buf *out, const char *s)
{
	wr_varint_put(out, strlen(s));
	wr_buf_puts(out, s);
}

void
tm_2pc_head_put(wr_buf *out, const tm_2pc_head *h)
{
	wr_varint_put(out, (uint64_t)h->subtask);
	wr_varint_put(out, h->ckpt);
	tm_2pc_str_put(out, h->job_id);
	tm_2pc_str_put(out, h->node);
	tm_2pc_str_put(out, h->target);
}

int
tm_2pc_head_get(const uint8_t *p, size_t len, size_t *pos, tm_2pc_head *h,
                const char *target_chars, size_t target_cap)
{
	uint64_t sub;
	if (target_cap > sizeof(h->target) ||
	    wr_varint_get(p, len, pos, &sub) != WR_OK ||
	    sub >= WR_JOB_MAX_PARALLELISM ||
	    wr_varint_get(p, len, pos, &h->ckpt) != WR_OK ||
	    tm_2pc_name_get(p, len, pos, h->job_id, sizeof(h->job_id), "_-") ||
	    tm_2pc_name_get(p, len, pos, h->node, sizeof(h->node), "_-") ||
	    tm_2pc_name_get(p, len, pos, h->target, target_cap, target_chars))
		return WR_ECORRUPT;
	h->subtask = (int)sub;
	return WR_OK;
}
