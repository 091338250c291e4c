/*
 * kafka.h - librdkafka helpers shared by the CLI and the TaskManager's
 * sources and sinks: configuration with weir's defaults and librdkafka's
 * log routed into wr_log.
 */
#ifndef WR_KAFKA_H
#define WR_KAFKA_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

/*
 * A new conf with bootstrap.servers = bootstrap and the log callback routed
 * into wr_log (event "KAFKA-LOG"). The caller owns it (rd_kafka_new takes
 * it on success).
 */
rd_kafka_conf_t *wr_kafka_conf_new(const char *bootstrap);

/* rd_kafka_conf_set with the error as "key=value: reason" in errbuf.
 * Returns WR_OK or WR_EINVAL. */
int wr_kafka_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                      char *errbuf, size_t errlen);

/*
 * Consumer settings for low latency: fetch.wait.max.ms=10 (the embedded
 * mock holds an empty fetch for the full wait, see notes/dependencies.md),
 * no auto commit (offsets belong to checkpoints), read_committed.
 */
int wr_kafka_conf_consumer_defaults(rd_kafka_conf_t *conf, char *errbuf,
                                    size_t errlen);
/* What every weir producer sets: message.max.bytes at
 * WR_KAFKA_MESSAGE_MAX_BYTES, so that a record the source accepted (or a
 * dead letter over that limit) is refused, if at all, by the broker's own
 * limit, not librdkafka's 1,000,000-byte default. */
int wr_kafka_conf_producer_defaults(rd_kafka_conf_t *conf, char *errbuf,
                                    size_t errlen);

/*
 * Partition count of topic, from every topic's metadata (a request naming
 * the topic could create it), waiting up to timeout_ms.
 * Returns the count (> 0) or a negative weir error (-WR_ENOENT if the topic
 * does not exist, -WR_ETIMEDOUT).
 */
int wr_kafka_partition_count(rd_kafka_t *rk, const char *topic, int timeout_ms);

/*
 * The brokers rk was given (its bootstrap.servers) in buf (len bytes), for
 * error messages: one that names them shows a wrong address at once.
 * Returns buf ("?" when rk has none).
 */
const char *wr_kafka_brokers(rd_kafka_t *rk, char *buf, size_t len);

#endif
