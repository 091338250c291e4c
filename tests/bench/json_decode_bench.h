/*
 * json_decode_bench.h - the json-c backend of json_decode_bench, kept in
 * its own file: json-c and jansson both define json_object_get() and
 * json_object_iter_next(), so their headers cannot meet in one file and
 * json-c is loaded with dlopen(RTLD_LOCAL) to keep its symbols apart.
 */
#ifndef WR_JSON_DECODE_BENCH_H
#define WR_JSON_DECODE_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include "record.h"

/* Loads libjson-c; false (with the reason in err) when it is not there. */
bool bench_jsonc_open(char *version, size_t versionlen, char *err,
                      size_t errlen);
/* strict: JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8 (what weir
 * would need), else json-c's lenient defaults. */
void bench_jsonc_set_strict(bool strict);
/* Decodes one record into out (strings copied into arena); 0 on success. */
int bench_jsonc_decode(const wr_schema *s, const char *json, size_t len,
                       wr_row *out, wr_arena *arena);
void bench_jsonc_close(void);

#endif
