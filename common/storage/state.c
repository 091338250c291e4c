/*
 * state.c - keyed state on LMDB behind a write-back cache (state.h).
 *
 * The cache is a chained hash table whose bucket array is sized from the
 * budget at open and never resized, so a backend's memory is fixed when it
 * starts. Every entry is one allocation (header, full LMDB key, value) and
 * sits on one of two LRU lists: clean (same bytes as LMDB, or known
 * absent) or dirty (newer than LMDB). Making room evicts clean entries
 * from the cold end first and flushes only when nothing clean is left, so
 * a flush writes a whole budget's worth of entries (sorted, which LMDB
 * takes fastest) rather than a trickle. Entries charge what glibc's
 * malloc really uses for them, and the bucket array is charged too, so
 * the budget bounds the heap the cache holds.
 *
 * docs/state.md has the layout, the durability model and the figures.
 */
#include "state.h"
#include "state_int.h"

#include "clock.h"
#include "err.h"
#include "fsutil.h"
#include "log.h"
#include "mem.h"
#include "wr_assert.h"
#include "wr_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* 2 bytes key group (big-endian, so keys sort by key group), 1 state id. */
#define WR_STATE_PREFIX_BYTES 3
#define WR_STATE_KEY_BYTES    (WR_STATE_PREFIX_BYTES + WR_STATE_MAX_USER_KEY)

#define WR_STATE_DEFAULT_CACHE_BYTES ((size_t)16 << 20)
#define WR_STATE_DEFAULT_MAP_BYTES   ((size_t)64 << 20)
/* LMDB wants a map of a few pages at least; 64 KiB keeps it page-aligned
 * on every page size Linux uses. */
#define WR_STATE_MAP_ALIGN ((size_t)64 << 10)

/* Bucket array: one bucket per this many bytes of budget. Entries of
 * small window state charge ~100-130 bytes, so chains stay ~1 long; the
 * array costs 8/128 = 6% of the budget. */
#define WR_STATE_BYTES_PER_BUCKET 128

/* An entry charging more than budget/this bypasses the cache: one huge
 * value would otherwise push out thousands of small hot ones. */
#define WR_STATE_BYPASS_DIVISOR 16

/* LMDB page accesses between two residency checks. A read fault maps up
 * to 16 pages around the one touched (the kernel's fault-around, 64 KiB;
 * MADV_RANDOM does not stop it), so 256 accesses map at most ~16 MiB past
 * the bound; a check is one pread of /proc/self/statm (~1 us). */
#define WR_STATE_TRIM_EVERY 256

_Static_assert(WR_STATE_KEY_BYTES <= WR_MAX_KEY_BYTES,
               "the prefixed key must fit LMDB's key limit");
_Static_assert(WR_STATE_MAX_USER_KEY <= UINT16_MAX, "klen is 16 bits");
_Static_assert(sizeof(size_t) >= 8, "the LMDB map needs 64-bit addresses");

enum {
	WR_STATE_DIRTY = 1, /* newer than LMDB: on st->dirty */
	WR_STATE_TOMB = 2,  /* deleted: hides whatever LMDB holds */
};

typedef struct wr_state_link {
	struct wr_state_link *prev, *next;
} wr_state_link;

typedef struct wr_state_entry {
	wr_state_link lru; /* first: on st->clean or st->dirty */
	struct wr_state_entry *hnext;
	uint32_t hash;
	uint32_t vlen, vcap;
	uint16_t klen; /* LMDB key bytes, prefix included */
	uint8_t flags;
	unsigned char data[]; /* klen key bytes, then vcap value bytes */
} wr_state_entry;

struct wr_state {
	MDB_env *env;
	MDB_dbi dbi;
	MDB_txn *rtxn;  /* reused read transaction (MDB_NOTLS) */
	bool rtxn_live; /* renewed: holds a snapshot until the next write */
	size_t map_bytes;
	size_t budget; /* cache_bytes */
	size_t used;   /* charged bytes: entries and bucket array */
	size_t bypass; /* entries charging more skip the cache */
	/* Every key LMDB holds has an entry (or a tombstone) in the cache:
	 * an empty store at open, nothing evicted or written around the
	 * cache since. Then a miss is an absence without asking LMDB (a
	 * window's first record of each pane). */
	bool complete;
	wr_state_entry **buckets;
	/* The checkpoint view, open or closed but not yet let go of by the
	 * backend (wr_state_view_settle). */
	wr_state_view *view;
	/* Keys written to LMDB since the last view (state_delta.c); NULL:
	 * changes are not tracked. */
	wr_state_changes *changes;
	uint32_t mask; /* buckets - 1 (a power of two) */
	uint64_t seed; /* per backend, so keys cannot be chosen to collide */
	/* List heads, most recently used first. Each is the link of a
	 * sentinel entry of its own, not a member of this struct: GCC 12 at
	 * -O2 moved a load of a head embedded here out of a loop that
	 * unlinked entries through plain link pointers (docs/state.md). */
	wr_state_link *clean, *dirty;
	size_t ndirty;
	uint64_t hits, misses;
	/* Map residency (wr_state_map_touch). */
	void *map_addr;  /* where LMDB mapped data.mdb; NULL: not known */
	size_t psize;    /* LMDB page size */
	size_t resident; /* map_resident_bytes; SIZE_MAX: no bound */
	size_t touches;  /* LMDB page accesses since the last check */
	int statm_fd;    /* /proc/self/statm; -1: no trimming */
	uint64_t trims;
	unsigned char kbuf[WR_STATE_KEY_BYTES];
};

/* The bound is checked against the process's file-backed RSS, which
 * holds every backend's map: the sum of the bounds of the open backends
 * that trim, and that RSS when the first of them opened (program text and
 * libraries), which the check allows for. Backends open and close on
 * their tasks' threads, hence atomics. */
static _Atomic size_t wr_state_resident_total;
static _Atomic size_t wr_state_rss_base;

/* ---- errors ---- */

int
wr_state_err(int rc, const char *op)
{
	switch (rc) {
	case MDB_SUCCESS:
		return WR_OK;
	case MDB_NOTFOUND:
		return WR_ENOENT;
	case MDB_MAP_FULL:
		return WR_EFULL;
	case ENOMEM:
		return WR_ENOMEM;
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
		wr_log(WR_LOG_ERROR, "STATE-CORRUPT", "op=%s rc=%d %s", op, rc,
		       mdb_strerror(rc));
		return WR_ECORRUPT;
	default:
		wr_log(WR_LOG_ERROR, "STATE-LMDB-ERROR", "op=%s rc=%d %s", op,
		       rc, mdb_strerror(rc));
		return rc > 0 ? wr_err_from_errno(rc) : WR_EINTERNAL;
	}
}

/*
 * LMDB reports a short write as EIO ("short write, filesystem full?" in
 * mdb_page_flush and its copy), so a full disk would read "Input/output
 * error": the filesystem written to (fd) tells the real cause. Other
 * errnos (a failed write's ENOSPC, EROFS, EACCES at open) arrive as they
 * are.
 */
static int
wr_state_io_cause(int rc, int fd)
{
	struct statvfs sv;

	if (rc != EIO || fstatvfs(fd, &sv) != 0)
		return rc;
	if (sv.f_flag & ST_RDONLY)
		return EROFS;
	if ((uint64_t)sv.f_bavail * sv.f_frsize < WR_STATE_DISK_FULL_BYTES)
		return ENOSPC;
	return rc;
}

/* An LMDB write's code: wr_state_err of its real cause. */
static int
wr_state_write_err(wr_state *st, int rc, const char *op)
{
	mdb_filehandle_t fd = -1;

	if (rc == EIO && mdb_env_get_fd(st->env, &fd) == MDB_SUCCESS)
		rc = wr_state_io_cause(rc, fd);
	return wr_state_err(rc, op);
}

/* ---- keys and entries ---- */

static size_t
wr_state_key(unsigned char *out, uint16_t kg, uint8_t sid, const void *key,
             size_t klen)
{
	out[0] = (unsigned char)(kg >> 8);
	out[1] = (unsigned char)kg;
	out[2] = sid;
	if (klen > 0)
		memcpy(out + WR_STATE_PREFIX_BYTES, key, klen);
	return WR_STATE_PREFIX_BYTES + klen;
}

/* Multiply-xorshift over 8-byte words (splitmix64's finaliser), seeded. */
static uint32_t
wr_state_hash(uint64_t seed, const unsigned char *p, size_t n)
{
	uint64_t h = seed ^ (n * 0x9e3779b97f4a7c15u);
	uint64_t w;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9u;
		h ^= h >> 31;
	}
	w = 0;
	memcpy(&w, p, n);
	h = (h ^ w) * 0x94d049bb133111ebu;
	h ^= h >> 29;
	h *= 0xbf58476d1ce4e5b9u;
	h ^= h >> 32;
	return (uint32_t)h;
}

/* What glibc's malloc takes for an entry: the size plus its 8-byte chunk
 * header, rounded to 16, at least 32. */
static size_t
wr_state_charge(size_t klen, size_t vcap)
{
	size_t n = sizeof(wr_state_entry) + klen + vcap + 8;

	n = (n + 15) & ~(size_t)15;
	return n < 32 ? 32 : n;
}

static size_t
wr_state_entry_charge(const wr_state_entry *e)
{
	return wr_state_charge(e->klen, e->vcap);
}

/* NULL when malloc fails: values are data-plane memory (WR_ENOMEM). */
static wr_state_entry *
wr_state_entry_new(uint32_t hash, const unsigned char *k, size_t klen,
                   const void *val, size_t vlen, uint8_t flags)
{
	wr_state_entry *e = malloc(sizeof(*e) + klen + vlen);

	if (e == NULL)
		return NULL;
	e->hnext = NULL;
	e->hash = hash;
	e->klen = (uint16_t)klen;
	e->vlen = e->vcap = (uint32_t)vlen;
	e->flags = flags;
	memcpy(e->data, k, klen);
	if (vlen > 0)
		memcpy(e->data + klen, val, vlen);
	return e;
}

/* LMDB's default order: bytes, then the shorter key first. */
static int
wr_state_entry_cmp(const wr_state_entry *a, const wr_state_entry *b)
{
	size_t n = a->klen < b->klen ? a->klen : b->klen;
	int c = memcmp(a->data, b->data, n);

	if (c != 0)
		return c;
	return (int)a->klen - (int)b->klen;
}

/* ---- LRU lists (circular, with a head link) ---- */

static void
wr_state_list_init(wr_state_link *head)
{
	head->prev = head->next = head;
}

static bool
wr_state_list_empty(const wr_state_link *head)
{
	return head->next == head;
}

static void
wr_state_list_remove(wr_state_link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
}

static void
wr_state_list_push(wr_state_link *head, wr_state_link *l)
{
	l->prev = head;
	l->next = head->next;
	head->next->prev = l;
	head->next = l;
}

static wr_state_entry *
wr_state_of(wr_state_link *l)
{
	return (wr_state_entry *)(void *)l;
}

/* Moves e to the hot end of the list its flags say. */
static void
wr_state_touch(wr_state *st, wr_state_entry *e)
{
	wr_state_list_remove(&e->lru);
	wr_state_list_push((e->flags & WR_STATE_DIRTY) ? st->dirty : st->clean,
	                   &e->lru);
}

/* ---- the hash table ---- */

static wr_state_entry *
wr_state_find(wr_state *st, uint32_t h, const unsigned char *k, size_t klen)
{
	wr_state_entry *e = st->buckets[h & st->mask];

	for (; e != NULL; e = e->hnext) {
		if (e->hash == h && e->klen == klen &&
		    memcmp(e->data, k, klen) == 0)
			return e;
	}
	return NULL;
}

static void
wr_state_link_entry(wr_state *st, wr_state_entry *e)
{
	wr_state_entry **b = &st->buckets[e->hash & st->mask];

	e->hnext = *b;
	*b = e;
	wr_state_list_push((e->flags & WR_STATE_DIRTY) ? st->dirty : st->clean,
	                   &e->lru);
	if (e->flags & WR_STATE_DIRTY)
		st->ndirty++;
	st->used += wr_state_entry_charge(e);
}

static void
wr_state_drop_entry(wr_state *st, wr_state_entry *e)
{
	wr_state_entry **pp = &st->buckets[e->hash & st->mask];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	wr_state_list_remove(&e->lru);
	if (e->flags & WR_STATE_DIRTY)
		st->ndirty--;
	st->used -= wr_state_entry_charge(e);
	free(e);
}

/* ---- map residency ----
 *
 * Pages of LMDB's map that reads touch stay mapped, so RSS would grow to
 * the data size. When the process's file-backed RSS passes the bound, the
 * backend unmaps its map (MADV_DONTNEED): the pages stay in the page
 * cache, and the next access maps them again with a minor fault. The map
 * is read-only (no MDB_WRITEMAP), so this is safe at any time, even under
 * a transaction or with a value pointer handed out.
 */

/* mdb_env_info's me_mapaddr is only set with MDB_FIXEDMAP: find the map
 * in /proc/self/maps (the mapping of data.mdb's device and inode at offset
 * 0, of the map's size: anything less exact must not be unmapped). After
 * open and every resize; NULL when not found (then nothing is trimmed). */
static void
wr_state_map_locate(wr_state *st)
{
	char line[1024];
	struct stat sb;
	FILE *f;
	int fd;

	st->map_addr = NULL;
	if (mdb_env_get_fd(st->env, &fd) != MDB_SUCCESS || fstat(fd, &sb) != 0)
		return;
	f = fopen("/proc/self/maps", "re");
	if (f == NULL)
		return;
	/* Bounded: one line per mapping of the process. */
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi, off, ino;
		unsigned maj, mnr;

		if (sscanf(line, "%lx-%lx %*s %lx %x:%x %lu", &lo, &hi, &off,
		           &maj, &mnr, &ino) == 6 &&
		    ino == sb.st_ino && maj == major(sb.st_dev) &&
		    mnr == minor(sb.st_dev) && off == 0 &&
		    hi - lo == st->map_bytes) {
			st->map_addr = (void *)lo;
			break;
		}
	}
	fclose(f);
}

/* File-backed resident bytes of the process (statm's third field); 0 when
 * it cannot be read. */
static size_t
wr_state_file_rss(int fd)
{
	char buf[128];
	unsigned long size, res, shared;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return 0;
	buf[n] = '\0';
	if (sscanf(buf, "%lu %lu %lu", &size, &res, &shared) != 3)
		return 0;
	return (size_t)shared * (size_t)sysconf(_SC_PAGESIZE);
}

/* Counts pages LMDB accesses for us; every WR_STATE_TRIM_EVERY, unmaps
 * the map when the process is over the bound. */
static void
wr_state_map_touch(wr_state *st, size_t pages)
{
	MDB_envinfo info;
	size_t len, limit;

	st->touches += pages;
	if (st->touches < WR_STATE_TRIM_EVERY || st->statm_fd < 0)
		return;
	st->touches = 0;
	limit = atomic_load(&wr_state_resident_total) +
	        atomic_load(&wr_state_rss_base);
	if (st->map_addr == NULL || wr_state_file_rss(st->statm_fd) <= limit)
		return;
	mdb_env_info(st->env, &info);
	len = (info.me_last_pgno + 1) * st->psize;
	if (len > st->map_bytes)
		len = st->map_bytes;
	if (madvise(st->map_addr, len, MADV_DONTNEED) != 0) {
		wr_log(WR_LOG_WARN, "STATE-TRIM-FAILED",
		       "madvise: %s; map pages stay resident", strerror(errno));
		st->map_addr = NULL;
		return;
	}
	st->trims++;
}

/* Joins the residency accounting (unless unbounded or /proc is absent). */
static void
wr_state_resident_init(wr_state *st, size_t resident)
{
	MDB_stat ms;

	st->statm_fd = -1;
	st->resident = resident;
	st->psize =
	    mdb_env_stat(st->env, &ms) == MDB_SUCCESS ? ms.ms_psize : 4096;
	wr_state_map_locate(st);
	if (resident == SIZE_MAX)
		return;
	if (st->map_addr != NULL)
		st->statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (st->statm_fd < 0) {
		wr_log(WR_LOG_WARN, "STATE-NO-TRIM",
		       "no /proc: LMDB map pages stay resident");
		return;
	}
	if (atomic_fetch_add(&wr_state_resident_total, resident) == 0)
		atomic_store(&wr_state_rss_base,
		             wr_state_file_rss(st->statm_fd));
}

static void
wr_state_resident_fini(wr_state *st)
{
	if (st->statm_fd < 0)
		return;
	atomic_fetch_sub(&wr_state_resident_total, st->resident);
	close(st->statm_fd);
}

/* True when p may lie in LMDB's map (a value get returned without caching
 * it, handed back to put); when the map's place is unknown, it may. */
static bool
wr_state_in_map(wr_state *st, const void *p)
{
	uintptr_t a = (uintptr_t)p, base = (uintptr_t)st->map_addr;

	return base == 0 || (a >= base && a - base < st->map_bytes);
}

/* ---- LMDB transactions ---- */

/* The read transaction lives from the first read after a write until the
 * next write: with one thread, nothing can change LMDB in between. */
static int
wr_state_rtxn(wr_state *st, MDB_txn **out)
{
	int rc;

	if (!st->rtxn_live) {
		rc = mdb_txn_renew(st->rtxn);
		if (rc != MDB_SUCCESS)
			return wr_state_err(rc, "txn_renew");
		st->rtxn_live = true;
	}
	*out = st->rtxn;
	return WR_OK;
}

/* Before every write: a live snapshot would keep LMDB from reusing the
 * pages a write frees, and the map cannot be resized under it. */
static void
wr_state_rtxn_reset(wr_state *st)
{
	if (st->rtxn_live) {
		mdb_txn_reset(st->rtxn);
		st->rtxn_live = false;
	}
}

/* Doubles the map. Only with no transaction open (LMDB's rule). */
static void wr_state_view_settle(wr_state *st, bool cancel);

static int
wr_state_grow(wr_state *st)
{
	MDB_envinfo info;
	size_t want;
	int rc;

	wr_state_view_settle(st, false); /* the map must not move under it */
	if (st->map_bytes >= WR_STATE_MAX_MAP_BYTES) {
		wr_log(WR_LOG_ERROR, "STATE-MAP-LIMIT", "map_bytes=%zu",
		       st->map_bytes);
		return WR_EFULL;
	}
	want = st->map_bytes * 2;
	if (want > WR_STATE_MAX_MAP_BYTES)
		want = WR_STATE_MAX_MAP_BYTES;
	wr_state_rtxn_reset(st);
	rc = mdb_env_set_mapsize(st->env, want);
	if (rc != MDB_SUCCESS)
		return wr_state_err(rc, "env_set_mapsize");
	mdb_env_info(st->env, &info);
	st->map_bytes = info.me_mapsize;
	wr_state_map_locate(st); /* remapped, maybe elsewhere */
	wr_log(WR_LOG_DEBUG, "STATE-MAP-GROWN", "map_bytes=%zu", st->map_bytes);
	return WR_OK;
}

/* Writes the first n dirty entries (sorted) in one transaction and, once
 * committed, moves them to the clean list. Returns an LMDB code: the
 * caller grows the map or splits the batch and calls again. */
static int
wr_state_write_batch(wr_state *st, size_t n)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	wr_state_link *l = st->dirty->next;
	int rc;

	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc != MDB_SUCCESS)
		goto out;
	rc = mdb_cursor_open(txn, st->dbi, &cur);
	if (rc != MDB_SUCCESS)
		goto abort_txn;
	for (size_t i = 0; i < n && rc == MDB_SUCCESS; i++, l = l->next) {
		wr_state_entry *e = wr_state_of(l);
		MDB_val k = {e->klen, e->data};
		MDB_val v = {e->vlen, e->data + e->klen};

		wr_state_map_touch(st, 1);
		if (!(e->flags & WR_STATE_TOMB)) {
			rc = mdb_cursor_put(cur, &k, &v, 0);
			continue;
		}
		rc = mdb_cursor_get(cur, &k, NULL, MDB_SET);
		if (rc == MDB_SUCCESS)
			rc = mdb_cursor_del(cur, 0);
		else if (rc == MDB_NOTFOUND)
			rc = MDB_SUCCESS;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_SUCCESS)
		goto abort_txn;
	rc = mdb_txn_commit(txn); /* frees txn, committed or not */
	if (rc != MDB_SUCCESS)
		goto out;
	for (size_t i = 0; i < n; i++) {
		wr_state_entry *e = wr_state_of(st->dirty->next);

		wr_state_changes_add(st->changes, e->hash, e->data, e->klen);
		wr_state_list_remove(&e->lru);
		e->flags &= (uint8_t)~WR_STATE_DIRTY;
		wr_state_list_push(st->clean, &e->lru);
		st->ndirty--;
	}
	goto out;
abort_txn:
	mdb_txn_abort(txn);
out:
	return rc;
}

/* One put in its own transaction, for values too big for the cache. */
static int
wr_state_put_direct(wr_state *st, const unsigned char *k, size_t klen,
                    const void *val, size_t vlen)
{
	MDB_val mk = {klen, (void *)k};
	MDB_val mv = {vlen, (void *)val};
	MDB_txn *txn;
	void *copy = NULL;
	int rc;
	int rv = WR_OK;

	st->complete = false; /* LMDB gets a key the cache has not */
	wr_state_rtxn_reset(st);
	wr_state_map_touch(st, 1 + vlen / st->psize);
	for (;;) { /* bounded: the map doubles up to its limit */
		rc = mdb_txn_begin(st->env, NULL, 0, &txn);
		if (rc == MDB_SUCCESS) {
			rc = mdb_put(txn, st->dbi, &mk, &mv, 0);
			if (rc == MDB_SUCCESS)
				rc = mdb_txn_commit(txn);
			else
				mdb_txn_abort(txn);
		}
		if (rc != MDB_MAP_FULL)
			break;
		/* Growing remaps: a value read from the map moves. */
		if (copy == NULL && vlen > 0 && wr_state_in_map(st, val)) {
			copy = malloc(vlen);
			if (copy == NULL) {
				rv = WR_ENOMEM;
				goto free_copy;
			}
			memcpy(copy, val, vlen);
			mv.mv_data = copy;
		}
		rv = wr_state_grow(st);
		if (rv != WR_OK)
			goto free_copy;
	}
	rv = wr_state_write_err(st, rc, "put");
	if (rv == WR_OK)
		wr_state_changes_add(st->changes,
		                     wr_state_hash(st->seed, k, klen), k, klen);
free_copy:
	free(copy);
	return rv;
}

/* ---- flush ---- */

/* A dirty entry and its key's first 8 bytes (big-endian, zero-padded),
 * so that most comparisons of the sort stay in the array. */
typedef struct wr_state_sortkey {
	uint64_t prefix;
	wr_state_entry *e;
} wr_state_sortkey;

static int
wr_state_sortkey_cmp(const void *pa, const void *pb)
{
	const wr_state_sortkey *a = pa, *b = pb;

	if (a->prefix != b->prefix)
		return a->prefix < b->prefix ? -1 : 1;
	return wr_state_entry_cmp(a->e, b->e);
}

/* Puts the dirty list in key order: LMDB puts in key order touch each
 * page once and keep the path to it in the CPU cache. The array (16
 * bytes a dirty entry, ~2 MiB for a 16 MiB cache) lives for the flush
 * only; sorting the list in place instead chased pointers for 40% of the
 * put time. */
static int
wr_state_sort_dirty(wr_state *st)
{
	wr_state_link *head = st->dirty, *l = head->next;
	wr_state_sortkey *keys = malloc(st->ndirty * sizeof(*keys));
	size_t n = 0;

	if (keys == NULL)
		return WR_ENOMEM;
	for (; l != head; l = l->next, n++) {
		wr_state_entry *e = wr_state_of(l);
		uint64_t p = 0;

		for (unsigned i = 0; i < 8; i++)
			p = p << 8 | (i < e->klen ? e->data[i] : 0);
		keys[n] = (wr_state_sortkey){p, e};
	}
	WR_ASSERT(n == st->ndirty);
	qsort(keys, n, sizeof(*keys), wr_state_sortkey_cmp);
	wr_state_list_init(head);
	for (size_t i = n; i-- > 0;)
		wr_state_list_push(head, &keys[i].e->lru);
	free(keys);
	return WR_OK;
}

int
wr_state_flush(wr_state *st)
{
	size_t batch = WR_STATE_TXN_MAX_PUTS;
	int rc;
	int rv = WR_OK;

	WR_ASSERT(st != NULL);
	if (st->ndirty == 0)
		return WR_OK;
	rv = wr_state_sort_dirty(st);
	if (rv != WR_OK)
		return rv;
	wr_state_rtxn_reset(st);
	/* Bounded: each turn writes entries, doubles the map (up to its
	 * limit) or halves the batch. */
	while (st->ndirty > 0) {
		size_t n = batch < st->ndirty ? batch : st->ndirty;

		rc = wr_state_write_batch(st, n);
		if (rc == MDB_SUCCESS)
			continue;
		if (rc == MDB_MAP_FULL)
			rv = wr_state_grow(st);
		else if (rc == MDB_TXN_FULL && batch > 1)
			batch /= 2;
		else
			rv = wr_state_write_err(st, rc, "flush");
		if (rv != WR_OK)
			break;
	}
	return rv;
}

/* Evicts clean entries, coldest first, until need more bytes fit; flushes
 * when only dirty ones are left. With nothing left the entry goes in over
 * budget (it is evicted by the next call). */
static int
wr_state_make_room(wr_state *st, size_t need)
{
	int rv = WR_OK;

	while (st->used + need > st->budget) {
		if (!wr_state_list_empty(st->clean)) {
			wr_state_drop_entry(st, wr_state_of(st->clean->prev));
			st->complete = false;
			continue;
		}
		if (wr_state_list_empty(st->dirty))
			break;
		rv = wr_state_flush(st);
		if (rv != WR_OK)
			break;
	}
	return rv;
}

/* Inserts e (not yet linked) after making room. replaces: an entry of the
 * same key was linked before; room making may have evicted it, so it is
 * looked up again (when there was none, room making cannot add one). On
 * error e is freed. */
static int
wr_state_insert(wr_state *st, wr_state_entry *e, bool replaces)
{
	wr_state_entry *old = NULL;
	int rv = wr_state_make_room(st, wr_state_entry_charge(e));

	if (rv != WR_OK) {
		free(e);
		return rv;
	}
	if (replaces)
		old = wr_state_find(st, e->hash, e->data, e->klen);
	if (old != NULL)
		wr_state_drop_entry(st, old);
	wr_state_link_entry(st, e);
	return WR_OK;
}

/* ---- open and close ---- */

static int
wr_state_env_open(wr_state *st, const char *dir, size_t map_bytes)
{
	MDB_txn *txn;
	MDB_envinfo info;
	int dead;
	int rc;

	rc = mdb_env_create(&st->env);
	if (rc != MDB_SUCCESS)
		return wr_state_err(rc, "env_create");
	if ((rc = mdb_env_set_mapsize(st->env, map_bytes)) != MDB_SUCCESS ||
	    (rc = mdb_env_set_maxreaders(st->env, WR_STATE_MAX_READERS)) !=
	        MDB_SUCCESS ||
	    (rc = mdb_env_open(st->env, dir,
	                       MDB_NOSYNC | MDB_NOMETASYNC | MDB_NORDAHEAD |
	                           MDB_NOTLS,
	                       0600)) != MDB_SUCCESS)
		goto close_env;
	WR_ASSERT(mdb_env_get_maxkeysize(st->env) >= WR_STATE_KEY_BYTES);
	mdb_reader_check(st->env, &dead); /* slots of a crashed process */
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn)) !=
	    MDB_SUCCESS)
		goto close_env;
	rc = mdb_dbi_open(txn, NULL, 0, &st->dbi);
	if (rc != MDB_SUCCESS) {
		mdb_txn_abort(txn);
		goto close_env;
	}
	/* Committed, so the handle outlives the transaction. */
	MDB_stat stat;
	st->complete = mdb_stat(txn, st->dbi, &stat) == MDB_SUCCESS &&
	               stat.ms_entries == 0;
	if ((rc = mdb_txn_commit(txn)) != MDB_SUCCESS)
		goto close_env;
	if ((rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &st->rtxn)) !=
	    MDB_SUCCESS)
		goto close_env;
	mdb_txn_reset(st->rtxn);
	mdb_env_info(st->env, &info);
	st->map_bytes = info.me_mapsize; /* an old env may be bigger */
	return WR_OK;
close_env:
	mdb_env_close(st->env);
	st->env = NULL;
	return wr_state_err(rc, "env_open");
}

/* A list head: the link of a zeroed entry of its own (struct wr_state
 * says why). */
static wr_state_link *
wr_state_head_new(void)
{
	wr_state_entry *e = wr_xcalloc(1, sizeof(*e));

	wr_state_list_init(&e->lru);
	return &e->lru;
}

static int
wr_state_cache_init(wr_state *st, size_t budget)
{
	size_t nb = 16;

	while (nb * 2 <= budget / WR_STATE_BYTES_PER_BUCKET)
		nb *= 2;
	st->buckets = calloc(nb, sizeof(*st->buckets));
	if (st->buckets == NULL)
		return WR_ENOMEM;
	st->mask = (uint32_t)(nb - 1);
	st->budget = budget;
	st->used = nb * sizeof(*st->buckets);
	st->bypass = budget / WR_STATE_BYPASS_DIVISOR;
	st->clean = wr_state_head_new();
	st->dirty = wr_state_head_new();
	if (getrandom(&st->seed, sizeof(st->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(st->seed))
		st->seed = (uint64_t)wr_mono_ms() ^ (uintptr_t)st;
	return WR_OK;
}

static void
wr_state_free_list(wr_state_link *head)
{
	wr_state_link *l = head->next;

	while (l != head) {
		wr_state_link *next = l->next;

		free(wr_state_of(l));
		l = next;
	}
}

/* Frees every entry (dirty ones are dropped), the heads and buckets. */
static void
wr_state_cache_fini(wr_state *st)
{
	wr_state_free_list(st->clean);
	wr_state_free_list(st->dirty);
	free(wr_state_of(st->clean));
	free(wr_state_of(st->dirty));
	free(st->buckets);
}

int
wr_state_open(const char *dir, const wr_state_opts *opts, wr_state **out)
{
	size_t cache = opts != NULL ? opts->cache_bytes : 0;
	size_t map = opts != NULL ? opts->initial_map_bytes : 0;
	size_t resident = opts != NULL ? opts->map_resident_bytes : 0;
	wr_state *st;
	int rv;

	*out = NULL;
	if (dir == NULL || map > WR_STATE_MAX_MAP_BYTES)
		return WR_EINVAL;
	cache = cache == 0 ? WR_STATE_DEFAULT_CACHE_BYTES : cache;
	cache =
	    cache < WR_STATE_MIN_CACHE_BYTES ? WR_STATE_MIN_CACHE_BYTES : cache;
	map = map == 0 ? WR_STATE_DEFAULT_MAP_BYTES : map;
	map = (map + WR_STATE_MAP_ALIGN - 1) & ~(WR_STATE_MAP_ALIGN - 1);
	/* 0, or more than the largest map, is no bound (and the latter
	 * cannot overflow the process-wide sum). */
	if (resident == 0 || resident > WR_STATE_MAX_MAP_BYTES)
		resident = SIZE_MAX;
	rv = wr_mkdirs(dir, 0700);
	if (rv != WR_OK)
		return rv;
	st = wr_xcalloc(1, sizeof(*st));
	rv = wr_state_cache_init(st, cache);
	if (rv != WR_OK)
		goto free_st;
	rv = wr_state_env_open(st, dir, map);
	if (rv != WR_OK)
		goto fini_cache;
	wr_state_resident_init(st, resident);
	*out = st;
	return WR_OK;
fini_cache:
	wr_state_cache_fini(st);
free_st:
	free(st);
	return rv;
}

void
wr_state_close(wr_state *st)
{
	if (st == NULL)
		return;
	wr_state_view_settle(st, true);
	wr_state_resident_fini(st);
	mdb_txn_abort(st->rtxn);
	mdb_env_close(st->env);
	wr_state_cache_fini(st);
	wr_state_changes_free(st->changes);
	free(st);
}

/* ---- get, put, del ---- */

static int
wr_state_check_key(const void *key, size_t klen)
{
	if (klen > WR_STATE_MAX_USER_KEY)
		return WR_ETOOBIG;
	if (key == NULL && klen > 0)
		return WR_EINVAL;
	return WR_OK;
}

/* A miss: reads LMDB and keeps a copy as a clean entry, unless it is too
 * big for the cache (then *val points into the map, which stays valid
 * while the read transaction does: until the next write). */
static int
wr_state_get_miss(wr_state *st, uint32_t h, size_t kl, const void **val,
                  size_t *vlen)
{
	MDB_txn *txn = NULL;
	MDB_val k = {kl, st->kbuf}, v;
	wr_state_entry *e;
	int rv = wr_state_rtxn(st, &txn);

	if (rv != WR_OK)
		return rv;
	rv = wr_state_err(mdb_get(txn, st->dbi, &k, &v), "get");
	wr_state_map_touch(st, 1);
	if (rv != WR_OK)
		return rv;
	if (v.mv_size > WR_STATE_MAX_VALUE_BYTES)
		return wr_state_err(MDB_CORRUPTED, "get");
	*val = v.mv_data;
	*vlen = v.mv_size;
	if (wr_state_charge(kl, v.mv_size) > st->bypass)
		return WR_OK;
	/* Copied before making room: a flush there ends the snapshot. */
	e = wr_state_entry_new(h, st->kbuf, kl, v.mv_data, v.mv_size, 0);
	if (e == NULL)
		return WR_ENOMEM;
	rv = wr_state_insert(st, e, false);
	if (rv == WR_OK)
		*val = e->data + e->klen;
	return rv;
}

int
wr_state_get(wr_state *st, uint16_t key_group, uint8_t state_id,
             const void *key, size_t klen, const void **val, size_t *vlen)
{
	wr_state_entry *e;
	size_t kl;
	uint32_t h;
	int rv = wr_state_check_key(key, klen);

	WR_ASSERT(st != NULL && val != NULL && vlen != NULL);
	if (rv != WR_OK)
		return rv;
	kl = wr_state_key(st->kbuf, key_group, state_id, key, klen);
	h = wr_state_hash(st->seed, st->kbuf, kl);
	e = wr_state_find(st, h, st->kbuf, kl);
	if (e == NULL) {
		st->misses++;
		if (st->complete)
			return WR_ENOENT;
		return wr_state_get_miss(st, h, kl, val, vlen);
	}
	st->hits++;
	wr_state_touch(st, e);
	if (e->flags & WR_STATE_TOMB)
		return WR_ENOENT;
	*val = e->data + e->klen;
	*vlen = e->vlen;
	return WR_OK;
}

/* Marks a linked entry dirty (moving it to the dirty list). */
static void
wr_state_mark_dirty(wr_state *st, wr_state_entry *e)
{
	if (!(e->flags & WR_STATE_DIRTY)) {
		e->flags |= WR_STATE_DIRTY;
		st->ndirty++;
	}
	wr_state_touch(st, e);
}

int
wr_state_put(wr_state *st, uint16_t key_group, uint8_t state_id,
             const void *key, size_t klen, const void *val, size_t vlen)
{
	wr_state_entry *e, *n;
	size_t kl;
	uint32_t h;
	int rv = wr_state_check_key(key, klen);

	WR_ASSERT(st != NULL);
	if (rv != WR_OK)
		return rv;
	if (vlen > WR_STATE_MAX_VALUE_BYTES)
		return WR_ETOOBIG;
	if (val == NULL && vlen > 0)
		return WR_EINVAL;
	kl = wr_state_key(st->kbuf, key_group, state_id, key, klen);
	h = wr_state_hash(st->seed, st->kbuf, kl);
	e = wr_state_find(st, h, st->kbuf, kl);
	/* Same-size updates (counters, aggregates) reuse the entry; a much
	 * smaller value gets a new one so the memory is given back. */
	if (e != NULL && vlen <= e->vcap && e->vcap <= 2 * vlen + 64) {
		if (vlen > 0)
			memmove(e->data + e->klen, val, vlen);
		e->vlen = (uint32_t)vlen;
		e->flags &= (uint8_t)~WR_STATE_TOMB;
		wr_state_mark_dirty(st, e);
		return WR_OK;
	}
	if (wr_state_charge(kl, vlen) > st->bypass) {
		rv = wr_state_put_direct(st, st->kbuf, kl, val, vlen);
		if (rv == WR_OK && e != NULL) /* older than what LMDB has */
			wr_state_drop_entry(st, e);
		return rv;
	}
	n = wr_state_entry_new(h, st->kbuf, kl, val, vlen, WR_STATE_DIRTY);
	if (n == NULL)
		return WR_ENOMEM;
	return wr_state_insert(st, n, e != NULL);
}

int
wr_state_del(wr_state *st, uint16_t key_group, uint8_t state_id,
             const void *key, size_t klen)
{
	wr_state_entry *e;
	size_t kl;
	uint32_t h;
	int rv = wr_state_check_key(key, klen);

	WR_ASSERT(st != NULL);
	if (rv != WR_OK)
		return rv;
	kl = wr_state_key(st->kbuf, key_group, state_id, key, klen);
	h = wr_state_hash(st->seed, st->kbuf, kl);
	e = wr_state_find(st, h, st->kbuf, kl);
	if (e != NULL && (e->flags & WR_STATE_TOMB))
		return WR_OK; /* already absent, or will be at the flush */
	if (e != NULL) {
		e->flags |= WR_STATE_TOMB;
		e->vlen = 0;
		wr_state_mark_dirty(st, e);
		return WR_OK;
	}
	if (st->complete)
		return WR_OK; /* LMDB does not hold it either */
	/* Unknown here: LMDB may hold it, so a tombstone must reach it. */
	e = wr_state_entry_new(h, st->kbuf, kl, NULL, 0,
	                       WR_STATE_DIRTY | WR_STATE_TOMB);
	if (e == NULL)
		return WR_ENOMEM;
	return wr_state_insert(st, e, false);
}

/* ---- scan and stats ---- */

typedef int (*wr_state_scan_fn)(void *arg, uint16_t key_group, const void *key,
                                size_t klen, const void *val, size_t vlen);

/* Visits the entries of (kg, sid) and sets *next to the next key group
 * that may hold entries of sid: the first key at or after the prefix
 * tells how many empty key groups to skip. */
static int
wr_state_scan_group(wr_state *st, MDB_cursor *cur, uint8_t sid, unsigned kg,
                    unsigned *next, wr_state_scan_fn fn, void *arg)
{
	unsigned char pfx[WR_STATE_PREFIX_BYTES] = {(unsigned char)(kg >> 8),
	                                            (unsigned char)kg, sid};
	MDB_val k = {sizeof(pfx), pfx}, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);

	*next = UINT16_MAX + 1u;
	for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const unsigned char *p = k.mv_data;
		unsigned kg2, sid2;
		int stop;

		wr_state_map_touch(st, 1);
		if (k.mv_size < WR_STATE_PREFIX_BYTES)
			return wr_state_err(MDB_CORRUPTED, "scan");
		kg2 = (unsigned)p[0] << 8 | p[1];
		sid2 = p[2];
		if (kg2 != kg || sid2 != sid) {
			*next = kg2 > kg && sid2 <= sid ? kg2 : kg2 + 1;
			return WR_OK;
		}
		stop =
		    fn(arg, (uint16_t)kg, p + WR_STATE_PREFIX_BYTES,
		       k.mv_size - WR_STATE_PREFIX_BYTES, v.mv_data, v.mv_size);
		if (stop != 0)
			return stop;
	}
	return rc == MDB_NOTFOUND ? WR_OK : wr_state_err(rc, "scan");
}

int
wr_state_scan(wr_state *st, uint8_t state_id, uint16_t kg_first,
              uint16_t kg_last, wr_state_scan_fn fn, void *arg)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur;
	unsigned next;
	int rv;

	WR_ASSERT(st != NULL && fn != NULL);
	rv = wr_state_flush(st);
	if (rv != WR_OK)
		return rv;
	rv = wr_state_rtxn(st, &txn);
	if (rv != WR_OK)
		return rv;
	rv = wr_state_err(mdb_cursor_open(txn, st->dbi, &cur), "scan");
	if (rv != WR_OK)
		return rv;
	/* Bounded: next is always past kg. */
	for (unsigned kg = kg_first; kg <= kg_last && rv == 0; kg = next)
		rv = wr_state_scan_group(st, cur, state_id, kg, &next, fn, arg);
	mdb_cursor_close(cur);
	return rv;
}

void
wr_state_get_stats(wr_state *st, wr_state_stats *out)
{
	MDB_stat ms;

	WR_ASSERT(st != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	if (mdb_env_stat(st->env, &ms) == MDB_SUCCESS)
		out->entries = ms.ms_entries;
	out->cache_bytes = st->used;
	out->cache_hits = st->hits;
	out->cache_misses = st->misses;
	out->map_bytes = st->map_bytes;
	out->map_trims = st->trims;
}

/* ---- checkpoints ---- */

/* ---- checkpoint views ---- */

/* LMDB's two meta pages open every environment file. */
#define WR_STATE_METAS 2

static void
wr_state_view_unref(wr_state_view *v)
{
	pthread_mutex_lock(&v->mu);
	bool last = --v->refs == 0;
	pthread_mutex_unlock(&v->mu);
	if (!last)
		return;
	wr_state_changes_free(v->changes);
	pthread_cond_destroy(&v->cv);
	pthread_mutex_destroy(&v->mu);
	free(v);
}

/* What the copy needs of the view, taken with no write in between (the
 * caller's thread is the only writer): the meta pages, the newer of which
 * is the view's, and the end of the view's last page (state_snap.c). */
static int
wr_state_view_fix(wr_state *st, wr_state_view *v)
{
	MDB_envinfo info;
	int rv = wr_state_err(mdb_env_get_fd(st->env, &v->fd), "get_fd");

	if (rv != WR_OK)
		return rv;
	mdb_env_info(st->env, &info);
	if (info.me_last_txnid != mdb_txn_id(v->txn))
		return wr_state_err(MDB_BAD_TXN, "view"); /* a second writer */
	v->end = ((uint64_t)info.me_last_pgno + 1) * st->psize;
	/* LMDB writes through the file (no MDB_WRITEMAP): it holds what
	 * was committed. */
	for (size_t got = 0; got < v->meta_bytes;) {
		ssize_t r = pread(v->fd, v->metas + got, v->meta_bytes - got,
		                  (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return wr_err_from_errno(r < 0 ? errno : EIO);
		got += (size_t)r;
	}
	return WR_OK;
}

/* The backend lets go of its view, waiting for its close first when it
 * is open (cancel: asking the copy to stop). Called before the map moves
 * or the environment closes. */
static void
wr_state_view_settle(wr_state *st, bool cancel)
{
	wr_state_view *v = st->view;

	if (v == NULL)
		return;
	if (cancel)
		atomic_store(&v->cancel, true);
	int64_t t0 = wr_mono_ms();
	pthread_mutex_lock(&v->mu);
	bool waited = v->txn != NULL;
	while (v->txn != NULL)
		pthread_cond_wait(&v->cv, &v->mu);
	pthread_mutex_unlock(&v->mu);
	if (waited && !cancel)
		wr_log(WR_LOG_WARN, "STATE-MAP-WAITED",
		       "the map had to grow while a checkpoint copied the "
		       "state: waited %lld ms for the copy (map_bytes=%zu)",
		       (long long)(wr_mono_ms() - t0), st->map_bytes);
	st->view = NULL;
	wr_state_view_unref(v);
}

/* While a view is open, pages it sees stay pinned and writes take fresh
 * ones: the map gets room for the state once more now (growing later
 * would wait for the copy). Free when it is room: a map is address
 * space, the file grows only as pages are written. */
static int
wr_state_view_headroom(wr_state *st)
{
	MDB_envinfo info;
	int rv = WR_OK;

	mdb_env_info(st->env, &info);
	size_t used = (info.me_last_pgno + 1) * st->psize;
	while (rv == WR_OK && used > st->map_bytes / 2 &&
	       st->map_bytes < WR_STATE_MAX_MAP_BYTES)
		rv = wr_state_grow(st);
	return rv;
}

int
wr_state_view_open(wr_state *st, wr_state_view **out)
{
	int rv;

	WR_ASSERT(st != NULL && out != NULL);
	*out = NULL;
	if (st->view != NULL) {
		pthread_mutex_lock(&st->view->mu);
		bool open = st->view->txn != NULL;
		pthread_mutex_unlock(&st->view->mu);
		if (open)
			return WR_ESTATE;
		wr_state_view_settle(st, false);
	}
	if ((rv = wr_state_flush(st)) != WR_OK)
		return rv;
	wr_state_rtxn_reset(st);
	if ((rv = wr_state_view_headroom(st)) != WR_OK)
		return rv;
	size_t mb = WR_STATE_METAS * st->psize;
	wr_state_view *v = wr_xcalloc(1, sizeof(*v) + mb);
	v->meta_bytes = mb;
	rv = wr_state_err(mdb_txn_begin(st->env, NULL, MDB_RDONLY, &v->txn),
	                  "view txn_begin");
	if (rv == WR_OK && (rv = wr_state_view_fix(st, v)) != WR_OK)
		mdb_txn_abort(v->txn);
	if (rv != WR_OK) {
		free(v);
		return rv;
	}
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);
	v->dbi = st->dbi;
	if (st->changes != NULL) { /* the flush above recorded the last */
		v->changes = st->changes;
		st->changes = wr_state_changes_new();
	}
	v->refs = 2;
	st->view = v;
	*out = v;
	return WR_OK;
}

typedef struct wr_state_view_stop {
	wr_state_view *v;
	int (*fn)(void *, uint64_t);
	void *arg;
} wr_state_view_stop;

static int
wr_state_view_stopping(void *arg, uint64_t copied)
{
	wr_state_view_stop *s = arg;

	if (atomic_load(&s->v->cancel))
		return WR_ECLOSED;
	return s->fn != NULL ? s->fn(s->arg, copied) : 0;
}

int
wr_state_view_write(wr_state_view *v, const char *dir,
                    int (*fn)(void *, uint64_t), void *arg)
{
	wr_state_view_stop s = {v, fn, arg};

	WR_ASSERT(v != NULL && v->txn != NULL && dir != NULL);
	return wr_state_copy_pages(v->fd, v->metas, v->meta_bytes, v->end, dir,
	                           wr_state_view_stopping, &s);
}

void
wr_state_track_changes(wr_state *st)
{
	wr_state_changes_free(st->changes);
	st->changes = wr_state_changes_new();
}

void
wr_state_view_close(wr_state_view *v)
{
	if (v == NULL)
		return;
	pthread_mutex_lock(&v->mu);
	if (v->txn != NULL)
		mdb_txn_abort(v->txn); /* MDB_NOTLS: from any thread */
	v->txn = NULL;
	pthread_cond_broadcast(&v->cv);
	pthread_mutex_unlock(&v->mu);
	wr_state_view_unref(v);
}

int
wr_state_snapshot(wr_state *st, const char *dir)
{
	wr_state_view *v;
	int rv = wr_state_view_open(st, &v);

	if (rv != WR_OK)
		return rv;
	rv = wr_state_view_write(v, dir, NULL, NULL);
	wr_state_view_close(v);
	wr_state_view_settle(st, false);
	return rv;
}

int
wr_state_import(wr_state *st, const char *src_dir, uint16_t kg_first,
                uint16_t kg_last, uint64_t *entries)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_cursor *cur;
	MDB_dbi dbi;
	MDB_val k, v;
	unsigned char start[2] = {(unsigned char)(kg_first >> 8),
	                          (unsigned char)kg_first};
	uint64_t n = 0;
	int rc, rv = WR_OK;

	WR_ASSERT(st != NULL && kg_first <= kg_last);
	if ((rc = mdb_env_create(&env)) != MDB_SUCCESS)
		return wr_state_err(rc, "env_create");
	rc = mdb_env_open(env, src_dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS,
	                  0600);
	if (rc != MDB_SUCCESS)
		goto close_env;
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != MDB_SUCCESS)
		goto close_env;
	if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != MDB_SUCCESS ||
	    (rc = mdb_cursor_open(txn, dbi, &cur)) != MDB_SUCCESS)
		goto abort_txn;
	k.mv_size = sizeof(start);
	k.mv_data = start;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == MDB_SUCCESS;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const unsigned char *p = k.mv_data;
		if (k.mv_size < 3) {
			rv = WR_ECORRUPT;
			break;
		}
		uint16_t kg = (uint16_t)(p[0] << 8 | p[1]);
		if (kg > kg_last)
			break;
		rv = wr_state_put(st, kg, p[2], p + 3, k.mv_size - 3, v.mv_data,
		                  v.mv_size);
		if (rv != WR_OK)
			break;
		n++;
	}
	if (rc == MDB_NOTFOUND || rc == MDB_SUCCESS)
		rc = MDB_SUCCESS;
	mdb_cursor_close(cur);
	if (rv == WR_OK && rc == MDB_SUCCESS)
		rv = wr_state_flush(st);
abort_txn:
	mdb_txn_abort(txn);
close_env:
	mdb_env_close(env);
	if (rv == WR_OK && rc != MDB_SUCCESS)
		rv = wr_state_err(rc, "import");
	if (entries != NULL)
		*entries = n;
	return rv;
}
