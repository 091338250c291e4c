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
/* Longest storage URL (a checkpoint's or savepoint's directory), NUL
 * included. */
#define WR_URL_BYTES 1024

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

/* Longest expression (filter or select) source. Expressions sit in job
 * files, which are hand-written; an `in (...)` list of a few ten thousand
 * ids still fits. Also bounds every loop of the lexer and the in-list
 * sizes. */
#define WR_EXPR_MAX_BYTES (1024u * 1024u)

/* Deepest nesting in an expression: parentheses, function arguments and
 * unary operators. Hand-written expressions nest a few levels; each level
 * costs the recursive-descent parser about eight C stack frames and the
 * compiler a few, so the bound keeps a hostile job file from overflowing a
 * thread's stack. Chains such as `a || b || c ...` do not nest. */
#define WR_EXPR_MAX_DEPTH 64

/* Most AST nodes (operators and operands) in one expression; in-list items
 * are not nodes. Bounds parse memory and the compiled program; a generated
 * filter with thousands of alternatives should use `in (...)`. */
#define WR_EXPR_MAX_NODES 10000

/* Values on the evaluator's stack. It is a fixed array on the C stack of
 * each evaluation (16 bytes a value), so evaluation never allocates. Chains
 * need two; only operands nested to the right (`a + (b + (c + ...)))`) need
 * more, and the parser refuses an expression that would need more. */
#define WR_EXPR_MAX_STACK 128

/* Shuffle batches (32 KiB each) one TaskManager may hold: 256 MiB. Every
 * output channel reserves its worst case (open batch, queue, credits) when
 * it is created, so the data plane never mallocs past this and one
 * channel cannot starve another; an output that does not fit is refused
 * with WR_EFULL at deploy time. */
#define WR_SHUFFLE_MAX_BATCHES 8192

/* Server contexts of a TaskManager's data port. A context holds one fetch
 * while it waits for data (long poll), so up to one per consumer credit of
 * every registered channel may be parked; contexts are created on demand
 * up to that need, never past this cap (an nng context, an aio and a
 * parked request, about 1 KiB each). At the cap, fetches that would wait
 * are answered "busy" and retried, so one context always keeps receiving. */
#define WR_SHUFFLE_SERVER_CTX_MAX 4096

/* Contexts kept receiving beside the parked ones, so a new fetch never
 * waits for a context to be created. */
#define WR_SHUFFLE_SERVER_CTX_SPARE 4

/* Fetches parked for channels not registered yet (consumer deployed
 * before producer). Past this they are answered "unknown" at once and
 * retried with backoff, so strays cannot pin every context. */
#define WR_SHUFFLE_UNKNOWN_PARKS_MAX 256

/* Largest value one state entry may hold (common/state.c). A value is
 * copied whole into the cache or written as one run of LMDB overflow
 * pages, whose dirty copy LMDB keeps in memory until the commit: 64 MiB
 * bounds that one allocation. Bigger state must be split across keys (a
 * list or map state stores one element per key). */
#define WR_STATE_MAX_VALUE_BYTES (64u * 1024u * 1024u)

/* Largest LMDB map of one state backend. The map reserves address space
 * of its full size, and it doubles when full, so it is at most twice the
 * data. 256 slots x 256 GiB = 64 TiB stays inside x86-64's 128 TiB of
 * user address space; a subtask with more state needs more parallelism.
 * A full map at this size is WR_EFULL. */
#define WR_STATE_MAX_MAP_BYTES (256ull << 30)

/* Smallest state cache budget: the hash table and a few entries must
 * fit; smaller settings are raised to this. */
#define WR_STATE_MIN_CACHE_BYTES (4u * 1024u)

_Static_assert(WR_RPC_MAX_UNPACK_BYTES >= WR_RPC_MAX_FRAME_BYTES,
               "unpack budget must cover the frame");
_Static_assert(WR_RPC_QUEUE_DEPTH >= WR_RPC_SERVER_CONTEXTS,
               "every context must be able to enqueue");
_Static_assert(WR_MAX_KEY_BYTES <= 511, "LMDB default key limit");
_Static_assert(WR_STATE_MAX_VALUE_BYTES <= 0x7fffffffu,
               "state.c keeps value lengths in 32 bits");
_Static_assert(WR_ID_BYTES >= 37, "a UUID string must fit");
_Static_assert(WR_SHUFFLE_SERVER_CTX_MAX >= 2 * WR_SHUFFLE_SERVER_CTX_SPARE +
                                                WR_SHUFFLE_UNKNOWN_PARKS_MAX,
               "spares and unknown parks must fit under the context cap");
_Static_assert(WR_EXPR_MAX_STACK >= 8,
               "`a + b < c * d && ...` must not be refused as too complex");
_Static_assert(WR_EXPR_MAX_NODES < (1 << 24),
               "code, constants and nodes are indexed by int32 (a node "
               "compiles to at most 4 instructions)");

/* High availability (etcd, Kubernetes Lease). */

/* etcd endpoints one client fails over between: an etcd cluster has 3 or
 * 5 members; a few more for proxies. */
#define WR_ETCD_MAX_ENDPOINTS 8

/* Largest value weir writes to etcd: a job's entry in the job store (its
 * job file and status). etcd refuses requests over 1.5 MiB by default;
 * a job file is bounded far below that by the job parser. */
#define WR_ETCD_MAX_VALUE_BYTES (1024u * 1024u)

/* Largest answer read from etcd: a range over the job store holds every
 * job's entry, so it may be many values; past this the call fails rather
 * than letting a misbehaving endpoint grow memory without bound. */
#define WR_ETCD_MAX_RESPONSE_BYTES (64u * 1024u * 1024u)

/* Largest answer read from the Kubernetes API server: one Lease object
 * (a few hundred bytes; managedFields can add a few KiB). */
#define WR_K8S_MAX_RESPONSE_BYTES (1024u * 1024u)

/* Largest service-account token file: projected tokens are JWTs of 1-2
 * KiB. */
#define WR_K8S_MAX_TOKEN_BYTES (64u * 1024u)

_Static_assert(WR_ETCD_MAX_RESPONSE_BYTES >= 4u * WR_ETCD_MAX_VALUE_BYTES,
               "an answer must hold a value in base64 and its JSON");

#endif
