/*
 * ha.h - the JobManager's side of high availability (modes etcd and
 * kubernetes): the election through common/ha's elector, standby
 * behaviour, taking over as leader and stepping down.
 *
 * A JobManager in mode etcd or kubernetes starts as a standby: it runs no job,
 * keeps no TaskManager, and answers every state-changing request with "not the
 * leader; the leader is ADDR" (RPC Error text, REST 503 with "leader").
 * When the elector reports leadership (on its own thread), the loop takes
 * the event on its next turn: epoch = the leader key's create revision
 * (etcd) or the Lease's leaseTransitions + 1 (kubernetes); the job store
 * in etcd fenced by that revision, or in the checkpoint storage fenced by
 * the Lease's deadline and the stored epoch; then the recovery of its
 * jobs. A leader that loses its leadership exits the process with
 * JM_EXIT_DEPOSED at once (as Flink's JobManager terminates): its
 * supervisor restarts it as a fresh standby, and nothing of the old
 * leadership - queued calls, a checkpoint completing - can act later.
 */
#ifndef JM_HA_H
#define JM_HA_H

#include <stdbool.h>
#include <stddef.h>

#include "elector.h"

struct jm_server;

/* The exit status of a JobManager that lost its leadership. */
#define JM_EXIT_DEPOSED 75

/* The text a standby answers with, and what clients look for in it. */
#define JM_HA_NOT_LEADER "not the leader; "
#define JM_HA_LEADER_IS  WR_ELECTOR_LEADER_IS

/* Starts the election (modes etcd, kubernetes; after jm->rpc exists, as the
 * elector wakes the loop through it). WR_OK and nothing done in mode none.
 * @thread main */
int jm_ha_start(struct jm_server *jm);

/* Takes the elector's events: becomes leader (store, recovery) or exits
 * when the leadership ended. Called at the start of every turn.
 * @thread main */
void jm_ha_tick(struct jm_server *jm);

/* True while this JobManager may act: mode none, or the elected leader
 * whose lease deadline has not passed. Any thread. */
bool jm_ha_leading(struct jm_server *jm);

/* The address clients should dial: this JobManager's when it leads, the
 * last leader seen otherwise, "" when none. Any thread. */
void jm_ha_leader(struct jm_server *jm, char *addr, size_t len);

/* "not the leader; the leader is ADDR" (or "...; no leader is elected
 * yet") into msg. Any thread. */
void jm_ha_not_leader(struct jm_server *jm, char *msg, size_t len);

/* Stops the election (a leader resigns). @thread main */
void jm_ha_stop(struct jm_server *jm);

#endif
