/*
 * local_kafka.h - the embedded Kafka of `weir local`: librdkafka's mock
 * cluster (the real Kafka protocol over TCP) plus a forwarder on a fixed
 * loopback port. The mock binds random ports and advertises them in
 * metadata, so clients bootstrap through the forwarder and then connect to
 * the brokers directly (notes/dependencies.md).
 */
#ifndef CLI_LOCAL_KAFKA_H
#define CLI_LOCAL_KAFKA_H

#include <stddef.h>

typedef struct cli_lkafka cli_lkafka;

/* Starts a mock cluster of `brokers` brokers and the forwarder on
 * 127.0.0.1:port. Errors (port in use, ...) are described in errbuf. */
int cli_lkafka_start(int port, int brokers, cli_lkafka **out, char *errbuf,
                     size_t errlen);

/* "127.0.0.1:port": what clients bootstrap from. */
const char *cli_lkafka_bootstrap(const cli_lkafka *k);
/* The brokers' own addresses, comma-separated. */
const char *cli_lkafka_brokers(const cli_lkafka *k);

/*
 * Creates a topic. name: 1..249 of [A-Za-z0-9._-]; partitions 1 ..
 * CLI_TOPIC_MAX_PARTITIONS. Errors: WR_EINVAL (bad name/count), WR_EEXIST
 * (exists, or was deleted), with a message.
 * @thread the thread that started k.
 */
int cli_lkafka_create_topic(cli_lkafka *k, const char *name, int partitions,
                            char *errbuf, size_t errlen);

/*
 * Deletes a topic: from then on metadata reports it unknown (no
 * partitions), as Kafka does for a deleted topic. The mock cannot free
 * the name: creating it again fails until weir local restarts. Errors:
 * WR_EINVAL (bad name), WR_ENOENT (deleted already), WR_EFULL, with a
 * message. Whether the topic exists is the caller's to check (the mock
 * would make it). @thread the thread that started k.
 */
int cli_lkafka_delete_topic(cli_lkafka *k, const char *name, char *errbuf,
                            size_t errlen);

/* Serves the owning handle's callbacks; call regularly. */
void cli_lkafka_poll(cli_lkafka *k);

/* Stops the forwarder and the cluster. Accepts NULL. */
void cli_lkafka_stop(cli_lkafka *k);

#endif
