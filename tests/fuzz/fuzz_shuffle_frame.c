/*
 * fuzz_shuffle_frame.c - libFuzzer harness for shuffle frames, a
 * consumer's replies (with the rows of data batches) and a producer's
 * fetches. The first byte picks the side. Even: the bytes are a reply a
 * consumer received (decoded; a data batch's records are then walked and
 * decoded as rows, as the consumer does, trusting what the decoder accepted).
 * Odd: they are a fetch a producer received.
 */
#include "shuffle.h"
#include "shuffle_int.h"

#include "err.h"
#include "record.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fuzz_row(void *arg, const uint8_t *rec, size_t len)
{
	(void)arg;
	wr_row r;
	size_t pos = 0;
	(void)wr_row_decode(rec, len, &pos, &r);
	return WR_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	const uint8_t *p = data + 1;
	size_t len = size - 1;
	const char *why = NULL;
	if (data[0] & 1) {
		tm_chan_key k;
		uint64_t seq, ack;
		if (tm_sf_fetch_decode(p, len, &k, &seq, &ack, &why) != 0 &&
		    why == NULL)
			abort(); /* a refusal says why */
		return 0;
	}
	tm_sf_reply r;
	if (tm_sf_reply_decode(p, len, &r, &why) != WR_OK) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (r.type == TM_SF_BATCH && r.kind == TM_BATCH_DATA) {
		tm_batch b = {.kind = r.kind,
		              .nrecords = r.nrecords,
		              .len = r.len,
		              .data = (uint8_t *)p + TM_SF_BATCH_HDR};
		(void)tm_batch_foreach(&b, fuzz_row, NULL);
	}
	return 0;
}
