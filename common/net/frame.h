/*
 * frame.h - control-plane framing: "WEIR" magic + one protobuf Envelope.
 *
 * Unpacking is bounded: a frame larger than WR_RPC_MAX_FRAME_BYTES is refused
 * before parsing, and protobuf-c allocates from an arena capped at
 * WR_RPC_MAX_UNPACK_BYTES, so hostile input cannot make a daemon allocate
 * without bound. Only the files that translate protobuf include weir.pb-c.h
 * (docs/architecture.md lists them); everyone else sees struct
 * Weir__Envelope as opaque.
 */
#ifndef WR_FRAME_H
#define WR_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Bump when the wire format changes incompatibly (see proto/weir.proto). */
#define WR_PROTOCOL_VERSION 1u

#define WR_FRAME_MAGIC     "WEIR"
#define WR_FRAME_MAGIC_LEN 4u

struct Weir__Envelope;

/* An unpacked frame: the envelope and the arena it lives in. */
typedef struct wr_msg wr_msg;

/*
 * Packs env into out (appended): magic + protobuf. Sets env->version to
 * WR_PROTOCOL_VERSION if it is 0. Returns WR_ETOOBIG if the frame would
 * exceed WR_RPC_MAX_FRAME_BYTES. The caller keeps env.
 */
int wr_frame_pack(struct Weir__Envelope *env, wr_buf *out);

/*
 * Unpacks one frame. On success *out owns the envelope (wr_msg_free).
 * Errors: WR_ETOOBIG (len over the limit, or the unpacked message would
 * exceed the arena), WR_EPROTO (bad magic, not a valid Envelope, no body).
 * A valid Envelope of another protocol version is returned as WR_OK: the
 * caller checks wr_msg_version() and refuses it with a clear message
 * (wr_frame_version_ok()).
 */
int wr_frame_unpack(const void *data, size_t len, wr_msg **out);

struct Weir__Envelope *wr_msg_env(const wr_msg *m);
uint32_t wr_msg_version(const wr_msg *m);
/* Accepts NULL. */
void wr_msg_free(wr_msg *m);

/* Bytes the arena of m has handed out (for tests of the bound). */
size_t wr_msg_arena_bytes(const wr_msg *m);

/*
 * Returns WR_OK if m speaks WR_PROTOCOL_VERSION. Otherwise returns WR_EPROTO
 * and writes "peer speaks protocol version X, this <self_name> speaks Y" to
 * errbuf (NULL or errlen 0: nothing written), so both sides of a mixed
 * deployment name the mismatch the same way.
 */
int wr_frame_version_ok(const wr_msg *m, const char *self_name, char *errbuf,
                        size_t errlen);

#endif
