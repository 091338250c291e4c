/*
 * sink_blackhole.c - the blackhole sink (`sink: { blackhole: {} }`):
 * counts each record into weir_records_out_total and discards it, as
 * Nexmark measures a query without the cost of writing its results.
 */
#include "op.h"

#include "err.h"

static int
tm_blackhole_open(tm_ctx *ctx, const wr_node_spec *node, void **self,
                  char *errbuf, size_t errlen)
{
	(void)node;
	(void)errbuf;
	(void)errlen;
	*self = ctx;
	return WR_OK;
}

static int
tm_blackhole_process(void *self, int input, const wr_row *r)
{
	(void)input;
	(void)r;
	tm_count(self, TM_COUNT_OUT, 1);
	return WR_OK;
}

const tm_op_vt tm_sink_blackhole = {
    .name = "blackhole sink",
    .open = tm_blackhole_open,
    .process = tm_blackhole_process,
};
