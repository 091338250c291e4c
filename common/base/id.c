/* id.c - random identifiers from getrandom(2) and content hashes (id.h). */
#include "id.h"

#include "wr_assert.h"

#include <errno.h>
#include <sys/random.h>

static void
wr_random_fill(void *p, size_t n)
{
	unsigned char *b = p;
	while (n > 0) {
		ssize_t r = getrandom(b, n, 0);
		if (r < 0) {
			WR_ASSERT(errno == EINTR);
			continue;
		}
		b += r;
		n -= (size_t)r;
	}
}

void
wr_id_hex(char *out, size_t outlen, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[64];
	WR_ASSERT(nbytes <= sizeof(raw) && outlen >= 2 * nbytes + 1);
	wr_random_fill(raw, nbytes);
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[2 * nbytes] = '\0';
}

uint64_t
wr_random_u64(void)
{
	uint64_t v;
	wr_random_fill(&v, sizeof(v));
	return v;
}

void
wr_content_hash(const void *p, size_t n, char out[WR_CONTENT_HASH_BYTES])
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *b = p;
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 1099511628211ULL;
	}
	for (int i = 15; i >= 0; i--, h >>= 4)
		out[i] = hex[h & 15];
	out[16] = '\0';
}
