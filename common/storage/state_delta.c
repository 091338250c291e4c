/*
 * state_delta.c - incremental checkpoints of keyed state: the set of keys
 * written since the last checkpoint, delta files holding those keys'
 * values as a view sees them, and their application on restore.
 *
 * A backend that tracks changes records the LMDB key of every entry it
 * writes to LMDB (a flush, an eviction, a direct put), not every put: a
 * key updated a thousand times between two checkpoints is recorded once
 * per flush, and the barrier's flush records the rest. wr_state_view_open
 * hands the set to the view and starts a new one, so a view's set holds
 * exactly the keys whose value may differ from the previous view's.
 *
 * A delta file ("WRDL", version u32, then records, then a trailer) holds,
 * for each key of a set, its value in the view or a deletion:
 *   u8 1 (put) | u16 klen | key | u32 vlen | value
 *   u8 0 (del) | u16 klen | key
 * and the trailer u8 0xff | u64 records | u64 FNV-1a 64 of everything
 * before the trailer, integers big-endian. A file cut short or damaged is
 * refused before anything of it is applied.
 */
#include "state.h"
#include "state_int.h"

#include "err.h"
#include "fsutil.h"
#include "mem.h"
#include "wr_assert.h"
#include "wr_limits.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WR_DELTA_MAGIC   "WRDL"
#define WR_DELTA_VERSION 1u
#define WR_DELTA_HEADER  8u
#define WR_DELTA_TRAILER 17u
#define WR_DELTA_END     0xffu
/* What a set charges per key beyond its bytes (slot, offset, hash). */
#define WR_CHANGES_ENTRY_BYTES 16u

struct wr_state_changes {
	uint32_t *slots;     /* entry index + 1; 0 = empty */
	uint32_t *hashes;    /* per entry */
	uint32_t *offs;      /* per entry: into keys */
	unsigned char *keys; /* per entry: u16 klen (big-endian), bytes */
	size_t nkeys_bytes, keys_cap;
	size_t n, cap; /* entries, entry capacity */
	size_t nslots; /* a power of two, > 2 * n */
	bool overflow; /* past WR_STATE_CHANGES_MAX_BYTES: a full copy */
};

wr_state_changes *
wr_state_changes_new(void)
{
	return wr_xcalloc(1, sizeof(wr_state_changes));
}

void
wr_state_changes_free(wr_state_changes *c)
{
	if (c == NULL)
		return;
	free(c->slots);
	free(c->hashes);
	free(c->offs);
	free(c->keys);
	free(c);
}

size_t
wr_state_changes_count(const wr_state_changes *c)
{
	return c == NULL ? 0 : c->n;
}

bool
wr_state_changes_overflowed(const wr_state_changes *c)
{
	return c == NULL || c->overflow;
}

/* Gives the memory back and remembers that keys were lost. */
static void
wr_changes_overflow(wr_state_changes *c)
{
	free(c->slots);
	free(c->hashes);
	free(c->offs);
	free(c->keys);
	memset(c, 0, sizeof(*c));
	c->overflow = true;
}

static size_t
wr_changes_bytes(const wr_state_changes *c, size_t more_keys, size_t more_n)
{
	return c->nkeys_bytes + more_keys +
	       (c->n + more_n) * WR_CHANGES_ENTRY_BYTES;
}

static void
wr_changes_rehash(wr_state_changes *c, size_t nslots)
{
	free(c->slots);
	c->slots = wr_xcalloc(nslots, sizeof(*c->slots));
	c->nslots = nslots;
	for (size_t i = 0; i < c->n; i++) {
		size_t s = c->hashes[i] & (nslots - 1);
		while (c->slots[s] != 0)
			s = (s + 1) & (nslots - 1);
		c->slots[s] = (uint32_t)(i + 1);
	}
}

static bool
wr_changes_same(const wr_state_changes *c, uint32_t i, const void *k,
                size_t klen)
{
	const unsigned char *p = c->keys + c->offs[i];
	return (size_t)(p[0] << 8 | p[1]) == klen &&
	       memcmp(p + 2, k, klen) == 0;
}

void
wr_state_changes_add(wr_state_changes *c, uint32_t hash, const void *key,
                     size_t klen)
{
	WR_ASSERT(klen <= UINT16_MAX);
	if (c == NULL || c->overflow)
		return;
	if (c->nslots != 0) {
		for (size_t s = hash & (c->nslots - 1); c->slots[s] != 0;
		     s = (s + 1) & (c->nslots - 1)) {
			uint32_t i = c->slots[s] - 1;
			if (c->hashes[i] == hash &&
			    wr_changes_same(c, i, key, klen))
				return;
		}
	}
	if (wr_changes_bytes(c, klen + 2, 1) > WR_STATE_CHANGES_MAX_BYTES ||
	    c->n >= UINT32_MAX - 1) {
		wr_changes_overflow(c);
		return;
	}
	if (c->n == c->cap) {
		c->cap = c->cap == 0 ? 1024 : 2 * c->cap;
		c->hashes = wr_xrealloc(c->hashes, c->cap * sizeof(*c->hashes));
		c->offs = wr_xrealloc(c->offs, c->cap * sizeof(*c->offs));
	}
	if (c->nkeys_bytes + klen + 2 > c->keys_cap) {
		size_t cap = c->keys_cap == 0 ? 16384 : 2 * c->keys_cap;
		while (cap < c->nkeys_bytes + klen + 2)
			cap *= 2;
		c->keys = wr_xrealloc(c->keys, cap);
		c->keys_cap = cap;
	}
	unsigned char *p = c->keys + c->nkeys_bytes;
	p[0] = (unsigned char)(klen >> 8);
	p[1] = (unsigned char)klen;
	memcpy(p + 2, key, klen);
	c->offs[c->n] = (uint32_t)c->nkeys_bytes;
	c->hashes[c->n] = hash;
	c->nkeys_bytes += klen + 2;
	c->n++;
	if (2 * c->n >= c->nslots)
		wr_changes_rehash(c, c->nslots == 0 ? 2048 : 2 * c->nslots);
	else {
		size_t s = hash & (c->nslots - 1);
		while (c->slots[s] != 0)
			s = (s + 1) & (c->nslots - 1);
		c->slots[s] = (uint32_t)c->n;
	}
}

void
wr_state_changes_merge(wr_state_changes *into, const wr_state_changes *from)
{
	WR_ASSERT(into != NULL);
	if (from == NULL || from->overflow) {
		wr_changes_overflow(into);
		return;
	}
	for (size_t i = 0; i < from->n && !into->overflow; i++) {
		const unsigned char *p = from->keys + from->offs[i];
		wr_state_changes_add(into, from->hashes[i], p + 2,
		                     (size_t)(p[0] << 8 | p[1]));
	}
}

void
wr_state_view_txn(wr_state_view *v, MDB_txn **txn, MDB_dbi *dbi)
{
	pthread_mutex_lock(&v->mu);
	*txn = v->txn;
	*dbi = v->dbi;
	pthread_mutex_unlock(&v->mu);
}

bool
wr_state_view_cancelled(wr_state_view *v)
{
	return atomic_load(&v->cancel);
}

wr_state_changes *
wr_state_view_take_changes(wr_state_view *v)
{
	wr_state_changes *c = v->changes;
	v->changes = NULL;
	return c;
}

/* ---- delta files ---- */

static uint64_t
wr_delta_fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void
wr_delta_be(unsigned char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

static uint64_t
wr_delta_get_be(const unsigned char *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

typedef struct wr_delta_out {
	FILE *f;
	uint64_t sum, bytes;
} wr_delta_out;

static void
wr_delta_write(wr_delta_out *o, const void *p, size_t n)
{
	o->sum = wr_delta_fnv(o->sum, p, n);
	o->bytes += n;
	fwrite(p, 1, n, o->f);
}

/* One record: the view's value of the key, or its deletion. */
static int
wr_delta_record(wr_delta_out *o, MDB_txn *txn, MDB_dbi dbi,
                const unsigned char *key, size_t klen)
{
	MDB_val k = {klen, (void *)key}, v;
	int rc = mdb_get(txn, dbi, &k, &v);
	if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND)
		return wr_state_err(rc, "delta get");
	unsigned char h[7];
	h[0] = rc == MDB_SUCCESS ? 1 : 0;
	wr_delta_be(h + 1, klen, 2);
	wr_delta_write(o, h, 3);
	wr_delta_write(o, key, klen);
	if (rc == MDB_SUCCESS) {
		wr_delta_be(h, v.mv_size, 4);
		wr_delta_write(o, h, 4);
		wr_delta_write(o, v.mv_data, v.mv_size);
	}
	return WR_OK;
}

int
wr_state_view_write_delta(wr_state_view *v, const wr_state_changes *ch,
                          const char *path, uint64_t *bytes)
{
	MDB_txn *txn;
	MDB_dbi dbi;
	char tmp[4200];
	int rv = WR_OK;

	WR_ASSERT(v != NULL && ch != NULL && !ch->overflow && path != NULL);
	wr_state_view_txn(v, &txn, &dbi);
	if (txn == NULL)
		return WR_ECLOSED;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return WR_ETOOBIG;
	wr_delta_out o = {.f = fopen(tmp, "wb"), .sum = 0xcbf29ce484222325ull};
	if (o.f == NULL)
		return wr_err_from_errno(errno);
	unsigned char h[WR_DELTA_TRAILER];
	memcpy(h, WR_DELTA_MAGIC, 4);
	wr_delta_be(h + 4, WR_DELTA_VERSION, 4);
	wr_delta_write(&o, h, WR_DELTA_HEADER);
	for (size_t i = 0; i < ch->n && rv == WR_OK; i++) {
		const unsigned char *p = ch->keys + ch->offs[i];
		if (i % 4096 == 0 && wr_state_view_cancelled(v)) {
			rv = WR_ECLOSED; /* the backend closes */
			break;
		}
		rv = wr_delta_record(&o, txn, dbi, p + 2,
		                     (size_t)(p[0] << 8 | p[1]));
	}
	h[0] = WR_DELTA_END;
	wr_delta_be(h + 1, ch->n, 8);
	uint64_t sum = o.sum;
	wr_delta_write(&o, h, 9);
	wr_delta_be(h, sum, 8);
	wr_delta_write(&o, h, 8);
	if (rv == WR_OK &&
	    (fflush(o.f) != 0 || ferror(o.f) || fsync(fileno(o.f)) != 0))
		rv = wr_err_from_errno(errno != 0 ? errno : EIO);
	if (fclose(o.f) != 0 && rv == WR_OK)
		rv = wr_err_from_errno(errno);
	if (rv == WR_OK && rename(tmp, path) != 0)
		rv = wr_err_from_errno(errno);
	if (rv != WR_OK)
		unlink(tmp);
	else if (bytes != NULL)
		*bytes = o.bytes;
	return rv;
}

/* Checks the file's frame: header, records that parse to the trailer,
 * count and checksum. */
static int
wr_delta_check(const unsigned char *p, size_t len, uint64_t *nrec)
{
	if (len < WR_DELTA_HEADER + WR_DELTA_TRAILER ||
	    memcmp(p, WR_DELTA_MAGIC, 4) != 0 ||
	    wr_delta_get_be(p + 4, 4) != WR_DELTA_VERSION)
		return WR_ECORRUPT;
	size_t end = len - WR_DELTA_TRAILER;
	if (p[end] != WR_DELTA_END ||
	    wr_delta_get_be(p + end + 9, 8) !=
	        wr_delta_fnv(0xcbf29ce484222325ull, p, end))
		return WR_ECORRUPT;
	uint64_t n = 0;
	for (size_t at = WR_DELTA_HEADER; at < end; n++) {
		if (end - at < 3 || p[at] > 1)
			return WR_ECORRUPT;
		size_t klen = (size_t)wr_delta_get_be(p + at + 1, 2);
		bool put = p[at] == 1;
		at += 3;
		if (klen < 3 || end - at < klen)
			return WR_ECORRUPT;
		at += klen;
		if (!put)
			continue;
		if (end - at < 4)
			return WR_ECORRUPT;
		size_t vlen = (size_t)wr_delta_get_be(p + at, 4);
		at += 4;
		if (vlen > WR_STATE_MAX_VALUE_BYTES || end - at < vlen)
			return WR_ECORRUPT;
		at += vlen;
	}
	if (n != wr_delta_get_be(p + end + 1, 8))
		return WR_ECORRUPT;
	*nrec = n;
	return WR_OK;
}

/* Applies the checked records of key groups [first, last]. */
static int
wr_delta_apply(wr_state *st, const unsigned char *p, size_t len, uint16_t first,
               uint16_t last, uint64_t *applied)
{
	size_t end = len - WR_DELTA_TRAILER;
	int rv = WR_OK;
	for (size_t at = WR_DELTA_HEADER; at < end && rv == WR_OK;) {
		bool put = p[at] == 1;
		size_t klen = (size_t)wr_delta_get_be(p + at + 1, 2);
		const unsigned char *k = p + at + 3;
		at += 3 + klen;
		size_t vlen = 0;
		const unsigned char *val = NULL;
		if (put) {
			vlen = (size_t)wr_delta_get_be(p + at, 4);
			val = p + at + 4;
			at += 4 + vlen;
		}
		uint16_t kg = (uint16_t)(k[0] << 8 | k[1]);
		if (kg < first || kg > last)
			continue;
		rv =
		    put ? wr_state_put(st, kg, k[2], k + 3, klen - 3, val, vlen)
		        : wr_state_del(st, kg, k[2], k + 3, klen - 3);
		(*applied)++;
	}
	return rv;
}

int
wr_state_apply_delta(wr_state *st, const char *path, uint16_t kg_first,
                     uint16_t kg_last, uint64_t *entries)
{
	WR_ASSERT(st != NULL && path != NULL && kg_first <= kg_last);
	uint64_t n = 0, nrec = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return wr_err_from_errno(errno);
	struct stat sb;
	int rv = fstat(fd, &sb) == 0 ? WR_OK : wr_err_from_errno(errno);
	size_t len = rv == WR_OK ? (size_t)sb.st_size : 0;
	void *map = MAP_FAILED;
	if (rv == WR_OK && len < WR_DELTA_HEADER + WR_DELTA_TRAILER)
		rv = WR_ECORRUPT;
	if (rv == WR_OK) {
		map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED)
			rv = wr_err_from_errno(errno);
	}
	close(fd);
	if (rv == WR_OK)
		rv = wr_delta_check(map, len, &nrec);
	if (rv == WR_OK)
		rv = wr_delta_apply(st, map, len, kg_first, kg_last, &n);
	if (rv == WR_OK)
		rv = wr_state_flush(st);
	if (map != MAP_FAILED)
		munmap(map, len);
	if (entries != NULL)
		*entries = n;
	return rv;
}
