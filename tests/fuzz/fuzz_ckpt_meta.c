/*
 * fuzz_ckpt_meta.c - libFuzzer harness for checkpoint metadata (a
 * _metadata file read back from storage): decoded or refused as corrupt
 * with a message; a decoded one is encoded again and decodes again.
 */
#include "ckpt_meta.h"

#include "buf.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	wr_ckpt_meta *m = NULL;
	char err[512] = "";
	if (wr_ckpt_meta_decode(data, size, &m, err, sizeof(err)) != WR_OK) {
		if (err[0] == '\0')
			abort(); /* a refusal says why */
		return 0;
	}
	wr_buf b;
	wr_buf_init(&b);
	wr_ckpt_meta_encode(m, &b);
	wr_ckpt_meta *again = NULL;
	if (wr_ckpt_meta_decode(b.data, b.len, &again, err, sizeof(err)) !=
	    WR_OK)
		abort(); /* what weir writes, weir reads */
	wr_ckpt_meta_free(again);
	wr_buf_fini(&b);
	wr_ckpt_meta_free(m);
	return 0;
}
