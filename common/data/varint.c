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

int
wr_varint_get(const uint8_t *buf, size_t len, size_t *pos, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < WR_VARINT_MAX_BYTES; i++) {
		if (*pos >= len)
			return WR_ECORRUPT;
		uint8_t b = buf[(*pos)++];
		if (i == WR_VARINT_MAX_BYTES - 1 && b > 1)
			return WR_ECORRUPT; /* more than 64 bits */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			if (b == 0 && i > 0)
				return WR_ECORRUPT; /* not minimal */
			*out = v;
			return WR_OK;
		}
	}
	return WR_ECORRUPT;
}
