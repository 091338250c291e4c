/*
 * jobstore.h - the durable job store: what a JobManager keeps outside its
 * memory so that a restarted JobManager (or a new leader) recovers every
 * job not yet terminal.
 *
 * One entry per job, a JSON object (format JM_JOBSTORE_FORMAT): the
 * submitted spec (YAML, file name, parallelism override, savepoint and
 * allow-non-restored options), status, attempt and restarts, the
 * TaskManagers it ran on, the latest completed checkpoint (id and URL)
 * and the checkpoint id counter, and the epoch of the JobManager that
 * wrote it. Writers: at submit (before the submit is acknowledged), at
 * every status change, and when a checkpoint completes (before
 * TaskManagers are told). A terminal job's entry is removed.
 *
 * Two backends, one interface:
 *   objstore  the checkpoint storage (modes none and kubernetes):
 *             <storage>/jobstore/jobs/<job-id>.json, each put atomic;
 *             <storage>/jobstore/epoch holds the JobManager epoch counter
 *             (mode none: every start takes the next one). Mode
 *             kubernetes (open_objstore_fenced): the epoch is the Lease's
 *             (leaseTransitions + 1), the counter is not used, and every
 *             write and removal is fenced: refused when the stored entry
 *             has a higher epoch (read-compare-write) or when the writer
 *             no longer holds the Lease by its own deadline (jobstore.c
 *             says what this guarantees without conditional writes).
 *   etcd      (mode etcd) /weir/<cluster-id>/jobs/<job-id>, every write
 *             fenced by the leader key's create revision (the epoch).
 *
 * An entry that cannot be read (bad JSON, another format, a missing
 * field) is returned with `corrupt` set, never dropped silently.
 *
 * @thread main (one handle, one thread at a time).
 */
#ifndef JM_JOBSTORE_H
#define JM_JOBSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wr_etcd;

/* The entry format written; entries of another format are corrupt. */
#define JM_JOBSTORE_FORMAT 1

typedef struct jm_jobstore jm_jobstore;

typedef struct jm_jobstore_entry {
	char id[33];
	uint64_t epoch; /* of the JobManager that wrote it */
	char *name, *file, *yaml;
	int parallelism_override;
	char *from_savepoint; /* the submitted savepoint's URL; NULL */
	bool allow_non_restored;
	char *state; /* jm_job_state_name() */
	uint32_t attempt;
	uint64_t restarts;
	int64_t start_ms; /* wall clock */
	char *failure;    /* NULL */
	/* distinct TaskManager ids of the current attempt's slots */
	char **tms;
	size_t ntms;
	uint64_t checkpoint_id; /* latest completed; 0: none */
	char *checkpoint_url;   /* its directory; NULL when none */
	bool checkpoint_is_savepoint;
	uint64_t next_checkpoint_id; /* the counter: ids below are used */
	/* load only: why the entry could not be read (id from its key) */
	char *corrupt;
} jm_jobstore_entry;

/* The store in the checkpoint storage at url. */
int jm_jobstore_open_objstore(const char *url, jm_jobstore **out, char *err,
                              size_t errlen);

/* The store in the checkpoint storage at url for the leader of epoch
 * (mode kubernetes): holds(arg, epoch) answers, on the store's thread,
 * whether the writer still leads at that epoch; writes are refused
 * (WR_EPERM) once it does not. */
int jm_jobstore_open_objstore_fenced(const char *url, uint64_t epoch,
                                     bool (*holds)(void *arg, uint64_t epoch),
                                     void *arg, jm_jobstore **out, char *err,
                                     size_t errlen);

/* The store in etcd under /weir/<cluster_id>/jobs/, written only while
 * guard_key has create revision guard_rev (the leader's epoch). e stays
 * the caller's. */
int jm_jobstore_open_etcd(struct wr_etcd *e, const char *cluster_id,
                          const char *guard_key, int64_t guard_rev,
                          jm_jobstore **out, char *err, size_t errlen);

void jm_jobstore_close(jm_jobstore *s);

/*
 * The epoch this writer stamps on its entries. objstore: takes the next
 * value of the stored counter (1 on an empty store) and writes it back,
 * so every JobManager start gets a higher epoch than the one before
 * (one writer at a time: mode none). etcd and fenced objstore: the
 * leader's epoch given at open.
 */
int jm_jobstore_begin(jm_jobstore *s, uint64_t *epoch, char *err,
                      size_t errlen);

/* Writes e (whole or not at all), stamped with the store's epoch. etcd
 * and fenced objstore: WR_EPERM when the writer is no longer the leader
 * (fenced objstore: or the entry was written at a higher epoch). */
int jm_jobstore_put(jm_jobstore *s, const jm_jobstore_entry *e, char *err,
                    size_t errlen);

/* Removes a job's entry (a missing one is fine). */
int jm_jobstore_remove(jm_jobstore *s, const char *job_id, char *err,
                       size_t errlen);

/* Every entry, in key order: *v is a heap array of *n entries (free with
 * jm_jobstore_entries_free); unreadable ones have corrupt set. */
int jm_jobstore_load(jm_jobstore *s, jm_jobstore_entry **v, size_t *n,
                     char *err, size_t errlen);

void jm_jobstore_entry_fini(jm_jobstore_entry *e);
void jm_jobstore_entries_free(jm_jobstore_entry *v, size_t n);

/* Encodes / decodes one entry (JSON). decode: WR_EINVAL with the reason
 * in err when it is not a valid entry of this format. */
char *jm_jobstore_encode(const jm_jobstore_entry *e, uint64_t epoch);
int jm_jobstore_decode(const char *text, size_t len, jm_jobstore_entry *e,
                       char *err, size_t errlen);

#endif
