/*
 * state_int.h - what state.c shares with state_snap.c (the copy of a
 * view); not part of the storage library's interface.
 */
#ifndef WR_STATE_INT_H
#define WR_STATE_INT_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

/* Maps an LMDB return code to weir's (logging the unusual ones). */
int wr_state_err(int rc, const char *op);

/*
 * Writes every entry dbi holds in txn (a read transaction, in key order)
 * into a new LMDB environment in dir (dir/data.mdb; its map starts at
 * map_bytes and doubles as needed), then fsyncs it. Between batches calls
 * stop(arg, copied): non-zero ends the copy with that value. *entries gets
 * the number written.
 */
int wr_state_copy_txn(MDB_txn *txn, MDB_dbi dbi, size_t map_bytes,
                      const char *dir, int (*stop)(void *arg, uint64_t copied),
                      void *arg, uint64_t *entries);

#endif
