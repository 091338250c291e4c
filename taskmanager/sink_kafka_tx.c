/*
 * sink_kafka_tx.c - the transactional Kafka sink (being written).
 */
#include "task_int.h"

#include "err.h"

#include <stdio.h>

int
tm_sink_kafka_tx_new(tm_task *t, tm_op *op, char *errbuf, size_t errlen)
{
	(void)t;
	snprintf(errbuf, errlen,
	         "node '%s': exactly_once kafka sinks are not built",
	         op->node->id);
	return WR_ESTATE;
}
