/*
 * shuffle_int.h - what shuffle.c (batches, outputs, input gates) and
 * shuffle_net.c (the wire format, the data server, remote fetches) share,
 * and the getters and knobs tests use.
 *
 * Locking: one mutex per shuffle (sh->mu) guards every field marked
 * "@locks sh->mu" in outputs, inputs, channels, the registry, the batch
 * pool and the server's contexts. It is held for bookkeeping and for
 * copying at most one batch, never across an nng call: nng may run our
 * callbacks on its threads, which take sh->mu, so work that calls nng is
 * gathered under the lock into a tm_later and run after unlocking.
 *
 * Sequence numbers: every batch of a channel gets the next seq (0, 1, ...).
 * A remote consumer fetches a seq and acknowledges all seqs below `ack`;
 * the producer keeps a sent batch until it is acknowledged, so a fetch
 * lost with a dropped connection is simply asked again: no batch is lost
 * or delivered twice across reconnects.
 */
#ifndef TM_SHUFFLE_INT_H
#define TM_SHUFFLE_INT_H

#include "auth.h"
#include "shuffle.h"
#include "wr_limits.h"

#include <nng/nng.h>
#include <pthread.h>
#include <stdatomic.h>

/* Wire protocol version of the data plane (not the control plane's
 * WR_PROTOCOL_VERSION: the two evolve separately). */
#define TM_SHUFFLE_PROTO_VERSION 1

/* Batches one channel can pin: the open batch, the queue, and the batches
 * a consumer holds (in flight or buffered remotely, lent locally). The
 * budget reserves this many per channel, so one channel can never starve
 * another of batches (no deadlock under barrier alignment). */
#define TM_CHAN_BATCHES (1 + TM_SHUFFLE_QUEUE + TM_SHUFFLE_CREDITS)

/* Seqs a producer channel retains: unsent (<= queue) plus sent but not
 * yet acknowledged (<= credits, enforced on every fetch). */
#define TM_OUT_RING (TM_SHUFFLE_QUEUE + TM_SHUFFLE_CREDITS)

/* Producer waits wake at least this often: every wait has a timeout. */
#define TM_SHUFFLE_WAIT_SLICE_MS 100

/* Live-pipe set buckets (a TaskManager's data port sees one connection
 * per consuming TaskManager, plus strays). */
#define TM_PIPE_BUCKETS 64

/* Registry buckets (outputs by job, attempt, edge, producer subtask). */
#define TM_REG_BUCKETS 256

struct tm_out_chan;
struct tm_in_chan;
struct tm_srv_ctx;
struct tm_fetch;
struct tm_peer;

enum tm_sbatch_origin {
	TM_SB_POOL = 1, /* a producer's batch from the shuffle's pool */
	TM_SB_NET = 2,  /* a reply received from a remote producer */
};

/*
 * A batch with its bookkeeping. The public tm_batch comes first: callers
 * get &sb->b and tm_input_release casts back.
 */
typedef struct tm_sbatch {
	tm_batch b;
	uint8_t origin;
	bool in_use; /* NET wrappers: holding a reply */
	bool orphan; /* lent, and its output was freed */
	uint64_t seq;
	struct tm_sbatch *next;     /* pool free list */
	struct tm_out_chan *lender; /* lent to a local consumer */
	struct tm_in_chan *ichan;   /* the consumer channel holding it */
	nng_msg *msg;               /* NET: the reply owning the bytes */
} tm_sbatch;

enum tm_chan_mode {
	TM_MODE_NONE = 0,
	TM_MODE_LOCAL,  /* a consumer in this process takes batches */
	TM_MODE_REMOTE, /* a consumer fetches over the network */
};

/* One channel of an output: the producer's side. */
typedef struct tm_out_chan {
	struct tm_output *o;
	uint16_t to;
	/* @thread producer: the batch being filled (no lock needed). */
	tm_sbatch *open;
	/* @locks sh->mu from here on. Seqs [base, next_seq) are retained in
	 * ring[seq % TM_OUT_RING]; those below sent_hi were sent. */
	tm_sbatch *ring[TM_OUT_RING];
	uint64_t base;
	uint64_t next_seq;
	uint64_t sent_hi;
	bool eos;
	uint64_t eos_seq;
	uint8_t mode;
	struct tm_in_chan *local;            /* attached local consumer */
	tm_sbatch *lent[TM_SHUFFLE_CREDITS]; /* held by that consumer */
	struct tm_srv_ctx *parked;           /* fetches waiting for data */
} tm_out_chan;

struct tm_output {
	tm_shuffle *sh;
	tm_chan_key key; /* to_subtask unused */
	int nchannels;
	pthread_cond_t cv;  /* room in a queue, drain, close */
	atomic_bool closed; /* read per record without the lock */
	bool ended;         /* @thread producer: EOS queued */
	/* @locks sh->mu */
	int64_t blocked_ns;       /* finished waits */
	int64_t blocked_since_ns; /* 0 unless waiting now */
	struct tm_output *hnext;  /* registry bucket chain */
	tm_out_chan chans[];
};

enum tm_fetch_state {
	TM_FETCH_IDLE = 0,
	TM_FETCH_SEND,  /* request handed to nng */
	TM_FETCH_RECV,  /* waiting for the reply (long poll) */
	TM_FETCH_SLEEP, /* backing off before asking again */
};

/*
 * One fetch slot (a credit of a remote channel): an nng req context. Slots
 * belong to their peer and outlive channels: a freed input abandons its
 * slots (c = NULL), each finishes the request it has out, and the peer
 * reuses it. So the peer always knows whether a reply can still arrive,
 * and closes its socket only when none can (nng 1.5.2 hangs closing a
 * pipe while a message is being received, see shuffle_net.c).
 */
typedef struct tm_fetch {
	struct tm_peer *peer;
	nng_ctx ctx;
	nng_aio *aio;
	struct tm_fetch *pnext; /* the peer's slots */
	/* @locks sh->mu */
	struct tm_in_chan *c; /* NULL: free (if idle) or abandoned */
	uint8_t state;
	bool final; /* the acknowledgement sent after EOS */
	uint64_t seq;
	uint64_t ack;
	int backoff_ms;
	struct tm_fetch *later_next;
} tm_fetch;

/* One channel of an input gate: the consumer's side. */
typedef struct tm_in_chan {
	struct tm_input *in;
	int idx;
	tm_input_chan cfg;
	/* remote */
	struct tm_peer *peer;
	tm_fetch *fetch[TM_SHUFFLE_CREDITS]; /* @locks sh->mu */
	tm_sbatch rb[TM_SHUFFLE_CREDITS];    /* NET wrappers */
	/* @locks sh->mu from here on */
	tm_sbatch *rbuf[TM_SHUFFLE_CREDITS]; /* received, not delivered */
	uint64_t deliver_seq;                /* next seq to hand to the task */
	uint64_t recv_contig;                /* every seq below was received */
	uint64_t next_fetch;                 /* next seq to ask for */
	bool eos_received;
	uint64_t eos_seq;
	bool final_sent;
	/* local */
	tm_out_chan *src;
	bool src_gone;
	tm_sbatch *lheld[TM_SHUFFLE_CREDITS];
	/* both */
	int held; /* delivered, not released */
	bool blocked;
	bool ended; /* EOS delivered */
	int err;    /* fatal: reported by tm_input_next */
} tm_in_chan;

struct tm_input {
	tm_shuffle *sh;
	pthread_cond_t cv;
	/* @locks sh->mu */
	bool closed;
	bool freeing;
	int rr;
	int nended;
	struct tm_input *next, *prev;
	int nchannels;
	tm_in_chan chans[];
};

/* A req socket to one producer TaskManager, cached until the shuffle is
 * freed (at most WR_MAX_TASKMANAGERS of them). */
typedef struct tm_peer {
	tm_shuffle *sh;
	char addr[WR_ADDR_BYTES];
	nng_socket sock;
	/* @locks sh->mu */
	tm_fetch *slots;
	uint32_t up_pipe;      /* connected pipe, 0 if none */
	int64_t last_alive_ms; /* connected now or until then */
	struct tm_peer *next;
} tm_peer;

enum tm_srv_state {
	TM_SRV_IDLE = 0,
	TM_SRV_RECV,
	TM_SRV_PARKED,
	TM_SRV_SEND,
};

/* One context of the data server: receives one fetch and answers it. */
typedef struct tm_srv_ctx {
	tm_shuffle *sh;
	nng_ctx ctx;
	nng_aio *aio;
	/* @locks sh->mu */
	uint8_t state;
	nng_msg *msg; /* the request, reused for the reply */
	uint32_t pipe;
	tm_chan_key key;
	uint64_t seq;
	uint64_t ack;
	int64_t deadline_ms; /* parked for an unknown channel */
	tm_out_chan *chan;   /* parked on it; NULL: unknown list */
	struct tm_srv_ctx *prev, *next;
	struct tm_srv_ctx *later_next;
} tm_srv_ctx;

typedef struct tm_pipe_ent {
	uint32_t id;
	struct tm_pipe_ent *next;
} tm_pipe_ent;

struct tm_shuffle {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* shutdown waits: slots idle, server quiet */
	/* server (shuffle_net.c) */
	nng_socket sock;
	bool sock_open;
	nng_listener lst;
	int port;
	nng_aio *timer;
	/* @locks mu from here on */
	bool closing;
	tm_srv_ctx **ctxs; /* WR_SHUFFLE_SERVER_CTX_MAX slots */
	int nctx;
	int nrecv;    /* contexts receiving */
	int nspawn;   /* contexts being created */
	int nunknown; /* parked for unknown channels */
	tm_srv_ctx *unknown;
	tm_pipe_ent *pipes[TM_PIPE_BUCKETS];
	int64_t last_request_ms;
	/* registry */
	struct tm_output *reg[TM_REG_BUCKETS];
	int noutputs;
	int nout_chans;
	struct tm_input *inputs;
	tm_peer *peers;
	int npeers;
	/* batch pool */
	tm_sbatch *free;
	uint32_t nalloc;
	uint32_t nfree;
	uint32_t reserved;
	uint32_t alive_peak;
	/* knobs (tests) and counters */
	int unreachable_ms;
	int unknown_park_ms;
	int poll_ms;
	/* The cluster token (auth.h): sent after every fetch, required of
	 * every fetch received ("" = none). Set before the server listens,
	 * read-only after. gate: one AUTH-REFUSED line per connection. */
	char token[WR_AUTH_TOKEN_MAX_BYTES + 1];
	wr_auth_gate gate;
	uint64_t bad_frames;
	uint64_t unknown_replies;
	uint64_t fetch_retries;
};

/* Work decided under sh->mu that calls nng: run after unlocking. */
typedef struct tm_later {
	tm_shuffle *sh;
	tm_srv_ctx *replies; /* contexts to send their msg */
	tm_srv_ctx *recvs;   /* contexts to receive again */
	tm_fetch *fetches;   /* fetch slots to send or to sleep */
	int spawn;           /* server contexts to create */
} tm_later;

/* ---- the wire format (shuffle_net.c describes it) --------------------- */

#define TM_SF_MAGIC     "WRSH"
#define TM_SF_MAGIC_LEN 4
#define TM_SF_HDR       8
#define TM_SF_JOB_BYTES 32
#define TM_SF_FETCH_BYTES                                                      \
	(TM_SF_HDR + TM_SF_JOB_BYTES + 4 + 2 + 2 + 2 + 2 + 8 + 8)
/* A batch frame's header; with a full batch, it sizes a client's receive
 * cap (TM_SF_CLIENT_RECV_MAX, with the other limits in wr_limits.h). */
#define TM_SF_BATCH_HDR  (TM_SF_HDR + 1 + 3 + 4 + 4 + 8)
#define TM_SF_STATUS_HDR (TM_SF_HDR + 2 + 2 + 4 + 8 + 8 + 2)

enum { TM_SF_FETCH = 1, TM_SF_BATCH = 2, TM_SF_STATUS = 3 };

enum tm_sf_status {
	TM_ST_UNKNOWN = 1,       /* no such channel (yet): retry later */
	TM_ST_BUSY = 2,          /* no context to park the fetch: retry */
	TM_ST_ENDED = 3,         /* seq is past the channel's EOS */
	TM_ST_CLOSED = 4,        /* the producer's output was freed */
	TM_ST_GONE = 5,          /* seq was acknowledged and freed */
	TM_ST_CONFLICT = 6,      /* the channel has a local consumer */
	TM_ST_BAD_REQUEST = 7,   /* malformed fetch */
	TM_ST_BAD_VERSION = 8,   /* another protocol version */
	TM_ST_AGAIN = 9,         /* no data within the poll period: ask again */
	TM_ST_SHUTDOWN = 10,     /* the producer TaskManager is stopping */
	TM_ST_UNAUTHORIZED = 11, /* no or the wrong cluster token */
};

typedef struct tm_sf_reply {
	uint8_t type;
	uint16_t status;
	uint32_t version;
	uint64_t seq;
	uint64_t eos_seq;
	uint8_t kind;
	uint32_t nrecords;
	uint32_t len;
	char text[TM_SF_TEXT_MAX + 1];
} tm_sf_reply;

/* Writes a fetch for seq, acknowledging every seq below ack, into p
 * (TM_SF_FETCH_BYTES). */
void tm_sf_fetch_encode(uint8_t *p, const tm_chan_key *k, uint64_t seq,
                        uint64_t ack);
/* Decodes a fetch from the network (the producer's side). Returns 0, or
 * the status to answer with the reason in *why. */
int tm_sf_fetch_decode(const uint8_t *p, size_t len, tm_chan_key *k,
                       uint64_t *seq, uint64_t *ack, const char **why);
/* Decodes a reply from the network. Errors: WR_EPROTO with *why. */
int tm_sf_reply_decode(const uint8_t *p, size_t len, tm_sf_reply *r,
                       const char **why);
/* nng's codes in ours; an unknown URL scheme is WR_EINVAL. */
int tm_err_from_nng(int rv);

/* ---- shuffle.c, used by shuffle_net.c -------------------------------- */

/* The output channel for key, or NULL. @locks sh->mu */
tm_out_chan *tm_reg_find(tm_shuffle *sh, const tm_chan_key *key);
/* Returns a pool batch (frees nothing to the OS). @locks sh->mu */
void tm_pool_put(tm_shuffle *sh, tm_sbatch *sb);
/* Acknowledges seqs below ack: their batches go back to the pool.
 * @locks sh->mu */
void tm_out_chan_ack(tm_out_chan *c, uint64_t ack);
/* Wakes whoever waits on the output (room, drain). @locks sh->mu */
void tm_out_chan_progress(tm_out_chan *c);
/* Wakes the gate's task thread. @locks sh->mu */
void tm_input_wake(struct tm_input *in);
/* Starts fetches the channel's credits allow. @locks sh->mu */
void tm_in_chan_pump(tm_in_chan *c, tm_later *later);
int64_t tm_now_ms(void);

/* ---- shuffle_net.c and shuffle_fetch.c, used by shuffle.c ------------ */

/* Listens and starts the server contexts and the timer. */
int tm_srv_start(tm_shuffle *sh, const char *url);
/* Stops everything the server runs; no callback runs afterwards. */
void tm_srv_stop(tm_shuffle *sh);
/* A batch was queued on c: answer fetches parked for it. @locks sh->mu */
void tm_srv_on_push(tm_out_chan *c, tm_later *later);
/* Output o was registered: retry fetches parked as unknown.
 * @locks sh->mu */
void tm_srv_on_register(struct tm_output *o, tm_later *later);
/* c is going away: answer its parked fetches "closed". @locks sh->mu */
void tm_srv_on_unregister(tm_out_chan *c, tm_later *later);
/* Runs and clears l. @locks none */
void tm_later_run(tm_later *l);

/* Finds or creates the peer for addr. Errors: WR_EINVAL (bad address),
 * WR_EFULL (more than WR_MAX_TASKMANAGERS peers). @locks none */
int tm_peer_get(tm_shuffle *sh, const char *addr, tm_peer **out);
/* Waits (bounded) until no reply can arrive on any peer, then closes
 * them. @locks none, every input freed */
void tm_peers_close(tm_shuffle *sh);
/* Gives channel c its fetch slots from its peer. @locks none */
int tm_in_chan_net_open(tm_in_chan *c);
/* Abandons c's slots: they finish their request without c.
 * @locks sh->mu */
void tm_in_chan_abandon(tm_in_chan *c);

/* ---- tests ----------------------------------------------------------- */

/* Sets how long a peer may stay unconnected before its channels report
 * WR_EUNREACHABLE (default TM_SHUFFLE_UNREACHABLE_MS). */
void tm_shuffle_set_unreachable_ms(tm_shuffle *sh, int ms);
/* Sets how long a fetch for an unknown channel is parked (default
 * TM_SHUFFLE_UNKNOWN_PARK_MS). */
void tm_shuffle_set_unknown_park_ms(tm_shuffle *sh, int ms);
/* Sets how long a fetch waits for data before "again" (default
 * TM_SHUFFLE_POLL_MS). */
void tm_shuffle_set_poll_ms(tm_shuffle *sh, int ms);
/* Pool batches in use now, and the most ever in use. */
uint32_t tm_shuffle_batches_alive(tm_shuffle *sh);
uint32_t tm_shuffle_batches_peak(tm_shuffle *sh);
/* Frames the server refused (garbage, other version, bad fields). */
uint64_t tm_shuffle_bad_frames(tm_shuffle *sh);
/* Fetches answered "unknown channel" after their park. */
uint64_t tm_shuffle_unknown_replies(tm_shuffle *sh);
/* Fetches this shuffle's consumers sent again (failure, unknown, busy). */
uint64_t tm_shuffle_fetch_retries(tm_shuffle *sh);
/* Server contexts open now. */
int tm_shuffle_server_contexts(tm_shuffle *sh);
/* Fetches parked for channels not registered yet. */
uint64_t tm_shuffle_parked_unknown(tm_shuffle *sh);

#endif
