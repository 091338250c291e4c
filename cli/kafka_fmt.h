/*
 * kafka_fmt.h - what `weir consume` and `weir produce` read from the
 * command line and from stdin, kept apart from librdkafka's handles so
 * unit tests drive them alone (tests/unit/cli_kafka_test.c): kcat's -f
 * format strings, -H NAME=VALUE headers, -K SEP key splitting, --offset
 * values, and a consumed message as one JSON line.
 */
#ifndef CLI_KAFKA_FMT_H
#define CLI_KAFKA_FMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "wr_limits.h"

struct wr_buf;

/* A message header: value NULL is a null value. */
typedef struct cli_kheader {
	const char *name;
	const void *value;
	size_t value_len;
} cli_kheader;

/* A consumed message, borrowed from librdkafka's (or a test's). key or
 * value NULL: a null key or value; timestamp_ms -1: none. */
typedef struct cli_kmsg {
	const char *topic;
	int32_t partition;
	int64_t offset;
	int64_t timestamp_ms;
	const void *key;
	size_t key_len;
	const void *value;
	size_t value_len;
	const cli_kheader *headers;
	size_t nheaders;
} cli_kmsg;

/* One piece of a format: a literal (text[off, off + len)) or a field. */
typedef struct cli_kfmt_item {
	char spec; /* 0: a literal; else kcat's letter (s S k K t p o T h) */
	uint16_t off, len;
} cli_kfmt_item;

/* A parsed -f FORMAT: literals decoded (\n \r \t \\), fields in order. */
typedef struct cli_kfmt {
	char text[CLI_KFMT_MAX_BYTES];
	cli_kfmt_item items[CLI_KFMT_MAX_ITEMS];
	int nitems;
} cli_kfmt;

/*
 * Parses a kcat format: %s value, %S value length, %k key, %K key length,
 * %t topic, %p partition, %o offset, %T timestamp (ms since the epoch),
 * %h headers (name=value, comma-separated), %% a percent sign; \n \r \t
 * \\ as in C. Returns false with "what is wrong" in errbuf (an empty
 * format, an unknown %X or \X, a trailing % or \, a format over the
 * limits).
 */
bool cli_kfmt_parse(const char *fmt, cli_kfmt *f, char *errbuf, size_t errlen);

/* Writes m by f to out. A null key or value prints as nothing, its
 * length as -1 (kcat's). */
void cli_kfmt_write(const cli_kfmt *f, const cli_kmsg *m, FILE *out);

/* Appends m as one JSON object (no newline): topic, partition, offset,
 * timestamp (ms or null), key and value (strings or null), headers (an
 * array of {name, value}). */
void cli_kmsg_json(const cli_kmsg *m, struct wr_buf *out);

/*
 * Reads -H NAME=VALUE: splits at the first '='. Returns false when there
 * is none or NAME is empty. *name_len is NAME's length; value points
 * into arg.
 */
bool cli_kheader_parse(const char *arg, size_t *name_len, const char **value);

/*
 * Splits a produce line at the first sep (kcat's -K): the key is
 * line[0, *key_len), the value what follows sep. Returns false when the
 * line holds no sep.
 */
bool cli_kline_split(const char *line, size_t len, const char *sep,
                     size_t *key_len, const char **value, size_t *value_len);

/*
 * Reads --offset: beginning (or earliest), end (or latest), stored (the
 * group's committed offset), N >= 0 (that offset), -N (N from the end).
 * Returns false for anything else. *out is librdkafka's offset value.
 */
bool cli_koffset_parse(const char *arg, int64_t *out);

#endif
