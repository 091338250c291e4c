/*
 * state_snap.c - the copy of a keyed state view: a cursor walk of a read
 * transaction written into a fresh, compact LMDB environment.
 *
 * mdb_env_copy2 cannot copy a view fixed earlier (it opens its own read
 * transaction, at whatever instant its thread gets to it), so checkpoints
 * copy the view the task opened at the barrier here, on the upload
 * thread (state.h, docs/checkpoints.md). Entries come in key order and go
 * in with MDB_APPEND, which fills pages completely: the copy is as
 * compact as mdb_env_copy2's MDB_CP_COMPACT, and wr_state_import (and a
 * restore that takes the file as is) reads it as any environment.
 */
#include "state_int.h"

#include "err.h"
#include "fsutil.h"
#include "wr_assert.h"
#include "wr_limits.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A batch of the copy is one write transaction: LMDB keeps its dirty
 * pages in malloc'd buffers (no MDB_WRITEMAP), so a batch is bounded in
 * puts (as a flush, WR_STATE_TXN_MAX_PUTS) and in bytes. */
#define WR_STATE_COPY_BATCH_BYTES ((size_t)16 << 20)
/* The copy's map starts this much above the pages in use at the view. */
#define WR_STATE_COPY_MAP_SLACK ((size_t)1 << 20)
#define WR_STATE_COPY_MAP_ALIGN ((size_t)64 << 10)

static int
wr_state_copy_env(const char *dir, size_t map_bytes, MDB_env **out)
{
	int rc = mdb_env_create(out);

	if (rc != MDB_SUCCESS)
		return wr_state_err(rc, "copy env_create");
	/* One user (this thread), no readers: no lock file; synced once at
	 * the end. */
	if ((rc = mdb_env_set_mapsize(*out, map_bytes)) != MDB_SUCCESS ||
	    (rc = mdb_env_open(*out, dir,
	                       MDB_NOSYNC | MDB_NOMETASYNC | MDB_NOLOCK |
	                           MDB_NOTLS | MDB_NORDAHEAD,
	                       0644)) != MDB_SUCCESS) {
		mdb_env_close(*out);
		*out = NULL;
		return wr_state_err(rc, "copy env_open");
	}
	return WR_OK;
}

/* The walk's position: the cursor's current entry (rc MDB_SUCCESS) and
 * the first key of the batch being written, kept to start it again after
 * the copy's map grew. */
typedef struct wr_state_walk {
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;
	size_t first_len;
	unsigned char first[WR_MAX_KEY_BYTES];
} wr_state_walk;

/* Appends entries from the walk's position into one transaction of dst
 * until the batch is full or the view ends. Returns an LMDB code. */
static int
wr_state_copy_batch(MDB_env *dst, wr_state_walk *w, uint64_t *n)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	size_t puts = 0, bytes = 0;
	int rc = mdb_txn_begin(dst, NULL, 0, &txn);

	if (rc != MDB_SUCCESS)
		return rc;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != MDB_SUCCESS)
		goto abort;
	WR_ASSERT(w->k.mv_size <= sizeof(w->first));
	w->first_len = w->k.mv_size;
	memcpy(w->first, w->k.mv_data, w->k.mv_size);
	while (w->rc == MDB_SUCCESS && puts < WR_STATE_TXN_MAX_PUTS &&
	       bytes < WR_STATE_COPY_BATCH_BYTES) {
		rc = mdb_put(txn, dbi, &w->k, &w->v, MDB_APPEND);
		if (rc != MDB_SUCCESS)
			goto abort;
		puts++;
		bytes += w->k.mv_size + w->v.mv_size;
		w->rc = mdb_cursor_get(w->cur, &w->k, &w->v, MDB_NEXT);
	}
	if ((rc = mdb_txn_commit(txn)) == MDB_SUCCESS)
		*n += puts;
	return rc;
abort:
	mdb_txn_abort(txn);
	return rc;
}

/* dst's map was full: doubles it and puts the walk back at the batch's
 * first key. */
static int
wr_state_copy_grow(MDB_env *dst, size_t *map_bytes, wr_state_walk *w)
{
	int rc;

	if (*map_bytes >= WR_STATE_MAX_MAP_BYTES)
		return wr_state_err(MDB_MAP_FULL, "copy");
	*map_bytes *= 2;
	if ((rc = mdb_env_set_mapsize(dst, *map_bytes)) != MDB_SUCCESS)
		return wr_state_err(rc, "copy env_set_mapsize");
	w->k.mv_size = w->first_len;
	w->k.mv_data = w->first;
	w->rc = mdb_cursor_get(w->cur, &w->k, &w->v, MDB_SET_KEY);
	return w->rc == MDB_SUCCESS ? WR_OK : wr_state_err(w->rc, "copy");
}

static int
wr_state_copy_walk(MDB_txn *txn, MDB_dbi dbi, MDB_env *dst, size_t map_bytes,
                   int (*stop)(void *, uint64_t), void *arg, uint64_t *n)
{
	wr_state_walk w = {0};
	int rv = wr_state_err(mdb_cursor_open(txn, dbi, &w.cur), "copy");

	if (rv != WR_OK)
		return rv;
	w.rc = mdb_cursor_get(w.cur, &w.k, &w.v, MDB_FIRST);
	/* Bounded: each turn copies a batch or doubles the map (up to its
	 * limit). */
	while (w.rc == MDB_SUCCESS && rv == WR_OK) {
		int rc = wr_state_copy_batch(dst, &w, n);

		if (rc == MDB_MAP_FULL)
			rv = wr_state_copy_grow(dst, &map_bytes, &w);
		else if (rc != MDB_SUCCESS)
			rv = wr_state_err(rc, "copy");
		else if (stop != NULL)
			rv = stop(arg, *n);
	}
	if (rv == WR_OK && w.rc != MDB_NOTFOUND && w.rc != MDB_SUCCESS)
		rv = wr_state_err(w.rc, "copy cursor");
	mdb_cursor_close(w.cur);
	return rv;
}

int
wr_state_copy_txn(MDB_txn *txn, MDB_dbi dbi, size_t map_bytes, const char *dir,
                  int (*stop)(void *, uint64_t), void *arg, uint64_t *entries)
{
	char path[PATH_MAX];
	MDB_env *dst;
	uint64_t n = 0;
	int rv;

	map_bytes += WR_STATE_COPY_MAP_SLACK;
	map_bytes = (map_bytes + WR_STATE_COPY_MAP_ALIGN - 1) &
	            ~(WR_STATE_COPY_MAP_ALIGN - 1);
	if ((rv = wr_mkdirs(dir, 0755)) != WR_OK)
		return rv;
	/* A fresh environment: appending to an old one would fail. */
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	if (unlink(path) != 0 && errno != ENOENT)
		return wr_err_from_errno(errno);
	if ((rv = wr_state_copy_env(dir, map_bytes, &dst)) != WR_OK)
		return rv;
	rv = wr_state_copy_walk(txn, dbi, dst, map_bytes, stop, arg, &n);
	/* LMDB wrote the copy without syncing: once, here. */
	if (rv == WR_OK)
		rv = wr_state_err(mdb_env_sync(dst, 1), "copy env_sync");
	mdb_env_close(dst);
	if (entries != NULL)
		*entries = n;
	return rv;
}
