/*
 * fuzz_json_record.c - libFuzzer harness for the JSON record decoder: the
 * input is one record for a schema with one field of each type; it is
 * decoded into a row within a bounded arena or refused with a message,
 * and a decoded row is written back as JSON.
 */
#include "record.h"

#include "arena.h"
#include "buf.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wr_schema s;
	memset(&s, 0, sizeof(s));
	wr_schema_add(&s, "s", WR_T_STRING);
	wr_schema_add(&s, "n", WR_T_LONG);
	wr_schema_add(&s, "d", WR_T_DOUBLE);
	wr_schema_add(&s, "b", WR_T_BOOL);
	wr_schema_add(&s, "ts", WR_T_TIMESTAMP);
	wr_arena a;
	wr_arena_init(&a, 256 * 1024);
	wr_row r;
	char err[512] = "";
	int rv = wr_row_from_json(&s, (const char *)data, size, &r, &a, err,
	                          sizeof(err));
	if (rv != WR_OK && err[0] == '\0')
		abort(); /* a refusal says why (it goes to the dead letters) */
	if (rv == WR_OK) {
		wr_buf out;
		wr_buf_init(&out);
		wr_row_to_json(&s, &r, &out);
		wr_buf_fini(&out);
	}
	wr_arena_fini(&a);
	wr_schema_fini(&s);
	return 0;
}
