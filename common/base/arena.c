/* arena.c - the bump allocator for per-record scratch memory (arena.h). */
#include "arena.h"

#include "mem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WR_ARENA_CHUNK_BYTES (64u * 1024u)

struct wr_arena_chunk {
	wr_arena_chunk *next;
	size_t size, off;
	_Alignas(16) unsigned char data[];
};

void
wr_arena_init(wr_arena *a, size_t cap_bytes)
{
	a->head = NULL;
	a->spare = NULL;
	a->used = 0;
	a->cap = cap_bytes;
	a->held = 0;
}

static void
wr_arena_free_list(wr_arena *a, wr_arena_chunk *c)
{
	while (c != NULL) {
		wr_arena_chunk *n = c->next;
		a->held -= c->size;
		free(c);
		c = n;
	}
}

void
wr_arena_fini(wr_arena *a)
{
	if (a == NULL)
		return;
	wr_arena_free_list(a, a->head);
	wr_arena_free_list(a, a->spare);
	a->head = a->spare = NULL;
	a->used = 0;
}

/* The first spare chunk big enough (the list is short: the chunks of the
 * last cycle), else a new one; NULL if its size cannot be represented. */
static wr_arena_chunk *
wr_arena_new_chunk(wr_arena *a, size_t need)
{
	for (wr_arena_chunk **pp = &a->spare; *pp != NULL; pp = &(*pp)->next) {
		wr_arena_chunk *c = *pp;
		if (c->size >= need) {
			*pp = c->next;
			c->off = 0;
			return c;
		}
	}
	size_t size = need > WR_ARENA_CHUNK_BYTES ? need : WR_ARENA_CHUNK_BYTES;
	if (size > SIZE_MAX - sizeof(wr_arena_chunk))
		return NULL;
	wr_arena_chunk *c = wr_xmalloc(sizeof(*c) + size);
	c->size = size;
	c->off = 0;
	a->held += size;
	return c;
}

void *
wr_arena_alloc(wr_arena *a, size_t n)
{
	size_t need = (n + 7u) & ~(size_t)7u;
	/* Written so that neither the rounding nor the sum can wrap. */
	if (need < n || need > a->cap - a->used)
		return NULL;
	wr_arena_chunk *c = a->head;
	if (c == NULL || c->size - c->off < need) {
		c = wr_arena_new_chunk(a, need);
		if (c == NULL)
			return NULL;
		c->next = a->head;
		a->head = c;
	}
	void *p = c->data + c->off;
	c->off += need;
	a->used += need;
	return p;
}

char *
wr_arena_strndup(wr_arena *a, const char *s, size_t n)
{
	if (n == SIZE_MAX)
		return NULL;
	char *p = wr_arena_alloc(a, n + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

void
wr_arena_reset(wr_arena *a)
{
	/* Spare chunks this cycle did not need are freed while the arena
	 * keeps more than its cap: without this, allocations that grow a
	 * little every cycle would each leave a chunk behind forever. */
	while (a->spare != NULL && a->held > a->cap) {
		wr_arena_chunk *c = a->spare;
		a->spare = c->next;
		a->held -= c->size;
		free(c);
	}
	/* The chunks of this cycle go first, oldest first, so the same
	 * pattern of allocations gets the same chunks back. */
	while (a->head != NULL) {
		wr_arena_chunk *c = a->head;
		a->head = c->next;
		c->off = 0;
		c->next = a->spare;
		a->spare = c;
	}
	a->used = 0;
}
