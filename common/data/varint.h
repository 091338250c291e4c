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
#include "wr_limits.h"

/* Appends v to out. */
void wr_varint_put(wr_buf *out, uint64_t v);

/* Reads one varint at *pos (advancing it). WR_ECORRUPT when truncated,
 * longer than 64 bits, or not minimal. */
int wr_varint_get(const uint8_t *buf, size_t len, size_t *pos, uint64_t *out);

#endif
