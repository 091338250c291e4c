/*
 * record.h - weir's internal record format.
 *
 * A record is decoded once (from JSON at a source) into a wr_row: an array
 * of typed values laid out by a wr_schema (field order = schema order).
 * Operators work on rows; a row is encoded once at a sink (JSON) or at a
 * network boundary (the binary row codec). Strings in a row point into
 * memory the row does not own: the source message, or an arena that lives
 * at least as long as the row is used (reset per record or per batch).
 */
#ifndef WR_RECORD_H
#define WR_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "wr_limits.h"

enum wr_type {
	WR_T_NULL = 0, /* only as a value's type: SQL NULL */
	WR_T_STRING,
	WR_T_LONG,
	WR_T_DOUBLE,
	WR_T_BOOL,
	WR_T_TIMESTAMP, /* epoch milliseconds, UTC */
};

typedef struct wr_value {
	uint8_t type; /* enum wr_type; WR_T_NULL = null */
	union {
		int64_t i; /* LONG, TIMESTAMP */
		double d;
		bool b;
		struct {
			const char *p; /* not NUL-terminated */
			uint32_t len;
		} s;
	} u;
} wr_value;

typedef struct wr_field {
	char *name; /* heap (schema owns) */
	enum wr_type type;
} wr_field;

typedef struct wr_schema {
	uint32_t n;
	wr_field fields[WR_MAX_FIELDS];
} wr_schema;

typedef struct wr_row {
	uint32_t n;
	wr_value v[WR_MAX_FIELDS];
} wr_row;

/* "string", "long", "double", "bool", "timestamp" <-> enum; -1 if unknown. */
const char *wr_type_name(enum wr_type t);
int wr_type_parse(const char *s);

/* Index of name in s, or -1. */
int wr_schema_index(const wr_schema *s, const char *name);
/* Appends a field (copies name). WR_EFULL past WR_MAX_FIELDS, WR_EEXIST if
 * the name is taken. */
int wr_schema_add(wr_schema *s, const char *name, enum wr_type type);
/* Deep copy into dst, which must be empty (dst's old names are not freed). */
void wr_schema_copy(wr_schema *dst, const wr_schema *src);
/* Frees the names; s is empty afterwards. Accepts NULL. */
void wr_schema_fini(wr_schema *s);

/*
 * Decodes one JSON object into a row with schema s. Fields are matched by
 * name; absent fields and JSON null become NULL; unknown fields are ignored.
 * A value of the wrong type (a string where a long is declared, ...) is an
 * error, except that a timestamp accepts epoch milliseconds (number) or an
 * ISO-8601 string, and a double accepts an integer. A long (and a
 * timestamp given as a number) takes an integral number within int64.
 * Strings are copied into arena (the JSON library's DOM is freed before
 * return), so the row does not depend on json. Full rules: docs/records.md.
 * Errors: WR_EINVAL with the reason in errbuf ("field 'amount': expected
 * double, got string", "not a JSON object", "truncated at byte 17"),
 * WR_EFULL when the arena is exhausted; the library's DOM, freed before
 * return, is charged against what the arena has left, so a hostile record
 * cannot take more memory than the arena's cap. On error out->n is 0.
 * @thread any (one arena per thread).
 */
int wr_row_from_json(const wr_schema *s, const char *json, size_t len,
                     wr_row *out, wr_arena *arena, char *errbuf, size_t errlen);

/* Appends the row as one JSON object (no newline), fields in schema order.
 * Timestamps are written as ISO-8601 UTC strings
 * ("2026-11-22T05:40:00.000Z"; epoch ms beyond year 9999), NULL as null,
 * doubles with the shortest of %.15g/%.16g/%.17g that reads back exactly
 * (NaN and infinities as null), strings with quotes, backslashes and
 * control characters escaped and other bytes as they are. A row shorter
 * than the schema (e.g. from a peer) ends in nulls. wr_row_from_json reads
 * the output back into an equal row (NaN and infinities come back NULL). */
void wr_row_to_json(const wr_schema *s, const wr_row *r, wr_buf *out);

/*
 * The binary row codec for network batches: the schema is known to both
 * sides, so only types and values travel (layout in docs/records.md).
 * wr_row_encode appends to out; wr_row_decode reads one row at *pos and
 * advances it; strings point into buf (which must outlive the row).
 * Errors: WR_ECORRUPT (truncated or malformed input: it comes from the
 * network and is never trusted), leaving *pos unchanged. Every row has
 * exactly one encoding: decode refuses non-minimal varints.
 */
void wr_row_encode(const wr_row *r, wr_buf *out);
/* One value of the same codec (type byte + value): for state blobs that
 * hold single values. */
void wr_value_encode(const wr_value *v, wr_buf *out);
int wr_value_decode(const uint8_t *buf, size_t len, size_t *pos, wr_value *out);
int wr_row_decode(const uint8_t *buf, size_t len, size_t *pos, wr_row *out);

/* Value helpers. Equal when types and values are equal; NULL equals NULL
 * and NaN equals NaN (grouping needs every key equal to itself), and
 * -0.0 equals 0.0. */
bool wr_value_equal(const wr_value *a, const wr_value *b);
/* A hash of the value that is stable across processes and versions (it
 * decides key groups, which live in checkpoints): 64-bit, seedless. Pass 0
 * for the first value of a key and the previous result for the next ones.
 * Equal values (wr_value_equal) hash equally. The exact function is in
 * docs/records.md; tests pin its output, so it must never change. */
uint64_t wr_value_hash(const wr_value *v, uint64_t h);

/* "2026-11-22T05:40:00.000Z" and its NUL. */
#define WR_TS_ISO_BYTES 25

/*
 * Parses a strict ISO-8601 timestamp, "YYYY-MM-DDTHH:MM:SS" with optional
 * fractional seconds (1 to 9 digits, cut to milliseconds) and a required
 * zone, "Z" or "+hh:mm"/"-hh:mm", into epoch milliseconds. Years 0000 to
 * 9999; dates are checked (2026-02-30 is refused); no leap second.
 * Locale-independent. Errors: WR_EINVAL with the reason in errbuf.
 */
int wr_ts_parse_iso8601(const char *s, size_t len, int64_t *out_ms,
                        char *errbuf, size_t errlen);
/* Formats epoch ms as "2026-11-22T05:40:00.123Z" (UTC, milliseconds).
 * Returns false, writing nothing, when the year is outside 0000..9999
 * (wr_row_to_json then writes the epoch milliseconds as a number). */
bool wr_ts_format_iso8601(int64_t epoch_ms, char out[WR_TS_ISO_BYTES]);

#endif
