/*
 * limits.h - every hard limit of weir, with the reason for it.
 *
 * A limit that protects memory or a peer belongs here, not inline at its use.
 */
#ifndef WR_LIMITS_H
#define WR_LIMITS_H

/* Largest control-plane RPC frame. Control messages are small (a job graph is
 * the largest, a few KiB); 4 MiB leaves room for big graphs while a garbage
 * length prefix cannot make a daemon allocate much. */
#define WR_RPC_MAX_FRAME_BYTES (4u * 1024u * 1024u)

/* Memory an unpacked control message may use (protobuf-c allocations). A frame
 * can expand when unpacked (repeated fields become pointer arrays); 4x the
 * frame size bounds that expansion. */
#define WR_RPC_MAX_UNPACK_BYTES (4u * WR_RPC_MAX_FRAME_BYTES)

/* Requests an RPC server handles concurrently (nng contexts). */
#define WR_RPC_SERVER_CONTEXTS 16

/* Requests waiting for the owning thread; beyond this, contexts stop
 * receiving and nng's own backpressure applies. */
#define WR_RPC_QUEUE_DEPTH 64

/* Slots one TaskManager may offer. */
#define WR_MAX_SLOTS_PER_TM 256

/* TaskManagers one JobManager tracks (alive and recently lost). */
#define WR_MAX_TASKMANAGERS 1024

/* Length of ids (TaskManager ids, job ids) including the terminating NUL. */
#define WR_ID_BYTES 40

/* Longest network address string ("tcp://host:port"), NUL included. */
#define WR_ADDR_BYTES 256

/* Deepest YAML nesting accepted by the config and job parsers. */
#define WR_YAML_MAX_DEPTH 32

/* Most YAML nodes in one file: a config or job file is hand-written. */
#define WR_YAML_MAX_NODES 100000

/* Largest file wr_yaml_load_file reads: config and job files are
 * hand-written, and the node limit does not bound scalar sizes. */
#define WR_YAML_MAX_FILE_BYTES (4u * 1024u * 1024u)

/* Largest HTTP request body accepted (a job YAML posted to /jobs). */
#define WR_HTTP_MAX_BODY_BYTES (1024u * 1024u)

/* A client that announced a body gets this long to send all of it, so a
 * stalled client cannot hold a connection and its buffer forever. */
#define WR_HTTP_BODY_TIMEOUT_MS 30000

/* One log line. */
#define WR_LOG_LINE_BYTES 2048

/* Connections the local Kafka bootstrap forwarder proxies at once. */
#define WR_LOCAL_FWD_MAX_CONNS 256

/* Keys in LMDB are limited to 511 bytes by default. */
#define WR_MAX_KEY_BYTES 511

_Static_assert(WR_RPC_MAX_UNPACK_BYTES >= WR_RPC_MAX_FRAME_BYTES,
               "unpack budget must cover the frame");
_Static_assert(WR_RPC_QUEUE_DEPTH >= WR_RPC_SERVER_CONTEXTS,
               "every context must be able to enqueue");
_Static_assert(WR_MAX_KEY_BYTES <= 511, "LMDB default key limit");
_Static_assert(WR_ID_BYTES >= 37, "a UUID string must fit");

#endif
