/*
 * json.h - a streaming JSON writer into a wr_buf, for REST bodies and the
 * CLI's -o json. Commas and string escaping are handled here so callers
 * cannot produce invalid JSON by forgetting one.
 */
#ifndef WR_JSON_H
#define WR_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "wr_limits.h"

typedef struct wr_json {
	wr_buf *out;
	int depth;
	bool first[WR_JSON_MAX_DEPTH]; /* nothing written yet at this level */
	bool after_key;
} wr_json;

void wr_json_init(wr_json *j, wr_buf *out);
void wr_json_obj_begin(wr_json *j);
void wr_json_obj_end(wr_json *j);
void wr_json_arr_begin(wr_json *j);
void wr_json_arr_end(wr_json *j);
/* Inside an object: the next value's key. */
void wr_json_key(wr_json *j, const char *key);
void wr_json_str(wr_json *j, const char *s);
void wr_json_int(wr_json *j, int64_t v);
void wr_json_uint(wr_json *j, uint64_t v);
void wr_json_double(wr_json *j, double v);
void wr_json_bool(wr_json *j, bool v);
void wr_json_null(wr_json *j);

/* key + value shorthands for objects. */
void wr_json_kv_str(wr_json *j, const char *key, const char *s);
void wr_json_kv_int(wr_json *j, const char *key, int64_t v);
void wr_json_kv_bool(wr_json *j, const char *key, bool v);

/* Appends s as a quoted JSON string (escaping control characters). */
void wr_json_escape(wr_buf *out, const char *s);

#endif
