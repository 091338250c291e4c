/*
 * tmreg.h - the JobManager's registry of TaskManagers and their slots.
 *
 * The main thread registers TaskManagers, records heartbeats and expires
 * those silent for longer than heartbeat_timeout (declared lost: logged
 * TM-LOST, counted in weir_taskmanagers_lost_total, slots removed from the
 * totals). REST handlers read snapshots from other threads, so every
 * function takes the registry's mutex. A lost TaskManager stays listed (state
 * "lost") for WR_TMREG_LOST_RETENTION_MS so operators can see what left.
 */
#ifndef JM_TMREG_H
#define JM_TMREG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wr_limits.h"

struct wr_metrics;

#define JM_TMREG_LOST_RETENTION_MS (10 * 60 * 1000)

typedef struct jm_tm {
	char id[WR_ADDR_BYTES];
	char rpc_address[WR_ADDR_BYTES];
	char data_address[WR_ADDR_BYTES];
	char metrics_address[WR_ADDR_BYTES];
	uint32_t slots_total;
	uint32_t slots_free; /* the JobManager's view: total - allocated */
	bool alive;
	/* A call to it failed (timed out, refused) and no heartbeat came
	 * since: the JobManager's loop does not call it again until one
	 * does (each call could block the loop for its timeout). */
	bool unreachable;
	int64_t last_heartbeat_ms; /* monotonic */
	int64_t lost_at_ms;        /* monotonic; 0 while alive */
	int64_t registered_wall_ms;
	/* its last heartbeat's report: tasks running, their records */
	uint32_t tasks;
	uint64_t records_in, records_out;
	/* the connection of its last registration or heartbeat (nng pipe
	 * id; 0 = none yet): when it closes, the process may be gone */
	uint32_t pipe;
} jm_tm;

typedef struct jm_tmreg jm_tmreg;

jm_tmreg *jm_tmreg_new(struct wr_metrics *metrics,
                       int64_t heartbeat_timeout_ms);
void jm_tmreg_free(jm_tmreg *reg);

/*
 * Adds tm (or revives it, when its id is known). A lost entry with the same
 * rpc address is a previous life of this process's address and is dropped.
 * Returns WR_OK, or WR_EFULL past WR_MAX_TASKMANAGERS.
 */
int jm_tmreg_register(jm_tmreg *reg, const jm_tm *tm, int64_t now_ms);

/* Records a heartbeat. False when the id is unknown or was declared lost:
 * the TaskManager must register again. */
bool jm_tmreg_heartbeat(jm_tmreg *reg, const char *id, int64_t now_ms);
/* Records what its last heartbeat reported (REST's TaskManager
 * metrics). */
void jm_tmreg_set_load(jm_tmreg *reg, const char *id, uint32_t tasks,
                       uint64_t records_in, uint64_t records_out);

/*
 * Declares lost every alive TaskManager silent for longer than the
 * timeout, calling on_lost(arg, tm) for each (without the registry's lock,
 * so it may call back in); forgets lost ones past the retention. Returns
 * how many were declared lost now. @thread main
 */
int jm_tmreg_expire(jm_tmreg *reg, int64_t now_ms,
                    void (*on_lost)(void *arg, const jm_tm *tm), void *arg);

/* Records the connection a TaskManager's registration or heartbeat came
 * on. */
void jm_tmreg_set_pipe(jm_tmreg *reg, const char *id, uint32_t pipe);

/* The alive TaskManager whose last registration or heartbeat came on
 * pipe, copied into *out; false when none. */
bool jm_tmreg_by_pipe(jm_tmreg *reg, uint32_t pipe, jm_tm *out);

/* Declares TaskManager id lost now (why: for the log), as
 * jm_tmreg_expire does for a silent one; false when it is not alive. */
bool jm_tmreg_lose(jm_tmreg *reg, const char *id, const char *why,
                   int64_t now_ms, void (*on_lost)(void *arg, const jm_tm *tm),
                   void *arg);

/* False when the TaskManager is unknown, lost, marked unreachable, or
 * has not heartbeated for max_silence_ms (0: silence does not count):
 * calls to it would likely wait for their timeout. */
bool jm_tmreg_responsive(jm_tmreg *reg, const char *id, int64_t now_ms,
                         int64_t max_silence_ms);

/* A call to the TaskManager failed for want of an answer: mark it
 * unreachable until its next heartbeat. */
void jm_tmreg_set_unreachable(jm_tmreg *reg, const char *id);

/* One allocated slot: which TaskManager runs it and its slot index there. */
typedef struct jm_slot_ref {
	char tm_id[WR_ADDR_BYTES];
	char rpc_address[WR_ADDR_BYTES];
	char data_address[WR_ADDR_BYTES];
	uint32_t index;
} jm_slot_ref;

/*
 * Allocates n slots, spread over the alive TaskManagers (each next slot
 * goes to the TaskManager with the most free slots, so a job's subtasks
 * land on as many TaskManagers as possible); TaskManagers marked
 * unreachable are left out. All or nothing: on WR_EFULL nothing is
 * allocated and *free_total says how many slots are free.
 */
int jm_tmreg_allocate(jm_tmreg *reg, int n, jm_slot_ref *out,
                      uint32_t *free_total);

/*
 * Claims slot index of TaskManager tm_id for a task that already runs
 * there (a new leader adopting it, job.c): fills *out, one slot fewer
 * free. WR_ENOENT when the TaskManager is not alive, WR_EFULL when it
 * has no free slot or index is past its slots.
 */
int jm_tmreg_claim(jm_tmreg *reg, const char *tm_id, uint32_t index,
                   jm_slot_ref *out);

/* Returns one slot. A TaskManager that is gone (lost or unknown) is
 * ignored: its slots left with it. */
void jm_tmreg_release(jm_tmreg *reg, const jm_slot_ref *slot);

/* Copies up to max entries (alive first, then by registration). Returns the
 * number copied. */
size_t jm_tmreg_snapshot(jm_tmreg *reg, jm_tm *out, size_t max);

typedef struct jm_tmreg_totals {
	uint32_t alive, lost, slots_total, slots_free;
} jm_tmreg_totals;

jm_tmreg_totals jm_tmreg_get_totals(jm_tmreg *reg);

#endif
