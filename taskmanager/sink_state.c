/*
 * sink_state.c - what the transactional sinks' snapshots share: checking
 * and reading the names they carry.
 */
#include "task_int.h"

#include "err.h"
#include "varint.h"

#include <string.h>

bool
tm_sink_name_ok(const uint8_t *p, size_t len, size_t max, const char *extra)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') ||
		      (p[i] >= 'A' && p[i] <= 'Z') ||
		      (p[i] >= '0' && p[i] <= '9') ||
		      (p[i] != '\0' && strchr(extra, p[i]) != NULL)))
			return false;
	return true;
}

int
tm_sink_state_name(const uint8_t *p, size_t len, size_t *pos, char *out,
                   size_t cap, const char *extra)
{
	uint64_t n;
	if (wr_varint_get(p, len, pos, &n) != WR_OK || n > len - *pos ||
	    !tm_sink_name_ok(p + *pos, (size_t)n, cap - 1, extra))
		return WR_ECORRUPT;
	memcpy(out, p + *pos, (size_t)n);
	out[n] = '\0';
	*pos += (size_t)n;
	return WR_OK;
}
