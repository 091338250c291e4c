/*
 * fuzz_record_codec.c - libFuzzer harness for the binary record codec
 * (what crosses the shuffle and sits in keyed state): rows are decoded
 * from the input one after another until it ends or one is refused; each
 * decoded row, encoded again, decodes to the same values.
 */
#include "record.h"

#include "buf.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_round_trip(const wr_row *r)
{
	wr_buf b;
	wr_buf_init(&b);
	wr_row_encode(r, &b);
	wr_row again;
	size_t pos = 0;
	if (wr_row_decode((const uint8_t *)b.data, b.len, &pos, &again) !=
	        WR_OK ||
	    pos != b.len || again.n != r->n)
		abort();
	for (uint32_t i = 0; i < r->n; i++)
		if (!wr_value_equal(&r->v[i], &again.v[i]) &&
		    !(r->v[i].type == WR_T_DOUBLE &&
		      r->v[i].u.d != r->v[i].u.d)) /* NaN */
			abort();
	wr_buf_fini(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t pos = 0;
	while (pos < size) {
		wr_row r;
		size_t before = pos;
		if (wr_row_decode(data, size, &pos, &r) != WR_OK)
			break;
		if (pos <= before || pos > size)
			abort(); /* no progress, or read past the end */
		fuzz_round_trip(&r);
	}
	return 0;
}
