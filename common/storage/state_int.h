/*
 * state_int.h - what state.c shares with state_snap.c (the copy of a
 * view); not part of the storage library's interface.
 */
#ifndef WR_STATE_INT_H
#define WR_STATE_INT_H

#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wr_state_view wr_state_view;
typedef struct wr_state_changes wr_state_changes;

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

/* A checkpoint view (state.h): state.c opens and closes it,
 * state_snap.c copies its pages, state_delta.c its changed keys. */
struct wr_state_view {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	MDB_txn *txn; /* the view; NULL once closed */
	MDB_dbi dbi;
	wr_state_changes *changes; /* since the previous view; owned */
	int fd;             /* data.mdb (LMDB's; open while the view is) */
	uint64_t end;       /* bytes up to the view's last page */
	size_t meta_bytes;  /* metas: the file's first pages at the view */
	atomic_bool cancel; /* the backend closes: the copy stops */
	int refs;           /* the backend's and the caller's */
	unsigned char metas[];
};

/* The view's read transaction (NULL once closed) and database. */
void wr_state_view_txn(wr_state_view *v, MDB_txn **txn, MDB_dbi *dbi);
/* True once the backend closes and asks the view's copy to stop. */
bool wr_state_view_cancelled(wr_state_view *v);

/* Records that the entry with LMDB key key (hash: the backend's hash of
 * it) reached LMDB (state_delta.c). c may be NULL: nothing tracked. */
void wr_state_changes_add(wr_state_changes *c, uint32_t hash, const void *key,
                          size_t klen);

#endif
