/*
 * sink_pg.c - the PostgreSQL sink (being written).
 */
#include "task_int.h"

#include "err.h"

#include <stdio.h>

int
tm_sink_pg_new(tm_task *t, tm_op *op, char *errbuf, size_t errlen)
{
	(void)t;
	snprintf(errbuf, errlen, "node '%s': the postgres sink is not built",
	         op->node->id);
	return WR_ESTATE;
}
