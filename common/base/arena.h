/*
 * arena.h - a bump allocator for per-record scratch memory (decoded strings,
 * expression results). Reset after each record or batch; memory is kept
 * for reuse, so a steady stream allocates nothing. Bounded: an allocation
 * that would take the arena past its cap returns NULL (WR_EFULL for the
 * caller), so one hostile record cannot eat the TaskManager's memory.
 */
#ifndef WR_ARENA_H
#define WR_ARENA_H

#include <stddef.h>

typedef struct wr_arena_chunk wr_arena_chunk;

typedef struct wr_arena {
	wr_arena_chunk *head;  /* chunk being filled */
	wr_arena_chunk *spare; /* chunks kept after reset */
	size_t used;           /* bytes handed out since reset */
	size_t cap;            /* most bytes handed out between resets */
	size_t held;           /* bytes of the chunks kept (in use + spare) */
} wr_arena;

/* cap_bytes: the most one arena may hand out between resets. */
void wr_arena_init(wr_arena *a, size_t cap_bytes);
void wr_arena_fini(wr_arena *a);
/* 8-byte aligned; NULL when the cap would be exceeded. */
void *wr_arena_alloc(wr_arena *a, size_t n);
/* Copies n bytes and a NUL. NULL when over the cap. */
char *wr_arena_strndup(wr_arena *a, const char *s, size_t n);
/* Forgets every allocation; keeps the memory the last cycle used (and
 * older spare chunks while the total stays within the cap), so a steady
 * stream allocates nothing and what is kept stays bounded. */
void wr_arena_reset(wr_arena *a);

#endif
