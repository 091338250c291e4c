/*
 * tmclients.h - the JobManager's calls to TaskManagers and what it knows of
 * their reachability.
 *
 * The loop never waits for a TaskManager: jm_tmc_send queues a call
 * (DeployTask, CancelTask, TriggerCheckpoint, CheckpointComplete) and
 * returns; a small pool of threads makes the calls, one at a time and in
 * order per TaskManager, and each outcome comes back as a completion event
 * in a bounded queue the loop drains every turn (jm_tmc_drain).
 */
#ifndef JM_TMCLIENTS_H
#define JM_TMCLIENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tmreg.h"
#include "wr_limits.h"

struct Weir__Envelope;
struct jm_server;

enum jm_call_kind {
	JM_CALL_DEPLOY,
	JM_CALL_CANCEL,
	JM_CALL_TRIGGER,
	JM_CALL_NOTIFY,
};

/* What a call was about: its completion event carries it back. */
typedef struct jm_call_ref {
	enum jm_call_kind kind;
	char tm_id[WR_ADDR_BYTES];
	char job_id[33];
	uint32_t attempt;
	int vertex, subtask; /* deploy, cancel */
	uint64_t ckpt_id;    /* trigger, notify */
	/* cancel: of a task whose deployment got no answer, so that no
	 * orphan keeps running */
	bool orphan;
	/* cancel: of a recovered job's task on any TaskManager the previous
	 * JobManager may have left it running on (tm_id: that one) */
	bool leftover;
	/* The leader epoch the loop decided the call under (jm->epoch when
	 * it was queued): jm_tmc_send stamps it on the request, so a call
	 * queued by a leadership that ended is refused by TaskManagers that
	 * saw a newer one (docs/architecture.md, fencing). */
	uint64_t epoch;
} jm_call_ref;

/* A call's outcome: rv WR_OK, the TaskManager's error, or no answer. */
typedef struct jm_call_done {
	jm_call_ref ref;
	int rv;
	bool called; /* false: not sent (the TaskManager is unreachable) */
	char err[256];
} jm_call_done;

typedef struct jm_tmc jm_tmc;

/* Starts the call threads. wake(wake_arg) is called (from them) after
 * each completion, so the loop drains it without waiting for a tick. */
jm_tmc *jm_tmc_new(jm_tmreg *tms, void (*wake)(void *arg), void *wake_arg);
/* Waits for the calls in flight (each bounded by its timeout); drops the
 * queued ones. Accepts NULL. */
void jm_tmc_free(jm_tmc *tmc);

/*
 * Queues env for the TaskManager at address, stamped with ref->epoch (env
 * is packed here: the caller keeps it). The one way the JobManager sends
 * requests to TaskManagers. fail_fast: the call is not made (WR_EUNREACHABLE)
 * while the registry marks ref->tm_id unreachable, as an earlier call in
 * the same queue went unanswered. WR_OK: the outcome comes as an event;
 * WR_EFULL: JM_TMC_MAX_CALLS are in flight, nothing was queued.
 * @thread main
 */
int jm_tmc_send(jm_tmc *tmc, const char *address, const jm_call_ref *ref,
                struct Weir__Envelope *env, int timeout_ms, bool fail_fast);

/* Hands every completion event queued, oldest first, to fn. Returns how
 * many. @thread main */
size_t jm_tmc_drain(jm_tmc *tmc, void (*fn)(void *arg, const jm_call_done *d),
                    void *arg);

/* ---- reachability (the registry's view, for the loop) ---- */

/* False for a TaskManager that missed two heartbeats: not worth a call
 * that would only time out (triggers, notices). */
bool jm_tm_responsive(struct jm_server *jm, const char *tm_id);
/* False once a call to the TaskManager went unanswered, until its next
 * heartbeat (silence alone does not count). */
bool jm_tm_reachable(struct jm_server *jm, const char *tm_id);
/* Logs a call that got no answer (the call thread already marked the
 * TaskManager unreachable, jm_tmreg_set_unreachable). */
void jm_tm_call_failed(const jm_call_done *d);

/* True for the errors that mean "no answer" rather than "refused". */
bool jm_tm_no_answer(int rv);

#endif
