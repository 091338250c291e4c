/*
 * wr_limits.h - every hard limit of weir, with the reason for it.
 *
 * A limit that protects memory or a peer belongs here, not inline at its use:
 * most counts, sizes, depths, queue bounds and timeouts that cap a wait. The
 * limits every layer shares come first, then a section per module; a
 * _Static_assert follows the limits it ties together. base is below every
 * other layer, so any header or source includes this file directly.
 * tests/check_limits.py (ctest lint.limits) fails when a *_MAX or *_LIMIT
 * is defined anywhere else.
 */
#ifndef WR_LIMITS_H
#define WR_LIMITS_H

/* ---- shared by every layer ------------------------------------------- */

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
/* JobManager addresses a TaskManager or the CLI is given (--jobmanager
 * A,B,C): HA runs a handful. */
#define WR_MAX_JOBMANAGERS 16

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

/* Largest record a source accepts: a Kafka message's value (Kafka's own
 * default message.max.bytes is 1 MiB). A bigger one is an invalid
 * record at the source (the `invalid:` policy, with its offset and this
 * limit in the reason), so it never reaches the shuffle or state. */
#define WR_RECORD_MAX_BYTES (1024u * 1024u)

/* Event times a record may carry: years 0000 to 9999, what ISO-8601
 * writes with four digits (epoch ms). A record's timestamp outside is an
 * invalid record at the source, so it never reaches a watermark. */
#define WR_TS_MIN_MS (-62167219200000LL) /* 0000-01-01T00:00:00.000Z */
#define WR_TS_MAX_MS 253402300799999LL   /* 9999-12-31T23:59:59.999Z */

/* message.max.bytes of weir's Kafka producers (sinks, dead letters):
 * librdkafka's own maximum. Its 1,000,000-byte default would refuse
 * records the source accepts (WR_RECORD_MAX_BYTES) and dead letters of
 * bigger ones; the broker's limit still applies. */
#define WR_KAFKA_MESSAGE_MAX_BYTES 1000000000u

/* kafka.fetch_wait and kafka.linger: at most librdkafka's own defaults
 * (fetch.wait.max.ms 500, linger.ms 1000 is far beyond any stream job's
 * latency budget). */
#define WR_KAFKA_MAX_FETCH_WAIT_MS 500
#define WR_KAFKA_MAX_LINGER_MS     1000

/* Largest encoded record the shuffle carries. A record the source
 * accepted encodes to about its JSON size (plus a few bytes a field);
 * twice the source's limit leaves room for fields a select adds. A
 * record over a shuffle batch travels alone in a frame of its own. */
#define WR_SHUFFLE_MAX_RECORD_BYTES (2u * WR_RECORD_MAX_BYTES)

/* Largest HTTP request body accepted (a job YAML posted to /jobs). */
#define WR_HTTP_MAX_BODY_BYTES (1024u * 1024u)

/* A client that announced a body gets this long to send all of it, so a
 * stalled client cannot hold a connection and its buffer forever. */
#define WR_HTTP_BODY_TIMEOUT_MS 30000

/* Headers a handler may add to a response (the dashboard's files: caching,
 * ETag, Content-Security-Policy and the like). */
#define WR_HTTP_MAX_RESP_HEADERS 8

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

/* Largest value one state entry may hold (common/storage/state.c). A value is
 * copied whole into the cache or written as one run of LMDB overflow
 * pages, whose dirty copy LMDB keeps in memory until the commit: 64 MiB
 * bounds that one allocation. Bigger state must be split across keys (a
 * list or map state stores one element per key). */
#define WR_STATE_MAX_VALUE_BYTES (64u * 1024u * 1024u)
/* Memory a backend may spend recording the keys changed between two
 * checkpoints (state_delta.c): past it the next checkpoint copies the
 * whole state (64 MiB: about 1.5 M keys of 30 bytes). */
#define WR_STATE_CHANGES_MAX_BYTES (64u * 1024u * 1024u)
/* Pieces of one incremental keyed state handle: a full snapshot and the
 * deltas after it. A task folds its chain into a new full snapshot long
 * before this (WR_CKPT_FOLD_DELTAS); a _metadata with more is refused. */
#define WR_CKPT_MAX_SHARED 64
/* Deltas after a full snapshot before a task folds its incremental chain
 * into a new full one (task_incr.c): bounds what a restore reads and
 * applies, and how long old checkpoints' directories stay. */
#define WR_CKPT_FOLD_DELTAS 8
/* Checkpoints in flight (or failed, unheard) whose change sets a task
 * keeps for the next delta (task_incr.c); past it the chain restarts with
 * a full snapshot. */
#define TM_INCR_MAX_PENDING 16

/* Largest LMDB map of one state backend. The map reserves address space
 * of its full size, and it doubles when full, so it is at most twice the
 * data. 256 slots x 256 GiB = 64 TiB stays inside x86-64's 128 TiB of
 * user address space; a subtask with more state needs more parallelism.
 * A full map at this size is WR_EFULL. */
#define WR_STATE_MAX_MAP_BYTES (256ull << 30)

/* LMDB turns a short write into EIO; with less free space than this
 * under the state's data file, the state reports ENOSPC instead (a short
 * write means the write did not fit). */
#define WR_STATE_DISK_FULL_BYTES (1024u * 1024u)

/* Smallest state cache budget: the hash table and a few entries must
 * fit; smaller settings are raised to this. */
#define WR_STATE_MIN_CACHE_BYTES (4u * 1024u)

/* ---- control plane: framing and RPC (common/net) ---------------------- */

/* A message's arena starts with small chunks (most control messages are a
 * few hundred bytes) and doubles them up to the larger size, so a big
 * message costs few mallocs and no chunk is oversized. */
#define WR_FRAME_CHUNK_MIN_BYTES 512u
#define WR_FRAME_CHUNK_MAX_BYTES (64u * 1024u)

/* nng's length prefix counts the SP header too: the request id plus one
 * 4-byte hop per device, at most 8 (rep0's max TTL). Without this slack a
 * frame of exactly WR_RPC_MAX_FRAME_BYTES would be dropped by the transport
 * instead of reaching wr_frame_unpack(). */
#define WR_RPC_SP_HEADER_BYTES 64u
#define WR_RPC_RECV_MAX_BYTES  (WR_RPC_MAX_FRAME_BYTES + WR_RPC_SP_HEADER_BYTES)

/* A peer that stops reading must not pin a server context forever. */
#define WR_RPC_REPLY_SEND_TIMEOUT_MS 5000

/* Reconnect backoff of clients (nng doubles from min to max). */
#define WR_RPC_RECONNECT_MIN_MS 100
#define WR_RPC_RECONNECT_MAX_MS 5000

/* Longest error text a server puts into an Error reply. */
#define WR_RPC_ERRMSG_BYTES 512

/* How long a synchronous dial (the CLI's) waits for a TCP connection. A
 * host that is down answers nothing, and the kernel would retry its SYN
 * for about two minutes; on a network a connect takes milliseconds. */
#define WR_RPC_CONNECT_TIMEOUT_MS 2000

_Static_assert(WR_FRAME_CHUNK_MIN_BYTES <= WR_FRAME_CHUNK_MAX_BYTES,
               "chunks double from the minimum up to the maximum");
_Static_assert(WR_RPC_RECONNECT_MIN_MS <= WR_RPC_RECONNECT_MAX_MS,
               "backoff doubles from the minimum up to the maximum");
_Static_assert(WR_RPC_ERRMSG_BYTES < WR_RPC_MAX_FRAME_BYTES,
               "an Error reply must fit in a frame");

/* ---- data: records, JSON, varints (common/data) ----------------------- */

/* Most fields in a schema (and values in a row). */
#define WR_MAX_FIELDS 64

/* Deepest nesting the streaming JSON writer tracks (a fixed array in
 * wr_json): REST bodies and CLI output nest a few levels. */
#define WR_JSON_MAX_DEPTH 32

/* Deepest nesting a JSON record may have (wr_row_from_json), counting
 * the record as level 1 and every value, scalars too, as one more than its
 * container: jansson's JSON_PARSER_MAX_DEPTH, so records it took are
 * still taken and no others. Skipping
 * keeps one bit per level, so the bound costs 264 bytes of stack. */
#define WR_JSON_DECODE_MAX_DEPTH 2048

/* Longest LEB128 encoding of a uint64. */
#define WR_VARINT_MAX_BYTES 10

_Static_assert(WR_VARINT_MAX_BYTES * 7 >= 64, "a uint64 must fit");

/* ---- job language: job files (common/job) ----------------------------- */

/* Most sources + nodes in one job. */
#define WR_JOB_MAX_NODES               128
#define WR_JOB_MAX_PARALLELISM         1024
#define WR_JOB_DEFAULT_MAX_PARALLELISM 128
/* Most key groups (max_parallelism), as Flink (2^15): key groups are
 * numbered in checkpoints and each costs state-file bookkeeping. */
#define WR_JOB_MAX_KEY_GROUPS 32768
/* Longest node id, NUL included: an id is an operator uid that appears in
 * metric labels, Kafka transactional ids, file and vertex names. */
#define WR_JOB_MAX_ID_BYTES 64
/* Longest job name, NUL included: shown in listings and logs. */
#define WR_JOB_MAX_NAME_BYTES 128
/* Most sliding windows one record belongs to (size / slide): each record
 * updates every one of them. */
#define WR_JOB_MAX_WINDOW_OVERLAP 1000

/* Ranges of user settings. They bound nonsense (a checkpoint every
 * microsecond, a timeout of years), not memory. */
#define WR_JOB_MIN_CKPT_MS    10                       /* Flink's minimum */
#define WR_JOB_MAX_DURATION   (7LL * 24 * 3600 * 1000) /* a week */
#define WR_JOB_MAX_DELAY_MS   (24LL * 3600 * 1000)     /* a day */
#define WR_JOB_MAX_RETAINED   100
#define WR_JOB_MAX_TOLERABLE  1000000
#define WR_JOB_MAX_ATTEMPTS   1000000000
#define WR_JOB_MAX_MULTIPLIER 100.0
/* Longest window, lateness or gap: a week bounds nonsense, not memory. */
#define WR_JOB_MAX_WINDOW_MS (7LL * 24 * 3600 * 1000)
/* Generators: events per second per subtask, events per subtask. */
#define WR_JOB_MAX_GEN_RATE  100000000
#define WR_JOB_MAX_GEN_COUNT 1000000000000000LL
/* Kafka refuses longer topic names. */
#define WR_JOB_MAX_TOPIC_LEN 249
/* ClickHouse sink (sink.clickhouse): a batch is sent at batch_rows rows,
 * batch_bytes bytes of JSONEachRow or flush_interval after its first row,
 * whichever comes first. The defaults follow ClickHouse's advice (inserts
 * of thousands of rows, about one a second per table); the maxima bound
 * one subtask's buffer (it is held in memory until ClickHouse acks it). */
#define WR_JOB_CH_DEFAULT_BATCH_ROWS  10000
#define WR_JOB_CH_MAX_BATCH_ROWS      1000000
#define WR_JOB_CH_DEFAULT_BATCH_BYTES (8LL * 1024 * 1024)
#define WR_JOB_CH_MIN_BATCH_BYTES     1024
#define WR_JOB_CH_MAX_BATCH_BYTES     (256LL * 1024 * 1024)
#define WR_JOB_CH_DEFAULT_FLUSH_MS    1000
#define WR_JOB_CH_MAX_FLUSH_MS        (10LL * 60 * 1000)
/* Longest url of sink.clickhouse, NUL included. */
#define WR_JOB_CH_MAX_URL_BYTES 512
/* anomaly (docs/anomaly.md): values one key's sliding history keeps.
 * Each value is a state entry of 16 bytes plus its key; past this many
 * within the history, the oldest is dropped before its time (counted in
 * the engine's stats as dropped_over_limit), so the mean and stddev are
 * those of the latest values. min_count is bounded by the same number
 * (a larger one could never be reached). */
#define WR_ANOMALY_MAX_HISTORY 100000
/* min_count when the job does not say: a stddev of fewer values says
 * little, and the first records of a key would all look anomalous. */
#define WR_ANOMALY_DEFAULT_MIN_COUNT 20
/* Patterns (CEP, docs/cep.md): most steps (a partial match keeps a
 * bit mask of the steps it may go on with, in 32 bits), and the largest
 * `times` bound (a count per step; one_or_more is unbounded). */
#define WR_CEP_MAX_STEPS 32
#define WR_CEP_MAX_TIMES 100000

_Static_assert(WR_JOB_MAX_PARALLELISM <= WR_JOB_MAX_KEY_GROUPS,
               "a job must be able to run at its largest parallelism");
_Static_assert(WR_JOB_DEFAULT_MAX_PARALLELISM <= WR_JOB_MAX_KEY_GROUPS,
               "the default key groups must be allowed");

/* ---- storage: keyed state, checkpoint metadata (common/storage) ------- */

/* Longest user key of a state entry: the LMDB key limit less the 3-byte
 * prefix (2 bytes key group, 1 state id) state.c puts before it. */
#define WR_STATE_MAX_USER_KEY (WR_MAX_KEY_BYTES - 3)

/* Reader slots: our own reused read transaction, and the checkpoint's
 * view while a copy runs (one per backend; with MDB_NOTLS a reset
 * transaction keeps its slot). */
#define WR_STATE_MAX_READERS 2

/* Puts per write transaction of a flush. Without MDB_WRITEMAP, LMDB keeps
 * a transaction's dirty pages in malloc'd buffers and never frees them
 * (it keeps them for reuse), so RSS keeps the largest transaction's dirty
 * pages: a random put dirties about one leaf, and 4096 bounds that near
 * 16 MiB. One transaction for a whole 16 MiB cache (~140 K puts) measured
 * 336 MiB of such buffers at 5 M keys, and a file 2.2x larger (old and
 * new copies of every page it touched); 4096 was as fast (docs/state.md). */
#define WR_STATE_TXN_MAX_PUTS 4096

/* Largest _metadata accepted (inline sink states are small). */
#define WR_CKPT_META_MAX_BYTES (64u * 1024u * 1024u)

/* ---- JobManager (jobmanager/) ----------------------------------------- */

/* RPC clients to TaskManagers, by rpc address (tmclients.c). */
#define JM_MAX_TM_CLIENTS WR_MAX_TASKMANAGERS

/* Checkpoints a job's history keeps (newest first), completed or not. */
#define JM_CKPT_HISTORY 64

/* Completed checkpoints and savepoints remembered for recovery. */
#define JM_CKPT_DONE_MAX 64
/* Checkpoints past `retained` whose directories still hold pieces of a
 * retained one's incremental state, waiting to be deleted (jobmanager
 * ckpt.c): a chain is folded after WR_CKPT_FOLD_DELTAS deltas, so a few
 * dozen at most. */
#define JM_CKPT_LINGER_MAX 256

/* Triggers and notices wait at most this long for a TaskManager: one that
 * is gone must not stall the JobManager's loop for long. */
#define JM_CKPT_RPC_TIMEOUT_MS 1500

/* Deploy and cancel calls wait at most this long for a TaskManager. */
#define JM_TASK_RPC_TIMEOUT_MS 5000

/* Threads that make the JobManager's calls to TaskManagers
 * (tmclients.c): calls to one TaskManager go one at a time, in order, so
 * a TaskManager that does not answer holds up one thread, never the loop.
 */
#define JM_TMC_WORKERS 8

/* Calls to TaskManagers queued or in flight, and so completion events
 * waiting for the loop: past it a call fails at once (WR_EFULL). */
#define JM_TMC_MAX_CALLS 8192

/* Commands (submit, cancel, savepoint) REST handlers queue for the loop;
 * past it REST answers 503 at once. */
#define JM_CMDQ_DEPTH 64

/* Commands the loop runs per turn, so RPC requests (heartbeats) between
 * them wait at most this many. */
#define JM_CMDQ_BATCH 16

/* A REST handler waits at most this long for the loop to run its
 * command (504 then; the command may still run). */
#define JM_REST_CMD_TIMEOUT_MS 10000

/* An upgrade (jobmanager/upgrade.c) gives each step this much beyond
 * what the job's own settings take (a savepoint's checkpoint timeout, a
 * new version's two checkpoint intervals and timeout) before it gives
 * up; and a finished upgrade's outcome is kept this long for the client
 * that follows it. */
#define JM_UPGRADE_GRACE_MS 30000
#define JM_UPGRADE_KEEP_MS  600000

/* Failures a job's exception history keeps (REST /jobs/{id}/exceptions;
 * Flink's web.exception-history-size defaults to 16). */
#define JM_JOB_EXCEPTIONS_MAX 16
/* Failures kept beside each root cause, those that came while its attempt
 * ended (Flink's concurrentExceptions). */
#define JM_JOB_EXC_CONCURRENT_MAX 4

/* The loop republishes what GETs read (snapshot.c) at most this long
 * after a change, and at least this often. */
#define JM_SNAP_MIN_INTERVAL_MS 20
#define JM_SNAP_MAX_AGE_MS      100

/* How long a cancelled job waits for its tasks to confirm before it is
 * declared CANCELED anyway (their TaskManager may be gone). */
#define JM_CANCEL_TIMEOUT_MS 10000

/* Closed connections the JobManager's loop looks at per turn (a
 * TaskManager's whose process may be gone); more in one turn wait for
 * the heartbeat timeout. */
#define JM_CLOSED_PIPES_MAX 64

/* Most items in one of the security.allowed_* lists (jobmanager/policy.c):
 * each check walks them all for every source and sink of a job. */
#define JM_POLICY_MAX_ITEMS 64

/* Most job entries the job store reads back (a prefix read from etcd is
 * one bounded answer). */
#define JM_JOBSTORE_MAX_JOBS 10000

/* Largest job-store entry read back: the job's YAML (WR_YAML_MAX_FILE_BYTES)
 * escaped into JSON, and the rest. etcd stores at most
 * WR_ETCD_MAX_VALUE_BYTES of it. */
#define JM_JOBSTORE_ENTRY_MAX_BYTES (2u * WR_YAML_MAX_FILE_BYTES + 65536u)

/* ---- TaskManager: tasks and operators (taskmanager/) ------------------ */

/* Most tasks one TaskManager runs at once. */
#define TM_MAX_TASKS 256

/* Ended tasks a TaskManager remembers, and for how long, to report them
 * when it registers (a new leader adopting a job learns which of its tasks
 * finished while no JobManager took their reports). */
#define TM_ENDED_KEEP    TM_MAX_TASKS
#define TM_ENDED_KEEP_MS (10 * 60 * 1000)

/* Most operators in one chain and downstream targets of one operator. */
#define TM_MAX_NEXT 8

/* Largest snapshot an operator may put in a checkpoint's metadata. */
#define TM_OP_STATE_MAX_BYTES (64u * 1024u)

/* Reconnect backoff of the link to the JobManager (doubles min to max). */
#define TM_LINK_BACKOFF_MIN_MS 100
#define TM_LINK_BACKOFF_MAX_MS 2000
/* HA: a registration offered to another JobManager after a failed
 * heartbeat waits at most this long (one per JobManager per heartbeat;
 * a standby refuses at once). */
#define TM_LINK_PROBE_TIMEOUT_MS 500
/* After a heartbeat that got no answer, the other JobManagers are asked
 * this often (the leader itself every interval) until one leads. */
#define TM_LINK_HB_RETRY_MS 100

/* A task whose input fails waits this long for its own cancel (its
 * producer may have been cancelled first) before it fails: the skew of a
 * job's cancels across TaskManagers is milliseconds. */
#define TM_INPUT_FAIL_GRACE_MS 500

/* Checkpoint replies to the JobManager wait at most this long. */
#define TM_CKPT_RPC_TIMEOUT_MS 10000

/* Stale epochs a TaskManager remembers having logged (TM-STALE-EPOCH is
 * logged once per epoch; past this many, the oldest is forgotten). */
#define TM_STALE_EPOCHS_LOGGED 16
/* How often a sink held back by fencing looks again (no JobManager
 * confirmed its TaskManager within the heartbeat timeout). */
#define TM_FENCE_POLL_MS 20

/* anomaly engine: expired keys one scan of the headers collects before
 * they are deleted (each holds a copy of its key: ~0.5 MB at most). */
#define TM_ANOMALY_EXPIRE_BATCH 1024
/* Timers one scan collects before they fire: bounds the memory of
 * firing whatever the number of keys whose windows end together. */
#define TM_WIN_TIMER_BATCH 4096
/* A timer's state key is 8 bytes of time and 1 of kind before the key;
 * pane and session keys put 8 bytes after it. */
#define TM_WIN_KEY_EXTRA_BYTES 9
#define TM_WIN_MAX_KEY_BYTES   (WR_STATE_MAX_USER_KEY - TM_WIN_KEY_EXTRA_BYTES)
/* Panes a sliding window may merge when it fires. Beyond (a slide that
 * shares only a small divisor with the size) each record updates its
 * size/slide windows directly, which the job parser bounds by the same
 * number. */
#define TM_WIN_MAX_PANES WR_JOB_MAX_WINDOW_OVERLAP
/* Sessions one key may hold at once (open, or fired and within allowed
 * lateness): each record of the key reads and rewrites the list. */
#define TM_WIN_MAX_SESSIONS 4096
/* Largest |event time| a window accepts (2^62 ms, 146 million years):
 * keeps window arithmetic (ts + size + lateness) far from overflow. */
#define TM_WIN_MAX_ABS_TS ((int64_t)1 << 62)

/* Most distinct values count_distinct keeps for one key and window (or
 * one key, in a reduce). The set is exact and lives in the accumulator,
 * which each record reads and rewrites, so its size is each record's
 * cost; past this the task fails rather than answer wrongly. */
#define TM_AGG_MAX_DISTINCT 65536
/* Most bytes of those values (strings are kept whole). */
#define TM_AGG_MAX_DISTINCT_BYTES (8u * 1024u * 1024u)

/* Partial matches one key of a pattern may hold at once (taskmanager/
 * cep.c). Each event of the key reads, advances and rewrites all of
 * them, so their number is each event's cost; relaxed contiguity with
 * loose conditions can fork one per event. Past it a new partial match
 * is dropped and counted (weir_cep_partial_matches_dropped_total,
 * docs/cep.md): failing the task would fail it again on every replay of
 * the same input. A task warns of drops at most this often (the first
 * time at once). */
#define TM_CEP_MAX_PARTIALS    1024
#define TM_CEP_DROPPED_WARN_MS 10000
/* A pattern's timer key is 8 bytes of time before the key. */
#define TM_CEP_KEY_EXTRA_BYTES 8
#define TM_CEP_MAX_KEY_BYTES   (WR_STATE_MAX_USER_KEY - TM_CEP_KEY_EXTRA_BYTES)
/* Timers one scan collects before they fire (as TM_WIN_TIMER_BATCH). */
#define TM_CEP_TIMER_BATCH 4096
/* Event-time sort buffer (taskmanager/evbuf.h): a record's state key is
 * the key, then 8 bytes of time and 8 of sequence number. */
#define TM_EVBUF_KEY_EXTRA_BYTES 16
#define TM_EVBUF_MAX_KEY_BYTES                                                 \
	(WR_STATE_MAX_USER_KEY - TM_EVBUF_KEY_EXTRA_BYTES)
/* Join engines (taskmanager/join.h, docs/joins.md). Timers one watermark
 * scan collects before they fire (bounds memory however many keys are due
 * together). A timer's state key is 8 bytes of time and 1 of kind before
 * the encoded join key; a window's rows put 8 bytes of window start after
 * it. A key's buffered rows of one side (one window, for a window join)
 * are one state value, at most WR_STATE_MAX_VALUE_BYTES: past it the task
 * fails with a message rather than drop rows. Event times beyond
 * +-TM_JOIN_MAX_ABS_TS are refused, keeping ts + bounds far from
 * overflow. */
#define TM_JOIN_TIMER_BATCH     4096
#define TM_JOIN_KEY_EXTRA_BYTES 9
#define TM_JOIN_MAX_KEY_BYTES   (WR_STATE_MAX_USER_KEY - TM_JOIN_KEY_EXTRA_BYTES)
#define TM_JOIN_MAX_ABS_TS      ((int64_t)1 << 62)

_Static_assert(TM_LINK_BACKOFF_MIN_MS <= TM_LINK_BACKOFF_MAX_MS,
               "backoff doubles from the minimum up to the maximum");
_Static_assert(TM_WIN_MAX_KEY_BYTES > 0, "a window key must fit");
_Static_assert(TM_CEP_MAX_KEY_BYTES > 0, "a pattern key must fit");
_Static_assert(WR_CEP_MAX_STEPS <= 32, "a step mask is 32 bits");
_Static_assert(TM_JOIN_MAX_KEY_BYTES >= 64, "a join key must fit");
_Static_assert(TM_EVBUF_MAX_KEY_BYTES >= 64, "a buffered key must fit");

/* ---- TaskManager: shuffle, the data plane (taskmanager/shuffle*) ------ */

/* A batch carries at most this many bytes of records (Flink ships 32 KiB
 * buffers; nng costs ~22 us per message, so batches amortise it). */
#define TM_BATCH_BYTES (32u * 1024u)
/* Full batches a producer queues per channel before it blocks. */
#define TM_SHUFFLE_QUEUE 4
/* Fetches (batches in flight or buffered) a consumer allows per channel. */
#define TM_SHUFFLE_CREDITS 2

/* A record's length prefix: unsigned LEB128; 32 KiB needs 3 bytes, 5
 * cover any uint32. */
#define TM_VARINT_MAX 5

/* Largest payload of one DATA batch: a full batch, or one record over
 * TM_BATCH_BYTES with its length prefix (it travels alone). */
#define TM_BATCH_MAX_BYTES (TM_VARINT_MAX + WR_SHUFFLE_MAX_RECORD_BYTES)

/* A peer silent (no connection) this long is lost: tm_input_next reports
 * WR_EUNREACHABLE and the task fails, rather than wait forever. */
#define TM_SHUFFLE_UNREACHABLE_MS 10000

/* A fetch for a channel not registered yet (consumer deployed before its
 * producer) waits this long for the producer, then is answered "unknown"
 * and asked again: long enough that normal deployment skew costs no
 * round trips, short enough that a context is not pinned forever. */
#define TM_SHUFFLE_UNKNOWN_PARK_MS 30000

/* A fetch parked on a channel with no data is answered "again" after
 * this long and asked again. Bounds how long any request can be
 * outstanding, so a socket can be closed when none is (see
 * tm_peers_close); costs an idle channel one round trip per credit per
 * period. */
#define TM_SHUFFLE_POLL_MS 5000

/* Shutting down, the data server tells consumers to back off and waits
 * until no fetch arrived for this long (at most the second value) before
 * it closes its socket (see tm_srv_stop). */
#define TM_SHUFFLE_QUIET_MS     50
#define TM_SHUFFLE_QUIET_MAX_MS 1000

/* Consumer retry backoff after a failed fetch or an "unknown"/"busy"
 * answer: starts small (a reconnect is usually quick), doubles, capped so
 * a returning producer is found within a second. */
#define TM_FETCH_BACKOFF_MIN_MS 10
#define TM_FETCH_BACKOFF_MAX_MS 1000

/* Redial backoff of the data-plane req sockets (nng doubles min to max). */
#define TM_PEER_RECONNECT_MIN_MS 50
#define TM_PEER_RECONNECT_MAX_MS 1000

/* A consumer that stops reading must not pin a server context forever;
 * the batch stays retained, so a timed-out reply is fetched again. */
#define TM_SHUFFLE_REPLY_SEND_TIMEOUT_MS 5000

/* Status text: one log line's worth of reason. */
#define TM_SF_TEXT_MAX 160
/* nng counts the SP header (request id, hops) in NNG_OPT_RECVMAXSZ. */
#define TM_SF_SP_SLACK 64u
/* The server accepts small frames only: a fetch is 68 bytes and the
 * cluster token (WR_AUTH_TOKEN_MAX_BYTES). 1 KiB more lets small garbage
 * reach the decoder and get an error reply; larger frames make nng drop
 * the connection. A client receives batches: a batch
 * frame's header (TM_SF_BATCH_HDR, with the wire format in
 * taskmanager/shuffle_int.h, where this is used) and a full batch, or
 * one oversized record alone. */
#define TM_SF_SERVER_RECV_MAX (1024u + WR_AUTH_TOKEN_MAX_BYTES + TM_SF_SP_SLACK)
#define TM_SF_CLIENT_RECV_MAX                                                  \
	(TM_SF_BATCH_HDR + TM_BATCH_MAX_BYTES + TM_SF_SP_SLACK)

_Static_assert(TM_SHUFFLE_CREDITS >= 1 && TM_SHUFFLE_QUEUE >= 1,
               "a channel needs a queue and a credit to move data");
_Static_assert(1 + TM_SHUFFLE_QUEUE + TM_SHUFFLE_CREDITS <=
                   WR_SHUFFLE_MAX_BATCHES,
               "one channel's reservation must fit the budget");
_Static_assert(TM_BATCH_BYTES < (1u << 21), "lengths fit 3 varint bytes");
_Static_assert(WR_SHUFFLE_MAX_RECORD_BYTES > TM_BATCH_BYTES &&
                   WR_SHUFFLE_MAX_RECORD_BYTES < (1u << 28),
               "an oversized record's length fits 4 varint bytes");
_Static_assert(TM_SHUFFLE_QUIET_MS <= TM_SHUFFLE_QUIET_MAX_MS,
               "the quiet period must fit its cap");
_Static_assert(TM_FETCH_BACKOFF_MIN_MS <= TM_FETCH_BACKOFF_MAX_MS,
               "backoff doubles from the minimum up to the maximum");
_Static_assert(TM_PEER_RECONNECT_MIN_MS <= TM_PEER_RECONNECT_MAX_MS,
               "backoff doubles from the minimum up to the maximum");

/* ---- TaskManager: sources and sinks (taskmanager/source*, sink*) ------ */

/* Topic metadata requests of the Kafka source wait at most this long. */
#define TM_KAFKA_METADATA_MS 5000
/* A source with allow_missing looks for its missing topic this often,
 * and warns that it is still missing at most this often (the first
 * time at once). */
#define TM_KAFKA_MISSING_POLL_MS 1000
#define TM_KAFKA_MISSING_WARN_MS 10000

/* Longest extra padding of a Nexmark event (1.2 x the 500-byte average of
 * an auction). */
#define TM_NEX_EXTRA_MAX 600

/* Kafka exactly-once sink: one blocking transaction call waits this long
 * before it is retried (init and commit are resumable); aborting in
 * destroy waits at most the second value per producer. */
#define TM_KTX_CALL_MS  10000
#define TM_KTX_ABORT_MS 5000
/* transaction.timeout.ms: at least the brokers' default maximum
 * (transaction.max.timeout.ms = 15 min), at most an hour. */
#define TM_KTX_MIN_TXN_MS (15 * 60 * 1000)
#define TM_KTX_MAX_TXN_MS (60 * 60 * 1000)

/* PostgreSQL sink: rows held back while a prepared transaction waits for
 * its commit are sent anyway past this size (they may then wait for row
 * locks, bounded by lock_timeout). */
#define TM_PG_DEFER_MAX_BYTES (64u * 1024u * 1024u)
/* Prepared transactions of one subtask waiting for their checkpoints:
 * more means checkpoints keep failing; the server's own limit
 * (max_prepared_transactions) is usually lower. */
#define TM_PG_MAX_PENDING 32

/* ClickHouse sink (sink_clickhouse.c): a batch that fails with a 5xx or a
 * connection error is sent again after TM_CH_BACKOFF_MIN_MS, doubling up
 * to TM_CH_BACKOFF_MAX_MS, for at most TM_CH_RETRY_MS in all (then the
 * task fails and restarts from its checkpoint). One request may take
 * TM_CH_HTTP_TIMEOUT_MS (connecting TM_CH_CONNECT_MS). ClickHouse's
 * error text is kept up to TM_CH_ERR_BYTES; a password file is read up
 * to TM_CH_PASSWORD_BYTES. */
#define TM_CH_BACKOFF_MIN_MS  100
#define TM_CH_BACKOFF_MAX_MS  5000
#define TM_CH_RETRY_MS        60000
#define TM_CH_HTTP_TIMEOUT_MS 60000
#define TM_CH_CONNECT_MS      5000
#define TM_CH_ERR_BYTES       400
#define TM_CH_PASSWORD_BYTES  256

_Static_assert(TM_CH_BACKOFF_MIN_MS <= TM_CH_BACKOFF_MAX_MS,
               "backoff doubles from the minimum up to the maximum");
_Static_assert(TM_CH_BACKOFF_MAX_MS <= TM_CH_RETRY_MS,
               "at least one backoff fits the retry budget");

_Static_assert(TM_KTX_MIN_TXN_MS <= TM_KTX_MAX_TXN_MS,
               "the transaction timeout range must not be empty");

/* ---- CLI (cli/) ------------------------------------------------------- */

/* `weir local`: most TaskManagers and topics one local cluster starts;
 * how long it waits for the cluster to come up, and for a process to
 * stop before it is killed. */
#define CLI_LOCAL_MAX_TMS    64
#define CLI_LOCAL_MAX_TOPICS 64
#define CLI_LOCAL_STARTUP_MS 20000
#define CLI_LOCAL_STOP_MS    10000
/* `weir local --jobmanagers N`: how long it waits for its embedded etcd
 * to answer (one starts in about a second), and the loopback ports it
 * picks at most (Kafka, REST and RPC of every JobManager, etcd's two,
 * every TaskManager's metrics). */
#define CLI_LOCAL_ETCD_STARTUP_MS 20000
#define CLI_LOCAL_MAX_PORTS       (2 * WR_MAX_JOBMANAGERS + 8 + CLI_LOCAL_MAX_TMS)

/* Consecutive failed polls (each bounded by the RPC timeout) before an
 * attached `weir run` gives up on a silent JobManager. */
#define CLI_RUN_MAX_MISSES 3
/* Consecutive polls that may fail transiently (JobManager busy or
 * reconnecting) before a savepoint or stop wait gives up. */
#define CLI_SP_MAX_MISSES 5
/* Consecutive polls of an upgrade (weir upgrade, weir apply) that may fail
 * transiently before the client gives up following it (the upgrade goes
 * on in the JobManager). */
#define CLI_UPGRADE_MAX_MISSES 10
/* Job files `weir apply` reads from one directory at most. */
#define CLI_APPLY_MAX_FILES 256

/* `weir gen`: bounds of the flags: a generator that cannot keep up with
 * its rate just falls behind, but a product table is memory (a double a
 * product). */
#define CLI_GEN_MAX_PRODUCTS 1000000
#define CLI_GEN_MAX_RATE     10000000
/* Users, cards or sensors of a simulating generator (--keys): each is a
 * few dozen bytes and a heap slot. */
#define CLI_GEN_MAX_KEYS 10000000
/* Longest wait for the last messages to be acknowledged. */
#define CLI_GEN_FLUSH_MS 30000

/* `weir consume -f FORMAT`: a format is a few fields and separators;
 * these bound its parsed form (cli/kafka_fmt.h), which lives in the
 * verb's options. */
#define CLI_KFMT_MAX_BYTES 1024
#define CLI_KFMT_MAX_ITEMS 64
/* `weir produce`: a line is one message, and librdkafka refuses a message
 * over message.max.bytes (1,000,000 by default) anyway; a longer line is
 * reported and skipped without being held in memory. Headers: -H flags
 * of one run. */
#define CLI_PRODUCE_MAX_LINE_BYTES 1000000
#define CLI_PRODUCE_MAX_HEADERS    32
/* The producer's message.max.bytes: room for a longest line, its -H
 * headers and the record's framing, and still under a broker's default
 * limit (Kafka's message.max.bytes, 1 MiB + 12). */
#define CLI_PRODUCE_MSG_BYTES "1048576"
/* Per-line problems `weir produce` prints before it only counts them (a
 * lost broker fails every message), and how long it waits for the last
 * acknowledgements. */
#define CLI_PRODUCE_MAX_REPORTS 20
#define CLI_PRODUCE_FLUSH_MS    60000
/* `weir consume --group`: joining a group takes the coordinator's first
 * rebalance delay (3 s in the embedded Kafka, Kafka's
 * group.initial.rebalance.delay.ms); --timeout counts only after that. */
#define CLI_CONSUME_JOIN_MS 15000
/* Partitions of a topic `weir topic create` and `weir local --topic`
 * make: the embedded Kafka keeps every partition's log in memory. */
#define CLI_TOPIC_MAX_PARTITIONS 10000
/* Topics one `weir local` deletes in its life: the embedded Kafka keeps
 * a deleted topic (answering for it as unknown), weir local its name. */
#define CLI_LOCAL_MAX_DELETED_TOPICS 1024
/* `weir topic`: how long it waits for Kafka's metadata and for weir
 * local's admin endpoint. */
#define CLI_TOPIC_METADATA_MS 10000
#define CLI_TOPIC_RPC_MS      5000

/* Most flags of one verb (cli/verb.c): its getopt tables live on the
 * stack; `weir gen` has the most, 8. */
#define CLI_VERB_MAX_FLAGS 16

/* ---- checks of the limits every layer shares (the first ones) -------- */

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

/* Object storage (common/storage/objstore*.c) ------------------------- */

/* Longest object key, the store's prefix included: S3's own limit, so a
 * key that works on file:// works on s3:// too. */
#define WR_OBJSTORE_MAX_KEY_BYTES 1024

/* Most '/'-separated parts in a key (checkpoint keys have four): bounds
 * the depth of the file backend's directory walk (stack, open
 * directories). */
#define WR_OBJSTORE_MAX_KEY_PARTS 32

/* Most keys one list returns: bounds the memory a huge or hostile
 * listing can take (a checkpoint has a few files per task). */
#define WR_OBJSTORE_MAX_LIST_KEYS 1000000

/* Copy buffer of the file backend's put_file and get_file, allocated per
 * copy: large enough that a GiB snapshot takes few syscalls. */
#define WR_OBJSTORE_COPY_BYTES (256u * 1024u)

/* Largest ListObjectsV2 reply: 1,000 keys of at most 1 KiB each and their
 * metadata fit well inside. */
#define WR_S3_MAX_LIST_REPLY_BYTES (16u * 1024u * 1024u)

/* Empty but truncated ListObjectsV2 pages accepted in one list, so a
 * server that keeps answering "more" with nothing cannot loop us. */
#define WR_S3_MAX_EMPTY_PAGES 16

/* Bytes of a failed request's reply body kept for the error message. */
#define WR_S3_MAX_ERROR_BODY_BYTES 4096

/* S3 request timeouts. Whole requests of small objects, lists and deletes
 * take 60 s at most; streamed files (state snapshots, possibly GiB) are
 * bounded by a stall detector (less than 1 KiB/s for 60 s) and a cap of
 * an hour. */
#define WR_S3_CONNECT_TIMEOUT_MS 5000
#define WR_S3_REQUEST_TIMEOUT_MS 60000
#define WR_S3_STALL_BYTES_PER_S  1024
#define WR_S3_STALL_TIME_S       60
#define WR_S3_XFER_TIMEOUT_MS    (3600L * 1000L)

_Static_assert(WR_OBJSTORE_MAX_KEY_BYTES == 1024 &&
                   WR_OBJSTORE_MAX_KEY_PARTS == 32,
               "objstore.h documents these and the key checks' messages "
               "say them");
_Static_assert(WR_S3_MAX_LIST_REPLY_BYTES >=
                   1000u * 6u * WR_OBJSTORE_MAX_KEY_BYTES,
               "a page of 1,000 keys must fit even if every byte of every "
               "key is an XML entity");
_Static_assert(WR_S3_MAX_ERROR_BODY_BYTES > 200,
               "error messages quote up to 200 bytes of a body");
_Static_assert(WR_S3_CONNECT_TIMEOUT_MS < WR_S3_REQUEST_TIMEOUT_MS,
               "connecting is part of a request");
_Static_assert(WR_S3_REQUEST_TIMEOUT_MS <= WR_S3_XFER_TIMEOUT_MS &&
                   WR_S3_STALL_TIME_S * 1000L < WR_S3_XFER_TIMEOUT_MS,
               "a streamed transfer gets at least as long as a small "
               "request, and a stall is caught before the cap");

/* High availability (common/ha/) ------------------------------------ */

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

/* The cluster token (security.token_file, docs/security.md): its largest
 * size (it travels in every RPC envelope and shuffle fetch, so it is
 * kept small; 32 random bytes in hex are 64), how many refused
 * connections each listener remembers so that it logs each once, and how
 * often a refusal from a peer it cannot name (HTTP) is logged. */
#define WR_AUTH_TOKEN_MAX_BYTES 1024u
#define WR_AUTH_RECENT_PEERS    64u
#define WR_AUTH_ANON_LOG_MS     10000

/* security.tls's PEM files (certificate chain, key, CA bundle), each read
 * whole at start: 1 MiB holds hundreds of certificates. */
#define WR_TLS_PEM_MAX_BYTES (1024u * 1024u)

/* wr_mkdirs: attempts when a parent vanishes under a concurrent rmdir. */
#define WR_MKDIRS_TRIES 8

#endif
