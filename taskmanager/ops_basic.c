/*
 * ops_basic.c - the stateless operators: filter, select, and forward (a
 * key_by alone, whose shuffle already routed by key, and a source node
 * at the head of its chain).
 */
#include "op.h"

#include "err.h"
#include "expr.h"
#include "mem.h"

#include <stdlib.h>

typedef struct tm_basic {
	tm_ctx *ctx;
	const wr_node_spec *n;
	wr_arena *arena;
} tm_basic;

static int
tm_basic_open(tm_ctx *ctx, const wr_node_spec *node, void **self, char *errbuf,
              size_t errlen)
{
	(void)errbuf;
	(void)errlen;
	tm_basic *b = wr_xcalloc(1, sizeof(*b));
	b->ctx = ctx;
	b->n = node;
	b->arena = tm_arena(ctx);
	*self = b;
	return WR_OK;
}

static void
tm_basic_close(void *self)
{
	free(self);
}

static int
tm_filter_process(void *self, int input, const wr_row *r)
{
	tm_basic *b = self;
	(void)input;
	if (!wr_expr_test(b->n->filter, r, b->arena))
		return WR_OK;
	return tm_emit(b->ctx, r);
}

static int
tm_select_process(void *self, int input, const wr_row *r)
{
	tm_basic *b = self;
	const wr_node_spec *n = b->n;
	wr_row out;
	(void)input;
	out.n = (uint32_t)n->nselect;
	for (size_t i = 0; i < n->nselect; i++) {
		int rv =
		    wr_expr_eval(n->select[i].expr, r, &out.v[i], b->arena);
		if (rv != WR_OK) {
			tm_fail(b->ctx,
			        "select '%s' in node '%s': %s (a record "
			        "needs more than the per-record memory)",
			        n->select[i].name, n->id, wr_strerror(rv));
			return rv;
		}
	}
	return tm_emit(b->ctx, &out);
}

static int
tm_forward_process(void *self, int input, const wr_row *r)
{
	tm_basic *b = self;
	(void)input;
	return tm_emit(b->ctx, r);
}

const tm_op_vt tm_filter_op = {
    .name = "filter",
    .open = tm_basic_open,
    .process = tm_filter_process,
    .close = tm_basic_close,
};

const tm_op_vt tm_select_op = {
    .name = "select",
    .open = tm_basic_open,
    .process = tm_select_process,
    .close = tm_basic_close,
};

const tm_op_vt tm_forward_op = {
    .name = "forward",
    .open = tm_basic_open,
    .process = tm_forward_process,
    .close = tm_basic_close,
};
