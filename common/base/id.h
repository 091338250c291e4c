/* id.h - random identifiers (job ids, instance ids) from getrandom(2). */
#ifndef WR_ID_H
#define WR_ID_H

#include <stddef.h>
#include <stdint.h>

/* Writes nbytes random bytes as 2*nbytes lowercase hex + NUL into out
 * (outlen >= 2*nbytes+1). Job ids use 16 bytes, as Flink's do. */
void wr_id_hex(char *out, size_t outlen, size_t nbytes);

/* A random 64-bit value. */
uint64_t wr_random_u64(void);

#endif
