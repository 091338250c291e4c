/*
 * state_int.h - what state.c shares with state_snap.c (the copy of a
 * view); not part of the storage library's interface.
 */
#ifndef WR_STATE_INT_H
#define WR_STATE_INT_H

#include <stddef.h>
#include <stdint.h>

/* Maps an LMDB return code to weir's (logging the unusual ones). */
int wr_state_err(int rc, const char *op);

/*
 * Writes dir/data.mdb (dir created; the file replaced): the meta_bytes of
 * metas, then src_fd's bytes from meta_bytes up to end, then fsyncs it.
 * Between chunks calls stop(arg, bytes copied): non-zero ends the copy
 * with that value.
 */
int wr_state_copy_pages(int src_fd, const void *metas, size_t meta_bytes,
                        uint64_t end, const char *dir,
                        int (*stop)(void *arg, uint64_t copied), void *arg);

#endif
