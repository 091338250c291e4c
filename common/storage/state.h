/*
 * state.h - keyed state on LMDB, organised by key group.
 *
 * One state backend per task (subtask): an LMDB environment in its own
 * directory under taskmanager.state_dir. Every entry's LMDB key starts with
 * its key group (2 bytes, big-endian) and the state id (1 byte: which
 * operator state it belongs to), then the caller's key bytes, so that
 *  - a checkpoint can copy the environment (a view fixed at the barrier,
 *    copied on another thread) and a restore can keep just a range of
 *    key groups (rescaling), and
 *  - iterating one state of one key group is a range scan.
 * LMDB runs unsynced (MDB_NOSYNC | MDB_NOMETASYNC): durability comes from
 * checkpoints, not from each write (notes/dependencies.md: ~193 K puts/s
 * unsynced against ~3.7 K synced).
 *
 * A bounded write-back cache keeps hot entries in memory: gets hit it
 * first; puts and deletes stay dirty in it until it exceeds its budget or
 * wr_state_flush() is called, then they go to LMDB in one write
 * transaction. State larger than the cache (or than RAM) lives in LMDB's
 * file-backed map; the map size grows as needed.
 *
 * @thread one: a backend belongs to its task's thread; a view may be
 * written and closed from another (wr_state_view_write).
 */
#ifndef WR_STATE_H
#define WR_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wr_limits.h"

typedef struct wr_state wr_state;

typedef struct wr_state_opts {
	size_t cache_bytes;       /* budget of the in-memory cache */
	size_t initial_map_bytes; /* LMDB map size to start with; it grows */
	/* LMDB map pages this process may keep mapped for this backend
	 * (they count in RSS as RssFile): past it the backend unmaps its
	 * map; the pages stay in the page cache. 0: no bound (RSS grows to
	 * the data size, but cold reads take ~4x less CPU). docs/state.md
	 * has the trade-off. */
	size_t map_resident_bytes;
} wr_state_opts;

/*
 * Opens (creating) the backend in dir (created if missing). A directory
 * that already holds an environment is opened as is (restore). Errors:
 * WR_ESYSERR|errno, WR_ECORRUPT (not an LMDB environment).
 */
int wr_state_open(const char *dir, const wr_state_opts *opts, wr_state **out);

/* Flushes nothing: dirty cache entries are dropped (the task ended; the
 * last checkpoint has what must survive). Accepts NULL. */
void wr_state_close(wr_state *st);

/*
 * Looks up (key_group, state_id, key). On WR_OK *val and *vlen point to
 * memory owned by the backend, valid until the next call on st (passing
 * them to wr_state_put is fine). WR_ENOENT when absent. A miss may make
 * room in the cache by flushing, so the errors of wr_state_flush apply.
 */
int wr_state_get(wr_state *st, uint16_t key_group, uint8_t state_id,
                 const void *key, size_t klen, const void **val, size_t *vlen);

/* Inserts or replaces. Errors: WR_ETOOBIG (key over the limit, value over
 * WR_STATE_MAX_VALUE_BYTES), WR_ESYSERR (LMDB write failed, e.g. disk
 * full), WR_EFULL (map at WR_STATE_MAX_MAP_BYTES), WR_ENOMEM. */
int wr_state_put(wr_state *st, uint16_t key_group, uint8_t state_id,
                 const void *key, size_t klen, const void *val, size_t vlen);

/* Removes; absent keys are fine. */
int wr_state_del(wr_state *st, uint16_t key_group, uint8_t state_id,
                 const void *key, size_t klen);

/* Writes every dirty cache entry to LMDB (one transaction). */
int wr_state_flush(wr_state *st);

/*
 * Calls fn for every entry of state_id in key groups [kg_first, kg_last],
 * in key order (after flushing the cache). fn returns 0 to go on, non-zero
 * to stop (that value is returned). The pointers are valid during the call
 * only; fn must not modify st.
 */
int wr_state_scan(wr_state *st, uint8_t state_id, uint16_t kg_first,
                  uint16_t kg_last,
                  int (*fn)(void *arg, uint16_t key_group, const void *key,
                            size_t klen, const void *val, size_t vlen),
                  void *arg);

/*
 * Checkpoint without stopping the task for the copy (docs/checkpoints.md).
 * wr_state_view_open, on the backend's thread at the barrier, flushes the
 * cache and opens an LMDB read transaction: the view, fixed at that
 * instant; writes to st go on at once and are not in it.
 * wr_state_view_write then copies the view, from any thread (one at a
 * time), while st's thread goes on: the view's pages into dir/data.mdb
 * (dir created, the file replaced, fsynced), an LMDB environment holding
 * exactly the view (wr_state_import reads it). fn (may be NULL) is called
 * between chunks with the bytes copied so far: non-zero stops the copy
 * with that value.
 * wr_state_view_close ends the view, from any thread.
 *
 * One view per backend: WR_ESTATE while one is open. The view pins the
 * pages it sees, so writes meanwhile take fresh pages: the open grows
 * the map to twice the pages in use first, and a map that must grow
 * beyond that while the view is open waits for its close (the map cannot
 * move under the copy); wr_state_close stops a copy in progress
 * (WR_ECLOSED) and waits for the view's close.
 */
typedef struct wr_state_view wr_state_view;

int wr_state_view_open(wr_state *st, wr_state_view **out);
int wr_state_view_write(wr_state_view *v, const char *dir,
                        int (*fn)(void *arg, uint64_t copied), void *arg);
void wr_state_view_close(wr_state_view *v);

/* The three above on the caller's thread: a copy of st as it is now. */
int wr_state_snapshot(wr_state *st, const char *dir);

/*
 * Restore with rescaling: copies every entry of key groups [kg_first,
 * kg_last] from the snapshot in src_dir (a directory holding data.mdb
 * written by wr_state_snapshot) into st. *entries (if not NULL) gets the
 * number copied. Errors: WR_ECORRUPT, LMDB errors, those of wr_state_put.
 */
int wr_state_import(wr_state *st, const char *src_dir, uint16_t kg_first,
                    uint16_t kg_last, uint64_t *entries);

/*
 * Incremental checkpoints (state_delta.c, docs/checkpoints.md). After
 * wr_state_track_changes, the backend records the key of every entry it
 * writes to LMDB; each wr_state_view_open hands the keys recorded since
 * the previous view to the new view (wr_state_view_take_changes: the
 * caller owns them) and starts a new set. A set that would pass
 * WR_STATE_CHANGES_MAX_BYTES forgets its keys and reads as overflowed: the
 * checkpoint that gets it copies the whole state instead.
 *
 * wr_state_view_write_delta writes, for every key of ch, its value in the
 * view or its deletion to the file path (replaced, fsynced), from any
 * thread as wr_state_view_write; *bytes gets the file's size.
 * wr_state_apply_delta applies such a file's records of key groups
 * [kg_first, kg_last] to st (restore: a full snapshot imported first,
 * then each delta in checkpoint order). A damaged file is refused
 * (WR_ECORRUPT) before any of it is applied.
 */
typedef struct wr_state_changes wr_state_changes;
void wr_state_track_changes(wr_state *st);
wr_state_changes *wr_state_view_take_changes(wr_state_view *v);
/* An empty set (to merge others into). */
wr_state_changes *wr_state_changes_new(void);
/* into gets every key of from (an overflowed from overflows into). */
void wr_state_changes_merge(wr_state_changes *into,
                            const wr_state_changes *from);
size_t wr_state_changes_count(const wr_state_changes *c);
/* True for NULL too: no set means nothing is known of the changes. */
bool wr_state_changes_overflowed(const wr_state_changes *c);
void wr_state_changes_free(wr_state_changes *c);
int wr_state_view_write_delta(wr_state_view *v, const wr_state_changes *ch,
                              const char *path, uint64_t *bytes);
int wr_state_apply_delta(wr_state *st, const char *path, uint16_t kg_first,
                         uint16_t kg_last, uint64_t *entries);

typedef struct wr_state_stats {
	uint64_t entries;     /* in LMDB, after a flush */
	uint64_t cache_bytes; /* in the cache now */
	uint64_t cache_hits, cache_misses;
	uint64_t map_bytes; /* LMDB map size */
	uint64_t map_trims; /* times the map was unmapped to bound RSS */
} wr_state_stats;

void wr_state_get_stats(wr_state *st, wr_state_stats *out);

#endif
