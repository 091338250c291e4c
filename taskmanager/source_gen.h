/*
 * source_gen.h - the generator-source skeleton: the loop every source that
 * makes its records inside the job shares (datagen, nexmark). It paces to
 * the source's rate, keeps the position (records made so far) that
 * checkpoints store and a restore resumes from, sends watermarks from the
 * event-time field, and ends after the source's count. A generator
 * supplies only "make record number n" (sources.c, source_nexmark.c).
 */
#ifndef TM_SOURCE_GEN_H
#define TM_SOURCE_GEN_H

#include <stdbool.h>
#include <stdint.h>

#include "op.h"
#include "record.h"

/* Makes record number n (0-based, per subtask, counted from the job's
 * first run: a restore resumes at the checkpoint's n) into r, a row of
 * the source node's schema. Make it a function of n (and the subtask) so
 * a restore makes the same records again. r's strings may point into
 * ctx or the task's arena: the skeleton passes r on before the next call.
 * @thread task */
typedef void (*tm_gen_make_fn)(void *ctx, int64_t n, wr_row *r);

/* Pacing and position. Record n of a source at `rate` per second is due
 * n * 1000 / rate ms after start_ms; at rate 0 every record is due. */
typedef struct tm_gen_pace {
	int64_t rate;     /* records per second; 0 = as fast as taken */
	int64_t count;    /* records in all; 0 = unbounded */
	int64_t next;     /* the next record number: the position */
	int64_t start_ms; /* monotonic ms record 0 was (or would be) due */
} tm_gen_pace;

/* Starts at the restored position (restored < 0: none, start at 0). A
 * restored source paces as if it had run from the start: start_ms lies
 * as far back as the records already made took. */
void tm_gen_pace_init(tm_gen_pace *p, int64_t rate, int64_t count,
                      int64_t restored, int64_t now_ms);
/* False once count records are made (never for count 0). */
bool tm_gen_pace_more(const tm_gen_pace *p);
/* Whether record p->next is due at now_ms. */
bool tm_gen_pace_due(const tm_gen_pace *p, int64_t now_ms);

/* Runs source node, a generator, until it has made its count, the task
 * is cancelled, or emitting fails: make(ctx, n, r) for every n from the
 * restored position on. Meanwhile the task's checkpoints store the
 * position as the source's offset (topic "", partition = subtask).
 * Returns WR_OK when the count is made, WR_ECLOSED when cancelled, or
 * the downstream error. @thread task */
int tm_gen_run(tm_src *s, const wr_node_spec *node, tm_gen_make_fn make,
               void *ctx);

/* splitmix64: small, fast, and the same sequence on every machine; the
 * generators' randomness (the state *s advances). Inline: the nexmark
 * generator draws ~20 numbers an event. */
static inline uint64_t
tm_gen_splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
