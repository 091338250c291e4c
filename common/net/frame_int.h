/*
 * frame_int.h - frame internals shared with tests.
 *
 * Not for daemon code: everything here exists so that tests can exercise the
 * unpack arena's bound without building frames of WR_RPC_MAX_UNPACK_BYTES.
 */
#ifndef WR_FRAME_INT_H
#define WR_FRAME_INT_H

#include <stddef.h>

#include "frame.h"

/*
 * wr_frame_unpack() with the arena capped at cap_bytes (bytes obtained from
 * malloc, chunk headers included) instead of WR_RPC_MAX_UNPACK_BYTES.
 * Same errors as wr_frame_unpack(); WR_ENOMEM if malloc itself fails.
 */
int wr_frame_unpack_capped(const void *data, size_t len, size_t cap_bytes,
                           wr_msg **out);

/* Bytes the arena of m obtained from malloc (handed out + slack + headers). */
size_t wr_msg_arena_held_bytes(const wr_msg *m);

#endif
