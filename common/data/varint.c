/* varint.c - LEB128 varints, decoded strictly (varint.h). */
#include "varint.h"

#include "err.h"

void
wr_varint_put(wr_buf *out, uint64_t v)
{
	uint8_t b[WR_VARINT_MAX_BYTES];
	size_t n = 0;

	while (v >= 0x80) {
		b[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	b[n++] = (uint8_t)v;
	wr_buf_append(out, b, n);
}
