/*
 * varint.h - LEB128 varints, the integer encoding of weir's binary formats
 * (row codec, accumulators). Decoding is strict: only the minimal encoding
 * of a value up to 64 bits is accepted, since the input comes from the
 * network or disk and must round-trip byte for byte.
 */
#ifndef WR_VARINT_H
#define WR_VARINT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "wr_limits.h"

/* Appends v to out. */
void wr_varint_put(wr_buf *out, uint64_t v);

/* Reads one varint at *pos (advancing it). WR_ECORRUPT when truncated,
 * longer than 64 bits, or not minimal. Inline: the row decoder reads one
 * or two per value of every record off the network. */
static inline int
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

#endif
