/*
 * elector.h - leader election for JobManagers, on etcd or on a Kubernetes
 * Lease: one thread per candidate campaigns, renews while it leads, and
 * steps down before the lease can expire for others.
 *
 * The protocol (docs/architecture.md, "Leader election"):
 * - etcd (elector_etcd.c): the leader key is <prefix>/leader, its value
 *   the leader's identity, attached to a lease of lease_ms (rounded up to
 *   whole seconds, etcd's unit). A candidate campaigns by a transaction
 *   that creates the key only if it does not exist; the epoch is the key's
 *   create revision, which only grows from one leadership to the next.
 * - Kubernetes (elector_k8s.c): a coordination.k8s.io/v1 Lease, taken and
 *   renewed by replacing it with its last resourceVersion (a 409 Conflict
 *   loses the race), as client-go's leaderelection does; a candidate counts
 *   a holder's lease as expired lease_ms after it last saw the Lease
 *   change (its own clock, never the holder's timestamps); the epoch is
 *   leaseTransitions + 1, which grows with every new holder.
 * - The leader renews every renew_ms. Its leadership is valid until
 *   lease_ms - renew_ms / 2 after the start of the last renewal etcd
 *   confirmed: etcd counts the lease from when it received that renewal,
 *   which is later, so the leader's own deadline passes first. Past it -
 *   renewals failing, or the process stopped (SIGSTOP) - the leader steps
 *   down without waiting to hear from etcd: wr_elector_is_leader() answers
 *   false from that instant, on every thread.
 * - A candidate that is not leader retries every retry_ms and keeps the
 *   last leader it saw (address and epoch) for discovery.
 * - A dead leader (etcd only): a candidate given a probe asks it each
 *   round whether the leader's process is gone (its port refuses
 *   connections: the host answers, nothing listens; or the candidate is
 *   the process that replaced it at its address). Refused in two rounds
 *   in a row for the same leadership (or gone for certain), the candidate
 *   revokes that leader's lease and campaigns at once, instead of waiting
 *   up to lease_ms for it to expire. A leader that was alive after all loses
 *   its lease at its next renewal and steps down; the epoch fencing of
 *   TaskManagers and the job store covers the overlap, as it covers any
 *   stale leader. A host that does not answer at all is left to the
 *   lease.
 */
#ifndef WR_ELECTOR_H
#define WR_ELECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wr_elector wr_elector;

/* What a standby JobManager's refusals say before the leader's address
 * ("not the leader; the leader is tcp://h:p"): TaskManagers and the CLI
 * look for it to follow. */
#define WR_ELECTOR_LEADER_IS "the leader is "

enum wr_elector_kind { WR_ELECTOR_ETCD = 1, WR_ELECTOR_KUBERNETES = 2 };

typedef struct wr_elector_cfg {
	int kind;             /* enum wr_elector_kind */
	const char *identity; /* this candidate, unique per process */
	/* etcd */
	const char *endpoints; /* comma-separated URLs */
	const char *prefix;    /* key prefix of this cluster, e.g. /weir/ID */
	/* Kubernetes */
	const char *k8s_api;        /* API server URL */
	const char *k8s_namespace;  /* the Lease's namespace */
	const char *k8s_lease;      /* the Lease's name */
	const char *k8s_token_file; /* "" = no bearer token */
	const char *k8s_ca_file;    /* "" = the system's CAs */
	int64_t lease_ms;           /* leadership lease */
	int64_t renew_ms;           /* renewal period of a leader */
	int64_t retry_ms;           /* campaign period of a candidate */
	/*
	 * Called on the elector's thread when this candidate becomes leader
	 * (leader true, its epoch) or stops being leader (false). Must not
	 * block for long: it delays renewals. May be NULL.
	 */
	void (*on_change)(void *arg, bool leader, int64_t epoch);
	void *arg;
	/*
	 * Whether the process of holder (another candidate's identity) is
	 * gone: WR_ENOENT when it is for certain (its lease is revoked at
	 * once), WR_ECONNREFUSED when its port refuses connections (revoked
	 * when that holds for two rounds), anything else when it may live.
	 * Called on the elector's thread with arg; must return within
	 * retry_ms. May be NULL (a dead leader's lease then expires).
	 */
	int (*probe)(void *arg, const char *holder);
} wr_elector_cfg;

/* Validates cfg (renew_ms < lease_ms, positive periods, endpoints) and
 * starts the elector's thread. The strings are copied. */
int wr_elector_start(const wr_elector_cfg *cfg, wr_elector **out, char *err,
                     size_t errlen);

/* Stops the thread; a leader resigns first (revokes its lease, so another
 * candidate can win at once). Accepts NULL. */
void wr_elector_stop(wr_elector *el);

/* True while this candidate leads and its deadline has not passed; *epoch
 * (may be NULL) is the leadership's epoch. Any thread. */
bool wr_elector_is_leader(wr_elector *el, int64_t *epoch);

/* The last leader seen: its address into addr and its epoch. WR_ENOENT
 * when none has been seen. Any thread. */
int wr_elector_leader(wr_elector *el, char *addr, size_t addrlen,
                      int64_t *epoch);

#endif
