/*
 * ckpt_meta_pb.h - state handles and source offsets between their C form
 * (ckpt_meta.h) and their protobuf messages, for the files that speak
 * protobuf (_metadata itself, acks on both sides of the RPC).
 */
#ifndef WR_CKPT_META_PB_H
#define WR_CKPT_META_PB_H

#include "ckpt_meta.h"
#include "weir.pb-c.h"

/* Fills p from h / o; p points into h / o (no copies). */
void wr_ckpt_pb_handle(const wr_ckpt_handle *h, Weir__StateHandle *p);
void wr_ckpt_pb_offset(const wr_ckpt_offset *o, Weir__SourceOffset *p);

/* Adds a copy of p to m. */
void wr_ckpt_meta_add_pb_handle(wr_ckpt_meta *m, const Weir__StateHandle *p);
void wr_ckpt_meta_add_pb_offset(wr_ckpt_meta *m, const Weir__SourceOffset *p);

#endif
