/* id.h - random identifiers (job ids, instance ids) from getrandom(2), and
 * content hashes. */
#ifndef WR_ID_H
#define WR_ID_H

#include <stddef.h>
#include <stdint.h>

/* Writes nbytes random bytes as 2*nbytes lowercase hex + NUL into out
 * (outlen >= 2*nbytes+1). Job ids use 16 bytes, as Flink's do. */
void wr_id_hex(char *out, size_t outlen, size_t nbytes);

/* The FNV-1a 64-bit hash of n bytes as 16 lowercase hex + NUL into out: a
 * job file's content hash (`spec_hash`), which `weir apply` compares to
 * tell a changed file. Not a defence against a crafted collision: it
 * detects edits. */
#define WR_CONTENT_HASH_BYTES 17
void wr_content_hash(const void *p, size_t n, char out[WR_CONTENT_HASH_BYTES]);

/* A random 64-bit value. */
uint64_t wr_random_u64(void);

#endif
