/*
 * record_jansson_ref.h - the jansson-based JSON record decoder weir had
 * before json_decode.c, for differential tests and benchmarks only.
 */
#ifndef WR_RECORD_JANSSON_REF_H
#define WR_RECORD_JANSSON_REF_H

#include "record.h"

/* wr_row_from_json's contract, decoded the old way (jansson's DOM within
 * the arena's budget, a re-read with numbers as doubles on overflow). */
int wr_ref_row_from_json(const wr_schema *s, const char *json, size_t len,
                         wr_row *out, wr_arena *arena, char *errbuf,
                         size_t errlen);

#endif
