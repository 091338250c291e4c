/*
 * shuffle.h - the data plane between subtasks: batches of encoded records
 * and in-band events travel over channels with credit-based flow control.
 *
 * A channel joins one producer subtask to one consumer subtask on one edge
 * of the plan. It is named by a tm_chan_key. The producer's side (an
 * output) keeps a bounded queue of full batches per channel; the consumer's
 * side (an input gate) asks for batches - a fetch is a credit: the consumer
 * keeps at most TM_SHUFFLE_CREDITS fetches outstanding per channel and
 * issues one only when it has room for the batch. So a slow consumer stops
 * fetching, the producer's queues fill, tm_output_append blocks, and the
 * back-pressure reaches the source; memory stays bounded by
 * (queue + credits) x TM_BATCH_BYTES per channel (a batch holding one
 * oversized record alone is as big as that record, at most
 * WR_SHUFFLE_MAX_RECORD_BYTES).
 *
 * Remote channels run over nng: each TaskManager listens on its data
 * address (a rep socket); consumers fetch with req contexts. A fetch that
 * finds no batch is parked until one is queued (long poll), so data moves
 * as soon as it exists. Local channels (both subtasks in one TaskManager)
 * skip the network: the consumer takes batches from the producer's queue
 * directly.
 *
 * Events (watermarks, checkpoint barriers, end of stream) travel in-band,
 * in order with the records, as batches of their own kind. An input gate
 * can block one channel (barrier alignment) while it keeps reading others.
 *
 * Threads: an output belongs to its producer task thread; an input to its
 * consumer task thread; nng callbacks move batches between them under the
 * shuffle's locks.
 */
#ifndef TM_SHUFFLE_H
#define TM_SHUFFLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wr_limits.h"

enum tm_batch_kind {
	TM_BATCH_DATA = 1,      /* nrecords records, each length-prefixed */
	TM_BATCH_WATERMARK = 2, /* payload: int64 watermark ms */
	TM_BATCH_BARRIER = 3,   /* payload: uint64 checkpoint id, flags */
	TM_BATCH_EOS = 4,       /* end of stream: no more from this channel */
};

typedef struct tm_batch {
	uint8_t kind;
	uint32_t nrecords;
	uint32_t len;  /* bytes used in data */
	uint8_t *data; /* TM_BATCH_BYTES capacity for DATA, or one record */
} tm_batch;

typedef struct tm_chan_key {
	char job_id[33];
	uint32_t attempt; /* job attempt: channels of old attempts die */
	uint16_t edge;    /* index in the plan's edges */
	uint16_t from_subtask;
	uint16_t to_subtask;
} tm_chan_key;

typedef struct tm_shuffle tm_shuffle;
typedef struct tm_output tm_output;
typedef struct tm_input tm_input;

/*
 * Starts the data endpoint listening on listen_url ("tcp://0.0.0.0:0").
 * tm_shuffle_port tells the port bound. Errors: bind failures.
 */
int tm_shuffle_new(const char *listen_url, tm_shuffle **out);
int tm_shuffle_port(const tm_shuffle *sh);
/* Stops the endpoint; every output and input must be freed first. */
void tm_shuffle_free(tm_shuffle *sh);

/* ---- producer side --------------------------------------------------- */

/*
 * An output of one producer subtask on one edge, with nchannels channels
 * (key.to_subtask = 0..nchannels-1; key.from_subtask = this subtask).
 * Registered with the shuffle so consumers (local or remote) find it.
 */
int tm_output_new(tm_shuffle *sh, const tm_chan_key *key, int nchannels,
                  tm_output **out);

/*
 * Appends one encoded record to channel ch's open batch; a full batch is
 * queued. A record larger than a batch is queued alone in a batch of its
 * own size. Blocks while the channel's queue is full (back-pressure),
 * waking on credit or on tm_output_close. Returns WR_OK, WR_ECLOSED
 * (closed while waiting) or WR_ETOOBIG (record larger than
 * WR_SHUFFLE_MAX_RECORD_BYTES).
 * @thread producer task
 */
int tm_output_append(tm_output *o, int ch, const void *rec, size_t len);

/* Queues every open, non-empty batch (called on a short timer for latency
 * and before any event). @thread producer task */
int tm_output_flush(tm_output *o);

/* Flushes, then queues an event batch on every channel (broadcast), in
 * order after the records. @thread producer task */
int tm_output_event(tm_output *o, enum tm_batch_kind kind, const void *payload,
                    size_t len);

/* Milliseconds the producer spent blocked on full queues (back-pressure
 * metric), cumulative. */
uint64_t tm_output_blocked_ms(const tm_output *o);

/*
 * Flushes, then waits up to timeout_ms until the consumers took (local)
 * or acknowledged (remote) every queued batch, so tm_output_free loses
 * nothing: call it after the EOS event of a task that finished. A remote
 * consumer acknowledges a batch with its next fetch, and the EOS with one
 * last fetch. Returns WR_OK, WR_ETIMEDOUT or WR_ECLOSED (closed while
 * waiting). Appends and events after EOS return WR_ESTATE.
 * @thread producer task
 */
int tm_output_drain(tm_output *o, int timeout_ms);

/* Wakes a blocked append with WR_ECLOSED (cancellation). @thread any */
void tm_output_close(tm_output *o);
/* Unregisters and frees; queued batches not yet fetched are dropped. */
void tm_output_free(tm_output *o);

/* ---- consumer side --------------------------------------------------- */

typedef struct tm_input_chan {
	tm_chan_key key;
	char address[256]; /* producer TaskManager's data address */
	bool local;        /* producer runs in this TaskManager */
} tm_input_chan;

/* An input gate over nchannels channels (copied). */
int tm_input_new(tm_shuffle *sh, const tm_input_chan *chans, int nchannels,
                 tm_input **out);

/*
 * Waits up to timeout_ms for the next batch from any channel that is not
 * blocked and has not ended (round robin for fairness). On WR_OK *out is
 * the caller's until tm_input_release and *ch is its channel index.
 * Returns WR_ETIMEDOUT, WR_ECLOSED (closed), or WR_ENOENT when every
 * channel has delivered EOS. A lost producer TaskManager shows as
 * WR_EUNREACHABLE for that channel after the fetch timeout.
 * @thread consumer task
 */
int tm_input_next(tm_input *in, int timeout_ms, tm_batch **out, int *ch);

/* Returns the batch's memory and its credit. @thread consumer task */
void tm_input_release(tm_input *in, tm_batch *b);

/* Stops (or resumes) delivering batches from channel ch; its data stays
 * buffered (barrier alignment). @thread consumer task */
void tm_input_block(tm_input *in, int ch, bool blocked);

void tm_input_close(tm_input *in);
void tm_input_free(tm_input *in);

/* Reading a DATA batch: calls fn for each record. Returns WR_ECORRUPT on a
 * malformed batch (from the network: never trusted). */
int tm_batch_foreach(const tm_batch *b,
                     int (*fn)(void *arg, const uint8_t *rec, size_t len),
                     void *arg);

#endif
