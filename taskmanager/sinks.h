/*
 * sinks.h - what the sinks share beyond op.h (sinks.c, sink_kafka_tx.c):
 * the Kafka message key.
 */
#ifndef TM_SINKS_H
#define TM_SINKS_H

#include <stddef.h>

#include "record.h"

/* A Kafka message key: the value as text in buf (truncated to len - 1);
 * returns its length (0: no key). */
size_t tm_sink_kafka_key(const wr_value *v, char *buf, size_t len);

#endif
