/*
 * frame.c - "WEIR" + one protobuf Envelope, unpacked into a bounded arena.
 *
 * protobuf-c allocates as it parses: strings and bytes by their wire length,
 * repeated fields by their count, and scratch slabs of ~32 bytes per field
 * seen. A 4 MiB frame of tiny repeated sub-messages can therefore ask for
 * far more than 4 MiB. Every allocation of one unpack goes to an arena that
 * refuses to grow past its cap, so the worst a hostile peer gets is an
 * WR_ETOOBIG after at most WR_RPC_MAX_UNPACK_BYTES.
 */
#include "frame.h"
#include "frame_int.h"

#include "err.h"
#include "wr_limits.h"
#include "mem.h"

#include "weir.pb-c.h"

#include <stdalign.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every block handed out is aligned for any type, as malloc's are. */
#define WR_FRAME_ALIGN ((size_t)alignof(max_align_t))

typedef struct wr_frame_chunk {
	struct wr_frame_chunk *next;
	size_t size; /* usable bytes after the header */
	size_t used;
} wr_frame_chunk;

/* The header rounded up so the first block is aligned. */
#define WR_FRAME_CHUNK_HDR                                                     \
	((sizeof(wr_frame_chunk) + WR_FRAME_ALIGN - 1) & ~(WR_FRAME_ALIGN - 1))

struct wr_msg {
	Weir__Envelope *env;
	wr_frame_chunk *chunks; /* head is the chunk being bumped */
	size_t cap_bytes;       /* limit on held_bytes */
	size_t held_bytes;      /* obtained from malloc, headers included */
	size_t handed_bytes;    /* handed to protobuf-c */
	size_t next_chunk_bytes;
	bool over_cap; /* an allocation was refused by the cap */
	bool oom;      /* malloc itself failed */
};

static unsigned char *
wr_frame_chunk_data(wr_frame_chunk *c)
{
	return (unsigned char *)c + WR_FRAME_CHUNK_HDR;
}

/*
 * Gets a chunk of at least need bytes, or NULL if the cap forbids it.
 * A chunk for one large block goes behind the head, so the head's free
 * space is still used by the small blocks that follow.
 */
static wr_frame_chunk *
wr_frame_chunk_new(wr_msg *m, size_t need)
{
	size_t room = m->cap_bytes - m->held_bytes;
	size_t size = need > m->next_chunk_bytes ? need : m->next_chunk_bytes;
	if (room < WR_FRAME_CHUNK_HDR || need > room - WR_FRAME_CHUNK_HDR) {
		m->over_cap = true;
		return NULL;
	}
	/* Near the cap, take only what this block needs. */
	if (size > room - WR_FRAME_CHUNK_HDR)
		size = need;
	wr_frame_chunk *c = malloc(WR_FRAME_CHUNK_HDR + size);
	if (c == NULL) {
		m->oom = true;
		return NULL;
	}
	c->size = size;
	c->used = 0;
	m->held_bytes += WR_FRAME_CHUNK_HDR + size;
	if (size == need && m->chunks != NULL && need > m->next_chunk_bytes) {
		c->next = m->chunks->next;
		m->chunks->next = c;
	} else {
		c->next = m->chunks;
		m->chunks = c;
		if (m->next_chunk_bytes < WR_FRAME_CHUNK_MAX_BYTES)
			m->next_chunk_bytes *= 2;
	}
	return c;
}

/* ProtobufCAllocator.alloc: bump allocation; NULL makes the unpack fail. */
static void *
wr_frame_arena_alloc(void *arg, size_t size)
{
	wr_msg *m = arg;
	if (size > m->cap_bytes) {
		m->over_cap = true;
		return NULL;
	}
	/* Zero-length strings and bytes still need a distinct pointer. */
	size_t need = (size + WR_FRAME_ALIGN - 1) & ~(WR_FRAME_ALIGN - 1);
	if (need == 0)
		need = WR_FRAME_ALIGN;
	wr_frame_chunk *c = m->chunks;
	if (c == NULL || c->size - c->used < need) {
		c = wr_frame_chunk_new(m, need);
		if (c == NULL)
			return NULL;
	}
	void *p = wr_frame_chunk_data(c) + c->used;
	c->used += need;
	m->handed_bytes += need;
	return p;
}

/* ProtobufCAllocator.free: blocks live until wr_msg_free drops the arena. */
static void
wr_frame_arena_free(void *arg, void *p)
{
	(void)arg;
	(void)p;
}

int
wr_frame_pack(struct Weir__Envelope *env, wr_buf *out)
{
	if (env == NULL || out == NULL)
		return WR_EINVAL;
	if (env->version == 0)
		env->version = WR_PROTOCOL_VERSION;
	size_t n = weir__envelope__get_packed_size(env);
	if (n > WR_RPC_MAX_FRAME_BYTES - WR_FRAME_MAGIC_LEN)
		return WR_ETOOBIG;
	wr_buf_reserve(out, WR_FRAME_MAGIC_LEN + n);
	memcpy(out->data + out->len, WR_FRAME_MAGIC, WR_FRAME_MAGIC_LEN);
	size_t packed = weir__envelope__pack(
	    env, (uint8_t *)out->data + out->len + WR_FRAME_MAGIC_LEN);
	if (packed != n)
		return WR_EINTERNAL;
	out->len += WR_FRAME_MAGIC_LEN + n;
	out->data[out->len] = '\0';
	return WR_OK;
}

/* Checks the frame before protobuf-c sees a byte of it. */
static int
wr_frame_check_outer(const void *data, size_t len)
{
	if (len > WR_RPC_MAX_FRAME_BYTES)
		return WR_ETOOBIG;
	if (data == NULL || len < WR_FRAME_MAGIC_LEN ||
	    memcmp(data, WR_FRAME_MAGIC, WR_FRAME_MAGIC_LEN) != 0)
		return WR_EPROTO;
	return WR_OK;
}

int
wr_frame_unpack_capped(const void *data, size_t len, size_t cap_bytes,
                       wr_msg **out)
{
	*out = NULL;
	int rv = wr_frame_check_outer(data, len);
	if (rv != WR_OK)
		return rv;
	wr_msg *m = wr_xcalloc(1, sizeof(*m));
	m->cap_bytes = cap_bytes;
	m->next_chunk_bytes = WR_FRAME_CHUNK_MIN_BYTES;
	ProtobufCAllocator alloc = {
	    .alloc = wr_frame_arena_alloc,
	    .free = wr_frame_arena_free,
	    .allocator_data = m,
	};
	m->env =
	    weir__envelope__unpack(&alloc, len - WR_FRAME_MAGIC_LEN,
	                           (const uint8_t *)data + WR_FRAME_MAGIC_LEN);
	if (m->env == NULL) {
		rv = m->over_cap ? WR_ETOOBIG : m->oom ? WR_ENOMEM : WR_EPROTO;
		goto free_msg;
	}
	/* Another version may carry a body kind we do not know: let the
	 * caller report the version, which is the real problem. */
	if (m->env->version == WR_PROTOCOL_VERSION &&
	    m->env->body_case == WEIR__ENVELOPE__BODY__NOT_SET) {
		rv = WR_EPROTO;
		goto free_msg;
	}
	*out = m;
	return WR_OK;

free_msg:
	wr_msg_free(m);
	return rv;
}

int
wr_frame_unpack(const void *data, size_t len, wr_msg **out)
{
	return wr_frame_unpack_capped(data, len, WR_RPC_MAX_UNPACK_BYTES, out);
}

struct Weir__Envelope *
wr_msg_env(const wr_msg *m)
{
	return m->env;
}

uint32_t
wr_msg_version(const wr_msg *m)
{
	return m->env->version;
}

void
wr_msg_free(wr_msg *m)
{
	if (m == NULL)
		return;
	wr_frame_chunk *c = m->chunks;
	while (c != NULL) {
		wr_frame_chunk *next = c->next;
		free(c);
		c = next;
	}
	free(m);
}

size_t
wr_msg_arena_bytes(const wr_msg *m)
{
	return m->handed_bytes;
}

size_t
wr_msg_arena_held_bytes(const wr_msg *m)
{
	return m->held_bytes;
}

int
wr_frame_version_ok(const wr_msg *m, const char *self_name, char *errbuf,
                    size_t errlen)
{
	uint32_t v = wr_msg_version(m);
	if (v == WR_PROTOCOL_VERSION)
		return WR_OK;
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen,
		         "peer speaks protocol version %u, this %s speaks %u",
		         (unsigned)v, self_name ? self_name : "process",
		         (unsigned)WR_PROTOCOL_VERSION);
	return WR_EPROTO;
}
