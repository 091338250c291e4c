/*
 * sink_blackhole.c - the blackhole sink (`sink: { blackhole: {} }`):
 * counts each record into weir_records_out_total and discards it, as
 * Nexmark measures a query without the cost of writing its results.
 */
#include "op.h"

#include "err.h"
#include "mem.h"

#include <stdlib.h>

/* The records taken since the counter was last added to: one atomic add
 * per tick (~10 ms) instead of one per record. */
typedef struct tm_blackhole {
	tm_ctx *ctx;
	int64_t pending;
} tm_blackhole;

static void
tm_blackhole_count(tm_blackhole *b)
{
	if (b->pending > 0)
		tm_count(b->ctx, TM_COUNT_OUT, (double)b->pending);
	b->pending = 0;
}

static int
tm_blackhole_open(tm_ctx *ctx, const wr_node_spec *node, void **self,
                  char *errbuf, size_t errlen)
{
	(void)node;
	(void)errbuf;
	(void)errlen;
	tm_blackhole *b = wr_xcalloc(1, sizeof(*b));
	b->ctx = ctx;
	*self = b;
	return WR_OK;
}

static int
tm_blackhole_process(void *self, int input, const wr_row *r)
{
	(void)input;
	(void)r;
	((tm_blackhole *)self)->pending++;
	return WR_OK;
}

static int
tm_blackhole_tick(void *self, int64_t now_ms)
{
	(void)now_ms;
	tm_blackhole_count(self);
	return WR_OK;
}

static int
tm_blackhole_finish(void *self)
{
	tm_blackhole_count(self);
	return WR_OK;
}

static void
tm_blackhole_close(void *self)
{
	tm_blackhole_count(self);
	free(self);
}

const tm_op_vt tm_sink_blackhole = {
    .name = "blackhole sink",
    .open = tm_blackhole_open,
    .process = tm_blackhole_process,
    .tick = tm_blackhole_tick,
    .finish = tm_blackhole_finish,
    .close = tm_blackhole_close,
};
